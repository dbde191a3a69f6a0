"""KMEs as separate processes (``qinternet kme``): deliveries/s and latency over a direct link and a relayed path.

``python benchmarks/kme_processes_bench.py [--hops 1 5] [--workers 8] [--seconds 8] [--fill-s 6]``.

- **Network**: a line of ``hops`` + 1 nodes (users at the ends, trusted relays between), links of 10 km with
  0.05 s blocks; one ``qinternet kme`` process per node (each its own SQLite store, mutual TLS between them)
  and one ``qinternet device`` per link. The devices run ``fill_s`` seconds to fill the links, then are
  stopped, so that the measured window has relay traffic only (their pushes would otherwise share the two
  cores).
- **Load** (as ``kms_bench.py``'s): ``workers`` SAE pairs, each looping ``GET enc_keys?number=1&size=256``
  at the first node's KME (the master) and ``GET dec_keys?key_ID=...`` at the last node's (the slave),
  checking that both got the same key; a **delivery** is one such pair. With 1 hop the key crosses one link
  (no relay); with 5, the master's KME relays it through 4 KMEs, each committing its step before it sends
  on. Latencies from sending a request to reading its body; ``enc`` is the relay's.
- **Baseline in the same run**: the same line served in one process by ``qinternet serve`` (one store, relay
  in one transaction), same load.

Goal (issue 16): relayed deliveries >= 300/s with p99 <= 50 ms on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kms_bench import Latency, _client_context, _RawConnection
from qinternet.kms.pki import init_pki

GOAL_PER_S = 300.0
GOAL_P99_MS = 50.0


def _scenario(hops: int) -> str:
    nodes = [
        f"  - {{id: n{i}, kind: {'user' if i in (0, hops) else 'trusted-relay'}, lat_deg: 0, lon_deg: {i / 10}}}"
        for i in range(hops + 1)
    ]
    links = [f"  - {{id: l{i}, a: n{i}, b: n{i + 1}, length_km: 10, block_s: 0.05}}" for i in range(hops)]
    return "name: line\nseed: 1\nnodes:\n" + "\n".join(nodes) + "\nlinks:\n" + "\n".join(links) + "\n"


def _free_base(n: int) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.servers import free_ports

    return free_ports(n)


def _wait(paths: list[Path], procs: list[subprocess.Popen[bytes]], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(p.exists() for p in paths):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise RuntimeError("a process did not start")
        time.sleep(0.1)


async def _worker(
    enc: Any, dec: Any, enc_path: str, dec_path: str, start: float, stop: float, out: dict[str, Any]
) -> None:
    while (t0 := time.perf_counter()) < stop:
        status, body = await enc.get(enc_path)
        t1 = time.perf_counter()
        if status != 200:
            out["failures"] += 1
            await asyncio.sleep(0.01)
            continue
        [key] = json.loads(body)["keys"]
        status, body = await dec.get(dec_path + key["key_ID"])
        t2 = time.perf_counter()
        if status != 200 or json.loads(body)["keys"] != [key]:
            out["failures"] += 1
            continue
        if t0 >= start and t2 <= stop:
            out["enc"].append(t1 - t0)
            out["delivery"].append(t2 - t0)


async def _load(
    pki: Path, ports: tuple[int, int], names: tuple[str, str], workers: int, seconds: float
) -> dict[str, Any]:
    master, slave = _client_context(pki, f"sae-{names[0]}"), _client_context(pki, f"sae-{names[1]}")
    pairs = [
        (await _RawConnection.open(ports[0], master), await _RawConnection.open(ports[1], slave))
        for _ in range(workers)
    ]
    out: dict[str, Any] = {"enc": [], "delivery": [], "failures": 0}
    start = time.perf_counter() + 1.0
    stop = start + seconds
    enc_path = f"/api/v1/keys/sae-{names[1]}/enc_keys?number=1&size=256"
    dec_path = f"/api/v1/keys/sae-{names[0]}/dec_keys?key_ID="
    await asyncio.gather(*(_worker(e, d, enc_path, dec_path, start, stop, out) for e, d in pairs))
    for e, d in pairs:
        await e.close()
        await d.close()
    return {
        "deliveries_per_s": len(out["delivery"]) / seconds,
        "enc": Latency.of(out["enc"]),
        "delivery": Latency.of(out["delivery"]),
        "failures": out["failures"],
    }


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def _ready_keys(folder: Path, node: str) -> int:
    """The fewest keys ``node``'s KME may send on one of its links."""
    import sqlite3

    try:
        with sqlite3.connect(folder / "state" / f"kme-{node}.db", timeout=5) as db:
            rows = db.execute(
                "SELECT peer_kme, COUNT(*) FROM link_keys WHERE sender = kme_id AND state = 'ready' GROUP BY peer_kme"
            ).fetchall()
    except sqlite3.Error:
        return 0
    return min((n for _, n in rows), default=0) if rows else 0


