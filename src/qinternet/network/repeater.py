"""A repeater chain of identical nodes: the library function behind ``qinternet repeater``.

>>> from qinternet.network.repeater import RepeaterSettings, run_repeater_chain
>>> result = run_repeater_chain(RepeaterSettings(preset="delft-nv", nodes=3, length_km=2.0, pairs=1000, seed=1))
>>> 0.5 < result.mean_fidelity < 1.0
True

:func:`compile_chain` turns a hardware preset and a length into the chain sampler's model
(:mod:`qinternet.entanglement.chain`): each elementary link of ``length_km / (nodes - 1)`` is heralded at a
station in its middle (or filled by a source there), each attempt lasts the emitter's attempt time plus the
photon's flight to the station and the herald's flight back (single-mode memories wait for the answer), both
halves decohere in their memories during that flight, a node with one attempt channel (one communication qubit, or
one ensemble mode) makes its two links one after the other while a node with more splits them between its two
sides and attempts both at once, each link multiplexing the channels its two nodes give it (:func:`link_channels`),
swaps are the nodes' gates (solid-state and ion nodes) or
a linear-optics Bell measurement on the retrieved photons (atomic ensembles), and the last swap's outcome takes
half the chain's fibre to reach an end node.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qinternet.entanglement.abstract import AbstractChainParams
from qinternet.entanglement.analytic import AnalyticChainResult, waiting_time_and_werner
from qinternet.entanglement.chain import (
    MAX_LINK_DRAWS,
    MIN_SUCCESS_PROB,
    ChainModel,
    Decay,
    Deliveries,
    DeliveryMode,
    ElementaryLink,
    PurifyStep,
    decay_of_law,
    link_copies,
    sample_chain,
)
from qinternet.entanglement.purification import PurificationProtocol, PurificationSchedule
from qinternet.errors import ParameterError
from qinternet.params.checks import require_finite, require_non_negative
from qinternet.params.hardware import MAX_MODES, Dephasing, EmitterKind, HeraldingScheme, MemoryParams, require_count
from qinternet.params.repeater_presets import HardwarePreset, repeater_preset
from qinternet.params.units import fibre_delay_s
from qinternet.physics.bsm import SwapOutcome, gate_swap, linear_optics_bsm
from qinternet.physics.channels import FibreChannel
from qinternet.physics.heralding import attempt_period_s, elementary_link
from qinternet.physics.memory import attempt_dephasing_prob, memory_pauli_channel, stored_half_decay
from qinternet.qkd.bounds import plob_bound
from qinternet.sim.rng import check_seed
from qinternet.states import bell

__all__ = [
    "MAX_NODES",
    "MAX_PAIRS",
    "ChainEngine",
    "RepeaterResult",
    "RepeaterSettings",
    "WaitingTimes",
    "analytic_chain",
    "compile_chain",
    "hardware_of",
    "link_channels",
    "node_channels",
    "run_repeater_chain",
    "summarise",
]

MAX_NODES = 100_000
"""Most nodes one chain may have."""
MAX_PAIRS = 10**7
"""Most end-to-end pairs one run may draw (memory: ~200 bytes per pair at the peak)."""
_Z95 = 1.959963984540054
"""Two-sided 95% quantile of the standard normal distribution."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RepeaterSettings:
    """What to simulate.

    Attributes:
        preset: hardware preset name (``qinternet.params.repeater_presets``).
        nodes: nodes of the chain including both ends, at least 2.
        length_km: fibre from end to end; the ``nodes - 1`` elementary links share it equally.
        cutoff_s: how long a link may wait in memory for its partner before it is discarded; None for none.
        purify: purification of elementary links before swapping, or None.
        purify_rounds: rounds of purification.
        purify_schedule: recurrence (two copies of the last output) or pumping (a fresh pair each round).
        purify_levels: nesting levels whose pairs are purified (0: elementary links; ``k``: pairs over ``2**k``
            links after their swap; :class:`~qinternet.entanglement.chain.PurifyStep`).
        mode: create-and-keep (pairs for applications) or measure-directly (QKD).
        pairs: end-to-end pairs to draw.
        seed: random seed.
        communication_qubits: communication qubits of every node, replacing the preset's
            (:attr:`~qinternet.params.hardware.NodeHardware.communication_qubits`; memory qubits are raised to
            as many where the preset has fewer); None: the preset's.
    """

    preset: str
    nodes: int
    length_km: float
    cutoff_s: float | None = None
    purify: PurificationProtocol | None = None
    purify_rounds: int = 1
    purify_schedule: PurificationSchedule = PurificationSchedule.RECURRENCE
    purify_levels: tuple[int, ...] = (0,)
    mode: DeliveryMode = DeliveryMode.CREATE_AND_KEEP
    pairs: int = 10_000
    seed: int = 1
    communication_qubits: int | None = None

    def __post_init__(self) -> None:
        if not 2 <= self.nodes <= MAX_NODES:
            raise ParameterError("nodes", f"must be in 2..{MAX_NODES}, got {self.nodes}")
        require_finite("length_km", self.length_km)
        require_non_negative("length_km", self.length_km)
        if self.cutoff_s is not None:
            require_finite("cutoff", self.cutoff_s)
            require_non_negative("cutoff", self.cutoff_s)
        if not 1 <= self.pairs <= MAX_PAIRS:
            raise ParameterError("pairs", f"must be in 1..{MAX_PAIRS:g}, got {self.pairs}")
        if self.purify_rounds < 1:
            raise ParameterError("purify_rounds", f"must be at least 1, got {self.purify_rounds}")
        if self.communication_qubits is not None:
            require_count("communication_qubits", self.communication_qubits, MAX_MODES)
        check_seed(self.seed)


