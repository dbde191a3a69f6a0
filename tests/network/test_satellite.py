"""Satellite passes over a ground station: closed forms of orbital geometry, checked against SGP4 + skyfield.

The scenario is Micius-like: a 500 km sun-synchronous orbit seen from Xinglong (40.396 N, 117.578 E), on the
June solstice of 2026, when the nights at 40 degrees north are shortest.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

pytest.importorskip("skyfield")
pytest.importorskip("skyfield_data")

from skyfield.api import wgs84

from qinternet.errors import ParameterError
from qinternet.network.satellite import (
    R_EARTH_KM,
    GroundStation,
    Orbit,
    Pass,
    earth_satellite,
    elevation_track,
    ephemeris_span_utc,
    orbital_period_s,
    passes,
    raan_for_node_local_time_deg,
    require_ephemeris_covers,
    sun_elevation_track,
    sun_synchronous_inclination_deg,
)

ALTITUDE_KM = 500.0
MIN_ELEVATION_DEG = 10.0
NAUTICAL_DEG = -12.0
SOLSTICE = datetime(2026, 6, 21, tzinfo=UTC)
DAY_S = 86_400.0
XINGLONG = GroundStation(name="Xinglong", lat_deg=40.396, lon_deg=117.578, altitude_m=900.0)
# Micius crosses the equator southwards at ~00:50 local time, so its ascending node is at ~12:50.
MICIUS_DESCENDING_NODE_H = 0.0 + 50.0 / 60.0
WGS84_A_KM, WGS84_F = 6378.137, 1.0 / 298.257223563
OBLIQUITY_DEG = 23.44  # the Sun's declination at the June solstice


def sso(ascending_node_local_time_h: float) -> Orbit:
    """A 500 km sun-synchronous orbit whose ascending node is at the given local mean solar time."""
    return Orbit.circular(
        altitude_km=ALTITUDE_KM,
        inclination_deg=sun_synchronous_inclination_deg(ALTITUDE_KM),
        raan_deg=raan_for_node_local_time_deg(SOLSTICE, ascending_node_local_time_h),
        epoch_utc=SOLSTICE,
    )


MICIUS_LIKE = sso(MICIUS_DESCENDING_NODE_H + 12.0)
DAWN_DUSK = sso(18.0)


def day_of_passes(orbit: Orbit, *, night_only: bool = False, sun_max_elevation_deg: float = NAUTICAL_DEG) -> list[Pass]:
    return passes(
        orbit,
        XINGLONG,
        SOLSTICE,
        DAY_S,
        min_elevation_deg=MIN_ELEVATION_DEG,
        night_only=night_only,
        sun_max_elevation_deg=sun_max_elevation_deg,
    )


def local_mean_solar_time_h(moment: datetime, lon_deg: float = XINGLONG.lon_deg) -> float:
    seconds = (moment - moment.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    return (seconds / 3600.0 + lon_deg / 15.0) % 24.0


def visibility_half_angle_deg(altitude_km: float, min_elevation_deg: float) -> float:
    """Earth central angle from a station to the edge of its visibility circle: acos(R cos e / (R+h)) - e."""
    e = math.radians(min_elevation_deg)
    return math.degrees(math.acos(R_EARTH_KM * math.cos(e) / (R_EARTH_KM + altitude_km)) - e)


def max_local_time_offset_h(lat_deg: float, altitude_km: float, min_elevation_deg: float) -> float:
    """How far (in local solar time) a visible pass can be from the local time of the node it follows.

    The sub-satellite point at argument of latitude u lies ``atan(cos i tan u)`` east of the node in right
    ascension, i.e. in local solar time; to be visible it is within the visibility circle, whose points differ in
    longitude from the station by at most ``asin(sin lambda / cos phi)``.
    """
    lam = math.radians(visibility_half_angle_deg(altitude_km, min_elevation_deg))
    inclination = math.radians(sun_synchronous_inclination_deg(altitude_km))
    highest_latitude = math.radians(lat_deg) + lam
    u = math.asin(math.sin(highest_latitude) / math.sin(inclination))
    along_track = math.atan(abs(math.cos(inclination)) * math.tan(u))
    across_track = math.asin(math.sin(lam) / math.cos(math.radians(lat_deg)))
    return math.degrees(along_track + across_track) / 15.0


def nautical_night_lmst_h(lat_deg: float, declination_deg: float) -> tuple[float, float]:
    """(dusk, dawn) in local mean solar time: sin h0 = sin phi sin d + cos phi cos d cos H, h0 = -12 deg."""
    phi, d = math.radians(lat_deg), math.radians(declination_deg)
    cos_h = (math.sin(math.radians(NAUTICAL_DEG)) - math.sin(phi) * math.sin(d)) / (math.cos(phi) * math.cos(d))
    hour_angle_h = math.degrees(math.acos(cos_h)) / 15.0
    return 12.0 + hour_angle_h, 12.0 - hour_angle_h


def hours_between(later_h: float, earlier_h: float) -> float:
    """Signed difference of two clock times, in (-12, 12]."""
    return (later_h - earlier_h + 12.0) % 24.0 - 12.0


# ----------------------------------------------------------------------------------------------------------------
# Closed forms
# ----------------------------------------------------------------------------------------------------------------


def test_sun_synchronous_inclination_at_500_km_is_97_4_degrees() -> None:
    # FACTS.md: a 500 km sun-synchronous orbit has inclination ~97.4 deg (J2 nodal precession, Vallado Ch. 9).
    assert sun_synchronous_inclination_deg(500.0) == pytest.approx(97.4, abs=0.1)
    # Higher orbits precess more slowly, so they need to be more retrograde.
    assert sun_synchronous_inclination_deg(800.0) > sun_synchronous_inclination_deg(500.0)


def test_sgp4_node_drifts_one_turn_per_year_at_the_sun_synchronous_inclination() -> None:
    # SGP4's own secular node rate (Brouwer theory, J2 and J4) agrees with the J2 closed form to within ~0.2 %.
    node_rate_deg_per_day = math.degrees(earth_satellite(MICIUS_LIKE).model.nodedot) * 1440.0
    assert node_rate_deg_per_day == pytest.approx(360.0 / 365.2422, rel=0.01)


def test_period_of_a_500_km_orbit_is_94_5_minutes() -> None:
    # Kepler's third law with R_E = 6378.135 km gives 94.62 min; FACTS.md's 94.5 min assumes the mean radius
    # (6371 km, 94.47 min), hence a tolerance of 0.25 min, which also covers J2 (~0.1 % on the nodal period).
    assert orbital_period_s(ALTITUDE_KM) / 60.0 == pytest.approx(94.5, abs=0.25)
    # SGP4 keeps the Kepler mean motion that it was given.
    mean_motion_rad_per_min = earth_satellite(MICIUS_LIKE).model.no_kozai
    assert 2 * math.pi / mean_motion_rad_per_min * 60.0 == pytest.approx(orbital_period_s(ALTITUDE_KM), rel=1e-9)


def test_propagated_nodal_period_matches_kepler_to_j2_accuracy() -> None:
    # Times of consecutive northward equator crossings of the propagated orbit, interpolated at 1 s sampling.
    satellite = earth_satellite(MICIUS_LIKE)
    seconds = np.arange(0.0, 4 * orbital_period_s(ALTITUDE_KM), 1.0)
    t = satellite.epoch.ts.utc(2026, 6, 21, 0, 0, seconds)
    z_km = satellite.at(t).position.km[2]
    up = np.flatnonzero((z_km[:-1] < 0) & (z_km[1:] >= 0))
    crossings_s = seconds[up] - z_km[up] / (z_km[up + 1] - z_km[up])
    nodal_period_s = np.diff(crossings_s)
    assert nodal_period_s.size >= 2
    # Successive nodal periods are equal (a circular orbit) and within J2's ~0.1 % of Kepler's period.
    assert np.ptp(nodal_period_s) < 2.0
    assert float(nodal_period_s.mean()) == pytest.approx(orbital_period_s(ALTITUDE_KM), rel=2e-3)
    assert float(nodal_period_s.mean()) / 60.0 == pytest.approx(94.5, abs=0.25)


# ----------------------------------------------------------------------------------------------------------------
# Passes
# ----------------------------------------------------------------------------------------------------------------


def test_a_day_holds_the_number_of_passes_that_the_ground_track_spacing_allows() -> None:
    # Successive tracks of a sun-synchronous orbit are 360 deg * T / 1 day apart in longitude. A track is visible
    # above 10 deg if it passes within the visibility half-angle lambda of the station, i.e. inside a band
    # 2 asin(sin lambda / cos phi) wide in longitude (the visibility circle's extent along the parallel). In 24 h,
    # the 15.2 tracks of each direction tile 360 deg once (with one extra), so each direction gives between
    # floor(band / spacing) and ceil(band / spacing) + 1 passes.
    lam = math.radians(visibility_half_angle_deg(ALTITUDE_KM, MIN_ELEVATION_DEG))
    band_deg = 2 * math.degrees(math.asin(math.sin(lam) / math.cos(math.radians(XINGLONG.lat_deg))))
    spacing_deg = 360.0 * orbital_period_s(ALTITUDE_KM) / DAY_S
    low, high = 2 * math.floor(band_deg / spacing_deg), 2 * (math.ceil(band_deg / spacing_deg) + 1)
    assert (low, high) == (2, 6)  # a handful, as the brief expects
    for orbit in (MICIUS_LIKE, DAWN_DUSK):
        day = day_of_passes(orbit)
        assert low <= len(day) <= high
        assert all(p.max_elevation_deg >= MIN_ELEVATION_DEG for p in day)
        assert all(earlier.end_utc < later.start_utc for earlier, later in itertools.pairwise(day))
        # The longest possible pass goes overhead: 2 lambda at the orbital angular rate, lengthened at most by
        # the Earth's rotation (0.47 km/s at the equator against the satellite's 7.6 km/s, ~6 %).
        longest_s = 2 * math.degrees(lam) / 360.0 * orbital_period_s(ALTITUDE_KM) * 1.06
        assert all(0.0 < p.duration_s <= longest_s for p in day)


def test_elevation_at_culmination_is_the_pass_maximum_and_the_ends_cross_the_threshold() -> None:
    for p in day_of_passes(MICIUS_LIKE):
        at_max, _ = elevation_track(MICIUS_LIKE, XINGLONG, [p.max_elevation_utc])
        assert float(at_max[0]) == pytest.approx(p.max_elevation_deg, abs=1e-9)
        # Sampled every second over the pass, nothing exceeds the maximum, and the peak is within the curvature
        # of half a second of the culmination (elevation ~ e_max - k t^2 with k < 0.01 deg/s^2 here).
        seconds = np.arange(0.0, p.duration_s, 1.0)
        track, _ = elevation_track(MICIUS_LIKE, XINGLONG, seconds, epoch_utc=p.start_utc)
        assert float(track.max()) <= p.max_elevation_deg + 1e-9
        assert float(track.max()) >= p.max_elevation_deg - 0.01
        # find_events brackets rise and set to about half a second: one second outside, the satellite is below.
        edges, _ = elevation_track(
            MICIUS_LIKE, XINGLONG, [-1.0, 1.0, p.duration_s - 1.0, p.duration_s + 1.0], epoch_utc=p.start_utc
        )
        assert edges[0] < MIN_ELEVATION_DEG < edges[1]
        assert edges[3] < MIN_ELEVATION_DEG < edges[2]


def test_range_at_maximum_elevation_agrees_with_the_slant_range_closed_form() -> None:
    # rho = sqrt(r^2 - R^2 cos^2 e) - R sin e for a spherical Earth, with R the station's geocentric radius and r
    # the satellite's. The elevation is measured from the ellipsoid's normal, which is tilted from the
    # geocentric vertical by delta = geodetic - geocentric latitude (0.19 deg here, from the flattening):
    # that is the oblateness error, |d rho / d e| * delta, which is 0.2-0.7 % of the range above 10 deg.
    phi = math.radians(XINGLONG.lat_deg)
    e2 = WGS84_F * (2 - WGS84_F)
    n_km = WGS84_A_KM / math.sqrt(1 - e2 * math.sin(phi) ** 2)
    h_km = XINGLONG.altitude_m / 1000.0
    x_km, z_km = (n_km + h_km) * math.cos(phi), (n_km * (1 - e2) + h_km) * math.sin(phi)
    station_radius_km = math.hypot(x_km, z_km)
    deflection = phi - math.atan2(z_km, x_km)
    assert math.degrees(deflection) == pytest.approx(0.19, abs=0.01)

    def slant_range_km(r_km: float, e: float) -> float:
        return math.sqrt(r_km**2 - (station_radius_km * math.cos(e)) ** 2) - station_radius_km * math.sin(e)

    checked = 0
    for orbit in (MICIUS_LIKE, DAWN_DUSK):
        satellite = earth_satellite(orbit)
        for p in day_of_passes(orbit):
            _, range_km = elevation_track(orbit, XINGLONG, [p.max_elevation_utc])
            r_km = float(satellite.at(satellite.epoch.ts.from_datetime(p.max_elevation_utc)).distance().km)
            e = math.radians(p.max_elevation_deg)
            expected = slant_range_km(r_km, e)
            slope = abs(slant_range_km(r_km, e - deflection) - expected) / deflection  # steeper on the low side
            tolerance_km = 1.1 * slope * deflection
            assert float(range_km[0]) == pytest.approx(expected, abs=tolerance_km)
            assert tolerance_km / expected < 0.01
            checked += 1
    assert checked >= 4


def test_a_micius_like_orbit_passes_xinglong_at_night_and_a_dawn_dusk_orbit_never_does() -> None:
    # Passes fall within max_local_time_offset_h of the node local times (geometry); nautical night on the June
    # solstice at 40.4 N runs from ~20:45 to ~03:15 local mean solar time (equation of time ~2 min, ignored).
    offset_h = max_local_time_offset_h(XINGLONG.lat_deg, ALTITUDE_KM, MIN_ELEVATION_DEG)
    dusk_h, dawn_h = nautical_night_lmst_h(XINGLONG.lat_deg, OBLIQUITY_DEG)
    assert offset_h < 2.0
    assert (dusk_h, dawn_h) == (pytest.approx(20.75, abs=0.1), pytest.approx(3.25, abs=0.1))
    # Micius-like: the descending-node passes (00:50 +- offset) lie inside the night, the others at midday.
    assert hours_between(MICIUS_DESCENDING_NODE_H - offset_h, dusk_h) > 0
    assert hours_between(dawn_h, MICIUS_DESCENDING_NODE_H + offset_h) > 0
    all_day = day_of_passes(MICIUS_LIKE)
    at_night = day_of_passes(MICIUS_LIKE, night_only=True)
    midnight_side = [
        p
        for p in all_day
        if abs(hours_between(local_mean_solar_time_h(p.max_elevation_utc), MICIUS_DESCENDING_NODE_H)) <= offset_h
    ]
    noon_side = [p for p in all_day if p not in midnight_side]
    assert midnight_side
    assert noon_side
    assert all(
        abs(hours_between(local_mean_solar_time_h(p.max_elevation_utc), MICIUS_DESCENDING_NODE_H + 12.0)) <= offset_h
        for p in noon_side
    )
    assert at_night == midnight_side  # whole passes, none clipped: the night is wider than the pass window
    # Dawn-dusk: passes at 06:00/18:00 +- offset, all in daylight or twilight at the solstice.
    assert hours_between(dusk_h, 18.0 + offset_h) > 0
    assert hours_between(6.0 - offset_h, dawn_h) > 0
    assert day_of_passes(DAWN_DUSK)
    assert day_of_passes(DAWN_DUSK, night_only=True) == []


def test_night_thresholds_at_the_extremes_keep_everything_or_nothing() -> None:
    assert day_of_passes(DAWN_DUSK, night_only=True, sun_max_elevation_deg=90.0) == day_of_passes(DAWN_DUSK)
    assert day_of_passes(MICIUS_LIKE, night_only=True, sun_max_elevation_deg=-90.0) == []


def _sun_elevation_deg(moment: datetime) -> float:
    """The Sun's apparent elevation at Xinglong from DE421, computed here independently of the module."""
    import skyfield_data
    from skyfield.api import Loader

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*has expired.*", category=RuntimeWarning)
        load = Loader(skyfield_data.get_skyfield_data_path(), verbose=False, expire=False)
    ts = load.timescale(builtin=True)
    planets = load("de421.bsp")
    try:
        observer = planets["earth"] + wgs84.latlon(XINGLONG.lat_deg, XINGLONG.lon_deg, elevation_m=XINGLONG.altitude_m)
        return float(observer.at(ts.from_datetime(moment)).observe(planets["sun"]).apparent().altaz()[0].degrees)
    finally:
        planets.close()


