"""What a run means, as plain data: per link, per demand and per node figures, and the time series.

Everything here is a pure function of a :class:`.simulate.NetworkRun`; :mod:`qinternet.report` and the
CLI write it out (JSON, CSV, HTML).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from qinternet.network.published import compare_published
from qinternet.network.satellite import earth_satellite
from qinternet.network.schema import NodeKind
from qinternet.network.simulate import F64, NetworkRun

if TYPE_CHECKING:
    from qinternet.network.engines import BuiltLink

__all__ = [
    "demand_series",
    "extend_summary",
    "link_series",
    "satellite_map_points",
    "satellite_passes",
    "summarise",
]

TRACK_POINTS = 40
"""Points of a satellite's ground track drawn on the map (one pass)."""


def _mean_qber(run: NetworkRun, link: int) -> float | None:
    blocks = [b for b in run.blocks[link] if b.sifted_bits > 0 and not math.isnan(b.qber)]
    sifted = sum(b.sifted_bits for b in blocks)
    if sifted <= 0:
        return None
    return sum(b.qber * b.sifted_bits for b in blocks) / sifted


def summarise(
    run: NetworkRun,
    *,
    expected_rate_bps: list[float | None] | None = None,
    links: Sequence[BuiltLink] | None = None,
) -> dict[str, Any]:
    """The run's summary (``summary.json``).

    Args:
        run: the run.
        expected_rate_bps: per link, the rate of the analytic model at the link's settings (shown beside
            the simulated mean), or None.
        links: the run's links; when given, the summary also holds what only they know
            (:func:`extend_summary`: satellite passes, where to draw satellites, published vs simulated).

    Per link: its ends (``a``, ``b``; ``via``: the entanglement source between them, else None), secret
    bits, mean rate over the run, key-weighted QBER, uptime (share of the run's time
    spent in blocks that gave key), blocks and aborted blocks, discarded bits, final/min/max pool. Per
    demand: wanted, delivered, unmet, share met, paths used. Per node: the pools of its links.
    """
    scenario = run.scenario
    duration = float(run.times_s[-1]) if run.times_s.size else 0.0
    link_rows = []
    for i, spec in enumerate(scenario.links):
        blocks = run.blocks[i]
        secret = float(run.generated_bits[-1, i]) if run.times_s.size else 0.0
        productive = sum(b.duration_s for b in blocks if b.key_bits > 0)
        link_rows.append(
            {
                "id": spec.id,
                "a": spec.a,
                "b": spec.b,
                "kind": spec.kind.value,
                "via": spec.source,
                "model": spec.model.value,
                "secret_bits": secret,
                "mean_rate_bps": secret / duration if duration > 0 else 0.0,
                "expected_rate_bps": None if expected_rate_bps is None else expected_rate_bps[i],
                "qber": _mean_qber(run, i),
                "uptime": min(1.0, productive / duration) if duration > 0 else 0.0,
                "blocks": len(blocks),
                "aborted_blocks": sum(b.aborted for b in blocks),
                "discarded_bits": float(run.discarded_bits[i]),
                "pool_bits_final": float(run.pool_bits[-1, i]),
                "pool_bits_min": float(run.pool_bits[:, i].min()),
                "pool_bits_max": float(run.pool_bits[:, i].max()),
            }
        )
    demands = []
    for j, demand in enumerate(scenario.demands):
        wanted = float(run.wanted_bits[-1, j])
        delivered = float(run.delivered_bits[-1, j])
        paths = sorted(run.paths[j].items(), key=lambda item: -item[1])
        demands.append(
            {
                "id": demand.id,
                "a": demand.a,
                "b": demand.b,
                "priority": demand.priority,
                "wanted_bits": wanted,
                "delivered_bits": delivered,
                "unmet_bits": max(0.0, wanted - delivered),
                "met_fraction": delivered / wanted if wanted > 0 else 1.0,
                "mean_rate_bps": delivered / duration if duration > 0 else 0.0,
                "paths": [{"links": list(path), "bits": bits} for path, bits in paths],
            }
        )
    nodes = []
    for node in scenario.nodes:
        own = [i for i, spec in enumerate(scenario.links) if node.id in (spec.a, spec.b)]
        nodes.append(
            {
                "id": node.id,
                "kind": node.kind.value,
                "name": node.label,
                "lat_deg": node.lat_deg,
                "lon_deg": node.lon_deg,
                "pools": [
                    {
                        "link": scenario.links[i].id,
                        "final_bits": float(run.pool_bits[-1, i]),
                        "mean_bits": float(run.pool_bits[:, i].mean()),
                    }
                    for i in own
                ],
            }
        )
    summary = {
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": scenario.seed,
        "start_utc": scenario.time.start.isoformat(),
        "duration_s": duration,
        "step_s": float(run.times_s[0]) if run.times_s.size else None,
        "totals": {
            "secret_bits": float(run.generated_bits[-1].sum()) if run.times_s.size else 0.0,
            "delivered_bits": float(run.delivered_bits[-1].sum()) if run.times_s.size else 0.0,
            "unmet_bits": float(np.maximum(run.wanted_bits[-1] - run.delivered_bits[-1], 0.0).sum())
            if run.times_s.size
            else 0.0,
            "discarded_bits": float(run.discarded_bits.sum()),
        },
        "links": link_rows,
        "demands": demands,
        "nodes": nodes,
        "published": [p.model_dump() for p in scenario.published],
        "sources": list(scenario.sources),
    }
    return summary if links is None else extend_summary(summary, run, links)


