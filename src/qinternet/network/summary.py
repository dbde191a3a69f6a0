"""What a run means, as typed records: per link, per demand and per node figures, and the time series.

Everything here is a pure function of a :class:`.simulate.NetworkRun` (and, for satellite passes and published
figures, of its built links). :class:`RunSummary` is what ``summary.json`` holds: :meth:`RunSummary.to_dict`
gives exactly that object, field for field and in that order; :mod:`qinternet.report` and the CLI read the
records' attributes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from qinternet.network.alarms import Alarm, AttackOutcome, attack_outcomes
from qinternet.network.published import PublishedComparison, compare_published
from qinternet.network.satellite import Orbit, earth_satellite
from qinternet.network.schema import NodeKind
from qinternet.network.simulate import F64, NetworkRun

if TYPE_CHECKING:
    from qinternet.network.entanglement_net import EntanglementRun
from qinternet.network.links.build import BuiltLink

__all__ = [
    "MET_TOLERANCE",
    "DemandSummary",
    "LinkSummary",
    "NodeSummary",
    "PassSummary",
    "PathUse",
    "PoolSummary",
    "RunSummary",
    "SatelliteMapPoint",
    "Totals",
    "demand_series",
    "link_series",
    "satellite_map_points",
    "satellite_passes",
    "summarise",
]

MET_TOLERANCE = 1e-9
"""Share of a demand's wanted key that may be missing at the end with the demand still met (float rounding of
the relay's progressive filling, :func:`qinternet.network.relay.serve`, which stops at a remainder of 1e-9)."""
TRACK_POINTS = 40
"""Points of a satellite's ground track drawn on the map (one pass)."""