def test_a_pass_straddling_the_night_threshold_is_clipped_where_the_sun_crosses_it() -> None:
    # Put the threshold at the Sun's elevation at the middle of a twilight pass: the night-only pass must be the
    # half of it on the dark side, starting or ending at the middle (to the search's millisecond precision).
    full = day_of_passes(DAWN_DUSK)[0]
    middle = full.start_utc + timedelta(seconds=full.duration_s / 2)
    before, after = _sun_elevation_deg(full.start_utc), _sun_elevation_deg(full.end_utc)
    assert abs(after - before) > 0.5  # the Sun moves enough during the pass for the test to mean something
    night_only = day_of_passes(DAWN_DUSK, night_only=True, sun_max_elevation_deg=_sun_elevation_deg(middle))
    (clipped,) = [p for p in night_only if p.start_utc < full.end_utc and p.end_utc > full.start_utc]
    if after < before:  # dusk: the night begins mid-pass
        assert abs((clipped.start_utc - middle).total_seconds()) < 0.01
        assert clipped.end_utc == full.end_utc
    else:  # dawn: the night ends mid-pass
        assert clipped.start_utc == full.start_utc
        assert abs((clipped.end_utc - middle).total_seconds()) < 0.01
    assert clipped.max_elevation_deg <= full.max_elevation_deg
    if clipped.start_utc <= full.max_elevation_utc <= clipped.end_utc:  # the culmination survived the clipping
        assert clipped.max_elevation_deg == pytest.approx(full.max_elevation_deg)
    else:  # then the highest point left is where the pass was cut
        at_cut, _ = elevation_track(DAWN_DUSK, XINGLONG, [middle])
        assert clipped.max_elevation_deg == pytest.approx(float(at_cut[0]), abs=1e-3)


