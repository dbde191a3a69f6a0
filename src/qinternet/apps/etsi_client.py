"""A client of the ETSI GS QKD 014 V1.1.1 key delivery API, for any KME that serves it (not only ours).

An SAE talks to its own KME over HTTPS with mutual TLS (clause 5.1): the KME knows the caller from its
client certificate, the SAE checks the KME's certificate against ``ca`` and the host name in ``url``.
The three methods of Table 2 become :meth:`KmeClient.status`, :meth:`KmeClient.get_keys` (the master SAE;
``POST .../{slave_SAE_ID}/enc_keys`` with a Key request body) and :meth:`KmeClient.get_keys_with_ids` (the
slave SAE; ``POST .../{master_SAE_ID}/dec_keys`` with a Key IDs body). SAE IDs are URL-encoded into the
path as the specification asks.

Every answer other than a well-formed 200 raises :class:`KmeRequestError` carrying the HTTP status and the
Error object's ``message`` and ``details`` (clause 6.5) when the KME sent one: a 401 has no body (Tables
4, 6 and 8), a 400 names the problem (``size shall be a multiple of 8``, ``one or more keys specified are
not found on KME``), a 503 says the KME cannot serve now. A Key container that does not match the request
(wrong number or size of keys, key IDs not asked for, base64 that does not decode) is refused too, so that
callers never see a key they did not ask for. Key material never appears in an exception or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import quote, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from qinternet.errors import ParameterError, QinternetError
from qinternet.kms.pki import common_name

__all__ = ["KmeClient", "KmeHttpClient", "KmeRequestError", "KmeStatus", "MasterKme", "QkdKey", "SlaveKme"]

_API_PATH = "/api/v1/keys"
_REASONS = {400: "bad request", 401: "unauthorized", 503: "error on server side"}


class KmeRequestError(QinternetError):
    """The KME refused a request or could not be reached.

    Attributes:
        operation: what was asked, e.g. ``"enc_keys for slave 'sae-bob'"``.
        status: the HTTP status, or None when no answer came (connection or TLS failure).
        message: the Error object's ``message`` (ETSI GS QKD 014, Table 13), or our description.
        details: the Error object's ``details`` (name/value pairs), if any.
    """

    def __init__(
        self, operation: str, status: int | None, message: str, details: Sequence[dict[str, Any]] = ()
    ) -> None:
        self.operation = operation
        self.status = status
        self.message = message
        self.details = list(details)
        super().__init__(self._describe())

    def _describe(self) -> str:
        if self.status is None:
            head = f"{self.operation}: {self.message}"
        else:
            head = f"{self.operation}: HTTP {self.status} {_REASONS.get(self.status, 'unexpected status')}"
            if self.message:
                head += f": {self.message}"
        extra = "; ".join(f"{k}: {v}" for item in self.details[:5] for k, v in item.items())
        return f"{head} ({extra})" if extra else head


@dataclass(frozen=True, slots=True)
class QkdKey:
    """One key of a Key container (Table 11): its ID and its bits (never shown by ``repr``)."""

    key_id: str
    material: bytes = field(repr=False)

    @property
    def size_bits(self) -> int:
        """The key's length in bits."""
        return 8 * len(self.material)


@dataclass(frozen=True, slots=True, kw_only=True)
class KmeStatus:
    """Status (Table 9): what the calling master SAE may ask of its KME for one slave SAE; sizes in bits."""

    source_kme_id: str
    target_kme_id: str
    master_sae_id: str
    slave_sae_id: str
    key_size: int
    stored_key_count: int
    max_key_count: int
    max_key_per_request: int
    max_key_size: int
    min_key_size: int
    max_sae_id_count: int

    @classmethod
    def from_json(cls, data: Any, operation: str) -> KmeStatus:
        """Read a Status object; a missing or mistyped field raises :class:`KmeRequestError`."""
        names = {
            "source_kme_id": ("source_KME_ID", str),
            "target_kme_id": ("target_KME_ID", str),
            "master_sae_id": ("master_SAE_ID", str),
            "slave_sae_id": ("slave_SAE_ID", str),
            "key_size": ("key_size", int),
            "stored_key_count": ("stored_key_count", int),
            "max_key_count": ("max_key_count", int),
            "max_key_per_request": ("max_key_per_request", int),
            "max_key_size": ("max_key_size", int),
            "min_key_size": ("min_key_size", int),
            "max_sae_id_count": ("max_SAE_ID_count", int),
        }
        if not isinstance(data, dict):
            raise KmeRequestError(operation, 200, "the Status is not a JSON object")
        values: dict[str, Any] = {}
        for attribute, (name, kind) in names.items():
            value = data.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise KmeRequestError(operation, 200, f"the Status has no valid {name}")
            values[attribute] = value
        return cls(**values)


