"""The KMEs under load: concurrent SAEs over mutual TLS on loopback, ETSI GS QKD 014 enc_keys then dec_keys.

``python benchmarks/kms_bench.py [--seconds S] [--workers N ...] [--db URL ...]``; or ``time_kms`` and
``kms_table`` from ``run.py``.

- **Server**: two KMEs ``kme-a`` / ``kme-b`` joined by one link, SAEs ``sae-a`` / ``sae-b``, served as
  ``qinternet serve`` does (:func:`qinternet.kms.tls.serve_kmes`: uvicorn, httptools, mutual TLS, the SAE
  from the client certificate, one event loop for both KMEs) in a **separate process** (``python
  kms_bench.py _serve CONFIG``), so that the load generator does not share the server's GIL. The pool is
  filled before the server starts with twice what 5,000 deliveries/s would use over the run, in blocks of
  :data:`BLOCK_BYTES` (about 30 blocks for 5 s; the store reads only the oldest block's bytes it needs, so
  the number no longer matters, but it is given in the table's caption). As ``qinternet serve``, the
  server runs on uvloop when it is installed and freezes the start-up objects out of the collector
  (``--server-loop asyncio`` and ``--no-gc-freeze`` measure without).
  Nothing is pinned: the server and the load generator share the machine's cores
  (``run.py`` pins itself to one core; :func:`time_kms` lifts that for its duration and restores it).
- **Load**: ``workers`` SAE pairs in the parent process, each with two keep-alive TLS 1.3 connections
  (sae-a's certificate to kme-a, sae-b's to kme-b), each looping: ``GET enc_keys?number=1&size=256`` as
  the master, then ``GET dec_keys?key_ID=...`` as the slave, checking that both got the same key. A
  **delivery** is one such pair. The client is a minimal HTTP/1.1 client on asyncio streams (uvloop when
  installed), not httpx: httpx costs several times more CPU per request than the server's own stack, and
  on two cores the client's CPU is taken from the server (``--client httpx`` measures that).
- **Baselines in the same run**: ``echo``, a bare ASGI app answering every request with a fixed key
  container over the *same* TLS/uvicorn/identity stack (what HTTP + TLS alone cost); ``fastapi``, the same
  routes in FastAPI with no store (adds FastAPI routing, validation, the never-500 middleware); ``store``,
  :meth:`KeyStore.issue` + :meth:`KeyStore.deliver` called in-process in one thread, no HTTP (what the
  database alone costs per delivery).
- **Databases**: SQLite (a file in a temporary folder, the store's own pragmas: WAL, synchronous=FULL),
  and PostgreSQL from ``$QINTERNET_PG_URL`` or a throwaway cluster when ``initdb``/``pg_ctl`` are found
  (on PATH or under ``/usr/lib/postgresql/*/bin``). Every PostgreSQL run gets a fresh schema (dropped
  afterwards), so ``$QINTERNET_PG_URL`` may point at a shared database.

Latencies are wall-clock (``time.perf_counter``) from sending a request to reading its whole body; a
delivery's is enc + dec. Only deliveries started after the warm-up and finished before the end count;
deliveries/s = those / the measured window. The load is closed-loop: with ``workers`` pairs in flight,
latency ≈ workers / throughput once the server saturates, so several worker counts show the curve.
CPU: the server process's user+system seconds per wall second (1.0 = one core) from ``/proc``.

Goal (issue): >= 1,000 deliveries/s with p99 <= 20 ms on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import importlib.util
import inspect
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from machine import all_cores

__all__ = [
    "BLOCK_BYTES",
    "GOAL_DELIVERIES_PER_S",
    "GOAL_P99_MS",
    "KmsRun",
    "Latency",
    "kms_table",
    "throwaway_postgres",
    "time_kms",
    "time_store",
]

GOAL_DELIVERIES_PER_S = 1000.0
GOAL_P99_MS = 20.0
KEY_BITS = 256
BLOCK_BYTES = 1 << 16  # 2,048 keys of 256 bits per pool block
_HEADROOM_DELIVERIES_PER_S = 5000  # the pool holds this rate for the whole run, and twice over
_WARM_UP_S = 1.0
_SAE_KME = {"sae-a": "kme-a", "sae-b": "kme-b"}
_ENC = "/api/v1/keys/sae-b/enc_keys?number=1&size=256"
_DEC = "/api/v1/keys/sae-a/dec_keys?key_ID="
_PG_ENV = "QINTERNET_PG_URL"
_ECHO_KEY_ID = "00000000-0000-4000-8000-000000000000"
_ECHO_BODY = json.dumps(
    {"keys": [{"key_ID": _ECHO_KEY_ID, "key": base64.b64encode(bytes(KEY_BITS // 8)).decode()}]}
).encode()


# -- results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """Latency of one kind of request, ms."""

    count: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float] | np.ndarray) -> Latency:
        """From latencies in seconds."""
        ms = 1e3 * np.asarray(seconds, dtype=np.float64)
        if ms.size == 0:
            return cls(count=0, p50_ms=float("nan"), p99_ms=float("nan"), mean_ms=float("nan"), max_ms=float("nan"))
        p50, p99 = np.percentile(ms, [50, 99])
        return cls(
            count=int(ms.size), p50_ms=float(p50), p99_ms=float(p99), mean_ms=float(ms.mean()), max_ms=float(ms.max())
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class KmsRun:
    """One timed configuration.

    Attributes:
        label: what ran (``echo``, ``fastapi``, ``sqlite``, ``postgresql``, ``store sqlite`` ...).
        kind: ``echo``, ``fastapi``, ``kme`` (HTTP) or ``store`` (in-process, no HTTP).
        db: the database's dialect, or None.
        workers: concurrent SAE pairs (1 for ``store``).
        window_s: the measured wall time, s.
        deliveries: deliveries (enc + dec) completed in the window.
        failures: requests answered with another status than 200, or with another key.
        enc, dec, delivery: latencies.
        server_cpu: server process CPU seconds per wall second (1.0 = one core), None for ``store``.
        client_cpu: load generator CPU seconds per wall second.
        machine_busy: fraction of all cores busy in the window (from /proc/stat), None if unknown.
        server_loop: the server's event loop (``uvloop``, as ``qinternet serve`` when installed, or ``asyncio``).
        client: the load generator (``raw`` asyncio streams or ``httpx``).
    """

    label: str
    kind: str
    db: str | None
    workers: int
    window_s: float
    deliveries: int
    failures: int
    enc: Latency
    dec: Latency
    delivery: Latency
    server_cpu: float | None
    client_cpu: float | None
    machine_busy: float | None
    server_loop: str
    client: str

    @property
    def deliveries_per_s(self) -> float:
        """Deliveries per wall second."""
        return self.deliveries / self.window_s if self.window_s > 0 else 0.0

    @property
    def server_cpu_ms_per_delivery(self) -> float | None:
        """Server CPU time per delivery, ms: less sensitive than throughput to other load on the machine."""
        if self.server_cpu is None or not self.deliveries:
            return None
        return 1e3 * self.server_cpu / self.deliveries_per_s

    @property
    def passed(self) -> bool:
        """The issue's goal: >= 1,000 deliveries/s with a delivery p99 <= 20 ms and no failure."""
        return (
            self.deliveries_per_s >= GOAL_DELIVERIES_PER_S and self.delivery.p99_ms <= GOAL_P99_MS and not self.failures
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return asdict(self) | {
            "deliveries_per_s": self.deliveries_per_s,
            "server_cpu_ms_per_delivery": self.server_cpu_ms_per_delivery,
            "passed": self.passed,
        }


# -- the server process ----------------------------------------------------------------------------------


async def _echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: every HTTP request gets the same small key container."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_ECHO_BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": _ECHO_BODY})


