"""The Monte-Carlo link agrees with the analytic model within its statistical error.

Tolerances: given the pulses ``N_k`` of class k with matching bases, detections are binomial with
probability ``Q_k`` and errors binomial with ``E_k Q_k``, so ``Var(Q_k) = Q_k (1 - Q_k) / N_k``,
``Var(EQ_k) = EQ_k (1 - EQ_k) / N_k`` and ``Cov = EQ_k (1 - Q_k) / N_k``. Derived quantities (Y1^L, e1^U,
the key rate) get their standard deviation by the delta method. Every check allows 5 standard
deviations: with the 30-odd comparisons below, a correct simulation fails one with probability < 1e-4
(and, with fixed seeds, never flakes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from qinternet.params import QkdSystem
from qinternet.physics import coherent_clicks
from qinternet.physics.channels import fibre_channel
from qinternet.qkd.estimate import (
    LinkEstimate,
    estimate_from_counts,
    estimate_from_observables,
    expected_estimate,
)
from qinternet.qkd.keyrate import Protocol, fibre_link_channel, key_rate
from qinternet.qkd.montecarlo import block_pulses_for, compile_link, count_link, sample_block, simulate_link
from qinternet.qkd.observables import link_transmittance, observed_fock
from qinternet.qkd.record import LinkCounts

Z = 5.0


def simulate_counts(system: QkdSystem, distance: float, pulses: int, seed: int) -> LinkCounts:
    return count_link(compile_link(system, fibre_channel(system.fibre, distance)), pulses, np.random.default_rng(seed))


def delta_sigma(
    system: QkdSystem, expected: LinkEstimate, sent: np.ndarray, quantity: Callable[[LinkEstimate], float]
) -> float:
    """Standard deviation of ``quantity`` of the estimate, by the delta method over (Q_k, E_k Q_k)."""
    gains = np.array([c.gain for c in expected.classes])
    weights = gains * np.array([c.qber for c in expected.classes])
    x0 = np.concatenate([gains, weights])
    k = len(gains)

    def f(x: np.ndarray) -> float:
        return quantity(estimate_from_observables(system, x[:k], x[k:], expected.classes))

    grad = np.empty_like(x0)
    for i in range(x0.size):
        h = max(abs(x0[i]) * 1e-5, 1e-15)
        up, down = x0.copy(), x0.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(up) - f(down)) / (2 * h)
    cov = np.zeros((2 * k, 2 * k))
    for j in range(k):
        q, eq, n = gains[j], weights[j], sent[j]
        cov[j, j] = q * (1 - q) / n
        cov[k + j, k + j] = eq * (1 - eq) / n
        cov[j, k + j] = cov[k + j, j] = eq * (1 - q) / n
    return float(np.sqrt(grad @ cov @ grad))


@pytest.mark.parametrize(("distance", "pulses", "seed"), [(25.0, 2 * 10**9, 1), (50.0, 10**10, 2), (100.0, 10**10, 3)])
def test_monte_carlo_agrees_with_the_analytic_model(gys: QkdSystem, distance: float, pulses: int, seed: int) -> None:
    counts = simulate_counts(gys, distance, pulses, seed)
    observed = estimate_from_counts(gys, counts)
    expected = expected_estimate(gys, fibre_channel(gys.fibre, distance))
    sent = counts.matched(counts.sent)
    for got, want, n in zip(observed.classes, expected.classes, sent, strict=True):
        assert got.gain == pytest.approx(want.gain, abs=Z * np.sqrt(want.gain * (1 - want.gain) / n))
        sigma_e = np.sqrt(want.qber * (1 - want.qber) / (n * want.gain))
        assert got.qber == pytest.approx(want.qber, abs=Z * sigma_e)
    for name in ("single_photon_yield_lower", "single_photon_error_upper", "key_rate_per_pulse"):
        sigma = delta_sigma(gys, expected, sent, lambda e, name=name: getattr(e, name))
        assert getattr(observed, name) == pytest.approx(getattr(expected, name), abs=Z * sigma), name
    assert observed.statistics_sufficient
    assert observed.key_rate_per_pulse > 0


def test_expected_estimate_is_the_vacuum_weak_model_times_the_signal_fraction(gys: QkdSystem) -> None:
    # Two code paths: the link estimator and the analytic vacuum + weak key-rate model.
    for distance in (10.0, 60.0, 120.0):
        analytic = key_rate(Protocol.DECOY_BB84_VACUUM_WEAK, gys, fibre_link_channel(gys, distance), intensity=0.48)
        assert expected_estimate(gys, fibre_channel(gys.fibre, distance)).key_rate_per_pulse == pytest.approx(
            0.8 * analytic.key_rate_per_pulse, rel=1e-9
        )


def test_double_clicks_and_mismatched_bases_have_the_right_statistics(gys: QkdSystem) -> None:
    noisy = dataclasses.replace(gys, detector=dataclasses.replace(gys.detector, dark_count_prob=1e-3))
    counts = simulate_counts(noisy, 20.0, 10**8, 4)
    eta = float(link_transmittance(noisy, fibre_channel(noisy.fibre, 20.0)))
    signal = coherent_clicks(eta * 0.48, noisy.misalignment_error, 1e-3)
    n = int(counts.matched(counts.sent)[0])
    p_both = float(signal.both)
    assert counts.matched(counts.double_clicks)[0] == pytest.approx(n * p_both, abs=Z * np.sqrt(n * p_both))
    # Mismatched bases: Bob's bit is independent of Alice's.
    wrong = counts.errors[:, 0, 1].sum() + counts.errors[:, 1, 0].sum()
    total = counts.detected[:, 0, 1].sum() + counts.detected[:, 1, 0].sum()
    assert wrong / total == pytest.approx(0.5, abs=Z * np.sqrt(0.25 / total))


def test_after_pulses_appear_as_background_in_the_vacuum_decoy(lim: QkdSystem) -> None:
    # The vacuum-like decoy (2e-4) sees the background 2 p_d + p_ap P, P the mean click probability
    # of the pulse train (first-order closed form), with random bits.
    counts = simulate_counts(lim, 30.0, 2 * 10**8, 5)
    observed = estimate_from_counts(lim, counts)
    n = counts.matched(counts.sent)
    p_mean = float(np.dot(lim.source.intensity_probs, [c.gain for c in observed.classes]))
    eta = float(link_transmittance(lim, fibre_channel(lim.fibre, 30.0)))
    weakest = 2 * 6e-7 + 0.04 * p_mean + eta * 2e-4
    got = observed.classes[2]
    assert got.gain == pytest.approx(weakest, abs=Z * np.sqrt(weakest / n[2]) + 0.04 * p_mean * 0.01)
    assert got.gain > 1.5 * (2 * 6e-7 + eta * 2e-4)  # after-pulses dominate the background here
    expected = expected_estimate(lim, fibre_channel(lim.fibre, 30.0))
    for g, w, k in zip(observed.classes, expected.classes, n, strict=True):
        assert g.gain == pytest.approx(w.gain, abs=Z * np.sqrt(w.gain / k))


def test_record_is_well_formed_and_reproducible(gys: QkdSystem) -> None:
    sampler = compile_link(gys, fibre_channel(gys.fibre, 50.0))
    first = sample_block(sampler, 10**8, np.random.default_rng(11))
    again = sample_block(sampler, 10**8, np.random.default_rng(11))
    other = sample_block(sampler, 10**8, np.random.default_rng(12))
    assert len(first) > 0
    assert np.all(np.diff(first.slot) > 0)
    assert first.slot[0] >= 0
    assert first.slot[-1] < 10**8
    assert first.sent.sum() == 10**8
    assert first.slot.dtype == np.int64
    assert first.alice_bit.dtype == np.int8
    assert first.double_click.dtype == bool
    for name, column in first.columns().items():
        np.testing.assert_array_equal(column, again.columns()[name], err_msg=name)
    assert not np.array_equal(first.alice_bit[:1000], other.alice_bit[:1000])
    counts = LinkCounts.from_record(first)
    assert np.all(counts.detected <= counts.sent)
    assert set(np.unique(first.intensity_class)) <= {0, 1, 2}


def test_slots_are_a_uniform_subset(gys: QkdSystem) -> None:
    # Chi-square over 20 equal bins of the block: each bin's count is binomial around D/20.
    record = sample_block(compile_link(gys, fibre_channel(gys.fibre, 10.0)), 10**7, np.random.default_rng(13))
    counts, _ = np.histogram(record.slot, bins=20, range=(0, 10**7))
    expected = len(record) / 20
    assert np.all(np.abs(counts - expected) <= Z * np.sqrt(expected))


def test_cost_grows_with_detections_not_pulses(gys: QkdSystem) -> None:
    # 1e13 pulses in one block: an O(pulses) array would need terabytes; here a few thousand events.
    quiet = dataclasses.replace(gys, detector=dataclasses.replace(gys.detector, dark_count_prob=1e-12))
    record = sample_block(compile_link(quiet, fibre_channel(quiet.fibre, 300.0)), 10**13, np.random.default_rng(14))
    assert 0 < len(record) < 10**6
    assert record.pulses == 10**13


def test_blocks_concatenate_into_one_timeline(gys: QkdSystem) -> None:
    blocks = list(
        simulate_link(
            compile_link(gys, fibre_channel(gys.fibre, 50.0)),
            3 * 10**6 + 17,
            np.random.default_rng(15),
            block_pulses=10**6,
        )
    )
    assert [b.pulses for b in blocks] == [10**6, 10**6, 10**6, 17]
    whole = type(blocks[0]).concatenate(blocks)
    assert whole.pulses == 3 * 10**6 + 17
    assert len(whole) == sum(len(b) for b in blocks)
    assert np.all(np.diff(whole.slot) > 0)


def test_dead_time_matches_the_non_paralysable_model(gys: QkdSystem) -> None:
    # 15 us at 2 MHz = 30 blind slots; at 10 km about a quarter of the pulses find the detectors dead.
    # Counts under dead time vary less than binomial ones (a renewal process is more regular), so the
    # binomial standard deviation used for the tolerance is conservative.
    blind = dataclasses.replace(gys, detector=dataclasses.replace(gys.detector, dead_time_s=15e-6))
    counts = simulate_counts(blind, 10.0, 10**8, 6)
    observed = estimate_from_counts(blind, counts)
    expected = expected_estimate(blind, fibre_channel(blind.fibre, 10.0))
    free = expected_estimate(gys, fibre_channel(gys.fibre, 10.0))
    assert expected.classes[0].gain < 0.8 * free.classes[0].gain
    for got, want, n in zip(observed.classes, expected.classes, counts.matched(counts.sent), strict=True):
        assert got.gain == pytest.approx(want.gain, abs=Z * np.sqrt(want.gain * (1 - want.gain) / n))


def test_dead_time_scales_the_analytic_key_rate(gys: QkdSystem) -> None:
    blind = dataclasses.replace(gys, detector=dataclasses.replace(gys.detector, dead_time_s=15e-6))
    free = key_rate(Protocol.DECOY_BB84, gys, fibre_link_channel(gys, 10.0), intensity=0.48)
    dead = key_rate(Protocol.DECOY_BB84, blind, fibre_link_channel(blind, 10.0), intensity=0.48)
    assert free.gain is not None
    live = 1.0 / (1.0 + free.gain * 30)
    assert dead.key_rate_per_pulse == pytest.approx(free.key_rate_per_pulse * live, rel=1e-12)
    assert dead.gain == pytest.approx(free.gain * live, rel=1e-12)
    assert dead.qber == pytest.approx(free.qber, rel=1e-12)


def test_nearly_every_pulse_detected_is_fast_and_exact(gys: QkdSystem) -> None:
    # When most slots hold a detection the slot subset is drawn through its complement.
    bright = dataclasses.replace(
        gys,
        source=dataclasses.replace(gys.source, signal_intensity=50.0, decoy_intensities=(40.0, 5.0)),
        detector=dataclasses.replace(gys.detector, efficiency=1.0),
    )
    record = sample_block(compile_link(bright, fibre_channel(bright.fibre, 0.0)), 10**6, np.random.default_rng(16))
    assert len(record) > 0.99 * 10**6
    assert np.all(np.diff(record.slot) > 0)
    assert record.slot[-1] < 10**6


def test_default_blocks_bound_the_events_per_block(gys: QkdSystem) -> None:
    sampler = compile_link(gys, fibre_channel(gys.fibre, 0.0))
    size = block_pulses_for(sampler)
    assert size * sampler.detection_probability == pytest.approx(2**24, rel=1e-6)
    quiet = block_pulses_for(compile_link(gys, fibre_channel(gys.fibre, 300.0)))
    assert quiet == 2**30


# --- Do the counts support the bounds? ---------------------------------------------------------------


@pytest.mark.parametrize("distance", [250.0, 10_000.0])
def test_bounds_from_a_handful_of_background_counts_are_not_claimed(gys: QkdSystem, distance: float) -> None:
    # Far beyond the cut-off (~142 km) every class sees little but the background Y0 = 1.7e-6: ~85 clicks
    # in each decoy's 5e7 matched pulses. The asymptotic Y1^L and e1^U of such counts are noise (issue 11:
    # at 10,000 km seed 7 gave Y1 >= 8.8e-6 and e1 <= 8.4 % against the expected 1.7e-6 and 50 %). Their
    # confidence intervals, a few tens of counts wide, hold an equal background in both decoys.
    for seed in range(7, 13):
        estimate = estimate_from_counts(gys, simulate_counts(gys, distance, 10**9, seed))
        assert not estimate.statistics_sufficient
        assert estimate.key_rate_per_pulse == 0.0
        assert estimate.finite_size_single_photon_yield_lower == 0.0
        assert estimate.finite_size_single_photon_error_upper == 0.5


def test_the_issue_case_passes_the_old_checks_but_not_the_counts(gys: QkdSystem) -> None:
    counts = simulate_counts(gys, 10_000.0, 10**9, 7)
    estimate = estimate_from_counts(gys, counts)
    expected = expected_estimate(gys, fibre_channel(gys.fibre, 10_000.0))
    # Every class has detections and the asymptotic bounds are consistent: the old criterion said sufficient.
    assert np.all(counts.matched(counts.detected) > 0)
    assert estimate.single_photon_yield_lower > 4 * expected.single_photon_yield_lower
    assert estimate.single_photon_error_upper < 0.1
    assert not estimate.statistics_sufficient


@pytest.mark.parametrize("distance", [50.0, 80.0])
def test_ample_counts_support_the_bounds_whatever_the_seed(gys: QkdSystem, distance: float) -> None:
    # 1e9 pulses: ~2,400 (80 km) to ~10,000 (50 km) weak-decoy clicks. The finite-size e1^U is 0.06 (50 km)
    # and 0.10-0.12 (80 km), moving by ~0.01 between seeds (the binomial spread of the ~90 weak-decoy
    # errors at 80 km is 10 %): 1/2 is dozens of spreads away, so no seed changes the decision.
    for seed in range(1, 7):
        estimate = estimate_from_counts(gys, simulate_counts(gys, distance, 10**9, seed))
        assert estimate.statistics_sufficient
        y1, e1 = estimate.finite_size_single_photon_yield_lower, estimate.finite_size_single_photon_error_upper
        assert y1 is not None
        assert e1 is not None
        assert 0.0 < y1 < estimate.single_photon_yield_lower
        assert estimate.single_photon_error_upper < e1 < 0.2
        # The key rate is still the asymptotic formula on the observed rates.
        gains = np.array([c.gain for c in estimate.classes])
        weights = gains * np.array([c.qber for c in estimate.classes])
        plain = estimate_from_observables(gys, gains, weights, estimate.classes)
        assert estimate.key_rate_per_pulse == plain.key_rate_per_pulse > 0


@pytest.mark.parametrize("seed", range(21, 26))
def test_finite_size_bounds_bracket_the_expected_values(gys: QkdSystem, seed: int) -> None:
    # The Monte-Carlo draws each class's detections and errors binomially from its matched pulses with the
    # expected rates. The five intervals all hold those rates except with probability 1e-10
    # (STATISTICS_FAILURE_PROB); when they do, the finite-size bounds are no better than the asymptotic
    # bounds on the expected rates (expected_estimate), which are no better than the true single-photon
    # values (Ma et al. 2005, eqs. (7), (9)). A correct implementation fails here with probability < 5e-10.
    distance = 80.0
    estimate = estimate_from_counts(gys, simulate_counts(gys, distance, 10**9, seed))
    expected = expected_estimate(gys, fibre_channel(gys.fibre, distance))
    one = observed_fock(gys, fibre_channel(gys.fibre, distance), 1)
    y1, e1 = estimate.finite_size_single_photon_yield_lower, estimate.finite_size_single_photon_error_upper
    assert y1 is not None
    assert e1 is not None
    assert 0.0 < y1 <= expected.single_photon_yield_lower <= float(one.gain)
    assert 0.5 > e1 >= expected.single_photon_error_upper >= float(one.error_rate)
