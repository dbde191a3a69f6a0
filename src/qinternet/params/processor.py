"""A small quantum processor at a network node: its data qubits and the noise of its gates and readout.

The noise model the applications' circuits use (:mod:`qinternet.apps`): every gate is followed by depolarising
noise on the qubits it acted on, ``rho -> (1 - p) rho + p I/d`` with ``d = 2`` (single-qubit gates) or ``d = 4``
(two-qubit gates); every readout is flipped with probability ``1 - measurement_fidelity``; qubits waiting in
memory dephase with ``t2_s``. The depolarising parameter comes from the average gate fidelity, the figure
experiments publish: ``F_avg = (d F_pro + 1)/(d + 1)`` (Horodecki, Horodecki, Horodecki, PRA 60, 1888 (1999);
Nielsen, Phys. Lett. A 303, 249 (2002)) with the process fidelity ``F_pro = 1 - p + p/d**2`` of the
depolarising channel gives ``p = d (1 - F_avg)/(d - 1)`` (:func:`depolarising_probability`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qinternet.errors import ParameterError
from qinternet.params.checks import require_probability
from qinternet.params.hardware import NodeHardware, require_time_or_inf

__all__ = ["MAX_PROCESSOR_QUBITS", "ProcessorParams", "depolarising_probability", "processor_of"]

MAX_PROCESSOR_QUBITS = 10_000
"""Most qubits a node's processor may declare (today's largest processors hold ~1e3)."""


def depolarising_probability(average_gate_fidelity: float, dimension: int) -> float:
    """``p`` of the depolarising channel ``(1 - p) rho + p I/d`` whose average fidelity is ``average_gate_fidelity``.

    ``p = d (1 - F_avg)/(d - 1)`` (module docstring); ``F_avg = 1/d`` (``p = 1``) is a fully depolarising gate.

    Raises:
        ParameterError: ``average_gate_fidelity`` below ``1/d`` or above 1.
    """
    if not 1.0 / dimension - 1e-12 <= average_gate_fidelity <= 1.0:
        raise ParameterError("gate_fidelity", f"must be in [1/{dimension}, 1], got {average_gate_fidelity!r}")
    return min(1.0, dimension * (1.0 - average_gate_fidelity) / (dimension - 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessorParams:
    """The data qubits of a node and their noise (module docstring for the model).

    Attributes:
        qubits: data qubits available to applications (communication qubits included), >= 1.
        single_qubit_gate_fidelity: average gate fidelity of a single-qubit gate, in [1/2, 1].
        two_qubit_gate_fidelity: average gate fidelity of a two-qubit gate (CNOT, CZ), in [1/4, 1].
        measurement_fidelity: probability that a Z readout gives the right bit, in [1/2, 1].
        t2_s: dephasing time of a stored qubit, s (``math.inf``: none).
    """

    qubits: int = 2
    single_qubit_gate_fidelity: float = 1.0
    two_qubit_gate_fidelity: float = 1.0
    measurement_fidelity: float = 1.0
    t2_s: float = math.inf

    def __post_init__(self) -> None:
        if not 1 <= self.qubits <= MAX_PROCESSOR_QUBITS:
            raise ParameterError("processor.qubits", f"must be in [1, {MAX_PROCESSOR_QUBITS}], got {self.qubits!r}")
        require_probability("processor.single_qubit_gate_fidelity", self.single_qubit_gate_fidelity)
        if self.single_qubit_gate_fidelity < 0.5:
            raise ParameterError("processor.single_qubit_gate_fidelity", "must be >= 1/2 (a fully depolarising gate)")
        require_probability("processor.two_qubit_gate_fidelity", self.two_qubit_gate_fidelity)
        if self.two_qubit_gate_fidelity < 0.25:
            raise ParameterError("processor.two_qubit_gate_fidelity", "must be >= 1/4 (a fully depolarising gate)")
        require_probability("processor.measurement_fidelity", self.measurement_fidelity)
        if self.measurement_fidelity < 0.5:
            raise ParameterError("processor.measurement_fidelity", "must be >= 1/2 (a coin flip)")
        require_time_or_inf("processor.t2_s", self.t2_s)  # inf: no dephasing (the default)

    @property
    def single_qubit_depolarising(self) -> float:
        """``p`` of the single-qubit depolarising channel after each single-qubit gate."""
        return depolarising_probability(self.single_qubit_gate_fidelity, 2)

    @property
    def two_qubit_depolarising(self) -> float:
        """``p`` of the two-qubit depolarising channel after each two-qubit gate."""
        return depolarising_probability(self.two_qubit_gate_fidelity, 4)

    @property
    def readout_flip(self) -> float:
        """Probability that a readout gives the wrong bit."""
        return 1.0 - self.measurement_fidelity


def processor_of(node: NodeHardware, qubits: int | None = None) -> ProcessorParams:
    """The processor of a repeater preset's node: its gates, readout, memory T2 and (default) memory qubits."""
    return ProcessorParams(
        qubits=node.memory_qubits if qubits is None else qubits,
        single_qubit_gate_fidelity=node.single_qubit_gate_fidelity,
        two_qubit_gate_fidelity=node.two_qubit_gate_fidelity,
        measurement_fidelity=node.measurement_fidelity,
        t2_s=node.memory.t2_s,
    )
