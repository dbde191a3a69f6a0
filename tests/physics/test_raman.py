"""Spontaneous Raman noise: the forward and backward closed forms of Eraerds et al. (2010) and their limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import constants

from qinternet.errors import ParameterError
from qinternet.params import FibreParams
from qinternet.physics.raman import (
    C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM,
    ClassicalChannel,
    RamanDirection,
    raman_click_prob_per_gate,
    raman_noise_power_w,
    raman_photon_rate_hz,
)

FIBRE = FibreParams(loss_db_per_km=0.2)
ALPHA_PER_KM = 0.2 * math.log(10) / 10  # 0.0460517 nepers/km
RHO = 3e-9


def channel(direction: RamanDirection, launch_power_dbm: float = 0.0, rho: float = RHO) -> ClassicalChannel:
    return ClassicalChannel(launch_power_dbm=launch_power_dbm, direction=direction, raman_cross_section_per_km_nm=rho)


FORWARD = channel(RamanDirection.FORWARD)
BACKWARD = channel(RamanDirection.BACKWARD)


def test_worked_number_of_the_research_notes() -> None:
    # 0 dBm, 25 km, 0.2 dB/km, rho = 3e-9 /(km nm), 1 nm, forward: P 10^(-0.5) L rho dlambda = 2.37e-11 W.
    by_hand = 1e-3 * 10 ** (-0.2 * 25 / 10) * 25 * 3e-9 * 1.0
    power = float(raman_noise_power_w(FORWARD, FIBRE, 25.0, 1.0))
    assert power == pytest.approx(by_hand, rel=1e-12)
    assert power == pytest.approx(2.4e-11, rel=0.02)
    # ~1.9e8 photons/s per nm at 1550 nm (notes), i.e. P lambda / (h c) with CODATA constants.
    rate = float(raman_photon_rate_hz(power, 1550.0))
    assert rate == pytest.approx(by_hand * 1550e-9 / (constants.h * constants.c), rel=1e-12)
    assert rate == pytest.approx(1.85e8, rel=0.01)


@pytest.mark.parametrize("direction", list(RamanDirection))
def test_no_fibre_no_noise(direction: RamanDirection) -> None:
    # L -> 0: both spans vanish, linearly, with slope P rho dlambda.
    assert float(raman_noise_power_w(channel(direction), FIBRE, 0.0, 1.0)) == 0.0
    short = float(raman_noise_power_w(channel(direction), FIBRE, 1e-6, 1.0))
    assert short == pytest.approx(1e-3 * RHO * 1e-6, rel=1e-6)


def test_forward_noise_peaks_at_one_over_alpha() -> None:
    # d/dL (L e^{-alpha L}) = 0 at L = 1/alpha, where P_f = P rho dlambda / (alpha e).
    peak_km = 1 / ALPHA_PER_KM
    peak = float(raman_noise_power_w(FORWARD, FIBRE, peak_km, 1.0))
    assert peak == pytest.approx(1e-3 * RHO / (ALPHA_PER_KM * math.e), rel=1e-12)
    lengths = np.linspace(0.0, 200.0, 20_001)
    powers = raman_noise_power_w(FORWARD, FIBRE, lengths, 1.0)
    assert lengths[np.argmax(powers)] == pytest.approx(peak_km, abs=0.01)
    assert powers.max() <= peak * (1 + 1e-12)


def test_backward_noise_saturates_at_p_rho_dlambda_over_2_alpha() -> None:
    limit = 1e-3 * RHO / (2 * ALPHA_PER_KM)
    lengths = np.linspace(0.0, 500.0, 1_001)
    powers = raman_noise_power_w(BACKWARD, FIBRE, lengths, 1.0)
    assert np.all(np.diff(powers[lengths <= 200.0]) > 0)  # beyond, the increments fall below rounding
    assert np.all(np.diff(powers) >= 0)
    assert np.all(powers <= limit)
    assert powers[-1] == pytest.approx(limit, rel=1e-12)
    # Equivalent form P e^{-alpha L} rho dlambda sinh(alpha L) / alpha.
    at_25 = 1e-3 * math.exp(-ALPHA_PER_KM * 25) * RHO * math.sinh(ALPHA_PER_KM * 25) / ALPHA_PER_KM
    assert float(raman_noise_power_w(BACKWARD, FIBRE, 25.0, 1.0)) == pytest.approx(at_25, rel=1e-12)


def test_lossless_fibre_gives_the_same_noise_both_ways() -> None:
    lossless = FibreParams(loss_db_per_km=0.0)
    for direction in RamanDirection:
        assert float(raman_noise_power_w(channel(direction), lossless, 40.0, 0.5)) == pytest.approx(
            1e-3 * RHO * 40.0 * 0.5, rel=1e-12
        )


@given(length=st.floats(min_value=0.0, max_value=300.0), loss=st.floats(min_value=0.01, max_value=1.0))
def test_backward_noise_is_never_below_forward(length: float, loss: float) -> None:
    # sinh(x) >= x, so e^{-aL} sinh(aL)/a >= L e^{-aL}.
    fibre = FibreParams(loss_db_per_km=loss)
    backward = float(raman_noise_power_w(BACKWARD, fibre, length, 1.0))
    forward = float(raman_noise_power_w(FORWARD, fibre, length, 1.0))
    assert backward >= forward * (1 - 1e-12)


@pytest.mark.parametrize("direction", list(RamanDirection))
def test_noise_is_linear_in_power_cross_section_and_bandwidth(direction: RamanDirection) -> None:
    base = float(raman_noise_power_w(channel(direction), FIBRE, 30.0, 1.0))
    assert float(raman_noise_power_w(channel(direction, 10.0), FIBRE, 30.0, 1.0)) == pytest.approx(10 * base)
    assert float(raman_noise_power_w(channel(direction, 0.0, 2 * RHO), FIBRE, 30.0, 1.0)) == pytest.approx(2 * base)
    assert float(raman_noise_power_w(channel(direction), FIBRE, 30.0, 0.045)) == pytest.approx(0.045 * base)


def test_click_probability_at_eraerds_operating_point() -> None:
    # 45 pm filter, 1.5 ns gates, 7 % detector (Eraerds et al. 2010 Sec. III as the notes cite it), 25 km forward.
    rate = float(raman_photon_rate_hz(raman_noise_power_w(FORWARD, FIBRE, 25.0, 0.045), 1550.0))
    mean = 0.07 * rate * 1.5e-9
    assert mean == pytest.approx(8.7e-4, rel=0.02)
    p = float(raman_click_prob_per_gate(rate, 1.5e-9, 0.07))
    assert p == pytest.approx(1 - math.exp(-mean), rel=1e-12)
    assert p == pytest.approx(mean, rel=1e-3)


@given(rate=st.floats(min_value=0.0, max_value=1e15), gate=st.floats(min_value=1e-12, max_value=1e-3))
def test_click_probability_is_a_probability(rate: float, gate: float) -> None:
    p = float(raman_click_prob_per_gate(rate, gate, 0.5))
    assert 0.0 <= p <= 1.0


def test_classical_channel_defaults_and_direction_by_name() -> None:
    c = ClassicalChannel(launch_power_dbm=0.0, direction="backward")  # type: ignore[arg-type]
    assert c.direction is RamanDirection.BACKWARD
    assert c.raman_cross_section_per_km_nm == C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM == 3e-9
    assert c.wavelength_nm == 1550.0
    assert c.launch_power_w == pytest.approx(1e-3, rel=1e-12)
    assert ClassicalChannel(launch_power_dbm=10.0, direction=RamanDirection.FORWARD).launch_power_w == pytest.approx(
        1e-2
    )


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("direction", {"direction": "sideways"}),
        ("launch_power_dbm", {"launch_power_dbm": math.inf}),
        ("wavelength_nm", {"wavelength_nm": 0.0}),
        ("raman_cross_section_per_km_nm", {"raman_cross_section_per_km_nm": -1e-9}),
    ],
)
def test_classical_channel_is_validated(field: str, changes: dict[str, object]) -> None:
    values: dict[str, object] = {"launch_power_dbm": 0.0, "direction": RamanDirection.FORWARD, **changes}
    with pytest.raises(ParameterError) as error:
        ClassicalChannel(**values)  # type: ignore[arg-type]
    assert error.value.field == f"classical_channel.{field}"


def test_bad_function_inputs_name_the_argument() -> None:
    with pytest.raises(ParameterError, match="length_km"):
        raman_noise_power_w(FORWARD, FIBRE, -1.0, 1.0)
    with pytest.raises(ParameterError, match="filter_bandwidth_nm"):
        raman_noise_power_w(FORWARD, FIBRE, 1.0, 0.0)
    with pytest.raises(ParameterError, match="detection_efficiency"):
        raman_click_prob_per_gate(1e6, 1e-9, 0.0)
