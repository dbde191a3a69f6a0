"""Blind quantum computation (BFK 2009) with trap rounds (Leichtle et al. 2021): correctness against the unblinded
circuits, blindness of the server's view, trap detection of a deviating server, and the effect of noise, each
against a closed form."""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
import pytest
from scipy.stats import chi2, chi2_contingency, chisquare

from qinternet.apps.blind import (
    Computation,
    Deviation,
    acceptance_probability,
    bell_pair_computation,
    blind_computation,
    cnot_computation,
    deutsch_computation,
    deviation_detection_probability,
    grover_computation,
    prepared_ket,
    received_ket,
    simulate_rounds,
    single_qubit_computation,
    trap_failure_probability,
)
from qinternet.apps.mbqc import Brickwork
from qinternet.errors import ParameterError
from qinternet.params.processor import ProcessorParams
from qinternet.states.bell import werner, werner_of_fidelity
from qinternet.states.density import HADAMARD, PAULIS, apply_unitary, density_of_bell_diagonal, partial_trace

ALPHA = 1e-3
"""Significance of every statistical test here: with fixed seeds each either passes or fails for good, and a
correct implementation fails one with probability 1e-3."""
SIGMAS = 4.0
"""Monte-Carlo tolerance in standard deviations of the binomial (or empirical) estimate: a correct estimate lies
further off with probability 6e-5."""

CNOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex)
CZ = np.diag([1, 1, 1, -1]).astype(complex)


def _processor(**kwargs: float) -> ProcessorParams:
    return ProcessorParams(qubits=4, t2_s=1.0, **kwargs)


def _textbook(circuit: list[np.ndarray], ket: np.ndarray) -> np.ndarray:
    """Z-readout distribution of the gate list applied to ``ket``."""
    out = reduce(lambda psi, gate: gate @ psi, circuit, ket)
    return np.abs(out) ** 2


# ------------------------------------------------------------------------------------------------ the graph
def test_brickwork_has_the_vertical_edges_of_bfk_definition() -> None:
    # BFK Def. 1 (1-indexed): j = 3 mod 8 & odd rows -> edges at j, j+2; j = 7 mod 8 & even rows -> at j, j+2.
    g = Brickwork(rows=3, columns=13)
    below_row0 = [c for c in range(13) if g.has_vertical_edge(0, c)]
    below_row1 = [c for c in range(13) if g.has_vertical_edge(1, c)]
    assert below_row0 == [2, 4, 10, 12]  # 1-indexed columns 3, 5, 11, 13
    assert below_row1 == [6, 8]  # 1-indexed columns 7, 9
    assert not any(g.has_vertical_edge(2, c) for c in range(13))
    assert len(g.cz_schedule()) == 3 * 12 + 4 + 2  # horizontal + vertical, each once
    assert all(g.colour(a) != g.colour(b) for a, b in g.cz_schedule())  # bipartite: traps see only dummies


# ------------------------------------------------------------------------------------------- correctness
def test_compiled_patterns_compute_the_textbook_circuits() -> None:
    """The gate-model reference of each pattern equals the circuit it stands for, built from textbook gates."""
    zero = np.array([1, 0, 0, 0], dtype=complex)
    hh = np.kron(HADAMARD, HADAMARD)
    x = PAULIS[1]
    for c in (0, 1):
        for t in (0, 1):
            ket = np.zeros(4, dtype=complex)
            ket[2 * c + t] = 1.0
            assert np.allclose(cnot_computation(c, t).reference_distribution(), _textbook([CNOT], ket), atol=1e-12)
    bell = _textbook([np.kron(HADAMARD, np.eye(2)), CNOT], zero)
    assert np.allclose(bell_pair_computation().reference_distribution(), bell, atol=1e-12)
    for w in range(4):
        oracle = np.diag([-1.0 if k == w else 1.0 for k in range(4)]).astype(complex)
        diffusion = hh @ (2 * np.outer(zero, zero) - np.eye(4)) @ hh
        expected = _textbook([hh, oracle, diffusion], zero)
        assert expected[w] == pytest.approx(1.0)
        assert np.allclose(grover_computation(w).reference_distribution(), expected, atol=1e-12)
    one_one = np.kron([1, 0], [0, 1]).astype(complex)  # |01>
    for balanced, oracle in ((False, np.kron(np.eye(2), x)), (True, CNOT)):
        expected = _textbook([hh, oracle, hh], one_one)
        assert np.allclose(deutsch_computation(balanced).reference_distribution(), expected, atol=1e-12)
    phis = [1, 3, 0, 5, 2]
    gates = [HADAMARD @ np.diag([1, np.exp(-1j * p * np.pi / 4)]) for p in phis]  # J(-phi) = H P(-phi)
    plus = np.array([1, 1], dtype=complex) / math.sqrt(2)
    assert np.allclose(single_qubit_computation(phis).reference_distribution(), _textbook(gates, plus), atol=1e-12)