def test_the_sun_culminates_at_90_minus_latitude_plus_declination_at_local_noon() -> None:
    # Upper culmination on the June solstice: h = 90 - (phi - delta) with the geodetic latitude of the station's
    # horizon and delta = 23.436 deg (2026-06-21, 08:24 UTC; it changes by < 0.001 deg that day), so 73.04 deg.
    # Apparent place (aberration, 20") and diurnal parallax (9") move it by < 0.01 deg; no refraction is applied.
    # It happens at mean solar noon, 12 h - 117.578/15 h = 04:09:41 UTC, give or take the equation of time (< 2 min).
    seconds = np.arange(3 * 3600.0, 5.5 * 3600.0, 1.0)
    elevation = sun_elevation_track(XINGLONG, seconds, epoch_utc=SOLSTICE)
    assert float(elevation.max()) == pytest.approx(90.0 - (XINGLONG.lat_deg - 23.436), abs=0.02)
    noon_s = 12 * 3600.0 - XINGLONG.lon_deg / 15.0 * 3600.0
    assert abs(float(seconds[np.argmax(elevation)]) - noon_s) < 120.0


def test_sun_elevation_track_agrees_with_the_independent_computation_and_takes_datetimes() -> None:
    moments = [SOLSTICE + timedelta(hours=h) for h in (0.0, 6.5, 13.0, 20.25)]
    independent = [_sun_elevation_deg(m) for m in moments]
    from_datetimes = sun_elevation_track(XINGLONG, moments)
    from_seconds = sun_elevation_track(XINGLONG, [(m - SOLSTICE).total_seconds() for m in moments], epoch_utc=SOLSTICE)
    np.testing.assert_allclose(from_datetimes, independent, atol=1e-6)
    np.testing.assert_allclose(from_seconds, independent, atol=1e-6)
    assert sun_elevation_track(XINGLONG, np.empty(0), epoch_utc=SOLSTICE).shape == (0,)


