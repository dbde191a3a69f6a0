"""File encryption over an in-memory KME pair: round trips, tampering, one-time-pad key use, hybrid KDF."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305

from qinternet.apps import (
    ContainerError,
    KmeRequestError,
    Mode,
    decrypt,
    encrypt,
    otp_key_bits,
    parse_container,
    plan_otp_keys,
)
from qinternet.errors import ParameterError
from tests.apps.conftest import FakeKmes

MLKEM = MLKEM768PrivateKey.generate()
TAG = 16


def seal(kmes: FakeKmes, plaintext: bytes, mode: Mode) -> bytes:
    public = MLKEM.public_key() if mode is Mode.HYBRID else None
    return encrypt(plaintext, kme=kmes.master("sae-alice"), slave="sae-bob", mode=mode, mlkem_public=public)


def unseal(kmes: FakeKmes, data: bytes, sae: str = "sae-bob") -> bytes:
    private = MLKEM if parse_container(data).header.mode is Mode.HYBRID else None
    return decrypt(data, kme=kmes.slave(sae), mlkem_private=private)


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("size", [0, 1, 127, 128, 5000])
def test_what_alice_encrypts_bob_decrypts(kmes: FakeKmes, mode: Mode, size: int) -> None:
    plaintext = os.urandom(size)
    data = seal(kmes, plaintext, mode)
    header = parse_container(data).header
    assert (header.master_sae_id, header.slave_sae_id, header.mode) == ("sae-alice", "sae-bob", mode)
    assert set(header.key_ids) <= set(kmes.issued)
    assert plaintext not in data or size < 2
    assert unseal(kmes, data) == plaintext


@pytest.mark.parametrize("mode", list(Mode))
def test_any_flipped_bit_anywhere_fails_and_returns_nothing(kmes: FakeKmes, mode: Mode) -> None:
    """Every byte of the file, header included, is covered: flipping a bit in it makes decryption fail."""
    plaintext = b"attack at dawn" * 3
    length = len(seal(kmes, plaintext, mode))
    positions = range(length) if mode is not Mode.HYBRID else [*range(0, 200), *range(length - 300, length)]
    for at in positions:
        data = bytearray(seal(kmes, plaintext, mode))
        data[at] ^= 1 << (at % 8)
        with pytest.raises((ContainerError, KmeRequestError, ParameterError)):
            unseal(kmes, bytes(data))


@pytest.mark.parametrize("mode", list(Mode))
def test_a_tampered_ciphertext_is_an_authentication_failure(kmes: FakeKmes, mode: Mode) -> None:
    data = bytearray(seal(kmes, b"pay 100 to bob", mode))
    data[-TAG - 3] ^= 0x01  # a ciphertext byte: the pad alone would flip the plaintext bit unnoticed
    with pytest.raises(ContainerError, match="authentication failed") as error:
        unseal(kmes, bytes(data))
    assert error.value.field == "ciphertext"


def test_only_the_slave_gets_the_keys_and_only_once(kmes: FakeKmes) -> None:
    data = seal(kmes, b"for bob only", Mode.AES_GCM)
    with pytest.raises(KmeRequestError) as error:
        unseal(kmes, data, sae="sae-carol")
    assert error.value.status == 401
    assert unseal(kmes, data) == b"for bob only"  # carol's attempt spent nothing
    with pytest.raises(KmeRequestError, match="not found on KME"):
        unseal(kmes, data)  # ETSI GS QKD 014: a key is delivered once


def test_otp_uses_fresh_key_bits_for_every_byte_and_never_twice(kmes: FakeKmes) -> None:
    """ciphertext = plaintext XOR the issued key bits after the 256-bit MAC key, in header order; two files
    share no key; the Poly1305 tag is the one-time MAC under the first 32 key bytes."""
    pads = []
    for size in (3000, 3000, 10):
        plaintext = os.urandom(size)
        container = parse_container(seal(kmes, plaintext, Mode.OTP))
        stream = b"".join(kmes.issued[k][2] for k in container.header.key_ids)
        pad = stream[32 : 32 + size]
        assert bytes(a ^ b for a, b in zip(plaintext, pad, strict=True)) == container.ciphertext
        Poly1305.verify_tag(stream[:32], container.header_bytes + container.ciphertext, container.tag)
        used = 8 * len(stream)
        assert otp_key_bits(size) <= used < otp_key_bits(size) + kmes.min_key_size + 8  # waste < one tail key
        pads.append((set(container.header.key_ids), pad))
    ids = [p[0] for p in pads]
    assert ids[0].isdisjoint(ids[1])
    assert ids[0].isdisjoint(ids[2])
    assert ids[1].isdisjoint(ids[2])
    assert pads[0][1] != pads[1][1]
    assert len(kmes.issued) == sum(len(i) for i in ids)  # every issued key is in exactly one file


def test_otp_takes_its_keys_in_one_request_of_equal_keys_with_least_waste() -> None:
    kmes = FakeKmes(max_key_size=1024, min_key_size=64, max_key_per_request=4)
    status = kmes.master("a").status("b")
    # 300 bytes + 32-byte MAC key = 2656 bits: 3 keys (1024 is the largest), each ceil(2656 / 3 / 8) bytes
    assert plan_otp_keys(300, status) == (3, 888)
    # 1032 bits: 2 keys of 520 bits; the empty file: one key of the 256-bit MAC key
    assert plan_otp_keys(1024 // 8 - 32 + 1, status) == (2, 520)
    assert plan_otp_keys(0, status) == (1, 256)
    # the min_key_size floor
    assert plan_otp_keys(0, FakeKmes(min_key_size=512).master("a").status("b")) == (1, 512)
    assert plan_otp_keys(0, FakeKmes(min_key_size=300).master("a").status("b")) == (1, 304)  # a multiple of 8
    with pytest.raises(ParameterError, match="unusable"):
        plan_otp_keys(0, FakeKmes(min_key_size=1020, max_key_size=1023).master("a").status("b"))
    for payload in range(0, 4096 // 8 - 32 + 1, 7):
        number, size = plan_otp_keys(payload, status)
        assert number * size >= otp_key_bits(payload) > number * (size - 8)  # covers it, < 8 bits over per key
    seal(kmes, os.urandom(300), Mode.OTP)
    assert kmes.requests == [(3, 888)]


def test_otp_refuses_a_file_that_one_request_cannot_carry_before_taking_any_key() -> None:
    """Several requests could not be all-or-nothing at the recipient: a failure after the first would
    spend keys that no one could fetch again."""
    kmes = FakeKmes(max_key_size=1024, min_key_size=64, max_key_per_request=4)
    assert plan_otp_keys(4096 // 8 - 32, kmes.master("a").status("b")) == (4, 1024)
    with pytest.raises(ParameterError, match="more than one request of the KME carries") as error:
        seal(kmes, os.urandom(4096 // 8 - 32 + 1), Mode.OTP)
    assert error.value.field == "mode"
    assert kmes.issued == {}


def test_decrypting_an_otp_file_asks_for_all_its_keys_at_once(kmes: FakeKmes) -> None:
    data = seal(kmes, os.urandom(5000), Mode.OTP)
    ids = parse_container(data).header.key_ids
    assert len(ids) == 5  # 40256 bits in keys of 8192
    kmes.max_key_per_request = 4  # the recipient's KME takes fewer IDs per request: refused, nothing spent
    with pytest.raises(KmeRequestError):
        unseal(kmes, data)
    assert kmes.delivered == set()
    kmes.max_key_per_request = 8
    assert len(unseal(kmes, data)) == 5000
    assert kmes.delivered == set(ids)


def test_otp_refuses_before_taking_any_key_when_the_kme_has_too_little() -> None:
    kmes = FakeKmes(stored_bits=8 * 1000)
    with pytest.raises(ParameterError, match="otp needs 8256 key bits") as error:
        seal(kmes, os.urandom(1000), Mode.OTP)
    assert error.value.field == "mode"
    assert kmes.issued == {}


def hkdf_sha256(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 written out with the standard library: extract with a zero salt, then expand."""
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


