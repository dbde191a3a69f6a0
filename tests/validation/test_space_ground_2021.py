"""The built-in ``space-ground-2021`` scenario and the ``micius2021`` preset against Chen et al., Nature 589, 214
(2021).

Published, READ in the abstract (http://www.nature.com/uidfinder/10.1038/s41586-020-03093-8): more than 700 fibre
QKD links and two high-speed satellite-to-ground free-space QKD links; a fibre network covering more than 2,000 km
with trusted relays; an average secret-key rate of 47.8 kbit/s for a typical satellite pass, more than 40 times
higher than achieved previously; a remote node more than 2,600 km away; users up to 4,600 km apart. The main text
could not be read: no per-hop backbone rate, no key of a whole pass, no device table. So the backbone's hop rates
are checked for physics only (below), and the satellite devices of the upgrade are assumed (preset micius2021:
200 MHz and a 0.8 key-basis bias, from a secondary summary's "higher clock rate, efficient protocol").

Published against computed (``qinternet run space-ground-2021 --duration 24h``):

| figure | published | computed |
|---|---|---|
| average key rate of a typical pass | 47.8 kbit/s | 2.36 kbit/s (median of the day's 2 passes with key, ~1 Mbit each) |
| improvement over the 2017 system | more than 40x | 4.8x on the same passes (micius2021 / micius2017) |
| remote node | more than 2,600 km | 2,524 km (Nanshan-Xinglong great circle) |
| span between users | up to 4,600 km | 4,834 km |

**Why the pass rate is missed by ~20x** (not tuned): the model knows of the upgrade only what the assumed preset
holds, a doubled clock and a biased basis, which together give 2 to 5.1 times the 2017 key (the test below bounds
it so); the paper's 40x comes from upgrades that could not be read (receiver efficiency, optics and tracking,
protocol, block sizes). On top of that the model's key is of the key basis only and its rate is averaged over the
whole pass above 10 degrees (the 2017 validation shows these conventions already give ~2.5x less than Liao et al.'s
1.1 kbit/s over 273 s). The tolerance, [1/100, 1/10] of the published figure, is the band that gap puts the model
in; the test fails if a change of the model moves it out.

**The miss is in the photons, not in a key-rate convention.** The model's receiver counts, in both bases and all
intensities, ~57,000 detections per second at culmination, ~48,000 over the 100 s around it, ~37,000 over 200 s,
~31,000 over the 273 s of Liao et al.'s 2017 window and ~22,000 over the whole pass: as many as the published 47.8
kbit/s of *secret* key only within ~100 s of culmination, fewer over any longer window (the test below checks 200 s,
273 s and the whole pass). Secret key is a fraction of the detections (decoy BB84 at ~1 % QBER keeps at most about
half, asymptotically and from both bases: the single-photon share of the signal, e^-mu, less error correction), so
the published figure needs about 2.5 to 4.5 times more detected pulses than the model's clock, optics and receiver
give, whatever the averaging window, the bases kept or the block size. Averaging over the central 273 s instead of
the whole pass raises the model's rate only 1.45x (3.5 kbit/s). What Chen et al. changed to get those photons
(clock rate, receiver efficiency, telescope, tracking) is in their Methods, which could not be read (searched: the
abstract, a secondary summary saying "increases clock rate and applies efficient QKD protocols", news in English and
Chinese): the preset is left as it is.

**The remote node**: the abstract does not say from where its "more than 2,600 km" is measured; the great circle
from Xinglong, the nearest point of the rest of the network, is 2,524 km, 3 % short. Tolerance 5 %.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.free_space import SatelliteLinkEngine
from qinternet.network.run import RunResult, run_scenario
from qinternet.network.schema import FibreLinkSpec, FreeSpaceLinkSpec, LinkKind, Scenario
from qinternet.params import get_preset
from tests.validation.geometry import great_circle_km

PUBLISHED_PASS_RATE_BPS = 47.8e3
PUBLISHED_IMPROVEMENT = 40.0
PUBLISHED_REMOTE_KM = 2600.0
PUBLISHED_SPAN_KM = 4600.0
REMOTE_TOLERANCE = 0.05
"""The remote node's reference point is not given in the abstract (docstring)."""
MISS_BAND = (1 / 100, 1 / 10)
"""model / published for the typical pass: the band the unread upgrade puts the model in (docstring)."""


@pytest.fixture(scope="module")
def network() -> Scenario:
    return resolve_scenario("space-ground-2021")[0]


@pytest.fixture(scope="module")
def day() -> RunResult:
    return run_scenario("space-ground-2021", duration="24h")


def downlinks(result: RunResult) -> dict[str, SatelliteLinkEngine]:
    engines = {}
    for spec, link in zip(result.scenario.links, result.links, strict=True):
        if link.pass_schedule is not None:
            engines[spec.id] = link.pass_schedule
    return engines


