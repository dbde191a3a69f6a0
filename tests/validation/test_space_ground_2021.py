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

**What the published figure needs, from published figures only** (no model): Liao et al. 2017 (quoted from
arXiv:1707.00542 as transcribed in the public QuOSS repository, src/quoss/validation/micius.py, second-hand; the
intensities agree with Baidu QNET's independent transcription behind preset micius2017): "the ground station
collected 3,551,136 detection events" in 273 s, from pulses at "100 MHz" with "mu_s=0.8, mu_1=0.1, mu_2=0" "sent
with probabilities of 50%, 25%, and 25%". So the 2016 pass detected 13,008 pulses/s, and the transmittance of that
link (satellite to a click) was at most 13,008 / (1e8 x 0.425) = 3.06e-4 (35.1 dB; the detections' own dark counts
only lower it). Decoy BB84's secret key cannot exceed its single-photon detections (Lim et al. 2014, eq. (1)) and a
weak coherent pulse holds one photon with probability mu e^-mu <= 1/e, so 47.8 kbit/s needs clock x transmittance
of at least e x 46,800 / (1e8 x 3.06e-4) = 4.15 times 2016's, whatever the intensities (7.5 times with 2016's
intensities), averaged over a pass window like that one (273 s between 645 and 1,200 km; the 1,000 bit/s taken off
bounds what dark counts could add). micius2021 has 2 (the clock; the optics and receiver are 2017's): on such a
window the preset cannot reach the published figure under any protocol, so the upgrade is in the photons (link,
receiver, or a clock beyond 200 MHz) by at least another 2.1 times, unless Chen et al. average their "typical pass"
over a shorter, higher window than Liao et al. did. The model's own link, on its 57-degree pass, has 2.4 times the
2016 figure over its central 273 s (the clock's 2, and a pass a little better than 2016's) and 4.2 times, the bound
itself, only in its culmination second; there only pulses all of mu = 1, every detection a key bit, would do, and
with the preset's intensities it stays 1.8 times short (the check below). The same numbers check the reading of
the abstract: 47.8 kbit/s is 43 times Liao et al.'s 300,939 bits / 273 s = 1.10 kbit/s, the "more than 40 times".

**Where the model's 20x goes** (Xinglong's pass, the model's figures): averaging over the whole pass above 10
degrees (433 s) instead of the central 273 s of the 2017 convention, 1.45x (2.39 against 3.48 kbit/s); the key the
model extracts per detection, 0.112 (one finite-key block per pass, the key basis 0.64 of the detections, decoy and
vacuum pulses, error correction), against the single-photon share of detections that bounds any decoy protocol with
these intensities, 0.476: 4.2x (Liao et al.'s own 2016 pass extracted 0.085 per detection, less than the model);
and the detections, 31,000/s over those 273 s, 3.2 times fewer than 47.8 kbit/s needs even at 0.476 per detection.
1.45 x 4.2 x 3.2 = 20. Only the last is a shortfall of the devices: the first two are how the key is distilled and
averaged, which Chen et al.'s Methods (unread) would say.

**The miss is in the photons, not in a key-rate convention.** The model's receiver counts, in both bases and all
intensities, ~54,000 detections per second at culmination, ~48,000 over the 100 s around it, ~37,000 over 200 s,
~31,000 over the 273 s of Liao et al.'s 2017 window and ~22,000 over the whole pass: as many as the published 47.8
kbit/s of *secret* key only within ~100 s of culmination, fewer over any longer window. Secret key cannot exceed the
single-photon detections, 0.476 of all detections with these intensities (sum p mu e^-mu / sum p mu), so at no
moment of the pass, culmination included (~26,000 single-photon detections per second), does the model's link
detect enough for 47.8 kbit/s (the test below checks the culmination second, 200 s, 273 s and the whole pass): the
published figure needs about 1.8 to 4.7 times more detected pulses than the model's clock, optics and receiver give,
whatever the averaging window, the bases kept or the block size. Averaging over the central 273 s instead of
the whole pass raises the model's rate only 1.45x (3.5 kbit/s). What Chen et al. changed to get those photons
(clock rate, receiver efficiency, telescope, tracking) is in their Methods, which could not be read (searched: the
abstract, a secondary summary saying "increases clock rate and applies efficient QKD protocols", news in English and
Chinese, the Micius review arXiv:2208.10236 and the 46-node network arXiv:2109.04736 of the same group, whose stored
copies stop before their device sections, and public code quoting the paper): the preset is left as it is.

**The remote node**: the abstract does not say from where its "more than 2,600 km" is measured; the great circle
from Xinglong, the nearest point of the rest of the network, is 2,524 km, 3 % short. Tolerance 5 %.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from numpy.typing import NDArray

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.free_space import PassRecord, SatelliteLinkEngine
from qinternet.network.run import RunResult, run_scenario
from qinternet.network.schema import FibreLinkSpec, FreeSpaceLinkSpec, LinkKind, Scenario
from qinternet.params import get_preset
from qinternet.qkd.finite_key import DecoyCounts
from tests.validation.geometry import great_circle_km

PUBLISHED_PASS_RATE_BPS = 47.8e3
PUBLISHED_IMPROVEMENT = 40.0
PUBLISHED_REMOTE_KM = 2600.0
PUBLISHED_SPAN_KM = 4600.0
REMOTE_TOLERANCE = 0.05
"""The remote node's reference point is not given in the abstract (docstring)."""
MISS_BAND = (1 / 100, 1 / 10)
"""model / published for the typical pass: the band the unread upgrade puts the model in (docstring)."""
LIAO2017_DETECTIONS = 3_551_136
LIAO2017_KEY_BITS = 300_939
LIAO2017_WINDOW_S = 273.0
LIAO2017_REP_RATE_HZ = 1e8
LIAO2017_INTENSITIES = (0.8, 0.1, 0.0)
LIAO2017_INTENSITY_PROBS = (0.5, 0.25, 0.25)
"""Liao et al., Nature 549, 43 (2017), as quoted from arXiv:1707.00542 in QuOSS (second-hand; docstring)."""
DARK_KEY_BOUND_BPS = 1e-6 * 1e9
"""Key from vacuum detections (dark counts) is bounded by the dark clicks: at most 1e-6 per pulse (Liao et al.'s
detectors, "<25 Hz" each, give 2e-7 in their 2 ns window) at up to 1 GHz: 1 kbit/s, 2 % of the published rate."""


def mean_photon_number(intensities: tuple[float, ...], probs: tuple[float, ...]) -> float:
    """Mean photon number per pulse of the intensity mix."""
    return sum(p * mu for mu, p in zip(intensities, probs, strict=True))


LIAO2017_CLOCK_X_TRANSMITTANCE = (
    LIAO2017_DETECTIONS / LIAO2017_WINDOW_S / mean_photon_number(LIAO2017_INTENSITIES, LIAO2017_INTENSITY_PROBS)
) * (1 + 1e-3)
"""Upper bound on the 2016 pass's clock x transmittance (satellite to a click) over its 273 s, from its detections:
detections >= clock x sum p (1 - e^(-mu eta)) >= clock x eta x sum p mu (1 - eta/2), eta ~ 3e-4 (docstring)."""
NEEDED_GAIN = math.e * (PUBLISHED_PASS_RATE_BPS - DARK_KEY_BOUND_BPS) / LIAO2017_CLOCK_X_TRANSMITTANCE
"""clock x transmittance over the 2016 pass's that 47.8 kbit/s needs at least: key <= clock x eta / e (docstring)."""


def single_photon_share(intensities: tuple[float, ...], probs: tuple[float, ...]) -> float:
    """Single-photon detections per detection of a weak-coherent source at high loss: sum p mu e^-mu / sum p mu.

    At transmittance eta << 1 a pulse of mean mu is detected with probability ~ eta mu, from its one-photon part
    with eta mu e^-mu; decoy BB84's secret key is at most its single-photon (and vacuum) detections (Lim et al.,
    PRA 89, 022307 (2014), eq. (1)).
    """
    weights = [p * mu for mu, p in zip(intensities, probs, strict=True)]
    singles = [w * math.exp(-mu) for mu, w in zip(intensities, weights, strict=True)]
    return sum(singles) / sum(weights)


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


def window_of(one: PassRecord, window_s: float) -> NDArray[np.bool_]:
    """The samples of a pass within ``window_s`` centred on its culmination."""
    centre = one.times_s[int(np.argmin(one.range_km))]
    inside: NDArray[np.bool_] = np.abs(one.times_s - centre) <= window_s / 2
    return inside


def detections_per_s(engine: SatelliteLinkEngine, counts: DecoyCounts, seconds: float) -> float:
    """All detections (both bases, all intensities) per second: the counts hold the matched key basis only."""
    return sum(counts.key_detections) / engine.system.basis_prob**2 / seconds


@pytest.mark.parametrize("window_s", [1.0, 200.0, 273.0, math.inf])
def test_the_published_rate_needs_more_detections_than_the_model_makes(day: RunResult, window_s: float) -> None:
    # No window, not even the culmination second, has single-photon detections enough for 47.8 kbit/s.
    for engine in downlinks(day).values():
        source = engine.system.source
        share = single_photon_share((source.signal_intensity, *source.decoy_intensities), source.intensity_probs)
        assert share == pytest.approx(0.476, abs=0.001)
        for one in engine.passes:
            if one.key_bits <= 0:
                continue
            inside = window_of(one, window_s)
            counts = engine.counts(one.loss_db[inside], engine.sample_s)
            rate = detections_per_s(engine, counts, inside.sum() * engine.sample_s)
            assert share * rate + DARK_KEY_BOUND_BPS < PUBLISHED_PASS_RATE_BPS


def test_the_published_rate_needs_4_times_the_2016_link_and_clock_the_preset_has_2() -> None:
    # Published figures only (docstring): the 2016 pass bounds the link's transmittance from above ...
    previous_bps = LIAO2017_KEY_BITS / LIAO2017_WINDOW_S
    assert 40.0 < PUBLISHED_PASS_RATE_BPS / previous_bps < 45.0  # "more than 40 times" the 2017 pass: 43
    assert pytest.approx(1e8 * 3.06e-4, rel=0.01) == LIAO2017_CLOCK_X_TRANSMITTANCE
    # ... and 47.8 kbit/s needs single photons: key <= clock x transmittance x max(mu e^-mu) = ... / e.
    assert pytest.approx(4.15, abs=0.01) == NEEDED_GAIN
    with_2016_intensities = (PUBLISHED_PASS_RATE_BPS - DARK_KEY_BOUND_BPS) / (
        single_photon_share(LIAO2017_INTENSITIES, LIAO2017_INTENSITY_PROBS)
        * LIAO2017_CLOCK_X_TRANSMITTANCE
        * mean_photon_number(LIAO2017_INTENSITIES, LIAO2017_INTENSITY_PROBS)
    )
    assert with_2016_intensities == pytest.approx(7.5, abs=0.1)
    # micius2021 keeps micius2017's detectors and the scenario keeps the 2017 optics: its gain is its clock alone.
    older, new = get_preset("micius2017").system, get_preset("micius2021").system
    assert new.detector == older.detector
    assert new.source.intensity_probs == older.source.intensity_probs == LIAO2017_INTENSITY_PROBS
    preset_gain = new.source.rep_rate_hz / older.source.rep_rate_hz
    assert preset_gain == 2.0
    assert preset_gain < NEEDED_GAIN / 2  # short by more than 2 times on the 2016 window, whatever the protocol


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


def test_the_miss_is_the_averaging_the_distillation_and_the_photons(day: RunResult) -> None:
    # The docstring's three factors, for each station's pass (their product is published / model, ~20).
    liao_key_per_detection = LIAO2017_KEY_BITS / LIAO2017_DETECTIONS
    for engine in downlinks(day).values():
        source = engine.system.source
        share = single_photon_share((source.signal_intensity, *source.decoy_intensities), source.intensity_probs)
        for one in engine.passes:
            if one.key_bits <= 0:
                continue
            whole_bps = one.key_bits / (one.end_s - one.start_s)
            inside = window_of(one, LIAO2017_WINDOW_S)
            seconds = inside.sum() * engine.sample_s
            counts = engine.counts(one.loss_db[inside], engine.sample_s)
            window_bps = engine.key_bits(counts) / seconds
            detected = detections_per_s(engine, counts, seconds)
            window = window_bps / whole_bps
            distillation = share / (window_bps / detected)
            photons = PUBLISHED_PASS_RATE_BPS / (share * detected)
            assert 1.2 < window < 1.8
            # The model distils more per detection than the 2016 pass did (0.085), less than the single photons.
            assert liao_key_per_detection < window_bps / detected < share
            assert 3.0 < distillation < 5.6
            assert photons > 2.0
            # The model's link against the published-figures bound (docstring): below it over a window like 2016's,
            # at it only in the culmination second, where the preset's intensities still fall 1.8 times short.
            intensities = (source.signal_intensity, *source.decoy_intensities)
            mean_photons = mean_photon_number(intensities, source.intensity_probs)
            gain = detected / mean_photons / LIAO2017_CLOCK_X_TRANSMITTANCE
            assert 2.0 < gain < 0.7 * NEEDED_GAIN
            peak = window_of(one, engine.sample_s)
            peak_counts = engine.counts(one.loss_db[peak], engine.sample_s)
            peak_gain = detections_per_s(engine, peak_counts, peak.sum() * engine.sample_s) / mean_photons
            assert peak_gain / LIAO2017_CLOCK_X_TRANSMITTANCE == pytest.approx(NEEDED_GAIN, rel=0.1)
