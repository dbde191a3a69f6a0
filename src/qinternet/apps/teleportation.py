"""Teleporting a qubit from node A to node B over a delivered entangled pair, with the nodes' processor noise.

The protocol (Bennett et al., PRL 70, 1895 (1993)): A holds the input qubit (q0) and its half of the pair (q1),
B the other half (q2). A applies CNOT(q0 -> q1) and H(q0) and reads both out in Z (bits ``m1`` from q0, ``m2``
from q1): a Bell measurement. The two bits travel to B (classical latency ``t``, during which B's half dephases
with B's ``t2_s``); B applies ``X`` if ``m2`` and then ``Z`` if ``m1`` (a gate only when its bit is 1).
Noise (:class:`qinternet.params.processor.ProcessorParams`, see :mod:`qinternet.apps.circuits`): A's CNOT and H
are followed by two- and one-qubit depolarising noise, A's readouts flip with ``1 - measurement_fidelity``,
B's correction gates are followed by one-qubit depolarising noise. The pair is Bell-diagonal
(:mod:`qinternet.states.bell`), ``(4,)`` or ``(n, 4)`` for ``n`` pairs.

Two exact paths, checked against each other in the tests:

* :func:`average_fidelity_exact` runs the circuit on density matrices for the four Bell states and the six
  cardinal input states (a 2-design: the average over them is the exact Bloch-sphere average), sums over the
  measurement outcomes and readout errors, and uses linearity in the pair.
* :func:`average_fidelity_closed_form` is the Bell-diagonal fast path. Through a Bell-diagonal pair the protocol
  applies a Pauli channel to the input, whose average fidelity is ``(2 q_I + 1)/3`` with ``q_I`` its
  no-error probability (Horodecki, Horodecki, Horodecki, PRA 60, 1888 (1999), eq. (17): ``F_avg = (2F+1)/3``
  for a pair of fidelity ``F`` and perfect local operations). The noise adds independent Pauli errors to the
  output: a Z error with probability ``(1 - exp(-t/T2))/2`` (the wait), ``1 - f_A`` (flipped ``m1``) and
  ``p1_A/2`` (H's depolarising randomises ``m1``); an X error with probability ``1 - f_A`` (flipped ``m2``).
  A's CNOT depolarising (probability ``p2_A``) makes both bits random and B's state ``I/2``: the output is
  depolarised with probability ``p2_A``. B's gates act with probability 1/2 each (the outcomes are uniform for a
  Bell-diagonal pair), each leaving the Bloch vector times ``1 - p1_B``: factor ``(1 - p1_B/2)**2``. With
  ``Lambda = (1 - p2_A)(1 - p1_B/2)**2`` the average fidelity is ``Lambda (2 q_I + 1)/3 + (1 - Lambda)/2``.

The classical bound: measuring the input and preparing a guess gives at most 2/3 (Massar, Popescu, PRL 74, 1259
(1995)); a perfect-processor teleportation beats it iff the pair's fidelity exceeds 1/2.

Published figures (quoted from the papers' abstracts, as found with the project's search tool):

* Ren et al., "Ground-to-satellite quantum teleportation", Nature 549, 70 (2017): uplink from Ngari to Micius
  over up to 1,400 km; "six input states in mutually unbiased bases with an average fidelity of 0.80+/-0.01, well
  above the classical limit" (abstract, arXiv:1707.00934; nature.com/articles/nature23675). By
  ``(2F+1)/3`` that is the average fidelity of a pair of fidelity ~0.70 with perfect local operations.
* Valivarthi et al., "Teleportation Systems Toward a Quantum Internet", PRX Quantum 1, 020317 (2020): time-bin
  qubits at 1536.5 nm, "teleportation fidelities of >= 90% that are consistent with an analytical model of our
  system", teleporting "over 22 km of single-mode fiber while transmitting qubits over an additional 22 km of fiber"
  (abstract; Fermilab/Caltech FQNET and CQNET, 44 km in total).

Monte-Carlo: :func:`teleport` draws input states (Haar or the six cardinal states), draws each shot's true
outcomes from the state, flips them with A's readout error, and lets the two *reported* bits decide B's
correction; each shot contributes the fidelity of B's final state with its input.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.apps.circuits import (
    CARDINAL_KETS,
    dephase_wait,
    haar_kets,
    noisy_gate,
    project_z,
    readout_confusion,
)
from qinternet.apps.outcome import AppOutcome
from qinternet.errors import ParameterError
from qinternet.params.processor import ProcessorParams
from qinternet.params.units import fibre_delay_s
from qinternet.states import bell
from qinternet.states.density import BELL_KETS, CNOT, HADAMARD, PAULIS

__all__ = [
    "CLASSICAL_BOUND",
    "MAX_SHOTS",
    "REN_2017_AVERAGE_FIDELITY",
    "VALIVARTHI_2020_MIN_FIDELITY",
    "average_fidelity_closed_form",
    "average_fidelity_exact",
    "classical_latency_s",
    "teleport",
    "teleport_photons",
]

CLASSICAL_BOUND = 2.0 / 3.0
"""Best average fidelity of measure-and-prepare for a qubit (Massar, Popescu, PRL 74, 1259 (1995))."""
REN_2017_AVERAGE_FIDELITY = (0.80, 0.01)
"""Ground-to-satellite teleportation, average fidelity and its error (Ren et al., Nature 549, 70 (2017), abstract)."""
VALIVARTHI_2020_MIN_FIDELITY = 0.90
"""Fermilab/Caltech teleportation fidelities ">= 90%" (Valivarthi et al., PRX Quantum 1, 020317 (2020), abstract)."""
MAX_SHOTS = 10_000_000
"""Most Monte-Carlo shots one call simulates (memory grows with the batch; larger studies split the call)."""

_BATCH = 4096
_Z_SCORE_95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


def classical_latency_s(length_km: ArrayLike) -> NDArray[np.float64]:
    """Time the two bits take over ``length_km`` of fibre (``L n / c``, :func:`qinternet.params.units.fibre_delay_s`):
    the wait of B's half in memory, for fidelity-versus-distance studies (a convenience at the edge)."""
    return fibre_delay_s(length_km)


