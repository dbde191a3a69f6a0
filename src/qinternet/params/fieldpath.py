"""One way to change devices field by field, by path: scenario files' ``devices:``, CLI options and sweeps.

A device set is a tree of frozen dataclasses (:class:`~qinternet.params.devices.QkdSystem`: ``fibre``,
``detector``, ``source``, ``spdc`` and its own fields). :func:`apply_changes` replaces fields given as a nested
mapping (``{"detector": {"efficiency": 0.2}}``, as a scenario file writes it) and :func:`set_fields` as dotted
paths (``{"detector.efficiency": 0.2}``, as a sweep names a parameter); the dataclasses check every value, and an
error names the field by its path. :data:`DEVICE_FIELDS` is the table of the fields the command line can
change: one entry per option, naming the path (or paths) it sets, so that the CLI's options, the names in its
errors and the scenario files' paths cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qinternet.errors import ParameterError

__all__ = ["DEVICE_FIELDS", "DeviceField", "apply_changes", "nested", "set_fields"]

_SHOWN_CHARS = 50
"""Longest value an error repeats."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[: _SHOWN_CHARS - 3]}..."


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value(current: Any, whole: bool, value: Any, path: str) -> Any:
    """``value`` for a field whose present value is ``current``, of the same kind (a tuple of numbers, an enum, a
    flag, or a number: a whole one when ``whole``, the field being declared ``int``)."""
    if isinstance(current, tuple):
        if not isinstance(value, list | tuple) or not all(_is_number(v) for v in value):
            raise ParameterError(path, f"must be a list of numbers, got {_shown(value)}")
        return tuple(float(v) for v in value)
    if isinstance(current, enum.Enum):
        kind = type(current)
        try:
            return kind(value)
        except ValueError:
            known = ", ".join(str(member.value) for member in kind)
            raise ParameterError(path, f"must be one of {known}, got {_shown(value)}") from None
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ParameterError(path, f"must be true or false, got {_shown(value)}")
        return value
    if not _is_number(value):
        raise ParameterError(path, f"must be a number, got {_shown(value)}")
    if whole:
        if float(value) != int(value):
            raise ParameterError(path, f"must be a whole number, got {_shown(value)}")
        return int(value)
    return float(value)


def _settable(obj: Any) -> set[str]:
    """The fields of ``obj`` a change may set: not its texts (a device set's name, citation and notes)."""
    return {f.name for f in dataclasses.fields(obj) if not isinstance(getattr(obj, f.name), str)}


def _named(obj: Any, path: str, exc: ParameterError) -> ParameterError:
    """``exc`` from building ``obj`` at ``path``, naming the field by the path the change was written at.

    The dataclasses name their fields by their usual role (``detector.efficiency``, ``bob.rep_rate_hz``): a name
    that starts with one of ``obj``'s fields is below ``path``; otherwise its last part is ``obj``'s own field
    (``fibre_loss_db_per_km`` for ``fibre.loss_db_per_km``)."""
    if not path:
        return exc
    fields = [f.name for f in dataclasses.fields(obj)]
    if exc.field.split(".")[0].split("[")[0] in fields:
        return ParameterError(f"{path}.{exc.field}", exc.reason)
    tail = exc.field.rsplit(".", 1)[-1]
    own = next((name for name in fields if name == tail or name.endswith("_" + tail)), tail)
    return ParameterError(f"{path}.{own}", exc.reason)


def apply_changes(obj: Any, changes: Mapping[str, Any], path: str = "") -> Any:
    """``obj`` with the fields in ``changes`` replaced; nested mappings go into nested dataclasses.

    Raises:
        ParameterError: naming the field by its path (``path.detector.efficiency``) for an unknown field, a value
            of the wrong type, or one the dataclass refuses.
    """
    if not isinstance(changes, Mapping):
        raise ParameterError(path or "devices", f"must be a mapping of field names to values, got {_shown(changes)}")
    fields = _settable(obj)
    declared = {f.name: f.type for f in dataclasses.fields(obj)}
    values: dict[str, Any] = {}
    for name, value in changes.items():
        where = f"{path}.{name}" if path else str(name)
        if name not in fields:
            raise ParameterError(where, f"is not a field; known: {', '.join(sorted(fields))}")
        current = getattr(obj, name)
        if current is None and isinstance(value, Mapping) and hasattr(obj, "default_role"):
            current = obj.default_role(name)  # an empty role (a prepare-and-measure set's pair source)
        if dataclasses.is_dataclass(current) and not isinstance(current, type):
            values[name] = apply_changes(current, value, where)
        else:
            values[name] = _value(current, declared[name] in ("int", int), value, where)
    try:
        return dataclasses.replace(obj, **values)
    except ParameterError as exc:
        raise _named(obj, path, exc) from None


