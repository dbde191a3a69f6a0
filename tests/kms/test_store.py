"""The key store: keys made once, delivered once, relayed hop by hop, nothing lost by a failed request."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from qinternet.kms.store import KeyNotAvailableError, KeyStore, MasterKeyError, NotEnoughKeyError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    s = KeyStore(f"sqlite:///{tmp_path / 'kms.db'}")
    yield s
    s.close()


def test_a_key_goes_to_the_master_and_once_to_the_slave(store: KeyStore) -> None:
    store.add_key("kme-a", "kme-b", bytes(range(256)))
    [key] = store.issue(
        master_kme="kme-a", master_sae="sae-1", slaves=[("sae-2", ["kme-a", "kme-b"])], number=1, size_bits=256
    )
    assert key.material == bytes(range(32))  # the oldest bytes of the pool
    assert store.pool_bytes("kme-b", "kme-a") == 224
    [same] = store.deliver(kme_id="kme-b", slave_sae="sae-2", master_sae="sae-1", key_ids=[key.key_id])
    assert same == key
    with pytest.raises(KeyNotAvailableError):  # never twice
        store.deliver(kme_id="kme-b", slave_sae="sae-2", master_sae="sae-1", key_ids=[key.key_id])
    assert "material" not in repr(key)
    assert str(key.material) not in repr(key)


def test_only_the_slave_it_was_issued_for_gets_it(store: KeyStore) -> None:
    store.add_key("kme-a", "kme-b", os.urandom(64))
    [key] = store.issue(master_kme="kme-a", master_sae="m", slaves=[("s", ["kme-a", "kme-b"])], number=1, size_bits=128)
    for kme, slave, master in (("kme-b", "intruder", "m"), ("kme-b", "s", "other-master"), ("kme-a", "s", "m")):
        with pytest.raises(KeyNotAvailableError):
            store.deliver(kme_id=kme, slave_sae=slave, master_sae=master, key_ids=[key.key_id])
    assert store.reserved_count("kme-b", "s") == 1


def test_one_unknown_id_fails_the_whole_request(store: KeyStore) -> None:
    store.add_key("a", "b", os.urandom(64))
    keys = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=2, size_bits=64)
    with pytest.raises(KeyNotAvailableError) as info:
        store.deliver(kme_id="b", slave_sae="s", master_sae="m", key_ids=[keys[0].key_id, "nope"])
    assert info.value.key_ids == ["nope"]
    assert store.reserved_count("b") == 2  # nothing was delivered


def test_a_short_pool_takes_nothing(store: KeyStore) -> None:
    store.add_key("a", "b", os.urandom(40))
    with pytest.raises(NotEnoughKeyError):
        store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=2, size_bits=256)
    assert store.pool_bytes("a", "b") == 40
    assert store.reserved_count("b") == 0


def test_relay_through_trusted_kmes_costs_every_hop(store: KeyStore) -> None:
    for a, b in (("a", "r1"), ("r1", "r2"), ("r2", "c")):
        store.add_key(a, b, os.urandom(100))
    [key] = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "r1", "r2", "c"])], number=1, size_bits=256)
    assert [store.pool_bytes(*hop) for hop in (("a", "r1"), ("r1", "r2"), ("r2", "c"))] == [68, 68, 68]
    [got] = store.deliver(kme_id="c", slave_sae="s", master_sae="m", key_ids=[key.key_id])
    assert got.material == key.material
    assert [e.kind for e in store.ledger()].count("relayed") == 2


def test_multicast_reserves_the_same_key_for_every_slave(store: KeyStore) -> None:
    store.add_key("a", "b", os.urandom(64))
    store.add_key("a", "c", os.urandom(64))
    [key] = store.issue(
        master_kme="a", master_sae="m", slaves=[("s1", ["a", "b"]), ("s2", ["a", "c"])], number=1, size_bits=128
    )
    for kme, slave in (("b", "s1"), ("c", "s2")):
        [got] = store.deliver(kme_id=kme, slave_sae=slave, master_sae="m", key_ids=[key.key_id])
        assert got.material == key.material


def test_a_full_pool_discards_and_records_it(store: KeyStore) -> None:
    assert store.add_key("a", "b", os.urandom(80), capacity_bytes=100) == 80
    assert store.add_key("a", "b", os.urandom(80), capacity_bytes=100) == 20
    assert store.pool_bytes("a", "b") == 100
    assert [(e.kind, e.bits) for e in store.ledger()][-2:] == [("discarded", 480), ("generated", 160)]


def test_encryption_at_rest(tmp_path: Path) -> None:
    master_key = os.urandom(32)
    store = KeyStore(f"sqlite:///{tmp_path / 'enc.db'}", master_key=master_key)
    material = os.urandom(100)
    store.add_key("a", "b", material)
    raw = (tmp_path / "enc.db").read_bytes() + (tmp_path / "enc.db-wal").read_bytes()
    assert material[:32] not in raw  # not stored in the clear
    [key] = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=1, size_bits=8 * 37)
    assert key.material == material[:37]
    [second] = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=1, size_bits=8 * 20)
    assert second.material == material[37:57]  # carved at an offset inside the encrypted block
    [got] = store.deliver(kme_id="b", slave_sae="s", master_sae="m", key_ids=[key.key_id])
    assert got.material == material[:37]
    store.close()
    with pytest.raises(ValueError, match="32 bytes"):
        KeyStore(f"sqlite:///{tmp_path / 'x.db'}", master_key=b"short")


def test_a_store_opens_only_with_the_master_key_its_material_is_sealed_under(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sealed.db'}"
    master_key = os.urandom(32)
    store = KeyStore(url, master_key=master_key)
    store.add_key("a", "b", os.urandom(64))
    [key] = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=1, size_bits=256)
    store.close()
    with pytest.raises(MasterKeyError, match="encrypted at rest"):  # the sealed bytes would go out as the key
        KeyStore(url)
    with pytest.raises(MasterKeyError, match="not the one"):
        KeyStore(url, master_key=os.urandom(32))
    store = KeyStore(url, master_key=master_key)  # nothing was lost to the refused opens
    [got] = store.deliver(kme_id="b", slave_sae="s", master_sae="m", key_ids=[key.key_id])
    assert got.material == key.material
    store.close()

    plain = f"sqlite:///{tmp_path / 'plain.db'}"
    store = KeyStore(plain)
    store.add_key("a", "b", os.urandom(64))
    store.close()
    with pytest.raises(MasterKeyError, match="in the clear"):
        KeyStore(plain, master_key=master_key)
    KeyStore(plain).close()


def test_a_new_sqlite_store_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'private.db'}")
    store.add_key("a", "b", os.urandom(64))
    for name in ("private.db", "private.db-wal"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    store.close()


def test_an_empty_store_takes_any_sealing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    KeyStore(url).close()
    store = KeyStore(url, master_key=os.urandom(32))  # no key material yet: nothing to misread
    store.add_key("a", "b", os.urandom(64))
    store.close()
    with pytest.raises(MasterKeyError):
        KeyStore(url)


def test_a_store_from_before_the_record_is_judged_by_its_pool_blocks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    master_key = os.urandom(32)
    store = KeyStore(url, master_key=master_key)
    store.add_key("a", "b", os.urandom(64))
    with store.engine.begin() as connection:  # as revision 0002 left it: no record of the sealing
        connection.exec_driver_sql("DELETE FROM store_meta")
    store.close()
    with pytest.raises(MasterKeyError, match="encrypted at rest"):
        KeyStore(url)
    KeyStore(url, master_key=master_key).close()  # records the key's check value
    with pytest.raises(MasterKeyError, match="not the one"):
        KeyStore(url, master_key=os.urandom(32))


def test_a_store_from_before_the_record_with_reserved_keys_only_is_judged_by_them(tmp_path: Path) -> None:
    """No pool block left, only keys waiting for their slaves: their length says they are sealed, and the
    master key given must open one, before anything is recorded."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    master_key = os.urandom(32)
    store = KeyStore(url, master_key=master_key)
    store.add_key("a", "b", os.urandom(64))
    keys = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=2, size_bits=256)
    with store.engine.begin() as connection:  # as revision 0002 left it, its pool used up
        connection.exec_driver_sql("DELETE FROM store_meta")
        connection.exec_driver_sql("DELETE FROM pool_blocks")
    store.close()
    with pytest.raises(MasterKeyError, match="encrypted at rest"):
        KeyStore(url)
    with pytest.raises(MasterKeyError, match="not the one"):
        KeyStore(url, master_key=os.urandom(32))  # refused, and so not recorded as the store's key
    store = KeyStore(url, master_key=master_key)
    got = store.deliver(kme_id="b", slave_sae="s", master_sae="m", key_ids=[k.key_id for k in keys])
    assert [k.material for k in got] == [k.material for k in keys]
    store.close()

    plain = f"sqlite:///{tmp_path / 'plain.db'}"
    store = KeyStore(plain)
    store.add_key("a", "b", os.urandom(32))
    store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=1, size_bits=256)
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM store_meta")
    store.close()
    with pytest.raises(MasterKeyError, match="in the clear"):
        KeyStore(plain, master_key=master_key)
    KeyStore(plain).close()


