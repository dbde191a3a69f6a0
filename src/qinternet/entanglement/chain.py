"""A repeater chain compiled into a vectorised sampler of end-to-end deliveries.

The chain's protocol is a binary tree over its elementary links. A leaf is an elementary link: attempts of period
``attempt_period_s`` (emission plus the heralding round trip), each succeeding with ``success_prob``, so its
generation time is a geometric number of attempts, drawn at once (never stepped). An inner node joins two
sub-links produced independently by disjoint memories and is either

- a **swap** (two adjacent spans; success ``swap_success_prob``; on failure both spans are regenerated, the
  convention of Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020), Sec. II), or
- a **purification** round (two copies of the same span, an elementary link or a swapped span of any nesting
  level, :class:`PurifyStep`; success given by the states, :mod:`.purification`; on failure both copies are
  regenerated).

The sub-link ready first waits in its memories for the other; its qubits decohere while they wait (a Pauli channel
of the storage time, :attr:`ChainModel.decay`, and, in memories coupled to their node's emitter, a phase flip with
each attempt that node makes meanwhile, :attr:`ChainModel.attempt_dephasing_prob`), and with a **cut-off** it is
discarded once it has waited ``cutoff_s`` and both sub-links are made again from then on (Li, Coopmans, Elkouss,
IEEE Trans. Quantum Eng. 2 (2021), arXiv:2005.04946: the round fails, as in their implementation; for elementary
links the partner's regeneration changes nothing, attempts being memoryless).
Swaps need no classical round trip before the next level (corrections are tracked as a Pauli frame); the last
swap's outcome reaches an end node ``delivery_delay_s`` later, while the end qubits keep decohering
(create-and-keep) or have already been measured (measure-directly, QKD).

Balanced trees over ``2**n`` links are the nested doubling of Briegel, Dür, Cirac, Zoller, PRL 81, 5932 (1998);
the same recursion serves any number of links (the halves differ by at most one link). With deterministic swaps,
no cut-off and links made at once, the delivery time equals that of swap-as-soon-as-possible (the last link to
arrive completes the chain either way); :mod:`qinternet.network.repeater_events` simulates both event by event.

Pauli noise on Bell-diagonal states composes as an XOR convolution whatever the qubit, so the delivered state is
exact within the model (twirled operations). Deliveries are sequential: a round starts when the previous pair is
delivered. Every array is over ``n`` independent rounds at once; cost is linear in links and in rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from qinternet.entanglement.purification import PurificationProtocol, PurificationSchedule, purify
from qinternet.errors import ParameterError
from qinternet.params.checks import require_non_negative, require_positive, require_probability
from qinternet.states import bell

__all__ = [
    "MAX_LINK_DRAWS",
    "MIN_SUCCESS_PROB",
    "REGENERATIONS_PER_LINK",
    "ChainModel",
    "Deliveries",
    "DeliveryMode",
    "ElementaryLink",
    "PurifyStep",
    "attempts_decay",
    "decay_of_law",
    "depolarising_decay",
    "link_copies",
    "nesting_level",
    "sample_chain",
]

MIN_SUCCESS_PROB = 1e-15
"""Least success probability per attempt of an elementary link (attempt counts are 64-bit integers: 1e15 attempts
of a microsecond are 30 years)."""
MAX_ROUNDS_PER_BATCH = 2**18
"""Most rounds of one tree node drawn at once. Rounds are drawn in batches of about as many as the outputs still
missing need, laid end to end and cut into runs at their successes; a run a batch leaves unfinished carries on
into the next batch, so every output is a complete run of independent rounds whatever the batch sizes."""
_LONGEST_WAIT_ATTEMPTS = 2**52
"""Cut-offs longer than this many attempts are as good as none (and keep attempt counts exact in float64)."""
MAX_LINK_DRAWS = 2 * 10**8
"""Most elementary-link generations one call may draw (a cut-off that pairs almost never meet would loop on)."""
REGENERATIONS_PER_LINK = 1000
"""Regenerations per elementary link and round after which a cut-off counts as (almost) never met."""

Edges = NDArray[np.int64] | None
"""Attempts of a span's first and last elementary link, shape ``(2, n)``, kept only when the chain's attempts dephase
its memories (None otherwise)."""

Decay = Callable[[NDArray[np.float64]], NDArray[np.float64]]
"""``decay(seconds)``: what storing one qubit ``seconds`` (shape ``(n,)``) does to a Bell-diagonal pair, as the
Walsh transform of the memory's Pauli error law (its eigenvalues on Bell-diagonal states), shape ``(4, n)``, row 0
being 1; :func:`decay_of_law` makes one from a function that gives the law itself."""


class DeliveryMode(StrEnum):
    """What the end nodes do with their halves: keep them in memory, or measure them as soon as they exist."""

    CREATE_AND_KEEP = "create-and-keep"
    MEASURE_DIRECTLY = "measure-directly"


@dataclass(frozen=True, slots=True, kw_only=True)
class ElementaryLink:
    """One heralded elementary link, compiled from hardware and length.

    A link may try ``channels`` independent attempts in each attempt period (multiplexing: several communication
    qubits, or several ensemble modes, per side; Collins, Jenkins, Kuzmich, Kennedy, PRL 98, 060502 (2007)). The
    period heralds a pair when any channel does, with :attr:`round_success_prob` ``1 - (1 - p)**k``; one pair
    is kept (the others, rarely more than one, are not used), so the state is that of one channel. Times and
    attempt counts of the samplers are in attempt periods (rounds of ``k`` attempts at once).

    Attributes:
        success_prob: probability that one channel's attempt heralds a pair (all memory modes together where the
            heralding already multiplexes them, :func:`qinternet.physics.heralding.midpoint_source`).
        attempt_period_s: time from one attempt to the next (emission, flight and the herald's return).
        state: Bell-diagonal coefficients of a heralded pair when the herald arrives.
        channels: attempts made at once in each period, >= 1.
    """

    success_prob: float
    attempt_period_s: float
    state: tuple[float, float, float, float]
    channels: int = 1

    def __post_init__(self) -> None:
        require_probability("link.success_prob", self.success_prob)
        if self.success_prob < MIN_SUCCESS_PROB:
            raise ParameterError(
                "link.success_prob",
                f"{self.success_prob:.3g} per attempt is below {MIN_SUCCESS_PROB:g}: no pair would arrive in any run",
            )
        require_positive("link.attempt_period_s", self.attempt_period_s)
        bell.as_bell_diagonal(self.state, "link.state")
        if isinstance(self.channels, bool) or not isinstance(self.channels, int) or self.channels < 1:
            raise ParameterError("link.channels", f"must be an integer >= 1, got {self.channels!r}")

    @property
    def round_success_prob(self) -> float:
        """Probability that an attempt period heralds a pair on at least one of the ``channels``:
        ``1 - (1 - p)**k`` (Collins et al., PRL 98, 060502 (2007)), computed as ``-expm1(k log1p(-p))`` so that
        small ``p`` keep their precision; ``p`` itself for one channel."""
        if self.channels == 1 or self.success_prob >= 1.0:
            return self.success_prob
        return -math.expm1(self.channels * math.log1p(-self.success_prob))


@dataclass(frozen=True, slots=True, kw_only=True)
class PurifyStep:
    """Purification of the pairs of some nesting levels before they are swapped further.

    Attributes:
        protocol: BBPSSW or DEJMPS.
        rounds: rounds of purification at each purified level.
        schedule: RECURRENCE purifies two copies of the last round's output (``2**rounds`` pairs of the level per
            purified pair when all succeed); PUMPING purifies the kept pair with a fresh pair of the level each
            round (``rounds + 1`` pairs, two memories per end; Dür, Briegel, Cirac, Zoller, PRA 59, 169 (1999)).
        levels: the nesting levels whose pairs are purified: 0 the elementary links, ``k`` the pairs over
            ``2**k`` links that the swaps of level ``k`` make (a span of ``m`` links is at level
            ``ceil(log2 m)``). Purifying every level up to the top is the nested purification of Briegel, Dür,
            Cirac, Zoller, PRL 81, 5932 (1998); each copy of a span is a whole independent sub-chain, made again
            from its elementary links.
    """

    protocol: PurificationProtocol
    rounds: int = 1
    schedule: PurificationSchedule = PurificationSchedule.RECURRENCE
    levels: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ParameterError("purify.rounds", f"must be at least 1, got {self.rounds}")
        if not self.levels or any(level < 0 for level in self.levels) or len(set(self.levels)) != len(self.levels):
            raise ParameterError("purify.levels", f"must be distinct nesting levels >= 0, got {list(self.levels)}")


def _no_decay(seconds: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.ones((4, np.size(seconds)))


def depolarising_decay(rate_per_s: float | None) -> Decay:
    """A :data:`Decay` of memories that depolarise: every non-trivial Walsh component of a pair shrinks by
    ``exp(-rate_per_s t)`` per stored qubit (a Werner pair whose two qubits wait ``t`` keeps ``w exp(-2 rate t)``);
    ``None``: no decoherence."""

    def decay(seconds: NDArray[np.float64]) -> NDArray[np.float64]:
        factors = np.ones((4, np.size(seconds)))
        if rate_per_s is not None:
            factors[1:] = np.exp(-rate_per_s * np.asarray(seconds, dtype=np.float64))
        return factors

    return decay


def attempts_decay(prob: float, attempts: NDArray[np.int64]) -> NDArray[np.float64]:
    """Walsh factors, shape ``(4, n)``, of one qubit stored while its node made ``attempts`` (shape ``(n,)``)
    entanglement attempts, each a Z flip with probability ``prob``: the Pauli law ``[(1 + c)/2, 0, (1 - c)/2, 0]``
    of coherence ``c = (1 - 2 prob)**N`` (:func:`qinternet.physics.memory.attempts_coherence`), whose transform
    is ``[1, 1, c, c]``: a dephasing leaves the first two components and multiplies the others by ``c``."""
    c = np.exp(np.asarray(attempts, dtype=np.float64) * math.log1p(-2.0 * prob))
    return np.stack([np.ones_like(c), np.ones_like(c), c, c])


def decay_of_law(law: Callable[[NDArray[np.float64]], NDArray[np.float64]]) -> Decay:
    """A :data:`Decay` from ``law(seconds)``, the Pauli error law ``[I, X, Z, Y]`` of one stored qubit, shape
    ``(n, 4)`` (e.g. :func:`qinternet.physics.memory.memory_pauli_channel` of a memory)."""

    def decay(seconds: NDArray[np.float64]) -> NDArray[np.float64]:
        return bell.walsh(np.ascontiguousarray(law(seconds).T), axis=0)

    return decay


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
        purify: purification of the pairs of some nesting levels (elementary links by default), or None.
        sequential: nodes have one communication qubit, so a node cannot attempt its two links at once: at each
            swap the right span starts when the left one is done (its half moved to memory), and a cut-off starts
            both again. A valid schedule for any chain, and the one the three-node network of Pompili et al.,
            Science 372, 259 (2021) ran; for long chains it is conservative (odd and even links could alternate).
            False: both sides at once (nodes with several communication qubits); a swap's two links then take
            the larger of two geometric times, mean ``2/p - 1/(1 - (1-p)**2)`` periods against ``2/p`` in turn
            (Shchukin, Schmidt, van Loock, PRA 100, 032322 (2019), two segments).
        link_list: the elementary links one by one when they differ (a path through a network: other lengths,
            other hardware), ``links`` of them; empty for a homogeneous chain of ``link``. With it, ``link`` is
            the slowest of them (the cut-off's period) and a cut-off acts at its exact time, not in whole
            attempt periods (links of different periods share none); only the chain sampler takes it.
        attempt_dephasing_prob: probability that one entanglement attempt of a node's emitter flips the phase (Z)
            of each qubit stored at that node (NV nodes: the reset of the electron dephases the 13C memories,
            :func:`qinternet.physics.memory.attempt_dephasing_prob`). With one communication qubit a stored
            sub-link waits exactly while its partner is attempted: at a swap the waiting sub-link's qubit at the
            swapping node sees every attempt of the first elementary link of the other sub-link; at a
            purification both qubits of the waiting copy see every attempt of the other copy. Sequential
            chains only (with several communication qubits the model does not say which attempts reach a memory).
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
    link_list: tuple[ElementaryLink, ...] = ()
    attempt_dephasing_prob: float = 0.0

    def __post_init__(self) -> None:
        if self.links < 1:
            raise ParameterError("nodes", f"must be at least 2, got {self.links + 1}")
        if self.link_list and len(self.link_list) != self.links:
            raise ParameterError("link_list", f"holds {len(self.link_list)} links for a chain of {self.links}")
        require_probability("swap.success_prob", self.swap_success_prob)
        require_positive("swap.success_prob", self.swap_success_prob)
        bell.as_bell_diagonal(self.swap_error, "swap.error")
        require_non_negative("swap.duration_s", self.swap_duration_s)
        require_non_negative("delivery_delay_s", self.delivery_delay_s)
        if self.cutoff_s is not None:
            require_non_negative("cutoff", self.cutoff_s)
        require_probability("memory.attempt_dephasing_prob", self.attempt_dephasing_prob, upper=0.5)
        if self.attempt_dephasing_prob > 0.0 and not self.sequential:
            raise ParameterError(
                "memory.attempt_phase_spread_rad",
                "dephasing by the node's own attempts is modelled for nodes with one communication qubit only",
            )
        top = nesting_level(self.links)
        if self.purify is not None and max(self.purify.levels) > top:
            raise ParameterError(
                "purify.levels",
                f"a chain of {self.links} links has nesting levels 0..{top}, got {max(self.purify.levels)}",
            )
        if self.purify is not None and self.mode is DeliveryMode.MEASURE_DIRECTLY:
            raise ParameterError(
                "mode", "measure-directly measures the end qubits at once, but purification needs them stored"
            )

    @property
    def effective_cutoff_s(self) -> float | None:
        """The cut-off as it acts: a whole number of attempt periods (rounded down; a sub-link is given up after
        the last attempt that could still have met it in time, the discrete convention of Li, Coopmans, Elkouss),
        or None when there is none or it exceeds any wait the attempt counts can hold."""
        if self.cutoff_s is None:
            return None
        if self.link_list:
            return self.cutoff_s
        periods = math.floor(self.cutoff_s / self.link.attempt_period_s * (1.0 + 1e-12))
        if periods >= _LONGEST_WAIT_ATTEMPTS:
            return None
        return periods * self.link.attempt_period_s

    def link_at(self, index: int) -> ElementaryLink:
        """Elementary link ``index`` (0 at the chain's first node)."""
        return self.link_list[index] if self.link_list else self.link

    @property
    def homogeneous(self) -> bool:
        """Whether every elementary link is ``link``."""
        return not self.link_list or all(lk == self.link for lk in self.link_list)


@dataclass(frozen=True, slots=True)
class _Span:
    """A node of the protocol tree: elementary links ``first..last`` (inclusive), made by ``kind``."""

    first: int
    last: int
    kind: str  # "leaf", "swap" or "purify"
    left: _Span | None = None
    right: _Span | None = None


def nesting_level(links: int) -> int:
    """Nesting level of a span of ``links`` elementary links, ``ceil(log2 links)`` (0 for one link): the level of
    the swap that makes it in the balanced tree."""
    return (links - 1).bit_length()


def _tree(first: int, last: int, purify_step: PurifyStep | None) -> _Span:
    if first == last:
        base = _Span(first, last, "leaf")
    else:
        middle = (first + last) // 2
        base = _Span(first, last, "swap", _tree(first, middle, purify_step), _tree(middle + 1, last, purify_step))
    if purify_step is None or nesting_level(last - first + 1) not in purify_step.levels:
        return base
    span = base
    pumping = purify_step.schedule is PurificationSchedule.PUMPING
    for _ in range(purify_step.rounds):
        span = _Span(first, last, "purify", span, base if pumping else span)
    return span


def link_copies(links: int, purify_step: PurifyStep | None) -> int:
    """Most copies of one elementary link that the protocol tree of a chain of ``links`` links holds: each
    purified span is made ``2**rounds`` times (recurrence) or ``rounds + 1`` times (pumping) for each purified
    span above it (1 without purification). Made at once, they need as many channels at each node."""
    if purify_step is None:
        return 1
    pumping = purify_step.schedule is PurificationSchedule.PUMPING
    factor = purify_step.rounds + 1 if pumping else 2**purify_step.rounds

    def copies(first: int, last: int) -> int:
        own = factor if nesting_level(last - first + 1) in purify_step.levels else 1
        if first == last:
            return own
        middle = (first + last) // 2
        return own * max(copies(first, middle), copies(middle + 1, last))

    return copies(0, links - 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliveries:
    """End-to-end pairs of independent rounds.

    Attributes:
        round_s: time of each round, from its start to the pair's delivery, shape ``(n,)``.
        states: Bell-diagonal coefficients of each delivered pair, shape ``(n, 4)``.
        attempts: elementary-link attempts each round made (all links together), shape ``(n,)``. A sub-link given
            up by a cut-off counts the attempts drawn for it in full (an upper bound), except in rounds over two
            elementary links, which count only the attempts made.
        link_draws: elementary links (or passing rounds over two of them) the sampler drew: its work.
    """

    round_s: NDArray[np.float64]
    states: NDArray[np.float64]
    attempts: NDArray[np.int64]
    link_draws: int = 0


class _Sampler:
    """Draws outputs of tree nodes; states are carried as Walsh transforms (:func:`qinternet.states.bell.walsh`),
    in which swapping and memory decay are products."""

    fast_leaves = True
    """Draw the rounds of nodes over two elementary links under a cut-off in O(1) (:meth:`passing_leaf_rounds`);
    False makes and rejects every round (the same law, slower: kept to test one against the other)."""

    def __init__(self, model: ChainModel, rng: np.random.Generator) -> None:
        self.model = model
        self.rng = rng
        self.last_link = model.links - 1
        self.fresh = bell.walsh(model.link.state)
        self.fresh_at = [bell.walsh(model.link_at(i).state) for i in range(model.links)]
        self.cutoff_s = model.effective_cutoff_s
        self.draws = 0
        self.budget = 0
        self.pass_rate: dict[_Span, float] = {}
        self.swap_error = bell.walsh(model.swap_error)
        self.track_edges = model.attempt_dephasing_prob > 0.0

    def too_much_work(self) -> ParameterError:
        """The error when a call would draw more elementary links than its budget."""
        if self.cutoff_s is not None:
            return ParameterError(
                "cutoff",
                f"links almost never meet within the cut-off of {self.cutoff_s:g} s (more than "
                f"{self.budget:.3g} elementary links for the pairs asked); lengthen it or shorten the links",
            )
        return ParameterError("pairs", f"needs more than {self.budget:.3g} elementary links; ask for fewer pairs")

    def stored_qubits(self, span: _Span) -> int:
        """How many ends of a waiting span are held in memory (chain ends are measured at once in measure-directly)."""
        if self.model.mode is DeliveryMode.CREATE_AND_KEEP:
            return 2
        return int(span.first != 0) + int(span.last != self.last_link)

    def decay(self, seconds: NDArray[np.float64], qubits: int) -> NDArray[np.float64] | float:
        """Walsh factors of ``qubits`` qubits each stored ``seconds`` (1 when memories are perfect)."""
        if self.model.decay is _no_decay or qubits == 0:
            return 1.0
        factors = self.model.decay(seconds)
        return factors if qubits == 1 else factors**qubits

    def sample(self, span: _Span, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], Edges]:
        """Times (from the start of generation), Walsh states (shape ``(4, n)``: a row per component, so that
        every operation runs on contiguous rows), attempts and :data:`Edges` of ``n`` independent outputs of
        ``span``."""
        if span.kind == "leaf":
            self.draws += n
            if self.draws > self.budget:
                raise self.too_much_work()
            link = self.model.link_at(span.first)
            attempts = self.rng.geometric(link.round_success_prob, size=n).astype(np.int64)
            times = np.asarray(attempts * link.attempt_period_s, dtype=np.float64)
            edges = np.stack([attempts, attempts]) if self.track_edges else None
            return times, np.repeat(self.fresh_at[span.first][:, None], n, axis=1), attempts, edges
        out_t = np.empty(n)
        out_s = np.empty((4, n))
        out_a = np.empty(n, dtype=np.int64)
        out_e = np.empty((2, n), dtype=np.int64) if self.track_edges else None
        filled = 0
        carried_s, carried_attempts = 0.0, 0  # the run that the last batch left unfinished
        carried_edges = np.zeros(2, dtype=np.int64)
        while filled < n:
            missing = n - filled
            # start from the most a round can succeed (overdrawing compounds over the levels), then learn
            rate = self.pass_rate.get(span, self.model.swap_success_prob if span.kind == "swap" else 1.0)
            count = min(MAX_ROUNDS_PER_BATCH, missing if rate >= 1.0 else math.ceil(1.1 * missing / rate) + 16)
            duration, ok, joined, spent, edge_spent = self.rounds(span, count)
            self.pass_rate[span] = max(float(ok.mean()), 1.0 / count)
            # the rounds follow each other; each output is a run of rounds ending at its first success
            ends = np.cumsum(duration) + carried_s
            used = np.cumsum(spent) + carried_attempts
            wins = np.flatnonzero(ok)[:missing]
            k = wins.size
            out_t[filled : filled + k] = np.diff(ends[wins], prepend=0.0)
            out_a[filled : filled + k] = np.diff(used[wins], prepend=0)
            out_s[:, filled : filled + k] = joined[:, wins]
            filled += k
            carried_s = float(ends[-1] - (ends[wins[-1]] if k else 0.0))
            carried_attempts = int(used[-1] - (used[wins[-1]] if k else 0))
            if out_e is not None:
                assert edge_spent is not None
                edges_used = np.cumsum(edge_spent, axis=1) + carried_edges[:, None]
                out_e[:, filled - k : filled] = np.diff(edges_used[:, wins], axis=1, prepend=0)
                carried_edges = edges_used[:, -1] - (edges_used[:, wins[-1]] if k else 0)
        return out_t, out_s, out_a, out_e

    def rounds(
        self, span: _Span, count: int
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64], NDArray[np.int64], Edges]:
        """``count`` independent rounds of an inner node: how long each lasts, whether it succeeds, the Walsh state
        it makes (meaningful where it succeeds), the attempts it costs and its :data:`Edges`.

        A round makes both children; if the one ready first would wait longer than the cut-off, the round fails
        when it has waited the cut-off (Li, Coopmans, Elkouss: both are made again, as in their implementation;
        the same as :mod:`.analytic`); otherwise the earlier one decoheres while it waits and the swap (or the
        purification) succeeds with its probability, ending the round.
        """
        assert span.left is not None
        assert span.right is not None
        if (
            self.fast_leaves
            and self.cutoff_s is not None
            and span.left.kind == span.right.kind == "leaf"
            and self.model.homogeneous
        ):
            return self.leaf_rounds(span, count)
        tl, sl, al, el, tr, sr, ar, er = self.children(span, count, 0.0)
        gap = np.abs(tr - tl)
        early_left = tl <= tr
        done_at = np.maximum(tl, tr) + (self.model.swap_duration_s if span.kind == "swap" else 0.0)
        edges: Edges = None
        seen: Edges = None
        if el is not None and er is not None:  # one communication qubit: the left sub-link waits for the right
            if span.kind == "swap":
                edges = np.stack([el[0], er[1]])
                seen = np.stack([np.zeros_like(er[0]), er[0]])  # the swapping node attempts the right's first link
            else:
                edges = el + er  # two copies of the same span
                seen = er  # each end of the kept copy sees the other copy's attempts at its node
        joined, ok = self.join(span, sl, sr, gap, early_left, seen)
        duration = done_at
        if self.cutoff_s is not None:
            cut = gap > self.cutoff_s
            ok &= ~cut
            duration = np.where(cut, np.minimum(tl, tr) + self.cutoff_s, done_at)
        return duration, ok, joined, al + ar, edges

    def leaf_rounds(
        self, span: _Span, count: int
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64], NDArray[np.int64], Edges]:
        """:meth:`rounds` of a node over two elementary links under a cut-off, through
        :meth:`passing_leaf_rounds` (every round returned has passed the cut-off)."""
        duration, gap, attempts, left_first, each = self.passing_leaf_rounds(span, count)
        fresh = np.repeat(self.fresh[:, None], count, axis=1)
        edges: Edges = None
        seen: Edges = None
        if each is not None:  # one communication qubit: the right link's attempts of the passing round are the wait
            wait = np.rint(gap / self.model.link.attempt_period_s).astype(np.int64)
            if span.kind == "swap":
                edges, seen = each, np.stack([np.zeros_like(wait), wait])
            else:
                edges, seen = np.stack([attempts, attempts]), np.stack([wait, wait])
        joined, ok = self.join(span, fresh, fresh, gap, left_first, seen)
        extra = self.model.swap_duration_s if span.kind == "swap" else 0.0
        return duration + extra, ok, joined, attempts, edges

    def join(
        self,
        span: _Span,
        sl: NDArray[np.float64],
        sr: NDArray[np.float64],
        gap: NDArray[np.float64],
        early_left: NDArray[np.bool_],
        seen: Edges = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """The Walsh state a swap (or purification) of the two sub-links makes after the earlier one waited
        ``gap`` (and, with :attr:`ChainModel.attempt_dephasing_prob`, its two end qubits saw ``seen`` attempts of
        their nodes, shape ``(2, n)``; one communication qubit, so the left one waited), and whether it
        succeeds."""
        assert span.left is not None
        assert span.right is not None
        count = gap.size
        held_l, held_r = self.stored_qubits(span.left), self.stored_qubits(span.right)
        if seen is not None:  # the exponents of the two ends' (1 - 2p)**N add
            sl = sl * self.attempt_decay(seen[0] + seen[1])
        if span.kind == "swap":  # a swap multiplies Walsh components: only the waiting link's decay matters
            if held_l == held_r:
                waited = self.decay(gap, held_l)
            else:
                waited = np.where(early_left, self.decay(gap, held_l), self.decay(gap, held_r))
            joined = sl * sr * waited * self.swap_error[:, None]
            ok = self.rng.random(count) < self.model.swap_success_prob
        else:
            purify_step = self.model.purify
            assert purify_step is not None
            sl = np.where(early_left, sl * self.decay(gap, held_l), sl)
            sr = np.where(early_left, sr, sr * self.decay(gap, held_r))
            pl = np.clip(bell.from_walsh(sl.T), 0.0, 1.0)
            pr = np.clip(bell.from_walsh(sr.T), 0.0, 1.0)
            success, kept = purify(pl, pr, purify_step.protocol)
            joined = bell.walsh(kept.T, axis=0)
            ok = self.rng.random(count) < success
        return joined, ok

    def attempt_decay(self, attempts: NDArray[np.int64]) -> NDArray[np.float64]:
        """:func:`attempts_decay` of this chain's memories."""
        return attempts_decay(self.model.attempt_dephasing_prob, attempts)

    def children(
        self, span: _Span, n: int, start: float | NDArray[np.float64]
    ) -> tuple[
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.int64],
        Edges,
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.int64],
        Edges,
    ]:
        """Both children of ``span`` generated from ``start``: at once, or one after the other (sequential)."""
        assert span.left is not None
        assert span.right is not None
        tl, sl, al, el = self.sample(span.left, n)
        tr, sr, ar, er = self.sample(span.right, n)
        tl = tl + start
        tr = tr + (tl if self.sequential(span) else start)
        return tl, sl, al, el, tr, sr, ar, er

    def sequential(self, span: _Span) -> bool:
        """Whether the right child of ``span`` waits for the left one: nodes with one communication qubit make the
        two links of a swap, or the two copies of a purification, one after the other."""
        return self.model.sequential and span.kind != "leaf"

    def passing_leaf_rounds(
        self, span: _Span, count: int
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_], Edges]:
        """Rounds of a node over two elementary links, each with the rounds the cut-off failed before it folded in:
        its duration (all of them), the wait of the earlier link, the attempts, whether the left link was the
        earlier one, and (made in turn, when kept) the attempts of each link - drawn in O(1) per round however
        rarely rounds pass.

        With attempts of period ``tau`` succeeding with ``p`` and a cut-off of ``c = floor(cutoff / tau)``
        attempts: made at once, the first link arrives after ``m ~ Geom(1 - (1-p)^2)`` attempts and the other at
        the same attempt (probability ``p^2 / (1 - (1-p)^2)``) or ``G ~ Geom(p)`` later; made in turn, the left
        link takes ``m ~ Geom(p)`` and the right ``G ~ Geom(p)`` after it. A round passes when the wait ``G <= c``
        (probability ``q``), else it lasts ``m + c``. The failures before a pass number ``K ~ Geom(q) - 1`` and
        last ``K (1 + c) + NegBin(K, p_m)`` in all (sums of geometric times); the passing round's wait is a
        geometric time truncated to ``1..c`` (by inversion).
        """
        period = self.model.link.attempt_period_s
        assert self.cutoff_s is not None
        c = round(self.cutoff_s / period)  # a whole number of periods (ChainModel.effective_cutoff_s)
        p = self.model.link.round_success_prob
        miss = 1.0 - p
        in_turn = self.sequential(span)
        p_first = p if in_turn else 1.0 - miss * miss
        together = 0.0 if in_turn else p * p / p_first  # both arrive at the same attempt
        within = -math.expm1(c * math.log1p(-p)) if p < 1.0 else 1.0  # P(1 <= G <= c)
        q = together + (1.0 - together) * within
        if q <= 0.0 or (1.0 - q) / q * (1.0 / p_first + c) > _LONGEST_WAIT_ATTEMPTS:
            raise self.too_much_work()  # never, or only after more attempts than the counts can hold
        self.draws += 4 * count
        if self.draws > self.budget:
            raise self.too_much_work()
        rng = self.rng
        failures = rng.geometric(q, size=count) - 1 if q < 1.0 else np.zeros(count, dtype=np.int64)
        failed_first = failures + rng.negative_binomial(np.maximum(failures, 1), p_first) * (failures > 0)
        first = rng.geometric(p_first, size=count)
        if p < 1.0 and c > 0:
            u = rng.random(count)
            wait = np.ceil(np.log1p(-u * within) / math.log1p(-p)).astype(np.int64)
            wait = np.clip(wait, 1, c)
        else:
            wait = np.zeros(count, dtype=np.int64)
        if together > 0.0:
            wait = np.where(rng.random(count) < together / q, 0, wait)
        duration = ((failed_first + first + wait) + failures * float(c)) * period
        each: Edges = None
        if in_turn:  # the left link is made first; attempts: the left's then the right's
            attempts = failed_first + failures * c + first + wait
            left_first = np.ones(count, dtype=bool)
            if self.track_edges:
                each = np.stack([failed_first + first, failures * c + wait]).astype(np.int64)
        else:  # both attempt until the first arrives, the other until it arrives or the cut-off
            attempts = 2 * failed_first + failures * c + 2 * first + wait
            left_first = rng.random(count) < 0.5
        return (
            np.asarray(duration, dtype=np.float64),
            np.asarray(wait * period, dtype=np.float64),
            attempts.astype(np.int64),
            np.asarray(left_first, dtype=np.bool_),
            each,
        )


