"""Heralded entanglement between two quantum memories (``kind: memory``): the entanglement network's links.

A memory link joins two nodes that hold memories (``quantum-node`` or ``repeater``), with a heralding station in
the middle of ``length_km`` of fibre (optionally a ``heralding-station`` node named by ``station``, drawn in the
report). Its physics is the repeater layer's elementary link (:func:`qinternet.network.repeater.compile_link`:
the preset's heralding scheme, emitters, conversion and detectors at the arms' transmittance, the attempt period
with the herald's round trip, the halves decohering during it). The link makes no key by itself: the entanglement
network layer (:mod:`qinternet.network.entanglement_net`) serves requests over these links, so its engine's key
process makes no block and its expected key rate is zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from qinternet.errors import ParameterError
from qinternet.network.links.base import BuildContext, LinkEngine, LinkRunner, keyless_runner
from qinternet.network.repeater import compile_link
from qinternet.network.schema_base import (
    MEMORY_NODES,
    Identifier,
    LinkKind,
    LinkSpecBase,
    NodeKind,
    ScenarioError,
    article,
)
from qinternet.params.repeater_presets import HardwarePreset, repeater_preset

if TYPE_CHECKING:
    from qinternet.network.schema import Scenario

__all__ = ["MemoryLinkEngine", "MemoryLinkSpec", "build_memory_links", "memory_link_preset", "preset_of"]


class MemoryLinkSpec(LinkSpecBase):
    """Heralded entanglement between two memory nodes (``kind: memory``).

    Attributes:
        a, b: the two nodes (``quantum-node`` or ``repeater``).
        length_km: fibre between them; the heralding station sits in the middle.
        station: the ``heralding-station`` node between them, or none (the report draws it when named).
        preset: the hardware of the heralding (``qinternet repeater --preset``'s names); default: the hardware
            of node ``a``.
    """

    NODE_FIELDS = ("a", "b", "station")

    kind: LinkKind = LinkKind.MEMORY
    length_km: Annotated[float, Field(ge=0.0, le=10000.0)]
    station: Identifier | None = None
    preset: str | None = None  # type: ignore[assignment]

    def check_ends(self, kinds: Mapping[str, NodeKind]) -> list[tuple[str, str]]:
        """Two memory nodes, and a heralding station if one is named."""
        problems = []
        for end in ("a", "b"):
            kind = kinds[getattr(self, end)]
            if kind not in MEMORY_NODES:
                problems.append(
                    (
                        end,
                        f"node {getattr(self, end)!r} is {article(kind.value)}; a memory link joins memory nodes",
                    )
                )
        if self.station is not None and kinds[self.station] is not NodeKind.HERALDING_STATION:
            problems.append(
                ("station", f"node {self.station!r} is {article(kinds[self.station].value)}, not a heralding-station")
            )
        return problems


def preset_of(name: str, path: str) -> HardwarePreset:
    """The repeater preset ``name``; a :class:`ScenarioError` naming ``path`` when there is none."""
    try:
        return repeater_preset(name)
    except ParameterError as exc:
        raise ScenarioError([(path, exc.reason)]) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryLinkEngine:
    """A memory link's engine: its compiled elementary link for the entanglement layer, and no key."""

    spec: MemoryLinkSpec
    preset: HardwarePreset

    @property
    def expected_rate_bps(self) -> float:
        """A memory link makes no key by itself."""
        return 0.0

    def runner(self) -> LinkRunner:
        """A process that makes no block."""
        return keyless_runner()


def memory_link_preset(spec: MemoryLinkSpec, path: str, scenario: Scenario) -> HardwarePreset:
    """The hardware of a memory link: its own ``preset``, else its node ``a``'s ``hardware``."""
    name = spec.preset or scenario.node(spec.a).hardware
    if name is None:
        raise ScenarioError([(f"{path}.preset", f"node {spec.a!r} names no hardware; give the link a preset")])
    return preset_of(name, f"{path}.preset" if spec.preset else f"nodes[{spec.a}].hardware")


def build_memory_links(specs: Mapping[int, LinkSpecBase], context: BuildContext) -> dict[int, LinkEngine]:
    """The engines of a scenario's memory links (each link's preset: its own, or its node ``a``'s hardware)."""
    engines: dict[int, LinkEngine] = {}
    for index, spec in specs.items():
        assert isinstance(spec, MemoryLinkSpec)
        path = f"links[{index}]"
        preset = memory_link_preset(spec, path, context.scenario)
        try:
            compile_link(preset, spec.length_km, field=f"{path}.length_km")
        except ParameterError as exc:
            raise ScenarioError([(exc.field, exc.reason)]) from None
        engines[index] = MemoryLinkEngine(spec=spec, preset=preset)
        context.on_progress(index, 1.0)
    return engines
