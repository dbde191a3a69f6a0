"""Arithmetic in GF(2^64), vectorised over numpy ``uint64`` arrays, and polynomial hashing.

The field is GF(2)[x] / (x^64 + x^4 + x^3 + x + 1), the irreducible pentanomial used for 64-bit
polynomial MACs (a field element is the ``uint64`` of its coefficients). Polynomial hashing evaluates a
message of ``L`` 64-bit blocks ``m_1..m_L`` as ``h_r(m) = sum_i m_i r^(L - i + 1)``; two different
messages of the same length collide for at most ``L`` of the ``2^64`` keys ``r`` (a non-zero polynomial
of degree ``<= L`` has at most ``L`` roots): den Boer, "A simple and key-economical unconditional
authentication scheme", J. Comput. Security 2, 65 (1993); Bierbrauer, Johansson, Kabatianskii, Smeets,
CRYPTO '93, LNCS 773, 331 (1994). The message length is appended as a last block so that messages of
different lengths are covered too.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.postprocessing.gf2_64_kernels import hash_rows

__all__ = [
    "BLOCK_BITS",
    "REDUCTION",
    "bits_to_blocks",
    "gf_multiply",
    "gf_powers",
    "polynomial_hash",
    "polynomial_hash_frames",
    "random_field_elements",
]

U64 = NDArray[np.uint64]

BLOCK_BITS = 64
REDUCTION = np.uint64(0x1B)
"""x^64 = x^4 + x^3 + x + 1 in the field."""

_ONE = np.uint64(1)
_ALL_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


def _times_reduction(value: U64) -> tuple[U64, U64]:
    """``value * (x^4 + x^3 + x + 1)`` as (bits beyond x^63, bits below x^64)."""
    low = value ^ (value << np.uint64(1)) ^ (value << np.uint64(3)) ^ (value << np.uint64(4))
    high = (value >> np.uint64(63)) ^ (value >> np.uint64(61)) ^ (value >> np.uint64(60))
    return high, low


def gf_multiply(a: ArrayLike, b: ArrayLike) -> U64:
    """Products ``a * b`` in GF(2^64), element-wise (``uint64`` arrays that broadcast together)."""
    x = np.asarray(a, dtype=np.uint64)
    y = np.asarray(b, dtype=np.uint64)
    x, y = np.broadcast_arrays(x, y)
    low = np.zeros(x.shape, dtype=np.uint64)
    high = np.zeros(x.shape, dtype=np.uint64)
    for i in range(BLOCK_BITS):
        mask = ((y >> np.uint64(i)) & _ONE) * _ALL_ONES  # all ones where bit i of y is set
        low ^= (x << np.uint64(i)) & mask
        if i:
            high ^= (x >> np.uint64(BLOCK_BITS - i)) & mask
    # Fold the upper 64 coefficients down twice: x^64 = REDUCTION.
    over, folded = _times_reduction(high)
    _, folded_again = _times_reduction(over)
    return np.asarray(low ^ folded ^ folded_again, dtype=np.uint64)


def gf_powers(r: int, count: int) -> U64:
    """``[r^1, r^2, ..., r^count]`` in GF(2^64), by doubling (``log2(count)`` vectorised products)."""
    powers = np.empty(count, dtype=np.uint64)
    if count == 0:
        return powers
    powers[0] = np.uint64(r)
    filled = 1
    while filled < count:
        take = min(filled, count - filled)
        powers[filled : filled + take] = gf_multiply(powers[:take], powers[filled - 1])
        filled += take
    return powers


def bits_to_blocks(bits: NDArray[np.uint8]) -> U64:
    """Pack bits into 64-bit blocks, zero-padded, plus a length block.

    Args:
        bits: uint8 0/1, shape (n,) for one message or (F, n) for F messages of n bits.

    Returns:
        uint64, shape (L,) or (F, L) with ``L = ceil(n / 64) + 1``.
    """
    rows = np.atleast_2d(bits)
    frames, n = rows.shape
    padded = np.zeros((frames, -(-n // BLOCK_BITS) * BLOCK_BITS), dtype=np.uint8)
    padded[:, :n] = rows
    packed = np.packbits(padded, axis=1).view(">u8").astype(np.uint64)
    blocks = np.concatenate([packed, np.full((frames, 1), n, dtype=np.uint64)], axis=1)
    return blocks if bits.ndim == 2 else blocks[0]


def polynomial_hash(bits: NDArray[np.uint8], r: int) -> int:
    """``h_r`` of a bit string (uint8 0/1, shape (n,); see the module docstring): a 64-bit tag, as an int."""
    return int(hash_rows(np.packbits(bits)[None, :], int(bits.shape[0]), np.uint64(r))[0])


def polynomial_hash_frames(bits: NDArray[np.uint8], r: int) -> U64:
    """``h_r`` of each row of ``bits`` (uint8 0/1, shape (F, n)): uint64 tags, shape (F,).

    The rows are packed 8 bits to a byte (``np.packbits``, as :func:`bits_to_blocks` does) and hashed by a
    compiled Horner's rule with table lookups (:func:`.gf2_64_kernels.hash_rows`); the result is the same
    as Horner's rule with :func:`gf_multiply` on the blocks of :func:`bits_to_blocks`.
    """
    return hash_rows(np.packbits(bits, axis=1), int(bits.shape[1]), np.uint64(r))


def random_field_elements(rng: np.random.Generator, count: int) -> U64:
    """``count`` uniformly random elements of GF(2^64)."""
    return rng.integers(0, np.iinfo(np.uint64).max, size=count, dtype=np.uint64, endpoint=True)
