"""``qinternet tunnel``: a byte stream goes client -> connect -> listen -> an echo service and back, under keys
from in-memory KMEs (:class:`FakeKmes`), rotated by bytes; tampering on the wire, key exhaustion, and the CLI.

Every test runs its own event loop with both tunnel ends, the echo service and a client on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

from qinternet.apps.tunnel import (
    CONNECTION_ID_BYTES,
    FIXED_HEADER_BYTES,
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
    next_position,
    open_record,
    parse_header,
    record_sizes,
    rotation_reason,
    seal,
)
from qinternet.cli.tunnel_shell import Endpoint, MasterSettings, SlaveSettings, start_master, start_slave
from tests.apps.conftest import FakeKmes

LOOPBACK = Endpoint("127.0.0.1", 0)
ROTATE_BYTES = 1 << 16
STREAM_BYTES = 1 << 20  # 1 MiB each way: 2 MiB under keys of 64 KiB is about 32 rotations


def _port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1 << 16):
        writer.write(data)
        await writer.drain()
    writer.close()


Tamper = Callable[[int, bytes], list[bytes] | None]
"""Given the index and bytes of a master-to-slave record, what to send instead (None: end the stream)."""


async def _tampering_relay(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: int, tamper: Tamper
) -> None:
    """A man in the middle between the two ends that applies ``tamper`` to the master's records; when the slave
    cuts its side, the master's side is cut too (as a reset travels through a real network)."""
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)

    async def downstream() -> None:  # slave -> master, untouched
        with contextlib.suppress(ConnectionError):
            while data := await up_reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    back = asyncio.create_task(downstream())
    index = 0
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            fixed = await reader.readexactly(FIXED_HEADER_BYTES)
            extension, body = record_sizes(fixed)
            record = fixed + await reader.readexactly(extension + body)
            out = tamper(index, record)
            index += 1
            if out is None:
                up_writer.write_eof()  # a clean end of stream in the middle: a truncation
                break
            for part in out:
                up_writer.write(part)
            await up_writer.drain()
    await back


async def _tunnel(
    kmes: FakeKmes,
    *,
    master: dict[str, object] | None = None,
    slave: dict[str, object] | None = None,
    tamper: Tamper | None = None,
) -> tuple[int, list[asyncio.Server], list[bytes]]:
    """Echo service, listen, (a tampering relay), connect: the port a client dials, the servers, and the
    bytes the echo service received."""
    seen: list[bytes] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 16):
            seen.append(data)
            writer.write(data)
            await writer.drain()
        writer.close()

    service = await asyncio.start_server(echo, "127.0.0.1", 0)
    slave_settings = SlaveSettings(forward=Endpoint("127.0.0.1", _port(service)), **slave or {})  # type: ignore[arg-type]
    listener = await start_slave(LOOPBACK, slave_settings, kmes.slave("sae-b"))
    servers = [service, listener]
    peer = _port(listener)
    if tamper is not None:
        target = peer

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _tampering_relay(reader, writer, target, tamper)

        middle = await asyncio.start_server(relay, "127.0.0.1", 0)
        servers.append(middle)
        peer = _port(middle)
    options: dict[str, object] = {"policy": RotationPolicy(every_bytes=ROTATE_BYTES), "retry_s": 0.05, **(master or {})}
    settings = MasterSettings(
        peer=Endpoint("127.0.0.1", peer),
        master_sae_id="sae-a",
        slave_sae_id="sae-b",
        **options,  # type: ignore[arg-type]
    )
    connector = await start_master(LOOPBACK, settings, kmes.master("sae-a"))
    servers.append(connector)
    return _port(connector), servers, seen