def test_concurrent_slaves_never_get_a_key_twice(tmp_path: Path) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'c.db'}")
    store.add_key("a", "b", os.urandom(4000))
    keys = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=100, size_bits=256)
    got: list[str] = []
    lock = threading.Lock()

    def grab() -> None:
        for key in keys:
            try:
                [one] = store.deliver(kme_id="b", slave_sae="s", master_sae="m", key_ids=[key.key_id])
            except KeyNotAvailableError:
                continue
            with lock:
                got.append(one.key_id)

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(k.key_id for k in keys)  # each exactly once
    store.close()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "issue", "deliver"]), st.integers(1, 6)), min_size=1, max_size=25))
def test_the_books_balance(tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int]]) -> None:
    """Made = held in the pool + issued; every issued key is delivered at most once; none appears from nowhere."""
    store = KeyStore(f"sqlite:///{tmp_path_factory.mktemp('p') / 'p.db'}")
    made = issued = 0
    open_ids: list[str] = []
    delivered: set[str] = set()
    for op, n in ops:
        if op == "add":
            made += store.add_key("a", "b", os.urandom(16 * n))
        elif op == "issue":
            try:
                keys = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=n, size_bits=64)
            except NotEnoughKeyError:
                continue
            issued += 8 * n
            open_ids += [k.key_id for k in keys]
        elif open_ids:
            take, open_ids = open_ids[:n], open_ids[n:]
            got = store.deliver(kme_id="b", slave_sae="s", master_sae="m", key_ids=take)
            assert {k.key_id for k in got}.isdisjoint(delivered)
            delivered |= {k.key_id for k in got}
        assert store.pool_bytes("a", "b") + issued == made
        assert store.reserved_count("b") == len(open_ids)
    store.close()


