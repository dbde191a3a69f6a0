"""Frozen parameter objects for the devices of a QKD link, with units in their field names.

A value object is valid from construction: ``__post_init__`` checks every field and raises
:class:`qinternet.errors.ParameterError` with the field's dotted path.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from qinternet.errors import ParameterError
from qinternet.params.checks import (
    require_at_most,
    require_finite,
    require_non_negative,
    require_open_unit,
    require_positive,
    require_probability,
)

__all__ = [
    "MAX_DEAD_TIME_PULSES",
    "DetectorParams",
    "FibreParams",
    "PairStatistics",
    "QkdSystem",
    "SpdcSourceParams",
    "WcpSourceParams",
    "dark_count_prob_from_background_yield",
]


MAX_DEAD_TIME_PULSES = 1e12
"""Longest dead time, in pulses, that a system accepts (a detector blind for longer detects nothing)."""

# Upper bounds of the device parameters: far beyond any real device, and low enough that every model's
# arithmetic stays finite (a loss of 1e308 dB/km overflowed numpy, a rate of 1e308 Hz printed nonsense).
MAX_LOSS_DB_PER_KM = 1e3
"""dB/km: plastic optical fibre, the lossiest that carries light over useful lengths, has ~1e2."""
MAX_LOSS_DB = 1e4
"""dB of fixed loss: a transmittance of 1e-1000 is zero in every model."""
MAX_MEAN_PHOTONS = 1e3
"""Photons (or pairs) per pulse: QKD sources send below one; beyond 1e3 a pulse is classical light."""
MAX_REP_RATE_HZ = 1e12
"""Hz: the fastest QKD sources run at about 1e10."""
MAX_EC_EFFICIENCY = 10.0
"""Error-correction inefficiency f: codes in use have f below 1.5; at 10 no key survives any QBER."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FibreParams:
    """A single-mode fibre: attenuation per km and a fixed insertion loss (connectors, splices).

    Attributes:
        loss_db_per_km: attenuation, dB/km (0.2 dB/km for ultra-low-loss fibre at 1550 nm).
        insertion_loss_db: distance-independent loss, dB.
    """

    loss_db_per_km: float = 0.2
    insertion_loss_db: float = 0.0

    def __post_init__(self) -> None:
        require_non_negative("fibre.loss_db_per_km", self.loss_db_per_km)
        require_at_most("fibre.loss_db_per_km", self.loss_db_per_km, MAX_LOSS_DB_PER_KM, "lossier than any fibre")
        require_non_negative("fibre.insertion_loss_db", self.insertion_loss_db)
        require_at_most("fibre.insertion_loss_db", self.insertion_loss_db, MAX_LOSS_DB, "no photon would arrive")


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorParams:
    """Bob's (or one party's) pair of threshold single-photon detectors.

    Attributes:
        efficiency: detection efficiency including the receiver's optical loss, in (0, 1].
        dark_count_prob: dark-count probability per gate *of each detector*; the background yield of
            the pair is ``Y0 = 1 - (1 - dark_count_prob)**2``.
        after_pulse_prob: probability that a click is followed by an after-pulse click, in [0, 1).
        dead_time_s: time after a click during which the detectors are blind, s.
    """

    efficiency: float
    dark_count_prob: float
    after_pulse_prob: float = 0.0
    dead_time_s: float = 0.0

    def __post_init__(self) -> None:
        require_open_unit("detector.efficiency", self.efficiency)
        require_probability("detector.dark_count_prob", self.dark_count_prob, upper=0.5, upper_open=True)
        require_probability("detector.after_pulse_prob", self.after_pulse_prob, upper_open=True)
        require_non_negative("detector.dead_time_s", self.dead_time_s)

    @property
    def background_yield(self) -> float:
        """``Y0``: probability that at least one of the two detectors clicks without a signal."""
        return 1.0 - (1.0 - self.dark_count_prob) ** 2


