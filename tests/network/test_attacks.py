"""Attacks as network events: the QBER they cause, the blocks they abort, the alarms, and routing around them.

The story: a ring of two trusted relays joins users a and b two ways round (tests/network/scenarios/attack-ring.yaml).
Eve attacks one link from a time; its blocks abort, the link's monitor raises an alarm, routing relays the demand the
other way round and the users keep receiving key. A cut fibre is an outage, not an attack; blinding is seen only by a
receiver with a bright-light monitor.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from qinternet.network.attacks import AttackKind, ScheduledAttack, parse_attack_option
from qinternet.network.links.base import AbortReason
from qinternet.network.links.build import build_links
from qinternet.network.links.fibre import FibreLinkEngine, draw_counts
from qinternet.network.run import RunResult, run_scenario
from qinternet.network.schema import Scenario, ScenarioError, load_scenario
from qinternet.qkd.montecarlo import compile_link

RING = Path(__file__).parent / "scenarios" / "attack-ring.yaml"
BLOCK_S = 600.0
START_S = 7200.0  # the attacks start at 2 h, on a block boundary: block 11 ends there, block 12 is attacked


def _ring(attacks: list[dict[str, Any]], **changes: Any) -> Scenario:
    data = yaml.safe_load(RING.read_text())
    data["attacks"] = attacks
    for index, fields in changes.items():  # e.g. link_2={"bright_light_monitor": True}
        data["links"][int(index.split("_")[1])].update(fields)
    return load_scenario(data)


def _run(attacks: list[dict[str, Any]], **changes: Any) -> RunResult:
    return run_scenario(_ring(attacks, **changes))


def test_intercept_resend_raises_the_qber_by_a_quarter_of_the_fraction() -> None:
    """Closed form (Gisin et al., RMP 74, 145 (2002), Sec. VI.A): Eve measuring a fraction ``f`` of the pulses in a
    random basis makes Bob's bit random half the time she guesses wrong, so the signal QBER rises from ``E`` by
    ``f (1 - 2E) / 4`` (``f/4`` on an ideal link). The model keeps Bob's gain only to first order (resent pulses
    brighter by ``1/(1 - e^-mu)``), which moves the rise by 4.5e-4 here, 1.5 sigma of a draw of 1e8 pulses; the
    tolerance is 5 binomial sigmas of the drawn counts plus nothing else."""
    engine = build_links(_ring([]))[0].engine
    assert isinstance(engine, FibreLinkEngine)
    honest = compile_link(engine.system, engine.channel)
    e = float(honest.probabilities[0, 0, 0, 2] + 0.5 * honest.probabilities[0, 0, 0, 3]) / float(
        honest.probabilities[0, 0, 0, 1:].sum()
    )  # the signal class's key-basis QBER: wrong clicks and half the double clicks
    for fraction in (0.1, 0.3, 1.0):
        attack = ScheduledAttack(kind=AttackKind.INTERCEPT_RESEND, strength=fraction, from_s=0.0)
        sampler = compile_link(engine.system, engine.channel, attack.intervention())
        counts = draw_counts(sampler, engine.system, 10**8, np.random.default_rng(15))
        n, errors = counts.key_detections[0], counts.key_errors[0]
        qber = errors / n
        sigma = math.sqrt(qber * (1 - qber) / n)
        assert qber - e == pytest.approx(fraction * (1 - 2 * e) / 4, abs=5 * sigma), fraction


def test_blocks_after_the_start_abort_and_the_alarm_names_the_time() -> None:
    honest = _run([])
    attacked = _run([{"link": "a-r1", "kind": "intercept-resend", "strength": 0.3, "from_s": "2h"}])
    before = [b for b in attacked.network.blocks[0] if b.end_s <= START_S]
    after = [b for b in attacked.network.blocks[0] if b.end_s > START_S]
    assert before == [b for b in honest.network.blocks[0] if b.end_s <= START_S]  # untouched until 2 h
    assert before
    assert all(not b.aborted for b in before)
    assert len(after) == 12
    assert all(b.key_bits == 0 and b.aborted for b in after)
    baseline = honest.network.blocks[0][0].qber
    assert all(b.qber == pytest.approx(baseline + 0.3 * (1 - 2 * baseline) / 4, rel=0.15) for b in after)
    assert [b for link in (1, 2, 3) for b in attacked.network.blocks[link]] == [
        b for link in (1, 2, 3) for b in honest.network.blocks[link]
    ]
    (alarm,) = attacked.summary.alarms
    assert (alarm.link, alarm.detected_as.value) == ("a-r1", "eavesdropping")
    assert alarm.raised_s == START_S + BLOCK_S
    assert alarm.cleared_s is None
    assert (alarm.first_aborted_block, alarm.first_aborted_s) == (12, START_S + BLOCK_S)
    (outcome,) = attacked.summary.attacks or ()
    assert outcome.detected
    assert outcome.detected_as == "eavesdropping"
    assert outcome.delay_s == BLOCK_S
    honest_rate = honest.network.blocks[0][0].key_bits / BLOCK_S
    assert outcome.key_lost_bits == pytest.approx(honest_rate * 2 * 3600)  # 2 h of the link's honest rate
    assert outcome.compromised_bits == 0
    assert honest.summary.alarms == ()
    assert honest.summary.attacks is None
    data = json.loads(attacked.to_json())
    assert data["alarms"][0]["raised_s"] == START_S + BLOCK_S
    assert data["alarms"][0]["detected_as"] == "eavesdropping"
    assert json.loads(honest.to_json())["alarms"] == []


def test_routing_relays_the_demand_the_other_way_round_after_the_alarm() -> None:
    run = _run([{"link": "a-r1", "kind": "intercept-resend", "strength": 0.3, "from_s": "2h"}]).network
    alarm_step = int(np.searchsorted(run.times_s, START_S + BLOCK_S))
    drawn = run.generated_bits - run.pool_bits  # key each link's pool gave to relays so far (no pool is full)
    assert not run.discarded_bits.any()
    a_r1, a_r2 = 0, 2
    assert drawn[alarm_step - 1, a_r1] > 0
    assert drawn[alarm_step - 1, a_r2] > 0
    assert np.all(drawn[alarm_step:, a_r1] == drawn[alarm_step, a_r1])  # never again after the alarm
    assert run.pool_bits[alarm_step, a_r1] > 0  # although its pool still held key
    later = run.delivered_bits[-1, 0] - run.delivered_bits[alarm_step, 0]
    assert later == pytest.approx(run.wanted_bits[-1, 0] - run.wanted_bits[alarm_step, 0])  # the key continues
    assert drawn[-1, a_r2] - drawn[alarm_step, a_r2] == pytest.approx(later)  # all of it via r2


def test_a_fibre_cut_is_an_outage_that_clears_when_the_fibre_is_spliced() -> None:
    result = _run([{"link": "r1-b", "kind": "fibre-cut", "from_s": "2h", "until_s": "3h"}])
    blocks = result.network.blocks[1]
    cut = [b for b in blocks if START_S < b.end_s <= START_S + 3600]
    assert len(cut) == 6
    assert all(b.key_bits == 0 for b in cut)
    assert all(b.sifted_bits < 1e-3 * blocks[0].sifted_bits for b in cut)  # dark counts only
    assert all(b.key_bits == blocks[0].key_bits for b in blocks if b.end_s > START_S + 3600)  # back to honest
    (alarm,) = result.summary.alarms
    assert alarm.detected_as.value == "outage"
    assert "loss of signal" in alarm.reason
    assert (alarm.raised_s, alarm.cleared_s) == (START_S + BLOCK_S, START_S + 3600 + BLOCK_S)
    (outcome,) = result.summary.attacks or ()
    assert outcome.detected_as == "outage"
    assert outcome.verdict.startswith("outage")
    assert outcome.key_lost_bits == pytest.approx(6 * blocks[0].key_bits)


def test_blinding_is_compromised_and_undetected_without_a_monitor_and_detected_with_one() -> None:
    blinding = [
        {"link": "a-r1", "kind": "blinding", "from_s": "2h"},
        {"link": "a-r2", "kind": "blinding", "from_s": "2h"},
    ]
    result = _run(blinding, link_2={"bright_light_monitor": True})
    plain, watched = result.network.blocks[0], result.network.blocks[2]
    baseline = plain[0].qber
    after = [b for b in plain if b.end_s > START_S]
    assert after
    assert all(b.key_bits > 0 and b.qber <= baseline for b in after)
    assert all(b.abort_reason is AbortReason.BRIGHT_LIGHT for b in watched if b.end_s > START_S)
    (alarm,) = result.summary.alarms
    assert (alarm.link, alarm.detected_as.value, alarm.raised_s) == ("a-r2", "detector-blinding", START_S + BLOCK_S)
    unseen, seen = result.summary.attacks or ()
    assert not unseen.detected
    assert unseen.compromised_bits == sum(b.key_bits for b in after) > 0
    assert "compromised" in unseen.verdict
    assert "undetected" in unseen.verdict
    assert seen.detected
    assert seen.detected_as == "detector-blinding"
    assert seen.compromised_bits == 0


@pytest.mark.parametrize(
    ("attack", "path", "reason"),
    [
        ({"link": "nowhere", "kind": "fibre-cut"}, "attacks[0].link", "unknown link 'nowhere'"),
        ({"link": "a-r1", "kind": "tapping"}, "attacks[0].kind", "must be one of"),
        ({"link": "a-r1", "kind": "intercept-resend", "strength": 1.5}, "attacks[0].strength", "must be <= 1"),
        ({"link": "a-r1", "kind": "fibre-cut", "strength": 0.5}, "attacks[0].strength", "intercept-resend only"),
        ({"link": "a-r1", "kind": "fibre-cut", "from_s": "2h", "until_s": "1h"}, "attacks[0].until_s", "after"),
    ],
)
def test_a_bad_attack_names_its_path(attack: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        _ring([attack])
    ((where, why),) = caught.value.errors
    assert where == path
    assert reason in why


def test_the_option_reads_link_kind_strength_and_times() -> None:
    assert parse_attack_option("a-r1=intercept-resend:0.3@2h") == {
        "link": "a-r1",
        "kind": "intercept-resend",
        "strength": 0.3,
        "from_s": 7200.0,
    }
    assert parse_attack_option("r1-b=fibre-cut@30min..1h")["until_s"] == 3600.0
    assert parse_attack_option("r1-b=blinding") == {"link": "r1-b", "kind": "blinding"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nowhere=fibre-cut@1h", "--attack: unknown link 'nowhere'"),
        ("a-r1=tapping@1h", "--attack: unknown attack 'tapping'"),
        ("a-r1=intercept-resend:1.5@1h", "--attack: must be <= 1"),
        ("a-r1=intercept-resend:0.3@soon", "--attack: from: 'soon' is not a duration"),
        ("intercept-resend", "--attack: 'intercept-resend' is not LINK=KIND"),
    ],
)
def test_a_bad_attack_option_exits_2_naming_it(cli, value: str, message: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("run", str(RING), "--attack", value, "--duration", "1h", "--out", str(tmp_path / "o"))
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"qinternet: error: {message}")
    assert "Traceback" not in err
    assert out == ""


def test_run_with_an_attack_writes_the_alarm_to_the_summary_and_the_report(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code, _stdout, _ = cli(
        "run", str(RING), "--duration", "3h", "--attack", "a-r1=intercept-resend:0.3@2h", "--out", str(out), "--json"
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [a["link"] for a in summary["alarms"]] == ["a-r1"]
    assert summary["attacks"][0]["detected"] is True
    report = (out / "report.html").read_text()
    assert "id='alarms'" in report
    assert "alarm: a-r1 (eavesdropping)" in report


def test_the_kmes_route_around_an_alarmed_link_and_keep_serving(tmp_path: Path) -> None:
    """``qinternet serve``: the same blocks feed the KMEs' pools and raise the same alarm; from then on the KMEs'
    widest path from a to b never takes a-r1, even when its pool holds more key than the other way round."""
    from qinternet.kms.feeder import NetworkFeeder, topology_of
    from qinternet.kms.store import KeyStore

    scenario = _ring([{"link": "a-r1", "kind": "intercept-resend", "strength": 0.3, "from_s": "2h"}])
    topology = topology_of(scenario)

    def r1_wider(kme_a: str, kme_b: str) -> int:
        return 10**6 if "kme-r1" in (kme_a, kme_b) else 10**3

    store = KeyStore(f"sqlite:///{tmp_path / 'kms.db'}")
    try:
        feeder = NetworkFeeder(scenario, store, capacity_bytes=4096, topology=topology)
        feeder.advance(START_S)
        assert feeder.alarms == []
        assert store.pool_level("kme-a", "kme-r2") > 0
        assert topology.widest_path("kme-a", "kme-b", r1_wider) == ["kme-a", "kme-r1", "kme-b"]
        feeder.advance(START_S + BLOCK_S)
        (alarm,) = feeder.alarms
        assert (alarm.link, alarm.raised_s) == ("a-r1", START_S + BLOCK_S)
        assert topology.widest_path("kme-a", "kme-b", r1_wider) == ["kme-a", "kme-r2", "kme-b"]
        assert topology.widest_path("kme-a", "kme-b", store.pool_level) == ["kme-a", "kme-r2", "kme-b"]
        assert topology.widest_path("kme-a", "kme-r1", r1_wider) is None  # its only link is out of service
    finally:
        store.close()
