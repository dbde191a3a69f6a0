"""One gate for every command's values: checked in qinternet's words before Typer converts them.

Typer converts option values with pydantic and words its errors in pydantic's terms ("Input should be a
valid number, unable to parse string as a number"); it also lets through what no qinternet option means:
an empty value (``--out ''`` became the current folder), ``nan`` and ``inf`` for numbers, integers beyond
64 bits. :func:`harden_command` is applied to every command as the CLI loads it, so every option of every command, the
next one added included, is checked the same way: a bad value is a :class:`~qinternet.errors.ParameterError` naming
the option, which the CLI prints as one line with exit status 2. It also makes ``--help`` show flags
without a type (Typer shows ``--json <bool>``) and arguments by their upper-case name.
"""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from qinternet.errors import ParameterError

__all__ = ["MAX_INT", "ValueKind", "check_text", "harden_command", "kind", "label", "parse_number", "walk"]

MAX_INT = 2**63 - 1
"""Largest whole number any option takes (numpy's int64 and SQLite's integers hold it)."""

ValueKind = Literal["float", "int", "path", "choice", "text", "flag"]
"""How a parameter's value is read (see :func:`kind`)."""

_Command = Any
"""A command or group of Typer's vendored click (Typer does not export its type)."""
_Parameter = Any
"""An option or argument of Typer's vendored click."""


def _subcommands(command: _Command) -> list[tuple[str, _Command]]:
    """A group's commands by name (a lazy group's are loaded), or none."""
    if not hasattr(command, "list_commands"):
        return []
    context = command.context_class(command)
    return [(name, command.get_command(context, name)) for name in command.list_commands(context)]


def walk(command: _Command) -> Iterator[tuple[str, _Command]]:
    """Every command of the tree under ``command`` (itself first) with its path, e.g. ``"scenario validate"``
    (the commands of a lazy group are loaded)."""
    stack: list[tuple[str, _Command]] = [("", command)]
    while stack:
        path, current = stack.pop(0)
        yield path, current
        for name, sub in _subcommands(current):
            stack.append((f"{path} {name}".strip(), sub))


def label(param: _Parameter) -> str:
    """How the user names ``param``: its longest flag (``--out``) or, for an argument, its upper-case name."""
    if getattr(param, "param_type_name", "") == "option" and param.opts:
        return str(max(param.opts, key=len))
    return str(param.metavar or param.name.upper())


def _annotation(param: _Parameter) -> Any:
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # X | None
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = members[0] if len(members) == 1 else None
    if typing.get_origin(annotation) is list:
        (annotation,) = typing.get_args(annotation)
    return annotation


def kind(param: _Parameter) -> ValueKind:
    """How ``param``'s value is read, from its Python annotation."""
    if getattr(param, "is_flag", False):
        return "flag"
    annotation = _annotation(param)
    if annotation is float:
        return "float"
    if annotation is int:
        return "int"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "choice"
    return "text"


def _bounds(param: _Parameter, value: float, text: str, name: str) -> None:
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None and value < low:
        raise ParameterError(name, f"must be >= {low:g}, got {text}")
    if high is not None and value > high:
        raise ParameterError(name, f"must be <= {high:g}, got {text}")


def parse_number(text: str, option: str) -> float:
    """A finite number from ``text``, or a :class:`ParameterError` naming ``option``."""
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(option, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ParameterError(option, f"must be a finite number, got {text!r}")
    return value


def check_text(param: _Parameter, text: str) -> None:
    """Refuse ``text`` as the value of ``param`` unless Typer's conversion will accept it and qinternet can use it.

    Raises:
        ParameterError: naming the option, e.g. ``--pulses: 'abc' is not a number``.
    """
    name, value_kind = label(param), kind(param)
    if text == "":
        raise ParameterError(name, "must not be empty")
    if value_kind == "float":
        _bounds(param, parse_number(text, name), text, name)
    elif value_kind == "int":
        try:
            whole = int(text)
        except ValueError:
            raise ParameterError(name, f"{text!r} is not a whole number") from None
        if abs(whole) > MAX_INT:
            raise ParameterError(name, f"must be between -(2**63 - 1) and 2**63 - 1, got {text}")
        _bounds(param, whole, text, name)
    elif value_kind == "choice":
        choices = [str(member.value) for member in _annotation(param)]
        if text not in choices:
            raise ParameterError(name, f"{text!r} is not one of {', '.join(choices)}")


def _harden(param: _Parameter) -> None:
    original = param.process_value

    def process_value(ctx: Any, value: Any) -> Any:
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, str):
                check_text(param, item)
        return original(ctx, value)

    param.process_value = process_value
    if kind(param) == "flag":
        param.metavar = ""  # --help shows "--json", not "--json <bool>"
    elif getattr(param, "param_type_name", "") == "argument" and param.metavar is None:
        param.metavar = param.name.upper()


def harden_command(command: _Command) -> None:
    """Check every parameter of ``command`` and of the subcommands it already has with :func:`check_text`
    (a lazy group hardens each command as it loads it)."""
    stack = [command]
    while stack:
        current = stack.pop()
        for param in current.params:
            _harden(param)
        current.get_help_option = _flag_help(current.get_help_option)
        stack.extend(getattr(current, "commands", {}).values())


def _flag_help(get_help_option: Any) -> Any:
    """``--help`` is made when help is first shown: show it as a flag too."""

    def wrapped(ctx: Any) -> Any:
        option = get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    return wrapped
