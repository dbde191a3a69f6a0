"""Universal blind quantum computation over a network link, verified with trap rounds.

The protocol is Broadbent, Fitzsimons, Kashefi, FOCS 2009, arXiv:0807.4154, Protocol 1 (UBQC) on the brickwork
graph of :mod:`qinternet.apps.mbqc`:

1. the client prepares every qubit ``(r, c)`` in ``|+_theta> = (|0> + e^{i theta}|1>)/sqrt 2`` with ``theta``
   uniform in ``{k pi/4}`` and hands it to the server;
2. the server entangles the qubits with CZ gates along the (public) brickwork edges;
3. column by column, the client announces ``delta = phi' + theta + r pi`` with ``phi'`` the computation's angle
   adapted to the earlier outcomes (:func:`qinternet.apps.mbqc.adapted_angle`) and ``r`` a fresh random bit; the
   server measures in ``|+-_delta>`` and returns ``b``; the client keeps ``s = b xor r``;
4. the outcomes of the last column are the result.

``delta`` is uniform over the eight angles whatever the computation, because ``theta`` is (BFK Theorem 2): what the
server sees is independent of the computation.

**Sending the qubits.** The client and server share a delivered pair ``pair`` (Bell-diagonal, see
:mod:`qinternet.states.bell`); the client measures her half in ``|+-_{-theta}>`` (or in Z for a dummy) and so
prepares the server's half remotely (remote state preparation, as in Dunjko, Kashefi, Leverrier, PRL 108, 200502
(2012)): outcome ``b`` leaves ``P_k |+_{theta + b pi}>`` on the server, ``P_k`` the pair's Pauli error with
probability ``pair[k]``, and the client renames ``theta + b pi`` as her secret angle. The link is therefore the
Pauli channel ``pair`` on every qubit the server receives (:func:`received_ket`; checked against the density
matrices of :mod:`qinternet.states.density` in the tests).

**Server noise** (:class:`qinternet.params.processor.ProcessorParams`): a two-qubit depolarising error after every
CZ, a single-qubit depolarising error on the basis rotation before every measurement, and readout flips. The
memory's T2 is not modelled (the protocol carries no timing here). Noise is sampled per run as Pauli errors on a
state vector (quantum trajectories, see :mod:`qinternet.apps.mbqc`): every noise source is a mixture of Paulis, so
the average over runs is the channel exactly, at ``O(2**(2 rows))`` memory instead of ``O(4**(2 rows))``.

**Verification with traps** follows the test rounds of Leichtle, Music, Kashefi, Ollivier, PRX Quantum 2, 040302
(2021), Sec. IV (the trap construction of Fitzsimons, Kashefi, PRA 96, 012303 (2017), on a colouring of the
graph; Barz et al., Nat. Phys. 9, 727 (2013) ran the same interleaving of computation and trap runs). A run mixes
``computation_rounds`` computation rounds and ``test_rounds`` test rounds in random order, indistinguishable to the
server. In a test round the client picks one of the brickwork's two colours (``(row + column) mod 2``) uniformly;
every qubit of that colour is a trap ``|+_theta>``, every other qubit a dummy ``|d>`` with ``d`` a random bit, so
each trap's neighbours are all dummies and after the CZs the trap is ``|+_{theta + pi sum_d d}>``, measured at
``delta = theta + pi (r + sum_d d)``: an honest noiseless server returns ``b = r``. Dummies are measured at random
angles. The run is accepted if at most ``max_failed_tests`` test rounds failed (a round fails when any of its traps
does); its output is the most frequent output of its computation rounds.

Closed forms: :func:`trap_failure_probability` (a trap's failure probability under link and server noise) and
:func:`deviation_detection_probability` (a test round catching a deviating server).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import beta, binom

from qinternet.apps.mbqc import (
    ANGLE_STEPS,
    Brickwork,
    Register,
    Vertex,
    adapted_angle,
    wire_output_distribution,
)
from qinternet.apps.outcome import AppOutcome
from qinternet.errors import ParameterError
from qinternet.params.checks import require_finite
from qinternet.params.processor import ProcessorParams
from qinternet.states.bell import as_bell_diagonal, compose, perfect_pair

__all__ = [
    "BlindRounds",
    "Computation",
    "Deviation",
    "acceptance_probability",
    "bell_pair_computation",
    "blind_computation",
    "cnot_computation",
    "deutsch_computation",
    "deviation_detection_probability",
    "grover_computation",
    "prepared_ket",
    "received_ket",
    "simulate_rounds",
    "single_qubit_computation",
    "trap_failure_probability",
]

_HALF_TURN = ANGLE_STEPS // 2
_SQRT_HALF = math.sqrt(0.5)
MAX_ROUNDS = 10_000_000
"""Most rounds one call simulates."""
_BATCH_AMPLITUDES = 2**18
"""Rounds are simulated in batches of about this many amplitudes (``batch x 4**rows``)."""


# ---------------------------------------------------------------------------------------------------- computations
@dataclass(frozen=True, slots=True, kw_only=True)
class Computation:
    """A measurement pattern on the brickwork: what the client wants computed and keeps secret.

    Attributes:
        name: a label.
        angles_pi_over_4: the measurement angles ``phi`` of every qubit, ``angles[row][column]`` in units of
            ``pi/4`` (integers in [0, 8)); the last column is read out (classical output).
    """

    name: str
    angles_pi_over_4: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        rows = len(self.angles_pi_over_4)
        if rows == 0 or len({len(row) for row in self.angles_pi_over_4}) != 1:
            raise ParameterError("computation.angles_pi_over_4", "must be a non-empty rectangle of angles")
        if any(not isinstance(a, int) or not 0 <= a < ANGLE_STEPS for row in self.angles_pi_over_4 for a in row):
            raise ParameterError("computation.angles_pi_over_4", f"angles must be integers in [0, {ANGLE_STEPS})")
        Brickwork(rows=rows, columns=len(self.angles_pi_over_4[0]))

    @property
    def graph(self) -> Brickwork:
        """The brickwork the pattern lives on (public: the server knows it)."""
        return Brickwork(rows=len(self.angles_pi_over_4), columns=len(self.angles_pi_over_4[0]))

    @property
    def angles(self) -> NDArray[np.int64]:
        """The angles as an int array ``(rows, columns)``."""
        return np.array(self.angles_pi_over_4, dtype=np.int64)

    def reference_distribution(self) -> NDArray[np.float64]:
        """The unblinded computation's output distribution (the gate model of
        :func:`~qinternet.apps.mbqc.wire_output_distribution`; index ``sum_r bit_r 2**(rows - 1 - r)``)."""
        return wire_output_distribution(self.graph, self.angles)

    def expected_output(self) -> int:
        """The unblinded computation's most likely output."""
        return int(np.argmax(self.reference_distribution()))


