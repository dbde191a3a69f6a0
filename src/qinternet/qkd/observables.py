"""Expected observables of a weak-coherent-pulse BB84 link: gains, error rates, single-photon values.

All functions are vectorised: intensities and distances broadcast together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.params.devices import QkdSystem
from qinternet.physics.detectors import ClickProbabilities, add_after_pulses, coherent_clicks, fock_clicks
from qinternet.physics.fibre import fibre_transmittance

__all__ = [
    "Observed",
    "dead_time_slots",
    "link_transmittance",
    "live_fraction",
    "observed_coherent",
    "observed_fock",
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
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.gain > 0, self.error_weight / np.where(self.gain > 0, self.gain, 1.0), 0.5)


def link_transmittance(system: QkdSystem, distance_km: ArrayLike) -> FloatArray:
    """``eta = eta_Bob 10**(-alpha L/10)``: fibre, insertion loss and Bob's detection efficiency."""
    return fibre_transmittance(system.fibre, distance_km) * system.detector.efficiency


def _observed(clicks: ClickProbabilities, after_pulse_prob: float) -> Observed:
    gain, error_weight = add_after_pulses(clicks.gain, clicks.error_weight, after_pulse_prob)
    return Observed(gain=gain, error_weight=error_weight)


def observed_coherent(system: QkdSystem, distance_km: ArrayLike, intensity: ArrayLike) -> Observed:
    """``Q_mu`` and ``E_mu Q_mu`` for coherent pulses of mean photon number ``intensity``.

    To first order in ``Y0`` these are Ma et al., PRA 72, 012326 (2005), eqs. (10)-(11):
    ``Q_mu = Y0 + 1 - exp(-eta mu)`` and ``E_mu Q_mu = Y0/2 + e_d (1 - exp(-eta mu))``.
    """
    eta = link_transmittance(system, distance_km)
    clicks = coherent_clicks(
        eta * np.asarray(intensity, dtype=np.float64),
        system.misalignment_error,
        system.detector.dark_count_prob,
    )
    return _observed(clicks, system.detector.after_pulse_prob)


def observed_fock(system: QkdSystem, distance_km: ArrayLike, photons: ArrayLike) -> Observed:
    """Yield ``Y_n`` and error weight ``e_n Y_n`` of ``n``-photon states (Ma et al. 2005, eqs. (7), (9))."""
    eta = link_transmittance(system, distance_km)
    clicks = fock_clicks(photons, eta, system.misalignment_error, system.detector.dark_count_prob)
    return _observed(clicks, system.detector.after_pulse_prob)


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
