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
        ({"host": "[::1]"}, "--host"),
        ({"redelivery_window_s": -1.0}, "--redelivery-window"),
        ({"redelivery_window_s": 1e9}, "--redelivery-window"),
    ],
)
def test_bad_values_name_the_setting(overrides: dict[str, object], option: str) -> None:
    with pytest.raises(ParameterError) as info:
        load_serve_settings(None, overrides)
    assert info.value.field == option


def test_unknown_keys_in_the_file_and_a_missing_file(tmp_path: Path) -> None:
    config = tmp_path / "kms.yaml"
    config.write_text("sped: 5\n")
    with pytest.raises(ParameterError, match="is not a setting") as info:
        load_serve_settings(config, {})
    assert info.value.field == "--config sped"
    with pytest.raises(ParameterError, match="--config"):
        load_serve_settings(tmp_path / "none.yaml", {})


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"speed: [\n", "not valid YAML at line"),
        (b"- speed\n- 5\n", "not a list"),
        (b"just words\n", "not a str"),
        (b"speed: \xff\xfe\n", "not UTF-8"),
    ],
)
def test_a_config_file_that_is_not_a_yaml_mapping_is_one_error(tmp_path: Path, content: bytes, reason: str) -> None:
    config = tmp_path / "kms.yaml"
    config.write_bytes(content)
    with pytest.raises(ParameterError, match=reason) as info:
        load_serve_settings(config, {})
    assert info.value.field == "--config"
    with pytest.raises(ParameterError, match="not a file"):
        load_serve_settings(tmp_path, {})


@pytest.mark.parametrize("word", ["true", "on", "yes"])
def test_yaml_booleans_are_not_ports(tmp_path: Path, word: str) -> None:
    config = tmp_path / "kms.yaml"
    config.write_text(f"ops_port: {word}\n")
    with pytest.raises(ParameterError, match="must be a number") as info:
        load_serve_settings(config, {})
    assert info.value.field == "--config ops_port"


def test_errors_name_the_environment_variable_and_unknown_ones_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QINTERNET_KMS_WARM_UP_S", "nan")
    with pytest.raises(ParameterError) as info:
        load_serve_settings(None, {})
    assert info.value.field == "QINTERNET_KMS_WARM_UP_S"
    monkeypatch.delenv("QINTERNET_KMS_WARM_UP_S")
    monkeypatch.setenv("QINTERNET_KMS_MASTER_KEYFILE", "/tmp/key")  # a typo: would run unencrypted
    with pytest.raises(ParameterError, match="is not a setting") as info:
        load_serve_settings(None, {})
    assert info.value.field == "QINTERNET_KMS_MASTER_KEYFILE"


def test_the_master_key_file(tmp_path: Path) -> None:
    key = os.urandom(32)
    (tmp_path / "raw").write_bytes(key)
    (tmp_path / "hex").write_text(key.hex() + "\n")
    (tmp_path / "short").write_bytes(b"x" * 10)
    for name in ("raw", "hex"):
        assert load_serve_settings(None, {"master_key_file": tmp_path / name}).master_key() == key
    with pytest.raises(ParameterError, match="32 bytes"):
        load_serve_settings(None, {"master_key_file": tmp_path / "short"}).master_key()


def test_setting_errors_are_in_our_words_from_every_source(cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Options, QINTERNET_KMS_* variables and --config keys: no pydantic wording ("Input should ...")."""
    config = tmp_path / "c.yaml"
    config.write_text("speed: -3\n")
    cases = [
        (["serve", "micius", "--speed", "-1"], "--speed: must be > 0, got -1.0"),
        (["serve", "micius", "--config", str(config)], "--config speed: must be > 0, got -3"),
    ]
    for args, expected in cases:
        code, _, err = cli(*args)
        assert code == 2
        assert expected in err
    monkeypatch.setenv("QINTERNET_KMS_SPEED", "abc")
    code, _, err = cli("serve", "micius")
    assert code == 2
    assert "QINTERNET_KMS_SPEED: must be a number, got 'abc'" in err
    assert "Input should" not in err
