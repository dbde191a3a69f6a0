"""BBM92 with a polarisation-entangled SPDC source in the middle of the link.

The source sits in the middle of the channel between the parties (:func:`bbm92_observables`: each arm
passes the square root of the channel's transmittance) or at the station of a
:class:`~qinternet.physics.channels.TwoArm` (:func:`bbm92_observables_arms`); each party has a pair of
threshold detectors with dark-count probability ``p_d`` and efficiency ``eta_det``. In either basis the
state is two independent polarisation modes (H and V), each carrying a number of photon pairs that is
thermal (mean ``lambda = mu/2``) or Poisson (mean ``mu/2``). Misalignment sends each of Bob's photons to the wrong
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

from qinternet.errors import ParameterError
from qinternet.params.devices import PairStatistics, QkdSystem
from qinternet.physics.channels import Channel, FibreChannel, TwoArm, is_scalar
from qinternet.physics.sources import poisson_vacuum, thermal_vacuum
from qinternet.qkd.entropy import symmetric_error_key_fraction
from qinternet.qkd.observables import Observed, receiver_dark_count_prob

__all__ = [
    "PAIR_GRID",
    "arm_transmittance",
    "bbm92_key_fraction",
    "bbm92_observables",
    "bbm92_observables_arms",
    "best_pair_number",
    "fibre_arm",
    "fibre_arms",
    "ma_fung_lo_observables",
    "party_transmittance",
]

FloatArray = NDArray[np.float64]

# Detector indices: Alice H, Alice V, Bob H, Bob V.
_A_H, _A_V, _B_H, _B_V = range(4)
_ALL = frozenset(range(4))


def arm_transmittance(system: QkdSystem, channel: Channel) -> FloatArray:
    """Transmittance of one arm of a source in the middle of ``channel`` with one party's detectors:
    ``sqrt(eta_ch) eta_det`` (for a fibre: half the length and half the insertion loss)."""
    return np.sqrt(np.asarray(channel.transmittance, dtype=np.float64)) * system.detector.efficiency


def party_transmittance(system: QkdSystem, arm: Channel) -> FloatArray:
    """Transmittance of ``arm`` (source to one party) with that party's detectors: ``eta_arm eta_det``."""
    return np.asarray(np.asarray(arm.transmittance, dtype=np.float64) * system.detector.efficiency, dtype=np.float64)


def fibre_arm(system: QkdSystem, length_km: float) -> FibreChannel:
    """An arm of ``length_km`` of the system's fibre with half its insertion loss (the other half is the other
    arm's): two arms of ``L/2`` pass what the whole fibre of ``L`` does."""
    fibre = system.fibre
    return FibreChannel(
        length_km=length_km, loss_db_per_km=fibre.loss_db_per_km, insertion_loss_db=fibre.insertion_loss_db / 2.0
    )


def fibre_arms(system: QkdSystem, length_a_km: float, length_b_km: float) -> TwoArm:
    """A source ``length_a_km`` of the system's fibre from Alice and ``length_b_km`` from Bob (:func:`fibre_arm`)."""
    return TwoArm(arm_a=fibre_arm(system, length_a_km), arm_b=fibre_arm(system, length_b_km))


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


def bbm92_observables(system: QkdSystem, channel: Channel, mean_pair_number: ArrayLike) -> Observed:
    """Coincidence gain ``Q`` and error weight ``E Q`` for matching bases (see the module docstring).

    The source sits in the middle of ``channel``, the channel between the parties: each arm passes
    ``sqrt(eta_ch)`` (:func:`arm_transmittance`). A :class:`~qinternet.physics.channels.TwoArm` is taken arm
    by arm (:func:`bbm92_observables_arms`). The transmittance may be an array, broadcast with
    ``mean_pair_number``.

    Raises:
        ParameterError: when ``channel`` (not a two-arm one) has a background: which party it reaches is
            not known.
    """
    if isinstance(channel, TwoArm):
        return bbm92_observables_arms(system, channel, mean_pair_number)
    if not (is_scalar(channel.background) and float(channel.background) == 0.0):
        raise ParameterError("channel.background", "BBM92 needs each party's background: give a TwoArm channel")
    eta = arm_transmittance(system, channel)
    return _observables(system, eta, eta, mean_pair_number)


def bbm92_observables_arms(
    system: QkdSystem,
    arms: TwoArm,
    mean_pair_number: ArrayLike,
    *,
    background_a: float = 0.0,
    background_b: float = 0.0,
) -> Observed:
    """As :func:`bbm92_observables` for a source at the station of ``arms`` (``arm_a`` to Alice, ``arm_b`` to
    Bob), e.g. one user pair of a multi-user entanglement network (:func:`fibre_arms`).

    Each arm's background reaches its party's detectors (:func:`~qinternet.qkd.observables.
    receiver_dark_count_prob`). ``background_a`` and ``background_b`` are extra click probabilities per
    detector and window at each party (light uncorrelated with this pair, e.g. other pairs' photons on
    shared detectors); they add to the dark counts as independent causes: ``p = 1 - (1 - p_dark)(1 -
    background)``.
    """
    eta_a = party_transmittance(system, arms.arm_a)
    eta_b = party_transmittance(system, arms.arm_b)
    dark_a = 1.0 - (1.0 - receiver_dark_count_prob(system, arms.arm_a)) * (1.0 - background_a)
    dark_b = 1.0 - (1.0 - receiver_dark_count_prob(system, arms.arm_b)) * (1.0 - background_b)
    return _observables(system, eta_a, eta_b, mean_pair_number, darks=(dark_a, dark_b))


def _observables(
    system: QkdSystem,
    eta_a: FloatArray,
    eta_b: FloatArray,
    mean_pair_number: ArrayLike,
    *,
    darks: tuple[float | FloatArray, float | FloatArray] | None = None,
) -> Observed:
    mu = np.asarray(mean_pair_number, dtype=np.float64)
    per_mode = mu / 2.0
    vacuum = thermal_vacuum if system.pair_source.statistics is PairStatistics.THERMAL else poisson_vacuum
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
    return np.asarray(np.maximum(0.0, symmetric_error_key_fraction(error_rate, ec_efficiency)), dtype=np.float64)


PAIR_GRID = np.geomspace(1e-4, 1.0, 241)
"""Mean pair numbers searched for the optimum (a 1.5 % grid: the rate is flat near its maximum)."""


def best_pair_number(
    system: QkdSystem,
    arms: TwoArm,
    candidates: ArrayLike = PAIR_GRID,
    *,
    background_a: float = 0.0,
    background_b: float = 0.0,
) -> tuple[float, float, float]:
    """``(mu, Q, E)``: the candidate mean pair number that maximises ``Q (1 - f H2(E) - H2(E))`` over ``arms``
    (:func:`bbm92_observables_arms`, Ma, Fung, Lo, PRA 76, 012307 (2007), eq. (11)), with its coincidence gain
    and error rate. An operator sets the pump this way; the first of equal maxima wins."""
    grid = np.atleast_1d(np.asarray(candidates, dtype=np.float64))
    seen = bbm92_observables_arms(system, arms, grid, background_a=background_a, background_b=background_b)
    rates = seen.gain * bbm92_key_fraction(seen.error_rate, system.ec_efficiency)
    best = int(np.argmax(rates))
    return float(grid[best]), float(seen.gain[best]), float(seen.error_rate[best])
