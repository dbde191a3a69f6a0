"""qinternet's repeater chain against SeQUeNCe's, at 1,000 nodes, and its cost against nodes and pairs.

Item 13 of ``run.py``; alone: ``python benchmarks/repeater_bench.py [--quick] [--peer-python PY]``.

1. **The same chain in both**: SeQUeNCe 1.3.1's router stack (``peers/sequence_repeater.py``: 3 and 5 routers
   50 km apart, single-heralded generation at a midpoint station, Bell-diagonal states, nested swaps) and
   qinternet's :func:`qinternet.entanglement.chain.sample_chain` configured with the physics SeQUeNCe runs, read
   from its source (``/work/notes/sequence_chain.md`` summarised in benchmarks/README.md): success
   ``0.5 (eta_m eta_f eta_d)^2`` per attempt, one attempt every ``4 L / c`` (c = 2e8 m/s), Werner links at the raw
   fidelity decayed over the herald's flight, each stored qubit depolarising with factor ``exp(-4 t / 3T)``, swaps
   multiplying the Werner parameter by ``g (4 m^2 - 1) / 3`` after a handshake of two classical delays, the
   outcome one more delay from the end. SeQUeNCe's request holds one memory per link end (``memory_size`` 1),
   so both make one pair at a time. The figure is end-to-end pairs per CPU-second of each simulator (wall time
   is printed too; the machines are shared); pairs per *simulated* second and mean fidelities show that they
   simulate the same thing (SeQUeNCe starts a link's next attempt up to two delays later after a release, and
   its swap handshakes differ slightly by level: a few per cent).
2. **1,000 nodes** (NetSquid's published scale): the same links, 999 of them, goal under 60 s of wall time.
3. **Cost against nodes and pairs**: affine fits of the wall time on chains of 64 to 1,024 links and on
   10^3 to 10^5 pairs, with their largest relative residual (linear cost: small residuals, a positive slope).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from machine import machine_info, pin_to_one_core
from peer import find_peer_python, peer_version, run_repeater_peers
from qinternet.entanglement.chain import ChainModel, ElementaryLink, depolarising_decay, sample_chain
from qinternet.states import bell

__all__ = [
    "CHAIN_GOAL_S",
    "PEER_GOAL_RATIO",
    "RepeaterSizes",
    "repeater_json",
    "repeater_tables",
    "run_repeater_bench",
    "sequence_equivalent_model",
]

PEER_GOAL_RATIO = 1000.0
"""Goal: qinternet at least 1,000x SeQUeNCe's end-to-end pairs per CPU-second on the same chain."""
CHAIN_GOAL_S = 60.0
"""Goal: a chain of 1,000 nodes in under 60 s of wall time."""
SPEED_IN_FIBRE_M_PER_S = 2e8
"""SeQUeNCe's constant for light (and classical messages) in fibre."""
SPACING_KM = 50.0

