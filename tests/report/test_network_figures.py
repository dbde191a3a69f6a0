"""The report's time-series, link and satellite figures, and its HTML tables, on small runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import BuiltLink
from qinternet.network.run import RunResult, run_scenario
from qinternet.network.schema import Scenario, load_scenario
from qinternet.network.simulate import NetworkRun
from qinternet.network.summary import RunSummary
from qinternet.report.network import (
    MAX_POINTS,
    plot_demands,
    plot_link_rates,
    plot_pass_elevations,
    plot_pass_keys,
    plot_pools,
    write_report,
)


def axes() -> Any:
    return Figure().add_subplot()


def shorter(name: str, duration_s: float) -> Scenario:
    data = resolve_scenario(name)[0].model_dump(mode="json")
    data["time"]["duration_s"] = duration_s
    return load_scenario(data)


def run_of(scenario: Scenario) -> tuple[NetworkRun, list[BuiltLink], RunResult]:
    result = run_scenario(scenario)
    return result.network, list(result.links), result


def made_up_run(pools: np.ndarray, demands: int = 0) -> NetworkRun:
    """A run of chicago-ieqnet's 4 links with the given pool levels (shape (T, 4)), one step a minute."""
    scenario = resolve_scenario("chicago-ieqnet")[0]
    steps = pools.shape[0]
    zeros = np.zeros((steps, len(scenario.demands)))
    return NetworkRun(
        scenario=scenario,
        times_s=60.0 * np.arange(1, steps + 1),
        pool_bits=pools,
        generated_bits=np.cumsum(pools, axis=0),
        delivered_bits=zeros + np.arange(steps)[:, None],
        wanted_bits=zeros + 2 * np.arange(steps)[:, None],
        blocks=[[] for _ in scenario.links],
        discarded_bits=np.zeros(4),
    )


def test_pools_that_would_hide_each_other_stay_visible() -> None:
    saw = np.tile(np.arange(10.0) * 1e3, 12)[:, None]
    pools = np.hstack([saw, saw, saw + 5.0, 40 * saw])  # two equal, one a hair above, one far above
    ax = plot_pools(axes(), made_up_run(pools))
    lines = [line for line in ax.get_lines() if line.get_label() and not line.get_label().startswith("_")]
    labels = [line.get_label() for line in lines]
    ids = [link.id for link in resolve_scenario("chicago-ieqnet")[0].links]
    assert f"{ids[0]} = {ids[1]}" in labels  # equal at every instant: drawn once, both named
    assert len(lines) == 3
    styles = {(line.get_linestyle(), line.get_marker()) for line in lines}
    assert len(styles) == 3  # each line its own style and marker,
    assert all(line.get_marker() not in ("None", "", None) for line in lines)
    starts = {line.get_markevery()[0] for line in lines}  # type: ignore[index]
    assert len(starts) == 3  # and markers at different instants, so near-equal lines show both


def test_a_year_of_pools_is_drawn_with_few_points_and_keeps_its_peaks() -> None:
    minutes = 365 * 1440
    rng = np.random.default_rng(3)
    pools = np.repeat(rng.uniform(0, 1e9, size=(minutes, 1)), 4, axis=1) * np.array([1.0, 2.0, 3.0, 4.0])
    pools[123_456, 0] = 5e9  # one spike
    ax = plot_pools(axes(), made_up_run(pools))
    for line in ax.get_lines():
        assert len(line.get_xdata()) <= MAX_POINTS + 2
    assert any(float(np.max(line.get_ydata())) == 5e9 for line in ax.get_lines())  # the spike survives
    assert ax.get_xlabel() == "time (days)"


def test_the_demands_legend_names_wanted_and_delivered() -> None:
    ax = plot_demands(axes(), made_up_run(np.zeros((30, 4))))
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    for demand in resolve_scenario("chicago-ieqnet")[0].demands:
        assert f"{demand.id}: wanted" in texts
        assert f"{demand.id}: delivered" in texts


def test_link_rates_stop_at_the_cut_off_instead_of_a_made_up_floor() -> None:
    data = resolve_scenario("chicago-ieqnet")[0].model_dump(mode="json")
    data["links"] = [{**data["links"][0], "length_km": 40.0, "classical_channels": []}]
    data["links"].append({**data["links"][0], "id": "too-long", "a": "argonne", "b": "starlight", "length_km": 160.0})
    data["demands"] = []
    data["time"]["duration_s"] = 1800
    _, links, result = run_of(load_scenario(data))
    assert result.summary.links[1].mean_rate_bps == 0  # 160 km is past lim2014's finite-key cut-off
    ax = plot_link_rates(axes(), result.summary, links)
    curve = ax.get_lines()[0]
    assert np.all(np.asarray(curve.get_ydata()) > 1e-3)  # no flat floor at 1e-3 bit/s
    assert max(curve.get_xdata()) < 160.0 * 1.6  # it ends where the key does
    assert any("no key beyond" in t.get_text() for t in ax.texts)
    # The link without key is drawn on the axis' bottom edge (axes coordinates), not at a rate.
    no_key = next(c for c in ax.collections if c.get_label() == "simulated: no key")
    (x, y), bottom = no_key.get_offset_transform().transform(no_key.get_offsets())[0], ax.transAxes.transform((0, 0))
    assert y == pytest.approx(bottom[1])
    assert x == pytest.approx(ax.transData.transform((160.0, 1.0))[0])


