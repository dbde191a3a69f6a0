"""Serving KMEs over HTTPS with mutual TLS, the caller's SAE ID taken from its verified certificate.

uvicorn does not hand the client's certificate to the application (FACTS.md), so the HTTP protocol
class is extended: when a connection is made, the TLS layer has already verified the client certificate
against our CA (``CERT_REQUIRED``; TLS 1.2 at least), and the connection's ASGI app is wrapped to put the
certificate's common name into every request's scope as :data:`qinternet.kms.api.SAE_SCOPE_KEY`. Nothing
a client sends can set it: it is not a header, and it is written over on every request.

A handshake the server refuses (no client certificate, one from another CA, TLS below 1.2, plain HTTP on
the TLS port) never reaches the application, and the event loops (asyncio's and uvloop's) drop it
silently outside their debug mode: the server's SSL context makes its TLS objects of a class whose
handshake logs the failure (one line: the KME and the TLS library's reason; no certificate, no key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from qinternet.kms.api import SAE_SCOPE_KEY
from qinternet.kms.pki import common_name

__all__ = [
    "KmeServer",
    "QuietServer",
    "RunningKmes",
    "SignalStop",
    "identity_protocol",
    "listen",
    "serve_kmes",
    "server_for",
    "start_in_thread",
]

Scope = MutableMapping[str, Any]
Asgi = Callable[[Scope, Any, Any], Awaitable[None]]

try:  # the faster parser when it is installed (a dependency of qinternet)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _BaseProtocol
except ImportError:  # pragma: no cover - httptools missing
    from uvicorn.protocols.http.h11_impl import H11Protocol as _BaseProtocol  # type: ignore[assignment]


def _with_identity(app: Asgi, sae_id: str | None) -> Asgi:
    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        scope = dict(scope)
        if sae_id is None:
            scope.pop(SAE_SCOPE_KEY, None)
        else:
            scope[SAE_SCOPE_KEY] = sae_id
        await app(scope, receive, send)

    return wrapped


class identity_protocol(_BaseProtocol):  # noqa: N801 - uvicorn takes the class where it takes "httptools"
    """uvicorn's HTTP protocol, with the client certificate's common name in every request's scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        peer = ssl_object.getpeercert() if ssl_object is not None else None
        self.app = _with_identity(self.app, common_name(peer))


@dataclass(frozen=True, slots=True)
class KmeServer:
    """One KME's HTTPS endpoint: its app, port and certificate files."""

    kme_id: str
    app: Any
    port: int
    cert: Path
    key: Path
    ca: Path
    host: str = "127.0.0.1"
    sock: socket.socket | None = None
    """A socket already listening on ``host:port`` (see :func:`listen`), or None for the server to bind."""


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (IPv4 or IPv6), made before serving so that a port in use is
    an error at start-up rather than a failed server task; raises ``OSError`` (e.g. ``EADDRINUSE``)."""
    if ":" not in host:
        return socket.create_server((host, port), backlog=2048)
    every = host in ("::", "::0") and socket.has_dualstack_ipv6()  # "::" is every address, IPv4 ones too
    return socket.create_server((host, port), family=socket.AF_INET6, backlog=2048, dualstack_ipv6=every)


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT and SIGTERM to its caller.

    Each uvicorn server takes the signals for itself and, when it has stopped, raises them again for the
    server started before it: 37 servers in one loop then stop one after another (7 s here).
    :func:`serve_kmes` stops them all at once instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Nothing: the caller handles the signals."""
        yield


