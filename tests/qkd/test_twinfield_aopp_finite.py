"""Finite-size AOPP rate: its pairing bound holds for random pairings, and it tends to the asymptotic rate.

The statistical test pairs bits at random with a fixed seed. The Chernoff bound it checks may fail with
probability ``xi``; with ``xi = 0.2`` and 4,000 pairings a bound that held exactly at its level would fail in a
fraction with standard deviation ``sqrt(0.2 * 0.8 / 4000) = 0.0063``; 4 of them (0.025) leave a false alarm
probability below 1e-4. Chernoff bounds are conservative, so the observed fraction sits well below.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from qinternet.params.devices import DetectorParams
from qinternet.params.twinfield import InterferenceStationParams, Sns3SourceParams
from qinternet.qkd.tf_aopp import aopp_rate, odd_parity_pairing
from qinternet.qkd.tf_aopp_finite import AoppSettings, aopp_finite_rate, optimise_aopp_finite
from qinternet.qkd.tf_finite import SnsFiniteParams, realised_bounds

STATION = InterferenceStationParams(
    detector=DetectorParams(efficiency=0.6, dark_count_prob=1e-10), misalignment_error=0.03
)
SOURCE = Sns3SourceParams(
    z_window_prob=0.8, sending_prob=0.25, signal_intensity=0.45, decoy_intensity=0.05, x_vacuum_prob=0.4
)
SETTINGS = AoppSettings.of(SOURCE)
XI = 0.2
DRAWS = 4_000
TOLERANCE = 4 * math.sqrt(XI * (1 - XI) / DRAWS)


def arm(loss_db: float) -> float:
    return 10.0 ** (-loss_db / 10.0)


def test_random_pairings_keep_at_least_the_bounded_untagged_pairs() -> None:
    # Bob holds 400 bits 0 (60 untagged) and 300 bits 1 (50 untagged); the 300 pairs take a random bit 0 and a
    # random bit 1 each. The number of untagged pairs is hypergeometric-like; Hoeffding (1963) puts sampling
    # without replacement under the same Chernoff bound as independent draws.
    rng = np.random.default_rng(3)
    n_0, n_1, k_0, k_1 = 400, 300, 60, 50
    expected = float(odd_parity_pairing(n_0, n_1, 0.0, 0.0, k_0, k_1).untagged_pairs)
    low, high = realised_bounds(expected, XI)
    zero, one = np.arange(n_0) < k_0, np.arange(n_1) < k_1
    counts = np.array([int((rng.permutation(zero)[:n_1] & rng.permutation(one)).sum()) for _ in range(DRAWS)])
    assert counts.mean() == pytest.approx(expected, rel=0.02)
    assert np.mean(counts < low) <= XI + TOLERANCE
    assert np.mean(counts > high) <= XI + TOLERANCE


def test_rate_grows_with_the_block_and_tends_to_the_asymptotic_rate() -> None:
    eta = arm(35.0)
    asymptotic = float(
        aopp_rate(
            eta,
            eta,
            SETTINGS.signal_intensity,
            SETTINGS.sending_prob,
            mu_1=SOURCE.decoy_intensity,
            z_window_prob=SOURCE.z_window_prob,
            station=STATION,
            ec_efficiency=1.16,
        )
    )
    blocks = [1e9, 1e10, 1e11, 1e12, 1e14, 1e22]
    rates = [
        float(aopp_finite_rate(eta, eta, SETTINGS, STATION, ec_efficiency=1.16, params=SnsFiniteParams(block_pulses=n)))
        for n in blocks
    ]
    assert rates[0] == 0.0  # 1e9 windows at 70 dB leave too few untagged pairs
    assert all(a <= b for a, b in itertools.pairwise(rates))
    assert all(r <= asymptotic for r in rates)
    assert rates[-1] == pytest.approx(asymptotic, rel=1e-4)


def test_optimised_block_rate_is_deterministic_and_beats_fixed_settings() -> None:
    eta = arm(35.0)
    params = SnsFiniteParams(block_pulses=1e12)
    first = optimise_aopp_finite(eta, eta, STATION, ec_efficiency=1.16, params=params)
    again = optimise_aopp_finite(eta, eta, STATION, ec_efficiency=1.16, params=params)
    assert first == again
    fixed = float(aopp_finite_rate(eta, eta, SETTINGS, STATION, ec_efficiency=1.16, params=params))
    assert first.key_rate_per_pulse >= fixed > 0.0
    recomputed = float(aopp_finite_rate(eta, eta, first.settings, STATION, ec_efficiency=1.16, params=params))
    assert recomputed == pytest.approx(first.key_rate_per_pulse, rel=1e-12)
    assert first.mu_1 < first.signal_intensity
    assert first.to_dict()["block_pulses"] == 1e12


def test_search_finds_the_small_key_region_at_the_edge() -> None:
    # At 74.3 dB per arm and 3e14 windows the key region is a small corner of the search box; a population
    # started without the coarse grid's best point misses it (rate 0), while the grid itself finds key.
    station = InterferenceStationParams(
        detector=DetectorParams(efficiency=0.6, dark_count_prob=2e-11), misalignment_error=0.04
    )
    params = SnsFiniteParams(block_pulses=3e14)
    corner = AoppSettings(*(np.asarray([v]) for v in (0.45, 0.28, 0.08, 0.6, 0.35)))
    known = float(aopp_finite_rate(arm(74.3), arm(74.3), corner, station, ec_efficiency=1.16, params=params)[0])
    point = optimise_aopp_finite(arm(74.3), arm(74.3), station, ec_efficiency=1.16, params=params)
    assert point.key_rate_per_pulse >= known > 0.0


def test_settings_of_a_source_are_its_fields() -> None:
    s = AoppSettings.of(SOURCE)
    values = (s.signal_intensity, s.sending_prob, s.mu_1, s.z_window_prob, s.vacuum_prob)
    assert [float(v) for v in values] == [0.45, 0.25, 0.05, 0.8, 0.4]
