"""``qinternet run``, ``qinternet scenario validate|schema`` and ``qinternet scenarios list|show``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import TaskID

from qinternet.apps.network_apps import run_scenario
from qinternet.cli.output import QuietOption, print_listing, print_table, progress_bar
from qinternet.errors import ParameterError
from qinternet.network.catalogue import builtin_names, builtin_text, resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.run import RunStage
from qinternet.network.schema import (
    LinkModel,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_duration_s,
    scenario_json_schema,
)
from qinternet.network.summary import RunSummary
from qinternet.outputs import check_output_file, write_file
from qinternet.report.files import check_run_folder, save_run

__all__ = ["run", "scenario_app", "scenarios_app"]

scenario_app = typer.Typer(help="Check scenario files and print their schema.", no_args_is_help=True)
scenarios_app = typer.Typer(help="The scenarios built into qinternet.", no_args_is_help=True)


def parse_duration_option(text: str, option: str, *, allow_zero: bool = False) -> float:
    """Seconds from a duration option (``24h``, ``90min``, ``3600``), or a :class:`ParameterError` for it."""
    try:
        seconds = parse_duration_s(text)
    except ValueError as exc:
        raise ParameterError(option, str(exc)) from None
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ParameterError(option, f"must be {'>=' if allow_zero else '>'} 0, got {text!r}")
    return seconds


RedeliveryWindow = Annotated[
    str | None,
    typer.Option(
        help="The same slave SAE may fetch a delivered key again for this long (the answer may have died with "
        "the KME); then it is erased. 0: strict once-only (1min)."
    ),
]
"""``--redelivery-window`` of ``serve`` and ``kme`` (:mod:`qinternet.kms.policy`)."""


def redelivery_window_s(text: str | None) -> float | None:
    """Seconds of ``--redelivery-window`` (None: not given, the settings decide)."""
    return None if text is None else parse_duration_option(text, "--redelivery-window", allow_zero=True)


@contextlib.contextmanager
def naming(option: str, file: Path | None = None) -> Iterator[None]:
    """A scenario that cannot be found or read (an error about ``scenario`` or about the ``file`` itself) is
    the fault of ``option`` (SCENARIO, --scenario, FILE, NAME); errors in the file's content keep their paths
    in the file (``links[3].length_km``)."""
    try:
        yield
    except ScenarioError as exc:
        path, reason = exc.errors[0]
        if len(exc.errors) == 1 and path in ("scenario", str(file)):
            raise ParameterError(option, reason) from None
        raise
    except OSError as exc:  # a name the file system refuses, e.g. longer than a file name may be
        raise ParameterError(option, f"cannot be read: {exc.strerror or exc}") from None


def scenario_named(name_or_path: str, option: str = "SCENARIO") -> Scenario:
    """The built-in scenario or YAML file the user named with ``option`` (see :func:`naming`)."""
    with naming(option):
        return resolve_scenario(name_or_path)[0]


def run(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario (qinternet scenarios list) or a YAML file.")],
    duration: Annotated[str | None, typer.Option(help="Simulated time, e.g. 24h, 90min, 3600 (s).")] = None,
    step: Annotated[str | None, typer.Option(help="Sampling step of the time series, e.g. 60s.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of every random stream (default: the scenario's).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for summary.json, links.csv, demands.csv, report.html.")] = Path(
        "out"
    ),
    json_out: Annotated[bool, typer.Option("--json", help="Also print the summary as JSON.")] = False,
    model: Annotated[
        LinkModel | None,
        typer.Option(help="Simulate every link's blocks this way (default: each link's own model)."),
    ] = None,
    attack: Annotated[
        list[str] | None,
        typer.Option(
            help="Attack a link from a time, added to the scenario's attacks: LINK=KIND[:STRENGTH][@FROM[..UNTIL]], "
            "e.g. l1=intercept-resend:0.3@2h, l2=blinding@1h, l3=fibre-cut@30min..2h (repeat for more).",
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Simulate a network over time: key per link, relayed key per demand, pools; writes a report."""
    check_run_folder(out, "--out")
    console = Console(stderr=True, quiet=quiet)
    with progress_bar(quiet=quiet) as progress, naming("SCENARIO"):
        tasks: dict[str, TaskID] = {}

        def show(stage: RunStage, done: float) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(f"{scenario}: {stage}", total=1.0)
            progress.update(tasks[stage], completed=done)

        result = run_scenario(
            scenario, duration=duration, step=step, seed=seed, model=model, attacks=attack or (), on_progress=show
        )
    save_run(result, out, "--out")
    if json_out:
        typer.echo(result.to_json())
    else:
        _print_summary(Console(), result.summary)
    console.print(f"wrote {out / 'summary.json'}, links.csv, demands.csv, report.html in {result.wall_s:.1f} s")


