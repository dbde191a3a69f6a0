"""Key rates of protocols whose two users send to a relay (MDI-QKD, twin-field QKD), over a two-arm channel.

The relay (a Bell-state measurement or an interference station) is untrusted and sits at the station of a
:class:`~qinternet.physics.channels.TwoArm`; :func:`fibre_arms` puts it halfway along a fibre of the device
set's attenuation (the only place a distance enters; the models take the arms' transmittances). These adapters
return the figures ``qinternet keyrate`` reports for every protocol, in :class:`RelayedPoint`.

* ``mdi-bb84``: decoy-state MDI-QKD, asymptotic, with the four-intensity decoy bounds of the set's sources and
  the signal intensity optimised (:func:`qinternet.qkd.mdi.key_rate_decoy`; Lo, Curty, Qi, PRL 108, 130503
  (2012); Zhou, Yu, Wang, PRA 93, 042324 (2016)).
* ``tf-sns``: sending-or-not-sending twin-field QKD with its decoy analysis (:func:`qinternet.qkd.twinfield.
  optimise_sns`; Wang, Yu, Hu, PRA 98, 062323 (2018)).
* ``tf-sns-aopp``: SNS with actively-odd-parity pairing (:func:`qinternet.qkd.tf_aopp.optimise_aopp`; Xu et
  al., PRA 101, 042330 (2020)), the protocol of the 1,000 km record (Liu et al., PRL 130, 210801 (2023)).
* ``tf-pm``: phase-matching QKD (:func:`qinternet.qkd.tf_pm.optimise_pm`; Ma, Zeng, Zhou, PRX 8, 031043 (2018)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qinternet.errors import ParameterError
from qinternet.params.devices import FibreParams
from qinternet.params.mdi import MdiDeviceSet
from qinternet.params.twinfield import PmSourceParams, Sns3SourceParams, SnsSourceParams, TwinFieldDeviceSet
from qinternet.physics.channels import TwoArm, is_scalar
from qinternet.qkd.mdi import key_rate_decoy, optimise_signal_intensity
from qinternet.qkd.tf_aopp import optimise_aopp
from qinternet.qkd.tf_pm import optimise_pm
from qinternet.qkd.twinfield import optimise_sns

__all__ = [
    "RelayedPoint",
    "aopp_source",
    "arm_transmittances",
    "fibre_arms",
    "mdi_bb84",
    "sns_source",
    "tf_pm",
    "tf_sns",
    "tf_sns_aopp",
]

PM_DEFAULT_SOURCE = PmSourceParams(intensity=0.05, phase_slices=16)
"""PM-QKD's source where a twin-field set has an SNS one (its intensity is optimised; 16 phase slices as in
Ma, Zeng, Zhou 2018's simulations)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayedPoint:
    """A relayed protocol's key rate over one two-arm channel.

    Attributes:
        key_rate_per_pulse: secret bits per pulse (pulse pair, time window) sent (>= 0).
        signal_intensity: the optimised signal intensity (None where no setting gives key).
        qber: key-basis error rate; gain: key-basis detections per pulse.
        single_photon_yield: the single-photon (untagged) yield bound; single_photon_error: the phase-error bound.
        channel_transmittance: the whole fibre's transmittance (both arms).
    """

    key_rate_per_pulse: float
    signal_intensity: float | None
    qber: float | None
    gain: float | None
    single_photon_yield: float | None
    single_photon_error: float | None
    channel_transmittance: float


def fibre_arms(devices: MdiDeviceSet | TwinFieldDeviceSet, total_length_km: float) -> TwoArm:
    """The relay halfway along ``total_length_km`` of the set's fibre (MDI: its first fibre run's attenuation;
    twin-field: its ``fibre_loss_db_per_km``), without insertion loss."""
    if isinstance(devices, MdiDeviceSet):
        return TwoArm.symmetric(FibreParams(loss_db_per_km=devices.runs[0].fibre.loss_db_per_km), total_length_km)
    return TwoArm.symmetric(FibreParams(loss_db_per_km=devices.fibre_loss_db_per_km), total_length_km)


