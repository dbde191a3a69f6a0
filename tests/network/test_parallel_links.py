"""Parallel links: nodes with several communication qubits attempt both sides at once and multiplex each link.

Closed forms checked (time in attempt periods, ``p`` the success of one channel, ``k`` channels per link):
- one link of ``k`` channels heralds in each period with ``p' = 1 - (1 - p)**k`` (Collins, Jenkins, Kuzmich,
  Kennedy, PRL 98, 060502 (2007)), so its waiting time is geometric with mean ``1 / p'``;
- two links attempted at once are both ready after the larger of two independent geometric times, mean
  ``E[max] = 2/p' - 1/(1 - (1 - p')**2) = (3 - 2p') / (p' (2 - p'))`` (Shchukin, Schmidt, van Loock,
  PRA 100, 032322 (2019), two segments with deterministic swapping); made one after the other (one communication
  qubit) they take the sum, mean ``2 / p'``.

Tolerance: a sample mean is checked to within 5 standard errors (sample standard deviation / sqrt n; for two
samples the root sum of squares), so a correct engine fails with probability below 1e-6. Seeds are fixed.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from numpy.typing import NDArray

from qinternet.entanglement.chain import (
    ChainModel,
    ElementaryLink,
    PurifyStep,
    _Span,
    _tree,
    link_copies,
    sample_chain,
)
from qinternet.entanglement.purification import PurificationProtocol, PurificationSchedule
from qinternet.errors import ParameterError
from qinternet.network.repeater import (
    ChainEngine,
    RepeaterSettings,
    compile_chain,
    link_channels,
    node_channels,
    run_repeater_chain,
)
from qinternet.network.repeater_events import run_events
from qinternet.params.repeater_presets import REPEATER_PRESETS, repeater_preset

P = 0.05
"""Success of one channel's attempt."""
PERIOD_S = 1e-6
SAMPLED = 40_000
EVENTS = 6_000


def _link(channels: int, p: float = P) -> ElementaryLink:
    return ElementaryLink(success_prob=p, attempt_period_s=PERIOD_S, state=(1.0, 0.0, 0.0, 0.0), channels=channels)


def _periods(round_s: NDArray[np.float64]) -> NDArray[np.float64]:
    return round_s / PERIOD_S


def _close(sample: NDArray[np.float64], expected: float) -> None:
    se = float(sample.std(ddof=1) / math.sqrt(sample.size))
    assert abs(float(sample.mean()) - expected) < 5.0 * se, (float(sample.mean()), expected, se)


def _same(a: NDArray[np.float64], b: NDArray[np.float64]) -> None:
    se = math.hypot(float(a.std(ddof=1)) / math.sqrt(a.size), float(b.std(ddof=1)) / math.sqrt(b.size))
    assert abs(float(a.mean()) - float(b.mean())) < 5.0 * se, (float(a.mean()), float(b.mean()), se)


def _parallel_mean(q: float) -> float:
    return 2.0 / q - 1.0 / (1.0 - (1.0 - q) ** 2)


def test_round_success_is_one_minus_the_miss_of_every_channel() -> None:
    assert _link(1).round_success_prob == P
    assert _link(3).round_success_prob == pytest.approx(1.0 - 0.95**3, rel=1e-14)
    tiny = ElementaryLink(success_prob=1e-12, attempt_period_s=1.0, state=(1.0, 0.0, 0.0, 0.0), channels=1000)
    assert tiny.round_success_prob == pytest.approx(1e-9, rel=1e-6)  # -expm1(k log1p(-p)) keeps small p
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ParameterError) as info:
            ElementaryLink(success_prob=P, attempt_period_s=1.0, state=(1.0, 0.0, 0.0, 0.0), channels=bad)  # type: ignore[arg-type]
        assert info.value.field == "link.channels"


@pytest.mark.parametrize("channels", [1, 4])
def test_one_link_of_k_channels_waits_one_over_its_round_success(channels: int) -> None:
    model = ChainModel(links=1, link=_link(channels))
    expected = 1.0 / (1.0 - (1.0 - P) ** channels)
    sampled = _periods(sample_chain(model, SAMPLED, np.random.default_rng(11)).round_s)
    events = _periods(run_events(model, EVENTS, 12).round_s)
    _close(sampled, expected)
    _close(events, expected)
    if channels > 1:  # multiplexing is visible: k = 4 channels wait 5.4 periods on average, one channel 20
        assert sampled.mean() < 0.3 / P


