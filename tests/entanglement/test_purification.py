"""Purification: the Bell-diagonal maps against the papers' recurrences and against the circuits on density matrices."""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.entanglement.purification import (
    PurificationProtocol,
    PurificationSchedule,
    purify,
    purify_rounds,
)
from qinternet.errors import ParameterError
from qinternet.states import bell
from qinternet.states import density as dm


def _bbpssw_closed_form(f: float) -> tuple[float, float]:
    # Bennett et al., PRL 76, 722 (1996): F' = (F^2 + ((1-F)/3)^2) / N, N = F^2 + 2F(1-F)/3 + 5((1-F)/3)^2
    b = (1.0 - f) / 3.0
    n = f * f + 2.0 * f * b + 5.0 * b * b
    return (f * f + b * b) / n, n


def _dejmps_closed_form(a: float, b: float, c: float, d: float) -> tuple[tuple[float, ...], float]:
    # Deutsch et al., PRL 77, 2818 (1996), eq. (7); (A, B, C, D) = (Phi+, Psi-, Psi+, Phi-)
    n = (a + b) ** 2 + (c + d) ** 2
    return ((a * a + b * b) / n, 2 * c * d / n, (c * c + d * d) / n, 2 * a * b / n), n


def test_bbpssw_recurrence_from_the_paper() -> None:
    f = 0.7
    for r in purify_rounds(bell.werner(bell.werner_of_fidelity(f)), PurificationProtocol.BBPSSW, 4):
        f_next, n = _bbpssw_closed_form(f)
        assert r.fidelity == pytest.approx(f_next)
        assert r.success_probability == pytest.approx(n)
        f = f_next
    assert r.elementary_pairs == 16


def test_dejmps_recurrence_from_the_paper() -> None:
    a, b, c, d = 0.7, 0.1, 0.1, 0.1  # A B C D
    rounds = purify_rounds(bell.werner(bell.werner_of_fidelity(0.7)), PurificationProtocol.DEJMPS, 3)
    for r in rounds:
        (a, b, c, d), n = _dejmps_closed_form(a, b, c, d)
        phi_plus, psi_plus, phi_minus, psi_minus = r.state
        assert (phi_plus, psi_minus, psi_plus, phi_minus) == pytest.approx((a, b, c, d))
        assert r.success_probability == pytest.approx(n)
    # DEJMPS beats BBPSSW from the second round on (Deutsch et al., Fig. 1)
    slow = purify_rounds(bell.werner(bell.werner_of_fidelity(0.7)), PurificationProtocol.BBPSSW, 3)
    assert rounds[-1].fidelity > slow[-1].fidelity


def test_bbpssw_purifies_only_above_one_half() -> None:
    for f, better in ((0.45, False), (0.55, True)):
        (r,) = purify_rounds(bell.werner(bell.werner_of_fidelity(f)), PurificationProtocol.BBPSSW, 1)
        assert (r.fidelity > f) is better


def _circuit(p: np.ndarray, q: np.ndarray, rotate: bool) -> tuple[float, np.ndarray]:
    """The protocol as a circuit on qubits [A1, B1, A2, B2]: (rotations), bilateral CNOT, Z on pair 2, keep if equal."""
    rho = dm.tensor(dm.density_of_bell_diagonal(p), dm.density_of_bell_diagonal(q))
    if rotate:  # Alice Rx(pi/2), Bob Rx(-pi/2) on each of their qubits
        for qubit, angle in ((0, np.pi / 2), (2, np.pi / 2), (1, -np.pi / 2), (3, -np.pi / 2)):
            rho = dm.apply_unitary(rho, dm.rx(angle), [qubit])
    rho = dm.apply_unitary(rho, dm.CNOT, [0, 2])
    rho = dm.apply_unitary(rho, dm.CNOT, [1, 3])
    agree = np.diag([1.0, 0.0, 0.0, 1.0]).astype(np.complex128)  # |00><00| + |11><11| on (A2, B2)
    kept = dm.partial_trace(dm.apply_unitary(rho, agree, [2, 3]), [0, 1])
    success = float(np.real(np.trace(kept)))
    return success, kept / success


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_dejmps_map_agrees_with_its_circuit_on_density_matrices(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(4), size=2)
    success, kept = _circuit(p, q, rotate=True)
    expected_success, state = purify(p, q, PurificationProtocol.DEJMPS)
    assert float(expected_success) == pytest.approx(success)
    np.testing.assert_allclose(kept, dm.density_of_bell_diagonal(state), atol=1e-12)


def test_bbpssw_map_agrees_with_its_circuit_on_twirled_inputs() -> None:
    rng = np.random.default_rng(9)
    p, q = rng.dirichlet(np.ones(4), size=2)
    success, kept = _circuit(bell.twirl(p), bell.twirl(q), rotate=False)
    expected_success, state = purify(p, q, PurificationProtocol.BBPSSW)
    assert float(expected_success) == pytest.approx(success)
    assert float(bell.fidelity(state)) == pytest.approx(dm.fidelity_with_ket(kept, dm.BELL_KETS[0]))


def test_pumping_reaches_the_fixed_point_of_its_map() -> None:
    # pumping with a fresh pair of fidelity F0 converges to F* < 1 with F* = F'(F*, F0) (Dür et al. 1999, Sec. IV)
    fresh = bell.werner(bell.werner_of_fidelity(0.8))
    rounds = purify_rounds(fresh, PurificationProtocol.BBPSSW, 60, PurificationSchedule.PUMPING)
    f_star = rounds[-1].fidelity
    _, again = purify(bell.werner(bell.werner_of_fidelity(f_star)), fresh, PurificationProtocol.BBPSSW)
    assert float(bell.fidelity(again)) == pytest.approx(f_star, abs=1e-9)
    assert 0.8 < f_star < 0.95
    assert rounds[-1].elementary_pairs == 61


def test_purification_is_vectorised_over_leading_axes() -> None:
    states = bell.werner(np.array([0.6, 0.8, 0.95]))
    success, out = purify(states, states, PurificationProtocol.DEJMPS)
    assert success.shape == (3,)
    assert out.shape == (3, 4)
    for i in range(3):
        s_i, o_i = purify(states[i], states[i], PurificationProtocol.DEJMPS)
        assert float(s_i) == pytest.approx(success[i])
        np.testing.assert_allclose(o_i, out[i])


def test_rounds_below_one_are_refused() -> None:
    with pytest.raises(ParameterError, match="rounds"):
        purify_rounds(bell.perfect_pair(), PurificationProtocol.DEJMPS, 0)
