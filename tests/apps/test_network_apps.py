"""Applications run from scenarios: the built-in oxford-dqc-2025, bad options, requests that get no pair."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import yaml

from qinternet.apps.distributed import grover_success_probabilities, teleported_gate_fidelity
from qinternet.apps.entangled_qkd import entanglement_qkd
from qinternet.apps.network_apps import run_scenario
from qinternet.network.catalogue import builtin_text
from qinternet.network.schema import ScenarioError, load_scenario
from qinternet.params.processor import processor_of
from qinternet.params.repeater_presets import repeater_preset
from qinternet.states import bell


@pytest.fixture(scope="module")
def oxford() -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(run_scenario("oxford-dqc-2025").to_json())
    return summary


def test_oxford_applications_use_the_pairs_the_network_delivered(oxford: dict[str, Any]) -> None:
    (request,) = oxford["entanglement"]
    assert request["pairs"] == 2000
    assert request["met"]
    apps = {a["app"]: a for a in oxford["applications"]}
    assert set(apps) == {"gate-teleportation", "distributed-grover", "teleportation"}
    # the exact values of the pair's state and the preset's processors, computed here independently of the runner
    proc = processor_of(repeater_preset("oxford-ion-2025").node, qubits=2)
    f = request["mean_fidelity"]
    exact_cz = apps["gate-teleportation"]["details"]["process_fidelity"]
    grover = apps["distributed-grover"]["details"]["success_probability_exact"]
    assert 0.80 < exact_cz < f  # a teleported CZ is at most as good as its pair (F_pro = p0 for perfect gates)
    for app in apps.values():
        lo, hi = app["ci95"]
        assert lo <= app["value"] <= hi
    # the shots' estimates agree with the exact values within their intervals' width (4 sigma ~ 2 x the 95 % half width)
    cz = apps["gate-teleportation"]
    assert abs(cz["value"] - exact_cz) <= 2 * (cz["ci95"][1] - cz["ci95"][0])
    assert abs(apps["distributed-grover"]["value"] - np.mean(grover)) <= 2 * (
        apps["distributed-grover"]["ci95"][1] - apps["distributed-grover"]["ci95"][0]
    )
    # teleportation's exact average fidelity with perfect local gates would be (2F+1)/3; noisy gates lower it
    assert apps["teleportation"]["details"]["exact_average_fidelity"] <= (2 * f + 1) / 3 + 1e-12
    assert proc.qubits == 2


def test_oxford_exact_values_equal_the_library_functions_on_the_delivered_state(oxford: dict[str, Any]) -> None:
    preset = repeater_preset("oxford-ion-2025")
    proc = processor_of(preset.node, qubits=2)
    from qinternet.network.repeater import compile_link

    state = np.array(compile_link(preset, 0.002).state)  # a two-node chain without waits delivers the link's state
    apps = {a["app"]: a for a in oxford["applications"]}
    wait = apps["teleportation"]["details"]["classical_latency_s"]
    exact = teleported_gate_fidelity(state, proc, proc, wait_s=wait)
    assert apps["gate-teleportation"]["details"]["process_fidelity"] == pytest.approx(exact.process_fidelity, abs=1e-9)
    # the register waits for the diffusion's pair: the request's mean time per pair
    pair_wait = oxford["entanglement"][0]["latency_s"]
    assert apps["distributed-grover"]["details"]["pair_wait_s"] == pair_wait > 0
    grover = grover_success_probabilities(state, proc, proc, wait_s=wait, pair_wait_s=pair_wait)
    np.testing.assert_allclose(apps["distributed-grover"]["details"]["success_probability_exact"], grover, atol=1e-9)


def _with(changes: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(builtin_text("oxford-dqc-2025"))
    data.update(changes)
    return data


def test_a_bad_application_option_is_named() -> None:
    data = _with(
        {"applications": [{"app": "gate-teleportation", "request": "bell-pairs", "options": {"gate": "swap"}}]}
    )
    with pytest.raises(ScenarioError, match=r"applications\[0\]\.options\.gate: must be cz or cnot"):
        run_scenario(load_scenario(data), duration="20s")
    data = _with({"applications": [{"app": "teleportation", "request": "bell-pairs", "options": {"colour": 1}}]})
    with pytest.raises(ScenarioError, match=r"applications\[0\]\.options\.colour: is not an option"):
        run_scenario(load_scenario(data), duration="20s")


def test_an_application_whose_request_got_no_pair_says_so() -> None:
    data = _with(
        {
            "requests": [{"id": "bell-pairs", "a": "module-a", "b": "module-b", "pairs": 10, "min_fidelity": 1.0}],
            "applications": [{"app": "teleportation", "request": "bell-pairs"}],
        }
    )
    summary = json.loads(run_scenario(load_scenario(data), duration="20s").to_json())
    (request,) = summary["entanglement"]
    assert not request["met"]
    assert "purification" in request["unmet_reason"]
    (app,) = summary["applications"]
    # the pairs that did arrive (purified as far as the planner could) still serve the application
    assert app["value"] is None or 0.5 < app["value"] <= 1.0


def test_entanglement_qkd_rate_is_the_shor_preskill_rate_of_the_sifted_pairs() -> None:
    state = bell.werner(bell.werner_of_fidelity(0.95))
    got = entanglement_qkd(state, 100_000, 10.0, nodes=("a", "b"))
    # Werner: e_x = e_z = 2(1 - F)/3; rate = pairs/2 * (1 - 2 h(e)) / duration
    e = 2 * (1 - 0.95) / 3
    h = -e * np.log2(e) - (1 - e) * np.log2(1 - e)
    assert got.value == pytest.approx(100_000 / 2 * (1 - 2 * h) / 10.0, rel=1e-12)
    assert got.ci95[0] < got.value < got.ci95[1]
    # a state past the BB84 threshold (11 %) gives no key
    assert entanglement_qkd(bell.werner(bell.werner_of_fidelity(0.8)), 1000, 1.0, nodes=("a", "b")).value == 0.0


def test_a_blind_computation_runs_on_a_request_and_needs_a_big_enough_server() -> None:
    data = _with({"applications": [{"app": "blind", "request": "bell-pairs", "shots": 300, "options": {"marked": 2}}]})
    with pytest.raises(ScenarioError, match=r"applications\[0\]: blind holds 4 qubits at 'module-b', which has 2"):
        load_scenario(data)
    data["nodes"][1]["qubits"] = 4
    summary = json.loads(run_scenario(load_scenario(data), duration="20s").to_json())
    (app,) = summary["applications"]
    assert app["metric"] == "blind_correct_fraction"
    assert app["details"]["expected_output"] == 2
    # the trap failure rate sampled agrees with the closed form of the pair and the server's noise: 4 binomial sigma
    # of the per-trap rate over the test rounds' traps (8 traps per round, 300 rounds at least)
    exact = app["details"]["trap_failure_probability_exact"]
    sigma = (exact * (1 - exact) / (8 * 300)) ** 0.5
    assert abs(app["details"]["trap_failure_rate"] - exact) < 4 * sigma


def test_every_application_runs_from_one_scenario() -> None:
    data = _with(
        {
            "requests": [
                {"id": "kept", "a": "module-a", "b": "module-b", "pairs": 400, "min_fidelity": 0.9},
                {"id": "measured", "a": "module-a", "b": "module-b", "pairs": 400, "use": "measure"},
            ],
            "applications": [
                {"app": "teleportation", "request": "kept", "shots": 200},
                {"app": "chsh", "request": "measured"},
                {"app": "qkd", "request": "measured"},
                {"app": "gate-teleportation", "request": "kept", "shots": 200, "options": {"gate": "cnot"}},
                {"app": "distributed-grover", "request": "kept", "shots": 200, "options": {"marked": 1}},
                {"app": "clock-sync", "request": "kept", "options": {"true_offset_ps": 50, "frequency_hz": 1e9}},
                {"app": "qpacket", "request": "kept", "shots": 500},
            ],
        }
    )
    summary = json.loads(run_scenario(load_scenario(data), duration="60s").to_json())
    metrics = [a["metric"] for a in summary["applications"]]
    assert metrics == [
        "average_fidelity",
        "chsh_s",
        "secret_key_rate_bps",
        "cnot_fidelity",
        "grover_success_probability",
        "clock_offset_ps",
        "payload_fidelity",
    ]
    for app in summary["applications"]:
        lo, hi = app["ci95"]
        assert lo <= app["value"] <= hi, app["app"]
    clock = summary["applications"][5]
    assert clock["ci95"][0] < 50 < clock["ci95"][1] or abs(clock["value"] - 50) < 4 * (
        clock["ci95"][1] - clock["ci95"][0]
    )
    chsh = summary["applications"][1]
    assert chsh["value"] > 2.0  # an Oxford pair (F ~0.94) violates the bound


def test_entanglement_qkd_key_feeds_a_pool_and_a_demand() -> None:
    data = _with(
        {
            "requests": [{"id": "measured", "a": "module-a", "b": "module-b", "pairs_per_s": 50, "use": "measure"}],
            "applications": [{"app": "qkd", "request": "measured"}],
        }
    )
    data["links"].append(
        {
            "id": "key",
            "kind": "entanglement-qkd",
            "a": "module-a",
            "b": "module-b",
            "request": "measured",
            "block_s": 10,
        }
    )
    data["demands"] = [{"id": "app-key", "a": "module-a", "b": "module-b", "rate_bps": 1}]
    summary = json.loads(run_scenario(load_scenario(data), duration="60s").to_json())
    key = next(link for link in summary["links"] if link["id"] == "key")
    (qkd,) = summary["applications"]
    (row,) = summary["entanglement"]
    # the link's key over the run is the application's rate times the run, up to the rounding of each block to
    # whole bits and the error-correction inefficiency the link charges (f = 1.16 on h(e_z); the app takes f = 1)
    assert 0 < key["secret_bits"] <= qkd["value"] * 60 + 6
    assert key["secret_bits"] > 0.5 * qkd["value"] * 60
    assert row["pairs"] > 0
    (demand,) = summary["demands"]
    assert demand["delivered_bits"] > 0
    # a request that keeps its pairs cannot make key
    data["requests"][0]["use"] = "keep"
    data["applications"] = []
    with pytest.raises(ScenarioError, match=r"links\[1\]\.request: request 'measured' keeps its pairs"):
        load_scenario(data)


def test_too_few_pairs_for_an_application_is_reported_not_raised() -> None:
    data = _with(
        {
            "requests": [{"id": "few", "a": "module-a", "b": "module-b", "pairs": 1, "use": "measure"}],
            "applications": [{"app": "chsh", "request": "few"}],
        }
    )
    summary = json.loads(run_scenario(load_scenario(data), duration="20s").to_json())
    (app,) = summary["applications"]
    assert app["value"] is None
    assert "needs 40 pairs; the request got 1" in app["unmet"]
