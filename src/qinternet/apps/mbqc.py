"""Measurement-based quantum computation on the brickwork graph, simulated column by column.

The graph is the brickwork state of Broadbent, Fitzsimons, Kashefi, FOCS 2009, arXiv:0807.4154, Definition 1:
qubits ``(row, column)``, horizontal edges between neighbours of a row, and vertical edges, in BFK's 1-indexed
words, "for each column ``j = 3 (mod 8)`` and each odd row ``i``" between ``(i, j)-(i+1, j)`` and
``(i, j+2)-(i+1, j+2)``, and the same for ``j = 7 (mod 8)`` and even rows. Here rows and columns count from 0, so
the vertical edges sit at columns ``2, 4 (mod 8)`` below even rows and at columns ``6, 0 (mod 8)`` (from column 6
on) below odd rows. BFK take ``columns = 5 (mod 8)`` so that bricks are whole; any number of columns is accepted
here (small computations need fewer).

Measuring a qubit in the basis ``|+-_phi> = (|0> +- e^{i phi}|1>)/sqrt 2`` applies ``J(-phi) = H P(-phi)`` to the
logical qubit of its row, which moves one column to the right, with the byproduct ``X^s`` for outcome ``s``
(Raussendorf, Browne, Briegel, PRA 68, 022312 (2003); Danos, Kashefi, PRA 74, 052310 (2006) for the flow and the
adapted angles). The flow of the brickwork maps ``(r, c)`` to ``(r, c+1)``: the outcome ``s`` of ``(r, c)`` owes an
``X`` correction to ``(r, c+1)`` and a ``Z`` correction to the other neighbours of ``(r, c+1)``, i.e. ``(r, c+2)``
and the vertical neighbours of ``(r, c+1)``. A later qubit is therefore measured at the adapted angle
``phi' = (-1)^{s_X} phi + s_Z pi`` with ``s_X``, ``s_Z`` the parities of the outcomes it depends on, and then its
outcome is the one the ideal pattern would give. The last column is the output: its outcomes, read at adapted
angles, are a Z-basis readout of ``J(-phi_last) ... J(-phi_0) |+>^rows`` with the vertical CZs in between
(:func:`wire_output_distribution`, the gate-model reference).

Simulation: qubits are added, entangled and measured column by column, so at most ``2 rows`` qubits are alive
(:class:`Register`, a state vector over the alive qubits; a measurement removes its qubit). Noise that is a mixture
of Paulis (link errors, depolarising gates) is sampled per run and applied to the state vector (quantum
trajectories): averaged over runs this is the channel exactly, and each run costs ``O(2**(2 rows))`` amplitudes
instead of ``O(4**(2 rows))`` for a density matrix.

Angles are integers in units of ``pi/4`` (BFK's set ``A = {0, pi/4, ..., 7 pi/4}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError

__all__ = [
    "ANGLE_STEPS",
    "MAX_BRICKWORK_COLUMNS",
    "MAX_BRICKWORK_ROWS",
    "Brickwork",
    "Register",
    "Vertex",
    "adapted_angle",
    "angle_rad",
    "wire_output_distribution",
]

ANGLE_STEPS = 8
"""Angles are multiples of ``2 pi / ANGLE_STEPS = pi/4`` (BFK's set ``A``)."""
MAX_BRICKWORK_ROWS = 10
"""Most rows simulated: ``2 rows`` alive qubits make a state vector of ``4**rows`` amplitudes."""
MAX_BRICKWORK_COLUMNS = 10_000

Vertex = tuple[int, int]
"""A qubit of the brickwork: ``(row, column)``."""

_SQRT_HALF = float(np.sqrt(0.5))


def angle_rad(steps: int) -> float:
    """An angle in units of ``pi/4`` in radians."""
    return steps * 2.0 * np.pi / ANGLE_STEPS


def adapted_angle(phi: int, s_x: NDArray[np.int64], s_z: NDArray[np.int64]) -> NDArray[np.int64]:
    """``(-1)^{s_X} phi + s_Z pi`` in units of ``pi/4``, reduced mod ``2 pi`` (BFK Protocol 1, step 3.1), for arrays
    of correction bits."""
    return np.asarray((np.where(s_x == 1, -phi, phi) + (ANGLE_STEPS // 2) * s_z) % ANGLE_STEPS, dtype=np.int64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Brickwork:
    """The brickwork graph ``rows x columns`` (module docstring).

    Attributes:
        rows: logical qubits, in [1, MAX_BRICKWORK_ROWS].
        columns: qubits per row, in [1, MAX_BRICKWORK_COLUMNS].
    """

    rows: int
    columns: int

    def __post_init__(self) -> None:
        if not 1 <= self.rows <= MAX_BRICKWORK_ROWS:
            raise ParameterError("brickwork.rows", f"must be in [1, {MAX_BRICKWORK_ROWS}], got {self.rows!r}")
        if not 1 <= self.columns <= MAX_BRICKWORK_COLUMNS:
            raise ParameterError("brickwork.columns", f"must be in [1, {MAX_BRICKWORK_COLUMNS}], got {self.columns!r}")

    def has_vertical_edge(self, row: int, column: int) -> bool:
        """Whether ``(row, column)`` and ``(row + 1, column)`` are joined (BFK Definition 1, 0-indexed)."""
        if not (0 <= row < self.rows - 1 and 0 <= column < self.columns):
            return False
        phase = column % 8
        return phase in (2, 4) if row % 2 == 0 else (phase == 6 or (phase == 0 and column >= 8))

    def vertical_edges(self, column: int) -> tuple[tuple[Vertex, Vertex], ...]:
        """The vertical edges of one column, top to bottom."""
        return tuple(((r, column), (r + 1, column)) for r in range(self.rows - 1) if self.has_vertical_edge(r, column))

    def neighbours(self, vertex: Vertex) -> tuple[Vertex, ...]:
        """The neighbours of a qubit."""
        r, c = vertex
        out: list[Vertex] = [(r, c + d) for d in (-1, 1) if 0 <= c + d < self.columns]
        if self.has_vertical_edge(r - 1, c):
            out.append((r - 1, c))
        if self.has_vertical_edge(r, c):
            out.append((r + 1, c))
        return tuple(out)

    def cz_schedule(self) -> tuple[tuple[Vertex, Vertex], ...]:
        """Every edge once, in the order the server entangles them: the vertical edges of column 0, then for each
        new column ``c + 1`` the horizontal edges ``(r, c)-(r, c+1)`` top to bottom and its vertical edges; column
        ``c`` is measured after the CZs that bring in column ``c + 1``."""
        edges: list[tuple[Vertex, Vertex]] = list(self.vertical_edges(0))
        for c in range(self.columns - 1):
            edges.extend(((r, c), (r, c + 1)) for r in range(self.rows))
            edges.extend(self.vertical_edges(c + 1))
        return tuple(edges)

    def colour(self, vertex: Vertex) -> int:
        """A proper 2-colouring (the brickwork is bipartite): ``(row + column) mod 2``."""
        return (vertex[0] + vertex[1]) % 2

    def corrections(self, vertex: Vertex) -> tuple[tuple[Vertex, ...], tuple[Vertex, ...]]:
        """The qubits that owe an ``X`` and those that owe a ``Z`` correction to ``vertex``'s outcome (its flow)."""
        r, c = vertex
        if c + 1 >= self.columns:
            return (), ()
        successor = (r, c + 1)
        z_targets = tuple(v for v in self.neighbours(successor) if v != vertex)
        return (successor,), z_targets


def wire_output_distribution(graph: Brickwork, angles: NDArray[np.int64]) -> NDArray[np.float64]:
    """The gate-model reference: the Z-readout distribution of the pattern's logical qubits.

    Each row is a wire starting in ``|+>``; column by column the vertical CZs of the column act, then every wire
    gets ``J(-phi) = H P(-phi)``. Outcome index ``sum_r bit_r 2**(rows - 1 - r)`` (row 0 most significant).

    Args:
        graph: the brickwork.
        angles: int array ``(rows, columns)``, measurement angles ``phi`` in units of ``pi/4``.
    """
    a = np.asarray(angles, dtype=np.int64)
    if a.shape != (graph.rows, graph.columns):
        raise ParameterError("angles", f"must have shape {(graph.rows, graph.columns)}, got {a.shape}")
    n = graph.rows
    psi = np.full((2,) * n, 0.5 ** (n / 2), dtype=np.complex128)
    for c in range(graph.columns):
        for (r0, _), (r1, _) in graph.vertical_edges(c):
            psi = _cz(psi, r0, r1)
        for r in range(n):
            phase = np.exp(-1j * angle_rad(int(a[r, c])))
            gate = _SQRT_HALF * np.array([[1.0, phase], [1.0, -phase]], dtype=np.complex128)  # H P(-phi)
            psi = np.moveaxis(np.tensordot(gate, psi, axes=([1], [r])), 0, r)
    return np.asarray(np.abs(psi.reshape(-1)) ** 2, dtype=np.float64)


def _cz(psi: NDArray[np.complex128], a: int, b: int) -> NDArray[np.complex128]:
    out = psi.copy()
    index: list[int | slice] = [slice(None)] * psi.ndim
    index[a] = 1
    index[b] = 1
    out[tuple(index)] *= -1.0
    return out


class Register:
    """State vectors of the qubits alive on the server in a batch of independent runs of one pattern.

    ``psi`` has shape ``(batch, 2, ..., 2)``, one axis per alive qubit (the same qubits in every run, in the order
    they were added). Methods mutate the register; it lives for one batch of runs.
    """

    def __init__(self, batch: int) -> None:
        self._alive: list[Vertex] = []
        self._psi: NDArray[np.complex128] = np.ones((batch,), dtype=np.complex128)

    @property
    def alive(self) -> tuple[Vertex, ...]:
        """The qubits alive, in axis order."""
        return tuple(self._alive)

    def _axis(self, vertex: Vertex) -> int:
        return 1 + self._alive.index(vertex)

    def _batch_shape(self, values: NDArray[Any]) -> NDArray[Any]:
        return values.reshape((-1,) + (1,) * (self._psi.ndim - 1))

    def add(self, vertex: Vertex, kets: NDArray[np.complex128]) -> None:
        """Bring in a new qubit, in run ``i`` in the normalised state ``kets[i]`` (shape ``(batch, 2)``)."""
        self._psi = self._psi[..., np.newaxis] * kets.reshape((-1,) + (1,) * (self._psi.ndim - 1) + (2,))
        self._alive.append(vertex)

    def cz(self, a: Vertex, b: Vertex) -> None:
        """A controlled-Z between two alive qubits, in every run."""
        index: list[int | slice] = [slice(None)] * self._psi.ndim
        index[self._axis(a)] = 1
        index[self._axis(b)] = 1
        self._psi[tuple(index)] *= -1.0

    def pauli(self, vertex: Vertex, paulis: NDArray[np.int64]) -> None:
        """In run ``i``, the Pauli ``paulis[i]`` in the Bell-diagonal order ``I, X, Z, Y`` (up to a phase)."""
        axis = self._axis(vertex)
        z = np.isin(paulis, (2, 3))
        if z.any():
            index: list[int | slice] = [slice(None)] * self._psi.ndim
            index[axis] = 1
            self._psi[tuple(index)] *= np.where(z, -1.0, 1.0).reshape((-1,) + (1,) * (self._psi.ndim - 2))
        x = np.isin(paulis, (1, 3))
        if x.any():
            self._psi = np.where(self._batch_shape(x), np.flip(self._psi, axis=axis), self._psi)

    def measure(self, vertex: Vertex, angles: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.int64]:
        """Measure one qubit, in run ``i`` in ``|+-_{angles[i]}>`` (outcome 0 for ``+``); the qubit leaves."""
        axis = self._axis(vertex)
        shape = self._psi.shape
        batch = shape[0]
        split = self._psi.reshape(batch, int(np.prod(shape[1:axis])), 2, -1)
        psi0 = split[:, :, 0, :]
        psi1 = split[:, :, 1, :] * np.exp(-1j * angles)[:, None, None]
        plus = psi0 + psi1
        p_plus = 0.5 * np.sum(np.abs(plus) ** 2, axis=(1, 2))
        bits: NDArray[np.int64] = (rng.random(batch) >= p_plus).astype(np.int64)
        p_kept = np.where(bits == 1, 1.0 - p_plus, p_plus)
        kept = np.where(bits[:, None, None] == 1, psi0 - psi1, plus) * np.sqrt(0.5 / p_kept)[:, None, None]
        self._psi = kept.reshape(shape[:axis] + shape[axis + 1 :])
        del self._alive[axis - 1]
        return bits

    def distribution(self, vertices: tuple[Vertex, ...], angles: NDArray[np.float64]) -> NDArray[np.float64]:
        """Exact joint outcome distributions of measuring ``vertices`` (all alive, nothing else alive), in run ``i`` at
        ``angles[i]`` (shape ``(batch, len(vertices))``); index ``sum_j bit_j 2**(len - 1 - j)``. The register is
        left unchanged."""
        if sorted(vertices) != sorted(self._alive):
            raise ParameterError("vertices", "must be exactly the alive qubits")
        psi = np.transpose(self._psi, [0, *(self._axis(v) for v in vertices)])
        for j in range(len(vertices)):
            phase = np.exp(-1j * angles[:, j])
            basis = _SQRT_HALF * np.stack(
                [np.stack([np.ones_like(phase), phase], -1), np.stack([np.ones_like(phase), -phase], -1)], -2
            )
            psi = np.moveaxis(np.einsum("bkm,bm...->bk...", basis, np.moveaxis(psi, j + 1, 1)), 1, j + 1)
        return np.asarray(np.abs(psi.reshape(psi.shape[0], -1)) ** 2, dtype=np.float64)
