"""From a validated scenario link to the frozen parameter objects of :mod:`qinternet.params`.

A link names a preset and may change single fields of it (``devices: {detector: {efficiency: 0.2}}``),
its fibre's attenuation and connector loss. The parameter objects check every value; their errors are
re-raised with the link's path in the file (``links[3].devices.detector.efficiency: must be in (0, 1]``).
"""

from __future__ import annotations

from qinternet.errors import ParameterError
from qinternet.network.schema_base import LinkSpecBase, ScenarioError
from qinternet.params import PRESETS, QkdSystem, get_preset
from qinternet.params.fieldpath import apply_changes

__all__ = ["link_system"]


def link_system(spec: LinkSpecBase, path: str) -> QkdSystem:
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
        for name, value in (
            ("loss_db_per_km", getattr(spec, "loss_db_per_km", None)),
            ("insertion_loss_db", getattr(spec, "connector_loss_db", None)),
        )
        if value is not None
    }
    try:
        system = apply_changes(system, {"fibre": fibre_changes}, path)
        return apply_changes(system, spec.devices, f"{path}.devices")  # type: ignore[no-any-return]
    except ParameterError as exc:
        field = exc.field if exc.field.startswith(path) else f"{path}.devices.{exc.field}"
        raise ScenarioError([(field, exc.reason)]) from None
