"""``qinternet pki init`` and ``qinternet serve``: KMEs with the ETSI GS QKD 014 API, fed by a network."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from qinternet.cli.network_cmd import parse_duration_option
from qinternet.errors import ParameterError
from qinternet.kms.api import create_app
from qinternet.kms.feeder import NetworkFeeder, topology_of
from qinternet.kms.metrics import KmsMetrics
from qinternet.kms.ops import create_ops_app
from qinternet.kms.pki import PkiFiles, complete_pki, init_pki
from qinternet.kms.settings import load_serve_settings
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
    force: Annotated[
        bool, typer.Option("--force", help="Make a new CA even if FOLDER has one (every certificate is replaced).")
    ] = False,
) -> None:
    """Make a CA and sign a server certificate per KME and a client certificate per SAE (CN = its ID).

    A folder that already has a CA keeps it and its certificates: only the missing ones are signed (so
    certificates handed out stay valid); ``--force`` makes a new CA and replaces everything."""
    if scenario is not None:
        topology = topology_of(resolve_scenario(scenario)[0])
        kmes, saes = sorted(topology.kmes), sorted(topology.sae_kme)
    else:
        kmes, saes = kme or ["kme-a", "kme-b"], sae or ["sae-a", "sae-b"]
    if folder.exists() and not folder.is_dir():
        raise ParameterError("FOLDER", f"{str(folder)!r} is a file")
    has_ca = (folder / "ca.pem").exists()
    if has_ca and not force and not (folder / "ca.key").exists():
        raise ParameterError("FOLDER", f"{str(folder)!r} has a ca.pem but no ca.key to sign with (--force: a new CA)")
    try:
        if has_ca and not force:
            signed = complete_pki(folder, kmes=kmes, saes=saes)
            typer.echo(
                f"CA {folder / 'ca.pem'} kept; signed {len(signed)} new certificate(s)"
                + (f" ({', '.join(signed)})" if signed else "")
                + "; the others kept (--force makes a new CA)"
            )
            return
        stale = sorted({p.stem for p in folder.glob("*.pem")} - {"ca", *kmes, *saes}) if has_ca else []
        files = init_pki(folder, kmes=kmes, saes=saes)
    except OSError as exc:
        raise ParameterError("FOLDER", f"cannot write {str(folder)!r}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a ca.key that is not ours
        raise ParameterError("FOLDER", f"{exc} (--force makes a new CA)") from None
    typer.echo(f"CA {files.ca}; {len(kmes)} KME and {len(saes)} SAE certificates in {folder}")
    if stale:
        typer.echo(f"signed by the old CA, so no longer valid (name them to re-sign): {', '.join(stale)}")


def _url(port: int) -> str:
    return f"https://localhost:{port}"


def serve(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario or a YAML file: its nodes run KMEs.")],
    config: Annotated[Path | None, typer.Option(help="YAML file of settings (see qinternet.kms.settings).")] = None,
    pki: Annotated[Path | None, typer.Option(help="PKI folder (made with qinternet pki init if missing).")] = None,
    db: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the key store (sqlite:///kms.db).")] = None,
    speed: Annotated[float | None, typer.Option(help="Simulated seconds per wall second (1).")] = None,
    base_port: Annotated[int | None, typer.Option(help="Port of the first KME; the others follow (8443).")] = None,
    ops_port: Annotated[int | None, typer.Option(help="Port of /metrics and the status page, 0: off (9100).")] = None,
    pool_capacity_bits: Annotated[float | None, typer.Option(help="Most key a link's pool holds (8e6).")] = None,
    warm_up: Annotated[
        str | None, typer.Option(help="Simulated time run at once before serving, e.g. 10min (fills the pools).")
    ] = None,
    master_key_file: Annotated[
        Path | None, typer.Option(help="32 bytes (raw or hex) to encrypt key material at rest.")
    ] = None,
    log_format: Annotated[str | None, typer.Option(help="text or json (one object per line).")] = None,
    duration: Annotated[str | None, typer.Option(help="Stop after this much wall time (default: until ^C).")] = None,
) -> None:
    """Run the scenario's links and serve every node's KME with the ETSI GS QKD 014 API over mutual TLS.

    Settings come from these options, else QINTERNET_KMS_<NAME> environment variables, else --config.
    """
    spec, _ = resolve_scenario(scenario)
    settings = load_serve_settings(
        config,
        {
            "pki": pki,
            "db": db,
            "speed": speed,
            "base_port": base_port,
            "ops_port": ops_port,
            "pool_capacity_bits": pool_capacity_bits,
            "warm_up_s": None if warm_up is None else parse_duration_option(warm_up, "--warm-up", allow_zero=True),
            "master_key_file": master_key_file,
            "log_format": log_format,
        },
    )
    stop_after = None if duration is None else parse_duration_option(duration, "--duration")
    configure_logging(settings.log_format)
    topology = topology_of(spec)
    kmes = sorted(topology.kmes)
    if settings.base_port + len(kmes) - 1 > 65535:
        raise ParameterError("--base-port", f"leaves no room for {len(kmes)} KMEs")
    files = PkiFiles(settings.pki)
    if not files.ca.exists():
        if settings.pki.is_dir() and any(settings.pki.glob("*.pem")):
            raise ParameterError(
                "--pki", f"{str(settings.pki)!r} holds certificates but no ca.pem; not overwriting them"
            )
        init_pki(settings.pki, kmes=kmes, saes=sorted(topology.sae_kme))
    else:  # a PKI made by `qinternet pki init`: sign what this scenario's KMEs and SAEs still lack
        try:
            complete_pki(settings.pki, kmes=kmes, saes=sorted(topology.sae_kme))
        except (OSError, ValueError) as exc:
            raise ParameterError("--pki", f"cannot sign the missing certificates with its CA: {exc}") from None
    missing = [name for name in [*kmes, *topology.sae_kme] if not files.cert(name).exists()]
    if missing:
        raise ParameterError("--pki", f"no certificate for {', '.join(missing[:5])} in {str(settings.pki)!r}")
    try:
        limits = KeyLimits(
            key_size=settings.key_size,
            min_key_size=settings.min_key_size,
            max_key_size=settings.max_key_size,
            max_key_per_request=settings.max_key_per_request,
            max_sae_id_count=settings.max_sae_id_count,
            max_key_count=max(1, int(settings.pool_capacity_bits) // settings.key_size),
        )
    except ValueError as exc:
        raise ParameterError("--config", str(exc)) from None
    store = KeyStore(settings.db, master_key=settings.master_key())
    feeder = NetworkFeeder(spec, store, capacity_bytes=int(settings.pool_capacity_bits // 8))
    try:
        feeder.advance(settings.warm_up_s)
    except SQLAlchemyError as exc:
        raise ParameterError(
            "--db", f"the key store cannot be written: {str(getattr(exc, 'orig', None) or exc)[:200]}"
        ) from None
    metrics = KmsMetrics()
    ports = {kme: settings.base_port + i for i, kme in enumerate(kmes)}
    servers = [
        KmeServer(
            kme,
            create_app(kme, store, topology, limits, metrics),
            ports[kme],
            files.cert(kme),
            files.key(kme),
            files.ca,
        )
        for kme in kmes
    ]
    ops = None
    if settings.ops_port:
        ops = create_ops_app(store, topology, metrics, ports, title=spec.name)
    _print_endpoints(Console(), spec.name, servers, topology.sae_kme, files, settings.ops_port)
    # What start-up built (apps, routes, models, the network) lives until exit: out of the collector's
    # generations, so that full collections under load do not walk it again (they were the latency tail).
    gc.collect()
    gc.freeze()
    try:
        _event_loop_runner()(
            _run(
                servers,
                feeder,
                ops,
                settings.ops_port,
                speed=settings.speed,
                start_s=settings.warm_up_s,
                stop_after_s=stop_after,
            )
        )
    except KeyboardInterrupt:
        pass
    finally:
        store.close()


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """``uvloop.run`` when uvloop is installed (a fifth more deliveries/s on SQLite here), else ``asyncio.run``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def _tls_files(files: PkiFiles, kme: str) -> tuple[Path, Path, Path]:
    return files.cert(kme), files.key(kme), files.ca


