"""Phase-matching QKD (PM-QKD): asymptotic key rate with infinitely many decoys.

Ma, Zeng, Zhou, "Phase-matching quantum key distribution", PRX 8, 031043 (2018) (arXiv:1805.05538). Alice
and Bob each send a coherent pulse ``|sqrt(mu/2) e^{i(phi + pi kappa)}>`` - ``kappa`` their key bit, ``phi``
one of ``M`` random phases - to Charlie, who announces which detector clicked. They keep rounds whose random
phases match (or differ by pi, Bob then flips his bit), a fraction ``2/M``; the residual relative phase is
uniform over a slice of width ``2 pi / M``, on top of which come the station's phase noise and misalignment.
The key rate per pulse (their key-rate formula, with their bound of the phase error by the fraction of
even photon numbers and infinitely many decoys) is

    ``R = (2/M) Q_mu [1 - f H(E_Z) - H(E_X)]``,   ``E_X <= q_even``,

with ``Q_mu`` the gain of kept rounds, ``E_Z`` their bit error rate and ``q_even`` the fraction of those
effective events that come from even photon numbers of the joint pulse (the key phase flips the sign of
the odd components only, so even components carry phase errors; with infinitely many decoys their yields
are known exactly).

The yield of ``n`` photons in the joint mode follows from the click model: each photon survives with
``eta = (eta_A + eta_B)/2`` and reaches the correct detector with ``p_c = I_C / (mu eta)``, so a single
click happens with ``(1 - p_d)[(1 - eta p_W)^n + (1 - eta p_c)^n - 2 (1 - eta)^n] + 2 p_d (1 - p_d)(1 - eta)^n``
(``p_W = 1 - p_c``). Summed over the even terms of a Poisson distribution this is
``q_even Q = [Q(I) + e^{-2 mu} Q(-I)] / 2``: the gain as a function of the detector intensities ``I``, and
the same with the intensities negated (:func:`pm_even_gain`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.params.twinfield import InterferenceStationParams, PmSourceParams
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.optimise import maximise_scalar
from qinternet.qkd.tf_clicks import matched_clicks, phase_nodes
from qinternet.qkd.twinfield import check_ec_efficiency, check_transmittance

__all__ = ["PmRatePoint", "optimise_pm", "pm_even_gain", "pm_key_rate", "pm_rate"]

FloatArray = NDArray[np.float64]

_MU_RANGE = (1e-4, 2.0)
"""Intensities searched; PM-QKD optima lie near 0.01-0.3 (Ma et al. 2018, Fig. 4)."""


def _slice_rad(phase_slices: int) -> float:
    return 2.0 * math.pi / phase_slices


def pm_even_gain(
    eta_a: ArrayLike, eta_b: ArrayLike, mu: ArrayLike, *, phase_slices: int, station: InterferenceStationParams
) -> FloatArray:
    """``q_even Q``: effective events from the even photon numbers of the joint pulse (module docstring).

    ``[Q(I) + e^{-2 mu} Q(-I)] / 2`` with ``Q(I) = (1 - p_d)[e^{-I_W} + e^{-I_C} - 2 e^{-I_T}] + 2 p_d (1 - p_d)
    e^{-I_T}``, written with ``expm1`` so that small gains keep their digits, and averaged over the phase slice
    and the phase noise. The misalignment exchanges the detectors and leaves the yields unchanged.
    """
    eff = station.detector.efficiency
    ea = np.asarray(eta_a, dtype=np.float64) * eff
    eb = np.asarray(eta_b, dtype=np.float64) * eff
    m = np.asarray(mu, dtype=np.float64)
    half = 0.5 * m
    total, x = (half * (ea + eb))[..., None], (half * np.sqrt(ea * eb))[..., None]
    phases, weights = phase_nodes(_slice_rad(phase_slices), float(station.phase_noise_rad))
    i_c = 0.5 * total + x * np.cos(phases)
    i_w = total - i_c
    p_d = station.detector.dark_count_prob

    def gain(sign: float) -> FloatArray:
        clicks = np.expm1(sign * i_w) + np.expm1(sign * i_c) - 2.0 * np.expm1(sign * total)
        return np.asarray((1.0 - p_d) * clicks + 2.0 * p_d * (1.0 - p_d) * np.exp(sign * total))

    even = 0.5 * (gain(-1.0) + np.exp(-2.0 * m)[..., None] * gain(1.0))
    return np.asarray(np.sum(even * weights, axis=-1), dtype=np.float64)


def _observables(
    eta_a: ArrayLike, eta_b: ArrayLike, mu: ArrayLike, phase_slices: int, station: InterferenceStationParams
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(Q_mu, E_Z, q_even)`` of kept rounds."""
    eff = station.detector.efficiency
    m = np.asarray(mu, dtype=np.float64)
    clicks = matched_clicks(
        np.asarray(eta_a, dtype=np.float64) * eff,
        np.asarray(eta_b, dtype=np.float64) * eff,
        0.5 * m,
        0.5 * m,
        dark_count_prob=station.detector.dark_count_prob,
        misalignment_error=station.misalignment_error,
        phase_noise_rad=station.phase_noise_rad,
        phase_slice_rad=_slice_rad(phase_slices),
    )
    even = pm_even_gain(eta_a, eta_b, m, phase_slices=phase_slices, station=station)
    with np.errstate(divide="ignore", invalid="ignore"):
        return clicks.gain, np.asarray(clicks.error_gain / clicks.gain), np.asarray(even / clicks.gain)


