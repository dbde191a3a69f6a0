"""Geometric checks of a drawn network map, shared by the figure tests and the browser test.

They look at what matplotlib drew, not at how: a marker is any scatter point at the node's place, a label
any text that reads the node's name.
"""

from __future__ import annotations

import math
from typing import Any

from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from qinternet.network.summary import NodeSummary, RunSummary

__all__ = ["assert_readable_map", "important", "place"]


def place(node: NodeSummary) -> tuple[float, float] | None:
    """(lon, lat) where the node belongs on the map: its own, or a satellite's drawn point (``map``)."""
    if node.lat_deg is not None and node.lon_deg is not None:
        return float(node.lon_deg), float(node.lat_deg)
    if node.map is not None:
        return float(node.map.lon_deg), float(node.map.lat_deg)
    return None


def important(node: NodeSummary) -> bool:
    """Nodes that must be labelled: all but unnamed trusted relays."""
    return node.kind != "trusted-relay" or node.name != node.id


def _all_axes(figure: Figure) -> list[Axes]:
    found: list[Axes] = []
    for ax in figure.axes:
        found.append(ax)
        found.extend(ax.child_axes)
    return found


def _within(box: Bbox, frame: Bbox) -> bool:
    return bool(frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1)


def _markers_at(ax: Axes, xy: tuple[float, float]) -> int:
    count = 0
    for artist in ax.collections:
        if isinstance(artist, PathCollection) and artist.get_visible():
            for x, y in artist.get_offsets():
                if math.isclose(x, xy[0], abs_tol=1e-9) and math.isclose(y, xy[1], abs_tol=1e-9):
                    count += 1
    return count


def assert_readable_map(figure: Figure, summary: RunSummary) -> None:
    """Every node has a marker inside the map's view; every node that must be is labelled; labels overlap
    neither each other nor other axes (colour bar, legend panels), and lie inside the figure and their axes;
    longitude is stretched by 1/cos(latitude)."""
    canvas = figure.canvas
    figure.draw_without_rendering()
    renderer = canvas.get_renderer()  # type: ignore[attr-defined]
    axes = _all_axes(figure)
    nodes = summary.nodes
    main = max(axes, key=lambda ax: sum(_markers_at(ax, p) for n in nodes if (p := place(n)) is not None))
    (x0, x1), (y0, y1) = sorted(main.get_xlim()), sorted(main.get_ylim())
    for node in nodes:
        xy = place(node)
        assert xy is not None, f"{node.id} has no place on the map"
        assert _markers_at(main, xy) >= 1, f"{node.id} has no marker"
        assert x0 <= xy[0] <= x1, f"{node.id} is outside the map's view"
        assert y0 <= xy[1] <= y1, f"{node.id} is outside the map's view"

    texts = [t for ax in axes for t in ax.texts if isinstance(t, Text) and t.get_visible()]
    names = {node.name for node in nodes}
    labels = [t for t in texts if " ".join(t.get_text().split()) in names]
    labelled = {" ".join(t.get_text().split()) for t in labels}
    for node in nodes:
        if important(node):
            assert node.name in labelled, f"{node.id} ({node.name!r}) is not labelled"
    boxes = [(" ".join(t.get_text().split()), t.axes, Text.get_window_extent(t, renderer)) for t in labels]
    page = figure.bbox
    for i, (name, ax, box) in enumerate(boxes):
        assert _within(box, page), f"label {name!r} leaves the figure"
        frame = ax.get_window_extent(renderer)
        assert _within(box, frame), f"label {name!r} leaves its axes (it would be clipped, or lie under the colour bar)"
        for other in axes:
            if other is not ax and other not in ax.child_axes and ax not in other.child_axes:
                assert not box.overlaps(other.get_window_extent(renderer)), f"label {name!r} lies on other axes"
        for other_name, _, other_box in boxes[i + 1 :]:
            assert not box.overlaps(other_box), f"labels {name!r} and {other_name!r} overlap"
    for ax in axes:
        legend = ax.get_legend()
        if legend is not None:
            for name, _, box in boxes:
                assert not box.overlaps(legend.get_window_extent(renderer)), f"label {name!r} lies on the legend"

    # True proportions: the display length of a degree of longitude is cos(latitude) times one of latitude.
    centre_lat = (y0 + y1) / 2
    origin = main.transData.transform((x0, centre_lat))
    east = main.transData.transform((x0 + 1e-3, centre_lat))
    north = main.transData.transform((x0, centre_lat + 1e-3))
    ratio = (east[0] - origin[0]) / (north[1] - origin[1])
    assert ratio == _approx(math.cos(math.radians(centre_lat))), "the map's aspect is not true to the geography"


def _approx(value: float) -> Any:
    import pytest

    return pytest.approx(value, rel=0.02)