# Segments of the 2 x 8 brickwork (vertical edges at columns 2 and 4), angles in units of pi/4. A row's logical qubit
# sees J(-phi_0) J(-phi_1) on |+>, CZ, J(-phi_2) J(-phi_3), CZ, J(-phi_4) ... J(-phi_7), Z readout, J = H P.
_PREPARE = {"0": (6, 6), "1": (6, 2), "+": (0, 0), "-": (4, 0)}
"""Columns 0-1: the state of the row before the first CZ: ``J(-phi_1) J(-phi_0) |+>``."""
_IDLE = (0, 0)
"""Columns 2-3: ``H H = 1`` between the CZs, which cancel."""
_ENTANGLE = (0, 6)
"""Columns 2-3 on the target row: ``R_x(pi/2)`` between the CZs, so that ``CZ (1 x R_x(pi/2)) CZ =
exp(-i pi/4 Z x X) = (S x R_x(pi/2)) CNOT`` (up to phase)."""
_READ_Z = (0, 0, 0, 0)
"""Columns 4-7: identity, Z readout."""
_READ_RX = (0, 0, 0, 2)
"""Columns 4-7: ``R_x(-pi/2)`` (undoes the CNOT brick's target rotation), Z readout."""
_READ_X = (0, 0, 6, 6)
"""Columns 4-7: ``H`` up to a diagonal gate (irrelevant before a Z readout), i.e. an X readout."""
_READ_X_PHASE = (0, 0, 0, 6)
"""Columns 4-7: ``H S^dagger`` (also ``H P(3 pi/2)``) up to a diagonal gate."""


def _two_rows(name: str, top: tuple[int, ...], bottom: tuple[int, ...]) -> Computation:
    return Computation(name=name, angles_pi_over_4=(top, bottom))


def single_qubit_computation(angles_pi_over_4: Sequence[int], name: str = "single-qubit") -> Computation:
    """A single-qubit computation on a line: Z readout of ``J(-phi_{m-1}) ... J(-phi_0) |+>``, ``J(a) = H P(a)``
    (Danos, Kashefi, PRA 74, 052310 (2006): ``J`` and CZ generate every unitary)."""
    return Computation(name=name, angles_pi_over_4=(tuple(int(a) for a in angles_pi_over_4),))


