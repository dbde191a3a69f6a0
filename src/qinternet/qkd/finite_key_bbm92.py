"""Finite-key length of entanglement-based BB84 (BBM92): Tomamichel, Lim, Gisin, Renner (2012).

Tomamichel, Lim, Gisin, Renner, "Tight finite-key analysis for quantum cryptography", Nat. Commun. 3, 634
(2012) (arXiv:1103.4130), Theorem 2, eq. (2): the asymmetric BB84 protocol of their Table I, with ``n`` bits
of raw key measured in one basis and ``k`` bits measured in the other for parameter estimation, is
``eps_sec``-secret (and ``eps_cor``-correct by Theorem 1) if

    ``l <= n (q - h(Q_tol + mu)) - leak_EC - log2(2 / (eps_sec**2 eps_cor))``,
    ``mu = sqrt((n + k) / (n k) * (k + 1) / k * ln(4 / eps_sec))``,

with ``q = 1`` for ideal BB84 measurements (the preparation quality; an entangled source measured in two
diagonal bases gives ``q = 1``, their Device Model section), ``Q_tol`` the tolerated error rate of the test
bits and ``leak_EC`` the bits published by error correction. ``mu`` comes from Serfling's bound on sampling
without replacement (their Supplementary Note 2, Lemma 3).

The two constants go together: their Methods, eq. (6), bound the distance from an ideal key by
``2 eps + 1/2 sqrt(2**(l - H_min^eps(X|E')))``; giving each term ``eps_sec / 2`` makes the hashing term the
``2 log2(1/eps_sec)`` of eq. (2) and sets the smoothing parameter to ``eps = eps_sec / 4``, and Serfling's tail
``exp(-2 mu**2 n k**2 / ((n + k)(k + 1)))`` equals ``eps**2`` exactly at the ``mu`` above, i.e. with
``ln(4 / eps_sec)`` (a ``ln(2 / eps_sec)`` with the same ``log2(2 / (eps_sec**2 eps_cor))`` would leave
``2 eps = eps_sec`` and nothing for the hashing term). Provenance: eq. (6) read as quoted from the Methods; the
typeset eq. (2) was not readable here, and ``ln(4 / eps_sec)`` is also what the arXiv copy's supplementary and
independent implementations of eq. (2) give.
Asymptotically (``k ~ sqrt(n)``, ``n -> oo``)
``l/n -> q - h(Q) - leak_EC/n``, i.e. ``1 - (1 + f) h(Q)`` with ``leak_EC = f n h(Q)``.

How the bound is used for a simulated block (:func:`bbm92_finite_key_bits`): the test error rate observed
(``lambda``) is taken as ``Q_tol``, the least tolerance with which the block passes the protocol's check
``lambda <= Q_tol``; error correction leaks ``f n h(e_key)`` with ``e_key`` the key bits' error rate.
"""

from __future__ import annotations

import math

from qinternet.errors import ParameterError
from qinternet.params.checks import require_finite, require_non_negative
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.finite_key import FiniteKeyParams

__all__ = ["bbm92_finite_key_bits", "tomamichel_deviation", "tomamichel_key_length"]


def tomamichel_deviation(key_bits: float, test_bits: float, eps_sec: float) -> float:
    """``mu = sqrt((n + k)/(n k) (k + 1)/k ln(4/eps_sec))``: the statistical margin added to the test error rate.

    Tomamichel, Lim, Gisin, Renner, Nat. Commun. 3, 634 (2012), eq. (2), with the smoothing parameter
    ``eps_sec / 4`` of their Methods (module docstring); ``n = key_bits``, ``k = test_bits``. Infinite where
    either is not positive.

    >>> round(tomamichel_deviation(1e6, 1e6, 1e-10), 6)
    0.006987
    """
    n, k = float(key_bits), float(test_bits)
    if n <= 0.0 or k <= 0.0:
        return math.inf
    return math.sqrt((n + k) / (n * k) * (k + 1.0) / k * math.log(4.0 / eps_sec))


