"""ETSI GS QKD 004 key streams on the KME (this project's HTTP+JSON binding): OPEN_CONNECT, GET_KEY, CLOSE.

The calling SAE comes from the TLS layer; here the ASGI wrapper of tests/kms/test_api.py plays it
(tests/apps/test_key_streams.py runs the client over real mutual TLS). ``sae-a`` is at ``kme-a``, which has
a direct link to ``kme-r`` (``sae-r``); ``sae-b`` at ``kme-b`` is reached over ``kme-r`` (a trusted relay);
``kme-x`` has no link at all.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import text

from qinternet.kms import streams
from qinternet.kms.api import create_app
from qinternet.kms.etsi004 import Status
from qinternet.kms.store import Base, KeyStore
from qinternet.kms.streams import stream_key_id
from qinternet.kms.topology import KeyLimits, KmsTopology
from tests.kms.test_api import AsSae

pytestmark = pytest.mark.anyio

TOPOLOGY = KmsTopology(
    sae_kme={"sae-a": "kme-a", "sae-a2": "kme-a", "sae-r": "kme-r", "sae-b": "kme-b", "sae-x": "kme-x"},
    links=(("kme-a", "kme-r"), ("kme-r", "kme-b")),
    relays=frozenset({"kme-r"}),
)
POOL_BYTES = 4096
OPEN, GET, CLOSE = "/api/v1/ks/open_connect", "/api/v1/ks/get_key", "/api/v1/ks/close"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    s = KeyStore(f"sqlite:///{tmp_path / 'kms.db'}")
    for a, b in TOPOLOGY.links:
        s.add_key(a, b, os.urandom(POOL_BYTES))
    yield s
    s.close()


def sae(store: KeyStore, name: str) -> httpx.AsyncClient:
    """An SAE's client of its own KME."""
    kme = TOPOLOGY.kme_of(name) or "kme-a"
    app = create_app(kme, store, TOPOLOGY, KeyLimits(min_key_size=64, max_key_size=8192))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=AsSae(app, name)), base_url="https://kme")


