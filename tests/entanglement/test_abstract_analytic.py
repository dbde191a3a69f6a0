"""The exact engine of the abstract repeater chain against closed forms and a direct summation.

Closed forms (q = 1 - p_gen, a = exp(-1/coherence_attempts), tau = cut-off):

* One segment: T is geometric on {1, 2, ...}: P(T = t) = p q**(t-1), E[T] = 1/p.
* Deterministic swapping, no cut-off: the end-to-end link is ready when the last of the 2**n elementary links
  is, so P(T_n <= t) = (1 - q**t)**(2**n) for every t, and by inclusion-exclusion over the CDF
  E[T_n] = sum_{t>=0} (1 - (1 - q**t)**N) = sum_{k=1..N} (-1)**(k+1) C(N, k) / (1 - q**k), N = 2**n.
  For N = 2 this is (3 - 2p) / (p (2 - p)). Shchukin, Schmidt, van Loock, PRA 100, 032322 (2019)
  (arXiv:1710.06214) give these mean waiting times of the doubling scheme as rational functions of p; we could
  not read their equations here, so the formula above is derived independently from the CDF and evaluated in
  exact rational arithmetic.
* Two segments with swap probability p_swap and both links regenerated on failure: the rounds are i.i.d. and
  T = sum of a geometric number of them, so E[T] = E[max(G1, G2)] / p_swap (Wald's identity).
* Werner parameter without decoherence: every delivered link is the product of 2**n fresh links, w0**(2**n).
* Two segments with decoherence: the delivered Werner parameter is w0**2 a**|G1 - G2| for the round that
  succeeds, whose |G1 - G2| has P(0) = p/(2-p), P(d) = 2 p q**d / (2-p) (d >= 1), whatever the swap failures
  before it; so E[w] = w0**2 p/(2-p) (1 + 2 q a / (1 - q a)).
* Two segments with cut-off tau: a round passes with P(|G1 - G2| <= tau) = (p + 2 q (1 - q**tau)) / (2 - p),
  lasts max(G1, G2) if it passes and min(G1, G2) + tau if not; E[T] = E[duration] / (p_swap P(pass)) and
  E[w] = w0**2 (p + 2 p sum_{d=1..tau} (q a)**d) / (2 - p) / P(pass). E[duration] is summed here over all
  pairs (G1, G2) on a grid where the geometric tail is below 1e-15.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest

from qinternet.entanglement.abstract import AbstractChainParams, werner_secret_fraction
from qinternet.entanglement.analytic import TruncationError, chain_distribution, waiting_time_and_werner


def _mean_max_of_geometrics(p: Fraction, count: int) -> Fraction:
    q = 1 - p
    return sum((Fraction((-1) ** (k + 1) * math.comb(count, k)) / (1 - q**k) for k in range(1, count + 1)), Fraction(0))


def test_one_segment_is_a_geometric_waiting_time() -> None:
    p = 0.15
    result = waiting_time_and_werner(AbstractChainParams(p_gen=p, segments=1, w0=0.9))
    t = np.arange(1, 200)
    assert result.waiting_time_pmf[0] == 0.0
    np.testing.assert_allclose(result.waiting_time_pmf[1:200], p * (1 - p) ** (t - 1), rtol=1e-12)
    assert result.mean_waiting_attempts == pytest.approx(1 / p, rel=1e-8)
    assert result.p50_waiting_attempts == math.ceil(math.log(0.5) / math.log(1 - p))  # 1 - q**t >= 0.5
    assert result.mean_werner == pytest.approx(0.9, rel=1e-12)


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_deterministic_swapping_waits_for_the_last_of_all_elementary_links(levels: int) -> None:
    p = 0.2
    result = waiting_time_and_werner(AbstractChainParams(p_gen=p, segments=2**levels))
    t = np.arange(result.truncation_attempts)
    cdf = np.cumsum(result.waiting_time_pmf)
    np.testing.assert_allclose(cdf, (1 - (1 - p) ** t) ** (2**levels), atol=1e-12)


@pytest.mark.parametrize("p", [Fraction(1, 10), Fraction(1, 2), Fraction(9, 10)])
@pytest.mark.parametrize("segments", [2, 4, 8])
def test_mean_waiting_time_with_deterministic_swapping(p: Fraction, segments: int) -> None:
    expected = _mean_max_of_geometrics(p, segments)
    if segments == 2:
        assert expected == (3 - 2 * p) / (p * (2 - p))
    result = waiting_time_and_werner(AbstractChainParams(p_gen=float(p), segments=segments))
    assert result.mean_waiting_attempts == pytest.approx(float(expected), rel=1e-8)


@pytest.mark.parametrize("p_swap", [0.2, 0.5, 0.9])
def test_two_segments_with_probabilistic_swapping_repeat_whole_rounds(p_swap: float) -> None:
    p = 0.3
    result = waiting_time_and_werner(AbstractChainParams(p_gen=p, p_swap=p_swap, segments=2))
    assert result.mean_waiting_attempts == pytest.approx((3 - 2 * p) / (p * (2 - p)) / p_swap, rel=1e-8)


@pytest.mark.parametrize("segments", [1, 2, 4, 8])
def test_without_decoherence_every_link_has_w0_to_the_number_of_segments(segments: int) -> None:
    params = AbstractChainParams(p_gen=0.4, p_swap=0.6, segments=segments, w0=0.97, cutoff_attempts=3)
    result = waiting_time_and_werner(params)
    assert result.mean_werner == pytest.approx(0.97**segments, rel=1e-10)
    werner = result.werner_by_time
    supported = result.waiting_time_pmf > 1e-9  # W = omega / p: FFT rounding (~1e-18 absolute) stays below 1e-8
    np.testing.assert_allclose(werner[supported], 0.97**segments, rtol=1e-8)


@pytest.mark.parametrize(("p_swap", "coherence"), [(1.0, 20.0), (0.4, 5.0), (0.7, 300.0)])
def test_two_segments_with_decoherence(p_swap: float, coherence: float) -> None:
    p, w0 = 0.25, 0.98
    q, a = 1 - p, math.exp(-1 / coherence)
    expected = w0**2 * p / (2 - p) * (1 + 2 * q * a / (1 - q * a))
    params = AbstractChainParams(p_gen=p, p_swap=p_swap, segments=2, w0=w0, coherence_attempts=coherence)
    assert waiting_time_and_werner(params).mean_werner == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(("cutoff", "p_swap"), [(0, 1.0), (2, 0.5), (7, 0.8)])
def test_two_segments_with_a_cutoff(cutoff: int, p_swap: float) -> None:
    p, w0, coherence = 0.2, 0.95, 30.0
    q, a = 1 - p, math.exp(-1 / coherence)
    t = np.arange(1, 250)  # q**250 < 1e-24
    g1, g2 = np.meshgrid(t, t, indexing="ij")
    probability = p * p * q ** (g1 - 1) * q ** (g2 - 1)
    passes = np.abs(g1 - g2) <= cutoff
    duration = np.where(passes, np.maximum(g1, g2), np.minimum(g1, g2) + cutoff)
    p_pass = (p + 2 * q * (1 - q**cutoff)) / (2 - p)
    assert float(np.sum(probability * passes)) == pytest.approx(p_pass, rel=1e-12)
    mean_t = float(np.sum(probability * duration)) / (p_swap * p_pass)
    mean_w = w0**2 * (p + 2 * p * sum((q * a) ** d for d in range(1, cutoff + 1))) / (2 - p) / p_pass
    params = AbstractChainParams(
        p_gen=p, p_swap=p_swap, segments=2, w0=w0, coherence_attempts=coherence, cutoff_attempts=cutoff
    )
    result = waiting_time_and_werner(params)
    assert result.mean_waiting_attempts == pytest.approx(mean_t, rel=1e-8)
    assert result.mean_werner == pytest.approx(mean_w, rel=1e-10)


def _direct(params: AbstractChainParams, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The same level recursion summed term by term in the time domain (no FFT, no filter): an O(n**2) check of
    the fast summation, with the round's outcome enumerated over all pairs of input times."""
    p = np.zeros(n)
    p[1:] = params.p_gen * (1 - params.p_gen) ** np.arange(n - 1)
    omega = params.w0 * p
    tau = n if params.cutoff_attempts is None else params.cutoff_attempts
    a = params.decay_per_attempt
    for _ in range(params.levels):
        tail = 1 - np.cumsum(p)
        passed, weight, cut = np.zeros(n), np.zeros(n), np.zeros(n)
        for ta in range(n):
            for tb in range(n):
                if abs(ta - tb) <= tau:
                    passed[max(ta, tb)] += p[ta] * p[tb]
                    weight[max(ta, tb)] += omega[ta] * omega[tb] * a ** abs(ta - tb)
        for m in range(n - tau):
            cut[m + tau] += 2 * p[m] * tail[m + tau]
        failed = cut + (1 - params.p_swap) * passed
        p_next, omega_next = np.zeros(n), np.zeros(n)
        for t in range(n):  # p_k(t) = p_swap s(t) + sum_u f(u) p_k(t - u)
            p_next[t] = params.p_swap * passed[t] + np.dot(failed[1 : t + 1], p_next[t - 1 :: -1][:t])
            omega_next[t] = params.p_swap * weight[t] + np.dot(failed[1 : t + 1], omega_next[t - 1 :: -1][:t])
        p, omega = p_next, omega_next
    return p, omega


