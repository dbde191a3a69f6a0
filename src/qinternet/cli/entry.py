"""The console script's entry point (``qinternet``, ``python -m qinternet``).

It imports nothing heavy itself, so that an interrupt at any moment, even while the commands' libraries are
still being imported, ends the same way: one line saying what was interrupted on standard error and exit
status 130 (SIGINT, ^C) or 143 (SIGTERM), so that ``qinternet run ... && next-step`` stops there. Commands
write their outputs whole or not at all (:mod:`qinternet.cli.output`), so an interrupted command leaves
nothing half-written behind.
"""

from __future__ import annotations

import shlex
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from qinternet.errors import interrupt_handled

__all__ = ["INTERRUPTED", "interrupted_message", "main"]

INTERRUPTED = 130
"""What Typer returns for a command that a :class:`KeyboardInterrupt` stopped (128 + SIGINT)."""

_received: list[int] = []
"""The signals received, in order (the handler records them so that SIGTERM exits with 143)."""


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def _install_handlers() -> None:
    """SIGINT and SIGTERM raise :class:`KeyboardInterrupt` (a SIGINT that the shell ignores stays ignored)."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _interrupt)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def interrupted_message(argv: Sequence[str]) -> str:
    """The line printed when the command given by ``argv`` (without the program name) was interrupted.

    >>> interrupted_message(["run", "micius", "--duration", "365d"])
    'qinternet: interrupted: qinternet run micius stopped before it finished; nothing was written'
    """
    words: list[str] = []
    for word in argv:
        if word.startswith("-") or len(words) == 3:
            break
        words.append(word)
    command = shlex.join(["qinternet", *words])
    return f"qinternet: interrupted: {command} stopped before it finished; nothing was written"


def main() -> None:
    """Run the CLI (:func:`qinternet.cli.app.main`); an interrupt exits 130 (143 for SIGTERM) with one line."""
    _install_handlers()
    argv = sys.argv[1:]
    try:
        from qinternet.cli.app import main as run_cli

        run_cli()
    except KeyboardInterrupt:
        interrupt_handled()
        print(interrupted_message(argv), file=sys.stderr)
        signum = _received[0] if _received else signal.SIGINT
        sys.exit(128 + signum)
