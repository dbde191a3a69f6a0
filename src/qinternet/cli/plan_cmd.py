"""``qinternet plan``: the cheapest links and trusted relays that meet every demand, as a scenario for ``run``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from qinternet.cli.output import dump_json, print_table
from qinternet.errors import ParameterError
from qinternet.network.plan import PlannedNetwork, plan_network, resolve_plan, scenario_yaml
from qinternet.network.schema import ScenarioError
from qinternet.outputs import check_output_file, write_file

__all__ = ["plan"]


def plan(
    plan: Annotated[str, typer.Argument(help="A built-in planning file (example) or a YAML file (docs/planning.md).")],
    out: Annotated[
        Path | None, typer.Option(help="Write the planned scenario to FILE.yaml (then: qinternet run FILE.yaml).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the plan and its scenario as JSON.")] = False,
) -> None:
    """Choose the links and trusted relays that meet every demand at least cost; writes a scenario for run."""
    if out is not None:
        check_output_file(out, "--out", (".yaml", ".yml"))
    try:
        spec = resolve_plan(plan)
    except ScenarioError as exc:
        path, reason = exc.errors[0]
        if len(exc.errors) == 1 and path == "plan":
            raise ParameterError("PLAN", reason) from None
        raise
    except OSError as exc:  # a name the file system refuses, e.g. longer than a file name may be
        raise ParameterError("PLAN", f"cannot be read: {exc.strerror or exc}") from None
    planned = plan_network(spec)
    if out is not None:
        write_file(out, scenario_yaml(planned), "--out")
    if json_out:
        typer.echo(dump_json(planned.to_dict()))
    else:
        _print_plan(Console(), planned)
    if out is not None:
        Console(stderr=True).print(f"wrote {out}: qinternet run {out}", markup=False, highlight=False)


def _print_plan(console: Console, planned: PlannedNetwork) -> None:
    """The links to build, the relays to place, the demands' paths and the total cost."""
    from qinternet.report import units

    rows = [
        [
            link.id,
            f"{link.a} - {link.b}",
            "satellite" if link.length_km is None else f"{link.length_km:.1f}",
            units.rate(link.rate_bps),
            units.percent(link.load_bps / link.rate_bps),
            f"{link.cost:.4g}",
        ]
        for link in planned.links
    ]
    headers = ["link", "sites", "km", "key rate", "used", "cost"]
    title = f"{planned.plan.name}: {len(planned.links)} of {len(planned.plan.candidate_links)} candidate links to build"
    print_table(console, title, headers, rows, {0}, {0, 1})
    relays = [[site, f"{cost:.4g}"] for site, cost in planned.relays]
    if relays:
        print_table(console, "Trusted relays", ["site", "cost"], relays, {0}, {0})
    ends = {link.id: (link.a, link.b) for link in planned.links}

    def through(start: str, links: tuple[str, ...], rate_bps: float, whole_bps: float) -> str:
        sites = [start]
        for link in links:
            a, b = ends[link]
            sites.append(b if sites[-1] == a else a)
        share = "" if rate_bps >= whole_bps * (1 - 1e-9) else f" ({units.percent(rate_bps / whole_bps)})"
        return " > ".join(sites) + share

    rows = [
        [
            demand.id,
            units.rate(demand.rate_bps),
            "; ".join(through(demand.a, links, rate, demand.rate_bps) for links, rate in route.paths),
        ]
        for demand, route in zip(planned.plan.demands, planned.routes, strict=True)
    ]
    print_table(console, "Demands and their paths", ["demand", "rate", "path (share)"], rows, {0}, {0, 2})
    proven = "optimal" if planned.optimal else "not proven optimal (the solver's time limit)"
    console.print(f"total cost {planned.cost:.6g} ({proven})", markup=False, highlight=False)
