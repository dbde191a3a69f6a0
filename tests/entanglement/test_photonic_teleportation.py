"""The photonic teleportation model (:mod:`qinternet.entanglement.photonic_teleportation`) against its closed forms
and limits: the good events' fidelity, the classical bound of distinguishable photons, the leading-order ratio of
double pairs to single photons, dark counts alone, and the bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qinternet.entanglement.photonic_teleportation import (
    InputPhoton,
    PhotonicTeleportationParams,
    teleportation_events,
)
from qinternet.errors import ParameterError
from qinternet.params.devices import PairStatistics

WEAK = PhotonicTeleportationParams(
    input_photon=InputPhoton.COHERENT,
    input_mean_photon_number=1e-4,
    pair_mean_number=1e-7,
    input_transmittance=1.0,
    idler_transmittance=1.0,
)


def test_perfect_devices_and_weak_sources_teleport_perfectly() -> None:
    # Double pairs are ~mu_B t_B / (mu_A t_A) = 1e-3 of the events: the fidelity is 1 to that order.
    np.testing.assert_allclose(teleportation_events(WEAK, 1.0).fidelity(), 1.0, atol=2e-3)


def test_the_good_events_fidelity_is_the_closed_form() -> None:
    # f_Z = (1 + V_pair)/2 (a Z error from the BSM keeps a basis state); f_X = f_Y = (1 + V_pair V_HOM)/2
    params = dataclasses.replace(WEAK, hom_visibility=0.8, pair_visibility=0.9)
    f = teleportation_events(params, 1.0).true_fidelity
    np.testing.assert_allclose(f, [(1 + 0.9) / 2, (1 + 0.9 * 0.8) / 2, (1 + 0.9 * 0.8) / 2], rtol=1e-12)


def test_distinguishable_photons_give_the_classical_bound() -> None:
    # V_HOM = 0: the basis states still teleport, the superpositions come out mixed: (1 + 1/2 + 1/2)/3 = 2/3,
    # the measure-and-prepare bound (Massar, Popescu 1995): no quantum advantage without interference.
    params = dataclasses.replace(WEAK, hom_visibility=0.0)
    assert teleportation_events(params, 1.0).average_fidelity() == pytest.approx(2 / 3, abs=2e-3)


@pytest.mark.parametrize("statistics", [PairStatistics.THERMAL, PairStatistics.POISSON])
def test_double_pairs_against_single_input_photons_is_the_leading_order_ratio(statistics: PairStatistics) -> None:
    # Basis-state inputs, no dark counts: the uncorrelated events are two idlers at the BSM (no input photon), the good
    # ones one input photon and one idler. To leading order their ratio is r = mu_B t_B / (mu_A t_A) for both laws
    # (thermal: P(2) = 3 mu^2/4, kappa = 1/6; Poisson: P(2) = mu^2/2, kappa = 1/4; times 2 t_R for either signal,
    # against mu_A t_A mu_B t_B t_R / 4), so F_Z = (1 + r/2)/(1 + r). Corrections are O(mu) and O(t_R).
    mu_a, mu_b, t_a, t_b = 1e-3, 4e-4, 0.5, 0.6
    params = PhotonicTeleportationParams(
        input_photon=InputPhoton.COHERENT,
        input_mean_photon_number=mu_a,
        pair_mean_number=mu_b,
        statistics=statistics,
        input_transmittance=t_a,
        idler_transmittance=t_b,
    )
    r = mu_b * t_b / (mu_a * t_a)
    f_z = teleportation_events(params, 1e-4).fidelity()[0]
    assert f_z == pytest.approx((1 + r / 2) / (1 + r), rel=2e-3)


def test_more_pairs_lower_the_fidelity_and_dark_counts_alone_give_one_half() -> None:
    base = dataclasses.replace(WEAK, input_mean_photon_number=0.05, input_transmittance=0.5, idler_transmittance=0.5)
    fidelities = [
        teleportation_events(dataclasses.replace(base, pair_mean_number=mu), 0.3).average_fidelity()
        for mu in (0.001, 0.005, 0.02)
    ]
    assert fidelities[0] > fidelities[1] > fidelities[2]
    dark = dataclasses.replace(base, pair_mean_number=0.005, receiver_dark_count_prob=1e-4)
    by_loss = np.array([teleportation_events(dark, t).fidelity() for t in (1e-1, 1e-3, 1e-6, 0.0)])
    assert np.all(np.diff(by_loss, axis=0) < 0)  # more loss, more of the clicks are dark counts
    np.testing.assert_allclose(by_loss[-1], 0.5)


def test_a_heralded_input_without_loss_has_no_double_pair_noise_of_its_own_kind() -> None:
    # A heralded input whose photon always reaches the BSM leaves no event with two idlers and no input photon:
    # basis states are then hurt only by a second pair whose idler was lost and whose signal clicks (relative
    # order 2 (1 - t_B) P_B(2)/P_B(1) ~ 0.75 mu_B, half of them wrong: 0.0075 here).
    params = PhotonicTeleportationParams(
        input_photon=InputPhoton.HERALDED,
        input_mean_photon_number=1e-3,
        herald_efficiency=0.5,
        pair_mean_number=0.02,
        input_transmittance=1.0,
        idler_transmittance=0.5,
    )
    lossless = teleportation_events(params, 0.1).fidelity()[0]
    assert lossless == pytest.approx(1.0 - 0.0075, abs=1e-3)
    # lose the heralded photon 9 times in 10: double pairs now come with a herald. To leading order the ratio of
    # their events to the good ones is (1 - t_A)/t_A x [P_B(2) t_B^2 (1 - (1 - t_R)^2) kappa_BB] / [P_B(1) t_B t_R/4]
    # with P_B(2)/P_B(1) = 3 mu_B/4 (thermal), kappa_BB = 1/6: r = 9 x 0.75 x 0.02 x 0.5 x 0.19 / 6 / (0.1/4)
    r = 9 * 0.75 * 0.02 * 0.5 * 0.19 / 6 / (0.1 / 4)
    lossy = dataclasses.replace(params, input_transmittance=0.1)
    assert teleportation_events(lossy, 0.1).fidelity()[0] == pytest.approx((1 + r / 2) / (1 + r) - 0.0075, abs=0.003)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"input_mean_photon_number": 0.6}, "input_mean_photon_number"),
        ({"pair_mean_number": 0.0}, "pair_mean_number"),
        ({"hom_visibility": 1.5}, "hom_visibility"),
        ({"announced_bell_states": 3}, "announced_bell_states"),
    ],
)
def test_bad_devices_are_refused_by_name(change: dict[str, float], field: str) -> None:
    with pytest.raises(ParameterError) as err:
        dataclasses.replace(WEAK, **change)
    assert err.value.field == field


def test_a_receiver_transmittance_outside_zero_one_is_refused() -> None:
    with pytest.raises(ParameterError, match="receiver_transmittance"):
        teleportation_events(WEAK, np.array([0.5, 1.2]))
