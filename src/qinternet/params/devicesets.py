"""Device sets by protocol family, and the roles every family shares.

A preset carries the devices of one family of protocols: a prepare-and-measure or entanglement-based set
(:class:`~qinternet.params.devices.QkdSystem`: decoy BB84, BBM92), an MDI set (:class:`~qinternet.params.mdi.
MdiDeviceSet`: two sources and a Bell-state-measurement relay) or a twin-field set
(:class:`~qinternet.params.twinfield.TwinFieldDeviceSet`: two phase-randomised sources and an interference
station). What they share is the channel and the receiving side: the fibre's attenuation, the detectors, the
misalignment of the measurement and the error-correction inefficiency (:class:`SharedRoles`). A protocol
asked to run on another family's preset keeps those and takes the rest (sources, their intensities and
probabilities) from its own family's default set (:func:`devices_for`), so that curves drawn against one
preset compare protocols on the same fibre and detectors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from qinternet.params.checks import require_at_most, require_non_negative, require_positive, require_probability
from qinternet.params.devices import MAX_EC_EFFICIENCY, MAX_LOSS_DB_PER_KM, DetectorParams, QkdSystem
from qinternet.params.mdi import MdiDeviceSet
from qinternet.params.twinfield import TwinFieldDeviceSet

__all__ = ["SHARED_ROLE_PATHS", "DeviceSet", "SharedRoles", "family_name", "shared_roles", "with_shared_roles"]

DeviceSet = QkdSystem | MdiDeviceSet | TwinFieldDeviceSet
"""The devices of one family of protocols."""

_FAMILY_NAMES: dict[type, str] = {
    QkdSystem: "prepare-and-measure",
    MdiDeviceSet: "measurement-device-independent",
    TwinFieldDeviceSet: "twin-field",
}


def family_name(devices: DeviceSet | type) -> str:
    """``prepare-and-measure``, ``measurement-device-independent`` or ``twin-field``."""
    return _FAMILY_NAMES[devices if isinstance(devices, type) else type(devices)]


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedRoles:
    """What every family's devices have: the fibre's attenuation and the receiving side.

    Attributes:
        loss_db_per_km: fibre attenuation, dB/km.
        detector: the detectors (efficiency, dark counts, after-pulses, dead time).
        misalignment_error: probability that a photon is measured in the wrong outcome (``e_d``).
        ec_efficiency: error-correction inefficiency ``f``.
    """

    loss_db_per_km: float
    detector: DetectorParams
    misalignment_error: float
    ec_efficiency: float

    def __post_init__(self) -> None:
        require_non_negative("fibre.loss_db_per_km", self.loss_db_per_km)
        require_at_most("fibre.loss_db_per_km", self.loss_db_per_km, MAX_LOSS_DB_PER_KM, "lossier than any fibre")
        require_probability("misalignment_error", self.misalignment_error, upper=0.5)
        require_positive("ec_efficiency", self.ec_efficiency)
        require_at_most("ec_efficiency", self.ec_efficiency, MAX_EC_EFFICIENCY, "no code is that poor")


SHARED_ROLE_PATHS: dict[str, str] = {"fibre.loss_db_per_km": "loss_db_per_km"}
"""Where a prepare-and-measure field path lies in :class:`SharedRoles` (the others have the same path)."""


def shared_roles(devices: DeviceSet) -> SharedRoles:
    """The roles ``devices`` shares with every family (an MDI set's first fibre run gives its attenuation)."""
    if isinstance(devices, QkdSystem):
        return SharedRoles(
            loss_db_per_km=devices.fibre.loss_db_per_km,
            detector=devices.detector,
            misalignment_error=devices.misalignment_error,
            ec_efficiency=devices.ec_efficiency,
        )
    if isinstance(devices, MdiDeviceSet):
        bsm = devices.system.bsm
        return SharedRoles(
            loss_db_per_km=devices.runs[0].fibre.loss_db_per_km,
            detector=bsm.detector,
            misalignment_error=bsm.misalignment_error,
            ec_efficiency=devices.system.ec_efficiency,
        )
    station = devices.station
    return SharedRoles(
        loss_db_per_km=devices.fibre_loss_db_per_km,
        detector=station.detector,
        misalignment_error=station.misalignment_error,
        ec_efficiency=devices.ec_efficiency,
    )


def with_shared_roles(devices: DeviceSet, roles: SharedRoles) -> DeviceSet:
    """``devices`` with its shared roles replaced by ``roles`` (its sources and the rest kept)."""
    replace = dataclasses.replace
    if isinstance(devices, QkdSystem):
        return replace(
            devices,
            fibre=replace(devices.fibre, loss_db_per_km=roles.loss_db_per_km),
            detector=roles.detector,
            misalignment_error=roles.misalignment_error,
            ec_efficiency=roles.ec_efficiency,
        )
    if isinstance(devices, MdiDeviceSet):
        system = devices.system
        bsm = replace(system.bsm, detector=roles.detector, misalignment_error=roles.misalignment_error)
        first = devices.runs[0]
        runs = (replace(first, fibre=replace(first.fibre, loss_db_per_km=roles.loss_db_per_km)), *devices.runs[1:])
        return replace(devices, system=replace(system, bsm=bsm, ec_efficiency=roles.ec_efficiency), runs=runs)
    station = replace(devices.station, detector=roles.detector, misalignment_error=roles.misalignment_error)
    return replace(
        devices, station=station, ec_efficiency=roles.ec_efficiency, fibre_loss_db_per_km=roles.loss_db_per_km
    )
