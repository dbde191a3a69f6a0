"""Running a network's KMEs: listening sockets, the key store, the links' key in (accelerated) real time,
clean stops on signals, and logs.

:func:`run_service` is what ``qinternet serve`` runs once its options are read and its certificates are in
place: it binds every port first (a port in use is then an error before anything is served), opens the
key store (a wrong master key or an unusable database likewise), runs the warm-up, starts the KMEs
(:mod:`.tls`) and the ops app (:mod:`.ops`) in one event loop, advances the network every
:data:`TICK_S` of wall time, and stops every server at once on SIGINT or SIGTERM, at any point.
"""

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
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from qinternet.errors import ParameterError, interrupt_handled
from qinternet.kms.api import create_app
from qinternet.kms.feeder import NetworkFeeder
from qinternet.kms.metrics import KmsMetrics
from qinternet.kms.ops import create_ops_app
from qinternet.kms.pki import PkiFiles
from qinternet.kms.policy import KeyPolicy
from qinternet.kms.settings import ServeSettings
from qinternet.kms.southbound import DeviceEnd
from qinternet.kms.store import KeyStore, MasterKeyError
from qinternet.kms.tls import KmeServer, QuietServer, SignalStop, listen, serve_kmes
from qinternet.kms.topology import KeyLimits, KmsTopology
from qinternet.network.schema import Scenario
from qinternet.outputs import write_file

__all__ = [
    "TICK_S",
    "SideApp",
    "client_url",
    "configure_logging",
    "event_loop_runner",
    "listen_all",
    "listen_on",
    "open_store",
    "run_service",
    "sweep_keys",
]