class ChainEngine(StrEnum):
    """How the chain is computed: by drawing deliveries, exactly (nested chains of ``2**n`` links), or event by
    event with swaps as soon as possible."""

    MONTE_CARLO = "monte-carlo"
    ANALYTIC = "analytic"
    EVENTS_ASAP = "event-driven-asap"


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingTimes:
    """Time between consecutive end-to-end deliveries, s."""

    mean: float
    p50: float
    p99: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RepeaterResult:
    """What a repeater chain delivers.

    Attributes:
        settings: what was simulated.
        engine: ``monte-carlo`` or ``analytic``.
        pairs: end-to-end pairs drawn (0 for the analytic engine, which draws none); fewer than
            ``pairs_requested`` when each pair costs so much work (a cut-off links rarely meet) that the rest would
            not fit :data:`~qinternet.entanglement.chain.MAX_LINK_DRAWS` (the JSON then has a ``note``).
        pairs_per_s: delivered pairs per second of simulated time.
        mean_fidelity: mean fidelity of the delivered pairs with ``|Phi+>``.
        fidelity_ci95: 95% confidence interval of the mean fidelity (normal approximation).
        waiting_time_s: time between deliveries.
        mean_state: mean Bell-diagonal coefficients ``[Phi+, Psi+, Phi-, Psi-]`` of the delivered pairs.
        secret_fraction: asymptotic BB84 secret bits per pair measured (Shor-Preskill, from the mean state).
        secret_key_rate_bps: ``pairs_per_s * secret_fraction``.
        chsh: CHSH value of the mean state with the settings that suit ``|Phi+>``.
        plob_bps: the repeaterless bound (Pirandola et al. 2017) for the same fibre, at the emitters' attempt
            rate times their communication qubits and memory modes (channel uses per second of a direct link with
            the same clock and as many parallel channels).
        link_success_prob, link_attempt_period_s, link_fidelity: one elementary link (success per channel).
        link_channels: attempts each elementary link makes at once (:func:`link_channels`).
        communication_qubits: communication qubits of each node (the preset's, or the settings').
        wall_s: wall time, s.
    """

    settings: RepeaterSettings
    engine: str
    pairs: int
    pairs_requested: int
    pairs_per_s: float
    mean_fidelity: float
    fidelity_ci95: tuple[float, float]
    waiting_time_s: WaitingTimes
    mean_state: tuple[float, float, float, float]
    secret_fraction: float
    secret_key_rate_bps: float
    chsh: float
    plob_bps: float
    link_success_prob: float
    link_attempt_period_s: float
    link_fidelity: float
    wall_s: float
    link_channels: int = 1
    communication_qubits: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``qinternet repeater --json``."""
        s = self.settings
        return {
            "preset": s.preset,
            "nodes": s.nodes,
            "length_km": s.length_km,
            "cutoff_s": s.cutoff_s,
            "purify": None if s.purify is None else s.purify.value,
            "purify_rounds": s.purify_rounds if s.purify is not None else 0,
            "purify_schedule": s.purify_schedule.value if s.purify is not None else None,
            "purify_levels": list(s.purify_levels) if s.purify is not None else None,
            "mode": s.mode.value,
            "communication_qubits": self.communication_qubits,
            "seed": s.seed,
            "engine": self.engine,
            "pairs": self.pairs,
            **({"note": f"drew {self.pairs:,} of the {self.pairs_requested:,} pairs asked for: the rest would take "
                        f"more than the work budget of {MAX_LINK_DRAWS:.0e} elementary links (statistics from "
                        "those drawn)"}
               if 0 < self.pairs < self.pairs_requested else {}),
            "pairs_per_s": self.pairs_per_s,
            "mean_fidelity": self.mean_fidelity,
            "fidelity_ci95": list(self.fidelity_ci95),
            "waiting_time_s": {"mean": self.waiting_time_s.mean, "p50": self.waiting_time_s.p50,
                               "p99": self.waiting_time_s.p99},
            "mean_state": dict(zip(bell.BELL_LABELS, self.mean_state, strict=True)),
            "secret_fraction": self.secret_fraction,
            "secret_key_rate_bps": self.secret_key_rate_bps,
            "chsh": self.chsh,
            "plob_bps": self.plob_bps,
            "elementary_link": {
                "length_km": s.length_km / (s.nodes - 1),
                "success_prob": self.link_success_prob,
                "channels": self.link_channels,
                "attempt_period_s": self.link_attempt_period_s,
                "fidelity": self.link_fidelity,
            },
            "wall_s": self.wall_s,
        }  # fmt: skip


def compile_link(
    preset: HardwarePreset, length_km: float, *, field: str = "length_km", channels: int = 1
) -> ElementaryLink:
    """One heralded elementary link of ``preset`` over ``length_km`` of fibre, its station in the middle.

    The heralding physics of :func:`qinternet.physics.heralding.elementary_link` at the two arms' transmittance;
    the attempt period is the emission plus the herald's round trip (:func:`attempt_period_s`), and both halves
    decohere in memory while the herald flies back (:func:`qinternet.physics.memory.stored_half_decay`).
    ``channels`` attempts are made at once each period (:func:`link_channels`).

    Raises:
        ParameterError: naming ``field``, when the link heralds with less than ``MIN_SUCCESS_PROB`` per attempt.
    """
    arm_km = length_km / 2.0
    arm = FibreChannel(length_km=arm_km, loss_db_per_km=preset.loss_db_per_km).transmittance
    node = preset.node
    heralded = elementary_link(
        preset.scheme,
        node,
        node,
        preset.station,
        arm,
        arm,
        bright_state_population=preset.bright_state_population,
        mean_pairs=preset.mean_pairs,
        pair_statistics=preset.pair_statistics,
        source_fidelity=preset.source_fidelity,
    )
    success = float(heralded.success_prob)
    if not success >= MIN_SUCCESS_PROB:
        raise ParameterError(
            field,
            f"an elementary link of {length_km:g} km heralds with probability {success:.3g} per attempt with "
            f"{preset.name}: no pair would arrive in any run; shorten the links (more nodes)",
        )
    flight_s = 2.0 * float(fibre_delay_s(arm_km))  # both halves wait for the herald
    state = stored_half_decay(stored_half_decay(heralded.state, node.memory, flight_s), node.memory, flight_s)
    return ElementaryLink(
        success_prob=success,
        attempt_period_s=float(attempt_period_s(node.emitter.attempt_duration_s, arm_km)),
        state=(float(state[0]), float(state[1]), float(state[2]), float(state[3])),
        channels=channels,
    )


def node_channels(preset: HardwarePreset) -> int:
    """Entanglement attempts a node of ``preset`` can make at once: its communication qubits, times its memory
    modes for a DLCZ ensemble heralded by single click (each mode, spatial or temporal, is an independent write;
    the multiplexed ensembles of Collins, Jenkins, Kuzmich, Kennedy, PRL 98, 060502 (2007)). A midpoint-source
    link already tries the memory's modes in every attempt (:func:`qinternet.physics.heralding.midpoint_source`),
    so there the modes do not count again; single emitters have one mode."""
    node = preset.node
    modes = (
        node.memory.modes
        if node.emitter.kind is EmitterKind.RB_ENSEMBLE_DLCZ and preset.scheme is HeraldingScheme.SINGLE_CLICK
        else 1
    )
    return node.communication_qubits * modes


def link_channels(preset: HardwarePreset, links: int, purify: PurifyStep | None = None) -> tuple[int, bool]:
    """How the elementary links of a chain of ``links`` links of ``preset`` are attempted: the channels each link
    multiplexes (Collins et al., PRL 98, 060502 (2007)) and whether the links are made one after the other
    (:attr:`ChainModel.sequential`).

    A link needs a channel at both its nodes. A node of ``C`` channels (:func:`node_channels`) attempts at once
    everything the protocol makes at once around it, ``D`` = its sides (2 inside a chain, 1 on a single link)
    times the copies of a link that purification makes (:func:`~qinternet.entanglement.chain.link_copies`). With
    ``C >= D`` it does so, ``C // D`` channels each (end nodes have channels to spare); with fewer it makes the
    links one after the other, every channel on the link being made (``C = 1``: the single-emitter nodes of the
    presets, as before). On a single link without purification every channel serves the link. Giving all
    channels to one side at a time is the faster of the two for small ``p`` even when ``C >= D`` (a swap's two
    links: ``2 / (C p)`` periods in turn against ``1.5 / (C p / 2)`` at once); it is not chosen here, parallel
    sides are.
    """
    channels = node_channels(preset)
    at_once = (2 if links > 1 else 1) * link_copies(links, purify)
    if at_once == 1:
        return channels, channels < 2
    if channels >= at_once:
        return channels // at_once, False
    return channels, True


def node_swap(preset: HardwarePreset) -> SwapOutcome:
    """The swap at a node of ``preset``: linear optics on retrieved photons for DLCZ ensembles, else a gate swap."""
    node = preset.node
    if node.emitter.kind is EmitterKind.RB_ENSEMBLE_DLCZ:  # photons retrieved from both ensembles, linear optics
        eta = node.memory.read_efficiency * preset.station.detector.efficiency
        return linear_optics_bsm(
            eta_1=eta, dark_count_prob=preset.station.detector.dark_count_prob, visibility=preset.station.visibility
        )
    return gate_swap(node.two_qubit_gate_fidelity, node.measurement_fidelity)


def normalised_law(swap: SwapOutcome) -> tuple[float, float, float, float]:
    """A swap's Pauli law, normalised, as a tuple ``(I, X, Z, Y)``."""
    law = np.asarray(swap.pauli, dtype=np.float64)
    law = law / law.sum()
    return (float(law[0]), float(law[1]), float(law[2]), float(law[3]))