def arm_transmittances(arms: TwoArm) -> tuple[float, float]:
    """``(eta_a, eta_b)`` of the arms (fibre only, without the station's detectors).

    Raises:
        ParameterError: for arms that change in time or carry a background, which these models do not take.
    """
    for name, arm in (("arm_a", arms.arm_a), ("arm_b", arms.arm_b)):
        if not (is_scalar(arm.transmittance) and is_scalar(arm.background)):
            raise ParameterError(f"channel.{name}", "the relayed models take one transmittance per arm")
        if float(arm.background) != 0.0:
            raise ParameterError(f"channel.{name}.background", "the relayed models do not take a channel background")
    return float(arms.arm_a.transmittance), float(arms.arm_b.transmittance)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def mdi_bb84(devices: MdiDeviceSet, arms: TwoArm) -> RelayedPoint:
    """Decoy-state MDI-QKD over ``arms`` to the Bell-state measurement."""
    eta_a, eta_b = arm_transmittances(arms)
    system = devices.system
    best, rate = optimise_signal_intensity(
        lambda s: key_rate_decoy(system, eta_a, eta_b, signal_intensity=s).key_rate_per_pulse_pair
    )
    has_key = rate > 0 and np.isfinite(best)
    rates = key_rate_decoy(system, eta_a, eta_b, signal_intensity=best if has_key else None)
    return RelayedPoint(
        key_rate_per_pulse=float(rate) if has_key else 0.0,
        signal_intensity=float(best) if has_key else None,
        qber=_finite(float(rates.z_error_rate)) if has_key else None,
        gain=float(rates.z_gain) if has_key else None,
        single_photon_yield=float(rates.y11_z) if has_key else None,
        single_photon_error=float(rates.e11_x) if has_key else None,
        channel_transmittance=eta_a * eta_b,
    )


def sns_source(source: SnsSourceParams | Sns3SourceParams) -> SnsSourceParams:
    """An SNS source with two X-window decoys: the set's own, or its 3-intensity one with a second decoy of
    0.3 beside its weak one (the 3-intensity protocol reuses the Z state instead)."""
    if isinstance(source, SnsSourceParams):
        return source
    return SnsSourceParams(
        z_window_prob=source.z_window_prob,
        sending_prob=source.sending_prob,
        signal_intensity=source.signal_intensity,
        decoy_intensities=(source.decoy_intensity, 0.3),
        rep_rate_hz=source.rep_rate_hz,
    )


def aopp_source(source: SnsSourceParams | Sns3SourceParams) -> Sns3SourceParams:
    """A 3-intensity SNS source (AOPP's): the set's own, or its 4-intensity one's weak decoy."""
    if isinstance(source, Sns3SourceParams):
        return source
    return Sns3SourceParams(
        z_window_prob=source.z_window_prob,
        sending_prob=source.sending_prob,
        signal_intensity=source.signal_intensity,
        decoy_intensity=source.decoy_intensities[0],
        rep_rate_hz=source.rep_rate_hz,
    )


def tf_sns(devices: TwinFieldDeviceSet, arms: TwoArm) -> RelayedPoint:
    """Sending-or-not-sending TF-QKD over ``arms`` (``mu_z`` and ``epsilon`` optimised)."""
    eta_a, eta_b = arm_transmittances(arms)
    source = sns_source(devices.source)
    point = optimise_sns(eta_a, eta_b, source, devices.station, ec_efficiency=devices.ec_efficiency)
    has_key = point.key_rate_per_pulse > 0
    return RelayedPoint(
        key_rate_per_pulse=point.key_rate_per_pulse,
        signal_intensity=point.signal_intensity if has_key else None,
        qber=point.z_error_rate if has_key else None,
        gain=point.z_gain if has_key else None,
        single_photon_yield=point.untagged_yield_lower if has_key else None,
        single_photon_error=point.phase_error_upper if has_key else None,
        channel_transmittance=eta_a * eta_b,
    )


def tf_sns_aopp(devices: TwinFieldDeviceSet, arms: TwoArm) -> RelayedPoint:
    """SNS with actively-odd-parity pairing over ``arms`` (``mu_z`` and ``epsilon`` optimised)."""
    eta_a, eta_b = arm_transmittances(arms)
    source = aopp_source(devices.source)
    point = optimise_aopp(eta_a, eta_b, source, devices.station, ec_efficiency=devices.ec_efficiency)
    has_key = point.key_rate_per_pulse > 0
    return RelayedPoint(
        key_rate_per_pulse=point.key_rate_per_pulse,
        signal_intensity=point.signal_intensity if has_key else None,
        qber=point.error_rate_after_pairing if has_key else None,
        gain=point.z_gain if has_key else None,
        single_photon_yield=point.untagged_yield_lower if has_key else None,
        single_photon_error=point.phase_error_after_pairing if has_key else None,
        channel_transmittance=eta_a * eta_b,
    )


def tf_pm(devices: TwinFieldDeviceSet, arms: TwoArm) -> RelayedPoint:
    """Phase-matching QKD over ``arms`` (``mu`` optimised; 16 phase slices)."""
    eta_a, eta_b = arm_transmittances(arms)
    point = optimise_pm(eta_a, eta_b, PM_DEFAULT_SOURCE, devices.station, ec_efficiency=devices.ec_efficiency)
    has_key = point.key_rate_per_pulse > 0
    return RelayedPoint(
        key_rate_per_pulse=point.key_rate_per_pulse,
        signal_intensity=point.intensity if has_key else None,
        qber=point.bit_error_rate if has_key else None,
        gain=point.gain if has_key else None,
        single_photon_yield=None,
        single_photon_error=point.phase_error_upper if has_key else None,
        channel_transmittance=eta_a * eta_b,
    )
