"""Four-intensity decoy-state MDI-QKD with joint constraints on the statistical fluctuations.

The protocol is the four-intensity method of Zhou, Yu, Wang, PRA 93, 042324 (2016), which Yin et al., PRL 117,
190501 (2016) used over 404 km: each party sends a signal ``s`` in the Z basis only, and in the X basis a weak
decoy ``x``, a strong decoy ``y > x`` and the vacuum ``o``
(:meth:`~qinternet.params.mdi.MdiSourceParams.four_intensity`). The key comes from the Z-basis ``(s, s)`` pairs;
the X-basis pairs bound the yield ``Y_11`` and the phase-error rate ``e_11`` of single-photon pairs. Statistical
fluctuations are handled with *joint constraints*: counts that enter a bound with the same sign are bounded
together, so that their fluctuations are those of their sum (Yu, Zhou, Wang, PRA 91, 032318 (2015); Zhou, Yu,
Wang 2016). What follows is qinternet's statement of that method, written out so it can be checked: the
papers' own equations were not at hand, so no equation number of theirs is quoted.

**Decoy bounds** (as :func:`~qinternet.qkd.mdi.y11_lower_bound` and :func:`~qinternet.qkd.mdi.e11_upper_bound`,
there in gains, here in expected counts ``<n_ab>`` of the pairs ``ab`` sent ``N_ab`` times; in a pair's name
``n``, ``m`` and ``0`` are the weak decoy, the strong decoy and the vacuum, and ``na``, ``ma`` (``nb``, ``mb``)
Alice's (Bob's) weak and strong decoy intensities; ``t = r_a r_b max(r_a, r_b)`` with ``r = n / m``):

    ``(na nb - t ma mb) Y_11 >= P - M``,
    ``P = e^(na+nb) <n_nn>/N_nn + t e^mb <n_0m>/N_0m + t e^ma <n_m0>/N_m0 + (1 - t) <n_00>/N_00``,
    ``M = e^nb <n_0n>/N_0n + e^na <n_n0>/N_n0 + t e^(ma+mb) <n_mm>/N_mm``;

    ``na nb e_11 Y_11 <= E_+ - E_-``,  ``E_+ = e^(na+nb) <err_nn>/N_nn + <n_00>/(2 N_00)``,
    ``E_- = e^nb <n_0n>/(2 N_0n) + e^na <n_n0>/(2 N_n0)``

(a vacuum pulse carries no bit, so half of the events with a vacuum are errors on average). So ``Y_11^L`` needs a
lower bound on ``P`` and an upper bound on ``M``, and ``e_11^U`` an upper bound on ``E_+`` and a lower bound on
``E_-``: four weighted sums ``W = sum_i w_i <c_i>`` of expected counts with weights ``w_i >= 0``.

**Joint constraints** (:func:`joint_bound`). Sort the weights, ``w_(1) <= ... <= w_(k)``; then
``W = sum_j (w_(j) - w_(j-1)) S_j`` with ``S_j = sum_(i >= j) <c_(i)>`` and ``w_(0) = 0`` (summation by parts),
every coefficient ``>= 0``. Each ``S_j`` is the expectation of a sum of independent Bernoulli trials, whose
observed value bounds it (:func:`expectation_bounds`); so ``W`` is bounded from the observed partial sums, with
``k`` one-sided estimates. Because the bound on a sum is tighter than the sum of the bounds (the fluctuation
grows as the square root of the count), this is never looser than bounding each count alone, and the four
sums cost ``4 + 3 + 2 + 2 =`` :data:`JOINT_ESTIMATES` estimates in all.

**Key rate** per pulse pair, the form of Wei et al., PRX 10, 031030 (2020), eq. (A1) (their analysis is the same
four-intensity method with joint constraints):

    ``R = (N_zz / N) [ s_a s_b e^(-s_a - s_b) Y_11^L (1 - h(e_11^U)) - f Q_zz h(E_zz) ]``,

with ``Q_zz`` and ``E_zz`` the observed gain and error rate of the Z-basis ``(s, s)`` pairs. As in those papers,
the single-photon pairs of the key are counted by their expectation, the Z-basis phase error of single-photon
pairs equals their X-basis error rate (the single-photon states do not depend on the basis), and no
error-verification or privacy-amplification term is subtracted; ``JOINT_ESTIMATES * eps_estimate`` bounds the
probability that a parameter estimate fails. :func:`qinternet.qkd.mdi_finite.finite_key_length` is the
composable (and looser) analysis.

The Chernoff bounds need independent trials (collective attacks), as in
:mod:`qinternet.qkd.mdi_finite`; the Gaussian option is the "standard error analysis" (a number of standard
deviations) that Wei et al. (2020, Sec. III) name for their finite-key treatment, which is not a bound for small
counts.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize
from scipy.special import ndtri
from scipy.stats import qmc

from qinternet.errors import ParameterError
from qinternet.params.checks import require_epsilon, require_positive, require_probability
from qinternet.params.mdi import MAX_MDI_INTENSITY, BsmStationParams, MdiSourceParams, MdiSystem
from qinternet.physics.detectors import error_rate
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.mdi import X, Z, decoy_excess_ratio, gain_and_error_weight, outcome_probabilities
from qinternet.qkd.mdi_finite import (
    DecoyPairCounts,
    MdiCounts,
    chernoff_expectation_bounds,
    decoy_pair_counts,
    expected_counts,
)

__all__ = [
    "JOINT_ESTIMATES",
    "Fluctuation",
    "FourIntensityKey",
    "JointConstraintParams",
    "expectation_bounds",
    "four_intensity_key",
    "four_intensity_key_rate",
    "joint_bound",
    "optimise_four_intensity",
]

FloatArray = NDArray[np.float64]

JOINT_ESTIMATES = 11
"""One-sided estimates that may fail: 4 partial sums for ``P``, 3 for ``M``, 2 each for ``E_+`` and ``E_-``."""


class Fluctuation(enum.Enum):
    """How an observed count bounds its expectation."""

    CHERNOFF = "chernoff"
    """Multiplicative Chernoff tails (:func:`~qinternet.qkd.mdi_finite.chernoff_expectation_bounds`)."""
    GAUSSIAN = "gaussian"
    """``x -+ n_sigma sqrt(x)`` with ``n_sigma`` the one-sided normal quantile of ``1 - eps``: the "standard error
    analysis" of Wei et al. (2020); an approximation, not a bound, for small counts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JointConstraintParams:
    """Statistical parameters of the joint-constraint analysis.

    Attributes:
        eps_estimate: failure probability of each one-sided estimate, in (0, 1) (Yin et al. (2016) quote
            ``1e-10``, Wei et al. (2020), Table I).
        fluctuation: Chernoff (default) or Gaussian.
    """

    eps_estimate: float = 1e-10
    fluctuation: Fluctuation = Fluctuation.CHERNOFF

    def __post_init__(self) -> None:
        require_epsilon("eps_estimate", self.eps_estimate)
        if not isinstance(self.fluctuation, Fluctuation):
            raise ParameterError("fluctuation", f"must be a Fluctuation, got {self.fluctuation!r}")

    @property
    def failure_prob(self) -> float:
        """Probability that any estimate fails (union bound): ``JOINT_ESTIMATES * eps_estimate``."""
        return JOINT_ESTIMATES * self.eps_estimate