PEER_DEFAULTS: dict[str, float] = {
    "memory_efficiency": 0.9,
    "memory_coherence_time_s": 1.0,
    "memory_raw_fidelity": 0.95,
    "detector_efficiency": 0.9,
    "attenuation_db_per_km": 0.2,
    "bsm_success_rate": 0.5,
    "gate_fidelity": 0.99,
    "measurement_fidelity": 0.99,
}
"""The peer's defaults (``peers/sequence_repeater.py`` ``DEFAULTS``) that the physics depends on."""
PEER_PARAMS: dict[str, float | int] = {"request_memory_size": 1}
"""What the benchmark changes in the peer: one memory per link end, one pair at a time, as qinternet's chain."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RepeaterSizes:
    """How much the repeater benchmark simulates.

    Attributes:
        pairs: end-to-end pairs per qinternet run of the 3- and 5-node chains.
        peer_sim_time_s: simulated seconds of each SeQUeNCe run.
        long_chain_nodes: nodes of the long chain.
        long_chain_pairs: pairs of the long chain.
        scaling_links: chain lengths (links) of the cost-by-nodes series.
        scaling_pairs: pair counts of the cost-by-pairs series (3 nodes).
        repeats: runs per point (best reported).
    """

    pairs: int
    peer_sim_time_s: float
    long_chain_nodes: int
    long_chain_pairs: int
    scaling_links: tuple[int, ...]
    scaling_pairs: tuple[int, ...]
    repeats: int


FULL_SIZES = RepeaterSizes(
    pairs=200_000,
    peer_sim_time_s=5.0,
    long_chain_nodes=1000,
    long_chain_pairs=1000,
    scaling_links=(64, 128, 256, 512, 1024),
    scaling_pairs=(1000, 10_000, 100_000),
    repeats=3,
)
QUICK_SIZES = RepeaterSizes(
    pairs=20_000,
    peer_sim_time_s=1.0,
    long_chain_nodes=1000,
    long_chain_pairs=100,
    scaling_links=(64, 128, 256),
    scaling_pairs=(1000, 4000, 16_000),
    repeats=1,
)


def sequence_equivalent_model(nodes: int, spacing_km: float = SPACING_KM) -> ChainModel:
    """qinternet's chain with the physics SeQUeNCe's peer runs at its defaults (see the module docstring)."""
    p = PEER_DEFAULTS
    delay_s = spacing_km * 1e3 / SPEED_IN_FIBRE_M_PER_S  # one link's fibre
    arm = 10 ** (-p["attenuation_db_per_km"] * spacing_km / 2 / 10)
    success = p["bsm_success_rate"] * (p["memory_efficiency"] * arm * p["detector_efficiency"]) ** 2
    coherence = p["memory_coherence_time_s"]

    rate = 4.0 / (3.0 * coherence)  # one memory: depolarising with exp(-4 t / 3T)
    decay = depolarising_decay(rate)
    w0 = (4 * p["memory_raw_fidelity"] - 1) / 3 * math.exp(-2 * rate * delay_s)  # both halves, herald flight
    fresh = bell.werner(w0)
    swap_w = p["gate_fidelity"] * (4 * p["measurement_fidelity"] ** 2 - 1) / 3
    swap = bell.werner(swap_w)
    links = nodes - 1
    return ChainModel(
        links=links,
        link=ElementaryLink(
            success_prob=success, attempt_period_s=4 * delay_s, state=(fresh[0], fresh[1], fresh[2], fresh[3])
        ),
        swap_error=(swap[0], swap[1], swap[2], swap[3]),
        swap_duration_s=2 * delay_s * max(1, links // 2),  # handshake with the farther partner of the top swap
        decay=decay,
        delivery_delay_s=delay_s * max(1, links // 2) if links > 1 else 0.0,
    )


def _timed(model: ChainModel, pairs: int, seed: int, repeats: int) -> dict[str, float]:
    best_wall, best_cpu, out = math.inf, math.inf, None
    for i in range(repeats):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        out = sample_chain(model, pairs, np.random.default_rng(seed + i))
        best_wall = min(best_wall, time.perf_counter() - wall0)
        best_cpu = min(best_cpu, time.process_time() - cpu0)
    assert out is not None
    return {
        "nodes": model.links + 1,
        "pairs": pairs,
        "wall_s": best_wall,
        "cpu_s": best_cpu,
        "pairs_per_wall_s": pairs / best_wall,
        "pairs_per_cpu_s": pairs / max(best_cpu, 1e-9),
        "pairs_per_sim_s": pairs / float(out.round_s.sum()),
        "mean_fidelity": float(out.states[:, 0].mean()),
    }


def _affine(xs: list[float], ys: list[float]) -> dict[str, float]:
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    slope, fixed = np.polyfit(x, y, 1)
    residual = float(np.max(np.abs(fixed + slope * x - y) / y))
    return {"fixed_s": float(fixed), "per_unit_s": float(slope), "max_residual": residual}


def run_repeater_bench(
    console: Console, sizes: RepeaterSizes, seed: int, peer_python: Path | None, peer_label: str
) -> dict[str, Any]:
    """Every part of the benchmark; the peer's runs only when ``peer_python`` is given."""
    ours = []
    for nodes in (3, 5):
        console.print(f"[dim]qinternet repeater chain: {nodes} nodes, {sizes.pairs:,} pairs[/]")
        ours.append(_timed(sequence_equivalent_model(nodes), sizes.pairs, seed, sizes.repeats))
    peer: dict[str, Any] = {"status": peer_label}
    if peer_python is not None:
        console.print(f"[dim]SeQUeNCe repeater chains: 3 and 5 nodes, {sizes.peer_sim_time_s:g} simulated s[/]")
        peer |= run_repeater_peers(
            peer_python,
            seed,
            sim_time_s=sizes.peer_sim_time_s,
            growth_sim_times_s=(sizes.peer_sim_time_s, 2 * sizes.peer_sim_time_s),
            params=PEER_PARAMS,
            log=lambda line: console.print(f"[dim]{line}[/]"),
        )
    console.print(f"[dim]a chain of {sizes.long_chain_nodes:,} nodes, {sizes.long_chain_pairs:,} pairs[/]")
    long_chain = _timed(sequence_equivalent_model(sizes.long_chain_nodes), sizes.long_chain_pairs, seed, 1)
    console.print("[dim]cost against nodes and pairs[/]")
    by_nodes = [_timed(sequence_equivalent_model(n + 1), 1000, seed, sizes.repeats) for n in sizes.scaling_links]
    by_pairs = [_timed(sequence_equivalent_model(3), n, seed, sizes.repeats) for n in sizes.scaling_pairs]
    return {
        "qinternet": ours,
        "peer": peer,
        "long_chain": long_chain | {"goal_s": CHAIN_GOAL_S, "met": long_chain["wall_s"] < CHAIN_GOAL_S},
        "by_nodes": {"runs": by_nodes, "fit": _affine([r["nodes"] for r in by_nodes], [r["wall_s"] for r in by_nodes])},
        "by_pairs": {"runs": by_pairs, "fit": _affine([r["pairs"] for r in by_pairs], [r["wall_s"] for r in by_pairs])},
    }


