"""What protocols with quantum memories ask of the kernel, as stories: a memory that holds a qubit until
the cut-off or the partner's herald (conditions), a cut-off timer that throws the qubit away (interrupts),
and a herald that reports a failed attempt (failing events)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinternet.errors import ParameterError
from qinternet.sim import Condition, Event, Interrupt, Kernel, Process, SimulationError, Timeout

Gen = Generator[Any, Any, Any]
CUTOFF_PS = 1_000


class HeraldFailedError(Exception):
    """The midpoint station saw no click: the attempt failed."""


# -- any_of / all_of --------------------------------------------------------------------------------------


def test_a_memory_holds_its_qubit_until_the_cutoff_or_the_herald_whichever_comes_first() -> None:
    """Memory A's partner heralds at 300 ps, before the 1000 ps cut-off; memory B's would herald at
    1500 ps, after it. Neither the late cut-off of A nor the late herald of B wakes anyone again."""
    kernel = Kernel(seed=0)
    log: list[tuple[int, str, list[Any]]] = []

    def memory(herald_ps: int) -> Any:
        def body(proc: Process) -> Gen:
            herald = proc.kernel.timer(herald_ps, "pair")
            cutoff = proc.kernel.timer(CUTOFF_PS, "cut-off")
            fired = yield proc.kernel.any_of([herald, cutoff])
            log.append((proc.kernel.now_ps, proc.name, list(fired.values())))
            yield 10_000  # a late herald or cut-off that woke the memory would end this sleep early
            log.append((proc.kernel.now_ps, proc.name, ["slept"]))

        return body

    kernel.process(memory(300), "memory:A")
    kernel.process(memory(1_500), "memory:B")
    kernel.run()
    assert log == [
        (300, "memory:A", ["pair"]),
        (1_000, "memory:B", ["cut-off"]),
        (10_300, "memory:A", ["slept"]),
        (11_000, "memory:B", ["slept"]),
    ]


def test_events_at_the_same_picosecond_are_all_in_the_value_in_the_order_given() -> None:
    """The herald and the cut-off fall on the same picosecond: the memory sees both, keyed by event, in
    the order it listed them (not the order in which they fired), so that it can apply its own tie rule."""
    kernel = Kernel(seed=0)
    seen: list[tuple[int, list[tuple[str, Any]]]] = []
    cutoff = kernel.timer(CUTOFF_PS, "cut-off")  # scheduled (and so fires) first
    herald = kernel.timer(CUTOFF_PS, "pair")
    names = {id(herald): "herald", id(cutoff): "cutoff"}

    def memory(proc: Process) -> Gen:
        fired = yield herald | cutoff
        seen.append((proc.kernel.now_ps, [(names[id(event)], value) for event, value in fired.items()]))

    kernel.process(memory, "memory")
    kernel.run()
    assert seen == [(CUTOFF_PS, [("herald", "pair"), ("cutoff", "cut-off")])]


def test_a_swap_waits_for_both_links_and_gets_both_values() -> None:
    """A repeater swaps when both of its links hold a pair: at the later herald, with both values."""
    kernel = Kernel(seed=0)
    left, right = kernel.timer(700, "pair L"), kernel.timer(250, "pair R")
    swapped: list[tuple[int, Any]] = []

    def repeater(proc: Process) -> Gen:
        both = yield proc.kernel.all_of([left, right])
        swapped.append((proc.kernel.now_ps, both))

    kernel.process(repeater, "repeater")
    kernel.run()
    assert swapped == [(700, {left: "pair L", right: "pair R"})]


def test_and_is_all_of_and_or_is_any_of() -> None:
    kernel = Kernel(seed=0)
    a, b = kernel.timer(5, "a"), kernel.timer(9, "b")
    either, both = a | b, a & b
    assert isinstance(either, Condition)
    assert isinstance(both, Condition)
    kernel.run(until_ps=6)
    assert (either.triggered, both.triggered) == (True, False)
    assert either.value == {a: "a"}
    kernel.run()
    assert both.value == {a: "a", b: "b"}


def test_nested_conditions_swap_if_both_links_herald_before_the_cutoff() -> None:
    """``(left & right) | cutoff``: with both heralds in time the repeater swaps, and the value holds the
    links' events (the nested condition is opened up); with one link late, the cut-off wins."""

    def attempt(left_ps: int, right_ps: int) -> tuple[int, list[Any]]:
        kernel = Kernel(seed=0)
        left, right = kernel.timer(left_ps, "L"), kernel.timer(right_ps, "R")
        cutoff = kernel.timer(CUTOFF_PS, "cut-off")
        outcome: list[tuple[int, list[Any]]] = []

        def repeater(proc: Process) -> Gen:
            fired = yield (left & right) | cutoff
            outcome.append((proc.kernel.now_ps, list(fired.values())))

        kernel.process(repeater, "repeater")
        kernel.run()
        return outcome[0]

    assert attempt(200, 600) == (600, ["L", "R"])
    assert attempt(200, 1_400) == (CUTOFF_PS, ["L", "cut-off"])


