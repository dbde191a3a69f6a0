"""Unit conversions used throughout qinternet (decibels and transmittance)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["db_to_transmittance", "transmittance_to_db"]


def db_to_transmittance(loss_db: ArrayLike) -> NDArray[np.float64]:
    """Transmittance ``10**(-loss_db/10)`` of a loss given in dB.

    >>> float(db_to_transmittance(10.0))
    0.1
    """
    return np.power(10.0, -np.asarray(loss_db, dtype=np.float64) / 10.0)


def transmittance_to_db(transmittance: ArrayLike) -> NDArray[np.float64]:
    """Loss in dB, ``-10 log10(transmittance)``, of a transmittance in (0, 1].

    >>> float(transmittance_to_db(0.01))
    20.0
    """
    return -10.0 * np.log10(np.asarray(transmittance, dtype=np.float64))
