"""Cascade reconciliation: published efficiencies, frame error rates, exact leak accounting, invariants.

Published numbers are those of Martinez-Mateo, Pacher, Peev, Ciurana, Martin, "Demystifying the
information reconciliation protocol Cascade", QIC 15, 453 (2015), arXiv:1407.3257, read off their
Fig. 8 (original, mod. (1), opt. (2), opt. (3)) and Fig. 11 (opt. (3), opt. (4)) at Q = 1, 2 and 5 %.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.postprocessing.cascade import (
    CASCADE_VARIANTS,
    CascadeResult,
    CascadeVariant,
    ErrorRateBlock,
    GrowBlock,
    cascade,
    cascade_frames,
    cascade_variant,
    reconcile,
)
from qinternet.postprocessing.parity import LocalParityOracle, ParityQuery, PassOrder

FRAME_BITS = 2**14
QBERS = (0.01, 0.02, 0.05)

# f at Q = 1, 2, 5 %, read off the paper's figures (frames of 10^4 bits, averages over many frames).
PUBLISHED_EFFICIENCY = {
    "original": (1.134, 1.152, 1.181),  # Fig. 8/11, black
    "biconf": (1.095, 1.090, 1.096),  # Fig. 8, blue: mod. (1)
    "yanetal": (1.089, 1.084, 1.089),  # Fig. 8, red: opt. (2)
    "option3": (1.086, 1.085, 1.099),  # Fig. 8/11, green: opt. (3)
    "option4": (1.070, 1.067, 1.078),  # Fig. 11, brown: opt. (4), block reuse
}


def _frames(qber: float, frames: int, seed: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Alice's uniform bits and Bob's copy through a binary symmetric channel of error rate ``qber``."""
    rng = np.random.default_rng(seed)
    alice = rng.integers(0, 2, (frames, FRAME_BITS), dtype=np.uint8)
    return alice, alice ^ (rng.random(alice.shape) < qber).astype(np.uint8)


@cache
def _run(variant: str, qber: float, frames: int) -> tuple[CascadeResult, ...]:
    """Reconcile ``frames`` frames of 2^14 bits at ``qber`` as one batch (cached: several tests read it)."""
    alice, bob = _frames(qber, frames, seed=int(qber * 1000) + 17 * frames)
    return tuple(cascade_frames(alice, bob, qber, variant, np.random.default_rng(5)))


@pytest.mark.parametrize("variant", sorted(PUBLISHED_EFFICIENCY))
@pytest.mark.parametrize("q_index", range(len(QBERS)))
def test_efficiency_matches_martinez_mateo(variant: str, q_index: int) -> None:
    """Mean f over 32 frames of 2^14 bits is within 0.02 of the published value for the same version.

    The tolerance covers the statistical error of 32 frames (per-frame spread 0.007-0.025, so at most
    0.005 on the mean), reading the curves (+-0.003) and the frame length (2^14 bits here, 10^4 there,
    which moves the saw-tooth of f against Q).
    """
    qber = QBERS[q_index]
    results = _run(variant, qber, 32)
    f = float(np.mean([r.efficiency for r in results]))
    assert f == pytest.approx(PUBLISHED_EFFICIENCY[variant][q_index], abs=0.02)


@pytest.mark.parametrize("variant", ["option7", "option8"])
@pytest.mark.parametrize("qber", QBERS)
def test_best_versions_meet_the_goal(variant: str, qber: float) -> None:
    """Versions (7) and (8), proposed as improvements on (4), reach the issue's goal f <= 1.10 and beat (4).

    (Measured here: f = 1.045-1.055 at Q = 1-5 % on 2^14 bits; the published opt. (4) is 1.067-1.078.)
    """
    results = _run(variant, qber, 32)
    f = float(np.mean([r.efficiency for r in results]))
    assert f <= 1.10
    assert f < min(PUBLISHED_EFFICIENCY["option4"])


@pytest.mark.parametrize(("variant", "qber"), [("option7", 0.02), ("option7", 0.05), ("original", 0.01)])
def test_frame_error_rate_is_small(variant: str, qber: float) -> None:
    """At most one of 100 frames of 2^14 bits keeps an error.

    Martinez-Mateo et al. report frame error rates of 4e-4 (original, Q = 1 %) down to 1e-5 (Fig. 10)
    and about 1e-4 for 14 passes with block reuse (Fig. 12). With a true rate of 1e-3 or less, two or
    more failures in 100 frames have probability below 0.5 %.
    """
    results = _run(variant, qber, 100)
    assert sum(r.frame_error for r in results) <= 1


