"""``qinternet plan``: the integer program finds the cheapest plan (checked against enumerating every plan), places
relays only where a demand needs one, names the demand it cannot meet and the field that is wrong, and writes a
scenario whose run meets every demand."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from scipy.optimize import linprog

import qinternet
from qinternet.network.plan import (
    CandidateLinkSpec,
    PlanDemandSpec,
    PlanOptions,
    PlanProblem,
    ProblemLink,
    SiteSpec,
    load_plan,
    plan_network,
    solve_plan,
)
from qinternet.network.schema import ScenarioError, load_scenario

# ---------------------------------------------------------------------------------------------------
# The optimum against brute force (capacities given, no physics)


def _feasible(problem: PlanProblem, links: tuple[int, ...], relays: set[str]) -> bool:
    """Whether the links ``links`` with trusted relays at ``relays`` carry every demand: the flows over every
    simple path whose inner sites are relays (enumerated by networkx), one linear program (written here anew)."""
    graph: nx.MultiGraph[str] = nx.MultiGraph()
    for index in links:
        link = problem.links[index]
        graph.add_edge(link.a, link.b, key=index)
    columns: list[tuple[int, list[int]]] = []
    for d, (a, b, _) in enumerate(problem.demands):
        if a not in graph or b not in graph:
            return False
        for path in nx.all_simple_edge_paths(graph, a, b):
            inner = [v for _, v, _ in path[:-1]]
            if set(inner) <= relays:
                columns.append((d, [key for _, _, key in path]))
    if not columns:
        return False
    equal = np.zeros((len(problem.demands), len(columns)))
    capacity = np.zeros((len(problem.links), len(columns)))
    for k, (d, path) in enumerate(columns):
        equal[d, k] = 1.0
        for index in path:
            capacity[index, k] += 1.0
    rates = np.array([rate for _, _, rate in problem.demands])
    limits = np.array([link.capacity_bps for link in problem.links])
    result = linprog(
        np.zeros(len(columns)), A_ub=capacity, b_ub=limits, A_eq=equal, b_eq=rates, bounds=(0, None), method="highs"
    )
    return bool(result.status == 0)


def _cheapest_by_enumeration(problem: PlanProblem) -> float:
    """The least cost over every set of links and relays that carries the demands (cheapest sets tried first)."""
    sites = list(problem.relay_cost)
    plans = []
    for chosen in itertools.product((0, 1), repeat=len(problem.links) + len(sites)):
        links = tuple(i for i in range(len(problem.links)) if chosen[i])
        relays = {site for k, site in enumerate(sites) if chosen[len(problem.links) + k]}
        cost = sum(problem.links[i].cost for i in links) + sum(problem.relay_cost[s] for s in relays)
        plans.append((cost, links, relays))
    plans.sort(key=lambda plan: plan[0])
    return next(cost for cost, links, relays in plans if _feasible(problem, links, relays))


def _random_problem(rng: np.random.Generator) -> PlanProblem:
    """Three users (who may relay too), two relay sites, seven random candidate links, two or three demands."""
    users, relays = ["a", "b", "c"], ["r", "s"]
    sites = users + relays
    pairs = rng.choice(len(sites) * (len(sites) - 1) // 2, size=7, replace=False)
    every = list(itertools.combinations(sites, 2))
    links = tuple(
        ProblemLink(
            id=f"l{k}",
            a=every[p][0],
            b=every[p][1],
            capacity_bps=float(rng.uniform(2.0, 12.0)),
            cost=float(rng.integers(1, 6)),
        )
        for k, p in enumerate(pairs)
    )
    demands = [("a", "b", float(rng.uniform(1.0, 8.0))), ("a", "c", float(rng.uniform(1.0, 6.0)))]
    if rng.random() < 0.5:
        demands.append(("b", "c", float(rng.uniform(1.0, 4.0))))
    relay_cost = {site: float(rng.integers(1, 4)) for site in relays} | {"c": 2.5}
    return PlanProblem(relay_cost=relay_cost, links=links, demands=tuple(demands), max_hops=len(sites))


def test_the_optimum_equals_the_cheapest_plan_found_by_enumerating_them_all() -> None:
    rng = np.random.default_rng(2022)
    checked = 0
    while checked < 4:
        problem = _random_problem(rng)
        try:
            solution = solve_plan(problem)
        except ScenarioError:
            assert not _feasible(problem, tuple(range(len(problem.links))), set(problem.relay_cost))
            continue
        assert solution.optimal
        assert solution.cost == pytest.approx(_cheapest_by_enumeration(problem), abs=1e-9)
        assert _feasible(problem, solution.links, set(solution.relays))  # the plan it returns carries the demands
        checked += 1


def test_a_shared_bottleneck_makes_the_plan_split_a_demand() -> None:
    """Two parallel cheap routes of 6 bit/s each for a demand of 10 bit/s: both are built, the demand split."""
    links = (
        ProblemLink(id="ar", a="a", b="r", capacity_bps=6.0, cost=1.0),
        ProblemLink(id="rb", a="r", b="b", capacity_bps=6.0, cost=1.0),
        ProblemLink(id="as", a="a", b="s", capacity_bps=6.0, cost=1.0),
        ProblemLink(id="sb", a="s", b="b", capacity_bps=6.0, cost=1.0),
        ProblemLink(id="ab", a="a", b="b", capacity_bps=11.0, cost=10.0),
    )
    solution = solve_plan(
        PlanProblem(relay_cost={"r": 1.0, "s": 1.0}, links=links, demands=(("a", "b", 10.0),), max_hops=4)
    )
    assert solution.cost == pytest.approx(6.0)  # four links and two relays, cheaper than the direct link (10)
    assert sorted(solution.relays) == ["r", "s"]
    assert sum(rate for _, rate in solution.routes[0].paths) == pytest.approx(10.0)
    assert max(rate for _, rate in solution.routes[0].paths) <= 6.0 + 1e-9


# ---------------------------------------------------------------------------------------------------
# Planning files: capacities from the run's own link model


def _plan(**changes: Any) -> dict[str, Any]:
    """Three sites on the equator, 0.45 degrees (50 km) apart: 65 km of fibre between neighbours, 130 km between
    the outer two."""
    data: dict[str, Any] = {
        "name": "line",
        "options": {"relay_cost": 1.0, "link_cost_fixed": 1.0, "link_cost_per_km": 0.0},
        "sites": [
            {"id": "west", "lat_deg": 0.0, "lon_deg": 0.0},
            {"id": "middle", "lat_deg": 0.0, "lon_deg": 0.45},
            {"id": "east", "lat_deg": 0.0, "lon_deg": 0.9},
        ],
        "candidate_links": [
            {"id": "west--middle", "a": "west", "b": "middle"},
            {"id": "middle--east", "a": "middle", "b": "east"},
            {"id": "west--east", "a": "west", "b": "east"},
        ],
        "demands": [{"id": "we", "a": "west", "b": "east", "rate_bps": 1000.0}],
    }
    return data | changes


def test_a_relay_is_placed_only_where_a_demand_needs_one() -> None:
    near = plan_network(load_plan(_plan()))  # 130 km make key: one link beats two and a relay
    assert [link.id for link in near.links] == ["west--east"]
    assert near.relays == ()
    assert near.cost == pytest.approx(1.0)
    far = _plan()
    far["candidate_links"][2] = {**far["candidate_links"][2], "length_km": 300.0}  # no key over 300 km
    planned = plan_network(load_plan(far))
    assert planned.rates_bps[2] == 0.0
    assert [link.id for link in planned.links] == ["west--middle", "middle--east"]
    assert planned.relays == (("middle", 1.0),)
    assert planned.scenario.node("middle").kind.value == "trusted-relay"
    assert planned.scenario.node("west").relays_key is False  # a demand end that relays nothing stays untrusted


def _error(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as caught:
        plan_network(load_plan(data))
    return caught.value.errors


def test_a_demand_that_cannot_be_met_is_named_with_the_most_it_could_get() -> None:
    too_much = _plan(demands=[{"id": "we", "a": "west", "b": "east", "rate_bps": 1e9}])
    [(path, reason)] = _error(too_much)
    assert path == "demands[0]"
    assert "wants 1e+09 bit/s between 'west' and 'east'" in reason
    assert "at most" in reason
    one_hop = _plan()
    one_hop["options"] = {**one_hop["options"], "max_hops": 1}
    one_hop["candidate_links"] = one_hop["candidate_links"][:2]
    [(path, reason)] = _error(one_hop)
    assert (path, reason.split(" that")[0]) == ("demands[0]", "no chain of at most 1 candidate links")


def test_demands_met_alone_but_not_together_name_the_first_that_does_not_fit() -> None:
    alone = plan_network(load_plan(_plan())).rates_bps[2] * 0.9  # what the direct link may carry
    data = _plan(
        demands=[
            {"id": "first", "a": "west", "b": "east", "rate_bps": 0.6 * alone},
            {"id": "second", "a": "east", "b": "west", "rate_bps": 0.6 * alone},
        ]
    )
    data["candidate_links"] = data["candidate_links"][2:]
    [(path, reason)] = _error(data)
    assert path == "demands[1]"
    assert reason.startswith("cannot be met together with the demands before it")


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"candidate_links": [{"id": "x", "a": "west", "b": "east", "cost": -1}]}, "candidate_links[0].cost", ">= 0"),
        ({"candidate_links": [{"id": "x", "a": "west", "b": "nowhere"}]}, "candidate_links[0].b", "unknown site"),
        ({"demands": [{"id": "d", "a": "west", "b": "east"}]}, "demands[0].rate_bps", "required"),
        ({"options": {"headroom": 1.0}}, "options.headroom", "< 1"),
        ({"options": {"duration_s": "15min"}}, "options.duration_s", "not a whole number of the candidate links'"),
        ({"sites": [{"id": "west", "lat_deg": 0, "lon_deg": 0, "colour": 1}]}, "sites[0].colour", ""),
        (
            {"candidate_links": [{"id": "x", "kind": "mdi", "a": "west", "b": "east"}]},
            "candidate_links[0]",
            "the planner builds fibre links and satellite links (kind: free-space) only",
        ),
        (
            {"candidate_links": [{"id": "x", "a": "west", "b": "east", "preset": "nope"}]},
            "candidate_links[0].preset",
            "",
        ),
    ],
)
def test_a_wrong_field_is_named_by_its_path(change: dict[str, Any], path: str, reason: str) -> None:
    errors = _error(_plan(**change))
    assert any(p == path and reason in r for p, r in errors), errors


# ---------------------------------------------------------------------------------------------------
# Satellite candidates: capacities from the passes over the planned duration


_OPTICS = {  # the Xinglong downlink of the built-in micius scenario
    "wavelength_nm": 848.62,
    "divergence_urad": 10,
    "pointing_jitter_urad": 0.5,
    "fixed_loss_db": 15,
}


def _downlink(ground: str, cost: float) -> dict[str, Any]:
    return {
        "id": f"micius--{ground}",
        "kind": "free-space",
        "a": "micius",
        "b": ground,
        "preset": "micius2017",
        "free_space": _OPTICS,
        "cost": cost,
    }


def _space_plan(**changes: Any) -> dict[str, Any]:
    """Micius (as in the built-in micius scenario, from 2016-12-18 12:00 UTC) over Xinglong (``east``) and a site
    1,070 km west of it (``west``), and a fibre route of two ~700 km hops through ``middle``, where no key is made.
    Seven hours hold the night's pass with key over each station: over ``east`` at 5.3 h, over ``west`` at 6.9 h."""
    data: dict[str, Any] = {
        "name": "space",
        "options": {"duration_s": "7h", "start": "2016-12-18T12:00:00Z", "relay_cost": 1.0, "link_cost_fixed": 1.0},
        "sites": [
            {"id": "micius", "orbit": {"altitude_km": 500, "ascending_node_local_time_h": 12.83}},
            {"id": "east", "lat_deg": 40.396, "lon_deg": 117.578, "altitude_m": 960},
            {"id": "west", "lat_deg": 40.0, "lon_deg": 105.0},
            {"id": "middle", "lat_deg": 40.2, "lon_deg": 111.3},
        ],
        "candidate_links": [
            {"id": "east--middle", "a": "east", "b": "middle"},
            {"id": "middle--west", "a": "middle", "b": "west"},
            _downlink("east", 3.0),
            _downlink("west", 3.0),
        ],
        "demands": [{"id": "ew", "a": "east", "b": "west", "rate_bps": 1.0}],
    }
    return data | changes


