"""Memories dephased by their own node's entanglement attempts (NV centres): the closed form of Kalb et al.,
PRA 97, 062330 (2018), eq. (2), in the physics, in the chain sampler, in the event-driven engine and in the exact
engine.

Tolerances (seeds fixed): means within 5 standard errors (sample standard deviation / sqrt n; for two samples the
root sum of squares of both), a false alarm below 1e-6 for a correct sampler.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from numpy.typing import NDArray

from qinternet.entanglement import chain as chain_module
from qinternet.entanglement.abstract import AbstractChainParams
from qinternet.entanglement.analytic import (
    _Dephased,
    _next_level_dephased,
    _next_level_sequential,
    chain_distribution,
    waiting_time_and_werner,
)
from qinternet.entanglement.chain import (
    ChainModel,
    ElementaryLink,
    PurifyStep,
    attempts_decay,
    depolarising_decay,
    sample_chain,
)
from qinternet.entanglement.purification import PurificationProtocol, purify
from qinternet.errors import ParameterError
from qinternet.network.repeater import (
    ChainEngine,
    RepeaterSettings,
    analytic_chain,
    compile_chain,
    run_repeater_chain,
)
from qinternet.network.repeater_events import run_events
from qinternet.params.hardware import MemoryParams
from qinternet.params.repeater_presets import REPEATER_PRESETS, HardwarePreset, repeater_preset
from qinternet.physics.memory import attempt_dephasing_prob, attempts_coherence, attempts_to_1e
from qinternet.states import bell

W0 = 0.95
"""Werner parameter of the fresh links of the abstract chains below."""


def _se(x: NDArray[np.float64]) -> float:
    return float(x.std(ddof=1) / math.sqrt(x.size))


def _model(q: float, prob: float, **kwargs: object) -> ChainModel:
    link = ElementaryLink(success_prob=q, attempt_period_s=1.0, state=tuple(bell.werner(W0)))  # type: ignore[arg-type]
    return ChainModel(links=2, link=link, sequential=True, attempt_dephasing_prob=prob, **kwargs)  # type: ignore[arg-type]


def test_the_dephasing_per_attempt_is_kalbs_closed_form() -> None:
    # C(N) = [1 - alpha (1 - exp(-(dw tau)^2 / 2))]^N (Kalb et al. 2018 eq. (2)); delft-nv's 13C coupling
    # 2 pi x 77 kHz and reset time 163 ns (Kalb 2018 Table I, Fig. 2) give N_1/e = 3,220 attempts at alpha = 0.1
    spread = 2 * math.pi * 77e3 * 163e-9
    memory = MemoryParams(attempt_phase_spread_rad=spread)
    for alpha in (0.05, 0.1, 0.5):
        per_attempt = 1 - alpha * (1 - math.exp(-(spread**2) / 2))
        p = attempt_dephasing_prob(memory, alpha)
        assert 1 - 2 * p == pytest.approx(per_attempt, rel=1e-12)
        assert attempts_coherence(p, 1000) == pytest.approx(per_attempt**1000, rel=1e-9)
        assert attempts_to_1e(p) == pytest.approx(-1 / math.log(per_attempt), rel=1e-12)
    assert attempts_to_1e(attempt_dephasing_prob(memory, 0.1)) == pytest.approx(3220, abs=1)
    assert repeater_preset("delft-nv").node.memory.attempt_phase_spread_rad == pytest.approx(spread)
    assert attempt_dephasing_prob(MemoryParams(), 0.3) == 0.0
    assert attempts_to_1e(0.0) == math.inf


def test_a_stored_werner_pair_after_n_attempts_is_the_closed_form() -> None:
    # n attempts, each a Z flip of the stored half with probability p, one after the other (bell.dephase), equal
    # the closed form: the coherence components times (1 - 2p)^n, the Z-type ones untouched
    p, n = 0.01, 137
    stepped = bell.werner(W0)
    for _ in range(n):
        stepped = bell.dephase(stepped, p)
    walsh = bell.walsh(bell.werner(W0)) * attempts_decay(p, np.array([n]))[:, 0]
    np.testing.assert_allclose(bell.from_walsh(walsh), stepped, atol=1e-12)
    np.testing.assert_allclose(bell.walsh(stepped), [1.0, W0, W0 * (1 - 2 * p) ** n, W0 * (1 - 2 * p) ** n])


def _geometric_mean_power(q: float, lam: float, cut: int | None = None) -> float:
    """E[lam^G] for G ~ Geom(q) on 1, 2, ... (conditioned on G <= cut)."""
    if cut is None:
        return q * lam / (1 - (1 - q) * lam)
    g = np.arange(1, cut + 1)
    weights = q * (1 - q) ** (g - 1)
    return float(np.sum(weights * lam**g) / np.sum(weights))


@pytest.mark.parametrize(("cutoff_s", "fast"), [(None, True), (30.0, True), (30.0, False)])
def test_three_nodes_the_first_link_dephases_with_each_attempt_of_the_second(
    cutoff_s: float | None, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one communication qubit: the first link waits while the middle node attempts the second, G ~ Geom(q)
    # attempts (at most the cut-off's 30); its qubit there keeps coherence (1 - 2p)^G, so the swapped pair's
    # coherence components are w0^2 E[(1 - 2p)^G] and its Z-type one w0^2
    monkeypatch.setattr(chain_module._Sampler, "fast_leaves", fast)
    q, p, rounds = 0.05, 0.01, 40_000
    drawn = sample_chain(_model(q, p, cutoff_s=cutoff_s), rounds, np.random.default_rng(3))
    cut = None if cutoff_s is None else 30
    expected = W0**2 * _geometric_mean_power(q, 1 - 2 * p, cut)
    walsh = bell.walsh(drawn.states, axis=-1)
    np.testing.assert_allclose(walsh[:, 1], W0**2, rtol=1e-12)
    for j in (2, 3):
        assert abs(walsh[:, j].mean() - expected) < 5 * _se(walsh[:, j])
    plain = sample_chain(_model(q, 0.0, cutoff_s=cutoff_s), rounds, np.random.default_rng(3))
    np.testing.assert_array_equal(plain.round_s, drawn.round_s)  # the same draws: only the states change


def test_a_purified_link_dephases_with_each_attempt_of_its_second_copy() -> None:
    # one DEJMPS round on one link, copies made in turn: the first copy waits G ~ Geom(q) attempts of the second
    # at both its nodes, coherence (1 - 2p)^(2G); a run of rounds ends at the first success, so the delivered
    # state is sum_G P(G) s(G) kept(G) / sum_G P(G) s(G) (truncated where P(G) < 1e-15)
    q, p, rounds = 0.05, 0.005, 40_000
    link = ElementaryLink(success_prob=q, attempt_period_s=1.0, state=tuple(bell.werner(W0)))  # type: ignore[arg-type]
    model = ChainModel(
        links=1,
        link=link,
        sequential=True,
        attempt_dephasing_prob=p,
        purify=PurifyStep(protocol=PurificationProtocol.DEJMPS),
    )
    drawn = sample_chain(model, rounds, np.random.default_rng(5))
    g = np.arange(1, 800)
    weights = q * (1 - q) ** (g - 1)
    waited = bell.from_walsh((bell.walsh(bell.werner(W0))[:, None] * attempts_decay(p, g) * attempts_decay(p, g)).T)
    success, kept = purify(waited, bell.werner(W0), PurificationProtocol.DEJMPS)
    expected = np.sum((weights * success)[:, None] * kept, axis=0) / np.sum(weights * success)
    fidelity = drawn.states[:, 0]
    assert abs(fidelity.mean() - expected[0]) < 5 * _se(fidelity)
    undephased = purify(bell.werner(W0), bell.werner(W0), PurificationProtocol.DEJMPS)[1][0]
    assert expected[0] < undephased - 50 * _se(fidelity)  # the effect is far larger than the test's resolution


@pytest.mark.parametrize(("links", "cutoff_s"), [(2, None), (4, 40.0)])
def test_the_event_driven_engine_counts_the_same_attempts(links: int, cutoff_s: float | None) -> None:
    # the kernel counts each node's attempts and a stored qubit sees those made while it waited: on 3 and 5
    # nodes (nested, one communication qubit, a cut-off) the delivered fidelity agrees with the sampler's
    model = dataclasses.replace(_model(0.05, 0.01, cutoff_s=cutoff_s), links=links)
    events = run_events(model, 6000, seed=7, policy="nested").states[:, 0]
    sampled = sample_chain(model, 60_000, np.random.default_rng(8)).states[:, 0]
    assert abs(events.mean() - sampled.mean()) < 5 * math.hypot(_se(events), _se(sampled))
    no_dephasing = sample_chain(
        dataclasses.replace(model, attempt_dephasing_prob=0.0), 60_000, np.random.default_rng(8)
    )
    assert sampled.mean() < no_dephasing.states[:, 0].mean() - 10 * _se(sampled)


def test_delft_nv_three_nodes_both_engines_agree_and_lose_fidelity_to_the_attempts() -> None:
    # delft-nv-2021, 30 m: the second link takes ~1/7e-5 = 14,000 attempts, several times N_1/e at alpha = 0.1,
    # so the carbon memory at the middle node loses most of its coherence while it waits (Pompili et al. 2021 ran
    # their memory with a timeout for this reason)
    settings = RepeaterSettings(preset="delft-nv-2021", nodes=3, length_km=0.03, pairs=20_000, seed=9)
    exact = run_repeater_chain(settings, ChainEngine.ANALYTIC)
    drawn = run_repeater_chain(settings)
    half = (drawn.fidelity_ci95[1] - drawn.fidelity_ci95[0]) / 2 / 1.96
    assert abs(drawn.mean_fidelity - exact.mean_fidelity) < 5 * half
    preset = repeater_preset("delft-nv-2021")
    robust = dataclasses.replace(
        preset,
        node=dataclasses.replace(
            preset.node, memory=dataclasses.replace(preset.node.memory, attempt_phase_spread_rad=0.0)
        ),
    )
    without = run_repeater_chain(settings, hardware=robust)
    assert drawn.mean_fidelity < without.mean_fidelity - 10 * half
    assert drawn.pairs_per_s == without.pairs_per_s  # the same draws: dephasing changes states, not times


def test_what_attempt_dephasing_refuses() -> None:
    with pytest.raises(ParameterError, match=r"memory\.attempt_phase_spread_rad"):
        MemoryParams(attempt_phase_spread_rad=-0.1)
    link = ElementaryLink(success_prob=0.1, attempt_period_s=1.0, state=(1.0, 0.0, 0.0, 0.0))
    with pytest.raises(ParameterError, match="one communication qubit"):
        ChainModel(links=2, link=link, attempt_dephasing_prob=0.01)
    with pytest.raises(ParameterError, match=r"memory\.attempt_dephasing_prob"):
        ChainModel(links=2, link=link, sequential=True, attempt_dephasing_prob=0.6)
    with pytest.raises(ParameterError, match="attempt_factor"):  # chains made at once: not modelled
        waiting_time_and_werner(AbstractChainParams(p_gen=0.1, segments=4), attempt_factor=0.9)
    assert compile_chain(repeater_preset("delft-nv"), nodes=3, length_km=10.0).attempt_dephasing_prob > 0.0
    for name, preset in REPEATER_PRESETS.items():  # only the NV presets have a published coupling
        assert (preset.node.memory.attempt_phase_spread_rad > 0.0) == name.startswith("delft-nv"), name


# --- the exact engine on nested chains of any 2**n links (derivation: qinternet.entanglement.analytic) ---------


def _g(q: float, lam: float) -> float:
    """E[lam^G], G ~ Geom(q) on 1, 2, ...: the probability generating function q lam / (1 - (1 - q) lam)."""
    return q * lam / (1 - (1 - q) * lam)


@pytest.mark.parametrize("segments", [2, 4, 8, 16])
def test_without_storage_decay_each_link_but_the_first_is_seen_once(segments: int) -> None:
    # one communication qubit, deterministic swaps, no cut-off, no storage decay: at every swap the waiting half's
    # qubit at the swapping node sees the attempts of the other half's first link, and over the tree every link
    # but the first is that link exactly once (3 nodes: link 2; 5 nodes: links 2, 4 at level 1 and link 3 at
    # level 2); attempts are independent geometric counts, so E[w] = w0^links g(x)^(links - 1), x = 1 - 2p
    q, x = 0.05, 1 - 2 * 0.004
    exact = waiting_time_and_werner(
        AbstractChainParams(p_gen=q, segments=segments, w0=W0, sequential=True), attempt_factor=x
    )
    assert exact.mean_werner == pytest.approx(W0**segments * _g(q, x) ** (segments - 1), rel=1e-9)
    assert exact.mean_waiting_attempts == pytest.approx(segments / q, rel=1e-9)  # the times are untouched


def test_five_nodes_with_storage_decay_is_the_closed_form() -> None:
    # 5 nodes, links 1..4 of G1..G4 attempts, storage decay a per attempt waited: link 1 waits G2 (a x)^G2; link 3
    # waits G4 (a x)^G4; the span 1-2 waits G3 + G4 seeing link 3's G3 attempts, a^(G3 + G4) x^G3. So
    # E[w] = w0^4 g(a x)^2 g(a^2 x) with g the generating function of Geom(q)
    q, x, a = 0.05, 1 - 2 * 0.004, math.exp(-1 / 300)
    exact = waiting_time_and_werner(
        AbstractChainParams(p_gen=q, segments=4, w0=W0, coherence_attempts=300.0, sequential=True), attempt_factor=x
    )
    assert exact.mean_werner == pytest.approx(W0**4 * _g(q, a * x) ** 2 * _g(q, a * a * x), rel=1e-9)


@pytest.mark.parametrize(("p_swap", "cutoff"), [(1.0, None), (0.6, None), (1.0, 30), (0.6, 30)])
def test_three_nodes_is_the_closed_form_checked_before(p_swap: float, cutoff: int | None) -> None:
    # 3 nodes: the first link waits the second's G attempts, so E[w] = w0^2 E[(a x)^G | G <= cut-off] (the closed
    # form the sampler is checked against above); a failed swap starts both links again, which does not change the
    # law of the round that succeeds
    q, x, a = 0.05, 1 - 2 * 0.01, math.exp(-1 / 500)
    exact = waiting_time_and_werner(
        AbstractChainParams(
            p_gen=q, p_swap=p_swap, segments=2, w0=W0, coherence_attempts=500.0, cutoff_attempts=cutoff,
            sequential=True,
        ),
        attempt_factor=x,
    )  # fmt: skip
    assert exact.mean_werner == pytest.approx(W0**2 * _geometric_mean_power(q, a * x, cutoff), rel=1e-9)


def test_with_x_one_the_dephased_recursion_is_the_plain_one() -> None:
    # x = 1: phi = p and psi = omega, and the recursion of the laws is the sequential recursion without dephasing
    params = AbstractChainParams(p_gen=0.05, p_swap=0.7, segments=2, w0=W0, coherence_attempts=200.0, sequential=True)
    p, omega = chain_distribution(dataclasses.replace(params, segments=1), 2048)
    for cutoff in (None, 25):
        plain = _next_level_sequential(p, omega, 0.7, cutoff, params.decay_per_attempt)
        dephased = _next_level_dephased(_Dephased(p, omega, p, omega), 0.7, cutoff, params.decay_per_attempt)
        for got, want in zip((dephased.p, dephased.omega, dephased.phi, dephased.psi), plain * 2, strict=True):
            np.testing.assert_allclose(got, want, rtol=0.0, atol=1e-15)


def _walsh_means(states: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    walsh = bell.walsh(states, axis=-1)
    return walsh.mean(axis=0), walsh.std(axis=0, ddof=1) / math.sqrt(walsh.shape[0])


@pytest.mark.parametrize(
    ("links", "p_swap", "cutoff_s"), [(4, 1.0, None), (4, 0.8, 40.0), (8, 0.9, None), (8, 1.0, 60.0)]
)
def test_the_exact_engine_agrees_with_the_sampler_on_nested_chains(
    links: int, p_swap: float, cutoff_s: float | None
) -> None:
    # the sampler (ChainModel: a waiting half's qubit at the swapping node sees every attempt of the other half's
    # first link, regenerations included) against the exact recursion, component by component: the Z-type one
    # without attempt dephasing, the two coherence ones with x = 1 - 2p; storage decay 0.002/s per qubit
    q, prob, rate = 0.05, 0.004, 0.002
    model = dataclasses.replace(
        _model(q, prob, cutoff_s=cutoff_s), links=links, swap_success_prob=p_swap, decay=depolarising_decay(rate)
    )
    params = AbstractChainParams(
        p_gen=q, p_swap=p_swap, segments=links, w0=W0, coherence_attempts=1 / (2 * rate),
        cutoff_attempts=None if cutoff_s is None else int(cutoff_s), sequential=True,
    )  # fmt: skip
    z_type = waiting_time_and_werner(params).mean_werner
    coherence = waiting_time_and_werner(params, attempt_factor=1 - 2 * prob).mean_werner
    mean, se = _walsh_means(sample_chain(model, 40_000, np.random.default_rng(21)).states)
    assert abs(mean[1] - z_type) < 5 * se[1]
    for j in (2, 3):
        assert abs(mean[j] - coherence) < 5 * se[j]
    # the test tells the model from a wrong one: dephasing with every attempt of the whole wait instead of the
    # other half's first link only
    whole_wait = dataclasses.replace(params, coherence_attempts=1 / (2 * rate - math.log1p(-2 * prob)))
    assert abs(mean[2] - waiting_time_and_werner(whole_wait).mean_werner) > 10 * se[2]


def _without_attempt_dephasing(name: str) -> HardwarePreset:
    preset = repeater_preset(name)
    memory = dataclasses.replace(preset.node.memory, attempt_phase_spread_rad=0.0)
    return dataclasses.replace(preset, node=dataclasses.replace(preset.node, memory=memory))


@pytest.mark.parametrize(
    ("preset", "nodes", "length_km", "fidelity", "waiting_s"),
    [
        ("near-term", 5, 100.0, 0.6330012279838018, 0.14679901415770988),
        ("delft-nv-2021", 3, 0.03, 0.5272940388706168, 0.15834408080797752),
    ],
)
def test_without_attempt_dephasing_the_exact_numbers_are_unchanged(
    preset: str, nodes: int, length_km: float, fidelity: float, waiting_s: float
) -> None:
    # the figures of the exact engine before it took attempt dephasing beyond three nodes (main at d15b2fa), with
    # attempt_phase_spread_rad = 0 (near-term has none; delft-nv-2021's set to 0)
    settings = RepeaterSettings(preset=preset, nodes=nodes, length_km=length_km)
    result = run_repeater_chain(settings, ChainEngine.ANALYTIC, hardware=_without_attempt_dephasing(preset))
    assert result.mean_fidelity == pytest.approx(fidelity, rel=1e-12)
    assert result.waiting_time_s.mean == pytest.approx(waiting_s, rel=1e-12)


def test_delft_nv_five_nodes_both_engines_agree() -> None:
    # delft-nv-2021, 5 nodes over 60 m (Kalb 2018 eq. (2) dephasing, N_1/e = 3,220 attempts at alpha = 0.1, against
    # ~14,000 attempts per link): the exact engine against 100,000 sampled pairs, each Walsh component within 5
    # standard errors, and the fidelity
    settings = RepeaterSettings(preset="delft-nv-2021", nodes=5, length_km=0.06)
    model = compile_chain(repeater_preset(settings.preset), nodes=5, length_km=0.06)
    assert model.attempt_dephasing_prob > 0.0
    assert model.sequential
    exact = analytic_chain(settings, model)
    drawn = sample_chain(model, 100_000, np.random.default_rng(13))
    mean, se = _walsh_means(drawn.states)
    expected = bell.walsh(np.array(exact.mean_state))
    for j in (1, 2, 3):
        assert abs(mean[j] - expected[j]) < 5 * se[j], j
    assert abs(drawn.states[:, 0].mean() - exact.mean_fidelity) < 5 * _se(drawn.states[:, 0])
    assert abs(drawn.round_s.mean() - exact.waiting_time_s.mean) < 5 * _se(drawn.round_s)
