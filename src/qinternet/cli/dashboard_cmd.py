"""``qinternet dashboard``: a web page over the outputs of ``qinternet run`` and ``qinternet sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qinternet.cli.network_cmd import parse_duration_option
from qinternet.dashboard.app import create_dashboard_app, run_dashboard
from qinternet.kms.service import client_url, listen_on
from qinternet.kms.settings import check_host

__all__ = ["DEFAULT_PORT", "dashboard"]

DEFAULT_PORT = 8050
"""The dashboard's port unless told otherwise (``qinternet dashboard`` and ``qinternet serve --dashboard``)."""


def dashboard(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="Outputs of qinternet run or sweep, or a folder whose subfolders hold them."
        ),
    ],
    port: Annotated[
        int, typer.Option(min=0, max=65535, help=f"Port of the page ({DEFAULT_PORT}; 0: any free port).")
    ] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Address it listens on (127.0.0.1; 0.0.0.0: every interface).")] = (
        "127.0.0.1"
    ),
    duration: Annotated[str | None, typer.Option(help="Stop after this much wall time (default: until ^C).")] = None,
) -> None:
    """Serve a web page over the outputs of qinternet run and sweep in DIR: the network map, series, tables.

    Prints the page's address on a line of its own (``dashboard: http://127.0.0.1:8050/``) and serves until ^C.
    """
    check_host(host, "--host")
    stop_after = None if duration is None else parse_duration_option(duration, "--duration")
    app = create_dashboard_app(folder)  # a DIR without outputs fails here, before the port is taken
    sock = listen_on(host, port, options=("--host", "--port", "the dashboard"))
    typer.echo(f"dashboard: {client_url(host, sock.getsockname()[1], 'http')}/", err=False)
    run_dashboard(app, sock, stop_after_s=stop_after)