@pytest.fixture(scope="module")
def micius_hour() -> tuple[NetworkRun, list[BuiltLink], RunResult]:
    return run_of(shorter("micius", 3600))


def test_satellite_plots_say_no_passes(micius_hour: tuple[NetworkRun, list[BuiltLink], RunResult]) -> None:
    run, links, _ = micius_hour
    ids = [spec.id for spec in run.scenario.links]
    for ax in (plot_pass_elevations(axes(), links, ids), plot_pass_keys(axes(), run)):
        assert any("no passes" in t.get_text() for t in ax.texts)
        assert not ax.get_lines()
        assert not ax.patches


def test_satellite_plots_of_a_long_run_go_per_day() -> None:
    days = 10
    run, links, _ = run_of(shorter("micius", days * 86400.0))
    ids = [spec.id for spec in run.scenario.links]
    elevations = plot_pass_elevations(axes(), links, ids)
    assert "day" in elevations.get_xlabel()
    for line, link in zip(elevations.get_lines(), links, strict=True):
        assert link.pass_schedule is not None
        assert len(line.get_xdata()) <= days
        assert days < len(link.pass_schedule.passes)  # the best pass of each day
    keys = plot_pass_keys(axes(), run)
    assert "day" in keys.get_xlabel()
    assert len(keys.patches) == len(links) * (days + 1)  # a bar per link per day (the last day partly)
    total = sum(bar.get_height() for bar in keys.patches)
    assert total == pytest.approx(float(run.generated_bits[-1].sum()))


@pytest.fixture(scope="module")
def micius_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, RunSummary]:
    _, _, result = run_of(shorter("micius", 4 * 86400.0))
    path = tmp_path_factory.mktemp("micius") / "report.html"
    write_report(path, result)
    return path.read_text(), result.summary


def cells(html: str, heading: str) -> list[list[str]]:
    """The rows (lists of cell texts) of the first table after ``<h2>heading``."""
    section = html.split(f"<h2>{heading}")[1]
    table = section[: section.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    return [re.findall(r"<t[dh]>(.*?)</t[dh]>", row) for row in rows]


def test_tables_show_units_and_percentages(micius_report: tuple[str, RunSummary]) -> None:
    html, _ = micius_report
    for heading in ("Demands", "Links"):
        rows = cells(html, heading)
        for row in rows[1:]:
            for cell in row:
                assert not re.search(r"\de[+-]\d", cell), (heading, cell)  # no raw 1.728e+10
    demands = cells(html, "Demands")
    met = demands[0].index("met")
    assert all(row[met].endswith(" %") for row in demands[1:])
    links = cells(html, "Links")
    rate = links[0].index("mean rate")
    assert all(row[rate].endswith("bit/s") for row in links[1:])


def test_the_passes_table_lists_every_pass(micius_report: tuple[str, RunSummary]) -> None:
    html, summary = micius_report
    rows = cells(html, "Satellite passes")
    assert rows[0] == [
        "start (UTC)", "link", "duration", "peak elevation", "closest", "least loss", "secret key", "mean rate", "QBER",
    ]  # fmt: skip
    assert summary.passes is not None
    assert len(rows) - 1 == len(summary.passes) > 4
    for link in summary.links:
        assert sum(p.key_bits for p in summary.passes if p.link == link.id) == link.secret_bits


def test_published_figures_stand_beside_the_simulated_ones(micius_report: tuple[str, RunSummary]) -> None:
    html, summary = micius_report
    rows = cells(html, "Published figures")
    header = rows[0]
    assert header[:3] == ["quantity", "published", "simulated"]
    by_quantity = {row[0]: row for row in rows[1:]}
    assert by_quantity["channel loss at 645 km"][2].endswith(" dB")
    assert by_quantity["QBER"][2].endswith(" %")
    assert by_quantity["mean secure key rate over that pass"][2].endswith("bit/s")
    assert all(p.simulated is not None for p in summary.published)


def test_a_figure_it_cannot_match_is_not_simulated(tmp_path: Path) -> None:
    _, _, result = run_of(shorter("chicago-ieqnet", 1200))
    write_report(tmp_path / "report.html", result)
    rows = cells((tmp_path / "report.html").read_text(), "Published figures")
    assert len(rows) == 5
    assert all(row[2] == "not simulated" for row in rows[1:])  # context from other experiments