def test_distant_sites_get_key_through_a_satellite_and_the_run_meets_the_demand() -> None:
    planned = plan_network(load_plan(_space_plan()))
    assert planned.rates_bps[:2] == (0.0, 0.0)  # ~700 km of fibre make no key
    assert planned.rates_bps[3] > 1.0 / 0.9  # the western pass makes enough key for 1 bit/s over the 7 h
    assert [link.id for link in planned.links] == ["micius--east", "micius--west"]
    assert planned.relays == (("micius", 1.0),)  # the satellite relays the key, as Micius between Xinglong and Graz
    assert planned.cost == pytest.approx(7.0)
    scenario = planned.scenario
    assert scenario.node("micius").relays_key is True
    assert scenario.node("east").kind.value == "ground-station"
    assert scenario.node("east").relays_key is False  # a demand end that relays nothing
    assert scenario.time.start.isoformat() == "2016-12-18T12:00:00+00:00"
    result = qinternet.run_scenario(scenario)
    [demand] = result.summary.demands
    assert demand.met, demand  # no key before the first pass at 5.3 h: the pools catch up with the wanted key after
    assert demand.wanted_bits == pytest.approx(1.0 * 7 * 3600)
    built = {link.id: link.rate_bps for link in planned.links}
    for link in result.summary.links:  # the plan's capacity is the run's key over the duration
        assert link.mean_rate_bps == pytest.approx(built[link.id], rel=1e-12)
    assert [path.links for path in demand.paths] == [("micius--east", "micius--west")]