@pytest.mark.parametrize(
    "params",
    [
        AbstractChainParams(p_gen=0.5, p_swap=0.6, segments=4, w0=0.97, coherence_attempts=8.0, cutoff_attempts=2),
        AbstractChainParams(p_gen=0.6, p_swap=0.8, segments=8, w0=0.99, coherence_attempts=20.0),
    ],
)
def test_the_fast_summation_equals_the_direct_one(params: AbstractChainParams) -> None:
    n = 160  # the direct sum is causal, exact on 0 .. n-1; the fast one is exact there on a grid long enough
    p_fast, omega_fast = (x[:n] for x in chain_distribution(params, 4096))
    p_slow, omega_slow = _direct(params, n)
    np.testing.assert_allclose(p_fast, p_slow, atol=1e-14, rtol=1e-9)
    np.testing.assert_allclose(omega_fast, omega_slow, atol=1e-14, rtol=1e-9)


def test_with_a_cutoff_no_delivered_link_is_worse_than_the_cutoff_allows() -> None:
    """Each swap multiplies at most a**tau into the product: W_n(t) >= w0**(2**n) a**(tau (2**n - 1))."""
    params = AbstractChainParams(p_gen=0.3, p_swap=0.5, segments=4, w0=0.99, coherence_attempts=10.0, cutoff_attempts=4)
    result = waiting_time_and_werner(params)
    werner = result.werner_by_time[result.waiting_time_pmf > 1e-9]
    floor = 0.99**4 * math.exp(-4 * 3 / 10.0)
    assert np.all(werner >= floor * (1 - 1e-6))
    uncut = waiting_time_and_werner(dataclasses.replace(params, cutoff_attempts=None))
    assert np.min(uncut.werner_by_time[uncut.waiting_time_pmf > 1e-9]) < floor  # the cut-off is what bounds it