@pytest.mark.parametrize("channels", [1, 2])
def test_two_links_at_once_wait_for_the_larger_geometric_time(channels: int) -> None:
    q = 1.0 - (1.0 - P) ** channels
    parallel = ChainModel(links=2, link=_link(channels), sequential=False)
    in_turn = dataclasses.replace(parallel, sequential=True)
    for model, expected in ((parallel, _parallel_mean(q)), (in_turn, 2.0 / q)):
        sampled = _periods(sample_chain(model, SAMPLED, np.random.default_rng(21)).round_s)
        nested = _periods(run_events(model, EVENTS, 22, "nested").round_s)
        asap = _periods(run_events(model, EVENTS, 23, "asap").round_s)
        for sample in (sampled, nested, asap):
            _close(sample, expected)
        _same(sampled, nested)
        _same(sampled, asap)
    # at p' = 0.05 (one channel) parallel sides wait 29.7 periods against 40 in turn: 3/4 for small p'
    assert _parallel_mean(q) / (2.0 / q) == pytest.approx((3.0 - 2.0 * q) / (2.0 * (2.0 - q)), rel=1e-12)


def test_the_analytic_engine_gives_the_closed_form_of_a_multiplexed_three_node_chain() -> None:
    # ideal nodes with 4 communication qubits: 2 channels per link, both sides at once; the exact engine's mean
    # waiting time is E[max] of the two links' geometric times in periods, plus the last swap's message
    settings = RepeaterSettings(preset="ideal", nodes=3, length_km=100.0, communication_qubits=4, pairs=20_000)
    exact = run_repeater_chain(settings, ChainEngine.ANALYTIC)
    model = compile_chain(repeater_preset("ideal"), nodes=3, length_km=100.0)
    assert model.sequential  # the preset's one communication qubit
    multiplexed = dataclasses.replace(model, sequential=False, link=dataclasses.replace(model.link, channels=2))
    q = multiplexed.link.round_success_prob
    expected_s = _parallel_mean(q) * model.link.attempt_period_s + model.delivery_delay_s
    assert exact.waiting_time_s.mean == pytest.approx(expected_s, rel=1e-9)
    assert exact.link_channels == 2
    sampled = run_repeater_chain(settings)
    assert abs(sampled.waiting_time_s.mean - expected_s) < 0.03 * expected_s  # 5 standard errors at 2e4 pairs


def test_channels_of_nodes_and_links_follow_the_hardware() -> None:
    ideal = repeater_preset("ideal")
    with_k = {
        k: dataclasses.replace(ideal, node=dataclasses.replace(ideal.node, communication_qubits=k, memory_qubits=k))
        for k in (1, 2, 3, 4)
    }
    assert [link_channels(with_k[k], 1) for k in (1, 2, 3, 4)] == [(1, True), (2, False), (3, False), (4, False)]
    # an inner node splits its channels between its two sides; with one it makes them in turn
    assert [link_channels(with_k[k], 2) for k in (1, 2, 3, 4)] == [(1, True), (1, False), (1, False), (2, False)]
    # purification (one recurrence round) makes two copies of each link: four at once at an inner node, so with
    # fewer channels the links are made one at a time, each with every channel
    dejmps = PurifyStep(protocol=PurificationProtocol.DEJMPS)
    assert [link_channels(with_k[k], 2, dejmps) for k in (1, 2, 3, 4)] == [(1, True), (2, True), (3, True), (1, False)]
    assert link_channels(with_k[2], 1, dejmps) == (1, False)  # two copies of a single link, one channel each
    assert compile_chain(with_k[1], nodes=3, length_km=10.0).sequential
    assert not compile_chain(with_k[2], nodes=3, length_km=10.0).sequential
    # a DLCZ ensemble multiplexes its memory modes; a midpoint source's modes are in its heralding already
    rb = repeater_preset("ustc-rb")
    rb3 = dataclasses.replace(
        rb, node=dataclasses.replace(rb.node, memory=dataclasses.replace(rb.node.memory, modes=3))
    )
    assert node_channels(rb) == 1
    assert node_channels(rb3) == 3
    siv = repeater_preset("harvard-siv-2024")
    siv5 = dataclasses.replace(
        siv, node=dataclasses.replace(siv.node, memory=dataclasses.replace(siv.node.memory, modes=5))
    )
    assert node_channels(siv5) == 1


