"""Key pools and the relay of end-to-end keys for demands: priorities and max-min fairness.

**Pools.** Each link keeps the secret key its two ends share in a pool of bounded capacity; key that
arrives at a full pool is discarded and counted (a real key manager stops accepting it).

**Relay** (the trusted-node networks of SECOQC, Peev et al., NJP 11, 075001 (2009), and of the
Beijing-Shanghai backbone, Chen et al., Nature 589, 214 (2021)): an end-to-end key ``k`` between users
``u`` and ``v`` on a path ``u = n_0, n_1, ..., n_h = v`` is made by ``u``; each hop ``(n_i, n_{i+1})``
carries ``k XOR h_i`` under the hop key ``h_i`` (a one-time pad), which node ``n_{i+1}`` decrypts and
re-encrypts with the next hop's key (:func:`xor_relay`). Relaying ``b`` bits therefore takes ``b`` bits
from *every* hop's pool (:func:`.routing.relay_cost`), and every trusted node sees the key.

**Routing** (key-aware) is :mod:`.routing`'s, the one the KMEs of ``qinternet serve`` use too: a demand
takes the *widest* path, the one whose smallest hop pool is largest, among those the fewest hops. Demands
are served in priority order; demands of equal priority share by progressive filling (max-min fairness;
Bertsekas and Gallager, *Data Networks*, 2nd ed., Sec. 6.5.2), re-routing after every round;
what a demand leaves unmet is reserved on its fewest-hop path against lower priorities. Links out of service
(an alarm raised on them) are left out of every path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.network import routing
from qinternet.network.routing import KeyGraph, Route, relay_cost

__all__ = ["Grant", "KeyPools", "Request", "fewest_hops", "serve", "widest_path", "xor_relay"]

U8 = NDArray[np.uint8]

_MAX_FILL_ROUNDS = 256
"""Most rounds of progressive filling per priority class (each meets a request or empties a link)."""


@dataclass(slots=True)
class KeyPools:
    """The key (in bits) held by every link's pool, and the graph of which nodes each link joins.

    Attributes:
        ends: ``(a, b)`` of every link, by link index.
        capacity_bits: float64, shape (L,): most key each pool holds.
        relays: the nodes key may pass through between two others (trusted nodes); None: every node.
        level_bits: float64, shape (L,): key in each pool now.
        discarded_bits: float64, shape (L,): key that arrived at a full pool.
        out_of_service: bool, shape (L,): links that carry no relayed key now (their alarm is raised,
            :mod:`.alarms`); their pools keep their key.
    """

    ends: tuple[tuple[str, str], ...]
    capacity_bits: NDArray[np.float64]
    relays: frozenset[str] | None = None
    level_bits: NDArray[np.float64] = field(init=False)
    discarded_bits: NDArray[np.float64] = field(init=False)
    out_of_service: NDArray[np.bool_] = field(init=False)
    _graph: KeyGraph = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.capacity_bits.shape != (len(self.ends),) or np.any(self.capacity_bits <= 0):
            raise ParameterError("capacity_bits", "needs one positive capacity per link")
        self.level_bits = np.zeros(len(self.ends))
        self.discarded_bits = np.zeros(len(self.ends))
        self.out_of_service = np.zeros(len(self.ends), dtype=bool)
        self._graph = KeyGraph(ends=self.ends, relays=self.relays)

    @property
    def graph(self) -> KeyGraph:
        """The key graph the pools sit on (:mod:`.routing`), with the relays as they are now."""
        if self._graph.relays is not self.relays:
            self._graph = KeyGraph(ends=self.ends, relays=self.relays)
        return self._graph

    def add(self, link: int, bits: float) -> None:
        """Put ``bits`` of new key into link ``link``'s pool, discarding what does not fit."""
        room = self.capacity_bits[link] - self.level_bits[link]
        kept = min(bits, room)
        self.level_bits[link] += kept
        self.discarded_bits[link] += bits - kept


def fewest_hops(
    pools: KeyPools, source: str, target: str, *, available: NDArray[np.float64] | None = None, floor: float = 0.0
) -> list[int]:
    """:func:`.routing.fewest_hops` on the pools' graph: link indices of a path with the fewest hops through
    relays ([] if none); with ``available``, only links holding at least ``floor`` of it."""
    return routing.fewest_hops(pools.graph, source, target, levels=available, floor=floor)


