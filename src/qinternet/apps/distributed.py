"""Distributed quantum computing on two modules: a teleported CZ (or CNOT) gate and a distributed Grover search.

Two modules A and B each hold one data qubit and one communication qubit; the communication qubits share a
Bell-diagonal ``pair`` delivered by the network (index order ``[Phi+, Psi+, Phi-, Psi-]`` = Pauli error
``[I, X, Z, Y]`` on B's half, :mod:`qinternet.states.bell`). A two-qubit gate between the data qubits is
teleported with the protocol of Eisert, Jacobs, Papadopoulos, Plenio, PRA 62, 052317 (2000) (one Bell
pair and one classical bit each way; the "cat-entangler / cat-disentangler" form):

1. A: CNOT from its data qubit ``a`` to its communication qubit ``c_A``; A measures ``c_A`` in Z, sends the bit.
2. B: X on its communication qubit ``c_B`` if the bit is 1; ``c_B`` now carries ``a``'s Z value.
3. B: CZ between ``c_B`` and its data qubit ``b``; H on ``c_B``, measured in Z (an X measurement); B sends the bit.
4. A: Z on ``a`` if the bit is 1.

A CNOT with target ``b`` is ``H_b CZ H_b`` (two more single-qubit gates at B). Everything is simulated on density
matrices (:mod:`qinternet.states.density`) with each module's :class:`~qinternet.params.processor.ProcessorParams`:
every gate is followed by the depolarising channel of its average gate fidelity, a classically controlled
correction is a gate (with its noise) only when the bit asks for it, each readout is flipped with probability
``1 - measurement_fidelity``, and while a classical bit is on its way (``wait_s``) the qubits still in play dephase
with ``exp(-wait_s/T2)``. Mid-circuit outcomes are summed over exactly (a measurement followed by a classically
controlled gate is the channel ``rho -> sum_m C_m P_m rho P_m C_m^dagger``), so the results are exact.

Propagation of the pair's Pauli errors, the closed form the tests check. Step 2 copies ``a``'s Z value into
``c_B``; an X error on the pair (``Psi+``) flips that copy, so step 3 applies ``CZ`` with a negated control,
``|0><0| x Z + |1><1| x I = Z_b CZ``: a Z error on ``b``. A Z error on the pair (``Phi-``) anticommutes with the
X measurement of ``c_B`` only, flipping the second bit: a Z error on ``a``. ``Psi-`` does both. With perfect local
operations the teleported gate is therefore ``CZ`` followed by the Pauli channel
``{I: p_0, Z_b: p_1, Z_a: p_2, Z_a Z_b: p_3}``, whose process (Choi-state) fidelity with ``CZ`` is the weight of
the identity: ``F_pro = p_0``, the pair's fidelity (for a Werner pair of parameter ``w``, ``F_pro = (1 + 3w)/4``),
and its average gate fidelity ``F_avg = (d F_pro + 1)/(d + 1)`` with ``d = 4`` (Horodecki, Horodecki, Horodecki,
PRA 60, 1888 (1999); Nielsen, Phys. Lett. A 303, 249 (2002)). A readout flip of either communication qubit acts
exactly like the corresponding pair error, so readout errors ``q`` alone give ``F_pro = (1 - q)**2``.

The Grover search is the textbook two-qubit circuit, run across two modules by Main et al., Nature 638, 383 (2025):
``H x H``, the oracle ``O_w = X^(1-w) CZ X^(1-w)`` marking item ``w``, the diffusion
``H x H X x X CZ X x X H x H``, a readout of both qubits; one iteration finds ``w`` with certainty. Both CZ gates
are teleported, each with its own Bell pair; the single-qubit gates between two CZs are merged into one gate per
qubit (as a compiler would), so each data qubit sees three single-qubit gates. Closed forms (perfect local
operations, pairs ``p`` and ``p'``): the first gate's ``Z_a`` (``Z_b``) error becomes, through the diffusion, a flip
of the read bit ``b`` (``a``); the second gate's ``Z_a`` (``Z_b``) error is turned by the last Hadamards into a flip
of bit ``a`` (``b``). The search succeeds when the flips cancel: ``P = p_0 p'_0 + p_3 p'_3 + p_1 p'_2 + p_2 p'_1``;
for Werner pairs of fidelity ``F``, ``P = F**2 + (1 - F)**2/3``. A fully depolarised pair (``p = 1/4``) dephases
the register completely after the oracle, and every later operation here is unital, so ``P = 1/4``: a guess.

Waiting for the second pair (``pair_wait_s``): a module with one communication qubit (Main et al.'s one Sr+
network qubit per module) can hold one pair at a time, so the diffusion's pair is made after the oracle's is
consumed, while the data qubits hold the register. A heralded link's time to a pair is geometric, close to
exponential with mean ``tau`` (the entanglement network's ``latency_s``), and the coherence of a qubit that
dephases as ``exp(-t/T2)`` then averages to ``E[exp(-T/T2)] = 1/(1 + tau/T2)``: the data qubits dephase as after a
fixed wait of ``T2 ln(1 + tau/T2)``. The oracle's pair can be made before the search starts, so only one wait counts.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.apps.outcome import AppOutcome
from qinternet.errors import ParameterError
from qinternet.params.processor import ProcessorParams
from qinternet.states.bell import as_bell_diagonal
from qinternet.states.density import (
    CNOT,
    HADAMARD,
    PAULIS,
    apply_kraus,
    apply_unitary,
    density_of_bell_diagonal,
    fidelity_with_ket,
    partial_trace,
    phase_damping_kraus,
    tensor,
)

__all__ = [
    "MAX_SHOTS",
    "TeleportedGate",
    "TwoQubitGate",
    "distributed_grover",
    "gate_teleportation",
    "grover_success_probabilities",
    "teleported_gate_fidelity",
]

MAX_SHOTS = 10**9
"""Most shots one call may draw (binomial draws: the cost does not grow with the number)."""

_Z95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal distribution."""
_ITEMS = 4
"""Items of the two-qubit search space."""

