"""Which simulator for the applications' small noisy circuits (issue 14): qinternet's numpy path against qutip,
cirq, qiskit-aer and stim, by measurement.

Standalone (not part of ``run.py``; it needs libraries qinternet does not depend on)::

    PYTHONPATH=src python benchmarks/circuits_bench.py [--out FILE] [--batch 10000] [--loop 200]

It always runs qinternet's numpy path; each library runs when it is importable and is reported as "not
installed" otherwise (the measurements in docs/quantum-circuits.md come from a separate venv with all of them).

The circuits are those the applications run, written once in a tiny gate/channel list and translated to each
simulator (all start in ``|0...0>``; every noisy Bell pair is made by an ideal H and CNOT followed by a Pauli
channel on its second qubit with the Bell-diagonal probabilities ``[I, X, Z, Y]`` of :mod:`qinternet.states.bell`):

(a) ``teleport``: one qubit ``Rz(phi) Ry(theta)|0>`` teleported over a noisy pair (3 qubits);
(b) ``cz-teleport``: a CZ between two modules by gate teleportation (Eisert et al., PRA 62, 052317 (2000)) on
    ``|+>|+>``-like inputs (4 qubits);
(c) ``grover``: a 2-qubit Grover search for ``|11>`` whose oracle and diffusion CZs are both teleported, both pairs
    made at the start (6 qubits);
(d) ``ghz-N``: an N-qubit GHZ state (H, CNOT chain), then dephasing of every qubit; the parity ``<X...X>`` is the
    figure phase sensing uses (Komar et al., Nat. Phys. 10, 582 (2014));
(e) ``batch``: 10,000 teleportations (a) with random noise parameters (a parameter study).

Noise: each gate is followed by depolarising ``rho -> (1 - p) rho + p I/d`` on its qubits, ``p = d (1 - F_avg)/(d -
1)`` from the average gate fidelity (Nielsen, Phys. Lett. A 303, 249 (2002); as in qinternet.params.processor);
each readout is flipped with probability ``e``. Mid-circuit measurements with classically controlled corrections
are written in their deferred form (Nielsen, Chuang (2010), Sec. 4.4): a readout flip is an X error with
probability ``e`` before the measurement, the correction is the controlled gate, and the gate noise after a
classically controlled correction acts whether or not it fired (the average over outcomes is then the same
channel). The measured qubits are traced out: the result is the averaged state of the kept qubits.

Every simulator's output (the reduced density matrix) is compared entry by entry with the numpy path's:
agreement means a largest absolute difference <= 1e-10. stim is a stabilizer simulator: it runs only the Clifford
circuits (c, d) and gives no density matrix; the benchmark computes its figures (Grover success probability, GHZ
parity) exactly from stim's detector error model (independent error mechanisms; ``E[(-1)^L] = prod (1 - 2 p)``) and
compares them with the same figures of the numpy path.

Timing: wall time (``time.perf_counter``) per circuit including building the simulator's circuit object from the
gate list (a parameter study builds one per parameter point), median over repeats (one call for calls over 0.3 s;
a GHZ size predicted to exceed ``--skip-above-s`` is skipped and says so); every library runs on one thread. CPU
(process) time is printed beside the wall time: where they differ, other work on the machine took the core.
Import time is the best of three ``python -c "import X"`` processes.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# one thread everywhere (BLAS; OpenMP in qiskit-aer), set before numpy loads: the libraries run on the same
# footing, and idle BLAS threads spinning on a shared core cannot slow the main thread
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from qinternet.states import density  # noqa: E402

Complex = NDArray[np.complex128]
TOLERANCE = 1e-10
"""Largest absolute difference of two density matrices (or figures) that counts as agreement."""

# ---------------------------------------------------------------------------------------------- the gate list

_I2 = np.eye(2, dtype=np.complex128)
_X = density.PAULIS[1]
_Z = density.PAULIS[2]
_H = density.HADAMARD
_CNOT = density.CNOT
_CZ = np.diag([1, 1, 1, -1]).astype(np.complex128)


def _ry(theta: float) -> Complex:
    c, s = math.cos(theta / 2.0), math.sin(theta / 2.0)
    return np.array([[c, -s], [s, c]], dtype=np.complex128)


def _rz(phi: float) -> Complex:
    return np.diag([np.exp(-0.5j * phi), np.exp(0.5j * phi)]).astype(np.complex128)


@dataclass(frozen=True, slots=True)
class Gate:
    """A unitary on ``qubits`` (the first listed qubit is the most significant bit of ``matrix``)."""

    name: str  # "H", "X", "CX", "CZ" (Clifford, known to stim) or "U" (any matrix)
    matrix: Complex
    qubits: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Depolarise:
    """``rho -> (1 - p) rho + p I/d ⊗ Tr_qubits(rho)`` on one or two qubits; ``prob`` a float or a (batch,) array."""

    prob: Any
    qubits: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PauliChannel:
    """Pauli errors ``[I, X, Z, Y]`` with ``probs`` (4 floats, or 4 arrays of shape (batch,)) on one qubit."""

    probs: Any
    qubit: int


Op = Gate | Depolarise | PauliChannel


@dataclass(frozen=True, slots=True)
class Circuit:
    """A register of ``qubits`` in ``|0...0>``, the operations in order, and the qubits whose state is the result."""

    name: str
    qubits: int
    ops: tuple[Op, ...]
    keep: tuple[int, ...]
    clifford: bool = False
    observable: str = ""  # "success11" (Grover) or "parity" (GHZ): the figure stim reports


@dataclass(frozen=True, slots=True)
class Noise:
    """Noise of one circuit: the pair's Bell-diagonal probabilities, gate depolarising, readout flips, dephasing."""

    pair: Any = (0.95, 0.05 / 3, 0.05 / 3, 0.05 / 3)  # Werner pair of fidelity 0.95
    dep1: Any = 2.0 * (1.0 - 0.999)  # single-qubit gates with F_avg = 0.999 (d = 2)
    dep2: Any = 4.0 * (1.0 - 0.99) / 3.0  # two-qubit gates with F_avg = 0.99 (d = 4)
    flip: Any = 0.01  # readout error
    dephase: Any = 0.02  # Z error per qubit on the GHZ state


