"""Scenario files: every bad field is named by its path, with the reason; good files load."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from qinternet.network.build import link_system
from qinternet.network.catalogue import builtin_names, builtin_text, resolve_scenario
from qinternet.network.links.registry import LINK_KINDS
from qinternet.network.links.twin_field import PhaseReferenceSpec
from qinternet.network.schema import (
    MAX_TEXT_CHARS,
    ClassicalChannelSpec,
    DemandSpec,
    FreeSpaceSpec,
    NodeSpec,
    OrbitSpec,
    PublishedFigure,
    Scenario,
    ScenarioError,
    TimeSpec,
    load_scenario,
    parse_duration_s,
    scenario_json_schema,
)


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
        ({"links": [{"id": "l1", "a": "alice", "b": "bob"}]}, "links[0].length_km", "is required"),
        (
            {"links": [{"id": "l1", "a": "alice", "b": "bob", "length_km": 5, "colour": 1}]},
            "links[0].colour",
            "is not a field of a fibre link",
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
    assert ("links[0].classical_channels", "is not a field of an entanglement link") in errors_of(
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


# ---------------------------------------------------------------------------------------------------
# Strict input


def _number_fields() -> list[tuple[type[BaseModel], str]]:
    """Every field of every section of a scenario file whose type is a number (possibly optional)."""
    sections: list[type[BaseModel]] = [
        Scenario,
        TimeSpec,
        PublishedFigure,
        NodeSpec,
        OrbitSpec,
        *(entry.spec for entry in LINK_KINDS),
        PhaseReferenceSpec,
        ClassicalChannelSpec,
        FreeSpaceSpec,
        DemandSpec,
    ]
    return [
        (model, name)
        for model in sections
        for name, field in model.model_fields.items()
        if re.search(r"\b(int|float)\b", str(field.annotation))
    ]


def test_the_number_fields_are_all_found() -> None:
    names = {f"{model.__name__}.{name}" for model, name in _number_fields()}
    assert {
        "FibreLinkSpec.length_km",
        "FibreLinkSpec.block_s",
        "MdiLinkSpec.length_a_km",
        "TwinFieldLinkSpec.length_b_km",
        "DemandSpec.priority",
        "Scenario.seed",
        "TimeSpec.duration_s",
        "FreeSpaceSpec.wavelength_nm",
        "OrbitSpec.altitude_km",
        "PublishedFigure.value",
    } <= names
    assert not {"FibreLinkSpec.optimise_settings", "NodeSpec.trusted", "FibreLinkSpec.id"} & names


@pytest.mark.parametrize(("model", "name"), _number_fields(), ids=lambda v: getattr(v, "__name__", v))
def test_no_number_field_takes_a_boolean(model: type[BaseModel], name: str) -> None:
    """pydantic's lax mode reads true as 1: every number of every section refuses it instead."""
    with pytest.raises(ValidationError) as info:
        model.model_validate({name: True})
    [error] = [e for e in info.value.errors() if e["loc"] == (name,)]
    assert error["type"] == "number"


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"links": [{"id": "l1", "a": "alice", "b": "bob", "length_km": True}]}, "links[0].length_km"),
        (
            {"demands": [{"id": "d1", "a": "alice", "b": "bob", "rate_bps": 5, "priority": False}]},
            "demands[0].priority",
        ),
        ({"seed": True}, "seed"),
        ({"time": {"duration_s": True}}, "time.duration_s"),
        ({"nodes": [{"id": "alice", "kind": "user", "lat_deg": True, "lon_deg": 6.1}]}, "nodes[0].lat_deg"),
        ({"published": [{"quantity": "q", "value": True, "source": "s"}]}, "published[0].value"),
    ],
)
def test_a_boolean_for_a_number_is_named(changes: dict[str, Any], path: str) -> None:
    assert (path, f"must be a number, got {'true' if 'False' not in str(changes) else 'false'}") in errors_of(
        scenario(**changes)
    )


