"""One KME per process (``qinternet kme``, ``serve --processes``): keys relayed between KME processes over
mutual TLS, once only across a KME killed in the middle of a relay, and refusals of wrong certificates and
of replayed or altered relay messages (:mod:`qinternet.kms.relay`).

The network is a line of three nodes, a - m - b (m a user's node that is also a trusted relay), with 0.05 s
blocks so that the devices fill the links within a second or two. A key between the SAEs of a and b is relayed
through m.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from qinternet.apps.etsi_client import KmeClient, KmeRequestError, QkdKey
from qinternet.cli.network_cmd import scenario_named
from qinternet.kms.feeder import topology_of
from qinternet.kms.pki import PkiFiles, init_pki
from qinternet.kms.relay import PeerClient, PeerUnreachableError
from qinternet.kms.southbound import device_ends
from tests.servers import free_ports

SCENARIO = """
name: line3
seed: 3
nodes:
  - {id: a, kind: user, lat_deg: 0, lon_deg: 0}
  - {id: m, kind: user, trusted: true, lat_deg: 0, lon_deg: 0.1}
  - {id: b, kind: user, lat_deg: 0, lon_deg: 0.2}
links:
  - {id: am, a: a, b: m, length_km: 10, block_s: 0.05}
  - {id: mb, a: m, b: b, length_km: 10, block_s: 0.05}
