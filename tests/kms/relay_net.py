"""KME processes' relay services wired in one process (no TLS, no HTTP): each :class:`RelayService` calls its
peers' methods through :class:`FakePeers`, which can lose a peer (unreachable) and records the digests sent;
link-state reports go into the callee's :class:`~qinternet.kms.link_state.LinkStateTable` (``Net.link_states``)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from qinternet.cli.network_cmd import scenario_named
from qinternet.kms.feeder import topology_of
from qinternet.kms.link_state import LinkStateRefusedError, LinkStateReport, LinkStateTable
from qinternet.kms.relay import (
    ExtKeys,
    PeerAnswer,
    PeerUnreachableError,
    RelayService,
    RelaySettings,
    _RefusedError,
    _Release,
    _Void,
)
from qinternet.kms.southbound import device_ends
from qinternet.kms.store import KeyStore, NotEnoughKeyError
from tests.kms.test_kme_processes import SCENARIO as PROCESSES_SCENARIO
from tests.kms.test_southbound import SCENARIO as SOUTHBOUND_SCENARIO

LINE2 = SOUTHBOUND_SCENARIO
"""Two user nodes a - b, one link ``ab``."""
LINE3 = PROCESSES_SCENARIO
"""A line a - m - b (m a trusted node), links ``am`` and ``mb``."""


class FakePeers:
    """A :class:`~qinternet.kms.relay.PeerClient` that calls the peer's service directly."""

    def __init__(self, me: str, net: Net) -> None:
        self.kme_id, self.net = me, net
        self.digests: list[tuple[str, dict[str, Any]]] = []

    async def aclose(self) -> None:
        return None

    async def post(self, peer: str, call: str, body: Mapping[str, Any], timeout_s: float) -> PeerAnswer:
        body = json.loads(json.dumps(body))
        if peer in self.net.down:
            raise PeerUnreachableError(f"{peer} down")
        service = self.net.services[peer]
        try:
            if call == "ext_keys":
                message = ExtKeys.model_validate(body)
                answer = await service.receive(self.kme_id, message, message.model_dump())
            elif call == "void":
                answer = await service.void(self.kme_id, _Void.model_validate(body))
            elif call == "release":
                answer = await service.release(self.kme_id, _Release.model_validate(body))
            elif call == "link_state":
                report = LinkStateReport.model_validate(body)
                answer = {"outcome": self.net.link_states[peer].accept(self.kme_id, report)}
            else:
                self.digests.append((peer, body))
                answer = {"items": [{"outcome": "waiting"} for _ in body["items"]]}
        except _RefusedError as exc:
            status = 200 if exc.status == 200 else exc.status
            return PeerAnswer(status, json.dumps({"ack_status": exc.ack, "message": str(exc)}).encode())
        except NotEnoughKeyError as exc:
            return PeerAnswer(200, json.dumps({"ack_status": "key not present", "message": str(exc)}).encode())
        except LinkStateRefusedError as exc:
            return PeerAnswer(exc.status, json.dumps({"message": str(exc)}).encode())
        return PeerAnswer(200, json.dumps(answer).encode())


class Net:
    """Every KME of a scenario with a store of its own (``store_of(kme)``: its URL; SQLite files by default)."""

    def __init__(
        self,
        yaml_text: str,
        folder: Path,
        *,
        capacity_bytes: int | None = None,
        timeout_s: float = 0.3,
        store_of: Callable[[str], str] | None = None,
    ) -> None:
        (folder / "net.yaml").write_text(yaml_text)
        spec = scenario_named(str(folder / "net.yaml"))
        self.topology = topology_of(spec)
        self.devices = device_ends(spec)
        self.down: set[str] = set()
        self.services: dict[str, RelayService] = {}
        self.link_states = {kme: LinkStateTable(kme, self.topology) for kme in self.topology.kmes}
        for kme in sorted(self.topology.kmes):
            url = store_of(kme) if store_of is not None else f"sqlite:///{folder / kme}.db"
            self.services[kme] = RelayService(
                kme_id=kme,
                store=KeyStore(url),
                topology=self.topology,
                devices=self.devices,
                client=FakePeers(kme, self),  # type: ignore[arg-type]
                settings=RelaySettings(timeout_s=timeout_s, capacity_bytes=capacity_bytes),
                remote_levels=self.link_states[kme].level,
            )

    async def feed(self, link: str, ksid: str, start: int, count: int, size: int = 32) -> None:
        """Both ends of ``link`` pool keys ``start`` .. ``start + count - 1`` of stream ``ksid`` (as if agreed)."""
        for index in range(start, start + count):
            key = os.urandom(size)
            for end in (d for d in self.devices.values() if d.link == link):
                service = self.services[end.kme]
                await service.store.writer().run(
                    lambda c, w, end=end, service=service, index=index, key=key: service.pool_key(
                        c, w, end, ksid, index, key
                    )
                )

    def rows(self, kme: str, sql: str, *args: Any) -> list[Any]:
        with self.services[kme].store.engine.connect() as connection:
            return list(connection.exec_driver_sql(sql, args).all())

    def ready(self, kme: str, sender: str, peer: str) -> set[tuple[str, int]]:
        """The link keys ``kme`` holds ready with ``peer`` that ``sender`` may send with."""
        sql = "SELECT ksid, idx FROM link_keys WHERE state = 'ready' AND sender = ? AND peer_kme = ?"
        rows = self.rows(kme, sql, sender, peer)
        return {(str(k), int(i)) for k, i in rows}

    def close(self) -> None:
        for service in self.services.values():
            service.store.close()
