"""The outputs of ``qinternet run`` and ``qinternet sweep`` in a folder, as the dashboard's JSON.

A run's folder has ``summary.json`` (:class:`qinternet.network.summary.RunSummary`) with ``links.csv`` and
``demands.csv`` (the time series); a sweep's has ``results.parquet`` (:mod:`qinternet.sweep.runner`), its
``study.json``, figures and ``report.html``. :func:`find_outputs` takes the folder itself when it is one
of them, else each of its subfolders that is. :meth:`RunOutput.state` gives the network at one step of the
series, in the same shape as the live state (:mod:`.live`); :meth:`SweepOutput.state` gives the study, its
table and its figures.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qinternet.dashboard.alarms import QBER_ALARM, page_alarms
from qinternet.errors import ParameterError

__all__ = ["FILE_SUFFIXES", "MAX_TABLE_ROWS", "Output", "RunOutput", "SweepOutput", "find_outputs"]

MAX_TABLE_ROWS = 2000
"""Most rows of a sweep's results sent to the page (the Parquet file has them all)."""
FILE_SUFFIXES = frozenset({".png", ".html", ".csv", ".json", ".parquet", ".jsonl"})
"""The files of an output folder the dashboard serves (links from its pages)."""


def _series(path: Path, key: str, columns: tuple[str, str]) -> tuple[list[float], dict[str, list[list[float]]]]:
    """A long-format CSV (``time_s, <key>, <columns>``) as its times and, per ID, one list per column."""
    times: list[float] = []
    values: dict[str, list[list[float]]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            t = float(row["time_s"])
            if not times or times[-1] != t:
                times.append(t)
            series = values.setdefault(row[key], [[], []])
            series[0].append(float(row[columns[0]]))
            series[1].append(float(row[columns[1]]))
    return times, values


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutput:
    """The outputs of one ``qinternet run``.

    Attributes:
        name: the folder's name (its address in the dashboard).
        folder: where it is.
        summary: ``summary.json``.
        times_s: the series' instants.
        links: per link ID, its ``pool_bits`` and ``generated_bits`` at each instant.
        demands: per demand ID, its ``wanted_bits`` and ``delivered_bits`` at each instant.
    """

    name: str
    folder: Path
    summary: dict[str, Any]
    times_s: list[float]
    links: dict[str, list[list[float]]]
    demands: dict[str, list[list[float]]]

    kind = "run"

    @classmethod
    def load(cls, folder: Path) -> RunOutput:
        """Read a run's folder; raises ``ValueError``, ``KeyError`` or ``OSError`` for files that are not a run's."""
        summary = json.loads((folder / "summary.json").read_text())
        if not isinstance(summary, dict) or not {"links", "nodes", "demands"} <= set(summary):
            raise ValueError("summary.json is not a summary of qinternet run")
        times, links = _series(folder / "links.csv", "link", ("pool_bits", "generated_bits"))
        demand_times, demands = _series(folder / "demands.csv", "demand", ("wanted_bits", "delivered_bits"))
        if demands and demand_times != times:
            raise ValueError("links.csv and demands.csv have different instants")
        for series in (*links.values(), *demands.values()):
            if len(series[0]) != len(times):
                raise ValueError("a series of links.csv or demands.csv misses instants")
        return cls(name=folder.name, folder=folder, summary=summary, times_s=times, links=links, demands=demands)

    @property
    def title(self) -> str:
        """The scenario's name."""
        return str(self.summary.get("scenario", self.name))

    def state(self, step: int | None = None) -> dict[str, Any]:
        """The network at the series' instant ``step`` (0-based; None or beyond: the last).

        Per link: the pool then and the key rate over the step before it (``rate_bps``), with the run's
        QBER and block counts; per demand: key wanted and delivered by then; the paths the demands used
        over the run; the alarms of ``summary.json`` raised by then (:func:`_run_alarms`).
        """
        last = len(self.times_s) - 1
        i = last if step is None else max(0, min(int(step), last))
        t = self.times_s[i] if self.times_s else 0.0
        before = self.times_s[i - 1] if i > 0 else 0.0
        links = []
        for link in self.summary["links"]:
            pool, generated = self.links.get(link["id"], [[], []])
            rate = None
            if generated and t > before:
                rate = (generated[i] - (generated[i - 1] if i > 0 else 0.0)) / (t - before)
            links.append(
                {
                    "id": link["id"],
                    "a": link["a"],
                    "b": link["b"],
                    "kind": link["kind"],
                    "rate_bps": rate,
                    "qber": link.get("qber"),
                    "status": "key" if link.get("secret_bits", 0) > 0 else "no key",
                    "blocks": link.get("blocks"),
                    "aborted_blocks": link.get("aborted_blocks"),
                    "key_bits": generated[i] if generated else None,
                    "pool_bits": pool[i] if pool else None,
                    "capacity_bits": None,
                }
            )
        ends = [(link["id"], link["a"], link["b"]) for link in self.summary["links"]]
        paths = []
        for demand in self.summary["demands"]:
            for use in demand.get("paths", []):
                nodes = _path_nodes(demand["a"], use["links"], ends)
                paths.append({"label": demand["id"], "nodes": nodes,
                              "links": list(use["links"]), "bits": use["bits"]})  # fmt: skip
        return {
            "mode": "run",
            "title": self.title,
            "description": self.summary.get("description", ""),
            "time_s": t,
            "step": i,
            "steps": len(self.times_s),
            "qber_threshold": QBER_ALARM,
            "nodes": _nodes(self.summary["nodes"]),
            "links": links,
            "demands": [
                {
                    "id": d["id"],
                    "a": d["a"],
                    "b": d["b"],
                    "wanted_bits": self.demands[d["id"]][0][i] if d["id"] in self.demands else None,
                    "delivered_bits": self.demands[d["id"]][1][i] if d["id"] in self.demands else None,
                }
                for d in self.summary["demands"]
            ],
            "paths": paths,
            "alarms": _run_alarms(self.summary, t),
            "files": sorted(p.name for p in self.folder.iterdir() if p.suffix in FILE_SUFFIXES),
        }


def _nodes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summary's nodes for the map; a satellite at its sub-satellite point of ``map`` when it has one."""
    nodes = []
    for row in rows:
        where = row if row.get("lat_deg") is not None else (row.get("map") or {})
        nodes.append({"id": row["id"], "kind": row["kind"], "name": row.get("name", row["id"]),
                      "lat_deg": where.get("lat_deg"), "lon_deg": where.get("lon_deg")})  # fmt: skip
    return nodes


def _path_nodes(start: str, links: list[str], ends: list[tuple[str, str, str]]) -> list[str]:
    """The nodes a path of links from ``start`` passes."""
    by_id = {i: (a, b) for i, a, b in ends}
    nodes = [start]
    for link in links:
        a, b = by_id.get(link, (nodes[-1], nodes[-1]))
        nodes.append(b if a == nodes[-1] else a)
    return nodes


def _run_alarms(summary: dict[str, Any], t: float) -> list[dict[str, Any]]:
    """The alarms of a run raised by the instant ``t`` (``summary.json``'s ``alarms``; none in outputs of
    versions that did not write them)."""
    listed = summary.get("alarms")
    return page_alarms((e for e in listed if isinstance(e, dict)) if isinstance(listed, list) else [], t)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepOutput:
    """The outputs of one ``qinternet sweep``: ``results.parquet``, the study, the figures."""

    name: str
    folder: Path
    study: dict[str, Any]
    columns: list[str]
    rows: list[list[Any]]
    metadata: dict[str, str]

    kind = "sweep"

    @classmethod
    def load(cls, folder: Path) -> SweepOutput:
        """Read a sweep's folder; raises ``ValueError`` or ``OSError`` for files that are not a sweep's."""
        import pyarrow

        from qinternet.sweep.runner import STUDY_COPY, read_results

        try:
            table, metadata = read_results(folder / "results.parquet")
        except pyarrow.ArrowException as exc:
            raise ValueError(f"results.parquet cannot be read: {exc}") from None
        study_file = folder / STUDY_COPY
        study = json.loads(study_file.read_text()) if study_file.exists() else {}
        if not isinstance(study, dict):
            raise ValueError(f"{STUDY_COPY} is not a study")
        columns = list(table.column_names)
        rows = [[_plain(row.get(c)) for c in columns] for row in table.slice(0, MAX_TABLE_ROWS).to_pylist()]
        return cls(name=folder.name, folder=folder, study=study, columns=columns, rows=rows, metadata=metadata)

    @property
    def title(self) -> str:
        """The study's name."""
        return str(self.study.get("name", self.name))

    def state(self, step: int | None = None) -> dict[str, Any]:
        """The study, its results (the first :data:`MAX_TABLE_ROWS` rows) and its files."""
        files = sorted(p.name for p in self.folder.iterdir() if p.suffix in FILE_SUFFIXES)
        return {
            "mode": "sweep",
            "title": self.title,
            "description": str(self.study.get("description", "")),
            "study": self.study,
            "metadata": self.metadata,
            "columns": self.columns,
            "rows": self.rows,
            "total_rows": self._total_rows(),
            "figures": [name for name in files if name.endswith(".png")],
            "files": files,
        }

    def _total_rows(self) -> int:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(self.folder / "results.parquet").metadata.num_rows)


