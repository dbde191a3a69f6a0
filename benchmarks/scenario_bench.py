"""Loading large scenario files: how long ``load_scenario`` takes for thousands of nodes and links.

The scenario is generated (:func:`generated_scenario`): ``nodes`` nodes (every fifth a user, the others
trusted relays, on a 100 x N grid of 0.01 degrees), ``2 * nodes`` fibre links (each node to its successor
and to the node seven further on, around a ring), ``demands`` demands between users half the ring apart,
and ``link_defaults``, written as a user writes a file: one flow mapping per line (about 85 bytes per link).

Timed with ``time.perf_counter``, best of ``repeats``, alternating the variants so that all see the same
machine load:

* **load**: ``load_scenario(text)``, what ``qinternet run`` / ``serve`` / ``scenario validate`` do: reading
  the YAML with libyaml's scanner and parser under the bounds of :mod:`qinternet.network.scenario_yaml`,
  pydantic's validation, the cross-references.
* **baseline**: the same load with PyYAML's pure-Python scanner and parser
  (``parse_yaml(text, pure_python=True)``, then ``load_scenario`` of the data); *load / baseline* is the
  speed-up of the C parser on the whole load.
* the parts: the YAML alone with each parser (the collector paused as ``load_scenario`` pauses it),
  ``yaml.safe_load`` (how scenarios were read until the bounds came: pure Python, the collector on), and
  validation plus cross-references alone (``load_scenario`` of the parsed data).

Goal: the largest scenario (FULL: 5,000 nodes, 10,000 links) loads in under :data:`LOAD_GOAL_S` on one core.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from qinternet.network.scenario_yaml import HAS_LIBYAML, parse_yaml
from qinternet.network.schema import load_scenario
from report import verdict

__all__ = ["LOAD_GOAL_S", "generated_scenario", "scenario_table", "time_scenario_load"]

LOAD_GOAL_S = 5.0  # "large legitimate scenarios load in seconds" (issue 11, item 1)
_CHORD = 7  # the second link of every node goes this many nodes further round the ring


def generated_scenario(nodes: int, demands: int) -> str:
    """YAML of a ring of ``nodes`` nodes with chords: ``2 * nodes`` links, ``demands`` demands."""
    lines = [
        f"name: generated-{nodes}",
        "description: A generated ring with chords, for the loading benchmark.",
        "time: {duration_s: 24h, step_s: 60s}",
        "link_defaults: {preset: lim2014, block_s: 10min, loss_db_per_km: 0.2}",
        "nodes:",
    ]
    for i in range(nodes):
        kind = "user" if i % 5 == 0 else "trusted-relay"
        lat, lon = 40 + (i % 100) * 0.01, (i // 100) * 0.01
        lines.append(f"  - {{id: n{i}, kind: {kind}, lat_deg: {lat:.2f}, lon_deg: {lon:.2f}}}")
    lines.append("links:")
    for i in range(nodes):
        lines.append(f"  - {{id: s{i}, a: n{i}, b: n{(i + 1) % nodes}, length_km: {20 + i % 50}}}")
        lines.append(f"  - {{id: c{i}, a: n{i}, b: n{(i + _CHORD) % nodes}, length_km: {40 + i % 50}}}")
    lines.append("demands:")
    users = list(range(0, nodes, 5))
    for k in range(demands):
        a = users[k % len(users)]
        b = users[(k + len(users) // 2) % len(users)]
        lines.append(f"  - {{id: d{k}, a: n{a}, b: n{b}, rate_bps: 1000}}")
    return "\n".join(lines) + "\n"


@contextmanager
def _collector_paused() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _parsed(text: str, pure_python: bool) -> Any:
    with _collector_paused():
        return parse_yaml(text, pure_python=pure_python)


def _best(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time of each variant, the variants taking turns."""
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(repeats):
        for name, run in variants.items():
            gc.collect()  # what the previous variant left is not this one's work
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def time_scenario_load(node_counts: tuple[int, ...], demands: int = 100, repeats: int = 3) -> dict[str, Any]:
    """Every timing at every size (see the module docstring)."""
    runs = []
    for nodes in node_counts:
        text = generated_scenario(nodes, demands)
        data = _parsed(text, pure_python=False)
        spec = load_scenario(text)
        assert spec == load_scenario(_parsed(text, pure_python=True)), "both parsers must give the same scenario"
        times = _best(
            {
                "load_s": lambda text=text: load_scenario(text),
                "baseline_s": lambda text=text: load_scenario(_parsed(text, pure_python=True)),
                "yaml_c_s": lambda text=text: _parsed(text, pure_python=False),
                "yaml_python_s": lambda text=text: _parsed(text, pure_python=True),
                "yaml_safe_load_s": lambda text=text: yaml.safe_load(text),
                "validate_s": lambda data=data: load_scenario(data),
            },
            repeats,
        )
        runs.append(
            {
                "nodes": len(spec.nodes),
                "links": len(spec.links),
                "demands": len(spec.demands),
                "bytes": len(text.encode()),
                **times,
                "ratio_load_over_baseline": times["baseline_s"] / times["load_s"],
                "goal_met": times["load_s"] < LOAD_GOAL_S,
            }
        )
    return {"goal_s": LOAD_GOAL_S, "libyaml": HAS_LIBYAML, "repeats": repeats, "runs": runs}


def scenario_table(result: dict[str, Any]) -> Table:
    """One row per size."""
    table = Table(
        title=f"Loading generated scenarios (load_scenario), best of {result['repeats']}; baseline: the same load "
        f"with PyYAML's pure-Python parser (goal: under {result['goal_s']:g} s)"
    )
    columns = (
        "nodes",
        "links",
        "MB",
        "load s",
        "baseline s",
        "speed-up",
        "YAML C s",
        "YAML Python s",
        "yaml.safe_load s",
        "validate s",
        "goal",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for run in result["runs"]:
        table.add_row(
            f"{run['nodes']:,}",
            f"{run['links']:,}",
            f"{run['bytes'] / 1e6:.2f}",
            f"{run['load_s']:.2f}",
            f"{run['baseline_s']:.2f}",
            f"{run['ratio_load_over_baseline']:.1f}x",
            f"{run['yaml_c_s']:.2f}",
            f"{run['yaml_python_s']:.2f}",
            f"{run['yaml_safe_load_s']:.2f}",
            f"{run['validate_s']:.2f}",
            verdict(run["goal_met"]),
        )
    return table


def main() -> None:
    """``python benchmarks/scenario_bench.py [--nodes N ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 5000], help="node counts (links: twice)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    Console().print(scenario_table(time_scenario_load(tuple(args.nodes), repeats=args.repeats)))


if __name__ == "__main__":
    main()
