"""The event-driven repeater chain against the vectorised sampler and against closed forms.

Tolerances (seeds fixed):
- a mean is checked to within 5 standard errors (sample standard deviation / sqrt n; for two samples the root sum
  of squares of both), so a correct engine fails a check with probability below 1e-6;
- a distribution is checked with the Kolmogorov-Smirnov distance: two samples of sizes n and m differ by more than
  ``x sqrt((n + m) / (n m))`` with probability at most ``2 exp(-2 x**2)`` (the Kolmogorov tail, conservative for
  the discrete round times here), and one sample of n differs from its exact distribution by more than
  ``x / sqrt n`` with at most the same probability (Dvoretzky-Kiefer-Wolfowitz, Massart's constant); x is set so
  that this probability is 1e-6.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from qinternet.entanglement.chain import (
    ChainModel,
    DeliveryMode,
    ElementaryLink,
    PurifyStep,
    decay_of_law,
    sample_chain,
)
from qinternet.entanglement.purification import PurificationProtocol
from qinternet.errors import ParameterError
from qinternet.network.repeater import compile_chain
from qinternet.network.repeater_events import EventRun, run_events, simulate_events
from qinternet.params.repeater_presets import repeater_preset
from qinternet.states import bell

KS_X = math.sqrt(math.log(2 / 1e-6) / 2)
"""Kolmogorov-Smirnov threshold for a false alarm probability of 1e-6 (see the module docstring)."""
EVENT_ROUNDS = 12_000
SAMPLER_ROUNDS = 200_000


def _link(p: float, w0: float = 1.0, period_s: float = 1.0) -> ElementaryLink:
    return ElementaryLink(success_prob=p, attempt_period_s=period_s, state=tuple(bell.werner(w0)))  # type: ignore[arg-type]


def _depolarising(coherence_s: float) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """One stored qubit depolarising so that a pair whose two qubits wait t keeps w exp(-t / coherence)."""

    def law(seconds: NDArray[np.float64]) -> NDArray[np.float64]:
        keep = np.exp(-np.asarray(seconds) / (2.0 * coherence_s))
        return bell.depolarise(bell.perfect_pair(), keep)

    return decay_of_law(law)


def _se(x: NDArray[np.float64]) -> float:
    return float(x.std(ddof=1) / math.sqrt(x.size))


def _same_mean(a: NDArray[np.float64], b: NDArray[np.float64]) -> None:
    assert abs(a.mean() - b.mean()) < 5 * math.hypot(_se(a), _se(b)) + 1e-12, (a.mean(), b.mean())


def _close(a: NDArray[np.float64], expected: float) -> None:
    assert abs(a.mean() - expected) < 5 * _se(a) + 1e-12, (a.mean(), expected, _se(a))


def _ks_distance(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Largest difference of the empirical CDFs (times rounded to the ns, so float sums do not split ties)."""
    a, b = np.sort(np.round(a, 9)), np.sort(np.round(b, 9))
    grid = np.union1d(a, b)
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.abs(fa - fb).max())


def _same_distribution(a: NDArray[np.float64], b: NDArray[np.float64]) -> None:
    threshold = KS_X * math.sqrt((a.size + b.size) / (a.size * b.size))
    assert _ks_distance(a, b) < threshold, (_ks_distance(a, b), threshold)


def _werner(run: EventRun) -> NDArray[np.float64]:
    return np.asarray(bell.werner_of_fidelity(run.deliveries.states[:, 0]), dtype=np.float64)


