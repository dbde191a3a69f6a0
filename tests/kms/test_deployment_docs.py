"""The deployment notes' systemd unit starts a KME with a command line ``qinternet kme`` accepts."""

from __future__ import annotations

import shlex
from pathlib import Path

from qinternet.cli.app import load_command

ROOT = Path(__file__).resolve().parents[2]


def test_the_systemd_unit_s_exec_start_is_a_valid_kme_command_line() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    program, command, *args = shlex.split(line.removeprefix("ExecStart="))
    assert program.endswith("/qinternet")
    assert command == "kme"
    kme = load_command("kme")
    context = kme.make_context("kme", list(args))  # parses every option as the CLI would, runs nothing
    assert context.params["node"] == "m"
    assert context.params["port"] == 8443
    assert str(context.params["peers"]) == "/etc/qinternet/peers.yaml"
    assert str(context.params["master_key_file"]) == "/etc/qinternet/master.key"
