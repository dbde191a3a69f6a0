"""Spontaneous Raman noise that a classical channel scatters into a quantum channel of the same fibre.

A classical signal of launch power ``P`` in a fibre of attenuation ``alpha`` (nepers/km) scatters light
into the quantum channel's filter of width ``Δλ`` at a rate set by the effective Raman cross-section
``rho`` (per km and per nm of filter bandwidth, for that pump and that quantum wavelength). Integrating the
scattering along the fibre, with both the pump and the scattered light attenuated by ``alpha``:

* **forward** (co-propagating; noise measured at the far end, where the quantum receiver is):
  ``P_f = P e^{-alpha L} L rho Δλ``;
* **backward** (counter-propagating; noise measured at the classical launch end, where the quantum
  receiver is): ``P_b = P rho Δλ (1 - e^{-2 alpha L}) / (2 alpha) = P e^{-alpha L} rho Δλ sinh(alpha L) / alpha``.

Sources. Eraerds, Walenta, Legré, Gisin, Zbinden, "Quantum key distribution and 1 Gbps data encryption
over a single fibre", NJP 12, 063027 (2010), arXiv:0912.1798 — the forward form is their eq. (2), written
``P_out L rho Δλ`` with ``P_out = P e^{-alpha L}``, and the backward form their companion equation; the
equation numbers are as cited by third-party code and were not read in the paper. The same pair, with the
same ``L e^{-alpha L}`` and ``(1 - e^{-2 alpha L}) / (2 alpha)`` spans, is eq. (6) of Kumar, Qin, Alléaume,
NJP 17, 043027 (2015), arXiv:1412.1403 (again as cited by third-party code, not read here).

The noise power counts photons in the quantum channel's band; :func:`raman_photon_rate_hz` converts it at
the quantum wavelength, and :func:`raman_click_prob_per_gate` turns the rate into a per-gate background
probability, which adds to a detector's dark-count probability. :func:`raman_background_prob` does the three
steps for every classical channel of a fibre and a :class:`RamanReceiver` (the background of a
:class:`qinternet.physics.channels.FibreChannel`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.checks import require_finite, require_non_negative, require_open_unit, require_positive
from qinternet.params.devices import FibreParams

__all__ = [
    "C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM",
    "ClassicalChannel",
    "RamanDirection",
    "RamanReceiver",
    "raman_background_prob",
    "raman_click_prob_per_gate",
    "raman_noise_power_w",
    "raman_photon_rate_hz",
]

FloatArray = NDArray[np.float64]

PLANCK_J_S = 6.62607015e-34
"""Planck constant, J s (exact in the 2019 SI)."""
SPEED_OF_LIGHT_M_S = 299_792_458.0
"""Speed of light in vacuum, m/s (exact)."""

C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM = 3.0e-9
"""Effective Raman cross-section for a C-band (~1550 nm) classical channel and a C-band quantum channel, /(km nm).

The value Kumar, Qin, Alléaume, NJP 17, 043027 (2015) use for a quantum channel at 1531.12 nm next to
classical channels near 1550 nm (their largest C-band value; verified only through a third-party library
that cites it with their eq. (6) and reproduces their noise figures, not in the paper itself). An
independent public MATLAB coexistence script uses 3.2e-9 at 1530 nm, without a source. Near the pump the cross-section
rises towards the Raman gain peak ~13 THz (~100 nm) away, so this is a C-band-to-C-band value only.

