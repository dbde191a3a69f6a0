"""Free-space and satellite downlink channel: geometry, diffraction, atmosphere and pointing.

The loss of a downlink from a satellite at ``altitude_km`` seen at ``elevation_deg`` is the product of
independent factors, the usual link budget of LEO quantum-communication studies (e.g. Bourgoin et al.,
NJP 15, 023006 (2013); that paper was not read here, so no equation numbers are given for it):

    eta = eta_geo(L(e)) * T_atm(e) * <eta_point> * 10**(-fixed_loss_db / 10)

* ``L(e)``: slant range over a spherical Earth (:func:`slant_range_km`);
* ``eta_geo``: fraction of a Gaussian beam collected by the receiver aperture (:func:`geometric_efficiency`);
* ``T_atm``: clear-sky transmittance through ``m(e)`` air masses, with ``m`` from Kasten & Young, Applied
  Optics 28, 4735 (1989) (:func:`atmospheric_transmittance`);
* ``<eta_point>``: mean loss from random pointing jitter (:func:`pointing_efficiency`);
* ``fixed_loss_db``: everything this module does not model (optics of both terminals, analyser and coupling
  losses, turbulence-induced beam broadening and scintillation as a margin). Detector efficiency is *not*
  part of the channel: it belongs to :class:`qinternet.params.DetectorParams`.

Conventions used throughout: a beam *divergence* is the **full angle** of the 1/e² intensity cone,
``theta_full = 2 theta_half``, in µrad, so that far from the transmitter the 1/e² beam radius is
``w(L) = theta_half L``; a pointing *jitter* is the **per-axis** standard deviation ``sigma`` of the pointing
error, in µrad (the radial error is then Rayleigh-distributed with parameter ``sigma``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.checks import (
    require_finite,
    require_non_negative,
    require_open_unit,
    require_positive,
)
from qinternet.params.units import transmittance_to_db

__all__ = [
    "EARTH_RADIUS_KM",
    "FreeSpaceLinkParams",
    "atmospheric_transmittance",
    "diffraction_limited_divergence_urad",
    "downlink_loss_db",
    "downlink_loss_from_range_db",
    "elevation_deg_from_range",
    "geometric_efficiency",
    "kasten_young_air_mass",
    "pointing_efficiency",
    "slant_range_km",
]

FloatArray = NDArray[np.float64]

EARTH_RADIUS_KM = 6371.0
"""Mean Earth radius, km (IUGG mean radius R1 = 6371.0088 km, rounded); the Earth is taken as a sphere."""

# Constants of the Kasten-Young air-mass formula, Kasten & Young, Applied Optics 28, 4735 (1989), eq. (3):
# m(z) = 1 / (cos z + a (b - z)**(-c)), z the zenith angle in degrees.
_KY_A = 0.50572
_KY_B_DEG = 96.07995
_KY_C = 1.6364


def _as_array(value: ArrayLike) -> FloatArray:
    return np.asarray(value, dtype=np.float64)


def _require_elevation(field: str, elevation_deg: FloatArray) -> None:
    """Elevations must be finite and within [0, 90] degrees (the station sees the satellite)."""
    if not np.all(np.isfinite(elevation_deg)) or np.any((elevation_deg < 0.0) | (elevation_deg > 90.0)):
        raise ParameterError(field, "must be finite and in [0, 90] degrees")


def _require_orbit(altitude_km: float, station_altitude_km: float) -> None:
    require_positive("altitude_km", altitude_km)
    require_non_negative("station_altitude_km", station_altitude_km)
    if station_altitude_km >= altitude_km:
        raise ParameterError(
            "station_altitude_km", f"must be below the satellite altitude {altitude_km} km, got {station_altitude_km}"
        )


def slant_range_km(elevation_deg: ArrayLike, altitude_km: float, station_altitude_km: float = 0.0) -> FloatArray:
    """Distance from a ground station to a satellite seen at ``elevation_deg`` (array or scalar), km.

    Spherical Earth of radius ``R`` = :data:`EARTH_RADIUS_KM`; station at radius ``r_s = R + h_s``, satellite
    at ``r = R + h``. The law of cosines in the triangle (Earth centre, station, satellite) gives

        L(e) = sqrt(r**2 - r_s**2 cos(e)**2) - r_s sin(e),

    derived here, the standard form of LEO link studies; ``L(90°) = h - h_s`` and
    ``L(0°) = sqrt(r**2 - r_s**2)``.

    >>> round(float(slant_range_km(90.0, 500.0)), 6)
    500.0
    """
    _require_orbit(altitude_km, station_altitude_km)
    elevation = _as_array(elevation_deg)
    _require_elevation("elevation_deg", elevation)
    r_sat = EARTH_RADIUS_KM + altitude_km
    r_station = EARTH_RADIUS_KM + station_altitude_km
    e = np.radians(elevation)
    return np.asarray(np.sqrt(r_sat**2 - (r_station * np.cos(e)) ** 2) - r_station * np.sin(e), dtype=np.float64)


def elevation_deg_from_range(range_km: ArrayLike, altitude_km: float, station_altitude_km: float = 0.0) -> FloatArray:
    """Inverse of :func:`slant_range_km`: the elevation at which the satellite is ``range_km`` away, degrees.

    From the same triangle, ``r**2 = r_s**2 + L**2 + 2 r_s L sin(e)``, so
    ``sin(e) = (r**2 - r_s**2 - L**2) / (2 r_s L)``. Ranges must lie between ``h - h_s`` (zenith) and
    ``sqrt(r**2 - r_s**2)`` (horizon).
    """
    _require_orbit(altitude_km, station_altitude_km)
    distance = _as_array(range_km)
    r_sat = EARTH_RADIUS_KM + altitude_km
    r_station = EARTH_RADIUS_KM + station_altitude_km
    shortest = altitude_km - station_altitude_km
    longest = math.sqrt(r_sat**2 - r_station**2)
    tolerance = 1e-9 * longest
    if not np.all(np.isfinite(distance)) or np.any(
        (distance < shortest - tolerance) | (distance > longest + tolerance)
    ):
        raise ParameterError("range_km", f"must be in [{shortest:g}, {longest:.6g}] km for this orbit")
    # Height v = L sin(e) and ground distance u = L cos(e) of the satellite in the station's frame, with
    # u**2 = (L - v)(L + v) and L - v = (L - (h - h_s))(L + r_s + r) / (2 r_s) factored so that atan2 stays
    # accurate near the zenith, where arcsin of sin(e) ~ 1 would lose half the digits.
    height = (r_sat**2 - r_station**2 - distance**2) / (2.0 * r_station)
    below = (distance - shortest) * (distance + r_station + r_sat) / (2.0 * r_station)
    ground = np.sqrt(np.maximum(below * (distance + height), 0.0))
    return np.asarray(np.degrees(np.arctan2(np.maximum(height, 0.0), ground)), dtype=np.float64)


def diffraction_limited_divergence_urad(wavelength_nm: float, tx_aperture_m: float) -> float:
    """Full-angle 1/e² divergence of a Gaussian beam whose waist fills the transmitter aperture, µrad.

    Waist ``w0 = D_T / 2`` (1/e² intensity radius equal to the aperture radius; the 13.5 % truncated by the
    aperture is left to the fixed loss); far-field half-angle ``theta_half = lambda / (pi w0)`` (textbook
    Gaussian-beam optics, e.g. Siegman, *Lasers* (1986)). Full angle
    ``theta_full = 2 theta_half = 4 lambda / (pi D_T)``.

    >>> round(diffraction_limited_divergence_urad(850.0, 0.3), 3)
    3.608
    """
    require_positive("wavelength_nm", wavelength_nm)
    require_positive("tx_aperture_m", tx_aperture_m)
    return 4.0 * wavelength_nm * 1e-9 / (math.pi * tx_aperture_m) * 1e6


def geometric_efficiency(
    range_km: ArrayLike,
    wavelength_nm: float,
    tx_aperture_m: float,
    rx_aperture_m: float,
    divergence_urad: float | None = None,
) -> FloatArray:
    """Fraction of a Gaussian beam's power that falls on a circular receiver aperture at ``range_km``.

    Args:
        range_km: transmitter-receiver distance (array or scalar), km, >= 0.
        wavelength_nm: wavelength, nm (used only when ``divergence_urad`` is None).
        tx_aperture_m: transmitter aperture diameter ``D_T``, m; sets the waist ``w0 = D_T / 2``.
        rx_aperture_m: receiver aperture diameter ``D_R = 2a``, m.
        divergence_urad: full-angle 1/e² divergence ``theta_full``, µrad; None for the diffraction limit
            of the transmitter (:func:`diffraction_limited_divergence_urad`).

    Model: a Gaussian beam of 1/e² radius ``w(L) = sqrt(w0**2 + (theta_half L)**2)`` centred on an aperture
    of radius ``a`` delivers ``eta = 1 - exp(-2 a**2 / w(L)**2)`` (integral of the Gaussian intensity
    profile over the disc; standard, derived here, and the form usual in LEO link budgets).
    Far from the transmitter ``eta ≈ 2 a**2 / (theta_half L)**2``. Turbulence broadening is not included;
    for a downlink it is small and belongs in the fixed loss.
    """
    require_positive("tx_aperture_m", tx_aperture_m)
    require_positive("rx_aperture_m", rx_aperture_m)
    if divergence_urad is None:
        divergence_urad = diffraction_limited_divergence_urad(wavelength_nm, tx_aperture_m)
    require_positive("divergence_urad", divergence_urad)
    distance_m = _as_array(range_km) * 1e3
    if not np.all(np.isfinite(distance_m)) or np.any(distance_m < 0.0):
        raise ParameterError("range_km", "must be finite and >= 0")
    theta_half = 0.5 * divergence_urad * 1e-6
    waist = 0.5 * tx_aperture_m
    radius_sq = waist**2 + (theta_half * distance_m) ** 2
    a = 0.5 * rx_aperture_m
    return np.asarray(-np.expm1(-2.0 * a**2 / radius_sq), dtype=np.float64)


def kasten_young_air_mass(elevation_deg: ArrayLike) -> FloatArray:
    """Relative optical air mass at ``elevation_deg`` (array or scalar): Kasten & Young (1989), eq. (3).

    ``m(z) = 1 / (cos z + 0.50572 (96.07995° - z)**-1.6364)``, ``z = 90° - e`` in degrees: Kasten, F. &
    Young, A. T., "Revised optical air mass tables and approximation formula", Applied Optics 28, 4735
    (1989). The fit is to their table for the ISO standard atmosphere; ``m ≈ 1`` at the zenith, ``≈ 1/sin e``
    at high elevation and ``≈ 38`` at the horizon. (The paper itself was not read: that the formula is its
    eq. (3) is from the documentation of the R package photobiology, ``relative_AM``; the constants are the
    ones reproduced, with this citation, by many independent implementations, e.g. libTheSky and ports of
    NREL's SOLPOS. The formula is written for the apparent, refracted elevation.)

    >>> round(float(kasten_young_air_mass(0.0)), 2)
    37.92
    """
    elevation = _as_array(elevation_deg)
    _require_elevation("elevation_deg", elevation)
    zenith = 90.0 - elevation
    return np.asarray(1.0 / (np.cos(np.radians(zenith)) + _KY_A * (_KY_B_DEG - zenith) ** (-_KY_C)), dtype=np.float64)


def atmospheric_transmittance(elevation_deg: ArrayLike, zenith_transmittance: float) -> FloatArray:
    """Clear-sky transmittance ``T_zen ** m(e)`` along the line of sight at ``elevation_deg``.

    Beer-Lambert extinction through ``m`` air masses, ``m`` from :func:`kasten_young_air_mass` (Kasten &
    Young, Applied Optics 28, 4735 (1989)), which stays finite at the horizon where the plane-parallel
    ``1/sin e`` diverges. ``zenith_transmittance`` is site- and wavelength-specific (clear sky at 800-850 nm
    is typically 0.7-0.9; not from a source checked here) and is the user's to give.
    """
    require_open_unit("zenith_transmittance", zenith_transmittance)
    return np.asarray(np.power(zenith_transmittance, kasten_young_air_mass(elevation_deg)), dtype=np.float64)


def pointing_efficiency(jitter_urad: ArrayLike, divergence_urad: float) -> FloatArray:
    """Mean fraction of power kept under random pointing jitter, ``1 / (1 + 4 sigma**2 / theta_half**2)``.

    Args:
        jitter_urad: per-axis standard deviation ``sigma`` of the pointing error (array or scalar), µrad.
        divergence_urad: full-angle 1/e² beam divergence ``theta_full = 2 theta_half``, µrad.

    A Gaussian beam pointed ``theta_p`` off the receiver delivers ``exp(-2 theta_p**2 / theta_half**2)`` of
    its on-axis intensity. With independent Gaussian errors of variance ``sigma**2`` on both axes,
    ``theta_p`` is Rayleigh-distributed and ``E[exp(-k X**2)] = 1 / sqrt(1 + 2 k sigma**2)`` per axis gives
    the mean above, i.e. ``1 / (1 + 16 sigma**2 / theta_full**2)``. (Derived here, not taken from a paper;
    the tests check it by Monte Carlo.) It is the mean transmittance, not its distribution: fading statistics
    are not modelled.
    """
    require_positive("divergence_urad", divergence_urad)
    sigma = _as_array(jitter_urad)
    if not np.all(np.isfinite(sigma)) or np.any(sigma < 0.0):
        raise ParameterError("jitter_urad", "must be finite and >= 0")
    theta_half = 0.5 * divergence_urad
    return np.asarray(1.0 / (1.0 + 4.0 * (sigma / theta_half) ** 2), dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class FreeSpaceLinkParams:
    """A satellite-to-ground optical downlink.

    Attributes:
        wavelength_nm: wavelength of the quantum signal, nm.
        tx_aperture_m: satellite telescope aperture diameter, m.
        rx_aperture_m: ground telescope aperture diameter, m.
        divergence_urad: full-angle 1/e² beam divergence, µrad; None for the diffraction limit of
            ``tx_aperture_m``.
        zenith_transmittance: clear-sky atmospheric transmittance towards the zenith at the ground site, (0, 1].
        pointing_jitter_urad: per-axis standard deviation of the pointing error, µrad.
        fixed_loss_db: elevation-independent loss: optics of both terminals, receiver analyser and coupling,
            and any margin for turbulence, dB. Detector efficiency is not included.
        altitude_km: satellite altitude above the (spherical) Earth, km.
        min_elevation_deg: elevation below which the link is closed (loss reported as +inf), degrees.
        station_altitude_km: altitude of the ground station, km.
    """

    wavelength_nm: float
    tx_aperture_m: float
    rx_aperture_m: float
    divergence_urad: float | None = None
    zenith_transmittance: float
    pointing_jitter_urad: float = 0.0
    fixed_loss_db: float = 0.0
    altitude_km: float
    min_elevation_deg: float = 10.0
    station_altitude_km: float = 0.0

    def __post_init__(self) -> None:
        require_positive("free_space_link.wavelength_nm", self.wavelength_nm)
        require_positive("free_space_link.tx_aperture_m", self.tx_aperture_m)
        require_positive("free_space_link.rx_aperture_m", self.rx_aperture_m)
        if self.divergence_urad is not None:
            require_positive("free_space_link.divergence_urad", self.divergence_urad)
        require_open_unit("free_space_link.zenith_transmittance", self.zenith_transmittance)
        require_non_negative("free_space_link.pointing_jitter_urad", self.pointing_jitter_urad)
        require_non_negative("free_space_link.fixed_loss_db", self.fixed_loss_db)
        require_positive("free_space_link.altitude_km", self.altitude_km)
        require_non_negative("free_space_link.station_altitude_km", self.station_altitude_km)
        if self.station_altitude_km >= self.altitude_km:
            raise ParameterError("free_space_link.station_altitude_km", "must be below altitude_km")
        require_finite("free_space_link.min_elevation_deg", self.min_elevation_deg)
        if not 0.0 <= self.min_elevation_deg < 90.0:
            raise ParameterError(
                "free_space_link.min_elevation_deg", f"must be in [0, 90), got {self.min_elevation_deg}"
            )

    @property
    def full_divergence_urad(self) -> float:
        """The full-angle 1/e² divergence actually used: the given one, or the transmitter's diffraction limit."""
        if self.divergence_urad is not None:
            return self.divergence_urad
        return diffraction_limited_divergence_urad(self.wavelength_nm, self.tx_aperture_m)


def downlink_loss_db(params: FreeSpaceLinkParams, elevation_deg: ArrayLike) -> FloatArray:
    """Total channel loss of the downlink at ``elevation_deg`` (array or scalar), dB; +inf below the minimum.

    ``loss = -10 log10(eta_geo(L(e)) T_atm(e) <eta_point>) + fixed_loss_db`` with the factors of
    :func:`geometric_efficiency`, :func:`atmospheric_transmittance` and :func:`pointing_efficiency`, and
    ``L(e)`` from :func:`slant_range_km`. Elevations below ``params.min_elevation_deg`` (including negative
    ones, satellite below the horizon) give ``inf``: no link. Elevations above 90° or NaN are rejected.
    A scalar elevation gives a 0-d array.
    """
    elevation = _as_array(elevation_deg)
    if not np.all(np.isfinite(elevation)) or np.any(elevation > 90.0):
        raise ParameterError("elevation_deg", "must be finite and <= 90 degrees")
    open_link = elevation >= params.min_elevation_deg
    seen = np.where(open_link, elevation, 90.0)
    distance = slant_range_km(seen, params.altitude_km, params.station_altitude_km)
    divergence = params.full_divergence_urad
    transmittance = (
        geometric_efficiency(distance, params.wavelength_nm, params.tx_aperture_m, params.rx_aperture_m, divergence)
        * atmospheric_transmittance(seen, params.zenith_transmittance)
        * pointing_efficiency(params.pointing_jitter_urad, divergence)
    )
    loss = transmittance_to_db(transmittance) + params.fixed_loss_db
    return np.asarray(np.where(open_link, loss, np.inf), dtype=np.float64)


def downlink_loss_from_range_db(
    range_km: ArrayLike,
    elevation_deg: ArrayLike,
    *,
    wavelength_nm: float,
    tx_aperture_m: float,
    rx_aperture_m: float,
    divergence_urad: float | None,
    zenith_transmittance: float,
    pointing_jitter_urad: float,
    fixed_loss_db: float,
) -> FloatArray:
    """Channel loss of a downlink at the given slant ranges and elevations (arrays broadcast), dB.

    The same budget as :func:`downlink_loss_db`, ``-10 log10(eta_geo(L) T_atm(e) <eta_point>) + fixed_loss_db``,
    for any orbit: the range ``L`` is given (e.g. from SGP4) instead of following from a circular orbit's
    altitude. ``divergence_urad`` None means the transmitter's diffraction limit
    (:func:`diffraction_limited_divergence_urad`). Detector efficiency is not included.
    """
    ranges = _as_array(range_km)
    elevation = _as_array(elevation_deg)
    geometric = geometric_efficiency(ranges, wavelength_nm, tx_aperture_m, rx_aperture_m, divergence_urad)
    divergence = divergence_urad
    if divergence is None:
        divergence = diffraction_limited_divergence_urad(wavelength_nm, tx_aperture_m)
    transmittance = (
        geometric
        * atmospheric_transmittance(elevation, zenith_transmittance)
        * pointing_efficiency(pointing_jitter_urad, divergence)
    )
    return np.asarray(-10.0 * np.log10(transmittance) + fixed_loss_db, dtype=np.float64)
