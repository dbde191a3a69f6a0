"""Figures and the self-contained HTML report of a network run (``out/report.html``).

The plotting functions draw on a given ``Axes`` (STYLE.md), so that users can compose their own figures;
:func:`write_report` puts them, as inline SVG, into one HTML page with the summary tables. Figures are
made with :class:`matplotlib.figure.Figure` directly: importing or calling this module never touches
pyplot's state or the backend a notebook has chosen.
"""

from __future__ import annotations

import html
import io
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import Bbox, blended_transform_factory
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.report import units

if TYPE_CHECKING:
    from qinternet.network.links.build import BuiltLink
    from qinternet.network.published import PublishedComparison
    from qinternet.network.run import RunResult
    from qinternet.network.simulate import NetworkRun
    from qinternet.network.summary import NodeSummary, PassSummary, RunSummary

__all__ = [
    "network_map_figure",
    "plot_demands",
    "plot_link_rates",
    "plot_network_map",
    "plot_pass_elevations",
    "plot_pass_keys",
    "plot_pools",
    "time_axis",
    "time_unit",
    "write_report",
]

F64 = NDArray[np.float64]

LONG_RUN_S = 3 * 86400.0
"""Runs longer than this are drawn with time in days."""

MOST_PASSES = 24
"""Runs with more satellite passes than this (all downlinks) show them per day (week, month), not one by one."""


def _period(duration_s: float) -> tuple[float, str]:
    """Days per bin and its name when passes are shown per period: a day up to 60 days, a week up to two
    years, else 30 days (some 50 bins at most for a two-year run, so bars and points stay apart)."""
    days = duration_s / 86400.0
    if days <= 60:
        return 1.0, "day"
    return (7.0, "week") if days <= 730 else (30.0, "30 days")


MAX_POINTS = 1500
"""Most points per line in a time-series figure (longer series are reduced to their min/max per bin)."""

MAX_PASS_ROWS = 40
"""Longer tables of satellite passes are folded (HTML ``<details>``)."""


# --------------------------------------------------------------------------------------------------------------
# The map
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Style:
    marker: str
    colour: str
    size: float  # scatter area, points^2
    title: str
    important: bool  # always labelled


_NODE_STYLES = {
    "user": _Style("o", "tab:blue", 70.0, "user", True),
    "ground-station": _Style("^", "tab:green", 90.0, "ground station", True),
    "satellite": _Style("*", "darkorange", 260.0, "satellite (at its best pass)", True),
    "entanglement-source": _Style("D", "tab:purple", 70.0, "entanglement source", True),
    "trusted-relay": _Style("s", "0.35", 22.0, "trusted relay", False),
    "untrusted-relay": _Style("P", "tab:brown", 80.0, "untrusted relay (measurement station)", True),
    "quantum-node": _Style("h", "teal", 90.0, "quantum node (processor, memory)", True),
    "repeater": _Style("p", "tab:olive", 90.0, "quantum repeater", True),
    "heralding-station": _Style("d", "tab:pink", 60.0, "heralding station", True),
}
_OTHER_NODE = _Style("X", "black", 60.0, "other node", True)

_LINK_STYLES = {"fibre": "-", "free-space": "--", "entanglement": "-", "mdi": "-", "twin-field": "-"}

_NO_KEY = "tab:red"

_MEMORY = "memory"
"""The kind of link that carries entangled pairs between memories: it makes no key, so it is drawn in
:data:`_MEMORY_COLOUR` on the map and left out of the key figures and tables."""
_TELEPORTATION = "photonic-teleportation"
"""The kind of link that teleports photonic qubits: no key either, drawn and left out as memory links are."""
_KEYLESS = frozenset({_MEMORY, _TELEPORTATION})

_MEMORY_COLOUR = "tab:purple"

_LABEL_CHARS = 24
"""Longer node names are wrapped onto two lines on the map."""


def _node_points(summary: RunSummary) -> dict[str, tuple[float, float]]:
    """(longitude, latitude) of every node that has a place: its own, or for satellites their ``map`` point."""
    points = {}
    for node in summary.nodes:
        if node.lat_deg is not None and node.lon_deg is not None:
            points[node.id] = (float(node.lon_deg), float(node.lat_deg))
        elif node.map is not None:
            points[node.id] = (float(node.map.lon_deg), float(node.map.lat_deg))
    return points


def _place_unplaced(summary: RunSummary, points: dict[str, tuple[float, float]]) -> list[str]:
    """Put nodes without a place (e.g. a satellite of a summary without ``map``) above their partners."""
    missing = [n.id for n in summary.nodes if n.id not in points]
    if not missing or not points:
        return missing
    top = max(lat for _, lat in points.values())
    span = max(1.0, top - min(lat for _, lat in points.values()))
    for node_id in missing:
        partners = [
            points[other]
            for link in summary.links
            for other in (link.a, link.b)
            if node_id in (link.a, link.b) and other in points
        ]
        lon = float(np.mean([p[0] for p in partners])) if partners else float(np.mean([p[0] for p in points.values()]))
        points[node_id] = (lon, top + 0.25 * span)
    return missing


def _frame(points: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], tuple[float, float], float]:
    """x and y limits (degrees) around ``points`` and the aspect ``1 / cos(mean latitude)``.

    One degree of longitude is ``cos(latitude)`` times as long as one of latitude, so with that aspect
    distances read true in every direction (an equirectangular map centred on the network). The frame is
    padded and kept between 1:3 and 3:2 (height to width, in true distance) so that a long, thin network
    still leaves room for its labels.
    """
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    centre_lat = float(np.clip((lat.min() + lat.max()) / 2, -80.0, 80.0))
    shrink = math.cos(math.radians(centre_lat))
    width = max(float(np.ptp(lon)) * shrink, 0.01)
    height = max(float(np.ptp(lat)), 0.01)
    width, height = width * 1.3 + 0.02 * height, height * 1.3 + 0.02 * width
    width = max(width, height / 1.5)  # widen a tall network, heighten a flat one; never cut either
    height = max(height, width / 3)
    cx, cy = (lon.min() + lon.max()) / 2, (lat.min() + lat.max()) / 2
    half_x, half_y = width / shrink / 2, height / 2
    return (cx - half_x, cx + half_x), (cy - half_y, cy + half_y), 1.0 / shrink


