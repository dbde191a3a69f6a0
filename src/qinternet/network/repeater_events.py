"""The repeater chain of :mod:`qinternet.entanglement.chain`, simulated event by event on the kernel.

The vectorised sampler draws whole rounds as arrays; this engine lets the same chain happen over simulated time on
:mod:`qinternet.sim.kernel` (integer picoseconds), so that the protocol's parts are explicit and other policies
can be written as processes:

- **Elementary links** are long-lived processes, one per link (random stream ``link:<i>``). Asked to start at
  ``start_ps``, a link draws the geometric number of attempts to its next herald (attempts of period
  ``attempt_period_s``, each period succeeding with ``round_success_prob``, which is ``1 - (1 - p)**k`` for a
  link of ``k`` parallel channels; never stepped attempt by attempt) and sleeps until the herald. An
  interrupted link (its span was given up) counts the attempt periods it spent.
- **Memories** hold the two halves of every pair with the time each half was stored. States are Bell-diagonal,
  carried as Walsh transforms (:func:`qinternet.states.bell.walsh`); a qubit's decoherence, the model's
  ``decay`` law of its whole storage time, is applied when the qubit is used (measured in a swap, or handed
  over at delivery). Chain ends are measured at once in measure-directly mode and never decohere. Memories
  dephased by their node's attempts (:attr:`~qinternet.entanglement.chain.ChainModel.attempt_dephasing_prob`)
  count, per node, the attempts its emitter made (heralded or aborted), and a qubit sees those made while it was
  stored.
- **Cut-offs** are kernel timers: a stored pair that would wait longer than ``cutoff_s`` is discarded at the
  first picosecond its wait exceeds the cut-off (the timer interrupts the process that holds it, or, for
  swap-as-soon-as-possible, discards it from the nodes' memories), and its span is regenerated from the moment
  the cut-off passed.
- **Classical messages**: heralds are inside the attempt period (as in the sampler); a swap's Pauli-frame
  correction needs no round trip; the last swap's outcome is a message that reaches an end node
  ``delivery_delay_s`` later, while kept end qubits go on decohering.

Two swap policies:

- ``nested``: the protocol of :func:`qinternet.entanglement.chain.sample_chain`, with one process per swap of
  the balanced binary tree (Briegel, Dür, Cirac, Zoller, PRL 81, 5932 (1998)): a swap waits until both its
  sub-links are ready, a failed swap regenerates both (Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020),
  Sec. II), and when a sub-link waits longer than the cut-off for its partner the round fails: it is discarded,
  the partner given up, and both are made again (Li, Coopmans, Elkouss, IEEE Trans. Quantum Eng. 2 (2021),
  arXiv:2005.04946, as in their implementation). With ``sequential`` nodes, a swap's right sub-link starts when
  the left one is ready.
- ``asap``: swap as soon as possible. Every node swaps the moment it holds a pair on each side; a failed swap
  discards both pairs and their spans are regenerated; a stored pair is discarded once its *age*, the time since
  the herald of the oldest elementary link it was made of, exceeds the cut-off (the convention of Iñesta,
  Vardoyan, Scavuzzo, Wehner, npj Quantum Inf. 9, 46 (2023), Sec. 2: a swapped link is as old as the older of
  its two inputs). With deterministic swaps, no cut-off and parallel nodes a round ends when the last elementary
  link heralds, as in ``nested``; the stored qubits wait less, so the pair is better. With ``sequential`` nodes (one
  communication qubit each) a link is attempted only while neither of its nodes attempts the other one: the
  even links start a round, each odd link starts when both its neighbours have heralded, and a link wanted
  again waits for its nodes' qubits (an attempt in progress is never given up). On three nodes this gives the
  round times and states of the sampler's sequential schedule (in distribution: geometric links forget how long
  they ran); on more it is faster, since links at odd and even places alternate.

Rounds are sequential, as in the sampler: a round starts when the previous pair has been delivered, so the two
engines can be compared round for round. ``asap`` may also run **pipelined**: a node makes a link again as soon as
the memories at both its ends are free (one memory per side of a node), so inner links are made while the chain
waits for its last ones; the end nodes' memories hold the pair until it is delivered. On three nodes this is the
same as rounds (both links need an end memory); on longer chains deliveries come faster.

Differences from the sampler that remain by design: (1) decoherence is the law of each qubit's whole storage
time, where the sampler composes the laws of successive waits (the same for the exponential laws of ``decay``
with T1 and exponential T2, not for Gaussian dephasing); (2) it also runs during ``swap_duration_s``, which the
sampler leaves out; (3) an aborted sequential sub-link counts the attempts it made before the abort, the sampler
all the attempts it would have made. Purification is not simulated by this engine.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from qinternet.entanglement.chain import REGENERATIONS_PER_LINK, ChainModel, Deliveries, DeliveryMode, attempts_decay
from qinternet.errors import ParameterError
from qinternet.sim.clock import PS_PER_S, seconds_to_ps
from qinternet.sim.kernel import Event, EventHandle, Interrupt, Kernel, Process
from qinternet.states import bell

__all__ = ["EventRun", "SwapPolicy", "run_events", "simulate_events"]

SwapPolicy = Literal["nested", "asap"]
"""How nodes decide when to swap: nested doubling, or swap as soon as possible."""

CUT_OFF: Final = "cut-off"
"""Interrupt cause: a stored pair waited longer than the cut-off."""
ABORT: Final = "abort"
"""Interrupt cause: the span a process works on was given up (sequential nodes after a cut-off)."""

_Gen = Generator[Any, Any, Any]
_MAX_ATTEMPTS = np.iinfo(np.int64).max
_DECAY_CACHE = 1 << 16
"""Most storage times whose decay factors one run keeps."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRun:
    """What the event-driven engine delivered, and what happened on the way.

    Attributes:
        deliveries: the end-to-end pairs, as :func:`qinternet.entanglement.chain.sample_chain` gives them.
        cutoff_discards: stored pairs discarded by a cut-off timer.
        swap_failures: swaps that failed.
        simulated_s: simulated time of the whole run, s.
    """

    deliveries: Deliveries
    cutoff_discards: int
    swap_failures: int
    simulated_s: float


