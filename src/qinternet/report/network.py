"""Figures and the self-contained HTML report of a network run (``out/report.html``).

The plotting functions draw on a given ``Axes`` (STYLE.md), so that users can compose their own figures;
:func:`write_report` puts them, as inline SVG, into one HTML page with the summary tables.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure, SubFigure

from qinternet.errors import ParameterError

if TYPE_CHECKING:
    from qinternet.network.engines import BuiltLink
    from qinternet.network.simulate import NetworkRun

__all__ = [
    "plot_demands",
    "plot_link_rates",
    "plot_network_map",
    "plot_pass_elevations",
    "plot_pass_keys",
    "plot_pools",
    "write_report",
]


def plot_network_map(ax: Axes, summary: dict[str, Any]) -> Axes:
    """Nodes at their coordinates (longitude, latitude), links coloured by mean secret key rate."""
    nodes = {n["id"]: n for n in summary["nodes"] if n["lat_deg"] is not None}
    rates = [link["mean_rate_bps"] for link in summary["links"] if link["mean_rate_bps"] > 0]
    norm = LogNorm(vmin=min(rates), vmax=max(rates)) if rates and min(rates) < max(rates) else None
    cmap = plt.get_cmap("viridis")
    for link in summary["links"]:
        a, b = nodes.get(link["a"]), nodes.get(link["b"])
        if a is None or b is None:
            continue
        rate = link["mean_rate_bps"]
        colour = cmap(norm(rate)) if norm is not None and rate > 0 else ("tab:red" if rate <= 0 else cmap(0.5))
        ax.plot([a["lon_deg"], b["lon_deg"]], [a["lat_deg"], b["lat_deg"]], color=colour, lw=4, zorder=1)
    markers = {
        "user": ("o", "tab:blue", 60),
        "trusted-relay": ("|", "0.2", 30),
        "ground-station": ("^", "tab:green", 60),
    }
    for node in nodes.values():
        marker, colour, size = markers.get(node["kind"], ("D", "tab:purple", 40))
        ax.scatter(node["lon_deg"], node["lat_deg"], marker=marker, color=colour, s=size, zorder=2)
        if node["kind"] != "trusted-relay":
            ax.annotate(node["name"], (node["lon_deg"], node["lat_deg"]), xytext=(5, 4), textcoords="offset points")
    if norm is not None:
        mappable = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        ax.figure.colorbar(mappable, ax=ax, label="mean secret key rate (bit/s)")
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_aspect(1.0 / max(0.2, float(np.cos(np.radians(np.mean([n["lat_deg"] for n in nodes.values()]))))))
    ax.set_title("Network (links coloured by mean secret key rate; red: no key)")
    return ax


def plot_pools(ax: Axes, run: NetworkRun, *, most: int = 8) -> Axes:
    """Key pool levels over time: the ``most`` links whose pools held least on average."""
    hours = run.times_s / 3600
    order = np.argsort(run.pool_bits.mean(axis=0), kind="stable")[:most]
    for i in order:
        ax.plot(hours, run.pool_bits[:, i], label=run.scenario.links[i].id, lw=1.2)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("key in pool (bit)")
    ax.set_title(f"Key pools (the {len(order)} lowest on average)")
    ax.legend(fontsize="small", ncol=2)
    return ax


def plot_demands(ax: Axes, run: NetworkRun) -> Axes:
    """Key delivered (solid) and wanted (dashed) per demand, cumulative."""
    hours = run.times_s / 3600
    for j, demand in enumerate(run.scenario.demands):
        (line,) = ax.plot(hours, run.delivered_bits[:, j], label=f"{demand.id} delivered")
        ax.plot(hours, run.wanted_bits[:, j], ls="--", color=line.get_color(), lw=0.8)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("key (bit)")
    ax.set_title("Demands: delivered (solid) and wanted (dashed)")
    if run.scenario.demands:
        ax.legend(fontsize="small")
    return ax


def plot_link_rates(ax: Axes, summary: dict[str, Any], links: Sequence[BuiltLink], *, points: int = 40) -> Axes:
    """Fibre links' simulated mean rates at their lengths, on the analytic finite-key curve of their devices.

    The curve is the key per block of the first fibre link's devices and settings over a range of
    lengths (other links may differ in devices or settings; their analytic rate is the hollow marker).
    """
    fibre = [(s, link) for s, link in zip(summary["links"], links, strict=True) if link.fibre is not None]
    if not fibre:
        ax.set_axis_off()
        return ax
    engine = fibre[0][1].fibre
    assert engine is not None
    block_s = engine.block_pulses / engine.system.source.rep_rate_hz
    lengths = [link.fibre.distance_km for _, link in fibre if link.fibre is not None]
    grid = np.linspace(0.0, max(lengths) * 1.6, points)
    from qinternet.qkd.finite_key import expected_counts

    curve = [
        engine.bounds(expected_counts(engine.system, float(d), block_pulses=float(engine.block_pulses))).key_length_bits
        / block_s
        for d in grid
    ]
    ax.semilogy(grid, np.maximum(curve, 1e-3), color="0.3", lw=1, label="analytic (first link's settings)")
    measured = [max(s["mean_rate_bps"], 1e-3) for s, _ in fibre]
    expected = [max(link.expected_rate_bps, 1e-3) for _, link in fibre]
    ax.scatter(lengths, expected, facecolors="none", edgecolors="tab:blue", label="analytic, each link's settings")
    ax.scatter(lengths, measured, s=12, color="tab:orange", label="simulated mean over the run")
    ax.set_xlabel("fibre length (km)")
    ax.set_ylabel("secret key rate (bit/s)")
    ax.set_title("Fibre links against the analytic finite-key model")
    ax.legend(fontsize="small")
    return ax


def plot_pass_elevations(ax: Axes, links: Sequence[BuiltLink], ids: Sequence[str]) -> Axes:
    """Elevation during every pass of every downlink, against minutes from the pass's start."""
    for link, link_id in zip(links, ids, strict=True):
        if link.satellite is None:
            continue
        colour = None
        for k, record in enumerate(link.satellite.passes):
            minutes = (record.times_s - record.start_s) / 60
            (line,) = ax.plot(minutes, record.elevation_deg, color=colour, lw=1, label=link_id if k == 0 else None)
            colour = line.get_color()
    ax.set_xlabel("minutes into the pass")
    ax.set_ylabel("elevation (deg)")
    ax.set_title("Satellite passes (while the link may transmit)")
    ax.legend(fontsize="small")
    return ax


