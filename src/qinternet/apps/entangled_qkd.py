"""Entanglement-based QKD (BBM92) on pairs a network delivered: the secret key rate they give.

Both ends measure each pair at once in Z or X, chosen at random (BBM92: Bennett, Brassard, Mermin, PRL 68, 557
(1992)); half the pairs match bases (sifting 1/2). The asymptotic key per sifted bit is the Shor-Preskill rate
``1 - h(e_z) - h(e_x)`` (Shor, Preskill, PRL 85, 441 (2000); :func:`qinternet.qkd.entropy.key_fraction`)
of the pairs' mean Bell-diagonal state, ideal error correction (a note in the outcome says it is asymptotic).

Opt-in, as the ``entanglement-qkd`` and ``dual-downlink`` links' ``finite_key: true``: the key of all the pairs
as one block, bounded by Tomamichel, Lim, Gisin, Renner, Nat. Commun. 3, 634 (2012), eq. (2)
(:func:`qinternet.qkd.finite_key_bbm92.bbm92_finite_key_bits`): a fraction ``test_fraction`` of the sifted bits
(X basis) estimates the phase-error rate, the rest (Z basis) is the raw key, error correction leaks ``h(e_z)``
per key bit (ideal, as the asymptotic rate). Without a ``test_fraction`` the one that gives the most key is taken
(the split an operator would choose for the block): it shrinks as the block grows, so the finite key approaches
the asymptotic one from below, as Tomamichel et al.'s ``k ~ sqrt(n)``.

The 95 % interval carries the statistics of the finite sample: the error rates are estimated from the sifted
pairs of each basis (about a quarter of the pairs each), a normal interval on each, and the key rate at the
interval's ends.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from qinternet.apps.outcome import AppOutcome
from qinternet.errors import ParameterError
from qinternet.qkd.entropy import binary_entropy, key_fraction
from qinternet.qkd.finite_key import FiniteKeyParams
from qinternet.qkd.finite_key_bbm92 import bbm92_finite_key_bits, tomamichel_key_length
from qinternet.states import bell

__all__ = ["SIFTING", "entanglement_qkd", "finite_key_bits"]

SIFTING = 0.5
"""Fraction of pairs whose bases match when both ends pick Z or X with probability 1/2."""
_Z95 = 1.959963984540054


def _rate(e_x: float, e_z: float) -> float:
    return max(0.0, float(key_fraction(e_z, e_x, 1.0)))


TEST_FRACTIONS = np.geomspace(1e-4, 0.5, 60)
"""The test fractions tried when none is given (the best is refined between its neighbours)."""


def finite_key_bits(
    sifted: float, e_x: float, e_z: float, params: FiniteKeyParams, test_fraction: float | None = None
) -> tuple[int, float]:
    """Finite-key BBM92 key of ``sifted`` bits as one block, and the test fraction it used (module docstring).

    Tomamichel, Lim, Gisin, Renner, Nat. Commun. 3, 634 (2012), eq. (2), with ``n = (1 - t) sifted`` key bits of
    error rate ``e_z``, ``k = t sifted`` test bits of error rate ``e_x`` and error correction leaking
    ``n h(e_z)``; ``t`` is ``test_fraction``, or else the one of :data:`TEST_FRACTIONS` (refined by golden-section
    search between its neighbours) that gives the most key.
    """

    def length(t: float) -> float:
        n, k = sifted * (1.0 - t), sifted * t
        if n <= 0.0 or k <= 0.0:
            return -math.inf
        leak = n * float(_entropy(e_z))
        return tomamichel_key_length(
            key_bits=n, test_bits=k, error_tolerance=min(1.0, e_x), ec_leak_bits=leak, params=params
        )

    if test_fraction is None:
        values = [length(float(t)) for t in TEST_FRACTIONS]
        i = int(np.argmax(values))
        lo, hi = float(TEST_FRACTIONS[max(i - 1, 0)]), float(TEST_FRACTIONS[min(i + 1, len(TEST_FRACTIONS) - 1)])
        golden = (math.sqrt(5.0) - 1.0) / 2.0
        for _ in range(40):  # golden-section search for the maximum between the neighbours
            a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
            lo, hi = (lo, b) if length(a) >= length(b) else (a, hi)
        test_fraction = (lo + hi) / 2.0 if length((lo + hi) / 2.0) >= values[i] else float(TEST_FRACTIONS[i])
    n, k = sifted * (1.0 - test_fraction), sifted * test_fraction
    bits = bbm92_finite_key_bits(
        key_bits=n,
        key_errors=min(1.0, e_z) * n,
        test_bits=k,
        test_errors=min(1.0, e_x) * k,
        ec_efficiency=1.0,
        params=params,
    )
    return bits, test_fraction


def _entropy(e: float) -> float:
    return 1.0 if e >= 0.5 else float(binary_entropy(max(0.0, e)))


def entanglement_qkd(
    mean_state: ArrayLike,
    pairs: int,
    duration_s: float,
    *,
    nodes: tuple[str, str],
    finite: FiniteKeyParams | None = None,
    test_fraction: float | None = None,
) -> AppOutcome:
    """Secret key rate of BBM92 on ``pairs`` pairs of mean state ``mean_state`` delivered over ``duration_s``.

    Args:
        mean_state: the pairs' mean Bell-diagonal state.
        pairs: pairs delivered.
        duration_s: the time they took.
        nodes: the two ends.
        finite: the security parameters of the finite-key bound, or None for the asymptotic rate.
        test_fraction: with ``finite``, the fraction of the sifted bits that test, in (0, 1); None: the best.

    Raises:
        ParameterError: a negative pair count, a duration that is not positive, a test fraction outside (0, 1).
    """
    if pairs < 0:
        raise ParameterError("pairs", f"must be >= 0, got {pairs}")
    if not duration_s > 0.0:
        raise ParameterError("duration_s", f"must be > 0, got {duration_s}")
    if test_fraction is not None and not 0.0 < test_fraction < 1.0:
        raise ParameterError("test_fraction", f"must be in (0, 1), got {test_fraction}")
    state = bell.as_bell_diagonal(mean_state, "mean_state")
    e_x, e_z = (float(v) for v in bell.qber(state))
    per_bit = _rate(e_x, e_z)
    sifted = pairs * SIFTING
    value = sifted * per_bit / duration_s
    per_basis = max(sifted / 2.0, 1.0)
    spread = [_Z95 * math.sqrt(max(e * (1.0 - e), 0.25 / per_basis) / per_basis) for e in (e_x, e_z)]
    worst_e = (min(0.5, e_x + spread[0]), min(0.5, e_z + spread[1]))
    best_e = (max(0.0, e_x - spread[0]), max(0.0, e_z - spread[1]))
    details = {
        "pairs": pairs,
        "qber_z": e_z,
        "qber_x": e_x,
        "secret_fraction": per_bit,
        "ci_method": "normal interval on each basis' error rate from the sifted pairs, key rate at its ends",
    }
    if finite is None:
        ci95 = (sifted * _rate(*worst_e) / duration_s, sifted * _rate(*best_e) / duration_s)
        details["note"] = "asymptotic Shor-Preskill rate (no finite-key correction)"
    else:
        bits, used = finite_key_bits(sifted, e_x, e_z, finite, test_fraction)
        value = bits / duration_s
        ci95 = (
            finite_key_bits(sifted, *worst_e, finite, test_fraction)[0] / duration_s,
            finite_key_bits(sifted, *best_e, finite, test_fraction)[0] / duration_s,
        )
        ci95 = (min(ci95[0], value), max(ci95[1], value))  # a searched split can be a hair off at the ends
        details |= {
            "finite_key_bits": bits,
            "asymptotic_rate_bps": sifted * per_bit / duration_s,
            "test_fraction": used,
            "eps_sec": finite.eps_sec,
            "eps_cor": finite.eps_cor,
            "note": "finite-key bound of Tomamichel et al. 2012, eq. (2), all the pairs as one block",
        }
    return AppOutcome(app="qkd", nodes=nodes, metric="secret_key_rate_bps", value=value, ci95=ci95, details=details)
