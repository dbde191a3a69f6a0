"""report.html's "Entanglement" section (issue 14, item 5): fidelity over time, the requests' table, memory
occupancy and the applications' outcomes beside the published figures; none of it for a QKD-only run.

Every number expected in a table is read from the run's ``summary.json`` and formatted here, so a table that
showed another request's numbers, a wrong column or a stale value fails.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from qinternet.apps.network_apps import run_scenario
from qinternet.network.run import RunResult
from qinternet.network.schema import load_scenario
from qinternet.report.entanglement import match_published, seconds
from qinternet.report.files import save_run

SMALL = """
name: small-unmet
time: {duration_s: 120, step_s: 60}
nodes:
  - {id: alice, kind: quantum-node, lat_deg: 51.76, lon_deg: -1.26, hardware: oxford-ion-2025, qubits: 2}
  - {id: bob, kind: quantum-node, lat_deg: 51.77, lon_deg: -1.25, hardware: oxford-ion-2025, qubits: 2}
  - {id: u1, kind: user, lat_deg: 51.8, lon_deg: -1.2}
  - {id: u2, kind: user, lat_deg: 51.85, lon_deg: -1.1}
links:
  - {id: ab, kind: memory, a: alice, b: bob, length_km: 0.002}
  - {id: uu, kind: fibre, a: u1, b: u2, length_km: 10}
requests:
  - {id: easy, a: alice, b: bob, pairs: 200, min_fidelity: 0.9}
  - {id: perfect, a: alice, b: bob, pairs: 5, min_fidelity: 1.0}
  - {id: many, a: alice, b: bob, pairs: 10000000, min_fidelity: 0.5}
applications:
  - {app: teleportation, request: perfect, shots: 200}
"""


class _Tables(HTMLParser):
    """Every ``<table id=...>``'s rows (header row first) as lists of cell texts; ``<h2>``/``<h3>`` texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.headings: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag in ("h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._table is not None and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag in ("h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)


def _report(result: RunResult, folder: Path) -> tuple[str, _Tables, dict[str, Any]]:
    save_run(result, folder)
    text = (folder / "report.html").read_text()
    parsed = _Tables()
    parsed.feed(text)
    summary = json.loads((folder / "summary.json").read_text())
    return text, parsed, summary


def _svg_of(text: str, gid: str) -> str:
    """The SVG of the figure whose gid is ``gid``."""
    figure = text[text.index(f'id="{gid}"') :]
    return figure[: figure.index("</svg>")]


def _rows(parsed: _Tables, table: str) -> dict[str, dict[str, str]]:
    head, *body = parsed.tables[table]
    return {row[0]: dict(zip(head, row, strict=True)) for row in body}


@pytest.fixture(scope="module")
def oxford(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, _Tables, dict[str, Any]]:
    return _report(run_scenario("oxford-dqc-2025"), tmp_path_factory.mktemp("oxford"))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, _Tables, dict[str, Any]]:
    return _report(run_scenario(load_scenario(yaml.safe_load(SMALL))), tmp_path_factory.mktemp("small"))


def test_oxford_report_has_the_entanglement_section_with_its_figures(oxford: tuple[str, _Tables, Any]) -> None:
    text, parsed, summary = oxford
    assert "Entanglement" in parsed.headings
    assert parsed.headings.index("Entanglement") < parsed.headings.index("Published figures beside this run")
    # the fidelity figure: the request's pairs, its dashed minimum, a legend naming both, time in s (60 s run)
    figure = _svg_of(text, "fidelity-over-time")
    assert "<image" in figure  # the pairs, rasterised
    assert 'id="min-fidelity:bell-pairs"' in figure
    assert "<!-- bell-pairs: 2,000 pairs -->" in figure  # the legend
    assert "<!-- bell-pairs: minimum fidelity -->" in figure
    assert "<!-- delivery time (s) -->" in figure
    # memory occupancy: one bar label per node, the summary's value
    assert 'id="memory-occupancy"' in text
    figure = _svg_of(text, "memory-occupancy")
    for node, share in summary["memory_occupancy"].items():  # matplotlib's SVG names each text in a comment
        assert f"<!-- {node} -->" in figure
        assert f"<!-- {share * 100:.1f} % -->" in figure


def test_oxford_request_table_shows_the_summary_numbers(oxford: tuple[str, _Tables, Any]) -> None:
    _, parsed, summary = oxford
    rows = _rows(parsed, "requests")
    (entry,) = summary["entanglement"]
    row = rows[entry["request"]]
    assert row["pairs delivered"] == f"{entry['pairs']:,} of {entry['wanted_pairs']:,.0f}" == "2,000 of 2,000"
    p5, _, p95 = entry["fidelity_p5_p50_p95"]
    assert row["mean fidelity (5 % to 95 %)"] == f"{entry['mean_fidelity']:.4f} ({p5:.4f} to {p95:.4f})"
    assert row["minimum"] == "0.9000"
    assert row["latency"] == seconds(entry["latency_s"])
    assert row["latency"].endswith(" ms")  # 5.7 ms, not 0.0057 s
    assert row["path"] == "module-a - module-b"
    assert row["purification rounds"] == str(entry["purify_rounds"])
    assert row["share of the path"] == "100 %"
    assert row["outcome"] == "met"


