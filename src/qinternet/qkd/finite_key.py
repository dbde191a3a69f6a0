"""Finite-key security of decoy-state BB84: the bounds of Lim, Curty, Walenta, Xu, Zbinden (2014).

Lim et al., "Concise security bounds for practical decoy-state quantum key distribution", PRA 89,
022307 (2014), give a key length secure against general attacks from five formulas, all implemented
here:

* eq. (1), the key length ``l = floor(s_X0 + s_X1 - s_X1 h(phi_X) - lambda_EC - 6 log2(21/eps_sec)
  - log2(2/eps_cor))``;
* eq. (2), the vacuum events ``s_X0`` and eq. (3), the single-photon events ``s_X1``, from the counts of
  the three intensities ``mu1 > mu2 + mu3``, ``mu2 > mu3 >= 0`` with the Hoeffding deviation
  ``sqrt(n_X/2 ln(21/eps_sec))`` of their Appendix A, eqs. (A1)-(A10);
* eq. (4), the single-photon errors ``v_Z1`` of the test basis, and eq. (5), the phase-error bound
  ``phi_X <= v_Z1/s_Z1 + gamma(eps_sec, v_Z1/s_Z1, s_Z1, s_X1)``.

Conventions: Lim's key basis X is qinternet's :attr:`~qinternet.qkd.record.Basis.Z` (chosen by each
party with probability ``q_x = system.basis_prob``; key pairs occur with probability ``q_x**2``), and
Lim's test basis Z is qinternet's ``Basis.X`` (pairs with probability ``(1 - q_x)**2``). Fields are named
``key_*`` and ``test_*`` after these roles.

How the printed text is read (see the notes of the functions for details):

* ``lambda_EC`` is ``f_EC n_X h(e_obs)``; Sec. IV prints ``f_EC h(e_obs)`` without the block size.
* ``log 2`` in the denominator of ``gamma`` (eq. (5), (B2)) is the natural logarithm of 2.
* Eq. (1) subtracts ``log2(2/eps_cor)`` for error verification. Sec. II says the verification publishes
  ``ceil(log2(1/eps_hash))`` bits, which is never more; when the caller knows the real tag length it is
  subtracted instead (the chain rule of Appendix B charges exactly the bits published).
* Sec. IV's ``e_k`` prints the fibre transmittance ``eta_ch`` in the misalignment term where ``D_k`` has
  ``eta_sys = eta_ch eta_Bob``. The rate model takes its observables from
  :func:`qinternet.qkd.observables.observed_coherent`, whose optical errors follow the light that reaches
  the detectors, i.e. the ``eta_sys`` reading. The printed reading would put 4-5 % optical QBER on a
  0.5 % misalignment and does not give Lim's own ratio of 1.75 between ``n_X = 1e9`` and ``1e7``.
* Sec. IV's ``R_k = D_k (1 + p_pa)``: ``p_pa`` is the after-pulse probability ``p_ap``.

The rate model (:func:`finite_key_rate`, :func:`finite_key_rate_at_block_size`) evaluates the bounds on the
expected counts of a system and maximises ``R = l/N`` over ``{q_x, p_mu1, p_mu2, mu1, mu2}`` with ``mu3``
fixed at the system's weakest decoy, as Lim et al. do for their Fig. 1.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from qinternet.errors import ParameterError
from qinternet.params.checks import require_epsilon, require_finite, require_non_negative, require_positive
from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import Channel, fibre_length_km, is_scalar, require_scalar
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.observables import live_fraction, observed_coherent, raw_click_prob
from qinternet.qkd.record import Basis, LinkCounts

__all__ = [
    "LIM2014_PARAMS",
    "AbortReason",
    "AfterPulseAttribution",
    "DecoyCounts",
    "FiniteKeyBounds",
    "FiniteKeyParams",
    "FiniteKeyRatePoint",
    "expected_counts",
    "finite_key_length",
    "finite_key_rate",
    "finite_key_rate_at_block_size",
]

FloatArray = NDArray[np.float64]

_EPS_TERMS = 21.0
"""Lim et al. set the 21 error terms of their eq. (B4) equal: each is ``eps_sec / 21``."""


_EPS_RTOL = 1e-3
"""Relative accuracy of the self-consistent ``eps_sec = kappa l`` (see :func:`_evaluate`)."""


class AbortReason(enum.Enum):
    """Why a block gives no key: the bounds leave none (the protocol aborts, Lim et al., Sec. II, step 4), or
    the receiver's bright-light monitor discarded it."""

    NO_SINGLE_PHOTONS = "no-single-photon-events"
    """Eq. (3) gives ``s_X1 <= 0`` or ``s_Z1 <= 0``: the decoy statistics are too poor (or inconsistent)."""
    PHASE_ERROR = "phase-error-above-tolerance"
    """Eq. (5) gives ``phi_X >= phi_tol``."""
    NO_KEY = "key-length-not-positive"
    """Eq. (1) gives ``l <= 0``: error correction and the security terms eat the whole entropy."""
    BRIGHT_LIGHT = "bright-light-at-detectors"
    """Not a bound: the receiver's monitor saw light far above single-photon level at its detectors (the
    countermeasure to blinding of Yuan, Dynes, Shields, Nature Photonics 4, 800 (2010)), so the block is
    discarded whatever its counts."""


