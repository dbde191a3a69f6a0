"""The kernel's fast paths keep the order of a (time, scheduling sequence) heap.

The run loop has three ways to put a process that yielded a delay back in line (see the docstring of
:mod:`qinternet.sim.kernel`): a process alone at its time is kept without a list (a *lone* bucket) and
stepped without one; a process that yields the delay that another process of the same instant has just
yielded joins that process's bucket by an identity or an ``int`` comparison; otherwise a dict look-up.
Every other entry (a callback, a timer, an event's wake-up, the ``until_ps`` sentinel) that comes due
with a lone process turns its bucket into a list. These tests drive each of those paths and check the
order against a model with none of them.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinternet.errors import ParameterError
from qinternet.sim import Event, Kernel, Process, Timeout

Gen = Generator[Any, Any, Any]
UNIT_PS = 10**12  # delays are multiples of a second: ints far above CPython's small-int cache
SHARED_PS = [k * UNIT_PS for k in range(4)]  # one int object per delay, yielded again and again (a link's block_ps)

# One action of a process's script:
# ("wait", k, form) sleeps k units, yielding a shared int object, an equal but new int, a Timeout or a
#   numpy integer;
# ("call", k, _) schedules a callback k units from now; ("timer", k, _) makes a timer of k units with a
#   callback on it;
# ("fire", e, _) succeeds event e if it has not happened; ("await", e, _) waits for event e.
Action = tuple[str, int, str]


def _kernel_log(scripts: list[list[Action]], until_ps: list[int], events: int) -> list[tuple[int, str]]:
    """Run ``scripts`` on the kernel, stopping at each of ``until_ps`` on the way: (time, who) per wake-up."""
    kernel = Kernel(seed=0)
    happenings = [kernel.event() for _ in range(events)]
    log: list[tuple[int, str]] = []

    def body(proc: Process, index: int) -> Gen:
        log.append((kernel.now_ps, f"p{index}"))
        for step, (kind, arg, form) in enumerate(scripts[index]):
            if kind == "wait":
                if form == "shared":
                    yield SHARED_PS[arg]
                elif form == "fresh":
                    yield arg * UNIT_PS  # a new int object each time (equal to SHARED_PS[arg])
                elif form == "numpy":
                    yield np.int64(arg * UNIT_PS)  # the slow path: Process._wait_for, then Kernel._push
                else:
                    yield Timeout(arg * UNIT_PS)
                log.append((kernel.now_ps, f"p{index}"))
            elif kind == "await":
                yield happenings[arg]
                log.append((kernel.now_ps, f"p{index}"))
            elif kind == "fire":
                if not happenings[arg].triggered:
                    happenings[arg].succeed()
            elif kind == "call":
                label = f"cb{index}.{step}"
                kernel.schedule(arg * UNIT_PS, lambda label=label: log.append((kernel.now_ps, label)))
            else:  # a timer, and a callback on it
                label = f"timer{index}.{step}"
                kernel.timer(arg * UNIT_PS).add_callback(lambda _value, label=label: log.append((kernel.now_ps, label)))

    for index in range(len(scripts)):
        kernel.process(lambda proc, index=index: body(proc, index), f"p{index}")
    for time_ps in until_ps:
        kernel.run(until_ps=time_ps)
    kernel.run()
    return log


def _model_log(scripts: list[list[Action]], events: int) -> list[tuple[int, str]]:
    """The same scripts on a plain heap of (time, sequence) entries, SimPy's model: no buckets, no joins."""
    heap: list[tuple[int, int, str, int, str]] = []
    sequence = itertools.count()
    triggered = [False] * events
    waiters: list[list[int]] = [[] for _ in range(events)]
    steps = [0] * len(scripts)
    log: list[tuple[int, str]] = []

    def due(time_ps: int, kind: str, who: int, label: str = "") -> None:
        heapq.heappush(heap, (time_ps, next(sequence), kind, who, label))

    for index in range(len(scripts)):
        due(0, "process", index)
    while heap:
        now, _, kind, who, label = heapq.heappop(heap)
        if kind == "callback":
            log.append((now, label))
            continue
        if kind == "timer":  # it fires: its callback is woken now, after what is already due now
            due(now, "callback", who, label)
            continue
        log.append((now, f"p{who}"))
        script = scripts[who]
        while steps[who] < len(script):  # run the process's actions up to its next wait
            action, arg, _form = script[steps[who]]
            steps[who] += 1
            if action == "wait":
                due(now + arg * UNIT_PS, "process", who)
                break
            if action == "await":
                if triggered[arg]:
                    due(now, "process", who)
                else:
                    waiters[arg].append(who)
                break
            if action == "fire":
                if not triggered[arg]:
                    triggered[arg] = True
                    for waiter in waiters[arg]:
                        due(now, "process", waiter)
                    waiters[arg].clear()
            elif action == "call":
                due(now + arg * UNIT_PS, "callback", who, f"cb{who}.{steps[who] - 1}")
            else:
                due(now + arg * UNIT_PS, "timer", who, f"timer{who}.{steps[who] - 1}")
    return log


