"""Sweeps on Dask (``qinternet sweep``): ``python benchmarks/sweep_bench.py [--quick] [--out FILE]``.

1. 1,000 link points (decoy-BB84 asymptotic key rate over a 40 x 25 grid of detector efficiency and dark
   counts) through the sweep on a local cluster with a worker per core, against the same 1,000 ``key_rate``
   calls in a plain loop in this process (baseline measured in the same run). Goal: "finishes in seconds".
2. One-day network runs (built-in ``bristol-8-user``, 28 analytic links, a different seed each) through the sweep
   on one worker and on a worker per core: the speed-up shows that the runs use every core (goal: >= 0.8 x the
   number of cores), and the rows of both equal each other (same seeds, same numbers).

Times are wall-clock and include starting the local cluster (printed apart). The machine is printed with the
figures; on a busy 2-core machine expect the speed-up to swing by 10-20 %.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from machine import machine_info
from qinternet.sweep.bases import evaluate
from qinternet.sweep.runner import dask_client, run_study
from qinternet.sweep.study import Study, study_points

GRID_STUDY: dict[str, Any] = {
    "name": "bench-keyrate-grid",
    "base": {"kind": "keyrate", "settings": {"distance_km": 100}},
    "vary": [
        {"field": "detector.efficiency", "range": [0.02, 0.5], "points": 40},
        {"field": "detector.dark_count_prob", "log_range": [1e-7, 1e-4], "points": 25},
    ],
    "metrics": ["key_rate_per_pulse", "qber"],
}

SPEEDUP_GOAL_PER_CORE = 0.8


def _day_study(runs: int) -> dict[str, Any]:
    return {
        "name": f"bench-days-{runs}",
        "base": {
            "kind": "scenario",
            "settings": {"scenario": "bristol-8-user", "duration": "24h", "model": "analytic"},
        },
        "vary": [{"field": "time.step_s", "values": ["10min"]}],
        "seeds": runs,
        "metrics": ["totals.secret_bits", "totals.delivered_bits"],
    }


def _sweep(study: Study, workers: int) -> tuple[float, float, list[dict[str, Any]]]:
    """Cluster start-up and sweep wall times, and the rows."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp, dask_client(None, workers) as client:
        ready = time.perf_counter()
        result = run_study(study, Path(tmp) / "out", client=client)
        done = time.perf_counter()
    return ready - started, done - ready, result.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 one-day runs instead of 200")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sweep.json")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    console = Console()
    machine = machine_info(None)
    console.print(f"machine: {machine}")

    grid = Study.model_validate(GRID_STUDY)
    points = study_points(grid)
    started = time.perf_counter()
    serial = [evaluate(grid.base.kind, grid.base.settings, p.changes(), p.seed) for p in points]
    loop_s = time.perf_counter() - started
    grid_start_s, grid_s, grid_rows = _sweep(grid, cores)
    assert [r["key_rate_per_pulse"] for r in grid_rows] == [s["key_rate_per_pulse"] for s in serial]

    runs = 20 if args.quick else 200
    days = Study.model_validate(_day_study(runs))
    one_start_s, one_s, one_rows = _sweep(days, 1)
    all_start_s, all_s, all_rows = _sweep(days, cores)
    assert one_rows == all_rows, "the same seeds must give the same numbers on any number of workers"
    speedup = one_s / all_s

    goal = SPEEDUP_GOAL_PER_CORE * cores
    grid_pass = "PASS" if grid_start_s + grid_s < 10 else "FAIL"
    speed_pass = "PASS" if speedup >= goal else "FAIL"
    table = Table(title=f"Sweeps on a local Dask cluster ({cores} cores)")
    for column in ("workload", "workers", "cluster start (s)", "sweep (s)", "baseline (s)", "ratio", "goal"):
        table.add_column(column)
    table.add_row(
        "1,000 key-rate points", str(cores), f"{grid_start_s:.1f}", f"{grid_s:.2f}", f"{loop_s:.2f} (loop)",
        f"{loop_s / grid_s:.2f}x", f"seconds: {grid_pass}",
    )  # fmt: skip
    table.add_row(
        f"{runs} one-day runs", f"1 vs {cores}", f"{one_start_s:.1f} / {all_start_s:.1f}", f"{all_s:.1f}",
        f"{one_s:.1f} (1 worker)", f"{speedup:.2f}x", f">= {goal:.1f}x: {speed_pass}",
    )  # fmt: skip
    console.print(table)
    record = {
        "machine": machine,
        "cores": cores,
        "keyrate_grid": {"points": len(points), "cluster_start_s": grid_start_s, "sweep_s": grid_s, "loop_s": loop_s},
        "one_day_runs": {"runs": runs, "one_worker_s": one_s, "all_workers_s": all_s, "speedup": speedup, "goal": goal},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
