"""Event throughput of the ``qinternet.sim`` kernel against SimPy 4.1 on the same workloads, in the same run.

Two workloads, each with ``events`` events in total (one event is one timeout, i.e. one wake-up of a
process or one scheduled callback; start-up and shutdown are not counted):

* **random delays**: ``processes`` processes, each waiting delays drawn uniformly in [1, 1e6] ps, so
  that practically every event has a time of its own (the kernel's worst case: one heap push and pop
  per event);
* **network-like**: the processes of :func:`qinternet.network.simulate.simulate` on a 35-link
  scenario (``beijing-shanghai``-sized): 35 fibre links that each deliver a block every 600 s, one
  network process that serves the demands every 60 s, and 4 satellite downlinks that sleep until the
  (absolute, irregular) end of each pass, once per 500 km orbit (5,677 s). Links and the network step
  share their times, as in the real simulation, so most events are due together with others. Each
  process yields its own ``int`` object for its period, block after block, as each link of the real
  network does with its own ``block_ps`` (equal values, distinct objects: see :func:`_own_int`).

Each workload runs in three forms, the same for both simulators:

* ``process_timeout``: processes that ``yield Timeout(d)`` (qinternet, as the network code does) /
  ``yield env.timeout(d)`` (SimPy); a satellite ``yield kernel.timeout_at(t)`` /
  ``yield env.timeout(t - env.now)``;
* ``process_int``: the same with qinternet's shorthand ``yield d`` (no object per wait); SimPy has no
  such form, so its side is the same ``env.timeout(d)`` run;
* ``callback``: no processes; one chain of callbacks per process, each callback scheduling the next
  (``kernel.schedule(d, step)`` or ``kernel.schedule_at(t, step)`` / ``env.timeout(d)`` plus
  ``callbacks.append``).

A third workload exercises what protocols with quantum memories need beyond timeouts:

* **memory cut-off**: ``MEMORIES`` memories each store a qubit and wait for whichever comes first, the
  partner's herald (a timer event with a pre-drawn delay) or the cut-off (a timer event):
  ``yield herald | kernel.timer(cutoff_ps)`` / ``yield herald | env.timeout(cutoff_ps)``. A heralded
  pair is then used for ``use_ps`` (a plain timeout) before the next qubit. A controller process resets
  a pre-drawn memory at pre-drawn times (``proc.interrupt("reset")`` if it is alive, in both), about one
  reset per ``ATTEMPTS_PER_RESET`` attempts; the memory catches the :class:`~qinternet.sim.Interrupt`
  and stores its next qubit. It runs in two forms:

  - ``clocked``: attempts are clocked, as in heralded entanglement generation: the herald comes at the
    end of a geometric number of ``SLOT_PS`` slots (success probability ``HERALD_PROBABILITY`` per
    slot), the cut-off after ``CUTOFF_SLOTS`` slots, the use takes ``USE_SLOTS`` slots; resets fall in
    the middle of a slot (each at a different one), and a reset memory waits for the next slot boundary
    before it stores its next qubit. Memories share the slot times, as links share block times.
  - ``unclocked``: heralds uniform in [1, 2 x ``CUTOFF_PS``] ps and resets at any picosecond, so that
    practically every event has a time of its own (the kernel's worst case, as for random delays).

  It is timed in attempts (stored qubits) per wall-second; both simulators must count the same heralds,
  cut-offs and resets and end at the same time.

Waits are drawn before the timer, as Python ints. Only ``run()`` is timed (``time.perf_counter``); each
form is repeated ``repeats`` times, alternating qinternet and SimPy so that both see the same machine
load, and the best repeat of each is kept. Both simulations must end at the time at which the last
process's waits end (checked), which guards against measuring different work.

SimPy is a benchmark baseline only (``pip install simpy==4.1.*``), not a dependency of qinternet.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
from rich.console import Console
from rich.table import Table

from machine import machine_info, pin_to_one_core
from qinternet.sim import PS_PER_S, Interrupt, Kernel, Process, Timeout

__all__ = ["GOAL_RATIO", "time_kernel_vs_simpy"]

GOAL_RATIO = 5.0
"""Goal: qinternet.sim handles at least 5x SimPy's events per wall-second."""
MAX_DELAY_PS = 1_000_000  # random delays are uniform in [1, MAX_DELAY_PS]

