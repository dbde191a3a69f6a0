"""Compiled polynomial hashing over GF(2^64) for :mod:`.gf2_64` (numba kernels).

Multiplication by the fixed key ``c`` is linear over GF(2), so ``x c`` is the XOR of the products of the
eight bytes of ``x`` with ``c``: ``x c = sum_j (x_j x^(8j)) c`` for the bytes ``x_j`` of ``x``. A table of
``(v x^(8j)) c`` for every byte value ``v`` and window ``j`` (8 x 256 words, 16 KiB, in L1 cache) turns the
product into eight lookups and seven XORs (Shoup, "On fast and provably secure message authentication based
on universal hashing", CRYPTO '96, LNCS 1109, 313 (1996), Sec. 4; the same windowed tables as software
GHASH). Horner's rule then costs one such product a 64-bit block.

A single Horner chain waits for each product before it starts the next one. :func:`hash_rows` runs
:data:`STREAMS` chains instead: chain ``k`` folds blocks ``k, k + K, k + 2K, ...`` with the constant ``r^K``
and the chains are joined with ``r`` at the end, so that ``K`` independent products are in flight at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["STREAMS", "hash_rows", "window_table"]

U8 = NDArray[np.uint8]
U64 = NDArray[np.uint64]

_F = TypeVar("_F", bound=Callable[..., Any])


def _kernel(fn: _F) -> _F:
    """Compile ``fn`` with numba in nopython mode, cached on disk next to this module."""
    return cast(_F, numba.njit(cache=True, nogil=True)(fn))


STREAMS = 4
"""Interleaved Horner chains of :func:`hash_rows` (4: ~3x one chain on 16 Mbit, measured on AMD EPYC)."""

_WINDOWS = 8  # bytes of a 64-bit word, one table row each
_BYTE = np.uint64(0xFF)
_REDUCTION = np.uint64(0x1B)  # x^64 = x^4 + x^3 + x + 1
_TOP = np.uint64(63)


@_kernel
def _times_x(value: np.uint64) -> np.uint64:
    """``value * x`` in GF(2^64): a shift, and the reduction polynomial where x^63 overflows."""
    carry = _REDUCTION if value >> _TOP else np.uint64(0)
    return (value << np.uint64(1)) ^ carry


@_kernel
def window_table(c: np.uint64) -> U64:
    """``T[j, v] = (v x^(8j)) * c`` in GF(2^64): uint64, shape (8, 256), multiplication by ``c`` in 8 lookups.

    The rows start from ``c x^(8j + b)`` for the single bits ``v = 2^b``; the other entries are XORs of two
    smaller ones, since the product is linear in ``v``.
    """
    table = np.empty((_WINDOWS, 256), dtype=np.uint64)
    power = c
    for j in range(_WINDOWS):
        table[j, 0] = 0
        for b in range(8):
            table[j, 1 << b] = power
            power = _times_x(power)
        for v in range(3, 256):
            low = v & -v
            if v != low:
                table[j, v] = table[j, low] ^ table[j, v ^ low]
    return table


@_kernel
def _times(x: np.uint64, table: U64) -> np.uint64:
    """``x * c`` for the constant ``c`` of ``table`` (see :func:`window_table`)."""
    product: np.uint64 = (
        table[0, x & _BYTE]
        ^ table[1, (x >> np.uint64(8)) & _BYTE]
        ^ table[2, (x >> np.uint64(16)) & _BYTE]
        ^ table[3, (x >> np.uint64(24)) & _BYTE]
        ^ table[4, (x >> np.uint64(32)) & _BYTE]
        ^ table[5, (x >> np.uint64(40)) & _BYTE]
        ^ table[6, (x >> np.uint64(48)) & _BYTE]
        ^ table[7, x >> np.uint64(56)]
    )
    return product


@_kernel
def _block(row: U8, start: int, stop: int) -> np.uint64:
    """Bytes ``row[start:stop]`` (at most 8) as a big-endian word, zero-padded on the right."""
    word = np.uint64(0)
    for i in range(start, start + 8):
        byte = np.uint64(row[i]) if i < stop else np.uint64(0)
        word = (word << np.uint64(8)) | byte
    return word


@_kernel
def _full_block(row: U8, start: int) -> np.uint64:
    """Bytes ``row[start:start + 8]`` as a big-endian word (unrolled: compiles to one load and a byte swap)."""
    return (
        (np.uint64(row[start]) << np.uint64(56))
        | (np.uint64(row[start + 1]) << np.uint64(48))
        | (np.uint64(row[start + 2]) << np.uint64(40))
        | (np.uint64(row[start + 3]) << np.uint64(32))
        | (np.uint64(row[start + 4]) << np.uint64(24))
        | (np.uint64(row[start + 5]) << np.uint64(16))
        | (np.uint64(row[start + 6]) << np.uint64(8))
        | np.uint64(row[start + 7])
    )


@_kernel
def _horner_streams(row: U8, groups: int, table: U64, table_k: U64) -> np.uint64:
    """Horner's rule (without its last product by ``r``) over the first ``STREAMS * groups`` blocks of ``row``.

    ``table``: multiplication by ``r``; ``table_k``: by ``r^STREAMS``. Returns ``sum_i m_i r^(B - 1 - i)``
    for the ``B = STREAMS * groups`` blocks ``m_i``.
    """
    a0 = a1 = a2 = a3 = np.uint64(0)
    for g in range(groups):
        s = 8 * STREAMS * g
        a0 = _times(a0, table_k) ^ _full_block(row, s)
        a1 = _times(a1, table_k) ^ _full_block(row, s + 8)
        a2 = _times(a2, table_k) ^ _full_block(row, s + 16)
        a3 = _times(a3, table_k) ^ _full_block(row, s + 24)
    return _times(_times(_times(a0, table) ^ a1, table) ^ a2, table) ^ a3


@_kernel
def hash_rows(packed: U8, n_bits: int, r: np.uint64) -> U64:
    """``h_r`` of each row: uint64 tags, shape (F,), for ``packed`` = ``np.packbits`` of F rows of ``n_bits``.

    Args:
        packed: uint8, shape (F, ceil(n_bits / 8)), C-contiguous: the bits of each message, 8 to a byte,
            first bit in the most significant place (``np.packbits(bits, axis=1)``).
        n_bits: bits of each message (the value of the length block).
        r: the key, a field element.

    Returns:
        ``h_r(m) = sum_i m_i r^(L - i + 1)`` over the ``L = ceil(n_bits / 64) + 1`` blocks of each row (zero
        padded, then the length), exactly as Horner's rule ``h = (h + m_i) r`` block by block.
    """
    frames, size = packed.shape
    full = size // 8  # blocks without padding
    groups = full // STREAMS
    table = window_table(r)
    table_k = table
    if groups:
        power = r
        for _ in range(STREAMS - 1):
            power = _times(power, table)
        table_k = window_table(power)
    tags = np.empty(frames, dtype=np.uint64)
    for f in range(frames):
        row = packed[f]
        h = _horner_streams(row, groups, table, table_k) if groups else np.uint64(0)
        for b in range(STREAMS * groups, full):
            h = _times(h, table) ^ _full_block(row, 8 * b)
        if size > 8 * full:
            h = _times(h, table) ^ _block(row, 8 * full, size)
        tags[f] = _times(_times(h, table) ^ np.uint64(n_bits), table)
    return tags
