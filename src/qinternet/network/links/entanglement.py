"""Key between two users who share photon pairs from an entanglement source (no trusted node between them).

One source (SPDC, polarisation-entangled) serves several user pairs by wavelength multiplexing, each
pair on its own pair of frequency channels, as in the trusted-node-free metropolitan network of Joshi
et al., Sci. Adv. 6, eaba0959 (2020). A pair's link is BBM92 with the source ``length_a_km`` from one
user and ``length_b_km`` from the other (:func:`qinternet.qkd.bbm92.bbm92_observables_arms`: coincidence
gain ``Q`` and error ``E`` per pump pulse or coincidence window, exact for threshold detectors, equal to
Ma, Fung, Lo, PRA 76, 012307 (2007), eq. (9) for thermal pairs). The block's key is their eq. (11),
``q Q N [1 - f h(E) - h(E)]`` for ``N`` pulses with sifting ``q`` — the asymptotic rate: a finite-key
bound for BBM92 is not modelled yet, so blocks should hold many coincidences. The mean pair number is
the one that maximises that rate for the pair's arms (an operator sets the pump power per channel:
:func:`qinternet.qkd.bbm92.best_pair_number`).

``model: monte-carlo`` draws the matched-basis coincidences binomially and their errors binomially, and
the block's key uses the observed error rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from qinternet.network.build import link_system
from qinternet.network.links.base import (
    BlockRecord,
    BuildContext,
    LinkEngine,
    LinkRunner,
    abort_reason_of,
    block_pulses,
    block_runner,
)
from qinternet.network.schema_base import Identifier, LinkKind, LinkModel, LinkSpecBase, NodeKind
from qinternet.params import QkdSystem
from qinternet.qkd.bbm92 import (
    PAIR_GRID,
    bbm92_key_fraction,
    best_pair_number,
    fibre_arm,
    fibre_arms,
    party_transmittance,
)

__all__ = [
    "EntanglementLinkEngine",
    "EntanglementLinkSpec",
    "PairArms",
    "build_entanglement_links",
    "entanglement_engine",
    "entanglement_engines",
    "shared_detector_backgrounds",
]


class EntanglementLinkSpec(LinkSpecBase):
    """Two users who share photon pairs from an entanglement source (``kind: entanglement``).

    Attributes:
        a, b: the two users that share the pairs.
        source: the entanglement source serving them.
        length_a_km, length_b_km: fibre from the source to ``a`` and to ``b``.
        loss_db_per_km, connector_loss_db: the fibre's attenuation and fixed loss (default: the preset's).
        protocol: ``bbm92``.
        optimise_settings: run every pair of the source at the one pump that maximises the source's key, or
            each at its devices' ``spdc.mean_pair_number``.
    """

    NODE_FIELDS = ("a", "b", "source")

    kind: LinkKind = LinkKind.ENTANGLEMENT
    source: Identifier
    length_a_km: Annotated[float, Field(ge=0.0, le=1000.0)]
    length_b_km: Annotated[float, Field(ge=0.0, le=1000.0)]
    loss_db_per_km: Annotated[float, Field(ge=0.0, le=10.0)] | None = None
    connector_loss_db: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    protocol: Literal["bbm92"] = "bbm92"
    optimise_settings: bool = True

    @property
    def via(self) -> str | None:
        """The source."""
        return self.source

    def check_ends(self, kinds: Mapping[str, NodeKind]) -> list[tuple[str, str]]:
        """The ends are ground nodes; the source is an entanglement source."""
        problems = super().check_ends(kinds)
        if kinds[self.source] is not NodeKind.ENTANGLEMENT_SOURCE:
            problems.append(("source", f"node {self.source!r} is not an entanglement-source"))
        return problems


def _key_fraction(system: QkdSystem, error_rate: float | np.ndarray) -> np.ndarray:
    return bbm92_key_fraction(error_rate, system.ec_efficiency)


@dataclass(frozen=True, slots=True, kw_only=True)
class EntanglementLinkEngine:
    """Makes the blocks of one user pair served by an entanglement source.

    Attributes:
        system: detectors (each user's), fibre, SPDC source (statistics, repetition rate), ``f``.
        length_a_km, length_b_km: fibre from the source to each user.
        block_pulses: pump pulses (coincidence windows) per block.
        monte_carlo: draw the counts (True) or take their expectations.
        background_a, background_b: click probability per detector and window from light that is not
            this pair's (the user's other pairs on the same detectors: :func:`shared_detector_backgrounds`).
        pump: the mean pair number to run at; None: the one that maximises the key rate.
        block_s: seconds per block (default: the block's pulses at the source's rate).
        mean_pair_number: the optimised mean pair number per pulse (derived).
        gain, error_rate: coincidence gain and error rate at it (derived).
    """

    system: QkdSystem
    length_a_km: float
    length_b_km: float
    block_pulses: int
    monte_carlo: bool
    background_a: float = 0.0
    background_b: float = 0.0
    pump: float | None = None
    block_s: float = 0.0
    mean_pair_number: float = field(init=False)
    gain: float = field(init=False)
    error_rate: float = field(init=False)

    def __post_init__(self) -> None:
        if self.block_s <= 0.0:
            object.__setattr__(self, "block_s", self.block_pulses / self.system.pair_source.rep_rate_hz)
        mu, gain, error_rate = best_pair_number(
            self.system,
            fibre_arms(self.system, self.length_a_km, self.length_b_km),
            PAIR_GRID if self.pump is None else self.pump,
            background_a=self.background_a,
            background_b=self.background_b,
        )
        object.__setattr__(self, "mean_pair_number", mu)
        object.__setattr__(self, "gain", gain)
        object.__setattr__(self, "error_rate", error_rate)

    @property
    def expected_key_bits(self) -> float:
        """Key of a block of expected counts."""
        sifted = self.block_pulses * self.system.sifting_factor * self.gain
        return sifted * float(_key_fraction(self.system, self.error_rate))

    @property
    def expected_rate_bps(self) -> float:
        """Key per second of blocks of expected counts."""
        return self.expected_key_bits / self.block_s

    def runner(self) -> LinkRunner:
        """A block every ``block_s`` seconds, forever."""
        return block_runner(self.block, self.block_s)

    def block(self, rng: np.random.Generator, duration_s: float, end_s: float) -> BlockRecord:
        """The next block: expected counts, or coincidences and errors drawn binomially."""
        p_sifted = self.system.sifting_factor * self.gain
        if self.monte_carlo:
            sifted = float(rng.binomial(self.block_pulses, p_sifted))
            errors = float(rng.binomial(int(sifted), self.error_rate))
        else:
            sifted = self.block_pulses * p_sifted
            errors = sifted * self.error_rate
        qber = errors / sifted if sifted > 0 else math.nan
        key = int(sifted * float(_key_fraction(self.system, qber))) if sifted > 0 else 0
        return BlockRecord(
            end_s=end_s,
            duration_s=duration_s,
            key_bits=key,
            sifted_bits=sifted,
            qber=qber,
            abort_reason=abort_reason_of(key),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PairArms:
    """One pair of users served by a source: who they are and how far."""

    user_a: str
    user_b: str
    length_a_km: float
    length_b_km: float


def shared_detector_backgrounds(
    pairs: Sequence[PairArms], engines: Sequence[EntanglementLinkEngine]
) -> list[tuple[float, float]]:
    """Per pair, the click probability per detector and window that the users' *other* pairs add.

    In a multi-user network served by one source, each user has one receiver: the partners' wavelength
    channels arrive on the same detectors and are told apart only by their coincidence timing (Joshi et
    al., Sci. Adv. 6, eaba0959 (2020), who name the resulting accidental coincidences as the network's
    scaling limit). For pair ``(u, v)``, every photon of another pair ``(u, w)`` reaching ``u`` is
    uncorrelated with ``v``: it clicks one of ``u``'s two detectors (at random in any basis) with
    probability ``1 - exp(-mu_uw eta_u)`` per window, where ``mu_uw`` is that pair's mean pair number and
    ``eta_u`` the arm's transmittance with ``u``'s detectors. Returned per pair: ``(background at a,
    background at b)``, half of the summed probability for each detector.
    """
    arriving: dict[str, list[tuple[int, float]]] = {}
    for index, (pair, engine) in enumerate(zip(pairs, engines, strict=True)):
        for user, length in ((pair.user_a, pair.length_a_km), (pair.user_b, pair.length_b_km)):
            eta = float(party_transmittance(engine.system, fibre_arm(engine.system, length)))
            arriving.setdefault(user, []).append((index, 1.0 - math.exp(-engine.mean_pair_number * eta)))
    result = []
    for index, pair in enumerate(pairs):

        def others(user: str, index: int = index) -> float:
            quiet = math.prod(1.0 - p for j, p in arriving[user] if j != index)
            return (1.0 - quiet) / 2.0  # at least one other photon, on one of the two detectors

        result.append((others(pair.user_a), others(pair.user_b)))
    return result


def entanglement_engine(spec: EntanglementLinkSpec, path: str) -> EntanglementLinkEngine:
    """The block engine of the BBM92 user pair ``spec`` (at ``path`` in the file), alone at its source."""
    system = link_system(spec, path)
    pulses = block_pulses(system.pair_source.rep_rate_hz, spec.block_s, path)
    return EntanglementLinkEngine(
        system=system,
        length_a_km=spec.length_a_km,
        length_b_km=spec.length_b_km,
        block_pulses=pulses,
        monte_carlo=spec.model is LinkModel.MONTE_CARLO,
        block_s=spec.block_s,
    )


_COMMON_PUMPS = np.geomspace(1e-4, 1.0, 81)
"""Mean pair numbers tried for the pairs of one source (a 12 % grid)."""


def _with_backgrounds(arms: list[PairArms], engines: list[EntanglementLinkEngine]) -> list[EntanglementLinkEngine]:
    """The engines at their pumps, with the background those very pumps cause each other."""
    backgrounds = shared_detector_backgrounds(arms, engines)
    return [
        dataclasses.replace(e, background_a=a, background_b=b) for e, (a, b) in zip(engines, backgrounds, strict=True)
    ]


def entanglement_engines(specs: Mapping[int, LinkSpecBase]) -> dict[int, EntanglementLinkEngine]:
    """The engines of the entanglement links ``specs`` (by index), with shared detectors taken into account.

    The pairs of one source share their users' detectors (:func:`shared_detector_backgrounds`), so each
    pair's pump raises the others' noise. Pumps chosen pair by pair do not settle (each pair's best answer
    to dim neighbours is a bright pump, and bright neighbours leave no key at all), so the operator's choice
    is modelled instead: with ``optimise_settings`` every pair of a source runs at the one mean pair number
    that maximises the source's total key rate, the background computed at those pumps; otherwise each pair
    runs at its devices' ``spdc.mean_pair_number``.
    """
    groups: dict[str, list[tuple[int, EntanglementLinkSpec]]] = {}
    for index, spec in specs.items():
        assert isinstance(spec, EntanglementLinkSpec)
        groups.setdefault(spec.source, []).append((index, spec))
    engines: dict[int, EntanglementLinkEngine] = {}
    for members in groups.values():
        arms = [
            PairArms(user_a=spec.a, user_b=spec.b, length_a_km=spec.length_a_km, length_b_km=spec.length_b_km)
            for _, spec in members
        ]
        alone = [entanglement_engine(spec, f"links[{i}]") for i, spec in members]
        if all(spec.optimise_settings for _, spec in members):
            trials = [
                _with_backgrounds(arms, [dataclasses.replace(e, pump=float(mu)) for e in alone]) for mu in _COMMON_PUMPS
            ]
            final = max(trials, key=lambda pairs: sum(e.expected_key_bits for e in pairs))
        else:
            pumps = [e.system.pair_source.mean_pair_number for e in alone]
            final = _with_backgrounds(arms, [dataclasses.replace(e, pump=p) for e, p in zip(alone, pumps, strict=True)])
        engines.update(zip((i for i, _ in members), final, strict=True))
    return engines


def build_entanglement_links(specs: Mapping[int, LinkSpecBase], context: BuildContext) -> dict[int, LinkEngine]:
    """The engines of the entanglement links (:data:`qinternet.network.links.registry.LINK_KINDS`)."""
    engines = entanglement_engines(specs)
    for index in engines:
        context.on_progress(index, 1.0)
    return dict(engines)