def carves_five_blocks_in_order(store: KeyStore) -> bool:
    """Fill pool a-b with five blocks (244 bytes, some smaller than a key), issue 6 keys of 32 bytes in three
    requests, and tell whether they are the pool's oldest bytes in order (:func:`carved_in_order`)."""
    blocks = [os.urandom(n) for n in (50, 7, 90, 33, 64)]
    for block in blocks:
        store.add_key("a", "b", block)
    keys = [
        k.material
        for n in (1, 2, 3)
        for k in store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=n, size_bits=256)
    ]
    return carved_in_order(b"".join(blocks), keys)


def carved_in_order(stream: bytes, keys: list[bytes]) -> bool:
    """Every key is a run of ``stream`` (the pool's blocks, oldest first), no byte in two keys, and together
    the keys are exactly the stream's first bytes (the oldest are used first, none skipped)."""
    starts = sorted((stream.find(k), len(k)) for k in keys)
    offset = 0
    for start, length in starts:
        if start != offset:
            return False
        offset += length
    return True


@pytest.mark.parametrize("encrypted", [False, True], ids=["clear", "encrypted"])
def test_keys_are_the_oldest_bytes_across_blocks_and_used_blocks_go(tmp_path: Path, encrypted: bool) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'b.db'}", master_key=os.urandom(32) if encrypted else None)
    assert carves_five_blocks_in_order(store)
    assert store.pool_bytes("a", "b") == 244 - 6 * 32
    with store.engine.connect() as connection:  # the four emptied blocks are gone, the last is partly used
        rows = connection.exec_driver_sql("SELECT size_bytes, used_bytes FROM pool_blocks ORDER BY id").all()
    assert [tuple(r) for r in rows] == [(64, 192 - 180)]
    store.close()


