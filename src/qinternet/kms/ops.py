"""The operators' side of a served network: Prometheus ``/metrics``, ``/healthz``, a status page (``/``) and
the same as JSON (``/status.json``), for the one-process ``serve`` (every KME) or one KME process.

Served over plain HTTP on the loopback interface only (``--ops-port``), apart from the KMEs' mutual-TLS
API: it shows counts and pool levels, never key material or key IDs.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from qinternet.kms.metrics import KmsMetrics, NodePoolCollector, PoolCollector
from qinternet.kms.store import KeyStore
from qinternet.kms.topology import KmsTopology

__all__ = ["create_node_ops_app", "create_ops_app", "status_snapshot"]


def status_snapshot(store: KeyStore, topology: KmsTopology, ports: dict[str, int]) -> dict[str, Any]:
    """The state of every KME and link, as plain data."""
    saes: dict[str, list[str]] = {}
    for sae, kme in topology.sae_kme.items():
        saes.setdefault(kme, []).append(sae)
    return {
        "kmes": [
            {
                "kme": kme,
                "port": ports.get(kme),
                "saes": sorted(saes.get(kme, [])),
                "reserved": store.reserved_count(kme),
            }
            for kme in sorted(topology.kmes)
        ],
        "links": [{"kme_a": a, "kme_b": b, "pool_bits": 8 * store.pool_bytes(a, b)} for a, b in topology.links],
    }


def create_ops_app(
    store: KeyStore, topology: KmsTopology, metrics: KmsMetrics, ports: dict[str, int], *, title: str
) -> FastAPI:
    """``/metrics`` (Prometheus text format), ``/healthz`` and ``/`` (a status page) of every KME of one store."""
    metrics.registry.register(PoolCollector(store, topology.links, sorted(topology.kmes)))

    def page(state: dict[str, Any]) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(k['kme'])}</td><td>{k['port'] or '-'}</td>"
            f"<td>{html.escape(', '.join(k['saes']) or '-')}</td><td>{k['reserved']}</td></tr>"
            for k in state["kmes"]
        )
        links = "".join(
            f"<tr><td>{html.escape(link['kme_a'] + ' - ' + link['kme_b'])}</td><td>{link['pool_bits']:,}</td></tr>"
            for link in state["links"]
        )
        return (
            "<h2>KMEs</h2><table><tr><th>KME</th><th>port</th><th>SAEs</th><th>keys awaiting their slave</th></tr>"
            f"{rows}</table><h2>Links</h2><table><tr><th>link</th><th>key in pool (bit)</th></tr>{links}</table>"
        )

    return _ops_app(store, metrics, title, lambda: status_snapshot(store, topology, ports), page)


def create_node_ops_app(
    store: KeyStore, metrics: KmsMetrics, collector: NodePoolCollector, snapshot: Callable[[], dict[str, Any]]
) -> FastAPI:
    """The same three pages for one KME process (``qinternet kme --ops-port``): its links' key by direction
    (``collector``) and what ``snapshot`` gives: ``kme``, ``port``, ``saes``, ``reserved``, ``relays`` (relays
    not yet completed or voided, by role and state), ``links`` (``peer``, ``send_bits``, ``receive_bits``) and
    ``reported`` (other KMEs' links as they reported them: ``kme``, ``peer``, ``send_bits``, ``age_s``)."""
    metrics.registry.register(collector)

    def page(state: dict[str, Any]) -> str:
        links = "".join(
            f"<tr><td>{html.escape(link['peer'])}</td><td>{link['send_bits']:,}</td><td>{link['receive_bits']:,}</td>"
            "</tr>"
            for link in state["links"]
        )
        relays = "".join(
            f"<tr><td>{html.escape(r['role'])}</td><td>{html.escape(r['state'])}</td><td>{r['count']}</td></tr>"
            for r in state["relays"]
        )
        reported = "".join(
            f"<tr><td>{html.escape(r['kme'])}</td><td>{html.escape(r['peer'])}</td><td>{r['send_bits']:,}</td>"
            f"<td>{r['age_s']}</td></tr>"
            for r in state.get("reported", [])
        )
        none = "<tr><td colspan=4>none (this KME has no SAE, or no report in the last 30 s)</td></tr>"
        return (
            f"<p>KME {html.escape(state['kme'])} on port {state['port']}; SAEs: "
            f"{html.escape(', '.join(state['saes']) or '-')}; keys awaiting their slave: {state['reserved']}.</p>"
            "<h2>Links</h2><table><tr><th>neighbour</th><th>key it may send with (bit)</th>"
            f"<th>key the neighbour may send with (bit)</th></tr>{links}</table>"
            "<h2>Relays in flight</h2><table><tr><th>role</th><th>state</th><th>relays</th></tr>"
            f"{relays or '<tr><td colspan=3>none</td></tr>'}</table>"
            "<h2>Other KMEs' links, as reported (routing uses these)</h2><table><tr><th>KME</th><th>to</th>"
            f"<th>key it may send with (bit)</th><th>reported (s ago)</th></tr>{reported or none}</table>"
        )

    return _ops_app(store, metrics, collector.kme_id, snapshot, page)


def _ops_app(
    store: KeyStore,
    metrics: KmsMetrics,
    title: str,
    snapshot: Callable[[], dict[str, Any]],
    page_body: Callable[[dict[str, Any]], str],
) -> FastAPI:
    app = FastAPI(title=f"qinternet KMS operations: {title}", docs_url=None, redoc_url=None)
    started = time.time()

    @app.exception_handler(SQLAlchemyError)
    async def _database(_: Any, __: Exception) -> Response:
        return JSONResponse({"database": "unavailable"}, status_code=503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        body = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def health() -> Response:
        try:
            await run_in_threadpool(store.reserved_count, "-")
        except SQLAlchemyError:
            return JSONResponse({"database": "unavailable"}, status_code=503)
        return JSONResponse({"database": "ok", "uptime_s": round(time.time() - started, 1)})

    @app.get("/status.json")
    async def status() -> dict[str, Any]:
        return await run_in_threadpool(snapshot)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        state = await run_in_threadpool(snapshot)
        return (
            "<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
            f"<title>{html.escape(title)} KMS</title><style>body{{font-family:sans-serif;margin:2em}}"
            "td,th{border:1px solid #ccc;padding:.2em .6em}table{border-collapse:collapse;margin:1em 0}</style>"
            f"</head><body><h1>{html.escape(title)}: key management</h1>"
            f"<p>Up {time.time() - started:.0f} s. Metrics: <a href='/metrics'>/metrics</a>; "
            "this page as JSON: <a href='/status.json'>/status.json</a>.</p>"
            f"{page_body(state)}</body></html>"
        )

    return app
