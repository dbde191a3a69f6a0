"""``qinternet keyrate`` with MDI and twin-field protocols: the figure of the field and the device sets behind it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from qinternet.params.mdi import YIN2016

FIGURE = ["--protocol", "tf-sns,mdi-bb84,decoy-bb84,plob", "--preset", "liu2023"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, object]], Path]:
    """The issue's figure: four protocols against the liu2023 preset, 0-1100 km, as JSON and a PNG."""
    plot = tmp_path_factory.mktemp("figure") / "fig.png"
    command = [sys.executable, "-m", "qinternet", "keyrate", *FIGURE, "--distance-km", "0:1100:50"]
    done = subprocess.run([*command, "--json", "--plot", str(plot)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout), plot


def _curve(rows: list[dict[str, object]], protocol: str) -> dict[float, float]:
    """Key rate by distance (an infinite bound at 0 km is null in JSON: read back as inf)."""
    rate = {float(r["distance_km"]): r["key_rate_per_pulse"] for r in rows if r["protocol"] == protocol}  # type: ignore[arg-type]
    return {d: math.inf if v is None else float(v) for d, v in rate.items()}  # type: ignore[arg-type]


def test_twin_field_crosses_the_plob_bound(sweep: tuple[list[dict[str, object]], Path]) -> None:
    rows, plot = sweep
    tf, plob = _curve(rows, "tf-sns"), _curve(rows, "plob")
    beaten = [d for d in tf if d > 0 and tf[d] > plob[d]]
    assert beaten, "twin-field never beats the repeaterless bound"
    assert all(tf[d] < plob[d] for d in tf if 0 < d < min(beaten))  # below PLOB at short distance, above beyond
    assert plot.stat().st_size > 10_000


def test_each_curve_names_its_device_set(sweep: tuple[list[dict[str, object]], Path]) -> None:
    rows, _ = sweep
    sets = {r["protocol"]: r["device_set"] for r in rows}
    assert sets["tf-sns"] == "liu2023"
    assert sets["mdi-bb84"] == "yin2016 sources, liu2023 fibre and detectors"
    assert sets["decoy-bb84"] == "gys2004 sources, liu2023 fibre and detectors"
    decoy = next(r for r in rows if r["protocol"] == "decoy-bb84")
    assert decoy["parameters"]["detector"]["efficiency"] == 0.6  # type: ignore[index]  # liu2023's detectors


def test_mdi_reaches_past_400_km_with_its_own_preset(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("keyrate", "--protocol", "mdi-bb84", "--preset", "yin2016", "--distance-km", "404", "--json")
    assert code == 0
    point = json.loads(out)
    assert point["device_set"] == "yin2016"
    assert point["key_rate_per_pulse"] > 0
    assert point["key_rate_per_pulse"] < point["channel_transmittance"]  # below PLOB ~ 1.44 eta


def test_shared_overrides_apply_to_relayed_protocols_and_source_ones_are_refused(cli) -> None:  # type: ignore[no-untyped-def]
    base = ["keyrate", "--protocol", "tf-sns", "--preset", "liu2023", "--distance-km", "600", "--json"]
    code, out, _ = cli(*base)
    worse_code, worse, _ = cli(*base, "--detector-efficiency", "0.3")
    assert code == worse_code == 0
    assert json.loads(worse)["key_rate_per_pulse"] < json.loads(out)["key_rate_per_pulse"]
    code, _, err = cli(*base, "--basis-prob", "0.7")
    assert code == 2
    assert "--basis-prob" in err
    assert "prepare-and-measure" in err


def test_a_relayed_preset_on_a_fibre_link_of_a_scenario_is_named_by_its_path(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scenario = tmp_path / "net.yaml"
    scenario.write_text(
        "name: net\nnodes:\n  - {id: a, kind: user, lat_deg: 0, lon_deg: 0}\n"
        "  - {id: b, kind: user, lat_deg: 0, lon_deg: 1}\n"
        "links:\n  - {id: ab, a: a, b: b, length_km: 20, preset: yin2016}\n"
    )
    code, _, err = cli("scenario", "validate", str(scenario))
    assert code == 2
    assert "links[0].preset" in err


def test_link_simulates_the_mdi_station(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(
        "link", "--protocol", "mdi-bb84", "--preset", "yin2016", "--distance-km", "100", "--pulses", "1e12", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    eta = 10 ** (-YIN2016.runs[0].fibre.loss_db_per_km * 50 / 10)
    assert result["eta_a"] == pytest.approx(eta, rel=1e-12)
    # Heralded pairs are binomial over 1e12 pairs: 5 standard deviations of ~1.4e8 heralds is ~4e-4 relative.
    heralded = result["heralding_probability"] * result["pulses"]
    assert result["heralded"] == pytest.approx(heralded, rel=5.0 / math.sqrt(heralded))
    assert result["z_error_rate"] == pytest.approx(result["expected"]["z_error_rate"], abs=5 * math.sqrt(0.015 / 1e8))
    assert 0 < result["finite_key_bits"] < result["z_heralded"]
    assert result["finite_key_rate_per_pulse"] < result["asymptotic_key_rate_per_pulse"]


def test_link_refuses_decoy_bb84_options_for_mdi(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("link", "--protocol", "mdi-bb84", "--attack", "pns")
    assert code == 2
    assert "--attack: is an option of the decoy-bb84 link only" in err