def test_taken_key_leaves_the_database_file(tmp_path: Path) -> None:
    """A key carved from a partly used block is gone from the file (and its log) once checkpointed."""
    store = KeyStore(f"sqlite:///{tmp_path / 'k.db'}")
    material = os.urandom(3000)
    store.add_key("a", "b", material)
    [key] = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=1, size_bits=8 * 64)
    [got] = store.deliver(kme_id="b", slave_sae="s", master_sae="m", key_ids=[key.key_id])
    store.checkpoint()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("k.db"))
    assert got.material not in raw
    assert material[64:128] in raw  # the unused rest of the pool is still there
    store.close()


def test_an_encrypted_key_moved_to_another_sae_does_not_open(tmp_path: Path) -> None:
    """Whoever can write to the database cannot hand a reserved key to another SAE: it fails to decrypt."""
    from cryptography.exceptions import InvalidTag
    from sqlalchemy import text

    store = KeyStore(f"sqlite:///{tmp_path / 'k.db'}", master_key=os.urandom(32))
    store.add_key("a", "b", os.urandom(64))
    [key] = store.issue(master_kme="a", master_sae="m", slaves=[("s", ["a", "b"])], number=1, size_bits=128)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE keys SET slave_sae_id = 'eve'"))
    with pytest.raises(InvalidTag):
        store.deliver(kme_id="b", slave_sae="eve", master_sae="m", key_ids=[key.key_id])
    store.close()


def test_keys_never_fetched_are_voided_not_put_back(store: KeyStore) -> None:
    """The master may hold an unfetched key: it is erased and never handed to anyone again, nor returned."""
    store.add_key("kme-a", "kme-b", os.urandom(128))
    route = [("sae-2", ["kme-a", "kme-b"])]
    fetched, unfetched = (
        store.issue(master_kme="kme-a", master_sae="sae-1", slaves=route, number=1, size_bits=256)[0] for _ in range(2)
    )
    store.deliver(kme_id="kme-b", slave_sae="sae-2", master_sae="sae-1", key_ids=[fetched.key_id], ttl_s=3600)
    time.sleep(0.01)
    assert store.expire_reserved(0.0) == 1
    assert store.expire_reserved(0.0) == 0  # once
    assert store.pool_bytes("kme-a", "kme-b") == 64  # nothing went back
    assert store.reserved_count("kme-b") == 0
    with pytest.raises(KeyNotAvailableError):
        store.deliver(kme_id="kme-b", slave_sae="sae-2", master_sae="sae-1", key_ids=[unfetched.key_id])
    with store.engine.connect() as c:
        rows = dict(c.execute(text("SELECT key_id, state FROM keys WHERE material IS NULL")).all())
    assert rows == {fetched.key_id: "DELIVERED", unfetched.key_id: "EXPIRED"}
    [event] = [e for e in store.ledger() if e.kind == "expired"]
    assert (event.key_id, event.slave_sae_id, event.bits) == (unfetched.key_id, "sae-2", 256)


def test_a_key_past_its_time_is_not_delivered_before_the_sweep(store: KeyStore) -> None:
    store.add_key("kme-a", "kme-b", os.urandom(64))
    [key] = store.issue(
        master_kme="kme-a", master_sae="sae-1", slaves=[("sae-2", ["kme-a", "kme-b"])], number=1, size_bits=256
    )
    time.sleep(0.01)
    with pytest.raises(KeyNotAvailableError):
        store.deliver(kme_id="kme-b", slave_sae="sae-2", master_sae="sae-1", key_ids=[key.key_id], ttl_s=0.005)
    assert store.reserved_count("kme-b") == 1  # still reserved until the sweep, and never delivered


def test_a_sweep_that_fails_voids_nothing(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_key("kme-a", "kme-b", os.urandom(64))
    store.issue(master_kme="kme-a", master_sae="sae-1", slaves=[("sae-2", ["kme-a", "kme-b"])], number=2, size_bits=256)

    def crash(*_: object) -> None:
        raise RuntimeError("the process dies before the commit")

    monkeypatch.setattr(store, "write", crash)  # after the updates, before the commit
    with pytest.raises(RuntimeError):
        store.expire_reserved(0.0)
    assert store.reserved_count("kme-b") == 2
