"""What a quantum application reports: one headline metric with its 95 % confidence interval.

Every application of :mod:`qinternet.apps` (teleportation, Bell tests, distributed and blind computing, clock
synchronisation, hybrid packets, entanglement-based QKD) returns an :class:`AppOutcome`; a scenario's
``summary.json`` lists them under ``"applications"`` with :meth:`AppOutcome.to_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AppOutcome"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AppOutcome:
    """One application's result.

    Attributes:
        app: the application (``teleportation``, ``chsh``, ``distributed-grover``, ...).
        nodes: the nodes it ran between.
        metric: the headline metric (``average_fidelity``, ``chsh_s``, ``cz_fidelity``,
            ``grover_success_probability``, ``blind_correct_fraction``, ``clock_offset_ps``, ``payload_fidelity``,
            ``secret_key_rate_bps``).
        value: its value.
        ci95: its 95 % confidence interval ``(lo, hi)`` (the statistics of the finite number of runs; say how
            in ``details["ci_method"]``).
        details: further figures, JSON-ready (numbers, strings, lists).
    """

    app: str
    nodes: tuple[str, ...]
    metric: str
    value: float
    ci95: tuple[float, float]
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lo, hi = self.ci95
        if not (math.isnan(self.value) or lo - 1e-12 <= self.value <= hi + 1e-12):
            raise ValueError(f"{self.app}: value {self.value} lies outside its ci95 {self.ci95}")

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` entry."""
        return {
            "app": self.app,
            "nodes": list(self.nodes),
            "metric": self.metric,
            "value": self.value,
            "ci95": [self.ci95[0], self.ci95[1]],
            **({"details": dict(self.details)} if self.details else {}),
        }
