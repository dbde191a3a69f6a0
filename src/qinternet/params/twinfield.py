"""Devices of a twin-field QKD link, by role: the two parties' sources and the middle station.

Twin-field QKD (Lucamarini, Yuan, Dynes, Shields, Nature 557, 400 (2018)) lets Alice and Bob each send a
phase-randomised weak coherent pulse to an untrusted station (Charlie) in the middle, which interferes
them on a beam splitter and announces which of its two detectors clicked. The roles here:

* :class:`SnsSourceParams` - a party's source for sending-or-not-sending (SNS) TF-QKD (Wang, Yu, Hu,
  PRA 98, 062323 (2018)): a Z-window probability, a sending probability and intensity in Z windows, and
  the decoy intensities of X windows. Both parties use the same source (the symmetric protocol).
* :class:`Sns3SourceParams` - the same party's source in the 3-intensity SNS protocol (vacuum and ``mu_1`` in
  X windows, the Z-window state as the strong decoy), the one the AOPP experiments use
  (:mod:`qinternet.qkd.tf_aopp`).
* :class:`PmSourceParams` - a party's source for phase-matching QKD (Ma, Zeng, Zhou, PRX 8, 031043 (2018)).
* :class:`InterferenceStationParams` - Charlie: the two detectors (each a
  :class:`~qinternet.params.devices.DetectorParams`), the misalignment of the interference, the residual
  noise of the phase reference and the width of the phase slice kept in X windows.
* :class:`PhaseReferenceParams` - how fast the relative phase of the two arms drifts and how old the
  phase estimate is when it is used (the check that a link's phase tracking can work at all lives in
  :mod:`qinternet.qkd.tf_phase`).

:data:`LIU2023` is the device set of the 1,002 km record of Liu et al., PRL 130, 210801 (2023), with the
figures the publication gives and qinternet's assumptions for those it was not possible to read (see its notes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qinternet.errors import ParameterError
from qinternet.params.checks import (
    require_at_most,
    require_finite,
    require_non_negative,
    require_positive,
    require_probability,
)
from qinternet.params.devices import (
    MAX_EC_EFFICIENCY,
    MAX_LOSS_DB_PER_KM,
    MAX_MEAN_PHOTONS,
    MAX_REP_RATE_HZ,
    DetectorParams,
)

__all__ = [
    "LIU2023",
    "MAX_PHASE_SLICES",
    "InterferenceStationParams",
    "PhaseReferenceParams",
    "PmSourceParams",
    "Sns3SourceParams",
    "SnsSourceParams",
    "TwinFieldDeviceSet",
]

MAX_PHASE_SLICES = 4096
"""Phase slices ``M`` of PM-QKD: the sifting factor is ``2/M``, so beyond a few thousand no key is left."""
MAX_PHASE_DRIFT_RAD_PER_S = 1e9
"""rad/s: the drift of deployed fibre is of order 1e3-1e4 rad/s; 1e9 only keeps the arithmetic finite."""
MAX_TRACKING_DELAY_S = 1e3
"""s: a phase estimate older than this tracks nothing (field links drift by radians within milliseconds)."""


def _require_x_probabilities(field: str, probs: tuple[float, float, float]) -> None:
    if len(probs) != 3:
        raise ParameterError(field, f"needs three probabilities (vacuum, mu_1, mu_2), got {len(probs)}")
    for i, p in enumerate(probs):
        require_probability(f"{field}[{i}]", p)
    if not math.isclose(sum(probs), 1.0, rel_tol=0.0, abs_tol=1e-9):
        raise ParameterError(field, f"must sum to 1, got {sum(probs)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SnsSourceParams:
    """One party's source in sending-or-not-sending TF-QKD (Wang, Yu, Hu, PRA 98, 062323 (2018)).

    In each time window a party chooses a Z (signal) window with probability ``z_window_prob`` and an X
    (decoy) window otherwise. In a Z window it sends a phase-randomised coherent pulse of mean photon
    number ``signal_intensity`` with probability ``sending_prob`` (Alice's bit 1, Bob's bit 0) and nothing
    otherwise. In an X window it sends vacuum, ``decoy_intensities[0]`` (``mu_1``) or
    ``decoy_intensities[1]`` (``mu_2``) with probabilities ``x_intensity_probs``; X windows in which both
    send ``mu_1`` and their phases match give the phase-flip error, the others the decoy estimate of the
    untagged yield.

    Attributes:
        z_window_prob: ``p_z``, in (0, 1).
        sending_prob: ``epsilon``, in (0, 1).
        signal_intensity: ``mu_z``, mean photon number of a sent Z pulse.
        decoy_intensities: ``(mu_1, mu_2)`` with ``0 < mu_1 < mu_2``.
        x_intensity_probs: ``(p_0, p_1, p_2)``, probabilities of vacuum, ``mu_1`` and ``mu_2`` in an X
            window; sum to 1. Only finite-size rates use them; the default is qinternet's choice.
        rep_rate_hz: time windows per second (default 1 GHz, as :class:`~qinternet.params.devices.WcpSourceParams`).
    """

    z_window_prob: float
    sending_prob: float
    signal_intensity: float
    decoy_intensities: tuple[float, float]
    x_intensity_probs: tuple[float, float, float] = (0.4, 0.4, 0.2)
    rep_rate_hz: float = 1e9

    def __post_init__(self) -> None:
        for field, value in (("source.z_window_prob", self.z_window_prob), ("source.sending_prob", self.sending_prob)):
            require_finite(field, value)
            if not 0.0 < value < 1.0:
                raise ParameterError(field, f"must be in (0, 1), got {value}")
        require_positive("source.signal_intensity", self.signal_intensity)
        require_at_most("source.signal_intensity", self.signal_intensity, MAX_MEAN_PHOTONS, "not a weak pulse")
        if len(self.decoy_intensities) != 2:
            raise ParameterError(
                "source.decoy_intensities", f"needs two intensities (mu_1, mu_2), got {len(self.decoy_intensities)}"
            )
        for i, mu in enumerate(self.decoy_intensities):
            require_positive(f"source.decoy_intensities[{i}]", mu)
            require_at_most(f"source.decoy_intensities[{i}]", mu, MAX_MEAN_PHOTONS, "not a weak pulse")
        if self.decoy_intensities[0] >= self.decoy_intensities[1]:
            raise ParameterError(
                "source.decoy_intensities",
                f"needs mu_1 < mu_2 for the decoy bound, got {self.decoy_intensities}",
            )
        _require_x_probabilities("source.x_intensity_probs", self.x_intensity_probs)
        require_positive("source.rep_rate_hz", self.rep_rate_hz)
        require_at_most("source.rep_rate_hz", self.rep_rate_hz, MAX_REP_RATE_HZ, "faster than any QKD source")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sns3SourceParams:
    """One party's source in the 3-intensity SNS protocol, the one the AOPP experiments use.

    Z windows as in :class:`SnsSourceParams` (send ``mu_z`` with probability ``epsilon``, else nothing); X
    windows send vacuum with probability ``x_vacuum_prob`` and ``mu_1`` otherwise. There is no second decoy
    intensity: the state of a Z window, ``(1 - epsilon)|0><0| + epsilon rho(mu_z)`` with ``rho(mu)`` the
    phase-randomised coherent state, is a known mixture of photon numbers and serves as the strong decoy
    (qinternet's reading of the "3-intensity" SNS protocol with its "advanced 3-intensity decoy-state
    method" that the 1,002 km experiment names, Liu et al., PRL 130, 210801 (2023), and its companion, Quantum
    Front. 2, 16 (2023)).

    Attributes:
        z_window_prob: ``p_z``, in (0, 1).
        sending_prob: ``epsilon``, in (0, 1).
        signal_intensity: ``mu_z``.
        decoy_intensity: ``mu_1``, with ``0 < mu_1 < mu_z`` (the decoy bound needs the weak state weaker).
        x_vacuum_prob: ``p_0``, probability of vacuum in an X window, in (0, 1); ``mu_1`` has ``1 - p_0``.
            Only finite-size rates use it; the default is qinternet's choice.
        rep_rate_hz: time windows per second.
    """

    z_window_prob: float
    sending_prob: float
    signal_intensity: float
    decoy_intensity: float
    x_vacuum_prob: float = 0.5
    rep_rate_hz: float = 1e9

    def __post_init__(self) -> None:
        for field, value in (
            ("source.z_window_prob", self.z_window_prob),
            ("source.sending_prob", self.sending_prob),
            ("source.x_vacuum_prob", self.x_vacuum_prob),
        ):
            require_finite(field, value)
            if not 0.0 < value < 1.0:
                raise ParameterError(field, f"must be in (0, 1), got {value}")
        for field, mu in (
            ("source.signal_intensity", self.signal_intensity),
            ("source.decoy_intensity", self.decoy_intensity),
        ):
            require_positive(field, mu)
            require_at_most(field, mu, MAX_MEAN_PHOTONS, "not a weak pulse")
        if self.decoy_intensity >= self.signal_intensity:
            raise ParameterError(
                "source.decoy_intensity",
                f"needs mu_1 < mu_z for the decoy bound, got {self.decoy_intensity} >= {self.signal_intensity}",
            )
        require_positive("source.rep_rate_hz", self.rep_rate_hz)
        require_at_most("source.rep_rate_hz", self.rep_rate_hz, MAX_REP_RATE_HZ, "faster than any QKD source")


@dataclass(frozen=True, slots=True, kw_only=True)
class PmSourceParams:
    """One party's source in phase-matching QKD (Ma, Zeng, Zhou, PRX 8, 031043 (2018)).

    Each party sends a coherent pulse of mean photon number ``intensity / 2`` with a random phase drawn
    from ``phase_slices`` values plus the key phase 0 or pi; rounds whose random phases match (or differ
    by pi) are kept, a fraction ``2 / M`` of them.

    Attributes:
        intensity: ``mu``, the mean photon number of the two pulses together.
        phase_slices: ``M``, the number of random phases (at least 2; the default 16 is qinternet's choice).
        rep_rate_hz: pulses per second.
    """

    intensity: float
    phase_slices: int = 16
    rep_rate_hz: float = 1e9

    def __post_init__(self) -> None:
        require_positive("source.intensity", self.intensity)
        require_at_most("source.intensity", self.intensity, MAX_MEAN_PHOTONS, "not a weak pulse")
        if isinstance(self.phase_slices, bool) or not isinstance(self.phase_slices, int):
            raise ParameterError("source.phase_slices", f"must be an integer, got {self.phase_slices!r}")
        if not 2 <= self.phase_slices <= MAX_PHASE_SLICES:
            raise ParameterError("source.phase_slices", f"must be in [2, {MAX_PHASE_SLICES}], got {self.phase_slices}")
        require_positive("source.rep_rate_hz", self.rep_rate_hz)
        require_at_most("source.rep_rate_hz", self.rep_rate_hz, MAX_REP_RATE_HZ, "faster than any QKD source")


@dataclass(frozen=True, slots=True, kw_only=True)
class InterferenceStationParams:
    """Charlie: a balanced beam splitter and two threshold detectors.

    The relative phase of the two pulses at the beam splitter is the difference of the parties' phases
    plus a residual error of the phase reference, modelled as Gaussian of rms ``phase_noise_rad``. On top
    of it, with probability ``misalignment_error`` a pulse pair ends up at the other detector (imperfect
    visibility of the interferometer: polarisation, timing and spectral mismatch). Both only matter in
    windows whose phases are used: SNS X windows, PM-QKD rounds.

    Attributes:
        detector: each of the two detectors (efficiency, dark-count probability per gate). After-pulses
            and dead time are not modelled by the twin-field protocols and must be 0.
        misalignment_error: ``e_d``, in [0, 1/2).
        phase_noise_rad: rms residual phase error of the phase reference, rad (0 for perfect tracking).
        phase_slice_rad: width ``D`` of the window of relative phases kept as "matched" in SNS X windows:
            ``|theta_A - theta_B| <= D/2`` (mod pi), in (0, 2 pi]. The default, 2 pi / 16, is qinternet's
            choice (16 slices, the number PM-QKD uses by default here).
    """

    detector: DetectorParams
    misalignment_error: float = 0.0
    phase_noise_rad: float = 0.0
    phase_slice_rad: float = 2.0 * math.pi / 16.0

    def __post_init__(self) -> None:
        for field, value in (
            ("after_pulse_prob", self.detector.after_pulse_prob),
            ("dead_time_s", self.detector.dead_time_s),
        ):
            if value > 0:
                raise ParameterError(
                    f"station.detector.{field}", "the twin-field models do not include it; set it to 0"
                )
        require_probability("station.misalignment_error", self.misalignment_error, upper=0.5, upper_open=True)
        require_non_negative("station.phase_noise_rad", self.phase_noise_rad)
        require_at_most("station.phase_noise_rad", self.phase_noise_rad, 2.0 * math.pi, "the phase is random")
        require_positive("station.phase_slice_rad", self.phase_slice_rad)
        require_at_most("station.phase_slice_rad", self.phase_slice_rad, 2.0 * math.pi, "wider than a full turn")

    @property
    def phase_error(self) -> float:
        """Error of a single photon from the phase noise alone: ``(1 - exp(-sigma^2/2)) / 2``.

        For a relative phase ``delta ~ N(0, sigma^2)`` a photon in ``(|01> + e^{i delta}|10>)/sqrt 2`` reaches
        the wrong output of a balanced beam splitter with probability ``sin^2(delta/2) = (1 - cos delta)/2``,
        and ``E[cos delta] = exp(-sigma^2/2)``.
        """
        return 0.5 * (1.0 - math.exp(-0.5 * self.phase_noise_rad**2))


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseReferenceParams:
    """How the relative phase of the two arms is tracked.

    The relative phase of the two fibres (and of the two lasers) drifts at ``drift_rate_rad_per_s``; the
    estimate that corrects a signal was taken ``tracking_delay_s`` earlier (the round trip of a feedback
    loop through the fibre, or the spacing of the reference pulses interleaved with the signals). The
    residual phase error is then of order ``drift_rate_rad_per_s * tracking_delay_s``
    (:attr:`residual_phase_noise_rad`).

    Attributes:
        drift_rate_rad_per_s: rms rate of the relative phase drift, rad/s.
        tracking_delay_s: age of the phase estimate when it is used, s.
    """

    drift_rate_rad_per_s: float
    tracking_delay_s: float

    def __post_init__(self) -> None:
        require_non_negative("phase_reference.drift_rate_rad_per_s", self.drift_rate_rad_per_s)
        require_at_most(
            "phase_reference.drift_rate_rad_per_s",
            self.drift_rate_rad_per_s,
            MAX_PHASE_DRIFT_RAD_PER_S,
            "no phase reference follows that",
        )
        require_non_negative("phase_reference.tracking_delay_s", self.tracking_delay_s)
        require_at_most(
            "phase_reference.tracking_delay_s",
            self.tracking_delay_s,
            MAX_TRACKING_DELAY_S,
            "an estimate that old tracks nothing",
        )

    @property
    def residual_phase_noise_rad(self) -> float:
        """``sigma = drift rate x delay``, rad: the rms phase error left by the tracking."""
        return self.drift_rate_rad_per_s * self.tracking_delay_s


@dataclass(frozen=True, slots=True, kw_only=True)
class TwinFieldDeviceSet:
    """A published twin-field set-up: its devices by role, its fibre and where they come from.

    Attributes:
        name: a short key.
        citation: the publication.
        notes: which figures come from the publication and which are qinternet's choices.
        source: the SNS source of each party (4-intensity :class:`SnsSourceParams` or 3-intensity
            :class:`Sns3SourceParams`).
        station: Charlie.
        ec_efficiency: error-correction inefficiency ``f >= 1``.
        fibre_loss_db_per_km: attenuation of the fibre of each arm, dB/km.
    """

    name: str
    citation: str
    notes: str
    source: SnsSourceParams | Sns3SourceParams
    station: InterferenceStationParams
    ec_efficiency: float
    fibre_loss_db_per_km: float

    def __post_init__(self) -> None:
        require_positive("ec_efficiency", self.ec_efficiency)
        require_at_most("ec_efficiency", self.ec_efficiency, MAX_EC_EFFICIENCY, "no code is that poor")
        if self.ec_efficiency < 1.0:
            raise ParameterError("ec_efficiency", f"must be >= 1 (Shannon limit), got {self.ec_efficiency}")
        require_non_negative("fibre.loss_db_per_km", self.fibre_loss_db_per_km)
        require_at_most("fibre.loss_db_per_km", self.fibre_loss_db_per_km, MAX_LOSS_DB_PER_KM, "lossier than any fibre")


# --- Liu et al. (2023): 1,002 km SNS TF-QKD with AOPP ----------------------------------------------------

_LIU2023_TOTAL_LOSS_DB = 156.5
"""dB: loss of the 1,002 km of spooled ultra-low-loss fibre, average below 0.157 dB/km (Liu et al. 2023, as
quoted by secondary sources that cite the paper's page; the press release of USTC says below 0.16 dB/km)."""
_LIU2023_LENGTH_KM = 1002.0
_LIU2023_NOISE_HZ = 0.02
"""Hz: "system noise around 0.02 Hz" per detector (abstract); the press release: detector noise 0.02 per second
after filtering at 40 K and 2.2 K."""
_LIU2023_BITS_PER_S = 0.0034
"""Secure key at 1,002 km, bit/s, asymptotic (Liu et al. 2023; also China News Service, 2023-05-27)."""
_LIU2023_BITS_PER_PULSE = 9.53e-12
"""Secure key at 1,002 km, bit per pulse, asymptotic (abstract)."""
_LIU2023_PULSE_RATE_HZ = _LIU2023_BITS_PER_S / _LIU2023_BITS_PER_PULSE
"""Time windows per second that the published per-pulse and per-second rates imply: ~3.57e8 (the 952 km pair,
8.75e-12 per pulse and 0.0031 bit/s, gives 3.54e8, the same within the rounding of 0.0031)."""
_LIU2023_DETECTION_WINDOW_S = 1e-9
"""s: qinternet's assumption, the detection window within which a click counts for a time window (one slot of
a GHz-class clock; the published rates imply at most 1/3.57e8 = 2.8 ns per window). Not published here."""

LIU2023 = TwinFieldDeviceSet(
    name="liu2023",
    citation=(
        "Liu et al., 'Experimental twin-field quantum key distribution over 1000 km fiber distance', "
        "PRL 130, 210801 (2023), arXiv:2303.15795; finite-key companion: Liu et al., Quantum Front. 2, 16 "
        "(2023), arXiv:2402.00005"
    ),
    notes=(
        "Published (abstracts of the PRL and of its companion; press release of USTC, 2023-05-26/27): "
        "3-intensity SNS with actively-odd-parity-pairing (AOPP); 1,002 km of spooled ultra-low-loss fibre, "
        "156.5 dB in total (below 0.157 dB/km); system noise ~0.02 Hz per detector; 9.53e-12 bit/pulse = "
        "0.0034 bit/s at 1,002 km (asymptotic), 8.75e-12 bit/pulse = 0.0031 bit/s at 952 km (finite size), "
        "3.11e-12 bit/pulse at 1,002 km (finite size, companion); 47.06 kbit/s at 202 km (PRL, press "
        "release) and 111.74 kbit/s at 202 km (companion; 23.44 kbit/s, 2.80 kbit/s and 338 bit/s at 303, 404 and "
        "505 km as a public benchmark list quotes it). Derived: 3.57e8 time windows per second (ratio of "
        "the per-second and per-pulse rates). Assumed by qinternet, because the paper's parameter table could "
        "not be read: a detection window of 1 ns, so 2e-11 noise clicks per window and detector; detector "
        "efficiency 0.6; X-window error e_d = 4 %; no extra phase noise; phase slice 2 pi/16; f = 1.16; "
        "p_z = 0.8; mu_1 = 0.05, vacuum probability 0.6 in X windows; mu_z = 0.45 and epsilon = 0.2 as "
        "starting points (the rate models optimise them). The window, e_d and the detector efficiency decide "
        "the 1,002 km rate: see tests/validation/test_tf_liu2023.py. With them the model's 1,002 km point sits at its "
        "noise cut-off (no finite-size key up to 3e15 windows), the experiment's did not: the paper's table and "
        "block sizes are needed to reproduce the finite-size figures there; from 202 to 505 km the model follows "
        "the companion's distance dependence within 1.5x."
    ),
    source=Sns3SourceParams(
        z_window_prob=0.8,
        sending_prob=0.2,
        signal_intensity=0.45,
        decoy_intensity=0.05,
        x_vacuum_prob=0.6,
        rep_rate_hz=_LIU2023_PULSE_RATE_HZ,
    ),
    station=InterferenceStationParams(
        detector=DetectorParams(efficiency=0.6, dark_count_prob=_LIU2023_NOISE_HZ * _LIU2023_DETECTION_WINDOW_S),
        misalignment_error=0.04,
        phase_noise_rad=0.0,
        phase_slice_rad=2.0 * math.pi / 16.0,
    ),
    ec_efficiency=1.16,
    fibre_loss_db_per_km=_LIU2023_TOTAL_LOSS_DB / _LIU2023_LENGTH_KM,
)
"""The 1,002 km SNS-AOPP TF-QKD record (Liu et al. 2023); see its ``notes`` for what is published and what is
assumed."""