def pm_rate(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    mu: ArrayLike,
    *,
    phase_slices: int,
    station: InterferenceStationParams,
    ec_efficiency: float,
) -> FloatArray:
    """``R = (2/M) Q_mu [1 - f H(E_Z) - H(q_even)]`` per pulse, 0 where negative; arrays broadcast together."""
    gain, e_z, e_x = _observables(eta_a, eta_b, mu, phase_slices, station)
    rate = (2.0 / phase_slices) * gain * (1.0 - ec_efficiency * binary_entropy(e_z) - binary_entropy(e_x))
    return np.asarray(np.where(np.isfinite(rate) & (rate > 0.0), rate, 0.0), dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class PmRatePoint:
    """The PM-QKD key rate at one channel.

    Attributes:
        eta_a, eta_b: transmittances of the arms (fibre only).
        key_rate_per_pulse: secret bits per pulse (>= 0).
        intensity: ``mu`` of the joint pulse.
        phase_slices: ``M``.
        gain: ``Q_mu`` of kept rounds; ``bit_error_rate`` ``E_Z``; ``phase_error_upper`` ``q_even``.
    """

    eta_a: float
    eta_b: float
    key_rate_per_pulse: float
    intensity: float
    phase_slices: int
    gain: float
    bit_error_rate: float
    phase_error_upper: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _point(
    eta_a: float, eta_b: float, mu: float, source: PmSourceParams, station: InterferenceStationParams, f: float
) -> PmRatePoint:
    gain, e_z, e_x = _observables(eta_a, eta_b, mu, source.phase_slices, station)
    rate = pm_rate(eta_a, eta_b, mu, phase_slices=source.phase_slices, station=station, ec_efficiency=f)
    return PmRatePoint(
        eta_a=eta_a,
        eta_b=eta_b,
        key_rate_per_pulse=float(rate),
        intensity=mu,
        phase_slices=source.phase_slices,
        gain=float(gain),
        bit_error_rate=float(e_z),
        phase_error_upper=float(e_x),
    )


def pm_key_rate(
    eta_a: float, eta_b: float, source: PmSourceParams, station: InterferenceStationParams, *, ec_efficiency: float
) -> PmRatePoint:
    """PM-QKD at the source's own intensity."""
    check_ec_efficiency(ec_efficiency)
    ea, eb = float(check_transmittance("eta_a", eta_a)), float(check_transmittance("eta_b", eta_b))
    return _point(ea, eb, source.intensity, source, station, ec_efficiency)


def optimise_pm(
    eta_a: float, eta_b: float, source: PmSourceParams, station: InterferenceStationParams, *, ec_efficiency: float
) -> PmRatePoint:
    """PM-QKD with ``mu`` optimised for the channel (the source's ``mu`` where no intensity gives key)."""
    check_ec_efficiency(ec_efficiency)
    ea, eb = float(check_transmittance("eta_a", eta_a)), float(check_transmittance("eta_b", eta_b))
    mu, _ = maximise_scalar(
        lambda m: pm_rate(ea, eb, m, phase_slices=source.phase_slices, station=station, ec_efficiency=ec_efficiency),
        *_MU_RANGE,
    )
    return _point(ea, eb, mu if math.isfinite(mu) else source.intensity, source, station, ec_efficiency)