"""
HOLD_S = 1.0
"""Seconds kme-m waits between committing a relay step and sending it on: the kills land there."""
START_S = 90.0
"""Longest a process may take to start (the machine is shared)."""


def _qinternet(*args: str) -> list[str]:
    return [sys.executable, "-m", "qinternet", *args]


def _wait_for(what: str, check: Callable[[], bool], timeout_s: float = START_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s} s"
        time.sleep(0.05)


@dataclass
class Line:
    """The three KMEs and two device pairs of :data:`SCENARIO`, each a process."""

    site: Path
    base_port: int
    kmes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    devices: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def pki(self) -> PkiFiles:
        return PkiFiles(self.site / "pki")

    def url(self, node: str) -> str:
        return f"https://localhost:{self.base_port + 'abm'.index(node)}"

    def start_kme(self, node: str, *, timeout: str, hold_s: float = 0.0, wait: bool = True) -> None:
        ready = self.site / f"ready-{node}.json"
        ready.unlink(missing_ok=True)
        env = dict(os.environ, QINTERNET_KME_RELAY_HOLD_S=str(hold_s))
        log = (self.site / f"kme-{node}.log").open("ab")
        self.kmes[node] = subprocess.Popen(
            _qinternet(
                *("kme", "--node", node, "--scenario", str(self.site / "line.yaml"), "--pki", str(self.site / "pki")),
                *("--state-dir", str(self.site / "state"), "--base-port", str(self.base_port)),
                *("--relay-timeout", timeout, "--ready-file", str(ready)),
            ),
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )
        if wait:
            self.wait_ready(node)

    def wait_ready(self, node: str) -> None:
        process, ready = self.kmes[node], self.site / f"ready-{node}.json"
        _wait_for(f"kme-{node} ready", lambda: ready.exists() or process.poll() is not None)
        assert process.poll() is None, self.log(node)

    def log(self, node: str) -> str:
        return (self.site / f"kme-{node}.log").read_text()

    def client(self, node: str) -> KmeClient:
        sae = f"sae-{node}"
        return KmeClient(self.url(node), self.pki.cert(sae), self.pki.key(sae), self.pki.ca, kme_id=f"kme-{node}")

    def db(self, node: str) -> sqlite3.Connection:
        return sqlite3.connect(self.site / "state" / f"kme-{node}.db", timeout=10)

    def rows(self, node: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
        connection = self.db(node)
        try:
            return connection.execute(query, args).fetchall()
        finally:
            connection.close()


def _write_site(site: Path) -> None:
    site.mkdir(exist_ok=True)
    (site / "line.yaml").write_text(SCENARIO)
    spec = scenario_named(str(site / "line.yaml"))
    topology = topology_of(spec)
    init_pki(
        site / "pki",
        kmes=sorted(topology.kmes),
        saes=[*sorted(topology.sae_kme), "sae-stranger"],
        devices=sorted(device_ends(spec)),
    )


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    site = tmp_path_factory.mktemp("line")
    _write_site(site)
    network = Line(site, free_ports(3))
    try:
        network.start_kme("a", timeout="60s", wait=False)
        network.start_kme("b", timeout="3s", wait=False)
        network.start_kme("m", timeout="60s", hold_s=HOLD_S, wait=False)
        for node in "abm":
            network.wait_ready(node)
        for link, ends in (("am", "am"), ("mb", "mb")):
            network.devices.append(
                subprocess.Popen(
                    _qinternet(
                        *("device", link, "--scenario", str(site / "line.yaml"), "--pki", str(site / "pki")),
                        *("--kme-a", network.url(ends[0]), "--kme-b", network.url(ends[1])),
                        *("--speed", "1", "--max-block-bits", "4096"),
                    ),
                    stdout=subprocess.DEVNULL,
                    stderr=(site / f"device-{link}.log").open("ab"),
                )
            )
        yield network
    finally:
        for process in [*network.devices, *network.kmes.values()]:
            if process.poll() is None:
                process.terminate()
        for process in [*network.devices, *network.kmes.values()]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _first_keys(master: KmeClient, slave_sae: str, number: int = 1) -> list[QkdKey]:
    """Keys once the links have made some (503 until then)."""
    deadline = time.monotonic() + START_S
    while True:
        try:
            return master.get_keys(slave_sae, number=number)
        except KmeRequestError as exc:
            if exc.status != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_key_relayed_through_the_middle_kme_is_the_same_at_both_ends_and_delivered_once(line: Line) -> None:
    with line.client("a") as a, line.client("b") as b:
        keys = _first_keys(a, "sae-b", number=2)
        got = b.get_keys_with_ids("sae-a", [k.key_id for k in keys])
        assert [(k.key_id, k.material) for k in got] == [(k.key_id, k.material) for k in keys]
        # Asked again within the redelivery window: the same key, not a second delivery in b's ledger.
        (again,) = b.get_keys_with_ids("sae-a", [keys[0].key_id])
        assert (again.key_id, again.material) == (keys[0].key_id, keys[0].material)
    delivered = "SELECT COUNT(*) FROM ledger WHERE kind = 'delivered' AND key_id = ?"
    assert line.rows("b", delivered, keys[0].key_id) == [(1,)]
    # m relayed it: its step is committed, and it holds no key of it (nor any other yet).
    (relay,) = line.rows("m", "SELECT role, state, key_ids FROM relays WHERE key_ids LIKE ?", f"%{keys[0].key_id}%")
    assert relay[:2] == ("middle", "forwarding")
    assert line.rows("m", "SELECT COUNT(*) FROM keys") == [(0,)]


def _peer(line: Line, name: str) -> httpx.Client:
    """A client with ``name``'s certificate (a KME's or an SAE's)."""
    files = line.pki
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(str(files.cert(name)), str(files.key(name)))
    return httpx.Client(verify=context, timeout=30)


def test_a_caller_that_is_not_the_previous_kme_of_the_path_is_refused_and_logged(line: Line) -> None:
    body = {
        "relay_ID": "00000000-0000-4000-8000-000000000001",
        "initiator_sae_id": "sae-a",
        "target_sae_ids": ["sae-b"],
        "path": ["kme-a", "kme-m", "kme-b"],
        "hop": 1,
        "size": 256,
        "keys": [{"key_ID": "00000000-0000-4000-8000-000000000002", "pieces": [{"ksid": "x", "index": 0}]}],
    }
    with _peer(line, "sae-stranger") as stranger:  # an SAE's certificate, from the same CA
        answer = stranger.post(f"{line.url('m')}/kme/v1/ext_keys", json=body)
    assert answer.status_code == 401
    assert answer.json()["message"] == "Unauthorized"
    with _peer(line, "kme-b") as kme_b:  # a KME, but not the previous hop of this path
        answer = kme_b.post(f"{line.url('m')}/kme/v1/ext_keys", json=body)
        void = kme_b.post(
            f"{line.url('m')}/kme/v1/void", json={k: body[k] for k in ("relay_ID", "initiator_sae_id", "path")}
        )
    assert answer.status_code == 401
    assert void.status_code == 401  # only the master voids
    log = line.log("m")
    assert "'sae-stranger' is not a peer KME" in log
    assert "'kme-b' is not the previous hop" in log