def cnot_computation(control: int, target: int) -> Computation:
    """CNOT (row 0 controls row 1) on the input ``|control, target>``: output ``(control, control xor target)``.

    One brick of the 2 x 8 brickwork: the two CZs around ``R_x(pi/2)`` on the target row make
    ``(S x R_x(pi/2)) CNOT``; the readout segment undoes ``R_x(pi/2)``; ``S`` is diagonal and drops out of the
    Z readout.
    """
    if control not in (0, 1) or target not in (0, 1):
        raise ParameterError("cnot.input", f"control and target must be bits, got {control!r}, {target!r}")
    top = (*_PREPARE[str(control)], *_IDLE, *_READ_Z)
    bottom = (*_PREPARE[str(target)], *_ENTANGLE, *_READ_RX)
    return _two_rows(f"cnot|{control}{target}>", top, bottom)


def bell_pair_computation() -> Computation:
    """CNOT on ``|+, 0>``: the Bell state ``|Phi+>``, read out as 00 or 11 with probability 1/2 each."""
    top = (*_PREPARE["+"], *_IDLE, *_READ_Z)
    bottom = (*_PREPARE["0"], *_ENTANGLE, *_READ_RX)
    return _two_rows("bell-pair", top, bottom)


def grover_computation(marked: int) -> Computation:
    """Grover search over 2 qubits (one oracle call finds the marked item with certainty; Grover, PRL 79, 325
    (1997)).

    The circuit ``H H . CZ (Z x Z) . H H . O_w |++>`` with the oracle ``O_w = CZ (Z^{1-w_1} x Z^{1-w_0})`` (up to
    phase) and the diffusion ``H H (2|00><00| - 1) H H``, rewritten for one brick: ``Z H = P(3 pi/2) R_x(pi/2)
    P(pi/2)`` on each row, the diagonal gates moved through the CZs into the preparation and readout segments.
    """
    if marked not in range(4):
        raise ParameterError("grover.marked", f"must be in [0, 3], got {marked!r}")
    w0, w1 = marked >> 1, marked & 1
    rows = []
    for flip in (1 - w1, 1 - w0):  # Z^{1-w_1} on row 0, Z^{1-w_0} on row 1, then P(pi/2)
        rows.append(((6 - _HALF_TURN * flip) % ANGLE_STEPS, 0, *_ENTANGLE, *_READ_X_PHASE))
    return _two_rows(f"grover-{marked:02b}", rows[0], rows[1])


def deutsch_computation(balanced: bool) -> Computation:
    """Deutsch's algorithm (Deutsch, Proc. R. Soc. A 400, 97 (1985); Cleve et al., Proc. R. Soc. A 454, 339 (1998)):
    ``(H x H) U_f (H x H) |01>`` gives ``01`` for a constant ``f`` and ``11`` for a balanced one.

    The balanced oracle is the CNOT brick, the constant one the idle brick; ``f`` and ``not f`` differ by an X on
    the ancilla before its final H, which the Z readout does not see, so both share one pattern.
    """
    top = (*_PREPARE["+"], *_IDLE, *(_READ_X_PHASE if balanced else _READ_X))
    bottom = (*_PREPARE["-"], *(_ENTANGLE if balanced else _IDLE), *_READ_X)
    return _two_rows("deutsch-balanced" if balanced else "deutsch-constant", top, bottom)


# ------------------------------------------------------------------------------------------------- link and server
def prepared_ket(theta_pi_over_4: ArrayLike, dummy_bit: ArrayLike = 0) -> NDArray[np.complex128]:
    """The qubits the client prepares: ``|+_theta>``, or the dummy ``|dummy_bit>`` where ``theta_pi_over_4 < 0``.

    Args:
        theta_pi_over_4: int ``(...)``, the secret angles in units of ``pi/4`` (negative: a dummy).
        dummy_bit: int ``(...)``, the dummies' bits (broadcast with ``theta_pi_over_4``).

    Returns:
        complex ``(..., 2)``, the kets.
    """
    theta, bit = np.broadcast_arrays(np.asarray(theta_pi_over_4, dtype=np.int64), np.asarray(dummy_bit, dtype=np.int64))
    dummy = theta < 0
    plus = np.stack(
        [np.full(theta.shape, _SQRT_HALF), _SQRT_HALF * np.exp(1j * theta * (2.0 * np.pi / ANGLE_STEPS))], -1
    )
    basis = np.stack([1.0 - bit, bit], -1).astype(np.complex128)
    return np.asarray(np.where(dummy[..., None], basis, plus), dtype=np.complex128)


def received_ket(ket: ArrayLike, pauli: ArrayLike) -> NDArray[np.complex128]:
    """The server's qubits when the pair's errors are the Paulis ``pauli`` (order ``I, X, Z, Y``), up to phases.

    Args:
        ket: complex ``(..., 2)``, the client's kets.
        pauli: int ``(...)``, the error on each (broadcast).
    """
    k = np.asarray(ket, dtype=np.complex128)
    p = np.asarray(pauli, dtype=np.int64)
    out = k * np.stack([np.ones(p.shape), np.where(np.isin(p, (2, 3)), -1.0, 1.0)], -1)
    return np.asarray(np.where(np.isin(p, (1, 3))[..., None], out[..., ::-1], out), dtype=np.complex128)