def extend_summary(summary: dict[str, Any], run: NetworkRun, links: Sequence[BuiltLink]) -> dict[str, Any]:
    """A copy of ``summary`` with what the links know (every existing field is kept as it is).

    Adds ``passes`` (:func:`satellite_passes`), ``map`` to each satellite node (:func:`satellite_map_points`)
    and, to each published figure, ``simulated``, ``simulated_unit`` and ``simulated_how``
    (:func:`qinternet.network.published.compare_published`).
    """
    points = satellite_map_points(run, links)
    nodes = [node | ({"map": points[node["id"]]} if node["id"] in points else {}) for node in summary["nodes"]]
    return summary | {
        "nodes": nodes,
        "passes": satellite_passes(run, links),
        "published": compare_published(run.scenario, run, summary, links),
    }


def satellite_passes(run: NetworkRun, links: Sequence[BuiltLink]) -> list[dict[str, Any]]:
    """Every pass of every downlink, in time order: when, how high, how lossy, and the key it gave in the run.

    Per pass: ``link``, ``station``, ``start_utc``, ``start_s`` (from the run's start), ``duration_s``,
    ``max_elevation_deg``, ``min_range_km`` and ``min_loss_db`` (of the samples, i.e. near culmination),
    ``key_bits`` (the run's: drawn around the expectation with ``model: monte-carlo``), ``mean_rate_bps``
    (key over the pass's duration), ``qber``. A pass that ends after the run's last step has no key and is
    left out.
    """
    start = run.scenario.time.start
    rows = []
    for i, (spec, link) in enumerate(zip(run.scenario.links, links, strict=True)):
        if link.satellite is None:
            continue
        for record, block in zip(link.satellite.passes, run.blocks[i], strict=False):
            duration = record.end_s - record.start_s
            rows.append(
                {
                    "link": spec.id,
                    "station": link.satellite.station.name,
                    "start_utc": (start + timedelta(seconds=record.start_s)).isoformat(),
                    "start_s": record.start_s,
                    "duration_s": duration,
                    "max_elevation_deg": record.max_elevation_deg,
                    "min_range_km": float(record.range_km.min()) if record.range_km.size else None,
                    "min_loss_db": float(record.loss_db.min()) if record.loss_db.size else None,
                    "key_bits": float(block.key_bits),
                    "mean_rate_bps": block.key_bits / duration if duration > 0 else 0.0,
                    "qber": None if math.isnan(block.qber) else block.qber,
                }
            )
    return sorted(rows, key=lambda row: (row["start_s"], row["link"]))