For an **O-band quantum channel with C-band classical light** (or the reverse) the offset is ~35 THz, far
outside the Raman band, and the cross-section is orders of magnitude smaller. No trustworthy number was
found for it: the user must give ``raman_cross_section_per_km_nm`` from a measurement or a paper.
"""


class RamanDirection(enum.StrEnum):
    """Direction of the classical channel relative to the quantum signal."""

    FORWARD = "forward"
    """Co-propagating: classical and quantum light travel the same way; noise counted at the far end."""
    BACKWARD = "backward"
    """Counter-propagating: the classical light travels towards the quantum transmitter; noise counted at
    the classical launch end, which is the quantum receiver."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassicalChannel:
    """A classical channel sharing the fibre with a quantum channel.

    Attributes:
        launch_power_dbm: classical power launched into the fibre, dBm.
        wavelength_nm: wavelength of the classical channel (the Raman pump), nm. It identifies the pump for
            which ``raman_cross_section_per_km_nm`` holds; the photon energy of the noise is that of the
            quantum channel, given to :func:`raman_photon_rate_hz`.
        direction: :class:`RamanDirection` (or its value ``"forward"`` / ``"backward"``).
        raman_cross_section_per_km_nm: effective Raman cross-section ``rho`` from this pump into the quantum
            channel, /(km nm). The default, :data:`C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM`, is for a C-band
            pump and a C-band quantum channel only; for O-band quantum / C-band classical give a (much
            smaller) measured value.
    """

    launch_power_dbm: float
    wavelength_nm: float = 1550.0
    direction: RamanDirection
    raman_cross_section_per_km_nm: float = C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM

    def __post_init__(self) -> None:
        require_finite("classical_channel.launch_power_dbm", self.launch_power_dbm)
        require_positive("classical_channel.wavelength_nm", self.wavelength_nm)
        require_non_negative("classical_channel.raman_cross_section_per_km_nm", self.raman_cross_section_per_km_nm)
        try:
            direction = RamanDirection(self.direction)
        except ValueError:
            raise ParameterError(
                "classical_channel.direction", f"must be 'forward' or 'backward', got {self.direction!r}"
            ) from None
        object.__setattr__(self, "direction", direction)

    @property
    def launch_power_w(self) -> float:
        """Launch power in watts, ``1e-3 * 10**(dBm / 10)``."""
        return 1e-3 * math.pow(10.0, self.launch_power_dbm / 10.0)


def _nepers_per_km(loss_db_per_km: float) -> float:
    """Attenuation coefficient in nepers/km (power ``e^{-alpha L}``) from dB/km: ``alpha = ln(10)/10 * dB``."""
    return loss_db_per_km * math.log(10.0) / 10.0


def raman_noise_power_w(
    channel: ClassicalChannel, fibre: FibreParams, length_km: ArrayLike, filter_bandwidth_nm: float
) -> FloatArray:
    """Raman noise power inside the quantum channel's filter at the quantum receiver, W.

    Args:
        channel: the classical channel (launch power, direction, cross-section).
        fibre: the shared fibre; only ``loss_db_per_km`` is used (the same attenuation is assumed at the
            pump and quantum wavelengths). Its insertion loss is not applied, which overestimates the noise.
        length_km: fibre length (array or scalar), km, >= 0.
        filter_bandwidth_nm: bandwidth ``Δλ`` of the quantum channel's filter, nm.

    Returns ``P L e^{-alpha L} rho Δλ`` (forward) or ``P rho Δλ (1 - e^{-2 alpha L}) / (2 alpha)``
    (backward), Eraerds et al., NJP 12, 063027 (2010), eq. (2) and its backward companion; the backward span
    tends to ``L`` when ``alpha -> 0``. Forward noise peaks at ``L = 1/alpha`` at ``P rho Δλ / (alpha e)``;
    backward noise grows monotonically to ``P rho Δλ / (2 alpha)``.
    """
    require_positive("filter_bandwidth_nm", filter_bandwidth_nm)
    length = np.asarray(length_km, dtype=np.float64)
    if not np.all(np.isfinite(length)) or np.any(length < 0.0):
        raise ParameterError("length_km", "must be finite and >= 0")
    alpha = _nepers_per_km(fibre.loss_db_per_km)
    if channel.direction is RamanDirection.FORWARD:
        span_km = length * np.exp(-alpha * length)
    elif alpha > 0.0:
        span_km = -np.expm1(-2.0 * alpha * length) / (2.0 * alpha)
    else:
        span_km = length
    scale = channel.launch_power_w * channel.raman_cross_section_per_km_nm * filter_bandwidth_nm
    return np.asarray(scale * span_km, dtype=np.float64)


def raman_photon_rate_hz(noise_power_w: ArrayLike, quantum_wavelength_nm: float) -> FloatArray:
    """Photon rate ``P lambda / (h c)`` of noise power ``P`` (array or scalar, W) at the quantum wavelength, /s.

    >>> round(float(raman_photon_rate_hz(1e-12, 1550.0)) / 1e6, 3)
    7.803
    """
    require_positive("quantum_wavelength_nm", quantum_wavelength_nm)
    power = np.asarray(noise_power_w, dtype=np.float64)
    if not np.all(np.isfinite(power)) or np.any(power < 0.0):
        raise ParameterError("noise_power_w", "must be finite and >= 0")
    photon_energy_j = PLANCK_J_S * SPEED_OF_LIGHT_M_S / (quantum_wavelength_nm * 1e-9)
    return np.asarray(power / photon_energy_j, dtype=np.float64)


