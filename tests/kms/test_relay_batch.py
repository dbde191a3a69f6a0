"""``ext_keys`` messages to one peer travel together (``ext_keys_batch``), each checked and answered on its own."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from qinternet.kms.api import SAE_SCOPE_KEY
from qinternet.kms.pki import PkiFiles, init_pki
from qinternet.kms.relay import BATCH_SLOT_S, PEER_PATH, PeerAnswer, PeerClient
from tests.kms.relay_net import LINE3, Net


def _client(tmp_path: Path) -> tuple[PeerClient, list[tuple[str, list[dict[str, Any]]]]]:
    """kme-a's client whose calls are recorded and answered here: every message ``relayed``, but one whose
    relay_ID is ``bad`` refused (400)."""
    init_pki(tmp_path / "pki", kmes=["kme-a", "kme-m"], saes=[], devices=[])
    client = PeerClient("kme-a", {"kme-m": "https://localhost:1"}, PkiFiles(tmp_path / "pki"))
    calls: list[tuple[str, list[dict[str, Any]]]] = []

    def answer_to(message: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if message["relay_ID"] == "bad":
            return 400, {"message": "Bad request format"}
        return 200, {"relay_ID": message["relay_ID"], "ack_status": "relayed"}

    async def post(peer: str, host: str, path: str, data: bytes) -> PeerAnswer:
        body = json.loads(data)
        messages = body["messages"] if path.endswith("_batch") else [body]
        calls.append((path, messages))
        await asyncio.sleep(0.001)
        if not path.endswith("_batch"):
            status, only = answer_to(body)
            return PeerAnswer(status, json.dumps(only).encode())
        answers = [dict(zip(("status", "body"), answer_to(m), strict=True)) for m in messages]
        return PeerAnswer(200, json.dumps({"answers": answers}).encode())

    client._post = post  # type: ignore[method-assign]
    return client, calls


def test_messages_posted_together_go_in_one_call_and_each_gets_its_own_answer(tmp_path: Path) -> None:
    client, calls = _client(tmp_path)

    async def run() -> list[PeerAnswer]:
        together = await asyncio.gather(
            *(client.post("kme-m", "ext_keys", {"relay_ID": rid}, 5.0) for rid in ("r1", "bad", "r3"))
        )
        alone = await client.post("kme-m", "ext_keys", {"relay_ID": "r4"}, 5.0)
        return [*together, alone]

    answers = asyncio.run(run())
    assert [(path, [m["relay_ID"] for m in messages]) for path, messages in calls] == [
        (f"{PEER_PATH}/ext_keys_batch", ["r1", "bad", "r3"]),
        (f"{PEER_PATH}/ext_keys", ["r4"]),
    ]
    assert [a.status_code for a in answers] == [200, 400, 200, 200]
    assert [a.json().get("relay_ID") for a in answers] == ["r1", None, "r3", "r4"]


def test_a_slow_call_holds_the_next_messages_back_no_longer_than_the_slot(tmp_path: Path) -> None:
    client, calls = _client(tmp_path)
    recorded = client._post
    release = asyncio.Event()

    async def slow_first(peer: str, host: str, path: str, data: bytes) -> PeerAnswer:
        if not calls:
            calls.append((path, [json.loads(data)]))
            await release.wait()  # a relay stuck further on
            return PeerAnswer(200, b'{"ack_status": "unreachable"}')
        return await recorded(peer, host, path, data)

    client._post = slow_first  # type: ignore[method-assign]

    async def run() -> tuple[float, PeerAnswer]:
        stuck = asyncio.ensure_future(client.post("kme-m", "ext_keys", {"relay_ID": "r1"}, 5.0))
        while not calls:  # r1 is in flight
            await asyncio.sleep(0.001)
        started = time.monotonic()
        answer = await client.post("kme-m", "ext_keys", {"relay_ID": "r2"}, 5.0)
        waited = time.monotonic() - started
        release.set()
        await stuck
        return waited, answer

    waited, answer = asyncio.run(run())
    assert answer.status_code == 200
    assert answer.json()["relay_ID"] == "r2"
    assert BATCH_SLOT_S * 0.5 <= waited < BATCH_SLOT_S + 0.5  # after the slot, not after the stuck call


def test_the_batch_route_answers_every_message_as_ext_keys_would(tmp_path: Path) -> None:
    """At kme-m: a good relay step (forwarded to kme-b, reserved there), a malformed message (400, alone), a
    message naming the good one's key under a new relay ID (a replay: refused), and the good one again (a
    repeat: answered from what was committed, no key taken twice)."""
    net = Net(LINE3, tmp_path)
    m = net.services["kme-m"]
    app = FastAPI()
    m.add_routes(app)

    async def as_kme_a(scope: Any, receive: Any, send: Any) -> None:
        scope[SAE_SCOPE_KEY] = "kme-a"
        await app(scope, receive, send)

    def message(relay_id: str, index: int) -> dict[str, Any]:
        return {
            "relay_ID": relay_id,
            "initiator_sae_id": "sae-a",
            "target_sae_ids": ["sae-b"],
            "path": ["kme-a", "kme-m", "kme-b"],
            "hop": 1,
            "size": 256,
            "keys": [{"key_ID": str(uuid.uuid4()), "pieces": [{"ksid": ksid, "index": index}]}],
        }

    ksid = str(uuid.uuid4())
    good = message(str(uuid.uuid4()), 0)
    batch = [good, {"relay_ID": "x"}, message(str(uuid.uuid4()), 0) | {"keys": good["keys"]}]

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        await net.feed("am", ksid, 0, 4)
        await net.feed("mb", str(uuid.uuid4()), 0, 4)
        transport = httpx.ASGITransport(app=as_kme_a)
        async with httpx.AsyncClient(transport=transport, base_url="https://kme-m") as http:
            first = (await http.post(f"{PEER_PATH}/ext_keys_batch", json={"messages": batch})).json()["answers"]
            again = (await http.post(f"{PEER_PATH}/ext_keys_batch", json={"messages": [good]})).json()["answers"]
        return first, again

    first, again = asyncio.run(run())
    assert [a["status"] for a in first] == [200, 400, 400]
    assert first[0]["body"]["ack_status"] == "relayed"
    assert first[1]["body"]["message"] == "Bad request format"
    assert first[1]["body"]["details"]
    assert "used already" in json.dumps(first[2]["body"])
    assert again[0]["status"] == 200
    assert again[0]["body"]["ack_status"] == "relayed"
    assert net.rows("kme-b", "SELECT COUNT(*) FROM keys WHERE state = 'RESERVED'") == [(1,)]
    assert net.rows("kme-m", "SELECT COUNT(*) FROM link_keys WHERE state = 'used'") == [(2,)]  # one key each hop
    net.close()
