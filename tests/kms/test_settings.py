"""Settings of ``qinternet serve``: option over environment over file over default, errors named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qinternet.errors import ParameterError
from qinternet.kms.settings import load_serve_settings


def test_priority_option_environment_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "kms.yaml"
    config.write_text("speed: 5\nbase_port: 9000\nops_port: 0\nlog_format: json\n")
    monkeypatch.setenv("QINTERNET_KMS_SPEED", "50")
    monkeypatch.setenv("QINTERNET_KMS_BASE_PORT", "9500")
    settings = load_serve_settings(config, {"speed": 500.0, "db": None})
    assert settings.speed == 500.0  # the option
    assert settings.base_port == 9500  # the environment over the file
    assert settings.ops_port == 0  # the file
    assert settings.log_format == "json"
    assert settings.db == "sqlite:///kms.db"  # the default


@pytest.mark.parametrize(
    ("overrides", "option"),
    [
        ({"speed": 0.0}, "--speed"),
        ({"speed": float("nan")}, "--speed"),
        ({"base_port": 70000}, "--base-port"),
        ({"log_format": "xml"}, "--log-format"),
        ({"host": "two words"}, "--host"),
    ],
)
def test_bad_values_name_the_setting(overrides: dict[str, object], option: str) -> None:
    with pytest.raises(ParameterError) as info:
        load_serve_settings(None, overrides)
    assert info.value.field == option


def test_unknown_keys_in_the_file_and_a_missing_file(tmp_path: Path) -> None:
    config = tmp_path / "kms.yaml"
    config.write_text("sped: 5\n")
    with pytest.raises(ParameterError, match="--sped"):
        load_serve_settings(config, {})
    with pytest.raises(ParameterError, match="--config"):
        load_serve_settings(tmp_path / "none.yaml", {})


def test_the_master_key_file(tmp_path: Path) -> None:
    key = os.urandom(32)
    (tmp_path / "raw").write_bytes(key)
    (tmp_path / "hex").write_text(key.hex() + "\n")
    (tmp_path / "short").write_bytes(b"x" * 10)
    for name in ("raw", "hex"):
        assert load_serve_settings(None, {"master_key_file": tmp_path / name}).master_key() == key
    with pytest.raises(ParameterError, match="32 bytes"):
        load_serve_settings(None, {"master_key_file": tmp_path / "short"}).master_key()
