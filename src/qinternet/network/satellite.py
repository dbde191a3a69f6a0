"""Satellite passes over ground stations: when a satellite is above a minimum elevation, optionally only at night.

An orbit is given either by a two-line element set (TLE) or by circular orbital elements; both are propagated
with SGP4 (Hoots & Roehrich, Spacetrack Report No. 3 (1980); Vallado et al., AIAA 2006-6753) through skyfield.
The Sun comes from the JPL DE421 ephemeris shipped by ``skyfield-data``, and the timescale uses skyfield's
built-in UT1/leap-second tables, so nothing is ever downloaded.

Times at the interface are timezone-aware :class:`datetime.datetime` objects (naive ones are rejected) or, for
:func:`elevation_track`, float seconds from an explicit epoch.

>>> round(sun_synchronous_inclination_deg(500.0), 1)
97.4
>>> round(orbital_period_s(500.0) / 60.0, 1)
94.6
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import skyfield_data  # type: ignore[import-untyped,unused-ignore]
from numpy.typing import ArrayLike, NDArray
from sgp4.api import WGS72, Satrec  # type: ignore[import-untyped,unused-ignore]
from sgp4.earth_gravity import wgs72  # type: ignore[import-untyped,unused-ignore]
from skyfield.api import EarthSatellite, Loader, wgs84  # type: ignore[import-untyped,unused-ignore]
from skyfield.searchlib import find_discrete  # type: ignore[import-untyped,unused-ignore]

from qinternet.errors import ParameterError
from qinternet.params.checks import require_finite, require_positive

__all__ = [
    "GroundStation",
    "Orbit",
    "Pass",
    "earth_satellite",
    "elevation_track",
    "ephemeris_span_utc",
    "orbital_period_s",
    "passes",
    "raan_for_node_local_time_deg",
    "require_ephemeris_covers",
    "sun_elevation_track",
    "sun_synchronous_inclination_deg",
]

# skyfield and sgp4 ship no type information; their objects are typed ``Any`` here and converted to numpy
# arrays, floats and datetimes before they leave this module.
_Skyfield = Any

MU_EARTH_KM3_S2: float = float(wgs72.mu)
"""Earth's gravitational parameter, km^3/s^2 (WGS72, the constants SGP4 propagates with)."""
R_EARTH_KM: float = float(wgs72.radiusearthkm)
"""Earth's equatorial radius, km (WGS72). Circular-orbit altitudes are measured above it."""
J2_EARTH: float = float(wgs72.j2)
"""Earth's second zonal harmonic (WGS72), dimensionless."""

_TROPICAL_YEAR_S = 365.2421897 * 86_400.0
"""Mean tropical year (J2000), s: the period of the Sun's mean longitude, which a sun-synchronous node follows."""
_MIN_ALTITUDE_KM = 100.0
"""Lowest circular orbit accepted: the Karman line; nothing stays in orbit below it."""
_SGP4_EPOCH = datetime(1949, 12, 31, tzinfo=UTC)
"""``Satrec.sgp4init`` counts its epoch in days from 1949 December 31 00:00 UT."""
_DAY_S = 86_400.0
_SUN_STEP_DAYS = 1.0 / 48.0
"""Sampling step of the night search: the Sun crosses a given elevation at most twice a day, hours apart,
except where its daily extreme grazes the threshold (polar latitudes); a night shorter than 30 min may be missed."""
_IDENTITY_3 = np.identity(3)
_RISE, _CULMINATE, _SET = 0, 1, 2  # the event codes of skyfield's EarthSatellite.find_events


# --------------------------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------------------------


def _require_altitude(field: str, altitude_km: float) -> None:
    require_finite(field, altitude_km)
    if altitude_km < _MIN_ALTITUDE_KM:
        raise ParameterError(field, f"must be >= {_MIN_ALTITUDE_KM:g} km (Karman line), got {altitude_km}")


