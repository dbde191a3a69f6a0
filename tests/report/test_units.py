"""Numbers with SI prefixes and shares as percentages, as the report and the terminal tables write them."""

from __future__ import annotations

import pytest

from qinternet.report import units


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0 bit"),
        (7.0, "7 bit"),
        (999.0, "999 bit"),
        (999.6, "1 kbit"),  # rounded before the prefix is chosen
        (1234.0, "1.23 kbit"),
        (7.2e8, "720 Mbit"),
        (1.728e10, "17.3 Gbit"),
        (3.2e13, "32 Tbit"),
    ],
)
def test_bits(value: float, text: str) -> None:
    assert units.bits(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0123, "0.0123 bit/s"), (2249.3, "2.25 kbit/s"), (1.91e5, "191 kbit/s"), (1.06e6, "1.06 Mbit/s")],
)
def test_rates(value: float, text: str) -> None:
    assert units.rate(value) == text


@pytest.mark.parametrize(
    ("fraction", "text"), [(1.0, "100 %"), (0.0, "0 %"), (0.682, "68.2 %"), (0.99996, "99.9 %"), (float("nan"), "-")]
)
def test_percent(fraction: float, text: str) -> None:
    assert units.percent(fraction) == text


def test_percent_with_more_decimals() -> None:
    assert units.percent(0.0248, decimals=2) == "2.48 %"
