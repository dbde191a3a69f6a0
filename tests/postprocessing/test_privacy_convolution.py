"""Toeplitz hashing by 2-D FFT convolution: bit-exact against the direct O(n m) product.

The reference is ``np.convolve(seed, key, "valid") % 2`` in int64 (a direct sum, no FFT), which is
``T key mod 2`` for ``T[i, j] = seed[i - j + n - 1]``; where that is too slow the reference is the plain 1-D
float64 FFT of the whole sequences, a different code path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import qinternet.postprocessing.privacy_convolution as conv
from qinternet.errors import ParameterError
from qinternet.postprocessing.privacy import toeplitz_hash, toeplitz_seed_bits

U8 = NDArray[np.uint8]


def draw(n: int, m: int, seed: int) -> tuple[U8, U8]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, n, dtype=np.uint8), rng.integers(0, 2, toeplitz_seed_bits(n, m), dtype=np.uint8)


def direct(key: U8, seed: U8) -> U8:
    """``T key mod 2`` as a direct integer sum."""
    return np.asarray(np.convolve(seed.astype(np.int64), key.astype(np.int64), "valid") % 2, dtype=np.uint8)


def one_dimensional_fft(key: U8, seed: U8) -> U8:
    """``T key mod 2`` with one float64 FFT of length ``n + m - 1`` (the former implementation)."""
    n, length = key.shape[0], seed.shape[0]
    spectrum = np.fft.rfft(key.astype(np.float64), length) * np.fft.rfft(seed.astype(np.float64), length)
    values = np.rint(np.fft.irfft(spectrum, length)[n - 1 :]).astype(np.int64)
    return np.asarray(values % 2, dtype=np.uint8)


@pytest.mark.parametrize(
    ("n", "m"),
    [(1, 1), (2, 1), (2, 2), (7, 3), (31, 31), (1001, 1), (1001, 999), (4097, 2049)],
)
def test_small_sizes_equal_the_direct_product(n: int, m: int) -> None:
    key, seed = draw(n, m, n + 7 * m)
    np.testing.assert_array_equal(toeplitz_hash(key, seed, m), direct(key, seed))


@pytest.mark.parametrize(("n", "length"), [(1, 65_536), (301, 70_301), (3, 262_145), (999, 100_997)])
def test_two_dimensional_layout_equals_the_direct_sum(n: int, length: int) -> None:
    # Short keys against long seeds: the cyclic length passes the 2-D threshold and the direct sum stays
    # cheap (toeplitz_hash itself needs m <= n, so this calls the convolution directly).
    assert conv._plan(length).rows > 1
    key, seed = draw(n, length - n + 1, n * length)
    np.testing.assert_array_equal(conv.valid_convolution_parity(seed, key), direct(key, seed))


@pytest.mark.parametrize(("n", "m"), [(40_001, 40_001), (65_537, 32_767), (300_007, 150_001)])
def test_long_keys_equal_the_one_dimensional_fft(n: int, m: int) -> None:
    key, seed = draw(n, m, n + m)
    expected = one_dimensional_fft(key, seed)
    np.testing.assert_array_equal(toeplitz_hash(key, seed, m, workers=1), expected)
    np.testing.assert_array_equal(toeplitz_hash(key, seed, m, workers=2), expected)


def test_edge_cases() -> None:
    key, seed = draw(5, 5, 1)
    assert toeplitz_hash(key, seed[:4], 0).shape == (0,)
    np.testing.assert_array_equal(toeplitz_hash(key, seed, 5), direct(key, seed))  # m = n
    ones = np.ones(70_000, dtype=np.uint8)  # every term is an even or odd count of 70 000 ones
    np.testing.assert_array_equal(toeplitz_hash(ones, np.ones(139_999, dtype=np.uint8), 70_000), np.zeros(70_000))
    with pytest.raises(ParameterError, match="workers"):
        toeplitz_hash(key, seed, 5, workers=0)


def test_sizes_in_turn_reuse_the_workspace_without_stale_bits() -> None:
    for n, m in [(200_001, 100_000), (150_001, 3), (200_001, 100_000), (70_001, 1_001)]:
        key, seed = draw(n, m, n ^ m)
        expected = direct(key, seed) if n * m < 10**8 else one_dimensional_fft(key, seed)
        np.testing.assert_array_equal(toeplitz_hash(key, seed, m, workers=1), expected)


def test_kept_workspace_holds_no_key_bits_after_a_call() -> None:
    key, seed = draw(100_001, 50_001, 3)
    toeplitz_hash(key, seed, 50_001)
    kept = conv._KEPT.workspace
    assert kept is not None
    for buffer in (kept.packed, kept.strided, kept.grid, kept.key_cells, kept.seed_cells, kept.key_spectrum):
        assert not buffer.any()


def test_numpy_without_fft_out_gives_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    key, seed = draw(70_001, 30_001, 11)
    expected = toeplitz_hash(key, seed, 30_001, workers=1)
    monkeypatch.setattr(conv, "_FFT_HAS_OUT", False)
    np.testing.assert_array_equal(toeplitz_hash(key, seed, 30_001, workers=1), expected)


def test_values_off_an_integer_raise() -> None:
    values = np.array([3.0, 4.0, 5.4])
    with pytest.raises(ArithmeticError, match="precision"):
        conv._parity(values, np.empty_like(values))
    near = np.array([-1e-9, 2.0 + 1e-7, 7.0 - 0.2, 1e9 + 0.1])
    np.testing.assert_array_equal(conv._parity(near, np.empty_like(near)), [0, 0, 1, 0])


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1 << 14, max_value=1 << 34))
def test_shape_is_coprime_large_enough_and_not_much_larger(length: int) -> None:
    rows, cols = conv._coprime_shape(length)
    assert math.gcd(rows, cols) == 1
    assert rows * cols >= length
    assert rows * cols <= 1.2 * length
    assert rows <= cols <= conv._MAX_ASPECT * rows


@pytest.mark.parametrize(("rows", "cols"), [(75, 896), (375, 4096), (343, 4374)])
def test_layout_puts_index_k_at_its_cell(rows: int, cols: int) -> None:
    plan = conv._Plan(rows, cols)
    k = np.arange(plan.size)
    expected = (k % rows) * cols + (k * plan.inverse) % cols
    start, count = plan.size // 3, plan.size - plan.size // 3
    np.testing.assert_array_equal(plan.cell_index(start, count, np.empty(count, dtype=np.intp)), expected[start:])
    work = conv._Workspace.allocate(plan)
    key, seed = draw(1, plan.size, rows)  # seed of length N; key of one bit
    work.lay_out(plan, key, seed)
    np.testing.assert_array_equal(work.seed_cells.reshape(-1)[expected], seed)
    assert work.key_cells.reshape(-1)[expected[0]] == key[0]
    assert work.key_cells.sum() == key[0]
