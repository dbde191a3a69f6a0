"""Turning parameter objects and results into JSON-ready values and JSON text."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from typing import Any

__all__ = ["dump_json", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value``: dataclasses become dicts, enums their values, tuples lists, and
    non-finite floats ``None`` (JSON has no infinity; an infinite bound at 0 km is reported as null)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return to_jsonable(value.item())
    return value


def dump_json(data: Any) -> str:
    """Strict JSON text (non-finite numbers become null), indented for people and parsable by scripts."""
    return json.dumps(to_jsonable(data), indent=2, allow_nan=False)
