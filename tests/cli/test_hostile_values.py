"""Every option of every command, given a hostile value, ends with one line naming it and exit status 2.

The commands are found by walking the CLI's command tree, so a command added later is covered too: it
needs a base invocation in :data:`BASES` (the test fails until it has one). Each base is a valid call that
fails fast or finishes quickly; the test replaces one option (or adds it) at a time with a value no
qinternet option means (empty, NaN, infinities, huge, negative, the wrong type, a missing folder) and
asserts that the command refuses it: exit status 2, one line ``qinternet: error: <option>: ...`` that names
that option, and no traceback. Values a command rightly accepts are listed in :data:`ACCEPTED` with the
reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from qinternet.apps.container import Mode
from qinternet.apps.encryption import encrypt as encrypt_bytes
from qinternet.cli.app import root_command
from qinternet.cli.strict import kind, label, walk
from qinternet.kms.pki import init_pki
from tests.apps.conftest import FakeKmes
from tests.servers import free_port, free_ports

HOSTILE: dict[str, tuple[str, ...]] = {
    "float": ("", "nan", "inf", "-inf", "1e400", "abc", "-1", "1e308"),
    "int": ("", "abc", "1.5", "99999999999999999999", "-1", "1e3"),
    "text": ("", "nan", "-1", "1e400", "x" * 5000),
    "path": ("", "/nonexistent/folder/file.pem"),
    "choice": ("", "abc"),
}
"""The values tried for each kind of option (:func:`qinternet.cli.strict.kind`)."""

ACCEPTED: dict[tuple[str, str, str], str] = {
    **{
        (command, option, value): "any non-empty text can be an SAE or KME ID; the call then fails on --kme"
        for command, option in (
            ("encrypt", "--slave"),
            ("encrypt", "--kme-id"),
            ("decrypt", "--kme-id"),
            ("tunnel connect", "--slave"),
            ("tunnel connect", "--kme-id"),
            ("tunnel listen", "--kme-id"),
        )
        for value in HOSTILE["text"][1:]
    },
    **{
        ("pki init", option, value): "a valid host or certificate name"
        for option in ("--server-name", "--kme", "--sae")
        for value in ("nan", "1e400")
    },
    ("repeater", "--coherence-attempts", "1e308"): "a memory that outlives any run: the same as no decoherence",
    **{
        (command, argument, "-1"): "read as an option: 'No such option: -1'"
        for command, argument in (
            ("run", "SCENARIO"),
            ("serve", "SCENARIO"),
            ("dashboard", "DIR"),
            ("scenarios show", "NAME"),
            ("sweep", "STUDY"),
            ("studies show", "NAME"),
            ("plan", "PLAN"),
            ("device", "LINK"),
        )
    },
}
"""(command, option, value) that are not refused, or not refused under the option's name, and why."""


Base = Callable[[Path], list[str]]


def _pki(tmp: Path) -> Path:
    folder = tmp / "pki"
    if not folder.exists():
        init_pki(folder, kmes=["kme-a", "kme-b"], saes=["sae-a", "sae-b"])
    return folder


def _device_pki(tmp: Path) -> Path:
    """Certificates of the KMEs and of the two devices of :func:`_scenario_file`'s link ``ab``."""
    folder = tmp / "device-pki"
    if not folder.exists():
        init_pki(folder, kmes=["kme-a", "kme-b"], saes=[], devices=["dev-ab-a", "dev-ab-b"])
    return folder


def _sealed(tmp: Path) -> Path:
    """A real encrypted file for sae-b (made with in-memory KMEs), so that decrypt gets past its header."""
    path = tmp / "secret.txt.qkd"
    if not path.exists():
        kmes = FakeKmes()
        path.write_bytes(encrypt_bytes(b"hello", kme=kmes.master("sae-a"), slave="sae-b", mode=Mode.AES_GCM))
    return path


def _tls(tmp: Path, sae: str) -> list[str]:
    pki = _pki(tmp)
    closed = f"https://localhost:{free_port()}"  # nothing listens: a call that gets that far fails on --kme
    return [
        "--kme",
        closed,
        "--cert",
        str(pki / f"{sae}.pem"),
        "--key",
        str(pki / f"{sae}.key"),
        "--ca",
        str(pki / "ca.pem"),
    ]


