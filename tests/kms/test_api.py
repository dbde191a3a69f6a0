"""ETSI GS QKD 014 V1.1.1 conformance of the KME app: fields, types, status codes and errors.

The calling SAE comes from the TLS layer (``scope["qinternet.sae_id"]``); here a small ASGI wrapper plays
that layer, so that the tests can call as any SAE (tests/kms/test_tls.py checks the real TLS layer).
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import event

from qinternet.kms.api import SAE_SCOPE_KEY, create_app
from qinternet.kms.metrics import KmsMetrics
from qinternet.kms.policy import KeyPolicy
from qinternet.kms.store import KeyStore
from qinternet.kms.topology import KeyLimits, KmsTopology

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


TOPOLOGY = KmsTopology(
    sae_kme={"sae-a": "kme-a", "sae-a2": "kme-a", "sae-b": "kme-b", "sae-b2": "kme-b", "sae-c": "kme-c"},
    links=(("kme-a", "kme-r"), ("kme-r", "kme-b"), ("kme-r", "kme-c")),
    relays=frozenset({"kme-r"}),
)


class AsSae:
    """An ASGI wrapper that sets the caller's SAE ID as the TLS layer would (None: no certificate)."""

    def __init__(self, app: Any, sae_id: str | None) -> None:
        self.app, self.sae_id = app, sae_id

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.sae_id is not None:
            scope = {**scope, SAE_SCOPE_KEY: self.sae_id}
        await self.app(scope, receive, send)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    s = KeyStore(f"sqlite:///{tmp_path / 'kms.db'}")
    for a, b in TOPOLOGY.links:
        s.add_key(a, b, os.urandom(4096))
    yield s
    s.close()


STRICT = KeyPolicy(redelivery_window_s=0)
"""ETSI GS QKD 014's literal once-only delivery (no redelivery window: tests/kms/test_redelivery.py)."""


def client(store: KeyStore, kme: str, sae: str | None, policy: KeyPolicy | None = None) -> httpx.AsyncClient:
    app = create_app(kme, store, TOPOLOGY, KeyLimits(max_key_per_request=16, max_sae_id_count=2), policy=policy)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=AsSae(app, sae)), base_url="https://kme")


async def test_status_has_every_field_of_table_9(store: KeyStore) -> None:
    async with client(store, "kme-a", "sae-a") as c:
        r = await c.get("/api/v1/keys/sae-b/status")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body == {
        "source_KME_ID": "kme-a",
        "target_KME_ID": "kme-b",
        "master_SAE_ID": "sae-a",
        "slave_SAE_ID": "sae-b",
        "key_size": 256,
        "stored_key_count": 4096 * 8 // 256,
        "max_key_count": body["max_key_count"],
        "max_key_per_request": 16,
        "max_key_size": 8192,
        "min_key_size": 64,
        "max_SAE_ID_count": 2,
    }
    assert all(isinstance(body[k], int) for k in body if k.endswith(("count", "size", "request")))


async def test_get_key_then_get_key_with_key_ids(store: KeyStore) -> None:
    async with client(store, "kme-a", "sae-a") as master:
        r = await master.get("/api/v1/keys/sae-b/enc_keys", params={"number": "3", "size": "512"})
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert len(keys) == 3
    for k in keys:
        assert set(k) == {"key_ID", "key"}
        assert str(uuid.UUID(k["key_ID"])) == k["key_ID"]
        assert len(base64.b64decode(k["key"], validate=True)) == 64
    async with client(store, "kme-b", "sae-b", STRICT) as slave:
        one = await slave.get("/api/v1/keys/sae-a/dec_keys", params={"key_ID": keys[0]["key_ID"]})
        rest = await slave.post(
            "/api/v1/keys/sae-a/dec_keys", json={"key_IDs": [{"key_ID": k["key_ID"]} for k in keys[1:]]}
        )
        again = await slave.get("/api/v1/keys/sae-a/dec_keys", params={"key_ID": keys[0]["key_ID"]})
    assert one.status_code == 200
    assert rest.status_code == 200
    assert one.json()["keys"] + rest.json()["keys"] == keys  # the same keys, in order
    assert again.status_code == 400  # removed after delivery (with --redelivery-window 0)
    assert again.json()["message"] == "one or more keys specified are not found on KME"
    assert keys[0]["key_ID"] in again.json()["details"][0]["key_ID"]  # which one, and for whom