def test_the_satellite_is_not_built_where_fibre_is_cheaper() -> None:
    """Two sites 65 km apart under the same passes: both fibre and the satellite could serve them; cost decides."""
    near = {"id": "near", "lat_deg": 40.396, "lon_deg": 118.15}
    fibre = {"id": "east--near", "a": "east", "b": "near", "cost": 1.0}
    sites = [*_space_plan()["sites"][:2], near]
    demands = [{"id": "en", "a": "east", "b": "near", "rate_bps": 1.0}]
    cheap = plan_network(
        load_plan(
            _space_plan(
                sites=sites, candidate_links=[fibre, _downlink("east", 3.0), _downlink("near", 3.0)], demands=demands
            )
        )
    )
    assert [link.id for link in cheap.links] == ["east--near"]
    assert cheap.relays == ()
    assert "micius" not in {node.id for node in cheap.scenario.nodes}
    assert cheap.scenario.node("east").kind.value == "user"  # not an end of a satellite link built
    dear = plan_network(
        load_plan(
            _space_plan(
                sites=sites,
                candidate_links=[{**fibre, "cost": 20.0}, _downlink("east", 3.0), _downlink("near", 3.0)],
                demands=demands,
            )
        )
    )
    assert [link.id for link in dear.links] == ["micius--east", "micius--near"]


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (
            {"sites": [{"id": "micius", "orbit": {"altitude_km": 500}, "lat_deg": 0, "lon_deg": 0}]},
            "sites[0]",
            "a satellite (a site with an orbit) has no lat_deg",
        ),
        ({"sites": [{"id": "micius", "orbit": {"altitude_km": 50}}]}, "sites[0].orbit.altitude_km", "> 150"),
        ({"sites": [{"id": "micius"}]}, "sites[0]", "needs lat_deg and lon_deg"),
        (
            {"candidate_links": [{**_downlink("east", 1.0), "a": "west"}]},
            "candidate_links[0]",
            "joins a satellite site (one with an orbit) and a ground site",
        ),
        (
            {"candidate_links": [{"id": "x", "a": "micius", "b": "east"}]},
            "candidate_links[0].kind",
            "satellite 'micius' is reached by a free-space link only",
        ),
        (
            {"candidate_links": [{**_downlink("east", 1.0), "free_space": {"rx_aperture_m": -1}}]},
            "candidate_links[0].free_space.rx_aperture_m",
            "> 0",
        ),
        ({"candidate_links": [{**_downlink("east", 1.0), "cost": -1}]}, "candidate_links[0].cost", ">= 0"),
        ({"demands": [{"id": "d", "a": "micius", "b": "east", "rate_bps": 1}]}, "demands[0].a", "is a satellite"),
        ({"options": {"start": "not a time"}}, "options.start", ""),
    ],
)
def test_a_wrong_satellite_field_is_named_by_its_path(change: dict[str, Any], path: str, reason: str) -> None:
    data = _space_plan()
    if "sites" in change:
        change = {"sites": [*change["sites"], *data["sites"][1:]]}
    errors = _error(data | change)
    assert any(p == path and reason in r for p, r in errors), errors


