"""A repeater chain compiled into a vectorised sampler of end-to-end deliveries.

The chain's protocol is a binary tree over its elementary links. A leaf is an elementary link: attempts of period
``attempt_period_s`` (emission plus the heralding round trip), each succeeding with ``success_prob``, so its
generation time is a geometric number of attempts, drawn at once (never stepped). An inner node joins two
sub-links produced independently by disjoint memories and is either

- a **swap** (two adjacent spans; success ``swap_success_prob``; on failure both spans are regenerated, the
  convention of Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020), Sec. II), or
- a **purification** round (two copies of the same span; success given by the states, :mod:`.purification`;
  on failure both copies are regenerated).

The sub-link ready first waits in its memories for the other; its qubits decohere while they wait (a Pauli channel
of the storage time, :attr:`ChainModel.decay`), and with a **cut-off** it is discarded once it has waited longer
than ``cutoff_s`` and regenerated from then on (Li, Coopmans, Elkouss, IEEE TQE 2, 4101115 (2021), Sec. III).
Swaps need no classical round trip before the next level (corrections are tracked as a Pauli frame); the last
swap's outcome reaches an end node ``delivery_delay_s`` later, while the end qubits keep decohering
(create-and-keep) or have already been measured (measure-directly, QKD).

Balanced trees over ``2**n`` links are the nested doubling of Briegel, Dür, Cirac, Zoller, PRL 81, 5932 (1998);
the same recursion serves any number of links (the halves differ by at most one link). With deterministic swaps
and no cut-off, the delivery time equals that of swap-as-soon-as-possible (the last link to arrive completes the
chain either way).

Pauli noise on Bell-diagonal states composes as an XOR convolution whatever the qubit, so the delivered state is
exact within the model (twirled operations). Deliveries are sequential: a round starts when the previous pair is
delivered. Every array is over ``n`` independent rounds at once; cost is linear in links and in rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from qinternet.entanglement.purification import PurificationProtocol, purify
from qinternet.errors import ParameterError
from qinternet.params.checks import require_non_negative, require_positive, require_probability
from qinternet.states import bell

__all__ = [
    "MAX_LINK_DRAWS",
    "REGENERATIONS_PER_LINK",
    "ChainModel",
    "Deliveries",
    "DeliveryMode",
    "ElementaryLink",
    "PurifyStep",
    "sample_chain",
]

MAX_LINK_DRAWS = 2 * 10**8
"""Most elementary-link generations one call may draw (a cut-off that pairs almost never meet would loop on)."""
REGENERATIONS_PER_LINK = 1000
"""Regenerations per elementary link and round after which a cut-off counts as (almost) never met."""

Decay = Callable[[NDArray[np.float64]], NDArray[np.float64]]
"""``decay(seconds)``: the Pauli error law ``[I, X, Z, Y]`` of one qubit stored ``seconds``, shape ``(n,)`` to
``(n, 4)`` (a twirled memory channel)."""


class DeliveryMode(StrEnum):
    """What the end nodes do with their halves: keep them in memory, or measure them as soon as they exist."""

    CREATE_AND_KEEP = "create-and-keep"
    MEASURE_DIRECTLY = "measure-directly"


@dataclass(frozen=True, slots=True, kw_only=True)
class ElementaryLink:
    """One heralded elementary link, compiled from hardware and length.

    Attributes:
        success_prob: probability that an attempt heralds a pair (all memory modes together).
        attempt_period_s: time from one attempt to the next (emission, flight and the herald's return).
        state: Bell-diagonal coefficients of a heralded pair when the herald arrives.
    """

    success_prob: float
    attempt_period_s: float
    state: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        require_probability("link.success_prob", self.success_prob)
        require_positive("link.success_prob", self.success_prob)
        require_positive("link.attempt_period_s", self.attempt_period_s)
        bell.as_bell_diagonal(self.state, "link.state")


@dataclass(frozen=True, slots=True, kw_only=True)
class PurifyStep:
    """Purification of the elementary links before swapping.

    Attributes:
        protocol: BBPSSW or DEJMPS.
        rounds: rounds of recurrence (``2**rounds`` elementary pairs per purified link when all succeed).
    """

    protocol: PurificationProtocol
    rounds: int = 1

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ParameterError("purify.rounds", f"must be at least 1, got {self.rounds}")


def _no_decay(seconds: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.tile(bell.perfect_pair(), (np.size(seconds), 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainModel:
    """A homogeneous repeater chain, compiled.

    Attributes:
        links: number of elementary links (nodes - 1), at least 1.
        link: the elementary link.
        swap_success_prob: probability that a swap succeeds (1 for gate-based swaps in solid-state nodes).
        swap_error: Pauli error law ``[I, X, Z, Y]`` a swap adds (gate and measurement noise, twirled).
        swap_duration_s: time a swap takes at the node.
        decay: memory decoherence of one stored qubit.
        cutoff_s: how long a sub-link may wait for its partner before it is discarded; None for no cut-off.
        delivery_delay_s: time for the last swap's outcome to reach an end node.
        mode: create-and-keep or measure-directly.
        purify: purification of elementary links, or None.
        sequential: nodes have one communication qubit, so a node cannot attempt its two links at once: at each
            swap the right span starts when the left one is done (its half moved to memory), and a cut-off starts
            both again. A valid schedule for any chain, and the one the three-node network of Pompili et al.,
            Science 372, 259 (2021) ran; for long chains it is conservative (odd and even links could alternate).
    """

    links: int
    link: ElementaryLink
    swap_success_prob: float = 1.0
    swap_error: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    swap_duration_s: float = 0.0
    decay: Decay = field(default=_no_decay)
    cutoff_s: float | None = None
    delivery_delay_s: float = 0.0
    mode: DeliveryMode = DeliveryMode.CREATE_AND_KEEP
    purify: PurifyStep | None = None
    sequential: bool = False

    def __post_init__(self) -> None:
        if self.links < 1:
            raise ParameterError("nodes", f"must be at least 2, got {self.links + 1}")
        require_probability("swap.success_prob", self.swap_success_prob)
        require_positive("swap.success_prob", self.swap_success_prob)
        bell.as_bell_diagonal(self.swap_error, "swap.error")
        require_non_negative("swap.duration_s", self.swap_duration_s)
        require_non_negative("delivery_delay_s", self.delivery_delay_s)
        if self.cutoff_s is not None:
            require_non_negative("cutoff", self.cutoff_s)


@dataclass(frozen=True, slots=True)
class _Span:
    """A node of the protocol tree: elementary links ``first..last`` (inclusive), made by ``kind``."""

    first: int
    last: int
    kind: str  # "leaf", "swap" or "purify"
    left: _Span | None = None
    right: _Span | None = None


def _tree(first: int, last: int, purify_step: PurifyStep | None) -> _Span:
    if first == last:
        span = _Span(first, last, "leaf")
        if purify_step is not None:
            for _ in range(purify_step.rounds):
                span = _Span(first, last, "purify", span, span)
        return span
    middle = (first + last) // 2
    return _Span(first, last, "swap", _tree(first, middle, purify_step), _tree(middle + 1, last, purify_step))


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliveries:
    """End-to-end pairs of independent rounds.

    Attributes:
        round_s: time of each round, from its start to the pair's delivery, shape ``(n,)``.
        states: Bell-diagonal coefficients of each delivered pair, shape ``(n, 4)``.
        attempts: elementary-link attempts each round made (all links together), shape ``(n,)``.
    """

    round_s: NDArray[np.float64]
    states: NDArray[np.float64]
    attempts: NDArray[np.int64]


class _Sampler:
    """Draws outputs of tree nodes; states are carried as Walsh transforms (:func:`qinternet.states.bell.walsh`),
    in which swapping and memory decay are products."""

    def __init__(self, model: ChainModel, rng: np.random.Generator) -> None:
        self.model = model
        self.rng = rng
        self.last_link = model.links - 1
        self.fresh = bell.walsh(model.link.state)
        self.draws = 0
        self.budget = 0
        self.swap_error = bell.walsh(model.swap_error)

    def stored_qubits(self, span: _Span) -> int:
        """How many ends of a waiting span are held in memory (chain ends are measured at once in measure-directly)."""
        if self.model.mode is DeliveryMode.CREATE_AND_KEEP:
            return 2
        return int(span.first != 0) + int(span.last != self.last_link)

    def decay(self, seconds: NDArray[np.float64], qubits: int) -> NDArray[np.float64]:
        """Walsh factors of ``qubits`` qubits each stored ``seconds``."""
        return np.asarray(bell.walsh(self.model.decay(seconds)) ** qubits, dtype=np.float64)

    def sample(self, span: _Span, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
        """Times (from the start of generation), Walsh states and attempts of ``n`` independent outputs of ``span``."""
        if span.kind == "leaf":
            self.draws += n
            if self.draws > self.budget:
                raise ParameterError(
                    "cutoff",
                    f"links almost never meet within the cut-off of {self.model.cutoff_s:g} s (more than "
                    f"{REGENERATIONS_PER_LINK} regenerations per link and pair); lengthen it or shorten the links",
                )
            attempts = self.rng.geometric(self.model.link.success_prob, size=n).astype(np.int64)
            times = np.asarray(attempts * self.model.link.attempt_period_s, dtype=np.float64)
            return times, np.tile(self.fresh, (n, 1)), attempts
        assert span.left is not None
        assert span.right is not None
        out_t = np.empty(n)
        out_s = np.empty((n, 4))
        out_a = np.zeros(n, dtype=np.int64)
        pending = np.arange(n)
        tl, sl, al, tr, sr, ar = self.children(span, n, 0.0)
        while True:
            tl, sl, al, tr, sr, ar = self.apply_cutoff(span, tl, sl, al, tr, sr, ar)
            early_left = (tl <= tr)[:, None]
            factor_l = self.decay(np.abs(tr - tl), self.stored_qubits(span.left))
            factor_r = self.decay(np.abs(tr - tl), self.stored_qubits(span.right))
            waited = np.where(early_left, sl * factor_l, sl) * np.where(early_left, sr, sr * factor_r)
            done_at = np.maximum(tl, tr) + (self.model.swap_duration_s if span.kind == "swap" else 0.0)
            if span.kind == "swap":
                joined = waited * self.swap_error
                ok = self.rng.random(pending.size) < self.model.swap_success_prob
            else:
                purify_step = self.model.purify
                assert purify_step is not None
                pl = bell.from_walsh(np.where(early_left, sl * factor_l, sl))
                pr = bell.from_walsh(np.where(early_left, sr, sr * factor_r))
                success, kept = purify(np.clip(pl, 0.0, 1.0), np.clip(pr, 0.0, 1.0), purify_step.protocol)
                joined = bell.walsh(kept)
                ok = self.rng.random(pending.size) < success
            spent = al + ar
            out_a[pending] += spent
            out_t[pending[ok]] = done_at[ok]
            out_s[pending[ok]] = joined[ok]
            fail = ~ok
            if not fail.any():
                return out_t, out_s, out_a
            restart = done_at[fail]
            pending = pending[fail]
            tl, sl, al, tr, sr, ar = self.children(span, pending.size, restart)

    def children(
        self, span: _Span, n: int, start: float | NDArray[np.float64]
    ) -> tuple[
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.int64],
    ]:
        """Both children of ``span`` generated from ``start``: at once, or one after the other (sequential)."""
        assert span.left is not None
        assert span.right is not None
        tl, sl, al = self.sample(span.left, n)
        tr, sr, ar = self.sample(span.right, n)
        tl = tl + start
        tr = tr + (tl if self.sequential(span) else start)
        return tl, sl, al, tr, sr, ar

    def sequential(self, span: _Span) -> bool:
        """Whether the right child of ``span`` waits for the left one (swaps of single-communication-qubit nodes)."""
        return self.model.sequential and span.kind == "swap"

    def apply_cutoff(
        self,
        span: _Span,
        tl: NDArray[np.float64],
        sl: NDArray[np.float64],
        al: NDArray[np.int64],
        tr: NDArray[np.float64],
        sr: NDArray[np.float64],
        ar: NDArray[np.int64],
    ) -> tuple[
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.int64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.int64],
    ]:
        """Discard and regenerate each sub-link that would wait longer than the cut-off for its partner."""
        cutoff = self.model.cutoff_s
        if cutoff is None:
            return tl, sl, al, tr, sr, ar
        tl, sl, al, tr, sr, ar = tl.copy(), sl.copy(), al.copy(), tr.copy(), sr.copy(), ar.copy()
        if self.sequential(span):  # the node's only communication qubit is busy: start both again, in order
            while (idx := np.flatnonzero(tr - tl > cutoff)).size:
                t_l, s_l, a_l, t_r, s_r, a_r = self.children(span, idx.size, tl[idx] + cutoff)
                al[idx] += a_l + ar[idx]
                tl[idx], sl[idx], tr[idx], sr[idx], ar[idx] = t_l, s_l, t_r, s_r, a_r
            return tl, sl, al, tr, sr, ar
        while True:
            left_expires = tr - tl > cutoff
            right_expires = tl - tr > cutoff
            if not (left_expires.any() or right_expires.any()):
                return tl, sl, al, tr, sr, ar
            for expires, times, states, attempts, child in (
                (left_expires, tl, sl, al, span.left),
                (right_expires, tr, sr, ar, span.right),
            ):
                idx = np.flatnonzero(expires)
                if idx.size:
                    assert child is not None
                    t_new, s_new, a_new = self.sample(child, idx.size)
                    times[idx] = times[idx] + cutoff + t_new
                    states[idx] = s_new
                    attempts[idx] += a_new


def sample_chain(model: ChainModel, rounds: int, rng: np.random.Generator) -> Deliveries:
    """Draw ``rounds`` independent end-to-end deliveries of the chain.

    Args:
        model: the compiled chain.
        rounds: number of deliveries, at least 1.
        rng: the random stream.

    Returns:
        Round times (including the final message to an end node), delivered states and attempts made.
    """
    if rounds < 1:
        raise ParameterError("pairs", f"must be at least 1, got {rounds}")
    sampler = _Sampler(model, rng)
    budget = REGENERATIONS_PER_LINK * rounds * model.links * (2**model.purify.rounds if model.purify else 1)
    sampler.budget = min(budget, MAX_LINK_DRAWS)
    root = _tree(0, model.links - 1, model.purify)
    times, chi, attempts = sampler.sample(root, rounds)
    if model.delivery_delay_s > 0.0 and model.mode is DeliveryMode.CREATE_AND_KEEP:
        chi = chi * sampler.decay(np.full(rounds, model.delivery_delay_s), 2)
    states = np.clip(bell.from_walsh(chi), 0.0, 1.0)
    return Deliveries(round_s=times + model.delivery_delay_s, states=states, attempts=attempts)
