"""Decoy-state MDI-QKD: the relay's outcome probabilities and the asymptotic key rate.

Protocol: Lo, Curty, Qi, PRL 108, 130503 (2012). Alice and Bob send phase-randomised weak coherent pulses
in BB84 states (Z: H/V, X: D/A) through arms of transmittance ``eta_a`` and ``eta_b`` to a linear-optics
Bell-state measurement (:class:`~qinternet.params.mdi.BsmStationParams`); the key comes from the Z basis and
the phase error from the X basis. Every function takes channel quantities (transmittances, excluding the
detector efficiency) as numbers or arrays, which broadcast with the intensities; no distance enters.

The relay model (:func:`outcome_probabilities`). Given the relative phase ``phi`` of the two pulses, the four
detection channels (1H, 1V, 2H, 2V; for time-bin encoding: detector 1 or 2, early or late bin) receive
independent coherent states of mean

    ``m_j = A pa_j^2 / 2 + B pb_j^2 / 2 + s_j sqrt(V A B) pa_j pb_j cos(phi)``,

with ``A = eta_d eta_a mu_a``, ``B = eta_d eta_b mu_b``, ``pa_j`` (``pb_j``) the component of Alice's (Bob's)
polarisation along channel ``j``'s polarisation, ``s_j = +1`` for output 1 and ``-1`` for output 2 of the
beam splitter, and ``V = |<a|b>|^2`` the two-photon visibility (Bob's field has the part ``sqrt(V)`` in
Alice's mode, which interferes, and the rest in an orthogonal mode, which adds to the mean photon
number but not to the interference term). Each threshold channel stays silent with probability
``(1 - p_d) exp(-m_j)``, independently given ``phi``. A psi^- is a click in exactly 1H & 2V or 1V & 2H,
a psi^+ in exactly 1H & 1V or 2H & 2V. The average over ``phi`` (uniform: both pulses are phase-randomised)
is done by Gauss-Chebyshev quadrature in ``cos(phi)``, exact to machine precision for the intensities
allowed (``<= 10`` photons); every factor is a probability, so no cancellation loses precision at the
gains of long links. With ``V = 1`` this gives the closed forms of Ma and Razavi, PRA 86, 062319 (2012),
App. B (``Q_rect``, ``E_rect``, ``Q_diag``, ``E_diag``, with the modified Bessel function ``I_0``); with
``V < 1`` the same derivation holds with the interference term scaled by ``sqrt(V)``, i.e. their
``I_0(x)`` and ``I_0(2x)`` become ``I_0(sqrt(V) x)`` and ``I_0(2 sqrt(V) x)``. The tests check both.

Misalignment (Ma and Razavi 2012, App. B): a heralded event reports the wrong bit relation with
probability ``e_d`` (``E Q = e_d Q_correct + (1 - e_d) Q_wrong``).

Bit relations: in the Z basis both psi^- and psi^+ announce opposite bits; in the X basis psi^- announces
opposite and psi^+ equal bits (Lo, Curty, Qi 2012). Bob flips his bit accordingly; an *error* is a
heralded event whose bits do not obey the announced relation. For the basis pairs that differ (discarded
at sifting) the Z-basis rule is applied.

Key rate (Lo, Curty, Qi 2012, eq. (1), as used by Xu, Xu, Lo, PRA 89, 052333 (2014)), per pulse pair:

    ``R = P_zz [Q_11^Z (1 - h(e_11^X)) - f Q_ss^Z h(E_ss^Z)]``,

with ``P_zz`` the probability that both send the signal in Z, ``Q_11^Z = s_a s_b e^{-s_a - s_b} Y_11^Z``
the gain of single-photon pairs within signal pairs, ``e_11^X`` their phase-error rate, and ``Q_ss^Z``,
``E_ss^Z`` the observed Z-basis gain and error rate of the signal pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.devices import FibreParams
from qinternet.params.mdi import MAX_MDI_INTENSITY, BsmStationParams, MdiSourceParams, MdiSystem
from qinternet.physics.detectors import error_rate
from qinternet.physics.fibre import fibre_transmittance
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.optimise import maximise_scalar

__all__ = [
    "PSI_MINUS",
    "PSI_PLUS",
    "RIGHT",
    "WRONG",
    "MdiRates",
    "X",
    "XDecoyGains",
    "Z",
    "decoy_excess_ratio",
    "e11_upper_bound",
    "gain_and_error_weight",
    "intensities_with_signal",
    "key_rate_decoy",
    "key_rate_infinite_decoys",
    "optimise_signal_intensity",
    "outcome_probabilities",
    "single_photon_pair_probabilities",
    "symmetric_arms",
    "x_decoy_gains",
    "y11_lower_bound",
]

FloatArray = NDArray[np.float64]

Z, X = 0, 1
"""Basis indices of the outcome arrays."""
PSI_MINUS, PSI_PLUS = 0, 1
"""Bell-state indices of the outcome arrays."""
RIGHT, WRONG = 0, 1
"""Indices of heralded events whose bits obey / violate the announced relation."""

# Polarisation (or time-bin) vectors, indexed [basis, bit]: Z = (H, V), X = (D, A).
_R2 = 1.0 / math.sqrt(2.0)
_POL = np.array([[[1.0, 0.0], [0.0, 1.0]], [[_R2, _R2], [_R2, -_R2]]])
# Detection channels j = 1H, 1V, 2H, 2V: their polarisation and beam-splitter output sign.
_CHANNEL_POL = np.array([0, 1, 0, 1])
_CHANNEL_SIGN = np.array([1.0, 1.0, -1.0, -1.0])
# Click patterns, psi^- first: (1H, 2V), (1V, 2H), then psi^+: (1H, 1V), (2H, 2V).
_PATTERNS = ((0, 3), (1, 2), (0, 1), (2, 3))

_NODES = 24
"""Gauss-Chebyshev nodes in cos(phi): exact for polynomials of degree 47, so the phase average of
``exp(c cos phi)`` errs by about ``(c/2)^48 / 48!``, below 1e-27 for ``c <= 10`` (the largest ``sqrt(A B)``)."""
_COS_PHI = np.cos(np.pi * (np.arange(_NODES) + 0.5) / _NODES)


def _combination_weights() -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(pa_j^2/2, pb_j^2/2, s_j pa_j pb_j)`` for every (basis_a, bit_a, basis_b, bit_b, channel j)."""
    pa = _POL[:, :, None, None, _CHANNEL_POL]  # (2, 2, 1, 1, 4)
    pb = _POL[None, None, :, :, _CHANNEL_POL]  # (1, 1, 2, 2, 4)
    shape = (2, 2, 2, 2, 4)
    return (
        np.broadcast_to(pa**2 / 2.0, shape).copy(),
        np.broadcast_to(pb**2 / 2.0, shape).copy(),
        np.broadcast_to(_CHANNEL_SIGN * pa * pb, shape).copy(),
    )


