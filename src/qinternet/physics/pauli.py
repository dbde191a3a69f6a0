"""Pauli channels on the Bell-diagonal index, shared by the hardware models of the entanglement layer.

Index convention (the entanglement layer's, see :mod:`qinternet.states`): a Bell-diagonal state, or a Pauli
channel acting on the second qubit of ``|Phi+>``, is a float array of shape ``(..., 4)`` ordered by the Pauli
``k = x + 2 z`` with ``(x, z)`` its X and Z bits: ``[I, X, Z, Y]`` = ``[Phi+, Psi+, Phi-, Psi-]``. Applying a Pauli
channel to a Bell-diagonal state (on either qubit) is the XOR convolution of the two index distributions,
because Paulis compose by adding their bits modulo 2 (up to a phase that a channel does not see).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["FloatArray", "compose_pauli", "depolarising_channel", "pauli_channel"]

FloatArray = NDArray[np.float64]

_XOR = np.bitwise_xor.outer(np.arange(4), np.arange(4))
"""``_XOR[i, j] = i ^ j``: the index of the product of Paulis ``i`` and ``j``."""


def pauli_channel(p_i: ArrayLike, p_x: ArrayLike, p_z: ArrayLike, p_y: ArrayLike) -> FloatArray:
    """Stack four probabilities (broadcast together) into a channel array of shape ``(..., 4)``, order I, X, Z, Y."""
    parts = np.broadcast_arrays(*(np.asarray(p, dtype=np.float64) for p in (p_i, p_x, p_z, p_y)))
    return np.stack(parts, axis=-1)


def compose_pauli(first: ArrayLike, second: ArrayLike) -> FloatArray:
    """Distribution of the product of two independent Pauli errors: ``r[k] = sum_{i ^ j = k} a[i] b[j]``.

    The same formula applies a Pauli channel ``second`` to a Bell-diagonal state ``first`` (Dür, Briegel,
    Cirac, Zoller, PRA 59, 169 (1999), Sec. III: Bell-diagonal states stay Bell-diagonal under Pauli noise).

    Args:
        first: float array ``(..., 4)``.
        second: float array ``(..., 4)``; broadcast against ``first``.

    Returns:
        float array ``(..., 4)``.

    >>> compose_pauli([0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]).tolist()  # X then Z is Y
    [0.0, 0.0, 0.0, 1.0]
    """
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape), dtype=np.float64)
    for i in range(4):
        for j in range(4):
            out[..., _XOR[i, j]] += a[..., i] * b[..., j]
    return out


def depolarising_channel(w: ArrayLike) -> FloatArray:
    """The channel ``rho -> w rho + (1 - w) I/4`` on a Bell pair as Pauli probabilities: ``[(1+3w)/4, (1-w)/4 x 3]``."""
    w_arr = np.asarray(w, dtype=np.float64)
    rest = (1.0 - w_arr) / 4.0
    return pauli_channel(w_arr + rest, rest, rest, rest)