class _Pair:
    """A stored pair over elementary links ``first..last`` (nodes ``first`` and ``last + 1``).

    ``chi`` is the Walsh transform of its state without the decay of its stored qubits; ``left_ps`` and
    ``right_ps`` are the times its end qubits entered memory (None: measured at once), ``born_ps`` the herald
    time of its oldest elementary link (its age for the asap cut-off), ``ready_ps`` the time it was made (from
    which the nested cut-off counts its wait); ``left_n`` and ``right_n`` are the attempts their nodes had made
    when the end qubits were stored.
    """

    __slots__ = ("born_ps", "chi", "cutoff", "first", "last", "left_n", "left_ps", "ready_ps", "right_n", "right_ps")

    def __init__(
        self,
        first: int,
        last: int,
        chi: NDArray[np.float64],
        ends_ps: tuple[int | None, int | None],
        born_ps: int,
        ready_ps: int,
        ends_n: tuple[int, int] = (0, 0),
    ) -> None:
        self.first = first
        self.last = last
        self.chi = chi
        self.left_ps, self.right_ps = ends_ps
        self.left_n, self.right_n = ends_n
        self.born_ps = born_ps
        self.ready_ps = ready_ps
        self.cutoff: EventHandle | None = None


class _Worker:
    """A long-lived process that makes a pair over a span when asked (an elementary link or a nested swap)."""

    __slots__ = ("busy", "first", "inbox", "last", "left", "process", "right")

    def __init__(self, kernel: Kernel, first: int, last: int) -> None:
        self.first = first
        self.last = last
        self.inbox: Event = kernel.event()  # succeeds with (start_ps, reply) when a pair is asked for
        self.busy = False
        self.left: _Worker | None = None
        self.right: _Worker | None = None
        self.process: Process