def expectation_bounds(observed: ArrayLike, params: JointConstraintParams) -> tuple[FloatArray, FloatArray]:
    """``(E^L, E^U)`` of a count's expectation from its observed value, each side failing with ``eps_estimate``.

    >>> gaussian = JointConstraintParams(eps_estimate=0.05, fluctuation=Fluctuation.GAUSSIAN)
    >>> low, high = expectation_bounds(100.0, gaussian)
    >>> round(float(low), 2), round(float(high), 2)  # 100 -+ 1.645 * 10
    (83.55, 116.45)
    """
    x = np.asarray(observed, dtype=np.float64)
    if params.fluctuation is Fluctuation.CHERNOFF:
        return chernoff_expectation_bounds(x, params.eps_estimate)
    n_sigma = float(ndtri(1.0 - params.eps_estimate))
    spread = n_sigma * np.sqrt(np.maximum(x, 0.0))
    return np.asarray(np.maximum(x - spread, 0.0)), np.asarray(x + spread)


def joint_bound(weights: ArrayLike, counts: ArrayLike, params: JointConstraintParams, *, upper: bool) -> FloatArray:
    """A lower (or upper) bound on ``sum_i w_i <c_i>`` from the observed counts ``c_i``, with joint constraints.

    The weights are sorted and the sum rewritten as ``sum_j (w_(j) - w_(j-1)) S_j`` over the partial sums
    ``S_j`` of the counts with the ``k - j + 1`` largest weights (module docstring); each ``S_j`` is bounded
    from its observed value. ``k`` one-sided estimates, each failing with ``eps_estimate``.

    Args:
        weights: float, shape (..., k), every weight >= 0 and finite.
        counts: float, shape (..., k), the observed counts (>= 0).
        params: the fluctuation model and ``eps_estimate``.
        upper: an upper bound if True, else a lower bound.

    Returns:
        float64, shape (...).

    >>> p = JointConstraintParams(eps_estimate=0.05, fluctuation=Fluctuation.GAUSSIAN)
    >>> float(joint_bound([1.0, 1.0], [50.0, 50.0], p, upper=False)) == float(expectation_bounds(100.0, p)[0])
    True
    """
    w, c = np.broadcast_arrays(np.asarray(weights, dtype=np.float64), np.asarray(counts, dtype=np.float64))
    if w.ndim == 0:
        raise ParameterError("weights", "needs a last axis over the counts")
    if not np.all(np.isfinite(w)) or np.any(w < 0.0):
        raise ParameterError("weights", "must be finite and >= 0")
    if not np.all(np.isfinite(c)) or np.any(c < 0.0):
        raise ParameterError("counts", "must be finite and >= 0")
    order = np.argsort(w, axis=-1, kind="stable")
    w_sorted = np.take_along_axis(w, order, axis=-1)
    c_sorted = np.take_along_axis(c, order, axis=-1)
    partial = np.flip(np.cumsum(np.flip(c_sorted, axis=-1), axis=-1), axis=-1)  # S_j = sum_{i >= j} c_(i)
    steps = np.diff(w_sorted, axis=-1, prepend=0.0)
    bound = expectation_bounds(partial, params)[1 if upper else 0]
    return np.asarray(np.sum(steps * bound, axis=-1))


