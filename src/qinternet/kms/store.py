"""The key store of the Key Management Entities: link key pools, keys reserved for slave SAEs, a ledger.

One database (SQLAlchemy: a SQLite file by default, PostgreSQL by URL) holds the store of every KME of a
network; each KME reads and writes only the rows of its own ``kme_id``.

- **Pools**: the secret key a QKD link between two KMEs made, in blocks, in the order it was made
  (one copy per link here; both ends hold the same bits in a real network). Keys are carved from the
  oldest bytes.
- **Issuing** (ETSI GS QKD 014 ``enc_keys``, called by the master SAE at its KME): in *one* transaction,
  ``size / 8`` bytes are taken from the pool of every hop on the path to each slave's KME (trusted-node
  relay: the key crosses each hop under a one-time pad of that hop's key, so it costs the hop as many
  bits: :func:`qinternet.network.routing.relay_cost`), and a row per slave is written at the slave's KME,
  ``reserved`` for that slave and master. The path is given, or chosen for every key when it is taken
  (the KMEs: the widest path of :mod:`qinternet.network.routing`, as ``qinternet run`` routes) from the
  pools' levels this process keeps in memory (:meth:`KeyStore.pool_level`: read once at open, then
  counted at each of its commits) less what the transaction took so far.
  The key goes to the master only after the commit: a crash before it loses nothing; a crash after it
  leaves a reserved key that nobody received (wasted, never delivered twice).
- **Delivery** (``dec_keys``, called by a slave SAE at its KME): one transaction turns the slave's
  ``reserved`` rows for the asked key IDs to ``delivered`` and erases their material; a key ID that is not
  reserved for this slave (unknown, another SAE's, or already delivered) fails the whole request.
  Concurrent or repeated requests cannot both succeed: the update is conditional on the state. A key
  reserved longer than the KME's ``ttl_s`` is not delivered any more.
- **Redelivery window** (the KMEs' ``redelivery_window_s``, 60 s by default; 0: strict once-only): a
  delivered key keeps its sealed material, ``redeliverable``, and the same slave SAE may fetch it again for
  the same master SAE, with the same value, until the window ends; a fetch again changes nothing and is
  not a second delivery. Then :meth:`KeyStore.erase_delivered` erases it (``delivered``).
- **Expiry** (:meth:`KeyStore.expire_reserved`): keys reserved longer than a time and never fetched turn
  ``expired`` in one transaction and lose their material. They are voided, never put back into a pool: the
  master may have received them. The one
  window a crash leaves: the commit done and the answer not yet sent. The key is then delivered in the
  ledger but the slave never saw it; ETSI GS QKD 014 removes a key once delivered and has no
  acknowledgement, so the KME cannot tell. The redelivery window closes it: the slave asks again and gets
  the key (with the window at 0, the key is lost).
- **Ledger**: every event (key made, issued, delivered, relayed, discarded) with bits and SAE IDs, never
  key material.

Durability: SQLite in WAL mode with ``synchronous=FULL`` (a commit survives a process crash and a power
loss; ~150 us per commit here) and ``BEGIN IMMEDIATE`` for writes, so that concurrent writers queue
instead of failing on upgrade; PostgreSQL locks the pool block it takes from with ``FOR UPDATE``.

Issuing and delivery run as plain SQL on one DBAPI cursor (:meth:`KeyStore.issue_in`,
:meth:`KeyStore.deliver_in`; the models above are the schema): either in a transaction of their own
(:meth:`KeyStore.issue`, :meth:`KeyStore.deliver`) or, for the KMEs' API, in the batches of the store's
group-commit writer (:meth:`KeyStore.writer`, :mod:`.writer`), one transaction per batch and a savepoint per
request. A take reads the oldest block with unused bytes and only the bytes it gives, never the pool.

At rest, key material is optionally encrypted under a 256-bit master key: pool blocks with AES-256-CTR
(a random nonce per block, so that any byte range can be decrypted without the rest), reserved keys with
AES-256-GCM bound to their KME and key ID.
"""

from __future__ import annotations

import enum
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    BigInteger,
    Enum,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from qinternet.errors import QinternetError
from qinternet.kms.topology import PoolLevel
from qinternet.network.routing import relay_cost

if TYPE_CHECKING:
    from qinternet.kms.writer import KeyStoreWriter

__all__ = [
    "Base",
    "DeliveredKey",
    "DeviceKeyRecord",
    "DeviceStreamRecord",
    "KeyNotAvailableError",
    "KeyState",
    "KeyStore",
    "KeyStreamRecord",
    "LedgerEvent",
    "LedgerRow",
    "MasterKeyError",
    "NotEnoughKeyError",
    "RelayFailedError",
    "Route",
    "StreamKeyRecord",
    "Writes",
    "pool_name",
]

_NONCE_BYTES = 16
_BLOCK_BYTES = 4096
"""Key is stored in blocks of at most this many bytes; a block loses its used bytes as they are taken."""
_GCM_NONCE_BYTES = 12
_GCM_TAG_BYTES = 16
_CHECK_CONTEXT = b"qinternet key store: master key check"
_T = TypeVar("_T")


class KeyState(enum.Enum):
    """Where a key is in its life at a slave's KME."""

    RESERVED = "reserved"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    """Reserved, never fetched by its slave within the KME's time, and voided (material erased)."""
    REDELIVERABLE = "redeliverable"
    """Delivered to its slave SAE, its material still held (sealed as a reserved key's) so that the same SAE
    may fetch it again until the KME's redelivery window ends; then ``delivered``, material erased
    (:meth:`KeyStore.erase_delivered`)."""
    VOIDED = "voided"
    """A key of an ETSI GS QKD 004 key stream that its SAE never fetched before the stream was closed
    (material erased; :mod:`.streams`)."""


class MasterKeyError(QinternetError):
    """The master key given does not fit the key store: its material is sealed under another key, is
    sealed while no key is given, or is in the clear while a key is given."""


class NotEnoughKeyError(QinternetError):
    """The pools on the way to a slave hold fewer bytes than the request needs (nothing was taken)."""


class RelayFailedError(QinternetError):
    """A relay between KME processes failed (a hop short of key, a KME unreachable, no answer in time, a
    message refused) and was voided along its path: the master answers 503 (:mod:`.relay`)."""


