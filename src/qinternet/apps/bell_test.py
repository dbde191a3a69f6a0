"""A CHSH Bell test between two nodes sharing entangled pairs: the exact S and a finite-sample experiment.

Settings (Clauser, Horne, Shimony, Holt, PRL 23, 880 (1969)), optimal for ``|Phi+>``: Alice measures
``a0 = Z`` or ``a1 = X``, Bob ``b0 = (Z + X)/sqrt 2`` or ``b1 = (Z - X)/sqrt 2``, and
``S = E00 + E01 + E10 - E11`` with ``Eij = <a_i x b_j>``. For a Bell-diagonal pair with correlations
``<XX>, <ZZ>`` (:func:`qinternet.states.bell.correlations`): ``E00 = E01 = <ZZ>/sqrt 2``, ``E10 = -E11 = <XX>/sqrt 2``,
so ``S = sqrt 2 (<ZZ> + <XX>)`` = :func:`qinternet.states.bell.chsh_standard`; local realism bounds ``|S| <= 2``.

Noise of the nodes (:class:`qinternet.params.processor.ProcessorParams`):

* readout: each party's ±1 outcome is flipped independently with probability ``1 - f``. With ``s`` the flip
  sign, ``E[s] = f - (1 - f) = 2f - 1``, and as the flips are independent of each other and of the outcomes,
  ``E'ij = E[a s_A b s_B] = (2 f_A - 1)(2 f_B - 1) Eij`` - the factor ``(2f - 1)**2`` for equal readouts;
* basis rotation: a setting other than Z needs one single-qubit gate before the Z readout (Alice's X, both of
  Bob's), whose depolarising noise (probability ``p1``) shrinks that qubit's Bloch components, hence the
  correlator, by ``1 - p1``. Photonic receivers (waveplates) have no such noise: pass ``None``.

Statistics: each pair's setting pair ``(i, j)`` is drawn uniformly (as experiments do with random number
generators); outcomes are drawn from the state: for a Bell-diagonal pair both marginals are uniform, so
``P(a, b) = (1 + a b E'ij)/4``. The estimate of ``Eij`` from ``N_ij`` trials is the mean of ``a b`` with variance
``(1 - Eij**2)/N_ij`` (a ±1 variable), and the four are independent given the counts, so
``sigma_S**2 = sum_ij (1 - Eij**2)/N_ij``. The violation is ``(|S| - 2)/sigma_S`` standard deviations with the
one-sided normal p-value ``P(Z > (|S| - 2)/sigma_S)`` (the normal approximation; a conservative martingale bound is
not attempted here).

Photonic sources: a pair of visibility ``V`` is the Werner state ``w = V`` (:func:`pair_of_visibility`), whose
``S = 2 sqrt 2 V``; from QKD error rates, ``<ZZ> = 1 - 2 e_Z`` and ``<XX> = 1 - 2 e_X`` give
``S = 2 sqrt 2 (1 - e_Z - e_X)`` for any Bell-diagonal pair with those error rates (:func:`pair_of_qber`).

Published: Yin et al., "Satellite-based entanglement distribution over 1200 kilometers", Science 356, 1140
(2017): two Micius downlinks to Delingha and Lijiang, 1,203 km apart; "a violation of Bell inequality by
2.37 +/- 0.09 under strict Einstein locality conditions" (abstract, arXiv:1707.01339). ``S = 2.37`` is the Werner
visibility ``2.37/(2 sqrt 2) = 0.838``; at that visibility the error formula above gives ``sigma_S = 0.09`` for
about 1,300 pairs (our inference, not a number the abstract states).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.apps.outcome import AppOutcome
from qinternet.errors import ParameterError
from qinternet.params.checks import require_probability
from qinternet.params.processor import ProcessorParams
from qinternet.states import bell

__all__ = [
    "CHSH_SIGNS",
    "LOCAL_BOUND",
    "MAX_PAIRS",
    "YIN_2017_CHSH_S",
    "chsh_exact",
    "chsh_of_correlators",
    "chsh_test",
    "correlators_exact",
    "pair_of_qber",
    "pair_of_visibility",
]

LOCAL_BOUND = 2.0
"""``|S| <= 2`` for local hidden-variable models (Clauser et al. 1969)."""
CHSH_SIGNS = np.array([[1.0, 1.0], [1.0, -1.0]])
"""Signs of ``E[i, j]`` in ``S``."""
YIN_2017_CHSH_S = (2.37, 0.09)
"""Micius, 1,203 km between ground stations: S and its error (Yin et al., Science 356, 1140 (2017), abstract)."""
MAX_PAIRS = 100_000_000
"""Most pairs one Monte-Carlo call draws (four arrays of this length are held)."""

_Z_SCORE_95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


def _shrink(processor: ProcessorParams | None, rotated: tuple[bool, bool]) -> NDArray[np.float64]:
    """Per-setting factor of one party: readout ``2f - 1`` times ``1 - p1`` where a basis rotation is needed."""
    if processor is None:
        return np.ones(2)
    gate = 1.0 - processor.single_qubit_depolarising
    readout = 2.0 * processor.measurement_fidelity - 1.0
    return np.array([readout * (gate if r else 1.0) for r in rotated])


def _state_correlators(pair: NDArray[np.float64]) -> NDArray[np.float64]:
    c = bell.correlations(pair)
    xx, zz = c[..., 0], c[..., 2]
    e = np.stack([np.stack([zz, zz], axis=-1), np.stack([xx, -xx], axis=-1)], axis=-2)
    return np.asarray(e / math.sqrt(2.0), dtype=np.float64)


def _gate_only(processor: ProcessorParams | None) -> ProcessorParams | None:
    return (
        None if processor is None else ProcessorParams(single_qubit_gate_fidelity=processor.single_qubit_gate_fidelity)
    )


def correlators_exact(
    pair: ArrayLike, processor_a: ProcessorParams | None = None, processor_b: ProcessorParams | None = None
) -> NDArray[np.float64]:
    """The four correlators ``E[..., i, j]`` (Alice setting ``i``, Bob ``j``) with the nodes' noise, shape
    ``(..., 2, 2)`` (module docstring). ``None``: a perfect (photonic) measurement.

    Raises:
        ParameterError: a malformed pair.
    """
    p = bell.as_bell_diagonal(pair, "pair")
    sa = _shrink(processor_a, (False, True))
    sb = _shrink(processor_b, (True, True))
    return np.asarray(_state_correlators(p) * sa[:, None] * sb[None, :], dtype=np.float64)


def chsh_of_correlators(e: ArrayLike) -> NDArray[np.float64]:
    """``S = E00 + E01 + E10 - E11`` of correlators ``(..., 2, 2)``."""
    return np.asarray((np.asarray(e, dtype=np.float64) * CHSH_SIGNS).sum(axis=(-2, -1)), dtype=np.float64)


def chsh_exact(
    pair: ArrayLike, processor_a: ProcessorParams | None = None, processor_b: ProcessorParams | None = None
) -> NDArray[np.float64]:
    """The expected S at the standard settings with the nodes' noise, shape ``pair.shape[:-1]``.

    >>> round(float(chsh_exact(bell.perfect_pair())), 12) == round(2 * math.sqrt(2), 12)
    True
    """
    return chsh_of_correlators(correlators_exact(pair, processor_a, processor_b))


def pair_of_visibility(visibility: ArrayLike) -> NDArray[np.float64]:
    """The Werner pair of a photonic source's two-photon visibility ``V`` (``w = V``), ``S = 2 sqrt 2 V``.

    Raises:
        ParameterError: a visibility outside [0, 1].
    """
    v = np.asarray(visibility, dtype=np.float64)
    if not np.all((v >= 0.0) & (v <= 1.0)):
        raise ParameterError("visibility", "must be in [0, 1]")
    return bell.werner(v)


def pair_of_qber(qber_z: float, qber_x: float | None = None) -> NDArray[np.float64]:
    """A Bell-diagonal pair with QKD error rates ``e_Z`` (Z basis) and ``e_X`` (X basis, default ``e_Z``).

    The error rates fix ``<ZZ> = 1 - 2 e_Z`` and ``<XX> = 1 - 2 e_X`` and hence S at the standard settings; the
    split of the Y component is not observable from them, and this takes the X and Z error bits independent:
    ``[(1-e_Z)(1-e_X), e_Z(1-e_X), (1-e_Z)e_X, e_Z e_X]`` (an X error flips Z outcomes, a Z error X outcomes).

    Raises:
        ParameterError: an error rate outside [0, 1/2].
    """
    ex = qber_z if qber_x is None else qber_x
    require_probability("qber_z", qber_z, upper=0.5)
    require_probability("qber_x", ex, upper=0.5)
    ez = qber_z
    return bell.stack((1 - ez) * (1 - ex), ez * (1 - ex), (1 - ez) * ex, ez * ex)


def chsh_test(
    pairs: ArrayLike,
    rng: np.random.Generator,
    count: int | None = None,
    *,
    processor_a: ProcessorParams | None = None,
    processor_b: ProcessorParams | None = None,
    nodes: tuple[str, str] = ("A", "B"),
) -> AppOutcome:
    """Run a CHSH test on ``count`` pairs with random settings and estimate S with its standard error.

    Args:
        pairs: Bell-diagonal pairs ``(4,)`` or ``(n, 4)``; trial ``t`` uses pair ``t mod n``.
        rng: the random stream.
        count: number of pairs measured (default: one per given pair; required for a single ``(4,)`` pair).
        processor_a: Alice's node (``None``: perfect measurement, e.g. a photonic receiver).
        processor_b: Bob's node.
        nodes: the two nodes' names.

    Returns:
        ``AppOutcome(app="chsh", metric="chsh_s")``, ci95 ``S +- 1.96 sigma_S``; details: the correlators and their
        counts, ``standard_error``, ``pairs``, ``sigma_violation`` ``(|S| - 2)/sigma_S``, ``p_value`` (one-sided,
        normal), the exact S over the same pairs.

    Raises:
        ParameterError: malformed pairs, a count missing or outside [8, MAX_PAIRS], or a setting pair that drew no
            trial (too few pairs for four correlators).
    """
    p = bell.as_bell_diagonal(pairs, "pairs")
    p2 = p.reshape(-1, 4)
    if count is None:
        if p.ndim == 1:
            raise ParameterError("count", "required when a single pair (4,) is given")
        count = len(p2)
    if not 8 <= count <= MAX_PAIRS:
        raise ParameterError("count", f"must be in [8, {MAX_PAIRS}] (four correlators need pairs), got {count}")
    used = p2[np.arange(count) % len(p2)]
    settings = rng.integers(0, 2, (count, 2))
    # correlations the state yields at each trial's settings, gates included; readout flips are drawn separately
    e_true = correlators_exact(used, _gate_only(processor_a), _gate_only(processor_b))
    e_trial = e_true[np.arange(count), settings[:, 0], settings[:, 1]]
    a = np.where(rng.random(count) < 0.5, 1, -1)
    b = a * np.where(rng.random(count) < (1.0 + e_trial) / 2.0, 1, -1)
    for outcome, proc in ((a, processor_a), (b, processor_b)):
        if proc is not None:
            outcome *= np.where(rng.random(count) < proc.readout_flip, -1, 1)
    code = 2 * settings[:, 0] + settings[:, 1]
    counts = np.bincount(code, minlength=4)
    if np.any(counts == 0):
        raise ParameterError("count", f"too few pairs: a setting pair drew no trial among {count}")
    sums = np.bincount(code, weights=(a * b).astype(np.float64), minlength=4)
    e_hat = (sums / counts).reshape(2, 2)
    s = float(chsh_of_correlators(e_hat))
    sigma = math.sqrt(float(np.sum((1.0 - e_hat.reshape(4) ** 2) / counts)))
    if sigma > 0.0:
        z = (abs(s) - LOCAL_BOUND) / sigma
        p_value = 0.5 * math.erfc(z / math.sqrt(2.0))
    else:
        z = math.inf if abs(s) > LOCAL_BOUND else -math.inf
        p_value = 0.0 if abs(s) > LOCAL_BOUND else 1.0
    exact = float(chsh_exact(used, processor_a, processor_b).mean())
    return AppOutcome(
        app="chsh",
        nodes=nodes,
        metric="chsh_s",
        value=s,
        ci95=(s - _Z_SCORE_95 * sigma, s + _Z_SCORE_95 * sigma),
        details={
            "correlators": e_hat.tolist(),
            "counts": counts.reshape(2, 2).tolist(),
            "standard_error": sigma,
            "pairs": count,
            "sigma_violation": z,
            "p_value": p_value,
            "exact_chsh_s": exact,
            "ci_method": "normal: S +- 1.96 sigma_S, sigma_S**2 = sum (1 - E_ij**2)/N_ij (binomial, per setting)",
        },
    )
