"""``qinternet tunnel`` on loopback: throughput against a plain TCP relay, and what a key rotation costs.

``python benchmarks/tunnel_bench.py [--mib N] [--repeats R]``; or ``time_tunnel`` and ``tunnel_table`` from
``run.py``.

- **Throughput.** A client sends ``mib`` MiB one way to a sink service that counts them; the time is from
  the first byte sent to the last byte counted. Through the tunnel the bytes go client -> ``tunnel connect``
  -> ``tunnel listen`` -> sink (:func:`qinternet.cli.tunnel_shell.start_master` / ``start_slave``, AES-256-GCM
  records of up to 64 KiB); the **baseline in the same run** goes client -> relay -> relay -> sink through
  two plain asyncio relays that copy 64 KiB reads, so both paths have the same hops, sockets and event loop.
  Everything runs in one process on one event loop (``run.py`` pins it to one core): the ratio is the cost
  of framing, sealing and opening, not of the network. Best of ``repeats``.
- **Rotation cost.** The same transfer with a new key every 64 KiB record against no rotation (one key for
  the whole run): (time with - time without) / rotations. With a **local key source** (keys from
  ``os.urandom`` in memory, given to the slave by ID; the same calls as a KME, in a worker thread as the
  tunnel makes them) this is the tunnel's own cost: the thread hand-offs, two HKDFs and the KEY record.
  With **real KMEs** (``kme-a`` and ``kme-b`` of ``kms_bench.py``'s server process on SQLite, over mutual
  TLS, the tunnel's ``KmeClient``), it adds one ``enc_keys`` and one ``dec_keys`` request per rotation.
  A rotation holds the stream (block semantics), so its whole latency counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

__all__ = ["time_tunnel", "tunnel_table"]

_CHUNK = 1 << 16
_NO_ROTATION = 1 << 36


@dataclass
class _LocalKmes:
    """Keys in memory with the calls of a master's and a slave's KME (no HTTP, no database)."""

    issued: dict[str, bytes] = field(default_factory=dict)

    def get_keys(self, slave: str, number: int = 1, size: int | None = None) -> list[Any]:
        from qinternet.apps.etsi_client import QkdKey

        keys = [QkdKey(str(uuid.uuid4()), os.urandom((size or 256) // 8)) for _ in range(number)]
        self.issued.update((k.key_id, k.material) for k in keys)
        return keys

    def get_keys_with_ids(self, master: str, key_ids: Sequence[str]) -> list[Any]:
        from qinternet.apps.etsi_client import QkdKey

        return [QkdKey(k, self.issued.pop(k)) for k in key_ids]


def _port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    writer.write_eof()


async def _relay_to(port: int) -> asyncio.Server:
    """A plain TCP relay to ``port``: the baseline's hop."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        up_writer.close()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _transfer(total: int, build: Callable[[int], Awaitable[tuple[int, list[asyncio.Server]]]]) -> float:
    """Seconds to send ``total`` bytes through the path ``build(sink port)`` makes, to a counting sink."""
    done = asyncio.get_running_loop().create_future()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count = 0
        while data := await reader.read(_CHUNK):
            count += len(data)
        if not done.done():
            done.set_result(count)
        writer.close()

    sink_server = await asyncio.start_server(sink, "127.0.0.1", 0)
    entry, servers = await build(_port(sink_server))
    block = os.urandom(_CHUNK)
    reader, writer = await asyncio.open_connection("127.0.0.1", entry)
    started = time.perf_counter()
    for _ in range(total // _CHUNK):
        writer.write(block)
        await writer.drain()
    writer.write_eof()
    received = await done
    elapsed = time.perf_counter() - started
    await asyncio.wait_for(reader.read(), timeout=10)  # the path closes hop by hop: no task is left running
    writer.close()
    for server in [sink_server, *servers]:
        server.close()
    if received != total:
        raise RuntimeError(f"the sink counted {received} bytes of {total}")
    return elapsed


async def _plain(sink: int) -> tuple[int, list[asyncio.Server]]:
    second = await _relay_to(sink)
    first = await _relay_to(_port(second))
    return _port(first), [first, second]


def _tunnel(master_kme: Any, slave_kme: Any, rotate_bytes: int, slave_sae: str = "sae-b") -> Any:
    from qinternet.apps.tunnel import RotationPolicy
    from qinternet.cli.tunnel_shell import Endpoint, MasterSettings, SlaveSettings, start_master, start_slave

    async def build(sink: int) -> tuple[int, list[asyncio.Server]]:
        loopback = Endpoint("127.0.0.1", 0)
        listener = await start_slave(loopback, SlaveSettings(forward=Endpoint("127.0.0.1", sink)), slave_kme)
        settings = MasterSettings(
            peer=Endpoint("127.0.0.1", _port(listener)),
            master_sae_id="sae-a",
            slave_sae_id=slave_sae,
            policy=RotationPolicy(every_s=3600, every_bytes=rotate_bytes),
        )
        connector = await start_master(loopback, settings, master_kme)
        return _port(connector), [connector, listener]

    return build


@dataclass(frozen=True, slots=True, kw_only=True)
class TunnelTiming:
    """Best-of-repeats times of one transfer size, seconds, and the derived figures."""

    mib: int
    plain_s: float
    tunnel_s: float
    local_rotating_s: float
    rotations: int
    kme_plain_s: float | None
    kme_rotating_s: float | None
    kme_rotations: int | None
    kme_note: str

    @property
    def plain_mib_per_s(self) -> float:
        return self.mib / self.plain_s

    @property
    def tunnel_mib_per_s(self) -> float:
        return self.mib / self.tunnel_s

    @property
    def ratio(self) -> float:
        """Tunnel throughput / plain relay throughput."""
        return self.plain_s / self.tunnel_s

    @property
    def local_rotation_ms(self) -> float:
        return 1e3 * (self.local_rotating_s - self.tunnel_s) / self.rotations

    @property
    def kme_rotation_ms(self) -> float | None:
        if self.kme_rotating_s is None or self.kme_plain_s is None or not self.kme_rotations:
            return None
        return 1e3 * (self.kme_rotating_s - self.kme_plain_s) / self.kme_rotations

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("plain_mib_per_s", "tunnel_mib_per_s", "ratio", "local_rotation_ms", "kme_rotation_ms"):
            data[name] = getattr(self, name)
        return data


def _best(repeats: int, run: Callable[[], Awaitable[float]]) -> float:
    return min(asyncio.run(run()) for _ in range(repeats))


def _with_real_kmes(repeats: int, kme_mib: int) -> tuple[float | None, float | None, int | None, str]:
    """The tunnel with keys from real KMEs (kms_bench's server process): no rotation, and one per record."""
    try:
        from kms_bench import _fill, _free_port, _Server
        from qinternet.apps.etsi_client import KmeClient
        from qinternet.kms.pki import init_pki
    except ImportError as exc:  # run from elsewhere than benchmarks/
        return None, None, None, f"not run: {exc}"
    total = kme_mib << 20
    rotations = total // _CHUNK
    with tempfile.TemporaryDirectory(prefix="tunnel-bench-") as tmp:
        folder = Path(tmp)
        pki = init_pki(folder / "pki", kmes=["kme-a", "kme-b"], saes=["sae-a", "sae-b"])
        url = f"sqlite:///{folder / 'kms.db'}"
        _fill(url, 4 * (rotations + 2) * repeats)
        ports = {"kme-a": _free_port(), "kme-b": _free_port()}
        config = {"kind": "kme", "db_url": url, "pki": str(pki.folder), "ports": ports, "loop": "asyncio"}
        server = _Server({**config, "gc_freeze": True}, folder / "server.log")
        try:

            def client(kme: str, sae: str) -> KmeClient:
                return KmeClient(f"https://localhost:{ports[kme]}", pki.cert(sae), pki.key(sae), pki.ca)

            with client("kme-a", "sae-a") as master, client("kme-b", "sae-b") as slave:
                plain = _best(repeats, lambda: _transfer(total, _tunnel(master, slave, _NO_ROTATION)))
                rotating = _best(repeats, lambda: _transfer(total, _tunnel(master, slave, _CHUNK)))
        finally:
            server.stop()
    return plain, rotating, rotations, f"{kme_mib} MiB, SQLite, KMEs in their own process, mutual TLS"


def time_tunnel(mib: int = 64, repeats: int = 3, *, kme_mib: int = 4, real_kmes: bool = True) -> TunnelTiming:
    """Time the plain relay, the tunnel without and with rotation (local keys), and with real KMEs.

    Args:
        mib: MiB sent one way in each throughput run.
        repeats: runs of each; the best counts.
        kme_mib: MiB sent with real KMEs (one rotation per 64 KiB: 64 rotations per MiB).
        real_kmes: also run with real KMEs.
    """
    total = mib << 20
    local = _LocalKmes()
    plain = _best(repeats, lambda: _transfer(total, _plain))
    tunnel = _best(repeats, lambda: _transfer(total, _tunnel(local, local, _NO_ROTATION)))
    rotating = _best(repeats, lambda: _transfer(total, _tunnel(local, local, _CHUNK)))
    kme: tuple[float | None, float | None, int | None, str] = (None, None, None, "not run (--no-kme)")
    if real_kmes:
        kme = _with_real_kmes(repeats, kme_mib)
    return TunnelTiming(
        mib=mib,
        plain_s=plain,
        tunnel_s=tunnel,
        local_rotating_s=rotating,
        rotations=total // _CHUNK,
        kme_plain_s=kme[0],
        kme_rotating_s=kme[1],
        kme_rotations=kme[2],
        kme_note=kme[3],
    )


def tunnel_table(timing: TunnelTiming) -> Table:
    table = Table(title=f"qinternet tunnel on loopback: {timing.mib} MiB one way, best of the runs")
    for column in ("path", "time (s)", "MiB/s", "note"):
        table.add_column(column)
    table.add_row("plain TCP relay x2 (baseline)", f"{timing.plain_s:.3f}", f"{timing.plain_mib_per_s:.0f}", "")
    table.add_row(
        "tunnel, one key",
        f"{timing.tunnel_s:.3f}",
        f"{timing.tunnel_mib_per_s:.0f}",
        f"{timing.ratio:.2f}x the baseline's throughput",
    )
    table.add_row(
        "tunnel, new key every 64 KiB (local keys)",
        f"{timing.local_rotating_s:.3f}",
        f"{timing.mib / timing.local_rotating_s:.0f}",
        f"{timing.rotations} rotations: {timing.local_rotation_ms:.3f} ms each",
    )
    kme_ms = timing.kme_rotation_ms
    table.add_row(
        "tunnel, new key every 64 KiB (real KMEs)",
        "-" if timing.kme_rotating_s is None else f"{timing.kme_rotating_s:.3f}",
        "-",
        timing.kme_note
        if kme_ms is None
        else f"{timing.kme_rotations} rotations: {kme_ms:.2f} ms each; {timing.kme_note}",
    )
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--mib", type=int, default=64, help="MiB per throughput run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kme-mib", type=int, default=4, help="MiB per run with real KMEs")
    parser.add_argument("--no-kme", action="store_true", help="skip the real KMEs")
    args = parser.parse_args(argv)
    from rich.console import Console

    timing = time_tunnel(args.mib, args.repeats, kme_mib=args.kme_mib, real_kmes=not args.no_kme)
    Console().print(tunnel_table(timing))


if __name__ == "__main__":
    main()
