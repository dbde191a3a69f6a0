"""Toshiba's published systems: the ``toshiba2018`` preset and the built-in ``toshiba-tokyo-qkd`` scenario.

Published, READ:
* Yuan et al., J. Lightwave Technol. 36, 3427 (2018), abstract (https://ar5iv.org/html/1807.04484): efficient
  decoy-state BB84, self-differencing InGaAs APDs, data sets of 1e8 bits, 13.72 Mb/s of secure key over a 2 dB
  channel averaged over 4.4 days.
* Dixon et al., Opt. Express 23, 7583 (2015), abstract
  (https://opg.optica.org/oe/viewmedia.cfm?html=true&seq=0&uri=oe-23-6-7583): 878 Gbit of secure key over 34 days,
  around 300 kbit/s sustained, over a standard 45 km link of installed fibre in central Tokyo.
Not read first-hand: Sasaki et al., Opt. Express 19, 10387 (2011) (the Tokyo QKD Network: its access points and
the 0.3 dB/km of the 45 km link come from a secondary summary, so no test treats them as published), and Dynes et
al., npj Quantum Inf. 5, 101 (2019) beyond its abstract (no per-link figure was read).

Assumed in the preset (its notes): 1 GHz, detector efficiency 0.25, dark counts 1e-6 per gate, after-pulses 4 %,
misalignment 2 %, f = 1.16.

Published against computed:

| figure | published | computed | ratio |
|---|---|---|---|
| 2 dB channel, blocks of 1e8 key bits | 13.72 Mb/s | 8.5 Mb/s | 0.62 |
| 45 km Tokyo link (0.3 dB/km, 10 min blocks) | ~300 kbit/s | 738 kbit/s | 2.46 |

Tolerance at 2 dB: a factor of 2, the spread the assumed devices give (others fixed): efficiency 0.2 / 0.3 gives
0.77 / 1.24 times the rate, e_d 1 % / 3 % gives 1.43 / 0.67, blocks of 1e7 / 1e9 bits give 0.71 / 1.26.

**Why the Tokyo figure is not reproduced within that factor** (not tuned): the preset's devices stand for the 2018
system, the 2015 figure is the earlier prototype's, whose rate the later system was built to exceed; and the
link's loss was not read (0.3 dB/km comes from a secondary summary): 0.25 / 0.35 dB/km give 1.34 / 0.43 Mbit/s.
The test checks that the model is above the published figure and within the factor of 3 those two unknowns span,
not a reproduction.
"""

from __future__ import annotations

import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.schema import NodeKind, Scenario
from qinternet.params import get_preset
from qinternet.physics.channels import FibreChannel
from qinternet.qkd.finite_key import finite_key_rate

PUBLISHED_2DB_BPS = 13.72e6
PUBLISHED_DATASET_BITS = 1e8
PUBLISHED_TOKYO_BPS = 300e3
PUBLISHED_TOKYO_BITS = 878e9
PUBLISHED_TOKYO_DAYS = 34.0
PUBLISHED_TOKYO_KM = 45.0
FACTOR = 2.0
"""Tolerance at 2 dB: the assumed device figures each move the rate by up to about this much (docstring)."""
TOKYO_FACTOR = 3.0
"""Upper bound on model / published for the 2015 Tokyo link: later devices, unread loss (docstring)."""
BLOCK_PULSES_2DB = 3e9
"""Pulses of a block of about 1e8 key-basis detections at 2 dB with the preset's tuned settings (checked below)."""


def test_the_two_published_tokyo_figures_agree() -> None:
    # 878 Gbit over 34 days is the "around 300 kbit/s" of the same abstract.
    mean_bps = PUBLISHED_TOKYO_BITS / (PUBLISHED_TOKYO_DAYS * 86400.0)
    assert mean_bps == pytest.approx(PUBLISHED_TOKYO_BPS, rel=0.01)


def test_rate_over_a_2_db_channel_within_a_factor_of_two() -> None:
    system = get_preset("toshiba2018").system
    channel = FibreChannel(length_km=0.0, loss_db_per_km=system.fibre.loss_db_per_km, insertion_loss_db=2.0)
    point = finite_key_rate(system, channel, block_pulses=BLOCK_PULSES_2DB)
    assert point.bounds is not None
    assert point.bounds.key_detections == pytest.approx(PUBLISHED_DATASET_BITS, rel=0.15)
    ratio = point.key_rate_per_pulse * system.source.rep_rate_hz / PUBLISHED_2DB_BPS
    assert 1 / FACTOR < ratio < FACTOR, ratio


@pytest.fixture(scope="module")
def tokyo() -> Scenario:
    return resolve_scenario("toshiba-tokyo-qkd")[0]


def test_the_tokyo_network_relays_through_otemachi(tokyo: Scenario) -> None:
    # Structure (from the secondary summary, not a published figure): every link meets at Otemachi, the one
    # trusted relay, so Koganei's key to Bunkyo crosses the 45 km link and one short one.
    relays = [n.id for n in tokyo.nodes if n.kind is NodeKind.TRUSTED_RELAY]
    assert relays == ["otemachi"]
    assert all("otemachi" in (link.a, link.b) for link in tokyo.links)
    toshiba_link = next(link for link in tokyo.links if link.id == "koganei--otemachi")
    assert toshiba_link.length_km == PUBLISHED_TOKYO_KM
    assert toshiba_link.preset == "toshiba2018"


def test_the_45_km_link_is_above_the_2015_prototype_within_a_factor_of_three(tokyo: Scenario) -> None:
    built = dict(zip((link.id for link in tokyo.links), build_links(tokyo), strict=True))
    rate = built["koganei--otemachi"].expected_rate_bps
    assert 1.0 < rate / PUBLISHED_TOKYO_BPS < TOKYO_FACTOR, rate
    # The short links, with less loss, make more key: the 45 km link is the network's bottleneck.
    assert all(b.expected_rate_bps > rate for link_id, b in built.items() if link_id != "koganei--otemachi")
