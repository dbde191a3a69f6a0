"""docs/validation.md stays true: every built-in scenario has a row, and each ``qinternet`` row's figure is what the
model gives now and lies within the row's stated tolerance of the published figure.

``qinternet run`` rows are re-run with :func:`qinternet.run_scenario` at the row's duration (each scenario and
duration once) and read from the summary's published comparisons, as ``run`` writes them to summary.json;
``qinternet keyrate`` rows are run through the CLI. ``pytest`` rows name the validation test that makes the
comparison; here it must exist.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qinternet.cli.app import app
from qinternet.network.catalogue import builtin_names
from qinternet.network.published import PublishedComparison
from qinternet.network.run import run_scenario

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "validation.md"
DOC_ROUNDING = 0.02
"""The page prints three significant figures (2031, 4.08, 0.494): a relative difference above 2 % is a stale row."""
NUMBER = re.compile(r"-?\d[\d,]*\.?\d*(?:e-?\d+)?")


@dataclass(frozen=True)
class Row:
    system: str
    figure: str
    published: str
    qinternet: str
    tolerance: str
    command: str


def rows() -> list[Row]:
    table = [line for line in DOC.read_text().splitlines() if line.startswith("| ") and not line.startswith("| System")]
    parsed = []
    for line in table:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 6, line
        parsed.append(Row(*cells[:5], cells[5].strip("`")))
    return parsed


def first_number(text: str) -> float:
    found = NUMBER.search(text)
    assert found is not None, text
    return float(found.group().replace(",", ""))


def within(tolerance: str, ours: float, published: float) -> bool:
    """Whether ``ours`` meets the row's tolerance against ``published`` (the grammar of the page's legend)."""
    if tolerance == "exact":
        return ours == published
    if match := re.fullmatch(r"factor ([\d.]+)", tolerance):
        factor = float(match.group(1))
        return 1 / factor < ours / published < factor
    if match := re.fullmatch(r"factor ([\d.]+), doubled", tolerance):
        factor = float(match.group(1))
        return 1 / factor < 2 * ours / published < factor
    if match := re.fullmatch(r"above, factor ([\d.]+)", tolerance):
        return 1.0 < ours / published < float(match.group(1))
    if match := re.fullmatch(r"over, \+([\d.]+) %", tolerance):
        return published < ours < published * (1 + float(match.group(1)) / 100)
    if match := re.fullmatch(r"±([\d.]+) %", tolerance):
        return abs(ours / published - 1) <= float(match.group(1)) / 100
    if match := re.fullmatch(r"±([\d.]+) \S+", tolerance):
        return abs(ours - published) <= float(match.group(1))
    if match := re.fullmatch(r"below /([\d.]+)", tolerance):
        return ours <= published / float(match.group(1))
    raise AssertionError(f"unknown tolerance {tolerance!r}")


@functools.cache
def published_of(scenario: str, duration: str) -> dict[str, PublishedComparison]:
    summary = run_scenario(scenario, duration=duration).summary
    return {p.quantity: p for p in summary.published}


def run_figure(row: Row) -> float:
    args = shlex.split(row.command)
    assert args[:2] == ["qinternet", "run"], row.command
    assert args[3] == "--duration", row.command
    comparison = published_of(args[2], args[4])[row.figure]
    assert comparison.simulated is not None, row
    return float(comparison.simulated)


def keyrate_figure(row: Row) -> float:
    result = CliRunner().invoke(app, [*shlex.split(row.command)[1:], "--quiet"])
    assert result.exit_code == 0, result.output
    point = json.loads(result.output)
    per_pulse = float(point["key_rate_per_pulse"])
    unit = row.qinternet.split()[1]
    if unit == "per":
        return per_pulse
    scale = {"bit/s": 1.0, "kbit/s": 1e-3, "Mbit/s": 1e-6}[unit]
    return per_pulse * point["parameters"]["source"]["rep_rate_hz"] * scale


QINTERNET_ROWS = [row for row in rows() if row.command.startswith("qinternet ")]


def test_every_built_in_scenario_has_a_row() -> None:
    named = {row.system.split()[0] for row in rows()}
    assert set(builtin_names()) <= named, sorted(set(builtin_names()) - named)


def test_pytest_rows_name_existing_validation_tests() -> None:
    for row in rows():
        if row.command.startswith("pytest "):
            assert (ROOT / row.command.split()[1]).is_file(), row.command
        else:
            assert row.command.startswith(("qinternet run ", "qinternet keyrate ")), row.command


@pytest.mark.parametrize("row", QINTERNET_ROWS, ids=[f"{r.system.split()[0]}: {r.figure}" for r in QINTERNET_ROWS])
def test_the_row_is_what_the_model_gives_and_meets_its_tolerance(row: Row) -> None:
    ours = run_figure(row) if row.command.startswith("qinternet run ") else keyrate_figure(row)
    printed = first_number(row.qinternet)
    assert ours == pytest.approx(printed, rel=DOC_ROUNDING), (row.figure, ours)
    assert within(row.tolerance, printed, first_number(row.published)), row