def _gate1(ops: list[Op], name: str, matrix: Complex, q: int, noise: Noise) -> None:
    ops.append(Gate(name, matrix, (q,)))
    ops.append(Depolarise(noise.dep1, (q,)))


def _gate2(ops: list[Op], name: str, matrix: Complex, a: int, b: int, noise: Noise) -> None:
    ops.append(Gate(name, matrix, (a, b)))
    ops.append(Depolarise(noise.dep2, (a, b)))


def _pair(ops: list[Op], a: int, b: int, noise: Noise) -> None:
    ops.append(Gate("H", _H, (a,)))
    ops.append(Gate("CX", _CNOT, (a, b)))
    pair = tuple(np.asarray(noise.pair).T) if np.ndim(noise.pair) == 2 else noise.pair  # (batch, 4): columns
    ops.append(PauliChannel(pair, b))


def _flip(ops: list[Op], q: int, noise: Noise) -> None:
    e = noise.flip
    ops.append(PauliChannel((1.0 - np.asarray(e), np.asarray(e), 0.0 * np.asarray(e), 0.0 * np.asarray(e)), q))


def teleport_circuit(noise: Noise, theta: float = 1.1, phi: float = 0.7) -> Circuit:
    """(a) Qubit 0 holds ``Rz(phi) Ry(theta)|0>``; the pair is (1, 2); the result is qubit 2 (Bob)."""
    ops: list[Op] = []
    _pair(ops, 1, 2, noise)
    _gate1(ops, "U", _rz(phi) @ _ry(theta), 0, noise)
    _gate2(ops, "CX", _CNOT, 0, 1, noise)
    _gate1(ops, "H", _H, 0, noise)
    _flip(ops, 0, noise)
    _flip(ops, 1, noise)
    ops.append(Gate("CX", _CNOT, (1, 2)))  # X^m1 on Bob's qubit, deferred
    ops.append(Depolarise(noise.dep1, (2,)))
    ops.append(Gate("CZ", _CZ, (0, 2)))  # Z^m0, deferred
    ops.append(Depolarise(noise.dep1, (2,)))
    return Circuit("teleport", 3, tuple(ops), (2,))


def _teleported_cz(ops: list[Op], a_data: int, a_comm: int, b_comm: int, b_data: int, noise: Noise) -> None:
    """CZ(a_data, b_data) through the pair (a_comm, b_comm): cat-entangler, local CZ at B, cat-disentangler."""
    _gate2(ops, "CX", _CNOT, a_data, a_comm, noise)
    _flip(ops, a_comm, noise)  # A measures a_comm in Z ...
    ops.append(Gate("CX", _CNOT, (a_comm, b_comm)))  # ... and B applies X^m (deferred)
    ops.append(Depolarise(noise.dep1, (b_comm,)))
    _gate2(ops, "CZ", _CZ, b_comm, b_data, noise)
    _gate1(ops, "H", _H, b_comm, noise)  # B measures b_comm in X ...
    _flip(ops, b_comm, noise)
    ops.append(Gate("CZ", _CZ, (b_comm, a_data)))  # ... and A applies Z^m (deferred)
    ops.append(Depolarise(noise.dep1, (a_data,)))


def cz_teleport_circuit(noise: Noise) -> Circuit:
    """(b) Data qubits 0 (module A) and 3 (module B) in rotated states, the pair on (1, 2); result: qubits 0, 3."""
    ops: list[Op] = []
    _pair(ops, 1, 2, noise)
    _gate1(ops, "U", _ry(1.3), 0, noise)
    _gate1(ops, "U", _ry(0.4) @ _rz(0.9), 3, noise)
    _teleported_cz(ops, 0, 1, 2, 3, noise)
    return Circuit("cz-teleport", 4, tuple(ops), (0, 3))


