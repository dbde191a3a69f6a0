"""KmeClient against our KME over mutual TLS, and against answers another KME might give."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qinternet.apps.etsi_client import KmeClient, KmeRequestError
from qinternet.errors import ParameterError
from qinternet.kms.pki import PkiFiles, init_pki
from qinternet.kms.topology import KmsTopology
from tests.servers import free_port, two_kmes

# sae-c shares kme-b with sae-b, so it can ask kme-b for keys that were issued to sae-b (a 401, Table 7).
TOPOLOGY = KmsTopology(sae_kme={"sae-a": "kme-a", "sae-b": "kme-b", "sae-c": "kme-b"}, links=(("kme-a", "kme-b"),))


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PkiFiles, dict[str, str]]]:
    saes = ["sae-a", "sae-b", "sae-c"]
    with two_kmes(tmp_path_factory.mktemp("client"), TOPOLOGY, saes=saes, pool_bytes=8192) as (pki, ports):
        yield pki, {kme: f"https://localhost:{port}" for kme, port in ports.items()}


def client(pki: PkiFiles, url: str, sae: str) -> KmeClient:
    return KmeClient(url, pki.cert(sae), pki.key(sae), pki.ca)


def test_status_get_keys_and_get_keys_with_ids(network: tuple[PkiFiles, dict[str, str]]) -> None:
    pki, url = network
    with client(pki, url["kme-a"], "sae-a") as a, client(pki, url["kme-b"] + "/api/v1/keys/", "sae-b") as b:
        status = a.status("sae-b")
        assert (status.master_sae_id, status.slave_sae_id, status.target_kme_id) == ("sae-a", "sae-b", "kme-b")
        assert status.min_key_size <= 256 <= status.max_key_size
        keys = a.get_keys("sae-b", number=3, size=512)
        assert [k.size_bits for k in keys] == [512] * 3
        assert "material" not in repr(keys[0])
        assert keys[0].material.hex() not in repr(keys[0])
        got = b.get_keys_with_ids("sae-a", [keys[2].key_id, keys[0].key_id])
        assert got == [keys[2], keys[0]]  # in the order asked for


def test_etsi_errors_come_with_their_status_and_message(network: tuple[PkiFiles, dict[str, str]]) -> None:
    pki, url = network
    with client(pki, url["kme-a"], "sae-a") as a:
        with pytest.raises(KmeRequestError) as error:
            a.get_keys("sae-b", size=260)
        assert (error.value.status, error.value.message) == (400, "size shall be a multiple of 8")
        assert "HTTP 400" in str(error.value)
        assert "size shall be a multiple of 8" in str(error.value)
        with pytest.raises(KmeRequestError) as error:
            a.get_keys("sae-b", number=10_000)
        assert error.value.status == 400
        assert "max_key_per_request" in str(error.value)
        [key] = a.get_keys("sae-b")
    with client(pki, url["kme-b"], "sae-c") as c:
        with pytest.raises(KmeRequestError) as error:
            c.get_keys_with_ids("sae-a", [key.key_id])
        assert error.value.status == 401
        assert "unauthorized" in str(error.value)
    with client(pki, url["kme-b"], "sae-b") as b:
        assert b.get_keys_with_ids("sae-a", [key.key_id]) == [key]
        # asked again within the KME's redelivery window (60 s), the same SAE gets the same key
        assert b.get_keys_with_ids("sae-a", [key.key_id]) == [key]
        with pytest.raises(KmeRequestError) as error:
            b.get_keys_with_ids("sae-a", ["00000000-0000-0000-0000-000000000000"])
        assert (error.value.status, error.value.message) == (400, "one or more keys specified are not found on KME")
    with client(pki, url["kme-a"], "sae-b") as wrong_kme, pytest.raises(KmeRequestError) as error:
        wrong_kme.status("sae-a")  # sae-b is not attached to kme-a
    assert error.value.status == 401


def test_an_unreachable_kme_and_bad_settings(network: tuple[PkiFiles, dict[str, str]], tmp_path: Path) -> None:
    pki, _ = network
    with client(pki, f"https://localhost:{free_port()}", "sae-a") as a, pytest.raises(KmeRequestError) as error:
        a.status("sae-b")
    assert error.value.status is None
    assert "cannot reach" in str(error.value)
    for url in ("http://localhost:1", "localhost:8443", "https://"):
        with pytest.raises(ParameterError) as bad:
            client(pki, url, "sae-a")
        assert bad.value.field == "url"
    with pytest.raises(ParameterError) as bad:
        KmeClient("https://localhost:1", tmp_path / "none.pem", pki.key("sae-a"), pki.ca)
    assert bad.value.field == "cert"
    with pytest.raises(ParameterError) as bad:
        KmeClient("https://localhost:1", pki.cert("sae-a"), pki.key("sae-b"), pki.ca)  # not its key
    assert bad.value.field == "key"


def test_another_kme_s_answers_are_checked(network: tuple[PkiFiles, dict[str, str]]) -> None:
    """A KME we did not write: a 503 Error object, and Key containers that do not match the request."""
    pki, _ = network
    key_id = str(uuid.uuid4())
    answers = {
        "503": httpx.Response(503, json={"message": "key data access error", "details": [{"db": "down"}]}),
        "short": httpx.Response(200, json={"keys": [{"key_ID": key_id, "key": base64.b64encode(b"k" * 16).decode()}]}),
        "base64": httpx.Response(200, json={"keys": [{"key_ID": key_id, "key": "not base64!"}]}),
        "html": httpx.Response(200, text="<html>"),
        "teapot": httpx.Response(418, text="I'm a teapot"),
    }
    seen: list[dict[str, object]] = []
    for name, answer in answers.items():

        def handler(request: httpx.Request, answer: httpx.Response = answer) -> httpx.Response:
            seen.append({"path": request.url.raw_path.decode(), "body": json.loads(request.content or b"null")})
            return answer

        with client(pki, "https://kme.example", "sae-a") as a:
            a._http = httpx.Client(transport=httpx.MockTransport(handler))
            with pytest.raises(KmeRequestError) as error:
                a.get_keys("sae b/1", number=2, size=256)
        assert {"503": 503, "teapot": 418}.get(name, 200) == error.value.status, name
    assert seen[0] == {"path": "/api/v1/keys/sae%20b%2F1/enc_keys", "body": {"number": 2, "size": 256}}
    assert "key data access error (db: down)" in str(
        KmeRequestError("x", 503, "key data access error", [{"db": "down"}])
    )


def test_the_client_confirms_the_kme_id_from_the_kme_certificate(network: tuple[PkiFiles, dict[str, str]]) -> None:
    """ETSI GS QKD 014 clause 5.1: the SAE checks that it talks to the KME it expects, by the KME's certificate."""
    pki, url = network
    with KmeClient(url["kme-a"], pki.cert("sae-a"), pki.key("sae-a"), pki.ca, kme_id="kme-a") as a:
        assert a.status("sae-b").source_kme_id == "kme-a"
    wrong = KmeClient(url["kme-b"], pki.cert("sae-a"), pki.key("sae-a"), pki.ca, kme_id="kme-a")
    with wrong, pytest.raises(ParameterError) as error:
        wrong.status("sae-b")
    assert error.value.field == "kme_id"
    assert "'kme-b'" in str(error.value)


