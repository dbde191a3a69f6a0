"""Scenario files: the YAML a user writes, validated by pydantic into a :class:`Scenario`.

A scenario names its nodes (with coordinates), the links between them (each with a protocol and the
devices of a preset, optionally changed field by field), the users' demands, and the time to simulate.
Every error names the field by its path in the file (``links[3].length_km: must be > 0``) and the reason;
cross-references (a link to an unknown node, duplicate IDs, a free-space link without a satellite and a
ground station, a demand between users no path joins) are checked after the fields themselves.

The models here are the edge of the package (STYLE.md: "pydantic is for the edges"); the simulation
turns them into the frozen parameter objects of :mod:`qinternet.params` (:mod:`.build`), whose own
checks are reported with the same paths.
"""

from __future__ import annotations

import enum
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union

import networkx as nx
from pydantic import Discriminator, Field, Tag, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from qinternet.messages import validation_reason
from qinternet.network.attacks import AttackKind, AttackSpec
from qinternet.network.links.entanglement import EntanglementLinkSpec
from qinternet.network.links.fibre import ClassicalChannelSpec, FibreLinkSpec
from qinternet.network.links.free_space import FreeSpaceLinkSpec, FreeSpaceSpec
from qinternet.network.links.mdi import MdiLinkSpec
from qinternet.network.links.registry import LINK_KINDS
from qinternet.network.links.twin_field import TwinFieldLinkSpec
from qinternet.network.scenario_yaml import ScenarioYamlError, parse_yaml
from qinternet.network.schema_base import (
    MAX_FILE_BYTES,
    MAX_TEXT_CHARS,
    MEMORY_NODES,
    Identifier,
    LinkKind,
    LinkModel,
    LinkSpecBase,
    Model,
    NodeKind,
    ScenarioError,
    Seconds,
    article,
    parse_duration_s,
)
from qinternet.network.slot_schedule import Scheduler

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TEXT_CHARS",
    "AppKind",
    "ApplicationSpec",
    "AttackKind",
    "AttackSpec",
    "ClassicalChannelSpec",
    "DemandSpec",
    "EntanglementLinkSpec",
    "EntanglementSpec",
    "FibreLinkSpec",
    "FreeSpaceLinkSpec",
    "FreeSpaceSpec",
    "LinkKind",
    "LinkModel",
    "LinkSpec",
    "LinkSpecBase",
    "MdiLinkSpec",
    "NodeKind",
    "NodeSpec",
    "OrbitSpec",
    "RequestSpec",
    "RequestUse",
    "Scenario",
    "ScenarioError",
    "TimeSpec",
    "TwinFieldLinkSpec",
    "in_utc",
    "load_model",
    "load_scenario",
    "parse_duration_s",
    "read_scenario_file",
    "scenario_error_of",
    "scenario_json_schema",
]


_File = TypeVar("_File", bound=Model)
"""The model of a file read by :func:`load_model`."""


class OrbitSpec(Model):
    """A satellite's orbit: a TLE, or circular elements at an epoch.

    Attributes:
        tle: the two lines of a NORAD two-line element set.
        altitude_km: circular orbit altitude above the mean equatorial radius.
        inclination_deg: inclination; omitted with ``altitude_km`` means sun-synchronous.
        raan_deg: right ascension of the ascending node at ``epoch``.
        ascending_node_local_time_h: alternatively, the local mean solar time of the ascending node (a
            sun-synchronous orbit keeps it), from which the RAAN at ``epoch`` follows.
        mean_anomaly_deg: position along the orbit at ``epoch``.
        epoch: UTC time the elements hold (default: the scenario's start).
    """

    tle: tuple[str, str] | None = None
    altitude_km: Annotated[float, Field(gt=150.0, lt=40000.0)] | None = None
    inclination_deg: Annotated[float, Field(ge=0.0, le=180.0)] | None = None
    raan_deg: Annotated[float, Field(ge=0.0, lt=360.0)] = 0.0
    ascending_node_local_time_h: Annotated[float, Field(ge=0.0, lt=24.0)] | None = None
    mean_anomaly_deg: Annotated[float, Field(ge=0.0, lt=360.0)] = 0.0
    epoch: datetime | None = None

    @model_validator(mode="after")
    def _one_description(self) -> OrbitSpec:
        if (self.tle is None) == (self.altitude_km is None):
            raise PydanticCustomError("orbit", "give either tle or altitude_km (circular elements), not both")
        return self


