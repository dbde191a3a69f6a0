"""Decoy-state estimation of the single-photon yield and error rate from observed gains.

Given the gains ``Q_k`` and error weights ``E_k Q_k`` of a signal intensity ``mu`` and two decoys
``mu > nu1 > nu2 >= 0``, the asymptotic (no statistical fluctuation) bounds are

* ``Y0^L = max(0, (nu1 Q_nu2 e^nu2 - nu2 Q_nu1 e^nu1) / (nu1 - nu2))``,
* ``Y1^L = mu / (mu (nu1 - nu2) - nu1^2 + nu2^2) [Q_nu1 e^nu1 - Q_nu2 e^nu2
  - (nu1^2 - nu2^2)/mu^2 (Q_mu e^mu - Y0^L)]``,
* ``e1^U = (E_nu1 Q_nu1 e^nu1 - E_nu2 Q_nu2 e^nu2) / ((nu1 - nu2) Y1^L)``,

which are Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), eqs. (2)-(4) without the finite-size
corrections; with a vacuum decoy ``nu2 = 0`` they are the vacuum + weak decoy bounds of
Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), eqs. (34) and (37).

The same bounds with each observed rate moved to the edge of its confidence interval
(:func:`finite_size_decoy_bounds`) say whether a finite number of pulses supports them: the bounds are
monotone in every rate, so the edges that loosen them give bounds that hold, except with a chosen
failure probability, for the *expected* rates as well. That is the analysis of statistical fluctuations
in Ma et al. (2005), which moves each gain by ``u_alpha`` Gaussian standard deviations, with exact
binomial intervals (:func:`binomial_interval`) in their place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaincinv

from qinternet.params.checks import require_epsilon
from qinternet.physics.detectors import error_rate

__all__ = ["DecoyBounds", "binomial_interval", "finite_size_decoy_bounds", "two_decoy_bounds"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DecoyBounds:
    """Decoy-state bounds: background yield ``Y0^L``, single-photon yield ``Y1^L`` and error ``e1^U``.

    ``valid`` is false where the observed gains are inconsistent with the model (``Y1^L <= 0`` or a
    negative error numerator, as statistical fluctuations of small samples can give): no key can be
    claimed there.
    """

    background_yield_lower: FloatArray
    single_photon_yield_lower: FloatArray
    single_photon_error_upper: FloatArray
    valid: NDArray[np.bool_]


def two_decoy_bounds(
    mu: ArrayLike,
    nu1: ArrayLike,
    nu2: ArrayLike,
    gains: tuple[ArrayLike, ArrayLike, ArrayLike],
    error_weights: tuple[ArrayLike, ArrayLike],
) -> DecoyBounds:
    """Bounds on ``Y0``, ``Y1`` and ``e1`` from three intensities (see the module docstring).

    Args:
        mu, nu1, nu2: signal and decoy intensities, ``mu > nu1 > nu2 >= 0`` and ``nu1 + nu2 < mu``.
        gains: ``(Q_mu, Q_nu1, Q_nu2)``.
        error_weights: ``(E_nu1 Q_nu1, E_nu2 Q_nu2)``.

    ``Y1^L`` is clipped at 0 and ``e1^U`` to [0, 1/2]; where ``Y1^L = 0`` the error bound is 1/2.
    """
    m, v1, v2 = (np.asarray(a, dtype=np.float64) for a in (mu, nu1, nu2))
    q_mu, q_v1, q_v2 = (np.asarray(a, dtype=np.float64) for a in gains)
    eq_v1, eq_v2 = (np.asarray(a, dtype=np.float64) for a in error_weights)
    y0 = np.maximum(0.0, (v1 * q_v2 * np.exp(v2) - v2 * q_v1 * np.exp(v1)) / (v1 - v2))
    y1 = (m / (m * (v1 - v2) - v1**2 + v2**2)) * (
        q_v1 * np.exp(v1) - q_v2 * np.exp(v2) - (v1**2 - v2**2) / m**2 * (q_mu * np.exp(m) - y0)
    )
    y1 = np.maximum(y1, 0.0)
    numerator = eq_v1 * np.exp(v1) - eq_v2 * np.exp(v2)
    e1 = error_rate(numerator, (v1 - v2) * y1)
    return DecoyBounds(
        background_yield_lower=y0,
        single_photon_yield_lower=y1,
        single_photon_error_upper=np.clip(e1, 0.0, 0.5),
        valid=np.asarray((y1 > 0) & (numerator >= 0)),
    )


def binomial_interval(successes: ArrayLike, trials: ArrayLike, tail_prob: float) -> tuple[FloatArray, FloatArray]:
    """Exact (Clopper-Pearson) confidence interval ``[p^L, p^U]`` of a probability from ``x`` successes in ``n``.

    ``p^L`` solves ``P(X >= x | p^L) = tail_prob`` and ``p^U`` solves ``P(X <= x | p^U) = tail_prob`` for
    ``X ~ Binomial(n, p)``, i.e. ``p^L = I^-1(tail_prob; x, n - x + 1)`` and
    ``p^U = I^-1(1 - tail_prob; x + 1, n - x)`` with ``I^-1`` the inverse regularised incomplete beta
    function: Clopper and Pearson, Biometrika 26, 404 (1934). ``p^L = 0`` where ``x = 0`` and ``p^U = 1``
    where ``x = n`` (including ``n = 0``). Each side excludes the true ``p`` with probability at most
    ``tail_prob``, whatever ``p`` is.

    Args:
        successes: ``x``, integer-valued, ``0 <= x <= n``.
        trials: ``n``, integer-valued.
        tail_prob: probability allowed to each side, in (0, 1).

    >>> low, high = binomial_interval(0, 10, 0.05)
    >>> float(low), round(float(high), 4)  # 1 - 0.05**(1/10)
    (0.0, 0.2589)
    """
    require_epsilon("tail_prob", tail_prob)
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    some, short = x > 0, x < n
    # The incomplete beta needs positive parameters: evaluate where defined, then set the edges.
    lower = betaincinv(np.where(some, x, 1.0), np.where(some, n - x + 1.0, 1.0), tail_prob)
    upper = betaincinv(np.where(short, x + 1.0, 1.0), np.where(short, n - x, 1.0), 1.0 - tail_prob)
    return np.asarray(np.where(some, lower, 0.0)), np.asarray(np.where(short, upper, 1.0))


_RATES = 5
"""Observed rates the finite-size bounds use: ``Q_mu``, ``Q_nu1``, ``Q_nu2``, ``E_nu1 Q_nu1``, ``E_nu2 Q_nu2``."""


def finite_size_decoy_bounds(
    mu: float,
    nu1: float,
    nu2: float,
    pulses: tuple[int, int, int],
    detections: tuple[int, int, int],
    errors: tuple[int, int],
    *,
    failure_prob: float,
) -> DecoyBounds:
    """Bounds on ``Y0``, ``Y1`` and ``e1`` that hold for the expected rates behind finite counts.

    Each rate ``r`` of ``(Q_mu, Q_nu1, Q_nu2, E_nu1 Q_nu1, E_nu2 Q_nu2)`` is a binomial frequency (events
    among the pulses of its class) and gets the interval ``[r^L, r^U]`` of :func:`binomial_interval` with
    ``failure_prob / 10`` on each side, so that all five intervals hold at once except with probability
    ``failure_prob`` (union bound). The bounds of :func:`two_decoy_bounds` are monotone in each rate:
    ``Y1^L`` grows with ``Q_nu1`` and falls with ``Q_mu`` and ``Q_nu2`` (with ``Y0^L > 0`` substituted,
    the coefficients of ``Q_nu1`` and ``Q_nu2`` are positive multiples of ``e^nu1 (1 - (nu1 + nu2) nu2 / mu^2)
    > 0`` and ``-e^nu2 (1 - (nu1 + nu2) nu1 / mu^2) < 0``, as ``nu1 + nu2 < mu``; with ``Y0^L = 0``, of
    ``e^nu1`` and ``-e^nu2``); ``e1^U`` grows with
    ``E_nu1 Q_nu1`` and falls with ``E_nu2 Q_nu2`` and ``Y1^L``; ``Y0^L`` grows with ``Q_nu2`` and falls
    with ``Q_nu1``. So

    * ``Y1^L`` and ``e1^U`` are those of ``(Q_mu^U, Q_nu1^L, Q_nu2^U)`` and ``(E_nu1 Q_nu1^U, E_nu2 Q_nu2^L)``,
    * ``Y0^L`` is that of ``(Q_nu1^U, Q_nu2^L)``,

    and each is at least as loose as the asymptotic bound on the expected rates whenever the intervals
    hold. This is the fluctuation analysis of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) with exact intervals
    instead of Gaussian ones. The model is that of the asymptotic bounds (every pulse of a class sees the same
    channel); Lim et al. (2014) bound general attacks, at the price of many more events
    (:mod:`qinternet.qkd.finite_key`).

    Args:
        mu, nu1, nu2: signal and decoy intensities, as for :func:`two_decoy_bounds`.
        pulses: pulses sent of each class ``(mu, nu1, nu2)`` (those with matching bases).
        detections: detection events among them.
        errors: error events of the two decoys ``(nu1, nu2)``.
        failure_prob: probability that any of the five intervals misses its rate, in (0, 1).

    ``valid`` is false where the intervals leave no single-photon events (``Y1^L = 0``); ``e1^U`` is
    clipped to [0, 1/2] as in :func:`two_decoy_bounds`.
    """
    require_epsilon("failure_prob", failure_prob)
    n_mu, n_v1, n_v2 = pulses
    low, high = binomial_interval([*detections, *errors], [n_mu, n_v1, n_v2, n_v1, n_v2], failure_prob / (2 * _RATES))
    q_mu, q_v1, q_v2, eq_v1, eq_v2 = range(_RATES)
    single = two_decoy_bounds(mu, nu1, nu2, (high[q_mu], low[q_v1], high[q_v2]), (high[eq_v1], low[eq_v2]))
    background = two_decoy_bounds(mu, nu1, nu2, (high[q_mu], high[q_v1], low[q_v2]), (high[eq_v1], low[eq_v2]))
    return DecoyBounds(
        background_yield_lower=background.background_yield_lower,
        single_photon_yield_lower=single.single_photon_yield_lower,
        single_photon_error_upper=single.single_photon_error_upper,
        valid=single.valid,
    )
