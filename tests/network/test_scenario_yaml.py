"""Reading scenario YAML: a small file cannot take the machine, a key is given once, and both of PyYAML's
parsers (libyaml's C one and the pure-Python one) read the same data."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
import yaml

from qinternet.network.catalogue import builtin_names, builtin_text, resolve_scenario
from qinternet.network.scenario_yaml import (
    HAS_LIBYAML,
    MAX_ALIAS_NODES,
    MAX_NESTING,
    ScenarioYamlError,
    parse_yaml,
)
from qinternet.network.schema import MAX_FILE_BYTES, ScenarioError, load_scenario

PARSERS = [pytest.param(False, id="libyaml" if HAS_LIBYAML else "python"), pytest.param(True, id="python")]

GOOD = """\
name: chain
time: {duration_s: 2h, step_s: 60s}
nodes:
  - {id: alice, kind: user, lat_deg: 46.2, lon_deg: 6.1}
  - {id: relay, kind: trusted-relay, lat_deg: 46.5, lon_deg: 6.6}
  - {id: bob, kind: user, lat_deg: 46.9, lon_deg: 7.4}
links:
  - {id: l1, a: alice, b: relay, length_km: 40}
  - {id: l2, a: relay, b: bob, length_km: 60}
demands:
  - {id: d1, a: alice, b: bob, rate_bps: 1000}
"""


def billion_laughs(levels: int, fan_out: int = 9) -> str:
    """``levels`` anchors, each a list of ``fan_out`` aliases of the one before, the last one the scenario's
    name: a walk of the result meets ``fan_out ** levels`` strings."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * fan_out)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan_out)}]" for i in range(1, levels)]
    return "\n".join([*lines, f"name: *a{levels - 1}", ""])


def yaml_errors(text: str, pure_python: bool) -> tuple[str, str]:
    with pytest.raises(ScenarioYamlError) as info:
        parse_yaml(text, pure_python=pure_python)
    return info.value.where, info.value.reason


@pytest.mark.parametrize("pure_python", PARSERS)
def test_the_billion_laughs_are_refused_at_once(pure_python: bool) -> None:
    """The issue's file: 9 levels of 9 aliases, 387 million strings once walked (63 s and 3.3 GB before)."""
    text = billion_laughs(9)
    assert len(text.encode()) < 500
    started = time.perf_counter()
    where, reason = yaml_errors(text, pure_python)
    assert time.perf_counter() - started < 5.0  # it stops at the budget: milliseconds, not a minute
    assert reason == f"aliases repeat more than {MAX_ALIAS_NODES:,} YAML nodes (the limit of a scenario file)"
    assert where.startswith("line ")


