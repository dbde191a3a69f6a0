"""Finite-key MDI-QKD: Chernoff intervals, and the key length against the asymptotic rate it must approach."""

from __future__ import annotations

import dataclasses
import doctest
import math

import numpy as np
import pytest

from qinternet.params.devices import DetectorParams, FibreParams
from qinternet.params.mdi import BsmStationParams, MdiSourceParams, MdiSystem
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.mdi import key_rate_decoy, optimise_signal_intensity, symmetric_arms
from qinternet.qkd.mdi_finite import (
    ESTIMATES,
    MdiFiniteKeyParams,
    asymptotic_estimate,
    chernoff_expectation_bounds,
    expected_counts,
    finite_key_length,
    finite_key_rate,
)

SOURCE = MdiSourceParams(
    intensities=(0.4, 0.2, 0.05, 0.0), z_basis_probs=(0.6, 0.0, 0.0, 0.0), x_basis_probs=(0.0, 0.1, 0.2, 0.1)
)
SYSTEM = MdiSystem(
    alice=SOURCE,
    bob=SOURCE,
    bsm=BsmStationParams(detector=DetectorParams(efficiency=0.6, dark_count_prob=1e-7), misalignment_error=0.015),
    ec_efficiency=1.16,
)
ETA = symmetric_arms(FibreParams(loss_db_per_km=0.2), np.array([10.0, 50.0, 100.0]))[0]


@pytest.mark.parametrize(("trials", "p"), [(50, 0.02), (2_000, 0.001), (10_000, 0.3), (100_000, 1e-4)])
def test_chernoff_intervals_cover_the_expectation(trials: int, p: float) -> None:
    # Each side may miss with probability at most eps. Over 40,000 binomial draws the miss fraction of a
    # side is at most eps + 5 sigma of its estimate (sigma = sqrt(eps (1 - eps) / 40,000) ~ 1.1e-3).
    eps, draws = 0.05, 40_000
    x = np.random.default_rng(7).binomial(trials, p, size=draws)
    low, high = chernoff_expectation_bounds(x, eps)
    mean = trials * p
    limit = eps + 5 * math.sqrt(eps * (1 - eps) / draws)
    assert np.mean(low > mean) <= limit
    assert np.mean(high < mean) <= limit
    # ... and they are not vacuous: the interval is within a few binomial standard deviations.
    assert np.median(high - low) < 8 * math.sqrt(mean) + 4 * math.log(1 / eps)


def test_expected_counts_give_back_the_asymptotic_decoy_rate() -> None:
    counts = expected_counts(SYSTEM, ETA, ETA, 1e12)
    from_counts = asymptotic_estimate(counts, SYSTEM)
    analytic = key_rate_decoy(SYSTEM, ETA, ETA)
    np.testing.assert_allclose(from_counts.key_rate_per_pulse_pair, analytic.key_rate_per_pulse_pair, rtol=1e-9)
    np.testing.assert_allclose(from_counts.y11_z, analytic.y11_z, rtol=1e-9)
    np.testing.assert_allclose(from_counts.e11_x, analytic.e11_x, rtol=1e-9)
    assert float(counts.pulse_pairs[0]) == pytest.approx(1e12)


def test_finite_key_grows_with_the_block_towards_the_asymptotic_rate() -> None:
    asymptotic = key_rate_decoy(SYSTEM, ETA, ETA).key_rate_per_pulse_pair
    blocks = [1e10, 1e11, 1e12, 1e14, 1e16, 1e20]
    ratios = np.array(
        [finite_key_rate(SYSTEM, ETA, ETA, block_pulse_pairs=n).key_rate_per_pulse_pair / asymptotic for n in blocks]
    )
    assert np.all(ratios <= 1.0)
    assert np.all(np.diff(ratios, axis=0) >= 0.0)
    assert np.all(ratios[-1] > 0.9999)  # the statistical terms vanish as 1/sqrt(N)
    assert ratios[0, 2] == 0.0  # 1e10 pulse pairs leave no key at 100 km


def test_key_length_is_the_formula_of_its_parts() -> None:
    params = MdiFiniteKeyParams(eps_sec=1e-9, eps_cor=1e-12)
    key = finite_key_rate(SYSTEM, 0.05, 0.05, block_pulse_pairs=1e12, params=params)
    length = (
        float(key.single_photon_events_lower) * (1 - float(binary_entropy(key.phase_error_upper)))
        - 1.16 * float(key.z_heralded) * float(binary_entropy(key.z_error_rate))
        - math.log2(2 / 1e-12)
        - 2 * math.log2(1 / (2 * params.eps_pa))
    )
    assert float(key.key_length_bits) == math.floor(length)
    assert float(key.key_rate_per_pulse_pair) == pytest.approx(math.floor(length) / 1e12)
    assert params.eps_pa + 2 * ESTIMATES * params.eps_pe == pytest.approx(1e-9)  # the whole secrecy budget
    # The bounds are looser than the expected values they bound.
    asymptotic = key_rate_decoy(SYSTEM, 0.05, 0.05)
    assert float(key.y11_lower) < float(asymptotic.y11_z)
    assert float(key.e11_upper) > float(asymptotic.e11_x)
    assert float(key.phase_error_upper) > float(key.e11_upper)


