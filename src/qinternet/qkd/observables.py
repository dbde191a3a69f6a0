"""Expected observables of a weak-coherent-pulse BB84 link: gains, error rates, single-photon values.

All functions are vectorised: intensities and distances broadcast together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.params.devices import QkdSystem
from qinternet.physics.detectors import background_prob, coherent_clicks, error_rate, fock_clicks
from qinternet.physics.fibre import fibre_transmittance

__all__ = [
    "Observed",
    "dead_time_slots",
    "link_transmittance",
    "live_fraction",
    "mean_raw_click_prob",
    "observed_coherent",
    "observed_fock",
    "raw_click_prob",
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


def link_transmittance(system: QkdSystem, distance_km: ArrayLike) -> FloatArray:
    """``eta = eta_Bob 10**(-alpha L/10)``: fibre, insertion loss and Bob's detection efficiency."""
    return fibre_transmittance(system.fibre, distance_km) * system.detector.efficiency


def raw_click_prob(system: QkdSystem, distance_km: ArrayLike, intensity: ArrayLike) -> FloatArray:
    """Click probability of coherent pulses from signal and dark counts alone (no after-pulses).

    This is what drives after-pulses (see :func:`qinternet.physics.background_prob`).
    """
    eta = link_transmittance(system, distance_km)
    mean = eta * np.asarray(intensity, dtype=np.float64)
    return coherent_clicks(mean, system.misalignment_error, system.detector.dark_count_prob).gain


def mean_raw_click_prob(system: QkdSystem, distance_km: float) -> float:
    """Mean click probability per pulse of the source's pulse train (all classes; no after-pulses)."""
    clicks = raw_click_prob(system, distance_km, np.asarray(system.source.intensities, dtype=np.float64))
    return float(np.dot(system.source.intensity_probs, clicks))


def _background(system: QkdSystem, click_prob: ArrayLike) -> FloatArray:
    detector = system.detector
    return background_prob(detector.dark_count_prob, detector.after_pulse_prob, click_prob)


def observed_coherent(
    system: QkdSystem, distance_km: ArrayLike, intensity: ArrayLike, *, click_prob: ArrayLike | None = None
) -> Observed:
    """``Q_mu`` and ``E_mu Q_mu`` for coherent pulses of mean photon number ``intensity``.

    To first order in ``Y0`` these are Ma et al., PRA 72, 012326 (2005), eqs. (10)-(11):
    ``Q_mu = Y0 + 1 - exp(-eta mu)`` and ``E_mu Q_mu = Y0/2 + e_d (1 - exp(-eta mu))``. After-pulses
    add to the background in proportion to ``click_prob``, the mean click probability per pulse of the
    whole pulse train (default: that of ``intensity`` itself, as when signal pulses dominate).
    """
    eta = link_transmittance(system, distance_km)
    mean = eta * np.asarray(intensity, dtype=np.float64)
    if click_prob is None:
        click_prob = raw_click_prob(system, distance_km, intensity)
    clicks = coherent_clicks(mean, system.misalignment_error, _background(system, click_prob))
    return Observed(gain=clicks.gain, error_weight=clicks.error_weight)


def observed_fock(
    system: QkdSystem, distance_km: ArrayLike, photons: ArrayLike, *, click_prob: ArrayLike | None = None
) -> Observed:
    """Yield ``Y_n`` and error weight ``e_n Y_n`` of ``n``-photon states (Ma et al. 2005, eqs. (7), (9)).

    ``click_prob`` drives after-pulses as in :func:`observed_coherent` (default: ``Y_n`` itself).
    """
    eta = link_transmittance(system, distance_km)
    if click_prob is None:
        click_prob = fock_clicks(photons, eta, system.misalignment_error, system.detector.dark_count_prob).gain
    clicks = fock_clicks(photons, eta, system.misalignment_error, _background(system, click_prob))
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