Complex = NDArray[np.complex128]

_I2, _X, _Z, _Y = PAULIS
_CZ: Complex = np.diag([1.0, 1.0, 1.0, -1.0]).astype(np.complex128)
_PAULIS_2Q: tuple[Complex, ...] = tuple(np.asarray(np.kron(p, q), dtype=np.complex128) for p in PAULIS for q in PAULIS)


class TwoQubitGate(enum.Enum):
    """The gate teleported between the modules (control on module A, target on module B)."""

    CZ = "cz"
    CNOT = "cnot"

    @property
    def unitary(self) -> Complex:
        """The ideal 4x4 unitary, qubit 0 = A's data qubit."""
        return _CZ if self is TwoQubitGate.CZ else CNOT


@dataclass(frozen=True, slots=True, kw_only=True)
class TeleportedGate:
    """How well a teleported gate matches the ideal one.

    Attributes:
        gate: the gate teleported.
        process_fidelity: fidelity of the Choi state of the implemented channel with that of the ideal gate
            (the entanglement fidelity that process tomography reports).
        average_gate_fidelity: fidelity averaged over pure input states, ``(d F_pro + 1)/(d + 1)`` with ``d = 4``.
    """

    gate: TwoQubitGate
    process_fidelity: float
    average_gate_fidelity: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "gate": self.gate.value,
            "process_fidelity": self.process_fidelity,
            "average_gate_fidelity": self.average_gate_fidelity,
        }


# ---------------------------------------------------------------------------------------------------------
# noisy operations on a register (density matrix, qubit 0 most significant)
# ---------------------------------------------------------------------------------------------------------


def _depolarise(rho: Complex, qubits: Sequence[int], prob: float) -> Complex:
    """``(1 - p) rho + p Tr_q(rho) x I/d`` on ``qubits``, written as the uniform Pauli twirl."""
    if prob == 0.0:
        return rho
    paulis = PAULIS if len(qubits) == 1 else _PAULIS_2Q
    twirled = sum(apply_unitary(rho, p, qubits) for p in paulis) / len(paulis)
    return np.asarray((1.0 - prob) * rho + prob * twirled, dtype=np.complex128)