class NodeSpec(Model):
    """A node of the network.

    Attributes:
        id: unique name.
        kind: user, trusted-relay, satellite, ground-station, entanglement-source or untrusted-relay (the
            measurement station of one MDI or twin-field link: it joins two users and never holds key).
        name: a human-readable label (default: the id).
        lat_deg, lon_deg: position (required except for satellites).
        altitude_m: height above the ellipsoid (ground stations).
        orbit: the orbit (satellites only).
        hardware: the memories, emitters and gates of a quantum-node or repeater: a repeater preset
            (``qinternet repeater --preset``'s names, e.g. ``delft-nv``, ``oxford-ion-2025``).
        qubits: memory qubits of a quantum-node or repeater (default: the preset's).
        communication_qubits: qubits of a quantum-node or repeater that attempt links at once (default: the
            preset's, at most ``qubits``): a repeater with two or more attempts both links of a path at once, one
            makes them in turn; requests through a node share them, one per link each attempts.
        trusted: whether key may be relayed through the node (it then sees the key). Default: yes for
            trusted relays, satellites and ground stations, no for users and entanglement sources; a city
            node of a backbone that is both a user and a relay sets ``trusted: true``.
    """

    id: Identifier
    kind: NodeKind
    name: str | None = None
    lat_deg: Annotated[float, Field(ge=-90.0, le=90.0)] | None = None
    lon_deg: Annotated[float, Field(ge=-180.0, le=180.0)] | None = None
    altitude_m: Annotated[float, Field(ge=-500.0, le=9000.0)] = 0.0
    orbit: OrbitSpec | None = None
    hardware: str | None = None
    qubits: Annotated[int, Field(ge=1, le=10_000)] | None = None
    communication_qubits: Annotated[int, Field(ge=1, le=10_000)] | None = None
    trusted: bool | None = None

    @property
    def relays_key(self) -> bool:
        """Whether key may pass through this node on its way between two others."""
        if self.trusted is not None:
            return self.trusted
        return self.kind in (NodeKind.TRUSTED_RELAY, NodeKind.SATELLITE, NodeKind.GROUND_STATION)

    @model_validator(mode="after")
    def _position(self) -> NodeSpec:
        if self.kind is NodeKind.SATELLITE:
            if self.orbit is None:
                raise PydanticCustomError("node", "a satellite needs an orbit")
        else:
            if self.orbit is not None:
                raise PydanticCustomError("node", "only a satellite has an orbit")
            if self.lat_deg is None or self.lon_deg is None:
                raise PydanticCustomError("node", "needs lat_deg and lon_deg")
        if self.kind in MEMORY_NODES:
            if self.hardware is None:
                raise PydanticCustomError(
                    "node",
                    "{kind} needs hardware (a repeater preset, e.g. delft-nv)",
                    {"kind": article(self.kind.value)},
                )
        elif self.hardware is not None or self.qubits is not None or self.communication_qubits is not None:
            raise PydanticCustomError(
                "node",
                "only a quantum-node or a repeater has hardware and qubits, not {kind}",
                {"kind": article(self.kind.value)},
            )
        if self.kind is NodeKind.REPEATER and self.trusted:
            raise PydanticCustomError("node", "a repeater swaps entanglement and never holds key: drop trusted")
        if self.kind is NodeKind.UNTRUSTED_RELAY and self.trusted:
            raise PydanticCustomError(
                "node", "an untrusted-relay never holds key, so it cannot be trusted: drop trusted or change the kind"
            )
        return self

    @property
    def label(self) -> str:
        """The name to show."""
        return self.name or self.id


def _link_kind(value: object) -> str | None:
    """The ``kind`` of a link entry (``fibre`` when it names none), for the union of the kinds' models."""
    if isinstance(value, LinkSpecBase):
        return value.kind.value
    if not isinstance(value, dict):
        return LinkKind.FIBRE.value  # the fibre model then says what is wrong with the entry
    kind = value.get("kind", LinkKind.FIBRE.value)
    return kind if isinstance(kind, str) else None


if TYPE_CHECKING:
    from qinternet.params.repeater_presets import HardwarePreset

    LinkSpec = LinkSpecBase
else:
    LinkSpec = Annotated[
        Union[tuple(Annotated[entry.spec, Tag(entry.kind.value)] for entry in LINK_KINDS)],  # noqa: UP007
        Discriminator(
            _link_kind,
            custom_error_type="link_kind",
            custom_error_message="must be one of " + ", ".join(entry.kind.value for entry in LINK_KINDS),
        ),
    ]
"""A link of any kind: the discriminated union (on ``kind``) of the models of
:data:`qinternet.network.links.registry.LINK_KINDS`."""


