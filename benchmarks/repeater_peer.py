"""SeQUeNCe's repeater chain alone: 3 and 5 nodes at 50 km spacing, and its wall time against simulated time.

``python benchmarks/repeater_peer.py`` finds (or builds, as ``run.py`` does) the SeQUeNCe 1.3.1 venv, runs
``peers/sequence_repeater.py`` for each chain and for the growth series, prints one line per run and writes
the records as JSON (``--out``, default ``benchmarks/results/repeater_peer.json``). Pinned to one core unless
``--no-pin``. ``--quick``: 3 and 5 nodes for 0.2 simulated s, growth 0.2 / 0.4 / 0.8 s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from machine import machine_info, pin_to_one_core
from peer import find_peer_python, peer_version, run_repeater_peers, setup_peer

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    """Run the series and print/write its records."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer-python", default=None, help="python of a venv with sequence installed")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="0.2 simulated s per chain, growth 0.2/0.4/0.8 s")
    p.add_argument("--sim-time-s", type=float, default=None, help="simulated s per chain (default 1)")
    p.add_argument("--growth", type=float, nargs="*", default=None, help="simulated s of the 3-node series")
    p.add_argument("--params-json", default=None, help="overrides of the peer's DEFAULTS (JSON object)")
    p.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    p.add_argument("--out", type=Path, default=RESULTS / "repeater_peer.json")
    args = p.parse_args(argv)

    python = find_peer_python(args.peer_python) or setup_peer(print)
    version = peer_version(python)
    if version is None:
        print(f"no `sequence` importable by {python}", file=sys.stderr)
        return 2
    pinned = None if args.no_pin else pin_to_one_core()
    sim_time_s = args.sim_time_s or (0.2 if args.quick else 1.0)
    growth = tuple(args.growth) if args.growth else ((0.2, 0.4, 0.8) if args.quick else (1.0, 2.0, 4.0))
    params = json.loads(args.params_json) if args.params_json else None
    result = run_repeater_peers(
        python, args.seed, sim_time_s=sim_time_s, growth_sim_times_s=growth, params=params, log=print
    )
    for label in ("chains", "growth"):
        for r in result[label]:
            print(
                f"{label:7s} {r['nodes']} nodes, {r['simulated_s']:g} sim s: {r['pairs']} pairs in "
                f"{r['wall_s']:.1f} wall s ({r['cpu_s']:.1f} CPU s) = {r['pairs_per_wall_s']:.2f} pairs/wall-s "
                f"({r['pairs_per_cpu_s']:.2f} per CPU s), "
                f"{r['pairs_per_sim_s']:.1f} pairs/sim-s, mean F {r['mean_fidelity']:.4f}"
            )
    for error in result["errors"]:
        print(f"failed: {error}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {"peer_version": version, "machine": machine_info(pinned)} | result
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
