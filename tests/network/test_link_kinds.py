"""The three kinds of link: fibre with Raman noise, entanglement-based user pairs, satellite downlinks."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from qinternet.network.links import fibre
from qinternet.network.links.build import build_links
from qinternet.network.links.entanglement import EntanglementLinkEngine, entanglement_engine
from qinternet.network.links.fibre import fibre_engine, raman_click_prob
from qinternet.network.schema import EntanglementLinkSpec, FibreLinkSpec, load_scenario
from qinternet.network.simulate import simulate
from qinternet.params import get_preset
from qinternet.physics.channels import RamanNoise, fibre_channel
from qinternet.physics.raman import (
    C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM,
    ClassicalChannel,
    RamanDirection,
    RamanReceiver,
)
from qinternet.qkd.bbm92 import fibre_arm, party_transmittance
from qinternet.qkd.finite_key import expected_counts
from qinternet.qkd.keyrate import Protocol, fibre_link_channel, key_rate

H_J_S, C_M_S = 6.62607015e-34, 299_792_458.0


def fibre_link(**changes: Any) -> FibreLinkSpec:
    return FibreLinkSpec.model_validate({"id": "l", "a": "x", "b": "y", "length_km": 25, **changes})


def test_raman_clicks_follow_the_forward_closed_form() -> None:
    """0 dBm forward over 25 km of 0.2 dB/km: P e^{-aL} L rho dl photons at 1550 nm, per 1 ns, times eta."""
    link = fibre_link(classical_channels=[{"launch_power_dbm": 0.0}], filter_bandwidth_nm=0.1)
    system = get_preset("lim2014").system
    alpha = 0.2 * math.log(10) / 10
    power_w = 1e-3 * math.exp(-alpha * 25) * 25 * C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM * 0.1
    photons = power_w * 1550e-9 / (H_J_S * C_M_S) * 1e-9
    expected = 1 - math.exp(-system.detector.efficiency * photons)
    assert raman_click_prob(link, system, 25.0) == pytest.approx(expected, rel=1e-9)


def test_raman_clicks_are_the_background_of_the_fibre_channel_and_fold_alike() -> None:
    """The scenario's classical channels give the fibre channel's background bit for bit, and the engine's counts
    over that channel are those of the detectors with the background folded into their dark counts (half each,
    as the network did before channels carried it), so the numbers of Raman links are unchanged."""
    link = fibre_link(
        classical_channels=[{"launch_power_dbm": 0.0}, {"launch_power_dbm": -3.0, "direction": "backward"}],
        filter_bandwidth_nm=0.1,
        optimise_settings=False,
    )
    system = get_preset("lim2014").system
    raman = RamanNoise(
        classical_channels=(
            ClassicalChannel(launch_power_dbm=0.0, direction=RamanDirection.FORWARD),
            ClassicalChannel(launch_power_dbm=-3.0, direction=RamanDirection.BACKWARD),
        ),
        receiver=RamanReceiver(
            filter_bandwidth_nm=0.1, detection_window_s=1e-9, detection_efficiency=system.detector.efficiency
        ),
    )
    noisy = fibre_channel(system.fibre, 25.0, raman=raman)
    assert raman_click_prob(link, system, 25.0) == noisy.background > 0.0
    dark = 1.0 - (1.0 - system.detector.dark_count_prob) * (1.0 - noisy.background / 2.0)
    folded = dataclasses.replace(system, detector=dataclasses.replace(system.detector, dark_count_prob=dark))
    quiet = fibre_channel(system.fibre, 25.0)
    engine = fibre_engine(link, "links[0]")
    assert engine.channel == noisy
    assert engine.expected_counts == expected_counts(folded, quiet, block_pulses=float(engine.block_pulses))


def test_classical_traffic_raises_the_qber_and_costs_key() -> None:
    quiet = fibre_engine(fibre_link(), "links[0]")
    light = fibre_engine(fibre_link(classical_channels=[{"launch_power_dbm": -30.0}]), "links[0]")
    heavy = fibre_engine(fibre_link(classical_channels=[{"launch_power_dbm": -10.0}]), "links[0]")
    qbers = [e.expected_block.qber for e in (quiet, light, heavy)]
    keys = [e.expected_block.key_bits for e in (quiet, light, heavy)]
    assert qbers[0] < qbers[1] < qbers[2]
    assert keys[0] > keys[1] > keys[2]
    # Ten times the power, ten times the noise clicks (linear regime).
    p_light = raman_click_prob(fibre_link(classical_channels=[{"launch_power_dbm": -30.0}]), quiet.system, 25.0)
    p_heavy = raman_click_prob(fibre_link(classical_channels=[{"launch_power_dbm": -20.0}]), quiet.system, 25.0)
    assert p_heavy / p_light == pytest.approx(10.0, rel=1e-3)


def pair(length_a: float, length_b: float, model: str = "analytic", block_s: float = 600.0) -> EntanglementLinkEngine:
    spec = EntanglementLinkSpec.model_validate(
        {
            "id": "p",
            "kind": "entanglement",
            "protocol": "bbm92",
            "a": "u1",
            "b": "u2",
            "source": "s",
            "length_a_km": length_a,
            "length_b_km": length_b,
            "preset": "gys2004",
            "devices": {"spdc": {"rep_rate_hz": 1e8}},
            "model": model,
            "block_s": block_s,
        }
    )
    return entanglement_engine(spec, "links[0]")


def test_a_source_in_the_middle_gives_the_bbm92_key_rate() -> None:
    """Equal arms of L/2: the optimised rate per pulse is qinternet keyrate's BBM92 at L (grid of 1.5 %)."""
    engine = pair(20.0, 20.0)
    system = dataclasses.replace(get_preset("gys2004").system, spdc=engine.system.pair_source)
    reference = key_rate(Protocol.BBM92, system, fibre_link_channel(system, 40.0)).key_rate_per_pulse
    assert engine.expected_key_bits / engine.block_pulses == pytest.approx(reference, rel=2e-3)


