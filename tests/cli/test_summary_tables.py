"""The tables ``qinternet run`` prints: readable at 80 columns, ids whole, units scaled, met in %."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from qinternet.cli.network_cmd import _print_summary


def summary() -> dict[str, Any]:
    def link(link_id: str, kind: str, rate: float) -> dict[str, Any]:
        return {
            "id": link_id, "kind": kind, "mean_rate_bps": rate, "expected_rate_bps": rate, "qber": 0.0782,
            "uptime": 1.0, "pool_bits_final": 1.728e10,
        }  # fmt: skip

    def demand(demand_id: str, a: str, b: str, met: float) -> dict[str, Any]:
        return {
            "id": demand_id, "a": a, "b": b, "priority": 1, "wanted_bits": 1.44e9, "delivered_bits": 1.44e9 * met,
            "met_fraction": met, "paths": [{"links": ["x", "y"], "bits": 1.0}],
        }  # fmt: skip

    return {
        "scenario": "chicago-ieqnet",
        "duration_s": 86400.0,
        "entanglement": None,  # a QKD network: no requests, no applications (RunSummary holds None)
        "applications": None,
        "alarms": [],  # no link raised one, and the scenario has no attacks
        "attacks": None,
        "demands": [
            demand("fermilab-northwestern", "fermilab", "northwestern", 0.682),
            demand("argonne-northwestern", "argonne", "northwestern", 1.0),
        ],
        "links": [
            link("starlight--northwestern", "fibre", 1.06e6),
            link("xl-relay-1--xl-relay-2", "entanglement", 5.53e4),
            link("micius--xinglong", "free-space", 1.73),
        ],
    }


def records(value: Any) -> Any:
    """The summary's dicts as records with attributes, as :class:`~qinternet.network.summary.RunSummary` has."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: records(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(records(v) for v in value)
    return value


def printed(width: int) -> str:
    out = io.StringIO()
    _print_summary(Console(file=out, width=width, color_system=None), records(summary()))
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 120])
def test_ids_stay_whole_and_lines_fit(width: int) -> None:
    text = printed(width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    words = text.split()
    for name in ("starlight--northwestern", "xl-relay-1--xl-relay-2", "micius--xinglong", "fermilab-northwestern"):
        assert name in words, name
    assert "entanglement" in words  # the link's kind too


def test_numbers_carry_scaled_units_and_met_is_a_percentage() -> None:
    text = " ".join(printed(120).split())
    assert "e+" not in text
    for shown in ("17.3 Gbit", "1.06 Mbit/s", "55.3 kbit/s", "1.73 bit/s", "68.2 %", "100 %", "7.82 %"):
        assert shown in text


def test_run_prints_them_at_80_columns(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli("run", "chicago-ieqnet", "--duration", "20min", "--out", str(tmp_path))
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out
    for name in ("starlight--northwestern", "fermilab-northwestern", "argonne-northwestern"):
        assert name in out.split()


def test_keyrate_plot_of_one_distance(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plot = tmp_path / "one.png"
    code, _, _ = cli("keyrate", "--distance-km", "50", "--plot", str(plot))
    assert code == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
