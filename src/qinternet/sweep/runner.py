"""Run a study's points on Dask, keep each finished run, and write them as Parquet.

Every run is a task on a Dask cluster: a local one with a worker process per core by default
(:class:`distributed.LocalCluster`), or an existing scheduler by address (``--scheduler tcp://HOST:8786`` or
``DASK_SCHEDULER_ADDRESS``). A finished run is appended to ``journal.jsonl`` in the output folder and synced to
disk before the next is counted, so an interrupted sweep loses no finished run; started again on the same folder,
it runs only the runs the journal lacks. ``results.parquet`` holds one row per point and seed — a column per
varied field (named by its path), ``seed``, and one per metric — with the study, the package version and the git
commit in the file's metadata.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qinternet.errors import ParameterError
from qinternet.outputs import check_output_folder, replacing
from qinternet.sweep.bases import prepare, scalar_metrics
from qinternet.sweep.study import BaseKind, Point, Scalar, Study, study_points

if TYPE_CHECKING:
    import pyarrow
    from distributed import Client

__all__ = [
    "JOURNAL",
    "RESULTS",
    "STUDY_COPY",
    "SweepResult",
    "dask_client",
    "read_results",
    "run_batch",
    "run_study",
    "write_results",
]

JOURNAL = "journal.jsonl"
"""The runs finished so far, one JSON line each (what an interrupted sweep resumes from)."""
RESULTS = "results.parquet"
"""One row per point and seed."""
STUDY_COPY = "study.json"
"""The study the folder's runs belong to (a folder holds one study's runs)."""

_CHEAP_BASES = frozenset({BaseKind.KEYRATE})
"""Bases whose runs take milliseconds: sent to the workers in batches, so that Dask's cost per task is shared."""
_TASKS_PER_WORKER = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepResult:
    """What a sweep left in its folder.

    Attributes:
        rows: every finished run (resumed and new), in the study's order, as the Parquet file's rows.
        total: runs in the study (points x seeds).
        resumed: runs found finished in the folder's journal.
        ran: runs done now.
        workers: Dask workers the runs were spread over (0 when nothing was left to run).
    """

    rows: list[dict[str, Scalar | None]]
    total: int
    resumed: int
    ran: int
    workers: int


def run_batch(
    kind: BaseKind, settings: Mapping[str, Any], metrics: list[str], runs: Sequence[tuple[str, dict[str, Any], int]]
) -> list[tuple[str, dict[str, Scalar | None]]]:
    """Run points on a worker: for each ``(key, changes, seed)``, the row of the varied fields, the seed and the
    metrics, with its key."""
    rows = []
    for key, changes, seed in runs:
        output = prepare(kind, settings, changes, seed)()
        rows.append((key, {**changes, "seed": seed, **scalar_metrics(output, metrics, kind)}))
    return rows


@contextmanager
def dask_client(scheduler: str | None, workers: int | None, *, timeout_s: float = 10.0) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler`` (or ``DASK_SCHEDULER_ADDRESS``; refused when it does not answer
    within ``timeout_s``), else of a new local cluster with ``workers`` processes (default: one per core), one
    thread each."""
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if address is not None:
        field = "--scheduler" if scheduler else "DASK_SCHEDULER_ADDRESS"
        try:
            client = Client(address, timeout=f"{timeout_s}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ParameterError(field, f"no Dask scheduler answers at {address!r}: {exc}") from None
        with client:
            yield client
        return
    count = workers if workers is not None else (os.cpu_count() or 1)
    if count < 1:
        raise ParameterError("--workers", f"must be at least 1, got {count}")
    with (
        LocalCluster(
            n_workers=count,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _read_journal(path: Path) -> dict[str, dict[str, Scalar | None]]:
    """The finished runs in the journal by key; a last line cut short by a crash is ignored."""
    done: dict[str, dict[str, Scalar | None]] = {}
    if not path.exists():
        return done
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # only a crash mid-write leaves one, and only as the last line
            done[entry["key"]] = entry["row"]
    return done


def _study_identity(study: Study) -> str:
    return json.dumps(study.model_dump(mode="json"), sort_keys=True)


def _claim_folder(folder: Path, study: Study, field: str) -> None:
    """Make ``folder`` the study's (or check that it is): a folder holds the runs of one study only."""
    check_output_folder(folder, field, (JOURNAL, RESULTS, STUDY_COPY))
    folder.mkdir(exist_ok=True)
    identity = _study_identity(study)
    copy = folder / STUDY_COPY
    if copy.exists():
        if copy.read_text(encoding="utf-8") != identity:
            raise ParameterError(
                field,
                f"{str(folder)!r} holds the runs of another study (or of another version); choose a new folder",
            )
        return
    if (folder / JOURNAL).exists():
        raise ParameterError(field, f"{str(folder)!r} holds a journal of unknown runs; choose a new folder")
    with replacing(copy, field) as temporary:
        temporary.write_text(identity, encoding="utf-8")