def _rate_norm(summary: RunSummary) -> LogNorm | None:
    rates = [link.mean_rate_bps for link in summary.links if link.mean_rate_bps > 0]
    if not rates:
        return None
    low, high = min(rates), max(rates)
    if low == high:
        low, high = low / 2, high * 2
    return LogNorm(vmin=low, vmax=high)


def _rate_ticks(axis: Any, norm: LogNorm | None = None) -> None:
    """Rate ticks in bit/s, kbit/s, ...: every decade, or 1-2-5 (1-2-3-5) when the range spans few decades."""
    decades = 99.0 if norm is None or not norm.scaled() else math.log10(float(norm.vmax) / float(norm.vmin))  # type: ignore[arg-type]
    subs = (1.0,) if decades > 2.5 else ((1.0, 2.0, 5.0) if decades > 0.8 else (1.0, 2.0, 3.0, 5.0))
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: units.rate(v)))
    axis.set_minor_formatter(NullFormatter())


def plot_network_map(ax: Axes, summary: RunSummary, *, cax: Axes | None = None) -> Axes:
    """Every node at its place and every link coloured by its mean secret key rate (red: no key).

    Nodes: markers by kind (legend beside the map); satellites at their sub-satellite point at the
    culmination of their best pass (``map`` of :func:`qinternet.network.summary.extend_summary`), with the
    ground track of that pass dotted. Entanglement links join their two users (the key is theirs), with the
    source's fibres to them in thin grey. Longitude is stretched by ``1 / cos(latitude)`` so that
    distances read true. Nodes too close to tell apart at the map's scale (a campus in a city network) are
    drawn again, labelled, in a detail panel beside the map, below the legend; their place on the map is
    boxed. Labels are placed where they hit no other label or node marker and stay inside their axes (with
    a leader line when moved away from their node); trusted relays are labelled where there is room.
    Labels are placed for the axes' size at the time of the call. Every node's marker has the gid
    ``node:<id>``, every label ``label:<id>``, the detail panel ``detail``.

    Args:
        ax: where to draw.
        summary: :func:`qinternet.network.summary.summarise` of the run.
        cax: axes for the colour bar (default: taken from below ``ax``).
    """
    figure = ax.get_figure(root=True)
    assert isinstance(figure, Figure)
    points = _node_points(summary)
    unplaced = _place_unplaced(summary, points)
    tracks = [
        [(lon, lat) for lat, lon in node.map.track] for node in summary.nodes if node.map is not None and node.map.track
    ]
    xlim, ylim, aspect = _frame(list(points.values()))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect(aspect, adjustable="box")
    norm = _rate_norm(summary)
    arms = _draw_network(ax, summary, points, norm, tracks, main=True)
    bar = None
    if norm is not None:
        mappable = ScalarMappable(norm=norm, cmap=_CMAP)
        if cax is None:
            bar = figure.colorbar(mappable, ax=ax, location="bottom", fraction=0.05, pad=0.1, aspect=40)
        else:
            bar = figure.colorbar(mappable, cax=cax, orientation="horizontal")
        bar.set_label("mean secret key rate of the link (red dotted: no key)")
        _rate_ticks(bar.ax.xaxis, norm)
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_title("Network: every node, links coloured by mean secret key rate", fontsize="medium")
    legend = _legend_of_kinds(ax, summary, bool(arms), bool(tracks))
    ax.apply_aspect()
    _details(ax, legend, None if bar is None else bar.ax, summary, points, norm)
    if unplaced:
        ax.text(
            0.01, 0.99, "position unknown (drawn above their stations): " + ", ".join(unplaced),
            transform=ax.transAxes, fontsize="x-small", va="top", color="0.3",
        )  # fmt: skip
    return ax


_CMAP = matplotlib.colormaps["viridis"]

KM_PER_DEGREE = 111.2
"""Length of one degree of latitude on the mean sphere (6371 km radius), km."""


def _important(node: NodeSummary) -> bool:
    """Always labelled: every node but trusted relays, and the relays that have a name of their own."""
    return _NODE_STYLES.get(node.kind, _OTHER_NODE).important or node.name != node.id


def _draw_network(
    ax: Axes,
    summary: RunSummary,
    points: dict[str, tuple[float, float]],
    norm: LogNorm | None,
    tracks: Sequence[Sequence[tuple[float, float]]],
    *,
    main: bool,
) -> set[tuple[str, str]]:
    """Links, the sources' fibres, satellite tracks and node markers; returns the (source, user) fibres."""
    many = len(summary.links) > 12
    arms: set[tuple[str, str]] = set()
    for link in summary.links:
        a, b = points.get(link.a), points.get(link.b)
        if a is None or b is None:
            continue
        via = link.via
        if via in points:
            arms |= {(via, link.a), (via, link.b)}
        rate = link.mean_rate_bps
        colour = _CMAP(norm(rate)) if norm is not None and rate > 0 else _NO_KEY
        style = _LINK_STYLES.get(link.kind, "-") if rate > 0 else ":"
        if link.kind in _KEYLESS:
            colour, style = _MEMORY_COLOUR, "-."
        width = {"free-space": 2.0, "fibre": 4.0}.get(link.kind, 2.4 if many else 3.5)
        ax.plot([a[0], b[0]], [a[1], b[1]], color=colour, ls=style, lw=width, zorder=2, solid_capstyle="round")
    for source, user in sorted(arms):
        (x0, y0), (x1, y1) = points[source], points[user]
        ax.plot([x0, x1], [y0, y1], color="0.4", lw=0.9, ls=(0, (4, 2)), zorder=2.5)
    for track in tracks:
        ax.plot([p[0] for p in track], [p[1] for p in track], color="darkorange", lw=1.2, ls=":", zorder=1.8)
    for node in summary.nodes:
        look = _NODE_STYLES.get(node.kind, _OTHER_NODE)
        x, y = points[node.id]
        ax.scatter(
            [x], [y], marker=look.marker, color=look.colour, s=look.size, edgecolors="white", linewidths=0.8,
            zorder=4, gid=f"node:{node.id}" if main else f"detail-node:{node.id}",
        )  # fmt: skip
    return arms


def _marker_radius_px(ax: Axes, kind: str) -> float:
    figure = ax.get_figure(root=True)
    assert figure is not None
    return math.sqrt(_NODE_STYLES.get(kind, _OTHER_NODE).size) / 2 * figure.dpi / 72.0


_CROWDED_PX = 14.0
"""Important nodes whose markers are closer than this (display pixels) are shown again in a detail panel."""

_MOST_DETAILS = 3


