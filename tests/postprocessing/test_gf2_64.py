"""GF(2^64) arithmetic against a bit-by-bit reference, and the polynomial hash's collision bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qinternet.postprocessing.gf2_64 import (
    REDUCTION,
    bits_to_blocks,
    gf_multiply,
    gf_powers,
    polynomial_hash,
    polynomial_hash_frames,
)
from qinternet.postprocessing.gf2_64_kernels import STREAMS, window_table

MODULUS = (1 << 64) | int(REDUCTION)  # x^64 + x^4 + x^3 + x + 1

words = st.integers(min_value=0, max_value=2**64 - 1)


def reference_multiply(a: int, b: int) -> int:
    """Schoolbook carry-less product, reduced bit by bit (independent of the vectorised code)."""
    product = 0
    for i in range(64):
        if (b >> i) & 1:
            product ^= a << i
    for i in range(127, 63, -1):
        if (product >> i) & 1:
            product ^= MODULUS << (i - 64)
    return product


@given(words, words)
def test_multiply_matches_the_reference(a: int, b: int) -> None:
    assert int(gf_multiply(np.uint64(a), np.uint64(b))) == reference_multiply(a, b)


@given(words, words, words)
def test_field_laws(a: int, b: int, c: int) -> None:
    x, y, z = (np.uint64(v) for v in (a, b, c))
    assert gf_multiply(x, y) == gf_multiply(y, x)
    assert gf_multiply(x, y ^ z) == gf_multiply(x, y) ^ gf_multiply(x, z)
    assert gf_multiply(x, np.uint64(1)) == x


def test_x_to_the_64_is_the_reduction_polynomial() -> None:
    x32 = np.uint64(1 << 32)
    assert int(gf_multiply(x32, x32)) == 0x1B


def test_powers_by_doubling_match_repeated_multiplication() -> None:
    r = 0x9E3779B97F4A7C15
    powers = gf_powers(r, 37)
    acc = 1
    for k in range(37):
        acc = reference_multiply(acc, r)
        assert int(powers[k]) == acc


def test_blocks_carry_the_length() -> None:
    bits = np.ones(70, dtype=np.uint8)
    blocks = bits_to_blocks(bits)
    assert blocks.tolist() == [2**64 - 1, 0b111111 << 58, 70]


def test_hash_distinguishes_messages_that_differ_in_length_or_content() -> None:
    rng = np.random.default_rng(3)
    message = rng.integers(0, 2, 1000, dtype=np.uint8)
    r = 0x123456789ABCDEF1
    flipped = message.copy()
    flipped[500] ^= 1
    assert polynomial_hash(message, r) != polynomial_hash(flipped, r)
    assert polynomial_hash(message, r) != polynomial_hash(np.concatenate([message, [0]]).astype(np.uint8), r)
    assert polynomial_hash(message, r) == polynomial_hash(message.copy(), r)


@pytest.mark.parametrize("length", [1, 64, 65, 4096])
def test_hash_is_linear_in_the_message(length: int) -> None:
    # h_r(a) ^ h_r(b) = h_r(a ^ b) ^ h_r(0) for equal lengths (the length block cancels out in pairs).
    rng = np.random.default_rng(length)
    a, b = (rng.integers(0, 2, length, dtype=np.uint8) for _ in range(2))
    zero = np.zeros(length, dtype=np.uint8)
    r = int(rng.integers(1, 2**63))
    assert polynomial_hash(a, r) ^ polynomial_hash(b, r) == polynomial_hash(a ^ b, r) ^ polynomial_hash(zero, r)


def reference_blocks(bits: list[int]) -> list[int]:
    """The blocks of a message in pure Python: 64 bits a block, first bit most significant, the last block
    zero-padded on the right, then a block holding the number of bits."""
    padded = bits + [0] * (-len(bits) % 64)
    blocks = [sum(bit << (63 - k) for k, bit in enumerate(padded[i : i + 64])) for i in range(0, len(padded), 64)]
    return [*blocks, len(bits)]


def reference_hash(bits: np.ndarray, r: int) -> int:
    """Horner's rule block by block with the reference product: h = (h + m_i) r."""
    h = 0
    for block in reference_blocks([int(b) for b in bits]):
        h = reference_multiply(h ^ block, r)
    return h


@given(st.lists(st.integers(0, 1), max_size=1500), words)
def test_blocks_match_the_pure_python_reference(bits: list[int], r: int) -> None:
    assert bits_to_blocks(np.array(bits, dtype=np.uint8)).tolist() == reference_blocks(bits)


@given(st.lists(st.integers(0, 1), max_size=1500), words)
def test_hash_matches_the_reference_on_random_messages(bits: list[int], r: int) -> None:
    assert polynomial_hash(np.array(bits, dtype=np.uint8), r) == reference_hash(np.array(bits), r)


# Empty, single-bit and single-block messages, byte and block boundaries, and every remainder of the blocks
# modulo the interleaved streams of the kernel on both sides of one and of several full groups of streams.
GROUP = 64 * STREAMS
EDGE_LENGTHS = sorted(
    {0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 1001, 3000}
    | {GROUP * k + 64 * j + d for k in (1, 3) for j in range(STREAMS) for d in (-1, 0, 1, 37)}
)


@pytest.mark.parametrize("length", EDGE_LENGTHS)
def test_hash_matches_the_reference_at_edge_lengths(length: int) -> None:
    rng = np.random.default_rng(length)
    bits = rng.integers(0, 2, length, dtype=np.uint8)
    for r in (0, 1, 2**64 - 1, int(rng.integers(0, 2**64, dtype=np.uint64))):
        assert polynomial_hash(bits, r) == reference_hash(bits, r)


@pytest.mark.parametrize(("frames", "length"), [(0, 10), (1, 0), (3, 1), (5, 64), (4, 1000), (2, 1025)])
def test_frames_hash_each_row_like_the_reference(frames: int, length: int) -> None:
    rng = np.random.default_rng(frames * 10_000 + length)
    bits = rng.integers(0, 2, (frames, length), dtype=np.uint8)
    r = int(rng.integers(0, 2**64, dtype=np.uint64))
    tags = polynomial_hash_frames(bits, r)
    assert tags.dtype == np.uint64
    assert tags.shape == (frames,)
    assert [int(t) for t in tags] == [reference_hash(row, r) for row in bits]


def test_hash_accepts_boolean_and_strided_bits() -> None:
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2, (3, 2 * 777), dtype=np.uint8)
    strided = bits[:, ::2]
    r = 0x0123_4567_89AB_CDEF
    expected = [reference_hash(row, r) for row in strided]
    assert polynomial_hash_frames(strided, r).tolist() == expected
    assert polynomial_hash_frames(strided.astype(bool), r).tolist() == expected
    assert [polynomial_hash(row, r) for row in strided] == expected


@given(words)
def test_window_table_multiplies_by_its_constant(c: int) -> None:
    table = window_table(np.uint64(c))
    for j in range(8):
        for v in (0, 1, 2, 0x80, 0xFF, 0x5A):
            assert int(table[j, v]) == reference_multiply(v << (8 * j), c)