def grover_circuit(noise: Noise) -> Circuit:
    """(c) Grover for ``|11>`` on data qubits 0 (A) and 3 (B); pairs (1, 2) and (4, 5); readout flips at the end."""
    ops: list[Op] = []
    _pair(ops, 1, 2, noise)
    _pair(ops, 4, 5, noise)
    for q in (0, 3):
        _gate1(ops, "H", _H, q, noise)
    _teleported_cz(ops, 0, 1, 2, 3, noise)  # oracle: -1 on |11>
    for q in (0, 3):
        _gate1(ops, "H", _H, q, noise)
        _gate1(ops, "X", _X, q, noise)
    _teleported_cz(ops, 0, 4, 5, 3, noise)  # diffusion: -1 on |00> (up to a global phase)
    for q in (0, 3):
        _gate1(ops, "X", _X, q, noise)
        _gate1(ops, "H", _H, q, noise)
        _flip(ops, q, noise)
    return Circuit("grover", 6, tuple(ops), (0, 3), clifford=True, observable="success11")


def ghz_circuit(n: int, noise: Noise) -> Circuit:
    """(d) GHZ on ``n`` qubits by H and a CNOT chain, then dephasing of each qubit; result: all qubits."""
    ops: list[Op] = []
    _gate1(ops, "H", _H, 0, noise)
    for q in range(n - 1):
        _gate2(ops, "CX", _CNOT, q, q + 1, noise)
    for q in range(n):
        d = noise.dephase
        ops.append(PauliChannel((1.0 - d, 0.0, d, 0.0), q))
    return Circuit(f"ghz-{n}", n, tuple(ops), tuple(range(n)), clifford=True, observable="parity")


# ---------------------------------------------------------------------------------------------- figures of a state


def success11(rho: Complex) -> float:
    """Probability of reading ``11`` from the 2-qubit result (readout flips are already in the circuit)."""
    return float(np.real(rho[3, 3]))


def parity_x(rho: Complex) -> float:
    """``Tr(rho X^{⊗n})`` = sum of the anti-diagonal (X on every qubit flips every bit of the column index)."""
    return float(np.real(np.trace(rho[:, ::-1])))


def figure_of(circuit: Circuit, rho: Complex) -> float:
    return success11(rho) if circuit.observable == "success11" else parity_x(rho)


# ---------------------------------------------------------------------------------------------- backends


def _pauli_strings(k: int) -> list[Complex]:
    out: list[Complex] = [np.eye(1, dtype=np.complex128)]
    for _ in range(k):
        out = [np.kron(a, p) for a in out for p in density.PAULIS]
    return out


_PAULI_STRINGS = {1: _pauli_strings(1), 2: _pauli_strings(2)}


def _kraus_of(op: Depolarise | PauliChannel) -> list[Complex]:
    """Kraus operators of a (scalar) channel; zero-weight terms dropped."""
    if isinstance(op, Depolarise):
        k = len(op.qubits)
        p = float(op.prob)
        weights = [1.0 - p + p / 4**k] + [p / 4**k] * (4**k - 1)
        paulis = _PAULI_STRINGS[k]
    else:
        weights = [float(w) for w in op.probs]
        paulis = list(density.PAULIS)
    return [math.sqrt(w) * m for w, m in zip(weights, paulis, strict=True) if w > 0.0]


def _ground(n: int) -> Complex:
    rho = np.zeros((2**n, 2**n), dtype=np.complex128)
    rho[0, 0] = 1.0
    return rho


class NumpyPath:
    """qinternet's numpy path as the applications use it: density.apply_unitary / apply_kraus / partial_trace."""

    name = "numpy (qinternet.states.density)"

    def build(self, circuit: Circuit) -> list[tuple[Complex | list[Complex], tuple[int, ...]]]:
        steps: list[tuple[Complex | list[Complex], tuple[int, ...]]] = []
        for op in circuit.ops:
            if isinstance(op, Gate):
                steps.append((op.matrix, op.qubits))
            else:
                steps.append((_kraus_of(op), op.qubits if isinstance(op, Depolarise) else (op.qubit,)))
        return steps

    def run(self, circuit: Circuit, built: list[tuple[Complex | list[Complex], tuple[int, ...]]]) -> Complex:
        rho = _ground(circuit.qubits)
        for what, qubits in built:
            if isinstance(what, list):
                rho = density.apply_kraus(rho, what, qubits)
            else:
                rho = density.apply_unitary(rho, what, qubits)
        return density.partial_trace(rho, circuit.keep)


