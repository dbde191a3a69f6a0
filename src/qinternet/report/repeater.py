"""Figures of repeater chains: secret key against distance beside the repeaterless bound."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes

from qinternet.network.repeater import RepeaterResult

__all__ = ["plot_repeater_key_rates"]


def plot_repeater_key_rates(
    ax: Axes, curves: Mapping[str, Sequence[RepeaterResult]], *, title: str | None = None
) -> Axes:
    """Secret key rate (bit/s) against end-to-end fibre length, one curve per label, with the PLOB bound of the
    first curve's hardware dashed (Pirandola et al., Nat. Commun. 8, 15043 (2017): the most key any repeaterless
    link can give per channel use, here at the emitters' clock).

    Zero rates (no key at that length) are left out of a curve; a curve without key anywhere is named in a note.
    """
    empty = []
    bound_drawn = False
    for label, results in curves.items():
        ordered = sorted(results, key=lambda r: r.settings.length_km)
        length = np.array([r.settings.length_km for r in ordered])
        rate = np.array([r.secret_key_rate_bps for r in ordered])
        shown = rate > 0
        if shown.any():
            ax.plot(length[shown], rate[shown], label=label, linewidth=1.6, marker="o" if shown.sum() < 3 else None)
        else:
            empty.append(label)
        if not bound_drawn and ordered:
            plob = np.array([r.plob_bps for r in ordered])
            finite = np.isfinite(plob) & (plob > 0)
            ax.plot(length[finite], plob[finite], "k--", linewidth=1.2, label="PLOB bound (repeaterless)")
            bound_drawn = True
    if empty:
        ax.text(0.5, 0.04, "no key from " + ", ".join(empty), transform=ax.transAxes, ha="center", color="0.3")
    ax.set_yscale("log")
    ax.set_xlabel("End-to-end fibre length (km)")
    ax.set_ylabel("Secret key rate (bit/s)")
    ax.grid(True, which="major", alpha=0.4)
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize="small")
    return ax