def widest_path(pools: KeyPools, source: str, target: str, *, reserved: NDArray[np.float64] | None = None) -> Route:
    """:func:`.routing.widest_path` on the pools' levels less ``reserved`` (float64, shape (L,)):
    ``(bottleneck bits, link indices from source to target)``, ``(0, [])`` when no path has key."""
    available = pools.level_bits if reserved is None else pools.level_bits - reserved
    if pools.out_of_service.any():
        available = np.where(pools.out_of_service, 0.0, available)
    return routing.widest_path(pools.graph, available, source, target)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """Key wanted now between two users.

    Attributes:
        demand: index of the demand.
        a, b: the users.
        bits: key wanted in this step.
        priority: larger is served first.
        hold_bits: most of what is left unmet that is held for it against lower priorities (default:
            all of it); a rate demand holds one step's worth, so that a backlog it cannot use (a slow hop
            elsewhere on its path) never starves others or makes a pool overflow.
    """

    demand: int
    a: str
    b: str
    bits: float
    priority: int
    hold_bits: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """Key relayed for one request in one step.

    Attributes:
        demand: index of the demand.
        bits: key delivered end to end.
        paths: bits delivered over each path (link indices from ``a`` to ``b``).
    """

    demand: int
    bits: float
    paths: dict[tuple[int, ...], float]


def serve(pools: KeyPools, requests: Sequence[Request]) -> list[Grant]:
    """Relay key for ``requests`` from the pools (consuming it on every hop), by priority, max-min fairly.

    Within a priority class, progressive filling (water-filling; Bertsekas and Gallager, *Data Networks*,
    2nd ed., Sec. 6.5.2): every unmet request routes on its widest path; all of them grow by the same
    amount ``delta``, the largest that neither exceeds a request's remainder nor any link's available key
    shared among the requests crossing it; then the met requests leave and the rest re-route. Each round
    meets a request or empties a link, so a class takes at most as many rounds as it has requests and
    links (capped at :data:`_MAX_FILL_ROUNDS`). What a request a class leaves unmet (up to its
    ``hold_bits``) is reserved on every hop of its fewest-hop path against the lower classes, in this
    call: that much key stays for it (e.g. for when a satellite pass refills its missing hop). Returns one
    grant per request, in the order given.
    """
    delivered = {r.demand: 0.0 for r in requests}
    paths: dict[int, dict[tuple[int, ...], float]] = {r.demand: {} for r in requests}
    reserved = np.zeros_like(pools.level_bits)
    for priority in sorted({r.priority for r in requests}, reverse=True):
        group = [r for r in requests if r.priority == priority]
        active = [r for r in group if r.bits > 0.0]
        for _ in range(_MAX_FILL_ROUNDS):
            routes = {}
            for request in active:
                _, hops = widest_path(pools, request.a, request.b, reserved=reserved)
                if hops:
                    routes[request.demand] = (request, hops)
            if not routes:
                break
            users = np.zeros(pools.level_bits.shape[0])  # what each link gives when every route grows by 1
            for _, hops in routes.values():
                for link, cost in relay_cost(hops, 1.0):
                    users[link] += cost
            available = pools.level_bits - reserved
            crossed = users > 0
            delta = float(np.min(available[crossed] / users[crossed]))
            delta = min(delta, min(r.bits - delivered[r.demand] for r, _ in routes.values()))
            if delta <= 0.0:
                break
            for request, hops in routes.values():
                for link, cost in relay_cost(hops, delta):
                    pools.level_bits[link] -= cost
                delivered[request.demand] += delta
                key = tuple(hops)
                paths[request.demand][key] = paths[request.demand].get(key, 0.0) + delta
            active = [r for r, _ in routes.values() if r.bits - delivered[r.demand] > 1e-9 * r.bits]
            if not active:
                break
        for request in group:
            unmet = request.bits - delivered[request.demand]
            if unmet > 1e-9 * request.bits:
                hold = unmet if request.hold_bits is None else min(unmet, request.hold_bits)
                in_service = None if not pools.out_of_service.any() else (~pools.out_of_service).astype(np.float64)
                reserved[fewest_hops(pools, request.a, request.b, available=in_service, floor=1.0)] += hold
    return [Grant(demand=r.demand, bits=delivered[r.demand], paths=paths[r.demand]) for r in requests]


def xor_relay(hop_keys: Sequence[U8], key: U8) -> tuple[list[U8], U8]:
    """Relay ``key`` hop by hop under one-time pads: the public messages and the key the far end gets.

    Args:
        hop_keys: uint8 0/1, each shape (n,): the key each hop's two nodes share, from the first hop.
        key: uint8 0/1, shape (n,): the end-to-end key made at the first node.

    Returns:
        The ciphertext sent on every hop (``key XOR hop_key``) and what the last node decrypts.

    >>> k = np.array([1, 0, 1], dtype=np.uint8)
    >>> messages, received = xor_relay([np.array([0, 1, 1], dtype=np.uint8)] * 2, k)
    >>> received.tolist(), messages[0].tolist()
    ([1, 0, 1], [1, 1, 0])
    """
    if not hop_keys:
        raise ParameterError("hop_keys", "needs at least one hop")
    messages = []
    carried = key
    for i, pad in enumerate(hop_keys):
        if pad.shape != key.shape:
            raise ParameterError(f"hop_keys[{i}]", f"has {pad.shape[0]} bits where the key has {key.shape[0]}")
        message = carried ^ pad  # sent in the clear on hop i
        messages.append(message)
        carried = message ^ pad  # node i+1 decrypts (a trusted node holds the key here)
    return messages, carried
