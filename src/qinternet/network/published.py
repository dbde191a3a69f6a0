"""The simulated value of each published figure a scenario lists, where the run has the same quantity.

A scenario's ``published:`` entries are free text (``quantity``, ``value``, ``unit``). This module knows,
for the quantities the built-in scenarios publish, which quantity of a run is the same one: the table
:data:`COMPARISONS`, written from the comparisons that ``tests/validation/`` makes (e.g. Micius's key in the
273 s around culmination, Liao et al., Nature 549, 43 (2017); the Beijing-Shanghai fibre route, Chen et al.,
Nature 589, 214 (2021)). A quantity it does not know, or one whose nodes or links the scenario lacks, is
"not simulated": nothing is guessed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from qinternet.errors import ParameterError
from qinternet.network.links.entanglement import EntanglementLinkSpec
from qinternet.network.schema import FibreLinkSpec, LinkKind, NodeKind, Scenario
from qinternet.network.simulate import NetworkRun

if TYPE_CHECKING:
    from qinternet.network.links.build import BuiltLink
    from qinternet.network.summary import RunSummary

__all__ = ["COMPARISONS", "PublishedComparison", "Simulated", "compare_published", "great_circle_km"]

EARTH_RADIUS_KM = 6371.0
"""Mean Earth radius for great-circle distances (IUGG mean radius, as in tests/validation)."""


def great_circle_km(lat1_deg: float, lon1_deg: float, lat2_deg: float, lon2_deg: float) -> float:
    """Great-circle distance between two points on a sphere of :data:`EARTH_RADIUS_KM` (haversine formula).

    >>> round(great_circle_km(0.0, 0.0, 0.0, 1.0), 1)  # one degree of the equator
    111.2
    """
    lat1, lon1, lat2, lon2 = map(math.radians, (lat1_deg, lon1_deg, lat2_deg, lon2_deg))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@dataclass(frozen=True, slots=True, kw_only=True)
class Simulated:
    """A run's value of a published quantity.

    Attributes:
        value: the value in ``unit``.
        unit: ``km``, ``bit``, ``bit/s``, ``dB``, ``fraction`` or ``""`` (a count).
        how: what was taken from the run, in a few words.
    """

    value: float
    unit: str
    how: str


@dataclass(frozen=True, slots=True)
class _Run:
    scenario: Scenario
    run: NetworkRun
    summary: RunSummary
    links: Sequence[BuiltLink] | None


Metric = Callable[[_Run], Simulated | None]


def _fibre_graph(scenario: Scenario) -> nx.Graph[str]:
    graph: nx.Graph[str] = nx.Graph()
    for link in scenario.links:
        if isinstance(link, FibreLinkSpec):
            graph.add_edge(link.a, link.b, length_km=link.length_km)
    return graph


def _route_km(scenario: Scenario, a: str, b: str) -> tuple[float, int] | None:
    graph = _fibre_graph(scenario)
    if a not in graph or b not in graph or not nx.has_path(graph, a, b):
        return None
    path = nx.shortest_path(graph, a, b, weight="length_km")
    return float(nx.path_weight(graph, path, weight="length_km")), len(path) - 1


def fibre_route(a: str, b: str) -> Metric:
    """Length of the shortest fibre route between nodes ``a`` and ``b``."""

    def metric(ctx: _Run) -> Simulated | None:
        route = _route_km(ctx.scenario, a, b)
        if route is None:
            return None
        length, hops = route
        return Simulated(value=length, unit="km", how=f"fibre route {a} - {b}, {hops} links")

    return metric


def _arc_km(scenario: Scenario, a: str, b: str) -> float | None:
    """Great circle between nodes ``a`` and ``b``, or None if either is missing or has no coordinates."""
    if not {a, b} <= {n.id for n in scenario.nodes}:
        return None
    first, second = scenario.node(a), scenario.node(b)
    if first.lat_deg is None or first.lon_deg is None or second.lat_deg is None or second.lon_deg is None:
        return None
    return great_circle_km(first.lat_deg, first.lon_deg, second.lat_deg, second.lon_deg)


def great_circle_then_fibre(a: str, b: str, c: str) -> Metric:
    """Great circle from ``a`` to ``b`` (a free-space hop) plus the fibre route from ``b`` to ``c``."""

    def metric(ctx: _Run) -> Simulated | None:
        arc, route = _arc_km(ctx.scenario, a, b), _route_km(ctx.scenario, b, c)
        if arc is None or route is None:
            return None
        return Simulated(
            value=arc + route[0], unit="km", how=f"great circle {a} - {b} ({arc:.0f} km) + fibre route {b} - {c}"
        )

    return metric


def source_arms(link_id: str) -> Metric:
    """Fibre of an entanglement link: its two arms from the source, added."""

    def metric(ctx: _Run) -> Simulated | None:
        link = next((spec for spec in ctx.scenario.links if spec.id == link_id), None)
        if not isinstance(link, EntanglementLinkSpec):
            return None
        return Simulated(
            value=link.length_a_km + link.length_b_km, unit="km", how=f"{link_id}: both arms from the source"
        )

    return metric


def great_circle(a: str, b: str) -> Metric:
    """Great-circle distance between nodes ``a`` and ``b`` (their coordinates)."""

    def metric(ctx: _Run) -> Simulated | None:
        arc = _arc_km(ctx.scenario, a, b)
        return None if arc is None else Simulated(value=arc, unit="km", how=f"great circle {a} - {b}")

    return metric


def node_count(kind: NodeKind) -> Metric:
    """How many nodes of ``kind`` the scenario has."""

    def metric(ctx: _Run) -> Simulated:
        count = sum(n.kind is kind for n in ctx.scenario.nodes)
        return Simulated(value=count, unit="", how=f"{kind.value} nodes in the scenario")

    return metric


def relaying_nodes(ctx: _Run) -> Simulated:
    """How many nodes may relay key (trusted nodes)."""
    count = sum(n.relays_key for n in ctx.scenario.nodes)
    return Simulated(value=count, unit="", how="nodes that relay key (trusted) in the scenario")


def link_count(kind: LinkKind) -> Metric:
    """How many links of ``kind`` the scenario has."""

    def metric(ctx: _Run) -> Simulated:
        count = sum(link.kind is kind for link in ctx.scenario.links)
        return Simulated(value=count, unit="", how=f"{kind.value} links in the scenario")

    return metric


def user_pairs_with_key(ctx: _Run) -> Simulated:
    """How many pairs of users got key from a link of their own during the run."""
    users = {n.id for n in ctx.scenario.nodes if n.kind is NodeKind.USER}
    pairs = {
        frozenset((link.a, link.b))
        for link in ctx.summary.links
        if link.a in users and link.b in users and link.secret_bits > 0
    }
    return Simulated(value=len(pairs), unit="", how="user pairs whose own link made key in this run")


def typical_pass_rate(ctx: _Run) -> Simulated | None:
    """Median, over the satellite passes that gave key, of a pass's key over its duration."""
    from qinternet.network.summary import satellite_passes

    if ctx.links is None:
        return None
    rates = [p.mean_rate_bps for p in satellite_passes(ctx.run, ctx.links) if p.key_bits > 0]
    if not rates:
        return None
    return Simulated(
        value=statistics.median(rates),
        unit="bit/s",
        how=f"median over the {len(rates)} passes with key (best {max(rates):.3g} bit/s)",
    )