class SignalStop:
    """While inside (``with``; in the main thread only, elsewhere it does nothing), SIGINT and SIGTERM ask
    every :meth:`watch`-ed server to exit, and servers watched later exit as soon as they have started; a
    second SIGINT also stops waiting for open connections.

    The handler only sets flags, never raises: a :class:`KeyboardInterrupt` raised in an event loop is lost
    when it interrupts Python code called from a connection's callback (uvloop's
    ``UVBaseTransport._fatal_error`` reports it as "Fatal error on transport" and serves on; uvicorn's
    ``run_asgi`` answers it with a 500), and the first ^C then did nothing.

    Args:
        raising: until set to False, the signals raise :class:`KeyboardInterrupt` instead (for synchronous
            start-up work, such as a warm-up, that no flag stops).
    """

    def __init__(self, *, raising: bool = False) -> None:
        self.raising = raising
        self.signals: list[int] = []
        """The signals received since :attr:`raising` was False, in order."""
        self._servers: list[uvicorn.Server] = []
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a signal asked to stop."""
        return bool(self.signals)

    def watch(self, servers: Iterable[uvicorn.Server]) -> None:
        """Stop ``servers`` on the signals (at once if one came already)."""
        for server in servers:
            self._servers.append(server)
            self._ask(server)

    def _ask(self, server: uvicorn.Server) -> None:
        if self.signals:
            server.should_exit = True
            if signal.SIGINT in self.signals[1:]:  # a SIGINT after the first signal: do not wait for connections
                server.force_exit = True

    def _handle(self, signum: int, _frame: object) -> None:
        if self.raising:
            raise KeyboardInterrupt
        self.signals.append(signum)
        for server in self._servers:
            self._ask(server)

    def __enter__(self) -> SignalStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


logger = logging.getLogger("qinternet.kms")


def _handshakes_logged(kme_id: str) -> type[ssl.SSLObject]:
    """A TLS object class whose failed handshakes are logged for ``kme_id`` (both event loops make their
    TLS objects with the context's ``wrap_bio``, which makes them of ``sslobject_class``)."""

    class LoggedHandshake(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):  # waiting for the peer: not a failure
                raise
            except ssl.SSLError as exc:
                logger.warning("kme=%s refused a TLS handshake: %s", kme_id, _handshake_reason(exc))
                raise

    return LoggedHandshake


def _handshake_reason(exc: ssl.SSLError) -> str:
    """Why a handshake failed, in the TLS library's words (e.g. ``PEER_DID_NOT_RETURN_A_CERTIFICATE``)."""
    reason = exc.reason or type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"{reason} ({exc.verify_message})"
    return str(reason)


def server_for(kme: KmeServer) -> uvicorn.Server:
    """A uvicorn server for ``kme``: TLS 1.2+, client certificates from our CA required, no access log
    (requests name key IDs; the application logs what it must, never key material)."""
    config = uvicorn.Config(
        kme.app,
        host=kme.host,
        port=kme.port,
        ssl_certfile=str(kme.cert),
        ssl_keyfile=str(kme.key),
        ssl_ca_certs=str(kme.ca),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        ssl_version=ssl.PROTOCOL_TLS_SERVER,
        http=identity_protocol,
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
    config.load()  # builds the SSL context, which we then hold to TLS 1.2 and later
    assert config.ssl is not None
    config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    config.ssl.sslobject_class = _handshakes_logged(kme.kme_id)
    return QuietServer(config)


async def serve_kmes(
    kmes: list[KmeServer],
    *,
    started: Callable[[], None] | None = None,
    servers: list[uvicorn.Server] | None = None,
    stop: SignalStop | None = None,
) -> None:
    """Run every KME's server in this event loop until they exit (``should_exit``) or are cancelled.

    ``servers``, when given, receives the uvicorn servers (to stop them from elsewhere). ``stop``: how the
    signals stop them (default: one installed while this runs).
    """
    if stop is None:
        with SignalStop() as own:
            await serve_kmes(kmes, started=started, servers=servers, stop=own)
        return
    made = [server_for(kme) for kme in kmes]
    if servers is not None:
        servers.extend(made)
    servers = made
    stop.watch(servers)
    tasks = [
        asyncio.create_task(server.serve(sockets=None if kme.sock is None else [kme.sock]))
        for kme, server in zip(kmes, servers, strict=True)
    ]
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            for task in tasks:
                task.cancel()
            failed = next(task for task in tasks if task.done())
            failed.result()  # raises why it stopped (e.g. the port is taken)
            raise RuntimeError("a KME server stopped while starting")
        await asyncio.sleep(0.01)
    if started is not None:
        started()
    logging.getLogger("qinternet.kms").info("serving %d KMEs", len(kmes))
    try:
        await asyncio.gather(*tasks)
    finally:
        for server in servers:
            server.should_exit = True


class RunningKmes:
    """KME servers running in a background thread (tests, benchmarks); :meth:`stop` ends them."""

    def __init__(self, kmes: list[KmeServer]) -> None:
        self._servers: list[uvicorn.Server] = []
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(kmes,), daemon=True, name="qinternet-kmes")

    def _run(self, kmes: list[KmeServer]) -> None:
        try:
            asyncio.run(serve_kmes(kmes, started=self._ready.set, servers=self._servers))
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    def start(self, timeout_s: float = 20.0) -> RunningKmes:
        """Start and wait until every server listens."""
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError("the KME servers did not start")
        if self._error is not None:
            raise RuntimeError("a KME server failed to start") from self._error
        return self

    def stop(self) -> None:
        """Ask every server to exit and wait for the thread."""
        for server in self._servers:
            server.should_exit = True
        self._thread.join(timeout=20.0)


def start_in_thread(kmes: list[KmeServer]) -> RunningKmes:
    """Run ``kmes`` in a background thread; returns when they listen."""
    return RunningKmes(kmes).start()