def _fill(folder: Path, nodes: list[str], keys: int, timeout_s: float) -> None:
    """Wait until every KME may send ``keys`` on each of its links (the ends have one link, the others two)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = [_ready_keys(folder, n) for n in nodes]
        links = [1 if n in (nodes[0], nodes[-1]) else 2 for n in nodes]
        if all(c >= keys for c in counts) and all(links):
            return
        time.sleep(1.0)
    print(f"# fill timed out: {[_ready_keys(folder, n) for n in nodes]} keys ready", file=sys.stderr)


def _pending(folder: Path, node: str) -> int:
    """The halves ``node``'s KME holds that wait for the partner's digest."""
    import sqlite3

    try:
        with sqlite3.connect(folder / "state" / f"kme-{node}.db", timeout=5) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM device_keys WHERE kme_id = ? AND state = 'pending'", (f"kme-{node}",)
            ).fetchone()
    except sqlite3.Error:
        return -1
    return int(row[0])


def _settle(folder: Path, nodes: list[str], timeout_s: float = 60.0) -> None:
    """Wait (at least 2 s) until the digests of the devices' last pushes are agreed: no KME's count of
    pending halves changed over the last second, so that the window has relay traffic only. (Halves whose
    partner half never came, the device stopped in between, stay pending; the sweep sends their digests
    again with back-off.)"""
    time.sleep(1.0)
    deadline = time.monotonic() + timeout_s
    before = [_pending(folder, n) for n in nodes]
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = [_pending(folder, n) for n in nodes]
        if now == before:
            return
        before = now
    print(f"# digests still being agreed after {timeout_s:g} s: {before} halves pending", file=sys.stderr)


def run_processes(
    hops: int, workers: int, seconds: float, fill_s: float, folder: Path, keys_per_direction: int = 4000
) -> dict[str, Any]:
    """The line of ``hops`` links as processes (module docstring)."""
    folder.mkdir()
    (folder / "line.yaml").write_text(_scenario(hops))
    nodes = [f"n{i}" for i in range(hops + 1)]
    init_pki(
        folder / "pki",
        kmes=[f"kme-{n}" for n in nodes],
        saes=[f"sae-{n}" for n in (nodes[0], nodes[-1])],
        devices=[f"dev-l{i}-n{j}" for i in range(hops) for j in (i, i + 1)],
    )
    base = _free_base(hops + 1)
    port = {n: base + i for i, n in enumerate(sorted(f"kme-{n}" for n in nodes))}
    log = (folder / "log.txt").open("ab")
    q = [sys.executable, "-m", "qinternet"]
    kmes = [
        subprocess.Popen(
            [
                *q,
                "kme",
                "--node",
                n,
                "--scenario",
                str(folder / "line.yaml"),
                "--pki",
                str(folder / "pki"),
                "--state-dir",
                str(folder / "state"),
                "--base-port",
                str(base),
                "--ready-file",
                str(folder / f"{n}.ready"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for n in nodes
    ]
    devices: list[subprocess.Popen[bytes]] = []
    try:
        _wait([folder / f"{n}.ready" for n in nodes], kmes)
        for i in range(hops):
            devices.append(
                subprocess.Popen(
                    [
                        *q,
                        "device",
                        f"l{i}",
                        "--scenario",
                        str(folder / "line.yaml"),
                        "--pki",
                        str(folder / "pki"),
                        "--kme-a",
                        f"https://localhost:{port[f'kme-n{i}']}",
                        "--kme-b",
                        f"https://localhost:{port[f'kme-n{i + 1}']}",
                        "--max-block-bits",
                        "131072",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            )
        _fill(folder, nodes, keys_per_direction, timeout_s=fill_s)
        _stop(devices)
        _settle(folder, nodes)
        ends = (port[f"kme-{nodes[0]}"], port[f"kme-{nodes[-1]}"])
        return asyncio.run(_load(folder / "pki", ends, (nodes[0], nodes[-1]), workers, seconds))
    finally:
        _stop([*devices, *kmes])


def run_in_process(hops: int, workers: int, seconds: float, folder: Path) -> dict[str, Any]:
    """The same line served by ``qinternet serve`` in one process (its links simulated, warmed up)."""
    folder.mkdir()
    (folder / "line.yaml").write_text(_scenario(hops))
    base = _free_base(hops + 1)
    ready = folder / "ready.json"
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qinternet",
            "serve",
            str(folder / "line.yaml"),
            "--pki",
            str(folder / "pki"),
            "--db",
            f"sqlite:///{folder / 'kms.db'}",
            "--base-port",
            str(base),
            "--ops-port",
            "0",
            "--warm-up",
            "30s",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "log.txt").open("ab"),
    )
    try:
        _wait([ready], [serve])
        urls = json.loads(ready.read_text())
        ends = (int(urls["kme-n0"].rsplit(":", 1)[1]), int(urls[f"kme-n{hops}"].rsplit(":", 1)[1]))
        return asyncio.run(_load(folder / "pki", ends, ("n0", f"n{hops}"), workers, seconds))
    finally:
        _stop([serve])


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures (JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--modes", nargs="+", default=["processes", "in-process"])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fill-s", type=float, default=180.0, help="longest wait for the links to fill")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="kme-bench-") as tmp:
        for hops in args.hops:
            for mode in args.modes:
                folder = Path(tmp) / f"{mode}-{hops}"
                if mode == "processes":
                    r = run_processes(hops, args.workers, args.seconds, args.fill_s, folder)
                else:
                    r = run_in_process(hops, args.workers, args.seconds, folder)
                row = {
                    "mode": mode,
                    "hops": hops,
                    "workers": args.workers,
                    "deliveries_per_s": round(r["deliveries_per_s"], 1),
                    "enc_p50_ms": round(r["enc"].p50_ms, 1),
                    "enc_p99_ms": round(r["enc"].p99_ms, 1),
                    "delivery_p99_ms": round(r["delivery"].p99_ms, 1),
                    "failures": r["failures"],
                    "cpus": os.cpu_count(),
                }
                row["goal_met"] = row["deliveries_per_s"] >= GOAL_PER_S and row["delivery_p99_ms"] <= GOAL_P99_MS
                print(json.dumps(row), flush=True)
                results.append(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
