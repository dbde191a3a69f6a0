"""Shared fixtures."""

from __future__ import annotations

import sys

import pytest

from qinternet.cli.app import main
from qinternet.params import QkdSystem, get_preset


@pytest.fixture
def gys() -> QkdSystem:
    """The GYS set-up of Ma et al. (2005), Table I."""
    return get_preset("gys2004").system


@pytest.fixture
def lim() -> QkdSystem:
    """The set-up of Lim et al. (2014), Sec. IV."""
    return get_preset("lim2014").system


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["qinternet", *args])
    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return lambda *args: run(capsys, monkeypatch, *args)
