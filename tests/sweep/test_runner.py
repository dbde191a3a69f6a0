"""Sweeps on a Dask cluster: Parquet rows equal to the single runs, resumption, interruption, folders, schedulers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import LocalCluster

from qinternet import __version__
from qinternet.errors import ParameterError
from qinternet.sweep.bases import evaluate
from qinternet.sweep.runner import JOURNAL, RESULTS, dask_client, read_results, run_study
from qinternet.sweep.study import load_study, study_points
from tests.servers import free_port

STUDY = """
name: small
base: {kind: keyrate, settings: {distance_km: 100}}
vary:
  - {field: detector.efficiency, range: [0.1, 0.3], points: 3}
  - {field: detector.dark_count_prob, log_range: [1.0e-7, 1.0e-5], points: 4}
seeds: 2
metrics: [key_rate_per_pulse, qber]
"""


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """One local cluster of two worker processes for the module (starting one takes seconds); the tests reach
    it by its address, as ``--scheduler`` does."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _study(tmp_path: Path, text: str = STUDY):  # type: ignore[no-untyped-def]
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return load_study(path)[0]


def test_every_run_becomes_a_row_equal_to_the_single_run(tmp_path: Path, scheduler: str) -> None:
    study = _study(tmp_path)
    with dask_client(scheduler, None) as client:
        result = run_study(study, tmp_path / "out", client=client)
    assert (result.total, result.ran, result.resumed, result.workers) == (24, 24, 0, 2)
    table, meta = read_results(tmp_path / "out" / RESULTS)
    assert table.column_names == [
        "detector.efficiency",
        "detector.dark_count_prob",
        "seed",
        "key_rate_per_pulse",
        "qber",
    ]
    assert table.num_rows == 24
    assert meta["qinternet.version"] == __version__
    assert json.loads(meta["qinternet.study"])["name"] == "small"
    assert meta["qinternet.git_commit"]
    rows = table.to_pylist()
    for point, row in zip(study_points(study), rows, strict=True):  # in the study's order
        single = evaluate(study.base.kind, study.base.settings, point.changes(), point.seed)
        assert row["key_rate_per_pulse"] == single["key_rate_per_pulse"]
        assert row["seed"] == point.seed
        assert row["detector.efficiency"] == point.changes()["detector.efficiency"]


def test_a_sweep_started_again_runs_only_what_its_journal_lacks(tmp_path: Path, scheduler: str) -> None:
    study = _study(tmp_path)
    out = tmp_path / "out"
    with dask_client(scheduler, None) as client:
        first = run_study(study, out, client=client)
        lines = (out / JOURNAL).read_text().splitlines()
        # A crash mid-write: ten runs kept, the eleventh cut short.
        (out / JOURNAL).write_text("\n".join(lines[:10]) + "\n" + lines[10][:15])
        again = run_study(study, out, client=client)
    assert (again.resumed, again.ran) == (10, 14)
    assert again.rows == first.rows
    assert read_results(out / RESULTS)[0].num_rows == 24


def test_an_interrupted_sweep_keeps_every_finished_run(tmp_path: Path, scheduler: str) -> None:
    study = _study(tmp_path)
    out = tmp_path / "out"
    seen: list[int] = []

    def interrupt(done: int, total: int) -> None:
        seen.append(done)
        if done > 0:
            raise KeyboardInterrupt

    with dask_client(scheduler, None) as client:
        with pytest.raises(KeyboardInterrupt):
            run_study(study, out, client=client, on_progress=interrupt)
        kept = read_results(out / RESULTS)[0].num_rows
        assert kept == seen[-1] > 0
        rest = run_study(study, out, client=client)
    assert rest.resumed == kept
    assert rest.ran == 24 - kept


def test_a_folder_of_another_study_is_refused(tmp_path: Path, scheduler: str) -> None:
    out = tmp_path / "out"
    with dask_client(scheduler, None) as client:
        run_study(_study(tmp_path), out, client=client)
        other = _study(tmp_path, STUDY.replace("points: 4", "points: 2"))
        with pytest.raises(ParameterError) as info:
            run_study(other, out, client=client)
    assert info.value.field == "--out"
    assert "another study" in info.value.reason


def test_bad_paths_and_metrics_are_named_before_or_at_the_first_run(tmp_path: Path, scheduler: str) -> None:
    with dask_client(scheduler, None) as client:
        with pytest.raises(ParameterError) as info:
            run_study(_study(tmp_path, STUDY.replace("detector.efficiency", "detector.eficiency")), tmp_path / "a",
                      client=client)  # fmt: skip
        assert info.value.field == "detector.eficiency"
        assert not (tmp_path / "a").exists()  # refused before anything ran or the folder was claimed
        run_study(_study(tmp_path), tmp_path / "a", client=client)  # so the corrected study may use it
        with pytest.raises(ParameterError) as info:
            run_study(_study(tmp_path, STUDY.replace("qber]", "qbr]")), tmp_path / "b", client=client)
        assert info.value.field == "metrics[1]"


def test_a_scheduler_that_does_not_answer_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ParameterError) as info, dask_client(address, None, timeout_s=1.0):
        pass
    assert info.value.field == "--scheduler"
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    with pytest.raises(ParameterError) as info, dask_client(None, None, timeout_s=1.0):
        pass
    assert info.value.field == "DASK_SCHEDULER_ADDRESS"
