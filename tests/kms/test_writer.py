"""The group-commit writer: a batch is one transaction, a request all or nothing in it, no key before the commit.

Every test runs on SQLite and on PostgreSQL (skipped without its server, see conftest.py).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from qinternet.kms.store import Base, DeliveredKey, KeyNotAvailableError, KeyStore, NotEnoughKeyError
from qinternet.kms.topology import KmsTopology
from qinternet.kms.writer import KeyStoreWriter

ROUTE = [("s", ["a", "b"])]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStore]:
    if request.param == "sqlite":
        s = KeyStore(f"sqlite:///{tmp_path / 'kms.db'}")
        yield s
        s.close()
        return
    s = KeyStore(request.getfixturevalue("postgres_url"))
    yield s
    s.close()
    with s.engine.begin() as connection:  # an empty store for the next test
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(text(f"DELETE FROM {table.name}"))
    s.engine.dispose()


async def issue(writer: KeyStoreWriter, number: int = 1, size_bits: int = 256) -> list[DeliveredKey]:
    return await writer.issue(master_kme="a", master_sae="m", slaves=ROUTE, number=number, size_bits=size_bits)


async def deliver(writer: KeyStoreWriter, key_ids: list[str], slave: str = "s") -> list[DeliveredKey]:
    return await writer.deliver(kme_id="b", slave_sae=slave, master_sae="m", key_ids=key_ids)


def test_one_writer_per_store_and_closed_with_it(store: KeyStore) -> None:
    assert store.writer() is store.writer()


def test_a_failing_request_fails_alone_in_its_batch(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forty masters at once: the requests share a few transactions; the two bad ones take nothing.

    The first request waits inside its batch until every other one is queued, so that the grouping does not
    depend on how fast the writer thread runs beside the event loop (under load it could take each request as
    it came)."""
    store.add_key("a", "b", os.urandom(40 * 32 + 16))
    writer = store.writer()
    queued = threading.Event()
    issue_in = store.issue_in

    def first_waits(*args: Any, **kwargs: Any) -> Any:
        assert queued.wait(30), "the requests were never all queued"
        return issue_in(*args, **kwargs)

    monkeypatch.setattr(store, "issue_in", first_waits)

    async def scenario() -> list[Any]:
        good = [issue(writer) for _ in range(40)]
        too_big = issue(writer, size_bits=8 * 2000)  # more than the pool ever held
        unknown = deliver(writer, ["00000000-0000-0000-0000-000000000000"])
        tasks = [asyncio.ensure_future(c) for c in (*good[:20], too_big, unknown, *good[20:])]
        await asyncio.sleep(0)  # each task runs to its first await: its request is queued
        queued.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    keys = [k for o in outcomes if isinstance(o, list) for k in o]
    assert [type(e) for e in errors] == [NotEnoughKeyError, KeyNotAvailableError]
    assert len(keys) == len({k.material for k in keys}) == 40
    assert store.pool_bytes("a", "b") == 16  # the refused request took nothing
    assert store.reserved_count("b", "s") == 40
    assert writer.batches < writer.requests == 42  # group commit: fewer transactions than requests
    issued = [e.key_id for e in store.ledger() if e.kind == "issued"]  # the batch ran twice: recorded once
    assert sorted(issued) == sorted(k.key_id for k in keys)

    async def fetch() -> list[list[DeliveredKey]]:
        return await asyncio.gather(*(deliver(writer, [k.key_id]) for k in keys))

    assert [got for [got] in asyncio.run(fetch())] == keys
    with pytest.raises(KeyNotAvailableError):  # never twice
        asyncio.run(deliver(writer, [keys[0].key_id]))
    assert store.reserved_count("b", "s") == 0
    assert sorted(e.key_id for e in store.ledger() if e.kind == "delivered") == sorted(issued)


