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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.physics.detectors import error_rate

__all__ = ["DecoyBounds", "two_decoy_bounds"]

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
