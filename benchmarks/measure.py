"""Timed runs of the Monte-Carlo link (qinternet) and of the naive per-pulse baseline.

Both simulate the same decoy-state BB84 link and end with the same :class:`LinkCounts`; only the
simulation and the counting are timed (``time.perf_counter``), not compiling the link.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from naive_link import simulate_naive_link
from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import fibre_channel
from qinternet.qkd.estimate import expected_estimate
from qinternet.qkd.montecarlo import LinkSampler, compile_link, simulate_link
from qinternet.qkd.record import LinkCounts

__all__ = [
    "PEER_GOAL_RATIO",
    "WALL_GOAL_S",
    "GainCheck",
    "SignalStats",
    "Throughput",
    "WallGoal",
    "check_gains",
    "naive_ratio",
    "peer_ratio",
    "time_naive",
    "time_qinternet",
]

AGREEMENT_SIGMAS = 4.0
WALL_GOAL_S = 1.0  # 1 s of a 1 GHz link (1e9 pulses) at 50 km in at most 1 s of wall time
PEER_GOAL_RATIO = 1e4  # qinternet at least 10,000x SeQUeNCe's pulses per wall-second


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalStats:
    """Signal-class statistics over the pulses in which Alice's and Bob's bases agree.

    Attributes:
        pulses: signal pulses with matching bases.
        detections: detection events among them.
        errors: events with a wrong bit.
    """

    pulses: int
    detections: int
    errors: int

    @staticmethod
    def from_counts(counts: LinkCounts) -> SignalStats:
        """The signal class (index 0) of ``counts``."""
        return SignalStats(
            pulses=int(counts.matched(counts.sent)[0]),
            detections=int(counts.matched(counts.detected)[0]),
            errors=int(counts.matched(counts.errors)[0]),
        )

    @property
    def gain(self) -> float:
        """``Q_mu``: detections per pulse."""
        return self.detections / self.pulses

    @property
    def gain_sigma(self) -> float:
        """Binomial standard error of ``Q_mu`` (one detection at most per pulse: no after-pulses)."""
        return math.sqrt(self.gain * (1.0 - self.gain) / self.pulses)

    @property
    def qber(self) -> float:
        """``E_mu``: errors per detection."""
        return self.errors / self.detections if self.detections else 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Throughput:
    """Repeated timings of one simulator on one link.

    Attributes:
        simulator: "qinternet" or "naive".
        distance_km: link length, km.
        pulses: pulses simulated per repeat.
        wall_s: wall time of each repeat, s.
        detections: detection events of the last repeat (all classes and bases).
        signal: signal-class statistics of the last repeat.
    """

    simulator: str
    distance_km: float
    pulses: int
    wall_s: tuple[float, ...]
    detections: int
    signal: SignalStats

    @property
    def best_wall_s(self) -> float:
        """Shortest wall time, s."""
        return min(self.wall_s)

    @property
    def median_wall_s(self) -> float:
        """Median wall time, s."""
        return statistics.median(self.wall_s)

    @property
    def pulses_per_s(self) -> float:
        """Pulses per wall-second of the best repeat."""
        return self.pulses / self.best_wall_s

    @property
    def pulses_per_s_median(self) -> float:
        """Pulses per wall-second of the median repeat."""
        return self.pulses / self.median_wall_s

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, derived figures included."""
        out = asdict(self)
        out["signal"] |= {"gain": self.signal.gain, "gain_sigma": self.signal.gain_sigma}
        out |= {
            "best_wall_s": self.best_wall_s,
            "median_wall_s": self.median_wall_s,
            "pulses_per_s": self.pulses_per_s,
            "pulses_per_s_median": self.pulses_per_s_median,
        }
        return out


def _repeat(run: Callable[[int], LinkCounts], repeats: int, seed: int) -> tuple[tuple[float, ...], LinkCounts]:
    """Wall times of ``repeats`` calls ``run(seed + i)``, and the counts of the last call."""
    walls: list[float] = []
    counts: LinkCounts | None = None
    for i in range(repeats):
        start = time.perf_counter()
        counts = run(seed + i)
        walls.append(time.perf_counter() - start)
    if counts is None:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    return tuple(walls), counts


def _throughput(
    simulator: str, distance_km: float, pulses: int, walls: tuple[float, ...], counts: LinkCounts
) -> Throughput:
    return Throughput(
        simulator=simulator,
        distance_km=distance_km,
        pulses=pulses,
        wall_s=walls,
        detections=int(counts.detected.sum()),
        signal=SignalStats.from_counts(counts),
    )


