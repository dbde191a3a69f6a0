"""Writing a run's results where people look for them: ``summary.json``, ``links.csv``, ``demands.csv`` and
``report.html`` in one folder, together or not at all (:func:`qinternet.outputs.staged_folder`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qinternet.outputs import check_output_folder, staged_folder
from qinternet.report.network import write_report

if TYPE_CHECKING:
    from qinternet.network.run import RunResult, SeriesTable

__all__ = ["RUN_OUTPUTS", "check_run_folder", "save_run", "write_series_csv"]

RUN_OUTPUTS = ("summary.json", "links.csv", "demands.csv", "report.html")
"""The files of a run's output folder."""


def write_series_csv(path: Path, table: SeriesTable) -> None:
    """``table`` as CSV with a header; floats as Python writes them (``repr``: shortest exact form)."""
    columns = list(table.columns)
    arrays = [table.columns[name] for name in columns]
    with path.open("w") as handle:
        handle.write(",".join(columns) + "\n")
        for row in zip(*arrays, strict=True):
            handle.write(",".join(repr(float(v)) if isinstance(v, float) else str(v) for v in row) + "\n")


def check_run_folder(folder: Path, field: str = "folder") -> None:
    """Fail early, before a run, when its results could not be written to ``folder``."""
    check_output_folder(folder, field, RUN_OUTPUTS)


def save_run(result: RunResult, folder: Path, field: str = "folder") -> None:
    """Write the run's four files into ``folder`` (created if missing, not its parent), all or none.

    Raises:
        ParameterError: naming ``field``, when the folder or one of its files cannot be written.
    """
    with staged_folder(folder, RUN_OUTPUTS, field) as stage:
        (stage / "summary.json").write_text(result.to_json() + "\n")
        write_series_csv(stage / "links.csv", result.link_series())
        write_series_csv(stage / "demands.csv", result.demand_series())
        write_report(stage / "report.html", result)
