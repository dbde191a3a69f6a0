"""``qinternet repeater`` with hardware presets: the JSON contract, the sweep against PLOB, bad input in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CONTRACT = ("pairs_per_s", "mean_fidelity", "fidelity_ci95", "waiting_time_s", "secret_key_rate_bps", "chsh", "engine")


def test_two_rubidium_nodes_fifty_km_apart(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("repeater", "--preset", "ustc-rb", "--nodes", "2", "--length-km", "50", "--json")
    assert code == 0, err
    data = json.loads(out)
    for key in (*CONTRACT, "wall_s"):
        assert key in data
    assert set(data["waiting_time_s"]) == {"mean", "p50", "p99"}
    assert data["engine"] == "monte-carlo"
    assert data["nodes"] == 2
    assert 0.5 < data["mean_fidelity"] < 1.0
    assert data["pairs_per_s"] == pytest.approx(1 / data["waiting_time_s"]["mean"])


def test_the_issue_example_runs_and_says_how_few_pairs_it_could_draw(cli) -> None:  # type: ignore[no-untyped-def]
    argv = ["repeater", "--preset", "delft-nv", "--nodes", "3", "--length-km", "50", "--cutoff", "50ms"]
    code, out, err = cli(*argv, "--purify", "dejmps", "--pairs", "20", "--seed", "1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["purify"] == "dejmps"
    assert data["cutoff_s"] == pytest.approx(0.05)
    assert data["pairs"] >= 10


def test_both_engines_from_the_command_line(cli) -> None:  # type: ignore[no-untyped-def]
    base = ["repeater", "--preset", "oxford-ion-2025", "--nodes", "3", "--length-km", "0.01", "--json"]
    exact = json.loads(cli(*base, "--engine", "analytic")[1])
    drawn = json.loads(cli(*base, "--engine", "monte-carlo", "--pairs", "20000")[1])
    assert exact["engine"] == "analytic"
    assert drawn["engine"] == "monte-carlo"
    assert drawn["mean_fidelity"] == pytest.approx(exact["mean_fidelity"], abs=0.002)
    assert drawn["pairs_per_s"] == pytest.approx(exact["pairs_per_s"], rel=0.05)  # 20,000 rounds: ~0.7 % s.e.


def test_the_sweep_draws_key_against_the_repeaterless_bound(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plot = tmp_path / "fig.png"
    argv = ["repeater", "--preset", "ideal", "--nodes", "5", "--mode", "measure-directly", "--pairs", "300"]
    code, out, err = cli(*argv, "--distance-km", "100:700:200", "--plot", str(plot), "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["length_km"] for r in rows] == [100.0, 300.0, 500.0, 700.0]
    beats = [r["length_km"] for r in rows if r["secret_key_rate_bps"] > r["plob_bps"]]
    assert beats, "an ideal 5-node chain should beat PLOB far out"
    assert all(r["secret_key_rate_bps"] <= r["plob_bps"] for r in rows if r["length_km"] < min(beats))
    assert plot.stat().st_size > 10_000


def test_a_table_without_json(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("repeater", "--preset", "ideal", "--nodes", "2", "--length-km", "20", "--pairs", "100")
    assert code == 0
    assert "pairs/s" in out


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--nodes", "1"], "--nodes"),
        (["--cutoff", "-1"], "--cutoff"),
        (["--cutoff", "soon"], "--cutoff"),
        (["--purify", "hashing"], "--purify"),
        (["--preset", "delft-nv-2030"], "--preset"),
        (["--length-km", "-3"], "--length-km"),
        (["--p-gen", "0.1"], "--p-gen"),
        (["--plot", "fig.png"], "--plot"),
        (["--length-km", "5", "--distance-km", "5"], "--distance-km"),
        (["--mode", "sometimes"], "--mode"),
        (["--purify-level", "1"], "--purify-level"),  # without --purify
        (["--purify", "dejmps", "--purify-level", "2"], "--purify-level"),  # 3 nodes: levels 0 and 1
        (["--purify", "dejmps", "--purify-level", "-1"], "--purify-level"),
    ],
)
def test_bad_input_names_the_option(cli, args: list[str], option: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("repeater", "--preset", "ideal", "--pairs", "50", *args)
    assert code == 2, out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"qinternet: error: {option}"), lines[0]


def test_purifying_the_swapped_pair_too(cli) -> None:  # type: ignore[no-untyped-def]
    # near-term, three nodes over 100 km: --purify-level 1 also purifies the end-to-end pair after the swap, so the
    # fidelity rises (by far more than the 95 % intervals) and the rate falls (each pair takes two swapped pairs)
    base = ["repeater", "--preset", "near-term", "--nodes", "3", "--length-km", "100", "--purify", "dejmps"]
    links = json.loads(cli(*base, "--pairs", "2000", "--json")[1])
    nested = json.loads(cli(*base, "--purify-level", "1", "--pairs", "2000", "--json")[1])
    assert links["purify_levels"] == [0]
    assert nested["purify_levels"] == [0, 1]
    assert nested["fidelity_ci95"][0] > links["fidelity_ci95"][1]
    assert nested["pairs_per_s"] < links["pairs_per_s"] / 1.5


def test_an_option_of_the_other_model_is_named(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("repeater", "--model", "abstract", "--p-gen", "0.1", "--nodes", "3")
    assert code == 2
    assert err.strip().startswith("qinternet: error: --nodes: is an option of --model physical")


def test_swapping_as_soon_as_possible_runs_event_by_event(cli) -> None:  # type: ignore[no-untyped-def]
    # three nodes: one swap, so asap and nested are the same protocol; round times agree within 5 standard errors
    # (the round time's standard deviation is about its mean for geometric link times)
    base = ["repeater", "--preset", "near-term", "--nodes", "3", "--length-km", "50", "--pairs", "4000", "--json"]
    asap = json.loads(cli(*base, "--swap", "asap")[1])
    nested = json.loads(cli(*base)[1])
    assert asap["engine"] == "event-driven-asap"
    assert nested["engine"] == "monte-carlo"
    se = nested["waiting_time_s"]["mean"] * (2 / 4000) ** 0.5
    assert abs(asap["waiting_time_s"]["mean"] - nested["waiting_time_s"]["mean"]) < 5 * se
    code, _, err = cli(*base, "--swap", "asap", "--engine", "analytic")
    assert code == 2
    assert err.startswith("qinternet: error: --engine")


def test_communication_qubits_split_between_the_sides_of_a_node(cli) -> None:  # type: ignore[no-untyped-def]
    # 4 communication qubits per node: an inner node gives 2 to each side and attempts both at once
    # (tests/network/test_parallel_links.py checks the waiting times against their closed forms)
    base = ["repeater", "--preset", "ideal", "--nodes", "3", "--length-km", "10", "--pairs", "200", "--json"]
    code, out, err = cli(*base, "--communication-qubits", "4")
    assert code == 0, err
    data = json.loads(out)
    assert data["communication_qubits"] == 4
    assert data["elementary_link"]["channels"] == 2
    default = json.loads(cli(*base)[1])
    assert default["communication_qubits"] == 1
    assert default["elementary_link"]["channels"] == 1
    assert data["pairs_per_s"] > 1.5 * default["pairs_per_s"]  # 1.5 / (2p) against 2 / p periods: x 2.7
    code, _, err = cli("repeater", "--model", "abstract", "--p-gen", "0.1", "--communication-qubits", "2")
    assert code == 2
    assert "--communication-qubits" in err
    nv = ["repeater", "--preset", "delft-nv", "--nodes", "3", "--length-km", "10", "--communication-qubits", "2"]
    code, _, err = cli(*nv)
    assert code == 2
    assert "--communication-qubits" in err
    assert "one communication qubit" in err