def _gate(rho: Complex, unitary: Complex, qubits: Sequence[int], node: ProcessorParams) -> Complex:
    """A gate of ``node`` followed by its depolarising noise."""
    prob = node.single_qubit_depolarising if len(qubits) == 1 else node.two_qubit_depolarising
    return _depolarise(apply_unitary(rho, unitary, qubits), qubits, prob)


def _dephase(rho: Complex, qubits: Sequence[int], node: ProcessorParams, wait_s: float) -> Complex:
    """Qubits of ``node`` waiting ``wait_s``: coherences times ``exp(-wait_s/T2)`` (a Z flip with probability
    ``(1 - exp(-wait_s/T2))/2``, Nielsen, Chuang eq. 8.127)."""
    flip = -0.5 * math.expm1(-wait_s / node.t2_s)
    if flip == 0.0:
        return rho
    for q in qubits:
        rho = apply_kraus(rho, phase_damping_kraus(flip), [q])
    return rho


def _measure_and_correct(
    rho: Complex,
    measured: int,
    reader: ProcessorParams,
    correction: Complex,
    target: int,
    corrector: ProcessorParams,
) -> Complex:
    """Z readout of ``measured`` by ``reader`` (flipped with its readout error), then ``correction`` on ``target``
    by ``corrector`` when the reported bit is 1; summed over outcomes. The measured qubit stays, decohered."""
    flip = reader.readout_flip
    out = np.zeros_like(rho)
    for outcome in (0, 1):
        proj = np.zeros((2, 2), dtype=np.complex128)
        proj[outcome, outcome] = 1.0
        branch = apply_unitary(rho, proj, [measured])
        corrected = _gate(branch, correction, [target], corrector)
        p_one = flip if outcome == 0 else 1.0 - flip  # probability that the reported bit is 1
        out += (1.0 - p_one) * branch + p_one * corrected
    return out


def _teleported_cz(
    rho: Complex,
    a: int,
    b: int,
    pair: NDArray[np.float64],
    node_a: ProcessorParams,
    node_b: ProcessorParams,
    wait_s: float,
) -> Complex:
    """CZ between qubits ``a`` (module A) and ``b`` (module B) of ``rho`` by the Eisert et al. protocol (module
    docstring), consuming the Bell-diagonal ``pair``; returns the register without the communication qubits."""
    n = round(math.log2(rho.shape[0]))
    c_a, c_b = n, n + 1
    r = tensor(rho, density_of_bell_diagonal(pair))
    r = _gate(r, CNOT, [a, c_a], node_a)
    r = _measure_and_correct(r, c_a, node_a, _X, c_b, node_b)
    r = _dephase(r, [a], node_a, wait_s)
    r = _dephase(r, [c_b, b], node_b, wait_s)
    r = _gate(r, _CZ, [c_b, b], node_b)
    r = _gate(r, HADAMARD, [c_b], node_b)
    r = _measure_and_correct(r, c_b, node_b, _Z, a, node_a)
    r = _dephase(r, [a], node_a, wait_s)
    r = _dephase(r, [b], node_b, wait_s)
    return partial_trace(r, list(range(n)))


# ---------------------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------------------


def _check_nodes(node_a: ProcessorParams, node_b: ProcessorParams) -> None:
    for field, node in (("node_a", node_a), ("node_b", node_b)):
        if not isinstance(node, ProcessorParams):
            raise ParameterError(field, "must be a ProcessorParams")
        if node.qubits < 2:
            raise ParameterError(
                f"{field}.qubits", f"gate teleportation needs 2 (a data and a communication qubit), got {node.qubits}"
            )


def _check_wait(wait_s: float, field: str = "wait_s") -> None:
    if not (math.isfinite(wait_s) and wait_s >= 0.0):
        raise ParameterError(field, f"must be a finite time >= 0 s, got {wait_s!r}")


def _check_shots(shots: int | None, rng: np.random.Generator | None) -> None:
    if shots is None:
        return
    if isinstance(shots, bool) or not isinstance(shots, int) or not 1 <= shots <= MAX_SHOTS:
        raise ParameterError("shots", f"must be an integer in [1, {MAX_SHOTS:g}] or None (exact), got {shots!r}")
    if not isinstance(rng, np.random.Generator):
        raise ParameterError("rng", "a numpy.random.Generator is needed to draw shots")