def _plain(tmp: Path) -> Path:
    path = tmp / "plain.txt"
    path.write_text("hello")
    return path


def _scenario_file(tmp: Path) -> Path:
    path = tmp / "net.yaml"
    path.write_text(
        "name: net\nnodes:\n  - {id: a, kind: user, lat_deg: 0, lon_deg: 0}\n"
        "  - {id: b, kind: user, lat_deg: 0, lon_deg: 1}\n"
        "links:\n  - {id: ab, a: a, b: b, length_km: 20}\n"
    )
    return path


def _study_file(tmp: Path) -> Path:
    path = tmp / "study.yaml"
    path.write_text(
        "name: s\nbase: {kind: keyrate}\nvary:\n  - {field: detector.efficiency, values: [0.1]}\n"
        "metrics: [key_rate_per_pulse]\n"
    )
    return path


def _plan_file(tmp: Path) -> Path:
    path = tmp / "plan.yaml"
    path.write_text(
        "name: two\nsites:\n  - {id: a, lat_deg: 0, lon_deg: 0}\n  - {id: b, lat_deg: 0, lon_deg: 0.2}\n"
        "candidate_links:\n  - {id: ab, a: a, b: b}\ndemands:\n  - {id: d, a: a, b: b, rate_bps: 100}\n"
    )
    return path


def _run_outputs(tmp: Path) -> Path:
    """The outputs of a (tiny, written by hand) run of ``qinternet run``, for ``qinternet dashboard``."""
    folder = tmp / "run-out"
    folder.mkdir(exist_ok=True)
    node = '{"id": "a", "kind": "user", "name": "a", "lat_deg": 0, "lon_deg": 0, "pools": []}'
    (folder / "summary.json").write_text(f'{{"scenario": "s", "links": [], "demands": [], "nodes": [{node}]}}')
    (folder / "links.csv").write_text("time_s,link,pool_bits,generated_bits\n")
    (folder / "demands.csv").write_text("time_s,demand,wanted_bits,delivered_bits\n")
    return folder


BASES: dict[str, Base] = {
    "keyrate": lambda tmp: [],
    "link": lambda tmp: ["--pulses", "1e6"],
    "run": lambda tmp: [str(_scenario_file(tmp)), "--duration", "2min", "--step", "1min", "--out", str(tmp / "out")],
    "plan": lambda tmp: [str(_plan_file(tmp)), "--out", str(tmp / "planned.yaml")],
    "serve": lambda tmp: [
        "bristol-8-user",
        "--pki",
        str(tmp / "serve-pki"),
        "--db",
        f"sqlite:///{tmp / 'kms.db'}",
        "--base-port",
        str(free_ports(9)),  # bristol-8-user's 9 KMEs, one port each
        "--ops-port",
        str(free_port()),
        "--warm-up",
        "1s",
        "--duration",
        "0.2s",
        "--dashboard",
        "--dashboard-port",
        str(free_port()),
    ],
    "dashboard": lambda tmp: [str(_run_outputs(tmp)), "--port", str(free_port()), "--duration", "0.2s"],
    "device": lambda tmp: [
        *("ab", "--scenario", str(_scenario_file(tmp)), "--pki", str(_device_pki(tmp))),
        *("--kme-a", f"https://localhost:{free_port()}", "--kme-b", f"https://localhost:{free_port()}"),
        *("--duration", "0.2s"),
    ],
    "kme": lambda tmp: [
        *("--node", "a", "--scenario", str(_scenario_file(tmp)), "--pki", str(_device_pki(tmp))),
        *("--state-dir", str(tmp / "kme-state"), "--base-port", str(free_port()), "--duration", "0.2s"),
    ],
    "encrypt": lambda tmp: [str(_plain(tmp)), *_tls(tmp, "sae-a"), "--slave", "sae-b", "--out", str(tmp / "p.qkd")],
    "decrypt": lambda tmp: [str(_sealed(tmp)), *_tls(tmp, "sae-b"), "--out", str(tmp / "p.txt")],
    "keygen-mlkem": lambda tmp: [str(tmp / "mlkem")],
    "tunnel connect": lambda tmp: [
        *("--listen", "127.0.0.1:0", "--peer", f"127.0.0.1:{free_port()}", "--slave", "sae-b"),
        *_tls(tmp, "sae-a"),
        *("--duration", "0.2s"),
    ],
    "tunnel listen": lambda tmp: [
        *("--listen", "127.0.0.1:0", "--forward", f"127.0.0.1:{free_port()}"),
        *_tls(tmp, "sae-b"),
        *("--duration", "0.2s"),
    ],
    "presets": lambda tmp: [],
    "purify": lambda tmp: ["--protocol", "dejmps", "--fidelity", "0.7", "--rounds", "2"],
    "repeater": lambda tmp: ["--preset", "ideal", "--nodes", "3", "--length-km", "10", "--pairs", "100"],
    "scenario validate": lambda tmp: [str(_scenario_file(tmp))],
    "scenario schema": lambda tmp: ["--out", str(tmp / "schema.json")],
    "scenarios list": lambda tmp: [],
    "scenarios show": lambda tmp: ["micius"],
    "pki init": lambda tmp: [str(tmp / "new-pki")],
    "sweep": lambda tmp: [str(_study_file(tmp)), "--out", str(tmp / "sweep"), "--workers", "1"],
    "studies list": lambda tmp: [],
    "studies show": lambda tmp: ["keyrate-vs-detector"],
}