def orbital_period_s(altitude_km: float) -> float:
    """Keplerian period ``2 pi sqrt(a^3 / mu)`` of a circular orbit of radius ``a = R_E + altitude_km``, in s.

    Kepler's third law with the WGS72 ``mu`` and equatorial ``R_E``. J2 makes the nodal (draconic) period of a
    real low orbit differ from this by ~0.1 %.
    """
    _require_altitude("altitude_km", altitude_km)
    a_km = R_EARTH_KM + altitude_km
    return 2.0 * math.pi * math.sqrt(a_km**3 / MU_EARTH_KM3_S2)


def sun_synchronous_inclination_deg(altitude_km: float) -> float:
    """Inclination, in degrees, that makes a circular orbit at ``altitude_km`` sun-synchronous.

    The secular J2 drift of the node (Vallado, Fundamentals of Astrodynamics and Applications, 4th ed., 2013,
    Ch. 9, secular effects of J2) is ``dRAAN/dt = -(3/2) n J2 (R_E / p)^2 cos i`` with ``p = a (1 - e^2)``;
    setting it to one turn per tropical year (eastward) and ``e = 0`` gives
    ``cos i = -(2 / 3) (dRAAN/dt) a^2 / (n J2 R_E^2)``. WGS72 constants, as in the SGP4 propagator, so that the
    propagated orbit is sun-synchronous too.

    >>> round(sun_synchronous_inclination_deg(500.0), 2)
    97.4

    Raises:
        ParameterError: below the Karman line, or so high (above ~5,970 km) that no inclination suffices.
    """
    _require_altitude("altitude_km", altitude_km)
    a_km = R_EARTH_KM + altitude_km
    n_rad_s = math.sqrt(MU_EARTH_KM3_S2 / a_km**3)
    node_rate_rad_s = 2.0 * math.pi / _TROPICAL_YEAR_S
    cos_i = -(2.0 / 3.0) * node_rate_rad_s * a_km**2 / (n_rad_s * J2_EARTH * R_EARTH_KM**2)
    if cos_i < -1.0:
        raise ParameterError("altitude_km", f"no sun-synchronous circular orbit exists at {altitude_km} km")
    return math.degrees(math.acos(cos_i))


def raan_for_node_local_time_deg(epoch_utc: datetime, node_local_time_h: float) -> float:
    """Right ascension of the ascending node, in degrees in [0, 360), that puts the node at a local time.

    The ascending node lies at east longitude ``RAAN - GMST``, where the local mean solar time is
    ``UT + longitude / 15``; hence ``RAAN = 15 (node_local_time_h - UT_h + GMST_h)``. Mean solar time: the true
    Sun is off by the equation of time (at most ~16 min). For a sun-synchronous orbit the local time of the node
    stays fixed; the descending node is 12 h away from the ascending one.
    """
    _require_aware("epoch_utc", epoch_utc)
    require_finite("node_local_time_h", node_local_time_h)
    t = _timescale().from_datetime(epoch_utc)
    utc = epoch_utc.astimezone(UTC)
    ut_h = utc.hour + utc.minute / 60.0 + (utc.second + utc.microsecond * 1e-6) / 3600.0
    return float((15.0 * (node_local_time_h - ut_h + float(t.gmst))) % 360.0)