def test_a_condition_with_an_event_that_already_happened() -> None:
    """The partner heralded before the memory started to wait: any_of resumes it at once with that
    value; all_of still waits for the rest."""
    kernel = Kernel(seed=0)
    herald = kernel.event()
    herald.succeed("pair")
    log: list[tuple[str, int, Any]] = []

    def memory(proc: Process) -> Gen:
        yield 40
        fired = yield proc.kernel.any_of([proc.kernel.timer(CUTOFF_PS), herald])
        log.append(("any", proc.kernel.now_ps, fired))
        fired = yield proc.kernel.all_of([herald, proc.kernel.timer(60, "late")])
        log.append(("all", proc.kernel.now_ps, list(fired.values())))

    kernel.process(memory, "memory")
    kernel.run()
    assert log == [("any", 40, {herald: "pair"}), ("all", 100, ["pair", "late"])]


def test_an_empty_condition_succeeds_at_once() -> None:
    kernel = Kernel(seed=0)
    assert kernel.any_of([]).value == {}
    assert kernel.all_of([]).value == {}


def test_a_triggered_condition_leaves_the_waiters_of_a_long_lived_event() -> None:
    """A link-down event lives for the whole run; each attempt's condition must not stay attached to it."""
    kernel = Kernel(seed=0)
    link_down = kernel.event()
    attempts: list[int] = []

    def memory(proc: Process) -> Gen:
        for _ in range(50):
            yield proc.kernel.timer(10) | link_down
            attempts.append(proc.kernel.now_ps)

    kernel.process(memory, "memory")
    kernel.run()
    assert attempts == list(range(10, 510, 10))
    assert link_down._waiters == []


@pytest.mark.parametrize("wrong", [Timeout(5), 5, "herald", None])
def test_a_condition_refuses_what_is_not_an_event(wrong: Any) -> None:
    kernel = Kernel(seed=0)
    with pytest.raises(ParameterError) as info:
        kernel.any_of([kernel.event(), wrong])
    assert info.value.field == "events[1]"
    with pytest.raises(ParameterError, match="events"):
        kernel.all_of(kernel.event())  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"events\[1\]"):
        _ = kernel.event() | wrong


def test_a_condition_refuses_an_event_of_another_kernel() -> None:
    kernel, other = Kernel(seed=0), Kernel(seed=0)
    with pytest.raises(ParameterError, match="another kernel"):
        kernel.all_of([kernel.event(), other.event()])


def test_a_timer_rejects_bad_delays() -> None:
    with pytest.raises(ParameterError, match="delay_ps"):
        Kernel(seed=0).timer(-1)