def _print_summary(console: Console, summary: RunSummary) -> None:
    """The demands and the weakest links as tables that stay readable at 80 columns.

    Ids never wrap or lose a character; numbers carry their unit with an SI prefix (``1.44 Gbit``,
    ``191 kbit/s``) and, on a narrow terminal, wrap between number and unit rather than being cut.
    """
    from qinternet.report import units

    hours = summary.duration_s / 3600
    span = f"{hours / 24:g} days" if hours > 72 else f"{hours:g} h"
    if summary.entanglement is not None or summary.applications:
        _print_entanglement(console, summary)
    key_links = [link for link in summary.links if link.kind != "memory"]  # memory links make no key by themselves
    if not summary.demands and not key_links:
        return  # an entanglement network without QKD: no key tables
    rows = [
        [
            d.id,
            f"{d.a} - {d.b}",
            str(d.priority),
            units.bits(d.wanted_bits),
            units.bits(d.delivered_bits),
            units.percent(d.met_fraction),
            str(len(d.paths[0].links) if d.paths else 0),
        ]
        for d in summary.demands
    ]
    headers = ["demand", "users", "prio", "wanted", "delivered", "met", "hops"]
    print_table(console, f"{summary.scenario}: demands over {span}", headers, rows, {0}, {0, 1})
    rows = [
        [
            link.id,
            link.kind,
            units.rate(link.mean_rate_bps),
            "-" if link.expected_rate_bps is None else units.rate(link.expected_rate_bps),
            "-" if link.qber is None else units.percent(link.qber, decimals=2),
            units.percent(link.uptime, decimals=0),
            units.bits(link.pool_bits_final),
        ]
        for link in sorted(key_links, key=lambda link: link.mean_rate_bps)[:5]
    ]
    headers = ["link", "kind", "rate", "analytic", "QBER", "uptime", "pool"]
    print_table(
        console, "Weakest links (mean secret key rate; pool: key left at the end)", headers, rows, {0, 1}, {0, 1}
    )
    if summary.alarms or summary.attacks:
        _print_alarms(console, summary)


def _print_alarms(console: Console, summary: RunSummary) -> None:
    """The alarms the links raised, and each attack's outcome."""
    from qinternet.report import units

    rows = [
        [
            alarm.link,
            alarm.detected_as.value,
            f"{alarm.raised_s:g} s",
            "-" if alarm.cleared_s is None else f"{alarm.cleared_s:g} s",
            alarm.reason,
        ]
        for alarm in summary.alarms
    ]
    if rows:
        print_table(console, "Alarms", ["link", "detected as", "raised", "cleared", "why"], rows, {0, 1}, {0, 1, 4})
    rows = [
        [a.link, a.kind, f"{a.from_s:g} s", units.bits(a.key_lost_bits), units.bits(a.compromised_bits), a.verdict]
        for a in summary.attacks or ()
    ]
    if rows:
        headers = ["link", "attack", "from", "key lost", "compromised", "outcome"]
        print_table(console, "Attacks", headers, rows, {0, 1}, {0, 1, 5})


@scenario_app.command("validate")
def validate(file: Annotated[Path, typer.Argument(help="A scenario YAML file.")]) -> None:
    """Check a scenario file; print each problem as ``path: reason`` (exit 2) or a one-line summary."""
    if not file.is_file():
        reason = "is a folder, not a scenario file" if file.is_dir() else "no such file"
        raise ParameterError("FILE", f"{str(file)!r} {reason}")
    with naming("FILE", file):
        spec = load_scenario(file)
    build_links(spec)  # the presets and device changes are checked by the parameter objects
    typer.echo(
        f"{file}: valid scenario {spec.name!r}: {len(spec.nodes)} nodes, {len(spec.links)} links, "
        f"{len(spec.demands)} demands"
    )


@scenario_app.command("schema")
def schema(
    out: Annotated[Path | None, typer.Option(help="Write the JSON Schema to FILE instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of scenario files."""
    text = json.dumps(scenario_json_schema(), indent=2)
    if out is None:
        typer.echo(text)
        return
    check_output_file(out, "--out")
    write_file(out, text + "\n", "--out")


@scenarios_app.command("list")
def list_scenarios(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the built-in scenarios."""
    rows: list[dict[str, str | int]] = []
    for name in builtin_names():
        spec = load_scenario(builtin_text(name))
        rows.append({"name": name, "nodes": len(spec.nodes), "links": len(spec.links), "description": spec.description})
    print_listing("Built-in scenarios (qinternet scenarios show NAME)", rows, json_out=json_out)


@scenarios_app.command("show")
def show(name: Annotated[str, typer.Argument(help="A built-in scenario.")]) -> None:
    """Print a built-in scenario's YAML, to copy and edit."""
    with naming("NAME"):
        text = builtin_text(name)
    typer.echo(text, nl=False)


def _print_entanglement(console: Console, summary: RunSummary) -> None:
    """The requests for entanglement and the applications, as tables."""

    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    rows = [
        [
            str(r["request"]),
            f"{r['a']} - {r['b']}",
            f"{r['pairs']:,}",
            num(r["mean_fidelity"], ".4f"),
            num(r["latency_s"], ".3g"),
            str(r["purify_rounds"] if r["purify_rounds"] is not None else "-"),
            "yes" if r["met"] else "no",
        ]
        for r in summary.entanglement or ()
    ]
    headers = ["request", "nodes", "pairs", "fidelity", "latency s", "purify", "met"]
    if rows:
        print_table(console, f"{summary.scenario}: entanglement requests", headers, rows, {0}, {0, 1})
    for r in summary.entanglement or ():
        if r["unmet_reason"]:
            console.print(f"  {r['request']}: {r['unmet_reason']}")
    if summary.applications:
        rows = [
            [
                str(a["app"]),
                str(a["metric"]),
                num(a["value"], ".4g"),
                "-" if a["ci95"] is None else f"{a['ci95'][0]:.3g} to {a['ci95'][1]:.3g}",
            ]
            for a in summary.applications
        ]
        print_table(console, "Applications", ["app", "metric", "value", "95 % interval"], rows, {0, 1}, {0, 1})