# --------------------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Orbit:
    """A satellite's orbit: either a TLE or circular orbital elements at an epoch.

    Give exactly one of the two forms (:meth:`from_tle` and :meth:`circular` build them). Both are propagated
    with SGP4. For circular elements the approximations are:

    * the orbit is exactly circular (``e = 0``, so the argument of perigee is 0 and ``mean_anomaly_deg`` is the
      argument of latitude, measured from the ascending node);
    * the mean motion comes from Kepler's third law for ``a = R_E + altitude_km`` (WGS72, equatorial radius) and
      is handed to SGP4 as its (Kozai) mean motion; SGP4 reads it as a *mean* element, so at 500 km its mean
      semi-major axis is ~3 km below ``R_E + altitude_km`` and the geocentric radius oscillates by ~+-7 km over
      an orbit (J2 short-period terms), while the height above the ellipsoid also varies by up to ~21 km with
      latitude (oblateness);
    * no drag (``bstar = 0``) and the elements are taken in SGP4's TEME frame at ``epoch_utc``.

    Attributes:
        name: a label for the satellite.
        tle_line1, tle_line2: the two lines of a TLE (69 characters each, with valid checksums).
        altitude_km: altitude of the circular orbit above the equatorial radius, km (>= 100).
        inclination_deg: inclination, degrees in [0, 180].
        raan_deg: right ascension of the ascending node at ``epoch_utc``, degrees.
        mean_anomaly_deg: argument of latitude at ``epoch_utc``, degrees from the ascending node.
        epoch_utc: epoch of the elements, timezone-aware.
    """

    name: str = "satellite"
    tle_line1: str | None = None
    tle_line2: str | None = None
    altitude_km: float | None = None
    inclination_deg: float | None = None
    raan_deg: float | None = None
    mean_anomaly_deg: float | None = None
    epoch_utc: datetime | None = None

    @classmethod
    def from_tle(cls, line1: str, line2: str, *, name: str = "satellite") -> Orbit:
        """An orbit from the two lines of a TLE."""
        return cls(name=name, tle_line1=line1, tle_line2=line2)

    @classmethod
    def circular(
        cls,
        *,
        altitude_km: float,
        inclination_deg: float,
        raan_deg: float,
        epoch_utc: datetime,
        mean_anomaly_deg: float = 0.0,
        name: str = "satellite",
    ) -> Orbit:
        """A circular orbit from its elements at ``epoch_utc`` (see the class docstring for the approximations)."""
        return cls(
            name=name,
            altitude_km=altitude_km,
            inclination_deg=inclination_deg,
            raan_deg=raan_deg,
            mean_anomaly_deg=mean_anomaly_deg,
            epoch_utc=epoch_utc,
        )

    @property
    def is_tle(self) -> bool:
        """True when the orbit is given by a TLE, False when by circular elements."""
        return self.tle_line1 is not None or self.tle_line2 is not None

    def __post_init__(self) -> None:
        elements = (self.altitude_km, self.inclination_deg, self.raan_deg, self.mean_anomaly_deg, self.epoch_utc)
        if self.is_tle:
            if any(value is not None for value in elements):
                raise ParameterError("orbit", "give either a TLE or circular elements, not both")
            _satrec_from_tle(self.tle_line1, self.tle_line2)
        elif all(value is None for value in elements):
            raise ParameterError(
                "orbit", "give a TLE (tle_line1, tle_line2) or circular elements (altitude_km, inclination_deg, ...)"
            )
        else:
            _satrec_from_elements(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroundStation:
    """A ground station on the WGS84 ellipsoid.

    Attributes:
        name: a label for the station.
        lat_deg: geodetic latitude, degrees in [-90, 90] (north positive).
        lon_deg: longitude, degrees in [-180, 180] (east positive).
        altitude_m: height above the WGS84 ellipsoid, m.
    """

    name: str
    lat_deg: float
    lon_deg: float
    altitude_m: float = 0.0

    def __post_init__(self) -> None:
        _require_interval("station.lat_deg", self.lat_deg, -90.0, 90.0)
        _require_interval("station.lon_deg", self.lon_deg, -180.0, 180.0)
        require_finite("station.altitude_m", self.altitude_m)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pass:
    """One pass of a satellite above a station's minimum elevation (and, if asked, during the night).

    Attributes:
        start_utc: when the pass begins (rise above the minimum elevation, nightfall, or the window's start).
        end_utc: when it ends (set, dawn, or the window's end).
        max_elevation_deg: highest elevation reached during the pass, degrees.
        max_elevation_utc: when that elevation is reached (the culmination, or an end of a clipped pass).
    """

    start_utc: datetime
    end_utc: datetime
    max_elevation_deg: float
    max_elevation_utc: datetime

    @property
    def duration_s(self) -> float:
        """Length of the pass, s."""
        return (self.end_utc - self.start_utc).total_seconds()


# --------------------------------------------------------------------------------------------------------------
# skyfield objects, loaded once per process
# --------------------------------------------------------------------------------------------------------------


@functools.cache
def _loader() -> _Skyfield:
    with warnings.catch_warnings():
        # skyfield-data warns that its IERS table (finals2000A.all) has expired; we never read that file
        # (the timescale is built-in) and DE421 does not expire (it covers 1899-07-29 to 2053-10-09).
        warnings.filterwarnings("ignore", message=r".*has expired.*", category=RuntimeWarning)
        directory = skyfield_data.get_skyfield_data_path()
    return Loader(directory, verbose=False, expire=False)


@functools.cache
def _timescale() -> _Skyfield:
    return _loader().timescale(builtin=True)


@functools.cache
def _earth_and_sun() -> tuple[_Skyfield, _Skyfield]:
    planets = _loader()("de421.bsp")
    return planets["earth"], planets["sun"]


@functools.cache
def ephemeris_span_utc() -> tuple[datetime, datetime]:
    """The first and last whole UTC days that the shipped Sun ephemeris (JPL DE421, in skyfield-data) covers.

    DE421 spans 1899-07-29 to 2053-10-09 (TDB); the days returned lie inside that, so that every instant between
    their midnights can be computed. Passes need the Sun (night, daylight background), so satellite scenarios must
    lie within it.
    """
    ts = _timescale()
    segments = _loader()("de421.bsp").spk.segments
    first_jd = max(float(segment.start_jd) for segment in segments)
    last_jd = min(float(segment.end_jd) for segment in segments)
    first, last = ts.tdb_jd(first_jd).utc_datetime(), ts.tdb_jd(last_jd).utc_datetime()
    first_day = datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=1)
    last_day = datetime(last.year, last.month, last.day, tzinfo=UTC)
    return first_day, last_day


