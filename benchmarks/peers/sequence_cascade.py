"""Peer benchmark: SeQUeNCe's Cascade correcting given frames (run with the SeQUeNCe venv's python).

What is measured
----------------
SeQUeNCe 1.3.1's ``sequence.qkd.cascade.Cascade`` (Brassard-Salvail Cascade, ``w = 4`` passes, block
size ``k1 * 2^(pass - 1)``) between two ``QKDNode`` objects joined by classical channels, correcting
exactly the frames of an ``.npz`` file written by ``benchmarks/run.py`` (arrays ``alice`` and ``bob``,
uint8 0/1, shape (F, n)). SeQUeNCe normally gets its keys from BB84; here Alice's BB84 ``push`` is
replaced by a stub that hands the protocol the given keys instead (``Cascade.pop`` on both nodes, as
BB84 does when it finishes a key), so nothing but Cascade and SeQUeNCe's event kernel runs:

1. Cascade first asks its lower layer for one 10,000-bit key pair to estimate the error rate, from
   which Alice computes ``k1``. The stub gives a pair with exactly ``round(qber * 10000)`` differing
   bits, where ``qber`` is ``--qber`` (the same estimate qinternet's Cascade gets).
2. Then it asks for ``F`` keys of ``frame_len = n`` bits; the stub hands over the frames.
3. Alice sends the parities of every block of every pass; Bob runs BINARY through
   SEND_FOR_BINARY / RECEIVE_FOR_BINARY messages (both halves asked at each level) and the cascade,
   until his checksums all match, then announces KEY_IS_VALID.

``Timeline.run()`` is timed (``time.perf_counter``), which includes the checksum tables of every frame
(Cascade's own work) and excludes building the nodes and converting the frames to Python ints.

Disclosure: SeQUeNCe's ``disclosed_bits_counter`` counts only corrected bits, so the script counts
instead every parity Alice sends (the block checksums of all passes and every RECEIVE_FOR_BINARY
answer); ``leak_sent`` is that count and ``efficiency`` is ``leak_sent / sum_f n h(Q_f)``. Half of the
BINARY answers follow from the other half and the parent, so ``leak_needed`` (checksums plus half the
BINARY answers) and ``efficiency_needed`` are given too.

Seeding: SeQUeNCe's Cascade calls ``numpy.random.seed(pass_id)`` before shuffling the order of each pass
(the permutations are the same for every frame and every run); nothing else is random here.

Prints ONE JSON object on stdout.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sequence.components.optical_channel import ClassicalChannel
from sequence.kernel.event import Event
from sequence.kernel.process import Process
from sequence.kernel.timeline import Timeline
from sequence.qkd.BB84 import pair_bb84_protocols
from sequence.qkd.cascade import Cascade, CascadeMessage, CascadeMsgType, pair_cascade_protocols
from sequence.topology.node import QKDNode

ESTIMATION_BITS = 10_000  # SeQUeNCe's Cascade estimates the error rate on one key of this length
CHANNEL_M = 1_000.0  # classical channel length, m (only sets the simulated delay of a message)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=Path, required=True, help=".npz with uint8 arrays alice, bob of shape (F, n)")
    p.add_argument("--qber", type=float, required=True, help="error rate of the estimation key (sets k1)")
    p.add_argument("--seed", type=int, default=1, help="seed of the estimation key pair")
    return p.parse_args(argv)


def to_int(bits: NDArray[np.uint8]) -> int:
    """The Python int whose bit ``i`` is ``bits[i]`` (SeQUeNCe's key representation)."""
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def from_int(value: int, n: int) -> NDArray[np.uint8]:
    """The inverse of :func:`to_int` for an ``n``-bit key."""
    raw = np.frombuffer(value.to_bytes(-(-n // 8), "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:n]


def entropy(q: float) -> float:
    """Binary entropy, bits."""
    return 0.0 if q <= 0.0 or q >= 1.0 else -q * math.log2(q) - (1 - q) * math.log2(1 - q)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Correct the frames of ``args.frames`` with SeQUeNCe's Cascade and return the result record."""
    # Cascade.pop formats every key in decimal in a debug f-string (evaluated even when debug logging is
    # off); Python refuses ints of more than 4300 digits (about 14,000 bits) unless the limit is lifted.
    sys.set_int_max_str_digits(0)
    with np.load(args.frames) as data:
        alice_bits = np.asarray(data["alice"], dtype=np.uint8)
        bob_bits = np.asarray(data["bob"], dtype=np.uint8)
    frames, n = alice_bits.shape
    alice_keys = [to_int(row) for row in alice_bits]
    bob_keys = [to_int(row) for row in bob_bits]

    rng = np.random.default_rng(args.seed)
    est_alice = rng.integers(0, 2, ESTIMATION_BITS, dtype=np.uint8)
    flips = np.zeros(ESTIMATION_BITS, dtype=np.uint8)
    flips[rng.choice(ESTIMATION_BITS, round(args.qber * ESTIMATION_BITS), replace=False)] = 1
    est_pair = (to_int(est_alice), to_int(est_alice ^ flips))

    tl = Timeline()
    alice = QKDNode("alice", tl, stack_size=2, seed=args.seed)
    bob = QKDNode("bob", tl, stack_size=2, seed=args.seed + 1)
    for src, dst in ((alice, bob), (bob, alice)):
        ClassicalChannel(f"cc.{src.name}.{dst.name}", tl, distance=CHANNEL_M).set_ends(src, dst.name)
    pair_bb84_protocols(alice.protocol_stack[0], bob.protocol_stack[0])  # QKDNode.init checks the roles
    casc_a: Cascade = alice.protocol_stack[1]
    casc_b: Cascade = bob.protocol_stack[1]
    pair_cascade_protocols(casc_a, casc_b)
    for casc in (casc_a, casc_b):
        casc.frame_len = n

    def stub_push(length: int, key_num: int, run_time: float = math.inf) -> None:
        """Stands in for Alice's BB84: hand both Cascades their keys, as BB84 does when it has them."""
        if length == ESTIMATION_BITS:
            pairs = [est_pair]
        elif length == n:
            pairs = list(zip(alice_keys, bob_keys, strict=True))[: int(min(key_num, frames))]
        else:
            raise RuntimeError(f"unexpected key request of {length} bits")
        for key_a, key_b in pairs:
            casc_a.pop(key_a)
            casc_b.pop(key_b)

    alice.protocol_stack[0].push = stub_push  # type: ignore[method-assign]

    # Count every parity Alice sends, per key id (key 0 is the estimation key).
    checksum_bits: dict[int, int] = {}
    binary_answers: dict[int, int] = {}
    original_send = casc_a.send_by_cc

    def counting_send(message: CascadeMessage) -> None:
        if message.msg_type is CascadeMsgType.CHECKSUMS:
            checksum_bits[message.key_id] = sum(len(table) for table in message.checksums[1:])
        elif message.msg_type is CascadeMsgType.RECEIVE_FOR_BINARY:
            binary_answers[message.key_id] = binary_answers.get(message.key_id, 0) + 1
        original_send(message)

    casc_a.send_by_cc = counting_send  # type: ignore[method-assign]

    tl.schedule(Event(0, Process(casc_a, "push", [n, frames, math.inf])))
    tl.init()
    t0 = time.perf_counter()
    tl.run()
    wall_s = time.perf_counter() - t0

    per_frame = []
    for f in range(frames):
        key_id = f + 1
        done = key_id < len(casc_b.bits)
        corrected = from_int(casc_b.bits[key_id], n) if done else bob_bits[f]
        qber = float(np.count_nonzero(alice_bits[f] != bob_bits[f]) / n)
        per_frame.append(
            {
                "qber": qber,
                "checksum_bits": checksum_bits.get(key_id, 0),
                "binary_answers": binary_answers.get(key_id, 0),
                "residual_errors": int(np.count_nonzero(alice_bits[f] != corrected)),
            }
        )
    entropy_bits = sum(n * entropy(fr["qber"]) for fr in per_frame)
    sent = sum(fr["checksum_bits"] + fr["binary_answers"] for fr in per_frame)
    needed = sum(fr["checksum_bits"] + fr["binary_answers"] / 2 for fr in per_frame)
    return {
        "peer": "SeQUeNCe",
        "peer_version": importlib.metadata.version("sequence"),
        "python_version": platform.python_version(),
        "protocol": "sequence.qkd.cascade.Cascade (w=4) on given frames, BB84 replaced by a key stub",
        "frames": frames,
        "frame_bits": n,
        "qber_estimate": args.qber,
        "k1": casc_a.k1,
        "passes": len(casc_a.checksum_tables[1]) - 1 if len(casc_a.checksum_tables) > 1 else 0,
        "wall_s": wall_s,
        "events_executed": tl.run_counter,
        "corrected_bits_per_wall_s": frames * n / wall_s if wall_s > 0 else None,
        "leak_sent": sent,
        "leak_needed": needed,
        "efficiency": sent / entropy_bits if entropy_bits else None,
        "efficiency_needed": needed / entropy_bits if entropy_bits else None,
        "frame_errors": sum(fr["residual_errors"] > 0 for fr in per_frame),
        "residual_errors": sum(fr["residual_errors"] for fr in per_frame),
        "frames_reported_valid": len(casc_b.valid_keys),
        "per_frame": per_frame,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the benchmark and print one JSON object."""
    json.dump(run(parse_args(argv)), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
