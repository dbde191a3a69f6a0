"""End-to-end pairs per wall-second: the event-driven chain (``network.repeater_events``) against the vectorised
sampler (``entanglement.chain.sample_chain``) on the same models, in the same run.

Models: the ``delft-nv`` preset, 3 and 5 nodes 50 km apart (one communication qubit per node, T1/T2 memories,
gate swaps; the chain of the SeQUeNCe baseline in ``FACTS.md``), with and without a 30 s cut-off (a link takes
~37 s); and an abstract chain of parallel nodes (p = 0.1 per attempt, swaps succeeding with 0.5, Werner links,
a cut-off of 20 attempts). Each figure is the best of ``--repeats`` runs, pinned to one core::

    python benchmarks/repeater_events_bench.py [--pairs 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from machine import pin_to_one_core
from qinternet.entanglement.chain import ChainModel, ElementaryLink, sample_chain
from qinternet.network.repeater import compile_chain
from qinternet.network.repeater_events import run_events
from qinternet.params.repeater_presets import repeater_preset

SPACING_KM = 50.0
"""Elementary link length of the preset chains, km."""


def _abstract(nodes: int) -> ChainModel:
    w0 = 0.98
    link = ElementaryLink(success_prob=0.1, attempt_period_s=1e-3, state=(0.25 + 0.75 * w0, *([0.25 * (1 - w0)] * 3)))
    return ChainModel(links=nodes - 1, link=link, swap_success_prob=0.5, cutoff_s=20e-3)


def _best_rate(run: Callable[[], object], pairs: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return pairs / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5000, help="pairs per event-driven run (the sampler draws 20x)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cpu = pin_to_one_core()
    print(f"pinned to cpu {cpu}; pairs per wall-second, best of {args.repeats}")
    print(f"{'model':<28} {'nodes':>5} {'sampler':>12} {'nested':>10} {'asap':>10} {'sampler/nested':>15}")
    preset = repeater_preset("delft-nv")
    for nodes in (3, 5):
        models = {
            "delft-nv": compile_chain(preset, nodes=nodes, length_km=SPACING_KM * (nodes - 1)),
            "delft-nv, cut-off 30 s": compile_chain(
                preset, nodes=nodes, length_km=SPACING_KM * (nodes - 1), cutoff_s=30.0
            ),
            "abstract (parallel)": _abstract(nodes),
        }
        for name, model in models.items():
            many = 20 * args.pairs
            draw = partial(sample_chain, model, many, np.random.default_rng(1))
            sampler = _best_rate(draw, many, args.repeats)
            nested = _best_rate(partial(run_events, model, args.pairs, 1, "nested"), args.pairs, args.repeats)
            asap = _best_rate(partial(run_events, model, args.pairs, 1, "asap"), args.pairs, args.repeats)
            print(f"{name:<28} {nodes:>5} {sampler:>12,.0f} {nested:>10,.0f} {asap:>10,.0f} {sampler / nested:>15,.0f}")


if __name__ == "__main__":
    main()
