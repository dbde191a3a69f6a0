"""``qinternet run`` and the KMEs of ``qinternet serve`` route a key the same way: one network, one pool
state, one path (:mod:`qinternet.network.routing`).

A ring: alice and bob are joined by a short way through one trusted relay (links w1, w2) and a long way
through two (e1, e2, e3). The simulation's side is :func:`qinternet.network.relay.serve` on the pools
``run`` builds for the scenario; the KMEs' side is ``enc_keys`` through the API, on a key store whose
pools hold the same key; the path each took is read from the pools it drew on.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from qinternet.kms.api import create_app
from qinternet.kms.feeder import kme_id, topology_of
from qinternet.kms.store import KeyStore
from qinternet.network.relay import Request, serve
from qinternet.network.schema import Scenario, load_scenario
from qinternet.network.simulate import key_pools
from tests.kms.test_api import AsSae

pytestmark = pytest.mark.anyio

RING = load_scenario("""
name: ring
seed: 1
time: {duration_s: 1h, step_s: 60s}
nodes:
  - {id: alice, kind: user, lat_deg: 46.2, lon_deg: 6.1}
  - {id: west, kind: trusted-relay, lat_deg: 46.3, lon_deg: 6.6}
  - {id: east1, kind: trusted-relay, lat_deg: 46.6, lon_deg: 6.3}
  - {id: east2, kind: trusted-relay, lat_deg: 46.8, lon_deg: 6.9}
  - {id: bob, kind: user, lat_deg: 46.9, lon_deg: 7.4}
links:
  - {id: w1, a: alice, b: west, length_km: 30}
  - {id: w2, a: west, b: bob, length_km: 40}
  - {id: e1, a: alice, b: east1, length_km: 20}
  - {id: e2, a: east1, b: east2, length_km: 30}
  - {id: e3, a: east2, b: bob, length_km: 30}
""")
KEY_BYTES = 32
Draws = Callable[[Scenario, list[int], int], Awaitable[tuple[dict[str, float], int]]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def run_draws(scenario: Scenario, pool_bytes: list[int], keys: int) -> dict[str, float]:
    """Bytes ``run``'s relay takes from each link to relay ``keys`` keys from alice to bob."""
    pools = key_pools(scenario)
    pools.level_bits[:] = 8 * np.array(pool_bytes, dtype=np.float64)
    [grant] = serve(pools, [Request(demand=0, a="alice", b="bob", bits=8 * KEY_BYTES * keys, priority=1)])
    assert grant.bits == pytest.approx(8 * KEY_BYTES * keys)
    drawn = 8 * np.array(pool_bytes) - pools.level_bits
    return {link.id: float(bits) / 8 for link, bits in zip(scenario.links, drawn, strict=True) if bits > 1e-9}


@pytest.fixture
def kme_draws(tmp_path: Path) -> Iterator[Draws]:
    """A function: bytes the KME of alice takes from each link's pool for ``enc_keys`` of ``keys`` keys to
    bob, on a new key store holding ``pool_bytes`` per link; and the master's Status count before."""
    stores: list[KeyStore] = []

    async def draws(scenario: Scenario, pool_bytes: list[int], keys: int) -> tuple[dict[str, float], int]:
        store = KeyStore(f"sqlite:///{tmp_path / f'kms{len(stores)}.db'}")
        stores.append(store)
        hops = [(kme_id(link.a), kme_id(link.b)) for link in scenario.links]
        for hop, nbytes in zip(hops, pool_bytes, strict=True):
            store.add_key(*hop, os.urandom(nbytes))
        app = AsSae(create_app("kme-alice", store, topology_of(scenario)), "sae-alice")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://kme") as client:
            status = await client.get("/api/v1/keys/sae-bob/status")
            got = await client.get(f"/api/v1/keys/sae-bob/enc_keys?number={keys}&size={8 * KEY_BYTES}")
        assert got.status_code == 200, got.text
        assert len(got.json()["keys"]) == keys
        drawn = {
            link.id: float(held - store.pool_bytes(*hop))
            for link, hop, held in zip(scenario.links, hops, pool_bytes, strict=True)
            if store.pool_bytes(*hop) < held
        }
        return drawn, status.json()["stored_key_count"]

    yield draws
    for store in stores:
        store.close()


async def test_run_and_the_kmes_take_the_wider_long_way_and_both_flip_with_the_levels(kme_draws: Draws) -> None:
    """w2 is short of key: the widest path is the long way round, in both; refill w2 and both go west."""
    long_way = {"e1": 32.0, "e2": 32.0, "e3": 32.0}
    levels = [400, 100, 300, 300, 300]  # bottlenecks: west 100, east 300
    assert run_draws(RING, levels, keys=1) == long_way
    drawn, count = await kme_draws(RING, levels, 1)
    assert drawn == long_way
    assert count == 300 // KEY_BYTES  # the Status counts what the widest path holds

    short_way = {"w1": 32.0, "w2": 32.0}
    levels = [400, 350, 300, 300, 300]  # west 350, east 300
    assert run_draws(RING, levels, keys=1) == short_way
    drawn, count = await kme_draws(RING, levels, 1)
    assert drawn == short_way
    assert count == 350 // KEY_BYTES


async def test_equally_wide_ways_go_the_fewest_hops_in_both(kme_draws: Draws) -> None:
    levels = [300, 300, 300, 300, 300]
    assert run_draws(RING, levels, keys=1) == {"w1": 32.0, "w2": 32.0}
    assert (await kme_draws(RING, levels, 1))[0] == {"w1": 32.0, "w2": 32.0}


async def test_a_request_no_one_way_can_serve_spreads_over_both_in_both(kme_draws: Draws) -> None:
    """Five keys; the west holds three, the east two: each key takes the widest way left after the last."""
    levels = [96, 96, 64, 64, 64]
    expected = {"w1": 96.0, "w2": 96.0, "e1": 64.0, "e2": 64.0, "e3": 64.0}
    assert run_draws(RING, levels, keys=5) == expected
    assert (await kme_draws(RING, levels, 5))[0] == expected
