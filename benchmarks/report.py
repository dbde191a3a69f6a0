"""Rich tables of the benchmark results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from measure import PEER_GOAL_RATIO, WALL_GOAL_S, GainCheck, Throughput, WallGoal, naive_ratio, peer_ratio
from peer import PeerRun

__all__ = [
    "goal_table",
    "machine_table",
    "make_console",
    "montecarlo_table",
    "naive_table",
    "peer_table",
    "print_peer_note",
    "sanity_table",
    "verdict",
]


MIN_WIDTH = 132


def verdict(ok: bool) -> str:
    """A coloured PASS/FAIL."""
    return "[bold green]PASS[/]" if ok else "[bold red]FAIL[/]"


def _rate(x: float) -> str:
    return f"{x:.3g}"


def _gain(value: tuple[float, float]) -> str:
    return f"{value[0]:.4e} ± {value[1]:.1e}"


def make_console() -> Console:
    """The terminal's console; :data:`MIN_WIDTH` columns when writing to a pipe or file (not 80)."""
    console = Console()
    return console if console.is_terminal else Console(width=MIN_WIDTH)


def machine_table(info: dict[str, Any]) -> Table:
    """The machine and how the run was pinned."""
    table = Table(title="Machine", show_header=False)
    pinned = info["pinned_cpu"]
    rows = {
        "CPU": info["cpu_model"],
        "cores": str(info["cores"]),
        "RAM": f"{info['ram_gib']} GiB",
        "Python / numpy": f"{info['python']} / {info['numpy']}",
        "platform": info["platform"],
        "pinned to": f"CPU {pinned} only (peer inherits it)" if pinned is not None else "not pinned",
    }
    for key, value in rows.items():
        table.add_row(key, value)
    return table


def montecarlo_table(runs: Sequence[Throughput]) -> Table:
    """qinternet's Monte-Carlo link at each distance."""
    table = Table(title="qinternet Monte-Carlo link (gys2004, compile_link + simulate_link + LinkCounts)")
    for column in ("km", "pulses", "detections", "best s", "median s", "pulses/s best", "pulses/s median"):
        table.add_column(column, justify="right")
    for r in runs:
        table.add_row(
            f"{r.distance_km:g}",
            f"{r.pulses:.0e}",
            f"{r.detections:,}",
            f"{r.best_wall_s:.3f}",
            f"{r.median_wall_s:.3f}",
            _rate(r.pulses_per_s),
            _rate(r.pulses_per_s_median),
        )
    return table


def goal_table(goal: WallGoal) -> Table:
    """Wall time of 1 s of a 1 GHz link against the goal."""
    table = Table(title=f"Goal: 1 s of a 1 GHz link ({goal.pulses:.0e} pulses) at {goal.distance_km:g} km")
    for column in ("wall s (best)", "wall s (median)", "goal", "result"):
        table.add_column(column, justify="right")
    how = " (extrapolated from --quick)" if goal.extrapolated else ""
    table.add_row(
        f"{goal.best_wall_s:.3f}{how}",
        f"{goal.median_wall_s:.3f}",
        f"<= {WALL_GOAL_S:g} s",
        verdict(goal.passed),
    )
    return table


def naive_table(naive: Sequence[Throughput], fast: dict[float, Throughput]) -> Table:
    """The naive per-pulse baseline, and how much faster qinternet is."""
    table = Table(title="Naive per-pulse numpy baseline (benchmarks/naive_link.py, blocks of 1e6)")
    for column in ("km", "pulses", "best s", "median s", "pulses/s best", "qinternet / naive"):
        table.add_column(column, justify="right")
    for r in naive:
        ratio = naive_ratio(fast[r.distance_km], r)
        table.add_row(
            f"{r.distance_km:g}",
            f"{r.pulses:.0e}",
            f"{r.best_wall_s:.3f}",
            f"{r.median_wall_s:.3f}",
            _rate(r.pulses_per_s),
            f"{ratio:,.0f}x",
        )
    return table


def sanity_table(checks: Sequence[GainCheck]) -> Table:
    """Signal gains of both simulations and of the analytic model."""
    table = Table(title="Sanity: signal gain Q_mu (matched bases) ± standard error")
    for column in ("km", "qinternet", "naive", "analytic", "z", "agree"):
        table.add_column(column, justify="right")
    for c in checks:
        agree = "[green]yes[/]" if c.agree else "[red]NO[/]"
        table.add_row(
            f"{c.distance_km:g}",
            _gain(c.qinternet),
            _gain(c.naive),
            f"{c.expected:.4e}",
            f"{c.z:+.2f}",
            agree,
        )
    return table


def peer_table(version: str, runs: Sequence[PeerRun], fast: dict[float, Throughput]) -> Table:
    """SeQUeNCe's BB84 throughput next to qinternet's (median) at the same distance."""
    table = Table(title=f"SeQUeNCe {version} BB84 (discrete-event) vs qinternet")
    columns = (
        "km",
        "pulses",
        "wall s",
        "pulses/s",
        "sifted bits",
        "QBER",
        "qinternet E_mu",
        "qinternet / SeQUeNCe",
    )
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column(f"goal >= {PEER_GOAL_RATIO:,.0f}x", justify="right")
    for run in runs:
        ours = fast[run.distance_km]
        if run.record is None:
            table.add_row(f"{run.distance_km:g}", "[red]failed[/]", *[""] * (len(columns) - 1))
            continue
        rec = run.record
        ratio = peer_ratio(ours, rec["pulses_per_wall_s"])
        qber = f"{rec['qber']:.4f}" if rec["qber"] is not None else "-"
        table.add_row(
            f"{run.distance_km:g}",
            f"{rec['pulses_sent']:,}",
            f"{rec['wall_s']:.2f}",
            _rate(rec["pulses_per_wall_s"]),
            f"{rec['sifted_bits']:,}",
            qber,
            f"{ours.signal.qber:.4f}",
            f"{ratio:,.0f}x",
            verdict(ratio >= PEER_GOAL_RATIO),
        )
    return table


def print_peer_note(console: Console) -> None:
    """What the SeQUeNCe ratio compares."""
    console.print(
        "[dim]SeQUeNCe is a discrete-event simulator that follows every photon through scheduled events; "
        "qinternet draws the outcome counts of a whole block at once and then generates only the "
        "detections. The ratio compares the throughput of simulating the same link (GYS 2004 parameters, "
        "pulses per wall-second), not identical algorithms. SeQUeNCe runs plain BB84 (mu = 0.48, no "
        "decoys, sifting only); its QBER is compared with qinternet's signal-class E_mu. The ratio uses "
        "qinternet's median run, since the peer runs once.[/]"
    )
