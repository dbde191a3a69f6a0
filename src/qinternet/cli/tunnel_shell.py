"""The asyncio shell of ``qinternet tunnel``: sockets, KME calls and rotations around :mod:`qinternet.apps.tunnel`.

:func:`start_master` serves ``tunnel connect``: each local client gets a connection to the peer, opened
with a QKD key from ``enc_keys``; :func:`start_slave` serves ``tunnel listen``: each tunnel connection is
checked (its OPEN record must authenticate under the key its KME delivers by ID) before the local service
is dialled. KME calls are blocking HTTP (:class:`~qinternet.apps.etsi_client.KmeClient`), so they run in a
worker thread. A connection that breaks the protocol is cut (both sockets reset) and the reason logged on
the ``qinternet.tunnel`` logger, which never sees key material.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qinternet.apps.encryption import AES_KEY_BITS
from qinternet.apps.etsi_client import KmeRequestError, MasterKme, QkdKey, SlaveKme
from qinternet.apps.tunnel import (
    CONNECTION_ID_BYTES,
    FIXED_HEADER_BYTES,
    MAX_PAYLOAD_BYTES,
    RECORDS_PER_KEY,
    EpochKeys,
    KeyRef,
    KeySource,
    OnExhaustion,
    Opening,
    Position,
    RecordHeader,
    RecordType,
    RotationPolicy,
    TunnelError,
    epoch_keys,
    fallback_secret,
    next_position,
    open_record,
    parse_header,
    record_sizes,
    rotation_reason,
    seal,
)
from qinternet.errors import ParameterError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey

__all__ = ["Endpoint", "MasterSettings", "SlaveSettings", "parse_endpoint", "start_master", "start_slave"]

logger = logging.getLogger("qinternet.tunnel")

FALLBACK_WARNING = (
    "WARNING: NO QKD KEY: the KME has no key for {who}; rotating to an ML-KEM-768 hybrid key "
    "(previous key + ML-KEM): this epoch is NOT protected by QKD"
)
"""Logged at WARNING on every rotation that falls back (``--on-exhaustion hybrid``)."""
_UNAVAILABLE = (None, 503)
"""KME answers that mean 'no key now' (unreachable, or 503: not enough key, database down); others are final."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A TCP host and port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str, field: str, *, allow_zero: bool = False) -> Endpoint:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as an :class:`Endpoint`, or ``ParameterError(field, ...)``."""
    host, sep, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    ok = sep and host and 0 < len(host) <= 253 and port_text.isdigit() and len(port_text) <= 5
    if not ok or any(c.isspace() for c in host):
        raise ParameterError(field, f"must be HOST:PORT, e.g. 127.0.0.1:5432, got {text[:80]!r}")
    port = int(port_text)
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise ParameterError(field, f"port must be in [{0 if allow_zero else 1}, 65535], got {port}")
    return Endpoint(host, port)