_W_A, _W_B, _W_C = _combination_weights()


def _correct_relation() -> NDArray[np.bool_]:
    """Whether the bits obey the announced relation, per (basis_a, bit_a, basis_b, bit_b, Bell state)."""
    basis_a, bit_a, basis_b, bit_b, bell = np.indices((2, 2, 2, 2, 2))
    equal_announced = (basis_a == X) & (basis_b == X) & (bell == PSI_PLUS)
    return np.asarray((bit_a == bit_b) == equal_announced)


_CORRECT = _correct_relation()


def _finish(patterns: FloatArray, bsm: BsmStationParams) -> FloatArray:
    """From pattern probabilities (..., 2, 2, 2, 2, 4) to outcomes (..., 2, 2, 2, 2): bases, Bell, right/wrong.

    Sums the two patterns of each Bell state, sorts them by the bit relation, applies the misalignment
    flip, averages over the four bit values, and drops the Bell states the relay does not announce.
    """
    bell = np.stack([patterns[..., 0] + patterns[..., 1], patterns[..., 2] + patterns[..., 3]], axis=-1)
    right = np.where(_CORRECT, bell, 0.0)
    wrong = bell - right
    e = bsm.misalignment_error
    right, wrong = (1.0 - e) * right + e * wrong, e * right + (1.0 - e) * wrong
    outcome = np.stack([right, wrong], axis=-1).mean(axis=(-5, -3))  # average over bit_a, bit_b
    announced = np.array([bsm.announced.announces_psi_minus, bsm.announced.announces_psi_plus])
    return np.asarray(np.where(announced[:, None], outcome, 0.0), dtype=np.float64)