def _json(record: Any) -> dict[str, Any]:
    """A record's fields as JSON-ready values (tuples become lists), in declaration order."""
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict() if hasattr(value, "to_dict") else _json(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    """The whole network over the run, bits."""

    secret_bits: float
    delivered_bits: float
    unmet_bits: float
    discarded_bits: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSummary:
    """One link over the run.

    Attributes:
        id, a, b, kind, model: the link as the scenario names it; ``via``: the entanglement source or the
            untrusted relay between ``a`` and ``b``, else None.
        secret_bits: key it made; mean_rate_bps: that over the run.
        expected_rate_bps: the analytic model's rate at the link's settings, or None.
        qber: key-weighted QBER over its blocks, None without detections.
        uptime: share of the run spent in blocks that gave key.
        blocks, aborted_blocks: blocks (passes) made, and those the finite-key bounds left without key.
        discarded_bits: key lost to a full pool; pool_bits_final/min/max: its pool.
    """

    id: str
    a: str
    b: str
    kind: str
    via: str | None
    model: str
    secret_bits: float
    mean_rate_bps: float
    expected_rate_bps: float | None
    qber: float | None
    uptime: float
    blocks: int
    aborted_blocks: int
    discarded_bits: float
    pool_bits_final: float
    pool_bits_min: float
    pool_bits_max: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PathUse:
    """Key a demand received over one path (the links in order)."""

    links: tuple[str, ...]
    bits: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DemandSummary:
    """One demand over the run (bits; ``met_fraction`` in [0, 1]; paths by the key they carried, most first).

    ``met``: whether the demand got all the key it asked for by the run's end (``unmet_bits`` at most
    :data:`MET_TOLERANCE` of ``wanted_bits``, the rounding of the relay's sums): a rate demand then had its rate
    over the run, a volume demand its volume.
    """

    id: str
    a: str
    b: str
    priority: int
    wanted_bits: float
    delivered_bits: float
    unmet_bits: float
    met_fraction: float
    met: bool
    mean_rate_bps: float
    paths: tuple[PathUse, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSummary:
    """The pool of one of a node's links, bits."""

    link: str
    final_bits: float
    mean_bits: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SatelliteMapPoint:
    """Where to draw a satellite: its sub-satellite point at ``utc`` and the ground track of that pass."""

    lat_deg: float
    lon_deg: float
    utc: str
    why: str
    track: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSummary:
    """One node: where it is and the pools of its links (``map``: satellites only, see :class:`SatelliteMapPoint`)."""

    id: str
    kind: str
    name: str
    lat_deg: float | None
    lon_deg: float | None
    pools: tuple[PoolSummary, ...]
    map: SatelliteMapPoint | None = None

    def to_dict(self) -> dict[str, Any]:
        """As in ``summary.json``: ``map`` only where there is one."""
        data = _json(self)
        if self.map is None:
            del data["map"]
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class PassSummary:
    """One satellite pass as the run saw it (see :func:`satellite_passes`)."""

    link: str
    station: str
    start_utc: str
    start_s: float
    duration_s: float
    max_elevation_deg: float
    min_range_km: float | None
    min_loss_db: float | None
    key_bits: float
    mean_rate_bps: float
    qber: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """What a run means (``summary.json`` without the wall time): see :meth:`to_dict`.

    ``passes`` is None, and the published figures carry no simulated value, when the summary was made
    without the run's links (:func:`summarise` with ``links=None``). ``alarms`` are the operator's view of
    the links (:mod:`.alarms`); ``attacks`` the ground truth of the scenario's attacks, each with whether it
    was detected, the key it cost and the key it compromised.
    """

    scenario: str
    description: str
    seed: int
    start_utc: str
    duration_s: float
    step_s: float | None
    totals: Totals
    links: tuple[LinkSummary, ...]
    demands: tuple[DemandSummary, ...]
    nodes: tuple[NodeSummary, ...]
    published: tuple[PublishedComparison, ...]
    sources: tuple[str, ...]
    passes: tuple[PassSummary, ...] | None = None
    entanglement: tuple[dict[str, Any], ...] | None = None
    memory_occupancy: dict[str, float] | None = None
    applications: tuple[dict[str, Any], ...] | None = None
    alarms: tuple[Alarm, ...] = ()
    attacks: tuple[AttackOutcome, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``summary.json`` (less ``wall_s``), fields in this order; ``passes``,
        ``entanglement``, ``memory_occupancy``, ``applications`` and ``attacks`` only where the scenario has
        them (``alarms``, what the links' monitors raised, is always there)."""
        data = _json(self)
        for optional in ("passes", "entanglement", "memory_occupancy", "applications", "attacks"):
            if getattr(self, optional) is None:
                del data[optional]
        return data

    def link(self, link_id: str) -> LinkSummary:
        """The summary of the link ``link_id``."""
        return next(link for link in self.links if link.id == link_id)

    def demand(self, demand_id: str) -> DemandSummary:
        """The summary of the demand ``demand_id``."""
        return next(d for d in self.demands if d.id == demand_id)


def _mean_qber(run: NetworkRun, link: int) -> float | None:
    blocks = [b for b in run.blocks[link] if b.sifted_bits > 0 and not math.isnan(b.qber)]
    sifted = sum(b.sifted_bits for b in blocks)
    if sifted <= 0:
        return None
    return sum(b.qber * b.sifted_bits for b in blocks) / sifted


def _link_summaries(run: NetworkRun, expected_rate_bps: Sequence[float | None] | None) -> tuple[LinkSummary, ...]:
    duration = float(run.times_s[-1]) if run.times_s.size else 0.0
    rows = []
    for i, spec in enumerate(run.scenario.links):
        blocks = run.blocks[i]
        secret = float(run.generated_bits[-1, i]) if run.times_s.size else 0.0
        productive = sum(b.duration_s for b in blocks if b.key_bits > 0)
        rows.append(
            LinkSummary(
                id=spec.id,
                a=spec.a,
                b=spec.b,
                kind=spec.kind.value,
                via=spec.via,
                model=spec.model.value,
                secret_bits=secret,
                mean_rate_bps=secret / duration if duration > 0 else 0.0,
                expected_rate_bps=None if expected_rate_bps is None else expected_rate_bps[i],
                qber=_mean_qber(run, i),
                uptime=min(1.0, productive / duration) if duration > 0 else 0.0,
                blocks=len(blocks),
                aborted_blocks=sum(b.aborted for b in blocks),
                discarded_bits=float(run.discarded_bits[i]),
                pool_bits_final=float(run.pool_bits[-1, i]),
                pool_bits_min=float(run.pool_bits[:, i].min()),
                pool_bits_max=float(run.pool_bits[:, i].max()),
            )
        )
    return tuple(rows)


def _demand_summaries(run: NetworkRun) -> tuple[DemandSummary, ...]:
    duration = float(run.times_s[-1]) if run.times_s.size else 0.0
    rows = []
    for j, demand in enumerate(run.scenario.demands):
        wanted = float(run.wanted_bits[-1, j])
        delivered = float(run.delivered_bits[-1, j])
        paths = sorted(run.paths[j].items(), key=lambda item: -item[1])
        unmet = max(0.0, wanted - delivered)
        rows.append(
            DemandSummary(
                id=demand.id,
                a=demand.a,
                b=demand.b,
                priority=demand.priority,
                wanted_bits=wanted,
                delivered_bits=delivered,
                unmet_bits=unmet,
                met_fraction=delivered / wanted if wanted > 0 else 1.0,
                met=unmet <= MET_TOLERANCE * wanted,
                mean_rate_bps=delivered / duration if duration > 0 else 0.0,
                paths=tuple(PathUse(links=tuple(path), bits=bits) for path, bits in paths),
            )
        )
    return tuple(rows)


def _node_summaries(run: NetworkRun, points: dict[str, SatelliteMapPoint]) -> tuple[NodeSummary, ...]:
    scenario = run.scenario
    rows = []
    for node in scenario.nodes:
        own = [i for i, spec in enumerate(scenario.links) if node.id in (spec.a, spec.b)]
        rows.append(
            NodeSummary(
                id=node.id,
                kind=node.kind.value,
                name=node.label,
                lat_deg=node.lat_deg,
                lon_deg=node.lon_deg,
                pools=tuple(
                    PoolSummary(
                        link=scenario.links[i].id,
                        final_bits=float(run.pool_bits[-1, i]),
                        mean_bits=float(run.pool_bits[:, i].mean()),
                    )
                    for i in own
                ),
                map=points.get(node.id),
            )
        )
    return tuple(rows)


def summarise(
    run: NetworkRun,
    *,
    expected_rate_bps: Sequence[float | None] | None = None,
    links: Sequence[BuiltLink] | None = None,
    entanglement: EntanglementRun | None = None,
) -> RunSummary:
    """The run's summary (``summary.json``: :meth:`RunSummary.to_dict`).

    Args:
        run: the run.
        expected_rate_bps: per link, the rate of the analytic model at the link's settings (shown beside
            the simulated mean), or None.
        links: the run's links; when given, the summary also holds what only they know: satellite passes
            (:func:`satellite_passes`), where to draw satellites (:func:`satellite_map_points`), and the
            run's value of each published figure (:func:`qinternet.network.published.compare_published`).
        entanglement: the requests served over memory links (:mod:`.entanglement_net`), or None: the summary's
            ``entanglement`` (per request: pairs, fidelity, latency, path) and ``memory_occupancy`` (per node).
    """
    scenario = run.scenario
    duration = float(run.times_s[-1]) if run.times_s.size else 0.0
    have = bool(run.times_s.size)
    totals = Totals(
        secret_bits=float(run.generated_bits[-1].sum()) if have else 0.0,
        delivered_bits=float(run.delivered_bits[-1].sum()) if have else 0.0,
        unmet_bits=float(np.maximum(run.wanted_bits[-1] - run.delivered_bits[-1], 0.0).sum()) if have else 0.0,
        discarded_bits=float(run.discarded_bits.sum()),
    )
    link_rows = _link_summaries(run, expected_rate_bps)
    points = {} if links is None else satellite_map_points(run, links)
    summary = RunSummary(
        scenario=scenario.name,
        description=scenario.description,
        seed=scenario.seed,
        start_utc=scenario.time.start.isoformat(),
        duration_s=duration,
        step_s=float(run.times_s[0]) if have else None,
        totals=totals,
        links=link_rows,
        demands=_demand_summaries(run),
        nodes=_node_summaries(run, points),
        published=(),
        sources=tuple(scenario.sources),
        passes=None if links is None else satellite_passes(run, links),
        entanglement=None if entanglement is None else entanglement.rows(),
        memory_occupancy=None if entanglement is None else dict(entanglement.occupancy),
        alarms=tuple(run.alarms),
        attacks=None
        if not scenario.attacks
        else attack_outcomes(
            scenario.attacks,
            [spec.id for spec in scenario.links],
            run.blocks,
            [None] * len(scenario.links) if links is None else [link.baseline for link in links],
            run.alarms,
            duration,
        ),
    )
    return dataclasses.replace(summary, published=compare_published(scenario, run, summary, links))


def satellite_passes(run: NetworkRun, links: Sequence[BuiltLink]) -> tuple[PassSummary, ...]:
    """Every pass of every downlink, in time order: when, how high, how lossy, and the key it gave in the run.

    Per pass: ``link``, ``station``, ``start_utc``, ``start_s`` (from the run's start), ``duration_s``,
    ``max_elevation_deg``, ``min_range_km`` and ``min_loss_db`` (of the samples, i.e. near culmination),
    ``key_bits`` (the run's: drawn around the expectation with ``model: monte-carlo``), ``mean_rate_bps``
    (key over the pass's duration), ``qber``. A pass that ends after the run's last step has no key and is
    left out.
    """
    start = run.scenario.time.start
    rows: list[PassSummary] = []
    for i, (spec, link) in enumerate(zip(run.scenario.links, links, strict=True)):
        if link.pass_schedule is None:
            continue
        for record, block in zip(link.pass_schedule.passes, run.blocks[i], strict=False):
            duration = record.end_s - record.start_s
            rows.append(
                PassSummary(
                    link=spec.id,
                    station=link.pass_schedule.station.name,
                    start_utc=(start + timedelta(seconds=record.start_s)).isoformat(),
                    start_s=record.start_s,
                    duration_s=duration,
                    max_elevation_deg=record.max_elevation_deg,
                    min_range_km=float(record.range_km.min()) if record.range_km.size else None,
                    min_loss_db=float(record.loss_db.min()) if record.loss_db.size else None,
                    key_bits=float(block.key_bits),
                    mean_rate_bps=block.key_bits / duration if duration > 0 else 0.0,
                    qber=None if math.isnan(block.qber) else block.qber,
                )
            )
    return tuple(sorted(rows, key=lambda row: (row.start_s, row.link)))


def satellite_map_points(run: NetworkRun, links: Sequence[BuiltLink]) -> dict[str, SatelliteMapPoint]:
    """Where to draw each satellite on a map: its sub-satellite point at the culmination of its best pass.

    The best pass is the one with most key in the run (ties: the highest); a satellite without passes is
    drawn where it is at the run's start. Per satellite node: ``lat_deg``, ``lon_deg``, ``utc``, ``why``
    (the pass it is drawn at) and ``track`` (``[lat_deg, lon_deg]`` pairs: the ground track during that
    pass, longitudes unwrapped so that a track across the antimeridian stays one line).
    """

    from qinternet.network.links.dual_downlink import DualDownlinkEngine
    from qinternet.network.links.photonic_teleportation import PhotonicTeleportationEngine

    found: dict[str, tuple[tuple[float, float], Any, Any, str]] = {}
    joint: dict[str, tuple[float, DualDownlinkEngine, float | None, str]] = {}
    uplinks: dict[str, tuple[Orbit, float | None, str]] = {}
    for i, (spec, link) in enumerate(zip(run.scenario.links, links, strict=True)):
        if isinstance(link.engine, PhotonicTeleportationEngine) and link.engine.orbit is not None:
            uplinks.setdefault(spec.b, (link.engine.orbit, link.engine.peak_s, spec.id))
        if isinstance(link.engine, DualDownlinkEngine):  # a pair source: drawn where both stations saw it best
            source = getattr(spec, "source", "")
            joint.setdefault(source, (-1.0, link.engine, None, spec.id))
            for jp, block in zip(link.engine.passes, run.blocks[i], strict=False):
                if float(block.key_bits) + jp.sifted * 1e-9 > joint[source][0]:
                    peak = float(jp.times_s[int(np.argmin(jp.range_a_km + jp.range_b_km))])
                    joint[source] = (float(block.key_bits) + jp.sifted * 1e-9, link.engine, peak, spec.id)
        engine = link.pass_schedule
        if engine is None:
            continue
        node = spec.a if run.scenario.node(spec.a).kind is NodeKind.SATELLITE else spec.b
        found.setdefault(node, ((-1.0, -math.inf), engine, None, spec.id))
        for record, block in zip(engine.passes, run.blocks[i], strict=False):
            rank = (float(block.key_bits), record.max_elevation_deg)
            if rank > found[node][0] and record.times_s.size:
                found[node] = (rank, engine, record, spec.id)
    points: dict[str, SatelliteMapPoint] = {}
    for node, (_, pair_engine, peak_s, link_id) in joint.items():
        if node in found:
            continue
        when = 0.0 if peak_s is None else peak_s
        why = "at the run's start (no joint pass)" if peak_s is None else f"closest to both stations ({link_id})"
        points[node] = _sub_satellite_point(run, pair_engine.orbit, None, when, why)
    for node, (orbit, peak_s, link_id) in uplinks.items():
        if node in found or node in points:
            continue
        why = "at the run's start (no pass)" if peak_s is None else f"closest to the sender ({link_id})"
        points[node] = _sub_satellite_point(run, orbit, None, 0.0 if peak_s is None else peak_s, why)
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
        points[node] = _sub_satellite_point(run, engine.orbit, None if record is None else times, peak, why)
    return points


def _sub_satellite_point(
    run: NetworkRun, orbit: Orbit, track_s: F64 | None, peak_s: float, why: str
) -> SatelliteMapPoint:
    """The satellite's sub-satellite point at ``peak_s`` (seconds from the start) and its ground track at
    ``track_s`` (none when None), longitudes unwrapped along the track."""
    from skyfield.api import wgs84

    times = np.array([0.0]) if track_s is None else track_s
    satellite = earth_satellite(orbit)
    origin = run.scenario.time.start
    seconds = origin.second + origin.microsecond * 1e-6 + np.append(times, peak_s)
    t = satellite.epoch.ts.utc(origin.year, origin.month, origin.day, origin.hour, origin.minute, seconds)
    lat, lon = wgs84.latlon_of(satellite.at(t))
    lon_deg = np.degrees(np.unwrap(lon.radians))
    lon_deg += (lon_deg[-1] + 180.0) % 360.0 - 180.0 - lon_deg[-1]  # the point in [-180, 180), the track with it
    lat_deg = lat.degrees
    return SatelliteMapPoint(
        lat_deg=float(lat_deg[-1]),
        lon_deg=float(lon_deg[-1]),
        utc=(origin + timedelta(seconds=peak_s)).isoformat(),
        why=why,
        track=()
        if track_s is None
        else tuple((float(a), float(b)) for a, b in zip(lat_deg[:-1], lon_deg[:-1], strict=True)),
    )


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