@dataclass(frozen=True, slots=True, kw_only=True)
class FourIntensityKey:
    """Bounds and key rate of a block by the four-intensity joint-constraint analysis (arrays over leading axes).

    Attributes:
        block_pulse_pairs: ``N``.
        z_heralded: heralded Z-basis signal pairs (the sifted key).
        z_gain: ``Q_zz``, heralded fraction of the Z-basis signal pairs.
        z_error_rate: ``E_zz``.
        y11_lower: ``Y_11^L`` per pulse pair.
        e11_upper: ``e_11^U`` (1/2 where ``Y_11^L = 0``).
        single_photon_pairs_lower: ``N_zz s_a s_b e^(-s_a - s_b) Y_11^L``, single-photon pairs in the key.
        key_rate_per_pulse_pair: ``R`` (>= 0).
        key_bits: ``N R``.
        eps_estimate: failure probability of each estimate.
        failure_prob: probability that any of the :data:`JOINT_ESTIMATES` estimates fails.
    """

    block_pulse_pairs: FloatArray
    z_heralded: FloatArray
    z_gain: FloatArray
    z_error_rate: FloatArray
    y11_lower: FloatArray
    e11_upper: FloatArray
    single_photon_pairs_lower: FloatArray
    key_rate_per_pulse_pair: FloatArray
    key_bits: FloatArray
    eps_estimate: float
    failure_prob: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (arrays as lists, scalars as floats)."""
        return {name: np.asarray(getattr(self, name)).tolist() for name in self.__dataclass_fields__}


def _per_pair(sent: FloatArray) -> FloatArray:
    """``1 / sent`` as a weight, 0 where nothing was sent (then the count is 0 too)."""
    return np.asarray(np.where(sent > 0.0, 1.0 / np.where(sent > 0.0, sent, 1.0), 0.0))


def four_intensity_key(
    counts: MdiCounts,
    system: MdiSystem,
    params: JointConstraintParams | None = None,
    *,
    intensities_a: ArrayLike | None = None,
    intensities_b: ArrayLike | None = None,
) -> FourIntensityKey:
    """Key rate of a block from its counts by the four-intensity joint-constraint analysis (module docstring).

    Args:
        counts: observed (or expected) counts of the block, shape (..., K, 2, K, 2).
        system: which intensity plays which role (signal, weak and strong decoy, vacuum), and ``f``.
        params: fluctuation model and ``eps_estimate`` (defaults: Chernoff, 1e-10).
        intensities_a, intensities_b: float, shape (..., K): the intensities the counts were taken with, when
            they differ from the system's (a batch of settings); same order and roles as the system's.
    """
    a, b = system.alice, system.bob
    mu_a = np.asarray(a.intensities if intensities_a is None else intensities_a, dtype=np.float64)
    mu_b = np.asarray(b.intensities if intensities_b is None else intensities_b, dtype=np.float64)
    roles = _Roles(
        weak_a=mu_a[..., a.weak_index],
        weak_b=mu_b[..., b.weak_index],
        strong_a=mu_a[..., a.strong_index],
        strong_b=mu_b[..., b.strong_index],
        signal_a=mu_a[..., a.signal_index],
        signal_b=mu_b[..., b.signal_index],
    )
    params = JointConstraintParams() if params is None else params
    return _estimate(decoy_pair_counts(counts, system), counts.pulse_pairs, roles, system.ec_efficiency, params)[0]


@dataclass(frozen=True, slots=True)
class _Roles:
    """The intensities by role (arrays over the leading axes)."""

    weak_a: FloatArray
    weak_b: FloatArray
    strong_a: FloatArray
    strong_b: FloatArray
    signal_a: FloatArray
    signal_b: FloatArray


def _estimate(
    obs: DecoyPairCounts, total: FloatArray, roles: _Roles, ec_efficiency: float, params: JointConstraintParams
) -> tuple[FourIntensityKey, FloatArray]:
    """The bounds and the key rate of the module docstring from the counts by role, and a search score.

    The score guides the optimiser where the key rate is flat at 0. It is the key rate where that is > 0; in
    [-2, -1) where ``Y_11^L > 0`` but the single-photon term does not pay for error correction (the ratio of the
    two, minus 2); in [-3, -2] where the decoy bound is empty (``P / M - 3``, module docstring). Both ratios
    are free of the signal's probability, so a setting cannot improve them by sending no key.
    """
    na, nb, ma, mb = roles.weak_a, roles.weak_b, roles.strong_a, roles.strong_b
    sa, sb = roles.signal_a, roles.signal_b
    t = decoy_excess_ratio(na, nb, ma, mb)
    sent, n = obs.sent, obs.heralded

    def inv(key: str) -> FloatArray:
        return _per_pair(sent[key])

    def bound(weights: tuple[FloatArray, ...], counts: tuple[FloatArray, ...], *, upper: bool) -> FloatArray:
        w = np.stack(np.broadcast_arrays(*weights), axis=-1)
        c = np.stack(np.broadcast_arrays(*counts), axis=-1)
        w, c = np.broadcast_arrays(w, c)
        return joint_bound(w, c, params, upper=upper)

    positive = bound(
        (np.exp(na + nb) * inv("nn"), t * np.exp(mb) * inv("0m"), t * np.exp(ma) * inv("m0"), (1.0 - t) * inv("00")),
        (n["nn"], n["0m"], n["m0"], n["00"]),
        upper=False,
    )
    negative = bound(
        (np.exp(nb) * inv("0n"), np.exp(na) * inv("n0"), t * np.exp(ma + mb) * inv("mm")),
        (n["0n"], n["n0"], n["mm"]),
        upper=True,
    )
    y11_raw = (positive - negative) / (na * nb - t * ma * mb)
    y11 = np.maximum(y11_raw, 0.0)
    errors_up = bound((np.exp(na + nb) * inv("nn"), 0.5 * inv("00")), (obs.errors_nn, n["00"]), upper=True)
    vacuum_low = bound((0.5 * np.exp(nb) * inv("0n"), 0.5 * np.exp(na) * inv("n0")), (n["0n"], n["n0"]), upper=False)
    ey11 = np.maximum(errors_up - vacuum_low, 0.0) / (na * nb)
    some = y11 > 0.0
    e11 = np.where(some, np.clip(ey11 / np.where(some, y11, 1.0), 0.0, 0.5), 0.5)
    z_gain = np.where(obs.z_sent > 0.0, obs.z_heralded / np.where(obs.z_sent > 0.0, obs.z_sent, 1.0), 0.0)
    e_z = error_rate(obs.z_errors, obs.z_heralded)
    single = obs.z_sent * sa * sb * np.exp(-sa - sb) * y11
    leak = ec_efficiency * obs.z_heralded * binary_entropy(e_z)
    unclipped = (single * (1.0 - binary_entropy(e11)) - leak) / total
    paying = single * (1.0 - binary_entropy(e11))
    ratio = np.where(leak > 0.0, paying / np.where(leak > 0.0, leak, 1.0), 1.0)
    empty = np.where(negative > 0.0, np.maximum(positive, 0.0) / np.where(negative > 0.0, negative, 1.0), 1.0) - 3.0
    score = np.where(unclipped > 0.0, unclipped, np.where(some, np.minimum(ratio, 1.0) - 2.0, np.minimum(empty, -2.0)))
    rate = np.maximum(unclipped, 0.0)
    fields = np.broadcast_arrays(total, obs.z_heralded, z_gain, e_z, y11, e11, single, rate, rate * total)
    key = FourIntensityKey(
        block_pulse_pairs=fields[0],
        z_heralded=fields[1],
        z_gain=fields[2],
        z_error_rate=fields[3],
        y11_lower=fields[4],
        e11_upper=fields[5],
        single_photon_pairs_lower=fields[6],
        key_rate_per_pulse_pair=fields[7],
        key_bits=fields[8],
        eps_estimate=params.eps_estimate,
        failure_prob=params.failure_prob,
    )
    return key, np.asarray(score)


def four_intensity_key_rate(
    system: MdiSystem,
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    *,
    block_pulse_pairs: float,
    params: JointConstraintParams | None = None,
) -> FourIntensityKey:
    """:func:`four_intensity_key` of the expected counts of ``N`` pulse pairs over arms ``eta_a``, ``eta_b``.

    Vectorised over ``eta_a`` and ``eta_b`` (transmittances without the detector efficiency).
    """
    counts = expected_counts(system, eta_a, eta_b, block_pulse_pairs)
    return four_intensity_key(counts, system, params)


# --------------------------------------------------------------------------------------------------
# Optimising the intensities and their probabilities.

_SEARCH_POINTS = 512
"""Quasi-random (Halton) settings tried before the local refinement."""
_BATCH = 512
"""Settings evaluated in one vectorised call (bounds the memory of the relay model to some tens of MB)."""
_SIGNAL_RANGE = (0.01, 1.0)
"""Mean photon numbers searched for the signal ``s`` (log-uniform)."""
_WEAK_RANGE = (0.002, 0.5)
"""Mean photon numbers searched for the weak decoy ``x`` (log-uniform)."""
_STRONG_MAX = 1.0
"""Largest strong decoy ``y`` searched (above ``x``)."""
_UNIT_MARGIN = 1e-3
"""Keeps every probability of a setting at least about this far from 0 (the vacuum included)."""
_REFINE_EVALUATIONS = 300
"""Most evaluations of one Nelder-Mead pass."""
_REFINE_PASSES = 3
"""Most Nelder-Mead passes from one start (a pass restarts from where the last stopped)."""
_STARTS = 1
"""Halton points refined; one suffices for the cases of the tests (more starts found the same optima)."""

# The pairs the analysis uses in the layout (s, y, x, 0): (Alice's index, Bob's index), X basis; Z pair apart.
_X_PAIRS = {"nn": (2, 2), "0n": (3, 2), "n0": (2, 3), "00": (3, 3), "mm": (1, 1), "0m": (3, 1), "m0": (1, 3)}
_VACUUM = 3


def _settings(u: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Intensities (..., 4) and weights (..., 4, 2) of the layout ``(s, y, x, 0)`` from ``u`` in [0, 1]^6.

    ``s`` and ``x`` are log-uniform over their ranges, ``y = x + u_2 (1 - x)``; the probabilities break a stick:
    ``P_s = u_3``, ``P_x = (1 - P_s) u_4``, ``P_y = (1 - P_s - P_x) u_5`` and the vacuum has the rest.
    """
    u = np.clip(u, _UNIT_MARGIN, 1.0 - _UNIT_MARGIN)
    s = _SIGNAL_RANGE[0] * (_SIGNAL_RANGE[1] / _SIGNAL_RANGE[0]) ** u[..., 0]
    x = _WEAK_RANGE[0] * (_WEAK_RANGE[1] / _WEAK_RANGE[0]) ** u[..., 1]
    y = x + u[..., 2] * (_STRONG_MAX - x)
    ps = u[..., 3]
    px = (1.0 - ps) * u[..., 4]
    py = (1.0 - ps - px) * u[..., 5]
    po = 1.0 - ps - px - py
    zero = np.zeros_like(s)
    intensities = np.stack([s, y, x, zero], axis=-1)
    z = np.stack([ps, zero, zero, zero], axis=-1)
    xb = np.stack([zero, py, px, po], axis=-1)
    return intensities, np.stack([z, xb], axis=-1)


