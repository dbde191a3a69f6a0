"""Scenario files: every bad field is named by its path, with the reason; good files load."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qinternet.network.build import link_system
from qinternet.network.catalogue import builtin_names, builtin_text, resolve_scenario
from qinternet.network.schema import ScenarioError, load_scenario, parse_duration_s, scenario_json_schema


def scenario(**changes: Any) -> dict[str, Any]:
    """A valid two-user chain through one trusted relay, with top-level sections replaced by ``changes``."""
    base: dict[str, Any] = {
        "name": "chain",
        "time": {"duration_s": "2h", "step_s": "60s"},
        "nodes": [
            {"id": "alice", "kind": "user", "lat_deg": 46.2, "lon_deg": 6.1},
            {"id": "relay", "kind": "trusted-relay", "lat_deg": 46.5, "lon_deg": 6.6},
            {"id": "bob", "kind": "user", "lat_deg": 46.9, "lon_deg": 7.4},
        ],
        "links": [
            {"id": "l1", "a": "alice", "b": "relay", "length_km": 40},
            {"id": "l2", "a": "relay", "b": "bob", "length_km": 60},
        ],
        "demands": [{"id": "d1", "a": "alice", "b": "bob", "rate_bps": 1000}],
    }
    return {**base, **changes}


def errors_of(data: dict[str, Any] | str) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    return info.value.errors


def test_a_good_scenario_loads_with_units_parsed() -> None:
    spec = load_scenario(scenario())
    assert spec.time.duration_s == 7200.0
    assert spec.time.step_s == 60.0
    assert [link.length_km for link in spec.links] == [40.0, 60.0]
    assert spec.links[0].block_s == 600.0  # default block


@pytest.mark.parametrize(
    ("text", "seconds"), [("24h", 86400.0), (90, 90.0), ("30 min", 1800.0), ("1.5e-3s", 1.5e-3), ("2d", 172800.0)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


def test_the_issue_example_names_the_field() -> None:
    links = scenario()["links"] + [
        {"id": "l3", "a": "alice", "b": "bob", "length_km": 10},
        {"id": "l4", "a": "alice", "b": "bob", "length_km": -3},
    ]
    assert errors_of(scenario(links=links)) == [("links[3].length_km", "must be > 0, got -3")]


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        ({"links": [{"id": "l1", "a": "alice", "b": "carol", "length_km": 5}]}, "links[0].b", "unknown node 'carol'"),
        ({"time": {"duration_s": 0}}, "time.duration_s", "must be > 0, got 0"),
        (
            {"time": {"duration_s": "soon"}},
            "time.duration_s",
            "'soon' is not a duration such as 3600, '90min' or '24h'",
        ),
        ({"links": [{"id": "l1", "a": "alice", "b": "bob"}]}, "links[0]", "a fibre link needs length_km"),
        (
            {"links": [{"id": "l1", "a": "alice", "b": "bob", "length_km": 5, "colour": 1}]},
            "links[0].colour",
            "is not a field of this section",
        ),
        ({"seed": -1}, "seed", "must be >= 0, got -1"),
        (
            {"links": [{"id": "l1", "a": "alice", "b": "alice", "length_km": 5}]},
            "links[0]",
            "joins node alice to itself",
        ),
    ],
)
def test_bad_fields_are_named(changes: dict[str, Any], path: str, reason: str) -> None:
    assert (path, reason) in errors_of(scenario(**changes))


def test_duplicate_ids_are_named_with_both_places() -> None:
    nodes = scenario()["nodes"] + [{"id": "bob", "kind": "user", "lat_deg": 0, "lon_deg": 0}]
    assert ("nodes[3].id", "duplicate id 'bob' (also nodes[2])") in errors_of(scenario(nodes=nodes))


def test_a_satellite_link_needs_a_ground_station() -> None:
    nodes = scenario()["nodes"] + [{"id": "sat", "kind": "satellite", "orbit": {"altitude_km": 500}}]
    links = scenario()["links"] + [{"id": "down", "kind": "free-space", "a": "sat", "b": "bob", "free_space": {}}]
    assert ("links[2]", "a free-space link joins a satellite and a ground station") in errors_of(
        scenario(nodes=nodes, links=links)
    )


def test_a_demand_between_disconnected_users() -> None:
    nodes = scenario()["nodes"] + [{"id": "carol", "kind": "user", "lat_deg": 0, "lon_deg": 0}]
    demands = [{"id": "d1", "a": "alice", "b": "carol", "rate_bps": 5}]
    assert ("demands[0]", "no chain of links through trusted nodes joins 'alice' and 'carol'") in errors_of(
        scenario(nodes=nodes, demands=demands)
    )


def test_a_demand_whose_only_path_crosses_a_user() -> None:
    """Users do not relay others' key: alice - bob - carol gives alice and carol no key path."""
    nodes = scenario()["nodes"] + [{"id": "carol", "kind": "user", "lat_deg": 0, "lon_deg": 0}]
    links = scenario()["links"] + [{"id": "l3", "a": "bob", "b": "carol", "length_km": 5}]
    demands = [{"id": "d1", "a": "alice", "b": "carol", "rate_bps": 5}]
    assert ("demands[0]", "no chain of links through trusted nodes joins 'alice' and 'carol'") in errors_of(
        scenario(nodes=nodes, links=links, demands=demands)
    )
    nodes[2] = {**nodes[2], "trusted": True}  # bob also runs a trusted node
    assert load_scenario(scenario(nodes=nodes, links=links, demands=demands)).node("bob").relays_key


