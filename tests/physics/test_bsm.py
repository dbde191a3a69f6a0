"""Bell-state measurements: linear optics at most 1/2; gate swaps as depolarising maps (Dür et al. 1999)."""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.physics.bsm import LINEAR_OPTICS_BELL_FRACTION, gate_swap, gate_swap_pauli_channel, linear_optics_bsm
from qinternet.states import bell


def test_linear_optics_bsm_succeeds_at_most_half() -> None:
    # Calsamiglia & Lütkenhaus, Appl. Phys. B 72, 67 (2001): 1/2 for perfect photons and detectors.
    ideal = linear_optics_bsm(eta_1=1.0)
    assert LINEAR_OPTICS_BELL_FRACTION == 0.5
    assert float(ideal.success_prob) == pytest.approx(0.5)
    np.testing.assert_allclose(ideal.pauli, [1.0, 0.0, 0.0, 0.0])
    lossy = linear_optics_bsm(eta_1=0.8, eta_2=0.5)
    assert float(lossy.success_prob) == pytest.approx(0.5 * 0.8 * 0.5)


def test_linear_optics_bsm_visibility_and_dark_counts() -> None:
    v = np.array([0.5, 0.9])
    out = linear_optics_bsm(eta_1=0.5, visibility=v)
    np.testing.assert_allclose(out.pauli[..., 0], (1.0 + v) / 2.0)
    noisy = linear_optics_bsm(eta_1=0.01, dark_count_prob=1e-4)
    assert float(noisy.success_prob) > 0.5 * 0.01**2
    assert float(noisy.pauli[0]) < 1.0


def test_gate_swap_of_two_werner_pairs_multiplies_werner_parameters() -> None:
    # Dür, Briegel, Cirac, Zoller, PRA 59, 169 (1999): swapping Werner pairs w1, w2 with a depolarising gate
    # of parameter p and perfect readout gives a Werner pair with w = p w1 w2.
    w1, w2, fg = 0.9, 0.8, 0.97
    p = (4 * fg - 1) / 3
    swapped = bell.compose(bell.compose(bell.werner(w1), bell.werner(w2)), gate_swap_pauli_channel(fg, 1.0))
    np.testing.assert_allclose(swapped, bell.werner(p * w1 * w2), atol=1e-14)


def test_gate_swap_fidelity_of_a_perfect_pair_is_the_average_gate_fidelity() -> None:
    fg = np.array([0.25, 0.9, 0.99, 1.0])
    np.testing.assert_allclose(gate_swap_pauli_channel(fg, 1.0)[..., 0], fg, rtol=1e-12)


def test_readout_errors_are_independent_x_and_z_flips() -> None:
    fm = 0.9
    np.testing.assert_allclose(gate_swap_pauli_channel(1.0, fm), [fm**2, fm * 0.1, 0.1 * fm, 0.01], atol=1e-15)
    assert float(gate_swap(1.0, fm).success_prob) == 1.0


def test_gate_fidelity_below_a_quarter_is_refused() -> None:
    with pytest.raises(ParameterError) as info:
        gate_swap_pauli_channel(0.1, 1.0)
    assert info.value.field == "node.two_qubit_gate_fidelity"