def dark_count_prob_from_background_yield(y0: float) -> float:
    """Per-detector dark-count probability ``p_d`` with ``1 - (1 - p_d)**2 == y0``.

    Ma et al., PRA 72, 012326 (2005) quote the background yield ``Y0`` of Bob's detector pair; qinternet
    models each detector, so presets convert with this function.

    >>> round(dark_count_prob_from_background_yield(1.7e-6) * 1e7, 3)
    8.5
    """
    require_probability("background_yield", y0, upper_open=True)
    return 1.0 - math.sqrt(1.0 - y0)


@dataclass(frozen=True, slots=True, kw_only=True)
class WcpSourceParams:
    """A phase-randomised weak-coherent-pulse source with decoy intensities.

    Each pulse carries a Poisson-distributed photon number of mean ``intensities[k]`` with probability
    ``intensity_probs[k]``; class 0 is the signal.

    Attributes:
        signal_intensity: mean photon number ``mu`` of signal pulses.
        decoy_intensities: mean photon numbers of the decoy classes, each below ``signal_intensity``
            (0 for a vacuum decoy).
        intensity_probs: probability of each class, signal first; sums to 1.
        rep_rate_hz: pulse repetition rate, Hz.
    """

    signal_intensity: float
    decoy_intensities: tuple[float, ...] = ()
    intensity_probs: tuple[float, ...] = (1.0,)
    rep_rate_hz: float = 1e9

    def __post_init__(self) -> None:
        require_positive("source.signal_intensity", self.signal_intensity)
        require_at_most("source.signal_intensity", self.signal_intensity, MAX_MEAN_PHOTONS, "not a weak pulse")
        for i, nu in enumerate(self.decoy_intensities):
            require_non_negative(f"source.decoy_intensities[{i}]", nu)
            if nu >= self.signal_intensity:
                raise ParameterError(
                    f"source.decoy_intensities[{i}]",
                    f"must be below the signal intensity {self.signal_intensity}, got {nu}",
                )
        if len(self.intensity_probs) != 1 + len(self.decoy_intensities):
            raise ParameterError(
                "source.intensity_probs",
                f"needs one probability per class (signal + {len(self.decoy_intensities)} decoys), "
                f"got {len(self.intensity_probs)}",
            )
        for i, p in enumerate(self.intensity_probs):
            require_probability(f"source.intensity_probs[{i}]", p)
        if self.intensity_probs[0] <= 0.0:
            raise ParameterError("source.intensity_probs[0]", "the signal class needs a probability > 0")
        if not math.isclose(sum(self.intensity_probs), 1.0, rel_tol=0.0, abs_tol=1e-9):
            raise ParameterError("source.intensity_probs", f"must sum to 1, got {sum(self.intensity_probs)}")
        require_positive("source.rep_rate_hz", self.rep_rate_hz)
        require_at_most("source.rep_rate_hz", self.rep_rate_hz, MAX_REP_RATE_HZ, "faster than any QKD source")

    @property
    def intensities(self) -> tuple[float, ...]:
        """All class intensities, signal first."""
        return (self.signal_intensity, *self.decoy_intensities)


