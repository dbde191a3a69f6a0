"""The wire format and key schedule of ``qinternet tunnel``: a TCP stream carried under QKD keys (no I/O here).

Two SAEs carry one TCP connection: the *master* (``tunnel connect``) accepts a local client and asks its
KME for keys with ``enc_keys``; the *slave* (``tunnel listen``) asks its own KME for the same keys by ID
with ``dec_keys`` (ETSI GS QKD 014 clauses 5.3 and 5.4) and forwards the plaintext to a local service.
The asyncio shell is :mod:`qinternet.cli.tunnel_shell`; docs/tunnel.md describes the protocol for users.

**Records.** Each direction is a sequence of records ``header || ciphertext || tag``. The header is the
AES-256-GCM associated data (NIST SP 800-38D), together with the connection ID, so every byte of it is
authenticated. Integers are big-endian.

=============  =====  ============================================================================
field          bytes  meaning
=============  =====  ============================================================================
version        1      ``1``
type           1      ``1`` OPEN, ``2`` DATA, ``3`` KEY, ``4`` CLOSE (:class:`RecordType`)
epoch          4      which key seals the record: 0 for the opening key, +1 at each rotation
sequence       8      the record's number in its direction, from 0, on across keys: the GCM nonce
length         4      ciphertext bytes (the tag's 16 not counted), at most :data:`MAX_PAYLOAD_BYTES`
extension      2 + n  length n, then: OPEN: connection ID (16), master SAE ID and slave SAE ID (each
                      1 + n UTF-8), key reference; KEY: key reference; DATA, CLOSE: nothing
=============  =====  ============================================================================

A key reference is a source byte, then for ``1`` (QKD) the key ID (1 + n UTF-8) the master's KME issued,
or for ``2`` (ML-KEM-768) the KEM ciphertext (2 + 1088 bytes).

**Keys.** Epoch ``e`` has a 32-byte secret ``S_e``: a 256-bit QKD key, or, when the KME has run dry and
the user chose the hybrid fallback, ``HKDF-SHA256(S_{e-1} || ML-KEM-768 shared secret, info = the KEY
record's header)`` (RFC 5869; the files' hybrid mode, :func:`~qinternet.apps.encryption.hybrid_key`, with
the previous epoch's secret in place of the QKD key, so that breaking the fallback needs both the
earlier QKD keys and ML-KEM). From ``S_e``, ``HKDF-SHA256(S_e, salt = connection ID, info = "qinternet
tunnel v1" || epoch)`` gives 64 bytes: the master-to-slave key, then the slave-to-master key. Each
(key, direction) numbers its records from 0 and uses the number as the 96-bit nonce, so a (key, nonce)
pair is never used twice; the master starts a new epoch at the latest after :data:`ROTATE_RECORDS` records
under one key, and the slave stops before :data:`RECORDS_PER_KEY`.
A tunnel opens only with a QKD key: ML-KEM alone would let anyone who has the slave's public key in.

**Order.** The master opens with an OPEN record (epoch 0, sequence 0) and starts epoch ``e + 1`` with a
KEY record (possibly empty); the slave moves to a new epoch when it has read its KEY record and says so
by sealing its next record under it. Sequence numbers run on across epochs, so that a record dropped at
the end of an epoch is missed like any other. Any record that is not the next one
(replayed, reordered, dropped, from another connection) or fails authentication ends the connection; so
does a stream that ends without its CLOSE record (truncated). CLOSE ends a direction's data; the master
may still send KEY records after it, for the slave's data.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from qinternet.apps.container import _check_text, _Reader, _short
from qinternet.apps.encryption import AES_KEY_BITS, hybrid_key
from qinternet.apps.pqc import MLKEM768_CIPHERTEXT_BYTES
from qinternet.errors import ParameterError

__all__ = [
    "CONNECTION_ID_BYTES",
    "FIXED_HEADER_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_ROTATE_BYTES",
    "MAX_ROTATE_S",
    "ROTATE_RECORDS",
    "TAG_BYTES",
    "EpochKeys",
    "KeyRef",
    "KeySource",
    "OnExhaustion",
    "Opening",
    "Position",
    "RecordHeader",
    "RecordType",
    "RotationPolicy",
    "TunnelError",
    "epoch_keys",
    "fallback_secret",
    "next_position",
    "open_record",
    "parse_header",
    "record_sizes",
    "rotation_reason",
    "seal",
]

VERSION = 1
_FIXED = struct.Struct(">BBIQIH")  # version, type, epoch, sequence, length, extension length
FIXED_HEADER_BYTES = _FIXED.size
"""20: the part of a header before its extension."""
TAG_BYTES = 16
CONNECTION_ID_BYTES = 16
MAX_PAYLOAD_BYTES = 1 << 16
"""Largest plaintext of one record, bytes: what a receiver buffers before it can authenticate."""
RECORDS_PER_KEY = 1 << 32
"""A key and direction seal at most this many records (2^32, NIST SP 800-38D section 8.3)."""
ROTATE_RECORDS = 1 << 31
"""The master rotates after this many records in either direction; the other half of the sequence range is
slack for the slave's records already on their way when it does."""
MAX_ROTATE_S = 86_400.0
"""Longest time between rotations a user may ask for (one day), seconds."""
MAX_ROTATE_BYTES = 1 << 36
"""Most bytes a user may protect with one key: 64 GiB, the length of one GCM message (NIST SP 800-38D)."""
_KDF_INFO = b"qinternet tunnel v1"


