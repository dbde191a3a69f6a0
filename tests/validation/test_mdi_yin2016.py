"""The YIN2016 device set against Yin et al., PRL 117, 190501 (2016) (arXiv:1606.06821).

What was found, and where (``YIN2016.published`` and ``YIN2016.published_rates``):

* the abstract: MDI-QKD over 404 km of ultralow-loss and 311 km of standard fibre with the optimised
  four-intensity decoy method of Zhou, Yu, Wang (2016), to a distance that BB84 with the same detectors could not
  reach even with an ideal single-photon source;
* Sci. Rep. 8 (2018), doi:10.1038/s41598-018-35507-z (introduction): the 404 km used the four-intensity protocol
  "with joint constraints for statistical fluctuations" -- the analysis of :mod:`qinternet.qkd.mdi_joint`;
* Wei et al., PRX 10, 031030 (2020), Table I and Fig. 4: Yin et al. used time-bin encoding and a 75 MHz clock,
  with a finite key of failure probability 1e-10; their highest key rate is **1380 bit/s at 19.5 dB** channel
  loss.

Quoted by issue 12 (the paper itself was not reachable to check it): **3.2e-4 bit/s at 404 km**.

Not found: the paper's text and table (fibre loss per km, detector efficiency and dark counts, misalignment,
intensities and probabilities, f, number of pulses) and its key rate at 311 km. So every device number is an
assumption (``YIN2016.assumed``), fixed before the published rates were found:

=========================  ============  ==========================================================
channel                    published     computed (optimised four-intensity, joint constraints,
                                         Chernoff, 1e-10 per estimate, 75 MHz)
=========================  ============  ==========================================================
19.5 dB                    1380 bit/s    1.88e3 bit/s with N = 1e14 (x 1.36); 1.21e3 with 1e13, 5.4e2 with 1e12
404 km ultralow-loss       3.2e-4 bit/s  none with N = 1e14 or 5e14; 1.2e-6 with 1e15, 6.0e-5 with 2e15,
                                         1.9e-4 with 3e15, 5.1e-4 with 5e15 (published reached at ~3.5e15)
404 km at 0.16 dB/km       (same)        1.2e-5 with 5e14, 2.4e-4 with 1e15, 1.1e-3 with 2e15 (reached at ~1.1e15)
311 km standard            a key         none with N = 1e14; needs about 1.7e14 (26 days)
=========================  ============  ==========================================================

With the Gaussian "standard error analysis" instead of Chernoff bounds the 404 km rates are 1.2x to 5x higher near
the cut-off (5.7e-6, 1.1e-4, 2.8e-4, 6.8e-4 bit/s for 1e15 to 5e15) and the published rate is reached at ~3.2e15
(~0.9e15 with 0.16 dB/km): the choice of bound moves the block needed by 10-20 %, not the conclusion.

Tolerance at 19.5 dB: a factor 1.5 either way, because none of the numbers behind that point was found. Around
the assumed values (N = 1e14) the computed rate moves by -19 % / +21 % for eta_d = 0.55 / 0.65, by x 1.41 / x 0.36
for e_d = 1 % / 3 %, and by x 0.64 for a block ten times smaller; reading Yin et al.'s 1e-10 as the total failure
probability instead of one per estimate costs 1.4 %, and Gaussian fluctuations instead of Chernoff add 2 %. The
published rate lies between the rates of a 4-hour and a 15-day block at 75 MHz.

**Why the 404 km rate is not reproduced with the preset, and what would reproduce it.** The analysis is the one
Yin et al. name (four intensities with joint constraints, decoy bounds of the X-basis pairs written out in
:mod:`qinternet.qkd.mdi_joint`); checking it found no error. Near the end of its range the rate is set by
statistics, not by dark counts: the X-basis decoy coincidences that bound ``Y_11`` grow as
``N (eta_d eta_fibre)^2``, and the rate climbs by a factor of 300 to 1000 between N = 1e15 and 1e16. So one published
rate at 404 km pins the block the model needs, given the devices: about 3.5e15 pulse pairs (18 months at 75 MHz)
with the preset's 0.169 dB/km fibre and 0.6-efficient detectors, about 1.1e15 (5.5 months) with 0.16 dB/km, both
far above the preset's assumed 1e14 (15 days), which gives no key (tested). The two unknowns that decide it are the
fibre's loss per km (each 0.01 dB/km is 4 dB at 404 km, a factor 2.5 in the coincidences) and the number of pulse
pairs Yin et al. sent; the detectors matter less (eta_d = 0.65 instead of 0.6: 6.5e14 instead of 7.8e14 pulse
pairs for the first key). Reproducing the figure needs the paper's Table (fibre loss, eta_d, p_d, e_d) and its N;
with them the test below becomes a comparison at one block size. Whatever the devices, the published rate needs
more than a month of data in this analysis: even with 0.155 dB/km, eta_d = 0.65, e_d = 1 % and Gaussian
fluctuations, 1e14 pulse pairs give 7e-8 bit/s and the published rate is reached only at ~2.5e14 (40 days; tested).
Measured by bisection over N (optimised settings, Chernoff, 1e-10) the first key at 404 km needs 7.8e14 pulse pairs
with 0.169 dB/km and 3.2e14 with 0.16 dB/km; 5.4e14 with e_d = 1 %; 1.6e15 with p_d = 1e-7.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.params.devices import (
    DetectorParams,
    FibreParams,
    PairStatistics,
    QkdSystem,
    SpdcSourceParams,
    WcpSourceParams,
)
from qinternet.params.mdi import YIN2016, BsmLayout, BsmStationParams, MdiSystem
from qinternet.physics.fibre import fibre_transmittance
from qinternet.qkd.bounds import plob_bound
from qinternet.qkd.keyrate import Protocol, fibre_link_channel, key_rate
from qinternet.qkd.mdi import key_rate_decoy, key_rate_infinite_decoys, optimise_signal_intensity, symmetric_arms
from qinternet.qkd.mdi_finite import finite_key_rate
from qinternet.qkd.mdi_joint import Fluctuation, JointConstraintParams, optimise_four_intensity

SYSTEM = YIN2016.system
PARAMS = JointConstraintParams(eps_estimate=1e-10)
"""Failure probability 1e-10 of each estimate (Wei et al. 2020, Table I: Yin et al.'s finite key, 1e-10)."""
TOLERANCE = 1.5
"""Factor allowed between the published and the computed rate at 19.5 dB (module docstring)."""


def _symmetric_loss(loss_db: float) -> float:
    """Arm transmittance for a total channel loss split evenly between the arms."""
    return 10.0 ** (-loss_db / 20.0)


PUBLISHED_404_KM_BPS = 3.2e-4
"""Yin et al.'s finite-key rate over 404 km of ultralow-loss fibre, bit/s, as issue 12 quotes it (the paper's text,
where it would be read, was not reachable here; see the module docstring)."""
BRACKETS_404_KM = {"preset fibre": (51.9 / 307.0, 2e15, 5e15), "0.16 dB/km": (0.16, 5e14, 2e15)}
"""Fibre attenuation (dB/km) and the blocks (pulse pairs) whose optimised rates bracket the published one."""


def _optimised_rate_bps(eta_a: float, eta_b: float, block: float, params: JointConstraintParams = PARAMS) -> float:
    _, key = optimise_four_intensity(SYSTEM, eta_a, eta_b, block_pulse_pairs=block, params=params)
    return float(key.key_rate_per_pulse_pair) * SYSTEM.rep_rate_hz


def test_the_set_records_what_was_found_and_uses_the_four_intensity_protocol() -> None:
    assert {(run.kind, run.length_km) for run in YIN2016.runs} == {("ultralow-loss", 404.0), ("standard", 311.0)}
    assert SYSTEM.rep_rate_hz == 75e6  # Wei et al. 2020, Table I
    assert SYSTEM.bsm.layout is BsmLayout.TWO_DETECTORS  # time-bin encoding (Wei et al. 2020, Fig. 4)
    [rate] = YIN2016.published_rates
    assert (rate.channel_loss_db, rate.key_rate_bps) == (19.5, 1380.0)
    assert "Wei et al." in rate.source
    for source in (SYSTEM.alice, SYSTEM.bob):
        z = [mu for mu, p in zip(source.intensities, source.z_basis_probs, strict=True) if p > 0]
        x = [mu for mu, p in zip(source.intensities, source.x_basis_probs, strict=True) if p > 0]
        assert z == [source.intensities[source.signal_index]]  # the signal is sent in Z only
        assert sorted(x) == [0.0, source.intensities[source.weak_index], source.intensities[source.strong_index]]
    assert "qinternet's choice" in YIN2016.assumed[0]  # the set says which of its numbers are not the paper's


def test_the_published_rate_at_19_5_db() -> None:
    [published] = YIN2016.published_rates
    eta = _symmetric_loss(published.channel_loss_db)
    computed = _optimised_rate_bps(eta, eta, YIN2016.block_pulse_pairs)
    assert 1.0 / TOLERANCE < computed / published.key_rate_bps < TOLERANCE
    # The block size is a driver: a 4-hour block (1e12 pulse pairs at 75 MHz) gives well under the published rate,
    # so the published rate lies inside the range the unknown run length spans.
    assert _optimised_rate_bps(eta, eta, 1e12) < published.key_rate_bps < computed


@pytest.mark.parametrize(("kind", "enough"), [("ultralow-loss", 1e16), ("standard", 1e15)])
def test_the_published_lengths_need_more_pulses_than_assumed(kind: str, enough: float) -> None:
    # Yin et al. had a key at both lengths; with the assumed devices the joint-constraint analysis needs more
    # pulse pairs than the assumed block (module docstring). Both sides are pinned so that a change of model or
    # assumption that moves the cut-off shows here.
    run = YIN2016.run(kind)
    eta_a, eta_b = (float(v) for v in symmetric_arms(run.fibre, run.length_km))
    assert _optimised_rate_bps(eta_a, eta_b, YIN2016.block_pulse_pairs) == 0.0
    finite = _optimised_rate_bps(eta_a, eta_b, enough)
    asymptotic = float(key_rate_infinite_decoys(SYSTEM, eta_a, eta_b).key_rate_per_pulse_pair) * SYSTEM.rep_rate_hz
    assert 0.0 < finite < asymptotic


@pytest.mark.parametrize(
    ("fibre", "fluctuation"),
    [
        ("preset fibre", Fluctuation.CHERNOFF),
        ("preset fibre", Fluctuation.GAUSSIAN),
        ("0.16 dB/km", Fluctuation.CHERNOFF),
    ],
)
def test_the_published_404_km_rate_is_reached_only_with_a_block_of_months(fibre: str, fluctuation: Fluctuation) -> None:
    # The published 3.2e-4 bit/s at 404 km, with the assumed devices and the analysis Yin et al. name (four
    # intensities, joint constraints, 1e-10 per estimate): the rate rises steeply with the block near the cut-off,
    # so it pins the block the model needs - 2e15 to 5e15 pulse pairs (10 to 25 months at 75 MHz) with the
    # preset's 0.169 dB/km, 5e14 to 2e15 (2.5 to 10 months) with 0.16 dB/km - whichever way the fluctuations
    # are counted (Chernoff bounds, or the Gaussian "standard error analysis"). Either is far above the preset's
    # assumed 1e14; the paper's block size and fibre loss would settle which (module docstring).
    db_per_km, small, large = BRACKETS_404_KM[fibre]
    eta_a, eta_b = (float(v) for v in symmetric_arms(FibreParams(loss_db_per_km=db_per_km), 404.0))
    params = JointConstraintParams(eps_estimate=PARAMS.eps_estimate, fluctuation=fluctuation)
    assert _optimised_rate_bps(eta_a, eta_b, small, params) < PUBLISHED_404_KM_BPS
    assert _optimised_rate_bps(eta_a, eta_b, large, params) > PUBLISHED_404_KM_BPS
    # Yin et al.'s rate is 4.3e-12 per pulse pair, 1/50 (0.169 dB/km) to 1/110 (0.16 dB/km) of the model's
    # asymptotic rate with these devices (infinite decoys, infinite data): a rate deep in the finite-size regime.
    asymptotic = float(key_rate_infinite_decoys(SYSTEM, eta_a, eta_b).key_rate_per_pulse_pair) * SYSTEM.rep_rate_hz
    assert 10.0 * PUBLISHED_404_KM_BPS < asymptotic < 1000.0 * PUBLISHED_404_KM_BPS


def test_even_optimistic_devices_need_more_than_the_assumed_block_at_404_km() -> None:
    # A lower bound on Yin et al.'s block that does not hang on the unknown devices: with better ones than any
    # assumption here (0.155 dB/km, eta_d = 0.65, e_d = 1 %) and the more lenient Gaussian fluctuations, 1e14 pulse
    # pairs (15 days at 75 MHz) give 7e-8 bit/s, far below the published 3.2e-4; 3e14 give 5.8e-4. So the
    # published rate needs a block of at least ~2.5e14 pulse pairs (40 days) in this analysis.
    station = BsmStationParams(
        detector=DetectorParams(efficiency=0.65, dark_count_prob=SYSTEM.bsm.detector.dark_count_prob),
        misalignment_error=0.01,
        visibility=SYSTEM.bsm.visibility,
        layout=SYSTEM.bsm.layout,
        announced=SYSTEM.bsm.announced,
    )
    system = MdiSystem(alice=SYSTEM.alice, bob=SYSTEM.bob, bsm=station, ec_efficiency=SYSTEM.ec_efficiency)
    eta_a, eta_b = (float(v) for v in symmetric_arms(FibreParams(loss_db_per_km=0.155), 404.0))
    lenient = JointConstraintParams(eps_estimate=PARAMS.eps_estimate, fluctuation=Fluctuation.GAUSSIAN)

    def rate_bps(block: float) -> float:
        _, key = optimise_four_intensity(system, eta_a, eta_b, block_pulse_pairs=block, params=lenient)
        return float(key.key_rate_per_pulse_pair) * SYSTEM.rep_rate_hz

    assert rate_bps(1e14) < PUBLISHED_404_KM_BPS / 100.0
    assert rate_bps(3e14) > PUBLISHED_404_KM_BPS


def test_joint_constraints_need_fewer_pulses_than_the_composable_chernoff_analysis() -> None:
    # At 311 km with 1e15 pulse pairs the four-intensity joint-constraint analysis (the one Yin et al. used) has a
    # key; the composable analysis of mdi_finite (13 separate Chernoff estimates, Z-basis sampling, hashing
    # terms) has none, even with the same sources and its signal re-optimised.
    run = YIN2016.run("standard")
    eta_a, eta_b = (float(v) for v in symmetric_arms(run.fibre, run.length_km))
    optimum, key = optimise_four_intensity(SYSTEM, eta_a, eta_b, block_pulse_pairs=1e15, params=PARAMS)
    assert float(key.key_rate_per_pulse_pair) > 0.0
    _, composable = optimise_signal_intensity(
        lambda s: (
            finite_key_rate(optimum, eta_a, eta_b, block_pulse_pairs=1e15, signal_intensity=s).key_rate_per_pulse_pair
        )
    )
    assert composable == 0.0


@pytest.mark.parametrize("kind", ["ultralow-loss", "standard"])
def test_positive_asymptotic_key_at_the_published_lengths(kind: str) -> None:
    run = YIN2016.run(kind)
    eta_a, eta_b = symmetric_arms(run.fibre, run.length_km)
    decoy = key_rate_decoy(SYSTEM, eta_a, eta_b)
    infinite = key_rate_infinite_decoys(SYSTEM, eta_a, eta_b)
    assert 0.0 < float(decoy.key_rate_per_pulse_pair) <= float(infinite.key_rate_per_pulse_pair)
    _, best = optimise_signal_intensity(
        lambda s: key_rate_decoy(SYSTEM, eta_a, eta_b, signal_intensity=s).key_rate_per_pulse_pair
    )
    assert best >= float(decoy.key_rate_per_pulse_pair)


def test_mdi_reaches_past_400_km_of_ultralow_loss_fibre() -> None:
    fibre = YIN2016.run("ultralow-loss").fibre
    lengths = np.arange(400.0, 800.0, 1.0)
    rates = key_rate_decoy(SYSTEM, *symmetric_arms(fibre, lengths)).key_rate_per_pulse_pair
    cut_off = float(lengths[np.argmax(rates <= 0.0)])
    assert cut_off > 450.0


def test_rate_scales_as_the_total_transmittance_below_plob() -> None:
    for run in YIN2016.runs:
        lengths = np.linspace(0.0, run.length_km, 41)
        eta_a, eta_b = symmetric_arms(run.fibre, lengths)
        total = fibre_transmittance(run.fibre, lengths)
        np.testing.assert_allclose(eta_a * eta_b, total, rtol=1e-12)
        for rates in (key_rate_infinite_decoys(SYSTEM, eta_a, eta_b), key_rate_decoy(SYSTEM, eta_a, eta_b)):
            r = rates.key_rate_per_pulse_pair
            assert np.all(r[1:] < plob_bound(total[1:]))
            # d log R / d log(eta_a eta_b) over the second half: 1 for MDI (two photons must arrive), would be
            # 1/2 if the rate followed sqrt(eta_a eta_b) (twin-field, or a repeater node). Dark counts make it
            # slightly steeper near the end.
            half = lengths.size // 2
            slope = math.log(r[half] / r[-1]) / math.log(total[half] / total[-1])
            assert 0.95 < slope < 1.15


def test_bb84_with_an_ideal_single_photon_source_and_these_detectors_stops_before_404_km() -> None:
    run = YIN2016.run("ultralow-loss")
    bb84 = QkdSystem(
        fibre=run.fibre,
        detector=DetectorParams(
            efficiency=SYSTEM.bsm.detector.efficiency, dark_count_prob=SYSTEM.bsm.detector.dark_count_prob
        ),
        source=WcpSourceParams(signal_intensity=0.5, rep_rate_hz=SYSTEM.rep_rate_hz),
        spdc=SpdcSourceParams(statistics=PairStatistics.THERMAL, rep_rate_hz=SYSTEM.rep_rate_hz),
        misalignment_error=SYSTEM.bsm.misalignment_error,
        ec_efficiency=SYSTEM.ec_efficiency,
    )
    assert (
        key_rate(Protocol.BB84_SINGLE_PHOTON, bb84, fibre_link_channel(bb84, run.length_km)).key_rate_per_pulse == 0.0
    )
    assert (
        key_rate(Protocol.BB84_SINGLE_PHOTON, bb84, fibre_link_channel(bb84, 200.0)).key_rate_per_pulse > 0.0
    )  # the model itself works
    eta_a, eta_b = symmetric_arms(run.fibre, run.length_km)
    assert float(key_rate_decoy(SYSTEM, eta_a, eta_b).key_rate_per_pulse_pair) > 0.0


def test_relay_reports_psi_minus_from_two_time_bin_detectors() -> None:
    # The assumed relay: a single beam splitter and two detectors (time-bin encoding), psi^- only.
    assert SYSTEM.bsm.layout is BsmLayout.TWO_DETECTORS
    eta_a, eta_b = symmetric_arms(YIN2016.run("standard").fibre, 311.0)
    rates = key_rate_decoy(SYSTEM, eta_a, eta_b)
    assert float(rates.z_error_rate) < 0.05  # the Z basis error stays near e_d
