"""Sky background of a ground receiver: scattered sunlight against the Sun's elevation.

A telescope of aperture area ``A = pi D**2 / 4`` whose detectors see a field of view of solid angle ``Omega``
through a filter of width ``Δλ`` and a gate of ``Δt`` collects, from a sky of spectral radiance ``H_b``,

    N_b = H_b * Omega * A * Δλ * Δt / (h c / lambda)                                    (photons per gate)

the étendue ``A Omega`` times the band and the gate, divided by the photon energy. This is the background count of
satellite-QKD link studies, ``N_b = H_b Omega_fov pi r**2 Δλ Δt / (h nu)`` (Er-long Miao et al., "Background noise
of satellite-to-ground quantum key distribution", New J. Phys. 7, 215 (2005); Bonato et al., "Feasibility of
satellite quantum key distribution", New J. Phys. 11, 045017 (2009)); neither paper was read here, so no equation
numbers are given: the form above is the definition of radiance, derived here. A detector behind the receiver
clicks on them with probability ``1 - exp(-eta N_b)`` (Poisson light, ``eta`` from the aperture to a click).

The sky radiance (:func:`sky_spectral_radiance_w_m2_sr_um`) is a model of a *clear* sky, the product of

* a spectrum: sunlight (a black body at the Sun's effective temperature, 5772 K, IAU 2015 Resolution B3) scattered
  with an efficiency ``lambda**-n``, ``n = 4`` for Rayleigh scattering by air molecules (Lord Rayleigh, Phil.
  Mag. 41, 447 (1871)); aerosols scatter with ``n`` nearer 1-1.5 (Ångström exponent), which brightens a hazy sky
  in the infrared relative to the visible;
* a brightness scale: with the Sun at the zenith, a cloudless sky delivers a diffuse irradiance of about 70 W/m²
  (1367 W/m² above the atmosphere, ~1050 W/m² direct and ~1120 W/m² global at the ground: Wikipedia, "Diffuse sky
  radiation", read here in a stored copy). An isotropic sky of radiance ``L`` gives ``pi L`` on a horizontal
  surface, so the band-integrated radiance is ``70 / pi`` W/(m² sr), spread over 300 nm (the ozone cut-off) to
  4 µm with the spectrum above;
* the Sun's elevation ``h`` (:func:`sky_brightness_ratio`): by day the clear-sky diffuse illuminance of
  Krochmann & Seidl, Lighting Res. Technol. 6, 165 (1974), ``0.8 + 15.5 sqrt(sin h)`` klx (as quoted in daylighting
  texts; the paper was not read), with its sunset value replaced by the 0.5 klx that joins the twilight values;
  in twilight, log-linear between the horizontal illuminances of the AMS Glossary of Meteorology ("civil
  twilight": ~585-410 lux at sunset, ~3.5-2 lux at -6°; "astronomical twilight": ~0.008 lux at -12°, ~6e-4 lux at
  -18°; geometric means of the ranges are used). Below -18° (astronomical night) the scattered sunlight is taken
  as zero: what remains (airglow, starlight, zodiacal light) is the night sky's own background, which receivers
  characterised at night carry in their dark-count probability (the ``micius2017`` preset's "dark and
  background counts"). The Moon is not modelled.

What the model leaves out, and the size of it: the sky is taken as uniform, while a clear sky brightens towards
the horizon and near the Sun (a receiver looking within a few tens of degrees of the Sun sees several times more);
the spectrum ignores absorption bands and the Sun's Fraunhofer lines; turbidity and clouds change the brightness by
factors of several. It is meant to tell a receiver that daylight blinds from one that daylight leaves working, not
to predict a count to better than a factor of a few.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.checks import require_finite, require_non_negative, require_open_unit, require_positive
from qinternet.physics.raman import PLANCK_J_S, SPEED_OF_LIGHT_M_S

__all__ = [
    "SKY_BAND_NM",
    "SUN_EFFECTIVE_TEMPERATURE_K",
    "ZENITH_SUN_DIFFUSE_IRRADIANCE_W_M2",
    "SkyParams",
    "SkyReceiver",
    "field_of_view_sr",
    "sky_brightness_ratio",
    "sky_click_prob_per_gate",
    "sky_photons_per_gate",
    "sky_spectral_radiance_w_m2_sr_um",
    "sky_spectrum_per_um",
]

FloatArray = NDArray[np.float64]

BOLTZMANN_J_K = 1.380649e-23
"""Boltzmann constant, J/K (exact in the 2019 SI)."""
SUN_EFFECTIVE_TEMPERATURE_K = 5772.0
"""Nominal effective temperature of the Sun, K (IAU 2015 Resolution B3)."""
ZENITH_SUN_DIFFUSE_IRRADIANCE_W_M2 = 70.0
"""Diffuse irradiance on a horizontal surface under a cloudless sky with the Sun at the zenith, W/m² (Wikipedia,
"Diffuse sky radiation": ~1120 W/m² global less ~1050 W/m² direct)."""
SKY_BAND_NM = (300.0, 4000.0)
"""Wavelengths over which the diffuse irradiance is spread, nm: from the ozone cut-off (below ~300 nm sunlight does
not reach the ground) to 4 µm, beyond which a 5772 K black body scattered as ``lambda**-n`` carries < 0.1 %."""

_DAY_ZENITH_LUX = 16_300.0
"""Clear-sky diffuse illuminance with the Sun at the zenith, lux: Krochmann & Seidl (1974), 0.8 + 15.5 klx."""
_TWILIGHT_DEG = np.array([-18.0, -12.0, -6.0, 0.0])
"""Solar elevations of the AMS Glossary's twilight illuminances, degrees."""
_TWILIGHT_LUX = np.array([6e-4, 8e-3, math.sqrt(3.5 * 2.0), math.sqrt(585.0 * 410.0)])
"""Horizontal illuminance at those elevations, lux (AMS Glossary of Meteorology, "civil twilight" and
"astronomical twilight"; geometric means where a range is given)."""
_NIGHT_DEG = -18.0
"""Below this solar elevation (end of astronomical twilight) scattered sunlight is taken as zero."""
_SPECTRUM_GRID = np.geomspace(SKY_BAND_NM[0], SKY_BAND_NM[1], 4001)
"""Wavelength grid of the spectrum's normalisation, nm (0.065 % steps; the trapezoid errs by < 1e-6)."""


