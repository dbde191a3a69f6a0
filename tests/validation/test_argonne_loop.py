"""The built-in ``argonne-uchicago-52mi`` scenario: the Argonne-UChicago quantum loop of February 2020.

Published, READ: University of Chicago, 2020-02-19 (https://researchinnovation.uchicago.edu/2020/02/19/argonne-
uchicago-scientists-take-important-step-in-developing-national-quantum-internet/): photons entangled across a
52-mile network in the Chicago suburbs, headquartered at Argonne; Qubitekk, 2020-02-19 (http://qubitekk.com/argonne-
and-university-of-chicago-and-qubitekk-are-developing-us-quantum-internet/): the pairs were sent across two 26-mile
fibre loops and detected on their return, their correlation verified with a high signal-to-noise ratio.

No rate, QBER or fidelity is published, so beyond the 52 miles the test checks structure and physics, not numbers:
- the loop: the source and both receivers at Argonne, two arms of 26 miles, 52 miles (83.7 km) in all, exactly;
- the pairs' QBER lies between the assumed misalignment (2 %, accidental coincidences add to it) and BBM92's 11 %
  limit, so the loop makes key;
- both photons must survive their loops: lengthening both arms by L divides the key by at least the two arms'
  extra transmittance, 10**(2 alpha L / 10) (coincidences scale as eta_a eta_b; the accidentals then force a lower
  pump).
"""

from __future__ import annotations

import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.entanglement import EntanglementLinkSpec
from qinternet.network.run import RunResult, run_scenario
from qinternet.network.schema import Scenario, load_scenario
from tests.validation.geometry import great_circle_km

KM_PER_MILE = 1.609344
PUBLISHED_LOOP_MILES = 52.0
PUBLISHED_ARM_MILES = 26.0
BBM92_QBER_LIMIT = 0.11


@pytest.fixture(scope="module")
def loop() -> Scenario:
    return resolve_scenario("argonne-uchicago-52mi")[0]


@pytest.fixture(scope="module")
def hour(loop: Scenario) -> RunResult:
    return run_scenario(loop)


def the_link(scenario: Scenario) -> EntanglementLinkSpec:
    (link,) = scenario.links
    assert isinstance(link, EntanglementLinkSpec)
    return link


def with_arms(loop: Scenario, arm_km: float) -> Scenario:
    data = loop.model_dump(mode="json")
    data["links"][0].update(length_a_km=arm_km, length_b_km=arm_km)
    return load_scenario(data)


def test_two_26_mile_loops_from_and_back_to_argonne(loop: Scenario, hour: RunResult) -> None:
    link = the_link(loop)
    assert link.length_a_km == link.length_b_km == pytest.approx(PUBLISHED_ARM_MILES * KM_PER_MILE, abs=0.01)
    published = {p.quantity: p.value for p in loop.published}["fibre of the quantum loop"]
    assert published == pytest.approx(PUBLISHED_LOOP_MILES * KM_PER_MILE, abs=0.05)
    compared = {p.quantity: p.simulated for p in hour.summary.published}["fibre of the quantum loop"]
    assert compared == pytest.approx(published, abs=0.05)
    for end in (link.a, link.b):
        assert great_circle_km(loop, link.source, end) < 0.1


def test_the_loop_makes_key_between_the_misalignment_and_the_bbm92_limit(loop: Scenario, hour: RunResult) -> None:
    (link,) = hour.summary.links
    assert link.secret_bits > 0
    assert link.qber is not None
    assert 0.02 < link.qber < BBM92_QBER_LIMIT
    assert hour.summary.demands[0].met


def test_longer_loops_lose_key_at_least_as_both_arms_transmittance(loop: Scenario, hour: RunResult) -> None:
    link = the_link(loop)
    assert link.loss_db_per_km is not None
    extra_km = 20.0
    longer = run_scenario(with_arms(loop, link.length_a_km + extra_km)).summary.links[0]
    both_arms = 10 ** (2 * link.loss_db_per_km * extra_km / 10)
    assert longer.secret_bits > 0
    assert hour.summary.links[0].mean_rate_bps / longer.mean_rate_bps >= both_arms
