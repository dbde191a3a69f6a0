"""The compiled Cascade of simulation against the protocol over a parity oracle: the same bits and counts.

``cascade_frames`` runs the numba kernels of :mod:`qinternet.postprocessing.cascade_kernels`; ``reconcile``
with a :class:`LocalParityOracle` runs the numpy path that works over any oracle. Both must give the same
corrected key, the same disclosed parities and messages per frame and the same round trips, for every
variant, because they are one protocol.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from qinternet.postprocessing.cascade import (
    CASCADE_VARIANTS,
    CascadeVariant,
    ErrorRateBlock,
    GrowBlock,
    HalfFrameBlock,
    Reconciliation,
    reconcile,
    reconcile_in_process,
)
from qinternet.postprocessing.cascade_kernels import pass_orders
from qinternet.postprocessing.parity import LocalParityOracle, PassOrder

# A version no row of the table has: BICONF whose corrections cascade into the passes, block reuse, and a
# shuffled first pass.
CASCADING_BICONF = CascadeVariant(
    name="cascading-biconf",
    passes=3,
    blocks=(ErrorRateBlock(0.73), GrowBlock(2), HalfFrameBlock()),
    subblock_reuse=True,
    shuffle_first_pass=True,
    biconf_rounds=3,
    biconf_cascade=True,
)
VARIANTS = [*CASCADE_VARIANTS.values(), CASCADING_BICONF]


def _frames(frames: int, frame_bits: int, qber: float, seed: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    alice = rng.integers(0, 2, (frames, frame_bits), dtype=np.uint8)
    return alice, alice ^ (rng.random(alice.shape) < qber).astype(np.uint8)


def _assert_same(compiled: Reconciliation, generic: Reconciliation) -> None:
    np.testing.assert_array_equal(compiled.corrected_bits, generic.corrected_bits)
    np.testing.assert_array_equal(compiled.leaked_bits, generic.leaked_bits)
    np.testing.assert_array_equal(compiled.messages, generic.messages)
    assert compiled.round_trips == generic.round_trips


@pytest.mark.parametrize(("frame_bits", "frames"), [(1, 1), (2, 3), (7, 2), (300, 3), (5000, 1), (2**16, 2)])
def test_pass_orders_are_the_permutations_of_pass_order(frame_bits: int, frames: int) -> None:
    seeds = [None, 99, 2**63 - 1]
    orders = pass_orders(seeds, frames, frame_bits)
    assert orders.shape == (frames, len(seeds), frame_bits)
    for p, seed in enumerate(seeds):
        expected = PassOrder(frame_bits=frame_bits, frames=frames, seed=seed).positions.reshape(frames, frame_bits)
        np.testing.assert_array_equal(orders[:, p], expected - frame_bits * np.arange(frames)[:, None])


@settings(max_examples=40, deadline=None)
@given(
    frame_bits=st.integers(1, 2000),
    frames=st.integers(1, 3),
    qber=st.floats(0.0, 0.2),
    estimate=st.floats(0.005, 0.45),
    variant=st.sampled_from(VARIANTS),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_path_discloses_and_corrects_exactly_as_the_oracle_path(
    frame_bits: int, frames: int, qber: float, estimate: float, variant: CascadeVariant, seed: int
) -> None:
    alice, bob = _frames(frames, frame_bits, qber, seed)
    bob_before = bob.copy()
    compiled = reconcile_in_process(alice, bob, estimate, variant, np.random.default_rng(seed))
    generic = reconcile(bob, LocalParityOracle(alice), estimate, variant, np.random.default_rng(seed))
    _assert_same(compiled, generic)
    np.testing.assert_array_equal(bob, bob_before)


@pytest.mark.parametrize("variant", ["option7", "yanetal", "biconf"])
def test_a_full_size_frame_matches_the_oracle_path(variant: str) -> None:
    """The benchmark's case: a 2^16-bit frame at 2 %, long enough for every pass to correct errors."""
    alice, bob = _frames(1, 2**16, 0.02, seed=4)
    compiled = reconcile_in_process(alice, bob, 0.02, variant, np.random.default_rng(8))
    generic = reconcile(bob, LocalParityOracle(alice), 0.02, variant, np.random.default_rng(8))
    _assert_same(compiled, generic)
    np.testing.assert_array_equal(compiled.corrected_bits, alice)


def test_a_seeded_rng_gives_the_same_reconciliation() -> None:
    alice, bob = _frames(3, 4096, 0.03, seed=21)
    first = reconcile_in_process(alice, bob, 0.03, "option7", np.random.default_rng(1))
    _assert_same(reconcile_in_process(alice, bob, 0.03, "option7", np.random.default_rng(1)), first)
    other = reconcile_in_process(alice, bob, 0.03, "option7", np.random.default_rng(2))
    assert not np.array_equal(other.leaked_bits, first.leaked_bits)  # the orders come from the rng
