"""Key produced by a fibre link, block by block, with the finite-key length of every block.

A block is ``block_s`` seconds of pulses at the source's repetition rate. Its counts per intensity
class and basis are either their expectations (``model: analytic``, :func:`qinternet.qkd.finite_key.
expected_counts`) or a draw of the Monte-Carlo link (``model: monte-carlo``: one multinomial draw over
the categories of :func:`qinternet.qkd.montecarlo.compile_link`, exact for the counts when the
detectors have no dead time); the block's secret key is Lim et al.'s length (PRA 89, 022307 (2014),
eq. (1), :func:`qinternet.qkd.finite_key.finite_key_length`) with error correction leaking
``f n_X h(E)``. As an operator would, a link runs at the settings that maximise its finite-key rate for
its block size (Lim et al., Sec. IV: ``q_x``, the intensities and their probabilities), unless the
scenario fixes them (``optimise_settings: false``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qinternet.network.simulate import BlockRecord, LinkRunner
from qinternet.params import QkdSystem
from qinternet.physics.channels import fibre_channel
from qinternet.qkd.finite_key import (
    DecoyCounts,
    FiniteKeyBounds,
    FiniteKeyParams,
    expected_counts,
    finite_key_length,
    finite_key_rate,
)
from qinternet.qkd.montecarlo import LinkSampler, compile_link
from qinternet.qkd.record import Basis
from qinternet.sim import Process, ProcessGenerator, ps_to_seconds, seconds_to_ps

__all__ = ["BlockOutcome", "FibreLinkEngine", "draw_counts", "fibre_runner", "tuned_system"]


@functools.lru_cache(maxsize=1024)
def tuned_system(system: QkdSystem, distance_km: float, block_pulses: float, security: FiniteKeyParams) -> QkdSystem:
    """``system`` with the basis and intensity settings that maximise the finite-key rate of a block.

    Keeps the system's own settings when no setting gives a key (the link is then too long anyway).
    Cached: links of a scenario often share devices and lengths, and the optimisation takes ~0.3 s.
    """
    point = finite_key_rate(
        system, fibre_channel(system.fibre, distance_km), block_pulses=block_pulses, params=security
    )
    if point.key_rate_per_pulse <= 0.0:
        return system
    mu1, mu2, mu3 = point.intensities
    source = dataclasses.replace(
        system.source,
        signal_intensity=mu1,
        decoy_intensities=(mu2, mu3),
        intensity_probs=point.intensity_probs,
    )
    return dataclasses.replace(system, source=source, basis_prob=point.key_basis_prob)


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockOutcome:
    """One block of a link.

    Attributes:
        key_bits: secret bits the block adds to the pool (0 when its bounds abort).
        sifted_bits: key-basis detections ``n_X`` (the input of error correction).
        qber: error rate in the key basis.
        aborted: the finite-key bounds left no key.
    """

    key_bits: int
    sifted_bits: float
    qber: float
    aborted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FibreLinkEngine:
    """Makes the blocks of one decoy-BB84 link over ``distance_km`` of fibre.

    Attributes:
        system: the devices, at the settings the link runs.
        distance_km: fibre length.
        block_pulses: pulses per block.
        security: ``eps_sec``, ``eps_cor`` of every block.
        monte_carlo: draw the counts (True) or take their expectations.
    """

    system: QkdSystem
    distance_km: float
    block_pulses: int
    security: FiniteKeyParams
    monte_carlo: bool
    _expected: DecoyCounts = field(init=False, repr=False)
    _expected_outcome: BlockOutcome = field(init=False, repr=False)
    _sampler: LinkSampler | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        channel = fibre_channel(self.system.fibre, self.distance_km)
        counts = expected_counts(self.system, channel, block_pulses=float(self.block_pulses))
        object.__setattr__(self, "_expected", counts)
        object.__setattr__(self, "_expected_outcome", self._outcome(counts))
        sampler = compile_link(self.system, channel) if self.monte_carlo else None
        object.__setattr__(self, "_sampler", sampler)

    @property
    def expected_counts(self) -> DecoyCounts:
        """Expected counts of one block."""
        return self._expected

    @property
    def expected_block(self) -> BlockOutcome:
        """The block of expected counts (the analytic model's every block)."""
        return self._expected_outcome

    def bounds(self, counts: DecoyCounts) -> FiniteKeyBounds:
        """Lim et al.'s bounds and key length for a block's counts."""
        return finite_key_length(counts, params=self.security, ec_efficiency=self.system.ec_efficiency)

    def _outcome(self, counts: DecoyCounts) -> BlockOutcome:
        bounds = self.bounds(counts)
        n_x = sum(counts.key_detections)
        errors = sum(counts.key_errors)
        return BlockOutcome(
            key_bits=int(bounds.key_length_bits),
            sifted_bits=n_x,
            qber=errors / n_x if n_x > 0 else math.nan,
            aborted=bounds.aborted,
        )

    def block(self, rng: np.random.Generator) -> BlockOutcome:
        """The next block: the expected one, or a Monte-Carlo draw of its counts."""
        if self._sampler is None:
            return self._expected_outcome
        return self._outcome(draw_counts(self._sampler, self.system, self.block_pulses, rng))


def draw_counts(sampler: LinkSampler, system: QkdSystem, pulses: int, rng: np.random.Generator) -> DecoyCounts:
    """Counts of ``pulses`` pulses from one multinomial draw over the sampler's categories.

    The categories are (class, Alice's basis, Bob's basis, outcome) with outcome none, right, wrong or
    double click; a double click is a random bit (squashing), so half of them are errors in expectation
    and are split binomially here. Dead time is not applied (it couples neighbouring slots).
    """
    counts = rng.multinomial(pulses, sampler.flat_probabilities).reshape(sampler.probabilities.shape)
    right, wrong, double = counts[..., 1], counts[..., 2], counts[..., 3]
    double_wrong = rng.binomial(double, 0.5)
    detections = right + wrong + double  # shape (K, 2, 2): class, Alice's basis, Bob's basis
    errors = wrong + double_wrong
    z, x = int(Basis.Z), int(Basis.X)

    def per_class(values: NDArray[np.int64], basis: int) -> tuple[float, ...]:
        return tuple(float(v) for v in values[:, basis, basis])

    return DecoyCounts(
        intensities=system.source.intensities,
        intensity_probs=system.source.intensity_probs,
        key_detections=per_class(detections, z),
        key_errors=per_class(errors, z),
        test_detections=per_class(detections, x),
        test_errors=per_class(errors, x),
    )


def fibre_runner(engine: FibreLinkEngine, block_s: float) -> LinkRunner:
    """The process body of a fibre link: a block every ``block_s`` seconds, forever."""
    block_ps = seconds_to_ps(block_s)

    def run(proc: Process, deliver: Callable[[BlockRecord], None]) -> ProcessGenerator:
        while True:
            yield block_ps  # a bare int is a timeout of that many ps (the kernel's fastest form)
            outcome = engine.block(proc.rng)
            deliver(
                BlockRecord(
                    end_s=ps_to_seconds(proc.kernel.now_ps),
                    duration_s=block_s,
                    key_bits=outcome.key_bits,
                    sifted_bits=outcome.sifted_bits,
                    qber=outcome.qber,
                    aborted=outcome.aborted,
                )
            )

    return run