def _expected_pairs(
    bsm: BsmStationParams,
    intensities: FloatArray,
    weights: FloatArray,
    eta_a: float,
    eta_b: float,
    block_pulse_pairs: float,
) -> DecoyPairCounts:
    """The expected counts of only the pairs the analysis uses, for symmetric settings of the layout (s, y, x, 0).

    The same numbers as :func:`~qinternet.qkd.mdi_finite.expected_counts_for` followed by
    :func:`~qinternet.qkd.mdi_finite.decoy_pair_counts`, for 8 pairs instead of all 16 x 4.
    """
    index_a = np.array([0] + [i for i, _ in _X_PAIRS.values()])
    index_b = np.array([0] + [j for _, j in _X_PAIRS.values()])
    probs = outcome_probabilities(bsm, intensities[..., index_a], intensities[..., index_b], eta_a, eta_b)
    gain_z, error_z = gain_and_error_weight(probs[..., 0, :, :, :, :], Z)
    gain_x, error_x = gain_and_error_weight(probs[..., 1:, :, :, :, :], X)
    x_weight = weights[..., 1].copy()
    x_weight[..., _VACUUM] = weights[..., _VACUUM, :].sum(axis=-1)  # the vacuum has no basis
    sent = {key: block_pulse_pairs * x_weight[..., i] * x_weight[..., j] for key, (i, j) in _X_PAIRS.items()}
    z_sent = block_pulse_pairs * weights[..., 0, 0] ** 2
    return DecoyPairCounts(
        sent=sent,
        heralded={key: sent[key] * gain_x[..., k] for k, key in enumerate(_X_PAIRS)},
        errors_nn=sent["nn"] * error_x[..., 0],
        z_sent=z_sent,
        z_heralded=z_sent * gain_z,
        z_errors=z_sent * error_z,
    )


