"""KMEs as processes under load, killed and partitioned: keys issued, delivered, lost and duplicated.

``python benchmarks/kms_reliability_bench.py [--runs 40] [--nodes 3] [--quick] [--seed 1]`` (issue 16, item 7).

- **Network**: a line of ``nodes`` user nodes n0 - n1 - ... (the inner ones trusted relays), 10 km links with
  0.05 s blocks; one ``qinternet kme`` process per node (own SQLite store, mutual TLS between KMEs) and one
  ``qinternet device`` per link pushing the link's keys into its two KMEs. The KMEs n0 and n1 reach each other
  through two small TCP proxies in this process (their ``--peers`` files name the proxies): the partition.
- **Load**: SAE pairs (master -> slave) n0 -> n_last, n_last -> n0, n0 -> n1 and n1 -> n_last, two worker
  threads each, looping ``enc_keys`` (one 256-bit key) at the master's KME then ``dec_keys`` at the slave's,
  recording every key ID and value each side got. A ``dec_keys`` that gets no answer is sent again until it is
  answered; one that finds nothing is left for the end.
- **Kills** (``--runs`` rounds; the seeded RNG picks the times): each round waits 0.3-2 s, SIGKILLs in turn the
  KME of n0 (a master of relayed keys), of n_last (their slave), of the middle node (a relay), or the device
  process of a random link, keeps it down 0.1-1.5 s, starts it again and waits until a key is delivered after
  the restart. Middle KMEs hold each relay step ``--hold-s`` between its commit and sending it on, so kills
  land inside relays too.
- **Settling and counting**: the load stops; the harness waits until no KME has a relay ``sending`` or
  ``voiding``, asks every slave KME again for the keys not yet delivered, and asks again for a sample of the
  delivered keys: within the KMEs' redelivery window (``qinternet kme --redelivery-window``, 60 s) the slave
  gets the same value again (``recheck_redelivered``: not a duplicate, the same key), after it a 400
  (``recheck_refused``); a different value would be a duplicate. The same keys asked by another SAE (the
  master's, at the slave's KME) or for another master SAE must be refused (``recheck_other_answered``: 0).
  ``issued``: keys masters received; ``delivered``: keys the slave got, equal to the master's; ``lost``: issued
  and never obtainable by the slave (must be 0: a ``dec_keys`` answer that died with its KME is fetched again
  within the window; ``unanswered_then_delivered``: keys whose ``dec_keys`` got no answer at least once and
  that the slave got later, those among them); ``duplicated``: a key ID delivered with two values,
  two key IDs with one value, or a slave's key differing from the master's (must be 0).
  ``orphaned``: keys committed at a slave's KME whose master never got them (its KME was killed before its
  answer): wasted, never handed out.
- **Partition**: the proxies between n0 and n1 refuse connections and cut the open ones; ``enc_keys`` at n0
  for the slave at n_last must answer 503 with the ETSI Error object; after the proxies forward again it must
  succeed (the time to the first success is the recovery).

Prints one JSON object and writes it with the machine to ``--out`` (default
``benchmarks/results/kms_reliability.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import free_ports

from machine import machine_info
from qinternet.apps.etsi_client import KmeClient, KmeRequestError, QkdKey
from qinternet.kms.pki import PkiFiles, init_pki

START_S = 120.0
"""Longest a process may take to start (the machine is shared)."""
TARGETS = ("master KME", "slave KME", "middle KME", "device")


def scenario(nodes: int) -> str:
    """A line of ``nodes`` user nodes, the inner ones trusted relays."""
    lines = ["name: line", "seed: 1", "nodes:"]
    for i in range(nodes):
        trusted = ", trusted: true" if 0 < i < nodes - 1 else ""
        lines.append(f"  - {{id: n{i}, kind: user{trusted}, lat_deg: 0, lon_deg: {i / 10}}}")
    lines.append("links:")
    for i in range(nodes - 1):
        lines.append(f"  - {{id: l{i}, a: n{i}, b: n{i + 1}, length_km: 10, block_s: 0.05}}")
    return "\n".join(lines) + "\n"


def _wait_for(what: str, check: Callable[[], bool], timeout_s: float = START_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen in {timeout_s:g} s")
        time.sleep(0.05)


# -- the partition: a TCP proxy that can stop forwarding -------------------------------------------------------


class Proxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target`` in its own thread; :meth:`cut` closes the listening
    socket and every open connection (connections are then refused), :meth:`heal` listens again."""

    def __init__(self, port: int, target: int) -> None:
        self.port, self.target = port, target
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self.heal()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port, reuse_address=True)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def cut(self) -> None:
        """Refuse new connections and cut the open ones."""
        self._call(self._stop())

    def heal(self) -> None:
        """Forward again."""
        self._call(self._start())

    def close(self) -> None:
        """Stop the proxy and its thread."""
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)


