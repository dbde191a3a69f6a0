"""The report's map: every node drawn, labels readable, geography true (checked on what matplotlib drew)."""

from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys

import pytest

from qinternet.network.summary import LinkSummary, NodeSummary, RunSummary, SatelliteMapPoint, Totals
from qinternet.report.network import network_map_figure
from tests.report.map_checks import assert_readable_map


def node(node_id: str, kind: str, lat: float | None, lon: float | None, name: str | None = None) -> NodeSummary:
    return NodeSummary(id=node_id, kind=kind, name=name or node_id, lat_deg=lat, lon_deg=lon, pools=())


def link(a: str, b: str, rate: float, kind: str = "fibre", via: str | None = None) -> LinkSummary:
    return LinkSummary(
        id=f"{a}--{b}",
        a=a,
        b=b,
        kind=kind,
        via=via,
        model="analytic",
        secret_bits=rate * 3600,
        mean_rate_bps=rate,
        expected_rate_bps=None,
        qber=None,
        uptime=1.0,
        blocks=1,
        aborted_blocks=0,
        discarded_bits=0.0,
        pool_bits_final=0.0,
        pool_bits_min=0.0,
        pool_bits_max=0.0,
    )


def summary_of(nodes: list[NodeSummary], links: list[LinkSummary]) -> RunSummary:
    """A summary holding only what the map draws: nodes and links."""
    totals = Totals(secret_bits=0.0, delivered_bits=0.0, unmet_bits=0.0, discarded_bits=0.0)
    return RunSummary(
        scenario="map",
        description="",
        seed=1,
        start_utc="2021-01-06T00:00:00+00:00",
        duration_s=3600.0,
        step_s=60.0,
        totals=totals,
        links=tuple(links),
        demands=(),
        nodes=tuple(nodes),
        published=(),
        sources=(),
    )


def city() -> RunSummary:
    """Bristol's shape: one source and four users within 400 m on a campus, four across a 10 km city."""
    campus = [
        node("alice", "user", 51.4587, -2.6029, "user A (Physics, HH Wills Laboratory)"),
        node("bob", "user", 51.4560, -2.6021, "user B (Merchant Venturers Building)"),
        node("chloe", "user", 51.4557, -2.6035, "user C (Queen's Building)"),
        node("dave", "user", 51.4566, -2.6048, "user D (Fry Building)"),
    ]
    town = [
        node("feng", "user", 51.4510, -2.5985, "user F (Harbourside)"),
        node("gopi", "user", 51.4495, -2.5830, "user G (Temple Quarter)"),
        node("heidi", "user", 51.4955, -2.5914, "user H (Southmead)"),
        node("ivan", "user", 51.5060, -2.4915, "user I (Science Park, Emersons Green)"),
    ]
    users = campus + town
    links = [
        link(a.id, b.id, 1e3 * (i + j + 1), "entanglement", "source")
        for i, a in enumerate(users)
        for j, b in enumerate(users)
        if i < j
    ]
    source = node("source", "entanglement-source", 51.4585, -2.6025, "SPDC source (University of Bristol)")
    return summary_of([source, *users], links)


def continent() -> RunSummary:
    """The space-ground shape: a relay chain ending at the map's east edge, a satellite drawn at its best pass
    next to a ground station, a user 1 km from that station, and a station next to a city."""
    chain = [node("beijing", "user", 39.9, 116.41, "Beijing")]
    chain += [node(f"relay-{k:02d}", "trusted-relay", 39.9 - 0.45 * k, 116.5 + 0.02 * k) for k in range(1, 18)]
    chain += [node("hefei", "user", 31.82, 117.23, "Hefei")]
    chain += [
        node(f"relay-{k:02d}", "trusted-relay", 31.8 - 0.06 * (k - 17), 117.23 + 0.42 * (k - 17)) for k in range(18, 27)
    ]
    chain += [node("shanghai", "user", 31.23, 121.47, "Shanghai")]
    satellite = dataclasses.replace(
        node("micius", "satellite", None, None, "Micius"),
        map=SatelliteMapPoint(
            lat_deg=43.6, lon_deg=86.5, utc="2021-01-06T19:31:54+00:00", why="best pass",
            track=tuple((30.0 + k, 83.0 + 0.3 * k) for k in range(25)),
        ),
    )  # fmt: skip
    stations = [
        node("nanshan", "ground-station", 43.475, 87.176, "Nanshan (Urumqi)"),
        node("nanshan-user", "user", 43.48, 87.18, "Nanshan user"),
        node("xinglong", "ground-station", 40.396, 117.578, "Xinglong"),
    ]
    links = [link(a.id, b.id, 2e5 + 1e4 * k) for k, (a, b) in enumerate(itertools.pairwise(chain))]
    links += [
        link("micius", "nanshan", 3.0, "free-space"),
        link("micius", "xinglong", 0.0, "free-space"),
        link("nanshan-user", "nanshan", 5e6),
        link("xinglong", "beijing", 1.6e5),
    ]
    return summary_of([*chain, satellite, *stations], links)


@pytest.mark.parametrize("summary", [city(), continent()], ids=["city", "continent"])
def test_every_node_is_drawn_and_labelled_without_overlap(summary: RunSummary) -> None:
    assert_readable_map(network_map_figure(summary), summary)


def test_a_crowded_campus_gets_a_detail_panel_and_a_far_satellite_its_point() -> None:
    figure = network_map_figure(city())
    (ax,) = [a for a in figure.axes if a.child_axes]
    (detail,) = ax.child_axes
    (x0, x1), (y0, y1) = detail.get_xlim(), detail.get_ylim()
    inside = {
        n.id
        for n in city().nodes
        if n.lon_deg is not None and n.lat_deg is not None and x0 <= n.lon_deg <= x1 and y0 <= n.lat_deg <= y1
    }
    assert {"source", "alice", "bob", "chloe", "dave"} <= inside
    assert "ivan" not in inside  # 9 km away: the panel zooms
    # The panel keeps the map's proportions.
    assert detail.get_aspect() == pytest.approx(1 / math.cos(math.radians((ax.get_ylim()[0] + ax.get_ylim()[1]) / 2)))


def test_rates_on_the_colour_bar_carry_units() -> None:
    figure = network_map_figure(continent())
    bar = next(a for a in figure.axes if a.get_xlabel().startswith("mean secret key rate"))
    figure.draw_without_rendering()
    ticks = [t.get_text() for t in bar.get_xticklabels() if t.get_text()]
    assert ticks
    assert all(t.endswith("bit/s") for t in ticks), ticks


def test_importing_the_report_leaves_matplotlibs_backend_alone() -> None:
    code = (
        "import sys, matplotlib; matplotlib.use('svg'); "
        "import qinternet.report.network, qinternet.cli.network_cmd, qinternet.cli.keyrate_cmd; "
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["svg", "False"]
