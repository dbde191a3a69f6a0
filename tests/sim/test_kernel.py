"""The kernel as stories: callbacks in time order, ties first-in-first-out, cancellation, processes that
wait for timeouts, events and each other, and the errors a user can cause."""

from __future__ import annotations

import heapq
from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinternet.errors import ParameterError
from qinternet.sim import Event, Kernel, Process, ProcessGenerator, SimulationError, Timeout

Gen = Generator[Any, Any, Any]


def test_callbacks_run_in_time_order_and_ties_first_in_first_out() -> None:
    kernel = Kernel(seed=0)
    log: list[tuple[int, str]] = []

    def note(label: str) -> None:
        log.append((kernel.now_ps, label))

    kernel.schedule(30, note, "c")
    kernel.schedule(10, note, "a1")
    kernel.schedule(20, note, "b")
    kernel.schedule(10, note, "a2")
    kernel.schedule_at(10, note, "a3")
    kernel.run()
    assert log == [(10, "a1"), (10, "a2"), (10, "a3"), (20, "b"), (30, "c")]
    assert kernel.now_ps == 30


def test_zero_delay_runs_after_everything_already_due_now() -> None:
    kernel = Kernel(seed=0)
    log: list[str] = []

    def first() -> None:
        log.append("first")
        kernel.schedule(0, log.append, "scheduled by first")

    kernel.schedule(5, first)
    kernel.schedule(5, log.append, "second")
    kernel.run()
    assert log == ["first", "second", "scheduled by first"]


def test_many_ties_keep_scheduling_order() -> None:
    kernel = Kernel(seed=0)
    log: list[int] = []
    for i in range(1000):
        kernel.schedule(7 * (i % 3), log.append, i)
    kernel.run()
    assert log == [i for r in range(3) for i in range(1000) if i % 3 == r]


def test_a_cancelled_relay_timeout_never_fires() -> None:
    """A relay arms a 100 ps timeout for a request; the answer arrives at 40 ps and disarms it."""
    kernel = Kernel(seed=0)
    log: list[tuple[int, str]] = []
    timeout = kernel.schedule(100, lambda: log.append((kernel.now_ps, "timed out")))

    def answer() -> None:
        log.append((kernel.now_ps, "answered"))
        assert kernel.cancel(timeout) is True
        assert kernel.cancel(timeout) is False  # already cancelled

    kernel.schedule(40, answer)
    kernel.run()
    assert log == [(40, "answered")]
    assert kernel.due_ps(timeout) == 100


def test_cancel_after_the_callback_ran_reports_false() -> None:
    kernel = Kernel(seed=0)
    ran: list[int] = []
    handle = kernel.schedule(5, ran.append, 1)
    same_time = kernel.schedule(5, lambda: ran.append(int(kernel.cancel(handle))))
    kernel.run()
    assert ran == [1, 0]
    assert kernel.cancel(handle) is False
    assert kernel.cancel(same_time) is False


def test_cancel_an_entry_due_now_but_not_yet_run() -> None:
    kernel = Kernel(seed=0)
    ran: list[str] = []
    later: list[Any] = []
    kernel.schedule(5, lambda: ran.append("a") or later.append(kernel.cancel(handle_b)))
    handle_b = kernel.schedule(5, ran.append, "b")
    kernel.run()
    assert ran == ["a"]
    assert later == [True]


def test_run_until_stops_before_entries_due_then_and_resumes() -> None:
    kernel = Kernel(seed=0)
    log: list[int] = []
    for t in (10, 20, 30):
        kernel.schedule(t, lambda: log.append(kernel.now_ps))
    kernel.run(until_ps=20)
    assert log == [10]
    assert kernel.now_ps == 20
    kernel.run(until_ps=25)
    assert log == [10, 20]
    kernel.run(until_ps=1000)  # nothing due after 30: the clock still moves to 1000
    assert log == [10, 20, 30]
    assert kernel.now_ps == 1000
    assert kernel.peek_ps() is None


def test_a_link_process_delivers_a_block_every_period() -> None:
    """A link makes a key block every 250 ps and puts its bits into a key pool."""
    kernel = Kernel(seed=3)
    pool: list[tuple[int, int]] = []

    def link(proc: Process) -> Gen:
        period = Timeout(250)
        while True:
            yield period
            pool.append((proc.kernel.now_ps, int(proc.rng.integers(0, 2, 64).sum())))

    proc = kernel.process(link, "link:a-b")
    kernel.run(until_ps=1000)
    assert [t for t, _ in pool] == [250, 500, 750]
    assert proc.alive


