"""Study files: their points (grid, random, Latin hypercube) and the errors that name a field."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.network.schema_base import ScenarioError
from qinternet.sweep.study import MAX_POINTS, BaseKind, builtin_studies, load_study, study_points

KEYRATE = """
name: small
base: {kind: keyrate, settings: {distance_km: 100}}
vary:
  - {field: detector.efficiency, range: [0.1, 0.3], points: 3}
  - {field: detector.dark_count_prob, log_range: [1.0e-7, 1.0e-5], points: 3}
metrics: [key_rate_per_pulse]
"""


def _study(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return load_study(path)[0]


def test_a_grid_is_every_combination_with_the_last_field_fastest_and_each_seed(tmp_path: Path) -> None:
    study = _study(tmp_path, KEYRATE + "seeds: 2\nfirst_seed: 5\n")
    points = study_points(study)
    assert len(points) == 3 * 3 * 2
    assert [p.seed for p in points[:4]] == [5, 6, 5, 6]
    efficiencies = [p.changes()["detector.efficiency"] for p in points[::6]]
    assert efficiencies == pytest.approx([0.1, 0.2, 0.3])
    darks = [p.changes()["detector.dark_count_prob"] for p in points[:6:2]]
    assert darks == pytest.approx([1e-7, 1e-6, 1e-5])  # logarithmic: a decade per step
    assert len({p.key for p in points}) == len(points)
    assert [p.key for p in study_points(study)] == [p.key for p in points]  # the same every time: resumable


def test_latin_hypercube_puts_one_sample_in_every_stratum_of_every_field(tmp_path: Path) -> None:
    # McKay, Beckman, Conover (1979): n samples, each field's range cut into n equal strata, one sample in each.
    text = KEYRATE.replace("points: 3", "").replace("metrics", "sampling: latin-hypercube\nsamples: 20\nmetrics")
    study = _study(tmp_path, text)
    points = study_points(study)
    assert len(points) == 20
    eff = np.array([p.changes()["detector.efficiency"] for p in points])
    strata = np.floor((eff - 0.1) / (0.2 / 20)).astype(int)
    assert sorted(strata) == list(range(20))
    dark = np.array([p.changes()["detector.dark_count_prob"] for p in points])
    log_strata = np.floor((np.log10(dark) + 7) / (2 / 20)).astype(int)
    assert sorted(log_strata) == list(range(20))


def test_random_samples_stay_in_their_ranges_and_depend_on_the_sampling_seed(tmp_path: Path) -> None:
    text = KEYRATE.replace("points: 3", "").replace("metrics", "sampling: random\nsamples: 50\nmetrics")
    first = study_points(_study(tmp_path, text))
    other = study_points(_study(tmp_path, text.replace("sampling: random", "sampling: random\nsampling_seed: 9")))
    eff = [p.changes()["detector.efficiency"] for p in first]
    assert all(0.1 <= e <= 0.3 for e in eff)
    assert eff != [p.changes()["detector.efficiency"] for p in other]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (("points: 3", "points: 0"), "vary[0].points"),
        (("range: [0.1, 0.3], points: 3", "values: []"), "vary[0]"),
        (("range: [0.1, 0.3], points: 3", "range: [0.1, 0.3]"), "(file)"),
        (("range: [0.1, 0.3]", "range: [0.1, 0.3], values: [1]"), "vary[0]"),
        (("metrics: [key_rate_per_pulse]", "metrics: []"), "metrics"),
        (("metrics: [key_rate_per_pulse]", "metrics: [k]\nseeds: 0"), "seeds"),
        (("kind: keyrate", "kind: teleport"), "base.kind"),
        (("name: small", "name: small\ncolour: red"), "colour"),
        (("detector.dark_count_prob", "detector.efficiency"), "(file)"),
    ],
)
def test_a_bad_study_names_the_field(tmp_path: Path, change: tuple[str, str], path: str) -> None:
    with pytest.raises(ScenarioError) as info:
        _study(tmp_path, KEYRATE.replace(*change))
    assert info.value.errors[0][0] == path, info.value.errors


def test_a_grid_too_large_is_refused_before_anything_runs(tmp_path: Path) -> None:
    big = math.isqrt(MAX_POINTS) + 1
    text = KEYRATE.replace("points: 3", f"points: {big}")
    with pytest.raises(ScenarioError, match="at most"):
        _study(tmp_path, text)


def test_an_unknown_study_names_the_argument() -> None:
    with pytest.raises(ParameterError) as info:
        load_study("no-such-study")
    assert info.value.field == "STUDY"
    assert "keyrate-vs-detector" in info.value.reason


def test_the_shipped_studies_load_and_cover_three_bases() -> None:
    studies = {name: load_study(name)[0] for name in builtin_studies()}
    assert "keyrate-vs-detector" in studies
    assert {s.base.kind for s in studies.values()} >= {BaseKind.KEYRATE, BaseKind.REPEATER, BaseKind.SCENARIO}
    detector = studies["keyrate-vs-detector"]
    assert [a.field for a in detector.vary] == ["detector.efficiency", "detector.dark_count_prob"]
    assert "key_rate_per_pulse" in detector.metrics
