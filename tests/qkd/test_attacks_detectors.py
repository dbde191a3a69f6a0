"""Attacks on Bob's detectors (blinding with faked states, time shift) and their detection signatures.

Statistical tolerances: a count of ``n`` trials with probability ``p`` has standard deviation
``sqrt(n p (1 - p))``, so a frequency is compared with its expectation to ``Z = 5`` binomial standard
deviations ``Z sqrt(p (1 - p) / n)`` (a false failure about once in 1.7 million per assertion); a gain
``q << 1`` uses ``sqrt(q / n)``, an error rate among ``n q`` detections ``sqrt(e (1 - e) / (n q))``. Seeds
are fixed, so the numbers are reproducible; the tolerances say how far any seed may wander.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params import QkdSystem
from qinternet.physics.channels import fibre_channel
from qinternet.qkd.attack_trajectories import Eavesdropped
from qinternet.qkd.attacks import ATTACKS, DetectorBlinding, Honest, TimeShift, parse_attack
from qinternet.qkd.estimate import LinkEstimate, estimate_from_counts, expected_estimate
from qinternet.qkd.montecarlo import compile_link, count_link
from qinternet.qkd.record import LinkCounts

Z = 5.0


def run(
    system: QkdSystem, distance: float, attack: DetectorBlinding | TimeShift, pulses: int, seed: int
) -> tuple[LinkCounts, LinkEstimate]:
    counts = count_link(
        compile_link(system, fibre_channel(system.fibre, distance), attack), pulses, np.random.default_rng(seed)
    )
    return counts, estimate_from_counts(system, counts)


def within(measured: float, expected: float, trials: float) -> bool:
    """``measured`` is a frequency over ``trials`` within Z binomial standard deviations of ``expected``."""
    return bool(abs(measured - expected) <= Z * np.sqrt(expected * (1.0 - expected) / trials))


# --- Detector blinding ---------------------------------------------------------------------------------


def test_blinding_passes_every_check_while_eve_knows_every_sifted_bit(lim: QkdSystem) -> None:
    distance = 50.0
    counts, estimate = run(lim, distance, DetectorBlinding(), 10**9, 11)
    honest = expected_estimate(lim, fibre_channel(lim.fibre, distance))
    n = counts.matched(counts.sent)
    signal, want = estimate.classes[0], honest.classes[0]
    # Eve forwards just enough to reproduce the honest signal gain and flips just enough for its QBER.
    assert within(signal.gain, want.gain, n[0])
    assert within(signal.qber, want.qber, n[0] * want.gain)
    # The decoy analysis is satisfied: enough events in every class, a key is claimed, and the
    # single-photon yield bound is *better* than without Eve (the gains follow 1 - exp(-mu)).
    assert estimate.statistics_sufficient
    assert estimate.key_rate_per_pulse > 0.0
    assert estimate.single_photon_yield_lower > honest.single_photon_yield_lower
    # Yet Eve's guess (the bit of her trigger pulse) is Bob's bit for every event: her information is total.
    seen = DetectorBlinding().eavesdrop(lim, fibre_channel(lim.fibre, distance), 2 * 10**7, np.random.default_rng(12))
    right, total = seen.eve_correct(seen.sifted)
    assert total > 10_000
    assert right == total
    assert seen.eve_correct() == (len(seen.record), len(seen.record))
    assert not seen.record.double_click.any()


def test_blinding_signature_no_dark_counts_or_double_clicks(gys: QkdSystem) -> None:
    """Blinded detectors fire only on Eve's trigger pulses: the vacuum decoy never clicks (Y0 = 0).

    An honest link with Y0 = 2 p_d = 1.7e-6 gives ~85 vacuum clicks in 5e7 matched vacuum pulses, so
    seeing none has probability exp(-85); Poisson fields at misalignment e_d also give honest double clicks.
    """
    distance = 25.0
    pulses = 10**9
    counts, estimate = run(gys, distance, DetectorBlinding(), pulses, 13)
    vacuum = gys.source.intensities.index(0.0)
    honest_counts = count_link(
        compile_link(gys, fibre_channel(gys.fibre, distance), Honest()), pulses, np.random.default_rng(13)
    )
    expected_vacuum = counts.matched(counts.sent)[vacuum] * gys.detector.background_yield
    assert expected_vacuum > 50  # so that an honest link shows zero with probability below exp(-50)
    assert honest_counts.matched(honest_counts.detected)[vacuum] > 0
    assert counts.matched(counts.detected)[vacuum] == 0
    honest_doubles = pulses * compile_link(gys, fibre_channel(gys.fibre, distance)).probabilities[..., 3].sum()
    assert honest_doubles > 50
    assert honest_counts.double_clicks.sum() > 0
    assert counts.double_clicks.sum() == 0
    # Without a vacuum click the decoy estimate has no background bound: no key is claimed.
    assert not estimate.statistics_sufficient
    assert estimate.key_rate_per_pulse == 0.0


def test_blinding_gains_follow_eves_ideal_detector(gys: QkdSystem) -> None:
    """Q_k = f (1 - exp(-mu_k)) / 2 for every class: the weak decoy's gain rises above eta nu."""
    distance = 25.0
    counts, estimate = run(gys, distance, DetectorBlinding(), 10**9, 14)
    f = DetectorBlinding().forwarding(gys, fibre_channel(gys.fibre, distance))
    n = counts.matched(counts.sent)
    honest = expected_estimate(gys, fibre_channel(gys.fibre, distance))
    for k, intensity in enumerate(gys.source.intensities):
        q = 0.5 * f * -np.expm1(-intensity)
        assert within(estimate.classes[k].gain, q, n[k])
    weak = 1
    assert estimate.classes[weak].gain > honest.classes[weak].gain + Z * np.sqrt(honest.classes[weak].gain / n[weak])