def satellite_map_points(run: NetworkRun, links: Sequence[BuiltLink]) -> dict[str, dict[str, Any]]:
    """Where to draw each satellite on a map: its sub-satellite point at the culmination of its best pass.

    The best pass is the one with most key in the run (ties: the highest); a satellite without passes is
    drawn where it is at the run's start. Per satellite node: ``lat_deg``, ``lon_deg``, ``utc``, ``why``
    (the pass it is drawn at) and ``track`` (``[lat_deg, lon_deg]`` pairs: the ground track during that
    pass, longitudes unwrapped so that a track across the antimeridian stays one line).
    """
    from skyfield.api import wgs84

    found: dict[str, tuple[tuple[float, float], Any, Any, str]] = {}
    for i, (spec, link) in enumerate(zip(run.scenario.links, links, strict=True)):
        engine = link.satellite
        if engine is None:
            continue
        node = spec.a if run.scenario.node(spec.a).kind is NodeKind.SATELLITE else spec.b
        found.setdefault(node, ((-1.0, -math.inf), engine, None, spec.id))
        for record, block in zip(engine.passes, run.blocks[i], strict=False):
            rank = (float(block.key_bits), record.max_elevation_deg)
            if rank > found[node][0] and record.times_s.size:
                found[node] = (rank, engine, record, spec.id)
    points = {}
    for node, (_, engine, record, link_id) in found.items():
        if record is None:
            times = np.array([0.0])
            peak = 0.0
            why = "at the run's start (no pass in the run)"
        else:
            step = max(1, record.times_s.size // TRACK_POINTS)
            times = np.unique(np.append(record.times_s[::step], record.times_s[-1]))
            peak = float(record.times_s[int(np.argmax(record.elevation_deg))])
            why = f"culmination of its best pass ({link_id}, {record.max_elevation_deg:.0f} deg)"
        satellite = earth_satellite(engine.orbit)
        origin = run.scenario.time.start
        seconds = origin.second + origin.microsecond * 1e-6 + np.append(times, peak)
        t = satellite.epoch.ts.utc(origin.year, origin.month, origin.day, origin.hour, origin.minute, seconds)
        lat, lon = wgs84.latlon_of(satellite.at(t))
        lon_deg = np.degrees(np.unwrap(lon.radians))
        lon_deg += (lon_deg[-1] + 180.0) % 360.0 - 180.0 - lon_deg[-1]  # the point in [-180, 180), the track with it
        lat_deg = lat.degrees
        points[node] = {
            "lat_deg": float(lat_deg[-1]),
            "lon_deg": float(lon_deg[-1]),
            "utc": (origin + timedelta(seconds=peak)).isoformat(),
            "why": why,
            "track": []
            if record is None
            else [[float(a), float(b)] for a, b in zip(lat_deg[:-1], lon_deg[:-1], strict=True)],
        }
    return points


def _long_format(
    run: NetworkRun, key: str, ids: list[str], columns: tuple[str, str], first: F64, second: F64
) -> tuple[list[str], NDArray[np.object_]]:
    """Rows ``time_s, <key>, <columns>`` for every instant and id, time-major."""
    t, n = run.times_s.size, len(ids)
    rows = np.empty((t * n, 4), dtype=object)
    rows[:, 0] = np.repeat(run.times_s, n)
    rows[:, 1] = np.tile(np.array(ids, dtype=object), t)
    rows[:, 2] = first.reshape(-1)
    rows[:, 3] = second.reshape(-1)
    return ["time_s", key, *columns], rows


def link_series(run: NetworkRun) -> tuple[list[str], NDArray[np.object_]]:
    """Long-format rows ``time_s, link, pool_bits, generated_bits`` (``links.csv``)."""
    ids = [spec.id for spec in run.scenario.links]
    return _long_format(run, "link", ids, ("pool_bits", "generated_bits"), run.pool_bits, run.generated_bits)


def demand_series(run: NetworkRun) -> tuple[list[str], NDArray[np.object_]]:
    """Long-format rows ``time_s, demand, wanted_bits, delivered_bits`` (``demands.csv``)."""
    ids = [spec.id for spec in run.scenario.demands]
    return _long_format(run, "demand", ids, ("wanted_bits", "delivered_bits"), run.wanted_bits, run.delivered_bits)