class AfterPulseAttribution(enum.Enum):
    """Which pulses the after-pulses of the rate model are charged to.

    qinternet models after-pulses as a background caused by the mean click rate of the pulse train
    (:func:`qinternet.physics.detectors.background_prob`), which every class sees alike. Lim et al.,
    Sec. IV, add ``p_ap D_k`` to the detections of the same intensity ``k``; use that to reproduce their
    figures. The choice moves the rates by about 30 % on the ``lim2014`` preset (p_ap = 4 %).
    """

    CAUSAL = "causal"
    SAME_CLASS = "same-class"


@dataclass(frozen=True, slots=True, kw_only=True)
class FiniteKeyParams:
    """Security parameters of the finite-key analysis.

    Attributes:
        eps_sec: secrecy ``eps_sec`` of the key, in (0, 1).
        eps_cor: correctness ``eps_cor`` (probability that the keys differ undetected), in (0, 1).
        eps_sec_per_key_bit: Lim's ``kappa`` (Sec. IV): when set, the secrecy is
            ``min(eps_sec, kappa l)``, found self-consistently with the key length ``l``.
        phase_error_tolerance: ``phi_tol``: abort when the phase-error bound reaches it, in (0, 1/2].
    """

    eps_sec: float = 1e-10
    eps_cor: float = 1e-15
    eps_sec_per_key_bit: float | None = None
    phase_error_tolerance: float = 0.5

    def __post_init__(self) -> None:
        require_epsilon("eps_sec", self.eps_sec)
        require_epsilon("eps_cor", self.eps_cor)
        if self.eps_sec_per_key_bit is not None:
            require_epsilon("eps_sec_per_key_bit", self.eps_sec_per_key_bit)
        require_finite("phase_error_tolerance", self.phase_error_tolerance)
        if not 0.0 < self.phase_error_tolerance <= 0.5:
            raise ParameterError("phase_error_tolerance", f"must be in (0, 0.5], got {self.phase_error_tolerance}")


LIM2014_PARAMS = FiniteKeyParams(eps_sec=1e-3, eps_cor=1e-15, eps_sec_per_key_bit=1e-15)
"""Lim et al., Sec. IV: ``eps_sec = kappa l`` with ``kappa = 1e-15`` and ``eps_cor = 1e-15``.

The cap ``eps_sec = 1e-3`` never binds: ``l <= n_X <= 1e9`` gives ``kappa l <= 1e-6``.
"""


def _as_triple(field: str, values: tuple[float, ...]) -> tuple[float, float, float]:
    if len(values) != 3:
        raise ParameterError(field, f"needs one value per intensity (3: mu1, mu2, mu3), got {len(values)}")
    for i, v in enumerate(values):
        require_non_negative(f"{field}[{i}]", v)
    return (float(values[0]), float(values[1]), float(values[2]))


