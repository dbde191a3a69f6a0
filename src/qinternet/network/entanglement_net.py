"""The entanglement network layer: requests for entangled pairs between nodes, served over memory links.

A scenario's quantum nodes and repeaters hold memories (a hardware preset each, :mod:`qinternet.params.
repeater_presets`), joined by heralded memory links (``kind: memory``). A request asks for pairs between two nodes
(a number, or a rate), with a minimum fidelity, a deadline and what to do with them (keep, or measure at once).
The layer follows the split of the quantum network stack of Pompili et al., npj Quantum Inf. 8, 121 (2022) and of
Dahlberg et al., SIGCOMM 2019 (a link layer that makes heralded pairs on request; a network layer that picks the
path, reserves the nodes' qubits for it and swaps along it):

1. **Path selection, fidelity- and rate-aware.** Candidate paths are the ``PATH_CANDIDATES`` shortest simple paths
   of the memory links by expected time per heralded pair (attempt period / success probability, the link
   layer's figure of merit), up to ``MAX_PATH_LINKS`` links. Each is compiled into a chain
   (:class:`~qinternet.entanglement.chain.ChainModel`: its links one by one, nested swapping at its nodes) and
   estimated by a pilot of ``PILOT_ROUNDS`` deliveries of the chain sampler; the path taken is the one of
   highest rate among those whose mean fidelity reaches the request's minimum.
2. **Cut-offs and purification where needed.** When no path reaches the minimum, memory cut-offs are tried
   (:data:`AUTO_CUTOFF_PAIRS`, :data:`AUTO_CUTOFF_T2`, unless the request sets one), then DEJMPS recurrence
   rounds on the elementary links (Deutsch et al., PRL 77, 2818 (1996)) are added, one at a time up to
   ``MAX_PURIFY_ROUNDS``; the first that reaches it is taken. A target purification cannot reach leaves the
   request unmet with the best fidelity found, in the summary (not an error).
3. **Reservations.** As QuISP's RuleSets reserve a connection's resources (Matsuo et al., 2019) and as the
   time-slotted schedule of Pompili et al. 2022, each request holds qubits on its path while it is served: one at
   each end, two at each repeater. Where the requests through a node want more qubits (or more communication
   qubits: one per link it attempts) than it has, they share its time in proportion, max-min: a request gets
   the smallest share of any node on its path (``share``), and its pairs arrive that much more slowly. A node's
   occupancy is the time-averaged fraction of its qubits so reserved. With ``entanglement: {scheduler: slots}``
   the shares are realised instead as whole slots of a periodic network schedule (:mod:`.slot_schedule`, after
   Pompili et al. 2022): a request attempts only in its own slots, and a round its slots cut short is discarded.
4. **Delivery.** The chain sampler draws the request's rounds one after the other (each round starts when the
   previous pair is delivered, the chain's nodes then free again); the pairs delivered are those done by the
   deadline (or the run's end) in the request's share of time, up to the number asked. Under the slot
   scheduler the rounds run in the request's own slots, and a pair's latency includes its wait for them.

Requests are served in priority order for the reservations; the draws of each come from its own random stream
(``entanglement:<id>``), so a scenario and seed give the same pairs bit for bit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx
import numpy as np
from numpy.typing import NDArray

from qinternet.entanglement.chain import (
    ChainModel,
    Deliveries,
    DeliveryMode,
    ElementaryLink,
    PurifyStep,
    sample_chain,
)
from qinternet.entanglement.purification import PurificationProtocol, PurificationSchedule
from qinternet.errors import ParameterError
from qinternet.network.repeater import memory_decay, node_attempt_dephasing, node_swap, normalised_law
from qinternet.network.slot_schedule import OwnSlots, Scheduler, build_schedule
from qinternet.params.repeater_presets import HardwarePreset
from qinternet.params.units import fibre_delay_s
from qinternet.sim.rng import stream_seed_sequence

__all__ = [
    "MAX_PATH_LINKS",
    "MAX_PURIFY_ROUNDS",
    "MAX_SAMPLED_ROUNDS",
    "PATH_CANDIDATES",
    "PILOT_ROUNDS",
    "EntanglementRun",
    "MemoryLinkModel",
    "PathPlan",
    "QuantumNodeModel",
    "RequestModel",
    "RequestResult",
    "compile_path",
    "plan_request",
    "run_requests",
]

F64 = NDArray[np.float64]

PATH_CANDIDATES = 4
"""Shortest simple paths (by expected time per pair) that path selection compares."""
MAX_PATH_LINKS = 64
"""Longest path (in memory links) a request may take."""
PILOT_ROUNDS = 400
"""Deliveries drawn to estimate a candidate's rate and fidelity (the mean fidelity's standard error is then
below ~0.01 for any spread of fidelities in [0, 1]: sigma <= 0.5, 0.5 / sqrt(400) = 0.025 at worst, ~0.005 for
the spreads chains give)."""
MAX_PURIFY_ROUNDS = 3
"""Most DEJMPS rounds per elementary link that purification tries (each doubles the links a pair costs)."""
AUTO_CUTOFF_PAIRS = (3.0, 1.0)
"""Cut-offs tried when a request names none, in units of the slowest link's expected time per pair: a pair that
waited three (or one) times as long as a link takes to make is discarded. The memory cut-offs of Li, Coopmans,
Elkouss (2021) trade rate for fidelity this way; the planner keeps the fastest that reaches the fidelity."""
AUTO_CUTOFF_T2 = (0.1, 0.01)
"""Cut-offs tried as well, in units of the path's shortest memory T2: where links are slow against the memories,
a cut-off must be short against T2 to keep fidelity (at a price in rate that the pilot measures)."""
MAX_SAMPLED_PAIRS = 200_000
"""Most deliveries a request draws; beyond, the count of pairs is extrapolated from the drawn rate (said in the
result)."""
MAX_SAMPLED_ROUNDS = 400_000
"""Most rounds a request draws under the slot scheduler, delivered or discarded at a slot's end (slots short against
a round discard most); beyond, the count of pairs is extrapolated from the time reached (said in the result)."""
TRACE_POINTS = 2_000
"""Most (time, fidelity) points a request keeps for the report's fidelity-over-time figure."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantumNodeModel:
    """A node that holds memories.

    Attributes:
        id: the node.
        preset: its hardware.
        qubits: memory qubits available to the network (communication qubits included).
        communication_qubits: qubits that can attempt links at once.
    """

    id: str
    preset: HardwarePreset
    qubits: int
    communication_qubits: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryLinkModel:
    """A heralded memory link, compiled.

    Attributes:
        id, a, b: the link and its ends.
        length_km: fibre between the ends (the heralding station in the middle).
        preset: the hardware its heralding uses.
        link: the compiled elementary link.
    """

    id: str
    a: str
    b: str
    length_km: float
    preset: HardwarePreset
    link: ElementaryLink

    @property
    def seconds_per_pair(self) -> float:
        """Expected time per heralded pair: the link layer's cost of the link."""
        return self.link.attempt_period_s / self.link.round_success_prob


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestModel:
    """A request for entangled pairs (the scenario's ``requests[]``, validated).

    Attributes:
        id, a, b: the request and its two end nodes.
        pairs: pairs wanted in total, or None for a rate.
        pairs_per_s: pairs wanted per second over the run, or None.
        min_fidelity: the least mean fidelity that serves.
        deadline_s: time from the run's start by which the pairs count, or None (the run's end).
        mode: keep the pairs in memory, or measure them at once.
        cutoff_s: memory cut-off on the path's nodes, or None.
        priority: larger is reserved first.
    """

    id: str
    a: str
    b: str
    pairs: int | None = None
    pairs_per_s: float | None = None
    min_fidelity: float = 0.5
    deadline_s: float | None = None
    mode: DeliveryMode = DeliveryMode.CREATE_AND_KEEP
    cutoff_s: float | None = None
    priority: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class PathPlan:
    """The path chosen for a request and what its pilot gave.

    Attributes:
        nodes: the path's nodes, from ``a`` to ``b``.
        links: the memory links along it.
        purify_rounds: DEJMPS rounds per elementary link (0: none).
        chain: the compiled chain.
        pilot_rate_hz: pairs per second of the pilot (the request alone on the path).
        pilot_fidelity: mean fidelity of the pilot's pairs.
        met: whether the pilot's mean fidelity reaches the request's minimum.
    """

    nodes: tuple[str, ...]
    links: tuple[str, ...]
    purify_rounds: int
    chain: ChainModel
    pilot_rate_hz: float
    pilot_fidelity: float
    met: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestResult:
    """What a request received.

    Attributes:
        request: the request.
        plan: its path, or None when no memory path joins its ends.
        share: fraction of time its path's nodes were reserved for it (slot scheduler: the fraction of the slots
            that are its own).
        pairs: pairs delivered by the deadline.
        wanted_pairs: pairs asked for by then.
        mean_state: mean Bell-diagonal state of the pairs delivered (what applications consume).
        fidelity_mean, fidelity_std: of the pairs delivered (NaN without pairs).
        fidelity_quantiles: 5 %, 50 %, 95 %.
        latency_s: mean time from a round's start to its pair's delivery, stretched by the share (slot scheduler:
            from when the pair was wanted, waiting for own slots and discarded rounds included).
        completion_s: time by which the number asked was delivered (count requests), or None.
        extrapolated: the pair count was extrapolated beyond ``MAX_SAMPLED_PAIRS`` drawn pairs (slot scheduler: or
            ``MAX_SAMPLED_ROUNDS`` drawn rounds).
        unmet: why the request was not met, or None.
        delivered_s: delivery time of every pair drawn and delivered in time (not thinned; what entanglement-based
            QKD makes its key blocks of).
        delivered_states: their Bell-diagonal states, shape ``(len(delivered_s), 4)``.
        discarded_rounds: rounds the end of the request's slots cut short (slot scheduler; 0 otherwise).
    """

    request: RequestModel
    plan: PathPlan | None
    share: float
    pairs: int
    wanted_pairs: float
    mean_state: F64
    fidelity_mean: float
    fidelity_std: float
    fidelity_quantiles: tuple[float, float, float]
    latency_s: float
    completion_s: float | None
    extrapolated: bool
    unmet: str | None
    delivered_s: F64 = field(default_factory=lambda: np.zeros(0), repr=False)
    delivered_states: F64 = field(default_factory=lambda: np.zeros((0, 4)), repr=False)
    discarded_rounds: int = 0

    @property
    def times_s(self) -> F64:
        """Delivery times of the pairs from the run's start, at most ``TRACE_POINTS`` evenly thinned (the report's
        trace)."""
        return self.delivered_s[:: self._trace_step]

    @property
    def fidelities(self) -> F64:
        """Fidelity of the pairs of :attr:`times_s`."""
        return self.delivered_states[:: self._trace_step, 0]

    @property
    def _trace_step(self) -> int:
        return max(1, math.ceil(len(self.delivered_s) / TRACE_POINTS))

    @property
    def met(self) -> bool:
        """Whether the request got the pairs it asked for at the fidelity it asked for."""
        return self.unmet is None

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` entry."""

        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        return {
            "request": self.request.id,
            "a": self.request.a,
            "b": self.request.b,
            "path": list(self.plan.nodes) if self.plan else None,
            "purify_rounds": self.plan.purify_rounds if self.plan else None,
            "cutoff_s": self.plan.chain.cutoff_s if self.plan else None,
            "share": self.share,
            "pairs": self.pairs,
            "wanted_pairs": self.wanted_pairs,
            "mean_fidelity": num(self.fidelity_mean),
            "fidelity_std": num(self.fidelity_std),
            "fidelity_p5_p50_p95": [num(q) for q in self.fidelity_quantiles],
            "min_fidelity": self.request.min_fidelity,
            "latency_s": num(self.latency_s),
            "completion_s": num(self.completion_s),
            "pairs_extrapolated": self.extrapolated,
            "met": self.met,
            "unmet_reason": self.unmet,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EntanglementRun:
    """Every request's result and every memory node's occupancy.

    Attributes:
        requests: per request, in the scenario's order.
        occupancy: per node, the time-averaged fraction of its qubits reserved.
        scheduler: how the requests shared the nodes' time.
        slot_s: the slots' length under the slot scheduler, else None.
    """

    requests: tuple[RequestResult, ...]
    occupancy: Mapping[str, float] = field(default_factory=dict)
    scheduler: Scheduler = Scheduler.TIME_SHARE
    slot_s: float | None = None

    def result(self, request_id: str) -> RequestResult:
        """The result of ``request_id``."""
        return next(r for r in self.requests if r.request.id == request_id)

    def rows(self) -> tuple[dict[str, Any], ...]:
        """The ``summary.json`` entries of the requests; under the slot scheduler each says so, with the slots'
        length and the rounds their ends discarded."""
        rows = tuple(r.to_dict() for r in self.requests)
        if self.scheduler is Scheduler.SLOTS:
            for row, got in zip(rows, self.requests, strict=True):
                row["scheduler"] = self.scheduler.value
                row["slot_s"] = self.slot_s
                row["discarded_rounds"] = got.discarded_rounds
        return rows


# ---------------------------------------------------------------------------------------------------
# Paths and chains


def memory_graph(links: Sequence[MemoryLinkModel]) -> nx.MultiGraph[str]:
    """The memory links as a graph (edges keyed by link id, weighted by expected time per pair)."""
    graph: nx.MultiGraph[str] = nx.MultiGraph()
    for link in links:
        graph.add_edge(link.a, link.b, key=link.id, cost=link.seconds_per_pair, model=link)
    return graph


def compile_path(
    path: Sequence[str],
    hops: Sequence[MemoryLinkModel],
    nodes: Mapping[str, QuantumNodeModel],
    *,
    purify_rounds: int = 0,
    mode: DeliveryMode = DeliveryMode.CREATE_AND_KEEP,
    cutoff_s: float | None = None,
) -> ChainModel:
    """The chain of a path: its elementary links one by one, swaps at its inner nodes, memories of its nodes.

    A chain has one swap law and one memory decay (the sampler's model): a path through unlike nodes takes the
    worst of them (the lowest swap success and swap fidelity, the memory that keeps a pair's fidelity least over
    one second, and the strongest dephasing by their own attempts when they have one communication qubit), so
    its figures are a lower bound where the nodes differ. The last swap's outcome travels half the path's fibre
    to an end node.
    """
    if len(hops) != len(path) - 1 or not hops:
        raise ParameterError("path", f"{len(path)} nodes need {len(path) - 1} links, got {len(hops)}")
    inner = [nodes[n] for n in path[1:-1]] or [nodes[path[0]]]
    swaps = [node_swap(n.preset) for n in inner]
    worst_swap = min(swaps, key=lambda s: float(np.asarray(s.success_prob)) * normalised_law(s)[0])
    on_path = [nodes[n] for n in path]
    one_second = np.array([1.0])
    worst_memory = min(
        (n.preset.node.memory for n in on_path),
        key=lambda m: float(memory_decay(m)(one_second)[1:].min()),
    )
    links = tuple(h.link for h in hops)
    sequential = any(n.communication_qubits < 2 for n in on_path)
    slowest = max(links, key=lambda lk: lk.attempt_period_s / lk.round_success_prob)
    purify = (
        PurifyStep(protocol=PurificationProtocol.DEJMPS, rounds=purify_rounds, schedule=PurificationSchedule.RECURRENCE)
        if purify_rounds > 0
        else None
    )
    return ChainModel(
        links=len(links),
        link=slowest,
        link_list=links if len(set(links)) > 1 else (),
        swap_success_prob=float(np.asarray(worst_swap.success_prob)),
        swap_error=normalised_law(worst_swap),
        decay=memory_decay(worst_memory),
        cutoff_s=cutoff_s,
        delivery_delay_s=float(fibre_delay_s(sum(h.length_km for h in hops) / 2.0)) if len(links) > 1 else 0.0,
        mode=mode,
        purify=purify,
        sequential=sequential,
        attempt_dephasing_prob=max(node_attempt_dephasing(n.preset) for n in on_path) if sequential else 0.0,
    )


def _candidate_paths(
    graph: nx.MultiGraph[str], a: str, b: str
) -> list[tuple[tuple[str, ...], tuple[MemoryLinkModel, ...]]]:
    """The cheapest simple paths from ``a`` to ``b`` (each with the cheapest of parallel links per hop)."""
    simple: nx.Graph[str] = nx.Graph()
    for u, v, data in graph.edges(data=True):
        if not simple.has_edge(u, v) or data["cost"] < simple[u][v]["cost"]:
            simple.add_edge(u, v, cost=data["cost"], model=data["model"])
    if a not in simple or b not in simple or not nx.has_path(simple, a, b):
        return []
    out = []
    for path in itertools.islice(nx.shortest_simple_paths(simple, a, b, weight="cost"), PATH_CANDIDATES):
        if len(path) - 1 > MAX_PATH_LINKS:
            break
        out.append((tuple(path), tuple(simple[u][v]["model"] for u, v in itertools.pairwise(path))))
    return out


def _pilot(chain: ChainModel, rng: np.random.Generator) -> tuple[float, float]:
    """Pairs per second and mean fidelity of ``PILOT_ROUNDS`` deliveries (0 and NaN when they never arrive)."""
    try:
        got = sample_chain(chain, PILOT_ROUNDS, rng)
    except ParameterError:
        return 0.0, math.nan
    return 1.0 / float(got.round_s.mean()), float(got.states[:, 0].mean())


def _cutoffs(request: RequestModel, hops: Sequence[MemoryLinkModel]) -> list[float | None]:
    """The cut-offs a plan tries: the request's own; else none, ``AUTO_CUTOFF_PAIRS`` times the slowest link's
    expected time per pair and ``AUTO_CUTOFF_T2`` times the shortest T2 of the links' memories (a path of one link
    waits for nothing: none)."""
    if request.cutoff_s is not None:
        return [request.cutoff_s]
    if len(hops) < 2:
        return [None]
    slowest = max(h.seconds_per_pair for h in hops)
    t2 = min(h.preset.node.memory.t2_s for h in hops)
    coherence = [k * t2 for k in AUTO_CUTOFF_T2] if math.isfinite(t2) else []
    return [None, *(k * slowest for k in AUTO_CUTOFF_PAIRS), *coherence]


def plan_request(
    request: RequestModel,
    links: Sequence[MemoryLinkModel],
    nodes: Mapping[str, QuantumNodeModel],
    rng: np.random.Generator,
) -> PathPlan | None:
    """The path, cut-off, purification and chain for ``request`` (module docstring, steps 1 and 2); None without
    a path. Without purification first, each candidate path with no cut-off and with the cut-offs of
    :data:`AUTO_CUTOFF_PAIRS` (unless the request sets its own), then with one more DEJMPS round at a time.

    When nothing reaches the minimum fidelity the plan has ``met`` False and is the one of highest fidelity.
    """
    candidates = [
        (path, hops)
        for path, hops in _candidate_paths(memory_graph(links), request.a, request.b)
        if _fits(path, nodes, purify=False)
    ]
    if not candidates:
        return None
    best: PathPlan | None = None
    for rounds in range(MAX_PURIFY_ROUNDS + 1):
        if rounds > 0 and request.mode is DeliveryMode.MEASURE_DIRECTLY:
            break  # purification needs both halves stored
        plans = []
        for path, hops in candidates:
            if rounds > 0 and not _fits(path, nodes, purify=True):
                continue  # too few qubits to hold two copies of a link
            for cutoff in _cutoffs(request, hops):
                chain = compile_path(path, hops, nodes, purify_rounds=rounds, mode=request.mode, cutoff_s=cutoff)
                rate, fid = _pilot(chain, rng)
                plans.append(
                    PathPlan(
                        nodes=path,
                        links=tuple(h.id for h in hops),
                        purify_rounds=rounds,
                        chain=chain,
                        pilot_rate_hz=rate,
                        pilot_fidelity=fid,
                        met=rate > 0.0 and fid >= request.min_fidelity,
                    )
                )
        good = [p for p in plans if p.met]
        if good:
            return max(good, key=lambda p: p.pilot_rate_hz)
        for p in plans:
            if math.isfinite(p.pilot_fidelity) and (best is None or p.pilot_fidelity > best.pilot_fidelity):
                best = p
    if best is None:  # nothing ever arrived: keep the first candidate to say so
        path, hops = candidates[0]
        chain = compile_path(path, hops, nodes, mode=request.mode, cutoff_s=request.cutoff_s)
        best = PathPlan(
            nodes=path,
            links=tuple(h.id for h in hops),
            purify_rounds=0,
            chain=chain,
            pilot_rate_hz=0.0,
            pilot_fidelity=math.nan,
            met=False,
        )
    return best


# ---------------------------------------------------------------------------------------------------
# Reservations


def _qubits_wanted(plan: PathPlan) -> dict[str, tuple[int, int]]:
    """Memory and communication qubits a plan holds at each of its nodes: (1, 1) at the ends, (2, 2) inside; with
    purification, two copies of a link's half at once (:func:`qubits_needed`)."""
    last = len(plan.nodes) - 1
    purify = plan.purify_rounds > 0
    return {
        n: (qubits_needed(inner=0 < i < last, purify=purify), 1 if i in (0, last) else 2)
        for i, n in enumerate(plan.nodes)
    }


def qubits_needed(*, inner: bool, purify: bool) -> int:
    """Memory qubits a node of a path holds at once: one half at an end, two at a node that swaps; purification
    keeps a second copy of each link's half while it purifies (recurrence: two pairs per link end)."""
    halves = 2 if inner else 1
    return 2 * halves if purify else halves


def _fits(path: Sequence[str], nodes: Mapping[str, QuantumNodeModel], *, purify: bool) -> bool:
    """Whether every node of ``path`` has the memory qubits the path needs of it."""
    last = len(path) - 1
    return all(nodes[n].qubits >= qubits_needed(inner=0 < i < last, purify=purify) for i, n in enumerate(path))


def reserve(
    plans: Sequence[PathPlan | None],
    nodes: Mapping[str, QuantumNodeModel],
    priorities: Sequence[int] | None = None,
) -> tuple[list[float], dict[str, float]]:
    """Shares of time of each plan and occupancy of each node (module docstring, step 3).

    By priority, higher first: the plans of one priority divide what the higher ones left of every node's memory
    qubits, and of its communication qubits, in proportion to what they want (max-min fair), and a plan gets the
    smallest share of its nodes, so no node is overbooked. A plan wants at most the node's communication qubits
    (a node with one makes its two links in turn: the chain models that, :attr:`ChainModel.sequential`).
    """
    levels = [1] * len(plans) if priorities is None else list(priorities)
    memory_left = {n: float(m.qubits) for n, m in nodes.items()}
    comm_left = {n: float(m.communication_qubits) for n, m in nodes.items()}
    shares = [0.0] * len(plans)
    for level in sorted(set(levels), reverse=True):
        members = [i for i, plan in enumerate(plans) if plan is not None and levels[i] == level]
        memory_load: dict[str, float] = {}
        comm_load: dict[str, float] = {}
        wants: dict[int, dict[str, tuple[float, float]]] = {}
        for i in members:
            plan = plans[i]
            assert plan is not None
            wants[i] = {
                n: (float(mem), float(min(comm, nodes[n].communication_qubits)))
                for n, (mem, comm) in _qubits_wanted(plan).items()
            }
            for n, (mem, comm) in wants[i].items():
                memory_load[n] = memory_load.get(n, 0.0) + mem
                comm_load[n] = comm_load.get(n, 0.0) + comm
        node_share = {
            n: max(0.0, min(1.0, memory_left[n] / memory_load[n], comm_left[n] / comm_load[n])) for n in memory_load
        }
        for i in members:
            shares[i] = min(node_share[n] for n in wants[i])
            for n, (mem, comm) in wants[i].items():
                memory_left[n] -= shares[i] * mem
                comm_left[n] -= shares[i] * comm
    return shares, _occupancy(plans, shares, nodes)


def _occupancy(
    plans: Sequence[PathPlan | None], shares: Sequence[float], nodes: Mapping[str, QuantumNodeModel]
) -> dict[str, float]:
    """Per node, the time-averaged fraction of its qubits the plans hold, each for its share of the time."""
    occupancy = dict.fromkeys(nodes, 0.0)
    for plan, share in zip(plans, shares, strict=True):
        if plan is None:
            continue
        for n, (mem, _) in _qubits_wanted(plan).items():
            occupancy[n] += share * mem / nodes[n].qubits
    return occupancy


# ---------------------------------------------------------------------------------------------------
# Delivery


def _wanted(request: RequestModel, horizon_s: float) -> float:
    if request.pairs is not None:
        return float(request.pairs)
    assert request.pairs_per_s is not None
    return request.pairs_per_s * horizon_s


def _batch(most: int, drawn: int, left_s: float, plan: PathPlan) -> int:
    """Rounds to draw next: what is still wanted, at most 50,000, about what fits in ``left_s`` at the pilot's rate."""
    return max(1, min(most - drawn, 50_000, math.ceil(left_s * plan.pilot_rate_hz * 1.3) + 20))


def _deliver(
    request: RequestModel, plan: PathPlan, share: float, horizon_s: float, rng: np.random.Generator
) -> RequestResult:
    """Draw the request's rounds one after the other within its share of ``horizon_s``."""
    wanted = _wanted(request, horizon_s)
    if plan.pilot_rate_hz <= 0.0 or share <= 0.0:
        return _empty(request, plan, share, wanted, "no pair arrives on the path within the run")
    busy_s = share * horizon_s  # the time the path is the request's
    most = max(1, min(math.ceil(wanted), MAX_SAMPLED_PAIRS))
    parts: list[Deliveries] = []
    done = 0
    elapsed = 0.0
    while done < most and elapsed < busy_s:  # until the count is reached or the time is up
        try:
            got = sample_chain(plan.chain, _batch(most, done, busy_s - elapsed, plan), rng)
        except ParameterError as exc:
            return _empty(request, plan, share, wanted, f"the chain cannot deliver: {exc.reason}")
        parts.append(got)
        done += len(got.round_s)
        elapsed += float(got.round_s.sum())
    round_s = np.concatenate([p.round_s for p in parts])
    states = np.concatenate([p.states for p in parts])
    ends = np.cumsum(round_s) / share  # wall-clock: the path is the request's a fraction ``share`` of the time
    if request.pairs_per_s is not None:  # a rate is served as asked: pair k no earlier than k / rate
        ends = np.maximum(ends, np.arange(1, len(ends) + 1) / request.pairs_per_s)
    extrapolated = bool(done >= MAX_SAMPLED_PAIRS and ends[-1] < horizon_s and wanted > done)
    pairs = int(min(wanted, math.floor(horizon_s / float(ends[-1] / done)))) if extrapolated else None
    return _result(request, plan, share, horizon_s, ends, states, (round_s, share), pairs)


def _slot_batch(most: int, delivered: int, drawn: int, left_s: float, plan: PathPlan) -> int:
    """Rounds to draw next under the slot scheduler: as the time-share's (:func:`_batch`) while the rounds drawn
    fill less than the request's own time; past it (rounds its slots discarded), batches that grow with the rounds
    drawn, so that discarded rounds cost few calls of the sampler."""
    size = _batch(most, delivered, left_s, plan) if left_s > 0.0 else min(most - delivered, 50_000, max(1_000, drawn))
    return max(1, min(size, MAX_SAMPLED_ROUNDS - drawn))


def _deliver_slots(
    request: RequestModel, plan: PathPlan, own: OwnSlots, horizon_s: float, rng: np.random.Generator
) -> RequestResult:
    """Draw the request's rounds in its own slots only (:mod:`.slot_schedule`).

    A pair is wanted from the previous pair's delivery (for a rate, no earlier than ``k / rate`` for the ``k``-th
    pair from 0: pairs are not made ahead, the slots' qubits are not held between them); its round starts then, or
    at the next own slot, and is discarded, and another started at the next own slot, if its stretch of own slots
    ends first. A pair's latency is the time from when it was wanted to its delivery.
    """
    share = own.fraction
    wanted = _wanted(request, horizon_s)
    if plan.pilot_rate_hz <= 0.0 or share <= 0.0:
        return _empty(request, plan, share, wanted, "no pair arrives on the path within the run")
    own_s = share * horizon_s  # the request's time: draws are sized by it, as the time-share's
    most = max(1, min(math.ceil(wanted), MAX_SAMPLED_PAIRS))
    rate = request.pairs_per_s
    ends: list[float] = []
    waits: list[float] = []
    kept: list[int] = []  # index of each delivered pair's round among the rounds drawn
    parts: list[Deliveries] = []
    buffer: list[float] = []
    drawn = used = 0
    elapsed = ready = t = 0.0
    while len(ends) < most and used < MAX_SAMPLED_ROUNDS:
        start, stop = own.stretch(t)
        if start >= horizon_s:
            break
        if not buffer:
            try:
                got = sample_chain(plan.chain, _slot_batch(most, len(ends), drawn, own_s - elapsed, plan), rng)
            except ParameterError as exc:
                return _empty(request, plan, share, wanted, f"the chain cannot deliver: {exc.reason}")
            parts.append(got)
            buffer = got.round_s[::-1].tolist()
            drawn += len(got.round_s)
            elapsed += float(got.round_s.sum())
        r = buffer.pop()
        used += 1
        if start + r <= stop:
            ends.append(start + r)
            waits.append(start - ready)
            kept.append(used - 1)
            ready = ends[-1] if rate is None else max(ends[-1], len(ends) / rate)
            t = ready
        else:
            t = stop  # the stretch of own slots ended first: the round is discarded
    if not ends:
        why = (
            f"no round finished within the request's slots ({own.slot_s:g} s; its rounds take "
            f"{1.0 / plan.pilot_rate_hz:.3g} s on average) in the run"
        )
        return replace(_empty(request, plan, share, wanted, why), discarded_rounds=used)
    round_s = np.concatenate([p.round_s for p in parts])[kept]
    states = np.concatenate([p.states for p in parts])[kept]
    times = np.array(ends)
    reached = max(t, float(times[-1]))
    capped = (len(ends) >= MAX_SAMPLED_PAIRS or used >= MAX_SAMPLED_ROUNDS) and reached < horizon_s
    extrapolated = bool(capped and wanted > len(ends))
    pairs = int(min(wanted, math.floor(horizon_s / (reached / len(ends))))) if extrapolated else None
    result = _result(request, plan, share, horizon_s, times, states, (np.array(waits) + round_s, 1.0), pairs)
    return replace(result, discarded_rounds=used - len(ends))


def _result(
    request: RequestModel,
    plan: PathPlan,
    share: float,
    horizon_s: float,
    ends: F64,
    states: F64,
    latency: tuple[F64, float],
    extrapolated_pairs: int | None,
) -> RequestResult:
    """The result of the rounds drawn: their delivery times ``ends`` (ascending), states, and latencies (per pair,
    divided by a stretch); with ``extrapolated_pairs`` the count beyond the pairs drawn."""
    wanted = _wanted(request, horizon_s)
    extrapolated = extrapolated_pairs is not None
    inside = int(np.searchsorted(ends, horizon_s, side="right"))
    limit = int(min(wanted, inside)) if not extrapolated else inside
    pairs = limit if extrapolated_pairs is None else extrapolated_pairs
    kept_states = states[:limit]
    fids = kept_states[:, 0]
    completion = float(ends[int(wanted) - 1]) if request.pairs is not None and inside >= wanted else None
    unmet = None
    if pairs < math.floor(wanted + 1e-9):
        unmet = f"{pairs} of {wanted:g} pairs delivered in time"
    if not plan.met:
        best = "none arrived" if not math.isfinite(plan.pilot_fidelity) else f"best {plan.pilot_fidelity:.3f}"
        unmet = (
            f"fidelity {request.min_fidelity:g} is above what the paths reach with up to {MAX_PURIFY_ROUNDS} "
            f"purification rounds ({best})"
        )
    if limit == 0:
        return _empty(request, plan, share, wanted, unmet or "no pair delivered in time")
    if unmet is None and float(fids.mean()) < request.min_fidelity:
        unmet = f"mean fidelity {float(fids.mean()):.4f} of the pairs delivered is below {request.min_fidelity:g}"
    return RequestResult(
        request=request,
        plan=plan,
        share=share,
        pairs=pairs,
        wanted_pairs=wanted,
        mean_state=kept_states.mean(axis=0),
        fidelity_mean=float(fids.mean()),
        fidelity_std=float(fids.std()),
        fidelity_quantiles=(
            float(np.quantile(fids, 0.05)),
            float(np.quantile(fids, 0.5)),
            float(np.quantile(fids, 0.95)),
        ),
        latency_s=float(latency[0][:limit].mean()) / latency[1],
        completion_s=completion,
        extrapolated=extrapolated,
        unmet=unmet,
        delivered_s=ends[:limit].copy(),
        delivered_states=kept_states.copy(),
    )


def _empty(request: RequestModel, plan: PathPlan | None, share: float, wanted: float, why: str) -> RequestResult:
    nan = math.nan
    return RequestResult(
        request=request,
        plan=plan,
        share=share,
        pairs=0,
        wanted_pairs=wanted,
        mean_state=np.full(4, 0.25),
        fidelity_mean=nan,
        fidelity_std=nan,
        fidelity_quantiles=(nan, nan, nan),
        latency_s=nan,
        completion_s=None,
        extrapolated=False,
        unmet=why,
    )


def run_requests(
    requests: Sequence[RequestModel],
    links: Sequence[MemoryLinkModel],
    nodes: Mapping[str, QuantumNodeModel],
    *,
    duration_s: float,
    seed: int,
    scheduler: Scheduler = Scheduler.TIME_SHARE,
    slot_s: float | None = None,
) -> EntanglementRun:
    """Serve ``requests`` over the memory network for ``duration_s`` (module docstring).

    Args:
        requests: the requests, in the scenario's order.
        links: the memory links.
        nodes: the memory nodes by id.
        duration_s: the run's length (a request's deadline, if earlier, ends it).
        seed: the scenario's seed; each request draws from the stream ``entanglement:<id>``.
        scheduler: how requests through a node share its time: in proportion (time-share), or in whole slots of
            a network schedule (:mod:`.slot_schedule`).
        slot_s: the slots' length, with ``Scheduler.SLOTS``.

    Raises:
        ParameterError: ``slot_s`` missing or not positive with the slot scheduler.
    """
    if scheduler is Scheduler.SLOTS and slot_s is None:
        raise ParameterError("slot_s", "the slot scheduler needs a slot length")
    rngs = [np.random.default_rng(stream_seed_sequence(seed, f"entanglement:{r.id}")) for r in requests]
    plans = [plan_request(r, links, nodes, rng) for r, rng in zip(requests, rngs, strict=True)]
    priorities = [r.priority for r in requests]
    shares, occupancy = reserve(plans, nodes, priorities)
    schedule = None
    if scheduler is Scheduler.SLOTS:
        assert slot_s is not None
        schedule = build_schedule(
            shares,
            [None if plan is None else _qubits_wanted(plan) for plan in plans],
            {n: (m.qubits, m.communication_qubits) for n, m in nodes.items()},
            slot_s=slot_s,
            priorities=priorities,
        )
        shares = [float(row.mean()) for row in schedule.owners]
        occupancy = _occupancy(plans, shares, nodes)
    results = []
    for i, (request, plan, rng) in enumerate(zip(requests, plans, rngs, strict=True)):
        horizon = duration_s if request.deadline_s is None else min(duration_s, request.deadline_s)
        if plan is None:
            results.append(
                _empty(
                    request,
                    None,
                    0.0,
                    _wanted(request, horizon),
                    f"no memory path joins {request.a!r} and {request.b!r} through nodes with the qubits a swap needs",
                )
            )
        elif schedule is not None:
            results.append(_deliver_slots(request, plan, schedule.own(i), horizon, rng))
        else:
            results.append(_deliver(request, plan, shares[i], horizon, rng))
    return EntanglementRun(requests=tuple(results), occupancy=occupancy, scheduler=scheduler, slot_s=slot_s)
