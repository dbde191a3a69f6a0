"""Every kind of link qinternet knows: its section model in scenario files and the builder of its engines.

Adding a kind of link is: its protocol in :mod:`qinternet.qkd` (or :mod:`qinternet.entanglement`), a module
here with its spec (a :class:`~qinternet.network.schema_base.LinkSpecBase`) and its builder, and one entry in
:data:`LINK_KINDS` (docs/architecture.md walks through it). The scenario's ``links[]`` is the discriminated
union of the specs listed here, on ``kind``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qinternet.network.links.base import BuildContext, LinkBuilder
from qinternet.network.links.dual_downlink import DualDownlinkLinkSpec, build_dual_downlinks
from qinternet.network.links.entanglement import EntanglementLinkSpec, build_entanglement_links
from qinternet.network.links.entanglement_qkd import EntanglementQkdLinkSpec, build_entanglement_qkd_links
from qinternet.network.links.fibre import FibreLinkSpec, build_fibre_links
from qinternet.network.links.free_space import FreeSpaceLinkSpec, build_free_space_links, progress_weight
from qinternet.network.links.mdi import MdiLinkSpec, build_mdi_links
from qinternet.network.links.memory import MemoryLinkSpec, build_memory_links
from qinternet.network.links.photonic_teleportation import PhotonicTeleportationLinkSpec, build_teleportation_links
from qinternet.network.links.twin_field import TwinFieldLinkSpec, build_twin_field_links
from qinternet.network.schema_base import LinkKind, LinkSpecBase

__all__ = ["LINK_KINDS", "LinkKindEntry", "kind_entry"]


def _one_link(context: BuildContext) -> float:
    return 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkKindEntry:
    """One kind of link.

    Attributes:
        kind: its ``kind:`` in scenario files.
        spec: its section model.
        build: builds the engines of all the links of the kind in a scenario.
        weight: its share of the building work per link, in fibre links' worth (progress bars).
    """

    kind: LinkKind
    spec: type[LinkSpecBase]
    build: LinkBuilder
    weight: Callable[[BuildContext], float] = _one_link


LINK_KINDS: tuple[LinkKindEntry, ...] = (
    LinkKindEntry(kind=LinkKind.FIBRE, spec=FibreLinkSpec, build=build_fibre_links),
    LinkKindEntry(
        kind=LinkKind.FREE_SPACE, spec=FreeSpaceLinkSpec, build=build_free_space_links, weight=progress_weight
    ),
    LinkKindEntry(kind=LinkKind.ENTANGLEMENT, spec=EntanglementLinkSpec, build=build_entanglement_links),
    LinkKindEntry(kind=LinkKind.MDI, spec=MdiLinkSpec, build=build_mdi_links),
    LinkKindEntry(kind=LinkKind.TWIN_FIELD, spec=TwinFieldLinkSpec, build=build_twin_field_links),
    LinkKindEntry(kind=LinkKind.MEMORY, spec=MemoryLinkSpec, build=build_memory_links),
    LinkKindEntry(
        kind=LinkKind.DUAL_DOWNLINK, spec=DualDownlinkLinkSpec, build=build_dual_downlinks, weight=progress_weight
    ),
    LinkKindEntry(kind=LinkKind.ENTANGLEMENT_QKD, spec=EntanglementQkdLinkSpec, build=build_entanglement_qkd_links),
    LinkKindEntry(
        kind=LinkKind.PHOTONIC_TELEPORTATION, spec=PhotonicTeleportationLinkSpec, build=build_teleportation_links
    ),
)
"""The kinds, in the order the scenario schema lists them."""


def kind_entry(kind: LinkKind) -> LinkKindEntry:
    """The entry of ``kind``."""
    return next(entry for entry in LINK_KINDS if entry.kind is kind)
