"""The key store on a real PostgreSQL server: the same guarantees as on SQLite."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from qinternet.kms.migrate import current_revision, head_revision
from qinternet.kms.store import Base, KeyNotAvailableError, KeyStore, NotEnoughKeyError, RelayFailedError
from tests.kms.relay_net import LINE3, Net
from tests.kms.test_store import carved_in_order, carves_five_blocks_in_order


@pytest.fixture
def store(postgres_url: str) -> Iterator[KeyStore]:
    s = KeyStore(postgres_url)
    yield s
    with s.engine.begin() as connection:  # an empty store for the next test
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(text(f"DELETE FROM {table.name}"))
    s.close()


def test_migrated_and_on_postgresql(store: KeyStore) -> None:
    assert store.engine.dialect.name == "postgresql"
    assert current_revision(store.engine) == head_revision()


def test_issue_relay_deliver_once(store: KeyStore) -> None:
    for a, b in (("a", "r"), ("r", "c")):
        store.add_key(a, b, os.urandom(200))
    keys = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "r", "c"])], number=3, size_bits=256)
    assert [store.pool_bytes("a", "r"), store.pool_bytes("r", "c")] == [104, 104]
    got = store.deliver(kme_id="c", slave_sae="s", master_sae="m", key_ids=[k.key_id for k in keys])
    assert [k.material for k in got] == [k.material for k in keys]
    with pytest.raises(KeyNotAvailableError):
        store.deliver(kme_id="c", slave_sae="s", master_sae="m", key_ids=[keys[0].key_id])
    with pytest.raises(NotEnoughKeyError):
        store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "r", "c"])], number=4, size_bits=256)
    assert store.pool_bytes("a", "r") == 104  # a failed request takes nothing


def test_concurrent_masters_never_share_key_material(store: KeyStore) -> None:
    """Row locks (FOR UPDATE) keep two transactions from carving the same pool bytes."""
    store.add_key("a", "b", os.urandom(64 * 200))
    issued: list[bytes] = []
    lock = threading.Lock()

    def master() -> None:
        for _ in range(25):
            keys = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=2, size_bits=256)
            with lock:
                issued.extend(k.material for k in keys)

    threads = [threading.Thread(target=master) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(issued) == 200
    assert len(set(issued)) == 200  # every key different: no byte was handed out twice
    assert store.pool_bytes("a", "b") == 64 * 200 - 32 * 200


def test_concurrent_issuers_carve_small_blocks_once_and_in_order(store: KeyStore) -> None:
    """Four threads in transactions of their own and the group-commit writer, on blocks smaller than two keys.

    Each takes the oldest block's row lock alone; one that waited for a block another emptied and removed
    moves on to the next. Every key is a run of the pool's bytes, none shared, none skipped.
    """
    blocks = [os.urandom(50) for _ in range(260)]  # 13,000 bytes; 32-byte keys straddle blocks
    for block in blocks:
        store.add_key("a", "b", block)
    issued: list[bytes] = []
    lock = threading.Lock()
    route = [("s", ["a", "b"])]

    def master() -> None:
        for _ in range(40):
            keys = store.issue(master_kme="a", master_sae="m", slaves=route, number=2, size_bits=256)
            with lock:
                issued.extend(k.material for k in keys)

    async def batched() -> None:
        writer = store.writer()
        for _ in range(8):
            one = functools.partial(writer.issue, master_kme="a", master_sae="m", slaves=route, number=1)
            rounds = await asyncio.gather(*(one(size_bits=256) for _ in range(10)))
            with lock:
                issued.extend(k.material for keys in rounds for k in keys)

    threads = [threading.Thread(target=master) for _ in range(4)]
    threads.append(threading.Thread(target=asyncio.run, args=(batched(),)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(issued) == 4 * 80 + 80
    assert carved_in_order(b"".join(blocks), issued)
    assert store.pool_bytes("a", "b") == 13_000 - 32 * 400
    assert store.reserved_count("b", "s") == 400


@pytest.mark.parametrize("encrypted", [False, True], ids=["clear", "encrypted"])
def test_keys_are_the_oldest_bytes_and_taken_bytes_leave_the_row(postgres_url: str, encrypted: bool) -> None:
    """PostgreSQL takes from a block in one statement (``take_now``): the same carving as SQLite's three."""
    store = KeyStore(postgres_url, master_key=os.urandom(32) if encrypted else None)
    try:
        assert carves_five_blocks_in_order(store)
        with store.engine.connect() as connection:  # emptied blocks are gone; the last holds only its unused tail
            rows = connection.exec_driver_sql(
                "SELECT size_bytes, used_bytes, length(material) FROM pool_blocks ORDER BY id"
            ).all()
        assert [tuple(r) for r in rows] == [(64, 12, 52)]
    finally:
        with store.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(text(f"DELETE FROM {table.name}"))
        store.close()


def test_concurrent_slaves_never_get_a_key_twice(store: KeyStore) -> None:
    """Four threads in transactions of their own and the writer's batches ask for the same keys at once:
    each key goes out exactly once (the delivery locks the reserved rows it hands out)."""
    store.add_key("a", "b", os.urandom(4000))
    keys = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=100, size_bits=256)
    got: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def grab() -> None:
        for key in keys:
            try:
                [one] = store.deliver(kme_id="b", slave_sae="s", master_sae="m", key_ids=[key.key_id])
            except KeyNotAvailableError:
                continue
            with lock:
                got.append((one.key_id, one.material))

    async def batched() -> None:
        writer = store.writer()
        one = functools.partial(writer.deliver, kme_id="b", slave_sae="s", master_sae="m")
        outcomes = await asyncio.gather(*(one(key_ids=[k.key_id]) for k in keys), return_exceptions=True)
        with lock:
            got.extend((k.key_id, k.material) for o in outcomes if isinstance(o, list) for k in o)

    threads = [threading.Thread(target=grab) for _ in range(4)]
    threads.append(threading.Thread(target=asyncio.run, args=(batched(),)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted((k.key_id, k.material) for k in keys)  # each exactly once, the issued bits
    assert store.reserved_count("b", "s") == 0


def test_a_relay_failing_at_the_middle_kme_is_voided_with_a_tombstone(fresh_postgres_url: str, tmp_path: Path) -> None:
    """``tombstone`` fits ``relays.role`` (revision 0008; 0007's 8 characters refused it on PostgreSQL)."""
    urls = {"kme-a": f"sqlite:///{tmp_path / 'a.db'}", "kme-m": f"sqlite:///{tmp_path / 'm.db'}"}
    net = Net(LINE3, tmp_path, store_of=lambda kme: urls.get(kme, fresh_postgres_url))
    a = net.services["kme-a"]

    async def run() -> None:
        await net.feed("am", str(uuid.uuid4()), 0, 10)  # m-b holds nothing: the relay fails at m
        with pytest.raises(RelayFailedError):
            await a.issue(master_sae="sae-a", slaves=[("sae-b", "kme-b")], number=1, size_bits=256)
        await a.sweep()
        await net.services["kme-b"].sweep()  # its queries on PostgreSQL (nothing to send)

    asyncio.run(run())
    assert net.services["kme-b"].store.engine.dialect.name == "postgresql"
    assert net.rows("kme-b", "SELECT role, state FROM relays") == [("tombstone", "voided")]
    assert net.rows("kme-a", "SELECT state FROM relays") == [("voided",)]
    net.close()
