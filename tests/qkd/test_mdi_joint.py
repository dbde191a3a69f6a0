"""Four-intensity MDI-QKD with joint constraints: the joint bounds, the estimator against the asymptotic decoy rate
and against the true single-photon quantities, and the optimiser of the intensities."""

from __future__ import annotations

import dataclasses
import doctest
import math

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params.devices import DetectorParams, FibreParams
from qinternet.params.mdi import BellStates, BsmLayout, BsmStationParams, MdiSourceParams, MdiSystem
from qinternet.qkd import mdi_joint
from qinternet.qkd.mdi import X, gain_and_error_weight, key_rate_decoy, single_photon_pair_probabilities, symmetric_arms
from qinternet.qkd.mdi_finite import decoy_pair_counts, expected_counts, expected_counts_for, source_weights
from qinternet.qkd.mdi_joint import (
    JOINT_ESTIMATES,
    Fluctuation,
    JointConstraintParams,
    expectation_bounds,
    four_intensity_key,
    four_intensity_key_rate,
    joint_bound,
    optimise_four_intensity,
)
from qinternet.qkd.mdi_montecarlo import compile_mdi, sample_counts

SOURCE = MdiSourceParams.four_intensity(
    signal=0.3, strong_decoy=0.25, weak_decoy=0.05, signal_prob=0.5, strong_decoy_prob=0.1, weak_decoy_prob=0.3
)
BSM = BsmStationParams(
    detector=DetectorParams(efficiency=0.6, dark_count_prob=1e-8),
    misalignment_error=0.015,
    layout=BsmLayout.TWO_DETECTORS,
    announced=BellStates.PSI_MINUS,
)
SYSTEM = MdiSystem(alice=SOURCE, bob=SOURCE, bsm=BSM, ec_efficiency=1.16)
FIBRE = FibreParams(loss_db_per_km=0.2)
CHERNOFF = JointConstraintParams(eps_estimate=0.05)
GAUSSIAN = JointConstraintParams(eps_estimate=0.05, fluctuation=Fluctuation.GAUSSIAN)


# --------------------------------------------------------------------------------------------------
# The joint bound.


@pytest.mark.parametrize("params", [CHERNOFF, GAUSSIAN])
def test_one_count_gets_its_own_bound_times_its_weight(params: JointConstraintParams) -> None:
    low, high = expectation_bounds(250.0, params)
    assert float(joint_bound([3.0], [250.0], params, upper=False)) == pytest.approx(3.0 * float(low), rel=1e-12)
    assert float(joint_bound([3.0], [250.0], params, upper=True)) == pytest.approx(3.0 * float(high), rel=1e-12)
    # Counts with a zero weight cost nothing.
    assert float(joint_bound([3.0, 0.0], [250.0, 1e6], params, upper=True)) == pytest.approx(3.0 * float(high))


@pytest.mark.parametrize("params", [CHERNOFF, GAUSSIAN])
def test_joint_bound_is_never_looser_than_bounding_each_count(params: JointConstraintParams) -> None:
    rng = np.random.default_rng(11)
    weights = rng.uniform(0.0, 5.0, size=(2_000, 4))
    counts = rng.integers(0, 5_000, size=(2_000, 4)).astype(float)
    low, high = expectation_bounds(counts, params)
    separate_low, separate_high = (weights * low).sum(axis=-1), (weights * high).sum(axis=-1)
    joint_low = joint_bound(weights, counts, params, upper=False)
    joint_high = joint_bound(weights, counts, params, upper=True)
    exact = (weights * counts).sum(axis=-1)
    assert np.all(joint_low >= separate_low - 1e-9 * exact)
    assert np.all(joint_high <= separate_high + 1e-9 * exact)
    assert np.all(joint_low <= exact)
    assert np.all(joint_high >= exact)
    # ... and strictly tighter when several counts carry weight (the fluctuation of a sum grows as its root).
    busy = (counts > 100).all(axis=-1) & (weights > 0.1).all(axis=-1)
    assert np.all(joint_low[busy] > separate_low[busy])
    assert np.all(joint_high[busy] < separate_high[busy])


