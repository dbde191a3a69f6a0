"""Privacy amplification by Toeplitz hashing, computed with the FFT.

A Toeplitz matrix ``T`` of ``m x n`` bits is fixed by its ``n + m - 1`` diagonals (the public seed);
``x -> T x mod 2`` is a two-universal family (Mansour, Nisan, Tiwari, STOC 1990; Krawczyk, CRYPTO '94,
LNCS 839, 129), so by the leftover hash lemma it extracts a key that is ``eps``-close to uniform from an
input with enough smooth min-entropy. ``T x`` is the "valid" part of the linear convolution of the seed
with the key, which the FFT computes in ``O((n + m) log(n + m))`` (Hayashi, Tsurumaru, IEEE Trans. Inf.
Theory 62, 2213 (2016)); the integer convolution is rounded and reduced mod 2
(:mod:`.privacy_convolution`, which also states why the rounding is exact).
"""

from __future__ import annotations

import os

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.postprocessing.checks import require_bits
from qinternet.postprocessing.privacy_convolution import valid_convolution_parity

__all__ = ["toeplitz_hash", "toeplitz_seed_bits"]


def toeplitz_seed_bits(input_bits: int, output_bits: int) -> int:
    """Seed length ``n + m - 1`` of an ``output_bits x input_bits`` Toeplitz matrix."""
    return input_bits + output_bits - 1


def toeplitz_hash(
    key: NDArray[np.uint8], seed: NDArray[np.uint8], output_bits: int, *, workers: int | None = None
) -> NDArray[np.uint8]:
    """``T key mod 2`` for the Toeplitz matrix ``T[i, j] = seed[i - j + n - 1]``.

    Throughput at ``n = 1e6``, ``m = n / 2``: about 40 Mbit of input per second on one core, 60 on two
    (``benchmarks/postproc.py``, ``time_pa``).

    Args:
        key: uint8 0/1, shape (n,).
        seed: uint8 0/1, shape (n + m - 1,): the matrix's diagonals, first column bottom-up then first row.
        output_bits: ``m``, 0 <= m <= n.
        workers: threads for the FFTs, 1 or 2 (more gain nothing); None: 2 if this process may run on two
            or more CPUs (``os.sched_getaffinity``), else 1.

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
    if workers is None:
        workers = min(2, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else 1
    if workers < 1:
        raise ParameterError("workers", f"must be >= 1, got {workers}")
    # (T key)_i = sum_j seed[i + n - 1 - j] key[j]: term i + n - 1 of the linear convolution.
    return valid_convolution_parity(seed, key, workers=workers)