def require_ephemeris_covers(start_utc: datetime, duration_s: float) -> None:
    """Raise unless ``[start_utc, start_utc + duration_s]`` lies within :func:`ephemeris_span_utc`.

    Raises:
        ParameterError: naming ``start_utc`` (the start is outside) or ``duration_s`` (the window ends outside),
            with the supported dates in the reason.
    """
    _require_aware("start_utc", start_utc)
    require_positive("duration_s", duration_s)
    first, last = ephemeris_span_utc()
    span = f"{first:%Y-%m-%d} to {last:%Y-%m-%d} UTC, the dates the JPL DE421 ephemeris of skyfield-data covers"
    if not first <= start_utc <= last:
        raise ParameterError("start_utc", f"must be within {span}; got {start_utc.isoformat()}")
    allowed_s = (last - start_utc).total_seconds()
    if duration_s > allowed_s:
        raise ParameterError(
            "duration_s",
            f"the window must end within {span}: at most {allowed_s:.0f} s from this start, got {duration_s:g}",
        )


@functools.lru_cache(maxsize=256)
def _topos(station: GroundStation) -> _Skyfield:
    return wgs84.latlon(station.lat_deg, station.lon_deg, elevation_m=station.altitude_m)


@functools.lru_cache(maxsize=256)
def earth_satellite(orbit: Orbit) -> _Skyfield:
    """The skyfield ``EarthSatellite`` of ``orbit`` (cached per orbit), for computations this module lacks."""
    satrec = _satrec_from_tle(orbit.tle_line1, orbit.tle_line2) if orbit.is_tle else _satrec_from_elements(orbit)
    satellite = EarthSatellite.from_satrec(satrec, _timescale())
    satellite.name = orbit.name
    return satellite


def _tle_checksum(line: str) -> int:
    """The TLE checksum: the sum of the digits of the first 68 characters, each minus sign counting 1, mod 10."""
    return sum(int(c) if c.isdigit() else c == "-" for c in line[:68]) % 10


