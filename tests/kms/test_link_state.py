"""Link state between KME processes (:mod:`qinternet.kms.link_state`): a KME speaks only for its own links,
an older report never overwrites a newer one, and after the exchange a master routes around a remote hop
that is empty and counts in ``Status`` the bottleneck of the remote hops.

The network is a square: alice reaches bob through the trusted relay x (links ax, xb) or through y (ay,
yb). The relay services are wired in one process (:mod:`tests.kms.relay_net`); the route is called as the
TLS layer would call it (the caller's certificate name in the request's scope).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import httpx
import pytest

from qinternet.kms import link_state
from qinternet.kms.api import create_app
from qinternet.kms.link_state import (
    LinkStateRefusedError,
    LinkStateReport,
    LinkStateReporter,
    LinkStateTable,
    add_route,
    recipients,
    significant_change,
)
from qinternet.kms.relay import UNKNOWN_LEVEL_BYTES, send_pool
from qinternet.kms.store import RelayFailedError
from tests.kms.relay_net import Net
from tests.kms.test_api import AsSae

SQUARE = """
name: square
seed: 5
nodes:
  - {id: alice, kind: user, lat_deg: 0, lon_deg: 0}
  - {id: x, kind: trusted-relay, lat_deg: 0.1, lon_deg: 0.1}
  - {id: y, kind: trusted-relay, lat_deg: -0.1, lon_deg: 0.1}
  - {id: bob, kind: user, lat_deg: 0, lon_deg: 0.2}
links:
  - {id: ax, a: alice, b: x, length_km: 10}
  - {id: xb, a: x, b: bob, length_km: 10}
  - {id: ay, a: alice, b: y, length_km: 10}
  - {id: yb, a: y, b: bob, length_km: 10}