def test_a_relay_waits_for_a_request_event() -> None:
    kernel = Kernel(seed=0)
    request = kernel.event()
    served: list[tuple[int, Any]] = []

    def relay(proc: Process) -> Gen:
        value = yield request
        served.append((proc.kernel.now_ps, value))

    kernel.process(relay, "relay")
    kernel.schedule(70, request.succeed, {"bits": 256})
    kernel.run()
    assert served == [(70, {"bits": 256})]
    assert request.triggered
    assert request.value == {"bits": 256}


def test_waiting_for_an_event_that_already_happened_resumes_at_once() -> None:
    kernel = Kernel(seed=0)
    done = kernel.event()
    done.succeed("ready")
    got: list[tuple[int, str]] = []

    def late(proc: Process) -> Gen:
        yield 15
        got.append((proc.kernel.now_ps, (yield done)))

    kernel.process(late, "late")
    kernel.run()
    assert got == [(15, "ready")]


def test_waiters_wake_in_the_order_they_started_waiting() -> None:
    kernel = Kernel(seed=0)
    gate = kernel.event()
    order: list[str] = []

    def waiter(proc: Process) -> Gen:
        yield gate
        order.append(proc.name)

    for name in ("w3", "w1", "w2"):
        kernel.process(waiter, name)
    kernel.run(until_ps=1)  # the processes take their first step, and start waiting, at 0 ps
    gate.add_callback(lambda value: order.append(f"callback:{value}"))
    kernel.schedule(9, gate.succeed, "open")
    kernel.run()
    assert order == ["w3", "w1", "w2", "callback:open"]


def test_a_satellite_pass_sleeps_until_it_starts_and_a_station_waits_for_it() -> None:
    kernel = Kernel(seed=0)
    log: list[tuple[int, str]] = []

    def satellite_pass(proc: Process) -> Gen:
        yield proc.kernel.timeout_at(5_000)
        log.append((proc.kernel.now_ps, "pass starts"))
        yield Timeout(600)
        log.append((proc.kernel.now_ps, "pass ends"))
        return 42

    def ground_station(proc: Process) -> Gen:
        key_bits = yield passing
        log.append((proc.kernel.now_ps, f"station got {key_bits}"))

    passing = kernel.process(satellite_pass, "sat:pass-1")
    kernel.process(ground_station, "station")
    kernel.run()
    assert log == [(5_000, "pass starts"), (5_600, "pass ends"), (5_600, "station got 42")]
    assert not passing.alive
    assert passing.value == 42


def test_yielding_a_numpy_integer_delay_works() -> None:
    np = pytest.importorskip("numpy")
    kernel = Kernel(seed=0)
    times: list[int] = []

    def proc_fn(proc: Process) -> Gen:
        for delay in np.array([3, 4], dtype=np.int64):
            yield delay
            times.append(proc.kernel.now_ps)

    kernel.process(proc_fn, "np")
    kernel.run()
    assert times == [3, 7]


# -- many entries due at the same time (the kernel keeps one bucket per time) ----------------------------


def test_links_and_the_network_step_share_times_in_scheduling_order() -> None:
    """Links with a 6 ps block and a network with a 4 ps step meet every 12 ps; at each such time whoever
    was scheduled first runs first: the links (scheduled at 6 ps) before the network (scheduled at 8 ps)."""
    kernel = Kernel(seed=0)
    log: list[tuple[int, str]] = []

    def periodic(period_ps: int) -> Any:
        def body(proc: Process) -> Gen:
            while True:
                yield Timeout(period_ps)
                log.append((proc.kernel.now_ps, proc.name))

        return body

    kernel.process(periodic(4), "network")
    for name in ("link:a", "link:b", "link:c"):
        kernel.process(periodic(6), name)
    kernel.run(until_ps=13)
    links = ["link:a", "link:b", "link:c"]
    assert log == [
        (4, "network"),
        *((6, name) for name in links),
        (8, "network"),
        *((12, name) for name in links),
        (12, "network"),
    ]


