"""Device roles of the entanglement layer: quantum memories, emitters, frequency converters, heralding stations.

Frozen values with units in their field names, checked on construction; a bad value raises
:class:`~qinternet.errors.ParameterError` naming the field (``"memory.t2_s"``, ``"emitter.collection_efficiency"``).
The physics that uses them lives in :mod:`qinternet.physics.memory`, :mod:`~qinternet.physics.emitters`,
:mod:`~qinternet.physics.conversion`, :mod:`~qinternet.physics.heralding` and :mod:`~qinternet.physics.bsm`.

Conventions: an *efficiency* is a probability in (0, 1]; a *fidelity* lies in [0, 1]; times are seconds
(``math.inf`` where a device has no such decay, e.g. ``t1_s`` of a memory without energy relaxation).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from qinternet.errors import ParameterError
from qinternet.params.checks import (
    require_at_most,
    require_non_negative,
    require_open_unit,
    require_positive,
    require_probability,
)
from qinternet.params.devices import DetectorParams

__all__ = [
    "MAX_MODES",
    "ConversionParams",
    "Dephasing",
    "EmitterKind",
    "EmitterParams",
    "HeraldingScheme",
    "HeraldingStationParams",
    "MemoryParams",
    "NodeHardware",
]

MAX_MODES = 10**7
"""Memory modes: the largest multimode memories store ~1e3 temporal modes; beyond 1e7 a preset is a typo."""
MAX_WAVELENGTH_NM = 1e5
"""nm: optical and infrared photons only (100 um)."""


def require_time_or_inf(field: str, value: float) -> None:
    """Require ``value > 0`` seconds, with ``math.inf`` allowed (no such decay)."""
    if math.isnan(value) or value <= 0.0:
        raise ParameterError(field, f"must be > 0 s (inf for no decay), got {value}")


def require_count(field: str, value: int, upper: int) -> None:
    """Require an integer count ``1 <= value <= upper``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
        raise ParameterError(field, f"must be an integer in [1, {upper}], got {value!r}")


def _require_wavelength(field: str, value: float) -> None:
    require_positive(field, value)
    require_at_most(field, value, MAX_WAVELENGTH_NM, "not an optical photon")


class Dephasing(enum.Enum):
    """Shape of the coherence decay of a stored qubit."""

    EXPONENTIAL = "exponential"
    """Markovian dephasing, coherence ``exp(-t/T2)`` (single spins: NV, SiV, ions)."""
    GAUSSIAN = "gaussian"
    """Inhomogeneous dephasing of an ensemble, coherence ``exp(-(t/T2)**2)`` (e.g. motional dephasing of a
    cold-atom spin wave; Zhao et al., Nat. Phys. 5, 100 (2009))."""


class EmitterKind(enum.Enum):
    """Physical platform of a node's communication qubit."""

    NV = "nv"
    SIV = "siv"
    ION = "ion"
    RB_ENSEMBLE_DLCZ = "rb-ensemble-dlcz"
    QUANTUM_DOT = "quantum-dot"