def _check(processor_a: ProcessorParams, latency_s: float) -> None:
    if processor_a.qubits < 2:
        raise ParameterError("processor_a.qubits", "teleportation needs 2 qubits at the sender (input and its half)")
    if not (math.isfinite(latency_s) and latency_s >= 0.0):
        raise ParameterError("classical_latency_s", f"must be a finite time >= 0, got {latency_s}")


def average_fidelity_closed_form(
    pair: ArrayLike,
    processor_a: ProcessorParams | None = None,
    processor_b: ProcessorParams | None = None,
    classical_latency_s: float = 0.0,
) -> NDArray[np.float64]:
    """Average teleportation fidelity from the Bell-diagonal closed form (module docstring), shape ``pair.shape[:-1]``.

    With perfect processors and no wait this is ``(2F + 1)/3`` (Horodecki et al. 1999, eq. (17)).

    >>> round(float(average_fidelity_closed_form(bell.werner(1.0))), 12)
    1.0
    """
    pa = ProcessorParams() if processor_a is None else processor_a
    pb = ProcessorParams() if processor_b is None else processor_b
    _check(pa, classical_latency_s)
    p = bell.as_bell_diagonal(pair, "pair")
    wait_flip = 0.5 * (1.0 - math.exp(-classical_latency_s / pb.t2_s))
    z_flip = 1.0 - (1.0 - 2.0 * wait_flip) * (1.0 - 2.0 * pa.readout_flip) * (1.0 - pa.single_qubit_depolarising)
    # independent Z flips compose by multiplying (1 - 2 q); the H depolarising flips m1 with probability p1/2
    law = bell.pauli_channel(p, pa.readout_flip, 0.0, 0.0)  # m2 flipped: X error
    law = bell.dephase(law, z_flip / 2.0)
    keep = (1.0 - pa.two_qubit_depolarising) * (1.0 - pb.single_qubit_depolarising / 2.0) ** 2
    return np.asarray(keep * (2.0 * law[..., 0] + 1.0) / 3.0 + (1.0 - keep) / 2.0, dtype=np.float64)