def _batches(kind: BaseKind, pending: list[Point], workers: int) -> list[list[Point]]:
    if kind not in _CHEAP_BASES:
        return [[point] for point in pending]
    size = max(1, len(pending) // (workers * _TASKS_PER_WORKER))
    return [pending[i : i + size] for i in range(0, len(pending), size)]


def run_study(
    study: Study,
    folder: Path,
    *,
    client: Client,
    field: str = "--out",
    on_progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run every run of ``study`` that ``folder``'s journal lacks on ``client``'s cluster; write ``results.parquet``.

    Every point's settings and changes are checked before anything runs (a field path that does not exist, a
    value its field refuses). ``on_progress(done, total)`` is called as runs finish. On an interrupt (or an
    error) the Parquet file is written with the runs finished so far before the exception goes on.

    Raises:
        ParameterError: naming the study's field (``vary``, ``metrics[i]``, ``base.settings.x``) or ``field``.
    """
    check_output_folder(folder, field, (JOURNAL, RESULTS, STUDY_COPY))
    points = study_points(study)
    first_of: dict[tuple[tuple[str, Scalar], ...], Point] = {}
    for point in points:
        first_of.setdefault(point.values, point)
    for point in first_of.values():  # each set of changes once (the seed changes no field); builds, runs nothing
        prepare(study.base.kind, study.base.settings, point.changes(), point.seed)
    _claim_folder(folder, study, field)  # only a valid study: a corrected one may then use the same folder
    journal = folder / JOURNAL
    done = _read_journal(journal)
    resumed = sum(1 for p in points if p.key in done)
    pending = [p for p in points if p.key not in done]
    finished = resumed
    if on_progress is not None:
        on_progress(finished, len(points))
    workers = len(client.scheduler_info()["workers"]) if pending else 0
    try:
        if pending:
            from distributed import as_completed

            futures = [
                client.submit(
                    run_batch,
                    study.base.kind,
                    study.base.settings,
                    study.metrics,
                    [(p.key, p.changes(), p.seed) for p in batch],
                    pure=False,
                )
                for batch in _batches(study.base.kind, pending, max(workers, 1))
            ]
            with journal.open("a", encoding="utf-8") as handle:
                try:
                    for future in as_completed(futures):
                        rows = future.result()
                        for key, row in rows:
                            handle.write(json.dumps({"key": key, "row": row}, allow_nan=True) + "\n")
                            done[key] = row
                        handle.flush()
                        os.fsync(handle.fileno())
                        finished += len(rows)
                        if on_progress is not None:
                            on_progress(finished, len(points))
                finally:
                    client.cancel(futures)
    finally:
        rows = [done[p.key] for p in points if p.key in done]
        write_results(folder / RESULTS, rows, study, field)
    return SweepResult(rows=rows, total=len(points), resumed=resumed, ran=finished - resumed, workers=workers)


def _git_commit() -> str:
    """The commit of the source tree qinternet runs from, or ``unknown`` (an installed wheel has none)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return "unknown"
    try:
        answer = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return "unknown"
    return answer.stdout.strip() if answer.returncode == 0 else "unknown"


def write_results(path: Path, rows: list[dict[str, Scalar | None]], study: Study, field: str) -> None:
    """``rows`` as Parquet at ``path`` (replaced whole), with the study, version and commit in its metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from qinternet import __version__

    columns = [axis.field for axis in study.vary] + ["seed"] + list(study.metrics)
    table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows]) if rows else _empty(columns)
    table = table.replace_schema_metadata(
        {
            "qinternet.study": _study_identity(study),
            "qinternet.version": __version__,
            "qinternet.git_commit": _git_commit(),
        }
    )
    with replacing(path, field) as temporary:
        pq.write_table(table, temporary)


def _empty(columns: list[str]) -> pyarrow.Table:
    import pyarrow as pa

    return pa.table({c: pa.array([], type=pa.null()) for c in columns})


def read_results(path: Path) -> tuple[pyarrow.Table, dict[str, str]]:
    """A sweep's Parquet file and its metadata (``qinternet.study``, ``.version``, ``.git_commit``)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items() if k.startswith(b"qinternet.")}
    return table, meta
