"""Attacks and their detection signatures.

Statistical tolerances as in test_montecarlo.py: binomial standard deviations, 5 of them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params import QkdSystem
from qinternet.physics.channels import fibre_channel
from qinternet.qkd.attacks import BeamSplitting, InterceptResend, PhotonNumberSplitting, parse_attack
from qinternet.qkd.estimate import estimate_from_counts, expected_estimate
from qinternet.qkd.montecarlo import compile_link, count_link
from qinternet.qkd.observables import link_transmittance, observed_coherent

Z = 5.0


def run(system: QkdSystem, distance: float, attack: object, pulses: int, seed: int):  # type: ignore[no-untyped-def]
    counts = count_link(
        compile_link(system, fibre_channel(system.fibre, distance), attack), pulses, np.random.default_rng(seed)
    )  # type: ignore[arg-type]
    return counts, estimate_from_counts(system, counts)


def test_intercept_resend_raises_the_qber_by_a_quarter_of_the_fraction(gys: QkdSystem) -> None:
    p, mu, distance = 0.5, 0.48, 25.0
    counts, estimate = run(gys, distance, InterceptResend(fraction=p), 10**9, 1)
    honest = observed_coherent(gys, fibre_channel(gys.fibre, distance), mu)
    resent = observed_coherent(gys, fibre_channel(gys.fibre, distance), mu / (1 - np.exp(-mu)), click_prob=honest.gain)
    y0 = gys.detector.background_yield
    seen = 1 - np.exp(-mu)
    # Closed form: untouched pulses; Eve's brighter resent pulses (right basis: Bob sees e_d; wrong basis:
    # a random bit); vacuum when Eve saw nothing.
    q = (1 - p) * float(honest.gain) + p * (seen * float(resent.gain) + (1 - seen) * y0)
    eq = (1 - p) * float(honest.error_weight)
    eq += p * (seen * (0.5 * float(resent.error_weight) + 0.25 * float(resent.gain)) + (1 - seen) * y0 / 2)
    n = int(counts.matched(counts.sent)[0])
    signal = estimate.classes[0]
    assert signal.gain == pytest.approx(q, abs=Z * np.sqrt(q / n))
    e = eq / q
    assert signal.qber == pytest.approx(e, abs=Z * np.sqrt(e * (1 - e) / (n * q)))
    # Eve keeps the gain to first order in eta mu, so the rise is the textbook p (1 - 2 e_d) / 4; the
    # second-order terms (eta mu ~ 0.01 here) and dark counts change it by well under 10 %.
    assert q == pytest.approx(float(honest.gain), rel=0.02)
    assert e - float(honest.error_rate) == pytest.approx(p / 4 * (1 - 2 * gys.misalignment_error), rel=0.1)


@pytest.mark.parametrize(("distance", "seed"), [(0.0, 2), (25.0, 3), (50.0, 4), (80.0, 5)])
def test_full_intercept_resend_never_leaves_a_key(gys: QkdSystem, distance: float, seed: int) -> None:
    _, estimate = run(gys, distance, InterceptResend(fraction=1.0), 10**9, seed)
    assert estimate.classes[0].qber > 0.25
    assert estimate.key_rate_per_pulse == 0.0


def test_pns_goes_unnoticed_without_decoys_and_is_exposed_with_them(gys: QkdSystem) -> None:
    distance = 50.0
    counts, estimate = run(gys, distance, PhotonNumberSplitting(), 10**10, 6)
    honest = expected_estimate(gys, fibre_channel(gys.fibre, distance))
    n = counts.matched(counts.sent)
    signal, want = estimate.classes[0], honest.classes[0]
    # Without decoys (signal class alone) the gain and QBER look normal...
    assert signal.gain == pytest.approx(want.gain, abs=Z * np.sqrt(want.gain / n[0]))
    assert signal.qber == pytest.approx(want.qber, abs=Z * np.sqrt(want.qber / (n[0] * want.gain)))
    # ... but the weak decoy's gain collapses and the decoy estimate claims no key.
    weak, weak_want = estimate.classes[1], honest.classes[1]
    assert weak.gain < weak_want.gain - Z * np.sqrt(weak_want.gain / n[1])
    assert estimate.key_rate_per_pulse == 0.0
    assert honest.key_rate_per_pulse > 0.0


def test_pns_blocks_single_photons_when_the_loss_allows(gys: QkdSystem) -> None:
    attack = PhotonNumberSplitting()
    f1, fm = attack.forwarding(gys, fibre_channel(gys.fibre, 50.0))
    assert f1 == 0.0
    assert 0.0 < fm < 1.0
    f1_near, fm_near = attack.forwarding(
        gys, fibre_channel(gys.fibre, 0.0)
    )  # no loss to hide behind: singles must pass
    assert fm_near == 1.0
    assert f1_near > 0.0


def test_beam_splitting_leaves_no_trace_and_the_decoy_key_stays_secure(gys: QkdSystem) -> None:
    distance = 40.0
    np.testing.assert_array_equal(
        compile_link(gys, fibre_channel(gys.fibre, distance), BeamSplitting()).probabilities,
        compile_link(gys, fibre_channel(gys.fibre, distance)).probabilities,
    )
    # Bob's clicks on pulses of which Eve holds no photon: Q_mu exp(-mu (1 - t)) (independent outputs of
    # a beam splitter). The decoy key never exceeds what those events could carry.
    mu = gys.source.signal_intensity
    expected = expected_estimate(gys, fibre_channel(gys.fibre, distance))
    unknown_to_eve = expected.classes[0].gain * (
        1 - BeamSplitting().eve_holds_photon(gys, fibre_channel(gys.fibre, distance), mu)
    )
    assert 0 < expected.key_rate_per_pulse <= gys.source.intensity_probs[0] * gys.sifting_factor * unknown_to_eve
    t = float(link_transmittance(gys, fibre_channel(gys.fibre, distance))) / gys.detector.efficiency
    assert BeamSplitting().eve_holds_photon(gys, fibre_channel(gys.fibre, distance), mu) == pytest.approx(
        1 - np.exp(-mu * (1 - t))
    )


def test_attack_names_and_parameters(gys: QkdSystem) -> None:
    assert parse_attack("intercept-resend:0.3") == InterceptResend(fraction=0.3)
    assert parse_attack("intercept-resend:fraction=0.3") == InterceptResend(fraction=0.3)
    assert parse_attack("intercept-resend") == InterceptResend(fraction=1.0)
    assert isinstance(parse_attack("pns"), PhotonNumberSplitting)
    for bad in ("wiretap", "intercept-resend:1.5", "intercept-resend:half", "pns:2", "intercept-resend:", "pns: "):
        with pytest.raises(ParameterError) as caught:
            parse_attack(bad)
        assert caught.value.field in {"--attack", "attack.fraction"}
    no_decoy = dataclasses.replace(gys)
    assert compile_link(
        no_decoy, fibre_channel(no_decoy.fibre, 10.0), InterceptResend(fraction=0.0)
    ).probabilities == pytest.approx(compile_link(no_decoy, fibre_channel(no_decoy.fibre, 10.0)).probabilities)
