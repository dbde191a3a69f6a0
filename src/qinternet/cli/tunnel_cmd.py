"""``qinternet tunnel connect`` and ``qinternet tunnel listen``: any TCP stream carried under QKD keys.

``connect`` is the ETSI GS QKD 014 master SAE: it accepts local plaintext clients and carries each one to
the peer's ``listen``, under AES-256-GCM keys it takes from its KME (``enc_keys``) and rotates. ``listen``
is the slave SAE: it takes the same keys from its own KME by the IDs in the records (``dec_keys``) and
forwards the plaintext to a local service. The protocol is :mod:`qinternet.apps.tunnel` (docs/tunnel.md).
Everything that can be checked before a KME is asked (addresses, files, limits) is checked first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated

import typer

from qinternet.apps.encryption import AES_KEY_BITS
from qinternet.apps.etsi_client import KmeClient
from qinternet.apps.pqc import load_mlkem_private, load_mlkem_public
from qinternet.apps.tunnel import MAX_ROTATE_BYTES, MAX_ROTATE_S, OnExhaustion, RotationPolicy
from qinternet.cli.apps_cmd import CaOption, CertOption, KeyOption, KmeIdOption, KmeOption, as_options
from qinternet.cli.network_cmd import parse_duration_option
from qinternet.cli.tunnel_shell import (
    Endpoint,
    MasterSettings,
    SlaveSettings,
    parse_endpoint,
    start_master,
    start_slave,
)
from qinternet.errors import ParameterError
from qinternet.kms.service import configure_logging

__all__ = ["tunnel_app"]

tunnel_app = typer.Typer(
    help="Carry a TCP stream between two hosts under AES-256-GCM with QKD keys from the two KMEs, rotated.",
    no_args_is_help=True,
)

_OPTIONS = {
    "listen": "--listen",
    "rotate_s": "--rotate-s",
    "rotate_bytes": "--rotate-bytes",
    "mlkem_public": "--mlkem-public",
    "mlkem_private": "--mlkem-private",
}
"""Fields of the tunnel's errors and the options that set them (besides those of encrypt/decrypt)."""

ListenOption = Annotated[str, typer.Option("--listen", help="HOST:PORT to accept connections on (port 0: any).")]
ExhaustionOption = Annotated[
    OnExhaustion,
    typer.Option(
        "--on-exhaustion",
        help="When the KME has no key for a rotation: block the stream until it has, or fall back to ML-KEM-768 "
        "hybrid keys (with a loud warning; needs the peer's ML-KEM key).",
    ),
]
DurationOption = Annotated[str | None, typer.Option(help="Stop after this much wall time (default: until ^C).")]


@tunnel_app.command("connect")
def connect(
    listen: ListenOption,
    peer: Annotated[str, typer.Option(help="HOST:PORT of the peer's qinternet tunnel listen.")],
    kme: KmeOption,
    cert: CertOption,
    key: KeyOption,
    ca: CaOption,
    slave: Annotated[str, typer.Option(help="SAE ID of the peer (the slave SAE), e.g. sae-bob.")],
    rotate_s: Annotated[
        float, typer.Option(help=f"New key after this many seconds of use, at most {MAX_ROTATE_S:g}.")
    ] = 60.0,
    rotate_bytes: Annotated[
        int, typer.Option(help=f"New key after this many bytes (both directions), at most {MAX_ROTATE_BYTES}.")
    ] = 1 << 30,
    on_exhaustion: ExhaustionOption = OnExhaustion.BLOCK,
    mlkem_public: Annotated[
        Path | None, typer.Option(help="The peer's ML-KEM-768 public key (PEM), for --on-exhaustion hybrid.")
    ] = None,
    kme_id: KmeIdOption = None,
    duration: DurationOption = None,
) -> None:
    """Carry local TCP clients to a tunnel listener, encrypted under QKD keys from your KME (the master SAE)."""
    with as_options(_OPTIONS):
        local = parse_endpoint(listen, "--listen", allow_zero=True)
        remote = parse_endpoint(peer, "--peer")
        policy = RotationPolicy(every_s=rotate_s, every_bytes=rotate_bytes)
        stop_after = _stop_after(duration)
        _check_fallback(on_exhaustion, mlkem_public, "--mlkem-public", "the peer's ML-KEM public key")
        public = None if mlkem_public is None else load_mlkem_public(mlkem_public)
        with KmeClient(kme, cert, key, ca, kme_id=kme_id) as client:
            status = client.status(slave)  # the KME, the certificate and the slave are checked before we listen
            if not status.min_key_size <= AES_KEY_BITS <= status.max_key_size:
                raise ParameterError(
                    "--kme", f"the KME delivers keys of {status.min_key_size} to {status.max_key_size} bits, not 256"
                )
            settings = MasterSettings(
                peer=remote,
                master_sae_id=status.master_sae_id,
                slave_sae_id=slave,
                policy=policy,
                on_exhaustion=on_exhaustion,
                mlkem_public=public,
            )
            what = f"to {remote} ({status.master_sae_id} -> {slave})"
            _run(start_master(local, settings, client), f"tunnel connect {what}", stop_after)


