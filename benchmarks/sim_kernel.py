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
  share their times, as in the real simulation, so most events are due together with others.

Each workload runs in three forms, the same for both simulators:

* ``process_timeout``: processes that ``yield Timeout(d)`` (qinternet, as the network code does) /
  ``yield env.timeout(d)`` (SimPy); a satellite ``yield kernel.timeout_at(t)`` /
  ``yield env.timeout(t - env.now)``;
* ``process_int``: the same with qinternet's shorthand ``yield d`` (no object per wait); SimPy has no
  such form, so its side is the same ``env.timeout(d)`` run;
* ``callback``: no processes; one chain of callbacks per process, each callback scheduling the next
  (``kernel.schedule(d, step)`` or ``kernel.schedule_at(t, step)`` / ``env.timeout(d)`` plus
  ``callbacks.append``).

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
from qinternet.sim import PS_PER_S, Kernel, Process, Timeout

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
    links = [_Plan(waits_ps=[LINK_BLOCK_PS] * blocks) for _ in range(LINKS)]
    return [*links, _Plan(waits_ps=[NETWORK_STEP_PS] * steps), *satellites]


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
        "network_workloads": {form: row}, "events_per_time": {"random", "network"}, "network_layout"}``
        where ``form`` is ``process_timeout``, ``process_int`` or ``callback``, a row is
        ``{"qinternet_events_per_s", "simpy_events_per_s", "ratio", "goal_met", "end_ps"}``,
        ``workloads`` is the random-delay workload and ``events_per_time`` the mean number of events due
        at each distinct time.
    """
    if events < processes or processes < 1:
        raise ValueError(f"need events >= processes >= 1, got events={events}, processes={processes}")
    random_plans = _random_plans(events, processes, seed)
    network_plans = _network_plans(events, seed)
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
    return table


def kernel_note(result: dict[str, Any]) -> str:
    """What the two workloads are."""
    per_time, layout = result["events_per_time"], result["network_layout"]
    return (
        f"random: {result['processes']} processes, delays in [1, {MAX_DELAY_PS:,}] ps, "
        f"{per_time['random']:.2f} events per distinct time\n"
        f"network-like: {layout['links']} links (a block every {layout['link_block_s']:g} s), a network step "
        f"every {layout['network_step_s']:g} s, {layout['satellites']} satellites (a pass end per "
        f"{layout['orbit_s']:g} s orbit), {layout['simulated_s'] / 86_400:.1f} simulated days, "
        f"{per_time['network']:.2f} events per distinct time"
    )


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