def test_the_hybrid_key_is_hkdf_of_the_qkd_key_and_the_mlkem_secret_over_the_header(kmes: FakeKmes) -> None:
    plaintext = b"hybrid: QKD and post-quantum"
    container = parse_container(seal(kmes, plaintext, Mode.HYBRID))
    (key_id,) = container.header.key_ids
    qkd_key = kmes.issued[key_id][2]
    kem_secret = MLKEM.decapsulate(container.header.kem_ciphertext)
    key = hkdf_sha256(qkd_key + kem_secret, container.header_bytes)
    opened = AESGCM(key).decrypt(container.header.nonce, container.ciphertext + container.tag, container.header_bytes)
    assert opened == plaintext
    for wrong in (hkdf_sha256(qkd_key, container.header_bytes), qkd_key):  # neither secret alone opens it
        with pytest.raises(InvalidTag):
            AESGCM(wrong).decrypt(container.header.nonce, container.ciphertext + container.tag, container.header_bytes)


def test_hybrid_checks_the_mlkem_keys_before_asking_the_kme(kmes: FakeKmes) -> None:
    with pytest.raises(ParameterError) as error:
        encrypt(b"x", kme=kmes.master("sae-alice"), slave="sae-bob", mode=Mode.HYBRID)
    assert error.value.field == "mlkem_public"
    assert kmes.issued == {}
    data = seal(kmes, b"x", Mode.HYBRID)
    for private in (None, MLKEM768PrivateKey.generate()):
        with pytest.raises(ParameterError) as error:
            decrypt(data, kme=kmes.slave("sae-bob"), mlkem_private=private)
        assert error.value.field == "mlkem_private"
    assert kmes.delivered == set()  # nothing spent: bob can still decrypt with the right key
    assert unseal(kmes, data) == b"x"


def test_an_mlkem_key_where_none_is_used_is_an_error(kmes: FakeKmes) -> None:
    with pytest.raises(ParameterError, match="only hybrid"):
        encrypt(b"x", kme=kmes.master("a"), slave="b", mode=Mode.OTP, mlkem_public=MLKEM.public_key())
    data = seal(kmes, b"x", Mode.AES_GCM)
    with pytest.raises(ParameterError, match="uses no ML-KEM key"):
        decrypt(data, kme=kmes.slave("sae-bob"), mlkem_private=MLKEM)