class BatchedNumpy:
    """Plain numpy over a leading batch axis: one register per parameter point, channels as closed forms.

    A gate is two tensordots; depolarising is ``(1 - p) rho + p D(rho)`` with ``D`` the complete depolarisation of
    the qubits (trace them out, put back ``I/2`` for each); a Pauli channel is a weighted sum of four conjugations.
    ``batch = 1`` is the same code for one circuit.
    """

    name = "numpy, batched closed-form channels"

    def build(self, circuit: Circuit) -> Circuit:
        return circuit

    @staticmethod
    def _act(t: Complex, op: Complex, axes: list[int]) -> Complex:
        k = len(axes)
        moved = np.tensordot(op.reshape((2,) * (2 * k)), t, axes=(list(range(k, 2 * k)), axes))
        return np.moveaxis(moved, list(range(k)), axes)

    @classmethod
    def _unitary(cls, t: Complex, u: Complex, qubits: Sequence[int], n: int) -> Complex:
        t = cls._act(t, u, [1 + q for q in qubits])
        return cls._act(t, u.conj(), [1 + n + q for q in qubits])

    @staticmethod
    def _depolarise_fully(t: Complex, q: int, n: int) -> Complex:
        traced = np.trace(t, axis1=1 + q, axis2=1 + n + q)
        out = np.zeros_like(t)
        for b in (0, 1):
            index: list[Any] = [slice(None)] * (2 * n + 1)
            index[1 + q] = b
            index[1 + n + q] = b
            out[tuple(index)] = 0.5 * traced
        return out

    @staticmethod
    def _weight(w: Any, batch: int, n: int) -> NDArray[np.float64]:
        return np.broadcast_to(np.asarray(w, dtype=np.float64), (batch,)).reshape((batch,) + (1,) * (2 * n))

    def run(self, circuit: Circuit, built: Circuit, batch: int = 1) -> Complex:
        n = circuit.qubits
        t = np.zeros((batch,) + (2,) * (2 * n), dtype=np.complex128)
        t[(slice(None),) + (0,) * (2 * n)] = 1.0
        for op in built.ops:
            if isinstance(op, Gate):
                t = self._unitary(t, op.matrix, op.qubits, n)
            elif isinstance(op, Depolarise):
                full = t
                for q in op.qubits:
                    full = self._depolarise_fully(full, q, n)
                p = self._weight(op.prob, batch, n)
                t = (1.0 - p) * t + p * full
            else:
                probs = [np.broadcast_to(np.asarray(w, dtype=np.float64), (batch,)) for w in op.probs]
                new = self._weight(probs[0], batch, n) * t
                for k in (1, 2, 3):
                    if np.any(probs[k] != 0.0):
                        new = new + self._weight(probs[k], batch, n) * self._unitary(
                            t, density.PAULIS[k], [op.qubit], n
                        )
                t = new
        for q in sorted(set(range(n)) - set(circuit.keep), reverse=True):
            m = t.ndim // 2
            t = np.trace(t, axis1=1 + q, axis2=1 + m + q)
        side = 2 ** len(circuit.keep)
        out = t.reshape(batch, side, side)
        return out[0] if batch == 1 else out


class QutipBackend:
    """qutip 5: operators expanded to the register (expand_operator) and ``sum_i K_i rho K_i^dagger``."""

    name = "qutip"

    def __init__(self) -> None:
        import qutip

        self.qt = qutip

    def build(self, circuit: Circuit) -> list[list[Any]]:
        qt = self.qt
        dims = [2] * circuit.qubits
        steps: list[list[Any]] = []
        for op in circuit.ops:
            if isinstance(op, Gate):
                mats, qubits = [op.matrix], op.qubits
            else:
                mats, qubits = _kraus_of(op), (op.qubits if isinstance(op, Depolarise) else (op.qubit,))
            local = [[2] * len(qubits)] * 2
            steps.append([qt.expand_operator(qt.Qobj(m, dims=local), dims=dims, targets=list(qubits)) for m in mats])
        return steps

    def run(self, circuit: Circuit, built: list[list[Any]]) -> Complex:
        qt = self.qt
        n = circuit.qubits
        rho = qt.Qobj(_ground(n), dims=[[2] * n, [2] * n])
        for kraus in built:
            new = kraus[0] @ rho @ kraus[0].dag()
            for k in kraus[1:]:
                new = new + k @ rho @ k.dag()
            rho = new
        reduced = rho.ptrace(list(circuit.keep)) if len(circuit.keep) < n else rho
        return np.asarray(reduced.full(), dtype=np.complex128)


class CirqBackend:
    """cirq: MatrixGate / named gates, depolarize and asymmetric_depolarize channels, DensityMatrixSimulator."""

    name = "cirq"

    def __init__(self) -> None:
        import cirq

        self.cirq = cirq
        self.sim = cirq.DensityMatrixSimulator(dtype=np.complex128)

    def build(self, circuit: Circuit) -> Any:
        cirq = self.cirq
        qs = cirq.LineQubit.range(circuit.qubits)
        named = {"H": cirq.H, "X": cirq.X, "CX": cirq.CNOT, "CZ": cirq.CZ}
        ops: list[Any] = []
        for op in circuit.ops:
            if isinstance(op, Gate):
                gate = named.get(op.name) or cirq.MatrixGate(op.matrix)
                ops.append(gate.on(*(qs[q] for q in op.qubits)))
            elif isinstance(op, Depolarise):
                k = len(op.qubits)
                # cirq's p is the probability of a non-identity Pauli: p_cirq = p (4^k - 1)/4^k
                ops.append(
                    cirq.depolarize(float(op.prob) * (4**k - 1) / 4**k, n_qubits=k).on(*(qs[q] for q in op.qubits))
                )
            else:
                _, px, pz, py = (float(w) for w in op.probs)
                ops.append(cirq.asymmetric_depolarize(p_x=px, p_y=py, p_z=pz).on(qs[op.qubit]))
        return cirq.Circuit(ops), qs

    def run(self, circuit: Circuit, built: Any) -> Complex:
        circ, qs = built
        rho = np.asarray(self.sim.simulate(circ, qubit_order=qs).final_density_matrix, dtype=np.complex128)
        return density.partial_trace(rho, circuit.keep) if len(circuit.keep) < circuit.qubits else rho