def _satrec_from_tle(line1: str | None, line2: str | None) -> _Skyfield:
    for number, line in ((1, line1), (2, line2)):
        field = f"orbit.tle_line{number}"
        if line is None:
            raise ParameterError(field, "missing: a TLE needs both lines")
        text = line.rstrip()
        if len(text) != 69 or not text.startswith(f"{number} "):
            raise ParameterError(field, f"must be 69 characters starting with '{number} ', got {line!r}")
        if not text[68].isdigit() or int(text[68]) != _tle_checksum(text):
            raise ParameterError(field, f"checksum digit is {text[68]!r}, expected {_tle_checksum(text)}")
    if line1 is None or line2 is None:  # pragma: no cover - rejected in the loop; this tells mypy
        raise ParameterError("orbit", "a TLE needs both lines")
    if line1[2:7] != line2[2:7]:
        raise ParameterError("orbit.tle_line2", f"satellite number {line2[2:7]!r} differs from line 1's")
    try:
        satrec = Satrec.twoline2rv(line1.rstrip(), line2.rstrip(), WGS72)
    except ValueError as error:
        raise ParameterError("orbit.tle_line1", f"cannot be parsed: {error}") from error
    _require_propagates("orbit.tle_line2", satrec)
    return satrec


def _satrec_from_elements(orbit: Orbit) -> _Skyfield:
    if orbit.altitude_km is None:
        raise ParameterError("orbit.altitude_km", "required with circular elements")
    if orbit.inclination_deg is None:
        raise ParameterError("orbit.inclination_deg", "required with circular elements")
    if orbit.raan_deg is None:
        raise ParameterError("orbit.raan_deg", "required with circular elements")
    if orbit.mean_anomaly_deg is None:
        raise ParameterError("orbit.mean_anomaly_deg", "required with circular elements")
    if orbit.epoch_utc is None:
        raise ParameterError("orbit.epoch_utc", "required with circular elements")
    _require_altitude("orbit.altitude_km", orbit.altitude_km)
    _require_interval("orbit.inclination_deg", orbit.inclination_deg, 0.0, 180.0)
    require_finite("orbit.raan_deg", orbit.raan_deg)
    require_finite("orbit.mean_anomaly_deg", orbit.mean_anomaly_deg)
    _require_aware("orbit.epoch_utc", orbit.epoch_utc)
    epoch_days = (orbit.epoch_utc - _SGP4_EPOCH).total_seconds() / _DAY_S
    mean_motion_rad_per_min = 2.0 * math.pi / orbital_period_s(orbit.altitude_km) * 60.0
    satrec = Satrec()
    satrec.sgp4init(
        WGS72,
        "i",  # the improved operation mode, as in modern TLE processing
        0,  # satellite number
        epoch_days,
        0.0,  # bstar: no drag
        0.0,  # ndot
        0.0,  # nddot
        0.0,  # eccentricity
        0.0,  # argument of perigee
        math.radians(orbit.inclination_deg),
        math.radians(orbit.mean_anomaly_deg % 360.0),
        mean_motion_rad_per_min,
        math.radians(orbit.raan_deg % 360.0),
    )
    _require_propagates("orbit", satrec)
    return satrec


def _require_propagates(field: str, satrec: _Skyfield) -> None:
    error, _, _ = satrec.sgp4(satrec.jdsatepoch, satrec.jdsatepochF)
    if error != 0:
        raise ParameterError(field, f"SGP4 cannot propagate these elements (sgp4 error code {error})")


def _require_interval(field: str, value: float, low: float, high: float) -> None:
    require_finite(field, value)
    if not low <= value <= high:
        raise ParameterError(field, f"must be in [{low:g}, {high:g}], got {value}")


