"""Writing results: JSON to stdout, CSV files, figures."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qinternet.errors import ParameterError
from qinternet.params.serialise import to_jsonable

__all__ = ["check_output_suffix", "dump_json", "write_csv"]


def dump_json(data: Any) -> str:
    """Strict JSON (non-finite numbers become null), indented for people and parsable by scripts."""
    return json.dumps(to_jsonable(data), indent=2, allow_nan=False)


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` (flat dicts with the same keys) as CSV with a header."""
    if not rows:
        raise ParameterError("--csv", "nothing to write")
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(to_jsonable(list(rows)))


def check_output_suffix(path: Path, option: str, suffixes: tuple[str, ...]) -> None:
    """Fail early (before any work) when ``path`` has the wrong suffix or its folder does not exist."""
    if path.suffix.lower() not in suffixes:
        raise ParameterError(option, f"file must end in {' or '.join(suffixes)}, got {path.name!r}")
    if not path.parent.exists():
        raise ParameterError(option, f"folder {str(path.parent)!r} does not exist")
