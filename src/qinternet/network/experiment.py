"""One link simulated in detail: the library function behind ``qinternet link``.

>>> from qinternet.network.experiment import run_link_experiment
>>> experiment = run_link_experiment(preset="gys2004", distance_km=50, pulses=1e9, seed=7)  # doctest: +SKIP
>>> experiment.estimate.key_rate_per_pulse  # doctest: +SKIP

:func:`run_link_experiment` draws the detection events of a decoy-state BB84 link with the Monte-Carlo of
:mod:`qinternet.qkd.montecarlo` (cost grows with detections, not pulses), optionally with an eavesdropper, and
estimates the decoy bounds and key rate from the counts; with a :class:`~qinternet.postprocessing.pipeline.
PipelineParams` it also runs the classical post-processing on the detection record, at the settings that
maximise the finite-key rate of the run (as an operator tunes a link) unless the preset's are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qinternet.errors import ParameterError
from qinternet.params.checks import require_non_negative
from qinternet.params.devices import QkdSystem
from qinternet.params.presets import get_preset
from qinternet.params.serialise import dump_json, to_jsonable
from qinternet.physics.channels import fibre_channel
from qinternet.postprocessing.pipeline import PipelineParams, PipelineResult, postprocess
from qinternet.qkd.attacks import parse_attack
from qinternet.qkd.estimate import LinkEstimate, estimate_from_counts, expected_estimate
from qinternet.qkd.keyrate import Protocol
from qinternet.qkd.montecarlo import LinkSampler, compile_link, count_link
from qinternet.qkd.record import DetectionRecord, LinkCounts
from qinternet.qkd.tuning import tuned_system

__all__ = ["MAX_BLOCKS", "MAX_EVENTS", "MAX_SAVED_EVENTS", "LinkExperiment", "run_link_experiment"]

MAX_EVENTS = 1e11
"""Most detection events one run may simulate (about three hours at 100 ns an event)."""
MAX_SAVED_EVENTS = 5e8
"""Most events a kept detection record may hold (about 8 GB)."""
MAX_BLOCKS = 1e7
"""Most blocks one run may take (each costs some Python overhead)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkExperiment:
    """What :func:`run_link_experiment` returns.

    Attributes:
        protocol, preset, distance_km, pulses, seed, attack: what was simulated.
        system: the devices at the settings the link ran.
        counts: per class and basis pair: pulses, detections, errors, double clicks.
        estimate: decoy bounds and asymptotic key rate from the counts.
        wall_s: wall time of the simulation, s.
        record: the detection record (when kept or post-processed), else None.
        outcome: the post-processing round (None without one); postprocess_wall_s its wall time.
    """

    protocol: Protocol
    preset: str
    distance_km: float
    pulses: int
    seed: int
    attack: str | None
    system: QkdSystem
    counts: LinkCounts
    estimate: LinkEstimate
    wall_s: float
    record: DetectionRecord | None = None
    outcome: PipelineResult | None = None
    postprocess_wall_s: float | None = None

    @property
    def simulated_s(self) -> float:
        """Time the pulses take at the source's repetition rate, s."""
        return self.pulses / self.system.source.rep_rate_hz

    def to_dict(self, *, saved: str | None = None, saved_key: str | None = None) -> dict[str, Any]:
        """The JSON object ``qinternet link --json`` prints; ``saved`` and ``saved_key`` name the files the
        record and the keys were written to, if they were."""
        counts, rep_rate = self.counts, self.system.source.rep_rate_hz
        data: dict[str, Any] = {
            "protocol": self.protocol.value,
            "preset": self.preset,
            "distance_km": self.distance_km,
            "pulses": self.pulses,
            "seed": self.seed,
            "attack": self.attack,
            "detections": int(counts.detected.sum()),
            "sifted_bits": int(counts.matched(counts.detected).sum()),
            "double_clicks": int(counts.double_clicks.sum()),
            "wall_s": self.wall_s,
            "pulses_per_wall_s": self.pulses / self.wall_s if self.wall_s > 0 else None,
            **self.estimate.to_dict(),
            "rep_rate_hz": rep_rate,
            "simulated_s": self.simulated_s,
            "key_rate_bps": self.estimate.key_rate_per_pulse * rep_rate,
            "expected": expected_estimate(self.system, fibre_channel(self.system.fibre, self.distance_km)).to_dict(),
            "parameters": {"preset": self.preset, **to_jsonable(self.system)},
        }
        if saved is not None:
            data["saved"] = saved
        if self.outcome is not None:
            fields = self.outcome.to_dict()
            fields["finite_key_bounds"] = fields.pop("bounds")
            fields["postprocess_wall_s"] = self.postprocess_wall_s
            fields["secret_key_rate_bps"] = self.outcome.final_key_bits / self.simulated_s
            if saved_key is not None:
                fields["saved_key"] = saved_key
            data.update(fields)
        return data

    def to_json(self) -> str:
        """:meth:`to_dict` as strict JSON text."""
        return dump_json(self.to_dict())