def _scores(
    system: MdiSystem, u: FloatArray, eta_a: float, eta_b: float, block: float, params: JointConstraintParams
) -> FloatArray:
    """Search scores (:func:`_estimate`) of the settings ``u`` (..., 6)."""
    intensities, weights = _settings(u)
    obs = _expected_pairs(system.bsm, intensities, weights, eta_a, eta_b, block)
    roles = _Roles(
        weak_a=intensities[..., 2],
        weak_b=intensities[..., 2],
        strong_a=intensities[..., 1],
        strong_b=intensities[..., 1],
        signal_a=intensities[..., 0],
        signal_b=intensities[..., 0],
    )
    return _estimate(obs, np.asarray(block), roles, system.ec_efficiency, params)[1]


def _search(system: MdiSystem, eta_a: float, eta_b: float, block: float, params: JointConstraintParams) -> FloatArray:
    """The settings ``u`` with the best search score: a Halton sequence, then Nelder-Mead from its best point.

    Nelder-Mead runs again from where it stopped while that improves the score (at most
    :data:`_REFINE_PASSES` times): each pass measures its tolerance relative to its starting score, which
    changes by orders of magnitude once the search crosses from no key to a key.
    """
    points = qmc.Halton(d=6, scramble=False).random(_SEARCH_POINTS)
    found = np.concatenate(
        [_scores(system, points[i : i + _BATCH], eta_a, eta_b, block, params) for i in range(0, _SEARCH_POINTS, _BATCH)]
    )
    results = [_refine(system, points[i], float(found[i]), eta_a, eta_b, block, params) for i in _top(found)]
    return max(results, key=lambda r: r[1])[0]


