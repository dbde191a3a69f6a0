"""This project's HTTP+JSON binding of ETSI GS QKD 004 V2.1.1, on the KME's ETSI GS QKD 014 server.

ETSI GS QKD 004 defines its calls, their parameters and status values, and no wire format (:mod:`.etsi004`).
The binding chosen here puts them beside ETSI GS QKD 014 on the same HTTPS server with mutual TLS, under
``/api/v1/ks/``, one ``POST`` with a JSON body per call:

- ``POST /api/v1/ks/open_connect`` ``{"source": SAE, "destination": SAE, "QoS": {...}, "Key_stream_ID":
  UUID or null}`` -> ``{"status": n, "Key_stream_ID": UUID or null, "QoS": {...}}``;
- ``POST /api/v1/ks/get_key`` ``{"Key_stream_ID": UUID, "index": n or null, "Metadata": {"Metadata_size":
  n}}`` -> ``{"status": n, "index": n, "Key_buffer": base64, "Metadata": {"Metadata_size": n,
  "Metadata_buffer": JSON text}}``;
- ``POST /api/v1/ks/close`` ``{"Key_stream_ID": UUID}`` -> ``{"status": n}``.

Why so: the KME already authenticates SAEs by their certificates on this server (ETSI GS QKD 014 clause
5.1), so the same TLS layer names the caller of a 004 call (``source``, when given, must be that SAE); the
field names are the specification's; and every outcome ETSI GS QKD 004 gives a status value for is an HTTP
200 whose body carries that value (``status``), with ``message`` saying why when the call did not succeed,
so that an application reads one number as the specification describes. A request the specification's
calls cannot express is answered as ETSI GS QKD 014 answers one, with the Error object (``message``,
``details``): 400 for a malformed body (a field unknown, missing or of a wrong type, a number outside
uint32, a ``Key_stream_ID`` that is not a UUID, an unknown destination SAE) and for a ``Key_stream_ID`` that
is not an open stream of the caller (ETSI GS QKD 004 has no status for it); 401 for a caller that is not an
SAE of this KME; 503 when the key store cannot be reached. Never a 500.

The stream semantics are :mod:`.streams`', run in the store's group-commit writer: a key is recorded as
delivered to an SAE before it is in an answer. ``GET_KEY`` answers at once: ``GK_INSUFFICIENT_KEY_AVAILABLE``
when the path is short of key, rather than holding the request up to the QoS ``Timeout``.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError

from qinternet.kms.api import MSG_BAD, MSG_SERVER, KmeError, _Body, _canonical_key_id, _documented, _json
from qinternet.kms.etsi004 import METADATA_MIMETYPE, UINT32_MAX, QoS, Status
from qinternet.kms.store import KeyStore, NotEnoughKeyError, Writes
from qinternet.kms.streams import StreamAnswer, StreamError, close_in, get_key_in, open_in
from qinternet.kms.topology import KeyLimits, KmsTopology

__all__ = ["KS_PATH", "LinkRate", "add_key_stream_routes"]

KS_PATH = "/api/v1/ks"
"""Where the binding's three calls are."""

logger = logging.getLogger("qinternet.kms")

LinkRate = Callable[[str, str], float | None]
"""Wall-clock secret key rate of the link between two KMEs, bit/s, or None if unknown."""

U32 = Annotated[int, Field(ge=0, le=UINT32_MAX)]
_SAE = Annotated[str, Field(min_length=1, max_length=200)]


class QosBody(_Body):
    """The QoS (ETSI GS QKD 004 V2.1.1 clause 6): each field optional (the KME's default)."""

    Key_chunk_size: U32 | None = None
    Max_bps: U32 | None = None
    Min_bps: U32 | None = None
    Jitter: U32 | None = None
    Priority: U32 | None = None
    Timeout: U32 | None = None
    TTL: U32 | None = None
    Metadata_mimetype: Annotated[str, Field(max_length=256)] | None = None


class OpenConnectBody(_Body):
    """OPEN_CONNECT's inputs."""

    source: _SAE | None = None
    destination: _SAE
    QoS: QosBody | None = None
    Key_stream_ID: Annotated[str, Field(max_length=100)] | None = None


class MetadataBody(_Body):
    """GET_KEY's metadata buffer: its size in bytes (0: no metadata wanted)."""

    Metadata_size: U32 = 0


class GetKeyBody(_Body):
    """GET_KEY's inputs."""

    Key_stream_ID: Annotated[str, Field(max_length=100)]
    index: U32 | None = None
    Metadata: MetadataBody | None = None


