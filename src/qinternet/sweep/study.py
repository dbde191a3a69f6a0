"""A study: what to vary on which base, with how many seeds, and what to collect (``qinternet sweep STUDY.yaml``).

A study file names a **base** (``keyrate``, ``link``, ``repeater`` or ``scenario``) and its settings, the fields to
**vary** by their paths (``detector.efficiency``; ``links.fnal--anl.length_km`` in a scenario), how the points are
chosen (a full grid, uniform random samples, or a Latin hypercube), the **seeds** each point runs with, and the
**metrics** to collect, named as the base prints them in its ``--json`` output (``key_rate_per_pulse``;
``totals.secret_bits`` in a scenario's ``summary.json``). :func:`study_points` expands it into the points to run,
in a fixed order, the same on every call (what lets an interrupted sweep resume).

Latin-hypercube sampling: McKay, Beckman, Conover, Technometrics 21, 239 (1979), as implemented by
:class:`scipy.stats.qmc.LatinHypercube`.
"""

from __future__ import annotations

import enum
import itertools
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from qinternet.errors import ParameterError
from qinternet.network.schema import load_model
from qinternet.network.schema_base import Model

__all__ = [
    "MAX_POINTS",
    "Axis",
    "BaseKind",
    "BaseSpec",
    "Point",
    "Sampling",
    "Study",
    "builtin_studies",
    "load_study",
    "study_points",
]

MAX_POINTS = 1_000_000
"""Most points (times seeds) a study may ask for."""

_PACKAGE = "qinternet.sweep.studies"

Scalar = float | int | str | bool


class BaseKind(enum.Enum):
    """What one point of a study runs (each is also a command: its ``--json`` names the metrics)."""

    KEYRATE = "keyrate"
    LINK = "link"
    REPEATER = "repeater"
    SCENARIO = "scenario"


class Sampling(enum.Enum):
    """How the points are chosen from the axes."""

    GRID = "grid"
    RANDOM = "random"
    LATIN_HYPERCUBE = "latin-hypercube"


class BaseSpec(Model):
    """The base every point changes: its kind and its settings (the options of its command, by field name)."""

    kind: BaseKind
    settings: dict[str, Scalar] = Field(default_factory=dict)