def qinternet_counts(sampler: LinkSampler, pulses: int, seed: int) -> LinkCounts:
    """Simulate ``pulses`` pulses with :func:`simulate_link` and sum the counts of its blocks."""
    total: LinkCounts | None = None
    for block in simulate_link(sampler, pulses, np.random.default_rng(seed)):
        counts = LinkCounts.from_record(block)
        total = counts if total is None else total + counts
    if total is None:
        raise ValueError("simulate_link yielded no block")
    return total


def time_qinternet(system: QkdSystem, distance_km: float, pulses: int, repeats: int, seed: int) -> Throughput:
    """Time qinternet's Monte-Carlo link (compiled once, outside the timing)."""
    sampler = compile_link(system, fibre_channel(system.fibre, distance_km))
    walls, counts = _repeat(lambda s: qinternet_counts(sampler, pulses, s), repeats, seed)
    return _throughput("qinternet", distance_km, pulses, walls, counts)


def time_naive(system: QkdSystem, distance_km: float, pulses: int, repeats: int, seed: int) -> Throughput:
    """Time the naive per-pulse baseline of :mod:`naive_link`."""

    def run(s: int) -> LinkCounts:
        return simulate_naive_link(system, distance_km, pulses, np.random.default_rng(s))

    walls, counts = _repeat(run, repeats, seed)
    return _throughput("naive", distance_km, pulses, walls, counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class GainCheck:
    """Signal gain ``Q_mu`` of qinternet and of the naive baseline against the analytic value.

    Attributes:
        distance_km: link length, km.
        qinternet: ``Q_mu`` and its standard error from qinternet's run.
        naive: the same from the naive run.
        expected: ``Q_mu`` of the analytic model (:func:`expected_estimate`).
        z: ``(Q_naive - Q_qinternet) / sqrt(sigma_naive**2 + sigma_qinternet**2)``.
    """

    distance_km: float
    qinternet: tuple[float, float]
    naive: tuple[float, float]
    expected: float
    z: float

    @property
    def agree(self) -> bool:
        """Whether the two simulations agree within :data:`AGREEMENT_SIGMAS` standard errors."""
        return abs(self.z) < AGREEMENT_SIGMAS

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self) | {"agree": self.agree}


def check_gains(system: QkdSystem, fast: Throughput, naive: Throughput) -> GainCheck:
    """Compare the signal gains of two runs of the same link."""
    a, b = fast.signal, naive.signal
    return GainCheck(
        distance_km=fast.distance_km,
        qinternet=(a.gain, a.gain_sigma),
        naive=(b.gain, b.gain_sigma),
        expected=expected_estimate(system, fibre_channel(system.fibre, fast.distance_km)).classes[0].gain,
        z=(b.gain - a.gain) / math.hypot(a.gain_sigma, b.gain_sigma),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class WallGoal:
    """Wall time of ``pulses`` pulses (1 s of a 1 GHz link) against :data:`WALL_GOAL_S`.

    Attributes:
        distance_km: link length, km.
        pulses: pulses of the goal (1e9).
        best_wall_s: best wall time for ``pulses``, s.
        median_wall_s: median wall time for ``pulses``, s.
        extrapolated: the run was shorter (``--quick``) and the times are scaled up from it.
    """

    distance_km: float
    pulses: int
    best_wall_s: float
    median_wall_s: float
    extrapolated: bool

    @staticmethod
    def from_run(run: Throughput, pulses: int) -> WallGoal:
        """The goal figures of ``run``, scaled to ``pulses`` if it simulated another number."""
        scale = pulses / run.pulses
        return WallGoal(
            distance_km=run.distance_km,
            pulses=pulses,
            best_wall_s=run.best_wall_s * scale,
            median_wall_s=run.median_wall_s * scale,
            extrapolated=run.pulses != pulses,
        )

    @property
    def passed(self) -> bool:
        """Best wall time within the goal."""
        return self.best_wall_s <= WALL_GOAL_S

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self) | {"goal_s": WALL_GOAL_S, "passed": self.passed}


def peer_ratio(ours: Throughput, peer_pulses_per_s: float) -> float:
    """qinternet's median pulses per wall-second over the peer's (the peer runs once)."""
    return ours.pulses_per_s_median / peer_pulses_per_s


def naive_ratio(fast: Throughput, naive: Throughput) -> float:
    """qinternet's best pulses per wall-second over the naive baseline's (best) at the same distance."""
    return fast.pulses_per_s / naive.pulses_per_s
