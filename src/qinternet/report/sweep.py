"""A sweep's report: each metric against each varied field with confidence bands over seeds, and heat maps.

Bands are the 95 % confidence interval of the mean over seeds, mean +- t(0.975, n-1) s / sqrt(n) with Student's
t (n seeds, s their sample standard deviation); with one seed there is no band. Points with no value of the metric
(a run that produced none) are left out of its figures.
"""

from __future__ import annotations

import html
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from qinternet.outputs import replacing

__all__ = ["MAX_SERIES", "mean_band", "plot_heat_map", "plot_metric", "write_sweep_report"]

MAX_SERIES = 8
"""Most values of a second field drawn as separate curves; with more, the curves are averaged over it."""

_Row = dict[str, Any]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        return None
    return float(value)


def mean_band(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean of ``values`` and its 95 % confidence interval (Student's t; the mean twice for one value)."""
    from scipy.stats import t

    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean())
    if data.size < 2:
        return mean, mean, mean
    half = float(t.ppf(0.975, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    return mean, mean - half, mean + half


def _grouped(rows: Sequence[_Row], keys: Sequence[str], metric: str) -> dict[tuple[Any, ...], list[float]]:
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for row in rows:
        value = _number(row.get(metric))
        if value is not None:
            groups[tuple(row[k] for k in keys)].append(value)
    return groups


def _label(value: Any) -> str:
    return f"{value:.3g}" if _number(value) is not None else str(value)


def _ordered(values: set[Any]) -> list[Any]:
    """Numbers in increasing order, then texts."""
    return sorted(values, key=lambda v: (0, float(v), "") if _number(v) is not None else (1, 0.0, str(v)))


def _log_scale(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return len(positive) == len(values) and len(positive) > 1 and max(positive) / min(positive) > 100


def plot_metric(
    ax: Axes, rows: Sequence[_Row], field: str, metric: str, *, series: str | None = None, grid: bool = True
) -> Axes:
    """``metric`` against ``field``: the mean over seeds (and over the other fields) with its 95 % band; one curve
    per value of ``series`` when given. Samples that are not on a grid are drawn as points."""
    if not grid:
        pairs = [(_number(r.get(field)), _number(r.get(metric))) for r in rows]
        kept = [(x, y) for x, y in pairs if x is not None and y is not None]
        ax.scatter([x for x, _ in kept], [y for _, y in kept], s=12)
    else:
        curves = _ordered({row[series] for row in rows}) if series is not None else [None]
        for curve in curves:
            chosen = [r for r in rows if series is None or r[series] == curve]
            groups = _grouped(chosen, [field], metric)
            xs = sorted(groups, key=lambda k: k[0])
            stats = [mean_band(groups[x]) for x in xs]
            x_values = [x[0] for x in xs]
            label = None if series is None else f"{series} = {_label(curve)}"
            line = ax.plot(x_values, [s[0] for s in stats], marker="o", markersize=3, label=label)[0]
            ax.fill_between(x_values, [s[1] for s in stats], [s[2] for s in stats], color=line.get_color(), alpha=0.2)
        if series is not None:
            ax.legend(fontsize="small")
    numbers = [v for r in rows if (v := _number(r.get(metric))) is not None]
    if _log_scale(numbers):
        ax.set_yscale("log")
    fields = [v for r in rows if (v := _number(r.get(field))) is not None]
    if _log_scale(fields):
        ax.set_xscale("log")
    ax.set_xlabel(field)
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    return ax


def plot_heat_map(ax: Axes, rows: Sequence[_Row], x: str, y: str, metric: str) -> Axes:
    """The mean of ``metric`` over seeds (and the other fields) on the grid of ``x`` and ``y``."""
    groups = _grouped(rows, [x, y], metric)
    xs = _ordered({k[0] for k in groups})
    ys = _ordered({k[1] for k in groups})
    grid = np.full((len(ys), len(xs)), np.nan)
    for (xv, yv), values in groups.items():
        grid[ys.index(yv), xs.index(xv)] = float(np.mean(values))
    finite = grid[np.isfinite(grid)]
    norm: Normalize = Normalize()
    if finite.size and _log_scale(list(finite)):
        norm = LogNorm(vmin=float(finite.min()), vmax=float(finite.max()))
    mesh = ax.pcolormesh(np.arange(len(xs) + 1), np.arange(len(ys) + 1), grid, norm=norm, shading="flat")
    ax.set_xticks(np.arange(len(xs)) + 0.5, [_label(v) for v in xs], rotation=45, fontsize="small")
    ax.set_yticks(np.arange(len(ys)) + 0.5, [_label(v) for v in ys], fontsize="small")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.figure.colorbar(mesh, ax=ax, label=metric)
    return ax


def _file_name(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "--".join(parts)) + ".png"


def _save(fig: Figure, path: Path) -> None:
    with replacing(path, "--out") as temporary:
        fig.savefig(temporary, dpi=120, format="png")


def write_sweep_report(
    folder: Path, rows: Sequence[_Row], *, name: str, description: str, fields: Sequence[str],
    metrics: Sequence[str], grid: bool, details: Sequence[str] = (),
) -> list[Path]:  # fmt: skip
    """Figures (PNG) and ``report.html`` for a sweep's rows in ``folder``; the paths of the files written."""
    written: list[Path] = []
    figures: list[tuple[str, str]] = []
    plotted = [m for m in metrics if any(_number(r.get(m)) is not None for r in rows)]
    for metric in plotted:
        for field in fields:
            others = [f for f in fields if f != field]
            series = others[0] if len(others) == 1 and len({r[others[0]] for r in rows}) <= MAX_SERIES else None
            fig = Figure(figsize=(6.4, 4.4), layout="constrained")
            plot_metric(fig.add_subplot(), rows, field, metric, series=series if grid else None, grid=grid)
            file = _file_name(metric, "vs", field)
            _save(fig, folder / file)
            written.append(folder / file)
            figures.append((f"{metric} against {field}", file))
        if grid and len(fields) >= 2:
            fig = Figure(figsize=(6.4, 5.0), layout="constrained")
            plot_heat_map(fig.add_subplot(), rows, fields[0], fields[1], metric)
            file = _file_name(metric, "map", fields[0], fields[1])
            _save(fig, folder / file)
            written.append(folder / file)
            figures.append((f"{metric} over {fields[0]} and {fields[1]}", file))
    page = folder / "report.html"
    with replacing(page, "--out") as temporary:
        temporary.write_text(_html(name, description, details, figures, len(rows)), encoding="utf-8")
    written.append(page)
    return written


def _html(name: str, description: str, details: Sequence[str], figures: list[tuple[str, str]], runs: int) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in details)
    body = "".join(
        f'<figure><img src="{html.escape(file)}" alt="{html.escape(title)}"><figcaption>{html.escape(title)}'
        "</figcaption></figure>"
        for title, file in figures
    )
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(name)}</title>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:auto}img{max-width:100%}</style></head><body>"
        f"<h1>Study {html.escape(name)}</h1><p>{html.escape(description)}</p><ul>{items}</ul>"
        f"<p>{runs} runs in results.parquet; bands: 95 % confidence interval of the mean over seeds.</p>"
        f"{body}</body></html>\n"
    )