def _leaves() -> dict[str, object]:
    return {path: command for path, command in walk(root_command()) if path and not getattr(command, "commands", None)}


def test_every_command_has_a_base_invocation() -> None:
    assert sorted(_leaves()) == sorted(BASES)


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for path, command in _leaves().items():
        for param in command.params:  # type: ignore[attr-defined]
            value_kind = kind(param)
            if value_kind == "flag":
                continue
            for value in HOSTILE[value_kind]:
                cases.append((path, label(param), value))
    return cases


def _with(argv: list[str], command: str, option: str, value: str) -> list[str]:
    """``argv`` with ``option`` set to ``value`` (an argument, upper-case, replaces the first positional)."""
    if option.startswith("--"):
        if option in argv:
            index = argv.index(option)
            return [*argv[:index], option, value, *argv[index + 2 :]]
        return [*argv, option, value]
    params = [p for p in _leaves()[command].params if p.param_type_name == "argument"]  # type: ignore[attr-defined]
    position = [label(p) for p in params].index(option)
    positional = [
        i for i, word in enumerate(argv) if not word.startswith("--") and (i == 0 or not argv[i - 1].startswith("--"))
    ]
    if position < len(positional):
        argv = list(argv)
        argv[positional[position]] = value
        return argv
    return [value, *argv]


@pytest.mark.parametrize(("command", "option", "value"), _cases(), ids=lambda v: str(v)[:24])
def test_hostile_value_is_refused_in_one_line(cli, tmp_path: Path, command: str, option: str, value: str) -> None:  # type: ignore[no-untyped-def]
    argv = [*command.split(), *_with(BASES[command](tmp_path), command, option, value)]
    code, out, err = cli(*argv)
    assert "Traceback" not in out + err
    if (command, option, value) in ACCEPTED:
        return
    assert code == 2, (argv[:3], code, out[-300:], err[-300:])
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[-500:]
    assert lines[0].startswith("qinternet: error: "), err[-500:]
    assert option in lines[0], lines[0]


def test_the_base_invocations_themselves_work_or_fail_only_on_the_kme(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Otherwise a hostile value could be 'refused' by an error the base causes anyway."""
    for command, base in BASES.items():
        shutil.rmtree(tmp_path, ignore_errors=True)
        tmp_path.mkdir()
        code, _out, err = cli(*command.split(), *base(tmp_path))
        if command in ("encrypt", "decrypt", "tunnel connect", "device"):
            assert code == 2, (command, err)
            assert "--kme" in err, (command, err)
        else:
            assert code == 0, (command, err[-500:])
