"""Mutual TLS: the caller's SAE ID comes from its verified certificate, and nothing else gets in."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qinternet.kms.api import create_app
from qinternet.kms.pki import PkiFiles, init_pki
from qinternet.kms.store import KeyStore
from qinternet.kms.tls import KmeServer, server_for
from qinternet.kms.topology import KmsTopology
from tests.servers import two_kmes

TOPOLOGY = KmsTopology(sae_kme={"sae-a": "kme-a", "sae-b": "kme-b"}, links=(("kme-a", "kme-b"),))


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PkiFiles, dict[str, str]]]:
    with two_kmes(tmp_path_factory.mktemp("tls"), TOPOLOGY, saes=["sae-a", "sae-b"], pool_bytes=4096) as (pki, ports):
        yield pki, {kme: f"https://127.0.0.1:{port}" for kme, port in ports.items()}


def tls_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A client context (httpx 0.28 ignores ``cert=`` next to ``verify=PATH``; a context carries both)."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def as_sae(pki: PkiFiles, sae: str) -> httpx.Client:
    return httpx.Client(verify=tls_context(pki.ca, pki.cert(sae), pki.key(sae)), timeout=10)


def test_the_identity_is_the_certificate_s(network: tuple[PkiFiles, dict[str, str]]) -> None:
    pki, url = network
    with as_sae(pki, "sae-a") as a:
        status = a.get(f"{url['kme-a']}/api/v1/keys/sae-b/status")
        [key] = a.get(f"{url['kme-a']}/api/v1/keys/sae-b/enc_keys").json()["keys"]
    assert status.status_code == 200
    assert status.json()["master_SAE_ID"] == "sae-a"
    with as_sae(pki, "sae-b") as b:
        got = b.get(f"{url['kme-b']}/api/v1/keys/sae-a/dec_keys", params={"key_ID": key["key_ID"]})
    assert got.json()["keys"] == [key]


def test_a_header_cannot_claim_another_identity(network: tuple[PkiFiles, dict[str, str]]) -> None:
    pki, url = network
    with as_sae(pki, "sae-b") as b:  # sae-b is attached to kme-b, not kme-a
        r = b.get(
            f"{url['kme-a']}/api/v1/keys/sae-a/enc_keys", headers={"qinternet.sae_id": "sae-a", "X-SAE-ID": "sae-a"}
        )
    assert r.status_code == 401
    assert r.json()["details"] == [{"SAE_ID": "not an SAE of this KME"}]


def test_no_client_certificate_no_connection(network: tuple[PkiFiles, dict[str, str]]) -> None:
    pki, url = network
    with (
        httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca)), timeout=10) as anonymous,
        pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
    ):
        anonymous.get(f"{url['kme-a']}/api/v1/keys/sae-b/status")


def test_a_certificate_from_another_ca_is_refused(network: tuple[PkiFiles, dict[str, str]], tmp_path: Path) -> None:
    pki, url = network
    rogue = init_pki(tmp_path / "rogue", kmes=[], saes=["sae-a"])  # same name, other CA
    client = httpx.Client(verify=tls_context(pki.ca, rogue.cert("sae-a"), rogue.key("sae-a")), timeout=10)
    with client, pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(f"{url['kme-a']}/api/v1/keys/sae-b/status")


def test_tls_1_2_at_least_and_client_certificates_required(tmp_path: Path) -> None:
    pki = init_pki(tmp_path, kmes=["kme-a"], saes=[])
    store = KeyStore(f"sqlite:///{tmp_path / 'k.db'}")
    server = server_for(
        KmeServer("kme-a", create_app("kme-a", store, TOPOLOGY), 1, pki.cert("kme-a"), pki.key("kme-a"), pki.ca)
    )
    assert server.config.ssl is not None
    assert server.config.ssl.minimum_version == ssl.TLSVersion.TLSv1_2
    assert server.config.ssl.verify_mode == ssl.CERT_REQUIRED
    store.close()


def test_tls_1_1_is_refused(network: tuple[PkiFiles, dict[str, str]]) -> None:
    """The server refuses a client that offers TLS 1.1 at most. The client is made able to offer it
    (``SECLEVEL=0``; OpenSSL 3 otherwise has no TLS 1.1 cipher and fails before sending anything), and
    the failure must come from the server's side of the handshake, not from the client's own refusal."""
    pki, url = network
    context = tls_context(pki.ca, pki.cert("sae-a"), pki.key("sae-a"))
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.TLSv1  # deprecated names: exactly what is refused
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    port = int(url["kme-a"].rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pytest.raises((ssl.SSLError, OSError)) as error,
    ):
        context.wrap_socket(raw, server_hostname="localhost")
    assert "NO_CIPHERS_AVAILABLE" not in str(error.value)  # the ClientHello went out and the server said no


def test_third_party_clients_read_a_401_as_the_error_object(network: tuple[PkiFiles, dict[str, str]]) -> None:
    """Both PyPI clients parse any non-200 body as the Error object; an empty 401 made one of them raise."""
    from etsi_qkd_014_client.client import QKD014Client
    from etsi_qkd_014_client.data import DataError
    from qkdsec.client import ETSI014Client, KMEHTTPError

    pki, url = network
    host = url["kme-a"].removeprefix("https://").replace("127.0.0.1", "localhost")
    wrong = QKD014Client(host, str(pki.cert("sae-b")), str(pki.key("sae-b")), str(pki.ca))  # sae-b is kme-b's
    status, error = wrong.get_status("sae-a")
    assert status == 401
    assert isinstance(error, DataError)
    assert error.message == "Unauthorized"
    qkdsec = ETSI014Client(
        f"https://{host}", client_cert=(str(pki.cert("sae-b")), str(pki.key("sae-b"))), verify=str(pki.ca)
    )
    with pytest.raises(KMEHTTPError) as refused:
        qkdsec.get_enc_keys("sae-a")
    assert (refused.value.status_code, refused.value.message) == (401, "Unauthorized")


@pytest.mark.parametrize("client", ["none", "rogue"])
def test_a_refused_handshake_is_logged_in_one_line(
    network: tuple[PkiFiles, dict[str, str]], tmp_path: Path, caplog: pytest.LogCaptureFixture, client: str
) -> None:
    pki, url = network
    context = ssl.create_default_context(cafile=str(pki.ca))
    if client == "rogue":  # the right name, signed by another CA
        rogue = init_pki(tmp_path / "rogue", kmes=[], saes=["sae-a"])
        context.load_cert_chain(str(rogue.cert("sae-a")), str(rogue.key("sae-a")))
    with (
        caplog.at_level(logging.WARNING, logger="qinternet.kms"),
        httpx.Client(verify=context, timeout=10) as refused,
        pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
    ):
        refused.get(f"{url['kme-a']}/api/v1/keys/sae-b/status")
    deadline = time.monotonic() + 5  # the server's thread logs it when it reads the client's last message
    while "refused a TLS handshake" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    [line] = [r.getMessage() for r in caplog.records if "TLS handshake" in r.getMessage()]
    expected = "PEER_DID_NOT_RETURN_A_CERTIFICATE" if client == "none" else "CERTIFICATE_VERIFY_FAILED"
    assert line.startswith("kme=kme-a refused a TLS handshake: " + expected)
    assert "\n" not in line
    assert "BEGIN" not in line