_actions = st.one_of(
    st.tuples(st.just("wait"), st.integers(0, 3), st.sampled_from(["shared", "fresh", "timeout", "numpy"])),
    st.tuples(st.sampled_from(["call", "timer"]), st.integers(0, 3), st.just("")),
    st.tuples(st.sampled_from(["fire", "await"]), st.integers(0, 2), st.just("")),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_actions, max_size=10), min_size=1, max_size=8),
    st.lists(st.integers(0, 12), max_size=3).map(sorted),
)
def test_every_path_of_the_loop_keeps_the_order_of_a_time_then_sequence_heap(
    scripts: list[list[Action]], until_units: list[int]
) -> None:
    """Processes sleep 0-3 s (as a shared int, a new equal int, a Timeout or a numpy integer, so that joins
    by identity, by value, through a Timeout and through the slow path all happen), schedule callbacks
    and timers, fire and await events, while the run stops now and then: everything must happen exactly
    in the order of the plain heap model. Delays of 0-3 units put many entries on the same instants and
    leave others alone at theirs."""
    expected = _model_log(scripts, events=3)
    assert _kernel_log(scripts, [u * UNIT_PS for u in until_units], events=3) == expected


def test_a_process_alone_at_its_time_is_kept_without_a_list() -> None:
    """The lone bucket exists (this would fail on a kernel that makes a list per time) and turns into a
    list, in scheduling order, when a callback comes due with it."""
    kernel = Kernel(seed=0)
    log: list[str] = []

    def sleeper(proc: Process) -> Gen:
        yield 10
        log.append("sleeper")

    sleeper_process = kernel.process(sleeper, "sleeper")
    kernel.run(until_ps=1)
    assert kernel._buckets[10] is sleeper_process
    kernel.schedule(9, log.append, "callback")
    assert kernel._buckets[10] == [sleeper_process, [log.append, ("callback",), 10]]
    kernel.run()
    assert log == ["sleeper", "callback"]


def test_what_comes_due_with_a_lone_sleeper_runs_after_it() -> None:
    """A satellite sleeps alone until 50 ps; then a timer, a callback and another process's wake-up are
    scheduled for 50 ps as well, and the until_ps sentinel stops the run there: they run after it, in the
    order they were scheduled."""
    kernel = Kernel(seed=0)
    log: list[str] = []
    timer_holder: list[Event] = []

    def satellite(proc: Process) -> Gen:
        yield kernel.timeout_at(50)
        log.append("satellite")

    def station(proc: Process) -> Gen:
        yield 20
        timer = kernel.timer(30)
        timer.add_callback(lambda _value: log.append("timer"))
        timer_holder.append(timer)
        kernel.schedule(30, log.append, "callback")
        yield 30
        log.append("station")

    kernel.process(satellite, "satellite")
    kernel.process(station, "station")
    kernel.run(until_ps=50)
    assert log == []
    kernel.run()
    # The timer fires second; its callback is woken then, so it runs after everything already due at 50 ps.
    assert log == ["satellite", "callback", "station", "timer"]
    assert timer_holder[0].triggered


def test_a_lone_process_that_fires_an_event_then_yields_zero_runs_after_the_waiters() -> None:
    """A herald station alone at 7 ps wakes two memories and then yields 0: the memories' wake-ups were
    scheduled first, so they run first, then the station again, all at 7 ps."""
    kernel = Kernel(seed=0)
    herald = kernel.event()
    log: list[tuple[int, str]] = []

    def memory(proc: Process) -> Gen:
        yield herald
        log.append((kernel.now_ps, proc.name))

    def station(proc: Process) -> Gen:
        yield 7
        herald.succeed("pair")
        yield 0
        log.append((kernel.now_ps, proc.name))

    kernel.process(station, "station")
    kernel.process(memory, "memory:a")
    kernel.process(memory, "memory:b")
    kernel.run()
    assert log == [(7, "memory:a"), (7, "memory:b"), (7, "station")]