def test_the_kmes_exchange_link_state_over_mutual_tls_and_refuse_a_report_of_another_kmes_link(line: Line) -> None:
    """kme-m's own reports reach kme-a (a report of sequence 1 is then older than the one kept: ``stale``);
    kme-b reporting m's link to a is refused and logged (:mod:`qinternet.kms.link_state`)."""
    url = f"{line.url('a')}/kme/v1/link_state"
    full = 1 << 40  # what kme-a assumes of an unknown link: the report changes no route if it is kept

    def report(origin: str, peer: str) -> dict[str, Any]:
        return {"KME_ID": origin, "sequence": 1, "links": [{"to_KME_ID": peer, "send_bytes": full}]}

    with _peer(line, "kme-b") as kme_b:
        refused = kme_b.post(url, json=report("kme-m", "kme-a"))
        foreign = kme_b.post(url, json=report("kme-b", "kme-a"))  # b has no link to a
    assert [refused.status_code, foreign.status_code] == [401, 401]
    with _peer(line, "kme-m") as kme_m:
        outcome: list[str] = []

        def older() -> bool:
            answer = kme_m.post(url, json=report("kme-m", "kme-b"))
            assert answer.status_code == 200, answer.text
            outcome.append(answer.json()["outcome"])
            return outcome[-1] == "stale"

        _wait_for("kme-m's own report at kme-a", older, timeout_s=30.0)
    assert "refused a link state from kme-b (401)" in line.log("a")


def test_a_replayed_or_altered_relay_message_is_refused_and_a_repeat_changes_nothing(line: Line) -> None:
    with line.client("a") as a, line.client("b") as b:
        (key,) = _first_keys(a, "sae-b")
        ((sent,),) = line.rows("a", "SELECT outgoing FROM relays WHERE key_ids LIKE ?", f"%{key.key_id}%")
        message = json.loads(sent)
        with _peer(line, "kme-a") as kme_a:
            url = f"{line.url('m')}/kme/v1/ext_keys"
            repeat = kme_a.post(url, json=message)
            altered = kme_a.post(url, json=message | {"target_sae_ids": ["sae-a"]})
            replayed = kme_a.post(url, json=message | {"relay_ID": "00000000-0000-4000-8000-0000000000aa"})
        assert (repeat.status_code, repeat.json()["ack_status"]) == (200, "relayed")  # answered from its commit
        assert altered.status_code == 400
        assert "other content" in altered.text
        assert replayed.status_code == 400
        assert "used already" in replayed.text
        (got,) = b.get_keys_with_ids("sae-a", [key.key_id])  # once: the repeat reserved nothing more
        assert got.material == key.material
    assert line.rows("b", "SELECT COUNT(*) FROM keys WHERE key_id = ?", key.key_id) == [(1,)]
    assert "received here with other content" in line.log("m")


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["keys"] = work()
        except KmeRequestError as exc:
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def _relay_committed_at_m(line: Line, before: int) -> Callable[[], bool]:
    return lambda: line.rows("m", "SELECT COUNT(*) FROM relays WHERE role = 'middle'")[0][0] > before


