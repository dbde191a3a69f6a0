"""How fast the command line answers: ``qinternet --version`` and ``--help`` against a bare interpreter.

Each command runs as its own process (``python -m qinternet ...``), best of ``repeats`` wall times, beside two
baselines measured in the same run: ``python -c pass`` (the interpreter's own start) and ``python -c "import
typer"`` (the CLI framework). The commands' modules and their libraries (numpy, FastAPI, SQLAlchemy, matplotlib)
are imported only when a command runs, so ``--help`` should cost little more than Typer itself.

Goal: ``qinternet --help`` and ``--version`` in under :data:`STARTUP_GOAL_S` (issue 12: measured 5.8 s before).
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from rich.table import Table

from report import verdict

__all__ = ["STARTUP_GOAL_S", "startup_table", "time_startup"]

STARTUP_GOAL_S = 0.5

_COMMANDS: dict[str, list[str]] = {
    "python -c pass (baseline)": ["-c", "pass"],
    "python -c 'import typer' (baseline)": ["-c", "import typer"],
    "qinternet --version": ["-m", "qinternet", "--version"],
    "qinternet --help": ["-m", "qinternet", "--help"],
    "qinternet run --help (loads run)": ["-m", "qinternet", "run", "--help"],
}


def _wall_s(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True)
    return time.perf_counter() - started


def time_startup(repeats: int = 5) -> dict[str, Any]:
    """Best wall time of each command over ``repeats`` rounds (the commands alternate within a round)."""
    best = {name: float("inf") for name in _COMMANDS}
    for _ in range(repeats):
        for name, args in _COMMANDS.items():
            best[name] = min(best[name], _wall_s(args))
    base = best["python -c pass (baseline)"]
    return {
        "goal_s": STARTUP_GOAL_S,
        "repeats": repeats,
        "runs": [
            {"command": name, "best_wall_s": wall, "over_bare_python": wall / base if base > 0 else None}
            for name, wall in best.items()
        ],
    }


def startup_table(result: dict[str, Any]) -> Table:
    """Wall time of each command, its ratio to a bare interpreter, and the goal's verdict."""
    table = Table(title=f"Start-up: best of {result['repeats']} (goal: --help and --version under {STARTUP_GOAL_S} s)")
    for column in ("command", "wall (s)", "x bare python", "goal"):
        table.add_column(column, justify="right" if column != "command" else "left")
    for run in result["runs"]:
        goal = (
            verdict(run["best_wall_s"] <= STARTUP_GOAL_S)
            if run["command"]
            in (
                "qinternet --version",
                "qinternet --help",
            )
            else ""
        )
        table.add_row(run["command"], f"{run['best_wall_s']:.3f}", f"{run['over_bare_python']:.1f}", goal)
    return table


if __name__ == "__main__":
    from rich.console import Console

    Console().print(startup_table(time_startup()))
