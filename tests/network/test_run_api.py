"""The library API behind ``qinternet run``: what a notebook or a sweep calls, with the CLI's own results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qinternet
from qinternet.errors import ParameterError
from qinternet.network.catalogue import resolve_scenario
from qinternet.network.run import RunResult, run_scenario


@pytest.fixture(scope="module")
def chicago() -> RunResult:
    return qinternet.run_scenario("chicago-ieqnet", duration="20min", step="60s", seed=3)


def test_to_json_is_what_the_cli_writes_to_summary_json(chicago: RunResult, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, _ = cli(
        "run", "chicago-ieqnet", "--duration", "20min", "--step", "60s", "--seed", "3", "--out", str(tmp_path)
    )
    assert code == 0
    written = json.loads((tmp_path / "summary.json").read_text())
    mine = json.loads(chicago.to_json())
    assert written.pop("wall_s") > 0
    assert mine.pop("wall_s") == chicago.wall_s
    assert mine == written
    assert list(mine) == list(written)  # same fields in the same order


def test_results_are_typed_records(chicago: RunResult) -> None:
    data = chicago.to_dict()
    for record, row in zip(chicago.summary.links, data["links"], strict=True):
        assert record.id == row["id"]
        assert record.mean_rate_bps == row["mean_rate_bps"]
    first = chicago.summary.links[0]
    assert chicago.summary.link(first.id) is first
    demand = chicago.summary.demands[0]
    assert demand.delivered_bits + demand.unmet_bits == pytest.approx(demand.wanted_bits)
    assert all(isinstance(path.links, tuple) for path in demand.paths)


def test_the_time_series_are_tables(chicago: RunResult) -> None:
    links = chicago.link_series()
    steps, count = chicago.network.times_s.size, len(chicago.scenario.links)
    assert len(links) == steps * count
    assert list(links.columns) == ["time_s", "link", "pool_bits", "generated_bits"]
    table = links.to_arrow()
    assert table.num_rows == steps * count
    last = [row for row in table.to_pylist() if row["time_s"] == chicago.network.times_s[-1]]
    assert [row["generated_bits"] for row in last] == [link.secret_bits for link in chicago.summary.links]
    demands = chicago.demand_series()
    assert list(demands.columns) == ["time_s", "demand", "wanted_bits", "delivered_bits"]


def test_a_scenario_object_or_a_file_runs_as_a_name_does(tmp_path: Path) -> None:
    spec, text = resolve_scenario("chicago-ieqnet")
    path = tmp_path / "chicago.yaml"
    path.write_text(text)
    by_object = run_scenario(spec, duration="5min")
    by_path = run_scenario(path, duration="5min")
    assert by_object.summary == by_path.summary


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"duration": -1}, "duration"),
        ({"duration": "forever"}, "duration"),
        ({"step": "2h", "duration": "1h"}, "step"),
        ({"seed": -4}, "seed"),
        ({"model": "quantum-magic"}, "model"),
        ({"duration": "400d"}, "duration"),
    ],
)
def test_bad_options_name_their_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        run_scenario("chicago-ieqnet", **options)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_progress_is_reported_per_stage() -> None:
    seen: dict[str, list[float]] = {}
    run_scenario(
        "chicago-ieqnet", duration="10min", on_progress=lambda stage, done: seen.setdefault(stage, []).append(done)
    )
    assert list(seen) == ["building links", "simulating"]
    for fractions in seen.values():
        assert fractions == sorted(fractions)
        assert fractions[-1] == pytest.approx(1.0)


def test_save_run_writes_the_four_files(chicago: RunResult, tmp_path: Path) -> None:
    qinternet.save_run(chicago, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["summary.json", "links.csv", "demands.csv", "report.html"]
    )
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == json.loads(chicago.to_json())