def _top(found: FloatArray) -> list[int]:
    """Indices of the :data:`_STARTS` best scores."""
    return [int(i) for i in np.argsort(found)[::-1][:_STARTS]]


def _refine(
    system: MdiSystem,
    start: FloatArray,
    score: float,
    eta_a: float,
    eta_b: float,
    block: float,
    params: JointConstraintParams,
) -> tuple[FloatArray, float]:
    """Nelder-Mead from ``start`` (score ``score``), restarted while it improves; the best ``(u, score)``."""
    best_u, best = start, score
    for _ in range(_REFINE_PASSES):
        scale = max(abs(best), 1e-300)

        def loss(u: FloatArray, scale: float = scale) -> float:
            if np.any(u < 0.0) or np.any(u > 1.0):
                return math.inf
            return -float(_scores(system, u[None, :], eta_a, eta_b, block, params)[0]) / scale

        steps = np.where(best_u < 0.5, 0.05, -0.05)
        result = optimize.minimize(
            loss,
            best_u,
            method="Nelder-Mead",
            options={
                "maxfev": _REFINE_EVALUATIONS,
                "xatol": 1e-4,
                "fatol": 1e-5,
                "initial_simplex": np.vstack([best_u, best_u + np.diag(steps)]),
            },
        )
        value = -float(result.fun) * scale
        if not value > best + 1e-6 * abs(best):
            break
        best_u, best = np.asarray(result.x, dtype=np.float64), value
    return best_u, best