def _ratios(result: dict[str, Any]) -> list[dict[str, Any]]:
    peer = {r["nodes"]: r for r in result["peer"].get("chains", [])}
    rows = []
    for ours in result["qinternet"]:
        theirs = peer.get(ours["nodes"])
        ratio = None if theirs is None else ours["pairs_per_cpu_s"] / theirs["pairs_per_cpu_s"]
        rows.append({"nodes": ours["nodes"], "ours": ours, "theirs": theirs, "ratio_per_cpu_s": ratio})
    return rows


def repeater_tables(result: dict[str, Any]) -> list[Table]:
    """The comparison, the long chain and the cost fits."""
    first = Table(
        title=f"Repeater chain, 50 km spacing, pairs per CPU-s: qinternet / SeQUeNCe >= {PEER_GOAL_RATIO:,.0f}x"
    )
    columns = ("nodes", "ours /CPU-s", "/sim-s", "F", "SeQUeNCe /CPU-s", "/sim-s (pairs)", "F", "ratio", "goal")
    for column in columns:
        first.add_column(column, justify="right")
    for row in _ratios(result):
        ours, theirs, ratio = row["ours"], row["theirs"], row["ratio_per_cpu_s"]
        first.add_row(
            str(row["nodes"]),
            f"{ours['pairs_per_cpu_s']:,.0f}",
            f"{ours['pairs_per_sim_s']:.1f}",
            f"{ours['mean_fidelity']:.3f}",
            "-" if theirs is None else f"{theirs['pairs_per_cpu_s']:,.1f}",
            "-" if theirs is None else f"{theirs['pairs_per_sim_s']:.1f} ({theirs['pairs']})",
            "-" if theirs is None else f"{theirs['mean_fidelity']:.3f}",
            "-" if ratio is None else f"{ratio:,.0f}x",
            "-" if ratio is None else ("met" if ratio >= PEER_GOAL_RATIO else "NOT met"),
        )
    long_chain = result["long_chain"]
    second = Table(title=f"{long_chain['nodes']:,} nodes (goal: under {CHAIN_GOAL_S:g} s)")
    for column in ("pairs", "wall s", "pairs/wall-s", "F", "goal"):
        second.add_column(column, justify="right")
    second.add_row(
        f"{long_chain['pairs']:,}",
        f"{long_chain['wall_s']:.2f}",
        f"{long_chain['pairs_per_wall_s']:,.0f}",
        f"{long_chain['mean_fidelity']:.3g}",
        "met" if long_chain["met"] else "NOT met",
    )
    third = Table(title="Cost: affine fits of the wall time (linear: small residual)")
    for column in ("series", "points", "per unit (us)", "fixed (s)", "max residual"):
        third.add_column(column, justify="right")
    for name, key, unit in (("by nodes (1,000 pairs)", "by_nodes", "node"), ("by pairs (3 nodes)", "by_pairs", "pair")):
        fit = result[key]["fit"]
        third.add_row(
            name,
            str(len(result[key]["runs"])),
            f"{fit['per_unit_s'] * 1e6:.2f} per {unit}",
            f"{fit['fixed_s']:.3f}",
            f"{fit['max_residual']:.2f}",
        )
    return [first, second, third]


def repeater_json(result: dict[str, Any]) -> dict[str, Any]:
    """The results with the ratios, for ``latest.json``."""
    return result | {
        "ratios": [{"nodes": r["nodes"], "ratio_per_cpu_s": r["ratio_per_cpu_s"]} for r in _ratios(result)],
        "goal_ratio": PEER_GOAL_RATIO,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the repeater benchmark alone."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-peer", action="store_true", help="do not run SeQUeNCe")
    p.add_argument("--peer-python", default=None, help="python of a venv with sequence installed")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "repeater.json")
    args = p.parse_args(argv)
    console = Console()
    python = None if args.skip_peer else find_peer_python(args.peer_python)
    label = "skipped (--skip-peer)" if args.skip_peer else "skipped: no Python with SeQUeNCe found"
    if python is not None:
        label = f"sequence {peer_version(python)}"
    info = machine_info(pin_to_one_core())
    result = run_repeater_bench(console, QUICK_SIZES if args.quick else FULL_SIZES, args.seed, python, label)
    for table in repeater_tables(result):
        console.print(table)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"machine": info} | repeater_json(result), indent=2))
    console.print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
