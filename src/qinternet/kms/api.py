"""The ETSI GS QKD 014 V1.1.1 REST API of one Key Management Entity (FastAPI), and beside it ETSI GS QKD 004.

``create_app(kme_id, store, topology)`` builds the app; nothing starts at import. The calling SAE is the
identity the TLS layer put into the ASGI scope (``scope["qinternet.sae_id"]``, from the verified client
certificate: :mod:`.tls`), never anything in the request. The three methods of the specification
(Table 2) with its data formats (clause 6) and status codes (200, 400, 401, 503):

- ``GET /api/v1/keys/{slave_SAE_ID}/status`` -> Status (Table 9);
- ``GET|POST /api/v1/keys/{slave_SAE_ID}/enc_keys`` (query ``number``, ``size``; body Key request,
  Table 10) -> Key container (Table 11), called by the master SAE;
- ``GET|POST /api/v1/keys/{master_SAE_ID}/dec_keys`` (query ``key_ID``; body Key IDs, Table 12) -> Key
  container, called by a slave SAE.

Errors: every answer other than 200 carries the Error object (Table 13: ``message``, optional
``details``) as ``application/json``, as the response tables of clauses 5.2 to 5.4 give it for 400, 401
and 503 alike. 400 for a malformed request, using the specification's own messages where it gives one
(clause 6.2: ``size shall be a multiple of 8``, ``not all extension_mandatory parameters are supported``;
clause 6.4: ``one or more keys specified are not found on KME``); 401 (``Unauthorized``) for a caller that
is not an SAE of this KME or a slave the keys were not issued to (clause 5.4); 503 when the KME cannot
serve now (not enough key on the way to the slave, the SAE's quota spent, database unavailable), with a
``Retry-After``: the seconds until the quota covers the request, or until the next block of the links
short of key ends (``next_block_s``), else 1. Anything unexpected is a 503 too: never a 500 and never a
traceback. Key material never appears in a log line or an error.

Per-SAE rules (:mod:`.policy`): a quota of key bits per master SAE, keys a slave never fetched voided
after ``reservation_ttl_s`` (Get key with key IDs then answers them as not found), and the redelivery
window: for ``redelivery_window_s`` after a delivery the same slave SAE may fetch the key again (its
answer may have died with the KME), counted once in the ledger and ``qinternet_kms_keys_delivered``.

``enc_keys`` and ``dec_keys`` go through the store's group-commit writer (:mod:`.writer`): a key is in an
answer only once the transaction that issued or delivered it is committed. A key to a slave at another KME
is relayed through trusted KMEs on the widest path by the pools' levels when it is taken, the path
``qinternet run`` takes for the same network and levels (:mod:`qinternet.network.routing`).

The same app serves ETSI GS QKD 004 V2.1.1's key streams (OPEN_CONNECT, GET_KEY, CLOSE) under
``/api/v1/ks/`` over the same mutual TLS, in this project's HTTP+JSON binding: :mod:`.api004`; and, when
the KME takes its key from QKD devices, their southbound key streams under ``/southbound/v1/``:
:mod:`.api_southbound`.
"""

from __future__ import annotations

import base64
import functools
import itertools
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qinternet.kms.metrics import KmsMetrics
from qinternet.kms.policy import KeyPolicy, SaeQuotas
from qinternet.kms.store import (
    DeliveredKey,
    KeyNotAvailableError,
    KeyStore,
    NotEnoughKeyError,
    RelayFailedError,
    Route,
)
from qinternet.kms.topology import KeyLimits, KmsTopology

if TYPE_CHECKING:
    from qinternet.kms.relay import RelayService
    from qinternet.kms.southbound import DeviceEnd

__all__ = ["SAE_SCOPE_KEY", "KmeError", "create_app"]

SAE_SCOPE_KEY = "qinternet.sae_id"
"""Where the TLS layer puts the verified SAE ID of the caller in the ASGI scope."""

logger = logging.getLogger("qinternet.kms")

MSG_SIZE = "size shall be a multiple of 8"
MSG_EXTENSION = "not all extension_mandatory parameters are supported"
MSG_NOT_FOUND = "one or more keys specified are not found on KME"
MSG_BAD = "Bad request format"
MSG_SERVER = "Error on server side"
MSG_UNAUTHORIZED = "Unauthorized"

