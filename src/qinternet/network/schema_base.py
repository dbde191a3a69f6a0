"""What every section model of a scenario file shares, and the kinds of nodes and links.

Split from :mod:`.schema` so that the modules of each link kind (:mod:`qinternet.network.links`) can define
their own section model on the same base without importing the whole scenario (which imports them to
form the discriminated union of ``links[]``).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, ClassVar, Self, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from qinternet.errors import QinternetError
from qinternet.messages import shown_value

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TEXT_CHARS",
    "MEMORY_NODES",
    "Identifier",
    "LinkKind",
    "LinkModel",
    "LinkSpecBase",
    "Model",
    "NodeKind",
    "Probability",
    "ScenarioError",
    "Seconds",
    "article",
    "parse_duration_s",
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


Seconds = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _DURATION.pattern}]},
    ),
]
"""A duration: a number of seconds or a string with a unit (ps, ns, us, ms, s, min, h, d); the JSON Schema
says both (the bounds of a field apply to its seconds)."""
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


class Model(BaseModel):
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
    UNTRUSTED_RELAY = "untrusted-relay"
    """A measurement station between two users (MDI-QKD, twin-field QKD): it never holds key."""
    QUANTUM_NODE = "quantum-node"
    """A quantum processor or memory of a user: it holds entangled pairs and runs applications."""
    REPEATER = "repeater"
    """A quantum repeater: memories that swap entanglement between its links (never holds key)."""
    HERALDING_STATION = "heralding-station"
    """The middle station of memory links: detectors that herald entanglement (never holds key)."""


MEMORY_NODES = (NodeKind.QUANTUM_NODE, NodeKind.REPEATER)
"""Node kinds that hold quantum memories (and so take a ``hardware`` preset)."""


class LinkKind(enum.Enum):
    """How a link carries its quantum signal."""

    FIBRE = "fibre"
    FREE_SPACE = "free-space"
    ENTANGLEMENT = "entanglement"
    MDI = "mdi"
    TWIN_FIELD = "twin-field"
    MEMORY = "memory"
    DUAL_DOWNLINK = "dual-downlink"
    ENTANGLEMENT_QKD = "entanglement-qkd"
    PHOTONIC_TELEPORTATION = "photonic-teleportation"


class LinkModel(enum.Enum):
    """How a link's blocks are simulated."""

    ANALYTIC = "analytic"
    MONTE_CARLO = "monte-carlo"


def article(word: str) -> str:
    """``word`` after "a" or "an", as it is read aloud (``an mdi``, ``a user``, ``an untrusted-relay``)."""
    spoken_vowel = word[:1] in ("a", "e", "i", "o") or word.startswith("un") or word == "mdi"
    return f"{'an' if spoken_vowel else 'a'} {word}"


class LinkSpecBase(Model):
    """What every link of a scenario has, whatever its kind (each kind's model adds its own fields).

    Attributes:
        id: unique name.
        kind: how the link carries its quantum signal (the kind's model: :mod:`qinternet.network.links`).
        a, b: the two nodes that share the link's key.
        preset: the devices (``qinternet presets``); ``devices`` changes single fields of it, e.g.
            ``{detector: {efficiency: 0.2}, source: {rep_rate_hz: 1e9}}``.
        model: ``analytic`` (expected counts) or ``monte-carlo`` (counts drawn per block).
        block_s: seconds of key generation per post-processing block (finite-key block).
        pool_capacity_bits: most key the link's pool holds; excess is discarded and counted.
        eps_sec, eps_cor: security parameters of each block.
    """

    NODE_FIELDS: ClassVar[tuple[str, ...]] = ("a", "b")
    """The fields that name nodes (checked to exist)."""

    id: Identifier
    kind: LinkKind
    a: Identifier
    b: Identifier
    preset: str = "lim2014"
    devices: dict[str, Any] = Field(default_factory=dict)
    model: LinkModel = LinkModel.ANALYTIC
    block_s: Annotated[Seconds, Field(gt=0.0, le=86400.0 * 30)] = 600.0
    pool_capacity_bits: Annotated[float, Field(gt=0.0, le=1e15)] = 1e10
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
    def _two_ends(self) -> Self:
        if self.a == self.b:
            raise PydanticCustomError("link", "joins node {node} to itself", {"node": self.a})
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The JSON Schema of the kind: its ``kind`` is the one value that selects it (editors can then tell the
        kinds of ``links[]`` apart)."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        default = cls.model_fields["kind"].default
        if isinstance(default, LinkKind):
            schema.setdefault("properties", {})["kind"] = {"const": default.value, "default": default.value}
        return schema

    @property
    def via(self) -> str | None:
        """The node between ``a`` and ``b`` that the link's signals pass (an entanglement source, an untrusted
        relay), or None."""
        return None

    def check_ends(self, kinds: Mapping[str, NodeKind]) -> list[tuple[str, str]]:
        """Problems with the kinds of the nodes the link names (all of which exist), as ``(field, reason)``
        relative to the link (``""``: the link itself). By default a link joins two ground nodes that may
        hold key."""
        ends = {kinds[self.a], kinds[self.b]}
        if NodeKind.SATELLITE in ends:
            return [("kind", "a satellite is reached by a free-space link only")]
        if NodeKind.UNTRUSTED_RELAY in ends:
            return [("", "an untrusted-relay is the relay of an mdi or twin-field link, never an end of a link")]
        for kind in (NodeKind.REPEATER, NodeKind.HERALDING_STATION):
            if kind in ends:
                return [("kind", f"{article(kind.value)} holds no key; it joins memory links only (kind: memory)")]
        return []
