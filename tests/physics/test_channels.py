"""Channels as values: closed forms of their transmittance and background, and protocols over them.

Checks: fibre transmittance ``10**(-(alpha L + a_ins)/10)`` (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Sec. II);
a concatenation passes the product of its parts; the Raman background of a fibre is the number the network's
fibre links folded into the dark counts before channels existed (the same physics functions, in the same
order, so the same bits); a channel of T time samples gives what T scalar channels give one by one; bad values
are refused naming the field.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params import FibreParams, QkdSystem
from qinternet.physics.channels import (
    Channel,
    Concatenated,
    FibreChannel,
    FreeSpaceChannel,
    RamanNoise,
    TwoArm,
    downlink_channel,
    fibre_channel,
    fibre_length_km,
)
from qinternet.physics.detectors import dark_count_with_background
from qinternet.physics.freespace import FreeSpaceLinkParams, downlink_loss_db
from qinternet.physics.raman import (
    ClassicalChannel,
    RamanDirection,
    RamanReceiver,
    raman_click_prob_per_gate,
    raman_noise_power_w,
    raman_photon_rate_hz,
)
from qinternet.qkd.bbm92 import bbm92_observables
from qinternet.qkd.finite_key import expected_counts
from qinternet.qkd.keyrate import Protocol, key_rate
from qinternet.qkd.montecarlo import compile_link
from qinternet.qkd.observables import observed_coherent, receiver_dark_count_prob

RECEIVER = RamanReceiver(filter_bandwidth_nm=0.8, detection_window_s=1e-9, detection_efficiency=0.1)
TRAFFIC = (
    ClassicalChannel(launch_power_dbm=-10.0, direction=RamanDirection.FORWARD),
    ClassicalChannel(launch_power_dbm=-5.0, wavelength_nm=1551.0, direction=RamanDirection.BACKWARD),
)


# --------------------------------------------------------------------------------------------------
# Closed forms


@pytest.mark.parametrize(("length", "alpha", "insertion"), [(0.0, 0.2, 0.0), (50.0, 0.2, 0.0), (80.0, 0.17, 2.5)])
def test_fibre_transmittance_is_ten_to_minus_alpha_l_over_ten(length: float, alpha: float, insertion: float) -> None:
    channel = FibreChannel(length_km=length, loss_db_per_km=alpha, insertion_loss_db=insertion)
    assert channel.transmittance == pytest.approx(math.pow(10.0, -(alpha * length + insertion) / 10.0), rel=1e-15)
    assert channel.background == 0.0
    assert fibre_channel(FibreParams(loss_db_per_km=alpha, insertion_loss_db=insertion), length) == channel


def test_concatenation_passes_the_product_and_attenuates_earlier_backgrounds() -> None:
    first = FibreChannel(length_km=20.0, loss_db_per_km=0.2)  # 4 dB
    second = FreeSpaceChannel(transmittance=0.5, background=1e-5)
    third = FreeSpaceChannel(transmittance=0.25, background=2e-6)
    chain = Concatenated((first, second, third))
    assert chain.transmittance == pytest.approx(10**-0.4 * 0.5 * 0.25, rel=1e-15)
    # Noise made in the second part crosses the third; the third's own arrives as it is.
    assert chain.background == pytest.approx(1e-5 * 0.25 + 2e-6, rel=1e-15)
    assert isinstance(chain, Channel)
    assert fibre_length_km(chain) is None  # part of it is free space
    assert fibre_length_km(Concatenated((first, first))) == 40.0


def test_two_arms_pass_the_product_and_a_symmetric_split_loses_what_the_whole_fibre_does() -> None:
    fibre = FibreParams(loss_db_per_km=0.16, insertion_loss_db=3.0)
    arms = TwoArm.symmetric(fibre, 300.0)
    assert arms.arm_a == arms.arm_b == FibreChannel(length_km=150.0, loss_db_per_km=0.16, insertion_loss_db=1.5)
    assert arms.transmittance == pytest.approx(fibre_channel(fibre, 300.0).transmittance, rel=1e-14)
    assert fibre_length_km(arms) == 300.0
    uneven = TwoArm(arm_a=FreeSpaceChannel(transmittance=0.1, background=1e-6), arm_b=arms.arm_b)
    assert uneven.transmittance == pytest.approx(0.1 * 10 ** (-(0.16 * 150 + 1.5) / 10), rel=1e-14)
    assert uneven.background == 1e-6
    assert uneven.arms == (uneven.arm_a, uneven.arm_b)


def test_free_space_channel_from_the_downlink_budget() -> None:
    optics = FreeSpaceLinkParams(
        wavelength_nm=850.0,
        tx_aperture_m=0.3,
        rx_aperture_m=1.0,
        divergence_urad=10.0,
        zenith_transmittance=0.8,
        fixed_loss_db=3.0,
        altitude_km=500.0,
    )
    elevation = np.array([5.0, 15.0, 40.0, 90.0])
    channel = downlink_channel(optics, elevation)
    loss = downlink_loss_db(optics, elevation)
    assert channel.transmittance[0] == 0.0  # below the minimum elevation: closed
    np.testing.assert_allclose(channel.transmittance[1:], 10 ** (-loss[1:] / 10), rtol=1e-15)
    assert FreeSpaceChannel.from_loss_db(30.0).transmittance == pytest.approx(1e-3, rel=1e-15)
    with pytest.raises(ValueError, match="read-only"):
        channel.transmittance[1] = 1.0  # type: ignore[index]


# --------------------------------------------------------------------------------------------------
# Raman background: the number the network folded into the dark counts before channels existed


def _old_folded_raman(fibre: FibreParams, length_km: float) -> float:
    """The computation of ``network.engines.raman_click_prob`` before this module: power per classical
    channel, photons at the quantum wavelength, summed, then ``1 - exp(-eta N tau)``."""
    total = 0.0
    for classical in TRAFFIC:
        power = raman_noise_power_w(classical, fibre, length_km, RECEIVER.filter_bandwidth_nm)
        total += float(raman_photon_rate_hz(power, RECEIVER.quantum_wavelength_nm))
    return float(raman_click_prob_per_gate(total, RECEIVER.detection_window_s, RECEIVER.detection_efficiency))


@pytest.mark.parametrize("length", [0.0, 5.0, 25.0, 80.0])
def test_raman_background_is_the_old_folded_value_bit_for_bit(lim: QkdSystem, length: float) -> None:
    system = dataclasses.replace(lim, detector=dataclasses.replace(lim.detector, efficiency=0.1))
    noisy = fibre_channel(system.fibre, length, raman=RamanNoise(classical_channels=TRAFFIC, receiver=RECEIVER))
    old = _old_folded_raman(system.fibre, length)
    assert noisy.background == old
    assert (old > 0.0) == (length > 0.0)  # no fibre, no scattering
    # The dark counts a protocol uses: the old with_raman_noise formula, half to each detector.
    folded = 1.0 - (1.0 - system.detector.dark_count_prob) * (1.0 - old / 2.0)
    if old > 0.0:
        assert receiver_dark_count_prob(system, noisy) == folded
    # And so every number downstream: folding into the detectors or carrying it in the channel is the same.
    old_system = dataclasses.replace(system, detector=dataclasses.replace(system.detector, dark_count_prob=folded))
    quiet = fibre_channel(system.fibre, length)
    if old > 0.0:
        assert expected_counts(system, noisy, block_pulses=1e10) == expected_counts(
            old_system, quiet, block_pulses=1e10
        )
        np.testing.assert_array_equal(
            compile_link(system, noisy).probabilities, compile_link(old_system, quiet).probabilities
        )


def test_a_channel_background_costs_key_and_raises_the_qber(lim: QkdSystem) -> None:
    quiet = fibre_channel(lim.fibre, 40.0)
    lit = fibre_channel(lim.fibre, 40.0, raman=RamanNoise(classical_channels=TRAFFIC, receiver=RECEIVER))
    assert lit.background > 1e-6
    mu = lim.source.signal_intensity
    assert float(observed_coherent(lim, lit, mu).error_rate) > float(observed_coherent(lim, quiet, mu).error_rate)
    assert (
        key_rate(Protocol.DECOY_BB84, lim, lit).key_rate_per_pulse
        < key_rate(Protocol.DECOY_BB84, lim, quiet).key_rate_per_pulse
    )
    # Each detector takes half the background, independently of its dark counts.
    assert float(dark_count_with_background(0.0, 0.02)) == pytest.approx(0.01, rel=1e-12)


def test_a_background_that_blinds_the_detectors_is_refused(lim: QkdSystem) -> None:
    with pytest.raises(ParameterError) as caught:
        observed_coherent(lim, FreeSpaceChannel(transmittance=0.1, background=1.0), 0.5)
    assert caught.value.field == "channel.background"


# --------------------------------------------------------------------------------------------------
# A channel of T samples gives what T scalar channels give


def _pass_samples() -> tuple[np.ndarray, np.ndarray]:
    """Losses (dB) and sky backgrounds of a pass-like series: high loss at the edges, some samples dark."""
    t = np.linspace(-1.0, 1.0, 41)
    loss_db = 30.0 + 15.0 * t**2
    sky = np.where(t > 0.5, 3e-6 * (t - 0.5), 0.0)
    return loss_db, sky


def test_expected_counts_of_a_pass_in_one_call_equal_the_loop_over_its_samples(lim: QkdSystem) -> None:
    loss_db, sky = _pass_samples()
    series = FreeSpaceChannel.from_loss_db(loss_db, sky)
    whole = expected_counts(lim, series, block_pulses=1e8)
    loop = [
        expected_counts(lim, FreeSpaceChannel.from_loss_db(float(db), float(b)), block_pulses=1e8)
        for db, b in zip(loss_db, sky, strict=True)
    ]
    for name in ("key_detections", "key_errors", "test_detections", "test_errors"):
        summed = np.sum([getattr(c, name) for c in loop], axis=0)
        # Elementwise the same arithmetic; numpy's vector kernels of exp/log1p may round the last bit
        # differently from the scalar ones, so allow a few ulp of the sum (41 terms).
        np.testing.assert_allclose(getattr(whole, name), summed, rtol=1e-13, atol=0.0)


def test_observables_broadcast_over_time_samples(lim: QkdSystem) -> None:
    loss_db, sky = _pass_samples()
    series = FreeSpaceChannel.from_loss_db(loss_db, sky)
    mu = np.asarray(lim.source.intensities)[:, None]  # (K, 1) against the channel's (T,)
    seen = observed_coherent(lim, series, mu)
    assert seen.gain.shape == (len(lim.source.intensities), loss_db.size)
    for i, (db, b) in enumerate(zip(loss_db, sky, strict=True)):
        one = observed_coherent(lim, FreeSpaceChannel.from_loss_db(float(db), float(b)), mu[:, 0])
        np.testing.assert_allclose(seen.gain[:, i], one.gain, rtol=1e-14, atol=0.0)
        np.testing.assert_allclose(seen.error_weight[:, i], one.error_weight, rtol=1e-14, atol=0.0)
    pairs = bbm92_observables(lim, FreeSpaceChannel.from_loss_db(loss_db), 0.1)
    for i, db in enumerate(loss_db):
        single = bbm92_observables(lim, FreeSpaceChannel.from_loss_db(float(db)), 0.1)
        assert float(pairs.gain[i]) == pytest.approx(float(single.gain), rel=1e-14)


def test_functions_of_one_channel_state_refuse_a_series(lim: QkdSystem) -> None:
    series = FreeSpaceChannel(transmittance=np.array([0.1, 0.01]))
    for call in (
        lambda: compile_link(lim, series),
        lambda: key_rate(Protocol.DECOY_BB84, lim, series),
    ):
        with pytest.raises(ParameterError) as caught:
            call()
        assert caught.value.field == "channel.transmittance"


def test_key_rate_checks_the_shape_of_the_channel(lim: QkdSystem) -> None:
    arms = TwoArm.symmetric(lim.fibre, 100.0)
    with pytest.raises(ParameterError, match="one channel"):
        key_rate(Protocol.DECOY_BB84, lim, arms)
    # The bound takes the end-to-end transmittance of two arms as of one fibre.
    whole = key_rate(Protocol.PLOB, lim, fibre_channel(lim.fibre, 100.0)).key_rate_per_pulse
    assert key_rate(Protocol.PLOB, lim, arms).key_rate_per_pulse == pytest.approx(whole, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# Bad values


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"length_km": -1.0}, "channel.length_km"),
        ({"loss_db_per_km": -0.2}, "channel.loss_db_per_km"),
        ({"loss_db_per_km": math.nan}, "channel.loss_db_per_km"),
        ({"insertion_loss_db": -3.0}, "channel.insertion_loss_db"),
        ({"loss_db_per_km": 1e6}, "channel.loss_db_per_km"),
    ],
)
def test_fibre_refuses_negative_values_naming_the_field(values: dict[str, float], field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        FibreChannel(**{"length_km": 10.0, "loss_db_per_km": 0.2, **values})
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: must be")


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: FreeSpaceChannel(transmittance=1.5), "channel.transmittance"),
        (lambda: FreeSpaceChannel(transmittance=np.array([0.1, -0.1])), "channel.transmittance"),
        (lambda: FreeSpaceChannel(transmittance=math.nan), "channel.transmittance"),
        (lambda: FreeSpaceChannel(transmittance=0.1, background=2.0), "channel.background"),
        (
            lambda: FreeSpaceChannel(transmittance=np.array([0.1, 0.2]), background=np.array([0.0, 0.0, 0.0])),
            "channel.background",
        ),
        (lambda: FreeSpaceChannel.from_loss_db(-3.0), "channel.loss_db"),
        (lambda: Concatenated(()), "channel.parts"),
        (lambda: Concatenated((FreeSpaceChannel(transmittance=0.5), 0.5)), "channel.parts[1]"),  # type: ignore[arg-type]
        (lambda: TwoArm(arm_a=FreeSpaceChannel(transmittance=0.5), arm_b="fibre"), "channel.arm_b"),  # type: ignore[arg-type]
        (lambda: TwoArm.symmetric(FibreParams(), -10.0), "channel.length_km"),
        (
            lambda: RamanReceiver(filter_bandwidth_nm=0.0, detection_window_s=1e-9, detection_efficiency=0.1),
            "raman_receiver.filter_bandwidth_nm",
        ),
    ],
)
def test_bad_channels_are_refused_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field