def test_classical_channels_only_on_fibre() -> None:
    nodes = scenario()["nodes"] + [{"id": "src", "kind": "entanglement-source", "lat_deg": 0, "lon_deg": 0}]
    links = [
        {
            "id": "pair",
            "kind": "entanglement",
            "protocol": "bbm92",
            "a": "alice",
            "b": "bob",
            "source": "src",
            "length_a_km": 3,
            "length_b_km": 4,
            "classical_channels": [{"launch_power_dbm": 0}],
        }
    ]
    assert ("links[0]", "classical_channels are modelled on fibre links only") in errors_of(
        scenario(nodes=nodes, links=links, demands=[])
    )


def test_every_problem_is_reported_at_once() -> None:
    data = scenario(time={"duration_s": -1}, links=[{"id": "l1", "a": "alice", "b": "bob", "length_km": 0}])
    paths = [path for path, _ in errors_of(data)]
    assert paths == ["time.duration_s", "links[0].length_km"]


def test_malformed_yaml_names_the_line() -> None:
    [(where, reason)] = errors_of("name: x\nnodes: [\n")
    assert where.startswith("line ")
    assert "not valid YAML" in reason


def test_link_defaults_fill_links_but_a_link_wins() -> None:
    data = scenario(link_defaults={"loss_db_per_km": 0.3, "block_s": "5min"})
    data["links"][1] = {**data["links"][1], "block_s": 60}
    spec = load_scenario(data)
    assert [link.loss_db_per_km for link in spec.links] == [0.3, 0.3]
    assert [link.block_s for link in spec.links] == [300.0, 60.0]
    assert errors_of(scenario(link_defaults={"a": "alice"})) == [
        ("link_defaults.a", "is not a field every link can share")
    ]


def test_device_changes_are_checked_by_the_parameter_objects_with_the_path() -> None:
    data = scenario()
    data["links"][1] = {**data["links"][1], "devices": {"detector": {"efficiency": 1.5}}}
    spec = load_scenario(data)
    with pytest.raises(ScenarioError) as info:
        link_system(spec.links[1], "links[1]")
    [(path, reason)] = info.value.errors
    assert path == "links[1].devices.detector.efficiency"
    assert "(0, 1]" in reason
    data["links"][1] = {**data["links"][1], "devices": {"detector": {"colour": 1}}}
    with pytest.raises(ScenarioError, match=r"links\[1\]\.devices\.detector\.colour: is not a field"):
        link_system(load_scenario(data).links[1], "links[1]")


def test_device_changes_reach_the_system() -> None:
    data = scenario()
    data["links"][0] = {
        **data["links"][0],
        "devices": {"detector": {"efficiency": 0.2}, "source": {"rep_rate_hz": 2e9}},
    }
    data["links"][0]["connector_loss_db"] = 3.0
    system = link_system(load_scenario(data).links[0], "links[0]")
    assert system.detector.efficiency == 0.2
    assert system.source.rep_rate_hz == 2e9
    assert system.fibre.insertion_loss_db == 3.0


def test_the_json_schema_describes_the_sections() -> None:
    schema = scenario_json_schema()
    json.dumps(schema)  # serialisable
    assert {"nodes", "links", "demands", "time"} <= set(schema["properties"])
    assert schema["required"] == ["name", "nodes", "links"]


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_scenario_is_valid(name: str) -> None:
    spec, text = resolve_scenario(name)
    assert spec.name == name
    assert text == builtin_text(name)
    assert spec.sources, "a built-in scenario cites its sources"
    assert spec.description


def test_unknown_names_and_missing_files() -> None:
    with pytest.raises(ScenarioError, match="neither a built-in scenario"):
        resolve_scenario("atlantis")
    with pytest.raises(ScenarioError, match="does not exist"):
        resolve_scenario("missing.yaml")
