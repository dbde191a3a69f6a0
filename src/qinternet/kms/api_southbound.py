"""The KME's southbound interface: QKD devices push their key streams to it over HTTPS with mutual TLS.

Three calls, one ``POST`` with a JSON body each, under :data:`SOUTHBOUND_PATH` on the KME's own server (the
server of ETSI GS QKD 014 and 004; ``docs/southbound.md`` says why this binding):

- ``POST /southbound/v1/open_connect`` ``{"Key_stream_ID": UUID, "link": ID (optional), "QoS":
  {"Key_chunk_size": bytes}}`` -> ``{"status": n, "Key_stream_ID": UUID, "QoS": {"Key_chunk_size": n},
  "next_index": n, "pending": n}`` (``status`` as ETSI GS QKD 004's, with ``message`` when not opened);
- ``POST /southbound/v1/push_key`` ``{"Key_stream_ID": UUID, "keys": [{"index": n, "length": bytes,
  "Key_buffer": base64}, ...]}`` -> ``{"keys": [{"index": n, "outcome": "pooled" | "pending" | "discarded"
  | "wrong_length" | "repeated_index" | "mismatch"}, ...]}``, one outcome per key, in order;
- ``POST /southbound/v1/close`` ``{"Key_stream_ID": UUID}`` -> ``{"status": 0}``.

The caller is the device named by its client certificate (``dev-<link>-<node>``, signed by the PKI's CA),
never by anything in the request: a certificate that is not a device of one of this KME's links gets 401,
as an SAE calling ETSI GS QKD 014 at another KME does. A malformed body, or a stream that is not the
device's link's or not open at its end, is 400 with ETSI GS QKD 014's Error object; a key store that cannot
be reached 503. An answer with outcomes is sent only once the transaction that recorded them is committed
(:mod:`.writer`): every key a device sees acknowledged survives a crash of the KME. What happens to each
key is :mod:`.southbound`'s.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Request
from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError

from qinternet.kms.api import (
    MSG_BAD,
    MSG_SERVER,
    MSG_UNAUTHORIZED,
    SAE_SCOPE_KEY,
    KmeError,
    _Body,
    _canonical_key_id,
    _json,
)
from qinternet.kms.southbound import (
    MAX_CHUNK_BYTES,
    MIN_CHUNK_BYTES,
    DeviceEnd,
    PoolKey,
    PushOutcome,
    SouthboundError,
    close_in,
    open_in,
    push_in,
)
from qinternet.kms.store import KeyStore

__all__ = ["MAX_KEYS_PER_PUSH", "SOUTHBOUND_PATH", "add_southbound_routes"]

SOUTHBOUND_PATH = "/southbound/v1"
"""Where the three calls are."""
MAX_KEYS_PER_PUSH = 1024
"""Most keys in one push."""
MAX_INDEX = 2**63 - 1
"""Indices are signed 64-bit integers in the store."""

Pushed = Callable[[DeviceEnd, str, Sequence[tuple[int, bytes]]], Awaitable[None]]
"""Told, after a push is committed, the device, the stream and the keys it kept, ``(index, key)``."""

logger = logging.getLogger("qinternet.kms")

_KSID = Annotated[str, Field(max_length=100)]


class SouthboundQos(_Body):
    """The stream's QoS: ``Key_chunk_size`` (bytes), the length of every key of the stream."""

    Key_chunk_size: Annotated[int, Field(ge=MIN_CHUNK_BYTES, le=MAX_CHUNK_BYTES)]


class DeviceOpenBody(_Body):
    """OPEN_CONNECT's inputs."""

    Key_stream_ID: _KSID
    link: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    QoS: SouthboundQos


class DeviceKey(_Body):
    """One key: its index in the stream, its length in bytes and its bytes (base64)."""

    index: Annotated[int, Field(ge=0, le=MAX_INDEX)]
    length: Annotated[int, Field(ge=0, le=MAX_CHUNK_BYTES)]
    Key_buffer: Annotated[str, Field(max_length=4 * MAX_CHUNK_BYTES)]


class PushBody(_Body):
    """A push: the stream and its keys."""

    Key_stream_ID: _KSID
    keys: Annotated[list[DeviceKey], Field(min_length=1, max_length=MAX_KEYS_PER_PUSH)]


class DeviceCloseBody(_Body):
    """CLOSE's input."""

    Key_stream_ID: _KSID


def _ksid(text: str) -> str:
    ksid = _canonical_key_id(text)
    if ksid is None:
        raise KmeError(400, MSG_BAD, [{"Key_stream_ID": f"must be a UUID, got {text[:40]!r}"}])
    return ksid


def _bytes(key: DeviceKey) -> bytes:
    try:
        return base64.b64decode(key.Key_buffer, validate=True)
    except (binascii.Error, ValueError):
        raise KmeError(400, MSG_BAD, [{"Key_buffer": f"of index {key.index} is not base64"}]) from None


