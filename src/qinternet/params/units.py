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


SPEED_OF_LIGHT_KM_PER_S = 299_792.458
"""Speed of light in vacuum, km/s (exact, SI)."""
FIBRE_GROUP_INDEX = 1.4682
"""Group index of standard single-mode fibre at 1550 nm (Corning SMF-28 datasheet): light covers a km in ~4.9 us."""


def fibre_delay_s(length_km: ArrayLike) -> NDArray[np.float64]:
    """Time light (or a classical message) takes through ``length_km`` of fibre: ``L n / c``."""
    return np.asarray(np.asarray(length_km, dtype=np.float64) * FIBRE_GROUP_INDEX / SPEED_OF_LIGHT_KM_PER_S)