class _Engine:
    """The kernel, the workers and the counters of one run."""

    def __init__(self, model: ChainModel, seed: int, policy: SwapPolicy, rounds: int, *, pipelined: bool) -> None:
        if model.purify is not None:
            raise ParameterError("purify", "the event-driven engine does not simulate purification")
        if pipelined and policy != "asap":
            raise ParameterError("pipelined", "needs policy asap (nested rounds start from empty memories)")
        if policy == "asap" and model.swap_duration_s > 0.0:
            raise ParameterError("swap.duration_s", "asap swaps are instantaneous in this engine (must be 0)")
        self.model = model
        self.policy = policy
        self.kernel = Kernel(seed)
        self.period_ps = seconds_to_ps(model.link.attempt_period_s, "link.attempt_period_s")
        if self.period_ps < 1:
            raise ParameterError("link.attempt_period_s", "must be at least 1 ps for the event-driven engine")
        cutoff_s = model.effective_cutoff_s  # whole attempt periods, as the sampler and the exact engine
        self.cutoff_ps = None if cutoff_s is None else seconds_to_ps(cutoff_s, "cutoff")
        self.swap_ps = seconds_to_ps(model.swap_duration_s, "swap.duration_s")
        self.delay_ps = seconds_to_ps(model.delivery_delay_s, "delivery_delay_s")
        self.fresh = bell.walsh(model.link.state)
        self.swap_chi = bell.walsh(model.swap_error)
        self.p_swap = model.swap_success_prob
        self.measure_ends = model.mode is DeliveryMode.MEASURE_DIRECTLY
        self.attempts = 0
        self.node_attempts = [0] * (model.links + 1)  # attempts each node's emitter has made
        self.generations = 0
        # A failed swap at depth d of the tree regenerates its span: about p_swap**-depth generations per link.
        depth = max(model.links - 1, 1).bit_length()
        self.budget = REGENERATIONS_PER_LINK * rounds * model.links / model.swap_success_prob**depth
        self.cutoff_discards = 0
        self.swap_failures = 0
        self.links = [self._start(_Worker(self.kernel, i, i), f"link:{i}", self._link) for i in range(model.links)]
        self.root = self._tree(0, model.links - 1) if policy == "nested" else self.links[0]
        # asap: the pair each node holds on its left and on its right, and each node's random stream (swaps)
        self.left: list[_Pair | None] = [None] * (model.links + 1)
        self.right: list[_Pair | None] = [None] * (model.links + 1)
        self.node_rng = [self.kernel.rng_for(f"node:{k}") for k in range(model.links + 1)]
        # asap: since when each elementary link is wanted (None: not wanted), which are being made, and, with one
        # communication qubit per node, since when each node's qubit is free (None: attempting a link)
        self.wanted_ps: list[int | None] = [None] * model.links
        self.making = [False] * model.links
        self.free_ps: list[int | None] = [0] * (model.links + 1)
        self.pipelined = pipelined
        self.done: Event = self.kernel.event()
        self.decay_cache: dict[int, NDArray[np.float64]] = {}

    # -- workers -------------------------------------------------------------------------------------

    def _start(self, worker: _Worker, name: str, body: Callable[[Process, _Worker], _Gen]) -> _Worker:
        worker.process = self.kernel.process(lambda proc: body(proc, worker), name)
        return worker

    def _tree(self, first: int, last: int) -> _Worker:
        """The workers of the balanced tree over links ``first..last`` (split as the sampler splits)."""
        if first == last:
            return self.links[first]
        middle = (first + last) // 2
        worker = _Worker(self.kernel, first, last)
        worker.left = self._tree(first, middle)
        worker.right = self._tree(middle + 1, last)
        return self._start(worker, f"swap:{first}-{last}", self._swap)

    def request(self, worker: _Worker, start_ps: int) -> Event:
        """Ask ``worker`` for a pair made from ``start_ps`` on (at most 1 ps ago); the event succeeds with it."""
        reply = self.kernel.event()
        worker.busy = True
        worker.inbox.succeed((start_ps, reply))
        return reply

    def abort(self, worker: _Worker) -> None:
        """Give up what ``worker`` is making (it and its sub-workers stop and wait for the next request)."""
        if worker.busy:
            worker.busy = False
            worker.process.interrupt(ABORT)

    def _wait_request(self, worker: _Worker) -> _Gen:
        """Wait for the next request of ``worker``; returns ``(start_ps, reply)``."""
        while True:
            try:
                request = yield worker.inbox
            except Interrupt:  # aborted before it started: drop the request, if it came
                if worker.inbox.triggered:
                    worker.inbox = self.kernel.event()
                continue
            worker.inbox = self.kernel.event()
            return request

    def _link(self, proc: Process, worker: _Worker) -> _Gen:
        """An elementary link: heralded attempts until a success, then a fresh pair in the two memories."""
        kernel, rng, p, period_ps = self.kernel, proc.rng, self.model.link.round_success_prob, self.period_ps
        i, last_link = worker.first, self.model.links - 1
        while True:
            start_ps, reply = yield from self._wait_request(worker)
            self.generations += 1
            if self.generations > self.budget:
                self.refuse_budget()
            attempts = int(rng.geometric(p))
            if attempts >= _MAX_ATTEMPTS:  # numpy's geometric saturates where 1 / p overflows int64
                raise ParameterError("link.success_prob", f"{p:g} is too small: the link practically never heralds")
            try:
                yield start_ps + attempts * period_ps - kernel.now_ps
            except Interrupt:
                self.count_attempts(i, (kernel.now_ps - start_ps) // period_ps)  # those made before the abort
                continue
            self.count_attempts(i, attempts)
            worker.busy = False
            now_ps = kernel.now_ps
            left_ps = None if self.measure_ends and i == 0 else now_ps
            right_ps = None if self.measure_ends and i == last_link else now_ps
            ends_n = (self.node_attempts[i], self.node_attempts[i + 1])
            reply.succeed(_Pair(i, i, self.fresh, (left_ps, right_ps), now_ps, now_ps, ends_n))

    def count_attempts(self, link: int, attempts: int) -> None:
        """Elementary link ``link`` made ``attempts`` attempts (its two nodes' emitters each made them)."""
        self.attempts += attempts
        self.node_attempts[link] += attempts
        self.node_attempts[link + 1] += attempts

    def stored(self, now_ps: int, since_ps: int | None, node: int, since_n: int) -> NDArray[np.float64] | float:
        """Walsh factors of a qubit stored at ``node`` since ``since_ps`` (None: measured at once), when the node
        had made ``since_n`` attempts: its memory's decay and the dephasing by the attempts made since."""
        if since_ps is None:
            return 1.0
        factors = self.decay(now_ps, since_ps)
        seen = self.node_attempts[node] - since_n
        if seen and self.model.attempt_dephasing_prob > 0.0:
            return factors * attempts_decay(self.model.attempt_dephasing_prob, np.array([seen]))[:, 0]
        return factors

    def refuse_budget(self) -> None:
        """Raise the error of a run that regenerates links without end (the sampler's guard, per link and pair)."""
        what = f"more than {REGENERATIONS_PER_LINK} regenerations per link and pair"
        if self.model.cutoff_s is None:
            raise ParameterError("swap.success_prob", f"swaps almost never succeed ({what})")
        raise ParameterError(
            "cutoff",
            f"links almost never meet within the cut-off of {self.model.cutoff_s:g} s ({what}); lengthen it or "
            "shorten the links",
        )

    def _swap(self, proc: Process, worker: _Worker) -> _Gen:
        """A swap of the nested tree: joins a pair over its left span and one over its right span."""
        while True:
            start_ps, reply = yield from self._wait_request(worker)
            try:
                pair = yield from self._join(proc, worker, start_ps)
            except Interrupt as stop:
                if stop.cause != ABORT:
                    raise
                assert worker.left is not None
                assert worker.right is not None
                self.abort(worker.left)
                self.abort(worker.right)
                continue
            worker.busy = False
            reply.succeed(pair)

    # -- nested --------------------------------------------------------------------------------------

    def _join(self, proc: Process, worker: _Worker, start_ps: int) -> _Gen:
        """Both sub-links, then the swap; a failed swap regenerates both from the swap's end."""
        kernel = self.kernel
        while True:
            if self.model.sequential:
                left, right = yield from self._both_sequential(proc, worker, start_ps)
            else:
                left, right = yield from self._both_parallel(proc, worker, start_ps)
            now_ps = kernel.now_ps
            chi = left.chi * right.chi * self.swap_chi * self.both_stored(now_ps, left, right)
            if self.swap_ps:
                yield self.swap_ps
            if proc.rng.random() < self.p_swap:
                ends_ps = (left.left_ps, right.right_ps)
                born_ps = min(left.born_ps, right.born_ps)
                return _Pair(left.first, right.last, chi, ends_ps, born_ps, kernel.now_ps, (left.left_n, right.right_n))
            self.swap_failures += 1
            start_ps = kernel.now_ps

    def both_stored(self, now_ps: int, left: _Pair, right: _Pair) -> NDArray[np.float64] | float:
        """What storage did to the two qubits a swap of ``left`` and ``right`` measures (at the node between)."""
        node = left.last + 1
        return self.stored(now_ps, left.right_ps, node, left.right_n) * self.stored(
            now_ps, right.left_ps, node, right.left_n
        )

    def _cut_off(self, proc: Process, partner: Event) -> None:
        """The cut-off timer of a pair waiting for ``partner``: interrupt its holder unless the partner came."""
        if not partner.triggered:
            proc.interrupt(CUT_OFF)

    def _both_parallel(self, proc: Process, worker: _Worker, start_ps: int) -> _Gen:
        """Both sub-links made at once; when one waits longer than the cut-off the round fails: it is discarded, the
        other is given up, and both are made again (the sampler's convention, Li, Coopmans, Elkouss's)."""
        kernel, cutoff_ps = self.kernel, self.cutoff_ps
        assert worker.left is not None
        assert worker.right is not None
        children = (worker.left, worker.right)
        events = [self.request(worker.left, start_ps), self.request(worker.right, start_ps)]
        if cutoff_ps is None:
            both = yield events[0] & events[1]
            return both[events[0]], both[events[1]]
        got: list[_Pair | None] = [None, None]
        while True:
            if got[0] is None and got[1] is None:
                yield kernel.any_of(events)
                got = [event.value if event.triggered else None for event in events]
                continue
            if got[0] is not None and got[1] is not None:
                return got[0], got[1]
            early = 0 if got[0] is not None else 1
            stored = got[early]
            assert stored is not None
            late = events[1 - early]
            timer = kernel.schedule(stored.ready_ps + cutoff_ps + 1 - kernel.now_ps, self._cut_off, proc, late)
            try:
                got[1 - early] = yield late
            except Interrupt as stop:
                if stop.cause != CUT_OFF:
                    raise
                self.cutoff_discards += 1  # the round fails: the late one is given up too, both start again
                self.abort(children[1 - early])
                restart_ps = stored.ready_ps + cutoff_ps
                got = [None, None]
                events = [self.request(worker.left, restart_ps), self.request(worker.right, restart_ps)]
            finally:
                kernel.cancel(timer)

    def _both_sequential(self, proc: Process, worker: _Worker, start_ps: int) -> _Gen:
        """The left sub-link, then the right one (one communication qubit); a cut-off starts both again."""
        kernel, cutoff_ps = self.kernel, self.cutoff_ps
        assert worker.left is not None
        assert worker.right is not None
        while True:
            left = yield self.request(worker.left, start_ps)
            late = self.request(worker.right, left.ready_ps)
            if cutoff_ps is None:
                right = yield late
                return left, right
            timer = kernel.schedule(left.ready_ps + cutoff_ps + 1 - kernel.now_ps, self._cut_off, proc, late)
            try:
                right = yield late
                return left, right
            except Interrupt as stop:
                if stop.cause != CUT_OFF:
                    raise
                self.cutoff_discards += 1
                self.abort(worker.right)
                start_ps = left.ready_ps + cutoff_ps
            finally:
                kernel.cancel(timer)

    # -- asap ----------------------------------------------------------------------------------------

    def _asap_round(self, start_ps: int) -> Event:
        """Start every elementary link; the event succeeds with the end-to-end pair."""
        self.done = self.kernel.event()
        self._want(0, self.model.links - 1, start_ps)
        return self.done

    def _want(self, first: int, last: int, start_ps: int) -> None:
        """Elementary links ``first..last`` (those not being made) are wanted from ``start_ps`` on."""
        for i in range(max(first, 0), min(last, self.model.links - 1) + 1):
            if not self.making[i]:
                self.wanted_ps[i] = start_ps
        self._dispatch()

    def _dispatch(self) -> None:
        """Start every wanted link whose memories are free and, with one communication qubit per node, whose
        two nodes' qubits are free, from the left.

        With one communication qubit, the even links start a round and the odd ones wait for their neighbours'
        heralds; an attempt in progress is never given up. A link starts when it was wanted or when the later of
        its two qubits came free, whichever is later. Memories are busy only in pipelined runs (in rounds, a link
        is wanted only when its span has been emptied); a link that finds one busy is no longer wanted, since
        whatever frees a memory wants the links at its node again, from then on.
        """
        free_ps, wanted_ps, sequential = self.free_ps, self.wanted_ps, self.model.sequential
        for i, want_ps in enumerate(wanted_ps):
            if want_ps is None:
                continue
            if self.right[i] is not None or self.left[i + 1] is not None:
                wanted_ps[i] = None
                continue
            if sequential:
                left_ps, right_ps = free_ps[i], free_ps[i + 1]
                if left_ps is None or right_ps is None:
                    continue
                want_ps = max(want_ps, left_ps, right_ps)
                free_ps[i] = free_ps[i + 1] = None
            wanted_ps[i] = None
            self.making[i] = True
            self.request(self.links[i], want_ps).add_callback(self._herald)

    def _herald(self, pair: _Pair) -> None:
        """An elementary link heralded: its halves are in memory (the communication qubits are free again)."""
        self.making[pair.first] = False
        if self.model.sequential:
            self.free_ps[pair.first] = self.free_ps[pair.first + 1] = self.kernel.now_ps
        self._arrive(pair)
        self._dispatch()

    def _arrive(self, pair: _Pair) -> None:
        """A pair is in the memories of its end nodes: an end-to-end pair is done, else swap if a node can."""
        a, b = pair.first, pair.last + 1
        self.right[a] = pair
        self.left[b] = pair
        if a == 0 and b == self.model.links:
            self.done.succeed(pair)
            return
        if self.cutoff_ps is not None:
            delay_ps = max(pair.born_ps + self.cutoff_ps + 1 - self.kernel.now_ps, 0)
            pair.cutoff = self.kernel.schedule(delay_ps, self._expire, pair)
        for node in (a, b):
            if self.left[node] is not None and self.right[node] is not None:
                self._asap_swap(node)
                return

    def _expire(self, pair: _Pair) -> None:
        """The cut-off timer of a stored pair: discard it and make its span again from the cut-off on."""
        assert self.cutoff_ps is not None
        self.cutoff_discards += 1
        self.right[pair.first] = None
        self.left[pair.last + 1] = None
        self._want(pair.first, pair.last, pair.born_ps + self.cutoff_ps)

    def _asap_swap(self, node: int) -> None:
        left, right = self.left[node], self.right[node]
        assert left is not None
        assert right is not None
        for pair in (left, right):
            if pair.cutoff is not None:
                self.kernel.cancel(pair.cutoff)
        self.left[node] = self.right[node] = None
        self.right[left.first] = None
        self.left[right.last + 1] = None
        now_ps = self.kernel.now_ps
        if self.node_rng[node].random() < self.p_swap:
            chi = left.chi * right.chi * self.swap_chi * self.both_stored(now_ps, left, right)
            ends_ps = (left.left_ps, right.right_ps)
            born_ps = min(left.born_ps, right.born_ps)
            self._arrive(_Pair(left.first, right.last, chi, ends_ps, born_ps, now_ps, (left.left_n, right.right_n)))
            if self.pipelined:  # the node's memories are free: its links may start again
                self._want(node - 1, node, now_ps)
            return
        self.swap_failures += 1
        self._want(left.first, right.last, now_ps)

    def _delivered(self) -> Event:
        """The end nodes' memories are free again: the next end-to-end pair comes on this event."""
        self.right[0] = self.left[self.model.links] = None
        self.done = self.kernel.event()
        if self.pipelined:
            self._want(0, 0, self.kernel.now_ps)
            self._want(self.model.links - 1, self.model.links - 1, self.kernel.now_ps)
        return self.done

    # -- rounds --------------------------------------------------------------------------------------

    def decay(self, now_ps: int, since_ps: int | None) -> NDArray[np.float64] | float:
        """Walsh factors of one qubit stored from ``since_ps`` to ``now_ps`` (1 for a measured or fresh qubit).

        Storage times repeat (multiples of the attempt period), so the factors are kept by time, up to
        ``_DECAY_CACHE`` of them.
        """
        if since_ps is None or since_ps == now_ps:
            return 1.0
        stored_ps = now_ps - since_ps
        factors = self.decay_cache.get(stored_ps)
        if factors is None:
            if len(self.decay_cache) >= _DECAY_CACHE:
                self.decay_cache.clear()
            walsh = self.model.decay(np.array([stored_ps / PS_PER_S]))  # (4, 1): the Walsh factors
            factors = self.decay_cache[stored_ps] = np.asarray(walsh[:, 0], dtype=np.float64)
        return factors

    def rounds(self, rounds: int, out: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]) -> _Gen:
        """The rounds one after the other: a pair, the message of its last swap, delivery; then the next (or,
        pipelined, the pair the nodes have been making meanwhile)."""
        round_s, chis, attempts = out
        kernel = self.kernel
        for index in range(rounds):
            start_ps = kernel.now_ps
            self.attempts = 0
            if self.policy == "nested" or self.model.links == 1:
                pair = yield self.request(self.root, start_ps)
            elif self.pipelined and index > 0:
                pair = yield self._delivered()
            else:
                if index > 0:
                    self._delivered()
                pair = yield self._asap_round(start_ps)
            if self.delay_ps:
                pair = yield kernel.timer(self.delay_ps, pair)  # the last outcome's message to an end node
            now_ps = kernel.now_ps
            last = self.model.links
            chi = pair.chi * self.stored(now_ps, pair.left_ps, 0, pair.left_n)
            chi = chi * self.stored(now_ps, pair.right_ps, last, pair.right_n)
            round_s[index] = (now_ps - start_ps) / PS_PER_S
            chis[index] = chi
            attempts[index] = self.attempts


