"""Build every link of a scenario through the registry of link kinds, with the scenario's attacks on them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection
from dataclasses import dataclass

from qinternet.network.links.base import (
    MAX_BLOCKS_PER_LINK,
    Attackable,
    BlockRecord,
    BuildContext,
    LinkEngine,
    LinkRunner,
    Monitored,
    PassSchedule,
    RateCurve,
)
from qinternet.network.links.registry import LINK_KINDS
from qinternet.network.schema import Scenario
from qinternet.network.schema_base import LinkKind, LinkSpecBase, ScenarioError

__all__ = ["BuiltLink", "build_links"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltLink:
    """A link ready to run.

    Attributes:
        spec: its section of the scenario.
        engine: its engine (:class:`~qinternet.network.links.base.LinkEngine`; the report asks it for more by
            capability, e.g. :class:`~qinternet.network.links.base.RateCurve`).
    """

    spec: LinkSpecBase
    engine: LinkEngine

    @property
    def runner(self) -> LinkRunner:
        """Its process body."""
        return self.engine.runner()

    @property
    def expected_rate_bps(self) -> float:
        """Secret key per second of the analytic model at the link's settings (satellites: over the run)."""
        return self.engine.expected_rate_bps

    @property
    def rate_curve(self) -> RateCurve | None:
        """The engine, when its analytic rate is a function of its length (fibre links)."""
        return self.engine if isinstance(self.engine, RateCurve) else None

    @property
    def baseline(self) -> BlockRecord | None:
        """The link's honest block, when its alarms can be raised (:class:`~qinternet.network.links.base.Monitored`)."""
        return self.engine.baseline if isinstance(self.engine, Monitored) else None

    @property
    def pass_schedule(self) -> PassSchedule | None:
        """The engine, when it makes key in satellite passes (downlinks)."""
        return self.engine if isinstance(self.engine, PassSchedule) else None


def build_links(
    scenario: Scenario, on_progress: Callable[[float], None] | None = None, *, only: Collection[int] | None = None
) -> list[BuiltLink]:
    """Every link of ``scenario``, in order; ``on_progress`` is called with the fraction of the work done.

    ``only``: just the links at these indices (in order), e.g. the one link a ``qinternet device`` runs. A
    fibre link's engine depends on its own spec alone, so only the chosen fibre links are built; the links of
    other kinds may depend on their siblings (the pairs of one entanglement source share detectors), so every
    link of a kind with a chosen link is built (the same engines as the whole build, checked for the fibre,
    entanglement and free-space links of the built-in scenarios)."""
    chosen = list(range(len(scenario.links))) if only is None else sorted(set(only))
    kinds = {scenario.links[i].kind for i in chosen}
    built = [
        i
        for i, spec in enumerate(scenario.links)
        if i in chosen or (spec.kind in kinds and spec.kind is not LinkKind.FIBRE)
    ]
    for i, spec in enumerate(scenario.links):
        if spec.kind is not LinkKind.FREE_SPACE and scenario.time.duration_s / spec.block_s > MAX_BLOCKS_PER_LINK:
            blocks = scenario.time.duration_s / spec.block_s
            raise ScenarioError([(f"links[{i}].block_s", f"makes {blocks:.3g} blocks in the run; at most 1e7")])
    weights: list[float] = []
    done = [0.0] * len(scenario.links)
    work = [0.0, 0.0]  # done so far, in all

    def report(link: int, fraction: float) -> None:
        """Link ``link`` is ``fraction`` done (kinds are built in turn, so the sum of what is done is shown)."""
        if on_progress is not None and weights:
            now = fraction * weights[link]
            work[0] += now - done[link]
            done[link] = now
            on_progress(min(1.0, work[0] / work[1]))

    context = BuildContext(scenario=scenario, duration_s=scenario.time.duration_s, on_progress=report)
    entries = {entry.kind: entry for entry in LINK_KINDS}
    weights.extend(entries[spec.kind].weight(context) if i in built else 0.0 for i, spec in enumerate(scenario.links))
    work[1] = sum(weights) or 1.0
    engines: dict[int, LinkEngine] = {}
    members_of = sorted(((i, scenario.links[i]) for i in built), key=lambda p: _order(p[1]))
    for kind, members in itertools.groupby(members_of, _kind):
        engines.update(entries[kind].build(dict(members), context))
    for i in chosen:
        spec = scenario.links[i]
        attacks = tuple(attack.scheduled() for attack in scenario.attacks if attack.link == spec.id)
        if attacks:
            engine = engines[i]
            if not isinstance(engine, Attackable):  # the scenario's checks refuse these
                raise ScenarioError([("attacks", f"link {spec.id!r} ({spec.kind.value}) cannot be attacked")])
            engines[i] = engine.under_attack(attacks)
    return [BuiltLink(spec=scenario.links[i], engine=engines[i]) for i in chosen]


def _order(spec: LinkSpecBase) -> int:
    return [entry.kind for entry in LINK_KINDS].index(spec.kind)


def _kind(pair: tuple[int, LinkSpecBase]) -> LinkKind:
    return pair[1].kind