def _crowded(ax: Axes, summary: RunSummary, points: dict[str, tuple[float, float]]) -> list[set[str]]:
    """Groups of important nodes (not trusted relays) whose markers (nearly) touch on the map, largest first.

    At most :data:`_MOST_DETAILS`; a group whose area a detail panel would not enlarge (2.5x) is left out.
    """
    nodes = [n for n in summary.nodes if _important(n)]
    xy = {n.id: ax.transData.transform(points[n.id]) for n in nodes}
    graph: nx.Graph[str] = nx.Graph()
    graph.add_nodes_from(xy)
    for i, first in enumerate(nodes):
        for second in nodes[i + 1 :]:
            gap = float(np.hypot(*(xy[first.id] - xy[second.id])))
            if gap < _marker_radius_px(ax, first.kind) + _marker_radius_px(ax, second.kind) + _CROWDED_PX:
                graph.add_edge(first.id, second.id)
    frame = ax.get_window_extent()
    groups = []
    for group in sorted(nx.connected_components(graph), key=len, reverse=True):
        spread = np.ptp(np.array([xy[n] for n in group]), axis=0).max() * _DETAIL_MARGIN
        if len(group) > 1 and spread * 2.5 < min(frame.width, frame.height):
            groups.append(set(group))
    return groups[:_MOST_DETAILS]


_DETAIL_MARGIN = 2.2
"""A detail panel shows its nodes' extent times this."""


def _details(
    ax: Axes,
    legend: Legend,
    bar: Axes | None,
    summary: RunSummary,
    points: dict[str, tuple[float, float]],
    norm: LogNorm | None,
) -> None:
    """Detail panels for crowded places, then the map's own labels (for the nodes no panel labels)."""
    groups = _crowded(ax, summary, points)
    plan: list[tuple[set[str], int | None]] = []
    for group in groups:
        coarse = len(plan)
        plan.append((group, None))
        plan += [(tight, coarse) for tight in _tight(group, points, float(ax.get_aspect()))]
    plan = plan[:_MOST_DETAILS]
    panels: list[Axes] = []
    avoid: dict[int | None, list[Bbox]] = {None: []}
    skip: dict[int | None, set[str]] = {None: set()}
    for k, ((group, parent), place) in enumerate(zip(plan, _detail_places(ax, legend, bar, len(plan)), strict=True)):
        tag = chr(ord("A") + k)
        host = ax if parent is None else panels[parent]
        key: int | None = k
        panel, area = _detail(ax, host, place, tag, summary, points, group, norm)
        panels.append(panel)
        avoid.setdefault(parent, []).append(area)
        shown = {n for n, xy in points.items() if _inside(panel, xy)}
        skip.setdefault(parent, set()).update(group if parent is not None else shown | group)
        skip[key] = set()
        avoid.setdefault(key, [])
    everyone = {n.id for n in summary.nodes}
    for k, panel in enumerate(panels):
        shown = {n for n, xy in points.items() if _inside(panel, xy)}
        _place_labels(panel, summary.nodes, points, shown - skip[k], avoid[k])
    _place_labels(ax, summary.nodes, points, everyone - skip[None], avoid[None])


def _tight(group: set[str], points: dict[str, tuple[float, float]], aspect: float) -> list[set[str]]:
    """Subgroups of ``group`` much closer together than the group is wide (1/12 of it): they need their own detail.

    E.g. a ground station and its user 1 km apart, next to a satellite drawn 80 km away.
    """
    ids = sorted(group)
    xy = np.array([(points[n][0] / aspect, points[n][1]) for n in ids])
    gaps = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    near: nx.Graph[str] = nx.Graph()
    near.add_nodes_from(ids)
    limit = gaps.max() / 12
    near.add_edges_from((ids[i], ids[j]) for i, j in zip(*np.nonzero(gaps < limit), strict=True) if i < j)
    return [set(c) for c in nx.connected_components(near) if 1 < len(c) < len(ids)]