def outcome_probabilities(
    bsm: BsmStationParams, mu_a: ArrayLike, mu_b: ArrayLike, eta_a: ArrayLike, eta_b: ArrayLike
) -> FloatArray:
    """Probabilities of the relay's outcomes for phase-randomised coherent pulses (model in the module docstring).

    Args:
        bsm: the relay.
        mu_a, mu_b: mean photon numbers Alice and Bob send, in [0, 10].
        eta_a, eta_b: transmittance of each arm (fibre, without the detector efficiency), in [0, 1].

    Returns:
        float64, shape ``broadcast(mu_a, mu_b, eta_a, eta_b) + (2, 2, 2, 2)``: indexed
        ``[..., basis_a, basis_b, bell, relation]`` (:data:`Z`/:data:`X`, :data:`PSI_MINUS`/:data:`PSI_PLUS`,
        :data:`RIGHT`/:data:`WRONG`), the probability of that heralded outcome for a pulse pair with those
        bases, averaged over the four bit values.
    """
    mu_a, mu_b, eta_a, eta_b = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (mu_a, mu_b, eta_a, eta_b))
    )
    _check_inputs(mu_a, mu_b, eta_a, eta_b)
    eta_d = bsm.detector.efficiency
    extra = (None,) * 6
    a = (eta_d * eta_a * mu_a)[(..., *extra)]
    b = (eta_d * eta_b * mu_b)[(..., *extra)]
    cross = np.sqrt(bsm.visibility * a * b)
    means = a * _W_A[..., None] + b * _W_B[..., None] + cross * _W_C[..., None] * _COS_PHI  # (..., 2,2,2,2, 4, M)
    log_keep = math.log1p(-bsm.detector.dark_count_prob)
    silent = np.exp(log_keep - means)
    click = -np.expm1(log_keep - means)
    all_silent = np.prod(silent, axis=-2)
    patterns = np.stack(
        [
            (all_silent / (silent[..., j, :] * silent[..., k, :]) * click[..., j, :] * click[..., k, :]).mean(axis=-1)
            for j, k in _PATTERNS
        ],
        axis=-1,
    )
    return _finish(patterns, bsm)