def nested(dotted: Mapping[str, Any]) -> dict[str, Any]:
    """``{"detector.efficiency": 0.2}`` -> ``{"detector": {"efficiency": 0.2}}``."""
    tree: dict[str, Any] = {}
    for path, value in dotted.items():
        *parents, leaf = path.split(".")
        branch = tree
        for part in parents:
            branch = branch.setdefault(part, {})
        branch[leaf] = value
    return tree


def set_fields(obj: Any, dotted: Mapping[str, Any]) -> Any:
    """``obj`` with the fields named by dotted paths replaced (see :func:`apply_changes`)."""
    return apply_changes(obj, nested(dotted))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceField:
    """A device field the command line can change.

    Attributes:
        name: its option's name: ``--`` and the name with ``-`` for ``_`` (``detector_efficiency``).
        paths: the field paths it sets in a prepare-and-measure device set (one option may set several).
        help: the option's help.
        shared: whether every family of devices has it (:class:`~qinternet.params.devicesets.SharedRoles`).
    """

    name: str
    paths: tuple[str, ...]
    help: str
    shared: bool = False

    @property
    def option(self) -> str:
        """The command-line option, e.g. ``--detector-efficiency``."""
        return "--" + self.name.replace("_", "-")


DEVICE_FIELDS: tuple[DeviceField, ...] = (
    DeviceField(name="loss_db_per_km", paths=("fibre.loss_db_per_km",), help="Fibre attenuation, dB/km.", shared=True),
    DeviceField(name="insertion_loss_db", paths=("fibre.insertion_loss_db",), help="Fixed insertion loss, dB."),
    DeviceField(
        name="detector_efficiency",
        paths=("detector.efficiency",),
        help="Bob's detection efficiency incl. optics, (0, 1].",
        shared=True,
    ),
    DeviceField(
        name="dark_count_prob",
        paths=("detector.dark_count_prob",),
        help="Dark-count probability per gate of each detector.",
        shared=True,
    ),
    DeviceField(
        name="after_pulse_prob",
        paths=("detector.after_pulse_prob",),
        help="Probability that a click brings an after-pulse.",
        shared=True,
    ),
    DeviceField(
        name="dead_time_s",
        paths=("detector.dead_time_s",),
        help="Detector dead time, s (non-paralysable).",
        shared=True,
    ),
    DeviceField(
        name="misalignment_error",
        paths=("misalignment_error",),
        help="Probability e_d that a photon hits the wrong detector.",
        shared=True,
    ),
    DeviceField(
        name="ec_efficiency", paths=("ec_efficiency",), help="Error-correction inefficiency f >= 1.", shared=True
    ),
    DeviceField(name="basis_prob", paths=("basis_prob",), help="Probability of choosing the Z basis."),
    DeviceField(
        name="signal_intensity",
        paths=("source.signal_intensity",),
        help="Signal mean photon number (keyrate: fixes it, no optimum).",
    ),
    DeviceField(
        name="decoy_intensities", paths=("source.decoy_intensities",), help="Decoy mean photon numbers, e.g. 0.05,0."
    ),
    DeviceField(
        name="intensity_probs",
        paths=("source.intensity_probs",),
        help="Probability of each class, signal first, e.g. 0.8,0.1,0.1.",
    ),
    DeviceField(
        name="rep_rate_hz", paths=("source.rep_rate_hz", "spdc.rep_rate_hz"), help="Pulse repetition rate, Hz."
    ),
    DeviceField(
        name="mean_pair_number",
        paths=("spdc.mean_pair_number",),
        help="BBM92: mean pairs per pulse (fixes it, no optimum).",
    ),
    DeviceField(name="pair_statistics", paths=("spdc.statistics",), help="BBM92: SPDC pair-number statistics."),
)
"""The device fields the command line can change, in the order ``--help`` lists them."""
