"""The built-in ``space-ground-4600km`` scenario against Chen et al., Nature 589, 214 (2021).

Published: an integrated space-to-ground network in which users up to 4,600 km apart share key, through
the Beijing-Shanghai fibre backbone (more than 2,000 km, trusted relays), the 280 km fibre connection
Xinglong-Beijing (Liao et al., PRL 120, 030501 (2018)) and the Micius satellite relaying key between the
Xinglong and Nanshan ground stations; 47.8 kbit/s average key rate per typical pass with the upgraded
satellite-ground system.

Checked:
- the span: the Nanshan-Xinglong great circle plus the fibre route Xinglong-Beijing-Shanghai is the
  published 4,600 km within 10 % (the backbone's fibre route and the relays' places are ours, taken as
  1.55x the great circle; "4,600 km" is itself a rounded, "up to" figure);
- the 280 km Xinglong-Beijing connection and the backbone copied from ``beijing-shanghai``, exactly;
- a Nanshan user's demand with Shanghai is served, over a path through both downlinks and the whole
  backbone (two simulated days: Micius gives key at both stations on the second night);
- the scenario's stated limit: with the 2017 Micius devices, its best pass gives at least 10x less than
  the published 47.8 kbit/s of the upgraded system (the 2017 pass of Liao et al. averaged 1.1 kbit/s).
"""

from __future__ import annotations

import networkx as nx
import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import BuiltLink, build_links
from qinternet.network.schema import LinkKind, NodeKind, Scenario, load_scenario
from qinternet.network.simulate import NetworkRun, simulate
from tests.validation.geometry import great_circle_km

PUBLISHED_SPAN_KM = 4600.0
PUBLISHED_GROUND_CONNECTION_KM = 280.0
PUBLISHED_PASS_RATE_BPS = 47.8e3


@pytest.fixture(scope="module")
def network() -> Scenario:
    return resolve_scenario("space-ground-4600km")[0]


@pytest.fixture(scope="module")
def two_days(network: Scenario) -> tuple[Scenario, list[BuiltLink], NetworkRun]:
    data = network.model_dump(mode="json")
    data["time"]["duration_s"] = 2 * 86400
    scenario = load_scenario(data)
    links = build_links(scenario)
    return scenario, links, simulate(scenario, [link.runner for link in links])


def fibre_km(scenario: Scenario, a: str, b: str) -> tuple[float, list[str]]:
    graph: nx.Graph[str] = nx.Graph()
    for link in scenario.links:
        if link.kind is LinkKind.FIBRE:
            graph.add_edge(link.a, link.b, length_km=link.length_km)
    path = nx.shortest_path(graph, a, b, weight="length_km")
    return float(nx.path_weight(graph, path, weight="length_km")), path


def test_the_span_nanshan_to_shanghai_is_about_4600_km(network: Scenario) -> None:
    assert {p.quantity: p.value for p in network.published}["span between users"] == PUBLISHED_SPAN_KM
    span = great_circle_km(network, "nanshan", "xinglong") + fibre_km(network, "xinglong", "shanghai")[0]
    assert span == pytest.approx(PUBLISHED_SPAN_KM, rel=0.10)


def test_xinglong_reaches_beijing_over_280_km_of_fibre_through_trusted_relays(network: Scenario) -> None:
    length, path = fibre_km(network, "xinglong", "beijing")
    assert length == pytest.approx(PUBLISHED_GROUND_CONNECTION_KM)
    assert len(path) > 2
    assert all(network.node(n).kind is NodeKind.TRUSTED_RELAY for n in path[1:-1])


def test_the_backbone_is_the_beijing_shanghai_scenario(network: Scenario) -> None:
    backbone = resolve_scenario("beijing-shanghai")[0]
    assert set(backbone.nodes) <= set(network.nodes)
    links = {link.id: link for link in network.links}
    assert all(links.get(link.id) == link for link in backbone.links)
    assert sum(n.kind is NodeKind.TRUSTED_RELAY for n in backbone.nodes) == 32


def test_two_satellite_ground_links(network: Scenario) -> None:
    downlinks = {(link.a, link.b) for link in network.links if link.kind is LinkKind.FREE_SPACE}
    assert downlinks == {("micius", "xinglong"), ("micius", "nanshan")}


def test_nanshan_gets_key_with_shanghai_through_the_satellite_and_the_backbone(
    two_days: tuple[Scenario, list[BuiltLink], NetworkRun],
) -> None:
    scenario, _, run = two_days
    index = next(i for i, d in enumerate(scenario.demands) if {d.a, d.b} == {"nanshan-user", "shanghai"})
    assert run.delivered_bits[-1, index] > 0
    backbone = {link.id for link in resolve_scenario("beijing-shanghai")[0].links}
    for path in run.paths[index]:
        assert {"micius--nanshan", "micius--xinglong"} <= set(path)
        assert backbone <= set(path)


def test_the_2017_devices_stay_far_below_the_upgraded_47_8_kbit_s(
    two_days: tuple[Scenario, list[BuiltLink], NetworkRun],
) -> None:
    _, links, _ = two_days
    rates = [
        p.key_bits / (p.end_s - p.start_s)
        for link in links
        if link.pass_schedule is not None
        for p in link.pass_schedule.passes
    ]
    assert max(rates) > 0
    assert max(rates) < PUBLISHED_PASS_RATE_BPS / 10
