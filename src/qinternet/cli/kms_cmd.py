"""``qinternet pki init`` and ``qinternet serve``: KMEs with the ETSI GS QKD 014 API, fed by a network."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import functools
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from qinternet.cli.network_cmd import parse_duration_option
from qinternet.errors import ParameterError
from qinternet.kms.api import create_app
from qinternet.kms.feeder import NetworkFeeder, topology_of
from qinternet.kms.metrics import KmsMetrics
from qinternet.kms.ops import create_ops_app
from qinternet.kms.pki import PkiFiles, complete_pki, init_pki, name_problem, server_name_problem
from qinternet.kms.settings import ServeSettings, load_serve_settings
from qinternet.kms.store import KeyStore, MasterKeyError
from qinternet.kms.tls import KmeServer, QuietServer, listen, serve_kmes
from qinternet.kms.topology import KeyLimits, KmsTopology
from qinternet.network.catalogue import resolve_scenario
from qinternet.network.schema import Scenario

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
    server_name: Annotated[
        list[str] | None,
        typer.Option(help="A host name or IP address clients reach the KMEs at (repeat); localhost always."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Make a new CA even if FOLDER has one (every certificate is replaced).")
    ] = False,
) -> None:
    """Make a CA and sign a server certificate per KME and a client certificate per SAE (CN = its ID).

    A folder that already has a CA keeps it and its certificates: only the missing ones are signed (so
    certificates handed out stay valid); --force makes a new CA and replaces every named certificate.
    """
    if scenario is not None:
        topology = topology_of(resolve_scenario(scenario)[0])
        kmes, saes = sorted(topology.kmes), sorted(topology.sae_kme)
    else:
        kmes, saes = kme or ["kme-a", "kme-b"], sae or ["sae-a", "sae-b"]
    kmes, saes = list(dict.fromkeys(kmes)), list(dict.fromkeys(saes))
    for option, names in (("--kme", kmes), ("--sae", saes)):
        for name in names:
            problem = name_problem(name)
            if problem is not None:
                raise ParameterError("--scenario" if scenario is not None else option, problem)
    both = sorted(set(kmes) & set(saes))
    if both:
        raise ParameterError("--sae", f"{both[0]!r} is also a KME: their certificates would share a file")
    hosts = list(dict.fromkeys(server_name or []))
    for host in hosts:
        problem = server_name_problem(host)
        if problem is not None:
            raise ParameterError("--server-name", problem)
    if folder.exists() and not folder.is_dir():
        raise ParameterError("FOLDER", f"{str(folder)!r} is a file")
    has_ca = (folder / "ca.pem").exists()
    if has_ca and not force and not (folder / "ca.key").exists():
        raise ParameterError("FOLDER", f"{str(folder)!r} has a ca.pem but no ca.key to sign with (--force: a new CA)")
    try:
        if has_ca and not force:
            signed = complete_pki(folder, kmes=kmes, saes=saes, server_names=hosts)
            typer.echo(
                f"CA {folder / 'ca.pem'} kept; signed {len(signed)} new certificate(s)"
                + (f" ({', '.join(signed)})" if signed else "")
                + "; the others kept (--force makes a new CA)"
            )
            kept = [name for name in kmes if name not in signed]
            if hosts and kept:
                typer.echo(
                    f"the KME certificates kept ({len(kept)}) name only the hosts they were signed for; "
                    f"--force re-signs them for {', '.join(hosts)}"
                )
            return
        stale = sorted({p.stem for p in folder.glob("*.pem")} - {"ca", *kmes, *saes}) if has_ca else []
        files = init_pki(folder, kmes=kmes, saes=saes, server_names=hosts)
    except OSError as exc:
        raise ParameterError("FOLDER", f"cannot write {str(folder)!r}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a ca.key that is not ours
        raise ParameterError("FOLDER", f"{exc} (--force makes a new CA)") from None
    typer.echo(f"CA {files.ca}; {len(kmes)} KME and {len(saes)} SAE certificates in {folder}")
    if stale:
        typer.echo(f"signed by the old CA, so no longer valid (name them to re-sign): {', '.join(stale)}")


_LOCAL = frozenset({"0.0.0.0", "::", "::0", "127.0.0.1", "::1", "localhost"})
"""Addresses a client on this machine reaches as ``localhost`` (the name every KME certificate carries)."""


def _url(host: str, port: int, scheme: str = "https") -> str:
    """Where a client on this machine reaches ``host:port``."""
    shown = "localhost" if host in _LOCAL else f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def serve(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario or a YAML file: its nodes run KMEs.")],
    config: Annotated[Path | None, typer.Option(help="YAML file of settings (see qinternet.kms.settings).")] = None,
    pki: Annotated[Path | None, typer.Option(help="PKI folder (made with qinternet pki init if missing).")] = None,
    db: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the key store (sqlite:///kms.db).")] = None,
    speed: Annotated[float | None, typer.Option(help="Simulated seconds per wall second (1).")] = None,
    base_port: Annotated[int | None, typer.Option(help="Port of the first KME; the others follow (8443).")] = None,
    host: Annotated[
        str | None, typer.Option(help="Address the KMEs listen on (127.0.0.1; 0.0.0.0 for every interface).")
    ] = None,
    ops_host: Annotated[
        str | None, typer.Option(help="Address of /metrics and the status page, plain HTTP (127.0.0.1).")
    ] = None,
    ops_port: Annotated[int | None, typer.Option(help="Port of /metrics and the status page, 0: off (9100).")] = None,
    pool_capacity_bits: Annotated[float | None, typer.Option(help="Most key a link's pool holds (8e6).")] = None,
    warm_up: Annotated[
        str | None, typer.Option(help="Simulated time run at once before serving, fills the pools (10min).")
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
            "host": host,
            "ops_host": ops_host,
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
        try:
            init_pki(settings.pki, kmes=kmes, saes=sorted(topology.sae_kme))
        except (OSError, ValueError) as exc:
            raise ParameterError("--pki", f"cannot make the certificates: {exc}") from None
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
        raise ParameterError("key limits (QINTERNET_KMS_* or --config)", str(exc)) from None
    master_key = settings.master_key()
    ports = {kme: settings.base_port + i for i, kme in enumerate(kmes)}
    log = logging.getLogger("qinternet.kms")
    try:
        with _sigterm_as_interrupt():
            sockets = _listen_all(settings, ports)  # a port in use stops us here
            try:
                store = _open_store(settings.db, master_key)
                try:
                    _serve_store(spec, settings, store, topology, limits, files, ports, sockets, stop_after)
                finally:
                    log.info("stopping: closing the key store")
                    store.close()
            finally:
                for sock in sockets.values():
                    sock.close()
    except KeyboardInterrupt:  # ^C or SIGTERM: a clean stop, whenever it comes
        pass
    log.info("stopped")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (systemd, docker stop, kill) stops ``serve`` as ^C does: cleanly, at any point of start-up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve_store(
    spec: Scenario,
    settings: ServeSettings,
    store: KeyStore,
    topology: KmsTopology,
    limits: KeyLimits,
    files: PkiFiles,
    ports: Mapping[str, int],
    sockets: Mapping[str, socket.socket],
    stop_after_s: float | None,
) -> None:
    """Warm the pools up, print the endpoints and serve until ^C or ``stop_after_s``."""
    feeder = NetworkFeeder(spec, store, capacity_bytes=int(settings.pool_capacity_bits // 8))
    try:
        feeder.advance(settings.warm_up_s)
    except SQLAlchemyError as exc:
        raise ParameterError(
            "--db", f"the key store cannot be written: {str(getattr(exc, 'orig', None) or exc)[:200]}"
        ) from None
    metrics = KmsMetrics()
    servers = [
        KmeServer(
            kme,
            create_app(kme, store, topology, limits, metrics),
            port,
            files.cert(kme),
            files.key(kme),
            files.ca,
            host=settings.host,
            sock=sockets[kme],
        )
        for kme, port in ports.items()
    ]
    ops = None
    if settings.ops_port:
        ops = create_ops_app(store, topology, metrics, dict(ports), title=spec.name)
    _print_endpoints(Console(soft_wrap=True), spec.name, servers, topology.sae_kme, files, settings)
    # What start-up built (apps, routes, models, the network) lives until exit: out of the collector's
    # generations, so that full collections under load do not walk it again (they were the latency tail).
    gc.collect()
    gc.freeze()
    _event_loop_runner()(
        _run(
            servers,
            feeder,
            ops,
            sockets.get(_OPS),
            speed=settings.speed,
            start_s=settings.warm_up_s,
            stop_after_s=stop_after_s,
        )
    )


_OPS = "\0ops"
"""The key of the ops port's socket among the KMEs' in :func:`_listen_all`."""


def _listen_all(settings: ServeSettings, ports: Mapping[str, int]) -> dict[str, socket.socket]:
    """A listening socket per KME (and for the ops port), or a one-line error naming the option at fault."""
    wanted = {name: (settings.host, port) for name, port in ports.items()}
    if settings.ops_port:
        wanted[_OPS] = (settings.ops_host, settings.ops_port)
    made: dict[str, socket.socket] = {}
    for name, (host, port) in wanted.items():
        try:
            made[name] = listen(host, port)
        except OSError as exc:
            for sock in made.values():
                sock.close()
            raise _listen_error(exc, name, host, port) from None
    return made


def _listen_error(exc: OSError, name: str, host: str, port: int) -> ParameterError:
    host_option = "--ops-host" if name == _OPS else "--host"
    if isinstance(exc, socket.gaierror) or (exc.errno or 0) < 0:  # create_server re-raises getaddrinfo's error
        return ParameterError(host_option, f"cannot resolve {host!r} to an address of this machine")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ParameterError(host_option, f"{host!r} is not an address of this machine")
    option = "--ops-port" if name == _OPS else "--base-port"
    what = "the ops port" if name == _OPS else f"{name}'s port"
    reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else (exc.strerror or str(exc))
    return ParameterError(option, f"cannot listen on {host}:{port} ({what}): {reason}")


def _open_store(url: str, master_key: bytes | None) -> KeyStore:
    """The key store at ``url``, or a one-line error naming the option at fault (never the URL's password)."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise ParameterError("--db", "is not a SQLAlchemy URL (e.g. sqlite:///kms.db)") from None
    try:
        return KeyStore(url, master_key=master_key)
    except MasterKeyError as exc:
        raise ParameterError("--master-key-file", f"{exc} ({shown})") from None
    except NoSuchModuleError:
        raise ParameterError("--db", f"{shown}: no such database dialect (sqlite or postgresql+psycopg)") from None
    except ImportError as exc:
        raise ParameterError("--db", f"{shown}: its driver is not installed ({exc.name or exc})") from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        raise ParameterError("--db", f"cannot open the key store {shown}: {reason}") from None


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
    handler = _CurrentStderr()
    handler.setFormatter(_JsonFormatter() if log_format == "json" else _TextFormatter("%(asctime)s %(message)s"))
    log = logging.getLogger("qinternet.kms")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (not the one at start-up, which an
    embedding program or a test may have closed since)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class _TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        """ISO 8601 in UTC with milliseconds, e.g. ``2026-11-26T13:01:14.031+00:00``."""
        return datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds")


class _JsonFormatter(_TextFormatter):
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
    ops_socket: socket.socket | None,
    *,
    speed: float,
    start_s: float,
    stop_after_s: float | None,
) -> None:
    serving = asyncio.create_task(serve_kmes(servers))
    ops_server = None
    if ops is not None and ops_socket is not None:
        ops_server = QuietServer(uvicorn.Config(ops, access_log=False, log_level="warning", lifespan="off"))
        ops_task = asyncio.create_task(ops_server.serve(sockets=[ops_socket]))
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
    console: Console,
    name: str,
    servers: list[KmeServer],
    sae_kme: Mapping[str, str],
    files: PkiFiles,
    settings: ServeSettings,
) -> None:
    table = Table(title=f"{name}: KMEs serving ETSI GS QKD 014 over mutual TLS")
    for column in ("KME", "URL", "its SAEs (certificate, key)"):
        table.add_column(column)
    attached: dict[str, list[str]] = {}
    for sae, kme in sae_kme.items():
        attached.setdefault(kme, []).append(sae)
    for server in servers:
        saes = ", ".join(f"{s} ({files.cert(s).name}, {files.key(s).name})" for s in attached.get(server.kme_id, []))
        table.add_row(server.kme_id, _url(server.host, server.port), saes or "-")
    console.print(table)
    if settings.ops_port:
        console.print(
            f"Status page and Prometheus metrics: {_url(settings.ops_host, settings.ops_port, 'http')}/ and /metrics"
        )
    console.print(f"CA: {files.ca}. Try (one line; <sae> and <slave SAE> from the table):")
    console.print(
        f"curl --cacert {files.ca} --cert {files.folder}/<sae>.pem --key {files.folder}/<sae>.key "
        f"{_url(settings.host, servers[0].port)}/api/v1/keys/<slave SAE>/status",
        markup=False,
        highlight=False,
    )
