"""Optical fibre: loss that grows linearly in dB with length, plus a fixed insertion loss."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.params.devices import FibreParams
from qinternet.params.units import db_to_transmittance

__all__ = ["fibre_transmittance"]


def fibre_transmittance(fibre: FibreParams, length_km: ArrayLike) -> NDArray[np.float64]:
    """Transmittance ``10**(-(alpha L + loss_ins)/10)`` of a fibre of ``length_km`` (array or scalar).

    The standard exponential-attenuation model, as in Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Sec. II:
    ``eta = 10**(-alpha L / 10)``, with ``alpha`` in dB/km.
    """
    length = np.asarray(length_km, dtype=np.float64)
    return db_to_transmittance(fibre.loss_db_per_km * length + fibre.insertion_loss_db)
