"""Parameters of the abstract repeater chain: bad values are refused naming the field, good ones kept."""

from __future__ import annotations

import math

import pytest

from qinternet.entanglement import AbstractChainParams
from qinternet.entanglement.abstract import werner_secret_fraction
from qinternet.errors import ParameterError


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"p_gen": 0.0}, "p_gen"),
        ({"p_gen": 1.5}, "p_gen"),
        ({"p_gen": math.nan}, "p_gen"),
        ({"p_gen": 1e-13}, "p_gen"),
        ({"p_swap": 0.0}, "p_swap"),
        ({"p_swap": 1.01}, "p_swap"),
        ({"segments": 0}, "segments"),
        ({"segments": 3}, "segments"),
        ({"segments": 6}, "segments"),
        ({"segments": 2**21}, "segments"),
        ({"segments": 2.0}, "segments"),
        ({"segments": True}, "segments"),
        ({"w0": -0.01}, "w0"),
        ({"w0": 1.01}, "w0"),
        ({"coherence_attempts": 0.0}, "coherence_attempts"),
        ({"coherence_attempts": -5.0}, "coherence_attempts"),
        ({"coherence_attempts": math.inf}, "coherence_attempts"),
        ({"cutoff_attempts": -1}, "cutoff_attempts"),
        ({"cutoff_attempts": 2.5}, "cutoff_attempts"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(changes: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"p_gen": 0.1, "p_swap": 0.5, "segments": 4, "w0": 0.99} | changes
    with pytest.raises(ParameterError) as caught:
        AbstractChainParams(**arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_good_values_are_kept_and_the_levels_follow_the_segments() -> None:
    params = AbstractChainParams(p_gen=1.0, p_swap=1.0, segments=8, w0=0.0, coherence_attempts=1.0, cutoff_attempts=0)
    assert params.levels == 3
    assert params.decay_per_attempt == pytest.approx(math.exp(-1.0))
    assert AbstractChainParams(p_gen=0.5, segments=1).levels == 0
    assert AbstractChainParams(p_gen=0.5).decay_per_attempt == 1.0  # no decoherence


def test_secret_fraction_of_a_werner_state() -> None:
    """BB84 with e = (1 - w)/2 in both bases: 1 - 2 h2(e) (Shor-Preskill); zero from e = 11.0 %."""
    e = 0.05
    h2 = -e * math.log2(e) - (1 - e) * math.log2(1 - e)
    assert werner_secret_fraction(1.0 - 2.0 * e) == pytest.approx(1.0 - 2.0 * h2, rel=1e-12)
    assert werner_secret_fraction(1.0 - 2.0 * 0.111) == 0.0  # beyond the 11.0 % threshold
    assert werner_secret_fraction(1.0 - 2.0 * 0.109) > 0.0
