"""``qinternet pki init`` and ``qinternet serve``: KMEs with the ETSI GS QKD 014 API, fed by a network."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from qinternet.cli.network_cmd import parse_duration_option
from qinternet.errors import ParameterError
from qinternet.kms.api import create_app
from qinternet.kms.feeder import NetworkFeeder, topology_of
from qinternet.kms.pki import PkiFiles, init_pki
from qinternet.kms.store import KeyStore
from qinternet.kms.tls import KmeServer, serve_kmes
from qinternet.kms.topology import KeyLimits
from qinternet.network.catalogue import resolve_scenario

__all__ = ["pki_app", "serve"]

pki_app = typer.Typer(help="Certificates for trying the KMEs over mutual TLS.", no_args_is_help=True)

_TICK_S = 0.25
"""Wall time between two advances of the network."""


@pki_app.command("init")
def pki_init(
    folder: Annotated[Path, typer.Argument(help="Folder for ca.pem and the KME and SAE certificates and keys.")],
    kme: Annotated[list[str] | None, typer.Option(help="A KME ID (repeat). Default: kme-a, kme-b.")] = None,
    sae: Annotated[list[str] | None, typer.Option(help="An SAE ID (repeat). Default: sae-a, sae-b.")] = None,
    scenario: Annotated[str | None, typer.Option(help="Make the KMEs and SAEs of this scenario instead.")] = None,
) -> None:
    """Make a CA and sign a server certificate per KME and a client certificate per SAE (CN = its ID)."""
    if scenario is not None:
        topology = topology_of(resolve_scenario(scenario)[0])
        kmes, saes = sorted(topology.kmes), sorted(topology.sae_kme)
    else:
        kmes, saes = kme or ["kme-a", "kme-b"], sae or ["sae-a", "sae-b"]
    if folder.exists() and not folder.is_dir():
        raise ParameterError("FOLDER", f"{str(folder)!r} is a file")
    try:
        files = init_pki(folder, kmes=kmes, saes=saes)
    except OSError as exc:
        raise ParameterError("FOLDER", f"cannot write {str(folder)!r}: {exc.strerror or exc}") from None
    typer.echo(f"CA {files.ca}; {len(kmes)} KME and {len(saes)} SAE certificates in {folder}")


def _url(port: int) -> str:
    return f"https://localhost:{port}"


def serve(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario or a YAML file: its nodes run KMEs.")],
    pki: Annotated[Path, typer.Option(help="PKI folder (made with qinternet pki init if missing).")] = Path("pki"),
    db: Annotated[str, typer.Option(help="SQLAlchemy URL of the key store.")] = "sqlite:///kms.db",
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second.")] = 1.0,
    base_port: Annotated[int, typer.Option(help="Port of the first KME; the others follow.")] = 8443,
    pool_capacity_bits: Annotated[float, typer.Option(help="Most key a link's pool holds.")] = 8e6,
    warm_up: Annotated[
        str, typer.Option(help="Simulated time run at once before serving, e.g. 10min (fills the pools).")
    ] = "10min",
    duration: Annotated[
        str | None, typer.Option(help="Stop after this much wall time (default: run until ^C).")
    ] = None,
) -> None:
    """Run the scenario's links and serve every node's KME with the ETSI GS QKD 014 API over mutual TLS."""
    spec, _ = resolve_scenario(scenario)
    if not speed > 0:
        raise ParameterError("--speed", f"must be > 0, got {speed}")
    if not 1 <= base_port <= 65535:
        raise ParameterError("--base-port", f"must be a TCP port, got {base_port}")
    warm_s = parse_duration_option(warm_up, "--warm-up", allow_zero=True)
    stop_after = None if duration is None else parse_duration_option(duration, "--duration")
    topology = topology_of(spec)
    kmes = sorted(topology.kmes)
    if base_port + len(kmes) - 1 > 65535:
        raise ParameterError("--base-port", f"leaves no room for {len(kmes)} KMEs")
    files = PkiFiles(pki)
    if not files.ca.exists():
        init_pki(pki, kmes=kmes, saes=sorted(topology.sae_kme))
    missing = [name for name in [*kmes, *topology.sae_kme] if not files.cert(name).exists()]
    if missing:
        raise ParameterError("--pki", f"no certificate for {', '.join(missing[:5])} in {str(pki)!r}")
    capacity = int(pool_capacity_bits // 8)
    if capacity < 1:
        raise ParameterError("--pool-capacity-bits", "must hold at least one byte")
    store = KeyStore(db)
    feeder = NetworkFeeder(spec, store, capacity_bytes=capacity)
    feeder.advance(warm_s)
    limits = KeyLimits(max_key_count=max(1, capacity * 8 // 256))
    servers = [
        KmeServer(
            kme, create_app(kme, store, topology, limits), base_port + i, files.cert(kme), files.key(kme), files.ca
        )
        for i, kme in enumerate(kmes)
    ]
    _print_endpoints(Console(), spec.name, servers, topology.sae_kme, files)
    try:
        asyncio.run(_run(servers, feeder, speed=speed, start_s=warm_s, stop_after_s=stop_after))
    except KeyboardInterrupt:
        pass
    finally:
        store.close()


async def _run(
    servers: list[KmeServer], feeder: NetworkFeeder, *, speed: float, start_s: float, stop_after_s: float | None
) -> None:
    serving = asyncio.create_task(serve_kmes(servers))
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    try:
        while not serving.done():
            await asyncio.sleep(_TICK_S)
            elapsed = time.monotonic() - started
            await loop.run_in_executor(None, feeder.advance, start_s + speed * elapsed)
            if stop_after_s is not None and elapsed >= stop_after_s:
                break
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


def _print_endpoints(
    console: Console, name: str, servers: list[KmeServer], sae_kme: Mapping[str, str], files: PkiFiles
) -> None:
    table = Table(title=f"{name}: KMEs serving ETSI GS QKD 014 over mutual TLS")
    for column in ("KME", "URL", "its SAEs (certificate, key)"):
        table.add_column(column)
    attached: dict[str, list[str]] = {}
    for sae, kme in sae_kme.items():
        attached.setdefault(kme, []).append(sae)
    for server in servers:
        saes = ", ".join(f"{s} ({files.cert(s).name}, {files.key(s).name})" for s in attached.get(server.kme_id, []))
        table.add_row(server.kme_id, _url(server.port), saes or "-")
    console.print(table)
    console.print(
        f"CA: {files.ca}. Try: curl --cacert {files.ca} --cert {files.folder}/<sae>.pem --key "
        f"{files.folder}/<sae>.key {_url(servers[0].port)}/api/v1/keys/<slave SAE>/status"
    )
