"""Sending-or-not-sending TF-QKD (Wang, Yu, Hu, PRA 98, 062323 (2018)) against closed forms and bounds.

Closed forms used as independent checks:
* one-sided pulse, no dark counts: ``S = 2 e^{-eta mu/2} - 2 e^{-eta mu}`` (one photon field split over two
  detectors, exactly one clicks); two random-phase pulses: ``2 e^{-eta mu} I_0(eta mu) - 2 e^{-2 eta mu}``;
* the untagged single photon: ``s_1 = eta`` and, phase-matched within a slice of width ``D``, an error rate
  ``(1 - sinc(D/2))/2`` (the wrong output of a balanced splitter has probability ``sin^2(delta/2)``);
* the decoy bounds must bracket these true values for every channel and device (they are bounds), and
  become tight as the decoy intensities go to zero (the infinite-decoy limit);
* asymptotically the rate scales as ``sqrt(eta_total)``: the slope of ``log R`` against ``log eta`` is 1/2
  (Lucamarini et al., Nature 557, 400 (2018)); a rate linear in ``eta`` would give 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from qinternet.errors import ParameterError
from qinternet.params.devices import DetectorParams
from qinternet.params.twinfield import InterferenceStationParams, SnsSourceParams
from qinternet.qkd.bounds import plob_bound
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.tf_clicks import matched_clicks, random_phase_gain
from qinternet.qkd.twinfield import (
    optimise_sns,
    sns_decoy_estimate,
    sns_key_rate,
    sns_optimal_key_rate,
)

SOURCE = SnsSourceParams(z_window_prob=0.9, sending_prob=0.1, signal_intensity=0.4, decoy_intensities=(0.02, 0.2))
NOISY = InterferenceStationParams(
    detector=DetectorParams(efficiency=0.8, dark_count_prob=1e-10), misalignment_error=0.03
)
QUIET = InterferenceStationParams(detector=DetectorParams(efficiency=1.0, dark_count_prob=0.0))


def arm(loss_db: float) -> float:
    return 10.0 ** (-loss_db / 10.0)


def test_random_phase_gains_match_their_closed_forms() -> None:
    eta, mu = 0.3, 0.5
    one_sided = 2.0 * math.exp(-eta * mu / 2) - 2.0 * math.exp(-eta * mu)
    assert float(random_phase_gain(eta, eta, mu, 0.0, 0.0)) == pytest.approx(one_sided, rel=1e-13)
    both = 2.0 * math.exp(-eta * mu) * special.i0(eta * mu) - 2.0 * math.exp(-2.0 * eta * mu)
    assert float(random_phase_gain(eta, eta, mu, mu, 0.0)) == pytest.approx(both, rel=1e-13)
    # A full-turn "slice" is a random phase: the quadrature and the Bessel form agree.
    full = matched_clicks(
        0.2,
        0.05,
        0.4,
        0.3,
        dark_count_prob=1e-3,
        misalignment_error=0.0,
        phase_noise_rad=0.0,
        phase_slice_rad=2 * math.pi,
    )
    assert float(full.gain) == pytest.approx(float(random_phase_gain(0.2, 0.05, 0.4, 0.3, 1e-3)), rel=1e-10)


def test_small_gains_keep_their_digits() -> None:
    # 2 (1-p_d) e^{-x/2} - 2 (1-p_d)^2 e^{-x} computed as written loses ~7 of its 16 digits at x = 5e-10;
    # its Taylor series 2 p_d (1-p_d) + (1-p_d)(1-2 p_d) x - (1-p_d)(3/4 - p_d) x^2 does not.
    eta, mu, p_d = 1e-9, 0.5, 1e-12
    x = eta * mu
    expected = 2 * p_d * (1 - p_d) + (1 - p_d) * (1 - 2 * p_d) * x - (1 - p_d) * (0.75 - p_d) * x**2
    assert float(random_phase_gain(eta, eta, mu, 0.0, p_d)) == pytest.approx(expected, rel=1e-9)


def test_zero_noise_phase_error_tends_to_the_slice_closed_form() -> None:
    slice_rad = 2 * math.pi / 8
    station = InterferenceStationParams(
        detector=DetectorParams(efficiency=1.0, dark_count_prob=0.0), phase_slice_rad=slice_rad
    )
    closed = 0.5 * (1.0 - math.sin(slice_rad / 2) / (slice_rad / 2))
    eta = 1e-4
    estimates = [sns_decoy_estimate(eta, eta, (m, 2 * m), station) for m in (1e-2, 1e-3, 1e-4)]
    for e in estimates:
        assert float(e.phase_error) == pytest.approx(closed, rel=1e-12)  # the click model's true value
        assert float(e.untagged_yield) == pytest.approx(eta, rel=1e-12)
    gaps = [float(e.phase_error_upper) - closed for e in estimates]
    assert all(g >= 0 for g in gaps)
    assert gaps[0] > gaps[1] > gaps[2]  # the bound tightens as the decoys shrink
    assert float(estimates[-1].phase_error_upper) == pytest.approx(closed, rel=1e-3)
    assert float(estimates[-1].untagged_yield_lower) == pytest.approx(eta, rel=1e-3)


def test_phase_locked_noise_free_link_has_no_phase_error() -> None:
    station = InterferenceStationParams(
        detector=DetectorParams(efficiency=1.0, dark_count_prob=0.0), phase_slice_rad=1e-6
    )
    estimate = sns_decoy_estimate(0.01, 0.01, (0.05, 0.2), station)
    assert float(estimate.phase_error) == pytest.approx(0.0, abs=1e-12)
    assert float(estimate.phase_error_upper) == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    eta_a=st.floats(-10, 0).map(lambda x: 10**x),
    eta_b=st.floats(-10, 0).map(lambda x: 10**x),
    dark=st.floats(-12, -3).map(lambda x: 10**x),
    misalignment=st.floats(0.0, 0.2),
    noise=st.floats(0.0, 1.0),
    slice_rad=st.floats(0.01, 2 * math.pi),
    mu_1=st.floats(-3, 0).map(lambda x: 10**x),
    ratio=st.floats(0.05, 1.5).map(lambda x: 10**x),
)
def test_decoy_bounds_bracket_the_true_values(
    eta_a: float,
    eta_b: float,
    dark: float,
    misalignment: float,
    noise: float,
    slice_rad: float,
    mu_1: float,
    ratio: float,
) -> None:
    station = InterferenceStationParams(
        detector=DetectorParams(efficiency=1.0, dark_count_prob=dark),
        misalignment_error=misalignment,
        phase_noise_rad=noise,
        phase_slice_rad=slice_rad,
    )
    e = sns_decoy_estimate(eta_a, eta_b, (mu_1, mu_1 * ratio), station)
    assert float(e.untagged_yield_lower) <= float(e.untagged_yield) * (1 + 1e-9)
    assert float(e.phase_error_upper) >= float(e.phase_error) - 1e-9


def test_z_window_error_rate_is_the_both_or_neither_fraction() -> None:
    # No dark counts: errors only when both send, E_z = eps^2 S_zz / S_z with the closed-form gains.
    eta, mu, eps = 1e-3, 0.4, 0.1
    source = SnsSourceParams(z_window_prob=0.5, sending_prob=eps, signal_intensity=mu, decoy_intensities=(0.01, 0.1))
    point = sns_key_rate(eta, eta, source, QUIET, ec_efficiency=1.0)
    one = 2.0 * math.exp(-eta * mu / 2) - 2.0 * math.exp(-eta * mu)
    both = 2.0 * math.exp(-eta * mu) * special.i0(eta * mu) - 2.0 * math.exp(-2.0 * eta * mu)
    gain = 2 * eps * (1 - eps) * one + eps**2 * both
    assert point.z_gain == pytest.approx(gain, rel=1e-10)
    assert point.z_error_rate == pytest.approx(eps**2 * both / gain, rel=1e-10)
    # ...and the rate is the key formula on those numbers: p_z^2 {n_1 [1 - H(e)] - f S_z H(E_z)}.
    n_1 = 2 * eps * (1 - eps) * mu * math.exp(-mu) * point.untagged_yield_lower
    expected = 0.25 * (
        n_1 * (1 - float(binary_entropy(point.phase_error_upper))) - gain * float(binary_entropy(point.z_error_rate))
    )
    assert point.key_rate_per_pulse == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(("station", "upper_db"), [(QUIET, 60.0), (NOISY, 40.0)])
def test_rate_scales_as_the_square_root_of_the_transmittance(
    station: InterferenceStationParams, upper_db: float
) -> None:
    # Arm losses of upper_db and upper_db + 10: the total transmittance falls 100-fold, the rate 10-fold.
    # With dark counts (p_d = 1e-10) the test stays at arm losses where the signal (~1e-4) dwarfs them.
    rates = [
        optimise_sns(arm(db), arm(db), SOURCE, station, ec_efficiency=1.1).key_rate_per_pulse
        for db in (upper_db, upper_db + 10)
    ]
    slope = math.log(rates[0] / rates[1]) / math.log(arm(2 * upper_db) / arm(2 * upper_db + 20))
    assert slope == pytest.approx(0.5, abs=0.01)


def test_dark_counts_end_the_square_root_regime() -> None:
    # Near the cut-off the rate falls faster than sqrt(eta): the slope steepens beyond 1/2.
    rates = [optimise_sns(arm(db), arm(db), SOURCE, NOISY, ec_efficiency=1.1).key_rate_per_pulse for db in (62, 64)]
    assert rates[1] > 0
    slope = math.log(rates[0] / rates[1]) / math.log(arm(124) / arm(128))
    assert slope > 0.7


def test_beats_the_plob_bound_of_the_whole_fibre_beyond_a_crossover() -> None:
    loss_db_per_km = 0.16
    lengths = np.arange(50.0, 901.0, 50.0)  # total fibre, split evenly between the arms
    eta_arm = arm(loss_db_per_km * lengths / 2)
    rates = sns_optimal_key_rate(eta_arm, eta_arm, SOURCE, NOISY, ec_efficiency=1.1)
    plob = plob_bound(eta_arm**2)
    above = rates > plob
    assert not above[0]  # at 50 km a repeaterless protocol with ideal devices does far better
    crossover = lengths[int(np.argmax(above))]
    # In the sqrt regime R = C sqrt(eta_T) with C = R / sqrt(eta_T) measured at 500 km; PLOB ~ eta_T / ln 2,
    # so they cross where sqrt(eta_T) = C ln 2: about 300 km here. The grid is 50 km wide.
    c = rates[lengths == 500.0][0] / eta_arm[lengths == 500.0][0]
    predicted_km = -20.0 * math.log10(c * math.log(2.0)) / loss_db_per_km
    assert abs(crossover - predicted_km) <= 50.0
    keyed = rates > 0
    assert np.all(above[(lengths >= crossover) & keyed])  # and stays above while there is key
    assert keyed[lengths <= 850.0].all()


def test_vectorised_rate_equals_pointwise_optimisation() -> None:
    etas = np.array([[arm(20.0), arm(35.0)], [arm(50.0), arm(70.0)]])
    rates = sns_optimal_key_rate(etas, etas / 2, SOURCE, NOISY, ec_efficiency=1.1)
    assert rates.shape == (2, 2)
    for index in np.ndindex(etas.shape):
        point = optimise_sns(float(etas[index]), float(etas[index]) / 2, SOURCE, NOISY, ec_efficiency=1.1)
        assert rates[index] == pytest.approx(point.key_rate_per_pulse, rel=1e-12)


def test_optimum_beats_its_neighbours_and_the_source_settings() -> None:
    eta = arm(30.0)
    best = optimise_sns(eta, eta, SOURCE, NOISY, ec_efficiency=1.1)
    assert best.key_rate_per_pulse > sns_key_rate(eta, eta, SOURCE, NOISY, ec_efficiency=1.1).key_rate_per_pulse
    for d_mu, d_eps in ((1.05, 1.0), (0.95, 1.0), (1.0, 1.05), (1.0, 0.95)):
        nearby = SnsSourceParams(
            z_window_prob=SOURCE.z_window_prob,
            sending_prob=best.sending_prob * d_eps,
            signal_intensity=best.signal_intensity * d_mu,
            decoy_intensities=SOURCE.decoy_intensities,
        )
        assert sns_key_rate(eta, eta, nearby, NOISY, ec_efficiency=1.1).key_rate_per_pulse <= best.key_rate_per_pulse


def test_asymmetric_arms_cost_key() -> None:
    # Same total loss, split 20/40 dB instead of 30/30: the interference loses visibility.
    even = optimise_sns(arm(30.0), arm(30.0), SOURCE, NOISY, ec_efficiency=1.1).key_rate_per_pulse
    lopsided = optimise_sns(arm(20.0), arm(40.0), SOURCE, NOISY, ec_efficiency=1.1).key_rate_per_pulse
    assert 0 < lopsided < even


def test_point_is_a_json_ready_record() -> None:
    point = optimise_sns(arm(30.0), arm(30.0), SOURCE, NOISY, ec_efficiency=1.1)
    data = point.to_dict()
    assert data["key_rate_per_pulse"] == point.key_rate_per_pulse
    assert set(data) >= {"eta_a", "eta_b", "signal_intensity", "sending_prob", "phase_error_upper"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"eta_a": 0.0}, "eta_a"),
        ({"eta_a": 1.5}, "eta_a"),
        ({"eta_b": float("nan")}, "eta_b"),
        ({"eta_b": np.array([0.1, -0.1])}, "eta_b"),
        ({"ec_efficiency": 0.9}, "ec_efficiency"),
        ({"ec_efficiency": float("inf")}, "ec_efficiency"),
    ],
)
def test_bad_channel_or_code_is_refused(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"eta_a": 0.01, "eta_b": 0.01, "ec_efficiency": 1.1}
    args.update(kwargs)
    with pytest.raises(ParameterError) as info:
        sns_optimal_key_rate(args["eta_a"], args["eta_b"], SOURCE, NOISY, ec_efficiency=args["ec_efficiency"])  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("decoys", "field"), [((0.0, 0.2), "decoys[0]"), ((0.1, float("nan")), "decoys[1]"), ((0.2, 0.1), "decoys")]
)
def test_decoy_estimate_refuses_bad_decoys(decoys: tuple[float, float], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        sns_decoy_estimate(0.01, 0.01, decoys, NOISY)
    assert info.value.field == field