def _sender_blocks(
    kets: NDArray[np.complex128], pair_rho: NDArray[np.complex128], pa: ProcessorParams
) -> NDArray[np.complex128]:
    """B's unnormalised states ``(S, 4, 2, 2)`` for the true outcomes ``m = 2 m1 + m2`` of A's Bell measurement."""
    psi = np.einsum("si,sj->sij", kets, kets.conj())
    rho = np.einsum("sij,skl->sikjl", psi, pair_rho).reshape(-1, 8, 8)
    rho = noisy_gate(rho, CNOT, [0, 1], pa)
    rho = noisy_gate(rho, HADAMARD, [0], pa)
    return project_z(rho, [0, 1])


def _receive(
    states: NDArray[np.complex128], m1: NDArray[np.int64], m2: NDArray[np.int64], pb: ProcessorParams, wait_s: float
) -> NDArray[np.complex128]:
    """B's half after the wait and the correction the bits ``m1, m2`` call for (``X^m2`` then ``Z^m1``)."""
    rho = dephase_wait(states, 0, wait_s, pb.t2_s)
    x, z = PAULIS[1], PAULIS[2]
    ops = np.where(m1[..., None, None] == 1, z, np.eye(2)) @ np.where(m2[..., None, None] == 1, x, np.eye(2))
    rho = ops @ rho @ np.conj(np.swapaxes(ops, -1, -2))
    # depolarising after each applied gate; it commutes with the Paulis, so n gates shrink the Bloch vector
    # by (1 - p1)**n (circuits module docstring)
    keep = (1.0 - pb.single_qubit_depolarising) ** (m1 + m2)
    trace = np.trace(rho, axis1=-2, axis2=-1)
    return np.asarray(
        keep[..., None, None] * rho + ((1.0 - keep) * trace)[..., None, None] * np.eye(2) / 2.0, dtype=np.complex128
    )


def _fidelity(rho: NDArray[np.complex128], kets: NDArray[np.complex128]) -> NDArray[np.float64]:
    return np.asarray(np.real(np.einsum("...i,...ij,...j->...", kets.conj(), rho, kets)), dtype=np.float64)


def average_fidelity_exact(
    pair: ArrayLike,
    processor_a: ProcessorParams | None = None,
    processor_b: ProcessorParams | None = None,
    classical_latency_s: float = 0.0,
) -> NDArray[np.float64]:
    """Average teleportation fidelity of the full noisy circuit on density matrices, shape ``pair.shape[:-1]``.

    Runs the protocol of the module docstring for each Bell state ``|B_k>`` and each cardinal input (exact
    Bloch-sphere average, :data:`qinternet.apps.circuits.CARDINAL_KETS`), summing over the four true outcomes and
    the four reported bit pairs (readout confusion of A). The protocol is linear in the pair's density matrix, so
    the pair's value is ``sum_k p_k F_k``.

    Args:
        pair: Bell-diagonal coefficients ``(..., 4)``.
        processor_a: the sender's processor (default: perfect, 2 qubits).
        processor_b: the receiver's processor (default: perfect).
        classical_latency_s: time B's half waits for the two bits, s.

    Raises:
        ParameterError: a malformed pair, a negative latency, or a sender with fewer than 2 qubits.
    """
    pa = ProcessorParams() if processor_a is None else processor_a
    pb = ProcessorParams() if processor_b is None else processor_b
    _check(pa, classical_latency_s)
    p = bell.as_bell_diagonal(pair, "pair")
    kets = np.tile(CARDINAL_KETS, (4, 1))  # (24, 2): for each Bell state, the six inputs
    bell_rho = np.einsum("ki,kj->kij", BELL_KETS, BELL_KETS.conj())
    pair_rho = np.repeat(bell_rho, len(CARDINAL_KETS), axis=0)
    blocks = _sender_blocks(kets, pair_rho, pa)
    conf = readout_confusion(pa.measurement_fidelity)
    out = np.zeros((len(kets), 2, 2), dtype=np.complex128)
    for m in range(4):
        for r in range(4):
            weight = conf[m >> 1, r >> 1] * conf[m & 1, r & 1]
            r1 = np.full(len(kets), r >> 1)
            r2 = np.full(len(kets), r & 1)
            out += weight * _receive(blocks[:, m], r1, r2, pb, classical_latency_s)
    per_bell = _fidelity(out, kets).reshape(4, len(CARDINAL_KETS)).mean(axis=1)
    return np.asarray(p @ per_bell, dtype=np.float64)


