"""Repeater hardware presets: lookup, provenance, and each preset's single link against its paper's figure.

A preset's published figure is one heralded elementary link at the paper's fibre length, computed with the
heralding functions of :mod:`qinternet.physics.heralding` (fibre split equally between the two arms, one
attempt per ``attempt_period_s``: the local attempt plus the herald's round trip). Tolerances are those the
preset states (``PublishedLink.rate_rel_tol``, ``fidelity_abs_tol``); which of its values were assumed or
calibrated is listed in ``HardwarePreset.provenance``. Figures with ``checked_in_text=False`` still need a check
against the paper; figures known only from secondary sources are in the provenance and are not tested.
"""

from __future__ import annotations

import dataclasses

import pytest

from qinternet.errors import ParameterError
from qinternet.params.repeater_presets import REPEATER_PRESETS, HardwarePreset, repeater_preset
from qinternet.params.serialise import dump_json
from qinternet.params.units import db_to_transmittance
from qinternet.physics.heralding import HeraldedLink, attempt_period_s, elementary_link


def _link(preset: HardwarePreset, fibre_length_km: float) -> tuple[HeraldedLink, float]:
    arm = fibre_length_km / 2.0
    t = float(db_to_transmittance(preset.loss_db_per_km * arm))
    link = elementary_link(
        preset.scheme,
        preset.node,
        preset.node,
        preset.station,
        t,
        t,
        bright_state_population=preset.bright_state_population,
        mean_pairs=preset.mean_pairs,
        pair_statistics=preset.pair_statistics,
        source_fidelity=preset.source_fidelity,
    )
    rate = float(link.success_prob) / float(attempt_period_s(preset.node.emitter.attempt_duration_s, arm))
    return link, rate


def test_the_issue_presets_exist() -> None:
    assert set(REPEATER_PRESETS) == {
        "delft-nv",
        "delft-nv-2021",
        "harvard-siv-2024",
        "ustc-rb",
        "oxford-ion-2025",
        "near-term",
        "ideal",
    }
    for name, preset in REPEATER_PRESETS.items():
        assert repeater_preset(name) is preset
        assert preset.name == name


def test_unknown_preset_names_the_option_and_lists_the_known_ones() -> None:
    with pytest.raises(ParameterError) as info:
        repeater_preset("delft-nv-2030")
    assert info.value.field == "preset"
    assert "delft-nv" in info.value.reason
    assert "ustc-rb" in info.value.reason


@pytest.mark.parametrize("name", sorted(REPEATER_PRESETS))
def test_every_value_says_published_or_assumed(name: str) -> None:
    preset = REPEATER_PRESETS[name]
    assert preset.citation
    assert preset.provenance
    for value, origin in preset.provenance:
        assert value
        assert origin.split(" ")[0].rstrip(":") in {"published", "assumed", "missing", "recollection"}, origin


@pytest.mark.parametrize("name", sorted(n for n, p in REPEATER_PRESETS.items() if p.published is not None))
def test_single_link_reproduces_the_published_figure(name: str) -> None:
    preset = REPEATER_PRESETS[name]
    published = preset.published
    assert published is not None
    link, rate = _link(preset, published.fibre_length_km)
    assert rate == pytest.approx(published.rate_hz, rel=published.rate_rel_tol)
    assert float(link.fidelity) == pytest.approx(published.fidelity, abs=published.fidelity_abs_tol)


def test_presets_without_a_published_figure_are_the_known_gaps() -> None:
    # Recorded so that adding (or losing) a figure is a deliberate change. Only the abstracts of Knaut et al. 2024,
    # Yu et al. 2020, Liu et al. 2024 and Stolk et al. 2024 were readable here, and none gives a link rate or
    # fidelity; the figures known from secondary compilations are in each preset's provenance as "recollection
    # (secondary)", with the model's value beside them, and are not tested. near-term and ideal have none.
    missing = {n for n, p in REPEATER_PRESETS.items() if p.published is None}
    assert missing == {"delft-nv", "harvard-siv-2024", "ustc-rb", "near-term", "ideal"}


def test_delft_nv_2021_single_click_reaches_humphreys_2018_rate_at_2_m() -> None:
    # Humphreys et al., Nature 558, 268 (2018), abstract (read): nodes 2 m apart, "entangling rates up to 39 Hz".
    # That maximum is taken at the largest bright-state population of the paper, alpha = 0.3: a recollection from
    # a secondary compilation, not read in the paper. The rate checks what every NV preset's rate rests on,
    # 2 alpha p_det per 5.5 us attempt with p_det the mean of the two Delft detectors (via netsquid-nv);
    # tolerance 20 %: the two detectors' p_det differ by +-20 % from their mean. The fidelity is not checked
    # (the abstract gives none for this alpha).
    preset = dataclasses.replace(REPEATER_PRESETS["delft-nv-2021"], bright_state_population=0.3)
    _, rate = _link(preset, 0.002)
    assert rate == pytest.approx(39.0, rel=0.2)


def test_ideal_preset_is_limited_by_fibre_loss_only() -> None:
    # Barrett-Kok on ideal hardware: F = 1 and success T_arm^2 / 2 = 10^(-0.2 L / 10) / 2 per attempt.
    link, _ = _link(REPEATER_PRESETS["ideal"], 50.0)
    assert float(link.fidelity) == pytest.approx(1.0)
    assert float(link.success_prob) == pytest.approx(10 ** (-0.2 * 50.0 / 10.0) / 2.0)


@pytest.mark.parametrize("name", sorted(REPEATER_PRESETS))
def test_every_preset_heralds_an_entangled_link_over_its_fibre(name: str) -> None:
    preset = REPEATER_PRESETS[name]
    length = preset.published.fibre_length_km if preset.published is not None else 25.0
    link, rate = _link(preset, length)
    assert rate > 0.0
    assert 0.5 < float(link.fidelity) <= 1.0


@pytest.mark.parametrize("name", sorted(REPEATER_PRESETS))
def test_presets_serialise_to_strict_json(name: str) -> None:
    text = dump_json(REPEATER_PRESETS[name])
    assert f'"name": "{name}"' in text
