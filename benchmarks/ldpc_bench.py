"""LDPC reconciliation at QBER 1, 2 and 5 %: efficiency, frame error rate and throughput.

Each frame is one codeword of the default codes (``2^18`` bits at 1 %, ``2^17`` at 2 and 5 %) filled
with Alice's uniform bits and Bob's copy through a binary symmetric channel. The timer covers
:func:`ldpc_reconcile` (plan, syndromes, decoding); the codes are built once before the timer starts (3
to 7 s each, cached per process), and a small frame is decoded first so that the compiled kernels are
loaded (or compiled, about 2 s, the first time; numba caches them on disk). Wall time and the process's
CPU time are both recorded: on a shared machine the CPU time is the steadier measure of what a free core
does.

The frame error rate is bounded from the frames decoded: with ``k`` failures in ``K`` frames, the
one-sided 95 % Clopper-Pearson upper limit (``K = 300`` clean frames give ``< 1e-2``; the quick run's few
frames bound it only loosely, and the table says so).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.table import Table
from scipy import stats

from qinternet.postprocessing.ldpc import ldpc_plan, ldpc_reconcile
from report import verdict

__all__ = ["LDPC_GOAL_EFFICIENCY", "LDPC_GOAL_FER", "LDPC_QBERS", "LdpcTiming", "ldpc_table", "time_ldpc"]

LDPC_QBERS = (0.01, 0.02, 0.05)
LDPC_GOAL_EFFICIENCY = 1.15  # issue 4, item 2
LDPC_GOAL_FER = 1e-2
_CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True, kw_only=True)
class LdpcTiming:
    """Frames reconciled at one QBER.

    Attributes:
        qber: the channel's crossover probability (also the estimate given to the plan).
        frames: codewords decoded; frame_errors: those left with errors.
        key_bits_per_frame: key bits a codeword carried.
        code_rate, target_rate: the mother code's rate and the rate asked for.
        efficiencies: ``leak / (n h(Q_frame))`` per frame.
        iterations: decoder iterations per frame.
        wall_s: wall time per frame, s.
        cpu_s: CPU time of the process per frame, s.
    """

    qber: float
    frames: int
    frame_errors: int
    key_bits_per_frame: int
    code_rate: float
    target_rate: float
    efficiencies: tuple[float, ...]
    iterations: tuple[int, ...]
    wall_s: tuple[float, ...]
    cpu_s: tuple[float, ...]

    @property
    def fer_upper(self) -> float:
        """One-sided 95 % Clopper-Pearson upper limit of the frame error rate."""
        if self.frame_errors >= self.frames:
            return 1.0
        return float(stats.beta.ppf(_CONFIDENCE, self.frame_errors + 1, self.frames - self.frame_errors))

    @property
    def efficiency_mean(self) -> float:
        """Mean efficiency over the frames."""
        return statistics.fmean(self.efficiencies)

    @property
    def bits_per_s(self) -> float:
        """Key bits reconciled per wall-second over all frames."""
        return self.frames * self.key_bits_per_frame / sum(self.wall_s)

    @property
    def bits_per_cpu_s(self) -> float:
        """Key bits reconciled per CPU-second over all frames."""
        return self.frames * self.key_bits_per_frame / sum(self.cpu_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "qber": self.qber,
            "frames": self.frames,
            "frame_errors": self.frame_errors,
            "fer_upper_95": self.fer_upper,
            "key_bits_per_frame": self.key_bits_per_frame,
            "code_rate": self.code_rate,
            "target_rate": self.target_rate,
            "efficiency_mean": self.efficiency_mean,
            "efficiency_sd": statistics.pstdev(self.efficiencies),
            "efficiency_max": max(self.efficiencies),
            "iterations_mean": statistics.fmean(self.iterations),
            "iterations_max": max(self.iterations),
            "bits_per_s": self.bits_per_s,
            "bits_per_cpu_s": self.bits_per_cpu_s,
        }


def time_ldpc(qber: float, frames: int, seed: int) -> LdpcTiming:
    """Reconcile ``frames`` independent codewords at ``qber``, timing each."""
    capacity = ldpc_plan(1, qber).capacity  # builds (and caches) the code outside the timer
    _warm_up()
    efficiencies, iterations, walls, cpus = [], [], [], []
    errors = 0
    code_rate = target_rate = math.nan
    for frame in range(frames):
        rng = np.random.default_rng((seed, frame, round(qber * 1e6)))
        alice = rng.integers(0, 2, capacity, dtype=np.uint8)
        bob = alice ^ (rng.random(capacity) < qber).astype(np.uint8)
        start, cpu = time.perf_counter(), time.process_time()
        result = ldpc_reconcile(alice, bob, qber, rng)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        efficiencies.append(result.efficiency)
        iterations.append(int(result.iterations.max()))
        errors += int(result.frame_error)
        code_rate, target_rate = result.code_rate, result.target_rate
    return LdpcTiming(
        qber=qber,
        frames=frames,
        frame_errors=errors,
        key_bits_per_frame=capacity,
        code_rate=code_rate,
        target_rate=target_rate,
        efficiencies=tuple(efficiencies),
        iterations=tuple(iterations),
        wall_s=tuple(walls),
        cpu_s=tuple(cpus),
    )


def _warm_up() -> None:
    """Decode one small noisy frame, so that the compiled decoder is loaded before any timer starts."""
    rng = np.random.default_rng(0)
    alice = rng.integers(0, 2, 400, dtype=np.uint8)
    bob = alice ^ (rng.random(alice.size) < 0.03).astype(np.uint8)
    ldpc_reconcile(alice, bob, 0.03, rng, code_bits=512, efficiency=1.5)


def ldpc_table(runs: list[LdpcTiming]) -> Table:
    """Efficiency, frame error rate and throughput per QBER against the goals."""
    table = Table(
        title=(
            "LDPC reconciliation (codewords of 2^17 bits, 2^18 at 1 %): "
            f"goal f <= {LDPC_GOAL_EFFICIENCY}, FER < {LDPC_GOAL_FER:g}"
        )
    )
    columns = (
        "QBER",
        "code rate",
        "f mean (sd)",
        "frame errors",
        "FER < (95 %)",
        "iterations",
        "Mbit/s",
        "CPU Mbit/s",
        "goal",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for run in runs:
        d = run.to_dict()
        met = run.efficiency_mean <= LDPC_GOAL_EFFICIENCY and run.fer_upper < LDPC_GOAL_FER
        table.add_row(
            f"{run.qber:.0%}",
            f"{run.code_rate:.3f} -> {run.target_rate:.3f}",
            f"{d['efficiency_mean']:.3f} ({d['efficiency_sd']:.3f})",
            f"{run.frame_errors}/{run.frames}",
            f"{run.fer_upper:.2g}",
            f"{d['iterations_mean']:.0f} (max {d['iterations_max']})",
            f"{run.bits_per_s / 1e6:.2f}",
            f"{run.bits_per_cpu_s / 1e6:.2f}",
            verdict(met),
        )
    return table