def _reference_order(delays: list[list[int]]) -> list[tuple[int, int]]:
    """(time, process) wake-ups of processes that wait ``delays[i]`` in turn, from a plain (time, seq) heap."""
    heap = [(0, seq, index, 0) for seq, index in enumerate(range(len(delays)))]
    seq = len(delays)
    order: list[tuple[int, int]] = []
    while heap:
        time_ps, _, index, step = heapq.heappop(heap)
        order.append((time_ps, index))
        if step < len(delays[index]):
            heapq.heappush(heap, (time_ps + delays[index][step], seq, index, step + 1))
            seq += 1
    return order


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), max_size=12), min_size=1, max_size=12))
def test_wake_up_order_is_that_of_a_time_then_sequence_heap(delays: list[list[int]]) -> None:
    """Small delays (zero included) put many processes on the same picosecond: the buckets must still
    give exactly the order of a heap ordered by (time, scheduling sequence), the model of SimPy."""
    kernel = Kernel(seed=0)
    order: list[tuple[int, int]] = []

    def body(proc: Process, index: int) -> Gen:
        order.append((proc.kernel.now_ps, index))
        for delay in delays[index]:
            yield delay
            order.append((proc.kernel.now_ps, index))

    for index in range(len(delays)):
        kernel.process(lambda proc, index=index: body(proc, index), f"p{index}")
    kernel.run()
    assert order == _reference_order(delays)


def test_zero_delay_waits_inside_a_crowded_time_run_after_everything_due_then() -> None:
    kernel = Kernel(seed=0)
    log: list[str] = []

    def again(proc: Process) -> Gen:
        yield 5
        log.append(f"{proc.name} first")
        yield 0  # back of the queue at 5 ps
        log.append(f"{proc.name} again")

    kernel.process(again, "p")
    kernel.schedule(5, lambda: log.append("callback") or kernel.schedule(0, log.append, "callback's zero delay"))
    kernel.schedule(5, log.append, "last one due at 5")
    kernel.run()
    # p's wait was scheduled when it started, in run(), after both callbacks: it comes third at 5 ps.
    assert log == ["callback", "last one due at 5", "p first", "callback's zero delay", "p again"]
    assert kernel.now_ps == 5


def test_cancelling_in_the_middle_of_a_crowded_time() -> None:
    """Five relay timeouts are due at 100 ps; an answer at 40 ps disarms the third, and the first, when it
    fires, disarms the fourth (not yet run) and finds the first itself over."""
    kernel = Kernel(seed=0)
    fired: list[int] = []
    results: list[bool] = []

    def fire(index: int) -> None:
        fired.append(index)
        if index == 0:
            results.extend([kernel.cancel(handles[3]), kernel.cancel(handles[0])])

    handles = [kernel.schedule(100, fire, index) for index in range(5)]
    kernel.schedule(40, lambda: results.append(kernel.cancel(handles[2])))
    kernel.run()
    assert fired == [0, 1, 4]
    assert results == [True, True, False]
    assert [kernel.cancel(handle) for handle in handles] == [False] * 5
    assert {kernel.due_ps(handle) for handle in handles} == {100}


def test_run_until_a_crowded_time_runs_none_of_its_entries_and_keeps_their_order() -> None:
    kernel = Kernel(seed=0)
    log: list[int] = []
    for index in range(4):
        kernel.schedule(10, log.append, index)
    kernel.run(until_ps=10)
    assert log == []
    assert kernel.peek_ps() == 10
    kernel.schedule(0, log.append, 4)  # due at 10 as well, after the others
    kernel.run(until_ps=10)  # until_ps == now: nothing runs
    assert log == []
    kernel.run()
    assert log == [0, 1, 2, 3, 4]


def test_an_error_in_the_middle_of_a_crowded_time_keeps_the_rest_for_the_next_run() -> None:
    kernel = Kernel(seed=0)
    log: list[str] = []

    def broken() -> None:
        log.append("broken")
        kernel.schedule(0, log.append, "scheduled by broken")
        raise KeyError("pool empty")

    kernel.schedule(7, log.append, "before")
    kernel.schedule(7, broken)
    kernel.schedule(7, log.append, "after")
    kernel.schedule(9, log.append, "later")
    with pytest.raises(KeyError):
        kernel.run(until_ps=20)
    assert log == ["before", "broken"]
    assert (kernel.now_ps, kernel.peek_ps()) == (7, 7)
    kernel.run()
    assert log == ["before", "broken", "after", "scheduled by broken", "later"]


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delay", [-1, 1.0, True, None])
def test_schedule_rejects_bad_delays(delay: object) -> None:
    kernel = Kernel(seed=0)
    with pytest.raises(ParameterError) as info:
        kernel.schedule(delay, print)  # type: ignore[arg-type]
    assert info.value.field == "delay_ps"
    assert kernel.peek_ps() is None