class DemandSpec(Model):
    """Users who want key between them.

    Attributes:
        id: unique name.
        a, b: the two users.
        rate_bps: key wanted per second, all the time; or
        volume_bits: key wanted in total, as soon as possible.
        priority: larger is served first; equal priorities share fairly.
    """

    id: Identifier
    a: Identifier
    b: Identifier
    rate_bps: Annotated[float, Field(gt=0.0, le=1e12)] | None = None
    volume_bits: Annotated[float, Field(gt=0.0, le=1e18)] | None = None
    priority: Annotated[int, Field(ge=0, le=1000)] = 1

    @model_validator(mode="after")
    def _what(self) -> DemandSpec:
        if (self.rate_bps is None) == (self.volume_bits is None):
            raise PydanticCustomError("demand", "give either rate_bps or volume_bits")
        if self.a == self.b:
            raise PydanticCustomError("demand", "joins user {node} to itself", {"node": self.a})
        return self


class RequestUse(enum.Enum):
    """What a request's pairs are for."""

    KEEP = "keep"
    """Kept in memory for an application (create-and-keep)."""
    MEASURE = "measure"
    """Measured as soon as they exist (measure-directly: Bell tests, entanglement-based QKD)."""


class RequestSpec(Model):
    """Entangled pairs wanted between two quantum nodes (the entanglement network layer serves it).

    Attributes:
        id: unique name.
        a, b: the two quantum-nodes.
        pairs: pairs wanted in total, as soon as possible; or
        pairs_per_s: pairs wanted per second, all the run.
        min_fidelity: the least mean fidelity that serves (purification is added to reach it).
        deadline_s: time from the start by which the pairs count (default: the run's end).
        use: ``keep`` (stored for an application) or ``measure`` (measured at once).
        cutoff_s: memory cut-off on the path's nodes (default: none).
        priority: larger is reserved first.
    """

    id: Identifier
    a: Identifier
    b: Identifier
    pairs: Annotated[int, Field(ge=1, le=10**12)] | None = None
    pairs_per_s: Annotated[float, Field(gt=0.0, le=1e9)] | None = None
    min_fidelity: Annotated[float, Field(ge=0.25, le=1.0)] = 0.5
    deadline_s: Annotated[Seconds, Field(gt=0.0, le=86400.0 * 366)] | None = None
    use: RequestUse = RequestUse.KEEP
    cutoff_s: Annotated[Seconds, Field(gt=0.0, le=86400.0)] | None = None
    priority: Annotated[int, Field(ge=0, le=1000)] = 1

    @model_validator(mode="after")
    def _what(self) -> RequestSpec:
        if (self.pairs is None) == (self.pairs_per_s is None):
            raise PydanticCustomError("request", "give either pairs or pairs_per_s")
        if self.a == self.b:
            raise PydanticCustomError("request", "joins node {node} to itself", {"node": self.a})
        return self


class EntanglementSpec(Model):
    """How the entanglement network layer shares a node's time among the requests through it.

    Attributes:
        scheduler: ``time-share`` (each request gets its max-min share of a node's time, continuously) or
            ``slots`` (whole slots of a periodic network schedule, Pompili et al., npj Quantum Inf. 8, 121
            (2022): a request attempts only in its own slots; :mod:`qinternet.network.slot_schedule`).
        slot_s: the slots' length, with ``scheduler: slots``.
    """

    scheduler: Scheduler = Scheduler.TIME_SHARE
    slot_s: Annotated[Seconds, Field(gt=0.0, le=86400.0 * 366)] | None = None

    @model_validator(mode="after")
    def _slots(self) -> EntanglementSpec:
        if self.scheduler is Scheduler.SLOTS and self.slot_s is None:
            raise PydanticCustomError("entanglement", "scheduler slots needs slot_s, the slots' length")
        if self.scheduler is Scheduler.TIME_SHARE and self.slot_s is not None:
            raise PydanticCustomError("entanglement", "slot_s is only for scheduler: slots")
        return self


class AppKind(enum.Enum):
    """The applications a scenario can run on its entanglement (:mod:`qinternet.apps`)."""

    TELEPORTATION = "teleportation"
    CHSH = "chsh"
    QKD = "qkd"
    GATE_TELEPORTATION = "gate-teleportation"
    DISTRIBUTED_GROVER = "distributed-grover"
    BLIND = "blind"
    CLOCK_SYNC = "clock-sync"
    QPACKET = "qpacket"


