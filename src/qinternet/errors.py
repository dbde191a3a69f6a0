"""Errors that are part of qinternet's interface.

Every error a user can cause names the offending field (a dotted path such as ``detector.efficiency``
or a CLI option such as ``--distance-km``) and the reason, so that the CLI can print one clear line and
the API can answer in its own error format.
"""

from __future__ import annotations

__all__ = ["ParameterError", "QinternetError", "interrupt_handled"]


class QinternetError(Exception):
    """Base class of every error qinternet raises on purpose."""


class ParameterError(QinternetError, ValueError):
    """A parameter has a value that the model cannot accept.

    Args:
        field: where the value came from, e.g. ``"detector.efficiency"`` or ``"--distance-km"``.
        reason: why it is wrong, phrased to follow the field, e.g. ``"must be in (0, 1]"``.

    >>> str(ParameterError("detector.efficiency", "must be in (0, 1], got 1.5"))
    'detector.efficiency: must be in (0, 1], got 1.5'
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type[ParameterError], tuple[str, str]]:
        return (type(self), (self.field, self.reason))


def interrupt_handled() -> None:
    """Say that a :class:`KeyboardInterrupt` (^C, or SIGTERM turned into one) was handled: call it where one is
    caught and the program goes on to a clean exit.

    CPython (``run_eval_code_obj`` in Python/pythonrun.c) sets a flag when a :class:`KeyboardInterrupt` leaves
    code run by ``exec(str)``, which ``dataclasses`` and ``typing`` use while modules are imported; at exit it
    then kills the process with SIGINT (status -2) even though the interrupt was handled. The next such
    ``exec`` clears the flag.
    """
    exec("")
