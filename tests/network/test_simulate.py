"""Networks over time: reproducibility, conservation of key, and the Monte-Carlo against the analytic model."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from qinternet.network.links.build import build_links
from qinternet.network.schema import Scenario, load_scenario
from qinternet.network.simulate import NetworkRun, simulate
from qinternet.network.summary import summarise


def chain(model: str = "analytic", seed: int = 3, extra_links: int = 0, **time: Any) -> Scenario:
    """Alice - relay - Bob over 30 + 70 km, blocks of 5 minutes, two demands."""
    links = [
        {"id": "l1", "a": "alice", "b": "relay", "length_km": 30, "model": model, "block_s": "5min"},
        {"id": "l2", "a": "relay", "b": "bob", "length_km": 70, "model": model, "block_s": "5min"},
    ]
    links += [
        {"id": f"x{i}", "a": "alice", "b": "relay", "length_km": 50, "model": model, "block_s": "5min"}
        for i in range(extra_links)
    ]
    return load_scenario(
        {
            "name": "chain",
            "seed": seed,
            "time": {"duration_s": "2h", "step_s": "60s", **time},
            "nodes": [
                {"id": "alice", "kind": "user", "lat_deg": 46.2, "lon_deg": 6.1},
                # a city node that relays key and is a user too, so that a demand may end at it
                {"id": "relay", "kind": "user", "trusted": True, "lat_deg": 46.5, "lon_deg": 6.6},
                {"id": "bob", "kind": "user", "lat_deg": 46.9, "lon_deg": 7.4},
            ],
            "links": links,
            "demands": [
                {"id": "steady", "a": "alice", "b": "bob", "rate_bps": 5e4, "priority": 2},
                {"id": "bulk", "a": "alice", "b": "relay", "volume_bits": 1e8, "priority": 1},
            ],
        }
    )


def run_of(spec: Scenario) -> tuple[NetworkRun, list[float]]:
    links = build_links(spec)
    return simulate(spec, [link.runner for link in links]), [link.expected_rate_bps for link in links]


def test_analytic_blocks_add_the_expected_key_at_every_block_end() -> None:
    spec = chain()
    run, expected = run_of(spec)
    # 2 h of 5-minute blocks: 24 blocks per link, the first at 300 s.
    assert [len(blocks) for blocks in run.blocks] == [24, 24]
    assert run.blocks[0][0].end_s == 300.0
    assert np.all(run.generated_bits[run.times_s < 300.0] == 0)
    for i, rate in enumerate(expected):
        assert run.generated_bits[-1, i] == pytest.approx(rate * 7200.0)
    assert run.blocks[0][0].key_bits > run.blocks[1][0].key_bits > 0  # 30 km makes more than 70 km


def test_key_is_conserved_and_pools_stay_in_bounds() -> None:
    run, _ = run_of(chain(model="monte-carlo"))
    assert np.all(run.pool_bits >= -1e-6)
    assert np.all(run.pool_bits <= 1e10)
    # The steady demand crosses both links, the bulk one only l1: what left each pool (less what a full
    # pool refused) is what was relayed.
    steady, bulk = run.delivered_bits[-1]
    used = run.generated_bits[-1] - run.discarded_bits - run.pool_bits[-1]
    assert run.discarded_bits[0] > 0  # 30 km fills the 1e10-bit pool in 2 h
    assert used[0] == pytest.approx(steady + bulk, rel=1e-9)
    assert used[1] == pytest.approx(steady, rel=1e-9)
    assert bulk == pytest.approx(1e8)  # the volume is met, no more
    assert np.all(np.diff(run.delivered_bits, axis=0) >= 0)
    assert np.all(run.delivered_bits <= run.wanted_bits * (1 + 1e-12))


def test_the_same_seed_gives_the_same_run_bit_for_bit() -> None:
    one, _ = run_of(chain(model="monte-carlo", seed=11))
    two, _ = run_of(chain(model="monte-carlo", seed=11))
    other, _ = run_of(chain(model="monte-carlo", seed=12))
    np.testing.assert_array_equal(one.generated_bits, two.generated_bits)
    np.testing.assert_array_equal(one.delivered_bits, two.delivered_bits)
    assert not np.array_equal(one.generated_bits, other.generated_bits)


def test_adding_a_link_leaves_the_other_links_streams_alone() -> None:
    base, _ = run_of(chain(model="monte-carlo", seed=5))
    more, _ = run_of(chain(model="monte-carlo", seed=5, extra_links=2))
    assert [b.key_bits for b in more.blocks[1]] == [b.key_bits for b in base.blocks[1]]


def test_monte_carlo_blocks_scatter_around_the_analytic_block() -> None:
    """The mean key of the drawn blocks is the analytic block's, within five standard errors.

    The key length is a smooth function of counts of ~1e7 detections per block, so its bias from the
    non-linearity is far below its spread; the standard error comes from the blocks' own scatter.
    """
    spec = chain(model="monte-carlo", duration_s="24h", step_s="10min")
    run, expected = run_of(spec)
    for i, rate in enumerate(expected):
        keys = np.array([b.key_bits for b in run.blocks[i]], dtype=float)
        analytic = rate * spec.links[i].block_s
        assert keys.std() > 0  # really drawn
        assert abs(keys.mean() - analytic) < 5 * keys.std(ddof=1) / math.sqrt(keys.size)


def test_the_summary_reports_per_link_demand_and_node() -> None:
    spec = chain()
    run, expected = run_of(spec)
    summary = summarise(run, expected_rate_bps=expected).to_dict()  # what summary.json holds
    assert [link["id"] for link in summary["links"]] == ["l1", "l2"]
    l1 = summary["links"][0]
    assert l1["mean_rate_bps"] == pytest.approx(expected[0])
    assert 0.0 < l1["qber"] < 0.05
    assert l1["uptime"] == pytest.approx(1.0)
    steady = summary["demands"][0]
    assert steady["wanted_bits"] == pytest.approx(5e4 * 7200)
    assert steady["delivered_bits"] + steady["unmet_bits"] == pytest.approx(steady["wanted_bits"])
    assert steady["paths"][0]["links"] == ["l1", "l2"]
    relay = next(n for n in summary["nodes"] if n["id"] == "relay")
    assert [p["link"] for p in relay["pools"]] == ["l1", "l2"]


def test_blocks_ending_on_a_step_are_counted_in_that_step() -> None:
    """30 s blocks, 60 s steps: a block ending at a step is in that step's figures, the last one too."""
    spec = load_scenario(
        {
            "name": "fast-blocks",
            "time": {"duration_s": "1h", "step_s": "60s"},
            "nodes": [
                {"id": "a", "kind": "user", "lat_deg": 0, "lon_deg": 0},
                {"id": "b", "kind": "user", "lat_deg": 0, "lon_deg": 1},
            ],
            "links": [{"id": "l", "a": "a", "b": "b", "length_km": 30, "block_s": "30s"}],
        }
    )
    run, _ = run_of(spec)
    per_block = run.blocks[0][0].key_bits
    assert len(run.blocks[0]) == 120
    assert run.generated_bits[-1, 0] == 120 * per_block
    assert run.generated_bits[0, 0] == 2 * per_block  # the blocks ending at 30 s and 60 s