def test_the_read_figures_are_listed(network: Scenario) -> None:
    published = {p.quantity: p.value for p in network.published}
    assert published["average secret key rate per typical satellite pass"] == PUBLISHED_PASS_RATE_BPS / 1e3
    assert published["distance of the remote node"] == PUBLISHED_REMOTE_KM
    assert published["span between users"] == PUBLISHED_SPAN_KM
    assert all("READ" in p.note for p in network.published)


def test_the_same_network_as_space_ground_4600km_with_the_2021_devices(network: Scenario) -> None:
    older = resolve_scenario("space-ground-4600km")[0]
    assert [n.id for n in network.nodes] == [n.id for n in older.nodes]
    fibre = [link for link in network.links if isinstance(link, FibreLinkSpec)]
    assert fibre == [link for link in older.links if isinstance(link, FibreLinkSpec)]
    free = [link for link in network.links if isinstance(link, FreeSpaceLinkSpec)]
    assert {(link.a, link.b) for link in free} == {("micius", "xinglong"), ("micius", "nanshan")}
    assert {link.preset for link in free} == {"micius2021"}
    assert sum(link.kind is LinkKind.FREE_SPACE for link in network.links) == 2


def test_the_remote_node_and_the_span(network: Scenario, day: RunResult) -> None:
    remote = great_circle_km(network, "nanshan", "xinglong")
    assert remote == pytest.approx(PUBLISHED_REMOTE_KM, rel=REMOTE_TOLERANCE)
    compared = {p.quantity: p.simulated for p in day.summary.published}
    assert compared["distance of the remote node"] == pytest.approx(remote)
    assert compared["span between users"] == pytest.approx(PUBLISHED_SPAN_KM, rel=0.10)


def test_both_stations_get_key_in_one_day_and_nanshan_reaches_shanghai(day: RunResult) -> None:
    for engine in downlinks(day).values():
        assert max(p.key_bits for p in engine.passes) > 0
    index = next(i for i, d in enumerate(day.scenario.demands) if d.id == "nanshan-shanghai")
    assert day.summary.demands[index].met
    for path in day.network.paths[index]:
        assert {"micius--nanshan", "micius--xinglong"} <= set(path)


def test_the_typical_pass_rate_misses_the_published_one_by_the_unread_upgrade(day: RunResult) -> None:
    rate = next(p for p in day.summary.published if p.quantity.startswith("average secret key rate"))
    assert rate.simulated is not None
    assert rate.simulated_unit == "kbit/s"
    ratio = rate.simulated * 1e3 / PUBLISHED_PASS_RATE_BPS
    assert MISS_BAND[0] < ratio < MISS_BAND[1]


def test_the_known_part_of_the_upgrade_gives_2_to_5_times_the_2017_key(day: RunResult) -> None:
    # Same passes, same optics: 200 MHz doubles the pulses; the 0.8 basis bias raises the key basis's share of
    # them from 0.25 to 0.64 but thins the test basis (0.04), whose finite statistics cost some of the gain.
    older = get_preset("micius2017").system
    new = get_preset("micius2021").system
    clock = new.source.rep_rate_hz / older.source.rep_rate_hz
    sifting = (new.basis_prob / older.basis_prob) ** 2
    for engine in downlinks(day).values():
        before = dataclasses.replace(engine, system=older)
        for now, then in zip(engine.passes, before.passes, strict=True):
            if now.key_bits > 0:
                assert then.key_bits > 0
                assert clock < now.key_bits / then.key_bits < clock * sifting
                assert now.key_bits / then.key_bits < PUBLISHED_IMPROVEMENT


@pytest.mark.parametrize("window_s", [200.0, 273.0, math.inf])
def test_the_published_rate_needs_more_detections_than_the_model_makes(day: RunResult, window_s: float) -> None:
    for engine in downlinks(day).values():
        system = engine.system
        key_basis_share = system.basis_prob**2  # both ends choose the key basis
        for one in engine.passes:
            if one.key_bits <= 0:
                continue
            centre = one.times_s[int(np.argmin(one.range_km))]
            inside = np.abs(one.times_s - centre) <= window_s / 2
            counts = engine.counts(one.loss_db[inside], engine.sample_s)
            detections_per_s = sum(counts.key_detections) / key_basis_share / (inside.sum() * engine.sample_s)
            assert detections_per_s < PUBLISHED_PASS_RATE_BPS


def test_backbone_hops_follow_their_loss(day: RunResult) -> None:
    # No per-hop rate is published (the main text could not be read): the check is physics. Every backbone hop
    # has the same devices, so its key rate falls as its loss (length) grows, and each is positive.
    backbone = {link.id for link in resolve_scenario("beijing-shanghai")[0].links}
    specs = {link.id: link for link in day.scenario.links}
    hops = sorted(
        (specs[link.id].length_km, link.mean_rate_bps)  # type: ignore[union-attr]
        for link in day.summary.links
        if link.id in backbone
    )
    assert len(hops) == len(backbone)
    rates = [rate for _, rate in hops]
    assert min(rates) > 0
    assert all(a >= b for a, b in itertools.pairwise(rates))
    assert rates[0] > rates[-1]
