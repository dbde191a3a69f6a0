"""Encrypting files with QKD keys from a KME: AES-256-GCM, one-time pad, and hybrid QKD + ML-KEM.

The sender is the ETSI GS QKD 014 *master* SAE: it asks its KME for new keys shared with the recipient
(the *slave* SAE), encrypts, and writes the key IDs into the file's header (:mod:`.container`). The
recipient gives those IDs to its own KME and gets the same keys. A KME delivers each key once, so a file
can be decrypted once: the recipient keeps the plaintext, not the keys. Decryption writes nothing unless
the whole file authenticates.

Modes (:class:`~qinternet.apps.container.Mode`):

``aes-gcm``
    One 256-bit QKD key is the AES-256-GCM key (NIST SP 800-38D); a random 96-bit nonce; the header is
    the associated data. Security is computational (AES), the key is information-theoretic.

``otp``
    One-time pad (Vernam 1926; Shannon 1949): the file is XORed with as many fresh QKD key bits as it
    has, taken in one Get key request of equal keys (fewest keys, then the smallest size that covers
    the file). One request, because ETSI GS QKD 014 has no way to hold keys across requests: were a
    file's keys fetched in several, a failure after the first would spend keys that no one can use
    again. So an OTP file is at most ``max_key_per_request * max_key_size`` bits (128 KiB with our
    KME's defaults); larger files use ``aes-gcm`` or ``hybrid``. A pad alone gives no
    integrity (flipping a ciphertext bit flips the plaintext bit), so the file also carries a
    Wegman-Carter one-time authenticator: Poly1305 (Bernstein, "The Poly1305-AES message-authentication
    code", FSE 2005) keyed with 256 further fresh QKD bits used for this file only, over header ||
    ciphertext. With a uniformly random one-time key, Poly1305 is an information-theoretically secure
    MAC: a forger succeeds with probability at most 8 * ceil(L / 16) / 2^106 for an L-byte message
    (Bernstein 2005, Theorem 3.3), about 2^-87 for a 1 MiB file, whatever its computing power. We chose
    it over HMAC-SHA256 (only computationally secure, which would waste the pad's unconditional
    secrecy) and over a home-made GF(2^64) polynomial hash (a Python loop per block, and a weaker
    bound): Poly1305 is a standard, constant-time implementation in ``cryptography``. The key stream is
    used as: bytes 0-31 the Poly1305 key, then the pad; the unused end of the last key is discarded,
    never kept for another file.

``hybrid``
    As near-term deployments combine QKD with post-quantum cryptography (ETSI TS 103 744 "CatKDF"), the
    AES-256-GCM key is ``HKDF-SHA256(ikm = QKD key || ML-KEM-768 shared secret, salt = none, info =
    header)`` (RFC 5869). The header holds the ML-KEM ciphertext and the recipient's key fingerprint,
    so both are bound into the key. An attacker must break both the QKD key (or the KMEs) and ML-KEM.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.poly1305 import Poly1305

from qinternet.apps.container import (
    NONCE_BYTES,
    ContainerError,
    Header,
    KemId,
    Mode,
    parse_container,
)
from qinternet.apps.etsi_client import KmeStatus, MasterKme, QkdKey, SlaveKme
from qinternet.apps.pqc import fingerprint, require_mlkem
from qinternet.errors import ParameterError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey

__all__ = [
    "AES_KEY_BITS",
    "OTP_MAC_KEY_BYTES",
    "decrypt",
    "encrypt",
    "hybrid_key",
    "otp_key_bits",
    "plan_otp_keys",
    "read_header",
]

AES_KEY_BITS = 256
OTP_MAC_KEY_BYTES = 32
"""Poly1305 one-time key: 16 bytes r (the evaluation point) and 16 bytes s (the pad on the tag)."""
MAX_GCM_BYTES = 2**36 - 32
"""Longest AES-GCM plaintext, bytes (NIST SP 800-38D, 2^39 - 256 bits)."""


def encrypt(
    plaintext: bytes,
    *,
    kme: MasterKme,
    slave: str,
    mode: Mode = Mode.AES_GCM,
    mlkem_public: MLKEM768PublicKey | None = None,
) -> bytes:
    """Encrypt ``plaintext`` for the SAE ``slave`` with new keys from ``kme`` (the caller's KME).

    Args:
        plaintext: the file's bytes.
        kme: the master SAE's KME (a :class:`~qinternet.apps.etsi_client.KmeClient`, or any object with
            its ``status`` and ``get_keys``).
        slave: the recipient's SAE ID.
        mode: see the module docstring.
        mlkem_public: the recipient's ML-KEM-768 public key (``hybrid`` only).

    Returns:
        The container: header, ciphertext, tag.

    Raises:
        ParameterError: ``mode`` cannot be served by this KME, or ``mlkem_public`` is missing or unwanted.
        KmeRequestError: the KME refused (unknown slave, not enough key, ...).
    """
    if mode is Mode.HYBRID and mlkem_public is None:
        raise ParameterError("mlkem_public", "hybrid mode needs the recipient's ML-KEM public key")
    if mode is not Mode.HYBRID and mlkem_public is not None:
        raise ParameterError("mlkem_public", f"only hybrid mode uses an ML-KEM key, not {mode.value}")
    if mode is not Mode.OTP and len(plaintext) > MAX_GCM_BYTES:
        raise ParameterError("file", f"AES-GCM encrypts at most {MAX_GCM_BYTES} bytes, got {len(plaintext)}")
    status = kme.status(slave)
    if mode is Mode.OTP:
        return _encrypt_otp(plaintext, kme, status.master_sae_id, slave, *plan_otp_keys(len(plaintext), status))
    if not status.min_key_size <= AES_KEY_BITS <= status.max_key_size:
        raise ParameterError(
            "mode", f"the KME delivers keys of {status.min_key_size} to {status.max_key_size} bits, not 256"
        )
    kem_secret = kem_ciphertext = recipient = b""
    if mlkem_public is not None:
        require_mlkem("mlkem_public")
        kem_secret, kem_ciphertext = mlkem_public.encapsulate()
        recipient = fingerprint(mlkem_public)
    (key,) = kme.get_keys(slave, 1, AES_KEY_BITS)
    header = Header(
        mode=mode,
        master_sae_id=status.master_sae_id,
        slave_sae_id=slave,
        key_ids=(key.key_id,),
        payload_bytes=len(plaintext),
        nonce=os.urandom(NONCE_BYTES),
        kem=KemId.MLKEM768 if mode is Mode.HYBRID else None,
        kem_fingerprint=recipient,
        kem_ciphertext=kem_ciphertext,
    )
    head = header.to_bytes()
    aes_key = hybrid_key(key.material, kem_secret, head) if mode is Mode.HYBRID else key.material
    encryptor = Cipher(algorithms.AES(aes_key), modes.GCM(header.nonce)).encryptor()
    encryptor.authenticate_additional_data(head)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return head + body + encryptor.tag


def decrypt(data: bytes, *, kme: SlaveKme, mlkem_private: MLKEM768PrivateKey | None = None) -> bytes:
    """Decrypt a container with the keys ``kme`` (the recipient's KME) delivers for its key IDs.

    The file is parsed, and in ``hybrid`` mode the private key matched against the header, before the KME
    is asked: asking consumes the keys. Nothing is returned unless the file authenticates.

    Raises:
        ContainerError: malformed file (``header.*``) or failed authentication (``ciphertext``).
        ParameterError: ``mlkem_private`` is missing, or is not the key the file was encrypted to.
        KmeRequestError: the KME refused (not the intended recipient: 401; keys unknown or already
            delivered: 400).
    """
    container = parse_container(data)
    header = container.header
    kem_secret = b""
    if header.mode is Mode.HYBRID:
        if mlkem_private is None:
            raise ParameterError("mlkem_private", "this is a hybrid file: give the recipient's ML-KEM private key")
        require_mlkem("mlkem_private")
        if fingerprint(mlkem_private.public_key()) != header.kem_fingerprint:
            raise ParameterError("mlkem_private", "not the ML-KEM key this file was encrypted to")
        kem_secret = mlkem_private.decapsulate(header.kem_ciphertext)
    elif mlkem_private is not None:
        raise ParameterError("mlkem_private", f"this file is {header.mode.value}, it uses no ML-KEM key")
    keys = kme.get_keys_with_ids(header.master_sae_id, header.key_ids)  # one request: all the keys or none
    if header.mode is Mode.OTP:
        return _decrypt_otp(container.header_bytes, container.ciphertext, container.tag, keys)
    (key,) = keys
    if key.size_bits != AES_KEY_BITS:
        raise ContainerError("header.key_ids", f"the KME gave a key of {key.size_bits} bits, the file needs 256")
    aes_key = hybrid_key(key.material, kem_secret, container.header_bytes) if kem_secret else key.material
    decryptor = Cipher(algorithms.AES(aes_key), modes.GCM(header.nonce, container.tag)).decryptor()
    decryptor.authenticate_additional_data(container.header_bytes)
    plaintext = decryptor.update(container.ciphertext)
    try:
        return plaintext + decryptor.finalize()
    except InvalidTag:
        raise _forged() from None


def read_header(data: bytes) -> Header:
    """The header of a container (nothing authenticated, no KME asked)."""
    return parse_container(data).header


def hybrid_key(qkd_key: bytes, kem_secret: bytes, header: bytes) -> bytes:
    """The AES-256 key of a hybrid file: HKDF-SHA256 (RFC 5869) with ``ikm = qkd_key || kem_secret``, no
    salt (a string of zeros, RFC 5869 section 2.2) and ``info = header``; 32 bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=header).derive(qkd_key + kem_secret)


