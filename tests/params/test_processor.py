"""The processor noise model: depolarising parameter from average gate fidelity, checked on density matrices."""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params.processor import ProcessorParams, depolarising_probability, processor_of
from qinternet.params.repeater_presets import repeater_preset
from qinternet.states import density


def _average_fidelity_of_depolarising(p: float, d: int) -> float:
    """Average over Haar-random pure states, computed as the mean over a 2-design (the six cardinal states)."""
    kets = [
        np.array([1, 0]),
        np.array([0, 1]),
        np.array([1, 1]) / np.sqrt(2),
        np.array([1, -1]) / np.sqrt(2),
        np.array([1, 1j]) / np.sqrt(2),
        np.array([1, -1j]) / np.sqrt(2),
    ]
    assert d == 2
    fids = []
    for ket in kets:
        rho = density.ket_density(ket)
        out = (1 - p) * rho + p * np.eye(2) / 2
        fids.append(float(np.real(np.conj(ket) @ out @ ket)))
    return float(np.mean(fids))


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_single_qubit_probability_inverts_the_average_fidelity(p: float) -> None:
    f_avg = _average_fidelity_of_depolarising(p, 2)
    assert depolarising_probability(f_avg, 2) == pytest.approx(p, abs=1e-12)


def test_two_qubit_probability_matches_the_swap_model() -> None:
    # physics.bsm.gate_swap_pauli_channel keeps a fraction (4F - 1)/3 of a two-qubit gate's output.
    for f in (0.25, 0.9, 0.99, 1.0):
        assert 1.0 - depolarising_probability(f, 4) == pytest.approx((4 * f - 1) / 3)


def test_bad_values_name_the_field() -> None:
    with pytest.raises(ParameterError, match=r"processor\.two_qubit_gate_fidelity"):
        ProcessorParams(two_qubit_gate_fidelity=0.2)
    with pytest.raises(ParameterError, match=r"processor\.qubits"):
        ProcessorParams(qubits=0)
    with pytest.raises(ParameterError, match=r"processor\.measurement_fidelity"):
        ProcessorParams(measurement_fidelity=0.3)


def test_processor_of_a_preset_takes_its_gates_and_memory() -> None:
    preset = repeater_preset("delft-nv-2021")
    proc = processor_of(preset.node)
    assert proc.two_qubit_gate_fidelity == preset.node.two_qubit_gate_fidelity
    assert proc.measurement_fidelity == preset.node.measurement_fidelity
    assert proc.t2_s == preset.node.memory.t2_s
    assert proc.qubits == preset.node.memory_qubits
    assert processor_of(preset.node, qubits=5).qubits == 5


def test_the_default_processor_has_no_dephasing() -> None:
    # t2_s = inf is the documented default ("none"); a finite-only check refused it
    proc = ProcessorParams()
    assert proc.t2_s == float("inf")
    with pytest.raises(ParameterError, match=r"processor\.t2_s"):
        ProcessorParams(t2_s=0.0)
