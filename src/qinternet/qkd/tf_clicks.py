"""Charlie's beam splitter and two threshold detectors, hit by a coherent pulse from each arm.

Alice's pulse ``|sqrt(mu_A) e^{i theta_A}>`` crosses an arm of transmittance ``eta_A`` (detector efficiency
included: a detector of efficiency ``eta_d`` behind a lossless splitter is a loss ``eta_d`` in front of a
perfect one), Bob's likewise. A balanced beam splitter sends coherent fields of means

    ``I_C = (M + 2 x cos delta) / 2``  and  ``I_W = (M - 2 x cos delta) / 2``,
    ``M = eta_A mu_A + eta_B mu_B``,  ``x = sqrt(eta_A mu_A eta_B mu_B)``,

to the "correct" detector (the one constructive interference at ``delta = 0`` lights) and the "wrong" one,
with ``delta`` the relative phase. Each detector clicks with ``1 - (1 - p_d) e^{-I}``. An *effective event*
is one click and only one (Wang, Yu, Hu, PRA 98, 062323 (2018); Ma, Zeng, Zhou, PRX 8, 031043 (2018)):

    ``P(only C) = (1 - (1 - p_d) e^{-I_C}) (1 - p_d) e^{-I_W}`` and the same with C and W exchanged.

Two averages over ``delta`` are needed:

* independent random phases (SNS Z windows and the one-sided X windows): ``delta`` uniform on a full turn,
  ``<e^{-x cos delta}> = I_0(x)``, so the gain is ``2 (1 - p_d) e^{-M/2} I_0(x) - 2 (1 - p_d)^2 e^{-M}``;
* matched phases (SNS X windows kept by the phase slice, PM-QKD rounds): ``delta`` uniform on a slice
  ``[-D/2, D/2]`` plus Gaussian noise of rms ``sigma``, averaged by Gauss-Legendre x Gauss-Hermite quadrature;
  then with probability ``e_d`` the two detectors are exchanged (misalignment).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = ["MatchedClicks", "matched_clicks", "phase_nodes", "random_phase_gain", "single_photon_error_yield"]

FloatArray = NDArray[np.float64]

_SLICE_NODES = 32
"""Gauss-Legendre nodes across the phase slice; the integrand is analytic, so 32 give machine precision."""
_NOISE_NODES = 24
"""Gauss-Hermite nodes over the Gaussian phase noise (exact for polynomials of degree 47 in the noise)."""


def random_phase_gain(
    eta_a: ArrayLike, eta_b: ArrayLike, mu_a: ArrayLike, mu_b: ArrayLike, dark_count_prob: float
) -> FloatArray:
    """Probability of an effective event when the two pulses have independent random phases.

    ``S = 2 (1 - p_d) e^{-M/2} I_0(x) - 2 (1 - p_d)^2 e^{-M}`` (module docstring), evaluated as
    ``2 (1 - p_d) [e^{-M/2} (1 - e^{-M/2}) + e^{-M/2} (I_0(x) - 1) + p_d e^{-M}]``: a sum of positive terms,
    so that the gains of long links (1e-9 and below) keep their digits. Arrays broadcast together.
    """
    m = np.asarray(eta_a, dtype=np.float64) * np.asarray(mu_a, dtype=np.float64)
    n = np.asarray(eta_b, dtype=np.float64) * np.asarray(mu_b, dtype=np.float64)
    half = 0.5 * (m + n)
    x = np.sqrt(m * n)
    inner = -np.expm1(-half) * np.exp(-half) + _scaled_i0_minus_one(x, half) + dark_count_prob * np.exp(-2.0 * half)
    return np.asarray(2.0 * (1.0 - dark_count_prob) * inner, dtype=np.float64)


def _scaled_i0_minus_one(x: FloatArray, half: FloatArray) -> FloatArray:
    """``e^{-h} (I_0(x) - 1)`` for ``0 <= x <= h``, without cancellation or overflow.

    Below ``x = 0.1`` the Taylor series ``sum_{k>=1} (x/2)^{2k} / k!^2``; above, ``e^{x-h} i0e(x) - e^{-h}``.
    """
    q = 0.25 * x * x
    series = q * (1.0 + q / 4.0 * (1.0 + q / 9.0 * (1.0 + q / 16.0)))
    direct = np.exp(x - half) * special.i0e(x) - np.exp(-half)
    return np.asarray(np.where(x < 0.1, np.exp(-half) * series, direct), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class MatchedClicks:
    """Effective events of phase-matched pulses (arrays broadcast together).

    Attributes:
        gain: probability of an effective event.
        error_gain: probability of an effective event at the wrong detector (misalignment included).
    """

    gain: FloatArray
    error_gain: FloatArray


@cache
def phase_nodes(slice_rad: float, noise_rad: float) -> tuple[FloatArray, FloatArray]:
    """Phases ``delta`` and weights (summing to 1) of the slice x noise average."""
    x, w = np.polynomial.legendre.leggauss(_SLICE_NODES)
    phases, weights = 0.5 * slice_rad * x, 0.5 * w
    if noise_rad > 0.0:
        h, v = np.polynomial.hermite_e.hermegauss(_NOISE_NODES)
        phases = (phases[:, None] + noise_rad * h[None, :]).ravel()
        weights = (weights[:, None] * (v / v.sum())[None, :]).ravel()
    return phases, weights


def matched_clicks(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    mu_a: ArrayLike,
    mu_b: ArrayLike,
    *,
    dark_count_prob: float,
    misalignment_error: float,
    phase_noise_rad: float,
    phase_slice_rad: float,
) -> MatchedClicks:
    """Gain and error gain of pulses whose relative phase lies in a slice of width ``phase_slice_rad``.

    The average over the slice and the Gaussian phase noise is a quadrature over a trailing axis; the
    misalignment then exchanges the detectors with probability ``e_d``:
    ``error = (1 - e_d) P(only W) + e_d P(only C)``.
    """
    a = np.asarray(eta_a, dtype=np.float64) * np.asarray(mu_a, dtype=np.float64)
    b = np.asarray(eta_b, dtype=np.float64) * np.asarray(mu_b, dtype=np.float64)
    total, x = (a + b)[..., None], np.sqrt(a * b)[..., None]
    phases, weights = phase_nodes(float(phase_slice_rad), float(phase_noise_rad))
    cos = np.cos(phases)
    log_keep = np.log1p(-dark_count_prob)
    i_c = 0.5 * (total + 2.0 * x * cos)  # mean photon number at the correct detector
    i_w = 0.5 * (total - 2.0 * x * cos)
    # P(click) = 1 - (1 - p_d) e^{-I} = -expm1(log(1 - p_d) - I): exact down to the smallest gains.
    only_c = np.sum(-np.expm1(log_keep - i_c) * np.exp(log_keep - i_w) * weights, axis=-1)
    only_w = np.sum(-np.expm1(log_keep - i_w) * np.exp(log_keep - i_c) * weights, axis=-1)
    e_d = misalignment_error
    return MatchedClicks(gain=only_c + only_w, error_gain=(1.0 - e_d) * only_w + e_d * only_c)


def single_photon_error_yield(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    *,
    dark_count_prob: float,
    misalignment_error: float,
    phase_noise_rad: float,
    phase_slice_rad: float,
) -> tuple[FloatArray, FloatArray]:
    """Yield ``s_1`` and error yield ``s_1 e_1`` of one photon in ``(|01> + e^{i delta}|10>)/sqrt 2``.

    Closed form: the photon survives with ``eta = (eta_A + eta_B)/2`` and reaches the wrong output with
    probability ``(eta - sqrt(eta_A eta_B) <cos delta>)/2``, where over the slice and the noise
    ``<cos delta> = sinc(D/2) e^{-sigma^2/2}``; a lost photon leaves the dark counts. Hence
    ``s_1 = (1 - p_d)[eta + (1 - eta) 2 p_d]`` (the yield of either ``|01>`` or ``|10>`` alone, which is
    why the same ``s_1`` serves Z windows) and the wrong-only probability
    ``w_1 = (1 - p_d)(eta - sqrt(eta_A eta_B) <cos delta>)/2 + (1 - eta) p_d (1 - p_d)``; the error yield is
    ``(1 - e_d) w_1 + e_d (s_1 - w_1)``. These are the true values the decoy bounds must bracket.
    """
    ea, eb = np.asarray(eta_a, dtype=np.float64), np.asarray(eta_b, dtype=np.float64)
    eta = 0.5 * (ea + eb)
    keep, p_d = 1.0 - dark_count_prob, dark_count_prob
    half = 0.5 * phase_slice_rad
    mean_cos = (np.sin(half) / half) * np.exp(-0.5 * phase_noise_rad**2)
    s1 = keep * (eta + (1.0 - eta) * 2.0 * p_d)
    w1 = keep * 0.5 * (eta - np.sqrt(ea * eb) * mean_cos) + (1.0 - eta) * p_d * keep
    e_d = misalignment_error
    return np.asarray(s1), np.asarray((1.0 - e_d) * w1 + e_d * (s1 - w1))
