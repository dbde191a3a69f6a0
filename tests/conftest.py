"""Shared fixtures."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

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


@pytest.fixture(autouse=True)
def _restore_kms_logging() -> Iterator[None]:
    """``serve`` and ``tunnel`` run in-process (the ``cli`` fixture) configure the ``qinternet.kms`` and
    ``qinternet.tunnel`` loggers for the process; put them back after each test so that later tests' ``caplog``
    still sees their records."""
    logs = [logging.getLogger(name) for name in ("qinternet.kms", "qinternet.tunnel", "qinternet.device")]
    saved = [(list(log.handlers), log.level, log.propagate) for log in logs]
    yield
    for log, (handlers, level, propagate) in zip(logs, saved, strict=True):
        log.handlers[:], log.level, log.propagate = handlers, level, propagate
