"""Plan a trusted-node QKD network at least cost: which candidate links to build and where to put trusted relays
so that every demand gets its key rate (``qinternet plan``).

**Input** (a planning file, :class:`PlanFile`; docs/planning.md): the sites (coordinates; whether a trusted relay
may stand there, at what cost), the candidate fibre links between them (any field of a scenario's fibre link, a
build cost, a length or the great circle times a route factor), satellites (sites with an orbit) and candidate
free-space links from a satellite to a ground site (any field of a scenario's free-space link, a build cost), and the
demands (two ground sites, a key rate in bit/s averaged over ``options.duration_s``).

**Capacities.** A candidate link's capacity is its secret key rate from the model ``qinternet run`` uses: the
link is built by the run's own engine (:func:`qinternet.network.links.build.build_links`: the finite-key rate of
a block of expected counts at the tuned settings, Lim et al., PRA 89, 022307 (2014)), so that the run of the
planned scenario makes exactly that key (``model: analytic``, a run of whole blocks). A satellite link makes key
only during its passes: its capacity is the key of its passes over ``options.duration_s`` from ``options.start``
(:mod:`.links.free_space`, one finite-key block per pass) per second, and the scenario is given that start and
duration; pools carry key between passes, and a demand is met when all its key has arrived by the run's end.
A share ``headroom`` of a capacity is kept spare (default 10 %): the run's relay routes greedily (widest paths,
max-min fair, :mod:`.relay`), not by the plan's flows.

**Formulation**: the path-based integer linear program of Rabbie, Chakraborty, Avis and Wehner, "Designing
quantum networks using preexisting infrastructure", npj Quantum Inf. 8, 5 (2022) (Methods, path-based
formulation): binary placement variables for the nodes, one variable per candidate path of every source-destination
pair, and linking constraints that let a path pass through a node only where a node is placed. Their elementary
links are entanglement links of bounded length and their objective counts repeaters; here the inner nodes are
trusted relays (Peev et al., NJP 11, 075001 (2009): relaying ``b`` bits takes ``b`` bits of every hop's key,
:func:`.routing.relay_cost`), the links are built at a cost too (the fixed-charge multicommodity network design
of Magnanti and Wong, Transportation Science 18, 1 (1984)), and a link's capacity is its key rate, shared by all
the demands crossing it. With ``x_e`` (build link ``e``), ``y_n`` (a relay at site ``n``), ``φ_dp`` (the share
of demand ``d``'s rate ``R_d`` carried on its path ``p``; paths of at most ``max_hops`` links whose inner sites may
hold a relay)::

    minimise    Σ_e c_e x_e + Σ_n r_n y_n
    subject to  Σ_p φ_dp = 1                                  for every demand d      (every demand met)
                Σ_{d,p∋e} R_d φ_dp ≤ (1 - headroom) K_e x_e   for every link e        (key rate of a built link)
                Σ_{p∋e} φ_dp ≤ x_e                             for every d and e       (only built links carry key)
                Σ_{p: n inner} φ_dp ≤ y_n                      for every d and n       (only relays pass key on)
                x_e, y_n ∈ {0, 1},  φ_dp ≥ 0

The third family follows from the second where ``x_e`` is whole; it tightens the linear relaxation (the strong
formulation of Magnanti and Wong). Solved by HiGHS through :func:`scipy.optimize.milp`.

**Output**: a scenario (:class:`PlannedNetwork.scenario`) that ``qinternet run`` runs: the demand ends as users
(``trusted: true`` where a relay stands), the other relays as trusted relays, satellites and the ground ends of
built satellite links as satellites and ground stations (trusted where a relay is placed), the built links with
the planning file's fields, and the demands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self, Union

import numpy as np
from pydantic import Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from qinternet.network.links.build import build_links
from qinternet.network.links.fibre import FibreLinkSpec
from qinternet.network.links.free_space import FreeSpaceLinkSpec
from qinternet.network.published import great_circle_km
from qinternet.network.schema import (
    OrbitSpec,
    Scenario,
    ScenarioError,
    TimeSpec,
    in_utc,
    load_model,
    load_scenario,
    read_scenario_file,
)
from qinternet.network.schema_base import Identifier, LinkKind, Model, Seconds

__all__ = [
    "MAX_PATHS",
    "AnyCandidateLinkSpec",
    "CandidateFreeSpaceLinkSpec",
    "CandidateLinkSpec",
    "DemandRoute",
    "PlanDemandSpec",
    "PlanFile",
    "PlanOptions",
    "PlanProblem",
    "PlanSolution",
    "PlannedLink",
    "PlannedNetwork",
    "ProblemLink",
    "SiteSpec",
    "builtin_plan_names",
    "candidate_rates_bps",
    "load_plan",
    "plan_network",
    "resolve_plan",
    "scenario_yaml",
    "solve_plan",
]

MAX_PATHS = 50_000
"""Most candidate paths over all demands (one variable each)."""
_SEARCH_STEPS = 20 * MAX_PATHS
"""Most partial paths the search for candidate paths extends (most of them lead nowhere in a dense graph)."""

_PACKAGE = "qinternet.network.plans"


# ---------------------------------------------------------------------------------------------------
# The planning file


class SiteSpec(Model):
    """A place where users are or a trusted relay may stand, or a satellite (a site with an ``orbit``).

    Attributes:
        id: unique name.
        name: a human-readable label (default: the id).
        lat_deg, lon_deg: position (ground sites only).
        altitude_m: height above the ellipsoid (ground sites; it matters to a ground station's passes).
        orbit: a satellite's orbit, as a scenario's satellite node gives it (then no ``lat_deg``, ``lon_deg``).
        relay: whether a trusted relay may stand here (a satellite: whether key may be relayed through it).
        relay_cost: cost of a trusted relay here (default: ``options.relay_cost``; 0 for one that exists).
    """

    id: Identifier
    name: str | None = None
    lat_deg: Annotated[float, Field(ge=-90.0, le=90.0)] | None = None
    lon_deg: Annotated[float, Field(ge=-180.0, le=180.0)] | None = None
    altitude_m: Annotated[float, Field(ge=-500.0, le=9000.0)] = 0.0
    orbit: OrbitSpec | None = None
    relay: bool = True
    relay_cost: Annotated[float, Field(ge=0.0, le=1e15)] | None = None

    @model_validator(mode="after")
    def _position(self) -> Self:
        if self.orbit is not None:
            if self.lat_deg is not None or self.lon_deg is not None or "altitude_m" in self.model_fields_set:
                raise PydanticCustomError(
                    "site", "a satellite (a site with an orbit) has no lat_deg, lon_deg or altitude_m"
                )
        elif self.lat_deg is None or self.lon_deg is None:
            raise PydanticCustomError("site", "needs lat_deg and lon_deg (or an orbit: a satellite)")
        return self

    @property
    def satellite(self) -> bool:
        """Whether the site is a satellite."""
        return self.orbit is not None


class CandidateLinkSpec(FibreLinkSpec):
    """A fibre link that may be built: every field of a scenario's fibre link, its cost, and a length that may be
    left out (then the great circle between its sites times ``options.route_factor``).

    Attributes:
        cost: cost of building it (default: ``options.link_cost_fixed + options.link_cost_per_km * length_km``).
    """

    length_km: Annotated[float, Field(gt=0.0, le=1000.0)] | None = None  # type: ignore[assignment]
    cost: Annotated[float, Field(ge=0.0, le=1e15)] | None = None


class CandidateFreeSpaceLinkSpec(FreeSpaceLinkSpec):
    """A satellite-to-ground downlink that may be built (``kind: free-space``): every field of a scenario's
    free-space link (its ``free_space`` optics, devices, ...) between a satellite site and a ground site, and its
    cost (a ground station's telescope and receiver).

    Attributes:
        cost: cost of building it (default: ``options.link_cost_fixed``).
    """

    cost: Annotated[float, Field(ge=0.0, le=1e15)] | None = None


_CANDIDATE_KINDS = (LinkKind.FIBRE, LinkKind.FREE_SPACE)


def _candidate_kind(value: object) -> str | None:
    """The ``kind`` of a candidate link entry (``fibre`` when it names none); None for a kind the planner does not
    build (an error naming the kinds it does)."""
    if isinstance(value, FibreLinkSpec | FreeSpaceLinkSpec):
        return value.kind.value
    kind = value.get("kind", LinkKind.FIBRE.value) if isinstance(value, dict) else LinkKind.FIBRE.value
    return kind if kind in {k.value for k in _CANDIDATE_KINDS} else None


if TYPE_CHECKING:
    AnyCandidateLinkSpec = CandidateLinkSpec | CandidateFreeSpaceLinkSpec
else:
    AnyCandidateLinkSpec = Annotated[
        Union[  # noqa: UP007
            Annotated[CandidateLinkSpec, Tag(LinkKind.FIBRE.value)],
            Annotated[CandidateFreeSpaceLinkSpec, Tag(LinkKind.FREE_SPACE.value)],
        ],
        Discriminator(
            _candidate_kind,
            custom_error_type="plan",
            custom_error_message="the planner builds fibre links and satellite links (kind: free-space) only",
        ),
    ]
"""A candidate link: fibre (the default kind) or a satellite's free-space downlink."""


class PlanDemandSpec(Model):
    """Key wanted between two sites.

    Attributes:
        id: unique name.
        a, b: the two sites (users in the planned scenario).
        rate_bps: key wanted per second, all the time.
    """

    id: Identifier
    a: Identifier
    b: Identifier
    rate_bps: Annotated[float, Field(gt=0.0, le=1e12)]

    @model_validator(mode="after")
    def _two_ends(self) -> Self:
        if self.a == self.b:
            raise PydanticCustomError("demand", "joins site {site} to itself", {"site": self.a})
        return self


class PlanOptions(Model):
    """How to plan.

    Attributes:
        relay_cost: cost of a trusted relay where a site does not give its own.
        link_cost_fixed, link_cost_per_km: cost of a candidate link that does not give its own: fixed plus per
            kilometre of fibre.
        route_factor: fibre length over the great circle, for candidates without ``length_km`` (deployed routes
            follow roads and railways).
        max_hops: most links on a demand's path.
        headroom: share of each link's key rate kept spare.
        duration_s, step_s: the planned scenario's ``time`` (the duration a whole number of every fibre link's
            blocks). A satellite link's capacity is its key over this duration (passes), per second.
        start: UTC start of the planned scenario (the satellites' passes depend on it; written to the scenario when
            the plan has a satellite or sets it).
        seed: the planned scenario's seed.
        time_limit_s: most time the solver may take.
    """

    relay_cost: Annotated[float, Field(ge=0.0, le=1e15)] = 1.0
    link_cost_fixed: Annotated[float, Field(ge=0.0, le=1e15)] = 1.0
    link_cost_per_km: Annotated[float, Field(ge=0.0, le=1e12)] = 0.0
    route_factor: Annotated[float, Field(ge=1.0, le=10.0)] = 1.3
    max_hops: Annotated[int, Field(ge=1, le=20)] = 6
    headroom: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    duration_s: Annotated[Seconds, Field(gt=0.0, le=86400.0 * 366)] = 3600.0
    step_s: Annotated[Seconds, Field(gt=0.0, le=86400.0)] = 60.0
    start: datetime = TimeSpec.model_fields["start"].default
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 1
    time_limit_s: Annotated[Seconds, Field(gt=0.0, le=86400.0)] = 60.0

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return in_utc(value)


class PlanFile(Model):
    """A whole planning file."""

    name: Identifier
    description: str = ""
    sources: tuple[str, ...] = ()
    options: PlanOptions = PlanOptions()
    sites: Annotated[tuple[SiteSpec, ...], Field(min_length=2)]
    candidate_links: Annotated[tuple[AnyCandidateLinkSpec, ...], Field(min_length=1)]
    demands: Annotated[tuple[PlanDemandSpec, ...], Field(min_length=1)]


def _cross_check(plan: PlanFile) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    for section, ids in (
        ("sites", [s.id for s in plan.sites]),
        ("candidate_links", [c.id for c in plan.candidate_links]),
        ("demands", [d.id for d in plan.demands]),
    ):
        seen: dict[str, int] = {}
        for i, item in enumerate(ids):
            if item in seen:
                errors.append((f"{section}[{i}].id", f"duplicate id {item!r} (also {section}[{seen[item]}])"))
            seen.setdefault(item, i)
    sites = {s.id for s in plan.sites}
    ends = [(f"candidate_links[{i}]", c.a, c.b) for i, c in enumerate(plan.candidate_links)]
    ends += [(f"demands[{i}]", d.a, d.b) for i, d in enumerate(plan.demands)]
    for where, a, b in ends:
        unknown = [(end, site) for end, site in (("a", a), ("b", b)) if site not in sites]
        errors.extend((f"{where}.{end}", f"unknown site {site!r}") for end, site in unknown)
    errors += _satellite_errors(plan)
    duration = plan.options.duration_s
    if plan.options.step_s > duration:
        errors.append(("options.step_s", f"is longer than options.duration_s ({duration:g} s)"))
    uneven = sorted(
        {
            link.block_s
            for link in plan.candidate_links
            if isinstance(link, FibreLinkSpec)
            and ((blocks := duration / link.block_s) < 1.0 - 1e-9 or abs(blocks - round(blocks)) > 1e-9 * blocks)
        }
    )
    if uneven:
        errors.append(
            (
                "options.duration_s",
                f"{duration:g} s is not a whole number of the candidate links' blocks (block_s "
                f"{', '.join(f'{b:g}' for b in uneven)} s): the run would end inside a block, before its key arrives",
            )
        )
    return errors


def _satellite_errors(plan: PlanFile) -> list[tuple[str, str]]:
    """A free-space candidate joins a satellite site and a ground site; a fibre candidate and a demand join ground
    sites only."""
    satellites = {s.id for s in plan.sites if s.satellite}
    errors: list[tuple[str, str]] = []
    for i, link in enumerate(plan.candidate_links):
        on_satellite = [end for end in (link.a, link.b) if end in satellites]
        if isinstance(link, FreeSpaceLinkSpec) and len(on_satellite) != 1:
            errors.append(
                (
                    f"candidate_links[{i}]",
                    "a free-space link joins a satellite site (one with an orbit) and a ground site",
                )
            )
        elif isinstance(link, FibreLinkSpec) and on_satellite:
            errors.append(
                (f"candidate_links[{i}].kind", f"satellite {on_satellite[0]!r} is reached by a free-space link only")
            )
    for i, demand in enumerate(plan.demands):
        errors.extend(
            (f"demands[{i}].{end}", f"{site!r} is a satellite; demands join ground sites (the satellite relays)")
            for end, site in (("a", demand.a), ("b", demand.b))
            if site in satellites
        )
    return errors


def load_plan(source: str | Path | dict[str, Any]) -> PlanFile:
    """Read and validate a planning file from a YAML file, YAML text, or a parsed mapping.

    Raises:
        ScenarioError: with every problem found, each naming its path in the file (``candidate_links[2].cost``).
    """
    return load_model(PlanFile, source, shape="sites, candidate_links and demands", cross_check=_cross_check)


def builtin_plan_names() -> list[str]:
    """Names of the planning files shipped with qinternet, sorted."""
    entries = resources.files(_PACKAGE).iterdir()
    return sorted(entry.name.removesuffix(".yaml") for entry in entries if entry.name.endswith(".yaml"))


def resolve_plan(name_or_path: str) -> PlanFile:
    """A built-in planning file by name, or a YAML file by path.

    Raises:
        ScenarioError: ``("plan", reason)`` when it cannot be found or read; else the file's own errors.
    """
    path = Path(name_or_path)
    if name_or_path in builtin_plan_names() and not path.exists():
        return load_plan(resources.files(_PACKAGE).joinpath(f"{name_or_path}.yaml").read_text())
    if path.suffix.lower() in {".yaml", ".yml"} or path.exists():
        try:
            text = read_scenario_file(path)
        except ScenarioError as exc:
            raise ScenarioError([("plan", f"{name_or_path!r} {reason}") for _, reason in exc.errors]) from None
        return load_plan(text)
    known = ", ".join(builtin_plan_names())
    raise ScenarioError([("plan", f"{name_or_path!r} is neither a built-in planning file ({known}) nor a YAML file")])


# ---------------------------------------------------------------------------------------------------
# The integer program, on plain data


@dataclass(frozen=True, slots=True, kw_only=True)
class ProblemLink:
    """A candidate link of :class:`PlanProblem`: its ends, the key rate it may carry (bit/s) and its cost."""

    id: str
    a: str
    b: str
    capacity_bps: float
    cost: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanProblem:
    """The planning problem as plain data (the units of cost are the user's).

    Attributes:
        relay_cost: per site where a relay may stand, its cost (other sites pass no key on).
        links: the candidate links (``capacity_bps``: what may be used, headroom already taken off).
        demands: ``(a, b, rate_bps)`` of every demand, in the file's order.
        max_hops: most links on a path.
        time_limit_s: most time the solver may take.
    """

    relay_cost: dict[str, float]
    links: tuple[ProblemLink, ...]
    demands: tuple[tuple[str, str, float], ...]
    max_hops: int
    time_limit_s: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DemandRoute:
    """How a demand's rate is carried: ``(link ids from a to b, bit/s)`` per path, most first."""

    demand: int
    paths: tuple[tuple[tuple[str, ...], float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSolution:
    """The cheapest plan.

    Attributes:
        links: indices of the links to build, in the candidates' order.
        relays: the sites that get a trusted relay, in the order of ``relay_cost``.
        cost: total cost.
        routes: per demand, its flows.
        optimal: whether the solver proved it the cheapest (else it stopped at its time limit).
    """

    links: tuple[int, ...]
    relays: tuple[str, ...]
    cost: float
    routes: tuple[DemandRoute, ...]
    optimal: bool


def _candidate_paths(problem: PlanProblem) -> list[list[tuple[int, ...]]]:
    """Per demand, every simple path of at most ``max_hops`` links with capacity whose inner sites may hold a relay
    (link indices from ``a`` to ``b``; depth first, links in index order)."""
    adjacent: dict[str, list[tuple[str, int]]] = {}
    for index, link in enumerate(problem.links):
        if link.capacity_bps > 0.0:
            adjacent.setdefault(link.a, []).append((link.b, index))
            adjacent.setdefault(link.b, []).append((link.a, index))
    every: list[list[tuple[int, ...]]] = []
    budget = _SEARCH_STEPS  # partial paths the search may extend, over all demands
    total = 0
    for a, b, _ in problem.demands:
        found: list[tuple[int, ...]] = []
        stack: list[tuple[str, tuple[int, ...], frozenset[str]]] = [(a, (), frozenset({a}))]
        while stack:
            node, links, seen = stack.pop()
            budget -= 1
            if total + len(found) > MAX_PATHS or budget < 0:
                raise ScenarioError(
                    [("options.max_hops", f"gives more than {MAX_PATHS:,} candidate paths for the demands; lower it")]
                )
            if node != a and node not in problem.relay_cost:
                continue  # it may not pass key on
            for neighbour, index in reversed(adjacent.get(node, [])):
                if neighbour == b:
                    found.append((*links, index))
                elif neighbour not in seen and len(links) + 1 < problem.max_hops:
                    stack.append((neighbour, (*links, index), seen | {neighbour}))
        total += len(found)
        every.append(sorted(found, key=lambda p: (len(p), p)))
    return every


def _inner(problem: PlanProblem, a: str, path: tuple[int, ...]) -> list[str]:
    """The sites a path from ``a`` passes through (its ends left out)."""
    nodes = [a]
    for index in path:
        link = problem.links[index]
        nodes.append(link.b if nodes[-1] == link.a else link.a)
    return nodes[1:-1]


class _Rows:
    """Sparse rows ``lb <= A v <= ub`` built one at a time."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.values: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, terms: dict[int, float], lower: float, upper: float) -> None:
        row = len(self.lower)
        for col, value in terms.items():
            self.rows.append(row)
            self.cols.append(col)
            self.values.append(value)
        self.lower.append(lower)
        self.upper.append(upper)

    def constraint(self, columns: int) -> LinearConstraint:
        matrix = coo_array((self.values, (self.rows, self.cols)), shape=(len(self.lower), columns)).tocsr()
        return LinearConstraint(matrix, np.array(self.lower), np.array(self.upper))


def solve_plan(problem: PlanProblem) -> PlanSolution:
    """The cheapest links and relays that carry every demand (the program of the module docstring).

    Raises:
        ScenarioError: ``demands[k]`` when no plan exists, naming the first demand that cannot be met (alone, or
            with the demands before it); ``options.max_hops`` when the paths are too many;
            ``options.time_limit_s`` when the solver found no plan in its time.
    """
    paths = _candidate_paths(problem)
    sites = list(problem.relay_cost)
    n_links, n_sites = len(problem.links), len(sites)
    site_col = {site: n_links + k for k, site in enumerate(sites)}
    first = n_links + n_sites
    columns = first + sum(len(p) for p in paths)
    rows = _Rows()
    owner: list[tuple[int, tuple[int, ...]]] = []  # (demand, path) of every flow column
    load: dict[int, dict[int, float]] = {}  # link -> {flow column: bit/s per share}
    for d, ((a, _, rate), found) in enumerate(zip(problem.demands, paths, strict=True)):
        if not found:
            raise _unmet(problem, paths)
        on_link: dict[int, dict[int, float]] = {}
        through: dict[str, dict[int, float]] = {}
        for path in found:
            col = first + len(owner)
            owner.append((d, path))
            for index in path:
                on_link.setdefault(index, {})[col] = 1.0
                load.setdefault(index, {})[col] = rate / problem.links[index].capacity_bps
            for site in _inner(problem, a, path):
                through.setdefault(site, {})[col] = 1.0
        rows.add({first + len(owner) - len(found) + k: 1.0 for k in range(len(found))}, 1.0, 1.0)
        for index, terms in on_link.items():
            rows.add({**terms, index: -1.0}, -np.inf, 0.0)
        for site, terms in through.items():
            rows.add({**terms, site_col[site]: -1.0}, -np.inf, 0.0)
    for index, terms in load.items():
        rows.add({**terms, index: -1.0}, -np.inf, 0.0)
    cost = np.zeros(columns)
    cost[:n_links] = [link.cost for link in problem.links]
    cost[n_links:first] = [problem.relay_cost[site] for site in sites]
    integrality = np.zeros(columns)
    integrality[:first] = 1
    upper = np.full(columns, np.inf)
    upper[:first] = 1.0
    result = milp(
        cost,
        constraints=rows.constraint(columns),
        integrality=integrality,
        bounds=Bounds(np.zeros(columns), upper),
        options={"time_limit": problem.time_limit_s, "mip_rel_gap": 1e-9},
    )
    if result.status == 2:
        raise _unmet(problem, paths)
    if result.x is None:
        raise ScenarioError(
            [("options.time_limit_s", f"the solver found no plan in {problem.time_limit_s:g} s ({result.message})")]
        )
    x = result.x
    routes = []
    for d in range(len(problem.demands)):
        rate = problem.demands[d][2]
        flows = [
            (tuple(problem.links[i].id for i in path), float(x[first + k]) * rate)
            for k, (owner_d, path) in enumerate(owner)
            if owner_d == d and x[first + k] > 1e-9
        ]
        routes.append(DemandRoute(demand=d, paths=tuple(sorted(flows, key=lambda f: -f[1]))))
    return PlanSolution(
        links=tuple(i for i in range(n_links) if x[i] > 0.5),
        relays=tuple(site for site in sites if x[site_col[site]] > 0.5),
        cost=float(cost[:first] @ np.round(x[:first])),
        routes=tuple(routes),
        optimal=result.status == 0,
    )


def _most_share(problem: PlanProblem, paths: list[list[tuple[int, ...]]], demands: Sequence[int]) -> float:
    """The largest share ``t`` of every demand in ``demands`` that all links and relays built could carry at
    once (a linear program: the flows of the module docstring scaled by ``t``)."""
    cols: list[tuple[int, tuple[int, ...]]] = [(d, p) for d in demands for p in paths[d]]
    t = len(cols)
    rows = _Rows()
    for d in demands:
        rows.add({**{k: 1.0 for k, (dd, _) in enumerate(cols) if dd == d}, t: -1.0}, 0.0, 0.0)
    load: dict[int, dict[int, float]] = {}
    for k, (d, path) in enumerate(cols):
        for index in path:
            load.setdefault(index, {})[k] = problem.demands[d][2] / problem.links[index].capacity_bps
    for terms in load.values():
        rows.add(terms, -np.inf, 1.0)
    objective = np.zeros(t + 1)
    objective[t] = -1.0
    result = milp(objective, constraints=rows.constraint(t + 1), bounds=Bounds(np.zeros(t + 1), np.full(t + 1, 2.0)))
    return float(result.x[t]) if result.x is not None else 0.0


def _unmet(problem: PlanProblem, paths: list[list[tuple[int, ...]]]) -> ScenarioError:
    """Which demand makes the plan impossible, and why."""
    for d, (a, b, rate) in enumerate(problem.demands):
        if not paths[d]:
            return ScenarioError(
                [
                    (
                        f"demands[{d}]",
                        f"no chain of at most {problem.max_hops} candidate links that make key, through sites where "
                        f"a relay may stand, joins {a!r} and {b!r}",
                    )
                ]
            )
        share = _most_share(problem, paths, [d])
        if share < 1.0 - 1e-9:
            return ScenarioError(
                [
                    (
                        f"demands[{d}]",
                        f"wants {rate:.4g} bit/s between {a!r} and {b!r}; with every candidate link and relay built "
                        f"at most {share * rate:.4g} bit/s reach it",
                    )
                ]
            )
    for d in range(1, len(problem.demands)):
        if _most_share(problem, paths, list(range(d + 1))) < 1.0 - 1e-9:
            return ScenarioError(
                [
                    (
                        f"demands[{d}]",
                        f"cannot be met together with the demands before it: the candidate links shared with them "
                        f"make too little key for all (demands[0] to demands[{d}])",
                    )
                ]
            )
    return ScenarioError([("demands", "cannot all be met (the solver found no plan)")])


# ---------------------------------------------------------------------------------------------------
# From a planning file to a scenario


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedLink:
    """A link the plan builds.

    Attributes:
        id, a, b: as in the planning file.
        length_km: its fibre (None: a satellite's free-space link).
        rate_bps: its secret key rate (the run's analytic model; a satellite link's: its passes' key over the
            planned duration, per second).
        load_bps: the key the plan's flows take from it.
        cost: its cost.
    """

    id: str
    a: str
    b: str
    length_km: float | None
    rate_bps: float
    load_bps: float
    cost: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedNetwork:
    """What :func:`plan_network` returns.

    Attributes:
        plan: the planning file.
        scenario: the planned network, ready for :func:`qinternet.run_scenario`.
        scenario_data: the same as the mapping of its YAML.
        links: the links built; relays: ``(site, cost)`` of the trusted relays placed.
        routes: per demand, its paths and the bit/s each carries in the plan.
        cost: total cost.
        optimal: whether the solver proved it the cheapest.
        rates_bps: per candidate link, its key rate (bit/s).
    """

    plan: PlanFile
    scenario: Scenario
    scenario_data: dict[str, Any]
    links: tuple[PlannedLink, ...]
    relays: tuple[tuple[str, float], ...]
    routes: tuple[DemandRoute, ...]
    cost: float
    optimal: bool
    rates_bps: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (``qinternet plan --json``)."""
        return {
            "plan": self.plan.name,
            "cost": self.cost,
            "optimal": self.optimal,
            "links": [
                {
                    "id": link.id,
                    "a": link.a,
                    "b": link.b,
                    "length_km": link.length_km,
                    "rate_bps": link.rate_bps,
                    "load_bps": link.load_bps,
                    "cost": link.cost,
                }
                for link in self.links
            ],
            "relays": [{"site": site, "cost": cost} for site, cost in self.relays],
            "demands": [
                {
                    "id": demand.id,
                    "a": demand.a,
                    "b": demand.b,
                    "rate_bps": demand.rate_bps,
                    "paths": [{"links": list(links), "rate_bps": rate} for links, rate in route.paths],
                }
                for demand, route in zip(self.plan.demands, self.routes, strict=True)
            ],
            "candidates": [
                {"id": candidate.id, "rate_bps": rate}
                for candidate, rate in zip(self.plan.candidate_links, self.rates_bps, strict=True)
            ],
            "scenario": self.scenario_data,
        }


def _length_km(plan: PlanFile, link: AnyCandidateLinkSpec) -> float | None:
    """A fibre candidate's length (given, or the great circle times the route factor); None for a satellite's."""
    if not isinstance(link, CandidateLinkSpec):
        return None
    if link.length_km is not None:
        return link.length_km
    by_id = {site.id: site for site in plan.sites}
    a, b = by_id[link.a], by_id[link.b]
    ends = (a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg)  # ground sites (a fibre link reaches no satellite)
    if any(value is None for value in ends):
        raise ScenarioError(
            [(f"candidate_links[{plan.candidate_links.index(link)}]", "joins a site without a position")]
        )
    return round(great_circle_km(*ends) * plan.options.route_factor, 3)  # type: ignore[arg-type]


def _link_data(plan: PlanFile, link: AnyCandidateLinkSpec) -> dict[str, Any]:
    """The candidate as a scenario's link (its own fields; a fibre link's length)."""
    data = link.model_dump(mode="json", exclude_defaults=True, exclude={"cost", "length_km"})
    length = _length_km(plan, link)
    head: dict[str, Any] = {"id": link.id, "a": link.a, "b": link.b}
    if length is not None:
        head["length_km"] = length
    if isinstance(link, FreeSpaceLinkSpec):
        head["kind"] = link.kind.value
    return head | data


def _cost(plan: PlanFile, link: AnyCandidateLinkSpec) -> float:
    """A candidate's cost: its own, else ``link_cost_fixed`` plus, for fibre, ``link_cost_per_km`` per km."""
    if link.cost is not None:
        return link.cost
    length = _length_km(plan, link)
    per_km = 0.0 if length is None else plan.options.link_cost_per_km * length
    return plan.options.link_cost_fixed + per_km


def _renamed(exc: ScenarioError) -> ScenarioError:
    """A scenario error about the candidates' scenario, with the planning file's paths."""
    names = {"links": "candidate_links", "nodes": "sites"}
    errors = []
    for path, reason in exc.errors:
        head = path.split("[", 1)[0]
        errors.append((names.get(head, head) + path[len(head) :], reason))
    return ScenarioError(errors)


def _scenario_data(plan: PlanFile, nodes: list[dict[str, Any]], links: list[dict[str, Any]]) -> dict[str, Any]:
    options = plan.options
    time: dict[str, Any] = {"duration_s": options.duration_s, "step_s": options.step_s}
    if "start" in options.model_fields_set or any(site.satellite for site in plan.sites):
        time = {"start": options.start.isoformat().replace("+00:00", "Z"), **time}
    return {
        "name": plan.name,
        "description": plan.description,
        "sources": list(plan.sources),
        "seed": options.seed,
        "time": time,
        "nodes": nodes,
        "links": links,
        "demands": [{"id": d.id, "a": d.a, "b": d.b, "rate_bps": d.rate_bps} for d in plan.demands],
    }


def _site_data(site: SiteSpec, kind: str, trusted: bool | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": site.id, "kind": kind}
    if site.name is not None:
        data["name"] = site.name
    if site.orbit is not None:
        data["orbit"] = site.orbit.model_dump(mode="json", exclude_defaults=True)
    else:
        data |= {"lat_deg": site.lat_deg, "lon_deg": site.lon_deg}
        if site.altitude_m != 0.0:
            data["altitude_m"] = site.altitude_m
    if trusted is not None:
        data["trusted"] = trusted
    return data


def _ground_stations(links: Sequence[AnyCandidateLinkSpec], plan: PlanFile) -> set[str]:
    """The ground sites of the satellite links among ``links`` (ground stations in the scenario)."""
    satellites = {site.id for site in plan.sites if site.satellite}
    return {end for link in links if isinstance(link, FreeSpaceLinkSpec) for end in (link.a, link.b)} - satellites


def _node_kind(site: SiteSpec, stations: set[str], ground: str) -> str:
    """The scenario's node kind of a site: satellite, ground station (an end of a satellite link), else ``ground``."""
    if site.satellite:
        return "satellite"
    return "ground-station" if site.id in stations else ground


def candidate_rates_bps(plan: PlanFile) -> tuple[float, ...]:
    """Every candidate link's secret key rate (bit/s), from the engines ``qinternet run`` builds (a satellite
    link's: the key of its passes over ``options.duration_s`` from ``options.start``, per second).

    Raises:
        ScenarioError: a candidate's fields are wrong for a fibre link (named ``candidate_links[i]...``).
    """
    stations = _ground_stations(plan.candidate_links, plan)
    data = _scenario_data(
        plan,
        [_site_data(site, _node_kind(site, stations, "user"), trusted=True) for site in plan.sites],
        [_link_data(plan, link) for link in plan.candidate_links],
    )
    data["demands"] = []  # capacities only: whether demands can be joined is the program's question
    try:
        built = build_links(load_scenario(data))
    except ScenarioError as exc:
        raise _renamed(exc) from None
    return tuple(float(link.expected_rate_bps) for link in built)


def plan_network(plan: PlanFile) -> PlannedNetwork:
    """The cheapest network of the planning file's candidates that meets its demands, as a scenario.

    Raises:
        ScenarioError: a field of the file is wrong, or no plan meets every demand (naming the first demand that
            cannot be met: ``demands[k]``).
    """
    options = plan.options
    rates = candidate_rates_bps(plan)
    costs = [_cost(plan, c) for c in plan.candidate_links]
    problem = PlanProblem(
        relay_cost={s.id: options.relay_cost if s.relay_cost is None else s.relay_cost for s in plan.sites if s.relay},
        links=tuple(
            ProblemLink(id=c.id, a=c.a, b=c.b, capacity_bps=(1.0 - options.headroom) * rate, cost=cost)
            for c, rate, cost in zip(plan.candidate_links, rates, costs, strict=True)
        ),
        demands=tuple((d.a, d.b, d.rate_bps) for d in plan.demands),
        max_hops=options.max_hops,
        time_limit_s=options.time_limit_s,
    )
    solution = solve_plan(problem)
    relays = set(solution.relays)
    ends = {end for d in plan.demands for end in (d.a, d.b)}
    built = [plan.candidate_links[i] for i in solution.links]
    linked = {end for link in built for end in (link.a, link.b)}
    stations = _ground_stations(built, plan)
    nodes = []
    for site in plan.sites:
        if site.satellite or site.id in stations:  # trusted by default in a scenario: say so either way
            if site.id in linked:
                nodes.append(_site_data(site, _node_kind(site, stations, ""), trusted=site.id in relays))
        elif site.id in ends:
            nodes.append(_site_data(site, "user", trusted=True if site.id in relays else None))
        elif site.id in relays:
            nodes.append(_site_data(site, "trusted-relay"))
        elif site.id in linked:
            nodes.append(_site_data(site, "user"))
    data = _scenario_data(plan, nodes, [_link_data(plan, link) for link in built])
    try:
        scenario = load_scenario(data)
    except ScenarioError as exc:
        raise _renamed(exc) from None
    loads = dict.fromkeys((link.id for link in built), 0.0)
    for route in solution.routes:
        for links, rate in route.paths:
            for link_id in links:
                loads[link_id] += rate
    return PlannedNetwork(
        plan=plan,
        scenario=scenario,
        scenario_data=data,
        links=tuple(
            PlannedLink(
                id=link.id,
                a=link.a,
                b=link.b,
                length_km=_length_km(plan, link),
                rate_bps=rates[i],
                load_bps=loads[link.id],
                cost=costs[i],
            )
            for i, link in zip(solution.links, built, strict=True)
        ),
        relays=tuple((site, problem.relay_cost[site]) for site in solution.relays),
        routes=solution.routes,
        cost=solution.cost,
        optimal=solution.optimal,
        rates_bps=rates,
    )


def scenario_yaml(planned: PlannedNetwork) -> str:
    """The planned scenario as YAML for ``qinternet run``, with a header saying what was planned."""
    import yaml

    relays = ", ".join(site for site, _ in planned.relays) or "none"
    header = [
        f"# Planned by `qinternet plan` from {planned.plan.name!r}: cost {planned.cost:.6g}"
        f"{'' if planned.optimal else ' (not proven optimal: the solver stopped at its time limit)'}.",
        f"# Links built: {len(planned.links)} of {len(planned.plan.candidate_links)} candidates; trusted relays: "
        f"{relays}.",
        "# Formulation: path-based integer program after Rabbie et al., npj Quantum Inf. 8, 5 (2022), solved by HiGHS.",
    ]
    body = yaml.safe_dump(planned.scenario_data, sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + body