def test_an_unequal_pair_sits_between_the_equal_ones() -> None:
    near, far = pair(10.0, 10.0), pair(30.0, 30.0)
    uneven = pair(10.0, 30.0)
    assert far.expected_key_bits < uneven.expected_key_bits < near.expected_key_bits


def test_drawn_pair_blocks_scatter_around_the_expected_key() -> None:
    engine = pair(15.0, 25.0, model="monte-carlo", block_s=60.0)
    rng = np.random.default_rng(4)
    keys = np.array([engine.block(rng, 60.0, 60.0 * (i + 1)).key_bits for i in range(60)], dtype=float)
    assert keys.std() > 0
    assert abs(keys.mean() - engine.expected_key_bits) < 5 * keys.std(ddof=1) / math.sqrt(keys.size)


def satellite_scenario(model: str = "analytic") -> dict[str, Any]:
    return {
        "name": "downlink",
        "time": {"start": "2016-12-18T12:00:00Z", "duration_s": "24h", "step_s": "60s"},
        "nodes": [
            {"id": "sat", "kind": "satellite", "orbit": {"altitude_km": 500, "ascending_node_local_time_h": 12.83}},
            {"id": "xinglong", "kind": "ground-station", "lat_deg": 40.396, "lon_deg": 117.578, "altitude_m": 960},
        ],
        "links": [
            {
                "id": "down",
                "kind": "free-space",
                "a": "sat",
                "b": "xinglong",
                "preset": "micius2017",
                "optimise_settings": False,
                "model": model,
                "free_space": {"divergence_urad": 10, "fixed_loss_db": 15, "wavelength_nm": 848.62},
            }
        ],
    }


def test_a_downlink_delivers_each_pass_key_when_the_pass_ends() -> None:
    spec = load_scenario(satellite_scenario())
    [link] = build_links(spec)
    assert link.pass_schedule is not None
    records = link.pass_schedule.passes
    assert records, "a 500 km orbit passes Xinglong at night within a day"
    run = simulate(spec, [link.runner])
    assert [b.end_s for b in run.blocks[0]] == [r.end_s for r in records]
    assert [b.key_bits for b in run.blocks[0]] == [r.key_bits for r in records]
    first = records[0]
    before = run.times_s < first.end_s
    assert np.all(run.generated_bits[before, 0] == 0)
    assert run.generated_bits[-1, 0] == sum(r.key_bits for r in records)
    # The loss falls as the satellite climbs: highest elevation, lowest loss.
    assert first.loss_db[np.argmax(first.elevation_deg)] == pytest.approx(first.loss_db.min())


def test_drawn_passes_scatter_around_the_expected_pass() -> None:
    spec = load_scenario(satellite_scenario(model="monte-carlo"))
    [link] = build_links(spec)
    assert link.pass_schedule is not None
    record = max(link.pass_schedule.passes, key=lambda r: r.key_bits)
    rng = np.random.default_rng(8)
    keys = np.array([link.pass_schedule.block(record, rng).key_bits for _ in range(40)], dtype=float)
    assert keys.std() > 0
    assert abs(keys.mean() - record.key_bits) < 5 * keys.std(ddof=1) / math.sqrt(keys.size)


def test_shared_detectors_see_the_other_pairs_photons() -> None:
    """A star of three users around one source: each pair's background is what the other two pairs send."""
    from qinternet.network.links.entanglement import PairArms, shared_detector_backgrounds

    arms = [
        PairArms(user_a="u", user_b="v", length_a_km=5.0, length_b_km=10.0),
        PairArms(user_a="u", user_b="w", length_a_km=5.0, length_b_km=15.0),
        PairArms(user_a="v", user_b="w", length_a_km=10.0, length_b_km=15.0),
    ]
    engines = [pair(a.length_a_km, a.length_b_km) for a in arms]
    backgrounds = shared_detector_backgrounds(arms, engines)

    def photon(engine: EntanglementLinkEngine, length: float) -> float:
        return 1 - math.exp(
            -engine.mean_pair_number * float(party_transmittance(engine.system, fibre_arm(engine.system, length)))
        )

    # Pair u-v: at u the u-w pair's photons, at v the v-w pair's photons; half on each detector.
    assert backgrounds[0][0] == pytest.approx(photon(engines[1], 5.0) / 2)
    assert backgrounds[0][1] == pytest.approx(photon(engines[2], 10.0) / 2)
    shared = dataclasses.replace(engines[0], background_a=backgrounds[0][0], background_b=backgrounds[0][1])
    assert shared.error_rate > engines[0].error_rate
    assert shared.expected_key_bits < engines[0].expected_key_bits


