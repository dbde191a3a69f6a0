"""The picosecond clock: exact rounding at the edges, and no drift however many steps are taken."""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.sim import PS_PER_S, Kernel, Timeout, as_ps, ps_to_seconds, seconds_to_ps


def test_seconds_round_to_the_nearest_picosecond() -> None:
    assert seconds_to_ps(1e-9) == 1_000
    assert seconds_to_ps(1 / 3) == 333_333_333_333
    assert seconds_to_ps(2 / 3) == 666_666_666_667  # rounds up: ...666.67 ps
    assert seconds_to_ps(-1 / 3) == -333_333_333_333
    assert seconds_to_ps(3) == 3 * PS_PER_S
    assert seconds_to_ps(np.int64(7)) == 7 * PS_PER_S


def test_ties_round_to_even_on_the_exact_binary_value() -> None:
    # 2**-13 s is exactly 122_070_312.5 ps, 3 * 2**-13 s exactly 366_210_937.5 ps: true ties.
    assert seconds_to_ps(2.0**-13) == 122_070_312
    assert seconds_to_ps(3 * 2.0**-13) == 366_210_938
    # 2**-40 s is exactly 0.9094947017729282... ps.
    assert seconds_to_ps(2.0**-40) == 1


def test_large_values_are_within_half_a_picosecond_of_the_float() -> None:
    for seconds in (9007.199254740993, 86_400.123456789, 3.15576e7 + 1 / 7):
        ps = seconds_to_ps(seconds)
        numerator, denominator = seconds.as_integer_ratio()
        assert abs(2 * (ps * denominator - numerator * PS_PER_S)) <= denominator


def test_ps_to_seconds_is_the_nearest_float() -> None:
    assert ps_to_seconds(333_333_333_333) == 0.333333333333
    assert ps_to_seconds(seconds_to_ps(0.25)) == 0.25


def test_a_million_steps_of_a_third_of_a_second_do_not_drift() -> None:
    """A process sleeping 1/3 s a million times ends exactly at 10**6 * 333_333_333_333 ps.

    The stated rounding (nearest ps) makes each step 1/3 ps short, so the clock is 333_333.33 ps short
    of 10**6 / 3 s in total, and not a picosecond more: no error accumulates in the clock itself. A float
    clock in seconds doing the same additions is off by much more than its last bit.
    """
    steps = 1_000_000
    step_ps = seconds_to_ps(1 / 3)
    kernel = Kernel(seed=0)
    wakes = [0]

    def ticker(_proc: object):  # type: ignore[no-untyped-def]
        tick = Timeout(step_ps)
        for _ in range(steps):
            yield tick
            wakes[0] += 1

    kernel.process(ticker, "ticker")
    kernel.run()
    assert wakes[0] == steps
    assert kernel.now_ps == steps * 333_333_333_333
    assert steps * PS_PER_S // 3 - kernel.now_ps == 333_333  # the stated 1/3 ps per step, exactly
    float_clock = 0.0
    for _ in range(steps):
        float_clock += 1 / 3
    assert float_clock != steps / 3  # the naive float clock has drifted


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1", None, True])
def test_seconds_to_ps_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(ParameterError) as info:
        seconds_to_ps(bad)  # type: ignore[arg-type]
    assert info.value.field == "seconds"


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
def test_as_ps_rejects_negative_and_non_integer_values(bad: object) -> None:
    with pytest.raises(ParameterError, match="delay_ps"):
        as_ps("delay_ps", bad)


def test_as_ps_accepts_numpy_integers() -> None:
    value = as_ps("delay_ps", np.uint32(12))
    assert value == 12
    assert type(value) is int
