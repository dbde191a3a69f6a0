"""The abstract repeater chain, in units of generation attempts: parameters, key fraction and one entry point.

The model is the nested-swapping chain of Brand, Coopmans, Elkouss, "Efficient computation of the waiting time
and fidelity in quantum repeater chains", IEEE JSAC 38, 619 (2020), arXiv:1912.07688 (BCE below), with the
memory cut-off of Li, Coopmans, Elkouss, "Efficient optimization of cut-offs in quantum repeater chains", IEEE
Trans. Quantum Eng. 2 (2021), arXiv:2005.04946 (LCE below):

* time is counted in elementary-link generation attempts; classical communication takes no time;
* an elementary link is made by repeated attempts, each succeeding with probability ``p_gen`` (its waiting
  time is geometric on {1, 2, ...}) and it starts as a Werner state with parameter ``w0``;
* ``segments = 2**n``; nesting level k joins two level-(k-1) links, made independently and in parallel, by an
  entanglement swap that succeeds with probability ``p_swap``; when it fails both links are lost and both are
  regenerated from scratch (BCE);
* the link that is ready first waits ``dt = |t_A - t_B|`` attempts for its partner, and its Werner parameter
  decays by ``exp(-dt / coherence_attempts)`` meanwhile; a successful swap gives the product of the two Werner
  parameters (BCE's Werner-parameter update of a swap after a wait; the swap unit of LCE, Table 1):
  ``w_out = w_A * w_B * exp(-|t_A - t_B| / coherence_attempts)``;
* memory cut-off (the memory-time cut-off unit of LCE, Table 1, as the authors' public implementation applies
  it): once the earlier link has waited more than ``cutoff_attempts`` attempts, i.e. when
  ``|t_A - t_B| > cutoff_attempts``, it is discarded at ``min(t_A, t_B) + cutoff_attempts`` and the pair of
  input links is prepared again from scratch (both links; at the lowest level this is the same as
  regenerating only the discarded one, the generation being memoryless). The same cut-off applies at every
  nesting level.

Equation numbers of the two papers are not quoted: no readable copy of their text was at hand when this was
written; the conventions above are those of issue 13 and of the authors' public implementation of LCE.

Output: the waiting time ``T_n`` until the first end-to-end link and the Werner parameter of that link.
The secret-key rate follows BCE/LCE: the asymptotic BB84 secret fraction of the average delivered state,
``r = max(0, 1 - 2 h2(e))`` with ``e = (1 - E[w]) / 2`` the error rate of a Werner state in every basis,
divided by the mean waiting time, in secret bits per attempt.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from qinternet.errors import ParameterError
from qinternet.params.checks import require_open_unit, require_positive, require_probability

__all__ = [
    "MAX_SEGMENTS",
    "MIN_P_GEN",
    "AbstractChainParams",
    "AbstractChainResult",
    "Engine",
    "run_abstract_chain",
    "werner_secret_fraction",
]

MAX_SEGMENTS = 2**20
"""Most segments a chain may have (BCE analyse chains of thousands of segments; 2**20 is far beyond)."""

MIN_P_GEN = 1e-12
"""Smallest elementary-link success probability: waiting times are 64-bit counts of attempts, and a chain of
links of ~1e12 attempts each already spans ~1e18 attempts at its deepest levels."""

Engine = Literal["analytic", "monte-carlo"]
"""The two engines: the exact algorithm (:mod:`.analytic`) and the sampler (:mod:`.abstract_mc`)."""


def _require_whole(field: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(field, f"must be a whole number, got {value!r}")
    if int(value) < low:
        raise ParameterError(field, f"must be >= {low}, got {value}")
    return int(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class AbstractChainParams:
    """A homogeneous repeater chain in the abstract model of BCE (see the module's docstring).

    Attributes:
        p_gen: success probability of one elementary-link generation attempt, in [1e-12, 1].
        p_swap: success probability of an entanglement swap, in (0, 1].
        segments: elementary links in the chain, a power of two (nested doubling) from 1 to 2**20.
        w0: Werner parameter of a fresh elementary link, in [0, 1].
        coherence_attempts: memory coherence time in attempts (a waiting link's Werner parameter decays as
            ``exp(-dt / coherence_attempts)``); None: no decoherence.
        cutoff_attempts: longest a link may wait for its partner, in attempts (>= 0); None: no cut-off.
        sequential: the two halves of every swap are made one after the other (nodes with one communication
            qubit: the left half first, then the right one while the left waits), not at the same time.
    """

    p_gen: float
    p_swap: float = 1.0
    segments: int = 2
    w0: float = 1.0
    coherence_attempts: float | None = None
    cutoff_attempts: int | None = None
    sequential: bool = False

    def __post_init__(self) -> None:
        require_open_unit("p_gen", self.p_gen)
        if self.p_gen < MIN_P_GEN:
            raise ParameterError("p_gen", f"must be >= {MIN_P_GEN:g} (attempt counts are 64-bit), got {self.p_gen}")
        require_open_unit("p_swap", self.p_swap)
        segments = _require_whole("segments", self.segments, 1)
        if segments & (segments - 1) or segments > MAX_SEGMENTS:
            raise ParameterError(
                "segments", f"must be a power of 2 from 1 to 2**20 (nested doubling), got {self.segments}"
            )
        require_probability("w0", self.w0)
        if self.coherence_attempts is not None:
            require_positive("coherence_attempts", self.coherence_attempts)
        if self.cutoff_attempts is not None:
            _require_whole("cutoff_attempts", self.cutoff_attempts, 0)

    @property
    def levels(self) -> int:
        """Nesting levels ``n`` with ``segments = 2**n``."""
        return self.segments.bit_length() - 1

    @property
    def decay_per_attempt(self) -> float:
        """Factor by which a waiting link's Werner parameter shrinks per attempt: ``exp(-1 / coherence_attempts)``
        (1 without decoherence)."""
        return 1.0 if self.coherence_attempts is None else math.exp(-1.0 / self.coherence_attempts)


def werner_secret_fraction(werner: float) -> float:
    """Asymptotic BB84 secret bits per delivered pair of Werner parameter ``werner``: ``max(0, 1 - 2 h2(e))`` with
    ``e = (1 - werner) / 2`` the error rate in both bases (Shor, Preskill, PRL 85, 441 (2000); the convention of
    BCE and LCE, applied to the average delivered state).

    >>> werner_secret_fraction(1.0)
    1.0
    >>> werner_secret_fraction(0.5)
    0.0
    """
    from qinternet.qkd.entropy import binary_entropy

    error = (1.0 - werner) / 2.0
    return max(0.0, 1.0 - 2.0 * float(binary_entropy(error)))


@dataclass(frozen=True, slots=True, kw_only=True)
class AbstractChainResult:
    """What either engine says about a chain: waiting time until the first end-to-end link and its state.

    Attributes:
        params: the chain.
        engine: ``"analytic"`` or ``"monte-carlo"``.
        mean_waiting_attempts: mean waiting time ``E[T_n]``, attempts.
        p50_waiting_attempts: median waiting time (smallest t with P(T_n <= t) >= 0.5), attempts.
        p99_waiting_attempts: 99th percentile of the waiting time, attempts.
        mean_werner: mean Werner parameter of the delivered links.
        secret_key_rate_per_attempt: BB84 secret bits per attempt (see :func:`werner_secret_fraction`).
        pairs: end-to-end links sampled (Monte-Carlo), None for the analytic engine.
        mean_waiting_ci95: 95 % confidence interval of the mean waiting time (Monte-Carlo), else None.
        mean_werner_ci95: 95 % confidence interval of the mean Werner parameter (Monte-Carlo), else None.
        truncation_attempts: length of the computed waiting-time distribution (analytic), else None.
        wall_s: wall-clock time of the computation, s.
    """

    params: AbstractChainParams
    engine: Engine
    mean_waiting_attempts: float
    p50_waiting_attempts: int
    p99_waiting_attempts: int
    mean_werner: float
    secret_key_rate_per_attempt: float
    pairs: int | None = None
    mean_waiting_ci95: tuple[float, float] | None = None
    mean_werner_ci95: tuple[float, float] | None = None
    truncation_attempts: int | None = None
    wall_s: float = 0.0

    @property
    def mean_fidelity(self) -> float:
        """Mean fidelity of the delivered links, ``(1 + 3 w) / 4``."""
        return (1.0 + 3.0 * self.mean_werner) / 4.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``qinternet repeater --model abstract``: the parameters, ``engine``,
        ``waiting_time_attempts`` (``mean``, ``p50``, ``p99``, ``mean_ci95``), ``mean_werner``,
        ``mean_werner_ci95``, ``mean_fidelity``, ``secret_key_rate_per_attempt``, ``pairs`` and
        ``truncation_attempts`` (wall time left out: the same call gives the same JSON)."""
        p = self.params
        return {
            "model": "abstract",
            "engine": self.engine,
            "p_gen": p.p_gen,
            "p_swap": p.p_swap,
            "segments": p.segments,
            "w0": p.w0,
            "coherence_attempts": p.coherence_attempts,
            "cutoff_attempts": p.cutoff_attempts,
            "pairs": self.pairs,
            "waiting_time_attempts": {
                "mean": self.mean_waiting_attempts,
                "p50": self.p50_waiting_attempts,
                "p99": self.p99_waiting_attempts,
                "mean_ci95": None if self.mean_waiting_ci95 is None else list(self.mean_waiting_ci95),
            },
            "mean_werner": self.mean_werner,
            "mean_werner_ci95": None if self.mean_werner_ci95 is None else list(self.mean_werner_ci95),
            "mean_fidelity": self.mean_fidelity,
            "secret_key_rate_per_attempt": self.secret_key_rate_per_attempt,
            "truncation_attempts": self.truncation_attempts,
        }


def run_abstract_chain(
    params: AbstractChainParams, *, pairs: int, engine: Engine, rng: np.random.Generator
) -> AbstractChainResult:
    """Waiting time and Werner parameter of the first end-to-end link of the chain ``params``.

    Args:
        params: the chain.
        pairs: end-to-end links to sample (Monte-Carlo; the analytic engine does not sample).
        engine: ``"analytic"`` (exact up to a truncation that loses less than 1e-9 of the probability, BCE
            and LCE's algorithms) or ``"monte-carlo"`` (sampled, :mod:`.abstract_mc`).
        rng: the random stream of the Monte-Carlo engine (unused by the analytic one).

    Raises:
        ParameterError: a bad ``pairs`` or ``engine``, or a chain the chosen engine cannot handle in memory
            (the field is ``engine`` or ``pairs``).
    """
    from qinternet.entanglement import abstract_mc, analytic

    start = time.perf_counter()
    if engine == "analytic":
        exact = analytic.waiting_time_and_werner(params)
        return AbstractChainResult(
            params=params,
            engine="analytic",
            mean_waiting_attempts=exact.mean_waiting_attempts,
            p50_waiting_attempts=exact.p50_waiting_attempts,
            p99_waiting_attempts=exact.p99_waiting_attempts,
            mean_werner=exact.mean_werner,
            secret_key_rate_per_attempt=exact.secret_key_rate_per_attempt,
            truncation_attempts=exact.truncation_attempts,
            wall_s=time.perf_counter() - start,
        )
    if engine == "monte-carlo":
        sampled = abstract_mc.sample_chain(params, pairs=pairs, rng=rng)
        return AbstractChainResult(
            params=params,
            engine="monte-carlo",
            mean_waiting_attempts=sampled.mean_waiting_attempts,
            p50_waiting_attempts=sampled.p50_waiting_attempts,
            p99_waiting_attempts=sampled.p99_waiting_attempts,
            mean_werner=sampled.mean_werner,
            secret_key_rate_per_attempt=sampled.secret_key_rate_per_attempt,
            pairs=sampled.pairs,
            mean_waiting_ci95=sampled.mean_waiting_ci95,
            mean_werner_ci95=sampled.mean_werner_ci95,
            wall_s=time.perf_counter() - start,
        )
    raise ParameterError("engine", f"must be 'analytic' or 'monte-carlo', got {engine!r}")
