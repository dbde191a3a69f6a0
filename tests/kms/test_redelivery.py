"""The redelivery window: a slave's ``dec_keys`` answer can die with its KME, so the same slave SAE may fetch
a delivered key again for ``redelivery_window_s`` (default 60 s), and nobody else ever.

ETSI GS QKD 014 has no acknowledgement from the slave SAE: a KME killed after committing a delivery and before
its answer left would otherwise lose the key (the master holds it, the slave can never get it). The story:
a master takes keys, its slave fetches them, the answer is lost, the slave asks again and gets the same keys;
another SAE is refused; the ledger and the metrics count one delivery; when the window ends the key is erased
and refused.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest

from qinternet.cli.network_cmd import redelivery_window_s
from qinternet.kms.api import create_app
from qinternet.kms.metrics import KmsMetrics
from qinternet.kms.policy import KeyPolicy
from qinternet.kms.processes import kme_command
from qinternet.kms.service import sweep_keys
from qinternet.kms.settings import load_serve_settings
from qinternet.kms.store import KeyStore
from tests.kms.test_api import TOPOLOGY, AsSae

pytestmark = pytest.mark.anyio

DEC = "/api/v1/keys/sae-a/dec_keys"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kms.db'}"


@pytest.fixture
def store(db: str) -> Iterator[KeyStore]:
    s = KeyStore(db)
    for a, b in TOPOLOGY.links:
        s.add_key(a, b, bytes(range(256)) * 16)
    yield s
    s.close()


def kme(
    store: KeyStore, kme_id: str, sae: str, policy: KeyPolicy | None = None, metrics: KmsMetrics | None = None
) -> httpx.AsyncClient:
    app = create_app(kme_id, store, TOPOLOGY, metrics=metrics, policy=policy)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=AsSae(app, sae)), base_url="https://kme")


async def issue(store: KeyStore, number: int = 1) -> list[dict[str, str]]:
    async with kme(store, "kme-a", "sae-a") as master:
        r = await master.get("/api/v1/keys/sae-b/enc_keys", params={"number": str(number)})
    assert r.status_code == 200
    keys: list[dict[str, str]] = r.json()["keys"]
    return keys


def rows(store: KeyStore, key_id: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as connection:
        return list(
            connection.exec_driver_sql(
                "SELECT state, material IS NULL, delivered_at FROM keys WHERE key_id = ?", (key_id,)
            ).fetchall()
        )


def delivered_events(store: KeyStore, key_id: str) -> int:
    return sum(1 for event in store.ledger() if event.kind == "delivered" and event.key_id == key_id)


async def test_the_same_slave_gets_the_same_key_again_counted_once(store: KeyStore) -> None:
    keys = await issue(store, 2)
    metrics = KmsMetrics()
    async with kme(store, "kme-b", "sae-b", metrics=metrics) as slave:
        first = await slave.post(DEC, json={"key_IDs": [{"key_ID": k["key_ID"]} for k in keys]})
        held = rows(store, keys[0]["key_ID"])
        again = await slave.get(DEC, params={"key_ID": keys[0]["key_ID"]})
        both = await slave.post(DEC, json={"key_IDs": [{"key_ID": k["key_ID"]} for k in keys]})
    assert first.json()["keys"] == keys
    assert again.status_code == 200
    assert again.json()["keys"] == [keys[0]]  # the same value the master holds
    assert both.json()["keys"] == keys
    assert held == [("REDELIVERABLE", 0, held[0][2])]  # delivered, material still held (sealed) for the window
    assert rows(store, keys[0]["key_ID"]) == held  # fetching again changed nothing, not even delivered_at
    assert [delivered_events(store, k["key_ID"]) for k in keys] == [1, 1]
    labels = {"kme": "kme-b", "master_sae": "sae-a", "slave_sae": "sae-b"}
    assert metrics.registry.get_sample_value("qinternet_kms_keys_delivered_total", labels) == 2
    assert metrics.registry.get_sample_value("qinternet_kms_keys_redelivered_total", labels) == 3


async def test_no_other_sae_gets_a_delivered_key(store: KeyStore) -> None:
    [key] = await issue(store)
    async with kme(store, "kme-b", "sae-b") as slave:
        assert (await slave.get(DEC, params={"key_ID": key["key_ID"]})).status_code == 200
        other_master = await slave.get("/api/v1/keys/sae-a2/dec_keys", params={"key_ID": key["key_ID"]})
    async with kme(store, "kme-b", "sae-b2") as other_slave:
        other = await other_slave.get(DEC, params={"key_ID": key["key_ID"]})
    async with kme(store, "kme-c", "sae-c") as elsewhere:
        other_kme = await elsewhere.get(DEC, params={"key_ID": key["key_ID"]})
    assert other.status_code == 401  # another slave SAE of the same KME: the key was not issued to it (5.4)
    assert other.json()["details"] == [{"key_ID": "one or more keys were not issued to this SAE"}]
    assert other_master.status_code == 400  # the right slave, another master SAE: not found
    assert other_kme.status_code == 400
    assert all(key["key"] not in r.text for r in (other, other_master, other_kme))


async def test_with_a_window_of_0_a_second_fetch_is_refused_and_nothing_is_held(store: KeyStore) -> None:
    [key] = await issue(store)
    async with kme(store, "kme-b", "sae-b", KeyPolicy(redelivery_window_s=0)) as slave:
        first = await slave.get(DEC, params={"key_ID": key["key_ID"]})
        again = await slave.get(DEC, params={"key_ID": key["key_ID"]})
    assert first.json()["keys"] == [key]
    assert again.status_code == 400
    assert again.json()["message"] == "one or more keys specified are not found on KME"
    assert [r[:2] for r in rows(store, key["key_ID"])] == [("DELIVERED", 1)]


async def test_after_the_window_the_key_is_refused_then_erased_by_the_sweep(store: KeyStore) -> None:
    kept, late = await issue(store), await issue(store)
    policy = KeyPolicy(redelivery_window_s=0.3)
    async with kme(store, "kme-b", "sae-b", policy) as slave:
        await slave.get(DEC, params={"key_ID": late[0]["key_ID"]})
        await anyio.sleep(0.4)
        await slave.get(DEC, params={"key_ID": kept[0]["key_ID"]})
        refused = await slave.get(DEC, params={"key_ID": late[0]["key_ID"]})
        assert [r[:2] for r in rows(store, late[0]["key_ID"])] == [("REDELIVERABLE", 0)]  # refused before erased
        sweep_keys(store, 0.0, policy.redelivery_window_s)  # what serve and kme run every few seconds
        in_time = await slave.get(DEC, params={"key_ID": kept[0]["key_ID"]})
    assert refused.status_code == 400
    assert [r[:2] for r in rows(store, late[0]["key_ID"])] == [("DELIVERED", 1)]  # material erased
    assert [r[:2] for r in rows(store, kept[0]["key_ID"])] == [("REDELIVERABLE", 0)]  # its window is still open
    assert in_time.json()["keys"] == kept
    assert delivered_events(store, late[0]["key_ID"]) == 1
    assert [e.kind for e in store.ledger()].count("delivered") == 2  # erasing writes no second event


def test_a_window_of_0_erases_what_an_earlier_run_held(store: KeyStore) -> None:
    [key] = store.issue(master_kme="kme-a", master_sae="sae-a", slaves=[("sae-b", ["kme-a"])], number=1, size_bits=256)
    store.deliver(kme_id="kme-a", slave_sae="sae-b", master_sae="sae-a", key_ids=[key.key_id], redelivery_window_s=60)
    assert store.erase_delivered(60) == 0
    assert store.erase_delivered(0) == 1
    assert [r[:2] for r in rows(store, key.key_id)] == [("DELIVERED", 1)]


async def test_a_kme_killed_between_the_commit_and_the_answer_loses_nothing(store: KeyStore, db: str) -> None:
    """The kill, in-process: the delivery is committed and its answer dropped (the KME's store is closed
    without anything more, as a SIGKILL leaves it); a KME started again on the same database answers the
    slave's retry with the key the master holds, and counts the delivery once."""
    [key] = await issue(store)
    lost_answer = store.deliver(
        kme_id="kme-b", slave_sae="sae-b", master_sae="sae-a", key_ids=[key["key_ID"]], redelivery_window_s=60
    )
    assert [k.key_id for k in lost_answer] == [key["key_ID"]]
    del lost_answer  # the answer dies with the KME
    store.close()
    restarted = KeyStore(db)
    try:
        async with kme(restarted, "kme-b", "sae-b") as slave:
            retry = await slave.get(DEC, params={"key_ID": key["key_ID"]})
        assert retry.status_code == 200
        assert base64.b64decode(retry.json()["keys"][0]["key"]) == base64.b64decode(key["key"])
        assert delivered_events(restarted, key["key_ID"]) == 1
    finally:
        restarted.close()


def test_the_setting_from_its_option_variable_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_serve_settings(None, {}).redelivery_window_s == 60.0  # the default
    config = tmp_path / "kms.yaml"
    config.write_text("redelivery_window_s: 0\n")
    assert load_serve_settings(config, {}).redelivery_window_s == 0.0
    monkeypatch.setenv("QINTERNET_KMS_REDELIVERY_WINDOW_S", "15")
    assert load_serve_settings(config, {}).redelivery_window_s == 15.0
    assert load_serve_settings(config, {"redelivery_window_s": 5.0}).redelivery_window_s == 5.0


@pytest.mark.parametrize("window_s", [0.0, 2.5e-05, 60.0, 86400.0])
def test_serve_processes_gives_each_kme_its_window(tmp_path: Path, window_s: float) -> None:
    settings = load_serve_settings(None, {"redelivery_window_s": window_s})
    plan = SimpleNamespace(settings=settings, files=SimpleNamespace(folder=tmp_path))
    command = kme_command("net.yaml", "a", plan, tmp_path, relay_timeout=5.0)  # type: ignore[arg-type]
    given = command[command.index("--redelivery-window") + 1]
    assert redelivery_window_s(given) == window_s  # as qinternet kme reads it
