"""Guarantees of the KME-to-KME relay (:mod:`qinternet.kms.relay`) checked on relay services wired in one
process (:mod:`tests.kms.relay_net`): only a relay's master voids it, a void frees the link keys the relay
named at the KMEs that never used them, each direction of a link has its own capacity, voids and digests are
sent again for as long as needed, digests of another link's stream are refused, and the peer client opens a
fresh connection when its idle ones were closed by the peer."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from qinternet.kms import relay
from qinternet.kms.relay import PeerAnswer, PeerClient, PeerUnreachableError, _RefusedError, _Void, receive_pool
from qinternet.kms.store import NotEnoughKeyError, RelayFailedError
from tests.kms.relay_net import LINE2, LINE3, Net


def _void(path: list[str], relay_id: str, master_sae: str = "sae-a") -> _Void:
    return _Void.model_validate({"relay_ID": relay_id, "initiator_sae_id": master_sae, "path": path})


def test_only_the_master_kme_of_a_relay_voids_it_and_the_slave_keeps_a_completed_key(tmp_path: Path) -> None:
    net = Net(LINE3, tmp_path)
    a, b = net.services["kme-a"], net.services["kme-b"]

    async def run() -> None:
        await net.feed("am", str(uuid.uuid4()), 0, 10)
        await net.feed("mb", str(uuid.uuid4()), 0, 10)
        (key,) = await a.issue(master_sae="sae-a", slaves=[("sae-b", "kme-b")], number=1, size_bits=256)
        ((relay_id,),) = net.rows("kme-a", "SELECT relay_id FROM relays WHERE state = 'completed'")
        for caller, path, sae in (
            ("kme-m", ["kme-m", "kme-b"], "sae-a"),  # claims to be a master: the path as it pleases
            ("kme-m", ["kme-m", "kme-b"], "sae-m"),  # an SAE of its own: not the relay's master SAE
            ("kme-a", ["kme-a", "kme-b"], "sae-a"),  # the right KME, but not the relay's path
        ):
            with pytest.raises(_RefusedError) as refused:
                await b.void(caller, _void(path, relay_id, sae))
            assert refused.value.status == 401
        got = b.store.deliver(kme_id="kme-b", slave_sae="sae-b", master_sae="sae-a", key_ids=[key.key_id])
        assert [k.material for k in got] == [key.material]

    asyncio.run(run())
    net.close()


def test_the_master_voids_no_relay_it_completed(tmp_path: Path) -> None:
    net = Net(LINE2, tmp_path)
    a = net.services["kme-a"]

    async def run() -> None:
        await net.feed("ab", str(uuid.uuid4()), 0, 4)
        await a.issue(master_sae="sae-a", slaves=[("sae-b", "kme-b")], number=1, size_bits=256)
        ((relay_id, path),) = net.rows("kme-a", "SELECT relay_id, path FROM relays")
        fake = relay._Relay(relay_id=relay_id, slave_sae="sae-b", path=json.loads(path), message={})
        await a.store.writer().run(lambda c, w: a._set_in(c, [fake], "voiding"))

    asyncio.run(run())
    assert net.rows("kme-a", "SELECT state FROM relays") == [("completed",)]
    net.close()


def test_a_relay_failing_at_the_middle_kme_frees_its_copies_of_the_first_hops_keys(tmp_path: Path) -> None:
    net = Net(LINE3, tmp_path)
    a = net.services["kme-a"]

    async def run() -> None:
        await net.feed("am", str(uuid.uuid4()), 0, 20)  # m-b holds nothing: every relay fails at m
        for _ in range(4):
            with pytest.raises((RelayFailedError, NotEnoughKeyError)):
                await a.issue(master_sae="sae-a", slaves=[("sae-b", "kme-b")], number=1, size_bits=256)
        await a.sweep()

    asyncio.run(run())
    assert len(net.ready("kme-a", "kme-a", "kme-m")) == 10 - 4
    assert net.ready("kme-m", "kme-a", "kme-a") == net.ready("kme-a", "kme-a", "kme-m")
    m = net.services["kme-m"]
    assert m.store.pool_level(*receive_pool("kme-m", "kme-a")) == 32 * len(net.ready("kme-m", "kme-a", "kme-a"))
    assert net.rows("kme-a", "SELECT DISTINCT state FROM relays") == [("voided",)]
    net.close()


def test_a_relay_failing_after_the_middle_kme_frees_the_keys_it_sent_on_at_the_next_kme(tmp_path: Path) -> None:
    net = Net(LINE3, tmp_path)
    a = net.services["kme-a"]

    async def run() -> None:
        await net.feed("am", str(uuid.uuid4()), 0, 10)
        await net.feed("mb", str(uuid.uuid4()), 0, 10)
        net.down.add("kme-b")  # m commits its step, then cannot reach b
        with pytest.raises(RelayFailedError):
            await a.issue(master_sae="sae-a", slaves=[("sae-b", "kme-b")], number=1, size_bits=256)
        assert net.ready("kme-b", "kme-m", "kme-m") != net.ready("kme-m", "kme-m", "kme-b")
        net.down.clear()
        await a.sweep()

    asyncio.run(run())
    assert net.ready("kme-b", "kme-m", "kme-m") == net.ready("kme-m", "kme-m", "kme-b")
    assert len(net.ready("kme-m", "kme-m", "kme-b")) == 5 - 1
    assert net.rows("kme-b", "SELECT role, state FROM relays") == [("tombstone", "voided")]
    assert net.rows("kme-a", "SELECT state FROM relays") == [("voided",)]
    net.close()


def test_each_direction_of_a_link_has_its_own_capacity(tmp_path: Path) -> None:
    net = Net(LINE2, tmp_path, capacity_bytes=320)  # 5 keys of 32 bytes per direction
    a = net.services["kme-a"]
    delivered = 0

    async def run() -> int:
        count = 0
        ksid = str(uuid.uuid4())
        for round_ in range(10):  # 10 keys a round, 5 of each direction; b never sends
            await net.feed("ab", ksid, 10 * round_, 10)
            while True:
                try:
                    await a.issue(master_sae="sae-a", slaves=[("sae-b", "kme-b")], number=1, size_bits=256)
                except NotEnoughKeyError:
                    break
                count += 1
        return count

    delivered = asyncio.run(run())
    assert delivered == 50
    assert len(net.ready("kme-a", "kme-b", "kme-b")) == 5  # b's direction full; a's never short because of it
    net.close()


def test_the_tail_of_a_key_a_relay_does_not_use_is_in_both_ledgers(tmp_path: Path) -> None:
    net = Net(LINE2, tmp_path)
    a = net.services["kme-a"]

    async def run() -> None:
        await net.feed("ab", str(uuid.uuid4()), 0, 2, size=40)
        await a.issue(master_sae="sae-a", slaves=[("sae-b", "kme-b")], number=1, size_bits=256)

    asyncio.run(run())
    for kme in ("kme-a", "kme-b"):
        assert net.rows(kme, "SELECT SUM(bits) FROM ledger WHERE kind = 'discarded'") == [(64,)]
    net.close()


def test_a_stuck_void_does_not_starve_the_others(tmp_path: Path) -> None:
    net = Net(LINE3, tmp_path)
    a = net.services["kme-a"]
    insert = (
        "INSERT INTO relays (relay_id, kme_id, role, state, path, master_sae, slave_sae, key_ids, created_at)"
        " VALUES (?, 'kme-a', 'master', 'voiding', ?, 'sae-a', ?, '[]', ?)"
    )
    with a.store.engine.begin() as connection:
        for i in range(relay.VOID_BATCH + 1):  # older, and their slave KME is away
            connection.exec_driver_sql(insert, (str(uuid.uuid4()), '["kme-a", "kme-m", "kme-b"]', "sae-b", i))
        connection.exec_driver_sql(insert, ("good", '["kme-a", "kme-m"]', "sae-m", 1e6))
    net.down.add("kme-b")

    async def run() -> None:
        await a.sweep()
        await a.sweep()

    asyncio.run(run())
    assert net.rows("kme-a", "SELECT state FROM relays WHERE relay_id = 'good'") == [("voided",)]
    assert net.rows("kme-m", "SELECT role FROM relays WHERE relay_id = 'good'") == [("tombstone",)]
    net.close()


def _pending_half(net: Net, kme: str, link: str, age_s: float, owner: str | None = None) -> str:
    """A stream of ``link`` at ``kme`` with one half of index 0 pending for ``age_s``: ``kme``'s own, or the
    digest of ``owner`` (its partner)."""
    ksid = str(uuid.uuid4())
    end = next(d for d in net.devices.values() if d.link == link and d.kme == kme)
    with net.services[kme].store.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO device_streams (ksid, link, kme_a, kme_b, end_a, end_b, chunk_bytes, created_at)"
            " VALUES (?, ?, ?, ?, 'open', 'open', 32, 0)",
            (ksid, link, end.kme_a, end.kme_b),
        )
        connection.exec_driver_sql(
            "INSERT INTO device_keys (ksid, idx, kme_id, state, digest, material, created_at)"
            " VALUES (?, 0, ?, 'pending', ?, NULL, ?)",
            (ksid, owner or kme, os.urandom(32), time.time() - age_s),
        )
    return ksid


def test_digests_of_a_half_pending_for_long_are_sent_again_with_back_off(tmp_path: Path) -> None:
    net = Net(LINE2, tmp_path)
    a = net.services["kme-a"]
    ksid = _pending_half(net, "kme-a", "ab", age_s=1800.0)  # a partition of half an hour
    sent = a.client.digests  # type: ignore[attr-defined]

    async def run() -> None:
        await a.sweep()
        await a.sweep()  # at once: not due again yet

    asyncio.run(run())
    assert [(peer, body["Key_stream_ID"]) for peer, body in sent] == [("kme-b", ksid)]
    ((resend_at,),) = net.rows("kme-a", "SELECT resend_at FROM device_keys")
    assert resend_at - time.time() == pytest.approx(relay.RESEND_MAX_S, abs=60)
    net.close()


def test_digests_naming_another_links_stream_are_refused(tmp_path: Path) -> None:
    net = Net(LINE3, tmp_path)
    m = net.services["kme-m"]
    ksid = _pending_half(net, "kme-m", "mb", age_s=0.0)
    end_am = next(d for d in net.devices.values() if d.link == "am" and d.kme == "kme-m")

    async def run() -> None:
        with pytest.raises(_RefusedError) as refused:  # kme-a sends digests of link am naming mb's stream
            await m.store.writer().run(lambda c, w: m._digests_of(c, w, end_am, ksid, [(0, os.urandom(32))]))
        assert refused.value.status == 400

    asyncio.run(run())
    assert net.rows("kme-m", "SELECT state FROM device_keys") == [("pending",)]
    net.close()


class _Dead:
    """An idle connection the peer has closed: a request on it fails."""

    closed = False

    def __init__(self, idle_since: float) -> None:
        self.idle_since = idle_since

    async def post(self, host: str, path: str, body: bytes) -> tuple[PeerAnswer, bool]:
        raise asyncio.IncompleteReadError(b"", 10)

    def close(self) -> None:
        self.closed = True


class _Fresh(_Dead):
    async def post(self, host: str, path: str, body: bytes) -> tuple[PeerAnswer, bool]:
        await asyncio.sleep(0.01)
        return PeerAnswer(200, b"{}"), True


def _client(monkeypatch: pytest.MonkeyPatch) -> tuple[PeerClient, list[Any]]:
    client = PeerClient.__new__(PeerClient)
    client.kme_id, client.urls, client._idle = "kme-a", {"kme-b": "https://localhost:1"}, {}
    opened: list[Any] = []

    async def connect(peer: str) -> Any:
        opened.append(_Fresh(time.monotonic()))
        return opened[-1]

    monkeypatch.setattr(client, "_connect", connect)
    return client, opened


def test_the_peer_client_opens_a_fresh_connection_when_its_idle_ones_were_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, opened = _client(monkeypatch)
    dead = [_Dead(time.monotonic()) for _ in range(3)]
    stale = _Dead(time.monotonic() - 60)
    client._idle["kme-b"] = [stale, *dead]  # type: ignore[list-item]

    async def run() -> list[PeerAnswer]:
        first = await client.post("kme-b", "void", {}, 5.0)
        burst = await asyncio.gather(*(client.post("kme-b", "void", {}, 5.0) for _ in range(40)))
        return [first, *burst]

    try:
        answers = asyncio.run(run())
    except PeerUnreachableError as exc:
        pytest.fail(f"a spurious PeerUnreachableError: {exc}")
    assert {a.status_code for a in answers} == {200}
    assert all(d.closed for d in [*dead, stale])
    assert 1 <= len(client._idle["kme-b"]) <= relay.IDLE_PER_PEER
    assert len(opened) >= relay.IDLE_PER_PEER


def test_the_peer_client_never_reuses_a_connection_idle_longer_than_the_servers_keep_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, opened = _client(monkeypatch)
    old = _Fresh(time.monotonic() - relay.IDLE_MAX_S - 1)  # would still answer here, not at a real server
    client._idle["kme-b"] = [old]  # type: ignore[list-item]
    asyncio.run(client.post("kme-b", "void", {}, 5.0))
    assert old.closed
    assert len(opened) == 1


def test_a_half_pending_longer_than_the_expiry_is_expired_and_a_digest_for_it_then_changes_nothing(
    tmp_path: Path,
) -> None:
    net = Net(LINE2, tmp_path)
    a = net.services["kme-a"]
    assert a.settings.pending_expiry_s == relay.PENDING_EXPIRY_S == 3600.0
    old = _pending_half(net, "kme-a", "ab", age_s=3600.0 + 5)
    young = _pending_half(net, "kme-a", "ab", age_s=3600.0 - 60)
    sent = a.client.digests  # type: ignore[attr-defined]
    end = next(d for d in net.devices.values() if d.link == "ab" and d.kme == "kme-a")
    ((digest,),) = net.rows("kme-a", "SELECT digest FROM device_keys WHERE ksid = ?", old)

    async def run() -> list[str]:
        await a.sweep()
        # the partner's digest, equal to the expired half's, as a late push at kme-b would send it (or an
        # ``agreed`` answer crossing the expiry would bring it back through the same code)
        return await a.store.writer().run(lambda c, w: a._digests_of(c, w, end, old, [(0, bytes(digest))]))

    assert asyncio.run(run()) == ["waiting"]
    states = dict(net.rows("kme-a", "SELECT ksid, state FROM device_keys WHERE kme_id = 'kme-a'"))
    assert states == {old: "expired", young: "pending"}
    assert [(peer, body["Key_stream_ID"]) for peer, body in sent] == [("kme-b", young)]
    assert net.rows("kme-a", "SELECT COUNT(*) FROM device_keys WHERE kme_id = 'kme-b'") == [(0,)]
    assert net.rows("kme-a", "SELECT COUNT(*) FROM link_keys") == [(0,)]
    assert net.rows("kme-a", "SELECT kind, bits FROM ledger") == [("discarded", 8 * 32)]
    asyncio.run(a.sweep())  # nothing more: the expired half is neither sent nor counted again
    assert [body["Key_stream_ID"] for _, body in sent] == [young]
    assert net.rows("kme-a", "SELECT COUNT(*) FROM ledger") == [(1,)]
    net.close()


def test_a_partners_digest_kept_longer_than_the_expiry_is_forgotten_and_zero_expires_nothing(
    tmp_path: Path,
) -> None:
    net = Net(LINE2, tmp_path)
    b = net.services["kme-b"]
    old = _pending_half(net, "kme-b", "ab", age_s=3600.0 + 5, owner="kme-a")
    young = _pending_half(net, "kme-b", "ab", age_s=60.0, owner="kme-a")
    b.settings = relay.RelaySettings(pending_expiry_s=0)
    asyncio.run(b.sweep())
    assert {k for (k,) in net.rows("kme-b", "SELECT ksid FROM device_keys")} == {old, young}
    b.settings = relay.RelaySettings()
    asyncio.run(b.sweep())
    assert net.rows("kme-b", "SELECT ksid, kme_id, state FROM device_keys") == [(young, "kme-a", "pending")]
    assert net.rows("kme-b", "SELECT COUNT(*) FROM ledger") == [(0,)]  # no half of kme-b's was dropped
    net.close()


def test_the_expiry_is_a_number_of_seconds() -> None:
    from qinternet.errors import ParameterError
    from qinternet.kms.settings import ServeSettings

    assert ServeSettings().pending_expiry_s == relay.PENDING_EXPIRY_S
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ParameterError, match="pending_expiry_s"):
            relay.RelaySettings(pending_expiry_s=bad)
