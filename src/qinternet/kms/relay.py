"""One KME per process: the link keys each KME holds, and key relay between KME processes over mutual TLS.

With ``qinternet kme`` every node's KME runs in a process of its own, on a key store of its own that holds
only its own links' keys. What one shared store did in a transaction becomes messages between KMEs, each
over HTTPS with mutual TLS under the KME's own certificate (CN = its KME ID; the caller is named by its
verified certificate, never by the message), at ``/kme/v1/`` on the KME's server. Every message is
answered only once what it changed is committed (:mod:`.writer`'s group commit).

**Link keys, agreed by digests** (``POST /kme/v1/digests``). A link's two QKD devices push the same keys,
by stream and index, each to its own KME (:mod:`.southbound`). A KME keeps its half and sends the partner
KME the half's digest; the partner keeps it as the partner's half (digest only). Whichever KME holds both
halves first and finds them equal puts its copy into its link key table (:class:`~.store.LinkKeyRecord`) and
answers ``agreed``; the other does the same on that answer (or on the first relay that names the key,
which only a KME that agreed can do). Digests of halves still pending are sent again for as long as they are
pending, with back-off (:data:`RESEND_EVERY_S` .. :data:`RESEND_MAX_S`), so a lost message or a partition
delays a key but never loses it, unless it outlasts :attr:`RelaySettings.pending_expiry_s`: a half still
pending then is expired by the sweep (``expired``, material erased, counted in the ledger as discarded, its
digest no longer sent; a partner's digest for it is answered ``waiting`` and kept nowhere), and a partner's
digest kept that long is forgotten (so that a half its device pushes later waits for an answer instead of
pooling a key the partner dropped). Digests naming a stream of another link are refused (400).

**Directions.** The two KMEs of a link never use the same key: a key of even index may only be sent
by the KME of the link's end ``a``, one of odd index by the KME of its end ``b``; the sender names the
keys it used (stream and index), and the receiver takes exactly those. A key serves one relay only (the
tail of the last key a relay takes is discarded, counted in the ledger). Each direction holds at most half
of :attr:`RelaySettings.capacity_bytes`.

**Relay** (``POST /kme/v1/ext_keys``; ETSI GS QKD 020's message name, docs/kme-processes.md says what we
follow of it). Hop-by-hop one-time pad, as :meth:`~.store.KeyStore.relay_take` does in one store: the
master KME takes keys of its first hop, which *are* the end-to-end keys (another slave of a multicast gets
K xor its own first hop's key), commits the relay (state ``sending``, the keys sealed) and sends the
message to the next KME; each KME on the path takes the named keys of the hop it came over, recovers K,
takes keys of its next hop, commits its step (with the message it sends on) and sends K xor the next hop's
keys on; the slave's KME reserves K for the slave SAE (as a one-store KME does), commits, and answers
``relayed``, an answer that goes back along the path. The master then commits ``completed`` and only then
answers ``enc_keys``. Messages to one peer sent at about the same time go in one call
(``POST /kme/v1/ext_keys_batch``, :meth:`PeerClient._queue`), each checked, committed and answered on its own
as an ``ext_keys`` call would be: one request and one commit per hop for the relays that move together.
Once-only:

- a relay has an ID (UUID); a KME that gets the same message again (a retry after a lost answer or a
  restart) does not take key again: it answers from what it committed, sending its committed message on
  once more; a message with the ID of a relay it holds but other content (an altered message) is refused
  (400) and logged, as is one naming keys already used (a replayed message under a new ID), keys of
  another hop or direction, or one from a KME that is not the previous hop of its path (401);
- a relay that fails (a hop short of key, a KME unreachable, no answer in :attr:`RelaySettings.timeout_s`)
  is voided (``POST /kme/v1/void``, sent by the master to every KME of the path, again by the sweep
  until each has acknowledged; only the relay's stored master may void it, and only before it completed
  it): the slave's reserved key is voided, and a KME that had not seen the relay keeps a tombstone so that a
  late message of it is refused; every KME that had sent keys on a hop of it tells the next one to drop its
  copies (``POST /kme/v1/release``); the master answers 503;
- a master KME restarted with relays ``sending`` voids them: their SAE's request died with the process.
  A middle or slave KME restarted finds its committed steps, so the master's retries complete the relay.

**Routing** (:mod:`qinternet.network.routing`, as the simulation and the one-store KMEs): the widest path
by the pool levels a KME knows: its own links' (its keys it may send, :meth:`RelayService.pool_level`),
and the other KMEs' links' as those KMEs last reported them (:mod:`.link_state`); a level not reported, or
too old, counts as full (:data:`UNKNOWN_LEVEL_BYTES`). Levels are advisory: a hop short of key voids the
relay (503, the SAE tries again).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import socket
import ssl
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from pydantic import Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from qinternet.errors import ParameterError, QinternetError
from qinternet.kms.api import MSG_BAD, MSG_SERVER, MSG_UNAUTHORIZED, SAE_SCOPE_KEY, KmeError, _Body, _json
from qinternet.kms.pki import PkiFiles, common_name
from qinternet.kms.southbound import DeviceEnd, key_digest
from qinternet.kms.store import (
    DeliveredKey,
    KeyState,
    KeyStore,
    NotEnoughKeyError,
    RelayFailedError,
    Writes,
    pool_name,
)
from qinternet.kms.topology import KmsTopology, PoolLevel

__all__ = [
    "PEER_PATH",
    "SWEEP_S",
    "UNKNOWN_LEVEL_BYTES",
    "PeerAnswer",
    "PeerClient",
    "PeerUnreachableError",
    "RelayService",
    "RelaySettings",
    "held_pool",
    "pool_link_key_in",
    "receive_pool",
    "send_pool",
    "sender_of",
]

logger = logging.getLogger("qinternet.kms")

PEER_PATH = "/kme/v1"
"""Where the KME-to-KME calls are."""
SWEEP_S = 1.0
"""Seconds between two sweeps: digests of halves still pending sent again, voids not yet acknowledged."""
UNKNOWN_LEVEL_BYTES = 1 << 40
"""The level routing assumes for a link between two other KMEs whose level is not known here."""

_READY, _USED = "ready", "used"
_SENDING, _COMPLETED, _VOIDING, _VOIDED = "sending", "completed", "voiding", "voided"
_FORWARDING, _RESERVED = "forwarding", "reserved"
_RELAYED, _NOT_PRESENT, _UNREACHABLE, _FAILED = "relayed", "key not present", "unreachable", "failed"
_PENDING, _EXPIRED = "pending", "expired"
IDLE_MAX_S = 4.0
"""Longest a peer connection is kept idle for reuse (uvicorn, the KMEs' server, closes them after 5 s)."""
IDLE_PER_PEER = 16
"""Most idle connections kept per peer (a burst's others are closed once answered)."""
BATCH_MAX = 64
"""Most ``ext_keys`` messages one ``ext_keys_batch`` call carries (:class:`PeerClient`)."""
BATCH_MAX_BYTES = 1 << 19
"""Most bytes of messages one ``ext_keys_batch`` call carries (the KMEs read bodies of at most 1 MiB)."""
BATCH_SLOT_S = 0.02
"""``ext_keys`` messages to a peer queue while a call to it is in flight, for at most this long (then they go
beside it): so the messages of relays that move together go together, and a slow call (a relay retrying an
unreachable KME further on) holds the others back no longer than this (:meth:`PeerClient._queue`)."""
_PENDING_AGE_S = 1.0
"""A half pending longer than this has its digest sent again by the sweep, for as long as it is pending..."""
RESEND_EVERY_S = 5.0
"""... first after this many seconds, then after half its age (back-off), at most :data:`RESEND_MAX_S` apart."""
RESEND_MAX_S = 300.0
"""Longest wait between two sendings of a pending half's digest."""
RESEND_BATCH = 4096
"""Most pending halves whose digests one sweep sends again (those due longest first)."""
PENDING_EXPIRY_S = 3600.0
"""Default :attr:`RelaySettings.pending_expiry_s`. A KME restart takes seconds to a minute (a supervisor
restarts it; a restarted device replays what its KME lacks, docs/southbound.md), and after a partition heals
the next resend (at most :data:`RESEND_MAX_S` later) agrees the halves both ends hold: an hour lets either
heal with a wide margin (a partition of up to ~55 min loses nothing), while a half whose partner never comes
costs storage, sweep time and ~20 resends for at most an hour."""
EXPIRE_BATCH = 4096
"""Most halves (own, and partners' digests) one sweep expires."""
VOID_BATCH = 100
"""Most relays one sweep voids again (at once; those due longest first)."""
VOID_BACKOFF_MAX_S = 30.0
"""Longest wait before a void that was not acknowledged is sent again."""
VOID_WAIT_S = 1.0
"""Longest the master waits for the voids of a failed relay before it answers 503 (the sweep goes on)."""


class _RefusedError(QinternetError):
    """A message this KME refuses (nothing changed): the answer's status and reason."""

    def __init__(self, status: int, ack: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.ack = status, ack


def sender_of(end: DeviceEnd, index: int) -> str:
    """The KME that may send with the key of ``index`` of ``end``'s link: end ``a``'s for even indices."""
    return end.kme_a if index % 2 == 0 else end.kme_b


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _seal_row(kme: str, ksid: str, index: int) -> tuple[str, str, str, str]:
    return (kme, ksid, str(index), "link")


def pool_link_key_in(
    store: KeyStore,
    cursor: Any,
    writes: Writes,
    end: DeviceEnd,
    ksid: str,
    index: int,
    key: bytes,
    *,
    capacity_bytes: int | None = None,
) -> int:
    """Put a key both halves agreed on into this KME's link keys (``end.kme``'s), in the caller's transaction;
    the bytes kept (0: the key's direction already holds ``capacity_bytes // 2`` ready, counted in the ledger
    as discarded). Each direction has half the link's capacity: keys of one direction that are not used never
    crowd out the other's. The store's levels count it once the transaction is committed (:func:`held_pool`,
    :func:`send_pool`, :func:`receive_pool`)."""
    now = time.time()
    mine = sender_of(end, index) == end.kme
    direction = send_pool(end.kme, end.peer_kme) if mine else receive_pool(end.kme, end.peer_kme)
    level = store.pool_level(*direction) + writes.added.get(direction, 0)
    if capacity_bytes is not None and level + len(key) > capacity_bytes // 2:
        writes.ledger.append((now, "discarded", end.kme_a, end.kme_b, None, None, None, 8 * len(key)))
        return 0
    cursor.execute(
        store.sql(
            "INSERT INTO link_keys (ksid, idx, kme_id, peer_kme, sender, state, size_bytes, material, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        (
            ksid,
            index,
            end.kme,
            end.peer_kme,
            sender_of(end, index),
            _READY,
            len(key),
            store.seal(_seal_row(end.kme, ksid, index), key),
            now,
        ),
    )
    writes.ledger.append((now, "generated", end.kme_a, end.kme_b, None, None, None, 8 * len(key)))
    for pool in (held_pool(end.kme, end.peer_kme), direction):
        writes.added[pool] = writes.added.get(pool, 0) + len(key)
    return len(key)


def held_pool(kme: str, peer: str) -> tuple[str, str]:
    """Where the store's levels (:meth:`~.store.KeyStore.pool_level`, counted at every commit) keep the bytes of
    link keys ``kme`` holds ready with ``peer``, both directions (not a pool of the one-store KMEs' kind)."""
    return pool_name(kme, "\0held " + peer)


def send_pool(kme: str, peer: str) -> tuple[str, str]:
    """Where the store's levels keep the bytes of link keys ``kme`` may send to ``peer``."""
    return pool_name(kme, "\0send " + peer)


def receive_pool(kme: str, peer: str) -> tuple[str, str]:
    """Where the store's levels keep the bytes of link keys ``kme`` holds ready for ``peer`` to send with."""
    return pool_name(kme, "\0receive " + peer)


def _direction_pools(kme: str, peer: str, sender: str) -> list[tuple[str, str]]:
    """The levels a ready link key of ``sender`` counts in at ``kme`` (held, and its direction's)."""
    return [held_pool(kme, peer), send_pool(kme, peer) if sender == kme else receive_pool(kme, peer)]


def _count_taken(writes: Writes, pools: Sequence[tuple[str, str]], nbytes: int) -> None:
    for pool in pools:
        writes.taken[pool] = writes.taken.get(pool, 0) + nbytes


# -- the messages ------------------------------------------------------------------------------------------

_Id = Annotated[str, Field(min_length=1, max_length=100)]


class _Piece(_Body):
    ksid: Annotated[str, Field(max_length=36)]
    index: Annotated[int, Field(ge=0, le=2**63 - 1)]


class _ExtKey(_Body):
    key_ID: Annotated[str, Field(max_length=36)]
    pieces: Annotated[list[_Piece], Field(min_length=1, max_length=1024)]
    value: Annotated[str, Field(max_length=20000)] | None = None


class ExtKeys(_Body):
    """``ext_keys``: the keys of a relay over one hop (module docstring)."""

    relay_ID: Annotated[str, Field(max_length=36)]
    initiator_sae_id: _Id
    target_sae_ids: Annotated[list[_Id], Field(min_length=1, max_length=1)]
    path: Annotated[list[_Id], Field(min_length=2, max_length=64)]
    hop: Annotated[int, Field(ge=1, le=63)]
    size: Annotated[int, Field(ge=8, le=65536)]
    keys: Annotated[list[_ExtKey], Field(min_length=1, max_length=1024)]


class _ExtKeysBatch(_Body):
    """``ext_keys_batch``: several ``ext_keys`` messages in one call, each checked and answered on its own."""

    messages: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=BATCH_MAX)]