COMPUTATIONS = [
    single_qubit_computation([1, 3, 0, 5, 2]),
    cnot_computation(1, 0),
    cnot_computation(1, 1),
    bell_pair_computation(),
    grover_computation(2),
    deutsch_computation(True),
    deutsch_computation(False),
    Computation(  # a random pattern with T-type angles: neither Clifford nor deterministic
        name="random-2x8",
        angles_pi_over_4=tuple(tuple(int(a) for a in row) for row in np.arange(16).reshape(2, 8) * 5 % 8),
    ),
]


@pytest.mark.parametrize("computation", COMPUTATIONS, ids=lambda c: c.name)
def test_noiseless_blind_rounds_give_exactly_the_unblinded_distribution(computation: Computation) -> None:
    """In every round, whatever the secret angles, pads and earlier outcomes, the output distribution is the
    unblinded one to rounding error; deterministic computations always return their answer."""
    rounds = simulate_rounds(computation, np.zeros(60, dtype=bool), np.random.default_rng(11))
    reference = computation.reference_distribution()
    assert np.allclose(rounds.output_distributions, reference[None, :], atol=1e-12)
    if reference.max() > 1 - 1e-12:
        assert np.all(rounds.outputs == computation.expected_output())
    assert len(np.unique(rounds.thetas_pi_over_4)) == 8  # the rounds really were padded differently


def test_bell_pair_outcomes_are_binomial() -> None:
    rounds = simulate_rounds(bell_pair_computation(), np.zeros(2000, dtype=bool), np.random.default_rng(3))
    counts = np.bincount(rounds.outputs, minlength=4)
    assert counts[1] == counts[2] == 0
    assert abs(counts[0] - 1000) < SIGMAS * math.sqrt(2000 * 0.25)


def test_link_is_remote_state_preparation_over_the_pair() -> None:
    """The client measures her half of the pair in |+-_{-theta}> (or Z for a dummy); the server's half is, for each
    outcome, the pair's Pauli channel applied to |+_{theta + b pi}> (or |d>), which is what the simulation sends
    (received_ket weighted by the pair's law)."""
    pair = np.array([0.7, 0.1, 0.15, 0.05])
    rho = density_of_bell_diagonal(pair)  # qubit 0 = client, qubit 1 = server
    for theta in range(8):
        for b in (0, 1):
            angle = -theta * np.pi / 4
            bra = np.array([1, (-1) ** b * np.exp(-1j * angle)]) / math.sqrt(2)  # <+-_{-theta}|
            projector = np.outer(bra.conj(), bra)
            post = partial_trace(apply_unitary(rho, projector, [0]), [1])
            server = post / np.trace(post)
            ket = prepared_ket((theta + 4 * b) % 8)
            mixture = sum(p * np.outer(received_ket(ket, k), received_ket(ket, k).conj()) for k, p in enumerate(pair))
            assert np.allclose(server, mixture, atol=1e-12)
    for d in (0, 1):
        projector = np.diag([1.0 - d, float(d)])
        post = partial_trace(apply_unitary(rho, projector, [0]), [1])
        ket = prepared_ket(-1, d)
        mixture = sum(p * np.outer(received_ket(ket, k), received_ket(ket, k).conj()) for k, p in enumerate(pair))
        assert np.allclose(post / np.trace(post), mixture, atol=1e-12)