def raman_click_prob_per_gate(photon_rate_hz: ArrayLike, gate_s: float, detection_efficiency: float) -> FloatArray:
    """Probability that Raman photons make a detector click in one gate (or detection window).

    Args:
        photon_rate_hz: Raman photon rate at the receiver input (array or scalar), /s.
        gate_s: gate duration or coincidence/detection window, s.
        detection_efficiency: efficiency from the point where the rate is given to a click (receiver
            optics times detector efficiency), in (0, 1].

    The mean number of detected noise photons per gate is ``m = eta N tau`` (the product form of Eraerds
    et al. (2010), their eq. (11) as cited by third-party code). Raman light is broadband and
    unsynchronised, so its counts are Poissonian and the click probability is ``1 - e^{-m}`` (``≈ m`` for
    small ``m``). Use it as a per-detector background probability; split it between the detectors of a pair
    as the receiver does (e.g. half to each of two detectors behind an unpolarised noise field).
    """
    require_positive("gate_s", gate_s)
    require_open_unit("detection_efficiency", detection_efficiency)
    rate = np.asarray(photon_rate_hz, dtype=np.float64)
    if not np.all(np.isfinite(rate)) or np.any(rate < 0.0):
        raise ParameterError("photon_rate_hz", "must be finite and >= 0")
    return np.asarray(-np.expm1(-detection_efficiency * rate * gate_s), dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class RamanReceiver:
    """The quantum receiver as Raman light sees it: the band it lets in, its window and its efficiency.

    Attributes:
        quantum_wavelength_nm: wavelength of the quantum channel, nm (the energy of a noise photon).
        filter_bandwidth_nm: bandwidth ``Δλ`` of the receiver's filter, nm (0.8 nm: a 100 GHz DWDM channel).
        detection_window_s: time a gate or coincidence window stays open for one pulse, s.
        detection_efficiency: efficiency from the receiver's input to a click (receiver optics times the
            detectors' efficiency), in (0, 1].
    """

    quantum_wavelength_nm: float = 1550.0
    filter_bandwidth_nm: float
    detection_window_s: float
    detection_efficiency: float

    def __post_init__(self) -> None:
        require_positive("raman_receiver.quantum_wavelength_nm", self.quantum_wavelength_nm)
        require_positive("raman_receiver.filter_bandwidth_nm", self.filter_bandwidth_nm)
        require_positive("raman_receiver.detection_window_s", self.detection_window_s)
        require_open_unit("raman_receiver.detection_efficiency", self.detection_efficiency)


def raman_background_prob(
    classical_channels: Sequence[ClassicalChannel], loss_db_per_km: float, length_km: float, receiver: RamanReceiver
) -> float:
    """Probability that Raman light of ``classical_channels`` clicks the receiver (either detector) in one window.

    For each classical channel, the forward or backward noise power in the receiver's filter after
    ``length_km`` of fibre of ``loss_db_per_km`` (:func:`raman_noise_power_w`, Eraerds et al., NJP 12, 063027
    (2010), eq. (2) and its backward companion) as photons per second at the quantum wavelength
    (:func:`raman_photon_rate_hz`); the rates add, and ``1 - exp(-eta N tau)`` of the sum is the click
    probability per window (:func:`raman_click_prob_per_gate`). 0 without classical channels.

    >>> receiver = RamanReceiver(filter_bandwidth_nm=0.1, detection_window_s=1e-9, detection_efficiency=0.1)
    >>> forward = ClassicalChannel(launch_power_dbm=0.0, direction=RamanDirection.FORWARD)
    >>> round(raman_background_prob([forward], 0.2, 25.0, receiver) * 1e3, 3)
    1.849
    """
    require_non_negative("channel.length_km", length_km)
    fibre = FibreParams(loss_db_per_km=loss_db_per_km)
    total = 0.0
    for channel in classical_channels:
        power = raman_noise_power_w(channel, fibre, length_km, receiver.filter_bandwidth_nm)
        total += float(raman_photon_rate_hz(power, receiver.quantum_wavelength_nm))
    return float(raman_click_prob_per_gate(total, receiver.detection_window_s, receiver.detection_efficiency))