class ApplicationSpec(Model):
    """An application run on the pairs of a request (or, for a Bell test, of an entanglement link).

    Attributes:
        app: which application.
        request: the request whose pairs it uses.
        link: for ``chsh``, an ``entanglement`` or ``dual-downlink`` link (photon pairs from a source, e.g. a
            satellite); for ``qpacket``, a ``fibre`` link (the packets' path); for ``teleportation``, a
            ``photonic-teleportation`` link (photonic qubits teleported without memories).
        shots: runs of the application (Monte-Carlo statistics and the confidence interval).
        options: the application's own settings (e.g. ``{nodes: 4}`` for clock-sync).
    """

    app: AppKind
    request: Identifier | None = None
    link: Identifier | None = None
    shots: Annotated[int, Field(ge=1, le=10_000_000)] = 2000
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _source(self) -> ApplicationSpec:
        if (self.request is None) == (self.link is None):
            raise PydanticCustomError("application", "give either request or link")
        if self.link is not None and self.app not in (AppKind.CHSH, AppKind.QPACKET, AppKind.TELEPORTATION):
            raise PydanticCustomError(
                "application",
                "{app} runs on a request's pairs; only chsh, qpacket and teleportation take a link",
                {"app": self.app.value},
            )
        return self


def in_utc(value: datetime) -> datetime:
    """A time in UTC (a naive one taken as UTC), for a validator of a time field."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("time", "is outside the years 1 to 9999 in UTC") from None


class TimeSpec(Model):
    """When and how long to simulate.

    Attributes:
        start: UTC start (satellite passes depend on it).
        duration_s: simulated time, e.g. ``24h``.
        step_s: sampling step of the time series and of the demands' requests.
    """

    start: datetime = datetime(2021, 1, 1, tzinfo=UTC)
    duration_s: Annotated[Seconds, Field(gt=0.0, le=86400.0 * 366)] = 86400.0
    step_s: Annotated[Seconds, Field(gt=0.0, le=86400.0)] = 60.0

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return in_utc(value)

    @model_validator(mode="after")
    def _step_fits(self) -> TimeSpec:
        if self.step_s > self.duration_s:
            raise PydanticCustomError(
                "time",
                "step_s ({step}) is longer than duration_s ({duration})",
                {"step": self.step_s, "duration": self.duration_s},
            )
        return self


class PublishedFigure(Model):
    """A published number the scenario should come close to (shown in reports, checked by tests)."""

    quantity: str
    value: float
    unit: str = ""
    source: str
    note: str = ""


class Scenario(Model):
    """A whole scenario file.

    ``link_defaults`` holds link fields that every link takes unless it sets its own.
    """

    name: Identifier
    description: str = ""
    sources: tuple[str, ...] = ()
    published: tuple[PublishedFigure, ...] = ()
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 1
    time: TimeSpec = TimeSpec()
    link_defaults: dict[str, Any] = Field(default_factory=dict)
    nodes: Annotated[tuple[NodeSpec, ...], Field(min_length=2)]
    links: Annotated[tuple[LinkSpec, ...], Field(min_length=1)]
    demands: tuple[DemandSpec, ...] = ()
    requests: tuple[RequestSpec, ...] = ()
    entanglement: EntanglementSpec = EntanglementSpec()
    applications: tuple[ApplicationSpec, ...] = ()
    attacks: tuple[AttackSpec, ...] = ()

    def node(self, node_id: str) -> NodeSpec:
        """The node called ``node_id``."""
        nodes, by_id = self._nodes_by_id
        if nodes is not self.nodes:  # a copy with other nodes (``model_copy(update=...)``) copied the index too
            del self._nodes_by_id
            nodes, by_id = self._nodes_by_id
        return by_id[node_id]

    @cached_property
    def _nodes_by_id(self) -> tuple[tuple[NodeSpec, ...], dict[str, NodeSpec]]:
        # The first node of an id, as a search along ``nodes`` finds it (a valid scenario has no duplicates).
        by_id: dict[str, NodeSpec] = {}
        for node in self.nodes:
            by_id.setdefault(node.id, node)
        return self.nodes, by_id

    def key_graph(self) -> nx.MultiGraph[str]:
        """Nodes joined by an edge per link that produces key between them (entanglement: its users)."""
        graph: nx.MultiGraph[str] = nx.MultiGraph()
        graph.add_nodes_from(n.id for n in self.nodes)
        for link in self.links:
            graph.add_edge(link.a, link.b, key=link.id)
        return graph


# ---------------------------------------------------------------------------------------------------
# Cross-references


def _cross_check(scenario: Scenario) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    sections: tuple[tuple[str, list[str]], ...] = (
        ("nodes", [n.id for n in scenario.nodes]),
        ("links", [link.id for link in scenario.links]),
        ("demands", [d.id for d in scenario.demands]),
        ("requests", [r.id for r in scenario.requests]),
    )
    for section, ids in sections:
        seen: dict[str, int] = {}
        for i, item_id in enumerate(ids):
            if item_id in seen:
                errors.append((f"{section}[{i}].id", f"duplicate id {item_id!r} (also {section}[{seen[item_id]}])"))
            seen.setdefault(item_id, i)
    kinds = {n.id: n.kind for n in scenario.nodes}
    for i, link in enumerate(scenario.links):
        unknown = [
            end for end in link.NODE_FIELDS if getattr(link, end) not in kinds and getattr(link, end) is not None
        ]
        errors.extend((f"links[{i}].{end}", f"unknown node {getattr(link, end)!r}") for end in unknown)
        if not unknown:
            errors.extend(
                (f"links[{i}].{field}" if field else f"links[{i}]", reason) for field, reason in link.check_ends(kinds)
            )
    errors.extend(_untrusted_relay_errors(scenario))
    graph = scenario.key_graph()
    components = _relay_components(scenario, graph)
    for i, demand in enumerate(scenario.demands):
        for end in ("a", "b"):
            node = getattr(demand, end)
            if node not in kinds:
                errors.append((f"demands[{i}].{end}", f"unknown node {node!r}"))
            elif kinds[node] not in _DEMAND_ENDS:
                errors.append(
                    (
                        f"demands[{i}].{end}",
                        f"node {node!r} is {article(kinds[node].value)}; a demand ends at {_DEMAND_END_NAMES}",
                    )
                )
        if demand.a in kinds and demand.b in kinds and not _relayable(graph, components, demand.a, demand.b):
            errors.append(
                (f"demands[{i}]", f"no chain of links through trusted nodes joins {demand.a!r} and {demand.b!r}")
            )
    errors.extend(_quantum_errors(scenario))
    errors.extend(_attack_errors(scenario))
    return errors


def _attack_errors(scenario: Scenario) -> list[tuple[str, str]]:
    """Attacks name a fibre link, and two attacks on one link do not overlap in time."""
    errors: list[tuple[str, str]] = []
    kinds = {link.id: link.kind for link in scenario.links}
    for i, attack in enumerate(scenario.attacks):
        kind = kinds.get(attack.link)
        if kind is None:
            errors.append((f"attacks[{i}].link", f"unknown link {attack.link!r}"))
        elif kind is not LinkKind.FIBRE:
            errors.append(
                (f"attacks[{i}].link", f"{attack.link!r} is {article(kind.value)} link; attacks act on fibre links")
            )
        for j, other in enumerate(scenario.attacks[:i]):
            if other.link == attack.link and other.scheduled().overlap_s(attack.from_s, attack.scheduled().until_s):
                errors.append((f"attacks[{i}].from_s", f"overlaps attacks[{j}] on the same link"))
                break
    return errors


APP_QUBITS: dict[AppKind, tuple[int, int]] = {
    AppKind.TELEPORTATION: (2, 1),
    AppKind.CHSH: (1, 1),
    AppKind.QKD: (1, 1),
    AppKind.GATE_TELEPORTATION: (2, 2),
    AppKind.DISTRIBUTED_GROVER: (2, 2),
    AppKind.BLIND: (1, 4),
    AppKind.CLOCK_SYNC: (1, 1),
    AppKind.QPACKET: (1, 1),
}
"""Qubits an application holds at once at node ``a`` and at node ``b`` of its request (data and communication
qubits: a teleportation holds the state and its half of the pair at the sender; a blind computation's server, node
``b``, holds two columns of its two-row brickwork)."""


def _communication_errors(i: int, node: NodeSpec, preset: HardwarePreset) -> list[tuple[str, str]]:
    """A node's communication qubits: no more than its qubits, and one only where attempts dephase its memories."""
    assert node.communication_qubits is not None
    field = f"nodes[{i}].communication_qubits"
    qubits = node.qubits or preset.node.memory_qubits
    if node.communication_qubits > qubits:
        return [(field, f"must be at most the node's qubits, {qubits}, got {node.communication_qubits}")]
    if node.communication_qubits > 1 and preset.node.memory.attempt_phase_spread_rad > 0.0:
        return [
            (
                field,
                f"{preset.name}'s memories are dephased by their node's attempts, which is modelled for nodes with "
                "one communication qubit only",
            )
        ]
    return []


