"""The report's "Entanglement" section: what the requests for entangled pairs received and what the
applications made of them (issue 14, item 5).

A run whose scenario has ``requests:`` or ``applications:`` gets, in ``report.html``:

1. the fidelity of the delivered pairs against their delivery time, per request, with the request's
   ``min_fidelity`` dashed (:func:`plot_fidelity_over_time`);
2. a table per request: pairs delivered of wanted, mean fidelity with its 5 % and 95 % quantiles, latency, path,
   purification rounds, share of the path's memories, and met or the reason it was not;
3. the memory occupancy per node (:func:`plot_memory_occupancy`);
4. the applications' outcomes (app, nodes, metric, value, 95 % interval), each beside the scenario's
   published figures it matches (:func:`match_published`).

The numbers of the tables are those of ``summary.json`` (``entanglement``, ``memory_occupancy``,
``applications``); the figure draws the pairs of :class:`qinternet.network.entanglement_net.EntanglementRun`.
A run without requests or applications gets no section (:func:`entanglement_section` returns nothing).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from qinternet.report import units

if TYPE_CHECKING:
    from qinternet.network.entanglement_net import EntanglementRun
    from qinternet.network.run import RunResult
    from qinternet.network.schema import PublishedFigure

__all__ = [
    "entanglement_section",
    "match_published",
    "plot_fidelity_over_time",
    "plot_memory_occupancy",
    "seconds",
    "time_scale",
]

MIN_KEYWORD_HITS = 2
"""A published figure is shown beside an application when at least this many of the application's keywords
are in its quantity (:func:`match_published`)."""

_KEYWORD_STEM = 6
"""Keywords and the quantity's words are compared on their first this many letters ("teleported" and
"teleportation" agree)."""


# --------------------------------------------------------------------------------------------------------------
# Units of time
# --------------------------------------------------------------------------------------------------------------

_TIME_SCALES = ((120.0, 1.0, "s"), (2 * 3600.0, 60.0, "min"), (3 * 86400.0, 3600.0, "h"))


def time_scale(duration_s: float) -> tuple[float, str]:
    """Seconds per unit and the unit's name for a time axis spanning ``duration_s``: s up to 2 min, min up to
    2 h, h up to 3 days (the report's other time axes switch to days there too), else days."""
    for limit, scale, name in _TIME_SCALES:
        if duration_s <= limit:
            return scale, name
    return 86400.0, "days"


def seconds(value_s: float | None) -> str:
    """A duration as one reads it: ``5.70 ms``, ``11.4 s``, ``3.2 min``; ``-`` for none."""
    if value_s is None or not math.isfinite(value_s):
        return "-"
    for limit, scale, name in ((1e-6, 1e-9, "ns"), (1e-3, 1e-6, "us"), (1.0, 1e-3, "ms")):
        if abs(value_s) < limit:
            return f"{value_s / scale:.3g} {name}"
    scale, name = time_scale(abs(value_s))
    return f"{value_s / scale:.3g} {name}"


# --------------------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------------------


def plot_fidelity_over_time(ax: Axes, entanglement: EntanglementRun, duration_s: float) -> Axes:
    """Every drawn pair's fidelity against its delivery time, one colour per request; the request's
    ``min_fidelity`` as a dashed line of the same colour. A request without pairs is named in the legend.

    The points are those of :attr:`RequestResult.times_s` and ``fidelities`` (at most ``TRACE_POINTS`` per
    request, evenly thinned); they are rasterised so that the SVG stays small. The dashed lines have the gid
    ``min-fidelity:<request>``.
    """
    scale, unit = time_scale(duration_s)
    for k, result in enumerate(entanglement.requests):
        colour = f"C{k % 10}"
        rid = result.request.id
        if result.times_s.size:
            ax.scatter(
                result.times_s / scale, result.fidelities, s=6, color=colour, alpha=0.6, lw=0, rasterized=True,
                label=f"{rid}: {result.pairs:,} pairs",
            )  # fmt: skip
        else:
            ax.scatter([], [], s=6, color=colour, label=f"{rid}: no pairs")
        ax.axhline(
            result.request.min_fidelity, color=colour, ls="--", lw=1.0, label=f"{rid}: minimum fidelity",
            gid=f"min-fidelity:{rid}",
        )  # fmt: skip
    ax.set_xlim(0.0, duration_s / scale)
    ax.set_xlabel(f"delivery time ({unit})")
    ax.set_ylabel("fidelity of the pair")
    ax.set_title("Entangled pairs: fidelity over time (dashed: the request's minimum)", fontsize="medium")
    ax.legend(
        fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False,
        markerscale=2.5,
    )  # fmt: skip
    return ax


def plot_memory_occupancy(ax: Axes, occupancy: Mapping[str, float]) -> Axes:
    """A horizontal bar per node: the time-averaged fraction of its qubits reserved, in %, written at the bar."""
    nodes = list(occupancy)
    values = np.array([float(occupancy[n]) for n in nodes])
    rows = np.arange(len(nodes))
    bars = ax.barh(rows, values, color="tab:purple", height=0.6, gid="occupancy")
    ax.bar_label(bars, labels=[units.percent(v) for v in values], padding=3, fontsize="small")
    ax.set_yticks(rows, nodes)
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.15)  # room for the label of a full node
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_xlabel("qubits reserved (time average)")
    ax.set_title("Memory occupancy per node", fontsize="medium")
    return ax


