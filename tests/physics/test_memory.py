"""Memory decay: the Pauli (Bell-diagonal) channel against closed forms and against the Kraus-operator channel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params.hardware import Dephasing, MemoryParams
from qinternet.physics.memory import (
    memory_coherence,
    memory_decay_density_matrix,
    memory_pauli_channel,
    storage_efficiency,
    stored_half_decay,
)

PHI_PLUS = np.array([1.0, 0.0, 0.0, 0.0])

# Bell vectors in the basis |00>, |01>, |10>, |11>, in the shared order [Phi+, Psi+, Phi-, Psi-].
_BELL = np.array([[1, 0, 0, 1], [0, 1, 1, 0], [1, 0, 0, -1], [0, 1, -1, 0]], dtype=complex) / math.sqrt(2.0)


def _bell_diagonal_density(p: np.ndarray) -> np.ndarray:
    return np.einsum("k,ki,kj->ij", p, _BELL, _BELL.conj())


def _bell_diagonal_of(rho: np.ndarray) -> np.ndarray:
    """Twirl onto the Bell basis: the Bell-basis diagonal of rho (computed independently of the code under test)."""
    return np.real(np.einsum("ki,ij,kj->k", _BELL.conj(), rho, _BELL))


def test_stored_half_under_pure_dephasing_has_fidelity_one_plus_exp_over_two() -> None:
    # Closed form: F(t) = (1 + exp(-t/T2))/2 for T1 = inf (Nielsen & Chuang Sec. 8.3.6 on one half of Phi+).
    memory = MemoryParams(t2_s=0.5)
    t = np.linspace(0.0, 3.0, 13)
    state = stored_half_decay(PHI_PLUS, memory, t)
    np.testing.assert_allclose(state[..., 0], (1.0 + np.exp(-t / 0.5)) / 2.0, rtol=1e-12)
    np.testing.assert_allclose(state[..., 1], 0.0, atol=1e-15)  # pure dephasing: only Z errors
    np.testing.assert_allclose(state.sum(axis=-1), 1.0, rtol=1e-12)


def test_t1_only_decay_matches_the_chi_matrix_of_amplitude_damping() -> None:
    # Independent closed form: amplitude damping E0 = ((1+s)/2) I + ((1-s)/2) Z, E1 = sqrt(g) (X + iY)/2 with
    # s = sqrt(1-g), so its Pauli-diagonal is [(1+s)^2/4, g/4, (1-s)^2/4, g/4]; T2 = 2 T1 is pure amplitude damping.
    memory = MemoryParams(t1_s=2.0, t2_s=4.0)
    t = np.array([0.0, 0.1, 1.0, 5.0])
    g = 1.0 - np.exp(-t / 2.0)
    s = np.sqrt(1.0 - g)
    expected = np.stack([(1 + s) ** 2 / 4, g / 4, (1 - s) ** 2 / 4, g / 4], axis=-1)
    np.testing.assert_allclose(memory_pauli_channel(memory, t), expected, atol=1e-14)


def test_the_issue_formula_for_p_x_p_y_p_z() -> None:
    memory = MemoryParams(t1_s=1.0, t2_s=0.3)
    t = 0.2
    ch = memory_pauli_channel(memory, t)
    g = 1.0 - math.exp(-t / 1.0)
    assert ch[1] == pytest.approx(g / 4)
    assert ch[3] == pytest.approx(g / 4)
    assert ch[2] == pytest.approx((1 - math.exp(-t / 0.3)) / 2 - g / 4)


def test_gaussian_dephasing_of_an_ensemble_has_coherence_exp_minus_t_over_t2_squared() -> None:
    memory = MemoryParams(t2_s=1e-3, dephasing=Dephasing.GAUSSIAN)
    t = np.linspace(0.0, 3e-3, 7)
    np.testing.assert_allclose(memory_coherence(memory, t), np.exp(-((t / 1e-3) ** 2)), rtol=1e-12)
    state = stored_half_decay(PHI_PLUS, memory, t)
    np.testing.assert_allclose(state[..., 0], (1.0 + np.exp(-((t / 1e-3) ** 2))) / 2.0, rtol=1e-12)


@pytest.mark.parametrize(
    "memory",
    [
        MemoryParams(t1_s=1.0, t2_s=0.3),
        MemoryParams(t1_s=1.0, t2_s=2.0),
        MemoryParams(t2_s=0.7),
        MemoryParams(t1_s=0.5, t2_s=0.2, dephasing=Dephasing.GAUSSIAN),
    ],
)
@pytest.mark.parametrize("t_s", [0.0, 0.05, 0.4, 2.0])
def test_bell_diagonal_path_equals_twirled_density_matrix_path(memory: MemoryParams, t_s: float) -> None:
    # The Bell-basis diagonal of the Kraus channel's output equals the twirled (Pauli) channel applied to a
    # Bell-diagonal input: the twirl keeps exactly the chi-matrix diagonal.
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(4))
    rho = memory_decay_density_matrix(_bell_diagonal_density(p), memory, t_s)
    assert np.trace(rho).real == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(_bell_diagonal_of(rho), stored_half_decay(p, memory, t_s), atol=1e-12)


def test_untwirled_amplitude_damping_relaxes_towards_ground_state() -> None:
    # Without the twirl, |11> relaxes to |10>: the density-matrix path keeps what the Pauli path averages away.
    rho = np.zeros((4, 4), dtype=complex)
    rho[3, 3] = 1.0
    out = memory_decay_density_matrix(rho, MemoryParams(t1_s=1.0, t2_s=2.0), 1.0)
    assert out[2, 2].real == pytest.approx(1.0 - math.exp(-1.0))
    assert out[3, 3].real == pytest.approx(math.exp(-1.0))


def test_storage_efficiency_decays_with_the_memory_shape() -> None:
    gaussian = MemoryParams(
        dephasing=Dephasing.GAUSSIAN, write_efficiency=0.8, read_efficiency=0.5, storage_efficiency_1e_s=1e-3
    )
    t = np.array([0.0, 1e-3, 2e-3])
    np.testing.assert_allclose(storage_efficiency(gaussian, t), 0.4 * np.exp(-((t / 1e-3) ** 2)))
    exponential = MemoryParams(read_efficiency=0.5, storage_efficiency_1e_s=1e-3)
    np.testing.assert_allclose(storage_efficiency(exponential, t), 0.5 * np.exp(-t / 1e-3))


def test_negative_storage_time_is_refused() -> None:
    with pytest.raises(ParameterError) as info:
        memory_pauli_channel(MemoryParams(t2_s=1.0), -1.0)
    assert info.value.field == "t_s"
