"""Toeplitz hashing against the explicit matrix, its universality, and sifting of detection records."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import toeplitz

from qinternet.errors import ParameterError
from qinternet.params import QkdSystem
from qinternet.physics.channels import fibre_channel
from qinternet.postprocessing import sift, toeplitz_hash, toeplitz_seed_bits
from qinternet.qkd.montecarlo import compile_link, sample_block
from qinternet.qkd.observables import observed_coherent
from qinternet.qkd.record import Basis


def explicit_toeplitz(seed: np.ndarray, n: int, m: int) -> np.ndarray:
    """The m x n matrix T[i, j] = seed[i - j + n - 1], built by scipy (independent of the FFT path)."""
    first_column = seed[n - 1 : n - 1 + m]
    first_row = seed[n - 1 :: -1][:n]
    return toeplitz(first_column, first_row)


@pytest.mark.parametrize(("n", "m"), [(1, 1), (7, 3), (64, 64), (500, 123), (2049, 1000)])
def test_fft_hash_equals_the_matrix_product(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 1000 + m)
    key = rng.integers(0, 2, n, dtype=np.uint8)
    seed = rng.integers(0, 2, toeplitz_seed_bits(n, m), dtype=np.uint8)
    expected = (explicit_toeplitz(seed, n, m).astype(np.int64) @ key) % 2
    np.testing.assert_array_equal(toeplitz_hash(key, seed, m), expected)


def test_large_keys_stay_exact() -> None:
    # Linearity over GF(2) holds exactly only if every FFT value rounds to the right integer.
    rng = np.random.default_rng(5)
    n, m = 1_000_000, 400_000
    seed = rng.integers(0, 2, toeplitz_seed_bits(n, m), dtype=np.uint8)
    a, b = (rng.integers(0, 2, n, dtype=np.uint8) for _ in range(2))
    np.testing.assert_array_equal(toeplitz_hash(a, seed, m) ^ toeplitz_hash(b, seed, m), toeplitz_hash(a ^ b, seed, m))


def test_toeplitz_family_is_two_universal() -> None:
    # For fixed x != y, P_seed[T x = T y] = 2^-m. With m = 3 and 4000 seeds the count of collisions is
    # binomial(4000, 1/8): mean 500, standard deviation 20.9; we allow 5 standard deviations.
    rng = np.random.default_rng(6)
    n, m, trials = 40, 3, 4000
    x = rng.integers(0, 2, n, dtype=np.uint8)
    y = x.copy()
    y[[3, 17]] ^= 1
    collisions = 0
    for _ in range(trials):
        seed = rng.integers(0, 2, toeplitz_seed_bits(n, m), dtype=np.uint8)
        collisions += bool(np.array_equal(toeplitz_hash(x, seed, m), toeplitz_hash(y, seed, m)))
    assert abs(collisions - trials / 8) <= 5 * np.sqrt(trials * (1 / 8) * (7 / 8))


def test_bad_seed_or_length_is_refused() -> None:
    key = np.zeros(10, dtype=np.uint8)
    with pytest.raises(ParameterError, match="seed"):
        toeplitz_hash(key, np.zeros(5, dtype=np.uint8), 3)
    with pytest.raises(ParameterError, match="output_bits"):
        toeplitz_hash(key, np.zeros(30, dtype=np.uint8), 11)
    with pytest.raises(ParameterError, match="key"):
        toeplitz_hash(np.full(10, 2, dtype=np.uint8), np.zeros(12, dtype=np.uint8), 3)


def test_sifting_keeps_matching_bases_only(gys: QkdSystem) -> None:
    record = sample_block(compile_link(gys, fibre_channel(gys.fibre, 25.0)), 10**8, np.random.default_rng(7))
    sifted = sift(record)
    same = record.alice_basis == record.bob_basis
    assert len(sifted) == int(same.sum())
    assert np.all(np.diff(sifted.slot) > 0)
    # About half the detections survive with unbiased bases (binomial, 5 sigma).
    assert abs(len(sifted) - len(record) / 2) <= 5 * np.sqrt(len(record) / 4)
    z = sifted.in_basis(Basis.Z)
    assert set(np.unique(z.basis)) == {int(Basis.Z)}
    # The error rate of the signal class in the sifted key is the model's QBER E_mu (binomial, 5 sigma).
    signal = sifted.where(sifted.intensity_class == 0)
    expected = float(observed_coherent(gys, fibre_channel(gys.fibre, 25.0), 0.48).error_rate)
    qber = signal.error_count() / len(signal)
    assert qber == pytest.approx(expected, abs=5 * np.sqrt(expected * (1 - expected) / len(signal)))


def test_sifting_an_empty_record_is_refused(gys: QkdSystem) -> None:
    quiet = sample_block(compile_link(gys, fibre_channel(gys.fibre, 0.0)), 1, np.random.default_rng(8))
    empty = quiet.select(np.zeros(len(quiet), dtype=bool))
    with pytest.raises(ParameterError, match="record"):
        sift(empty)
