"""Every field of the twin-field device roles is validated, and the error names it."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from qinternet.errors import ParameterError
from qinternet.params.devices import DetectorParams
from qinternet.params.twinfield import (
    LIU2023,
    InterferenceStationParams,
    PhaseReferenceParams,
    PmSourceParams,
    Sns3SourceParams,
    SnsSourceParams,
    TwinFieldDeviceSet,
)

SNS = {
    "z_window_prob": 0.8,
    "sending_prob": 0.2,
    "signal_intensity": 0.4,
    "decoy_intensities": (0.05, 0.2),
    "x_intensity_probs": (0.5, 0.3, 0.2),
    "rep_rate_hz": 1e9,
}
DETECTOR = DetectorParams(efficiency=0.6, dark_count_prob=1e-10)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"z_window_prob": 0.0}, "source.z_window_prob"),
        ({"z_window_prob": 1.0}, "source.z_window_prob"),
        ({"sending_prob": float("nan")}, "source.sending_prob"),
        ({"sending_prob": 1.2}, "source.sending_prob"),
        ({"signal_intensity": 0.0}, "source.signal_intensity"),
        ({"signal_intensity": 1e4}, "source.signal_intensity"),
        ({"decoy_intensities": (0.1,)}, "source.decoy_intensities"),
        ({"decoy_intensities": (0.0, 0.2)}, "source.decoy_intensities[0]"),
        ({"decoy_intensities": (0.05, float("inf"))}, "source.decoy_intensities[1]"),
        ({"decoy_intensities": (0.2, 0.2)}, "source.decoy_intensities"),
        ({"x_intensity_probs": (0.5, 0.5)}, "source.x_intensity_probs"),
        ({"x_intensity_probs": (0.5, 0.6, -0.1)}, "source.x_intensity_probs[2]"),
        ({"x_intensity_probs": (0.5, 0.3, 0.3)}, "source.x_intensity_probs"),
        ({"rep_rate_hz": 0.0}, "source.rep_rate_hz"),
        ({"rep_rate_hz": 1e15}, "source.rep_rate_hz"),
    ],
)
def test_sns_source_fields(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        SnsSourceParams(**{**SNS, **change})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"intensity": -0.1}, "source.intensity"),
        ({"intensity": 1e4}, "source.intensity"),
        ({"phase_slices": 1}, "source.phase_slices"),
        ({"phase_slices": 10_000}, "source.phase_slices"),
        ({"phase_slices": 16.0}, "source.phase_slices"),
        ({"phase_slices": True}, "source.phase_slices"),
        ({"rep_rate_hz": float("nan")}, "source.rep_rate_hz"),
    ],
)
def test_pm_source_fields(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        PmSourceParams(**{"intensity": 0.1, "phase_slices": 16, **change})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"detector": DetectorParams(efficiency=0.6, dark_count_prob=1e-8, after_pulse_prob=0.01)},
            "station.detector.after_pulse_prob",
        ),
        (
            {"detector": DetectorParams(efficiency=0.6, dark_count_prob=1e-8, dead_time_s=1e-7)},
            "station.detector.dead_time_s",
        ),
        ({"misalignment_error": 0.5}, "station.misalignment_error"),
        ({"misalignment_error": -0.01}, "station.misalignment_error"),
        ({"phase_noise_rad": -0.1}, "station.phase_noise_rad"),
        ({"phase_noise_rad": 7.0}, "station.phase_noise_rad"),
        ({"phase_slice_rad": 0.0}, "station.phase_slice_rad"),
        ({"phase_slice_rad": 7.0}, "station.phase_slice_rad"),
    ],
)
def test_station_fields(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        InterferenceStationParams(**{"detector": DETECTOR, **change})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"drift_rate_rad_per_s": -1.0}, "phase_reference.drift_rate_rad_per_s"),
        ({"drift_rate_rad_per_s": 1e12}, "phase_reference.drift_rate_rad_per_s"),
        ({"tracking_delay_s": float("nan")}, "phase_reference.tracking_delay_s"),
        ({"tracking_delay_s": 1e6}, "phase_reference.tracking_delay_s"),
    ],
)
def test_phase_reference_fields(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        PhaseReferenceParams(**{"drift_rate_rad_per_s": 100.0, "tracking_delay_s": 1e-3, **change})
    assert info.value.field == field


SNS3 = {
    "z_window_prob": 0.8,
    "sending_prob": 0.25,
    "signal_intensity": 0.45,
    "decoy_intensity": 0.05,
    "x_vacuum_prob": 0.4,
    "rep_rate_hz": 1e9,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"z_window_prob": 1.0}, "source.z_window_prob"),
        ({"sending_prob": 0.0}, "source.sending_prob"),
        ({"x_vacuum_prob": 1.0}, "source.x_vacuum_prob"),
        ({"x_vacuum_prob": float("nan")}, "source.x_vacuum_prob"),
        ({"signal_intensity": -0.1}, "source.signal_intensity"),
        ({"decoy_intensity": 0.0}, "source.decoy_intensity"),
        ({"decoy_intensity": 0.45}, "source.decoy_intensity"),
        ({"decoy_intensity": 2e3, "signal_intensity": 3e3}, "source.signal_intensity"),
        ({"rep_rate_hz": float("inf")}, "source.rep_rate_hz"),
    ],
)
def test_sns3_source_fields(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        Sns3SourceParams(**{**SNS3, **change})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ec_efficiency": 0.99}, "ec_efficiency"),
        ({"ec_efficiency": 20.0}, "ec_efficiency"),
        ({"fibre_loss_db_per_km": -0.1}, "fibre.loss_db_per_km"),
        ({"fibre_loss_db_per_km": 1e4}, "fibre.loss_db_per_km"),
    ],
)
def test_device_set_fields(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        dataclasses.replace(LIU2023, **change)
    assert info.value.field == field


def test_valid_roles_are_frozen_values() -> None:
    source = SnsSourceParams(**SNS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        source.sending_prob = 0.3  # type: ignore[misc]
    assert PhaseReferenceParams(drift_rate_rad_per_s=200.0, tracking_delay_s=2e-3).residual_phase_noise_rad == 0.4
    assert isinstance(LIU2023, TwinFieldDeviceSet)
    assert InterferenceStationParams(detector=DETECTOR).phase_slice_rad == pytest.approx(math.pi / 8)