def _quantum_errors(scenario: Scenario) -> list[tuple[str, str]]:
    """Hardware that exists, repeaters that can swap, requests a memory path serves, apps their nodes can run."""
    from qinternet.network.links.memory import MemoryLinkSpec
    from qinternet.params.repeater_presets import REPEATER_PRESETS

    errors: list[tuple[str, str]] = []
    by_id = {n.id: n for n in scenario.nodes}
    for i, node in enumerate(scenario.nodes):
        if node.hardware is not None and node.hardware not in REPEATER_PRESETS:
            errors.append(
                (f"nodes[{i}].hardware", f"unknown preset {node.hardware!r}; one of {', '.join(REPEATER_PRESETS)}")
            )
        elif node.kind is NodeKind.REPEATER and node.hardware is not None:
            have = node.qubits or REPEATER_PRESETS[node.hardware].node.memory_qubits
            if have < 2:
                given = "" if node.qubits is not None else f" (the {node.hardware} preset's; set qubits)"
                errors.append((f"nodes[{i}].qubits", f"a repeater holds two halves to swap them; got {have}{given}"))
        if node.communication_qubits is not None and node.hardware in REPEATER_PRESETS:
            errors.extend(_communication_errors(i, node, REPEATER_PRESETS[node.hardware]))
    graph: nx.Graph[str] = nx.Graph()
    for link in scenario.links:
        if isinstance(link, MemoryLinkSpec):
            graph.add_edge(link.a, link.b)
            if link.preset is not None and link.preset not in REPEATER_PRESETS:
                errors.append(
                    (f"links[{scenario.links.index(link)}].preset", f"unknown repeater preset {link.preset!r}")
                )
    requests = {r.id: r for r in scenario.requests}
    for j, key_link in enumerate(scenario.links):
        if key_link.kind is LinkKind.ENTANGLEMENT_QKD:
            wanted = requests.get(getattr(key_link, "request", ""))
            if wanted is None:
                errors.append((f"links[{j}].request", f"unknown request {getattr(key_link, 'request', '')!r}"))
            elif wanted.use is not RequestUse.MEASURE:
                errors.append((f"links[{j}].request", f"request {wanted.id!r} keeps its pairs: give it use: measure"))
            elif {wanted.a, wanted.b} != {key_link.a, key_link.b}:
                why = f"request {wanted.id!r} joins {wanted.a!r} and {wanted.b!r}, not the link's ends"
                errors.append((f"links[{j}].request", why))
    for i, request in enumerate(scenario.requests):
        for end in ("a", "b"):
            node_id = getattr(request, end)
            end_node = by_id.get(node_id)
            if end_node is None:
                errors.append((f"requests[{i}].{end}", f"unknown node {node_id!r}"))
            elif end_node.kind is not NodeKind.QUANTUM_NODE:
                errors.append(
                    (
                        f"requests[{i}].{end}",
                        f"node {node_id!r} is {article(end_node.kind.value)}; a request joins quantum-nodes",
                    )
                )
        if request.a in graph and request.b in graph and nx.has_path(graph, request.a, request.b):
            continue
        if request.a in by_id and request.b in by_id:
            errors.append((f"requests[{i}]", f"no quantum path (memory links) joins {request.a!r} and {request.b!r}"))
    links = {link.id: link for link in scenario.links}
    for i, app in enumerate(scenario.applications):
        if app.link is not None:
            source = links.get(app.link)
            if source is None:
                errors.append((f"applications[{i}].link", f"unknown link {app.link!r}"))
            elif app.app is AppKind.QPACKET and source.kind is not LinkKind.FIBRE:
                errors.append((f"applications[{i}].link", f"link {app.link!r} is not a fibre link (the packets' path)"))
            elif app.app is AppKind.TELEPORTATION and source.kind is not LinkKind.PHOTONIC_TELEPORTATION:
                errors.append(
                    (
                        f"applications[{i}].link",
                        f"link {app.link!r} is {article(source.kind.value)} link, not a photonic-teleportation link",
                    )
                )
            elif app.app is AppKind.CHSH and source.kind not in (LinkKind.ENTANGLEMENT, LinkKind.DUAL_DOWNLINK):
                errors.append(
                    (
                        f"applications[{i}].link",
                        f"link {app.link!r} is {article(source.kind.value)} link, not a link of photon pairs",
                    )
                )
            continue
        assert app.request is not None
        req = requests.get(app.request)
        if req is None:
            errors.append((f"applications[{i}].request", f"unknown request {app.request!r}"))
            continue
        if app.app is AppKind.QKD and req.use is not RequestUse.MEASURE:
            errors.append(
                (f"applications[{i}].app", f"qkd measures its pairs at once: request {req.id!r} needs use: measure")
            )
        if app.app not in (AppKind.QKD, AppKind.CHSH) and req.use is RequestUse.MEASURE:
            errors.append(
                (f"applications[{i}].app", f"{app.app.value} needs stored pairs: request {req.id!r} has use: measure")
            )
        for end, need in zip(("a", "b"), APP_QUBITS[app.app], strict=True):
            app_node = by_id.get(getattr(req, end))
            if app_node is None or app_node.hardware not in REPEATER_PRESETS:
                continue
            have = app_node.qubits or REPEATER_PRESETS[app_node.hardware].node.memory_qubits
            if have < need:
                errors.append(
                    (
                        f"applications[{i}]",
                        f"{app.app.value} holds {need} qubits at {app_node.id!r}, which has {have} (nodes[].qubits)",
                    )
                )
    return errors