def sample_chain(
    model: ChainModel, rounds: int, rng: np.random.Generator, *, max_link_draws: int | None = None
) -> Deliveries:
    """Draw ``rounds`` independent end-to-end deliveries of the chain.

    Args:
        model: the compiled chain.
        rounds: number of deliveries, at least 1.
        rng: the random stream.
        max_link_draws: most elementary links to draw (default: :data:`REGENERATIONS_PER_LINK` per link and
            round, at most :data:`MAX_LINK_DRAWS`); beyond, a :class:`ParameterError` naming ``cutoff`` (with a
            cut-off) or ``pairs``.

    Returns:
        Round times (including the final message to an end node), delivered states and attempts made.
    """
    if rounds < 1:
        raise ParameterError("pairs", f"must be at least 1, got {rounds}")
    sampler = _Sampler(model, rng)
    depth = math.ceil(math.log2(model.links)) if model.links > 1 else 0
    budget = (
        REGENERATIONS_PER_LINK
        * rounds
        * model.links
        * (2 ** (model.purify.rounds * len(model.purify.levels)) if model.purify else 1)
        / model.swap_success_prob**depth  # a failed swap makes both halves again, at every level
    )
    sampler.budget = int(min(budget, MAX_LINK_DRAWS)) if max_link_draws is None else max_link_draws
    root = _tree(0, model.links - 1, model.purify)
    times, chi, attempts, _ = sampler.sample(root, rounds)
    if model.delivery_delay_s > 0.0 and model.mode is DeliveryMode.CREATE_AND_KEEP:
        chi = chi * sampler.decay(np.full(rounds, model.delivery_delay_s), 2)
    states = np.clip(bell.from_walsh(chi.T), 0.0, 1.0)
    return Deliveries(
        round_s=times + model.delivery_delay_s, states=states, attempts=attempts, link_draws=sampler.draws
    )
