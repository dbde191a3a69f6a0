"""Verification by hashing, and Wegman-Carter authentication with accounted key consumption."""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.postprocessing import KeyPool, WegmanCarter, hashes_needed, verify_keys
from qinternet.postprocessing.gf2_64 import polynomial_hash, polynomial_hash_frames
from qinternet.postprocessing.verification import verify_frames


def test_equal_keys_pass_and_different_keys_fail() -> None:
    rng = np.random.default_rng(1)
    alice = rng.integers(0, 2, 100_000, dtype=np.uint8)
    bob = alice.copy()
    result = verify_keys(alice, bob, 1e-15, rng)
    assert result.ok
    assert result.failure_prob_bound <= 1e-15
    assert result.tag_bits == 64 * result.hashes
    bob[12345] ^= 1
    assert not verify_keys(alice, bob, 1e-15, rng).ok


def test_number_of_hashes_meets_eps_cor() -> None:
    # One 64-bit hash of L blocks fails with probability L / 2^64: for 1e5 bits (1564 blocks), ~8.5e-17.
    assert hashes_needed(100_000, 1e-15) == 1
    assert hashes_needed(100_000, 1e-17) == 2
    assert hashes_needed(10**7, 1e-15) == 2  # 156,251 blocks: 8.5e-15 per hash
    for key_bits, eps in [(10**3, 1e-10), (10**6, 1e-20), (10**8, 1e-30)]:
        k = hashes_needed(key_bits, eps)
        per_hash = (-(-key_bits // 64) + 1) / 2.0**64
        assert per_hash**k <= eps < per_hash ** (k - 1)


@pytest.mark.parametrize("eps", [0.0, 1.0, -1e-3, float("nan")])
def test_eps_outside_the_unit_interval_is_refused(eps: float) -> None:
    with pytest.raises(ParameterError, match="eps_cor"):
        hashes_needed(1000, eps)


def test_mismatched_key_lengths_are_refused() -> None:
    with pytest.raises(ParameterError, match="bob"):
        verify_keys(np.zeros(10, np.uint8), np.zeros(11, np.uint8), 1e-10, np.random.default_rng(0))


def test_wegman_carter_tags_verify_and_forgeries_fail() -> None:
    rng = np.random.default_rng(2)
    shared = rng.integers(0, 2, 64 * 10, dtype=np.uint8)
    alice, bob = WegmanCarter(KeyPool(shared.copy())), WegmanCarter(KeyPool(shared.copy()))
    messages = [rng.integers(0, 2, n, dtype=np.uint8) for n in (10, 1000, 64)]
    for message in messages:
        assert bob.verify(message, alice.tag(message))
    forged = messages[0].copy()
    forged[3] ^= 1
    tag = alice.tag(messages[0])
    assert not bob.verify(forged, tag)
    # Hash key once, then one 64-bit pad per message, on each side.
    assert alice.bits_consumed == bob.bits_consumed == 64 * (1 + len(messages) + 1)


def test_tags_of_equal_messages_differ_across_pads() -> None:
    rng = np.random.default_rng(4)
    auth = WegmanCarter(KeyPool(rng.integers(0, 2, 64 * 4, dtype=np.uint8)))
    message = np.ones(100, dtype=np.uint8)
    assert auth.tag(message) != auth.tag(message)  # one-time pads hide the hash


def test_an_exhausted_pool_is_an_error_not_a_reused_pad() -> None:
    auth = WegmanCarter(KeyPool(np.zeros(128, dtype=np.uint8)))
    auth.tag(np.ones(8, dtype=np.uint8))
    with pytest.raises(ParameterError, match="exhausted"):
        auth.tag(np.ones(8, dtype=np.uint8))


def test_frames_verify_one_by_one() -> None:
    rng = np.random.default_rng(7)
    alice = rng.integers(0, 2, (6, 5000), dtype=np.uint8)
    bob = alice.copy()
    bob[2, 17] ^= 1
    bob[5, 4999] ^= 1
    outcome = verify_frames(alice, bob, 1e-12, rng)
    assert outcome.ok.tolist() == [True, True, False, True, True, False]
    assert outcome.failure_prob_bound <= 1e-12
    # The batched hash of each row equals the hash of that row alone.
    r = 0xDEADBEEF12345678
    tags = polynomial_hash_frames(alice, r)
    assert [int(t) for t in tags] == [polynomial_hash(row, r) for row in alice]
