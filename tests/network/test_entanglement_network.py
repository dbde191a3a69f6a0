"""The entanglement network layer: chains of unlike links, path selection, purification, reservations, scenarios."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from qinternet.entanglement.chain import ChainModel, ElementaryLink, sample_chain
from qinternet.network.entanglement_net import (
    MemoryLinkModel,
    PathPlan,
    QuantumNodeModel,
    RequestModel,
    compile_path,
    plan_request,
    reserve,
    run_requests,
)
from qinternet.network.repeater import compile_chain, compile_link
from qinternet.network.run import run_scenario
from qinternet.network.schema import ScenarioError, load_scenario
from qinternet.params.repeater_presets import repeater_preset
from qinternet.states import bell


def test_a_chain_of_unlike_links_waits_for_the_slower_one() -> None:
    # Two links attempted at once with period tau, success p1 and p2, perfect swap and memories: a round lasts
    # max(G1, G2) tau, E[max] = 1/p1 + 1/p2 - 1/(1 - (1-p1)(1-p2)) (the two geometric times and their minimum).
    p1, p2, tau = 0.2, 0.05, 1e-3
    one = ElementaryLink(success_prob=p1, attempt_period_s=tau, state=(0.9, 0.1, 0.0, 0.0))
    two = ElementaryLink(success_prob=p2, attempt_period_s=tau, state=(0.8, 0.0, 0.2, 0.0))
    model = ChainModel(links=2, link=two, link_list=(one, two))
    got = sample_chain(model, 40_000, np.random.default_rng(3))
    expected = tau * (1 / p1 + 1 / p2 - 1 / (1 - (1 - p1) * (1 - p2)))
    # the round time's standard deviation is below ~1/p2 tau = 20 tau; 4 sigma of the mean of 40,000 rounds:
    assert got.round_s.mean() == pytest.approx(expected, abs=4 * 20 * tau / math.sqrt(40_000))
    # a perfect swap composes the two links' Pauli errors (XOR convolution)
    np.testing.assert_allclose(got.states[0], bell.compose(one.state, two.state), atol=1e-12)


def test_a_path_of_like_links_is_the_repeater_chain() -> None:
    preset = repeater_preset("delft-nv")
    node = QuantumNodeModel(id="x", preset=preset, qubits=2, communication_qubits=1)
    nodes = dict.fromkeys(("a", "r", "b"), node)
    hop = compile_link(preset, 10.0)
    hops = [
        MemoryLinkModel(id="ar", a="a", b="r", length_km=10.0, preset=preset, link=hop),
        MemoryLinkModel(id="rb", a="r", b="b", length_km=10.0, preset=preset, link=hop),
    ]
    path = compile_path(("a", "r", "b"), hops, nodes)
    chain = compile_chain(preset, nodes=3, length_km=20.0)
    assert path.link == chain.link
    assert path.link_list == ()  # like links: the homogeneous sampler (and its fast paths)
    assert path.swap_error == chain.swap_error
    assert path.delivery_delay_s == chain.delivery_delay_s
    assert path.sequential == chain.sequential
    seconds = np.array([0.0, 0.01, 1.0])
    np.testing.assert_allclose(path.decay(seconds), chain.decay(seconds))


def _line(
    lengths: dict[str, float], preset_name: str = "near-term"
) -> tuple[list[MemoryLinkModel], dict[str, QuantumNodeModel]]:
    preset = repeater_preset(preset_name)
    links = []
    nodes = {}
    for name, length in lengths.items():
        a, b = name.split("-")
        links.append(
            MemoryLinkModel(id=name, a=a, b=b, length_km=length, preset=preset, link=compile_link(preset, length))
        )
        for n in (a, b):
            nodes[n] = QuantumNodeModel(id=n, preset=preset, qubits=4, communication_qubits=2)
    return links, nodes


def test_path_selection_takes_the_faster_path_that_meets_the_fidelity() -> None:
    # a-b direct over 60 km, or a-m-b over two 10 km links: the two-hop path heralds far more often
    links, nodes = _line({"a-b": 60.0, "a-m": 10.0, "m-b": 10.0})
    request = RequestModel(id="r", a="a", b="b", pairs=10, min_fidelity=0.5)
    plan = plan_request(request, links, nodes, np.random.default_rng(1))
    assert plan is not None
    assert plan.met
    assert plan.nodes == ("a", "m", "b")
    assert plan.purify_rounds == 0


def test_purification_is_added_only_when_the_fidelity_needs_it() -> None:
    links, nodes = _line({"a-b": 5.0})
    rng = np.random.default_rng(2)
    bare = plan_request(RequestModel(id="r", a="a", b="b", pairs=10, min_fidelity=0.5), links, nodes, rng)
    assert bare is not None
    assert bare.purify_rounds == 0
    target = min(0.999, bare.pilot_fidelity + 0.02)
    purified = plan_request(RequestModel(id="r", a="a", b="b", pairs=10, min_fidelity=target), links, nodes, rng)
    assert purified is not None
    assert purified.met
    assert purified.purify_rounds >= 1
    assert purified.pilot_fidelity >= target
    assert purified.pilot_rate_hz < bare.pilot_rate_hz  # purification costs pairs


def test_a_cutoff_is_chosen_where_waiting_costs_the_fidelity() -> None:
    # NV nodes (T2 0.4 s) with links that take seconds per pair: a pair waiting for its partner decoheres; a cut-off
    # short against T2 keeps the fidelity at a price in rate, before any purification is needed
    links, nodes = _line({"a-m": 10.0, "m-b": 10.0}, "delft-nv")
    rng = np.random.default_rng(1)
    never = plan_request(RequestModel(id="r", a="a", b="b", pairs=10, cutoff_s=1e9), links, nodes, rng)
    assert never is not None
    target = never.pilot_fidelity + 0.05
    plan = plan_request(RequestModel(id="r", a="a", b="b", pairs=10, min_fidelity=target), links, nodes, rng)
    assert plan is not None
    assert plan.met
    assert plan.chain.cutoff_s is not None
    assert plan.chain.cutoff_s < 0.4  # short against the memories' T2
    assert plan.purify_rounds == 0
    assert plan.pilot_fidelity >= target
    assert plan.pilot_rate_hz < never.pilot_rate_hz  # the cut-off discards pairs
    # a cut-off the request sets is the only one tried
    fixed = plan_request(RequestModel(id="r", a="a", b="b", pairs=10, cutoff_s=1e9), links, nodes, rng)
    assert fixed is not None
    assert fixed.chain.cutoff_s == 1e9


def test_a_fidelity_no_purification_reaches_is_reported_unmet() -> None:
    links, nodes = _line({"a-b": 5.0})
    request = RequestModel(id="r", a="a", b="b", pairs=5, min_fidelity=1.0)
    run = run_requests([request], links, nodes, duration_s=100.0, seed=1)
    result = run.result("r")
    assert not result.met
    assert result.unmet is not None
    assert "purification" in result.unmet


def _plan(nodes: tuple[str, ...]) -> PathPlan:
    links, models = _line({f"{a}-{b}": 1.0 for a, b in itertools.pairwise(nodes)})
    chain = compile_path(nodes, links, models)
    return PathPlan(
        nodes=nodes, links=(), purify_rounds=0, chain=chain, pilot_rate_hz=1.0, pilot_fidelity=0.9, met=True
    )


def test_reservations_share_an_overbooked_node_and_nothing_else() -> None:
    preset = repeater_preset("near-term")

    def node(n: str, qubits: int, comm: int) -> QuantumNodeModel:
        return QuantumNodeModel(id=n, preset=preset, qubits=qubits, communication_qubits=comm)

    plans = [_plan(("a", "m", "b")), _plan(("c", "m", "d"))]
    # m holds 2 qubits per plan: with 4 qubits and 4 communication qubits both run all the time
    roomy = {
        "a": node("a", 1, 1),
        "b": node("b", 1, 1),
        "c": node("c", 1, 1),
        "d": node("d", 1, 1),
        "m": node("m", 4, 4),
    }
    shares, occupancy = reserve(plans, roomy)
    assert shares == [1.0, 1.0]
    assert occupancy["m"] == pytest.approx(1.0)
    # with 2 qubits at m each gets half the time, and m is still full
    tight = roomy | {"m": node("m", 2, 2)}
    shares, occupancy = reserve(plans, tight)
    assert shares == [0.5, 0.5]
    assert occupancy["m"] == pytest.approx(1.0)
    assert occupancy["a"] == pytest.approx(0.5)


def test_a_shared_path_delivers_at_its_share_of_the_rate() -> None:
    links, nodes = _line({"a-b": 5.0})
    nodes = {n: QuantumNodeModel(id=n, preset=m.preset, qubits=1, communication_qubits=1) for n, m in nodes.items()}
    alone = run_requests([RequestModel(id="r", a="a", b="b", pairs=2000)], links, nodes, duration_s=1e6, seed=4)
    both = run_requests(
        [RequestModel(id="r", a="a", b="b", pairs=2000), RequestModel(id="s", a="a", b="b", pairs=2000)],
        links,
        nodes,
        duration_s=1e6,
        seed=4,
    )
    t_alone = alone.result("r").completion_s
    t_shared = both.result("r").completion_s
    assert t_alone is not None
    assert t_shared is not None
    assert both.result("r").share == 0.5
    # the same stream draws the same rounds; shared, they take twice the wall-clock time
    assert t_shared == pytest.approx(2 * t_alone, rel=1e-9)


NODES = """
nodes:
  - {id: alice, kind: quantum-node, lat_deg: 51.76, lon_deg: -1.26, hardware: oxford-ion-2025, qubits: 2}
  - {id: bob, kind: quantum-node, lat_deg: 51.76, lon_deg: -1.26, hardware: oxford-ion-2025, qubits: 2}
  - {id: rep, kind: repeater, lat_deg: 51.8, lon_deg: -1.0, hardware: near-term}
  - {id: carol, kind: quantum-node, lat_deg: 51.9, lon_deg: -0.8, hardware: near-term, qubits: 1}
  - {id: mid, kind: heralding-station, lat_deg: 51.85, lon_deg: -0.9}
  - {id: user, kind: user, lat_deg: 51.9, lon_deg: -0.7}