def _untrusted_relay_errors(scenario: Scenario) -> list[tuple[str, str]]:
    """Each untrusted relay is the measurement station of exactly one link (it joins exactly two users)."""
    served: dict[str, list[int]] = {}
    for i, link in enumerate(scenario.links):
        relay = getattr(link, "relay", None)
        if isinstance(relay, str):
            served.setdefault(relay, []).append(i)
    errors = []
    for k, node in enumerate(scenario.nodes):
        if node.kind is not NodeKind.UNTRUSTED_RELAY:
            continue
        links = served.get(node.id, [])
        if len(links) != 1:
            which = ", ".join(f"links[{i}]" for i in links) or "no link"
            errors.append(
                (
                    f"nodes[{k}]",
                    f"an untrusted-relay joins exactly two users (it is the relay of one mdi or twin-field link); "
                    f"{node.id!r} is the relay of {which}",
                )
            )
    return errors


_DEMAND_ENDS = (NodeKind.USER, NodeKind.GROUND_STATION, NodeKind.QUANTUM_NODE)
"""Where a demand may end: users, ground stations (``qinternet serve micius`` runs their applications) and
quantum-nodes (users with quantum processors: key from entanglement-qkd links)."""
_DEMAND_END_NAMES = "a user, a ground station or a quantum-node"


