"""A study's point runs what its base's command runs: same settings and seed, same numbers; bad paths are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qinternet.errors import ParameterError
from qinternet.network.schema_base import ScenarioError
from qinternet.params.serialise import dump_json
from qinternet.sweep.bases import _assign, evaluate, lookup, prepare, scalar_metrics
from qinternet.sweep.study import BaseKind


def test_a_keyrate_point_equals_the_keyrate_command(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli(
        "keyrate", "--distance-km", "80", "--detector-efficiency", "0.2", "--dark-count-prob", "3e-6", "--json"
    )
    assert code == 0
    expected = json.loads(out)
    got = evaluate(
        BaseKind.KEYRATE,
        {"distance_km": 80},
        {"detector.efficiency": 0.2, "detector.dark_count_prob": 3e-6},
        seed=1,
    )
    for name in ("key_rate_per_pulse", "qber", "gain", "signal_intensity"):
        assert got[name] == expected[name], name


def test_a_varied_setting_is_a_setting_not_a_device_field() -> None:
    near = evaluate(BaseKind.KEYRATE, {}, {"distance_km": 10.0}, seed=1)
    far = evaluate(BaseKind.KEYRATE, {}, {"distance_km": 120.0}, seed=1)
    assert near["distance_km"] == 10.0
    assert far["distance_km"] == 120.0
    assert far["key_rate_per_pulse"] < near["key_rate_per_pulse"]


def test_a_repeater_point_equals_the_repeater_command(cli) -> None:  # type: ignore[no-untyped-def]
    argv = ["--preset", "near-term", "--nodes", "3", "--length-km", "150", "--pairs", "300", "--seed", "4"]
    code, out, _ = cli("repeater", *argv, "--json")
    assert code == 0
    expected = json.loads(out)
    got = evaluate(BaseKind.REPEATER, {"preset": "near-term", "length_km": 150, "pairs": 300}, {"nodes": 3}, seed=4)
    for name in ("pairs_per_s", "mean_fidelity", "secret_key_rate_bps", "waiting_time_s"):
        assert got[name] == expected[name], name


def test_a_hardware_field_of_the_repeater_changes_the_memories() -> None:
    settings = {"preset": "near-term", "length_km": 150, "pairs": 300, "nodes": 3}
    short = evaluate(BaseKind.REPEATER, settings, {"hardware.node.memory.t2_s": 0.01}, seed=1)
    long = evaluate(BaseKind.REPEATER, settings, {"hardware.node.memory.t2_s": 10.0}, seed=1)
    assert short["mean_fidelity"] < long["mean_fidelity"]


NETWORK = (
    "name: net\nnodes:\n  - {id: a, kind: user, lat_deg: 0, lon_deg: 0}\n"
    "  - {id: b, kind: user, lat_deg: 0, lon_deg: 1}\n"
    "links:\n  - {id: a.b, a: a, b: b, length_km: 20, model: analytic}\n"
)
"""Two users and one fibre link whose id holds a dot (paths find list entries by id)."""


def test_a_scenario_point_writes_its_changes_into_the_file(tmp_path: Path) -> None:
    (tmp_path / "net.yaml").write_text(NETWORK)
    settings = {"scenario": str(tmp_path / "net.yaml"), "duration": "20min", "step": "10min"}
    base = evaluate(BaseKind.SCENARIO, settings, {}, seed=3)
    assert base["duration_s"] == 1200.0
    rate = "links.a.b.mean_rate_bps"
    longer = evaluate(BaseKind.SCENARIO, settings, {"links.a.b.length_km": 60.0}, seed=3)
    assert 0 < lookup(longer, rate) < lookup(base, rate)
    worse = evaluate(BaseKind.SCENARIO, settings, {"links.a.b.devices.detector.efficiency": 0.01}, seed=3)
    assert lookup(worse, rate) < lookup(base, rate)
    assert evaluate(BaseKind.SCENARIO, settings, {"time.duration_s": "10min"}, seed=3)["duration_s"] == 1200.0


def test_a_scenario_point_equals_the_run_command(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "net.yaml").write_text(NETWORK)
    argv = [str(tmp_path / "net.yaml"), "--duration", "20min", "--step", "10min", "--seed", "5", "--model"]
    code, out, _ = cli("run", *argv, "monte-carlo", "--out", str(tmp_path / "out"), "--json", "--quiet")
    assert code == 0
    expected = json.loads(out)
    settings = {"scenario": str(tmp_path / "net.yaml"), "duration": "20min", "step": "10min", "model": "monte-carlo"}
    got = evaluate(BaseKind.SCENARIO, settings, {}, seed=5)
    assert got["totals"] == expected["totals"]
    assert got["links"] == expected["links"]


def test_a_link_point_equals_the_link_command(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("link", "--pulses", "2e6", "--seed", "3", "--distance-km", "30", "--detector-efficiency", "0.1",
                       "--json")  # fmt: skip
    assert code == 0
    expected = json.loads(out)
    got = json.loads(
        dump_json(evaluate(BaseKind.LINK, {"pulses": 2e6, "distance_km": 30}, {"detector.efficiency": 0.1}, seed=3))
    )
    for name in ("detections", "sifted_bits", "classes", "single_photon_yield_lower", "key_rate_per_pulse"):
        assert got[name] == expected[name], name


@pytest.mark.parametrize(
    ("kind", "settings", "changes", "field"),
    [
        (BaseKind.KEYRATE, {}, {"detector.efficency": 0.2}, "detector.efficency"),
        (BaseKind.KEYRATE, {}, {"detector.efficiency": 1.5}, "detector.efficiency"),
        (BaseKind.KEYRATE, {"pulses": 5}, {}, "base.settings.pulses"),
        (BaseKind.KEYRATE, {"distance_km": -5}, {}, "base.settings.distance_km"),
        (BaseKind.LINK, {}, {"distance_km": -5.0}, "distance_km"),
        (BaseKind.REPEATER, {"nodes": 1}, {}, "base.settings.nodes"),
        (BaseKind.LINK, {}, {"source.signal_intensity": -1.0}, "source.signal_intensity"),
        (BaseKind.REPEATER, {}, {"nodez": 3}, "nodez"),
        (BaseKind.REPEATER, {}, {"hardware.node.memory.t2_s": -1.0}, "node.memory.t2_s"),
        (BaseKind.SCENARIO, {}, {}, "base.settings.scenario"),
    ],
)
def test_a_field_path_that_does_not_exist_or_a_refused_value_is_named(
    kind: BaseKind, settings: dict[str, object], changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ParameterError) as info:
        prepare(kind, settings, changes, 1)
    assert field in info.value.field, (info.value.field, info.value.reason)
    if field in ("distance_km", "nodes"):  # a setting is named as the study wrote it
        assert info.value.field == ("distance_km" if changes else f"base.settings.{field}")


def test_a_scenario_field_that_does_not_exist_is_named_by_its_path_in_the_scenario() -> None:
    with pytest.raises(ScenarioError) as info:
        prepare(BaseKind.SCENARIO, {"scenario": "bristol-8-user"}, {"links.alice--bob.lenght_km": 3.0}, 1)
    assert "links[0].lenght_km" in str(info.value)


def test_metrics_are_found_by_path_and_a_missing_one_is_named() -> None:
    output = {"totals": {"secret_bits": 5.0}, "links": [{"id": "a.b--c", "rate": 2.0}], "qber": None}
    assert scalar_metrics(output, ["totals.secret_bits", "links.a.b--c.rate", "qber"], BaseKind.SCENARIO) == {
        "totals.secret_bits": 5.0,
        "links.a.b--c.rate": 2.0,
        "qber": None,
    }
    with pytest.raises(ParameterError) as info:
        scalar_metrics(output, ["qber", "key_rate"], BaseKind.KEYRATE)
    assert info.value.field == "metrics[1]"
    with pytest.raises(ParameterError, match="section"):
        scalar_metrics(output, ["totals"], BaseKind.SCENARIO)


def test_assign_makes_missing_sections_and_finds_list_entries_by_id() -> None:
    data: dict[str, object] = {"links": [{"id": "x", "a": "n1"}], "time": {}}
    _assign(data, "links.x.devices.detector.efficiency", 0.3)
    _assign(data, "time.duration_s", 60)
    assert data == {"links": [{"id": "x", "a": "n1", "devices": {"detector": {"efficiency": 0.3}}}], "time": {
        "duration_s": 60
    }}  # fmt: skip
    with pytest.raises(ParameterError, match="no entry"):
        _assign(data, "links.y.length_km", 1.0)
