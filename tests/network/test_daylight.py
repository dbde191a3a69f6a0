"""Daylight on a satellite downlink: the sky background, not the ``night_only`` policy, is what stops a Micius-like
850 nm receiver at noon, while a narrow 1550 nm receiver keeps making key; night passes are as they were.

The last day of the built-in micius scenario over Xinglong, from 2016-12-21 12:00 UTC: it holds two night passes
(~00:19 and ~01:52 China Standard Time on 22 December) and a noon pass (~12:28 CST, culminating at ~86 deg, the Sun
at ~26 deg), the one that gave 303,643 bits with ``night_only: false`` before the sky was modelled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.links.free_space import PassRecord, SatelliteLinkEngine
from qinternet.network.satellite import sun_elevation_track
from qinternet.network.schema import load_scenario

# A daylight design in the spirit of Liao et al., Nat. Photon. 11, 509 (2017) (1550 nm, single-mode-fibre spatial
# filtering, narrow filter): the values are ours, not theirs. The optics, source and detectors are otherwise those
# of the 850 nm link, so that the sky is the only difference that matters (at a given divergence the wavelength
# does not enter the channel loss).
DESIGN_1550 = {"wavelength_nm": 1550.0, "rx_field_of_view_urad": 10.0}
NARROW = {"filter_bandwidth_nm": 0.1, "detection_window_s": 5e-10}


def xinglong_day(free_space: dict[str, Any], link: dict[str, Any] | None = None) -> SatelliteLinkEngine:
    spec, _ = resolve_scenario("micius")
    data = spec.model_dump(mode="json", exclude_unset=True)
    satellite = next(n for n in data["nodes"] if n["id"] == "micius")
    satellite["orbit"]["epoch"] = data["time"]["start"]  # the scenario's orbit, seen from a later start
    data["time"].update(start="2016-12-21T12:00:00Z", duration_s=86400)
    data["links"] = [{**data["links"][0], **(link or {})}]
    data["links"][0]["free_space"].update(free_space)
    data["demands"] = []
    engine = build_links(load_scenario(data))[0].engine
    assert engine is not None
    return engine


@pytest.fixture(scope="module")
def at_850() -> SatelliteLinkEngine:
    return xinglong_day({"night_only": False})


@pytest.fixture(scope="module")
def at_1550() -> SatelliteLinkEngine:
    return xinglong_day({**DESIGN_1550, "night_only": False}, NARROW)


def noon_pass(engine: SatelliteLinkEngine) -> PassRecord:
    (noon,) = [p for p in engine.passes if p.sun_elevation_deg.min() > 0.0 and p.max_elevation_deg > 60.0]
    return noon


def night_passes(engine: SatelliteLinkEngine) -> list[PassRecord]:
    night = [p for p in engine.passes if p.sun_elevation_deg.max() < -18.0]
    assert len(night) == 2
    return night


def key_without_sky(engine: SatelliteLinkEngine, record: PassRecord) -> int:
    return engine.key_bits(engine.counts(record.loss_db, (record.end_s - record.start_s) / record.times_s.size))


def test_a_micius_like_receiver_makes_no_key_at_noon_because_the_sky_blinds_it(at_850: SatelliteLinkEngine) -> None:
    noon = noon_pass(at_850)
    assert 20.0 < noon.sun_elevation_deg.min() < 30.0  # December noon at 40 N
    # The geometry is the best of the day: without sky light this pass would give ~3e5 bits, more than any night.
    assert key_without_sky(at_850, noon) > max(p.key_bits for p in night_passes(at_850))
    # With it, ~2 % of the gates click on sky light against ~1e-4 on signal: QBER near 1/2, no key.
    assert noon.sky_click_prob.min() > 1e-2
    assert noon.key_bits == 0
    qber = sum(noon.counts.key_errors) / sum(noon.counts.key_detections)
    assert qber > 0.4
    assert all(p.key_bits == 0 for p in at_850.passes if p.sun_elevation_deg.min() > 0.0)


def test_a_narrow_1550_nm_receiver_makes_key_in_the_same_noon_pass(at_1550: SatelliteLinkEngine) -> None:
    noon = noon_pass(at_1550)
    # It does see the sky (~4e-7 clicks per gate, about its detectors' own dark counts) and loses some key to it,
    # but keeps most of it.
    assert 1e-7 < noon.sky_click_prob.max() < 1e-6
    assert 0 < noon.key_bits < key_without_sky(at_1550, noon)
    assert noon.key_bits > 0.5 * key_without_sky(at_1550, noon)


def test_a_hazy_sky_brightens_the_infrared_enough_to_stop_the_1550_nm_design_too() -> None:
    # With aerosol scattering (lambda**-1.3 instead of Rayleigh's lambda**-4) the 1550 nm sky is ~20 times brighter.
    hazy = xinglong_day({**DESIGN_1550, "night_only": False, "sky_scattering_exponent": 1.3}, NARROW)
    noon = noon_pass(hazy)
    assert noon.sky_click_prob.max() > 1e-5
    assert noon.key_bits == 0


def test_night_passes_see_no_sky_and_give_the_key_they_always_gave(
    at_850: SatelliteLinkEngine, at_1550: SatelliteLinkEngine
) -> None:
    for engine in (at_850, at_1550):
        for record in night_passes(engine):
            assert np.all(record.sky_click_prob == 0.0)
            sample_s = (record.end_s - record.start_s) / record.times_s.size
            assert record.counts == engine.counts(record.loss_db, sample_s)  # bit for bit: dark counts untouched
    assert [p.key_bits for p in night_passes(at_850)] == [p.key_bits for p in night_passes(at_1550)]
    # night_only stays the operator's choice: it drops the daylight passes and keeps the night ones unchanged.
    policy = xinglong_day({"night_only": True})
    assert [(p.start_s, p.key_bits) for p in policy.passes] == [(p.start_s, p.key_bits) for p in night_passes(at_850)]


def test_a_receiver_clicking_in_most_gates_on_sky_light_alone_counts_noise(at_850: SatelliteLinkEngine) -> None:
    # A pair click probability P gives each detector 1 - sqrt(1 - P); at P = 0.8 that is 0.55, past the detector
    # model's 1/2: it is held just below 1/2, and what such samples count is noise.
    noon = noon_pass(at_850)
    blinded = at_850.counts(noon.loss_db, 1.0, np.full(noon.loss_db.shape, 0.8))
    assert sum(blinded.key_errors) / sum(blinded.key_detections) == pytest.approx(0.5, abs=0.01)
    assert at_850.key_bits(blinded) == 0


def test_each_sample_carries_the_suns_elevation_at_the_station(at_850: SatelliteLinkEngine) -> None:
    # The engine computes the Sun once a minute and interpolates (the Sun moves 0.25 deg a minute, and its
    # path's curvature leaves ~1e-4 deg at Xinglong); here it is computed at every sample.
    for record in (noon_pass(at_850), *night_passes(at_850)):
        exact = sun_elevation_track(at_850.station, record.times_s, epoch_utc=at_850.start_utc)
        np.testing.assert_allclose(record.sun_elevation_deg, exact, atol=1e-3)
