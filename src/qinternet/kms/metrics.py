"""Prometheus metrics of the KMEs, in a registry of their own (one per served network).

Counters and histograms are labelled by KME and SAE pair; key material and key IDs never become labels.
The pools' contents are read from the store when Prometheus scrapes (:class:`PoolCollector`), so the
figures are the database's, not a copy that a crash could falsify.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qinternet.kms.store import KeyStore

__all__ = ["KmsMetrics", "NodePoolCollector", "PoolCollector"]

_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class KmsMetrics:
    """The metrics every KME app of one process updates."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    keys_issued: Counter = field(init=False)
    keys_delivered: Counter = field(init=False)
    keys_redelivered: Counter = field(init=False)
    relay_failures: Counter = field(init=False)
    requests: Histogram = field(init=False)

    def __post_init__(self) -> None:
        self.keys_issued = Counter(
            "qinternet_kms_keys_issued",
            "Keys handed to master SAEs (Get key), per SAE pair",
            ["kme", "master_sae", "slave_sae"],
            registry=self.registry,
        )
        self.keys_delivered = Counter(
            "qinternet_kms_keys_delivered",
            "Keys handed to slave SAEs (Get key with key IDs), per SAE pair",
            ["kme", "master_sae", "slave_sae"],
            registry=self.registry,
        )
        self.keys_redelivered = Counter(
            "qinternet_kms_keys_redelivered",
            "Keys a slave SAE fetched again within the redelivery window (not counted as delivered again)",
            ["kme", "master_sae", "slave_sae"],
            registry=self.registry,
        )
        self.relay_failures = Counter(
            "qinternet_kms_relay_failures",
            "Get key requests refused for want of key on the way to the slave's KME (or of a path)",
            ["kme", "slave_sae"],
            registry=self.registry,
        )
        self.requests = Histogram(
            "qinternet_kms_request_seconds",
            "Time to answer an ETSI GS QKD 014 request",
            ["kme", "method", "status"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )


class PoolCollector(Collector):
    """Key in every link's pool, and keys waiting for their slave SAE, read from the store at scrape time."""

    def __init__(self, store: KeyStore, links: Iterable[tuple[str, str]], kmes: Iterable[str]) -> None:
        self.store = store
        self.links = list(links)
        self.kmes = list(kmes)

    def collect(self) -> Iterator[Metric]:
        pools = GaugeMetricFamily("qinternet_kms_pool_bits", "Key held by a link's pool", labels=["kme_a", "kme_b"])
        for a, b in self.links:
            pools.add_metric([a, b], 8 * self.store.pool_bytes(a, b))
        yield pools
        reserved = GaugeMetricFamily(
            "qinternet_kms_keys_reserved", "Keys issued to masters and not yet fetched by their slaves", labels=["kme"]
        )
        for kme in self.kmes:
            reserved.add_metric([kme], self.store.reserved_count(kme))
        yield reserved

    def describe(self) -> Iterator[Metric]:
        return itertools.chain(())


class NodePoolCollector(Collector):
    """One KME process's view (``qinternet kme``, :mod:`.relay`): the link keys it holds with each neighbour,
    by direction (``send``: it may relay with them; ``receive``: the neighbour may), and its keys waiting for
    their slave SAE; read when Prometheus scrapes.

    Args:
        kme_id: the KME.
        peers: its neighbours' KME IDs.
        level_bytes: bytes held with a peer in a direction (``"send"`` or ``"receive"``).
        reserved: its keys issued and not yet fetched.
    """

    def __init__(
        self,
        kme_id: str,
        peers: Iterable[str],
        level_bytes: Callable[[str, str], int],
        reserved: Callable[[], int],
    ) -> None:
        self.kme_id = kme_id
        self.peers = sorted(peers)
        self.level_bytes = level_bytes
        self.reserved = reserved

    def collect(self) -> Iterator[Metric]:
        pools = GaugeMetricFamily(
            "qinternet_kms_pool_bits",
            "Key held by a link's pool (at this KME: both directions)",
            labels=["kme_a", "kme_b"],
        )
        directions = GaugeMetricFamily(
            "qinternet_kms_link_key_bits",
            "Link key this KME holds with a neighbour, by who may send with it",
            labels=["kme", "peer", "direction"],
        )
        for peer in self.peers:
            send, receive = self.level_bytes(peer, "send"), self.level_bytes(peer, "receive")
            pools.add_metric([self.kme_id, peer], 8 * (send + receive))
            directions.add_metric([self.kme_id, peer, "send"], 8 * send)
            directions.add_metric([self.kme_id, peer, "receive"], 8 * receive)
        yield pools
        yield directions
        reserved = GaugeMetricFamily(
            "qinternet_kms_keys_reserved", "Keys issued to masters and not yet fetched by their slaves", labels=["kme"]
        )
        reserved.add_metric([self.kme_id], self.reserved())
        yield reserved

    def describe(self) -> Iterator[Metric]:
        return itertools.chain(())