def best_pass_key(link_id: str | None = None) -> Metric:
    """Key of the satellite pass that gave the most, over all downlinks (or only ``link_id``'s)."""

    def metric(ctx: _Run) -> Simulated | None:
        from qinternet.network.summary import satellite_passes

        if ctx.links is None:
            return None
        passes = [p for p in satellite_passes(ctx.run, ctx.links) if link_id is None or p.link == link_id]
        if not passes or max(p.key_bits for p in passes) <= 0:
            return None
        best = max(passes, key=lambda p: p.key_bits)
        how = f"best of {len(passes)} passes: {best.link} at {best.max_elevation_deg:.0f} deg ({best.start_utc[:16]})"
        return Simulated(value=float(best.key_bits), unit="bit", how=how)

    return metric


def _best_pass_window(
    ctx: _Run, link_id: str, window_s: float, culmination_km: float
) -> tuple[int, float, float] | None:
    """Key (bit), QBER and closest range of the ``window_s`` around culmination of the link's pass with key
    whose culmination is nearest ``culmination_km``."""
    index = next((i for i, spec in enumerate(ctx.scenario.links) if spec.id == link_id), None)
    if index is None or ctx.links is None or ctx.links[index].pass_schedule is None:
        return None
    engine = ctx.links[index].pass_schedule
    assert engine is not None
    with_key = [p for p in engine.passes if p.key_bits > 0 and p.times_s.size]
    if not with_key:
        return None
    best = min(with_key, key=lambda p: abs(float(p.range_km.min()) - culmination_km))
    centre = best.times_s[int(np.argmin(best.range_km))]
    window = np.abs(best.times_s - centre) <= window_s / 2
    counts = engine.counts(best.loss_db[window], engine.sample_s)
    sifted = sum(counts.key_detections)
    return engine.key_bits(counts), sum(counts.key_errors) / sifted if sifted else math.nan, float(best.range_km.min())


