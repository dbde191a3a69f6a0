"""``serve``'s children made by ``fork`` (:mod:`qinternet.cli.fork`): the command's exit status, as ``Popen``
gives it, also when the parent ignores SIGCHLD (the kernel reaps the child at once)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import qinternet.cli.app  # noqa: F401  (imported before the forks, as serve's preload does: the children start at once)
from qinternet.cli.fork import fork_child


def test_a_forked_child_exits_with_its_command_s_status() -> None:
    assert fork_child(["scenarios", "show", "atlantis"]).wait(timeout=60) == 2  # one line, exit 2
    child = fork_child(["scenarios", "list"], {"QINTERNET_UNUSED": "1"})
    assert child.wait(timeout=60) == 0
    assert child.poll() == 0  # reaped once, the status kept


def test_a_child_reaped_by_the_kernel_counts_as_exited() -> None:
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        child = fork_child(["scenarios", "list"])
        assert child.wait(timeout=60) == 0  # ECHILD: the status is gone, 0 as Popen gives it
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_a_killed_child_reports_the_signal_and_is_reaped(tmp_path: Path) -> None:
    child = fork_child(["run", "micius", "--duration", "30d", "--out", str(tmp_path / "out")])
    assert child.poll() is None
    child.kill()
    assert child.wait(timeout=60) == -signal.SIGKILL  # as Popen: minus the signal
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)  # reaped: no zombie left
    assert not (tmp_path / "out").exists()
