"""GHZ phase sensing and entanglement-assisted clock synchronisation (qinternet.apps.clock_sync).

Independent references: a density-matrix run of the fusion circuit and of the two-node scheme
(qinternet.states.density), the Cramér–Rao bound with the closed-form Fisher information of a noiseless GHZ
(N^2) and of independent qubits (N), and the factor sqrt(2) of Nichol et al., Nature 609, 689 (2022).
Statistical tests use fixed seeds; each tolerance says which law it comes from.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from qinternet.apps.clock_sync import (
    clock_sync,
    clock_sync_precision,
    ghz_fisher_information,
    ghz_fringe_weights,
    ghz_parity_expectation,
    ghz_phase_precision,
    independent_fisher_information,
    optimal_node_count,
    phase_precision_curve,
    phase_sensing_monte_carlo,
    sample_ghz_parity,
)
from qinternet.errors import ParameterError
from qinternet.params.processor import ProcessorParams
from qinternet.states.density import (
    CNOT,
    HADAMARD,
    PAULIS,
    apply_unitary,
    density_of_bell_diagonal,
    partial_trace,
    tensor,
)

Complex = NDArray[np.complex128]

NOISY = ProcessorParams(
    qubits=8, single_qubit_gate_fidelity=0.98, two_qubit_gate_fidelity=0.95, measurement_fidelity=0.96, t2_s=2.0
)
ASYMMETRIC_PAIR = np.array([0.82, 0.09, 0.06, 0.03])  # p_X != p_Y: X errors that do not cancel


def _depolarise(rho: Complex, p: float, qubits: list[int]) -> Complex:
    """``(1 - p) rho + p I/d`` written as the Pauli twirl ``(1 - p) rho + p/d^2 sum_P P rho P``."""
    d2 = 4 ** len(qubits)
    out = (1.0 - p) * rho
    for code in range(d2):
        ops = [PAULIS[(code >> (2 * i)) & 3] for i in range(len(qubits))]
        out = out + p / d2 * apply_unitary(rho, tensor(*ops), qubits)
    return out


def _dephase(rho: Complex, prob: float, qubit: int) -> Complex:
    return (1.0 - prob) * rho + prob * apply_unitary(rho, PAULIS[2], [qubit])


def _x_readout_parity(rho: Complex, n: int, psi: float, proc: ProcessorParams, dephase_s: float) -> float:
    """Dephase, acquire ``psi`` on every qubit, rotate to X (H, then depolarising), parity of noisy Z readouts."""
    prob_z = (1.0 - math.exp(-dephase_s / proc.t2_s)) / 2.0
    phase = np.diag([1.0, np.exp(1j * psi)])
    for qb in range(n):
        rho = _dephase(rho, prob_z, qb)
        rho = apply_unitary(rho, phase, [qb])
        rho = apply_unitary(rho, HADAMARD, [qb])
        rho = _depolarise(rho, proc.single_qubit_depolarising, [qb])
    z_all = tensor(*([PAULIS[2]] * n))
    return float(np.real(np.trace(rho @ z_all))) * (1.0 - 2.0 * proc.readout_flip) ** n


def _ghz_parity_density(
    n: int, pair: NDArray[np.float64], proc: ProcessorParams, psi: float, t_s: float, wait_s: float
) -> float:
    """The star fusion on density matrices: qubits (a_j, b_j) = (2(j-1), 2(j-1)+1); CNOT a_1 -> a_k, noisy Z
    readout of a_k, X on b_k when the reported bit is 1 (then depolarising), then the X-parity readout."""
    rho = tensor(*[density_of_bell_diagonal(pair) for _ in range(n - 1)])
    proj = [np.diag([1.0, 0.0]).astype(np.complex128), np.diag([0.0, 1.0]).astype(np.complex128)]
    for k in range(2, n):
        ak, bk = 2 * (k - 1), 2 * (k - 1) + 1
        rho = _depolarise(apply_unitary(rho, CNOT, [0, ak]), proc.two_qubit_depolarising, [0, ak])
        out = np.zeros_like(rho)
        for m in (0, 1):
            post = apply_unitary(rho, proj[m], [ak])
            for reported, weight in ((m, 1.0 - proc.readout_flip), (1 - m, proc.readout_flip)):
                branch = post
                if reported == 1:
                    branch = _depolarise(apply_unitary(post, PAULIS[1], [bk]), proc.single_qubit_depolarising, [bk])
                out = out + weight * branch
        rho = out
    rho = partial_trace(rho, [0] + [2 * (j - 1) + 1 for j in range(1, n)])
    return _x_readout_parity(rho, n, psi, proc, wait_s + t_s)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_closed_form_parity_equals_the_density_matrix_circuit(n: int) -> None:
    # Exact against exact: the fringe-polynomial closed form must reproduce the full circuit to rounding.
    t_s, wait_s = 0.3, 0.05
    for phi in (0.0, 0.11, -0.23):
        closed = float(ghz_parity_expectation(n, ASYMMETRIC_PAIR, phi, NOISY, interrogation_s=t_s, wait_s=wait_s))
        density = _ghz_parity_density(n, ASYMMETRIC_PAIR, NOISY, phi + math.pi / (2 * n), t_s, wait_s)
        assert closed == pytest.approx(density, abs=1e-12)


def test_werner_pairs_give_one_fringe_whose_contrast_is_the_product_of_the_contrasts() -> None:
    # Komar et al. 2014: GHZ contrast = product of the pairs' and gates' contrasts times exp(-N T/T2) when the X
    # errors cancel (Werner pairs, perfect readout); no weight at any frequency other than N.
    n, w, t_s = 6, 0.9, 0.4
    proc = ProcessorParams(qubits=5, single_qubit_gate_fidelity=0.99, two_qubit_gate_fidelity=0.97, t2_s=3.0)
    werner = np.array([(1 + 3 * w) / 4, (1 - w) / 4, (1 - w) / 4, (1 - w) / 4])
    weights = ghz_fringe_weights(n, werner, proc, interrogation_s=t_s)
    p1, p2 = proc.single_qubit_depolarising, proc.two_qubit_depolarising
    expected = w ** (n - 1) * (1 - p2) ** (n - 2) * (1 - p1 / 2) ** (n - 2) * (1 - p1) ** n * math.exp(-n * t_s / 3.0)
    assert weights[0] + weights[-1] == pytest.approx(expected, rel=1e-12)
    assert np.allclose(weights[1:-1], 0.0, atol=1e-15)


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_noiseless_fisher_information_is_heisenberg_for_ghz_and_sql_for_independent_qubits(n: int) -> None:
    phases = np.array([0.0, 0.3, -0.6]) / n
    assert np.allclose(ghz_fisher_information(n, [1, 0, 0, 0], phase_rad=phases), n**2, rtol=1e-12)
    assert np.allclose(independent_fisher_information(n, phase_rad=phases), n, rtol=1e-12)
    precision = ghz_phase_precision(n, [1, 0, 0, 0], runs=100)
    assert precision.ghz_uncertainty_rad == pytest.approx(precision.heisenberg_rad, rel=1e-12)
    assert precision.independent_uncertainty_rad == pytest.approx(precision.sql_rad, rel=1e-12)


def _variance_in_chi2_band(std: float, sigma: float, repetitions: int) -> bool:
    """``(R - 1) s^2/sigma^2`` is chi-square with ``R - 1`` degrees of freedom: accept its central 99.9 %."""
    dof = repetitions - 1
    statistic = dof * std**2 / sigma**2
    return bool(stats.chi2.ppf(0.0005, dof) <= statistic <= stats.chi2.ppf(0.9995, dof))


def test_noiseless_monte_carlo_variance_per_run_is_one_over_n_squared_for_ghz_and_one_over_n_independent() -> None:
    n, runs, reps, phi = 4, 2000, 300, 0.05
    rng = np.random.default_rng(20141)
    ghz = phase_sensing_monte_carlo(n, [1, 0, 0, 0], phi, runs, reps, rng)
    ind = phase_sensing_monte_carlo(n, [1, 0, 0, 0], phi, runs, reps, rng, entangled=False)
    # The maximum-likelihood spread reaches the Cramér-Rao bound 1/sqrt(runs N^2) (GHZ) and 1/sqrt(runs N).
    assert _variance_in_chi2_band(ghz.std_rad, 1.0 / (n * math.sqrt(runs)), reps)
    assert _variance_in_chi2_band(ind.std_rad, 1.0 / math.sqrt(n * runs), reps)
    assert ghz.variance_per_run < ind.variance_per_run / 2  # N = 4: the ratio is 1/4 in expectation


def test_monte_carlo_parity_frequency_matches_the_closed_form_with_noise() -> None:
    # The sampler draws every error event of the circuit; the frequency of +1 is binomial around (1 + S)/2. Poor
    # readout (q = 0.07) makes the fusion's flipped bits weigh: the lower fringe cos((N - 2) psi) carries ~40 %.
    proc = ProcessorParams(
        qubits=3, single_qubit_gate_fidelity=0.995, two_qubit_gate_fidelity=0.98, measurement_fidelity=0.93, t2_s=5.0
    )
    n, runs = 4, 300_000
    rng = np.random.default_rng(582)
    for phi in (0.0, -0.1):
        outcomes = sample_ghz_parity(n, ASYMMETRIC_PAIR, phi, runs, rng, proc, interrogation_s=0.2, wait_s=0.02)
        exact = (1 + float(ghz_parity_expectation(n, ASYMMETRIC_PAIR, phi, proc, interrogation_s=0.2, wait_s=0.02))) / 2
        sigma = math.sqrt(exact * (1 - exact) / runs)
        assert abs(outcomes.mean() - exact) < 4.5 * sigma


def test_noisy_monte_carlo_spread_and_bias_match_the_exact_precision() -> None:
    n, runs, reps, phi = 3, 3000, 300, -0.1
    mc = phase_sensing_monte_carlo(
        n, ASYMMETRIC_PAIR, phi, runs, reps, np.random.default_rng(1330), NOISY, interrogation_s=0.1
    )
    assert _variance_in_chi2_band(mc.std_rad, mc.exact_uncertainty_rad, reps)
    # Unbiased: the mean of R estimates lies within 4 standard errors of the truth (normal law of the mean).
    assert abs(mc.mean_rad - phi) < 4 * mc.std_rad / math.sqrt(reps)


def test_optimal_node_count_with_dephasing_is_t2_over_t() -> None:
    # F = N^2 exp(-2 N T/T2) (dephasing only) is largest at N = T2/T = 10.
    proc = ProcessorParams(qubits=59, t2_s=1.0)
    assert optimal_node_count([1, 0, 0, 0], proc, interrogation_s=0.1, max_nodes=60) == 10
    # Without noise the precision keeps improving: the optimum is the largest N allowed.
    assert optimal_node_count([1, 0, 0, 0], ProcessorParams(qubits=59), interrogation_s=0.1, max_nodes=60) == 60


def test_precision_curve_beats_the_sql_at_few_nodes_and_has_a_finite_optimum_with_noise() -> None:
    # Werner pairs (w) and perfect readout: F = N^2 C^2 with C = w^(N-1) (1 - p2)^(N-2) exp(-N T/T2), largest at
    # N* = -1/ln(w (1 - p2) exp(-T/T2)) for continuous N; the integer optimum is its floor or ceiling.
    w, t_s, t2_s = 0.96, 0.05, 10.0
    proc = ProcessorParams(qubits=39, two_qubit_gate_fidelity=0.995, t2_s=t2_s)
    pair = np.array([(1 + 3 * w) / 4, (1 - w) / 4, (1 - w) / 4, (1 - w) / 4])
    curve = phase_precision_curve(range(2, 41), pair, proc, interrogation_s=t_s, runs=1000)
    n_star = -1.0 / math.log(w * (1 - proc.two_qubit_depolarising) * math.exp(-t_s / t2_s))
    assert curve.optimal_n_nodes in (math.floor(n_star), math.ceil(n_star))
    assert curve.ghz_uncertainty_rad[0] < curve.sql_rad[0]  # N = 2 beats the SQL
    assert curve.ghz_uncertainty_rad[-1] > curve.ghz_uncertainty_rad.min()
    assert np.allclose(curve.heisenberg_rad, 1 / (curve.n_nodes * math.sqrt(1000)))
    assert curve.to_dict()["optimal_n_nodes"] == curve.optimal_n_nodes


def _clock_correlation_density(
    pair: NDArray[np.float64], pa: ProcessorParams, pb: ProcessorParams, storage_s: float, phi: float, alpha: float
) -> float:
    """Mean of the outcome product, averaged over the common phase: B's noisy X, storage dephasing, both halves
    rotated by their phases, H, depolarising, noisy Z readouts. 64 equally spaced common phases average the
    cos(2 gamma + ...) terms exactly."""
    rho = density_of_bell_diagonal(pair)
    rho = _depolarise(apply_unitary(rho, PAULIS[1], [1]), pb.single_qubit_depolarising, [1])
    rho = _dephase(rho, (1 - math.exp(-storage_s / pa.t2_s)) / 2, 0)
    rho = _dephase(rho, (1 - math.exp(-storage_s / pb.t2_s)) / 2, 1)
    total = 0.0
    gammas = np.arange(64) * 2 * math.pi / 64
    for gamma in gammas:
        r = apply_unitary(rho, np.diag([1.0, np.exp(1j * (gamma + alpha))]), [0])
        r = apply_unitary(r, np.diag([1.0, np.exp(1j * (gamma + phi))]), [1])
        for qb, proc in ((0, pa), (1, pb)):
            r = _depolarise(apply_unitary(r, HADAMARD, [qb]), proc.single_qubit_depolarising, [qb])
        zz = float(np.real(np.trace(r @ tensor(PAULIS[2], PAULIS[2]))))
        total += zz * (1 - 2 * pa.readout_flip) * (1 - 2 * pb.readout_flip)
    return total / gammas.size


def test_clock_contrast_equals_the_density_matrix_scheme() -> None:
    pair = np.array([0.8, 0.08, 0.07, 0.05])
    pa = ProcessorParams(single_qubit_gate_fidelity=0.99, measurement_fidelity=0.97, t2_s=1.5)
    pb = ProcessorParams(single_qubit_gate_fidelity=0.985, measurement_fidelity=0.95, t2_s=0.8)
    exact = clock_sync_precision(pair, frequency_hz=1e9, pairs=10, processor_a=pa, processor_b=pb, storage_s=0.1)
    for phi, alpha in ((0.0, 0.0), (0.7, 0.0), (0.7, math.pi / 2), (-2.0, math.pi / 2)):
        density = _clock_correlation_density(pair, pa, pb, 0.1, phi, alpha)
        assert exact.contrast * math.cos(phi - alpha) == pytest.approx(density, abs=1e-12)


def test_clock_offset_estimate_is_unbiased_and_its_interval_covers_the_truth() -> None:
    pair = np.array([0.9, 0.04, 0.03, 0.03])
    proc = ProcessorParams(single_qubit_gate_fidelity=0.995, measurement_fidelity=0.98, t2_s=1.0)
    true_ps, f_hz, pairs, reps = 123.0, 1e9, 2000, 200
    rng = np.random.default_rng(2010)
    outcomes = [
        clock_sync(
            pair,
            true_offset_ps=true_ps,
            frequency_hz=f_hz,
            pairs=pairs,
            rng=rng,
            processor_a=proc,
            processor_b=proc,
            storage_s=0.01,
        )
        for _ in range(reps)
    ]
    values = np.array([o.value for o in outcomes])
    precision = outcomes[0].details["precision_ps"]
    # Bias: the mean of R estimates within 4 standard errors of the truth.
    assert abs(values.mean() - true_ps) < 4 * values.std(ddof=1) / math.sqrt(reps)
    # Spread: the Cramér-Rao precision at the true offset (chi-square band).
    assert _variance_in_chi2_band(float(values.std(ddof=1)), precision, reps)
    # Coverage of the 95 % intervals: binomial(R, 0.95), accept within 4 standard deviations.
    covered = np.mean([o.ci95[0] <= true_ps <= o.ci95[1] for o in outcomes])
    assert abs(covered - 0.95) < 4 * math.sqrt(0.95 * 0.05 / reps)
    first = outcomes[0].to_dict()
    assert first["app"] == "clock-sync"
    assert first["metric"] == "clock_offset_ps"
    assert first["details"]["true_offset_ps"] == true_ps


def test_entangled_clock_comparison_gains_sqrt2_over_unentangled_nodes() -> None:
    # Nichol et al., Nature 609, 689 (2022): entanglement reduces the comparison uncertainty by sqrt(2).
    exact = clock_sync_precision([1, 0, 0, 0], frequency_hz=4.3e14, pairs=1000)
    assert exact.independent_precision_ps / exact.best_precision_ps == pytest.approx(math.sqrt(2), rel=1e-12)
    assert exact.best_precision_ps == pytest.approx(1e12 / (2 * math.pi * 4.3e14 * math.sqrt(1000)), rel=1e-12)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: ghz_fringe_weights(1, [1, 0, 0, 0]), "n_nodes"),
        (lambda: ghz_fringe_weights(5, [1, 0, 0, 0], ProcessorParams(qubits=3)), "processor.qubits"),
        (lambda: ghz_fringe_weights(4, np.ones((2, 4)) / 4), "pair"),
        (lambda: ghz_fringe_weights(4, [0.5, 0.5, 0.5, 0.0]), "pair"),
        (lambda: ghz_fringe_weights(4, [1, 0, 0, 0], interrogation_s=-1.0), "interrogation_s"),
        (lambda: phase_sensing_monte_carlo(4, [1, 0, 0, 0], 0.5, 10, 5, np.random.default_rng(0)), "phase_rad"),
        (lambda: phase_sensing_monte_carlo(4, [1, 0, 0, 0], 0.0, 10, 1, np.random.default_rng(0)), "repetitions"),
        (lambda: sample_ghz_parity(3, [1, 0, 0, 0], 0.0, 0, np.random.default_rng(0)), "runs"),
        (lambda: clock_sync_precision([1, 0, 0, 0], frequency_hz=1e9, pairs=1), "pairs"),
        (lambda: clock_sync_precision([1, 0, 0, 0], frequency_hz=0.0, pairs=10), "frequency_hz"),
        (
            lambda: clock_sync_precision([1, 0, 0, 0], frequency_hz=1e9, pairs=10, true_offset_ps=600.0),
            "true_offset_ps",
        ),
        (lambda: clock_sync_precision([1, 0, 0, 0], frequency_hz=1e9, pairs=10, storage_s=-1.0), "storage_s"),
        (
            lambda: clock_sync(
                [0.5, 0, 0.5, 0], true_offset_ps=1.0, frequency_hz=1e9, pairs=10, rng=np.random.default_rng(0)
            ),
            "pair",
        ),
    ],
)
def test_bad_input_names_the_field(call: object, field: str) -> None:
    with pytest.raises(ParameterError) as err:
        call()  # type: ignore[operator]
    assert err.value.field == field
