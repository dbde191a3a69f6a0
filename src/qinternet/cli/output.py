"""Writing results: JSON to stdout, CSV files, figures."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from qinternet.errors import ParameterError
from qinternet.outputs import check_output_file, replacing, writing
from qinternet.params.serialise import dump_json, to_jsonable

__all__ = [
    "QuietOption",
    "check_output_path",
    "dump_json",
    "print_listing",
    "print_table",
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


def _fit(width: int, headers: list[str], rows: list[list[str]], whole: set[int]) -> list[int | None]:
    """Column widths for a table of ``width`` characters (2 between columns), or None where Rich may choose.

    Columns in ``whole`` keep their full text; the others may wrap between words, never inside one. The
    spare width goes first to the columns that need least of it to stay on one line.
    """
    natural = [max(len(text) for text in (header, *(row[i] for row in rows))) for i, header in enumerate(headers)]
    gaps = 2 * (len(headers) - 1)  # right padding and the (blank) divider
    if sum(natural) + gaps <= width:
        return [None] * len(headers)
    least = [
        natural[i] if i in whole else max(len(word) for text in (h, *(row[i] for row in rows)) for word in text.split())
        for i, h in enumerate(headers)
    ]
    spare = width - gaps - sum(least)
    widths = list(least)
    for i in sorted(range(len(headers)), key=lambda i: natural[i] - least[i]):
        extra = max(0, min(spare, natural[i] - least[i]))
        widths[i] += extra
        spare -= extra
    return list(widths)


def print_table(
    console: Console, title: str, headers: list[str], rows: list[list[str]], ids: set[int], left: set[int]
) -> None:
    """A table whose id columns (``ids``) stay whole; columns in ``left`` align left, the others right."""
    from rich import box

    table = Table(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), title_justify="left"
    )
    for i, (header, width) in enumerate(zip(headers, _fit(console.width, headers, rows, ids), strict=True)):
        table.add_column(header, justify="left" if i in left else "right", no_wrap=i in ids, width=width)
    for row in rows:
        table.add_row(*row)
    console.print(table)
