"""Quantum memories: decay of a stored qubit (T1, T2; exponential or Gaussian dephasing) and storage efficiency.

Two descriptions of the same decay, so that the entanglement layer can check one against the other:

* **Pauli (Bell-diagonal) path**: the Pauli twirl of amplitude damping followed by dephasing, applied to the
  stored half. For a pair stored for ``t`` seconds, with ``gamma = 1 - exp(-t/T1)`` and coherence ``c(t)``,
  ``p_x = p_y = gamma/4`` and ``p_z = (1 - c)/2 - gamma/4`` (``p_I`` the rest); for exponential dephasing
  ``c = exp(-t/T2)``, which gives the channel of the issue, ``p_z = (1 - e^{-t/T2})/2 - (1 - e^{-t/T1})/4``.
  This is the twirled T1/T2 noise of NetSquid's memories (Coopmans et al., Commun. Phys. 4, 164 (2021),
  Methods "T1T2 noise model"); the twirl itself is the Pauli-twirling approximation of amplitude and phase damping
  (Ghosh, Fowler, Geller, PRA 86, 062318 (2012), Sec. II).
* **Density-matrix path**: amplitude-damping Kraus operators (Nielsen & Chuang, *Quantum Computation and
  Quantum Information*, 10th anniv. ed., Sec. 8.3.5, eq. (8.108)) followed by phase damping (Sec. 8.3.6),
  with the dephasing chosen so that the coherence is exactly ``c(t)``. Twirling its output onto the Bell
  basis gives the Pauli path's numbers (tested).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.hardware import Dephasing, MemoryParams
from qinternet.physics.channels import FloatArray
from qinternet.states import bell, density

__all__ = [
    "ComplexArray",
    "attempt_dephasing_prob",
    "attempts_coherence",
    "attempts_to_1e",
    "memory_coherence",
    "memory_decay_density_matrix",
    "memory_kraus",
    "memory_pauli_channel",
    "storage_efficiency",
    "stored_half_decay",
]

ComplexArray = NDArray[np.complex128]


def _times(t_s: ArrayLike) -> FloatArray:
    t = np.asarray(t_s, dtype=np.float64)
    if np.any(np.isnan(t)) or np.any(t < 0.0):
        raise ParameterError("t_s", "storage times must be >= 0 s")
    return t


def _decay(t: FloatArray, time_s: float) -> FloatArray:
    """``exp(-t / time_s)``, equal to 1 for ``time_s = inf``."""
    return np.exp(-t / time_s)


def memory_coherence(memory: MemoryParams, t_s: ArrayLike) -> FloatArray:
    """Coherence ``c(t) = |rho_01(t) / rho_01(0)|`` of a qubit stored for ``t_s`` seconds.

    EXPONENTIAL: ``c = exp(-t/T2)`` (Nielsen & Chuang Sec. 8.3.6; T2 includes the T1 part, T2 <= 2 T1).
    GAUSSIAN (ensembles): ``c = exp(-t/(2 T1)) exp(-(t/T2)**2)``: the Gaussian factor is the inhomogeneous
    (motional) dephasing of a cold-atom spin wave (Zhao et al., Nat. Phys. 5, 100 (2009), the spin-wave
    lifetime ``tau = lambda_sw / (2 pi v)``); the T1 factor is the amplitude damping, so that the
    channel stays physical (``c <= sqrt(1 - gamma)``) at every t.

    Args:
        memory: the memory.
        t_s: storage times, s, any shape, >= 0.

    Returns:
        float array of the shape of ``t_s``, in [0, 1].
    """
    t = _times(t_s)
    if memory.dephasing is Dephasing.EXPONENTIAL:
        return _decay(t, memory.t2_s)
    return _decay(t, 2.0 * memory.t1_s) * np.exp(-((t / memory.t2_s) ** 2))


def memory_pauli_channel(memory: MemoryParams, t_s: ArrayLike) -> FloatArray:
    """Pauli channel of a qubit stored for ``t_s`` seconds: float array ``(..., 4)``, order I, X, Z, Y.

    The Pauli twirl of amplitude damping (``gamma = 1 - exp(-t/T1)``) and dephasing to coherence ``c(t)``
    (:func:`memory_coherence`): ``p_x = p_y = gamma/4``, ``p_z = (1 - c)/2 - gamma/4``,
    ``p_I = 1 - p_x - p_y - p_z = (1 + c)/2 - gamma/4``. Coopmans et al., Commun. Phys. 4, 164 (2021)
    (NetSquid's T1T2 model, twirled); Ghosh, Fowler, Geller, PRA 86, 062318 (2012), Sec. II.

    Applied to the stored half of ``|Phi+>`` it is the Bell-diagonal state itself, so the fidelity is
    ``p_I``; with T1 = inf and exponential dephasing, ``F(t) = (1 + exp(-t/T2))/2``.
    """
    t = _times(t_s)
    gamma = -np.expm1(-t / memory.t1_s)
    c = memory_coherence(memory, t)
    p_xy = gamma / 4.0
    p_z = np.maximum((1.0 - c) / 2.0 - p_xy, 0.0)  # >= 0 analytically; clip rounding at t ~ 0
    p_i = 1.0 - 2.0 * p_xy - p_z
    return bell.stack(p_i, p_xy, p_z, p_xy)


def stored_half_decay(state: ArrayLike, memory: MemoryParams, t_s: ArrayLike) -> FloatArray:
    """Bell-diagonal state ``(..., 4)`` after one of its halves waited ``t_s`` seconds in ``memory``.

    The Pauli channel of :func:`memory_pauli_channel` composed with the state (XOR convolution on the index,
    :func:`qinternet.states.bell.compose`). For both halves stored, apply it twice (once per node).
    """
    return bell.compose(state, memory_pauli_channel(memory, t_s))


def storage_efficiency(memory: MemoryParams, t_s: ArrayLike) -> FloatArray:
    """Probability that a stored excitation is read out after ``t_s`` seconds (write x read x decay).

    ``eta(t) = eta_write eta_read f(t / tau)`` with ``tau = storage_efficiency_1e_s`` and
    ``f(x) = exp(-x**2)`` for GAUSSIAN (motional dephasing of a spin wave: the retrieval efficiency of a
    cold-atom memory falls as ``exp(-t**2/tau**2)``, Zhao et al., Nat. Phys. 5, 100 (2009)) or
    ``f(x) = exp(-x)`` for EXPONENTIAL.

    Args:
        memory: the memory.
        t_s: storage times, s, any shape, >= 0.

    Returns:
        float array of the shape of ``t_s``, in [0, 1].
    """
    t = _times(t_s)
    x = t / memory.storage_efficiency_1e_s
    shape = np.exp(-(x**2)) if memory.dephasing is Dephasing.GAUSSIAN else np.exp(-x)
    return memory.write_efficiency * memory.read_efficiency * shape


# ---------------------------------------------------------------------------------------------------------
# Dephasing by the node's own entanglement attempts
# ---------------------------------------------------------------------------------------------------------


def attempt_dephasing_prob(memory: MemoryParams, bright_state_population: float) -> float:
    """Probability that one entanglement attempt of the node's emitter flips the phase (Z) of a stored qubit.

    A memory coupled to the emitter (a 13C spin hyperfine-coupled to the NV electron) precesses at a frequency
    that depends on the emitter's state. An attempt leaves the emitter in its bright state with probability
    ``alpha`` (the bright-state population); its optical reset then takes a random time of scale ``tau_d``, during
    which the memory picks up a random phase of spread ``delta_omega * tau_d``
    (:attr:`~qinternet.params.hardware.MemoryParams.attempt_phase_spread_rad`). Averaged, one attempt multiplies
    the stored coherence by ``1 - alpha (1 - exp(-(delta_omega tau_d)**2 / 2))``, so after ``N`` attempts it is

        ``C(N) = [1 - alpha (1 - exp(-(delta_omega tau_d)**2 / 2))]**N``,

    a Z flip per attempt with probability ``p = alpha/2 (1 - exp(-(delta_omega tau_d)**2 / 2))``. Blok et al.,
    Faraday Discuss. 184, 173 (2015); Kalb et al., PRA 97, 062330 (2018), eq. (2) (the memory decay of
    Kalb et al., Science 356, 928 (2017), and of the NV models of Rozpedek et al., PRA 99, 052330 (2019)).

    Args:
        memory: the memory (its ``attempt_phase_spread_rad``).
        bright_state_population: ``alpha``, in [0, 1].

    Returns:
        ``p``, in [0, 1/2].

    >>> from qinternet.params.hardware import MemoryParams
    >>> round(attempt_dephasing_prob(MemoryParams(attempt_phase_spread_rad=0.0789), 0.1), 6)
    0.000155
    """
    if not 0.0 <= bright_state_population <= 1.0:
        raise ParameterError("alpha", f"must be in [0, 1], got {bright_state_population}")
    spread = memory.attempt_phase_spread_rad
    return float(bright_state_population / 2.0 * -np.expm1(-(spread**2) / 2.0))


def attempts_coherence(dephasing_prob: float, attempts: ArrayLike) -> FloatArray:
    """Coherence ``(1 - 2p)**N`` of a qubit stored while its node made ``N`` attempts (``attempts``, any shape),
    each a Z flip with probability ``p`` (:func:`attempt_dephasing_prob`): float array of the shape of
    ``attempts``."""
    n = np.asarray(attempts, dtype=np.float64)
    if np.any(np.isnan(n)) or np.any(n < 0.0):
        raise ParameterError("attempts", "must be >= 0")
    return np.asarray(np.exp(n * np.log1p(-2.0 * dephasing_prob)), dtype=np.float64)


def attempts_to_1e(dephasing_prob: float) -> float:
    """``N_1/e``: attempts after which a stored qubit's coherence has fallen to ``1/e``, ``-1 / ln(1 - 2p)``
    (infinite for ``p = 0``), the figure of merit of Kalb et al. (2018) and Pompili et al. (2021)."""
    if dephasing_prob <= 0.0:
        return float("inf")
    return float(-1.0 / np.log1p(-2.0 * dephasing_prob))


# ---------------------------------------------------------------------------------------------------------
# Density-matrix path
# ---------------------------------------------------------------------------------------------------------


def memory_kraus(memory: MemoryParams, t_s: float) -> ComplexArray:
    """Kraus operators ``(4, 2, 2)`` of a qubit stored for ``t_s`` seconds: amplitude damping, then dephasing.

    ``gamma = 1 - exp(-t/T1)``; amplitude damping alone leaves coherence ``sqrt(1 - gamma)``, so the phase
    damping multiplies by ``c(t) / sqrt(1 - gamma)`` (<= 1 since T2 <= 2 T1) to reach
    :func:`memory_coherence`. Not twirled: it keeps the relaxation towards ``|0>``.
    """
    t = float(_times(t_s))
    gamma = float(-np.expm1(-t / memory.t1_s))
    c = float(memory_coherence(memory, t))
    remaining = np.sqrt(1.0 - gamma)
    d = 1.0 if remaining == 0.0 else min(c / remaining, 1.0)
    ad = density.amplitude_damping_kraus(gamma)
    pd = density.phase_damping_kraus((1.0 - d) / 2.0)
    return np.array([p @ a for p in pd for a in ad])


def memory_decay_density_matrix(rho: ArrayLike, memory: MemoryParams, t_s: float) -> ComplexArray:
    """Two-qubit density matrix ``(..., 4, 4)`` after its second qubit waited ``t_s`` seconds in ``memory``."""
    return density.apply_kraus(rho, list(memory_kraus(memory, t_s)), [1])
