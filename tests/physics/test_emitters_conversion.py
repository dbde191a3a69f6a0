"""Emitters (photons into the fibre, DLCZ multi-excitations) and frequency-conversion noise."""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params.hardware import ConversionParams, EmitterKind, EmitterParams
from qinternet.physics.conversion import conversion_noise_per_gate, effective_dark_count_prob, noise_click_prob
from qinternet.physics.emitters import dlcz_multi_excitation_prob, fibre_photon_prob, photon_prob_per_attempt

NV = EmitterParams(
    kind=EmitterKind.NV,
    attempt_duration_s=5.5e-6,
    zero_phonon_fraction=0.03,
    collection_efficiency=0.1,
    wavelength_nm=637.0,
)
DLCZ = EmitterParams(
    kind=EmitterKind.RB_ENSEMBLE_DLCZ,
    attempt_duration_s=1e-6,
    collection_efficiency=0.5,
    wavelength_nm=795.0,
    excitation_prob=0.02,
)


def test_nv_photon_into_fibre_is_zpl_fraction_times_collection() -> None:
    assert fibre_photon_prob(NV) == pytest.approx(0.003)
    assert photon_prob_per_attempt(NV, 0.1) == pytest.approx(3e-4)


def test_dlcz_attempt_emits_with_the_excitation_probability() -> None:
    assert photon_prob_per_attempt(DLCZ) == pytest.approx(0.01)
    with pytest.raises(ParameterError):
        photon_prob_per_attempt(DLCZ, 0.1)
    with pytest.raises(ParameterError) as info:
        photon_prob_per_attempt(NV)
    assert info.value.field == "alpha"


def test_dlcz_multi_excitation_limits() -> None:
    # Thermal excitations (1-p) p^n: P(n>=2 | click) = p for a perfect detector, 2p - p^2 for a weak one,
    # and by direct summation in between.
    p = np.array([1e-3, 0.01, 0.1])
    np.testing.assert_allclose(dlcz_multi_excitation_prob(p, 1.0), p, rtol=1e-12)
    np.testing.assert_allclose(dlcz_multi_excitation_prob(p, 0.0), 2 * p - p**2, rtol=1e-12)
    n = np.arange(1, 400)
    eta = 0.3
    weights = (1 - 0.1) * 0.1**n * (1 - (1 - eta) ** n)
    assert float(dlcz_multi_excitation_prob(0.1, eta)) == pytest.approx(weights[1:].sum() / weights.sum(), rel=1e-12)


def test_conversion_noise_is_poissonian_per_gate() -> None:
    qfc = ConversionParams(efficiency=0.5, noise_rate_hz=1000.0, output_wavelength_nm=1588.0)
    mean = conversion_noise_per_gate(qfc, 1e-6)
    assert mean == pytest.approx(1e-3)
    assert float(noise_click_prob(mean, 0.5)) == pytest.approx(1 - np.exp(-5e-4))
    assert float(effective_dark_count_prob(1e-5, 1e-3)) == pytest.approx(1 - (1 - 1e-5) * (1 - 1e-3))