def _as_array(value: ArrayLike) -> FloatArray:
    return np.asarray(value, dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class SkyParams:
    """A clear sky.

    Attributes:
        zenith_sun_diffuse_irradiance_w_m2: diffuse irradiance on a horizontal surface with the Sun at the
            zenith, W/m² (default: :data:`ZENITH_SUN_DIFFUSE_IRRADIANCE_W_M2`, a cloudless sky).
        scattering_exponent: ``n`` of the scattering efficiency ``lambda**-n``: 4 for air molecules (Rayleigh),
            ~1-1.5 for a hazy, aerosol-laden sky, 0 for grey scattering.
    """

    zenith_sun_diffuse_irradiance_w_m2: float = ZENITH_SUN_DIFFUSE_IRRADIANCE_W_M2
    scattering_exponent: float = 4.0

    def __post_init__(self) -> None:
        require_non_negative("sky.zenith_sun_diffuse_irradiance_w_m2", self.zenith_sun_diffuse_irradiance_w_m2)
        require_finite("sky.scattering_exponent", self.scattering_exponent)
        if not 0.0 <= self.scattering_exponent <= 4.0:
            raise ParameterError("sky.scattering_exponent", f"must be in [0, 4], got {self.scattering_exponent}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SkyReceiver:
    """What of the sky a ground receiver takes in.

    Attributes:
        wavelength_nm: centre of the receiver's filter (the signal's wavelength), nm.
        aperture_m: telescope aperture diameter ``D``, m.
        field_of_view_urad: full angle of the cone the detectors see through the telescope, µrad.
        filter_bandwidth_nm: width ``Δλ`` of the spectral filter, nm.
        gate_s: detection gate (or window) ``Δt`` per pulse, s.
        efficiency: probability that a sky photon entering the aperture within the field of view and the band
            makes a click: receiver optics times detector efficiency, in (0, 1].
    """

    wavelength_nm: float
    aperture_m: float
    field_of_view_urad: float
    filter_bandwidth_nm: float
    gate_s: float
    efficiency: float

    def __post_init__(self) -> None:
        require_positive("receiver.wavelength_nm", self.wavelength_nm)
        require_positive("receiver.aperture_m", self.aperture_m)
        require_positive("receiver.field_of_view_urad", self.field_of_view_urad)
        if self.field_of_view_urad > 2.0 * math.pi * 1e6:
            raise ParameterError("receiver.field_of_view_urad", f"must be <= 2 pi rad, got {self.field_of_view_urad}")
        require_positive("receiver.filter_bandwidth_nm", self.filter_bandwidth_nm)
        require_positive("receiver.gate_s", self.gate_s)
        require_open_unit("receiver.efficiency", self.efficiency)


def field_of_view_sr(field_of_view_urad: ArrayLike) -> FloatArray:
    """Solid angle of a cone of full angle ``theta`` (µrad): ``Omega = 2 pi (1 - cos(theta / 2))``, sr.

    The exact cap of a sphere; ``≈ pi (theta / 2)**2`` for the µrad fields of view of telescopes.

    >>> f"{float(field_of_view_sr(100.0)):.4e}"
    '7.8540e-09'
    """
    theta = _as_array(field_of_view_urad) * 1e-6
    if not np.all(np.isfinite(theta)) or np.any((theta < 0.0) | (theta > 2.0 * math.pi)):
        raise ParameterError("field_of_view_urad", "must be finite and in [0, 2 pi rad]")
    return np.asarray(4.0 * math.pi * np.sin(theta / 4.0) ** 2, dtype=np.float64)  # 2 pi (1 - cos x) = 4 pi sin²(x/2)


def _planck_shape(wavelength_nm: FloatArray) -> FloatArray:
    """``lambda**-5 / (exp(hc / (lambda k T)) - 1)`` at the Sun's temperature (unnormalised Planck law, nm)."""
    x = PLANCK_J_S * SPEED_OF_LIGHT_M_S / (wavelength_nm * 1e-9 * BOLTZMANN_J_K * SUN_EFFECTIVE_TEMPERATURE_K)
    return np.asarray(wavelength_nm**-5.0 / np.expm1(x), dtype=np.float64)


@functools.lru_cache(maxsize=64)
def _spectrum_norm_per_nm(scattering_exponent: float) -> float:
    """``∫ B(lambda) lambda**-n dlambda`` over :data:`SKY_BAND_NM` (nm), by the trapezoid rule on a fine grid."""
    grid = _SPECTRUM_GRID
    return float(np.trapezoid(_planck_shape(grid) * grid**-scattering_exponent, grid))


def sky_spectrum_per_um(wavelength_nm: ArrayLike, scattering_exponent: float = 4.0) -> FloatArray:
    """Fraction of the diffuse sky's power per µm of wavelength at ``wavelength_nm`` (array or scalar), /µm.

    ``f(lambda) = B(lambda, 5772 K) lambda**-n / ∫ B lambda**-n dlambda`` over 300 nm-4 µm (zero outside):
    sunlight of black-body shape scattered with efficiency ``lambda**-n`` (module docstring). Between two
    wavelengths it falls by the scattering factor ``(lambda1/lambda2)**n`` times the solar factor
    ``B(lambda2)/B(lambda1)``; from 850 to 1550 nm that is 0.0904 x 0.221 = 0.020 for Rayleigh scattering.
    """
    require_finite("scattering_exponent", scattering_exponent)
    wavelength = _as_array(wavelength_nm)
    if not np.all(np.isfinite(wavelength)) or np.any(wavelength <= 0.0):
        raise ParameterError("wavelength_nm", "must be finite and > 0")
    inside = (wavelength >= SKY_BAND_NM[0]) & (wavelength <= SKY_BAND_NM[1])
    shape = _planck_shape(np.where(inside, wavelength, 1000.0)) * np.where(inside, wavelength, 1000.0) ** (
        -scattering_exponent
    )
    return np.asarray(np.where(inside, shape / _spectrum_norm_per_nm(scattering_exponent) * 1e3, 0.0))


def sky_brightness_ratio(sun_elevation_deg: ArrayLike) -> FloatArray:
    """Brightness of the clear sky relative to its brightness with the Sun at the zenith (array or scalar).

    ``h >= 0``: ``(E0 + (E90 - E0) sqrt(sin h)) / E90`` with ``E90 = 16.3`` klx (Krochmann & Seidl (1974), clear
    sky, ``0.8 + 15.5 sqrt(sin h)`` klx) and ``E0`` the AMS sunset value (0.49 klx); ``-18° <= h < 0``: the AMS
    Glossary's twilight illuminances, interpolated linearly in ``log E``; ``h < -18°``: 0 (module docstring).

    >>> [f"{r:.3g}" for r in sky_brightness_ratio([90.0, 0.0, -12.0, -30.0])]
    ['1', '0.03', '4.91e-07', '0']
    """
    elevation = _as_array(sun_elevation_deg)
    if not np.all(np.isfinite(elevation)) or np.any(np.abs(elevation) > 90.0):
        raise ParameterError("sun_elevation_deg", "must be finite and in [-90, 90] degrees")
    sunset_lux = float(_TWILIGHT_LUX[-1])
    day_lux = sunset_lux + (_DAY_ZENITH_LUX - sunset_lux) * np.sqrt(np.sin(np.radians(np.clip(elevation, 0.0, 90.0))))
    # (capped at the sunset value, which 10**log10 can overshoot by a rounding error)
    twilight_lux = np.minimum(10.0 ** np.interp(elevation, _TWILIGHT_DEG, np.log10(_TWILIGHT_LUX)), sunset_lux)
    lux = np.where(elevation >= 0.0, day_lux, np.where(elevation >= _NIGHT_DEG, twilight_lux, 0.0))
    return np.asarray(lux / _DAY_ZENITH_LUX, dtype=np.float64)


def sky_spectral_radiance_w_m2_sr_um(
    sun_elevation_deg: ArrayLike, wavelength_nm: float, sky: SkyParams | None = None
) -> FloatArray:
    """Spectral radiance ``H_b`` of the clear sky at ``wavelength_nm`` for the Sun at ``sun_elevation_deg``.

    ``H_b = (E_d / pi) f(lambda) r(h)``, W/(m² sr µm): the zenith-Sun diffuse irradiance ``E_d`` of an isotropic
    sky, the spectrum :func:`sky_spectrum_per_um` and the elevation factor :func:`sky_brightness_ratio`.
    With the defaults, the zenith-Sun sky at 850 nm has ~2.7 W/(m² sr µm) and at 1550 nm ~0.054.
    """
    sky = SkyParams() if sky is None else sky
    scale = sky.zenith_sun_diffuse_irradiance_w_m2 / math.pi
    spectrum = sky_spectrum_per_um(wavelength_nm, sky.scattering_exponent)
    return np.asarray(scale * spectrum * sky_brightness_ratio(sun_elevation_deg), dtype=np.float64)


def sky_photons_per_gate(radiance_w_m2_sr_um: ArrayLike, receiver: SkyReceiver) -> FloatArray:
    """Mean number of sky photons entering the receiver in one gate: ``H_b Omega A Δλ Δt lambda / (h c)``.

    Args:
        radiance_w_m2_sr_um: sky spectral radiance ``H_b`` (array or scalar), W/(m² sr µm).
        receiver: field of view, aperture, filter, gate and wavelength.

    See the module docstring for the form (Miao et al. 2005; Bonato et al. 2009). The efficiency of the receiver
    is not applied here (:func:`sky_click_prob_per_gate` does).
    """
    radiance = _as_array(radiance_w_m2_sr_um)
    if not np.all(np.isfinite(radiance)) or np.any(radiance < 0.0):
        raise ParameterError("radiance_w_m2_sr_um", "must be finite and >= 0")
    area_m2 = math.pi * receiver.aperture_m**2 / 4.0
    band_um = receiver.filter_bandwidth_nm * 1e-3
    photon_energy_j = PLANCK_J_S * SPEED_OF_LIGHT_M_S / (receiver.wavelength_nm * 1e-9)
    etendue = float(field_of_view_sr(receiver.field_of_view_urad)) * area_m2
    return np.asarray(radiance * etendue * band_um * receiver.gate_s / photon_energy_j, dtype=np.float64)


def sky_click_prob_per_gate(
    sun_elevation_deg: ArrayLike, receiver: SkyReceiver, sky: SkyParams | None = None
) -> FloatArray:
    """Probability that sky light makes the receiver click in a gate, ``1 - exp(-eta N_b)``, for each elevation.

    ``N_b`` from :func:`sky_photons_per_gate` of :func:`sky_spectral_radiance_w_m2_sr_um`; sky light is
    broadband and unsynchronised, so its photon number in a gate is Poissonian. This is the click probability of
    the whole receiver; sky light is unpolarised, so each of ``k`` detectors behind polarisation analysers clicks
    with ``1 - exp(-eta N_b / k)``.
    """
    radiance = sky_spectral_radiance_w_m2_sr_um(sun_elevation_deg, receiver.wavelength_nm, sky)
    return np.asarray(-np.expm1(-receiver.efficiency * sky_photons_per_gate(radiance, receiver)), dtype=np.float64)
