"""Distributed quantum computing: the teleported CZ/CNOT and the distributed Grover search against closed forms.

Closed forms (derived in the docstring of :mod:`qinternet.apps.distributed`): with perfect local operations the
teleported CZ is CZ followed by the Pauli channel ``{I: p0, Z_b: p1, Z_a: p2, Z_a Z_b: p3}`` of the pair, so
``F_pro = p0`` (Werner: ``(1 + 3w)/4``) and ``F_avg = (4 F_pro + 1)/5``; readout flips ``q`` of the communication
qubits act as pair errors (``F_pro = (1 - q_A)(1 - q_B)``); and the Grover search succeeds with
``p0 p0' + p3 p3' + p1 p2' + p2 p1'``. Statistical tests use fixed seeds; their tolerances are stated where used.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.apps.distributed import (
    TwoQubitGate,
    distributed_grover,
    gate_teleportation,
    grover_success_probabilities,
    teleported_gate_fidelity,
)
from qinternet.errors import ParameterError
from qinternet.params.processor import ProcessorParams
from qinternet.states import bell

PERFECT = ProcessorParams()
NOISY = ProcessorParams(
    single_qubit_gate_fidelity=0.99, two_qubit_gate_fidelity=0.95, measurement_fidelity=0.97, t2_s=1.0
)
ASYMMETRIC = np.array([0.7, 0.1, 0.15, 0.05])
OTHER = np.array([0.6, 0.25, 0.05, 0.1])


@pytest.mark.parametrize("gate", list(TwoQubitGate))
def test_a_perfect_pair_and_perfect_gates_teleport_the_gate_exactly(gate: TwoQubitGate) -> None:
    result = teleported_gate_fidelity(bell.perfect_pair(), PERFECT, PERFECT, gate=gate)
    assert result.process_fidelity == pytest.approx(1.0, abs=1e-12)
    assert result.average_gate_fidelity == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("gate", list(TwoQubitGate))
@pytest.mark.parametrize("w", [1.0, 0.9, 0.6, 0.2, 0.0])
def test_werner_pair_with_perfect_gates_matches_the_closed_form(gate: TwoQubitGate, w: float) -> None:
    # F_pro = (1 + 3w)/4 (the pair's fidelity), F_avg = (4 F_pro + 1)/5
    result = teleported_gate_fidelity(bell.werner(w), PERFECT, PERFECT, gate=gate)
    f_pro = (1.0 + 3.0 * w) / 4.0
    assert result.process_fidelity == pytest.approx(f_pro, abs=1e-12)
    assert result.average_gate_fidelity == pytest.approx((4.0 * f_pro + 1.0) / 5.0, abs=1e-12)


def test_any_bell_diagonal_pair_gives_its_fidelity_as_process_fidelity() -> None:
    assert teleported_gate_fidelity(ASYMMETRIC, PERFECT, PERFECT).process_fidelity == pytest.approx(0.7, abs=1e-12)


@pytest.mark.parametrize(("q_a", "q_b"), [(0.1, 0.0), (0.0, 0.2), (0.05, 0.1)])
def test_readout_flips_of_the_communication_qubits_act_as_pair_errors(q_a: float, q_b: float) -> None:
    node_a = ProcessorParams(measurement_fidelity=1.0 - q_a)
    node_b = ProcessorParams(measurement_fidelity=1.0 - q_b)
    result = teleported_gate_fidelity(bell.perfect_pair(), node_a, node_b)
    assert result.process_fidelity == pytest.approx((1.0 - q_a) * (1.0 - q_b), abs=1e-12)


@pytest.mark.parametrize("noisy_node", ["a", "b"])
def test_one_noisy_two_qubit_gate_leaves_two_harmless_paulis_of_sixteen(noisy_node: str) -> None:
    # A's CNOT(a, c_A) then 2-qubit depolarising p: only P_a = I with P_cA in {I, Z} (Z is not seen by the Z
    # readout) leaves no error on the data; B's CZ(c_B, b): only P_b = I with P_cB in {I, X} (X becomes Z after the
    # Hadamard, unseen by the Z readout). So F_pro = 1 - p + 2p/16 = 1 - 7p/8, p = 4(1 - F_gate)/3.
    f_gate = 0.9
    noisy = ProcessorParams(two_qubit_gate_fidelity=f_gate)
    node_a, node_b = (noisy, PERFECT) if noisy_node == "a" else (PERFECT, noisy)
    p = 4.0 * (1.0 - f_gate) / 3.0
    result = teleported_gate_fidelity(bell.perfect_pair(), node_a, node_b)
    assert result.process_fidelity == pytest.approx(1.0 - 7.0 * p / 8.0, abs=1e-12)


def test_dephasing_while_the_bits_travel_matches_the_closed_form() -> None:
    # Z flips with 1 - 2 lambda = exp(-t/T2) on: a (both waits) and c_B (first wait, turned into Z_a by the X
    # readout) -> a's error is the parity of three flips; b: two waits. F_pro = (1 + e^3)/2 (1 + e^2)/2, e = exp(-t/T2).
    node = ProcessorParams(t2_s=2.0)
    e = math.exp(-0.5 / 2.0)
    result = teleported_gate_fidelity(bell.perfect_pair(), node, node, wait_s=0.5)
    assert result.process_fidelity == pytest.approx((1 + e**3) / 2 * (1 + e**2) / 2, abs=1e-12)


def test_the_cnot_pays_for_its_two_extra_hadamards() -> None:
    node = ProcessorParams(single_qubit_gate_fidelity=0.98)
    cz = teleported_gate_fidelity(bell.perfect_pair(), node, node).process_fidelity
    cnot = teleported_gate_fidelity(bell.perfect_pair(), node, node, gate=TwoQubitGate.CNOT).process_fidelity
    assert cnot < cz < 1.0


def test_local_noise_lowers_the_fidelity_below_the_pair_limit() -> None:
    pair = bell.werner(0.9)
    assert teleported_gate_fidelity(pair, NOISY, NOISY).process_fidelity < bell.fidelity(pair) - 0.01


def test_noiseless_grover_finds_every_marked_item() -> None:
    np.testing.assert_allclose(grover_success_probabilities(bell.perfect_pair(), PERFECT, PERFECT), 1.0, atol=1e-12)


@pytest.mark.parametrize("pairs", [(ASYMMETRIC, OTHER), (OTHER, ASYMMETRIC), (bell.werner(0.8), bell.werner(0.8))])
def test_grover_with_pair_errors_matches_the_closed_form(pairs: tuple[np.ndarray, np.ndarray]) -> None:
    # the oracle's pair: Z_a -> read bit b flipped, Z_b -> bit a; the diffusion's pair: Z_a -> bit a, Z_b -> bit b
    p, q = pairs
    expected = p[0] * q[0] + p[3] * q[3] + p[1] * q[2] + p[2] * q[1]
    got = grover_success_probabilities(np.stack(pairs), PERFECT, PERFECT)
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("f", [0.97, 0.9, 0.5])
def test_grover_with_werner_pairs_is_f_squared_plus_a_third_of_the_rest(f: float) -> None:
    got = grover_success_probabilities(bell.werner(float(bell.werner_of_fidelity(f))), PERFECT, PERFECT)
    np.testing.assert_allclose(got, f**2 + (1 - f) ** 2 / 3, atol=1e-12)


@pytest.mark.parametrize("node", [PERFECT, NOISY])
def test_fully_depolarised_pairs_leave_a_guess(node: ProcessorParams) -> None:
    # the oracle's pair dephases the register completely; every later operation is unital: P = 1/4
    np.testing.assert_allclose(grover_success_probabilities(bell.werner(0.0), node, node), 0.25, atol=1e-12)


def test_one_depolarised_pair_is_enough_to_lose_the_search() -> None:
    got = grover_success_probabilities(np.stack([bell.werner(0.0), bell.perfect_pair()]), PERFECT, PERFECT)
    np.testing.assert_allclose(got, 0.25, atol=1e-12)


def test_gate_teleportation_outcome_exact() -> None:
    outcome = gate_teleportation(bell.werner(0.8), PERFECT, PERFECT, nodes=("alice", "bob"))
    assert (outcome.app, outcome.metric, outcome.nodes) == ("gate-teleportation", "cz_fidelity", ("alice", "bob"))
    assert outcome.value == pytest.approx(0.85, abs=1e-12)
    assert outcome.ci95 == (outcome.value, outcome.value)
    d = outcome.to_dict()
    assert d["details"]["average_gate_fidelity"] == pytest.approx(0.88, abs=1e-12)
    assert d["details"]["pairs_consumed"] == 1
    assert "exact" in d["details"]["ci_method"]
    cnot = gate_teleportation(bell.werner(0.8), PERFECT, PERFECT, gate=TwoQubitGate.CNOT)
    assert cnot.metric == "cnot_fidelity"


def test_gate_teleportation_shots_scatter_as_binomial() -> None:
    # n = 20000 Bernoulli(F_pro) draws: the estimate is within 4 binomial standard errors (fails with prob 6e-5
    # for a correct sampler; the seed is fixed), and its Wilson interval covers the exact value
    pair, n = bell.werner(0.7), 20_000
    exact = teleported_gate_fidelity(pair, NOISY, NOISY).process_fidelity
    outcome = gate_teleportation(pair, NOISY, NOISY, shots=n, rng=np.random.default_rng(14))
    assert abs(outcome.value - exact) < 4 * math.sqrt(exact * (1 - exact) / n)
    lo, hi = outcome.ci95
    assert lo < exact < hi
    assert hi - lo == pytest.approx(2 * 1.96 * math.sqrt(exact * (1 - exact) / n), rel=0.05)


def test_distributed_grover_outcome_exact_and_sampled() -> None:
    pair = bell.werner(0.85)
    exact = distributed_grover(pair, NOISY, NOISY)
    assert (exact.app, exact.metric) == ("distributed-grover", "grover_success_probability")
    per_oracle = grover_success_probabilities(pair, NOISY, NOISY)
    assert exact.value == pytest.approx(float(per_oracle.mean()), abs=1e-12)
    assert exact.details["pairs_consumed_per_run"] == 2
    n = 5_000
    drawn = distributed_grover(pair, NOISY, NOISY, shots=n, rng=np.random.default_rng(3))
    # 4 x 5000 pooled shots: within 4 binomial standard errors of the exact mean (the pooled variance is at most
    # binomial), and the Wilson interval covers it
    assert abs(drawn.value - exact.value) < 4 * math.sqrt(exact.value * (1 - exact.value) / (4 * n))
    assert drawn.ci95[0] < exact.value < drawn.ci95[1]
    assert [sum(c) for c in drawn.details["counts"]] == [n] * 4


def test_one_oracle_only() -> None:
    outcome = distributed_grover(ASYMMETRIC, PERFECT, PERFECT, marked=2)
    assert outcome.details["oracles"] == [2]
    assert outcome.value == pytest.approx(0.7**2 + 0.05**2 + 2 * 0.1 * 0.15, abs=1e-12)


def test_the_same_seed_gives_the_same_shots() -> None:
    a = distributed_grover(ASYMMETRIC, NOISY, NOISY, shots=100, rng=np.random.default_rng(5))
    b = distributed_grover(ASYMMETRIC, NOISY, NOISY, shots=100, rng=np.random.default_rng(5))
    assert a == b


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: teleported_gate_fidelity([0.5, 0.5, 0.5, 0.0], PERFECT, PERFECT), "pair"),
        (lambda: teleported_gate_fidelity([1.0, 0.0, 0.0], PERFECT, PERFECT), "pair"),
        (lambda: grover_success_probabilities(np.ones((3, 4)) / 4, PERFECT, PERFECT), "pair"),
        (lambda: teleported_gate_fidelity(bell.perfect_pair(), ProcessorParams(qubits=1), PERFECT), "node_a.qubits"),
        (lambda: distributed_grover(bell.perfect_pair(), PERFECT, ProcessorParams(qubits=1)), "node_b.qubits"),
        (lambda: teleported_gate_fidelity(bell.perfect_pair(), PERFECT, PERFECT, wait_s=-1.0), "wait_s"),
        (lambda: gate_teleportation(bell.perfect_pair(), PERFECT, PERFECT, shots=10), "rng"),
        (
            lambda: gate_teleportation(bell.perfect_pair(), PERFECT, PERFECT, shots=0, rng=np.random.default_rng()),
            "shots",
        ),
        (lambda: distributed_grover(bell.perfect_pair(), PERFECT, PERFECT, marked=4), "marked"),
    ],
)
def test_bad_input_names_the_field(call: object, field: str) -> None:
    with pytest.raises(ParameterError) as info:
        call()  # type: ignore[operator]
    assert info.value.field == field
