"""Decoy-state bounds bracket the true single-photon values and tighten as the decoys weaken; their
finite-size versions are the worst case over exact binomial confidence intervals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from qinternet.errors import ParameterError
from qinternet.params import QkdSystem, get_preset
from qinternet.physics.channels import fibre_channel
from qinternet.qkd.decoy import DecoyBounds, binomial_interval, finite_size_decoy_bounds, two_decoy_bounds
from qinternet.qkd.observables import observed_coherent, observed_fock


def _bounds(system: QkdSystem, distance: float, mu: float, nu1: float, nu2: float):  # type: ignore[no-untyped-def]
    seen = observed_coherent(system, fibre_channel(system.fibre, distance), np.array([mu, nu1, nu2]))
    return two_decoy_bounds(mu, nu1, nu2, tuple(seen.gain), tuple(seen.error_weight[1:]))


@settings(max_examples=60, deadline=None)
@given(
    distance=st.floats(min_value=0.0, max_value=140.0),
    mu=st.floats(min_value=0.2, max_value=1.0),
    ratio=st.floats(min_value=0.01, max_value=0.45),
    nu2=st.sampled_from([0.0, 1e-4, 2e-3]),
)
def test_bounds_are_valid(distance: float, mu: float, ratio: float, nu2: float) -> None:
    gys = get_preset("gys2004").system
    nu1 = max(mu * ratio, nu2 * 2 + 1e-3)
    bounds = _bounds(gys, distance, mu, nu1, nu2)
    one = observed_fock(gys, fibre_channel(gys.fibre, distance), 1)
    assert float(bounds.single_photon_yield_lower) <= float(one.gain) * (1 + 1e-9)
    assert float(bounds.single_photon_error_upper) >= float(one.error_rate) * (1 - 1e-6)
    assert float(bounds.background_yield_lower) <= gys.detector.background_yield * (1 + 1e-9)


def test_bounds_become_tight_as_the_weak_decoy_vanishes(gys: QkdSystem) -> None:
    one = observed_fock(gys, fibre_channel(gys.fibre, 50.0), 1)
    gaps = [
        1 - float(_bounds(gys, 50.0, 0.48, nu, 0.0).single_photon_yield_lower) / float(one.gain)
        for nu in (0.2, 0.05, 0.01, 0.001)
    ]
    assert all(a > b for a, b in itertools.pairwise(gaps))
    assert gaps[-1] < 1e-3


def test_vacuum_decoy_reduces_to_ma_2005_eqs_34_and_37(gys: QkdSystem) -> None:
    mu, nu = 0.48, 0.05
    q_mu, q_nu, q_0 = observed_coherent(gys, fibre_channel(gys.fibre, 30.0), np.array([mu, nu, 0.0])).gain
    eq_nu = float(observed_coherent(gys, fibre_channel(gys.fibre, 30.0), nu).error_weight)
    y1 = (
        mu / (mu * nu - nu**2) * (q_nu * np.exp(nu) - q_mu * np.exp(mu) * nu**2 / mu**2 - (mu**2 - nu**2) / mu**2 * q_0)
    )
    e1 = (eq_nu * np.exp(nu) - 0.5 * q_0) / (y1 * nu)
    bounds = _bounds(gys, 30.0, mu, nu, 0.0)
    assert float(bounds.single_photon_yield_lower) == pytest.approx(y1, rel=1e-10)
    assert float(bounds.single_photon_error_upper) == pytest.approx(e1, rel=1e-6)


def test_bounds_flag_inconsistent_observations(gys: QkdSystem) -> None:
    # A weak decoy with fewer errors than the vacuum (a small-sample fluctuation) gives a negative
    # error numerator: the bound is not claimed.
    bounds = two_decoy_bounds(0.5, 0.1, 0.0, (2e-3, 4e-4, 2e-6), (1e-7, 1e-6))
    assert not bool(bounds.valid)
    ok = _bounds(gys, 50.0, 0.5, 0.1, 0.0)
    assert bool(ok.valid)


# --- Finite-size bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "n"), [(1, 10), (7, 50), (86, 50_000_000), (10_086, 50_000_000), (499, 500)])
def test_binomial_interval_puts_the_chosen_probability_in_each_tail(x: int, n: int) -> None:
    # Independent check with scipy's binomial distribution: P(X >= x | p^L) = P(X <= x | p^U) = tail.
    tail = 1e-10 / 10
    low, high = (float(v) for v in binomial_interval(x, n, tail))
    assert 0.0 < low < x / n < high < 1.0
    assert binom.sf(x - 1, n, low) == pytest.approx(tail, rel=1e-6)
    assert binom.cdf(x, n, high) == pytest.approx(tail, rel=1e-6)


def test_binomial_interval_at_the_edges_is_the_closed_form() -> None:
    # x = 0: P(X = 0 | p^U) = (1 - p^U)^n = tail; x = n: P(X = n | p^L) = (p^L)^n = tail.
    tail, n = 1e-3, 40
    low, high = binomial_interval(np.array([0, n, 0]), np.array([n, n, 0]), tail)
    np.testing.assert_allclose(low, [0.0, tail ** (1 / n), 0.0], rtol=1e-12)
    np.testing.assert_allclose(high, [1 - tail ** (1 / n), 1.0, 1.0], rtol=1e-12)
    with pytest.raises(ParameterError) as caught:
        binomial_interval(1, 2, 0.0)
    assert caught.value.field == "tail_prob"


def _finite(
    pulses: tuple[int, int, int], detections: tuple[int, int, int], errors: tuple[int, int], eps: float = 1e-10
) -> DecoyBounds:
    return finite_size_decoy_bounds(0.48, 0.05, 0.0, pulses, detections, errors, failure_prob=eps)


@settings(max_examples=200, deadline=None)
@given(corner=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=5, max_size=5))
def test_finite_size_bounds_are_the_worst_case_over_the_confidence_box(corner: list[float]) -> None:
    # The counts of gys2004 at 80 km with 1e9 pulses. Any rates inside the five intervals give bounds
    # at least as good as the finite-size ones: Y0 and Y1 no lower, e1 no higher (the monotonicity the
    # finite-size bounds rest on).
    pulses, detections, errors = (400_000_000, 50_000_000, 50_000_000), (181_368, 2_405, 83), (72, 41)
    finite = _finite(pulses, detections, errors)
    low, high = binomial_interval([*detections, *errors], [*pulses, *pulses[1:]], 1e-10 / 10)
    rates = low + np.asarray(corner) * (high - low)
    inside = two_decoy_bounds(0.48, 0.05, 0.0, tuple(rates[:3]), tuple(rates[3:]))
    assert float(inside.single_photon_yield_lower) >= float(finite.single_photon_yield_lower) * (1 - 1e-12)
    assert float(inside.background_yield_lower) >= float(finite.background_yield_lower) * (1 - 1e-12)
    if bool(inside.valid):
        assert float(inside.single_photon_error_upper) <= float(finite.single_photon_error_upper) * (1 + 1e-12)


def test_finite_size_bounds_loosen_with_fewer_counts_and_reach_the_asymptotic_ones() -> None:
    # Expected rates of gys2004 at 50 km, as counts of ever more pulses.
    gys = get_preset("gys2004").system
    seen = observed_coherent(gys, fibre_channel(gys.fibre, 50.0), np.array([0.48, 0.05, 0.0]))
    asymptotic = two_decoy_bounds(0.48, 0.05, 0.0, tuple(seen.gain), tuple(seen.error_weight[1:]))
    y1_inf, e1_inf = float(asymptotic.single_photon_yield_lower), float(asymptotic.single_photon_error_upper)
    gaps = []
    for pulses in (1e8, 1e9, 1e10, 1e12, 1e15):
        n = (round(0.4 * pulses), round(0.05 * pulses), round(0.05 * pulses))
        finite = _finite(
            n,
            tuple(round(k * q) for k, q in zip(n, seen.gain, strict=True)),  # type: ignore[arg-type]
            tuple(round(k * eq) for k, eq in zip(n[1:], seen.error_weight[1:], strict=True)),  # type: ignore[arg-type]
        )
        gaps.append(
            (1 - float(finite.single_photon_yield_lower) / y1_inf, float(finite.single_photon_error_upper) / e1_inf - 1)
        )
    assert all(y > 0 and e > 0 for y, e in gaps)
    assert all(a[0] > b[0] and a[1] > b[1] for a, b in itertools.pairwise(gaps))
    # With many counts x an edge of the interval lies sqrt(2 ln(1/tail) x) from x (the Gaussian tail) plus
    # a skew of ~ln(1/tail)/3 counts, so the gaps fall as 1/sqrt(pulses): by sqrt(1000) from 1e12 to 1e15
    # pulses. The skew is 8 counts against a half-width of 1,500 for the fewest counts here (4e4 vacuum
    # errors at 1e12), a 0.6 % effect at most: hence 1 %.
    for before, after in zip(gaps[3], gaps[4], strict=True):
        assert before / after == pytest.approx(np.sqrt(1000), rel=0.01)
