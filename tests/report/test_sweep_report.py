"""The sweep report: confidence bands over seeds and figures for fields of any kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from qinternet.report.sweep import mean_band, write_sweep_report


def test_the_band_is_students_t_interval_of_the_mean() -> None:
    # n = 3, mean 2, s = 1: half-width t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051 = 2.484138.
    mean, low, high = mean_band([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert high - mean == pytest.approx(2.484138, rel=1e-6)
    assert mean - low == pytest.approx(2.484138, rel=1e-6)
    assert mean_band([5.0]) == (5.0, 5.0, 5.0)  # one seed: no band


def test_the_report_draws_fields_whose_values_are_texts(tmp_path: Path) -> None:
    rows = [
        {"cutoff": c, "preset": p, "seed": s, "rate": 1.0 + i + s}
        for i, (c, p) in enumerate((c, p) for c in ("10ms", "1s") for p in ("a", "b"))
        for s in (1, 2)
    ]
    files = write_sweep_report(
        tmp_path, rows, name="t", description="", fields=["cutoff", "preset"], metrics=["rate"], grid=True
    )
    assert [f.name for f in files] == ["rate--vs--cutoff.png", "rate--vs--preset.png", "rate--map--cutoff--preset.png",
                                       "report.html"]  # fmt: skip
    assert all(f.stat().st_size > 0 for f in files)
