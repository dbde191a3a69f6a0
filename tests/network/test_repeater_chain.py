"""A repeater chain of preset hardware: compiled from the physics, and what it delivers.

Statistical checks use fixed seeds and 5 standard errors of the mean (a correct model fails with probability
below 1e-6 per check).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from qinternet.entanglement.chain import DeliveryMode
from qinternet.entanglement.purification import PurificationProtocol
from qinternet.errors import ParameterError
from qinternet.network.repeater import ChainEngine, RepeaterSettings, compile_chain, run_repeater_chain
from qinternet.params.repeater_presets import repeater_preset
from qinternet.params.units import fibre_delay_s


def test_an_ideal_link_heralds_with_barrett_kok_probability_and_the_flight_time() -> None:
    # ideal double-click link of L km: each arm L/2 at 0.2 dB/km, success T_arm^2 / 2 (Barrett, Kok 2005), attempts
    # every emission time plus the photon's trip to the middle and the herald's trip back (L n / c)
    model = compile_chain(repeater_preset("ideal"), nodes=2, length_km=100.0)
    t_arm = 10 ** (-0.2 * 50.0 / 10)
    assert model.link.success_prob == pytest.approx(t_arm**2 / 2)
    assert model.link.attempt_period_s == pytest.approx(1e-6 + float(fibre_delay_s(100.0)))
    assert model.link.state[0] == pytest.approx(1.0)
    assert model.delivery_delay_s == 0.0  # no swap: the herald is the delivery


def test_two_nodes_deliver_at_the_link_rate() -> None:
    settings = RepeaterSettings(preset="ideal", nodes=2, length_km=100.0, pairs=50_000, seed=3)
    result = run_repeater_chain(settings)
    model = compile_chain(repeater_preset("ideal"), nodes=2, length_km=100.0)
    expected_mean_s = model.link.attempt_period_s / model.link.success_prob
    se = expected_mean_s * math.sqrt(1 - model.link.success_prob) / math.sqrt(settings.pairs)  # geometric sd
    assert abs(result.waiting_time_s.mean - expected_mean_s) < 5 * se
    assert result.pairs_per_s == pytest.approx(1 / result.waiting_time_s.mean)
    assert result.mean_fidelity == pytest.approx(1.0)
    assert result.secret_key_rate_bps == pytest.approx(result.pairs_per_s)  # a perfect pair gives one bit


def test_a_node_with_one_communication_qubit_makes_its_links_one_after_the_other() -> None:
    # three ideal nodes (one communication qubit each): the middle node makes its left link, then its right one,
    # so the round takes the sum of two geometric link times (plus the swap outcome's flight to an end)
    preset = repeater_preset("ideal")
    model = compile_chain(preset, nodes=3, length_km=100.0)
    assert model.sequential
    result = run_repeater_chain(RepeaterSettings(preset="ideal", nodes=3, length_km=100.0, pairs=40_000, seed=4))
    link_s = model.link.attempt_period_s / model.link.success_prob
    expected = 2 * link_s + model.delivery_delay_s
    se = link_s * math.sqrt(2) / math.sqrt(40_000)
    assert abs(result.waiting_time_s.mean - expected) < 5 * se


def test_the_stored_half_decoheres_while_the_second_link_is_made() -> None:
    # delft-nv-2021 (T2 = 0.4 s, exponential dephasing): the first link waits for the second, so the swapped pair
    # is worse than two fresh links swapped at once; measuring the end qubits at once spares them
    kept = run_repeater_chain(RepeaterSettings(preset="delft-nv-2021", nodes=3, length_km=0.03, pairs=4000, seed=5))
    measured = run_repeater_chain(
        RepeaterSettings(
            preset="delft-nv-2021", nodes=3, length_km=0.03, pairs=4000, seed=5, mode=DeliveryMode.MEASURE_DIRECTLY
        )
    )
    model = compile_chain(repeater_preset("delft-nv-2021"), nodes=3, length_km=0.03)
    w_link = (4 * model.link.state[0] - 1) / 3
    w_swap = (4 * model.swap_error[0] - 1) / 3
    no_wait = (1 + 3 * w_link**2 * w_swap) / 4
    assert kept.mean_fidelity < measured.mean_fidelity < no_wait
    lo, hi = kept.fidelity_ci95
    assert lo < kept.mean_fidelity < hi


def test_purification_raises_fidelity_and_costs_rate() -> None:
    base = RepeaterSettings(preset="near-term", nodes=3, length_km=100.0, pairs=4000, seed=6)
    plain = run_repeater_chain(base)
    purified = run_repeater_chain(
        RepeaterSettings(
            preset="near-term", nodes=3, length_km=100.0, pairs=4000, seed=6, purify=PurificationProtocol.DEJMPS
        )
    )
    assert purified.mean_fidelity > plain.mean_fidelity + 0.02
    assert purified.pairs_per_s < plain.pairs_per_s


def test_an_ideal_chain_beats_the_repeaterless_bound_far_away() -> None:
    # Pirandola et al. 2017: no repeaterless link exceeds -log2(1 - eta) bits per use; an ideal 5-node chain at
    # 600 km (120 dB) does, at the same clock
    r = run_repeater_chain(
        RepeaterSettings(
            preset="ideal", nodes=5, length_km=600.0, pairs=2000, seed=7, mode=DeliveryMode.MEASURE_DIRECTLY
        )
    )
    assert r.secret_key_rate_bps > 100 * r.plob_bps
    eta = 10 ** (-0.2 * 600 / 10)
    assert r.plob_bps == pytest.approx(-math.log1p(-eta) / math.log(2) / 1e-6)


def test_the_json_has_the_fields_scripts_rely_on() -> None:
    d = run_repeater_chain(RepeaterSettings(preset="oxford-ion-2025", nodes=2, length_km=0.002, pairs=500)).to_dict()
    for key in ("pairs_per_s", "mean_fidelity", "fidelity_ci95", "secret_key_rate_bps", "chsh", "engine", "wall_s"):
        assert key in d
    assert set(d["waiting_time_s"]) == {"mean", "p50", "p99"}
    assert d["engine"] == "monte-carlo"
    assert d["waiting_time_s"]["p50"] <= d["waiting_time_s"]["p99"]
    assert np.isfinite(d["chsh"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"nodes": 1}, "nodes"),
        ({"cutoff_s": -1.0}, "cutoff"),
        ({"pairs": 0}, "pairs"),
        ({"length_km": -5.0}, "length_km"),
        ({"preset": "delft-nv-2030"}, "preset"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, object], field: str) -> None:
    settings: dict[str, object] = {"preset": "ideal", "nodes": 3, "length_km": 10.0, "pairs": 10} | kwargs
    with pytest.raises(ParameterError) as info:
        run_repeater_chain(RepeaterSettings(**settings))  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_cut_off_no_link_can_meet_is_refused() -> None:
    # one communication qubit: the second link starts after the first, and no link arrives within 1 us
    with pytest.raises(ParameterError, match="cut-off") as info:
        run_repeater_chain(RepeaterSettings(preset="near-term", nodes=3, length_km=100.0, cutoff_s=1e-6, pairs=100))
    assert info.value.field == "cutoff"


def test_when_pairs_cost_too_much_work_fewer_are_drawn_and_the_json_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qinternet.network.repeater.MAX_LINK_DRAWS", 3_000_000)  # a pair costs ~1.5e5 draws
    settings = RepeaterSettings(preset="near-term", nodes=5, length_km=200.0, cutoff_s=0.002, pairs=5_000, seed=2)
    result = run_repeater_chain(settings)
    assert 10 <= result.pairs < 5_000
    assert result.pairs_requested == 5_000
    assert "drew" in result.to_dict()["note"]
    everything = run_repeater_chain(dataclasses.replace(settings, pairs=10))  # as many as the pilot: no note
    assert "note" not in everything.to_dict()


@pytest.mark.parametrize(
    ("preset", "nodes", "length_km", "cutoff_s"),
    [
        ("near-term", 3, 100.0, None),
        ("near-term", 5, 200.0, 0.05),
        ("oxford-ion-2025", 3, 0.01, 0.5),
        ("delft-nv", 2, 10.0, None),
    ],
)
def test_the_two_engines_agree_on_hardware_chains(
    preset: str, nodes: int, length_km: float, cutoff_s: float | None
) -> None:
    # Monte-Carlo means within 5 standard errors of the exact values (the exact engine: Walsh components through
    # the recursion of Brand, Coopmans, Elkouss 2020)
    settings = RepeaterSettings(
        preset=preset, nodes=nodes, length_km=length_km, cutoff_s=cutoff_s, pairs=20_000, seed=8
    )
    exact = run_repeater_chain(settings, ChainEngine.ANALYTIC)
    drawn = run_repeater_chain(settings, ChainEngine.MONTE_CARLO)
    assert exact.engine == "analytic"
    assert drawn.engine == "monte-carlo"
    se_t = drawn.waiting_time_s.mean / math.sqrt(settings.pairs)  # the round time's sd is about its mean
    assert abs(drawn.waiting_time_s.mean - exact.waiting_time_s.mean) < 5 * se_t
    half = (drawn.fidelity_ci95[1] - drawn.fidelity_ci95[0]) / 2 / 1.96
    assert abs(drawn.mean_fidelity - exact.mean_fidelity) < 5 * half + 1e-9


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"nodes": 4}, "power of 2"),
        ({"purify": PurificationProtocol.DEJMPS}, "purification"),
        ({"mode": DeliveryMode.MEASURE_DIRECTLY}, "create-and-keep"),
        ({"preset": "ustc-rb", "nodes": 3}, "exponential dephasing"),
    ],
)
def test_what_the_exact_engine_does_not_cover_is_named(kwargs: dict[str, object], reason: str) -> None:
    settings: dict[str, object] = {"preset": "near-term", "nodes": 3, "length_km": 50.0} | kwargs
    with pytest.raises(ParameterError, match=reason) as info:
        run_repeater_chain(RepeaterSettings(**settings), ChainEngine.ANALYTIC)  # type: ignore[arg-type]
    assert info.value.field == "engine"
