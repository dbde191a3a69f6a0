"""A photonic-teleportation link in a scenario: what it refuses (by YAML path), and its application's figures."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from qinternet.apps.network_apps import run_scenario
from qinternet.network.catalogue import resolve_scenario
from qinternet.network.schema import ScenarioError, load_scenario


def _chicago() -> dict[str, Any]:
    data = resolve_scenario("chicago-teleportation")[0].model_dump(mode="json")
    data["time"]["duration_s"] = 10.0
    data["time"]["step_s"] = 10.0
    return data


def _errors(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as err:
        load_scenario(data)
    return err.value.errors


def test_a_teleportation_on_another_kind_of_link_is_refused() -> None:
    data = _chicago()
    data["links"].append({"id": "f", "kind": "fibre", "a": "charlie", "b": "bob", "length_km": 10})
    data["applications"] = [{"app": "teleportation", "link": "f"}]
    (path, reason), *_ = _errors(data)
    assert path == "applications[0].link"
    assert "not a photonic-teleportation link" in reason


def test_a_fibre_receiver_with_an_uplink_and_a_satellite_without_one_are_refused() -> None:
    data = _chicago()
    data["links"][0]["free_space"] = {"night_only": True}
    assert any(path.startswith("links[0]") and "not a satellite" in why for path, why in _errors(data))
    uplink = resolve_scenario("micius-teleportation-uplink")[0].model_dump(mode="json")
    del uplink["links"][0]["free_space"]
    assert any(path.startswith("links[0]") and "give the uplink's optics" in why for path, why in _errors(uplink))


def test_a_day_time_uplink_and_a_bright_source_are_refused() -> None:
    uplink = resolve_scenario("micius-teleportation-uplink")[0].model_dump(mode="json")
    day = copy.deepcopy(uplink)
    day["links"][0]["free_space"]["night_only"] = False
    assert any("night only" in why for _, why in _errors(day))
    bright = _chicago()
    bright["links"][0]["teleporter"]["pair_mean_number"] = 0.8
    assert any(path == "links[0].teleporter.pair_mean_number" for path, _ in _errors(bright))


def test_the_application_reports_the_links_figures_and_its_draw() -> None:
    result = run_scenario(load_scenario(_chicago()))
    app = result.summary.applications[0]
    assert (app["app"], app["metric"], app["nodes"]) == ("teleportation", "average_fidelity", ["charlie", "bob"])
    details = app["details"]
    assert sum(details["events_per_basis"]) == details["events"] > 0
    assert details["events_per_s"] * 10.0 == pytest.approx(details["expected_events"])
    assert details["receiver_loss_db"] == [pytest.approx(4.4), pytest.approx(4.4)]
    assert result.summary.links[0].secret_bits == 0  # the link makes no key
