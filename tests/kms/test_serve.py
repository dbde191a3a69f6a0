"""``qinternet serve`` as an operator runs it, and a kill -9 under load that loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from qinternet.kms.store import KeyStore
from tests.servers import free_ports, port_is_free

SCENARIO = """
name: two-sites
seed: 5
time: {duration_s: 1d, step_s: 60s}
nodes:
  - {id: alice, kind: user, lat_deg: 46.2, lon_deg: 6.1}
  - {id: relay, kind: trusted-relay, lat_deg: 46.5, lon_deg: 6.6}
  - {id: bob, kind: user, lat_deg: 46.9, lon_deg: 7.4}
links:
  - {id: l1, a: alice, b: relay, length_km: 20, block_s: 60}
  - {id: l2, a: relay, b: bob, length_km: 30, block_s: 60}
"""


def start(folder: Path, port: int, *extra: str, db: str | None = None) -> subprocess.Popen[bytes]:
    """``qinternet serve`` on ``net.yaml`` in ``folder``, its log appended to ``folder / "serve.log"``; the
    key store is ``db`` (default: ``kms.db`` in ``folder``)."""
    log = (folder / "serve.log").open("ab")
    started_before = _serving_lines(folder)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qinternet",
            "serve",
            str(folder / "net.yaml"),
            "--pki",
            str(folder / "pki"),
            "--db",
            db or f"sqlite:///{folder / 'kms.db'}",
            "--base-port",
            str(port),
            "--speed",
            "60",
            "--warm-up",
            "2min",
            *(extra or ("--ops-port", "0")),
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((folder / "serve.log").read_text())
        if _serving_lines(folder) > started_before:  # ports bound, pools warmed up, every server up
            return process
        time.sleep(0.05)
    process.kill()
    raise TimeoutError("serve did not start")


def _serving_lines(folder: Path) -> int:
    log = folder / "serve.log"
    return len(re.findall(r"serving \d+ KMEs", log.read_text())) if log.exists() else 0


def client(folder: Path, sae: str) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(folder / "pki" / "ca.pem"))
    context.load_cert_chain(str(folder / "pki" / f"{sae}.pem"), str(folder / "pki" / f"{sae}.key"))
    return httpx.Client(verify=context, timeout=10)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "net.yaml").write_text(SCENARIO)
    return tmp_path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The key store of a served site: a SQLite file, or a new database on the throwaway PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kms.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


def test_serve_hands_out_relayed_keys_over_mutual_tls(site: Path, db_url: str) -> None:
    port = free_ports(4)
    ops = port + 3
    process = start(site, port, "--ops-port", str(ops), "--log-format", "json", db=db_url)  # alice, bob, relay
    try:
        with client(site, "sae-alice") as alice, client(site, "sae-bob") as bob:
            status = alice.get(f"https://localhost:{port}/api/v1/keys/sae-bob/status").json()
            assert status["target_KME_ID"] == "kme-bob"
            assert status["stored_key_count"] > 0  # the warm-up filled the pools
            keys = alice.post(f"https://localhost:{port}/api/v1/keys/sae-bob/enc_keys", json={"number": 4}).json()[
                "keys"
            ]
            got = bob.post(
                f"https://localhost:{port + 1}/api/v1/keys/sae-alice/dec_keys",
                json={"key_IDs": [{"key_ID": k["key_ID"]} for k in keys]},
            )
            assert got.json()["keys"] == keys
            streamed = _key_stream_round_trip(alice, bob, port)
        metrics = httpx.get(f"http://127.0.0.1:{ops}/metrics").text
        assert (
            'qinternet_kms_keys_issued_total{kme="kme-alice",master_sae="sae-alice",slave_sae="sae-bob"} 4.0' in metrics
        )
        assert (
            'qinternet_kms_keys_delivered_total{kme="kme-bob",master_sae="sae-alice",slave_sae="sae-bob"} 4.0'
            in metrics
        )
        assert 'qinternet_kms_pool_bits{kme_a="kme-alice",kme_b="kme-relay"}' in metrics
        assert "qinternet_kms_request_seconds_bucket" in metrics
        assert keys[0]["key"] not in metrics
        page = httpx.get(f"http://127.0.0.1:{ops}/").text
        assert "kme-relay" in page
        assert keys[0]["key_ID"] not in page
        assert httpx.get(f"http://127.0.0.1:{ops}/healthz").json()["database"] == "ok"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) in (0, -signal.SIGINT, 130)
    log = (site / "serve.log").read_text()
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any("issued 4 keys" in e["message"] for e in events)
    assert all(k["key"] not in log for k in keys)  # key material never logged
    assert streamed not in log
    assert any("get_key sae=sae-bob" in e["message"] for e in events)


def _key_stream_round_trip(alice: httpx.Client, bob: httpx.Client, port: int) -> str:
    """ETSI GS QKD 004 on the served KMEs: alice opens a stream, bob joins at his KME, both get the same
    relayed key for index 0; a Min_bps beyond the links' key rate (as served, at --speed) is refused with
    that rate. The key (base64)."""
    ks_alice, ks_bob = f"https://localhost:{port}/api/v1/ks", f"https://localhost:{port + 1}/api/v1/ks"
    greedy = alice.post(f"{ks_alice}/open_connect", json={"destination": "sae-bob", "QoS": {"Min_bps": 2**32 - 1}})
    assert greedy.json()["status"] == 7
    assert 0 < greedy.json()["QoS"]["Min_bps"] < 2**32 - 1
    opened = alice.post(f"{ks_alice}/open_connect", json={"destination": "sae-bob"}).json()
    ksid = opened["Key_stream_ID"]
    joined = bob.post(f"{ks_bob}/open_connect", json={"destination": "sae-alice", "Key_stream_ID": ksid}).json()
    assert (opened["status"], joined["status"]) == (1, 0)
    mine = alice.post(f"{ks_alice}/get_key", json={"Key_stream_ID": ksid, "index": 0}).json()
    theirs = bob.post(f"{ks_bob}/get_key", json={"Key_stream_ID": ksid, "index": 0}).json()
    assert mine["status"] == theirs["status"] == 0
    assert mine["Key_buffer"] == theirs["Key_buffer"]
    assert alice.post(f"{ks_alice}/close", json={"Key_stream_ID": ksid}).json()["status"] == 0
    return str(mine["Key_buffer"])


def test_kill_9_under_load_loses_no_received_key_and_delivers_none_twice(site: Path, db_url: str) -> None:
    """Masters and slaves hammer the KMEs; the server dies by SIGKILL mid-stream and comes back on its database.

    Afterwards every key a master received is obtainable by its slave with the same bits and counted as
    delivered exactly once: a key fetched before the kill is answered again with the same bits within the
    redelivery window (60 s), and so is one whose ``dec_keys`` answer the kill cut after its commit.
    """
    port = free_ports(3)
    process = start(site, port, db=db_url)
    issued: dict[str, str] = {}
    fetched: dict[str, str] = {}
    twice: list[str] = []  # key IDs seen twice by a master or by the slave (checked in the main thread)
    lock = threading.Lock()
    stop = threading.Event()

    def master() -> None:
        with client(site, "sae-alice") as alice:
            while not stop.is_set():
                try:
                    r = alice.get(f"https://localhost:{port}/api/v1/keys/sae-bob/enc_keys", params={"number": "2"})
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    with lock:
                        for k in r.json()["keys"]:
                            if k["key_ID"] in issued:
                                twice.append(k["key_ID"])
                            issued[k["key_ID"]] = k["key"]

    def slave() -> None:
        with client(site, "sae-bob") as bob:
            while not stop.is_set():
                with lock:
                    pending = [k for k in issued if k not in fetched][:4]
                if not pending:
                    time.sleep(0.01)
                    continue
                try:
                    r = bob.post(
                        f"https://localhost:{port + 1}/api/v1/keys/sae-alice/dec_keys",
                        json={"key_IDs": [{"key_ID": k} for k in pending]},
                    )
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    with lock:
                        for k in r.json()["keys"]:
                            if k["key_ID"] in fetched:
                                twice.append(k["key_ID"])
                            fetched[k["key_ID"]] = k["key"]

    threads = [threading.Thread(target=master), threading.Thread(target=slave)]
    for t in threads:
        t.start()
    time.sleep(3.0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(issued) > 20, "the load ran"
    assert twice == []
    assert all(issued[k] == v for k, v in fetched.items())
    process = start(site, port, db=db_url)
    try:
        with client(site, "sae-bob") as bob:
            for key_id, key in issued.items():
                r = bob.get(f"https://localhost:{port + 1}/api/v1/keys/sae-alice/dec_keys", params={"key_ID": key_id})
                # Received by the master: not lost. Fetched before the crash (or its answer cut by the kill):
                # the same bits again, within the redelivery window.
                assert r.status_code == 200, (key_id, key_id in fetched, r.text)
                assert r.json()["keys"] == [{"key_ID": key_id, "key": key}]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    # The store's ledger: every key the master received was delivered exactly once to the slave (asking
    # again within the window is not a second delivery).
    store = KeyStore(db_url)
    delivered = [event.key_id for event in store.ledger() if event.kind == "delivered"]
    store.close()
    assert len(delivered) == len(set(delivered))
    assert set(issued) <= set(delivered)


def test_serve_and_pki_refuse_bad_input(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "net.yaml").write_text(SCENARIO)
    for args, option in (
        (["serve", str(tmp_path / "net.yaml"), "--speed", "0"], "--speed"),
        (["serve", str(tmp_path / "net.yaml"), "--base-port", "70000"], "--base-port"),
        (["serve", str(tmp_path / "net.yaml"), "--warm-up", "soon"], "--warm-up"),
        (["serve", "atlantis"], "neither a built-in scenario"),
    ):
        code, _, err = cli(*args)
        assert code == 2, args
        assert option in err
    target = tmp_path / "taken"
    target.write_text("")
    code, _, err = cli("pki", "init", str(target))
    assert code == 2
    assert "is a file" in err


def test_serve_names_a_key_store_it_cannot_open_in_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "net.yaml").write_text(SCENARIO)
    sealed = f"sqlite:///{tmp_path / 'sealed.db'}"
    store = KeyStore(sealed, master_key=os.urandom(32))
    store.add_key("alice", "relay", os.urandom(64))
    store.close()
    (tmp_path / "other.key").write_bytes(os.urandom(32))
    (tmp_path / "other.key").chmod(0o600)
    (tmp_path / "text.db").write_text("not a database")
    serve = ["serve", str(tmp_path / "net.yaml"), "--pki", str(tmp_path / "pki"), "--warm-up", "0s"]
    serve += ["--base-port", str(free_ports(3)), "--ops-port", "0"]  # the ports are bound before the store opens
    for extra, option, reason in (
        (["--db", sealed], "--master-key-file", "encrypted at rest"),
        (["--db", sealed, "--master-key-file", str(tmp_path / "other.key")], "--master-key-file", "not the one"),
        (["--db", "garbage://"], "--db", "no such database dialect"),
        (["--db", "mysql://operator:hunter2@db.example/kms"], "--db", "driver is not installed"),
        (["--db", f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"], "--db", "unable to open"),
        (["--db", f"sqlite:///{tmp_path / 'text.db'}"], "--db", "not a database"),
        (["--db", "postgresql+psycopg://operator:hunter2@127.0.0.1:1/kms"], "--db", "cannot open the key store"),
        (["--db", "sqlite://"], "--db", "in-memory"),  # each connection its own empty database
        (["--db", "sqlite:///:memory:"], "--db", "in-memory"),
    ):
        code, _, err = cli(*serve, *extra)
        assert code == 2, extra
        assert err.startswith(f"qinternet: error: {option}: "), err
        assert reason in err, err
        assert "hunter2" not in err
        assert "Traceback" not in err
    (tmp_path / "other.key").chmod(0o644)
    code, _, err = cli(*serve, "--db", sealed, "--master-key-file", str(tmp_path / "other.key"))
    assert code == 2
    assert "can be read by other users: chmod 600 it" in err  # said before the refusal


def test_pki_init_then_serve_a_scenario_signs_what_is_missing(site: Path) -> None:
    """The README's order: `qinternet pki init pki`, then `qinternet serve`: the scenario's certificates
    are signed by that CA, the ones already there are kept."""
    pki = site / "pki"
    subprocess.run([sys.executable, "-m", "qinternet", "pki", "init", str(pki)], check=True, capture_output=True)
    kept = (pki / "sae-a.pem").read_bytes()
    port = free_ports(3)
    process = start(site, port)
    try:
        with client(site, "sae-alice") as alice:
            assert alice.get(f"https://localhost:{port}/api/v1/keys/sae-bob/status").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert (pki / "sae-a.pem").read_bytes() == kept


def test_pki_init_on_an_existing_pki_keeps_it_and_signs_what_is_new(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Running `pki init` again must not invalidate certificates already handed out; --force starts over."""
    pki = tmp_path / "pki"
    assert cli("pki", "init", str(pki))[0] == 0
    ca, sae_a = (pki / "ca.pem").read_bytes(), (pki / "sae-a.pem").read_bytes()
    code, out, err = cli("pki", "init", str(pki), "--sae", "sae-a", "--sae", "sae-new")
    assert code == 0, err
    assert "kept" in out
    assert "sae-new" in out
    assert (pki / "ca.pem").read_bytes() == ca
    assert (pki / "sae-a.pem").read_bytes() == sae_a
    new = x509.load_pem_x509_certificate((pki / "sae-new.pem").read_bytes())
    new.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))  # signed by the CA that was there
    code, out, err = cli("pki", "init", str(pki), "--force")
    assert code == 0, err
    assert (pki / "ca.pem").read_bytes() != ca
    new_ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    for name in ("kme-a", "kme-b", "sae-a", "sae-b"):  # all re-signed by the new CA
        x509.load_pem_x509_certificate((pki / f"{name}.pem").read_bytes()).verify_directly_issued_by(new_ca)
    assert "no longer valid" in out
    assert "sae-new" in out
    assert cli("pki", "init", str(tmp_path / "other"))[0] == 0
    (pki / "ca.key").write_bytes((tmp_path / "other" / "ca.key").read_bytes())  # another CA's key
    code, _, err = cli("pki", "init", str(pki), "--sae", "sae-x")
    assert code == 2
    assert "not the key of ca.pem" in err
    assert not (pki / "sae-x.pem").exists()
    (pki / "ca.key").unlink()
    code, _, err = cli("pki", "init", str(pki))
    assert code == 2
    assert "no ca.key" in err