def teleport(
    pairs: ArrayLike,
    processor_a: ProcessorParams | None,
    processor_b: ProcessorParams | None,
    rng: np.random.Generator,
    shots: int | None = None,
    *,
    classical_latency_s: float = 0.0,
    inputs: Literal["haar", "cardinal"] = "haar",
    nodes: tuple[str, str] = ("A", "B"),
) -> AppOutcome:
    """Teleport random input states through the delivered pairs, shot by shot (module docstring).

    Shot ``i`` uses pair ``i mod n``. Each shot draws its input state, draws A's true outcomes from the state,
    flips each bit with A's readout error, and applies B's correction from the *reported* bits after the wait;
    its score is the fidelity of B's state with the input. The value is the mean score with a 95 % normal
    interval from the scores' sample standard deviation.

    Args:
        pairs: Bell-diagonal pairs, ``(4,)`` or ``(n, 4)``.
        processor_a: sender's processor (``None``: perfect).
        processor_b: receiver's processor (``None``: perfect).
        rng: the random stream.
        shots: number of teleportations (default: one per pair; required for a single ``(4,)`` pair).
        classical_latency_s: time B's half waits for the bits, s (:func:`classical_latency_s` of a fibre length).
        inputs: ``"haar"`` (uniform on the Bloch sphere) or ``"cardinal"`` (the six Z, X, Y eigenstates).
        nodes: the sender and receiver names.

    Returns:
        ``AppOutcome(app="teleportation", metric="average_fidelity")``; details hold the exact average over the
        same pairs (:func:`average_fidelity_exact`), the shots, the mean pair fidelity and the latency.

    Raises:
        ParameterError: malformed pairs, shots missing or outside [2, MAX_SHOTS], an unknown ``inputs``.
    """
    pa = ProcessorParams() if processor_a is None else processor_a
    pb = ProcessorParams() if processor_b is None else processor_b
    _check(pa, classical_latency_s)
    p = bell.as_bell_diagonal(pairs, "pairs")
    p2 = p.reshape(-1, 4)
    if shots is None:
        if p.ndim == 1:
            raise ParameterError("shots", "required when a single pair (4,) is given")
        shots = len(p2)
    if not 2 <= shots <= MAX_SHOTS:
        raise ParameterError("shots", f"must be in [2, {MAX_SHOTS}], got {shots}")
    if inputs not in ("haar", "cardinal"):
        raise ParameterError("inputs", f"must be 'haar' or 'cardinal', got {inputs!r}")
    conf_flip = pa.readout_flip
    scores = np.empty(shots)
    for start in range(0, shots, _BATCH):
        idx = np.arange(start, min(start + _BATCH, shots))
        kets = (
            haar_kets(rng, len(idx))
            if inputs == "haar"
            else CARDINAL_KETS[rng.integers(0, len(CARDINAL_KETS), len(idx))]
        )
        pair_rho = np.einsum("sk,ki,kj->sij", p2[idx % len(p2)], BELL_KETS, BELL_KETS.conj())
        blocks = _sender_blocks(kets, pair_rho, pa)
        probs = np.clip(np.real(np.trace(blocks, axis1=-2, axis2=-1)), 0.0, None)
        cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
        m = np.minimum((rng.random(len(idx))[:, None] > cum).sum(axis=1), 3)
        state_b = blocks[np.arange(len(idx)), m] / probs[np.arange(len(idx)), m][:, None, None]
        flips = rng.random((len(idx), 2)) < conf_flip
        r1 = (m >> 1) ^ flips[:, 0]
        r2 = (m & 1) ^ flips[:, 1]
        scores[idx] = _fidelity(
            _receive(state_b, r1.astype(np.int64), r2.astype(np.int64), pb, classical_latency_s), kets
        )
    mean = float(scores.mean())
    half = _Z_SCORE_95 * float(scores.std(ddof=1)) / math.sqrt(shots)
    used = p2[np.arange(shots) % len(p2)]
    exact = float(average_fidelity_exact(used, pa, pb, classical_latency_s).mean())
    return _outcome(
        mean,
        half,
        nodes,
        {
            "shots": shots,
            "inputs": inputs,
            "exact_average_fidelity": exact,
            "mean_pair_fidelity": float(used[:, 0].mean()),
            "classical_latency_s": classical_latency_s,
            "classical_bound": CLASSICAL_BOUND,
            "ci_method": "normal interval: mean +- 1.96 s/sqrt(shots) of the per-shot fidelities",
        },
    )