def test_the_supported_dates_are_those_of_the_shipped_ephemeris() -> None:
    # DE421 covers 1899-07-29 to 2053-10-09 (TDB): whole UTC days inside that.
    first, last = ephemeris_span_utc()
    assert (first, last) == (datetime(1899, 7, 29, tzinfo=UTC), datetime(2053, 10, 8, tzinfo=UTC))
    require_ephemeris_covers(first, (last - first).total_seconds())  # the whole span is accepted
    for start, duration_s, field in (
        (datetime(9999, 12, 30, tzinfo=UTC), 4 * DAY_S, "start_utc"),  # (this once ended in an OverflowError)
        (datetime(1850, 1, 1, tzinfo=UTC), DAY_S, "start_utc"),
        (datetime(2053, 10, 7, tzinfo=UTC), 2 * DAY_S, "duration_s"),
    ):
        with pytest.raises(ParameterError) as caught:
            passes(MICIUS_LIKE, XINGLONG, start, duration_s, min_elevation_deg=MIN_ELEVATION_DEG, night_only=False)
        assert caught.value.field == field
        assert "1899-07-29 to 2053-10-08 UTC" in caught.value.reason


def test_a_window_that_opens_mid_pass_cuts_the_pass_at_its_start() -> None:
    full = day_of_passes(MICIUS_LIKE)[0]
    start = full.start_utc + timedelta(seconds=30)
    (cut, *_) = passes(MICIUS_LIKE, XINGLONG, start, 3600.0, min_elevation_deg=MIN_ELEVATION_DEG, night_only=False)
    assert cut.start_utc == start
    assert abs((cut.end_utc - full.end_utc).total_seconds()) < 1.0


