"""The vocabulary of ETSI GS QKD 004 V2.1.1 (2020-08), "Application Interface": status values and QoS.

ETSI GS QKD 004 defines an abstract application interface of three calls (the KME and SAE of ETSI GS QKD 014
are its "QKD key manager" and "application"):

- ``OPEN_CONNECT(source, destination, QoS, Key_stream_ID) -> status``: reserve a key stream between two
  applications; ``Key_stream_ID`` is given (both applications agreed on it beforehand) or left empty, and
  the key manager then makes one and returns it; the QoS returned is the one registered, or a counter-proposal;
- ``GET_KEY(Key_stream_ID, index, Key_buffer, Metadata) -> status``: the key of ``index`` in the stream,
  ``Key_chunk_size`` bytes, the same for both applications;
- ``CLOSE(Key_stream_ID) -> status``: end the stream.

It fixes no wire format: :mod:`.api004` gives this project's HTTP+JSON binding. This module holds what the
binding, the store (:mod:`.streams`) and the client (:mod:`qinternet.apps.key_streams`) share: the status
values and the QoS, with the units the specification gives them.

What could not be read in the specification itself (only in public descriptions and implementations of it;
``docs/etsi004.md`` says which): the table and clause numbers quoted here. The numeric status values 0 to 8
below are the ones every public implementation we compared uses (a C library, C++ and Python key managers,
an OpenAPI description of the V2.1.1 calls), all alike.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["METADATA_MIMETYPE", "UINT32_MAX", "QoS", "Status"]

UINT32_MAX = 2**32 - 1
"""Every number of the interface is an unsigned 32-bit integer (the QoS fields, ``index``, sizes)."""
METADATA_MIMETYPE = "application/json"
"""The only metadata format this KME gives (``{"age": ms, "hops": n}``)."""


class Status(enum.IntEnum):
    """The status every call returns (ETSI GS QKD 004 V2.1.1, the status table of clause 6; values as the
    public implementations give them, see the module docstring)."""

    SUCCESSFUL = 0
    PEER_NOT_CONNECTED = 1
    """OPEN_CONNECT succeeded, and the peer application has not opened the stream yet."""
    GK_INSUFFICIENT_KEY_AVAILABLE = 2
    """GET_KEY failed: not enough key (here also: the index was already delivered to this application)."""
    GK_PEER_NOT_CONNECTED = 3
    """GET_KEY failed: the peer application has not opened the stream (or has closed it)."""
    NO_QKD_CONNECTION_AVAILABLE = 4
    """No chain of QKD links (through trusted nodes) joins the two applications' key managers."""
    OC_KSID_ALREADY_IN_USE = 5
    """OPEN_CONNECT failed: the Key_stream_ID is in use (or was used: a closed stream's ID is not reused)."""
    TIMEOUT_ERROR = 6
    """The call failed after the QoS Timeout (never returned here: GET_KEY answers at once)."""
    OC_QOS_NOT_SATISFIABLE = 7
    """OPEN_CONNECT failed: the QoS cannot be met; the QoS returned is a counter-proposal."""
    GK_METADATA_INSUFFICIENT_SIZE = 8
    """GET_KEY failed: the metadata buffer is too small; the Metadata_size returned is the size needed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QoS:
    """The QoS of a key stream (ETSI GS QKD 004 V2.1.1, the QoS table of clause 6), units as given there.

    Attributes:
        key_chunk_size_bytes: the length of each key (``Key_chunk_size``), bytes (ETSI GS QKD 014 counts bits).
        max_bps, min_bps: the highest and lowest key rate the application asks for, bit/s.
        jitter_bps: the deviation of the rate it tolerates, bit/s (registered, not enforced here).
        priority: the stream's priority (registered, not enforced here).
        timeout_ms: how long a call may wait, ms (registered: this KME never makes a call wait).
        ttl_s: the stream's time to live from its opening, s; 0: no limit.
        metadata_mimetype: the format of the metadata GET_KEY returns.
    """

    key_chunk_size_bytes: int
    max_bps: int = 0
    min_bps: int = 0
    jitter_bps: int = 0
    priority: int = 0
    timeout_ms: int = 0
    ttl_s: int = 0
    metadata_mimetype: str = METADATA_MIMETYPE

    _JSON = (
        ("key_chunk_size_bytes", "Key_chunk_size"),
        ("max_bps", "Max_bps"),
        ("min_bps", "Min_bps"),
        ("jitter_bps", "Jitter"),
        ("priority", "Priority"),
        ("timeout_ms", "Timeout"),
        ("ttl_s", "TTL"),
        ("metadata_mimetype", "Metadata_mimetype"),
    )

    def to_json(self) -> dict[str, Any]:
        """The QoS object of the binding, with the specification's field names."""
        return {name: getattr(self, attribute) for attribute, name in self._JSON}

    @classmethod
    def from_json(cls, data: dict[str, Any], default_chunk_bytes: int) -> QoS:
        """A QoS from the binding's object (missing, null or empty fields take their defaults; ``Key_chunk_size``
        missing or 0 is ``default_chunk_bytes``)."""
        values = {attribute: data[name] for attribute, name in cls._JSON if data.get(name) not in (None, "")}
        if not values.get("key_chunk_size_bytes"):
            values["key_chunk_size_bytes"] = default_chunk_bytes
        return cls(**values)