# ---------------------------------------------------------------------------------------------- blindness
def _homogeneity_p(a: np.ndarray, b: np.ndarray) -> float:
    """Chi-squared test that two samples of angle arrays ``(n, rows, columns)`` have the same law at every position:
    per position the 2 x k contingency statistic of the k angles seen (k - 1 degrees of freedom), summed over the
    independent positions."""
    stat, dof = 0.0, 0
    for r in range(a.shape[1]):
        for c in range(a.shape[2]):
            table = np.stack([np.bincount(a[:, r, c], minlength=8), np.bincount(b[:, r, c], minlength=8)])
            table = table[:, table.sum(axis=0) > 0]
            if table.shape[1] > 1:
                stat += chi2_contingency(table, correction=False)[0]
                dof += table.shape[1] - 1
    return float(chi2.sf(stat, dof))


def test_server_view_is_uniform_and_independent_of_the_computation() -> None:
    """BFK Theorem 2: delta = phi' + theta + r pi is uniform over the eight angles whatever phi'. Tested at level
    ALPHA with chi-squared tests on 600 rounds of each of two different computations on the same 2 x 8 graph:
    (1) every position uniform (sum of 16 goodness-of-fit statistics, 112 degrees of freedom), (2) the two
    computations' angle laws equal at every position (contingency, 112 d.o.f.), (3) the joint law of two
    positions linked by the flow's X and Z corrections uniform over 64 cells, (4) test rounds look like computation
    rounds. The same homogeneity test on phi' + r pi (the angles without the theta pad) must reject: the tests
    have the power to see a leak."""
    grover, cnot = grover_computation(3), cnot_computation(1, 0)
    rng = np.random.default_rng(2024)
    seen_a = simulate_rounds(grover, np.zeros(600, dtype=bool), rng)
    seen_b = simulate_rounds(cnot, np.zeros(600, dtype=bool), rng)
    tests = simulate_rounds(grover, np.ones(600, dtype=bool), rng)
    da, db = seen_a.deltas_pi_over_4, seen_b.deltas_pi_over_4
    for d in (da, db):
        stat = sum(chisquare(np.bincount(d[:, r, c], minlength=8))[0] for r in range(2) for c in range(8))
        assert chi2.sf(stat, 7 * 16) > ALPHA
    assert _homogeneity_p(da, db) > ALPHA
    for first, second in (((0, 2), (0, 3)), ((0, 1), (0, 3)), ((0, 3), (1, 4))):  # X, Z and vertical Z links
        joint = np.bincount(8 * da[:, first[0], first[1]] + da[:, second[0], second[1]], minlength=64)
        assert chisquare(joint)[1] > ALPHA / 3  # Bonferroni over the three pairs
    assert _homogeneity_p(da, tests.deltas_pi_over_4) > ALPHA
    unpadded_a = (da - seen_a.thetas_pi_over_4) % 8
    unpadded_b = (db - seen_b.thetas_pi_over_4) % 8
    assert _homogeneity_p(unpadded_a, unpadded_b) < 1e-12


# --------------------------------------------------------------------------------------------------- traps
@pytest.mark.parametrize(
    ("deviation", "expected"),
    [
        (Deviation(row=0, column=2, flip_x=True), 0.75),  # trap: 1/2 on average over theta; dummy: kicks a trap
        (Deviation(row=0, column=2, angle_offset_rad=math.pi), 0.5),  # flips the trap's outcome
        (Deviation(row=0, column=1, angle_offset_rad=math.pi / 2), 0.25),  # sin^2(pi/4) as a trap
        (Deviation(row=0, column=4, angle_offset_rad=math.pi / 3), 0.125),  # an angle outside the set A
    ],
)
def test_test_rounds_catch_a_deviating_server_at_the_closed_form_rate(deviation: Deviation, expected: float) -> None:
    line = single_qubit_computation([0, 1, 2, 3, 4])
    assert deviation_detection_probability(line.graph, deviation) == pytest.approx(expected)
    n = 4000
    rounds = simulate_rounds(line, np.ones(n, dtype=bool), np.random.default_rng(7), deviation=deviation)
    rate = float(np.mean(rounds.trap_failures > 0))
    assert abs(rate - expected) < SIGMAS * math.sqrt(expected * (1 - expected) / n)


