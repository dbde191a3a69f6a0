"""Parameter objects are valid from construction and say which field is wrong."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qinternet.errors import ParameterError
from qinternet.params import (
    DetectorParams,
    FibreParams,
    QkdSystem,
    WcpSourceParams,
    dark_count_prob_from_background_yield,
    db_to_transmittance,
    transmittance_to_db,
)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: DetectorParams(efficiency=1.5, dark_count_prob=1e-6), "detector.efficiency"),
        (lambda: DetectorParams(efficiency=0.0, dark_count_prob=1e-6), "detector.efficiency"),
        (lambda: DetectorParams(efficiency=0.1, dark_count_prob=-1e-6), "detector.dark_count_prob"),
        (lambda: DetectorParams(efficiency=0.1, dark_count_prob=0.6), "detector.dark_count_prob"),
        (
            lambda: DetectorParams(efficiency=0.1, dark_count_prob=0.0, after_pulse_prob=1.0),
            "detector.after_pulse_prob",
        ),
        (
            lambda: DetectorParams(efficiency=0.1, dark_count_prob=0.0, dead_time_s=-1.0),
            "detector.dead_time_s",
        ),
        (lambda: FibreParams(loss_db_per_km=-0.2), "fibre.loss_db_per_km"),
        (lambda: FibreParams(loss_db_per_km=math.nan), "fibre.loss_db_per_km"),
        (lambda: WcpSourceParams(signal_intensity=0.0), "source.signal_intensity"),
        (
            lambda: WcpSourceParams(signal_intensity=0.5, decoy_intensities=(0.6,), intensity_probs=(0.5, 0.5)),
            "source.decoy_intensities[0]",
        ),
        (
            lambda: WcpSourceParams(signal_intensity=0.5, decoy_intensities=(0.1,), intensity_probs=(1.0,)),
            "source.intensity_probs",
        ),
        (
            lambda: WcpSourceParams(signal_intensity=0.5, decoy_intensities=(0.1,), intensity_probs=(0.5, 0.6)),
            "source.intensity_probs",
        ),
    ],
)
def test_invalid_values_name_their_field(build: object, field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field


def test_system_checks_its_own_fields(gys: QkdSystem) -> None:
    with pytest.raises(ParameterError, match="ec_efficiency"):
        dataclasses.replace(gys, ec_efficiency=0.9)
    with pytest.raises(ParameterError, match="misalignment_error"):
        dataclasses.replace(gys, misalignment_error=0.6)
    with pytest.raises(ParameterError, match="basis_prob"):
        dataclasses.replace(gys, basis_prob=1.0)


def test_sifting_factor_is_half_for_standard_bb84(gys: QkdSystem) -> None:
    assert gys.sifting_factor == 0.5
    assert dataclasses.replace(gys, basis_prob=0.9).sifting_factor == pytest.approx(0.82)


def test_background_yield_round_trip() -> None:
    # Ma et al. (2005) quote Y0 = 1.7e-6 for the detector pair; each detector then has ~8.5e-7.
    p_d = dark_count_prob_from_background_yield(1.7e-6)
    assert p_d == pytest.approx(8.5e-7, rel=1e-6)
    assert DetectorParams(efficiency=0.045, dark_count_prob=p_d).background_yield == pytest.approx(1.7e-6, rel=1e-12)


@given(st.floats(min_value=0.0, max_value=300.0))
def test_db_conversion_round_trips(loss_db: float) -> None:
    assert float(transmittance_to_db(db_to_transmittance(loss_db))) == pytest.approx(loss_db, abs=1e-9)


def test_parameters_are_frozen(gys: QkdSystem) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        gys.detector.efficiency = 0.5  # type: ignore[misc]