def test_whole_numbers_and_durations_still_count_as_numbers() -> None:
    data = scenario(link_defaults={"pool_capacity_bits": 10**12, "block_s": "10min"})
    data["links"][0] = {**data["links"][0], "length_km": 40, "eps_sec": "1e-9"}
    spec = load_scenario(data)
    assert spec.links[0].length_km == 40.0
    assert spec.links[0].eps_sec == 1e-9  # a string with a number, as YAML 1.1 reads 1e-9
    assert spec.links[1].pool_capacity_bits == 1e12
    assert spec.links[1].block_s == 600.0


def test_a_boolean_in_a_list_of_device_numbers_is_refused() -> None:
    data = scenario()
    data["links"][0] = {**data["links"][0], "devices": {"source": {"decoy_intensities": [True, 0.1]}}}
    with pytest.raises(ScenarioError, match=r"links\[0\]\.devices\.source\.decoy_intensities: must be a list"):
        link_system(load_scenario(data).links[0], "links[0]")


@pytest.mark.parametrize(
    ("node", "kind"),
    [
        ({"id": "relay2", "kind": "trusted-relay", "lat_deg": 0, "lon_deg": 0}, "trusted-relay"),
        ({"id": "src", "kind": "entanglement-source", "lat_deg": 0, "lon_deg": 0}, "entanglement-source"),
        ({"id": "sat", "kind": "satellite", "orbit": {"altitude_km": 500}}, "satellite"),
    ],
)
def test_a_demand_ends_at_users_not_at_infrastructure(node: dict[str, Any], kind: str) -> None:
    nodes = [*scenario()["nodes"], node]
    demands = [{"id": "d1", "a": "alice", "b": node["id"], "rate_bps": 5}]
    assert (
        "demands[0].b",
        f"node {node['id']!r} is {'an' if kind.startswith(('e', 'u')) else 'a'} {kind}; "
        "a demand ends at a user, a ground station or a quantum-node",
    ) in errors_of(scenario(nodes=nodes, demands=demands))


def test_a_demand_may_end_at_a_ground_station_or_a_trusted_user() -> None:
    """Ground stations host applications (qinternet serve micius); a trusted user is a backbone city."""
    nodes = scenario()["nodes"]
    nodes[1] = {"id": "relay", "kind": "ground-station", "lat_deg": 46.5, "lon_deg": 6.6}
    load_scenario(scenario(nodes=nodes, demands=[{"id": "d1", "a": "alice", "b": "relay", "rate_bps": 5}]))
    nodes[1] = {"id": "relay", "kind": "user", "trusted": True, "lat_deg": 46.5, "lon_deg": 6.6}
    load_scenario(scenario(nodes=nodes, demands=[{"id": "d1", "a": "alice", "b": "relay", "rate_bps": 5}]))


def _joined(neighbours: dict[str, set[str]], trusted: dict[str, bool], a: str, b: str) -> bool:
    """Whether a path joins ``a`` and ``b`` whose inner nodes are all trusted (breadth-first search)."""
    seen, frontier = {a}, [a]
    while frontier:
        node = frontier.pop()
        for nxt in neighbours[node] - seen:
            if nxt == b:
                return True
            if trusted[nxt]:
                seen.add(nxt)
                frontier.append(nxt)
    return False


def test_demands_are_joined_exactly_when_a_path_through_trusted_nodes_exists() -> None:
    """Random networks of users and trusted relays against the definition: a path whose inner nodes all
    relay key (a breadth-first search over the nodes a path may pass through, for each demand)."""
    rng = random.Random(11)
    for _ in range(40):
        n = rng.randint(3, 12)
        trusted = {f"n{i}": rng.random() < 0.5 for i in range(n)}
        nodes = [
            {"id": node, "kind": "user", "trusted": relays, "lat_deg": 0, "lon_deg": 0}
            for node, relays in trusted.items()
        ]
        pairs = {tuple(sorted(rng.sample(sorted(trusted), 2))) for _ in range(rng.randint(1, 2 * n))}
        links = [{"id": f"l{k}", "a": a, "b": b, "length_km": 10} for k, (a, b) in enumerate(sorted(pairs))]
        wanted = [tuple(rng.sample(sorted(trusted), 2)) for _ in range(6)]
        demands = [{"id": f"d{k}", "a": a, "b": b, "rate_bps": 1} for k, (a, b) in enumerate(wanted)]
        neighbours: dict[str, set[str]] = {node: set() for node in trusted}
        for a, b in pairs:
            neighbours[a].add(b)
            neighbours[b].add(a)
        expected = [f"demands[{k}]" for k, (a, b) in enumerate(wanted) if not _joined(neighbours, trusted, a, b)]
        try:
            load_scenario(scenario(nodes=nodes, links=links, demands=demands))
            found: list[str] = []
        except ScenarioError as exc:
            found = [path for path, _ in exc.errors]
        assert found == expected