def test_honest_noiseless_server_never_fails_a_trap() -> None:
    rounds = simulate_rounds(grover_computation(1), np.ones(300, dtype=bool), np.random.default_rng(5))
    assert rounds.traps.sum() == 300 * 8
    assert rounds.trap_failures.sum() == 0


def test_acceptance_of_a_deviating_server_follows_the_binomial_law() -> None:
    """Runs of 1 computation + 3 test rounds, accepted with at most 1 failed test: P = Binom(<= 1; 3, p)."""
    dev = Deviation(row=1, column=5, flip_x=True)
    comp = grover_computation(0)
    p = deviation_detection_probability(comp.graph, dev)
    expected = acceptance_probability(p, 3, 1)
    assert expected == pytest.approx((1 - p) ** 3 + 3 * p * (1 - p) ** 2)
    runs = 1500
    out = blind_computation(comp, np.random.default_rng(9), runs=runs, test_rounds=3, max_failed_tests=1, deviation=dev)
    assert out.details["acceptance_probability_exact"] == pytest.approx(expected)
    assert abs(out.details["acceptance_rate"] - expected) < SIGMAS * math.sqrt(expected * (1 - expected) / runs)
    assert out.value < 0.9  # the X also spoils the computation rounds it hits


# --------------------------------------------------------------------------------------------------- noise
def test_trap_failure_rate_matches_closed_form_under_link_and_server_noise() -> None:
    pair = np.array([0.86, 0.08, 0.04, 0.02])  # not Werner: X and Y errors count differently
    proc = _processor(single_qubit_gate_fidelity=0.98, two_qubit_gate_fidelity=0.95, measurement_fidelity=0.97)
    comp = grover_computation(3)
    rounds = simulate_rounds(comp, np.ones(3000, dtype=bool), np.random.default_rng(13), pair=pair, processor=proc)
    per_round = rounds.trap_failures / rounds.traps  # traps in a round share dummies: use the rounds' spread
    expected = trap_failure_probability(comp.graph, pair, proc)
    assert abs(per_round.mean() - expected) < SIGMAS * per_round.std(ddof=1) / math.sqrt(per_round.size)
    # an isolated trap, link only: a Z always flips it, an X or a Y half the time (average over theta)
    lone, skewed = single_qubit_computation([3]), np.array([0.7, 0.2, 0.06, 0.04])
    assert trap_failure_probability(lone.graph, skewed) == pytest.approx(0.06 + (0.2 + 0.04) / 2)
    lone_rounds = simulate_rounds(lone, np.ones(8000, dtype=bool), np.random.default_rng(4), pair=skewed)
    n_traps = int(lone_rounds.traps.sum())
    rate = lone_rounds.trap_failures.sum() / n_traps
    assert abs(rate - 0.18) < SIGMAS * math.sqrt(0.18 * 0.82 / n_traps)
    # link only, a trap with k dummy neighbours: 1/2 (1 - (1 - 4(1-F)/3)^(k+1)) with both link terms 2(1-F)/3
    line = Brickwork(rows=1, columns=3)
    werner_pair = werner(werner_of_fidelity(0.9))
    q = 1 - 4 * 0.1 / 3
    closed = np.mean([0.5 * (1 - q ** (1 + k)) for k in (1, 2, 1)])
    assert trap_failure_probability(line, werner_pair) == pytest.approx(closed)