def test_an_unexpected_error_in_a_batch_is_undone_alone(store: KeyStore) -> None:
    """Not a refusal of the store (here a ValueError from a bad size): the batch runs with savepoints, and
    the error, the refusals and the good requests each get their own answer."""
    store.add_key("a", "b", os.urandom(20 * 32))
    writer = store.writer()

    async def scenario() -> list[Any]:
        good = [issue(writer) for _ in range(20)]
        bad_size = issue(writer, size_bits=12)
        unknown = deliver(writer, ["00000000-0000-0000-0000-000000000000"])
        return await asyncio.gather(*good[:10], unknown, bad_size, *good[10:], return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert [type(o) for o in outcomes if isinstance(o, BaseException)] == [KeyNotAvailableError, ValueError]
    assert sum(len(o) for o in outcomes if isinstance(o, list)) == 20
    assert store.pool_bytes("a", "b") == 0
    assert store.reserved_count("b", "s") == 20
    assert sum(e.kind == "issued" for e in store.ledger()) == 20


def test_keys_are_released_only_after_the_commit(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit that fails hands out nothing and keeps nothing: every request of the batch gets a database error."""
    store.add_key("a", "b", os.urandom(320))
    writer = store.writer()
    events: list[str] = []
    original = store.raw_connection

    class FailingCommit:
        def __init__(self, connection: Any) -> None:
            self._connection = connection

        def __getattr__(self, name: str) -> Any:
            return getattr(self._connection, name)

        def commit(self) -> None:
            events.append("commit")
            raise (
                sqlite3.OperationalError("disk I/O error")
                if store.engine.dialect.name == "sqlite"
                else (
                    store.engine.dialect.dbapi.OperationalError("server closed the connection")  # type: ignore[union-attr]
                )
            )

    monkeypatch.setattr(store, "raw_connection", lambda: FailingCommit(original()))

    async def scenario() -> list[Any]:
        async def one() -> Any:
            try:
                return await issue(writer)
            finally:
                events.append("answer")

        return await asyncio.gather(*(one() for _ in range(5)), return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, SQLAlchemyError) for o in outcomes)  # the API answers these with a 503
    assert events[0] == "commit"
    assert events.count("answer") == 5
    assert store.pool_bytes("a", "b") == store.pool_level("a", "b") == 320
    assert store.reserved_count("b") == 0
    monkeypatch.setattr(store, "raw_connection", original)
    assert len(asyncio.run(issue(writer))) == 1  # and the next batch works again


def test_routed_requests_spread_over_the_ways_and_the_levels_follow_the_commits(store: KeyStore) -> None:
    """The direct a-b holds 10 keys, the way through r 6: of 17 requests at once (and a bad one that makes
    its batch run with savepoints) 16 get a key, each on the widest way left after the requests before it
    in its batch, and one is refused; the levels the store keeps in memory are the database's."""
    ways = (("a", "b"), ("a", "r"), ("r", "b"))
    topology = KmsTopology(sae_kme={"m": "a", "s": "b"}, links=ways, relays=frozenset({"r"}))
    for hop, keys in zip(ways, (10, 6, 6), strict=True):
        store.add_key(*hop, os.urandom(32 * keys))
    writer = store.writer()
    widest = [("s", functools.partial(topology.widest_path, "a", "b"))]

    async def scenario() -> list[Any]:
        asked = [
            writer.issue(master_kme="a", master_sae="m", slaves=widest, number=1, size_bits=256) for _ in range(17)
        ]
        return await asyncio.gather(*asked[:8], issue(writer, size_bits=12), *asked[8:], return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert sum(isinstance(o, list) for o in outcomes) == 16
    assert sorted(type(o).__name__ for o in outcomes if isinstance(o, BaseException)) == [
        "NotEnoughKeyError",
        "ValueError",
    ]
    assert [store.pool_bytes(*hop) for hop in ways] == [store.pool_level(*hop) for hop in ways] == [0, 0, 0]


def test_relay_multicast_and_encryption_at_rest_through_the_writer(store: KeyStore) -> None:
    secret = KeyStore(store.url, master_key=os.urandom(32), migrate=False)
    material = os.urandom(64)
    for a, b in (("a", "r"), ("r", "c")):
        secret.add_key(a, b, material)
    secret.add_key("a", "d", os.urandom(64))
    writer = secret.writer()
    slaves = [("s1", ["a", "r", "c"]), ("s2", ["a", "d"])]

    async def scenario() -> tuple[list[DeliveredKey], list[DeliveredKey], list[DeliveredKey]]:
        [key] = await writer.issue(master_kme="a", master_sae="m", slaves=slaves, number=1, size_bits=256)
        one = await writer.deliver(kme_id="c", slave_sae="s1", master_sae="m", key_ids=[key.key_id])
        two = await writer.deliver(kme_id="d", slave_sae="s2", master_sae="m", key_ids=[key.key_id])
        return [key], one, two

    [key], one, two = asyncio.run(scenario())
    assert key.material == material[:32]  # the first hop's oldest bytes, decrypted
    assert one == two == [key]
    assert [secret.pool_bytes(*hop) for hop in (("a", "r"), ("r", "c"), ("a", "d"))] == [32, 32, 32]
    kinds = [e.kind for e in secret.ledger()]
    assert kinds.count("relayed") == 2  # r-c for s1, a-d for s2 (the key crosses it under a pad)
    assert kinds.count("delivered") == 2
    secret.close()


def test_the_refusal_says_whether_the_key_is_another_slaves(store: KeyStore) -> None:
    store.add_key("a", "b", os.urandom(64))
    writer = store.writer()
    [key] = asyncio.run(issue(writer))
    with pytest.raises(KeyNotAvailableError) as other:
        asyncio.run(deliver(writer, [key.key_id], slave="intruder"))
    assert other.value.reserved_for_others  # the API answers 401
    with pytest.raises(KeyNotAvailableError) as unknown:
        asyncio.run(deliver(writer, [key.key_id, "00000000-0000-0000-0000-000000000000"]))
    assert not unknown.value.reserved_for_others  # the API answers 400
    assert store.reserved_count("b", "s") == 1  # still there for its slave


def test_close_runs_what_is_queued_then_refuses(store: KeyStore) -> None:
    store.add_key("a", "b", os.urandom(320))
    writer = KeyStoreWriter(store)

    async def scenario() -> list[list[DeliveredKey]]:
        pending = [asyncio.ensure_future(issue(writer)) for _ in range(10)]
        await asyncio.sleep(0)  # all queued
        await asyncio.get_running_loop().run_in_executor(None, writer.close)
        return await asyncio.gather(*pending)

    assert len(asyncio.run(scenario())) == 10
    assert store.pool_bytes("a", "b") == 0
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(issue(writer))