class MasterKme(Protocol):
    """What the encrypting (master) SAE needs of its KME."""

    def status(self, slave: str) -> KmeStatus:
        """Get status (clause 5.2) for ``slave``."""
        ...

    def get_keys(self, slave: str, number: int = 1, size: int | None = None) -> list[QkdKey]:
        """Get key (clause 5.3): ``number`` new keys of ``size`` bits shared with ``slave``."""
        ...


class SlaveKme(Protocol):
    """What the decrypting (slave) SAE needs of its KME."""

    def get_keys_with_ids(self, master: str, key_ids: Sequence[str]) -> list[QkdKey]:
        """Get key with key IDs (clause 5.4): the keys ``master`` received under ``key_ids``."""
        ...


class KmeHttpClient:
    """An SAE's HTTPS client of its KME with mutual TLS, for the API under :attr:`API_PATH`; the calls are
    its subclasses' (:class:`KmeClient` for ETSI GS QKD 014, :class:`qinternet.apps.key_streams.KeyStreamClient`
    for this project's binding of ETSI GS QKD 004).

    Args:
        url: the KME's base URL, ``https://host[:port]`` (a trailing :attr:`API_PATH` is accepted).
        cert, key: the SAE's certificate and private key (PEM) it authenticates with.
        ca: the CA certificate(s) (PEM) that signed the KME's certificate.
        timeout_s: per-request timeout, seconds.
        kme_id: the KME ID the SAE expects; before its first request the client confirms it from the KME's
            certificate (its common name), as ETSI GS QKD 014 clause 5.1 asks an SAE to do.

    Raises:
        ParameterError: with field ``url``, ``cert``, ``key`` or ``ca`` when one cannot be used.

    Use it as a context manager, or call :meth:`close`.
    """

    API_PATH = _API_PATH
    """Where the API's calls are on the KME."""

    def __init__(
        self, url: str, cert: Path, key: Path, ca: Path, *, timeout_s: float = 30.0, kme_id: str | None = None
    ) -> None:
        self.base = self.api_base(url)
        context = _tls_context(Path(cert), Path(key), Path(ca))
        self._kme_id = kme_id
        self._extensions = {} if kme_id is None else {"trace": self._confirm_kme}
        # httpx >= 0.28 takes client certificates only through an SSLContext (its cert= is ignored with verify=).
        self._http = httpx.Client(verify=context, timeout=timeout_s, headers={"Accept": "application/json"})

    @classmethod
    def api_base(cls, url: str) -> str:
        """``https://host[:port]`` and :attr:`API_PATH` from a KME URL; ``ParameterError("url", ...)`` if not one."""
        parts = urlsplit(url.strip())
        if parts.scheme != "https" or not parts.hostname:
            raise ParameterError("url", f"must be an https:// URL of a KME (its APIs use HTTPS), got {url!r}")
        if parts.query or parts.fragment:
            raise ParameterError("url", f"must not have a query or fragment, got {url!r}")
        path = parts.path.rstrip("/")
        if path.endswith(cls.API_PATH):
            path = path[: -len(cls.API_PATH)]
        return f"https://{parts.netloc}{path}{cls.API_PATH}"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base!r})"

    def _confirm_kme(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: when a TLS connection to the KME is made, and before any request goes over
        it, check that the KME's certificate names the KME ID the SAE expects (ETSI GS QKD 014 clause 5.1;
        every KME's certificate is valid for the same host names, so the name is what tells them apart).
        On the connection itself, so that a proxy or a redirecting middlebox cannot swap it afterwards."""
        if event != "connection.start_tls.complete" or "return_value" not in info:
            return
        stream = info["return_value"]
        ssl_object = stream.get_extra_info("ssl_object")
        named = None if ssl_object is None else common_name(ssl_object.getpeercert())
        if named != self._kme_id:
            stream.close()  # not handed to the pool: nothing is sent over it
            raise ParameterError(
                "kme_id", f"the KME at {self.base} presents a certificate of {named!r}, not {self._kme_id!r}"
            )

    def _call(self, method: str, path: str, operation: str, body: dict[str, Any] | None) -> Any:
        try:
            response = self._http.request(method, f"{self.base}/{path}", json=body, extensions=self._extensions)
        except httpx.TimeoutException:
            raise KmeRequestError(operation, None, f"no answer from {self.base} in time") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:  # connected, then cut without a word
            raise KmeRequestError(
                operation,
                None,
                f"{self.base} closed the connection ({_first_line(exc)}); a KME does so when it refuses the "
                "client certificate (is --cert signed by the KME's CA?) or when it stops",
            ) from None
        except httpx.HTTPError as exc:
            raise KmeRequestError(operation, None, f"cannot reach {self.base}: {_first_line(exc)}") from None
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise KmeRequestError(operation, 200, "the answer is not JSON") from None
        message, details = _error_object(response)
        raise KmeRequestError(operation, response.status_code, message, details)


class KmeClient(KmeHttpClient):
    """An SAE's ETSI GS QKD 014 client of its KME, with mutual TLS (module docstring; arguments as
    :class:`KmeHttpClient`'s).

    >>> KmeClient.api_base("https://kme.example:8443/")
    'https://kme.example:8443/api/v1/keys'
    """

    def status(self, slave: str) -> KmeStatus:
        """Get status (clause 5.2): the keys this SAE, as master, could get for ``slave``."""
        operation = f"status for slave {slave!r}"
        return KmeStatus.from_json(self._call("GET", f"{_segment(slave, 'slave')}/status", operation, None), operation)

    def get_keys(self, slave: str, number: int = 1, size: int | None = None) -> list[QkdKey]:
        """Get key (clause 5.3): ``number`` new keys of ``size`` bits (the KME's ``key_size`` if None) for
        ``slave``; the KME removes them from its pool and keeps them for the slave."""
        if number < 1:
            raise ParameterError("number", f"must be >= 1, got {number}")
        body: dict[str, int] = {"number": number}
        if size is not None:
            body["size"] = size
        operation = f"enc_keys for slave {slave!r}"
        keys = _keys(self._call("POST", f"{_segment(slave, 'slave')}/enc_keys", operation, body), operation)
        if len(keys) != number:
            raise KmeRequestError(operation, 200, f"asked for {number} keys, got {len(keys)}")
        if size is not None and any(k.size_bits != size for k in keys):
            raise KmeRequestError(operation, 200, f"asked for keys of {size} bits, got other sizes")
        if len({k.key_id for k in keys}) != len(keys):
            raise KmeRequestError(operation, 200, "the same key ID came twice")
        return keys

    def get_keys_with_ids(self, master: str, key_ids: Sequence[str]) -> list[QkdKey]:
        """Get key with key IDs (clause 5.4): the keys ``master`` received under ``key_ids``, in that order."""
        if not key_ids:
            raise ParameterError("key_ids", "must not be empty")
        operation = f"dec_keys from master {master!r}"
        body = {"key_IDs": [{"key_ID": key_id} for key_id in key_ids]}
        keys = _keys(self._call("POST", f"{_segment(master, 'master')}/dec_keys", operation, body), operation)
        by_id = {k.key_id: k for k in keys}
        if len(keys) != len(key_ids) or set(by_id) != set(key_ids):
            raise KmeRequestError(operation, 200, "the Key container does not hold exactly the keys asked for")
        return [by_id[key_id] for key_id in key_ids]


def _segment(sae_id: str, field: str) -> str:
    if not sae_id:
        raise ParameterError(field, "an SAE ID must not be empty")
    return quote(sae_id, safe="")


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _error_object(response: httpx.Response) -> tuple[str, list[dict[str, Any]]]:
    """The Error object (Table 13) of a 400/503, or ``("", [])`` when there is none (a 401 has no body)."""
    try:
        data = response.json()
    except ValueError:
        return "", []
    if not isinstance(data, dict):
        return "", []
    message = data.get("message")
    details = data.get("details")
    good_details = [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []
    return (message if isinstance(message, str) else ""), good_details


def _keys(data: Any, operation: str) -> list[QkdKey]:
    """The keys of a Key container (Table 11)."""
    items = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise KmeRequestError(operation, 200, "the answer is not a Key container with keys")
    keys = []
    for item in items:
        key_id = item.get("key_ID") if isinstance(item, dict) else None
        encoded = item.get("key") if isinstance(item, dict) else None
        if not isinstance(key_id, str) or not key_id or not isinstance(encoded, str):
            raise KmeRequestError(operation, 200, "a key in the Key container lacks key_ID or key")
        try:
            material = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KmeRequestError(operation, 200, f"the key {key_id[:60]!r} is not valid base64") from None
        if not material:
            raise KmeRequestError(operation, 200, f"the key {key_id[:60]!r} is empty")
        keys.append(QkdKey(key_id, material))
    return keys


def _require_pem(path: Path, field: str) -> None:
    """The file of ``field`` must hold a PEM certificate (``cert``) or an unencrypted PEM private key (``key``)."""
    try:
        data = path.read_bytes()
        if field == "cert":
            x509.load_pem_x509_certificate(data)
        else:
            serialization.load_pem_private_key(data, password=None)
    except OSError as exc:
        raise ParameterError(field, f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        what = "a PEM certificate" if field == "cert" else "an unencrypted PEM private key"
        raise ParameterError(field, f"{str(path)!r} is not {what}") from None


def _tls_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """TLS 1.2+ (clause 5.1), the KME's certificate checked against ``ca``, our certificate offered."""
    for name, path in (("cert", cert), ("key", key), ("ca", ca)):
        if not path.is_file():
            raise ParameterError(name, f"no such file {str(path)!r}")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    except (ssl.SSLError, OSError) as exc:
        raise ParameterError("ca", f"not a PEM CA certificate: {_first_line(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _require_pem(cert, "cert")
    _require_pem(key, "key")
    try:
        context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise ParameterError("key", f"does not load with the certificate {str(cert)!r}: {_first_line(exc)}") from None
    return context