def test_leak_accounting_is_exact() -> None:
    """Bob's count of disclosed parities equals what the oracle answered, frame by frame."""

    class CountingOracle(LocalParityOracle):
        def __init__(self, bits: NDArray[np.uint8]) -> None:
            super().__init__(bits)
            self.per_frame = np.zeros(bits.shape[0], dtype=np.int64)

        def parities(self, query: ParityQuery) -> NDArray[np.uint8]:
            np.add.at(self.per_frame, query.start // FRAME_BITS, 1)
            return super().parities(query)

    alice, bob = _frames(0.03, 4, seed=11)
    for variant in CASCADE_VARIANTS:
        oracle = CountingOracle(alice)
        result = reconcile(bob, oracle, 0.03, variant, np.random.default_rng(2))
        assert int(result.leaked_bits.sum()) == oracle.leaked_bits
        np.testing.assert_array_equal(result.leaked_bits, oracle.per_frame)
        assert result.round_trips == oracle.messages
        assert result.messages.max() <= oracle.messages
        np.testing.assert_array_equal(result.corrected_bits, alice)


def test_a_single_frame_reports_leak_and_messages_as_the_oracle_saw_them() -> None:
    alice, bob = _frames(0.02, 1, seed=3)
    oracle = LocalParityOracle(alice[0])
    outcome = reconcile(bob[0], oracle, 0.02, "option7", np.random.default_rng(9))
    result = cascade(alice[0], bob[0], 0.02, "option7", np.random.default_rng(9))
    assert outcome.corrected_bits.shape == (FRAME_BITS,)
    assert result.leaked_bits == oracle.leaked_bits == int(outcome.leaked_bits[0])
    assert result.messages == oracle.messages
    errors = int(np.count_nonzero(alice != bob))
    assert result.qber == errors / FRAME_BITS
    assert result.efficiency == pytest.approx(result.leaked_bits / (FRAME_BITS * _h(result.qber)))


def _h(p: float) -> float:
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


@settings(max_examples=60, deadline=None)
@given(
    frame_bits=st.integers(1, 300),
    frames=st.integers(1, 3),
    qber=st.floats(0.0, 0.3),
    estimate=st.floats(0.005, 0.45),
    variant=st.sampled_from(sorted(CASCADE_VARIANTS)),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_flip_corrects_an_error_and_alice_is_untouched(
    frame_bits: int, frames: int, qber: float, estimate: float, variant: str, seed: int
) -> None:
    """Bob only ever flips bits where he was wrong, so he never ends with more errors; Alice's key stays."""
    rng = np.random.default_rng(seed)
    alice = rng.integers(0, 2, (frames, frame_bits), dtype=np.uint8)
    bob = alice ^ (rng.random(alice.shape) < qber).astype(np.uint8)
    alice_before, bob_before = alice.copy(), bob.copy()
    oracle = LocalParityOracle(alice)
    result = reconcile(bob, oracle, estimate, variant, rng)
    np.testing.assert_array_equal(alice, alice_before)
    np.testing.assert_array_equal(bob, bob_before)
    flipped = result.corrected_bits != bob
    assert not np.any(flipped & (alice == bob))
    assert np.count_nonzero(result.corrected_bits != alice) <= np.count_nonzero(bob != alice)
    assert int(result.leaked_bits.sum()) == oracle.leaked_bits


def test_block_sizes_follow_the_table() -> None:
    assert cascade_variant("original").block_bits(0.01, 10**6) == (73, 146, 292, 584)
    assert cascade_variant("option7").block_bits(0.02, FRAME_BITS)[:4] == (64, 256, 8192, 8192)
    # opt. (8) at Q = 2 %: a = log2(50) - 1/2 = 5.14, k1 = 2^6, k2 = 2^ceil(8.57) = 512, k3 = 4096.
    assert cascade_variant("option8").block_bits(0.02, FRAME_BITS)[:4] == (64, 512, 4096, 8192)
    assert cascade_variant("yanetal").block_bits(0.02, FRAME_BITS)[:3] == (40, 200, 8192)
    assert max(cascade_variant("original").block_bits(0.001, 1000)) == 1000  # capped at the frame


def test_pass_orders_are_per_frame_permutations_derived_from_the_seed() -> None:
    order = PassOrder(frame_bits=1000, frames=3, seed=42)
    rows = order.positions.reshape(3, 1000)
    for f in range(3):
        np.testing.assert_array_equal(np.sort(rows[f]), np.arange(1000) + 1000 * f)
    np.testing.assert_array_equal(order.positions, PassOrder(frame_bits=1000, frames=3, seed=42).positions)
    assert not np.array_equal(rows[0], rows[1] - 1000)
    np.testing.assert_array_equal(PassOrder(frame_bits=5, frames=2, seed=None).positions, np.arange(10))


def test_local_oracle_answers_range_parities_and_counts() -> None:
    rng = np.random.default_rng(0)
    alice = rng.integers(0, 2, 64, dtype=np.uint8)
    oracle = LocalParityOracle(alice)
    order = PassOrder(frame_bits=64, frames=1, seed=3)
    assert oracle.add_order(order) == 0
    start, stop = np.array([0, 5, 63]), np.array([64, 9, 64])
    answers = oracle.parities(ParityQuery(order_index=np.zeros(3, np.int64), start=start, stop=stop))
    expected = [np.bitwise_xor.reduce(alice[order.positions[a:b]]) for a, b in zip(start, stop, strict=True)]
    np.testing.assert_array_equal(answers, expected)
    assert (oracle.leaked_bits, oracle.messages) == (3, 1)
    with pytest.raises(ParameterError, match="query"):
        oracle.parities(ParityQuery(order_index=np.zeros(1, np.int64), start=np.array([4]), stop=np.array([4])))
    with pytest.raises(ParameterError, match="order_index"):
        oracle.parities(ParityQuery(order_index=np.ones(1, np.int64), start=np.array([0]), stop=np.array([1])))


# ---------------------------------------------------------------------------------------------------
# Bad input


def test_mismatched_key_lengths_are_refused() -> None:
    with pytest.raises(ParameterError, match="bob"):
        cascade(np.zeros(10, np.uint8), np.zeros(11, np.uint8), 0.02, "original", np.random.default_rng(0))
    with pytest.raises(ParameterError, match="order"):
        reconcile(
            np.zeros(11, np.uint8),
            LocalParityOracle(np.zeros(10, np.uint8)),
            0.02,
            "original",
            np.random.default_rng(0),
        )


def test_empty_keys_are_refused() -> None:
    with pytest.raises(ParameterError, match="alice"):
        cascade(np.zeros(0, np.uint8), np.zeros(0, np.uint8), 0.02, "original", np.random.default_rng(0))
    with pytest.raises(ParameterError, match="bob"):
        reconcile(
            np.zeros(0, np.uint8), LocalParityOracle(np.zeros(1, np.uint8)), 0.02, "original", np.random.default_rng(0)
        )


@pytest.mark.parametrize("estimate", [0.0, 0.5, -0.01, 0.7, float("nan"), float("inf")])
def test_qber_estimate_outside_the_open_interval_is_refused(estimate: float) -> None:
    with pytest.raises(ParameterError, match="qber_estimate"):
        cascade(np.zeros(8, np.uint8), np.ones(8, np.uint8), estimate, "original", np.random.default_rng(0))


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ParameterError, match="variant") as info:
        cascade(np.zeros(8, np.uint8), np.zeros(8, np.uint8), 0.02, "option9", np.random.default_rng(0))
    assert "option7" in info.value.reason


def test_non_bits_are_refused() -> None:
    with pytest.raises(ParameterError, match="bob"):
        cascade(np.zeros(8, np.uint8), np.full(8, 2, np.uint8), 0.02, "original", np.random.default_rng(0))


def test_malformed_variants_are_refused() -> None:
    with pytest.raises(ParameterError, match=r"variant\.passes"):
        CascadeVariant(name="none", passes=0, blocks=(ErrorRateBlock(1.0),))
    with pytest.raises(ParameterError, match=r"variant\.blocks"):
        CascadeVariant(name="grow-first", passes=2, blocks=(GrowBlock(2),))
    with pytest.raises(ParameterError, match=r"variant\.blocks"):
        CascadeVariant(name="empty", passes=2, blocks=())
