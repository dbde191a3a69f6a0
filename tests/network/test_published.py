"""Published figures beside the run's own value of the same quantity, and the satellite passes of a run.

The matches are those of tests/validation: each simulated value here is recomputed the way the validation
test computes it, independently of qinternet.network.published.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import BuiltLink, build_links
from qinternet.network.links.free_space import downlink_loss_db
from qinternet.network.published import PublishedComparison, compare_published
from qinternet.network.schema import Scenario, load_scenario
from qinternet.network.simulate import NetworkRun, simulate
from qinternet.network.summary import satellite_passes, summarise
from qinternet.physics.freespace import elevation_deg_from_range


def empty_run(scenario: Scenario) -> NetworkRun:
    steps, links, demands = 1, len(scenario.links), len(scenario.demands)
    return NetworkRun(
        scenario=scenario,
        times_s=np.array([60.0]),
        pool_bits=np.zeros((steps, links)),
        generated_bits=np.zeros((steps, links)),
        delivered_bits=np.zeros((steps, demands)),
        wanted_bits=np.zeros((steps, demands)),
        blocks=[[] for _ in range(links)],
        discarded_bits=np.zeros(links),
    )


def by_quantity(rows: tuple[PublishedComparison, ...]) -> dict[str, dict[str, Any]]:
    return {row.quantity: dataclasses.asdict(row) for row in rows}


def links_only(links: list[dict[str, Any]]) -> Any:
    """A stand-in summary holding only links with the given fields (what the counting figures read)."""
    return SimpleNamespace(links=[SimpleNamespace(**link) for link in links])


def test_the_backbone_length_and_relays_of_beijing_shanghai() -> None:
    scenario = resolve_scenario("beijing-shanghai")[0]
    rows = by_quantity(compare_published(scenario, empty_run(scenario), links_only([]), None))
    assert rows["fibre backbone length"]["simulated"] == pytest.approx(
        sum(link.length_km or 0 for link in scenario.links)
    )
    assert rows["fibre backbone length"]["simulated_unit"] == "km"
    assert rows["trusted relays on the backbone"]["simulated"] == 32


def test_bristol_counts_the_pairs_whose_link_made_key() -> None:
    scenario = resolve_scenario("bristol-8-user")[0]
    links = [{"a": link.a, "b": link.b, "secret_bits": 0.0 if k < 3 else 5.0} for k, link in enumerate(scenario.links)]
    rows = by_quantity(compare_published(scenario, empty_run(scenario), links_only(links), None))
    assert rows["users"]["simulated"] == 8
    assert rows["user pairs sharing key"]["simulated"] == 28 - 3
    assert rows["trusted nodes"]["simulated"] == 0
    for quantity in ("source bandwidth", "DWDM channel width"):  # no model of the source's spectrum
        assert rows[quantity]["simulated"] is None
        assert rows[quantity]["simulated_how"] == "not simulated"


@pytest.fixture(scope="module")
def micius() -> tuple[NetworkRun, list[BuiltLink], dict[str, Any]]:
    data = resolve_scenario("micius")[0].model_dump(mode="json")
    scenario = load_scenario(data)  # the scenario's 4 days
    links = build_links(scenario)
    run = simulate(scenario, [link.runner for link in links])
    summary = summarise(run, expected_rate_bps=[link.expected_rate_bps for link in links], links=links)
    return run, links, summary.to_dict() | {"records": summary}


def test_micius_figures_are_computed_as_the_validation_test_does(
    micius: tuple[NetworkRun, list[BuiltLink], dict[str, Any]],
) -> None:
    run, links, summary = micius
    rows = by_quantity(summary["records"].published)
    engine = links[0].pass_schedule
    assert engine is not None
    assert run.scenario.links[0].id == "micius--xinglong"
    for range_km in (645.0, 1200.0):
        elevation = elevation_deg_from_range(np.array([range_km]), 500.0, engine.station.altitude_m / 1e3)
        loss = float(downlink_loss_db(engine.optics, np.array([range_km]), elevation)[0])
        assert rows[f"channel loss at {range_km:g} km"]["simulated"] == pytest.approx(loss)
    # The 273 s around culmination of the pass (with key) culminating nearest 645 km.
    best = min((p for p in engine.passes if p.key_bits > 0), key=lambda p: abs(float(p.range_km.min()) - 645.0))
    centre = best.times_s[int(np.argmin(best.range_km))]
    window = np.abs(best.times_s - centre) <= 273.0 / 2
    key = engine.key_bits(engine.counts(best.loss_db[window], engine.sample_s))
    assert rows["secure key in one pass (273 s)"]["simulated"] == key
    assert rows["mean secure key rate over that pass"]["simulated"] == pytest.approx(key / 273.0 / 1e3)  # kbit/s
    assert rows["mean secure key rate over that pass"]["simulated_unit"] == "kbit/s"
    assert rows["QBER"]["simulated"] == pytest.approx(100 * summary["links"][0]["qber"])  # in %
    assert all(row["simulated"] is not None for row in rows.values())


def test_the_passes_of_a_run(micius: tuple[NetworkRun, list[BuiltLink], dict[str, Any]]) -> None:
    run, links, summary = micius
    passes = summary["passes"]
    assert passes == [dataclasses.asdict(p) for p in satellite_passes(run, links)]
    assert len(passes) == sum(len(link.pass_schedule.passes) for link in links if link.pass_schedule is not None)
    assert [p["start_s"] for p in passes] == sorted(p["start_s"] for p in passes)
    for row in passes:
        assert 10.0 <= row["max_elevation_deg"] <= 90.0  # above the links' minimum elevation
        assert row["mean_rate_bps"] == pytest.approx(row["key_bits"] / row["duration_s"])
        assert row["min_loss_db"] > 20.0
    for i, link in enumerate(summary["links"]):
        assert sum(p["key_bits"] for p in passes if p["link"] == link["id"]) == run.generated_bits[-1, i]


def test_satellites_are_placed_at_the_culmination_of_their_best_pass(
    micius: tuple[NetworkRun, list[BuiltLink], dict[str, Any]],
) -> None:
    _, links, summary = micius
    (satellite,) = [node for node in summary["nodes"] if node["kind"] == "satellite"]
    assert satellite["lat_deg"] is None  # the existing field keeps its meaning
    point = satellite["map"]
    best = max((p for link in links if link.pass_schedule for p in link.pass_schedule.passes), key=lambda p: p.key_bits)
    # At culmination the satellite is within its slant range of the station: the ground distance to Xinglong
    # is at most sqrt(range^2 - altitude^2) (flat-Earth bound; the curvature only shortens it).
    station = next(n for n in summary["nodes"] if n["id"] == "xinglong")
    dlat = np.radians(point["lat_deg"] - station["lat_deg"])
    dlon = np.radians(point["lon_deg"] - station["lon_deg"]) * np.cos(np.radians(station["lat_deg"]))
    ground_km = 6371.0 * float(np.hypot(dlat, dlon))
    assert ground_km <= np.sqrt(float(best.range_km.min()) ** 2 - 480.0**2) * 1.05
    assert len(point["track"]) > 10