def window_key(link_id: str, window_s: float, culmination_km: float, *, as_rate: bool) -> Metric:
    """Key (or key rate) of ``link_id`` in the ``window_s`` around the culmination of one of its passes.

    As ``tests/validation/test_micius.py`` compares with Liao et al. (2017): the pass with key whose
    culmination is nearest ``culmination_km`` (the published pass's), expected counts of the window,
    Lim et al.'s finite-key length. That key is of the Z basis only (Liao et al. distil from both bases).
    """

    def metric(ctx: _Run) -> Simulated | None:
        found = _best_pass_window(ctx, link_id, window_s, culmination_km)
        if found is None:
            return None
        key, _, closest = found
        how = (
            f"{link_id}: {window_s:g} s around the culmination ({closest:.0f} km) of the pass nearest "
            f"{culmination_km:g} km; Z-basis key only (the paper's is from both bases)"
        )
        return Simulated(value=key / window_s if as_rate else key, unit="bit/s" if as_rate else "bit", how=how)

    return metric


def link_qber(link_id: str) -> Metric:
    """The link's QBER over the run (key-weighted over its blocks or passes)."""

    def metric(ctx: _Run) -> Simulated | None:
        link = next((link for link in ctx.summary.links if link.id == link_id), None)
        if link is None or link.qber is None:
            return None
        return Simulated(value=link.qber, unit="fraction", how=f"{link_id}, over all its passes in this run")

    return metric


def loss_at_range(link_id: str, range_km: float) -> Metric:
    """The downlink's channel loss at ``range_km``: its model at the elevation of that range (circular orbits)."""

    def metric(ctx: _Run) -> Simulated | None:
        from qinternet.network.links.free_space import downlink_loss_db
        from qinternet.physics.freespace import elevation_deg_from_range

        index = next((i for i, spec in enumerate(ctx.scenario.links) if spec.id == link_id), None)
        if index is None or ctx.links is None or ctx.links[index].pass_schedule is None:
            return None
        engine = ctx.links[index].pass_schedule
        assert engine is not None
        if engine.orbit.altitude_km is None:
            return None
        ranges = np.array([range_km])
        try:
            elevation = elevation_deg_from_range(ranges, engine.orbit.altitude_km, engine.station.altitude_m / 1e3)
        except ParameterError:
            return None
        loss = float(downlink_loss_db(engine.optics, ranges, elevation)[0])
        return Simulated(value=loss, unit="dB", how=f"{link_id}'s model at {range_km:g} km ({elevation[0]:.0f} deg)")

    return metric


def link_rate(link_id: str) -> Metric:
    """The link's mean secret key rate over the run."""

    def metric(ctx: _Run) -> Simulated | None:
        link = next((link for link in ctx.summary.links if link.id == link_id), None)
        if link is None:
            return None
        return Simulated(value=link.mean_rate_bps, unit="bit/s", how=f"{link_id}, mean over this run")

    return metric


def longest_fibre_with_key(ctx: _Run) -> Simulated | None:
    """The longest fibre link that made key during the run."""
    with_key = {link.id for link in ctx.summary.links if link.secret_bits > 0}
    lengths = [
        link.length_km
        for link in ctx.scenario.links
        if isinstance(link, FibreLinkSpec) and link.id in with_key and link.length_km is not None
    ]
    if not lengths:
        return None
    return Simulated(value=max(lengths), unit="km", how="longest fibre link with key in this run")


