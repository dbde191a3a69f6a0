"""MDI and twin-field links through untrusted relays: scenarios, engines, routing and bad input."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from qinternet.network.links.build import build_links
from qinternet.network.links.mdi import MdiLinkEngine
from qinternet.network.links.twin_field import TwinFieldLinkEngine
from qinternet.network.schema import ScenarioError, load_scenario
from qinternet.params import get_preset
from qinternet.params.mdi import YIN2016
from qinternet.params.twinfield import LIU2023
from qinternet.qkd.bounds import plob_bound
from qinternet.qkd.mdi_finite import expected_counts
from qinternet.qkd.relayed import sns_source
from qinternet.qkd.twinfield import optimise_sns


def pair_scenario(**link: Any) -> dict[str, Any]:
    """Alice and Bob joined by one relayed link through Charlie, an untrusted relay; a demand between them."""
    return {
        "name": "relayed",
        "time": {"duration_s": "24h", "step_s": "1h"},
        "nodes": [
            {"id": "alice", "kind": "user", "lat_deg": 30.0, "lon_deg": 114.0},
            {"id": "charlie", "kind": "untrusted-relay", "lat_deg": 30.0, "lon_deg": 114.5},
            {"id": "bob", "kind": "user", "lat_deg": 30.0, "lon_deg": 115.0},
        ],
        "links": [{"id": "ab", "a": "alice", "b": "bob", "relay": "charlie", **link}],
        "demands": [{"id": "d", "a": "alice", "b": "bob", "rate_bps": 0.5}],
    }


MDI = {"kind": "mdi", "length_a_km": 40, "length_b_km": 60, "block_s": "6h"}
"""Yin et al.'s devices over 100 km of ultralow-loss fibre, blocks of 1.6e12 pulse pairs (75 MHz for 6 h)."""
TF = {"kind": "twin-field", "length_a_km": 300, "length_b_km": 300, "block_s": "1h"}
"""Liu et al.'s devices over 600 km, blocks of 1.3e12 windows."""


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_run_gives_key_to_the_two_users_of_an_mdi_link(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", str(write(tmp_path, pair_scenario(**MDI))), "--out", str(tmp_path / "out"))
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    [link] = summary["links"]
    assert (link["kind"], link["via"]) == ("mdi", "charlie")
    assert link["secret_bits"] > 0
    [demand] = summary["demands"]
    assert demand["met_fraction"] > 0
    assert demand["paths"] == [{"links": ["ab"], "bits": demand["delivered_bits"]}]
    relay = next(node for node in summary["nodes"] if node["id"] == "charlie")
    assert relay["pools"] == []  # the relay holds no key


def test_the_mdi_arms_and_expected_block_follow_the_fibre_and_the_finite_key_model() -> None:
    [built] = build_links(load_scenario(pair_scenario(**MDI)))
    engine = built.engine
    assert isinstance(engine, MdiLinkEngine)
    loss = YIN2016.runs[0].fibre.loss_db_per_km
    assert engine.eta_a == pytest.approx(10 ** (-loss * 40 / 10), rel=1e-12)
    assert engine.eta_b == pytest.approx(10 ** (-loss * 60 / 10), rel=1e-12)
    assert engine.block_pulse_pairs == math.floor(75e6 * 6 * 3600)
    block = engine.expected_block
    counts = expected_counts(engine.system, engine.eta_a, engine.eta_b, float(engine.block_pulse_pairs))
    z = engine.system.alice.signal_index
    heralded = float(counts.heralded[z, 0, z, 0].sum())  # signal in Z from both: the sifted key
    assert block.sifted_bits == pytest.approx(heralded, rel=1e-12)
    assert 0 < block.key_bits < block.sifted_bits
    assert built.expected_rate_bps == pytest.approx(block.key_bits / (6 * 3600))


def test_drawn_mdi_blocks_scatter_around_the_expected_block() -> None:
    data = pair_scenario(**{**MDI, "model": "monte-carlo"})
    engine = build_links(load_scenario(data))[0].engine
    assert isinstance(engine, MdiLinkEngine)
    rng = np.random.default_rng(7)
    sifted = np.array([engine.block(rng, 1.0, 1.0).sifted_bits for _ in range(30)])
    expected = engine.expected_block.sifted_bits
    # Heralded Z-signal events are binomial with mean ~2e8: 5 sigma of the mean of 30 draws is ~1e-4 relative.
    assert sifted.mean() == pytest.approx(expected, rel=5.0 / math.sqrt(expected * 30))
    assert sifted.std() > 0


def test_a_twin_field_link_beats_the_repeaterless_bound_at_600_km() -> None:
    engine = build_links(load_scenario(pair_scenario(**TF)))[0].engine
    assert isinstance(engine, TwinFieldLinkEngine)
    eta = 10 ** (-LIU2023.fibre_loss_db_per_km * 300 / 10)
    assert engine.eta_a == pytest.approx(eta, rel=1e-12)
    plob = float(plob_bound(eta * eta))
    asymptotic = optimise_sns(
        eta, eta, sns_source(LIU2023.source), LIU2023.station, ec_efficiency=LIU2023.ec_efficiency
    )
    assert plob < engine.key_rate_per_pulse < asymptotic.key_rate_per_pulse
    assert engine.expected_block.key_bits == math.floor(engine.key_rate_per_pulse * engine.block_pulses)


def test_key_is_relayed_past_an_mdi_link_only_through_trusted_nodes(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = pair_scenario(**MDI)
    data["nodes"][2]["trusted"] = True  # bob also relays key
    data["nodes"].append({"id": "dave", "kind": "user", "lat_deg": 30.0, "lon_deg": 115.2})
    data["links"].append({"id": "bd", "a": "bob", "b": "dave", "length_km": 20})
    data["demands"] = [{"id": "d", "a": "alice", "b": "dave", "rate_bps": 0.5}]
    code, _, err = cli("run", str(write(tmp_path, data)), "--out", str(tmp_path / "out"))
    assert code == 0, err
    [demand] = json.loads((tmp_path / "out" / "summary.json").read_text())["demands"]
    assert demand["delivered_bits"] > 0
    assert [p["links"] for p in demand["paths"]] == [["ab", "bd"]]
    data["nodes"][2]["trusted"] = False
    with pytest.raises(ScenarioError, match=r"demands\[0\]: no chain of links through trusted nodes"):
        load_scenario(data)


def _broken(change: str) -> dict[str, Any]:
    data = pair_scenario(**MDI)
    nodes, links = data["nodes"], data["links"]
    extra_user = {"id": "erin", "kind": "user", "lat_deg": 30.2, "lon_deg": 114.5}
    if change == "relay serves two links":
        nodes.append(extra_user)
        links.append({"id": "ae", "a": "alice", "b": "erin", "relay": "charlie", **MDI})
    elif change == "relay serves none":
        nodes.append({"id": "idle", "kind": "untrusted-relay", "lat_deg": 30.2, "lon_deg": 114.5})
    elif change == "trusted relay that is not":
        nodes[1]["trusted"] = True
    elif change == "demand at the relay":
        data["demands"] = [{"id": "d", "a": "alice", "b": "charlie", "rate_bps": 1}]
    elif change == "fibre to the relay":
        links.append({"id": "ac", "a": "alice", "b": "charlie", "length_km": 5})
    elif change == "relay of the wrong kind":
        nodes[1]["kind"] = "trusted-relay"
    elif change == "mismatched sources":
        links[0]["devices"] = {"bob": {"rep_rate_hz": 5e7}}
    elif change == "unknown kind":
        links[0]["kind"] = "quantum-carrier-pigeon"
    elif change == "negative loss":
        links[0]["loss_db_per_km"] = -0.1
    return data


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ("relay serves two links", "nodes[1]", "an untrusted-relay joins exactly two users"),
        ("relay serves none", "nodes[3]", "'idle' is the relay of no link"),
        ("trusted relay that is not", "nodes[1]", "never holds key, so it cannot be trusted"),
        ("demand at the relay", "demands[0].b", "is an untrusted-relay; a demand ends at a user"),
        ("fibre to the relay", "links[1]", "an untrusted-relay is the relay of an mdi or twin-field link"),
        ("relay of the wrong kind", "links[0].relay", "is a trusted-relay, not an untrusted-relay"),
        ("unknown kind", "links[0].kind", "must be one of fibre, free-space, entanglement, mdi, twin-field"),
        ("negative loss", "links[0].loss_db_per_km", "must be >= 0"),
    ],
)
def test_bad_relays_are_named(change: str, field: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_broken(change))
    assert any(path == field and reason in why for path, why in info.value.errors), info.value.errors


