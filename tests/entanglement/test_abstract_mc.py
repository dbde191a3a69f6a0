"""The Monte-Carlo engine of the abstract repeater chain agrees with the exact one, within its statistics.

Tolerances:
* means: |MC - exact| <= 4 standard errors, the standard error being the sample standard deviation over
  sqrt(pairs) (a two-sided 4-sigma band: a correct sampler fails it with probability 6e-5; the seeds are fixed);
* distributions: the Dvoretzky-Kiefer-Wolfowitz inequality (Massart's constant) bounds the largest gap between
  the empirical and the true CDF of n samples by sqrt(ln(2/alpha) / (2 n)) with probability 1 - alpha; alpha =
  1e-6.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.entanglement import AbstractChainParams, run_abstract_chain
from qinternet.entanglement.abstract_mc import sample_chain, sample_links
from qinternet.entanglement.analytic import waiting_time_and_werner
from qinternet.errors import ParameterError

SIGMAS = 4.0
ALPHA = 1e-6


def _dkw(n: int) -> float:
    return math.sqrt(math.log(2 / ALPHA) / (2 * n))


def _assert_same_distribution(times: np.ndarray, pmf: np.ndarray) -> None:
    cdf = np.cumsum(pmf)
    grid = np.arange(len(pmf))
    empirical = np.searchsorted(np.sort(times), grid, side="right") / len(times)
    assert np.max(np.abs(empirical - cdf)) <= _dkw(len(times))


def _assert_within(sample: np.ndarray, exact: float) -> None:
    spread = float(np.std(sample, ddof=1))
    rounding = 1e-12 * abs(exact)  # a constant sample (no decoherence) has a rounding-sized spread
    assert abs(float(np.mean(sample)) - exact) <= SIGMAS * spread / math.sqrt(len(sample)) + rounding


CASES = [
    AbstractChainParams(p_gen=0.1, p_swap=0.5, segments=4, w0=0.99, coherence_attempts=400.0, cutoff_attempts=5),
    AbstractChainParams(p_gen=0.3, p_swap=0.5, segments=8, w0=0.95, coherence_attempts=50.0),
    AbstractChainParams(p_gen=0.5, p_swap=0.8, segments=4, w0=0.97, coherence_attempts=10.0, cutoff_attempts=0),
    AbstractChainParams(p_gen=0.2, p_swap=0.7, segments=2, w0=0.9, coherence_attempts=30.0, cutoff_attempts=3),
    AbstractChainParams(p_gen=0.6, p_swap=1.0, segments=16, w0=1.0, cutoff_attempts=2),
    AbstractChainParams(p_gen=0.05, segments=1, w0=0.8),
]


@pytest.mark.parametrize("params", CASES, ids=lambda p: f"{p.segments}seg-cut{p.cutoff_attempts}")
def test_the_sampled_links_follow_the_exact_distribution(params: AbstractChainParams) -> None:
    exact = waiting_time_and_werner(params)
    times, werner = sample_links(params, pairs=20_000, rng=np.random.default_rng(11))
    _assert_within(times, exact.mean_waiting_attempts)
    _assert_within(werner, exact.mean_werner)
    _assert_same_distribution(times, exact.waiting_time_pmf)


def test_both_engines_answer_alike_through_the_one_entry_point() -> None:
    params = CASES[0]
    rng = np.random.default_rng(3)
    sampled = run_abstract_chain(params, pairs=40_000, engine="monte-carlo", rng=rng)
    exact = run_abstract_chain(params, pairs=40_000, engine="analytic", rng=rng)
    assert sampled.engine == "monte-carlo"
    assert exact.engine == "analytic"
    assert sampled.mean_waiting_ci95 is not None
    assert sampled.mean_werner_ci95 is not None
    # A 95 % interval widened to 4 sigma (1.96 -> 4): the exact mean lies inside.
    widen = SIGMAS / 1.959963984540054
    for (low, high), value in (
        (sampled.mean_waiting_ci95, exact.mean_waiting_attempts),
        (sampled.mean_werner_ci95, exact.mean_werner),
    ):
        centre, half = (low + high) / 2, (high - low) / 2
        assert abs(centre - value) <= widen * half
    # Percentiles: the exact CDF at the sampled quantile is within the DKW band of the level.
    cdf = np.cumsum(waiting_time_and_werner(params).waiting_time_pmf)
    assert abs(cdf[sampled.p50_waiting_attempts] - 0.5) <= _dkw(40_000) + 0.01
    assert abs(cdf[sampled.p99_waiting_attempts] - 0.99) <= _dkw(40_000) + 0.01
    assert sampled.secret_key_rate_per_attempt == pytest.approx(exact.secret_key_rate_per_attempt, rel=0.05)


def test_without_decoherence_every_sampled_link_has_w0_to_the_number_of_segments() -> None:
    params = AbstractChainParams(p_gen=0.4, p_swap=0.6, segments=8, w0=0.97, cutoff_attempts=3)
    _, werner = sample_links(params, pairs=2000, rng=np.random.default_rng(1))
    np.testing.assert_allclose(werner, 0.97**8, rtol=1e-12)


def test_the_same_seed_gives_the_same_links() -> None:
    params = CASES[0]
    a = sample_links(params, pairs=1000, rng=np.random.default_rng(9))
    b = sample_links(params, pairs=1000, rng=np.random.default_rng(9))
    c = sample_links(params, pairs=1000, rng=np.random.default_rng(10))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_one_segment_samples_a_geometric_mean() -> None:
    result = sample_chain(AbstractChainParams(p_gen=0.01, segments=1), pairs=50_000, rng=np.random.default_rng(2))
    low, high = result.mean_waiting_ci95
    half = (high - low) / 2
    assert abs(result.mean_waiting_attempts - 100.0) <= SIGMAS / 1.959963984540054 * half


@pytest.mark.parametrize("pairs", [0, -3, 10**7 + 1, 2.5, True])
def test_a_bad_number_of_pairs_is_refused(pairs: object) -> None:
    with pytest.raises(ParameterError) as caught:
        sample_links(CASES[0], pairs=pairs, rng=np.random.default_rng(1))  # type: ignore[arg-type]
    assert caught.value.field == "pairs"


def test_a_chain_that_needs_too_many_elementary_links_stops_naming_pairs_or_the_cutoff() -> None:
    with pytest.raises(ParameterError) as caught:
        sample_links(CASES[1], pairs=1000, rng=np.random.default_rng(1), max_elementary=10_000)
    assert caught.value.field == "pairs"
    with pytest.raises(ParameterError) as caught:  # with a cut-off, it is what makes the work
        sample_links(CASES[0], pairs=1000, rng=np.random.default_rng(1), max_elementary=10_000)
    assert caught.value.field == "cutoff_attempts"


def test_a_cutoff_longer_than_any_wait_changes_no_sample() -> None:
    """The largest cut-off the CLI accepts (2**63 - 1) must not overflow the 64-bit attempt counts."""
    base = AbstractChainParams(p_gen=0.3, p_swap=0.5, segments=4, w0=0.99, coherence_attempts=40.0)
    long = AbstractChainParams(
        p_gen=0.3, p_swap=0.5, segments=4, w0=0.99, coherence_attempts=40.0, cutoff_attempts=2**63 - 1
    )
    a = sample_links(base, pairs=3000, rng=np.random.default_rng(4))
    b = sample_links(long, pairs=3000, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
