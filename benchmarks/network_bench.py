"""Network simulation: the main job's wall time, and how the cost grows with links and with duration.

Each run is ``build_links`` (the links' engines: settings optimised per link, satellite passes) and
``simulate`` (the kernel, the demands, the time series), timed separately with ``time.perf_counter``.

- **Goal run**: ``beijing-shanghai`` (35 fibre links, 4 demands), 24 h, the main job of the README.
  Goal: under 60 s on one core.
- **Scaling**: a chain of ``L`` fibre links (alternating 40/60/80 km, lim2014, 10-minute blocks, one
  end-to-end demand and four local ones), Monte-Carlo blocks, for several ``L`` at 24 h and several
  durations at a fixed ``L``. The simulation's cost per link-hour is reported for every run; a linear cost
  keeps it constant (the table gives the largest over the smallest, 1 for perfectly linear).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from rich.table import Table

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.schema import Scenario, load_scenario
from qinternet.network.simulate import simulate
from report import verdict

__all__ = [
    "NETWORK_GOAL_S",
    "NetworkTiming",
    "chain_scenario",
    "network_json",
    "network_tables",
    "run_network",
    "time_network",
]

NETWORK_GOAL_S = 60.0  # 24 h of beijing-shanghai on one core (issue 5, item 7)
_LENGTHS_KM = (40.0, 60.0, 80.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkTiming:
    """One timed run.

    Attributes:
        name: scenario.
        links: links in it.
        duration_h: simulated hours.
        model: analytic or monte-carlo.
        build_s: wall time of building the links, s.
        simulate_s: wall time of the simulation, s.
        blocks: link blocks simulated.
    """

    name: str
    links: int
    duration_h: float
    model: str
    build_s: float
    simulate_s: float
    blocks: int

    @property
    def total_s(self) -> float:
        """Build plus simulation, s."""
        return self.build_s + self.simulate_s

    @property
    def simulate_us_per_link_hour(self) -> float:
        """Simulation wall time per link and simulated hour, microseconds."""
        return 1e6 * self.simulate_s / (self.links * self.duration_h)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return asdict(self) | {"total_s": self.total_s, "simulate_us_per_link_hour": self.simulate_us_per_link_hour}


def chain_scenario(links: int, duration_h: float, model: str = "monte-carlo") -> Scenario:
    """A chain of ``links`` fibre links through trusted relays, with an end-to-end demand and four local ones."""
    nodes = [
        {"id": f"n{i}", "kind": "user", "trusted": True, "lat_deg": 40.0, "lon_deg": i * 0.7} for i in range(links + 1)
    ]
    chain = [
        {"id": f"l{i}", "a": f"n{i}", "b": f"n{i + 1}", "length_km": _LENGTHS_KM[i % 3], "model": model}
        for i in range(links)
    ]
    demands = [{"id": "end-to-end", "a": "n0", "b": f"n{links}", "rate_bps": 5e4, "priority": 2}]
    local = min(links, 4)  # a fixed set of local demands: the cost of routing them does not hide the links' own
    demands += [
        {"id": f"d{i}", "a": f"n{i}", "b": f"n{i + 1}", "volume_bits": 1e12, "priority": 1} for i in range(local)
    ]
    return load_scenario(
        {
            "name": f"chain-{links}",
            "time": {"duration_s": duration_h * 3600, "step_s": 60},
            "link_defaults": {"block_s": 600, "preset": "lim2014"},
            "nodes": nodes,
            "links": chain,
            "demands": demands,
        }
    )


def time_network(spec: Scenario, model: str | None = None) -> NetworkTiming:
    """Build and simulate ``spec`` once, timing both."""
    start = time.perf_counter()
    links = build_links(spec)
    built = time.perf_counter()
    run = simulate(spec, [link.runner for link in links])
    done = time.perf_counter()
    return NetworkTiming(
        name=spec.name,
        links=len(spec.links),
        duration_h=spec.time.duration_s / 3600,
        model=model or spec.links[0].model.value,
        build_s=built - start,
        simulate_s=done - built,
        blocks=sum(len(blocks) for blocks in run.blocks),
    )


def _best(spec: Scenario, repeats: int) -> NetworkTiming:
    return min((time_network(spec) for _ in range(repeats)), key=lambda r: r.total_s)


def run_network(
    link_counts: tuple[int, ...], durations_h: tuple[float, ...], fixed_links: int, repeats: int = 2
) -> dict[str, Any]:
    """The goal run (once, cold: as a user runs it) and both scaling series (best of ``repeats``)."""
    spec, _ = resolve_scenario("beijing-shanghai")
    goal = time_network(spec)
    by_links = [_best(chain_scenario(n, 24.0), repeats) for n in link_counts]
    by_duration = [_best(chain_scenario(fixed_links, h), repeats) for h in durations_h]
    return {"goal": goal, "by_links": by_links, "by_duration": by_duration}


def _spread(runs: list[NetworkTiming]) -> float:
    costs = [r.simulate_us_per_link_hour for r in runs]
    return max(costs) / min(costs)


def _affine_fit(runs: list[NetworkTiming], key: str) -> tuple[float, float, float]:
    """Least-squares ``simulate_s = fixed + per_unit * x`` over a series (``x``: links, or hours), and the
    largest residual relative to the measured time: linear growth means a small residual, whatever the
    fixed cost (a run has work that does not scale with the links, e.g. the network's steps)."""
    x = np.array([r.links if key == "by_links" else r.duration_h for r in runs], dtype=float)
    y = np.array([r.simulate_s for r in runs])
    per_unit, fixed = np.polyfit(x, y, 1)
    residual = float(np.max(np.abs(fixed + per_unit * x - y) / y))
    return float(fixed), float(per_unit), residual


def _fit_json(runs: list[NetworkTiming], key: str, unit_name: str) -> dict[str, float]:
    fixed, per_unit, residual = _affine_fit(runs, key)
    return {"fixed_s": fixed, unit_name: per_unit, "max_residual": residual}


def network_tables(results: dict[str, Any]) -> list[Table]:
    """The goal and the scaling tables."""
    goal: NetworkTiming = results["goal"]
    first = Table(title=f"Main job: beijing-shanghai, 24 h (goal: under {NETWORK_GOAL_S:g} s on one core)")
    for column in ("links", "build s", "simulate s", "total s", "blocks", "goal"):
        first.add_column(column, justify="right")
    first.add_row(
        str(goal.links),
        f"{goal.build_s:.2f}",
        f"{goal.simulate_s:.2f}",
        f"{goal.total_s:.2f}",
        str(goal.blocks),
        verdict(goal.total_s < NETWORK_GOAL_S),
    )
    tables = [first]
    for key, title in (("by_links", "links at 24 h"), ("by_duration", "duration")):
        runs: list[NetworkTiming] = results[key]
        fixed, per_unit, residual = _affine_fit(runs, key)
        unit = "link" if key == "by_links" else "hour"
        table = Table(
            title=f"Scaling with {title} (chain, Monte-Carlo blocks): simulate s = {fixed:.3f} + {per_unit:.4f} "
            f"per {unit}, largest residual {100 * residual:.1f} % (linear: small); per link-hour varies by "
            f"{_spread(runs):.2f}x"
        )
        for column in ("links", "hours", "blocks", "build s", "simulate s", "us per link-hour"):
            table.add_column(column, justify="right")
        for r in runs:
            table.add_row(
                str(r.links),
                f"{r.duration_h:g}",
                str(r.blocks),
                f"{r.build_s:.2f}",
                f"{r.simulate_s:.3f}",
                f"{r.simulate_us_per_link_hour:.0f}",
            )
        tables.append(table)
    return tables


def network_json(results: dict[str, Any]) -> dict[str, Any]:
    """JSON section."""
    return {
        "goal_s": NETWORK_GOAL_S,
        "goal": results["goal"].to_dict(),
        "by_links": [r.to_dict() for r in results["by_links"]],
        "by_duration": [r.to_dict() for r in results["by_duration"]],
        "spread_by_links": _spread(results["by_links"]),
        "spread_by_duration": _spread(results["by_duration"]),
        "affine_by_links": _fit_json(results["by_links"], "by_links", "per_link_s"),
        "affine_by_duration": _fit_json(results["by_duration"], "by_duration", "per_hour_s"),
    }
