"""Binary Shannon entropy."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = ["binary_entropy"]


def binary_entropy(p: ArrayLike) -> NDArray[np.float64]:
    """``H2(p) = -p log2 p - (1-p) log2(1-p)``, with ``H2(0) = H2(1) = 0``; ``p`` is clipped to [0, 1].

    >>> float(binary_entropy(0.5))
    1.0
    """
    x = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return np.asarray(-(special.xlogy(x, x) + special.xlogy(1.0 - x, 1.0 - x)) / np.log(2.0), dtype=np.float64)