def test_an_exported_tle_gives_the_same_passes_as_its_elements() -> None:
    from sgp4.exporter import export_tle

    line1, line2 = export_tle(earth_satellite(MICIUS_LIKE).model)
    from_tle = Orbit.from_tle(line1, line2, name="micius-like")
    for a, b in zip(day_of_passes(MICIUS_LIKE), day_of_passes(from_tle), strict=True):
        assert abs((a.start_utc - b.start_utc).total_seconds()) < 1.0
        assert a.max_elevation_deg == pytest.approx(b.max_elevation_deg, abs=0.01)


def test_elevation_track_takes_datetimes_or_seconds_and_agrees() -> None:
    seconds = np.arange(0.0, 600.0, 60.0)
    moments = [SOLSTICE + timedelta(seconds=float(s)) for s in seconds]
    by_seconds = elevation_track(MICIUS_LIKE, XINGLONG, seconds, epoch_utc=SOLSTICE)
    by_datetimes = elevation_track(MICIUS_LIKE, XINGLONG, moments)
    for a, b in zip(by_seconds, by_datetimes, strict=True):
        assert a.shape == (seconds.size,)
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    assert np.all(by_seconds[1] > ALTITUDE_KM - 50)
    # The fast path skips the precession-nutation matrices, which cancel; compare with skyfield's full computation.
    satellite = earth_satellite(MICIUS_LIKE)
    topos = wgs84.latlon(XINGLONG.lat_deg, XINGLONG.lon_deg, elevation_m=XINGLONG.altitude_m)
    elevation, _, distance = (satellite - topos).at(satellite.epoch.ts.from_datetimes(moments)).altaz()
    np.testing.assert_allclose(by_seconds[0], elevation.degrees, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        by_seconds[1], distance.km, rtol=0, atol=1e-6
    )  # never nearer than the orbit's altitude (minus oblateness)


