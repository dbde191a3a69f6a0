"""MDI-QKD counts, and the decoy estimates and key length they support, asymptotically and for a finite block.

:class:`MdiCounts` are the sufficient statistics of a block of ``N`` pulse pairs: for every (Alice's
intensity, Alice's basis, Bob's intensity, Bob's basis) the pulse pairs sent, and per announced Bell state the
heralded events and the errors among them. They come from the Monte-Carlo relay
(:mod:`qinternet.qkd.mdi_montecarlo`), from a recorded experiment, or as expected values from the model
(:func:`expected_counts`). Arrays may carry leading axes (e.g. one entry per channel transmittance); every
function here is vectorised over them.

Finite-key analysis (:func:`finite_key_length`), in the structure of Curty, Xu, Cui, Lim, Tamaki, Lo,
Nat. Commun. 5, 3732 (2014): parameter estimation with the Chernoff bound, the decoy bounds of
:mod:`qinternet.qkd.mdi` evaluated at the edge of each interval that loosens them, and the key length

    ``l = s_11^L [1 - h(phi_11^U)] - lambda_EC - log2(2 / eps_cor) - 2 log2(1 / (2 eps_PA))``,

``lambda_EC = f n_Z h(E_Z)`` for the ``n_Z`` heralded Z-basis signal pairs with error rate ``E_Z``. The key
is ``eps_cor``-correct (error verification with a ``log2(2/eps_cor)``-bit hash) and ``eps_sec``-secret with
``eps_sec = 2 k eps_PE + eps_PA``: the ``k = 13`` one-sided estimates below each fail with probability at most
``eps_PE`` (their union is the smoothing of the min-entropy, entering twice as in Lim et al., PRA 89,
022307 (2014), App. B) and the leftover hash lemma costs ``2 log2(1 / (2 eps_PA))`` bits (Tomamichel, Lim,
Gisin, Renner, Nat. Commun. 3, 634 (2012)). qinternet splits ``eps_PA = eps_sec / 2`` and
``eps_PE = eps_sec / (4 k)``.

The estimates (``beta = ln(1/eps_PE)``):

* an observed count ``x`` (a sum of independent Bernoulli trials) bounds its expectation ``E`` by the
  Chernoff tails ``P(X >= E + t) <= exp(-t^2 / (2E + t))`` and ``P(X <= E - t) <= exp(-t^2 / (2E))``, inverted:
  ``E^L = x + beta/2 - sqrt(2 beta x + beta^2/4)`` and ``E^U = x + beta + sqrt(2 beta x + beta^2)``;
* the X-basis gains ``Q = E / N`` enter :func:`~qinternet.qkd.mdi.y11_lower_bound` each at the edge of its
  interval that lowers the bound (7 estimates), and the phase-error numerator of
  :func:`~qinternet.qkd.mdi.e11_upper_bound` at the edge that raises it (4 more: the errors of the weak pairs,
  the gains of the vacuum pairs);
* the expected number of single-photon pairs among the Z-basis signal pairs is at least
  ``N_ZZ s_a s_b e^{-s_a - s_b} Y_11^L`` and the number that occurred at least ``E - sqrt(2 beta E)`` of it;
* their phase errors: expected at most ``N_ZZ s_a s_b e^{-s_a - s_b} (e Y)_11^U`` (the single-photon states
  do not depend on the basis, so the X-basis error rate of single-photon pairs is the Z-basis phase-error
  rate), occurred at most ``E + beta/2 + sqrt(beta^2/4 + 2 beta E)``; ``phi_11^U`` is their ratio.

The Chernoff bound needs independent trials: like Curty et al. (2014), this treats each pulse pair's
outcome as independent given the devices (collective attacks); general attacks need Azuma-type bounds
and cost more.

This analysis is composable and loose: with 13 separate estimates it needs far more pulse pairs than the
four-intensity analysis with joint constraints that Yin et al. (2016) used, which
:mod:`qinternet.qkd.mdi_joint` implements (and which subtracts no hashing terms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.checks import require_epsilon, require_positive
from qinternet.params.mdi import BsmStationParams, MdiSourceParams, MdiSystem
from qinternet.physics.detectors import error_rate
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.mdi import (
    WRONG,
    MdiRates,
    XDecoyGains,
    Z,
    e11_upper_bound,
    intensities_with_signal,
    outcome_probabilities,
    y11_lower_bound,
)

__all__ = [
    "ESTIMATES",
    "DecoyPairCounts",
    "MdiCounts",
    "MdiFiniteKey",
    "MdiFiniteKeyParams",
    "asymptotic_estimate",
    "chernoff_expectation_bounds",
    "decoy_pair_counts",
    "expected_counts",
    "expected_counts_for",
    "finite_key_length",
    "finite_key_rate",
    "key_of_bounds",
    "single_photon_events",
    "source_weights",
]

FloatArray = NDArray[np.float64]

ESTIMATES = 13
"""One-sided estimates that may fail: 7 gains for ``Y_11^L``, 4 counts for the phase-error numerator, 1 each
for the single-photon events and their phase errors."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MdiFiniteKeyParams:
    """Security parameters of the finite-key analysis.

    Attributes:
        eps_sec: secrecy, in (0, 1).
        eps_cor: correctness, in (0, 1).
    """

    eps_sec: float = 1e-10
    eps_cor: float = 1e-15

    def __post_init__(self) -> None:
        require_epsilon("eps_sec", self.eps_sec)
        require_epsilon("eps_cor", self.eps_cor)

    @property
    def eps_pe(self) -> float:
        """Failure probability allowed to each estimate: ``eps_sec / (4 k)``."""
        return self.eps_sec / (4.0 * ESTIMATES)

    @property
    def eps_pa(self) -> float:
        """Privacy-amplification term of the secrecy: ``eps_sec / 2``."""
        return self.eps_sec / 2.0


