"""The container format: every header survives a round trip, and anything malformed is refused by name."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qinternet.apps.container import (
    MAGIC,
    NONCE_BYTES,
    TAG_BYTES,
    ContainerError,
    Header,
    KemId,
    Mode,
    parse_container,
)

KEY_ID = "bc490419-7d60-487f-adc1-4ddcc177c139"  # ETSI GS QKD 014, clause 6.3 example


def header(mode: Mode, *, payload: int = 5, key_ids: tuple[str, ...] = (KEY_ID,)) -> Header:
    hybrid = mode is Mode.HYBRID
    return Header(
        mode=mode,
        master_sae_id="sae-alice",
        slave_sae_id="sae-bob",
        key_ids=key_ids,
        payload_bytes=payload,
        nonce=b"" if mode is Mode.OTP else os.urandom(NONCE_BYTES),
        kem=KemId.MLKEM768 if hybrid else None,
        kem_fingerprint=os.urandom(32) if hybrid else b"",
        kem_ciphertext=os.urandom(1088) if hybrid else b"",
    )


def file_of(h: Header, body: bytes | None = None) -> bytes:
    return h.to_bytes() + (os.urandom(h.payload_bytes) if body is None else body) + os.urandom(TAG_BYTES)


@pytest.mark.parametrize("mode", list(Mode))
def test_a_header_round_trips_and_the_layout_is_as_documented(mode: Mode) -> None:
    key_ids = (KEY_ID, "0a782fb5-3434-48fe-aa4d-14f41d46cf92") if mode is Mode.OTP else (KEY_ID,)
    h = header(mode, key_ids=key_ids)
    data = file_of(h)
    parsed = parse_container(data)
    assert parsed.header == h
    assert parsed.header_bytes == h.to_bytes()
    assert parsed.ciphertext + parsed.tag == data[len(parsed.header_bytes) :]
    raw = h.to_bytes()
    assert raw[:8] == b"\x89QKD\r\n\x1a\n" == MAGIC
    assert raw[8] == 1  # version
    assert raw[9] == {Mode.AES_GCM: 1, Mode.OTP: 2, Mode.HYBRID: 3}[mode]
    assert raw[10] == len("sae-alice")
    assert raw[11:20] == b"sae-alice"
    assert raw[20] == len("sae-bob")
    assert raw[21:28] == b"sae-bob"
    assert struct.unpack(">I", raw[28:32]) == (len(key_ids),)
    assert raw[32] == 36
    assert raw[33:69] == KEY_ID.encode()
    assert struct.unpack(">Q", raw[-8:]) == (5,)


@given(
    master=st.text(min_size=1, max_size=40),
    key_ids=st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=20),
    payload=st.binary(max_size=300),
)
def test_any_otp_header_round_trips(master: str, key_ids: list[str], payload: bytes) -> None:
    h = Header(
        mode=Mode.OTP, master_sae_id=master, slave_sae_id="s", key_ids=tuple(key_ids), payload_bytes=len(payload)
    )
    parsed = parse_container(file_of(h, payload))
    assert parsed.header == h
    assert parsed.ciphertext == payload


@pytest.mark.parametrize(
    ("damage", "field"),
    [
        (lambda d: b"PK\x03\x04" + d[4:], "header.magic"),
        (lambda d: d[:8] + b"\x02" + d[9:], "header.version"),
        (lambda d: d[:9] + b"\x07" + d[10:], "header.mode"),
        (lambda d: d[:9] + b"\x02" + d[10:], "ciphertext"),  # otp has no nonce: the lengths no longer add up
        (lambda d: d[:30], "header.key_count"),
        (lambda d: d[:-1], "ciphertext"),
        (lambda d: d + b"\x00", "ciphertext"),
        (lambda d: b"", "header.magic"),
        (lambda d: d[:28] + struct.pack(">I", 0) + d[32:], "header.key_count"),
        (lambda d: d[:28] + struct.pack(">I", 2**31) + d[32:], "header.key_count"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_field(damage, field: str) -> None:  # type: ignore[no-untyped-def]
    data = file_of(header(Mode.AES_GCM))
    with pytest.raises(ContainerError) as error:
        parse_container(damage(data))
    assert error.value.field == field


def test_invalid_headers_cannot_be_built() -> None:
    with pytest.raises(ContainerError, match="exactly one key"):
        header(Mode.AES_GCM, key_ids=(KEY_ID, KEY_ID))
    with pytest.raises(ContainerError, match="1 to 255"):
        Header(mode=Mode.OTP, master_sae_id="m" * 256, slave_sae_id="s", key_ids=("k",), payload_bytes=0)
    with pytest.raises(ContainerError, match="nonce"):
        Header(mode=Mode.AES_GCM, master_sae_id="m", slave_sae_id="s", key_ids=("k",), payload_bytes=0)
    with pytest.raises(ContainerError, match="only a hybrid"):
        Header(mode=Mode.OTP, master_sae_id="m", slave_sae_id="s", key_ids=("k",), payload_bytes=0, kem=KemId.MLKEM768)


def test_a_hybrid_file_with_a_short_kem_ciphertext_is_refused() -> None:
    raw = header(Mode.HYBRID).to_bytes()
    at = raw.index(struct.pack(">H", 1088))
    short = raw[:at] + struct.pack(">H", 1000) + raw[at + 2 : at + 2 + 1000] + raw[at + 2 + 1088 :]
    with pytest.raises(ContainerError) as error:
        parse_container(short + os.urandom(5 + TAG_BYTES))
    assert error.value.field == "header.kem_ciphertext"
