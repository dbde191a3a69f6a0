"""The key store of the Key Management Entities: link key pools, keys reserved for slave SAEs, a ledger.

One database (SQLAlchemy: a SQLite file by default, PostgreSQL by URL) holds the store of every KME of a
network; each KME reads and writes only the rows of its own ``kme_id``.

- **Pools**: the secret key a QKD link between two KMEs made, in blocks, in the order it was made
  (one copy per link here; both ends hold the same bits in a real network). Keys are carved from the
  oldest bytes.
- **Issuing** (ETSI GS QKD 014 ``enc_keys``, called by the master SAE at its KME): in *one* transaction,
  ``size / 8`` bytes are taken from the pool of every hop on the path to each slave's KME (trusted-node
  relay: the key crosses each hop under a one-time pad of that hop's key, so it costs the hop as many
  bits), and a row per slave is written at the slave's KME, ``reserved`` for that slave and master.
  The key goes to the master only after the commit: a crash before it loses nothing; a crash after it
  leaves a reserved key that nobody received (wasted, never delivered twice).
- **Delivery** (``dec_keys``, called by a slave SAE at its KME): one transaction turns the slave's
  ``reserved`` rows for the asked key IDs to ``delivered`` and erases their material; a key ID that is not
  reserved for this slave (unknown, another SAE's, or already delivered) fails the whole request.
  Concurrent or repeated requests cannot both succeed: the update is conditional on the state. The one
  window a crash leaves: the commit done and the answer not yet sent. The key is then delivered in the
  ledger but the slave never saw it; ETSI GS QKD 014 removes a key once delivered and has no
  acknowledgement, so the KME cannot tell, and it does not hand the key out again.
- **Ledger**: every event (key made, issued, delivered, relayed, discarded) with bits and SAE IDs, never
  key material.

Durability: SQLite in WAL mode with ``synchronous=FULL`` (a commit survives a process crash and a power
loss; ~150 us per commit here) and ``BEGIN IMMEDIATE`` for writes, so that concurrent writers queue
instead of failing on upgrade; PostgreSQL locks pool blocks with ``FOR UPDATE``.

At rest, key material is optionally encrypted under a 256-bit master key: pool blocks with AES-256-CTR
(a random nonce per block, so that any byte range can be decrypted without the rest), reserved keys with
AES-256-GCM bound to their KME and key ID.
"""

from __future__ import annotations

import enum
import itertools
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Enum,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from qinternet.errors import QinternetError

__all__ = [
    "Base",
    "DeliveredKey",
    "KeyNotAvailableError",
    "KeyState",
    "KeyStore",
    "LedgerEvent",
    "NotEnoughKeyError",
    "pool_name",
]

_NONCE_BYTES = 16
_GCM_NONCE_BYTES = 12


class KeyState(enum.Enum):
    """Where a key is in its life at a slave's KME."""

    RESERVED = "reserved"
    DELIVERED = "delivered"


class NotEnoughKeyError(QinternetError):
    """The pools on the way to a slave hold fewer bytes than the request needs (nothing was taken)."""


class KeyNotAvailableError(QinternetError):
    """A key ID is not reserved for the asking slave SAE at this KME (unknown, not its, or delivered)."""

    def __init__(self, key_ids: Sequence[str]) -> None:
        super().__init__(f"{len(key_ids)} key ID(s) not available for this SAE")
        self.key_ids = list(key_ids)


def pool_name(kme_a: str, kme_b: str) -> tuple[str, str]:
    """The pool of the link between two KMEs, named by the pair in sorted order."""
    return (kme_a, kme_b) if kme_a <= kme_b else (kme_b, kme_a)


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""


class PoolBlock(Base):
    """Key a link made, in the order it was made; ``used_bytes`` of it are gone."""

    __tablename__ = "pool_blocks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kme_low: Mapped[str] = mapped_column(String(100))
    kme_high: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    used_bytes: Mapped[int] = mapped_column(Integer, default=0)
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    material: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_pool_blocks_pool", "kme_low", "kme_high", "id"),)