def _relay_components(scenario: Scenario, graph: nx.MultiGraph[str]) -> dict[str, int]:
    """For every node that relays key, a number shared by the relaying nodes that links join to it."""
    relays = graph.subgraph(n.id for n in scenario.nodes if n.relays_key)
    return {node: k for k, members in enumerate(nx.connected_components(relays)) for node in members}


def _relayable(graph: nx.MultiGraph[str], components: dict[str, int], a: str, b: str) -> bool:
    """Whether a path joins ``a`` and ``b`` whose inner nodes all relay key.

    Such a path is a link between them, or enters one group of linked relaying nodes (a component of
    ``components``) next to ``a`` (or at it, when ``a`` relays) and leaves it next to ``b``: one pass over
    the graph serves every demand.
    """

    def entries(node: str) -> set[int]:
        if node in components:
            return {components[node]}
        return {components[n] for n in graph.neighbors(node) if n in components}

    return bool(graph.has_edge(a, b)) or not entries(a).isdisjoint(entries(b))


# ---------------------------------------------------------------------------------------------------
# Loading


def _path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif not parts:
            parts.append(item)
        elif item.startswith(("function-", "constrained-")) or item in {"float", "int", "str", "tuple[str,str]"}:
            continue  # pydantic's names of union members and validators, not the user's fields
        elif item == "[key]":
            parts.pop()  # the key itself: the error is the mapping's
        else:
            parts.append(f".{item}")
    return "".join(parts) or "(file)"


def scenario_error_of(exc: ValidationError) -> ScenarioError:
    """pydantic's errors as a :class:`ScenarioError`: each named by its path in the file (``links[3].length_km``)
    and its reason in plain words (also for files shaped like a scenario, e.g. ``qinternet plan``'s)."""
    errors: list[tuple[str, str]] = []
    tags = {entry.kind.value for entry in LINK_KINDS}
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = None
        if (
            loc[:1] in {("links",), ("candidate_links",)}
            and len(loc) > 2
            and isinstance(loc[1], int)
            and loc[2] in tags
        ):
            kind = str(loc[2])
            loc = loc[:2] + loc[3:]  # the union's member: the entry's kind, not a field of the file
        if error["type"] == "link_kind":
            loc = (*loc, "kind")
        reason = validation_reason(dict(error))
        if kind is not None and error["type"] == "extra_forbidden" and len(loc) == 3:
            reason = f"is not a field of {article(kind)} link"
        if loc[-1:] == ("[key]",):  # a key of a mapping failed: the path names the mapping
            reason = f"keys {reason}"
        entry = (_path(loc[:-1] if error["type"] == "invalid_key" else loc), reason)
        if entry not in errors:
            errors.append(entry)
    # A list whose entries failed is also reported "too short" by pydantic: the entries say more.
    failed_lists = {path.split("[")[0] for path, _ in errors if "[" in path}
    return ScenarioError([(p, r) for p, r in errors if not (p in failed_lists and r.startswith("needs at least"))])