async def call(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A call that must be answered 200 with an ETSI GS QKD 004 status; its body."""
    r = await client.post(path, json=body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    assert answer["status"] in set(Status)
    return answer


async def open_pair(store: KeyStore, first: str, second: str, **qos: Any) -> str:
    """``first`` opens a stream with ``second`` (the KME makes the ID), ``second`` joins; the ID."""
    async with sae(store, first) as a, sae(store, second) as b:
        opened = await call(a, OPEN, {"destination": second, "QoS": qos or None, "Key_stream_ID": None})
        assert opened["status"] == Status.PEER_NOT_CONNECTED
        ksid = opened["Key_stream_ID"]
        joined = await call(b, OPEN, {"source": second, "destination": first, "Key_stream_ID": ksid})
    assert joined["status"] == Status.SUCCESSFUL
    assert joined["QoS"] == opened["QoS"]  # the joining SAE gets the stream's QoS
    return str(ksid)


def key_of(answer: dict[str, Any]) -> bytes:
    assert answer["status"] == Status.SUCCESSFUL, answer
    return base64.b64decode(answer["Key_buffer"], validate=True)


async def test_a_stream_on_a_direct_link_gives_both_ends_the_same_keys(store: KeyStore) -> None:
    ksid = await open_pair(store, "sae-a", "sae-r", Key_chunk_size=32)
    async with sae(store, "sae-a") as a, sae(store, "sae-r") as r:
        a0 = await call(a, GET, {"Key_stream_ID": ksid})  # no index: the next one, 0
        r0 = await call(r, GET, {"Key_stream_ID": ksid, "index": 0})
        r1 = await call(r, GET, {"Key_stream_ID": ksid})  # r asks first for 1
        a1 = await call(a, GET, {"Key_stream_ID": ksid})  # a's next: 1, which r made
        closed = await call(a, CLOSE, {"Key_stream_ID": ksid})
    assert (a0["index"], r0["index"], r1["index"], a1["index"]) == (0, 0, 1, 1)
    assert key_of(a0) == key_of(r0)
    assert key_of(a1) == key_of(r1)
    assert len(key_of(a0)) == 32
    assert key_of(a0) != key_of(a1)
    assert store.pool_bytes("kme-a", "kme-r") == POOL_BYTES - 2 * 32  # one chunk per index, taken once
    assert store.pool_bytes("kme-r", "kme-b") == POOL_BYTES
    assert closed["status"] == Status.SUCCESSFUL


async def test_a_relayed_stream_with_an_agreed_id_gives_both_ends_the_same_keys(store: KeyStore) -> None:
    """Both applications agreed on the Key_stream_ID beforehand; either may open first. The key crosses the
    trusted node kme-r, costing each hop a chunk, and the metadata says so."""
    ksid = str(uuid.uuid4())
    async with sae(store, "sae-b") as b, sae(store, "sae-a") as a:
        first = await call(b, OPEN, {"destination": "sae-a", "Key_stream_ID": ksid, "QoS": {"Key_chunk_size": 64}})
        second = await call(a, OPEN, {"destination": "sae-b", "Key_stream_ID": ksid.upper()})
        got_b = [await call(b, GET, {"Key_stream_ID": ksid, "index": i}) for i in range(3)]
        got_a = [
            await call(a, GET, {"Key_stream_ID": ksid, "index": i, "Metadata": {"Metadata_size": 64}})
            for i in (2, 0, 1)
        ]
    assert (first["status"], second["status"]) == (Status.PEER_NOT_CONNECTED, Status.SUCCESSFUL)
    assert first["Key_stream_ID"] == second["Key_stream_ID"] == ksid
    assert [key_of(x) for x in got_b] == [key_of(x) for x in sorted(got_a, key=lambda x: x["index"])]
    assert len({key_of(x) for x in got_b}) == 3
    metadata = [json.loads(x["Metadata"]["Metadata_buffer"]) for x in got_a]
    assert [m["hops"] for m in metadata] == [2, 2, 2]
    assert all(0 <= m["age"] < 60_000 for m in metadata)
    assert store.pool_bytes("kme-a", "kme-r") == store.pool_bytes("kme-r", "kme-b") == POOL_BYTES - 3 * 64
    kinds = [event.kind for event in store.ledger() if event.key_id == stream_key_id(ksid, 0)]
    assert sorted(kinds) == ["delivered", "delivered", "issued", "relayed"]


async def test_an_index_is_delivered_once_per_end(store: KeyStore) -> None:
    ksid = await open_pair(store, "sae-a", "sae-b")
    async with sae(store, "sae-a") as a, sae(store, "sae-b") as b:
        first = await call(a, GET, {"Key_stream_ID": ksid, "index": 7})
        again = await call(a, GET, {"Key_stream_ID": ksid, "index": 7})
        peer = await call(b, GET, {"Key_stream_ID": ksid, "index": 7})
        peer_again = await call(b, GET, {"Key_stream_ID": ksid, "index": 7})
    assert key_of(first) == key_of(peer)
    for answer in (again, peer_again):
        assert answer["status"] == Status.GK_INSUFFICIENT_KEY_AVAILABLE
        assert "Key_buffer" not in answer
        assert "already" in answer["message"]


async def test_unknown_or_foreign_streams_are_a_400_with_the_error_object(store: KeyStore) -> None:
    ksid = await open_pair(store, "sae-a", "sae-b")
    async with sae(store, "sae-a") as a, sae(store, "sae-a2") as stranger:
        unknown = str(uuid.uuid4())
        answers = [
            await a.post(GET, json={"Key_stream_ID": unknown}),
            await a.post(CLOSE, json={"Key_stream_ID": unknown}),
            await stranger.post(GET, json={"Key_stream_ID": ksid}),  # not its stream: told nothing more
            await stranger.post(CLOSE, json={"Key_stream_ID": ksid}),
        ]
    for r in answers:
        assert r.status_code == 400
        assert r.json()["message"] == "Bad request format"
        assert "no key stream" in r.json()["details"][0]["Key_stream_ID"]


async def test_qos_that_cannot_be_met_gets_a_counter_proposal_and_opens_nothing(store: KeyStore) -> None:
    async with sae(store, "sae-a") as a:
        small = await call(a, OPEN, {"destination": "sae-b", "QoS": {"Key_chunk_size": 4}})
        big = await call(a, OPEN, {"destination": "sae-b", "QoS": {"Key_chunk_size": 4096}})
        mime = await call(a, OPEN, {"destination": "sae-b", "QoS": {"Metadata_mimetype": "text/plain"}})
        rates = await call(a, OPEN, {"destination": "sae-b", "QoS": {"Min_bps": 5000, "Max_bps": 1000}})
    for answer in (small, big, mime, rates):
        assert answer["status"] == Status.OC_QOS_NOT_SATISFIABLE
        assert answer["Key_stream_ID"] is None
    assert small["QoS"]["Key_chunk_size"] == 8  # min_key_size 64 bits
    assert big["QoS"]["Key_chunk_size"] == 1024  # max_key_size 8192 bits
    assert mime["QoS"]["Metadata_mimetype"] == "application/json"
    assert (rates["QoS"]["Min_bps"], rates["QoS"]["Max_bps"]) == (1000, 1000)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM key_streams").scalar_one() == 0


async def test_min_bps_above_the_slowest_link_is_refused_with_that_rate() -> None:
    rates = {("kme-a", "kme-r"): 2000.0, ("kme-r", "kme-b"): 700.5}
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"qi-004-{uuid.uuid4().hex}"
    folder.mkdir()
    store = KeyStore(f"sqlite:///{folder / 'k.db'}")
    try:
        app = create_app("kme-a", store, TOPOLOGY, link_rate_bps=lambda a, b: rates.get((a, b), rates.get((b, a))))
        transport = httpx.ASGITransport(app=AsSae(app, "sae-a"))
        async with httpx.AsyncClient(transport=transport, base_url="https://kme") as a:
            refused = await call(a, OPEN, {"destination": "sae-b", "QoS": {"Min_bps": 800}})
            fits = await call(a, OPEN, {"destination": "sae-b", "QoS": {"Min_bps": 700}})
    finally:
        store.close()
    assert refused["status"] == Status.OC_QOS_NOT_SATISFIABLE
    assert refused["QoS"]["Min_bps"] == 700
    assert fits["status"] == Status.PEER_NOT_CONNECTED


async def test_a_path_short_of_key_is_insufficient_key_and_takes_nothing(store: KeyStore) -> None:
    ksid = await open_pair(store, "sae-a", "sae-b", Key_chunk_size=1024)
    async with sae(store, "sae-a") as a:
        got = [await call(a, GET, {"Key_stream_ID": ksid}) for _ in range(5)]
    assert [x["status"] for x in got] == [Status.SUCCESSFUL] * 4 + [Status.GK_INSUFFICIENT_KEY_AVAILABLE]
    assert store.pool_bytes("kme-a", "kme-r") == store.pool_bytes("kme-r", "kme-b") == 0
    assert got[-1]["message"].startswith("not enough key")


async def test_a_key_stream_id_in_use_cannot_be_opened_again(store: KeyStore) -> None:
    ksid = str(uuid.uuid4())
    async with sae(store, "sae-a") as a, sae(store, "sae-a2") as a2, sae(store, "sae-b") as b:
        created = await call(a, OPEN, {"destination": "sae-b", "Key_stream_ID": ksid})
        twice = await call(a, OPEN, {"destination": "sae-b", "Key_stream_ID": ksid})
        third = await call(a2, OPEN, {"destination": "sae-a", "Key_stream_ID": ksid})
        wrong_peer = await call(b, OPEN, {"destination": "sae-a2", "Key_stream_ID": ksid})
        joined = await call(b, OPEN, {"destination": "sae-a", "Key_stream_ID": ksid})
        await call(b, CLOSE, {"Key_stream_ID": ksid})
        await call(a, CLOSE, {"Key_stream_ID": ksid})
        reused = await call(a, OPEN, {"destination": "sae-b", "Key_stream_ID": ksid})
    assert created["status"] == Status.PEER_NOT_CONNECTED
    assert joined["status"] == Status.SUCCESSFUL
    for answer in (twice, third, wrong_peer, reused):
        assert answer["status"] == Status.OC_KSID_ALREADY_IN_USE


async def test_peer_not_connected_until_it_opens_and_after_it_closes(store: KeyStore) -> None:
    async with sae(store, "sae-a") as a, sae(store, "sae-b") as b:
        ksid = (await call(a, OPEN, {"destination": "sae-b"}))["Key_stream_ID"]
        early = await call(a, GET, {"Key_stream_ID": ksid})
        other_size = await call(b, OPEN, {"destination": "sae-a", "Key_stream_ID": ksid, "QoS": {"Key_chunk_size": 8}})
        await call(b, OPEN, {"destination": "sae-a", "Key_stream_ID": ksid})
        await call(a, GET, {"Key_stream_ID": ksid})
        await call(b, CLOSE, {"Key_stream_ID": ksid})
        late = await call(a, GET, {"Key_stream_ID": ksid})
        mine_closed = await b.post(GET, json={"Key_stream_ID": ksid})
        closed = await call(a, CLOSE, {"Key_stream_ID": ksid})
        twice = await a.post(CLOSE, json={"Key_stream_ID": ksid})
    assert early["status"] == late["status"] == Status.GK_PEER_NOT_CONNECTED
    assert other_size["status"] == Status.OC_QOS_NOT_SATISFIABLE
    assert other_size["QoS"]["Key_chunk_size"] == 32  # the stream's, as the counter-proposal
    assert closed["status"] == Status.SUCCESSFUL
    assert mine_closed.status_code == twice.status_code == 400


async def test_no_chain_of_links_is_no_qkd_connection(store: KeyStore) -> None:
    async with sae(store, "sae-a") as a:
        answer = await call(a, OPEN, {"destination": "sae-x"})
    assert answer["status"] == Status.NO_QKD_CONNECTION_AVAILABLE
    assert answer["Key_stream_ID"] is None


async def test_a_small_metadata_buffer_is_refused_and_the_retry_gets_the_same_key(store: KeyStore) -> None:
    ksid = await open_pair(store, "sae-a", "sae-b")
    async with sae(store, "sae-a") as a, sae(store, "sae-b") as b:
        peer = await call(b, GET, {"Key_stream_ID": ksid, "index": 0})
        small = await call(a, GET, {"Key_stream_ID": ksid, "index": 0, "Metadata": {"Metadata_size": 5}})
        needed = small["Metadata"]["Metadata_size"]
        retry = await call(a, GET, {"Key_stream_ID": ksid, "index": 0, "Metadata": {"Metadata_size": needed}})
    assert small["status"] == Status.GK_METADATA_INSUFFICIENT_SIZE
    assert "Key_buffer" not in small
    assert key_of(retry) == key_of(peer)
    assert len(retry["Metadata"]["Metadata_buffer"].encode()) <= needed


async def test_close_voids_what_only_one_end_fetched(store: KeyStore) -> None:
    ksid = await open_pair(store, "sae-a", "sae-b")
    async with sae(store, "sae-a") as a, sae(store, "sae-b") as b:
        await call(a, GET, {"Key_stream_ID": ksid, "index": 0})
        await call(a, GET, {"Key_stream_ID": ksid, "index": 1})
        await call(b, GET, {"Key_stream_ID": ksid, "index": 0})
        levels = store.pool_bytes("kme-a", "kme-r"), store.pool_bytes("kme-r", "kme-b")
        await call(a, CLOSE, {"Key_stream_ID": ksid})
        after = await call(b, GET, {"Key_stream_ID": ksid, "index": 1})
    assert after["status"] == Status.GK_PEER_NOT_CONNECTED
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT idx, sae_id, state, material FROM stream_keys ORDER BY idx, sae_id"
        ).all()
    assert [(i, s, state) for i, s, state, _ in rows] == [
        (0, "sae-a", "DELIVERED"),
        (0, "sae-b", "DELIVERED"),
        (1, "sae-a", "DELIVERED"),
        (1, "sae-b", "VOIDED"),
    ]
    assert all(material is None for *_, material in rows)  # no key material left at rest
    assert (store.pool_bytes("kme-a", "kme-r"), store.pool_bytes("kme-r", "kme-b")) == levels  # never put back
    assert [e.slave_sae_id for e in store.ledger() if e.kind == "voided"] == ["sae-b"]


async def test_a_stream_past_its_ttl_is_closed_and_its_reserved_keys_voided(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ksid = await open_pair(store, "sae-a", "sae-b", TTL=60)
    async with sae(store, "sae-a") as a, sae(store, "sae-b") as b:
        await call(a, GET, {"Key_stream_ID": ksid, "index": 0})
        clock = streams.time.time() + 61

        class Later:
            @staticmethod
            def time() -> float:
                return clock

        monkeypatch.setattr(streams, "time", Later)
        late = await call(b, GET, {"Key_stream_ID": ksid, "index": 0})
    assert late["status"] == Status.GK_PEER_NOT_CONNECTED
    assert "TTL" in late["message"]
    with store.engine.connect() as connection:
        states = connection.exec_driver_sql("SELECT state FROM stream_keys WHERE sae_id = 'sae-b'").scalars().all()
    assert states == ["VOIDED"]


async def test_014_never_hands_out_a_key_a_stream_holds(store: KeyStore) -> None:
    """The key of index 0 waits for sae-b at kme-b; ETSI GS QKD 014's Get key with key IDs finds nothing
    under any ID (the stream's ledger ID included), and Get key takes other bytes from the pools."""
    ksid = await open_pair(store, "sae-a", "sae-b")
    async with sae(store, "sae-a") as a, sae(store, "sae-b") as b:
        streamed = key_of(await call(a, GET, {"Key_stream_ID": ksid, "index": 0}))
        level = store.pool_bytes("kme-a", "kme-r")
        issued = (await a.get("/api/v1/keys/sae-b/enc_keys")).json()["keys"][0]
        for key_id in (stream_key_id(ksid, 0), ksid):
            r = await b.get("/api/v1/keys/sae-a/dec_keys", params={"key_ID": key_id})
            assert r.status_code == 400
            assert r.json()["message"] == "one or more keys specified are not found on KME"
        got = key_of(await call(b, GET, {"Key_stream_ID": ksid, "index": 0}))
    assert got == streamed
    assert base64.b64decode(issued["key"]) != streamed
    assert store.pool_bytes("kme-a", "kme-r") == level - 32  # the 014 key took its own bytes


async def test_a_failed_commit_hands_out_nothing_and_a_delivery_is_recorded_before_the_answer(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ksid = await open_pair(store, "sae-a", "sae-b")

    def fail(cursor: Any, writes: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    async with sae(store, "sae-a") as a, sae(store, "sae-b") as b:
        with monkeypatch.context() as patch:
            patch.setattr(store, "write", fail)  # the batch's last step before its commit
            broken = await a.post(GET, json={"Key_stream_ID": ksid, "index": 0})
        assert broken.status_code == 503
        assert broken.json()["message"] == "Error on server side"
        assert store.pool_bytes("kme-a", "kme-r") == POOL_BYTES  # rolled back: nothing taken
        first = key_of(await call(a, GET, {"Key_stream_ID": ksid, "index": 0}))
    reopened = KeyStore(store.url)  # as after a crash right after the answer: the delivery is on disk
    try:
        with reopened.engine.connect() as connection:
            state = connection.exec_driver_sql(
                "SELECT state FROM stream_keys WHERE sae_id = 'sae-a' AND idx = 0"
            ).scalar_one()
    finally:
        reopened.close()
    assert state == "DELIVERED"
    async with sae(store, "sae-b") as b:
        assert key_of(await call(b, GET, {"Key_stream_ID": ksid, "index": 0})) == first


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (OPEN, b"{not json"),
        (OPEN, b"[]"),
        (OPEN, {}),
        (OPEN, {"destination": 5}),
        (OPEN, {"destination": "sae-b", "extra": 1}),
        (OPEN, {"destination": "sae-b", "QoS": {"Key_chunk_size": -1}}),
        (OPEN, {"destination": "sae-b", "QoS": {"Key_chunk_size": 2**32}}),
        (OPEN, {"destination": "sae-b", "QoS": {"Key_chunk_size": True}}),
        (OPEN, {"destination": "sae-b", "QoS": {"Colour": 1}}),
        (OPEN, {"destination": "sae-b", "QoS": []}),
        (OPEN, {"destination": "sae-b", "Key_stream_ID": "not-a-uuid"}),
        (OPEN, {"destination": "sae-nobody"}),
        (OPEN, {"destination": "sae-a"}),
        (OPEN, {"source": "sae-b", "destination": "sae-r"}),
        (GET, {"Key_stream_ID": "abc"}),
        (GET, {"Key_stream_ID": str(uuid.uuid4()), "index": -1}),
        (GET, {"Key_stream_ID": str(uuid.uuid4()), "index": "0"}),
        (GET, {"Key_stream_ID": str(uuid.uuid4()), "Metadata": {"Metadata_size": 1.5}}),
        (GET, {"index": 0}),
        (CLOSE, {"Key_stream_ID": None}),
        (CLOSE, b"\xff\xfe"),
    ],
)
async def test_malformed_requests_are_a_400_with_the_error_object(store: KeyStore, path: str, body: Any) -> None:
    async with sae(store, "sae-a") as a:
        r = await (a.post(path, content=body) if isinstance(body, bytes) else a.post(path, json=body))
    assert r.status_code == 400, r.text
    assert r.json()["message"] == "Bad request format"
    assert r.json()["details"]


async def test_an_sae_of_another_kme_gets_401(store: KeyStore) -> None:
    app = create_app("kme-a", store, TOPOLOGY)
    transport = httpx.ASGITransport(app=AsSae(app, "sae-b"))
    async with httpx.AsyncClient(transport=transport, base_url="https://kme") as c:
        for path in (OPEN, GET, CLOSE):
            r = await c.post(path, content=b"{not json")
            assert r.status_code == 401
            assert r.json()["message"] == "Unauthorized"


async def test_keys_never_appear_in_the_logs(store: KeyStore, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        ksid = await open_pair(store, "sae-a", "sae-b")
        async with sae(store, "sae-a") as a, sae(store, "sae-b") as b:
            answers = [await call(a, GET, {"Key_stream_ID": ksid, "index": i}) for i in range(3)]
            answers += [await call(b, GET, {"Key_stream_ID": ksid, "index": i}) for i in range(3)]
            await call(b, CLOSE, {"Key_stream_ID": ksid})
        await anyio.sleep(0)
    keys = [key_of(x) for x in answers]
    assert "get_key" in caplog.text  # the calls were logged
    for key in keys:
        for shown in (base64.b64encode(key).decode(), key.hex(), repr(key)[2:-1]):
            assert shown not in caplog.text


async def test_a_relayed_stream_on_postgresql_with_material_sealed_at_rest(postgres_url: str) -> None:
    """The same calls on PostgreSQL (rows locked with FOR UPDATE, two writer lanes), with key material
    encrypted at rest: the reserved copy opens for its SAE, and nothing of it is stored in the clear."""
    store = KeyStore(postgres_url, master_key=os.urandom(32))
    try:
        for a, b in TOPOLOGY.links:
            store.add_key(a, b, os.urandom(POOL_BYTES))
        ksid = await open_pair(store, "sae-a", "sae-b")
        async with sae(store, "sae-a") as a, sae(store, "sae-b") as b:
            mine = key_of(await call(a, GET, {"Key_stream_ID": ksid}))
            with store.engine.connect() as connection:
                stored = connection.exec_driver_sql("SELECT material FROM stream_keys WHERE state = 'RESERVED'").all()
            theirs = key_of(await call(b, GET, {"Key_stream_ID": ksid}))
            again = await call(b, GET, {"Key_stream_ID": ksid, "index": 0})
            await call(b, CLOSE, {"Key_stream_ID": ksid})
        assert mine == theirs
        assert len(stored) == 1
        assert mine not in bytes(stored[0][0])
        assert again["status"] == Status.GK_INSUFFICIENT_KEY_AVAILABLE
        assert store.pool_bytes("kme-a", "kme-r") == POOL_BYTES - 32
    finally:
        with store.engine.begin() as connection:  # an empty database for the other PostgreSQL tests
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(text(f"DELETE FROM {table.name}"))
        store.close()
