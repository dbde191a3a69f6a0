"""``qinternet link``: Monte-Carlo of a decoy-state BB84 link, or of an MDI-QKD link's measurement station."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from qinternet.cli import options as opt
from qinternet.cli.output import QuietOption, check_output_path, dump_json, progress_bar, writing
from qinternet.errors import ParameterError
from qinternet.network.experiment import run_link_experiment
from qinternet.network.experiment_mdi import run_mdi_link_experiment
from qinternet.outputs import replacing
from qinternet.params.mdi import MdiDeviceSet
from qinternet.params.presets import devices_for
from qinternet.postprocessing.pipeline import ErrorCorrection, PipelineParams
from qinternet.qkd.finite_key import FiniteKeyParams
from qinternet.qkd.keyrate import Protocol, parse_protocol
from qinternet.qkd.record_io import save_record

__all__ = ["link"]

_MONTE_CARLO_PROTOCOLS = (Protocol.DECOY_BB84, Protocol.MDI_BB84)
_DECOY_BB84_ONLY = ("save", "attack", "block_pulses", "postprocess", "save_key", "preset_settings")
"""Options of the decoy-BB84 link that the MDI station's simulation does not have."""


@opt.with_overrides
def link(
    protocol: Annotated[
        str, typer.Option(help="Protocol to simulate: decoy-bb84, or mdi-bb84 (the relay halfway).")
    ] = "decoy-bb84",
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
        raise ParameterError("--protocol", f"the Monte-Carlo link simulates decoy-bb84 and mdi-bb84, got {protocol!r}")
    distances = opt.parse_distances(distance_km)
    if len(distances) != 1:
        raise ParameterError("--distance-km", "the Monte-Carlo link takes one distance, not a sweep")
    n_pulses = opt.parse_count(pulses, "--pulses")
    if chosen is Protocol.MDI_BB84:
        given = {"save": save, "attack": attack, "block_pulses": block_pulses, "save_key": save_key}
        given |= {"postprocess": postprocess or None, "preset_settings": preset_settings or None}
        unused = [name for name in _DECOY_BB84_ONLY if given[name] is not None]
        if unused:
            raise ParameterError("--" + unused[0].replace("_", "-"), "is an option of the decoy-bb84 link only")
        _mdi(preset, distances[0], n_pulses, seed, overrides, eps_sec, eps_cor, json_out=json_out)
        return
    n_block = None if block_pulses is None else opt.parse_count(block_pulses, "--block-pulses")
    if save is not None:
        check_output_path(save, "--save", (".npz", ".parquet"))
    if save_key is not None:
        if not postprocess:
            raise ParameterError("--save-key", "needs --postprocess")
        check_output_path(save_key, "--save-key", (".npz",))
    # Checked whether or not they are used: a bad value is an error either way.
    security = FiniteKeyParams(eps_sec=eps_sec, eps_cor=eps_cor)
    pipeline = PipelineParams(security=security, ec=ec, cascade_variant=cascade_variant)
    with progress_bar(quiet=quiet) as progress:
        task = progress.add_task(f"Simulating {n_pulses:.3g} pulses", total=n_pulses)
        experiment = run_link_experiment(
            preset=preset,
            system=opt.resolve_system(preset, overrides),
            distance_km=distances[0],
            pulses=n_pulses,
            seed=seed,
            attack=attack,
            block_pulses=n_block,
            keep_record=save is not None,
            pipeline=pipeline if postprocess else None,
            tune=not preset_settings,
            on_progress=lambda done: progress.advance(task, done),
        )
    if save is not None and experiment.record is not None:
        with writing(save, "--save"):
            save_record(experiment.record, save, field="--save")
    outcome = experiment.outcome
    if save_key is not None and outcome is not None:
        with replacing(save_key, "--save-key", private=True) as temporary, temporary.open("wb") as handle:
            np.savez_compressed(handle, alice=outcome.alice_key, bob=outcome.bob_key)
    result = experiment.to_dict(
        saved=None if save is None else str(save), saved_key=None if save_key is None else str(save_key)
    )
    if json_out:
        typer.echo(dump_json(result))
    else:
        _print_summary(result)


def _mdi(
    preset: str,
    distance_km: float,
    pulses: int,
    seed: int,
    overrides: opt.SystemOverrides,
    eps_sec: float,
    eps_cor: float,
    *,
    json_out: bool,
) -> None:
    """``qinternet link --protocol mdi-bb84``: the station's counts drawn, the key estimated, printed."""
    devices, _ = devices_for(MdiDeviceSet, preset)
    unused = opt.only_prepare_and_measure(overrides)
    if unused:
        raise ParameterError("--" + unused[0].replace("_", "-"), "only prepare-and-measure devices have it")
    changed = opt.apply_shared_overrides(devices, overrides)
    experiment = run_mdi_link_experiment(
        preset=preset,
        distance_km=distance_km,
        pulses=pulses,
        seed=seed,
        devices=changed,
        eps_sec=eps_sec,
        eps_cor=eps_cor,
    )
    result = experiment.to_dict()
    if json_out:
        typer.echo(dump_json(result))
        return
    console = Console()
    console.print(
        f"Monte-Carlo mdi-bb84 link, {distance_km:g} km (relay halfway), devices {result['device_set']}: "
        f"{result['heralded']:,.0f} heralded of {pulses:.3g} pulse pairs"
    )
    console.print(
        f"Z signals: {result['z_heralded']:,.0f} heralded, QBER {result['z_error_rate']:.4f}   "
        f"Y11 >= {result['single_photon_yield_lower']:.4e}   e11 <= {result['single_photon_error_upper']:.4f}"
    )
    console.print(
        f"finite key {result['finite_key_bits']:,.0f} bits ({result['finite_key_rate_per_pulse']:.4e} per pulse "
        f"pair; expected counts: {result['expected']['finite_key_bits']:,.0f} bits); "
        f"{result['key_rate_bps']:.4g} bit/s at {result['rep_rate_hz']:.3g} Hz; asymptotic "
        f"{result['asymptotic_key_rate_per_pulse']:.4e} per pulse pair"
    )


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
