"""The classical channel of interactive error correction: Bob asks, Alice answers parities.

In Cascade (:mod:`.cascade`) Alice holds the reference key and Bob corrects his. Everything Bob needs
from Alice is the parity of some of her bits, and every bit Alice answers is disclosed to an eavesdropper
and must be subtracted by privacy amplification. The channel is therefore a small protocol,
:class:`ParityOracle`, with two calls:

* :meth:`ParityOracle.add_order` announces the public order in which a pass reads the key (a
  :class:`PassOrder`: frame length, number of frames and a seed, a few bytes on the wire; the
  permutation itself is derived from the seed on both sides);
* :meth:`ParityOracle.parities` asks, in one round trip, for the parities of a whole batch of ranges
  of those orders (a :class:`ParityQuery`). Cascade asks once per level of its binary searches, never
  once per block, so an oracle that lives in another key manager costs few round trips.

:class:`LocalParityOracle` answers from Alice's bits in the same process and counts what it disclosed
(``leaked_bits``) and the round trips (``messages``). An oracle over HTTP between key managers
implements the same two methods; nothing in Cascade knows which one it has.

Ranges are read in O(1) from prefix parities of Alice's key in each order, so an answer costs the same
for a block of two bits as for half the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.postprocessing.checks import require_bits

__all__ = ["MAX_BATCH_BITS", "LocalParityOracle", "ParityOracle", "ParityQuery", "PassOrder"]

MAX_BATCH_BITS = 2**31 - 1
"""Largest number of bits in one batch of frames (positions are stored as int32)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PassOrder:
    """The public order in which one pass reads a batch of ``frames`` frames of ``frame_bits`` bits.

    The batch is one flat key of ``frames * frame_bits`` bits (frame ``f`` holds flat indices
    ``f * frame_bits ...``); an order permutes bits within each frame, never across frames. With
    ``seed=None`` the order is the identity (Cascade's first pass); otherwise every frame gets an
    independent uniformly random permutation, drawn with ``numpy.random.default_rng(seed)`` (one
    ``Generator.permuted`` call over the frames' rows), so both parties derive the same order from the
    seed alone and only the seed crosses the channel.

    Attributes:
        frame_bits: bits per frame, ``n >= 1``.
        frames: number of frames, ``F >= 1``.
        seed: the permutation seed (non-negative), or None for the identity.
        positions: int32, shape (F * n,), derived: ``positions[t]`` is the flat index of the bit read
            ``t``-th. Read-only.
    """

    frame_bits: int
    frames: int
    seed: int | None
    positions: NDArray[np.int32] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.frame_bits < 1:
            raise ParameterError("order.frame_bits", f"must be at least 1, got {self.frame_bits}")
        if self.frames < 1:
            raise ParameterError("order.frames", f"must be at least 1, got {self.frames}")
        if self.frames * self.frame_bits > MAX_BATCH_BITS:
            raise ParameterError("order.frames", f"a batch holds at most {MAX_BATCH_BITS} bits")
        if self.seed is not None and self.seed < 0:
            raise ParameterError("order.seed", f"must be non-negative, got {self.seed}")
        n, frames = self.frame_bits, self.frames
        if self.seed is None:
            positions = np.arange(n * frames, dtype=np.int32)
        else:
            index_mask = np.uint64((1 << max(1, (n - 1).bit_length())) - 1)
            keys = np.random.default_rng(self.seed).bit_generator.random_raw(n * frames).reshape(frames, n)
            keys &= ~index_mask
            keys |= np.arange(n, dtype=np.uint64)
            keys.sort(axis=1)
            keys &= index_mask
            if frames > 1:
                keys += (np.arange(frames, dtype=np.uint64) * np.uint64(n))[:, None]
            positions = keys.astype(np.int32).reshape(-1)
        positions.flags.writeable = False
        object.__setattr__(self, "positions", positions)

    @property
    def total_bits(self) -> int:
        """Bits in the batch, ``frames * frame_bits``."""
        return self.frames * self.frame_bits


