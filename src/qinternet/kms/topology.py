"""Which SAE is attached to which KME, which KMEs share a QKD link, and the KME path between two SAEs.

The path is :mod:`qinternet.network.routing`'s, the one ``qinternet run`` takes for the same network: the
widest path by the pools' levels now (:meth:`KmsTopology.widest_path`), through trusted KMEs only, and never
over a link whose alarm is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from qinternet.network.routing import KeyGraph, fewest_hops, path_nodes, widest_path

__all__ = ["KeyLimits", "KmsTopology", "PoolLevel", "longest_relay_hops"]

PoolLevel = Callable[[str, str], int]
"""Bytes of key the pool of the link between two KMEs holds (as a key store sees it now)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyLimits:
    """What a KME promises in its Status (ETSI GS QKD 014, Table 9); sizes in bits.

    Attributes:
        key_size: default key size.
        min_key_size, max_key_size: the sizes it delivers (multiples of 8 only).
        max_key_per_request: most keys in one Get key.
        max_sae_id_count: most ``additional_slave_SAE_IDs`` (0: no multicast).
        max_key_count: most keys of ``key_size`` a link's pool holds (its capacity).
    """

    key_size: int = 256
    min_key_size: int = 64
    max_key_size: int = 8192
    max_key_per_request: int = 128
    max_sae_id_count: int = 8
    max_key_count: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("key_size", "min_key_size", "max_key_size"):
            value = getattr(self, name)
            if value <= 0 or value % 8:
                raise ValueError(f"{name} must be a positive multiple of 8, got {value}")
        if not self.min_key_size <= self.key_size <= self.max_key_size:
            raise ValueError("need min_key_size <= key_size <= max_key_size")
        if self.max_key_per_request < 1 or self.max_sae_id_count < 0 or self.max_key_count < 1:
            raise ValueError("max_key_per_request and max_key_count must be >= 1, max_sae_id_count >= 0")


@dataclass(frozen=True, kw_only=True)
class KmsTopology:
    """The KMEs of a network and their SAEs.

    Attributes:
        sae_kme: SAE ID -> the KME it is attached to.
        links: pairs of KMEs joined by a QKD link (each has a key pool).
        relays: KMEs that may pass key on between two others (trusted nodes).
        out_of_service: indices (in :attr:`links`) of the links whose alarm is raised now
            (:mod:`qinternet.network.alarms`): no key takes them. The network feeder keeps it up to date.
    """

    sae_kme: Mapping[str, str]
    links: tuple[tuple[str, str], ...]
    relays: frozenset[str] = field(default_factory=frozenset)
    out_of_service: set[int] = field(default_factory=set, compare=False)

    @cached_property
    def key_graph(self) -> KeyGraph:
        """The links (by index, as :attr:`links`) and the trusted KMEs, for :mod:`qinternet.network.routing`."""
        return KeyGraph(ends=self.links, relays=self.relays)

    def neighbours(self, kme: str) -> frozenset[str]:
        """The KMEs that share a link with ``kme``."""
        return frozenset(peer for peer, _ in self.key_graph.neighbours(kme))

    @property
    def kmes(self) -> frozenset[str]:
        """Every KME."""
        return frozenset(self.sae_kme.values()) | {kme for link in self.links for kme in link}

    def kme_of(self, sae_id: str) -> str | None:
        """The KME of an SAE, or None for an unknown SAE."""
        return self.sae_kme.get(sae_id)

    @cached_property
    def _paths(self) -> dict[tuple[str, str], tuple[str, ...] | None]:
        return {}  # the topology is frozen: a path, once found, is the path (a KME asks for it on every request)

    def path(self, kme_a: str, kme_b: str) -> list[str] | None:
        """The KMEs from ``kme_a`` to ``kme_b`` with the fewest hops, through trusted KMEs only; None if none
        (whatever the pools hold: whether the two are joined at all)."""
        if (kme_a, kme_b) not in self._paths:
            self._paths[kme_a, kme_b] = self._find_path(kme_a, kme_b)
        found = self._paths[kme_a, kme_b]
        return None if found is None else list(found)

    def _find_path(self, kme_a: str, kme_b: str) -> tuple[str, ...] | None:
        if kme_a == kme_b:
            return (kme_a,)
        links = fewest_hops(self.key_graph, kme_a, kme_b)
        return tuple(path_nodes(self.key_graph, kme_a, links)) if links else None

    def widest_path(self, kme_a: str, kme_b: str, pool_bytes: PoolLevel) -> list[str] | None:
        """The KMEs a key from ``kme_a`` to ``kme_b`` passes: the widest path by ``pool_bytes`` now, as
        ``qinternet run`` routes (:func:`qinternet.network.routing.widest_path`); ``[kme_a]`` when both are
        one KME; None when no path through trusted KMEs holds key on every hop."""
        if kme_a == kme_b:
            return [kme_a]
        route = widest_path(self.key_graph, _LinkLevels(self.links, pool_bytes, self.out_of_service), kme_a, kme_b)
        return path_nodes(self.key_graph, kme_a, route.links) if route.links else None


class _LinkLevels:
    """The pool levels by link index, read from ``pool_bytes`` as routing asks for them (0 for a link out of
    service)."""

    __slots__ = ("_links", "_out", "_pool_bytes")

    def __init__(self, links: tuple[tuple[str, str], ...], pool_bytes: PoolLevel, out: set[int]) -> None:
        self._links, self._pool_bytes, self._out = links, pool_bytes, out

    def __getitem__(self, link: int, /) -> float:
        return 0.0 if link in self._out else self._pool_bytes(*self._links[link])


def longest_relay_hops(topology: KmsTopology) -> int:
    """Hops of the longest of the shortest paths between two KMEs with SAEs, through trusted KMEs only (the
    most links a relay crosses when routing takes the fewest; 0 without two such KMEs joined)."""
    ends = set(topology.sae_kme.values())
    longest = 0
    for start in ends:
        hops, frontier = {start: 0}, [start]
        while frontier:
            following = []
            for kme in frontier:
                if kme != start and not topology.key_graph.passes_on(kme):
                    continue  # key passes only through trusted KMEs
                for peer in topology.neighbours(kme):
                    if peer not in hops:
                        hops[peer] = hops[kme] + 1
                        following.append(peer)
            frontier = following
        longest = max([longest, *(n for kme, n in hops.items() if kme in ends)])
    return longest