def _check_workload(sampler: LinkSampler, pulses: int, block_pulses: int | None, *, keep: bool) -> None:
    """Refuse runs that could not finish or fit in memory, before they start."""
    events = pulses * sampler.detection_probability
    if events > MAX_EVENTS:
        raise ParameterError(
            "pulses", f"would simulate ~{events:.2g} detection events (at most {MAX_EVENTS:.0e}); use fewer pulses"
        )
    if keep and events > MAX_SAVED_EVENTS:
        raise ParameterError(
            "keep_record",
            f"~{events:.2g} events are too many to keep (at most {MAX_SAVED_EVENTS:.0e}); use fewer pulses",
        )
    if block_pulses is not None and pulses / block_pulses > MAX_BLOCKS:
        raise ParameterError("block_pulses", f"gives more than {MAX_BLOCKS:.0e} blocks; use larger blocks")


def run_link_experiment(
    *,
    preset: str = "gys2004",
    system: QkdSystem | None = None,
    distance_km: float = 50.0,
    pulses: int = 10**9,
    seed: int = 7,
    attack: str | None = None,
    block_pulses: int | None = None,
    keep_record: bool = False,
    pipeline: PipelineParams | None = None,
    tune: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> LinkExperiment:
    """Simulate ``pulses`` pulses of a decoy-BB84 link over ``distance_km`` of fibre and estimate its key.

    Args:
        preset: the named device set (``qinternet presets``); ``system`` replaces its devices when given.
        distance_km: fibre length, km.
        pulses: pulses to simulate; block_pulses: pulses per block (default: ~16 million detections a block).
        seed: seed of the random generator (same seed, same numbers).
        attack: an eavesdropper, ``NAME[:PARAMS]`` (:func:`qinternet.qkd.attacks.parse_attack`).
        keep_record: keep the detection record (for saving it).
        pipeline: run the post-processing round with these choices (the record is kept).
        tune: with ``pipeline``, run at the settings that maximise the finite-key rate of ``pulses`` pulses
            (Lim et al. 2014) instead of the devices' own.
        on_progress: called with the pulses done after each block.

    Raises:
        ParameterError: naming the argument or parameter field at fault.
    """
    devices = get_preset(preset).system if system is None else system
    if isinstance(pulses, bool) or not isinstance(pulses, int) or pulses < 1:
        raise ParameterError("pulses", f"must be a whole number >= 1, got {pulses!r}")
    keep = keep_record or pipeline is not None
    require_non_negative("distance_km", distance_km)
    if pipeline is not None and tune:
        devices = tuned_system(devices, fibre_channel(devices.fibre, distance_km), float(pulses), pipeline.security)
    channel = fibre_channel(devices.fibre, distance_km)
    sampler = compile_link(devices, channel, None if attack is None else parse_attack(attack))
    _check_workload(sampler, pulses, block_pulses, keep=keep)
    kept: list[DetectionRecord] = []

    def on_block(block: DetectionRecord) -> None:
        if keep:
            kept.append(block)
        if on_progress is not None:
            on_progress(block.pulses)

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    counts = count_link(sampler, pulses, rng, block_pulses=block_pulses, on_block=on_block)
    wall_s = time.perf_counter() - started
    record = DetectionRecord.concatenate(kept) if keep else None
    outcome, post_wall = None, None
    if pipeline is not None and record is not None:
        started = time.perf_counter()
        outcome = postprocess(record, devices, pipeline, rng)
        post_wall = time.perf_counter() - started
    return LinkExperiment(
        protocol=Protocol.DECOY_BB84,
        preset=preset,
        distance_km=distance_km,
        pulses=pulses,
        seed=seed,
        attack=attack,
        system=devices,
        counts=counts,
        estimate=estimate_from_counts(devices, counts),
        wall_s=wall_s,
        record=record,
        outcome=outcome,
        postprocess_wall_s=post_wall,
    )