def _pairs(pair: ArrayLike, count: int) -> NDArray[np.float64]:
    """``count`` Bell-diagonal pairs from one pair (used for every gate) or one per gate."""
    arr = as_bell_diagonal(pair, "pair")
    if arr.ndim == 1:
        return np.broadcast_to(arr, (count, 4))
    if arr.shape != (count, 4):
        raise ParameterError(
            "pair", f"must have shape (4,) or ({count}, 4) (one pair per teleported gate), got {arr.shape}"
        )
    return arr


def _wilson(successes: int, trials: int) -> tuple[float, float]:
    """Wilson score interval at 95 % of a binomial proportion (Wilson, JASA 22, 209 (1927))."""
    z2 = _Z95 * _Z95
    centre = (successes + z2 / 2.0) / (trials + z2)
    half = _Z95 / (trials + z2) * math.sqrt(successes * (trials - successes) / trials + z2 / 4.0)
    return max(0.0, centre - half), min(1.0, centre + half)


# ---------------------------------------------------------------------------------------------------------
# gate teleportation
# ---------------------------------------------------------------------------------------------------------


def teleported_gate_fidelity(
    pair: ArrayLike,
    node_a: ProcessorParams,
    node_b: ProcessorParams,
    *,
    gate: TwoQubitGate = TwoQubitGate.CZ,
    wait_s: float = 0.0,
) -> TeleportedGate:
    """Exact process and average gate fidelity of a gate teleported between two modules (module docstring).

    The process fidelity is the fidelity of the Choi state: the protocol acts on the data halves of two maximally
    entangled (reference, data) pairs, and the output is compared with ``(I x U)`` of the same input.

    Args:
        pair: Bell-diagonal coefficients of the communication qubits' pair, shape (4,).
        node_a: module A's processor (control qubit, first message).
        node_b: module B's processor (target qubit).
        gate: CZ, or CNOT (``H_b CZ H_b``, the Hadamards done by module B).
        wait_s: time each classical bit takes to arrive, s (the qubits in play dephase meanwhile).

    Raises:
        ParameterError: a pair that is not Bell-diagonal, a node without two qubits, a negative wait.
    """
    p = _pairs(pair, 1)[0]
    _check_nodes(node_a, node_b)
    _check_wait(wait_s)
    # register: reference of a, reference of b, a, b; the input is |Phi+>_(ra, a) |Phi+>_(rb, b)
    choi_in = np.eye(4, dtype=np.complex128).reshape(16) / 2.0
    rho = np.outer(choi_in, choi_in.conj())
    a, b = 2, 3
    if gate is TwoQubitGate.CNOT:
        rho = _gate(rho, HADAMARD, [b], node_b)
    rho = _teleported_cz(rho, a, b, p, node_a, node_b, wait_s)
    if gate is TwoQubitGate.CNOT:
        rho = _gate(rho, HADAMARD, [b], node_b)
    ideal = np.kron(np.eye(4), gate.unitary) @ choi_in
    f_pro = min(1.0, max(0.0, fidelity_with_ket(rho, ideal)))
    d = 4
    return TeleportedGate(gate=gate, process_fidelity=f_pro, average_gate_fidelity=(d * f_pro + 1.0) / (d + 1.0))


