"""The contract every kind of link keeps: what a block produces, what an engine offers, how it is built.

A link of a scenario is a *spec* (its section of the file: a pydantic model on
:class:`~qinternet.network.schema_base.LinkSpecBase`), turned by its kind's *builder* into an *engine*
(:class:`LinkEngine`): the physics and protocol of :mod:`qinternet.physics` and :mod:`qinternet.qkd` at the
link's channel, devices and block size. The engine's :meth:`~LinkEngine.runner` is the process body that the
simulation kernel runs: it waits, makes a block, and delivers a :class:`BlockRecord`. The kinds are found in
:data:`qinternet.network.links.registry.LINK_KINDS`.

Engines may offer more than the contract; the report and the published-figure checks ask for it by
capability (:class:`RateCurve`, :class:`PassSchedule`, :class:`Monitored`), never by kind.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.network.schema_base import ScenarioError
from qinternet.qkd.finite_key import AbortReason
from qinternet.sim import Process, ProcessGenerator, ps_to_seconds, seconds_to_ps

if TYPE_CHECKING:
    from qinternet.network.attacks import ScheduledAttack
    from qinternet.network.links.free_space import FreeSpaceSpec, PassRecord
    from qinternet.network.satellite import GroundStation, Orbit
    from qinternet.network.schema import Scenario
    from qinternet.network.schema_base import LinkSpecBase
    from qinternet.qkd.finite_key import DecoyCounts

__all__ = [
    "MAX_BLOCKS_PER_LINK",
    "MAX_BLOCK_PULSES",
    "AbortReason",
    "Attackable",
    "BlockEngine",
    "BlockRecord",
    "BuildContext",
    "LinkEngine",
    "LinkRunner",
    "Monitored",
    "PassSchedule",
    "RateCurve",
    "block_pulses",
    "block_runner",
    "keyless_runner",
    "link_by_link",
    "next_block_end_s",
]

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockRecord:
    """What one block (or pass) of a link produced.

    Attributes:
        end_s: simulated time the block ended, s.
        duration_s: time the link transmitted for it, s.
        key_bits: secret bits added to the pool.
        sifted_bits: key-basis detections (heralded events, coincidences).
        qber: key-basis error rate.
        abort_reason: why the block gave no key (None: it gave some).
    """

    end_s: float
    duration_s: float
    key_bits: int
    sifted_bits: float
    qber: float
    abort_reason: AbortReason | None = None

    @property
    def aborted(self) -> bool:
        """The block gave no key."""
        return self.abort_reason is not None


def abort_reason_of(key_bits: float, reason: AbortReason | None = None) -> AbortReason | None:
    """``reason`` (or :attr:`AbortReason.NO_KEY`) when a block has no key, else None."""
    if key_bits > 0:
        return None
    return AbortReason.NO_KEY if reason is None else reason


LinkRunner = Callable[[Process, Callable[[BlockRecord], None]], ProcessGenerator]
"""A link's process body: yields kernel waits, reports each block to ``deliver``."""


class LinkEngine(Protocol):
    """What the simulation needs of a link, whatever its kind.

    Attributes:
        expected_rate_bps: secret key per second of the analytic model at the link's settings (satellites:
            averaged over the run), shown beside the simulated rate.
    """

    @property
    def expected_rate_bps(self) -> float: ...

    def runner(self) -> LinkRunner:
        """The process body of the link (one per run)."""
        ...


@runtime_checkable
class RateCurve(Protocol):
    """A link whose analytic key rate is a function of its length (the report's rate-against-length figure)."""

    @property
    def length_km(self) -> float: ...

    @property
    def expected_rate_bps(self) -> float: ...

    def rate_bps_at(self, length_km: ArrayLike) -> F64:
        """Analytic key rate of the link's devices and settings at other lengths, bit/s."""
        ...


@runtime_checkable
class Attackable(Protocol):
    """A link whose protocol models attacks in its detection statistics (:mod:`qinternet.network.attacks`)."""

    def under_attack(self, attacks: tuple[ScheduledAttack, ...]) -> LinkEngine:
        """The same link, with ``attacks`` acting on it at their times."""
        ...


@runtime_checkable
class Monitored(Protocol):
    """A link whose operator knows what an honest block looks like, and so can raise alarms
    (:mod:`qinternet.network.alarms`) when its blocks stop looking like it."""

    @property
    def baseline(self) -> BlockRecord:
        """The honest block: the expected counts of the model the link's blocks are drawn from."""
        ...


@runtime_checkable
class _Periodic(Protocol):
    """A link that ends a block every ``block_s`` seconds from the start (:func:`block_runner`)."""

    @property
    def block_s(self) -> float: ...


class _Pass(Protocol):
    @property
    def end_s(self) -> float: ...


@runtime_checkable
class _Passes(Protocol):
    """A link that delivers key at the end of each of its passes."""

    @property
    def passes(self) -> Sequence[_Pass]: ...


def next_block_end_s(engine: LinkEngine, after_s: float) -> float | None:
    """When the first block of ``engine`` that ends after ``after_s`` ends, s from the scenario's start:
    for links that end a block every ``block_s`` and links that make key in passes (the end of the next
    pass; None after the last); None for others (their blocks end when events say)."""
    if isinstance(engine, _Passes):
        return next((p.end_s for p in engine.passes if p.end_s > after_s), None)
    if isinstance(engine, _Periodic) and engine.block_s > 0:
        return (math.floor(after_s / engine.block_s + 1e-9) + 1) * engine.block_s
    return None


