"""From a validated scenario link to the frozen parameter objects of :mod:`qinternet.params`.

A link names a preset and may change single fields of it (``devices: {detector: {efficiency: 0.2}}``),
its fibre's attenuation and connector loss. The parameter objects check every value; their errors are
re-raised with the link's path in the file (``links[3].devices.detector.efficiency: must be in (0, 1]``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from qinternet.errors import ParameterError
from qinternet.network.schema import LinkSpec, ScenarioError
from qinternet.params import PRESETS, QkdSystem, get_preset
from qinternet.params.devices import PairStatistics

__all__ = ["link_system"]

_NESTED = {"fibre", "detector", "source", "spdc"}
_TUPLES = {"decoy_intensities", "intensity_probs"}


def _is_number(value: object) -> bool:
    """Whether ``value`` is a number (``true`` and ``false`` are not, though Python counts them as ints)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _replace(obj: Any, changes: Mapping[str, Any], path: str) -> Any:
    """``dataclasses.replace`` applied field by field, nested mappings going into nested objects."""
    if not isinstance(changes, Mapping):
        raise ParameterError(path, f"must be a mapping of field names to values, got {changes!r}")
    fields = {f.name for f in dataclasses.fields(obj)}
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in fields:
            raise ParameterError(f"{path}.{name}", f"is not a field; known: {', '.join(sorted(fields))}")
        if name in _NESTED:
            values[name] = _replace(getattr(obj, name), value, f"{path}.{name}")
        elif name in _TUPLES:
            if not isinstance(value, list | tuple) or not all(_is_number(v) for v in value):
                raise ParameterError(f"{path}.{name}", f"must be a list of numbers, got {value!r}")
            values[name] = tuple(float(v) for v in value)
        elif name == "statistics":
            try:
                values[name] = PairStatistics(value)
            except ValueError:
                known = ", ".join(s.value for s in PairStatistics)
                raise ParameterError(f"{path}.{name}", f"must be one of {known}, got {value!r}") from None
        else:
            if not _is_number(value):
                raise ParameterError(f"{path}.{name}", f"must be a number, got {value!r}")
            values[name] = float(value)
    return dataclasses.replace(obj, **values)


def link_system(spec: LinkSpec, path: str) -> QkdSystem:
    """The devices of the link at ``path`` (e.g. ``links[3]``): its preset with its changes applied.

    Raises:
        ScenarioError: naming ``path.preset`` or ``path.devices.<field>`` and the reason.
    """
    if spec.preset not in PRESETS:
        raise ScenarioError([(f"{path}.preset", f"unknown preset {spec.preset!r}; known: {', '.join(PRESETS)}")])
    try:
        system = get_preset(spec.preset).system
    except ParameterError as exc:  # a preset of another family (MDI, twin-field)
        raise ScenarioError([(f"{path}.preset", exc.reason)]) from None
    fibre_changes = {
        name: value
        for name, value in (("loss_db_per_km", spec.loss_db_per_km), ("insertion_loss_db", spec.connector_loss_db))
        if value is not None
    }
    try:
        system = _replace(system, {"fibre": fibre_changes}, path)
        return _replace(system, spec.devices, f"{path}.devices")  # type: ignore[no-any-return]
    except ParameterError as exc:
        field = exc.field if exc.field.startswith(path) else f"{path}.devices.{exc.field}"
        raise ScenarioError([(field, exc.reason)]) from None
