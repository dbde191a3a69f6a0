"""A twin-field link whose phase reference cannot keep up is refused, naming the field and the limit.

Closed forms: the round trip of a feedback loop through ``L`` km of fibre takes ``2 L n_g / c``
(1 ms per ~102 km at ``n_g = 1.4682``); a single photon with Gaussian phase error of rms ``sigma`` reaches
the wrong detector with ``(1 - e^{-sigma^2/2})/2``.
"""

from __future__ import annotations

import math

import pytest

from qinternet.errors import ParameterError
from qinternet.params.devices import DetectorParams
from qinternet.params.twinfield import InterferenceStationParams, PhaseReferenceParams, SnsSourceParams
from qinternet.qkd.tf_phase import (
    check_phase_reference,
    max_phase_noise_rad,
    round_trip_delay_s,
    with_phase_reference,
)
from qinternet.qkd.twinfield import optimise_sns, sns_decoy_estimate

SOURCE = SnsSourceParams(z_window_prob=0.9, sending_prob=0.1, signal_intensity=0.4, decoy_intensities=(0.02, 0.2))
STATION = InterferenceStationParams(
    detector=DetectorParams(efficiency=0.8, dark_count_prob=1e-10), misalignment_error=0.03, phase_noise_rad=0.05
)
ETA = 10 ** (-40.0 / 10)  # 250 km of 0.16 dB/km fibre per arm


def test_round_trip_delay_closed_form() -> None:
    assert round_trip_delay_s(100.0) == pytest.approx(2 * 100.0 * 1.4682 / 299_792.458, rel=1e-12)
    assert round_trip_delay_s(0.0) == 0.0
    with pytest.raises(ParameterError) as info:
        round_trip_delay_s(-1.0)
    assert info.value.field == "arm_length_km"


def test_phase_noise_error_closed_form() -> None:
    noisy = InterferenceStationParams(detector=DetectorParams(efficiency=1.0, dark_count_prob=0.0), phase_noise_rad=0.4)
    assert noisy.phase_error == pytest.approx(0.5 * (1 - math.exp(-0.08)), rel=1e-12)
    # The click model's single-photon error with a vanishing slice is that same number.
    narrow = InterferenceStationParams(
        detector=DetectorParams(efficiency=1.0, dark_count_prob=0.0), phase_noise_rad=0.4, phase_slice_rad=1e-4
    )
    assert float(sns_decoy_estimate(0.01, 0.01, (0.01, 0.1), narrow).phase_error) == pytest.approx(
        noisy.phase_error, rel=1e-6
    )


def test_tracking_residual_adds_in_quadrature() -> None:
    reference = PhaseReferenceParams(drift_rate_rad_per_s=100.0, tracking_delay_s=1e-3)  # 0.1 rad
    combined = with_phase_reference(STATION, reference)
    assert combined.phase_noise_rad == pytest.approx(math.hypot(0.05, 0.1))
    assert combined.misalignment_error == STATION.misalignment_error


def test_a_fast_enough_reference_is_accepted() -> None:
    reference = PhaseReferenceParams(drift_rate_rad_per_s=100.0, tracking_delay_s=1e-3)
    station = check_phase_reference(ETA, ETA, SOURCE, STATION, reference, ec_efficiency=1.1)
    assert optimise_sns(ETA, ETA, SOURCE, station, ec_efficiency=1.1).key_rate_per_pulse > 0


def test_a_reference_older_than_the_drift_allows_is_refused_with_the_longest_delay() -> None:
    # Feedback through 250 km of fibre (2.45 ms) against a drift of 1,000 rad/s: 2.4 rad of residual error.
    drift = 1_000.0
    reference = PhaseReferenceParams(drift_rate_rad_per_s=drift, tracking_delay_s=round_trip_delay_s(250.0))
    with pytest.raises(ParameterError) as info:
        check_phase_reference(ETA, ETA, SOURCE, STATION, reference, ec_efficiency=1.1)
    assert info.value.field == "phase_reference.tracking_delay_s"
    assert "no key" in info.value.reason
    longest = float(info.value.reason.split("must be <= ")[1].split(" s")[0])
    # The quoted limit is where key vanishes: a little shorter works, a little longer does not.
    limit = max_phase_noise_rad(ETA, ETA, SOURCE, STATION, ec_efficiency=1.1)
    assert longest == pytest.approx(math.sqrt(limit**2 - 0.05**2) / drift, rel=1e-2)
    ok = PhaseReferenceParams(drift_rate_rad_per_s=drift, tracking_delay_s=0.98 * longest)
    check_phase_reference(ETA, ETA, SOURCE, STATION, ok, ec_efficiency=1.1)
    too_old = PhaseReferenceParams(drift_rate_rad_per_s=drift, tracking_delay_s=1.02 * longest)
    with pytest.raises(ParameterError):
        check_phase_reference(ETA, ETA, SOURCE, STATION, too_old, ec_efficiency=1.1)


def test_tolerable_phase_noise_shrinks_as_the_channel_gets_lossier() -> None:
    near = max_phase_noise_rad(10 ** (-2.0), 10 ** (-2.0), SOURCE, STATION, ec_efficiency=1.1)
    far = max_phase_noise_rad(10 ** (-5.5), 10 ** (-5.5), SOURCE, STATION, ec_efficiency=1.1)
    assert 0 < far < near < math.pi


def test_a_channel_without_key_is_blamed_on_the_channel() -> None:
    dead = 10 ** (-9.0)  # 90 dB per arm: dark counts win whatever the phase
    reference = PhaseReferenceParams(drift_rate_rad_per_s=0.0, tracking_delay_s=0.0)
    with pytest.raises(ParameterError) as info:
        check_phase_reference(dead, dead, SOURCE, STATION, reference, ec_efficiency=1.1)
    assert info.value.field == "eta_a"


def test_a_drift_that_randomises_the_phase_is_refused_outright() -> None:
    reference = PhaseReferenceParams(drift_rate_rad_per_s=1e4, tracking_delay_s=1e-2)  # 100 rad
    with pytest.raises(ParameterError) as info:
        with_phase_reference(STATION, reference)
    assert info.value.field == "phase_reference.tracking_delay_s"
    assert "random" in info.value.reason