class PairStatistics(enum.Enum):
    """Photon-pair-number statistics of a spontaneous parametric down-conversion source."""

    THERMAL = "thermal"
    """Single-spatial-mode SPDC: two thermal polarisation modes (Ma, Fung, Lo, PRA 76, 012307 (2007))."""
    POISSON = "poisson"
    """Many-mode SPDC (pulse much longer than the coherence time): Poisson pair number."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SpdcSourceParams:
    """A polarisation-entangled SPDC pair source.

    Attributes:
        mean_pair_number: mean number of photon pairs per pulse (``2 lambda`` in Ma, Fung, Lo 2007).
        statistics: pair-number distribution.
        rep_rate_hz: pump repetition rate, Hz.
    """

    mean_pair_number: float = 0.1
    statistics: PairStatistics = PairStatistics.THERMAL
    rep_rate_hz: float = 1e9

    def __post_init__(self) -> None:
        require_positive("spdc.mean_pair_number", self.mean_pair_number)
        require_at_most("spdc.mean_pair_number", self.mean_pair_number, MAX_MEAN_PHOTONS, "not a pair source")
        require_positive("spdc.rep_rate_hz", self.rep_rate_hz)
        require_at_most("spdc.rep_rate_hz", self.rep_rate_hz, MAX_REP_RATE_HZ, "faster than any QKD source")


DEFAULT_MEAN_PAIR_NUMBER = 0.1
"""Mean pair number per pulse of the default pair source (qinternet's choice; BBM92 optimises its pump anyway)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QkdSystem:
    """Everything that defines a point-to-point QKD system, apart from its length.

    Attributes:
        fibre: the channel's attenuation and insertion loss.
        detector: Bob's detectors (for BBM92: each party's detectors).
        source: the weak-coherent-pulse source of prepare-and-measure protocols.
        spdc: the pair source of entanglement-based protocols (BBM92), or None for a prepare-and-measure set-up,
            which then lends BBM92 the default pair source (:attr:`pair_source`).
        misalignment_error: probability ``e_d`` that a photon reaches the wrong detector, in [0, 0.5].
        ec_efficiency: error-correction inefficiency ``f >= 1`` (leak = f n H2(E)).
        basis_prob: probability that each party chooses the Z basis; the sifting factor is
            ``basis_prob**2 + (1 - basis_prob)**2`` (1/2 for standard BB84).
    """

    fibre: FibreParams
    detector: DetectorParams
    source: WcpSourceParams
    spdc: SpdcSourceParams | None = None
    misalignment_error: float
    ec_efficiency: float
    basis_prob: float = 0.5

    def __post_init__(self) -> None:
        require_probability("misalignment_error", self.misalignment_error, upper=0.5)
        if self.detector.dead_time_s * self.source.rep_rate_hz > MAX_DEAD_TIME_PULSES:
            raise ParameterError(
                "detector.dead_time_s",
                f"spans more than {MAX_DEAD_TIME_PULSES:g} pulses at {self.source.rep_rate_hz:g} Hz",
            )
        require_positive("ec_efficiency", self.ec_efficiency)
        require_at_most("ec_efficiency", self.ec_efficiency, MAX_EC_EFFICIENCY, "no code is that poor")
        if self.ec_efficiency < 1.0:
            raise ParameterError("ec_efficiency", f"must be >= 1 (Shannon limit), got {self.ec_efficiency}")
        require_finite("basis_prob", self.basis_prob)
        if not 0.0 < self.basis_prob < 1.0:
            raise ParameterError("basis_prob", f"must be in (0, 1), got {self.basis_prob}")

    @property
    def pair_source(self) -> SpdcSourceParams:
        """The pair source BBM92 runs on: ``spdc``, or the default pair source at the WCP source's repetition rate
        (:data:`DEFAULT_MEAN_PAIR_NUMBER`, thermal statistics: a single-mode SPDC source, Ma, Fung, Lo, PRA 76,
        012307 (2007), Sec. III)."""
        if self.spdc is not None:
            return self.spdc
        return SpdcSourceParams(
            mean_pair_number=DEFAULT_MEAN_PAIR_NUMBER,
            statistics=PairStatistics.THERMAL,
            rep_rate_hz=self.source.rep_rate_hz,
        )

    def default_role(self, name: str) -> SpdcSourceParams:
        """The device a role left empty stands for (changes to ``spdc`` start from :attr:`pair_source`)."""
        if name != "spdc":
            raise ParameterError(name, "has no default")
        return self.pair_source

    @property
    def sifting_factor(self) -> float:
        """Fraction of detections in which Alice's and Bob's bases agree."""
        return self.basis_prob**2 + (1.0 - self.basis_prob) ** 2