def optimise_four_intensity(
    system: MdiSystem,
    eta_a: float,
    eta_b: float,
    *,
    block_pulse_pairs: float,
    params: JointConstraintParams | None = None,
) -> tuple[MdiSystem, FourIntensityKey]:
    """The symmetric four-intensity sources that maximise :func:`four_intensity_key_rate`, and their key.

    Both parties use the same six settings ``(s, x, y, P_s, P_x, P_y)``, as Wei et al. (2020) do for equal
    arms and as Yin et al. (2016) ("optimized four-intensity") did. The search is deterministic: a Halton
    sequence of settings evaluated in vectorised batches, then Nelder-Mead from the best of them; near the
    cut-off, where few settings give a key, it follows the rate before clipping (:func:`_estimate`). The relay, ``f``
    and the repetition rate come from ``system``; its sources are replaced.

    Returns:
        The system with the optimal sources and their :class:`FourIntensityKey`; ``system`` itself and its key
        when no setting gives a key.
    """
    params = JointConstraintParams() if params is None else params
    require_probability("eta_a", eta_a)
    require_probability("eta_b", eta_b)
    require_positive("block_pulse_pairs", block_pulse_pairs)
    u = _search(system, float(eta_a), float(eta_b), float(block_pulse_pairs), params)
    optimum = _four_intensity_system(system, u)
    key = four_intensity_key_rate(optimum, eta_a, eta_b, block_pulse_pairs=block_pulse_pairs, params=params)
    if not float(key.key_rate_per_pulse_pair) > 0.0:
        return system, four_intensity_key_rate(system, eta_a, eta_b, block_pulse_pairs=block_pulse_pairs, params=params)
    return optimum, key


def _four_intensity_system(system: MdiSystem, u: FloatArray) -> MdiSystem:
    intensities, weights = _settings(u)
    s, y, x, _ = (float(v) for v in intensities)
    source = MdiSourceParams.four_intensity(
        signal=min(s, MAX_MDI_INTENSITY),
        strong_decoy=y,
        weak_decoy=x,
        signal_prob=float(weights[0, 0]),
        strong_decoy_prob=float(weights[1, 1]),
        weak_decoy_prob=float(weights[2, 1]),
        rep_rate_hz=system.rep_rate_hz,
    )
    return MdiSystem(alice=source, bob=source, bsm=system.bsm, ec_efficiency=system.ec_efficiency)