# The network-like workload: the processes of a 35-link scenario (scenarios/beijing-shanghai.yaml sizes).
LINKS = 35
LINK_BLOCK_PS = 600 * PS_PER_S  # link_defaults.block_s: 10min
NETWORK_STEP_PS = 60 * PS_PER_S  # time.step_s: 60s
SATELLITES = 4
ORBIT_PS = 5_677 * PS_PER_S  # period of a 500 km orbit (satellite.orbital_period_s(500) = 5,677 s)

# The memory cut-off workload (picoseconds; the ratios do not depend on the unit).
MEMORIES = 100
ATTEMPTS_PER_RESET = 10  # about one interrupt per this many attempts
KERNEL_EVENTS_PER_ATTEMPT = 5  # attempts = events // this: ~2 timers, a condition, a resume, half a use
SLOT_PS = 1_000_000  # clocked: one attempt per slot (a 1 MHz attempt rate)
HERALD_PROBABILITY = 0.1  # clocked: probability that a slot's attempt is heralded
CUTOFF_SLOTS = 10  # clocked: a qubit is discarded this many slots after it was stored, unless heralded
USE_SLOTS = 5  # clocked: a heralded pair is used (swapped, measured) for this many slots
CUTOFF_PS = 1_000_000  # unclocked: the cut-off
USE_PS = 500_000  # unclocked: the use of a heralded pair

_Run = Callable[[], tuple[float, int]]  # runs one prepared simulation: (seconds of run(), final time)
_Body = Generator[Any, Any, None]  # a process body of the benchmark


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    """What one process (or callback chain) waits for: relative delays, or absolute times to sleep until.

    Attributes:
        waits_ps: delays in ps, or, if ``absolute``, strictly increasing absolute times in ps.
        absolute: whether ``waits_ps`` are absolute times (a satellite waiting for the end of a pass).
    """

    waits_ps: list[int]
    absolute: bool = False

    @property
    def end_ps(self) -> int:
        """The time at which the last wait ends."""
        return self.waits_ps[-1] if self.absolute else sum(self.waits_ps)


def _random_plans(events: int, processes: int, seed: int) -> list[_Plan]:
    """``processes`` plans of delays in [1, MAX_DELAY_PS], ``events`` in total."""
    rng = np.random.default_rng(seed)
    per_process = np.array_split(rng.integers(1, MAX_DELAY_PS + 1, size=events), processes)
    return [_Plan(waits_ps=chunk.tolist()) for chunk in per_process]