def configure_logging(log_format: str) -> None:
    """Log ``qinternet.kms`` events at INFO to stderr, as text or one JSON object per line."""
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter() if log_format == "json" else logging.Formatter("%(asctime)s %(message)s"))
    log = logging.getLogger("qinternet.kms")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


_CHECKPOINT_S = 10.0
"""Wall time between two write-ahead-log checkpoints (old page images of used key leave the log)."""


def _guarded(work: Callable[[], object]) -> None:
    """``work()``; a database error is logged, and the loop tries again at its next tick (the links' key
    meanwhile is lost, as a real link's is while its key manager is down)."""
    try:
        work()
    except SQLAlchemyError as exc:
        logging.getLogger("qinternet.kms").error("key store: %s", str(getattr(exc, "orig", None) or exc)[:200])


async def _run(
    servers: list[KmeServer],
    feeder: NetworkFeeder,
    ops: FastAPI | None,
    ops_port: int,
    *,
    speed: float,
    start_s: float,
    stop_after_s: float | None,
) -> None:
    serving = asyncio.create_task(serve_kmes(servers))
    ops_server = None
    if ops is not None:
        ops_server = uvicorn.Server(
            uvicorn.Config(ops, host="127.0.0.1", port=ops_port, access_log=False, log_level="warning", lifespan="off")
        )
        ops_task = asyncio.create_task(ops_server.serve())
    started = checkpointed = time.monotonic()
    loop = asyncio.get_running_loop()
    try:
        while not serving.done():
            await asyncio.sleep(_TICK_S)
            elapsed = time.monotonic() - started
            until = start_s + speed * elapsed
            await loop.run_in_executor(None, _guarded, functools.partial(feeder.advance, until))
            if time.monotonic() - checkpointed > _CHECKPOINT_S:
                await loop.run_in_executor(None, _guarded, feeder.store.checkpoint)
                checkpointed = time.monotonic()
            if stop_after_s is not None and elapsed >= stop_after_s:
                break
    finally:
        serving.cancel()
        if ops_server is not None:
            ops_server.should_exit = True
            await ops_task
        with contextlib.suppress(asyncio.CancelledError):
            await serving


def _print_endpoints(
    console: Console, name: str, servers: list[KmeServer], sae_kme: Mapping[str, str], files: PkiFiles, ops_port: int
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
    if ops_port:
        console.print(f"Status page and Prometheus metrics: http://127.0.0.1:{ops_port}/ and /metrics")
    console.print(
        f"CA: {files.ca}. Try: curl --cacert {files.ca} --cert {files.folder}/<sae>.pem --key "
        f"{files.folder}/<sae>.key {_url(servers[0].port)}/api/v1/keys/<slave SAE>/status"
    )