def load_scenario(source: str | Path | dict[str, Any]) -> Scenario:
    """Read and validate a scenario from a YAML file, YAML text, or an already parsed mapping.

    A file or text holds at most :data:`MAX_FILE_BYTES`, each text in it at most :data:`MAX_TEXT_CHARS`
    characters; YAML aliases may repeat at most :data:`~qinternet.network.scenario_yaml.MAX_ALIAS_NODES`
    nodes, and a key appears once per mapping.

    Raises:
        ScenarioError: with every problem found, each naming its field path (or the file's line).
    """
    return load_model(
        Scenario, source, shape="nodes, links, ...", prepare=_with_link_defaults, cross_check=_cross_check
    )


def load_model(
    model: type[_File],
    source: str | Path | dict[str, Any],
    *,
    shape: str,
    cross_check: Callable[[_File], list[tuple[str, str]]],
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> _File:
    """Read and validate a file of the shape of a scenario (``model``: a scenario, ``qinternet plan``'s planning
    file) from a YAML file, YAML text, or a parsed mapping, within the bounds of :func:`load_scenario`.

    Args:
        model: the file's pydantic model.
        source: the file, its text, or its parsed mapping.
        shape: what the mapping holds, for the error when it is not one (``"nodes, links, ..."``).
        cross_check: the problems of a valid model across its sections, as ``(path, reason)``.
        prepare: turns the parsed mapping into what ``model`` validates (e.g. fills defaults).

    Raises:
        ScenarioError: with every problem found, each naming its field path (or the file's line).
    """
    with _collector_paused():
        if isinstance(source, Path):
            data: object = _parse_yaml(read_scenario_file(source))
        elif isinstance(source, str):
            data = _parse_yaml(source)
        else:
            data = source
        if not isinstance(data, dict):
            raise ScenarioError([("(file)", f"must be a YAML mapping with {shape}")])
        if prepare is not None:
            data = prepare(data)
        try:
            loaded = model.model_validate(data)
        except ValidationError as exc:
            raise scenario_error_of(exc) from None
        errors = cross_check(loaded)
    if errors:
        raise ScenarioError(errors)
    return loaded


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a scenario is read and validated.

    Reading builds a few hundred thousand objects at once, none in a reference cycle; the collector would
    walk them again and again (more than half the reading time of a 10,000-link file, benchmarks/README.md).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def read_scenario_file(path: Path) -> str:
    """The text of the scenario file at ``path``.

    Raises:
        ScenarioError: naming the file when it does not exist, is a folder, cannot be read, holds more than
            :data:`MAX_FILE_BYTES` or is not UTF-8 text.
    """
    if path.is_dir():
        raise ScenarioError([(str(path), "is a folder, not a scenario file")])
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError([(str(path), "does not exist")]) from None
    except OSError as exc:
        raise ScenarioError([(str(path), f"cannot be read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(
            [(str(path), f"is larger than {MAX_FILE_BYTES / 1e6:g} MB, the most a scenario file holds")]
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError([(str(path), "is not UTF-8 text")]) from None


def _with_link_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Fill every link's missing fields from ``link_defaults`` (a link's own value wins); a default applies to
    the links whose kind has that field (``filter_bandwidth_nm`` to fibre and free-space links, not to mdi)."""
    defaults = data.get("link_defaults")
    links = data.get("links")
    if not isinstance(defaults, dict):
        if defaults is not None:
            raise ScenarioError([("link_defaults", "must be a mapping of link fields to values")])
        return data
    fields = {entry.kind.value: set(entry.spec.model_fields) for entry in LINK_KINDS}
    known = set().union(*fields.values())
    unknown = sorted(set(defaults) - known | ({"id", "a", "b"} & set(defaults)), key=str)
    if unknown:
        raise ScenarioError([(f"link_defaults.{name}", "is not a field every link can share") for name in unknown])

    def filled(link: dict[str, Any]) -> dict[str, Any]:
        kind = link.get("kind", defaults.get("kind", LinkKind.FIBRE.value))
        has = fields.get(kind) if isinstance(kind, str) else None
        if has is None:  # an unknown kind: the link's own error says so
            return {"kind": kind, **link}
        return {**{name: value for name, value in defaults.items() if name in has}, **link}

    if isinstance(links, list):
        data = {**data, "links": [filled(link) if isinstance(link, dict) else link for link in links]}
    return data


def _parse_yaml(text: str) -> object:
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise ScenarioError([("(file)", f"is larger than {MAX_FILE_BYTES / 1e6:g} MB, the most a scenario file holds")])
    try:
        return parse_yaml(text)
    except ScenarioYamlError as exc:
        raise ScenarioError([(exc.where, exc.reason)]) from None


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (``qinternet scenario schema``)."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "qinternet scenario"
    return schema