# -- interrupts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bare_int", [False, True])
def test_a_cutoff_interrupts_a_memory_asleep_on_a_timeout_and_the_abandoned_timeout_never_resumes_it(
    bare_int: bool,
) -> None:
    """The memory stores a qubit for 500 ps; a cut-off at 120 ps throws it away. The memory catches the
    interrupt and first waits 50 ps (ending before the abandoned 500 ps would have), then 1000 ps (ending
    after): it wakes at 170 and 1170 ps only, never at 500 ps."""
    kernel = Kernel(seed=0)
    log: list[tuple[int, str]] = []

    def memory(proc: Process) -> Gen:
        try:
            yield 500 if bare_int else Timeout(500)
            log.append((proc.kernel.now_ps, "qubit used"))
        except Interrupt as interrupt:
            log.append((proc.kernel.now_ps, f"discarded: {interrupt.cause}"))
        yield 50
        log.append((proc.kernel.now_ps, "ready"))
        yield Timeout(1_000)
        log.append((proc.kernel.now_ps, "next qubit"))

    proc = kernel.process(memory, "memory")
    kernel.schedule(120, proc.interrupt, "cut-off")
    kernel.run()
    assert log == [(120, "discarded: cut-off"), (170, "ready"), (1_170, "next qubit")]
    assert kernel.now_ps == 1_170  # the abandoned timeout's wake-up at 500 ps came and went silently
    assert not proc.alive


def test_an_interrupted_memory_no_longer_waits_for_its_herald() -> None:
    kernel = Kernel(seed=0)
    herald = kernel.event()
    log: list[tuple[int, str]] = []

    def memory(proc: Process) -> Gen:
        try:
            yield herald
            log.append((proc.kernel.now_ps, "heralded"))
        except Interrupt:
            log.append((proc.kernel.now_ps, "interrupted"))
        yield 1_000
        log.append((proc.kernel.now_ps, "done"))

    proc = kernel.process(memory, "memory")
    kernel.schedule(100, proc.interrupt)
    kernel.schedule(200, herald.succeed, "pair")
    kernel.run()
    assert log == [(100, "interrupted"), (1_100, "done")]


def test_an_interrupt_while_waiting_on_a_condition_abandons_both_its_timer_and_its_herald() -> None:
    """The memory waits for ``herald | cutoff`` and is reset at 100 ps; it then sleeps until 2000 ps, so
    a wake-up by the herald (300 ps) or the cut-off (1000 ps) would show in the log."""
    kernel = Kernel(seed=0)
    herald = kernel.timer(300, "pair")
    log: list[tuple[int, str]] = []

    def memory(proc: Process) -> Gen:
        try:
            yield herald | proc.kernel.timer(CUTOFF_PS)
            log.append((proc.kernel.now_ps, "woken by the condition"))
        except Interrupt as interrupt:
            log.append((proc.kernel.now_ps, str(interrupt)))
        yield 1_900
        log.append((proc.kernel.now_ps, "slept"))

    proc = kernel.process(memory, "memory")
    kernel.schedule(100, proc.interrupt, "reset")
    kernel.run()
    assert log == [(100, "interrupted: 'reset'"), (2_000, "slept")]


def test_a_memory_catches_interrupts_and_carries_on_with_the_next_qubit() -> None:
    """Each qubit waits for its herald or the cut-off; a controller resets the memory twice. The memory
    counts what happened to every qubit and stores the next one at once."""
    kernel = Kernel(seed=0)
    outcomes: list[tuple[int, str]] = []
    herald_after_ps = iter([400, 2_000, 300, 5_000, 250])

    def memory(proc: Process) -> Gen:
        for herald_ps in herald_after_ps:
            herald = proc.kernel.timer(herald_ps, "herald")
            cutoff = proc.kernel.timer(CUTOFF_PS, "cut-off")
            try:
                fired = yield proc.kernel.any_of([herald, cutoff])
                outcomes.append((proc.kernel.now_ps, "pair" if herald in fired else "cut-off"))
            except Interrupt as interrupt:
                outcomes.append((proc.kernel.now_ps, interrupt.cause))

    proc = kernel.process(memory, "memory")
    kernel.schedule(1_550, proc.interrupt, "reset 1")  # during the third qubit (stored at 1400 ps)
    kernel.schedule(1_600, proc.interrupt, "reset 2")  # during the fourth (stored at 1550 ps)
    kernel.run()
    assert outcomes == [(400, "pair"), (1_400, "cut-off"), (1_550, "reset 1"), (1_600, "reset 2"), (1_850, "pair")]


