"""Validation helpers shared by the parameter dataclasses.

Each helper raises :class:`qinternet.errors.ParameterError` naming the field and the reason, so that a
bad value is reported where it entered (a preset, a CLI option, a scenario file).
"""

from __future__ import annotations

import math

from qinternet.errors import ParameterError

__all__ = [
    "require_at_most",
    "require_epsilon",
    "require_finite",
    "require_non_negative",
    "require_open_unit",
    "require_positive",
    "require_probability",
]


def require_finite(field: str, value: float) -> None:
    """Reject NaN and infinities."""
    if not math.isfinite(value):
        raise ParameterError(field, f"must be a finite number, got {value}")


def require_positive(field: str, value: float) -> None:
    """Require ``value > 0``."""
    require_finite(field, value)
    if value <= 0.0:
        raise ParameterError(field, f"must be > 0, got {value}")


def require_non_negative(field: str, value: float) -> None:
    """Require ``value >= 0``."""
    require_finite(field, value)
    if value < 0.0:
        raise ParameterError(field, f"must be >= 0, got {value}")


def require_probability(field: str, value: float, *, upper: float = 1.0, upper_open: bool = False) -> None:
    """Require ``0 <= value <= upper`` (or ``< upper`` when ``upper_open``)."""
    require_finite(field, value)
    too_big = value >= upper if upper_open else value > upper
    if value < 0.0 or too_big:
        bracket = ")" if upper_open else "]"
        raise ParameterError(field, f"must be in [0, {upper:g}{bracket}, got {value}")


def require_open_unit(field: str, value: float) -> None:
    """Require ``0 < value <= 1`` (an efficiency or a transmittance)."""
    require_finite(field, value)
    if not 0.0 < value <= 1.0:
        raise ParameterError(field, f"must be in (0, 1], got {value}")


def require_epsilon(field: str, value: float) -> None:
    """A security parameter (failure probability) must lie in (0, 1)."""
    require_finite(field, value)
    if not 0.0 < value < 1.0:
        raise ParameterError(field, f"must be in (0, 1), got {value}")


def require_at_most(field: str, value: float, upper: float, why: str) -> None:
    """Require ``value <= upper``; ``why`` says what lies beyond (a bound keeps every model's numbers finite).

    >>> require_at_most("source.rep_rate_hz", 1e15, 1e12, "faster than any QKD source")
    Traceback (most recent call last):
    ...
    qinternet.errors.ParameterError: source.rep_rate_hz: must be <= 1e+12 (faster than any QKD source), got 1e+15
    """
    if value > upper:
        raise ParameterError(field, f"must be <= {upper:g} ({why}), got {value:g}")
