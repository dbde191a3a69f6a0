"""Quantum states of entangled pairs and small registers.

:mod:`qinternet.states.bell` is the fast path: Bell-diagonal coefficient vectors, exact for Pauli noise and
twirled operations (swapping, purification, memory decoherence after twirling). :mod:`qinternet.states.density`
is the general path: density matrices of a few qubits, for noise that is not Pauli and to check the fast path.
"""

from qinternet.states.bell import (
    BELL_LABELS,
    chsh_max,
    chsh_standard,
    compose,
    dephase,
    depolarise,
    fidelity,
    fidelity_of_werner,
    pauli_channel,
    perfect_pair,
    qber,
    secret_fraction_bb84,
    secret_fraction_six_state,
    swap,
    twirl,
    werner,
    werner_of_fidelity,
)

__all__ = [
    "BELL_LABELS",
    "chsh_max",
    "chsh_standard",
    "compose",
    "dephase",
    "depolarise",
    "fidelity",
    "fidelity_of_werner",
    "pauli_channel",
    "perfect_pair",
    "qber",
    "secret_fraction_bb84",
    "secret_fraction_six_state",
    "swap",
    "twirl",
    "werner",
    "werner_of_fidelity",
]
