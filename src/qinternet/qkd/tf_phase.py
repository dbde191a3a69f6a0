"""Whether a twin-field link's phase reference can work at all: refuse links whose tracking cannot.

Twin-field QKD needs the relative phase of the two arms at Charlie: the X windows of SNS (and every round of
PM-QKD) are only as good as the estimate of that phase. The relative phase drifts - fibre temperature and
acoustics, the two lasers - and an estimate is always ``tracking_delay_s`` old when it is used, so a residual
error of rms ``sigma = drift rate x delay`` (:class:`~qinternet.params.twinfield.PhaseReferenceParams`)
adds to the station's own phase noise (independent Gaussian errors: variances add). A single photon then
reaches the wrong detector with ``(1 - e^{-sigma^2/2})/2``, which enters the phase-flip error ``e_1^ph`` of
the untagged bits; above some ``sigma``, which depends on the channel, no setting of the source gives key.

:func:`check_phase_reference` finds that ``sigma`` by bisection on the optimised asymptotic SNS rate and
raises :class:`~qinternet.errors.ParameterError` naming ``phase_reference.tracking_delay_s`` (with the
longest delay that would work) when the link's residual error exceeds it. :func:`round_trip_delay_s` gives
the delay of a feedback loop that sends the phase error back through an arm, as a convenience at the edge.
"""

from __future__ import annotations

import dataclasses
import math

from qinternet.errors import ParameterError
from qinternet.params.checks import require_non_negative, require_positive
from qinternet.params.twinfield import InterferenceStationParams, PhaseReferenceParams, SnsSourceParams
from qinternet.params.units import FIBRE_GROUP_INDEX, SPEED_OF_LIGHT_KM_PER_S
from qinternet.qkd.twinfield import optimise_sns

__all__ = [
    "SMF28_GROUP_INDEX",
    "SPEED_OF_LIGHT_KM_PER_S",
    "check_phase_reference",
    "max_phase_noise_rad",
    "round_trip_delay_s",
    "with_phase_reference",
]

SMF28_GROUP_INDEX = FIBRE_GROUP_INDEX
"""Group index of standard single-mode fibre at 1550 nm (:data:`qinternet.params.units.FIBRE_GROUP_INDEX`)."""
_PHASE_TOLERANCE_RAD = 1e-3
"""Resolution of the bisection on the tolerable phase noise, rad."""


def round_trip_delay_s(arm_length_km: float, group_index: float = SMF28_GROUP_INDEX) -> float:
    """``2 L n_g / c``: the age of a phase estimate fed back through an arm of ``arm_length_km``."""
    require_non_negative("arm_length_km", arm_length_km)
    require_positive("group_index", group_index)
    return 2.0 * arm_length_km * group_index / SPEED_OF_LIGHT_KM_PER_S


def with_phase_reference(
    station: InterferenceStationParams, reference: PhaseReferenceParams
) -> InterferenceStationParams:
    """``station`` with the tracking residual added to its phase noise: ``sqrt(sigma_0^2 + sigma_ref^2)``.

    Raises:
        ParameterError: naming ``phase_reference.tracking_delay_s`` when the total exceeds 2 pi (the phase
            is then simply random).
    """
    total = math.hypot(station.phase_noise_rad, reference.residual_phase_noise_rad)
    if total > 2.0 * math.pi:
        raise ParameterError(
            "phase_reference.tracking_delay_s",
            f"the phase drifts by {reference.residual_phase_noise_rad:.3g} rad within the tracking delay "
            f"({reference.drift_rate_rad_per_s:g} rad/s x {reference.tracking_delay_s:g} s): the phase is random",
        )
    return dataclasses.replace(station, phase_noise_rad=total)


def _has_key(
    eta_a: float, eta_b: float, source: SnsSourceParams, station: InterferenceStationParams, f: float, sigma: float
) -> bool:
    trial = dataclasses.replace(station, phase_noise_rad=sigma)
    return optimise_sns(eta_a, eta_b, source, trial, ec_efficiency=f).key_rate_per_pulse > 0.0


def max_phase_noise_rad(
    eta_a: float,
    eta_b: float,
    source: SnsSourceParams,
    station: InterferenceStationParams,
    *,
    ec_efficiency: float,
) -> float:
    """The largest total rms phase noise with which SNS still gives key over this channel, rad.

    Bisection (to 1e-3 rad) on the optimised asymptotic rate; 0 when there is no key even without phase
    noise, ``2 pi`` when any noise leaves key (then the phase is not what limits the link).
    """
    low, high = 0.0, 2.0 * math.pi
    if not _has_key(eta_a, eta_b, source, station, ec_efficiency, low):
        return 0.0
    if _has_key(eta_a, eta_b, source, station, ec_efficiency, high):
        return high
    while high - low > _PHASE_TOLERANCE_RAD:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if _has_key(eta_a, eta_b, source, station, ec_efficiency, mid) else (low, mid)
    return low


def check_phase_reference(
    eta_a: float,
    eta_b: float,
    source: SnsSourceParams,
    station: InterferenceStationParams,
    reference: PhaseReferenceParams,
    *,
    ec_efficiency: float,
) -> InterferenceStationParams:
    """The station with the phase-tracking residual included, or a refusal when no key can survive it.

    Args:
        eta_a, eta_b: transmittances of the arms (fibre only).
        source: the parties' SNS source.
        station: Charlie, with its own phase noise.
        reference: drift rate and tracking delay of the link.
        ec_efficiency: ``f``.

    Raises:
        ParameterError: naming ``phase_reference.tracking_delay_s`` when the residual phase error leaves no
            key at this channel, with the longest delay at which the link would still give key (or saying
            that the channel gives no key even with perfect tracking: then the error names ``eta_a``).
    """
    combined = with_phase_reference(station, reference)
    if optimise_sns(eta_a, eta_b, source, combined, ec_efficiency=ec_efficiency).key_rate_per_pulse > 0.0:
        return combined
    limit = max_phase_noise_rad(eta_a, eta_b, source, station, ec_efficiency=ec_efficiency)
    if limit <= station.phase_noise_rad:
        raise ParameterError("eta_a", "the channel gives no key even with perfect phase tracking")
    allowed = math.sqrt(limit**2 - station.phase_noise_rad**2)
    rate = reference.drift_rate_rad_per_s
    longest = allowed / rate if rate > 0.0 else math.inf
    raise ParameterError(
        "phase_reference.tracking_delay_s",
        f"must be <= {longest:.3g} s for a drift of {rate:g} rad/s: the residual phase error "
        f"{reference.residual_phase_noise_rad:.3g} rad exceeds the {allowed:.3g} rad above which no key is "
        "left on this channel",
    )