def _detail_places(ax: Axes, legend: Legend, bar: Axes | None, count: int) -> list[tuple[float, float, float, float]]:
    """Where the detail panels go (``ax`` fractions): stacked beside the map, below its legend, when the map is
    tall enough (3 in); else in a row below the map and its colour bar. Panels may reach beyond the figure:
    :func:`network_map_figure` grows it to hold them.
    """
    if count == 0:
        return []
    figure = ax.get_figure(root=True)
    assert isinstance(figure, Figure)
    dpi = figure.dpi
    frame = ax.get_window_extent()
    gap = 0.45 * dpi
    size = DETAIL_IN * dpi
    if frame.height >= 3.0 * dpi:
        top = legend.get_window_extent().y0 - gap
        left = frame.x1 + 0.25 * dpi
        corners = [(left, top - size - k * (size + gap)) for k in range(count)]
    else:
        renderer = figure.canvas.get_renderer() if hasattr(figure.canvas, "get_renderer") else None
        under = bar.get_tightbbox(renderer) if bar is not None else ax.get_tightbbox(renderer)
        assert under is not None
        corners = [(frame.x0 + k * (size + gap), under.y0 - gap - size) for k in range(count)]
    places = []
    for x, y in corners:
        (x0, y0), (x1, y1) = ax.transAxes.inverted().transform([(x, y), (x + size, y + size)])
        places.append((float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
    return places


DETAIL_IN = 3.0
"""Side of a detail panel, inches (at most)."""


def _inside(ax: Axes, xy: tuple[float, float]) -> bool:
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    return x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1


def _detail(
    ax: Axes,
    host: Axes,
    place: tuple[float, float, float, float],
    tag: str,
    summary: RunSummary,
    points: dict[str, tuple[float, float]],
    group: set[str],
    norm: LogNorm | None,
) -> tuple[Axes, Bbox]:
    """A panel at ``place`` (``ax`` fractions) zoomed on the ``group`` of nodes; their area boxed and tagged
    on ``host`` (the map, or the panel of a wider group).

    Returns the panel and the display box of the box and tag (for the host's labels to avoid).
    """
    panel = ax.inset_axes(place)
    panel.set_gid(f"detail:{tag}")
    lon = np.array([points[n][0] for n in group])
    lat = np.array([points[n][1] for n in group])
    aspect = ax.get_aspect()
    assert isinstance(aspect, float)
    half = max(float(np.ptp(lon)) / aspect, float(np.ptp(lat)), 1e-6) * 0.5 * _DETAIL_MARGIN
    cx, cy = (lon.min() + lon.max()) / 2, (lat.min() + lat.max()) / 2
    panel.set_xlim(cx - half * aspect, cx + half * aspect)
    panel.set_ylim(cy - half, cy + half)
    panel.set_aspect(aspect, adjustable="box")
    _draw_network(panel, summary, points, norm, [], main=False)
    panel.set_xticks([])
    panel.set_yticks([])
    km = 2 * half * KM_PER_DEGREE
    panel.set_title(f"{tag}: detail, {km:,.0f} km across" if km >= 10 else f"{tag}: detail, {km:.2g} km across",
                    fontsize="small")  # fmt: skip
    box = Rectangle(
        (cx - half * aspect, cy - half), 2 * half * aspect, 2 * half, fill=False, ec="0.2", lw=0.8, zorder=6,
        gid=f"detail-box:{tag}",
    )  # fmt: skip
    host.add_patch(box)
    mark = host.annotate(tag, (cx + half * aspect, cy + half), xytext=(2, 2), textcoords="offset points",
                       fontsize="small", fontweight="bold", gid=f"detail-tag:{tag}")  # fmt: skip
    panel.apply_aspect()
    figure = ax.get_figure(root=True)
    assert isinstance(figure, Figure)
    renderer = figure.canvas.get_renderer() if hasattr(figure.canvas, "get_renderer") else None
    area = Bbox.union([box.get_window_extent(renderer), mark.get_window_extent(renderer)]).padded(2.0)
    return panel, area


def _legend_of_kinds(ax: Axes, summary: RunSummary, arms: bool, tracks: bool) -> Legend:
    present = list(dict.fromkeys(n.kind for n in summary.nodes))
    handles: list[Line2D] = []
    for kind in present:
        style = _NODE_STYLES.get(kind, _OTHER_NODE)
        handles.append(
            Line2D(
                [], [], ls="none", marker=style.marker, color=style.colour, markersize=math.sqrt(style.size),
                markeredgecolor="white", label=style.title,
            )
        )  # fmt: skip
    link_kinds = list(dict.fromkeys(link.kind for link in summary.links))
    names = {
        "fibre": "fibre link",
        "free-space": "satellite downlink",
        "entanglement": "entanglement link (pair)",
        "mdi": "MDI-QKD link (pair)",
        "twin-field": "twin-field QKD link (pair)",
        _MEMORY: "memory link (entangled pairs, no key)",
        _TELEPORTATION: "teleportation link (photonic qubits, no key)",
    }
    for kind in link_kinds:
        colour, dashes = (_MEMORY_COLOUR, "-.") if kind in _KEYLESS else ("0.3", _LINK_STYLES.get(kind, "-"))
        handles.append(Line2D([], [], color=colour, ls=dashes, lw=2, label=names.get(kind, kind)))
    if any(link.mean_rate_bps <= 0 and link.kind not in _KEYLESS for link in summary.links):
        handles.append(Line2D([], [], color=_NO_KEY, ls=":", lw=2, label="no key in the run"))
    if arms:
        relayed = any(kind in ("mdi", "twin-field") for kind in link_kinds)
        to = (
            "the source or relay"
            if relayed and "entanglement" in link_kinds
            else "the relay"
            if relayed
            else "the source"
        )
        handles.append(Line2D([], [], color="0.55", lw=0.8, ls=(0, (4, 2)), label=f"fibre to {to}"))
    if tracks:
        handles.append(Line2D([], [], color="darkorange", lw=1.2, ls=":", label="ground track of that pass"))
    return ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize="small",
        frameon=False,
    )  # fmt: skip


_DIRECTIONS = (0, 180, 45, 315, 135, 225, 90, 270)
"""Directions tried for a label around its node, degrees anticlockwise from east."""

_RADII_PT = (5.0, 12.0, 22.0, 34.0, 48.0, 66.0, 90.0, 120.0)
"""Distances tried for a label from its node, points (a leader line joins those farther than 12)."""


def _label_text(name: str) -> str:
    return "\n".join(textwrap.wrap(name, _LABEL_CHARS)) if len(name) > _LABEL_CHARS else name


def _place_labels(
    ax: Axes,
    nodes: Sequence[NodeSummary],
    points: dict[str, tuple[float, float]],
    labelled: set[str],
    avoid: Sequence[Bbox] = (),
) -> None:
    """Label the nodes ``labelled`` where their text hits no other label, node marker or ``avoid`` box, inside
    the axes.

    Greedy: the nodes with most neighbours nearby first; for each, directions around the node at growing
    distances, the first free place wins. Important nodes (all but trusted relays) take the least bad place
    when none is free; trusted relays go unlabelled then.
    """
    figure = ax.get_figure(root=True)
    assert isinstance(figure, Figure)
    px_per_pt = figure.dpi / 72.0
    frame = ax.get_window_extent()
    inner = Bbox.from_extents(frame.x0 + 2, frame.y0 + 2, frame.x1 - 2, frame.y1 - 2)
    centres = {node_id: ax.transData.transform(xy) for node_id, xy in points.items()}
    markers = []
    for node in nodes:
        style = _NODE_STYLES.get(node.kind, _OTHER_NODE)
        half = math.sqrt(style.size) / 2 * px_per_pt + 1.0
        x, y = centres[node.id]
        markers.append(Bbox.from_extents(x - half, y - half, x + half, y + half))
    placed: list[Bbox] = list(avoid)
    renderer = figure.canvas.get_renderer() if hasattr(figure.canvas, "get_renderer") else None  # else found slowly

    def crowd(node: NodeSummary) -> tuple[bool, float]:
        x, y = centres[node.id]
        near = sum(math.hypot(x - u, y - v) < 60 * px_per_pt for u, v in centres.values())
        return (not _important(node), -near)

    for node in sorted((n for n in nodes if n.id in labelled), key=crowd):
        style = _NODE_STYLES.get(node.kind, _OTHER_NODE)
        relay = not _important(node)
        probe = ax.text(0, 0, _label_text(str(node.name)), fontsize=6.5 if relay else 8)
        extent = probe.get_window_extent(renderer=renderer)
        probe.remove()
        w, h = extent.width + 3 * px_per_pt, extent.height + 2 * px_per_pt
        x, y = centres[node.id]
        best: tuple[float, Bbox, float, float] | None = None
        own_half = math.sqrt(style.size) / 2
        for radius in _RADII_PT[:2] if relay else _RADII_PT:  # a relay's label stays by its node
            for angle in _DIRECTIONS:
                dx = math.cos(math.radians(angle)) * (radius + own_half)
                dy = math.sin(math.radians(angle)) * (radius + own_half)
                ax_, ay_ = x + dx * px_per_pt, y + dy * px_per_pt
                left = ax_ if dx > 0.5 else (ax_ - w if dx < -0.5 else ax_ - w / 2)
                bottom = ay_ if dy > 0.5 else (ay_ - h if dy < -0.5 else ay_ - h / 2)
                box = Bbox.from_bounds(left, bottom, w, h)
                hits = sum(box.overlaps(other) for other in placed) + sum(box.overlaps(m) for m in markers)
                outside = not (inner.x0 <= box.x0 and box.x1 <= inner.x1 and inner.y0 <= box.y0 and box.y1 <= inner.y1)
                cost = hits + 10 * outside
                if best is None or cost < best[0]:
                    best = (cost, box, dx, dy)
                if cost == 0:
                    break
            if best is not None and best[0] == 0:
                break
        assert best is not None
        least, box, dx, dy = best
        if least > 0 and relay:
            continue
        placed.append(box)
        far = math.hypot(dx, dy) > 12 + own_half
        ax.annotate(
            _label_text(str(node.name)),
            xy=points[node.id],
            xytext=(dx, dy),
            textcoords="offset points",
            ha="left" if dx > 0.5 else ("right" if dx < -0.5 else "center"),
            va="bottom" if dy > 0.5 else ("top" if dy < -0.5 else "center"),
            fontsize=6.5 if relay else 8,
            color="0.25" if relay else "black",
            zorder=5,
            gid=f"label:{node.id}",
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75},
            arrowprops={"arrowstyle": "-", "color": "0.45", "lw": 0.6, "shrinkA": 0, "shrinkB": 3} if far else None,
            annotation_clip=False,
        ).set_in_layout(False)


