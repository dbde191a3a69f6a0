"""Entanglement-based QKD (BBM92) on pairs a network delivered: the secret key rate they give.

Both ends measure each pair at once in Z or X, chosen at random (BBM92: Bennett, Brassard, Mermin, PRL 68, 557
(1992)); half the pairs match bases (sifting 1/2). The asymptotic key per sifted bit is the Shor-Preskill rate
``1 - h(e_z) - h(e_x)`` (Shor, Preskill, PRL 85, 441 (2000); :func:`qinternet.qkd.entropy.key_fraction`)
of the pairs' mean Bell-diagonal state, ideal error correction; finite-key effects are not included (a note in
the outcome says so). The 95 % interval carries the statistics of the finite sample: the error rates are
estimated from the sifted pairs of each basis (about a quarter of the pairs each), a normal interval on each,
and the key rate at the interval's ends.
"""

from __future__ import annotations

import math

from numpy.typing import ArrayLike

from qinternet.apps.outcome import AppOutcome
from qinternet.errors import ParameterError
from qinternet.qkd.entropy import key_fraction
from qinternet.states import bell

__all__ = ["SIFTING", "entanglement_qkd"]

SIFTING = 0.5
"""Fraction of pairs whose bases match when both ends pick Z or X with probability 1/2."""
_Z95 = 1.959963984540054


def _rate(e_x: float, e_z: float) -> float:
    return max(0.0, float(key_fraction(e_z, e_x, 1.0)))


def entanglement_qkd(mean_state: ArrayLike, pairs: int, duration_s: float, *, nodes: tuple[str, str]) -> AppOutcome:
    """Secret key rate of BBM92 on ``pairs`` pairs of mean state ``mean_state`` delivered over ``duration_s``.

    Raises:
        ParameterError: a negative pair count or a duration that is not positive.
    """
    if pairs < 0:
        raise ParameterError("pairs", f"must be >= 0, got {pairs}")
    if not duration_s > 0.0:
        raise ParameterError("duration_s", f"must be > 0, got {duration_s}")
    state = bell.as_bell_diagonal(mean_state, "mean_state")
    e_x, e_z = (float(v) for v in bell.qber(state))
    per_bit = _rate(e_x, e_z)
    sifted = pairs * SIFTING
    value = sifted * per_bit / duration_s
    per_basis = max(sifted / 2.0, 1.0)
    spread = [_Z95 * math.sqrt(max(e * (1.0 - e), 0.25 / per_basis) / per_basis) for e in (e_x, e_z)]
    worst = _rate(min(0.5, e_x + spread[0]), min(0.5, e_z + spread[1]))
    best = _rate(max(0.0, e_x - spread[0]), max(0.0, e_z - spread[1]))
    return AppOutcome(
        app="qkd",
        nodes=nodes,
        metric="secret_key_rate_bps",
        value=value,
        ci95=(sifted * worst / duration_s, sifted * best / duration_s),
        details={
            "pairs": pairs,
            "qber_z": e_z,
            "qber_x": e_x,
            "secret_fraction": per_bit,
            "ci_method": "normal interval on each basis' error rate from the sifted pairs, key rate at its ends",
            "note": "asymptotic Shor-Preskill rate (no finite-key correction)",
        },
    )
