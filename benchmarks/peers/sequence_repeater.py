"""Peer benchmark: a linear repeater chain in SeQUeNCe (run with the SeQUeNCe venv's python).

What is measured
----------------
A chain of ``--nodes`` ``QuantumRouter`` nodes ``r00 - r01 - ... `` spaced ``--spacing-km`` apart, with a
``BSMNode`` in the middle of every link (SeQUeNCe's ``meet_in_the_middle`` quantum connection, built by
``RouterNetTopo``), in the Bell-diagonal-state formalism with single-heralded entanglement generation,
Bell-diagonal swapping and BBPSSW purification (SeQUeNCe's own protocol classes, unmodified).  The first
router asks its ``NetworkManager`` (RSVP over static routing) for end-to-end entanglement with the last
router: ``RequestApp.start(last, start, end, memory_size, target_fidelity)``; the reservation's rules then
generate elementary links on every memory, swap them in SeQUeNCe's nested order and purify any link whose
fidelity is below the target.  A delivered pair is one ``RequestApp.get_memory`` counts at the initiator
(remote node = the responder, fidelity >= target): SeQUeNCe's own end-to-end throughput.

Only ``Timeline.run()`` is timed (``time.perf_counter``, and the process's CPU time ``time.process_time`` as
``cpu_s``, which other jobs on a shared machine disturb less); building the topology and ``Timeline.init()``
are reported separately (``build_s``).  The reservation starts at ``--warmup-s`` (RSVP needs a few
classical round trips) and lasts ``--sim-time-s``; the timeline stops when it ends.

The script prints ONE JSON line:
``{peer, version, nodes, spacing_km, simulated_s, wall_s, pairs, pairs_per_wall_s, pairs_per_sim_s,
mean_fidelity, parameters, ...}`` plus diagnostics (per-link generation attempts and successes, swaps,
purifications, expired memories, the attempt period SeQUeNCe's message sequence implies).

Default parameters (``DEFAULTS``; a near-term set chosen so that the chain delivers pairs at 50 km spacing)
--------------------------------------------------------------------------------------------------------
* memory (``MemoryArray`` template): photon emission-and-collection efficiency 0.9 (SeQUeNCe's ``efficiency``:
  the emitted photon is lost with probability 1 - efficiency), coherence time 1 s (SeQUeNCe's
  ``coherence_time``: a depolarising Pauli channel of rate 1/T on each stored qubit, plus a hard expiry T
  after the memory's emission), raw (heralded) fidelity 0.95 (Werner: the three other Bell states share
  0.05), excitation frequency 80 MHz (SeQUeNCe's default; it does not limit anything here, attempts are
  milliseconds apart);
* detectors of the midpoint ``SingleHeraldedBSM`` (two): efficiency 0.9, dark counts 10 /s, count rate 100 MHz
  (dead time 10 ns), time resolution 150 ps (superconducting-nanowire class; the resolution is SeQUeNCe's
  default); the BSM's linear-optics success probability 0.5.  The count rate matters: SeQUeNCe emits the
  parallel memory pairs of a link in consecutive 12.5 ns bins of its 80 MHz quantum channel and they share the
  two detectors, so with its default 25 MHz (40 ns dead time) a click blinds the detector for the next three
  pairs and the success probability per attempt drops by ~9 % at 10 memories (measured: 0.0294 instead of
  0.0328 on one link); a dead time under 12.5 ns keeps the pairs independent;
* fibre: 0.2 dB/km, light in fibre 2e8 m/s (SeQUeNCe's constant); classical channels between every pair of
  routers, as long as the fibre between them (delay = distance / 2e8 m/s);
* swapping: success probability 1, node gate fidelity 0.99 and measurement fidelity 0.99 (in the BDS formalism
  SeQUeNCe's swap degradation is these two numbers; ``swapping_degradation`` is only read by its circuit
  formalism and the BDS swap class rejects it);
* request: memory size 10 (10 memories per link at every node: 10 at the ends, 20 inside), target fidelity
  0.5 (below every fidelity the default chain produces, so SeQUeNCe never purifies and every delivered pair
  counts; raise it to make SeQUeNCe purify with BBPSSW until the target).

``--params-json`` (a JSON object, or a path to a file holding one) overrides any of them by key; the
record's ``parameters`` holds the values used, so that qinternet can be configured identically.  What
SeQUeNCe does with each of them (its generation, decoherence, expiry and swap models, read from its source)
is summarised in benchmarks/README.md, "The repeater-chain peer".

Why an optimistic memory efficiency: SeQUeNCe's cost is per generation attempt (about ten events each), so
its pairs per wall-second are proportional to the success probability per attempt, 0.5 (eta_m eta_f eta_d)^2;
a low efficiency would only make the peer look slower.

Seeding: every node (routers and BSM nodes) gets its own seed from ``numpy.random.SeedSequence(seed)``;
SeQUeNCe draws all its randomness from the nodes' generators here, so a run is repeatable for a given seed,
and runs with different seeds share no stream (with ``seed + index`` they did: seeds 1, 3 and 4 reused three
BSM streams, and an unlucky one made the 5-node success fraction look 3 sigma low in all three).

Usage (with the SeQUeNCe venv's interpreter, not the qinternet one)::

    .bench-venv/sequence/bin/python benchmarks/peers/sequence_repeater.py --nodes 3 --sim-time-s 1
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from sequence.app.request_app import RequestApp
from sequence.components.memory import Memory
from sequence.constants import BELL_DIAGONAL_STATE_FORMALISM, SINGLE_HERALDED, SPEED_OF_LIGHT
from sequence.entanglement_management.generation import EntanglementGenerationA, EntanglementGenerationB
from sequence.entanglement_management.generation.single_heralded import SingleHeraldedA
from sequence.entanglement_management.purification import PurificationProtocol
from sequence.entanglement_management.swapping import EntanglementSwappingA, EntanglementSwappingB
from sequence.entanglement_management.swapping.swapping_bds import EntanglementSwappingA_BDS
from sequence.topology.node import QuantumRouter
from sequence.topology.router_net_topo import RouterNetTopo

PS_PER_S: float = 1e12
M_PER_KM: float = 1e3
FIBRE_SPEED_M_PER_S: float = SPEED_OF_LIGHT * PS_PER_S  # 2e8 m/s: SeQUeNCe's light speed in fibre

DEFAULTS: dict[str, float | int] = {
    # memory (MemoryArray template)
    "memory_efficiency": 0.9,
    "memory_coherence_time_s": 1.0,
    "memory_raw_fidelity": 0.95,
    "memory_frequency_hz": 8e7,
    # the two detectors of each midpoint SingleHeraldedBSM
    "detector_efficiency": 0.9,
    "detector_dark_count_per_s": 10.0,
    "detector_count_rate_hz": 1e8,
    "detector_time_resolution_ps": 150,
    "bsm_success_probability": 0.5,
    # fibre
    "fibre_attenuation_db_per_km": 0.2,
    # swapping (node-level)
    "swap_success_probability": 1.0,
    "gate_fidelity": 0.99,
    "measurement_fidelity": 0.99,
    # the end-to-end request
    "request_memory_size": 10,
    "request_target_fidelity": 0.5,
}
INT_KEYS = frozenset({"request_memory_size", "detector_time_resolution_ps"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=3, help="routers in the chain, >= 2 (default 3)")
    p.add_argument("--spacing-km", type=float, default=50.0, help="router-to-router fibre length (default 50)")
    p.add_argument("--sim-time-s", type=float, default=1.0, help="simulated time of the request (default 1)")
    p.add_argument("--warmup-s", type=float, default=0.01, help="request start, after RSVP (default 0.01)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--params-json", default=None, help="JSON object (or a file with one) overriding DEFAULTS")
    for key, value in DEFAULTS.items():
        p.add_argument(
            "--" + key.replace("_", "-"), type=int if key in INT_KEYS else float, default=None, help=f"default {value}"
        )
    args = p.parse_args(argv)
    if args.nodes < 2:
        p.error("--nodes: must be at least 2")
    if args.sim_time_s <= 0 or args.warmup_s <= 0:
        p.error("--sim-time-s and --warmup-s: must be positive")
    return args


def resolve_parameters(args: argparse.Namespace) -> dict[str, float | int]:
    """DEFAULTS, overridden by --params-json, overridden by the individual options."""
    params: dict[str, float | int] = dict(DEFAULTS)
    if args.params_json:
        source = args.params_json
        text = Path(source).read_text() if not source.lstrip().startswith("{") else source
        given = json.loads(text)
        unknown = sorted(set(given) - set(DEFAULTS))
        if unknown:
            raise SystemExit(f"--params-json: unknown keys {unknown}; known: {sorted(DEFAULTS)}")
        params.update(given)
    for key in DEFAULTS:
        value = getattr(args, key)
        if value is not None:
            params[key] = value
    for key in INT_KEYS:
        params[key] = int(params[key])
    return params


def router_name(index: int) -> str:
    """Zero-padded, so that names sort as the chain does (SeQUeNCe's generation makes the larger name primary)."""
    return f"r{index:02d}"


def chain_config(nodes: int, spacing_km: float, params: dict[str, float | int], seed: int) -> dict[str, Any]:
    """The RouterNetTopo configuration of the chain."""
    memory = {
        "fidelity": params["memory_raw_fidelity"],
        "frequency": params["memory_frequency_hz"],
        "efficiency": params["memory_efficiency"],
        "coherence_time": params["memory_coherence_time_s"],
    }
    detector = {
        "efficiency": params["detector_efficiency"],
        "dark_count": params["detector_dark_count_per_s"],
        "count_rate": params["detector_count_rate_hz"],
        "time_resolution": params["detector_time_resolution_ps"],
    }
    templates = {
        "router": {
            "MemoryArray": memory,
            "EntanglementSwapping": {"swapping_success_prob": params["swap_success_probability"]},
        },
        "bsm": {
            "encoding_type": "single_heralded",
            "SingleHeraldedBSM": {
                "detectors": [dict(detector), dict(detector)],
                "success_rate": params["bsm_success_probability"],
            },
        },
    }
    size = int(params["request_memory_size"])
    spacing_m = spacing_km * M_PER_KM
    # one independent stream per node: routers first, then the BSM node of each link
    node_seeds = [int(x) for x in np.random.SeedSequence(seed).generate_state(2 * nodes - 1)]
    node_list = [
        {
            "name": router_name(i),
            "type": RouterNetTopo.QUANTUM_ROUTER,
            "seed": node_seeds[i],
            # the ends hold one side of a link, inner routers two (RSVP reserves exactly this)
            "memo_size": size if i in (0, nodes - 1) else 2 * size,
            "template": "router",
        }
        for i in range(nodes)
    ]
    qconnections = [
        {
            "node1": router_name(i),
            "node2": router_name(i + 1),
            "attenuation": params["fibre_attenuation_db_per_km"] / M_PER_KM,  # SeQUeNCe: dB/m
            "distance": spacing_m,
            "type": RouterNetTopo.MEET_IN_THE_MID,
            "seed": node_seeds[nodes + i],
            "template": "bsm",
        }
        for i in range(nodes - 1)
    ]
    cconnections = [
        {"node1": router_name(i), "node2": router_name(j), "distance": (j - i) * spacing_m}
        for i in range(nodes)
        for j in range(i + 1, nodes)
    ]
    return {
        "templates": templates,
        "nodes": node_list,
        "qconnections": qconnections,
        "cconnections": cconnections,
        "formalism": BELL_DIAGONAL_STATE_FORMALISM,
        "is_parallel": False,
    }


class CountingRequestApp(RequestApp):
    """SeQUeNCe's RequestApp, also keeping the fidelity of every pair it counts (at the initiator)."""

    def __init__(self, node: QuantumRouter) -> None:
        super().__init__(node)
        self.fidelities: list[float] = []

    def get_memory(self, info: Any) -> None:
        before = self.memory_counter
        fidelity = info.fidelity
        super().get_memory(info)
        if self.memory_counter > before:
            self.fidelities.append(float(fidelity))


def install_counters() -> Counter[str]:
    """Count generation attempts/successes, swaps and purifications by wrapping SeQUeNCe's methods.

    One wrapper call per protocol step (~0.1 us) against SeQUeNCe's tens of microseconds per step.
    """
    counts: Counter[str] = Counter()
    emit, succeed = SingleHeraldedA.emit_event, SingleHeraldedA._entanglement_succeed
    swap_start = EntanglementSwappingA_BDS.start
    expire = Memory.expire

    def counted_emit(self: SingleHeraldedA) -> None:
        counts["emissions"] += 1  # one per memory per attempt: two per link attempt
        emit(self)

    def counted_succeed(self: SingleHeraldedA) -> None:
        counts["link_successes_x2"] += 1
        succeed(self)

    def counted_swap(self: EntanglementSwappingA_BDS) -> None:
        counts["swaps"] += 1
        swap_start(self)
        counts["swap_successes"] += int(self.is_success)

    def counted_expire(self: Memory) -> None:
        counts["memory_expiries"] += 1  # every hard expiry (cut-off), whoever holds the memory
        expire(self)

    SingleHeraldedA.emit_event = counted_emit  # type: ignore[method-assign]
    SingleHeraldedA._entanglement_succeed = counted_succeed  # type: ignore[method-assign]
    EntanglementSwappingA_BDS.start = counted_swap  # type: ignore[method-assign]
    Memory.expire = counted_expire  # type: ignore[method-assign]
    return counts


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the chain, run the request and return the record."""
    params = resolve_parameters(args)
    # SeQUeNCe's protocol families are chosen by class-level globals: single-heralded generation (the only
    # one writing Bell-diagonal states), Bell-diagonal swapping and BBPSSW.
    EntanglementGenerationA.set_global_type(SINGLE_HERALDED)
    EntanglementGenerationB.set_global_type(SINGLE_HERALDED)
    EntanglementSwappingA.set_formalism(BELL_DIAGONAL_STATE_FORMALISM)
    EntanglementSwappingB.set_formalism(BELL_DIAGONAL_STATE_FORMALISM)
    PurificationProtocol.set_formalism(BELL_DIAGONAL_STATE_FORMALISM)
    counts = install_counters()

    t_build = time.perf_counter()
    topo = RouterNetTopo(chain_config(args.nodes, args.spacing_km, params, args.seed))
    tl = topo.get_timeline()
    routers: list[QuantumRouter] = sorted(topo.get_nodes_by_type(RouterNetTopo.QUANTUM_ROUTER), key=lambda r: r.name)
    for router in routers:  # RouterNetTopo does not read gate/measurement fidelities from the config
        router.gate_fid = float(params["gate_fidelity"])
        router.meas_fid = float(params["measurement_fidelity"])
    start_ps = round(args.warmup_s * PS_PER_S)
    end_ps = start_ps + round(args.sim_time_s * PS_PER_S)
    tl.stop_time = end_ps
    initiator, responder = routers[0], routers[-1]
    app = CountingRequestApp(initiator)
    CountingRequestApp(responder)  # the responder needs an app to consume its halves
    tl.init()
    app.start(
        responder.name, start_ps, end_ps, int(params["request_memory_size"]), float(params["request_target_fidelity"])
    )
    build_s = time.perf_counter() - t_build

    t0, c0 = time.perf_counter(), time.process_time()
    tl.run()
    wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0

    pairs = app.memory_counter
    fidelities = app.fidelities
    mean_f = sum(fidelities) / len(fidelities) if fidelities else None
    std_f = (
        math.sqrt(sum((f - mean_f) ** 2 for f in fidelities) / (len(fidelities) - 1))
        if mean_f is not None and len(fidelities) > 1
        else None
    )

    links = args.nodes - 1
    half_m = args.spacing_km * M_PER_KM / 2
    eta_fibre_arm = 10 ** (-params["fibre_attenuation_db_per_km"] * (half_m / M_PER_KM) / 10)
    p_attempt = (
        params["bsm_success_probability"]
        * (params["memory_efficiency"] * eta_fibre_arm) ** 2
        * params["detector_efficiency"] ** 2
    )
    tau_s = args.spacing_km * M_PER_KM / FIBRE_SPEED_M_PER_S
    attempts = counts["emissions"] // 2
    successes = counts["link_successes_x2"] // 2
    return {
        "peer": "sequence",
        "version": importlib.metadata.version("sequence"),
        "python_version": platform.python_version(),
        "nodes": args.nodes,
        "spacing_km": args.spacing_km,
        "simulated_s": args.sim_time_s,
        "warmup_s": args.warmup_s,
        "seed": args.seed,
        "wall_s": wall_s,
        "build_s": build_s,
        "pairs": pairs,
        "pairs_per_wall_s": pairs / wall_s if wall_s > 0 else None,
        "pairs_per_sim_s": pairs / args.sim_time_s,
        "cpu_s": cpu_s,
        "pairs_per_cpu_s": pairs / cpu_s if cpu_s > 0 else None,
        "mean_fidelity": mean_f,
        "fidelity_std": std_f,
        "reservation_approved": app.reservation_result,
        "events_executed": tl.run_counter,
        "events_per_wall_s": tl.run_counter / wall_s if wall_s > 0 else None,
        "elementary_links": {
            "links": links,
            "attempts": attempts,
            "successes": successes,
            "success_fraction": successes / attempts if attempts else None,
            "expected_success_probability": p_attempt,
            "attempt_period_s": 4 * tau_s,
        },
        "swaps": counts["swaps"],
        "swap_successes": counts["swap_successes"],
        "memory_expiries": counts["memory_expiries"],
        "parameters": params
        | {
            "fibre_speed_m_per_s": FIBRE_SPEED_M_PER_S,
            "formalism": BELL_DIAGONAL_STATE_FORMALISM,
            "generation": SINGLE_HERALDED,
            "purification": "BBPSSW (bell_diagonal), until_target",
            "swapping_order": "SeQUeNCe nested (RSVP rule generator)",
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the benchmark and print one JSON object."""
    record = run(parse_args(argv))
    sys.stdout.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