def network_map_figure(summary: RunSummary) -> Figure:
    """A figure holding :func:`plot_network_map` of ``summary``: map, colour bar below, legend and details beside.

    The figure's size follows the map's true proportions (6.4 in wide, 2 to 9 in high), and grows downwards
    when the detail panels beside the map reach below it.
    """
    points = _node_points(summary)
    _place_unplaced(summary, points)
    xlim, ylim, aspect = _frame(list(points.values()))
    ratio = (ylim[1] - ylim[0]) * aspect / (xlim[1] - xlim[0])
    map_h = float(np.clip(6.4 * ratio, 2.0, 9.0))
    map_w = min(6.4, map_h / ratio)
    left, bottom, top, right = 0.8, 1.15, 0.45, 3.6
    width, height = left + 6.4 + right, bottom + map_h + top
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)  # measures the labels' text (no pyplot, no backend change)
    ax = figure.add_axes((left / width, bottom / height, map_w / width, map_h / height))
    cax = figure.add_axes((left / width, 0.5 / height, map_w / width, 0.14 / height))
    plot_network_map(ax, summary, cax=cax)
    if _rate_norm(summary) is None:
        cax.set_visible(False)
    if not ax.child_axes:
        return figure
    figure.draw_without_rendering()  # places the detail panels
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    lowest = min((child.get_tightbbox(renderer).y0 for child in ax.child_axes), default=figure.dpi)  # type: ignore[union-attr]
    below_in = 0.15 - lowest / figure.dpi
    if below_in > 0:  # grow at the bottom; every axes keeps its size and place relative to the others
        grown = height + below_in
        for axes in (ax, cax):
            box = axes.get_position()
            axes.set_position((box.x0, (box.y0 * height + below_in) / grown, box.width, box.height * height / grown))
        figure.set_size_inches(width, grown)
    return figure


# --------------------------------------------------------------------------------------------------------------
# Time series
# --------------------------------------------------------------------------------------------------------------


def _reduce(times: F64, values: F64, most: int = MAX_POINTS) -> tuple[F64, F64]:
    """At most about ``most`` points of a series: in each of ``most // 2`` bins, its min and its max, in order.

    Drawing keeps every peak and trough (a pool's saw-tooth stays visible) while a year at one-minute
    steps stays a small SVG.
    """
    if times.size <= most:
        return times, values
    bins = np.array_split(np.arange(times.size), most // 2)
    keep = []
    for b in bins:
        lo, hi = b[np.argmin(values[b])], b[np.argmax(values[b])]
        keep.extend(sorted({int(lo), int(hi)}))
    index = np.asarray(keep)
    return times[index], values[index]


def time_unit(times_s: F64) -> tuple[float, str]:
    """Seconds per unit of the report's time axes, and their label: hours, or days for long runs."""
    long_run = times_s.size > 0 and float(times_s[-1]) > LONG_RUN_S
    return (86400.0, "time (days)") if long_run else (3600.0, "time (h)")


def time_axis(ax: Axes, times_s: F64) -> tuple[float, str]:
    """Label ``ax``'s time axis (:func:`time_unit`); the seconds per unit and the label."""
    scale, label = time_unit(times_s)
    ax.set_xlabel(label)
    return scale, label


def _time_axis(ax: Axes, times_s: F64) -> tuple[F64, str]:
    """Times in hours, or in days for long runs, and the axis label."""
    scale, label = time_axis(ax, times_s)
    return np.asarray(times_s / scale, dtype=np.float64), label


def _bits_axis(ax: Axes, sizes: F64) -> None:
    """Key amounts in bit, kbit, ...; on a symmetric-log scale when the series differ by over 100x in size
    (so a satellite's kbit pool still shows beside fibre pools of Gbit), linear below a tenth of the smallest."""
    positive = sizes[sizes > 0]
    if positive.size and positive.max() > 100 * positive.min():
        ax.set_yscale("symlog", linthresh=10.0 ** math.floor(math.log10(max(10.0, float(positive.min()) / 10))))
        ax.set_ylim(bottom=0.0)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.text(1.0, 1.01, "logarithmic scale", transform=ax.transAxes, ha="right", va="bottom", fontsize="x-small")
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))  # no fractions of a bit
        ax.set_ylim(bottom=0.0, top=None if positive.size else 1.0)
    ax.yaxis.set_major_formatter(EngFormatter(unit="bit"))


_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">")