def _network_plans(events: int, seed: int) -> list[_Plan]:
    """The links, the network step and the satellite passes of a 35-link scenario, ``events`` in total.

    The simulated span holds ``blocks`` link blocks; each satellite's pass ends once per orbit at a
    random time; the network process takes the remaining events (about ten per link block).
    """
    per_block = LINKS + LINK_BLOCK_PS // NETWORK_STEP_PS + SATELLITES * LINK_BLOCK_PS / ORBIT_PS
    blocks = max(1, int(events / per_block))
    span_ps = blocks * LINK_BLOCK_PS
    rng = np.random.default_rng(seed)
    orbits = np.arange(span_ps // ORBIT_PS)
    satellites = [
        _Plan(waits_ps=(orbits * ORBIT_PS + rng.integers(1, ORBIT_PS, size=orbits.size)).tolist(), absolute=True)
        for _ in range(SATELLITES)
    ]
    steps = events - LINKS * blocks - sum(len(plan.waits_ps) for plan in satellites)
    if steps < 1:
        raise ValueError(f"events={events} is too few for the network-like workload")
    links = [_Plan(waits_ps=[_own_int(LINK_BLOCK_PS)] * blocks) for _ in range(LINKS)]
    return [*links, _Plan(waits_ps=[_own_int(NETWORK_STEP_PS)] * steps), *satellites]


def _own_int(value: int) -> int:
    """A new ``int`` object equal to ``value``, for one process's period.

    Each link of the network computes its own ``block_ps`` and yields that object block after block.
    The kernel joins a process to the bucket that the previous process of the same instant joined by an
    identity test when both yield the very same ``int`` object, and by an ``int`` comparison otherwise;
    if all 35 links shared one object here, the benchmark would time the cheaper test only.
    """
    copy = int(str(value))
    if copy is value:  # CPython caches only small ints; a period in ps is far above them
        raise ValueError(f"{value} is a cached int: cannot give each process its own object")
    return copy


def _events_per_time(plans: list[_Plan]) -> float:
    """Mean number of events due at each distinct time (1.0: every event has a time of its own)."""
    times: list[int] = []
    for plan in plans:
        times.extend(plan.waits_ps if plan.absolute else np.cumsum(plan.waits_ps, dtype=object).tolist())
    return len(times) / len(set(times))


def _timed(run: Callable[[], None], now: Callable[[], float]) -> tuple[float, int]:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start, int(now())


def _qinternet_processes(plans: list[_Plan], *, bare_int: bool) -> tuple[float, int]:
    kernel = Kernel(seed=0)
    for index, plan in enumerate(plans):

        def body(proc: Process, waits: list[int] = plan.waits_ps, absolute: bool = plan.absolute) -> _Body:
            if absolute:
                for time_ps in waits:
                    yield time_ps - kernel.now_ps if bare_int else kernel.timeout_at(time_ps)
            elif bare_int:
                for delay in waits:
                    yield delay
            else:
                for delay in waits:
                    yield Timeout(delay)

        kernel.process(body, f"p{index}")
    return _timed(kernel.run, lambda: kernel.now_ps)


def _simpy_processes(plans: list[_Plan]) -> tuple[float, int]:
    env = simpy.Environment()

    def body(waits: list[int], absolute: bool) -> _Body:
        timeout = env.timeout
        if absolute:
            for time_ps in waits:
                yield timeout(time_ps - env.now)
        else:
            for delay in waits:
                yield timeout(delay)

    for plan in plans:
        env.process(body(plan.waits_ps, plan.absolute))
    return _timed(env.run, lambda: env.now)


def _qinternet_callbacks(plans: list[_Plan]) -> tuple[float, int]:
    kernel = Kernel(seed=0)
    schedule, schedule_at = kernel.schedule, kernel.schedule_at

    def chain(remaining: Iterator[int], absolute: bool) -> Callable[[], None]:
        def step() -> None:
            wait = next(remaining, None)
            if wait is not None:
                (schedule_at if absolute else schedule)(wait, step)

        return step

    for plan in plans:
        chain(iter(plan.waits_ps), plan.absolute)()
    return _timed(kernel.run, lambda: kernel.now_ps)


def _simpy_callbacks(plans: list[_Plan]) -> tuple[float, int]:
    env = simpy.Environment()

    def chain(remaining: Iterator[int], absolute: bool) -> Callable[[object], None]:
        def step(_event: object) -> None:
            wait = next(remaining, None)
            if wait is not None:
                env.timeout(wait - env.now if absolute else wait).callbacks.append(step)

        return step

    for plan in plans:
        chain(iter(plan.waits_ps), plan.absolute)(None)
    return _timed(env.run, lambda: env.now)


@dataclass(frozen=True, slots=True, kw_only=True)
class _CutoffPlan:
    """The memory cut-off workload, drawn beforehand.

    Attributes:
        heralds_ps: per memory, the delay of the partner's herald for each qubit it stores.
        resets: (absolute time in ps, memory index) of each reset, by increasing time.
        cutoff_ps: how long a memory holds a qubit that is not heralded.
        use_ps: how long a heralded pair is used before the next qubit.
        slot_ps: the attempt clock (1: none); a reset memory waits for its next tick.
    """

    heralds_ps: list[list[int]]
    resets: list[tuple[int, int]]
    cutoff_ps: int
    use_ps: int
    slot_ps: int

    @property
    def attempts(self) -> int:
        """Qubits stored, over all memories."""
        return sum(len(heralds) for heralds in self.heralds_ps)


def _cutoff_plan(attempts: int, seed: int, *, clocked: bool) -> _CutoffPlan:
    """``attempts`` qubits over ``MEMORIES`` memories, and resets spread over 90 % of the expected span.

    Unclocked heralds never fall exactly on the cut-off (so that no tie rule matters); clocked ones may,
    and then both simulators count the herald (a condition's value holds every event of its instant).
    """
    rng = np.random.default_rng(seed)
    if clocked:
        heralds = SLOT_PS * rng.geometric(HERALD_PROBABILITY, size=attempts)
        cutoff_ps, use_ps, slot_ps = CUTOFF_SLOTS * SLOT_PS, USE_SLOTS * SLOT_PS, SLOT_PS
    else:
        heralds = rng.integers(1, 2 * CUTOFF_PS + 1, size=attempts)
        heralds[heralds == CUTOFF_PS] += 1
        cutoff_ps, use_ps, slot_ps = CUTOFF_PS, USE_PS, 1
    mean_attempt_ps = float(np.mean(np.minimum(heralds, cutoff_ps) + (heralds <= cutoff_ps) * use_ps))
    span_ps = int(0.9 * (attempts / MEMORIES) * mean_attempt_ps)
    count = max(1, attempts // ATTEMPTS_PER_RESET)
    if clocked:  # the middle of a slot, so that no reset ties with a memory's event or realignment
        times = SLOT_PS // 2 + SLOT_PS * rng.integers(0, span_ps // SLOT_PS, size=count)
    else:
        times = rng.integers(1, span_ps, size=count)
    # A memory is reset at most once at a time (a second reset would find it realigning, outside its try).
    resets = sorted(set(zip(times.tolist(), rng.integers(0, MEMORIES, size=count).tolist(), strict=True)))
    return _CutoffPlan(
        heralds_ps=[chunk.tolist() for chunk in np.array_split(heralds, MEMORIES)],
        resets=resets,
        cutoff_ps=cutoff_ps,
        use_ps=use_ps,
        slot_ps=slot_ps,
    )


_Counts = tuple[int, int, int]  # heralded, cut off, reset


def _qinternet_cutoff(plan: _CutoffPlan) -> tuple[float, int, _Counts]:
    kernel = Kernel(seed=0)
    timer, cutoff_ps, use_ps, slot_ps = kernel.timer, plan.cutoff_ps, plan.use_ps, plan.slot_ps
    heralded, cut_off, reset = [0], [0], [0]

    def memory(proc: Process, heralds: list[int]) -> _Body:
        for herald_ps in heralds:
            herald = timer(herald_ps, "pair")
            try:
                fired = yield herald | timer(cutoff_ps)
                if herald in fired:
                    heralded[0] += 1
                    yield use_ps
                else:
                    cut_off[0] += 1
            except Interrupt:
                reset[0] += 1
                if slot_ps > 1:
                    yield slot_ps - kernel.now_ps % slot_ps

    memories = [
        kernel.process(lambda proc, heralds=heralds: memory(proc, heralds), f"memory:{index}")
        for index, heralds in enumerate(plan.heralds_ps)
    ]

    def controller(proc: Process) -> _Body:
        for time_ps, index in plan.resets:
            yield time_ps - kernel.now_ps
            if memories[index].alive:
                memories[index].interrupt("reset")

    kernel.process(controller, "controller")
    seconds, end = _timed(kernel.run, lambda: kernel.now_ps)
    return seconds, end, (heralded[0], cut_off[0], reset[0])


def _simpy_cutoff(plan: _CutoffPlan) -> tuple[float, int, _Counts]:
    env = simpy.Environment()
    timeout, cutoff_ps, use_ps, slot_ps = env.timeout, plan.cutoff_ps, plan.use_ps, plan.slot_ps
    heralded, cut_off, reset = [0], [0], [0]

    def memory(heralds: list[int]) -> _Body:
        for herald_ps in heralds:
            herald = timeout(herald_ps, "pair")
            try:
                fired = yield herald | timeout(cutoff_ps)
                if herald in fired:
                    heralded[0] += 1
                    yield timeout(use_ps)
                else:
                    cut_off[0] += 1
            except simpy.Interrupt:
                reset[0] += 1
                if slot_ps > 1:
                    yield timeout(slot_ps - env.now % slot_ps)

    memories = [env.process(memory(heralds)) for heralds in plan.heralds_ps]

    def controller() -> _Body:
        for time_ps, index in plan.resets:
            yield timeout(time_ps - env.now)
            if memories[index].is_alive:
                memories[index].interrupt("reset")

    env.process(controller())
    seconds, end = _timed(env.run, lambda: env.now)
    return seconds, end, (heralded[0], cut_off[0], reset[0])


def _compare_cutoff(plan: _CutoffPlan, repeats: int) -> dict[str, Any]:
    """Attempts per second of both simulators on one form of the memory cut-off workload, best of ``repeats``."""
    best: dict[str, tuple[float, int, _Counts]] = {}
    for _ in range(repeats):
        for name, run in (("qinternet", _qinternet_cutoff), ("simpy", _simpy_cutoff)):
            seconds, end, counts = run(plan)
            if name in best and best[name][1:] != (end, counts):
                raise RuntimeError(f"memory cut-off, {name}: the outcome changed between repeats")
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, end, counts)
    (ours, ours_end, ours_counts), (theirs, theirs_end, theirs_counts) = best["qinternet"], best["simpy"]
    if (ours_end, ours_counts) != (theirs_end, theirs_counts):
        raise RuntimeError(
            f"memory cut-off: qinternet ended at {ours_end} with (heralded, cut off, reset) = {ours_counts}, "
            f"SimPy at {theirs_end} with {theirs_counts}"
        )
    ratio = theirs / ours
    return {
        "qinternet_attempts_per_s": plan.attempts / ours,
        "simpy_attempts_per_s": plan.attempts / theirs,
        "ratio": ratio,
        "goal_met": ratio >= GOAL_RATIO,
        "end_ps": ours_end,
        "attempts": plan.attempts,
        "heralded": ours_counts[0],
        "cut_off": ours_counts[1],
        "reset": ours_counts[2],
        "resets_planned": len(plan.resets),
    }


def _best_of(runs: dict[str, _Run], repeats: int) -> dict[str, tuple[float, int]]:
    """Best (shortest) time of each run over ``repeats`` alternating rounds, and its final time."""
    best: dict[str, tuple[float, int]] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            seconds, end = run()
            if name in best and best[name][1] != end:
                raise RuntimeError(f"{name}: final time changed between repeats")
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, end)
    return best