def plot_pass_keys(ax: Axes, run: NetworkRun) -> Axes:
    """Secret key of every pass (bars at the pass's end time), per downlink."""
    for i, spec in enumerate(run.scenario.links):
        if spec.kind.value != "free-space":
            continue
        blocks = run.blocks[i]
        ax.bar([b.end_s / 3600 for b in blocks], [b.key_bits for b in blocks], width=0.4, label=spec.id, alpha=0.8)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("secret key of the pass (bit)")
    ax.set_title("Key per pass")
    ax.legend(fontsize="small")
    return ax


def _svg(figure: Figure | SubFigure) -> str:
    figure = figure.figure if isinstance(figure, SubFigure) else figure
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "qinternet"}):  # the same run gives the same file
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            if isinstance(value, float):
                text = f"{value:.4g}"
            elif value is None:
                text = "-"
            else:
                text = str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}figure{margin:1.5em 0}svg{max-width:100%;height:auto}.dim{color:#666}
"""


def write_report(path: Path, run: NetworkRun, summary: dict[str, Any], links: Sequence[BuiltLink]) -> None:
    """Write the self-contained HTML report of a run (figures inline as SVG, no external files)."""
    figures = []
    figures.append(_svg(plot_network_map(plt.subplots(figsize=(8, 6))[1], summary).figure))
    figures.append(_svg(plot_pools(plt.subplots(figsize=(8, 4))[1], run).figure))
    if run.scenario.demands:
        figures.append(_svg(plot_demands(plt.subplots(figsize=(8, 4))[1], run).figure))
    if any(link.fibre is not None for link in links):
        figures.append(_svg(plot_link_rates(plt.subplots(figsize=(8, 4))[1], summary, links).figure))
    if any(link.satellite is not None for link in links):
        ids = [spec.id for spec in run.scenario.links]
        figures.append(_svg(plot_pass_elevations(plt.subplots(figsize=(8, 4))[1], links, ids).figure))
        figures.append(_svg(plot_pass_keys(plt.subplots(figsize=(8, 4))[1], run).figure))
    scenario = run.scenario
    demand_columns = [
        ("id", "demand"),
        ("a", "from"),
        ("b", "to"),
        ("priority", "priority"),
        ("wanted_bits", "wanted (bit)"),
        ("delivered_bits", "delivered (bit)"),
        ("unmet_bits", "unmet (bit)"),
        ("met_fraction", "met"),
    ]
    link_columns = [
        ("id", "link"),
        ("kind", "kind"),
        ("model", "model"),
        ("secret_bits", "secret bits"),
        ("mean_rate_bps", "mean rate (bit/s)"),
        ("expected_rate_bps", "analytic (bit/s)"),
        ("qber", "QBER"),
        ("uptime", "uptime"),
        ("aborted_blocks", "aborted blocks"),
        ("discarded_bits", "discarded (bit)"),
    ]
    published = [{**p, "value": f"{p['value']:g} {p['unit']}".strip()} for p in summary["published"]]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>qinternet: {html.escape(scenario.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(scenario.name)}</h1><p>{html.escape(scenario.description)}</p>",
        f"<p class='dim'>Simulated {summary['duration_s'] / 3600:g} h from {html.escape(summary['start_utc'])}, "
        f"seed {summary['seed']}, in {summary.get('wall_s', float('nan')):.1f} s of wall time.</p>",
        "<h2>Demands</h2>",
        _table(summary["demands"], demand_columns),
        "<h2>Figures</h2>",
        *(f"<figure>{svg}</figure>" for svg in figures),
        "<h2>Links</h2>",
        _table(summary["links"], link_columns),
    ]
    if published:
        parts += [
            "<h2>Published figures this scenario should come close to</h2>",
            _table(published, [("quantity", "quantity"), ("value", "value"), ("source", "source"), ("note", "note")]),
        ]
    if scenario.sources:
        parts += ["<h2>Sources</h2><ul>", *(f"<li>{html.escape(s)}</li>" for s in scenario.sources), "</ul>"]
    parts.append("</body></html>")
    try:
        path.write_text("\n".join(parts))
    except OSError as error:
        raise ParameterError("--out", f"cannot write {str(path)!r}: {error.strerror or error}") from None
