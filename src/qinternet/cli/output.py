"""Writing results: JSON to stdout, CSV files, figures."""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from qinternet.errors import ParameterError
from qinternet.params.serialise import to_jsonable

__all__ = ["check_output_path", "dump_json", "progress_bar", "write_csv", "writing"]


def dump_json(data: Any) -> str:
    """Strict JSON (non-finite numbers become null), indented for people and parsable by scripts."""
    return json.dumps(to_jsonable(data), indent=2, allow_nan=False)


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], *, option: str = "--csv") -> None:
    """Write ``rows`` (flat dicts with the same keys) as CSV with a header."""
    if not rows:
        raise ParameterError(option, "nothing to write")
    with writing(path, option), path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(to_jsonable(list(rows)))


@contextlib.contextmanager
def writing(path: Path, option: str) -> Iterator[None]:
    """Turn an operating-system error while writing ``path`` into a :class:`ParameterError` for ``option``."""
    try:
        yield
    except OSError as error:
        raise ParameterError(option, f"cannot write {str(path)!r}: {error.strerror or error}") from None


def check_output_path(path: Path, option: str, suffixes: tuple[str, ...]) -> None:
    """Fail early, before any work, when ``path`` cannot be the output file of ``option``."""
    if path.suffix.lower() not in suffixes:
        raise ParameterError(option, f"file must end in {' or '.join(suffixes)}, got {path.name!r}")
    if path.is_dir():
        raise ParameterError(option, f"{str(path)!r} is a folder, not a file")
    folder = path.parent
    if not folder.is_dir():
        raise ParameterError(option, f"folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ParameterError(option, f"cannot write to {str(path)!r}: permission denied")


def progress_bar() -> Progress:
    """A Rich progress bar on standard error, shown only on a terminal (stdout stays clean for JSON)."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