class KeyNotAvailableError(QinternetError):
    """A key ID is not reserved for the asking slave SAE at this KME (unknown, not its, or delivered)."""

    def __init__(self, key_ids: Sequence[str], *, reserved_for_others: bool = False) -> None:
        super().__init__(f"{len(key_ids)} key ID(s) not available for this SAE")
        self.key_ids = list(key_ids)
        self.reserved_for_others = reserved_for_others
        """Some of ``key_ids`` are reserved at this KME for other slave SAEs only (ETSI 014: a 401)."""


def pool_name(kme_a: str, kme_b: str) -> tuple[str, str]:
    """The pool of the link between two KMEs, named by the pair in sorted order."""
    return (kme_a, kme_b) if kme_a <= kme_b else (kme_b, kme_a)


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""


class PoolBlock(Base):
    """Key a link made, in the order it was made: ``size_bytes`` in all, of which the first ``used_bytes``
    are gone; ``material`` holds only the rest (encrypted at rest from offset ``used_bytes``)."""

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
    __table_args__ = (
        Index("ix_keys_slave", "kme_id", "slave_sae_id", "master_sae_id", "state"),
        Index("ix_keys_state_created", "state", "created_at"),
    )


class StoreMeta(Base):
    """Facts about the store itself (revision 0003): ``sealing`` (``none`` or ``aes-256``) and, when
    sealed, ``check``, a value only the master key opens."""

    __tablename__ = "store_meta"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)


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
    bits: Mapped[int] = mapped_column(BigInteger, default=0)


class KeyStreamRecord(Base):
    """An ETSI GS QKD 004 key stream between two SAEs (revision 0005; :mod:`.streams`): the SAE that opened
    it first (``a``) and the one it named (``b``), each end's state (``waiting`` for ``b`` until it opens,
    ``open``, ``closed``), the chunk size and the QoS registered (JSON), and when it expires (its TTL)."""

    __tablename__ = "key_streams"
    ksid: Mapped[str] = mapped_column(String(36), primary_key=True)
    sae_a: Mapped[str] = mapped_column(String(100))
    kme_a: Mapped[str] = mapped_column(String(100))
    sae_b: Mapped[str] = mapped_column(String(100))
    kme_b: Mapped[str] = mapped_column(String(100))
    end_a: Mapped[str] = mapped_column(String(8))
    end_b: Mapped[str] = mapped_column(String(8))
    chunk_bytes: Mapped[int] = mapped_column(Integer)
    qos: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class StreamKeyRecord(Base):
    """The key of one index of a key stream for one of its two SAEs, at that SAE's KME: ``reserved`` until
    that SAE fetches it (then ``delivered``, material erased) or the stream closes (``voided``)."""

    __tablename__ = "stream_keys"
    ksid: Mapped[str] = mapped_column(String(36), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sae_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kme_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[KeyState] = mapped_column(Enum(KeyState, native_enum=False, length=16))
    material: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    hops: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class DeviceStreamRecord(Base):
    """The key stream a QKD link's pair of devices pushes into its two KMEs (revision 0006;
    :mod:`.southbound`): the link, its two KMEs (``kme_a`` at the link's end ``a``), the chunk size every key
    of the stream has, and each end's state (``open`` while its device pushes, ``closed`` after its CLOSE,
    ``waiting`` until it opens)."""

    __tablename__ = "device_streams"
    ksid: Mapped[str] = mapped_column(String(36), primary_key=True)
    link: Mapped[str] = mapped_column(String(100))
    kme_a: Mapped[str] = mapped_column(String(100))
    kme_b: Mapped[str] = mapped_column(String(100))
    end_a: Mapped[str] = mapped_column(String(8))
    end_b: Mapped[str] = mapped_column(String(8))
    chunk_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)


class DeviceKeyRecord(Base):
    """One half of a device stream's key: what the device at ``kme_id``'s end pushed for an index. ``pending``
    (its material kept, sealed) until the other half comes; then ``pooled`` (the key went into the link's
    pool), ``discarded`` (the pool was full), ``mismatched`` (the halves differed) or ``expired`` (one KME per
    process: no agreement within :attr:`~qinternet.kms.relay.RelaySettings.pending_expiry_s`): material
    erased, the digest kept so that the index is never taken again."""

    __tablename__ = "device_keys"
    ksid: Mapped[str] = mapped_column(String(36), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kme_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    digest: Mapped[bytes] = mapped_column(LargeBinary)
    material: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    resend_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    """When the sweep sends a pending half's digest again (revision 0008; None: one second after created_at)."""
    __table_args__ = (Index("ix_device_keys_state", "kme_id", "state"),)


class LinkKeyRecord(Base):
    """A key of a QKD link that both its KMEs agreed on, at one of them (revision 0007; one KME per process:
    :mod:`.relay`): by stream and index, the peer KME at the link's other end, the KME that may send with it
    (the link's two directions never share a key), ``ready`` until a relay uses it (``used``, material
    erased)."""

    __tablename__ = "link_keys"
    ksid: Mapped[str] = mapped_column(String(36), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kme_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    peer_kme: Mapped[str] = mapped_column(String(100))
    sender: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(8))
    size_bytes: Mapped[int] = mapped_column(Integer)
    material: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_link_keys_ready", "kme_id", "peer_kme", "sender", "state", "created_at"),)


class RelayRecord(Base):
    """One KME's part in a key relay between KME processes (revision 0007; :mod:`.relay`): its role
    (``master``, ``middle``, ``slave``), its state, the path (JSON), the digest of the message that reached
    it (a repeat must be the same message), the message it sent on (JSON; sent again on a repeat), the SAEs,
    the key IDs (JSON) and, at the master until it answers, the keys (sealed). ``role`` is 12 characters
    wide since revision 0008 (``tombstone``: a void of a relay that never reached this KME)."""

    __tablename__ = "relays"
    relay_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kme_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(12))
    path: Mapped[str] = mapped_column(String(4000))
    digest: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    outgoing: Mapped[str | None] = mapped_column(Text, nullable=True)
    master_sae: Mapped[str] = mapped_column(String(100))
    slave_sae: Mapped[str] = mapped_column(String(100))
    key_ids: Mapped[str] = mapped_column(Text)
    material: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_relays_state", "kme_id", "role", "state"),)