def test_the_billion_laughs_through_load_scenario_and_resolve_scenario(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(billion_laughs(10))
    for load in (lambda: load_scenario(path), lambda: resolve_scenario(str(path))):
        with pytest.raises(ScenarioError, match="aliases repeat more than") as info:
            load()
        [(where, _)] = info.value.errors
        assert where.startswith("line ")


@pytest.mark.parametrize("pure_python", PARSERS)
def test_aliases_within_the_budget_are_read_as_copies(pure_python: bool) -> None:
    text = GOOD.replace("links:\n", "cheap: &cheap {detector: {efficiency: 0.2}}\nlinks:\n")
    text = text.replace("length_km: 40}", "length_km: 40, devices: *cheap}")
    text = text.replace("length_km: 60}", "length_km: 60, devices: *cheap}")
    data = parse_yaml(text, pure_python=pure_python)
    assert isinstance(data, dict)
    assert [link["devices"] for link in data["links"]] == [{"detector": {"efficiency": 0.2}}] * 2
    # Just under the budget: 1 + 9 nodes per anchor repeated: 2 levels of 9 aliases of 9-entry lists.
    assert parse_yaml(billion_laughs(3), pure_python=pure_python)["name"] == [[["lol"] * 9] * 9] * 9


@pytest.mark.parametrize("pure_python", PARSERS)
def test_an_alias_inside_its_own_anchor_is_refused(pure_python: bool) -> None:
    assert yaml_errors("name: &a [x, *a]\n", pure_python) == (
        "line 1, column 14",
        "alias *a is inside the node it names (a cycle)",
    )
    assert yaml_errors("name: &m {self: *m}\n", pure_python)[1] == "alias *m is inside the node it names (a cycle)"


@pytest.mark.parametrize("pure_python", PARSERS)
def test_deep_nesting_is_refused_before_it_can_crash(pure_python: bool) -> None:
    """PyYAML composes recursively: 100,000 levels crashed the C composer and raised RecursionError in Python."""
    depth = 100_000
    where, reason = yaml_errors("name: " + "[" * depth + "]" * depth, pure_python)
    assert reason == f"lists and mappings nest deeper than {MAX_NESTING} levels"
    assert where == f"line 1, column {6 + MAX_NESTING}"  # the file's own mapping is the first level
    levels = MAX_NESTING - 1
    nested = "name: " + "[" * levels + "]" * levels
    assert parse_yaml(nested, pure_python=pure_python) is not None  # the limit itself is allowed


@pytest.mark.parametrize("pure_python", PARSERS)
@pytest.mark.parametrize(
    ("text", "where", "key", "first"),
    [
        ("name: a\nseed: 1\nname: b\n", "line 3, column 1", "name", 1),
        ("links:\n  - {id: l1, length_km: 40, length_km: 4}\n", "line 2, column 29", "length_km", 2),
        ("time:\n  duration_s: 2h\n  step_s: 60s\n  duration_s: 3h\n", "line 4, column 3", "duration_s", 2),
    ],
)
def test_a_key_given_twice_is_refused_with_its_line(
    pure_python: bool, text: str, where: str, key: str, first: int
) -> None:
    assert yaml_errors(text, pure_python) == (
        where,
        f"key {key!r} appears twice in this mapping (first at line {first})",
    )


@pytest.mark.parametrize("pure_python", PARSERS)
def test_a_merge_may_be_overridden(pure_python: bool) -> None:
    """``<<: *base`` then a key of its own is YAML's way to override: not a duplicate."""
    data = parse_yaml("base: &base {a: 1, b: 2}\nx: {<<: *base, b: 3}\n", pure_python=pure_python)
    assert data == {"base": {"a": 1, "b": 2}, "x": {"a": 1, "b": 3}}


@pytest.mark.parametrize("pure_python", PARSERS)
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("seed: " + "1" * 5000, "an integer written with more than 100 characters"),
        ("seed: " + "1:" * 60 + "1", "an integer written with more than 100 characters"),  # base 60
        ("start: 2021-13-45T00:00:00Z", "'2021-13-45T00:00:00Z' is not a date and time (month must be in 1..12)"),
        ("start: 2021-02-30", "'2021-02-30' is not a date and time (day is out of range for month)"),
    ],
)
def test_values_python_cannot_build_are_marked(pure_python: bool, text: str, reason: str) -> None:
    assert yaml_errors(text, pure_python) == ("line 1, column " + str(text.index(" ") + 2), reason)


def test_yaml_errors_reach_load_scenario_with_their_line() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(GOOD + "seed: 1\nseed: 2\n")
    assert info.value.errors == [("line 13, column 1", "key 'seed' appears twice in this mapping (first at line 12)")]
    with pytest.raises(ScenarioError) as info:
        load_scenario("name: x\ntime: {start: 2021-13-01T00:00:00Z}\n")
    assert info.value.errors[0][0] == "line 2, column 15"


def test_a_file_larger_than_the_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    padding = "# " + "x" * MAX_FILE_BYTES + "\n"
    path = tmp_path / "big.yaml"
    path.write_text(padding + GOOD)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.errors == [(str(path), "is larger than 10 MB, the most a scenario file holds")]
    with pytest.raises(ScenarioError) as info:
        resolve_scenario(str(path))
    assert info.value.errors == [("scenario", f"{str(path)!r} is larger than 10 MB, the most a scenario file holds")]
    with pytest.raises(ScenarioError) as info:
        load_scenario(padding + GOOD)
    assert info.value.errors == [("(file)", "is larger than 10 MB, the most a scenario file holds")]
    path.write_text(GOOD)
    assert load_scenario(path).name == "chain"