def test_a_middle_kme_killed_mid_relay_and_restarted_in_time_completes_it_exactly_once(line: Line) -> None:
    """kme-a waits 60 s for its relays: m restarts well within that and the master's retry completes it."""
    with line.client("a") as a, line.client("b") as b:
        _first_keys(a, "sae-b")
        before = line.rows("m", "SELECT COUNT(*) FROM relays WHERE role = 'middle'")[0][0]
        thread, result = _in_thread(lambda: a.get_keys("sae-b"))
        _wait_for("m's step committed", _relay_committed_at_m(line, before), timeout_s=30)
        line.kmes["m"].send_signal(signal.SIGKILL)  # during its hold: committed, not yet sent on
        line.kmes["m"].wait()
        line.start_kme("m", timeout="60s", hold_s=HOLD_S)
        thread.join(timeout=120)
        assert "keys" in result, result
        (key,) = result["keys"]
        (got,) = b.get_keys_with_ids("sae-a", [key.key_id])
        assert got.material == key.material
        (again,) = b.get_keys_with_ids("sae-a", [key.key_id])  # within the redelivery window: the same key
        assert again.material == key.material
    # m took its hops' keys once: one step for the relay, answered again from its commit after the restart.
    rows = line.rows("m", "SELECT COUNT(*) FROM relays WHERE key_ids LIKE ?", f"%{key.key_id}%")
    assert rows == [(1,)]
    # b reserved it once and counts one delivery.
    assert line.rows("b", "SELECT COUNT(*) FROM keys WHERE key_id = ?", key.key_id) == [(1,)]
    delivered = "SELECT COUNT(*) FROM ledger WHERE kind = 'delivered' AND key_id = ?"
    assert line.rows("b", delivered, key.key_id) == [(1,)]


def test_a_relay_whose_middle_kme_stays_down_is_voided_and_the_master_never_gets_the_key(line: Line) -> None:
    """kme-b waits 3 s for its relays; m stays down longer: 503, and after m's restart the void reaches it."""
    with line.client("b") as b:
        _first_keys(b, "sae-a")
        before = line.rows("m", "SELECT COUNT(*) FROM relays WHERE role = 'middle'")[0][0]
        thread, result = _in_thread(lambda: b.get_keys("sae-a"))
        _wait_for("m's step committed", _relay_committed_at_m(line, before), timeout_s=30)
        line.kmes["m"].send_signal(signal.SIGKILL)
        line.kmes["m"].wait()
        thread.join(timeout=60)
        assert "error" in result, result
        assert result["error"].status == 503
        assert "voided" in result["error"].message + str(result["error"].details)
        ((relay_id, state, key_ids),) = line.rows(
            "b", "SELECT relay_id, state, key_ids FROM relays WHERE role = 'master' ORDER BY created_at DESC LIMIT 1"
        )
        assert state == "voiding"  # m has not acknowledged the void yet
        assert line.rows("a", "SELECT state FROM relays WHERE relay_id = ?", relay_id) == [("voided",)]  # tombstone
        line.start_kme("m", timeout="60s", hold_s=HOLD_S)
        _wait_for(
            "the void acknowledged",
            lambda: line.rows("b", "SELECT state FROM relays WHERE relay_id = ?", relay_id) == [("voided",)],
            timeout_s=30,
        )
    assert line.rows("m", "SELECT state FROM relays WHERE relay_id = ?", relay_id) == [("voided",)]
    # The slave's KME never got a key of the relay: nothing of it can be delivered, now or later.
    (key_id,) = json.loads(key_ids)
    assert line.rows("a", "SELECT COUNT(*) FROM keys WHERE key_id = ?", key_id) == [(0,)]


