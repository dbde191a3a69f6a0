"""One field-path mechanism for scenario files' ``devices:``, CLI options and sweeps."""

from __future__ import annotations

import dataclasses

import pytest

from qinternet.cli.options import FIELD_OPTIONS, SystemOverrides, apply_system_overrides
from qinternet.errors import ParameterError
from qinternet.network.build import link_system
from qinternet.network.schema import load_scenario
from qinternet.params import get_preset
from qinternet.params.devices import PairStatistics
from qinternet.params.fieldpath import DEVICE_FIELDS, apply_changes, nested, set_fields


def test_the_cli_s_overrides_are_the_table_s_fields() -> None:
    assert [f.name for f in dataclasses.fields(SystemOverrides)] == [f.name for f in DEVICE_FIELDS]
    for field in DEVICE_FIELDS:
        for path in field.paths:
            assert FIELD_OPTIONS[path] == field.option  # an error at a path names the option that sets it


def test_a_scenario_s_devices_and_the_cli_s_options_make_the_same_system() -> None:
    spec = load_scenario(
        {
            "name": "net",
            "nodes": [
                {"id": "a", "kind": "user", "lat_deg": 0, "lon_deg": 0},
                {"id": "b", "kind": "user", "lat_deg": 0, "lon_deg": 1},
            ],
            "links": [
                {
                    "id": "ab",
                    "a": "a",
                    "b": "b",
                    "length_km": 20,
                    "preset": "gys2004",
                    "devices": {
                        "detector": {"efficiency": 0.2, "dark_count_prob": 1e-7},
                        "source": {"rep_rate_hz": 1e9, "decoy_intensities": [0.1, 0.0]},
                        "spdc": {"rep_rate_hz": 1e9, "statistics": "poisson"},
                        "basis_prob": 0.7,
                    },
                }
            ],
        }
    )
    from_file = link_system(spec.links[0], "links[0]")
    from_options = apply_system_overrides(
        get_preset("gys2004").system,
        SystemOverrides(
            detector_efficiency=0.2,
            dark_count_prob=1e-7,
            rep_rate_hz=1e9,
            decoy_intensities="0.1,0",
            pair_statistics=PairStatistics.POISSON,
            basis_prob=0.7,
        ),
    )
    assert from_file == from_options


def test_dotted_paths_and_nested_mappings_are_the_same_change() -> None:
    system = get_preset("lim2014").system
    assert nested({"detector.efficiency": 0.3, "fibre.loss_db_per_km": 0.18}) == {
        "detector": {"efficiency": 0.3},
        "fibre": {"loss_db_per_km": 0.18},
    }
    dotted = set_fields(system, {"detector.efficiency": 0.3, "misalignment_error": 0.01})
    assert dotted == apply_changes(system, {"detector": {"efficiency": 0.3}, "misalignment_error": 0.01})
    assert dotted.detector.efficiency == 0.3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"detector": {"efficency": 0.3}}, "devices.detector.efficency"),
        ({"detector": {"efficiency": True}}, "devices.detector.efficiency"),
        ({"source": {"decoy_intensities": [0.1, "x"]}}, "devices.source.decoy_intensities"),
        ({"spdc": {"statistics": "gaussian"}}, "devices.spdc.statistics"),
        ({"detector": 0.3}, "devices.detector"),
    ],
)
def test_a_bad_change_names_its_path(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        apply_changes(get_preset("lim2014").system, changes, "devices")
    assert caught.value.field == field


def test_prepare_and_measure_presets_carry_no_pair_source_and_lend_bbm92_the_default() -> None:
    """Devices by role: gys2004, lim2014 and micius2017 are prepare-and-measure set-ups, so they carry no SPDC
    source; BBM92 runs on the default pair source at their repetition rate, and a change to ``spdc`` starts
    from it."""
    from qinternet.params import get_preset
    from qinternet.params.devices import DEFAULT_MEAN_PAIR_NUMBER, PairStatistics

    for name in ("gys2004", "lim2014", "micius2017"):
        system = get_preset(name).system
        assert system.spdc is None
        assert system.pair_source.rep_rate_hz == system.source.rep_rate_hz
        assert system.pair_source.mean_pair_number == DEFAULT_MEAN_PAIR_NUMBER
        assert system.pair_source.statistics is PairStatistics.THERMAL
    changed = apply_changes(get_preset("gys2004").system, {"spdc": {"rep_rate_hz": 1e8}})
    assert changed.spdc is not None
    assert (changed.spdc.rep_rate_hz, changed.spdc.mean_pair_number) == (1e8, DEFAULT_MEAN_PAIR_NUMBER)
