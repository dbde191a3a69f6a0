"""The MDI link experiment as a library call: its arguments are checked and named."""

from __future__ import annotations

import math

import pytest

from qinternet.errors import ParameterError
from qinternet.network.experiment_mdi import run_mdi_link_experiment
from qinternet.params import get_preset


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pulses": 0.5}, "pulses"),
        ({"pulses": math.nan}, "pulses"),
        ({"pulses": True}, "pulses"),
        ({"distance_km": -1.0}, "distance_km"),
        ({"devices": get_preset("lim2014").system}, "devices"),
    ],
)
def test_bad_arguments_are_named(changes: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"preset": "yin2016", "distance_km": 100.0, "pulses": 1e10, "seed": 1, **changes}
    with pytest.raises(ParameterError) as info:
        run_mdi_link_experiment(**arguments)  # type: ignore[arg-type]
    assert info.value.field == field


def test_the_same_seed_draws_the_same_station() -> None:
    first = run_mdi_link_experiment(preset="yin2016", distance_km=100.0, pulses=1e11, seed=3).to_dict()
    again = run_mdi_link_experiment(preset="yin2016", distance_km=100.0, pulses=1e11, seed=3).to_dict()
    other = run_mdi_link_experiment(preset="yin2016", distance_km=100.0, pulses=1e11, seed=4).to_dict()
    for result in (first, again, other):
        result.pop("wall_s")
    assert first == again
    assert first["heralded"] != other["heralded"]