def single_photon_pair_probabilities(bsm: BsmStationParams, eta_a: ArrayLike, eta_b: ArrayLike) -> FloatArray:
    """Outcome probabilities when Alice and Bob each send exactly one photon (the ``Y_11`` of the decoy method).

    Each photon reaches the detectors with probability ``t = eta_d eta`` (independently) and lands in channel
    ``j`` with probability ``|psi_j|^2`` (``psi_a,j = pa_j / sqrt(2)``, ``psi_b,j = s_j pb_j / sqrt(2)``). When
    both arrive, they land in channels ``{j, k}`` with probability ``V P_ind + (1 - V) P_dist``:
    ``P_ind(j != k) = |psi_a,j psi_b,k + psi_a,k psi_b,j|^2``, ``P_ind(j, j) = 2 |psi_a,j psi_b,j|^2``
    (bosonic photons in the same mode) and ``P_dist`` the product of the single-photon distributions
    (photons in orthogonal modes). A pattern needs exactly its two channels to click: channels without a
    photon click by dark counts (``p_d``), the others must stay dark (``1 - p_d``). This photon-level
    computation is independent of :func:`outcome_probabilities`; with ``V = 1`` it gives Ma and Razavi
    (2012)'s ``Y_11 = (1 - p_d)^2 [eta_a eta_b / 2 + (2 eta_a + 2 eta_b - 3 eta_a eta_b) p_d
    + 4 (1 - eta_a)(1 - eta_b) p_d^2]`` and ``e_11 Y_11 = Y_11 / 2 - (1/2 - e_d)(1 - p_d)^2 eta_a eta_b / 2``
    in the X basis (with ``eta`` including ``eta_d``).

    Returns:
        float64, shape ``broadcast(eta_a, eta_b) + (2, 2, 2, 2)``, indexed as in :func:`outcome_probabilities`.
    """
    eta_a, eta_b = np.broadcast_arrays(np.asarray(eta_a, dtype=np.float64), np.asarray(eta_b, dtype=np.float64))
    _check_inputs(np.zeros(()), np.zeros(()), eta_a, eta_b)
    eta_d, pd, v = bsm.detector.efficiency, bsm.detector.dark_count_prob, bsm.visibility
    extra = (None,) * 4
    ta = (eta_d * eta_a)[(..., *extra)]
    tb = (eta_d * eta_b)[(..., *extra)]
    amp_a = _POL[:, :, None, None, _CHANNEL_POL] * _R2 * np.ones((2, 2, 2, 2, 4))
    amp_b = _CHANNEL_SIGN * _POL[None, None, :, :, _CHANNEL_POL] * _R2 * np.ones((2, 2, 2, 2, 4))
    pa, pb = amp_a**2, amp_b**2
    dark_none = pd * pd * (1.0 - pd) ** 2  # both pattern channels by dark counts, the others silent
    dark_one = pd * (1.0 - pd) ** 2  # one pattern channel by a dark count
    columns = []
    for j, k in _PATTERNS:
        indist = (amp_a[..., j] * amp_b[..., k] + amp_a[..., k] * amp_b[..., j]) ** 2
        dist = pa[..., j] * pb[..., k] + pa[..., k] * pb[..., j]
        both_split = v * indist + (1.0 - v) * dist
        both_same = sum(v * 2.0 * pa[..., i] * pb[..., i] + (1.0 - v) * pa[..., i] * pb[..., i] for i in (j, k))
        columns.append(
            (1.0 - ta) * (1.0 - tb) * dark_none
            + ta * (1.0 - tb) * (pa[..., j] + pa[..., k]) * dark_one
            + (1.0 - ta) * tb * (pb[..., j] + pb[..., k]) * dark_one
            + ta * tb * (both_split * (1.0 - pd) ** 2 + both_same * dark_one)
        )
    return _finish(np.stack(columns, axis=-1), bsm)


def _check_inputs(mu_a: FloatArray, mu_b: FloatArray, eta_a: FloatArray, eta_b: FloatArray) -> None:
    for name, value, upper in (
        ("mu_a", mu_a, MAX_MDI_INTENSITY),
        ("mu_b", mu_b, MAX_MDI_INTENSITY),
        ("eta_a", eta_a, 1.0),
        ("eta_b", eta_b, 1.0),
    ):
        if not np.all(np.isfinite(value)) or np.any(value < 0.0) or np.any(value > upper):
            raise ParameterError(name, f"must be finite and in [0, {upper:g}]")


def gain_and_error_weight(outcomes: FloatArray, basis: int) -> tuple[FloatArray, FloatArray]:
    """``(Q, E Q)``: heralding probability and error weight when both use ``basis`` (Bell states summed)."""
    matched = outcomes[..., basis, basis, :, :]
    return np.asarray(matched.sum(axis=(-1, -2))), np.asarray(matched[..., WRONG].sum(axis=-1))


# --------------------------------------------------------------------------------------------------
# Decoy-state bounds from the X basis.


@dataclass(frozen=True, slots=True)
class XDecoyGains:
    """X-basis gains of the pairs the bounds use (``n`` = weak decoy ``nu``, ``m`` = strong decoy ``mu``, 0 = vacuum).

    ``q_ab`` is the heralding probability when Alice sends intensity ``a`` and Bob ``b`` (the vacuum in any
    basis, the others in X); ``eq_nn`` is the error weight ``E Q`` of the ``(nu, nu)`` pairs.
    """

    q_nn: FloatArray
    q_0n: FloatArray
    q_n0: FloatArray
    q_00: FloatArray
    q_mm: FloatArray
    q_0m: FloatArray
    q_m0: FloatArray
    eq_nn: FloatArray


def decoy_excess_ratio(nu_a: FloatArray, nu_b: FloatArray, mu_a: FloatArray, mu_b: FloatArray) -> FloatArray:
    """``t = max_{n, m >= 1, n + m >= 3} (nu_a/mu_a)^n (nu_b/mu_b)^m = r_a r_b max(r_a, r_b)``."""
    ra, rb = nu_a / mu_a, nu_b / mu_b
    return np.asarray(ra * rb * np.maximum(ra, rb))


