"""Parsing and validation of CLI values, and preset overrides.

Everything here raises :class:`qinternet.errors.ParameterError` naming the *option* the user typed, so
that the CLI can print one line and exit with code 2.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast

import typer

from qinternet.cli.strict import parse_number
from qinternet.errors import ParameterError
from qinternet.params.devices import PairStatistics, QkdSystem
from qinternet.params.devicesets import SHARED_ROLE_PATHS, DeviceSet, shared_roles, with_shared_roles
from qinternet.params.fieldpath import DEVICE_FIELDS, DeviceField, set_fields
from qinternet.params.presets import get_preset

__all__ = [
    "FIELD_OPTIONS",
    "NO_OVERRIDES",
    "OVERRIDE_OPTIONS",
    "SystemOverrides",
    "apply_shared_overrides",
    "apply_system_overrides",
    "given_overrides",
    "only_prepare_and_measure",
    "option_for_field",
    "parse_count",
    "parse_distances",
    "parse_float_list",
    "resolve_system",
    "with_overrides",
]

# Which CLI option sets which parameter field, so that a model's error names what the user typed.
FIELD_OPTIONS: dict[str, str] = {
    **{path: field.option for field in DEVICE_FIELDS for path in field.paths},
    "spdc.rep_rate_hz": "--rep-rate-hz",
    "intensity": "--signal-intensity",
    "preset": "--preset",
    "protocol": "--protocol",
    "distance_km": "--distance-km",
    "pulses": "--pulses",
    "block_pulses": "--block-pulses",
    "eps_sec": "--eps-sec",
    "eps_cor": "--eps-cor",
    "cascade_variant": "--cascade-variant",
    "duration": "--duration",
    "step": "--step",
    "seed": "--seed",
    "model": "--model",
    "keep_record": "--save",
}


def option_for_field(field: str) -> str:
    """The CLI option behind a parameter field path (``source.decoy_intensities[1]`` included)."""
    base = field.split("[", 1)[0]
    option = FIELD_OPTIONS.get(base)
    if option is None:
        return field
    return option + field[len(base) :]


MAX_DISTANCE_KM = 1e5
"""Longest fibre an option accepts, km (the Earth's circumference is 4e4 km)."""
MAX_SWEEP_POINTS = 10_000
"""Most distances one sweep may have."""
MAX_COUNT = 2**62
"""Largest whole number (pulses, block sizes) an option accepts: slots are int64."""


def is_sweep(text: str) -> bool:
    """Whether ``--distance-km`` was given as ``START:STOP:STEP`` (JSON output is then always a list)."""
    return ":" in text


def parse_distances(text: str, option: str = "--distance-km") -> list[float]:
    """``"50"`` -> ``[50.0]``; ``"0:200:5"`` -> ``[0, 5, ..., 200]`` (the stop is included when on the grid).

    >>> parse_distances("0:10:5")
    [0.0, 5.0, 10.0]
    """
    parts = text.split(":")
    if len(parts) == 1:
        values = [parse_number(parts[0], option)]
    elif len(parts) == 3:
        start, stop, step = (parse_number(p, option) for p in parts)
        if step <= 0 or stop < start:
            raise ParameterError(option, f"a sweep START:STOP:STEP needs START <= STOP and STEP > 0, got {text!r}")
        span = (stop - start) / step
        if not span < MAX_SWEEP_POINTS:
            raise ParameterError(option, f"a sweep may have at most {MAX_SWEEP_POINTS:,} points, got {text!r}")
        # A stop that lies on the grid up to rounding (0:0.3:0.1) is included.
        count = math.floor(span * (1 + 1e-12)) + 1
        values = [start + step * i for i in range(count)]
    else:
        raise ParameterError(option, f"expected a distance or START:STOP:STEP, got {text!r}")
    for value in values:
        if value < 0:
            raise ParameterError(option, f"must be >= 0, got {value:g}")
        if value > MAX_DISTANCE_KM:
            raise ParameterError(option, f"must be <= {MAX_DISTANCE_KM:g} km (longer than any fibre), got {value:g}")
    return [value + 0.0 for value in values]  # + 0.0 turns -0.0 into 0.0


def parse_count(value: float, option: str) -> int:
    """A positive whole number given as a float (so that ``1e10`` works), at most 2**62."""
    if not math.isfinite(value) or value < 1 or value != math.floor(value) or value > MAX_COUNT:
        raise ParameterError(option, f"must be a whole number in [1, 2**62], got {value:g}")
    return int(value)


def parse_float_list(text: str, option: str) -> tuple[float, ...]:
    """``"0.1,0"`` -> ``(0.1, 0.0)``."""
    items = [t for t in (s.strip() for s in text.split(",")) if t]
    if not items:
        raise ParameterError(option, "expected a comma-separated list of numbers")
    return tuple(parse_number(t, option) for t in items)


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemOverrides:
    """Values given on the command line that replace a preset's (None: keep the preset's)."""

    loss_db_per_km: float | None = None
    insertion_loss_db: float | None = None
    detector_efficiency: float | None = None
    dark_count_prob: float | None = None
    after_pulse_prob: float | None = None
    dead_time_s: float | None = None
    misalignment_error: float | None = None
    ec_efficiency: float | None = None
    basis_prob: float | None = None
    signal_intensity: float | None = None
    decoy_intensities: str | None = None
    intensity_probs: str | None = None
    rep_rate_hz: float | None = None
    mean_pair_number: float | None = None
    pair_statistics: PairStatistics | None = None


NO_OVERRIDES = SystemOverrides()


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def resolve_system(preset_name: str, overrides: SystemOverrides) -> QkdSystem:
    """The preset's system with every given override applied (validated by the parameter objects)."""
    return apply_system_overrides(get_preset(preset_name).system, overrides)


def given_overrides(overrides: SystemOverrides) -> list[str]:
    """The names of the overrides given on the command line."""
    return [f.name for f in dataclasses.fields(overrides) if getattr(overrides, f.name) is not None]


def only_prepare_and_measure(overrides: SystemOverrides) -> list[str]:
    """The given overrides that only prepare-and-measure devices have (sources, basis choice, insertion loss)."""
    shared = {f.name for f in DEVICE_FIELDS if f.shared}
    return [name for name in given_overrides(overrides) if name not in shared]


def apply_shared_overrides(devices: DeviceSet, overrides: SystemOverrides) -> DeviceSet:
    """``devices`` (of any family) with the given overrides of the roles all families share applied
    (:class:`~qinternet.params.devicesets.SharedRoles`, whose checks name the field)."""
    shared = tuple(f for f in DEVICE_FIELDS if f.shared)
    changes = {SHARED_ROLE_PATHS.get(path, path): value for path, value in _changes(overrides, shared).items()}
    return with_shared_roles(devices, set_fields(shared_roles(devices), changes))


def _changes(overrides: SystemOverrides, fields: tuple[DeviceField, ...]) -> dict[str, Any]:
    """The given overrides among ``fields`` as dotted field paths and values (lists parsed)."""
    changes: dict[str, Any] = {}
    for field in fields:
        value = getattr(overrides, field.name)
        if value is None:
            continue
        if field.name in ("decoy_intensities", "intensity_probs"):
            value = parse_float_list(value, field.option)
        elif isinstance(value, enum.Enum):
            value = value.value
        changes |= dict.fromkeys(field.paths, value)
    return changes


def apply_system_overrides(system: QkdSystem, overrides: SystemOverrides) -> QkdSystem:
    """``system`` with every given override applied at its field paths (:data:`DEVICE_FIELDS`)."""
    return set_fields(system, _changes(overrides, DEVICE_FIELDS))  # type: ignore[no-any-return]


def _option(flag: str, help_text: str, kind: Any = float) -> Any:
    return Annotated[kind | None, typer.Option(flag, help=help_text)]


_KINDS: dict[str, Any] = {"decoy_intensities": str, "intensity_probs": str, "pair_statistics": PairStatistics}
"""Options that are not numbers: lists given as text, and choices."""

# The option of every SystemOverrides field, declared once for all commands (see with_overrides).
OVERRIDE_OPTIONS: dict[str, Any] = {
    field.name: _option(field.option, field.help, _KINDS.get(field.name, float)) for field in DEVICE_FIELDS
}

Command = TypeVar("Command", bound=Callable[..., None])


def with_overrides(command: Command) -> Command:
    """Give a Typer command one option per :class:`SystemOverrides` field.

    The command declares ``overrides: SystemOverrides`` and receives the given values there; the options
    themselves are added to its signature from :data:`OVERRIDE_OPTIONS`, so every command spells them
    the same way.
    """
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)  # resolve the command's string annotations
    kept = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "overrides"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, annotation in OVERRIDE_OPTIONS.items()
    ]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        values = {name: kwargs.pop(name) for name in OVERRIDE_OPTIONS}
        command(**kwargs, overrides=SystemOverrides(**values))

    wrapper.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
    return cast(Command, wrapper)
