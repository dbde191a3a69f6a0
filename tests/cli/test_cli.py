"""The CLI contract: names, outputs and the handling of bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qinternet.qkd.record_io import load_record


def test_version(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("--version")
    assert code == 0
    assert out.startswith("qinternet ")


def test_presets_lists_sources(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("presets", "--json")
    data = json.loads(out)
    assert code == 0
    assert {p["name"] for p in data} >= {"gys2004", "lim2014", "yin2016", "liu2023"}
    assert all("citation" in p for p in data)
    families = {p["name"]: p["family"] for p in data}
    assert families["yin2016"] == "measurement-device-independent"
    assert families["liu2023"] == "twin-field"
    for p in data:  # prepare-and-measure presets keep their "system"; the others carry their "devices"
        assert ("system" in p) == (p["family"] == "prepare-and-measure")
        if "system" in p:
            assert p["system"]["detector"]["efficiency"] > 0


def test_keyrate_json_has_the_contract_fields(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("keyrate", "--protocol", "decoy-bb84", "--preset", "gys2004", "--distance-km", "50", "--json")
    assert code == 0
    data = json.loads(out)
    for key in (
        "protocol",
        "distance_km",
        "key_rate_per_pulse",
        "signal_intensity",
        "qber",
        "gain",
        "parameters",
    ):
        assert key in data
    assert data["protocol"] == "decoy-bb84"
    assert data["distance_km"] == 50
    assert 0.4 < data["signal_intensity"] < 0.55
    assert data["parameters"]["preset"] == "gys2004"
    assert data["parameters"]["misalignment_error"] == 0.033


def test_overrides_change_the_result(cli) -> None:  # type: ignore[no-untyped-def]
    base = json.loads(cli("keyrate", "--distance-km", "50", "--json")[1])
    better = json.loads(
        cli(
            "keyrate",
            "--distance-km",
            "50",
            "--json",
            "--detector-efficiency",
            "0.2",
            "--loss-db-per-km",
            "0.2",
            "--ec-efficiency",
            "1.05",
        )[1]
    )
    assert better["parameters"]["detector"]["efficiency"] == 0.2
    assert better["parameters"]["fibre"]["loss_db_per_km"] == 0.2
    assert better["key_rate_per_pulse"] > 3 * base["key_rate_per_pulse"]
    fixed = json.loads(cli("keyrate", "--distance-km", "50", "--json", "--signal-intensity", "0.3")[1])
    assert fixed["signal_intensity"] == 0.3
    assert fixed["key_rate_per_pulse"] < base["key_rate_per_pulse"]


def test_sweep_plot_and_csv(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plot, table = tmp_path / "rate.png", tmp_path / "rate.csv"
    code, out, _ = cli(
        "keyrate",
        "--protocol",
        "decoy-bb84,bb84-gllp,plob",
        "--preset",
        "gys2004",
        "--distance-km",
        "0:160:5",
        "--plot",
        str(plot),
        "--csv",
        str(table),
        "--json",
    )
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 3 * 33
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot.stat().st_size > 20_000
    with table.open() as handle:
        records = list(csv.DictReader(handle))
    assert len(records) == 99
    decoy = [r for r in records if r["protocol"] == "decoy-bb84"]
    cut = max(float(r["distance_km"]) for r in decoy if float(r["key_rate_per_pulse"]) > 0)
    assert cut == 140.0  # the grid point before the 142 km cut-off of Ma et al. (2005)
    gllp = [r for r in records if r["protocol"] == "bb84-gllp"]
    assert max(float(r["distance_km"]) for r in gllp if float(r["key_rate_per_pulse"]) > 0) in {35.0, 40.0}


def test_svg_plot_and_table_output(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plot = tmp_path / "rate.svg"
    code, out, _ = cli("keyrate", "--protocol", "bbm92,tgw", "--distance-km", "0:100:50", "--plot", str(plot))
    assert code == 0
    assert "bbm92" in out
    assert "tgw" in out
    assert plot.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["keyrate", "--distance-km", "-5"], "--distance-km"),
        (["keyrate", "--detector-efficiency", "1.5"], "--detector-efficiency"),
        (["keyrate", "--preset", "nope"], "--preset"),
        (["keyrate", "--protocol", "bb85"], "--protocol"),
        (["keyrate", "--distance-km", "10:0:5"], "--distance-km"),
        (["keyrate", "--distance-km", "ten"], "--distance-km"),
        (["keyrate", "--dark-count-prob", "abc"], "--dark-count-prob"),
        (["keyrate", "--misalignment-error", "0.7"], "--misalignment-error"),
        (["keyrate", "--decoy-intensities", "0.6,0"], "--decoy-intensities"),
        (["keyrate", "--plot", "rate.jpg"], "--plot"),
        (["keyrate", "--basis-prob", "1"], "--basis-prob"),
        (["link", "--pulses", "-3"], "--pulses"),
        (["link", "--pulses", "lots"], "--pulses"),
        (["link", "--protocol", "bbm92"], "--protocol"),
        (["link", "--distance-km", "0:10:5"], "--distance-km"),
        (["link", "--save", "record.txt"], "--save"),
        (["keyrate", "--no-such-option"], "--no-such-option"),
        (["keyrate", "--distance-km", "0:1e7:1"], "--distance-km"),
        (["keyrate", "--distance-km", "nan"], "--distance-km"),
        (["keyrate", "--detector-efficiency", "1e400"], "--detector-efficiency"),
        (["keyrate", "--dead-time-s", "1e300", "--rep-rate-hz", "1e9"], "--dead-time-s"),
        (["keyrate", "--decoy-intensities", ""], "--decoy-intensities"),
        (["keyrate", "--basis-prob", "0"], "--basis-prob"),
        (["link", "--pulses", "1e30"], "--pulses"),
        (["link", "--pulses", "1.5"], "--pulses"),
        (["link", "--pulses", "1e10", "--block-pulses", "1"], "--block-pulses"),
        (["link", "--seed", "-1"], "--seed"),
        (["link", "--intensity-probs", "1,0,0"], "--intensity-probs"),
        (["link", "--save", "no-such-folder/record.npz"], "--save"),
        (["link", "--attack", "wiretap"], "--attack"),
        (["keyrate", "--protocol", "decoy-bb84-finite"], "--block-pulses"),
        (["keyrate", "--protocol", "decoy-bb84-finite", "--block-pulses", "1e10", "--eps-sec", "0"], "--eps-sec"),
        (["keyrate", "--protocol", "decoy-bb84-finite", "--block-pulses", "-1"], "--block-pulses"),
        (["link", "--attack", "intercept-resend:2"], "--attack"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(cli, args: list[str], option: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(*args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert option in lines[0]
    assert "Traceback" not in err


def test_link_json_has_the_contract_fields(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    saved = tmp_path / "record.parquet"
    code, out, _ = cli(
        "link",
        "--protocol",
        "decoy-bb84",
        "--preset",
        "gys2004",
        "--distance-km",
        "50",
        "--pulses",
        "1e8",
        "--seed",
        "7",
        "--rep-rate-hz",
        "1e9",
        "--save",
        str(saved),
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    for key in (
        "classes",
        "single_photon_yield_lower",
        "single_photon_error_upper",
        "key_rate_per_pulse",
        "detections",
        "wall_s",
        "key_rate_bps",
        "expected",
        "statistics_sufficient",
        "finite_size_single_photon_yield_lower",
        "finite_size_single_photon_error_upper",
    ):
        assert key in data
    assert data["pulses"] == 10**8
    assert data["rep_rate_hz"] == 1e9
    assert data["key_rate_bps"] == pytest.approx(data["key_rate_per_pulse"] * 1e9)
    assert [c["intensity"] for c in data["classes"]] == [0.48, 0.05, 0.0]
    record = load_record(saved)
    assert len(record) == data["detections"]
    assert int(np.sum(record.sent)) == 10**8
    again = json.loads(cli("link", "--pulses", "1e8", "--seed", "7", "--rep-rate-hz", "1e9", "--json")[1])
    assert again["detections"] == data["detections"]  # same seed, same numbers
    assert again["key_rate_per_pulse"] == data["key_rate_per_pulse"]


def test_link_table_output(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("link", "--pulses", "1e7")
    assert code == 0
    assert "key rate" in out
    assert "Y1 >=" in out


def test_console_script_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qinternet", "keyrate", "--distance-km", "-1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "qinternet: error: --distance-km: must be >= 0, got -1"


def test_output_path_that_is_a_folder_is_refused_before_work(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "rate.csv"
    folder.mkdir()
    code, out, err = cli("keyrate", "--distance-km", "0:100:10", "--csv", str(folder))
    assert code == 2
    assert out == ""
    assert "--csv" in err
    assert "folder" in err


def test_a_sweep_is_always_a_json_list(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("keyrate", "--distance-km", "0:0:1", "--json")
    assert code == 0
    assert isinstance(json.loads(out), list)
    code, out, _ = cli("keyrate", "--protocol", "plob,tgw", "--distance-km", "10", "--json")
    assert len(json.loads(out)) == 2


def test_fixed_intensity_below_the_decoys_works_for_protocols_without_decoys(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli(
        "keyrate", "--protocol", "bb84-gllp", "--signal-intensity", "0.005", "--distance-km", "20", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["signal_intensity"] == 0.005
    assert data["key_rate_per_pulse"] > 0


def test_link_claims_no_key_from_too_few_decoy_events(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("link", "--intensity-probs", "0.98,0.01,0.01", "--pulses", "1e7", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["classes"][2]["detections"] == 0
    assert data["statistics_sufficient"] is False
    assert data["key_rate_per_pulse"] == 0


def test_link_claims_no_key_from_background_noise_at_10000_km(cli) -> None:  # type: ignore[no-untyped-def]
    # Issue 11: 1e9 pulses over 10,000 km give every class ~85 background clicks; the asymptotic bounds on
    # them (Y1 >= 8.8e-6, e1 <= 8.4 %) are noise around the expected Y1 = 1.7e-6 and e1 = 1/2.
    code, out, _ = cli("link", "--distance-km", "10000", "--json")
    assert code == 0
    data = json.loads(out)
    assert all(c["detections"] > 0 for c in data["classes"])
    assert data["single_photon_yield_lower"] > 4 * data["expected"]["single_photon_yield_lower"]
    assert data["statistics_sufficient"] is False
    assert data["finite_size_single_photon_yield_lower"] == 0
    assert data["finite_size_single_photon_error_upper"] == 0.5
    assert data["key_rate_per_pulse"] == 0
    assert data["expected"]["statistics_sufficient"] is True  # infinitely many pulses
    assert data["expected"]["finite_size_single_photon_yield_lower"] is None
    code, out, _ = cli("link", "--distance-km", "10000")
    assert code == 0
    assert "Too few decoy events" in out


def test_link_with_ample_counts_claims_the_asymptotic_key(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("link", "--distance-km", "50", "--pulses", "1e9", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["statistics_sufficient"] is True
    assert 0 < data["finite_size_single_photon_yield_lower"] < data["single_photon_yield_lower"]
    assert data["single_photon_error_upper"] < data["finite_size_single_photon_error_upper"] < 0.5
    assert data["key_rate_per_pulse"] > 0
    code, out, _ = cli("link", "--distance-km", "50", "--pulses", "1e9")
    assert "Too few decoy events" not in out


def test_link_with_full_intercept_resend_claims_no_key(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("link", "--pulses", "1e8", "--attack", "intercept-resend:1", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["attack"] == "intercept-resend:1"
    assert data["classes"][0]["qber"] > 0.25
    assert data["key_rate_per_pulse"] == 0


def test_finite_key_rate_on_the_cli(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli(
        "keyrate",
        "--protocol",
        "decoy-bb84-finite",
        "--preset",
        "lim2014",
        "--block-pulses",
        "1e10",
        "--distance-km",
        "50",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    finite = data["finite_key"]
    assert finite["block_pulses"] == 1e10
    assert 0 < data["key_rate_per_pulse"] == finite["key_rate_per_pulse"]
    assert finite["bounds"]["key_length_bits"] == pytest.approx(data["key_rate_per_pulse"] * 1e10, rel=1e-6)
    asymptotic = json.loads(cli("keyrate", "--preset", "lim2014", "--distance-km", "50", "--json")[1])
    smaller = json.loads(
        cli(
            "keyrate",
            "--protocol",
            "decoy-bb84-finite",
            "--preset",
            "lim2014",
            "--block-pulses",
            "1e8",
            "--distance-km",
            "50",
            "--json",
        )[1]
    )
    assert smaller["key_rate_per_pulse"] < data["key_rate_per_pulse"]
    assert asymptotic["key_rate_per_pulse"] > 0
    table = tmp_path / "finite.csv"
    code, _, _ = cli(
        "keyrate",
        "--protocol",
        "decoy-bb84-finite",
        "--preset",
        "lim2014",
        "--block-pulses",
        "1e10",
        "--distance-km",
        "0:100:50",
        "--csv",
        str(table),
    )
    assert code == 0
    rows = list(csv.DictReader(table.open()))
    assert [float(r["block_pulses"]) for r in rows] == [1e10] * 3


@pytest.mark.parametrize("ec", ["cascade", "ldpc"])
def test_link_postprocess_prints_the_pipeline_fields_and_saves_equal_keys(cli, tmp_path: Path, ec: str) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "key.npz"
    code, out, _ = cli(
        "link",
        "--preset",
        "lim2014",
        "--distance-km",
        "20",
        "--pulses",
        "2e8",
        "--seed",
        "3",
        "--postprocess",
        "--eps-sec",
        "1e-10",
        "--eps-cor",
        "1e-15",
        "--ec",
        ec,
        "--rep-rate-hz",
        "1e9",
        "--save-key",
        str(key_file),
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    for field in (
        "sifted_bits",
        "qber_estimate",
        "phase_error_bound",
        "ec_leak_bits",
        "ec_efficiency",
        "verification_ok",
        "pa_output_bits",
        "auth_bits_consumed",
        "final_key_bits",
        "aborted",
        "abort_reason",
        "secret_key_rate_bps",
    ):
        assert field in data, field
    assert data["aborted"] is False
    assert data["final_key_bits"] > 0
    assert data["secret_key_rate_bps"] == pytest.approx(data["final_key_bits"] / 0.2)
    with np.load(key_file) as keys:
        assert keys["alice"].shape == (data["final_key_bits"],)
        np.testing.assert_array_equal(keys["alice"], keys["bob"])
    assert "alice" not in out  # key material never printed


def test_postprocess_bad_input(cli) -> None:  # type: ignore[no-untyped-def]
    for args, option in (
        (["--save-key", "k.npz"], "--save-key"),
        (["--postprocess", "--eps-cor", "2"], "--eps-cor"),
        (["--postprocess", "--ec", "turbo"], "--ec"),
        (["--postprocess", "--cascade-variant", "turbo"], "--cascade-variant"),
    ):
        code, out, err = cli("link", "--pulses", "1e6", *args)
        assert code == 2, args
        assert option in err
        assert out == ""


def test_link_postprocess_table_output_says_what_happened(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("link", "--pulses", "1e6", "--postprocess")
    assert code == 0
    assert "post-processing: aborted" in out


def test_the_issue_example_gives_key_at_tuned_settings_and_none_at_the_preset_s(cli) -> None:  # type: ignore[no-untyped-def]
    """gys2004 at 50 km: the preset's asymptotic decoys leave no finite key; tuned for the block, they do."""
    args = ["link", "--preset", "gys2004", "--distance-km", "50", "--pulses", "2e9", "--seed", "7", "--postprocess"]
    code, out, _ = cli(*args, "--json")
    assert code == 0
    tuned = json.loads(out)
    assert tuned["aborted"] is False
    assert tuned["final_key_bits"] > 0
    assert tuned["parameters"]["source"]["signal_intensity"] != 0.48  # re-optimised for the block
    code, out, _ = cli(*args, "--preset-settings", "--json")
    fixed = json.loads(out)
    assert fixed["aborted"] is True
    assert "finite-key" in fixed["abort_reason"]
    assert fixed["parameters"]["source"]["signal_intensity"] == 0.48