def add_southbound_routes(
    app: FastAPI,
    *,
    kme_id: str,
    store: KeyStore,
    devices: Mapping[str, DeviceEnd],
    capacity_bytes: int | None = None,
    pool: PoolKey | None = None,
    pushed: Pushed | None = None,
) -> None:
    """Add the southbound calls to the KME app of ``kme_id``: ``devices`` are the devices of the network (those
    of this KME's links may call), ``capacity_bytes`` the most key a link's pool holds. One KME per process
    (:mod:`.relay`): ``pool`` puts agreed keys into the link's pool, and ``pushed`` is told, once a push is
    committed, the keys it kept, so that their digests go to the partner KME."""

    def device(request: Request) -> DeviceEnd:
        name = request.scope.get(SAE_SCOPE_KEY)
        end = devices.get(name) if isinstance(name, str) else None
        if end is None or end.kme != kme_id:
            shown = "a client without a certificate name" if not isinstance(name, str) else repr(name[:100])
            logger.warning("kme=%s refused (401): %s is not a QKD device of this KME's links", kme_id, shown)
            raise KmeError(401, MSG_UNAUTHORIZED, [{"device": "not a QKD device of this KME's links"}])
        return end

    async def run(end: DeviceEnd, ksid: str, work: Any) -> Any:
        try:
            return await store.writer().run(work)
        except SouthboundError as exc:
            logger.warning("kme=%s device=%s stream=%s refused: %s", kme_id, end.device, ksid, exc)
            raise KmeError(400, MSG_BAD, [{"Key_stream_ID": str(exc)}]) from None
        except SQLAlchemyError:
            logger.exception("key store unavailable")
            raise KmeError(503, MSG_SERVER, [{"keys": "key data access error"}]) from None

    @app.post(f"{SOUTHBOUND_PATH}/open_connect")
    async def open_connect(request: Request) -> dict[str, Any]:
        """OPEN_CONNECT: the device opens (or re-opens) its link's key stream at its KME."""
        end = device(request)
        body: DeviceOpenBody = await _json(request, DeviceOpenBody)
        if body.link is not None and body.link != end.link:
            raise KmeError(400, MSG_BAD, [{"link": f"the device's certificate is of link {end.link!r}"}])
        ksid = _ksid(body.Key_stream_ID)
        chunk = body.QoS.Key_chunk_size
        answer = await run(end, ksid, functools.partial(open_in, store, end=end, ksid=ksid, chunk_bytes=chunk))
        logger.info(
            "kme=%s device=%s stream=%s OPEN_CONNECT status=%s next_index=%d",
            kme_id,
            end.device,
            ksid,
            answer.status.name,
            answer.next_index,
        )
        result: dict[str, Any] = {
            "status": int(answer.status),
            "Key_stream_ID": ksid,
            "QoS": {"Key_chunk_size": answer.chunk_bytes},
            "next_index": answer.next_index,
            "pending": answer.pending,
        }
        if answer.reason:
            result["message"] = answer.reason
        return result

    @app.post(f"{SOUTHBOUND_PATH}/push_key")
    async def push_key(request: Request) -> dict[str, Any]:
        """The device pushes keys of its stream; one outcome per key."""
        end = device(request)
        body: PushBody = await _json(request, PushBody)
        ksid = _ksid(body.Key_stream_ID)
        keys = []
        for key in body.keys:
            material = _bytes(key)
            if key.length != len(material):  # refused as of the wrong length, whatever the stream's chunk size
                material = b""
            keys.append((key.index, material))
        work = functools.partial(
            push_in, store, end=end, ksid=ksid, keys=keys, capacity_bytes=capacity_bytes, pool=pool
        )
        outcomes: list[PushOutcome] = await run(end, ksid, work)
        if pushed is not None:
            await pushed(end, ksid, [(i, k) for (i, k), o in zip(keys, outcomes, strict=True) if not o.refused])
        for (index, _), outcome in zip(keys, outcomes, strict=True):
            if outcome.refused:
                logger.warning(
                    "kme=%s device=%s link=%s stream=%s index=%d refused: %s",
                    kme_id,
                    end.device,
                    end.link,
                    ksid,
                    index,
                    outcome.value,
                )
        counts = Counter(outcome.value for outcome in outcomes)
        logger.info(
            "kme=%s device=%s stream=%s pushed %d key(s): %s",
            kme_id,
            end.device,
            ksid,
            len(outcomes),
            " ".join(f"{name}={n}" for name, n in sorted(counts.items())),
        )
        return {"keys": [{"index": i, "outcome": o.value} for (i, _), o in zip(keys, outcomes, strict=True)]}

    @app.post(f"{SOUTHBOUND_PATH}/close")
    async def close(request: Request) -> dict[str, Any]:
        """CLOSE: the device stops pushing its stream."""
        end = device(request)
        body: DeviceCloseBody = await _json(request, DeviceCloseBody)
        ksid = _ksid(body.Key_stream_ID)
        await run(end, ksid, functools.partial(close_in, store, end=end, ksid=ksid))
        logger.info("kme=%s device=%s stream=%s CLOSE", kme_id, end.device, ksid)
        return {"status": 0}