def _plain(value: Any) -> Any:
    """A cell as JSON allows it (NaN and infinities become None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


Output = RunOutput | SweepOutput


def _load(folder: Path) -> Output | None:
    """The output in ``folder``, or None when it holds neither a run's nor a sweep's."""
    if (folder / "summary.json").is_file():
        return RunOutput.load(folder)
    if (folder / "results.parquet").is_file():
        return SweepOutput.load(folder)
    return None


def find_outputs(folder: Path, field: str = "DIR") -> tuple[dict[str, Output], dict[str, str]]:
    """The outputs in ``folder`` (itself, or else its subfolders) by name, and the subfolders that look like
    outputs but cannot be read, with the reason.

    Raises:
        ParameterError: naming ``field``, when ``folder`` is missing or holds no readable output.
    """
    if not folder.is_dir():
        reason = "is a file, not a folder" if folder.exists() else "no such folder"
        raise ParameterError(field, f"{str(folder)[:200]!r} {reason}")
    candidates = [folder]
    if not (folder / "summary.json").is_file() and not (folder / "results.parquet").is_file():
        try:
            candidates = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError as exc:
            raise ParameterError(field, f"cannot be read: {exc.strerror or exc}") from None
    found: dict[str, Output] = {}
    broken: dict[str, str] = {}
    for candidate in candidates:
        try:
            output = _load(candidate)
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            broken[candidate.name] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        if output is not None:
            found[output.name] = output
    if not found:
        if broken:
            name, reason = next(iter(broken.items()))
            raise ParameterError(field, f"{name}: not a readable output of qinternet run or sweep ({reason})")
        raise ParameterError(
            field,
            f"{str(folder)[:200]!r} holds no outputs of qinternet run (summary.json) or qinternet sweep "
            "(results.parquet), nor do its subfolders",
        )
    return found, broken
