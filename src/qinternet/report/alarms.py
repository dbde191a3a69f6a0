"""The report's "Alarms and attacks" section: when each link's alarm was raised, and what each attack cost.

A run with alarms or with ``attacks:`` gets, in ``report.html``:

1. per attacked or alarmed link, its key per block and its QBER per block over time, the attack's interval
   shaded and the alarm's time marked (:func:`plot_link_blocks`);
2. the alarms, as the links' monitors raised them (``summary.json``'s ``alarms``): link, what was detected, when
   raised and cleared, the first aborted block, the QBER against the link's own;
3. the attacks, as the run's ground truth knows them (``summary.json``'s ``attacks``): detected or not, when,
   the key they cost (the link's honest rate times the attacked time, less the key made in it) and the key they
   compromised (key Eve knows that no check caught: blinding without a bright-light monitor).

The key-pool and demand figures of the report mark the alarms' times too (:func:`mark_alarms`). A run without
alarms and attacks gets no section.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import EngFormatter, PercentFormatter

from qinternet.report import units

if TYPE_CHECKING:
    from qinternet.network.alarms import Alarm, AttackOutcome
    from qinternet.network.run import RunResult
    from qinternet.network.simulate import NetworkRun

__all__ = ["alarms_section", "mark_alarms", "plot_link_blocks"]

_ALARM_COLOUR = {"eavesdropping": "tab:red", "detector-blinding": "tab:purple", "outage": "tab:gray"}


def mark_alarms(ax: Axes, alarms: Sequence[Alarm], seconds_per_unit: float, *, label: bool = True) -> Axes:
    """A vertical line at every alarm's time on a time axis in units of ``seconds_per_unit``, named in the
    legend by link and kind (``label``)."""
    for alarm in alarms:
        kind = alarm.detected_as.value
        ax.axvline(
            alarm.raised_s / seconds_per_unit,
            color=_ALARM_COLOUR.get(kind, "tab:red"),
            ls=":",
            lw=1.4,
            label=f"alarm: {alarm.link} ({kind})" if label else None,
        )
    return ax


def plot_link_blocks(ax: Axes, run: NetworkRun, link: str, *, qber: bool = False) -> Axes:
    """The secret key (or, with ``qber``, the QBER) of every block of ``link`` at the block's end, the
    attacks on it shaded and its alarms marked."""
    from qinternet.report.network import time_axis

    ids = [spec.id for spec in run.scenario.links]
    blocks = run.blocks[ids.index(link)]
    scale, _ = time_axis(ax, run.times_s)
    ends = np.array([b.end_s for b in blocks], dtype=np.float64) / scale
    values = np.array([b.qber if qber else b.key_bits for b in blocks], dtype=np.float64)
    ax.plot(ends, values, marker="o", markersize=3, lw=1.2, color="tab:blue", label=link)
    for attack in run.scenario.attacks:
        if attack.link == link:
            until = run.times_s[-1] if attack.until_s is None else min(attack.until_s, float(run.times_s[-1]))
            ax.axvspan(attack.from_s / scale, until / scale, color="tab:orange", alpha=0.2, label=attack.kind.value)
    mark_alarms(ax, [a for a in run.alarms if a.link == link], scale)
    if qber:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylabel("QBER of the block")
        ax.set_ylim(bottom=0.0)
    else:
        ax.yaxis.set_major_formatter(EngFormatter(unit="bit"))
        ax.set_ylabel("secret key of the block")
        ax.set_ylim(bottom=0.0, top=None if values.size and values.max() > 0 else 1.0)
    ax.set_title(f"{link}: {'QBER' if qber else 'secret key'} per block", fontsize="medium")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    return ax


def _when(value_s: float | None) -> str:
    from qinternet.report.entanglement import seconds

    return "-" if value_s is None else seconds(value_s)


def _percent(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else units.percent(value, decimals=2)


def _alarm_row(alarm: Alarm) -> list[str]:
    return [
        alarm.link,
        alarm.detected_as.value,
        _when(alarm.raised_s),
        "still raised" if alarm.cleared_s is None else _when(alarm.cleared_s),
        "-" if alarm.first_aborted_block is None else f"#{alarm.first_aborted_block} at {_when(alarm.first_aborted_s)}",
        f"{_percent(alarm.qber)} (own {_percent(alarm.expected_qber)})",
        alarm.reason,
    ]


def _attack_row(attack: AttackOutcome) -> list[str]:
    return [
        attack.link,
        attack.kind + ("" if attack.strength is None else f" {attack.strength:g}"),
        _when(attack.from_s) + " to " + ("the end" if attack.until_s is None else _when(attack.until_s)),
        "-" if attack.detected_as is None else f"{attack.detected_as} at {_when(attack.alarm_s)}",
        _when(attack.delay_s),
        units.bits(attack.key_lost_bits),
        units.bits(attack.compromised_bits),
        attack.verdict,
    ]


def _table(headers: Sequence[str], rows: Sequence[list[str]], gid: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='ids' id='{gid}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def alarms_section(result: RunResult) -> list[str]:
    """The HTML parts of the section (heading, figures, tables), or none without alarms and attacks."""
    from qinternet.report.network import _figure, _svg  # the report's figure size and inline SVG

    summary, run = result.summary, result.network
    attacks = summary.attacks or ()
    if not summary.alarms and not attacks:
        return []
    parts = ["<h2 id='alarms'>Alarms and attacks</h2>"]
    if attacks:
        headers = ["link", "attack", "when", "detected as", "after", "key lost", "compromised", "outcome"]
        parts += [
            "<h3>Attacks (the run's ground truth)</h3>",
            _table(headers, [_attack_row(a) for a in attacks], "attacks"),
            "<p class='dim'>"
            + html.escape(
                "Key lost: the link's honest rate times the attacked time, less the key it made then. Compromised: "
                "key Eve knows that passed every check (detector blinding on a receiver without a bright-light "
                "monitor)."
            )
            + "</p>",
        ]
    headers = ["link", "detected as", "raised", "cleared", "first aborted block", "QBER", "why"]
    parts += [
        "<h3>Alarms (what the links' monitors raised)</h3>",
        _table(headers, [_alarm_row(a) for a in summary.alarms], "alarm-table")
        if summary.alarms
        else "<p>No alarm was raised.</p>",
    ]
    links = list(dict.fromkeys([a.link for a in attacks] + [a.link for a in summary.alarms]))
    for link in links:
        for qber in (False, True):
            figure, ax = _figure()
            plot_link_blocks(ax, run, link, qber=qber)
            parts.append(f"<figure>{_svg(figure)}</figure>")
    return parts
