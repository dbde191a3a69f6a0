"""AOPP for SNS TF-QKD (Xu, Yu, Jiang, Hu, Wang, PRA 101, 042330 (2020)) against simulation and closed forms.

Independent checks:
* the pairing formulas against a direct simulation of the protocol on bit arrays: Bob pairs a random bit 0
  with a random bit 1, Alice's parity decides; the counts of a single draw have binomial-like spreads, and
  each check allows 5 standard deviations (false alarm below 1e-6 per check);
* the phase error of the kept bit, ``2 e (1 - e)``, against the XOR of simulated phase flips;
* the 3-intensity decoy bound against Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), eq. (34), which it must equal
  when the Z state is a plain coherent state (``epsilon = 1``), and against the true yields it must bracket;
* the rate: ``sqrt(eta)`` scaling (Lucamarini et al., Nature 557, 400 (2018)) and the distance AOPP adds to
  plain SNS, which Xu et al.'s abstract puts at "70 kilometers to more than 100 kilometers".
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinternet.errors import ParameterError
from qinternet.params.devices import DetectorParams
from qinternet.params.twinfield import InterferenceStationParams, Sns3SourceParams, SnsSourceParams
from qinternet.qkd.decoy import two_decoy_bounds
from qinternet.qkd.tf_aopp import (
    aopp_decoy_estimate,
    aopp_key_rate,
    aopp_optimal_key_rate,
    aopp_rate,
    odd_parity_pairing,
    optimise_aopp,
    paired_phase_error,
    untagged_yield_lower,
    z_window_events,
)
from qinternet.qkd.tf_clicks import random_phase_gain
from qinternet.qkd.twinfield import optimise_sns

STATION = InterferenceStationParams(
    detector=DetectorParams(efficiency=0.6, dark_count_prob=2e-11), misalignment_error=0.04
)
SOURCE = Sns3SourceParams(z_window_prob=0.8, sending_prob=0.2, signal_intensity=0.45, decoy_intensity=0.05)
SIGMAS = 5.0


def arm(loss_db: float) -> float:
    return 10.0 ** (-loss_db / 10.0)


def simulate_pairing(
    rng: np.random.Generator, n_0: int, n_1: int, wrong: tuple[int, int], untagged: tuple[int, int]
) -> tuple[int, int, int]:
    """Run AOPP on explicit bits: (survivors, wrong survivors, untagged pairs).

    Bob's ``n_0`` bits 0 hold ``wrong[0]`` errors and ``untagged[0]`` untagged bits (never wrong), likewise
    his bits 1. He pairs a random bit 0 with a random bit 1 until one kind runs out.
    """

    def bits(n: int, k_wrong: int, k_untagged: int) -> tuple[np.ndarray, np.ndarray]:
        is_wrong = np.zeros(n, dtype=bool)
        is_untagged = np.zeros(n, dtype=bool)
        is_wrong[:k_wrong] = True
        is_untagged[k_wrong : k_wrong + k_untagged] = True
        order = rng.permutation(n)
        return is_wrong[order], is_untagged[order]

    wrong_0, untagged_0 = bits(n_0, wrong[0], untagged[0])
    wrong_1, untagged_1 = bits(n_1, wrong[1], untagged[1])
    pairs = min(n_0, n_1)
    wrong_0, untagged_0 = wrong_0[:pairs], untagged_0[:pairs]
    wrong_1, untagged_1 = wrong_1[:pairs], untagged_1[:pairs]
    survive = wrong_0 == wrong_1  # Alice's parity is odd too exactly when both or neither bit is wrong
    return int(survive.sum()), int((survive & wrong_0).sum()), int((untagged_0 & untagged_1).sum())


def test_pairing_formulas_match_a_simulation_of_the_protocol() -> None:
    n_0, n_1 = 20_000, 15_000
    wrong, untagged = (5_000, 1_500), (6_000, 5_250)
    survivors, wrong_survivors, untagged_pairs = simulate_pairing(np.random.default_rng(1), n_0, n_1, wrong, untagged)
    out = odd_parity_pairing(n_0, n_1, wrong[0], wrong[1], untagged[0], untagged[1])
    assert float(out.pairs) == 15_000
    # Each count is a sum over 15,000 pairs of indicators; its variance is at most that of a binomial.
    for simulated, expected in (
        (survivors, float(out.survivors)),
        (wrong_survivors, float(out.survivors * out.error_rate)),
        (untagged_pairs, float(out.untagged_pairs)),
    ):
        p = expected / 15_000
        assert abs(simulated - expected) < SIGMAS * math.sqrt(15_000 * p * (1 - p))
    e_0, e_1 = wrong[0] / n_0, wrong[1] / n_1
    assert float(out.error_rate) == pytest.approx(e_0 * e_1 / ((1 - e_0) * (1 - e_1) + e_0 * e_1), rel=1e-12)


def test_pairing_is_the_same_for_counts_and_for_rates() -> None:
    counts = odd_parity_pairing(2e6, 1.5e6, 5e5, 1e5, 4e5, 3e5)
    rates = odd_parity_pairing(2e-6, 1.5e-6, 5e-7, 1e-7, 4e-7, 3e-7)
    for field in ("pairs", "survivors", "untagged_pairs"):
        assert float(getattr(counts, field)) * 1e-12 == pytest.approx(float(getattr(rates, field)), rel=1e-12)
    assert float(counts.error_rate) == pytest.approx(float(rates.error_rate), rel=1e-12)


def test_pairing_of_nothing_leaves_nothing() -> None:
    out = odd_parity_pairing(0.0, 1e3, 0.0, 10.0, 0.0, 100.0)
    assert float(out.pairs) == float(out.survivors) == float(out.untagged_pairs) == 0.0
    assert float(out.error_rate) == 0.0


@pytest.mark.parametrize("e", [0.02, 0.1, 0.3])
def test_kept_bit_phase_error_is_the_xor_of_two(e: float) -> None:
    n = 200_000
    rng = np.random.default_rng(5)
    flips = (rng.random(n) < e) ^ (rng.random(n) < e)
    expected = float(paired_phase_error(e))
    assert expected == pytest.approx(2 * e * (1 - e), rel=1e-15)
    assert abs(flips.mean() - expected) < SIGMAS * math.sqrt(expected * (1 - expected) / n)
    assert float(paired_phase_error(0.5)) == 0.5
    assert float(paired_phase_error(0.0)) == 0.0


def test_three_intensity_bound_is_ma_eq_34_for_a_coherent_strong_decoy() -> None:
    eta, p_d, mu_1, mu_z = 1e-3, 1e-7, 0.05, 0.4
    vacuum = random_phase_gain(eta, eta, 0.0, 0.0, p_d)
    weak = random_phase_gain(eta, eta, mu_1, 0.0, p_d)
    strong = random_phase_gain(eta, eta, mu_z, 0.0, p_d)
    ours = untagged_yield_lower(weak, strong, vacuum, mu_1=mu_1, mu_z=mu_z, sending_prob=1.0)
    ma = two_decoy_bounds(mu_z, mu_1, 0.0, (strong, weak, vacuum), (0.0, 0.0)).single_photon_yield_lower
    assert float(ours) == pytest.approx(float(ma), rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    loss_a=st.floats(0.0, 90.0),
    loss_b=st.floats(0.0, 90.0),
    p_d=st.floats(0.0, 1e-6),
    mu_1=st.floats(1e-3, 0.3),
    ratio=st.floats(1.2, 20.0),
    eps=st.floats(0.01, 0.9),
    e_d=st.floats(0.0, 0.2),
)
def test_decoy_bounds_bracket_the_true_values(
    loss_a: float, loss_b: float, p_d: float, mu_1: float, ratio: float, eps: float, e_d: float
) -> None:
    station = InterferenceStationParams(
        detector=DetectorParams(efficiency=0.7, dark_count_prob=p_d), misalignment_error=e_d
    )
    d = aopp_decoy_estimate(
        arm(loss_a), arm(loss_b), mu_1=mu_1, mu_z=min(mu_1 * ratio, 5.0), sending_prob=eps, station=station
    )
    for lower, true in zip(d.untagged_yield_lower, d.untagged_yield, strict=True):
        assert float(lower) <= float(true) * (1 + 1e-9) + 1e-300
    assert float(d.phase_error_upper) >= float(d.phase_error) * (1 - 1e-9)


def test_bounds_tighten_as_the_weak_decoy_vanishes_and_follow_each_arm() -> None:
    d = aopp_decoy_estimate(arm(30.0), arm(36.0), mu_1=1e-4, mu_z=0.45, sending_prob=0.25, station=STATION)
    (low_a, low_b), (true_a, true_b) = d.untagged_yield_lower, d.untagged_yield
    assert float(low_a) == pytest.approx(float(true_a), rel=1e-3)
    assert float(low_b) == pytest.approx(float(true_b), rel=1e-3)
    assert float(true_a) / float(true_b) == pytest.approx(arm(-6.0), rel=1e-3)  # Alice's arm is 6 dB better


def test_pairing_removes_most_errors_at_long_distance() -> None:
    point = optimise_aopp(arm(78.0), arm(78.0), SOURCE, STATION, ec_efficiency=1.16)
    assert point.key_rate_per_pulse > 0.0
    assert point.z_error_rate > 0.2  # dark counts and double sends: plain SNS pays H(0.28) for every bit
    assert point.error_rate_after_pairing < 0.1 * point.z_error_rate
    assert point.phase_error_after_pairing == pytest.approx(2 * point.phase_error_upper * (1 - point.phase_error_upper))
    assert point.untagged_pairs <= point.survivors <= point.pairs
    assert point.untagged_yield_lower <= point.untagged_yield
    assert point.to_dict()["key_rate_per_pulse"] == point.key_rate_per_pulse


def test_events_split_the_z_gain_by_bobs_bit() -> None:
    events = z_window_events(0.01, 0.02, 0.4, 0.2, 1e-6)
    none = float(random_phase_gain(0.01, 0.02, 0.0, 0.0, 1e-6))
    both = float(random_phase_gain(0.01, 0.02, 0.4, 0.4, 1e-6))
    assert float(events.one_wrong) == pytest.approx(0.64 * none, rel=1e-12)
    assert float(events.zero_wrong) == pytest.approx(0.04 * both, rel=1e-12)
    assert float(events.error_rate) == pytest.approx((0.64 * none + 0.04 * both) / float(events.gain), rel=1e-12)


def test_rate_scales_as_the_square_root_of_the_channel() -> None:
    quiet = InterferenceStationParams(
        detector=DetectorParams(efficiency=0.6, dark_count_prob=1e-12), misalignment_error=0.02
    )
    losses = np.array([20.0, 30.0])  # per arm
    rates = [optimise_aopp(arm(x), arm(x), SOURCE, quiet, ec_efficiency=1.1).key_rate_per_pulse for x in losses]
    slope = math.log(rates[1] / rates[0]) / math.log(arm(2 * losses[1]) / arm(2 * losses[0]))
    assert slope == pytest.approx(0.5, abs=0.03)


def test_aopp_extends_plain_sns_by_tens_of_kilometres() -> None:
    # A setting of the SNS literature: 0.2 dB/km, detector 30 %, 1e-10 dark counts, X error 10 %, f = 1.1.
    station = InterferenceStationParams(
        detector=DetectorParams(efficiency=0.3, dark_count_prob=1e-10), misalignment_error=0.1
    )
    three = Sns3SourceParams(z_window_prob=0.9, sending_prob=0.2, signal_intensity=0.45, decoy_intensity=0.01)
    four = SnsSourceParams(z_window_prob=0.9, sending_prob=0.2, signal_intensity=0.45, decoy_intensities=(0.01, 0.1))

    def aopp(km: float) -> float:
        return optimise_aopp(arm(0.1 * km), arm(0.1 * km), three, station, ec_efficiency=1.1).key_rate_per_pulse

    def sns(km: float) -> float:
        return optimise_sns(arm(0.1 * km), arm(0.1 * km), four, station, ec_efficiency=1.1).key_rate_per_pulse

    assert aopp(300.0) > 1.5 * sns(300.0) > 0.0
    assert sns(610.0) == 0.0 < aopp(650.0)  # at least 40 km more
    assert aopp(750.0) == 0.0  # and less than 150 km more: the model is not wildly optimistic


def test_fixed_settings_reproduce_the_optimum_and_arrays_match_points() -> None:
    eta = arm(60.0)
    best = optimise_aopp(eta, eta, SOURCE, STATION, ec_efficiency=1.16)
    again = aopp_key_rate(
        eta,
        eta,
        dataclasses.replace(SOURCE, signal_intensity=best.signal_intensity, sending_prob=best.sending_prob),
        STATION,
        ec_efficiency=1.16,
    )
    assert again.key_rate_per_pulse == pytest.approx(best.key_rate_per_pulse, rel=1e-12)
    assert best.key_rate_per_pulse >= aopp_key_rate(eta, eta, SOURCE, STATION, ec_efficiency=1.16).key_rate_per_pulse
    grid = aopp_optimal_key_rate(np.array([[eta], [arm(70.0)]]), eta, SOURCE, STATION, ec_efficiency=1.16)
    assert grid.shape == (2, 1)
    assert float(grid[0, 0]) == pytest.approx(best.key_rate_per_pulse, rel=1e-12)
    rates = aopp_rate(
        eta, eta, np.array([0.3, 0.45]), 0.2, mu_1=0.05, z_window_prob=0.8, station=STATION, ec_efficiency=1.16
    )
    assert rates.shape == (2,)


def test_no_key_point_keeps_the_source_settings() -> None:
    point = optimise_aopp(arm(150.0), arm(150.0), SOURCE, STATION, ec_efficiency=1.16)
    assert point.key_rate_per_pulse == 0.0
    assert (point.signal_intensity, point.sending_prob) == (SOURCE.signal_intensity, SOURCE.sending_prob)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: aopp_decoy_estimate(0.1, 0.1, mu_1=0.5, mu_z=0.4, sending_prob=0.2, station=STATION), "mu_z"),
        (lambda: aopp_decoy_estimate(0.1, 0.1, mu_1=0.0, mu_z=0.4, sending_prob=0.2, station=STATION), "mu_1"),
        (lambda: aopp_key_rate(0.0, 0.1, SOURCE, STATION, ec_efficiency=1.1), "eta_a"),
        (lambda: aopp_key_rate(0.1, 1.5, SOURCE, STATION, ec_efficiency=1.1), "eta_b"),
        (lambda: optimise_aopp(0.1, 0.1, SOURCE, STATION, ec_efficiency=0.9), "ec_efficiency"),
        (
            lambda: aopp_optimal_key_rate(np.ones(2) * 0.1, np.ones(3) * 0.1, SOURCE, STATION, ec_efficiency=1.1),
            "eta_b",
        ),
    ],
)
def test_bad_inputs_name_their_field(call: object, field: str) -> None:
    with pytest.raises(ParameterError) as info:
        call()  # type: ignore[operator]
    assert info.value.field == field
