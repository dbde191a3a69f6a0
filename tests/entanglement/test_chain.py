"""The vectorised chain sampler against closed forms of waiting times and states.

Tolerances: a mean of ``n`` draws is checked to within 5 standard errors (sample standard deviation / sqrt n), so a
correct sampler fails with probability below 1e-6 per check; the seeds are fixed.
"""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.entanglement.chain import (
    ChainModel,
    DeliveryMode,
    ElementaryLink,
    PurifyStep,
    decay_of_law,
    sample_chain,
)
from qinternet.entanglement.purification import PurificationProtocol, purify_rounds
from qinternet.errors import ParameterError
from qinternet.states import bell

N = 200_000


def _link(p: float, w0: float = 1.0, period_s: float = 1.0) -> ElementaryLink:
    return ElementaryLink(success_prob=p, attempt_period_s=period_s, state=tuple(bell.werner(w0)))  # type: ignore[arg-type]


def _close(samples: np.ndarray, expected: float) -> None:
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    assert abs(samples.mean() - expected) < 5 * se + 1e-12, (samples.mean(), expected, se)


def _depolarising(coherence_s: float):  # type: ignore[no-untyped-def]
    """One stored qubit depolarising so that a link whose two qubits wait t keeps w exp(-t / coherence)."""

    def law(seconds: np.ndarray) -> np.ndarray:
        keep = np.exp(-np.asarray(seconds) / (2.0 * coherence_s))
        return bell.depolarise(bell.perfect_pair(), keep)

    return decay_of_law(law)


def test_one_link_waits_a_geometric_number_of_attempts() -> None:
    out = sample_chain(ChainModel(links=1, link=_link(0.1, 0.9, period_s=2e-3)), N, np.random.default_rng(1))
    _close(out.round_s, 2e-3 / 0.1)
    _close(out.attempts.astype(float), 1 / 0.1)
    np.testing.assert_allclose(out.states, np.tile(bell.werner(0.9), (N, 1)), atol=1e-12)


@pytest.mark.parametrize("p_swap", [1.0, 0.5])
def test_two_links_wait_for_the_later_and_retry_failed_swaps(p_swap: float) -> None:
    # E[max(G1, G2)] = (3 - 2p) / (p (2 - p)) for independent geometric G (p success per attempt); a failed swap
    # regenerates both links, so the rounds until success are geometric: E[T] = E[max] / p_swap
    p = 0.2
    out = sample_chain(ChainModel(links=2, link=_link(p), swap_success_prob=p_swap), N, np.random.default_rng(2))
    _close(out.round_s, (3 - 2 * p) / (p * (2 - p)) / p_swap)


def test_werner_parameters_multiply_without_decoherence() -> None:
    out = sample_chain(ChainModel(links=5, link=_link(0.3, 0.95)), 1000, np.random.default_rng(3))
    np.testing.assert_allclose(out.states, np.tile(bell.werner(0.95**5), (1000, 1)), atol=1e-12)


def test_the_earlier_link_decoheres_while_it_waits() -> None:
    # two links, link Werner w0 decays as exp(-d / c) while it waits d = |G1 - G2| attempts:
    # P(d = 0) = p / (2 - p), P(d) = 2 p q^d / (2 - p) for d >= 1, so
    # E[exp(-d/c)] = p / (2 - p) * (1 + 2 r / (1 - r)) with r = q exp(-1/c); delivered w = w0^2 E[exp(-d/c)]
    p, c, w0 = 0.1, 20.0, 0.98
    r = (1 - p) * np.exp(-1 / c)
    expected = w0**2 * p / (2 - p) * (1 + 2 * r / (1 - r))
    model = ChainModel(links=2, link=_link(p, w0), decay=_depolarising(c))
    out = sample_chain(model, N, np.random.default_rng(4))
    _close(bell.werner_of_fidelity(out.states[:, 0]), expected)


