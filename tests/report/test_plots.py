"""``plot_key_rate`` (``qinternet keyrate --plot``): a single distance and a sweep without key."""

from __future__ import annotations

from matplotlib.figure import Figure

from qinternet.params import QkdSystem
from qinternet.qkd.keyrate import KeyRateOptions, Protocol, fibre_link_channel, key_rate
from qinternet.report.plots import PROTOCOL_LABELS, plot_key_rate


def test_one_distance_draws_a_marker(gys: QkdSystem) -> None:
    ax = plot_key_rate(Figure().add_subplot(), [key_rate(Protocol.DECOY_BB84, gys, fibre_link_channel(gys, 50.0))])
    (line,) = ax.get_lines()
    assert line.get_marker() not in ("None", "", None)
    assert len(line.get_xdata()) == 1


def test_no_key_at_any_distance_says_so(gys: QkdSystem) -> None:
    points = [key_rate(Protocol.DECOY_BB84, gys, fibre_link_channel(gys, d)) for d in (300.0, 350.0)]
    assert all(p.key_rate_per_pulse == 0 for p in points)
    ax = plot_key_rate(Figure().add_subplot(), points)
    assert not ax.get_lines()
    assert [t.get_text() for t in ax.texts] == ["no key at 300-350 km"]
    assert ax.get_xlim()[0] < 300 < 350 < ax.get_xlim()[1]


def test_a_protocol_without_key_is_named_beside_one_with_key(gys: QkdSystem) -> None:
    points = [
        key_rate(p, gys, fibre_link_channel(gys, d))
        for p in (Protocol.DECOY_BB84, Protocol.BB84_GLLP)
        for d in (60.0, 80.0)
    ]
    ax = plot_key_rate(Figure().add_subplot(), points)
    assert len(ax.get_lines()) == 1
    assert any("no key from BB84, no decoys (GLLP)" in t.get_text() for t in ax.texts)


def test_every_protocol_has_a_label_so_a_finite_key_curve_draws(gys: QkdSystem) -> None:
    """``qinternet keyrate --protocol decoy-bb84-finite --plot`` failed on a missing label."""
    assert set(PROTOCOL_LABELS) == set(Protocol)
    options = KeyRateOptions(block_pulses=1e10)
    points = [key_rate(Protocol.DECOY_BB84_FINITE, gys, fibre_link_channel(gys, d), options=options) for d in (0, 50)]
    ax = plot_key_rate(Figure().add_subplot(), points)
    assert [line.get_label() for line in ax.get_lines()] == ["Decoy BB84, finite key"]