class QiskitBackend:
    """qiskit + qiskit-aer: unitary instructions, QuantumError channels appended, AerSimulator(density_matrix)."""

    name = "qiskit-aer"

    def __init__(self) -> None:
        from qiskit import QuantumCircuit
        from qiskit_aer import AerSimulator
        from qiskit_aer.noise import depolarizing_error, pauli_error

        self.qc_type = QuantumCircuit
        self.depolarizing_error = depolarizing_error
        self.pauli_error = pauli_error
        self.sim = AerSimulator(method="density_matrix", max_parallel_threads=1)

    def build(self, circuit: Circuit) -> Any:
        qc = self.qc_type(circuit.qubits)
        # qiskit is little-endian (the first qarg is the least significant bit): list our qubits reversed
        for op in circuit.ops:
            if isinstance(op, Gate):
                if op.name == "H":
                    qc.h(op.qubits[0])
                elif op.name == "X":
                    qc.x(op.qubits[0])
                elif op.name == "CX":
                    qc.cx(*op.qubits)
                elif op.name == "CZ":
                    qc.cz(*op.qubits)
                else:
                    qc.unitary(op.matrix, list(reversed(op.qubits)))
            elif isinstance(op, Depolarise):
                qc.append(self.depolarizing_error(float(op.prob), len(op.qubits)), list(reversed(op.qubits)))
            else:
                terms = [(label, float(w)) for label, w in zip("IXZY", op.probs, strict=True) if float(w) > 0.0]
                qc.append(self.pauli_error(terms), [op.qubit])
        qc.save_density_matrix(qubits=list(reversed(circuit.keep)))
        return qc

    def run(self, circuit: Circuit, built: Any) -> Complex:
        result = self.sim.run(built).result()
        return np.asarray(result.data(0)["density_matrix"], dtype=np.complex128)

    def run_many(self, built: list[Any]) -> list[Complex]:
        result = self.sim.run(built).result()
        return [np.asarray(result.data(i)["density_matrix"], dtype=np.complex128) for i in range(len(built))]


class StimBackend:
    """stim (Clifford circuits with Pauli noise only): the circuit's detector error model gives the exact figure."""

    name = "stim"

    def __init__(self) -> None:
        import stim

        self.stim = stim

    def build(self, circuit: Circuit) -> Any:
        if not circuit.clifford:
            raise ValueError("not a Clifford circuit")
        lines: list[str] = []
        for op in circuit.ops:
            if isinstance(op, Gate):
                lines.append(f"{op.name} {' '.join(map(str, op.qubits))}")
            elif isinstance(op, Depolarise):
                k = len(op.qubits)
                # stim's DEPOLARIZE1/2(p) apply each non-identity Pauli with p/3 or p/15: p_stim = p (4^k - 1)/4^k
                lines.append(f"DEPOLARIZE{k}({float(op.prob) * (4**k - 1) / 4**k!r}) {' '.join(map(str, op.qubits))}")
            else:
                _, px, pz, py = (float(w) for w in op.probs)
                lines.append(f"PAULI_CHANNEL_1({px!r}, {py!r}, {pz!r}) {op.qubit}")
        keep = circuit.keep
        basis = "MX" if circuit.observable == "parity" else "M"
        lines.append(f"{basis} {' '.join(map(str, keep))}")
        if circuit.observable == "parity":
            lines.append("OBSERVABLE_INCLUDE(0) " + " ".join(f"rec[-{i + 1}]" for i in range(len(keep))))
        else:
            lines += [f"OBSERVABLE_INCLUDE({i}) rec[-{len(keep) - i}]" for i in range(len(keep))]
        return self.stim.Circuit("\n".join(lines))

    def run_figure(self, circuit: Circuit, built: Any) -> float:
        """Exact figure from the detector error model: the observables' flips are XORs of independent mechanisms.

        ``P(flip pattern = 0) = 2^-k sum_a prod_{mechanisms m with a.f_m odd} (1 - 2 p_m)`` (Walsh transform).
        For the GHZ parity (one observable, noiseless value +1) that is ``(1 + prod (1 - 2p))/2``, returned as the
        expectation ``prod (1 - 2 p)``; for Grover (two observables, noiseless value 11) it is P(reading 11).
        """
        dem = built.detector_error_model()
        k = built.num_observables
        masks: list[tuple[float, int]] = []
        for inst in dem.flattened():
            if inst.type != "error":
                continue
            mask = 0
            for target in inst.targets_copy():
                if target.is_logical_observable_id():
                    mask ^= 1 << target.val
            masks.append((inst.args_copy()[0], mask))
        chars = []
        for a in range(2**k):
            prod = 1.0
            for p, mask in masks:
                if bin(a & mask).count("1") % 2:
                    prod *= 1.0 - 2.0 * p
            chars.append(prod)
        if circuit.observable == "parity":
            return chars[1]
        return sum(chars) / 2**k