@dataclass(frozen=True, slots=True, kw_only=True)
class DecoyCounts:
    """Counts per intensity after sifting: the input of Lim et al.'s bounds.

    Observed counts are integers; the rate model passes expected (real) counts. Each tuple holds one
    value per intensity, in the order of ``intensities`` (any order; the bounds sort them).

    Attributes:
        intensities: the three mean photon numbers ``mu1 > mu2 + mu3``, ``mu2 > mu3 >= 0``.
        intensity_probs: Alice's probability of each intensity, each > 0, summing to 1.
        key_detections: ``n_X,k``, detections with both parties in the key basis.
        key_errors: ``m_X,k``, errors among them (sets ``e_obs`` for ``lambda_EC``).
        test_detections: ``n_Z,k``, detections with both parties in the test basis.
        test_errors: ``m_Z,k``, errors among them.
    """

    intensities: tuple[float, ...]
    intensity_probs: tuple[float, ...]
    key_detections: tuple[float, ...]
    key_errors: tuple[float, ...]
    test_detections: tuple[float, ...]
    test_errors: tuple[float, ...]

    def __post_init__(self) -> None:
        mu1, mu2, mu3 = sorted(_as_triple("intensities", self.intensities), reverse=True)
        if not (mu1 > mu2 + mu3 and mu2 > mu3):
            raise ParameterError("intensities", f"need mu1 > mu2 + mu3 and mu2 > mu3 >= 0, got {self.intensities}")
        probs = _as_triple("intensity_probs", self.intensity_probs)
        if min(probs) <= 0.0 or not math.isclose(sum(probs), 1.0, rel_tol=0.0, abs_tol=1e-9):
            raise ParameterError("intensity_probs", f"must be > 0 and sum to 1, got {self.intensity_probs}")
        for basis in ("key", "test"):
            n = _as_triple(f"{basis}_detections", getattr(self, f"{basis}_detections"))
            m = _as_triple(f"{basis}_errors", getattr(self, f"{basis}_errors"))
            if any(e > d for e, d in zip(m, n, strict=True)):
                raise ParameterError(f"{basis}_errors", f"exceed the detections {n}: {m}")
        if sum(self.key_detections) <= 0.0:
            raise ParameterError("key_detections", "no detections in the key basis")

    @staticmethod
    def from_link_counts(counts: LinkCounts, system: QkdSystem) -> DecoyCounts:
        """The counts of a simulated or recorded link: key basis ``Basis.Z``, test basis ``Basis.X``."""
        key, test = int(Basis.Z), int(Basis.X)

        def per_class(array: NDArray[np.int64], basis: int) -> tuple[float, ...]:
            return tuple(float(v) for v in array[:, basis, basis])

        return DecoyCounts(
            intensities=system.source.intensities,
            intensity_probs=system.source.intensity_probs,
            key_detections=per_class(counts.detected, key),
            key_errors=per_class(counts.errors, key),
            test_detections=per_class(counts.detected, test),
            test_errors=per_class(counts.errors, test),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FiniteKeyBounds:
    """Lim et al.'s bounds and key length for one block (all counts in events, lengths in bits).

    Attributes:
        key_detections: ``n_X``, the block size.
        key_vacuum_events_lower: ``s_X0^L``, eq. (2) (0 when the bound is negative).
        key_single_photon_events_lower: ``s_X1^L``, eq. (3).
        test_single_photon_events_lower: ``s_Z1^L``, eq. (3) with test-basis counts.
        test_single_photon_errors_upper: ``v_Z1^U``, eq. (4).
        phase_error_bound: ``phi_X^U``, eq. (5).
        observed_qber: ``e_obs = m_X / n_X``.
        ec_leak_bits: ``lambda_EC``: the leak passed in, or ``f n_X h(e_obs)``.
        verification_leak_bits: bits charged for error verification (``log2(2/eps_cor)`` by default).
        eps_sec: the secrecy achieved (``min(eps_sec, kappa l)`` when ``kappa`` is set).
        key_length_bits: ``l``, eq. (1); 0 when aborted.
        aborted: the bounds leave no key.
        abort_reason: why, when aborted.
    """

    key_detections: float
    key_vacuum_events_lower: float
    key_single_photon_events_lower: float
    test_single_photon_events_lower: float
    test_single_photon_errors_upper: float
    phase_error_bound: float
    observed_qber: float
    ec_leak_bits: float
    verification_leak_bits: float
    eps_sec: float
    key_length_bits: int
    aborted: bool
    abort_reason: AbortReason | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the abort reason by its value)."""
        data = asdict(self)
        data["abort_reason"] = None if self.abort_reason is None else self.abort_reason.value
        return data


# --------------------------------------------------------------------------------------------------
# Vectorised core: arrays of shape (..., 3) hold one value per intensity, sorted mu1 > mu2 > mu3.


@dataclass(frozen=True, slots=True)
class _Core:
    n_x: FloatArray
    s_x0: FloatArray
    s_x1: FloatArray
    s_z1: FloatArray
    v_z1: FloatArray
    phi: FloatArray
    e_obs: FloatArray
    leak: FloatArray
    verification: FloatArray
    eps: FloatArray
    length: FloatArray  # eq. (1) before the floor
    reason: NDArray[np.int8]  # 0: key; else the _CODE of the AbortReason


_REASONS = tuple(AbortReason)
_CODE = {reason: code for code, reason in enumerate(_REASONS, start=1)}


@dataclass(frozen=True, slots=True)
class _Source:
    """The intensities ``mu`` (sorted ``mu1 > mu2 > mu3``), ``e^k/p_k`` and ``tau_0``, ``tau_1``."""

    mu: FloatArray
    scale: FloatArray
    tau0: FloatArray
    tau1: FloatArray

    @staticmethod
    def of(mu: FloatArray, p: FloatArray) -> _Source:
        """``tau_n = sum_k p_k e^-k k^n / n!`` is the probability that Alice sends ``n`` photons (eq. (2))."""
        weight = p * np.exp(-mu)
        return _Source(mu, 1.0 / weight, np.sum(weight, axis=-1), np.sum(weight * mu, axis=-1))


def _hoeffding(counts: FloatArray, source: _Source, log_term: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(x^-, x^+)_k = e^k/p_k [x_k -/+ sqrt(x/2 ln(21/eps_sec))]`` with ``x`` the total (eqs. (2), (4))."""
    delta = np.sqrt(np.sum(counts, axis=-1) / 2.0 * log_term)[..., None]
    return source.scale * (counts - delta), source.scale * (counts + delta)


