"""Keys from QKD devices: a link's device pair pushes each block's key to its two KMEs (the southbound interface).

The story: the link ``ab`` joins ``kme-a`` and ``kme-b``; its devices ``dev-ab-a`` and ``dev-ab-b`` each push
their half of every key to their own KME; the KMEs pool a key once both halves came and agree, and SAEs then
get it through ETSI GS QKD 014. Refusals (a device of another end, a key of the wrong length, an index pushed
twice, halves that differ) change nothing and are logged. A device pair killed mid-push and started again
continues from what each KME acknowledged.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qinternet.apps import qkd_device
from qinternet.apps.etsi_client import KmeClient
from qinternet.apps.qkd_device import DevicePair, LinkKeySource, stream_id
from qinternet.cli.network_cmd import scenario_named
from qinternet.kms.api import create_app
from qinternet.kms.feeder import topology_of
from qinternet.kms.pki import PkiFiles, init_pki
from qinternet.kms.southbound import device_ends
from qinternet.kms.store import KeyStore
from qinternet.kms.tls import KmeServer, start_in_thread
from qinternet.kms.topology import KmsTopology
from tests.kms.test_api import AsSae
from tests.servers import free_port, free_ports

SCENARIO = """
name: sb
seed: 5
nodes:
  - {id: a, kind: user, lat_deg: 0, lon_deg: 0}
  - {id: b, kind: user, lat_deg: 0, lon_deg: 0.2}
links:
  - {id: ab, a: a, b: b, length_km: 20, block_s: 0.05}