# ---------------------------------------------------------------------------------------------------
# End to end: plan, write, run


def test_the_planned_example_runs_and_meets_every_demand(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "nl.yaml"
    code, stdout, err = cli("plan", "example", "--out", str(out), "--json")
    assert code == 0, err
    planned = json.loads(stdout)
    assert planned["optimal"] is True
    assert planned["relays"], "the example's long demands need trusted relays"
    result = qinternet.run_scenario(out, duration="1h")
    assert [d.id for d in result.summary.demands] == [d["id"] for d in planned["demands"]]
    assert all(d.met for d in result.summary.demands), [(d.id, d.met_fraction) for d in result.summary.demands]
    built = {link["id"]: link["rate_bps"] for link in planned["links"]}
    for link in result.summary.links:  # the plan's capacity is the run's key rate
        assert link.mean_rate_bps == pytest.approx(built[link.id], rel=1e-12)
    # and a demand beyond what its path makes is reported unmet
    data = result.scenario.model_dump(mode="json", exclude_defaults=True)
    data["demands"][0]["rate_bps"] = 10 * max(built.values())
    greedy = qinternet.run_scenario(load_scenario(data), duration="1h")
    assert greedy.summary.demands[0].met is False
    assert greedy.summary.demands[0].met_fraction < 1.0


def test_an_impossible_plan_exits_2_naming_the_demand(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "plan.yaml"
    path.write_text(json.dumps(_plan(demands=[{"id": "we", "a": "west", "b": "east", "rate_bps": 1e9}])))
    code, out, err = cli("plan", str(path))
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("qinternet: error: demands[0]: wants 1e+09 bit/s")
    assert "Traceback" not in out + err


DOC = Path(__file__).resolve().parents[2] / "docs" / "planning.md"


def test_the_documented_example_plans_and_every_field_is_documented() -> None:
    text = DOC.read_text()
    example = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert example is not None
    planned = plan_network(load_plan(example.group(1)))
    assert planned.scenario.demands[0].id == "delft-rotterdam"
    own = {"cost", "length_km", "id", "a", "b"}  # the rest are a fibre link's, documented in docs/scenarios.md
    assert own <= set(CandidateLinkSpec.model_fields)
    for name in [*SiteSpec.model_fields, *PlanDemandSpec.model_fields, *PlanOptions.model_fields, *own]:
        assert f"`{name}`" in text, name


def test_too_many_candidate_paths_name_max_hops() -> None:
    """Ten sites all joined: 109,601 simple paths between two of them, more than the program takes."""
    sites = [f"s{k}" for k in range(10)]
    links = tuple(
        ProblemLink(id=f"{a}-{b}", a=a, b=b, capacity_bps=1.0, cost=1.0) for a, b in itertools.combinations(sites, 2)
    )
    problem = PlanProblem(relay_cost=dict.fromkeys(sites, 1.0), links=links, demands=(("s0", "s1", 1.0),), max_hops=9)
    with pytest.raises(ScenarioError) as caught:
        solve_plan(problem)
    assert caught.value.errors[0][0] == "options.max_hops"
    fewer = PlanProblem(relay_cost=problem.relay_cost, links=links, demands=problem.demands, max_hops=2)
    assert solve_plan(fewer).cost == pytest.approx(1.0)  # the direct link