@dataclass(frozen=True, slots=True)
class MdiCounts:
    """Counts of a block of pulse pairs (float64; integer-valued when observed, real when expected).

    Attributes:
        sent: shape (..., K, 2, K, 2): pulse pairs per (Alice's intensity, basis, Bob's intensity, basis).
        heralded: shape (..., K, 2, K, 2, 2): heralded events per Bell state (psi^-, psi^+).
        errors: shape (..., K, 2, K, 2, 2): heralded events whose bits violate the announced relation.
    """

    sent: FloatArray
    heralded: FloatArray
    errors: FloatArray

    def __post_init__(self) -> None:
        k = self.sent.shape[-4] if self.sent.ndim >= 4 else 0
        if self.sent.ndim < 4 or self.sent.shape[-3:] != (2, k, 2):
            raise ParameterError("counts.sent", f"needs shape (..., K, 2, K, 2), got {self.sent.shape}")
        for name in ("heralded", "errors"):
            if getattr(self, name).shape != (*self.sent.shape, 2):
                raise ParameterError(f"counts.{name}", f"needs shape {(*self.sent.shape, 2)}")
        for name in ("sent", "heralded", "errors"):
            value = getattr(self, name)
            if not np.all(np.isfinite(value)) or np.any(value < 0.0):
                raise ParameterError(f"counts.{name}", "must be finite and >= 0")
        if np.any(self.errors > self.heralded) or np.any(self.heralded.sum(axis=-1) > self.sent):
            raise ParameterError("counts", "errors exceed heralded events, or heralded events the pairs sent")

    def __add__(self, other: MdiCounts) -> MdiCounts:
        return MdiCounts(self.sent + other.sent, self.heralded + other.heralded, self.errors + other.errors)

    @property
    def pulse_pairs(self) -> FloatArray:
        """``N``: pulse pairs of the block."""
        return np.asarray(self.sent.sum(axis=(-1, -2, -3, -4)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of nested lists."""
        return {"sent": self.sent.tolist(), "heralded": self.heralded.tolist(), "errors": self.errors.tolist()}


def source_weights(source: MdiSourceParams) -> FloatArray:
    """``P(intensity k, basis)`` of one source, shape (K, 2) (Z first)."""
    return np.stack([np.asarray(source.z_basis_probs), np.asarray(source.x_basis_probs)], axis=-1)


def expected_counts(
    system: MdiSystem,
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    block_pulse_pairs: float,
    *,
    signal_intensity: ArrayLike | None = None,
) -> MdiCounts:
    """Expected counts of ``block_pulse_pairs`` pulse pairs over arms ``eta_a``, ``eta_b`` (arrays broadcast).

    ``sent = N P_A(k_a, b_a) P_B(k_b, b_b)`` and ``heralded``, ``errors`` = ``sent`` times the probabilities of
    :func:`~qinternet.qkd.mdi.outcome_probabilities`. ``signal_intensity`` replaces both Z-basis signals.
    """
    return expected_counts_for(
        system.bsm,
        intensities_with_signal(system.alice, signal_intensity),
        intensities_with_signal(system.bob, signal_intensity),
        source_weights(system.alice),
        source_weights(system.bob),
        eta_a,
        eta_b,
        block_pulse_pairs,
    )


def expected_counts_for(
    bsm: BsmStationParams,
    intensities_a: ArrayLike,
    intensities_b: ArrayLike,
    weights_a: ArrayLike,
    weights_b: ArrayLike,
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    block_pulse_pairs: float,
) -> MdiCounts:
    """:func:`expected_counts` with the sources given as arrays, so that a batch of source settings is one call.

    Args:
        bsm: the relay.
        intensities_a, intensities_b: float, shape (..., K): mean photon numbers of each party's intensities.
        weights_a, weights_b: float, shape (..., K, 2): ``P(intensity, basis)`` of each party (Z first), as
            :func:`source_weights` gives; each sums to 1.
        eta_a, eta_b: arm transmittances (without the detector efficiency), broadcast with the leading axes.
        block_pulse_pairs: ``N``.
    """
    require_positive("block_pulse_pairs", block_pulse_pairs)
    mu_a = np.asarray(intensities_a, dtype=np.float64)
    mu_b = np.asarray(intensities_b, dtype=np.float64)
    ea = np.asarray(eta_a, dtype=np.float64)[..., None, None]
    eb = np.asarray(eta_b, dtype=np.float64)[..., None, None]
    probs = outcome_probabilities(bsm, mu_a[..., :, None], mu_b[..., None, :], ea, eb)
    probs = np.moveaxis(probs, -4, -5)  # (..., ka, kb, ba, bb, bell, rw) -> (..., ka, ba, kb, bb, bell, rw)
    wa = np.asarray(weights_a, dtype=np.float64)
    wb = np.asarray(weights_b, dtype=np.float64)
    weights = wa[..., :, :, None, None] * wb[..., None, None, :, :]
    shape = np.broadcast_shapes(probs.shape[:-2], weights.shape)
    sent = np.broadcast_to(block_pulse_pairs * weights, shape)
    return MdiCounts(
        sent=np.asarray(sent, dtype=np.float64),
        heralded=np.asarray(sent[..., None] * probs.sum(axis=-1)),
        errors=np.asarray(sent[..., None] * probs[..., WRONG]),
    )


# --------------------------------------------------------------------------------------------------
# The pairs the estimates use.


def _pair(array: FloatArray, source_a: MdiSourceParams, ka: int, source_b: MdiSourceParams, kb: int) -> FloatArray:
    """``array[..., ka, X, kb, X]``, the vacuum summed over its basis labels (it has no basis)."""
    sub = array[..., ka, :, kb, :]
    wa = np.array([1.0, 1.0]) if ka == source_a.vacuum_index else np.array([0.0, 1.0])
    wb = np.array([1.0, 1.0]) if kb == source_b.vacuum_index else np.array([0.0, 1.0])
    return np.asarray(np.einsum("...ij,i,j->...", sub, wa, wb))


@dataclass(frozen=True, slots=True)
class DecoyPairCounts:
    """The counts the decoy estimates use (arrays over the counts' leading axes).

    Attributes:
        sent: pulse pairs sent, per X-basis pair ``nn, 0n, n0, 00, mm, 0m, m0`` (``n`` = weak decoy, ``m`` =
            strong decoy, ``0`` = vacuum in either basis label).
        heralded: heralded events of the same pairs (Bell states summed).
        errors_nn: errors among the heralded ``nn`` pairs.
        z_sent, z_heralded, z_errors: the Z-basis signal pairs sent, heralded, and in error.
    """

    sent: dict[str, FloatArray]
    heralded: dict[str, FloatArray]
    errors_nn: FloatArray
    z_sent: FloatArray
    z_heralded: FloatArray
    z_errors: FloatArray


def decoy_pair_counts(counts: MdiCounts, system: MdiSystem) -> DecoyPairCounts:
    """The pairs of ``counts`` that the decoy estimates use, by role (:class:`DecoyPairCounts`)."""
    a, b = system.alice, system.bob
    _check_counts_fit(counts, system)
    index = {
        "nn": (a.weak_index, b.weak_index),
        "0n": (a.vacuum_index, b.weak_index),
        "n0": (a.weak_index, b.vacuum_index),
        "00": (a.vacuum_index, b.vacuum_index),
        "mm": (a.strong_index, b.strong_index),
        "0m": (a.vacuum_index, b.strong_index),
        "m0": (a.strong_index, b.vacuum_index),
    }
    heralded = counts.heralded.sum(axis=-1)
    sa, sb = a.signal_index, b.signal_index
    return DecoyPairCounts(
        sent={key: _pair(counts.sent, a, i, b, j) for key, (i, j) in index.items()},
        heralded={key: _pair(heralded, a, i, b, j) for key, (i, j) in index.items()},
        errors_nn=_pair(counts.errors.sum(axis=-1), a, a.weak_index, b, b.weak_index),
        z_sent=np.asarray(counts.sent[..., sa, Z, sb, Z]),
        z_heralded=np.asarray(heralded[..., sa, Z, sb, Z]),
        z_errors=np.asarray(counts.errors[..., sa, Z, sb, Z, :].sum(axis=-1)),
    )


def _check_counts_fit(counts: MdiCounts, system: MdiSystem) -> None:
    k = len(system.alice.intensities)
    if counts.sent.shape[-4] != k:
        raise ParameterError("counts.sent", f"has {counts.sent.shape[-4]} intensities, the system {k}")


def _intensity_pairs(system: MdiSystem, mu_a: FloatArray, mu_b: FloatArray) -> tuple[FloatArray, ...]:
    a, b = system.alice, system.bob
    return (
        mu_a[..., a.weak_index],
        mu_b[..., b.weak_index],
        mu_a[..., a.strong_index],
        mu_b[..., b.strong_index],
        mu_a[..., a.signal_index],
        mu_b[..., b.signal_index],
    )


def _ratio(x: FloatArray, n: FloatArray) -> FloatArray:
    """``x / n``, 0 where nothing was sent."""
    return np.asarray(np.where(n > 0.0, x / np.where(n > 0.0, n, 1.0), 0.0))


def asymptotic_estimate(counts: MdiCounts, system: MdiSystem, *, signal_intensity: ArrayLike | None = None) -> MdiRates:
    """The asymptotic key rate the counts support, with their frequencies taken as the gains (no fluctuations).

    The bounds of :func:`~qinternet.qkd.mdi.key_rate_decoy` with ``Q = heralded / sent`` of each pair, and
    ``R = (n_Z / N) [...]`` per pulse pair. Applied to :func:`expected_counts` it gives
    :func:`~qinternet.qkd.mdi.key_rate_decoy` again; applied to Monte-Carlo counts, an estimate of it.
    """
    obs = decoy_pair_counts(counts, system)
    mu_a, mu_b = (
        intensities_with_signal(system.alice, signal_intensity),
        intensities_with_signal(system.bob, signal_intensity),
    )
    na, nb, ma, mb, sa, sb = _intensity_pairs(system, mu_a, mu_b)
    q = {key: _ratio(obs.heralded[key], obs.sent[key]) for key in obs.sent}
    gains = XDecoyGains(
        q_nn=q["nn"],
        q_0n=q["0n"],
        q_n0=q["n0"],
        q_00=q["00"],
        q_mm=q["mm"],
        q_0m=q["0m"],
        q_m0=q["m0"],
        eq_nn=_ratio(obs.errors_nn, obs.sent["nn"]),
    )
    y11 = y11_lower_bound(na, nb, ma, mb, gains)
    e11 = e11_upper_bound(na, nb, gains, y11)
    q_z = _ratio(obs.z_heralded, obs.z_sent)
    e_z = error_rate(_ratio(obs.z_errors, obs.z_sent), q_z)
    p_zz = obs.z_sent / counts.pulse_pairs
    q11 = sa * sb * np.exp(-sa - sb) * y11
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


# --------------------------------------------------------------------------------------------------
# Finite key.


def chernoff_expectation_bounds(observed: ArrayLike, failure_prob: float) -> tuple[FloatArray, FloatArray]:
    """``(E^L, E^U)``: bounds on the expectation of a sum of independent Bernoulli trials that gave ``observed``.

    Inverts the multiplicative Chernoff tails ``P(X >= E + t) <= exp(-t^2 / (2E + t))`` and
    ``P(X <= E - t) <= exp(-t^2 / (2E))`` (Mitzenmacher and Upfal, *Probability and Computing* (2005),
    Thm 4.4 with ``ln(1 + d) >= 2d / (2 + d)``, and Thm 4.5): with ``beta = ln(1/failure_prob)``,
    ``E^L = x + beta/2 - sqrt(2 beta x + beta^2/4)`` and ``E^U = x + beta + sqrt(2 beta x + beta^2)``. Each side
    fails with probability at most ``failure_prob``.

    >>> low, high = chernoff_expectation_bounds(0.0, 0.05)
    >>> float(low), round(float(high), 3)  # 2 ln(20)
    (0.0, 5.991)
    """
    require_epsilon("failure_prob", failure_prob)
    x = np.asarray(observed, dtype=np.float64)
    beta = math.log(1.0 / failure_prob)
    lower = x + beta / 2.0 - np.sqrt(2.0 * beta * x + beta**2 / 4.0)
    upper = x + beta + np.sqrt(2.0 * beta * x + beta**2)
    return np.asarray(np.maximum(lower, 0.0)), np.asarray(upper)


@dataclass(frozen=True, slots=True, kw_only=True)
class MdiFiniteKey:
    """The finite-key bounds and key length of a block (arrays over the counts' leading axes).

    Attributes:
        block_pulse_pairs: ``N``.
        z_heralded: ``n_Z``, heralded Z-basis signal pairs (the sifted key).
        z_error_rate: ``E_Z``.
        y11_lower: ``Y_11^L`` per pulse pair (all estimates at the edge that loosens it).
        e11_upper: ``(e Y)_11^U / Y_11^L``, the X-basis single-photon error-rate bound.
        single_photon_events_lower: ``s_11^L``, single-photon pairs among the sifted key.
        phase_error_upper: ``phi_11^U``.
        ec_leak_bits: ``lambda_EC = f n_Z h(E_Z)``.
        key_length_bits: ``l`` (floored, 0 when no key).
        key_rate_per_pulse_pair: ``l / N``.
        eps_sec, eps_cor: the security parameters.
    """

    block_pulse_pairs: FloatArray
    z_heralded: FloatArray
    z_error_rate: FloatArray
    y11_lower: FloatArray
    e11_upper: FloatArray
    single_photon_events_lower: FloatArray
    phase_error_upper: FloatArray
    ec_leak_bits: FloatArray
    key_length_bits: FloatArray
    key_rate_per_pulse_pair: FloatArray
    eps_sec: float
    eps_cor: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (arrays as lists, scalars as floats)."""
        return {name: np.asarray(getattr(self, name)).tolist() for name in self.__dataclass_fields__}


def _decoy_bounds_at_the_edges(
    obs: DecoyPairCounts, intensities: tuple[FloatArray, ...], eps: float
) -> tuple[FloatArray, FloatArray]:
    """``(Y_11^L, (e Y)_11^U)`` with every count at the edge of its Chernoff interval that loosens the bound."""
    na, nb, ma, mb = intensities
    bounds = {key: chernoff_expectation_bounds(obs.heralded[key], eps) for key in obs.sent}
    low, high = 0, 1

    def gain(key: str, side: int) -> FloatArray:
        return _ratio(bounds[key][side], obs.sent[key])

    # The edges that lower Y_11^L (the signs are in y11_lower_bound's docstring).
    for_yield = XDecoyGains(
        q_nn=gain("nn", low),
        q_0n=gain("0n", high),
        q_n0=gain("n0", high),
        q_00=gain("00", low),
        q_mm=gain("mm", high),
        q_0m=gain("0m", low),
        q_m0=gain("m0", low),
        eq_nn=np.zeros(()),
    )
    y11 = y11_lower_bound(na, nb, ma, mb, for_yield)
    # The edges that raise the phase-error numerator of e11_upper_bound.
    errors_high = _ratio(chernoff_expectation_bounds(obs.errors_nn, eps)[high], obs.sent["nn"])
    phase_numerator = errors_high * np.exp(na + nb) - 0.5 * (
        gain("0n", low) * np.exp(nb) + gain("n0", low) * np.exp(na) - gain("00", high)
    )
    return y11, np.asarray(np.maximum(phase_numerator, 0.0) / (na * nb))


def single_photon_events(
    obs: DecoyPairCounts, single_share: FloatArray, y11: FloatArray, ey11: FloatArray, eps: float
) -> tuple[FloatArray, FloatArray]:
    """``(s_11^L, phi_11^U)``: single-photon pairs among the sifted key, and the bound on their phase-error rate.

    ``single_share = s_a s_b e^{-s_a - s_b}`` is the probability that a signal pair holds one photon each;
    ``y11`` and ``ey11`` are ``Y_11^L`` and ``(e Y)_11^U`` per pulse pair (expected values).
    """
    beta = math.log(1.0 / eps)
    expected_single = obs.z_sent * single_share * y11
    single = np.where(expected_single > beta / 2.0, expected_single - np.sqrt(2.0 * beta * expected_single), 0.0)
    expected_phase = obs.z_sent * single_share * ey11
    phase_errors = expected_phase + beta / 2.0 + np.sqrt(beta**2 / 4.0 + 2.0 * beta * expected_phase)
    some = single > 0.0
    phi = np.where(some, np.minimum(phase_errors / np.where(some, single, 1.0), 0.5), 0.5)
    return np.asarray(single), np.asarray(phi)


def finite_key_length(
    counts: MdiCounts,
    system: MdiSystem,
    params: MdiFiniteKeyParams,
    *,
    signal_intensity: ArrayLike | None = None,
) -> MdiFiniteKey:
    """Key length ``l`` of a block from its counts (module docstring), vectorised over the counts' leading axes.

    Args:
        counts: observed (or expected) counts of the block.
        system: the sources (intensities and which of them play which role), relay and ``f``.
        params: ``eps_sec`` and ``eps_cor``.
        signal_intensity: the Z-basis signal both used, when it differs from the system's (optimisation).
    """
    obs = decoy_pair_counts(counts, system)
    mu_a = intensities_with_signal(system.alice, signal_intensity)
    mu_b = intensities_with_signal(system.bob, signal_intensity)
    na, nb, ma, mb, sa, sb = _intensity_pairs(system, mu_a, mu_b)
    y11, ey11 = _decoy_bounds_at_the_edges(obs, (na, nb, ma, mb), params.eps_pe)
    e11 = np.clip(error_rate(ey11, y11), 0.0, 0.5)
    single_share = sa * sb * np.exp(-sa - sb)
    return key_of_bounds(counts, obs, system, params, y11=y11, ey11=ey11, e11=e11, single_share=single_share)


def key_of_bounds(
    counts: MdiCounts,
    obs: DecoyPairCounts,
    system: MdiSystem,
    params: MdiFiniteKeyParams,
    *,
    y11: FloatArray,
    ey11: FloatArray,
    e11: FloatArray,
    single_share: ArrayLike,
    eps_pe: float | None = None,
) -> MdiFiniteKey:
    """The key length of the module docstring from decoy bounds ``Y_11^L``, ``(e Y)_11^U`` and the ``e_11^U``
    reported with them (expected values, however they were obtained): the occurred single-photon pairs and their
    phase errors (:func:`single_photon_events`, each bound failing with ``eps_pe``, default ``params.eps_pe``), the
    leak of error correction and the verification and privacy-amplification terms.

    Args:
        single_share: ``s_a s_b e^{-s_a - s_b}``, the probability that a signal pair holds one photon each.
    """
    eps = params.eps_pe if eps_pe is None else eps_pe
    single, phi = single_photon_events(obs, np.asarray(single_share, dtype=np.float64), y11, ey11, eps)
    e_z = error_rate(obs.z_errors, obs.z_heralded)
    leak = system.ec_efficiency * obs.z_heralded * binary_entropy(e_z)
    length = (
        single * (1.0 - binary_entropy(phi))
        - leak
        - math.log2(2.0 / params.eps_cor)
        - 2.0 * math.log2(1.0 / (2.0 * params.eps_pa))
    )
    length = np.where((single > 0.0) & (phi < 0.5) & (length >= 1.0), np.floor(length), 0.0)
    n = counts.pulse_pairs
    fields = np.broadcast_arrays(n, obs.z_heralded, e_z, y11, e11, single, phi, leak, length, length / n)
    return MdiFiniteKey(
        block_pulse_pairs=fields[0],
        z_heralded=fields[1],
        z_error_rate=fields[2],
        y11_lower=fields[3],
        e11_upper=fields[4],
        single_photon_events_lower=fields[5],
        phase_error_upper=fields[6],
        ec_leak_bits=fields[7],
        key_length_bits=fields[8],
        key_rate_per_pulse_pair=fields[9],
        eps_sec=params.eps_sec,
        eps_cor=params.eps_cor,
    )


def finite_key_rate(
    system: MdiSystem,
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    *,
    block_pulse_pairs: float,
    params: MdiFiniteKeyParams | None = None,
    signal_intensity: ArrayLike | None = None,
) -> MdiFiniteKey:
    """Finite-key rate of ``N`` pulse pairs over arms ``eta_a``, ``eta_b``: the bounds on their expected counts.

    Vectorised over ``eta_a``, ``eta_b`` and ``signal_intensity`` (which replaces both Z-basis signals);
    :func:`qinternet.qkd.mdi.optimise_signal_intensity` maximises it over the signal.
    """
    params = MdiFiniteKeyParams() if params is None else params
    counts = expected_counts(system, eta_a, eta_b, block_pulse_pairs, signal_intensity=signal_intensity)
    return finite_key_length(counts, system, params, signal_intensity=signal_intensity)
