"""Twin-field QKD (sending-or-not-sending) between two users through an untrusted relay, block by block.

Alice and Bob send phase-randomised weak coherent states (or nothing) over their arms to an interference
station at the relay (a node of kind ``untrusted-relay``), which announces which of its two detectors clicked;
single-photon interference makes the key rate fall as the square root of the whole channel's transmittance,
so that beyond a few hundred kilometres it beats the repeaterless bound (Lucamarini et al., Nature 557, 400
(2018); sending-or-not-sending: Wang, Yu, Hu, PRA 98, 062323 (2018)). The relay never holds key.

A block is ``block_s`` seconds of time windows at the sources' rate, and its key is the finite-size SNS length
of :func:`qinternet.qkd.tf_finite.sns_finite_rate` (after Jiang et al., PR Applied 12, 024061 (2019)), or with
``protocol: tf-sns-aopp`` that of SNS with actively-odd-parity pairing
(:func:`qinternet.qkd.tf_aopp_finite.aopp_finite_rate`; Xu et al., PRA 101, 042330 (2020), the protocol of Liu et
al.'s 1,002 km record), at the source settings that maximise it for the block (``optimise_settings``) or at the
source's own; its sifted events and error rate are the Z windows' before any pairing
(:func:`qinternet.qkd.tf_finite.sns_z_counts`). Only the analytic model exists for this kind (every block is the
expected one).

The relative phase of the two arms must be tracked: ``phase_reference`` gives the drift rate of that phase
and the age of the estimate (default: a feedback round trip through the longer arm); the residual error adds
to the station's phase noise, and a link whose tracking leaves no key at any setting is refused
(:func:`qinternet.qkd.tf_phase.check_phase_reference`, which uses the asymptotic SNS model for both protocols).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field

from qinternet.errors import ParameterError
from qinternet.network.links.base import (
    BlockEngine,
    BlockRecord,
    LinkBuilder,
    abort_reason_of,
    block_pulses,
    link_by_link,
)
from qinternet.network.links.mdi import RelayedLinkSpec, balanced
from qinternet.network.schema_base import LinkKind, LinkModel, Model, ScenarioError, Seconds
from qinternet.params import PRESETS
from qinternet.params.fieldpath import apply_changes
from qinternet.params.presets import devices_for
from qinternet.params.twinfield import (
    InterferenceStationParams,
    PhaseReferenceParams,
    SnsSourceParams,
    TwinFieldDeviceSet,
)
from qinternet.qkd.relayed import aopp_source, arm_transmittances, sns_source
from qinternet.qkd.tf_aopp_finite import AoppSettings, aopp_finite_rate, optimise_aopp_finite
from qinternet.qkd.tf_finite import SnsFiniteParams, SnsSettings, optimise_sns_finite, sns_finite_rate, sns_z_counts
from qinternet.qkd.tf_phase import check_phase_reference, round_trip_delay_s, with_phase_reference

__all__ = [
    "PhaseReferenceSpec",
    "TwinFieldLinkEngine",
    "TwinFieldLinkSpec",
    "build_twin_field_links",
    "twin_field_engine",
]


class PhaseReferenceSpec(Model):
    """How a twin-field link tracks the relative phase of its arms.

    Attributes:
        drift_rate_rad_per_s: rms rate of the relative phase drift of the two arms and lasers, rad/s.
        tracking_delay_s: age of the phase estimate when it is used, s (default: the round trip of a feedback
            loop through the longer arm, :func:`qinternet.qkd.tf_phase.round_trip_delay_s`).
    """

    drift_rate_rad_per_s: Annotated[float, Field(ge=0.0, le=1e9)]
    tracking_delay_s: Annotated[Seconds, Field(ge=0.0, le=1e3)] | None = None


class TwinFieldLinkSpec(RelayedLinkSpec):
    """A twin-field QKD link (``kind: twin-field``) through an untrusted relay.

    Attributes:
        protocol: ``tf-sns`` (sending-or-not-sending) or ``tf-sns-aopp`` (3-intensity SNS with actively-odd-parity
            pairing, the protocol of Liu et al.'s 1,002 km record).
        preset: the devices (default ``liu2023``).
        phase_reference: the phase tracking (default: none modelled beyond the station's own phase noise).
    """

    kind: LinkKind = LinkKind.TWIN_FIELD
    protocol: Literal["tf-sns", "tf-sns-aopp"] = "tf-sns"
    preset: str = "liu2023"
    phase_reference: PhaseReferenceSpec | None = None


def _devices(spec: TwinFieldLinkSpec, path: str) -> TwinFieldDeviceSet:
    if spec.preset not in PRESETS:
        raise ScenarioError([(f"{path}.preset", f"unknown preset {spec.preset!r}; known: {', '.join(PRESETS)}")])
    devices, _ = devices_for(TwinFieldDeviceSet, spec.preset)
    try:
        changed = apply_changes(devices, spec.devices, f"{path}.devices")
    except ParameterError as exc:
        where = exc.field if exc.field.startswith(path) else f"{path}.devices.{exc.field}"
        raise ScenarioError([(where, exc.reason)]) from None
    assert isinstance(changed, TwinFieldDeviceSet)
    return changed


def _tracked_station(
    spec: TwinFieldLinkSpec, path: str, devices: TwinFieldDeviceSet, source: SnsSourceParams, eta: tuple[float, float]
) -> InterferenceStationParams:
    """The station with the phase-tracking residual; refused when the tracking leaves no key at any setting."""
    if spec.phase_reference is None:
        return devices.station
    delay = spec.phase_reference.tracking_delay_s
    if delay is None:
        delay = round_trip_delay_s(max(spec.length_a_km, spec.length_b_km))
    where = f"{path}.phase_reference"
    try:
        reference = PhaseReferenceParams(
            drift_rate_rad_per_s=spec.phase_reference.drift_rate_rad_per_s, tracking_delay_s=delay
        )
        return check_phase_reference(
            eta[0], eta[1], source, devices.station, reference, ec_efficiency=devices.ec_efficiency
        )
    except ParameterError as exc:
        if exc.field == "eta_a":  # no key even with perfect tracking: the link is too long, not badly tracked
            return with_phase_reference(devices.station, reference)
        name = exc.field.removeprefix("phase_reference.")
        reason = (
            exc.reason
            if spec.phase_reference.tracking_delay_s is not None
            else (f"{exc.reason} (the default delay is a round trip through the longer arm: {delay:.3g} s)")
        )
        raise ScenarioError([(f"{where}.{name}", reason)]) from None


_CHERNOFF_SHARE = 1.0 / 20.0
"""Each Chernoff bound of the finite-size SNS analysis fails with ``eps_sec / 20``: it takes at most nine of them
(:mod:`qinternet.qkd.tf_finite`), so together they fail with less than ``0.45 eps_sec``."""
_PA_SHARE = 1.0 / 4.0
"""``eps_PA`` and the smoothing ``eps_hat`` are ``eps_sec / 4`` each: with the bounds, the secrecy of a block is
below the link's ``eps_sec`` (its ``eps_cor`` is the correctness)."""


Settings = SnsSettings | AoppSettings
"""The source settings of a twin-field link: SNS's four intensities, or AOPP's three."""


@functools.lru_cache(maxsize=128)
def _optimised(
    eta_a: float,
    eta_b: float,
    station: InterferenceStationParams,
    ec_efficiency: float,
    params: SnsFiniteParams,
    aopp: bool,
) -> tuple[Settings, float]:
    if aopp:
        paired = optimise_aopp_finite(eta_a, eta_b, station, ec_efficiency=ec_efficiency, params=params)
        return paired.settings, paired.key_rate_per_pulse
    point = optimise_sns_finite(eta_a, eta_b, station, ec_efficiency=ec_efficiency, params=params)
    return point.settings, point.key_rate_per_pulse


def finite_rate(
    eta_a: float,
    eta_b: float,
    settings: Settings,
    station: InterferenceStationParams,
    *,
    ec_efficiency: float,
    params: SnsFiniteParams,
) -> float:
    """Finite-size key per window of SNS (:func:`qinternet.qkd.tf_finite.sns_finite_rate`) or of SNS with AOPP
    (:func:`qinternet.qkd.tf_aopp_finite.aopp_finite_rate`), by the kind of ``settings``."""
    if isinstance(settings, AoppSettings):
        rate = aopp_finite_rate(eta_a, eta_b, settings, station, ec_efficiency=ec_efficiency, params=params)
    else:
        rate = sns_finite_rate(eta_a, eta_b, settings, station, ec_efficiency=ec_efficiency, params=params)
    return float(rate)


@dataclass(frozen=True, slots=True, kw_only=True)
class TwinFieldLinkEngine(BlockEngine):
    """Makes the blocks of one SNS (or SNS-AOPP) twin-field link (every block the expected one; its sifted events
    are the Z windows' effective events before any pairing).

    Attributes:
        eta_a, eta_b: the arms' transmittances as the link runs them (fibre only;
            :func:`~qinternet.network.links.mdi.balanced`).
        settings: the source settings the link runs at (SNS's, or AOPP's for ``tf-sns-aopp``).
        station: the interference station, with the phase-tracking residual.
        ec_efficiency: ``f``.
        block_pulses: time windows per block.
        block_s: seconds per block.
        key_rate_per_pulse: the finite-size key per window (derived).
    """

    eta_a: float
    eta_b: float
    settings: Settings
    station: InterferenceStationParams
    ec_efficiency: float
    block_pulses: int
    block_s: float
    params: SnsFiniteParams
    key_rate_per_pulse: float = field(init=False)
    _expected_block: BlockRecord = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rate = finite_rate(
            self.eta_a, self.eta_b, self.settings, self.station, ec_efficiency=self.ec_efficiency, params=self.params
        )
        object.__setattr__(self, "key_rate_per_pulse", rate)
        events, error_rate = sns_z_counts(
            self.eta_a, self.eta_b, self.settings, self.station, block_pulses=float(self.block_pulses)
        )
        key = math.floor(rate * self.block_pulses)
        record = BlockRecord(
            end_s=self.block_s,
            duration_s=self.block_s,
            key_bits=key,
            sifted_bits=float(events),
            qber=float(error_rate) if float(events) > 0 else math.nan,
            abort_reason=abort_reason_of(key),
        )
        object.__setattr__(self, "_expected_block", record)


def twin_field_engine(spec: TwinFieldLinkSpec, path: str) -> TwinFieldLinkEngine:
    """The engine of the twin-field link ``spec`` (at ``path`` in the file)."""
    if spec.model is LinkModel.MONTE_CARLO:
        raise ScenarioError(
            [(f"{path}.model", "twin-field links have the analytic model only (no Monte-Carlo of the station yet)")]
        )
    devices = _devices(spec, path)
    source = sns_source(devices.source)
    aopp = spec.protocol == "tf-sns-aopp"
    eta = arm_transmittances(spec.arms(devices.fibre_loss_db_per_km))
    station = _tracked_station(spec, path, devices, source, eta)
    pulses = block_pulses(source.rep_rate_hz, spec.block_s, path)
    try:
        params = SnsFiniteParams(
            block_pulses=float(pulses),
            chernoff_failure=spec.eps_sec * _CHERNOFF_SHARE,
            eps_cor=spec.eps_cor,
            eps_pa=spec.eps_sec * _PA_SHARE,
            eps_hat=spec.eps_sec * _PA_SHARE,
        )
    except ParameterError as exc:
        raise ScenarioError([(f"{path}.block_s", exc.reason)]) from None

    def engine(eta_a: float, eta_b: float) -> TwinFieldLinkEngine:
        settings: Settings = AoppSettings.of(aopp_source(devices.source)) if aopp else SnsSettings.of(source)
        if spec.optimise_settings:
            best, rate = _optimised(eta_a, eta_b, station, devices.ec_efficiency, params, aopp)
            if rate > 0.0:
                settings = best
        return TwinFieldLinkEngine(
            eta_a=eta_a,
            eta_b=eta_b,
            settings=settings,
            station=station,
            ec_efficiency=devices.ec_efficiency,
            block_pulses=pulses,
            block_s=spec.block_s,
            params=params,
        )

    return balanced(engine, *eta)


build_twin_field_links: LinkBuilder = link_by_link(twin_field_engine)
"""The engines of the twin-field links, each on its own (:data:`qinternet.network.links.registry.LINK_KINDS`)."""
