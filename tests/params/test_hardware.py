"""Device roles of the entanglement layer: bad values are refused with the field's name and the reason."""

from __future__ import annotations

import math

import pytest

from qinternet.errors import ParameterError
from qinternet.params.devices import DetectorParams
from qinternet.params.hardware import (
    ConversionParams,
    EmitterKind,
    EmitterParams,
    HeraldingStationParams,
    MemoryParams,
    NodeHardware,
)


def _emitter(**changes: object) -> EmitterParams:
    values: dict[str, object] = {
        "kind": EmitterKind.NV,
        "attempt_duration_s": 5.5e-6,
        "collection_efficiency": 0.01,
        "wavelength_nm": 637.0,
    }
    values.update(changes)
    return EmitterParams(**values)  # type: ignore[arg-type]


def test_t2_above_twice_t1_is_refused_naming_memory_t2() -> None:
    with pytest.raises(ParameterError, match="must be at most 2 T1") as info:
        MemoryParams(t1_s=1.0, t2_s=2.5)
    assert info.value.field == "memory.t2_s"


def test_t2_equal_to_twice_t1_and_infinite_times_are_accepted() -> None:
    assert MemoryParams(t1_s=1.0, t2_s=2.0).t2_s == 2.0
    assert MemoryParams().t1_s == math.inf
    assert MemoryParams(t2_s=0.4).t1_s == math.inf


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: MemoryParams(write_efficiency=1.5), "memory.write_efficiency"),
        (lambda: MemoryParams(read_efficiency=-0.1), "memory.read_efficiency"),
        (lambda: MemoryParams(t1_s=-1.0), "memory.t1_s"),
        (lambda: MemoryParams(t2_s=float("nan")), "memory.t2_s"),
        (lambda: MemoryParams(modes=0), "memory.modes"),
        (lambda: _emitter(collection_efficiency=1.2), "emitter.collection_efficiency"),
        (lambda: _emitter(zero_phonon_fraction=0.0), "emitter.zero_phonon_fraction"),
        (lambda: _emitter(spin_photon_fidelity=1.01), "emitter.spin_photon_fidelity"),
        (lambda: _emitter(attempt_duration_s=0.0), "emitter.attempt_duration_s"),
        (lambda: _emitter(kind=EmitterKind.RB_ENSEMBLE_DLCZ), "emitter.excitation_prob"),
        (lambda: ConversionParams(efficiency=1.5, output_wavelength_nm=1550.0), "conversion.efficiency"),
        (
            lambda: ConversionParams(efficiency=0.5, noise_rate_hz=-1.0, output_wavelength_nm=1550.0),
            "conversion.noise_rate_hz",
        ),
        (
            lambda: HeraldingStationParams(
                detector=DetectorParams(efficiency=0.8, dark_count_prob=0.0), visibility=1.1
            ),
            "station.visibility",
        ),
        (
            lambda: NodeHardware(memory=MemoryParams(), emitter=_emitter(), two_qubit_gate_fidelity=1.2),
            "node.two_qubit_gate_fidelity",
        ),
        (
            lambda: NodeHardware(memory=MemoryParams(), emitter=_emitter(), communication_qubits=2, memory_qubits=1),
            "node.memory_qubits",
        ),
    ],
)
def test_bad_values_name_their_field(build: object, field: str) -> None:
    with pytest.raises(ParameterError) as info:
        build()  # type: ignore[operator]
    assert info.value.field == field


def test_node_reports_the_fibre_wavelength_after_conversion() -> None:
    plain = NodeHardware(memory=MemoryParams(), emitter=_emitter())
    converted = NodeHardware(
        memory=MemoryParams(),
        emitter=_emitter(),
        conversion=ConversionParams(efficiency=0.5, output_wavelength_nm=1588.0),
    )
    assert plain.photon_wavelength_nm == 637.0
    assert converted.photon_wavelength_nm == 1588.0


def test_attempt_rate_is_the_inverse_of_the_attempt_duration() -> None:
    assert _emitter(attempt_duration_s=4e-6).attempt_rate_hz == pytest.approx(250e3)
