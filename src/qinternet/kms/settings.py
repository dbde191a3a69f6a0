"""Configuration of ``qinternet serve``: command-line options, then environment, then a YAML file.

Each setting can come from (highest priority first) a command-line option (``--speed 100``), an environment
variable ``QINTERNET_KMS_<NAME>`` (``QINTERNET_KMS_SPEED=100``), or a YAML file given by ``--config`` (``speed:
100``); otherwise its default applies (pydantic-settings). Invalid values name the setting and the reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from qinternet.errors import ParameterError
from qinternet.messages import validation_reason

__all__ = ["ServeSettings", "check_host", "load_serve_settings"]

_ENV_PREFIX = "QINTERNET_KMS_"


def _not_a_boolean(value: object) -> object:
    """YAML reads ``true``, ``on`` and ``yes`` as booleans, which pydantic would take as 1: refuse them."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    return value


Number = BeforeValidator(_not_a_boolean)
Port = Annotated[int, Number, Field(ge=1, le=65535)]


def _host(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9.:_-]{1,253}", value):
        raise ValueError(f"{value[:60]!r} is not an IP address or host name (no brackets, port or scheme)")
    return value


Host = Annotated[str, AfterValidator(_host)]


def check_host(value: str, option: str) -> str:
    """``value`` when it can be an address to listen on (as the settings' hosts), else a :class:`ParameterError`
    naming ``option``."""
    try:
        return _host(value)
    except ValueError as exc:
        raise ParameterError(option, str(exc)) from None


