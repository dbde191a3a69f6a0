"""Run qinternet's benchmark suite: ``python benchmarks/run.py``.

1. qinternet's Monte-Carlo link (preset gys2004) at 25, 50 and 100 km, 1e9 pulses, best and median of 3,
   with the goal "1 s of a 1 GHz link at 50 km in <= 1 s of wall time".
2. A naive per-pulse numpy baseline of the same link (``naive_link.py``), 1e7 pulses, and a check that
   both give the same signal gain.
3. SeQUeNCe's BB84 (``peers/sequence_bb84.py``, in its own Python 3.12 venv) at the same distances, with
   the goal "qinternet >= 10,000x SeQUeNCe's pulses per wall-second".
4. Cascade (variants option7, yanetal, original) at QBER 1, 2, 5 % on batches of 2^14- and 2^16-bit
   frames, against SeQUeNCe's Cascade on the same frames (``peers/sequence_cascade.py``), with the goal
   ">= 5 Mbit/s per core at f <= 1.1".
5. Privacy amplification (``toeplitz_hash``, 1e6 and 4e6 input bits) against a dense-matrix baseline,
   goal >= 50 Mbit/s; polynomial hashing over GF(2^64).
6. LDPC reconciliation (``ldpc_bench.py``) at QBER 1, 2, 5 %: efficiency, frame error rate (300 codewords
   of the default codes: 2^18 bits below ~1.6 %, 2^17 above) and throughput, goal f <= 1.15 with FER < 1e-2.
7. The whole pipeline (``postprocess``) on ~1e6 sifted bits of a lim2014 Monte-Carlo record at 10, 25 and
   50 km, against the sifted-bit rate of the simulated 1 GHz link (goal: the pipeline keeps up).
8. The network simulation (``network_bench.py``): 24 h of beijing-shanghai against the goal "under 60 s
   on one core", and chains of fibre links showing that the cost grows linearly with links and duration.
9. The discrete-event kernel against SimPy (``sim_kernel.py``) on a random-delay and a network-like
   workload, goal ">= 5x SimPy's events per second", and on memories with cut-offs and interrupts.
10. Key management (``kms_bench.py``): concurrent clients over mutual TLS doing enc_keys then dec_keys
    against two KMEs on SQLite and PostgreSQL (when its binaries are present), beside an echo server and a
    FastAPI app without a store on the same TLS stack; goal ">= 1,000 deliveries/s with p99 <= 20 ms".
11. Loading scenario files (``scenario_bench.py``): generated networks of thousands of nodes and twice as
    many links through ``load_scenario``, against the same load with PyYAML's pure-Python parser; goal
    "5,000 nodes and 10,000 links in under 5 s".
12. Start-up of the command line (``startup_bench.py``): ``qinternet --version`` and ``--help`` as new
    processes against a bare ``python -c pass`` and ``import typer``; goal "under 0.5 s".
13. Repeater chains (``repeater_bench.py``): qinternet's chain sampler against SeQUeNCe's router stack on the
    same 3- and 5-node chains at 50 km spacing, goal ">= 1,000x SeQUeNCe's end-to-end pairs per CPU-second";
    a chain of 1,000 nodes, goal "under 60 s"; the cost against nodes and pairs (affine fits).
14. The tunnel (``tunnel_bench.py``): ``qinternet tunnel``'s throughput on loopback against two plain TCP
    relays in the same run, and the cost of a key rotation with local keys and with real KMEs.

The process is pinned to one core; results go to Rich tables and to ``benchmarks/results/latest.json``.
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

import postproc_report
import report
from kms_bench import kms_table, time_kms
from ldpc_bench import LDPC_GOAL_EFFICIENCY, LDPC_GOAL_FER, LDPC_QBERS, LdpcTiming, ldpc_table, time_ldpc
from machine import all_cores, machine_info, pin_to_one_core
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
from network_bench import network_json, network_tables, run_network
from peer import (
    PEER_ENV_VAR,
    PeerRun,
    find_peer_python,
    peer_version,
    run_cascade_peer,
    run_peer,
    setup_peer,
)
from postproc import (
    CASCADE_GOAL_BITS_PER_S,
    CASCADE_GOAL_EFFICIENCY,
    PA_GOAL_BITS_PER_S,
    Frames,
    HashTiming,
    NaivePaTiming,
    PaTiming,
    PipelineTiming,
    time_cascade,
    time_naive_pa,
    time_pa,
    time_pipeline,
    time_polynomial_hash,
)
from postproc_report import CascadeBatch
from qinternet.params import get_preset
from repeater_bench import FULL_SIZES as REPEATER_FULL
from repeater_bench import QUICK_SIZES as REPEATER_QUICK
from repeater_bench import RepeaterSizes, repeater_json, repeater_tables, run_repeater_bench
from scenario_bench import scenario_table, time_scenario_load
from sim_kernel import kernel_note, kernel_table, time_kernel_vs_simpy
from startup_bench import startup_table, time_startup
from tunnel_bench import time_tunnel, tunnel_table

PRESET = "gys2004"
DISTANCES_KM = (25.0, 50.0, 100.0)
GOAL_DISTANCE_KM = 50.0
GOAL_PULSES = 10**9  # 1 s of a 1 GHz link
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"

CASCADE_QBERS = (0.01, 0.02, 0.05)
CASCADE_VARIANTS_RUN = ("option7", "yanetal", "original")
PIPELINE_PRESET = "lim2014"
PIPELINE_DISTANCES_KM = (10.0, 25.0, 50.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    """How much each benchmark simulates.

    Attributes:
        montecarlo_pulses: pulses per run of qinternet's Monte-Carlo link.
        naive_pulses: pulses per run of the naive baseline.
        repeats: runs per benchmark and distance (best and median reported).
        peer_sim_time_s: simulated time of the SeQUeNCe run, s (None: the peer script's default).
        cascade_batches: (frame bits, frames) of every Cascade batch (each at every QBER).
        pa_input_bits: input sizes of privacy amplification (output half as long).
        naive_pa_input_bits: input size of the dense-matrix baseline.
        hash_bits: message sizes of polynomial hashing.
        pipeline_sifted_bits: sifted bits (about) of the pipeline's record.
        ldpc_frames: LDPC codewords decoded per QBER (300 clean ones bound the frame error rate below 1e-2).
        network_links: link counts of the network scaling runs (24 h each).
        network_hours: durations of the network scaling runs (at ``network_fixed_links`` links).
        network_fixed_links: links of the duration series.
        kernel_events: events per workload of the kernel against SimPy.
        kms_seconds: load time per KMS run (each database, each worker count, and the baselines).
        kms_workers: concurrent client workers of the KMS runs.
        scenario_nodes: node counts of the generated scenarios loaded (links: twice as many).
        repeater: sizes of the repeater-chain benchmark.
    """

    montecarlo_pulses: int
    naive_pulses: int
    repeats: int
    peer_sim_time_s: float | None
    cascade_batches: tuple[tuple[int, int], ...]
    pa_input_bits: tuple[int, ...]
    naive_pa_input_bits: int
    hash_bits: tuple[int, ...]
    pipeline_sifted_bits: int
    ldpc_frames: int
    network_links: tuple[int, ...]
    network_hours: tuple[float, ...]
    network_fixed_links: int
    kernel_events: int
    kms_seconds: float
    kms_workers: tuple[int, ...]
    scenario_nodes: tuple[int, ...]
    repeater: RepeaterSizes


FULL = Sizes(
    montecarlo_pulses=GOAL_PULSES,
    naive_pulses=10**7,
    repeats=3,
    peer_sim_time_s=None,
    cascade_batches=((1 << 14, 16), (1 << 16, 8)),
    pa_input_bits=(10**6, 4 * 10**6),
    naive_pa_input_bits=1 << 13,
    hash_bits=(10**6, 4 * 10**6),
    pipeline_sifted_bits=10**6,
    ldpc_frames=300,
    network_links=(8, 16, 32, 64),
    network_hours=(6.0, 12.0, 24.0, 48.0),
    network_fixed_links=16,
    kernel_events=500_000,
    kms_seconds=5.0,
    kms_workers=(8, 16),
    scenario_nodes=(1000, 5000),
    repeater=REPEATER_FULL,
)
QUICK = Sizes(
    montecarlo_pulses=10**8,
    naive_pulses=10**6,
    repeats=3,
    peer_sim_time_s=0.002,
    cascade_batches=((1 << 14, 4), (1 << 16, 1)),
    pa_input_bits=(10**6,),
    naive_pa_input_bits=1 << 12,
    hash_bits=(10**6,),
    pipeline_sifted_bits=10**6,
    ldpc_frames=2,
    network_links=(4, 8, 16),
    network_hours=(3.0, 6.0, 12.0),
    network_fixed_links=8,
    kernel_events=50_000,
    kms_seconds=1.0,
    kms_workers=(8,),
    scenario_nodes=(250, 500),
    repeater=REPEATER_QUICK,
)


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


def run_cascade(console: Console, sizes: Sizes, seed: int, python: Path | None) -> list[CascadeBatch]:
    """Every variant on every batch and QBER, and SeQUeNCe's Cascade on the same frames when it is available."""
    batches = []
    for b, (frame_bits, frames) in enumerate(sizes.cascade_batches):
        for q, qber in enumerate(CASCADE_QBERS):
            batch = Frames.draw(frame_bits, frames, qber, np.random.default_rng([seed, b, q]))
            label = f"{frames} x {frame_bits}-bit frames, QBER {qber:.0%}"
            runs = []
            for variant in CASCADE_VARIANTS_RUN:
                console.print(f"[dim]qinternet Cascade {variant}, {label}[/]")
                runs.append(time_cascade(batch, variant, sizes.repeats, seed))
            peer = None
            if python is not None:
                console.print(f"[dim]SeQUeNCe Cascade, {label}[/]")
                peer = run_cascade_peer(python, batch.alice, batch.bob, qber, seed)
                if peer.error is not None:
                    console.print(f"[red]SeQUeNCe Cascade failed ({label}):[/]\n{peer.error}")
            batches.append(CascadeBatch(frame_bits=frame_bits, frames=frames, qber=qber, runs=tuple(runs), peer=peer))
    return batches


def run_hashing(
    console: Console, sizes: Sizes, seed: int
) -> tuple[list[PaTiming], NaivePaTiming, PaTiming, list[HashTiming]]:
    """Privacy amplification at every size, the naive baseline (and ours at its size), polynomial hashing."""
    pa = []
    for bits in sizes.pa_input_bits:
        console.print(f"[dim]privacy amplification, {bits:.0e} -> {bits // 2:.0e} bits, one core and both[/]")
        pa.append(time_pa(bits, sizes.repeats, seed))
        with all_cores():  # toeplitz_hash splits its transform over the cores it may use
            pa.append(dataclasses.replace(time_pa(bits, sizes.repeats, seed), cores=len(os.sched_getaffinity(0))))
    console.print(f"[dim]naive dense-matrix privacy amplification, {sizes.naive_pa_input_bits} bits[/]")
    naive = time_naive_pa(sizes.naive_pa_input_bits, sizes.repeats, seed)
    same_size = time_pa(sizes.naive_pa_input_bits, max(sizes.repeats, 5), seed)
    hashes = []
    for bits in sizes.hash_bits:
        console.print(f"[dim]polynomial hash, {bits:.0e} bits[/]")
        hashes.append(time_polynomial_hash(bits, sizes.repeats, seed))
    return pa, naive, same_size, hashes


def run_ldpc(console: Console, sizes: Sizes, seed: int) -> list[LdpcTiming]:
    """LDPC reconciliation at every QBER."""
    runs = []
    for qber in LDPC_QBERS:
        console.print(f"[dim]LDPC, QBER {qber:.0%}, {sizes.ldpc_frames} codewords of the default codes[/]")
        runs.append(time_ldpc(qber, sizes.ldpc_frames, seed))
    return runs


def run_pipeline(console: Console, sizes: Sizes, seed: int) -> list[PipelineTiming]:
    """The whole pipeline on a Monte-Carlo record at every distance."""
    runs = []
    for distance in PIPELINE_DISTANCES_KM:
        console.print(
            f"[dim]pipeline, {PIPELINE_PRESET} {distance:g} km, ~{sizes.pipeline_sifted_bits:.0e} sifted bits[/]"
        )
        runs.append(time_pipeline(PIPELINE_PRESET, distance, sizes.pipeline_sifted_bits, sizes.repeats, seed))
    return runs


def postprocessing_results(
    batches: list[CascadeBatch],
    pa: list[PaTiming],
    naive_pa: NaivePaTiming,
    pa_same_size: PaTiming,
    hashes: list[HashTiming],
    pipeline: list[PipelineTiming],
    peer_label: str,
) -> dict[str, Any]:
    """The JSON sections of the post-processing benchmarks."""
    return {
        "cascade": {
            "goal": {"bits_per_s": CASCADE_GOAL_BITS_PER_S, "max_efficiency": CASCADE_GOAL_EFFICIENCY},
            "variants": list(CASCADE_VARIANTS_RUN),
            "qbers": list(CASCADE_QBERS),
            "sequence_status": peer_label,
            "batches": [b.to_dict() for b in batches],
        },
        "privacy_amplification": {
            "goal_bits_per_s": PA_GOAL_BITS_PER_S,
            "runs": [
                r.to_dict()
                | {
                    "naive_extrapolated_bits_per_s": naive_pa.extrapolated_bits_per_s(r.input_bits),
                    "ratio_qinternet_over_naive_extrapolated": r.timing.bits_per_s
                    / naive_pa.extrapolated_bits_per_s(r.input_bits),
                }
                for r in pa
            ],
            "naive": naive_pa.to_dict(),
            "qinternet_at_naive_size": {"input_bits": pa_same_size.input_bits, "output_bits": pa_same_size.output_bits}
            | pa_same_size.timing.to_dict()
            | {"ratio_qinternet_over_naive": pa_same_size.timing.bits_per_s / naive_pa.timing.bits_per_s},
        },
        "polynomial_hash": [h.to_dict() for h in hashes],
        "pipeline": [p.to_dict() for p in pipeline],
    }


def git_commit() -> str | None:
    """The repository's HEAD commit, with ``+dirty`` when tracked files differ from it (None outside git)."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=repo, check=False).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


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
    batches = run_cascade(console, sizes, args.seed, peer_python)
    pa, naive_pa, pa_same_size, hashes = run_hashing(console, sizes, args.seed)
    ldpc = run_ldpc(console, sizes, args.seed)
    pipeline = run_pipeline(console, sizes, args.seed)
    console.print("[dim]network: beijing-shanghai 24 h, chains for scaling[/]")
    network = run_network(sizes.network_links, sizes.network_hours, sizes.network_fixed_links)
    console.print("[dim]discrete-event kernel against SimPy[/]")
    kernel = time_kernel_vs_simpy(sizes.kernel_events, repeats=sizes.repeats)
    console.print("[dim]key management: concurrent mTLS clients against two KMEs (both cores, not pinned)[/]")
    kms = time_kms(sizes.kms_seconds, sizes.kms_workers)
    console.print(f"[dim]loading generated scenarios of {', '.join(map(str, sizes.scenario_nodes))} nodes[/]")
    scenario_load = time_scenario_load(sizes.scenario_nodes, repeats=sizes.repeats)
    console.print("[dim]start-up of the command line[/]")
    startup = time_startup(repeats=sizes.repeats)
    repeater = run_repeater_bench(console, sizes.repeater, args.seed, peer_python, peer_label)
    console.print("[dim]qinternet tunnel on loopback: throughput against a plain relay, cost of a rotation[/]")
    tunnel = time_tunnel(16 if args.quick else 64, repeats=sizes.repeats)

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
    console.print(postproc_report.cascade_table(batches, peer_label if peer_python else None))
    postproc_report.print_cascade_note(console)
    console.print(postproc_report.cascade_goal_table(batches))
    console.print(ldpc_table(ldpc))
    console.print(postproc_report.pa_table(pa, naive_pa, pa_same_size))
    console.print(postproc_report.hash_table(hashes))
    console.print(postproc_report.pipeline_table(pipeline))
    console.print(postproc_report.pipeline_detail_table(pipeline))
    for table in network_tables(network):
        console.print(table)
    console.print(kernel_table(kernel))
    console.print(f"[dim]{kernel_note(kernel)}[/]")
    console.print(kms_table(kms))
    console.print(scenario_table(scenario_load))
    console.print(startup_table(startup))
    for table in repeater_tables(repeater):
        console.print(table)
    console.print(tunnel_table(tunnel))

    results = {
        "generated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "commit": git_commit(),
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
    } | postprocessing_results(batches, pa, naive_pa, pa_same_size, hashes, pipeline, peer_label)
    results["network"] = network_json(network)
    results["kernel"] = kernel
    results["kms"] = kms
    results["scenario_load"] = scenario_load
    results["startup"] = startup
    results["repeater"] = repeater_json(repeater)
    results["tunnel"] = tunnel.to_dict()
    results["ldpc"] = {
        "goal": {"max_efficiency": LDPC_GOAL_EFFICIENCY, "max_frame_error_rate": LDPC_GOAL_FER},
        "runs": [r.to_dict() for r in ldpc],
    }
    write_json(args.out, results)
    console.print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
