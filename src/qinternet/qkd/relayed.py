"""Key rates of protocols whose two users send to a relay in the middle (MDI-QKD, twin-field QKD), per fibre length.

The relay (a Bell-state measurement or an interference station) is untrusted and sits halfway: each arm is half
the total fibre, of the device set's attenuation. These adapters turn a total length into the arms'
transmittances (the only place a distance enters; the models take transmittances) and return the figures
``qinternet keyrate`` reports for every protocol, in :class:`RelayedPoint`.

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

from qinternet.params.devices import FibreParams
from qinternet.params.mdi import MdiDeviceSet
from qinternet.params.twinfield import PmSourceParams, Sns3SourceParams, SnsSourceParams, TwinFieldDeviceSet
from qinternet.physics.fibre import fibre_transmittance
from qinternet.qkd.mdi import key_rate_decoy, optimise_signal_intensity
from qinternet.qkd.tf_aopp import optimise_aopp
from qinternet.qkd.tf_pm import optimise_pm
from qinternet.qkd.twinfield import optimise_sns

__all__ = ["RelayedPoint", "arm_transmittance", "mdi_bb84", "sns_source", "tf_pm", "tf_sns", "tf_sns_aopp"]

PM_DEFAULT_SOURCE = PmSourceParams(intensity=0.05, phase_slices=16)
"""PM-QKD's source where a twin-field set has an SNS one (its intensity is optimised; 16 phase slices as in
Ma, Zeng, Zhou 2018's simulations)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayedPoint:
    """A relayed protocol's key rate at one total length.

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


def arm_transmittance(loss_db_per_km: float, total_length_km: float) -> float:
    """Transmittance of one arm: half of ``total_length_km`` of fibre (the relay in the middle)."""
    return float(fibre_transmittance(FibreParams(loss_db_per_km=loss_db_per_km), total_length_km / 2.0))


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def mdi_bb84(devices: MdiDeviceSet, total_length_km: float) -> RelayedPoint:
    """Decoy-state MDI-QKD over ``total_length_km`` (arms of the set's first fibre run's attenuation)."""
    eta = arm_transmittance(devices.runs[0].fibre.loss_db_per_km, total_length_km)
    system = devices.system
    best, rate = optimise_signal_intensity(
        lambda s: key_rate_decoy(system, eta, eta, signal_intensity=s).key_rate_per_pulse_pair
    )
    has_key = rate > 0 and np.isfinite(best)
    rates = key_rate_decoy(system, eta, eta, signal_intensity=best if has_key else None)
    return RelayedPoint(
        key_rate_per_pulse=float(rate) if has_key else 0.0,
        signal_intensity=float(best) if has_key else None,
        qber=_finite(float(rates.z_error_rate)) if has_key else None,
        gain=float(rates.z_gain) if has_key else None,
        single_photon_yield=float(rates.y11_z) if has_key else None,
        single_photon_error=float(rates.e11_x) if has_key else None,
        channel_transmittance=eta * eta,
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


def _aopp_source(source: SnsSourceParams | Sns3SourceParams) -> Sns3SourceParams:
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


def tf_sns(devices: TwinFieldDeviceSet, total_length_km: float) -> RelayedPoint:
    """Sending-or-not-sending TF-QKD over ``total_length_km`` (``mu_z`` and ``epsilon`` optimised)."""
    eta = arm_transmittance(devices.fibre_loss_db_per_km, total_length_km)
    point = optimise_sns(eta, eta, sns_source(devices.source), devices.station, ec_efficiency=devices.ec_efficiency)
    has_key = point.key_rate_per_pulse > 0
    return RelayedPoint(
        key_rate_per_pulse=point.key_rate_per_pulse,
        signal_intensity=point.signal_intensity if has_key else None,
        qber=point.z_error_rate if has_key else None,
        gain=point.z_gain if has_key else None,
        single_photon_yield=point.untagged_yield_lower if has_key else None,
        single_photon_error=point.phase_error_upper if has_key else None,
        channel_transmittance=eta * eta,
    )


def tf_sns_aopp(devices: TwinFieldDeviceSet, total_length_km: float) -> RelayedPoint:
    """SNS with actively-odd-parity pairing over ``total_length_km`` (``mu_z`` and ``epsilon`` optimised)."""
    eta = arm_transmittance(devices.fibre_loss_db_per_km, total_length_km)
    source = _aopp_source(devices.source)
    point = optimise_aopp(eta, eta, source, devices.station, ec_efficiency=devices.ec_efficiency)
    has_key = point.key_rate_per_pulse > 0
    return RelayedPoint(
        key_rate_per_pulse=point.key_rate_per_pulse,
        signal_intensity=point.signal_intensity if has_key else None,
        qber=point.error_rate_after_pairing if has_key else None,
        gain=point.z_gain if has_key else None,
        single_photon_yield=point.untagged_yield_lower if has_key else None,
        single_photon_error=point.phase_error_after_pairing if has_key else None,
        channel_transmittance=eta * eta,
    )


def tf_pm(devices: TwinFieldDeviceSet, total_length_km: float) -> RelayedPoint:
    """Phase-matching QKD over ``total_length_km`` (``mu`` optimised; 16 phase slices)."""
    eta = arm_transmittance(devices.fibre_loss_db_per_km, total_length_km)
    point = optimise_pm(eta, eta, PM_DEFAULT_SOURCE, devices.station, ec_efficiency=devices.ec_efficiency)
    has_key = point.key_rate_per_pulse > 0
    return RelayedPoint(
        key_rate_per_pulse=point.key_rate_per_pulse,
        signal_intensity=point.intensity if has_key else None,
        qber=point.bit_error_rate if has_key else None,
        gain=point.gain if has_key else None,
        single_photon_yield=None,
        single_photon_error=point.phase_error_upper if has_key else None,
        channel_transmittance=eta * eta,
    )
