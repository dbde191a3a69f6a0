"""Finite-size SNS rate: its Chernoff bounds hold, and it tends to the asymptotic rate as N grows.

Statistical tests draw Poisson counts with a fixed seed. Each Chernoff bound is allowed to fail with
probability ``xi/2`` (expectation bounds) or ``xi`` (realised bounds); with ``xi = 0.2`` and 20,000 draws the
observed failure fraction of a bound that held exactly at its level would have a standard deviation of at
most ``sqrt(0.2 * 0.8 / 20000) = 0.0028``, so a tolerance of 4 standard deviations (0.011) leaves a false
alarm probability below 1e-4. Chernoff bounds are conservative, so the observed fractions sit well below.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params.devices import DetectorParams
from qinternet.params.twinfield import InterferenceStationParams, SnsSourceParams
from qinternet.qkd.tf_finite import (
    SnsFiniteParams,
    SnsSettings,
    expectation_bounds,
    optimise_sns_finite,
    realised_bounds,
    sns_finite_rate,
)
from qinternet.qkd.twinfield import sns_decoy_estimate, sns_rate

STATION = InterferenceStationParams(
    detector=DetectorParams(efficiency=0.6, dark_count_prob=1e-10), misalignment_error=0.03
)
SETTINGS = SnsSettings(*(np.asarray(v) for v in (0.45, 0.04, 0.03, 0.3, 0.9, 0.3, 0.6)))
XI = 0.2
DRAWS = 20_000
TOLERANCE = 4 * math.sqrt(XI * (1 - XI) / DRAWS)


def arm(loss_db: float) -> float:
    return 10.0 ** (-loss_db / 10.0)


@pytest.mark.parametrize("expected", [3.0, 50.0, 2_000.0])
def test_expectation_bounds_cover_the_expectation(expected: float) -> None:
    counts = np.random.default_rng(7).poisson(expected, DRAWS).astype(float)
    low, high = expectation_bounds(counts, XI)
    assert np.mean(low > expected) <= XI / 2 + TOLERANCE
    assert np.mean(high < expected) <= XI / 2 + TOLERANCE
    assert np.all(low <= counts)
    assert np.all(high >= counts)


def test_expectation_bounds_approach_the_gaussian_width_for_large_counts() -> None:
    # x [d/(1+d) - ln(1+d)] ~ -x d^2/2 for small d, so d -> sqrt(2 ln(2/xi) / x).
    x, xi = 1e8, 1e-10
    low, high = expectation_bounds(x, xi)
    width = math.sqrt(2 * math.log(2 / xi) / x)
    assert float(high) / x - 1 == pytest.approx(width, rel=1e-2)
    assert 1 - float(low) / x == pytest.approx(width, rel=1e-2)
    zero_low, zero_high = expectation_bounds(0.0, xi)
    assert float(zero_low) == 0.0
    assert float(zero_high) == pytest.approx(math.log(2 / xi))  # P(x = 0 | E) = e^{-E} = xi/2


@pytest.mark.parametrize("expected", [20.0, 500.0])
def test_realised_bounds_cover_the_draws(expected: float) -> None:
    counts = np.random.default_rng(11).poisson(expected, DRAWS)
    low, high = realised_bounds(expected, XI)
    assert np.mean(counts < low) <= XI + TOLERANCE
    assert np.mean(counts > high) <= XI + TOLERANCE


def test_rate_grows_with_the_block_and_tends_to_the_asymptotic_rate() -> None:
    eta = arm(40.0)
    decoy = sns_decoy_estimate(eta, eta, (float(SETTINGS.mu_1), float(SETTINGS.mu_2)), STATION)
    asymptotic = float(
        sns_rate(
            eta,
            eta,
            SETTINGS.signal_intensity,
            SETTINGS.sending_prob,
            decoy=decoy,
            z_window_prob=float(SETTINGS.z_window_prob),
            station=STATION,
            ec_efficiency=1.16,
        )
    )
    blocks = [1e9, 1e10, 1e11, 1e12, 1e14, 1e22]
    rates = [
        float(sns_finite_rate(eta, eta, SETTINGS, STATION, ec_efficiency=1.16, params=SnsFiniteParams(block_pulses=n)))
        for n in blocks
    ]
    assert rates[0] == 0.0  # 1e9 windows at 80 dB leave a few hundred untagged bits: no key
    assert all(a <= b for a, b in itertools.pairwise(rates))
    assert all(r <= asymptotic for r in rates)
    assert rates[-1] == pytest.approx(asymptotic, rel=1e-4)


def test_optimised_block_rate_is_deterministic_and_beats_fixed_settings() -> None:
    eta = arm(40.0)
    params = SnsFiniteParams(block_pulses=1e13)
    first = optimise_sns_finite(eta, eta, STATION, ec_efficiency=1.16, params=params)
    again = optimise_sns_finite(eta, eta, STATION, ec_efficiency=1.16, params=params)
    assert first == again
    fixed = float(sns_finite_rate(eta, eta, SETTINGS, STATION, ec_efficiency=1.16, params=params))
    assert first.key_rate_per_pulse >= fixed > 0
    recomputed = float(sns_finite_rate(eta, eta, first.settings, STATION, ec_efficiency=1.16, params=params))
    assert recomputed == pytest.approx(first.key_rate_per_pulse, rel=1e-12)
    assert first.to_dict()["block_pulses"] == 1e13


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"block_pulses": 0.0}, "block_pulses"),
        ({"block_pulses": 1e30}, "block_pulses"),
        ({"block_pulses": 1e12, "chernoff_failure": 1.0}, "chernoff_failure"),
        ({"block_pulses": 1e12, "eps_cor": 0.0}, "eps_cor"),
        ({"block_pulses": 1e12, "eps_pa": float("nan")}, "eps_pa"),
        ({"block_pulses": 1e12, "eps_hat": -1e-10}, "eps_hat"),
    ],
)
def test_finite_parameters_are_validated(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        SnsFiniteParams(**kwargs)
    assert info.value.field == field


def test_settings_of_a_source_are_its_fields() -> None:
    source = SnsSourceParams(
        z_window_prob=0.7,
        sending_prob=0.05,
        signal_intensity=0.5,
        decoy_intensities=(0.04, 0.25),
        x_intensity_probs=(0.5, 0.3, 0.2),
    )
    s = SnsSettings.of(source)
    values = (s.signal_intensity, s.sending_prob, s.mu_1, s.mu_2, s.z_window_prob, s.vacuum_prob, s.mu_1_prob)
    assert [float(v) for v in values] == [0.5, 0.05, 0.04, 0.25, 0.7, 0.5, 0.3]