def test_a_kme_of_the_wrong_id_is_sent_nothing(network: tuple[PkiFiles, dict[str, str]]) -> None:
    """The KME ID is checked on the connection itself, after the TLS handshake and before the request."""
    pki, _ = network
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pki.cert("kme-b"), pki.key("kme-b"))
    server_context.load_verify_locations(pki.ca)
    server_context.verify_mode = ssl.CERT_REQUIRED
    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve_once() -> None:
            raw, _ = listener.accept()
            with server_context.wrap_socket(raw, server_side=True) as tls:
                tls.settimeout(10)
                try:
                    received.append(tls.recv(65536))
                except (OSError, ssl.SSLError):
                    received.append(b"")

        thread = threading.Thread(target=serve_once)
        thread.start()
        client = KmeClient(f"https://localhost:{port}", pki.cert("sae-a"), pki.key("sae-a"), pki.ca, kme_id="kme-a")
        with client, pytest.raises(ParameterError) as error:
            client.get_keys("sae-b")
        thread.join(timeout=20)
    assert error.value.field == "kme_id"
    assert received == [b""]  # the handshake was made, then the connection closed: no request went out


def test_a_refused_client_certificate_is_named_as_the_likely_cause(
    network: tuple[PkiFiles, dict[str, str]], tmp_path: Path
) -> None:
    pki, url = network
    rogue = init_pki(tmp_path / "rogue", kmes=[], saes=["sae-a"])  # the right name, another CA
    with (
        KmeClient(url["kme-a"], rogue.cert("sae-a"), rogue.key("sae-a"), pki.ca) as a,
        pytest.raises(KmeRequestError) as error,
    ):
        a.status("sae-b")
    assert error.value.status is None
    assert "refuses the client certificate" in str(error.value)
