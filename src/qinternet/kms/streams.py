"""ETSI GS QKD 004 V2.1.1 key streams over the key store: OPEN_CONNECT, GET_KEY and CLOSE.

A key stream joins two SAEs (the specification's applications), each at its own KME or both at one. Its
state is in the store (tables ``key_streams`` and ``stream_keys``, revision 0005), so that both KMEs see it:

- **OPEN_CONNECT** (:func:`open_in`): the first SAE to open a ``Key_stream_ID`` creates the stream
  (``PEER_NOT_CONNECTED``), naming the other as destination; with no ``Key_stream_ID`` the KME makes one (a
  random UUID) and returns it, for the application to pass to its peer (the two sequences of ETSI GS QKD 004
  V2.1.1 clause 6.2: a key stream ID chosen by the key manager, or one agreed beforehand). The named
  destination's OPEN_CONNECT with that ID, naming the first as its destination, joins (``SUCCESSFUL``); any
  other OPEN_CONNECT with it is ``OC_KSID_ALREADY_IN_USE``, also once the stream is closed (an ID is never
  reused). The QoS is the first SAE's: the joining SAE gets it back, and ``OC_QOS_NOT_SATISFIABLE`` if it
  asked for another ``Key_chunk_size``.
- **GET_KEY** (:func:`get_key_in`): the key of an index is made when either SAE first asks for it: in one
  transaction, ``Key_chunk_size`` bytes are taken from the pool of every hop of the widest path between the
  two KMEs (the path and trusted-node relay of ETSI GS QKD 014's keys,
  :meth:`~qinternet.kms.store.KeyStore.relay_take`), and a row is written for each SAE: the asking SAE's
  ``delivered`` (no material kept), the other's ``reserved`` at its KME. The other SAE's GET_KEY of that
  index delivers its row, once. So both SAEs get the same key for the same index, each at most once, and
  the key is never anywhere ETSI GS QKD 014 looks (its Get key with key IDs reads the table ``keys`` only).
  Without an index, GET_KEY gives the lowest index reserved for the SAE (the peer asked for it first), else
  the one after the highest index of the stream. An index the SAE already had is
  ``GK_INSUFFICIENT_KEY_AVAILABLE``; so is a path short of key (nothing is taken).
- **CLOSE** (:func:`close_in`): the first SAE to close ends the stream for both. Every key still reserved
  (made for one SAE's GET_KEY, never fetched by the other) is voided: its material erased, never put back
  into a pool, since one SAE holds it. Keys are made only when an SAE asks for them, so nothing is ever
  reserved for a stream that neither SAE received; there is nothing to give back to the pools. The peer's
  GET_KEY is then ``GK_PEER_NOT_CONNECTED``; its CLOSE succeeds.
- **TTL**: a stream whose QoS TTL has passed is closed, as by CLOSE, at the next call that names it.

Every function runs inside the caller's transaction on a DBAPI cursor (the store's group-commit writer,
:meth:`~qinternet.kms.writer.KeyStoreWriter.run`): a key goes to an SAE only once the transaction that
recorded its delivery is committed, so a crash never hands out a key twice, nor loses one an SAE received.
The one window is ETSI GS QKD 014's: the commit done and the answer not yet sent, the key counts as
delivered and the SAE never saw it. Refusals that change nothing raise :class:`StreamError` (the binding's
400) or :class:`~qinternet.kms.store.NotEnoughKeyError`, which roll the request back.

The ledger records every stream key made (``issued``, key ID :func:`stream_key_id`, ``master_sae_id`` the
SAE that opened the stream, ``slave_sae_id`` the other), ``relayed`` per trusted hop, ``delivered`` (to the
SAE in ``slave_sae_id``) and ``voided``; never key material.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from qinternet.errors import QinternetError
from qinternet.kms.etsi004 import UINT32_MAX, QoS, Status
from qinternet.kms.store import KeyState, KeyStore, NotEnoughKeyError, Writes
from qinternet.kms.topology import KmsTopology

__all__ = ["StreamAnswer", "StreamError", "close_in", "get_key_in", "open_in", "stream_key_id"]

_OPEN, _CLOSED, _WAITING = "open", "closed", "waiting"
_RESERVED, _DELIVERED, _VOIDED = KeyState.RESERVED.name, KeyState.DELIVERED.name, KeyState.VOIDED.name


class StreamError(QinternetError):
    """A call about a stream the calling SAE cannot make: the ``Key_stream_ID`` is unknown, not one of its
    streams, or not open at its end (nothing was changed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamAnswer:
    """What a call answers: its status and, as the call gives them, the stream's ID and QoS, the index, the
    key (never in a ``repr``), its age and hops (the metadata), and a sentence saying why (for a refusal)."""

    status: Status
    ksid: str | None = None
    qos: QoS | None = None
    index: int | None = None
    key: bytes | None = field(default=None, repr=False)
    age_ms: int = 0
    hops: int = 0
    reason: str = ""


def stream_key_id(ksid: str, index: int) -> str:
    """The ID the ledger gives the key of ``index`` in the stream ``ksid`` (a UUID derived from both)."""
    return str(uuid.uuid5(uuid.UUID(ksid), str(index)))


@dataclass(slots=True)
class _Stream:
    ksid: str
    sae_a: str
    kme_a: str
    sae_b: str
    kme_b: str
    end_a: str
    end_b: str
    chunk_bytes: int
    qos: QoS
    expires_at: float | None

    def end(self, sae: str) -> str | None:
        """``a`` or ``b``: which end ``sae`` is; None if neither."""
        return "a" if sae == self.sae_a else "b" if sae == self.sae_b else None

    def state(self, end: str) -> str:
        return self.end_a if end == "a" else self.end_b

    def other(self, end: str) -> tuple[str, str]:
        """The other end's SAE and state."""
        return (self.sae_b, self.end_b) if end == "a" else (self.sae_a, self.end_a)


def _load(store: KeyStore, cursor: Any, ksid: str) -> _Stream | None:
    cursor.execute(
        store.sql(
            "SELECT sae_a, kme_a, sae_b, kme_b, end_a, end_b, chunk_bytes, qos, expires_at FROM key_streams"
            " WHERE ksid = ?",
            lock=True,
        ),
        (ksid,),
    )
    row = cursor.fetchone()
    if row is None:
        return None
    sae_a, kme_a, sae_b, kme_b, end_a, end_b, chunk, qos, expires = row
    registered = QoS.from_json(json.loads(qos), int(chunk))
    return _Stream(ksid, sae_a, kme_a, sae_b, kme_b, end_a, end_b, int(chunk), registered, expires)


def _mine(store: KeyStore, cursor: Any, ksid: str, sae: str) -> tuple[_Stream, str]:
    """The stream and the caller's end, or :class:`StreamError` (the same for a stream that does not exist
    and one of other SAEs: an SAE learns nothing of others' streams)."""
    stream = _load(store, cursor, ksid)
    end = None if stream is None else stream.end(sae)
    if stream is None or end is None:
        raise StreamError(f"no key stream {ksid} of this SAE")
    return stream, end


def _set_ends(store: KeyStore, cursor: Any, stream: _Stream) -> None:
    cursor.execute(
        store.sql("UPDATE key_streams SET end_a = ?, end_b = ? WHERE ksid = ?"),
        (stream.end_a, stream.end_b, stream.ksid),
    )


def _void(store: KeyStore, cursor: Any, writes: Writes, stream: _Stream, now: float) -> None:
    """Void every key of the stream still reserved (material erased; ledger ``voided``)."""
    cursor.execute(
        store.sql("SELECT idx, sae_id, kme_id FROM stream_keys WHERE ksid = ? AND state = ?"),
        (stream.ksid, _RESERVED),
    )
    for index, sae, kme in cursor.fetchall():
        cursor.execute(
            store.sql(
                "UPDATE stream_keys SET state = ?, material = NULL WHERE ksid = ? AND idx = ? AND sae_id = ?"
                " AND state = ?"
            ),
            (_VOIDED, stream.ksid, index, sae, _RESERVED),
        )
        master = stream.sae_b if sae == stream.sae_a else stream.sae_a
        key_id = stream_key_id(stream.ksid, int(index))
        writes.ledger.append((now, "voided", kme, None, key_id, master, sae, 8 * stream.chunk_bytes))


def _expired(store: KeyStore, cursor: Any, writes: Writes, stream: _Stream, now: float) -> bool:
    """Whether the stream's TTL has passed; if so both ends are closed now and its reserved keys voided."""
    if stream.expires_at is None or now < stream.expires_at:
        return False
    if (stream.end_a, stream.end_b) != (_CLOSED, _CLOSED):
        stream.end_a = stream.end_b = _CLOSED
        _set_ends(store, cursor, stream)
        _void(store, cursor, writes, stream, now)
    return True


def open_in(
    store: KeyStore,
    cursor: Any,
    writes: Writes,
    *,
    sae: str,
    kme: str,
    destination: str,
    destination_kme: str,
    ksid: str | None,
    qos: QoS,
    counter: QoS | None,
    asked_chunk_bytes: int | None,
) -> StreamAnswer:
    """OPEN_CONNECT (module docstring) by ``sae`` at ``kme`` to ``destination`` at ``destination_kme``.

    ``qos`` is the QoS asked for, completed with the KME's defaults; ``counter`` the nearest QoS the KME can
    meet when it cannot meet ``qos`` (None when it can), which a new stream's answer proposes
    (``OC_QOS_NOT_SATISFIABLE``, nothing made); ``asked_chunk_bytes`` the ``Key_chunk_size`` the caller
    named, if any (a joining SAE must not ask for another than the stream's).
    """
    now = time.time()
    if ksid is not None:
        stream = _load(store, cursor, ksid)
        if stream is not None:
            return _join(store, cursor, writes, stream, sae, destination, asked_chunk_bytes, now)
    if counter is not None:
        return StreamAnswer(status=Status.OC_QOS_NOT_SATISFIABLE, qos=counter, reason="the QoS asked cannot be met")
    ksid = ksid or str(uuid.uuid4())
    cursor.execute(
        store.sql(
            "INSERT INTO key_streams (ksid, sae_a, kme_a, sae_b, kme_b, end_a, end_b, chunk_bytes, qos, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        (
            ksid,
            sae,
            kme,
            destination,
            destination_kme,
            _OPEN,
            _WAITING,
            qos.key_chunk_size_bytes,
            json.dumps(qos.to_json()),
            now,
            now + qos.ttl_s if qos.ttl_s else None,
        ),
    )
    return StreamAnswer(status=Status.PEER_NOT_CONNECTED, ksid=ksid, qos=qos)


def _join(
    store: KeyStore,
    cursor: Any,
    writes: Writes,
    stream: _Stream,
    sae: str,
    destination: str,
    asked_chunk_bytes: int | None,
    now: float,
) -> StreamAnswer:
    in_use = StreamAnswer(status=Status.OC_KSID_ALREADY_IN_USE, reason="the Key_stream_ID is in use")
    if _expired(store, cursor, writes, stream, now):
        return in_use
    if (sae, destination) != (stream.sae_b, stream.sae_a) or (stream.end_a, stream.end_b) != (_OPEN, _WAITING):
        return in_use
    if asked_chunk_bytes is not None and asked_chunk_bytes != stream.chunk_bytes:
        reason = f"the stream's Key_chunk_size is {stream.chunk_bytes} bytes"
        return StreamAnswer(status=Status.OC_QOS_NOT_SATISFIABLE, ksid=stream.ksid, qos=stream.qos, reason=reason)
    stream.end_b = _OPEN
    _set_ends(store, cursor, stream)
    return StreamAnswer(status=Status.SUCCESSFUL, ksid=stream.ksid, qos=stream.qos)


def get_key_in(
    store: KeyStore,
    cursor: Any,
    writes: Writes,
    *,
    sae: str,
    ksid: str,
    index: int | None,
    topology: KmsTopology,
    metadata_size: int = 0,
    metadata_needs: int = 0,
) -> StreamAnswer:
    """GET_KEY (module docstring) of ``index`` (None: the next) by ``sae`` in the stream ``ksid``.

    ``metadata_size`` is the caller's metadata buffer, bytes (0: it wants none); when it is smaller than
    ``metadata_needs`` (the most the metadata may take) the answer is ``GK_METADATA_INSUFFICIENT_SIZE``
    and nothing is taken or delivered, so a retry with a larger buffer gets the same key.

    Raises:
        StreamError: not an open stream of ``sae``.
        NotEnoughKeyError: the key of the index is still to be made and the path is short (nothing taken).
    """
    now = time.time()
    stream, end = _mine(store, cursor, ksid, sae)
    if _expired(store, cursor, writes, stream, now):
        return StreamAnswer(status=Status.GK_PEER_NOT_CONNECTED, reason="the stream's TTL has passed: it is closed")
    if stream.state(end) != _OPEN:
        raise StreamError(f"the key stream {ksid} is not open for this SAE")
    peer, peer_state = stream.other(end)
    if peer_state != _OPEN:
        why = "the peer SAE has not opened the stream yet" if peer_state == _WAITING else "the peer SAE closed it"
        return StreamAnswer(status=Status.GK_PEER_NOT_CONNECTED, reason=why)
    if topology.path(stream.kme_a, stream.kme_b) is None:
        reason = "no chain of QKD links through trusted nodes joins the two KMEs"
        return StreamAnswer(status=Status.NO_QKD_CONNECTION_AVAILABLE, reason=reason)
    index = _next_index(store, cursor, stream, sae) if index is None else index
    if index > UINT32_MAX:
        return StreamAnswer(status=Status.GK_INSUFFICIENT_KEY_AVAILABLE, reason="the stream's indices are spent")
    if 0 < metadata_size < metadata_needs:
        return StreamAnswer(
            status=Status.GK_METADATA_INSUFFICIENT_SIZE, index=index, reason="the metadata buffer is too small"
        )
    cursor.execute(
        store.sql(
            "SELECT state, material, hops, created_at FROM stream_keys WHERE ksid = ? AND idx = ? AND sae_id = ?"
        ),
        (ksid, index, sae),
    )
    row = cursor.fetchone()
    key_id = stream_key_id(ksid, index)
    bits = 8 * stream.chunk_bytes
    if row is None:  # neither SAE asked for this index yet: make its key
        material, hops = _make(store, cursor, writes, stream, index, sae, topology, now)
        made = now
    else:
        state, stored, hops, made = row
        if state != _RESERVED:
            return StreamAnswer(
                status=Status.GK_INSUFFICIENT_KEY_AVAILABLE,
                index=index,
                reason=f"the key of index {index} was delivered to this SAE already",
            )
        material = store.unseal(_row(ksid, index, sae), bytes(stored))
        cursor.execute(
            store.sql(
                "UPDATE stream_keys SET state = ?, material = NULL, delivered_at = ? WHERE ksid = ? AND idx = ?"
                " AND sae_id = ? AND state = ?"
            ),
            (_DELIVERED, now, ksid, index, sae, _RESERVED),
        )
        if cursor.rowcount != 1:  # the row is locked with its stream: cannot happen, but never deliver twice
            raise StreamError(f"the key of index {index} is being delivered by another request")
    kme = stream.kme_a if end == "a" else stream.kme_b
    writes.ledger.append((now, "delivered", kme, None, key_id, peer, sae, bits))
    age_ms = min(UINT32_MAX, max(0, round(1000 * (now - made))))
    return StreamAnswer(status=Status.SUCCESSFUL, ksid=ksid, index=index, key=material, age_ms=age_ms, hops=hops)


def _row(ksid: str, index: int, sae: str) -> tuple[str, str, str, str]:
    """What a stream key's encryption at rest is bound to."""
    return ("key stream", ksid, str(index), sae)


def _next_index(store: KeyStore, cursor: Any, stream: _Stream, sae: str) -> int:
    cursor.execute(
        store.sql("SELECT min(idx) FROM stream_keys WHERE ksid = ? AND sae_id = ? AND state = ?"),
        (stream.ksid, sae, _RESERVED),
    )
    (waiting,) = cursor.fetchone()
    if waiting is not None:
        return int(waiting)
    cursor.execute(store.sql("SELECT max(idx) FROM stream_keys WHERE ksid = ?"), (stream.ksid,))
    (highest,) = cursor.fetchone()
    return 0 if highest is None else int(highest) + 1


def _make(
    store: KeyStore,
    cursor: Any,
    writes: Writes,
    stream: _Stream,
    index: int,
    sae: str,
    topology: KmsTopology,
    now: float,
) -> tuple[bytes, int]:
    """Make the key of ``index``: take it along the widest path now, record it delivered to ``sae`` and
    reserved for the other SAE at its KME. The key and the number of hops it crossed."""
    path = topology.widest_path(stream.kme_a, stream.kme_b, store.levels_seen(writes))
    if path is None:
        raise NotEnoughKeyError(f"no path between {stream.kme_a} and {stream.kme_b} holds key on every hop")
    key_id = stream_key_id(stream.ksid, index)
    nbytes = stream.chunk_bytes
    material = store.relay_take(cursor, path, nbytes, writes, relayed=(now, key_id, stream.sae_a, stream.sae_b))
    insert = store.sql(
        "INSERT INTO stream_keys (ksid, idx, sae_id, kme_id, state, material, hops, created_at, delivered_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    for owner, kme in ((stream.sae_a, stream.kme_a), (stream.sae_b, stream.kme_b)):
        if owner == sae:
            cursor.execute(insert, (stream.ksid, index, owner, kme, _DELIVERED, None, len(path) - 1, now, now))
        else:
            sealed = store.seal(_row(stream.ksid, index, owner), material)
            cursor.execute(insert, (stream.ksid, index, owner, kme, _RESERVED, sealed, len(path) - 1, now, None))
    writes.ledger.append((now, "issued", path[0], None, key_id, stream.sae_a, stream.sae_b, 8 * nbytes))
    return material, len(path) - 1


def close_in(store: KeyStore, cursor: Any, writes: Writes, *, sae: str, ksid: str) -> StreamAnswer:
    """CLOSE (module docstring) of the stream ``ksid`` by ``sae``: the first close ends it for both SAEs.

    Raises:
        StreamError: not a stream of ``sae``, or its end is not open (never opened, or closed already).
    """
    now = time.time()
    stream, end = _mine(store, cursor, ksid, sae)
    if stream.state(end) != _OPEN:
        raise StreamError(f"the key stream {ksid} is not open for this SAE")
    if not _expired(store, cursor, writes, stream, now):  # (expired: closed and voided already)
        if end == "a":
            stream.end_a = _CLOSED
        else:
            stream.end_b = _CLOSED
        _set_ends(store, cursor, stream)
        _void(store, cursor, writes, stream, now)
    return StreamAnswer(status=Status.SUCCESSFUL, ksid=ksid)