def _fastapi_noop() -> Any:
    """The two GET routes in FastAPI (path and query parameters as the KME's), a fixed container, no store."""
    from fastapi import FastAPI

    app = FastAPI()
    body = json.loads(_ECHO_BODY)

    async def enc(slave_SAE_ID: str, number: str | None = None, size: str | None = None) -> Any:  # noqa: N803
        return body

    async def dec(master_SAE_ID: str, key_ID: str | None = None) -> Any:  # noqa: N803
        return body

    app.get("/api/v1/keys/{slave_SAE_ID}/enc_keys")(enc)
    app.get("/api/v1/keys/{master_SAE_ID}/dec_keys")(dec)
    return app


async def _serve(config: dict[str, Any]) -> None:
    from qinternet.kms.api import create_app
    from qinternet.kms.pki import PkiFiles
    from qinternet.kms.store import KeyStore
    from qinternet.kms.tls import KmeServer, serve_kmes
    from qinternet.kms.topology import KmsTopology

    pki = PkiFiles(Path(config["pki"]))
    store = None
    kme_ids = ("kme-a", "kme-b")
    if config["kind"] == "path":  # one KME of a scenario (kms_status_bench.py)
        from qinternet.kms.feeder import topology_of
        from qinternet.network.catalogue import resolve_scenario

        store = KeyStore(config["db_url"])
        kme_ids = (config["kme"],)
        topology = topology_of(resolve_scenario(config["scenario"])[0])
        apps = {config["kme"]: create_app(config["kme"], store, topology)}
    elif config["kind"] == "kme":
        store = KeyStore(config["db_url"])  # the schema is already there
        topology = KmsTopology(sae_kme=_SAE_KME, links=(("kme-a", "kme-b"),))
        extra: dict[str, Any] = {}
        if "metrics" in inspect.signature(create_app).parameters:  # as ``qinternet serve``: with metrics
            from qinternet.kms.metrics import KmsMetrics

            extra["metrics"] = KmsMetrics()
        apps = {kme: create_app(kme, store, topology, **extra) for kme in ("kme-a", "kme-b")}
    elif config["kind"] == "fastapi":
        apps = {kme: _fastapi_noop() for kme in ("kme-a", "kme-b")}
    else:
        apps = dict.fromkeys(("kme-a", "kme-b"), _echo_app)
    kmes = [KmeServer(kme, apps[kme], config["ports"][kme], pki.cert(kme), pki.key(kme), pki.ca) for kme in kme_ids]
    if config.get("gc_freeze"):  # everything built so far leaves the collector's generations
        gc.collect()
        gc.freeze()
    try:
        await serve_kmes(kmes, started=lambda: print("ready", flush=True))
    finally:
        if store is not None:
            store.close()


