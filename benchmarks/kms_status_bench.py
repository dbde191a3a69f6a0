"""Status against Get key on a scenario's longest relay path: one client, one keep-alive TLS connection.

``python benchmarks/kms_status_bench.py [--scenario beijing-shanghai] [--seconds S]``

The issue measured ``Status`` on ``beijing-shanghai``'s longest relay path (Beijing to Shanghai, 35 hops
through 34 trusted KMEs) at about 12 requests/s, p50 50-80 ms: it read every hop's pool in a database
session of its own. Since the store keeps the pools' levels in memory (``KeyStore.pool_level``), Status
reads no database at all; this script measures it against ``enc_keys`` on the same path in the same run,
the ratio being what to judge (FACTS.md: the machines swing).

- **Server**: the master's KME only (``Status`` and ``enc_keys`` are answered there; the relay is in the
  store), served as ``qinternet serve`` does (``kms_bench.py _serve``: a separate process, uvicorn,
  mutual TLS, uvloop when installed, ``gc.freeze()``), over a SQLite store whose every pool of the
  scenario holds :data:`POOL_BYTES` (no link simulation: the levels are what matters).
- **Load**: one client (``kms_bench._RawConnection``, TCP_NODELAY), requests one after another for
  ``seconds`` each after a warm-up: ``GET .../status``, then ``GET .../enc_keys?number=1&size=256``
  (whose keys stay reserved: nobody fetches them here).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kms_bench import Latency, _client_context, _free_port, _RawConnection, _run_loop, _Server

POOL_BYTES = 1 << 22
"""Key in every pool: 4 MiB, ~130,000 keys of 256 bits."""
_WARM_UP_S = 0.5


def longest_relay_path(scenario_name: str) -> tuple[str, str, list[str]]:
    """The master and slave SAEs whose KMEs are farthest apart in hops, and the path between them."""
    from qinternet.kms.feeder import topology_of
    from qinternet.network.catalogue import resolve_scenario

    topology = topology_of(resolve_scenario(scenario_name)[0])
    best: tuple[str, str, list[str]] | None = None
    for master, slave in itertools.permutations(sorted(topology.sae_kme), 2):
        path = topology.path(topology.sae_kme[master], topology.sae_kme[slave])
        if path is not None and (best is None or len(path) > len(best[2])):
            best = (master, slave, path)
    if best is None:
        raise ValueError(f"{scenario_name} has no relay path between two SAEs")
    return best


async def _time(port: int, context: Any, path: str, seconds: float) -> tuple[list[float], int]:
    """Latencies of ``path`` asked over and over for ``seconds`` (after a warm-up), and the failures."""
    connection = await _RawConnection.open(port, context)
    latencies: list[float] = []
    failures = 0
    start = time.perf_counter() + _WARM_UP_S
    stop = start + seconds
    while (t0 := time.perf_counter()) < stop:
        status, _ = await connection.get(path)
        t1 = time.perf_counter()
        failures += status != 200
        if t0 >= start:
            latencies.append(t1 - t0)
    await connection.close()
    return latencies, failures


def time_status_path(scenario_name: str = "beijing-shanghai", seconds: float = 3.0) -> dict[str, Any]:
    """Status and enc_keys on the longest relay path of ``scenario_name``: requests/s, latency, their ratios."""
    from qinternet.kms.feeder import topology_of
    from qinternet.kms.pki import init_pki
    from qinternet.kms.store import KeyStore
    from qinternet.network.catalogue import resolve_scenario

    master, slave, path = longest_relay_path(scenario_name)
    topology = topology_of(resolve_scenario(scenario_name)[0])
    with tempfile.TemporaryDirectory(prefix="kms-status-bench-") as tmp:
        folder = Path(tmp)
        pki = init_pki(folder / "pki", kmes=[path[0]], saes=[master])
        url = f"sqlite:///{folder / 'kms.db'}"
        store = KeyStore(url)
        for a, b in topology.links:
            store.add_key(a, b, bytes(POOL_BYTES))  # the levels matter here, not the bytes
        store.close()
        port = _free_port()
        config = {
            "kind": "path",
            "scenario": scenario_name,
            "kme": path[0],
            "db_url": url,
            "pki": str(pki.folder),
            "ports": {path[0]: port},
            "loop": "uvloop" if _has_uvloop() else "asyncio",
            "gc_freeze": True,
        }
        server = _Server(config, folder / "server.log")
        try:
            context = _client_context(pki.folder, master)
            runs = {
                name: _run_loop(_time(port, context, f"/api/v1/keys/{slave}/{route}", seconds))
                for name, route in (("status", "status"), ("enc_keys", "enc_keys?number=1&size=256"))
            }
        finally:
            server.stop()
    result: dict[str, Any] = {"scenario": scenario_name, "master": master, "slave": slave, "hops": len(path) - 1}
    for name, (latencies, failures) in runs.items():
        result[name] = {
            "requests_per_s": len(latencies) / seconds,
            "latency": _latency_dict(Latency.of(latencies)),
            "failures": failures,
        }
    status, enc = result["status"], result["enc_keys"]
    result["status_over_enc_keys"] = {
        "requests_per_s": status["requests_per_s"] / enc["requests_per_s"] if enc["requests_per_s"] else None,
        "p50": status["latency"]["p50_ms"] / enc["latency"]["p50_ms"] if enc["latency"]["p50_ms"] else None,
    }
    return result


def _latency_dict(latency: Latency) -> dict[str, float]:
    return {"count": latency.count, "p50_ms": latency.p50_ms, "p99_ms": latency.p99_ms, "mean_ms": latency.mean_ms}


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def status_table(result: dict[str, Any]) -> Any:
    """The two runs and their ratios as a Rich table."""
    from rich.table import Table

    table = Table(
        title=(
            f"{result['scenario']}: Status vs enc_keys, {result['master']} -> {result['slave']} "
            f"({result['hops']} hops), one client, one keep-alive TLS connection"
        )
    )
    for column in ("request", "req/s", "p50 ms", "p99 ms", "fail"):
        table.add_column(column, justify="left" if column == "request" else "right")
    for name in ("status", "enc_keys"):
        run = result[name]
        lat = run["latency"]
        table.add_row(
            name, f"{run['requests_per_s']:,.0f}", f"{lat['p50_ms']:.2f}", f"{lat['p99_ms']:.2f}", str(run["failures"])
        )
    ratio = result["status_over_enc_keys"]
    table.add_row("Status / enc_keys", f"{ratio['requests_per_s']:.2f}x", f"{ratio['p50']:.2f}x", "", "")
    return table


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="beijing-shanghai")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per request kind")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    from report import make_console

    result = time_status_path(args.scenario, args.seconds)
    make_console().print(status_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