class _Void(_Body):
    relay_ID: Annotated[str, Field(max_length=36)]
    initiator_sae_id: _Id
    path: Annotated[list[_Id], Field(min_length=2, max_length=64)]


class _Release(_Body):
    relay_ID: Annotated[str, Field(max_length=36)]
    pieces: Annotated[list[_Piece], Field(max_length=65536)]


class _Digest(_Body):
    index: Annotated[int, Field(ge=0, le=2**63 - 1)]
    digest: Annotated[str, Field(max_length=100)]


class _Digests(_Body):
    Key_stream_ID: Annotated[str, Field(max_length=36)]
    link: _Id
    items: Annotated[list[_Digest], Field(min_length=1, max_length=4096)]


def _pieces_of(outgoing: str | None) -> list[dict[str, Any]]:
    """The link keys a stored message (``ext_keys``, or after a void ``{"pieces": ...}``) names."""
    if not outgoing:
        return []
    message = json.loads(outgoing)
    if "pieces" in message:
        return list(message["pieces"])
    return [piece for key in message.get("keys", []) for piece in key.get("pieces", [])]


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


# -- calling the peers -------------------------------------------------------------------------------------


class PeerUnreachableError(QinternetError):
    """No answer from a peer KME: it cannot be reached, cut the connection, did not answer in time, or
    presented another KME's certificate."""


@dataclass(frozen=True, slots=True)
class PeerAnswer:
    """A peer KME's answer: its HTTP status and body."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON (an empty object when it is not)."""
        try:
            return json.loads(self.content)
        except ValueError:
            return {}


@dataclass(frozen=True, slots=True)
class _Queued:
    """An ``ext_keys`` message waiting to be sent (:meth:`PeerClient._queue`)."""

    data: bytes
    future: asyncio.Future[PeerAnswer]
    timeout_s: float


def _batch_answers(answer: PeerAnswer, count: int) -> list[PeerAnswer]:
    """Each message's own answer from an ``ext_keys_batch`` answer (its status and body, as if sent alone);
    a batch refused as a whole (or a lone ``ext_keys``) is every message's answer."""
    if count == 1 or answer.status_code != 200:
        return [answer] * count
    answers = answer.json().get("answers")
    if not isinstance(answers, list) or len(answers) != count:
        return [PeerAnswer(502, b'{"message":"the peer answered the batch without an answer per message"}')] * count
    return [
        PeerAnswer(int(a["status"]), json.dumps(a["body"], separators=(",", ":")).encode())
        if isinstance(a, dict) and isinstance(a.get("status"), int) and isinstance(a.get("body"), dict)
        else PeerAnswer(502, b'{"message":"the peer answered a message of the batch without status and body"}')
        for a in answers
    ]


class _Connection:
    """One keep-alive HTTP/1.1 connection over TLS to a peer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()

    async def post(self, host: str, path: str, body: bytes) -> tuple[PeerAnswer, bool]:
        """The answer, and whether the connection may be used again."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode("ascii") + body)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, keep = 0, True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
        content = await self.reader.readexactly(length) if length else b""
        return PeerAnswer(status, content), keep

    def close(self) -> None:
        self.writer.close()


