"""``qinternet sweep`` and ``qinternet studies`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qinternet.sweep.runner import read_results

STUDY = """
name: tiny
description: two detector efficiencies, two seeds
base: {kind: keyrate, settings: {distance_km: 60}}
vary:
  - {field: detector.efficiency, values: [0.1, 0.2]}
  - {field: detector.dark_count_prob, values: [1.0e-6, 1.0e-5]}
seeds: 2
metrics: [key_rate_per_pulse]
"""


def _file(tmp_path: Path, text: str = STUDY) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return str(path)


def test_studies_list_and_show(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("studies", "list", "--json")
    assert code == 0
    listed = {row["name"]: row for row in json.loads(out)}
    assert {"keyrate-vs-detector", "repeater-spacing", "bristol-detectors"} <= set(listed)
    assert listed["keyrate-vs-detector"]["runs"] == 13 * 7
    code, out, _ = cli("studies", "show", "keyrate-vs-detector")
    assert code == 0
    assert "detector.dark_count_prob" in out


def test_a_sweep_writes_parquet_figures_and_a_report_and_continues_where_it_stopped(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code, text, err = cli("sweep", _file(tmp_path), "--out", str(out), "--workers", "1", "--json")
    assert code == 0, err
    done = json.loads(text)
    assert (done["runs"], done["ran"], done["resumed"], done["workers"]) == (8, 8, 0, 1)
    table, _ = read_results(out / "results.parquet")
    assert table.column_names == ["detector.efficiency", "detector.dark_count_prob", "seed", "key_rate_per_pulse"]
    assert (out / "report.html").read_text().count("<img") == 3  # against each field, and the map of both
    assert (out / "key_rate_per_pulse--map--detector.efficiency--detector.dark_count_prob.png").stat().st_size > 0
    code, text, _ = cli("sweep", _file(tmp_path), "--out", str(out), "--workers", "1", "--json")
    assert code == 0
    assert (json.loads(text)["ran"], json.loads(text)["resumed"]) == (0, 8)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("detector.efficiency", "detector.efficiencyy"), "detector.efficiencyy"),
        (("values: [0.1, 0.2]", "range: [0.1, 0.2], points: 0"), "vary[0].points"),
        (("[key_rate_per_pulse]", "[key_rate]"), "metrics[0]"),
        (("settings: {distance_km: 60}", "settings: {distance: 60}"), "base.settings.distance"),
        (("settings: {distance_km: 60}", "settings: {distance_km: -60}"), "base.settings.distance_km:"),
        (("values: [0.1, 0.2]", "values: [0.1, abc]"), "error: detector.efficiency: must be a number"),
    ],
)
def test_bad_studies_fail_in_one_line_naming_the_field(
    cli, tmp_path: Path, change: tuple[str, str], named: str
) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("sweep", _file(tmp_path, STUDY.replace(*change)), "--out", str(tmp_path / "o"), "--workers", "1")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("qinternet: error: ")
    assert named in lines[0]


def test_a_scheduler_address_that_is_not_one_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("sweep", _file(tmp_path), "--scheduler", "not an address")
    assert code == 2
    assert "--scheduler" in err
