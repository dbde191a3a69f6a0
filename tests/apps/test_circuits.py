"""The batched circuit helpers against the single-register functions of qinternet.states.density."""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.apps.circuits import (
    CARDINAL_KETS,
    dephase_wait,
    depolarise_qubits,
    embed,
    haar_kets,
    noisy_gate,
    project_z,
    rotation_unitaries,
    rotation_vectors,
)
from qinternet.params.processor import ProcessorParams
from qinternet.states import density


def _random_rho(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2**n, 2**n)) + 1j * rng.standard_normal((2**n, 2**n))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


@pytest.mark.parametrize("qubits", [[0], [2], [1, 0], [0, 2], [2, 1]])
def test_embedded_gates_match_apply_unitary(qubits: list[int]) -> None:
    rho = _random_rho(1, 3)
    gate = density.CNOT if len(qubits) == 2 else density.HADAMARD
    full = embed(gate, qubits, 3)
    np.testing.assert_allclose(full @ rho @ full.conj().T, density.apply_unitary(rho, gate, qubits), atol=1e-12)


def test_depolarising_is_mixing_with_the_maximally_mixed_state() -> None:
    # (1 - p) rho + p * (I/4 on qubits 0, 2) x Tr_{0,2} rho, built from partial traces
    rho, p = _random_rho(2, 3), 0.3
    reduced = density.partial_trace(rho, [1])
    mixed = np.einsum("ac,bd,eg->abecdg", np.eye(2) / 2, reduced, np.eye(2) / 2).reshape(8, 8)
    np.testing.assert_allclose(depolarise_qubits(rho, p, [0, 2]), (1 - p) * rho + p * mixed, atol=1e-12)
    # a processor gate's noise has the average gate fidelity it was built from: F_avg of H-then-noise vs H
    proc = ProcessorParams(single_qubit_gate_fidelity=0.97)
    kets = CARDINAL_KETS
    out = noisy_gate(np.einsum("si,sj->sij", kets, kets.conj()), density.HADAMARD, [0], proc)
    ideal = kets @ density.HADAMARD.T
    assert np.mean(np.real(np.einsum("si,sij,sj->s", ideal.conj(), out, ideal))) == pytest.approx(0.97)


def test_projection_and_dephasing() -> None:
    rho = _random_rho(3, 3)
    blocks = project_z(rho, [1])
    probs, posts = density.measure_z(rho, 1)
    np.testing.assert_allclose(np.real(np.trace(blocks, axis1=-2, axis2=-1)), probs, atol=1e-12)
    np.testing.assert_allclose(blocks[1] / probs[1], density.partial_trace(posts[1], [0, 2]), atol=1e-12)
    # waiting T2 * ln 2 halves the coherences
    waited = dephase_wait(density.ket_density(CARDINAL_KETS[2]), 0, np.log(2.0), 1.0)
    assert waited[0, 1] == pytest.approx(0.25)


def test_rotations_and_random_states() -> None:
    v = np.random.default_rng(4).normal(0, 1.0, (200, 3))
    v = v[np.linalg.norm(v, axis=1) < np.pi]  # the inverse returns the shorter rotation
    np.testing.assert_allclose(rotation_vectors(rotation_unitaries(v)), v, atol=1e-9)
    np.testing.assert_allclose(rotation_unitaries(np.array([0.0, 0.0, np.pi])), -1j * np.diag([1, -1]), atol=1e-12)
    kets = haar_kets(np.random.default_rng(5), 40_000)
    # |<0|psi>|^2 is uniform on [0, 1] for Haar states: mean 1/2, sd 1/sqrt(12 * 40000) = 0.0014; allow 4 sd
    assert abs(np.mean(np.abs(kets[:, 0]) ** 2) - 0.5) < 0.0058
