"""Key-rate plots in the style of the QKD literature."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from qinternet.qkd.keyrate import KeyRatePoint, Protocol

__all__ = ["PROTOCOL_LABELS", "plot_key_rate"]

PROTOCOL_LABELS: dict[Protocol, str] = {
    Protocol.DECOY_BB84: "Decoy BB84 (infinite decoys)",
    Protocol.DECOY_BB84_VACUUM_WEAK: "Decoy BB84 (vacuum + weak)",
    Protocol.DECOY_BB84_FINITE: "Decoy BB84, finite key",
    Protocol.BB84_GLLP: "BB84, no decoys (GLLP)",
    Protocol.BB84_SINGLE_PHOTON: "BB84, single-photon source",
    Protocol.BBM92: "BBM92, SPDC source in the middle",
    Protocol.PLOB: "PLOB bound",
    Protocol.TGW: "TGW bound",
    Protocol.MDI_BB84: "MDI-QKD (decoy BB84)",
    Protocol.TF_SNS: "Twin-field, sending-or-not-sending",
    Protocol.TF_SNS_AOPP: "Twin-field, SNS with AOPP",
    Protocol.TF_PM: "Twin-field, phase-matching",
}

_BOUNDS = {Protocol.PLOB, Protocol.TGW}

_FEW_POINTS = 3
"""Curves with fewer points than this get markers (a single distance would otherwise draw nothing)."""


def plot_key_rate(ax: Axes, points: Sequence[KeyRatePoint], *, title: str | None = None) -> Axes:
    """Draw key rate per pulse against distance on a log axis, one curve per protocol.

    Zero rates (beyond the cut-off) and infinite ones (a bound at 0 km) are left out of the curve.
    Bounds are drawn dashed, as is usual in the literature. When the curves run on different device sets
    (e.g. MDI and twin-field protocols against a twin-field preset), the legend names each curve's set.
    A curve of one or two points (e.g. a single
    distance) is drawn with markers; a protocol without key at any distance is named in a note on the axes,
    and axes with no key at all say so instead of staying empty.
    """
    protocols = list(dict.fromkeys(p.protocol for p in points))
    sets = {p.device_set for p in points if p.protocol not in _BOUNDS}
    empty = []
    for protocol in protocols:
        curve = sorted((p for p in points if p.protocol is protocol), key=lambda p: p.fibre_distance_km)
        distance = np.array([p.fibre_distance_km for p in curve])
        rate = np.array([p.key_rate_per_pulse for p in curve])
        shown = np.isfinite(rate) & (rate > 0)
        label = PROTOCOL_LABELS[protocol]
        if len(sets) > 1 and curve[0].device_set and protocol not in _BOUNDS:
            label += f" [{curve[0].device_set}]"  # the curves use different devices: say which
        if not shown.any():
            empty.append(label)
            continue
        ax.plot(
            distance[shown],
            rate[shown],
            label=label,
            linestyle="--" if protocol in _BOUNDS else "-",
            linewidth=1.6,
            marker="o" if shown.sum() < _FEW_POINTS else None,
        )
    if empty and points:
        distances = sorted({p.fibre_distance_km for p in points})
        where = f"{distances[0]:g} km" if len(distances) == 1 else f"{distances[0]:g}-{distances[-1]:g} km"
        note = "no key" if len(empty) == len(protocols) else "no key from " + ", ".join(empty)
        ax.text(
            0.5, 0.5 if len(empty) == len(protocols) else 0.04, f"{note} at {where}", transform=ax.transAxes,
            ha="center", va="center" if len(empty) == len(protocols) else "bottom", color="0.3",
        )  # fmt: skip
    if protocols and len(empty) == len(protocols):
        low, high = min(p.fibre_distance_km for p in points), max(p.fibre_distance_km for p in points)
        pad = max(1.0, 0.05 * (high - low))
        ax.set_xlim(low - pad, high + pad)
        ax.set_xlabel("Fibre length (km)")
        ax.set_ylabel("Secret key rate (bits per pulse)")
        ax.set_yticks([])
        if title:
            ax.set_title(title)
        return ax
    ax.set_yscale("log")
    ax.set_xlabel("Fibre length (km)")
    ax.set_ylabel("Secret key rate (bits per pulse)")
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.15)
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize="small")
    return ax