def test_two_interrupts_at_once_are_thrown_in_one_after_the_other() -> None:
    kernel = Kernel(seed=0)
    caught: list[tuple[int, Any]] = []

    def memory(proc: Process) -> Gen:
        while True:
            try:
                yield 1_000
            except Interrupt as interrupt:
                caught.append((proc.kernel.now_ps, interrupt.cause))
                if interrupt.cause == "stop":
                    return "stopped"

    proc = kernel.process(memory, "memory")

    def controller() -> None:
        proc.interrupt("first")
        proc.interrupt("stop")
        proc.interrupt("dropped: the process has stopped by then")

    kernel.schedule(10, controller)
    kernel.run()
    assert caught == [(10, "first"), (10, "stop")]
    assert proc.value == "stopped"
    assert kernel.now_ps == 1_010  # only the abandoned 1000 ps timeout of the first wait was left


def test_an_interrupt_overtakes_a_resume_that_is_due_but_has_not_run() -> None:
    """The reset and the herald happen in the same picosecond, the reset first: the reset is queued, then
    the memory's resume with the pair; the memory sees only the reset, and the queued resume is dropped."""
    kernel = Kernel(seed=0)
    herald = kernel.event()
    log: list[tuple[int, str]] = []

    def memory(proc: Process) -> Gen:
        try:
            log.append((proc.kernel.now_ps, (yield herald)))
        except Interrupt:
            log.append((proc.kernel.now_ps, "reset"))
        yield 50
        log.append((proc.kernel.now_ps, "again"))

    proc = kernel.process(memory, "memory")

    def reset_then_herald() -> None:
        proc.interrupt()
        herald.succeed("pair")

    kernel.schedule(20, reset_then_herald)
    kernel.run()
    assert log == [(20, "reset"), (70, "again")]


def test_an_interrupt_that_is_not_caught_ends_the_run_naming_the_process() -> None:
    kernel = Kernel(seed=0)

    def careless(proc: Process) -> Gen:
        yield 1_000

    proc = kernel.process(careless, "memory:careless")
    kernel.schedule(30, proc.interrupt, "cut-off")
    with pytest.raises(Interrupt) as info:
        kernel.run()
    assert info.value.cause == "cut-off"
    assert any("memory:careless" in note for note in info.value.__notes__)
    assert not proc.alive
    assert kernel.now_ps == 30


def test_interrupting_a_finished_process_or_oneself_is_an_error() -> None:
    kernel = Kernel(seed=0)
    errors: list[str] = []

    def brief(proc: Process) -> Gen:
        yield 5

    def narcissus(proc: Process) -> Gen:
        yield 1
        try:
            proc.interrupt()
        except SimulationError as exc:
            errors.append(str(exc))

    done = kernel.process(brief, "brief")
    kernel.process(narcissus, "narcissus")
    kernel.run()
    assert errors == ["process 'narcissus' cannot interrupt itself"]
    with pytest.raises(SimulationError, match="process 'brief' has finished, it cannot be interrupted"):
        done.interrupt("too late")


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 4).map(lambda k: 10 * k), max_size=8),
            st.sets(st.integers(1, 40).map(lambda k: 5 * k), max_size=4),
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_interrupted_sleepers_wake_exactly_as_a_reference_model_says(
    plans: list[tuple[list[int], set[int]]], bare_int: bool
) -> None:
    """Processes sleep through lists of delays while a controller interrupts them at given times; each
    catches the interrupt and goes on with its next delay. Each must wake exactly when a model that
    abandons the interrupted delay says: an abandoned timeout that resumed a process, or resumed the wrong
    one, would show. Delays are multiples of 10 ps and interrupts of 5 ps, so they also fall together."""
    kernel = Kernel(seed=0)
    logs: list[list[tuple[str, int]]] = [[] for _ in plans]

    def sleeper(proc: Process, delays: list[int], log: list[tuple[str, int]]) -> Gen:
        for delay in delays:
            try:
                yield delay if bare_int else Timeout(delay)
                log.append(("wake", proc.kernel.now_ps))
            except Interrupt:
                log.append(("interrupt", proc.kernel.now_ps))

    for index, (delays, interrupts) in enumerate(plans):
        proc = kernel.process(lambda p, d=delays, log=logs[index]: sleeper(p, d, log), f"p{index}")
        for time_ps in interrupts:
            kernel.schedule_at(time_ps, lambda proc=proc: proc.interrupt() if proc.alive else None)
    kernel.run()
    assert logs == [_model(delays, interrupts) for delays, interrupts in plans]