class HeraldingScheme(enum.Enum):
    """How an elementary link is heralded (see :mod:`qinternet.physics.heralding`)."""

    SINGLE_CLICK = "single-click"
    """One photon detected behind a beam splitter; bright-state population alpha (Humphreys et al. 2018)."""
    DOUBLE_CLICK = "double-click"
    """Two photons detected in two rounds (Barrett & Kok, PRA 71, 060310 (2005))."""
    MIDPOINT_SOURCE = "midpoint-source"
    """An entangled-pair source in the middle, absorptive multimode memories at the ends (Jones et al. 2016)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryParams:
    """A quantum memory that stores one half of an entangled pair.

    Attributes:
        t1_s: energy-relaxation time T1, s (``inf``: none).
        t2_s: coherence time T2, s (``inf``: none); at most ``2 * t1_s``. For ``EXPONENTIAL`` dephasing it is
            the total T2 (it includes the T1 contribution); for ``GAUSSIAN`` it is the 1/e time of the Gaussian
            factor (see :func:`qinternet.physics.memory.memory_coherence`).
        dephasing: shape of the coherence decay.
        write_efficiency: probability that a photon (or excitation) is written into the memory, (0, 1].
        read_efficiency: probability that a stored excitation is read out at t = 0, (0, 1].
        storage_efficiency_1e_s: 1/e time of the storage (retrieval) efficiency of an ensemble memory, s
            (``inf``: efficiency does not decay).
        modes: number of modes stored in parallel (temporal/spectral/spatial multiplexing), >= 1.
        attempt_phase_spread_rad: spread of the phase a stored qubit picks up each time the node's emitter is
            reset after an entanglement attempt, rad: the product ``delta_omega * tau_d`` of the emitter-memory
            coupling (rad/s) and the time constant of the emitter's stochastic reset (s), for memories coupled to
            their node's emitter (13C spins of an NV centre). Each attempt then dephases a stored qubit
            (:func:`qinternet.physics.memory.attempt_dephasing_prob`); 0: attempts do not touch the memory.
    """

    t1_s: float = math.inf
    t2_s: float = math.inf
    dephasing: Dephasing = Dephasing.EXPONENTIAL
    write_efficiency: float = 1.0
    read_efficiency: float = 1.0
    storage_efficiency_1e_s: float = math.inf
    modes: int = 1
    attempt_phase_spread_rad: float = 0.0

    def __post_init__(self) -> None:
        require_time_or_inf("memory.t1_s", self.t1_s)
        require_time_or_inf("memory.t2_s", self.t2_s)
        if self.t2_s > 2.0 * self.t1_s:
            raise ParameterError("memory.t2_s", f"must be at most 2 T1 = {2.0 * self.t1_s:g} s, got {self.t2_s:g}")
        if not isinstance(self.dephasing, Dephasing):
            raise ParameterError("memory.dephasing", f"must be one of {[d.value for d in Dephasing]}")
        require_open_unit("memory.write_efficiency", self.write_efficiency)
        require_open_unit("memory.read_efficiency", self.read_efficiency)
        require_time_or_inf("memory.storage_efficiency_1e_s", self.storage_efficiency_1e_s)
        require_count("memory.modes", self.modes, MAX_MODES)
        require_non_negative("memory.attempt_phase_spread_rad", self.attempt_phase_spread_rad)
        require_at_most("memory.attempt_phase_spread_rad", self.attempt_phase_spread_rad, 100.0, "fully random already")


@dataclass(frozen=True, slots=True, kw_only=True)
class EmitterParams:
    """The communication qubit of a node and the photons it sends into the fibre.

    Attributes:
        kind: platform (selects the emission model in :mod:`qinternet.physics.emitters`).
        attempt_duration_s: time of one entanglement attempt (initialise, excite, wait for the photon), s.
        collection_efficiency: probability that an emitted photon of the coherent (zero-phonon-line) mode
            enters the single-mode fibre, including optics up to the fibre, (0, 1].
        zero_phonon_fraction: fraction of the emission usable for interference: the Debye-Waller factor of a
            colour centre, the branching ratio of an ion's cycling transition; 1 for ensembles, (0, 1].
        wavelength_nm: emission wavelength, nm.
        spin_photon_fidelity: fidelity of the emitted spin-photon state to the ideal one (initialisation and
            excitation errors), [0, 1].
        two_photon_visibility: Hong-Ou-Mandel visibility of photons from two such emitters, [0, 1].
        double_excitation_prob: probability that one excitation pulse emits two photons (re-excitation), [0, 1).
        excitation_prob: DLCZ ensembles only: probability that the write pulse creates at least one
            excitation (thermal statistics), [0, 1); 0 for single emitters.
    """

    kind: EmitterKind
    attempt_duration_s: float
    collection_efficiency: float
    zero_phonon_fraction: float = 1.0
    wavelength_nm: float
    spin_photon_fidelity: float = 1.0
    two_photon_visibility: float = 1.0
    double_excitation_prob: float = 0.0
    excitation_prob: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.kind, EmitterKind):
            raise ParameterError("emitter.kind", f"must be one of {[k.value for k in EmitterKind]}")
        require_positive("emitter.attempt_duration_s", self.attempt_duration_s)
        require_open_unit("emitter.collection_efficiency", self.collection_efficiency)
        require_open_unit("emitter.zero_phonon_fraction", self.zero_phonon_fraction)
        _require_wavelength("emitter.wavelength_nm", self.wavelength_nm)
        require_probability("emitter.spin_photon_fidelity", self.spin_photon_fidelity)
        require_probability("emitter.two_photon_visibility", self.two_photon_visibility)
        require_probability("emitter.double_excitation_prob", self.double_excitation_prob, upper_open=True)
        require_probability("emitter.excitation_prob", self.excitation_prob, upper_open=True)
        if self.kind is EmitterKind.RB_ENSEMBLE_DLCZ and self.excitation_prob == 0.0:
            raise ParameterError("emitter.excitation_prob", "must be > 0 for a DLCZ ensemble")

    @property
    def attempt_rate_hz(self) -> float:
        """Attempts per second, ``1 / attempt_duration_s``."""
        return 1.0 / self.attempt_duration_s


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversionParams:
    """A quantum frequency converter between the emitter and the fibre.

    Attributes:
        efficiency: end-to-end (external) conversion efficiency, fibre to fibre, (0, 1].
        noise_rate_hz: added noise photons per second in the converted mode after filtering (e.g. Raman and
            spontaneous parametric fluorescence of the pump), Hz.
        output_wavelength_nm: wavelength after conversion, nm.
    """

    efficiency: float
    noise_rate_hz: float = 0.0
    output_wavelength_nm: float

    def __post_init__(self) -> None:
        require_open_unit("conversion.efficiency", self.efficiency)
        require_non_negative("conversion.noise_rate_hz", self.noise_rate_hz)
        _require_wavelength("conversion.output_wavelength_nm", self.output_wavelength_nm)


@dataclass(frozen=True, slots=True, kw_only=True)
class HeraldingStationParams:
    """The station that heralds an elementary link (a beam splitter and detectors, or the nodes' heralds).

    Attributes:
        detector: the station's threshold detectors (efficiency, dark-count probability per gate of each).
        visibility: interference visibility of the photons at the beam splitter, [0, 1] (mode overlap of the
            two arms: single-click uses it as the first-order visibility, double-click and linear-optics
            BSMs as the two-photon visibility).
        phase_stability_rad: standard deviation of the optical phase difference of the two arms, rad
            (single-click only; a Gaussian phase noise).
        detection_window_s: gate (time window) in which a herald click is accepted, s.
    """

    detector: DetectorParams
    visibility: float = 1.0
    phase_stability_rad: float = 0.0
    detection_window_s: float = 1e-8

    def __post_init__(self) -> None:
        if not isinstance(self.detector, DetectorParams):
            raise ParameterError("station.detector", "must be a DetectorParams")
        require_probability("station.visibility", self.visibility)
        require_non_negative("station.phase_stability_rad", self.phase_stability_rad)
        require_at_most("station.phase_stability_rad", self.phase_stability_rad, 100.0, "a uniform phase already")
        require_positive("station.detection_window_s", self.detection_window_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeHardware:
    """Everything of one repeater node that the entanglement layer needs.

    Attributes:
        memory: the memory that stores link halves.
        emitter: the communication qubit and its photons.
        conversion: frequency converter to the fibre's wavelength, or None.
        two_qubit_gate_fidelity: average gate fidelity of the local two-qubit gate used for a swap, [0, 1]
            (depolarising model, :func:`qinternet.physics.bsm.gate_swap_pauli_channel`).
        single_qubit_gate_fidelity: average gate fidelity of a local single-qubit gate, [0, 1] (depolarising
            model; used by the applications' circuits, :mod:`qinternet.params.processor`).
        measurement_fidelity: probability that a single-qubit readout is right, [0, 1].
        communication_qubits: qubits that can emit (entangle over the network) at once, >= 1.
        memory_qubits: qubits that can store a link (including the communication qubits), >= 1.
    """

    memory: MemoryParams
    emitter: EmitterParams
    conversion: ConversionParams | None = None
    two_qubit_gate_fidelity: float = 1.0
    single_qubit_gate_fidelity: float = 1.0
    measurement_fidelity: float = 1.0
    communication_qubits: int = 1
    memory_qubits: int = 1

    def __post_init__(self) -> None:
        require_probability("node.two_qubit_gate_fidelity", self.two_qubit_gate_fidelity)
        require_probability("node.single_qubit_gate_fidelity", self.single_qubit_gate_fidelity)
        require_probability("node.measurement_fidelity", self.measurement_fidelity)
        require_count("node.communication_qubits", self.communication_qubits, MAX_MODES)
        require_count("node.memory_qubits", self.memory_qubits, MAX_MODES)
        if self.memory_qubits < self.communication_qubits:
            raise ParameterError(
                "node.memory_qubits",
                f"must be at least communication_qubits = {self.communication_qubits}, got {self.memory_qubits}",
            )

    @property
    def photon_wavelength_nm(self) -> float:
        """Wavelength of the photons in the fibre: after conversion if there is a converter."""
        if self.conversion is not None:
            return self.conversion.output_wavelength_nm
        return self.emitter.wavelength_nm
