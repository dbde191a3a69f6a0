"""Cascade reconciliation: Bob corrects his key by asking Alice for parities of blocks.

The protocol of Brassard and Salvail, "Secret-key reconciliation by public discussion", EUROCRYPT '93,
LNCS 765, 410-423 (1994): in pass ``i`` both parties read the key in a public order (the identity in pass
1, a fresh random permutation afterwards), cut it into blocks of ``k_i`` bits and compare block
parities. A block whose parities differ holds an odd number of errors; BINARY halves it, asking for the
parity of one half per step, until it finds one error. Flipping that bit changes the parity of the
block holding it in every earlier pass, which may now differ and be searched in turn: the *cascade*.
Every parity Alice answers is one disclosed bit, and the reconciliation efficiency is
``f = leaked_bits / (n h(Q))`` with ``h`` the binary entropy and ``Q`` the frame's error rate
(Martinez-Mateo, Pacher, Peev, Ciurana, Martin, "Demystifying the information reconciliation protocol
Cascade", Quantum Inf. Comput. 15, 453 (2015), arXiv:1407.3257, Figs. 8 and 11).

Variants are data, one :class:`CascadeVariant` per row of :data:`CASCADE_VARIANTS`: the number of passes,
the block size of each pass, whether parities of sub-blocks are remembered and reused for the cascade
("block reuse", version (4) of Martinez-Mateo et al., Fig. 11), and an optional BICONF phase. The rows
are the original protocol and the versions that Martinez-Mateo et al. compare.

The implementation is vectorised. The blocks of every pass, with all their halvings, are complete binary
trees stored as heap-indexed arrays; every node holds Bob's current parity of its range (kept up to date
when a bit flips, by toggling the node's ancestors in every pass) and, once known, Alice's. A node at
depth ``d`` of a block of ``k`` bits covers offsets ``ceil(j k / 2^d) <= o < ceil((j + 1) k / 2^d)``, so
halves differ by at most one bit. All binary searches advance in lock-step, one oracle call per level
for every block and every frame of a batch. Within one frame a round searches the odd blocks of the
lowest pass that has any (earlier passes are cleaned first, as in the protocol); such blocks are
disjoint, so their searches cannot disturb one another, and every flip corrects an error. Alice's
parities of the top-level blocks of all passes go out in the first message: the protocol discloses all
of them anyway, and it saves a round trip per pass.

Accounting follows Martinez-Mateo et al.: without block reuse, BINARY asks for every half it visits,
even one whose parity an earlier search already asked (the disclosure counted is then an upper bound on
the information leaked); with block reuse a parity Bob knows, or can infer from the parent and the
sibling, is never asked again.

Two paths, one protocol. :func:`reconcile` (Bob over any :class:`ParityOracle`: another process, HTTP, the
pipeline's transcribing oracle) runs the numpy code above. :func:`cascade_frames` and :func:`cascade`, the
simulations where Alice's key is at hand, run compiled numba kernels (:mod:`.cascade_kernels`) that
follow the same schedule one frame at a time and answer from Alice's bits; they return the same
corrected key, the same disclosure and messages per frame and the same round trips, bit for bit (checked
against the numpy path for every variant in ``tests/postprocessing/test_cascade_kernels.py``).

Why numba, by measurement (AMD EPYC, 2 cores shared with other jobs, ``taskset`` to one core, Python
3.11, numpy 2.4, numba 0.68; frames of 2^16 bits, best of 5, ``benchmarks/postproc.time_cascade``):
the numpy path gives option7 1.4-1.8 Mbit/s for one frame and 2.4-3.9 Mbit/s for batches of eight, at
f = 1.033-1.045. Its cost is not arithmetic but the number of numpy calls: Cascade is sequential (each
correction can reopen blocks of earlier passes), so a frame needs hundreds of lock-step rounds of some
thirty small numpy calls each, and batching frames only amortises that overhead. No reformulation
removes the rounds; compiled loops make each one cost what its arithmetic costs. With the kernels,
option7 reaches 5.8-6.2 Mbit/s on single frames and 8.6-9.3 Mbit/s in batches of eight (same f; every
variant is at 5.8 Mbit/s or more on single frames), where half of the time is drawing the 13
permutations (the PCG64 draws of :class:`PassOrder` and an O(n) bucket sort in place of its O(n log n)
one; :class:`PassOrder` itself takes 0.7 ms per order) and the rest building the trees and searching.
The kernels compile in about 5 s on first use and are cached on disk (``cache=True``): 0.15 s after.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.postprocessing.cascade_kernels import reconcile_local
from qinternet.postprocessing.checks import require_bits
from qinternet.postprocessing.parity import (
    MAX_BATCH_BITS,
    ParityOracle,
    ParityQuery,
    PassOrder,
)
from qinternet.qkd.entropy import binary_entropy

__all__ = [
    "CASCADE_VARIANTS",
    "BlockRule",
    "CascadeResult",
    "CascadeVariant",
    "ErrorRateBlock",
    "FixedBlock",
    "GrowBlock",
    "HalfFrameBlock",
    "Reconciliation",
    "cascade",
    "cascade_frames",
    "cascade_variant",
    "reconcile",
    "reconcile_in_process",
]

I64 = NDArray[np.int64]
U8 = NDArray[np.uint8]

# A tree node's state: bit 0 Bob's current parity of its range, bit 1 Alice's (valid once known),
# bit 2 whether Alice's is known.
_BOB = np.uint8(1)
_KNOWN = np.uint8(4)

# Tolerance when rounding a block size that is an exact integer in real arithmetic (0.73 / 0.01 = 73).
_ROUNDING_SLACK = 1e-9


# ---------------------------------------------------------------------------------------------------
# Variants as data


@dataclass(frozen=True, slots=True)
class ErrorRateBlock:
    """A block of ``scale / Q^exponent`` bits for the estimated QBER ``Q``, rounded up.

    With ``power_of_two`` the size is rounded up to a power of two instead:
    ``2^ceil(log2(scale) + exponent log2(1/Q))``.
    """

    scale: float
    exponent: float = 1.0
    power_of_two: bool = False


@dataclass(frozen=True, slots=True)
class GrowBlock:
    """``factor`` times the block of the previous pass."""

    factor: int


@dataclass(frozen=True, slots=True)
class FixedBlock:
    """A fixed block of ``bits`` bits."""

    bits: int


@dataclass(frozen=True, slots=True)
class HalfFrameBlock:
    """Half the frame, ``ceil(n / 2)`` bits (two blocks per pass)."""


BlockRule = ErrorRateBlock | GrowBlock | FixedBlock | HalfFrameBlock
"""How one pass chooses its block size."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeVariant:
    """One version of Cascade, as a row of parameters.

    Attributes:
        name: the key in :data:`CASCADE_VARIANTS`.
        passes: number of Cascade passes.
        blocks: block-size rule of passes 1, 2, ...; the last rule also serves every later pass.
        subblock_reuse: remember the parities BINARY learns, never ask one twice, and cascade into the
            smallest known odd sub-block, not only into top-level blocks ("block reuse", version (4) of
            Martinez-Mateo et al., Fig. 11).
        shuffle_first_pass: permute the key in pass 1 too (Brassard and Salvail do not; errors are
            independent).
        biconf_rounds: after the passes, run BICONF (compare the parity of a random half of each frame,
            and BINARY it when it differs) until this many rounds in a row find no error; 0 for none.
        biconf_cascade: let errors that BICONF corrects cascade into the earlier passes.
        source: where the parameters come from.
    """

    name: str
    passes: int
    blocks: tuple[BlockRule, ...]
    subblock_reuse: bool = False
    shuffle_first_pass: bool = False
    biconf_rounds: int = 0
    biconf_cascade: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        if self.passes < 1:
            raise ParameterError("variant.passes", f"must be at least 1, got {self.passes}")
        if not self.blocks:
            raise ParameterError("variant.blocks", "needs at least one block-size rule")
        if isinstance(self.blocks[0], GrowBlock):
            raise ParameterError("variant.blocks", "the first pass has no previous block to grow")
        for rule in self.blocks:
            if isinstance(rule, ErrorRateBlock) and not (rule.scale > 0 and rule.exponent >= 0):
                raise ParameterError("variant.blocks", f"needs scale > 0 and exponent >= 0, got {rule}")
            if (isinstance(rule, GrowBlock) and rule.factor < 1) or (isinstance(rule, FixedBlock) and rule.bits < 1):
                raise ParameterError("variant.blocks", f"needs a positive size, got {rule}")
        if self.biconf_rounds < 0:
            raise ParameterError("variant.biconf_rounds", f"must be non-negative, got {self.biconf_rounds}")

    def block_bits(self, qber_estimate: float, frame_bits: int) -> tuple[int, ...]:
        """Block size of every pass for an estimated QBER and a frame length (capped at the frame)."""
        _require_qber_estimate(qber_estimate)
        sizes: list[int] = []
        for i in range(self.passes):
            rule = self.blocks[min(i, len(self.blocks) - 1)]
            sizes.append(min(frame_bits, max(1, _rule_bits(rule, qber_estimate, frame_bits, sizes))))
        return tuple(sizes)