def memory_decay(memory: MemoryParams) -> Decay:
    """The chain sampler's decay of one qubit stored in ``memory`` (:func:`memory_pauli_channel`)."""

    def law(seconds: NDArray[np.float64]) -> NDArray[np.float64]:
        return memory_pauli_channel(memory, seconds)

    return decay_of_law(law)


def node_attempt_dephasing(preset: HardwarePreset) -> float:
    """Probability that one entanglement attempt dephases a qubit stored at a node of ``preset``
    (:func:`qinternet.physics.memory.attempt_dephasing_prob`): the emitter is left bright with the preset's
    bright-state population ``alpha`` (single click), or with 1/2 when it has none (Barrett-Kok prepares an equal
    superposition, Barrett & Kok, PRA 71, 060310 (2005))."""
    alpha = preset.bright_state_population
    return attempt_dephasing_prob(preset.node.memory, 0.5 if alpha is None else alpha)


def compile_chain(
    preset: HardwarePreset,
    *,
    nodes: int,
    length_km: float,
    cutoff_s: float | None = None,
    purify: PurifyStep | None = None,
    mode: DeliveryMode = DeliveryMode.CREATE_AND_KEEP,
) -> ChainModel:
    """The chain sampler's model of ``nodes`` identical nodes of ``preset`` over ``length_km`` of fibre.

    Raises:
        ParameterError: ``nodes`` below 2, a negative length or cut-off, or a link that never heralds.
    """
    if nodes < 2:
        raise ParameterError("nodes", f"must be at least 2, got {nodes}")
    links = nodes - 1
    channels, sequential = link_channels(preset, links, purify)
    link = compile_link(preset, length_km / links, channels=channels)
    swap = node_swap(preset)
    waits = links > 1 or purify is not None  # else no qubit is stored while its node attempts
    dephasing = node_attempt_dephasing(preset) if waits else 0.0
    if dephasing > 0.0 and node_channels(preset) > 1:
        raise ParameterError(
            "node.communication_qubits",
            f"{preset.name}'s memories are dephased by their node's attempts, which is modelled for nodes with one "
            "communication qubit only (which attempts reach which memory is not known for more)",
        )
    return ChainModel(
        links=links,
        link=link,
        swap_success_prob=float(swap.success_prob),
        swap_error=normalised_law(swap),
        decay=memory_decay(preset.node.memory),
        cutoff_s=cutoff_s,
        delivery_delay_s=float(fibre_delay_s(length_km / 2.0)) if links > 1 else 0.0,
        mode=mode,
        purify=purify,
        sequential=sequential,
        attempt_dephasing_prob=dephasing,
    )