TICK_S = 0.25
"""Wall time between two advances of the network."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SideApp:
    """A plain-HTTP app served beside the KMEs on a port of its own (``serve --dashboard``'s dashboard).

    Attributes:
        option: the option that sets its port, named when the port cannot be bound.
        host: the address it listens on (an option of its own or ``--ops-host``'s).
        port: its port; 0: one the system picks (the URL passed to ``ready`` has the port taken).
        build: makes the app from the running network's feeder, before the warm-up (so that the app
            sees every block), given also the key store and the topology.
        ready: told the app's URL once the KMEs are announced.
    """

    option: str
    host: str
    port: int
    build: Callable[[NetworkFeeder, KeyStore, KmsTopology], FastAPI]
    ready: Callable[[str], None]


def run_service(
    spec: Scenario,
    settings: ServeSettings,
    topology: KmsTopology,
    limits: KeyLimits,
    files: PkiFiles,
    *,
    announce: Callable[[list[KmeServer]], None],
    stop_after_s: float | None = None,
    policy: KeyPolicy | None = None,
    side_apps: Sequence[SideApp] = (),
    devices: Mapping[str, DeviceEnd] | None = None,
) -> None:
    """Serve every KME of ``spec`` until ^C, SIGTERM or ``stop_after_s`` of wall time.

    ``files`` must hold the KMEs' certificates; ``announce`` is called with the servers once the pools are
    warm, before they accept requests; ``side_apps`` are served beside them over plain HTTP. Raises
    :class:`~qinternet.errors.ParameterError` naming the option at fault for a port in use, a host that is not
    this machine's, a key store that cannot be opened or a master key that does not fit it; everything opened
    is closed on every way out. ``policy``: the per-SAE quota and the expiry of keys never fetched
    (:mod:`.policy`; default: none, and no expiry). ``devices``: the QKD devices that push the links' key
    (:mod:`.api_southbound`); None: the links run here (:class:`~qinternet.kms.feeder.NetworkFeeder`).
    """
    policy = policy or KeyPolicy()
    master_key = settings.master_key()
    ports = {kme: settings.base_port + i for i, kme in enumerate(sorted(topology.kmes))}
    log = logging.getLogger("qinternet.kms")
    if settings.master_key_file is not None and settings.master_key_file.stat().st_mode & 0o077:
        log.warning("the master key file %s can be read by other users: chmod 600 it", settings.master_key_file)
    try:
        with SignalStop(raising=True) as stop:  # raising until the event loop is about to run
            sockets = listen_all(settings, ports, side_apps)  # a port in use stops us here
            try:
                store = open_store(settings.db, master_key)
                try:
                    _serve_store(
                        spec,
                        settings,
                        store,
                        topology,
                        limits,
                        policy,
                        files,
                        ports,
                        sockets,
                        stop_after_s,
                        announce,
                        side_apps,
                        devices,
                        stop,
                    )
                finally:
                    log.info("stopping: closing the key store")
                    store.close()
            finally:
                for sock in sockets.values():
                    sock.close()
    except KeyboardInterrupt:  # ^C or SIGTERM: a clean stop, whenever it comes
        interrupt_handled()
    log.info("stopped")


def _serve_store(
    spec: Scenario,
    settings: ServeSettings,
    store: KeyStore,
    topology: KmsTopology,
    limits: KeyLimits,
    policy: KeyPolicy,
    files: PkiFiles,
    ports: Mapping[str, int],
    sockets: Mapping[str, socket.socket],
    stop_after_s: float | None,
    announce: Callable[[list[KmeServer]], None],
    side_apps: Sequence[SideApp],
    devices: Mapping[str, DeviceEnd] | None,
    stop: SignalStop,
) -> None:
    """Warm the pools up (links run here), ``announce`` the servers and serve until ``stop`` (^C, SIGTERM) or
    ``stop_after_s``."""
    capacity_bytes = int(settings.pool_capacity_bits // 8)
    feeder = None
    if devices is None:
        feeder = NetworkFeeder(spec, store, capacity_bytes=capacity_bytes, topology=topology)
    plain: list[tuple[FastAPI, socket.socket]] = []
    for i, side in enumerate(side_apps):
        if feeder is None:
            raise ParameterError(side.option, "shows the links running in the server; with external devices none does")
        plain.append((side.build(feeder, store, topology), sockets[_side_key(i)]))
    try:
        if feeder is not None:
            feeder.advance(settings.warm_up_s)
    except SQLAlchemyError as exc:
        raise ParameterError(
            "--db", f"the key store cannot be written: {str(getattr(exc, 'orig', None) or exc)[:200]}"
        ) from None
    metrics = KmsMetrics()
    next_block = None if feeder is None else functools.partial(_wall_s_to_next_block, feeder, settings.speed)
    link_rate = None if feeder is None else functools.partial(_wall_key_rate_bps, feeder, settings.speed)
    servers = [
        KmeServer(
            kme,
            create_app(
                kme,
                store,
                topology,
                limits,
                metrics,
                policy=policy,
                next_block_s=next_block,
                link_rate_bps=link_rate,
                devices=devices,
                pool_capacity_bytes=capacity_bytes,
            ),
            port,
            files.cert(kme),
            files.key(kme),
            files.ca,
            host=settings.host,
            sock=sockets[kme],
        )
        for kme, port in ports.items()
    ]
    if settings.ops_port:
        plain.insert(0, (create_ops_app(store, topology, metrics, dict(ports), title=spec.name), sockets[_OPS]))
    # From here a signal only asks the servers to exit: a KeyboardInterrupt raised in the event loop can be lost
    # (SignalStop); one that comes before the loop runs stops the servers as soon as they have started.
    stop.raising = False
    announce(servers)
    for i, side in enumerate(side_apps):
        side.ready(client_url(side.host, sockets[_side_key(i)].getsockname()[1], "http") + "/")
    if settings.ready_file is not None:
        urls = {server.kme_id: client_url(server.host, server.port) for server in servers}
        write_file(settings.ready_file, json.dumps(urls, indent=2) + "\n", "--ready-file")
    # What start-up built (apps, routes, models, the network) lives until exit: out of the collector's
    # generations, so that full collections under load do not walk it again (they were the latency tail).
    gc.collect()
    gc.freeze()
    try:
        event_loop_runner()(
            _run(
                servers,
                store,
                feeder,
                plain,
                stop,
                speed=settings.speed,
                start_s=settings.warm_up_s,
                stop_after_s=stop_after_s,
                reservation_ttl_s=policy.reservation_ttl_s,
                redelivery_window_s=policy.redelivery_window_s,
            )
        )
    finally:
        if settings.ready_file is not None:
            settings.ready_file.unlink(missing_ok=True)


def _wall_s_to_next_block(feeder: NetworkFeeder, speed: float, kme_a: str, kme_b: str) -> float | None:
    """Wall seconds until the key of the next block of the link between two KMEs is in their pool: the
    simulated time to the block's end at ``speed``, and the tick that stores it."""
    wait_s = feeder.next_block_s(kme_a, kme_b)
    return None if wait_s is None else wait_s / speed + TICK_S


def _wall_key_rate_bps(feeder: NetworkFeeder, speed: float, kme_a: str, kme_b: str) -> float | None:
    """Bits of secret key per wall second the links between two KMEs make at ``speed`` (their rate so far)."""
    rate = feeder.key_rate_bps(kme_a, kme_b)
    return None if rate is None else rate * speed


_LOCAL = frozenset({"0.0.0.0", "::", "::0", "127.0.0.1", "::1", "localhost"})
"""Addresses of this machine's own (or every) interface, which a client here reaches as ``localhost``."""


def client_url(host: str, port: int, scheme: str = "https") -> str:
    """Where a client on this machine reaches ``host:port``: over HTTPS by ``localhost``, the name every KME
    certificate carries; over plain HTTP by the address itself (the loopback one for a wildcard)."""
    if scheme == "https" and host in _LOCAL:
        host = "localhost"
    elif host in ("0.0.0.0", "::", "::0"):
        host = "127.0.0.1"
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


_OPS = "\0ops"
"""The key of the ops port's socket among the KMEs' in :func:`listen_all`."""


def _side_key(index: int) -> str:
    """The key of a side app's socket among the KMEs' in :func:`listen_all`."""
    return f"\0side{index}"


def listen_all(
    settings: ServeSettings, ports: Mapping[str, int], side_apps: Sequence[SideApp] = ()
) -> dict[str, socket.socket]:
    """A listening socket per KME (and for the ops port and each side app), or a one-line error naming the
    option at fault."""
    wanted = {name: (settings.host, port) for name, port in ports.items()}
    options = {name: ("--host", "--base-port", f"{name}'s port") for name in ports}
    if settings.ops_port:
        wanted[_OPS] = (settings.ops_host, settings.ops_port)
        options[_OPS] = ("--ops-host", "--ops-port", "the ops port")
    for i, side in enumerate(side_apps):
        wanted[_side_key(i)] = (side.host, side.port)
        options[_side_key(i)] = ("--ops-host", side.option, f"the port of {side.option}")
    made: dict[str, socket.socket] = {}
    for name, (host, port) in wanted.items():
        try:
            made[name] = listen_on(host, port, options=options[name])
        except ParameterError:
            for sock in made.values():
                sock.close()
            raise
    return made


def listen_on(host: str, port: int, *, options: tuple[str, str, str]) -> socket.socket:
    """A socket listening on ``host:port``, or a one-line error naming the option at fault: ``options`` is
    (the host's option, the port's option, what the port is for)."""
    try:
        return listen(host, port)
    except OSError as exc:
        raise _listen_error(exc, options, host, port) from None


def _listen_error(exc: OSError, options: tuple[str, str, str], host: str, port: int) -> ParameterError:
    host_option, option, what = options
    if isinstance(exc, socket.gaierror) or (exc.errno or 0) < 0:  # create_server re-raises getaddrinfo's error
        return ParameterError(host_option, f"cannot resolve {host!r} to an address of this machine")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ParameterError(host_option, f"{host!r} is not an address of this machine")
    reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else (exc.strerror or str(exc))
    return ParameterError(option, f"cannot listen on {host}:{port} ({what}): {reason}")


def open_store(url: str, master_key: bytes | None) -> KeyStore:
    """The key store at ``url``, or a one-line error naming the option at fault (never the URL's password)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ParameterError("--db", "is not a SQLAlchemy URL (e.g. sqlite:///kms.db)") from None
    shown = parsed.render_as_string(hide_password=True)
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and (database in ("", ":memory:") or "mode=memory" in url):
        raise ParameterError(
            "--db",
            f"{shown} is an in-memory database, gone with the process and not shared between its "
            "connections: name a file, e.g. sqlite:///kms.db",
        )
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


def event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """``uvloop.run`` when uvloop is installed (a fifth more deliveries/s on SQLite here), else ``asyncio.run``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def configure_logging(log_format: str, name: str = "qinternet.kms") -> None:
    """Log the events of the logger ``name`` at INFO to stderr, as text or one JSON object per line."""
    handler = _CurrentStderr()
    handler.setFormatter(_JsonFormatter() if log_format == "json" else _TextFormatter("%(asctime)s %(message)s"))
    log = logging.getLogger(name)
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
_EXPIRE_EVERY_S = 5.0
"""Wall time between two sweeps voiding keys never fetched and erasing keys past their redelivery window
(delivery refuses both at once anyway)."""


def _guarded(work: Callable[[], object]) -> None:
    """``work()``; a database error is logged, and the loop tries again at its next tick (the links' key
    meanwhile is lost, as a real link's is while its key manager is down)."""
    try:
        work()
    except SQLAlchemyError as exc:
        logging.getLogger("qinternet.kms").error("key store: %s", str(getattr(exc, "orig", None) or exc)[:200])


def sweep_keys(store: KeyStore, reservation_ttl_s: float, redelivery_window_s: float) -> None:
    """Void the keys reserved longer than ``reservation_ttl_s`` (if > 0) and erase those delivered longer
    than ``redelivery_window_s`` ago (always: a window of 0 erases what an earlier run held); their numbers
    are logged, nothing of them. What ``serve`` and ``kme`` run periodically."""
    log = logging.getLogger("qinternet.kms")
    if reservation_ttl_s > 0:
        voided = store.expire_reserved(reservation_ttl_s)
        if voided:
            log.info("voided %d key(s) not fetched within %g s", voided, reservation_ttl_s)
    erased = store.erase_delivered(redelivery_window_s)
    if erased:
        log.info("erased %d delivered key(s) at the end of their %g s redelivery window", erased, redelivery_window_s)


async def _run(
    servers: list[KmeServer],
    store: KeyStore,
    feeder: NetworkFeeder | None,
    plain: Sequence[tuple[FastAPI, socket.socket]],
    stop: SignalStop,
    *,
    speed: float,
    start_s: float,
    stop_after_s: float | None,
    reservation_ttl_s: float = 0.0,
    redelivery_window_s: float = 0.0,
) -> None:
    """Serve the KMEs and the plain-HTTP apps (ops, side apps), advancing the network (if it runs here) every
    tick, until ``stop`` has them exit."""
    serving = asyncio.create_task(serve_kmes(servers, stop=stop))
    plain_servers = [
        QuietServer(uvicorn.Config(app, access_log=False, log_level="warning", lifespan="off")) for app, _ in plain
    ]
    stop.watch(plain_servers)
    plain_tasks = [
        asyncio.create_task(server.serve(sockets=[sock]))
        for server, (_, sock) in zip(plain_servers, plain, strict=True)
    ]
    started = checkpointed = swept = time.monotonic()
    expire = functools.partial(sweep_keys, store, reservation_ttl_s, redelivery_window_s)
    loop = asyncio.get_running_loop()
    try:
        while not serving.done():
            await asyncio.sleep(TICK_S)
            elapsed = time.monotonic() - started
            until = start_s + speed * elapsed
            if feeder is not None:
                await loop.run_in_executor(None, _guarded, functools.partial(feeder.advance, until))
            if time.monotonic() - checkpointed > _CHECKPOINT_S:
                await loop.run_in_executor(None, _guarded, store.checkpoint)
                checkpointed = time.monotonic()
            if time.monotonic() - swept > _EXPIRE_EVERY_S:
                await loop.run_in_executor(None, _guarded, expire)
                swept = time.monotonic()
            if stop_after_s is not None and elapsed >= stop_after_s:
                break
    finally:
        serving.cancel()
        for server in plain_servers:
            server.should_exit = True
        for task in plain_tasks:
            await task
        with contextlib.suppress(asyncio.CancelledError):
            await serving
