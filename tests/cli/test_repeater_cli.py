"""``qinternet repeater --model abstract``: the JSON contract, both engines, and bad input in one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qinternet.entanglement import AbstractChainParams, run_abstract_chain

EXAMPLE = [
    "repeater",
    "--model",
    "abstract",
    "--p-gen",
    "0.1",
    "--p-swap",
    "0.5",
    "--segments",
    "4",
    "--w0",
    "0.99",
    "--coherence-attempts",
    "400",
    "--cutoff-attempts",
    "5",
    "--pairs",
    "1e5",
    "--seed",
    "1",
]
PARAMS = AbstractChainParams(p_gen=0.1, p_swap=0.5, segments=4, w0=0.99, coherence_attempts=400.0, cutoff_attempts=5)


def test_the_example_prints_the_contract_from_the_analytic_engine(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(*EXAMPLE, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["engine"] == "analytic"
    assert set(data["waiting_time_attempts"]) >= {"mean", "p50", "p99"}
    for key in ("mean_werner", "secret_key_rate_per_attempt", "p_gen", "p_swap", "segments", "w0"):
        assert key in data
    assert data["coherence_attempts"] == 400
    assert data["cutoff_attempts"] == 5
    library = run_abstract_chain(PARAMS, pairs=1, engine="analytic", rng=np.random.default_rng(0))
    assert data["waiting_time_attempts"]["mean"] == library.mean_waiting_attempts
    assert data["mean_werner"] == library.mean_werner
    assert data["secret_key_rate_per_attempt"] == library.secret_key_rate_per_attempt


def test_the_monte_carlo_engine_agrees_and_repeats_itself(cli) -> None:  # type: ignore[no-untyped-def]
    argv = [*EXAMPLE, "--pairs", "2e4", "--engine", "monte-carlo", "--json"]
    code, out, err = cli(*argv)
    assert code == 0, err
    data = json.loads(out)
    assert data["engine"] == "monte-carlo"
    assert data["pairs"] == 20_000
    assert data["seed"] == 1
    exact = json.loads(cli(*EXAMPLE, "--json")[1])
    # The 95 % interval widened to 4 standard errors holds the exact mean.
    for interval, value in (
        (data["waiting_time_attempts"]["mean_ci95"], exact["waiting_time_attempts"]["mean"]),
        (data["mean_werner_ci95"], exact["mean_werner"]),
    ):
        centre, half = sum(interval) / 2, (interval[1] - interval[0]) / 2
        assert abs(centre - value) <= 4 / 1.96 * half
    assert cli(*argv)[1] == out  # same seed, same numbers


def test_a_chain_too_long_for_the_analytic_engine_is_sampled_unless_analytic_was_asked(cli) -> None:  # type: ignore[no-untyped-def]
    argv = ["repeater", "--model", "abstract", "--p-gen", "1e-8", "--segments", "1", "--pairs", "2000", "--json"]
    code, out, err = cli(*argv)
    assert code == 0, err
    data = json.loads(out)
    assert data["engine"] == "monte-carlo"
    low, high = data["waiting_time_attempts"]["mean_ci95"]
    assert abs((low + high) / 2 - 1e8) <= 4 / 1.96 * (high - low) / 2
    code, out, err = cli(*argv, "--engine", "analytic")
    assert code == 2
    assert err.strip().startswith("qinternet: error: --engine: ")
    assert len(err.strip().splitlines()) == 1


def test_the_table_shows_the_answer(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(*EXAMPLE)
    assert code == 0, err
    assert "Repeater chain (abstract model, analytic engine)" in out
    assert "mean Werner parameter" in out
    mean = run_abstract_chain(PARAMS, pairs=1, engine="analytic", rng=np.random.default_rng(0)).mean_waiting_attempts
    assert f"{mean:.6g}" in out


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--p-gen", "0"),
        ("--p-gen", "1.5"),
        ("--p-swap", "0"),
        ("--w0", "1.2"),
        ("--w0", "-0.1"),
        ("--cutoff-attempts", "-1"),
        ("--coherence-attempts", "0"),
        ("--segments", "3"),
        ("--segments", "0"),
        ("--segments", "12"),
        ("--pairs", "0"),
        ("--pairs", "2.5"),
        ("--engine", "exact"),
        ("--model", "quantum"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(cli, option: str, value: str) -> None:  # type: ignore[no-untyped-def]
    argv = list(EXAMPLE)
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]
    code, out, err = cli(*argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"qinternet: error: {option}: "), lines[0]
    assert "Traceback" not in out + err


def test_the_abstract_model_needs_p_gen(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("repeater", "--model", "abstract", "--segments", "2")
    assert code == 2
    assert err.strip().startswith("qinternet: error: --p-gen: ")


def test_no_decoherence_and_no_cutoff_by_default(cli) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(
        cli("repeater", "--model", "abstract", "--p-gen", "0.5", "--segments", "2", "--w0", "0.9", "--json")[1]
    )
    assert data["coherence_attempts"] is None
    assert data["cutoff_attempts"] is None
    assert data["mean_werner"] == pytest.approx(0.81, rel=1e-12)
    assert data["waiting_time_attempts"]["mean"] == pytest.approx((3 - 1.0) / (0.5 * 1.5), rel=1e-8)
    assert not math.isnan(data["secret_key_rate_per_attempt"])