def otp_key_bits(payload_bytes: int) -> int:
    """QKD key bits a one-time-pad file of ``payload_bytes`` consumes at least: the pad and the MAC key."""
    return 8 * (OTP_MAC_KEY_BYTES + payload_bytes)


def plan_otp_keys(payload_bytes: int, status: KmeStatus) -> tuple[int, int]:
    """The one Get key request ``(number, size_bits)`` that covers :func:`otp_key_bits`: the fewest keys the
    KME's ``max_key_size`` allows, each of the smallest multiple of 8 bits (at least ``min_key_size``) that
    covers the file, so that less than 8 bits per key (or the ``min_key_size`` floor) is wasted.

    Raises:
        ParameterError: (``mode``) the KME reports less key than the file needs, serves unusable sizes, or
            one request cannot carry the file (see the module docstring).
    """
    need = otp_key_bits(payload_bytes)
    largest = status.max_key_size // 8 * 8
    smallest = max(8, -(-status.min_key_size // 8) * 8)  # sizes must be multiples of 8 (ETSI GS QKD 014)
    if smallest > largest:
        raise ParameterError("mode", f"the KME's key sizes ({status.min_key_size}-{status.max_key_size}) are unusable")
    number = math.ceil(need / largest)
    most = max(1, status.max_key_per_request) * largest
    if number > status.max_key_per_request:
        raise ParameterError(
            "mode",
            f"otp needs {need} key bits (the file and a 256-bit MAC key), more than one request of the KME carries "
            f"({status.max_key_per_request} keys of {largest} bits = {most}); a one-time-pad file takes its keys "
            "in one request so that decrypting it spends all of them or none: use aes-gcm or hybrid",
        )
    available = status.stored_key_count * status.key_size
    if available < need:
        raise ParameterError(
            "mode",
            f"otp needs {need} key bits (the file and a 256-bit MAC key); "
            f"the KME reports {available} for {status.slave_sae_id}",
        )
    return number, max(smallest, -(-need // (8 * number)) * 8)


def _encrypt_otp(plaintext: bytes, kme: MasterKme, master: str, slave: str, number: int, size: int) -> bytes:
    keys = kme.get_keys(slave, number, size)
    stream = b"".join(key.material for key in keys)
    if len({key.key_id for key in keys}) != len(keys) or len(stream) < OTP_MAC_KEY_BYTES + len(plaintext):
        raise ParameterError("mode", "the KME's keys do not cover the file")  # a KME that breaks its contract
    header = Header(
        mode=Mode.OTP,
        master_sae_id=master,
        slave_sae_id=slave,
        key_ids=tuple(key.key_id for key in keys),
        payload_bytes=len(plaintext),
    )
    head = header.to_bytes()
    body = _xor(plaintext, stream[OTP_MAC_KEY_BYTES : OTP_MAC_KEY_BYTES + len(plaintext)])
    return head + body + Poly1305.generate_tag(stream[:OTP_MAC_KEY_BYTES], head + body)


def _decrypt_otp(head: bytes, body: bytes, tag: bytes, keys: Sequence[QkdKey]) -> bytes:
    stream = b"".join(key.material for key in keys)
    need = OTP_MAC_KEY_BYTES + len(body)
    if len(stream) < need:
        raise ContainerError("header.key_ids", f"the keys hold {8 * len(stream)} bits, the file needs {8 * need}")
    try:
        Poly1305.verify_tag(stream[:OTP_MAC_KEY_BYTES], head + body, tag)
    except InvalidSignature:
        raise _forged() from None
    return _xor(body, stream[OTP_MAC_KEY_BYTES:need])


def _xor(data: bytes, pad: bytes) -> bytes:
    """``data`` XOR ``pad`` (equal lengths)."""
    return np.bitwise_xor(np.frombuffer(data, np.uint8), np.frombuffer(pad, np.uint8)).tobytes()


def _forged() -> ContainerError:
    return ContainerError("ciphertext", "authentication failed: the file was altered, or these are not its keys")