def test_stricter_security_costs_key() -> None:
    loose = finite_key_rate(SYSTEM, ETA, ETA, block_pulse_pairs=1e12, params=MdiFiniteKeyParams(eps_sec=1e-6))
    strict = finite_key_rate(SYSTEM, ETA, ETA, block_pulse_pairs=1e12, params=MdiFiniteKeyParams(eps_sec=1e-15))
    assert np.all(strict.key_length_bits < loose.key_length_bits)


def test_finite_key_is_vectorised_over_the_channel_and_the_signal() -> None:
    together = finite_key_rate(SYSTEM, ETA, ETA, block_pulse_pairs=1e12)
    for i, eta in enumerate(ETA):
        alone = finite_key_rate(SYSTEM, eta, eta, block_pulse_pairs=1e12)
        assert float(alone.key_length_bits) == float(together.key_length_bits[i])
    signals = np.array([0.2, 0.4, 0.6])
    swept = finite_key_rate(SYSTEM, 0.05, 0.05, block_pulse_pairs=1e12, signal_intensity=signals)
    replaced = dataclasses.replace(SYSTEM, alice=dataclasses.replace(SOURCE, intensities=(0.6, 0.2, 0.05, 0.0)))
    replaced = dataclasses.replace(replaced, bob=replaced.alice)
    assert float(swept.key_length_bits[2]) == float(
        finite_key_rate(replaced, 0.05, 0.05, block_pulse_pairs=1e12).key_length_bits
    )


def test_optimised_signal_for_a_finite_block() -> None:
    eta = float(ETA[2])

    def rate(s: np.ndarray) -> np.ndarray:
        return finite_key_rate(SYSTEM, eta, eta, block_pulse_pairs=1e12, signal_intensity=s).key_rate_per_pulse_pair

    best, value = optimise_signal_intensity(rate)
    assert value >= float(rate(np.linspace(0.05, 1.5, 300)).max()) * (1 - 1e-9)
    assert value > float(rate(np.array(0.4)))
    assert 0.1 < best < 1.0


def test_counts_must_fit_the_system() -> None:
    counts = expected_counts(SYSTEM, 0.05, 0.05, 1e9)
    three = MdiSourceParams(intensities=(0.4, 0.1, 0.0), z_basis_probs=(0.5, 0.0, 0.0), x_basis_probs=(0.2, 0.2, 0.1))
    other = dataclasses.replace(SYSTEM, alice=three, bob=three)
    with pytest.raises(ValueError, match=r"^counts\.sent: "):
        finite_key_length(counts, other, MdiFiniteKeyParams())


def test_docstring_examples() -> None:
    from qinternet.params import mdi as params_mdi
    from qinternet.qkd import mdi, mdi_finite, mdi_montecarlo

    for module in (mdi, mdi_finite, mdi_montecarlo, params_mdi):
        assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize(("total_km", "pulse_pairs"), [(100.0, 4.5e10), (150.0, 1.6e12), (200.0, 1.6e12)])
def test_the_composable_joint_key_lies_between_the_two_analyses(total_km: float, pulse_pairs: float) -> None:
    """The joint-constraint bounds in the composable key length (qkd.mdi_composable) give no more than the joint
    analysis without hashing terms, and no less than the separately-bounded (Curty-style) analysis, on the same
    counts: its decoy bounds are the tighter ones, its subtractions the composable ones."""
    from qinternet.params.mdi import YIN2016
    from qinternet.qkd.mdi_composable import ESTIMATES, composable_key_length
    from qinternet.qkd.mdi_joint import JointConstraintParams, four_intensity_key, optimise_four_intensity

    eta = 10 ** (-YIN2016.runs[0].fibre.loss_db_per_km * total_km / 20)
    params = MdiFiniteKeyParams()
    joint_params = JointConstraintParams(eps_estimate=params.eps_sec / (4 * ESTIMATES))
    system, _ = optimise_four_intensity(YIN2016.system, eta, eta, block_pulse_pairs=pulse_pairs, params=joint_params)
    counts = expected_counts(system, eta, eta, pulse_pairs)
    composable = float(composable_key_length(counts, system, params).key_length_bits)
    joint = float(four_intensity_key(counts, system, joint_params).key_bits)
    separate = float(finite_key_length(counts, system, params).key_length_bits)
    assert separate <= composable <= joint
    assert composable > 0
