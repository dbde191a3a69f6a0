"""Heralding schemes against their closed forms: Barrett-Kok eta^2/2, single click 2 alpha eta and 1 - alpha,
the midpoint source 1 - (1 - p)^M."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params.devices import DetectorParams, PairStatistics
from qinternet.params.hardware import (
    ConversionParams,
    EmitterKind,
    EmitterParams,
    HeraldingScheme,
    HeraldingStationParams,
    MemoryParams,
    NodeHardware,
)
from qinternet.physics.heralding import (
    arm_efficiency,
    attempt_period_s,
    double_click,
    elementary_link,
    midpoint_source,
    single_click,
)


def test_barrett_kok_success_is_eta_squared_over_two() -> None:
    # Barrett & Kok, PRA 71, 060310 (2005): P = eta^2 / 2 without dark counts.
    eta = np.geomspace(1e-4, 1.0, 9)
    link = double_click(eta_a=eta)
    np.testing.assert_allclose(link.success_prob, eta**2 / 2.0, rtol=1e-12)
    np.testing.assert_allclose(link.fidelity, 1.0, rtol=1e-12)
    asymmetric = double_click(eta_a=0.1, eta_b=0.02)
    assert float(asymmetric.success_prob) == pytest.approx(0.1 * 0.02 / 2.0)


def test_barrett_kok_fidelity_is_one_plus_visibility_over_two() -> None:
    v = np.array([0.0, 0.5, 0.9, 1.0])
    link = double_click(eta_a=0.01, visibility=v)
    np.testing.assert_allclose(link.fidelity, (1.0 + v) / 2.0, rtol=1e-12)
    np.testing.assert_allclose(link.state[..., 2], (1.0 - v) / 2.0, rtol=1e-12)


def test_dark_counts_add_false_heralds_that_lower_the_fidelity() -> None:
    pd = np.array([0.0, 1e-6, 1e-4, 1e-3])
    link = double_click(eta_a=1e-2, dark_count_prob=pd)
    assert np.all(np.diff(link.success_prob) > 0.0)
    assert np.all(np.diff(link.fidelity) < 0.0)
    np.testing.assert_allclose(link.state.sum(axis=-1), 1.0, rtol=1e-12)


def test_single_click_success_is_two_alpha_eta_and_fidelity_one_minus_alpha() -> None:
    # Humphreys et al., Nature 558, 268 (2018): p ~ 2 alpha eta, F ~ 1 - alpha for small eta, ideal phase.
    alpha = np.array([0.02, 0.05, 0.1, 0.3])
    eta = 1e-6
    link = single_click(alpha_a=alpha, eta_a=eta)
    # Exact photon bookkeeping: 1 - (1 - alpha eta)^2 = 2 alpha eta - (alpha eta)^2.
    np.testing.assert_allclose(link.success_prob, 2 * alpha * eta - (alpha * eta) ** 2, rtol=1e-9)
    np.testing.assert_allclose(link.fidelity, 1.0 - alpha, atol=eta)
    # X and Y (the |11> population) share the rest; no Z error without phase noise.
    np.testing.assert_allclose(link.state[..., 2], 0.0, atol=1e-15)
    np.testing.assert_allclose(link.state[..., 1], alpha / 2.0, atol=eta)


def test_single_click_phase_noise_averages_the_interference_term() -> None:
    # E[cos phi] = exp(-sigma^2/2) for Gaussian phase noise: F = (1 - alpha)(1 + exp(-sigma^2/2))/2 for eta -> 0.
    sigma = np.radians([0.0, 10.0, 30.0, 90.0])
    link = single_click(alpha_a=0.1, eta_a=1e-7, phase_sigma_rad=sigma)
    np.testing.assert_allclose(link.fidelity, 0.9 * (1.0 + np.exp(-(sigma**2) / 2.0)) / 2.0, atol=1e-7)


def test_single_click_with_unbalanced_arms_loses_fidelity() -> None:
    # sqrt(P10 P01) < (P10 + P01)/2 when the arms differ: the heralded state is not maximally entangled.
    balanced = single_click(alpha_a=0.1, eta_a=1e-3)
    unbalanced = single_click(alpha_a=0.1, eta_a=1e-3, eta_b=1e-4)
    assert float(unbalanced.fidelity) < float(balanced.fidelity)


def test_midpoint_source_single_pair_limit_and_multimode_success() -> None:
    # Jones et al., NJP 18, 083015 (2016): per mode p ~ P(1 pair) eta_a eta_b; with M modes 1 - (1 - p)^M.
    eta_a, eta_b, mu = 0.1, 0.05, 1e-4
    one = midpoint_source(eta_a=eta_a, eta_b=eta_b, mean_pairs=mu, statistics=PairStatistics.POISSON)
    assert float(one.success_prob) == pytest.approx(mu * eta_a * eta_b, rel=2 * mu)
    many = midpoint_source(eta_a=eta_a, eta_b=eta_b, mean_pairs=mu, statistics=PairStatistics.POISSON, modes=100)
    assert float(many.success_prob) == pytest.approx(1.0 - (1.0 - float(one.success_prob)) ** 100, rel=1e-12)
    np.testing.assert_allclose(many.state, one.state)


def test_midpoint_source_fidelity_falls_with_multi_pairs() -> None:
    mu = np.array([1e-4, 0.01, 0.1, 0.5])
    link = midpoint_source(eta_a=0.5, eta_b=0.5, mean_pairs=mu, source_fidelity=0.97)
    assert float(link.fidelity[0]) == pytest.approx(0.97, abs=1e-3)
    assert np.all(np.diff(link.fidelity) < 0.0)


def test_heralding_functions_broadcast_over_arrays() -> None:
    eta = np.full((3, 2), 0.01)
    link = single_click(alpha_a=np.array([0.05, 0.1]), eta_a=eta)
    assert link.success_prob.shape == (3, 2)
    assert link.state.shape == (3, 2, 4)
    assert set(link.to_dict()) == {"success_prob", "fidelity", "state"}


def test_attempt_period_adds_the_round_trip_in_fibre() -> None:
    # 2 x 10 km x 1.4682 / c = 97.95 us.
    assert float(attempt_period_s(1e-6, 10.0)) == pytest.approx(1e-6 + 2e4 * 1.4682 / 299_792_458.0)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: single_click(alpha_a=1.2, eta_a=0.1), "alpha"),
        (lambda: single_click(alpha_a=0.1, eta_a=-0.1), "eta"),
        (lambda: double_click(eta_a=0.1, visibility=2.0), "visibility"),
        (lambda: midpoint_source(eta_a=0.1, eta_b=0.1, mean_pairs=5.0), "mean_pairs"),
        (lambda: midpoint_source(eta_a=0.1, eta_b=0.1, mean_pairs=0.1, modes=0), "memory.modes"),
    ],
)
def test_bad_inputs_name_the_argument(call: object, field: str) -> None:
    with pytest.raises(ParameterError) as info:
        call()  # type: ignore[operator]
    assert info.value.field == field


def test_no_herald_gives_zero_rate_and_the_mixed_state() -> None:
    link = double_click(eta_a=0.0)
    assert float(link.success_prob) == 0.0
    np.testing.assert_allclose(link.state, 0.25)
    assert math.isclose(float(link.rate_hz(1e-6)), 0.0)


# --- from parameter objects -------------------------------------------------------------------------------

STATION = HeraldingStationParams(detector=DetectorParams(efficiency=0.8, dark_count_prob=0.0), detection_window_s=1e-8)


def _node(**emitter_changes: object) -> NodeHardware:
    values: dict[str, object] = {
        "kind": EmitterKind.NV,
        "attempt_duration_s": 5.5e-6,
        "zero_phonon_fraction": 0.03,
        "collection_efficiency": 0.1,
        "wavelength_nm": 637.0,
    }
    values.update(emitter_changes)
    conversion = values.pop("conversion", None)
    return NodeHardware(memory=MemoryParams(), emitter=EmitterParams(**values), conversion=conversion)  # type: ignore[arg-type]


def test_elementary_link_assembles_the_arm_efficiency() -> None:
    node = _node()
    assert float(arm_efficiency(node, STATION, 0.5)) == pytest.approx(0.03 * 0.1 * 0.5 * 0.8)
    link = elementary_link(HeraldingScheme.SINGLE_CLICK, node, node, STATION, 0.5, 0.5, bright_state_population=0.1)
    direct = single_click(alpha_a=0.1, eta_a=0.03 * 0.1 * 0.5 * 0.8)
    np.testing.assert_allclose(link.success_prob, direct.success_prob, rtol=1e-12)
    np.testing.assert_allclose(link.state, direct.state, rtol=1e-12)


def test_spin_photon_infidelity_depolarises_the_heralded_pair() -> None:
    # Each node's spin-photon fidelity F_sp acts as a Werner factor (4 F_sp - 1)/3: Barrett-Kok with V = 1
    # then gives F = (1 + 3 w_a w_b)/4.
    node = _node(spin_photon_fidelity=0.97)
    link = elementary_link(HeraldingScheme.DOUBLE_CLICK, node, node, STATION, 1.0, 1.0)
    w = (4 * 0.97 - 1) / 3
    assert float(link.fidelity) == pytest.approx((1 + 3 * w * w) / 4)


def test_converter_noise_acts_as_extra_dark_counts() -> None:
    quiet = _node(conversion=ConversionParams(efficiency=0.5, output_wavelength_nm=1588.0))
    noisy = _node(conversion=ConversionParams(efficiency=0.5, noise_rate_hz=1e4, output_wavelength_nm=1588.0))
    a = elementary_link(HeraldingScheme.SINGLE_CLICK, quiet, quiet, STATION, 0.1, 0.1, bright_state_population=0.1)
    b = elementary_link(HeraldingScheme.SINGLE_CLICK, noisy, noisy, STATION, 0.1, 0.1, bright_state_population=0.1)
    assert float(b.success_prob) > float(a.success_prob)
    assert float(b.fidelity) < float(a.fidelity)


def test_dlcz_single_click_uses_the_excitation_probability_as_alpha() -> None:
    node = _node(
        kind=EmitterKind.RB_ENSEMBLE_DLCZ, zero_phonon_fraction=1.0, collection_efficiency=0.5, excitation_prob=0.02
    )
    link = elementary_link(HeraldingScheme.SINGLE_CLICK, node, node, STATION, 0.3, 0.3)
    direct = single_click(alpha_a=0.02, eta_a=0.5 * 0.3 * 0.8)
    np.testing.assert_allclose(link.state, direct.state, rtol=1e-12)
    with pytest.raises(ParameterError):
        elementary_link(HeraldingScheme.SINGLE_CLICK, node, node, STATION, 0.3, 0.3, bright_state_population=0.1)
