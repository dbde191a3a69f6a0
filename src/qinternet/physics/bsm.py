"""Bell-state measurements for entanglement swapping: linear optics on photons, or gates on memory qubits.

Both return the success probability and the Pauli channel (order I, X, Z, Y, shape ``(..., 4)``) that the swap
applies to the swapped pair: compose it with the XOR-convolution of the two input pairs
(:func:`qinternet.states.bell.compose`) to get the output state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from qinternet.errors import ParameterError
from qinternet.physics.channels import FloatArray
from qinternet.states import bell

__all__ = [
    "LINEAR_OPTICS_BELL_FRACTION",
    "SwapOutcome",
    "gate_swap",
    "gate_swap_pauli_channel",
    "linear_optics_bsm",
]

LINEAR_OPTICS_BELL_FRACTION = 0.5
"""A Bell measurement with linear optics (no ancillas) identifies at most two of the four Bell states, so it
succeeds with probability at most 1/2 on a uniformly random Bell state (Calsamiglia & Lütkenhaus, Appl. Phys.
B 72, 67 (2001))."""


@dataclass(frozen=True, slots=True)
class SwapOutcome:
    """A Bell-state measurement used for a swap.

    Attributes:
        success_prob: probability that the measurement announces a Bell state, float array.
        pauli: Pauli channel applied to the swapped pair, float array ``(..., 4)``, order I, X, Z, Y.
    """

    success_prob: FloatArray
    pauli: FloatArray

    def to_dict(self) -> dict[str, Any]:
        """Plain lists for JSON."""
        return {"success_prob": np.asarray(self.success_prob).tolist(), "pauli": np.asarray(self.pauli).tolist()}


def _prob(field: str, value: ArrayLike) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if np.any(~((arr >= 0.0) & (arr <= 1.0))):
        raise ParameterError(field, "must be in [0, 1]")
    return arr


def linear_optics_bsm(
    *,
    eta_1: ArrayLike,
    eta_2: ArrayLike | None = None,
    dark_count_prob: ArrayLike = 0.0,
    visibility: ArrayLike = 1.0,
) -> SwapOutcome:
    """Linear-optics Bell-state measurement of two photonic qubits (beam splitter, polarising splitters, four
    threshold detectors) announcing ``Psi-`` or ``Psi+``.

    * Ideal photons: success ``1/2`` (Calsamiglia & Lütkenhaus, Appl. Phys. B 72, 67 (2001)); with each photon
      reaching its detector with probability ``eta_i`` (transmittance x detector efficiency): ``eta_1 eta_2 / 2``.
    * Two-photon visibility ``V``: distinguishable photons do not interfere, so an announced ``Psi-+`` is right
      with probability ``(1 + V)/2`` and is the other ``Psi`` (a Z error on the swapped pair) otherwise (the
      model of Bernien et al., Nature 497, 86 (2013), Supplementary Information, for the same interference).
    * Dark counts (first order in ``p_d`` per detector per gate): one photon lost and a dark count in one of the
      two detectors that complete an announced pattern with the surviving photon's click,
      ``(eta_1 (1-eta_2) + (1-eta_1) eta_2) 2 p_d``; such a herald carries no information, so the swapped pair
      is depolarised completely (Pauli channel ``[1/4] x 4``).

    Args:
        eta_1: photon 1's detection probability, in [0, 1], any shape.
        eta_2: photon 2's (default: ``eta_1``).
        dark_count_prob: per detector per gate, in [0, 1].
        visibility: two-photon (Hong-Ou-Mandel) visibility, in [0, 1].

    Returns:
        :class:`SwapOutcome`.
    """
    e1 = _prob("eta", eta_1)
    e2 = e1 if eta_2 is None else _prob("eta", eta_2)
    pd = _prob("dark_count_prob", dark_count_prob)
    v = _prob("visibility", visibility)
    true = LINEAR_OPTICS_BELL_FRACTION * e1 * e2
    false = (e1 * (1.0 - e2) + (1.0 - e1) * e2) * 2.0 * pd
    weights = bell.stack(true * (1.0 + v) / 2.0, 0.0, true * (1.0 - v) / 2.0, 0.0) + 0.25 * false[..., None]
    total = weights.sum(axis=-1)
    t = total[..., None]
    pauli = np.where(t > 0.0, weights / np.where(t > 0.0, t, 1.0), 0.25)
    return SwapOutcome(success_prob=total, pauli=pauli)


def gate_swap_pauli_channel(two_qubit_gate_fidelity: ArrayLike, measurement_fidelity: ArrayLike) -> FloatArray:
    """Pauli channel of a deterministic swap on memory qubits (CNOT, then X and Z readout).

    The noisy-operation model of Briegel, Dür, Cirac, Zoller, PRL 81, 5932 (1998) and Dür, Briegel, Cirac,
    Zoller, PRA 59, 169 (1999): the two-qubit gate is followed by two-qubit depolarising noise
    ``rho -> p rho + (1-p) I/4`` and each readout is flipped with probability ``1 - F_m``.

    * Depolarising the two measured qubits depolarises the swapped pair with the same ``p`` (a measured
      maximally mixed pair leaves the outer qubits maximally mixed).
    * The X readout gives the Z correction and the Z readout the X correction, so wrong readouts are independent
      X and Z errors: ``[F_m**2, F_m (1-F_m), (1-F_m) F_m, (1-F_m)**2]``.
    * ``p`` from the average gate fidelity of a two-qubit depolarising gate, ``F = (3p + 1)/4`` (from
      ``F_avg = (d F_pro + 1)/(d + 1)`` with ``d = 4`` and ``F_pro = (15p + 1)/16``; Horodecki, Horodecki,
      Horodecki, PRA 60, 1888 (1999); Nielsen, Phys. Lett. A 303, 249 (2002)): ``p = (4F - 1)/3``.

    Args:
        two_qubit_gate_fidelity: average gate fidelity, in [1/4, 1], any shape.
        measurement_fidelity: probability that a readout is right, in [0, 1].

    Returns:
        float array ``(..., 4)``, order I, X, Z, Y.
    """
    fg = _prob("node.two_qubit_gate_fidelity", two_qubit_gate_fidelity)
    if np.any(fg < 0.25):
        raise ParameterError("node.two_qubit_gate_fidelity", "must be >= 1/4 (a fully depolarising gate)")
    fm = _prob("node.measurement_fidelity", measurement_fidelity)
    p = (4.0 * fg - 1.0) / 3.0
    readout = bell.stack(fm**2, fm * (1.0 - fm), (1.0 - fm) * fm, (1.0 - fm) ** 2)
    return bell.compose(readout, bell.werner(p))


def gate_swap(two_qubit_gate_fidelity: ArrayLike, measurement_fidelity: ArrayLike) -> SwapOutcome:
    """A deterministic gate-based swap: success 1 and the Pauli channel of :func:`gate_swap_pauli_channel`."""
    pauli = gate_swap_pauli_channel(two_qubit_gate_fidelity, measurement_fidelity)
    return SwapOutcome(success_prob=np.ones(pauli.shape[:-1]), pauli=pauli)