def test_joint_chernoff_bounds_cover_the_weighted_expectation() -> None:
    # Three counts of Bernoulli sums; the joint bounds use k = 3 partial sums, so each side may fail with
    # probability <= 3 eps = 0.15. Over 40,000 draws the miss fraction of a side is at most 0.15 plus 5 standard
    # deviations of its estimate (sqrt(0.15 * 0.85 / 40,000) = 1.8e-3).
    draws, eps = 40_000, 0.05
    trials = np.array([4_000, 20_000, 1_000])
    p = np.array([0.01, 0.002, 0.05])
    weights = np.array([1.0, 3.0, 0.5])
    counts = np.random.default_rng(5).binomial(trials, p, size=(draws, 3)).astype(float)
    truth = float((weights * trials * p).sum())
    params = JointConstraintParams(eps_estimate=eps)
    limit = 3 * eps + 5 * math.sqrt(3 * eps * (1 - 3 * eps) / draws)
    assert np.mean(joint_bound(weights, counts, params, upper=False) > truth) <= limit
    assert np.mean(joint_bound(weights, counts, params, upper=True) < truth) <= limit


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(ParameterError, match=r"^eps_estimate: "):
        JointConstraintParams(eps_estimate=0.0)
    with pytest.raises(ParameterError, match=r"^fluctuation: "):
        JointConstraintParams(fluctuation="gaussian")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"^weights: "):
        joint_bound([1.0, -1.0], [3.0, 4.0], CHERNOFF, upper=False)
    with pytest.raises(ParameterError, match=r"^counts: "):
        joint_bound([1.0, 1.0], [3.0, float("nan")], CHERNOFF, upper=False)
    with pytest.raises(ParameterError, match=r"^weights: "):
        joint_bound(1.0, 3.0, CHERNOFF, upper=False)
    with pytest.raises(ParameterError, match=r"^source\.x_basis_probs: "):
        MdiSourceParams.four_intensity(
            signal=0.3, strong_decoy=0.25, weak_decoy=0.05, signal_prob=0.6, strong_decoy_prob=0.2, weak_decoy_prob=0.2
        )
    with pytest.raises(ParameterError, match=r"^source\.intensities: "):
        MdiSourceParams.four_intensity(
            signal=0.3, strong_decoy=0.05, weak_decoy=0.25, signal_prob=0.5, strong_decoy_prob=0.1, weak_decoy_prob=0.3
        )
    with pytest.raises(ParameterError, match=r"^eta_a: "):
        optimise_four_intensity(SYSTEM, 1.5, 0.1, block_pulse_pairs=1e12)


def test_failure_probability_counts_every_estimate() -> None:
    assert JointConstraintParams(eps_estimate=1e-10).failure_prob == pytest.approx(JOINT_ESTIMATES * 1e-10)
    assert JOINT_ESTIMATES == 4 + 3 + 2 + 2


# --------------------------------------------------------------------------------------------------
# The estimator.


def test_a_huge_block_gives_the_asymptotic_decoy_rate() -> None:
    # mdi.key_rate_decoy writes the same bounds in gains (Xu, Xu, Lo 2014): with 1e32 pulse pairs the
    # fluctuations (relative size sqrt(beta / count) < 1e-8) vanish and both must agree.
    eta_a, eta_b = symmetric_arms(FIBRE, np.array([20.0, 100.0, 200.0]))
    joint = four_intensity_key_rate(SYSTEM, eta_a, eta_b, block_pulse_pairs=1e32)
    asymptotic = key_rate_decoy(SYSTEM, eta_a, eta_b)
    np.testing.assert_allclose(joint.y11_lower, asymptotic.y11_z, rtol=1e-6)
    np.testing.assert_allclose(joint.e11_upper, asymptotic.e11_x, rtol=1e-6)
    np.testing.assert_allclose(joint.key_rate_per_pulse_pair, asymptotic.key_rate_per_pulse_pair, rtol=1e-6)
    np.testing.assert_allclose(joint.z_error_rate, asymptotic.z_error_rate, rtol=1e-9)