def _quantile(values: NDArray[np.float64], q: float) -> float:
    return float(np.quantile(values, q)) if values.size else math.nan


def _result(
    settings: RepeaterSettings,
    model: ChainModel,
    *,
    engine: str,
    pairs: int,
    mean_state: NDArray[np.float64],
    fidelity_ci95: tuple[float, float],
    waiting: WaitingTimes,
    wall_s: float,
    hardware: HardwarePreset | None = None,
) -> RepeaterResult:
    preset = hardware_of(settings, hardware)
    pairs_per_s = 1.0 / waiting.mean
    fraction = float(bell.secret_fraction_bb84(mean_state))
    total = FibreChannel(length_km=settings.length_km, loss_db_per_km=preset.loss_db_per_km).transmittance
    uses_per_s = preset.node.communication_qubits * preset.node.memory.modes / preset.node.emitter.attempt_duration_s
    return RepeaterResult(
        settings=settings,
        engine=engine,
        pairs=pairs,
        pairs_requested=settings.pairs if engine == ChainEngine.MONTE_CARLO.value else 0,
        pairs_per_s=pairs_per_s,
        mean_fidelity=float(mean_state[0]),
        fidelity_ci95=fidelity_ci95,
        waiting_time_s=waiting,
        mean_state=(float(mean_state[0]), float(mean_state[1]), float(mean_state[2]), float(mean_state[3])),
        secret_fraction=fraction,
        secret_key_rate_bps=pairs_per_s * fraction,
        chsh=float(bell.chsh_standard(mean_state)),
        plob_bps=float(plob_bound(total)) * uses_per_s,
        link_success_prob=model.link.success_prob,
        link_attempt_period_s=model.link.attempt_period_s,
        link_fidelity=model.link.state[0],
        wall_s=wall_s,
        link_channels=model.link.channels,
        communication_qubits=preset.node.communication_qubits,
    )