def _outcome(mean: float, half: float, nodes: tuple[str, str], details: dict[str, object]) -> AppOutcome:
    """A teleportation's outcome: ``mean`` with the 95 % interval ``mean +- half`` clipped to [0, 1]."""
    return AppOutcome(
        app="teleportation",
        nodes=nodes,
        metric="average_fidelity",
        value=mean,
        ci95=(max(0.0, mean - half), min(1.0, mean + half)),
        details=details,
    )


def teleport_photons(
    fidelity_per_basis: ArrayLike,
    expected_events: float,
    rng: np.random.Generator,
    *,
    nodes: tuple[str, str] = ("A", "B"),
    details: dict[str, object] | None = None,
) -> AppOutcome | None:
    """The events of a photonic teleportation run, drawn: how many, and how many right in each basis.

    The run's number of events is Poisson with mean ``expected_events`` (independent rare events); they are spread
    over the three bases of the inputs (Z, X, Y: the six states of mutually unbiased bases) equally and at random
    (multinomial), and each basis's right outcomes are binomial with its fidelity
    (:mod:`qinternet.entanglement.photonic_teleportation`). The value is the mean over the bases of the fraction
    right, with a 95 % normal interval from the binomial variances, as Ren et al. (2017) and Valivarthi et al.
    (2020) report an average fidelity.

    Args:
        fidelity_per_basis: the model's fidelity of each basis's events, shape (3,).
        expected_events: mean number of events of the run.
        rng: the random stream.
        nodes: the sender and receiver names.
        details: more figures to report beside the drawn ones (the link's).

    Returns:
        ``AppOutcome(app="teleportation", metric="average_fidelity")``, or None when a basis drew no event.

    Raises:
        ParameterError: fidelities outside [0, 1] or not three, a negative or non-finite number of events.
    """
    f = np.asarray(fidelity_per_basis, dtype=np.float64)
    if f.shape != (3,) or np.any(~((f >= 0.0) & (f <= 1.0))):
        raise ParameterError("fidelity_per_basis", f"must be three fidelities in [0, 1], got {f.tolist()}")
    if not (math.isfinite(expected_events) and expected_events >= 0.0):
        raise ParameterError("expected_events", f"must be a finite number >= 0, got {expected_events}")
    total = int(rng.poisson(expected_events))
    per_basis = rng.multinomial(total, [1.0 / 3.0] * 3)
    right = rng.binomial(per_basis, f)
    extra = {
        "events": total,
        "events_per_basis": per_basis.tolist(),
        "right_per_basis": right.tolist(),
        "expected_average_fidelity": float(f.mean()),
        "classical_bound": CLASSICAL_BOUND,
        "ci_method": "normal interval of the mean of the three bases' binomial fractions",
    } | (details or {})
    if np.any(per_basis == 0):
        return None
    frac = right / per_basis
    mean = float(frac.mean())
    half = _Z_SCORE_95 * math.sqrt(float(np.sum(frac * (1.0 - frac) / per_basis))) / 3.0
    return _outcome(mean, half, nodes, extra)
