"""The YIN2016 device set against Yin et al., PRL 117, 190501 (2016) (arXiv:1606.06821).

What could be checked. Only the paper's abstract was at hand (the stored copies of arXiv:1606.06821 give its
first page): MDI-QKD over 404 km of ultralow-loss fibre and over 311 km of standard fibre, with the
optimised four-intensity decoy method of Zhou, Yu, Wang (2016), reaching a distance that BB84 with the same
detectors could not reach even with an ideal single-photon source. The paper's parameter table and its key
rates were not found, so **no published key rate is compared here**: every device number of ``YIN2016`` is
qinternet's choice (listed in ``YIN2016.assumed``), and the tests below check the abstract's claims with
those devices, plus the physics every MDI link must obey:

* a positive key at both published lengths (asymptotic rates: with the assumed devices the finite-key
  analysis of :mod:`qinternet.qkd.mdi_finite` needs about 1e16 pulse pairs at 311 km and 1e17 at 404 km,
  more than the assumed block of 1e14; Yin et al.'s own devices and their joint-constraint analysis did
  better);
* the rate falls as the *total* transmittance ``eta_a eta_b`` (one decade per decade of it, not half a decade
  as a single repeater node would give), and stays below the PLOB bound of the whole fibre;
* with the same detectors and fibre, BB84 with an ideal single-photon source has no key at 404 km: its
  single clicks compete with dark counts, MDI's coincidences do not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.params.devices import DetectorParams, PairStatistics, QkdSystem, SpdcSourceParams, WcpSourceParams
from qinternet.params.mdi import YIN2016, BsmLayout
from qinternet.physics.fibre import fibre_transmittance
from qinternet.qkd.bounds import plob_bound
from qinternet.qkd.keyrate import Protocol, key_rate
from qinternet.qkd.mdi import key_rate_decoy, key_rate_infinite_decoys, optimise_signal_intensity, symmetric_arms

SYSTEM = YIN2016.system


def test_the_set_uses_the_published_runs_and_the_four_intensity_protocol() -> None:
    assert {(run.kind, run.length_km) for run in YIN2016.runs} == {("ultralow-loss", 404.0), ("standard", 311.0)}
    for source in (SYSTEM.alice, SYSTEM.bob):
        z = [mu for mu, p in zip(source.intensities, source.z_basis_probs, strict=True) if p > 0]
        x = [mu for mu, p in zip(source.intensities, source.x_basis_probs, strict=True) if p > 0]
        assert len(source.intensities) == 4  # signal, two decoys, vacuum
        assert z == [source.intensities[source.signal_index]]  # the signal is sent in Z only
        assert sorted(x) == sorted(
            [0.0, source.intensities[source.weak_index], source.intensities[source.strong_index]]
        )
        assert source.signal_index not in (source.weak_index, source.strong_index)
    assert "qinternet's choice" in YIN2016.assumed[0]  # the set says which of its numbers are not the paper's


@pytest.mark.parametrize("kind", ["ultralow-loss", "standard"])
def test_positive_key_at_the_published_lengths(kind: str) -> None:
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
    assert key_rate(Protocol.BB84_SINGLE_PHOTON, bb84, run.length_km).key_rate_per_pulse == 0.0
    assert key_rate(Protocol.BB84_SINGLE_PHOTON, bb84, 200.0).key_rate_per_pulse > 0.0  # the model itself works
    eta_a, eta_b = symmetric_arms(run.fibre, run.length_km)
    assert float(key_rate_decoy(SYSTEM, eta_a, eta_b).key_rate_per_pulse_pair) > 0.0


def test_relay_reports_psi_minus_from_two_time_bin_detectors() -> None:
    # The assumed relay: a single beam splitter and two detectors (time-bin encoding), psi^- only.
    assert SYSTEM.bsm.layout is BsmLayout.TWO_DETECTORS
    eta_a, eta_b = symmetric_arms(YIN2016.run("standard").fibre, 311.0)
    rates = key_rate_decoy(SYSTEM, eta_a, eta_b)
    assert float(rates.z_error_rate) < 0.05  # the Z basis error stays near e_d