# ---------------------------------------------------------------------------------------------- timing


def _timed(
    fn: Callable[[], Any], min_total_s: float = 0.2, min_reps: int = 3, max_reps: int = 200, one_call_s: float = 0.3
) -> tuple[float, float, Any]:
    """Median wall and CPU (process) time of ``fn`` after a first call, and the first call's result.

    A first call slower than ``one_call_s`` is the measurement itself (big registers: caches matter little).
    CPU time shows how much other processes on the machine slowed the wall time.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    first = (time.perf_counter() - t0, time.process_time() - c0)
    if first[0] > one_call_s:
        return first[0], first[1], out
    walls: list[float] = []
    cpus: list[float] = []
    started = time.perf_counter()
    while len(walls) < min_reps or (time.perf_counter() - started < min_total_s and len(walls) < max_reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


@dataclass
class Row:
    case: str
    backend: str
    per_circuit_s: float | None = None
    cpu_s: float | None = None
    max_abs_diff: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _load_backends() -> tuple[dict[str, Any], dict[str, str]]:
    makers: dict[str, Callable[[], Any]] = {
        "qutip": QutipBackend,
        "cirq": CirqBackend,
        "qiskit-aer": QiskitBackend,
        "stim": StimBackend,
    }
    loaded: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for name, make in makers.items():
        try:
            loaded[name] = make()
        except ImportError as exc:
            missing[name] = f"not installed ({exc.name})"
    return loaded, missing


GHZ_GROWTH_PER_QUBIT = 8.0
"""Rough growth of a density-matrix simulation's cost per added qubit (4x the entries, more gates): used only to
skip a GHZ size predicted to take longer than ``skip_above_s``."""


def bench_circuits(circuits: list[Circuit], libs: dict[str, Any], skip_above_s: float = 10.0) -> list[Row]:
    """Per-circuit time of every backend and its agreement with the numpy path (which always runs)."""
    rows: list[Row] = []
    ref_backend = NumpyPath()
    backends: dict[str, Any] = {"numpy-closed-form": BatchedNumpy(), **libs}
    last_ghz: dict[str, float] = {}
    for circuit in circuits:
        wall, cpu, ref = _timed(lambda c=circuit: ref_backend.run(c, ref_backend.build(c)))
        ref_figure = figure_of(circuit, ref) if circuit.observable else None
        rows.append(Row(circuit.name, "numpy", wall, cpu, 0.0, extra={"figure": ref_figure}))
        for name, lib in backends.items():
            if name == "stim" and not circuit.clifford:
                rows.append(Row(circuit.name, name, note="n/a (not Clifford)"))
                continue
            if circuit.name.startswith("ghz") and last_ghz.get(name, 0.0) * GHZ_GROWTH_PER_QUBIT > skip_above_s:
                note = f"skipped: the size before took {last_ghz[name]:.1f} s (x~{GHZ_GROWTH_PER_QUBIT:g} per qubit)"
                rows.append(Row(circuit.name, name, note=note))
                continue
            if name == "stim":
                wall, cpu, value = _timed(lambda c=circuit, lb=lib: lb.run_figure(c, lb.build(c)))
                diff = abs(value - ref_figure) if ref_figure is not None else None
                rows.append(Row(circuit.name, name, wall, cpu, diff, note="figure only", extra={"figure": value}))
            else:
                wall, cpu, out = _timed(lambda c=circuit, lb=lib: lb.run(c, lb.build(c)))
                rows.append(Row(circuit.name, name, wall, cpu, float(np.max(np.abs(out - ref)))))
            if circuit.name.startswith("ghz"):
                last_ghz[name] = wall
    return rows


def bench_stim_large(libs: dict[str, Any], sizes: Sequence[int] = (100, 1000)) -> list[Row]:
    """stim's reach: GHZ parity on registers no density matrix holds, against the closed form of
    :func:`sanity_checks` (absolute difference)."""
    if "stim" not in libs:
        return []
    lib = libs["stim"]
    noise = Noise()
    rows = []
    for n in sizes:
        circuit = ghz_circuit(n, noise)
        wall, cpu, value = _timed(lambda c=circuit: lib.run_figure(c, lib.build(c)))
        closed = (1 - noise.dep1) * (1 - noise.dep2) ** (n - 1) * (1 - 2 * noise.dephase) ** n
        note = f"parity {value:.3e} against the closed form {closed:.3e} (no density matrix)"
        extra = {"figure": value, "closed": closed}
        rows.append(Row(f"ghz-{n}", "stim", wall, cpu, abs(value - closed), note=note, extra=extra))
    return rows


def _random_noise(rng: np.random.Generator, batch: int) -> Noise:
    """Noise parameters of a parameter study: pair fidelity, gate fidelities and readout errors drawn uniformly."""
    f_pair = rng.uniform(0.7, 1.0, batch)
    pair = np.stack([f_pair, (1 - f_pair) / 3, (1 - f_pair) / 3, (1 - f_pair) / 3], axis=-1)
    return Noise(
        pair=pair,
        dep1=2.0 * (1.0 - rng.uniform(0.99, 1.0, batch)),
        dep2=4.0 * (1.0 - rng.uniform(0.95, 1.0, batch)) / 3.0,
        flip=rng.uniform(0.0, 0.05, batch),
    )


def _point(noise: Noise, i: int) -> Noise:
    return Noise(pair=tuple(noise.pair[i]), dep1=noise.dep1[i], dep2=noise.dep2[i], flip=noise.flip[i])


def bench_batch(batch: int, loop: int, libs: dict[str, Any], seed: int) -> list[Row]:
    """(e) ``batch`` teleportations with random noise: batched numpy in one go; the others circuit by circuit on the
    first ``loop`` points, extrapolated to ``batch`` (stated in the note)."""
    noise = _random_noise(np.random.default_rng(seed), batch)
    batched = BatchedNumpy()
    template = teleport_circuit(noise)
    t0, c0 = time.perf_counter(), time.process_time()
    all_rho = batched.run(template, template, batch=batch)
    batched_s = (time.perf_counter() - t0, time.process_time() - c0)
    points = [teleport_circuit(_point(noise, i)) for i in range(loop)]
    ref_backend = NumpyPath()
    t0, c0 = time.perf_counter(), time.process_time()
    refs = [ref_backend.run(c, ref_backend.build(c)) for c in points]
    scale = batch / loop
    loop_s = ((time.perf_counter() - t0) * scale, (time.process_time() - c0) * scale)
    diff = float(max(np.max(np.abs(all_rho[i] - refs[i])) for i in range(loop)))
    rows = [
        Row("batch", "numpy", *loop_s, 0.0, note=f"loop over {loop}, x{scale:g}"),
        Row("batch", "numpy-closed-form", *batched_s, diff, note=f"all {batch} in one batched call (measured)"),
    ]
    for name, lib in libs.items():
        if name == "stim":
            rows.append(Row("batch", name, note="n/a (teleporting a non-stabilizer state is not Clifford)"))
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        if name == "qiskit-aer":
            outs = lib.run_many([lib.build(c) for c in points])
            note = f"{loop} circuits in one run() call, x{scale:g}"
        else:
            outs = [lib.run(c, lib.build(c)) for c in points]
            note = f"loop over {loop}, x{scale:g}"
        wall, cpu = (time.perf_counter() - t0) * scale, (time.process_time() - c0) * scale
        diff = float(max(np.max(np.abs(o - r)) for o, r in zip(outs, refs, strict=True)))
        rows.append(Row("batch", name, wall, cpu, diff, note=note))
    return rows


# ---------------------------------------------------------------------------------------------- install cost


_MODULES = {
    "numpy path": "import numpy, qinternet.states.density",
    "qutip": "import qutip",
    "cirq": "import cirq",
    "qiskit-aer": "import qiskit, qiskit_aer",
    "stim": "import stim",
}
_DISTRIBUTIONS = {
    "numpy path": ["numpy"],
    "qutip": ["qutip"],
    "cirq": ["cirq-core"],
    "qiskit-aer": ["qiskit", "qiskit-aer"],
    "stim": ["stim"],
}
_QINTERNET_DEPENDENCIES = ["numpy", "scipy", "networkx", "matplotlib", "pyyaml", "pydantic", "typer", "rich"]
"""qinternet's own runtime dependencies that the libraries also pull in (pyproject.toml): not a new cost."""


