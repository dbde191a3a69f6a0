"""``qinternet sweep`` and ``qinternet studies``: studies over many runs, on Dask, into Parquet and a report."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from qinternet.cli.output import QuietOption, dump_json, print_listing, progress_bar
from qinternet.errors import ParameterError, QinternetError

if TYPE_CHECKING:
    from qinternet.sweep.study import Study

__all__ = ["studies_app", "sweep"]

studies_app = typer.Typer(help="The studies shipped with qinternet.", no_args_is_help=True)

MAX_WORKERS = 512
"""Most local worker processes (a machine's cores, with room)."""

_ADDRESS = re.compile(r"^((tcp|tls|ucx|inproc|ws|wss)://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
"""A Dask scheduler's address: ``tcp://HOST:PORT`` (or ``HOST:PORT``, or another of Dask's protocols)."""


def _study(name: str) -> tuple[Study, str]:
    from qinternet.sweep.study import load_study

    if not name.strip():
        raise ParameterError("STUDY", "must name a shipped study (qinternet studies list) or a study file")
    try:
        return load_study(name)
    except OSError as exc:
        raise ParameterError("STUDY", f"cannot be read: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _named_as_in_the_study() -> Iterator[None]:
    """Errors about the study's fields keep the study's paths (``detector.efficiency``, ``metrics[1]``), not the
    options other commands have for the same field (``--detector-efficiency``)."""
    try:
        yield
    except ParameterError as exc:
        if exc.field.startswith("--"):
            raise
        raise QinternetError(str(exc)) from None


def sweep(
    study: Annotated[str, typer.Argument(help="A shipped study (qinternet studies list) or a study YAML file.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for results.parquet, figures, report.html (default: the study's name)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler, e.g. tcp://HOST:8786 (default: DASK_SCHEDULER_ADDRESS, else a local cluster)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes of the local cluster (default: one per core).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print what was done as JSON.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Run a study: its points and seeds on a Dask cluster, into Parquet and a report; resumes where it stopped."""
    from qinternet.report.sweep import write_sweep_report
    from qinternet.sweep.runner import RESULTS, dask_client, run_study
    from qinternet.sweep.study import Sampling, describe_axes

    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise ParameterError("--workers", f"must be in 1..{MAX_WORKERS}, got {workers}")
    if scheduler is not None:
        if workers is not None:
            raise ParameterError("--workers", "sizes the local cluster; with --scheduler the cluster has its own")
        if not _ADDRESS.match(scheduler):
            raise ParameterError(
                "--scheduler", f"must be a scheduler address such as tcp://HOST:8786, got {scheduler[:60]!r}"
            )
    spec, _ = _study(study)
    folder = out if out is not None else Path(spec.name)
    console = Console(stderr=True, quiet=quiet)
    started = time.perf_counter()
    with progress_bar(quiet=quiet) as progress:
        task = progress.add_task(f"Study {spec.name}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        with dask_client(scheduler, workers) as client, _named_as_in_the_study():
            try:
                result = run_study(spec, folder, client=client, on_progress=advance)
            except KeyboardInterrupt:
                console.print(f"Interrupted: the finished runs are kept in {folder}; run the same command to continue.")
                raise
    grid = spec.sampling is Sampling.GRID
    details = [f"base: {spec.base.kind.value} {dict(spec.base.settings)}", *describe_axes(spec)]
    details.append(f"seeds: {spec.seeds} from {spec.first_seed}; sampling: {spec.sampling.value}")
    files = write_sweep_report(
        folder, result.rows, name=spec.name, description=spec.description,
        fields=[a.field for a in spec.vary], metrics=spec.metrics, grid=grid, details=details,
    )  # fmt: skip
    summary = {
        "study": spec.name,
        "runs": result.total,
        "resumed": result.resumed,
        "ran": result.ran,
        "workers": result.workers,
        "results": str(folder / RESULTS),
        "report": str(files[-1]),
        "wall_s": time.perf_counter() - started,
    }
    if json_out:
        typer.echo(dump_json(summary))
    else:
        console.print(
            f"{spec.name}: {result.ran} runs done on {result.workers} workers, {result.resumed} found done; "
            f"results in {summary['results']}, report in {summary['report']}"
        )


@studies_app.command("list")
def list_studies(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the shipped studies."""
    from qinternet.sweep.study import builtin_studies, load_study, study_points

    rows: list[dict[str, str | int]] = []
    for name in builtin_studies():
        spec, _ = load_study(name)
        rows.append(
            {
                "name": name,
                "base": spec.base.kind.value,
                "runs": len(study_points(spec)),
                "description": spec.description,
            }
        )
    print_listing("Shipped studies (qinternet sweep NAME; qinternet studies show NAME)", rows, json_out=json_out)


@studies_app.command("show")
def show_study(name: Annotated[str, typer.Argument(help="A shipped study.")]) -> None:
    """Print a shipped study's YAML, to copy and edit."""
    from qinternet.sweep.study import builtin_studies

    shipped = builtin_studies()
    if name not in shipped:
        raise ParameterError("NAME", f"no shipped study {name[:60]!r}; shipped: {', '.join(shipped)}")
    typer.echo(shipped[name], nl=False)
