"""The built-in ``chicago-ieqnet`` scenario: decoy BB84 sharing deployed fibre with classical traffic.

Published, for context only: the IEQNET group's coexistence experiments (Thomas et al., Optica 11, 1700
(2024): 30.2 km of fibre with 400 Gbit/s C-band traffic up to 18.7 dBm; Thomas et al., arXiv:2304.09076:
48 km of installed fibre, more than 18 dBm) keep their quantum channels in the O band, far from the C-band
Raman noise. No QKD key rate for IEQNET (Chung et al., arXiv:2104.04629; IEEE TQE 3 (2022)) is published,
so nothing here compares a rate with a measurement.

What is checked:
- the noise model against its closed form, Eraerds et al., NJP 12, 063027 (2010), eq. (2) (forward Raman
  power ``P e^{-alpha L} L rho dlambda``), to 1e-9 relative (floating point only);
- orderings the scenario is built to show (no tolerance needed): Raman noise raises the QBER of the
  heavily loaded link above that of the lightly loaded one and above the same link without classical
  traffic, and costs it most (over half) of its key, while the light link behind a narrow filter keeps
  over 90 % of its key;
- that the published coexistence powers would leave no key to a C-band quantum channel in this model (a
  QBER above 11 %, BB84's asymptotic limit), which is why those experiments used the O band.
"""

from __future__ import annotations

import math

import pytest

from qinternet.network.build import link_system
from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.links.fibre import fibre_engine, raman_click_prob
from qinternet.network.schema import FibreLinkSpec, Scenario, load_scenario
from qinternet.physics.raman import C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM, PLANCK_J_S, SPEED_OF_LIGHT_M_S

LIGHT, HEAVY = "fermilab--argonne", "argonne--starlight"


@pytest.fixture(scope="module")
def chicago() -> Scenario:
    return resolve_scenario("chicago-ieqnet")[0]


def without_classical_traffic(scenario: Scenario) -> Scenario:
    data = scenario.model_dump(mode="json")
    for link in data["links"]:
        link["classical_channels"] = []
    return load_scenario(data)


def by_id(scenario: Scenario) -> dict[str, tuple[float, float]]:
    """Expected key rate (bit/s) and QBER of every link."""
    built = build_links(scenario)
    assert all(b.rate_curve is not None for b in built)
    return {
        spec.id: (b.expected_rate_bps, b.engine.expected_block.qber)  # type: ignore[attr-defined]
        for spec, b in zip(scenario.links, built, strict=True)
    }


def test_every_link_shares_its_fibre_and_sets_its_receiver(chicago: Scenario) -> None:
    for link in chicago.links:
        assert link.classical_channels, link.id
        assert {"filter_bandwidth_nm", "detection_window_s"} <= link.model_fields_set, link.id


def test_raman_noise_matches_the_closed_form_on_the_heavy_link(chicago: Scenario) -> None:
    spec = next(link for link in chicago.links if link.id == HEAVY)
    assert spec.length_km is not None
    (channel,) = spec.classical_channels
    system = link_system(spec, "links[1]")
    alpha = system.fibre.loss_db_per_km * math.log(10) / 10
    power_w = 1e-3 * 10 ** (channel.launch_power_dbm / 10) * math.exp(-alpha * spec.length_km) * spec.length_km
    power_w *= C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM * spec.filter_bandwidth_nm
    photons_hz = power_w * spec.quantum_wavelength_nm * 1e-9 / (PLANCK_J_S * SPEED_OF_LIGHT_M_S)
    expected = -math.expm1(-system.detector.efficiency * photons_hz * spec.detection_window_s)
    assert raman_click_prob(spec, system, spec.length_km) == pytest.approx(expected, rel=1e-9)


def test_heavy_traffic_raises_the_qber_and_costs_most_of_the_key(chicago: Scenario) -> None:
    noisy = by_id(chicago)
    quiet = by_id(without_classical_traffic(chicago))
    light_rate, light_qber = noisy[LIGHT]
    heavy_rate, heavy_qber = noisy[HEAVY]
    assert heavy_qber > light_qber
    assert heavy_qber > quiet[HEAVY][1] + 0.02  # a few per cent of QBER from Raman noise alone
    assert 0 < heavy_rate < 0.5 * quiet[HEAVY][0]
    assert light_rate > 0.9 * quiet[LIGHT][0]
    for link, (rate, qber) in noisy.items():
        assert qber >= quiet[link][1], link
        assert rate <= quiet[link][0], link


@pytest.mark.parametrize(("length_km", "launch_power_dbm"), [(30.2, 18.7), (48.0, 18.0)])
def test_the_published_coexistence_powers_leave_a_c_band_quantum_channel_no_key(
    length_km: float, launch_power_dbm: float
) -> None:
    spec = FibreLinkSpec(
        id="coexistence",
        a="a",
        b="b",
        length_km=length_km,
        loss_db_per_km=0.25,
        filter_bandwidth_nm=0.1,
        detection_window_s=1e-10,
        classical_channels=({"launch_power_dbm": launch_power_dbm, "direction": "forward"},),  # type: ignore[arg-type]
    )
    block = fibre_engine(spec, "links[0]").expected_block
    assert block.key_bits == 0
    assert block.qber > 0.11
