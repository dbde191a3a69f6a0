"""What a run means, as plain data: per link, per demand and per node figures, and the time series.

Everything here is a pure function of a :class:`.simulate.NetworkRun`; :mod:`qinternet.report` and the
CLI write it out (JSON, CSV, HTML).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qinternet.network.simulate import F64, NetworkRun

__all__ = ["demand_series", "link_series", "summarise"]


def _mean_qber(run: NetworkRun, link: int) -> float | None:
    blocks = [b for b in run.blocks[link] if b.sifted_bits > 0 and not math.isnan(b.qber)]
    sifted = sum(b.sifted_bits for b in blocks)
    if sifted <= 0:
        return None
    return sum(b.qber * b.sifted_bits for b in blocks) / sifted


def summarise(run: NetworkRun, *, expected_rate_bps: list[float | None] | None = None) -> dict[str, Any]:
    """The run's summary (``summary.json``).

    Args:
        run: the run.
        expected_rate_bps: per link, the rate of the analytic model at the link's settings (shown beside
            the simulated mean), or None.

    Per link: secret bits, mean rate over the run, key-weighted QBER, uptime (share of the run's time
    spent in blocks that gave key), blocks and aborted blocks, discarded bits, final/min/max pool. Per
    demand: wanted, delivered, unmet, share met, paths used. Per node: the pools of its links.
    """
    scenario = run.scenario
    duration = float(run.times_s[-1]) if run.times_s.size else 0.0
    links = []
    for i, spec in enumerate(scenario.links):
        blocks = run.blocks[i]
        secret = float(run.generated_bits[-1, i]) if run.times_s.size else 0.0
        productive = sum(b.duration_s for b in blocks if b.key_bits > 0)
        links.append(
            {
                "id": spec.id,
                "a": spec.a,
                "b": spec.b,
                "kind": spec.kind.value,
                "model": spec.model.value,
                "secret_bits": secret,
                "mean_rate_bps": secret / duration if duration > 0 else 0.0,
                "expected_rate_bps": None if expected_rate_bps is None else expected_rate_bps[i],
                "qber": _mean_qber(run, i),
                "uptime": min(1.0, productive / duration) if duration > 0 else 0.0,
                "blocks": len(blocks),
                "aborted_blocks": sum(b.aborted for b in blocks),
                "discarded_bits": float(run.discarded_bits[i]),
                "pool_bits_final": float(run.pool_bits[-1, i]),
                "pool_bits_min": float(run.pool_bits[:, i].min()),
                "pool_bits_max": float(run.pool_bits[:, i].max()),
            }
        )
    demands = []
    for j, demand in enumerate(scenario.demands):
        wanted = float(run.wanted_bits[-1, j])
        delivered = float(run.delivered_bits[-1, j])
        paths = sorted(run.paths[j].items(), key=lambda item: -item[1])
        demands.append(
            {
                "id": demand.id,
                "a": demand.a,
                "b": demand.b,
                "priority": demand.priority,
                "wanted_bits": wanted,
                "delivered_bits": delivered,
                "unmet_bits": max(0.0, wanted - delivered),
                "met_fraction": delivered / wanted if wanted > 0 else 1.0,
                "mean_rate_bps": delivered / duration if duration > 0 else 0.0,
                "paths": [{"links": list(path), "bits": bits} for path, bits in paths],
            }
        )
    nodes = []
    for node in scenario.nodes:
        own = [i for i, spec in enumerate(scenario.links) if node.id in (spec.a, spec.b)]
        nodes.append(
            {
                "id": node.id,
                "kind": node.kind.value,
                "name": node.label,
                "lat_deg": node.lat_deg,
                "lon_deg": node.lon_deg,
                "pools": [
                    {
                        "link": scenario.links[i].id,
                        "final_bits": float(run.pool_bits[-1, i]),
                        "mean_bits": float(run.pool_bits[:, i].mean()),
                    }
                    for i in own
                ],
            }
        )
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": scenario.seed,
        "start_utc": scenario.time.start.isoformat(),
        "duration_s": duration,
        "step_s": float(run.times_s[0]) if run.times_s.size else None,
        "totals": {
            "secret_bits": float(run.generated_bits[-1].sum()) if run.times_s.size else 0.0,
            "delivered_bits": float(run.delivered_bits[-1].sum()) if run.times_s.size else 0.0,
            "unmet_bits": float(np.maximum(run.wanted_bits[-1] - run.delivered_bits[-1], 0.0).sum())
            if run.times_s.size
            else 0.0,
            "discarded_bits": float(run.discarded_bits.sum()),
        },
        "links": links,
        "demands": demands,
        "nodes": nodes,
        "published": [p.model_dump() for p in scenario.published],
        "sources": list(scenario.sources),
    }


def _long_format(
    run: NetworkRun, key: str, ids: list[str], columns: tuple[str, str], first: F64, second: F64
) -> tuple[list[str], NDArray[np.object_]]:
    """Rows ``time_s, <key>, <columns>`` for every instant and id, time-major."""
    t, n = run.times_s.size, len(ids)
    rows = np.empty((t * n, 4), dtype=object)
    rows[:, 0] = np.repeat(run.times_s, n)
    rows[:, 1] = np.tile(np.array(ids, dtype=object), t)
    rows[:, 2] = first.reshape(-1)
    rows[:, 3] = second.reshape(-1)
    return ["time_s", key, *columns], rows


def link_series(run: NetworkRun) -> tuple[list[str], NDArray[np.object_]]:
    """Long-format rows ``time_s, link, pool_bits, generated_bits`` (``links.csv``)."""
    ids = [spec.id for spec in run.scenario.links]
    return _long_format(run, "link", ids, ("pool_bits", "generated_bits"), run.pool_bits, run.generated_bits)


def demand_series(run: NetworkRun) -> tuple[list[str], NDArray[np.object_]]:
    """Long-format rows ``time_s, demand, wanted_bits, delivered_bits`` (``demands.csv``)."""
    ids = [spec.id for spec in run.scenario.demands]
    return _long_format(run, "demand", ids, ("wanted_bits", "delivered_bits"), run.wanted_bits, run.delivered_bits)
