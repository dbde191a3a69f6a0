"""Key-aware routing of end-to-end keys over trusted nodes: the path a key takes and what relaying it costs.

One module for the simulation (``qinternet run``: :func:`qinternet.network.relay.serve`) and the Key
Management Entities (``qinternet serve``: :class:`qinternet.kms.topology.KmsTopology`, whose paths the
key store takes key along), so that one network with the same pool levels routes the same way in both.
Pure functions over plain data: the key graph (links as ``(a, b)`` pairs, by index; the nodes that relay)
and the pool levels, indexed by link, in any one unit (bits in the simulation, bytes in the key store).

**Relay cost** (the trusted-node networks of SECOQC, Peev et al., NJP 11, 075001 (2009), and of the
Beijing-Shanghai backbone, Chen et al., Nature 589, 214 (2021)): an end-to-end key crosses every hop of
its path as ``key XOR hop key`` (a one-time pad), which the next trusted node decrypts and re-encrypts;
relaying ``b`` bits therefore takes ``b`` bits from *every* hop's pool (:func:`relay_cost`).

**Widest path**: a key takes the path whose smallest hop pool is largest (the maximin or bottleneck path,
found by Dijkstra's algorithm with ``min`` in place of ``+``; Pollack, Operations Research 8, 733 (1960)),
so that relays draw on the key where it is. Only trusted nodes pass key on between two others; parallel
links between two nodes are separate edges. Among the widest paths, the one with the fewest hops (every
hop spends key), and among those the one whose sequence of link indices, from the source, is
lexicographically smallest (:func:`fewest_hops`' breadth-first search visits links in index order), so
that the choice never depends on the order of a hash or a heap.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, TypeVar

__all__ = ["KeyGraph", "Levels", "Route", "fewest_hops", "path_nodes", "relay_cost", "widest_path"]

_Hop = TypeVar("_Hop")
_Amount = TypeVar("_Amount", int, float)


class Levels(Protocol):
    """Key in each link's pool now, by link index (a list, a float64 array, or a view of a key store)."""

    def __getitem__(self, link: int, /) -> float: ...