def gate_teleportation(
    pair: ArrayLike,
    node_a: ProcessorParams,
    node_b: ProcessorParams,
    *,
    gate: TwoQubitGate = TwoQubitGate.CZ,
    shots: int | None = None,
    rng: np.random.Generator | None = None,
    nodes: tuple[str, str] = ("A", "B"),
    wait_s: float = 0.0,
) -> AppOutcome:
    """A gate teleported between two modules, as an application outcome: metric ``cz_fidelity`` (``cnot_fidelity``
    for a CNOT), the process fidelity.

    With ``shots=None`` the value is exact. With ``shots`` it is estimated as a process-fidelity measurement
    would: each shot runs the protocol on the data halves of two (reference, data) Bell pairs and tests the output
    against the ideal Choi state, passing with probability ``F_pro`` (mid-circuit outcomes summed over exactly, so
    a shot is one Bernoulli draw); the ci95 is the Wilson score interval of the passes.

    Args:
        pair, node_a, node_b, gate, wait_s: as in :func:`teleported_gate_fidelity`.
        shots: shots to draw, or None for the exact value.
        rng: the random generator for the shots.
        nodes: names of the two modules.

    Raises:
        ParameterError: as :func:`teleported_gate_fidelity`; shots out of range or without an ``rng``.
    """
    _check_shots(shots, rng)
    exact = teleported_gate_fidelity(pair, node_a, node_b, gate=gate, wait_s=wait_s)
    details: dict[str, Any] = {
        **exact.to_dict(),
        "fidelity_kind": "process (Choi-state) fidelity",
        "pairs_consumed": 1,
        "protocol": "Eisert, Jacobs, Papadopoulos, Plenio, PRA 62, 052317 (2000)",
    }
    if shots is None:
        value, ci = exact.process_fidelity, (exact.process_fidelity, exact.process_fidelity)
        details["ci_method"] = "exact (density matrices, mid-circuit outcomes summed)"
    else:
        assert rng is not None  # checked above
        passes = int(rng.binomial(shots, exact.process_fidelity))
        value, ci = passes / shots, _wilson(passes, shots)
        details |= {"shots": shots, "ci_method": "Wilson score interval of the shots passing the Choi-state test"}
    return AppOutcome(
        app="gate-teleportation", nodes=nodes, metric=f"{gate.value}_fidelity", value=value, ci95=ci, details=details
    )


# ---------------------------------------------------------------------------------------------------------
# distributed Grover search
# ---------------------------------------------------------------------------------------------------------


def _mean_wait_equivalent_s(node: ProcessorParams, pair_wait_s: float) -> float:
    """The fixed wait that dephases as an exponential wait of mean ``pair_wait_s`` does (module docstring)."""
    if pair_wait_s == 0.0 or math.isinf(node.t2_s):
        return 0.0
    return node.t2_s * math.log1p(pair_wait_s / node.t2_s)


def _grover_readout(
    marked: int,
    pairs: NDArray[np.float64],
    node_a: ProcessorParams,
    node_b: ProcessorParams,
    wait_s: float,
    pair_wait_s: float = 0.0,
) -> NDArray[np.float64]:
    """Probabilities of the four read-out items (index ``2 a + b``) of the distributed search for ``marked``."""
    bits = ((marked >> 1) & 1, marked & 1)
    nodes = (node_a, node_b)
    oracle_x = [_I2 if bit else _X for bit in bits]  # X on the qubits whose marked bit is 0
    rho = np.zeros((4, 4), dtype=np.complex128)
    rho[0, 0] = 1.0
    for q in (0, 1):  # H, then the oracle's X
        rho = _gate(rho, oracle_x[q] @ HADAMARD, [q], nodes[q])
    rho = _teleported_cz(rho, 0, 1, pairs[0], node_a, node_b, wait_s)
    for q in (0, 1):  # the oracle's X, the diffusion's H and X
        rho = _gate(rho, _X @ HADAMARD @ oracle_x[q], [q], nodes[q])
    for q in (0, 1):  # the register waits for the diffusion's pair
        rho = _dephase(rho, [q], nodes[q], _mean_wait_equivalent_s(nodes[q], pair_wait_s))
    rho = _teleported_cz(rho, 0, 1, pairs[1], node_a, node_b, wait_s)
    for q in (0, 1):  # the diffusion's X and H
        rho = _gate(rho, HADAMARD @ _X, [q], nodes[q])
    true = np.clip(np.real(np.diag(rho)), 0.0, 1.0).reshape(2, 2)
    flips = [np.array([[1.0 - n.readout_flip, n.readout_flip], [n.readout_flip, 1.0 - n.readout_flip]]) for n in nodes]
    read = np.einsum("ab,ac,bd->cd", true, flips[0], flips[1])
    return np.asarray(read.reshape(_ITEMS) / read.sum(), dtype=np.float64)