class Axis(Model):
    """One varied field: a list of ``values``, or a ``range`` (linear) or ``log_range`` with ``points`` values.

    For random and Latin-hypercube sampling, a range is the interval samples are drawn from (uniformly, or
    uniformly in the logarithm for ``log_range``); ``values`` are then drawn from with equal weight.
    """

    field: Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\s]+$")]
    values: list[Scalar] | None = None
    range: tuple[float, float] | None = None
    log_range: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] | None = None
    points: Annotated[int, Field(ge=1, le=MAX_POINTS)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Axis:
        given = [name for name in ("values", "range", "log_range") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of values, range, log_range")
        if self.values is not None:
            if not self.values:
                raise ValueError("values: give at least one value")
            if self.points is not None:
                raise ValueError("points: goes with range or log_range, not with values")
        return self

    def grid(self) -> list[Scalar]:
        """The axis's values on a grid (``points`` of them for a range)."""
        if self.values is not None:
            return list(self.values)
        if self.points is None:
            raise ValueError("points: a range on a grid needs its number of points")
        if self.range is not None:
            return [float(v) for v in np.linspace(self.range[0], self.range[1], self.points)]
        assert self.log_range is not None
        low, high = (math.log10(v) for v in self.log_range)
        return [float(v) for v in np.logspace(low, high, self.points)]

    def at(self, u: float) -> Scalar:
        """The value at quantile ``u`` in [0, 1) of the axis (for random and Latin-hypercube samples)."""
        if self.values is not None:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.range is not None:
            return float(self.range[0] + u * (self.range[1] - self.range[0]))
        assert self.log_range is not None
        low, high = (math.log10(v) for v in self.log_range)
        return float(10.0 ** (low + u * (high - low)))


class Study(Model):
    """A study file (see the module's docstring and ``docs/studies.md``)."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    description: str = ""
    base: BaseSpec
    vary: Annotated[list[Axis], Field(min_length=1, max_length=8)]
    sampling: Sampling = Sampling.GRID
    samples: Annotated[int, Field(ge=1, le=MAX_POINTS)] | None = None
    sampling_seed: Annotated[int, Field(ge=0)] = 0
    seeds: Annotated[int, Field(ge=1, le=1000)] = 1
    first_seed: Annotated[int, Field(ge=0)] = 1
    metrics: Annotated[list[Annotated[str, Field(min_length=1, max_length=300)]], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Study:
        fields = [axis.field for axis in self.vary]
        repeated = sorted({f for f in fields if fields.count(f) > 1})
        if repeated:
            raise ValueError(f"vary: {repeated[0]!r} is varied twice")
        clash = sorted(set(fields) & ({"seed"} | set(self.metrics)))
        if clash:
            raise ValueError(f"vary: {clash[0]!r} is also a metric or the seed column")
        if self.sampling is Sampling.GRID:
            if self.samples is not None:
                raise ValueError("samples: goes with random or latin-hypercube sampling, not with a grid")
            for axis in self.vary:
                if axis.values is None and axis.points is None:
                    raise ValueError(f"vary: {axis.field!r} is a range on a grid: give its points")
            count = math.prod(len(axis.grid()) for axis in self.vary) * self.seeds
        else:
            if self.samples is None:
                raise ValueError(f"samples: {self.sampling.value} sampling needs the number of samples")
            count = self.samples * self.seeds
        if count > MAX_POINTS:
            raise ValueError(f"asks for {count:,} runs (points x seeds); at most {MAX_POINTS:,}")
        return self


@dataclass(frozen=True, slots=True)
class Point:
    """One run of a study: the varied fields' values (by path, in the study's order) and the seed."""

    values: tuple[tuple[str, Scalar], ...]
    seed: int

    @property
    def key(self) -> str:
        """A text that names this run and no other (the journal of finished runs is keyed by it)."""
        return json.dumps([list(self.values), self.seed], separators=(",", ":"))

    def changes(self) -> dict[str, Scalar]:
        """The varied fields as a mapping from path to value."""
        return dict(self.values)


def _samples(study: Study) -> Iterator[tuple[Scalar, ...]]:
    if study.sampling is Sampling.GRID:
        yield from itertools.product(*(axis.grid() for axis in study.vary))
        return
    assert study.samples is not None
    if study.sampling is Sampling.RANDOM:
        unit = np.random.default_rng(study.sampling_seed).random((study.samples, len(study.vary)))
    else:
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(study.vary), seed=study.sampling_seed).random(study.samples)
    for row in unit:
        yield tuple(axis.at(float(u)) for axis, u in zip(study.vary, row, strict=True))


def study_points(study: Study) -> list[Point]:
    """Every run of ``study``: each point with each seed, points in order (grid: the last axis fastest)."""
    fields = [axis.field for axis in study.vary]
    seeds = range(study.first_seed, study.first_seed + study.seeds)
    return [
        Point(values=tuple(zip(fields, values, strict=True)), seed=seed) for values in _samples(study) for seed in seeds
    ]


def builtin_studies() -> dict[str, str]:
    """The studies shipped with qinternet: name -> YAML text."""
    folder = resources.files(_PACKAGE)
    return {
        entry.name.removesuffix(".yaml"): entry.read_text()
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


def load_study(name_or_path: str | Path) -> tuple[Study, str]:
    """A shipped study by name, or a study file by path: the validated study and its text.

    Raises:
        ScenarioError: every problem of the file, each naming its field path (``vary[0].points``).
    """
    shipped = builtin_studies()
    path = Path(name_or_path)
    if str(name_or_path) in shipped and not path.exists():
        text = shipped[str(name_or_path)]
    elif path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ParameterError("STUDY", f"cannot read {str(path)!r}: {exc}") from None
    else:
        raise ParameterError(
            "STUDY", f"{str(name_or_path)!r} is neither a shipped study ({', '.join(shipped)}) nor a file"
        )
    return load_model(Study, text, shape="base, vary and metrics", cross_check=lambda _: []), text


def describe_axes(study: Study) -> Sequence[str]:
    """One line per axis, for tables: ``detector.efficiency: 10 values in [0.05, 0.5]``."""
    lines = []
    for axis in study.vary:
        if axis.values is not None:
            lines.append(f"{axis.field}: {', '.join(map(str, axis.values))}")
        else:
            bounds = axis.range if axis.range is not None else axis.log_range
            scale = "" if axis.range is not None else " (log)"
            count = f"{axis.points} values" if axis.points is not None else "sampled"
            lines.append(f"{axis.field}: {count} in [{bounds[0]:g}, {bounds[1]:g}]{scale}")  # type: ignore[index]
    return lines
