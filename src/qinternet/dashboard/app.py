"""The dashboard's web app (FastAPI): one page, its static files, and the state as JSON.

Routes:

- ``GET /``: the page (``static/index.html``), which asks for the rest;
- ``GET /static/{file}``: its script and style sheet, shipped in this package;
- ``GET /api/info``: ``{"mode": "live" | "outputs", "title", "outputs": [{"name", "kind", "title"}],
  "broken": {name: reason}}``;
- ``GET /api/state``: the live network now (:meth:`.live.LiveSource.state`); 404 over outputs;
- ``GET /api/outputs/{name}?step=N``: a run's network at step N (:meth:`.outputs.RunOutput.state`) or a
  sweep's study and table (:meth:`.outputs.SweepOutput.state`);
- ``GET /files/{name}/{file}``: a file of an output folder (figures, ``report.html``, the CSVs), by its
  name in that folder only.

Nothing is written and no key material is read: the live state holds pool levels and counts.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from qinternet.dashboard.live import LiveSource
from qinternet.dashboard.outputs import FILE_SUFFIXES, find_outputs
from qinternet.errors import interrupt_handled
from qinternet.kms.tls import QuietServer

__all__ = ["POLL_S", "STATIC", "create_dashboard_app", "run_dashboard"]

STATIC = Path(__file__).parent / "static"
"""The page, its script and its style sheet."""
POLL_S = 1.0
"""How often the page asks for the state."""

_MEDIA = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


def _missing(what: str) -> Response:
    return JSONResponse({"detail": f"no {what}"}, status_code=404)


def create_dashboard_app(source: LiveSource | Path) -> FastAPI:
    """The dashboard of a running network (a :class:`~.live.LiveSource`) or of the outputs in a folder.

    Raises:
        ParameterError: naming ``DIR``, when the folder holds no readable output (:func:`.outputs.find_outputs`).
    """
    live = source if isinstance(source, LiveSource) else None
    outputs, broken = ({}, {}) if isinstance(source, LiveSource) else find_outputs(source)
    title = source.scenario.name if isinstance(source, LiveSource) else source.name
    app = FastAPI(title=f"qinternet dashboard: {title}", docs_url=None, redoc_url=None, openapi_url=None)
    statics = {p.name: p for p in STATIC.iterdir() if p.suffix in _MEDIA}

    @app.get("/", response_class=HTMLResponse)
    async def page() -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        path = statics.get(name)
        if path is None:
            return _missing("such file")
        return FileResponse(path, media_type=_MEDIA[path.suffix], headers={"Cache-Control": "no-cache"})

    @app.get("/api/info")
    async def info() -> dict[str, object]:
        return {
            "mode": "live" if live is not None else "outputs",
            "title": title,
            "poll_s": POLL_S,
            "outputs": [{"name": o.name, "kind": o.kind, "title": o.title} for o in outputs.values()],
            "broken": broken,
        }

    @app.get("/api/state")
    async def state() -> Response:
        if live is None:
            return _missing("live network: this dashboard shows outputs (/api/outputs/NAME)")
        return JSONResponse(await run_in_threadpool(live.state))

    @app.get("/api/outputs/{name}")
    async def output(name: str, step: Annotated[int | None, Query(ge=0, le=10**9)] = None) -> Response:
        found = outputs.get(name)
        if found is None:
            return _missing(f"output {name[:100]!r}")
        return JSONResponse(found.state(step))

    @app.get("/files/{name}/{file}")
    async def file(name: str, file: str) -> Response:
        found = outputs.get(name)
        path = None if found is None else found.folder / file
        if path is None or "/" in file or file.startswith(".") or path.suffix not in FILE_SUFFIXES:
            return _missing("such file")
        if not path.is_file():
            return _missing("such file")
        return FileResponse(path)

    return app


def run_dashboard(app: FastAPI, sock: socket.socket, *, stop_after_s: float | None = None) -> None:
    """Serve ``app`` on the listening socket ``sock`` until ^C (or for ``stop_after_s`` of wall time)."""

    async def serve() -> None:
        server = QuietServer(uvicorn.Config(app, access_log=False, log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            await asyncio.wait_for(asyncio.shield(task), stop_after_s)
        except TimeoutError:
            server.should_exit = True
            await task

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:  # ^C is how it is meant to stop
        interrupt_handled()
    finally:
        sock.close()
