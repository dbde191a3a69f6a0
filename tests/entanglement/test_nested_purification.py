"""Purification of swapped pairs at higher nesting levels (Briegel, Dür, Cirac, Zoller, PRL 81, 5932 (1998)):
the chain sampler against the purification recurrence applied at that level.

With memories that do not decohere every input of a round is the same state, so every delivered pair must be
the recurrence's output exactly (no statistics). The rate is checked where it has a closed form: links that
herald at their first attempt make a level-1 copy in one period, so a round lasts one period and a run of them
ends at the first success: mean 1/s periods, to within 5 standard errors (a false alarm below 1e-6).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.entanglement.chain import ChainModel, ElementaryLink, PurifyStep, nesting_level, sample_chain
from qinternet.entanglement.purification import PurificationProtocol, PurificationSchedule, purify, purify_rounds
from qinternet.errors import ParameterError
from qinternet.states import bell

W0 = 0.9
SWAP_ERROR = (0.97, 0.01, 0.01, 0.01)


def _link(p: float) -> ElementaryLink:
    return ElementaryLink(success_prob=p, attempt_period_s=1.0, state=tuple(bell.werner(W0)))  # type: ignore[arg-type]


def _swapped(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return bell.compose(bell.swap(a, b), np.array(SWAP_ERROR))


def _recurred(state: np.ndarray, rounds: int, schedule: PurificationSchedule) -> np.ndarray:
    return np.asarray(purify_rounds(state, PurificationProtocol.DEJMPS, rounds, schedule)[-1].state)


@pytest.mark.parametrize("schedule", list(PurificationSchedule))
@pytest.mark.parametrize("levels", [(1,), (0, 1)])
def test_a_swapped_pair_purified_at_level_one_is_the_recurrence(
    levels: tuple[int, ...], schedule: PurificationSchedule
) -> None:
    # three nodes: level 0 purifies each link, the swap makes the level-1 pair, level 1 purifies that pair with
    # copies of itself (recurrence) or with fresh swapped pairs (pumping), two rounds each
    step = PurifyStep(protocol=PurificationProtocol.DEJMPS, rounds=2, schedule=schedule, levels=levels)
    model = ChainModel(links=2, link=_link(0.3), swap_error=SWAP_ERROR, purify=step)
    drawn = sample_chain(model, 500, np.random.default_rng(1))
    link = bell.werner(W0) if 0 not in levels else _recurred(bell.werner(W0), 2, schedule)
    expected = _recurred(_swapped(link, link), 2, schedule)
    np.testing.assert_allclose(drawn.states, np.broadcast_to(expected, drawn.states.shape), atol=1e-12)
    assert expected[0] > _swapped(link, link)[0] + 0.01  # the level-1 rounds add fidelity to the swapped pair


def test_four_links_purified_at_every_level() -> None:
    # five nodes, levels 0, 1, 2 (the nested scheme up to the end-to-end pair), one DEJMPS round each
    step = PurifyStep(protocol=PurificationProtocol.DEJMPS, levels=(0, 1, 2))
    model = ChainModel(links=4, link=_link(0.5), swap_error=SWAP_ERROR, purify=step)
    drawn = sample_chain(model, 300, np.random.default_rng(2))
    state = bell.werner(W0)
    for _ in range(3):  # purify, swap, purify, swap, purify
        state = _recurred(state, 1, PurificationSchedule.RECURRENCE)
        if _ < 2:
            state = _swapped(state, state)
    np.testing.assert_allclose(drawn.states, np.broadcast_to(state, drawn.states.shape), atol=1e-12)


def test_a_level_one_round_lasts_one_period_and_runs_end_at_a_success() -> None:
    # links that always herald: both level-1 copies (made at once) are ready after one period, the round succeeds
    # with s = DEJMPS success on two swapped pairs; a run of rounds lasts Geom(s) periods and costs 4 attempts each
    step = PurifyStep(protocol=PurificationProtocol.DEJMPS, levels=(1,))
    model = ChainModel(links=2, link=_link(1.0), swap_error=SWAP_ERROR, purify=step)
    rounds = 40_000
    drawn = sample_chain(model, rounds, np.random.default_rng(3))
    pair = _swapped(bell.werner(W0), bell.werner(W0))
    s = float(purify(pair, pair, PurificationProtocol.DEJMPS)[0])
    se = math.sqrt(1 - s) / s / math.sqrt(rounds)  # sd of Geom(s) over sqrt(n)
    assert abs(drawn.round_s.mean() - 1 / s) < 5 * se
    np.testing.assert_array_equal(drawn.attempts, 4 * np.rint(drawn.round_s).astype(np.int64))


def test_levels_a_chain_does_not_have_are_refused() -> None:
    assert [nesting_level(m) for m in (1, 2, 3, 4, 5, 8, 9)] == [0, 1, 2, 2, 3, 3, 4]
    step = PurifyStep(protocol=PurificationProtocol.DEJMPS, levels=(0, 2))
    with pytest.raises(ParameterError, match=r"purify\.levels"):
        ChainModel(links=2, link=_link(0.5), purify=step)
    ChainModel(links=3, link=_link(0.5), purify=step)  # three links: levels 0..2
    for bad in ((), (-1,), (1, 1)):
        with pytest.raises(ParameterError, match=r"purify\.levels"):
            PurifyStep(protocol=PurificationProtocol.DEJMPS, levels=bad)