async def test_post_key_request_defaults_and_multicast(store: KeyStore) -> None:
    async with client(store, "kme-a", "sae-a") as master:
        default = await master.post("/api/v1/keys/sae-b/enc_keys", json={})
        multi = await master.post(
            "/api/v1/keys/sae-b/enc_keys", json={"number": 1, "size": 128, "additional_slave_SAE_IDs": ["sae-c"]}
        )
    assert len(default.json()["keys"]) == 1
    assert len(base64.b64decode(default.json()["keys"][0]["key"])) == 32  # key_size 256 bits
    [key] = multi.json()["keys"]
    for kme, sae in (("kme-b", "sae-b"), ("kme-c", "sae-c")):
        async with client(store, kme, sae) as slave:
            got = await slave.post("/api/v1/keys/sae-a/dec_keys", json={"key_IDs": [{"key_ID": key["key_ID"]}]})
        assert got.json()["keys"] == [key]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "message"),
    [
        ("get", "/api/v1/keys/sae-b/enc_keys", {"params": {"size": "100"}}, "size shall be a multiple of 8"),
        ("post", "/api/v1/keys/sae-b/enc_keys", {"json": {"size": 12}}, "size shall be a multiple of 8"),
        (
            "post",
            "/api/v1/keys/sae-b/enc_keys",
            {"json": {"extension_mandatory": [{"abc_route_type": "direct"}]}},
            "not all extension_mandatory parameters are supported",
        ),
        ("get", "/api/v1/keys/sae-b/enc_keys", {"params": {"number": "0"}}, "Bad request format"),
        ("get", "/api/v1/keys/sae-b/enc_keys", {"params": {"number": "17"}}, "Bad request format"),
        ("get", "/api/v1/keys/sae-b/enc_keys", {"params": {"number": "three"}}, "Bad request format"),
        ("get", "/api/v1/keys/sae-b/enc_keys", {"params": {"number": "1_0"}}, "Bad request format"),
        ("get", "/api/v1/keys/sae-b/enc_keys", {"params": {"size": "+256"}}, "Bad request format"),
        ("get", "/api/v1/keys/sae-b/enc_keys", {"params": {"size": "16"}}, "Bad request format"),
        ("post", "/api/v1/keys/sae-b/enc_keys", {"json": {"number": "3"}}, "Bad request format"),
        ("post", "/api/v1/keys/sae-b/enc_keys", {"json": {"colour": 1}}, "Bad request format"),
        ("post", "/api/v1/keys/sae-b/enc_keys", {"content": b"{not json"}, "Bad request format"),
        ("post", "/api/v1/keys/sae-b/enc_keys", {"json": [1, 2]}, "Bad request format"),
        (
            "post",
            "/api/v1/keys/sae-b/enc_keys",
            {"json": {"additional_slave_SAE_IDs": ["sae-c", "sae-b2", "sae-a2"]}},
            "Bad request format",
        ),
        (
            "post",
            "/api/v1/keys/sae-b/enc_keys",
            {"json": {"additional_slave_SAE_IDs": ["sae-a"]}},
            "Bad request format",
        ),
        ("get", "/api/v1/keys/nobody/enc_keys", {}, "Bad request format"),
        ("get", "/api/v1/keys/" + "s" * 201 + "/enc_keys", {}, "Bad request format"),
        (
            "get",
            "/api/v1/keys/" + "s" * 201 + "/dec_keys",
            {"params": {"key_ID": str(uuid.uuid4())}},
            "Bad request format",
        ),
        ("get", "/api/v1/keys/nobody/status", {}, "Bad request format"),
        ("get", "/api/v1/keys/sae-a/status", {}, "Bad request format"),  # the caller itself
        ("get", "/api/v1/keys/sae-a/enc_keys", {}, "Bad request format"),
        ("get", "/api/v1/keys/sae-b/dec_keys", {"params": {"key_ID": "not-a-uuid"}}, "Bad request format"),
        ("get", "/api/v1/keys/sae-b/dec_keys", {}, "Bad request format"),
        ("post", "/api/v1/keys/sae-b/dec_keys", {"json": {"key_IDs": []}}, "Bad request format"),
        (
            "get",
            "/api/v1/keys/sae-b/dec_keys",
            {"params": {"key_ID": str(uuid.uuid4())}},
            "one or more keys specified are not found on KME",
        ),
        ("get", "/api/v2/whatever", {}, "Bad request format"),
        ("delete", "/api/v1/keys/sae-b/enc_keys", {}, "Bad request format"),
    ],
)
async def test_bad_requests_get_400_and_the_error_object(
    store: KeyStore, method: str, path: str, kwargs: dict[str, Any], message: str
) -> None:
    async with client(store, "kme-a", "sae-a") as c:
        r = await c.request(method.upper(), path, **kwargs)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["message"] == message
    assert set(body) <= {"message", "details"}
    assert all(isinstance(d, dict) for d in body.get("details", []))


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("get", "/api/v1/keys/sae-a/enc_keys", {}, "slave_SAE_ID"),  # the caller itself
        ("post", "/api/v1/keys/sae-b/enc_keys", {"json": {"additional_slave_SAE_IDs": ["nobody"]}}, "additional"),
        ("post", "/api/v1/keys/sae-b/enc_keys", {"json": {"additional_slave_SAE_IDs": ["sae-a"]}}, "additional"),
        ("get", "/api/v1/keys/sae-b/enc_keys", {"params": {"size": "12"}}, "size"),
        ("get", "/api/v1/keys/sae-b/enc_keys", {"params": {"size": "-8"}}, "size"),
        ("get", "/api/v1/keys/sae-b/enc_keys", {"params": {"number": "1.5"}}, "number"),
        ("get", "/api/v1/keys/sae-b/dec_keys", {"params": {"key_ID": "{" + str(uuid.uuid4()) + "}"}}, "key_ID"),
        ("get", "/api/v1/keys/sae-b/dec_keys", {"params": {"key_ID": "----" + uuid.uuid4().hex}}, "key_ID"),
        ("get", "/api/v1/keys/sae-b/status/", {}, "path"),  # a trailing slash is not redirected
    ],
)
async def test_a_400_names_the_field_at_fault(
    store: KeyStore, method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    async with client(store, "kme-a", "sae-a") as c:
        r = await c.request(method.upper(), path, **kwargs)
    assert r.status_code == 400, r.text
    names = [name for detail in r.json()["details"] for name in detail]
    assert names
    assert all(name.startswith(field) for name in names), names


async def test_key_ids_are_found_in_either_case(store: KeyStore) -> None:
    """RFC 4122 section 3: a UUID's hexadecimal digits are case-insensitive on input."""
    async with client(store, "kme-a", "sae-a") as master:
        [key] = (await master.get("/api/v1/keys/sae-b/enc_keys")).json()["keys"]
    async with client(store, "kme-b", "sae-b") as slave:
        r = await slave.get("/api/v1/keys/sae-a/dec_keys", params={"key_ID": key["key_ID"].upper()})
    assert r.status_code == 200
    assert r.json()["keys"] == [key]


async def test_a_503_says_when_to_try_again(store: KeyStore) -> None:
    async with client(store, "kme-a", "sae-a") as c:
        r = await c.get("/api/v1/keys/sae-b/enc_keys", params={"number": "16", "size": "8192"})
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"


async def test_optional_extensions_are_ignored(store: KeyStore) -> None:
    async with client(store, "kme-a", "sae-a") as c:
        r = await c.post("/api/v1/keys/sae-b/enc_keys", json={"extension_optional": [{"abc_max_age": 30000}]})
        empty = await c.post("/api/v1/keys/sae-b/enc_keys", json={"extension_mandatory": [{}]})
    assert r.status_code == 200
    assert empty.status_code == 200  # an empty object names no extension, so none is unsupported


@pytest.mark.parametrize(("kme", "sae"), [("kme-a", None), ("kme-a", "stranger"), ("kme-a", "sae-b")])
async def test_callers_not_attached_to_this_kme_get_401_with_the_error_object(
    store: KeyStore, kme: str, sae: str | None
) -> None:
    """Clauses 5.2-5.4 give the Error object for 401 as for 400 and 503 (clients parse every non-200 body)."""
    async with client(store, kme, sae) as c:
        for r in (await c.get("/api/v1/keys/sae-b/status"), await c.get("/api/v1/keys/sae-b/enc_keys")):
            assert r.status_code == 401
            assert r.headers["content-type"] == "application/json"
            assert r.json()["message"] == "Unauthorized"
            assert "retry-after" not in r.headers


async def test_a_slave_the_key_was_not_issued_to_gets_401(store: KeyStore) -> None:
    async with client(store, "kme-a", "sae-a") as master:
        [key] = (await master.get("/api/v1/keys/sae-b/enc_keys")).json()["keys"]
    async with client(store, "kme-b", "sae-b2") as other:
        r = await other.get("/api/v1/keys/sae-a/dec_keys", params={"key_ID": key["key_ID"]})
    assert r.status_code == 401
    assert r.json() == {
        "message": "Unauthorized",
        "details": [{"key_ID": "one or more keys were not issued to this SAE"}],
    }
    async with client(store, "kme-b", "sae-b") as slave:  # still there for the right slave
        assert (await slave.get("/api/v1/keys/sae-a/dec_keys", params={"key_ID": key["key_ID"]})).status_code == 200


async def test_not_enough_key_is_a_503_and_takes_nothing(store: KeyStore) -> None:
    async with client(store, "kme-a", "sae-a") as c:
        r = await c.get("/api/v1/keys/sae-b/enc_keys", params={"number": "16", "size": "8192"})
        assert r.status_code == 503
        assert r.json()["message"] == "Error on server side"
        assert store.pool_bytes("kme-a", "kme-r") == 4096


async def test_a_broken_store_is_a_503_not_a_500(store: KeyStore, caplog: pytest.LogCaptureFixture) -> None:
    async with client(store, "kme-a", "sae-a") as c:
        [key] = (await c.get("/api/v1/keys/sae-b/enc_keys")).json()["keys"]
        store.engine.dispose()
        Path(store.engine.url.database or "").unlink()  # the database is gone
        with caplog.at_level(logging.ERROR):
            r = await c.get("/api/v1/keys/sae-b/enc_keys")
    assert r.status_code == 503
    assert "message" in r.json()
    assert key["key"] not in caplog.text


async def test_too_many_key_ids_or_too_large_a_body_is_a_400(store: KeyStore) -> None:
    async with client(store, "kme-b", "sae-b") as slave:
        many = await slave.post(
            "/api/v1/keys/sae-a/dec_keys", json={"key_IDs": [{"key_ID": str(uuid.uuid4())} for _ in range(17)]}
        )
        huge = await slave.post("/api/v1/keys/sae-a/dec_keys", content=b"{" + b" " * (2 << 20) + b"}")
    assert many.status_code == 400
    assert "max_key_per_request" in str(many.json()["details"])
    assert huge.status_code == 400


async def test_an_sae_of_another_kme_gets_401_even_with_a_bad_body(store: KeyStore) -> None:
    async with client(store, "kme-a", "sae-b") as c:
        for path in ("/api/v1/keys/sae-a/enc_keys", "/api/v1/keys/sae-a/dec_keys"):
            r = await c.post(path, content=b"{not json")
            assert r.status_code == 401
            assert r.json()["message"] == "Unauthorized"


async def test_an_unexpected_error_is_a_503_with_the_error_object_and_is_timed(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever escapes a route (here a bug in the store) is answered 503 with the Error object, never a 500."""
    metrics = KmsMetrics()
    app = create_app("kme-a", store, TOPOLOGY, metrics=metrics)

    def broken() -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(store, "writer", broken)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=AsSae(app, "sae-a")), base_url="https://k") as c:
        with caplog.at_level(logging.ERROR):
            r = await c.get("/api/v1/keys/sae-b/enc_keys")
        ok = await c.get("/api/v1/keys/sae-b/status")
    assert r.status_code == 503
    assert r.json() == {"message": "Error on server side"}
    assert "KME kme-a failed on GET /api/v1/keys/sae-b/enc_keys" in caplog.text
    assert ok.status_code == 200
    timed = {
        (s.labels["method"], s.labels["status"]): s.value
        for metric in metrics.registry.collect()
        for s in metric.samples
        if s.name == "qinternet_kms_request_seconds_count"
    }
    assert timed == {("enc_keys", "503"): 1.0, ("status", "200"): 1.0}


async def test_a_full_database_is_a_503_and_loses_no_key_a_master_received(store: KeyStore) -> None:
    """SQLite refuses to grow past ``max_page_count`` ("database or disk is full"): enc_keys then answers 503
    with the Error object, and every key a master did receive reaches its slave once space is back."""
    limit = {"pages": 0}

    @event.listens_for(store.engine, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        if limit["pages"]:
            dbapi_connection.execute(f"PRAGMA max_page_count = {limit['pages']}")

    with store.engine.connect() as connection:
        limit["pages"] = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one()) + 2
    store.close()  # its connections go; the next ones are capped (the writer starts again at first use)
    received: list[dict[str, str]] = []
    refused = []
    async with client(store, "kme-a", "sae-a") as master:
        for _ in range(60):  # 60 x 2 hops x 32 bytes fits the pools; the database's growth does not
            r = await master.get("/api/v1/keys/sae-b/enc_keys")
            if r.status_code == 200:
                received += r.json()["keys"]
            else:
                refused.append(r)
    assert refused, "the cap was never reached: the test proves nothing"
    assert {r.status_code for r in refused} == {503}
    assert all(r.json()["message"] == "Error on server side" for r in refused)
    limit["pages"] = 0
    store.close()
    async with client(store, "kme-b", "sae-b", STRICT) as slave:
        for key in received:
            r = await slave.get("/api/v1/keys/sae-a/dec_keys", params={"key_ID": key["key_ID"]})
            assert r.status_code == 200
            assert r.json()["keys"] == [key]
        again = await slave.get("/api/v1/keys/sae-a/dec_keys", params={"key_ID": received[0]["key_ID"]})
    assert again.status_code == 400


def policy_client(store: KeyStore, sae: str, policy: KeyPolicy, next_block_s: Any = None) -> httpx.AsyncClient:
    app = create_app(
        "kme-a", store, TOPOLOGY, KeyLimits(max_key_per_request=16), policy=policy, next_block_s=next_block_s
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=AsSae(app, sae)), base_url="https://kme")


async def test_a_master_over_its_quota_gets_a_503_saying_when_and_takes_nothing(store: KeyStore) -> None:
    """1,024 bits refilled over 60 s: 17.07 bit/s, so the next 256-bit key is due in 256 / 17.07 = 15 s."""
    policy = KeyPolicy(sae_quota_bits=1024, sae_quota_window_s=60)
    async with policy_client(store, "sae-a", policy) as greedy, policy_client(store, "sae-a2", policy) as other:
        first_count = (await greedy.get("/api/v1/keys/sae-b/status")).json()["stored_key_count"]
        assert (await greedy.get("/api/v1/keys/sae-b/enc_keys", params={"number": "4"})).status_code == 200
        held = store.pool_bytes("kme-a", "kme-r")
        refused = await greedy.get("/api/v1/keys/sae-b/enc_keys")
        status = (await greedy.get("/api/v1/keys/sae-b/status")).json()
        never = await greedy.get("/api/v1/keys/sae-b/enc_keys", params={"number": "5"})
        served = await other.get("/api/v1/keys/sae-b/enc_keys")  # the quota is per SAE
    assert first_count == 4  # Status says what this SAE may take: 1,024 bits of 256-bit keys
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "15"
    assert refused.json()["details"] == [{"quota": "the SAE's quota of 1024 bits per 60 s is spent"}]
    assert status["stored_key_count"] == 0
    assert store.pool_bytes("kme-a", "kme-r") == held - 32  # only the other SAE's key was taken
    assert never.status_code == 400  # more than the whole quota: trying again never helps
    assert served.status_code == 200


async def test_a_503_for_want_of_key_waits_for_the_next_block_of_the_short_hops(store: KeyStore) -> None:
    blocks = {("kme-a", "kme-r"): 42.3, ("kme-b", "kme-r"): 7.0, ("kme-c", "kme-r"): 900.0}
    policy = KeyPolicy()
    async with policy_client(store, "sae-a", policy, lambda a, b: blocks[min(a, b), max(a, b)]) as c:
        r = await c.get("/api/v1/keys/sae-b/enc_keys", params={"number": "16", "size": "8192"})
    assert r.status_code == 503
    assert r.headers["retry-after"] == "43"  # both hops are short: the later of their next blocks (not kme-c's)


async def test_a_key_its_slave_never_fetched_is_gone_after_the_reservation_time(store: KeyStore) -> None:
    policy = KeyPolicy(reservation_ttl_s=0.2)
    async with policy_client(store, "sae-a", policy) as master:
        first, late = [(await master.get("/api/v1/keys/sae-b/enc_keys")).json()["keys"][0] for _ in range(2)]
    slave_app = create_app("kme-b", store, TOPOLOGY, policy=policy)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=AsSae(slave_app, "sae-b")), base_url="https://k"
    ) as s:
        on_time = await s.get("/api/v1/keys/sae-a/dec_keys", params={"key_ID": first["key_ID"]})
        await anyio.sleep(0.3)
        too_late = await s.get("/api/v1/keys/sae-a/dec_keys", params={"key_ID": late["key_ID"]})
    assert on_time.json()["keys"] == [first]
    assert too_late.status_code == 400
    assert too_late.json()["message"] == "one or more keys specified are not found on KME"