def _rule_bits(rule: BlockRule, qber: float, frame_bits: int, previous: Sequence[int]) -> int:
    match rule:
        case ErrorRateBlock(scale=scale, exponent=exponent, power_of_two=True):
            return 1 << max(0, math.ceil(math.log2(scale) - exponent * math.log2(qber) - _ROUNDING_SLACK))
        case ErrorRateBlock(scale=scale, exponent=exponent):
            return math.ceil(scale / math.pow(qber, exponent) - _ROUNDING_SLACK)
        case GrowBlock(factor=factor):
            return factor * previous[-1]
        case FixedBlock(bits=bits):
            return bits
        case HalfFrameBlock():
            return -(-frame_bits // 2)
    raise AssertionError(rule)  # pragma: no cover - the union is exhaustive


_DEMYSTIFYING = "Martinez-Mateo et al., QIC 15, 453 (2015), arXiv:1407.3257"
_REFERENCE_CODE = "block sizes as in cascade-python (B. Rijsman, cascade/algorithm.py) and AIT QKD (qkd_cascade)"

CASCADE_VARIANTS: Mapping[str, CascadeVariant] = MappingProxyType(
    {
        v.name: v
        for v in (
            CascadeVariant(
                name="original",
                passes=4,
                blocks=(ErrorRateBlock(0.73), GrowBlock(2)),
                source="Brassard, Salvail, EUROCRYPT '93, LNCS 765, 410: k1 = 0.73/Q, k_i = 2 k_(i-1), 4 passes; "
                f"'Cascade orig.' of {_DEMYSTIFYING}, Figs. 8-11",
            ),
            CascadeVariant(
                name="biconf",
                passes=2,
                blocks=(ErrorRateBlock(0.92), GrowBlock(3)),
                biconf_rounds=10,
                source=f"'Cascade mod. (1)' of {_DEMYSTIFYING}, Figs. 8-10: two passes, k1 = 0.92/Q, k2 = 3 k1, "
                "then BICONF until 10 clean rounds",
            ),
            CascadeVariant(
                name="yanetal",
                passes=10,
                blocks=(ErrorRateBlock(0.80), GrowBlock(5), HalfFrameBlock()),
                source="Yan et al., ICNC 2008; 'Cascade opt. (2)' of "
                f"{_DEMYSTIFYING}, Figs. 8-10: k1 = 0.80/Q, k2 = 5 k1, k_i = n/2, 10 passes",
            ),
            CascadeVariant(
                name="option3",
                passes=16,
                blocks=(ErrorRateBlock(1.0), GrowBlock(2), HalfFrameBlock()),
                source=f"'Cascade opt. (3)' of {_DEMYSTIFYING}, Figs. 8-11: k1 = 1/Q, k2 = 2 k1, k_i = n/2, 16 passes",
            ),
            CascadeVariant(
                name="option4",
                passes=16,
                blocks=(ErrorRateBlock(1.0), GrowBlock(2), HalfFrameBlock()),
                subblock_reuse=True,
                source=f"'Cascade opt. (4)' of {_DEMYSTIFYING}, Figs. 11-12: opt. (3) with block reuse",
            ),
            CascadeVariant(
                name="option7",
                passes=14,
                blocks=(ErrorRateBlock(1.0, power_of_two=True), GrowBlock(4), HalfFrameBlock()),
                subblock_reuse=True,
                source=f"'Cascade opt. (7)' of {_DEMYSTIFYING}: k1 = 2^ceil(log2(1/Q)), k2 = 4 k1, k_i = n/2, "
                f"14 passes, block reuse ({_REFERENCE_CODE})",
            ),
            CascadeVariant(
                name="option8",
                passes=14,
                blocks=(
                    ErrorRateBlock(2.0**-0.5, power_of_two=True),
                    ErrorRateBlock(64.0 * 2.0**-0.25, exponent=0.5, power_of_two=True),
                    FixedBlock(4096),
                    HalfFrameBlock(),
                ),
                subblock_reuse=True,
                source=f"'Cascade opt. (8)' of {_DEMYSTIFYING}: a = log2(1/Q) - 1/2, k1 = 2^ceil(a), "
                f"k2 = 2^ceil((a + 12)/2), k3 = 4096, k_i = n/2, 14 passes, block reuse ({_REFERENCE_CODE})",
            ),
        )
    }
)
"""The Cascade versions, by name."""


def cascade_variant(name: str) -> CascadeVariant:
    """The row of :data:`CASCADE_VARIANTS` called ``name``."""
    try:
        return CASCADE_VARIANTS[name]
    except KeyError:
        known = ", ".join(CASCADE_VARIANTS)
        raise ParameterError("variant", f"unknown Cascade variant {name!r}; known: {known}") from None


def _require_qber_estimate(qber_estimate: float) -> None:
    if not (math.isfinite(qber_estimate) and 0.0 < qber_estimate < 0.5):
        raise ParameterError("qber_estimate", f"must be in (0, 0.5), got {qber_estimate}")


# ---------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciliation:
    """What Bob knows after Cascade over any :class:`ParityOracle` (arrays have one entry per frame).

    Attributes:
        corrected_bits: uint8 0/1, shape of Bob's input ((n,) or (F, n)): his corrected key.
        leaked_bits: int64, shape (F,): parities Alice disclosed for each frame.
        messages: int64, shape (F,): round trips that carried a question about each frame.
        round_trips: oracle calls for the whole batch.
    """

    corrected_bits: U8
    leaked_bits: I64
    messages: I64
    round_trips: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeResult:
    """One frame reconciled in simulation, where Alice's key is known and the outcome can be judged.

    Attributes:
        corrected_bits: uint8 0/1, shape (n,): Bob's key after Cascade.
        leaked_bits: parity bits disclosed (to be subtracted by privacy amplification).
        messages: round trips to Alice.
        qber: the frame's true error rate before reconciliation.
        efficiency: ``leaked_bits / (n h(qber))``; ``inf`` for an error-free frame.
        residual_errors: errors left in ``corrected_bits``.
    """

    corrected_bits: U8
    leaked_bits: int
    messages: int
    qber: float
    efficiency: float
    residual_errors: int

    @property
    def frame_error(self) -> bool:
        """Whether errors remain (verification would catch them and discard the frame)."""
        return self.residual_errors > 0


# ---------------------------------------------------------------------------------------------------
# The trees


class _Forest:
    """The binary trees over the blocks of every pass for a batch of frames (Bob's bookkeeping).

    Pass ``p`` cuts each frame, read in its order, into ``blocks[p]`` blocks of ``k[p]`` bits (the last
    one ``last[p]`` bits). Block ``b`` of frame ``f`` is tree row ``f * blocks[p] + b``: a heap of
    ``width[p] = 2^(depth[p] + 1)`` nodes (node 1 the block, node ``h`` has children ``2h`` and
    ``2h + 1``). All rows of all passes live in one flat uint8 array ``tree``, pass ``p`` from
    ``offset[p]``; a node's global id is its index there. Passes are built (Bob's parities filled in)
    only when the cascade first needs them, so that the flips of earlier passes need not update them.
    """

    def __init__(self, frame_bits: int, frames: int, block_bits: Sequence[int], orders: Sequence[PassOrder]):
        self.n, self.frames = frame_bits, frames
        self.k = np.zeros(0, dtype=np.int64)
        self.blocks, self.last, self.depth, self.width, self.offset = (self.k.copy() for _ in range(5))
        self.tree = np.zeros(0, dtype=np.uint8)
        self.orders: list[PassOrder] = []
        # where[p, i]: position of key bit i in pass p's order (rows filled when a pass is built).
        self.where = np.empty((0, frame_bits * frames), dtype=np.int32)
        self.built = 0
        self.add_passes(block_bits, orders)

    def add_passes(self, block_bits: Sequence[int], orders: Sequence[PassOrder]) -> None:
        """Append passes (not built yet) that read the key in ``orders`` in blocks of ``block_bits``."""
        k = np.array(block_bits, dtype=np.int64)
        blocks = -(-self.n // k)
        depth = np.array([(b - 1).bit_length() for b in block_bits], dtype=np.int64)
        width = np.int64(1) << (depth + 1)
        sizes = self.frames * blocks * width
        self.offset = np.concatenate([self.offset, self.tree.shape[0] + np.cumsum(sizes) - sizes])
        self.k = np.concatenate([self.k, k])
        self.blocks = np.concatenate([self.blocks, blocks])
        self.last = np.concatenate([self.last, self.n - (blocks - 1) * k])
        self.depth = np.concatenate([self.depth, depth])
        self.width = np.concatenate([self.width, width])
        self.tree = np.concatenate([self.tree, np.zeros(int(sizes.sum()), dtype=np.uint8)])
        self.orders.extend(orders)
        if len(self.orders) > self.where.shape[0]:  # grow geometrically: BICONF adds passes one by one
            where = np.empty((max(len(self.orders), 2 * self.where.shape[0]), self.where.shape[1]), dtype=np.int32)
            where[: self.built] = self.where[: self.built]
            self.where = where

    @property
    def passes(self) -> int:
        return len(self.orders)

    def build_next(self, bob: U8) -> I64:
        """Build the next pass from Bob's current key; returns its top-level blocks known to be odd."""
        p = self.built
        positions = self.orders[p].positions
        self.where[p, positions] = np.arange(positions.shape[0], dtype=np.int32)
        self._build(p, bob[positions].reshape(self.frames, self.n))
        self.built += 1
        return self.odd_known(self.top_nodes(p).gid)

    def key_index(self, p: I64, position: I64) -> I64:
        """Flat key index of the bit at ``position`` of pass ``p``'s order (element-wise)."""
        index = np.empty(p.shape, dtype=np.int64)
        for q in np.unique(p).tolist():
            sel = p == q
            index[sel] = self.orders[q].positions[position[sel]]
        return index

    def _build(self, p: int, bits: U8) -> None:
        """Fill pass ``p``'s trees with Bob's parities, leaves first."""
        k, nb, last, depth = int(self.k[p]), int(self.blocks[p]), int(self.last[p]), int(self.depth[p])
        rows = self.frames * nb
        padded = np.zeros((self.frames, nb * k), dtype=np.uint8)
        padded[:, : self.n] = bits
        blocks = padded.reshape(rows, k)
        if k == 1 << depth:
            leaves = blocks.copy()
        else:
            leaves = np.zeros((rows, 1 << depth), dtype=np.uint8)
            leaves[:, (np.arange(k) << depth) // k] = blocks
        if last != k:
            tail = np.arange(self.frames) * nb + nb - 1
            leaves[tail] = 0
            leaves[tail[:, None], (np.arange(last) << depth) // last] = blocks[tail, :last]
        tree = self.tree[self.offset[p] : self.offset[p] + rows * int(self.width[p])].reshape(rows, -1)
        level = leaves
        if depth:
            tree[:, 1 << depth :] = level
        for d in range(depth - 1, 0, -1):
            level = level[:, 0::2] ^ level[:, 1::2]
            tree[:, 1 << d : 2 << d] = level
        if depth:
            level = level[:, 0::2] ^ level[:, 1::2]
        # The top-level node may already hold Alice's parity: keep it.
        tree[:, 1] = (tree[:, 1] & ~_BOB) | level[:, 0]

    def top_nodes(self, p: int, frames: NDArray[np.bool_] | None = None, first_block_only: bool = False) -> _Nodes:
        """The top-level blocks of pass ``p`` (of the selected frames; optionally block 0 only)."""
        nb = int(self.blocks[p])
        frame = np.arange(self.frames, dtype=np.int64) if frames is None else np.flatnonzero(frames).astype(np.int64)
        b = np.zeros_like(frame) if first_block_only else np.tile(np.arange(nb, dtype=np.int64), frame.shape[0])
        if not first_block_only:
            frame = np.repeat(frame, nb)
        row = frame * nb + b
        heap = np.ones_like(row)
        return self.nodes(self.offset[p] + row * self.width[p] + heap)

    def nodes(self, gid: I64) -> _Nodes:
        """Decode global node ids."""
        p = np.searchsorted(self.offset, gid, side="right") - 1
        local = gid - self.offset[p]
        row = local >> (self.depth[p] + 1)
        heap = local & (self.width[p] - 1)
        frame = row // self.blocks[p]
        b = row - frame * self.blocks[p]
        kb = np.where(b == self.blocks[p] - 1, self.last[p], self.k[p])
        depth = np.frexp(heap.astype(np.float64))[1].astype(np.int64) - 1
        start = (frame * self.n + b * self.k[p]).astype(np.int64)
        return _Nodes(gid=gid, p=p, heap=heap, depth=depth, frame=frame, start=start, kb=kb)

    def flip(self, bob: U8, index: I64, subblocks: bool) -> I64:
        """Flip Bob's bits ``index`` (distinct) and every node above them in the built passes.

        Returns the nodes whose known parities now differ: any such node (``subblocks``) or only
        top-level blocks.
        """
        bob[index] ^= 1
        built = self.built
        if built == 0:
            return np.zeros(0, dtype=np.int64)
        # Arrays of shape (pass, flipped bit[, depth]).
        k, blocks, depth = self.k[:built, None], self.blocks[:built, None], self.depth[:built]
        frame = index // self.n
        local = self.where[:built, index].astype(np.int64) - frame * self.n
        b = local // k
        offset_in_block = local - b * k
        kb = np.where(b == blocks - 1, self.last[:built, None], k)
        base = np.asarray(self.offset[:built, None] + (frame * blocks + b) * self.width[:built, None], dtype=np.int64)
        d = np.arange(int(depth.max()) + 1, dtype=np.int64)
        heap = (np.int64(1) << d) + ((offset_in_block[:, :, None] << d) // kb[:, :, None])
        on_path = np.broadcast_to((d <= depth[:, None])[:, None, :], heap.shape)
        path = np.asarray((base[:, :, None] + heap)[on_path], dtype=np.int64)
        np.bitwise_xor.at(self.tree, path, _BOB)
        return self.odd_known(path if subblocks else (base + 1).reshape(-1))

    def odd_known(self, gid: I64) -> I64:
        """The nodes among ``gid`` whose parities are known to differ."""
        state = self.tree[gid]
        odd = (state & _KNOWN).astype(bool) & (((state >> 1) ^ state) & _BOB).astype(bool)
        chosen: I64 = gid[odd]
        return chosen


@dataclass(slots=True)
class _Nodes:
    """Nodes being searched, with what a search step needs (all arrays shape (m,))."""

    gid: I64
    p: I64
    heap: I64
    depth: I64
    frame: I64
    start: I64  # flat position of the node's block in its pass order
    kb: I64  # bits in the node's block

    def take(self, sel: NDArray[np.bool_] | I64) -> _Nodes:
        return _Nodes(
            gid=self.gid[sel],
            p=self.p[sel],
            heap=self.heap[sel],
            depth=self.depth[sel],
            frame=self.frame[sel],
            start=self.start[sel],
            kb=self.kb[sel],
        )

    def bounds(self, heap: I64, depth: I64) -> tuple[I64, I64]:
        """Flat [lo, hi) of node ``heap`` at ``depth`` of each block, in the pass order."""
        j = heap - (np.int64(1) << depth)
        round_up = (np.int64(1) << depth) - 1
        lo = self.start + ((j * self.kb + round_up) >> depth)
        hi = self.start + (((j + 1) * self.kb + round_up) >> depth)
        return lo, hi


def _concat(a: _Nodes, b: _Nodes) -> _Nodes:
    return _Nodes(
        gid=np.concatenate([a.gid, b.gid]),
        p=np.concatenate([a.p, b.p]),
        heap=np.concatenate([a.heap, b.heap]),
        depth=np.concatenate([a.depth, b.depth]),
        frame=np.concatenate([a.frame, b.frame]),
        start=np.concatenate([a.start, b.start]),
        kb=np.concatenate([a.kb, b.kb]),
    )


# ---------------------------------------------------------------------------------------------------
# The protocol


@dataclass(slots=True)
class _Ledger:
    """Per-frame disclosure and round trips, as Bob counts them."""

    leaked_bits: I64
    messages: I64
    round_trips: int = 0

    def ask(self, oracle: ParityOracle, order_index: I64, lo: I64, hi: I64, frame: I64) -> U8:
        """One round trip: Alice's parities of the ranges ``[lo, hi)`` of the given orders."""
        answers = np.asarray(oracle.parities(ParityQuery(order_index=order_index, start=lo, stop=hi)), dtype=np.uint8)
        if answers.shape != lo.shape:
            raise ParameterError("oracle", f"answered {answers.shape[0]} parities to {lo.shape[0]} questions")
        counts = np.bincount(frame, minlength=self.leaked_bits.shape[0])
        self.leaked_bits += counts
        self.messages += counts > 0
        self.round_trips += 1
        return answers


def _learn_top_parities(forest: _Forest, top: _Nodes, order_index: I64, oracle: ParityOracle, ledger: _Ledger) -> None:
    """Ask Alice for the parities of blocks, in one message."""
    lo, hi = top.bounds(top.heap, top.depth)
    alice = ledger.ask(oracle, order_index[top.p], lo, hi, top.frame)
    forest.tree[top.gid] |= _KNOWN | (alice << 1)


def _select(forest: _Forest, pending: I64, idle: NDArray[np.bool_]) -> tuple[_Nodes, I64]:
    """Start a round for every idle frame: its odd nodes of the lowest pass that has any, but no ancestor.

    Returns the nodes to search and what stays pending.
    """
    pending = forest.odd_known(np.unique(pending))
    nodes = forest.nodes(pending)
    ready = idle[nodes.frame]
    lowest = np.full(forest.frames, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(lowest, nodes.frame[ready], nodes.p[ready])
    chosen = ready & (nodes.p == lowest[nodes.frame])
    # Drop a node when one of its descendants is also chosen: fixing the descendant may fix it too.
    picked = nodes.take(chosen)
    if picked.gid.shape[0] > 1 and picked.depth.max() > 0:
        shifts = np.arange(1, int(picked.depth.max()) + 1, dtype=np.int64)
        above = (picked.gid - picked.heap)[:, None] + (picked.heap[:, None] >> shifts)
        real = shifts[None, :] <= picked.depth[:, None]
        keep = ~np.isin(picked.gid, above[real])
        picked = picked.take(keep)
        chosen[np.flatnonzero(chosen)[~keep]] = False
    return picked, pending[~chosen]


def _run_searches(
    forest: _Forest,
    bob: U8,
    order_index: I64,
    oracle: ParityOracle,
    ledger: _Ledger,
    *,
    cascade: bool,
    reuse: bool,
) -> None:
    """BINARY on every odd block, pass after pass, until no known parity differs in any built pass.

    A frame with nothing left to search in the built passes makes the next pass start. With
    ``cascade``, a corrected bit sends back to BINARY the known blocks whose parity now differs:
    top-level blocks only, or (with ``reuse``) the smallest known sub-blocks, whose parities BINARY
    then remembers.
    """
    active = forest.nodes(np.zeros(0, dtype=np.int64))
    pending = np.zeros(0, dtype=np.int64)
    busy = np.zeros(forest.frames, dtype=bool)
    while True:
        idle = ~busy
        while idle.any():
            started, pending = _select(forest, pending, idle)
            active = _concat(active, started)
            idle[started.frame] = False
            if not idle.any() or forest.built == forest.passes:
                break
            pending = np.concatenate([pending, forest.build_next(bob)])
        if active.gid.shape[0] == 0:
            return
        lo, hi = active.bounds(active.heap, active.depth)
        found = hi - lo == 1
        if found.any():
            index = forest.key_index(active.p[found], lo[found])
            odd = forest.flip(bob, index, subblocks=reuse)
            if cascade:
                pending = np.concatenate([pending, odd])
            active = active.take(~found)
            lo = lo[~found]
        if active.gid.shape[0]:
            active = _step(forest, active, lo, order_index, oracle, ledger, remember=reuse)
        busy[:] = False
        busy[active.frame] = True


def _step(
    forest: _Forest, active: _Nodes, lo: I64, order_index: I64, oracle: ParityOracle, ledger: _Ledger, *, remember: bool
) -> _Nodes:
    """One level of every binary search: learn the left half's parity and move into the odd half.

    With ``remember``, parities of halves are kept in the trees: a half whose parity is known, or follows
    from its parent's and its sibling's, is not asked again. Without, every level asks (Brassard and
    Salvail's BINARY, as counted for the variants without block reuse by Martinez-Mateo et al.).
    """
    tree = forest.tree
    row_base = active.gid - active.heap
    child_depth = active.depth + 1
    left = 2 * active.heap
    g_left = row_base + left
    s_left = tree[g_left]
    if remember:
        s_node, s_right = tree[active.gid], tree[g_left + 1]
        alice_node = (s_node >> 1) & _BOB
        known_left = (s_left & _KNOWN).astype(bool)
        alice_left = np.where(known_left, (s_left >> 1) & _BOB, alice_node ^ ((s_right >> 1) & _BOB))
        ask = ~known_left & ~(s_right & _KNOWN).astype(bool)
    else:
        alice_left = np.zeros_like(s_left)
        ask = np.ones(s_left.shape, dtype=bool)
    if ask.any():
        _, mid = active.bounds(left, child_depth)
        alice_left[ask] = ledger.ask(oracle, order_index[active.p[ask]], lo[ask], mid[ask], active.frame[ask])
    if remember:
        tree[g_left] = (s_left & _BOB) | (alice_left << 1) | _KNOWN
        tree[g_left + 1] = (s_right & _BOB) | ((alice_node ^ alice_left) << 1) | _KNOWN
    heap = left + (((alice_left ^ s_left) & _BOB) == 0)
    return _Nodes(
        gid=row_base + heap,
        p=active.p,
        heap=heap,
        depth=child_depth,
        frame=active.frame,
        start=active.start,
        kb=active.kb,
    )


def _biconf(
    forest: _Forest,
    bob: U8,
    row: CascadeVariant,
    order_index: I64,
    oracle: ParityOracle,
    ledger: _Ledger,
    rng: np.random.Generator,
) -> None:
    """BICONF: a random half of each frame, BINARY when its parity differs, until ``rounds`` clean rounds.

    Each round is one more pass whose first block is the chosen half. With ``row.biconf_cascade`` its
    corrections cascade into the earlier passes like any other pass's; without, they are not followed.
    """
    n, frames = forest.n, forest.frames
    clean = np.zeros(frames, dtype=np.int64)
    while (going := clean < row.biconf_rounds).any():
        order = PassOrder(frame_bits=n, frames=frames, seed=int(rng.integers(0, 2**63)))
        index = oracle.add_order(order)
        if row.biconf_cascade:
            forest.add_passes([-(-n // 2)], [order])
            order_index = np.append(order_index, index)
        else:
            forest = _Forest(n, frames, [-(-n // 2)], [order])
            order_index = np.array([index], dtype=np.int64)
        before = bob.reshape(frames, n).copy()
        top = forest.top_nodes(forest.passes - 1, going, first_block_only=True)
        _learn_top_parities(forest, top, order_index, oracle, ledger)
        _run_searches(forest, bob, order_index, oracle, ledger, cascade=row.biconf_cascade, reuse=row.subblock_reuse)
        corrected = (before != bob.reshape(frames, n)).any(axis=1)
        clean = np.where(going, np.where(corrected, 0, clean + 1), clean)


def reconcile(
    bob: U8,
    oracle: ParityOracle,
    qber_estimate: float,
    variant: CascadeVariant | str,
    rng: np.random.Generator,
) -> Reconciliation:
    """Bob's side of Cascade: correct ``bob`` by asking ``oracle`` (Alice) for parities.

    Args:
        bob: uint8 0/1, shape (n,) for one frame or (F, n) for a batch of frames reconciled together
            (every frame independently, in the same round trips). Not modified.
        oracle: Alice's side; it must hold her key in the same shape.
        qber_estimate: the QBER that sets the block sizes, in (0, 0.5).
        variant: a :class:`CascadeVariant` or the name of one in :data:`CASCADE_VARIANTS`.
        rng: Bob draws the seeds of the passes' permutations from it (public: announced to the oracle).

    Returns:
        Bob's corrected key and the per-frame disclosure.
    """
    row = cascade_variant(variant) if isinstance(variant, str) else variant
    frames_in = np.asarray(bob)
    if frames_in.ndim not in (1, 2) or frames_in.size == 0:
        raise ParameterError("bob", f"must be a non-empty (n,) or (F, n) bit array, got shape {frames_in.shape}")
    require_bits("bob", frames_in.reshape(-1))
    _require_qber_estimate(qber_estimate)
    frames, n = (1, frames_in.shape[0]) if frames_in.ndim == 1 else frames_in.shape
    if frames * n > MAX_BATCH_BITS:
        raise ParameterError("bob", f"a batch holds at most {MAX_BATCH_BITS} bits")
    key = np.array(frames_in.reshape(-1), dtype=np.uint8, copy=True)
    block_bits = row.block_bits(qber_estimate, n)
    seeds = rng.integers(0, 2**63, size=row.passes)
    orders = [
        PassOrder(frame_bits=n, frames=frames, seed=None if p == 0 and not row.shuffle_first_pass else int(seeds[p]))
        for p in range(row.passes)
    ]
    order_index = np.array([oracle.add_order(order) for order in orders], dtype=np.int64)
    forest = _Forest(n, frames, block_bits, orders)
    del orders
    ledger = _Ledger(leaked_bits=np.zeros(frames, dtype=np.int64), messages=np.zeros(frames, dtype=np.int64))
    top = forest.top_nodes(0)
    for p in range(1, row.passes):
        top = _concat(top, forest.top_nodes(p))
    _learn_top_parities(forest, top, order_index, oracle, ledger)
    _run_searches(forest, key, order_index, oracle, ledger, cascade=True, reuse=row.subblock_reuse)
    if row.biconf_rounds:
        _biconf(forest, key, row, order_index, oracle, ledger, rng)
    return Reconciliation(
        corrected_bits=key.reshape(frames_in.shape),
        leaked_bits=ledger.leaked_bits,
        messages=ledger.messages,
        round_trips=ledger.round_trips,
    )


def reconcile_in_process(
    alice: U8, bob: U8, qber_estimate: float, variant: CascadeVariant | str, rng: np.random.Generator
) -> Reconciliation:
    """What :func:`reconcile` returns with a :class:`~.parity.LocalParityOracle` over ``alice``, computed by kernels.

    Same checks, same draws from ``rng``, same corrected key, disclosure, messages and round trips; the
    compiled kernels of :mod:`.cascade_kernels` run the protocol one frame at a time with Alice in-process.
    """
    row = cascade_variant(variant) if isinstance(variant, str) else variant
    require_bits("bob", bob.reshape(-1))
    _require_qber_estimate(qber_estimate)
    frames, n = bob.shape
    if frames * n > MAX_BATCH_BITS:
        raise ParameterError("bob", f"a batch holds at most {MAX_BATCH_BITS} bits")
    seeds = rng.integers(0, 2**63, size=row.passes)
    key, leaked, messages, round_trips = reconcile_local(
        np.ascontiguousarray(alice, dtype=np.uint8),
        np.ascontiguousarray(bob, dtype=np.uint8),
        row.block_bits(qber_estimate, n),
        [None if p == 0 and not row.shuffle_first_pass else int(seeds[p]) for p in range(row.passes)],
        reuse=row.subblock_reuse,
        biconf_rounds=row.biconf_rounds,
        biconf_cascade=row.biconf_cascade,
        draw_seed=lambda: int(rng.integers(0, 2**63)),
    )
    return Reconciliation(corrected_bits=key, leaked_bits=leaked, messages=messages, round_trips=round_trips)


def cascade_frames(
    alice: U8,
    bob: U8,
    qber_estimate: float,
    variant: CascadeVariant | str,
    rng: np.random.Generator,
) -> list[CascadeResult]:
    """Reconcile a batch of frames in simulation (Alice answers in-process) and judge each frame.

    Args:
        alice: uint8 0/1, shape (F, n): Alice's frames (the reference; never modified).
        bob: uint8 0/1, shape (F, n): Bob's frames.
        qber_estimate, variant, rng: as for :func:`reconcile`.

    Returns:
        One :class:`CascadeResult` per frame; ``messages`` counts the round trips that carried the
        frame's questions (the batch shares them).
    """
    a, b = np.asarray(alice), np.asarray(bob)
    if a.ndim != 2 or a.size == 0:
        raise ParameterError("alice", f"must be a non-empty (F, n) bit array, got shape {a.shape}")
    if b.shape != a.shape:
        raise ParameterError("bob", f"has shape {b.shape} where {a.shape} is expected")
    require_bits("alice", a.reshape(-1))
    result = reconcile_in_process(a, b, qber_estimate, variant, rng)
    n = a.shape[1]
    errors_before = np.count_nonzero(a != b, axis=1)
    errors_after = np.count_nonzero(a != result.corrected_bits, axis=1)
    qber = errors_before / n
    entropy = binary_entropy(qber)
    return [
        CascadeResult(
            corrected_bits=result.corrected_bits[f],
            leaked_bits=int(result.leaked_bits[f]),
            messages=int(result.messages[f]),
            qber=float(qber[f]),
            efficiency=float(result.leaked_bits[f] / (n * entropy[f])) if entropy[f] > 0 else math.inf,
            residual_errors=int(errors_after[f]),
        )
        for f in range(a.shape[0])
    ]


def cascade(
    alice: U8,
    bob: U8,
    qber_estimate: float,
    variant: CascadeVariant | str,
    rng: np.random.Generator,
) -> CascadeResult:
    """Reconcile one frame in simulation: Bob corrects ``bob`` towards ``alice`` with Cascade.

    Args:
        alice: uint8 0/1, shape (n,): Alice's key (the reference; never modified).
        bob: uint8 0/1, shape (n,): Bob's key.
        qber_estimate: the QBER that sets the block sizes, in (0, 0.5) (an estimate, e.g. from a sample).
        variant: a :class:`CascadeVariant` or its name in :data:`CASCADE_VARIANTS`.
        rng: draws the seeds of the public permutations.

    >>> rng = np.random.default_rng(7)
    >>> alice = rng.integers(0, 2, 4096, dtype=np.uint8)
    >>> bob = alice ^ (rng.random(4096) < 0.02).astype(np.uint8)
    >>> result = cascade(alice, bob, 0.02, "option7", rng)
    >>> result.residual_errors, result.leaked_bits > 4096 * 0.02
    (0, True)
    """
    a, b = np.asarray(alice), np.asarray(bob)
    for name, bits in (("alice", a), ("bob", b)):
        if bits.ndim != 1 or bits.size == 0:
            raise ParameterError(name, f"must be a non-empty one-dimensional bit array, got shape {bits.shape}")
    if b.shape != a.shape:
        raise ParameterError("bob", f"has {b.shape[0]} bits where {a.shape[0]} are expected")
    return cascade_frames(a[None, :], b[None, :], qber_estimate, variant, rng)[0]
