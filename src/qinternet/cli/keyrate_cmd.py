"""``qinternet keyrate``: analytic key rates against distance, as JSON, a table, CSV or a figure."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from qinternet.cli import options as opt
from qinternet.cli.output import QuietOption, check_output_path, dump_json, progress_bar, write_csv, writing
from qinternet.errors import ParameterError
from qinternet.outputs import replacing
from qinternet.params.checks import require_at_most, require_positive
from qinternet.params.devices import MAX_MEAN_PHOTONS, QkdSystem
from qinternet.params.devicesets import DeviceSet
from qinternet.params.serialise import to_jsonable
from qinternet.qkd.finite_key import AfterPulseAttribution, FiniteKeyParams
from qinternet.qkd.keyrate import (
    FAMILY,
    KeyRateOptions,
    KeyRatePoint,
    Protocol,
    fibre_link_channel,
    key_rate,
    parse_protocol,
    protocol_devices,
)

__all__ = ["keyrate"]


def _parse_protocols(text: str) -> list[Protocol]:
    names = [n for n in (t.strip() for t in text.split(",")) if n]
    if not names:
        raise ParameterError("--protocol", "give at least one protocol")
    return list(dict.fromkeys(parse_protocol(n, "--protocol") for n in names))


def _options(protocol: Protocol, base: KeyRateOptions, overrides: opt.SystemOverrides) -> KeyRateOptions:
    """The options of one protocol: the fixed intensity that applies to it, if any."""
    if protocol is Protocol.BBM92:
        return dataclasses.replace(base, intensity=overrides.mean_pair_number)
    if protocol is Protocol.DECOY_BB84_FINITE:
        return base  # optimises every intensity
    return dataclasses.replace(base, intensity=overrides.signal_intensity)


def _csv_row(point: KeyRatePoint, preset: str) -> dict[str, Any]:
    """A flat row: the point's fields, and for finite-key points the block and its settings."""
    row = {k: v for k, v in point.to_dict().items() if k != "finite_key"}
    finite = point.finite_key
    row["block_pulses"] = None if finite is None else finite.block_pulses
    row["block_size"] = None if finite is None else finite.block_size
    row["key_basis_prob"] = None if finite is None else finite.key_basis_prob
    row["preset"] = preset
    return row


