"""Peer benchmark: BB84 pulse throughput of SeQUeNCe (discrete-event simulator).

What is measured
----------------
Two SeQUeNCe ``QKDNode`` objects (Alice -> Bob) run the sifting-only BB84
protocol (``stack_size=1``: no Cascade, no privacy amplification) for a fixed
simulated duration.  Only ``Timeline.run()`` is timed (``time.perf_counter``);
building the topology and ``Timeline.init()`` are excluded.  The script prints
ONE JSON object to stdout with, among others:

* ``pulses_sent``   -- pulse slots actually emitted by Alice's light source
                       (counted by wrapping ``LightSource.emit``).  SeQUeNCe
                       starts emitting one classical delay (L / 2e8 m/s) after
                       t = 0, so this is frequency x (sim time - delay),
                       rounded up to whole batches,
* ``sifted_bits``   -- sifted key bits completed at Alice (basis-matched slots
                       whose MATCHING_INDICES message arrived before the end;
                       pulses in the last ~photon delay + 3 classical delays
                       are emitted but never sifted),
* ``qber``          -- error rate of those sifted bits (Alice vs Bob),
* ``wall_s`` and ``pulses_per_wall_s`` (= pulses_sent / wall_s).

SeQUeNCe configuration (GYS 2004 parameter set, Gobby/Yuan/Shields APL 84, 3762)
-------------------------------------------------------------------------------
* QuantumChannels Alice->Bob (and an unused Bob->Alice one, which SeQUeNCe's
  BB84 needs for its delay bookkeeping): attenuation 0.21 dB/km (SeQUeNCe unit: dB/m, so
  2.1e-4), length = ``--distance-km``; ``polarization_fidelity = 1 - 2 e_det``
  with e_det = 3.3 % (SeQUeNCe replaces the state by a random real polarisation
  with probability 1 - fidelity, which yields a 50 % error on those photons).
* ClassicalChannels in both directions, same length (no extra delay).
* LightSource (Alice): polarisation encoding, 1550 nm, ``--frequency-hz``
  (default 8e7 Hz = SeQUeNCe's default), Poissonian mean photon number 0.48.
* QSDetectorPolarization (Bob): both detectors efficiency 4.5 %, free-running
  dark-count *rate* chosen so that the total per-slot dark probability is
  Y0 = 1.7e-6 (i.e. ``Y0 * f / 2`` Hz per detector), SeQUeNCe default
  count rate 25 MHz and time resolution 150 ps.
* BB84 batch ("key") length ``--key-length`` (default 240 bits): SeQUeNCe
  emits batches of key_length / mu pulses (= 500 pulses for mu = 0.48, an
  integer, so there is no gap between batches).

Seeding: node RNGs (``Node.set_seed``), the *global* ``numpy.random`` state
(SeQUeNCe's BB84 draws bases/bits from it) and the channel's noise RNG (the
QuantumChannel has no owner node, so it would fall back to an unseeded
``default_rng()``; we attach it to Alice) are all seeded from ``--seed``.

Usage (run with the SeQUeNCe venv's interpreter, not the qinternet one)::

    /work/.cache/sequence-venv/bin/python benchmarks/peers/sequence_bb84.py \
        --distance-km 50 --sim-time-s 0.015 --seed 1
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import platform
import sys
import time
from typing import Any

import numpy as np
from sequence.components.detector import QSDetector
from sequence.components.light_source import LightSource
from sequence.components.optical_channel import ClassicalChannel, QuantumChannel
from sequence.constants import SPEED_OF_LIGHT
from sequence.kernel.event import Event
from sequence.kernel.process import Process
from sequence.kernel.timeline import Timeline
from sequence.qkd.BB84 import BB84, pair_bb84_protocols
from sequence.topology.node import QKDNode

PS_PER_S: float = 1e12
DEFAULT_SIM_TIME_S: float = 0.015  # 1.2e6 pulse slots at 80 MHz: ~10 s wall at 50 km

# GYS 2004 parameter set
ATTENUATION_DB_PER_KM: float = 0.21
DETECTOR_EFFICIENCY: float = 0.045
DARK_COUNT_PROB_PER_SLOT: float = 1.7e-6  # Y0, whole detection system
MEAN_PHOTON_NUMBER: float = 0.48
MISALIGNMENT_ERROR: float = 0.033


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--distance-km", type=float, default=50.0)
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--sim-time-s",
        type=float,
        default=None,
        help=f"simulated emission time (default {DEFAULT_SIM_TIME_S})",
    )
    g.add_argument(
        "--pulses",
        type=int,
        default=None,
        help="pulse slots to emit (sim time = classical delay + pulses / frequency)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--frequency-hz", type=float, default=8e7)
    p.add_argument("--mean-photon-number", type=float, default=MEAN_PHOTON_NUMBER)
    p.add_argument("--detector-efficiency", type=float, default=DETECTOR_EFFICIENCY)
    p.add_argument(
        "--dark-count-prob",
        type=float,
        default=DARK_COUNT_PROB_PER_SLOT,
        help="total dark-count probability per pulse slot (Y0)",
    )
    p.add_argument(
        "--misalignment",
        type=float,
        default=MISALIGNMENT_ERROR,
        help="optical error rate e_det (polarization_fidelity = 1 - 2 e_det)",
    )
    p.add_argument(
        "--key-length",
        type=int,
        default=240,
        help="BB84 key/batch length; each batch is key_length/mu pulses",
    )
    return p.parse_args(argv)


def qsdetector_of(node: QKDNode) -> QSDetector:
    """Return the node's QSDetector.

    Note: ``QKDNode.update_detector_params`` compares ``type(c) is QSDetector``
    and therefore silently does nothing for ``QSDetectorPolarization`` in 1.3.1,
    so detectors must be configured on the QSDetector component directly.
    """
    for component in node.components.values():
        if isinstance(component, QSDetector):
            return component
    raise RuntimeError(f"{node.name} has no QSDetector")


def lightsource_of(node: QKDNode) -> LightSource:
    """Return the node's LightSource."""
    for component in node.components.values():
        if isinstance(component, LightSource):
            return component
    raise RuntimeError(f"{node.name} has no LightSource")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the two-node BB84 set-up, run it and return the result record."""
    freq = float(args.frequency_hz)
    distance_m = args.distance_km * 1e3
    # Alice starts emitting only after one classical-channel delay (her
    # BEGIN_PHOTON_PULSE message must reach Bob first).
    emission_start_s = distance_m / SPEED_OF_LIGHT / PS_PER_S
    if args.pulses is not None:
        sim_time_s = emission_start_s + args.pulses / freq
    else:
        sim_time_s = args.sim_time_s if args.sim_time_s is not None else DEFAULT_SIM_TIME_S
    sim_time_ps = round(sim_time_s * PS_PER_S)

    # SeQUeNCe's BB84 draws bases/bits from the legacy global numpy RNG.
    np.random.seed(args.seed)  # noqa: NPY002
    tl = Timeline(sim_time_ps)

    alice = QKDNode("alice", tl, stack_size=1, seed=args.seed)
    bob = QKDNode("bob", tl, stack_size=1, seed=args.seed + 1)

    source = lightsource_of(alice)
    source.frequency = freq
    source.mean_photon_num = args.mean_photon_number

    dark_rate_per_detector = args.dark_count_prob * freq / 2.0  # Hz
    qsd = qsdetector_of(bob)
    for idx in range(len(qsd.detectors)):
        qsd.update_detector_params(idx, "efficiency", args.detector_efficiency)
        qsd.update_detector_params(idx, "dark_count", dark_rate_per_detector)

    pol_fidelity = 1.0 - 2.0 * args.misalignment
    # Bob's BB84 reads the photon delay from *his* qchannel to Alice, so a
    # (photon-free) reverse quantum channel is required as well.
    for src, dst in ((alice, bob), (bob, alice)):
        qc = QuantumChannel(
            f"qc.{src.name}.{dst.name}",
            tl,
            attenuation=ATTENUATION_DB_PER_KM / 1e3,
            distance=distance_m,
            polarization_fidelity=pol_fidelity,
            frequency=freq,
        )
        qc.set_ends(src, dst.name)
        qc.owner = src  # otherwise polarisation noise uses an unseeded default_rng()
        cc = ClassicalChannel(f"cc.{src.name}.{dst.name}", tl, distance=distance_m)
        cc.set_ends(src, dst.name)

    bb84_a: BB84 = alice.protocol_stack[0]
    bb84_b: BB84 = bob.protocol_stack[0]
    pair_bb84_protocols(bb84_a, bb84_b)

    # count emitted pulse slots (one emit() call per batch, negligible overhead)
    pulse_count = [0]
    original_emit = source.emit

    def counting_emit(state_list: list[Any]) -> None:
        pulse_count[0] += len(state_list)
        original_emit(state_list)

    source.emit = counting_emit  # type: ignore[method-assign]

    tl.schedule(Event(0, Process(bb84_a, "push", [args.key_length, math.inf, sim_time_ps])))
    tl.init()

    t0 = time.perf_counter()
    tl.run()
    wall_s = time.perf_counter() - t0

    # sifted bits = completed keys + leftover bits (Bob's list may be ahead of Alice's)
    keys_done = len(bb84_a.error_rates)
    leftover_a = list(bb84_a.key_bits or [])
    leftover_b = list(bb84_b.key_bits or [])[: len(leftover_a)]
    sifted = keys_done * args.key_length + len(leftover_a)
    errors = sum(round(e * args.key_length) for e in bb84_a.error_rates)
    errors += sum(int(a != b) for a, b in zip(leftover_a, leftover_b, strict=False))
    pulses = pulse_count[0]

    return {
        "peer": "SeQUeNCe",
        "peer_version": importlib.metadata.version("sequence"),
        "python_version": platform.python_version(),
        "protocol": "BB84 sifting only (no Cascade), polarization encoding",
        "distance_km": args.distance_km,
        "sim_time_s": sim_time_s,
        "seed": args.seed,
        "pulses_sent": pulses,
        "pulses_nominal": round(freq * max(sim_time_s - emission_start_s, 0.0)),
        "emission_start_s": emission_start_s,
        "photons_emitted": source.photon_counter,
        "sifted_bits": sifted,
        "sifted_per_pulse": sifted / pulses if pulses else 0.0,
        "sifted_errors": errors,
        "qber": errors / sifted if sifted else None,
        "keys_completed": keys_done,
        "events_executed": tl.run_counter,
        "wall_s": wall_s,
        "pulses_per_wall_s": pulses / wall_s if wall_s > 0 else None,
        "config": {
            "frequency_hz": freq,
            "mean_photon_number": args.mean_photon_number,
            "attenuation_db_per_km": ATTENUATION_DB_PER_KM,
            "channel_transmittance": 10 ** (-ATTENUATION_DB_PER_KM * args.distance_km / 10),
            "detector_efficiency": args.detector_efficiency,
            "dark_count_prob_per_slot": args.dark_count_prob,
            "dark_count_rate_hz_per_detector": dark_rate_per_detector,
            "detector_count_rate_hz": qsd.detectors[0].count_rate,
            "detector_time_resolution_ps": qsd.detectors[0].time_resolution,
            "misalignment_error": args.misalignment,
            "polarization_fidelity": pol_fidelity,
            "key_length": args.key_length,
            "pulses_per_batch": round(args.key_length / args.mean_photon_number),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the benchmark and print one JSON object."""
    result = run(parse_args(argv))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