"""


def _scenario(links: str, requests: str, extra: str = "") -> dict[str, Any]:
    import yaml

    text = f"name: t\ntime: {{duration_s: 600, step_s: 60}}\n{NODES}\nlinks:\n{links}\nrequests:\n{requests}\n{extra}"
    data: dict[str, Any] = yaml.safe_load(text)
    return data


LINKS = """
  - {id: ab, kind: memory, a: alice, b: bob, length_km: 0.002}
  - {id: br, kind: memory, a: bob, b: rep, length_km: 10, preset: near-term}
  - {id: rc, kind: memory, a: rep, b: carol, length_km: 10, station: mid}
  - {id: cu, kind: fibre, a: carol, b: user, length_km: 10}
"""


def test_a_scenario_serves_its_requests_and_the_summary_says_so() -> None:
    data = _scenario(
        LINKS,
        "  - {id: ab-pairs, a: alice, b: bob, pairs: 500, min_fidelity: 0.9}\n"
        "  - {id: far, a: alice, b: carol, pairs_per_s: 0.01, min_fidelity: 0.5, cutoff_s: 0.05}",
    )
    result = run_scenario(load_scenario(data))
    summary = result.to_dict()
    rows = {row["request"]: row for row in summary["entanglement"]}
    assert rows["ab-pairs"]["pairs"] == 500
    assert rows["ab-pairs"]["mean_fidelity"] >= 0.9
    assert rows["ab-pairs"]["path"] == ["alice", "bob"]
    assert rows["far"]["path"] == ["alice", "bob", "rep", "carol"]
    assert set(summary["memory_occupancy"]) == {"alice", "bob", "rep", "carol"}
    again = run_scenario(load_scenario(data)).to_dict()
    assert again["entanglement"] == summary["entanglement"]  # one seed, the same pairs
    # a scenario without requests keeps the summary it had
    plain = run_scenario("chicago-ieqnet", duration="120s").to_dict()
    assert "entanglement" not in plain
    assert "memory_occupancy" not in plain
    assert "applications" not in plain


@pytest.mark.parametrize(
    ("links", "requests", "extra", "path", "reason"),
    [
        (LINKS, "  - {id: r, a: alice, b: user, pairs: 5}", "", "requests[0].b", "a request joins quantum-nodes"),
        (
            "  - {id: ab, kind: memory, a: alice, b: bob, length_km: 1}\n"
            "  - {id: x, kind: fibre, a: carol, b: user, length_km: 5}",
            "  - {id: r, a: alice, b: carol, pairs: 5}",
            "",
            "requests[0]",
            "no quantum path",
        ),
        ("  - {id: au, kind: memory, a: alice, b: user, length_km: 1}", "  []", "", "links[0].b", "memory link"),
        (
            "  - {id: ab, kind: memory, a: alice, b: bob, length_km: 1, station: rep}",
            "  []",
            "",
            "links[0].station",
            "heralding-station",
        ),
        (
            LINKS,
            "  - {id: r, a: alice, b: bob, pairs: 5, use: measure}",
            "applications:\n  - {app: teleportation, request: r}",
            "applications[0].app",
            "stored pairs",
        ),
        (
            LINKS,
            "  - {id: r, a: alice, b: carol, pairs: 5}",
            "applications:\n  - {app: distributed-grover, request: r}",
            "applications[0]",
            "holds 2 qubits at 'carol'",
        ),
        (
            LINKS,
            "  - {id: r, a: alice, b: bob, pairs: 5}",
            "applications:\n  - {app: teleportation, request: nope}",
            "applications[0].request",
            "unknown request",
        ),
        (
            LINKS,
            "  - {id: r, a: alice, b: bob, pairs: 5, pairs_per_s: 1}",
            "",
            "requests[0]",
            "either pairs or pairs_per_s",
        ),
    ],
)
def test_bad_entanglement_sections_name_the_field(
    links: str, requests: str, extra: str, path: str, reason: str
) -> None:
    data = _scenario(links, requests, extra)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(data)
    assert any(p == path and reason in r for p, r in caught.value.errors), caught.value.errors


def test_memory_nodes_need_known_hardware() -> None:
    data = _scenario(LINKS, "  []")
    data["nodes"][0]["hardware"] = "no-such"
    with pytest.raises(ScenarioError, match=r"nodes\[0\]\.hardware: unknown preset 'no-such'"):
        load_scenario(data)
    data["nodes"][0]["hardware"] = "oxford-ion-2025"
    data["nodes"][2]["qubits"] = 1
    with pytest.raises(ScenarioError, match=r"nodes\[2\]\.qubits: a repeater holds two halves"):
        load_scenario(data)
    data["nodes"][2]["qubits"] = 2
    data["nodes"][5]["hardware"] = "near-term"
    with pytest.raises(ScenarioError, match=r"nodes\[5\]: only a quantum-node or a repeater has hardware"):
        load_scenario(data)


def _pair_network(hardware: str = "ideal", qubits: int = 2, extra_nodes: str = "") -> dict[str, Any]:
    import yaml

    text = f"""
