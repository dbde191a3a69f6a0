"""Our words for pydantic's validation errors, wherever outside data is validated (scenario files, settings).

pydantic words its errors in its own terms ("Input should be a valid number, unable to parse string as a
number"); users of qinternet get the project's phrasing instead, naming what is wrong and what was given
(``must be > 0, got -3``). Every pydantic error type a file or a setting can cause is listed; a type not
listed gets a neutral phrase, never pydantic's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, get_args

from pydantic_core.core_schema import ErrorType

__all__ = ["shown_value", "validation_reason"]

# Each type a file can cause: wrong types for every kind of field, bounds, missing and unknown fields.
_MESSAGES: dict[str, str] = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "multiple_of": "must be a multiple of {multiple_of}",
    "finite_number": "must be a finite number",
    "missing": "is required",
    "extra_forbidden": "is not a field of this section",
    "invalid_key": "field names must be text",
    "enum": "must be one of {expected}",
    "literal_error": "must be one of {expected}",
    "too_short": "needs at least {min_length} entries",
    "too_long": "takes at most {max_length} entries",
    "string_type": "must be text",
    "string_sub_type": "must be text",
    "string_unicode": "must be text",
    "string_too_short": "must have at least {min_length:,} characters",
    "string_too_long": "must have at most {max_length:,} characters",
    "string_pattern_mismatch": "must be letters, digits, '_', '.', ':' or '-', starting with a letter or digit",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_parsing_size": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "datetime_type": "must be a date and time such as 2021-01-06T00:00:00Z",
    "datetime_parsing": "must be a date and time such as 2021-01-06T00:00:00Z",
    "datetime_from_date_parsing": "must be a date and time such as 2021-01-06T00:00:00Z",
    "datetime_object_invalid": "must be a date and time such as 2021-01-06T00:00:00Z",
    "dict_type": "must be a mapping (name: value, ...)",
    "mapping_type": "must be a mapping (name: value, ...)",
    "model_type": "must be a mapping of fields (name: value, ...)",
    "model_attributes_type": "must be a mapping of fields (name: value, ...)",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "iterable_type": "must be a list",
    "union_tag_invalid": "must be one of {expected_tags}",
    "union_tag_not_found": "needs {discriminator}",
    "none_required": "must be empty",
    "recursion_loop": "contains itself",
}
_KIND_ERRORS = frozenset(k for k, v in _MESSAGES.items() if v.startswith("must be") and "{" not in v)
"""Errors about the kind of value given: a list or mapping given is worth naming in them."""
_PYDANTIC_ERRORS = frozenset(get_args(ErrorType))
"""pydantic's own error types; any other type is one of ours (``PydanticCustomError``), already in our words."""
_NEUTRAL = "has a value that is not valid here"


def shown_value(value: object) -> str | None:
    """A value as the file spells it, or what it is, for "got ..." (None: too long to be worth showing)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) > 50:
        return f"a text of {len(value):,} characters"
    shown = repr(value)
    return shown if len(shown) <= 60 else None


def validation_reason(error: Mapping[str, Any]) -> str:
    """The reason of one pydantic error (an item of ``ValidationError.errors()``) in our words, with the value given."""
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind not in _PYDANTIC_ERRORS:
        reason = str(error["msg"])  # ours
    elif kind in {"value_error", "assertion_error"}:
        reason = str(context.get("error", _NEUTRAL))  # a ValueError raised by our validators
    else:
        shown_ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in context.items()}
        try:
            reason = _MESSAGES.get(kind, _NEUTRAL).format(**shown_ctx)
        except (KeyError, ValueError):
            reason = _NEUTRAL
    if kind in {"missing", "extra_forbidden", "duration"} or "input" not in error:
        return reason
    value = error["input"]
    if kind in {"string_too_long", "string_too_short"} and isinstance(value, str):
        return "must not be empty" if not value else f"{reason} (it has {len(value):,})"
    shown = shown_value(value)
    said = kind in {"value_error", "assertion_error"} and shown is not None and shown in reason  # by our validator
    if shown is None or said or (isinstance(value, dict | list | tuple) and kind not in _KIND_ERRORS):
        return reason
    return f"{reason}, got {shown}"