class TunnelError(ParameterError):
    """A record is malformed, out of order or forged, or the peer broke the protocol; ``field`` names what
    (``record.header``, ``record.order``, ``record.tag``, ``stream``), ``reason`` says why (never a key)."""


class RecordType(enum.IntEnum):
    """What a record carries."""

    OPEN = 1
    """The master's first record: connection ID, SAE IDs, the opening key's ID; may carry data."""
    DATA = 2
    """Bytes of the stream."""
    KEY = 3
    """The master's first record under a new key: the key's reference; may carry data."""
    CLOSE = 4
    """The end of this direction's data (empty)."""


class KeySource(enum.IntEnum):
    """Where an epoch's secret comes from."""

    QKD = 1
    """A 256-bit key from the KMEs, named by its key ID."""
    MLKEM768 = 2
    """The hybrid fallback: the previous secret and an ML-KEM-768 shared secret, through HKDF."""


class OnExhaustion(enum.Enum):
    """What the master does when its KME has no key for a rotation."""

    BLOCK = "block"
    """Hold the stream and ask the KME again until it has key."""
    HYBRID = "hybrid"
    """Rotate to a key from the previous one and ML-KEM-768 (loudly): the stream goes on without QKD."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRef:
    """How the receiver finds an epoch's secret: a QKD key ID, or an ML-KEM-768 ciphertext."""

    source: KeySource
    key_id: str = ""
    kem_ciphertext: bytes = b""

    def __post_init__(self) -> None:
        if self.source is KeySource.QKD:
            _check_text(self.key_id, "record.key_id")
            if self.kem_ciphertext:
                raise TunnelError("record.key", "a QKD key reference has no KEM ciphertext")
        elif self.key_id or len(self.kem_ciphertext) != MLKEM768_CIPHERTEXT_BYTES:
            raise TunnelError("record.key", f"an ML-KEM-768 reference is a {MLKEM768_CIPHERTEXT_BYTES}-byte ciphertext")

    def to_bytes(self) -> bytes:
        if self.source is KeySource.QKD:
            return bytes([self.source]) + _short(self.key_id)
        return bytes([self.source]) + struct.pack(">H", len(self.kem_ciphertext)) + self.kem_ciphertext


