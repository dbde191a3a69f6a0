"""Teleportation over a delivered pair: the density-matrix circuit against the Bell-diagonal closed form, the
(2F+1)/3 law and the classical bound, and the shot-by-shot Monte-Carlo against the exact average."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.apps.teleportation import (
    CLASSICAL_BOUND,
    REN_2017_AVERAGE_FIDELITY,
    VALIVARTHI_2020_MIN_FIDELITY,
    average_fidelity_closed_form,
    average_fidelity_exact,
    classical_latency_s,
    teleport,
)
from qinternet.errors import ParameterError
from qinternet.params.processor import ProcessorParams
from qinternet.states import bell

NOISY_A = ProcessorParams(
    single_qubit_gate_fidelity=0.98, two_qubit_gate_fidelity=0.95, measurement_fidelity=0.97, t2_s=0.01
)
NOISY_B = ProcessorParams(
    single_qubit_gate_fidelity=0.97, two_qubit_gate_fidelity=0.9, measurement_fidelity=0.9, t2_s=2e-3
)


def _random_pairs(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(4), n)


def test_perfect_processors_give_two_f_plus_one_over_three() -> None:
    # Horodecki et al., PRA 60, 1888 (1999), eq. (17): F_avg = (2F + 1)/3 for any pair through a perfect Bell
    # measurement and Pauli correction; the density-matrix circuit must reproduce it for arbitrary Bell-diagonal pairs
    pairs = _random_pairs(1, 50)
    exact = average_fidelity_exact(pairs)
    np.testing.assert_allclose(exact, (2.0 * pairs[:, 0] + 1.0) / 3.0, atol=1e-12)
    np.testing.assert_allclose(average_fidelity_closed_form(pairs), exact, atol=1e-12)
    np.testing.assert_allclose(bell.teleportation_fidelity(pairs), exact, atol=1e-12)


def test_noisy_circuit_equals_the_bell_diagonal_closed_form() -> None:
    # two independent paths: 3-qubit density matrices summed over outcomes and readout errors, against the Pauli
    # channel composition of the module docstring (readout flips, H and CNOT depolarising, wait, B's gates)
    pairs = _random_pairs(2, 20)
    for latency in (0.0, 1e-4, 3e-3):
        exact = average_fidelity_exact(pairs, NOISY_A, NOISY_B, latency)
        closed = average_fidelity_closed_form(pairs, NOISY_A, NOISY_B, latency)
        np.testing.assert_allclose(exact, closed, atol=1e-12)
    # each noise source alone lowers the fidelity of a perfect pair below 1
    for pa, pb in (
        (ProcessorParams(measurement_fidelity=0.9), None),
        (ProcessorParams(single_qubit_gate_fidelity=0.9), None),
        (ProcessorParams(two_qubit_gate_fidelity=0.9), None),
        (None, ProcessorParams(single_qubit_gate_fidelity=0.9)),
    ):
        f = float(average_fidelity_exact(bell.perfect_pair(), pa, pb))
        assert f < 1.0 - 1e-3
        assert f == pytest.approx(float(average_fidelity_closed_form(bell.perfect_pair(), pa, pb)), abs=1e-12)


def test_waiting_for_the_bits_dephases_the_receivers_half() -> None:
    # perfect pair, only B's T2: a Z error with probability q = (1 - exp(-t/T2))/2 gives F = 1 - 2q/3
    t2 = 1e-3
    pb = ProcessorParams(t2_s=t2)
    for length_km in (0.0, 50.0, 200.0, 1000.0):
        t = float(classical_latency_s(length_km))
        q = 0.5 * (1.0 - math.exp(-t / t2))
        assert float(average_fidelity_exact(bell.perfect_pair(), None, pb, t)) == pytest.approx(1.0 - 2.0 * q / 3.0)
    # 1000 km of fibre is ~4.9 ms: the light-speed figure of params.units
    assert float(classical_latency_s(1000.0)) == pytest.approx(1000.0 * 1.4682 / 299_792.458)


def test_classical_bound_is_beaten_iff_pair_fidelity_exceeds_one_half() -> None:
    # Werner pairs around F = 1/2 and random Bell-diagonal pairs: F_avg > 2/3 exactly when F > 1/2
    f = np.concatenate([np.linspace(0.25, 1.0, 301), [0.5 - 1e-9, 0.5 + 1e-9]])
    pairs = np.concatenate([bell.werner(bell.werner_of_fidelity(f)), _random_pairs(3, 500)])
    favg = average_fidelity_exact(pairs)
    assert np.array_equal(favg > CLASSICAL_BOUND + 1e-13, pairs[:, 0] > 0.5 + 1e-12)


def test_published_teleportation_fidelities_beat_the_classical_bound() -> None:
    # Ren et al. 2017: 0.80 +- 0.01; with perfect local operations that needs a pair of fidelity (3*0.80 - 1)/2 = 0.70
    value, err = REN_2017_AVERAGE_FIDELITY
    assert value - 3 * err > CLASSICAL_BOUND
    implied = bell.werner(bell.werner_of_fidelity((3.0 * value - 1.0) / 2.0))
    assert float(average_fidelity_exact(implied)) == pytest.approx(value)
    assert VALIVARTHI_2020_MIN_FIDELITY > CLASSICAL_BOUND


@pytest.mark.parametrize("inputs", ["haar", "cardinal"])
def test_monte_carlo_agrees_with_the_exact_average(inputs: str) -> None:
    pairs = _random_pairs(4, 7) * 0.4 + np.array([0.6, 0.0, 0.0, 0.0])  # fidelities 0.6..1
    out = teleport(pairs, NOISY_A, NOISY_B, np.random.default_rng(5), shots=20_000, classical_latency_s=5e-4,
                   inputs=inputs)  # fmt: skip
    exact = float(np.mean(average_fidelity_exact(pairs[np.arange(20_000) % 7], NOISY_A, NOISY_B, 5e-4)))
    assert out.details["exact_average_fidelity"] == pytest.approx(exact)
    # the per-shot scores are i.i.d. with mean `exact`; ci95 half-width is 1.96 standard errors, so 4 standard
    # errors = 2.04 half-widths (false failure ~6e-5 per run)
    half = (out.ci95[1] - out.ci95[0]) / 2.0
    assert abs(out.value - exact) < 2.04 * half
    assert out.app == "teleportation"
    assert out.metric == "average_fidelity"
    assert out.to_dict()["ci95"] == [out.ci95[0], out.ci95[1]]


def test_the_two_bits_decide_the_correction() -> None:
    rng = np.random.default_rng(6)
    # perfect everything: every shot is corrected exactly, so every score is 1
    perfect = teleport(bell.perfect_pair(), None, None, rng, shots=500)
    assert perfect.value == pytest.approx(1.0, abs=1e-12)
    # coin-flip readout at A: the reported bits carry nothing, the corrections are random Paulis and the output
    # is I/2 on average: F = 1/2 (X and Z errors each with probability 1/2 -> q_I = 1/4 -> (2/4 + 1)/3)
    coin = ProcessorParams(measurement_fidelity=0.5)
    blind = teleport(bell.perfect_pair(), coin, None, rng, shots=20_000)
    assert float(average_fidelity_exact(bell.perfect_pair(), coin)) == pytest.approx(0.5)
    half = (blind.ci95[1] - blind.ci95[0]) / 2.0
    assert abs(blind.value - 0.5) < 2.04 * half  # 4 standard errors, as above


def test_bad_input_names_the_field() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="shots"):
        teleport(bell.perfect_pair(), None, None, rng)
    with pytest.raises(ParameterError, match=r"processor_a\.qubits"):
        teleport(bell.perfect_pair(), ProcessorParams(qubits=1), None, rng, shots=10)
    with pytest.raises(ParameterError, match="classical_latency_s"):
        average_fidelity_exact(bell.perfect_pair(), classical_latency_s=-1.0)
    with pytest.raises(ParameterError, match="pair"):
        average_fidelity_exact([0.5, 0.5, 0.5, 0.5])
    with pytest.raises(ParameterError, match="inputs"):
        teleport(bell.perfect_pair(), None, None, rng, shots=10, inputs="bloch")  # type: ignore[arg-type]