def summarise(
    settings: RepeaterSettings,
    model: ChainModel,
    deliveries: Deliveries,
    *,
    engine: str,
    wall_s: float,
    hardware: HardwarePreset | None = None,
) -> RepeaterResult:
    """Rates, fidelity statistics and key of the drawn deliveries (``hardware``: as in :func:`hardware_of`)."""
    rounds = deliveries.round_s
    fidelities = deliveries.states[:, 0]
    mean_f = float(fidelities.mean())
    se = float(fidelities.std(ddof=1) / math.sqrt(fidelities.size)) if fidelities.size > 1 else 0.0
    return _result(
        settings,
        model,
        engine=engine,
        pairs=int(rounds.size),
        mean_state=deliveries.states.mean(axis=0),
        fidelity_ci95=(mean_f - _Z95 * se, mean_f + _Z95 * se),
        waiting=WaitingTimes(mean=float(rounds.mean()), p50=_quantile(rounds, 0.5), p99=_quantile(rounds, 0.99)),
        wall_s=wall_s,
        hardware=hardware,
    )


def hardware_of(settings: RepeaterSettings, hardware: HardwarePreset | None = None) -> HardwarePreset:
    """The hardware a run uses: ``hardware`` (or the named preset) with the settings' communication qubits."""
    preset = hardware or repeater_preset(settings.preset)
    k = settings.communication_qubits
    if k is None or k == preset.node.communication_qubits:
        return preset
    node = dataclasses.replace(preset.node, communication_qubits=k, memory_qubits=max(preset.node.memory_qubits, k))
    return dataclasses.replace(preset, node=node)


def _model_of(settings: RepeaterSettings, hardware: HardwarePreset | None = None) -> ChainModel:
    step = (
        None
        if settings.purify is None
        else PurifyStep(
            protocol=settings.purify,
            rounds=settings.purify_rounds,
            schedule=settings.purify_schedule,
            levels=settings.purify_levels,
        )
    )
    return compile_chain(
        hardware_of(settings, hardware),
        nodes=settings.nodes,
        length_km=settings.length_km,
        cutoff_s=settings.cutoff_s,
        purify=step,
        mode=settings.mode,
    )