# --------------------------------------------------------------------------------------------------------------
# Published figures beside applications
# --------------------------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return [w[:_KEYWORD_STEM] for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def match_published(
    applications: Sequence[Mapping[str, Any]], published: Sequence[PublishedFigure]
) -> list[list[PublishedFigure]]:
    """The published figures shown beside each application, in the applications' order.

    The rule: an application's keywords are the words of its ``app`` and ``metric`` names (``gate``,
    ``teleportation``, ``cz``, ``fidelity`` for gate-teleportation's ``cz_fidelity``); a word of a published
    quantity counts when its first six letters are those of a keyword. A published figure goes to the
    application it shares most keywords with, if that is at least :data:`MIN_KEYWORD_HITS` (ties: the first
    application). So "teleported CZ gate fidelity" goes to gate-teleportation (4) rather than teleportation
    (2: teleport..., fidelity), and "remote Bell pair fidelity" (1) goes to none.
    """
    keywords = [set(_words(f"{app.get('app', '')} {app.get('metric', '')}")) for app in applications]
    shown: list[list[PublishedFigure]] = [[] for _ in applications]
    for figure in published:
        quantity = set(_words(figure.quantity))
        hits = [len(quantity & words) for words in keywords]
        if hits and max(hits) >= MIN_KEYWORD_HITS:
            shown[hits.index(max(hits))].append(figure)
    return shown


# --------------------------------------------------------------------------------------------------------------
# The section
# --------------------------------------------------------------------------------------------------------------