def _compare(plans: list[_Plan], events: int, repeats: int) -> dict[str, dict[str, Any]]:
    """Events per second of both simulators on ``plans``, per form (see the module docstring)."""
    best = _best_of(
        {
            "qinternet_timeout": lambda: _qinternet_processes(plans, bare_int=False),
            "qinternet_int": lambda: _qinternet_processes(plans, bare_int=True),
            "simpy_process": lambda: _simpy_processes(plans),
            "qinternet_callback": lambda: _qinternet_callbacks(plans),
            "simpy_callback": lambda: _simpy_callbacks(plans),
        },
        repeats,
    )
    pairs = {
        "process_timeout": ("qinternet_timeout", "simpy_process"),
        "process_int": ("qinternet_int", "simpy_process"),
        "callback": ("qinternet_callback", "simpy_callback"),
    }
    end_ps = max(plan.end_ps for plan in plans)
    forms: dict[str, dict[str, Any]] = {}
    for form, (ours, theirs) in pairs.items():
        if not best[ours][1] == best[theirs][1] == end_ps:
            raise RuntimeError(f"{form}: ended at {best[ours][1]} and {best[theirs][1]}, expected {end_ps}")
        ours_rate, theirs_rate = events / best[ours][0], events / best[theirs][0]
        forms[form] = {
            "qinternet_events_per_s": ours_rate,
            "simpy_events_per_s": theirs_rate,
            "ratio": ours_rate / theirs_rate,
            "goal_met": ours_rate / theirs_rate >= GOAL_RATIO,
            "end_ps": end_ps,
        }
    return forms