def test_mismatched_mdi_sources_are_named() -> None:
    with pytest.raises(ScenarioError, match=r"links\[0\]\.devices\.bob\.rep_rate_hz: must equal alice's 7\.5e\+07 Hz"):
        build_links(load_scenario(_broken("mismatched sources")))


def test_a_phase_reference_that_cannot_work_is_refused() -> None:
    tracked = {**TF, "phase_reference": {"drift_rate_rad_per_s": 2000.0}}  # x 2.9 ms: 5.9 rad rms
    with pytest.raises(ScenarioError) as info:
        build_links(load_scenario(pair_scenario(**tracked)))
    [(field, reason)] = info.value.errors
    assert field == "links[0].phase_reference.tracking_delay_s"
    assert "round trip through the longer arm" in reason
    slow = {**TF, "phase_reference": {"drift_rate_rad_per_s": 0.1}}  # 0.1 rad/s x 3 ms: no harm
    engine = build_links(load_scenario(pair_scenario(**slow)))[0].engine
    assert engine.expected_rate_bps > 0


def test_twin_field_links_have_no_monte_carlo_yet() -> None:
    with pytest.raises(ScenarioError, match=r"links\[0\]\.model: twin-field links have the analytic model only"):
        build_links(load_scenario(pair_scenario(**{**TF, "model": "monte-carlo"})))


