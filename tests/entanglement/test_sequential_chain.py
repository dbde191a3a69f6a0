"""Chains of nodes with one communication qubit: the halves of every swap are made one after the other.

The exact engine (:func:`waiting_time_and_werner`) is checked against closed forms, and the sampler against it
within 5 standard errors of the mean (fixed seeds; a correct pair fails with probability below 1e-6 per check).
"""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.entanglement import AbstractChainParams
from qinternet.entanglement.abstract_mc import sample_links
from qinternet.entanglement.analytic import waiting_time_and_werner


def test_two_segments_made_in_turn_take_the_sum_of_two_geometric_times() -> None:
    # T = G_A + G_B: E[T] = 2/p; A waits G_B, so E[w] = w0^2 E[a^G_B] = w0^2 p a / (1 - (1 - p) a), a = e^(-1/c)
    p, w0, c = 0.2, 0.97, 30.0
    exact = waiting_time_and_werner(
        AbstractChainParams(p_gen=p, segments=2, w0=w0, coherence_attempts=c, sequential=True)
    )
    a = np.exp(-1.0 / c)
    assert exact.mean_waiting_attempts == pytest.approx(2 / p, rel=1e-8)
    assert exact.mean_werner == pytest.approx(w0**2 * p * a / (1 - (1 - p) * a), rel=1e-8)


def test_a_cut_off_on_the_second_half_fails_the_round_when_the_first_has_waited_it() -> None:
    # one round: A (G_A attempts), then B; if G_B > tau the round ends at G_A + tau and starts again, so with
    # q = P(G_B <= tau) = 1 - (1-p)^tau the number of rounds is geometric(q):
    # E[T] = E[G_A] + E[G_B | G_B <= tau] + (1/q - 1) (E[G_A] + tau)
    p, tau = 0.1, 5
    q = 1 - (1 - p) ** tau
    g = np.arange(1, tau + 1)
    within = np.sum(g * p * (1 - p) ** (g - 1)) / q
    expected = 1 / p + within + (1 / q - 1) * (1 / p + tau)
    exact = waiting_time_and_werner(AbstractChainParams(p_gen=p, segments=2, cutoff_attempts=tau, sequential=True))
    assert exact.mean_waiting_attempts == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(
    "params",
    [
        AbstractChainParams(
            p_gen=0.2, p_swap=0.5, segments=2, w0=0.97, coherence_attempts=30, cutoff_attempts=5, sequential=True
        ),
        AbstractChainParams(
            p_gen=0.2, p_swap=0.7, segments=4, w0=0.97, coherence_attempts=30, cutoff_attempts=8, sequential=True
        ),
        AbstractChainParams(p_gen=0.3, p_swap=0.9, segments=8, w0=0.99, coherence_attempts=60, sequential=True),
    ],
)
def test_the_sampler_agrees_with_the_exact_engine(params: AbstractChainParams) -> None:
    exact = waiting_time_and_werner(params)
    times, werner = sample_links(params, pairs=100_000, rng=np.random.default_rng(11))
    assert abs(times.mean() - exact.mean_waiting_attempts) < 5 * times.std(ddof=1) / np.sqrt(times.size)
    assert abs(werner.mean() - exact.mean_werner) < 5 * werner.std(ddof=1) / np.sqrt(werner.size) + 1e-12


def test_making_halves_in_turn_is_slower_than_at_once() -> None:
    at_once = waiting_time_and_werner(AbstractChainParams(p_gen=0.1, segments=4, w0=0.99, coherence_attempts=100))
    in_turn = waiting_time_and_werner(
        AbstractChainParams(p_gen=0.1, segments=4, w0=0.99, coherence_attempts=100, sequential=True)
    )
    assert in_turn.mean_waiting_attempts > at_once.mean_waiting_attempts