# -- the network of processes ----------------------------------------------------------------------------------


@dataclass
class Network:
    """The line's KMEs and devices as processes, and the two proxies between n0 and n1."""

    site: Path
    nodes: int
    relay_timeout: str
    hold_s: float
    base_port: int = 0
    kmes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    devices: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    proxies: list[Proxy] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [f"n{i}" for i in range(self.nodes)]

    @property
    def pki(self) -> PkiFiles:
        return PkiFiles(self.site / "pki")

    def port(self, node: str) -> int:
        return self.base_port + self.names.index(node)  # n0..n4 sort as the KME IDs do

    def url(self, node: str) -> str:
        return f"https://localhost:{self.port(node)}"

    def build(self) -> None:
        """Scenario, PKI and peers files (n0 and n1 see each other through the proxies)."""
        self.site.mkdir(parents=True, exist_ok=True)
        (self.site / "line.yaml").write_text(scenario(self.nodes))
        init_pki(
            self.site / "pki",
            kmes=[f"kme-{n}" for n in self.names],
            saes=[f"sae-{n}" for n in self.names],
            devices=[f"dev-l{i}-n{j}" for i in range(self.nodes - 1) for j in (i, i + 1)],
        )
        self.base_port = free_ports(self.nodes)
        proxy_base = free_ports(2)
        self.proxies = [Proxy(proxy_base, self.port("n1")), Proxy(proxy_base + 1, self.port("n0"))]
        for node in self.names:
            urls = {f"kme-{n}": self.url(n) for n in self.names}
            if node == "n0":
                urls["kme-n1"] = f"https://localhost:{proxy_base}"
            if node == "n1":
                urls["kme-n0"] = f"https://localhost:{proxy_base + 1}"
            (self.site / f"peers-{node}.yaml").write_text("".join(f"{k}: {v}\n" for k, v in urls.items()))

    def start_kme(self, node: str) -> None:
        ready = self.site / f"ready-{node}.json"
        ready.unlink(missing_ok=True)  # a KME killed leaves its ready file
        hold = self.hold_s if node not in ("n0", self.names[-1]) else 0.0
        self.kmes[node] = subprocess.Popen(
            [
                *(sys.executable, "-m", "qinternet", "kme", "--node", node, "--scenario", str(self.site / "line.yaml")),
                *("--pki", str(self.site / "pki"), "--state-dir", str(self.site / "state")),
                *("--base-port", str(self.base_port), "--peers", str(self.site / f"peers-{node}.yaml")),
                *("--relay-timeout", self.relay_timeout, "--ready-file", str(ready)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.site / f"kme-{node}.log").open("ab"),
            env=dict(os.environ, QINTERNET_KME_RELAY_HOLD_S=str(hold)),
        )

    def wait_ready(self, node: str) -> None:
        process, ready = self.kmes[node], self.site / f"ready-{node}.json"
        _wait_for(f"kme-{node} ready", lambda: ready.exists() or process.poll() is not None)
        if process.poll() is not None:
            raise RuntimeError(f"kme-{node} exited: {(self.site / f'kme-{node}.log').read_text()[-2000:]}")

    def start_device(self, link: str) -> None:
        i = int(link[1:])
        self.devices[link] = subprocess.Popen(
            [
                *(sys.executable, "-m", "qinternet", "device", link, "--scenario", str(self.site / "line.yaml")),
                *("--pki", str(self.site / "pki"), "--kme-a", self.url(f"n{i}"), "--kme-b", self.url(f"n{i + 1}")),
                *("--speed", "1", "--max-block-bits", "8192"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.site / f"device-{link}.log").open("ab"),
        )

    def device_opened(self, link: str) -> int:
        """How many times ``link``'s devices opened their stream at a KME (from the device log)."""
        log = self.site / f"device-{link}.log"
        return log.read_text().count(" open at kme-") if log.exists() else 0

    def restart_device(self, link: str) -> None:
        """Start ``link``'s device pair and wait until both devices opened their stream (started again if it
        exits first: a device exits when a KME is unreachable at its start)."""
        before = self.device_opened(link)
        self.start_device(link)
        deadline = time.monotonic() + START_S
        while self.device_opened(link) < before + 2 and time.monotonic() < deadline:
            if self.devices[link].poll() is not None:
                before = self.device_opened(link)
                self.start_device(link)
            time.sleep(0.05)

    def revive_devices(self) -> int:
        """Start again every device process that exited by itself (one exits when a KME refuses it at its
        start); how many."""
        dead = [link for link, process in self.devices.items() if process.poll() is not None]
        for link in dead:
            self.start_device(link)
        return len(dead)

    def start(self) -> None:
        self.build()
        for node in self.names:
            self.start_kme(node)
        for node in self.names:
            self.wait_ready(node)
        for i in range(self.nodes - 1):
            self.start_device(f"l{i}")

    def stop(self) -> None:
        processes = [*self.devices.values(), *self.kmes.values()]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for proxy in self.proxies:
            proxy.close()

    def client(self, node: str) -> KmeClient:
        sae = f"sae-{node}"
        files = self.pki
        return KmeClient(self.url(node), files.cert(sae), files.key(sae), files.ca, kme_id=f"kme-{node}", timeout_s=30)

    def rows(self, node: str, query: str) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(self.site / "state" / f"kme-{node}.db", timeout=10)
        try:
            return connection.execute(query).fetchall()
        finally:
            connection.close()


# -- the load -----------------------------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What every SAE got, shared by the worker threads (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # key ID -> (master, slave, value)
    delivered: dict[str, list[bytes]] = field(default_factory=dict)  # key ID -> the values the slave got
    delivered_at: list[float] = field(default_factory=list)
    pending: set[str] = field(default_factory=set)  # issued, not yet delivered
    enc_errors: dict[str, int] = field(default_factory=dict)
    dec_retries: int = 0
    unanswered: set[str] = field(default_factory=set)  # key IDs a dec_keys got no answer for

    def error(self, exc: KmeRequestError) -> None:
        kind = "no answer" if exc.status is None else str(exc.status)
        with self.lock:
            self.enc_errors[kind] = self.enc_errors.get(kind, 0) + 1

    def deliveries_since(self, t: float) -> int:
        with self.lock:
            return sum(1 for at in self.delivered_at if at >= t)


def _fetch(slave: KmeClient, master_sae: str, key_id: str, ledger: Ledger, stop: threading.Event) -> bool:
    """``dec_keys`` for one key, sent again while no answer comes; True once the slave has it."""
    while True:
        try:
            (got,) = slave.get_keys_with_ids(master_sae, [key_id])
        except KmeRequestError as exc:
            if exc.status is not None or stop.is_set():
                return False  # found nothing (400) or refused: left for the end
            with ledger.lock:
                ledger.dec_retries += 1
                ledger.unanswered.add(key_id)
            time.sleep(0.1)
            continue
        _record_delivery(ledger, got)
        return True


def _record_delivery(ledger: Ledger, got: QkdKey) -> None:
    with ledger.lock:
        ledger.delivered.setdefault(got.key_id, []).append(got.material)
        ledger.delivered_at.append(time.monotonic())
        ledger.pending.discard(got.key_id)


def _worker(net: Network, master: str, slave: str, ledger: Ledger, stop: threading.Event) -> None:
    with net.client(master) as enc, net.client(slave) as dec:
        while not stop.is_set():
            try:
                (key,) = enc.get_keys(f"sae-{slave}")
            except KmeRequestError as exc:
                ledger.error(exc)
                time.sleep(0.05)
                continue
            with ledger.lock:
                ledger.issued[key.key_id] = (master, slave, key.material)
                ledger.pending.add(key.key_id)
            _fetch(dec, f"sae-{master}", key.key_id, ledger, stop)


def pairs(nodes: int) -> list[tuple[str, str]]:
    """The SAE pairs (master node, slave node) of the load."""
    last = f"n{nodes - 1}"
    return [("n0", last), (last, "n0"), ("n0", "n1"), ("n1", last)]


# -- kills, settling, counting -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Kill:
    """One round: what was killed, when, for how long, and the keys delivered after its restart."""

    target: str
    process: str
    after_s: float
    down_s: float
    restart_s: float
    delivered_after: int


def kill_round(net: Network, target: str, rng: np.random.Generator, ledger: Ledger) -> Kill:
    """Wait, SIGKILL ``target``'s process, keep it down, start it again, wait for a delivery after it."""
    middle = f"n{net.nodes // 2}"
    after_s, down_s = float(rng.uniform(0.3, 2.0)), float(rng.uniform(0.1, 1.5))
    link = f"l{int(rng.integers(net.nodes - 1))}"
    time.sleep(after_s)
    node = {"master KME": "n0", "slave KME": f"n{net.nodes - 1}", "middle KME": middle}.get(target)
    process = net.kmes[node] if node is not None else net.devices[link]
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(down_s)
    t0 = time.monotonic()
    if node is not None:
        net.start_kme(node)
        net.wait_ready(node)
    else:
        net.restart_device(link)
    restart_s = time.monotonic() - t0
    back = time.monotonic()
    with contextlib.suppress(RuntimeError):
        _wait_for("a delivery after the restart", lambda: ledger.deliveries_since(back) > 0, timeout_s=60)
    return Kill(
        target=target,
        process=f"kme-{node}" if node is not None else f"device {link}",
        after_s=round(after_s, 3),
        down_s=round(down_s, 3),
        restart_s=round(restart_s, 2),
        delivered_after=ledger.deliveries_since(back),
    )


def settle(net: Network, timeout_s: float = 120.0) -> float:
    """Wait until no KME holds a relay ``sending`` or ``voiding``; the seconds it took."""
    t0 = time.monotonic()

    def quiet() -> bool:
        query = "SELECT COUNT(*) FROM relays WHERE state IN ('sending', 'voiding')"
        return all(net.rows(n, query)[0][0] == 0 for n in net.names)

    _wait_for("the relays settled", quiet, timeout_s=timeout_s)
    return time.monotonic() - t0


def count(net: Network, ledger: Ledger, recheck: int, rng: np.random.Generator) -> dict[str, Any]:
    """Ask again for the keys not delivered and for delivered ones; the figures of the module docstring."""
    never = threading.Event()
    never.set()
    with contextlib.ExitStack() as stack:
        slaves = {n: stack.enter_context(net.client(n)) for n in net.names}
        for key_id in sorted(ledger.pending):
            master, slave, _ = ledger.issued[key_id]
            _fetch(slaves[slave], f"sae-{master}", key_id, ledger, never)
        delivered = sorted(ledger.delivered)
        sample = [delivered[i] for i in rng.permutation(len(delivered))[:recheck]]
        recheck_figures = _recheck(net, ledger, slaves, sample)
    by_value: dict[bytes, set[str]] = {}
    for key_id, (_, _, value) in ledger.issued.items():
        by_value.setdefault(value, set()).add(key_id)
    for key_id, values in ledger.delivered.items():
        for value in values:
            by_value.setdefault(value, set()).add(key_id)
    twice = sum(1 for values in ledger.delivered.values() if len(set(values)) > 1)
    shared = sum(1 for ids in by_value.values() if len(ids) > 1)
    differ = sum(1 for k, values in ledger.delivered.items() if any(v != ledger.issued[k][2] for v in values))
    differ += recheck_figures["recheck_differs"]
    unknown = sum(1 for k in ledger.delivered if k not in ledger.issued)
    orphaned = sum(net.rows(n, "SELECT COUNT(*) FROM keys WHERE state = 'RESERVED'")[0][0] for n in net.names)
    lost = sorted(k for k in ledger.issued if k not in ledger.delivered)
    lost_keys, answer_died = [], 0
    for key_id in lost:
        master, slave, _ = ledger.issued[key_id]
        at_slave = [str(r[0]) for r in net.rows(slave, f"SELECT state FROM keys WHERE key_id = '{key_id}'")]
        died = at_slave in (["DELIVERED"], ["REDELIVERABLE"]) and key_id in ledger.unanswered
        answer_died += died
        lost_keys.append(
            {"key_ID": key_id, "pair": f"{master}->{slave}", "at_slave_kme": at_slave, "answer_died": died}
        )
    return {
        "issued": len(ledger.issued),
        "delivered": sum(1 for k in ledger.issued if k in ledger.delivered),
        "lost": len(lost),
        "lost_dec_answer_died": answer_died,
        "lost_other": len(lost) - answer_died,
        "lost_keys": lost_keys[:20],
        "duplicated": twice + shared + differ,
        "delivered_twice": twice,
        "ids_sharing_a_value": shared,
        "slave_key_differs": differ,
        "delivered_never_issued": unknown,
        "unanswered_then_delivered": sum(1 for k in ledger.unanswered if k in ledger.delivered and k in ledger.issued),
        "rechecked_delivered": len(sample),
        **recheck_figures,
        "orphaned": orphaned,
        "dec_keys_sent_again": ledger.dec_retries,
        "enc_keys_errors": dict(sorted(ledger.enc_errors.items())),
    }


def _recheck(net: Network, ledger: Ledger, slaves: dict[str, KmeClient], sample: list[str]) -> dict[str, int]:
    """Ask again for the ``sample`` of delivered keys: by their slave SAE (the same value within the redelivery
    window, a 400 after it), by another SAE at the slave's KME and for another master SAE (refused)."""
    figures = dict.fromkeys(("recheck_redelivered", "recheck_refused", "recheck_differs", "recheck_other_answered"), 0)
    files = net.pki
    with contextlib.ExitStack() as stack:
        others: dict[tuple[str, str], KmeClient] = {}
        for key_id in sample:
            master, slave, value = ledger.issued[key_id]
            try:
                (got,) = slaves[slave].get_keys_with_ids(f"sae-{master}", [key_id])
            except KmeRequestError:
                figures["recheck_refused"] += 1
            else:
                figures["recheck_redelivered" if got.material == value else "recheck_differs"] += 1
            if (master, slave) not in others:
                sae = f"sae-{master}"  # the master's SAE, at the slave's KME
                others[master, slave] = stack.enter_context(
                    KmeClient(net.url(slave), files.cert(sae), files.key(sae), files.ca, kme_id=f"kme-{slave}")
                )
            wrong_master = next(f"sae-{n}" for n in net.names if n not in (master, slave))
            for client, master_sae in ((others[master, slave], f"sae-{master}"), (slaves[slave], wrong_master)):
                with contextlib.suppress(KmeRequestError):
                    client.get_keys_with_ids(master_sae, [key_id])
                    figures["recheck_other_answered"] += 1
    return figures


def partition(net: Network, timeout_s: float = 120.0) -> dict[str, Any]:
    """Cut n0 <-> n1, ask ``enc_keys`` across it (503 in the ETSI format), heal, and time the recovery."""
    files, last = net.pki, f"n{net.nodes - 1}"
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(str(files.cert("sae-n0")), str(files.key("sae-n0")))
    url = f"{net.url('n0')}/api/v1/keys/sae-{last}/enc_keys"
    with httpx.Client(verify=context, timeout=60) as http, net.client(last) as slave:
        for proxy in net.proxies:
            proxy.cut()
        t0 = time.monotonic()
        during = http.post(url, json={"number": 1})
        answer_s = time.monotonic() - t0
        body = during.json()
        etsi = isinstance(body, dict) and isinstance(body.get("message"), str)
        for proxy in net.proxies:
            proxy.heal()
        healed = time.monotonic()
        attempts, after = 0, None
        while time.monotonic() - healed < timeout_s:
            attempts += 1
            after = http.post(url, json={"number": 1})
            if after.status_code == 200:
                break
            time.sleep(0.2)
        recovered_s = time.monotonic() - healed
        same = False
        if after is not None and after.status_code == 200:
            (key,) = after.json()["keys"]
            (got,) = slave.get_keys_with_ids("sae-n0", [key["key_ID"]])
            same = got.material == base64.b64decode(key["key"])
    return {
        "during_status": during.status_code,
        "during_etsi_error": etsi,
        "during_message": body.get("message") if etsi else None,
        "during_details": body.get("details") if etsi else None,
        "during_answer_s": round(answer_s, 2),
        "after_status": None if after is None else after.status_code,
        "recovery_s": round(recovered_s, 2),
        "recovery_attempts": attempts,
        "after_delivered_equal": same,
    }


@contextlib.contextmanager
def running(net: Network) -> Iterator[Network]:
    """The network started, stopped afterwards (whatever happens)."""
    try:
        net.start()
        yield net
    finally:
        net.stop()


def first_keys(net: Network, timeout_s: float = START_S) -> None:
    """Wait until the links have made key for every pair of the load."""
    for master, slave in pairs(net.nodes):
        with net.client(master) as enc, net.client(slave) as dec:

            def ready(enc: KmeClient = enc, dec: KmeClient = dec, master: str = master, slave: str = slave) -> bool:
                try:
                    (key,) = enc.get_keys(f"sae-{slave}")
                except KmeRequestError:
                    return False
                dec.get_keys_with_ids(f"sae-{master}", [key.key_id])
                return True

            _wait_for(f"a first key {master} -> {slave}", ready, timeout_s=timeout_s)


def run(
    site: Path,
    *,
    nodes: int,
    runs: int,
    seed: int,
    workers_per_pair: int = 2,
    relay_timeout: str = "4s",
    hold_s: float = 0.05,
    recheck: int = 2000,
    targets: tuple[str, ...] = TARGETS,
) -> dict[str, Any]:
    """The whole harness on a network in ``site`` (module docstring)."""
    rng = np.random.default_rng(seed)
    net = Network(site, nodes, relay_timeout, hold_s)
    t_start = time.monotonic()
    with running(net):
        first_keys(net)
        start_s = time.monotonic() - t_start
        ledger, stop = Ledger(), threading.Event()
        threads = [
            threading.Thread(target=_worker, args=(net, m, s, ledger, stop), daemon=True)
            for m, s in pairs(nodes)
            for _ in range(workers_per_pair)
        ]
        for thread in threads:
            thread.start()
        t_load = time.monotonic()
        kills, device_exits = [], 0
        for i in range(runs):
            kills.append(kill_round(net, targets[i % len(targets)], rng, ledger))
            device_exits += net.revive_devices()
        load_s = time.monotonic() - t_load
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        settle_s = settle(net)
        figures = count(net, ledger, recheck, rng)
        device_exits += net.revive_devices()
        cut = partition(net)
        settle(net)
    return {
        "nodes": nodes,
        "runs": runs,
        "seed": seed,
        "sae_pairs": [f"{m}->{s}" for m, s in pairs(nodes)],
        "workers": len(threads),
        "relay_timeout": relay_timeout,
        "hold_s": hold_s,
        "load_s": round(load_s, 1),
        "deliveries_per_s": round(figures["delivered"] / load_s, 1),
        "settle_s": round(settle_s, 2),
        **figures,
        "kills": [asdict(k) for k in kills],
        "device_exits": device_exits,
        "restarts_without_delivery": sum(1 for k in kills if k.delivered_after == 0),
        "partition": cut,
        "start_s": round(start_s, 1),
        "wall_s": round(time.monotonic() - t_start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Run, print the figures (JSON) and save them with the machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="kill rounds (each kills one process)")
    parser.add_argument("--nodes", type=int, default=3, choices=range(3, 6), help="KMEs in the line (3-5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="4 rounds (one kill of each kind)")
    parser.add_argument("--relay-timeout", default="4s")
    parser.add_argument("--hold-s", type=float, default=0.05, help="middle KMEs' wait inside each relay step")
    out = Path(__file__).resolve().parent / "results" / "kms_reliability.json"
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS), help="what is killed, in turn")
    parser.add_argument("--keep", type=Path, help="keep the network's folder (logs, stores) here")
    args = parser.parse_args(argv)
    runs = 4 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix="kme-reliability-") as tmp:
        result = run(
            args.keep or Path(tmp) / "site",
            targets=tuple(args.targets),
            nodes=args.nodes,
            runs=runs,
            seed=args.seed,
            relay_timeout=args.relay_timeout,
            hold_s=args.hold_s,
        )
    result = {"machine": machine_info(None), **result}
    print(json.dumps(result, indent=2), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    ok = result["lost"] == 0 and result["duplicated"] == 0 and result["partition"]["during_status"] == 503
    ok = ok and result["recheck_other_answered"] == 0
    return 0 if ok and result["partition"]["after_status"] == 200 else 1


if __name__ == "__main__":
    raise SystemExit(main())
