"""A client of ETSI GS QKD 004 V2.1.1 key streams, in this project's HTTP+JSON binding (:mod:`qinternet.kms.api004`).

An application (an SAE) opens a key stream with a peer SAE at its own KME, over HTTPS with mutual TLS as for
ETSI GS QKD 014 (:class:`~qinternet.apps.etsi_client.KmeHttpClient`); the peer opens the same
``Key_stream_ID`` at its KME; then both read the same keys by index, each index once, and either closes it.

>>> with KeyStreamClient(url, cert, key, ca) as me:  # doctest: +SKIP
...     opened = me.open_connect("sae-bob", QoS(key_chunk_size_bytes=32))
...     # ... the peer calls open_connect("sae-alice", key_stream_id=opened.key_stream_id) at its KME ...
...     chunk = me.get_key(opened.key_stream_id)  # index 0; the peer's get_key(..., 0) gives the same bytes
...     me.close_stream(opened.key_stream_id)

Every status other than the call's success raises :class:`KeyStreamError` with the status
(:class:`~qinternet.kms.etsi004.Status`), the KME's reason and, where the specification returns one, the
counter-proposed QoS (``OC_QOS_NOT_SATISFIABLE``) or the metadata size needed
(``GK_METADATA_INSUFFICIENT_SIZE``). An answer other than 200 raises
:class:`~qinternet.apps.etsi_client.KmeRequestError`, as the ETSI GS QKD 014 client does. Key material never
appears in an exception or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from qinternet.apps.etsi_client import KmeHttpClient, KmeRequestError
from qinternet.errors import ParameterError, QinternetError
from qinternet.kms.etsi004 import UINT32_MAX, QoS, Status

__all__ = ["KeyStreamClient", "KeyStreamError", "OpenedStream", "StreamKey"]


class KeyStreamError(QinternetError):
    """A key stream call did not succeed: its ETSI GS QKD 004 status and why.

    Attributes:
        operation: what was asked.
        status: the status the KME returned.
        message: the KME's reason, if it gave one.
        qos: the QoS it proposes instead (``OC_QOS_NOT_SATISFIABLE``), else None.
        metadata_size: the metadata buffer it needs, bytes (``GK_METADATA_INSUFFICIENT_SIZE``), else None.
    """

    def __init__(
        self,
        operation: str,
        status: Status,
        message: str = "",
        *,
        qos: QoS | None = None,
        metadata_size: int | None = None,
    ) -> None:
        self.operation, self.status, self.message = operation, status, message
        self.qos, self.metadata_size = qos, metadata_size
        super().__init__(f"{operation}: {status.name} ({int(status)})" + (f": {message}" if message else ""))


@dataclass(frozen=True, slots=True)
class OpenedStream:
    """A stream opened: its ID, the QoS the KME registered, and whether the peer SAE had opened it already
    (``SUCCESSFUL``) or not yet (``PEER_NOT_CONNECTED``)."""

    key_stream_id: str
    qos: QoS
    status: Status

    @property
    def peer_connected(self) -> bool:
        """Whether both SAEs have opened the stream."""
        return self.status == Status.SUCCESSFUL


@dataclass(frozen=True, slots=True)
class StreamKey:
    """The key of one index of a stream (never shown by ``repr``) and its metadata, if asked for."""

    index: int
    material: bytes = field(repr=False)
    metadata: dict[str, Any] | None = None


class KeyStreamClient(KmeHttpClient):
    """An SAE's client of its KME's ETSI GS QKD 004 key streams (module docstring; arguments as
    :class:`~qinternet.apps.etsi_client.KmeHttpClient`'s).

    >>> KeyStreamClient.api_base("https://kme.example:8443")
    'https://kme.example:8443/api/v1/ks'
    """

    API_PATH = "/api/v1/ks"

    def open_connect(self, destination: str, qos: QoS | None = None, key_stream_id: str | None = None) -> OpenedStream:
        """OPEN_CONNECT: open a key stream with the SAE ``destination`` (the KME makes an ID when
        ``key_stream_id`` is None), or join the one it opened under ``key_stream_id``."""
        if not destination:
            raise ParameterError("destination", "an SAE ID must not be empty")
        body: dict[str, Any] = {"destination": destination, "Key_stream_ID": key_stream_id}
        if qos is not None:
            body["QoS"] = qos.to_json()
        operation = f"open_connect to {destination!r}"
        data = self._call("POST", "open_connect", operation, body)
        status = _status(data, operation)
        returned = _qos(data.get("QoS"), operation)
        if status not in (Status.SUCCESSFUL, Status.PEER_NOT_CONNECTED):
            raise KeyStreamError(operation, status, _message(data), qos=returned)
        ksid = data.get("Key_stream_ID")
        if not isinstance(ksid, str) or (key_stream_id is not None and ksid != key_stream_id.lower()):
            raise KmeRequestError(operation, 200, "the answer does not name the key stream asked for")
        if returned is None:
            raise KmeRequestError(operation, 200, "the answer has no valid QoS")
        return OpenedStream(ksid, returned, status)

    def get_key(self, key_stream_id: str, index: int | None = None, *, metadata_size: int = 0) -> StreamKey:
        """GET_KEY: the key of ``index`` (None: the next this SAE has not had) in the stream; with
        ``metadata_size`` > 0 also its metadata (JSON: ``age`` ms, ``hops``), which must fit in that many bytes."""
        if index is not None and not 0 <= index <= UINT32_MAX:
            raise ParameterError("index", f"must be in [0, {UINT32_MAX}], got {index}")
        body: dict[str, Any] = {"Key_stream_ID": key_stream_id, "index": index}
        if metadata_size:
            body["Metadata"] = {"Metadata_size": metadata_size}
        operation = f"get_key of stream {key_stream_id!r}"
        data = self._call("POST", "get_key", operation, body)
        status = _status(data, operation)
        if status != Status.SUCCESSFUL:
            needed = (data.get("Metadata") or {}).get("Metadata_size") if isinstance(data, dict) else None
            raise KeyStreamError(
                operation, status, _message(data), metadata_size=needed if isinstance(needed, int) else None
            )
        got, encoded = data.get("index"), data.get("Key_buffer")
        if not isinstance(got, int) or (index is not None and got != index) or not isinstance(encoded, str):
            raise KmeRequestError(operation, 200, "the answer lacks the index asked for or the Key_buffer")
        try:
            material = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KmeRequestError(operation, 200, "the Key_buffer is not valid base64") from None
        return StreamKey(got, material, _metadata(data.get("Metadata"), operation) if metadata_size else None)

    def close_stream(self, key_stream_id: str) -> None:
        """CLOSE the stream ``key_stream_id`` (for both SAEs: the keys the peer has not fetched are voided)."""
        operation = f"close of stream {key_stream_id!r}"
        data = self._call("POST", "close", operation, {"Key_stream_ID": key_stream_id})
        status = _status(data, operation)
        if status != Status.SUCCESSFUL:
            raise KeyStreamError(operation, status, _message(data))


def _status(data: Any, operation: str) -> Status:
    value = data.get("status") if isinstance(data, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value not in set(Status):
        raise KmeRequestError(operation, 200, "the answer has no ETSI GS QKD 004 status")
    return Status(value)


def _message(data: dict[str, Any]) -> str:
    message = data.get("message")
    return message if isinstance(message, str) else ""


def _qos(data: Any, operation: str) -> QoS | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise KmeRequestError(operation, 200, "the QoS is not a JSON object")
    return QoS.from_json(data, 0)


def _metadata(data: Any, operation: str) -> dict[str, Any]:
    buffer = data.get("Metadata_buffer") if isinstance(data, dict) else None
    try:
        parsed = json.loads(buffer) if isinstance(buffer, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise KmeRequestError(operation, 200, "the Metadata_buffer is not a JSON object")
    return parsed