def y11_lower_bound(
    nu_a: ArrayLike, nu_b: ArrayLike, mu_a: ArrayLike, mu_b: ArrayLike, gains: XDecoyGains
) -> FloatArray:
    """Lower bound on the single-photon-pair yield ``Y_11`` from a weak and a strong decoy and the vacuum.

    With ``G_ab = Q_ab e^(a + b) = sum_{n,m} a^n b^m Y_nm / (n! m!)`` (phase-randomised coherent states are
    Poisson mixtures of Fock states), ``H(a, b) = G_ab - G_0b - G_a0 + G_00 = sum_{n,m >= 1} a^n b^m Y_nm/(n! m!)``.
    Every term of ``H(nu)`` beyond ``(1, 1)`` is at most ``t`` times the same term of ``H(mu)``, with
    ``t = r_a r_b max(r_a, r_b)`` and ``r = nu / mu < 1``, so ``H(nu) <= nu_a nu_b Y_11 + t (H(mu) - mu_a mu_b Y_11)``:

        ``Y_11 >= [H(nu) - t H(mu)] / (nu_a nu_b - t mu_a mu_b)``,

    the vacuum + weak decoy bound of Xu, Xu, Lo, PRA 89, 052333 (2014) (their symmetric case
    ``[mu^3 H(nu) - nu^3 H(mu)] / (mu^2 nu^2 (mu - nu))``), written for different intensities of Alice and Bob.
    In the numerator the gains enter with the signs: ``+q_nn, -q_0n, -q_n0, -q_mm, +q_0m, +q_m0, +q_00``
    (the vacuum with ``1 - t > 0``), which the finite-key bounds use to pick the edge of each interval.

    Clipped at 0.
    """
    na, nb, ma, mb = (np.asarray(v, dtype=np.float64) for v in (nu_a, nu_b, mu_a, mu_b))
    t = decoy_excess_ratio(na, nb, ma, mb)
    g = gains
    h_nu = g.q_nn * np.exp(na + nb) - g.q_0n * np.exp(nb) - g.q_n0 * np.exp(na)
    h_mu = g.q_mm * np.exp(ma + mb) - g.q_0m * np.exp(mb) - g.q_m0 * np.exp(ma)
    numerator = h_nu - t * h_mu + (1.0 - t) * g.q_00
    return np.asarray(np.maximum(numerator / (na * nb - t * ma * mb), 0.0))


def e11_upper_bound(nu_a: ArrayLike, nu_b: ArrayLike, gains: XDecoyGains, y11_lower: ArrayLike) -> FloatArray:
    """Upper bound on the X-basis error rate ``e_11`` of single-photon pairs, from the weak decoy and the vacuum.

    With ``T_ab = E_ab Q_ab e^(a + b) = sum a^n b^m (e Y)_nm / (n! m!)``: ``T_nn - T_0n - T_n0 + T_00 >=
    nu_a nu_b e_11 Y_11``, so ``e_11 <= [T_nn - T_0n - T_n0 + T_00] / (nu_a nu_b Y_11^L)`` (Xu, Xu, Lo 2014).
    When one party sends the vacuum its bit is independent of the outcome, so ``T_0b = Q_0b e^b / 2``
    exactly. Returns 1/2 where ``Y_11^L = 0``; clipped to [0, 1/2].
    """
    na, nb = np.asarray(nu_a, dtype=np.float64), np.asarray(nu_b, dtype=np.float64)
    y11 = np.asarray(y11_lower, dtype=np.float64)
    g = gains
    numerator = g.eq_nn * np.exp(na + nb) - 0.5 * (g.q_0n * np.exp(nb) + g.q_n0 * np.exp(na) - g.q_00)
    return np.asarray(np.clip(error_rate(np.maximum(numerator, 0.0), na * nb * y11), 0.0, 0.5))


# --------------------------------------------------------------------------------------------------
# Asymptotic key rates.


