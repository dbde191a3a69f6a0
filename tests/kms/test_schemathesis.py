"""Property-based requests generated from the KME's OpenAPI document (schemathesis): never a 500.

Every generated request (paths, query strings, bodies that fit the documented schemas and, by
schemathesis' negative mode, many that do not) goes to a KME whose store holds key, as a master SAE;
the answers must be the specification's: 200, 400, 401 or 503 with their documented bodies. The ETSI GS
QKD 004 calls of the same app are generated too, and once more with bodies naming a real peer SAE and a
stream open between the two, so that generated indices, QoS and metadata sizes reach the store.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import anyio
import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from qinternet.kms.api import create_app
from qinternet.kms.store import KeyStore
from tests.kms.test_api import TOPOLOGY, AsSae

_folder = Path(tempfile.mkdtemp(prefix="qinternet-schemathesis-"))
_store = KeyStore(f"sqlite:///{_folder / 'kms.db'}")
for _a, _b in TOPOLOGY.links:
    _store.add_key(_a, _b, os.urandom(1 << 20))
APP = AsSae(create_app("kme-a", _store, TOPOLOGY), "sae-a")
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
streams = schema.include(path_regex="^/api/v1/ks/(open_connect|get_key)$")  # (a close would end the stream)

STREAM = str(uuid.uuid4())


async def _open_stream() -> None:
    """sae-a opens STREAM with sae-b, which joins: a live stream for the generated 004 calls to reach."""
    for sae, peer in (("sae-a", "sae-b"), ("sae-b", "sae-a")):
        app = AsSae(create_app(TOPOLOGY.kme_of(sae) or "", _store, TOPOLOGY), sae)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://kme") as client:
            r = await client.post("/api/v1/ks/open_connect", json={"destination": peer, "Key_stream_ID": STREAM})
            assert r.json()["status"] in (0, 1), r.text


anyio.run(_open_stream)


def _check(case: schemathesis.Case) -> int:
    response = case.call()
    assert response.status_code in (200, 400, 401, 503), (response.status_code, response.text[:200])
    case.validate_response(
        response,
        checks=(status_code_conformance, content_type_conformance, response_schema_conformance),
    )
    return int(response.status_code)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_server_error(case: schemathesis.Case) -> None:
    _check(case)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_to_a_real_peer_makes_a_server_error(case: schemathesis.Case) -> None:
    """The same with the path naming a real SAE, so that generated numbers and sizes reach the store."""
    if case.path_parameters:
        case.path_parameters = dict.fromkeys(case.path_parameters, "sae-b")
    _check(case)


@streams.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_key_stream_call_on_a_live_stream_makes_a_server_error(case: schemathesis.Case) -> None:
    """OPEN_CONNECT and GET_KEY with bodies naming the real peer and the live stream (where the body is an
    object); CLOSE is generated with the other calls above."""
    if isinstance(case.body, dict):
        case.body = {**case.body, "Key_stream_ID": STREAM}
        for name, value in (("source", "sae-a"), ("destination", "sae-b")):
            if name in case.body:
                case.body[name] = value
    _check(case)