@dataclass(frozen=True, slots=True)
class KeyGraph:
    """Which nodes each link joins, and which nodes relay key between two others.

    Attributes:
        ends: ``(a, b)`` of every link, by link index.
        relays: the nodes key may pass through between two others (trusted nodes); None: every node.
    """

    ends: tuple[tuple[str, str], ...]
    relays: frozenset[str] | None = None
    _adjacent: Mapping[str, tuple[tuple[str, int], ...]] = field(init=False, repr=False, compare=False)
    _forest: bool = field(init=False, repr=False, compare=False)
    _only_paths: dict[tuple[str, str], list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        adjacent: dict[str, list[tuple[str, int]]] = {}
        root: dict[str, str] = {}  # union-find: a link whose ends are already joined closes a cycle

        def find(node: str) -> str:
            while root.setdefault(node, node) != node:
                root[node] = root[root[node]]  # path halving: a star or a long chain stays quick to build
                node = root[node]
            return node

        forest = True
        for index, (a, b) in enumerate(self.ends):
            adjacent.setdefault(a, []).append((b, index))
            adjacent.setdefault(b, []).append((a, index))
            ra, rb = find(a), find(b)
            forest = forest and ra != rb
            root[ra] = rb
        object.__setattr__(self, "_adjacent", {node: tuple(links) for node, links in adjacent.items()})
        object.__setattr__(self, "_forest", forest)
        object.__setattr__(self, "_only_paths", {})

    def neighbours(self, node: str) -> tuple[tuple[str, int], ...]:
        """``(neighbour, link index)`` of every link at ``node``, in link order."""
        return self._adjacent.get(node, ())

    def passes_on(self, node: str) -> bool:
        """Whether ``node`` relays key between two others (a trusted node)."""
        return self.relays is None or node in self.relays


class Route(NamedTuple):
    """The path a key takes.

    Attributes:
        width: the smallest pool level on the path (the levels' unit); 0 when there is no path.
        links: link indices from the source to the target ([] when there is no path).
    """

    width: float
    links: list[int]


def fewest_hops(
    graph: KeyGraph, source: str, target: str, *, levels: Levels | None = None, floor: float = 0.0
) -> list[int]:
    """Link indices of a path with the fewest hops through relays ([] if none); with ``levels``, only links
    holding at least ``floor`` (``floor > 0``) are used.

    Breadth-first, the links of a node in index order: among the fewest-hop paths, the one whose link
    indices from ``source`` are lexicographically smallest.
    """
    via: dict[str, tuple[str, int]] = {}
    frontier, seen = [source], {source}
    relays, adjacent = graph.relays, graph._adjacent
    while frontier and target not in seen:
        following = []
        for node in frontier:
            if node != source and relays is not None and node not in relays:
                continue
            for neighbour, link in adjacent.get(node, ()):
                if neighbour in seen or (levels is not None and not levels[link] >= floor):
                    continue
                seen.add(neighbour)
                via[neighbour] = (node, link)
                following.append(neighbour)
        frontier = following
    if target not in via:
        return []
    links, node = [], target
    while node != source:
        node, link = via[node]
        links.append(link)
    return links[::-1]


def widest_path(graph: KeyGraph, levels: Levels, source: str, target: str) -> Route:
    """The path whose smallest pool is largest, among those the fewest hops (module docstring).

    The width ``W`` comes from Dijkstra's algorithm with ``min`` for ``+`` (Pollack 1960); the path from a
    breadth-first search over the links holding at least ``W`` (:func:`fewest_hops`). A graph without a
    cycle (a trusted-node chain) has at most one path between two nodes: it is looked up, not searched.
    Returns ``Route(0, [])`` when no path has key in every hop (or ``source`` is ``target``).
    """
    if source == target:
        return Route(0.0, [])
    if graph._forest:  # no cycle (a chain, a tree): at most one path between two nodes, found once
        if (source, target) not in graph._only_paths:
            graph._only_paths[source, target] = fewest_hops(graph, source, target)
        links = graph._only_paths[source, target]
        narrowest = min((float(levels[link]) for link in links), default=0.0)
        return Route(narrowest, list(links)) if narrowest > 0.0 else Route(0.0, [])
    best: dict[str, float] = {source: math.inf}
    heap: list[tuple[float, str]] = [(-math.inf, source)]
    done: set[str] = set()
    width = 0.0
    relays, adjacent = graph.relays, graph._adjacent
    while heap:
        negative_width, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        if node == target:
            width = -negative_width
            break
        if node != source and relays is not None and node not in relays:
            continue  # a user or a source: it does not relay others' key
        for neighbour, link in adjacent.get(node, ()):
            if neighbour in done:
                continue
            through = min(-negative_width, float(levels[link]))
            if through > 0.0 and through > best.get(neighbour, 0.0):
                best[neighbour] = through
                heapq.heappush(heap, (-through, neighbour))
    if width <= 0.0:
        return Route(0.0, [])
    return Route(width, fewest_hops(graph, source, target, levels=levels, floor=width))


def path_nodes(graph: KeyGraph, source: str, links: Sequence[int]) -> list[str]:
    """The nodes a path of ``links`` visits from ``source``, ``source`` included.

    >>> path_nodes(KeyGraph(ends=(("b", "a"), ("b", "c"))), "a", [0, 1])
    ['a', 'b', 'c']
    """
    nodes = [source]
    for link in links:
        a, b = graph.ends[link]
        nodes.append(b if nodes[-1] == a else a)
    return nodes


def relay_cost(hops: Iterable[_Hop], bits: _Amount) -> list[tuple[_Hop, _Amount]]:
    """What relaying ``bits`` end to end over ``hops`` takes from each hop's pool, in path order.

    Trusted-node relay under one-time pads (module docstring; Peev et al. 2009): every hop carries the key
    XOR its own key, so each gives ``bits``. The unit is the caller's (bits, bytes).

    >>> relay_cost([("a", "r"), ("r", "b")], 32)
    [(('a', 'r'), 32), (('r', 'b'), 32)]
    """
    return [(hop, bits) for hop in hops]