@dataclass(frozen=True, slots=True, kw_only=True)
class MdiRates:
    """Asymptotic key rate and what it is made of, per pulse pair (arrays broadcast over the channel).

    Attributes:
        key_rate_per_pulse_pair: ``R`` (>= 0).
        signal_intensity_a, signal_intensity_b: Z-basis signal intensities used.
        y11_z: single-photon-pair yield in the Z basis (true value, or the decoy lower bound).
        e11_x: single-photon-pair error rate in the X basis (true value, or the decoy upper bound).
        z_gain: ``Q_ss^Z``, heralding probability of Z signal pairs.
        z_error_rate: ``E_ss^Z``.
    """

    key_rate_per_pulse_pair: FloatArray
    signal_intensity_a: FloatArray
    signal_intensity_b: FloatArray
    y11_z: FloatArray
    e11_x: FloatArray
    z_gain: FloatArray
    z_error_rate: FloatArray

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (arrays as lists, scalars as floats)."""
        return {name: np.asarray(getattr(self, name)).tolist() for name in self.__dataclass_fields__}


def intensities_with_signal(source: MdiSourceParams, signal: ArrayLike | None) -> FloatArray:
    """The source's intensities (..., K), the signal replaced by ``signal`` when given."""
    base = np.asarray(source.intensities, dtype=np.float64)
    if signal is None:
        return base
    s = np.asarray(signal, dtype=np.float64)[..., None]
    return np.asarray(np.where(np.arange(base.size) == source.signal_index, s, base))


def _rate(
    system: MdiSystem,
    mu_a: FloatArray,
    mu_b: FloatArray,
    y11: FloatArray,
    e11: FloatArray,
    eta_a: FloatArray,
    eta_b: FloatArray,
) -> MdiRates:
    alice, bob = system.alice, system.bob
    sa, sb = mu_a[..., alice.signal_index], mu_b[..., bob.signal_index]
    q_z, eq_z = gain_and_error_weight(outcome_probabilities(system.bsm, sa, sb, eta_a, eta_b), Z)
    e_z = error_rate(eq_z, q_z)
    q11 = sa * sb * np.exp(-sa - sb) * y11
    p_zz = alice.z_basis_probs[alice.signal_index] * bob.z_basis_probs[bob.signal_index]
    rate = p_zz * (q11 * (1.0 - binary_entropy(e11)) - system.ec_efficiency * q_z * binary_entropy(e_z))
    fields = np.broadcast_arrays(np.maximum(rate, 0.0), sa, sb, y11, e11, q_z, e_z)
    return MdiRates(
        key_rate_per_pulse_pair=fields[0],
        signal_intensity_a=fields[1],
        signal_intensity_b=fields[2],
        y11_z=fields[3],
        e11_x=fields[4],
        z_gain=fields[5],
        z_error_rate=fields[6],
    )


def key_rate_infinite_decoys(
    system: MdiSystem, eta_a: ArrayLike, eta_b: ArrayLike, *, signal_intensity: ArrayLike | None = None
) -> MdiRates:
    """Asymptotic key rate with the true ``Y_11^Z`` and ``e_11^X`` (infinitely many decoys).

    ``R = P_zz [s_a s_b e^{-s_a-s_b} Y_11^Z (1 - h(e_11^X)) - f Q_ss^Z h(E_ss^Z)]`` (module docstring), with
    ``Y_11``, ``e_11`` from :func:`single_photon_pair_probabilities`.

    Args:
        system: sources, relay and ``f``.
        eta_a, eta_b: arm transmittances (arrays broadcast).
        signal_intensity: replaces both parties' Z-basis signal intensity (array broadcast), e.g. to optimise it.
    """
    eta_a, eta_b = np.asarray(eta_a, dtype=np.float64), np.asarray(eta_b, dtype=np.float64)
    mu_a, mu_b = (
        intensities_with_signal(system.alice, signal_intensity),
        intensities_with_signal(system.bob, signal_intensity),
    )
    ones = single_photon_pair_probabilities(system.bsm, eta_a, eta_b)
    y11, _ = gain_and_error_weight(ones, Z)
    y11_x, ey11_x = gain_and_error_weight(ones, X)
    return _rate(system, mu_a, mu_b, y11, error_rate(ey11_x, y11_x), eta_a, eta_b)


