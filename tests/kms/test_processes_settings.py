"""``serve --processes`` gives every KME child the settings ``qinternet kme`` has no option for (the key
limits, the per-SAE quota, the reservations' expiry), wherever they came from
(:func:`qinternet.kms.processes.kme_environment`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from qinternet.errors import ParameterError
from qinternet.kms import processes
from qinternet.kms.processes import KME_SETTINGS, kme_environment
from qinternet.kms.settings import ServeSettings, load_serve_settings


def _parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServeSettings:
    config = tmp_path / "kms.yaml"
    config.write_text("sae_quota_bits: 4096\nmax_key_per_request: 7\nkey_size: 512\n")
    monkeypatch.setenv("QINTERNET_KMS_RESERVATION_TTL_S", "99")
    return load_serve_settings(config, {"sae_quota_window_s": 7.5})  # as serve's options


def test_a_kme_child_reads_the_parents_limits_from_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = _parent(tmp_path, monkeypatch)
    monkeypatch.setenv("QINTERNET_KMS_SAE_QUOTA_WINDOW_S", "1")  # inherited, overridden for the child
    for name, value in kme_environment(parent).items():
        monkeypatch.setenv(name, value)
    child = load_serve_settings(None, {})  # qinternet kme is not given serve's --config
    assert {n: getattr(child, n) for n in KME_SETTINGS} == {n: getattr(parent, n) for n in KME_SETTINGS}
    assert (child.sae_quota_bits, child.sae_quota_window_s, child.reservation_ttl_s) == (4096.0, 7.5, 99.0)
    assert (child.key_size, child.max_key_per_request) == (512, 7)


def test_run_processes_starts_each_kme_with_that_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = _parent(tmp_path, monkeypatch)
    started: list[dict[str, str]] = []

    class Exited:
        returncode = 1

        def poll(self) -> int:
            return 1

        def wait(self, timeout: float | None = None) -> int:
            return 1

    def start_child(argv: Sequence[str], environment: Mapping[str, str] | None = None) -> Exited:
        assert argv[0] == "kme"
        started.append(dict(environment or {}))
        return Exited()

    plan = SimpleNamespace(
        settings=parent, topology=SimpleNamespace(kmes={"kme-a", "kme-b"}), files=SimpleNamespace(folder=tmp_path)
    )
    spec = SimpleNamespace(nodes=[SimpleNamespace(id="a"), SimpleNamespace(id="b")], links=[])
    with pytest.raises(ParameterError, match="exited"):
        processes.run_processes(
            "net.yaml",
            spec,  # type: ignore[arg-type]
            plan,  # type: ignore[arg-type]
            tmp_path,
            announce=lambda servers: None,
            start_child=start_child,
        )
    assert len(started) == 2
    for environment in started:
        assert environment["QINTERNET_KMS_SAE_QUOTA_BITS"] == "4096.0"
        assert environment["QINTERNET_KMS_RESERVATION_TTL_S"] == "99.0"
        assert environment["QINTERNET_KMS_MAX_KEY_PER_REQUEST"] == "7"