@opt.with_overrides
def keyrate(
    protocol: Annotated[
        str, typer.Option(help="Protocol(s), comma-separated: " + ", ".join(p.value for p in Protocol))
    ] = "decoy-bb84",
    preset: Annotated[str, typer.Option(help="Named set-up; see `qinternet presets`.")] = "gys2004",
    distance_km: Annotated[
        str, typer.Option("--distance-km", help="A distance, or a sweep START:STOP:STEP (km).")
    ] = "50",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON (an object, or a list for a sweep).")] = False,
    plot: Annotated[Path | None, typer.Option(help="Draw key rate against distance to FILE (.png or .svg).")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write the sweep to FILE (.csv).")] = None,
    block_pulses: Annotated[
        float | None, typer.Option(help="decoy-bb84-finite: pulses per block N (e.g. 1e10).")
    ] = None,
    eps_sec: Annotated[float, typer.Option(help="decoy-bb84-finite: secrecy parameter.")] = 1e-10,
    eps_cor: Annotated[float, typer.Option(help="decoy-bb84-finite: correctness parameter.")] = 1e-15,
    after_pulse_model: Annotated[
        AfterPulseAttribution,
        typer.Option(help="decoy-bb84-finite: causal background, or same-class as in Lim et al.'s figures."),
    ] = AfterPulseAttribution.CAUSAL,
    quiet: QuietOption = False,
    overrides: opt.SystemOverrides = opt.NO_OVERRIDES,
) -> None:
    """Secret key rate per pulse against fibre length (intensities optimised per distance).

    Asymptotic for every protocol but decoy-bb84-finite, which gives the finite-key rate of a block of
    --block-pulses pulses (Lim et al. 2014).
    """
    protocols = _parse_protocols(protocol)
    distances = opt.parse_distances(distance_km)
    if plot is not None:
        check_output_path(plot, "--plot", (".png", ".svg", ".pdf"))
    if csv_path is not None:
        check_output_path(csv_path, "--csv", (".csv",))
    devices = _devices(protocols, preset, overrides)
    base = KeyRateOptions(
        block_pulses=None if block_pulses is None else float(opt.parse_count(block_pulses, "--block-pulses")),
        security=FiniteKeyParams(eps_sec=eps_sec, eps_cor=eps_cor),
        after_pulses=after_pulse_model,
    )
    if Protocol.DECOY_BB84_FINITE in protocols and block_pulses is None:
        raise ParameterError("--block-pulses", "decoy-bb84-finite needs the number of pulses in a block")
    if overrides.signal_intensity is not None:
        require_positive("--signal-intensity", overrides.signal_intensity)
        require_at_most("--signal-intensity", overrides.signal_intensity, MAX_MEAN_PHOTONS, "not a weak pulse")
        if Protocol.DECOY_BB84_FINITE in protocols:
            raise ParameterError(
                "--signal-intensity",
                "decoy-bb84-finite optimises all its intensities together; run it without --signal-intensity",
            )
    jobs = [(p, d) for p in protocols for d in distances]
    with progress_bar(quiet=quiet) as progress:
        task = progress.add_task("Key rates", total=len(jobs))
        points = []
        for p, d in jobs:
            chosen, label = devices[p]
            point = key_rate(p, chosen, fibre_link_channel(chosen, d), options=_options(p, base, overrides))
            points.append(dataclasses.replace(point, device_set=label))
            progress.advance(task)
    parameters = {p: {"preset": preset, **to_jsonable(chosen)} for p, (chosen, _) in devices.items()}
    if json_out:
        rows = [{**pt.to_dict(), "parameters": parameters[pt.protocol]} for pt in points]
        single = len(protocols) == 1 and not opt.is_sweep(distance_km)
        typer.echo(dump_json(rows[0] if single else rows))
    else:
        _print_table(points, preset)
    if csv_path is not None:
        write_csv(csv_path, [_csv_row(pt, preset) for pt in points])
    if plot is not None:
        extra = _cut_off_points(points, devices, {p: _options(p, base, overrides) for p in protocols})
        _save_plot(points + extra, plot, preset)


def _devices(
    protocols: list[Protocol], preset: str, overrides: opt.SystemOverrides
) -> dict[Protocol, tuple[DeviceSet, str]]:
    """The devices each protocol runs on, and their label (:func:`qinternet.params.presets.devices_for`),
    with the command line's overrides applied.

    A fixed ``--signal-intensity`` is passed to the models, not written into the source (protocols without
    decoys may use a mu below the preset's decoy intensities). An override that only prepare-and-measure
    devices have is refused when no chosen protocol runs on them.
    """
    chosen: dict[Protocol, tuple[DeviceSet, str]] = {}
    source_free = dataclasses.replace(overrides, signal_intensity=None)
    for protocol in protocols:
        devices, label = protocol_devices(protocol, preset)
        if isinstance(devices, QkdSystem):
            devices = opt.apply_system_overrides(devices, source_free)
        else:
            devices = opt.apply_shared_overrides(devices, overrides)
        chosen[protocol] = (devices, label)
    if not any(FAMILY[p] is QkdSystem for p in protocols):
        unused = opt.only_prepare_and_measure(overrides)
        if unused:
            names = ", ".join(p.value for p in protocols)
            option = "--" + unused[0].replace("_", "-")  # every override's option is its name so spelled
            raise ParameterError(option, f"only prepare-and-measure devices have it; {names} run on others")
    return chosen


def _print_table(points: list[KeyRatePoint], preset: str) -> None:
    table = Table(title=f"Key rate, preset {preset}")
    for column in ("protocol", "distance (km)", "key rate (bits/pulse)", "intensity", "QBER", "gain"):
        table.add_column(column, justify="right" if column != "protocol" else "left")

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for pt in points:
        table.add_row(
            pt.protocol.value,
            f"{pt.fibre_distance_km:g}",
            fmt(pt.key_rate_per_pulse, ".4e"),
            fmt(pt.signal_intensity, ".4f"),
            fmt(pt.qber, ".4f"),
            fmt(pt.gain, ".3e"),
        )
    Console().print(table)


_CUT_OFF_SAMPLES = 24


def _cut_off_points(
    points: list[KeyRatePoint],
    devices: dict[Protocol, tuple[DeviceSet, str]],
    options: dict[Protocol, KeyRateOptions],
) -> list[KeyRatePoint]:
    """Extra points between the last distance with key and the first without, for each protocol.

    A sweep grid leaves the steep fall of the rate at the cut-off between two grid points; sampling
    that interval finely lets the figure show the fall as papers do.
    """
    extra: list[KeyRatePoint] = []
    for protocol in dict.fromkeys(p.protocol for p in points):
        curve = sorted((p for p in points if p.protocol is protocol), key=lambda p: p.fibre_distance_km)
        for before, after in itertools.pairwise(curve):
            if before.key_rate_per_pulse > 0 and after.key_rate_per_pulse == 0:
                for d in np.linspace(before.fibre_distance_km, after.fibre_distance_km, _CUT_OFF_SAMPLES + 2)[1:-1]:
                    chosen, label = devices[protocol]
                    point = key_rate(protocol, chosen, fibre_link_channel(chosen, float(d)), options=options[protocol])
                    extra.append(dataclasses.replace(point, device_set=label))
    return extra


def _save_plot(points: list[KeyRatePoint], path: Path, preset: str) -> None:
    from matplotlib.figure import Figure

    from qinternet.report.plots import plot_key_rate

    fig = Figure(figsize=(6.4, 4.6), layout="constrained")  # no pyplot: the backend stays the caller's
    plot_key_rate(fig.add_subplot(), points, title=f"Key rate against distance ({preset})")
    with replacing(path, "--plot") as temporary, writing(path, "--plot"):
        fig.savefig(temporary, dpi=150, format=path.suffix.lower().lstrip("."))
