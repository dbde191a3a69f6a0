"""Daylight on a dual downlink (Micius to Delingha and Lijiang): the stations' sky light, as on a single downlink
(:mod:`qinternet.physics.sky`), adds accidental coincidences; with ``night_only: false`` the joint passes include
day-time ones, where the Micius-like 810 nm receivers with a 100 urad field of view are blinded (QBER ~1/2, no key),
and the night passes are what they were."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.links.dual_downlink import DualDownlinkEngine
from qinternet.network.satellite import sun_elevation_track
from qinternet.network.schema import load_scenario

DAYS = 4 * 86400.0
"""Enough for joint passes by day and by night over both stations."""


def _engine(night_only: bool) -> DualDownlinkEngine:
    data: dict[str, Any] = resolve_scenario("micius-entanglement-1200km")[0].model_dump(mode="json")
    data["time"]["duration_s"] = DAYS
    for optics in ("free_space", "free_space_b"):
        data["links"][0][optics]["night_only"] = night_only
    data["applications"] = []
    engine = build_links(load_scenario(data))[0].engine
    assert isinstance(engine, DualDownlinkEngine)
    return engine


@pytest.fixture(scope="module")
def by_day() -> DualDownlinkEngine:
    return _engine(night_only=False)


@pytest.fixture(scope="module")
def by_night() -> DualDownlinkEngine:
    return _engine(night_only=True)


def _sun(engine: DualDownlinkEngine, times_s: np.ndarray) -> np.ndarray:
    return np.minimum(
        sun_elevation_track(engine.station_a, times_s, epoch_utc=engine.start_utc),
        sun_elevation_track(engine.station_b, times_s, epoch_utc=engine.start_utc),
    )


def test_day_time_joint_passes_are_blinded_by_the_sky(by_day: DualDownlinkEngine) -> None:
    sunny = [p for p in by_day.passes if _sun(by_day, p.times_s).min() > 10.0]
    assert sunny, "the four days hold a joint pass in both stations' daylight"
    for joint in sunny:
        # accidentals dominate: each station's detectors click on sky light in a large share of the windows
        assert joint.qber > 0.4
        assert joint.key_bits == 0


def test_the_night_passes_do_not_change(by_day: DualDownlinkEngine, by_night: DualDownlinkEngine) -> None:
    dark = [p for p in by_day.passes if _sun(by_day, p.times_s).max() < -18.0]
    assert dark
    night = {round(p.start_s): p for p in by_night.passes}
    for joint in dark:
        same = night[round(joint.start_s)]
        assert joint.sifted == pytest.approx(same.sifted, rel=1e-12)
        assert joint.errors == pytest.approx(same.errors, rel=1e-12)


def test_a_narrow_receiver_is_hurt_less_by_the_same_sky(by_day: DualDownlinkEngine) -> None:
    # the sky's accidentals scale with the field of view's solid angle, the filter and the window: a receiver with
    # a tenth of the field of view (a hundredth of the sky light) keeps the error rate of a sunny pass lower
    sunny = next(p for p in by_day.passes if _sun(by_day, p.times_s).min() > 10.0)
    wide = by_day.counts(sunny.loss_a_db, sunny.loss_b_db, *_skies(by_day, sunny.times_s, 1.0))
    narrow = by_day.counts(sunny.loss_a_db, sunny.loss_b_db, *_skies(by_day, sunny.times_s, 0.1))
    assert narrow[1] / narrow[0] < wide[1] / wide[0]


def _skies(engine: DualDownlinkEngine, times_s: np.ndarray, fov_scale: float) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for optics, station in ((engine.optics_a, engine.station_a), (engine.optics_b, engine.station_b)):
        smaller = optics.model_copy(update={"rx_field_of_view_urad": optics.rx_field_of_view_urad * fov_scale})
        sun = sun_elevation_track(station, times_s, epoch_utc=engine.start_utc)
        out.append(engine.sky_click_prob(smaller, sun))
    return out[0], out[1]