def test_a_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "out.yaml"
    folder.mkdir()
    for name in (str(folder), str(tmp_path)):
        with pytest.raises(ScenarioError) as info:
            resolve_scenario(name)
        assert info.value.errors == [("scenario", f"{name!r} is a folder, not a scenario file")]
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    assert info.value.errors == [(str(tmp_path), "is a folder, not a scenario file")]


@pytest.mark.parametrize("name", builtin_names())
def test_both_parsers_read_every_builtin_scenario_as_pyyaml_did(name: str) -> None:
    text = builtin_text(name)
    before = yaml.safe_load(text)  # what scenarios were read with until now
    assert parse_yaml(text) == before
    assert parse_yaml(text, pure_python=True) == before


def large_scenario(users: int, relays_per_user: int) -> str:
    """A ring of ``users`` cities (users that relay key), each with a chain of trusted relays to the next
    one, written as a user would (one flow mapping per line); a demand from every city to the opposite one."""
    lines = [
        "name: large-ring",
        "time: {duration_s: 24h, step_s: 60s}",
        "link_defaults: {preset: lim2014, block_s: 10min}",
        "nodes:",
    ]
    for u in range(users):
        lines.append(f"  - {{id: city-{u}, kind: user, trusted: true, lat_deg: {u % 90}, lon_deg: {u % 180}}}")
        lines += [
            f"  - {{id: relay-{u}-{r}, kind: trusted-relay, lat_deg: {u % 90}, lon_deg: {r % 180}}}"
            for r in range(relays_per_user)
        ]
    lines.append("links:")
    for u in range(users):
        hops = [f"city-{u}", *(f"relay-{u}-{r}" for r in range(relays_per_user)), f"city-{(u + 1) % users}"]
        lines += [
            f"  - {{id: l-{u}-{h}, a: {a}, b: {b}, length_km: {10 + (u + h) % 70}}}"
            for h, (a, b) in enumerate(itertools.pairwise(hops))
        ]
    lines.append("demands:")
    lines += [
        f"  - {{id: d-{u}, a: city-{u}, b: city-{(u + users // 2) % users}, rate_bps: {100 + u}}}" for u in range(users)
    ]
    return "\n".join(lines) + "\n"


def test_a_large_generated_scenario_loads_correctly() -> None:
    """2,000 nodes and 2,000 links (the loading benchmark goes to 10,000): every value where it belongs."""
    users, relays = 200, 9
    text = large_scenario(users, relays)
    spec = load_scenario(text)
    assert len(spec.nodes) == users * (relays + 1)
    assert len(spec.links) == users * (relays + 1)
    assert len(spec.demands) == users
    assert spec.node("relay-123-4").kind.value == "trusted-relay"
    assert spec.node("city-77").lat_deg == 77.0
    for i in (0, 1234, len(spec.links) - 1):
        link = spec.links[i]
        u, h = (int(part) for part in link.id.split("-")[1:])
        assert link.length_km == 10 + (u + h) % 70
        assert link.block_s == 600.0  # from link_defaults
    assert [d.rate_bps for d in spec.demands[:3]] == [100.0, 101.0, 102.0]
    data = parse_yaml(text, pure_python=True)
    assert isinstance(data, dict)
    assert spec == load_scenario(data)


def test_demands_across_a_cut_ring_are_found_among_thousands_of_nodes() -> None:
    """Remove one link of segment 5 and one of segment 150: cities 6-150 are cut off from the others, and
    exactly the demands between the two arcs have no chain of trusted nodes."""
    users, relays = 200, 9
    text = large_scenario(users, relays)
    cut = "\n".join(line for line in text.splitlines() if "id: l-5-4," not in line and "id: l-150-0," not in line)
    with pytest.raises(ScenarioError) as info:
        load_scenario(cut)
    arc = set(range(6, 151))
    expected = [
        (f"demands[{u}]", f"no chain of links through trusted nodes joins 'city-{u}' and 'city-{v}'")
        for u in range(users)
        if (u in arc) != ((v := (u + users // 2) % users) in arc)
    ]
    assert len(expected) == 2 * 55  # the 55 cities of the short arc, and their partners on the long one
    assert info.value.errors == expected
