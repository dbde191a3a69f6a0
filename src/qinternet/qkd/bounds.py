"""Fundamental limits of repeaterless quantum communication over a pure-loss channel."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["plob_bound", "tgw_bound"]


def plob_bound(transmittance: ArrayLike) -> NDArray[np.float64]:
    """PLOB bound ``-log2(1 - eta)`` secret bits per channel use.

    Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017), main result: the two-way assisted
    secret-key capacity of the pure-loss channel. For small ``eta`` it is ``eta / ln 2 ~ 1.44 eta``.
    """
    eta = np.asarray(transmittance, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.asarray(-np.log1p(-eta) / np.log(2.0), dtype=np.float64)


def tgw_bound(transmittance: ArrayLike) -> NDArray[np.float64]:
    """TGW bound ``log2((1 + eta)/(1 - eta))`` secret bits per channel use.

    Takeoka, Guha, Wilde, Nat. Commun. 5, 5235 (2014) (squashed-entanglement bound of the
    pure-loss channel). For small ``eta`` it is ``2 eta / ln 2 ~ 2.89 eta``.
    """
    eta = np.asarray(transmittance, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.asarray((np.log1p(eta) - np.log1p(-eta)) / np.log(2.0), dtype=np.float64)