name: pairs
time: {{duration_s: 600, step_s: 60}}
nodes:
  - {{id: a, kind: quantum-node, lat_deg: 46.2, lon_deg: 6.1, hardware: {hardware}, qubits: {qubits}}}
  - {{id: b, kind: quantum-node, lat_deg: 46.3, lon_deg: 6.2, hardware: {hardware}, qubits: {qubits}}}
{extra_nodes}
links:
  - {{id: ab, kind: memory, a: a, b: b, length_km: 1}}
"""
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_entanglement_key_counts_only_the_pairs_the_request_got() -> None:
    from qinternet.network.links.build import build_links
    from qinternet.network.links.entanglement_qkd import EntanglementQkdEngine

    data = _pair_network()
    # more pairs than the layer draws (2e5): the rest arrive at the drawn rate, but no more than asked
    data["requests"] = [{"id": "r", "a": "a", "b": "b", "pairs": 300_000, "use": "measure"}]
    data["links"].append({"id": "key", "kind": "entanglement-qkd", "a": "a", "b": "b", "request": "r", "block_s": 60})
    built = build_links(load_scenario(data))
    engine = built[1].engine
    assert isinstance(engine, EntanglementQkdEngine)
    assert engine.got.extrapolated
    assert engine.pairs.sum() == pytest.approx(engine.got.pairs, rel=1e-9)
    assert engine.got.pairs == 300_000


def test_a_rate_request_is_served_over_the_run_and_the_last_block_is_kept() -> None:
    from qinternet.network.links.build import build_links
    from qinternet.network.links.entanglement_qkd import EntanglementQkdEngine

    data = _pair_network()
    data["time"]["duration_s"] = 150
    data["requests"] = [{"id": "r", "a": "a", "b": "b", "pairs_per_s": 20, "use": "measure"}]
    data["links"].append({"id": "key", "kind": "entanglement-qkd", "a": "a", "b": "b", "request": "r", "block_s": 60})
    engine = build_links(load_scenario(data))[1].engine
    assert isinstance(engine, EntanglementQkdEngine)
    # pair k no earlier than k / rate: 60 s blocks hold 1,200 pairs, the last 30 s block 600
    np.testing.assert_allclose(engine.edges_s, [0.0, 60.0, 120.0, 150.0])
    np.testing.assert_allclose(engine.pairs, [1200, 1200, 600], atol=1)


def test_swaps_need_two_qubits_and_purification_two_copies() -> None:
    nodes = "  - {id: m, kind: quantum-node, lat_deg: 46.25, lon_deg: 6.15, hardware: ideal, qubits: 1}"
    data = _pair_network(extra_nodes=nodes)
    data["links"] = [
        {"id": "am", "kind": "memory", "a": "a", "b": "m", "length_km": 1},
        {"id": "mb", "kind": "memory", "a": "m", "b": "b", "length_km": 1},
    ]
    data["requests"] = [{"id": "r", "a": "a", "b": "b", "pairs": 10}]
    row = run_scenario(load_scenario(data)).to_dict()["entanglement"][0]
    assert row["pairs"] == 0
    assert "qubits a swap needs" in row["unmet_reason"]
    # a repeater whose preset gives it one qubit is refused at once
    data["nodes"][2]["kind"] = "repeater"
    data["nodes"][2].pop("qubits")
    with pytest.raises(ScenarioError, match=r"nodes\[2\]\.qubits: a repeater holds two halves to swap them; got 1"):
        load_scenario(data)
    # nodes with one qubit cannot purify: a fidelity only purification reaches stays unmet
    single = _pair_network(hardware="near-term", qubits=1)
    single["requests"] = [{"id": "r", "a": "a", "b": "b", "pairs": 10, "min_fidelity": 0.999}]
    row = run_scenario(load_scenario(single)).to_dict()["entanglement"][0]
    assert row["purify_rounds"] == 0
    assert not row["met"]


def test_a_higher_priority_is_reserved_first() -> None:
    data = _pair_network(qubits=1)
    data["requests"] = [
        {"id": "low", "a": "a", "b": "b", "pairs": 100, "priority": 1},
        {"id": "high", "a": "a", "b": "b", "pairs": 100, "priority": 10},
    ]
    rows = {r["request"]: r for r in run_scenario(load_scenario(data)).to_dict()["entanglement"]}
    assert rows["high"]["share"] == 1.0
    assert rows["high"]["met"]
    assert rows["low"]["share"] == 0.0
    assert not rows["low"]["met"]


def test_communication_qubits_of_a_scenario_node() -> None:
    from qinternet.network.entanglement_run import memory_models

    data = _scenario(LINKS, "  []")
    data["nodes"][2]["communication_qubits"] = 2  # rep, a near-term repeater: attempts both sides at once
    data["nodes"][2]["qubits"] = 4
    nodes, _ = memory_models(load_scenario(data))
    assert nodes["rep"].communication_qubits == 2
    assert nodes["alice"].communication_qubits == 1  # the preset's
    data["nodes"][2]["communication_qubits"] = 5
    with pytest.raises(ScenarioError, match=r"nodes\[2\]\.communication_qubits: must be at most the node's qubits, 4"):
        load_scenario(data)
    data["nodes"][2]["communication_qubits"] = 2
    data["nodes"][2]["hardware"] = "delft-nv"
    with pytest.raises(ScenarioError, match=r"nodes\[2\]\.communication_qubits: delft-nv's memories are dephased"):
        load_scenario(data)
    data["nodes"][2]["hardware"] = "near-term"
    data["nodes"][5]["communication_qubits"] = 1
    with pytest.raises(ScenarioError, match=r"nodes\[5\]: only a quantum-node or a repeater has hardware"):
        load_scenario(data)
