"""The file format of QKD-encrypted files, version 1: a header that names the keys, then the ciphertext.

The header carries everything the recipient (the slave SAE) needs to ask its own KME for the same keys
(ETSI GS QKD 014 "Get key with key IDs"): the master SAE's ID and the key IDs its KME issued. It holds no
secret. All of it is authenticated: it is the associated data of AES-256-GCM, the first part of the
message under the one-time MAC in ``otp`` mode, and the HKDF ``info`` in ``hybrid`` mode. Integers are
big-endian; text is UTF-8.

=========================  ==========================  =====================================================
field                      bytes                       meaning
=========================  ==========================  =====================================================
magic                      8                           ``89 51 4B 44 0D 0A 1A 0A`` (``\\x89QKD\\r\\n\\x1a\\n``,
                                                       after PNG: catches text-mode and 7-bit mangling)
version                    1                           ``1``
mode                       1                           ``1`` aes-gcm, ``2`` otp, ``3`` hybrid
master SAE ID              1 + n                       length n (1..255), then the ID
slave SAE ID               1 + n                       length n (1..255), then the ID (the intended recipient)
key count                  4                           k >= 1 (aes-gcm and hybrid: exactly 1)
key IDs                    k × (1 + n)                 each: length n (1..255), then the KME's key_ID (a UUID
                                                       for a conforming KME; any text is carried)
*aes-gcm*: nonce           12                          AES-GCM nonce
*hybrid*: KEM              1                           ``1`` ML-KEM-768
*hybrid*: key fingerprint  32                          SHA-256 of the recipient's raw ML-KEM public key
*hybrid*: KEM ciphertext   2 + n                       length n (1088 for ML-KEM-768), then the ciphertext
*hybrid*: nonce            12                          AES-GCM nonce
payload length             8                           m, bytes of ciphertext that follow (= plaintext bytes)
=========================  ==========================  =====================================================

After the header: the ciphertext (m bytes), then a 16-byte tag (the GCM tag, or in ``otp`` mode the
Poly1305 one-time authenticator), then nothing: trailing bytes are an error. Every length is checked
while parsing, so a malformed or truncated file is refused before any key is asked of a KME (asking
consumes the keys: ETSI GS QKD 014 delivers a key once).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from qinternet.apps.pqc import MLKEM768_CIPHERTEXT_BYTES
from qinternet.errors import ParameterError

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "NONCE_BYTES",
    "TAG_BYTES",
    "Container",
    "ContainerError",
    "Header",
    "KemId",
    "Mode",
    "parse_container",
]

MAGIC = b"\x89QKD\r\n\x1a\n"
FORMAT_VERSION = 1
NONCE_BYTES = 12
"""AES-GCM nonce length (NIST SP 800-38D recommends 96 bits)."""
TAG_BYTES = 16
"""GCM tag and Poly1305 tag length."""
FINGERPRINT_BYTES = 32
_MAX_KEYS = 2**32 - 1


class ContainerError(ParameterError):
    """A file is not a well-formed container, or fails authentication; ``field`` names the part, e.g.
    ``header.magic`` or ``ciphertext``."""


class Mode(enum.Enum):
    """How the file is encrypted."""

    AES_GCM = "aes-gcm"
    """AES-256-GCM under one 256-bit QKD key."""
    OTP = "otp"
    """One-time pad with as many QKD key bits as the file, plus a Poly1305 one-time authenticator."""
    HYBRID = "hybrid"
    """AES-256-GCM under HKDF-SHA256(QKD key || ML-KEM-768 shared secret)."""


class KemId(enum.IntEnum):
    """The post-quantum KEM of a hybrid file."""

    MLKEM768 = 1


_MODE_CODES = {Mode.AES_GCM: 1, Mode.OTP: 2, Mode.HYBRID: 3}
_CODE_MODES = {code: mode for mode, code in _MODE_CODES.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """A container header (see the module docstring for the bytes).

    Attributes:
        mode: how the payload is encrypted.
        master_sae_id: the SAE that asked its KME for the keys (ETSI "master SAE").
        slave_sae_id: the SAE the keys were issued for, the one that can decrypt.
        key_ids: the key IDs, in the order their bits are used.
        payload_bytes: length of the ciphertext (without tag), bytes.
        nonce: the AES-GCM nonce (12 bytes); empty in ``otp`` mode.
        kem: the KEM of a ``hybrid`` file, else None.
        kem_fingerprint: SHA-256 of the recipient's raw ML-KEM public key (``hybrid``), else empty.
        kem_ciphertext: the KEM ciphertext (``hybrid``), else empty.
    """

    mode: Mode
    master_sae_id: str
    slave_sae_id: str
    key_ids: tuple[str, ...]
    payload_bytes: int
    nonce: bytes = b""
    kem: KemId | None = None
    kem_fingerprint: bytes = b""
    kem_ciphertext: bytes = b""

    def __post_init__(self) -> None:
        for name in ("master_sae_id", "slave_sae_id"):
            _check_text(getattr(self, name), f"header.{name}")
        if not 1 <= len(self.key_ids) <= _MAX_KEYS:
            raise ContainerError("header.key_ids", f"must hold 1 to {_MAX_KEYS} key IDs, got {len(self.key_ids)}")
        if self.mode is not Mode.OTP and len(self.key_ids) != 1:
            raise ContainerError("header.key_ids", f"{self.mode.value} uses exactly one key, got {len(self.key_ids)}")
        for key_id in self.key_ids:
            _check_text(key_id, "header.key_ids")
        if not 0 <= self.payload_bytes < 2**64:
            raise ContainerError("header.payload_bytes", f"must fit in 64 bits, got {self.payload_bytes}")
        want_nonce = 0 if self.mode is Mode.OTP else NONCE_BYTES
        if len(self.nonce) != want_nonce:
            raise ContainerError("header.nonce", f"{self.mode.value} needs {want_nonce} bytes, got {len(self.nonce)}")
        if self.mode is Mode.HYBRID:
            if self.kem is None:
                raise ContainerError("header.kem", "a hybrid file names its KEM")
            if len(self.kem_fingerprint) != FINGERPRINT_BYTES:
                raise ContainerError("header.kem_fingerprint", f"must be {FINGERPRINT_BYTES} bytes")
            if not 1 <= len(self.kem_ciphertext) <= 0xFFFF:
                raise ContainerError("header.kem_ciphertext", "must be 1 to 65535 bytes")
        elif self.kem is not None or self.kem_fingerprint or self.kem_ciphertext:
            raise ContainerError("header.kem", f"only a hybrid file has a KEM, this one is {self.mode.value}")

    def to_bytes(self) -> bytes:
        """The header's bytes (the associated data of the payload)."""
        parts = [MAGIC, bytes([FORMAT_VERSION, _MODE_CODES[self.mode]])]
        parts += [_short(self.master_sae_id), _short(self.slave_sae_id), struct.pack(">I", len(self.key_ids))]
        parts += [_short(key_id) for key_id in self.key_ids]
        if self.mode is Mode.HYBRID:
            assert self.kem is not None
            parts += [bytes([self.kem]), self.kem_fingerprint, struct.pack(">H", len(self.kem_ciphertext))]
            parts.append(self.kem_ciphertext)
        parts += [self.nonce, struct.pack(">Q", self.payload_bytes)]
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Container:
    """A parsed file: its header, the header's exact bytes, the ciphertext and the tag."""

    header: Header
    header_bytes: bytes
    ciphertext: bytes
    tag: bytes


