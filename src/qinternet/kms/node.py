"""One node's KME in a process of its own (``qinternet kme``): its own key store, certificate and port; its
peers reached over mutual TLS (:mod:`.relay`); its links' keys pushed by QKD devices (:mod:`.api_southbound`).

:func:`run_node` binds the KME's port first (a port in use is an error before anything else), opens its
key store, voids the relays it was master of and had not completed (:meth:`.relay.RelayService.recover`),
serves ETSI GS QKD 014 and 004, the southbound calls and the KME-to-KME calls on that port (with the link-state
reports of :mod:`.link_state`, which it also sends to the other KMEs), sweeps every
:data:`~.relay.SWEEP_S` (digests and voids not yet acknowledged, keys never fetched, the write-ahead log),
and stops on SIGINT or SIGTERM. With an ops port (``settings.ops_port``, ``qinternet kme --ops-port``) it also
serves its own ``/metrics``, ``/healthz`` and status page over plain HTTP (:func:`.ops.create_node_ops_app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from qinternet.errors import interrupt_handled
from qinternet.kms.api import create_app
from qinternet.kms.link_state import LinkStateReporter, LinkStateTable, add_route, recipients
from qinternet.kms.metrics import KmsMetrics, NodePoolCollector
from qinternet.kms.ops import create_node_ops_app
from qinternet.kms.pki import PkiFiles
from qinternet.kms.policy import KeyPolicy
from qinternet.kms.relay import SWEEP_S, PeerClient, RelayService, RelaySettings, receive_pool, send_pool
from qinternet.kms.service import client_url, event_loop_runner, listen_on, open_store, sweep_keys
from qinternet.kms.settings import ServeSettings
from qinternet.kms.southbound import DeviceEnd
from qinternet.kms.store import KeyStore
from qinternet.kms.tls import KmeServer, QuietServer, SignalStop, serve_kmes
from qinternet.kms.topology import KeyLimits, KmsTopology
from qinternet.outputs import write_file

__all__ = ["STOP_GRACE_S", "NodePlan", "node_snapshot", "peer_urls", "run_node"]

logger = logging.getLogger("qinternet.kms")

_CHECKPOINT_S = 10.0
"""Wall time between two write-ahead-log checkpoints."""
STOP_GRACE_S = 2.0
"""Seconds open requests have to finish after SIGINT or SIGTERM before the server exits without them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodePlan:
    """What one KME process serves.

    Attributes:
        kme_id: the KME.
        port: its port.
        peers: every other KME's base URL.
        topology, limits, policy, files, devices: as :class:`~qinternet.kms.prepare.KmsPlan`'s.
        relay: how it relays.
    """

    kme_id: str
    port: int
    peers: Mapping[str, str]
    topology: KmsTopology
    limits: KeyLimits
    policy: KeyPolicy
    files: PkiFiles
    devices: Mapping[str, DeviceEnd]
    relay: RelaySettings


def peer_urls(kmes: list[str], base_port: int, host: str = "localhost") -> dict[str, str]:
    """Every KME's URL when each listens at ``host`` on ``base_port`` + its rank among the sorted KME IDs, the
    ports ``qinternet serve`` gives them."""
    return {kme: f"https://{host}:{base_port + i}" for i, kme in enumerate(sorted(kmes))}


def run_node(plan: NodePlan, settings: ServeSettings, *, stop_after_s: float | None = None) -> None:
    """Serve ``plan``'s KME until ^C, SIGTERM or ``stop_after_s``; the ready file (``settings.ready_file``)
    holds ``{kme_id: URL}`` while it serves.

    Raises:
        ParameterError: the port cannot be bound (``--host``, ``--port``), the key store cannot be opened
            (``--db``) or its master key does not fit (``--master-key-file``).
    """
    master_key = settings.master_key()
    try:
        with SignalStop(raising=True) as stop:
            sock = listen_on(settings.host, plan.port, options=("--host", "--port", f"{plan.kme_id}'s port"))
            ops_sock = None
            try:
                if settings.ops_port:
                    ops_sock = listen_on(
                        settings.ops_host, settings.ops_port, options=("--ops-host", "--ops-port", "the ops port")
                    )
                store = open_store(settings.db, master_key)
                try:
                    _serve(plan, settings, store, (sock, ops_sock), stop, stop_after_s)
                finally:
                    logger.info("stopping: closing the key store")
                    store.close()
            finally:
                sock.close()
                if ops_sock is not None:
                    ops_sock.close()
    except KeyboardInterrupt:
        interrupt_handled()
    logger.info("stopped")