def simulate_events(
    model: ChainModel, rounds: int, seed: int, policy: SwapPolicy = "nested", *, pipelined: bool = False
) -> EventRun:
    """Run ``rounds`` end-to-end rounds of the chain on the discrete-event kernel.

    Args:
        model: the compiled chain (purification is not simulated; ``asap`` needs instantaneous swaps).
        rounds: number of deliveries, at least 1.
        seed: the kernel's seed (every link and node draws from its own named stream).
        policy: ``nested`` (the sampler's protocol) or ``asap``.
        pipelined: (``asap`` only) nodes start a link again as soon as the memories at both its ends are free,
            instead of waiting for the delivery; ``round_s`` is then the time from one delivery to the next.

    Returns:
        The deliveries (``attempts``: those of the links that heralded, or were given up, since the previous
        delivery) and the counts of cut-off discards and failed swaps.

    Raises:
        ParameterError: a bad ``rounds`` or ``policy``, or a model this engine does not simulate.
    """
    if policy not in get_args(SwapPolicy):
        raise ParameterError("policy", f"must be one of {', '.join(get_args(SwapPolicy))}, got {policy!r}")
    if rounds < 1:
        raise ParameterError("pairs", f"must be at least 1, got {rounds}")
    engine = _Engine(model, seed, policy, rounds, pipelined=pipelined)
    out = (np.empty(rounds), np.empty((rounds, 4)), np.zeros(rounds, dtype=np.int64))
    engine.kernel.process(lambda proc: engine.rounds(rounds, out), "rounds")
    engine.kernel.run()
    states = np.clip(bell.from_walsh(out[1]), 0.0, 1.0)
    deliveries = Deliveries(round_s=out[0], states=states, attempts=out[2])
    return EventRun(
        deliveries=deliveries,
        cutoff_discards=engine.cutoff_discards,
        swap_failures=engine.swap_failures,
        simulated_s=engine.kernel.now_ps / PS_PER_S,
    )


def run_events(
    model: ChainModel, rounds: int, seed: int, policy: SwapPolicy = "nested", *, pipelined: bool = False
) -> Deliveries:
    """End-to-end deliveries of ``rounds`` rounds, event by event (see :func:`simulate_events`)."""
    return simulate_events(model, rounds, seed, policy, pipelined=pipelined).deliveries
