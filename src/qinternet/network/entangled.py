"""Key between two users who share photon pairs from an entanglement source (no trusted node between them).

One source (SPDC, polarisation-entangled) serves several user pairs by wavelength multiplexing, each
pair on its own pair of frequency channels, as in the trusted-node-free metropolitan network of Joshi
et al., Sci. Adv. 6, eaba0959 (2020). A pair's link is BBM92 with the source ``length_a_km`` from one
user and ``length_b_km`` from the other (:func:`qinternet.qkd.bbm92.bbm92_observables_arms`: coincidence
gain ``Q`` and error ``E`` per pump pulse or coincidence window, exact for threshold detectors, equal to
Ma, Fung, Lo, PRA 76, 012307 (2007), eq. (9) for thermal pairs). The block's key is their eq. (11),
``q Q N [1 - f h(E) - h(E)]`` for ``N`` pulses with sifting ``q`` — the asymptotic rate: a finite-key
bound for BBM92 is not modelled yet, so blocks should hold many coincidences. The mean pair number is
the one that maximises that rate for the pair's arms (an operator sets the pump power per channel).

``model: monte-carlo`` draws the matched-basis coincidences binomially and their errors binomially, and
the block's key uses the observed error rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qinternet.network.simulate import BlockRecord, LinkRunner
from qinternet.params import QkdSystem
from qinternet.qkd.bbm92 import bbm92_observables_arms, fibre_arm, fibre_arms, party_transmittance
from qinternet.qkd.entropy import binary_entropy
from qinternet.sim import Process, ProcessGenerator, ps_to_seconds, seconds_to_ps

__all__ = ["EntanglementLinkEngine", "PairArms", "entanglement_runner", "shared_detector_backgrounds"]

_PAIR_GRID = np.geomspace(1e-4, 1.0, 241)
"""Mean pair numbers searched for the optimum (a 1.5 % grid: the rate is flat near its maximum)."""


def _key_fraction(system: QkdSystem, error_rate: float | np.ndarray) -> np.ndarray:
    """``1 - f h(E) - h(E)``, at least 0."""
    h = binary_entropy(np.asarray(error_rate, dtype=np.float64))
    return np.asarray(np.maximum(0.0, 1.0 - (1.0 + system.ec_efficiency) * h), dtype=np.float64)


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
    mean_pair_number: float = field(init=False)
    gain: float = field(init=False)
    error_rate: float = field(init=False)

    def __post_init__(self) -> None:
        grid = _PAIR_GRID if self.pump is None else np.array([self.pump])
        seen = bbm92_observables_arms(
            self.system,
            fibre_arms(self.system, self.length_a_km, self.length_b_km),
            grid,
            background_a=self.background_a,
            background_b=self.background_b,
        )
        rates = seen.gain * _key_fraction(self.system, seen.error_rate)
        best = int(np.argmax(rates))
        object.__setattr__(self, "mean_pair_number", float(grid[best]))
        object.__setattr__(self, "gain", float(seen.gain[best]))
        object.__setattr__(self, "error_rate", float(seen.error_rate[best]))

    @property
    def expected_key_bits(self) -> float:
        """Key of a block of expected counts."""
        sifted = self.block_pulses * self.system.sifting_factor * self.gain
        return sifted * float(_key_fraction(self.system, self.error_rate))

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
            end_s=end_s, duration_s=duration_s, key_bits=key, sifted_bits=sifted, qber=qber, aborted=key == 0
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


def entanglement_runner(engine: EntanglementLinkEngine, block_s: float) -> LinkRunner:
    """The process body of an entanglement link: a block every ``block_s`` seconds, forever."""
    block_ps = seconds_to_ps(block_s)

    def run(proc: Process, deliver: Callable[[BlockRecord], None]) -> ProcessGenerator:
        while True:
            yield block_ps  # a bare int is a timeout of that many ps (the kernel's fastest form)
            deliver(engine.block(proc.rng, block_s, ps_to_seconds(proc.kernel.now_ps)))

    return run