def test_oxford_applications_table_beside_the_published_figures(oxford: tuple[str, _Tables, Any]) -> None:
    _, parsed, summary = oxford
    rows = _rows(parsed, "applications")
    assert list(rows) == [app["app"] for app in summary["applications"]]
    for app in summary["applications"]:
        row = rows[app["app"]]
        assert row["metric"] == app["metric"]
        assert row["nodes"] == ", ".join(app["nodes"])
        assert row["value"] == f"{app['value']:.4g}"
        assert row["95 % interval"] == f"{app['ci95'][0]:.4g} to {app['ci95'][1]:.4g}"
    # the rule of match_published: the CZ and Grover figures of Main et al. go to their applications, the
    # pair fidelity (quoted in the press) to none, and the teleported CZ gate not to plain teleportation
    assert rows["gate-teleportation"]["published"].startswith("86 % (teleported CZ gate fidelity;")
    assert rows["distributed-grover"]["published"].startswith("71 % (distributed Grover success rate;")
    assert rows["teleportation"]["published"] == "-"


def test_memory_links_make_no_key_figures(oxford: tuple[str, _Tables, Any]) -> None:
    text, parsed, _ = oxford
    # the only link is a memory link: no pools figure, no key links table, no "no key" on the map
    assert "Links" not in parsed.headings
    assert "Demands" not in parsed.headings
    assert "Key pools" not in text
    assert "no key in the run" not in text
    assert "0 bit/s" not in text
    assert "memory link (entangled pairs, no key)" in text


def test_an_unmet_request_shows_its_reason_and_key_links_stay(small: tuple[str, _Tables, Any]) -> None:
    text, parsed, summary = small
    rows = _rows(parsed, "requests")
    entries = {e["request"]: e for e in summary["entanglement"]}
    assert set(rows) == set(entries) == {"easy", "perfect", "many"}
    assert entries["easy"]["met"]
    assert rows["easy"]["outcome"] == "met"
    for rid in ("perfect", "many"):
        assert not entries[rid]["met"]
        assert rows[rid]["outcome"] == f"unmet: {entries[rid]['unmet_reason']}"
        assert rows[rid]["pairs delivered"] == f"{entries[rid]['pairs']:,} of {entries[rid]['wanted_pairs']:,.0f}"
    assert "purification" in rows["perfect"]["outcome"]
    assert rows["perfect"]["purification rounds"] == str(entries["perfect"]["purify_rounds"]) != "0"
    assert rows["many"]["pairs delivered"].endswith("of 10,000,000")
    figure = _svg_of(text, "fidelity-over-time")
    for rid, entry in entries.items():  # every request has its points and its dashed minimum in the figure
        assert f'id="min-fidelity:{rid}"' in figure
        assert f"<!-- {rid}: {entry['pairs']:,} pairs -->" in figure
    # the fibre link keeps its place in the key sections; the memory link is not among them
    key_table = next(t for t in parsed.tables.values() if t and t[0][:2] == ["link", "kind"])
    assert [row[0] for row in key_table[1:]] == ["uu"]
    assert "Key pools" in text
    # an application on the unmet request: no published figures in this scenario, so none beside it
    apps = _rows(parsed, "applications")
    assert apps["teleportation"]["value"] == f"{summary['applications'][0]['value']:.4g}"
    assert apps["teleportation"]["published"] == "-"


def test_a_qkd_only_run_has_no_entanglement_section(tmp_path: Path) -> None:
    text, parsed, _ = _report(run_scenario("chicago-ieqnet", duration="120s"), tmp_path)
    assert "Entanglement" not in text
    assert "fidelity-over-time" not in text
    assert "memory-occupancy" not in text
    assert parsed.headings[:3] == ["Demands", "Figures", "Links"]
    assert "Key pools" in text
    assert re.search(r"Simulated 120 s from", text)  # a short run in seconds, not "0.0333333 h"


def test_match_published_rule() -> None:
    class Figure:
        def __init__(self, quantity: str) -> None:
            self.quantity = quantity

    apps = [
        {"app": "teleportation", "metric": "average_fidelity"},
        {"app": "chsh", "metric": "chsh_s"},
        {"app": "gate-teleportation", "metric": "cz_fidelity"},
    ]
    figures = [
        Figure("teleportation average fidelity"),
        Figure("CHSH S value"),
        Figure("teleported CZ gate fidelity"),
        Figure("remote Bell pair fidelity"),  # one keyword (fidelity): beside no application
    ]
    shown = match_published(apps, figures)  # type: ignore[arg-type]
    assert [[f.quantity for f in s] for s in shown] == [
        ["teleportation average fidelity"],
        ["CHSH S value"],  # "chsh" and "s"
        ["teleported CZ gate fidelity"],
    ]
