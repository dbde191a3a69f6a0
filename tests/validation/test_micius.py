"""The built-in ``micius`` scenario against Liao et al., Nature 549, 43 (2017).

Published (the pass of 19 Dec 2016): 3,551,136 detections and 300,939 bits of secure key in 273 s, the
satellite at 645 km at culmination and 1,200 km at the ends, QBER about 1 %; channel loss about 30 dB at
645 km and 39 dB at 1,200 km (Fig. 3, as digitised by Baidu QNET).

What the publication leaves unknown here, and the tolerances it sets:
- the receiver's detection efficiency and the optics' fixed loss: the scenario calibrates the fixed loss
  once, at 645 km, to the published 30 dB; the loss at 1,200 km is then a prediction, checked to within
  2.5 dB (the model's spread when the zenith transmittance ranges over 0.7-0.9, 2.2 dB, plus rounding);
- the orbit of that night: the scenario's orbit is a Micius-like one, not the real TLE, so its best pass
  in a week culminates at ~720 km, not 645 km. Detections in the 273 s around culmination then fall by
  the loss difference (~1-2 dB), so the count is checked to within a factor 1.5 (+-1.76 dB);
- the key protocol: Lim et al.'s finite-key analysis distils key from the Z basis only (half of the
  sifted bits at Micius's 50/50 basis choice) while Liao et al. distil from both; so the scenario's key,
  doubled, is compared with theirs, to within a factor 1.5 again (their security parameters, error
  correction and the geometry above are not ours).
"""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.links.free_space import SatelliteLinkEngine, downlink_loss_db
from qinternet.network.schema import load_scenario
from qinternet.physics.freespace import elevation_deg_from_range

PUBLISHED_DETECTIONS = 3_551_136
PUBLISHED_KEY_BITS = 300_939
PUBLISHED_WINDOW_S = 273.0


@pytest.fixture(scope="module")
def week() -> SatelliteLinkEngine:
    spec, _ = resolve_scenario("micius")
    data = spec.model_dump(mode="json")
    data["time"]["duration_s"] = 7 * 86400
    engine = build_links(load_scenario(data))[0].engine
    assert engine is not None
    return engine


@pytest.mark.parametrize(("range_km", "published_db", "tolerance_db"), [(645.0, 30.0, 1.3), (1200.0, 39.0, 2.5)])
def test_channel_loss_at_the_published_ranges(range_km: float, published_db: float, tolerance_db: float) -> None:
    spec, _ = resolve_scenario("micius")
    optics = spec.links[0].free_space
    assert optics is not None
    elevation = elevation_deg_from_range(np.array([range_km]), 500.0, 0.96)
    loss = float(downlink_loss_db(optics, np.array([range_km]), elevation)[0])
    assert loss == pytest.approx(published_db, abs=tolerance_db)


def test_the_best_pass_of_a_week_against_the_published_pass(week: SatelliteLinkEngine) -> None:
    best = min(week.passes, key=lambda p: abs(float(p.range_km.min()) - 645.0))  # culmination nearest 645 km
    assert 600.0 < best.range_km.min() < 800.0
    centre = best.times_s[int(np.argmin(best.range_km))]
    window = np.abs(best.times_s - centre) <= PUBLISHED_WINDOW_S / 2
    assert window.sum() == pytest.approx(PUBLISHED_WINDOW_S, abs=2)
    assert np.all(best.sky_click_prob == 0.0)  # a night pass: the Sun is far below -18 degrees
    counts = week.counts(best.loss_db[window], week.sample_s, best.sky_click_prob[window])
    # DecoyCounts hold matched-basis detections: half of all detections at 50/50 bases.
    detections = 2 * (sum(counts.key_detections) + sum(counts.test_detections))
    assert PUBLISHED_DETECTIONS / 1.5 < detections < PUBLISHED_DETECTIONS * 1.5
    qber = sum(counts.key_errors) / sum(counts.key_detections)
    assert 0.005 < qber < 0.02  # "about 1 %"
    key = week.key_bits(counts)
    assert PUBLISHED_KEY_BITS / 1.5 < 2 * key < PUBLISHED_KEY_BITS * 1.5


def test_key_comes_only_in_night_passes_over_xinglong(week: SatelliteLinkEngine) -> None:
    from datetime import timedelta

    for record in week.passes:
        local = week.start_utc + timedelta(seconds=record.start_s) + timedelta(hours=8)  # China Standard Time
        assert local.hour in (22, 23, 0, 1, 2, 3), local
    assert sum(p.key_bits > 0 for p in week.passes) >= 5
