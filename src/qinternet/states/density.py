"""Density matrices of small registers: the general path, for noise that is not Pauli and for checking the fast one.

A register of ``n`` qubits is a complex array of shape ``(2**n, 2**n)``; qubit 0 is the most significant bit
(``|q0 q1 ... >``). Operations reshape the matrix into ``2n`` axes and contract only the qubits they act on, so
a gate on ``k`` qubits costs ``O(4**n * 2**k)``. Meant for a few qubits (a pair, two pairs, a small processor),
not for chains: chains use :mod:`qinternet.states.bell`.

The quantum-operation formalism is Nielsen, Chuang, *Quantum Computation and Quantum Information* (2010),
Ch. 8 (Kraus operators; amplitude damping eq. 8.107, phase damping eq. 8.127).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError

__all__ = [
    "BELL_KETS",
    "CNOT",
    "HADAMARD",
    "PAULIS",
    "amplitude_damping_kraus",
    "apply_kraus",
    "apply_unitary",
    "bell_coefficients",
    "bell_measure",
    "chsh_max_density",
    "density_of_bell_diagonal",
    "fidelity_with_ket",
    "ket_density",
    "measure_z",
    "partial_trace",
    "phase_damping_kraus",
    "rx",
    "tensor",
]

Complex = NDArray[np.complex128]

_I = np.eye(2, dtype=np.complex128)
_X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
_Y = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)
_Z = np.array([[1, 0], [0, -1]], dtype=np.complex128)
PAULIS: tuple[Complex, Complex, Complex, Complex] = (_I, _X, _Z, _Y)
"""The Paulis in the Bell-diagonal index order ``I, X, Z, Y`` (:mod:`qinternet.states.bell`)."""
HADAMARD: Complex = np.array([[1, 1], [1, -1]], dtype=np.complex128) / np.sqrt(2.0)
CNOT: Complex = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=np.complex128)

_PHI_PLUS = np.array([1, 0, 0, 1], dtype=np.complex128) / np.sqrt(2.0)
BELL_KETS: Complex = np.stack([np.kron(_I, p) @ _PHI_PLUS for p in PAULIS])
"""Row ``k``: the Bell state ``(I x P_k)|Phi+>`` in the order ``[Phi+, Psi+, Phi-, Psi-]`` (``Psi-`` up to a phase)."""


def rx(theta: float) -> Complex:
    """Rotation about X: ``exp(-i theta X / 2)``."""
    return np.asarray(np.cos(theta / 2.0) * _I - 1j * np.sin(theta / 2.0) * _X, dtype=np.complex128)


def tensor(*ops: ArrayLike) -> Complex:
    """Kronecker product of the operators (or density matrices) in order."""
    out: Complex = np.array([[1.0]], dtype=np.complex128)
    for op in ops:
        out = np.asarray(np.kron(out, np.asarray(op, dtype=np.complex128)), dtype=np.complex128)
    return out


def ket_density(ket: ArrayLike) -> Complex:
    """``|psi><psi|`` of a normalised ket."""
    k = np.asarray(ket, dtype=np.complex128)
    return np.asarray(np.outer(k, k.conj()), dtype=np.complex128)


def density_of_bell_diagonal(p: ArrayLike) -> Complex:
    """The 4x4 density matrix ``sum_k p_k |B_k><B_k|`` of Bell-diagonal coefficients."""
    pa = np.asarray(p, dtype=np.float64)
    return np.asarray(np.einsum("k,ki,kj->ij", pa, BELL_KETS, BELL_KETS.conj()), dtype=np.complex128)


def bell_coefficients(rho: ArrayLike) -> NDArray[np.float64]:
    """``<B_k| rho |B_k>`` for the four Bell states: the Bell-diagonal state a twirl over the Pauli group leaves."""
    r = np.asarray(rho, dtype=np.complex128)
    return np.asarray(np.real(np.einsum("ki,ij,kj->k", BELL_KETS.conj(), r, BELL_KETS)), dtype=np.float64)


def fidelity_with_ket(rho: ArrayLike, ket: ArrayLike) -> float:
    """``<psi| rho |psi>``."""
    k = np.asarray(ket, dtype=np.complex128)
    return float(np.real(k.conj() @ np.asarray(rho, dtype=np.complex128) @ k))


def _qubits_of(rho: Complex) -> int:
    n = round(float(np.log2(rho.shape[0])))
    if rho.shape != (2**n, 2**n):
        raise ParameterError("rho", f"must be a square matrix of side 2**n, got shape {rho.shape}")
    return n


def _check_targets(qubits: Sequence[int], n: int) -> None:
    if len(set(qubits)) != len(qubits) or any(not 0 <= q < n for q in qubits):
        raise ParameterError("qubits", f"must be distinct indices below {n}, got {list(qubits)}")


def _act_left(rho: Complex, op: Complex, qubits: Sequence[int], n: int) -> Complex:
    """``op`` on ``qubits`` times ``rho`` (rows only)."""
    k = len(qubits)
    t = rho.reshape((2,) * (2 * n))
    opt = op.reshape((2,) * (2 * k))
    row_axes = list(qubits)
    moved = np.tensordot(opt, t, axes=(list(range(k, 2 * k)), row_axes))
    # tensordot puts the op's output axes first: move them back to the qubits' places
    moved = np.moveaxis(moved, list(range(k)), row_axes)
    return np.asarray(moved.reshape(2**n, 2**n), dtype=np.complex128)


def apply_unitary(rho: ArrayLike, unitary: ArrayLike, qubits: Sequence[int]) -> Complex:
    """``U rho U^dagger`` with ``U`` acting on ``qubits`` (in the order given) of the register."""
    r = np.asarray(rho, dtype=np.complex128)
    u = np.asarray(unitary, dtype=np.complex128)
    n = _qubits_of(r)
    _check_targets(qubits, n)
    left = _act_left(r, u, qubits, n)
    return np.asarray(_act_left(left.conj().T, u, qubits, n).conj().T, dtype=np.complex128)


def apply_kraus(rho: ArrayLike, kraus: Sequence[ArrayLike], qubits: Sequence[int]) -> Complex:
    """``sum_i K_i rho K_i^dagger`` with the Kraus operators acting on ``qubits`` (Nielsen, Chuang, eq. 8.11)."""
    r = np.asarray(rho, dtype=np.complex128)
    return np.asarray(sum(apply_unitary(r, k, qubits) for k in kraus), dtype=np.complex128)


def amplitude_damping_kraus(gamma: float) -> tuple[Complex, Complex]:
    """Energy relaxation with probability ``gamma = 1 - exp(-t/T1)`` (Nielsen, Chuang, eq. 8.107)."""
    e0 = np.array([[1, 0], [0, np.sqrt(1.0 - gamma)]], dtype=np.complex128)
    e1 = np.array([[0, np.sqrt(gamma)], [0, 0]], dtype=np.complex128)
    return e0, e1


def phase_damping_kraus(prob: float) -> tuple[Complex, Complex]:
    """A Z error with probability ``prob``: coherences multiplied by ``1 - 2 prob`` (Nielsen, Chuang, eq. 8.127)."""
    return np.sqrt(1.0 - prob) * _I, np.sqrt(prob) * _Z


def partial_trace(rho: ArrayLike, keep: Sequence[int]) -> Complex:
    """The reduced state of the qubits ``keep`` (in increasing order)."""
    r = np.asarray(rho, dtype=np.complex128)
    n = _qubits_of(r)
    _check_targets(keep, n)
    kept = sorted(keep)
    traced = [q for q in range(n) if q not in kept]
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = [letters[q] for q in range(n)]
    cols = [letters[q] if q in traced else letters[n + q].upper() for q in range(n)]
    out = "".join(letters[q] for q in kept) + "".join(letters[n + q].upper() for q in kept)
    reduced = np.einsum("".join(rows) + "".join(cols) + "->" + out, r.reshape((2,) * (2 * n)))
    side = 2 ** len(kept)
    return np.asarray(reduced.reshape(side, side), dtype=np.complex128)


def measure_z(rho: ArrayLike, qubit: int) -> tuple[NDArray[np.float64], tuple[Complex, Complex]]:
    """Measure one qubit in Z: outcome probabilities ``(p0, p1)`` and the normalised post-measurement registers
    (the measured qubit stays, in its outcome state; a zero-probability outcome gives a zero matrix)."""
    r = np.asarray(rho, dtype=np.complex128)
    probs = []
    posts = []
    for outcome in (0, 1):
        proj = np.zeros((2, 2), dtype=np.complex128)
        proj[outcome, outcome] = 1.0
        post = apply_unitary(r, proj, [qubit])
        prob = float(np.real(np.trace(post)))
        probs.append(prob)
        posts.append(post / prob if prob > 0.0 else post)
    return np.array(probs), (posts[0], posts[1])


def bell_measure(rho: ArrayLike, qubits: tuple[int, int]) -> tuple[NDArray[np.float64], list[Complex]]:
    """An ideal Bell measurement of two qubits: outcome probabilities in the Bell order and, for each outcome,
    the normalised state of the remaining qubits (the measured pair traced out)."""
    r = np.asarray(rho, dtype=np.complex128)
    n = _qubits_of(r)
    rest = [q for q in range(n) if q not in qubits]
    probs = []
    states = []
    for k in range(4):
        proj = ket_density(BELL_KETS[k])
        post = partial_trace(apply_unitary(r, proj, list(qubits)), rest)
        prob = float(np.real(np.trace(post)))
        probs.append(prob)
        states.append(post / prob if prob > 0.0 else post)
    return np.array(probs), states


def chsh_max_density(rho: ArrayLike) -> float:
    """The largest CHSH value of a two-qubit state: ``2 sqrt(s1^2 + s2^2)`` with ``s1, s2`` the two largest singular
    values of its correlation matrix ``T_ij = Tr(rho sigma_i x sigma_j)`` (Horodecki et al., Phys. Lett. A 200,
    340 (1995))."""
    r = np.asarray(rho, dtype=np.complex128)
    paulis = (_X, _Y, _Z)
    t = np.array([[np.real(np.trace(r @ np.kron(a, b))) for b in paulis] for a in paulis])
    s = np.sort(np.linalg.svd(t, compute_uv=False))
    return float(2.0 * np.sqrt(s[-1] ** 2 + s[-2] ** 2))