@dataclass(frozen=True, slots=True, kw_only=True)
class MasterSettings:
    """``tunnel connect``: where to accept plaintext clients, the peer, and how keys are used.

    Attributes:
        peer: the slave's ``tunnel listen`` address.
        master_sae_id: this SAE's ID (its KME's Status says it).
        slave_sae_id: the peer SAE's ID, the keys' recipient.
        policy: when to rotate.
        on_exhaustion: what to do when the KME has no key for a rotation.
        mlkem_public: the slave's ML-KEM-768 public key (hybrid fallback only).
        retry_s: how long to wait before asking the KME again when it has no key, seconds.
    """

    peer: Endpoint
    master_sae_id: str
    slave_sae_id: str
    policy: RotationPolicy
    on_exhaustion: OnExhaustion = OnExhaustion.BLOCK
    mlkem_public: MLKEM768PublicKey | None = None
    retry_s: float = 1.0

    def __post_init__(self) -> None:
        if (self.on_exhaustion is OnExhaustion.HYBRID) != (self.mlkem_public is not None):
            raise ParameterError(
                "mlkem_public", "the hybrid fallback, and only it, needs the slave's ML-KEM public key"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaveSettings:
    """``tunnel listen``: the local service, and whether a fallback epoch is accepted.

    Attributes:
        forward: the service each tunnel connection is forwarded to.
        mlkem_private: this SAE's ML-KEM-768 private key; given, the master's hybrid fallback is accepted.
        open_timeout_s: how long a new connection may take to present its OPEN record, seconds.
        key_wait_s: how long to keep asking the KME for a key it cannot deliver yet (503), seconds.
    """

    forward: Endpoint
    mlkem_private: MLKEM768PrivateKey | None = None
    open_timeout_s: float = 30.0
    key_wait_s: float = 10.0


class _CutError(Exception):
    """Ends a connection: the reason is logged (and holds no key)."""


async def start_master(listen: Endpoint, settings: MasterSettings, kme: MasterKme) -> asyncio.Server:
    """Listen for plaintext clients at ``listen``; each one is carried to the peer under keys from ``kme``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _guard(_MasterConnection(settings, kme).run(reader, writer), writer, "connect")

    return await _serve(handle, listen)


async def start_slave(listen: Endpoint, settings: SlaveSettings, kme: SlaveKme) -> asyncio.Server:
    """Listen for tunnel connections at ``listen``; each one that opens with a valid key is forwarded."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _guard(_SlaveConnection(settings, kme).run(reader, writer), writer, "listen")

    return await _serve(handle, listen)


async def _serve(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], listen: Endpoint
) -> asyncio.Server:
    try:
        return await asyncio.start_server(handle, listen.host, listen.port, limit=4 * MAX_PAYLOAD_BYTES)
    except OSError as exc:
        raise ParameterError("listen", f"cannot listen on {listen}: {exc.strerror or exc}") from None


async def _guard(work: Awaitable[None], writer: asyncio.StreamWriter, side: str) -> None:
    """Run one connection; a broken one is logged and its accepted socket reset."""
    peer = writer.get_extra_info("peername")
    ok = False
    try:
        await work
        ok = True
    except (_CutError, ParameterError, KmeRequestError) as error:  # TunnelError is a ParameterError
        logger.error("%s %s: connection closed: %s", side, peer, error)
    except OSError as exc:
        logger.warning("%s %s: connection lost: %s", side, peer, exc.strerror or exc)
    except asyncio.CancelledError:  # the server stops: this is the connection's own task, it ends here
        logger.info("%s %s: connection reset, the tunnel stops", side, peer)
    finally:
        await _finish(writer, ok)


async def _finish(writer: asyncio.StreamWriter, ok: bool) -> None:
    """Close a socket: flushed after a clean end, reset (what is left unsent dropped) after a failure."""
    if not ok:
        writer.transport.abort()
        return
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