def test_pki_init_refuses_names_that_are_not_certificate_names(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pki = tmp_path / "site" / "pki"
    for extra, option in (
        (["--sae", "../evil"], "--sae"),
        (["--sae", ""], "--sae"),
        (["--kme", "kme/a"], "--kme"),
        (["--sae", "s" * 65], "--sae"),
        (["--sae", "CA"], "--sae"),  # would overwrite the CA's own files
        (["--kme", "x", "--sae", "x"], "--sae"),  # one file for two certificates
        (["--server-name", "bad host"], "--server-name"),
        (["--server-name", "-x.example"], "--server-name"),
        (["--server-name", "*.example.org"], "--server-name"),
    ):
        code, _, err = cli("pki", "init", str(pki), *extra)
        assert code == 2, extra
        assert err.startswith(f"qinternet: error: {option}: "), err
    assert not (tmp_path / "site").exists()  # refused before anything was written
    assert not list(tmp_path.rglob("evil*"))


def test_pki_init_server_names_go_into_every_kme_certificate(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pki = tmp_path / "pki"
    code, _, err = cli(
        "pki", "init", str(pki), "--sae", "sae-a", "--sae", "sae-a", "--server-name", "kms.example.org",
        "--server-name", "192.0.2.7",
    )  # fmt: skip
    assert code == 0, err
    names = (
        x509.load_pem_x509_certificate((pki / "kme-a.pem").read_bytes())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "kms.example.org"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1", "192.0.2.7"]
    assert sorted(p.name for p in pki.glob("sae-*.pem")) == ["sae-a.pem"]  # a name given twice: one certificate


def test_a_port_in_use_is_one_line_before_anything_is_served(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "net.yaml").write_text(SCENARIO)
    port = free_ports(5)
    serve = ["serve", str(tmp_path / "net.yaml"), "--pki", str(tmp_path / "pki"), "--warm-up", "0s"]
    serve += ["--db", f"sqlite:///{tmp_path / 'kms.db'}", "--base-port", str(port)]
    for taken, option in ((port + 1, "--base-port"), (port + 4, "--ops-port")):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", taken))
            holder.listen()
            code, out, err = cli(*serve, "--ops-port", str(port + 4))
        assert code == 2
        assert err.startswith(f"qinternet: error: {option}: cannot listen on 127.0.0.1:{taken}"), err
        assert "in use" in err
        assert "serving" not in out
        assert "Traceback" not in err
    for extra, option in (
        (["--host", "not a host"], "--host"),
        (["--host", "192.0.2.55"], "--host"),  # TEST-NET-1: no machine's address
        (["--ops-host", "192.0.2.55", "--ops-port", str(port + 4)], "--ops-host"),
    ):
        code, _, err = cli(*serve, *extra)
        assert code == 2, extra
        assert err.startswith(f"qinternet: error: {option}: "), err


@pytest.mark.parametrize("when", ["warming up", "serving"])
def test_sigterm_stops_serve_cleanly_at_any_point(site: Path, when: str) -> None:
    port = free_ports(3)
    if when == "serving":
        process = start(site, port)
    else:  # once the ports listen, before the warm-up ends
        command = [sys.executable, "-m", "qinternet", "serve", str(site / "net.yaml"), "--pki", str(site / "pki")]
        command += ["--db", f"sqlite:///{site / 'kms.db'}", "--base-port", str(port), "--ops-port", "0"]
        command += ["--speed", "60", "--warm-up", "1d"]  # a day of warm-up: seconds of work
        process = subprocess.Popen(
            command,
            cwd=site,
            stdout=subprocess.DEVNULL,
            stderr=(site / "serve.log").open("ab"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and port_is_free(port):
            time.sleep(0.02)
        assert not port_is_free(port)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    log = (site / "serve.log").read_text()
    assert log.rstrip().endswith("stopped")
    assert "Traceback" not in log


def test_serve_refuses_a_pki_folder_whose_certificates_are_another_ca_s(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A folder mixing two PKIs would serve, then refuse every client at the handshake."""
    (tmp_path / "net.yaml").write_text(SCENARIO)
    net = str(tmp_path / "net.yaml")
    assert cli("pki", "init", str(tmp_path / "pki"), "--scenario", net)[0] == 0
    assert cli("pki", "init", str(tmp_path / "other"))[0] == 0
    for name in ("ca.pem", "ca.key"):  # the other CA, with this folder's certificates
        (tmp_path / "pki" / name).write_bytes((tmp_path / "other" / name).read_bytes())
    code, out, err = cli(
        "serve", net, "--pki", str(tmp_path / "pki"), "--db", f"sqlite:///{tmp_path / 'kms.db'}",
        "--base-port", str(free_ports(3)), "--ops-port", "0", "--warm-up", "0s",
    )  # fmt: skip
    assert code == 2
    assert err.startswith("qinternet: error: --pki: kme-alice.pem, kme-bob.pem, kme-relay.pem not signed by"), err
    assert "serving" not in out


def test_the_ready_file_appears_when_the_kmes_answer_and_goes_when_they_stop(site: Path) -> None:
    """A script can wait for --ready-file instead of guessing how long the warm-up takes."""
    port = free_ports(3)
    ready = site / "ready.json"
    command = [sys.executable, "-m", "qinternet", "serve", str(site / "net.yaml"), "--pki", str(site / "pki")]
    command += ["--db", f"sqlite:///{site / 'kms.db'}", "--base-port", str(port), "--ops-port", "0"]
    command += ["--speed", "60", "--warm-up", "2min", "--ready-file", str(ready)]
    process = subprocess.Popen(command, cwd=site, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert process.poll() is None
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.05)
        urls = json.loads(ready.read_text())
        assert urls == {f"kme-{n}": f"https://localhost:{port + i}" for i, n in enumerate(["alice", "bob", "relay"])}
        with client(site, "sae-alice") as alice:  # the first request after the file appears is answered
            status = alice.get(f"{urls['kme-alice']}/api/v1/keys/sae-bob/status")
        assert status.status_code == 200
        assert status.json()["stored_key_count"] > 0
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert not ready.exists()


def test_one_sigint_at_any_moment_of_start_up_stops_serve(site: Path) -> None:
    """One ^C stops serve whenever it comes: in the warm-up, as the ready file appears, while the servers start
    and while a client's TLS handshakes are being answered (a KeyboardInterrupt raised there was lost)."""
    for delay_s in (None, 0.0, 0.03, 0.1, 0.3):  # None: during the warm-up
        port = free_ports(3)
        ready = site / "ready.json"
        command = [sys.executable, "-m", "qinternet", "serve", str(site / "net.yaml"), "--pki", str(site / "pki")]
        command += ["--db", f"sqlite:///{site / 'kms.db'}", "--base-port", str(port), "--ops-port", "0"]
        command += ["--speed", "60", "--warm-up", "1d" if delay_s is None else "2min", "--ready-file", str(ready)]
        log = site / "serve.log"
        with log.open("wb") as err:
            process = subprocess.Popen(command, cwd=site, stdout=subprocess.DEVNULL, stderr=err)
        stop = threading.Event()

        def connect(port: int = port, stop: threading.Event = stop) -> None:
            while not stop.is_set():  # handshakes keep the server in Python code called from its connections
                try:
                    with client(site, "sae-alice") as alice:
                        alice.get(f"https://localhost:{port}/api/v1/keys/sae-bob/status")
                except (httpx.HTTPError, OSError):
                    time.sleep(0.005)

        try:
            deadline = time.monotonic() + 60
            if delay_s is None:
                while port_is_free(port):
                    assert process.poll() is None
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
            else:
                while not ready.exists():
                    assert process.poll() is None
                    assert time.monotonic() < deadline
                    time.sleep(0.005)
                threading.Thread(target=connect, daemon=True).start()
                time.sleep(delay_s)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0, delay_s
        finally:
            stop.set()
            if process.poll() is None:
                process.kill()
                process.wait()
        text = log.read_text()
        assert text.rstrip().endswith("stopped"), (delay_s, text)
        assert "Traceback" not in text, (delay_s, text)
        assert not ready.exists()
