"""Ports and KME servers for the tests that talk to real sockets (TLS, the client, `qinternet serve`)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from qinternet.kms.api import create_app
from qinternet.kms.pki import PkiFiles, init_pki
from qinternet.kms.store import KeyStore
from qinternet.kms.tls import KmeServer, start_in_thread
from qinternet.kms.topology import KmsTopology


def free_port() -> int:
    """A port free on 127.0.0.1 now (the system's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether ``port`` can be bound on 127.0.0.1 now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(n: int) -> int:
    """A base port with ``n`` free ports from it (best effort: another process may take one meanwhile)."""
    for _ in range(50):
        base = free_port()
        if base + n < 65000 and all(port_is_free(base + i) for i in range(n)):
            return base
    raise RuntimeError("no free ports")


@contextmanager
def two_kmes(
    folder: Path, topology: KmsTopology, *, saes: Sequence[str], pool_bytes: int
) -> Iterator[tuple[PkiFiles, dict[str, int]]]:
    """``kme-a`` and ``kme-b`` of ``topology`` served over mutual TLS in a thread, their pool holding
    ``pool_bytes`` of key, with certificates for ``saes`` in ``folder / "pki"``: yields the PKI and the
    KMEs' ports; stops them and closes the store afterwards."""
    pki = init_pki(folder / "pki", kmes=["kme-a", "kme-b"], saes=saes)
    store = KeyStore(f"sqlite:///{folder / 'kms.db'}")
    store.add_key("kme-a", "kme-b", os.urandom(pool_bytes))
    kmes = [
        KmeServer(kme, create_app(kme, store, topology), free_port(), pki.cert(kme), pki.key(kme), pki.ca)
        for kme in ("kme-a", "kme-b")
    ]
    running = start_in_thread(kmes)
    try:
        yield pki, {k.kme_id: k.port for k in kmes}
    finally:
        running.stop()
        store.close()