def grover_success_probabilities(
    pair: ArrayLike,
    node_a: ProcessorParams,
    node_b: ProcessorParams,
    *,
    wait_s: float = 0.0,
    pair_wait_s: float = 0.0,
) -> NDArray[np.float64]:
    """Exact probability of reading the marked item, for each of the four oracles (marked item ``2 a + b``).

    Args:
        pair: Bell-diagonal pair(s): shape (4,) (the same state for both teleported CZs) or (2, 4) (oracle's CZ,
            diffusion's CZ).
        node_a: module A's processor (qubit ``a``, the most significant bit of the item).
        node_b: module B's processor.
        wait_s: time each classical bit takes to arrive, s.
        pair_wait_s: mean time the register waits for the diffusion's pair, s (module docstring).

    Returns:
        float array (4,).

    Raises:
        ParameterError: a pair of the wrong shape or not Bell-diagonal, a node without two qubits, a negative wait.
    """
    pairs = _pairs(pair, 2)
    _check_nodes(node_a, node_b)
    _check_wait(wait_s)
    _check_wait(pair_wait_s, "pair_wait_s")
    return np.array([_grover_readout(w, pairs, node_a, node_b, wait_s, pair_wait_s)[w] for w in range(_ITEMS)])


def distributed_grover(
    pair: ArrayLike,
    node_a: ProcessorParams,
    node_b: ProcessorParams,
    *,
    marked: int | None = None,
    shots: int | None = None,
    rng: np.random.Generator | None = None,
    nodes: tuple[str, str] = ("A", "B"),
    wait_s: float = 0.0,
    pair_wait_s: float = 0.0,
) -> AppOutcome:
    """Grover's search on two modules with both CZ gates teleported: metric ``grover_success_probability``.

    The value is the probability of reading the marked item, averaged over the oracles run (all four, or
    ``marked`` only). With ``shots`` every oracle is run ``shots`` times: each shot's read-out is a draw from the
    circuit's exact read-out distribution (mid-circuit outcomes summed over, which is what a shot-by-shot
    trajectory would sample), and the ci95 is the Wilson score interval of the pooled successes (the pooled count
    of oracles with different success probabilities has at most the binomial variance, so the interval is
    conservative).

    Args:
        pair, node_a, node_b, wait_s, pair_wait_s: as in :func:`grover_success_probabilities`.
        marked: the marked item in 0..3, or None for all four oracles.
        shots: shots per oracle, or None for the exact value.
        rng: the random generator for the shots.
        nodes: names of the two modules.

    Raises:
        ParameterError: as :func:`grover_success_probabilities`; ``marked`` outside 0..3; shots out of range or
            without an ``rng``.
    """
    if marked is not None and (isinstance(marked, bool) or not isinstance(marked, int) or not 0 <= marked < _ITEMS):
        raise ParameterError("marked", f"must be an item in 0..{_ITEMS - 1} or None (all), got {marked!r}")
    _check_shots(shots, rng)
    pairs = _pairs(pair, 2)
    _check_nodes(node_a, node_b)
    _check_wait(wait_s)
    _check_wait(pair_wait_s, "pair_wait_s")
    oracles = list(range(_ITEMS)) if marked is None else [marked]
    readouts = [_grover_readout(w, pairs, node_a, node_b, wait_s, pair_wait_s) for w in oracles]
    exact = [float(r[w]) for w, r in zip(oracles, readouts, strict=True)]
    details: dict[str, Any] = {
        "oracles": oracles,
        "success_probability_exact": exact,
        "pairs_consumed_per_run": 2,
        "pair_wait_s": pair_wait_s,
    }
    mean_exact = float(np.mean(exact))
    if shots is None:
        value, ci = mean_exact, (mean_exact, mean_exact)
        details["ci_method"] = "exact (density matrices, mid-circuit outcomes summed)"
    else:
        assert rng is not None  # checked above
        counts = [rng.multinomial(shots, r) for r in readouts]
        successes = [int(c[w]) for w, c in zip(oracles, counts, strict=True)]
        total = sum(successes)
        value, ci = total / (shots * len(oracles)), _wilson(total, shots * len(oracles))
        details |= {
            "shots_per_oracle": shots,
            "counts": [[int(x) for x in c] for c in counts],
            "ci_method": "Wilson score interval of the pooled successes over all oracles' shots",
        }
    return AppOutcome(
        app="distributed-grover",
        nodes=nodes,
        metric="grover_success_probability",
        value=value,
        ci95=ci,
        details=details,
    )
