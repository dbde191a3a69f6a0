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
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import networkx as nx
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from qinternet.errors import QinternetError
from qinternet.messages import shown_value, validation_reason
from qinternet.network.scenario_yaml import ScenarioYamlError, parse_yaml

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TEXT_CHARS",
    "ClassicalChannelSpec",
    "DemandSpec",
    "FreeSpaceSpec",
    "LinkKind",
    "LinkModel",
    "LinkSpec",
    "NodeKind",
    "NodeSpec",
    "OrbitSpec",
    "Scenario",
    "ScenarioError",
    "TimeSpec",
    "load_scenario",
    "parse_duration_s",
    "read_scenario_file",
    "scenario_json_schema",
]

_UNITS_S = {"ps": 1e-12, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ps|ns|us|ms|s|min|h|d)?\s*$")


class ScenarioError(QinternetError, ValueError):
    """A scenario file has errors: each is ``(path, reason)``, e.g. ``("links[3].length_km", "must be > 0")``.

    >>> str(ScenarioError([("links[0].a", "unknown node 'x'")]))
    "links[0].a: unknown node 'x'"
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("\n".join(f"{path}: {reason}" for path, reason in errors))
        self.errors = errors


def parse_duration_s(value: object) -> float:
    """Seconds from ``3600``, ``"3600s"``, ``"90min"``, ``"24h"``, ``"2d"``, ``"1.5e-3s"``.

    >>> parse_duration_s("24h"), parse_duration_s(90), parse_duration_s("30 min")
    (86400.0, 90.0, 1800.0)
    """
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 3600, '90min' or '24h'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"{shown_value(value) or 'it'} is not a duration such as 3600, '90min' or '24h'")
        seconds = float(match.group(1)) * _UNITS_S[match.group(2) or "s"]
    if not math.isfinite(seconds):
        raise ValueError(f"must be finite, got {value!r}")
    return seconds


def _duration(value: object) -> float:
    try:
        return parse_duration_s(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


Seconds = Annotated[float, BeforeValidator(_duration)]
"""A duration: a number of seconds or a string with a unit (ps, ns, us, ms, s, min, h, d)."""
Identifier = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
Probability = Annotated[float, Field(gt=0.0, le=1.0)]


MAX_FILE_BYTES = 10_000_000
"""Largest scenario file read (10 MB; 5,000 nodes and 10,000 links, one per line, take 0.84 MB)."""
MAX_TEXT_CHARS = 10_000
"""Longest text in a scenario (a description, a source, a name): reports copy them."""


def _is_number(annotation: object) -> bool:
    """Whether a field's type is a number (``float``, ``int``, possibly constrained or optional)."""
    if get_origin(annotation) is Annotated:
        return _is_number(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return any(_is_number(member) for member in get_args(annotation))
    return annotation in (float, int)


class _Model(BaseModel):
    """A section of a scenario file: unknown fields are errors, texts are bounded, numbers are not booleans."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, str_max_length=MAX_TEXT_CHARS, allow_inf_nan=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: object, info: ValidationInfo) -> object:
        # pydantic turns true/false into 1/0 for a number; in a scenario file that is a mistake.
        if (
            isinstance(value, bool)
            and info.field_name is not None
            and _is_number(cls.model_fields[info.field_name].annotation)
        ):
            raise PydanticCustomError("number", "must be a number")
        return value


class NodeKind(enum.Enum):
    """What a node is."""

    USER = "user"
    TRUSTED_RELAY = "trusted-relay"
    SATELLITE = "satellite"
    GROUND_STATION = "ground-station"
    ENTANGLEMENT_SOURCE = "entanglement-source"


class LinkKind(enum.Enum):
    """How a link carries its quantum signal."""

    FIBRE = "fibre"
    FREE_SPACE = "free-space"
    ENTANGLEMENT = "entanglement"


class LinkModel(enum.Enum):
    """How a link's blocks are simulated."""

    ANALYTIC = "analytic"
    MONTE_CARLO = "monte-carlo"


class OrbitSpec(_Model):
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


class NodeSpec(_Model):
    """A node of the network.

    Attributes:
        id: unique name.
        kind: user, trusted-relay, satellite, ground-station or entanglement-source.
        name: a human-readable label (default: the id).
        lat_deg, lon_deg: position (required except for satellites).
        altitude_m: height above the ellipsoid (ground stations).
        orbit: the orbit (satellites only).
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
        return self

    @property
    def label(self) -> str:
        """The name to show."""
        return self.name or self.id


class ClassicalChannelSpec(_Model):
    """A classical channel sharing the link's fibre (its Raman scattering adds noise).

    Attributes:
        launch_power_dbm: optical power launched into the fibre.
        wavelength_nm: the classical channel's wavelength.
        direction: ``forward`` (travels with the quantum signal) or ``backward``.
        raman_cross_section_per_km_nm: effective Raman cross-section at the quantum wavelength
            (default: the C-band value of :mod:`qinternet.physics.raman`).
    """

    launch_power_dbm: Annotated[float, Field(ge=-60.0, le=30.0)]
    wavelength_nm: Annotated[float, Field(gt=200.0, lt=3000.0)] = 1550.0
    direction: Literal["forward", "backward"] = "forward"
    raman_cross_section_per_km_nm: Annotated[float, Field(ge=0.0, lt=1e-6)] | None = None


class FreeSpaceSpec(_Model):
    """The optics of a satellite-to-ground downlink (:mod:`qinternet.physics.freespace`).

    Attributes:
        wavelength_nm: signal wavelength.
        tx_aperture_m, rx_aperture_m: transmitter and receiver telescope diameters.
        divergence_urad: full-angle beam divergence (default: the transmitter's diffraction limit).
        zenith_transmittance: atmospheric transmittance looking straight up.
        pointing_jitter_urad: RMS pointing error per axis.
        fixed_loss_db: optics, coupling and turbulence margin.
        min_elevation_deg: no key below this elevation.
        night_only: the operator's policy of transmitting only while the Sun is more than 12° below the ground
            station's horizon. It is not the physics: the sky background against the Sun's elevation is modelled
            either way (:mod:`qinternet.physics.sky`), with the link's ``filter_bandwidth_nm`` and
            ``detection_window_s`` as the receiver's filter and gate.
        rx_field_of_view_urad: full angle of the ground receiver's field of view (the sky its detectors see).
            Default 100 µrad: an assumption for a Micius-like 1 m receiver, not a published value.
        sky_scattering_exponent: ``n`` of the sky's ``lambda**-n`` scattering: 4 for a clean (Rayleigh) sky,
            ~1-1.5 for a hazy one, which is brighter in the infrared.
    """

    wavelength_nm: Annotated[float, Field(gt=200.0, lt=3000.0)] = 850.0
    tx_aperture_m: Annotated[float, Field(gt=0.0, le=10.0)] = 0.3
    rx_aperture_m: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0
    divergence_urad: Annotated[float, Field(gt=0.0, le=1e4)] | None = None
    zenith_transmittance: Probability = 0.8
    pointing_jitter_urad: Annotated[float, Field(ge=0.0, le=1e3)] = 0.0
    fixed_loss_db: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    min_elevation_deg: Annotated[float, Field(ge=0.0, lt=90.0)] = 10.0
    night_only: bool = True
    rx_field_of_view_urad: Annotated[float, Field(gt=0.0, le=1e5)] = 100.0
    sky_scattering_exponent: Annotated[float, Field(ge=0.0, le=4.0)] = 4.0


class LinkSpec(_Model):
    """A QKD link.

    Attributes:
        id: unique name.
        kind: fibre, free-space or entanglement.
        a, b: the nodes it joins (fibre: any two nodes; free-space: a satellite and a ground station;
            entanglement: the two users that share the pairs).
        source: the entanglement source serving ``a`` and ``b`` (entanglement links).
        length_km: fibre length (fibre links).
        length_a_km, length_b_km: fibre from the source to ``a`` and to ``b`` (entanglement links).
        loss_db_per_km, connector_loss_db: the fibre's attenuation and fixed loss (default: the preset's).
        protocol: ``decoy-bb84`` (prepare and measure) or ``bbm92`` (entanglement links).
        preset: the devices (``qinternet presets``); ``devices`` changes single fields of it, e.g.
            ``{detector: {efficiency: 0.2}, source: {rep_rate_hz: 1e9}}``.
        model: ``analytic`` (expected counts) or ``monte-carlo`` (counts drawn per block).
        optimise_settings: run at the basis and intensity settings that maximise the finite-key rate of
            a block (as an operator tunes a link), or at the preset's own. Fibre and entanglement links
            only: a free-space link always runs at its devices' settings (a satellite's source is fixed
            for its passes).
        block_s: seconds of key generation per post-processing block (finite-key block).
        pool_capacity_bits: most key the link's pool holds; excess is discarded and counted.
        classical_channels: classical traffic in the same fibre (its Raman scattering adds background).
        quantum_wavelength_nm: the quantum signal's wavelength (Raman noise is counted at it).
        filter_bandwidth_nm: width of the receiver's filter (0.8 nm: a 100 GHz DWDM channel). Fibre links count
            Raman noise in it, free-space links sky light.
        detection_window_s: time a detection gate or coincidence window stays open for one pulse (Raman noise
            of fibre links, sky light of free-space links).
        free_space: optics of a free-space link.
        eps_sec, eps_cor: security parameters of each block.
    """

    id: Identifier
    kind: LinkKind = LinkKind.FIBRE
    a: Identifier
    b: Identifier
    source: Identifier | None = None
    length_km: Annotated[float, Field(gt=0.0, le=1000.0)] | None = None
    length_a_km: Annotated[float, Field(ge=0.0, le=1000.0)] | None = None
    length_b_km: Annotated[float, Field(ge=0.0, le=1000.0)] | None = None
    loss_db_per_km: Annotated[float, Field(ge=0.0, le=10.0)] | None = None
    connector_loss_db: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    protocol: Literal["decoy-bb84", "bbm92"] = "decoy-bb84"
    preset: str = "lim2014"
    devices: dict[str, Any] = Field(default_factory=dict)
    model: LinkModel = LinkModel.ANALYTIC
    optimise_settings: bool = True
    block_s: Annotated[Seconds, Field(gt=0.0, le=86400.0 * 30)] = 600.0
    pool_capacity_bits: Annotated[float, Field(gt=0.0, le=1e15)] = 1e10
    classical_channels: tuple[ClassicalChannelSpec, ...] = ()
    quantum_wavelength_nm: Annotated[float, Field(gt=200.0, lt=3000.0)] = 1550.0
    filter_bandwidth_nm: Annotated[float, Field(gt=0.0, le=100.0)] = 0.8
    detection_window_s: Annotated[Seconds, Field(gt=0.0, le=1e-3)] = 1e-9
    free_space: FreeSpaceSpec | None = None
    eps_sec: Annotated[float, Field(gt=0.0, lt=1.0)] = 1e-10
    eps_cor: Annotated[float, Field(gt=0.0, lt=1.0)] = 1e-15

    @field_validator("devices")
    @classmethod
    def _bounded_texts(cls, devices: dict[str, Any]) -> dict[str, Any]:
        # The parameter objects check the values; their messages show a wrong value, so it stays short.
        pending: list[object] = list(devices.values())
        while pending:
            value = pending.pop()
            if isinstance(value, dict):
                pending.extend(value.keys())
                pending.extend(value.values())
            elif isinstance(value, list | tuple):
                pending.extend(value)
            elif isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
                raise PydanticCustomError(
                    "text", f"holds a text of {len(value):,} characters; at most {MAX_TEXT_CHARS:,}"
                )
        return devices

    @model_validator(mode="after")
    def _kind_fields(self) -> LinkSpec:
        need: dict[LinkKind, tuple[str, ...]] = {
            LinkKind.FIBRE: ("length_km",),
            LinkKind.FREE_SPACE: ("free_space",),
            LinkKind.ENTANGLEMENT: ("source", "length_a_km", "length_b_km"),
        }
        missing = [name for name in need[self.kind] if getattr(self, name) is None]
        if missing:
            raise PydanticCustomError(
                "link", "a {kind} link needs {fields}", {"kind": self.kind.value, "fields": ", ".join(missing)}
            )
        if self.a == self.b:
            raise PydanticCustomError("link", "joins node {node} to itself", {"node": self.a})
        if (self.protocol == "bbm92") != (self.kind is LinkKind.ENTANGLEMENT):
            raise PydanticCustomError("link", "protocol bbm92 goes with kind entanglement, decoy-bb84 with the others")
        if self.classical_channels and self.kind is not LinkKind.FIBRE:
            raise PydanticCustomError("link", "classical_channels are modelled on fibre links only")
        return self


class DemandSpec(_Model):
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


class TimeSpec(_Model):
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
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:
            raise PydanticCustomError("time", "is outside the years 1 to 9999 in UTC") from None

    @model_validator(mode="after")
    def _step_fits(self) -> TimeSpec:
        if self.step_s > self.duration_s:
            raise PydanticCustomError(
                "time",
                "step_s ({step}) is longer than duration_s ({duration})",
                {"step": self.step_s, "duration": self.duration_s},
            )
        return self


class PublishedFigure(_Model):
    """A published number the scenario should come close to (shown in reports, checked by tests)."""

    quantity: str
    value: float
    unit: str = ""
    source: str
    note: str = ""


class Scenario(_Model):
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
            end for end in ("a", "b", "source") if getattr(link, end) is not None and getattr(link, end) not in kinds
        ]
        errors.extend((f"links[{i}].{end}", f"unknown node {getattr(link, end)!r}") for end in unknown)
        if unknown:
            continue
        ends = {kinds[link.a], kinds[link.b]}
        if link.kind is LinkKind.FREE_SPACE and ends != {NodeKind.SATELLITE, NodeKind.GROUND_STATION}:
            errors.append((f"links[{i}]", "a free-space link joins a satellite and a ground station"))
        elif link.kind is not LinkKind.FREE_SPACE and NodeKind.SATELLITE in ends:
            errors.append((f"links[{i}].kind", "a satellite is reached by a free-space link only"))
        source = link.source
        if (
            link.kind is LinkKind.ENTANGLEMENT
            and source is not None
            and kinds[source] is not NodeKind.ENTANGLEMENT_SOURCE
        ):
            errors.append((f"links[{i}].source", f"node {link.source!r} is not an entanglement-source"))
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
                        f"node {node!r} is a {kinds[node].value}; a demand joins users (or ground stations)",
                    )
                )
        if demand.a in kinds and demand.b in kinds and not _relayable(graph, components, demand.a, demand.b):
            errors.append(
                (f"demands[{i}]", f"no chain of links through trusted nodes joins {demand.a!r} and {demand.b!r}")
            )
    return errors


_DEMAND_ENDS = (NodeKind.USER, NodeKind.GROUND_STATION)
"""Where a demand may end: users, and ground stations (``qinternet serve micius`` runs their applications)."""


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


def _from_validation_error(exc: ValidationError) -> ScenarioError:
    errors: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        reason = validation_reason(dict(error))
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
    with _collector_paused():
        if isinstance(source, Path):
            data: object = _parse_yaml(read_scenario_file(source))
        elif isinstance(source, str):
            data = _parse_yaml(source)
        else:
            data = source
        if not isinstance(data, dict):
            raise ScenarioError([("(file)", "must be a YAML mapping with nodes, links, ...")])
        data = _with_link_defaults(data)
        try:
            scenario = Scenario.model_validate(data)
        except ValidationError as exc:
            raise _from_validation_error(exc) from None
        errors = _cross_check(scenario)
    if errors:
        raise ScenarioError(errors)
    return scenario


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
    """Fill every link's missing fields from ``link_defaults`` (a link's own value wins)."""
    defaults = data.get("link_defaults")
    links = data.get("links")
    if not isinstance(defaults, dict):
        if defaults is not None:
            raise ScenarioError([("link_defaults", "must be a mapping of link fields to values")])
        return data
    unknown = sorted(set(defaults) - set(LinkSpec.model_fields) | ({"id", "a", "b"} & set(defaults)), key=str)
    if unknown:
        raise ScenarioError([(f"link_defaults.{name}", "is not a field every link can share") for name in unknown])
    if isinstance(links, list):
        data = {**data, "links": [{**defaults, **link} if isinstance(link, dict) else link for link in links]}
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