async def _exchange(port: int, payload: bytes) -> bytes:
    """Send ``payload`` through the tunnel (then half-close) while reading the echo to its end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        for start in range(0, len(payload), 50_000):
            writer.write(payload[start : start + 50_000])
            await writer.drain()
        writer.write_eof()

    sending = asyncio.create_task(send())
    try:
        echoed = await reader.read(-1)
        await sending
        return echoed
    finally:
        sending.cancel()
        writer.close()


def _run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), timeout=15))


def test_a_stream_goes_through_and_back_while_the_keys_rotate(kmes: FakeKmes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "qinternet.tunnel")
    payload = os.urandom(STREAM_BYTES)

    async def body() -> None:
        port, servers, seen = await _tunnel(kmes)
        assert await _exchange(port, payload) == payload
        assert b"".join(seen) == payload
        for server in servers:
            server.close()

    _run(body)
    # 2 MiB through keys of 64 KiB: at least 2 MiB / (64 KiB + one 64 KiB record of overshoot) rotations
    assert len(kmes.issued) >= 2 * STREAM_BYTES // (2 * ROTATE_BYTES)
    # The slave asked its KME only for the master's key IDs, and for all of them but at most the last: a rotation
    # that the end of the stream overtakes (its KEY record written as the test closes the tunnel) leaves one key
    # the master took and nobody used (the KME voids it once its reservation expires).
    assert kmes.delivered <= set(kmes.issued)
    assert len(set(kmes.issued) - kmes.delivered) <= 1
    assert all(size == 256 for _, size in kmes.requests)
    rotations = [r.getMessage() for r in caplog.records if "(bytes, QKD key" in r.getMessage()]
    assert len(rotations) == len(kmes.issued) - 1
    text = caplog.text
    for _, _, material in kmes.issued.values():  # no key material in the log, in any spelling
        assert material.hex() not in text


@pytest.mark.parametrize(
    ("name", "tamper", "reason"),
    [
        ("altered", lambda i, r: [r[:-20] + bytes([r[-20] ^ 1]) + r[-19:]] if i == 3 else [r], "record.tag"),
        ("replayed", lambda i, r: [r, r] if i == 3 else [r], "record.order"),
        ("dropped", lambda i, r: [] if i == 3 else [r], "record.order"),
        ("truncated", lambda i, r: None if i == 3 else [r], "without its CLOSE record (truncated)"),
    ],
)
def test_a_tampered_stream_is_cut_with_the_reason_logged(
    kmes: FakeKmes, caplog: pytest.LogCaptureFixture, name: str, tamper: Tamper, reason: str
) -> None:
    caplog.set_level(logging.INFO, "qinternet.tunnel")
    payload = os.urandom(STREAM_BYTES // 4)

    async def body() -> None:
        port, servers, seen = await _tunnel(kmes, tamper=tamper)
        try:
            echoed = await _exchange(port, payload)
        except ConnectionError:
            echoed = b""
        assert echoed != payload
        # the service got records 1 and 2 at most (record 0 is OPEN): nothing from the tampered one on
        assert len(b"".join(seen)) <= 2 * (1 << 16)
        for server in servers:
            server.close()

    _run(body)
    closed = [r for r in caplog.records if "listen" in r.getMessage() and "connection closed" in r.getMessage()]
    assert len(closed) == 1, caplog.text
    assert reason in closed[0].getMessage()
    assert closed[0].levelno == logging.ERROR


def test_key_exhaustion_blocks_the_stream_until_the_kme_has_key(kmes: FakeKmes) -> None:
    kmes.keys_left = 1  # the opening key, then nothing
    payload = os.urandom(4 * ROTATE_BYTES)

    async def body() -> None:
        port, servers, seen = await _tunnel(kmes)
        exchange = asyncio.create_task(_exchange(port, payload))
        done, _ = await asyncio.wait([exchange], timeout=1.0)
        assert not done  # blocked: the first key is spent and the KME has no other
        assert len(b"".join(seen)) < len(payload)
        assert len(kmes.issued) == 1
        kmes.keys_left = 100  # the links make key again
        assert await exchange == payload
        for server in servers:
            server.close()

    _run(body)
    assert len(kmes.issued) > 1


@pytest.fixture(scope="module")
def mlkem() -> MLKEM768PrivateKey:
    return MLKEM768PrivateKey.generate()


def test_key_exhaustion_falls_back_to_mlkem_with_a_loud_warning(
    kmes: FakeKmes, mlkem: MLKEM768PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    kmes.keys_left = 2
    payload = os.urandom(6 * ROTATE_BYTES)
    caplog.set_level(logging.INFO, "qinternet.tunnel")

    async def body() -> None:
        port, servers, _ = await _tunnel(
            kmes,
            master={"on_exhaustion": OnExhaustion.HYBRID, "mlkem_public": mlkem.public_key()},
            slave={"mlkem_private": mlkem},
        )
        assert await _exchange(port, payload) == payload
        for server in servers:
            server.close()

    _run(body)
    assert len(kmes.issued) == 2
    warnings = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "NO QKD KEY" in r.getMessage()
    ]
    assert any(w.startswith("WARNING: NO QKD KEY: the KME has no key for sae-b") for w in warnings)  # the master
    assert any("for sae-a" in w for w in warnings)  # the slave, on each fallback epoch it accepts
    assert "ML-KEM-768 fallback" in caplog.text


def test_a_slave_without_an_mlkem_key_refuses_the_fallback(
    kmes: FakeKmes, mlkem: MLKEM768PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    kmes.keys_left = 1
    caplog.set_level(logging.INFO, "qinternet.tunnel")

    async def body() -> None:
        port, servers, _ = await _tunnel(
            kmes, master={"on_exhaustion": OnExhaustion.HYBRID, "mlkem_public": mlkem.public_key()}
        )
        try:
            echoed = await _exchange(port, os.urandom(4 * ROTATE_BYTES))
        except ConnectionError:
            echoed = b""
        assert len(echoed) < 4 * ROTATE_BYTES
        for server in servers:
            server.close()

    _run(body)
    assert "this end refuses it" in caplog.text


# The protocol's pure parts.

_ID = bytes(range(CONNECTION_ID_BYTES))


def _open_header() -> RecordHeader:
    opening = Opening(connection_id=_ID, master_sae_id="sae-a", slave_sae_id="sae-b")
    key = KeyRef(source=KeySource.QKD, key_id="7b0c5f0e-0000-4000-8000-000000000001")
    return RecordHeader(kind=RecordType.OPEN, epoch=0, seq=0, length=5, key=key, opening=opening)


def test_a_header_reads_back_and_every_byte_of_it_is_authenticated() -> None:
    header = _open_header()
    keys = epoch_keys(bytes(32), _ID, 0)
    record = seal(keys.master_to_slave, _ID, header, b"hello")
    head_bytes = len(header.to_bytes())
    assert parse_header(record[:head_bytes]) == header
    assert open_record(keys.master_to_slave, _ID, header, record[:head_bytes], record[head_bytes:]) == b"hello"
    for i in range(head_bytes):  # a header changed anywhere no longer authenticates (or no longer parses)
        head = bytearray(record[:head_bytes])
        head[i] ^= 0x40
        try:
            changed = parse_header(bytes(head))
        except TunnelError:
            continue
        with pytest.raises(TunnelError, match=r"record\.tag"):
            open_record(keys.master_to_slave, _ID, changed, bytes(head), record[head_bytes:])
    with pytest.raises(TunnelError, match=r"record\.tag"):  # the other direction's key, or another connection
        open_record(keys.slave_to_master, _ID, header, record[:head_bytes], record[head_bytes:])
    with pytest.raises(TunnelError, match=r"record\.tag"):
        open_record(
            epoch_keys(bytes(32), bytes(16), 0).master_to_slave,
            bytes(16),
            header,
            record[:head_bytes],
            record[head_bytes:],
        )


def test_records_must_come_in_order() -> None:
    data = RecordHeader(kind=RecordType.DATA, epoch=0, seq=1, length=0)
    key = KeyRef(source=KeySource.QKD, key_id="k")
    assert next_position(None, _open_header(), from_master=True, newest_epoch=0) == Position(0, 1)
    assert next_position(Position(0, 1), data, from_master=True, newest_epoch=0) == Position(0, 2)
    rotate = RecordHeader(kind=RecordType.KEY, epoch=1, seq=7, length=0, key=key)
    assert next_position(Position(0, 7), rotate, from_master=True, newest_epoch=1) == Position(1, 8)
    for expected, header in [
        (None, data),  # no OPEN first
        (Position(0, 2), data),  # a replay
        (Position(0, 0), data),  # a record dropped
        (Position(0, 2), RecordHeader(kind=RecordType.KEY, epoch=2, seq=2, length=0, key=key)),  # an epoch skipped
        (Position(0, 6), rotate),  # the last record of an epoch dropped
        (Position(0, 1), _open_header()),  # a second OPEN
    ]:
        with pytest.raises(TunnelError, match=r"record\.order"):
            next_position(expected, header, from_master=True, newest_epoch=5)
    later = RecordHeader(kind=RecordType.DATA, epoch=2, seq=9, length=0)
    assert next_position(Position(0, 9), later, from_master=False, newest_epoch=2) == Position(2, 10)
    with pytest.raises(TunnelError, match=r"record\.order"):  # the slave's last record of epoch 0 dropped
        next_position(Position(0, 8), later, from_master=False, newest_epoch=2)
    with pytest.raises(TunnelError, match=r"record\.order"):  # an epoch the master has not started
        next_position(Position(0, 9), later, from_master=False, newest_epoch=1)
    with pytest.raises(TunnelError, match=r"record\.order"):
        next_position(Position(0, 9), rotate, from_master=False, newest_epoch=1)


def test_rotation_policy() -> None:
    policy = RotationPolicy(every_s=10, every_bytes=1000, every_records=50)
    assert rotation_reason(policy, age_s=0, payload_bytes=999, records=49) is None
    assert rotation_reason(policy, age_s=0, payload_bytes=1000, records=0) == "bytes"
    assert rotation_reason(policy, age_s=0, payload_bytes=0, records=50) == "records"
    assert rotation_reason(policy, age_s=11, payload_bytes=1, records=2) == "time"
    assert rotation_reason(policy, age_s=11, payload_bytes=0, records=1) is None  # a key that protected nothing
    for bad in ({"every_s": 0}, {"every_s": float("nan")}, {"every_bytes": 0}, {"every_records": 1 << 40}):
        with pytest.raises(ValueError, match="rotate_"):
            RotationPolicy(**bad)  # type: ignore[arg-type]


# The command line.


def _tls(pki: Path, sae: str, port: int) -> list[str]:
    return [
        "--kme",
        f"https://localhost:{port}",
        "--cert",
        f"{pki}/{sae}.pem",
        "--key",
        f"{pki}/{sae}.key",
        "--ca",
        f"{pki}/ca.pem",
    ]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from qinternet.kms.pki import init_pki

    return init_pki(tmp_path_factory.mktemp("pki"), kmes=["kme-a", "kme-b"], saes=["sae-a", "sae-b"]).folder


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["connect", "--listen", "localhost", "--peer", "127.0.0.1:9"], "--listen"),
        (["connect", "--listen", "127.0.0.1:0", "--peer", "127.0.0.1:0"], "--peer"),
        (["connect", "--listen", "127.0.0.1:0", "--peer", "127.0.0.1:9", "--rotate-s", "0"], "--rotate-s"),
        (["connect", "--listen", "127.0.0.1:0", "--peer", "127.0.0.1:9", "--rotate-bytes", "0"], "--rotate-bytes"),
        (
            ["connect", "--listen", "127.0.0.1:0", "--peer", "127.0.0.1:9", "--on-exhaustion", "hybrid"],
            "--mlkem-public",
        ),
        (["listen", "--listen", "127.0.0.1:0", "--forward", "127.0.0.1:70000"], "--forward"),
        (
            ["listen", "--listen", "127.0.0.1:0", "--forward", "127.0.0.1:9", "--on-exhaustion", "hybrid"],
            "--mlkem-private",
        ),
        (["listen", "--listen", "127.0.0.1:0", "--forward", "127.0.0.1:9", "--duration", "-1s"], "--duration"),
    ],
)
def test_bad_options_exit_2_naming_the_option(apps_cli, pki: Path, args: list[str], option: str) -> None:  # type: ignore[no-untyped-def]
    sae = ["--slave", "sae-b"] if args[0] == "connect" else []
    code, _out, err = apps_cli("tunnel", *args, *_tls(pki, "sae-a", 9), *sae)
    assert code == 2, err
    assert err.startswith(f"qinternet: error: {option}: "), err


def test_listen_serves_for_its_duration_and_connect_checks_its_kme_first(apps_cli, pki: Path) -> None:  # type: ignore[no-untyped-def]
    listen = ["tunnel", "listen", "--listen", "127.0.0.1:0", "--forward", "127.0.0.1:9", "--duration", "0.2s"]
    code, _out, err = apps_cli(*listen, *_tls(pki, "sae-b", 9))
    assert code == 0, err
    assert "listening on 127.0.0.1:" in err
    connect = ["tunnel", "connect", "--listen", "127.0.0.1:0", "--peer", "127.0.0.1:9", "--slave", "sae-b"]
    code, _out, err = apps_cli(*connect, *_tls(pki, "sae-a", 9), "--duration", "0.2s")
    assert code == 2  # nothing listens at the KME's address: connect does not start
    assert err.startswith("qinternet: error: --kme: status for slave 'sae-b'"), err
