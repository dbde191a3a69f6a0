"""Privacy amplification by Toeplitz hashing, computed with the FFT.

A Toeplitz matrix ``T`` of ``m x n`` bits is fixed by its ``n + m - 1`` diagonals (the public seed);
``x -> T x mod 2`` is a two-universal family (Mansour, Nisan, Tiwari, STOC 1990; Krawczyk, CRYPTO '94,
LNCS 839, 129), so by the leftover hash lemma it extracts a key that is ``eps``-close to uniform from an
input with enough smooth min-entropy. ``T x`` is a slice of the linear convolution of the seed with the
key, which the FFT computes in ``O((n + m) log(n + m))`` (Hayashi, Tsurumaru, IEEE Trans. Inf. Theory 62,
2213 (2016)); the integer convolution is rounded and reduced mod 2.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import fft

from qinternet.errors import ParameterError
from qinternet.postprocessing.checks import require_bits

__all__ = ["toeplitz_hash", "toeplitz_seed_bits"]

# Largest distance of an FFT convolution value from an integer that we accept before calling the
# float computation unreliable (values are sums of at most n ones; float64 keeps them far closer).
_ROUNDING_MARGIN = 0.25


def toeplitz_seed_bits(input_bits: int, output_bits: int) -> int:
    """Seed length ``n + m - 1`` of an ``output_bits x input_bits`` Toeplitz matrix."""
    return input_bits + output_bits - 1


def toeplitz_hash(key: NDArray[np.uint8], seed: NDArray[np.uint8], output_bits: int) -> NDArray[np.uint8]:
    """``T key mod 2`` for the Toeplitz matrix ``T[i, j] = seed[i - j + n - 1]``.

    Args:
        key: uint8 0/1, shape (n,).
        seed: uint8 0/1, shape (n + m - 1,): the matrix's diagonals, first column bottom-up then first row.
        output_bits: ``m``, 0 <= m <= n.

    Returns:
        uint8 0/1, shape (m,).
    """
    require_bits("key", key)
    require_bits("seed", seed)
    n = int(key.shape[0])
    if not 0 <= output_bits <= n:
        raise ParameterError("output_bits", f"must be in [0, {n}], got {output_bits}")
    if output_bits == 0:
        return np.zeros(0, dtype=np.uint8)
    if seed.shape[0] != toeplitz_seed_bits(n, output_bits):
        raise ParameterError("seed", f"needs {toeplitz_seed_bits(n, output_bits)} bits, got {seed.shape[0]}")
    # A circular convolution of length n + m - 1 already holds the wanted terms n-1 .. n+m-2 of the
    # linear one without aliasing (the linear convolution ends at 2n + m - 3).
    size = fft.next_fast_len(n + output_bits - 1, real=True)
    spectrum = fft.rfft(key.astype(np.float64), size) * fft.rfft(seed.astype(np.float64), size)
    convolution = fft.irfft(spectrum, size)[n - 1 : n - 1 + output_bits]
    rounded = np.rint(convolution)
    if output_bits and np.max(np.abs(convolution - rounded)) > _ROUNDING_MARGIN:
        raise ArithmeticError("FFT convolution lost integer precision; hash smaller blocks")
    return np.asarray(rounded.astype(np.int64) & 1, dtype=np.uint8)