class PeerClient:
    """HTTPS with mutual TLS to the peer KMEs, under this KME's certificate, over keep-alive connections; a
    peer whose certificate does not name the KME called is refused before anything is sent (every KME
    certificate is valid for the same host names, so the name is what tells them apart), and logged.

    A plain HTTP/1.1 client on asyncio streams (POST with a JSON body, answers with a ``Content-Length``):
    httpx cost several times the CPU of the server's own stack per request. A request whose reused
    connection turns out closed is sent again, on another idle one or on a new one (every KME-to-KME call may
    be repeated). Idle connections older than :data:`IDLE_MAX_S` (the peer's server closes them after its
    keep-alive) are closed unused, and at most :data:`IDLE_PER_PEER` are kept per peer.

    Args:
        kme_id: this KME (its certificate and key in ``files``).
        urls: every peer KME's base URL (``https://host:port``).
        files: the PKI folder.
    """

    def __init__(self, kme_id: str, urls: Mapping[str, str], files: PkiFiles) -> None:
        self.kme_id = kme_id
        self.urls = dict(urls)
        self._context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(files.ca))
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(str(files.cert(kme_id)), str(files.key(kme_id)))
        self._idle: dict[str, list[_Connection]] = {}
        self._queued: dict[str, list[_Queued]] = {}
        self._batches: set[asyncio.Task[None]] = set()
        self._busy: dict[str, object] = {}

    async def aclose(self) -> None:
        """Close the idle connections (``ext_keys`` messages still queued are answered unreachable)."""
        for task in list(self._batches):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for queued in self._queued.values():
            for item in queued:
                if not item.future.done():
                    item.future.set_exception(PeerUnreachableError("the client is closed"))
        self._queued.clear()
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def _connect(self, peer: str) -> _Connection:
        split = urlsplit(self.urls[peer])
        host, port = split.hostname or "localhost", split.port or 443
        reader, writer = await asyncio.open_connection(host, port, ssl=self._context, server_hostname=host)
        ssl_object = writer.get_extra_info("ssl_object")
        named = None if ssl_object is None else common_name(ssl_object.getpeercert())
        if named != peer:
            writer.close()
            logger.warning("kme=%s refused peer %s: its certificate names %r", self.kme_id, peer, named)
            raise PeerUnreachableError(f"the KME at {self.urls[peer]} presents {named!r}, not {peer!r}")
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer)

    async def post(self, peer: str, call: str, body: Mapping[str, Any], timeout_s: float) -> PeerAnswer:
        """POST ``body`` to ``call`` of ``peer``; :class:`PeerUnreachableError` when no answer comes in
        ``timeout_s``. ``ext_keys`` messages to one peer posted at about the same time travel together
        (:meth:`_queue`), each with its own answer."""
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            if call == "ext_keys":
                return await asyncio.wait_for(self._queue(peer, data, timeout_s), max(0.05, timeout_s))
            host = urlsplit(self.urls[peer]).netloc
            return await asyncio.wait_for(self._post(peer, host, f"{PEER_PATH}/{call}", data), max(0.05, timeout_s))
        except TimeoutError:
            raise PeerUnreachableError(f"no answer from {peer} in {timeout_s:.3g} s") from None

    def _queue(self, peer: str, data: bytes, timeout_s: float) -> asyncio.Future[PeerAnswer]:
        """An ``ext_keys`` message to send with the others queued for ``peer``: those posted in the same turn of
        the event loop (the relay steps a writer batch committed together resume together), and those posted
        while the last call to ``peer`` was in flight, for at most :data:`BATCH_SLOT_S`. They go in one
        ``ext_keys_batch`` call (one request, and their steps in one transaction there) instead of one call
        each. Only the transport is shared: each message is checked, committed and answered on its own,
        exactly as alone (its answer is its own status and body); a lone message goes as a plain
        ``ext_keys``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PeerAnswer] = loop.create_future()
        queued = self._queued.setdefault(peer, [])
        if not queued and peer not in self._busy:
            loop.call_soon(self._flush, peer)
        queued.append(_Queued(data, future, max(0.05, timeout_s)))
        return future

    def _flush(self, peer: str) -> None:
        """Send what was queued for ``peer`` if no call to it holds the slot (:data:`BATCH_SLOT_S`): in calls of
        at most :data:`BATCH_MAX` messages and :data:`BATCH_MAX_BYTES` bytes; messages whose caller gave up
        before (timed out) are not sent."""
        waiting = [item for item in self._queued.pop(peer, []) if not item.future.done()]
        if not waiting or peer in self._busy:
            if waiting:
                self._queued[peer] = waiting + self._queued.get(peer, [])
            return
        loop = asyncio.get_running_loop()
        while waiting:
            size, count = 0, 0
            for item in waiting[:BATCH_MAX]:
                if count and size + len(item.data) > BATCH_MAX_BYTES:
                    break
                size, count = size + len(item.data), count + 1
            task = asyncio.ensure_future(self._send_batch(peer, waiting[:count]))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)
            waiting = waiting[count:]
        slot = object()
        self._busy[peer] = slot
        timer = loop.call_later(BATCH_SLOT_S, self._free, peer, slot)

        def answered(_: asyncio.Task[None]) -> None:
            timer.cancel()
            self._free(peer, slot)

        task.add_done_callback(answered)

    def _free(self, peer: str, slot: object) -> None:
        """The call that held ``peer``'s slot was answered, or has taken :data:`BATCH_SLOT_S`: the messages
        queued meanwhile go."""
        if self._busy.get(peer) is slot:
            del self._busy[peer]
            if self._queued.get(peer):
                self._flush(peer)

    async def _send_batch(self, peer: str, items: list[_Queued]) -> None:
        host = urlsplit(self.urls[peer]).netloc
        timeout_s = max(item.timeout_s for item in items)
        try:
            if len(items) == 1:
                path, data = f"{PEER_PATH}/ext_keys", items[0].data
            else:
                path, data = f"{PEER_PATH}/ext_keys_batch", b'{"messages":[' + b",".join(i.data for i in items) + b"]}"
            try:
                answer = await asyncio.wait_for(self._post(peer, host, path, data), timeout_s)
            except TimeoutError:
                raise PeerUnreachableError(f"no answer from {peer} in {timeout_s:.3g} s") from None
        except PeerUnreachableError as exc:
            for item in items:
                if not item.future.done():
                    item.future.set_exception(PeerUnreachableError(str(exc)))
            return
        except BaseException as exc:  # cancelled (the client closes): the callers hear that the peer is away
            for item in items:
                if not item.future.done():
                    item.future.set_exception(PeerUnreachableError(f"{peer}: {type(exc).__name__}"))
            raise
        answers = _batch_answers(answer, len(items))
        for item, each in zip(items, answers, strict=True):
            if not item.future.done():
                item.future.set_result(each)

    def _reusable(self, peer: str) -> _Connection | None:
        """The newest idle connection to ``peer`` not older than :data:`IDLE_MAX_S` (older ones closed)."""
        idle = self._idle.setdefault(peer, [])
        while idle:
            connection = idle.pop()
            if time.monotonic() - connection.idle_since < IDLE_MAX_S:
                return connection
            connection.close()
            for old in idle:  # older still
                old.close()
            idle.clear()
        return None

    async def _post(self, peer: str, host: str, path: str, data: bytes) -> PeerAnswer:
        idle = self._idle.setdefault(peer, [])
        while True:
            connection = self._reusable(peer)
            reused = connection is not None
            try:
                if connection is None:
                    connection = await self._connect(peer)
            except (OSError, ssl.SSLError) as exc:
                raise PeerUnreachableError(f"{peer} unreachable ({type(exc).__name__})") from None
            try:
                answer, keep = await connection.post(host, path, data)
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                connection.close()
                if reused:
                    continue  # the peer had closed it meanwhile: once more on a new one
                raise PeerUnreachableError(f"{peer} cut the connection ({type(exc).__name__})") from None
            except BaseException:  # cancelled mid-request: the connection's state is unknown
                connection.close()
                raise
            if keep and len(idle) < IDLE_PER_PEER:
                connection.idle_since = time.monotonic()
                idle.append(connection)
            else:
                connection.close()
            return answer


# -- the service -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RelaySettings:
    """How a KME relays.

    Attributes:
        timeout_s: longest a master waits for a relay to be committed at the slave's KME (retrying a hop
            that cannot be reached) before it voids it.
        hold_s: seconds a middle KME waits after committing its step before sending it on (0; crash tests
            only: a kill then lands between the two).
        capacity_bytes: most key ready per link; each direction (the keys this KME may send, those it may
            receive) holds at most half of it. None: no limit.
        pending_expiry_s: seconds after which the sweep expires a half still pending (its partner's half
            never came or never agreed) and forgets a partner's digest its own half never met
            (:data:`PENDING_EXPIRY_S`); 0: never.
    """

    timeout_s: float = 5.0
    hold_s: float = 0.0
    capacity_bytes: int | None = None
    pending_expiry_s: float = PENDING_EXPIRY_S

    def __post_init__(self) -> None:
        if not self.pending_expiry_s >= 0.0 or self.pending_expiry_s == float("inf"):
            raise ParameterError("relay.pending_expiry_s", "must be a finite number of seconds >= 0")


@dataclass(slots=True)
class _Relay:
    relay_id: str
    slave_sae: str
    path: list[str]
    message: dict[str, Any]


@dataclass(slots=True)
class RelayService:
    """One KME's side of the messages between KME processes (module docstring).

    Args:
        kme_id: this KME.
        store: its own key store.
        topology: the network's KMEs, SAEs and links.
        devices: the network's QKD devices (those of this KME's links feed it).
        client: how it calls its peers.
        settings: timeouts and capacity.
        remote_levels: the levels of links between two other KMEs, as their reports tell them
            (:meth:`.link_state.LinkStateTable.level`); None: :data:`UNKNOWN_LEVEL_BYTES`.
    """

    kme_id: str
    store: KeyStore
    topology: KmsTopology
    devices: Mapping[str, DeviceEnd]
    client: PeerClient
    settings: RelaySettings = field(default_factory=RelaySettings)
    remote_levels: PoolLevel | None = None
    _tasks: set[asyncio.Future[Any]] = field(default_factory=set)
    _mine: dict[str, DeviceEnd] = field(default_factory=dict)
    _neighbours: set[str] = field(default_factory=set)
    _void_due: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._count_levels()
        self._mine = {d.link: d for d in self.devices.values() if d.kme == self.kme_id}
        self._neighbours = set(self.topology.neighbours(self.kme_id))

    # -- levels ---------------------------------------------------------------------------------------

    def pool_level(self, kme_a: str, kme_b: str) -> int:
        """Bytes of key ready on the link between two KMEs, as this KME knows it: for its own links, the keys it
        may send to the other KME; for the others, what their KMEs reported (:attr:`remote_levels`)."""
        if self.kme_id not in (kme_a, kme_b):
            return UNKNOWN_LEVEL_BYTES if self.remote_levels is None else self.remote_levels(kme_a, kme_b)
        peer = kme_b if kme_a == self.kme_id else kme_a
        return self._level(peer)

    def _level(self, peer: str) -> int:
        """The bytes this KME may send to ``peer``, as its store's levels count them (at every commit)."""
        return self.store.pool_level(*send_pool(self.kme_id, peer))

    def _count_levels(self) -> None:
        """Count the link keys ready in the store into its levels (at start-up: afterwards every commit does)."""
        connection = self.store.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(
                self.store.sql(
                    "SELECT peer_kme, sender, COALESCE(SUM(size_bytes), 0) FROM link_keys"
                    " WHERE kme_id = ? AND state = ? GROUP BY peer_kme, sender"
                ),
                (self.kme_id, _READY),
            )
            rows = cursor.fetchall()
            connection.rollback()
        finally:
            connection.close()
        counted = Writes()
        for peer, sender, nbytes in rows:
            for pool in _direction_pools(self.kme_id, str(peer), str(sender)):
                counted.added[pool] = counted.added.get(pool, 0) + int(nbytes)
        self.store.settle(counted)

    # -- link keys: the devices' halves and the partner's digests ------------------------------------

    def pool_key(self, cursor: Any, writes: Writes, end: DeviceEnd, ksid: str, index: int, key: bytes) -> int:
        """:data:`~qinternet.kms.southbound.PoolKey` for this KME's devices: into its link keys."""
        return pool_link_key_in(
            self.store, cursor, writes, end, ksid, index, key, capacity_bytes=self.settings.capacity_bytes
        )

    async def pushed(self, end: DeviceEnd, ksid: str, keys: Sequence[tuple[int, bytes]]) -> None:
        """After a push is committed: send the digests of its keys to the partner KME (in the background; the
        sweep sends again what does not arrive)."""
        items = [(index, key_digest(ksid, index, key)) for index, key in keys]
        if items:
            self._spawn(self._send_digests(end, ksid, items))

    def _spawn(self, awaitable: Any) -> asyncio.Future[Any]:
        task: asyncio.Future[Any] = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _send_digests(self, end: DeviceEnd, ksid: str, items: Sequence[tuple[int, bytes]]) -> None:
        body = {
            "Key_stream_ID": ksid,
            "link": end.link,
            "items": [{"index": i, "digest": base64.b64encode(d).decode()} for i, d in items],
        }
        try:
            response = await self.client.post(end.peer_kme, "digests", body, self.settings.timeout_s)
        except PeerUnreachableError as exc:
            logger.info("kme=%s digests to %s not sent (sent again later): %s", self.kme_id, end.peer_kme, exc)
            return
        if response.status_code != 200:
            logger.warning("kme=%s %s refused digests: %s", self.kme_id, end.peer_kme, response.text[:200])
            return
        answers = response.json().get("items", [])
        agreed = [(i, d) for (i, d), a in zip(items, answers, strict=False) if a.get("outcome") == "agreed"]
        if agreed:  # the partner found our digests equal to its halves: ours go into the pool too
            await self.store.writer().run(lambda cursor, writes: self._digests_in(cursor, writes, end, ksid, agreed))

    def _digests_of(
        self, cursor: Any, writes: Writes, end: DeviceEnd, ksid: str, items: Sequence[tuple[int, bytes]]
    ) -> list[str]:
        """:meth:`_digests_in` for digests the partner KME sent, once the stream is known to be of ``end``'s
        link: one of another link is refused (400, logged: a neighbour must not mark another link's halves
        mismatched); one this KME has not seen yet is answered ``waiting`` with nothing kept (this KME's own
        half, when its device pushes it, brings its digest to the partner)."""
        cursor.execute(self.store.sql("SELECT link FROM device_streams WHERE ksid = ?"), (ksid,))
        row = cursor.fetchone()
        if row is None:
            return ["waiting"] * len(items)
        if str(row[0]) != end.link:
            raise _RefusedError(400, "refused", f"stream {ksid} is not of the link {end.link[:100]!r}")
        return self._digests_in(cursor, writes, end, ksid, items)

    def _digests_in(
        self, cursor: Any, writes: Writes, end: DeviceEnd, ksid: str, items: Sequence[tuple[int, bytes]]
    ) -> list[str]:
        """The partner's digests for ``items``: ``agreed`` (this KME pooled or had pooled its half),
        ``waiting`` (its half is not here yet: the digest is kept as the partner's row; or its half expired:
        nothing changes, the index is spent here) or ``mismatch``."""
        store = self.store
        select = store.sql("SELECT state, digest, material FROM device_keys WHERE ksid = ? AND idx = ? AND kme_id = ?")
        update = store.sql(
            "UPDATE device_keys SET state = ?, material = NULL WHERE ksid = ? AND idx = ? AND kme_id = ?"
        )
        insert = store.sql(
            "INSERT INTO device_keys (ksid, idx, kme_id, state, digest, material, created_at)"
            " VALUES (?, ?, ?, ?, ?, NULL, ?)"
        )
        now = time.time()
        outcomes = []
        for index, digest in items:
            cursor.execute(select, (ksid, index, end.kme))
            own = cursor.fetchone()
            if own is not None and str(own[0]) == _EXPIRED:  # never pooled here: the partner's copy is never used
                outcomes.append("waiting")
                continue
            cursor.execute(select, (ksid, index, end.peer_kme))
            theirs = cursor.fetchone()
            if own is None:
                if theirs is None:
                    cursor.execute(insert, (ksid, index, end.peer_kme, "pending", digest, now))
                same = theirs is None or hmac.compare_digest(bytes(theirs[1]), digest)
                outcomes.append("waiting" if same else "mismatch")
                continue
            state, own_digest, material = str(own[0]), bytes(own[1]), own[2]
            equal = hmac.compare_digest(own_digest, digest)
            if state == "pending" and equal:
                key = store.unseal((end.kme, ksid, str(index), "device"), bytes(material))
                state = "pooled" if self.pool_key(cursor, writes, end, ksid, index, key) else "discarded"
            elif state == "pending":
                state = "mismatched"
                writes.ledger.append((now, "mismatched", end.kme_a, end.kme_b, None, None, None, 0))
            cursor.execute(update, (state, ksid, index, end.kme))
            if theirs is None:
                cursor.execute(insert, (ksid, index, end.peer_kme, state, digest, now))
            else:
                cursor.execute(update, (state, ksid, index, end.peer_kme))
            outcomes.append("agreed" if equal and state in ("pooled", "discarded") else "mismatch")
        return outcomes

    # -- relays: the master ----------------------------------------------------------------------------

    async def issue(
        self, *, master_sae: str, slaves: Sequence[tuple[str, str]], number: int, size_bits: int
    ) -> list[DeliveredKey]:
        """Keys for the master SAE, relayed to every slave ``(SAE, its KME)`` and committed there before they
        are returned (module docstring).

        Raises:
            NotEnoughKeyError: this KME's first hop is short (nothing taken), or no path.
            RelayFailedError: the relay failed further on and was voided.
        """
        nbytes = size_bits // 8
        if all(kme == self.kme_id for _, kme in slaves):  # every slave here: the one-store issue
            routes = [(sae, [self.kme_id]) for sae, _ in slaves]
            return await self.store.writer().issue(
                master_kme=self.kme_id, master_sae=master_sae, slaves=routes, number=number, size_bits=size_bits
            )
        paths = []
        for sae, kme in slaves:
            path = self.topology.widest_path(self.kme_id, kme, self.pool_level)
            if path is None:
                raise NotEnoughKeyError(f"no path from {self.kme_id} to {sae}'s KME holds key on every hop")
            paths.append((sae, path))
        key_ids = [str(uuid.uuid4()) for _ in range(number)]

        def start(cursor: Any, writes: Writes) -> tuple[list[_Relay], list[bytes]]:
            return self._start_in(cursor, writes, master_sae, paths, key_ids, nbytes)

        relays, material = await self.store.writer().run(start)
        answers = await asyncio.gather(*(self._send(relay) for relay in relays))
        failed = [(relay, why) for relay, why in zip(relays, answers, strict=True) if why is not None]
        if failed:
            await self.store.writer().run(lambda cursor, writes: self._set_in(cursor, relays, _VOIDING))
            voids = self._spawn(
                asyncio.gather(
                    *(self._void(r.relay_id, r.path, master_sae, _pieces_of(json.dumps(r.message))) for r in relays)
                )
            )
            with contextlib.suppress(TimeoutError):  # not acknowledged yet: they go on; the sweep sends them again
                await asyncio.wait_for(asyncio.shield(voids), VOID_WAIT_S)
            raise RelayFailedError("; ".join(f"{relay.slave_sae}: {why}" for relay, why in failed[:3]))
        local = [sae for sae, path in paths if len(path) == 1]

        def complete(cursor: Any, writes: Writes) -> None:
            self._set_in(cursor, relays, _COMPLETED)
            for sae in local:
                for key_id, key in zip(key_ids, material, strict=True):
                    self._reserve(writes, key_id, sae, master_sae, key)

        await self.store.writer().run(complete)
        for relay in relays:
            logger.info(
                "kme=%s relay %s to %s completed along %s",
                self.kme_id,
                relay.relay_id,
                relay.slave_sae,
                "-".join(relay.path),
            )
        return [DeliveredKey(key_id=k, material=m) for k, m in zip(key_ids, material, strict=True)]

    def _start_in(
        self,
        cursor: Any,
        writes: Writes,
        master_sae: str,
        paths: Sequence[tuple[str, list[str]]],
        key_ids: Sequence[str],
        nbytes: int,
    ) -> tuple[list[_Relay], list[bytes]]:
        """Take the first hop's keys of every remote slave's path and commit the relays as ``sending``."""
        material: list[bytes | None] = [None] * len(key_ids)
        relays = []
        now = time.time()
        for sae, path in paths:
            if len(path) == 1:
                continue
            keys = []
            for i, key_id in enumerate(key_ids):
                pieces, pad = self._take_out(cursor, writes, path[1], nbytes)
                value = None
                if material[i] is None:
                    material[i] = pad  # the first hop's key is the end-to-end key
                else:
                    value = base64.b64encode(_xor(material[i] or b"", pad)).decode()
                keys.append({"key_ID": key_id, "pieces": pieces, "value": value})
            relay = _Relay(
                relay_id=str(uuid.uuid4()),
                slave_sae=sae,
                path=path,
                message={
                    "initiator_sae_id": master_sae,
                    "target_sae_ids": [sae],
                    "path": path,
                    "hop": 1,
                    "size": 8 * nbytes,
                    "keys": keys,
                },
            )
            relay.message["relay_ID"] = relay.relay_id
            relays.append(relay)
            keys_now = b"".join(m or b"" for m in material)
            sealed = self.store.seal((self.kme_id, relay.relay_id, "relay", master_sae), keys_now)
            outgoing = json.dumps(relay.message)  # names keys, carries none (the first hop's are K)
            self._insert(
                cursor, relay.relay_id, "master", _SENDING, path, None, outgoing, master_sae, sae, key_ids, sealed, now
            )
        return relays, [m or b"" for m in material]

    def _insert(
        self,
        cursor: Any,
        relay_id: str,
        role: str,
        state: str,
        path: Sequence[str],
        digest: bytes | None,
        outgoing: str | None,
        master_sae: str,
        slave_sae: str,
        key_ids: Sequence[str],
        material: bytes | None,
        now: float,
    ) -> None:
        cursor.execute(
            self.store.sql(
                "INSERT INTO relays (relay_id, kme_id, role, state, path, digest, outgoing, master_sae, slave_sae,"
                " key_ids, material, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (
                relay_id,
                self.kme_id,
                role,
                state,
                json.dumps(list(path)),
                digest,
                outgoing,
                master_sae,
                slave_sae,
                json.dumps(list(key_ids)),
                material,
                now,
            ),
        )

    def _set_in(self, cursor: Any, relays: Sequence[_Relay], state: str) -> None:
        """``sending`` -> ``completed`` or ``voiding``: never one after the other (a completed relay is never
        voided, so the key the master SAE got is never voided at the slave's KME)."""
        for relay in relays:
            cursor.execute(
                self.store.sql(
                    "UPDATE relays SET state = ?, material = NULL WHERE relay_id = ? AND kme_id = ? AND state = ?"
                ),
                (state, relay.relay_id, self.kme_id, _SENDING),
            )

    def _take_out(self, cursor: Any, writes: Writes, peer: str, nbytes: int) -> tuple[list[dict[str, Any]], bytes]:
        """The oldest keys this KME may send to ``peer``, enough for ``nbytes``: named, and their bytes."""
        store = self.store
        pieces: list[dict[str, Any]] = []
        parts: list[bytes] = []
        have = 0
        while have < nbytes:
            cursor.execute(
                store.sql(
                    "SELECT ksid, idx, size_bytes, material FROM link_keys WHERE kme_id = ? AND peer_kme = ?"
                    " AND sender = ? AND state = ? ORDER BY created_at, idx LIMIT 1"
                ),
                (self.kme_id, peer, self.kme_id, _READY),
            )
            row = cursor.fetchone()
            if row is None:
                raise NotEnoughKeyError(f"the link {self.kme_id}-{peer} holds {have} of the {nbytes} bytes needed")
            ksid, index, size, material = str(row[0]), int(row[1]), int(row[2]), bytes(row[3])
            cursor.execute(
                store.sql("UPDATE link_keys SET state = ?, material = NULL WHERE ksid = ? AND idx = ? AND kme_id = ?"),
                (_USED, ksid, index, self.kme_id),
            )
            pieces.append({"ksid": ksid, "index": index})
            parts.append(store.unseal(_seal_row(self.kme_id, ksid, index), material))
            have += size
            _count_taken(writes, _direction_pools(self.kme_id, peer, self.kme_id), size)
        self._discard_tail(writes, peer, have - nbytes)
        return pieces, b"".join(parts)[:nbytes]

    def _discard_tail(self, writes: Writes, peer: str, nbytes: int) -> None:
        """The tail of the last key a relay takes (a key serves one relay): counted in the ledger, discarded."""
        if nbytes > 0:
            kme_a, kme_b = sorted((self.kme_id, peer))
            for end in self._mine.values():
                if end.peer_kme == peer:
                    kme_a, kme_b = end.kme_a, end.kme_b
                    break
            writes.ledger.append((time.time(), "discarded", kme_a, kme_b, None, None, None, 8 * nbytes))

    async def _send(self, relay: _Relay) -> str | None:
        """Send the relay's first message until it is committed at the slave's KME (None) or fails (why)."""
        deadline = time.monotonic() + self.settings.timeout_s
        wait_s = 0.05
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return f"no answer from {relay.path[1]} in {self.settings.timeout_s:g} s"
            try:
                response = await self.client.post(relay.path[1], "ext_keys", relay.message, left)
            except PeerUnreachableError as exc:
                why = f"{relay.path[1]} unreachable ({exc})"
            else:
                ack = response.json().get("ack_status") if response.status_code == 200 else None
                if ack == _RELAYED:
                    return None
                if ack != _UNREACHABLE:
                    return f"{relay.path[1]} answered {response.status_code} {ack or response.text[:200]}"
                why = response.json().get("message", "a KME on the path is unreachable")
            if time.monotonic() + wait_s >= deadline:
                return why
            await asyncio.sleep(wait_s)
            wait_s = min(0.5, 2 * wait_s)

    async def _void(
        self, relay_id: str, path: Sequence[str], master_sae: str, pieces: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Ask every KME of the path to void the relay, and the next one to drop the first hop's keys
        ``pieces`` (:meth:`release`); marks it voided here once all acknowledged."""
        body = {"relay_ID": relay_id, "initiator_sae_id": master_sae, "path": list(path)}

        async def one(peer: str, call: str, message: Mapping[str, Any]) -> bool:
            try:
                response = await self.client.post(peer, call, message, self.settings.timeout_s)
            except PeerUnreachableError:
                return False
            return response.status_code == 200

        calls = [one(peer, "void", body) for peer in path[1:]]
        if pieces:
            calls.append(one(path[1], "release", {"relay_ID": relay_id, "pieces": list(pieces)}))
        done = await asyncio.gather(*calls)
        if all(done):
            await self.store.writer().run(
                lambda cursor, writes: cursor.execute(
                    self.store.sql("UPDATE relays SET state = ? WHERE relay_id = ? AND kme_id = ? AND state = ?"),
                    (_VOIDED, relay_id, self.kme_id, _VOIDING),
                )
            )
            logger.info("kme=%s relay %s voided along %s", self.kme_id, relay_id, "-".join(path))
        return all(done)

    def _reserve(self, writes: Writes, key_id: str, slave_sae: str, master_sae: str, key: bytes) -> None:
        row = (self.kme_id, key_id, slave_sae, master_sae)
        now = time.time()
        writes.reserved.append(
            (*row, 8 * len(key), KeyState.RESERVED.name, self.store.seal(row, key), now),
        )

    # -- relays: the KMEs after the master -------------------------------------------------------------

    def _check_path(self, caller: str | None, path: Sequence[str], hop: int, master_sae: str, slave_sae: str) -> None:
        if caller is None or hop >= len(path) or path[hop] != self.kme_id or path[hop - 1] != caller:
            raise _RefusedError(401, "refused", f"{caller!r} is not the previous hop of this KME on the path")
        if caller not in self._neighbours or (hop + 1 < len(path) and path[hop + 1] not in self._neighbours):
            raise _RefusedError(400, "refused", "the path does not follow this KME's links")
        if hop + 1 < len(path) and self.kme_id not in self.topology.relays:
            raise _RefusedError(400, "refused", "this KME is not a trusted node: it passes no key on")
        if hop + 1 == len(path) and self.topology.kme_of(slave_sae) != self.kme_id:
            raise _RefusedError(400, "refused", f"{slave_sae!r} is not an SAE of this KME")
        if self.topology.kme_of(master_sae) != path[0]:
            raise _RefusedError(400, "refused", f"{master_sae!r} is not an SAE of {path[0]}")

    def _receive_in(self, cursor: Any, writes: Writes, body: ExtKeys, digest: bytes) -> tuple[str, str | None, bool]:
        """One hop's step: (state, the message to send on, whether it is new)."""
        store = self.store
        cursor.execute(
            store.sql("SELECT state, digest, outgoing FROM relays WHERE relay_id = ? AND kme_id = ?"),
            (body.relay_ID, self.kme_id),
        )
        row = cursor.fetchone()
        if row is not None:
            if row[1] is not None and not hmac.compare_digest(bytes(row[1]), digest):
                raise _RefusedError(400, "refused", f"relay {body.relay_ID} was received here with other content")
            return str(row[0]), row[2], False
        previous, last = body.path[body.hop - 1], body.hop + 1 == len(body.path)
        slave_sae, now = body.target_sae_ids[0], time.time()
        values = []
        for key in body.keys:
            pad = self._take_named(cursor, writes, previous, key.pieces, body.size // 8)
            if key.value is None:
                values.append(pad)
                continue
            try:
                carried = base64.b64decode(key.value, validate=True)
            except (binascii.Error, ValueError):
                raise _RefusedError(400, "refused", "a key's value is not base64") from None
            if len(carried) != len(pad):
                raise _RefusedError(400, "refused", "a key's value is not of the relay's size")
            values.append(_xor(carried, pad))
        key_ids = [key.key_ID for key in body.keys]
        for key_id in key_ids:
            writes.ledger.append(
                (now, "relayed", previous, self.kme_id, key_id, body.initiator_sae_id, slave_sae, body.size)
            )
        if last:
            for key_id, value in zip(key_ids, values, strict=True):
                self._reserve(writes, key_id, slave_sae, body.initiator_sae_id, value)
            self._insert(
                cursor,
                body.relay_ID,
                "slave",
                _RESERVED,
                body.path,
                digest,
                None,
                body.initiator_sae_id,
                slave_sae,
                key_ids,
                None,
                now,
            )
            return _RESERVED, None, True
        following = body.path[body.hop + 1]
        keys = []
        for key_id, value in zip(key_ids, values, strict=True):
            pieces, pad = self._take_out(cursor, writes, following, body.size // 8)
            keys.append({"key_ID": key_id, "pieces": pieces, "value": base64.b64encode(_xor(value, pad)).decode()})
        outgoing = json.dumps(body.model_dump() | {"hop": body.hop + 1, "keys": keys})
        self._insert(
            cursor,
            body.relay_ID,
            "middle",
            _FORWARDING,
            body.path,
            digest,
            outgoing,
            body.initiator_sae_id,
            slave_sae,
            key_ids,
            None,
            now,
        )
        return _FORWARDING, outgoing, True

    def _take_named(self, cursor: Any, writes: Writes, previous: str, pieces: Sequence[_Piece], nbytes: int) -> bytes:
        """The bytes of the keys ``pieces`` names, which ``previous`` sent with (used here from now on)."""
        store = self.store
        select = store.sql(
            "SELECT peer_kme, sender, state, size_bytes, material FROM link_keys"
            " WHERE ksid = ? AND idx = ? AND kme_id = ?"
        )
        parts = []
        for piece in pieces:
            cursor.execute(select, (piece.ksid, piece.index, self.kme_id))
            row = cursor.fetchone()
            if row is None and self._agreed_by_naming(cursor, writes, previous, piece):
                cursor.execute(select, (piece.ksid, piece.index, self.kme_id))
                row = cursor.fetchone()
            if row is None:
                raise _RefusedError(200, _NOT_PRESENT, f"no key {piece.ksid}/{piece.index} from {previous} here")
            if str(row[0]) != previous or str(row[1]) != previous:
                raise _RefusedError(
                    400, "refused", f"key {piece.ksid}/{piece.index} is not one {previous} may send with"
                )
            if str(row[2]) != _READY:
                raise _RefusedError(400, "refused", f"key {piece.ksid}/{piece.index} was used already (a replay?)")
            cursor.execute(
                store.sql("UPDATE link_keys SET state = ?, material = NULL WHERE ksid = ? AND idx = ? AND kme_id = ?"),
                (_USED, piece.ksid, piece.index, self.kme_id),
            )
            parts.append(store.unseal(_seal_row(self.kme_id, piece.ksid, piece.index), bytes(row[4])))
            _count_taken(writes, _direction_pools(self.kme_id, previous, previous), int(row[3]))
        pad = b"".join(parts)
        if len(pad) < nbytes or len(pad) - len(parts[-1]) >= nbytes:
            raise _RefusedError(400, "refused", "the keys named do not make the relay's size")
        self._discard_tail(writes, previous, len(pad) - nbytes)
        return pad[:nbytes]

    def _agreed_by_naming(self, cursor: Any, writes: Writes, previous: str, piece: _Piece) -> bool:
        """A key the previous KME names while this KME's half still waits for its digest: the previous KME can
        only name a key whose digests it found equal, so the half goes into the pool now."""
        cursor.execute(self.store.sql("SELECT link FROM device_streams WHERE ksid = ?"), (piece.ksid,))
        row = cursor.fetchone()
        end = None if row is None else self._mine.get(str(row[0]))
        if end is None or end.peer_kme != previous:
            return False
        cursor.execute(
            self.store.sql("SELECT state, digest FROM device_keys WHERE ksid = ? AND idx = ? AND kme_id = ?"),
            (piece.ksid, piece.index, self.kme_id),
        )
        own = cursor.fetchone()
        if own is None or str(own[0]) != "pending":
            return False
        return self._digests_in(cursor, writes, end, piece.ksid, [(piece.index, bytes(own[1]))]) == ["agreed"]

    async def receive(self, caller: str | None, body: ExtKeys, raw: Mapping[str, Any]) -> dict[str, Any]:
        """``ext_keys`` at a KME after the master: its step, committed, then sent on (module docstring)."""
        self._check_path(caller, body.path, body.hop, body.initiator_sae_id, body.target_sae_ids[0])
        digest = hashlib.sha256(_canonical(raw)).digest()
        state, outgoing, new = await self.store.writer().run(
            lambda cursor, writes: self._receive_in(cursor, writes, body, digest)
        )
        ack = {"relay_ID": body.relay_ID, "key_IDs": [k.key_ID for k in body.keys]}
        if state == _RESERVED:
            return ack | {"ack_status": _RELAYED}
        if state != _FORWARDING or outgoing is None:
            return ack | {"ack_status": _VOIDED if state == _VOIDED else _FAILED}
        if new and self.settings.hold_s > 0:
            await asyncio.sleep(self.settings.hold_s)
        following = body.path[body.hop + 1]
        left = max(0.05, self.settings.timeout_s)
        try:
            response = await self.client.post(following, "ext_keys", json.loads(outgoing), left)
        except PeerUnreachableError as exc:
            return ack | {"ack_status": _UNREACHABLE, "message": f"{following} unreachable ({exc})"}
        if response.status_code != 200:
            return ack | {"ack_status": _FAILED, "message": f"{following} answered {response.status_code}"}
        answer: dict[str, Any] = response.json()
        return ack | {"ack_status": answer.get("ack_status", _FAILED), "message": answer.get("message", "")}

    async def void(self, caller: str | None, body: _Void) -> dict[str, Any]:
        """``void`` from the master: the relay is voided here (a tombstone if it never came), and the next KME
        of the path told to drop the keys this KME had sent it (:meth:`release`) before the answer.

        Only the relay's own master may void it: the caller must be ``path[0]`` of the relay as this KME
        stored it, with the same master SAE and path (a relay this KME never saw: the KME of the master SAE).
        The master voids only relays it has not completed (``sending`` -> ``voiding``, never after
        ``completed``; both transitions committed in its store), so a key the master SAE holds is never
        voided at the slave's KME. A void racing a late completion at the slave (its answer lost or late)
        voids a reserved key whose master SAE got 503: at worst the slave SAE fetched it first, a key no master
        SAE holds (wasted, never used twice)."""
        if (
            caller is None
            or caller != body.path[0]
            or self.kme_id not in body.path[1:]
            or self.topology.kme_of(body.initiator_sae_id) != caller
        ):
            raise _RefusedError(401, "refused", f"{caller!r} is not the master KME of the relay")

        def work(cursor: Any, writes: Writes) -> list[dict[str, Any]]:
            store = self.store
            cursor.execute(
                store.sql(
                    "SELECT role, state, key_ids, path, master_sae, outgoing FROM relays"
                    " WHERE relay_id = ? AND kme_id = ?"
                ),
                (body.relay_ID, self.kme_id),
            )
            row = cursor.fetchone()
            if row is None:
                self._insert(
                    cursor,
                    body.relay_ID,
                    "tombstone",
                    _VOIDED,
                    body.path,
                    None,
                    None,
                    body.initiator_sae_id,
                    "",
                    [],
                    None,
                    time.time(),
                )
                return []
            if json.loads(row[3]) != list(body.path) or str(row[4]) != body.initiator_sae_id:
                raise _RefusedError(401, "refused", f"{caller!r} is not the master KME of relay {body.relay_ID}")
            if str(row[0]) == "slave" and str(row[1]) == _RESERVED:
                for key_id in json.loads(row[2]):
                    cursor.execute(
                        store.sql(
                            "UPDATE keys SET state = ?, material = NULL WHERE kme_id = ? AND key_id = ? AND state = ?"
                        ),
                        (KeyState.VOIDED.name, self.kme_id, key_id, KeyState.RESERVED.name),
                    )
            sent = _pieces_of(row[5]) if str(row[0]) == "middle" else []
            cursor.execute(  # the message's values (K xor pad) erased; the pieces it named kept for the release
                store.sql("UPDATE relays SET state = ?, outgoing = ? WHERE relay_id = ? AND kme_id = ?"),
                (_VOIDED, json.dumps({"pieces": sent}) if sent else None, body.relay_ID, self.kme_id),
            )
            return sent

        sent = await self.store.writer().run(work)
        if sent:
            following = body.path[body.path.index(self.kme_id) + 1]
            release = {"relay_ID": body.relay_ID, "pieces": sent}
            try:
                response = await self.client.post(following, "release", release, self.settings.timeout_s / 2)
            except PeerUnreachableError as exc:
                raise _RefusedError(503, "failed", f"{following} unreachable for the release ({exc})") from None
            if response.status_code != 200:
                raise _RefusedError(503, "failed", f"{following} answered the release {response.status_code}")
        logger.info("kme=%s relay %s voided by %s", self.kme_id, body.relay_ID, caller)
        return {"relay_ID": body.relay_ID, "ack_status": _VOIDED}

    async def release(self, caller: str | None, body: _Release) -> dict[str, Any]:
        """``release`` from the previous KME of a voided relay: the keys it had sent with (``pieces``) are
        dropped here (``used``; those this KME used already stay so). Only keys the caller may send with are
        touched, so a caller can only burn keys it could have used itself; none is ever used twice."""
        if caller is None or caller not in self._neighbours:
            raise _RefusedError(401, "refused", f"{caller!r} is not a neighbour of this KME")

        def work(cursor: Any, writes: Writes) -> int:
            store = self.store
            select = store.sql(
                "SELECT size_bytes FROM link_keys WHERE ksid = ? AND idx = ? AND kme_id = ? AND peer_kme = ?"
                " AND sender = ? AND state = ?"
            )
            update = store.sql(
                "UPDATE link_keys SET state = ?, material = NULL WHERE ksid = ? AND idx = ? AND kme_id = ?"
            )
            dropped = 0
            for piece in body.pieces:
                cursor.execute(select, (piece.ksid, piece.index, self.kme_id, caller, caller, _READY))
                row = cursor.fetchone()
                if row is None:
                    continue
                cursor.execute(update, (_USED, piece.ksid, piece.index, self.kme_id))
                _count_taken(writes, _direction_pools(self.kme_id, caller, caller), int(row[0]))
                dropped += 1
            return dropped

        dropped = await self.store.writer().run(work)
        if dropped:
            logger.info("kme=%s relay %s: %d key(s) %s sent with dropped", self.kme_id, body.relay_ID, dropped, caller)
        return {"relay_ID": body.relay_ID, "ack_status": _VOIDED}

    # -- start-up and the sweep ------------------------------------------------------------------------

    def recover(self) -> int:
        """At start-up: relays this KME was master of and had not completed are to be voided (their SAE's
        request died with the process); returns how many."""
        connection = self.store.raw_connection()
        try:
            cursor = connection.cursor()
            self.store.begin(cursor)
            cursor.execute(
                self.store.sql(
                    "UPDATE relays SET state = ?, material = NULL WHERE kme_id = ? AND role = ? AND state = ?"
                ),
                (_VOIDING, self.kme_id, "master", _SENDING),
            )
            count = int(cursor.rowcount or 0)
            connection.commit()
        finally:
            connection.close()
        if count:
            logger.warning("kme=%s voiding %d relay(s) left in flight by a stop", self.kme_id, count)
        return count

    def _due(self, now: float) -> tuple[list[Any], list[Any], list[Any]]:
        """The sweep's reads (in a thread, off the event loop): relays this KME voids and has not had
        acknowledged, its own halves still pending whose digests are due again (by the index on
        ``kme_id, state``; not the partner's digests nor the halves long pooled), and the halves and partners'
        digests pending longer than :attr:`RelaySettings.pending_expiry_s` (none are due again)."""
        store = self.store
        expiry_s = self.settings.pending_expiry_s
        cutoff = now - expiry_s if expiry_s > 0 else float("-inf")
        kmes = [self.kme_id, *sorted(self._neighbours)]
        with store.engine.connect() as connection:
            voiding = connection.exec_driver_sql(
                store.sql(
                    "SELECT relay_id, path, master_sae, outgoing FROM relays WHERE kme_id = ? AND role = ?"
                    " AND state = ? ORDER BY created_at, relay_id LIMIT 10000"
                ),
                (self.kme_id, "master", _VOIDING),
            ).all()
            pending = connection.exec_driver_sql(
                store.sql(
                    "SELECT k.ksid, k.idx, k.digest, s.link, k.created_at FROM device_keys k"
                    " JOIN device_streams s ON s.ksid = k.ksid WHERE k.kme_id = ? AND k.state = ?"
                    " AND COALESCE(k.resend_at, k.created_at + ?) <= ? AND k.created_at > ?"
                    " ORDER BY COALESCE(k.resend_at, k.created_at + ?), k.idx LIMIT ?"
                ),
                (self.kme_id, _PENDING, _PENDING_AGE_S, now, cutoff, _PENDING_AGE_S, RESEND_BATCH),
            ).all()
            expiring: list[Any] = []
            if expiry_s > 0:
                expiring = list(
                    connection.exec_driver_sql(
                        store.sql(
                            "SELECT k.ksid, k.idx, k.kme_id, s.kme_a, s.kme_b, s.chunk_bytes FROM device_keys k"
                            " JOIN device_streams s ON s.ksid = k.ksid"
                            f" WHERE k.kme_id IN ({', '.join('?' * len(kmes))}) AND k.state = ? AND k.created_at <= ?"
                            " LIMIT ?"
                        ),
                        (*kmes, _PENDING, cutoff, EXPIRE_BATCH),
                    ).all()
                )
        return list(voiding), list(pending), expiring

    def _expire_in(self, cursor: Any, writes: Writes, rows: Sequence[Any]) -> int:
        """Expire the halves ``rows`` (:meth:`_due`) still pending: this KME's own are ``expired`` (material
        erased, the index spent, counted in the ledger as discarded); a partner's digest is forgotten (as if it
        never came). Each row is changed only if still pending (one agreed since the read stays). Returns the
        bytes of this KME's own halves expired."""
        store = self.store
        expire = store.sql(
            "UPDATE device_keys SET state = ?, material = NULL WHERE ksid = ? AND idx = ? AND kme_id = ? AND state = ?"
        )
        forget = store.sql("DELETE FROM device_keys WHERE ksid = ? AND idx = ? AND kme_id = ? AND state = ?")
        bits: dict[tuple[str, str], int] = {}
        for ksid, index, kme, kme_a, kme_b, chunk_bytes in rows:
            if str(kme) != self.kme_id:
                cursor.execute(forget, (ksid, index, kme, _PENDING))
                continue
            cursor.execute(expire, (_EXPIRED, ksid, index, kme, _PENDING))
            if cursor.rowcount == 1:
                link = (str(kme_a), str(kme_b))
                bits[link] = bits.get(link, 0) + 8 * int(chunk_bytes)
        now = time.time()
        for (kme_a, kme_b), nbits in bits.items():
            writes.ledger.append((now, "discarded", kme_a, kme_b, None, None, None, nbits))
        return sum(bits.values()) // 8

    async def sweep(self) -> None:
        """Send again the voids not yet acknowledged (at most :data:`VOID_BATCH` at once, those due longest
        first; one that fails waits longer each time, so a relay whose KME is away starves no other), expire
        the halves pending longer than :attr:`RelaySettings.pending_expiry_s` (at most :data:`EXPIRE_BATCH`)
        and send again the digests of the others (at most :data:`RESEND_BATCH`, with back-off)."""
        store = self.store
        now, clock = time.time(), time.monotonic()
        voiding, pending, expiring = await asyncio.get_running_loop().run_in_executor(None, self._due, now)
        if expiring:
            nbytes = await store.writer().run(lambda cursor, writes: self._expire_in(cursor, writes, expiring))
            if nbytes:
                logger.info(
                    "kme=%s expired %d byte(s) of halves pending longer than %g s",
                    self.kme_id,
                    nbytes,
                    self.settings.pending_expiry_s,
                )
        waiting = {str(row[0]) for row in voiding}
        self._void_due = {k: v for k, v in self._void_due.items() if k in waiting}
        due = [row for row in voiding if self._void_due.get(str(row[0]), (0.0, 0.0))[0] <= clock][:VOID_BATCH]
        done = await asyncio.gather(
            *(self._void(str(r[0]), json.loads(r[1]), str(r[2]), _pieces_of(r[3])) for r in due)
        )
        for row, ok in zip(due, done, strict=True):
            if not ok:
                wait_s = min(VOID_BACKOFF_MAX_S, 2 * self._void_due.get(str(row[0]), (0.0, SWEEP_S / 2))[1])
                self._void_due[str(row[0])] = (time.monotonic() + wait_s, wait_s)
        if not pending:
            return
        by_stream: dict[tuple[str, str], list[tuple[int, bytes]]] = {}
        for ksid, index, digest, link, _ in pending:
            by_stream.setdefault((str(ksid), str(link)), []).append((int(index), bytes(digest)))
        again = [
            (now + min(RESEND_MAX_S, max(RESEND_EVERY_S, (now - float(created)) / 2)), str(ksid), int(index))
            for ksid, index, _, _, created in pending
        ]
        await self.store.writer().run(
            lambda cursor, writes: cursor.executemany(
                store.sql("UPDATE device_keys SET resend_at = ? WHERE ksid = ? AND idx = ? AND kme_id = ?"),
                [(at, ksid, index, self.kme_id) for at, ksid, index in again],
            )
        )
        for (ksid, link), items in by_stream.items():
            end = self._mine.get(link)
            if end is not None:
                await self._send_digests(end, ksid, items)

    async def aclose(self) -> None:
        """Stop sending digests (the sweep after the next start sends them again), close the connections."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.client.aclose()

    # -- the routes ------------------------------------------------------------------------------------

    def add_routes(self, app: FastAPI) -> None:
        """The KME-to-KME calls on this KME's app; a caller that is not a peer KME gets 401 (logged)."""

        def caller(request: Request) -> str:
            name = request.scope.get(SAE_SCOPE_KEY)
            if not isinstance(name, str) or name not in self.topology.kmes or name == self.kme_id:
                shown = repr(name[:100]) if isinstance(name, str) else "a client without a certificate name"
                logger.warning("kme=%s refused (401): %s is not a peer KME", self.kme_id, shown)
                raise KmeError(401, MSG_UNAUTHORIZED, [{"KME_ID": "not a KME of this network"}])
            return name

        async def answer(request: Request, call: Any) -> dict[str, Any]:
            try:
                result: dict[str, Any] = await call
                return result
            except _RefusedError as exc:
                shown = request.scope.get(SAE_SCOPE_KEY)
                if exc.status == 200:
                    logger.warning("kme=%s relay from %s: %s", self.kme_id, shown, exc)
                    return {"ack_status": exc.ack, "message": str(exc)}
                logger.warning("kme=%s refused a message from %s (%d): %s", self.kme_id, shown, exc.status, exc)
                message = MSG_UNAUTHORIZED if exc.status == 401 else MSG_SERVER if exc.status >= 500 else MSG_BAD
                raise KmeError(exc.status, message, [{"relay": str(exc)}]) from None
            except NotEnoughKeyError as exc:
                logger.warning("kme=%s relay: %s", self.kme_id, exc)
                return {"ack_status": _NOT_PRESENT, "message": str(exc)}
            except SQLAlchemyError:
                logger.exception("key store unavailable")
                raise KmeError(503, MSG_SERVER, [{"keys": "key data access error"}]) from None

        @app.post(f"{PEER_PATH}/ext_keys")
        async def ext_keys(request: Request) -> dict[str, Any]:
            """A relay's keys over one hop (ETSI GS QKD 020's ext_keys, in this project's form)."""
            name = caller(request)
            body: ExtKeys = await _json(request, ExtKeys)
            return await answer(request, self.receive(name, body, body.model_dump()))

        @app.post(f"{PEER_PATH}/ext_keys_batch")
        async def ext_keys_batch(request: Request) -> dict[str, Any]:
            """Several relays' keys over one hop in one call (:meth:`PeerClient._queue`): each message is
            handled as an ``ext_keys`` call of its own, concurrently (so the writer commits their steps in
            one batch), and answered with its own status and body."""
            name = caller(request)
            batch: _ExtKeysBatch = await _json(request, _ExtKeysBatch)

            async def one(item: dict[str, Any]) -> dict[str, Any]:
                try:
                    message = ExtKeys.model_validate(item)
                except ValidationError as exc:
                    errors = exc.errors(include_url=False)
                    details = [{".".join(str(p) for p in e["loc"]) or "body": e["msg"]} for e in errors]
                    return {"status": 400, "body": {"message": MSG_BAD, "details": details[:10]}}
                try:
                    acked = await answer(request, self.receive(name, message, message.model_dump()))
                    return {"status": 200, "body": acked}
                except KmeError as exc:
                    body: dict[str, Any] = {"message": exc.message}
                    if exc.details:
                        body["details"] = exc.details
                    return {"status": exc.status, "body": body}

            return {"answers": list(await asyncio.gather(*(one(item) for item in batch.messages)))}

        @app.post(f"{PEER_PATH}/void")
        async def void(request: Request) -> dict[str, Any]:
            """The master voids a relay."""
            name = caller(request)
            body: _Void = await _json(request, _Void)
            return await answer(request, self.void(name, body))

        @app.post(f"{PEER_PATH}/release")
        async def release(request: Request) -> dict[str, Any]:
            """The previous KME of a voided relay: drop the keys it had sent with."""
            name = caller(request)
            body: _Release = await _json(request, _Release)
            return await answer(request, self.release(name, body))

        @app.post(f"{PEER_PATH}/digests")
        async def digests(request: Request) -> dict[str, Any]:
            """The partner KME's digests of its devices' halves."""
            name = caller(request)
            body: _Digests = await _json(request, _Digests)
            end = self._mine.get(body.link)
            if end is None or end.peer_kme != name:
                logger.warning("kme=%s refused digests of link %r from %s", self.kme_id, body.link[:100], name)
                raise KmeError(401, MSG_UNAUTHORIZED, [{"link": "not a link between this KME and the caller"}])
            try:
                items = [(i.index, base64.b64decode(i.digest, validate=True)) for i in body.items]
            except (binascii.Error, ValueError):
                raise KmeError(400, MSG_BAD, [{"digest": "not base64"}]) from None
            outcomes = await answer(
                request,
                _wrap(self.store.writer().run(lambda c, w: self._digests_of(c, w, end, body.Key_stream_ID, items))),
            )
            return {"items": [{"index": i, "outcome": o} for (i, _), o in zip(items, outcomes["items"], strict=True)]}


async def _wrap(call: Any) -> dict[str, Any]:
    return {"items": await call}