def test_blinding_forwarding_and_validation(gys: QkdSystem) -> None:
    mu = gys.source.signal_intensity
    f = DetectorBlinding().forwarding(gys, fibre_channel(gys.fibre, 50.0))
    assert 0.0 < f < 1.0
    assert 0.5 * f * -np.expm1(-mu) == pytest.approx(
        expected_estimate(gys, fibre_channel(gys.fibre, 50.0)).classes[0].gain, rel=1e-12
    )
    assert DetectorBlinding(forward_fraction=0.3).forwarding(gys, fibre_channel(gys.fibre, 50.0)) == 0.3
    # No loss to hide behind and a perfect detector: Eve cannot reach the honest gain and forwards everything.
    bright = dataclasses.replace(gys, detector=dataclasses.replace(gys.detector, efficiency=1.0))
    assert DetectorBlinding().forwarding(bright, fibre_channel(bright.fibre, 0.0)) == 1.0
    for bad in (-0.1, 1.5, float("nan"), float("inf")):
        with pytest.raises(ParameterError) as caught:
            DetectorBlinding(forward_fraction=bad)
        assert caught.value.field == "attack.forward_fraction"
    no_window = dataclasses.replace(gys, misalignment_error=0.5)
    with pytest.raises(ParameterError, match="misalignment_error"):
        DetectorBlinding.trigger_power(no_window)


# --- Time shift ------------------------------------------------------------------------------------------


def test_time_shift_biases_bobs_bits_towards_eves_guess(lim: QkdSystem) -> None:
    """P(Bob's bit = favoured bit | click) against the closed form, on sifted signal events."""
    distance, r = 25.0, 0.25
    attack = TimeShift(mismatch=r)
    seen = attack.eavesdrop(lim, fibre_channel(lim.fibre, distance), 2 * 10**7, np.random.default_rng(21))
    record = seen.record
    signal = seen.sifted & (record.intensity_class == 0)
    right, total = seen.eve_correct(signal)
    p = attack.eve_guess_prob(lim, fibre_channel(lim.fibre, distance), lim.source.signal_intensity, bases_agree=True)
    assert total > 20_000
    assert within(right / total, p, total)
    # To first order in m = g eta mu and without background the closed form is 1 / (1 + r) (0.8 here); the
    # favoured detector's saturation (order m ~ 0.025) and lim2014's after-pulse background pull it ~1 % lower.
    assert p == pytest.approx(1.0 / (1.0 + r), rel=0.02)
    # Averaged over Eve's random shifts Bob's bits are unbiased, so Alice and Bob see nothing.
    ones = float(record.bob_bit[signal].mean())
    assert within(ones, 0.5, total)


@pytest.mark.parametrize("r", [0.0, 0.1, 0.5, 1.0])
def test_time_shift_guess_prob_tends_to_one_over_one_plus_r(gys: QkdSystem, r: float) -> None:
    attack = TimeShift(mismatch=r)
    for bases_agree in (True, False):
        p = attack.eve_guess_prob(
            gys, fibre_channel(gys.fibre, 50.0), gys.source.signal_intensity, bases_agree=bases_agree
        )
        assert p == pytest.approx(1.0 / (1.0 + r), abs=0.01)


