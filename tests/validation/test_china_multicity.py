"""The built-in ``china-multicity-2025`` scenario: the Jinan-1 microsatellite network of 2025 (Li et al., Nature
640, 47 (2025); arXiv:2408.10994).

Which system "the 2025 multi-city network" is, is the scenario's reading (its file says why): four cities with
portable ground stations (Beijing, Jinan, Hefei, Stellenbosch), the Chinese ones also on the fibre backbone, the
satellite a trusted relay between Beijing and Stellenbosch.

Published, READ: the arXiv abstract (https://arxiv.org/html/2408.10994v1): "up to 0.59 million bits of secure keys
during a single satellite pass" with portable ~100 kg stations and a ~23 kg payload; the press on the Nature paper
(Stellenbosch University's release, scitechdaily.com 2025-03-25): 12,900 km between Beijing and Stellenbosch.
Second-hand (press, not tested as published): 1.07 Mbit in one Stellenbosch pass; the four stations' cities.

Published against computed (``qinternet run china-multicity-2025 --duration 24h``):

| figure | published | computed | tolerance |
|---|---|---|---|
| key of the best pass | up to 0.59 Mbit | 1.24 Mbit (Beijing, 66 degrees) | factor 3 |
| Beijing-Stellenbosch | 12,900 km | 12,918 km (great circle) | 1 % |
| key of a Stellenbosch pass | 1.07 Mbit (press) | 0.26 Mbit (32 degrees) | not compared |

**Why a factor of 3 for the pass key**: nothing of the microsatellite's or the portable stations' devices and
optics could be read; the scenario runs Micius's (preset micius2021, itself assumed, and the 1 m Xinglong
telescope, which a 100 kg portable station cannot have). The key of a pass moves by more than that with the
unknowns (the receiver's aperture alone by its square), and with the pass's elevation (below). The band says only
that the model is of the published order; it was not tuned (it gives 2.1 times the figure). **The distance**:
the stations' places within their cities are not published (the Beijing one is "a rooftop"); moving either
station across its city changes the span by some tens of km, well within 1 % (~130 km).
"""

from __future__ import annotations

import itertools

import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.run import RunResult, run_scenario
from qinternet.network.schema import FibreLinkSpec, FreeSpaceLinkSpec, NodeKind, Scenario
from qinternet.network.summary import satellite_passes
from tests.validation.geometry import great_circle_km

PUBLISHED_BEST_PASS_BITS = 0.59e6
PASS_FACTOR = 3.0
"""Devices and optics unread: the model's best pass within 3x of the published one (docstring)."""
PUBLISHED_SPAN_KM = 12900.0
SPAN_TOLERANCE = 0.01
STATIONS = {"beijing-ogs", "jinan-ogs", "hefei-ogs", "stellenbosch-ogs"}


@pytest.fixture(scope="module")
def network() -> Scenario:
    return resolve_scenario("china-multicity-2025")[0]


@pytest.fixture(scope="module")
def day() -> RunResult:
    return run_scenario("china-multicity-2025", duration="24h")


def test_four_cities_with_stations_the_chinese_ones_on_the_backbone(network: Scenario) -> None:
    free = [link for link in network.links if isinstance(link, FreeSpaceLinkSpec)]
    assert {link.b for link in free} == STATIONS
    assert {link.a for link in free} == {"jinan-1"}
    assert network.node("jinan-1").relays_key
    backbone = {link.id: link for link in resolve_scenario("beijing-hefei-call")[0].links}
    fibre = [link for link in network.links if isinstance(link, FibreLinkSpec)]
    assert set(backbone) <= {link.id for link in fibre}
    assert all(backbone[link.id] == link for link in fibre if link.id in backbone)
    # Stellenbosch has no fibre to China: its only way is the satellite.
    assert {link.id for link in fibre if "stellenbosch" in link.id} == {"stellenbosch-ogs--stellenbosch"}
    users = {n.id for n in network.nodes if n.kind is NodeKind.USER and n.name in {"Beijing", "Jinan", "Hefei"}}
    assert users == {"beijing", "jinan", "hefei"}


def test_the_published_span(network: Scenario, day: RunResult) -> None:
    span = great_circle_km(network, "beijing-ogs", "stellenbosch-ogs")
    assert span == pytest.approx(PUBLISHED_SPAN_KM, rel=SPAN_TOLERANCE)
    compared = {p.quantity: p.simulated for p in day.summary.published}
    assert compared["beijing-stellenbosch distance"] == pytest.approx(span)
    assert compared["satellite-to-ground QKD links"] == len(STATIONS)


def test_the_best_pass_is_of_the_published_order(day: RunResult) -> None:
    compared = {p.quantity: p for p in day.summary.published}
    best = compared["secure key in the best satellite pass"]
    assert best.value * 1e6 == PUBLISHED_BEST_PASS_BITS
    assert best.simulated is not None
    assert best.simulated_unit == "Mbit"
    keys = [p.key_bits for p in satellite_passes(day.network, day.links)]
    assert best.simulated * 1e6 == pytest.approx(max(keys))
    assert 1 / PASS_FACTOR < best.simulated * 1e6 / PUBLISHED_BEST_PASS_BITS < PASS_FACTOR


def test_every_station_gets_key_and_higher_passes_give_more(day: RunResult) -> None:
    # Same devices and optics at every station: a pass's key grows with its elevation (shorter range, less air).
    passes = [p for p in satellite_passes(day.network, day.links) if p.key_bits > 0]
    assert {p.station for p in passes} == STATIONS
    ordered = sorted(passes, key=lambda p: p.max_elevation_deg)
    assert all(a.key_bits < b.key_bits for a, b in itertools.pairwise(ordered))


def test_beijing_and_stellenbosch_share_key_through_the_satellite(day: RunResult) -> None:
    index = next(i for i, d in enumerate(day.scenario.demands) if d.id == "beijing-stellenbosch")
    assert day.summary.demands[index].met
    for path in day.network.paths[index]:
        assert {"jinan-1--beijing-ogs", "jinan-1--stellenbosch-ogs"} <= set(path)