def test_the_cli_names_a_bad_relay_without_a_traceback(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("scenario", "validate", str(write(tmp_path, _broken("relay serves two links"))))
    assert code == 2
    assert "nodes[1]" in err
    assert "exactly two users" in err
    assert "Traceback" not in out + err


def test_a_copy_keeps_the_kinds() -> None:
    data = pair_scenario(**MDI)
    again = load_scenario(copy.deepcopy(load_scenario(data).model_dump(mode="json")))
    assert type(again.links[0]).__name__ == "MdiLinkSpec"


def test_the_kmes_of_an_mdi_pair_leave_the_relay_out() -> None:
    """``qinternet serve`` runs a KME per node that holds key: the two users, joined by the MDI link; none at the
    untrusted relay, and it relays nothing."""
    from qinternet.kms.feeder import kme_id, topology_of

    topology = topology_of(load_scenario(pair_scenario(**MDI)))
    assert kme_id("charlie") not in topology.kmes
    assert topology.links == ((kme_id("alice"), kme_id("bob")),)
    assert topology.relays == frozenset()


def test_the_documented_example_gives_key_to_both_pairs() -> None:
    """docs/examples/untrusted-relays.yaml (the README's example of untrusted relays) runs, and both demands get
    key over their own relayed link."""
    from qinternet import run_scenario

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "untrusted-relays.yaml"
    result = run_scenario(str(example), duration="12h")
    summary = json.loads(result.to_json())
    kinds = {link["id"]: link["kind"] for link in summary["links"]}
    assert kinds == {"alice-bob": "mdi", "dana-erik": "twin-field"}
    for demand in summary["demands"]:
        assert demand["delivered_bits"] > 0
        assert len(demand["paths"]) == 1


def test_unequal_arms_are_balanced_when_that_gives_more_key() -> None:
    """With both sources at one setting, very unequal arms spoil the interference at the relay; the link then
    attenuates the shorter arm to the longer's (as operators do), so 150 + 250 km gives the key of 250 + 250 km
    instead of none."""
    uneven = build_links(load_scenario(pair_scenario(**{**TF, "length_a_km": 150, "length_b_km": 250})))[0].engine
    even = build_links(load_scenario(pair_scenario(**{**TF, "length_a_km": 250, "length_b_km": 250})))[0].engine
    assert isinstance(uneven, TwinFieldLinkEngine)
    assert uneven.eta_a == uneven.eta_b == even.eta_b
    assert uneven.expected_rate_bps == even.expected_rate_bps > 0
    near = build_links(load_scenario(pair_scenario(**{**MDI, "length_a_km": 45, "length_b_km": 55})))[0].engine
    assert isinstance(near, MdiLinkEngine)
    assert near.eta_a > near.eta_b  # nearly equal arms: kept as built, which gives more


@pytest.mark.parametrize(
    ("link", "devices", "field", "reason"),
    [
        (
            MDI,
            {"bsm": {"detector": {"efficiency": 2}}},
            "links[0].devices.bsm.detector.efficiency",
            "must be in (0, 1]",
        ),
        (MDI, {"bob": {"rep_rate_hz": 0}}, "links[0].devices.bob.rep_rate_hz", "must be > 0"),
        (MDI, {"alice": {"phase_randomised": 3}}, "links[0].devices.alice.phase_randomised", "must be true or false"),
        (MDI, {"bsm": {"layout": "six-detectors"}}, "links[0].devices.bsm.layout", "must be one of"),
        (TF, {"station": {"detector": {"efficiency": 2}}}, "links[0].devices.station.detector.efficiency", "(0, 1]"),
        (TF, {"fibre_loss_db_per_km": -1}, "links[0].devices.fibre_loss_db_per_km", "must be >= 0"),
        (TF, {"notes": 5}, "links[0].devices.notes", "is not a field"),
    ],
)
def test_device_changes_of_relayed_links_are_named_by_their_path(
    link: dict[str, Any], devices: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        build_links(load_scenario(pair_scenario(**{**link, "devices": devices})))
    [(path, why)] = info.value.errors
    assert path == field
    assert reason in why


def test_lists_and_enums_of_relayed_devices_can_be_changed() -> None:
    """Tuples and enums are read by the field's type: a source's intensities, the relay's detector layout."""
    changed = {"alice": {"intensities": [0.5, 0.2, 0.05, 0.0]}, "bsm": {"layout": "four-detectors"}}
    engine = build_links(load_scenario(pair_scenario(**{**MDI, "devices": changed, "optimise_settings": False})))[0]
    assert isinstance(engine.engine, MdiLinkEngine)
    assert engine.engine.system.alice.intensities == (0.5, 0.2, 0.05, 0.0)
    assert engine.engine.system.bsm.layout.value == "four-detectors"


def test_a_preset_of_another_family_gives_its_detectors_without_after_pulses() -> None:
    """``preset: lim2014`` on an MDI link: Yin et al.'s sources with lim2014's fibre and detectors, whose after-pulses
    and dead time the relay's model leaves out (as the keyrate command's label says)."""
    engine = build_links(load_scenario(pair_scenario(**{**MDI, "preset": "lim2014"})))[0].engine
    assert isinstance(engine, MdiLinkEngine)
    lim = get_preset("lim2014").system
    assert engine.system.bsm.detector.efficiency == lim.detector.efficiency
    assert engine.system.bsm.detector.after_pulse_prob == 0.0


def test_a_twin_field_link_with_aopp_runs_at_the_aopp_finite_size_optimum() -> None:
    """``protocol: tf-sns-aopp``: the block's key per window is the optimised finite-size AOPP rate of its arms
    (qkd.tf_aopp_finite), and at 600 km, where pairing pays, it is above plain SNS's (Xu et al., PRA 101, 042330
    (2020): AOPP lowers the bit-error rate that limits SNS far out)."""
    from qinternet.qkd.tf_aopp_finite import optimise_aopp_finite

    aopp = build_links(load_scenario(pair_scenario(**{**TF, "protocol": "tf-sns-aopp"})))[0].engine
    sns = build_links(load_scenario(pair_scenario(**TF)))[0].engine
    assert isinstance(aopp, TwinFieldLinkEngine)
    assert isinstance(sns, TwinFieldLinkEngine)
    best = optimise_aopp_finite(
        aopp.eta_a, aopp.eta_b, aopp.station, ec_efficiency=aopp.ec_efficiency, params=aopp.params
    )
    assert aopp.key_rate_per_pulse == pytest.approx(best.key_rate_per_pulse, rel=1e-12)
    assert aopp.key_rate_per_pulse > sns.key_rate_per_pulse > 0
