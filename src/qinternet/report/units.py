"""Numbers as an engineer reads them: amounts of key in bit, kbit, Mbit, ...; rates in bit/s, kbit/s, ...

Decimal (SI) prefixes, as for data rates in telecommunications (1 kbit = 1000 bit), three significant digits.
Used by the HTML report and the terminal tables alike, so that both show the same text for the same number.

>>> bits(1.728e10)
'17.3 Gbit'
>>> rate(1.91e5)
'191 kbit/s'
>>> percent(0.682)
'68.2 %'
"""

from __future__ import annotations

import math

__all__ = ["bits", "percent", "rate", "si"]

_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: float, unit: str, *, digits: int = 3) -> str:
    """``value`` with the largest SI prefix that leaves at least 1 in front of ``unit``, ``digits`` significant.

    Values below 1 keep the bare unit (``0.0123 bit/s``); ``nan`` and infinities are written as such.

    >>> si(999.6, "bit")
    '1 kbit'
    >>> si(0, "bit")
    '0 bit'
    """
    if not math.isfinite(value):
        return f"{value} {unit}"
    magnitude = abs(float(f"{value:.{digits}g}"))  # rounded first: 999.6 is shown as 1 k, not 1000
    for scale, prefix in _PREFIXES:
        if magnitude >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"


def bits(value: float) -> str:
    """An amount of key: ``720 Mbit``."""
    return si(value, "bit")


def rate(value_bps: float) -> str:
    """A key rate: ``2.25 kbit/s``."""
    return si(value_bps, "bit/s")


def percent(fraction: float, *, decimals: int = 1) -> str:
    """A share as a percentage: ``68.2 %`` (``100 %`` and ``0 %`` without decimals).

    A share just short of 1 never reads ``100``: ``0.99996`` is ``99.9 %``, so that "not fully met" shows.
    """
    if not math.isfinite(fraction):
        return "-"
    if fraction in (0.0, 1.0):
        return f"{fraction * 100:.0f} %"
    text = f"{fraction * 100:.{decimals}f}"
    if fraction < 1.0 and float(text) >= 100.0:
        text = f"{math.floor(fraction * 100 * 10**decimals) / 10**decimals:.{decimals}f}"
    return f"{text} %"