@dataclass(frozen=True, slots=True)
class DeliveredKey:
    """A key handed to an SAE: its ID and material (never logged, never in a repr)."""

    key_id: str
    material: bytes
    again: bool = False
    """Fetched before by the same slave SAE, handed out again within the redelivery window
    (:meth:`KeyStore.deliver`): not a second delivery."""

    def __repr__(self) -> str:
        return f"DeliveredKey(key_id={self.key_id!r}, bytes={len(self.material)}, again={self.again})"


Route = Sequence[str] | Callable[[PoolLevel], Sequence[str] | None]
"""The KMEs a key passes from the master's to a slave's, or a function choosing them from the pool levels
now (None: no path with key)."""

LedgerRow = tuple[float, str, str, str | None, str | None, str | None, str | None, int]
"""A ledger event as written: at, kind, kme_id, peer_kme_id, key_id, master_sae_id, slave_sae_id, bits."""


@dataclass(slots=True)
class Writes:
    """Rows a request inserts only at the end of its transaction, so that a batch of requests inserts
    them in one ``executemany`` per table (:meth:`KeyStore.write`): reserved keys and ledger events.
    Nothing reads them before the commit (a key reaches its master only after it). Also the bytes it
    took from each pool, which the store's levels count once the transaction is committed
    (:meth:`KeyStore.settle`), and which the routing of the transaction's later requests sees at once.

    Attributes:
        reserved, ledger: the rows.
        taken: bytes taken from each pool (by :func:`pool_name`).
        added: bytes added to each pool (:meth:`KeyStore.add_in`: key that QKD devices pushed).
        earlier: the writes of the requests before this one in the same transaction, if any.
    """

    reserved: list[tuple[Any, ...]] = field(default_factory=list)
    ledger: list[LedgerRow] = field(default_factory=list)
    taken: dict[tuple[str, str], int] = field(default_factory=dict)
    added: dict[tuple[str, str], int] = field(default_factory=dict)
    earlier: Writes | None = None

    def extend(self, other: Writes) -> None:
        """Add another request's rows, takes and additions."""
        self.reserved += other.reserved
        self.ledger += other.ledger
        for mine, theirs in ((self.taken, other.taken), (self.added, other.added)):
            for pool, nbytes in theirs.items():
                mine[pool] = mine.get(pool, 0) + nbytes

    def pending(self, pool: tuple[str, str]) -> int:
        """Bytes taken from ``pool`` and not yet committed: by this request and the earlier ones."""
        earlier = 0 if self.earlier is None else self.earlier.pending(pool)
        return self.taken.get(pool, 0) + earlier


_RESERVED = KeyState.RESERVED.name  # how the Enum column stores a state (by name)
_DELIVERED = KeyState.DELIVERED.name
_EXPIRED = KeyState.EXPIRED.name
_REDELIVERABLE = KeyState.REDELIVERABLE.name
_EXPIRE_BATCH = 10_000
"""Most keys voided in one transaction (the writer's batches wait for it on SQLite)."""


class _Statements:
    """The hot path's SQL (tables of the models above), in the driver's parameter style."""

    def __init__(self, engine: Engine) -> None:
        self._mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        lock = "" if engine.dialect.name == "sqlite" else " FOR UPDATE"
        self.take = self.style(
            "SELECT id, size_bytes, used_bytes, nonce, substr(material, 1, ?) FROM pool_blocks"
            f" WHERE kme_low = ? AND kme_high = ? AND used_bytes < size_bytes ORDER BY id LIMIT 1{lock}"
        )
        # The taken bytes leave the row at once: ``material`` holds only the unused tail, from ``used_bytes``.
        self.use_block = self.style(
            "UPDATE pool_blocks SET used_bytes = ?, material = substr(material, ?) WHERE id = ?"
        )
        self.drop_block = self.style("DELETE FROM pool_blocks WHERE id = ?")
        self.add_block = self.style(
            "INSERT INTO pool_blocks (kme_low, kme_high, size_bytes, used_bytes, nonce, material, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        self.held = self.style(
            "SELECT COALESCE(SUM(size_bytes - used_bytes), 0) FROM pool_blocks WHERE kme_low = ? AND kme_high = ?"
        )
        self.reserve = self.style(
            "INSERT INTO keys (kme_id, key_id, slave_sae_id, master_sae_id, size_bits, state, material, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self.hand_out = self.style(
            "UPDATE keys SET state = ?, material = NULL, delivered_at = ?"
            " WHERE kme_id = ? AND key_id = ? AND slave_sae_id = ? AND state = ?"
        )
        self.hand_out_held = self.style(
            "UPDATE keys SET state = ?, delivered_at = ?"
            " WHERE kme_id = ? AND key_id = ? AND slave_sae_id = ? AND state = ?"
        )
        """A delivery within a redelivery window: delivered, the material kept (sealed) for the same SAE."""
        self.ledger = self.style(
            "INSERT INTO ledger (at, kind, kme_id, peer_kme_id, key_id, master_sae_id, slave_sae_id, bits)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._find = self.style(
            "SELECT key_id, material, size_bits FROM keys WHERE kme_id = ? AND slave_sae_id = ?"
            " AND master_sae_id = ? AND state = ? AND created_at >= ? AND key_id IN ({})"
        )
        self._find_again = self.style(
            "SELECT key_id, material, size_bits, state FROM keys WHERE kme_id = ? AND slave_sae_id = ?"
            " AND master_sae_id = ? AND ((state = ? AND created_at >= ?) OR (state = ? AND delivered_at >= ?))"
            " AND key_id IN ({})"
        )
        self.held_past = self.style(
            "SELECT kme_id, key_id, slave_sae_id FROM keys"
            " WHERE state = ? AND created_at < ? AND delivered_at < ? ORDER BY created_at LIMIT ?"
        )
        self.stale = self.style(
            "SELECT kme_id, key_id, slave_sae_id, master_sae_id, size_bits FROM keys"
            " WHERE state = ? AND created_at < ? ORDER BY created_at LIMIT ?"
        )
        self.void = self.style(
            "UPDATE keys SET state = ?, material = NULL WHERE kme_id = ? AND key_id = ? AND slave_sae_id = ?"
            " AND state = ?"
        )
        self._owners = self.style("SELECT key_id, slave_sae_id FROM keys WHERE kme_id = ? AND key_id IN ({})")
        # PostgreSQL only: in one statement (one round trip) what take, drop_block and use_block do in two.
        self.postgres = engine.dialect.name == "postgresql"
        self.take_now = self.style(
            "WITH b AS (SELECT id, size_bytes, used_bytes, nonce, material FROM pool_blocks"
            " WHERE kme_low = ? AND kme_high = ? AND used_bytes < size_bytes ORDER BY id LIMIT 1 FOR UPDATE),"
            " n AS (SELECT LEAST(?, size_bytes - used_bytes) AS k FROM b),"
            " d AS (DELETE FROM pool_blocks p USING b, n WHERE p.id = b.id AND n.k = b.size_bytes - b.used_bytes),"
            " u AS (UPDATE pool_blocks p SET used_bytes = b.used_bytes + n.k, material = substr(b.material, n.k + 1)"
            " FROM b, n WHERE p.id = b.id AND n.k < b.size_bytes - b.used_bytes)"
            " SELECT b.id, b.size_bytes, b.used_bytes, b.nonce, substr(b.material, 1, n.k) FROM b, n"
        )
        """Take up to ``need`` bytes from the oldest block of a pool with some left: as :attr:`take`, then
        :attr:`drop_block` or :attr:`use_block`, in one statement."""

    def style(self, statement: str) -> str:
        """``statement`` with the driver's placeholders for ``?``."""
        return statement.replace("?", self._mark)

    def find(self, n: int) -> str:
        """The reserved keys of a slave and master among ``n`` key IDs."""
        return self._find.format(", ".join([self._mark] * n))

    def find_again(self, n: int) -> str:
        """As :meth:`find`, also the keys delivered to that slave whose redelivery window is still open."""
        return self._find_again.format(", ".join([self._mark] * n))

    def owners(self, n: int) -> str:
        """The slave SAEs ``n`` key IDs are reserved for at a KME."""
        return self._owners.format(", ".join([self._mark] * n))


