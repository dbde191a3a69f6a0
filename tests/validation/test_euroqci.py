"""The built-in ``euroqci`` scenario: an ILLUSTRATIVE European Quantum Communication Infrastructure.

Published, READ (European Commission, EuroQCI policy page and the 2025-01-30 implementation agreement with ESA):
all 27 EU Member States take part; a terrestrial segment of national and cross-border fibre networks and a space
segment of satellites; national networks being deployed, to be connected at European level. Nothing else is
public: no topology, device, orbit, link budget or key rate. So the only published figure compared is the count
of member states (exact); the rest is structure and physics, and the scenario says it is illustrative.

What is checked:
- structure: 27 national hubs (one per member state, its capital: a selection that keeps the run under two
  seconds), each with one national optical ground station on fibre, one satellite serving all 27 stations, and
  the two cross-border fibre links the file names;
- physics: on a January day every station has a night pass with key; key between capitals far apart goes
  through the satellite (the trusted relay) and is at most the key of the poorer of the two stations' passes;
  the two cross-border fibre hops (same devices) give key in the order of their lengths.
"""

from __future__ import annotations

import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.run import RunResult, run_scenario
from qinternet.network.schema import FibreLinkSpec, FreeSpaceLinkSpec, NodeKind, Scenario
from qinternet.network.summary import satellite_passes

MEMBER_STATES = 27


@pytest.fixture(scope="module")
def euroqci() -> Scenario:
    return resolve_scenario("euroqci")[0]


@pytest.fixture(scope="module")
def day() -> RunResult:
    return run_scenario("euroqci", duration="24h")


def test_it_says_it_is_illustrative_and_counts_the_member_states(euroqci: Scenario, day: RunResult) -> None:
    assert "ILLUSTRATIVE" in euroqci.description
    (published,) = euroqci.published
    assert published.value == MEMBER_STATES
    (compared,) = day.summary.published
    assert compared.simulated == MEMBER_STATES


def test_each_member_state_has_a_hub_and_a_ground_station_on_one_satellite(euroqci: Scenario) -> None:
    hubs = {n.id for n in euroqci.nodes if n.kind is NodeKind.USER}
    stations = {n.id for n in euroqci.nodes if n.kind is NodeKind.GROUND_STATION}
    assert len(hubs) == len(stations) == MEMBER_STATES
    assert all(euroqci.node(hub).relays_key for hub in hubs)
    fibre = [link for link in euroqci.links if isinstance(link, FibreLinkSpec)]
    assert {(link.a, link.b) for link in fibre if link.b in stations} == {(hub, f"{hub}-ogs") for hub in hubs}
    cross_border = {link.id for link in fibre if link.b not in stations}
    assert cross_border == {"vienna--bratislava", "helsinki--tallinn"}
    free = [link for link in euroqci.links if isinstance(link, FreeSpaceLinkSpec)]
    assert {link.a for link in free} == {"eurosat"}
    assert {link.b for link in free} == stations


def test_every_station_gets_key_on_a_january_night(day: RunResult) -> None:
    keyed = {p.station for p in satellite_passes(day.network, day.links) if p.key_bits > 0}
    assert len(keyed) == MEMBER_STATES


def test_distant_capitals_share_key_through_the_satellite_bounded_by_their_passes(day: RunResult) -> None:
    best: dict[str, float] = {}
    for p in satellite_passes(day.network, day.links):
        best[p.station] = max(best.get(p.station, 0.0), p.key_bits)
    for index, (spec, demand) in enumerate(zip(day.scenario.demands, day.summary.demands, strict=True)):
        if spec.volume_bits is None:
            continue
        assert demand.met, spec.id
        assert demand.delivered_bits <= min(best[f"{spec.a}-ogs"], best[f"{spec.b}-ogs"])
        for path in day.network.paths[index]:
            assert {f"eurosat--{spec.a}-ogs", f"eurosat--{spec.b}-ogs"} <= set(path), spec.id


def test_cross_border_fibre_key_follows_the_length(day: RunResult) -> None:
    rates = {link.id: link.mean_rate_bps for link in day.summary.links}
    assert rates["vienna--bratislava"] > rates["helsinki--tallinn"] > 0
    for spec, demand in zip(day.scenario.demands, day.summary.demands, strict=True):
        if spec.rate_bps is not None:
            assert demand.met, spec.id
