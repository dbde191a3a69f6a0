"""The library API behind ``qinternet link``: the same JSON as the command, typed fields, errors by name."""

from __future__ import annotations

import json

import pytest

from qinternet.errors import ParameterError
from qinternet.network.experiment import run_link_experiment
from qinternet.postprocessing.pipeline import PipelineParams


def test_to_json_is_what_qinternet_link_prints(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("link", "--distance-km", "50", "--pulses", "1e8", "--seed", "11", "--json")
    assert code == 0
    printed = json.loads(out)
    experiment = run_link_experiment(distance_km=50.0, pulses=10**8, seed=11)
    mine = json.loads(experiment.to_json())
    for timing in ("wall_s", "pulses_per_wall_s"):
        printed.pop(timing)
        mine.pop(timing)
    assert mine == printed
    assert experiment.estimate.key_rate_per_pulse == printed["key_rate_per_pulse"]
    assert int(experiment.counts.detected.sum()) == printed["detections"]


def test_post_processing_gives_equal_keys_to_both_parties() -> None:
    experiment = run_link_experiment(distance_km=20.0, pulses=10**8, seed=3, pipeline=PipelineParams())
    outcome = experiment.outcome
    assert outcome is not None
    assert experiment.record is not None
    assert not outcome.aborted
    assert outcome.final_key_bits > 0
    assert (outcome.alice_key == outcome.bob_key).all()
    assert experiment.to_dict()["final_key_bits"] == outcome.final_key_bits


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"pulses": 0}, "pulses"),
        ({"pulses": 10**9, "block_pulses": 10}, "block_pulses"),
        ({"preset": "nope"}, "preset"),
        ({"attack": "wiretap"}, "--attack"),
    ],
)
def test_bad_arguments_name_their_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        run_link_experiment(**options)  # type: ignore[arg-type]
    assert caught.value.field == field