def test_scheduling_in_the_past_and_running_backwards_are_refused() -> None:
    kernel = Kernel(seed=0)
    kernel.run(until_ps=100)
    with pytest.raises(ParameterError, match="time_ps: 99 is in the past"):
        kernel.schedule_at(99, print)
    with pytest.raises(ParameterError, match="time_ps"):
        kernel.timeout_at(50)
    with pytest.raises(ParameterError, match="until_ps"):
        kernel.run(until_ps=99)
    assert kernel.now_ps == 100


@pytest.mark.parametrize("delay", [-5, 2.5])
def test_timeout_rejects_bad_delays(delay: Any) -> None:
    with pytest.raises(ParameterError, match="delay_ps"):
        Timeout(delay)


def test_a_wrong_yield_is_thrown_into_the_process_at_the_yield() -> None:
    kernel = Kernel(seed=0)
    caught: list[str] = []

    def sloppy(proc: Process) -> Gen:
        try:
            yield -3
        except ParameterError as exc:
            caught.append(exc.field)
        try:
            yield "soon"
        except ParameterError as exc:
            caught.append(exc.field)
        yield 10

    kernel.process(sloppy, "sloppy")
    kernel.run()
    assert caught == ["process 'sloppy' yield", "process 'sloppy' yield"]
    assert kernel.now_ps == 10


def test_an_uncaught_error_in_a_process_propagates_out_of_run() -> None:
    kernel = Kernel(seed=0)

    def broken(proc: Process) -> Gen:
        yield 5
        raise KeyError("pool empty")

    proc = kernel.process(broken, "broken")
    kernel.schedule(100, print)
    with pytest.raises(KeyError, match="pool empty"):
        kernel.run(until_ps=50)
    assert not proc.alive
    assert kernel.now_ps == 5
    assert kernel.peek_ps() == 100  # the until_ps sentinel was removed, the other entry kept


def test_bad_kernel_and_process_arguments() -> None:
    with pytest.raises(ParameterError, match="seed"):
        Kernel(seed=-1)
    with pytest.raises(ParameterError, match="seed"):
        Kernel(seed=1.5)  # type: ignore[arg-type]
    kernel = Kernel(seed=0)

    def idle(proc: Process) -> Gen:
        yield 1

    kernel.process(idle, "idle")
    with pytest.raises(ParameterError, match="already exists"):
        kernel.process(idle, "idle")
    with pytest.raises(ParameterError, match="name"):
        kernel.process(idle, "")
    with pytest.raises(ParameterError, match="generator"):
        kernel.process(lambda proc: None, "not-a-generator")  # type: ignore[arg-type,return-value]


def test_event_state_errors() -> None:
    kernel = Kernel(seed=0)
    event = Event(kernel)
    with pytest.raises(SimulationError):
        _ = event.value
    event.succeed(1)
    with pytest.raises(SimulationError, match="already triggered"):
        event.succeed(2)

    def reenter() -> None:
        kernel.run()

    kernel.schedule(1, reenter)
    with pytest.raises(SimulationError, match="running"):
        kernel.run()


def test_a_process_cannot_wait_for_itself() -> None:
    kernel = Kernel(seed=0)
    errors: list[str] = []

    def narcissus(proc: Process) -> Gen:
        try:
            yield proc
        except ParameterError as exc:
            errors.append(exc.reason)

    kernel.process(narcissus, "narcissus")
    kernel.run()
    assert errors == ["cannot wait for itself"]


def test_the_collector_is_paused_only_while_running() -> None:
    """A process sees the cyclic collector off (by default) and it is back on after run(), even on errors."""
    import gc

    seen: list[bool] = []

    def probe(proc: Process) -> ProcessGenerator:
        seen.append(gc.isenabled())
        yield 1
        raise RuntimeError("boom")

    assert gc.isenabled()
    kernel = Kernel(seed=1)
    kernel.process(probe, "probe")
    with pytest.raises(RuntimeError):
        kernel.run()
    assert seen == [False]
    assert gc.isenabled()
    seen.clear()
    keep = Kernel(seed=1, pause_gc=False)
    keep.process(probe, "probe")
    with pytest.raises(RuntimeError):
        keep.run()
    assert seen == [True]
