"""The benchmark command keeps working (its figures are not asserted: performance lives in benchmarks/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_and_its_baseline_agrees(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--skip-peer", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    data = json.loads(out.read_text())
    assert [run["distance_km"] for run in data["montecarlo"]] == [25.0, 50.0, 100.0]
    assert all(run["pulses_per_s"] > 0 for run in data["montecarlo"])
    assert all(check["agree"] for check in data["sanity_signal_gain"])
    assert all(entry["ratio_qinternet_over_naive"] > 0 for entry in data["naive"])
    assert data["sequence"]["status"].startswith("skipped")
    network = data["network"]
    assert network["affine_by_links"]["per_link_s"] > 0  # more links cost more
    assert 0 <= network["affine_by_duration"]["max_residual"] < 1
    loads = data["scenario_load"]["runs"]
    assert [run["links"] for run in loads] == [2 * run["nodes"] for run in loads]
    assert all(run["ratio_load_over_baseline"] > 0 for run in loads)
    startup = {run["command"]: run["best_wall_s"] for run in data["startup"]["runs"]}
    assert startup["qinternet --help"] < startup["qinternet run --help (loads run)"]  # --help loads no command
    repeater = data["repeater"]
    assert [r["nodes"] for r in repeater["qinternet"]] == [3, 5]
    assert repeater["peer"]["status"].startswith("skipped")
    assert repeater["long_chain"]["nodes"] == 1000
    assert repeater["by_nodes"]["fit"]["per_unit_s"] > 0  # longer chains cost more