def _serve_main(config_json: str) -> None:
    """Entry point of the server process (``kms_bench.py _serve CONFIG``); SIGINT/SIGTERM stop it."""
    config = json.loads(config_json)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    if config["loop"] == "uvloop":
        import uvloop

        runner = uvloop.run
    else:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(_serve(config))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """The server process: started, then stopped with SIGINT."""

    def __init__(self, config: dict[str, Any], log: Path) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "_serve", json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=self._log_file,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != b"ready":
            self.stop()
            raise RuntimeError(f"the KME server did not start: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores from /proc/stat, None elsewhere."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


# -- the load generator ----------------------------------------------------------------------------------


def _client_context(pki_folder: Path, sae: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki_folder / "ca.pem"))
    context.load_cert_chain(str(pki_folder / f"{sae}.pem"), str(pki_folder / f"{sae}.key"))
    return context


class _RawConnection:
    """One keep-alive HTTP/1.1 connection over TLS: GET, read the status and a Content-Length body."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext) -> _RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, f"localhost:{port}")

    async def get(self, path: str) -> tuple[int, bytes]:
        self._writer.write(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n\r\n".encode())
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self._reader.readexactly(length) if length else b""
        return status, body

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self._writer.wait_closed()


class _HttpxConnection:
    """The same through one ``httpx.AsyncClient`` (one pooled keep-alive connection)."""

    def __init__(self, client: Any, base: str) -> None:
        self._client = client
        self._base = base

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext) -> _HttpxConnection:
        import httpx

        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        client = httpx.AsyncClient(verify=context, timeout=30, limits=limits)
        return cls(client, f"https://localhost:{port}")

    async def get(self, path: str) -> tuple[int, bytes]:
        r = await self._client.get(self._base + path)
        return r.status_code, r.content

    async def close(self) -> None:
        await self._client.aclose()


@dataclass(slots=True)
class _Tally:
    enc: list[float] = field(default_factory=list)
    dec: list[float] = field(default_factory=list)
    failures: int = 0


async def _worker(enc: Any, dec: Any, start: float, stop: float, tally: _Tally) -> None:
    while (t0 := time.perf_counter()) < stop:
        status, body = await enc.get(_ENC)
        t1 = time.perf_counter()
        if status != 200:
            tally.failures += 1
            continue
        [key] = json.loads(body)["keys"]
        status, body = await dec.get(_DEC + key["key_ID"])
        t2 = time.perf_counter()
        if status != 200 or json.loads(body)["keys"] != [key]:
            tally.failures += 1
            continue
        if t0 >= start and t2 <= stop:
            tally.enc.append(t1 - t0)
            tally.dec.append(t2 - t1)


async def _load(
    pki_folder: Path, ports: dict[str, int], workers: int, seconds: float, client: str, server_pid: int
) -> tuple[_Tally, float, float | None, float | None, float | None]:
    """Run the workers; returns the tally, the window, server and client CPU per second, machine busy fraction."""
    kind = _RawConnection if client == "raw" else _HttpxConnection
    master, slave = _client_context(pki_folder, "sae-a"), _client_context(pki_folder, "sae-b")
    pairs = [(await kind.open(ports["kme-a"], master), await kind.open(ports["kme-b"], slave)) for _ in range(workers)]
    tally = _Tally()
    start = time.perf_counter() + _WARM_UP_S
    stop = start + seconds
    tasks = [asyncio.create_task(_worker(enc, dec, start, stop, tally)) for enc, dec in pairs]
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    cpu0, own0, ticks0 = _process_cpu_s(server_pid), time.process_time(), _machine_ticks()
    window0 = time.perf_counter()
    await asyncio.sleep(max(0.0, stop - time.perf_counter()))
    cpu1, own1, ticks1 = _process_cpu_s(server_pid), time.process_time(), _machine_ticks()
    window = time.perf_counter() - window0
    await asyncio.gather(*tasks)
    for enc, dec in pairs:
        await enc.close()
        await dec.close()
    server_cpu = (cpu1 - cpu0) / window if cpu0 is not None and cpu1 is not None else None
    return tally, window, server_cpu, (own1 - own0) / window, _busy(ticks0, ticks1)


def _run_loop(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# -- databases -------------------------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: PATH first, then the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
    for folder in reversed(candidates):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """A PostgreSQL cluster in a new temporary folder on a free loopback port for the duration; its URL or None.

    As root, the cluster runs as the ``postgres`` user (PostgreSQL refuses root). Default durability
    (``fsync=on``, ``synchronous_commit=on``), so that it compares with SQLite's ``synchronous=FULL``.
    """
    bin_dir = _pg_bin()
    runuser = shutil.which("runuser")
    if bin_dir is None or (os.geteuid() == 0 and runuser is None):
        yield None
        return
    prefix = [str(runuser), "-u", "postgres", "--"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory(prefix="kms-bench-pg-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir(mode=0o700)
        if prefix:
            Path(tmp).chmod(0o755)  # the postgres user must reach its data folder
            shutil.chown(data, "postgres", "postgres")
        port = _free_port()
        pg_ctl = [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data)]
        quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
        subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], **quiet)
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200"
        subprocess.run([*pg_ctl, "-o", options, "-w", "-l", str(data / "log"), "start"], **quiet)
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], **quiet)


@contextlib.contextmanager
def _fresh_database(url: str, folder: Path, name: str) -> Iterator[str]:
    """A URL to an empty store: a new SQLite file next to the given one (else in ``folder``), or a new schema.

    A PostgreSQL schema is dropped afterwards.
    """
    if url.startswith("sqlite"):
        given = Path(url.split("///", 1)[1]) if "///" in url else folder / "kms.db"
        path = given.with_name(f"{given.stem}-{name}{given.suffix or '.db'}")  # one new file per run
        if path.exists():
            raise ValueError(f"{path} exists: the benchmark needs new SQLite files")
        yield f"sqlite:///{path}"
        return
    from sqlalchemy import create_engine, text

    schema = f"kms_bench_{os.getpid()}_{name}".replace("-", "_")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _fill(url: str, deliveries: int) -> None:
    """Create the tables and fill the kme-a/kme-b pool with enough key for ``deliveries``, in blocks."""
    from qinternet.kms.store import KeyStore

    store = KeyStore(url)
    for _ in range(_blocks(deliveries)):
        store.add_key("kme-a", "kme-b", os.urandom(BLOCK_BYTES))
    store.close()


def _blocks(deliveries: int) -> int:
    """Pool blocks that hold key for ``deliveries``."""
    return -(-deliveries * KEY_BITS // 8 // BLOCK_BYTES)


def _dialect(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]


# -- runs ------------------------------------------------------------------------------------------------


def time_store(url: str, seconds: float) -> KmsRun:
    """``KeyStore.issue`` + ``KeyStore.deliver`` in-process, one thread, for ``seconds`` (after a warm-up)."""
    from qinternet.kms.store import KeyStore

    store = KeyStore(url)
    route = [("sae-b", ["kme-a", "kme-b"])]
    enc: list[float] = []
    dec: list[float] = []
    start = time.perf_counter() + min(_WARM_UP_S, seconds / 4)
    stop = start + seconds
    cpu0 = ticks0 = None
    try:
        while (t0 := time.perf_counter()) < stop:
            if t0 >= start and cpu0 is None:
                cpu0, ticks0 = time.process_time(), _machine_ticks()
            [key] = store.issue(master_kme="kme-a", master_sae="sae-a", slaves=route, number=1, size_bits=KEY_BITS)
            t1 = time.perf_counter()
            store.deliver(kme_id="kme-b", slave_sae="sae-b", master_sae="sae-a", key_ids=[key.key_id])
            t2 = time.perf_counter()
            if t0 >= start:
                enc.append(t1 - t0)
                dec.append(t2 - t1)
        cpu1, ticks1 = time.process_time(), _machine_ticks()
    finally:
        store.close()
    window = time.perf_counter() - start
    cpu = (cpu1 - cpu0) / window if cpu0 is not None else None
    db = _dialect(url)
    return _run_record(f"store {db}", "store", db, 1, window, enc, dec, 0, cpu, None, _busy(ticks0, ticks1))


def _busy(ticks0: tuple[int, int] | None, ticks1: tuple[int, int] | None) -> float | None:
    if ticks0 is None or ticks1 is None or ticks1[1] <= ticks0[1]:
        return None
    return (ticks1[0] - ticks0[0]) / (ticks1[1] - ticks0[1])


def _run_record(
    label: str,
    kind: str,
    db: str | None,
    workers: int,
    window_s: float,
    enc: list[float],
    dec: list[float],
    failures: int,
    server_cpu: float | None,
    client_cpu: float | None,
    busy: float | None,
    server_loop: str = "-",
    client: str = "-",
) -> KmsRun:
    both = np.asarray(enc) + np.asarray(dec)
    return KmsRun(
        label=label,
        kind=kind,
        db=db,
        workers=workers,
        window_s=window_s,
        deliveries=len(enc),
        failures=failures,
        enc=Latency.of(enc),
        dec=Latency.of(dec),
        delivery=Latency.of(both),
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        machine_busy=busy,
        server_loop=server_loop,
        client=client,
    )


def _time_http(
    label: str,
    kind: str,
    url: str | None,
    pki_folder: Path,
    folder: Path,
    *,
    workers: int,
    seconds: float,
    server_loop: str,
    client: str,
    gc_freeze: bool,
) -> KmsRun:
    ports = {"kme-a": _free_port(), "kme-b": _free_port()}
    config = {
        "kind": kind,
        "db_url": url,
        "pki": str(pki_folder),
        "ports": ports,
        "loop": server_loop,
        "gc_freeze": gc_freeze,
    }
    server = _Server(config, folder / f"server-{label}-{workers}.log")
    try:
        tally, window, server_cpu, client_cpu, busy = _run_loop(
            _load(pki_folder, ports, workers, seconds, client, server.process.pid)
        )
    finally:
        server.stop()
    db = _dialect(url) if url is not None else None
    return _run_record(
        label,
        kind,
        db,
        workers,
        window,
        tally.enc,
        tally.dec,
        tally.failures,
        server_cpu,
        client_cpu,
        busy,
        server_loop,
        client,
    )


def default_db_urls(folder: Path, stack: contextlib.ExitStack) -> tuple[list[str], str]:
    """SQLite in ``folder``, and PostgreSQL from $QINTERNET_PG_URL or a throwaway cluster; and how PG was found."""
    urls = [f"sqlite:///{folder / 'kms.db'}"]
    if os.environ.get(_PG_ENV):
        urls.append(os.environ[_PG_ENV])
        return urls, f"${_PG_ENV}"
    try:
        pg = stack.enter_context(throwaway_postgres())
    except (OSError, subprocess.CalledProcessError) as exc:
        return urls, f"not run: the throwaway cluster failed ({exc})"
    if pg is None:
        return urls, f"not run: set ${_PG_ENV} or install PostgreSQL (initdb, pg_ctl)"
    bin_dir = _pg_bin()
    return [*urls, pg], f"throwaway cluster ({bin_dir})"


def time_kms(
    seconds: float,
    workers: int | Sequence[int],
    db_urls: Sequence[str] | None = None,
    *,
    baselines: bool = True,
    server_loop: str = "auto",
    client: str = "raw",
    gc_freeze: bool = True,
) -> dict[str, Any]:
    """Time the KMEs on every database, the baselines, and the store in-process.

    Args:
        seconds: measured wall time of every HTTP run (after a 1 s warm-up), s.
        workers: concurrent SAE pairs; several counts give one run each.
        db_urls: SQLAlchemy URLs (``sqlite:///new-file.db``, ``postgresql+psycopg://...``); None: SQLite in
            a temporary folder and PostgreSQL when one is available (module docstring).
        baselines: also run ``echo``, ``fastapi`` and ``store``.
        server_loop: ``auto`` (as ``qinternet serve``: uvloop when installed), ``asyncio`` or ``uvloop``.
        client: ``raw`` (asyncio streams) or ``httpx``.
        gc_freeze: ``gc.freeze()`` in the server process once the apps are built (as ``qinternet serve``;
            without, full collections over the framework's objects are the latency tail).

    Returns:
        JSON-ready dict: ``goal``, ``settings``, ``postgresql`` (how it was found or why not), ``runs``.
    """
    from qinternet.kms.pki import init_pki

    counts = [workers] if isinstance(workers, int) else list(workers)
    if server_loop == "auto":
        server_loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    runs: list[KmsRun] = []
    with tempfile.TemporaryDirectory(prefix="kms-bench-") as tmp, contextlib.ExitStack() as stack, all_cores():
        folder = Path(tmp)
        pki = init_pki(folder / "pki", kmes=["kme-a", "kme-b"], saes=["sae-a", "sae-b"])
        if db_urls is None:
            urls, pg_status = default_db_urls(folder, stack)
        else:
            urls, pg_status = list(db_urls), "given"
        http = {"seconds": seconds, "server_loop": server_loop, "client": client, "gc_freeze": gc_freeze}
        if baselines:
            for n in counts:
                for kind in ("echo", "fastapi"):
                    runs.append(_time_http(kind, kind, None, pki.folder, folder, workers=n, **http))  # type: ignore[arg-type]
        need = int(2 * _HEADROOM_DELIVERIES_PER_S * (seconds + _WARM_UP_S))
        for i, url in enumerate(urls):
            db = _dialect(url)
            for n in counts:
                with _fresh_database(url, folder, f"{db}{i}_{n}") as fresh:
                    _fill(fresh, need)
                    runs.append(_time_http(db, "kme", fresh, pki.folder, folder, workers=n, **http))  # type: ignore[arg-type]
            if baselines:
                with _fresh_database(url, folder, f"{db}{i}_store") as fresh:
                    _fill(fresh, need)
                    runs.append(time_store(fresh, seconds))
    return {
        "goal": {"deliveries_per_s": GOAL_DELIVERIES_PER_S, "p99_ms": GOAL_P99_MS},
        "settings": {
            "seconds": seconds,
            "warm_up_s": _WARM_UP_S,
            "workers": counts,
            "key_bits": KEY_BITS,
            "block_bytes": BLOCK_BYTES,
            "pool_blocks": _blocks(need),
            "server_loop": server_loop,
            "client": client,
            "gc_freeze": gc_freeze,
            "pinned": "no: server and load generator share all cores",
            "cores": os.cpu_count(),
        },
        "postgresql": pg_status,
        "runs": [r.to_dict() for r in runs],
    }


# -- report ----------------------------------------------------------------------------------------------


def _ms(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def _lat(d: dict[str, Any]) -> str:
    return f"{_ms(d['p50_ms'])}/{_ms(d['p99_ms'])}"


def kms_table(results: dict[str, Any]) -> Table:
    """Deliveries/s and latencies of every run, with the ratio to the echo baseline at the same workers.

    ``CPU ms/deliv`` is the server's CPU time per delivery (the in-process store's own for ``store``); ``other
    load`` is what the rest of the machine used meanwhile, in cores (the load generator excluded).
    """
    from report import verdict

    goal = results["goal"]
    s = results["settings"]
    freeze = ", gc.freeze()" if s.get("gc_freeze") else ""
    table = Table(
        title=(
            f"KMEs over mutual TLS, enc_keys (number=1, size={s['key_bits']}) + dec_keys, {s['seconds']:g} s a run, "
            f"goal >= {goal['deliveries_per_s']:,.0f} deliveries/s at p99 <= {goal['p99_ms']:g} ms"
        ),
        caption=(
            f"server loop {s['server_loop']}{freeze}, client {s['client']}, nothing pinned ({s['cores']} cores), "
            f"pool {s['pool_blocks']} blocks of {s['block_bytes']:,} bytes; latencies p50/p99 in ms; PostgreSQL: "
            f"{results['postgresql']}"
        ),
    )
    columns = ("run", "workers", "deliv/s", "x echo", "enc", "dec", "delivery", "server cores", "CPU ms/deliv")
    for column in (*columns, "other load", "fail", "goal"):
        wide = column in ("run", "enc", "dec", "delivery")
        table.add_column(
            column, justify="left" if column == "run" else "right", no_wrap=wide, min_width=9 if wide else None
        )
    echo = {r["workers"]: r["deliveries_per_s"] for r in results["runs"] if r["kind"] == "echo"}
    for r in results["runs"]:
        ref = echo.get(r["workers"]) if r["kind"] != "store" else None
        other = None
        if r["machine_busy"] is not None and r["server_cpu"] is not None:
            other = r["machine_busy"] * s["cores"] - r["server_cpu"] - (r["client_cpu"] or 0.0)
        per = r["server_cpu_ms_per_delivery"]
        table.add_row(
            r["label"],
            str(r["workers"]) if r["kind"] != "store" else "1 thr",
            f"{r['deliveries_per_s']:,.0f}",
            f"{r['deliveries_per_s'] / ref:.3f}" if ref else "-",
            _lat(r["enc"]),
            _lat(r["dec"]),
            _lat(r["delivery"]),
            f"{r['server_cpu']:.2f}" if r["server_cpu"] is not None else "-",
            f"{per:.3f}" if per is not None else "-",
            f"{max(other, 0.0):.2f}" if other is not None else "-",
            str(r["failures"]),
            verdict(r["passed"]) if r["kind"] == "kme" else "-",
        )
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run (default: %(default)s)")
    p.add_argument("--workers", type=int, nargs="+", default=[8, 16], help="concurrent SAE pairs (default: 8 16)")
    p.add_argument("--db", action="append", help="SQLAlchemy URL (repeatable; default: SQLite + PostgreSQL if any)")
    p.add_argument("--no-baselines", action="store_true", help="skip echo, fastapi and the in-process store")
    p.add_argument("--server-loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    p.add_argument("--client", choices=("raw", "httpx"), default="raw")
    p.add_argument(
        "--no-gc-freeze", dest="gc_freeze", action="store_false", help="no gc.freeze() in the server (serve does it)"
    )
    p.add_argument("--json", type=Path, help="also write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, optionally write JSON."""
    from report import make_console

    args = parse_args(argv)
    console = make_console()
    results = time_kms(
        args.seconds,
        args.workers,
        args.db,
        baselines=not args.no_baselines,
        server_loop=args.server_loop,
        client=args.client,
        gc_freeze=args.gc_freeze,
    )
    console.print(kms_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_serve":
        _serve_main(sys.argv[2])
        sys.exit(0)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