def test_links_with_equal_but_distinct_block_ints_join_one_bucket_in_order() -> None:
    """Each link has its own ``block_ps`` object of the same value (as links built one by one do), and one
    link schedules a relay's callback between its own wait and the next link's: at each instant everyone
    wakes in the order of scheduling, the slow link (12 s blocks) first where its wait was older."""
    kernel = Kernel(seed=0)
    log: list[tuple[int, str]] = []

    def link(block_ps: int) -> Any:
        def body(proc: Process) -> Gen:
            for _ in range(3):
                yield block_ps
                log.append((kernel.now_ps, proc.name))
                if proc.name == "link:b":
                    kernel.schedule(block_ps, lambda: log.append((kernel.now_ps, "relay")))

        return body

    for name in ("a", "b", "c"):
        kernel.process(link(int(f"{6 * UNIT_PS}")), f"link:{name}")  # equal values, distinct objects
    kernel.process(link(12 * UNIT_PS), "link:slow")
    kernel.run()
    u = UNIT_PS
    assert log == [
        (6 * u, "link:a"),
        (6 * u, "link:b"),
        (6 * u, "link:c"),
        (12 * u, "link:slow"),  # its wait for 12 s was scheduled first, at 0 s
        (12 * u, "link:a"),
        (12 * u, "relay"),
        (12 * u, "link:b"),
        (12 * u, "link:c"),
        (18 * u, "link:a"),
        (18 * u, "relay"),
        (18 * u, "link:b"),
        (18 * u, "link:c"),
        (24 * u, "link:slow"),
        (24 * u, "relay"),
        (36 * u, "link:slow"),
    ]


@pytest.mark.parametrize("negative", [-1, -3 * UNIT_PS])
@pytest.mark.parametrize("crowded", [False, True])
def test_a_negative_delay_is_refused_alone_and_after_a_join(crowded: bool, negative: int) -> None:
    """A negative int is thrown back into the process at its yield, whether the process runs alone at its
    time or just after another process of the same instant joined a later bucket."""
    kernel = Kernel(seed=0)
    caught: list[str] = []

    def other(proc: Process) -> Gen:
        yield 5
        yield 3  # joins (or makes) the bucket of 8 ps just before the sloppy process's negative delay

    def sloppy(proc: Process) -> Gen:
        yield 5
        try:
            yield negative
        except ParameterError as exc:
            caught.append(exc.field)
        yield 3

    if crowded:
        kernel.process(other, "other")
    kernel.process(sloppy, "sloppy")
    kernel.run()
    assert caught == ["process 'sloppy' yield"]
    assert kernel.now_ps == 8


def test_an_error_in_a_lone_process_keeps_what_it_scheduled_for_the_next_run() -> None:
    kernel = Kernel(seed=0)
    log: list[str] = []

    def broken(proc: Process) -> Gen:
        yield 5
        kernel.schedule(0, log.append, "scheduled by broken")
        raise KeyError("pool empty")

    kernel.process(broken, "broken")
    kernel.schedule(9, log.append, "later")
    with pytest.raises(KeyError, match="pool empty"):
        kernel.run()
    assert (kernel.now_ps, kernel.peek_ps()) == (5, 5)
    kernel.run()
    assert log == ["scheduled by broken", "later"]


def test_an_error_after_a_zero_wait_in_a_crowded_time_keeps_everything_in_order() -> None:
    """At 7 ps a relay runs and yields 0 (its next step comes after everything due at 7 ps), then a
    callback raises: the entry after the callback, which was due before the relay's zero wait, still
    runs before it in the next run."""
    kernel = Kernel(seed=0)
    log: list[str] = []

    def relay(proc: Process) -> Gen:
        yield 7
        log.append("relay")
        yield 0
        log.append("relay again")

    def broken() -> None:
        raise KeyError("pool empty")

    kernel.process(relay, "relay")
    kernel.run(until_ps=1)
    kernel.schedule(6, broken)
    kernel.schedule(6, log.append, "after")
    with pytest.raises(KeyError, match="pool empty"):
        kernel.run()
    assert (kernel.now_ps, kernel.peek_ps(), log) == (7, 7, ["relay"])
    kernel.run()
    assert log == ["relay", "after", "relay again"]


def test_a_numpy_delay_that_ends_with_a_lone_sleeper_runs_after_it() -> None:
    """A numpy delay takes the slow path (Kernel._push); landing on a lone sleeper's time, it must queue
    behind it, not replace it."""
    kernel = Kernel(seed=0)
    log: list[str] = []

    def sleeper(proc: Process) -> Gen:
        yield 10
        log.append(proc.name)

    def numpy_user(proc: Process) -> Gen:
        yield 4
        yield np.int64(6)
        log.append(proc.name)

    kernel.process(sleeper, "sleeper")
    kernel.process(numpy_user, "numpy")
    kernel.run()
    assert log == ["sleeper", "numpy"]