# ---------------------------------------------------------------------------------------------------
# Our words, not pydantic's


_PYDANTIC_WORDS = ("Input should", "valid tuple", "Value error", "pydantic", "should have", "Keys should", "[key]")
_WRONG_VALUES: list[object] = [
    True,
    "abc",
    "",
    "x" * 300,
    [1, 2],
    {"x": 1},
    1.5,
    -1,
    10**30,
    None,
    float("nan"),
    float("inf"),
    date(2021, 1, 1),
    datetime(2021, 1, 1, tzinfo=UTC),
    "2021-13-45",
    {1: 2},
]


def _with(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """A scenario with a satellite, a ground station, a free-space link and a classical channel, and the
    field at ``path`` set to ``value``."""
    data = scenario(
        published=[{"quantity": "q", "value": 1, "source": "s"}],
        sources=["s"],
        link_defaults={"block_s": 60},
    )
    data["nodes"] += [
        {"id": "sat", "kind": "satellite", "orbit": {"altitude_km": 500, "epoch": "2021-01-01T00:00:00Z"}},
        {"id": "gs", "kind": "ground-station", "lat_deg": 40, "lon_deg": 116},
    ]
    data["links"] += [{"id": "down", "kind": "free-space", "a": "sat", "b": "gs", "free_space": {}}]
    data["links"][0]["classical_channels"] = [{"launch_power_dbm": 0}]
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


_FIELDS: list[tuple[str | int, ...]] = [
    ("name",),
    ("description",),
    ("sources",),
    ("sources", 0),
    ("published",),
    ("published", 0),
    ("published", 0, "value"),
    ("published", 0, "quantity"),
    ("seed",),
    ("time",),
    ("time", "start"),
    ("time", "duration_s"),
    ("link_defaults",),
    ("nodes",),
    ("nodes", 0),
    ("nodes", 0, "id"),
    ("nodes", 0, "kind"),
    ("nodes", 0, "name"),
    ("nodes", 0, "lat_deg"),
    ("nodes", 0, "trusted"),
    ("nodes", 3, "orbit"),
    ("nodes", 3, "orbit", "tle"),
    ("nodes", 3, "orbit", "altitude_km"),
    ("nodes", 3, "orbit", "epoch"),
    ("links",),
    ("links", 0, "id"),
    ("links", 0, "kind"),
    ("links", 0, "length_km"),
    ("links", 0, "protocol"),
    ("links", 0, "preset"),
    ("links", 0, "devices"),
    ("links", 0, "model"),
    ("links", 0, "optimise_settings"),
    ("links", 0, "block_s"),
    ("links", 0, "classical_channels"),
    ("links", 0, "classical_channels", 0),
    ("links", 0, "classical_channels", 0, "direction"),
    ("links", 0, "classical_channels", 0, "launch_power_dbm"),
    ("links", 2, "free_space"),
    ("links", 2, "free_space", "wavelength_nm"),
    ("links", 2, "free_space", "night_only"),
    ("links", 0, "eps_sec"),
    ("demands",),
    ("demands", 0, "priority"),
    ("demands", 0, "rate_bps"),
]


@pytest.mark.parametrize("path", _FIELDS, ids=lambda p: ".".join(map(str, p)))
def test_wrong_values_are_explained_in_our_words(path: tuple[str | int, ...]) -> None:
    """Every kind of field (text, whole number, number, true/false, date and time, list, mapping, choice,
    section) with values of every other kind: the messages name the field and never repeat pydantic's."""
    explained = 0
    for value in _WRONG_VALUES:
        try:
            load_scenario(_with(path, value))
        except ScenarioError as exc:
            for where, reason in exc.errors:
                assert not any(words in f"{where}: {reason}" for words in _PYDANTIC_WORDS), (where, reason)
                assert "function-" not in where
                assert len(reason) < 200
                explained += 1
    assert explained >= len(_WRONG_VALUES) // 2


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        ({"links": {"l1": 1}}, "links", "must be a list, got a mapping"),
        ({"time": {"start": "soon"}}, "time.start", "must be a date and time such as 2021-01-06T00:00:00Z, got 'soon'"),
        ({"time": {"start": "0001-01-01T00:00:00+01:00"}}, "time.start", "is outside the years 1 to 9999 in UTC"),
        ({"seed": "many"}, "seed", "must be a whole number, got 'many'"),
        ({"seed": 1.5}, "seed", "must be a whole number, got 1.5"),
        ({"sources": "a paper"}, "sources", "must be a list, got 'a paper'"),
        ({"description": ["a", "b"]}, "description", "must be text, got a list"),
        ({"name": ""}, "name", "must not be empty"),
        (
            {"published": [{"quantity": "q", "value": float("nan"), "source": "s"}]},
            "published[0].value",
            "must be a finite number, got nan",
        ),
        ({"time": "24h"}, "time", "must be a mapping of fields (name: value, ...), got '24h'"),
    ],
)
def test_wrong_values_get_these_messages(changes: dict[str, Any], path: str, reason: str) -> None:
    assert any(p == path and r.startswith(reason) for p, r in errors_of(scenario(**changes))), errors_of(
        scenario(**changes)
    )