def plot_pools(ax: Axes, run: NetworkRun, *, most: int = 8) -> Axes:
    """Key pool levels over time: the ``most`` links whose pools held least on average (memory links, which
    make no key, left out).

    Lines that would hide one another stay visible: pools equal at every instant are drawn once and named
    together in the legend; the others differ in line style and in markers placed at staggered instants.
    Pools of very different sizes share a logarithmic axis.
    """
    t, _ = _time_axis(ax, run.times_s)
    keyless = {i for i, spec in enumerate(run.scenario.links) if spec.kind.value in _KEYLESS}
    ranked = np.argsort(run.pool_bits.mean(axis=0), kind="stable")
    order = [int(i) for i in ranked if int(i) not in keyless][:most]
    groups: list[list[int]] = []
    for i in order:
        same = next((g for g in groups if np.array_equal(run.pool_bits[:, g[0]], run.pool_bits[:, i])), None)
        if same is None:
            groups.append([i])
        else:
            same.append(i)
    every = max(1, min(t.size, MAX_POINTS) // 8)
    for k, group in enumerate(groups):
        x, y = _reduce(t, run.pool_bits[:, group[0]])
        ids = [run.scenario.links[i].id for i in group]
        label = ids[0] if len(ids) == 1 else " = ".join(ids[:2]) + (f" + {len(ids) - 2} more" if len(ids) > 2 else "")
        ax.plot(
            x, y, label=label, lw=1.3, ls=_LINESTYLES[k % len(_LINESTYLES)], marker=_MARKERS[k % len(_MARKERS)],
            markersize=5, markevery=(k * every // max(1, len(groups)), every), markerfacecolor="none",
        )  # fmt: skip
    _bits_axis(ax, run.pool_bits[:, order].mean(axis=0))
    ax.set_ylabel("key in pool")
    ax.set_title(f"Key pools (the {len(order)} lowest on average)", fontsize="medium")
    if groups:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    return ax


def plot_demands(ax: Axes, run: NetworkRun) -> Axes:
    """Key delivered (solid) and wanted (dashed) per demand, cumulative; both in the legend."""
    t, _ = _time_axis(ax, run.times_s)
    delivered, wanted = [], []
    for j, demand in enumerate(run.scenario.demands):
        (line,) = ax.plot(*_reduce(t, run.delivered_bits[:, j]), lw=1.6, label=f"{demand.id}: delivered")
        (dashed,) = ax.plot(
            *_reduce(t, run.wanted_bits[:, j]), ls="--", color=line.get_color(), lw=1.0, label=f"{demand.id}: wanted"
        )
        delivered.append(line)
        wanted.append(dashed)
    _bits_axis(ax, run.wanted_bits[-1] if run.times_s.size else np.zeros(0))
    ax.set_ylabel("key (cumulative)")
    ax.set_title("Demands: delivered (solid) and wanted (dashed)", fontsize="medium")
    if delivered:
        ax.legend(
            handles=[*delivered, *wanted], fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0, frameon=False,
        )  # fmt: skip
    return ax


# --------------------------------------------------------------------------------------------------------------
# Links against the model
# --------------------------------------------------------------------------------------------------------------


def plot_link_rates(ax: Axes, summary: RunSummary, links: Sequence[BuiltLink], *, points: int = 40) -> Axes:
    """Fibre links' simulated mean rates at their lengths, on the analytic finite-key curve of their devices.

    The curve is the key per block of the first fibre link's devices and settings over a range of
    lengths (other links may differ in devices or settings; their analytic rate is the hollow marker). It
    stops where that key falls to zero (marked: no key beyond); links without key are drawn on the
    bottom edge as red triangles, not at a made-up rate.
    """
    curves = [(s, link.rate_curve) for s, link in zip(summary.links, links, strict=True) if link.rate_curve]
    if not curves:
        ax.set_axis_off()
        return ax
    first = curves[0][1]
    lengths = np.array([engine.length_km for _, engine in curves])
    grid = np.linspace(0.0, float(lengths.max()) * 1.6, points)
    curve = first.rate_bps_at(grid)
    positive = curve > 0
    last = int(np.flatnonzero(positive)[-1]) if positive.any() else -1
    ax.plot(grid[: last + 1], curve[: last + 1], color="0.3", lw=1, label="analytic (first link's settings)")
    if last + 1 < grid.size:
        cut = float(grid[last + 1]) if last < 0 else float((grid[last] + grid[last + 1]) / 2)
        ax.axvline(cut, color="0.3", lw=0.8, ls=":")
        ax.text(
            cut, 0.97, f"no key beyond ~{cut:.0f} km ", transform=ax.get_xaxis_transform(), ha="right", va="top",
            fontsize=8,
        )  # fmt: skip
    measured = np.array([s.mean_rate_bps for s, _ in curves])
    expected = np.array([engine.expected_rate_bps for _, engine in curves])
    has = expected > 0
    ax.scatter(
        lengths[has], expected[has], facecolors="none", edgecolors="tab:blue", label="analytic, each link's settings"
    )
    has, none = measured > 0, ~(measured > 0)
    ax.scatter(lengths[has], measured[has], s=14, color="tab:orange", label="simulated mean over the run")
    if none.any():
        edge = blended_transform_factory(ax.transData, ax.transAxes)
        ax.scatter(
            lengths[none], np.zeros(int(none.sum())), transform=edge, marker="v", color=_NO_KEY, s=30,
            clip_on=False, zorder=3, label="simulated: no key",
        )  # fmt: skip
    ax.set_yscale("log")
    _rate_ticks(ax.yaxis)
    ax.set_xlabel("fibre length (km)")
    ax.set_ylabel("secret key rate")
    ax.set_title("Fibre links against the analytic finite-key model", fontsize="medium")
    ax.legend(fontsize="small", loc="lower left")
    return ax


# --------------------------------------------------------------------------------------------------------------
# Satellite passes
# --------------------------------------------------------------------------------------------------------------


def _say_no_passes(ax: Axes, title: str) -> Axes:
    ax.set_title(title, fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.5, 0.5, "no passes in this run (try a longer one)",
        transform=ax.transAxes, ha="center", va="center", color="0.3",
    )  # fmt: skip
    return ax


def plot_pass_elevations(ax: Axes, links: Sequence[BuiltLink], ids: Sequence[str]) -> Axes:
    """Elevation during every pass of every downlink, against minutes from the pass's start.

    A run with many passes (more than :data:`MOST_PASSES`) shows instead the highest pass of each day,
    against the day, per downlink; a run without passes says so.
    """
    satellites = [(link.pass_schedule, link_id) for link, link_id in zip(links, ids, strict=True) if link.pass_schedule]
    title = "Satellite passes (while the link may transmit)"
    if not any(engine.passes for engine, _ in satellites):
        return _say_no_passes(ax, title)
    long_run = sum(len(engine.passes) for engine, _ in satellites) > MOST_PASSES
    for k, (engine, link_id) in enumerate(satellites):
        colour = f"C{k % 10}"
        if long_run:
            width, _ = _period(engine.duration_s)
            bins = np.array([p.start_s // (86400 * width) for p in engine.passes])
            peaks = np.array([p.max_elevation_deg for p in engine.passes])
            best = [float(peaks[bins == b].max()) for b in np.unique(bins)]
            ax.plot((np.unique(bins) + 0.5) * width, best, color=colour, marker="o", ms=3, lw=0.6, label=link_id)
            continue
        for n, record in enumerate(engine.passes):
            minutes = (record.times_s - record.start_s) / 60
            ax.plot(minutes, record.elevation_deg, color=colour, lw=1, label=link_id if n == 0 else None)
    if long_run:
        name = _period(max(engine.duration_s for engine, _ in satellites))[1]
        ax.set_xlabel("day of the run")
        ax.set_ylabel(f"highest elevation of the {name} (deg)")
        title = f"Satellite passes: the highest of each {name}"
    else:
        ax.set_xlabel("minutes into the pass")
        ax.set_ylabel("elevation (deg)")
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small")
    return ax


def plot_pass_keys(ax: Axes, run: NetworkRun) -> Axes:
    """Secret key of every pass (bars at the pass's end time), per downlink; passes without key as crosses.

    A run with many passes (more than :data:`MOST_PASSES`) shows the key of each day instead.
    """
    downlinks = [(i, spec.id) for i, spec in enumerate(run.scenario.links) if spec.kind.value == "free-space"]
    title = "Key per pass"
    if not any(run.blocks[i] for i, _ in downlinks):
        return _say_no_passes(ax, title)
    duration = float(run.times_s[-1]) if run.times_s.size else 0.0
    long_run = sum(len(run.blocks[i]) for i, _ in downlinks) > MOST_PASSES
    scale = 86400.0 if duration > LONG_RUN_S else 3600.0
    period, name = _period(duration)
    slot = 0.8 / len(downlinks)
    for k, (i, link_id) in enumerate(downlinks):
        blocks = run.blocks[i]
        colour = f"C{k % 10}"
        if long_run:
            bins = np.array([int(b.end_s // (86400 * period)) for b in blocks], dtype=np.int64)
            keys = np.array([float(b.key_bits) for b in blocks])
            per_bin = np.bincount(bins, weights=keys, minlength=int(duration // (86400 * period)) + 1)
            left = (np.arange(per_bin.size) + 0.1 + k * slot) * period
            ax.bar(left, per_bin, width=slot * period, align="edge", color=colour, label=link_id)
            continue
        ends = np.array([b.end_s / scale for b in blocks])
        keys = np.array([float(b.key_bits) for b in blocks])
        width = duration / scale / 150
        ax.bar(ends + (k - (len(downlinks) - 1) / 2) * width, keys, width=width, color=colour, label=link_id)
        empty = keys == 0
        if empty.any():
            ax.scatter(ends[empty], keys[empty], marker="x", color=colour, s=25, zorder=3)
    if any(b.key_bits == 0 for i, _ in downlinks for b in run.blocks[i]) and not long_run:
        ax.scatter([], [], marker="x", color="0.3", label="pass without key")
    ax.set_xlabel("day of the run" if long_run else ("time (days)" if scale > 3600.0 else "time (h)"))
    ax.set_ylabel(f"secret key per {name}" if long_run else "secret key of the pass")
    ax.yaxis.set_major_formatter(EngFormatter(unit="bit"))
    ax.set_title(f"Key per {name}" if long_run else title, fontsize="medium")
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------------------------------------------
# The HTML page
# --------------------------------------------------------------------------------------------------------------


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "qinternet"}):  # the same run gives the same file
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


Cell = Callable[[Any], str]


def _table(rows: Sequence[Any], columns: Sequence[tuple[str, Cell]], kind: str = "ids") -> str:
    """An HTML table; ``kind`` ``ids`` keeps the first column (an id) on one line, ``text`` aligns prose left."""
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _ in columns)
    body = ["<tr>" + "".join(f"<td>{html.escape(cell(row))}</td>" for _, cell in columns) + "</tr>" for row in rows]
    return f"<table class='{kind}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _field(key: str, show: Callable[[Any], str] = str) -> Cell:
    return lambda row: "-" if getattr(row, key) is None else show(getattr(row, key))


def _number(value: float, unit: str) -> str:
    """A published or simulated value in its unit: amounts of key with SI prefixes, else plain digits."""
    if unit in ("bit", "bit/s"):
        return units.si(value, unit)
    if unit.endswith("bit/s") or unit.endswith("bit"):
        text = f"{value:.3g}"
    elif abs(value) >= 100 or float(value).is_integer():
        text = f"{value:,.0f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")


def _published_rows(summary: RunSummary) -> str:
    def simulated(row: PublishedComparison) -> str:
        if row.simulated is None:
            return "not simulated"
        return _number(row.simulated, row.simulated_unit)

    columns: list[tuple[str, Cell]] = [
        ("quantity", _field("quantity")),
        ("published", lambda r: _number(r.value, r.unit)),
        ("simulated", simulated),
        ("what was simulated", lambda r: "" if r.simulated is None else r.simulated_how),
        ("source", _field("source")),
        ("note", _field("note")),
    ]
    return _table(summary.published, columns, "text")


def _passes_table(passes: Sequence[PassSummary]) -> str:
    columns: list[tuple[str, Cell]] = [
        ("start (UTC)", lambda r: _utc(r.start_utc)),
        ("link", _field("link")),
        ("duration", lambda r: f"{r.duration_s / 60:.1f} min"),
        ("peak elevation", lambda r: f"{r.max_elevation_deg:.1f} deg"),
        ("closest", _field("min_range_km", lambda v: f"{v:,.0f} km")),
        ("least loss", _field("min_loss_db", lambda v: f"{v:.1f} dB")),
        ("secret key", lambda r: units.bits(r.key_bits)),
        ("mean rate", lambda r: units.rate(r.mean_rate_bps)),
        ("QBER", _field("qber", lambda v: units.percent(v, decimals=2))),
    ]
    table = _table(passes, columns)
    with_key = sum(p.key_bits > 0 for p in passes)
    lead = f"{len(passes)} passes, {with_key} with key."
    if len(passes) <= MAX_PASS_ROWS:
        return f"<p>{lead}</p>{table}"
    return f"<details><summary>{lead} Show every pass</summary>{table}</details>"


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right;vertical-align:top}
td:first-child,th:first-child{text-align:left}table.ids td:first-child{white-space:nowrap}
table.text td,table.text th{text-align:left}
table.text td:nth-child(2),table.text td:nth-child(3){text-align:right;white-space:nowrap}
th{background:#f4f4f4}figure{margin:1.5em 0}figcaption{color:#555;font-size:.9em;max-width:60em}
svg{max-width:100%;height:auto}.dim{color:#666}summary{cursor:pointer}
"""


def _figure(axes_size: tuple[float, float] = (6.4, 3.4), right_in: float = 2.6) -> tuple[Figure, Axes]:
    """A figure with one axes of ``axes_size`` inches and ``right_in`` inches beside it for a legend."""
    left, bottom, top = 0.9, 0.6, 0.4
    width, height = left + axes_size[0] + right_in, bottom + axes_size[1] + top
    figure = Figure(figsize=(width, height))
    ax = figure.add_axes((left / width, bottom / height, axes_size[0] / width, axes_size[1] / height))
    return figure, ax


def _mark(ax: Axes, run: NetworkRun, seconds_per_unit: float) -> None:
    """The run's alarms as vertical lines (:func:`qinternet.report.alarms.mark_alarms`), added to the legend."""
    from qinternet.report.alarms import mark_alarms

    if run.alarms:
        mark_alarms(ax, run.alarms, seconds_per_unit)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)


def write_report(path: Path, result: RunResult) -> None:
    """Write the self-contained HTML report of a run (figures inline as SVG, no external files).

    A run with entanglement requests or applications gets the section of
    :func:`qinternet.report.entanglement.entanglement_section`; memory links (no key) are left out of the key
    figures and the links table.
    """
    from qinternet.report.alarms import alarms_section  # they use this module's helpers
    from qinternet.report.entanglement import entanglement_section, seconds

    run, links = result.network, result.links
    summary = result.summary
    figures: list[tuple[str, str]] = [
        (
            _svg(network_map_figure(summary)),
            "Nodes at their coordinates; satellites at the point below them at the culmination of their best pass "
            "(the pass with most key), with that pass's ground track. Longitude is stretched by 1/cos(latitude) "
            "so that distances read true.",
        )
    ]
    key_links = [row for row in summary.links if row.kind not in _KEYLESS]
    scale, _ = time_unit(run.times_s)
    if key_links:
        figure, ax = _figure()
        plot_pools(ax, run)
        _mark(ax, run, scale)
        figures.append(
            (_svg(figure), "Pools that hold the same key at every instant are drawn once and named together.")
        )
    if run.scenario.demands:
        figure, ax = _figure()
        plot_demands(ax, run)
        _mark(ax, run, scale)
        figures.append((_svg(figure), ""))
    if any(link.rate_curve is not None for link in links):
        figure, ax = _figure(right_in=0.4)
        plot_link_rates(ax, summary, links)
        figures.append((_svg(figure), ""))
    if any(link.pass_schedule is not None for link in links):
        ids = [spec.id for spec in run.scenario.links]
        figure, ax = _figure(right_in=0.4)
        plot_pass_elevations(ax, links, ids)
        figures.append((_svg(figure), ""))
        figure, ax = _figure(right_in=0.4)
        plot_pass_keys(ax, run)
        figures.append((_svg(figure), ""))
    scenario = run.scenario
    demand_columns: list[tuple[str, Cell]] = [
        ("demand", _field("id")),
        ("from", _field("a")),
        ("to", _field("b")),
        ("priority", _field("priority")),
        ("wanted", _field("wanted_bits", units.bits)),
        ("delivered", _field("delivered_bits", units.bits)),
        ("unmet", _field("unmet_bits", units.bits)),
        ("met", _field("met_fraction", units.percent)),
        ("mean rate", _field("mean_rate_bps", units.rate)),
    ]
    link_columns: list[tuple[str, Cell]] = [
        ("link", _field("id")),
        ("kind", _field("kind")),
        ("model", _field("model")),
        ("secret key", _field("secret_bits", units.bits)),
        ("mean rate", _field("mean_rate_bps", units.rate)),
        ("analytic", _field("expected_rate_bps", units.rate)),
        ("QBER", _field("qber", lambda v: units.percent(v, decimals=2))),
        ("uptime", _field("uptime", units.percent)),
        ("aborted blocks", lambda r: f"{r.aborted_blocks} of {r.blocks}"),
        ("discarded", _field("discarded_bits", units.bits)),
    ]
    hours = summary.duration_s / 3600
    span = f"{hours / 24:g} days" if hours > 72 else f"{hours:g} h"
    if hours < 1:  # not "0.0166667 h"
        span = seconds(summary.duration_s)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>qinternet: {html.escape(scenario.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(scenario.name)}</h1><p>{html.escape(scenario.description)}</p>",
        f"<p class='dim'>Simulated {span} from {html.escape(summary.start_utc)}, seed {summary.seed}"
        + f", in {result.wall_s:.1f} s of wall time.</p>",
    ]
    entanglement = entanglement_section(result)
    if summary.demands or not entanglement:  # an entanglement-only run has no key demands to list
        parts += ["<h2>Demands</h2>", _table(summary.demands, demand_columns)]
    parts += [
        "<h2>Figures</h2>",
        *(
            f"<figure>{svg}" + (f"<figcaption>{html.escape(caption)}</figcaption>" if caption else "") + "</figure>"
            for svg, caption in figures
        ),
        *entanglement,
        *alarms_section(result),
    ]
    if key_links or not entanglement:
        parts += ["<h2>Links</h2>", _table(key_links, link_columns)]
    if summary.passes or any(link.pass_schedule is not None for link in links):
        parts += ["<h2>Satellite passes</h2>", _passes_table(summary.passes or ())]
    if summary.published:
        parts += ["<h2>Published figures beside this run</h2>", _published_rows(summary)]
    if scenario.sources:
        parts += ["<h2>Sources</h2><ul>", *(f"<li>{html.escape(s)}</li>" for s in scenario.sources), "</ul>"]
    parts.append("</body></html>")
    try:
        path.write_text("\n".join(parts))
    except OSError as error:
        raise ParameterError("--out", f"cannot write {str(path)!r}: {error.strerror or error}") from None
