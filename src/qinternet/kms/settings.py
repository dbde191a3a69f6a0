"""Configuration of ``qinternet serve``: command-line options, then environment, then a YAML file.

Each setting can come from (highest priority first) a command-line option (``--speed 100``), an environment
variable ``QINTERNET_KMS_<NAME>`` (``QINTERNET_KMS_SPEED=100``), or a YAML file given by ``--config`` (``speed:
100``); otherwise its default applies (pydantic-settings). Invalid values name the setting and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from qinternet.errors import ParameterError

__all__ = ["ServeSettings", "load_serve_settings"]

Port = Annotated[int, Field(ge=1, le=65535)]


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
        key_size, min_key_size, max_key_size, max_key_per_request, max_sae_id_count: the KMEs' Status.
    """

    model_config = SettingsConfigDict(env_prefix="QINTERNET_KMS_", extra="forbid")

    db: str = "sqlite:///kms.db"
    pki: Path = Path("pki")
    speed: Annotated[float, Field(gt=0.0, le=1e9, allow_inf_nan=False)] = 1.0
    base_port: Port = 8443
    host: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:_-]+$")] = "127.0.0.1"
    ops_host: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:_-]+$")] = "127.0.0.1"
    ops_port: Annotated[int, Field(ge=0, le=65535)] = 9100
    pool_capacity_bits: Annotated[float, Field(ge=8.0, le=1e12, allow_inf_nan=False)] = 8e6
    warm_up_s: Annotated[float, Field(ge=0.0, le=86400.0 * 30)] = 600.0
    master_key_file: Path | None = None
    log_format: Literal["text", "json"] = "text"
    key_size: Annotated[int, Field(ge=8)] = 256
    min_key_size: Annotated[int, Field(ge=8)] = 64
    max_key_size: Annotated[int, Field(ge=8)] = 8192
    max_key_per_request: Annotated[int, Field(ge=1)] = 128
    max_sae_id_count: Annotated[int, Field(ge=0)] = 8

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


def load_serve_settings(config_file: Path | None, overrides: dict[str, Any]) -> ServeSettings:
    """Settings from the command line's ``overrides`` (None values ignored), the environment and the file."""
    if config_file is not None and not config_file.is_file():
        raise ParameterError("--config", f"file {str(config_file)!r} does not exist")

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
        raise ParameterError(f"--{name.replace('_', '-')}", str(error["msg"])) from None
    return ServeSettings.model_validate(settings.model_dump())
