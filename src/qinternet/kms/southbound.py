"""Keys from QKD devices: the KME's southbound key streams, over the key store.

A QKD link is a pair of devices, one at each end, each beside the KME of its node. A device does not
serve its key: it *pushes* it to its own KME, as a key stream in the vocabulary of ETSI GS QKD 004 V2.1.1
(OPEN_CONNECT with a ``Key_stream_ID`` and a QoS whose ``Key_chunk_size`` every key of the stream has, keys
by index, CLOSE), the KME being the stream's consumer. The wire format is :mod:`.api_southbound`'s; this
module is what a KME does with what it receives, inside the key store's transactions (the group-commit
writer, :meth:`~qinternet.kms.writer.KeyStoreWriter.run`), so that a key acknowledged to a device is
committed:

- **OPEN_CONNECT** (:func:`open_in`): the first device of the link to open a ``Key_stream_ID`` creates the
  stream (for that link, with its chunk size); its partner joins it with the same ID and chunk size. A
  device may open its stream again at any time (after a restart): the answer says which index comes next
  at its end (one more than the highest it pushed; 0 for a new stream), so a restarted device continues
  where its KME's acknowledgements stopped.
- **Keys** (:func:`push_in`): each key carries its index and bytes. A key whose length is not the stream's
  chunk size, or whose index this end already pushed, is refused and changes nothing. Otherwise the KME
  keeps its *half* of the index: its digest (SHA-256 of the stream ID, the index and the key) and, until
  the partner's half comes, the key itself (sealed at rest with the store's master key). When both halves
  of an index are in and their digests agree, the key goes once into the pool of the link's two KMEs
  (``pooled``; ``discarded`` when the pool is full, as the in-process feeder discards, counted in the
  ledger); when they differ, both halves are voided (``mismatched``: material erased, the index spent)
  and the second push is refused.
- **CLOSE** (:func:`close_in`): the device says it stops; a half still waiting for its partner stays
  (it was acknowledged: a partner pushing that index later completes it).

How the halves meet. In a real deployment each device pushes only to its own KME, and the two KMEs agree
on keys by (``Key_stream_ID``, index), which the devices share from their protocol's synchronisation; the
KMEs confirm that they hold the same key by exchanging a digest per index over their authenticated
channel, never the key. The code keeps that shape: a KME writes only rows of its own ``kme_id`` and reads of
its partner's only the digest (:func:`_partner_half`), so that with one KME process per node that read
becomes a message from the partner KME. ``qinternet serve`` runs every KME on one store, whose pools
hold one copy of a link's key: the second half to arrive puts it there. With one KME per process
(``qinternet kme``, :mod:`.relay`), the partner's digest reaches a KME as a message and is kept there as the
partner's row (material never), so that the same code compares it; each KME then pools its own copy. With
16-byte chunks at least, the digest does not let anyone find the key by trying keys.

Every refusal and every voided index is logged by the caller (link, stream ID, index, why), never key
material; the ledger counts pooled key as ``generated``, a full pool as ``discarded`` and a mismatch as
``mismatched`` (bits).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qinternet.errors import QinternetError
from qinternet.kms.etsi004 import Status
from qinternet.kms.feeder import kme_id
from qinternet.kms.store import KeyStore, Writes
from qinternet.network.schema import Scenario

__all__ = [
    "MAX_CHUNK_BYTES",
    "MIN_CHUNK_BYTES",
    "DeviceEnd",
    "OpenAnswer",
    "PoolKey",
    "PushOutcome",
    "SouthboundError",
    "close_in",
    "device_ends",
    "device_id",
    "key_digest",
    "open_in",
    "push_in",
]

MIN_CHUNK_BYTES = 16
"""Shortest key of a device stream: 128 bits, so that its digest, which the KMEs compare, cannot be
inverted by trying every key."""
MAX_CHUNK_BYTES = 8192
"""Longest key of a device stream (ETSI GS QKD 014's keys are at most ``max_key_size`` bits; 64 kbit here)."""

_OPEN, _CLOSED, _WAITING = "open", "closed", "waiting"
_DOMAIN = b"qinternet southbound key digest v1\x00"


class PushOutcome(enum.Enum):
    """What became of one key a device pushed."""

    POOLED = "pooled"
    """Both halves came and agree: the key is in the link's pool."""
    PENDING = "pending"
    """Kept (committed) until the partner device's half of the index comes."""
    DISCARDED = "discarded"
    """Both halves agree and the link's pool was full: counted in the ledger as discarded."""
    WRONG_LENGTH = "wrong_length"
    """Refused: the key is not the stream's chunk size."""
    REPEATED_INDEX = "repeated_index"
    """Refused: this end already pushed the index (a replay, or a resend of an acknowledged key)."""
    MISMATCH = "mismatch"
    """Refused: the partner's half of the index differs; both halves are voided."""

    @property
    def refused(self) -> bool:
        """The key was refused (nothing of it is kept)."""
        return self in (PushOutcome.WRONG_LENGTH, PushOutcome.REPEATED_INDEX, PushOutcome.MISMATCH)


class SouthboundError(QinternetError):
    """A call the calling device cannot make: the ``Key_stream_ID`` is not a stream of its link, or not open
    at its end (nothing was changed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceEnd:
    """One end of a QKD link: the device there, and the KME it feeds.

    Attributes:
        device: the device's ID, its certificate's common name (:func:`device_id`).
        link: the link's ID in the scenario.
        end: ``a`` or ``b``, the link's end the device is at.
        kme_a, kme_b: the KMEs of the link's two ends.
    """

    device: str
    link: str
    end: str
    kme_a: str
    kme_b: str

    @property
    def kme(self) -> str:
        """The KME this device feeds."""
        return self.kme_a if self.end == "a" else self.kme_b

    @property
    def peer_kme(self) -> str:
        """The KME the partner device feeds."""
        return self.kme_b if self.end == "a" else self.kme_a


PoolKey = Callable[[Any, Writes, DeviceEnd, str, int, bytes], int]
"""Puts a key both halves agreed on into its link's pool in the caller's transaction: ``(cursor, writes, end,
ksid, index, key)`` -> bytes kept (0: the pool was full)."""


def device_id(link: str, node: str) -> str:
    """The ID (certificate common name) of the device of link ``link`` at node ``node``."""
    return f"dev-{link}-{node}"


def device_ends(scenario: Scenario) -> dict[str, DeviceEnd]:
    """Every device of the scenario's links, by ID: two per link, one at each end."""
    ends: dict[str, DeviceEnd] = {}
    for link in scenario.links:
        for end, node in (("a", link.a), ("b", link.b)):
            device = device_id(link.id, node)
            ends[device] = DeviceEnd(device=device, link=link.id, end=end, kme_a=kme_id(link.a), kme_b=kme_id(link.b))
    return ends


def key_digest(ksid: str, index: int, key: bytes) -> bytes:
    """What the two KMEs of a link compare for an index: SHA-256 of the stream ID, the index and the key."""
    return hashlib.sha256(_DOMAIN + ksid.encode() + b"\x00" + index.to_bytes(8, "big") + key).digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenAnswer:
    """What OPEN_CONNECT answers.

    Attributes:
        status: ``SUCCESSFUL`` (both devices opened it), ``PEER_NOT_CONNECTED`` (the partner has not yet),
            ``OC_KSID_ALREADY_IN_USE`` (the ID is another link's stream) or ``OC_QOS_NOT_SATISFIABLE`` (the
            stream has another chunk size, given in ``chunk_bytes``).
        chunk_bytes: the stream's chunk size.
        next_index: the index after the highest this end pushed (0: none yet).
        pending: keys of this end still waiting for the partner's half.
        reason: why, when the stream was not opened.
    """

    status: Status
    chunk_bytes: int
    next_index: int = 0
    pending: int = 0
    reason: str = ""


@dataclass(slots=True)
class _Stream:
    ksid: str
    link: str
    end_a: str
    end_b: str
    chunk_bytes: int

    def state(self, end: str) -> str:
        return self.end_a if end == "a" else self.end_b

    def set_state(self, end: str, state: str) -> None:
        if end == "a":
            self.end_a = state
        else:
            self.end_b = state


def _load(store: KeyStore, cursor: Any, ksid: str) -> _Stream | None:
    cursor.execute(
        store.sql("SELECT link, end_a, end_b, chunk_bytes FROM device_streams WHERE ksid = ?", lock=True), (ksid,)
    )
    row = cursor.fetchone()
    return None if row is None else _Stream(ksid, row[0], row[1], row[2], int(row[3]))


def _save_ends(store: KeyStore, cursor: Any, stream: _Stream) -> None:
    cursor.execute(
        store.sql("UPDATE device_streams SET end_a = ?, end_b = ? WHERE ksid = ?"),
        (stream.end_a, stream.end_b, stream.ksid),
    )


def _mine(store: KeyStore, cursor: Any, end: DeviceEnd, ksid: str) -> _Stream:
    """The stream, open at the caller's end, or :class:`SouthboundError`."""
    stream = _load(store, cursor, ksid)
    if stream is None or stream.link != end.link:
        raise SouthboundError(f"no device stream {ksid} of link {end.link}")
    if stream.state(end.end) != _OPEN:
        raise SouthboundError(f"the stream {ksid} is not open at {end.device}'s end: OPEN_CONNECT it first")
    return stream


def open_in(store: KeyStore, cursor: Any, writes: Writes, end: DeviceEnd, ksid: str, chunk_bytes: int) -> OpenAnswer:
    """OPEN_CONNECT of the device ``end`` for the stream ``ksid`` with keys of ``chunk_bytes`` (module docstring)."""
    del writes  # nothing for the ledger
    stream = _load(store, cursor, ksid)
    if stream is None:
        cursor.execute(
            store.sql(
                "INSERT INTO device_streams (ksid, link, kme_a, kme_b, end_a, end_b, chunk_bytes, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (
                ksid,
                end.link,
                end.kme_a,
                end.kme_b,
                _OPEN if end.end == "a" else _WAITING,
                _OPEN if end.end == "b" else _WAITING,
                chunk_bytes,
                time.time(),
            ),
        )
        return OpenAnswer(status=Status.PEER_NOT_CONNECTED, chunk_bytes=chunk_bytes)
    if stream.link != end.link:
        return OpenAnswer(
            status=Status.OC_KSID_ALREADY_IN_USE,
            chunk_bytes=0,
            reason=f"{ksid} is the stream of another link",
        )
    if stream.chunk_bytes != chunk_bytes:
        return OpenAnswer(
            status=Status.OC_QOS_NOT_SATISFIABLE,
            chunk_bytes=stream.chunk_bytes,
            reason=f"the stream's Key_chunk_size is {stream.chunk_bytes} bytes",
        )
    stream.set_state(end.end, _OPEN)
    _save_ends(store, cursor, stream)
    cursor.execute(
        store.sql(
            "SELECT MAX(idx), SUM(CASE WHEN state = ? THEN 1 ELSE 0 END) FROM device_keys WHERE ksid = ? AND kme_id = ?"
        ),
        ("pending", ksid, end.kme),
    )
    highest, pending = cursor.fetchone() or (None, None)
    partner = stream.state("b" if end.end == "a" else "a")
    return OpenAnswer(
        status=Status.PEER_NOT_CONNECTED if partner == _WAITING else Status.SUCCESSFUL,
        chunk_bytes=stream.chunk_bytes,
        next_index=0 if highest is None else int(highest) + 1,
        pending=int(pending or 0),
    )


def close_in(store: KeyStore, cursor: Any, writes: Writes, end: DeviceEnd, ksid: str) -> None:
    """CLOSE of the device ``end``: its end of the stream is closed (its waiting halves stay)."""
    del writes
    stream = _mine(store, cursor, end, ksid)
    stream.set_state(end.end, _CLOSED)
    _save_ends(store, cursor, stream)


def _partner_half(store: KeyStore, cursor: Any, ksid: str, index: int, kme: str) -> tuple[str, bytes] | None:
    """The state and digest of the half the partner KME holds for ``index``, or None (the one read of the
    partner's rows: with a KME process per node, a message from the partner KME)."""
    cursor.execute(
        store.sql("SELECT state, digest FROM device_keys WHERE ksid = ? AND idx = ? AND kme_id = ?", lock=True),
        (ksid, index, kme),
    )
    row = cursor.fetchone()
    return None if row is None else (str(row[0]), bytes(row[1]))


def push_in(
    store: KeyStore,
    cursor: Any,
    writes: Writes,
    end: DeviceEnd,
    ksid: str,
    keys: Sequence[tuple[int, bytes]],
    *,
    capacity_bytes: int | None = None,
    pool: PoolKey | None = None,
) -> list[PushOutcome]:
    """Take the keys ``(index, bytes)`` the device ``end`` pushed on the stream ``ksid``; each one's outcome.

    A refused key changes nothing but, for a mismatch, the voiding of the index (module docstring); the
    others are in the store once the caller's transaction commits. ``capacity_bytes``: most key the link's
    pool holds. ``pool``: how an agreed key goes into the pool (default: the shared store's pool of the link,
    :meth:`~qinternet.kms.store.KeyStore.add_in`; one KME per process: :func:`qinternet.kms.relay.pool_link_key_in`).

    Raises:
        SouthboundError: the stream is not one of the device's link, or not open at its end.
    """
    stream = _mine(store, cursor, end, ksid)
    insert = store.sql(
        "INSERT INTO device_keys (ksid, idx, kme_id, state, digest, material, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    settle = store.sql("UPDATE device_keys SET state = ?, material = NULL WHERE ksid = ? AND idx = ? AND kme_id = ?")
    outcomes: list[PushOutcome] = []
    now = time.time()
    for index, key in keys:
        if len(key) != stream.chunk_bytes:
            outcomes.append(PushOutcome.WRONG_LENGTH)
            continue
        cursor.execute(
            store.sql("SELECT 1 FROM device_keys WHERE ksid = ? AND idx = ? AND kme_id = ?"), (ksid, index, end.kme)
        )
        if cursor.fetchone() is not None:
            outcomes.append(PushOutcome.REPEATED_INDEX)
            continue
        digest = key_digest(ksid, index, key)
        partner = _partner_half(store, cursor, ksid, index, end.peer_kme)
        if partner is None:
            sealed = store.seal((end.kme, ksid, str(index), "device"), key)
            cursor.execute(insert, (ksid, index, end.kme, PushOutcome.PENDING.value, digest, sealed, now))
            outcomes.append(PushOutcome.PENDING)
            continue
        state, partner_digest = partner
        if state != PushOutcome.PENDING.value or not hmac.compare_digest(partner_digest, digest):
            cursor.execute(settle, ("mismatched", ksid, index, end.peer_kme))
            cursor.execute(insert, (ksid, index, end.kme, "mismatched", digest, None, now))
            writes.ledger.append((now, "mismatched", end.kme_a, end.kme_b, None, None, None, 8 * len(key)))
            outcomes.append(PushOutcome.MISMATCH)
            continue
        if pool is None:
            kept = store.add_in(cursor, end.kme_a, end.kme_b, key, writes, capacity_bytes=capacity_bytes, whole=True)
        else:
            kept = pool(cursor, writes, end, ksid, index, key)
        outcome = PushOutcome.POOLED if kept else PushOutcome.DISCARDED
        cursor.execute(settle, (outcome.value, ksid, index, end.peer_kme))
        cursor.execute(insert, (ksid, index, end.kme, outcome.value, digest, None, now))
        outcomes.append(outcome)
    return outcomes
