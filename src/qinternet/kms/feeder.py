"""The simulated network filling the KMEs' key store, in real time or accelerated.

Every node of a scenario runs a KME (``kme-<node>``); every user node and every ground station has one SAE
(``sae-<node>``): a ground station is where satellite key is used (Micius's Xinglong-Graz key encrypted a
video call between Beijing and Vienna; Liao et al., PRL 120, 030501, 2018). The
links' processes run on the discrete-event kernel exactly as in ``qinternet run``; when a link finishes
a block (a fibre block, an entanglement block, a satellite pass) the secret bits it made go into the pool
of its two KMEs. The key bytes themselves stand in for the link's QKD key: they are drawn from the
operating system's random source (``os.urandom``), not from the simulation's seeded streams, so that the
KMEs hand out unpredictable keys. A pool holds at most ``capacity_bytes``; what a block makes beyond that
is counted as discarded and never materialised.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from qinternet.kms.store import KeyStore, pool_name
from qinternet.kms.topology import KmsTopology
from qinternet.network.alarms import Alarm, LinkMonitor
from qinternet.network.links.base import BlockRecord, LinkEngine, LinkRunner, next_block_end_s
from qinternet.network.links.build import build_links
from qinternet.network.schema import NodeKind, Scenario
from qinternet.sim import Kernel, Process, ProcessGenerator, ps_to_seconds, seconds_to_ps

__all__ = ["BlockObserver", "NetworkFeeder", "kme_id", "sae_id", "topology_of"]

BlockObserver = Callable[[str, BlockRecord], None]
"""Told of every block a link finishes: the link's ID and the block."""


def kme_id(node: str) -> str:
    """The KME of a node."""
    return f"kme-{node}"


def sae_id(node: str) -> str:
    """The SAE of a user node, ground station or quantum-node."""
    return f"sae-{node}"


_SAE_KINDS = (NodeKind.USER, NodeKind.GROUND_STATION, NodeKind.QUANTUM_NODE)


def topology_of(scenario: Scenario) -> KmsTopology:
    """KMEs, their links, the trusted ones, and one SAE per user node, ground station and quantum-node."""
    users = [n.id for n in scenario.nodes if n.kind in _SAE_KINDS]
    return KmsTopology(
        sae_kme={sae_id(node): kme_id(node) for node in users},
        links=tuple((kme_id(link.a), kme_id(link.b)) for link in scenario.links),
        relays=frozenset(kme_id(n.id) for n in scenario.nodes if n.relays_key),
    )


@dataclass(slots=True)
class _Made:
    a: str
    b: str
    key_bits: int


def _bind(runner: LinkRunner, deliver: Callable[[BlockRecord], None], proc: Process) -> ProcessGenerator:
    return runner(proc, deliver)


class NetworkFeeder:
    """Runs a scenario's links and puts their key into ``store``.

    The links' blocks are watched as in ``qinternet run`` (:mod:`qinternet.network.alarms`): while a link's alarm
    is raised (the scenario's ``attacks``), ``topology`` routes no key over it.

    Args:
        scenario: the network.
        store: the KMEs' key store.
        capacity_bytes: most key a link's pool holds.
        topology: the KMEs' topology (:func:`topology_of` the scenario), whose links out of service the
            feeder keeps up to date; None: alarms are recorded only.
    """

    def __init__(
        self, scenario: Scenario, store: KeyStore, *, capacity_bytes: int, topology: KmsTopology | None = None
    ) -> None:
        self.scenario = scenario
        self.store = store
        self.capacity_bytes = capacity_bytes
        self.topology = topology
        self.kernel = Kernel(seed=scenario.seed)
        self._made: list[_Made] = []
        self._lock = threading.Lock()
        self.bits_made = 0
        self.bytes_stored = 0
        self.monitors: list[LinkMonitor | None] = []
        self.observers: list[BlockObserver] = []
        """Called with the link's ID and every block it finishes (with key or not), in the thread that runs
        :meth:`advance`, while it holds the feeder's lock: they must be quick (the live dashboard's)."""
        self._engines: dict[tuple[str, str], list[LinkEngine]] = {}
        self._ids = [spec.id for spec in scenario.links]
        for index, (spec, link) in enumerate(zip(scenario.links, build_links(scenario), strict=True)):
            self.monitors.append(None if link.baseline is None else LinkMonitor(link=spec.id, baseline=link.baseline))
            deliver = functools.partial(self._deliver, index, kme_id(spec.a), kme_id(spec.b))
            self.kernel.process(functools.partial(_bind, link.runner, deliver), f"link:{spec.id}")
            self._engines.setdefault(pool_name(kme_id(spec.a), kme_id(spec.b)), []).append(link.engine)
        self._blocks = [0] * len(scenario.links)
        self._bits_by_pool: dict[tuple[str, str], int] = {}

    @property
    def alarms(self) -> list[Alarm]:
        """Every alarm raised so far, by link."""
        return [alarm for monitor in self.monitors if monitor is not None for alarm in monitor.alarms]

    def _deliver(self, index: int, a: str, b: str, block: BlockRecord) -> None:
        for observe in self.observers:
            observe(self._ids[index], block)
        if block.key_bits > 0:
            self._made.append(_Made(a, b, block.key_bits))
            pool = pool_name(a, b)
            self._bits_by_pool[pool] = self._bits_by_pool.get(pool, 0) + block.key_bits
        monitor = self.monitors[index]
        if monitor is not None:
            monitor.observe(block, self._blocks[index])
            if self.topology is not None:
                if monitor.in_alarm:
                    self.topology.out_of_service.add(index)
                else:
                    self.topology.out_of_service.discard(index)
        self._blocks[index] += 1

    @property
    def simulated_s(self) -> float:
        """The network's clock, s."""
        return ps_to_seconds(self.kernel.now_ps)

    def next_block_s(self, kme_a: str, kme_b: str) -> float | None:
        """Simulated seconds from now until a link between the two KMEs ends its next block (None: no link
        between them, or none that says: :func:`~qinternet.network.links.base.next_block_end_s`)."""
        now = self.simulated_s
        ends = [next_block_end_s(engine, now) for engine in self._engines.get(pool_name(kme_a, kme_b), ())]
        known = [end for end in ends if end is not None]
        return min(known) - now if known else None

    def key_rate_bps(self, kme_a: str, kme_b: str) -> float | None:
        """The secret key the links between two KMEs made so far per simulated second, bit/s (None before
        any time has passed)."""
        now = self.simulated_s
        return self._bits_by_pool.get(pool_name(kme_a, kme_b), 0) / now if now > 0 else None

    def advance(self, until_s: float) -> int:
        """Run the links up to ``until_s`` of simulated time, a block that ends then included (the warm-up's
        last block is in the pools when serving starts), and store what they made; bytes stored."""
        with self._lock:
            target = seconds_to_ps(until_s) + 1  # the kernel runs what is due strictly before its target
            if target > self.kernel.now_ps:
                self.kernel.run(until_ps=target)
            made, self._made = self._made, []
            stored = 0
            for item in made:
                offered = item.key_bits // 8
                room = max(0, self.capacity_bytes - self.store.pool_bytes(item.a, item.b))
                material = os.urandom(min(offered, room))
                stored += self.store.add_key(
                    item.a, item.b, material, capacity_bytes=self.capacity_bytes, offered_bytes=offered
                )
                self.bits_made += item.key_bits
            self.bytes_stored += stored
            return stored