def _fidelity(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _outcome(value: float | None, metric: str) -> str:
    """An application's value: rates with SI prefixes, times in ps, else four significant digits."""
    if value is None:
        return "-"
    if metric.endswith("_bps"):
        return units.rate(value)
    if metric.endswith("_ps"):
        return f"{value:.3g} ps"
    return f"{value:.4g}"


def _published_text(figure: PublishedFigure) -> str:
    unit = figure.unit.strip()
    value = f"{figure.value:g}"
    return f"{value} {unit}".strip() + f" ({figure.quantity}; {figure.source})"


def _request_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    out = []
    for row in rows:
        quantiles = row.get("fidelity_p5_p50_p95") or [None, None, None]
        spread = "" if quantiles[0] is None else f" ({_fidelity(quantiles[0])} to {_fidelity(quantiles[2])})"
        rounds = row.get("purify_rounds")
        out.append(
            {
                "request": str(row["request"]),
                "between": f"{row['a']} - {row['b']}",
                "pairs": f"{row['pairs']:,} of {row['wanted_pairs']:,.0f}",
                "fidelity": _fidelity(row.get("mean_fidelity")) + spread,
                "minimum": _fidelity(row.get("min_fidelity")),
                "latency": seconds(row.get("latency_s")),
                "path": " - ".join(row["path"]) if row.get("path") else "no path",
                "purification": "-" if rounds is None else str(rounds),
                "share": units.percent(float(row["share"])),
                "met": "met" if row.get("met") else f"unmet: {row.get('unmet_reason') or 'not met'}",
            }
        )
    return out


_REQUEST_COLUMNS = (
    ("request", "request"),
    ("between", "between"),
    ("pairs delivered", "pairs"),
    ("mean fidelity (5 % to 95 %)", "fidelity"),
    ("minimum", "minimum"),
    ("latency", "latency"),
    ("path", "path"),
    ("purification rounds", "purification"),
    ("share of the path", "share"),
    ("outcome", "met"),
)


def _application_rows(result: RunResult) -> list[dict[str, str]]:
    apps = list(result.summary.applications or ())
    matched = match_published(apps, result.scenario.published)
    out = []
    for app, figures in zip(apps, matched, strict=True):
        metric = str(app.get("metric", ""))
        ci = app.get("ci95")
        value = _outcome(app.get("value"), metric)
        if app.get("value") is None and app.get("unmet"):
            value = f"- ({app['unmet']})"
        out.append(
            {
                "app": str(app.get("app", "")),
                "nodes": ", ".join(str(n) for n in app.get("nodes", ())),
                "metric": metric,
                "value": value,
                "ci95": "-" if not ci else f"{_outcome(ci[0], metric)} to {_outcome(ci[1], metric)}",
                "published": "; ".join(_published_text(f) for f in figures) or "-",
            }
        )
    return out


_APP_COLUMNS = (
    ("application", "app"),
    ("nodes", "nodes"),
    ("metric", "metric"),
    ("value", "value"),
    ("95 % interval", "ci95"),
    ("published", "published"),
)


def _html_table(rows: Sequence[Mapping[str, str]], columns: Sequence[tuple[str, str]], kind: str, gid: str) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(row[key])}</td>" for _, key in columns) + "</tr>" for row in rows
    )
    return f"<table class='{kind}' id='{gid}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def entanglement_section(result: RunResult) -> list[str]:
    """The HTML parts of the section (heading, figures, tables), or none when the run has no requests and no
    applications."""
    from qinternet.report.network import _figure, _svg  # the report's figure size and inline SVG

    summary = result.summary
    requests = summary.entanglement or ()
    applications = summary.applications or ()
    if not requests and not applications:
        return []
    parts = ["<h2 id='entanglement'>Entanglement</h2>"]
    run = result.entanglement
    if run is not None and run.requests:
        figure, ax = _figure()
        plot_fidelity_over_time(ax, run, summary.duration_s)
        figure.set_gid("fidelity-over-time")
        caption = (
            "Each point is a delivered pair (at most 2000 per request, evenly thinned), at its delivery time from "
            "the run's start."
        )
        parts.append(f"<figure>{_svg(figure)}<figcaption>{html.escape(caption)}</figcaption></figure>")
    if requests:
        parts += [
            "<h3>Requests</h3>",
            _html_table(_request_rows(requests), _REQUEST_COLUMNS, "ids", "requests"),
        ]
    if summary.memory_occupancy:
        figure, ax = _figure((6.4, 0.45 * len(summary.memory_occupancy) + 0.5), right_in=0.4)
        plot_memory_occupancy(ax, summary.memory_occupancy)
        figure.set_gid("memory-occupancy")
        parts.append(
            f"<figure>{_svg(figure)}<figcaption>"
            + html.escape("Share of each node's memory qubits reserved for requests, averaged over the run.")
            + "</figcaption></figure>"
        )
    if applications:
        parts += [
            "<h3>Applications</h3>",
            _html_table(_application_rows(result), _APP_COLUMNS, "text", "applications"),
            "<p class='dim'>"
            + html.escape(
                "A published figure is shown beside the application that shares most keywords with it (words of "
                "the application's and metric's names, compared on their first six letters), if at least two."
            )
            + "</p>",
        ]
    return parts