"""
KEY_BYTES = 32


def _report(origin: str, sequence: int, **levels: int) -> LinkStateReport:
    links = [{"to_KME_ID": f"kme-{peer}", "send_bytes": n} for peer, n in levels.items()]
    return LinkStateReport.model_validate({"KME_ID": origin, "sequence": sequence, "links": links})


def _reporter(net: Net, kme: str) -> LinkStateReporter:
    service = net.services[kme]
    neighbours = sorted({b if a == kme else a for a, b in net.topology.links if kme in (a, b)})
    return LinkStateReporter(
        kme_id=kme,
        neighbours=neighbours,
        level=lambda peer: service.store.pool_level(*send_pool(kme, peer)),
        client=service.client,  # type: ignore[arg-type]
        to=recipients(net.topology, kme),
    )


def test_a_kme_may_report_only_its_own_links_over_the_route(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    net = Net(SQUARE, tmp_path)
    table = net.link_states["kme-alice"]
    app = create_app("kme-alice", net.services["kme-alice"].store, net.topology, relay=net.services["kme-alice"])
    add_route(app, "kme-alice", net.topology, table)

    async def post(caller: str, body: dict[str, object]) -> httpx.Response:
        transport = httpx.ASGITransport(app=AsSae(app, caller))
        async with httpx.AsyncClient(transport=transport, base_url="https://kme") as client:
            return await client.post("/kme/v1/link_state", json=body)

    def body(origin: str, **levels: int) -> dict[str, object]:
        return _report(origin, 7, **levels).model_dump()

    async def run() -> None:
        with caplog.at_level(logging.WARNING, logger="qinternet.kms"):
            refused = [
                await post("kme-x", body("kme-y", bob=0)),  # speaks for another KME
                await post("kme-x", body("kme-x", y=0)),  # a link x does not have
                await post("kme-x", body("kme-x", bob=0, alice=0, y=5)),  # one foreign link spoils the report
                await post("sae-alice", body("sae-alice", x=0)),  # not a KME at all
            ]
            assert [r.status_code for r in refused] == [401] * 4
            assert all(r.json()["message"] == "Unauthorized" for r in refused)
            assert table.send_bytes("kme-y", "kme-bob") is None
            assert table.send_bytes("kme-x", "kme-bob") is None  # nothing of a refused report was kept
            ok = await post("kme-x", body("kme-x", bob=0, alice=64))
            assert ok.status_code == 200
            assert ok.json() == {"outcome": "accepted"}
            assert table.send_bytes("kme-x", "kme-bob") == 0
        assert sum("refused a link state" in r.getMessage() for r in caplog.records) == 4

    asyncio.run(run())
    net.close()


def test_an_older_or_replayed_report_does_not_overwrite_a_newer_one_and_an_old_one_ages_out(tmp_path: Path) -> None:
    now = [100.0]
    net = Net(SQUARE, tmp_path)
    table = LinkStateTable("kme-alice", net.topology, max_age_s=30.0, clock=lambda: now[0])
    assert table.accept("kme-x", _report("kme-x", 5, bob=320)) == "accepted"
    assert table.accept("kme-x", _report("kme-x", 4, bob=0)) == "stale"  # late: sent before the one kept
    assert table.accept("kme-x", _report("kme-x", 5, bob=0)) == "stale"  # same sequence: a replay
    assert table.send_bytes("kme-x", "kme-bob") == 320
    assert table.level("kme-x", "kme-bob") == 320  # bob's direction not known: x's counts
    assert table.accept("kme-bob", _report("kme-bob", 1, x=96, y=0)) == "accepted"
    assert table.level("kme-bob", "kme-x") == table.level("kme-x", "kme-bob") == 96  # the smaller direction
    shown = {(r["kme"], r["peer"]): r["send_bits"] for r in table.reported()}  # the status page's table, in bits
    assert shown == {("kme-x", "kme-bob"): 8 * 320, ("kme-bob", "kme-x"): 8 * 96, ("kme-bob", "kme-y"): 0}
    now[0] += 30.5  # past the maximum age: unknown again, as without the exchange
    assert table.level("kme-x", "kme-bob") == UNKNOWN_LEVEL_BYTES
    assert table.reported() == []
    doubled = _report("kme-x", 9, bob=1)
    doubled.links *= 2  # bob named twice
    with pytest.raises(LinkStateRefusedError) as twice:
        table.accept("kme-x", doubled)
    assert twice.value.status == 400
    net.close()


def test_a_kme_reports_at_once_on_a_significant_change_and_otherwise_at_each_refresh(tmp_path: Path) -> None:
    assert significant_change(None, {"kme-b": 0})
    assert not significant_change({"kme-b": 1000}, {"kme-b": 901})  # 9.9 %
    assert significant_change({"kme-b": 1000}, {"kme-b": 900})
    assert significant_change({"kme-b": 1}, {"kme-b": 0})  # empty now
    now = [0.0]
    net = Net(SQUARE, tmp_path)
    reporter = _reporter(net, "kme-x")
    reporter.clock = lambda: now[0]

    async def run() -> list[bool]:
        sent = [await reporter.tick()]  # the first report
        now[0] += link_state.CHECK_EVERY_S
        sent.append(await reporter.tick())  # nothing changed
        await net.feed("ax", str(uuid.uuid4()), 0, 4)  # x may now send 2 keys to alice: 0 -> 64 bytes
        sent.append(await reporter.tick())
        now[0] += link_state.REPORT_EVERY_S
        sent.append(await reporter.tick())  # the refresh, unchanged
        return sent

    assert asyncio.run(run()) == [True, False, True, True]
    table = net.link_states["kme-alice"]
    assert table.send_bytes("kme-x", "kme-alice") == 2 * KEY_BYTES
    assert table.send_bytes("kme-x", "kme-bob") == 0
    assert net.link_states["kme-y"]._known == {}  # y has no SAE: it is never a master, so it is not told
    net.close()


def test_after_the_exchange_the_master_routes_around_an_empty_remote_hop_and_counts_the_bottleneck(
    tmp_path: Path,
) -> None:
    """x -> bob is empty; y -> bob holds 2 keys, the first hops 5 each. Without reports alice sees every
    remote hop as full: it takes the first of two equally wide ways (via x), and the relay is voided at x.
    After one round of reports it goes via y, and its Status counts y -> bob's 2 keys."""
    net = Net(SQUARE, tmp_path)
    alice = net.services["kme-alice"]
    app = AsSae(create_app("kme-alice", alice.store, net.topology, relay=alice), "sae-alice")

    async def status() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://kme") as client:
            got = await client.get("/api/v1/keys/sae-bob/status")
        assert got.status_code == 200, got.text
        count: int = got.json()["stored_key_count"]
        return count

    async def run() -> None:
        for link, count in (("ax", 10), ("ay", 10), ("yb", 4)):  # xb holds nothing
            await net.feed(link, str(uuid.uuid4()), 0, count)
        assert alice.pool_level("kme-x", "kme-bob") == UNKNOWN_LEVEL_BYTES
        assert await status() == 5  # the first hop only
        with pytest.raises(RelayFailedError):
            await alice.issue(master_sae="sae-alice", slaves=[("sae-bob", "kme-bob")], number=1, size_bits=256)
        for kme in sorted(net.services):
            await _reporter(net, kme).tick()
        assert alice.pool_level("kme-x", "kme-bob") == 0
        assert await status() == 2  # min(5 on alice -> y, 2 on y -> bob)
        (key,) = await alice.issue(master_sae="sae-alice", slaves=[("sae-bob", "kme-bob")], number=1, size_bits=256)
        bob = net.services["kme-bob"]
        got = bob.store.deliver(kme_id="kme-bob", slave_sae="sae-bob", master_sae="sae-alice", key_ids=[key.key_id])
        assert [k.material for k in got] == [key.material]

    asyncio.run(run())
    assert net.rows("kme-alice", "SELECT path, state FROM relays ORDER BY created_at") == [
        ('["kme-alice", "kme-x", "kme-bob"]', "voided"),
        ('["kme-alice", "kme-y", "kme-bob"]', "completed"),
    ]
    net.close()
