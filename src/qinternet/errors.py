"""Errors that are part of qinternet's interface.

Every error a user can cause names the offending field (a dotted path such as ``detector.efficiency``
or a CLI option such as ``--distance-km``) and the reason, so that the CLI can print one clear line and
the API can answer in its own error format.
"""

from __future__ import annotations

__all__ = ["ParameterError", "QinternetError"]


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
