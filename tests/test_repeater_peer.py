"""The SeQUeNCe repeater-chain peer runner reports failed runs instead of crashing, and reuses equal runs.

The peer itself needs SeQUeNCe's Python 3.12 venv (benchmarks/README.md); here it is started with this
interpreter, which has no ``sequence`` module, so every run fails at its import.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from peer import run_repeater_peer, run_repeater_peers  # noqa: E402


def test_a_failed_peer_run_carries_its_error() -> None:
    run = run_repeater_peer(Path(sys.executable), nodes=3, sim_time_s=0.01, seed=1)
    assert run.record is None
    assert run.error is not None
    assert "sequence" in run.error  # the tail of the peer's stderr: its failed import


def test_the_series_lists_each_distinct_failed_run_once() -> None:
    logged: list[str] = []
    result = run_repeater_peers(
        Path(sys.executable),
        seed=1,
        nodes=(3, 5),
        sim_time_s=1.0,
        growth_sim_times_s=(1.0, 2.0),
        log=logged.append,
    )
    assert result["chains"] == []
    assert result["growth"] == []
    # (3 nodes, 1 s) is both a chain and the first growth point: run once, so three runs, not four
    assert sorted((e["nodes"], e["sim_time_s"]) for e in result["errors"]) == [(3, 1.0), (3, 2.0), (5, 1.0)]
    assert len(logged) == 3
