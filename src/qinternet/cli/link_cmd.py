"""``qinternet link``: Monte-Carlo simulation of a decoy-state BB84 link."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from qinternet.cli import options as opt
from qinternet.cli.output import check_output_suffix, dump_json
from qinternet.errors import ParameterError
from qinternet.params.serialise import to_jsonable
from qinternet.qkd.estimate import LinkEstimate, estimate_from_counts, expected_estimate
from qinternet.qkd.keyrate import Protocol, parse_protocol
from qinternet.qkd.montecarlo import DEFAULT_BLOCK_PULSES, compile_link, count_link
from qinternet.qkd.record import DetectionRecord, LinkCounts
from qinternet.qkd.record_io import save_record

__all__ = ["link"]

_MONTE_CARLO_PROTOCOLS = (Protocol.DECOY_BB84,)


def link(
    protocol: Annotated[str, typer.Option(help="Protocol to simulate (decoy-bb84).")] = "decoy-bb84",
    preset: Annotated[str, typer.Option(help="Named set-up; see `qinternet presets`.")] = "gys2004",
    distance_km: Annotated[str, typer.Option("--distance-km", help="Fibre length, km.")] = "50",
    pulses: Annotated[float, typer.Option(help="Number of pulses to simulate (e.g. 1e10).")] = 1e9,
    seed: Annotated[int, typer.Option(help="Seed of the random generator (same seed, same numbers).")] = 7,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    save: Annotated[
        Path | None, typer.Option(help="Keep the detection record in FILE (.npz or .parquet).")
    ] = None,
    block_pulses: Annotated[float, typer.Option(help="Pulses simulated per block (bounds memory).")] = float(
        DEFAULT_BLOCK_PULSES
    ),
    loss_db_per_km: opt.LossOpt = None,
    insertion_loss_db: opt.InsertionOpt = None,
    detector_efficiency: opt.EfficiencyOpt = None,
    dark_count_prob: opt.DarkOpt = None,
    after_pulse_prob: opt.AfterPulseOpt = None,
    dead_time_s: opt.DeadTimeOpt = None,
    misalignment_error: opt.MisalignmentOpt = None,
    ec_efficiency: opt.EcOpt = None,
    basis_prob: opt.BasisOpt = None,
    signal_intensity: opt.SignalOpt = None,
    decoy_intensities: opt.DecoysOpt = None,
    intensity_probs: opt.ProbsOpt = None,
    rep_rate_hz: opt.RepRateOpt = None,
    mean_pair_number: opt.PairsOpt = None,
    pair_statistics: opt.StatisticsOpt = None,
) -> None:
    """Simulate pulses through the link (cost grows with detections) and estimate Y1, e1 and the key rate."""
    chosen = parse_protocol(protocol, "--protocol")
    if chosen not in _MONTE_CARLO_PROTOCOLS:
        raise ParameterError(
            "--protocol", f"the Monte-Carlo link simulates decoy-bb84 only, got {protocol!r}"
        )
    distances = opt.parse_distances(distance_km)
    if len(distances) != 1:
        raise ParameterError("--distance-km", "the Monte-Carlo link takes one distance, not a sweep")
    n_pulses = opt.parse_count(pulses, "--pulses")
    n_block = opt.parse_count(block_pulses, "--block-pulses")
    if save is not None:
        check_output_suffix(save, "--save", (".npz", ".parquet"))
    system = opt.resolve_system(preset, opt.collect_overrides(locals()))
    distance = distances[0]
    sampler = compile_link(system, distance)
    rng = np.random.default_rng(seed)

    kept: list[DetectionRecord] = []
    started = time.perf_counter()
    console = Console(stderr=True)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(f"Simulating {n_pulses:.3g} pulses", total=n_pulses)

        def on_block(block: DetectionRecord) -> None:
            if save is not None:
                kept.append(block)
            progress.advance(task, block.pulses)

        counts = count_link(sampler, n_pulses, rng, block_pulses=n_block, on_block=on_block)
    wall_s = time.perf_counter() - started
    if save is not None:
        save_record(DetectionRecord.concatenate(kept), save, field="--save")

    estimate = estimate_from_counts(system, counts)
    expected = expected_estimate(system, distance)
    result = _result(chosen, preset, distance, n_pulses, seed, wall_s, counts, estimate, expected, system)
    result["parameters"] = {"preset": preset, **to_jsonable(system)}
    if save is not None:
        result["saved"] = str(save)
    if json_out:
        typer.echo(dump_json(result))
    else:
        _print_summary(result, estimate)


def _result(
    protocol: Protocol,
    preset: str,
    distance: float,
    pulses: int,
    seed: int,
    wall_s: float,
    counts: LinkCounts,
    estimate: LinkEstimate,
    expected: LinkEstimate,
    system: Any,
) -> dict[str, Any]:
    rep_rate = system.source.rep_rate_hz
    detections = int(counts.detected.sum())
    return {
        "protocol": protocol.value,
        "preset": preset,
        "distance_km": distance,
        "pulses": pulses,
        "seed": seed,
        "detections": detections,
        "sifted_bits": int(counts.matched(counts.detected).sum()),
        "double_clicks": int(counts.double_clicks.sum()),
        "wall_s": wall_s,
        "pulses_per_wall_s": pulses / wall_s if wall_s > 0 else None,
        **estimate.to_dict(),
        "rep_rate_hz": rep_rate,
        "simulated_s": pulses / rep_rate,
        "key_rate_bps": estimate.key_rate_per_pulse * rep_rate,
        "expected": expected.to_dict(),
    }


def _print_summary(result: dict[str, Any], estimate: LinkEstimate) -> None:
    console = Console()
    table = Table(
        title=f"Monte-Carlo {result['protocol']} link, {result['distance_km']:g} km, "
        f"preset {result['preset']}"
    )
    for column in (
        "class",
        "intensity",
        "pulses (matched bases)",
        "detections",
        "gain Q",
        "QBER E",
        "double clicks",
    ):
        table.add_column(column, justify="right")
    for k, c in enumerate(estimate.classes):
        table.add_row(
            str(k),
            f"{c.intensity:g}",
            f"{c.pulses_sent:,}",
            f"{c.detections:,}",
            f"{c.gain:.4e}",
            f"{c.qber:.4f}",
            f"{c.double_clicks:,}",
        )
    console.print(table)
    console.print(
        f"Y0 >= {estimate.background_yield_lower:.3e}   Y1 >= {estimate.single_photon_yield_lower:.4e}   "
        f"e1 <= {estimate.single_photon_error_upper:.4f}"
    )
    console.print(
        f"key rate {estimate.key_rate_per_pulse:.4e} bits/pulse "
        f"(expected {result['expected']['key_rate_per_pulse']:.4e}); "
        f"{result['key_rate_bps']:.4g} bit/s at {result['rep_rate_hz']:.3g} Hz"
    )
    console.print(
        f"{result['detections']:,} detections from {result['pulses']:.3g} pulses in {result['wall_s']:.3f} s "
        f"({result['pulses_per_wall_s']:.3g} pulses per wall-second)"
    )