class _Records:
    """Reads whole records off a stream."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    async def next(self) -> tuple[RecordHeader, bytes, bytes] | None:
        """``(header, header bytes, ciphertext + tag)``, or None at a clean end of stream."""
        try:
            fixed = await self.reader.readexactly(FIXED_HEADER_BYTES)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise TunnelError("stream", "the stream ended inside a record (truncated)") from None
            return None
        extension, body = record_sizes(fixed)
        try:
            head = fixed + await self.reader.readexactly(extension)
            header = parse_header(head)
            return header, head, await self.reader.readexactly(body)
        except asyncio.IncompleteReadError:
            raise TunnelError("stream", "the stream ended inside a record (truncated)") from None


async def _close_after(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for both directions; the first failure cancels the other and is raised."""
    try:
        for task in asyncio.as_completed(tasks):
            await task
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _MasterConnection:
    """One plaintext client carried to the slave. The master drives the key schedule."""

    def __init__(self, settings: MasterSettings, kme: MasterKme) -> None:
        self.settings = settings
        self.kme = kme
        self.connection_id = os.urandom(CONNECTION_ID_BYTES)
        self.keys: dict[int, EpochKeys] = {}
        self.epoch = 0
        self.send_seq = 0
        self.records_out = self.records_in = 0  # records under the current key, each way
        self.received = Position(0, 0)
        self.epoch_started = 0.0
        self.epoch_bytes = 0
        self.lock = asyncio.Lock()
        self.peer_writer: asyncio.StreamWriter | None = None

    async def run(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        peer = self.settings.peer
        try:
            peer_reader, peer_writer = await asyncio.open_connection(peer.host, peer.port, limit=4 * MAX_PAYLOAD_BYTES)
        except OSError as exc:
            raise _CutError(f"cannot reach the peer {peer}: {exc.strerror or exc}") from None
        self.peer_writer = peer_writer
        ok = False
        try:
            ref, secret = await self._qkd_key(opening=True)
            opening = Opening(
                connection_id=self.connection_id,
                master_sae_id=self.settings.master_sae_id,
                slave_sae_id=self.settings.slave_sae_id,
            )
            head = RecordHeader(kind=RecordType.OPEN, epoch=0, seq=0, length=0, key=ref, opening=opening)
            self._start_epoch(0, secret)
            peer_writer.write(seal(self.keys[0].master_to_slave, self.connection_id, head, b""))
            self.send_seq = self.records_out = 1
            logger.info("connect: connection %s open, epoch 0 key %s", self.connection_id.hex()[:8], ref.key_id)
            tasks = [
                asyncio.create_task(self._outbound(client_reader, peer_writer)),
                asyncio.create_task(self._inbound(_Records(peer_reader), client_writer)),
            ]
            rotator = asyncio.create_task(self._rotator())
            try:
                await _close_after(tasks)
            finally:
                rotator.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rotator
            logger.info("connect: connection %s closed after %d epochs", self.connection_id.hex()[:8], self.epoch + 1)
            ok = True
        finally:
            await _finish(peer_writer, ok)

    def _start_epoch(self, epoch: int, secret: bytes) -> None:
        self.keys[epoch] = epoch_keys(secret, self.connection_id, epoch)
        self.epoch = epoch
        self.epoch_started = time.monotonic()
        self.epoch_bytes = 0
        self.records_out = self.records_in = 0

    async def _qkd_key(self, *, opening: bool) -> tuple[KeyRef, bytes]:
        """A new 256-bit key from the KME for the slave, waiting while it has none (the opening key always
        waits; a rotation waits in block mode only: in hybrid mode it raises :class:`LookupError`)."""
        slave = self.settings.slave_sae_id
        warned = False
        while True:
            try:
                (key,) = await asyncio.to_thread(self.kme.get_keys, slave, 1, AES_KEY_BITS)
                if warned:
                    logger.warning("connect: the KME has key for %s again", slave)
                return KeyRef(source=KeySource.QKD, key_id=key.key_id), key.material
            except KmeRequestError as error:
                if error.status not in _UNAVAILABLE:
                    raise
                if not opening and self.settings.on_exhaustion is OnExhaustion.HYBRID:
                    raise LookupError(str(error)) from None
                if not warned:
                    logger.warning("connect: no QKD key for %s (%s): holding the stream until there is", slave, error)
                    warned = True
            await asyncio.sleep(self.settings.retry_s)

    async def _rotate_if_due(self) -> None:
        """Start a new epoch if the policy says so (call with the lock held)."""
        reason = self._usage()
        if reason is None:
            return
        epoch = self.epoch + 1
        if epoch >= RECORDS_PER_KEY:
            raise _CutError("the epoch counter is exhausted")
        try:
            ref, secret = await self._qkd_key(opening=False)
            header = RecordHeader(kind=RecordType.KEY, epoch=epoch, seq=self.send_seq, length=0, key=ref)
        except LookupError as error:
            public = self.settings.mlkem_public
            assert public is not None  # MasterSettings: hybrid has the key
            logger.warning(FALLBACK_WARNING.format(who=self.settings.slave_sae_id) + " (%s)", error)
            kem_secret, ciphertext = public.encapsulate()
            ref = KeyRef(source=KeySource.MLKEM768, kem_ciphertext=ciphertext)
            header = RecordHeader(kind=RecordType.KEY, epoch=epoch, seq=self.send_seq, length=0, key=ref)
            secret = fallback_secret(self.keys[self.epoch].secret, kem_secret, header.to_bytes())
        self._start_epoch(epoch, secret)
        assert self.peer_writer is not None
        self.peer_writer.write(seal(self.keys[epoch].master_to_slave, self.connection_id, header, b""))
        self.send_seq += 1
        self.records_out = 1
        logger.info("connect: connection %s epoch %d (%s, %s)", self.connection_id.hex()[:8], epoch, reason, _name(ref))

    async def _rotator(self) -> None:
        """Rotations by time when the client sends nothing (the slave may): a key that has protected no data
        is kept, and looked at again every second at most."""
        every_s = self.settings.policy.every_s
        while True:
            left = self.epoch_started + every_s - time.monotonic()
            await asyncio.sleep(left if left > 0 else min(every_s, 1.0))
            async with self.lock:
                await self._rotate_if_due()

    def _usage(self) -> str | None:
        """Why the current key must go now (:func:`~qinternet.apps.tunnel.rotation_reason`), or None."""
        records = max(self.records_out, self.records_in)
        age_s = time.monotonic() - self.epoch_started
        return rotation_reason(self.settings.policy, age_s=age_s, payload_bytes=self.epoch_bytes, records=records)

    async def _outbound(self, client: asyncio.StreamReader, peer: asyncio.StreamWriter) -> None:
        while True:
            data = await client.read(MAX_PAYLOAD_BYTES)
            async with self.lock:
                await self._rotate_if_due()
                kind = RecordType.DATA if data else RecordType.CLOSE
                header = RecordHeader(kind=kind, epoch=self.epoch, seq=self.send_seq, length=len(data))
                peer.write(seal(self.keys[self.epoch].master_to_slave, self.connection_id, header, data))
                self.send_seq += 1
                self.records_out += 1
                self.epoch_bytes += len(data)
            await peer.drain()
            if not data:
                return

    async def _inbound(self, records: _Records, client: asyncio.StreamWriter) -> None:
        while True:
            record = await records.next()
            if record is None:
                raise TunnelError("stream", "the slave's stream ended without its CLOSE record (truncated)")
            header, head, body = record
            self.received = next_position(self.received, header, from_master=False, newest_epoch=self.epoch)
            data = open_record(self.keys[header.epoch].slave_to_master, self.connection_id, header, head, body)
            for old in [e for e in self.keys if e < header.epoch]:  # the slave has moved on: forget older keys
                del self.keys[old]
            if header.epoch == self.epoch:
                self.records_in += 1
                self.epoch_bytes += len(data)
                if self._usage() in ("bytes", "records"):  # the slave's data: hold it until there is a new key
                    async with self.lock:
                        await self._rotate_if_due()
            if header.kind is RecordType.CLOSE:
                if client.can_write_eof():
                    client.write_eof()
                return
            client.write(data)
            await client.drain()


class _SlaveConnection:
    """One tunnel connection, checked, then forwarded to the local service."""

    def __init__(self, settings: SlaveSettings, kme: SlaveKme) -> None:
        self.settings = settings
        self.kme = kme
        self.keys: EpochKeys | None = None
        self.opening: Opening | None = None

    async def run(self, tunnel_reader: asyncio.StreamReader, tunnel_writer: asyncio.StreamWriter) -> None:
        records = _Records(tunnel_reader)
        try:
            first = await asyncio.wait_for(records.next(), timeout=self.settings.open_timeout_s)
        except TimeoutError:
            raise _CutError(f"no OPEN record within {self.settings.open_timeout_s:g} s") from None
        if first is None:
            raise _CutError("the stream ended before its OPEN record")
        header, head, body = first
        position = next_position(None, header, from_master=True, newest_epoch=0)
        assert header.opening is not None
        assert header.key is not None
        self.opening = header.opening
        keys = await self._new_epoch(header, head)
        open_record(keys.master_to_slave, self.opening.connection_id, header, head, body)
        self.keys = keys
        forward = self.settings.forward
        try:
            service_reader, service_writer = await asyncio.open_connection(forward.host, forward.port)
        except OSError as exc:
            raise _CutError(f"cannot reach the service {forward}: {exc.strerror or exc}") from None
        logger.info(
            "listen: connection %s from %s open, forwarded to %s",
            self.opening.connection_id.hex()[:8],
            self.opening.master_sae_id,
            forward,
        )
        ok = False
        try:
            tasks = [
                asyncio.create_task(self._inbound(records, position, service_writer)),
                asyncio.create_task(self._outbound(service_reader, tunnel_writer)),
            ]
            await _close_after(tasks)
            logger.info("listen: connection %s closed", self.opening.connection_id.hex()[:8])
            ok = True
        finally:
            await _finish(service_writer, ok)

    async def _new_epoch(self, header: RecordHeader, head: bytes) -> EpochKeys:
        """The keys of the epoch an OPEN or KEY record starts (the caller authenticates the record with them)."""
        assert self.opening is not None
        assert header.key is not None
        ref = header.key
        if ref.source is KeySource.QKD:
            (key,) = await self._delivered(ref.key_id)
            secret = key.material
        else:
            private = self.settings.mlkem_private
            if private is None:
                raise _CutError("the master fell back to ML-KEM (its KME has no QKD key) and this end refuses it")
            assert self.keys is not None  # a tunnel opens with a QKD key
            logger.warning(FALLBACK_WARNING.format(who=self.opening.master_sae_id))
            secret = fallback_secret(self.keys.secret, private.decapsulate(ref.kem_ciphertext), head)
        return epoch_keys(secret, self.opening.connection_id, header.epoch)

    async def _delivered(self, key_id: str) -> list[QkdKey]:
        assert self.opening is not None
        deadline = time.monotonic() + self.settings.key_wait_s
        while True:
            try:
                keys = await asyncio.to_thread(self.kme.get_keys_with_ids, self.opening.master_sae_id, [key_id])
            except KmeRequestError as error:
                if error.status not in _UNAVAILABLE or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
                continue
            if keys[0].size_bits != AES_KEY_BITS:
                raise _CutError(f"the KME gave a key of {keys[0].size_bits} bits, the tunnel uses {AES_KEY_BITS}")
            return keys

    async def _inbound(self, records: _Records, position: Position, service: asyncio.StreamWriter) -> None:
        assert self.opening is not None
        closed = False
        while True:
            record = await records.next()
            if record is None:
                if closed:
                    return
                raise TunnelError("stream", "the master's stream ended without its CLOSE record (truncated)")
            header, head, body = record
            position = next_position(position, header, from_master=True, newest_epoch=position.epoch + 1)
            keys = await self._new_epoch(header, head) if header.kind is RecordType.KEY else self.keys
            assert keys is not None
            data = open_record(keys.master_to_slave, self.opening.connection_id, header, head, body)
            self.keys = keys  # the slave's next record goes under a new key only once its KEY record authenticates
            if header.kind is RecordType.CLOSE:
                if closed:
                    raise TunnelError("record.order", "a second CLOSE record")
                closed = True
                if service.can_write_eof():
                    service.write_eof()
            elif data:
                if closed:
                    raise TunnelError("record.order", "data after the CLOSE record")
                service.write(data)
                await service.drain()

    async def _outbound(self, service: asyncio.StreamReader, tunnel: asyncio.StreamWriter) -> None:
        assert self.opening is not None
        assert self.keys is not None
        epoch, seq, used = self.keys.epoch, 0, 0
        while True:
            data = await service.read(MAX_PAYLOAD_BYTES)
            keys = self.keys
            if keys.epoch != epoch:
                epoch, used = keys.epoch, 0
            if used >= RECORDS_PER_KEY:
                raise _CutError(f"epoch {epoch} sealed {RECORDS_PER_KEY} records and the master did not rotate")
            kind = RecordType.DATA if data else RecordType.CLOSE
            header = RecordHeader(kind=kind, epoch=epoch, seq=seq, length=len(data))
            tunnel.write(seal(keys.slave_to_master, self.opening.connection_id, header, data))
            seq += 1
            used += 1
            await tunnel.drain()
            if not data:
                return


def _name(ref: KeyRef) -> str:
    return f"QKD key {ref.key_id}" if ref.source is KeySource.QKD else "ML-KEM-768 fallback"