def test_a_cut_off_bounds_the_wait_and_costs_time() -> None:
    p, c = 0.05, 50.0
    free = sample_chain(ChainModel(links=2, link=_link(p), decay=_depolarising(c)), N, np.random.default_rng(5))
    cut = ChainModel(links=2, link=_link(p), decay=_depolarising(c), cutoff_s=10.0)
    out = sample_chain(cut, N, np.random.default_rng(5))
    w = bell.werner_of_fidelity(out.states[:, 0])
    assert w.min() >= np.exp(-10.0 / c) - 1e-12  # no pair waited longer than the cut-off
    assert out.round_s.mean() > free.round_s.mean()
    assert w.mean() > bell.werner_of_fidelity(free.states[:, 0]).mean()


def test_measure_directly_spares_the_end_qubits() -> None:
    # one link: nothing waits. Two links, ends measured at once: only the middle node's qubit of the earlier link
    # decoheres, i.e. half the decay of create-and-keep (one qubit instead of two).
    p, c = 0.1, 20.0
    keep = ChainModel(links=2, link=_link(p), decay=_depolarising(c))
    measure = ChainModel(links=2, link=_link(p), decay=_depolarising(c), mode=DeliveryMode.MEASURE_DIRECTLY)
    r_keep = (1 - p) * np.exp(-1 / c)
    r_measure = (1 - p) * np.exp(-1 / (2 * c))
    for model, r in ((keep, r_keep), (measure, r_measure)):
        out = sample_chain(model, N, np.random.default_rng(6))
        _close(bell.werner_of_fidelity(out.states[:, 0]), p / (2 - p) * (1 + 2 * r / (1 - r)))


def test_delivery_delay_adds_time_and_decoherence_of_kept_ends() -> None:
    c = 10.0
    model = ChainModel(links=1, link=_link(1.0), decay=_depolarising(c), delivery_delay_s=2.0)
    out = sample_chain(model, 10, np.random.default_rng(7))
    np.testing.assert_allclose(out.round_s, 3.0)
    np.testing.assert_allclose(bell.werner_of_fidelity(out.states[:, 0]), np.exp(-2.0 / c))


def test_purified_links_match_the_purification_recurrence_without_decoherence() -> None:
    # with deterministic generation nothing waits: each elementary link is exactly the DEJMPS output, and its
    # success probability sets how many attempts a purified link costs: 2 pairs per try, E[tries] = 1/P
    link = _link(1.0, bell.werner_of_fidelity(0.8).item())
    step = PurifyStep(protocol=PurificationProtocol.DEJMPS, rounds=1)
    out = sample_chain(ChainModel(links=1, link=link, purify=step), N, np.random.default_rng(8))
    (expected,) = purify_rounds(bell.werner(bell.werner_of_fidelity(0.8)), PurificationProtocol.DEJMPS, 1)
    np.testing.assert_allclose(out.states[0], expected.state, atol=1e-12)
    _close(out.attempts.astype(float), 2 / expected.success_probability)


def test_cost_of_a_long_chain_stays_linear() -> None:
    out = sample_chain(ChainModel(links=999, link=_link(0.5, 0.9999)), 200, np.random.default_rng(9))
    assert out.states.shape == (200, 4)
    np.testing.assert_allclose(out.states[:, 0], bell.fidelity(bell.werner(0.9999**999)), rtol=1e-9)


def test_bad_models_name_the_field() -> None:
    with pytest.raises(ParameterError, match="nodes"):
        ChainModel(links=0, link=_link(0.5))
    with pytest.raises(ParameterError, match="cutoff"):
        ChainModel(links=2, link=_link(0.5), cutoff_s=-1.0)
    with pytest.raises(ParameterError, match=r"link\.success_prob"):
        _link(1.5)