def test_serve_runs_a_kme_and_device_per_process_and_stops_them_all(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``qinternet serve`` without --in-process: a process per KME and per link (forked, so the parent's PID
    is none of theirs), the devices' warm-up in the pools before the first request, each KME's own status
    page and metrics on --ops-port plus its rank."""
    _write_site(tmp_path)
    port, ops = free_ports(3), free_ports(3)
    ready = tmp_path / "ready.json"
    serve = subprocess.Popen(
        _qinternet(
            *("serve", str(tmp_path / "line.yaml"), "--pki", str(tmp_path / "pki"), "--ops-port", str(ops)),
            *("--state-dir", str(tmp_path / "state"), "--base-port", str(port), "--ready-file", str(ready)),
            *("--max-block-bits", "4096", "--warm-up", "1s"),
        ),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("wb"),
    )
    try:
        _wait_for("serve ready", lambda: ready.exists() or serve.poll() is not None)
        urls = json.loads(ready.read_text())
        assert urls == {f"kme-{n}": f"https://localhost:{port + i}" for i, n in enumerate("abm")}

        # A second of 0.05 s blocks, each at most 4,096 bits split between the two directions, at once.
        def sendable(ops_port: int, peer: str) -> int:
            links = httpx.get(f"http://127.0.0.1:{ops_port}/status.json").json()["links"]
            return int(next(link["send_bits"] for link in links if link["peer"] == peer))

        _wait_for("the warm-up pushed", lambda: sendable(ops, "kme-m") >= 4096 and sendable(ops + 2, "kme-b") >= 4096)
        files = PkiFiles(tmp_path / "pki")
        with (
            KmeClient(urls["kme-a"], files.cert("sae-a"), files.key("sae-a"), files.ca, kme_id="kme-a") as a,
            KmeClient(urls["kme-b"], files.cert("sae-b"), files.key("sae-b"), files.ca, kme_id="kme-b") as b,
        ):
            (key,) = _first_keys(a, "sae-b")  # a 503 under load (a hop slow to answer) is tried again
            (got,) = b.get_keys_with_ids("sae-a", [key.key_id])
            assert got.material == key.material
        status = httpx.get(f"http://127.0.0.1:{ops + 2}/status.json").json()  # kme-m, the relay between them
        assert (status["kme"], status["port"], [link["peer"] for link in status["links"]]) == (
            "kme-m",
            port + 2,
            ["kme-a", "kme-b"],
        )
        _wait_for(  # kme-m's report of its link to kme-b, on the status page of kme-a (which routes by it)
            "kme-m's link state at kme-a",
            lambda: any(
                (r["kme"], r["peer"]) == ("kme-m", "kme-b")
                for r in httpx.get(f"http://127.0.0.1:{ops}/status.json").json()["reported"]
            ),
            timeout_s=30,
        )
        metrics = httpx.get(f"http://127.0.0.1:{ops}/metrics").text  # kme-a, the master's
        assert 'qinternet_kms_keys_issued_total{kme="kme-a",master_sae="sae-a",slave_sae="sae-b"} 1.0' in metrics
        assert 'qinternet_kms_link_key_bits{direction="send",kme="kme-a",peer="kme-m"}' in metrics
        assert base64.b64encode(key.material).decode() not in metrics + json.dumps(status)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
        assert not ready.exists()
        log = (tmp_path / "serve.log").read_text()
        assert log.count("stopped") >= 4  # serve and its three KMEs
        assert base64.b64encode(key.material).decode() not in log
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_a_kme_refuses_a_peer_whose_certificate_names_another_kme(line: Line, caplog: pytest.LogCaptureFixture) -> None:
    """kme-a's client, told that kme-m is at kme-b's address, sends nothing to the KME that answers there."""
    client = PeerClient("kme-a", {"kme-m": line.url("b")}, line.pki)
    before = len(line.log("b"))

    async def call() -> None:
        try:
            await client.post("kme-m", "void", {"relay_ID": "x", "initiator_sae_id": "sae-a", "path": []}, 10.0)
        finally:
            await client.aclose()

    with caplog.at_level(logging.WARNING, logger="qinternet.kms"), pytest.raises(PeerUnreachableError) as refused:
        asyncio.run(call())
    assert "presents 'kme-b', not 'kme-m'" in str(refused.value)
    assert "refused peer kme-m: its certificate names 'kme-b'" in caplog.text
    assert "void" not in line.log("b")[before:]  # nothing reached kme-b


def test_a_multicast_key_reaches_a_slave_one_hop_away_and_one_two_hops_away(line: Line) -> None:
    """ETSI GS QKD 014 additional_slave_SAE_IDs: one key K, relayed to kme-b (its first hop's key is K) and to
    kme-m (K under the one-time pad of another key of the same hop)."""
    with line.client("a") as a:
        _first_keys(a, "sae-b")
    with _peer(line, "sae-a") as master:
        for _ in range(100):
            answer = master.post(
                f"{line.url('a')}/api/v1/keys/sae-b/enc_keys", json={"number": 2, "additional_slave_SAE_IDs": ["sae-m"]}
            )
            if answer.status_code != 503:
                break
            time.sleep(0.2)
    assert answer.status_code == 200, answer.text
    keys = {k["key_ID"]: base64.b64decode(k["key"]) for k in answer.json()["keys"]}
    assert len(keys) == 2
    for node in ("b", "m"):
        with line.client(node) as slave:
            got = slave.get_keys_with_ids("sae-a", list(keys))
        assert {k.key_id: k.material for k in got} == keys, node
