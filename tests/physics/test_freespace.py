"""Satellite downlink channel: closed forms of each factor, and the Micius downlink of Liao et al. (2017)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qinternet.errors import ParameterError
from qinternet.physics.freespace import (
    EARTH_RADIUS_KM,
    FreeSpaceLinkParams,
    atmospheric_transmittance,
    diffraction_limited_divergence_urad,
    downlink_loss_db,
    elevation_deg_from_range,
    geometric_efficiency,
    kasten_young_air_mass,
    pointing_efficiency,
    slant_range_km,
)


def link(**changes: object) -> FreeSpaceLinkParams:
    values: dict[str, object] = {
        "wavelength_nm": 850.0,
        "tx_aperture_m": 0.3,
        "rx_aperture_m": 1.0,
        "divergence_urad": 10.0,
        "zenith_transmittance": 0.8,
        "pointing_jitter_urad": 0.5,
        "fixed_loss_db": 3.0,
        "altitude_km": 500.0,
        "min_elevation_deg": 10.0,
    }
    values.update(changes)
    return FreeSpaceLinkParams(**values)  # type: ignore[arg-type]


# --- geometry -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("station_km", [0.0, 0.9])
def test_slant_range_at_zenith_is_the_height_above_the_station(station_km: float) -> None:
    assert float(slant_range_km(90.0, 500.0, station_km)) == pytest.approx(500.0 - station_km, rel=1e-12)


def test_slant_range_at_the_horizon_is_the_tangent_length() -> None:
    # At e = 0 the line of sight is tangent to the Earth: L = sqrt((R + h)^2 - R^2).
    r, h = EARTH_RADIUS_KM, 500.0
    assert float(slant_range_km(0.0, h)) == pytest.approx(math.sqrt((r + h) ** 2 - r**2), rel=1e-12)


def test_slant_range_matches_the_research_notes_table() -> None:
    # Values computed independently in /work/notes/issue5_research.md, section 2 (h = 500 km, R = 6371 km).
    elevations = [10.0, 15.0, 20.0, 25.0, 30.0, 45.0]
    expected_km = [1695.0, 1407.0, 1193.0, 1032.0, 909.0, 683.0]
    np.testing.assert_allclose(slant_range_km(elevations, 500.0), expected_km, atol=1.0)


@given(elevation=st.floats(min_value=0.5, max_value=90.0), station_km=st.floats(min_value=0.0, max_value=3.0))
def test_elevation_from_range_inverts_slant_range(elevation: float, station_km: float) -> None:
    # dL/de = 0 at the zenith, so there an error of 1e-13 km in L becomes ~1e-6 degrees: the angle is checked
    # to 1e-5 degrees and the range, which is well conditioned, to 1e-12.
    distance = slant_range_km(elevation, 500.0, station_km)
    recovered = elevation_deg_from_range(distance, 500.0, station_km)
    assert float(recovered) == pytest.approx(elevation, abs=1e-5)
    assert float(slant_range_km(recovered, 500.0, station_km)) == pytest.approx(float(distance), rel=1e-12)


def test_slant_range_shrinks_as_the_satellite_rises() -> None:
    distances = slant_range_km(np.linspace(0.0, 90.0, 181), 500.0)
    assert np.all(np.diff(distances) < 0.0)


# --- diffraction --------------------------------------------------------------------------------------


def test_geometric_efficiency_far_field_is_2a2_over_theta_l_squared() -> None:
    # a << w(L): 1 - exp(-2 a^2 / w^2) ~ 2 a^2 / (theta_half L)^2, theta_half = 5 urad for a 10 urad full angle.
    # The relative error is ~a^2 / w^2 (expansion of the exponential) plus w0^2 / w^2: 4e-4 at 5,000 km.
    a, theta_half = 0.5, 5e-6
    distances_km = np.array([5_000.0, 20_000.0, 36_000.0])
    far_field = 2 * a**2 / (theta_half * distances_km * 1e3) ** 2
    np.testing.assert_allclose(geometric_efficiency(distances_km, 850.0, 0.3, 1.0, 10.0), far_field, rtol=1e-3)


def test_geometric_efficiency_at_the_transmitter_is_the_waist_overlap() -> None:
    # L = 0: w = w0 = D_T / 2, so an aperture of the same diameter collects 1 - exp(-2).
    assert float(geometric_efficiency(0.0, 850.0, 0.3, 0.3, 10.0)) == pytest.approx(1 - math.exp(-2.0), rel=1e-12)


def test_diffraction_limited_divergence_is_4_lambda_over_pi_d() -> None:
    # w0 = D/2, theta_half = lambda / (pi w0), full angle 4 lambda / (pi D): 3.61 urad for 850 nm, 300 mm.
    expected = 4 * 850e-9 / (math.pi * 0.3) * 1e6
    assert diffraction_limited_divergence_urad(850.0, 0.3) == pytest.approx(expected, rel=1e-12)
    implicit = geometric_efficiency([500.0, 1_200.0], 850.0, 0.3, 1.0)
    explicit = geometric_efficiency([500.0, 1_200.0], 850.0, 0.3, 1.0, expected)
    np.testing.assert_allclose(implicit, explicit, rtol=1e-12)


def test_geometric_loss_for_micius_matches_the_notes() -> None:
    # Section 2 of the research notes: 10 urad full angle, 1 m receiver: 13.3 dB at 645 km, 18.6 dB at 1,200 km.
    eta = geometric_efficiency([645.0, 1_200.0], 850.0, 0.3, 1.0, 10.0)
    np.testing.assert_allclose(-10 * np.log10(eta), [13.3, 18.6], atol=0.05)


# --- atmosphere -----------------------------------------------------------------------------------------


def test_air_mass_is_one_at_the_zenith() -> None:
    # Kasten & Young (1989) eq. (3) gives 0.99971 at z = 0; their table has 1 exactly.
    assert float(kasten_young_air_mass(90.0)) == pytest.approx(1.0, abs=5e-4)


@pytest.mark.parametrize("elevation", [30.0, 45.0, 60.0, 75.0])
def test_air_mass_is_one_over_sin_e_at_high_elevation(elevation: float) -> None:
    # The plane-parallel atmosphere is accurate above ~30 degrees.
    assert float(kasten_young_air_mass(elevation)) == pytest.approx(1 / math.sin(math.radians(elevation)), rel=5e-3)


def test_air_mass_at_the_horizon_is_the_kasten_young_value() -> None:
    # 1 / (0 + 0.50572 * 6.07995**-1.6364) = 37.92 (their tabulated value is ~38.09); plane-parallel would be inf.
    assert float(kasten_young_air_mass(0.0)) == pytest.approx(0.50572**-1 * 6.07995**1.6364, rel=1e-12)
    assert float(kasten_young_air_mass(0.0)) == pytest.approx(38.0, abs=0.2)


def test_atmospheric_transmittance_is_zenith_transmittance_to_the_air_mass() -> None:
    elevations = np.array([5.0, 20.0, 49.0, 90.0])
    expected = 0.8 ** kasten_young_air_mass(elevations)
    np.testing.assert_allclose(atmospheric_transmittance(elevations, 0.8), expected, rtol=1e-12)
    assert np.all(np.diff(atmospheric_transmittance(np.linspace(0, 90, 91), 0.8)) > 0)
    np.testing.assert_array_equal(atmospheric_transmittance(elevations, 1.0), 1.0)


# --- pointing -------------------------------------------------------------------------------------------


def test_pointing_efficiency_is_the_mean_gaussian_loss_over_rayleigh_jitter() -> None:
    # Monte Carlo over per-axis Gaussian errors of the static loss exp(-2 theta_p^2 / theta_half^2).
    sigma, divergence = 2.0, 10.0
    rng = np.random.default_rng(20240605)
    offsets = rng.normal(0.0, sigma, size=(400_000, 2))
    static = np.exp(-2 * np.sum(offsets**2, axis=1) / (divergence / 2) ** 2)
    assert float(pointing_efficiency(sigma, divergence)) == pytest.approx(float(static.mean()), rel=5e-3)


def test_pointing_efficiency_limits() -> None:
    assert float(pointing_efficiency(0.0, 10.0)) == 1.0
    # Small jitter: 1 - 16 sigma^2 / theta_full^2.
    assert float(pointing_efficiency(0.01, 10.0)) == pytest.approx(1 - 16 * 0.01**2 / 100, rel=1e-6)
    assert np.all(np.diff(pointing_efficiency(np.linspace(0, 20, 50), 10.0)) < 0)


# --- parameters and the total ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("wavelength_nm", 0.0),
        ("tx_aperture_m", -0.3),
        ("rx_aperture_m", math.nan),
        ("divergence_urad", 0.0),
        ("zenith_transmittance", 1.2),
        ("pointing_jitter_urad", -1.0),
        ("fixed_loss_db", -3.0),
        ("altitude_km", 0.0),
        ("min_elevation_deg", 90.0),
        ("station_altitude_km", 600.0),
    ],
)
def test_link_parameters_are_validated(field: str, value: float) -> None:
    with pytest.raises(ParameterError) as error:
        link(**{field: value})
    assert error.value.field == f"free_space_link.{field}"


def test_bad_function_inputs_name_the_argument() -> None:
    with pytest.raises(ParameterError, match="elevation_deg"):
        slant_range_km(95.0, 500.0)
    with pytest.raises(ParameterError, match="range_km"):
        elevation_deg_from_range(400.0, 500.0)
    with pytest.raises(ParameterError, match="jitter_urad"):
        pointing_efficiency(-1.0, 10.0)
    with pytest.raises(ParameterError, match="elevation_deg"):
        downlink_loss_db(link(), [30.0, 91.0])


def test_downlink_loss_is_the_sum_of_its_factors_in_db() -> None:
    params = link()
    elevation = 35.0
    distance = slant_range_km(elevation, params.altitude_km)
    eta = (
        geometric_efficiency(distance, 850.0, 0.3, 1.0, 10.0)
        * atmospheric_transmittance(elevation, 0.8)
        * pointing_efficiency(0.5, 10.0)
    )
    assert float(downlink_loss_db(params, elevation)) == pytest.approx(-10 * math.log10(float(eta)) + 3.0, rel=1e-12)


def test_downlink_loss_is_vectorised_and_closed_below_the_minimum_elevation() -> None:
    elevations = np.array([-5.0, 5.0, 10.0, 30.0, 60.0, 90.0])
    loss = downlink_loss_db(link(), elevations)
    assert loss.shape == elevations.shape
    assert np.all(np.isinf(loss[:2]))
    assert np.all(np.isfinite(loss[2:]))
    assert np.all(np.diff(loss[2:]) < 0)  # higher satellite, shorter path, less air: less loss
    assert downlink_loss_db(link(), 45.0).shape == ()


def test_diffraction_limited_link_uses_the_diffraction_limit_everywhere() -> None:
    limit = diffraction_limited_divergence_urad(850.0, 0.3)
    np.testing.assert_allclose(
        downlink_loss_db(link(divergence_urad=None), [20.0, 70.0]),
        downlink_loss_db(link(divergence_urad=limit), [20.0, 70.0]),
        rtol=1e-12,
    )


# --- Micius (Liao et al., Nature 549, 43 (2017)) --------------------------------------------------------

# The published channel loss against distance. Liao 2017 Fig. 3 could not be read here; these bands are from
# its digitisation in baidu/QCompute, Extensions/QuantumNetwork/examples/data/micius2017_link_efficiency.csv
# ("collected from Ref. [1]" = Liao 2017): the minimum and maximum of the digitised loss over the 10 km of
# the pass nearest each range (645.0-655.0 km and 1,190.0-1,200.0 km). The curve's own scatter (turbulence,
# tracking) is what makes these bands, not digitisation error.
MICIUS_PUBLISHED_LOSS_DB = {645.0: (29.71, 30.45), 1_200.0: (38.22, 40.34)}

# Micius and the Xinglong station, as given in the research notes (section 2, mostly from memory of the paper
# and secondary sources): 500 km orbit, 300 mm transmitter, 1 m receiver, 848.62 nm, ~10 urad divergence
# (read here as the full angle), ~0.5 urad fine-tracking error, station at ~0.9 km. Clear-sky zenith
# transmittance 0.8: the middle of the 0.7-0.9 the notes give as typical at 800-850 nm.
MICIUS_ZENITH_TRANSMITTANCE = 0.8
MICIUS_ZENITH_TRANSMITTANCE_RANGE = (0.7, 0.9)

# The fixed loss is NOT an independent budget (the per-component budget in Liao 2017's supplementary was
# not read). It is a one-point calibration: the published ~30 dB at 645 km minus the 14.7 dB this model
# gives there for diffraction, atmosphere and pointing, rounded to whole dB. The 645 km check is therefore
# a consistency check only; the 1,200 km check is the test of the model's range and elevation dependence.
MICIUS_FIXED_LOSS_DB = 15.0
FIXED_LOSS_ROUNDING_DB = 0.5


def micius(zenith_transmittance: float = MICIUS_ZENITH_TRANSMITTANCE) -> FreeSpaceLinkParams:
    return FreeSpaceLinkParams(
        wavelength_nm=848.62,
        tx_aperture_m=0.30,
        rx_aperture_m=1.0,
        divergence_urad=10.0,
        zenith_transmittance=zenith_transmittance,
        pointing_jitter_urad=0.5,
        fixed_loss_db=MICIUS_FIXED_LOSS_DB,
        altitude_km=500.0,
        min_elevation_deg=10.0,
        station_altitude_km=0.9,
    )


@pytest.mark.parametrize("range_km", sorted(MICIUS_PUBLISHED_LOSS_DB))
def test_micius_downlink_loss_falls_in_the_published_band(range_km: float) -> None:
    """Model loss at 645 km (~49 deg) and 1,200 km (~20 deg) against Liao 2017 as digitised.

    Which published numbers: the notes quote both "22 dB at 645 km -> 35 dB at 1,200 km" (from memory, no
    source found) and "~30 -> ~39 dB" (QCompute's digitisation of the paper's figure). We use the latter: it
    is the only one with a traceable source, and it is consistent with the other numbers of the paper. With
    the notes' mean 0.425 photons per pulse at 100 MHz and 50 % detectors it predicts ~12 kbit/s sifted at
    645 km and ~1 kbit/s at 1,200 km, the rates the notes recall, and a pass-averaged detection rate near the
    recalled 3,551,136 detections in 273 s (13 kHz, i.e. ~35 dB in total); 22 -> 35 dB would predict several
    times more. Its rise of 13 dB over a 1.86x range increase would also need ~6 dB more elevation-dependent
    loss than diffraction (5.3 dB) and air mass (1-2.5 dB) give.

    Tolerance, computed rather than chosen: how far the model moves when the zenith transmittance spans its
    typical 0.7-0.9 (0.7-0.8 dB at 645 km, 1.5-1.7 dB at 1,200 km), plus 0.5 dB for rounding the fixed loss.
    The published band's width already carries the curve's own scatter. Known result: the model rises ~7 dB
    from 645 to 1,200 km against ~9 dB published, so it sits ~1.6 dB under the band at 1,200 km; the missing
    elevation dependence (turbulence-degraded coupling at low elevation) is not modelled.
    """
    elevation = elevation_deg_from_range(range_km, 500.0, 0.9)
    nominal = float(downlink_loss_db(micius(), elevation))
    spread = max(
        abs(float(downlink_loss_db(micius(t), elevation)) - nominal) for t in MICIUS_ZENITH_TRANSMITTANCE_RANGE
    )
    tolerance = spread + FIXED_LOSS_ROUNDING_DB
    low, high = MICIUS_PUBLISHED_LOSS_DB[range_km]
    assert low - tolerance <= nominal <= high + tolerance, (nominal, low, high, tolerance)


def test_micius_pass_geometry_matches_the_notes() -> None:
    # Notes, section 2: 645 km is ~49 deg and 1,200 km ~19.8 deg elevation for a 500 km orbit.
    np.testing.assert_allclose(elevation_deg_from_range([645.0, 1_200.0], 500.0), [49.0, 19.8], atol=0.3)
