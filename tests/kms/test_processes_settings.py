"""``serve --processes`` gives every KME child the settings ``qinternet kme`` has no option for (the key
limits, the per-SAE quota, the reservations' expiry), wherever they came from
(:func:`qinternet.kms.processes.kme_environment`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from qinternet.errors import ParameterError
from qinternet.kms import processes
from qinternet.kms.processes import KME_SETTINGS, kme_environment, relay_timeout_s
from qinternet.kms.settings import ServeSettings, load_serve_settings
from qinternet.kms.topology import KmsTopology, longest_relay_hops
from tests.servers import free_ports


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
        settings=parent,
        topology=KmsTopology(sae_kme={"sae-a": "kme-a", "sae-b": "kme-b"}, links=(("kme-a", "kme-b"),)),
        files=SimpleNamespace(folder=tmp_path),
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


def test_serve_chooses_its_mode_from_every_source_and_names_what_does_not_fit(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KME processes unless --in-process, an option of one process or a key store / devices setting from the
    environment or --config says otherwise (never dropped silently); refusals name the option."""
    net = ["bristol-8-user", "--pki", str(tmp_path / "pki")]
    cases = [
        (["--processes", "--db", "sqlite:///x.db"], "--db: is not used with --processes"),
        (["--in-process", "--processes"], "--in-process: and --processes exclude each other"),
        (["--in-process", "--state-dir", "s"], "--state-dir: is for KME processes, not used with --in-process"),
        (["--dashboard", "--relay-timeout", "9s"], "--relay-timeout: is for KME processes, not used with --dashboard"),
        (["--relay-timeout", "11min"], "--relay-timeout: must be at most 10min"),
    ]
    for extra, expected in cases:
        code, _, err = cli("serve", *net, *extra)
        assert code == 2, (extra, err)
        assert f"qinternet: error: {expected}" in err, (extra, err)
    for ops, expected in (
        ("65534", "--ops-port: leaves no port for the last of 8 KMEs"),  # bristol-8-user: 8 KMEs (its source has none)
        ("8450", "--ops-port: 8450 and on overlaps the KMEs' ports (8443 and on)"),
    ):
        code, _, err = cli("serve", *net, "--ops-port", ops, "--base-port", "8443")
        assert code == 2
        assert f"qinternet: error: {expected}" in err, err
    monkeypatch.setenv("QINTERNET_KMS_DB", f"sqlite:///{tmp_path / 'env.db'}")
    code, _, err = cli("serve", *net, "--processes")
    assert code == 2
    assert "--processes: a db setting (environment or --config) is not used" in err
    code, _, err = cli("serve", *net, "--state-dir", str(tmp_path / "s"))
    assert code == 2
    assert "--state-dir: is for KME processes, not used with the db setting" in err
    # Without --processes the setting selects one process: served from that store for a moment, then stopped.
    port = str(free_ports(9))
    code, out, err = cli("serve", *net, "--warm-up", "0s", "--ops-port", "0", "--base-port", port, "--duration", "0.2s")
    assert code == 0, err
    assert "Every KME in this process on one key store" in out
    assert (tmp_path / "env.db").exists()


def test_the_relay_timeout_grows_with_the_longest_relay_path() -> None:
    """Hops between KMEs with SAEs through trusted KMEs only; 0.5 s a hop, at least 5 s."""
    line = KmsTopology(
        sae_kme={"sae-a": "a", "sae-b": "b", "sae-u": "u"},
        links=(("a", "r1"), ("r1", "r2"), ("r2", "b"), ("a", "u"), ("u", "b")),
        relays=frozenset({"r1", "r2"}),
    )
    # a-u-b would be 2 hops, but u is not trusted: a to b takes the 3 hops through r1 and r2.
    assert longest_relay_hops(line) == 3
    assert relay_timeout_s(line) == 5.0
    chain = KmsTopology(
        sae_kme={"sae-a": "a", "sae-b": "b"},
        links=(*((f"n{i}", f"n{i + 1}") for i in range(40)), ("a", "n0"), ("n40", "b")),
        relays=frozenset(f"n{i}" for i in range(41)),
    )
    assert longest_relay_hops(chain) == 42
    assert relay_timeout_s(chain) == 21.0