def test_bounds_from_sampled_counts_hold_the_true_single_photon_values() -> None:
    # 60 simulated blocks of 1e12 pulse pairs over 50 km per arm: Y11^L below the true Y11 and e11^U above the
    # true e11 every time (with eps = 1e-10 per estimate a failure in 60 blocks has probability < 1e-7).
    eta = float(symmetric_arms(FIBRE, 100.0)[0])
    sampler = compile_mdi(SYSTEM, eta, eta)
    rng = np.random.default_rng(2024)
    counts = [sample_counts(sampler, 10**12, rng) for _ in range(60)]
    stacked = dataclasses.replace(
        counts[0],
        sent=np.stack([c.sent for c in counts]),
        heralded=np.stack([c.heralded for c in counts]),
        errors=np.stack([c.errors for c in counts]),
    )
    key = four_intensity_key(stacked, SYSTEM, JointConstraintParams())
    ones = single_photon_pair_probabilities(BSM, eta, eta)
    y11_true, ey11_true = gain_and_error_weight(ones, X)
    assert np.all(key.y11_lower <= y11_true)
    assert np.all(key.e11_upper >= ey11_true / y11_true)
    assert np.all(key.key_rate_per_pulse_pair > 0.0)  # and the bounds are not vacuous


def test_more_data_and_looser_security_give_more_key() -> None:
    eta = float(symmetric_arms(FIBRE, 100.0)[0])
    rates = [
        float(four_intensity_key_rate(SYSTEM, eta, eta, block_pulse_pairs=n).key_rate_per_pulse_pair)
        for n in (1e11, 1e12, 1e13, 1e15)
    ]
    assert (
        0.0
        < rates[0]
        < rates[1]
        < rates[2]
        < rates[3]
        < float(key_rate_decoy(SYSTEM, eta, eta).key_rate_per_pulse_pair)
    )
    strict = four_intensity_key_rate(
        SYSTEM, eta, eta, block_pulse_pairs=1e12, params=JointConstraintParams(eps_estimate=1e-15)
    )
    loose = four_intensity_key_rate(
        SYSTEM, eta, eta, block_pulse_pairs=1e12, params=JointConstraintParams(eps_estimate=1e-6)
    )
    assert float(strict.key_rate_per_pulse_pair) < rates[1] < float(loose.key_rate_per_pulse_pair)
    assert float(rates[1] * 1e12) == pytest.approx(
        float(four_intensity_key_rate(SYSTEM, eta, eta, block_pulse_pairs=1e12).key_bits)
    )


def test_the_key_is_the_formula_of_its_parts() -> None:
    # R = (N_zz / N) [s^2 e^(-2s) Y11^L (1 - h(e11^U)) - f Q_zz h(E_zz)], Wei et al. PRX 10, 031030 (2020), (A1).
    from qinternet.qkd.entropy import binary_entropy

    eta = float(symmetric_arms(FIBRE, 120.0)[0])
    key = four_intensity_key_rate(SYSTEM, eta, eta, block_pulse_pairs=1e12)
    s, p_s = 0.3, 0.5
    expected = p_s**2 * (
        s * s * math.exp(-2 * s) * float(key.y11_lower) * (1 - float(binary_entropy(key.e11_upper)))
        - 1.16 * float(key.z_gain) * float(binary_entropy(key.z_error_rate))
    )
    assert float(key.key_rate_per_pulse_pair) == pytest.approx(expected, rel=1e-9)
    assert float(key.single_photon_pairs_lower) == pytest.approx(
        1e12 * p_s**2 * s * s * math.exp(-2 * s) * float(key.y11_lower)
    )


def test_gaussian_fluctuations_are_tighter_than_chernoff_for_large_counts() -> None:
    # n_sigma sqrt(x) against sqrt(2 beta x) + beta: with eps = 1e-10, n_sigma = 6.36 < sqrt(2 beta) = 6.79.
    eta = float(symmetric_arms(FIBRE, 150.0)[0])
    params = JointConstraintParams(eps_estimate=1e-10)
    chernoff = four_intensity_key_rate(SYSTEM, eta, eta, block_pulse_pairs=1e12, params=params)
    gaussian = four_intensity_key_rate(
        SYSTEM, eta, eta, block_pulse_pairs=1e12, params=dataclasses.replace(params, fluctuation=Fluctuation.GAUSSIAN)
    )
    assert float(chernoff.y11_lower) < float(gaussian.y11_lower)
    assert float(chernoff.key_rate_per_pulse_pair) < float(gaussian.key_rate_per_pulse_pair)