def _serve(
    plan: NodePlan,
    settings: ServeSettings,
    store: KeyStore,
    sockets: tuple[socket.socket, socket.socket | None],
    stop: SignalStop,
    stop_after_s: float | None,
) -> None:
    sock, ops_sock = sockets
    metrics = KmsMetrics()

    async def main() -> None:
        link_states = LinkStateTable(plan.kme_id, plan.topology)
        relay = RelayService(
            kme_id=plan.kme_id,
            store=store,
            topology=plan.topology,
            devices=plan.devices,
            client=PeerClient(plan.kme_id, plan.peers, plan.files),
            settings=plan.relay,
            remote_levels=link_states.level,
        )
        relay.recover()
        app = create_app(
            plan.kme_id,
            store,
            plan.topology,
            plan.limits,
            policy=plan.policy,
            devices=plan.devices,
            pool_capacity_bytes=plan.relay.capacity_bytes,
            relay=relay,
            metrics=metrics,
        )
        add_route(app, plan.kme_id, plan.topology, link_states)
        reporter = LinkStateReporter(
            kme_id=plan.kme_id,
            neighbours=_neighbours(plan),
            level=lambda peer: store.pool_level(*send_pool(plan.kme_id, peer)),
            client=relay.client,
            to=recipients(plan.topology, plan.kme_id),
        )
        server = KmeServer(
            plan.kme_id,
            app,
            plan.port,
            plan.files.cert(plan.kme_id),
            plan.files.key(plan.kme_id),
            plan.files.ca,
            host=settings.host,
            sock=sock,
        )
        stop.raising = False
        # What start-up built lives until exit: out of the collector's generations (as serve does).
        gc.collect()
        gc.freeze()
        servers: list[uvicorn.Server] = []
        serving = asyncio.create_task(
            serve_kmes([server], stop=stop, started=functools.partial(_ready, server, settings), servers=servers)
        )
        sweeping = asyncio.create_task(_sweep(relay, store, plan.policy))
        reporting = asyncio.create_task(reporter.run())
        ops_server = ops_task = None
        if ops_sock is not None:
            ops_app = create_node_ops_app(
                store, metrics, _pool_collector(plan, store), functools.partial(node_snapshot, plan, store, link_states)
            )
            ops_server = QuietServer(uvicorn.Config(ops_app, access_log=False, log_level="warning", lifespan="off"))
            ops_task = asyncio.create_task(ops_server.serve(sockets=[ops_sock]))
        try:
            await _until_stopped(serving, servers, stop, stop_after_s)
        finally:
            if ops_server is not None and ops_task is not None:
                ops_server.should_exit = True
                with contextlib.suppress(asyncio.CancelledError):
                    await ops_task
            # a sweep's (or report's) messages wait for no one: the next start sends them again
            for task in (reporting, sweeping, serving):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await relay.aclose()
            if settings.ready_file is not None:
                settings.ready_file.unlink(missing_ok=True)

    event_loop_runner()(main())


def _neighbours(plan: NodePlan) -> list[str]:
    return sorted(plan.topology.neighbours(plan.kme_id))


def _pool_collector(plan: NodePlan, store: KeyStore) -> NodePoolCollector:
    def level_bytes(peer: str, direction: str) -> int:
        pool = send_pool if direction == "send" else receive_pool
        return store.pool_level(*pool(plan.kme_id, peer))

    return NodePoolCollector(plan.kme_id, _neighbours(plan), level_bytes, lambda: store.reserved_count(plan.kme_id))


def node_snapshot(plan: NodePlan, store: KeyStore, link_states: LinkStateTable | None = None) -> dict[str, Any]:
    """What the KME's status page shows (:func:`.ops.create_node_ops_app`), as plain data: no key material, no
    key or relay IDs; with ``link_states``, also the other KMEs' links as they reported them (``reported``)."""
    connection = store.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(
            store.sql(
                "SELECT role, state, COUNT(*) FROM relays WHERE kme_id = ? AND state NOT IN (?, ?)"
                " GROUP BY role, state ORDER BY role, state"
            ),
            (plan.kme_id, "completed", "voided"),
        )
        relays = [{"role": str(role), "state": str(state), "count": int(n)} for role, state, n in cursor.fetchall()]
        connection.rollback()
    finally:
        connection.close()
    return {
        "kme": plan.kme_id,
        "port": plan.port,
        "saes": sorted(sae for sae, kme in plan.topology.sae_kme.items() if kme == plan.kme_id),
        "reserved": store.reserved_count(plan.kme_id),
        "relays": relays,
        "links": [
            {
                "peer": peer,
                "send_bits": 8 * store.pool_level(*send_pool(plan.kme_id, peer)),
                "receive_bits": 8 * store.pool_level(*receive_pool(plan.kme_id, peer)),
            }
            for peer in _neighbours(plan)
        ],
        "reported": [] if link_states is None else link_states.reported(),
    }


def _ready(server: KmeServer, settings: ServeSettings) -> None:
    url = client_url(server.host, server.port)
    logger.info("kme=%s serving at %s", server.kme_id, url)
    if settings.ready_file is not None:
        write_file(settings.ready_file, json.dumps({server.kme_id: url}, indent=2) + "\n", "--ready-file")


async def _until_stopped(
    serving: asyncio.Task[None], servers: list[uvicorn.Server], stop: SignalStop, stop_after_s: float | None
) -> None:
    """Wait until the server has stopped (a signal) or ``stop_after_s``; a server still waiting for open
    connections :data:`STOP_GRACE_S` after the signal is made to exit (their clients retry elsewhere or later)."""
    started = time.monotonic()
    asked: float | None = None
    while not serving.done():
        await asyncio.sleep(0.05)
        if stop_after_s is not None and time.monotonic() - started >= stop_after_s:
            return
        if stop.requested and asked is None:
            asked = time.monotonic()
        if asked is not None and time.monotonic() - asked > STOP_GRACE_S:
            for each in servers:
                each.force_exit = True
            if time.monotonic() - asked > 2 * STOP_GRACE_S:
                return


async def _sweep(relay: RelayService, store: KeyStore, policy: KeyPolicy) -> None:
    """Every :data:`~.relay.SWEEP_S`: the relay's sweep, keys never fetched voided, keys past their redelivery
    window erased (:func:`~.service.sweep_keys`), the log checkpointed."""
    checkpointed = time.monotonic()
    loop = asyncio.get_running_loop()
    keys = functools.partial(sweep_keys, store, policy.reservation_ttl_s, policy.redelivery_window_s)
    while True:
        await asyncio.sleep(SWEEP_S)
        try:
            await relay.sweep()
            await loop.run_in_executor(None, keys)
            if time.monotonic() - checkpointed > _CHECKPOINT_S:
                await loop.run_in_executor(None, store.checkpoint)
                checkpointed = time.monotonic()
        except SQLAlchemyError as exc:
            logger.error("key store: %s", str(getattr(exc, "orig", None) or exc)[:200])
