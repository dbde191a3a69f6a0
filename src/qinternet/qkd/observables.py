"""Expected observables of a weak-coherent-pulse BB84 link: gains, error rates, single-photon values.

Every function takes the link's channel (:mod:`qinternet.physics.channels`): its transmittance, times Bob's
detection efficiency, attenuates the pulses, and its background adds to the dark counts of Bob's detectors
(:func:`receiver_dark_count_prob`). All functions are vectorised: the intensities broadcast with the
channel's transmittance and background (a channel of ``T`` time samples, shape ``(T,)``, with intensities
of shape ``(K, 1)`` gives ``(K, T)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import Channel, is_scalar
from qinternet.physics.detectors import (
    background_prob,
    coherent_clicks,
    dark_count_with_background,
    error_rate,
    fock_clicks,
)

__all__ = [
    "Observed",
    "dead_time_slots",
    "link_transmittance",
    "live_fraction",
    "mean_raw_click_prob",
    "observed_coherent",
    "observed_fock",
    "raw_click_prob",
    "receiver_dark_count_prob",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Observed:
    """Gain ``Q`` and error weight ``E Q`` seen by Bob when the bases agree (after-pulses included)."""

    gain: FloatArray
    error_weight: FloatArray

    @property
    def error_rate(self) -> FloatArray:
        """``E = (E Q) / Q`` (1/2 where there is no click)."""
        return error_rate(self.error_weight, self.gain)


def link_transmittance(system: QkdSystem, channel: Channel) -> FloatArray:
    """``eta = eta_ch eta_Bob``: the channel's transmittance times Bob's detection efficiency.

    For a fibre, ``eta_ch = 10**(-(alpha L + a_ins)/10)`` (Ma et al., PRA 72, 012326 (2005), Sec. II).
    """
    return np.asarray(channel.transmittance, dtype=np.float64) * system.detector.efficiency


def receiver_dark_count_prob(system: QkdSystem, channel: Channel) -> float | FloatArray:
    """Per-detector click probability per gate without signal: Bob's dark counts and the channel's background.

    Half of the channel's background goes to each of Bob's two detectors
    (:func:`qinternet.physics.detectors.dark_count_with_background`); where the background is 0 this is the
    detectors' ``dark_count_prob`` itself.

    Raises:
        ParameterError: when the background would click a detector in half the gates or more (no model of
            a QKD receiver applies there).
    """
    dark = system.detector.dark_count_prob
    background = channel.background
    if is_scalar(background):
        if float(background) == 0.0:
            return dark
        with_background: float | FloatArray = float(dark_count_with_background(dark, background))
    else:
        lit = np.asarray(background, dtype=np.float64)
        with_background = np.where(lit > 0.0, dark_count_with_background(dark, lit), dark)
    if np.any(np.asarray(with_background) >= 0.5):
        worst = float(np.max(with_background))
        raise ParameterError("channel.background", f"clicks each detector with probability {worst:.2f} per gate")
    return with_background


def raw_click_prob(system: QkdSystem, channel: Channel, intensity: ArrayLike) -> FloatArray:
    """Click probability of coherent pulses from signal and dark counts alone (no after-pulses).

    This is what drives after-pulses (see :func:`qinternet.physics.background_prob`).
    """
    eta = link_transmittance(system, channel)
    mean = eta * np.asarray(intensity, dtype=np.float64)
    return coherent_clicks(mean, system.misalignment_error, receiver_dark_count_prob(system, channel)).gain


def mean_raw_click_prob(system: QkdSystem, channel: Channel) -> float:
    """Mean click probability per pulse of the source's pulse train (all classes; no after-pulses)."""
    clicks = raw_click_prob(system, channel, np.asarray(system.source.intensities, dtype=np.float64))
    return float(np.dot(system.source.intensity_probs, clicks))


def _background(system: QkdSystem, channel: Channel, click_prob: ArrayLike) -> FloatArray:
    dark = receiver_dark_count_prob(system, channel)
    return background_prob(dark, system.detector.after_pulse_prob, click_prob)


def observed_coherent(
    system: QkdSystem, channel: Channel, intensity: ArrayLike, *, click_prob: ArrayLike | None = None
) -> Observed:
    """``Q_mu`` and ``E_mu Q_mu`` for coherent pulses of mean photon number ``intensity``.

    To first order in ``Y0`` these are Ma et al., PRA 72, 012326 (2005), eqs. (10)-(11):
    ``Q_mu = Y0 + 1 - exp(-eta mu)`` and ``E_mu Q_mu = Y0/2 + e_d (1 - exp(-eta mu))``. After-pulses
    add to the background in proportion to ``click_prob``, the mean click probability per pulse of the
    whole pulse train (default: that of ``intensity`` itself, as when signal pulses dominate).
    """
    eta = link_transmittance(system, channel)
    mean = eta * np.asarray(intensity, dtype=np.float64)
    if click_prob is None:
        click_prob = raw_click_prob(system, channel, intensity)
    clicks = coherent_clicks(mean, system.misalignment_error, _background(system, channel, click_prob))
    return Observed(gain=clicks.gain, error_weight=clicks.error_weight)


def observed_fock(
    system: QkdSystem, channel: Channel, photons: ArrayLike, *, click_prob: ArrayLike | None = None
) -> Observed:
    """Yield ``Y_n`` and error weight ``e_n Y_n`` of ``n``-photon states (Ma et al. 2005, eqs. (7), (9)).

    ``click_prob`` drives after-pulses as in :func:`observed_coherent` (default: ``Y_n`` itself).
    """
    eta = link_transmittance(system, channel)
    if click_prob is None:
        dark = receiver_dark_count_prob(system, channel)
        click_prob = fock_clicks(photons, eta, system.misalignment_error, dark).gain
    clicks = fock_clicks(photons, eta, system.misalignment_error, _background(system, channel, click_prob))
    return Observed(gain=clicks.gain, error_weight=clicks.error_weight)


def dead_time_slots(system: QkdSystem) -> int:
    """Slots during which Bob's detectors are blind after a click: ``ceil(dead_time_s * rep_rate_hz)``."""
    return math.ceil(system.detector.dead_time_s * system.source.rep_rate_hz - 1e-9)


def live_fraction(system: QkdSystem, click_prob: ArrayLike) -> FloatArray:
    """Fraction of pulses that find the detectors live under a non-paralysable dead time of ``d`` slots.

    Each click is followed by ``d`` blind slots and a live slot clicks with probability ``P``, so a
    renewal cycle lasts ``d + 1/P`` slots on average and the live fraction is ``1 / (1 + P d)``
    (Müller, "Dead-time problems", Nucl. Instrum. Methods 112, 47 (1973), non-paralysable counter).
    Every observed gain, of any class, is multiplied by it; error rates are unchanged.
    """
    return np.asarray(1.0 / (1.0 + np.asarray(click_prob, dtype=np.float64) * dead_time_slots(system)))