def _import_s(statement: str, repeats: int = 3) -> float | None:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", statement], capture_output=True, check=False)
        if done.returncode != 0:
            return None
        best = min(best, time.perf_counter() - t0)
    return best


def _dist_size(name: str) -> int:
    dist = importlib.metadata.distribution(name)
    total = 0
    for f in dist.files or []:
        with contextlib.suppress(OSError):
            total += Path(str(dist.locate_file(f))).stat().st_size
    return total


def _closure(names: list[str]) -> set[str]:
    """The installed distributions ``names`` need, themselves included (requirements without extras)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return set(names)
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def install_cost() -> list[dict[str, Any]]:
    """Import time, the distribution's own installed size and the size of what it adds beyond qinternet's deps."""
    baseline = _import_s("pass")
    ours = _closure(_QINTERNET_DEPENDENCIES)
    out: list[dict[str, Any]] = [{"library": "python -c pass", "import_s": baseline}]
    for lib, statement in _MODULES.items():
        entry: dict[str, Any] = {"library": lib, "import_s": _import_s(statement)}
        try:
            entry["own_mb"] = sum(_dist_size(d) for d in _DISTRIBUTIONS[lib]) / 1e6
            added = _closure(_DISTRIBUTIONS[lib]) - ours
            entry["added_mb"] = sum(_dist_size(d) for d in added) / 1e6
            entry["added_distributions"] = sorted(added)
            entry["versions"] = {d: importlib.metadata.version(d) for d in _DISTRIBUTIONS[lib]}
        except importlib.metadata.PackageNotFoundError:
            entry["note"] = "not installed"
        out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------- main


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("numpy", "qutip", "cirq-core", "qiskit", "qiskit-aer", "stim"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[dist] = importlib.metadata.version(dist)
    return out


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e6:.0f} us" if s < 1e-3 else (f"{s * 1e3:.2f} ms" if s < 1.0 else f"{s:.2f} s")


def print_table(rows: list[Row]) -> None:
    ref = {r.case: r.per_circuit_s for r in rows if r.backend == "numpy"}
    print("time: median wall time per circuit ('batch': for the whole parameter study); cpu: process time")
    print(f"{'case':<12} {'backend':<18} {'wall':>9} {'cpu':>9} {'x numpy':>8} {'max |diff|':>10} {'agree':>5}  note")
    for r in rows:
        base = ref.get(r.case)
        ratio = f"{r.per_circuit_s / base:.2f}" if r.per_circuit_s and base else "-"
        diff = f"{r.max_abs_diff:.1e}" if r.max_abs_diff is not None else "-"
        agree = "-" if r.max_abs_diff is None else ("yes" if r.max_abs_diff <= TOLERANCE else "NO")
        wall, cpu = _fmt_s(r.per_circuit_s), _fmt_s(r.cpu_s)
        print(f"{r.case:<12} {r.backend:<18} {wall:>9} {cpu:>9} {ratio:>8} {diff:>10} {agree:>5}  {r.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/circuits.json"))
    parser.add_argument("--batch", type=int, default=10_000, help="circuits in the parameter study (e)")
    parser.add_argument("--loop", type=int, default=200, help="circuits run one by one per library in (e)")
    parser.add_argument("--max-ghz", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--skip-above-s", type=float, default=10.0, help="skip a GHZ size predicted to take longer")
    parser.add_argument("--skip-install-cost", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    libs, missing = _load_backends()
    machine = {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": "1 (OMP/OPENBLAS/MKL_NUM_THREADS, Aer max_parallel_threads); not pinned to a core",
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "versions": _versions(),
    }
    print(f"machine: {machine}")
    for name, why in missing.items():
        print(f"{name}: {why}")

    noise = Noise()
    circuits = [teleport_circuit(noise), cz_teleport_circuit(noise), grover_circuit(noise)]
    circuits += [ghz_circuit(n, noise) for n in range(2, args.max_ghz + 1)]
    rows = bench_circuits(circuits, libs, args.skip_above_s)
    rows += bench_stim_large(libs)
    rows += bench_batch(args.batch, args.loop, libs, args.seed)
    print_table(rows)

    checks = sanity_checks(noise)
    print(f"sanity: {checks}")
    cost = [] if args.skip_install_cost else install_cost()
    for entry in cost:
        print(f"install: {entry}")
    elapsed = time.perf_counter() - started
    print(f"total wall time: {elapsed:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": machine,
                "tolerance": TOLERANCE,
                "missing": missing,
                "load_average_at_end": os.getloadavg(),
                "rows": [r.__dict__ for r in rows],
                "sanity": checks,
                "install": cost,
                "wall_s": elapsed,
            },
            indent=2,
            default=float,
        )
    )
    print(f"wrote {args.out}")
    return 0 if all(r.max_abs_diff is None or r.max_abs_diff <= TOLERANCE for r in rows) else 1


def sanity_checks(noise: Noise) -> dict[str, float]:
    """The circuits do what they claim: without noise each gives its ideal result; with noise, closed forms.

    Noiseless: teleportation returns the input state, the teleported CZ equals a local CZ, Grover finds ``|11>``
    with certainty, GHZ parity is 1. Noisy GHZ parity: dephasing each qubit with probability ``q`` multiplies it by
    ``(1 - 2q)^N``; the gate depolarising multiplies it by ``(1 - p1) (1 - p2)^(N - 1)`` (a depolarised qubit or
    pair carries no parity), so ``<X^N> = (1 - p1)(1 - p2)^(N-1)(1 - 2q)^N``.
    """
    ideal = Noise(pair=(1.0, 0.0, 0.0, 0.0), dep1=0.0, dep2=0.0, flip=0.0, dephase=0.0)
    ref = NumpyPath()

    def result(c: Circuit) -> Complex:
        return ref.run(c, ref.build(c))

    psi = _rz(0.7) @ _ry(1.1) @ np.array([1, 0], dtype=np.complex128)
    in_a = _ry(1.3) @ np.array([1, 0], dtype=np.complex128)
    in_b = _ry(0.4) @ _rz(0.9) @ np.array([1, 0], dtype=np.complex128)
    cz_target = _CZ @ np.kron(in_a, in_b)
    n = 6
    ghz = result(ghz_circuit(n, noise))
    closed = (1 - noise.dep1) * (1 - noise.dep2) ** (n - 1) * (1 - 2 * noise.dephase) ** n
    return {
        "teleport_ideal_infidelity": 1.0 - density.fidelity_with_ket(result(teleport_circuit(ideal)), psi),
        "cz_teleport_ideal_infidelity": 1.0 - density.fidelity_with_ket(result(cz_teleport_circuit(ideal)), cz_target),
        "grover_ideal_failure": 1.0 - success11(result(grover_circuit(ideal))),
        "ghz6_noisy_parity_minus_closed_form": parity_x(ghz) - closed,
    }


if __name__ == "__main__":
    sys.exit(main())
