"""Run qinternet's benchmark suite: ``python benchmarks/run.py``.

1. qinternet's Monte-Carlo link (preset gys2004) at 25, 50 and 100 km, 1e9 pulses, best and median of 3,
   with the goal "1 s of a 1 GHz link at 50 km in <= 1 s of wall time".
2. A naive per-pulse numpy baseline of the same link (``naive_link.py``), 1e7 pulses, and a check that
   both give the same signal gain.
3. SeQUeNCe's BB84 (``peers/sequence_bb84.py``, in its own Python 3.12 venv) at the same distances, with
   the goal "qinternet >= 10,000x SeQUeNCe's pulses per wall-second".

The process is pinned to one core; results go to a Rich table and to ``benchmarks/results/latest.json``.
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

import report
from machine import machine_info, pin_to_one_core
from measure import (
    PEER_GOAL_RATIO,
    GainCheck,
    Throughput,
    WallGoal,
    check_gains,
    naive_ratio,
    peer_ratio,
    time_naive,
    time_qinternet,
)
from peer import PEER_ENV_VAR, PeerRun, find_peer_python, peer_version, run_peer, setup_peer
from qinternet.params import get_preset

PRESET = "gys2004"
DISTANCES_KM = (25.0, 50.0, 100.0)
GOAL_DISTANCE_KM = 50.0
GOAL_PULSES = 10**9  # 1 s of a 1 GHz link
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    """How much each benchmark simulates.

    Attributes:
        montecarlo_pulses: pulses per run of qinternet's Monte-Carlo link.
        naive_pulses: pulses per run of the naive baseline.
        repeats: runs per benchmark and distance (best and median reported).
        peer_sim_time_s: simulated time of the SeQUeNCe run, s (None: the peer script's default).
    """

    montecarlo_pulses: int
    naive_pulses: int
    repeats: int
    peer_sim_time_s: float | None


FULL = Sizes(montecarlo_pulses=GOAL_PULSES, naive_pulses=10**7, repeats=3, peer_sim_time_s=None)
QUICK = Sizes(montecarlo_pulses=10**8, naive_pulses=10**6, repeats=3, peer_sim_time_s=0.002)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="smaller sizes (1e8 / 1e6 pulses, short peer run)")
    p.add_argument("--seed", type=int, default=1, help="base seed (repeat i uses seed + i)")
    p.add_argument("--skip-peer", action="store_true", help="do not run the SeQUeNCe comparison")
    p.add_argument(
        "--peer-python",
        help=(
            f"python of a venv with `sequence` installed (default: ${PEER_ENV_VAR}, else "
            ".bench-venv/sequence, which is built on first use when a Python >= 3.12 is available)"
        ),
    )
    p.add_argument(
        "--setup-peer",
        action="store_true",
        help="(re)install .bench-venv/sequence (Python >= 3.12, sequence==1.3.1) and use it for the peer",
    )
    return p.parse_args(argv)


def run_montecarlo(console: Console, sizes: Sizes, seed: int) -> list[Throughput]:
    """qinternet's Monte-Carlo link at every distance."""
    system = get_preset(PRESET).system
    runs = []
    for distance in DISTANCES_KM:
        console.print(f"[dim]qinternet Monte-Carlo, {distance:g} km, {sizes.montecarlo_pulses:.0e} pulses[/]")
        runs.append(time_qinternet(system, distance, sizes.montecarlo_pulses, sizes.repeats, seed))
    return runs


def run_naive(
    console: Console, sizes: Sizes, seed: int, fast: dict[float, Throughput]
) -> tuple[list[Throughput], list[GainCheck]]:
    """The naive baseline at every distance, and its gains checked against qinternet's."""
    system = get_preset(PRESET).system
    runs, checks = [], []
    for distance in DISTANCES_KM:
        console.print(f"[dim]naive baseline, {distance:g} km, {sizes.naive_pulses:.0e} pulses[/]")
        run = time_naive(system, distance, sizes.naive_pulses, sizes.repeats, seed)
        runs.append(run)
        checks.append(check_gains(system, fast[distance], run))
    return runs, checks


def resolve_peer(console: Console, args: argparse.Namespace) -> tuple[Path | None, str]:
    """The peer's python and its ``sequence`` version, or None and why the comparison is skipped.

    With ``--setup-peer``, or when no peer is found, ``.bench-venv/sequence`` is built first (and used
    unless ``--peer-python`` is given), so that ``python benchmarks/run.py`` alone runs everything.
    """
    if args.skip_peer:
        return None, "skipped (--skip-peer)"
    python = find_peer_python(args.peer_python)
    if args.setup_peer or python is None:
        try:
            built = setup_peer(console.print)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            return None, f"skipped: --setup-peer failed ({exc})"
        python = Path(args.peer_python) if args.peer_python else built
    if python is None:
        return None, "skipped: no Python with SeQUeNCe found"
    version = peer_version(python)
    if version is None:
        return None, f"skipped: `import sequence` fails with {python}"
    return python, version


def run_peers(console: Console, python: Path, sizes: Sizes, seed: int) -> list[PeerRun]:
    """SeQUeNCe's BB84 at every distance (one run each: a run takes ~10 s of wall time)."""
    runs = []
    for distance in DISTANCES_KM:
        console.print(f"[dim]SeQUeNCe BB84, {distance:g} km ({python})[/]")
        run = run_peer(python, distance, seed, sizes.peer_sim_time_s)
        if run.error is not None:
            console.print(f"[red]SeQUeNCe failed at {distance:g} km:[/]\n{run.error}")
        runs.append(run)
    return runs


def peer_results(python: Path, version: str, runs: list[PeerRun], fast: dict[float, Throughput]) -> dict[str, Any]:
    """The JSON section of the SeQUeNCe comparison."""
    out = []
    for run in runs:
        entry: dict[str, Any] = {"distance_km": run.distance_km, "record": run.record, "error": run.error}
        if run.record is not None:
            ratio = peer_ratio(fast[run.distance_km], run.record["pulses_per_wall_s"])
            entry |= {"ratio_qinternet_over_peer": ratio, "passed": ratio >= PEER_GOAL_RATIO}
        out.append(entry)
    return {
        "status": "ran",
        "python": str(python),
        "version": version,
        "goal_ratio": PEER_GOAL_RATIO,
        "runs": out,
    }


def print_skipped_peer(console: Console, reason: str) -> None:
    """Say clearly that the SeQUeNCe comparison did not run, and how to enable it."""
    console.print(f"[bold yellow]SeQUeNCe comparison {reason}.[/]")
    console.print(
        "  Enable it with [bold]python benchmarks/run.py --setup-peer[/] (builds .bench-venv/sequence with "
        f"Python 3.12 and sequence==1.3.1), or pass --peer-python PATH, or set ${PEER_ENV_VAR}."
    )


def write_json(path: Path, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark, print the tables and write the JSON results."""
    args = parse_args(argv)
    console = report.make_console()
    sizes = QUICK if args.quick else FULL
    peer_python, peer_label = resolve_peer(console, args)  # before pinning: --setup-peer runs pip
    info = machine_info(pin_to_one_core())
    console.print(report.machine_table(info))

    fast_runs = run_montecarlo(console, sizes, args.seed)
    fast = {r.distance_km: r for r in fast_runs}
    goal = WallGoal.from_run(fast[GOAL_DISTANCE_KM], GOAL_PULSES)
    naive_runs, checks = run_naive(console, sizes, args.seed, fast)
    peer_runs = run_peers(console, peer_python, sizes, args.seed) if peer_python else []

    console.print(report.montecarlo_table(fast_runs))
    console.print(report.goal_table(goal))
    console.print(report.naive_table(naive_runs, fast))
    console.print(report.sanity_table(checks))
    if peer_python:
        console.print(report.peer_table(peer_label, peer_runs, fast))
        report.print_peer_note(console)
        peer_json = peer_results(peer_python, peer_label, peer_runs, fast)
    else:
        print_skipped_peer(console, peer_label)
        peer_json = {"status": peer_label}

    results = {
        "generated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "preset": PRESET,
        "quick": args.quick,
        "sizes": asdict(sizes),
        "machine": info,
        "montecarlo": [r.to_dict() for r in fast_runs],
        "goal_1ghz_link_50km": goal.to_dict(),
        "naive": [
            r.to_dict() | {"ratio_qinternet_over_naive": naive_ratio(fast[r.distance_km], r)} for r in naive_runs
        ],
        "sanity_signal_gain": [c.to_dict() for c in checks],
        "sequence": peer_json,
    }
    write_json(args.out, results)
    console.print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
