"""The state of a network that runs now (``qinternet serve --dashboard``), as the dashboard's JSON.

:class:`LiveSource` follows a :class:`~qinternet.kms.feeder.NetworkFeeder`: every block a link finishes
(:attr:`~qinternet.kms.feeder.NetworkFeeder.observers`) updates the link's recent key rate, QBER and status;
the alarms are the feeder's monitors' (:mod:`qinternet.network.alarms`, listed as :mod:`.alarms` says); the
KMEs' pools are read from the key store's levels, and the deliveries per SAE and the relay paths in use from its
ledger (issued, relayed and delivered events, read from where the last reading stopped).
:meth:`LiveSource.state` may be called from any thread.
"""

from __future__ import annotations

import collections
import itertools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qinternet.dashboard.alarms import QBER_ALARM, page_alarms
from qinternet.kms.feeder import NetworkFeeder
from qinternet.kms.store import KeyStore, LedgerEvent
from qinternet.kms.topology import KmsTopology
from qinternet.network.links.base import BlockRecord
from qinternet.network.schema import Scenario

__all__ = ["RATE_BLOCKS", "LiveSource", "live_source", "node_rows", "path_links"]

RATE_BLOCKS = 5
"""A link's key rate now: the key of its last this-many blocks over the simulated time they span."""
_PENDING_KEYS = 10_000
"""Most keys whose first relay hops are remembered until their issue (older ones are forgotten)."""


def node_rows(nodes: Sequence[Any]) -> list[dict[str, Any]]:
    """The map's nodes: ``id``, ``kind``, ``name``, ``lat_deg``, ``lon_deg`` (None for a satellite)."""
    return [
        {"id": n.id, "kind": n.kind.value, "name": n.label, "lat_deg": n.lat_deg, "lon_deg": n.lon_deg} for n in nodes
    ]


def path_links(ends: Sequence[tuple[str, str, str]], nodes: Sequence[str]) -> list[str]:
    """The IDs of the links joining consecutive ``nodes``, from ``ends`` = (link ID, node a, node b)."""
    found = []
    for a, b in itertools.pairwise(nodes):
        link = next((i for i, x, y in ends if {x, y} == {a, b}), None)
        if link is not None:
            found.append(link)
    return found


@dataclass(slots=True)
class _LinkNow:
    """What the dashboard shows of a link while it runs."""

    kind: str
    recent: collections.deque[BlockRecord] = field(default_factory=lambda: collections.deque(maxlen=RATE_BLOCKS))
    blocks: int = 0
    aborted_blocks: int = 0
    key_bits: int = 0

    def rate_bps(self) -> float | None:
        if not self.recent:
            return None
        first, last = self.recent[0], self.recent[-1]
        span = last.end_s - (first.end_s - first.duration_s)
        return sum(b.key_bits for b in self.recent) / span if span > 0 else None


@dataclass(slots=True)
class _Deliveries:
    issued_keys: int = 0
    issued_bits: int = 0
    delivered_keys: int = 0
    delivered_bits: int = 0


@dataclass(slots=True)
class _PathUse:
    kmes: list[str]
    keys: int = 0
    last_at: float = 0.0