def _model(delays: list[int], interrupts: set[int]) -> list[tuple[str, int]]:
    """What a sleeper logs: each wait from ``now`` ends at ``now + delay`` unless an interrupt comes first.

    An interrupt is thrown in at its time after the entries already due then: a wake-up due at the same
    picosecond comes first, and the interrupt hits the wait that starts then (even a zero delay).
    """
    now, log, pending = 0, [], sorted(interrupts)
    for delay in delays:
        pending = [time_ps for time_ps in pending if time_ps >= now]
        if pending and (pending[0] == now or pending[0] < now + delay):
            now = pending.pop(0)
            log.append(("interrupt", now))
        else:
            now += delay
            log.append(("wake", now))
    return log


# -- failing events ---------------------------------------------------------------------------------------


def test_a_failed_herald_is_thrown_into_every_memory_that_waits_for_it() -> None:
    """Three memories wait for the same herald; the station reports no click at 80 ps. Each memory gets
    the same exception at its yield, catches it and retries."""
    kernel = Kernel(seed=0)
    herald = kernel.event()
    failure = HeraldFailedError("no click")
    log: list[tuple[int, str, bool]] = []

    def memory(proc: Process) -> Gen:
        try:
            yield herald
        except HeraldFailedError as exc:
            log.append((proc.kernel.now_ps, proc.name, exc is failure))
        yield 100

    for name in ("m1", "m2", "m3"):
        kernel.process(memory, name)
    kernel.schedule(80, herald.fail, failure)
    kernel.run()
    assert log == [(80, "m1", True), (80, "m2", True), (80, "m3", True)]
    assert (herald.triggered, herald.ok, herald.value) == (True, False, failure)
    assert kernel.now_ps == 180


def test_an_unhandled_failure_ends_the_run_with_that_exception_naming_the_process() -> None:
    kernel = Kernel(seed=0)
    herald = kernel.event()
    failure = HeraldFailedError("no click")

    def memory(proc: Process) -> Gen:
        yield herald

    proc = kernel.process(memory, "memory:7")
    kernel.schedule(80, herald.fail, failure)
    kernel.schedule(500, lambda: None)
    with pytest.raises(HeraldFailedError) as info:
        kernel.run()
    assert info.value is failure
    assert info.value.__notes__ == ["(in process 'memory:7' at 80 ps)"]
    assert (proc.alive, proc.ok, proc.value) == (False, False, failure)
    assert kernel.now_ps == 80


def test_waiting_for_an_event_that_already_failed_throws_at_once() -> None:
    kernel = Kernel(seed=0)
    herald = kernel.event()
    herald.fail(HeraldFailedError("no click"))
    log: list[tuple[int, str]] = []

    def memory(proc: Process) -> Gen:
        yield 25
        try:
            yield herald
        except HeraldFailedError as exc:
            log.append((proc.kernel.now_ps, str(exc)))

    kernel.process(memory, "memory")
    kernel.run()
    assert log == [(25, "no click")]


