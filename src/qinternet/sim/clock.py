"""The kernel's clock: integer picoseconds, and the conversions from and to seconds at the edges.

Time inside :mod:`qinternet.sim` is a Python ``int`` of picoseconds. Integers add exactly, so a clock
that advances a million times by the same step lands exactly on ``steps * step_ps``; a float clock in
seconds drifts by the rounding of every addition. Python's ``int`` is unbounded, so there is no
overflow either (a year is about 3.2e19 ps, beyond int64; the kernel does not care).

Floats in seconds exist only at the edges (scenario files, reports); the conversion rounds once, to the
nearest picosecond, ties to even, from the exact binary value of the float (not from ``seconds * 1e12``,
which rounds twice and can be one picosecond off for large values).
"""

from __future__ import annotations

import math
import numbers

from qinternet.errors import ParameterError

__all__ = ["PS_PER_S", "as_ps", "ps_to_seconds", "seconds_to_ps"]

PS_PER_S = 10**12
"""Picoseconds per second."""


def seconds_to_ps(seconds: float, field: str = "seconds") -> int:
    """Round a duration or instant in seconds to the nearest integer picosecond (ties to even).

    The rounding is exact: ``seconds`` is taken as the binary number the float holds, multiplied by
    10**12 in integer arithmetic, and rounded once. ``seconds_to_ps(1 / 3)`` is 333_333_333_333, whatever
    the magnitude, and the error of one conversion is at most 0.5 ps.

    Args:
        seconds: a finite number of seconds (int, float or numpy scalar; may be negative).
        field: name used in the error message.

    Raises:
        ParameterError: ``seconds`` is NaN, infinite or not a real number.

    >>> seconds_to_ps(1e-9), seconds_to_ps(1 / 3), seconds_to_ps(2.5e-12)
    (1000, 333333333333, 2)
    """
    if isinstance(seconds, bool):
        raise ParameterError(field, f"must be a number of seconds, got {seconds!r}")
    if isinstance(seconds, numbers.Integral):  # int, numpy integers: exact
        return int(seconds) * PS_PER_S
    if not isinstance(seconds, numbers.Real):
        raise ParameterError(field, f"must be a number of seconds, got {seconds!r}")
    value = float(seconds)
    if not math.isfinite(value):
        raise ParameterError(field, f"must be a finite number of seconds, got {value}")
    numerator, denominator = value.as_integer_ratio()
    quotient, remainder = divmod(numerator * PS_PER_S, denominator)
    # denominator is a power of two; round half to even on the exact remainder.
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def ps_to_seconds(time_ps: int) -> float:
    """Picoseconds as seconds: the float nearest to ``time_ps / 10**12`` (Python's int division is
    correctly rounded)."""
    return time_ps / PS_PER_S


def as_ps(field: str, value: object) -> int:
    """``value`` as a non-negative integer number of picoseconds, or a :class:`ParameterError`.

    Accepts ``int`` and integer numpy scalars (``numbers.Integral``); rejects ``bool``, floats
    (convert seconds with :func:`seconds_to_ps` so that the rounding is explicit) and negative values.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(field, f"must be an integer number of picoseconds (see seconds_to_ps), got {value!r}")
    ps = int(value)
    if ps < 0:
        raise ParameterError(field, f"must be >= 0 ps, got {ps}")
    return ps