class CloseBody(_Body):
    """CLOSE's input."""

    Key_stream_ID: Annotated[str, Field(max_length=100)]


_STATUS = {"type": "integer", "minimum": 0, "maximum": 8}
_QOS_SCHEMA: dict[str, Any] = {"type": "object"}
_OPEN_ANSWER = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": _STATUS, "Key_stream_ID": {"type": ["string", "null"]}, "QoS": _QOS_SCHEMA},
}
_GET_ANSWER = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": _STATUS,
        "index": {"type": ["integer", "null"]},
        "Key_buffer": {"type": "string", "contentEncoding": "base64"},
        "Metadata": {"type": "object"},
    },
}
_CLOSE_ANSWER = {"type": "object", "required": ["status"], "properties": {"status": _STATUS}}


def _openapi(body: type[_Body], answer: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI of a call: its required JSON body (``body``'s schema with its definitions inlined, as
    the document has no place for them) and its answers."""
    schema = body.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    extra = _documented(inline(schema), answer)
    extra["requestBody"]["required"] = True
    return extra


def _metadata_needs(topology: KmsTopology) -> int:
    """The most bytes the metadata can take: the largest age and the most hops a path of the network has."""
    return len(_metadata(UINT32_MAX, max(1, len(topology.kmes) - 1)))


def _metadata(age_ms: int, hops: int) -> bytes:
    """The metadata of a key (``application/json``): its age since it was made, ms, and the hops it crossed."""
    return json.dumps({"age": age_ms, "hops": hops}, separators=(",", ":")).encode()


def _answer(answer: StreamAnswer, **fields: Any) -> JSONResponse:
    body: dict[str, Any] = {"status": int(answer.status), **fields}
    if answer.reason and answer.status not in (Status.SUCCESSFUL, Status.PEER_NOT_CONNECTED):
        body["message"] = answer.reason
    return JSONResponse(body)


def _ksid(text: str) -> str:
    canonical = _canonical_key_id(text)
    if canonical is None:
        raise KmeError(400, MSG_BAD, [{"Key_stream_ID": f"must be a UUID, got {text[:40]!r}"}])
    return canonical


def _satisfiable(qos: QoS, limits: KeyLimits, path_bps: float | None) -> QoS | None:
    """None if this KME can meet ``qos``, else the nearest QoS it can (the counter-proposal): a chunk size
    among the key sizes it gives, ``Min_bps`` no higher than ``Max_bps`` nor the path's key rate (when
    known), metadata as ``application/json``."""
    chunk = min(limits.max_key_size // 8, max(limits.min_key_size // 8, qos.key_chunk_size_bytes))
    ceilings = [qos.min_bps, qos.max_bps or qos.min_bps, qos.min_bps if path_bps is None else int(path_bps)]
    counter = replace(qos, key_chunk_size_bytes=chunk, min_bps=min(ceilings), metadata_mimetype=METADATA_MIMETYPE)
    return None if counter == qos else counter


def add_key_stream_routes(
    app: FastAPI,
    *,
    kme_id: str,
    store: KeyStore,
    topology: KmsTopology,
    limits: KeyLimits,
    caller: Callable[[Request], str],
    link_rate_bps: LinkRate | None = None,
) -> None:
    """Add the three calls (module docstring) to the KME app ``app`` of ``kme_id``.

    ``caller`` names the verified calling SAE of a request (a 401 otherwise); ``link_rate_bps``, when given,
    lets OPEN_CONNECT refuse a ``Min_bps`` above the secret key rate of the slowest link on the way
    (``OC_QOS_NOT_SATISFIABLE``, offering that rate).
    """
    needs = _metadata_needs(topology)

    def path_bps(kme_a: str, kme_b: str) -> float | None:
        path = topology.path(kme_a, kme_b)
        if link_rate_bps is None or path is None or len(path) < 2:
            return None
        rates = [link_rate_bps(a, b) for a, b in itertools.pairwise(path)]
        known = [r for r in rates if r is not None]
        return min(known) if known else None

    async def run(work: Callable[[Any, Writes], StreamAnswer]) -> StreamAnswer:
        try:
            return await store.writer().run(work)
        except StreamError as exc:
            raise KmeError(400, MSG_BAD, [{"Key_stream_ID": str(exc)}]) from None
        except NotEnoughKeyError:
            reason = "not enough key on the way to the peer SAE's KME now"
            return StreamAnswer(status=Status.GK_INSUFFICIENT_KEY_AVAILABLE, reason=reason)
        except SQLAlchemyError:
            logger.exception("key store unavailable")
            raise KmeError(503, MSG_SERVER, [{"keys": "key data access error"}]) from None

    @app.post(
        f"{KS_PATH}/open_connect",
        openapi_extra=_openapi(OpenConnectBody, _OPEN_ANSWER),
    )
    async def open_connect(request: Request) -> Any:
        """OPEN_CONNECT (ETSI GS QKD 004 V2.1.1 clause 6): open or join a key stream with ``destination``."""
        sae = caller(request)
        body: OpenConnectBody = await _json(request, OpenConnectBody)
        if body.source is not None and body.source != sae:
            raise KmeError(400, MSG_BAD, [{"source": "must be the calling SAE (its certificate's name)"}])
        destination_kme = topology.kme_of(body.destination)
        if destination_kme is None or body.destination == sae:
            detail = "must be another SAE of the network" if destination_kme else "unknown SAE"
            raise KmeError(400, MSG_BAD, [{"destination": f"{detail}: {body.destination[:100]!r}"}])
        ksid = None if body.Key_stream_ID is None else _ksid(body.Key_stream_ID)
        asked = (body.QoS or QosBody()).model_dump()
        qos = QoS.from_json(asked, limits.key_size // 8)
        if topology.path(kme_id, destination_kme) is None:
            answer = StreamAnswer(
                status=Status.NO_QKD_CONNECTION_AVAILABLE,
                reason="no chain of QKD links through trusted nodes joins the two KMEs",
            )
        else:
            counter = _satisfiable(qos, limits, path_bps(kme_id, destination_kme))
            answer = await run(
                lambda cursor, writes: open_in(
                    store,
                    cursor,
                    writes,
                    sae=sae,
                    kme=kme_id,
                    destination=body.destination,
                    destination_kme=destination_kme,
                    ksid=ksid,
                    qos=qos,
                    counter=counter,
                    asked_chunk_bytes=asked["Key_chunk_size"] or None,
                )
            )
        logger.info("kme=%s open_connect sae=%s destination=%s status=%d", kme_id, sae, body.destination, answer.status)
        return _answer(
            answer,
            Key_stream_ID=answer.ksid,
            QoS=(answer.qos or qos).to_json(),
        )

    @app.post(f"{KS_PATH}/get_key", openapi_extra=_openapi(GetKeyBody, _GET_ANSWER))
    async def get_key(request: Request) -> Any:
        """GET_KEY (ETSI GS QKD 004 V2.1.1 clause 6): the key of an index of a key stream, once per SAE."""
        sae = caller(request)
        body: GetKeyBody = await _json(request, GetKeyBody)
        ksid = _ksid(body.Key_stream_ID)
        size = 0 if body.Metadata is None else body.Metadata.Metadata_size
        answer = await run(
            lambda cursor, writes: get_key_in(
                store,
                cursor,
                writes,
                sae=sae,
                ksid=ksid,
                index=body.index,
                topology=topology,
                metadata_size=size,
                metadata_needs=needs,
            )
        )
        logger.info(
            "kme=%s get_key sae=%s stream=%s index=%s status=%d", kme_id, sae, ksid, answer.index, answer.status
        )
        fields: dict[str, Any] = {"index": answer.index if answer.index is not None else body.index}
        if answer.status == Status.GK_METADATA_INSUFFICIENT_SIZE:
            fields["Metadata"] = {"Metadata_size": needs}
        elif answer.status == Status.SUCCESSFUL and answer.key is not None:
            fields["Key_buffer"] = base64.b64encode(answer.key).decode("ascii")
            if size:
                metadata = _metadata(answer.age_ms, answer.hops)
                fields["Metadata"] = {"Metadata_size": len(metadata), "Metadata_buffer": metadata.decode()}
        return _answer(answer, **fields)

    @app.post(f"{KS_PATH}/close", openapi_extra=_openapi(CloseBody, _CLOSE_ANSWER))
    async def close(request: Request) -> Any:
        """CLOSE (ETSI GS QKD 004 V2.1.1 clause 6): end a key stream; keys its peer never fetched are voided."""
        sae = caller(request)
        body: CloseBody = await _json(request, CloseBody)
        ksid = _ksid(body.Key_stream_ID)
        answer = await run(lambda cursor, writes: close_in(store, cursor, writes, sae=sae, ksid=ksid))
        logger.info("kme=%s close sae=%s stream=%s status=%d", kme_id, sae, ksid, answer.status)
        return _answer(answer)