NextBlock = Callable[[str, str], float | None]
"""Wall seconds until the link between two KMEs delivers its next block of key, or None if unknown."""


# The path parameters and body fields keep the specification's names (slave_SAE_ID, key_IDs, ...), which
# is why ruff's naming rules N803/N815 are off for this file (pyproject.toml).
class KmeError(Exception):
    """An answer other than 200: ``status``, the Error object's message and details, and for a 503 the
    seconds after which to try again."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.retry_after_s = retry_after_s


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class KeyRequest(_Body):
    """Key request (Table 10)."""

    number: int | None = None
    size: int | None = None
    additional_slave_SAE_IDs: list[str] | None = None
    extension_mandatory: list[dict[str, Any]] | None = None
    extension_optional: list[dict[str, Any]] | None = None


class KeyIdItem(_Body):
    """One entry of Key IDs (Table 12)."""

    key_ID: str
    key_ID_extension: dict[str, Any] | None = None


class KeyIds(_Body):
    """Key IDs (Table 12)."""

    key_IDs: list[KeyIdItem] = Field(min_length=1)
    key_IDs_extension: dict[str, Any] | None = None


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string"}, "details": {"type": "array", "items": {"type": "object"}}},
}
_KEY_CONTAINER_SCHEMA = {
    "type": "object",
    "required": ["keys"],
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key_ID", "key"],
                "properties": {
                    "key_ID": {"type": "string", "format": "uuid"},
                    "key_ID_extension": {"type": "object"},
                    "key": {"type": "string", "contentEncoding": "base64"},
                    "key_extension": {"type": "object"},
                },
            },
        },
        "key_container_extension": {"type": "object"},
    },
}
_KEY_IDS_SCHEMA = {
    "type": "object",
    "required": ["key_IDs"],
    "additionalProperties": False,
    "properties": {
        "key_IDs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["key_ID"],
                "additionalProperties": False,
                "properties": {"key_ID": {"type": "string"}, "key_ID_extension": {"type": "object"}},
            },
        },
        "key_IDs_extension": {"type": "object"},
    },
}


_MAX_SAE_ID_CHARS = 200
SaeId = Annotated[str, Path(min_length=1, max_length=_MAX_SAE_ID_CHARS)]


def _parameter(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


def _sae_parameter(name: str) -> dict[str, Any]:
    return _parameter(name, "path", {"type": "string", "minLength": 1, "maxLength": _MAX_SAE_ID_CHARS}, "SAE ID")


_ENC_KEYS_QUERY = [
    _sae_parameter("slave_SAE_ID"),
    _parameter("number", "query", {"type": "integer"}, "Number of keys (default 1)"),
    _parameter("size", "query", {"type": "integer"}, "Size of each key in bits (default key_size)"),
]
_DEC_KEYS_QUERY = [_sae_parameter("master_SAE_ID"), _parameter("key_ID", "query", {"type": "string"}, "Key ID")]


def _path_sae(request: Request, name: str) -> str:
    """An SAE ID from the path of a route that reads its parameters itself (the hot GET routes: FastAPI's
    parameter handling was a fifth of their CPU time)."""
    value: str = request.path_params[name]
    if len(value) > _MAX_SAE_ID_CHARS:
        raise KmeError(400, MSG_BAD, [{name: f"at most {_MAX_SAE_ID_CHARS} characters"}])
    return value


def _documented(
    body_schema: dict[str, Any] | None, ok_schema: dict[str, Any], parameters: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """OpenAPI of a route whose body (or query) is parsed by hand (to answer errors the specification's way)."""
    responses: dict[str, Any] = {
        "200": {"content": {"application/json": {"schema": ok_schema}}},
        "400": {"description": "Bad request format", "content": {"application/json": {"schema": _ERROR_SCHEMA}}},
        "401": {"description": "Unauthorized", "content": {"application/json": {"schema": _ERROR_SCHEMA}}},
        "503": {"description": "Error on server side", "content": {"application/json": {"schema": _ERROR_SCHEMA}}},
    }
    extra: dict[str, Any] = {"responses": responses}
    if parameters is not None:
        extra["parameters"] = parameters
    if body_schema is not None:
        extra["requestBody"] = {"required": False, "content": {"application/json": {"schema": body_schema}}}
    return extra


_MAX_RETRY_AFTER_S = 86400
"""Longest ``Retry-After`` given (a satellite's next pass may be hours away; a day is the cap)."""


def _error(
    status: int, message: str, details: list[dict[str, Any]] | None = None, retry_after_s: float | None = None
) -> Response:
    """The Error object (Table 13) with ``status``; a 503 says when to try again (1 s when nobody knows: the
    links make key all the time, or the database comes back)."""
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    headers = None
    if status == 503:
        wait = 1.0 if retry_after_s is None or not math.isfinite(retry_after_s) else retry_after_s
        headers = {"Retry-After": str(min(_MAX_RETRY_AFTER_S, max(1, math.ceil(wait))))}
    return JSONResponse(body, status_code=status, headers=headers)


def _caller(request: Request, topology: KmsTopology, kme_id: str) -> str:
    """The verified SAE ID of the caller, attached to this KME; 401 otherwise."""
    sae_id = request.scope.get(SAE_SCOPE_KEY)
    if not isinstance(sae_id, str) or topology.kme_of(sae_id) != kme_id:
        logger.warning(
            "kme=%s refused (401): %s is not an SAE of this KME",
            kme_id,
            "a client without a certificate name" if not isinstance(sae_id, str) else repr(sae_id[:100]),
        )
        detail = "no SAE ID in the client certificate" if not isinstance(sae_id, str) else "not an SAE of this KME"
        raise KmeError(401, MSG_UNAUTHORIZED, [{"SAE_ID": detail}])
    return sae_id


def _container(keys: list[DeliveredKey]) -> dict[str, Any]:
    return {"keys": [{"key_ID": k.key_id, "key": base64.b64encode(k.material).decode("ascii")} for k in keys]}


def _int_param(value: str | None, name: str) -> int | None:
    """A query parameter of ASCII digits (Python's ``int`` would also take ``1_0``, ``+5`` or other scripts'
    digits)."""
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise KmeError(400, MSG_BAD, [{name: f"must be a whole number of ASCII digits, got {value[:40]!r}"}])
    return int(value)


_MAX_BODY_BYTES = 1 << 20
"""Largest request body read (a Key IDs body of max_key_per_request IDs is a few kB)."""


async def _json(request: Request, model: type[_Body]) -> Any:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_BODY_BYTES:
            raise KmeError(400, MSG_BAD, [{"body": f"larger than {_MAX_BODY_BYTES} bytes"}])
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        details = [{".".join(str(p) for p in e["loc"]) or "body": e["msg"]} for e in exc.errors(include_url=False)]
        raise KmeError(400, MSG_BAD, details[:10]) from None


def _route(path: str) -> str:
    """The method a path calls, for metrics (the SAE IDs in it are not labels)."""
    for name in ("status", "enc_keys", "dec_keys", "open_connect", "get_key", "close", "push_key"):
        if path.endswith("/" + name):
            return name
    return "other"


class _NeverFail:
    """ASGI middleware: an error that escapes the routes becomes a 503 with the Error object (logged without
    the request's body), never a 500; every request's time goes to ``metrics``.

    Plain ASGI rather than ``@app.middleware("http")`` (Starlette's ``BaseHTTPMiddleware``), which runs
    each request through memory streams and a task group: measured here, that was about a third of the
    app's CPU time per request.
    """

    def __init__(self, app: ASGIApp, kme_id: str, metrics: KmsMetrics | None) -> None:
        self._app, self._kme_id, self._metrics = app, kme_id, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        except Exception:
            logger.exception("KME %s failed on %s %s", self._kme_id, scope.get("method"), scope.get("path"))
            if status:  # the answer had begun: the connection is cut, as for any broken response
                raise
            await _error(503, MSG_SERVER)(scope, receive, sending)
        finally:  # also when the answer was cut or the client left ("aborted": no status was sent)
            if self._metrics is not None:
                self._metrics.requests.labels(
                    self._kme_id, _route(scope.get("path", "")), str(status) if status else "aborted"
                ).observe(time.perf_counter() - started)


def create_app(
    kme_id: str,
    store: KeyStore,
    topology: KmsTopology,
    limits: KeyLimits | None = None,
    metrics: KmsMetrics | None = None,
    *,
    policy: KeyPolicy | None = None,
    next_block_s: NextBlock | None = None,
    link_rate_bps: Callable[[str, str], float | None] | None = None,
    devices: Mapping[str, DeviceEnd] | None = None,
    pool_capacity_bytes: int | None = None,
    relay: RelayService | None = None,
) -> FastAPI:
    """The ETSI GS QKD 014 app of the KME ``kme_id`` over ``store`` (see the module docstring), with this
    project's binding of ETSI GS QKD 004 beside it (:mod:`.api004`; ``link_rate_bps`` for its QoS).

    With ``devices`` (the network's QKD devices, :func:`qinternet.kms.southbound.device_ends`), the KME also
    takes key from the devices of its links (:mod:`.api_southbound`), into pools of at most
    ``pool_capacity_bytes``.

    With ``relay`` (one KME per process, ``qinternet kme``: :mod:`.relay`), ``store`` holds only this KME's
    links' keys: a key to a slave at another KME is relayed by messages to the KMEs on its path
    (:meth:`RelayService.issue <qinternet.kms.relay.RelayService.issue>`), and the devices' keys are agreed
    with the partner KMEs by messages too.

    ``metrics``, when given, counts keys issued and delivered per SAE pair, relay failures, and the time
    of every request (:mod:`.metrics`); the events are also logged (``qinternet.kms``), without key
    material. ``policy`` sets the per-SAE quota, the expiry of unfetched keys and the redelivery window
    (:mod:`.policy`; default: 60 s);
    ``next_block_s``, when given, tells a 503 for want of key when the links short of it make more.
    """
    limits = limits or KeyLimits()
    policy = policy or KeyPolicy()
    quotas = SaeQuotas(policy.sae_quota_bits, policy.sae_quota_window_s) if policy.sae_quota_bits > 0 else None
    ttl_s = policy.reservation_ttl_s or None
    pool_level = store.pool_level if relay is None else relay.pool_level
    app = FastAPI(
        title=f"qinternet KME {kme_id}",
        version="1.1.1",
        summary="ETSI GS QKD 014 V1.1.1 key delivery API",
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # ".../status/" is not an API path: 400 with the Error object, not a 307
    )

    @app.exception_handler(KmeError)
    async def _kme_error(_: Request, exc: KmeError) -> Response:
        return _error(exc.status, exc.message, exc.details, exc.retry_after_s)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        details = [{".".join(str(p) for p in e["loc"]): e["msg"]} for e in exc.errors()][:10]
        return _error(400, MSG_BAD, details)

    @app.exception_handler(404)
    async def _not_found(_: Request, __: Exception) -> Response:
        return _error(400, MSG_BAD, [{"path": "not an API path of ETSI GS QKD 014"}])

    @app.exception_handler(405)
    async def _bad_method(_: Request, __: Exception) -> Response:
        return _error(400, MSG_BAD, [{"method": "not allowed on this path"}])

    app.add_middleware(_NeverFail, kme_id=kme_id, metrics=metrics)

    def peer_kme(master_kme: str, slave_sae: str, field: str) -> str:
        """The slave's KME, once it is known to be joined to the master's by QKD links through trusted KMEs."""
        slave_kme = topology.kme_of(slave_sae)
        if slave_kme is None:
            raise KmeError(400, MSG_BAD, [{field: f"unknown SAE {slave_sae[:100]!r}"}])
        if topology.path(master_kme, slave_kme) is None:
            if metrics is not None:
                metrics.relay_failures.labels(kme_id, slave_sae).inc()
            raise KmeError(503, MSG_SERVER, [{field: "no chain of QKD links through trusted nodes to its KME"}])
        return slave_kme

    def stored_keys(slave_kme: str, size_bits: int) -> int:
        """Keys of ``size_bits`` the widest path to ``slave_kme`` can relay now (the pools' levels in memory)."""
        path = topology.widest_path(kme_id, slave_kme, pool_level)
        if path is None:
            return 0
        if len(path) == 1:
            return limits.max_key_count
        held = min(pool_level(a, b) for a, b in itertools.pairwise(path))
        return held * 8 // size_bits

    def key_wait_s(slave_kme: str, need_bytes: int) -> float | None:
        """Wall seconds until every hop short of ``need_bytes`` on the path to ``slave_kme`` (the widest
        by the levels now, else the one with the fewest hops) has made its next block; None if unknown."""
        if next_block_s is None:
            return None
        path = topology.widest_path(kme_id, slave_kme, pool_level) or topology.path(kme_id, slave_kme)
        if path is None:
            return None
        short = [(a, b) for a, b in itertools.pairwise(path) if pool_level(a, b) < need_bytes]
        waits = [w for w in (next_block_s(a, b) for a, b in short) if w is not None]
        return max(waits) if waits else None

    @app.get("/api/v1/keys/{slave_SAE_ID}/status", openapi_extra=_documented(None, {"type": "object"}))
    async def status(request: Request, slave_SAE_ID: SaeId) -> dict[str, Any]:
        """Get status (clause 5.2): what the calling master SAE could get for ``slave_SAE_ID``."""
        master = _caller(request, topology, kme_id)
        if slave_SAE_ID == master:  # as Get key refuses it
            raise KmeError(400, MSG_BAD, [{"slave_SAE_ID": "must differ from the calling (master) SAE"}])
        slave_kme = peer_kme(kme_id, slave_SAE_ID, "slave_SAE_ID")
        count = stored_keys(slave_kme, limits.key_size)
        if quotas is not None:  # what this SAE may take now
            count = min(count, int(quotas.available(master) // limits.key_size))
        return {
            "source_KME_ID": kme_id,
            "target_KME_ID": slave_kme,
            "master_SAE_ID": master,
            "slave_SAE_ID": slave_SAE_ID,
            "key_size": limits.key_size,
            "stored_key_count": min(count, limits.max_key_count),
            "max_key_count": limits.max_key_count,
            "max_key_per_request": limits.max_key_per_request,
            "max_key_size": limits.max_key_size,
            "min_key_size": limits.min_key_size,
            "max_SAE_ID_count": limits.max_sae_id_count,
        }

    async def issue(request: Request, slave: str, key_request: KeyRequest) -> dict[str, Any]:
        master = _caller(request, topology, kme_id)
        names = sorted({name for item in key_request.extension_mandatory or [] for name in item})
        if names:  # an empty object names no extension: nothing unsupported
            detail = [{"extension_mandatory_unsupported": f"{name[:60]} is not supported"} for name in names[:10]]
            raise KmeError(400, MSG_EXTENSION, detail)
        number = 1 if key_request.number is None else key_request.number
        size = limits.key_size if key_request.size is None else key_request.size
        if size % 8:
            raise KmeError(400, MSG_SIZE, [{"size": f"{size} bits is not a whole number of bytes"}])
        problems = []
        if not 1 <= number <= limits.max_key_per_request:
            problems.append({"number": f"must be between 1 and max_key_per_request = {limits.max_key_per_request}"})
        if not limits.min_key_size <= size <= limits.max_key_size:
            problems.append({"size": f"must be between {limits.min_key_size} and {limits.max_key_size} bits"})
        extra = key_request.additional_slave_SAE_IDs or []
        if len(extra) > limits.max_sae_id_count:
            problems.append({"additional_slave_SAE_IDs": f"at most max_SAE_ID_count = {limits.max_sae_id_count}"})
        slaves = list(dict.fromkeys([slave, *extra]))
        if slave == master:
            problems.append({"slave_SAE_ID": "must differ from the calling (master) SAE"})
        if master in extra or len(slaves) != 1 + len(extra):
            problems.append({"additional_slave_SAE_IDs": "slaves must differ from each other and from the master"})
        if problems:
            raise KmeError(400, MSG_BAD, problems)
        # Every key takes the widest path by the pools' levels when the writer takes it (as ``qinternet run``
        # routes: qinternet.network.routing), not a path fixed here: the levels may change before its batch.
        fields = ["slave_SAE_ID"] + ["additional_slave_SAE_IDs"] * len(extra)
        slave_kmes = [peer_kme(kme_id, sae, field) for sae, field in zip(slaves, fields, strict=True)]
        routes: list[tuple[str, Route]] = [
            (sae, functools.partial(topology.widest_path, kme_id, slave_kme))
            for sae, slave_kme in zip(slaves, slave_kmes, strict=True)
        ]
        bits = number * size * len(slaves)
        take_quota(master, bits)
        try:
            if relay is None:
                keys = await store.writer().issue(
                    master_kme=kme_id, master_sae=master, slaves=routes, number=number, size_bits=size
                )
            else:
                keys = await relay.issue(
                    master_sae=master, slaves=list(zip(slaves, slave_kmes, strict=True)), number=number, size_bits=size
                )
        except RelayFailedError as exc:
            if quotas is not None:
                quotas.give_back(master, bits)
            if metrics is not None:
                for sae in slaves:
                    metrics.relay_failures.labels(kme_id, sae).inc()
            logger.warning("kme=%s master=%s: relay towards %s voided: %s", kme_id, master, ",".join(slaves), exc)
            detail = [{"keys": f"the relay to the slave KME failed and was voided: {exc}"}]
            raise KmeError(503, MSG_SERVER, detail) from None
        except NotEnoughKeyError:
            if quotas is not None:
                quotas.give_back(master, bits)
            if metrics is not None:
                for sae in slaves:
                    metrics.relay_failures.labels(kme_id, sae).inc()
            logger.warning("kme=%s master=%s: not enough key towards %s", kme_id, master, ",".join(slaves))
            waits = [w for w in (key_wait_s(k, number * size // 8) for k in slave_kmes) if w is not None]
            raise KmeError(
                503,
                MSG_SERVER,
                [{"keys": "not enough key material on the way to the slave KME"}],
                retry_after_s=max(waits) if waits else None,
            ) from None
        except SQLAlchemyError:
            if quotas is not None:
                quotas.give_back(master, bits)
            logger.exception("key store unavailable")
            raise KmeError(503, MSG_SERVER, [{"keys": "key data access error"}]) from None
        except BaseException:  # cancelled, or a bug (the middleware's 503): the keys were not handed out
            if quotas is not None:
                quotas.give_back(master, bits)
            raise
        if metrics is not None:
            for sae in slaves:
                metrics.keys_issued.labels(kme_id, master, sae).inc(len(keys))
        logger.info(
            "kme=%s issued %d key%s of %d bits master=%s slaves=%s",
            kme_id,
            len(keys),
            "" if len(keys) == 1 else "s",
            size,
            master,
            slaves,
        )
        return _container(keys)

    @app.get(
        "/api/v1/keys/{slave_SAE_ID}/enc_keys", openapi_extra=_documented(None, _KEY_CONTAINER_SCHEMA, _ENC_KEYS_QUERY)
    )
    async def enc_keys_get(request: Request) -> Any:
        """Get key (clause 5.3) with ``number`` and ``size`` as query parameters."""
        query = request.query_params
        number, size = _int_param(query.get("number"), "number"), _int_param(query.get("size"), "size")
        key_request = KeyRequest(number=number, size=size)
        return JSONResponse(await issue(request, _path_sae(request, "slave_SAE_ID"), key_request))

    @app.post(
        "/api/v1/keys/{slave_SAE_ID}/enc_keys",
        openapi_extra=_documented(KeyRequest.model_json_schema(), _KEY_CONTAINER_SCHEMA),
    )
    async def enc_keys_post(request: Request, slave_SAE_ID: SaeId) -> dict[str, Any]:
        """Get key (clause 5.3) with a Key request body."""
        _caller(request, topology, kme_id)  # 401 before the body is read
        return await issue(request, slave_SAE_ID, await _json(request, KeyRequest))

    def take_quota(master: str, bits: int) -> None:
        """Take ``bits`` from the master's quota, or refuse the request (400 if it never fits, else 503)."""
        if quotas is None:
            return
        wait_s = quotas.take(master, bits)
        if wait_s == 0.0:
            return
        if math.isinf(wait_s):
            detail = f"number * size * slaves = {bits} bits is more than the SAE's quota of {quotas.bits:.0f} bits"
            raise KmeError(400, MSG_BAD, [{"number": detail}])
        logger.warning("kme=%s master=%s: quota spent (%d bits asked)", kme_id, master, bits)
        detail = f"the SAE's quota of {quotas.bits:.0f} bits per {policy.sae_quota_window_s:g} s is spent"
        raise KmeError(503, MSG_SERVER, [{"quota": detail}], retry_after_s=wait_s)

    async def deliver(request: Request, master: str, key_ids: list[str]) -> dict[str, Any]:
        slave = _caller(request, topology, kme_id)
        if len(key_ids) > limits.max_key_per_request:
            raise KmeError(400, MSG_BAD, [{"key_IDs": f"at most max_key_per_request = {limits.max_key_per_request}"}])
        canonical = [_canonical_key_id(k) for k in key_ids]
        bad = [k for k, c in zip(key_ids, canonical, strict=True) if c is None]
        if bad:
            raise KmeError(400, MSG_BAD, [{"key_ID": f"must be a UUID, got {k[:40]!r}"} for k in bad[:10]])
        key_ids = [c for c in canonical if c is not None]
        try:
            keys = await store.writer().deliver(
                kme_id=kme_id,
                slave_sae=slave,
                master_sae=master,
                key_ids=key_ids,
                ttl_s=ttl_s,
                redelivery_window_s=policy.redelivery_window_s,
            )
        except KeyNotAvailableError as exc:
            if exc.reserved_for_others:
                logger.warning("kme=%s refused (401): %s asked for keys issued to other SAEs", kme_id, slave)
                detail = [{"key_ID": "one or more keys were not issued to this SAE"}]
                raise KmeError(401, MSG_UNAUTHORIZED, detail) from None  # clause 5.4
            missing = [{"key_ID": f"{k} is not held for {slave[:100]} from {master[:100]}"} for k in exc.key_ids[:10]]
            raise KmeError(400, MSG_NOT_FOUND, missing) from None
        except SQLAlchemyError:
            logger.exception("key store unavailable")
            raise KmeError(503, MSG_SERVER, [{"keys": "key data access error"}]) from None
        again = sum(1 for key in keys if key.again)  # fetched again within the redelivery window
        if metrics is not None:
            if len(keys) > again:
                metrics.keys_delivered.labels(kme_id, master, slave).inc(len(keys) - again)
            if again:
                metrics.keys_redelivered.labels(kme_id, master, slave).inc(again)
        logger.info(
            "kme=%s delivered %d key%s master=%s slave=%s%s",
            kme_id,
            len(keys),
            "" if len(keys) == 1 else "s",
            master,
            slave,
            f" ({again} again, within the redelivery window)" if again else "",
        )
        return _container(keys)

    @app.get(
        "/api/v1/keys/{master_SAE_ID}/dec_keys", openapi_extra=_documented(None, _KEY_CONTAINER_SCHEMA, _DEC_KEYS_QUERY)
    )
    async def dec_keys_get(request: Request) -> Any:
        """Get key with key IDs (clause 5.4), one ``key_ID`` as a query parameter."""
        key_id = request.query_params.get("key_ID")
        if key_id is None:
            raise KmeError(400, MSG_BAD, [{"key_ID": "is required"}])
        return JSONResponse(await deliver(request, _path_sae(request, "master_SAE_ID"), [key_id]))

    @app.post(
        "/api/v1/keys/{master_SAE_ID}/dec_keys", openapi_extra=_documented(_KEY_IDS_SCHEMA, _KEY_CONTAINER_SCHEMA)
    )
    async def dec_keys_post(request: Request, master_SAE_ID: SaeId) -> dict[str, Any]:
        """Get key with key IDs (clause 5.4) with a Key IDs body."""
        _caller(request, topology, kme_id)  # 401 before the body is read
        body: KeyIds = await _json(request, KeyIds)
        return await deliver(request, master_SAE_ID, [item.key_ID for item in body.key_IDs])

    from qinternet.kms.api004 import add_key_stream_routes  # it builds on this module's helpers

    add_key_stream_routes(
        app,
        kme_id=kme_id,
        store=store,
        topology=topology,
        limits=limits,
        caller=functools.partial(_caller, topology=topology, kme_id=kme_id),
        link_rate_bps=link_rate_bps,
    )
    if devices is not None:
        from qinternet.kms.api_southbound import add_southbound_routes

        add_southbound_routes(
            app,
            kme_id=kme_id,
            store=store,
            devices=devices,
            capacity_bytes=pool_capacity_bytes,
            pool=None if relay is None else relay.pool_key,
            pushed=None if relay is None else relay.pushed,
        )
    if relay is not None:
        relay.add_routes(app)
    return app


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII | re.IGNORECASE)
"""A UUID in its string form (RFC 4122 section 3: hexadecimal digits, either case, in 8-4-4-4-12 groups)."""


def _canonical_key_id(text: str) -> str | None:
    """``text`` as the key IDs this KME issues (lower case), or None when it is not a UUID's string form."""
    return text.lower() if _UUID.fullmatch(text) else None
