"""The slot scheduler of the entanglement network layer: a periodic network schedule of whole slots (Pompili 2022)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from qinternet.entanglement.chain import ElementaryLink
from qinternet.network.entanglement_net import (
    MAX_SAMPLED_PAIRS,
    MemoryLinkModel,
    QuantumNodeModel,
    RequestModel,
    run_requests,
)
from qinternet.network.run import run_scenario
from qinternet.network.schema import ScenarioError, load_scenario
from qinternet.network.slot_schedule import SCHEDULE_FRAME_SLOTS, OwnSlots, Scheduler, build_schedule
from qinternet.params.repeater_presets import repeater_preset

TAU_S = 2.0**-10
"""Attempt period of the test links: a power of two, so that slots of whole attempts add up exactly."""


def _link(success_prob: float, qubits: int = 1) -> tuple[list[MemoryLinkModel], dict[str, QuantumNodeModel]]:
    """One memory link a-b of ideal nodes with ``qubits`` each, attempts every ``TAU_S`` with ``success_prob``."""
    preset = repeater_preset("ideal")
    link = ElementaryLink(success_prob=success_prob, attempt_period_s=TAU_S, state=(0.9, 0.1, 0.0, 0.0))
    links = [MemoryLinkModel(id="ab", a="a", b="b", length_km=1.0, preset=preset, link=link)]
    nodes = {n: QuantumNodeModel(id=n, preset=preset, qubits=qubits, communication_qubits=qubits) for n in "ab"}
    return links, nodes


def test_one_request_in_slots_is_the_time_share_at_any_slot_length() -> None:
    # Alone on its path a request owns every slot: one stretch, nothing discarded, the same draws and numbers
    preset = repeater_preset("near-term")
    links = [
        MemoryLinkModel(id=n, a=n[0], b=n[1], length_km=10.0, preset=preset, link=compile_link_of(preset, 10.0))
        for n in ("am", "mb")
    ]
    nodes = {n: QuantumNodeModel(id=n, preset=preset, qubits=4, communication_qubits=2) for n in "amb"}
    requests = [RequestModel(id="r", a="a", b="b", pairs=5000, min_fidelity=0.5)]
    shared = run_requests(requests, links, nodes, duration_s=60.0, seed=5)
    for slot_s in (1e-3, 1e9):  # a slot far shorter than a round, and one longer than the run
        slotted = run_requests(
            requests, links, nodes, duration_s=60.0, seed=5, scheduler=Scheduler.SLOTS, slot_s=slot_s
        )
        assert slotted.requests[0].to_dict() == shared.requests[0].to_dict()
        np.testing.assert_array_equal(slotted.requests[0].delivered_s, shared.requests[0].delivered_s)
        assert slotted.occupancy == shared.occupancy
        assert slotted.rows()[0]["scheduler"] == "slots"
        assert slotted.rows()[0]["slot_s"] == slot_s
    assert shared.requests[0].pairs > 100  # the comparison is over many pairs
    assert "scheduler" not in shared.rows()[0]  # the time-share's summary is as it was


def compile_link_of(preset: Any, length_km: float) -> ElementaryLink:
    from qinternet.network.repeater import compile_link

    return compile_link(preset, length_km)


def test_two_requests_on_one_link_get_alternate_slots_and_their_fraction_of_the_pairs() -> None:
    # Nodes of one qubit: one request per slot. Slots of n attempts; the attempts of a slot are Bernoulli(p), so a
    # request's pairs in its M/2 slots are Binomial(n M / 2, p): mean n M p / 2, four standard deviations allowed.
    p, n, slots = 0.2, 64, 9600
    links, nodes = _link(p)
    requests = [RequestModel(id=x, a="a", b="b", pairs=10**6) for x in "rs"]
    run = run_requests(
        requests, links, nodes, duration_s=slots * n * TAU_S, seed=3, scheduler=Scheduler.SLOTS, slot_s=n * TAU_S
    )
    mean = n * slots / 2 * p
    sigma = math.sqrt(n * slots / 2 * p * (1 - p))
    for got in run.requests:
        assert got.share == 0.5
        assert got.pairs == pytest.approx(mean, abs=4 * sigma)
        assert got.fidelity_mean == pytest.approx(0.9)
        assert not got.met  # far fewer than the million asked
    assert run.occupancy == {"a": 1.0, "b": 1.0}
    # their slots alternate: every slot has one owner
    delivered = np.concatenate([g.delivered_s for g in run.requests])
    owner_slot = np.floor(delivered / (n * TAU_S) - 1e-9).astype(int) % 2
    assert set(owner_slot[: len(run.requests[0].delivered_s)]) == {0}
    assert set(owner_slot[len(run.requests[0].delivered_s) :]) == {1}


def test_a_round_its_slot_cuts_short_is_discarded() -> None:
    # Deterministic rounds of TAU_S in slots of 2.5 TAU_S: two fit in each own slot, the third is cut by the slot's
    # end and discarded. Each of two requests owns 480 of 960 slots: exactly 960 pairs, where the time-share makes
    # 1,200 (half of 960 x 2.5 attempts).
    links, nodes = _link(1.0)
    slot_s = 2.5 * TAU_S
    requests = [RequestModel(id=x, a="a", b="b", pairs=10**6) for x in "rs"]
    duration_s = 960 * slot_s
    slotted = run_requests(
        requests, links, nodes, duration_s=duration_s, seed=2, scheduler=Scheduler.SLOTS, slot_s=slot_s
    )
    shared = run_requests(requests, links, nodes, duration_s=duration_s, seed=2)
    assert [g.pairs for g in slotted.requests] == [960, 960]
    assert [g.discarded_rounds for g in slotted.requests] == [480, 480]  # one cut short per own slot
    assert [row["discarded_rounds"] for row in slotted.rows()] == [480, 480]
    assert [g.pairs for g in shared.requests] == [1200, 1200]
    # slots shorter than a round: none finishes, the request is unmet and says why
    short = run_requests(
        requests, links, nodes, duration_s=duration_s, seed=2, scheduler=Scheduler.SLOTS, slot_s=0.5 * TAU_S
    )
    for got in short.requests:
        assert got.pairs == 0
        assert got.unmet is not None
        assert "no round finished within the request's slots" in got.unmet
        assert got.discarded_rounds > 0


def test_more_pairs_than_are_drawn_are_extrapolated_from_the_slots_reached() -> None:
    # One attempt per pair (p = 1), two requests alternating slots of 64 attempts over 600 s: each makes exactly
    # 64 pairs per own slot, 600 / TAU_S / 2 = 307,200 in all; the layer draws 200,000 and extrapolates the rest from
    # the time they took (a part of an own slot at most: 64 pairs)
    links, nodes = _link(1.0)
    requests = [RequestModel(id=x, a="a", b="b", pairs=10**6) for x in "rs"]
    run = run_requests(requests, links, nodes, duration_s=600.0, seed=4, scheduler=Scheduler.SLOTS, slot_s=64 * TAU_S)
    for got in run.requests:
        assert got.extrapolated
        assert len(got.delivered_s) == MAX_SAMPLED_PAIRS
        assert got.pairs == pytest.approx(307_200, abs=64)


@pytest.mark.parametrize("n", [8, 32, 128])
def test_latency_grows_with_the_slot_as_the_wait_for_the_next_own_slot(n: int) -> None:
    # Deterministic rounds (p = 1: one attempt, TAU_S) and two requests alternating slots of L = n TAU_S (period 2L).
    # A pair asked at phase x of the period is delivered at once (latency TAU_S) if x <= L - TAU_S; otherwise it
    # waits for the next own slot, at 2L: latency TAU_S + 2L - x. For x uniform on [0, 2L):
    #   E[latency] = TAU_S + (L + TAU_S)^2 / (4 L)      (the mean wait for the next own slot ~ L / 4).
    # The asks come every 2L x golden ratio (longer than a pair's worst latency 2L + TAU_S: no queue), which
    # spreads their phases evenly. Latency lies in [TAU_S, 2L + TAU_S]: its standard deviation is below L + TAU_S/2.
    links, nodes = _link(1.0)
    slot_s = n * TAU_S
    rate = 1.0 / (2 * slot_s * (1 + math.sqrt(5)) / 2)
    asks = 2000
    requests = [RequestModel(id=x, a="a", b="b", pairs_per_s=rate) for x in "rs"]
    run = run_requests(requests, links, nodes, duration_s=asks / rate, seed=1, scheduler=Scheduler.SLOTS, slot_s=slot_s)
    expected = TAU_S + (slot_s + TAU_S) ** 2 / (4 * slot_s)
    for got in run.requests:
        assert got.pairs >= asks - 1
        assert got.latency_s == pytest.approx(expected, abs=4 * (slot_s + TAU_S / 2) / math.sqrt(got.pairs))
    # the time-share has no slots to wait for: a round, stretched by the share of 1/2
    shared = run_requests(requests, links, nodes, duration_s=asks / rate, seed=1)
    assert shared.requests[0].latency_s == pytest.approx(2 * TAU_S)


def test_the_schedule_shares_slots_round_robin_and_runs_disjoint_paths_together() -> None:
    capacity = dict.fromkeys("abcdm", (1, 1))
    one = {"a": (1, 1), "m": (1, 1)}
    two = {"b": (1, 1), "m": (1, 1)}
    three = {"c": (1, 1), "m": (1, 1)}
    apart = {"c": (1, 1), "d": (1, 1)}
    # three requests through m share it in turn, a third each
    schedule = build_schedule([1 / 3, 1 / 3, 1 / 3], [one, two, three], capacity, slot_s=1.0)
    assert schedule.owners.shape == (3, SCHEDULE_FRAME_SLOTS)
    assert (schedule.owners.sum(axis=0) == 1).all()
    np.testing.assert_array_equal(schedule.owners.mean(axis=1), [1 / 3, 1 / 3, 1 / 3])
    assert schedule.owners[:, :3].tolist() == [[True, False, False], [False, True, False], [False, False, True]]
    # a path that shares no node runs in every slot beside one that does
    schedule = build_schedule([1.0, 1.0], [one, apart], capacity, slot_s=1.0)
    assert schedule.owners.all()
    # a request without a path, or with no share (a higher priority took the node), owns nothing
    schedule = build_schedule([1.0, 0.0, 0.5], [one, two, None], capacity, slot_s=1.0, priorities=[10, 1, 1])
    assert schedule.owners[0].all()
    assert not schedule.owners[1:].any()


def test_own_slots_are_stretches_of_time() -> None:
    own = OwnSlots(slot_s=2.0, pattern=np.array([True, True, False, False, True, False]))
    assert own.fraction == pytest.approx(0.5)
    assert own.stretch(0.5) == (0.5, 4.0)  # inside the first two slots: until they end
    assert own.stretch(4.0) == (8.0, 10.0)  # at their end: the next own slot
    assert own.stretch(10.0) == (12.0, 16.0)  # the last slot of a frame runs into the next frame's first two
    assert own.stretch(9.0) == (9.0, 10.0)
    assert OwnSlots(slot_s=1.0, pattern=np.zeros(4, dtype=bool)).stretch(3.0) == (math.inf, math.inf)
    assert OwnSlots(slot_s=1.0, pattern=np.ones(4, dtype=bool)).stretch(3.0) == (3.0, math.inf)


def _pair_network(entanglement: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "slots",
        "time": {"duration_s": 120, "step_s": 60},
        "nodes": [
            {"id": "a", "kind": "quantum-node", "lat_deg": 46.2, "lon_deg": 6.1, "hardware": "ideal", "qubits": 1},
            {"id": "b", "kind": "quantum-node", "lat_deg": 46.3, "lon_deg": 6.2, "hardware": "ideal", "qubits": 1},
        ],
        "links": [{"id": "ab", "kind": "memory", "a": "a", "b": "b", "length_km": 1}],
        "requests": [
            {"id": "r", "a": "a", "b": "b", "pairs": 100},
            {"id": "s", "a": "a", "b": "b", "pairs": 100},
        ],
    }
    if entanglement is not None:
        data["entanglement"] = entanglement
    return data


def test_a_scenario_runs_its_requests_in_slots_and_says_so() -> None:
    summary = run_scenario(load_scenario(_pair_network({"scheduler": "slots", "slot_s": "10ms"}))).to_dict()
    rows = {row["request"]: row for row in summary["entanglement"]}
    assert {row["scheduler"] for row in rows.values()} == {"slots"}
    assert rows["r"]["slot_s"] == pytest.approx(0.01)
    assert rows["r"]["share"] == rows["s"]["share"] == 0.5
    assert rows["r"]["pairs"] == rows["s"]["pairs"] == 100
    assert summary["memory_occupancy"] == {"a": 1.0, "b": 1.0}
    default = run_scenario(load_scenario(_pair_network(None))).to_dict()
    assert "scheduler" not in default["entanglement"][0]  # time-share by default, its summary unchanged


@pytest.mark.parametrize(
    ("entanglement", "path", "reason"),
    [
        ({"scheduler": "slots", "slot_s": 0}, "entanglement.slot_s", "must be > 0"),
        ({"scheduler": "slots", "slot_s": -1}, "entanglement.slot_s", "must be > 0"),
        ({"scheduler": "round-robin", "slot_s": 1}, "entanglement.scheduler", "time-share"),
        ({"scheduler": "slots"}, "entanglement", "needs slot_s"),
        ({"slot_s": 1}, "entanglement", "only for scheduler: slots"),
        ({"scheduler": "slots", "slot_s": 1, "frame": 3}, "entanglement.frame", ""),
    ],
)
def test_bad_scheduler_settings_name_their_field(entanglement: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_pair_network(entanglement))
    assert any(p == path and reason in r for p, r in caught.value.errors), caught.value.errors


def test_the_cli_refuses_a_bad_slot_in_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_pair_network({"scheduler": "slots", "slot_s": 0})))
    code, out, err = cli("scenario", "validate", str(bad))
    assert code == 2
    assert "entanglement.slot_s: must be > 0" in err
    assert "Traceback" not in err
    assert out == ""
