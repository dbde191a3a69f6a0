"""BBM92 with an SPDC source in the middle, the single-photon rate, and the repeaterless bounds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params import PairStatistics, QkdSystem
from qinternet.physics import pair_number_pmf
from qinternet.physics.channels import fibre_channel
from qinternet.qkd.bbm92 import (
    arm_transmittance,
    bbm92_observables,
    bbm92_observables_arms,
    fibre_arm,
    fibre_arms,
    ma_fung_lo_observables,
    party_transmittance,
)
from qinternet.qkd.bounds import plob_bound, tgw_bound
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.keyrate import Protocol, fibre_link_channel, key_rate


def _no_dark_counts(system: QkdSystem) -> QkdSystem:
    return dataclasses.replace(system, detector=dataclasses.replace(system.detector, dark_count_prob=0.0))


@pytest.mark.parametrize("distance", [0.0, 60.0, 150.0])
@pytest.mark.parametrize("pairs", [0.01, 0.1, 0.8])
def test_bbm92_matches_ma_fung_lo_closed_forms(gys: QkdSystem, distance: float, pairs: float) -> None:
    eta = arm_transmittance(gys, fibre_channel(gys.fibre, distance))
    y0 = gys.detector.background_yield
    ours = bbm92_observables(gys, fibre_channel(gys.fibre, distance), pairs)
    theirs = ma_fung_lo_observables(eta, eta, y0, y0, gys.misalignment_error, pairs / 2)
    assert float(ours.gain) == pytest.approx(float(theirs.gain), rel=1e-9)  # eq. (9): exact
    # Two modelling differences, both beyond first order: (1) a dark count can join a coincidence as a
    # double click (probability ~p_d); eq. (10) leaves such events the signal's error, we give them a
    # random bit, so E differs by at most Y0. (2) MFL model misalignment as a rotation of Bob's
    # polarisation modes, we flip each photon independently; the two agree to first order in lambda,
    # so the difference is bounded by e_d lambda^2.
    lam = pairs / 2
    assert float(ours.error_rate) == pytest.approx(float(theirs.error_rate), abs=y0 + gys.misalignment_error * lam**2)


@pytest.mark.parametrize(("length_a", "length_b"), [(0.0, 40.0), (5.0, 25.0), (30.0, 2.0)])
def test_unequal_arms_match_ma_fung_lo_closed_form_gain(gys: QkdSystem, length_a: float, length_b: float) -> None:
    """Eq. (9) of Ma, Fung, Lo (2007) holds for any eta_A, eta_B: a source nearer one user."""
    eta_a, eta_b = (
        party_transmittance(gys, fibre_arm(gys, length_a)),
        party_transmittance(gys, fibre_arm(gys, length_b)),
    )
    y0 = gys.detector.background_yield
    ours = bbm92_observables_arms(gys, fibre_arms(gys, length_a, length_b), 0.1)
    theirs = ma_fung_lo_observables(eta_a, eta_b, y0, y0, gys.misalignment_error, 0.05)
    assert float(ours.gain) == pytest.approx(float(theirs.gain), rel=1e-9)


def test_equal_arms_are_the_source_in_the_middle(gys: QkdSystem) -> None:
    middle = bbm92_observables(gys, fibre_channel(gys.fibre, 60.0), 0.2)
    arms = bbm92_observables_arms(gys, fibre_arms(gys, 30.0, 30.0), 0.2)
    assert float(arms.gain) == pytest.approx(float(middle.gain), rel=1e-12)
    assert float(arms.error_rate) == pytest.approx(float(middle.error_rate), rel=1e-12)


def test_bbm92_error_agrees_with_ma_fung_lo_to_first_order_in_lambda(gys: QkdSystem) -> None:
    clean = _no_dark_counts(gys)
    for lam in (1e-3, 5e-3):
        eta = arm_transmittance(clean, fibre_channel(clean.fibre, 20.0))
        exact = float(bbm92_observables(clean, fibre_channel(clean.fibre, 20.0), 2 * lam).error_rate)
        closed = float(ma_fung_lo_observables(eta, eta, 0.0, 0.0, clean.misalignment_error, lam).error_rate)
        assert exact == pytest.approx(closed, rel=lam)


@pytest.mark.parametrize("statistics", list(PairStatistics))
def test_bbm92_gain_equals_the_pair_number_sum(gys: QkdSystem, statistics: PairStatistics) -> None:
    # Independent check (Ma, Fung, Lo 2007, eq. (7)): Q = sum_n P(n) Y_n^A Y_n^B.
    system = dataclasses.replace(gys, spdc=dataclasses.replace(gys.pair_source, statistics=statistics))
    distance, pairs = 40.0, 0.3
    eta = float(arm_transmittance(system, fibre_channel(system.fibre, distance)))
    y0 = system.detector.background_yield
    n = np.arange(0, 200)
    side = 1.0 - (1.0 - y0) * (1.0 - eta) ** n
    expected = float(np.sum(pair_number_pmf(n, pairs, statistics) * side * side))
    assert float(bbm92_observables(system, fibre_channel(system.fibre, distance), pairs).gain) == pytest.approx(
        expected, rel=1e-10
    )


def test_bbm92_rate_uses_ma_fung_lo_eq_11(gys: QkdSystem) -> None:
    point = key_rate(Protocol.BBM92, gys, fibre_link_channel(gys, 50.0), intensity=0.1)
    assert point.gain is not None
    assert point.qber is not None
    h = float(binary_entropy(point.qber))
    assert point.key_rate_per_pulse == pytest.approx(0.5 * point.gain * (1 - 1.22 * h - h), rel=1e-12)


def test_bbm92_with_source_in_the_middle_outlasts_decoy_bb84(gys: QkdSystem) -> None:
    # Entanglement-based QKD tolerates more loss (Ma, Fung, Lo 2007, abstract): the source in the
    # middle halves the loss each photon sees.
    assert key_rate(Protocol.BBM92, gys, fibre_link_channel(gys, 200.0)).key_rate_per_pulse > 0
    assert key_rate(Protocol.DECOY_BB84, gys, fibre_link_channel(gys, 200.0)).key_rate_per_pulse == 0
    assert key_rate(Protocol.BBM92, gys, fibre_link_channel(gys, 300.0)).key_rate_per_pulse == 0


def test_single_photon_rate_is_shor_preskill(gys: QkdSystem) -> None:
    point = key_rate(Protocol.BB84_SINGLE_PHOTON, gys, fibre_link_channel(gys, 70.0))
    eta = 0.045 * 10 ** (-0.21 * 70 / 10)
    y1 = 1.7e-6 + eta
    e1 = (0.85e-6 + 0.033 * eta) / y1
    h = float(binary_entropy(e1))
    assert point.key_rate_per_pulse == pytest.approx(0.5 * y1 * (1 - h - 1.22 * h), rel=1e-3)
    assert point.signal_intensity is None


def test_plob_and_tgw_closed_forms() -> None:
    assert float(plob_bound(0.5)) == pytest.approx(1.0)
    assert float(tgw_bound(1 / 3)) == pytest.approx(1.0)
    eta = np.geomspace(1e-8, 1e-4, 5)
    np.testing.assert_allclose(plob_bound(eta), eta / np.log(2), rtol=1e-4)  # ~1.44 eta
    np.testing.assert_allclose(tgw_bound(eta), 2 * eta / np.log(2), rtol=1e-4)  # ~2.89 eta
    assert np.all(tgw_bound(eta) > plob_bound(eta))


def test_bounds_use_the_channel_not_the_detectors(gys: QkdSystem) -> None:
    point = key_rate(Protocol.PLOB, gys, fibre_link_channel(gys, 100.0))
    assert point.channel_transmittance == pytest.approx(10**-2.1)
    assert point.key_rate_per_pulse == pytest.approx(float(plob_bound(10**-2.1)))
    assert key_rate(Protocol.PLOB, gys, fibre_link_channel(gys, 0.0)).key_rate_per_pulse == np.inf


@pytest.mark.parametrize("field", ["dead_time_s", "after_pulse_prob"])
def test_bbm92_refuses_detector_effects_it_does_not_model(gys: QkdSystem, field: str) -> None:
    changed = dataclasses.replace(gys, detector=dataclasses.replace(gys.detector, **{field: 1e-3}))
    with pytest.raises(ParameterError) as caught:
        key_rate(Protocol.BBM92, changed, fibre_link_channel(changed, 10.0))
    assert caught.value.field == f"detector.{field}"


def test_background_at_one_party_matches_ma_fung_lo_with_unequal_y0(gys: QkdSystem) -> None:
    """Eq. (9) with Y0_A != Y0_B: a background per detector raises that party's background yield only."""
    d, background = gys.detector.dark_count_prob, 1e-3
    ours = bbm92_observables_arms(gys, fibre_arms(gys, 10.0, 20.0), 0.1, background_a=background)
    y0_a = 1 - ((1 - d) * (1 - background)) ** 2
    y0_b = 1 - (1 - d) ** 2
    eta_a, eta_b = party_transmittance(gys, fibre_arm(gys, 10.0)), party_transmittance(gys, fibre_arm(gys, 20.0))
    theirs = ma_fung_lo_observables(eta_a, eta_b, y0_a, y0_b, gys.misalignment_error, 0.05)
    assert float(ours.gain) == pytest.approx(float(theirs.gain), rel=1e-9)
    assert float(ours.error_rate) > float(bbm92_observables_arms(gys, fibre_arms(gys, 10.0, 20.0), 0.1).error_rate)


def test_the_symmetric_error_fraction_vanishes_at_the_shor_preskill_threshold() -> None:
    """With ideal error correction (f = 1) ``1 - 2 H2(e)`` is 0 at e = 11.0028 % (Shor, Preskill, PRL 85, 441 (2000):
    "about 11 %"); the BBM92 engine's fraction floors it at 0 above."""
    from qinternet.qkd.bbm92 import bbm92_key_fraction
    from qinternet.qkd.entropy import symmetric_error_key_fraction

    assert float(symmetric_error_key_fraction(0.110028, 1.0)) == pytest.approx(0.0, abs=1e-5)
    assert float(symmetric_error_key_fraction(0.10, 1.0)) > 0 > float(symmetric_error_key_fraction(0.12, 1.0))
    assert float(bbm92_key_fraction(0.12, 1.0)) == 0.0
