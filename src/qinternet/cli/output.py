"""Writing results: JSON to stdout, CSV files, figures."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from qinternet.errors import ParameterError
from qinternet.outputs import check_output_file, replacing, writing
from qinternet.params.serialise import dump_json, to_jsonable

__all__ = [
    "QuietOption",
    "check_output_path",
    "dump_json",
    "print_listing",
    "progress_bar",
    "write_csv",
    "writing",
]


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], *, option: str = "--csv") -> None:
    """Write ``rows`` (flat dicts with the same keys) as CSV with a header, whole or not at all."""
    if not rows:
        raise ParameterError(option, "nothing to write")
    with replacing(path, option) as temporary, writing(path, option), temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(to_jsonable(list(rows)))


def check_output_path(path: Path, option: str, suffixes: tuple[str, ...]) -> None:
    """Fail early, before any work, when ``path`` cannot be the output file of ``option`` (see
    :func:`qinternet.outputs.check_output_file`)."""
    check_output_file(path, option, suffixes)


QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or messages on stderr.")]
"""``--quiet`` of the commands that show progress."""


def progress_bar(*, quiet: bool = False) -> Progress:
    """A Rich progress bar with the time left on standard error, shown only on a terminal and unless
    ``quiet`` (standard output stays clean for JSON)."""
    console = Console(stderr=True, quiet=quiet)
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    )


def print_listing(title: str, rows: Sequence[Mapping[str, object]], *, json_out: bool) -> None:
    """A listing (``scenarios list``, ``studies list``): JSON on standard output, or a table of the rows' fields."""
    if json_out:
        typer.echo(dump_json(list(rows)))
        return
    from rich.table import Table

    table = Table(title=title)
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[key]) for key in columns))
    Console().print(table)
