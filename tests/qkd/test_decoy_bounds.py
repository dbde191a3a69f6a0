"""Decoy-state bounds bracket the true single-photon values and tighten as the decoys weaken."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinternet.params import QkdSystem, get_preset
from qinternet.qkd.decoy import two_decoy_bounds
from qinternet.qkd.observables import observed_coherent, observed_fock


def _bounds(system: QkdSystem, distance: float, mu: float, nu1: float, nu2: float):  # type: ignore[no-untyped-def]
    seen = observed_coherent(system, distance, np.array([mu, nu1, nu2]))
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
    one = observed_fock(gys, distance, 1)
    assert float(bounds.single_photon_yield_lower) <= float(one.gain) * (1 + 1e-9)
    assert float(bounds.single_photon_error_upper) >= float(one.error_rate) * (1 - 1e-6)
    assert float(bounds.background_yield_lower) <= gys.detector.background_yield * (1 + 1e-9)


def test_bounds_become_tight_as_the_weak_decoy_vanishes(gys: QkdSystem) -> None:
    one = observed_fock(gys, 50.0, 1)
    gaps = [
        1 - float(_bounds(gys, 50.0, 0.48, nu, 0.0).single_photon_yield_lower) / float(one.gain)
        for nu in (0.2, 0.05, 0.01, 0.001)
    ]
    assert all(a > b for a, b in itertools.pairwise(gaps))
    assert gaps[-1] < 1e-3


def test_vacuum_decoy_reduces_to_ma_2005_eqs_34_and_37(gys: QkdSystem) -> None:
    mu, nu = 0.48, 0.05
    q_mu, q_nu, q_0 = observed_coherent(gys, 30.0, np.array([mu, nu, 0.0])).gain
    eq_nu = float(observed_coherent(gys, 30.0, nu).error_weight)
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