# ----------------------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------------------

ISS_LINE1 = "1 25544U 98067A   18184.80969102  .00001614  00000-0  31745-4 0  9993"
ISS_LINE2 = "2 25544  51.6414 295.8524 0003435 262.6267 204.2868 15.54005638121106"


def test_a_valid_tle_is_accepted() -> None:
    iss = Orbit.from_tle(ISS_LINE1, ISS_LINE2, name="ISS")
    assert passes(iss, XINGLONG, datetime(2018, 7, 3, tzinfo=UTC), DAY_S, min_elevation_deg=10, night_only=False)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: GroundStation(name="x", lat_deg=91.0, lon_deg=0.0), "station.lat_deg"),
        (lambda: GroundStation(name="x", lat_deg=float("nan"), lon_deg=0.0), "station.lat_deg"),
        (lambda: GroundStation(name="x", lat_deg=0.0, lon_deg=181.0), "station.lon_deg"),
        (lambda: Orbit.from_tle(ISS_LINE1, ISS_LINE2[:-1] + "0"), "orbit.tle_line2"),  # checksum
        (lambda: Orbit.from_tle(ISS_LINE1[:40], ISS_LINE2), "orbit.tle_line1"),  # truncated
        (lambda: Orbit.from_tle(ISS_LINE2, ISS_LINE1), "orbit.tle_line1"),  # lines swapped
        (lambda: Orbit(tle_line1=ISS_LINE1), "orbit.tle_line2"),
        (lambda: Orbit(), "orbit"),
        (lambda: Orbit(tle_line1=ISS_LINE1, tle_line2=ISS_LINE2, altitude_km=500.0), "orbit"),
        (lambda: Orbit(altitude_km=500.0, inclination_deg=97.4, raan_deg=0.0, mean_anomaly_deg=0.0), "orbit.epoch_utc"),
        (
            lambda: Orbit.circular(altitude_km=50.0, inclination_deg=97.4, raan_deg=0.0, epoch_utc=SOLSTICE),
            "orbit.altitude_km",
        ),
        (
            lambda: Orbit.circular(altitude_km=500.0, inclination_deg=200.0, raan_deg=0.0, epoch_utc=SOLSTICE),
            "orbit.inclination_deg",
        ),
        (
            lambda: Orbit.circular(
                altitude_km=500.0, inclination_deg=97.4, raan_deg=0.0, epoch_utc=datetime(2026, 6, 21)
            ),
            "orbit.epoch_utc",
        ),
        (lambda: sun_synchronous_inclination_deg(8000.0), "altitude_km"),
        (lambda: passes(MICIUS_LIKE, XINGLONG, SOLSTICE, 0.0, min_elevation_deg=10, night_only=False), "duration_s"),
        (lambda: passes(MICIUS_LIKE, XINGLONG, SOLSTICE, -5.0, min_elevation_deg=10, night_only=False), "duration_s"),
        (
            lambda: passes(MICIUS_LIKE, XINGLONG, datetime(2026, 6, 21), 60.0, min_elevation_deg=10, night_only=False),
            "start_utc",
        ),
        (
            lambda: passes(MICIUS_LIKE, XINGLONG, SOLSTICE, 60.0, min_elevation_deg=90, night_only=False),
            "min_elevation_deg",
        ),
        (
            lambda: passes(
                MICIUS_LIKE,
                XINGLONG,
                SOLSTICE,
                60.0,
                min_elevation_deg=10,
                night_only=True,
                sun_max_elevation_deg=-100.0,
            ),
            "sun_max_elevation_deg",
        ),
        (lambda: elevation_track(MICIUS_LIKE, XINGLONG, np.array([0.0, 1.0])), "times_utc"),
        (lambda: elevation_track(MICIUS_LIKE, XINGLONG, [datetime(2026, 6, 21)]), "times_utc"),
        (lambda: elevation_track(MICIUS_LIKE, XINGLONG, [[0.0]], epoch_utc=SOLSTICE), "times_utc"),
        (lambda: sun_elevation_track(XINGLONG, np.array([0.0, 1.0])), "times_utc"),
        (lambda: sun_elevation_track(XINGLONG, [0.0], epoch_utc=datetime(2026, 6, 21)), "epoch_utc"),
    ],
)
def test_bad_input_raises_a_parameter_error_naming_the_field(build: Callable[[], object], field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        build()
    assert caught.value.field == field


def test_building_links_reports_progress_through_the_satellite_passes() -> None:
    """A long satellite run spends its time computing passes: the progress callback must move during it."""
    from qinternet.network.catalogue import builtin_text
    from qinternet.network.links.build import build_links
    from qinternet.network.schema import load_scenario

    data = load_scenario(builtin_text("micius")).model_dump(mode="json")
    data["time"]["duration_s"] = 3 * 86400.0
    seen: list[float] = []
    build_links(load_scenario(data), on_progress=seen.append)
    assert seen == sorted(seen)  # never goes back
    assert seen[-1] == 1.0
    assert len([f for f in seen if 0.0 < f < 0.5]) >= 3  # several steps within the first link's passes
