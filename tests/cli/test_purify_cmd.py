"""``qinternet purify``: the JSON contract scripts rely on, and bad input in one line."""

from __future__ import annotations

import json

import pytest


def _bbpssw(f: float) -> tuple[float, float]:
    # Bennett et al., PRL 76, 722 (1996): F' = (F^2 + ((1-F)/3)^2) / N, N = F^2 + 2F(1-F)/3 + 5((1-F)/3)^2
    b = (1.0 - f) / 3.0
    n = f * f + 2.0 * f * b + 5.0 * b * b
    return (f * f + b * b) / n, n


def test_bbpssw_rounds_recur_on_the_previous_output(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("purify", "--protocol", "bbpssw", "--fidelity", "0.7", "--rounds", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["protocol"] == "bbpssw"
    assert data["input_fidelity"] == 0.7
    f = 0.7
    for number, row in enumerate(data["rounds"], start=1):
        f, n = _bbpssw(f)
        assert row["round"] == number
        assert row["fidelity"] == pytest.approx(f)
        assert row["success_probability"] == pytest.approx(n)
    assert len(data["rounds"]) == 3


def test_dejmps_beats_bbpssw_and_pumping_is_offered(cli) -> None:  # type: ignore[no-untyped-def]
    fid = {}
    for protocol in ("bbpssw", "dejmps"):
        _, out, _ = cli("purify", "--protocol", protocol, "--fidelity", "0.7", "--rounds", "3", "--json")
        fid[protocol] = json.loads(out)["rounds"][-1]["fidelity"]
    assert fid["dejmps"] > fid["bbpssw"] > 0.7
    code, out, _ = cli("purify", "--protocol", "dejmps", "--fidelity", "0.9", "--rounds", "2", "--schedule", "pumping")
    assert code == 0
    assert "pumping" in out


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--protocol", "dejmps", "--fidelity", "1.2"], "--fidelity"),
        (["--protocol", "dejmps", "--fidelity", "-0.1"], "--fidelity"),
        (["--protocol", "hashing", "--fidelity", "0.8"], "--protocol"),
        (["--protocol", "dejmps", "--fidelity", "0.8", "--rounds", "0"], "--rounds"),
    ],
)
def test_bad_input_names_the_option(cli, args: list[str], option: str) -> None:  # type: ignore[no-untyped-def]
    code, _out, err = cli("purify", *args)
    assert code == 2
    assert err.strip().startswith("qinternet: error: ")
    assert option in err
    assert len(err.strip().splitlines()) == 1
