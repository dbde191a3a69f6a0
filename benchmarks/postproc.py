"""Timed runs of qinternet's post-processing: Cascade, privacy amplification, polynomial hashing, the pipeline.

Every figure is wall-clock time (``time.perf_counter``) of the call itself; inputs are drawn before the
timer starts. Throughputs are bits per wall-second of the best repeat unless a name says ``median``.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

import qinternet.postprocessing.pipeline as pipeline_module
from qinternet.params import get_preset
from qinternet.physics.channels import fibre_channel
from qinternet.postprocessing.cascade import cascade_frames
from qinternet.postprocessing.gf2_64 import polynomial_hash
from qinternet.postprocessing.pipeline import PipelineParams, postprocess
from qinternet.postprocessing.privacy import toeplitz_hash, toeplitz_seed_bits
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.montecarlo import compile_link, simulate_link
from qinternet.qkd.record import DetectionRecord

__all__ = [
    "CASCADE_GOAL_BITS_PER_S",
    "CASCADE_GOAL_EFFICIENCY",
    "PA_GOAL_BITS_PER_S",
    "CascadeTiming",
    "Frames",
    "HashTiming",
    "NaivePaTiming",
    "PaTiming",
    "PipelineTiming",
    "Timing",
    "naive_toeplitz_hash",
    "time_cascade",
    "time_naive_pa",
    "time_pa",
    "time_pipeline",
    "time_polynomial_hash",
]

U8 = NDArray[np.uint8]

CASCADE_GOAL_BITS_PER_S = 5e6  # corrected bits per wall-second on one core ...
CASCADE_GOAL_EFFICIENCY = 1.10  # ... at f <= 1.1 (issue 4, item 9)
PA_GOAL_BITS_PER_S = 50e6  # privacy amplification, input bits per wall-second


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """Wall times of repeated calls that each process ``bits`` bits.

    Attributes:
        bits: bits processed per call (the throughput's numerator).
        wall_s: wall time of each repeat, s.
    """

    bits: int
    wall_s: tuple[float, ...]

    @property
    def best_wall_s(self) -> float:
        """Shortest wall time, s."""
        return min(self.wall_s)

    @property
    def median_wall_s(self) -> float:
        """Median wall time, s."""
        return statistics.median(self.wall_s)

    @property
    def bits_per_s(self) -> float:
        """Bits per wall-second of the best repeat."""
        return self.bits / self.best_wall_s

    @property
    def bits_per_s_median(self) -> float:
        """Bits per wall-second of the median repeat."""
        return self.bits / self.median_wall_s

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, derived figures included."""
        return {
            "bits": self.bits,
            "wall_s": list(self.wall_s),
            "best_wall_s": self.best_wall_s,
            "median_wall_s": self.median_wall_s,
            "bits_per_s": self.bits_per_s,
            "bits_per_s_median": self.bits_per_s_median,
        }


def _repeat(run: Callable[[int], object], repeats: int, seed: int) -> tuple[tuple[float, ...], object]:
    """Wall times of ``repeats`` calls ``run(seed + i)``, and what the last call returned."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    walls: list[float] = []
    out: object = None
    for i in range(repeats):
        start = time.perf_counter()
        out = run(seed + i)
        walls.append(time.perf_counter() - start)
    return tuple(walls), out


# ---------------------------------------------------------------------------------------------------
# Cascade


@dataclass(frozen=True, slots=True, kw_only=True)
class Frames:
    """A batch of Cascade frames: Alice's random bits and Bob's with independent flips.

    Attributes:
        qber: the nominal error rate (each bit flipped with this probability; also the estimate that
            sets the block sizes of both Cascades).
        alice: uint8 0/1, shape (F, n).
        bob: uint8 0/1, shape (F, n).
    """

    qber: float
    alice: U8
    bob: U8

    @staticmethod
    def draw(frame_bits: int, frames: int, qber: float, rng: np.random.Generator) -> Frames:
        """``frames`` frames of ``frame_bits`` bits with error probability ``qber``."""
        alice = rng.integers(0, 2, (frames, frame_bits), dtype=np.uint8)
        flips = (rng.random((frames, frame_bits)) < qber).astype(np.uint8)
        return Frames(qber=qber, alice=alice, bob=alice ^ flips)

    @property
    def frames(self) -> int:
        """Number of frames ``F``."""
        return int(self.alice.shape[0])

    @property
    def frame_bits(self) -> int:
        """Bits per frame ``n``."""
        return int(self.alice.shape[1])

    @property
    def frame_qber(self) -> NDArray[np.float64]:
        """Actual error rate of each frame."""
        errors = np.count_nonzero(self.alice != self.bob, axis=1)
        return np.asarray(errors / self.frame_bits, dtype=np.float64)

    @property
    def entropy_bits(self) -> float:
        """``sum_f n h(Q_f)``: the Shannon limit of the disclosure over the batch."""
        return float(self.frame_bits * np.sum(binary_entropy(self.frame_qber)))


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeTiming:
    """qinternet's Cascade on one batch of frames with one variant.

    Attributes:
        variant: the row of ``CASCADE_VARIANTS``.
        frame_bits, frames: the batch.
        qber: nominal error rate; actual_qber: the batch's error rate.
        timing: wall times; ``bits`` is the batch size (every bit is corrected or confirmed).
        leaked_bits: parities disclosed over the batch (last repeat).
        entropy_bits: ``sum_f n h(Q_f)``.
        frame_errors: frames left with errors (last repeat); residual_errors: the errors left.
    """

    variant: str
    frame_bits: int
    frames: int
    qber: float
    actual_qber: float
    timing: Timing
    leaked_bits: int
    entropy_bits: float
    frame_errors: int
    residual_errors: int

    @property
    def efficiency(self) -> float:
        """``f = leaked_bits / sum_f n h(Q_f)``."""
        return self.leaked_bits / self.entropy_bits

    @property
    def passed(self) -> bool:
        """At least :data:`CASCADE_GOAL_BITS_PER_S` (best repeat) at ``f <= 1.1``."""
        return self.timing.bits_per_s >= CASCADE_GOAL_BITS_PER_S and self.efficiency <= CASCADE_GOAL_EFFICIENCY

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = {k: v for k, v in asdict(self).items() if k != "timing"}
        return out | self.timing.to_dict() | {"efficiency": self.efficiency, "goal_passed": self.passed}


def time_cascade(frames: Frames, variant: str, repeats: int, seed: int) -> CascadeTiming:
    """Time ``cascade_frames`` on the whole batch (the permutation seeds come from ``seed + i``)."""

    def run(s: int) -> object:
        return cascade_frames(frames.alice, frames.bob, frames.qber, variant, np.random.default_rng(s))

    walls, out = _repeat(run, repeats, seed)
    results = out if isinstance(out, list) else []
    bits = frames.frames * frames.frame_bits
    return CascadeTiming(
        variant=variant,
        frame_bits=frames.frame_bits,
        frames=frames.frames,
        qber=frames.qber,
        actual_qber=float(frames.frame_qber.mean()),
        timing=Timing(bits=bits, wall_s=walls),
        leaked_bits=sum(r.leaked_bits for r in results),
        entropy_bits=frames.entropy_bits,
        frame_errors=sum(r.frame_error for r in results),
        residual_errors=sum(r.residual_errors for r in results),
    )


# ---------------------------------------------------------------------------------------------------
# Privacy amplification and polynomial hashing


@dataclass(frozen=True, slots=True, kw_only=True)
class PaTiming:
    """``toeplitz_hash`` of ``input_bits`` bits down to ``output_bits``; ``timing.bits`` is the input.

    ``cores``: the CPUs the process could use (1 when the run is pinned).
    """

    input_bits: int
    output_bits: int
    timing: Timing
    cores: int = 1

    @property
    def passed(self) -> bool:
        """At least :data:`PA_GOAL_BITS_PER_S` input bits per wall-second (best repeat)."""
        return self.timing.bits_per_s >= PA_GOAL_BITS_PER_S

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return (
            {"input_bits": self.input_bits, "output_bits": self.output_bits, "cores": self.cores}
            | self.timing.to_dict()
            | {
                "goal_bits_per_s": PA_GOAL_BITS_PER_S,
                "goal_passed": self.passed,
            }
        )


def _pa_inputs(input_bits: int, output_bits: int, seed: int) -> tuple[U8, U8]:
    rng = np.random.default_rng(seed)
    key = rng.integers(0, 2, input_bits, dtype=np.uint8)
    return key, rng.integers(0, 2, toeplitz_seed_bits(input_bits, output_bits), dtype=np.uint8)


def time_pa(input_bits: int, repeats: int, seed: int) -> PaTiming:
    """Time ``toeplitz_hash`` from ``input_bits`` to half as many bits."""
    output_bits = input_bits // 2
    key, toeplitz_seed = _pa_inputs(input_bits, output_bits, seed)
    walls, _ = _repeat(lambda _: toeplitz_hash(key, toeplitz_seed, output_bits), repeats, seed)
    return PaTiming(input_bits=input_bits, output_bits=output_bits, timing=Timing(bits=input_bits, wall_s=walls))


def naive_toeplitz_hash(key: U8, seed: U8, output_bits: int) -> U8:
    """``T key mod 2`` with ``T`` built explicitly as a dense ``m x n`` uint8 matrix.

    Row ``i`` of ``T[i, j] = seed[i - j + n - 1]`` is a window of the reversed seed; the uint8 product
    wraps modulo 256, which keeps the parity.
    """
    n = int(key.shape[0])
    windows = sliding_window_view(seed[::-1], n)  # windows[w][j] = seed[n + m - 2 - w - j]
    matrix = np.ascontiguousarray(windows[output_bits - 1 :: -1] if output_bits else windows[:0])
    return np.asarray((matrix @ key) & 1, dtype=np.uint8)


@dataclass(frozen=True, slots=True, kw_only=True)
class NaivePaTiming:
    """The dense-matrix baseline of privacy amplification at a small size.

    Attributes:
        input_bits, output_bits: the size ``n``, ``m`` (``m = n / 2``).
        timing: wall times (building the matrix from the seed and the product); ``bits`` is ``n``.
        agrees: its output equals ``toeplitz_hash``'s on the same key and seed.
    """

    input_bits: int
    output_bits: int
    timing: Timing
    agrees: bool

    def extrapolated_bits_per_s(self, input_bits: int) -> float:
        """Input bits per second at ``input_bits`` (output half), scaling the time as ``n m``."""
        scale = (input_bits * (input_bits // 2)) / (self.input_bits * self.output_bits)
        return input_bits / (self.timing.best_wall_s * scale)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"input_bits": self.input_bits, "output_bits": self.output_bits, "agrees": self.agrees} | (
            self.timing.to_dict()
        )


def time_naive_pa(input_bits: int, repeats: int, seed: int) -> NaivePaTiming:
    """Time :func:`naive_toeplitz_hash` from ``input_bits`` to half as many, and check it against ours."""
    output_bits = input_bits // 2
    key, toeplitz_seed = _pa_inputs(input_bits, output_bits, seed)
    walls, out = _repeat(lambda _: naive_toeplitz_hash(key, toeplitz_seed, output_bits), repeats, seed)
    agrees = bool(np.array_equal(np.asarray(out), toeplitz_hash(key, toeplitz_seed, output_bits)))
    return NaivePaTiming(
        input_bits=input_bits,
        output_bits=output_bits,
        timing=Timing(bits=input_bits, wall_s=walls),
        agrees=agrees,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class HashTiming:
    """``polynomial_hash`` of a ``timing.bits``-bit message (one 64-bit tag over GF(2^64))."""

    timing: Timing

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return self.timing.to_dict()


def time_polynomial_hash(bits: int, repeats: int, seed: int) -> HashTiming:
    """Time ``polynomial_hash`` on ``bits`` random bits with a random key."""
    rng = np.random.default_rng(seed)
    message = rng.integers(0, 2, bits, dtype=np.uint8)
    r = int(rng.integers(1, 2**63))
    walls, _ = _repeat(lambda _: polynomial_hash(message, r), repeats, seed)
    return HashTiming(timing=Timing(bits=bits, wall_s=walls))


# ---------------------------------------------------------------------------------------------------
# The whole pipeline

_STAGES = (
    ("sift", "sifting"),
    ("reconcile_in_process", "Cascade"),
    ("verify_keys", "verification"),
    ("verify_frames", "verification"),
    ("finite_key_length", "key length"),
    ("toeplitz_hash", "PA"),
    ("Transcript.authenticate", "auth"),
)
"""What ``pipeline.postprocess`` calls through its module's globals, timed separately: (name, stage).

Stages: sifting; Cascade (``reconcile_in_process``); verification hashes; the finite-key length; privacy
amplification (PA, ``toeplitz_hash``); Wegman-Carter authentication of the transcript (auth)."""


@contextlib.contextmanager
def _stage_timers(totals: dict[str, float]) -> Iterator[None]:
    """Wrap the stage functions of the pipeline module so that their wall time adds up in ``totals``.

    Only the module's global names (and ``Transcript.authenticate``) are rebound, for the duration of the
    block; a name the module does not have is skipped (the breakdown then lacks that stage, and its time
    shows as "other").
    """
    saved: list[tuple[object, str, Callable[..., Any]]] = []
    for path, stage in _STAGES:
        *owner_path, attribute = path.split(".")
        owner: object = pipeline_module
        for part in owner_path:
            owner = getattr(owner, part, None)
        inner = getattr(owner, attribute, None) if owner is not None else None
        if owner is None or inner is None:
            continue
        saved.append((owner, attribute, inner))

        def timed(*args: Any, _inner: Callable[..., Any] = inner, _stage: str = stage, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                totals[_stage] = totals.get(_stage, 0.0) + time.perf_counter() - start

        setattr(owner, attribute, timed)
    try:
        yield
    finally:
        for owner, attribute, inner in reversed(saved):
            setattr(owner, attribute, inner)


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineTiming:
    """``postprocess`` on one Monte-Carlo record.

    Attributes:
        preset, distance_km: the link.
        rep_rate_hz: the preset's pulse rate (1 GHz for lim2014).
        pulses: pulses simulated for the record.
        montecarlo_wall_s: wall time of the Monte-Carlo run that made the record (not in ``timing``).
        detections: events in the record.
        timing: wall times of ``postprocess``; ``bits`` is the number of sifted bits.
        stages_s: wall time per stage in the best repeat (the rest is transcript, authentication and glue).
        result: ``PipelineResult.to_dict()`` of the last repeat, without the finite-key bounds.
    """

    preset: str
    distance_km: float
    rep_rate_hz: float
    pulses: int
    montecarlo_wall_s: float
    detections: int
    timing: Timing
    stages_s: dict[str, float]
    result: dict[str, Any]

    @property
    def sifted_bits(self) -> int:
        """Sifted bits of the record."""
        return self.timing.bits

    @property
    def link_sifted_bits_per_s(self) -> float:
        """Sifted bits per second of the simulated link running at ``rep_rate_hz``."""
        return self.sifted_bits / self.pulses * self.rep_rate_hz

    @property
    def simulated_s(self) -> float:
        """Seconds of link time the record stands for."""
        return self.pulses / self.rep_rate_hz

    @property
    def ratio(self) -> float:
        """Pipeline sifted bits per wall-second (best) over the link's sifted bits per second."""
        return self.timing.bits_per_s / self.link_sifted_bits_per_s

    @property
    def ratio_median(self) -> float:
        """The same with the median repeat."""
        return self.timing.bits_per_s_median / self.link_sifted_bits_per_s

    @property
    def passed(self) -> bool:
        """The pipeline keeps up with the link (best repeat): it is not the bottleneck."""
        return self.ratio >= 1.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = {k: v for k, v in asdict(self).items() if k != "timing"}
        return (
            out
            | self.timing.to_dict()
            | {
                "link_sifted_bits_per_s": self.link_sifted_bits_per_s,
                "simulated_s": self.simulated_s,
                "ratio_pipeline_over_link": self.ratio,
                "ratio_pipeline_over_link_median": self.ratio_median,
                "goal_passed": self.passed,
            }
        )


def _pipeline_record(preset: str, distance_km: float, sifted_bits: int, seed: int) -> tuple[DetectionRecord, float]:
    """A Monte-Carlo record with about ``sifted_bits`` sifted bits, and the wall time it took."""
    system = get_preset(preset).system
    sampler = compile_link(system, fibre_channel(system.fibre, distance_km))
    # Detection probability with matching bases, any outcome but "no click".
    matched = sum(float(sampler.probabilities[:, b, b, 1:].sum()) for b in range(2))
    pulses = math.ceil(sifted_bits / matched)
    start = time.perf_counter()
    record = DetectionRecord.concatenate(list(simulate_link(sampler, pulses, np.random.default_rng(seed))))
    return record, time.perf_counter() - start


def time_pipeline(preset: str, distance_km: float, sifted_bits: int, repeats: int, seed: int) -> PipelineTiming:
    """Time ``postprocess(record, system, PipelineParams(), rng)`` on a record of ~``sifted_bits`` sifted bits."""
    system = get_preset(preset).system
    record, mc_wall = _pipeline_record(preset, distance_km, sifted_bits, seed)
    params = PipelineParams()
    walls: list[float] = []
    stages: list[dict[str, float]] = []
    result: dict[str, Any] = {}
    for i in range(repeats):
        totals: dict[str, float] = {}
        with _stage_timers(totals):
            start = time.perf_counter()
            outcome = postprocess(record, system, params, np.random.default_rng(seed + i))
            walls.append(time.perf_counter() - start)
        stages.append(totals)
        result = outcome.to_dict()
    result.pop("bounds", None)
    best = int(np.argmin(walls))
    return PipelineTiming(
        preset=preset,
        distance_km=distance_km,
        rep_rate_hz=system.source.rep_rate_hz,
        pulses=record.pulses,
        montecarlo_wall_s=mc_wall,
        detections=len(record),
        timing=Timing(bits=int(result["sifted_bits"]), wall_s=tuple(walls)),
        stages_s=stages[best],
        result=result,
    )
