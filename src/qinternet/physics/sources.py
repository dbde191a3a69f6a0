"""Photon-number statistics of the sources: weak coherent pulses, Fock states and SPDC pairs.

Detection models need, for a set of detectors that a photon reaches with probability ``x``, the
probability that *no* photon of the pulse reaches it: ``G(x) = E[(1 - x)**N]`` with ``N`` the photon
number. These "vacuum" functions are that generating function for each kind of source.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from qinternet.params.devices import PairStatistics

__all__ = ["fock_vacuum", "pair_number_pmf", "poisson_pmf", "poisson_vacuum", "thermal_vacuum"]

FloatArray = NDArray[np.float64]


def poisson_pmf(n: ArrayLike, mean: ArrayLike) -> FloatArray:
    """``P(n) = exp(-mean) mean**n / n!``: photon number of a phase-randomised coherent state."""
    n_arr = np.asarray(n, dtype=np.float64)
    m = np.asarray(mean, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = special.xlogy(n_arr, m) - m - special.gammaln(n_arr + 1.0)
    return np.asarray(np.exp(log_p), dtype=np.float64)


def pair_number_pmf(n: ArrayLike, mean_pair_number: ArrayLike, statistics: PairStatistics) -> FloatArray:
    """Distribution of the number of photon pairs emitted by an SPDC source in one pulse.

    THERMAL: two thermal polarisation modes of mean ``lambda = mean/2`` each, so that
    ``P(n) = (n + 1) lambda**n / (1 + lambda)**(n + 2)`` (Ma, Fung, Lo, PRA 76, 012307 (2007), eq. (5)).
    POISSON: ``P(n) = exp(-mean) mean**n / n!`` (a source with many modes per pulse).
    """
    if statistics is PairStatistics.POISSON:
        return poisson_pmf(n, mean_pair_number)
    n_arr = np.asarray(n, dtype=np.float64)
    lam = np.asarray(mean_pair_number, dtype=np.float64) / 2.0
    return np.asarray((n_arr + 1.0) * lam**n_arr / (1.0 + lam) ** (n_arr + 2.0), dtype=np.float64)


def poisson_vacuum(mean: ArrayLike, x: ArrayLike) -> FloatArray:
    """``E[(1-x)**N] = exp(-mean x)`` for Poisson ``N`` (coherent state, or one Poisson mode)."""
    return np.exp(-np.asarray(mean, dtype=np.float64) * np.asarray(x, dtype=np.float64))


def thermal_vacuum(mean: ArrayLike, x: ArrayLike) -> FloatArray:
    """``E[(1-x)**N] = 1/(1 + mean x)`` for ``N`` thermal (geometric) with the given mean."""
    return 1.0 / (1.0 + np.asarray(mean, dtype=np.float64) * np.asarray(x, dtype=np.float64))


def fock_vacuum(n: ArrayLike, x: ArrayLike) -> FloatArray:
    """``(1-x)**n``: probability that none of ``n`` photons reaches a set of detectors."""
    return np.power(1.0 - np.asarray(x, dtype=np.float64), np.asarray(n, dtype=np.float64))