def _vacuum_and_single(counts: FloatArray, source: _Source, log_term: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(s_0^L, s_1^L)`` of one basis: eqs. (2) and (3).

    Both are capped by the detections they are part of, ``s_0 + s_1 <= n``: data that push a bound above
    that (possible with few, inconsistent counts) cannot have come from the model, and the capped value is
    still a lower bound whenever the uncapped one is. ``s_0^L`` is clipped at 0 before it enters eq. (3).
    """
    lower, upper = _hoeffding(counts, source, log_term)
    m1, m2, m3 = source.mu[..., 0], source.mu[..., 1], source.mu[..., 2]
    s0 = np.maximum(source.tau0 * (m2 * lower[..., 2] - m3 * upper[..., 1]) / (m2 - m3), 0.0)
    multi = (m2**2 - m3**2) / m1**2 * (upper[..., 0] - s0 / source.tau0)
    s1 = source.tau1 * m1 * (lower[..., 1] - upper[..., 2] - multi) / (m1 * (m2 - m3) - m2**2 + m3**2)
    total = np.sum(counts, axis=-1)
    s0 = np.minimum(s0, total)
    return s0, np.minimum(s1, total - s0)


def _gamma(eps: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray) -> FloatArray:
    """``gamma(a, b, c, d)`` of eq. (5) (``log 2`` there is ``ln 2``); 0 where ``b`` is 0 (its limit).

    The bound comes from an approximation of the hypergeometric tail (Lim et al., ref. [31]) and, like the
    formula, vanishes as ``b -> 0``.
    """
    defined = (b > 0.0) & (b < 1.0) & (c > 0.0) & (d > 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        size = (c + d) / (c * d)
        log_arg = np.log2(size / ((1.0 - b) * b) * _EPS_TERMS**2 / eps**2)
        value = np.sqrt(size * (1.0 - b) * b / math.log(2.0) * np.maximum(log_arg, 0.0))
    return np.asarray(np.where(defined, value, 0.0))


def _length_at(
    key: tuple[FloatArray, FloatArray],
    test: tuple[FloatArray, FloatArray],
    source: _Source,
    eps: FloatArray,
    leak: FloatArray,
    verification: FloatArray,
    phi_tol: float,
) -> _Core:
    """Eqs. (1)-(5) at secrecy ``eps`` (vectorised over the leading axes)."""
    (n_x, m_x), (n_z, m_z) = key, test
    log_term = np.log(_EPS_TERMS / eps)
    s_x0, s_x1 = _vacuum_and_single(n_x, source, log_term)
    _, s_z1 = _vacuum_and_single(n_z, source, log_term)
    m_lower, m_upper = _hoeffding(m_z, source, log_term)
    mu = source.mu
    # Eq. (4) as printed: capping it at m_Z (all test errors) would be valid and tighter for small test
    # samples, but it is not Lim et al.'s bound: it raises their Fig. 1 optimum by 8-33 % (n_X = 1e8-1e5).
    v_z1 = np.maximum(source.tau1 * (m_upper[..., 1] - m_lower[..., 2]) / (mu[..., 1] - mu[..., 2]), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(s_z1 > 0.0, v_z1 / s_z1, 0.5)
    phi = b + _gamma(eps, b, s_z1, s_x1)
    e_obs = np.sum(m_x, axis=-1) / np.sum(n_x, axis=-1)
    entropy = s_x1 * (1.0 - binary_entropy(np.minimum(phi, 0.5)))
    length = s_x0 + entropy - leak - 6.0 * np.log2(_EPS_TERMS / eps) - verification
    # Written so that NaN (from degenerate input) never passes as a key.
    reason = np.select(
        [~((s_x1 > 0.0) & (s_z1 > 0.0)), ~(phi < phi_tol), ~(length >= 1.0)],
        [_CODE[AbortReason.NO_SINGLE_PHOTONS], _CODE[AbortReason.PHASE_ERROR], _CODE[AbortReason.NO_KEY]],
        default=0,
    ).astype(np.int8)
    n_total = np.sum(n_x, axis=-1)
    return _Core(n_total, s_x0, s_x1, s_z1, v_z1, phi, e_obs, leak, verification, eps, length, reason)


def _evaluate(
    key: tuple[FloatArray, FloatArray],
    test: tuple[FloatArray, FloatArray],
    mu: FloatArray,
    p: FloatArray,
    *,
    params: FiniteKeyParams,
    ec_efficiency: float,
    ec_leak_bits: float | None = None,
    verification_leak_bits: float | None = None,
) -> _Core:
    """Eq. (1), with ``eps_sec = min(eps_sec, kappa l)`` solved by fixed-point iteration when ``kappa`` is set.

    Starting from ``kappa n_X >= kappa l``, the iterates of ``eps <- kappa l(eps)`` decrease monotonically
    (``l`` grows with ``eps``) to the largest consistent pair. We stop when ``eps`` changes by less than
    ``_EPS_RTOL``; the secrecy reported is the ``eps`` used, which is then at most 0.1 % above ``kappa l``
    (and moves ``l`` by far less than a bit).
    """
    n_total = np.sum(key[0], axis=-1)
    if ec_leak_bits is None:
        leak = ec_efficiency * n_total * binary_entropy(np.sum(key[1], axis=-1) / n_total)
    else:
        leak = np.full_like(n_total, ec_leak_bits)
    verification = np.full_like(n_total, math.log2(2.0 / params.eps_cor))
    if verification_leak_bits is not None:
        verification = np.full_like(n_total, verification_leak_bits)
    kappa = params.eps_sec_per_key_bit
    eps = np.full_like(n_total, params.eps_sec)
    if kappa is not None:
        eps = np.minimum(eps, kappa * n_total)
    source = _Source.of(mu, p)
    for _ in range(50):
        core = _length_at(key, test, source, eps, leak, verification, params.phase_error_tolerance)
        if kappa is None:
            return core
        new_eps = np.where(core.length >= 1.0, np.minimum(params.eps_sec, kappa * core.length), eps)
        if np.all(np.abs(new_eps - eps) <= _EPS_RTOL * eps):
            return core
        eps = new_eps
    return core


def _sorted_arrays(counts: DecoyCounts) -> tuple[FloatArray, ...]:
    order = np.argsort(counts.intensities)[::-1]
    return tuple(
        np.asarray(values, dtype=np.float64)[order]
        for values in (
            counts.intensities,
            counts.intensity_probs,
            counts.key_detections,
            counts.key_errors,
            counts.test_detections,
            counts.test_errors,
        )
    )


def finite_key_length(
    counts: DecoyCounts,
    *,
    params: FiniteKeyParams,
    ec_efficiency: float,
    ec_leak_bits: float | None = None,
    verification_leak_bits: float | None = None,
) -> FiniteKeyBounds:
    """Lim et al.'s key length, eq. (1), and the bounds of eqs. (2)-(5) from the counts of one block.

    Args:
        counts: detections and errors per intensity in the key and test bases.
        params: ``eps_sec``, ``eps_cor``, optionally ``kappa``, and ``phi_tol``.
        ec_efficiency: ``f_EC >= 1``; ``lambda_EC = f_EC n_X h(e_obs)`` (Sec. IV, with the factor ``n_X``
            the printed text omits) unless ``ec_leak_bits`` is given.
        ec_leak_bits: bits actually disclosed by error correction (e.g. Cascade's parities), which is
            what Appendix B says ``lambda_EC`` should be.
        verification_leak_bits: bits of the verification tags; default ``log2(2/eps_cor)`` as in eq. (1).

    The key length is never negative: when the bounds leave no key, ``aborted`` is set with the reason
    and ``key_length_bits`` is 0.
    """
    require_positive("ec_efficiency", ec_efficiency)
    for field, bits in (("ec_leak_bits", ec_leak_bits), ("verification_leak_bits", verification_leak_bits)):
        if bits is not None:
            require_non_negative(field, bits)
    mu, p, n_x, m_x, n_z, m_z = _sorted_arrays(counts)
    core = _evaluate(
        (n_x, m_x),
        (n_z, m_z),
        mu,
        p,
        params=params,
        ec_efficiency=ec_efficiency,
        ec_leak_bits=ec_leak_bits,
        verification_leak_bits=verification_leak_bits,
    )
    return _bounds_record(core)


def _bounds_record(core: _Core) -> FiniteKeyBounds:
    reason_index = int(core.reason)
    reason = None if reason_index == 0 else _REASONS[reason_index - 1]
    return FiniteKeyBounds(
        key_detections=float(core.n_x),
        key_vacuum_events_lower=float(core.s_x0),
        key_single_photon_events_lower=float(core.s_x1),
        test_single_photon_events_lower=float(core.s_z1),
        test_single_photon_errors_upper=float(core.v_z1),
        phase_error_bound=float(core.phi),
        observed_qber=float(core.e_obs),
        ec_leak_bits=float(core.leak),
        verification_leak_bits=float(core.verification),
        eps_sec=float(core.eps),
        key_length_bits=0 if reason is not None else math.floor(float(core.length)),
        aborted=reason is not None,
        abort_reason=reason,
    )


# --------------------------------------------------------------------------------------------------
# Rate model: expected counts of a system, and the optimisation of Lim et al., Sec. IV.


@dataclass(frozen=True, slots=True, kw_only=True)
class FiniteKeyRatePoint:
    """The finite-key rate over one channel, with the settings that achieve it.

    Attributes:
        distance_km: fibre length of the channel, km; None for a channel that is not all fibre
            (:func:`qinternet.physics.channels.fibre_length_km`).
        block_pulses: ``N``, pulses sent for the block.
        block_size: ``n_X``, expected detections in the key basis.
        key_rate_per_pulse: ``R = l / N`` (>= 0).
        key_basis_prob: ``q_x``, each party's probability of the key basis.
        intensities: ``(mu1, mu2, mu3)``.
        intensity_probs: ``(p_mu1, p_mu2, p_mu3)``.
        after_pulses: how after-pulses were attributed.
        bounds: the bounds and key length on the expected counts.
    """

    distance_km: float | None
    block_pulses: float
    block_size: float
    key_rate_per_pulse: float
    key_basis_prob: float
    intensities: tuple[float, float, float]
    intensity_probs: tuple[float, float, float]
    after_pulses: AfterPulseAttribution
    bounds: FiniteKeyBounds

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["after_pulses"] = self.after_pulses.value
        data["bounds"] = self.bounds.to_dict()
        return data


@dataclass(frozen=True, slots=True)
class _Settings:
    """Candidate settings, vectorised: ``q`` of shape (K,), ``mu`` and ``p`` of shape (K, 3)."""

    q: FloatArray
    mu: FloatArray
    p: FloatArray


def _per_pulse(
    system: QkdSystem, channel: Channel, s: _Settings, after_pulses: AfterPulseAttribution
) -> tuple[FloatArray, FloatArray]:
    """Per pulse sent and per intensity: ``p_k Q_k`` and ``p_k E_k Q_k`` when the bases agree.

    ``Q_k`` and ``E_k Q_k`` are those of :func:`~qinternet.qkd.observables.observed_coherent` (dead time
    included); the callers multiply by ``q_x^2`` (key basis) or ``(1 - q_x)^2`` (test basis). The channel's
    quantities broadcast with the leading axis of the settings (one channel state per candidate, or one
    candidate per channel sample, see :class:`_Column`).
    """
    if after_pulses is AfterPulseAttribution.SAME_CLASS:
        seen = observed_coherent(system, channel, s.mu)
    else:
        mean_click = np.sum(s.p * raw_click_prob(system, channel, s.mu), axis=-1)
        seen = observed_coherent(system, channel, s.mu, click_prob=mean_click[..., None])
    live = live_fraction(system, np.sum(s.p * seen.gain, axis=-1))[..., None]
    return s.p * seen.gain * live, s.p * seen.error_weight * live


@dataclass(frozen=True, slots=True)
class _Block:
    """A block fixed by its pulses ``N`` or by its key-basis detections ``n_X`` (exactly one is set)."""

    pulses: float | None = None
    size: float | None = None

    def pulses_for(self, key_detections_per_pulse: FloatArray) -> FloatArray:
        """``N`` for each candidate: given, or ``n_X / (q_x^2 sum_k p_k Q_k)``."""
        if self.size is not None:
            return np.asarray(self.size / key_detections_per_pulse)
        return np.full_like(key_detections_per_pulse, self.pulses)


def _rate(
    system: QkdSystem,
    channel: Channel,
    s: _Settings,
    block: _Block,
    *,
    params: FiniteKeyParams,
    after_pulses: AfterPulseAttribution,
) -> tuple[FloatArray, FloatArray, _Core]:
    """``(R, N, core)`` for candidate settings: the objective of the optimiser, not a key rate.

    Where eq. (1) leaves a key (``l >= 1``) it is ``R = l/N`` before the floor and the abort checks. Where
    it does not, it is ``(l - 1)/n_X - 1 < -1``: below every key and increasing with ``l`` alone. Ranking
    those settings by ``l/N`` instead (as before) rewards a larger ``N`` for the same deficit, i.e. a
    smaller ``q_x``, not a key, and led the search away from the small region where Lim et al.'s Fig. 1
    still has one: for ``n_X = 1e4`` it ended at 112 km while eqs. (1)-(5) leave a key beyond 120 km.
    ``-inf`` where eq. (3) leaves no single photons.
    """
    gain, errors = _per_pulse(system, channel, s, after_pulses)
    pulses = block.pulses_for(s.q**2 * np.sum(gain, axis=-1))
    key_scale = (pulses * s.q**2)[..., None]
    test_scale = (pulses * (1.0 - s.q) ** 2)[..., None]
    core = _evaluate(
        (key_scale * gain, key_scale * errors),
        (test_scale * gain, test_scale * errors),
        s.mu,
        s.p,
        params=params,
        ec_efficiency=system.ec_efficiency,
    )
    usable = (core.reason != _CODE[AbortReason.NO_SINGLE_PHOTONS]) & np.isfinite(core.length)
    keyless = (core.length - 1.0) / core.n_x - 1.0
    rate = np.where(usable, np.where(core.length >= 1.0, core.length / pulses, keyless), -np.inf)
    return rate, pulses, core


def _decode(z: FloatArray, mu3: float) -> _Settings:
    """Unconstrained coordinates (K, 5) to settings satisfying Lim's constraints by construction.

    ``q = sigmoid(z0)``; ``p = softmax(z1, z2, 0)``; ``mu2 = mu3 + e^z3``; ``mu1 = mu2 + mu3 + e^z4``.
    """
    q = 1.0 / (1.0 + np.exp(-z[:, 0]))
    weights = np.exp(np.stack([z[:, 1], z[:, 2], np.zeros_like(z[:, 0])], axis=-1))
    p = weights / np.sum(weights, axis=-1, keepdims=True)
    mu2 = mu3 + np.exp(z[:, 3])
    mu1 = mu2 + mu3 + np.exp(z[:, 4])
    return _Settings(q=q, mu=np.stack([mu1, mu2, np.full_like(mu1, mu3)], axis=-1), p=p)


_SEARCH_SEED = 2014
_SEARCH_CANDIDATES = 2048
# Ranges of the random search: q_x in [0.018, 0.993], log-odds of p_mu1 and p_mu2 against p_mu3 in
# [-4, 3], mu2 - mu3 in [1e-3, 0.6], mu1 - mu2 - mu3 in [1e-2, 1]. Small blocks near their maximal
# distance need q_x well below 1/2 (more test-basis data for eq. (5)): 0.25 at 120 km for n_X = 1e4.
_SEARCH_LOW = np.array([-4.0, -4.0, -4.0, math.log(1e-3), math.log(1e-2)])
_SEARCH_HIGH = np.array([5.0, 3.0, 3.0, math.log(0.6), math.log(1.0)])


def _maximise(objective: Callable[[FloatArray], FloatArray]) -> FloatArray:
    """Best coordinates: a seeded random search (vectorised), then Nelder-Mead, restarted once.

    Nelder-Mead only compares values, so the objective is used as it is (rates of 1e-7 included); the
    tolerance on it is relative to the best value of the random search. It also starts from a negative
    best value (no key yet): :func:`_rate` then ranks settings by ``l``, which leads to the key near the
    maximal distance that the search can miss.
    """
    rng = np.random.default_rng(_SEARCH_SEED)
    z = rng.uniform(_SEARCH_LOW, _SEARCH_HIGH, size=(_SEARCH_CANDIDATES, _SEARCH_LOW.size))
    values = objective(z)
    best: FloatArray = np.asarray(z[int(np.argmax(values))], dtype=np.float64)
    scale = abs(float(np.max(values)))
    if not (math.isfinite(scale) and scale > 0.0):
        return best

    def loss(x: FloatArray) -> float:
        return -float(objective(x[None, :])[0]) / scale

    for _ in range(2):
        result = optimize.minimize(
            loss, best, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 2000}
        )
        best = np.asarray(result.x, dtype=np.float64)
    return best


def _weakest_decoy(system: QkdSystem) -> float:
    if not system.source.decoy_intensities:
        raise ParameterError("source.decoy_intensities", "the finite-key model needs a weakest decoy mu3")
    return min(system.source.decoy_intensities)


def _fixed_settings(system: QkdSystem) -> _Settings:
    counts_order = np.argsort(system.source.intensities)[::-1]
    mu = np.asarray(system.source.intensities, dtype=np.float64)[counts_order]
    p = np.asarray(system.source.intensity_probs, dtype=np.float64)[counts_order]
    if mu.size != 3:
        raise ParameterError("source.decoy_intensities", f"Lim et al. use two decoys, got {mu.size - 1}")
    if not (mu[0] > mu[1] + mu[2] and mu[1] > mu[2]) or np.min(p) <= 0.0:
        raise ParameterError("source", "need mu1 > mu2 + mu3, mu2 > mu3 and every intensity probability > 0")
    return _Settings(q=np.array([system.basis_prob]), mu=mu[None, :], p=p[None, :])


def _rate_point(
    system: QkdSystem,
    channel: Channel,
    block: _Block,
    *,
    params: FiniteKeyParams,
    after_pulses: AfterPulseAttribution,
    optimise: bool,
) -> FiniteKeyRatePoint:
    require_scalar(channel, "the finite-key rate")

    def evaluate(s: _Settings) -> tuple[FloatArray, FloatArray, _Core]:
        return _rate(system, channel, s, block, params=params, after_pulses=after_pulses)

    if optimise:
        mu3 = _weakest_decoy(system)
        # Extreme candidates (q_x -> 0, mu -> inf) overflow; they come out as -inf and lose.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
            chosen = _decode(_maximise(lambda z: evaluate(_decode(z, mu3))[0])[None, :], mu3)
    else:
        chosen = _fixed_settings(system)
    _, pulses, core = evaluate(chosen)
    bounds = _bounds_record(_Core(*(np.asarray(getattr(core, f.name))[0] for f in fields(_Core))))
    n_pulses = float(pulses[0])
    return FiniteKeyRatePoint(
        distance_km=fibre_length_km(channel),
        block_pulses=n_pulses,
        block_size=bounds.key_detections,
        key_rate_per_pulse=bounds.key_length_bits / n_pulses,
        key_basis_prob=float(chosen.q[0]),
        intensities=_triple(chosen.mu[0]),
        intensity_probs=_triple(chosen.p[0]),
        after_pulses=after_pulses,
        bounds=bounds,
    )


def _triple(values: FloatArray) -> tuple[float, float, float]:
    return (float(values[0]), float(values[1]), float(values[2]))


@dataclass(frozen=True, slots=True)
class _Column:
    """A channel of ``T`` samples with its quantities as columns, shape ``(T, 1)``, to broadcast against
    per-intensity arrays of shape ``(1, K)`` (the samples take the place of the optimiser's candidates)."""

    transmittance: FloatArray
    background: FloatArray

    @staticmethod
    def of(channel: Channel) -> _Column:
        samples = np.shape(channel.transmittance) or np.shape(channel.background)
        return _Column(
            transmittance=np.broadcast_to(np.asarray(channel.transmittance, dtype=np.float64), samples)[:, None],
            background=np.broadcast_to(np.asarray(channel.background, dtype=np.float64), samples)[:, None],
        )


def expected_counts(
    system: QkdSystem,
    channel: Channel,
    *,
    block_pulses: float,
    after_pulses: AfterPulseAttribution = AfterPulseAttribution.CAUSAL,
) -> DecoyCounts:
    """Expected counts of ``block_pulses`` pulses over ``channel`` with the system's basis and intensity settings.

    ``n_X,k = N q_x^2 p_k Q_k`` and ``m_X,k = N q_x^2 p_k E_k Q_k``; the test basis has ``(1 - q_x)^2``.

    A channel of ``T`` time samples (transmittance or background an array of shape ``(T,)``, e.g. the
    seconds of a satellite pass) sends ``block_pulses`` pulses at each sample, and the counts are the sums
    over the samples: the counts of a whole pass in one call. Dead time and after-pulses act within each
    sample.
    """
    require_positive("block_pulses", block_pulses)
    source = system.source
    s = _Settings(
        q=np.array([system.basis_prob]),
        mu=np.asarray(source.intensities, dtype=np.float64)[None, :],
        p=np.asarray(source.intensity_probs, dtype=np.float64)[None, :],
    )
    sampled = not (is_scalar(channel.transmittance) and is_scalar(channel.background))
    gain, errors = _per_pulse(system, _Column.of(channel) if sampled else channel, s, after_pulses)
    key, test = block_pulses * system.basis_prob**2, block_pulses * (1.0 - system.basis_prob) ** 2

    def scaled(values: FloatArray, factor: float) -> tuple[float, ...]:
        if sampled:  # the samples' counts, each as a scalar channel's, summed over the samples
            return tuple(float(v) for v in np.sum(factor * values, axis=0))
        return tuple(float(v) for v in factor * values[0])

    return DecoyCounts(
        intensities=source.intensities,
        intensity_probs=source.intensity_probs,
        key_detections=scaled(gain, key),
        key_errors=scaled(errors, key),
        test_detections=scaled(gain, test),
        test_errors=scaled(errors, test),
    )


def finite_key_rate(
    system: QkdSystem,
    channel: Channel,
    *,
    block_pulses: float,
    params: FiniteKeyParams = LIM2014_PARAMS,
    after_pulses: AfterPulseAttribution = AfterPulseAttribution.CAUSAL,
    optimise: bool = True,
) -> FiniteKeyRatePoint:
    """Finite-key rate ``R = l/N`` per pulse for a block of ``N = block_pulses`` pulses.

    Lim et al., PRA 89, 022307 (2014), eqs. (1)-(5) on the expected counts of :func:`expected_counts`.
    With ``optimise`` (the default) ``q_x``, ``p_mu1``, ``p_mu2``, ``mu1`` and ``mu2`` maximise ``R`` with
    ``mu3`` fixed at the system's weakest decoy, as in Lim et al., Sec. IV; otherwise the system's own
    settings (signal and two decoys) are used.

    Args:
        system: devices and (with ``optimise=False``) the basis and intensity settings.
        channel: the channel from Alice to Bob (one transmittance; its background adds to the dark counts).
        block_pulses: ``N``, pulses Alice sends for the block.
        params: security parameters; by default those of Lim et al.'s Fig. 1 (``eps_sec = 1e-15 l``,
            ``eps_cor = 1e-15``).
        after_pulses: qinternet's causal background (default) or Lim et al.'s same-class attribution,
            which their figures use (see :class:`AfterPulseAttribution`).
        optimise: maximise over the settings (``True``) or keep the system's.

    >>> from qinternet.params import get_preset
    >>> from qinternet.physics.channels import fibre_channel
    >>> system = get_preset("lim2014").system
    >>> point = finite_key_rate(system, fibre_channel(system.fibre, 50.0), block_pulses=1e11)
    >>> 1e-4 < point.key_rate_per_pulse < 1e-2
    True
    """
    require_positive("block_pulses", block_pulses)
    return _rate_point(
        system,
        channel,
        _Block(pulses=block_pulses),
        params=params,
        after_pulses=after_pulses,
        optimise=optimise,
    )


def finite_key_rate_at_block_size(
    system: QkdSystem,
    channel: Channel,
    *,
    block_size: float,
    params: FiniteKeyParams = LIM2014_PARAMS,
    after_pulses: AfterPulseAttribution = AfterPulseAttribution.CAUSAL,
    optimise: bool = True,
) -> FiniteKeyRatePoint:
    """Finite-key rate for a block of ``n_X = block_size`` key-basis detections (Lim et al.'s Fig. 1).

    The pulses follow from the settings: ``N = n_X / (q_x^2 sum_k p_k Q_k)``; otherwise as
    :func:`finite_key_rate`.
    """
    require_positive("block_size", block_size)
    return _rate_point(
        system,
        channel,
        _Block(size=block_size),
        params=params,
        after_pulses=after_pulses,
        optimise=optimise,
    )