def x_decoy_gains(
    system: MdiSystem, mu_a: FloatArray, mu_b: FloatArray, eta_a: ArrayLike, eta_b: ArrayLike
) -> XDecoyGains:
    """The expected X-basis gains the bounds use, for intensities ``mu_a``, ``mu_b`` of shape (..., K)."""
    alice, bob = system.alice, system.bob
    na, ma = mu_a[..., alice.weak_index], mu_a[..., alice.strong_index]
    nb, mb = mu_b[..., bob.weak_index], mu_b[..., bob.strong_index]
    zero = np.zeros_like(na)

    def q(a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
        return gain_and_error_weight(outcome_probabilities(system.bsm, a, b, eta_a, eta_b), X)

    q_nn, eq_nn = q(na, nb)
    return XDecoyGains(
        q_nn=q_nn,
        q_0n=q(zero, nb)[0],
        q_n0=q(na, zero)[0],
        q_00=q(zero, zero)[0],
        q_mm=q(ma, mb)[0],
        q_0m=q(zero, mb)[0],
        q_m0=q(ma, zero)[0],
        eq_nn=eq_nn,
    )


def key_rate_decoy(
    system: MdiSystem, eta_a: ArrayLike, eta_b: ArrayLike, *, signal_intensity: ArrayLike | None = None
) -> MdiRates:
    """Asymptotic key rate with the decoy bounds of the system's intensities (no statistical fluctuations).

    ``Y_11^Z`` is bounded by :func:`y11_lower_bound` from the X-basis decoys: the single-photon states
    averaged over the bit are the same in both bases, so the yield of single-photon pairs does not depend
    on the basis (Zhou, Yu, Wang, PRA 93, 042324 (2016), the four-intensity protocol). ``e_11^X`` by
    :func:`e11_upper_bound`. Arguments as :func:`key_rate_infinite_decoys`.
    """
    eta_a, eta_b = np.asarray(eta_a, dtype=np.float64), np.asarray(eta_b, dtype=np.float64)
    alice, bob = system.alice, system.bob
    mu_a, mu_b = intensities_with_signal(alice, signal_intensity), intensities_with_signal(bob, signal_intensity)
    gains = x_decoy_gains(system, mu_a, mu_b, eta_a, eta_b)
    na, ma = mu_a[..., alice.weak_index], mu_a[..., alice.strong_index]
    nb, mb = mu_b[..., bob.weak_index], mu_b[..., bob.strong_index]
    y11 = y11_lower_bound(na, nb, ma, mb, gains)
    return _rate(system, mu_a, mu_b, y11, e11_upper_bound(na, nb, gains, y11), eta_a, eta_b)


def optimise_signal_intensity(
    rate: Callable[[FloatArray], FloatArray], *, lower: float = 1e-3, upper: float = 2.0
) -> tuple[float, float]:
    """The signal intensity in ``[lower, upper]`` that maximises ``rate`` and the maximum rate.

    ``rate`` maps an array of signal intensities to key rates: :func:`key_rate_decoy`,
    :func:`key_rate_infinite_decoys` or :func:`qinternet.qkd.mdi_finite.finite_key_rate` with
    ``signal_intensity=s``. A log-spaced grid, then Brent's method
    (:func:`qinternet.qkd.optimise.maximise_scalar`); ``(nan, 0.0)`` when no intensity gives a key.

    >>> from qinternet.params.mdi import YIN2016
    >>> eta_a, eta_b = symmetric_arms(YIN2016.run("standard").fibre, 100.0)
    >>> best, rate = optimise_signal_intensity(
    ...     lambda s: key_rate_decoy(YIN2016.system, eta_a, eta_b, signal_intensity=s).key_rate_per_pulse_pair
    ... )
    >>> 0.2 < best < 1.0 and rate > 0
    True
    """
    if not 0.0 < lower < upper <= MAX_MDI_INTENSITY:
        raise ParameterError(
            "signal_intensity", f"search range must satisfy 0 < lower < upper <= {MAX_MDI_INTENSITY:g}"
        )
    return maximise_scalar(rate, lower, upper)


def symmetric_arms(fibre: FibreParams, total_length_km: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Transmittances ``(eta_a, eta_b)`` of two equal arms with the relay in the middle (an edge convenience)."""
    eta = fibre_transmittance(fibre, np.asarray(total_length_km, dtype=np.float64) / 2.0)
    return eta, eta
