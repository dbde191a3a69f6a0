"""The built-in ``boaron-421km`` scenario and the ``boaron2018`` preset against Boaron et al., PRL 121, 190502 (2018).

Published, READ in the paper's abstract (arXiv:1807.03222, at
https://www.groundai.com/project/secure-quantum-key-distribution-over-421-km-of-optical-fiber/): a 2.5 GHz
three-state time-bin protocol with one decoy, superconducting detectors and ultralow-loss fibre; key at up to
421 km; 6.5 bit/s over 405 km. APS Physics 11, 111 (2018) (https://physics.aps.org/articles/v11/111), READ:
the same 421 km, 2.5 GHz, ULL fibre and SNSPDs.

Not read (the paper's body and parameter table could not be read with the tools at hand), so assumed in the
preset: fibre 0.17 dB/km, Bob's efficiency 0.2, 0.1 Hz of dark counts per detector, misalignment 0.5 %,
f = 1.16; and in the scenario one finite-key block a day (2.2e14 pulses). qinternet runs Lim et al.'s decoy BB84
(PRA 89, 022307 (2014)), not the three-state one-decoy protocol of the paper.

Published against computed: 6.5 bit/s over 405 km against 4.08 bit/s (0.63); key at 421 km: 1.43 bit/s.

Tolerance on the 405 km rate: a factor of 2. Each assumption moves it by about that much (the others fixed):
detector efficiency 0.15 / 0.3 gives 0.63 / 1.8 times the rate; dark counts 0.01 / 1 Hz give 1.2 / 0.11; e_d
0.2 % / 1 % gives 1.2 / 0.74; blocks of 6 / 48 h give 0.56 / 1.2. The attenuation moves it most: 0.16 / 0.18
dB/km give 3.6 / 0.18 times, since 405 km multiplies each 0.01 dB/km into 4 dB. The agreement says that the model
with plausible devices reaches the published rate at 405 km, not that these are the paper's devices.
"""

from __future__ import annotations

import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.schema import FibreLinkSpec, Scenario
from qinternet.params import get_preset

PUBLISHED_RATE_405_KM_BPS = 6.5
PUBLISHED_LONGEST_KM = 421.0
PUBLISHED_REP_RATE_HZ = 2.5e9
FACTOR = 2.0
"""Tolerance on the 405 km rate: each assumed device figure moves it by about this much (module docstring)."""


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return resolve_scenario("boaron-421km")[0]


@pytest.fixture(scope="module")
def rates(scenario: Scenario) -> dict[float, float]:
    """Expected key rate (bit/s) of each link, by fibre length."""
    built = build_links(scenario)
    return {
        spec.length_km: b.expected_rate_bps  # type: ignore[misc]
        for spec, b in zip(scenario.links, built, strict=True)
    }


def test_preset_and_scenario_carry_the_published_clock_and_distances(scenario: Scenario) -> None:
    assert get_preset("boaron2018").system.source.rep_rate_hz == PUBLISHED_REP_RATE_HZ
    links = [link for link in scenario.links if isinstance(link, FibreLinkSpec)]
    assert sorted(link.length_km for link in links) == [405.0, PUBLISHED_LONGEST_KM]
    assert {link.preset for link in links} == {"boaron2018"}


def test_rate_over_405_km_within_a_factor_of_two(rates: dict[float, float]) -> None:
    ratio = rates[405.0] / PUBLISHED_RATE_405_KM_BPS
    assert 1 / FACTOR < ratio < FACTOR, ratio


def test_key_at_421_km_falls_faster_than_the_fibre(rates: dict[float, float]) -> None:
    # The published longest distance gives key in the model too. From 405 to 421 km the fibre alone lowers the
    # rate by 10^(16 km x 0.17 dB/km / 10) = 1.87; dark counts and the finite block lower it more, as near the end
    # of any link's range: a model whose rate fell only with the transmittance would fail the second assert.
    system = get_preset("boaron2018").system
    fibre_only = 10 ** (system.fibre.loss_db_per_km * 16.0 / 10)
    assert rates[PUBLISHED_LONGEST_KM] > 0.0
    assert rates[405.0] / rates[PUBLISHED_LONGEST_KM] > 1.2 * fibre_only