def test_vectorised_over_the_channel() -> None:
    eta_a, eta_b = symmetric_arms(FIBRE, np.array([50.0, 100.0, 150.0]))
    together = four_intensity_key_rate(SYSTEM, eta_a, eta_b, block_pulse_pairs=1e12)
    for i in range(3):
        alone = four_intensity_key_rate(SYSTEM, float(eta_a[i]), float(eta_b[i]), block_pulse_pairs=1e12)
        assert float(alone.key_rate_per_pulse_pair) == pytest.approx(float(together.key_rate_per_pulse_pair[i]))
    assert together.to_dict()["key_rate_per_pulse_pair"] == together.key_rate_per_pulse_pair.tolist()


# --------------------------------------------------------------------------------------------------
# The optimiser.


def test_the_fast_pair_counts_equal_the_general_counts() -> None:
    rng = np.random.default_rng(3)
    u = rng.uniform(0.05, 0.95, size=(5, 6))
    intensities, weights = mdi_joint._settings(u)
    eta = float(symmetric_arms(FIBRE, 150.0)[0])
    fast = mdi_joint._expected_pairs(BSM, intensities, weights, eta, eta, 1e13)
    general = decoy_pair_counts(
        expected_counts_for(BSM, intensities, intensities, weights, weights, eta, eta, 1e13), SYSTEM
    )
    for key in general.sent:
        np.testing.assert_allclose(fast.sent[key], general.sent[key], rtol=1e-12)
        np.testing.assert_allclose(fast.heralded[key], general.heralded[key], rtol=1e-12)
    for name in ("errors_nn", "z_sent", "z_heralded", "z_errors"):
        np.testing.assert_allclose(getattr(fast, name), getattr(general, name), rtol=1e-12)
    # The settings are the four-intensity layout: probabilities sum to 1, the weak decoy below the strong one.
    np.testing.assert_allclose(weights.sum(axis=(-1, -2)), 1.0)
    assert np.all(intensities[:, 2] < intensities[:, 1])
    np.testing.assert_allclose(source_weights(SOURCE).sum(), 1.0)


def test_the_optimum_beats_fixed_settings_and_its_neighbours() -> None:
    eta = float(symmetric_arms(FIBRE, 200.0)[0])
    optimum, key = optimise_four_intensity(SYSTEM, eta, eta, block_pulse_pairs=1e13)
    best = float(key.key_rate_per_pulse_pair)
    assert best > float(four_intensity_key_rate(SYSTEM, eta, eta, block_pulse_pairs=1e13).key_rate_per_pulse_pair)
    source = optimum.alice
    assert optimum.bob == source
    assert optimum.bsm == BSM
    assert optimum.ec_efficiency == 1.16
    settings = {
        "signal": source.intensities[0],
        "strong_decoy": source.intensities[1],
        "weak_decoy": source.intensities[2],
        "signal_prob": source.z_basis_probs[0],
        "strong_decoy_prob": source.x_basis_probs[1],
        "weak_decoy_prob": source.x_basis_probs[2],
    }
    for name in settings:
        for factor in (0.97, 1.03):
            moved = MdiSourceParams.four_intensity(**{**settings, name: settings[name] * factor})
            neighbour = dataclasses.replace(optimum, alice=moved, bob=moved)
            rate = float(four_intensity_key_rate(neighbour, eta, eta, block_pulse_pairs=1e13).key_rate_per_pulse_pair)
            assert rate <= best * (1 + 1e-3), (name, factor)
    # Deterministic: the same search gives the same settings.
    again, _ = optimise_four_intensity(SYSTEM, eta, eta, block_pulse_pairs=1e13)
    assert again == optimum


def test_without_any_key_the_system_comes_back_unchanged() -> None:
    eta = float(symmetric_arms(FIBRE, 600.0)[0])
    optimum, key = optimise_four_intensity(SYSTEM, eta, eta, block_pulse_pairs=1e10)
    assert optimum is SYSTEM
    assert float(key.key_rate_per_pulse_pair) == 0.0


def test_docstring_examples() -> None:
    assert doctest.testmod(mdi_joint).failed == 0
    assert float(expected_counts(SYSTEM, 0.1, 0.1, 1e9).pulse_pairs) == pytest.approx(1e9)