class KeyRecord(Base):
    """A key at a slave's KME, reserved for one slave SAE of one master SAE, then delivered."""

    __tablename__ = "keys"
    kme_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    slave_sae_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    master_sae_id: Mapped[str] = mapped_column(String(100))
    size_bits: Mapped[int] = mapped_column(Integer)
    state: Mapped[KeyState] = mapped_column(Enum(KeyState, native_enum=False, length=16))
    material: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    __table_args__ = (Index("ix_keys_slave", "kme_id", "slave_sae_id", "master_sae_id", "state"),)


class LedgerEvent(Base):
    """One event of the store (no key material)."""

    __tablename__ = "ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))
    kme_id: Mapped[str] = mapped_column(String(100))
    peer_kme_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    master_sae_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    slave_sae_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    bits: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True, slots=True)
class DeliveredKey:
    """A key handed to an SAE: its ID and material (never logged, never in a repr)."""

    key_id: str
    material: bytes

    def __repr__(self) -> str:
        return f"DeliveredKey(key_id={self.key_id!r}, bytes={len(self.material)})"


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class KeyStore:
    """The key store of a network's KMEs (see the module docstring).

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///kms.db`` or ``postgresql+psycopg://user@host/db``.
        master_key: 32 bytes to encrypt key material at rest, or None to store it in the clear.
        migrate: bring the database to the current schema with the Alembic migrations
            (:mod:`.migrate`); an up-to-date database is left as it is.
    """

    def __init__(self, url: str, *, master_key: bytes | None = None, migrate: bool = True) -> None:
        if master_key is not None and len(master_key) != 32:
            raise ValueError("master_key must be 32 bytes (AES-256)")
        self.url = url
        self._master_key = master_key
        self.engine = create_engine(url, future=True)
        self._sqlite = self.engine.dialect.name == "sqlite"
        if self._sqlite:
            _sqlite_pragmas(self.engine)
        if migrate:
            from qinternet.kms.migrate import upgrade  # alembic imports this module's Base

            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # -- encryption at rest ----------------------------------------------------------------------------

    def _ctr(self, nonce: bytes, offset: int, data: bytes) -> bytes:
        assert self._master_key is not None
        counter = (int.from_bytes(nonce, "big") + offset // 16) % (1 << 128)
        cipher = Cipher(algorithms.AES(self._master_key), modes.CTR(counter.to_bytes(16, "big")))
        skip = offset % 16
        stream = cipher.encryptor()
        return stream.update(bytes(skip) + data)[skip:]

    def _seal(self, kme_id: str, key_id: str, material: bytes) -> bytes:
        if self._master_key is None:
            return material
        nonce = os.urandom(_GCM_NONCE_BYTES)
        return nonce + AESGCM(self._master_key).encrypt(nonce, material, f"{kme_id}/{key_id}".encode())

    def _open(self, kme_id: str, key_id: str, stored: bytes) -> bytes:
        if self._master_key is None:
            return stored
        nonce, sealed = stored[:_GCM_NONCE_BYTES], stored[_GCM_NONCE_BYTES:]
        return AESGCM(self._master_key).decrypt(nonce, sealed, f"{kme_id}/{key_id}".encode())

    # -- pools -----------------------------------------------------------------------------------------

    def add_key(
        self,
        kme_a: str,
        kme_b: str,
        material: bytes,
        *,
        capacity_bytes: int | None = None,
        offered_bytes: int | None = None,
    ) -> int:
        """Append key a link between ``kme_a`` and ``kme_b`` made; returns the bytes kept.

        With ``capacity_bytes``, what would overfill the pool is discarded and recorded in the ledger;
        ``offered_bytes`` (at least ``len(material)``) is how much the link made, when the caller did not
        materialise what could not fit anyway.
        """
        low, high = pool_name(kme_a, kme_b)
        now = time.time()
        offered = len(material) if offered_bytes is None else max(offered_bytes, len(material))
        with self._transaction() as session:
            kept = len(material)
            if capacity_bytes is not None:
                held = self._pool_bytes(session, low, high)
                kept = max(0, min(kept, capacity_bytes - held))
            if kept < offered:
                discarded = 8 * (offered - kept)
                session.add(LedgerEvent(at=now, kind="discarded", kme_id=low, peer_kme_id=high, bits=discarded))
            if kept:
                data = material[:kept]
                nonce = os.urandom(_NONCE_BYTES) if self._master_key is not None else None
                stored = self._ctr(nonce, 0, data) if nonce is not None else data
                session.add(
                    PoolBlock(
                        kme_low=low,
                        kme_high=high,
                        size_bytes=kept,
                        used_bytes=0,
                        nonce=nonce,
                        material=stored,
                        created_at=now,
                    )
                )
                session.add(LedgerEvent(at=now, kind="generated", kme_id=low, peer_kme_id=high, bits=8 * kept))
        return kept

    @staticmethod
    def _pool_bytes(session: Session, low: str, high: str) -> int:
        total = session.scalar(
            select(func.coalesce(func.sum(PoolBlock.size_bytes - PoolBlock.used_bytes), 0)).where(
                PoolBlock.kme_low == low, PoolBlock.kme_high == high
            )
        )
        return int(total or 0)

    def pool_bytes(self, kme_a: str, kme_b: str) -> int:
        """Bytes of key the link between two KMEs holds now."""
        with self._sessions() as session:
            return self._pool_bytes(session, *pool_name(kme_a, kme_b))

    def _take(self, session: Session, kme_a: str, kme_b: str, nbytes: int) -> bytes:
        """Remove the oldest ``nbytes`` of a pool, or raise :class:`NotEnoughKeyError` (the caller rolls back)."""
        low, high = pool_name(kme_a, kme_b)
        query = (
            select(PoolBlock)
            .where(PoolBlock.kme_low == low, PoolBlock.kme_high == high, PoolBlock.used_bytes < PoolBlock.size_bytes)
            .order_by(PoolBlock.id)
        )
        if not self._sqlite:
            query = query.with_for_update()
        parts: list[bytes] = []
        need = nbytes
        for block in session.scalars(query):
            take = min(need, block.size_bytes - block.used_bytes)
            start = block.used_bytes
            chunk = block.material[start : start + take]
            parts.append(self._ctr(block.nonce, start, chunk) if block.nonce is not None else chunk)
            block.used_bytes = start + take
            if block.used_bytes == block.size_bytes:
                session.delete(block)
            need -= take
            if need == 0:
                break
        if need:
            raise NotEnoughKeyError(f"the link {low}-{high} holds {nbytes - need} of the {nbytes} bytes needed")
        return b"".join(parts)

    # -- keys --------------------------------------------------------------------------------------------

    def issue(
        self,
        *,
        master_kme: str,
        master_sae: str,
        slaves: Sequence[tuple[str, Sequence[str]]],
        number: int,
        size_bits: int,
    ) -> list[DeliveredKey]:
        """Make ``number`` keys of ``size_bits`` for the master SAE and reserve them for every slave.

        Args:
            master_kme: the KME the master SAE called.
            master_sae: the calling SAE.
            slaves: per slave SAE, ``(sae_id, path)`` with the KMEs from the master's to the slave's
                (``[master_kme]`` alone when both SAEs are attached to the same KME).
            number, size_bits: how many keys and how long (a multiple of 8).

        Raises:
            NotEnoughKeyError: some pool on some path is short (nothing is taken).
        """
        if size_bits % 8 or size_bits <= 0 or number <= 0:
            raise ValueError("size_bits must be a positive multiple of 8 and number positive")
        nbytes = size_bits // 8
        now = time.time()
        keys: list[DeliveredKey] = []
        with self._transaction() as session:
            for _ in range(number):
                key_id = str(uuid.uuid4())
                material: bytes | None = None
                for slave_sae, path in slaves:
                    hops = list(itertools.pairwise(path))
                    if material is None:
                        # The first hop's key is the end-to-end key (or fresh randomness at a single KME).
                        material = self._take(session, *hops[0], nbytes) if hops else os.urandom(nbytes)
                        rest = hops[1:]
                    else:
                        rest = hops  # further slaves: the key travels each of their hops too
                    for a, b in rest:
                        # The hop carries key XOR pad and the next node decrypts: it costs the hop nbytes.
                        self._take(session, a, b, nbytes)
                        session.add(
                            LedgerEvent(
                                at=now,
                                kind="relayed",
                                kme_id=a,
                                peer_kme_id=b,
                                key_id=key_id,
                                master_sae_id=master_sae,
                                slave_sae_id=slave_sae,
                                bits=size_bits,
                            )
                        )
                    slave_kme = path[-1]
                    session.add(
                        KeyRecord(
                            kme_id=slave_kme,
                            key_id=key_id,
                            slave_sae_id=slave_sae,
                            master_sae_id=master_sae,
                            size_bits=size_bits,
                            state=KeyState.RESERVED,
                            material=self._seal(slave_kme, key_id, material),
                            created_at=now,
                        )
                    )
                assert material is not None
                session.add(
                    LedgerEvent(
                        at=now,
                        kind="issued",
                        kme_id=master_kme,
                        key_id=key_id,
                        master_sae_id=master_sae,
                        bits=size_bits,
                    )
                )
                keys.append(DeliveredKey(key_id=key_id, material=material))
        return keys

    def deliver(self, *, kme_id: str, slave_sae: str, master_sae: str, key_ids: Sequence[str]) -> list[DeliveredKey]:
        """Hand the reserved keys ``key_ids`` to the slave SAE at its KME, once; erase them there.

        Raises:
            KeyNotAvailableError: naming the IDs not reserved for this slave and master (nothing is delivered).
        """
        now = time.time()
        wanted = list(dict.fromkeys(key_ids))
        with self._transaction() as session:
            rows = session.scalars(
                select(KeyRecord).where(
                    KeyRecord.kme_id == kme_id,
                    KeyRecord.slave_sae_id == slave_sae,
                    KeyRecord.master_sae_id == master_sae,
                    KeyRecord.key_id.in_(wanted),
                    KeyRecord.state == KeyState.RESERVED,
                )
            ).all()
            found = {row.key_id: row for row in rows}
            missing = [k for k in wanted if k not in found]
            if missing:
                raise KeyNotAvailableError(missing)
            delivered = []
            for key_id in wanted:
                row = found[key_id]
                assert row.material is not None
                delivered.append(DeliveredKey(key_id=key_id, material=self._open(kme_id, key_id, row.material)))
                result = session.execute(
                    update(KeyRecord)
                    .where(
                        KeyRecord.kme_id == kme_id,
                        KeyRecord.key_id == key_id,
                        KeyRecord.slave_sae_id == slave_sae,
                        KeyRecord.state == KeyState.RESERVED,
                    )
                    .values(state=KeyState.DELIVERED, material=None, delivered_at=now)
                )
                if getattr(result, "rowcount", 1) != 1:  # another transaction got there first
                    raise KeyNotAvailableError([key_id])
                session.add(
                    LedgerEvent(
                        at=now,
                        kind="delivered",
                        kme_id=kme_id,
                        key_id=key_id,
                        master_sae_id=master_sae,
                        slave_sae_id=slave_sae,
                        bits=row.size_bits,
                    )
                )
        return delivered

    def reserved_for_others(self, kme_id: str, slave_sae: str, key_ids: Sequence[str]) -> bool:
        """Whether some of ``key_ids`` were issued at this KME to other slave SAEs only (ETSI 014: a 401)."""
        with self._sessions() as session:
            owners = session.execute(
                select(KeyRecord.key_id, KeyRecord.slave_sae_id).where(
                    KeyRecord.kme_id == kme_id, KeyRecord.key_id.in_(list(key_ids))
                )
            ).all()
        mine = {key_id for key_id, sae in owners if sae == slave_sae}
        return any(key_id not in mine for key_id, _ in owners)

    def reserved_count(self, kme_id: str, slave_sae: str | None = None) -> int:
        """Keys reserved and not yet delivered at a KME (for one slave SAE if given)."""
        query = (
            select(func.count())
            .select_from(KeyRecord)
            .where(KeyRecord.kme_id == kme_id, KeyRecord.state == KeyState.RESERVED)
        )
        if slave_sae is not None:
            query = query.where(KeyRecord.slave_sae_id == slave_sae)
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def ledger(self) -> list[LedgerEvent]:
        """Every ledger event, oldest first."""
        with self._sessions() as session:
            return list(session.scalars(select(LedgerEvent).order_by(LedgerEvent.id)))
