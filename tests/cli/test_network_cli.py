"""``qinternet run``, ``scenario validate|schema`` and ``scenarios list|show`` as a user types them."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml

from qinternet.network.catalogue import builtin_names, builtin_text


def test_run_writes_summary_series_and_report(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code, stdout, _ = cli("run", "beijing-shanghai", "--duration", "2h", "--out", str(out), "--json")
    assert code == 0, stdout
    summary = json.loads(stdout)
    assert summary == json.loads((out / "summary.json").read_text()) | {"wall_s": summary["wall_s"]}
    assert summary["duration_s"] == 7200.0
    assert len(summary["links"]) == 35
    for link in summary["links"]:
        assert {"secret_bits", "mean_rate_bps", "qber", "uptime"} <= set(link)
        assert link["secret_bits"] > 0
    for demand in summary["demands"]:
        assert demand["delivered_bits"] + demand["unmet_bits"] == pytest.approx(demand["wanted_bits"])
    assert any(node["pools"] for node in summary["nodes"])
    rows = list(csv.DictReader((out / "links.csv").open()))
    assert len(rows) == 120 * 35  # a row per link per minute
    assert {r["link"] for r in rows} == {link["id"] for link in summary["links"]}
    last = {r["link"]: float(r["generated_bits"]) for r in rows[-35:]}
    assert all(last[link["id"]] == link["secret_bits"] for link in summary["links"])  # full precision
    report = (out / "report.html").read_text()
    assert report.count("<svg") >= 3  # map, pools, demands, rates: inline, self-contained
    assert 'src="http' not in report


def test_run_table_output_names_the_demands(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, stdout, _ = cli("run", "beijing-shanghai", "--duration", "30min", "--out", str(tmp_path))
    assert code == 0
    assert "demands over 0.5 h" in stdout
    assert "Weakest links" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "atlantis"], "is neither a built-in scenario"),
        (["run", "beijing-shanghai", "--duration", "0"], "--duration: must be > 0"),
        (["run", "beijing-shanghai", "--duration", "soon"], "--duration: 'soon' is not a duration"),
        (["run", "beijing-shanghai", "--step", "1ps"], "--step: gives"),
        (["run", "beijing-shanghai", "--seed", "-4"], "--seed: must be >= 0"),
        (["scenarios", "show", "atlantis"], "no built-in scenario 'atlantis'"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_run_refuses_an_output_path_that_is_a_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "taken"
    target.write_text("")
    code, _, err = cli("run", "beijing-shanghai", "--duration", "1h", "--out", str(target))
    assert code == 2
    assert "--out" in err


def test_validate_names_every_bad_field(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(builtin_text("beijing-shanghai"))
    data["links"][3]["length_km"] = -1
    data["links"][5]["b"] = "atlantis"
    data["time"]["duration_s"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    code, out, err = cli("scenario", "validate", str(bad))
    assert code == 2
    assert "time.duration_s: must be > 0, got 0" in err
    assert "links[3].length_km: must be > 0, got -1" in err
    assert out == ""


def test_validate_accepts_a_good_file_and_checks_its_devices(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.yaml"
    good.write_text(builtin_text("beijing-shanghai"))
    code, out, _ = cli("scenario", "validate", str(good))
    assert code == 0
    assert "valid scenario 'beijing-shanghai': 36 nodes, 35 links, 4 demands" in out
    data = yaml.safe_load(good.read_text())
    data["links"][0]["devices"] = {"detector": {"efficiency": 2}}
    good.write_text(yaml.safe_dump(data))
    code, _, err = cli("scenario", "validate", str(good))
    assert code == 2
    assert "links[0].devices.detector.efficiency" in err


def test_schema_is_json_schema(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("scenario", "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "links" in schema["properties"]
    target = tmp_path / "schema.json"
    assert cli("scenario", "schema", "--out", str(target))[0] == 0
    assert json.loads(target.read_text()) == schema


def test_scenarios_list_and_show(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("scenarios", "list", "--json")
    assert code == 0
    assert [row["name"] for row in json.loads(out)] == builtin_names()
    code, out, _ = cli("scenarios", "show", "beijing-shanghai")
    assert code == 0
    assert out == builtin_text("beijing-shanghai")
    assert yaml.safe_load(out)["name"] == "beijing-shanghai"


def test_run_can_switch_every_link_to_monte_carlo(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The analytic run gives every block the same key; the Monte-Carlo run draws them (seeded)."""
    runs = {}
    for model in ("analytic", "monte-carlo"):
        code, out, _ = cli(
            "run", "beijing-shanghai", "--duration", "1h", "--model", model, "--out", str(tmp_path / model), "--json"
        )
        assert code == 0
        runs[model] = {link["id"]: link for link in json.loads(out)["links"]}
    assert all(link["model"] == "monte-carlo" for link in runs["monte-carlo"].values())
    analytic, drawn = runs["analytic"], runs["monte-carlo"]
    assert any(drawn[k]["secret_bits"] != analytic[k]["secret_bits"] for k in analytic)
    # A drawn block's key spreads by ~0.64 % (relative sd over 40 blocks of the first link); six blocks:
    # 0.26 %; five of those plus the 0.2 % bias of the non-linear key length: 1.5 %.
    for k in analytic:
        assert drawn[k]["secret_bits"] == pytest.approx(analytic[k]["secret_bits"], rel=0.015)
    code, _, err = cli("run", "beijing-shanghai", "--model", "quantum-magic")
    assert code == 2
    assert "--model" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["time"].update(start="1850-01-01T00:00:00Z"), "time.start: satellite passes cannot be computed"),
        (lambda d: d["links"][0].update(block_s="1us"), "links[0].block_s: makes"),
        (lambda d: d["links"][0].update(devices={"source": {"rep_rate_hz": 1e18}}), "faster than any QKD source"),
    ],
)
def test_validate_catches_what_only_building_the_links_finds(cli, tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(builtin_text("space-ground-4600km"))
    change(data)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    code, _, err = cli("scenario", "validate", str(bad))
    assert code == 2
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("start", "duration", "field"),
    [("9999-12-30T00:00:00Z", "4d", "time.start"), ("2053-10-07T00:00:00Z", "4d", "time.duration_s")],
)
def test_run_refuses_satellite_dates_outside_the_ephemeris(
    cli, tmp_path: Path, start: str, duration: str, field: str
) -> None:  # type: ignore[no-untyped-def]
    """A start in year 9999 once ended in an OverflowError traceback; now both ends of the run are checked."""
    data = yaml.safe_load(builtin_text("micius"))
    data["time"].update(start=start, duration_s=duration)
    late = tmp_path / "late.yaml"
    late.write_text(yaml.safe_dump(data))
    code, _, err = cli("run", str(late), "--out", str(tmp_path / "out"))
    assert code == 2
    assert f"{field}: satellite passes cannot be computed" in err
    assert "1899-07-29 to 2053-10-08 UTC" in err
    assert "Traceback" not in err


def test_a_file_that_is_not_utf8(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    for command in (("scenario", "validate"), ("run",)):
        code, _, err = cli(*command, str(bad))
        assert code == 2
        assert "not UTF-8" in err


def test_the_same_run_writes_the_same_files(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name in ("one", "two"):
        assert cli("run", "micius", "--duration", "12h", "--out", str(tmp_path / name))[0] == 0
    for file in ("links.csv", "demands.csv", "report.html"):
        one, two = ((tmp_path / run / file).read_bytes() for run in ("one", "two"))
        if file == "report.html":  # how long the run took is the one thing a report may not repeat
            one, two = (re.sub(rb"in [0-9.]+ s of wall time", b"in - s of wall time", r) for r in (one, two))
            assert b"in - s of wall time" in one
        assert one == two, file