@pytest.mark.parametrize("sequential", [False, True])
@pytest.mark.parametrize("purify", [False, True])
def test_rounds_over_elementary_links_drawn_at_once_follow_the_same_law(
    monkeypatch: pytest.MonkeyPatch, sequential: bool, purify: bool
) -> None:
    # under a cut-off the rounds of a node over two elementary links are drawn in O(1) each (the failures before a
    # passing round folded in); making and rejecting every round must give the same law
    model = ChainModel(
        links=2,
        link=_link(0.05, 0.97, period_s=1e-3),
        swap_success_prob=0.8,
        decay=_depolarising(0.5),
        cutoff_s=0.0205,  # 20.5 periods: the cut-off acts as 20 whole periods in both ways of drawing
        sequential=sequential,
        purify=PurifyStep(protocol=PurificationProtocol.DEJMPS) if purify else None,
    )
    fast = sample_chain(model, 40_000, np.random.default_rng(12))
    monkeypatch.setattr("qinternet.entanglement.chain._Sampler.fast_leaves", False)
    slow = sample_chain(model, 40_000, np.random.default_rng(13))
    for a, b in ((fast.round_s, slow.round_s), (fast.states[:, 0], slow.states[:, 0])):
        se = np.hypot(a.std(ddof=1), b.std(ddof=1)) / np.sqrt(a.size)
        assert abs(a.mean() - b.mean()) < 5 * se + 1e-12


def test_a_cut_off_acts_in_whole_attempt_periods_as_in_the_exact_engine() -> None:
    # a sub-link is given up after the last attempt that could still meet it: 2.9 periods act as 2
    model = ChainModel(links=4, link=_link(0.1), cutoff_s=2.9)
    assert model.effective_cutoff_s == 2.0
    whole = ChainModel(links=4, link=_link(0.1), cutoff_s=2.0)
    a = sample_chain(model, 100_000, np.random.default_rng(14)).round_s
    b = sample_chain(whole, 100_000, np.random.default_rng(15)).round_s
    assert abs(a.mean() - b.mean()) < 5 * np.hypot(a.std(ddof=1), b.std(ddof=1)) / np.sqrt(a.size)


def test_rounds_that_would_outlast_any_attempt_count_are_refused() -> None:
    # p = 1e-9 per attempt and no waiting allowed: a pair would take ~1e27 attempts
    with pytest.raises(ParameterError, match="cut-off"):
        sample_chain(ChainModel(links=2, link=_link(1e-9), cutoff_s=0.0), 10, np.random.default_rng(16))


def test_purification_needs_the_end_qubits_stored() -> None:
    with pytest.raises(ParameterError, match="purification") as info:
        ChainModel(
            links=2,
            link=_link(0.5),
            purify=PurifyStep(protocol=PurificationProtocol.DEJMPS),
            mode=DeliveryMode.MEASURE_DIRECTLY,
        )
    assert info.value.field == "mode"


def test_pumped_links_follow_the_pumping_recurrence() -> None:
    # deterministic generation, no decoherence: the k-th pumping round purifies the last output with a fresh pair
    # (Dür et al. 1999); a failure makes both again, so the pairs a link costs obey A_k = (A_{k-1} + 1) / P_k
    from qinternet.entanglement.purification import PurificationSchedule

    fresh = bell.werner(bell.werner_of_fidelity(0.85))
    step = PurifyStep(protocol=PurificationProtocol.DEJMPS, rounds=3, schedule=PurificationSchedule.PUMPING)
    link = ElementaryLink(success_prob=1.0, attempt_period_s=1.0, state=tuple(fresh))  # type: ignore[arg-type]
    out = sample_chain(ChainModel(links=1, link=link, purify=step), N, np.random.default_rng(17))
    rounds = purify_rounds(fresh, PurificationProtocol.DEJMPS, 3, PurificationSchedule.PUMPING)
    np.testing.assert_allclose(out.states[0], rounds[-1].state, atol=1e-12)
    expected = 1.0
    for r in rounds:
        expected = (expected + 1.0) / r.success_probability
    _close(out.attempts.astype(float), expected)
