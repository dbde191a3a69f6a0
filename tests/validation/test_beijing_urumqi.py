"""The built-in ``beijing-urumqi-satellite`` scenario: Micius relaying key between Xinglong (Beijing) and Nanshan
(Urumqi), against Liao et al., PRL 120, 030501 (2018).

Published, READ in the abstract (ioe.cas.cn record and PubMed): decoy-state QKD between Micius and the Xinglong,
Nanshan and Graz stations "with ~kHz rate per passage of the satellite"; Micius as a trusted relay (XOR of the two
keys); "a 280 km optical ground connection between Xinglong and Beijing". Chen et al., Nature 589, 214 (2021),
abstract: a remote node "more than 2,600 km away" (Nanshan: "separated by 2,600 km" from Xinglong in a news
summary). The per-pass table of the PRL could not be read.

Published against computed (``qinternet run beijing-urumqi-satellite --duration 24h``, preset micius2017):

| figure | published | computed | tolerance |
|---|---|---|---|
| key rate per pass | ~1 kbit/s | 0.494 kbit/s (one basis) | factor 3, doubled |
| Xinglong-Beijing fibre | 280 km | 280 km | exact |
| Xinglong-Nanshan | 2,600 km | 2,524 km (great circle) | 5 % |

**Tolerances.** "~kHz" is an order of magnitude, so a factor of 3 either way (half a decade) is the band it
gives; the model's key is of the key basis only (the paper's is from both bases), hence doubled before the
comparison, as for the micius row of docs/validation.md. The remote node's reference point is not said
(space-ground-2021's test): 5 %. The relay itself is physics: the Beijing-Urumqi key exists only once both
stations have had a pass with key, and it cannot exceed what the poorer pass gave.
"""

from __future__ import annotations

import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.run import RunResult, run_scenario
from qinternet.network.schema import FibreLinkSpec, LinkKind, Scenario, load_scenario
from qinternet.network.summary import satellite_passes
from tests.validation.geometry import great_circle_km

PUBLISHED_RATE_BPS = 1e3
RATE_FACTOR = 3.0
"""~kHz is an order of magnitude: half a decade either way (docstring)."""
PUBLISHED_FIBRE_KM = 280.0
PUBLISHED_REMOTE_KM = 2600.0


@pytest.fixture(scope="module")
def link() -> Scenario:
    return resolve_scenario("beijing-urumqi-satellite")[0]


@pytest.fixture(scope="module")
def day() -> RunResult:
    return run_scenario("beijing-urumqi-satellite", duration="24h")


def test_the_structure_is_the_papers(link: Scenario) -> None:
    free = [spec for spec in link.links if spec.kind is LinkKind.FREE_SPACE]
    assert {(spec.a, spec.b) for spec in free} == {("micius", "xinglong"), ("micius", "nanshan")}
    assert {spec.preset for spec in free} == {"micius2017"}
    assert link.node("micius").relays_key
    fibre = sum(spec.length_km for spec in link.links if isinstance(spec, FibreLinkSpec) and "xl" in spec.id)
    assert fibre == PUBLISHED_FIBRE_KM
    assert great_circle_km(link, "nanshan", "xinglong") == pytest.approx(PUBLISHED_REMOTE_KM, rel=0.05)


def test_the_pass_rate_is_the_published_kilohertz(day: RunResult) -> None:
    compared = {p.quantity: p for p in day.summary.published}
    rate = compared["average secret key rate per typical satellite pass"]
    assert rate.value * 1e3 == PUBLISHED_RATE_BPS
    assert rate.simulated is not None
    assert rate.simulated_unit == "kbit/s"
    assert 1 / RATE_FACTOR < 2 * rate.simulated * 1e3 / PUBLISHED_RATE_BPS < RATE_FACTOR
    assert compared["xinglong-beijing optical ground connection"].simulated == PUBLISHED_FIBRE_KM


def test_both_stations_pass_and_the_relayed_key_is_bounded_by_the_poorer_pass(day: RunResult) -> None:
    passes = satellite_passes(day.network, day.links)
    best = {}
    for p in passes:
        best[p.station] = max(best.get(p.station, 0.0), p.key_bits)
    assert set(best) == {"xinglong", "nanshan"}
    assert min(best.values()) > 0
    (demand,) = day.summary.demands
    assert demand.met
    (path,) = demand.paths
    assert {"micius--xinglong", "micius--nanshan"} <= set(path.links)
    assert demand.delivered_bits <= min(best.values())


def test_before_nanshans_pass_beijing_and_urumqi_share_no_key(link: Scenario) -> None:
    data = link.model_dump(mode="json")
    data["time"]["duration_s"] = 12.5 * 3600.0  # to 18:30 UTC: Xinglong's night pass is over, Nanshan's to come
    result = run_scenario(load_scenario(data))
    keyed = {p.station for p in satellite_passes(result.network, result.links) if p.key_bits > 0}
    assert keyed == {"xinglong"}
    (demand,) = result.summary.demands
    assert demand.delivered_bits == 0
    assert not demand.met