@dataclass(frozen=True, slots=True, kw_only=True)
class Opening:
    """What an OPEN record names: the connection (a random ID bound into every record) and the two SAEs."""

    connection_id: bytes
    master_sae_id: str
    slave_sae_id: str

    def __post_init__(self) -> None:
        if len(self.connection_id) != CONNECTION_ID_BYTES:
            raise TunnelError("record.connection_id", f"must be {CONNECTION_ID_BYTES} bytes")
        _check_text(self.master_sae_id, "record.master_sae_id")
        _check_text(self.slave_sae_id, "record.slave_sae_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordHeader:
    """A record's header (the module docstring gives its bytes)."""

    kind: RecordType
    epoch: int
    seq: int
    length: int
    key: KeyRef | None = None
    opening: Opening | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.epoch < 1 << 32:
            raise TunnelError("record.epoch", f"must fit in 32 bits, got {self.epoch}")
        if not 0 <= self.seq < 1 << 64:
            raise TunnelError("record.sequence", f"must fit in 64 bits, got {self.seq}")
        if not 0 <= self.length <= MAX_PAYLOAD_BYTES or (self.kind is RecordType.CLOSE and self.length):
            raise TunnelError("record.length", f"{self.length} bytes is not valid for {self.kind.name}")
        if (self.opening is not None) != (self.kind is RecordType.OPEN):
            raise TunnelError("record.header", "only an OPEN record names the connection")
        if (self.key is not None) != (self.kind in (RecordType.OPEN, RecordType.KEY)):
            raise TunnelError("record.header", "OPEN and KEY records, and only they, name a key")
        if self.kind is RecordType.OPEN and (self.epoch or self.seq):
            raise TunnelError("record.header", "OPEN is record 0 of epoch 0")
        if self.kind is RecordType.OPEN and self.key is not None and self.key.source is not KeySource.QKD:
            raise TunnelError("record.key", "a tunnel opens with a QKD key only")

    def to_bytes(self) -> bytes:
        extension = b""
        if self.opening is not None:
            opening = self.opening
            extension = opening.connection_id + _short(opening.master_sae_id) + _short(opening.slave_sae_id)
        if self.key is not None:
            extension += self.key.to_bytes()
        return _FIXED.pack(VERSION, self.kind, self.epoch, self.seq, self.length, len(extension)) + extension


def record_sizes(fixed: bytes) -> tuple[int, int]:
    """``(extension bytes, ciphertext + tag bytes)`` still to read after a header's first
    :data:`FIXED_HEADER_BYTES`; :class:`TunnelError` for an unknown version or type, or a length too large."""
    version, kind, _epoch, _seq, length, extension = _FIXED.unpack(fixed)
    if version != VERSION:
        raise TunnelError("record.version", f"version {version} is not supported (this qinternet speaks {VERSION})")
    if kind not in RecordType._value2member_map_:
        raise TunnelError("record.type", f"unknown record type {kind}")
    if length > MAX_PAYLOAD_BYTES:
        raise TunnelError("record.length", f"{length} bytes, more than {MAX_PAYLOAD_BYTES}")
    return extension, length + TAG_BYTES


def parse_header(data: bytes) -> RecordHeader:
    """A header from its bytes (the fixed part and the extension, nothing else); :class:`TunnelError` if
    malformed. Nothing is authenticated yet."""
    extension_bytes, _ = record_sizes(data[:FIXED_HEADER_BYTES])
    _version, code, epoch, seq, length, _ = _FIXED.unpack(data[:FIXED_HEADER_BYTES])
    kind = RecordType(code)
    if len(data) != FIXED_HEADER_BYTES + extension_bytes:
        raise TunnelError("record.header", "the extension's length does not match")
    reader = _Reader(data[FIXED_HEADER_BYTES:])
    try:
        opening = key = None
        if kind is RecordType.OPEN:
            connection_id = reader.take(CONNECTION_ID_BYTES, "record.connection_id")
            master = reader.short_text("record.master_sae_id")
            opening = Opening(
                connection_id=connection_id, master_sae_id=master, slave_sae_id=reader.short_text("record.slave_sae_id")
            )
        if kind in (RecordType.OPEN, RecordType.KEY):
            key = _read_key(reader)
    except ParameterError as error:  # the container's reader names the fields; a record is not a file
        raise TunnelError(error.field, error.reason.replace("the file ends early", "the header ends early")) from None
    if reader.remaining:
        raise TunnelError("record.header", f"{reader.remaining} bytes after the extension's fields")
    return RecordHeader(kind=kind, epoch=epoch, seq=seq, length=length, key=key, opening=opening)


def _read_key(reader: _Reader) -> KeyRef:
    source = reader.byte("record.key")
    if source == KeySource.QKD:
        return KeyRef(source=KeySource.QKD, key_id=reader.short_text("record.key_id"))
    if source == KeySource.MLKEM768:
        (length,) = struct.unpack(">H", reader.take(2, "record.kem_ciphertext"))
        return KeyRef(source=KeySource.MLKEM768, kem_ciphertext=reader.take(length, "record.kem_ciphertext"))
    raise TunnelError("record.key", f"unknown key source {source}")


@dataclass(frozen=True, slots=True)
class EpochKeys:
    """An epoch's secret and its two AES-256-GCM keys (never shown by ``repr``)."""

    epoch: int
    secret: bytes = field(repr=False)
    master_to_slave: AESGCM = field(repr=False)
    slave_to_master: AESGCM = field(repr=False)


def epoch_keys(secret: bytes, connection_id: bytes, epoch: int) -> EpochKeys:
    """The traffic keys of ``epoch`` from its 32-byte ``secret``: HKDF-SHA256 (RFC 5869) with the connection ID
    as salt and ``"qinternet tunnel v1" || epoch`` as info, 64 bytes split master-to-slave, slave-to-master."""
    if len(secret) != AES_KEY_BITS // 8:
        raise TunnelError("record.key", f"an epoch secret is {AES_KEY_BITS} bits, got {8 * len(secret)}")
    info = _KDF_INFO + struct.pack(">I", epoch)
    both = HKDF(algorithm=hashes.SHA256(), length=64, salt=connection_id, info=info).derive(secret)
    return EpochKeys(epoch, secret, AESGCM(both[:32]), AESGCM(both[32:]))


def fallback_secret(previous: bytes, kem_secret: bytes, header: bytes) -> bytes:
    """The secret of an epoch the master started without QKD key: the files' hybrid key with the previous
    epoch's secret as the QKD part (:func:`~qinternet.apps.encryption.hybrid_key`), ``header`` = the KEY
    record's header bytes (which hold the KEM ciphertext)."""
    return hybrid_key(previous, kem_secret, header)


def _nonce(seq: int) -> bytes:
    return seq.to_bytes(12, "big")


def seal(key: AESGCM, connection_id: bytes, header: RecordHeader, payload: bytes) -> bytes:
    """A whole record: ``header || AES-256-GCM(payload)`` with nonce = the sequence number and associated data
    = connection ID || header. ``header.length`` must be ``len(payload)``."""
    if header.length != len(payload):
        raise TunnelError("record.length", f"the header says {header.length} bytes, the payload has {len(payload)}")
    head = header.to_bytes()
    return head + key.encrypt(_nonce(header.seq), payload, connection_id + head)


def open_record(key: AESGCM, connection_id: bytes, header: RecordHeader, head: bytes, body: bytes) -> bytes:
    """The payload of a record whose header bytes are ``head`` (parsed: ``header``) and whose ciphertext and
    tag are ``body``; :class:`TunnelError` (``record.tag``) unless it authenticates."""
    try:
        return key.decrypt(_nonce(header.seq), body, connection_id + head)
    except InvalidTag:
        raise TunnelError(
            "record.tag", f"{header.kind.name} record {header.seq} of epoch {header.epoch} failed authentication"
        ) from None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a direction stands: the epoch of its records and the sequence number of the next one."""

    epoch: int
    seq: int


def next_position(expected: Position | None, header: RecordHeader, *, from_master: bool, newest_epoch: int) -> Position:
    """The position after ``header`` if it is the record that must come next, else :class:`TunnelError`.

    Sequence numbers run on by one in both directions. From the master (``expected`` None before the OPEN):
    OPEN first, then DATA and CLOSE, and a new epoch only by its KEY record. From the slave: DATA and CLOSE,
    moving to a newer epoch the master has started (at most ``newest_epoch``).
    """
    if from_master:
        if expected is None:
            if header.kind is not RecordType.OPEN:
                raise TunnelError("record.order", f"the first record must be OPEN, got {header.kind.name}")
            return Position(0, 1)
        epoch = expected.epoch + 1 if header.kind is RecordType.KEY else expected.epoch
        good = header.kind is not RecordType.OPEN and (header.epoch, header.seq) == (epoch, expected.seq)
    elif header.kind in (RecordType.OPEN, RecordType.KEY):
        raise TunnelError("record.order", f"the slave sent a {header.kind.name} record")
    else:
        good = expected is not None and header.seq == expected.seq
        good = good and expected is not None and expected.epoch <= header.epoch <= newest_epoch
    if not good:
        want = "OPEN" if expected is None else f"record {expected.seq} (epoch {expected.epoch} or a new one)"
        raise TunnelError(
            "record.order",
            f"expected {want}, got {header.kind.name} record {header.seq} of epoch {header.epoch}: "
            "replayed, reordered, dropped or injected",
        )
    return Position(header.epoch, header.seq + 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationPolicy:
    """When the master starts a new key.

    Attributes:
        every_s: after this long under one key, if the key has protected any data, seconds.
        every_bytes: once this many payload bytes (both directions) have passed under one key.
        every_records: once either direction has sealed this many records under one key.
    """

    every_s: float = 60.0
    every_bytes: int = 1 << 30
    every_records: int = ROTATE_RECORDS

    def __post_init__(self) -> None:
        if not 0 < self.every_s <= MAX_ROTATE_S:  # also refuses NaN
            raise ParameterError("rotate_s", f"must be in (0, {MAX_ROTATE_S:g}] seconds, got {self.every_s}")
        if not 1 <= self.every_bytes <= MAX_ROTATE_BYTES:
            raise ParameterError("rotate_bytes", f"must be in [1, {MAX_ROTATE_BYTES}] bytes, got {self.every_bytes}")
        if not 1 <= self.every_records <= ROTATE_RECORDS:
            raise ParameterError("rotate_records", f"must be in [1, {ROTATE_RECORDS}], got {self.every_records}")


def rotation_reason(policy: RotationPolicy, *, age_s: float, payload_bytes: int, records: int) -> str | None:
    """Why the current key must be replaced now (``"bytes"``, ``"records"``, ``"time"``), or None.

    Args:
        policy: the limits.
        age_s: time since the key's first record, seconds.
        payload_bytes: payload bytes sealed and opened under the key (both directions).
        records: the larger of the two directions' record counts under the key (the KEY/OPEN record counts).
    """
    if payload_bytes >= policy.every_bytes:
        return "bytes"
    if records >= policy.every_records:
        return "records"
    if age_s >= policy.every_s and payload_bytes > 0:
        return "time"
    return None
