"""BBM92 with a polarisation-entangled SPDC source in the middle of the link.

The source sits at distance ``L/2`` from each party; each party has a pair of threshold detectors with
dark-count probability ``p_d`` and efficiency ``eta_det``. In either basis the state is two independent
polarisation modes (H and V), each carrying a number of photon pairs that is thermal (mean
``lambda = mu/2``) or Poisson (mean ``mu/2``). Misalignment sends each of Bob's photons to the wrong
detector with probability ``e_d``. Double clicks get a random bit (squashing model).

The click pattern of the four detectors follows exactly by inclusion-exclusion: a set ``S`` of detectors
stays dark with probability ``(1 - p_d)^|S| G(x_H(S)) G(x_V(S))`` where ``x_m(S)`` is the probability that
one pair of mode ``m`` sends a photon into ``S`` and ``G(x) = E[(1 - x)^K]`` is the pair-number generating
function of one mode. For thermal statistics this reproduces the closed forms of
Ma, Fung, Lo, PRA 76, 012307 (2007), eqs. (9)-(10) (arXiv:quant-ph/0703122v1 numbering), which
:func:`ma_fung_lo_observables` implements for the tests.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.params.devices import PairStatistics, QkdSystem
from qinternet.physics.fibre import fibre_transmittance
from qinternet.physics.sources import poisson_vacuum, thermal_vacuum
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.observables import Observed

__all__ = [
    "arm_transmittance",
    "bbm92_key_fraction",
    "bbm92_observables",
    "bbm92_observables_arms",
    "fibre_arm_transmittance",
    "ma_fung_lo_observables",
]

FloatArray = NDArray[np.float64]

# Detector indices: Alice H, Alice V, Bob H, Bob V.
_A_H, _A_V, _B_H, _B_V = range(4)
_ALL = frozenset(range(4))


def arm_transmittance(system: QkdSystem, distance_km: ArrayLike) -> FloatArray:
    """Transmittance of one arm (half the fibre, half the insertion loss, one party's detectors)."""
    return np.sqrt(fibre_transmittance(system.fibre, distance_km)) * system.detector.efficiency


def fibre_arm_transmittance(system: QkdSystem, length_km: ArrayLike) -> FloatArray:
    """Transmittance of an arm of ``length_km`` of the system's fibre with half its insertion loss and one
    party's detectors (two arms of ``L/2`` give :func:`arm_transmittance` of ``L``)."""
    fibre = system.fibre
    loss_db = fibre.loss_db_per_km * np.asarray(length_km, dtype=np.float64) + fibre.insertion_loss_db / 2.0
    return np.asarray(10.0 ** (-loss_db / 10.0) * system.detector.efficiency, dtype=np.float64)


def _photon_reach(
    dark: frozenset[int], eta_a: FloatArray, eta_b: FloatArray, e_d: float
) -> tuple[FloatArray, FloatArray]:
    """``x_H(S), x_V(S)``: probability that one pair of each mode sends a photon into ``S``."""
    a_h, a_v = float(_A_H in dark), float(_A_V in dark)
    b_h, b_v = float(_B_H in dark), float(_B_V in dark)
    # A pair in mode H: Alice's photon to A_H; Bob's photon to B_H (1 - e_d) or B_V (e_d).
    miss_h = (1.0 - eta_a * a_h) * (1.0 - eta_b * ((1.0 - e_d) * b_h + e_d * b_v))
    miss_v = (1.0 - eta_a * a_v) * (1.0 - eta_b * ((1.0 - e_d) * b_v + e_d * b_h))
    return 1.0 - miss_h, 1.0 - miss_v


def _bit_probs(clicked: frozenset[int], h: int, v: int) -> tuple[float, float]:
    """Probability of bit 0 (H) and bit 1 (V) for one party given which of its detectors clicked."""
    if h in clicked and v in clicked:
        return 0.5, 0.5
    return (1.0, 0.0) if h in clicked else (0.0, 1.0)


def bbm92_observables(system: QkdSystem, distance_km: ArrayLike, mean_pair_number: ArrayLike) -> Observed:
    """Coincidence gain ``Q`` and error weight ``E Q`` for matching bases (see the module docstring)."""
    eta = arm_transmittance(system, distance_km)
    return _observables(system, eta, eta, mean_pair_number)


def bbm92_observables_arms(
    system: QkdSystem,
    length_a_km: ArrayLike,
    length_b_km: ArrayLike,
    mean_pair_number: ArrayLike,
    *,
    background_a: float = 0.0,
    background_b: float = 0.0,
) -> Observed:
    """As :func:`bbm92_observables` for a source ``length_a_km`` from Alice and ``length_b_km`` from Bob
    (each arm with half the insertion loss), e.g. one user pair of a multi-user entanglement network.

    ``background_a`` and ``background_b`` are extra click probabilities per detector and window at each
    party (light uncorrelated with this pair, e.g. other pairs' photons on shared detectors); they add to
    the dark counts as independent causes: ``p = 1 - (1 - p_dark)(1 - background)``.
    """
    eta_a = fibre_arm_transmittance(system, length_a_km)
    eta_b = fibre_arm_transmittance(system, length_b_km)
    dark = system.detector.dark_count_prob
    dark_a = 1.0 - (1.0 - dark) * (1.0 - background_a)
    dark_b = 1.0 - (1.0 - dark) * (1.0 - background_b)
    return _observables(system, eta_a, eta_b, mean_pair_number, darks=(dark_a, dark_b))


def _observables(
    system: QkdSystem,
    eta_a: FloatArray,
    eta_b: FloatArray,
    mean_pair_number: ArrayLike,
    *,
    darks: tuple[float, float] | None = None,
) -> Observed:
    mu = np.asarray(mean_pair_number, dtype=np.float64)
    per_mode = mu / 2.0
    vacuum = thermal_vacuum if system.spdc.statistics is PairStatistics.THERMAL else poisson_vacuum
    dark_a, dark_b = (system.detector.dark_count_prob,) * 2 if darks is None else darks
    keep_a, keep_b = 1.0 - dark_a, 1.0 - dark_b
    e_d = system.misalignment_error

    def all_dark(dark: frozenset[int]) -> FloatArray:
        x_h, x_v = _photon_reach(dark, eta_a, eta_b, e_d)
        at_a = len(dark & {_A_H, _A_V})
        quiet = keep_a**at_a * keep_b ** (len(dark) - at_a)
        return np.asarray(quiet * vacuum(per_mode, x_h) * vacuum(per_mode, x_v), dtype=np.float64)

    gain = np.zeros(np.broadcast(eta_a, eta_b, mu).shape)
    error_weight = np.zeros_like(gain)
    for size in range(1, 5):
        for clicked_tuple in itertools.combinations(range(4), size):
            clicked = frozenset(clicked_tuple)
            if not (clicked & {_A_H, _A_V}) or not (clicked & {_B_H, _B_V}):
                continue
            # P(exactly `clicked` fire) = sum over T in clicked of (-1)^|T| P(rest and T all dark).
            prob = np.zeros_like(gain)
            for k in range(size + 1):
                for extra in itertools.combinations(clicked_tuple, k):
                    prob = prob + (-1) ** k * all_dark((_ALL - clicked) | frozenset(extra))
            a0, a1 = _bit_probs(clicked, _A_H, _A_V)
            b0, b1 = _bit_probs(clicked, _B_H, _B_V)
            gain = gain + prob
            error_weight = error_weight + prob * (a0 * b1 + a1 * b0)
    return Observed(gain=gain, error_weight=error_weight)


def ma_fung_lo_observables(
    eta_a: ArrayLike, eta_b: ArrayLike, y0_a: float, y0_b: float, e_d: float, lam: ArrayLike
) -> Observed:
    """Closed-form gain and error of a thermal PDC source, Ma, Fung, Lo, PRA 76, 012307 (2007), eqs. (9)-(10).

    With ``J = 1 + eta_A lam + eta_B lam - eta_A eta_B lam``:
    ``Q = 1 - (1-Y0A)/(1+eta_A lam)^2 - (1-Y0B)/(1+eta_B lam)^2 + (1-Y0A)(1-Y0B)/J^2`` and
    ``E Q = e0 Q - 2 (e0 - e_d) lam (1+lam) eta_A eta_B / ((1+eta_A lam)(1+eta_B lam) J)``,
    with ``e0 = 1/2`` and ``lam`` half the mean pair number.
    """
    a = np.asarray(eta_a, dtype=np.float64)
    b = np.asarray(eta_b, dtype=np.float64)
    x = np.asarray(lam, dtype=np.float64)
    joint = 1.0 + a * x + b * x - a * b * x
    gain = 1.0 - (1.0 - y0_a) / (1.0 + a * x) ** 2 - (1.0 - y0_b) / (1.0 + b * x) ** 2
    gain = gain + (1.0 - y0_a) * (1.0 - y0_b) / joint**2
    error_weight = 0.5 * gain - 2.0 * (0.5 - e_d) * x * (1.0 + x) * a * b / ((1.0 + a * x) * (1.0 + b * x) * joint)
    return Observed(gain=np.asarray(gain, dtype=np.float64), error_weight=np.asarray(error_weight, dtype=np.float64))


def bbm92_key_fraction(error_rate: ArrayLike, ec_efficiency: float) -> FloatArray:
    """Secret fraction of the sifted coincidences, ``1 - f h(E) - h(E)``, at least 0.

    Ma, Fung, Lo, PRA 76, 012307 (2007), eq. (11) without the sifting and gain factors (0 from an error rate
    of about 11 % up).
    """
    h = binary_entropy(np.asarray(error_rate, dtype=np.float64))
    return np.asarray(np.maximum(0.0, 1.0 - (1.0 + ec_efficiency) * h), dtype=np.float64)
