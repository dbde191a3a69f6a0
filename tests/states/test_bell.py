"""The Bell-diagonal fast path against closed forms and against density matrices (the general path)."""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.states import bell
from qinternet.states import density as dm


def _random_bell(rng: np.random.Generator, n: int = 5) -> np.ndarray:
    return rng.dirichlet(np.ones(4), size=n)


def test_werner_fidelity_round_trip() -> None:
    # F = (1 + 3w)/4 (Werner 1989): w = 1 is |Phi+>, w = 0 the maximally mixed state
    assert bell.fidelity(bell.werner(0.0)) == pytest.approx(0.25)
    assert bell.fidelity(bell.werner(1.0)) == pytest.approx(1.0)
    for f in (0.3, 0.7, 0.95):
        assert bell.fidelity_of_werner(bell.werner_of_fidelity(f)) == pytest.approx(f)
        assert bell.fidelity(bell.werner(bell.werner_of_fidelity(f))) == pytest.approx(f)


def test_swapping_werner_pairs_multiplies_werner_parameters() -> None:
    # Dür, Briegel 2007, Sec. 4.2: an ideal swap of Werner pairs w1, w2 gives the Werner pair w1 w2
    out = bell.swap(bell.werner(0.9), bell.werner(0.8))
    np.testing.assert_allclose(out, bell.werner(0.72), atol=1e-15)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_swap_agrees_with_a_bell_measurement_on_density_matrices(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, q = _random_bell(rng, 2)
    register = dm.tensor(dm.density_of_bell_diagonal(p), dm.density_of_bell_diagonal(q))  # qubits A B C D
    probs, states = dm.bell_measure(register, (1, 2))
    # each outcome k calls for the Pauli P_k on D; the corrected pairs, weighted, give the swapped pair
    corrected = sum(
        prob * dm.apply_unitary(rho, dm.PAULIS[k], [1]) for k, (prob, rho) in enumerate(zip(probs, states, strict=True))
    )
    np.testing.assert_allclose(probs, 0.25, atol=1e-12)  # the outcome tells nothing about the pairs
    np.testing.assert_allclose(corrected, dm.density_of_bell_diagonal(bell.swap(p, q)), atol=1e-12)


@pytest.mark.parametrize("qubit", [0, 1])
def test_pauli_channel_agrees_with_kraus_operators_on_either_qubit(qubit: int) -> None:
    rng = np.random.default_rng(7)
    p = _random_bell(rng, 1)[0]
    px, py, pz = 0.05, 0.02, 0.11
    kraus = [np.sqrt(1 - px - py - pz) * dm.PAULIS[0]] + [
        np.sqrt(w) * dm.PAULIS[k] for w, k in ((px, 1), (pz, 2), (py, 3))
    ]
    rho = dm.apply_kraus(dm.density_of_bell_diagonal(p), kraus, [qubit])
    np.testing.assert_allclose(rho, dm.density_of_bell_diagonal(bell.pauli_channel(p, px, py, pz)), atol=1e-12)


def test_amplitude_damping_seen_through_bell_coefficients_is_its_pauli_twirl() -> None:
    # Pauli twirl of amplitude damping gamma: p_x = p_y = gamma/4, p_z = (1 - sqrt(1-gamma))^2 / 4
    # (from |Tr(P K_i)/2|^2 of the Kraus operators of Nielsen & Chuang eq. 8.107)
    rng = np.random.default_rng(11)
    p = _random_bell(rng, 1)[0]
    gamma = 0.3
    rho = dm.apply_kraus(dm.density_of_bell_diagonal(p), dm.amplitude_damping_kraus(gamma), [1])
    pz = (1.0 - np.sqrt(1.0 - gamma)) ** 2 / 4.0
    np.testing.assert_allclose(dm.bell_coefficients(rho), bell.pauli_channel(p, gamma / 4, gamma / 4, pz), atol=1e-12)


def test_dephasing_a_stored_half_of_a_perfect_pair() -> None:
    # a Z error with probability (1 - e^{-t/T2})/2 leaves F = (1 + e^{-t/T2})/2
    decay = np.exp(-0.4)
    out = bell.dephase(bell.perfect_pair(), (1.0 - decay) / 2.0)
    assert bell.fidelity(out) == pytest.approx((1.0 + decay) / 2.0)
    rho = dm.apply_kraus(dm.ket_density(dm.BELL_KETS[0]), dm.phase_damping_kraus((1.0 - decay) / 2.0), [0])
    assert dm.fidelity_with_ket(rho, dm.BELL_KETS[0]) == pytest.approx((1.0 + decay) / 2.0)


def test_chsh_of_bell_and_werner_states() -> None:
    assert bell.chsh_max(bell.perfect_pair()) == pytest.approx(2.0 * np.sqrt(2.0))
    assert bell.chsh_standard(bell.perfect_pair()) == pytest.approx(2.0 * np.sqrt(2.0))
    # a Werner state violates CHSH iff w > 1/sqrt 2 (Horodecki 1995): S = 2 sqrt 2 w
    for w in (0.5, 1 / np.sqrt(2.0), 0.9):
        assert bell.chsh_max(bell.werner(w)) == pytest.approx(2.0 * np.sqrt(2.0) * w)
    assert bell.chsh_max(bell.werner(0.70)) < 2.0 < bell.chsh_max(bell.werner(0.71))


def test_chsh_max_agrees_with_the_correlation_matrix_of_the_density_matrix() -> None:
    rng = np.random.default_rng(5)
    for p in _random_bell(rng, 6):
        assert bell.chsh_max(p) == pytest.approx(dm.chsh_max_density(dm.density_of_bell_diagonal(p)))


def test_qber_of_each_bell_error() -> None:
    # X flips Z outcomes, Z flips X outcomes, Y flips both
    np.testing.assert_allclose(bell.qber(np.eye(4)), [[0, 0], [0, 1], [1, 0], [1, 1]])
    for k in range(4):  # the same from the density matrix: e_z = P(Z outcomes differ)
        rho = dm.ket_density(dm.BELL_KETS[k])
        e_z = float(np.real(rho[1, 1] + rho[2, 2]))
        assert bell.qber(np.eye(4)[k])[1] == pytest.approx(e_z)


def test_secret_fraction_thresholds_of_bb84_and_six_state() -> None:
    # Werner states (depolarising channel): BB84 keeps key up to e = 11.0% (Shor, Preskill 2000), six-state
    # with one-way post-processing up to 12.6% (Lo, QIC 1, 81 (2001)); e = (1 - w)/2.
    def werner_at_error(e: float) -> np.ndarray:
        return bell.werner(1.0 - 2.0 * e)

    assert bell.secret_fraction_bb84(werner_at_error(0.109)) > 0.0
    assert bell.secret_fraction_bb84(werner_at_error(0.111)) == 0.0
    assert bell.secret_fraction_six_state(werner_at_error(0.125)) > 0.0
    assert bell.secret_fraction_six_state(werner_at_error(0.127)) == 0.0
    # closed form of the six-state rate for depolarising noise (Lo 2001):
    # 1 + (1 - 3e/2) log2(1 - 3e/2) + (3e/2) log2(e/2)
    e = 0.05
    closed = 1.0 + (1 - 1.5 * e) * np.log2(1 - 1.5 * e) + 1.5 * e * np.log2(e / 2)
    assert bell.secret_fraction_six_state(werner_at_error(e)) == pytest.approx(closed)
    assert bell.secret_fraction_bb84(bell.perfect_pair()) == pytest.approx(1.0)


def test_twirl_keeps_fidelity_and_makes_werner() -> None:
    p = np.array([0.8, 0.1, 0.07, 0.03])
    np.testing.assert_allclose(bell.twirl(p), bell.werner(bell.werner_of_fidelity(0.8)))
    rho = dm.density_of_bell_diagonal(p)
    assert dm.fidelity_with_ket(rho, dm.BELL_KETS[0]) == pytest.approx(bell.fidelity(bell.twirl(p)))


def test_depolarise_scales_the_werner_parameter() -> None:
    np.testing.assert_allclose(bell.depolarise(bell.werner(0.9), 0.5), bell.werner(0.45))


@pytest.mark.parametrize(
    ("coeffs", "reason"),
    [([0.5, 0.5, 0.5], "4 Bell-diagonal"), ([1.2, -0.2, 0, 0], ">= 0"), ([0.5, 0.2, 0.2, 0.2], "sum to 1")],
)
def test_bad_coefficients_are_named(coeffs: list[float], reason: str) -> None:
    with pytest.raises(ParameterError, match=reason) as info:
        bell.as_bell_diagonal(coeffs, "link.state")
    assert info.value.field == "link.state"


def _teleport(state: np.ndarray, pair: np.ndarray) -> float:
    """Teleport ``state`` (a ket) through the Bell-diagonal ``pair``: Bell measurement of (input, Alice's half),
    Pauli correction on Bob's half, fidelity with the input."""
    register = dm.tensor(dm.ket_density(state), dm.density_of_bell_diagonal(pair))
    probs, outs = dm.bell_measure(register, (0, 1))
    return sum(
        prob * dm.fidelity_with_ket(dm.apply_unitary(rho, dm.PAULIS[k], [0]), state)
        for k, (prob, rho) in enumerate(zip(probs, outs, strict=True))
    )


def test_teleportation_fidelity_of_a_werner_resource_is_two_f_plus_one_over_three() -> None:
    # the six eigenstates of X, Y, Z form a 2-design: their average fidelity is the average over all inputs
    inputs = [
        np.array(v, dtype=complex) / np.linalg.norm(v) for v in ([1, 0], [0, 1], [1, 1], [1, -1], [1, 1j], [1, -1j])
    ]
    for f in (0.5, 0.8, 0.95):
        pair = bell.werner(bell.werner_of_fidelity(f))
        average = np.mean([_teleport(psi, pair) for psi in inputs])
        assert average == pytest.approx((2 * f + 1) / 3)
        assert bell.teleportation_fidelity(pair) == pytest.approx(average)
    rng = np.random.default_rng(4)  # any Bell-diagonal resource: the average depends on F alone
    pair = rng.dirichlet(np.ones(4))
    assert bell.teleportation_fidelity(pair) == pytest.approx(np.mean([_teleport(psi, pair) for psi in inputs]))