def _sqlite_pragmas(engine: Engine, *, writes: bool = True) -> None:
    """WAL, full durability, a busy timeout, zeroed free pages; writers begin with ``BEGIN IMMEDIATE``
    (taking the write lock at once), readers with a plain ``BEGIN`` (a snapshot, never waiting on it)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")  # freed pages (delivered keys, used pool bytes) are zeroed
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def _create_private_sqlite_file(url: str) -> None:
    """Create a new SQLite store readable by its owner only (0600), as the PKI's private keys are: it
    holds key material. SQLite gives the write-ahead log and its index the database file's mode."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return
    with suppress(OSError):  # one already there is kept as it is; a missing or unwritable folder: SQLite says so
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


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
        _create_private_sqlite_file(url)
        self.engine = create_engine(url, future=True)
        self._sqlite = self.engine.dialect.name == "sqlite"
        if self._sqlite:
            _sqlite_pragmas(self.engine)
        if migrate:
            from qinternet.kms.migrate import upgrade  # alembic imports this module's Base

            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = self.engine
        if self._sqlite:
            self._reader = create_engine(url, future=True)
            _sqlite_pragmas(self._reader, writes=False)
        self._reads = sessionmaker(self._reader, expire_on_commit=False)
        self._sql = _Statements(self.engine)
        self._dbapi_error: type[Exception] = self.engine.dialect.dbapi.Error  # type: ignore[union-attr]
        self._writer: KeyStoreWriter | None = None
        self._writer_lock = threading.Lock()
        self._levels_lock = threading.Lock()
        try:
            self._check_master_key()
            self._levels = self._read_levels()
        except BaseException:
            self.engine.dispose()
            if self._reader is not self.engine:
                self._reader.dispose()
            raise

    def _check_master_key(self) -> None:
        """Refuse a master key that does not fit the material already stored, then record this one.

        A store that holds key material keeps the sealing it was written with: sealed material read
        without its key would go out as if it were the key, and plain material is not sealed afterwards.
        An empty store takes whatever it is given. A store from before revision 0003 has no record: see
        :meth:`_legacy_sealing`; its first open with the right key records the key's check value.
        """
        with self._transaction() as session:
            meta = {row.name: row.value for row in session.scalars(select(StoreMeta))}
            holds_key = (
                session.scalar(select(PoolBlock.id).limit(1)) is not None
                or session.scalar(select(KeyRecord.key_id).where(KeyRecord.material.is_not(None)).limit(1)) is not None
            )
            sealing, sealed_key = meta.get("sealing"), None
            if sealing is None and holds_key:
                sealing, sealed_key = self._legacy_sealing(session)
            if holds_key:
                if sealing == b"aes-256" and self._master_key is None:
                    raise MasterKeyError(
                        "the key store's material is encrypted at rest: give the master key it was made with"
                    )
                if sealing == b"none" and self._master_key is not None:
                    raise MasterKeyError(
                        "the key store holds its material in the clear: open it without a master key "
                        "(an existing store is not encrypted afterwards), or use a new database"
                    )
                if self._master_key is not None and not self._opens(meta.get("check"), sealed_key):
                    raise MasterKeyError("the master key is not the one the key store's material is encrypted under")
                if "check" in meta:
                    return
            wanted = {"sealing": b"none" if self._master_key is None else b"aes-256"}
            if self._master_key is not None:
                nonce = os.urandom(_GCM_NONCE_BYTES)
                wanted["check"] = nonce + AESGCM(self._master_key).encrypt(nonce, _CHECK_CONTEXT, None)
            elif "check" in meta:
                session.execute(delete(StoreMeta).where(StoreMeta.name == "check"))
            if meta.get("sealing") != wanted["sealing"] or "check" in wanted:
                for name, value in wanted.items():
                    session.merge(StoreMeta(name=name, value=value))

    @staticmethod
    def _legacy_sealing(session: Session) -> tuple[bytes, tuple[tuple[str, str, str, str], bytes] | None]:
        """The sealing of a store from before revision 0003, from its rows: sealed if a pool block has a
        nonce or a reserved key is longer than its size by a GCM nonce and tag. Also such a sealed key
        (its row and stored bytes), with which the master key given can be tried."""
        sealed_block = session.scalar(select(PoolBlock.id).where(PoolBlock.nonce.is_not(None)).limit(1))
        key = session.execute(
            select(
                KeyRecord.kme_id,
                KeyRecord.key_id,
                KeyRecord.slave_sae_id,
                KeyRecord.master_sae_id,
                KeyRecord.size_bits,
                KeyRecord.material,
            )
            .where(KeyRecord.material.is_not(None))
            .limit(1)
        ).first()
        sealed_key = None
        if key is not None and len(key.material) == key.size_bits // 8 + _GCM_NONCE_BYTES + _GCM_TAG_BYTES:
            sealed_key = ((key.kme_id, key.key_id, key.slave_sae_id, key.master_sae_id), bytes(key.material))
        sealing = b"aes-256" if sealed_block is not None or sealed_key is not None else b"none"
        return sealing, sealed_key

    def _opens(self, check: bytes | None, sealed_key: tuple[tuple[str, str, str, str], bytes] | None) -> bool:
        """Whether the master key opens the recorded check value, else a sealed key of the store. A store
        from before 0003 with pool blocks only cannot tell (CTR has no tag): the key is taken on trust."""
        try:
            if check is not None:
                AESGCM(self._master_key or b"").decrypt(check[:_GCM_NONCE_BYTES], check[_GCM_NONCE_BYTES:], None)
            elif sealed_key is not None:
                self._open(*sealed_key)
        except InvalidTag:
            return False
        return True

    def writer(self) -> KeyStoreWriter:
        """The store's group-commit writer (:mod:`.writer`): one per store, made at first use, closed by ``close``."""
        with self._writer_lock:
            if self._writer is None:
                from qinternet.kms.writer import KeyStoreWriter  # it imports this module

                self._writer = KeyStoreWriter(self)
            return self._writer

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log into the database and empty it, so that old page images (key
        since taken or delivered, zeroed in the database by ``secure_delete``) do not linger in the log."""
        if self._sqlite:
            connection = self.engine.raw_connection()  # outside any transaction (autocommit)
            try:
                cursor = connection.cursor()
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                connection.close()

    def close(self) -> None:
        """Stop the writer (after its queued requests) and release the database connections."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        self.engine.dispose()
        if self._reader is not self.engine:
            self._reader.dispose()

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

    @staticmethod
    def _bound_to(kme_id: str, key_id: str, slave_sae: str, master_sae: str) -> bytes:
        """What a reserved key's encryption is bound to: a row moved to another KME, key ID or SAE fails."""
        return "\x1f".join((kme_id, key_id, slave_sae, master_sae)).encode()

    def _seal(self, row: tuple[str, str, str, str], material: bytes) -> bytes:
        if self._master_key is None:
            return material
        nonce = os.urandom(_GCM_NONCE_BYTES)
        return nonce + AESGCM(self._master_key).encrypt(nonce, material, self._bound_to(*row))

    def _open(self, row: tuple[str, str, str, str], stored: bytes) -> bytes:
        if self._master_key is None:
            return stored
        nonce, sealed = stored[:_GCM_NONCE_BYTES], stored[_GCM_NONCE_BYTES:]
        return AESGCM(self._master_key).decrypt(nonce, sealed, self._bound_to(*row))

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
        materialise what could not fit anyway. In a transaction of its own (:meth:`add_in` for a caller's).
        """
        return self._atomic(
            lambda cursor, writes: self.add_in(
                cursor, kme_a, kme_b, material, writes, capacity_bytes=capacity_bytes, offered_bytes=offered_bytes
            )
        )

    def add_in(
        self,
        cursor: Any,
        kme_a: str,
        kme_b: str,
        material: bytes,
        writes: Writes,
        *,
        capacity_bytes: int | None = None,
        offered_bytes: int | None = None,
        whole: bool = False,
    ) -> int:
        """:meth:`add_key` inside the caller's transaction on ``cursor``: the pool blocks are inserted, the
        ledger events added to ``writes``, and the bytes kept counted in the levels once it is committed
        (:meth:`settle`). With ``whole``, ``material`` is kept whole or not at all (a key of a QKD device's
        stream). Returns the bytes kept."""
        low, high = pool_name(kme_a, kme_b)
        now = time.time()
        offered = len(material) if offered_bytes is None else max(offered_bytes, len(material))
        kept = len(material)
        if capacity_bytes is not None:
            cursor.execute(self._sql.held, (low, high))  # the transaction's own blocks included
            row = cursor.fetchone()
            held = int(row[0] or 0) if row is not None else 0
            kept = max(0, min(kept, capacity_bytes - held))
            if whole and kept < len(material):
                kept = 0
        if kept < offered:
            writes.ledger.append((now, "discarded", low, high, None, None, None, 8 * (offered - kept)))
        for start in range(0, kept, _BLOCK_BYTES):  # small blocks: a partly used one is rewritten cheaply
            data = material[start : min(kept, start + _BLOCK_BYTES)]
            nonce = os.urandom(_NONCE_BYTES) if self._master_key is not None else None
            stored = self._ctr(nonce, 0, data) if nonce is not None else data
            cursor.execute(self._sql.add_block, (low, high, len(data), 0, nonce, stored, now))
        if kept:
            writes.ledger.append((now, "generated", low, high, None, None, None, 8 * kept))
            writes.added[low, high] = writes.added.get((low, high), 0) + kept
        return kept

    def _read_levels(self) -> dict[tuple[str, str], int]:
        """Bytes in every pool, in one query (at open: afterwards this process keeps them, :meth:`pool_level`)."""
        held = PoolBlock.size_bytes - PoolBlock.used_bytes
        query = select(PoolBlock.kme_low, PoolBlock.kme_high, func.sum(held)).group_by(
            PoolBlock.kme_low, PoolBlock.kme_high
        )
        with self._reads() as session:
            return {(low, high): int(total) for low, high, total in session.execute(query)}

    def pool_level(self, kme_a: str, kme_b: str) -> int:
        """Bytes of key the link between two KMEs holds, as this process knows them: read at open, then
        counted at every commit of its own (:meth:`add_key`, :meth:`issue`, the writer's batches), in memory,
        so that routing can read every pool on every request. A process that shares the database with
        other writers sees their changes in :meth:`pool_bytes` (and in the takes) only.
        """
        return self._levels.get(pool_name(kme_a, kme_b), 0)

    def settle(self, writes: Writes) -> None:
        """Count the takes and additions of a committed transaction in the pool levels (:meth:`pool_level`)."""
        if writes.taken or writes.added:
            with self._levels_lock:
                for pool, nbytes in writes.taken.items():
                    self._levels[pool] = self._levels.get(pool, 0) - nbytes
                for pool, nbytes in writes.added.items():
                    self._levels[pool] = self._levels.get(pool, 0) + nbytes

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
        with self._reads() as session:
            return self._pool_bytes(session, *pool_name(kme_a, kme_b))

    # -- the hot path: plain SQL on one DBAPI cursor ---------------------------------------------------

    def begin(self, cursor: Any) -> None:
        """Open a write transaction on a cursor of :meth:`raw_connection` (SQLite: ``BEGIN IMMEDIATE``).

        PostgreSQL's driver opens one by itself at the first statement; commit or roll back on the connection.
        """
        if self._sqlite:
            cursor.execute("BEGIN IMMEDIATE")

    def raw_connection(self) -> Any:
        """A DBAPI connection of the engine's pool (its pragmas applied); ``close()`` gives it back."""
        return self.engine.raw_connection()

    def database_error(self, exc: Exception) -> Exception:
        """The SQLAlchemy error for an error of the database driver (other exceptions as they are)."""
        if isinstance(exc, self._dbapi_error):
            return DBAPIError.instance(None, None, exc, self._dbapi_error)
        return exc

    def _take(self, cursor: Any, kme_a: str, kme_b: str, nbytes: int) -> bytes:
        """Remove the oldest ``nbytes`` of a pool, or raise :class:`NotEnoughKeyError` (the caller rolls back).

        Reads one block at a time, the oldest with unused bytes, and of it only its counters and the bytes
        it gives (never the other blocks' material). PostgreSQL locks that row alone (``FOR UPDATE``); a
        block another transaction emptied or removed while we waited for the lock is skipped by the
        server, and a pool that then looks empty is read once more with a fresh snapshot, to see blocks
        committed meanwhile.
        """
        low, high = pool_name(kme_a, kme_b)
        parts: list[bytes] = []
        need = nbytes
        looked_again = self._sqlite
        sql = self._sql
        while need:
            if sql.postgres:
                cursor.execute(sql.take_now, (low, high, need))
            else:
                cursor.execute(sql.take, (need, low, high))
            row = cursor.fetchone()
            if row is None:
                if not looked_again:
                    looked_again = True
                    continue
                raise NotEnoughKeyError(f"the link {low}-{high} holds {nbytes - need} of the {nbytes} bytes needed")
            block_id, size, start, nonce, chunk = row
            chunk = bytes(chunk)
            parts.append(self._ctr(bytes(nonce), start, chunk) if nonce is not None else chunk)
            if sql.postgres:
                pass  # the statement took them
            elif start + len(chunk) == size:
                cursor.execute(sql.drop_block, (block_id,))
            else:
                cursor.execute(sql.use_block, (start + len(chunk), len(chunk) + 1, block_id))
            need -= len(chunk)
        return b"".join(parts)

    def _atomic(self, work: Callable[[Any, Writes], _T]) -> _T:
        """``work(cursor, writes)`` in a transaction of its own with its :class:`Writes`, committed when it
        returns, rolled back if it raises."""
        connection = self.raw_connection()
        try:
            cursor = connection.cursor()
            self.begin(cursor)
            try:
                writes = Writes()
                result = work(cursor, writes)
                self.write(cursor, writes)
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
            self.settle(writes)
            return result
        except self._dbapi_error as exc:
            raise self.database_error(exc) from exc
        finally:
            connection.close()

    def write(self, cursor: Any, writes: Writes) -> None:
        """Insert the rows of :class:`Writes` in the caller's transaction, one ``executemany`` per table
        (pipelined by PostgreSQL's driver: a round trip for a whole batch rather than one per row)."""
        if writes.reserved:
            cursor.executemany(self._sql.reserve, writes.reserved)
        if writes.ledger:
            cursor.executemany(self._sql.ledger, writes.ledger)

    def levels_seen(self, writes: Writes) -> PoolLevel:
        """The pools' levels as a transaction sees them: committed, less what ``writes`` (and the requests
        before it in the same transaction) took so far."""

        def level(kme_a: str, kme_b: str) -> int:
            pool = pool_name(kme_a, kme_b)
            return self._levels.get(pool, 0) - writes.pending(pool)

        return level

    def relay_take(
        self,
        cursor: Any,
        path: Sequence[str],
        nbytes: int,
        writes: Writes,
        *,
        material: bytes | None = None,
        relayed: tuple[float, str, str, str],
    ) -> bytes:
        """Take what relaying a key of ``nbytes`` over ``path`` costs every hop, in the caller's transaction.

        Trusted-node relay under one-time pads (:func:`qinternet.network.routing.relay_cost`): the first hop's
        key is the end-to-end key (unless ``material`` is given: another path of the same key, a multicast),
        every later hop carries it XOR its own key, which costs the hop as many bytes and is recorded as a
        ``relayed`` ledger event (``relayed``: at, key ID, master and slave SAE). A path of one KME (both SAEs
        at one KME) takes nothing and gives fresh randomness. The takes are added to ``writes``.

        Raises:
            NotEnoughKeyError: a hop is short (the caller rolls back).
        """
        at, key_id, master_sae, slave_sae = relayed
        for (a, b), cost in relay_cost(itertools.pairwise(path), nbytes):
            hop_key = self._take(cursor, a, b, cost)
            pool = pool_name(a, b)
            writes.taken[pool] = writes.taken.get(pool, 0) + cost
            if material is None:
                material = hop_key  # the first hop's key is the end-to-end key
            else:  # the hop carries key XOR pad and the next node decrypts: it costs the hop nbytes
                writes.ledger.append((at, "relayed", a, b, key_id, master_sae, slave_sae, 8 * nbytes))
        return os.urandom(nbytes) if material is None else material  # one KME: fresh randomness

    def seal(self, row: tuple[str, str, str, str], material: bytes) -> bytes:
        """``material`` as stored at rest: AES-256-GCM under the master key bound to ``row`` (the
        identifying columns of its row), or as it is without a master key."""
        return self._seal(row, material)

    def unseal(self, row: tuple[str, str, str, str], stored: bytes) -> bytes:
        """The material :meth:`seal` stored for ``row``."""
        return self._open(row, stored)

    def sql(self, statement: str, *, lock: bool = False) -> str:
        """``statement`` (with ``?`` placeholders) in the database driver's parameter style; with ``lock``, a
        ``SELECT`` that locks the rows it reads until the transaction ends (PostgreSQL's ``FOR UPDATE``;
        SQLite's writers hold the whole database already)."""
        return self._sql.style(statement) + (" FOR UPDATE" if lock and not self._sqlite else "")

    # -- keys --------------------------------------------------------------------------------------------

    def issue(
        self,
        *,
        master_kme: str,
        master_sae: str,
        slaves: Sequence[tuple[str, Route]],
        number: int,
        size_bits: int,
    ) -> list[DeliveredKey]:
        """Make ``number`` keys of ``size_bits`` for the master SAE and reserve them for every slave.

        In a transaction of its own; :class:`~qinternet.kms.writer.KeyStoreWriter` runs the same
        (:meth:`issue_in`) in its batches.

        Args:
            master_kme: the KME the master SAE called.
            master_sae: the calling SAE.
            slaves: per slave SAE, ``(sae_id, route)``: the KMEs from the master's to the slave's
                (``[master_kme]`` alone when both SAEs are attached to the same KME), or a function that
                chooses them, for every key, from the pools' levels as this transaction sees them
                (:data:`Route`; the KMEs' API gives :meth:`KmsTopology.widest_path
                <qinternet.kms.topology.KmsTopology.widest_path>`).
            number, size_bits: how many keys and how long (a multiple of 8).

        Raises:
            NotEnoughKeyError: some pool on some path is short, or no path has key (nothing is taken).
        """
        return self._atomic(
            lambda cursor, writes: self.issue_in(
                cursor,
                master_kme=master_kme,
                master_sae=master_sae,
                slaves=slaves,
                number=number,
                size_bits=size_bits,
                writes=writes,
            )
        )

    def issue_in(
        self,
        cursor: Any,
        *,
        master_kme: str,
        master_sae: str,
        slaves: Sequence[tuple[str, Route]],
        number: int,
        size_bits: int,
        writes: Writes,
    ) -> list[DeliveredKey]:
        """:meth:`issue` inside the caller's transaction on ``cursor``; the keys may go out after its commit.

        Its reserved keys, ledger events and takes are added to ``writes``, for the caller to insert
        (:meth:`write`) in the same transaction if the request stands, and to :meth:`settle` after the
        commit. A route chosen by a function sees the committed pool levels less what this transaction
        took so far (``writes`` and its ``earlier``), so it is the path with the most key at the take.
        """
        if size_bits % 8 or size_bits <= 0 or number <= 0:
            raise ValueError("size_bits must be a positive multiple of 8 and number positive")
        nbytes = size_bits // 8
        now = time.time()
        keys: list[DeliveredKey] = []

        level = self.levels_seen(writes)
        for _ in range(number):
            key_id = str(uuid.uuid4())
            material: bytes | None = None
            for slave_sae, route in slaves:
                path = route(level) if callable(route) else route
                if path is None:
                    raise NotEnoughKeyError(f"no path from {master_kme} to {slave_sae}'s KME holds key on every hop")
                material = self.relay_take(
                    cursor, path, nbytes, writes, material=material, relayed=(now, key_id, master_sae, slave_sae)
                )
                slave_kme = path[-1]
                writes.reserved.append(
                    (
                        slave_kme,
                        key_id,
                        slave_sae,
                        master_sae,
                        size_bits,
                        _RESERVED,
                        self._seal((slave_kme, key_id, slave_sae, master_sae), material),
                        now,
                    ),
                )
            assert material is not None
            writes.ledger.append((now, "issued", master_kme, None, key_id, master_sae, None, size_bits))
            keys.append(DeliveredKey(key_id=key_id, material=material))
        return keys

    def deliver(
        self,
        *,
        kme_id: str,
        slave_sae: str,
        master_sae: str,
        key_ids: Sequence[str],
        ttl_s: float | None = None,
        redelivery_window_s: float = 0.0,
    ) -> list[DeliveredKey]:
        """Hand the reserved keys ``key_ids`` to the slave SAE at its KME, once; erase them there.

        In a transaction of its own (:meth:`deliver_in` for the writer's batches). With ``ttl_s``, a key
        reserved longer ago than that is not available any more (:meth:`expire_reserved` voids it).

        With ``redelivery_window_s`` > 0 (the KMEs' default: 60 s; 0 is ETSI GS QKD 014's strict once-only),
        a delivered key keeps its material (sealed as a reserved key's) and turns ``redeliverable``: the same
        slave SAE, for the same master SAE, may fetch it again, with the same value, until that many seconds
        after its first delivery; a fetch again changes nothing in the store and writes no ledger event
        (its :class:`DeliveredKey` says ``again``). :meth:`erase_delivered` erases it once the window ends.
        ETSI GS QKD 014 has no acknowledgement from the slave: without the window, a KME that dies between
        the commit and its answer would lose the key (the master holds it, the slave never can).

        Raises:
            KeyNotAvailableError: naming the IDs not reserved for this slave and master (nothing is
                delivered), and whether some of them are reserved at this KME for other slaves only.
        """
        return self._atomic(
            lambda cursor, writes: self.deliver_in(
                cursor,
                kme_id=kme_id,
                slave_sae=slave_sae,
                master_sae=master_sae,
                key_ids=key_ids,
                writes=writes,
                ttl_s=ttl_s,
                redelivery_window_s=redelivery_window_s,
            )
        )

    def deliver_in(
        self,
        cursor: Any,
        *,
        kme_id: str,
        slave_sae: str,
        master_sae: str,
        key_ids: Sequence[str],
        writes: Writes,
        ttl_s: float | None = None,
        redelivery_window_s: float = 0.0,
    ) -> list[DeliveredKey]:
        """:meth:`deliver` inside the caller's transaction on ``cursor``; the keys may go out after its commit.
        Its ledger events are added to ``writes`` (as :meth:`issue_in`)."""
        now = time.time()
        wanted = list(dict.fromkeys(key_ids))
        sql = self._sql
        since = 0.0 if ttl_s is None else now - ttl_s
        if redelivery_window_s > 0:
            held_since = now - redelivery_window_s
            cursor.execute(
                sql.find_again(len(wanted)),
                (kme_id, slave_sae, master_sae, _RESERVED, since, _REDELIVERABLE, held_since, *wanted),
            )
            found = {k: (bytes(material), bits, state) for k, material, bits, state in cursor.fetchall()}
        else:
            cursor.execute(sql.find(len(wanted)), (kme_id, slave_sae, master_sae, _RESERVED, since, *wanted))
            found = {k: (bytes(material), bits, _RESERVED) for k, material, bits in cursor.fetchall()}
        missing = [k for k in wanted if k not in found]
        if missing:
            cursor.execute(sql.owners(len(missing)), (kme_id, *missing))
            owners = cursor.fetchall()
            mine = {key_id for key_id, sae in owners if sae == slave_sae}
            raise KeyNotAvailableError(missing, reserved_for_others=any(k not in mine for k, _ in owners))
        delivered = []
        for key_id in wanted:
            material, bits, state = found[key_id]
            row = (kme_id, key_id, slave_sae, master_sae)
            again = state == _REDELIVERABLE
            delivered.append(DeliveredKey(key_id=key_id, material=self._open(row, material), again=again))
            if again:  # delivered already: nothing changes, nothing is counted twice
                continue
            if redelivery_window_s > 0:
                cursor.execute(sql.hand_out_held, (_REDELIVERABLE, now, kme_id, key_id, slave_sae, _RESERVED))
            else:
                cursor.execute(sql.hand_out, (_DELIVERED, now, kme_id, key_id, slave_sae, _RESERVED))
            if cursor.rowcount != 1:  # another transaction got there first
                raise KeyNotAvailableError([key_id])
            writes.ledger.append((now, "delivered", kme_id, None, key_id, master_sae, slave_sae, bits))
        return delivered

    def erase_delivered(self, redelivery_window_s: float) -> int:
        """Erase the material of every key delivered more than ``redelivery_window_s`` ago and still held for
        its slave SAE to fetch again (:meth:`deliver`): ``redeliverable`` turns ``delivered``, its material
        erased (zeroed on disk: SQLite's ``secure_delete``). Returns how many. 0 erases every key held (a KME
        started again with the window off). No ledger event: the delivery was counted once, at the first.

        In transactions of at most :data:`_EXPIRE_BATCH` keys, as :meth:`expire_reserved`; a crash leaves
        the rest for the next call, and a fetch again after the window is refused meanwhile anyway.
        """
        cutoff = time.time() - redelivery_window_s
        total = 0
        while True:
            erased = self._atomic(lambda cursor, _writes: self._erase_in(cursor, cutoff))
            total += erased
            if erased < _EXPIRE_BATCH:
                return total

    def _erase_in(self, cursor: Any, cutoff: float) -> int:
        sql = self._sql
        cursor.execute(sql.held_past, (_REDELIVERABLE, cutoff, cutoff, _EXPIRE_BATCH))
        rows = cursor.fetchall()
        for kme_id, key_id, slave_sae in rows:
            cursor.execute(sql.void, (_DELIVERED, kme_id, key_id, slave_sae, _REDELIVERABLE))
        return len(rows)

    def expire_reserved(self, ttl_s: float) -> int:
        """Void every key reserved more than ``ttl_s`` ago and not delivered: ``expired``, its material
        erased, an ``expired`` ledger event; never back into a pool (its master may hold it). Returns how many.

        In transactions of at most :data:`_EXPIRE_BATCH` keys: a crash voids those committed, and the
        rest stay reserved until the next call (a key is voided at most once: the update is conditional
        on the state, as a delivery's is, so a key delivered meanwhile stays delivered).
        """
        cutoff = time.time() - ttl_s
        total = 0
        while True:
            voided = self._atomic(lambda cursor, writes: self._expire_in(cursor, cutoff, writes))
            total += voided
            if voided < _EXPIRE_BATCH:
                return total

    def _expire_in(self, cursor: Any, cutoff: float, writes: Writes) -> int:
        now = time.time()
        sql = self._sql
        cursor.execute(sql.stale, (_RESERVED, cutoff, _EXPIRE_BATCH))
        rows = cursor.fetchall()
        for kme_id, key_id, slave_sae, master_sae, bits in rows:
            cursor.execute(sql.void, (_EXPIRED, kme_id, key_id, slave_sae, _RESERVED))
            if cursor.rowcount == 1:
                writes.ledger.append((now, "expired", kme_id, None, key_id, master_sae, slave_sae, bits))
        return len(rows)

    def reserved_for_others(self, kme_id: str, slave_sae: str, key_ids: Sequence[str]) -> bool:
        """Whether some of ``key_ids`` were issued at this KME to other slave SAEs only (ETSI 014: a 401)."""
        with self._reads() as session:
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
        with self._reads() as session:
            return int(session.scalar(query) or 0)

    def ledger(self) -> list[LedgerEvent]:
        """Every ledger event, oldest first."""
        with self._reads() as session:
            return list(session.scalars(select(LedgerEvent).order_by(LedgerEvent.id)))

    def ledger_since(self, after_id: int, *, limit: int = 10_000) -> list[LedgerEvent]:
        """The ledger events after the one with ID ``after_id``, oldest first, at most ``limit`` of them (a
        reader that follows the ledger asks again from the last ID it got)."""
        query = select(LedgerEvent).where(LedgerEvent.id > after_id).order_by(LedgerEvent.id).limit(limit)
        with self._reads() as session:
            return list(session.scalars(query))
