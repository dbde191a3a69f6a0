"""Event throughput of the ``qinternet.sim`` kernel against SimPy 4.1 on the same workloads, in the same run.

Workloads (delays pre-drawn before the timer, as Python ints, the same for both simulators):

* ``process_timeout``: ``processes`` processes, each looping ``yield Timeout(d)`` (qinternet) /
  ``yield env.timeout(d)`` (SimPy) over its share of the delays.
* ``process_int``: the same with qinternet's shorthand ``yield d`` (no object per wait); SimPy has no
  such form, so its side is the same ``env.timeout(d)`` run.
* ``callback``: no processes; ``processes`` chains of callbacks, each callback scheduling the next one
  (``kernel.schedule(d, callback)`` / ``env.timeout(d)`` plus ``callbacks.append``).

One event is one timeout (one scheduled callback); process start-up and shutdown are not counted.
Only ``run()`` is timed (``time.perf_counter``); each workload is repeated ``repeats`` times, alternating
qinternet and SimPy so that both see the same machine load, and the best repeat of each is kept. Both
simulations must end at the time the delays add up to (checked), which guards against measuring different work.

SimPy is a benchmark baseline only (``pip install simpy==4.1.*``), not a dependency of qinternet.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import numpy as np
import simpy
from rich.console import Console
from rich.table import Table

from machine import machine_info, pin_to_one_core
from qinternet.sim import Kernel, Process, Timeout

__all__ = ["GOAL_RATIO", "time_kernel_vs_simpy"]

GOAL_RATIO = 5.0
"""Goal: qinternet.sim handles at least 5x SimPy's events per wall-second."""
MAX_DELAY_PS = 1_000_000  # delays are uniform in [1, MAX_DELAY_PS]

_Run = Callable[[], tuple[float, int]]  # runs one prepared simulation: (seconds of run(), final time)


def _draw_delays(events: int, processes: int, seed: int) -> list[list[int]]:
    """``processes`` lists of delays in [1, MAX_DELAY_PS], ``events`` in total, as Python ints."""
    rng = np.random.default_rng(seed)
    per_process = np.array_split(rng.integers(1, MAX_DELAY_PS + 1, size=events), processes)
    return [chunk.tolist() for chunk in per_process]


def _timed(run: Callable[[], None], now: Callable[[], float]) -> tuple[float, int]:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start, int(now())


def _qinternet_processes(delays: list[list[int]], *, bare_int: bool) -> tuple[float, int]:
    kernel = Kernel(seed=0)
    for index, chunk in enumerate(delays):

        def body(proc: Process, chunk: list[int] = chunk) -> Generator[Any, Any, None]:
            if bare_int:
                for delay in chunk:
                    yield delay
            else:
                for delay in chunk:
                    yield Timeout(delay)

        kernel.process(body, f"p{index}")
    return _timed(kernel.run, lambda: kernel.now_ps)


def _simpy_processes(delays: list[list[int]]) -> tuple[float, int]:
    env = simpy.Environment()

    def body(env: simpy.Environment, chunk: list[int]) -> Generator[Any, Any, None]:
        timeout = env.timeout
        for delay in chunk:
            yield timeout(delay)

    for chunk in delays:
        env.process(body(env, chunk))
    return _timed(env.run, lambda: env.now)


def _qinternet_callbacks(delays: list[list[int]]) -> tuple[float, int]:
    kernel = Kernel(seed=0)
    schedule = kernel.schedule

    def chain(remaining: Iterator[int]) -> Callable[[], None]:
        def step() -> None:
            delay = next(remaining, None)
            if delay is not None:
                schedule(delay, step)

        return step

    for chunk in delays:
        chain(iter(chunk))()
    return _timed(kernel.run, lambda: kernel.now_ps)


def _simpy_callbacks(delays: list[list[int]]) -> tuple[float, int]:
    env = simpy.Environment()

    def chain(remaining: Iterator[int]) -> Callable[[object], None]:
        def step(_event: object) -> None:
            delay = next(remaining, None)
            if delay is not None:
                env.timeout(delay).callbacks.append(step)

        return step

    for chunk in delays:
        chain(iter(chunk))(None)
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


def time_kernel_vs_simpy(events: int, *, processes: int = 100, repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Events per wall-second of qinternet.sim and SimPy on each workload, and their ratio.

    Args:
        events: timeouts per run (split evenly among ``processes``).
        processes: concurrent processes (or callback chains); also the size of the event heap.
        repeats: alternating repeats; the best of each side is kept.
        seed: seed of the pre-drawn delays.

    Returns:
        ``{"events", "processes", "repeats", "simpy_version", "goal_ratio", "workloads": {name: {
        "qinternet_events_per_s", "simpy_events_per_s", "ratio", "goal_met"}}}``.
    """
    if events < processes or processes < 1:
        raise ValueError(f"need events >= processes >= 1, got events={events}, processes={processes}")
    delays = _draw_delays(events, processes, seed)
    best = _best_of(
        {
            "qinternet_timeout": lambda: _qinternet_processes(delays, bare_int=False),
            "qinternet_int": lambda: _qinternet_processes(delays, bare_int=True),
            "simpy_process": lambda: _simpy_processes(delays),
            "qinternet_callback": lambda: _qinternet_callbacks(delays),
            "simpy_callback": lambda: _simpy_callbacks(delays),
        },
        repeats,
    )
    pairs = {
        "process_timeout": ("qinternet_timeout", "simpy_process"),
        "process_int": ("qinternet_int", "simpy_process"),
        "callback": ("qinternet_callback", "simpy_callback"),
    }
    end_ps = max(sum(chunk) for chunk in delays)  # every chain runs all its delays back to back
    workloads: dict[str, dict[str, Any]] = {}
    for workload, (ours, theirs) in pairs.items():
        if not best[ours][1] == best[theirs][1] == end_ps:
            raise RuntimeError(f"{workload}: ended at {best[ours][1]} and {best[theirs][1]}, expected {end_ps}")
        ours_rate, theirs_rate = events / best[ours][0], events / best[theirs][0]
        workloads[workload] = {
            "qinternet_events_per_s": ours_rate,
            "simpy_events_per_s": theirs_rate,
            "ratio": ours_rate / theirs_rate,
            "goal_met": ours_rate / theirs_rate >= GOAL_RATIO,
        }
    return {
        "events": events,
        "processes": processes,
        "repeats": repeats,
        "simpy_version": simpy.__version__,
        "goal_ratio": GOAL_RATIO,
        "workloads": workloads,
    }


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
    table = Table(
        title=f"qinternet.sim vs SimPy {result['simpy_version']}: {result['events']:,} events, "
        f"{result['processes']} processes, best of {result['repeats']}"
    )
    for column in ("workload", "qinternet [M events/s]", "SimPy [M events/s]", "ratio", f"goal >= {GOAL_RATIO:g}x"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for name, row in result["workloads"].items():
        table.add_row(
            name,
            f"{row['qinternet_events_per_s'] / 1e6:.2f}",
            f"{row['simpy_events_per_s'] / 1e6:.2f}",
            f"{row['ratio']:.2f}x",
            "PASS" if row["goal_met"] else "FAIL",
        )
    console.print(table)


if __name__ == "__main__":
    main()
