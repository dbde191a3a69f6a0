"""Input checks shared by the post-processing stages (each names the field and the reason)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.params.checks import require_epsilon

__all__ = ["require_bits", "require_epsilon", "require_same_length"]


def require_same_length(field: str, reference: NDArray[np.generic], other: NDArray[np.generic]) -> None:
    """Two keys (or key and seed) that must be the same length."""
    if reference.shape != other.shape:
        raise ParameterError(field, f"has {other.shape[0]} bits where {reference.shape[0]} are expected")


def require_bits(field: str, bits: NDArray[np.generic]) -> None:
    """A one-dimensional array of 0/1 values."""
    if bits.ndim != 1:
        raise ParameterError(field, f"must be a one-dimensional bit array, got shape {bits.shape}")
    if bits.size and (bits.min() < 0 or bits.max() > 1):
        raise ParameterError(field, "must hold only 0 and 1")