"""
CHUNK = 32
BLOCK_BITS = 8 * CHUNK * 8
"""Each block gives 8 keys (the link makes far more; the rest is discarded at the devices)."""
PUSH = "/southbound/v1/push_key"
OPEN = "/southbound/v1/open_connect"
KSID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "net.yaml").write_text(SCENARIO)
    return tmp_path


def _spec(site: Path) -> Any:
    return scenario_named(str(site / "net.yaml"))


@pytest.fixture
def served(site: Path) -> Iterator[tuple[KeyStore, PkiFiles, dict[str, str], KmsTopology]]:
    """kme-a and kme-b serving over mutual TLS, taking key from devices only (empty pools)."""
    spec = _spec(site)
    topology = topology_of(spec)
    devices = device_ends(spec)
    pki = init_pki(site / "pki", kmes=["kme-a", "kme-b"], saes=["sae-a", "sae-b"], devices=sorted(devices))
    store = KeyStore(f"sqlite:///{site / 'kms.db'}")
    kmes = [
        KmeServer(
            kme, create_app(kme, store, topology, devices=devices), free_port(), pki.cert(kme), pki.key(kme), pki.ca
        )
        for kme in ("kme-a", "kme-b")
    ]
    running = start_in_thread(kmes)
    try:
        yield store, pki, {k.kme_id: f"https://localhost:{k.port}" for k in kmes}, topology
    finally:
        running.stop()
        store.close()


def _pair(site: Path, pki: PkiFiles, urls: dict[str, str]) -> DevicePair:
    source = LinkKeySource(_spec(site), "ab", chunk_bytes=CHUNK, max_block_bits=BLOCK_BITS)
    return DevicePair(source, (urls["kme-a"], urls["kme-b"]), pki)


def _sae_round_trip(pki: PkiFiles, urls: dict[str, str], number: int) -> list[bytes]:
    """sae-a takes ``number`` keys for sae-b (ETSI GS QKD 014 enc_keys), sae-b fetches them (dec_keys): both
    must hold the same bytes; the keys."""
    with (
        KmeClient(urls["kme-a"], pki.cert("sae-a"), pki.key("sae-a"), pki.ca) as master,
        KmeClient(urls["kme-b"], pki.cert("sae-b"), pki.key("sae-b"), pki.ca) as slave,
    ):
        issued = master.get_keys("sae-b", number=number, size=8 * CHUNK)
        delivered = slave.get_keys_with_ids("sae-a", [k.key_id for k in issued])
    assert [k.material for k in issued] == [k.material for k in delivered]
    return [k.material for k in issued]


def test_a_device_pair_feeds_both_kmes_and_saes_get_the_devices_keys(site: Path, served: Any) -> None:
    store, pki, urls, _ = served
    pair = _pair(site, pki, urls)
    try:
        pair.open()
        pair.step(0.5)  # ten blocks of 8 keys
        pair.close_streams()
    finally:
        pair.close()
    assert pair.report.blocks == 10
    assert pair.report.outcomes["a"]["pending"] == 80  # a pushed first: its halves waited for b's
    assert pair.report.outcomes["b"]["pooled"] == 80
    assert store.pool_level("kme-a", "kme-b") == store.pool_bytes("kme-a", "kme-b") == 80 * CHUNK
    keys = _sae_round_trip(pki, urls, 3)
    # The pool's oldest key is block 0's first key, as a fresh run of the same link makes it (seeded, not urandom).
    fresh = LinkKeySource(_spec(site), "ab", chunk_bytes=CHUNK, max_block_bits=BLOCK_BITS).advance(0.05)
    assert keys == fresh[0].alice[:3]


def test_a_device_pair_killed_mid_push_loses_nothing_acknowledged(
    site: Path, served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, pki, urls, _ = served
    monkeypatch.setattr(qkd_device, "MAX_KEYS_PER_PUSH", 12)  # several pushes per step
    first = _pair(site, pki, urls)
    pushed = 0
    real_push = first._ends[1].client.push

    def dies_on_the_third_push(ksid: str, keys: Any) -> list[str]:
        nonlocal pushed
        pushed += 1
        if pushed == 3:
            raise KeyboardInterrupt  # the process is killed while b's third push is on its way
        return real_push(ksid, keys)

    monkeypatch.setattr(first._ends[1].client, "push", dies_on_the_third_push)
    first.open()
    with pytest.raises(KeyboardInterrupt):
        first.step(0.3)  # 6 blocks, 48 keys: a pushed all, b two pushes of 12
    first.close()
    assert store.pool_level("kme-a", "kme-b") == 24 * CHUNK

    again = _pair(site, pki, urls)  # the restart: each KME says which index it expects
    try:
        again.open()
        assert [end.next_index for end in again._ends] == [(5 << 32) | 8, 2 << 32 | 8]
        again.step(0.4)  # the replayed blocks 2..5 for b, and blocks 6 and 7 for both
    finally:
        again.close()
    outcomes = again.report.outcomes
    assert outcomes["a"] == {"pending": 16}
    assert outcomes["b"] == {"pooled": 24 + 16}
    assert store.pool_level("kme-a", "kme-b") == 64 * CHUNK  # every key of blocks 0..7 once
    assert len(_sae_round_trip(pki, urls, 4)) == 4


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _device(store: KeyStore, spec: Any, kme: str, caller: str) -> httpx.AsyncClient:
    app = create_app(kme, store, topology_of(spec), devices=device_ends(spec), pool_capacity_bytes=4 * CHUNK)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=AsSae(app, caller)), base_url="https://kme")


def _keys(*items: tuple[int, bytes]) -> dict[str, Any]:
    keys = [{"index": i, "length": len(k), "Key_buffer": base64.b64encode(k).decode()} for i, k in items]
    return {"Key_stream_ID": KSID, "keys": keys}


@pytest.mark.anyio
async def test_the_kmes_refuse_what_is_not_one_key_of_the_link_agreed_by_both_devices(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = _spec(site)
    store = KeyStore(f"sqlite:///{site / 'kms.db'}")
    caplog.set_level(logging.INFO, "qinternet.kms")
    key = bytes(range(CHUNK))
    try:
        async with (
            _device(store, spec, "kme-a", "dev-ab-a") as a,
            _device(store, spec, "kme-b", "dev-ab-b") as b,
            _device(store, spec, "kme-a", "dev-ab-b") as wrong_end,
            _device(store, spec, "kme-a", "sae-a") as an_sae,
        ):
            qos = {"Key_stream_ID": KSID, "QoS": {"Key_chunk_size": CHUNK}}
            for client in (wrong_end, an_sae):  # not a device of kme-a's end of a link: 401, logged
                r = await client.post(OPEN, json=qos)
                assert r.status_code == 401, r.text
            assert "'dev-ab-b' is not a QKD device of this KME's links" in caplog.text
            r = await a.post(PUSH, json=_keys((0, key)))
            assert r.status_code == 400  # not opened yet
            assert (await a.post(OPEN, json=qos)).json()["status"] == 1  # the partner has not opened it
            assert (await b.post(OPEN, json={**qos, "QoS": {"Key_chunk_size": 64}})).json()["status"] == 7
            assert (await b.post(OPEN, json=qos)).json()["status"] == 0

            async def push(client: httpx.AsyncClient, *items: tuple[int, bytes]) -> list[str]:
                r = await client.post(PUSH, json=_keys(*items))
                assert r.status_code == 200, r.text
                return [item["outcome"] for item in r.json()["keys"]]

            assert await push(a, (0, key), (1, key[:-1]), (2, key + b"x"), (3, key)) == [
                "pending",
                "wrong_length",
                "wrong_length",
                "pending",
            ]
            assert await push(a, (0, key)) == ["repeated_index"]  # a replay
            altered = bytes([key[0] ^ 1]) + key[1:]
            assert await push(b, (0, key), (3, altered)) == ["pooled", "mismatch"]
            assert await push(a, (3, key)) == ["repeated_index"]  # the index is spent
            assert await push(b, (3, key)) == ["repeated_index"]
            assert store.pool_bytes("kme-a", "kme-b") == CHUNK  # index 0 only
            # The pool holds 4 keys: of six more agreed, two are discarded (and counted), none is cut.
            for index in range(4, 10):
                assert await push(a, (index, key)) == ["pending"]
            assert await push(b, *((i, key) for i in range(4, 10))) == ["pooled"] * 3 + ["discarded"] * 3
            assert store.pool_bytes("kme-a", "kme-b") == 4 * CHUNK
            reopened = (await a.post(OPEN, json=qos)).json()
            assert (reopened["status"], reopened["next_index"], reopened["pending"]) == (0, 10, 0)
    finally:
        store.close()
    kinds = [(e.kind, e.bits) for e in store.ledger() if e.kind != "generated"]
    assert kinds == [("mismatched", 8 * CHUNK), *[("discarded", 8 * CHUNK)] * 3]
    for refused in ("wrong_length", "repeated_index", "mismatch"):
        assert f"refused: {refused}" in caplog.text
    assert key.hex() not in caplog.text


def test_postprocessed_keys_are_the_pipeline_s_and_both_devices_agree(site: Path) -> None:
    (site / "pp.yaml").write_text(SCENARIO.replace("block_s: 0.05", "block_s: 0.1"))
    spec = scenario_named(str(site / "pp.yaml"))
    source = LinkKeySource(spec, "ab", chunk_bytes=CHUNK, max_block_bits=1e6, postprocess=True)
    (block,) = source.advance(0.1)
    assert len(block.alice) > 10
    assert block.alice == block.bob
    assert block.alice != LinkKeySource(spec, "ab", chunk_bytes=CHUNK, max_block_bits=1e6).advance(0.1)[0].alice


def test_serve_with_external_devices_takes_key_from_the_device_command(cli, site: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_ports(2)
    ready = site / "ready.json"
    log = (site / "serve.log").open("wb")
    serve = subprocess.Popen(
        [
            *(sys.executable, "-m", "qinternet", "serve", str(site / "net.yaml"), "--devices", "external"),
            *("--pki", str(site / "pki"), "--db", f"sqlite:///{site / 'kms.db'}", "--base-port", str(port)),
            *("--ops-port", "0", "--ready-file", str(ready)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and serve.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), (site / "serve.log").read_text()
        urls = {"kme-a": f"https://localhost:{port}", "kme-b": f"https://localhost:{port + 1}"}
        code, out, err = cli(
            *("device", "ab", "--scenario", str(site / "net.yaml"), "--pki", str(site / "pki")),
            *("--kme-a", urls["kme-a"], "--kme-b", urls["kme-b"], "--duration", "0.3s", "--speed", "1"),
            *("--max-block-bits", str(BLOCK_BITS)),
        )
        assert code == 0, err
        assert "pooled" in out
        assert len(_sae_round_trip(PkiFiles(site / "pki"), urls, 2)) == 2
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        log.close()


def test_bad_device_and_serve_options_are_one_line_naming_them(cli, site: Path) -> None:  # type: ignore[no-untyped-def]
    init_pki(site / "pki", kmes=["kme-a", "kme-b"], saes=[], devices=sorted(device_ends(_spec(site))))
    base = ["device", "ab", "--scenario", str(site / "net.yaml"), "--pki", str(site / "pki")]
    base += ["--kme-a", f"https://localhost:{free_port()}", "--kme-b", f"https://localhost:{free_port()}"]
    for argv, option in (
        ([*base[:1], "nope", *base[2:]], "LINK"),
        ([*base, "--chunk-bytes", "8"], "--chunk-bytes"),
        ([*base, "--postprocess"], "--postprocess"),  # 0.05 s blocks of 5e7 pulses: fine; unreachable KME next
        ([*base[:-1], "http://localhost:1"], "--kme-b"),
        (["serve", str(site / "net.yaml"), "--devices", "external", "--dashboard"], "--dashboard"),
        (["serve", str(site / "net.yaml"), "--devices", "sometimes"], "--devices"),
    ):
        code, _out, err = cli(*argv)
        lines = err.strip().splitlines()
        assert code == 2, (argv, err)
        assert len(lines) == 1, err
        assert option in lines[0] or (option == "--postprocess" and "--kme-a" in lines[0]), lines[0]
    assert stream_id(_spec(site), "ab") == stream_id(_spec(site), "ab") != stream_id(_spec(site), "ba")