def _require_aware(field: str, moment: datetime) -> None:
    if not isinstance(moment, datetime):
        raise ParameterError(field, f"must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ParameterError(field, "must be timezone-aware (e.g. datetime(..., tzinfo=UTC))")


# --------------------------------------------------------------------------------------------------------------
# Passes
# --------------------------------------------------------------------------------------------------------------

_Interval = tuple[float, float]  # (start, end) as TT Julian dates


def passes(
    orbit: Orbit,
    station: GroundStation,
    start_utc: datetime,
    duration_s: float,
    *,
    min_elevation_deg: float,
    night_only: bool,
    sun_max_elevation_deg: float = -12.0,
) -> list[Pass]:
    """The passes of ``orbit`` above ``min_elevation_deg`` at ``station`` during ``[start, start + duration]``.

    Rise, culmination and set come from skyfield's ``EarthSatellite.find_events`` (about half-second precision).
    A pass under way at either end of the window is cut at the window's edge. With ``night_only``, each pass is
    clipped to the times when the Sun's apparent elevation at the station (DE421, no refraction) is below
    ``sun_max_elevation_deg``, and passes entirely in daylight are dropped; a pass can then be split in two only
    if the night starts and ends within it.

    ``night_only`` is an operator's policy, not the physics: the sky background that daylight brings is modelled
    on every pass (:mod:`qinternet.physics.sky`, applied by :mod:`qinternet.network.satellite_links`).
    The default night threshold, -12 degrees, is the end of nautical twilight. By then the horizontal illuminance
    from scattered sunlight has fallen by about five orders of magnitude from sunset, to ~0.008 lux, and it falls
    by only one more order, to ~6e-4 lux, by the end of astronomical twilight at -18 degrees, where it drops below
    starlight and airglow (AMS Glossary of Meteorology, "astronomical twilight"). The residual at -12 degrees is
    well below what a full Moon gives (~0.25 lux), which this planner does not model, so sunlight no longer
    dominates the background; -18 would shorten the usable night a lot (40 deg N, June solstice: 6.5 h of
    nautical night against 4.9 h of astronomical night). Pass -18 for a strictly dark sky.

    Args:
        orbit: the satellite.
        station: the ground station.
        start_utc: start of the window, timezone-aware.
        duration_s: length of the window, s (> 0).
        min_elevation_deg: elevation the satellite must exceed, degrees in [0, 90).
        night_only: keep only the parts of passes when the Sun is below ``sun_max_elevation_deg``.
        sun_max_elevation_deg: night threshold on the Sun's elevation, degrees in [-90, 90].

    Returns:
        The passes, in time order.

    Raises:
        ParameterError: naming ``start_utc``, ``duration_s``, ``min_elevation_deg`` or ``sun_max_elevation_deg``.
    """
    require_ephemeris_covers(start_utc, duration_s)
    require_finite("min_elevation_deg", min_elevation_deg)
    if not 0.0 <= min_elevation_deg < 90.0:
        raise ParameterError("min_elevation_deg", f"must be in [0, 90), got {min_elevation_deg}")
    _require_interval("sun_max_elevation_deg", sun_max_elevation_deg, -90.0, 90.0)

    ts = _timescale()
    window_utc = (start_utc.astimezone(UTC), (start_utc + timedelta(seconds=duration_s)).astimezone(UTC))
    t0, t1 = ts.from_datetime(window_utc[0]), ts.from_datetime(window_utc[1])
    satellite, topos = earth_satellite(orbit), _topos(station)
    event_times, events = satellite.find_events(topos, t0, t1, altitude_degrees=min_elevation_deg)
    event_jd = np.asarray(event_times.tt, dtype=np.float64)
    events = np.asarray(events, dtype=np.int64)
    if events.size:
        initially_above = bool(events[0] != _RISE)
    else:
        elevation, _ = _elevation_range(satellite, topos, ts.tt_jd(np.array([t0.tt])))
        initially_above = bool(elevation[0] >= min_elevation_deg)
    intervals = _intervals_from_changes(float(t0.tt), float(t1.tt), event_jd[events != _CULMINATE], initially_above)
    if night_only and intervals:
        intervals = _intersect(intervals, _sun_below_intervals(topos, t0, t1, sun_max_elevation_deg))
    # Ends of passes cut by the window are reported as the window's own datetimes, not their float round trip.
    exact = {float(t0.tt): window_utc[0], float(t1.tt): window_utc[1]}
    return _make_passes(satellite, topos, intervals, event_jd[events == _CULMINATE], exact)


def _intervals_from_changes(
    jd0: float, jd1: float, changes: NDArray[np.float64], initially_inside: bool
) -> list[_Interval]:
    """Intervals in ``[jd0, jd1]`` of a two-valued state that flips at each of ``changes`` (sorted TT JDs)."""
    edges = [jd0, *changes.tolist(), jd1] if initially_inside else [*changes.tolist(), jd1]
    return [(a, b) for a, b in zip(edges[0::2], edges[1::2], strict=False) if b > a]


def _sun_below_intervals(topos: _Skyfield, t0: _Skyfield, t1: _Skyfield, threshold_deg: float) -> list[_Interval]:
    """Intervals of ``[t0, t1]`` during which the Sun's apparent elevation at ``topos`` is below the threshold."""
    earth, sun = _earth_and_sun()
    observer = earth + topos

    def sun_is_below(t: _Skyfield) -> NDArray[np.bool_]:
        return np.asarray(observer.at(t).observe(sun).apparent().altaz()[0].degrees < threshold_deg)

    sun_is_below.step_days = _SUN_STEP_DAYS  # type: ignore[attr-defined]
    times, _ = find_discrete(t0, t1, sun_is_below)
    initially_below = bool(sun_is_below(t0))
    changes = np.asarray(times.tt, dtype=np.float64)
    return _intervals_from_changes(float(t0.tt), float(t1.tt), changes, initially_below)


def _intersect(first: list[_Interval], second: list[_Interval]) -> list[_Interval]:
    """The intersection of two sorted lists of disjoint intervals (a two-pointer merge)."""
    result: list[_Interval] = []
    i = j = 0
    while i < len(first) and j < len(second):
        start, end = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if end > start:
            result.append((start, end))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return result


def _make_passes(
    satellite: _Skyfield,
    topos: _Skyfield,
    intervals: list[_Interval],
    culminations_jd: NDArray[np.float64],
    exact: dict[float, datetime],
) -> list[Pass]:
    """Pass records for ``intervals`` (TT JDs), with one vectorised elevation call for all of them.

    Within a rise-to-set pass the elevation rises to its culmination(s) and falls after, so on an interval
    (possibly clipped) the maximum is at a culmination inside it or at one of its ends.
    """
    if not intervals:
        return []
    candidates = [
        [a, b, *culminations_jd[(culminations_jd > a) & (culminations_jd < b)].tolist()] for a, b in intervals
    ]
    flat = np.array([jd for group in candidates for jd in group], dtype=np.float64)
    ts = _timescale()
    elevation, _ = _elevation_range(satellite, topos, ts.tt_jd(flat))
    converted = ts.tt_jd(flat).utc_datetime()
    moments = [exact.get(jd, moment) for jd, moment in zip(flat.tolist(), converted, strict=True)]
    result = []
    offset = 0
    for group in candidates:
        best = offset + int(np.argmax(elevation[offset : offset + len(group)]))
        result.append(
            Pass(
                start_utc=moments[offset],
                end_utc=moments[offset + 1],
                max_elevation_deg=float(elevation[best]),
                max_elevation_utc=moments[best],
            )
        )
        offset += len(group)
    return result


# --------------------------------------------------------------------------------------------------------------
# Elevation track
# --------------------------------------------------------------------------------------------------------------


def elevation_track(
    orbit: Orbit,
    station: GroundStation,
    times_utc: Sequence[datetime] | ArrayLike,
    *,
    epoch_utc: datetime | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Elevation and slant range of ``orbit`` seen from ``station`` at many times, in one vectorised call.

    Args:
        orbit: the satellite.
        station: the ground station.
        times_utc: either timezone-aware datetimes, shape ``(n,)``, or, with ``epoch_utc``, float64 seconds
            from ``epoch_utc``, shape ``(n,)``. Seconds are the fast path (no Python loop); they count UTC
            seconds as datetime arithmetic does (a leap second inside the span is not counted).
        epoch_utc: the epoch of ``times_utc`` when they are seconds; must be None for datetimes.

    Returns:
        ``(elevation_deg, range_km)``, two float64 arrays of shape ``(n,)``: the geometric elevation above the
        station's horizon (the plane normal to the WGS84 ellipsoid, no refraction) and the distance, km.

    Raises:
        ParameterError: naming ``times_utc`` or ``epoch_utc``.
    """
    t = _skyfield_times(times_utc, epoch_utc)
    if t is None:
        return np.empty(0), np.empty(0)
    return _elevation_range(earth_satellite(orbit), _topos(station), t)


def sun_elevation_track(
    station: GroundStation,
    times_utc: Sequence[datetime] | ArrayLike,
    *,
    epoch_utc: datetime | None = None,
) -> NDArray[np.float64]:
    """The Sun's apparent elevation at ``station`` at many times, in one vectorised call, degrees.

    Args:
        station: the ground station.
        times_utc: datetimes or, with ``epoch_utc``, float64 seconds from it, shape ``(n,)``, as in
            :func:`elevation_track`.
        epoch_utc: the epoch of ``times_utc`` when they are seconds; must be None for datetimes.

    Returns:
        float64 array of shape ``(n,)``: the apparent elevation of the Sun from DE421 (aberration and light
        deflection included, no refraction), as the night search of :func:`passes` computes it.

    Raises:
        ParameterError: naming ``times_utc`` or ``epoch_utc``.
    """
    t = _skyfield_times(times_utc, epoch_utc)
    if t is None:
        return np.empty(0)
    earth, sun = _earth_and_sun()
    elevation = (earth + _topos(station)).at(t).observe(sun).apparent().altaz()[0]
    return np.asarray(elevation.degrees, dtype=np.float64)


def _skyfield_times(times_utc: Sequence[datetime] | ArrayLike, epoch_utc: datetime | None) -> _Skyfield | None:
    """``times_utc`` (datetimes, or seconds from ``epoch_utc``) as one skyfield ``Time`` array; None if empty."""
    seconds, epoch = _seconds_from_epoch(times_utc, epoch_utc)
    if seconds.size == 0:
        return None
    e = epoch.astimezone(UTC)
    return _timescale().utc(e.year, e.month, e.day, e.hour, e.minute, e.second + e.microsecond * 1e-6 + seconds)


def _seconds_from_epoch(
    times_utc: Sequence[datetime] | ArrayLike, epoch_utc: datetime | None
) -> tuple[NDArray[np.float64], datetime]:
    """``times_utc`` as float seconds from an epoch: ``epoch_utc`` if given, else the first datetime."""
    if epoch_utc is not None:
        _require_aware("epoch_utc", epoch_utc)
        try:
            seconds = np.asarray(times_utc, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ParameterError("times_utc", "must be float seconds from epoch_utc") from error
        if seconds.ndim != 1 or not np.all(np.isfinite(seconds)):
            raise ParameterError("times_utc", f"must be a 1-D array of finite seconds, got shape {seconds.shape}")
        return seconds, epoch_utc
    items: list[object] = list(times_utc) if isinstance(times_utc, Sequence | np.ndarray) else [times_utc]
    moments: list[datetime] = []
    for item in items:
        if not isinstance(item, datetime):
            raise ParameterError("times_utc", "must be datetimes, or float seconds together with epoch_utc")
        _require_aware("times_utc", item)
        moments.append(item)
    if not moments:
        return np.empty(0), datetime(2000, 1, 1, tzinfo=UTC)
    epoch = moments[0]
    return np.array([(moment - epoch).total_seconds() for moment in moments], dtype=np.float64), epoch


def _elevation_range(
    satellite: _Skyfield, topos: _Skyfield, t: _Skyfield
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Elevation (degrees) and range (km) of ``satellite`` from ``topos`` at the times ``t`` (modified in place).

    Elevation and range do not depend on the celestial frame: SGP4's TEME and the station's ITRS positions both
    reach GCRS through the same precession-nutation matrix and sidereal angle, which ``altaz`` undoes again. As
    skyfield's own ``find_events`` does, we set those to the identity and zero; that skips the IAU 2000A nutation
    series, ~100 times faster, and changes results by ~1e-13 degrees (tests compare with the full computation).
    """
    t.gast = t.tt * 0.0
    t.M = t.MT = _IDENTITY_3
    elevation, _, distance = (satellite - topos).at(t).altaz()
    return np.asarray(elevation.degrees, dtype=np.float64), np.asarray(distance.km, dtype=np.float64)
