"""Compiled Cascade for simulation, where Alice's key is in the same process (numba kernels).

:func:`reconcile_local` runs exactly the protocol of :func:`qinternet.postprocessing.cascade.reconcile`
(same pass orders, same block trees, same rule for which blocks are searched in which round, same parities
asked) and returns the same corrected key, disclosure, messages and round trips, bit for bit. It gets there
another way: instead of advancing every binary search of the batch in lock-step with numpy calls, it runs
one frame at a time through compiled loops and answers Alice's parities from her own block trees. One frame
never influences another in Cascade (the passes of a batch only share their seeds), so this only changes
how the round trips are counted: each frame records the rounds in which it asked something, and a batch's
round trip is a round in which any frame asked.

Node states are the bits of one uint8 per tree node: Bob's current parity of the node's range, Alice's
parity as Bob knows it, whether he knows it, Alice's true parity (the oracle's side of the simulation, read
only when Bob asks), and two scratch flags of the search (queued, covered).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["pass_orders", "reconcile_local"]

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
U8 = NDArray[np.uint8]
U64 = NDArray[np.uint64]

_F = TypeVar("_F", bound=Callable[..., Any])


def _kernel(fn: _F) -> _F:
    """Compile ``fn`` with numba in nopython mode, cached on disk next to this module."""
    return cast(_F, numba.njit(cache=True, nogil=True)(fn))


# Bits of a node's state.
_BOB = 1  # Bob's current parity of the node's range
_ALICE = 2  # Alice's parity, as far as Bob knows it
_KNOWN = 4  # Bob knows Alice's parity
_TRUTH = 8  # Alice's actual parity (the simulated oracle's answer)
_QUEUED = 16  # the node is in the queue of candidates for a search
_COVERED = 32  # scratch: a chosen node lies below

# Bucket bits of the permutation sort: two buckets a key (fewest mispredicted branches, measured on 2^16-bit
# frames), for frames up to 2^19 bits (4 MiB of counts).
_MAX_BUCKET_BITS = 20
# Phase numbers are stored above this bit in the round records (rounds of one phase stay below 2^32).
_PHASE_SHIFT = 32


# ---------------------------------------------------------------------------------------------------
# Pass orders


@_kernel
def _sort_rows(raw: U64, index_bits: int, out: I32, p: int) -> None:
    """``out[f, p]``: PassOrder's permutation of frame ``f`` from its raw draws ``raw[f * n:(f + 1) * n]``.

    PassOrder sorts the keys ``(raw & ~mask) | index`` and keeps their low bits; the keys are distinct, so
    any sort gives its order. Here a counting sort on the top bits puts about one key in a bucket, and an
    insertion sort finishes the buckets: O(n) instead of O(n log n).
    """
    frames, n = out.shape[0], out.shape[2]
    mask = np.uint64((1 << index_bits) - 1)
    bucket_bits = min(index_bits + 1, _MAX_BUCKET_BITS)
    shift = np.uint64(64 - bucket_bits)
    buckets = 1 << bucket_bits
    count = np.zeros(buckets + 1, dtype=np.int32)
    keys = np.empty(n, dtype=np.uint64)
    for f in range(frames):
        count[:] = 0
        row = raw[f * n : (f + 1) * n]
        for t in range(n):
            count[(row[t] >> shift) + np.uint64(1)] += 1
        for b in range(buckets):
            count[b + 1] += count[b]
        for t in range(n):
            b = row[t] >> shift
            keys[count[b]] = (row[t] & ~mask) | np.uint64(t)
            count[b] += 1
        # Keys of a bucket are adjacent and every key of a lower bucket is smaller: one insertion sort over
        # all keys only reorders within buckets.
        largest = keys[0]
        for t in range(1, n):
            key = keys[t]
            if key > largest:
                largest = key
                continue
            s = t - 1
            while s >= 0 and keys[s] > key:
                keys[s + 1] = keys[s]
                s -= 1
            keys[s + 1] = key
        for t in range(n):
            out[f, p, t] = np.int32(keys[t] & mask)


def pass_orders(seeds: Sequence[int | None], frames: int, n: int) -> I32:
    """The orders of passes, frame-local: int32, shape (frames, passes, n).

    ``out[f, p]`` is ``PassOrder(frame_bits=n, frames=frames, seed=seeds[p]).positions`` of frame ``f``, less
    ``f n``: the identity for ``None``, else the permutation :class:`~.parity.PassOrder` derives from the seed.
    """
    out = np.empty((frames, len(seeds), n), dtype=np.int32)
    for p, seed in enumerate(seeds):
        if seed is None:
            out[:, p, :] = np.arange(n, dtype=np.int32)
        else:
            raw = np.random.default_rng(seed).bit_generator.random_raw(frames * n)
            _sort_rows(raw, max(1, (n - 1).bit_length()), out, p)
    return out


# ---------------------------------------------------------------------------------------------------
# One frame of Cascade


@_kernel
def _odd_known(state: np.uint8) -> bool:
    return bool((state & _KNOWN) != 0 and ((state >> 1) ^ state) & _BOB != 0)


@_kernel
def _pass_of(gid: int, offset: I64) -> int:
    q = offset.shape[0] - 1
    while offset[q] > gid:
        q -= 1
    return int(q)


@_kernel
def _push(queue: I64, size: int, gid: int) -> tuple[I64, int]:
    if size == queue.shape[0]:
        grown = np.empty(2 * size, dtype=np.int64)
        grown[:size] = queue
        queue = grown
    queue[size] = gid
    return queue, size + 1


@_kernel
def _build(
    q: int,
    bits: U8,
    pos: I32,
    where: I32,
    tree: U8,
    geometry: I64,
    queue: I64,
    queued: int,
) -> tuple[I64, int]:
    """Fill pass ``q``'s trees with both parties' parities; queue its disclosed top blocks that are odd.

    ``bits`` holds Bob's bit in bit 0 and Alice's in bit 3 (a node's state bits), so that one read serves both.
    """
    k, blocks, last, depth, width, offset, disclosed = geometry[:, q]
    leaves = 1 << depth
    if k != leaves or last != leaves:  # some leaves hold no bit
        tree[offset : offset + blocks * width] = 0
    for b in range(blocks):
        kb = last if b == blocks - 1 else k
        base = offset + b * width
        # Bit o of the block sits in leaf floor(o 2^depth / kb), stepped without dividing.
        step, carry = divmod(leaves, kb)
        slot = remainder = 0
        for o in range(kb):
            t = b * k + o
            i = pos[q, t]
            where[q, i] = t
            tree[base + leaves + slot] = bits[i]
            slot += step
            remainder += carry
            if remainder >= kb:
                remainder -= kb
                slot += 1
        for h in range(leaves - 1, 0, -1):
            tree[base + h] = tree[base + 2 * h] ^ tree[base + 2 * h + 1]
        if b < disclosed:
            s = tree[base + 1]
            s |= _KNOWN | (((s >> 3) & _BOB) << 1)
            if _odd_known(s):
                s |= _QUEUED
                queue, queued = _push(queue, queued, base + 1)
            tree[base + 1] = s
    return queue, queued


@_kernel
def _flip(
    i: int,
    bits: U8,
    where: I32,
    tree: U8,
    geometry: I64,
    built: int,
    reuse: bool,
    cascade: bool,
    queue: I64,
    queued: int,
) -> tuple[I64, int]:
    """Flip Bob's bit ``i`` and every node above it in the built passes; queue the known nodes now odd."""
    bits[i] ^= _BOB
    for q in range(built):
        k, blocks, last, depth, width, offset = geometry[:6, q]
        t = where[q, i]
        b = t // k
        o = t - b * k
        kb = last if b == blocks - 1 else k
        base = offset + b * width
        leaf = (1 << depth) + (o if kb == 1 << depth else (o << depth) // kb)
        for d in range(depth + 1):
            g = base + (leaf >> (depth - d))
            s = tree[g] ^ _BOB
            if cascade and (reuse or d == 0) and _odd_known(s) and not s & _QUEUED:
                s |= _QUEUED
                queue, queued = _push(queue, queued, g)
            tree[g] = s
    return queue, queued


@_kernel
def _select(tree: U8, geometry: I64, queue: I64, queued: int, active: I64) -> tuple[int, int]:
    """Move into ``active`` the odd nodes of the lowest pass that has any, unless one below is chosen too.

    Drops from the queue the nodes no longer odd. Returns how many are active and how many stay queued.
    ``active[j]`` holds (global node, pass, block, heap index, depth).
    """
    offset, depth, width = geometry[5], geometry[3], geometry[4]
    lowest = offset.shape[0]
    kept = 0
    for x in range(queued):
        g = queue[x]
        if _odd_known(tree[g]):
            queue[kept] = g
            kept += 1
            lowest = min(lowest, _pass_of(g, offset))
        else:
            tree[g] &= ~_QUEUED
    queued = kept
    if queued == 0:
        return 0, 0
    shift, mask = depth[lowest] + 1, width[lowest] - 1
    for x in range(queued):  # cover the ancestors of every candidate of the lowest pass
        g = queue[x]
        if _pass_of(g, offset) == lowest:
            base = g - ((g - offset[lowest]) & mask)
            h = (g - base) >> 1
            while h >= 1 and not tree[base + h] & _COVERED:
                tree[base + h] |= _COVERED
                h >>= 1
    chosen = 0
    kept = 0
    for x in range(queued):
        g = queue[x]
        if _pass_of(g, offset) == lowest and not tree[g] & _COVERED:
            heap = (g - offset[lowest]) & mask
            active[chosen, 0] = g
            active[chosen, 1] = lowest
            active[chosen, 2] = (g - offset[lowest]) >> shift
            active[chosen, 3] = heap
            active[chosen, 4] = 63 - _leading_zeros(heap)
            tree[g] &= ~_QUEUED
            chosen += 1
        else:
            queue[kept] = g
            kept += 1
    for x in range(kept):  # clear the scratch flags
        g = queue[x]
        if _pass_of(g, offset) == lowest:
            base = g - ((g - offset[lowest]) & mask)
            h = (g - base) >> 1
            while h >= 1 and tree[base + h] & _COVERED:
                tree[base + h] &= ~_COVERED
                h >>= 1
    for x in range(chosen):
        g = active[x, 0]
        base = g - active[x, 3]
        h = active[x, 3] >> 1
        while h >= 1 and tree[base + h] & _COVERED:
            tree[base + h] &= ~_COVERED
            h >>= 1
    return chosen, kept


@_kernel
def _leading_zeros(x: int) -> int:
    zeros = 64
    while x:
        x >>= 1
        zeros -= 1
    return zeros


@_kernel
def _run_frame(
    alice: U8,
    bob: U8,
    pos: I32,
    where: I32,
    tree: U8,
    geometry: I64,
    built: int,
    reuse: bool,
    cascade: bool,
    phase: int,
    rounds: I64,
    recorded: int,
) -> tuple[int, int, int, I64, int]:
    """Cascade on one frame until no known parity differs in any pass, building passes as they are needed.

    Args:
        alice, bob: uint8 0/1, shape (n,): the frame's bits (Bob's are corrected in place).
        pos: int32, shape (P, n): each pass's order; where: int32, shape (P, n): its inverse (filled when a
            pass is built).
        tree: uint8: the nodes of every pass (pass ``q`` from ``geometry[5, q]``).
        geometry: int64, shape (7, P): per pass the block size, number of blocks, size of the last block,
            tree depth, tree width, offset in ``tree`` and number of top blocks Alice disclosed.
        built: passes already built (their trees are valid and kept up to date).
        reuse, cascade: as for the numpy path's ``_run_searches``.
        phase, rounds, recorded: every round in which the frame asks is appended to ``rounds`` as
            ``phase << 32 | round``.

    Returns:
        Passes built, parities asked, bits flipped, the round records and their number.
    """
    active = np.empty((pos.shape[1], 5), dtype=np.int64)  # searches cover disjoint ranges of one pass
    queue = np.empty(64, dtype=np.int64)
    queued = 0
    bits = (bob | (alice << 3)).astype(np.uint8)
    passes = geometry.shape[1]
    asked = flipped = 0
    searching = 0
    step = 0
    while True:
        if searching == 0:
            while True:
                searching, queued = _select(tree, geometry, queue, queued, active)
                if searching or built == passes:
                    break
                queue, queued = _build(built, bits, pos, where, tree, geometry, queue, queued)
                built += 1
            if searching == 0:
                bob[:] = bits & _BOB
                return built, asked, flipped, rounds, recorded
        # Searches that reached a single bit flip it; the others go one level down.
        going = 0
        round_asked = False
        for x in range(searching):
            g, p, b, heap, d = active[x]
            k, blocks, last = geometry[:3, p]
            kb = last if b == blocks - 1 else k
            j = heap - (1 << d)
            up = (1 << d) - 1
            lo = b * k + ((j * kb + up) >> d)
            hi = b * k + (((j + 1) * kb + up) >> d)
            if hi - lo == 1:
                queue, queued = _flip(pos[p, lo], bits, where, tree, geometry, built, reuse, cascade, queue, queued)
                flipped += 1
                continue
            base = g - heap
            left = base + 2 * heap
            s_left = tree[left]
            if reuse:
                s_right = tree[left + 1]
                alice_node = (tree[g] >> 1) & _BOB
                if s_left & _KNOWN:
                    alice_left = (s_left >> 1) & _BOB
                elif s_right & _KNOWN:
                    alice_left = alice_node ^ ((s_right >> 1) & _BOB)
                else:
                    alice_left = (s_left >> 3) & _BOB
                    asked += 1
                    round_asked = True
                tree[left] = (s_left & ~_ALICE) | (alice_left << 1) | _KNOWN
                tree[left + 1] = (s_right & ~_ALICE) | ((alice_node ^ alice_left) << 1) | _KNOWN
            else:
                alice_left = (s_left >> 3) & _BOB
                asked += 1
                round_asked = True
            child = 2 * heap + (1 if (alice_left ^ s_left) & _BOB == 0 else 0)
            active[going, 0] = base + child
            active[going, 1] = p
            active[going, 2] = b
            active[going, 3] = child
            active[going, 4] = d + 1
            going += 1
        searching = going
        if round_asked:
            if recorded == rounds.shape[0]:
                grown = np.empty(2 * recorded, dtype=np.int64)
                grown[:recorded] = rounds
                rounds = grown
            rounds[recorded] = (phase << _PHASE_SHIFT) | step
            recorded += 1
        step += 1


# ---------------------------------------------------------------------------------------------------
# A batch


def _geometry(n: int, block_bits: Sequence[int], disclosed: Sequence[int], start: int) -> I64:
    """Rows of :func:`_run_frame`'s ``geometry`` for passes of ``block_bits`` whose trees start at ``start``."""
    k = np.array(block_bits, dtype=np.int64).reshape(-1)
    blocks = -(-n // k)
    depth = np.array([(b - 1).bit_length() for b in block_bits], dtype=np.int64).reshape(-1)
    width = np.int64(1) << (depth + 1)
    sizes = blocks * width
    offset = start + np.cumsum(sizes) - sizes
    return np.stack([k, blocks, n - (blocks - 1) * k, depth, width, offset, np.array(disclosed, dtype=np.int64)])


@dataclass(slots=True)
class _Passes:
    """One frame's passes, as :func:`_run_frame` takes them (see there); BICONF may append passes."""

    geometry: I64
    pos: I32
    where: I32
    tree: U8
    built: int = 0

    @staticmethod
    def new(block_bits: Sequence[int], disclosed: Sequence[int], pos: I32) -> _Passes:
        """Passes of the given block sizes, orders (int32, shape (P, n), kept) and disclosed top blocks."""
        geometry = _geometry(pos.shape[1], block_bits, disclosed, 0)
        tree = np.empty(int(np.sum(geometry[1] * geometry[4])), dtype=np.uint8)
        return _Passes(geometry=geometry, pos=pos, where=np.empty_like(pos), tree=tree)

    def add(self, block_bits: Sequence[int], disclosed: Sequence[int], pos: I32) -> _Passes:
        """These passes and more (new arrays; the built ones stay built)."""
        more = _Passes.new(block_bits, disclosed, pos)
        more.geometry[5] += self.tree.shape[0]
        return _Passes(
            geometry=np.concatenate([self.geometry, more.geometry], axis=1),
            pos=np.concatenate([self.pos, more.pos]),
            where=np.concatenate([self.where, more.where]),
            tree=np.concatenate([self.tree, more.tree]),
            built=self.built,
        )

    def run(self, alice: U8, bob: U8, *, reuse: bool, cascade: bool, phase: int, rounds: _Rounds) -> tuple[int, int]:
        """Cascade on these passes (see :func:`_run_frame`); returns parities asked and bits flipped."""
        self.built, asked, flipped, rounds.records, rounds.recorded = _run_frame(
            alice, bob, self.pos, self.where, self.tree, self.geometry, self.built, reuse, cascade, phase,
            rounds.records, rounds.recorded,
        )  # fmt: skip
        return asked, flipped


@dataclass(slots=True)
class _Rounds:
    """The rounds in which one frame asked, as ``phase << 32 | round`` (phase 0: the passes, r + 1: BICONF r)."""

    records: I64 = field(default_factory=lambda: np.empty(64, dtype=np.int64))
    recorded: int = 0


def reconcile_local(
    alice: U8,
    bob: U8,
    block_bits: tuple[int, ...],
    pass_seeds: list[int | None],
    *,
    reuse: bool,
    biconf_rounds: int,
    biconf_cascade: bool,
    draw_seed: Callable[[], int],
) -> tuple[U8, I64, I64, int]:
    """Cascade on a batch of frames whose Alice is in-process: the numpy path's results, compiled.

    Args:
        alice, bob: uint8 0/1, shape (F, n). ``bob`` is not modified.
        block_bits: block size of each pass; pass_seeds: each pass's order seed (None: identity).
        reuse: block reuse; biconf_rounds, biconf_cascade: the variant's BICONF.
        draw_seed: the next BICONF round's order seed (called once per round, in round order).

    Returns:
        Bob's corrected frames (uint8, shape (F, n)), disclosed parities and messages per frame (int64,
        shape (F,)), and round trips of the batch.
    """
    frames, n = alice.shape
    key = np.array(bob, dtype=np.uint8, copy=True)
    orders = pass_orders(pass_seeds, frames, n)
    biconf_orders: list[I32] = []  # (F, 1, n) per BICONF round, drawn when the first frame needs it
    disclosed = -(-n // np.array(block_bits, dtype=np.int64))
    leaked = np.full(frames, int(disclosed.sum()), dtype=np.int64)
    messages = np.ones(frames, dtype=np.int64)
    asked_in: list[I64] = []
    first = _Passes.new(block_bits, disclosed.tolist(), orders[0])
    for f in range(frames):
        # Every frame's trees are rebuilt pass by pass, so the frames share the buffers.
        passes = _Passes(first.geometry, orders[f], first.where, first.tree)
        rounds = _Rounds()
        asked, _ = passes.run(alice[f], key[f], reuse=reuse, cascade=True, phase=0, rounds=rounds)
        leaked[f] += asked
        messages[f] += rounds.recorded
        clean = r = 0
        while clean < biconf_rounds:
            if r == len(biconf_orders):
                biconf_orders.append(pass_orders([draw_seed()], frames, n))
            before = rounds.recorded
            half = ([-(-n // 2)], [1], biconf_orders[r][f])
            passes = passes.add(*half) if biconf_cascade else _Passes.new(*half)
            asked, flipped = passes.run(
                alice[f], key[f], reuse=reuse, cascade=biconf_cascade, phase=r + 1, rounds=rounds
            )
            leaked[f] += 1 + asked
            messages[f] += 1 + rounds.recorded - before
            clean = 0 if flipped else clean + 1
            r += 1
        asked_in.append(rounds.records[: rounds.recorded])
    # One round trip per phase for its top parities, and one per round in which any frame asked.
    round_trips = 1 + len(biconf_orders) + np.unique(np.concatenate(asked_in)).shape[0]
    return key, leaked, messages, round_trips
