"""Binary Shannon entropy, and the secret fraction it gives with symmetric bit and phase errors."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = ["binary_entropy", "key_fraction", "symmetric_error_key_fraction"]


def binary_entropy(p: ArrayLike) -> NDArray[np.float64]:
    """``H2(p) = -p log2 p - (1-p) log2(1-p)``, with ``H2(0) = H2(1) = 0``; ``p`` is clipped to [0, 1].

    >>> float(binary_entropy(0.5))
    1.0
    """
    x = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return np.asarray(-(special.xlogy(x, x) + special.xlogy(1.0 - x, 1.0 - x)) / np.log(2.0), dtype=np.float64)


def key_fraction(bit_error_rate: ArrayLike, phase_error_rate: ArrayLike, ec_efficiency: float) -> NDArray[np.float64]:
    """``1 - f H2(e_bit) - H2(e_phase)``: secret bits per sifted bit with key-basis errors ``e_bit`` (error
    correction leaks ``f H2(e_bit)``) and phase errors ``e_phase`` (Shor, Preskill, PRL 85, 441 (2000)).
    Negative where no key is left (callers floor it at 0).

    >>> round(float(key_fraction(0.0, 0.11, 1.0)), 3)
    0.5
    """
    return np.asarray(1.0 - ec_efficiency * binary_entropy(bit_error_rate) - binary_entropy(phase_error_rate))


def symmetric_error_key_fraction(error_rate: ArrayLike, ec_efficiency: float) -> NDArray[np.float64]:
    """``1 - f H2(e) - H2(e)``: secret bits per sifted bit when the phase-error rate equals the bit-error rate ``e``
    and error correction leaks ``f H2(e)`` (Shor, Preskill, PRL 85, 441 (2000); BBM92 in Ma, Fung, Lo, PRA 76,
    012307 (2007), eq. (11)). Negative where no key is left (callers floor it at 0).

    >>> round(float(symmetric_error_key_fraction(0.0, 1.16)), 12)
    1.0
    """
    return np.asarray(1.0 - (1.0 + ec_efficiency) * binary_entropy(error_rate), dtype=np.float64)