def run_repeater_chain(
    settings: RepeaterSettings,
    engine: ChainEngine = ChainEngine.MONTE_CARLO,
    *,
    hardware: HardwarePreset | None = None,
) -> RepeaterResult:
    """What the chain delivers: ``settings.pairs`` end-to-end pairs drawn (Monte-Carlo), the exact answer
    (analytic, :func:`analytic_chain`), or pairs simulated event by event on the kernel with swaps as soon as
    possible (:data:`ChainEngine.EVENTS_ASAP`, :mod:`qinternet.network.repeater_events`). ``hardware`` replaces
    the named preset's (e.g. the same nodes with better memories); the result keeps the name."""
    hardware = hardware_of(settings, hardware)
    model = _model_of(settings, hardware)
    started = time.perf_counter()
    if engine is ChainEngine.ANALYTIC:
        return analytic_chain(settings, model, hardware)
    if engine is ChainEngine.EVENTS_ASAP:
        from qinternet.network.repeater_events import run_events

        deliveries = run_events(model, settings.pairs, check_seed(settings.seed), "asap")
        wall_s = time.perf_counter() - started
        return summarise(settings, model, deliveries, engine=engine.value, wall_s=wall_s, hardware=hardware)
    deliveries = _draw_within_budget(model, settings.pairs, np.random.default_rng(check_seed(settings.seed)))
    wall_s = time.perf_counter() - started
    return summarise(settings, model, deliveries, engine=engine.value, wall_s=wall_s, hardware=hardware)


PILOT_PAIRS = 10
"""Pairs drawn first to learn what one costs, when the pairs asked for might not fit :data:`MAX_LINK_DRAWS`."""


def _draw_within_budget(model: ChainModel, pairs: int, rng: np.random.Generator) -> Deliveries:
    """``pairs`` deliveries, or as many as :data:`~qinternet.entanglement.chain.MAX_LINK_DRAWS` elementary links
    allow (a cut-off that links rarely meet makes each pair cost many): a pilot of :data:`PILOT_PAIRS` measures
    the cost of a pair, the rest are drawn within what is left. Too few pairs to say anything (the pilot does
    not fit) is an error naming the cut-off."""
    if pairs <= PILOT_PAIRS:
        return sample_chain(model, pairs, rng, max_link_draws=MAX_LINK_DRAWS)
    pilot = sample_chain(model, PILOT_PAIRS, rng, max_link_draws=MAX_LINK_DRAWS)
    per_pair = max(pilot.link_draws / PILOT_PAIRS, 1.0)
    affordable = int((MAX_LINK_DRAWS - pilot.link_draws) / (2.0 * per_pair))  # twice: the cost varies
    more = min(pairs - PILOT_PAIRS, max(affordable, 0))
    if more == 0:
        return pilot
    rest = sample_chain(model, more, rng, max_link_draws=MAX_LINK_DRAWS)
    return Deliveries(
        round_s=np.concatenate([pilot.round_s, rest.round_s]),
        states=np.concatenate([pilot.states, rest.states]),
        attempts=np.concatenate([pilot.attempts, rest.attempts]),
        link_draws=pilot.link_draws + rest.link_draws,
    )


def _per_qubit_rates(memory: MemoryParams) -> tuple[float, float, float]:
    """Decay rates (1/s) of the three non-trivial Walsh components of one stored qubit: ``1/T1`` for the first,
    ``1/T2`` for the others (:func:`qinternet.physics.memory.memory_pauli_channel`: the component factors are
    ``exp(-t/T1)``, ``exp(-t/T2)``, ``exp(-t/T2)``)."""
    if memory.dephasing is not Dephasing.EXPONENTIAL:
        raise ParameterError("engine", "analytic: only memories with exponential dephasing; use monte-carlo")
    return 1.0 / memory.t1_s, 1.0 / memory.t2_s, 1.0 / memory.t2_s