COMPARISONS: dict[str, Metric] = {
    # beijing-shanghai, space-ground-4600km (tests/validation/test_beijing_shanghai.py, test_space_ground.py)
    "fibre backbone length": fibre_route("beijing", "shanghai"),
    "trusted relays on the backbone": node_count(NodeKind.TRUSTED_RELAY),
    "span between users": great_circle_then_fibre("nanshan", "xinglong", "shanghai"),
    "fibre qkd links in the whole network": link_count(LinkKind.FIBRE),
    "satellite-to-ground qkd links": link_count(LinkKind.FREE_SPACE),
    "average secret key rate per typical satellite pass": typical_pass_rate,
    "xinglong-beijing optical ground connection": fibre_route("xinglong", "beijing"),
    "distance of the remote node": great_circle("nanshan", "xinglong"),  # space-ground-2021
    # bristol-8-user (tests/validation/test_bristol.py)
    "users": node_count(NodeKind.USER),
    "user pairs sharing key": user_pairs_with_key,
    "trusted nodes": relaying_nodes,
    # micius (tests/validation/test_micius.py)
    "secure key in one pass (273 s)": window_key("micius--xinglong", 273.0, 645.0, as_rate=False),
    "mean secure key rate over that pass": window_key("micius--xinglong", 273.0, 645.0, as_rate=True),
    "qber": link_qber("micius--xinglong"),
    "channel loss at 645 km": loss_at_range("micius--xinglong", 645.0),
    "channel loss at 1200 km": loss_at_range("micius--xinglong", 1200.0),
    # boaron-421km (tests/validation/test_boaron2018.py)
    "secret key rate over 405 km": link_rate("alice--bob-405km"),
    "longest fibre with key": longest_fibre_with_key,
    # beijing-hefei-call (tests/validation/test_beijing_hefei_call.py)
    "beijing-hefei call distance": fibre_route("beijing", "hefei"),
    # argonne-uchicago-52mi (tests/validation/test_argonne_loop.py)
    "fibre of the quantum loop": source_arms("quantum-loop"),
    # toshiba-tokyo-qkd (tests/validation/test_toshiba.py)
    "installed fibre of the toshiba link": fibre_route("koganei", "otemachi"),
    "sustained secure key rate of the toshiba link": link_rate("koganei--otemachi"),
    # china-multicity-2025 (tests/validation/test_china_multicity.py)
    "secure key in the best satellite pass": best_pass_key(),
    "secure key in one stellenbosch pass": best_pass_key("jinan-1--stellenbosch-ogs"),
    "beijing-stellenbosch distance": great_circle("beijing-ogs", "stellenbosch-ogs"),
    # euroqci (tests/validation/test_euroqci.py)
    "member states with a national network": node_count(NodeKind.USER),
    # ieqnet-150km (tests/validation/test_ieqnet_150km.py)
    "fermilab-argonne fibre": fibre_route("fermilab", "argonne"),
}
"""Published quantity (lower case) -> the run's value of it. Quantities not here are not simulated."""

_SCALE = {
    ("bit/s", "kbit/s"): 1e-3,
    ("bit/s", "Mbit/s"): 1e-6,
    ("bit", "kbit"): 1e-3,
    ("bit", "Mbit"): 1e-6,
    ("fraction", "%"): 100.0,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedComparison:
    """A figure the scenario lists as published (``quantity``, ``value``, ``unit``, ``source``, ``note``), with
    the run's value of the same quantity: ``simulated`` in ``simulated_unit`` (the published unit where the
    two convert), or None; ``simulated_how`` says what was taken from the run, or why nothing was."""

    quantity: str
    value: float
    unit: str
    source: str
    note: str
    simulated: float | None
    simulated_unit: str
    simulated_how: str


def compare_published(
    scenario: Scenario, run: NetworkRun, summary: RunSummary, links: Sequence[BuiltLink] | None
) -> tuple[PublishedComparison, ...]:
    """The scenario's published figures, each with the run's value of the same quantity where it has one."""
    ctx = _Run(scenario, run, summary, links)
    rows = []
    for figure in scenario.published:
        metric = COMPARISONS.get(figure.quantity.strip().lower())
        found = None if metric is None else metric(ctx)
        if found is None:
            how = "not simulated" if metric is None else "not simulated: this run has no such quantity"
            simulated, unit = None, figure.unit
        elif found.unit == figure.unit:
            simulated, unit, how = found.value, figure.unit, found.how
        elif (scale := _SCALE.get((found.unit, figure.unit))) is not None:
            simulated, unit, how = found.value * scale, figure.unit, found.how
        else:
            simulated, unit, how = found.value, found.unit, found.how
        rows.append(
            PublishedComparison(
                quantity=figure.quantity,
                value=figure.value,
                unit=figure.unit,
                source=figure.source,
                note=figure.note,
                simulated=simulated,
                simulated_unit=unit,
                simulated_how=how,
            )
        )
    return tuple(rows)