def test_time_shift_keeps_gain_and_qber_honest(lim: QkdSystem) -> None:
    distance = 25.0
    counts, estimate = run(lim, distance, TimeShift(mismatch=0.25), 10**9, 22)
    honest = expected_estimate(lim, fibre_channel(lim.fibre, distance))
    n = counts.matched(counts.sent)
    signal, want = estimate.classes[0], honest.classes[0]
    # Eve's loss compensation restores the gain to first order in eta mu (~0.016 here: within 1 %).
    assert signal.gain == pytest.approx(want.gain, rel=0.01)
    # The error rate moves by second-order terms only.
    assert signal.qber == pytest.approx(want.qber, abs=Z * np.sqrt(want.qber / (n[0] * want.gain)) + 1e-3)
    assert estimate.key_rate_per_pulse > 0.0
    assert compile_link(
        lim, fibre_channel(lim.fibre, distance), TimeShift(mismatch=1.0)
    ).probabilities == pytest.approx(compile_link(lim, fibre_channel(lim.fibre, distance)).probabilities, rel=1e-9)


# --- Both: the pulse-by-pulse simulation agrees with the closed forms the Monte-Carlo samples --------------


@pytest.mark.parametrize(
    ("attack", "seed"), [(DetectorBlinding(), 31), (TimeShift(mismatch=0.3), 32), (TimeShift(mismatch=0.0), 33)]
)
def test_pulse_by_pulse_simulation_matches_the_channel(
    lim: QkdSystem, attack: DetectorBlinding | TimeShift, seed: int
) -> None:
    distance = 25.0
    seen: Eavesdropped = attack.eavesdrop(
        lim, fibre_channel(lim.fibre, distance), 2 * 10**7, np.random.default_rng(seed)
    )
    counts = LinkCounts.from_record(seen.record)
    sampler = compile_link(lim, fibre_channel(lim.fibre, distance), attack)
    # P(click | class, bases) and P(error | click, class, bases) from the compiled probabilities.
    p = sampler.probabilities
    category = p.sum(axis=-1)
    click = (p[..., 1] + p[..., 2] + p[..., 3]) / category
    wrong = (p[..., 2] + 0.5 * p[..., 3]) / np.where(click > 0, click * category, 1.0)
    for index in np.ndindex(*counts.sent.shape):
        sent, detected, errors = (int(c[index]) for c in (counts.sent, counts.detected, counts.errors))
        assert within(detected / sent, float(click[index]), sent), index
        if click[index] * sent > 100:
            assert within(errors / detected, float(wrong[index]), detected), index


# --- Names, parameters and the CLI -----------------------------------------------------------------------


def test_attack_names_and_parameters() -> None:
    assert {"blinding", "time-shift"} <= set(ATTACKS)
    assert parse_attack("blinding") == DetectorBlinding()
    assert parse_attack("blinding:0.2") == DetectorBlinding(forward_fraction=0.2)
    assert parse_attack("blinding:fraction=0.2") == DetectorBlinding(forward_fraction=0.2)
    assert parse_attack("time-shift:0.25") == TimeShift(mismatch=0.25)
    assert parse_attack(" time-shift:mismatch=0.25 ") == TimeShift(mismatch=0.25)
    for bad in ("blinding:2", "blinding:x", "time-shift", "time-shift:-1", "time-shift:nan", "time-shift:y=1"):
        with pytest.raises(ParameterError) as caught:
            parse_attack(bad)
        assert caught.value.field == "--attack"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("blinding:2", "attack.forward_fraction"),
        ("blinding:fraction=-1", "attack.forward_fraction"),
        ("time-shift:1.5", "attack.mismatch"),
        ("time-shift", "mismatch"),
    ],
)
def test_bad_attack_parameters_on_the_cli(cli, value: str, field: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("link", "--attack", value)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "--attack" in lines[0]
    assert field in lines[0]
    assert "Traceback" not in err


def test_cli_runs_the_new_attacks(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("link", "--pulses", "1e8", "--attack", "blinding", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["attack"] == "blinding"
    assert data["double_clicks"] == 0
    assert data["classes"][-1]["intensity"] == 0.0
    assert data["classes"][-1]["detections"] == 0  # the vacuum decoy of gys2004 never clicks
    code, out, _ = cli("link", "--pulses", "1e8", "--attack", "time-shift:0.2", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["attack"] == "time-shift:0.2"
    assert data["classes"][0]["qber"] == pytest.approx(data["expected"]["classes"][0]["qber"], abs=0.005)
