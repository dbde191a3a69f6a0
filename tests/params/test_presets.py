"""Presets carry the published values of the set-ups they name."""

from __future__ import annotations

import pytest

from qinternet.errors import ParameterError
from qinternet.params import PRESETS, get_preset


def test_gys2004_matches_ma_et_al_2005_table_1() -> None:
    s = get_preset("gys2004").system
    assert s.fibre.loss_db_per_km == 0.21
    assert s.misalignment_error == 0.033
    assert s.detector.background_yield == pytest.approx(1.7e-6, rel=1e-9)
    assert s.detector.efficiency == 0.045
    assert s.ec_efficiency == 1.22
    assert s.sifting_factor == 0.5
    assert s.source.rep_rate_hz == 2e6


def test_lim2014_matches_lim_et_al_2014_section_4() -> None:
    s = get_preset("lim2014").system
    assert s.fibre.loss_db_per_km == 0.2
    assert s.detector.efficiency == 0.1
    assert s.detector.dark_count_prob == 6e-7
    assert s.detector.after_pulse_prob == 0.04
    assert s.misalignment_error == 0.005
    assert s.ec_efficiency == 1.16
    assert min(s.source.decoy_intensities) == 2e-4


def test_every_preset_cites_a_publication() -> None:
    assert {"gys2004", "lim2014"} <= set(PRESETS)
    for preset in PRESETS.values():
        assert preset.citation
        assert "(" in preset.citation
        assert preset.name == preset.name.lower()


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ParameterError, match="gys2004") as caught:
        get_preset("gys2005")
    assert caught.value.field == "preset"