def analytic_chain(
    settings: RepeaterSettings, model: ChainModel | None = None, hardware: HardwarePreset | None = None
) -> RepeaterResult:
    """The exact waiting-time distribution and mean delivered state of a nested chain of ``2**n`` links.

    Each non-trivial Walsh component of the pair (:func:`qinternet.states.bell.walsh`) multiplies under swapping
    and decays exponentially in memory, exactly like a Werner parameter; so the exact engine of Brand, Coopmans,
    Elkouss (:func:`qinternet.entanglement.analytic.waiting_time_and_werner`, time in attempts of the elementary
    link) gives the mean of each component, with the component's fresh value and coherence time, and the
    swaps' noise multiplies it once per swap. The mean state is the inverse transform.

    Memories dephased by their node's attempts (:attr:`ChainModel.attempt_dephasing_prob` ``p``, one communication
    qubit, Kalb et al., PRA 97, 062330 (2018), eq. (2)): at every swap the half made first waits while the other is
    made, and its qubit at the swapping node sees each attempt of the other half's first elementary link, which
    multiplies the two coherence components (Walsh 2 and 3, not the Z-type 1) by ``1 - 2p``. The exact engine
    carries the generating function ``E[(1 - 2p)**F]`` of those attempts jointly with the waiting time and the
    component, level by level (:mod:`qinternet.entanglement.analytic`, ``attempt_factor``: the derivation); on three
    nodes ``F`` is the second link's geometric number of attempts.

    Raises:
        ParameterError: naming ``engine`` for what it does not cover: nodes - 1 not a power of 2, purification,
            measure-directly, Gaussian dephasing, or a waiting-time distribution too long to hold.
    """
    hardware = hardware_of(settings, hardware)
    model = model or _model_of(settings, hardware)
    started = time.perf_counter()
    links = model.links
    if links & (links - 1):
        raise ParameterError("engine", "analytic: nodes - 1 must be a power of 2 (nested swapping); use monte-carlo")
    if model.purify is not None:
        raise ParameterError("engine", "analytic: no purification; use monte-carlo")
    if model.mode is DeliveryMode.MEASURE_DIRECTLY and links > 1:
        raise ParameterError("engine", "analytic: create-and-keep only; use monte-carlo")
    coherence_per_attempt = 1.0 - 2.0 * model.attempt_dephasing_prob  # of a stored qubit, per attempt it sees
    period = model.link.attempt_period_s
    fresh = bell.walsh(model.link.state)
    swap = bell.walsh(model.swap_error)
    cutoff = None if model.cutoff_s is None else math.floor(model.cutoff_s / period)
    delay = model.delivery_delay_s
    means = [1.0]
    # A delivered component is the product of its links' fresh values and of decay factors that depend on times
    # and attempts only, so its mean is fresh**links times that of fresh = 1: components that decay alike (the two
    # coherence components) share one computation.
    computed: dict[tuple[float, float], AnalyticChainResult] = {}
    for j, rate in enumerate(_per_qubit_rates(hardware.node.memory), start=1):
        if not 0.0 <= fresh[j] <= 1.0:
            raise ParameterError("engine", "analytic: a fresh link with a negative Walsh component; use monte-carlo")
        lost = 2.0 * rate * period  # per attempt waited, both qubits
        factor = coherence_per_attempt if j > 1 and links > 1 else 1.0  # Z flips leave component 1
        if (lost, factor) not in computed:
            computed[lost, factor] = waiting_time_and_werner(
                AbstractChainParams(
                    p_gen=model.link.round_success_prob,
                    p_swap=model.swap_success_prob,
                    segments=links,
                    w0=1.0,
                    coherence_attempts=None if lost == 0.0 else 1.0 / lost,
                    cutoff_attempts=cutoff,
                    sequential=model.sequential,
                ),
                attempt_factor=factor,
            )
        exact = computed[lost, factor]
        component = float(fresh[j]) ** links * exact.mean_werner
        means.append(component * float(swap[j]) ** (links - 1) * math.exp(-2.0 * rate * delay))
    mean_state = np.clip(bell.from_walsh(np.array(means)), 0.0, 1.0)
    waiting = WaitingTimes(
        mean=exact.mean_waiting_attempts * period + delay,
        p50=exact.p50_waiting_attempts * period + delay,
        p99=exact.p99_waiting_attempts * period + delay,
    )
    f = float(mean_state[0])
    return _result(
        settings,
        model,
        engine=ChainEngine.ANALYTIC.value,
        pairs=0,
        mean_state=mean_state,
        fidelity_ci95=(f, f),
        waiting=waiting,
        wall_s=time.perf_counter() - started,
        hardware=hardware,
    )