def tomamichel_key_length(
    *,
    key_bits: float,
    test_bits: float,
    error_tolerance: float,
    ec_leak_bits: float,
    params: FiniteKeyParams,
    preparation_quality: float = 1.0,
) -> float:
    """Right-hand side of Tomamichel et al.'s eq. (2): the secure key length (real; negative where none).

    ``l = n (q - h(Q_tol + mu)) - leak_EC - log2(2 / (eps_sec**2 eps_cor))`` (Tomamichel, Lim, Gisin, Renner,
    Nat. Commun. 3, 634 (2012), Theorem 2, eq. (2)); ``h(x) = 1`` for ``x >= 1/2`` (no key then). Only
    ``params.eps_sec`` and ``params.eps_cor`` are used.

    Args:
        key_bits: ``n``, raw key bits (one basis).
        test_bits: ``k``, parameter-estimation bits (the other basis).
        error_tolerance: ``Q_tol``, the tolerated error rate of the test bits, in [0, 1].
        ec_leak_bits: ``leak_EC``, bits published by error correction.
        params: ``eps_sec`` and ``eps_cor``.
        preparation_quality: ``q`` in (0, 1]; 1 for ideal BB84 measurements.

    >>> p = FiniteKeyParams(eps_sec=1e-10, eps_cor=1e-15)
    >>> round(tomamichel_key_length(key_bits=1e6, test_bits=1e6, error_tolerance=0.0, ec_leak_bits=0.0, params=p))
    939800
    """
    require_non_negative("key_bits", key_bits)
    require_non_negative("test_bits", test_bits)
    require_non_negative("ec_leak_bits", ec_leak_bits)
    require_finite("error_tolerance", error_tolerance)
    if not 0.0 <= error_tolerance <= 1.0:
        raise ParameterError("error_tolerance", f"must be in [0, 1], got {error_tolerance}")
    if not 0.0 < preparation_quality <= 1.0:
        raise ParameterError("preparation_quality", f"must be in (0, 1], got {preparation_quality}")
    mu = tomamichel_deviation(key_bits, test_bits, params.eps_sec)
    tolerated = error_tolerance + mu
    entropy = 1.0 if tolerated >= 0.5 else float(binary_entropy(tolerated))
    security = math.log2(2.0 / (params.eps_sec**2 * params.eps_cor))
    return float(key_bits) * (preparation_quality - entropy) - float(ec_leak_bits) - security


def bbm92_finite_key_bits(
    *,
    key_bits: float,
    key_errors: float,
    test_bits: float,
    test_errors: float,
    ec_efficiency: float,
    params: FiniteKeyParams,
) -> int:
    """Finite-key BBM92 key of a block: ``floor`` of :func:`tomamichel_key_length`, at least 0.

    ``Q_tol`` is the observed test error rate ``test_errors / test_bits`` and error correction leaks
    ``f n h(key_errors / n)`` (module docstring). No key without key or test bits.

    >>> p = FiniteKeyParams(eps_sec=1e-10, eps_cor=1e-15)
    >>> bbm92_finite_key_bits(key_bits=500, key_errors=0, test_bits=500, test_errors=0, ec_efficiency=1.0, params=p)
    0
    """
    if key_bits <= 0 or test_bits <= 0:
        return 0
    for name, errors, bits in (("key_errors", key_errors, key_bits), ("test_errors", test_errors, test_bits)):
        require_non_negative(name, errors)
        if errors > bits:
            raise ParameterError(name, f"exceed the bits ({bits}): {errors}")
    leak = ec_efficiency * key_bits * float(binary_entropy(key_errors / key_bits))
    length = tomamichel_key_length(
        key_bits=key_bits,
        test_bits=test_bits,
        error_tolerance=test_errors / test_bits,
        ec_leak_bits=leak,
        params=params,
    )
    return max(0, math.floor(length))