def test_a_condition_containing_a_failed_event_fails() -> None:
    """The herald fails before the cut-off: the memory's any_of fails with the herald's exception; a
    condition built on a herald that has already failed fails as well."""
    kernel = Kernel(seed=0)
    herald = kernel.event()
    log: list[tuple[int, str]] = []

    def memory(proc: Process) -> Gen:
        for _ in range(2):  # the second attempt waits on the same, failed herald
            try:
                yield proc.kernel.any_of([proc.kernel.timer(CUTOFF_PS), herald])
                log.append((proc.kernel.now_ps, "condition succeeded"))
            except HeraldFailedError as exc:
                log.append((proc.kernel.now_ps, str(exc)))

    kernel.process(memory, "memory")
    kernel.schedule(300, herald.fail, HeraldFailedError("no click"))
    kernel.run()
    assert log == [(300, "no click"), (300, "no click")]
    both = kernel.all_of([kernel.event(), herald])
    assert (both.triggered, both.ok) == (True, False)


def test_a_failure_overtaken_by_an_interrupt_is_not_thrown_in_as_well() -> None:
    """The controller resets the memory and, in the same picosecond, its herald fails: the memory sees the
    reset only (the reset was queued first), then goes on."""
    kernel = Kernel(seed=0)
    herald = kernel.event()
    log: list[tuple[int, str]] = []

    def memory(proc: Process) -> Gen:
        try:
            yield herald
        except Interrupt:
            log.append((proc.kernel.now_ps, "reset"))
        except HeraldFailedError:
            log.append((proc.kernel.now_ps, "herald failed"))
        yield 10
        log.append((proc.kernel.now_ps, "next"))

    proc = kernel.process(memory, "memory")

    def reset_and_fail() -> None:
        proc.interrupt()
        herald.fail(HeraldFailedError("no click"))

    kernel.schedule(40, reset_and_fail)
    kernel.run()
    assert log == [(40, "reset"), (50, "next")]


def test_a_failure_ends_the_run_when_only_a_callback_waits_for_it() -> None:
    kernel = Kernel(seed=0)
    herald = kernel.event()
    herald.add_callback(print)
    kernel.schedule(5, herald.fail, HeraldFailedError("no click"))
    with pytest.raises(HeraldFailedError, match="no click"):
        kernel.run()


def test_a_failure_nobody_waits_for_does_not_end_the_run() -> None:
    """A late herald that fails after its memory has given up (cut-off first) is harmless."""
    kernel = Kernel(seed=0)
    herald = kernel.event()
    log: list[int] = []

    def memory(proc: Process) -> Gen:
        yield herald | proc.kernel.timer(CUTOFF_PS)
        log.append(proc.kernel.now_ps)

    kernel.process(memory, "memory")
    kernel.schedule(1_500, herald.fail, HeraldFailedError("no click"))
    kernel.run()
    assert log == [CUTOFF_PS]
    assert kernel.now_ps == 1_500


def test_fail_needs_an_exception_and_happens_once() -> None:
    kernel = Kernel(seed=0)
    event = Event(kernel)
    with pytest.raises(SimulationError, match="not happened yet"):
        _ = event.ok
    with pytest.raises(ParameterError, match="exception"):
        event.fail("no click")  # type: ignore[arg-type]
    event.fail(HeraldFailedError("no click"))
    with pytest.raises(SimulationError, match="already triggered"):
        event.fail(HeraldFailedError("again"))
    with pytest.raises(SimulationError, match="already triggered"):
        event.succeed("pair")


def test_a_process_that_crashed_counts_as_failed_for_whoever_waits_for_it_later() -> None:
    """A memory's driver process dies with an error; the run ends with it. A repeater that waits for the
    dead memory afterwards gets the same error at its yield instead of a None value."""
    kernel = Kernel(seed=0)
    failure = HeraldFailedError("laser off")

    def memory(proc: Process) -> Gen:
        yield 10
        raise failure

    def repeater(proc: Process) -> Gen:
        yield 50
        try:
            yield dead
        except HeraldFailedError as exc:
            seen.append((proc.kernel.now_ps, exc is failure))

    seen: list[tuple[int, bool]] = []
    dead = kernel.process(memory, "memory")
    with pytest.raises(HeraldFailedError):
        kernel.run()
    assert (dead.ok, dead.value) == (False, failure)
    kernel.process(repeater, "repeater")
    kernel.run()
    assert seen == [(60, True)]
