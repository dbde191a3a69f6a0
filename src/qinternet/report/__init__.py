"""Plots and reports. Plot functions draw on a given ``Axes`` so that users can compose figures."""

from qinternet.report.plots import plot_key_rate

__all__ = ["plot_key_rate"]