def test_correct_fraction_of_a_line_matches_the_exact_parity_formula() -> None:
    """Line of 5 qubits, all angles 0: output = parity b_0 + b_2 + b_4 (stabiliser X0 X2 X4 of the cluster), ideally
    0. Each of these three outcomes is wrong with q = p_Z + (p_X + p_Y)/2 from the link (an X error on |+_theta> is a
    random quarter-turn about Z, i.e. full dephasing, on average over theta), p_1/2 from the gate and the readout
    flip f: P(correct) = (1 + prod (1 - 2 q_i))/2 over the three, each q_i the XOR of its three sources."""
    f_pair, f_gate, f_meas = 0.92, 0.97, 0.98
    pair = werner(werner_of_fidelity(f_pair))
    proc = _processor(single_qubit_gate_fidelity=f_gate, measurement_fidelity=f_meas)
    line = single_qubit_computation([0] * 5)
    assert line.expected_output() == 0
    q_link = 2 * (1 - f_pair) / 3
    p1 = 2 * (1 - f_gate)  # depolarising probability of a single-qubit gate of average fidelity f_gate
    bias = (1 - 2 * q_link) * (1 - p1) * (1 - 2 * (1 - f_meas))
    expected = 0.5 * (1 + bias**3)
    runs = 4000
    out = blind_computation(line, np.random.default_rng(17), pair=pair, processor=proc, runs=runs, test_rounds=0)
    assert out.details["acceptance_rate"] == 1.0
    assert abs(out.value - expected) < SIGMAS * math.sqrt(expected * (1 - expected) / runs)
    assert out.ci95[0] <= out.value <= out.ci95[1]


def test_worse_pairs_lower_the_correct_fraction_and_raise_trap_failures() -> None:
    rng = np.random.default_rng(23)
    outcomes = [
        blind_computation(grover_computation(2), rng, pair=werner(werner_of_fidelity(f)), runs=500)
        for f in (1.0, 0.95, 0.85)
    ]
    values = [o.value for o in outcomes]
    traps = [o.details["trap_failure_rate"] for o in outcomes]
    exact = [o.details["trap_failure_probability_exact"] for o in outcomes]
    assert values[0] == 1.0
    assert traps[0] == 0.0
    assert outcomes[1].ci95[1] < 1.0
    assert outcomes[2].ci95[1] < outcomes[1].ci95[0]  # separated beyond the confidence intervals
    assert exact[0] == 0.0 < exact[1] < exact[2]
    assert traps[0] < traps[1] < traps[2]
    assert outcomes[2].details["acceptance_rate"] < outcomes[1].details["acceptance_rate"] < 1.0


def test_outcome_record() -> None:
    out = blind_computation(deutsch_computation(True), np.random.default_rng(1), runs=50, nodes=("alice", "cloud"))
    d = out.to_dict()
    assert (d["app"], d["metric"], d["nodes"], d["value"]) == (
        "blind",
        "blind_correct_fraction",
        ["alice", "cloud"],
        1.0,
    )
    lo, hi = d["ci95"]
    assert hi == 1.0
    assert lo == pytest.approx(0.025 ** (1 / 50))  # Clopper-Pearson for 50 of 50
    assert d["details"]["expected_output"] == 3


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda: blind_computation(
                grover_computation(0), np.random.default_rng(0), processor=ProcessorParams(qubits=3, t2_s=1.0)
            ),
            "processor.qubits",
        ),
        (lambda: blind_computation(grover_computation(0), np.random.default_rng(0), runs=0), "runs"),
        (
            lambda: blind_computation(
                grover_computation(0), np.random.default_rng(0), test_rounds=1, max_failed_tests=2
            ),
            "max_failed_tests",
        ),
        (
            lambda: simulate_rounds(
                grover_computation(0), [True], np.random.default_rng(0), deviation=Deviation(row=2, column=0)
            ),
            "deviation.row",
        ),
        (
            lambda: simulate_rounds(grover_computation(0), [True], np.random.default_rng(0), pair=[0.5, 0.5, 0.5, 0.0]),
            "pair",
        ),
        (lambda: Computation(name="bad", angles_pi_over_4=((0, 8),)), "computation.angles_pi_over_4"),
        (lambda: Computation(name="bad", angles_pi_over_4=((0, 1), (0,))), "computation.angles_pi_over_4"),
        (lambda: grover_computation(4), "grover.marked"),
        (lambda: Brickwork(rows=0, columns=3), "brickwork.rows"),
    ],
)
def test_bad_input_names_the_field(call: object, field: str) -> None:
    with pytest.raises(ParameterError) as err:
        call()  # type: ignore[operator]
    assert err.value.field == field