class LiveSource:
    """The dashboard's view of a running network (see the module docstring).

    Args:
        scenario: the network.
        topology: its KMEs and SAEs.
        store: the KMEs' key store (pool levels, ledger).
        clock: the network's simulated time now, s.
        capacity_bits: most key a pool holds.
        alarms: the network's alarms so far (:class:`qinternet.network.alarms.Alarm`), e.g. the feeder's.
    """

    def __init__(
        self,
        scenario: Scenario,
        topology: KmsTopology,
        store: KeyStore,
        *,
        clock: Callable[[], float],
        capacity_bits: float,
        alarms: Callable[[], Sequence[Any]] = list,
    ) -> None:
        self.scenario = scenario
        self.topology = topology
        self.store = store
        self.clock = clock
        self.capacity_bits = capacity_bits
        self._lock = threading.Lock()
        self._links = {spec.id: _LinkNow(kind=spec.kind.value) for spec in scenario.links}
        self._alarms: Callable[[], Sequence[Any]] = alarms
        self._ledger_id = 0
        self._saes = {sae: _Deliveries() for sae in sorted(topology.sae_kme)}
        self._hops: collections.OrderedDict[str, dict[str, list[str]]] = collections.OrderedDict()
        """Per key ID being issued, per slave SAE: the KMEs of its relayed hops so far."""
        self._unrelayed: collections.OrderedDict[str, str] = collections.OrderedDict()
        """Per key ID issued without relayed hops: the master's KME (the path is known at its delivery)."""
        self._paths: dict[tuple[str, str], _PathUse] = {}
        self._ends = [(spec.id, spec.a, spec.b) for spec in scenario.links]
        self._node_of = {f"kme-{n.id}": n.id for n in scenario.nodes}

    def observe(self, link: str, block: BlockRecord) -> None:
        """A link finished a block (a :data:`~qinternet.kms.feeder.BlockObserver`)."""
        with self._lock:
            now = self._links[link]
            now.recent.append(block)
            now.blocks += 1
            now.aborted_blocks += block.aborted
            now.key_bits += block.key_bits

    def _follow_ledger(self) -> None:
        """Read the ledger's new events into the deliveries and the paths (under the lock)."""
        while True:
            events = self.store.ledger_since(self._ledger_id)
            if not events:
                return
            for event in events:
                self._ledger_id = event.id
                self._count(event)

    def _count(self, event: LedgerEvent) -> None:
        if event.kind == "relayed" and event.key_id and event.slave_sae_id and event.peer_kme_id:
            hops = self._hops.setdefault(event.key_id, {}).setdefault(event.slave_sae_id, [])
            if not hops:
                hops.append(event.kme_id)
            hops.append(event.peer_kme_id)
            _bound(self._hops)
        elif event.kind == "issued" and event.master_sae_id in self._saes and event.key_id:
            use = self._saes[event.master_sae_id]
            use.issued_keys += 1
            use.issued_bits += event.bits
            relayed = self._hops.pop(event.key_id, {})
            for slave, hops in relayed.items():
                self._use_path(event.master_sae_id, slave, [event.kme_id, *hops], event.at)
            if not relayed:  # one hop, or master and slave at one KME: the slave's KME is known at delivery
                self._unrelayed[event.key_id] = event.kme_id
                _bound(self._unrelayed)
        elif event.kind == "delivered" and event.slave_sae_id in self._saes and event.master_sae_id:
            use = self._saes[event.slave_sae_id]
            use.delivered_keys += 1
            use.delivered_bits += event.bits
            master_kme = self._unrelayed.pop(event.key_id or "", None)
            if master_kme is not None and master_kme != event.kme_id:
                self._use_path(event.master_sae_id, event.slave_sae_id, [master_kme, event.kme_id], event.at)

    def _use_path(self, master: str, slave: str, kmes: list[str], at: float) -> None:
        use = self._paths.get((master, slave))
        if use is None or use.kmes != kmes:
            use = self._paths[master, slave] = _PathUse(kmes=kmes)
        use.keys += 1
        use.last_at = at

    def state(self) -> dict[str, Any]:
        """The dashboard's JSON of the network now (see :func:`qinternet.dashboard.app.create_dashboard_app`)."""
        with self._lock:
            self._follow_ledger()
            links = []
            for spec in self.scenario.links:
                now = self._links[spec.id]
                last = now.recent[-1] if now.recent else None
                pool = 8 * self.store.pool_level(f"kme-{spec.a}", f"kme-{spec.b}")
                links.append(
                    {
                        "id": spec.id,
                        "a": spec.a,
                        "b": spec.b,
                        "kind": now.kind,
                        "rate_bps": now.rate_bps(),
                        "qber": None if last is None or math.isnan(last.qber) else last.qber,
                        "status": _status(last),
                        "blocks": now.blocks,
                        "aborted_blocks": now.aborted_blocks,
                        "key_bits": now.key_bits,
                        "pool_bits": pool,
                        "capacity_bits": self.capacity_bits,
                    }
                )
            paths = []
            for (master, slave), use in sorted(self._paths.items(), key=lambda item: -item[1].last_at):
                nodes = [self._node_of.get(kme, kme) for kme in use.kmes]
                paths.append(
                    {
                        "label": f"{master} → {slave}",
                        "nodes": nodes,
                        "links": path_links(self._ends, nodes),
                        "keys": use.keys,
                        "last_at": use.last_at,
                    }
                )
            return {
                "mode": "live",
                "title": self.scenario.name,
                "description": self.scenario.description,
                "time_s": self.clock(),
                "qber_threshold": QBER_ALARM,
                "nodes": node_rows(self.scenario.nodes),
                "links": links,
                "saes": [
                    {"sae": sae, "kme": self.topology.sae_kme[sae], **_fields(use)} for sae, use in self._saes.items()
                ],
                "paths": paths,
                "alarms": page_alarms(alarm.to_dict() for alarm in self._alarms()),
            }


def _bound(pending: collections.OrderedDict[str, Any]) -> None:
    """Forget the oldest keys beyond :data:`_PENDING_KEYS` (keys issued and never fetched)."""
    while len(pending) > _PENDING_KEYS:
        pending.popitem(last=False)


def _fields(use: _Deliveries) -> dict[str, int]:
    return {
        "issued_keys": use.issued_keys,
        "issued_bits": use.issued_bits,
        "delivered_keys": use.delivered_keys,
        "delivered_bits": use.delivered_bits,
    }


def _status(block: BlockRecord | None) -> str:
    """``waiting`` (no block yet), ``key``, or the last block's abort reason."""
    if block is None:
        return "waiting"
    return "key" if block.abort_reason is None else block.abort_reason.value


def live_source(feeder: NetworkFeeder, store: KeyStore, topology: KmsTopology) -> LiveSource:
    """A :class:`LiveSource` told of every block ``feeder``'s links finish from now on."""
    source = LiveSource(
        feeder.scenario,
        topology,
        store,
        clock=lambda: feeder.simulated_s,
        capacity_bits=8 * feeder.capacity_bytes,
        alarms=lambda: feeder.alarms,
    )
    feeder.observers.append(source.observe)
    return source