@runtime_checkable
class PassSchedule(Protocol):
    """A link that makes key in passes of a satellite over a ground station (the report's passes, the summary's
    satellite map, the published-figure checks)."""

    @property
    def passes(self) -> Sequence[PassRecord]: ...

    @property
    def duration_s(self) -> float: ...

    @property
    def sample_s(self) -> float: ...

    @property
    def station(self) -> GroundStation: ...

    @property
    def orbit(self) -> Orbit: ...

    @property
    def optics(self) -> FreeSpaceSpec: ...

    def counts(self, loss_db: F64, sample_s: float, sky_click_prob: F64 | None = None) -> DecoyCounts:
        """Expected counts of samples at the given channel losses."""
        ...

    def key_bits(self, counts: DecoyCounts) -> int:
        """Finite-key length of a pass's counts."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildContext:
    """What a kind's builder may need beyond its links' specs.

    Attributes:
        scenario: the whole scenario (node positions, orbits, the start time).
        duration_s: the run's length.
        on_progress: called with (link index, fraction of that link built) for progress bars.
    """

    scenario: Scenario
    duration_s: float
    on_progress: Callable[[int, float], None]

    @property
    def start_utc(self) -> datetime:
        """The scenario's start."""
        return self.scenario.time.start


LinkBuilder = Callable[[Mapping[int, "LinkSpecBase"], BuildContext], dict[int, "LinkEngine"]]
"""Builds the engines of all the links of one kind at once (by index in ``scenario.links``): links of a kind
may share devices (the pairs of one entanglement source share their users' detectors)."""

MAX_BLOCK_PULSES = 2**62
"""Most pulses a block may hold (the Monte-Carlo's counts are 64-bit integers)."""
MAX_BLOCKS_PER_LINK = 10_000_000
"""Most blocks a link may make in one run."""


def block_pulses(rep_rate_hz: float, block_s: float, path: str) -> int:
    """Pulses in a block of ``block_s`` seconds at ``rep_rate_hz``; a :class:`ScenarioError` naming
    ``path.block_s`` when that is none or more than :data:`MAX_BLOCK_PULSES`."""
    pulses = math.floor(rep_rate_hz * block_s)
    if pulses < 1:
        raise ScenarioError([(f"{path}.block_s", f"holds no pulse at {rep_rate_hz:g} Hz")])
    if pulses > MAX_BLOCK_PULSES:
        raise ScenarioError([(f"{path}.block_s", f"holds {pulses:.3g} pulses at {rep_rate_hz:g} Hz; at most 2^62")])
    return pulses


def link_by_link(make: Callable[[Any, str], LinkEngine]) -> LinkBuilder:
    """A builder that makes each link's engine on its own with ``make(spec, path)`` (``path``: ``links[i]``)."""

    def build(specs: Mapping[int, LinkSpecBase], context: BuildContext) -> dict[int, LinkEngine]:
        engines: dict[int, LinkEngine] = {}
        for index, spec in specs.items():
            engines[index] = make(spec, f"links[{index}]")
            context.on_progress(index, 1.0)
        return engines

    return build


class BlockEngine:
    """What an engine that makes a block every ``block_s`` seconds shares (a mixin for frozen dataclasses with
    the fields ``block_s`` and ``_expected_block``): its rate, its runner, and, without a Monte-Carlo, every block
    the expected one."""

    __slots__ = ()
    block_s: float
    _expected_block: BlockRecord

    @property
    def expected_block(self) -> BlockRecord:
        """The block of expected counts (ending after one block)."""
        return self._expected_block

    @property
    def expected_rate_bps(self) -> float:
        """Key per second of blocks of expected counts."""
        return self.expected_block.key_bits / self.block_s

    def block(self, rng: np.random.Generator, duration_s: float, end_s: float) -> BlockRecord:
        """The next block: the expected one (engines with a Monte-Carlo draw theirs)."""
        return dataclasses.replace(self.expected_block, end_s=end_s, duration_s=duration_s)

    def runner(self) -> LinkRunner:
        """A block every ``block_s`` seconds, forever."""
        return block_runner(self.block, self.block_s)


def block_runner(block: Callable[[np.random.Generator, float, float], BlockRecord], block_s: float) -> LinkRunner:
    """The process body of a link that makes a block every ``block_s`` seconds, forever.

    Args:
        block: makes a block from the process's random stream, the block's duration and its end time (s).
        block_s: seconds per block.
    """
    block_ps = seconds_to_ps(block_s)

    def run(proc: Process, deliver: Callable[[BlockRecord], None]) -> ProcessGenerator:
        while True:
            yield block_ps  # a bare int is a timeout of that many ps (the kernel's fastest form)
            deliver(block(proc.rng, block_s, ps_to_seconds(proc.kernel.now_ps)))

    return run


def keyless_runner() -> LinkRunner:
    """The process of a link that makes no key by itself (memory links, photonic teleportation): no block."""

    def run(proc: Process, deliver: Callable[[BlockRecord], None]) -> ProcessGenerator:
        del proc, deliver
        return
        yield  # a generator that ends at once

    return run
