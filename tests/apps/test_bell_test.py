"""CHSH between two nodes: exact S against the Bell-diagonal formula and an explicit density-matrix computation,
the readout factor (2f-1)^2, the photonic constructors, and the Monte-Carlo's estimate and standard error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.apps.bell_test import (
    YIN_2017_CHSH_S,
    chsh_exact,
    chsh_test,
    correlators_exact,
    pair_of_qber,
    pair_of_visibility,
)
from qinternet.errors import ParameterError
from qinternet.params.processor import ProcessorParams
from qinternet.states import bell, density

_Z = np.diag([1.0, -1.0]).astype(complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_ALICE = (_Z, _X)
_BOB = ((_Z + _X) / math.sqrt(2.0), (_Z - _X) / math.sqrt(2.0))


def _correlator_from_density(pair: np.ndarray, i: int, j: int, fa: float, fb: float) -> float:
    """E_ij from the 4x4 density matrix: joint outcome probabilities of the two observables' eigenprojectors, each
    outcome then passed through the readout confusion, and E = sum a b P(a, b)."""
    rho = density.density_of_bell_diagonal(pair)
    total = 0.0
    for a_true in (1, -1):
        pa = (np.eye(2) + a_true * _ALICE[i]) / 2.0
        for b_true in (1, -1):
            pb = (np.eye(2) + b_true * _BOB[j]) / 2.0
            prob = float(np.real(np.trace(rho @ np.kron(pa, pb))))
            for a, wa in ((a_true, fa), (-a_true, 1 - fa)):
                for b, wb in ((b_true, fb), (-b_true, 1 - fb)):
                    total += a * b * prob * wa * wb
    return total


def test_exact_s_is_chsh_standard_with_perfect_readout() -> None:
    pairs = np.random.default_rng(1).dirichlet(np.ones(4), 40)
    np.testing.assert_allclose(chsh_exact(pairs), bell.chsh_standard(pairs), atol=1e-12)
    assert float(chsh_exact(bell.perfect_pair())) == pytest.approx(2.0 * math.sqrt(2.0))


@pytest.mark.parametrize(("fa", "fb"), [(1.0, 1.0), (0.95, 0.95), (0.9, 0.8), (0.5, 1.0)])
def test_readout_shrinks_each_correlator_by_two_f_minus_one(fa: float, fb: float) -> None:
    pair = np.random.default_rng(2).dirichlet(np.ones(4))
    e = correlators_exact(pair, ProcessorParams(measurement_fidelity=fa), ProcessorParams(measurement_fidelity=fb))
    for i in (0, 1):
        for j in (0, 1):
            assert e[i, j] == pytest.approx(_correlator_from_density(pair, i, j, fa, fb), abs=1e-12)
    s = float(chsh_exact(pair, ProcessorParams(measurement_fidelity=fa), ProcessorParams(measurement_fidelity=fb)))
    assert s == pytest.approx((2 * fa - 1) * (2 * fb - 1) * float(bell.chsh_standard(pair)), abs=1e-12)


def test_basis_rotation_gates_shrink_the_rotated_settings() -> None:
    # one single-qubit gate before every setting but Alice's Z: E_0j * (1 - p), E_1j * (1 - p)^2
    proc = ProcessorParams(single_qubit_gate_fidelity=0.95)
    p1 = proc.single_qubit_depolarising
    e0 = correlators_exact(bell.perfect_pair())
    e = correlators_exact(bell.perfect_pair(), proc, proc)
    np.testing.assert_allclose(e[0], e0[0] * (1 - p1), atol=1e-12)
    np.testing.assert_allclose(e[1], e0[1] * (1 - p1) ** 2, atol=1e-12)


def test_photonic_constructors() -> None:
    for v in (0.0, 0.5, 1 / math.sqrt(2), 0.9, 1.0):
        assert float(chsh_exact(pair_of_visibility(v))) == pytest.approx(2 * math.sqrt(2) * v)
    for ez, ex in ((0.0, 0.0), (0.02, 0.05), (0.1, 0.1), (0.5, 0.5)):
        pair = pair_of_qber(ez, ex)
        np.testing.assert_allclose(bell.qber(pair), [ex, ez], atol=1e-12)
        assert float(chsh_exact(pair)) == pytest.approx(2 * math.sqrt(2) * (1 - ez - ex))
    with pytest.raises(ParameterError, match="qber_x"):
        pair_of_qber(0.1, 0.6)
    with pytest.raises(ParameterError, match="visibility"):
        pair_of_visibility(1.2)


def test_micius_figure_maps_to_a_visibility() -> None:
    # Yin et al., Science 356, 1140 (2017): S = 2.37 +- 0.09 over 1,203 km; a Werner pair of V = S/(2 sqrt 2)
    s, err = YIN_2017_CHSH_S
    v = s / (2 * math.sqrt(2))
    assert v == pytest.approx(0.838, abs=5e-4)
    assert float(chsh_exact(pair_of_visibility(v))) == pytest.approx(s)
    # about 1,300 pairs give the published error with our estimator (E = +-V/sqrt 2 for all four correlators)
    e2 = v**2 / 2
    assert math.sqrt(16 * (1 - e2) / 1300) == pytest.approx(err, abs=0.005)


def test_monte_carlo_estimate_and_its_error_match_the_spread_of_repetitions() -> None:
    pair = pair_of_visibility(0.838)
    exact = float(chsh_exact(pair))
    runs = [chsh_test(pair, np.random.default_rng(seed), 2000) for seed in range(400)]
    values = np.array([r.value for r in runs])
    errors = np.array([r.details["standard_error"] for r in runs])
    # mean of 400 runs: its standard error is ~0.08/sqrt(400) = 0.004; allow 4 of them
    assert abs(values.mean() - exact) < 4 * errors.mean() / math.sqrt(len(runs))
    # the reported standard error against the spread: the sample std of 400 values has relative error
    # 1/sqrt(2*399) = 3.5 %; allow 4 of them (14 %)
    assert values.std(ddof=1) == pytest.approx(errors.mean(), rel=0.14)
    # ci95 covers the exact S in ~95 % of runs: with 400 runs the binomial sd is 1.1 %, allow 4 of them
    covered = np.mean([r.ci95[0] <= exact <= r.ci95[1] for r in runs])
    assert abs(covered - 0.95) < 0.044


def test_monte_carlo_with_noisy_nodes_and_per_pair_states() -> None:
    pairs = np.random.default_rng(7).dirichlet([200, 1, 1, 1], 50)  # fidelities ~0.985: S ~ 2.3 after the noise
    proc = ProcessorParams(measurement_fidelity=0.96, single_qubit_gate_fidelity=0.99)
    out = chsh_test(pairs, np.random.default_rng(8), 200_000, processor_a=proc, processor_b=proc)
    exact = float(np.mean(chsh_exact(pairs[np.arange(200_000) % 50], proc, proc)))
    assert out.details["exact_chsh_s"] == pytest.approx(exact)
    assert abs(out.value - exact) < 4 * out.details["standard_error"]  # 4 sigma, false failure ~6e-5
    assert out.app == "chsh"
    assert out.metric == "chsh_s"
    assert out.details["sigma_violation"] > 10
    assert out.details["p_value"] < 1e-20
    assert sum(map(sum, out.details["counts"])) == 200_000


def test_a_local_state_does_not_violate() -> None:
    out = chsh_test(pair_of_visibility(0.5), np.random.default_rng(9), 10_000)  # S = 1.41
    assert out.details["sigma_violation"] < 0
    assert out.details["p_value"] > 0.5


def test_bad_input_names_the_field() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="count"):
        chsh_test(bell.perfect_pair(), rng)
    with pytest.raises(ParameterError, match="count"):
        chsh_test(bell.perfect_pair(), rng, 4)
    with pytest.raises(ParameterError, match="pairs"):
        chsh_test([0.2, 0.2, 0.2, 0.2], rng, 100)