@pytest.mark.parametrize("name", sorted(REPEATER_PRESETS))
def test_every_preset_has_one_communication_qubit_so_its_numbers_are_unchanged(name: str) -> None:
    # each value's source is in the preset's provenance; a preset given more must say which numbers change
    preset = REPEATER_PRESETS[name]
    assert preset.node.communication_qubits == 1
    assert any(value.startswith("node.communication_qubits") for value, _ in preset.provenance), name
    model = compile_chain(preset, nodes=3, length_km=0.01)
    assert model.sequential
    assert model.link.channels == 1


def test_nv_memories_dephased_by_attempts_refuse_parallel_sides_but_not_a_single_link() -> None:
    settings = RepeaterSettings(preset="delft-nv", nodes=3, length_km=10.0, communication_qubits=2, pairs=100)
    with pytest.raises(ParameterError) as info:
        run_repeater_chain(settings)
    assert info.value.field == "node.communication_qubits"
    single = run_repeater_chain(dataclasses.replace(settings, nodes=2, pairs=2000))
    one = run_repeater_chain(dataclasses.replace(settings, nodes=2, pairs=2000, communication_qubits=1))
    assert single.link_channels == 2
    assert single.pairs_per_s > 1.5 * one.pairs_per_s  # 2 channels: 1 - (1 - p)^2 ~ 2p per period


def _leaves(span: _Span, link: int) -> int:
    if span.kind == "leaf":
        return int(span.first == link)
    assert span.left is not None
    assert span.right is not None
    return _leaves(span.left, link) + _leaves(span.right, link)


@pytest.mark.parametrize(
    ("links", "rounds", "schedule", "levels"),
    [
        (1, 2, PurificationSchedule.RECURRENCE, (0,)),
        (3, 1, PurificationSchedule.RECURRENCE, (0, 1)),
        (5, 2, PurificationSchedule.PUMPING, (0, 2)),
        (6, 1, PurificationSchedule.RECURRENCE, (1, 3)),
    ],
)
def test_link_copies_count_the_leaves_of_the_protocol_tree(
    links: int, rounds: int, schedule: PurificationSchedule, levels: tuple[int, ...]
) -> None:
    step = PurifyStep(protocol=PurificationProtocol.DEJMPS, rounds=rounds, schedule=schedule, levels=levels)
    tree = _tree(0, links - 1, step)
    assert link_copies(links, step) == max(_leaves(tree, i) for i in range(links))
    assert link_copies(links, None) == 1


def test_copies_of_a_purified_link_are_made_at_once_when_the_nodes_have_a_qubit_for_each() -> None:
    # perfect pairs purify with certainty, so a round lasts until both copies exist: at once (2 communication
    # qubits, one channel each) E[max] of two geometric times, in turn (one) their sum
    base = RepeaterSettings(preset="ideal", nodes=2, length_km=100.0, purify=PurificationProtocol.DEJMPS, pairs=20_000)
    period = compile_chain(repeater_preset("ideal"), nodes=2, length_km=100.0).link.attempt_period_s
    p = compile_chain(repeater_preset("ideal"), nodes=2, length_km=100.0).link.success_prob
    at_once = run_repeater_chain(dataclasses.replace(base, communication_qubits=2))
    in_turn = run_repeater_chain(base)
    assert at_once.link_channels == in_turn.link_channels == 1
    assert at_once.mean_fidelity == pytest.approx(1.0)
    for result, expected in ((at_once, _parallel_mean(p)), (in_turn, 2.0 / p)):
        # 5 standard errors: the round time's standard deviation is at most its mean here (geometric-like)
        assert abs(result.waiting_time_s.mean / period - expected) < 5.0 * expected / math.sqrt(base.pairs)


def test_both_engines_agree_on_a_multiplexed_preset_chain() -> None:
    # near-term nodes with 4 communication qubits over 5 nodes (T2 = 10 s memories, gate swaps): 2 channels per
    # link, all four links at once; the sampler and the nested event-driven engine give the same round times
    # and fidelities (5 standard errors)
    near = repeater_preset("near-term")
    node = dataclasses.replace(near.node, communication_qubits=4)
    model = compile_chain(dataclasses.replace(near, node=node), nodes=5, length_km=200.0)
    assert model.link.channels == 2
    assert not model.sequential
    sampled = sample_chain(model, SAMPLED, np.random.default_rng(31))
    events = run_events(model, EVENTS, 32, "nested")
    _same(sampled.round_s, events.round_s)
    _same(sampled.states[:, 0], events.states[:, 0])
