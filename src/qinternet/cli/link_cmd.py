"""``qinternet link``: Monte-Carlo simulation of a decoy-state BB84 link."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from qinternet.cli import options as opt
from qinternet.cli.output import QuietOption, check_output_path, dump_json, progress_bar, writing
from qinternet.errors import ParameterError
from qinternet.network.links import tuned_system
from qinternet.outputs import replacing
from qinternet.params.devices import QkdSystem
from qinternet.params.serialise import to_jsonable
from qinternet.postprocessing.pipeline import ErrorCorrection, PipelineParams
from qinternet.postprocessing.pipeline import postprocess as run_pipeline
from qinternet.qkd.attacks import parse_attack
from qinternet.qkd.estimate import estimate_from_counts, expected_estimate
from qinternet.qkd.finite_key import FiniteKeyParams
from qinternet.qkd.keyrate import Protocol, parse_protocol
from qinternet.qkd.montecarlo import LinkSampler, compile_link, count_link
from qinternet.qkd.record import DetectionRecord, LinkCounts
from qinternet.qkd.record_io import save_record

__all__ = ["link"]

_MONTE_CARLO_PROTOCOLS = (Protocol.DECOY_BB84,)
MAX_EVENTS = 1e11
"""Most detection events one run may simulate (about three hours at 100 ns an event)."""
MAX_SAVED_EVENTS = 5e8
"""Most events ``--save`` keeps in memory (about 8 GB)."""
MAX_BLOCKS = 1e7
"""Most blocks one run may take (each costs some Python overhead)."""


@opt.with_overrides
def link(
    protocol: Annotated[str, typer.Option(help="Protocol to simulate (decoy-bb84).")] = "decoy-bb84",
    preset: Annotated[str, typer.Option(help="Named set-up; see `qinternet presets`.")] = "gys2004",
    distance_km: Annotated[str, typer.Option("--distance-km", help="Fibre length, km.")] = "50",
    pulses: Annotated[float, typer.Option(help="Number of pulses to simulate (e.g. 1e10).")] = 1e9,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random generator (same seed, same numbers).")] = 7,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    save: Annotated[Path | None, typer.Option(help="Keep the detection record in FILE (.npz or .parquet).")] = None,
    attack: Annotated[
        str | None,
        typer.Option(
            help="Eavesdropper: intercept-resend[:FRACTION], pns, beam-splitting, blinding[:FRACTION] or "
            "time-shift:MISMATCH (see docs)."
        ),
    ] = None,
    block_pulses: Annotated[
        float | None, typer.Option(help="Pulses per block (default: about 16 million detections a block).")
    ] = None,
    postprocess: Annotated[
        bool, typer.Option(help="Run the post-processing round: sifting to a finite-key secret key.")
    ] = False,
    eps_sec: Annotated[float, typer.Option(help="Post-processing: secrecy parameter.")] = 1e-10,
    eps_cor: Annotated[float, typer.Option(help="Post-processing: correctness parameter.")] = 1e-15,
    ec: Annotated[ErrorCorrection, typer.Option(help="Post-processing: error-correction method.")] = (
        ErrorCorrection.CASCADE
    ),
    cascade_variant: Annotated[str, typer.Option(help="Cascade variant (option7, yanetal, original, ...).")] = (
        "option7"
    ),
    save_key: Annotated[
        Path | None, typer.Option(help="Post-processing: write Alice's and Bob's final keys to FILE (.npz).")
    ] = None,
    preset_settings: Annotated[
        bool,
        typer.Option(
            help="Post-processing: keep the preset's basis and intensity settings; by default the link runs at "
            "those that maximise the finite-key rate of --pulses pulses (Lim et al. 2014), as an operator tunes it."
        ),
    ] = False,
    quiet: QuietOption = False,
    overrides: opt.SystemOverrides = opt.NO_OVERRIDES,
) -> None:
    """Simulate pulses through the link (cost grows with detections) and estimate Y1, e1 and the key rate."""
    chosen = parse_protocol(protocol, "--protocol")
    if chosen not in _MONTE_CARLO_PROTOCOLS:
        raise ParameterError("--protocol", f"the Monte-Carlo link simulates decoy-bb84 only, got {protocol!r}")
    distances = opt.parse_distances(distance_km)
    if len(distances) != 1:
        raise ParameterError("--distance-km", "the Monte-Carlo link takes one distance, not a sweep")
    n_pulses = opt.parse_count(pulses, "--pulses")
    n_block = None if block_pulses is None else opt.parse_count(block_pulses, "--block-pulses")
    if save is not None:
        check_output_path(save, "--save", (".npz", ".parquet"))
    if save_key is not None:
        if not postprocess:
            raise ParameterError("--save-key", "needs --postprocess")
        check_output_path(save_key, "--save-key", (".npz",))
    pipeline = PipelineParams(
        security=FiniteKeyParams(eps_sec=eps_sec, eps_cor=eps_cor), ec=ec, cascade_variant=cascade_variant
    )
    keep = save is not None or postprocess
    system = opt.resolve_system(preset, overrides)
    distance = distances[0]
    if postprocess and not preset_settings:
        system = tuned_system(system, distance, float(n_pulses), pipeline.security)
    channel = None if attack is None else parse_attack(attack)
    sampler = compile_link(system, distance, channel)
    _check_workload(sampler, n_pulses, n_block, keep=keep)

    kept: list[DetectionRecord] = []
    started = time.perf_counter()
    with progress_bar(quiet=quiet) as progress:
        task = progress.add_task(f"Simulating {n_pulses:.3g} pulses", total=n_pulses)

        def on_block(block: DetectionRecord) -> None:
            if keep:
                kept.append(block)
            progress.advance(task, block.pulses)

        rng = np.random.default_rng(seed)
        counts = count_link(sampler, n_pulses, rng, block_pulses=n_block, on_block=on_block)
    wall_s = time.perf_counter() - started
    record = DetectionRecord.concatenate(kept) if keep else None
    if save is not None and record is not None:
        with writing(save, "--save"):
            save_record(record, save, field="--save")

    run = LinkRun(
        protocol=chosen, preset=preset, distance_km=distance, pulses=n_pulses, seed=seed, wall_s=wall_s, attack=attack
    )
    result = run.to_dict(system, counts)
    if save is not None:
        result["saved"] = str(save)
    if postprocess and record is not None:
        result.update(_postprocess(record, system, pipeline, rng, save_key, run.pulses / system.source.rep_rate_hz))
    if json_out:
        typer.echo(dump_json(result))
    else:
        _print_summary(result)


def _postprocess(
    record: DetectionRecord,
    system: QkdSystem,
    params: PipelineParams,
    rng: np.random.Generator,
    save_key: Path | None,
    simulated_s: float,
) -> dict[str, Any]:
    """Run the post-processing round; its fields for the JSON result (the keys go only to ``save_key``)."""
    started = time.perf_counter()
    outcome = run_pipeline(record, system, params, rng)
    fields = outcome.to_dict()
    fields["finite_key_bounds"] = fields.pop("bounds")
    fields["postprocess_wall_s"] = time.perf_counter() - started
    fields["secret_key_rate_bps"] = outcome.final_key_bits / simulated_s
    if save_key is not None:
        with replacing(save_key, "--save-key", private=True) as temporary, temporary.open("wb") as handle:
            np.savez_compressed(handle, alice=outcome.alice_key, bob=outcome.bob_key)
        fields["saved_key"] = str(save_key)
    return fields


def _check_workload(sampler: LinkSampler, pulses: int, block_pulses: int | None, *, keep: bool) -> None:
    """Refuse runs that could not finish or fit in memory, before they start."""
    events = pulses * sampler.detection_probability
    if events > MAX_EVENTS:
        raise ParameterError(
            "--pulses",
            f"would simulate ~{events:.2g} detection events (at most {MAX_EVENTS:.0e}); use fewer pulses",
        )
    if keep and events > MAX_SAVED_EVENTS:
        raise ParameterError(
            "--save",
            f"~{events:.2g} events are too many to keep (at most {MAX_SAVED_EVENTS:.0e}); use fewer pulses",
        )
    if block_pulses is not None and pulses / block_pulses > MAX_BLOCKS:
        raise ParameterError("--block-pulses", f"gives more than {MAX_BLOCKS:.0e} blocks; use larger blocks")


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRun:
    """What was simulated, and how long it took."""

    protocol: Protocol
    preset: str
    distance_km: float
    pulses: int
    seed: int
    wall_s: float
    attack: str | None = None

    def to_dict(self, system: QkdSystem, counts: LinkCounts) -> dict[str, Any]:
        """The JSON result: run, counts, decoy estimates, key rate, the analytic expectation, parameters."""
        estimate = estimate_from_counts(system, counts)
        rep_rate = system.source.rep_rate_hz
        return {
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
            **estimate.to_dict(),
            "rep_rate_hz": rep_rate,
            "simulated_s": self.pulses / rep_rate,
            "key_rate_bps": estimate.key_rate_per_pulse * rep_rate,
            "expected": expected_estimate(system, self.distance_km).to_dict(),
            "parameters": {"preset": self.preset, **to_jsonable(system)},
        }


def _print_summary(result: dict[str, Any]) -> None:
    console = Console()
    table = Table(
        title=f"Monte-Carlo {result['protocol']} link, {result['distance_km']:g} km, preset {result['preset']}"
    )
    columns = (
        "class",
        "intensity",
        "pulses (matched bases)",
        "detections",
        "gain Q",
        "QBER E",
        "double clicks",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for k, c in enumerate(result["classes"]):
        table.add_row(
            str(k),
            f"{c['intensity']:g}",
            f"{c['pulses_sent']:,}",
            f"{c['detections']:,}",
            f"{c['gain']:.4e}",
            f"{c['qber']:.4f}",
            f"{c['double_clicks']:,}",
        )
    console.print(table)
    console.print(
        f"Y0 >= {result['background_yield_lower']:.3e}   Y1 >= {result['single_photon_yield_lower']:.4e}   "
        f"e1 <= {result['single_photon_error_upper']:.4f}"
    )
    if not result["statistics_sufficient"]:
        console.print(
            "[yellow]Too few decoy events to support these bounds: over the counts' confidence intervals they "
            "certify no single photons with e1 < 1/2. No key is claimed.[/]"
        )
    console.print(
        f"key rate {result['key_rate_per_pulse']:.4e} bits/pulse "
        f"(expected {result['expected']['key_rate_per_pulse']:.4e}); "
        f"{result['key_rate_bps']:.4g} bit/s at {result['rep_rate_hz']:.3g} Hz"
    )
    console.print(
        f"{result['detections']:,} detections from {result['pulses']:.3g} pulses in {result['wall_s']:.3f} s "
        f"({result['pulses_per_wall_s']:.3g} pulses per wall-second)"
    )
    if "final_key_bits" in result:
        outcome = "aborted: " + str(result["abort_reason"]) if result["aborted"] else "secret key produced"
        console.print(
            f"post-processing: {outcome}; sifted {result['sifted_bits']:,} bits, QBER estimate "
            f"{result['qber_estimate']:.4f}, phase-error bound {_fmt(result['phase_error_bound'])}, "
            f"EC leak {result['ec_leak_bits']:,} bits (f = {_fmt(result['ec_efficiency'])}), "
            f"privacy amplification to {result['pa_output_bits']:,} bits, authentication "
            f"{result['auth_bits_consumed']:,} bits, final key {result['final_key_bits']:,} bits "
            f"({result['secret_key_rate_bps']:.4g} bit/s)"
        )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