def time_kernel_vs_simpy(events: int, *, processes: int = 100, repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Events per wall-second of qinternet.sim and SimPy on both workloads, in each form, and their ratio.

    Args:
        events: timeouts per run, in each workload.
        processes: concurrent processes (or callback chains) of the random-delay workload; also the
            size of its event heap. The network-like workload has its own (35 links, 1 network, 4 satellites).
        repeats: alternating repeats; the best of each side is kept.
        seed: seed of the pre-drawn waits.

    Returns:
        ``{"events", "processes", "repeats", "simpy_version", "goal_ratio", "workloads": {form: row},
        "network_workloads": {form: row}, "events_per_time": {"random", "network"}, "network_layout",
        "memory_cutoff"}`` where ``form`` is ``process_timeout``, ``process_int`` or ``callback``, a row is
        ``{"qinternet_events_per_s", "simpy_events_per_s", "ratio", "goal_met", "end_ps"}``,
        ``workloads`` is the random-delay workload and ``events_per_time`` the mean number of events due
        at each distinct time; ``memory_cutoff`` is ``{"clocked": row, "unclocked": row, "memories"}``
        with a row ``{"qinternet_attempts_per_s", "simpy_attempts_per_s", "ratio", "goal_met", "end_ps",
        "attempts", "heralded", "cut_off", "reset", "resets_planned"}`` for ``events //
        KERNEL_EVENTS_PER_ATTEMPT`` attempts.
    """
    if events < processes or processes < 1:
        raise ValueError(f"need events >= processes >= 1, got events={events}, processes={processes}")
    random_plans = _random_plans(events, processes, seed)
    network_plans = _network_plans(events, seed)
    attempts = max(MEMORIES, events // KERNEL_EVENTS_PER_ATTEMPT)
    return {
        "events": events,
        "processes": processes,
        "repeats": repeats,
        "simpy_version": simpy.__version__,
        "goal_ratio": GOAL_RATIO,
        "workloads": _compare(random_plans, events, repeats),
        "network_workloads": _compare(network_plans, events, repeats),
        "events_per_time": {"random": _events_per_time(random_plans), "network": _events_per_time(network_plans)},
        "network_layout": {
            "links": LINKS,
            "link_block_s": LINK_BLOCK_PS / PS_PER_S,
            "network_step_s": NETWORK_STEP_PS / PS_PER_S,
            "satellites": SATELLITES,
            "orbit_s": ORBIT_PS / PS_PER_S,
            "simulated_s": max(plan.end_ps for plan in network_plans) / PS_PER_S,
        },
        "memory_cutoff": {
            "clocked": _compare_cutoff(_cutoff_plan(attempts, seed, clocked=True), repeats),
            "unclocked": _compare_cutoff(_cutoff_plan(attempts, seed, clocked=False), repeats),
            "memories": MEMORIES,
        },
    }


def kernel_table(result: dict[str, Any]) -> Table:
    """Both workloads in every form, against the goal."""
    table = Table(
        title=f"qinternet.sim vs SimPy {result['simpy_version']}: {result['events']:,} events per workload, "
        f"best of {result['repeats']}"
    )
    for column in ("workload", "form", "qinternet [M events/s]", "SimPy [M events/s]", "ratio", f">= {GOAL_RATIO:g}x"):
        table.add_column(column, justify="left" if column in ("workload", "form") else "right")
    for workload, rows in (("random", result["workloads"]), ("network-like", result["network_workloads"])):
        for form, row in rows.items():
            table.add_row(
                workload,
                form,
                f"{row['qinternet_events_per_s'] / 1e6:.2f}",
                f"{row['simpy_events_per_s'] / 1e6:.2f}",
                f"{row['ratio']:.2f}x",
                "PASS" if row["goal_met"] else "FAIL",
            )
        table.add_section()
    for form, row in result["memory_cutoff"].items():
        if form == "memories":
            continue
        table.add_row(
            "memory cut-off",
            f"{form} (attempts)",
            f"{row['qinternet_attempts_per_s'] / 1e6:.3f}",
            f"{row['simpy_attempts_per_s'] / 1e6:.3f}",
            f"{row['ratio']:.2f}x",
            "PASS" if row["goal_met"] else "FAIL",
        )
    return table


def kernel_note(result: dict[str, Any]) -> str:
    """What the two workloads are."""
    per_time, layout, cutoff = result["events_per_time"], result["network_layout"], result["memory_cutoff"]
    return (
        f"random: {result['processes']} processes, delays in [1, {MAX_DELAY_PS:,}] ps, "
        f"{per_time['random']:.2f} events per distinct time\n"
        f"network-like: {layout['links']} links (a block every {layout['link_block_s']:g} s), a network step "
        f"every {layout['network_step_s']:g} s, {layout['satellites']} satellites (a pass end per "
        f"{layout['orbit_s']:g} s orbit), {layout['simulated_s'] / 86_400:.1f} simulated days, "
        f"{per_time['network']:.2f} events per distinct time\n"
        f"memory cut-off: {cutoff['memories']} memories each waiting for herald | timer(cut-off), "
        f"{cutoff['clocked']['attempts']:,} stored qubits per form; clocked (slot {SLOT_PS:,} ps, herald "
        f"probability {HERALD_PROBABILITY:g} per slot, cut-off {CUTOFF_SLOTS} slots, use {USE_SLOTS}): "
        f"{_outcomes(cutoff['clocked'])}; unclocked (herald uniform up to {2 * CUTOFF_PS:,} ps, cut-off "
        f"{CUTOFF_PS:,} ps, use {USE_PS:,} ps): {_outcomes(cutoff['unclocked'])}"
    )


def _outcomes(row: dict[str, Any]) -> str:
    return f"heralded {row['heralded']:,}, cut off {row['cut_off']:,}, reset {row['reset']:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description="qinternet.sim vs SimPy: events per wall-second")
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--processes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    args = parser.parse_args()
    console = Console()
    cpu = None if args.no_pin else pin_to_one_core()
    console.print(f"machine: {machine_info(cpu)}")
    result = time_kernel_vs_simpy(args.events, processes=args.processes, repeats=args.repeats)
    console.print(kernel_table(result))
    console.print(kernel_note(result))


if __name__ == "__main__":
    main()
