"""Threshold-detector pair: checked against the closed forms of Ma et al. (2005) and by summation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qinternet.physics import background_prob, coherent_clicks, fock_clicks, poisson_pmf

probabilities = st.floats(min_value=0.0, max_value=1.0)


@given(
    mean=st.floats(min_value=0.0, max_value=20.0),
    error=st.floats(min_value=0.0, max_value=0.5),
    dark=st.floats(min_value=0.0, max_value=0.1),
)
def test_outcomes_form_a_distribution(mean: float, error: float, dark: float) -> None:
    c = coherent_clicks(mean, error, dark)
    parts = np.array([c.none, c.only_correct, c.only_wrong, c.both], dtype=float)
    assert np.all(parts >= -1e-15)
    assert parts.sum() == pytest.approx(1.0, abs=1e-12)
    assert 0.0 <= float(c.error_rate) <= 0.5 + 1e-12


def test_coherent_gain_matches_ma_2005_eq_10() -> None:
    # Q_mu = 1 - (1 - Y0) exp(-eta mu) exactly; Ma et al. write Y0 + 1 - exp(-eta mu) (first order in Y0).
    dark = 8.5e-7
    y0 = dark * (2.0 - dark)
    eta_mu = np.geomspace(1e-7, 1.0, 30)
    c = coherent_clicks(eta_mu, 0.033, dark)
    np.testing.assert_allclose(c.gain, -np.expm1(np.log1p(-y0) - eta_mu), rtol=1e-12)
    np.testing.assert_allclose(c.gain, y0 + 1.0 - np.exp(-eta_mu), rtol=2 * y0)


def test_coherent_error_matches_ma_2005_eq_11_to_first_order() -> None:
    # E_mu Q_mu = Y0/2 + e_d (1 - exp(-eta mu)); the exact form differs by terms of order p_d * eta mu.
    dark = 8.5e-7
    y0 = 1.0 - (1.0 - dark) ** 2
    eta_mu = np.geomspace(1e-6, 0.05, 30)
    c = coherent_clicks(eta_mu, 0.033, dark)
    expected = 0.5 * y0 + 0.033 * (1.0 - np.exp(-eta_mu))
    assert np.all(np.abs(c.error_weight - expected) <= dark * eta_mu + eta_mu**2)


def test_coherent_state_is_the_poisson_average_of_fock_states() -> None:
    # Independent check: sum_n P(n) Y_n and sum_n P(n) e_n Y_n against the coherent closed form.
    mu, eta, error, dark = 0.7, 0.03, 0.05, 1e-5
    n = np.arange(0, 60)
    weights = poisson_pmf(n, mu)
    fock = fock_clicks(n, eta, error, dark)
    coherent = coherent_clicks(eta * mu, error, dark)
    assert float(np.sum(weights * fock.gain)) == pytest.approx(float(coherent.gain), rel=1e-12)
    assert float(np.sum(weights * fock.error_weight)) == pytest.approx(float(coherent.error_weight), rel=1e-12)


def test_single_photon_yield_and_error_match_ma_2005_eqs_7_and_9() -> None:
    eta, e_d, dark = 0.01, 0.033, 8.5e-7
    y0 = 1.0 - (1.0 - dark) ** 2
    one = fock_clicks(1, eta, e_d, dark)
    assert float(one.gain) == pytest.approx(y0 + eta - y0 * eta, rel=1e-12)  # Y1, eq. (7)
    assert float(one.error_rate) == pytest.approx((0.5 * y0 + e_d * eta) / (y0 + eta), rel=1e-4)  # e1, eq. (9)


def test_mismatched_bases_give_random_bits() -> None:
    c = coherent_clicks(np.geomspace(1e-4, 3.0, 10), 0.5, 1e-4)
    np.testing.assert_allclose(c.error_rate, 0.5, atol=1e-12)


def test_after_pulses_are_a_background_like_dark_counts() -> None:
    # A gate holds an after-pulse with probability p_ap P, in either detector: per detector p_ap P / 2.
    assert float(background_prob(0.0, 0.04, 0.01)) == pytest.approx(0.04 * 0.01 / 2)
    assert float(background_prob(1e-6, 0.0, 0.5)) == pytest.approx(1e-6, rel=1e-9)
    # With no signal, the gain is the background yield 1 - (1 - p_d')^2 ~ 2 p_d + p_ap P, error 1/2.
    empty = coherent_clicks(0.0, 0.01, background_prob(6e-7, 0.04, 0.01))
    assert float(empty.gain) == pytest.approx(2 * 6e-7 + 0.04 * 0.01, rel=1e-3)
    assert float(empty.error_rate) == pytest.approx(0.5)
