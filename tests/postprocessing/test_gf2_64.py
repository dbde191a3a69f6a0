"""GF(2^64) arithmetic against a bit-by-bit reference, and the polynomial hash's collision bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qinternet.postprocessing.gf2_64 import REDUCTION, bits_to_blocks, gf_multiply, gf_powers, polynomial_hash

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


def reference_hash(bits: np.ndarray, r: int) -> int:
    """Horner's rule block by block with the reference product: h = (h + m_i) r."""
    h = 0
    for block in bits_to_blocks(bits).tolist():
        h = reference_multiply(h ^ block, r)
    return h


@pytest.mark.parametrize("streams", [1, 3, 8, 1 << 15])
def test_interleaved_horner_matches_the_reference(monkeypatch: pytest.MonkeyPatch, streams: int) -> None:
    import qinternet.postprocessing.gf2_64 as gf

    monkeypatch.setattr(gf, "_STREAMS", streams)
    rng = np.random.default_rng(streams)
    for length in (1, 64, 200, 3000):
        bits = rng.integers(0, 2, length, dtype=np.uint8)
        r = int(rng.integers(1, 2**63))
        assert polynomial_hash(bits, r) == reference_hash(bits, r)