@dataclass(frozen=True, slots=True, kw_only=True)
class ParityQuery:
    """A batch of ranges whose parities Bob asks for in one round trip (all arrays shape (m,)).

    Range ``i`` is the bits at positions ``start[i] <= t < stop[i]`` of order ``order_index[i]``, i.e.
    flat key indices ``order.positions[start[i]:stop[i]]``; a range lies within one frame.

    Attributes:
        order_index: int64: which announced order (0 for the first :meth:`ParityOracle.add_order`).
        start: int64: first position of the range in that order.
        stop: int64: one past the last position.
    """

    order_index: NDArray[np.int64]
    start: NDArray[np.int64]
    stop: NDArray[np.int64]

    def __post_init__(self) -> None:
        m = self.order_index.shape
        if len(m) != 1 or self.start.shape != m or self.stop.shape != m:
            raise ParameterError(
                "query", f"needs three arrays of one shape (m,), got {m}, {self.start.shape}, {self.stop.shape}"
            )

    def __len__(self) -> int:
        return int(self.order_index.shape[0])


class ParityOracle(Protocol):
    """Alice's side of the parity channel, as Bob sees it (in-process, another process, or HTTP)."""

    def add_order(self, order: PassOrder) -> int:
        """Announce the order of the next pass; returns its index (0, 1, ... in announcement order)."""
        ...

    def parities(self, query: ParityQuery) -> NDArray[np.uint8]:
        """Alice's parities of the queried ranges, uint8 0/1, shape (m,), in query order (one round trip)."""
        ...


class LocalParityOracle:
    """A :class:`ParityOracle` answering from Alice's bits in the same process.

    Args:
        alice_bits: uint8 0/1, shape (n,) for one frame or (F, n) for a batch of frames (flattened in
            row order). The oracle keeps its own copy; the caller's array is never modified.

    Attributes:
        leaked_bits: parity bits answered so far (each answer discloses one bit).
        messages: round trips so far (calls of :meth:`parities` with at least one range).
    """

    def __init__(self, alice_bits: NDArray[np.uint8]) -> None:
        bits = np.asarray(alice_bits)
        require_bits("alice", bits.reshape(-1))
        if bits.size == 0:
            raise ParameterError("alice", "is empty")
        self._bits = np.array(bits.reshape(-1), dtype=np.uint8, copy=True)
        self._bits.flags.writeable = False
        self._prefix: list[NDArray[np.uint8]] = []
        self.leaked_bits = 0
        self.messages = 0

    def add_order(self, order: PassOrder) -> int:
        """Keep the prefix parities of Alice's key read in ``order``."""
        if order.total_bits != self._bits.shape[0]:
            raise ParameterError("order", f"covers {order.total_bits} bits, Alice holds {self._bits.shape[0]}")
        prefix = np.zeros(order.total_bits + 1, dtype=np.uint8)
        np.bitwise_xor.accumulate(self._bits[order.positions], out=prefix[1:])
        self._prefix.append(prefix)
        return len(self._prefix) - 1

    def parities(self, query: ParityQuery) -> NDArray[np.uint8]:
        """Answer every range from the prefix parities (one message, ``len(query)`` disclosed bits)."""
        m = len(query)
        answers = np.empty(m, dtype=np.uint8)
        if m == 0:
            return answers
        self._check(query)
        orders = np.unique(query.order_index)
        for index in orders.tolist():
            prefix = self._prefix[index]
            if orders.shape[0] == 1:
                answers[:] = prefix[query.stop] ^ prefix[query.start]
            else:
                sel = query.order_index == index
                answers[sel] = prefix[query.stop[sel]] ^ prefix[query.start[sel]]
        self.leaked_bits += m
        self.messages += 1
        return answers

    def _check(self, query: ParityQuery) -> None:
        n = self._bits.shape[0]
        if query.order_index.min() < 0 or query.order_index.max() >= len(self._prefix):
            raise ParameterError("query.order_index", f"must name one of the {len(self._prefix)} announced orders")
        if query.start.min() < 0 or query.stop.max() > n or np.any(query.start >= query.stop):
            raise ParameterError("query", f"ranges must satisfy 0 <= start < stop <= {n}")