@tunnel_app.command("listen")
def listen(
    listen: ListenOption,
    forward: Annotated[str, typer.Option(help="HOST:PORT of the local service to forward each connection to.")],
    kme: KmeOption,
    cert: CertOption,
    key: KeyOption,
    ca: CaOption,
    on_exhaustion: ExhaustionOption = OnExhaustion.BLOCK,
    mlkem_private: Annotated[
        Path | None, typer.Option(help="Your ML-KEM-768 private key (PEM), for --on-exhaustion hybrid.")
    ] = None,
    kme_id: KmeIdOption = None,
    duration: DurationOption = None,
) -> None:
    """Accept tunnel connections, take their keys from your KME by ID (the slave SAE) and forward the plaintext."""
    with as_options(_OPTIONS):
        local = parse_endpoint(listen, "--listen", allow_zero=True)
        target = parse_endpoint(forward, "--forward")
        stop_after = _stop_after(duration)
        _check_fallback(on_exhaustion, mlkem_private, "--mlkem-private", "your ML-KEM private key")
        private = None if mlkem_private is None else load_mlkem_private(mlkem_private)
        with KmeClient(kme, cert, key, ca, kme_id=kme_id) as client:
            settings = SlaveSettings(forward=target, mlkem_private=private)
            _run(start_slave(local, settings, client), f"tunnel listen, forwarding to {target}", stop_after)


def _stop_after(duration: str | None) -> float | None:
    return None if duration is None else parse_duration_option(duration, "--duration")


def _check_fallback(on_exhaustion: OnExhaustion, key: Path | None, option: str, what: str) -> None:
    """The ML-KEM key file ``option`` is given with ``--on-exhaustion hybrid`` and only then."""
    hybrid = on_exhaustion is OnExhaustion.HYBRID
    if hybrid and key is None:
        raise ParameterError(option, f"--on-exhaustion hybrid needs {what}")
    if not hybrid and key is not None:
        raise ParameterError(option, "only --on-exhaustion hybrid uses it")


def _run(start: Awaitable[asyncio.Server], what: str, stop_after_s: float | None) -> None:
    """Serve until ``stop_after_s`` has passed (None: until interrupted); events go to stderr."""
    configure_logging("text", "qinternet.tunnel")

    async def serve() -> None:
        server = await start
        address = server.sockets[0].getsockname()
        typer.echo(f"{what}: listening on {Endpoint(address[0], address[1])}", err=True)
        async with server:
            if stop_after_s is None:
                await server.serve_forever()
            else:
                await asyncio.sleep(stop_after_s)
        logging.getLogger("qinternet.tunnel").info("%s: stopped", what)

    asyncio.run(serve())