DECAY = _depolarising(20.0)
MODELS = {
    "deterministic-swaps": ChainModel(links=4, link=_link(0.2, 0.98), decay=DECAY),
    "probabilistic-swaps": ChainModel(links=4, link=_link(0.3, 0.98), swap_success_prob=0.5, decay=DECAY),
    "cut-off-uneven-tree": ChainModel(links=3, link=_link(0.2, 0.98), swap_success_prob=0.7, decay=DECAY, cutoff_s=5.0),
    "sequential": ChainModel(links=3, link=_link(0.3, 0.98), swap_success_prob=0.8, decay=DECAY, sequential=True),
    "sequential-cut-off": ChainModel(
        links=4, link=_link(0.3, 0.98), swap_success_prob=0.8, decay=DECAY, cutoff_s=6.0, sequential=True
    ),
    "measure-directly": ChainModel(
        links=3,
        link=_link(0.2, 0.98),
        decay=DECAY,
        cutoff_s=5.0,
        mode=DeliveryMode.MEASURE_DIRECTLY,
        delivery_delay_s=1.5,
    ),
    "swap-duration-no-decay": ChainModel(links=4, link=_link(0.25, 0.97), swap_success_prob=0.6, swap_duration_s=0.5),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_nested_events_agree_with_the_vectorised_sampler(name: str) -> None:
    model = MODELS[name]
    events = simulate_events(model, EVENT_ROUNDS, seed=11, policy="nested")
    sampled = sample_chain(model, SAMPLER_ROUNDS, np.random.default_rng(12))
    _same_distribution(events.deliveries.round_s, sampled.round_s)
    _same_mean(events.deliveries.round_s, sampled.round_s)
    _same_mean(events.deliveries.states[:, 0], sampled.states[:, 0])
    if model.cutoff_s is None:  # under a cut-off the sampler counts abandoned sub-links' draws in full (an upper
        # bound, see Deliveries.attempts); here only attempts made are counted
        _same_mean(events.deliveries.attempts.astype(float), sampled.attempts.astype(float))


def test_a_preset_chain_agrees_with_the_sampler() -> None:
    # delft-nv, three nodes 25 km apart (one communication qubit, T1/T2 memories, gate swaps, delivery message);
    # a link takes ~9 s on average, so a cut-off of 5 s discards about half of the first links
    model = compile_chain(repeater_preset("delft-nv"), nodes=3, length_km=50.0, cutoff_s=5.0)
    events = simulate_events(model, 4000, seed=5, policy="nested")
    sampled = sample_chain(model, SAMPLER_ROUNDS, np.random.default_rng(6))
    assert events.cutoff_discards > 0
    _same_distribution(events.deliveries.round_s, sampled.round_s)
    _same_mean(events.deliveries.round_s, sampled.round_s)
    _same_mean(events.deliveries.states[:, 0], sampled.states[:, 0])


def test_one_communication_qubit_attempts_one_link_at_a_time() -> None:
    # sequential nodes: one attempt at a time over the whole chain, so attempts x period is the round time exactly
    # (a cut-off of a whole number of periods aborts the right link's attempts by an interrupt and starts again)
    model = MODELS["sequential-cut-off"]
    events = simulate_events(model, 3000, seed=2)
    np.testing.assert_array_equal(events.deliveries.attempts.astype(float), events.deliveries.round_s)
    assert events.cutoff_discards > 0


def test_asap_and_nested_wait_for_the_last_link_when_swaps_are_deterministic() -> None:
    # deterministic swaps, no cut-off: both finish when the last of 4 geometric links heralds,
    # P(T <= k) = (1 - q**k)**4
    p, links = 0.3, 4
    model = ChainModel(links=links, link=_link(p), decay=_depolarising(5.0))
    grid = np.arange(1, 80)
    exact = (1 - (1 - p) ** grid) ** links
    times = {}
    for policy in ("nested", "asap"):
        round_s = run_events(model, EVENT_ROUNDS, seed=21, policy=policy).round_s
        empirical = np.searchsorted(np.sort(round_s), grid, side="right") / round_s.size
        assert np.abs(empirical - exact).max() < KS_X / math.sqrt(round_s.size)
        times[policy] = round_s
    _same_distribution(times["nested"], times["asap"])


def _storage_sums(p: float, cut: int = 50) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Joint law of four geometric herald times (truncated at ``cut``, mass lost q**cut per link) and the total
    storage time of all qubits until delivery under asap and under nested swapping, in attempts.

    asap: node k swaps when its two links are there, so its qubits wait |t_k - t_(k-1)| together; the end qubits
    wait for the last link T. nested ((0,1),(2,3)): nodes 1 and 3 as asap; node 2's qubits wait until T, as do the
    ends.
    """
    k = np.arange(1, cut + 1)
    law = p * (1 - p) ** (k - 1)
    t0, t1, t2, t3 = np.meshgrid(k, k, k, k, indexing="ij", sparse=True)
    prob = law[:, None, None, None] * law[None, :, None, None] * law[None, None, :, None] * law[None, None, None, :]
    last = np.maximum(np.maximum(t0, t1), np.maximum(t2, t3))
    ends = (last - t0) + (last - t3)
    asap = abs(t1 - t0) + abs(t2 - t1) + abs(t3 - t2) + ends
    nested = abs(t1 - t0) + abs(t3 - t2) + (last - t1) + (last - t2) + ends
    return prob, asap, nested


def test_asap_keeps_qubits_waiting_less_than_nested_on_four_links() -> None:
    # Werner links, each stored qubit depolarising: the delivered Werner parameter is exp(-S / (2 c)) with S the
    # storage time of all qubits (_storage_sums); its mean is the sum over the herald times' joint law
    p, c = 0.3, 5.0
    prob, asap, nested = _storage_sums(p)
    assert prob.sum() > 1 - 1e-6
    model = ChainModel(links=4, link=_link(p), decay=_depolarising(c))
    w = {policy: _werner(simulate_events(model, EVENT_ROUNDS, seed=31, policy=policy)) for policy in ("nested", "asap")}
    _close(w["asap"], float((prob * np.exp(-asap / (2 * c))).sum()))
    _close(w["nested"], float((prob * np.exp(-nested / (2 * c))).sum()))
    assert w["asap"].mean() - w["nested"].mean() > 5 * math.hypot(_se(w["asap"]), _se(w["nested"]))


def test_on_three_nodes_asap_is_nested() -> None:
    model = ChainModel(links=2, link=_link(0.2, 0.97), swap_success_prob=0.6, decay=_depolarising(10.0), cutoff_s=4.0)
    events = simulate_events(model, EVENT_ROUNDS, seed=41, policy="asap")
    sampled = sample_chain(model, SAMPLER_ROUNDS, np.random.default_rng(42))
    _same_distribution(events.deliveries.round_s, sampled.round_s)
    _same_mean(events.deliveries.states[:, 0], sampled.states[:, 0])


def _two_links_with_cut_off(
    p: float, cut: int, p_swap: float, coherence: float, *, sequential: bool
) -> tuple[float, float, float, float]:
    """Mean round time, mean Werner parameter (of perfect links), and mean and variance of the discards per round
    (times in attempts) of two links whose earlier one is discarded after waiting more than ``cut`` attempts.

    A renewal argument (geometric links forget how long they ran). Parallel: the first herald comes after
    M = min of two geometric times, E[M] = 1 / (1 - q**2); both at once with probability p / (1 + q), else the other
    one needs R more attempts, R geometric: R <= cut ends the try, else the first is discarded at M + cut and
    both start afresh. Sequential: the second link starts after the first, G; R <= cut ends the try, else both
    start again at G + cut. A failed swap starts both again: N ~ Geometric(p_swap) tries, so the time is divided by
    p_swap, and the discards are a sum of N geometric counts D (Var = E[N] Var D + Var N E[D]**2).
    """
    q = 1 - p
    r = np.arange(1, cut + 1)
    law_r = p * q ** (r - 1)
    within = float((r * law_r).sum()) + cut * q**cut  # E[min(R, cut)]
    if sequential:
        first, at_once, one_first = 1 / p, 0.0, 1.0
    else:
        first, at_once, one_first = 1 / (1 - q**2), p / (1 + q), 2 * q / (1 + q)
    discard = one_first * q**cut
    mean_t = (first + one_first * within) / (1 - discard) / p_swap
    mean_w = (at_once + one_first * float((law_r * np.exp(-r / coherence)).sum())) / (1 - discard)
    mean_d, var_d = discard / (1 - discard), discard / (1 - discard) ** 2
    var_discards = var_d / p_swap + (1 - p_swap) / p_swap**2 * mean_d**2
    return mean_t, mean_w, mean_d / p_swap, var_discards


@pytest.mark.parametrize(
    ("policy", "sequential"), [("nested", False), ("asap", False), ("nested", True), ("asap", True)]
)
def test_two_links_with_a_cut_off_follow_the_renewal_closed_form(policy: str, sequential: bool) -> None:
    p, cut, p_swap, coherence = 0.2, 4, 0.6, 10.0
    model = ChainModel(
        links=2,
        link=_link(p),
        swap_success_prob=p_swap,
        decay=_depolarising(coherence),
        cutoff_s=float(cut),
        sequential=sequential,
    )
    run = simulate_events(model, EVENT_ROUNDS, seed=51, policy=policy)  # type: ignore[arg-type]
    mean_t, mean_w, discards, var_discards = _two_links_with_cut_off(p, cut, p_swap, coherence, sequential=sequential)
    _close(run.deliveries.round_s, mean_t)
    _close(_werner(run), mean_w)
    # no pair waited longer than the cut-off: w >= exp(-cut / c)
    assert _werner(run).min() >= math.exp(-cut / coherence) - 1e-12
    # the kernel's cut-off timers fired as often as the renewal argument says
    assert abs(run.cutoff_discards / EVENT_ROUNDS - discards) < 5 * math.sqrt(var_discards / EVENT_ROUNDS)


def test_asap_cut_off_on_age_bounds_every_wait_and_costs_time() -> None:
    # four links, cut-off on the age of each stored pair: a qubit is stored at most the age of its pair, so none of
    # the 8 qubits waits more than the cut-off: w >= exp(-8 cut / (2 c))
    c, cut = 5.0, 3.0
    free = ChainModel(links=4, link=_link(0.3), decay=_depolarising(c))
    cutoff = ChainModel(links=4, link=_link(0.3), decay=_depolarising(c), cutoff_s=cut)
    run_free = simulate_events(free, 6000, seed=61, policy="asap")
    run_cut = simulate_events(cutoff, 6000, seed=61, policy="asap")
    assert run_cut.cutoff_discards > 0
    assert run_free.cutoff_discards == 0
    assert _werner(run_cut).min() >= math.exp(-8 * cut / (2 * c)) - 1e-12
    assert _werner(run_cut).mean() > _werner(run_free).mean()
    assert run_cut.deliveries.round_s.mean() > run_free.deliveries.round_s.mean()


def test_asap_with_one_communication_qubit_alternates_odd_and_even_links() -> None:
    # four links, one communication qubit per node, certain swaps: links 0 and 2 start the round, link 1 starts
    # when both 0 and 2 have heralded, link 3 when 2 has: T = max(max(g0, g2) + g1, g2 + g3) for the geometric
    # durations g; nested doubling makes them one after the other, T = g0 + g1 + g2 + g3
    p, cut = 0.3, 50
    k = np.arange(1, cut + 1)
    law = p * (1 - p) ** (k - 1)
    g0, g1, g2, g3 = np.meshgrid(k, k, k, k, indexing="ij", sparse=True)
    prob = law[:, None, None, None] * law[None, :, None, None] * law[None, None, :, None] * law[None, None, None, :]
    last = np.maximum(np.maximum(g0, g2) + g1, g2 + g3)
    grid = np.arange(1, 120)
    exact_cdf = np.array([prob[last <= t].sum() for t in grid])
    model = ChainModel(links=4, link=_link(p), sequential=True)
    asap = run_events(model, EVENT_ROUNDS, seed=71, policy="asap").round_s
    nested = run_events(model, EVENT_ROUNDS, seed=71, policy="nested").round_s
    empirical = np.searchsorted(np.sort(asap), grid, side="right") / asap.size
    assert np.abs(empirical - exact_cdf).max() < KS_X / math.sqrt(asap.size) + 1e-6  # + the truncated mass
    _close(asap, float((prob * last).sum()))
    _close(nested, 4 / p)
    assert asap.mean() < nested.mean()


def _pipelined_asap_by_steps(
    links: int, p: float, coherence: float, deliveries: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Pipelined asap, certain swaps, perfect links, stepped attempt by attempt (an implementation independent of
    the kernel's): times between deliveries and delivered Werner parameters exp(-S / (2 c)), S the total storage
    time of the pair's qubits.

    At each attempt slot t every link being made heralds with probability p; then every node holding a pair on
    each side swaps, until none can; an end-to-end pair is delivered at once and frees the end memories; then every
    link that is not being made and whose two memories are free starts again (its first attempt is at t + 1).
    A pair is [first link, last link, storage start of its left qubit, of its right qubit, storage of its measured
    qubits].
    """
    rng = random.Random(seed)
    making = [True] * links
    left: list[list[int] | None] = [None] * (links + 1)
    right: list[list[int] | None] = [None] * (links + 1)
    t = last_delivery = 0
    times: list[int] = []
    storage: list[int] = []
    while len(times) < deliveries:
        t += 1
        for i in range(links):
            if making[i] and rng.random() < p:
                making[i] = False
                right[i] = left[i + 1] = [i, i, t, t, 0]
        swapped = True
        while swapped:
            swapped = False
            for k in range(1, links):
                a, b = left[k], right[k]
                if a is not None and b is not None:
                    left[k] = right[k] = None
                    right[a[0]] = left[b[1] + 1] = [a[0], b[1], a[2], b[3], a[4] + b[4] + (t - a[3]) + (t - b[2])]
                    swapped = True
        end = right[0]
        if end is not None and end[1] == links - 1:
            times.append(t - last_delivery)
            storage.append(end[4] + (t - end[2]) + (t - end[3]))
            last_delivery = t
            right[0] = left[links] = None
        for i in range(links):
            if not making[i] and right[i] is None and left[i + 1] is None:
                making[i] = True
    return np.array(times, dtype=float), np.exp(-np.array(storage, dtype=float) / (2 * coherence))


def test_pipelined_asap_matches_a_stepped_simulation_and_beats_rounds() -> None:
    # seven nodes: once both neighbours of an inner link have swapped it away, it can be made again while the chain
    # waits for its last links, so deliveries come faster than in rounds that start from empty memories
    p, c, links = 0.3, 5.0, 6
    model = ChainModel(links=links, link=_link(p), decay=_depolarising(c))
    pipelined = simulate_events(model, EVENT_ROUNDS, seed=81, policy="asap", pipelined=True)
    stepped_s, stepped_w = _pipelined_asap_by_steps(links, p, c, EVENT_ROUNDS, seed=82)
    _same_distribution(pipelined.deliveries.round_s, stepped_s)
    _same_mean(_werner(pipelined), stepped_w)
    rounds = run_events(model, EVENT_ROUNDS, seed=83, policy="asap").round_s
    gap = rounds.mean() - pipelined.deliveries.round_s.mean()
    assert gap > 5 * math.hypot(_se(rounds), _se(pipelined.deliveries.round_s))


def test_pipelining_three_nodes_changes_nothing() -> None:
    # the middle node's memories are free after its swap, but both its links need an end memory, which holds the
    # pair until it is delivered: pipelined and round by round are the same run
    model = ChainModel(links=2, link=_link(0.3, 0.95), decay=_depolarising(5.0), cutoff_s=3.0, swap_success_prob=0.7)
    a = run_events(model, 2000, seed=9, policy="asap", pipelined=True)
    b = run_events(model, 2000, seed=9, policy="asap")
    np.testing.assert_array_equal(a.round_s, b.round_s)
    np.testing.assert_array_equal(a.states, b.states)


def test_runs_are_reproducible_and_seeded() -> None:
    model = MODELS["cut-off-uneven-tree"]
    a, b, other = (run_events(model, 200, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.round_s, b.round_s)
    np.testing.assert_array_equal(a.states, b.states)
    assert not np.array_equal(a.round_s, other.round_s)


def test_links_that_never_meet_within_the_cut_off_are_refused() -> None:
    # certain links, one after the other: the second always comes one period after the first, beyond a cut-off of
    # half a period, so the interrupts discard every pair
    model = ChainModel(links=2, link=_link(1.0), cutoff_s=0.5, sequential=True)
    with pytest.raises(ParameterError, match="cutoff"):
        run_events(model, 3, seed=1)


def test_bad_input_names_the_field() -> None:
    model = ChainModel(links=2, link=_link(0.5))
    with pytest.raises(ParameterError, match="policy"):
        run_events(model, 10, seed=1, policy="greedy")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="pairs"):
        run_events(model, 0, seed=1)
    with pytest.raises(ParameterError, match="seed"):
        run_events(model, 10, seed=-1)
    with pytest.raises(ParameterError, match="pipelined"):
        run_events(model, 10, seed=1, policy="nested", pipelined=True)
    with pytest.raises(ParameterError, match=r"swap\.duration_s"):
        run_events(ChainModel(links=2, link=_link(0.5), swap_duration_s=1.0), 10, seed=1, policy="asap")
    with pytest.raises(ParameterError, match=r"link\.success_prob"):  # numpy's geometric draw would saturate
        run_events(ChainModel(links=2, link=_link(1e-300)), 10, seed=1)
    step = PurifyStep(protocol=PurificationProtocol.DEJMPS)
    with pytest.raises(ParameterError, match="purify"):
        run_events(ChainModel(links=2, link=_link(0.5), purify=step), 10, seed=1)