@dataclass(frozen=True, slots=True, kw_only=True)
class Deviation:
    """A dishonest server: at one qubit it flips the received qubit with X before entangling and/or measures at
    ``delta + angle_offset_rad`` instead of ``delta``.

    Attributes:
        row: the qubit's row.
        column: the qubit's column.
        flip_x: apply X to the qubit before the CZs.
        angle_offset_rad: offset added to the announced angle, rad.
    """

    row: int
    column: int
    flip_x: bool = False
    angle_offset_rad: float = 0.0

    def __post_init__(self) -> None:
        require_finite("deviation.angle_offset_rad", self.angle_offset_rad)

    def check(self, graph: Brickwork) -> None:
        """Raise unless the qubit exists in ``graph``."""
        if not 0 <= self.row < graph.rows:
            raise ParameterError("deviation.row", f"must be in [0, {graph.rows}), got {self.row!r}")
        if not 0 <= self.column < graph.columns:
            raise ParameterError("deviation.column", f"must be in [0, {graph.columns}), got {self.column!r}")


@dataclass(frozen=True, slots=True)
class _Noise:
    link: NDArray[np.float64]  # (4,) Pauli law of the link
    cz: float  # two-qubit depolarising probability after each CZ
    gate: float  # single-qubit depolarising probability before each measurement
    readout: float  # readout flip probability

    @property
    def noiseless(self) -> bool:
        return self.link[0] == 1.0 and self.cz == 0.0 and self.gate == 0.0 and self.readout == 0.0


def _noise_of(graph: Brickwork, pair: ArrayLike, processor: ProcessorParams | None) -> _Noise:
    link = as_bell_diagonal(pair, "pair")
    if link.shape != (4,):
        raise ParameterError("pair", f"must be one Bell-diagonal vector of shape (4,), got {link.shape}")
    if processor is None:  # a noiseless server with enough qubits
        return _Noise(link, 0.0, 0.0, 0.0)
    if processor.qubits < 2 * graph.rows:
        raise ParameterError(
            "processor.qubits", f"the server keeps 2 x {graph.rows} qubits alive, got only {processor.qubits}"
        )
    return _Noise(link, processor.two_qubit_depolarising, processor.single_qubit_depolarising, processor.readout_flip)


# ---------------------------------------------------------------------------------------------------------- rounds
@dataclass(frozen=True, slots=True, kw_only=True)
class BlindRounds:
    """What happened in a sequence of rounds.

    Attributes:
        is_test: bool ``(n,)``, test round or computation round.
        deltas_pi_over_4: int ``(n, rows, columns)``, the angles the server was told (its whole view, with the
            public graph).
        thetas_pi_over_4: int ``(n, rows, columns)``, the client's secret preparation angles (dummies: -1).
        flips: int ``(n, rows, columns)``, the client's secret bits ``r`` (dummies: 0).
        outputs: int ``(n,)``, the computation rounds' outputs (index as in
            :meth:`Computation.reference_distribution`), -1 in test rounds.
        output_distributions: float ``(n, 2**rows)``, each computation round's exact output distribution given
            everything sampled before the last column (NaN in test rounds).
        traps: int ``(n,)``, traps in each round (0 in computation rounds).
        trap_failures: int ``(n,)``, traps whose outcome was wrong.
    """

    is_test: NDArray[np.bool_]
    deltas_pi_over_4: NDArray[np.int64]
    thetas_pi_over_4: NDArray[np.int64]
    flips: NDArray[np.int64]
    outputs: NDArray[np.int64]
    output_distributions: NDArray[np.float64]
    traps: NDArray[np.int64]
    trap_failures: NDArray[np.int64]