class ServeSettings(BaseSettings):
    """Everything ``qinternet serve`` can be told.

    Attributes:
        db: SQLAlchemy URL of the key store.
        pki: folder of the CA and the certificates (made on first use).
        speed: simulated seconds per wall second.
        base_port: port of the first KME; the others follow in the order of their IDs.
        host: address the KMEs and the ops port listen on (``0.0.0.0``: every interface; the KMEs'
            certificates must then name the host clients use, ``qinternet pki init --server-name``).
        ops_host: address the ops port listens on (plain HTTP without login: loopback by default).
        ops_port: port of /metrics and the status page; 0 turns it off.
        pool_capacity_bits: most key a link's pool holds.
        warm_up_s: simulated time run at once before serving.
        master_key_file: 32 bytes (raw, or 64 hex digits) to encrypt key material at rest.
        log_format: ``text`` or ``json`` (one JSON object per line).
        ready_file: written (a JSON object of every KME's URL) once the KMEs accept requests, removed when
            they stop: a script waits for it before its first request.
        key_size, min_key_size, max_key_size, max_key_per_request, max_sae_id_count: the KMEs' Status.
        sae_quota_bits: key bits one master SAE may take at once, refilled over ``sae_quota_window_s``
            (:mod:`qinternet.kms.policy`); 0: no quota.
        sae_quota_window_s: seconds in which an emptied quota fills again.
        reservation_ttl_s: seconds a key waits for its slave SAE before it is voided; 0: for ever.
        redelivery_window_s: seconds after its delivery during which the same slave SAE may fetch a key
            again (its answer may have died with the KME: ETSI GS QKD 014 has no acknowledgement); the key's
            material is erased when the window ends. 0: strict once-only (:mod:`qinternet.kms.policy`).
        pending_expiry_s: ``qinternet kme`` only: seconds after which a device's half of a link key still
            waiting for the partner KME's agreement is expired (:attr:`qinternet.kms.relay.RelaySettings.
            pending_expiry_s`); 0: never.
        devices: where the links' key comes from: ``simulated`` (the links run in the server, as in
            ``qinternet run``) or ``external`` (QKD devices push it, e.g. ``qinternet device``:
            :mod:`qinternet.kms.api_southbound`).
    """

    model_config = SettingsConfigDict(env_prefix=_ENV_PREFIX, extra="forbid")

    db: str = "sqlite:///kms.db"
    pki: Path = Path("pki")
    speed: Annotated[float, Number, Field(gt=0.0, le=1e9, allow_inf_nan=False)] = 1.0
    base_port: Port = 8443
    host: Host = "127.0.0.1"
    ops_host: Host = "127.0.0.1"
    ops_port: Annotated[int, Number, Field(ge=0, le=65535)] = 9100
    pool_capacity_bits: Annotated[float, Number, Field(ge=8.0, le=1e12, allow_inf_nan=False)] = 8e6
    warm_up_s: Annotated[float, Number, Field(ge=0.0, le=86400.0 * 30, allow_inf_nan=False)] = 600.0
    master_key_file: Path | None = None
    log_format: Literal["text", "json"] = "text"
    ready_file: Path | None = None
    key_size: Annotated[int, Number, Field(ge=8)] = 256
    min_key_size: Annotated[int, Number, Field(ge=8)] = 64
    max_key_size: Annotated[int, Number, Field(ge=8)] = 8192
    max_key_per_request: Annotated[int, Number, Field(ge=1)] = 128
    max_sae_id_count: Annotated[int, Number, Field(ge=0)] = 8
    sae_quota_bits: Annotated[float, Number, Field(ge=0.0, le=1e15, allow_inf_nan=False)] = 0.0
    sae_quota_window_s: Annotated[float, Number, Field(gt=0.0, le=86400.0 * 30, allow_inf_nan=False)] = 60.0
    reservation_ttl_s: Annotated[float, Number, Field(ge=0.0, le=86400.0 * 365, allow_inf_nan=False)] = 3600.0
    redelivery_window_s: Annotated[float, Number, Field(ge=0.0, le=86400.0, allow_inf_nan=False)] = 60.0
    pending_expiry_s: Annotated[float, Number, Field(ge=0.0, le=86400.0 * 365, allow_inf_nan=False)] = 3600.0
    devices: Literal["simulated", "external"] = "simulated"

    def master_key(self) -> bytes | None:
        """The at-rest encryption key, read from :attr:`master_key_file`."""
        if self.master_key_file is None:
            return None
        try:
            raw = self.master_key_file.read_bytes()
        except OSError as exc:
            raise ParameterError("--master-key-file", f"cannot be read: {exc.strerror or exc}") from None
        text = raw.strip()
        if len(text) == 64:
            try:
                return bytes.fromhex(text.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                pass
        if len(raw) == 32:
            return raw
        raise ParameterError("--master-key-file", "must hold 32 bytes, raw or as 64 hex digits")


_OPTION_OF = {
    "warm_up_s": "--warm-up",
    "sae_quota_window_s": "--sae-quota-window",
    "reservation_ttl_s": "--reservation-ttl",
    "redelivery_window_s": "--redelivery-window",
}
"""Settings whose command-line option is not ``--`` and their name in kebab case (the others' is)."""


def load_serve_settings(config_file: Path | None, overrides: dict[str, Any]) -> ServeSettings:
    """Settings from the command line's ``overrides`` (None values ignored), the environment and the file.

    Raises :class:`~qinternet.errors.ParameterError` naming where the bad value came from: the option, the
    ``QINTERNET_KMS_*`` variable, or ``--config <key>``; also for a file that is not a YAML mapping and for a
    ``QINTERNET_KMS_*`` variable that names no setting (a typo would otherwise be ignored silently).
    """
    if config_file is not None:
        _check_config_file(config_file)
    _check_environment()

    class _Sourced(ServeSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
            if config_file is not None:
                sources += (YamlConfigSettingsSource(settings_cls, yaml_file=config_file),)
            return sources

    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        settings = _Sourced(**given)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        name = str(error["loc"][0]) if error["loc"] else "config"
        reason = validation_reason(error)
        if error["type"] == "extra_forbidden":
            reason = f"is not a setting (the settings: {', '.join(ServeSettings.model_fields)})"
        raise ParameterError(_source(name, given), reason) from None
    # Only what a source gave: the result's ``model_fields_set`` says which settings were given (by an option,
    # the environment or the file), the others keep their defaults.
    return ServeSettings.model_validate(settings.model_dump(include=set(settings.model_fields_set)))


def _source(name: str, given: dict[str, Any]) -> str:
    """Where the value of setting ``name`` came from, as the user wrote it."""
    if name in given:
        return _OPTION_OF.get(name, f"--{name.replace('_', '-')}")
    variable = _ENV_PREFIX + name.upper()
    if any(key.upper() == variable for key in os.environ):
        return variable
    return f"--config {name}"


def _check_config_file(path: Path) -> None:
    """``path`` is a UTF-8 YAML file holding a mapping (or nothing)."""
    if not path.exists():
        raise ParameterError("--config", f"file {str(path)!r} does not exist")
    if not path.is_file():
        raise ParameterError("--config", f"{str(path)!r} is not a file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParameterError("--config", f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ParameterError("--config", f"{str(path)!r} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ParameterError("--config", f"is not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ParameterError(
            "--config", f"must map setting names to values (e.g. 'speed: 100'), not a {type(data).__name__}"
        )


def _check_environment() -> None:
    """Every ``QINTERNET_KMS_*`` variable names a setting."""
    for key in os.environ:
        if key.upper().startswith(_ENV_PREFIX) and key[len(_ENV_PREFIX) :].lower() not in ServeSettings.model_fields:
            raise ParameterError(key, f"is not a setting (the settings: {', '.join(ServeSettings.model_fields)})")