def parse_container(data: bytes) -> Container:
    """Split a file into header, ciphertext and tag, checking every length; :class:`ContainerError` if not
    a well-formed version-1 container. Nothing is authenticated yet (that needs the keys)."""
    reader = _Reader(data)
    if reader.take(len(MAGIC), "header.magic") != MAGIC:
        raise ContainerError("header.magic", "not a qinternet QKD-encrypted file")
    version = reader.byte("header.version")
    if version != FORMAT_VERSION:
        raise ContainerError("header.version", f"version {version} is not supported (this qinternet reads 1)")
    code = reader.byte("header.mode")
    if code not in _CODE_MODES:
        raise ContainerError("header.mode", f"unknown mode {code}")
    mode = _CODE_MODES[code]
    master = reader.short_text("header.master_sae_id")
    slave = reader.short_text("header.slave_sae_id")
    (count,) = struct.unpack(">I", reader.take(4, "header.key_count"))
    if count == 0 or (mode is not Mode.OTP and count != 1):
        raise ContainerError("header.key_count", f"{count} keys is not valid for {mode.value}")
    if count > reader.remaining // 2:  # each key ID takes two bytes at least: refuse before looping
        raise ContainerError("header.key_count", f"{count} key IDs cannot fit in the file")
    key_ids = tuple(reader.short_text("header.key_ids") for _ in range(count))
    kem: KemId | None = None
    fingerprint = kem_ciphertext = b""
    if mode is Mode.HYBRID:
        kem_code = reader.byte("header.kem")
        if kem_code not in KemId._value2member_map_:
            raise ContainerError("header.kem", f"unknown KEM {kem_code}")
        kem = KemId(kem_code)
        fingerprint = reader.take(FINGERPRINT_BYTES, "header.kem_fingerprint")
        (length,) = struct.unpack(">H", reader.take(2, "header.kem_ciphertext"))
        kem_ciphertext = reader.take(length, "header.kem_ciphertext")
        if kem is KemId.MLKEM768 and length != MLKEM768_CIPHERTEXT_BYTES:
            raise ContainerError("header.kem_ciphertext", f"is {length} bytes, not {MLKEM768_CIPHERTEXT_BYTES}")
    nonce = b"" if mode is Mode.OTP else reader.take(NONCE_BYTES, "header.nonce")
    (payload,) = struct.unpack(">Q", reader.take(8, "header.payload_bytes"))
    header_end = reader.offset
    if reader.remaining != payload + TAG_BYTES:
        raise ContainerError(
            "ciphertext", f"the header announces {payload} + {TAG_BYTES} bytes, the file has {reader.remaining}"
        )
    header = Header(
        mode=mode,
        master_sae_id=master,
        slave_sae_id=slave,
        key_ids=key_ids,
        payload_bytes=payload,
        nonce=nonce,
        kem=kem,
        kem_fingerprint=fingerprint,
        kem_ciphertext=kem_ciphertext,
    )
    ciphertext = reader.take(payload, "ciphertext")
    return Container(header, data[:header_end], ciphertext, reader.take(TAG_BYTES, "tag"))


def _check_text(text: str, field: str) -> None:
    try:
        length = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ContainerError(field, "must be valid UTF-8 text") from None
    if not 1 <= length <= 255:
        raise ContainerError(field, f"must be 1 to 255 bytes of UTF-8, got {length}")


def _short(text: str) -> bytes:
    raw = text.encode("utf-8")
    return bytes([len(raw)]) + raw


class _Reader:
    """Reads a byte string front to back; running out raises :class:`ContainerError` naming the field."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.offset

    def take(self, n: int, field: str) -> bytes:
        if n > self.remaining:
            raise ContainerError(field, "the file ends early (truncated?)")
        chunk = self.data[self.offset : self.offset + n]
        self.offset += n
        return chunk

    def byte(self, field: str) -> int:
        return self.take(1, field)[0]

    def short_text(self, field: str) -> str:
        raw = self.take(self.byte(field), field)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ContainerError(field, "is not UTF-8 text") from None
        if not text:
            raise ContainerError(field, "is empty")
        return text
