"""Children of ``qinternet serve`` made by ``fork``: each KME and device process starts without importing
anything (:mod:`qinternet.kms.processes` says why), then runs its ``qinternet`` command line exactly as a new
interpreter would. Here in the CLI layer because a child runs the CLI."""

from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence

__all__ = ["ForkedProcess", "fork_child", "preload"]

logger = logging.getLogger("qinternet.kms")


class ForkedProcess:
    """A child made by :func:`fork_child`, with the calls of :class:`subprocess.Popen` that the network uses
    (``returncode``: the exit status, or minus the signal that ended it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status if it has exited (it is reaped), else None."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped already (SIGCHLD ignored): its status is lost, as Popen has it
                self.returncode = 0
            else:
                if pid == self.pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to exit; :class:`subprocess.TimeoutExpired` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(0.02)
        return code

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` unless it has exited."""
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)


def preload() -> None:
    """Import what ``qinternet kme`` and ``qinternet device`` import, so that children forked afterwards
    start without importing (module docstring), and freeze it out of the collector's generations (a
    collection would otherwise touch, and so copy, every shared object in every child)."""
    import qinternet.apps.qkd_device
    import qinternet.cli.device_cmd
    import qinternet.cli.kme_cmd
    import qinternet.kms.api_southbound
    import qinternet.kms.node
    import qinternet.kms.relay
    import qinternet.kms.southbound  # noqa: F401

    gc.collect()
    gc.freeze()


def fork_child(argv: Sequence[str], environment: Mapping[str, str] | None = None) -> ForkedProcess:
    """Fork a child that runs ``qinternet ARGV...`` (with ``environment`` added to its own) and exits with
    that command's status; its standard input is ``/dev/null``, its output and errors this process's."""
    if threading.active_count() > 1:  # a fork copies only the calling thread: locks held by others stay held
        logger.warning("forking with %d threads running", threading.active_count())
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return ForkedProcess(pid)
    code = 1
    try:  # the child: never returns into the parent's code
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _end_with_parent()
        if os.getppid() != parent:  # the parent died before the line above: stop now
            raise SystemExit(1)
        os.environ.update(environment or {})
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        from qinternet.cli import entry

        sys.argv = ["qinternet", *argv]
        entry.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


_PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a process gets when the thread that forked it ends."""


def _end_with_parent() -> None:
    """Have the kernel send SIGTERM to this child when ``serve`` dies, even by SIGKILL (Linux; elsewhere
    nothing): no KME or device is left orphaned holding its port."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl in this C library: the child then outlives a killed parent
        logger.debug("prctl(PR_SET_PDEATHSIG) not available")