def test_a_cutoff_longer_than_any_wait_changes_nothing() -> None:
    base = AbstractChainParams(p_gen=0.3, p_swap=0.5, segments=4, w0=0.99, coherence_attempts=40.0)
    long = AbstractChainParams(
        p_gen=0.3, p_swap=0.5, segments=4, w0=0.99, coherence_attempts=40.0, cutoff_attempts=2**62
    )
    a, b = waiting_time_and_werner(base), waiting_time_and_werner(long)
    assert a.mean_waiting_attempts == b.mean_waiting_attempts
    assert a.mean_werner == b.mean_werner


def test_a_cutoff_trades_waiting_time_for_fidelity() -> None:
    loose = AbstractChainParams(p_gen=0.1, p_swap=0.5, segments=4, w0=0.99, coherence_attempts=400.0)
    tight = AbstractChainParams(p_gen=0.1, p_swap=0.5, segments=4, w0=0.99, coherence_attempts=400.0, cutoff_attempts=5)
    a, b = waiting_time_and_werner(loose), waiting_time_and_werner(tight)
    assert b.mean_waiting_attempts > 2 * a.mean_waiting_attempts
    assert b.mean_werner > a.mean_werner + 0.05


def test_the_truncation_leaves_out_less_than_the_tolerance_and_the_rate_follows_the_convention() -> None:
    params = AbstractChainParams(
        p_gen=0.1, p_swap=0.5, segments=4, w0=0.99, coherence_attempts=400.0, cutoff_attempts=5
    )
    result = waiting_time_and_werner(params)
    assert result.lost_probability <= 1e-9
    assert 1.0 - float(np.sum(result.waiting_time_pmf)) <= 1e-9
    assert result.p50_waiting_attempts < result.mean_waiting_attempts < result.p99_waiting_attempts
    expected = werner_secret_fraction(result.mean_werner) / result.mean_waiting_attempts
    assert result.secret_key_rate_per_attempt == pytest.approx(expected, rel=1e-12)
    assert 0 < result.secret_key_rate_per_attempt < 1 / result.mean_waiting_attempts


def test_a_chain_too_long_for_the_grid_is_refused_naming_the_engine() -> None:
    with pytest.raises(TruncationError) as caught:
        waiting_time_and_werner(AbstractChainParams(p_gen=1e-3, segments=4), max_truncation=4096)
    assert caught.value.field == "engine"