class _Rounds:
    """A batch of rounds: the client's secrets and adaptive angles, and the server's registers (one per round)."""

    def __init__(
        self,
        computation: Computation,
        is_test: NDArray[np.bool_],
        noise: _Noise,
        deviation: Deviation | None,
        rng: np.random.Generator,
    ) -> None:
        self.graph = g = computation.graph
        self.phi = computation.angles
        self.is_test = is_test
        self.noise = noise
        self.deviation = deviation
        self.rng = rng
        n = is_test.size
        shape = (n, g.rows, g.columns)
        trap_colour = rng.integers(0, 2, size=n)
        colour = np.add.outer(np.arange(g.rows), np.arange(g.columns)) % 2
        self.is_trap = ~is_test[:, None, None] | (colour[None] == trap_colour[:, None, None])
        self.dummy = np.where(self.is_trap, 0, rng.integers(0, 2, size=shape))
        self.theta = np.where(self.is_trap, rng.integers(0, ANGLE_STEPS, size=shape), -1)
        self.r = np.where(self.is_trap, rng.integers(0, 2, size=shape), 0)
        self.link_error = rng.choice(4, size=shape, p=noise.link) if noise.link[0] < 1.0 else np.zeros(shape, int)
        self.delta = np.zeros(shape, dtype=np.int64)
        self.s_x = np.zeros(shape, dtype=np.int64)
        self.s_z = np.zeros(shape, dtype=np.int64)
        self.trap_failures = np.zeros(n, dtype=np.int64)
        self.register = Register(n)

    def _at(self, v: Vertex) -> bool:
        return self.deviation is not None and v == (self.deviation.row, self.deviation.column)

    def _add(self, v: Vertex) -> None:
        """The client's qubits for ``v`` (``|+_theta>`` or a dummy), through the link, into the server."""
        r, c = v
        kets = received_ket(prepared_ket(self.theta[:, r, c], self.dummy[:, r, c]), self.link_error[:, r, c])
        if self._at(v) and self.deviation is not None and self.deviation.flip_x:
            kets = received_ket(kets, 1)
        self.register.add(v, np.ascontiguousarray(kets))

    def _random_paulis(self, probability: float, kinds: int) -> NDArray[np.int64] | None:
        """Per round, a uniformly random Pauli index below ``kinds`` with ``probability``, else 0 (None: none)."""
        if probability == 0.0:
            return None
        n = self.is_test.size
        hit = self.rng.random(n) < probability
        return np.where(hit, self.rng.integers(0, kinds, size=n), 0)

    def _cz(self, a: Vertex, b: Vertex) -> None:
        self.register.cz(a, b)
        errors = self._random_paulis(self.noise.cz, 16)  # the 16 two-qubit Paulis, p_2/16 each
        if errors is not None:
            self.register.pauli(a, errors & 3)
            self.register.pauli(b, errors >> 2)

    def _announce(self, v: Vertex) -> NDArray[np.int64]:
        """The client's angles for ``v`` (BFK Protocol 1 step 3.1; LMKO test rounds), recorded."""
        r, c = v
        phi = adapted_angle(int(self.phi[r, c]), self.s_x[:, r, c], self.s_z[:, r, c])
        computation = phi + self.theta[:, r, c] + _HALF_TURN * self.r[:, r, c]
        kicks = sum((self.dummy[:, u[0], u[1]] for u in self.graph.neighbours(v)), np.zeros_like(phi))
        trap = self.theta[:, r, c] + _HALF_TURN * (self.r[:, r, c] + kicks)
        dummy = self.rng.integers(0, ANGLE_STEPS, size=phi.size)
        delta = np.where(~self.is_test, computation, np.where(self.is_trap[:, r, c], trap, dummy)) % ANGLE_STEPS
        self.delta[:, r, c] = delta
        return np.asarray(delta, dtype=np.int64)

    def _server_angles(self, v: Vertex) -> NDArray[np.float64]:
        """The server's measurement angles for the announced ones, after its gate noise and any deviation."""
        errors = self._random_paulis(self.noise.gate, 4)
        if errors is not None:
            self.register.pauli(v, errors)
        angles = self._announce(v) * (2.0 * np.pi / ANGLE_STEPS)
        if self._at(v) and self.deviation is not None:
            angles = angles + self.deviation.angle_offset_rad
        return np.asarray(angles, dtype=np.float64)

    def _record(self, v: Vertex, b: NDArray[np.int64]) -> None:
        """The client's bookkeeping of the server's answers ``b`` for ``v``."""
        s = b ^ self.r[:, v[0], v[1]]
        self.trap_failures += self.is_test & self.is_trap[:, v[0], v[1]] & (s != 0)
        x_targets, z_targets = self.graph.corrections(v)
        for u in x_targets:
            self.s_x[:, u[0], u[1]] ^= s
        for u in z_targets:
            self.s_z[:, u[0], u[1]] ^= s

    def _readout(self, bits: NDArray[np.int64]) -> NDArray[np.int64]:
        if self.noise.readout == 0.0:
            return bits
        return bits ^ (self.rng.random(bits.size) < self.noise.readout).astype(np.int64)

    def run(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Play the rounds; their outputs and exact output distributions (test rounds: -1 and NaN)."""
        g = self.graph
        for r in range(g.rows):
            self._add((r, 0))
        for a, b in g.vertical_edges(0):
            self._cz(a, b)
        for c in range(g.columns - 1):
            for r in range(g.rows):
                self._add((r, c + 1))
            for r in range(g.rows):
                self._cz((r, c), (r, c + 1))
            for a, b in g.vertical_edges(c + 1):
                self._cz(a, b)
            for r in range(g.rows):
                v = (r, c)
                self._record(v, self._readout(self.register.measure(v, self._server_angles(v), self.rng)))
        return self._last_column()

    def _last_column(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The output column: every angle is known before any of it is measured (its corrections come from earlier
        columns), so the joint distribution of its outcomes is computed exactly and sampled once."""
        g = self.graph
        last = tuple((r, g.columns - 1) for r in range(g.rows))
        angles = np.stack([self._server_angles(v) for v in last], axis=1)
        dist = self.register.distribution(last, angles)  # over b-strings, row 0 most significant
        index = np.arange(2**g.rows)
        for r in range(g.rows):  # readout flips, bit by bit
            flipped = dist[:, index ^ (1 << (g.rows - 1 - r))]
            dist = np.asarray((1.0 - self.noise.readout) * dist + self.noise.readout * flipped, dtype=np.float64)
        r_mask = np.zeros(dist.shape[0], dtype=np.int64)
        for r in range(g.rows):
            r_mask |= self.r[:, r, g.columns - 1] << (g.rows - 1 - r)
        dist = np.take_along_axis(dist, index[None, :] ^ r_mask[:, None], axis=1)  # over s = b xor r
        dist /= dist.sum(axis=1, keepdims=True)
        draws = self.rng.random(size=(dist.shape[0], 1)) > np.cumsum(dist, axis=1)
        outputs = np.minimum(draws.sum(axis=1), dist.shape[1] - 1).astype(np.int64)
        for i, v in enumerate(last):
            self._record(v, ((outputs >> (g.rows - 1 - i)) & 1) ^ self.r[:, i, g.columns - 1])
        dist[self.is_test] = np.nan
        return np.where(self.is_test, -1, outputs), dist


def simulate_rounds(
    computation: Computation,
    is_test: ArrayLike,
    rng: np.random.Generator,
    *,
    pair: ArrayLike | None = None,
    processor: ProcessorParams | None = None,
    deviation: Deviation | None = None,
) -> BlindRounds:
    """Simulate rounds of the blind protocol (module docstring), one per entry of ``is_test``.

    Args:
        computation: the client's pattern.
        is_test: bool ``(n,)``, which rounds are test rounds.
        rng: the random stream.
        pair: Bell-diagonal ``(4,)`` of the pairs that carry the qubits (default: perfect ``|Phi+>``).
        processor: the server's processor (default: noiseless, ``2 rows`` qubits).
        deviation: how the server deviates (default: honest).
    """
    graph = computation.graph
    noise = _noise_of(graph, perfect_pair() if pair is None else pair, processor)
    if deviation is not None:
        deviation.check(graph)
    tests = np.asarray(is_test, dtype=bool).reshape(-1)
    if tests.size > MAX_ROUNDS:
        raise ParameterError("rounds", f"must be at most {MAX_ROUNDS}, got {tests.size}")
    parts = []
    chunk = max(1, _BATCH_AMPLITUDES // 4**graph.rows)
    for lo in range(0, tests.size, chunk):
        batch = _Rounds(computation, tests[lo : lo + chunk], noise, deviation, rng)
        outputs, dists = batch.run()
        traps = np.where(batch.is_test, batch.is_trap.sum(axis=(1, 2)), 0)
        parts.append((batch.delta, batch.theta, batch.r, outputs, dists, traps, batch.trap_failures))
    shape = (0, graph.rows, graph.columns)
    empty = (
        np.zeros(shape, int),
        np.zeros(shape, int),
        np.zeros(shape, int),
        np.zeros(0, int),
        np.zeros((0, 2**graph.rows)),
        np.zeros(0, int),
        np.zeros(0, int),
    )
    deltas, thetas, flips, outs, dists_all, traps_all, failures = (
        (np.concatenate(column) for column in zip(*parts, strict=True)) if parts else empty
    )
    return BlindRounds(
        is_test=tests,
        deltas_pi_over_4=deltas,
        thetas_pi_over_4=thetas,
        flips=flips,
        outputs=outs,
        output_distributions=dists_all,
        traps=traps_all,
        trap_failures=failures,
    )


# ------------------------------------------------------------------------------------------------------- protocol
def _clopper_pearson(successes: int, trials: int) -> tuple[float, float]:
    """Exact 95 % binomial interval (Clopper, Pearson, Biometrika 26, 404 (1934))."""
    if trials == 0:
        return 0.0, 1.0
    lo = 0.0 if successes == 0 else float(beta.ppf(0.025, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(beta.ppf(0.975, successes + 1, trials - successes))
    return lo, hi


def blind_computation(
    computation: Computation,
    rng: np.random.Generator,
    *,
    pair: ArrayLike | None = None,
    processor: ProcessorParams | None = None,
    runs: int = 200,
    computation_rounds: int = 1,
    test_rounds: int = 1,
    max_failed_tests: int = 0,
    deviation: Deviation | None = None,
    nodes: tuple[str, str] = ("client", "server"),
) -> AppOutcome:
    """Run the verified blind computation ``runs`` times and report the fraction of accepted runs whose output
    equals the unblinded computation's most likely output (``blind_correct_fraction``).

    Args:
        computation: the client's pattern.
        rng: the random stream.
        pair: Bell-diagonal ``(4,)`` of the pairs that carry the qubits (default: perfect).
        processor: the server's processor (default: noiseless).
        runs: protocol runs, >= 1.
        computation_rounds: computation rounds per run, >= 1 (the run's output is their most frequent output;
            ties go to the smallest).
        test_rounds: test rounds per run, >= 0.
        max_failed_tests: a run is accepted when at most this many of its test rounds failed.
        deviation: a dishonest server (default: honest).
        nodes: the client's and the server's node names.

    Returns:
        ``AppOutcome(app="blind", metric="blind_correct_fraction")`` with a Clopper-Pearson interval over the
        accepted runs (NaN and ``(0, 1)`` when none was accepted); ``details`` hold the acceptance rate, the trap
        failure rate per trap and per test round, and the closed forms where they apply.
    """
    for field, count in (("runs", runs), ("computation_rounds", computation_rounds)):
        if count < 1:
            raise ParameterError(field, f"must be >= 1, got {count!r}")
    if test_rounds < 0:
        raise ParameterError("test_rounds", f"must be >= 0, got {test_rounds!r}")
    if not 0 <= max_failed_tests <= max(test_rounds, 0):
        raise ParameterError(
            "max_failed_tests", f"must be in [0, test_rounds = {test_rounds}], got {max_failed_tests!r}"
        )
    per_run = computation_rounds + test_rounds
    if runs * per_run > MAX_ROUNDS:
        raise ParameterError("runs", f"runs x rounds per run must be at most {MAX_ROUNDS}")
    layout = np.array([False] * computation_rounds + [True] * test_rounds)
    is_test = np.concatenate([rng.permutation(layout) for _ in range(runs)])
    rounds = simulate_rounds(computation, is_test, rng, pair=pair, processor=processor, deviation=deviation)
    expected = computation.expected_output()
    size = 2**computation.graph.rows
    tests = rounds.is_test.reshape(runs, per_run)
    outputs = rounds.outputs.reshape(runs, per_run)
    failed_rounds = (rounds.trap_failures > 0).reshape(runs, per_run)
    accepted = failed_rounds.sum(axis=1) <= max_failed_tests
    votes = np.stack([np.bincount(o[~t], minlength=size) for o, t in zip(outputs, tests, strict=True)])
    correct = np.argmax(votes, axis=1) == expected
    n_acc, n_ok = int(accepted.sum()), int((accepted & correct).sum())
    value: float = n_ok / n_acc if n_acc else math.nan
    n_tests, n_traps = int(rounds.is_test.sum()), int(rounds.traps.sum())
    details: dict[str, object] = {
        "ci_method": "Clopper-Pearson exact binomial 95 % over the accepted runs",
        "computation": computation.name,
        "graph_rows": computation.graph.rows,
        "graph_columns": computation.graph.columns,
        "expected_output": expected,
        "reference_probability": float(computation.reference_distribution()[expected]),
        "runs": runs,
        "computation_rounds": computation_rounds,
        "test_rounds": test_rounds,
        "max_failed_tests": max_failed_tests,
        "accepted_runs": n_acc,
        "acceptance_rate": n_acc / runs,
        "trap_failure_rate": int(rounds.trap_failures.sum()) / n_traps if n_traps else math.nan,
        "test_round_failure_rate": int(failed_rounds.sum()) / n_tests if n_tests else math.nan,
        "scheme": "BFK 2009 Protocol 1; test rounds of Leichtle, Music, Kashefi, Ollivier, PRX Quantum 2, 040302",
    }
    if deviation is None:
        details["trap_failure_probability_exact"] = trap_failure_probability(computation.graph, pair, processor)
    elif _noise_of(computation.graph, perfect_pair() if pair is None else pair, processor).noiseless:
        p_detect = deviation_detection_probability(computation.graph, deviation)
        details["test_round_failure_probability_exact"] = p_detect
        details["acceptance_probability_exact"] = acceptance_probability(p_detect, test_rounds, max_failed_tests)
    lo, hi = _clopper_pearson(n_ok, n_acc)
    return AppOutcome(
        app="blind", nodes=nodes, metric="blind_correct_fraction", value=value, ci95=(lo, hi), details=details
    )


# --------------------------------------------------------------------------------------------------- closed forms
def _flip_probability(sources: list[NDArray[np.float64]], readout: float) -> float:
    """Probability that a trap's outcome is wrong given independent Pauli errors on it (laws ``I, X, Z, Y``).

    The net error is their XOR convolution. A net Z flips the outcome; a net X or Y turns ``|+_theta'>`` into
    ``|+_{-theta'}>`` (up to Z), wrong with probability ``sin^2 theta'`` or ``cos^2 theta'``, i.e. 1/2 on average
    over the eight secret angles; then the readout flips with probability ``readout``.
    """
    net = sources[0]
    for law in sources[1:]:
        net = compose(net, law)
    wrong = float(net[2] + 0.5 * (net[1] + net[3]))
    return wrong * (1.0 - readout) + (1.0 - wrong) * readout


def trap_failure_probability(
    graph: Brickwork, pair: ArrayLike | None = None, processor: ProcessorParams | None = None
) -> float:
    """Mean over the qubits of the probability that a trap there fails with an honest server (closed form).

    A trap ``t`` is wrong when its net Pauli error has a Z part, or (with probability 1/2) an X part
    (:func:`_flip_probability`). Its independent error sources, with the link law ``p = pair`` (``I, X, Z, Y``),
    ``p_2`` the CZ and ``p_1`` the gate depolarising probabilities:

    * its own link error, law ``p``;
    * each neighbouring dummy's link X or Y error (``p_X + p_Y``), which the CZ turns into a Z on the trap;
    * each CZ of the trap: the trap's marginal of the two-qubit depolarising error, ``I`` with ``1 - 3 p_2/4`` and
      each Pauli with ``p_2/4``;
    * each CZ that a neighbouring dummy undergoes before its CZ with the trap: an X or Y on the dummy
      (probability ``p_2/2``) becomes a Z on the trap (:meth:`Brickwork.cz_schedule` gives the order);
    * the gate before the measurement: ``p_1/4`` per Pauli;

    and the readout flip. Each test round picks one colour and every qubit of a colour is a trap in half the
    test rounds, so the mean over qubits is the expected fraction of failed trap measurements.
    """
    noise = _noise_of(graph, perfect_pair() if pair is None else pair, processor)
    p_link, p2, p1 = noise.link, noise.cz, noise.gate
    cz_trap = np.array([1.0 - 0.75 * p2, p2 / 4, p2 / 4, p2 / 4])
    gate = np.array([1.0 - 0.75 * p1, p1 / 4, p1 / 4, p1 / 4])
    x_link = float(p_link[1] + p_link[3])
    schedule = graph.cz_schedule()
    total = 0.0
    for r in range(graph.rows):
        for c in range(graph.columns):
            t = (r, c)
            sources = [p_link, gate]
            for d in graph.neighbours(t):
                sources.append(np.array([1.0 - x_link, 0.0, x_link, 0.0]))
                sources.append(cz_trap)
                position = next(i for i, e in enumerate(schedule) if set(e) == {t, d})
                earlier = sum(d in e for e in schedule[:position])
                kick = 0.5 * (1.0 - (1.0 - p2) ** earlier)  # odd number of X/Y on d, each with probability p2/2
                sources.append(np.array([1.0 - kick, 0.0, kick, 0.0]))
            total += _flip_probability(sources, noise.readout)
    return total / (graph.rows * graph.columns)


def deviation_detection_probability(graph: Brickwork, deviation: Deviation) -> float:
    """Probability that one noiseless test round fails because of ``deviation`` (closed form).

    The deviating qubit ``v`` is a trap in half the test rounds (one colour of two is drawn). As a trap, an angle
    offset ``alpha`` makes it wrong with probability ``sin^2(alpha/2)``, an X before the CZs with probability 1/2
    (averaged over ``theta``). As a dummy, an angle offset does nothing, while an X flips ``d`` and so every
    neighbouring trap: the round fails surely if ``v`` has a neighbour.
    """
    deviation.check(graph)
    v = (deviation.row, deviation.column)
    as_trap = 0.5 if deviation.flip_x else math.sin(deviation.angle_offset_rad / 2.0) ** 2
    as_dummy = 1.0 if deviation.flip_x and graph.neighbours(v) else 0.0
    return 0.5 * as_trap + 0.5 * as_dummy


def acceptance_probability(test_failure_probability: float, test_rounds: int, max_failed_tests: int) -> float:
    """Probability that at most ``max_failed_tests`` of ``test_rounds`` independent test rounds fail (binomial)."""
    return float(binom.cdf(max_failed_tests, test_rounds, test_failure_probability))