def test_the_bristol_pairs_cost_each_other_key() -> None:
    from qinternet.network.catalogue import resolve_scenario
    from qinternet.network.links.entanglement import entanglement_engines

    spec, _ = resolve_scenario("bristol-8-user")
    shared = entanglement_engines(dict(enumerate(spec.links)))
    for i, engine in shared.items():
        alone = entanglement_engine(spec.links[i], f"links[{i}]")
        assert engine.background_a > 0
        assert engine.background_b > 0
        assert engine.expected_key_bits < alone.expected_key_bits


def test_a_source_runs_its_pairs_at_the_pump_best_for_all_of_them() -> None:
    """The common pump maximises the source's total key, with the background those pumps cause."""
    from qinternet.network.catalogue import resolve_scenario
    from qinternet.network.links.entanglement import _COMMON_PUMPS, PairArms, _with_backgrounds, entanglement_engines

    spec, _ = resolve_scenario("bristol-8-user")
    chosen = entanglement_engines(dict(enumerate(spec.links)))
    pumps = {round(e.mean_pair_number, 12) for e in chosen.values()}
    assert len(pumps) == 1
    [pump] = pumps
    arms = [
        PairArms(user_a=s.a, user_b=s.b, length_a_km=s.length_a_km or 0, length_b_km=s.length_b_km or 0)
        for s in spec.links
    ]
    alone = [entanglement_engine(link, "") for link in spec.links]
    consistent = _with_backgrounds(arms, [dataclasses.replace(e, pump=pump) for e in alone])
    expected = [chosen[i].expected_key_bits for i in range(len(spec.links))]
    assert [e.expected_key_bits for e in consistent] == pytest.approx(expected, rel=1e-9)
    total = sum(e.expected_key_bits for e in consistent)
    k = int(np.argmin(np.abs(_COMMON_PUMPS - pump)))
    for neighbour in (k - 1, k + 1):  # the grid's neighbours give less
        other = _with_backgrounds(arms, [dataclasses.replace(e, pump=float(_COMMON_PUMPS[neighbour])) for e in alone])
        assert sum(e.expected_key_bits for e in other) <= total
    # Each pair alone would pump harder; all of them doing so would leave no key.
    assert alone[0].mean_pair_number > 10 * pump
    bright = _with_backgrounds(arms, [dataclasses.replace(e, pump=alone[0].mean_pair_number) for e in alone])
    assert sum(e.expected_key_bits for e in bright) == 0


def test_fixed_pumps_are_honoured() -> None:
    from qinternet.network.catalogue import resolve_scenario
    from qinternet.network.links.entanglement import entanglement_engines

    spec, _ = resolve_scenario("bristol-8-user")
    data = spec.model_dump(mode="json")
    for link in data["links"]:
        link["optimise_settings"] = False
        link["devices"] = {
            **link.get("devices", {}),
            "spdc": {**link.get("devices", {}).get("spdc", {}), "mean_pair_number": 0.003},
        }
    fixed = entanglement_engines(dict(enumerate(load_scenario(data).links)))
    assert all(e.mean_pair_number == 0.003 for e in fixed.values())


def test_building_only_some_links_builds_the_chosen_fibre_link_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """``build_links(only=...)`` (what one ``qinternet device`` builds): the chosen fibre link alone, the same
    engine as in the whole build."""
    data: dict[str, Any] = {
        "name": "few",
        "nodes": [{"id": n, "kind": "user", "lat_deg": 0, "lon_deg": i / 10} for i, n in enumerate("abc")],
        "links": [
            {"id": "ab", "a": "a", "b": "b", "length_km": 20},
            {"id": "bc", "a": "b", "b": "c", "length_km": 60},
        ],
    }
    scenario = load_scenario(data)
    built: list[str] = []
    real = fibre.link_system

    def spy(spec: FibreLinkSpec, path: str) -> Any:
        built.append(spec.id)
        return real(spec, path)

    monkeypatch.setattr(fibre, "link_system", spy)
    whole = build_links(scenario)
    assert built == ["ab", "bc"]
    built.clear()
    (alone,) = build_links(scenario, only=[1])
    assert built == ["bc"]
    assert alone.spec.id == "bc"
    assert alone.engine.expected_rate_bps == pytest.approx(whole[1].engine.expected_rate_bps, rel=1e-12)
    assert alone.engine.expected_rate_bps < whole[0].engine.expected_rate_bps  # 60 km against 20 km