def test_field_names_and_keys_that_are_not_text() -> None:
    nodes = scenario()["nodes"]
    nodes[0] = {**nodes[0], 7: "x"}
    assert ("nodes[0]", "field names must be text, got 7") in errors_of(scenario(nodes=nodes))
    links = scenario()["links"]
    links[0] = {**links[0], "devices": {1: 2}}
    assert ("links[0].devices", "keys must be text, got 1") in errors_of(scenario(links=links))
    assert errors_of(scenario(link_defaults={1: 2, "colour": 3})) == [
        ("link_defaults.1", "is not a field every link can share"),
        ("link_defaults.colour", "is not a field every link can share"),
    ]


def test_texts_are_bounded_and_the_limit_is_named() -> None:
    """A description is copied into summary.json and report.html: 10,000 characters at most."""
    assert errors_of(scenario(description="x" * 50_000)) == [
        ("description", "must have at most 10,000 characters (it has 50,000)")
    ]
    assert load_scenario(scenario(description="x" * MAX_TEXT_CHARS)).description == "x" * MAX_TEXT_CHARS
    links = scenario()["links"]
    links[0] = {**links[0], "devices": {"spdc": {"statistics": "y" * 20_000}}}
    assert errors_of(scenario(links=links)) == [
        ("links[0].devices", "holds a text of 20,000 characters; at most 10,000")
    ]


def test_the_json_schema_tells_the_link_kinds_apart_and_takes_durations() -> None:
    """Editors validating against ``qinternet scenario schema`` see which ``kind`` selects which link model, and
    that a duration may be written ``24h`` as well as in seconds."""
    schema = scenario_json_schema()
    kinds = {
        name: model["properties"]["kind"]["const"]
        for name, model in schema["$defs"].items()
        if name.endswith("LinkSpec")
    }
    assert kinds == {entry.spec.__name__: entry.kind.value for entry in LINK_KINDS}
    duration = schema["$defs"]["TimeSpec"]["properties"]["duration_s"]
    pattern = next(branch["pattern"] for branch in duration["anyOf"] if branch.get("type") == "string")
    assert re.match(pattern, "24h")
    assert not re.match(pattern, "soon")
