"""Distributed phase sensing with GHZ states and entanglement-assisted clock synchronisation.

**GHZ phase sensing over N nodes** (Komar et al., "A quantum network of clocks", Nat. Phys. 10, 582 (2014); the
parity readout of Bollinger, Itano, Wineland, Heinzen, PRA 54, R4649 (1996)). Node 0 (the centre) holds its
halves ``a_1 .. a_{N-1}`` of ``N - 1`` Bell-diagonal pairs shared with nodes ``1 .. N-1`` (halves ``b_j``;
:mod:`qinternet.states.bell` conventions, the pair's Pauli error sits on ``b_j``). It fuses them into
``(|0...0> + |1...1>)/sqrt 2`` on ``a_1, b_1 .. b_{N-1}`` (one qubit per node): for ``k = 2 .. N-1`` a CNOT
``a_1 -> a_k``, a Z readout of ``a_k`` with outcome ``m_k`` sent to node ``k``, which applies ``X`` when ``m_k = 1``
(so the centre needs ``N - 1`` qubits). The qubits wait ``wait_s`` for those messages (the GHZ must be complete
before the interrogation, because an ``X`` does not commute with the phase), then every node's qubit acquires the
phase ``phi`` of its clock relative to the reference during ``interrogation_s``, every node rotates by the working
point ``beta = pi/(2N)`` and reads out in X; the product of the ``N`` outcomes is the parity. Noise
(:class:`~qinternet.params.processor.ProcessorParams`, the same processor at every node): depolarising after the
CNOTs (``p2``) and single-qubit gates (``p1``), readout flips ``q``, and dephasing ``exp(-t/T2)`` per qubit.

All noise is Pauli, so the final state is the GHZ with a random Pauli ``X^x Z^z``. Pushing the errors through the
circuit (Gottesman, PhD thesis, Caltech (1997), Pauli propagation through Clifford gates): a component with X
pattern ``x`` and Z parity ``s`` gives the parity ``(-1)^s cos((N - 2|x|) psi)`` at ``psi = phi + beta``. Summed
over the errors of one source, a source that applies ``I, Z`` (or ``X, Y``) with equal weight cancels its own
sign, so dephasing (``exp(-t/T2)`` per qubit), single-qubit depolarising (``1 - p``) and the CNOTs'
two-qubit depolarising (``1 - p2``: for each error on ``a_k`` the four errors on ``a_1`` sum to zero) just
scale the signal. What does not cancel are X errors that are independent per node: the pair's own error
(``a = p_I - p_Z``, ``b = p_X - p_Y``, the signed weights of no flip and flip) and the flipped readout of
``m_k`` (an X on ``b_k``), combined per node by XOR. The parity expectation is therefore exactly

    ``S(psi) = D sum_k w_k cos((N - 2k) psi)``, ``sum_k w_k z^k = prod_j (a_j + b_j z)``,
    ``D = (1 - p2)^(N-2) (1 - p1/2)^(N-2) [(1 - p1)(1 - 2q)]^N exp(-N (wait + T)/T2)``

(``1 - p1/2``: the correction gate acts half the time, as ``m_k`` is uniform). For Werner pairs and perfect
readout ``b_j = 0`` and ``S = D prod_j a_j cos(N psi)``: a GHZ fringe whose contrast is the product of the pairs'
and gates' contrasts and ``exp(-N T/T2)``. The Fisher information per run of the parity outcome,
``P(+) = (1 + S)/2``, is ``F = S'^2/(1 - S^2)`` (Braunstein, Caves, PRL 72, 3439 (1994)); with no noise ``F = N^2``
at every phase: the Heisenberg limit ``1/(N sqrt(nu))`` after ``nu`` runs, against the standard quantum limit
``1/sqrt(N nu)`` of ``N`` independent qubits (Giovannetti, Lloyd, Maccone, Science 306, 1330 (2004)). Independent
qubits (prepared by a gate, dephased, rotated, read out) give ``F = N c^2 cos^2 phi/(1 - c^2 sin^2 phi)``,
``c = (1 - p1)^2 (1 - 2q) exp(-T/T2)``. As the GHZ contrast falls exponentially in ``N`` while the gain grows as
``N^2``, the precision has a finite optimum in ``N`` under noise (``N* ~ T2/T`` with dephasing alone: Huelga et
al., PRL 79, 3865 (1997) discuss the same trade-off).

The GHZ fringe repeats every ``2 pi/N``: the estimate is unambiguous for ``|phi| < pi/(2N)`` only (a clock must be
locked that closely first; Komar et al. use a cascade of GHZ sizes for this, not modelled here).

**Clock synchronisation of two nodes** (Jozsa, Abrams, Dowling, Williams, PRL 85, 2010 (2000)). Node B applies X to
its half on arrival, turning ``Phi+`` into ``Psi+``, which is invariant under the same free evolution at both nodes
(the "timeless" state of the scheme). At their agreed local times both nodes rotate their qubits by the phase
of their local oscillator of known frequency ``f`` and read out in X; the product of the two outcomes has the
mean ``C cos(2 pi f Delta - alpha)`` with ``Delta`` the offset of B's clock from A's and ``alpha`` A's setting
(``0`` or ``pi/2``, half the pairs each). Of the pair's components only ``Psi+`` and ``Psi-`` carry the offset;
``Phi`` components (after the X) carry the phase sum, which varies over many periods from pair to pair and
averages out, so ``C = (p_I - p_Z)(1 - p1_B) (1 - p1_A)(1 - p1_B)(1 - 2 q_A)(1 - 2 q_B)
exp(-storage (1/T2_A + 1/T2_B))``. The offset is ``Delta = phi/(2 pi f)``, estimated by maximum likelihood.

What the scheme assumes (and where the time of flight hides): the delivered pair is the given Bell-diagonal state
*in the nodes' common frame*, i.e. every deterministic phase the distribution adds (fibre lengths, their
asymmetry, frequency conversion) is known and removed; an unknown residual phase on the pair is indistinguishable
from a clock offset. Preskill (quant-ph/0010098) and Burt, Ekstrom, Swanson (PRL 87, 129801 (2001)) show that
fixing this phase generally needs the very knowledge classical sync needs (Ilo-Okeke et al., npj Quantum Inf. 4, 40
(2018) argue purification can remove it). Classical messages are still needed (to agree on the measurement times
and compare outcomes), but their delays do not enter the estimate. The offset must be known to within half a
period ``1/(2f)`` beforehand (e.g. from a classical two-way exchange, which assumes symmetric delays); the
entangled measurement refines it. Unentangled nodes each measuring against a common reference would reach
``sqrt 2`` times the uncertainty (the factor measured by Nichol et al., Nature 609, 689 (2022) with two ions).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from qinternet.apps.outcome import AppOutcome
from qinternet.errors import ParameterError
from qinternet.params.checks import require_finite, require_non_negative, require_positive
from qinternet.params.processor import ProcessorParams
from qinternet.states.bell import as_bell_diagonal

__all__ = [
    "MAX_SAMPLES",
    "MAX_SENSING_NODES",
    "ClockSyncPrecision",
    "PhasePrecisionCurve",
    "PhaseSensingMonteCarlo",
    "PhaseSensingPrecision",
    "clock_sync",
    "clock_sync_precision",
    "estimate_phase_ml",
    "ghz_fisher_information",
    "ghz_fringe_weights",
    "ghz_parity_expectation",
    "ghz_phase_precision",
    "independent_fisher_information",
    "optimal_node_count",
    "phase_precision_curve",
    "phase_sensing_monte_carlo",
    "sample_ghz_parity",
    "sample_independent_outcomes",
]

Float = NDArray[np.float64]

MAX_SENSING_NODES = 1000
"""Most nodes in one GHZ state (the fringe polynomial costs ``O(N^2)``; far beyond any planned network)."""
MAX_SAMPLES = 50_000_000
"""Most qubit readouts one Monte-Carlo call draws (runs x nodes x repetitions), to keep memory bounded."""
_Z95 = 1.959963984540054  # two-sided 95 % normal quantile
_GRID = 1025  # grid points of the likelihood before the golden-section refinement
_GOLDEN_STEPS = 60  # shrinks the bracket by 0.618**60 ~ 3e-13
_PS_PER_S = 1e12


# --------------------------------------------------------------------------------------------- checks


def _check_nodes(n_nodes: int, processor: ProcessorParams) -> None:
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int | np.integer) or not 2 <= n_nodes <= MAX_SENSING_NODES:
        raise ParameterError("n_nodes", f"must be an integer in [2, {MAX_SENSING_NODES}], got {n_nodes!r}")
    if processor.qubits < n_nodes - 1:
        raise ParameterError(
            "processor.qubits",
            f"the central node holds the {n_nodes - 1} halves of the pairs it fuses, it has {processor.qubits}",
        )


def _check_count(field: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(field, f"must be an integer >= {minimum}, got {value!r}")


def _pairs_of(pair: ArrayLike, n_pairs: int) -> Float:
    """The pairs as ``(n_pairs, 4)``: one pair broadcast, or one row per pair."""
    p = as_bell_diagonal(pair, "pair")
    if p.ndim == 1:
        return np.broadcast_to(p, (n_pairs, 4)).copy()
    if p.shape != (n_pairs, 4):
        raise ParameterError("pair", f"must have shape (4,) or ({n_pairs}, 4), got {p.shape}")
    return p


def _check_times(interrogation_s: float, wait_s: float) -> None:
    require_non_negative("interrogation_s", interrogation_s)
    require_non_negative("wait_s", wait_s)


def _decay(t_s: float, t2_s: float) -> float:
    """Coherence left after ``t_s`` of dephasing: ``exp(-t/T2)``."""
    return math.exp(-t_s / t2_s) if math.isfinite(t2_s) else 1.0


# ----------------------------------------------------------------------------------- exact GHZ model


def ghz_fringe_weights(
    n_nodes: int,
    pair: ArrayLike,
    processor: ProcessorParams | None = None,
    *,
    interrogation_s: float = 0.0,
    wait_s: float = 0.0,
) -> Float:
    """Weights ``W_k`` (shape ``(n_nodes + 1,)``) of the parity expectation ``S(psi) = sum_k W_k cos((N - 2k) psi)``.

    ``W = D w`` with ``w`` the coefficients of ``prod_j (a_j + b_j z)`` and ``D`` the scaling of the cancelling noise
    (module docstring). ``W_0 + W_N`` is the contrast of the GHZ fringe at frequency ``N``.

    Args:
        n_nodes: nodes ``N`` in the GHZ state, in [2, ``MAX_SENSING_NODES``].
        pair: the delivered pairs, Bell-diagonal, ``(4,)`` or ``(N - 1, 4)`` (pair ``j`` joins node ``j``).
        processor: every node's processor (default: perfect); the centre needs ``N - 1`` qubits.
        interrogation_s: interrogation time ``T``, s.
        wait_s: time the qubits wait for the fusion messages before the interrogation, s.

    Raises:
        ParameterError: naming the field (``n_nodes``, ``pair``, ``processor.qubits``, ``interrogation_s``, ``wait_s``).
    """
    proc = processor if processor is not None else ProcessorParams(qubits=max(1, n_nodes - 1))
    _check_nodes(n_nodes, proc)
    _check_times(interrogation_s, wait_s)
    pairs = _pairs_of(pair, n_nodes - 1)
    q = proc.readout_flip
    a = pairs[:, 0] - pairs[:, 2]  # no X flip: I minus Z
    b = pairs[:, 1] - pairs[:, 3]  # X flip: X minus Y
    # The readout of m_k (k >= 2, rows 1..) flips with probability q: an X on b_k, XOR-combined with the pair's.
    a_k = a.copy()
    b_k = b.copy()
    a_k[1:] = a[1:] * (1.0 - q) + b[1:] * q
    b_k[1:] = a[1:] * q + b[1:] * (1.0 - q)
    poly = np.array([1.0, 0.0])  # node 0's own qubit a_1: no independent X error, factor (1 + 0 z)
    for aj, bj in zip(a_k, b_k, strict=True):
        poly = np.convolve(poly, np.array([aj, bj]))
    fusions = n_nodes - 2
    scale = (
        (1.0 - proc.two_qubit_depolarising) ** fusions
        * (1.0 - proc.single_qubit_depolarising / 2.0) ** fusions
        * ((1.0 - proc.single_qubit_depolarising) * (1.0 - 2.0 * q)) ** n_nodes
        * _decay(n_nodes * (wait_s + interrogation_s), proc.t2_s)
    )
    return np.asarray(scale * poly, dtype=np.float64)


def _frequencies(n_nodes: int) -> Float:
    return np.asarray(n_nodes - 2.0 * np.arange(n_nodes + 1), dtype=np.float64)


def _signal(weights: Float, psi: ArrayLike) -> tuple[Float, Float]:
    """``S(psi)`` and ``dS/dpsi`` for fringe weights ``(N + 1,)``; ``psi`` of any shape."""
    m = _frequencies(weights.size - 1)
    arg = np.asarray(psi, dtype=np.float64)[..., None] * m
    return np.asarray(np.cos(arg) @ weights, dtype=np.float64), np.asarray(-np.sin(arg) @ (weights * m), np.float64)


def _working_point(n_nodes: int) -> float:
    """The readout offset ``beta = pi/(2N)``: mid-fringe, where the main fringe is steepest at ``phi = 0``."""
    return math.pi / (2.0 * n_nodes)


def _fisher(signal: Float, slope: Float) -> Float:
    """``S'^2/(1 - S^2)``: Fisher information of a +/-1 outcome with mean ``S`` (0 where ``|S| = 1``)."""
    den = 1.0 - signal**2
    return np.asarray(np.where(den > 0.0, slope**2 / np.where(den > 0.0, den, 1.0), 0.0), dtype=np.float64)


def ghz_parity_expectation(
    n_nodes: int,
    pair: ArrayLike,
    phase_rad: ArrayLike,
    processor: ProcessorParams | None = None,
    *,
    interrogation_s: float = 0.0,
    wait_s: float = 0.0,
) -> Float:
    """Exact mean of the parity (+1/-1) at the working point: ``S(phi + pi/(2N))`` (module docstring).

    ``P(parity = +1) = (1 + S)/2``; with no noise ``S = -sin(N phi)``.
    """
    w = ghz_fringe_weights(n_nodes, pair, processor, interrogation_s=interrogation_s, wait_s=wait_s)
    return _signal(w, np.asarray(phase_rad, dtype=np.float64) + _working_point(n_nodes))[0]


def ghz_fisher_information(
    n_nodes: int,
    pair: ArrayLike,
    processor: ProcessorParams | None = None,
    *,
    interrogation_s: float = 0.0,
    wait_s: float = 0.0,
    phase_rad: ArrayLike = 0.0,
) -> Float:
    """Fisher information per run of the GHZ parity about ``phi``: ``S'^2/(1 - S^2)`` at ``phi + pi/(2N)``.

    Braunstein, Caves, PRL 72, 3439 (1994); ``N^2`` with no noise (the Heisenberg limit).
    """
    w = ghz_fringe_weights(n_nodes, pair, processor, interrogation_s=interrogation_s, wait_s=wait_s)
    s, ds = _signal(w, np.asarray(phase_rad, dtype=np.float64) + _working_point(n_nodes))
    return _fisher(s, ds)


def _independent_contrast(processor: ProcessorParams, interrogation_s: float) -> float:
    """``c = (1 - p1)^2 (1 - 2q) exp(-T/T2)``: preparation and readout gates, readout flips, dephasing."""
    p1 = processor.single_qubit_depolarising
    return (1.0 - p1) ** 2 * (1.0 - 2.0 * processor.readout_flip) * _decay(interrogation_s, processor.t2_s)


def independent_fisher_information(
    n_nodes: int,
    processor: ProcessorParams | None = None,
    *,
    interrogation_s: float = 0.0,
    phase_rad: ArrayLike = 0.0,
) -> Float:
    """Fisher information per run of ``n_nodes`` independent qubits read out at mid-fringe (``psi = phi + pi/2``).

    ``N c^2 cos^2(phi)/(1 - c^2 sin^2(phi))`` (module docstring); ``N`` with no noise: the standard quantum limit.
    """
    proc = processor if processor is not None else ProcessorParams()
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int | np.integer) or n_nodes < 1:
        raise ParameterError("n_nodes", f"must be an integer >= 1, got {n_nodes!r}")
    require_non_negative("interrogation_s", interrogation_s)
    c = _independent_contrast(proc, interrogation_s)
    psi = np.asarray(phase_rad, dtype=np.float64) + math.pi / 2.0
    return n_nodes * _fisher(c * np.cos(psi), -c * np.sin(psi))


# ------------------------------------------------------------------------------- precision records


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseSensingPrecision:
    """Exact phase uncertainty of ``runs`` runs of GHZ and of independent qubits (module docstring).

    Attributes:
        n_nodes: nodes ``N``.
        runs: runs ``nu``.
        ghz_contrast: contrast of the GHZ fringe at frequency ``N`` (``W_0 + W_N``).
        ghz_fisher_per_run: Fisher information of one GHZ parity run, rad^-2.
        independent_fisher_per_run: Fisher information of one run of ``N`` independent qubits, rad^-2.
        ghz_uncertainty_rad: Cramér–Rao bound ``1/sqrt(nu F_GHZ)``, rad.
        independent_uncertainty_rad: ``1/sqrt(nu F_ind)``, rad.
        sql_rad: standard quantum limit ``1/sqrt(N nu)``, rad.
        heisenberg_rad: Heisenberg limit ``1/(N sqrt(nu))``, rad.
    """

    n_nodes: int
    runs: int
    ghz_contrast: float
    ghz_fisher_per_run: float
    independent_fisher_per_run: float
    ghz_uncertainty_rad: float
    independent_uncertainty_rad: float
    sql_rad: float
    heisenberg_rad: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {name: getattr(self, name) for name in self.__slots__}


def _uncertainty(fisher: float, runs: int) -> float:
    return 1.0 / math.sqrt(runs * fisher) if fisher > 0.0 else math.inf


def ghz_phase_precision(
    n_nodes: int,
    pair: ArrayLike,
    processor: ProcessorParams | None = None,
    *,
    interrogation_s: float = 0.0,
    wait_s: float = 0.0,
    runs: int = 1,
    phase_rad: float = 0.0,
) -> PhaseSensingPrecision:
    """Exact precision of GHZ sensing over ``n_nodes`` beside independent qubits, the SQL and the Heisenberg limit."""
    _check_count("runs", runs, 1)
    w = ghz_fringe_weights(n_nodes, pair, processor, interrogation_s=interrogation_s, wait_s=wait_s)
    s, ds = _signal(w, np.asarray(phase_rad + _working_point(n_nodes)))
    f_ghz = float(_fisher(s, ds))
    proc = processor if processor is not None else ProcessorParams()
    f_ind = float(independent_fisher_information(n_nodes, proc, interrogation_s=interrogation_s, phase_rad=phase_rad))
    return PhaseSensingPrecision(
        n_nodes=n_nodes,
        runs=runs,
        ghz_contrast=float(w[0] + w[-1]),
        ghz_fisher_per_run=f_ghz,
        independent_fisher_per_run=f_ind,
        ghz_uncertainty_rad=_uncertainty(f_ghz, runs),
        independent_uncertainty_rad=_uncertainty(f_ind, runs),
        sql_rad=1.0 / math.sqrt(n_nodes * runs),
        heisenberg_rad=1.0 / (n_nodes * math.sqrt(runs)),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PhasePrecisionCurve:
    """Precision against the number of nodes (arrays aligned with ``n_nodes``), at ``phi = 0``.

    Attributes:
        n_nodes: node counts, int64.
        runs: runs per point.
        ghz_uncertainty_rad: GHZ Cramér–Rao bound, rad.
        independent_uncertainty_rad: independent qubits with the same noise, rad.
        sql_rad: ``1/sqrt(N nu)``, rad.
        heisenberg_rad: ``1/(N sqrt(nu))``, rad.
        optimal_n_nodes: the ``N`` of the smallest GHZ uncertainty on the curve.
    """

    n_nodes: NDArray[np.int64]
    runs: int
    ghz_uncertainty_rad: Float
    independent_uncertainty_rad: Float
    sql_rad: Float
    heisenberg_rad: Float
    optimal_n_nodes: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (arrays as lists)."""
        return {
            name: (v.tolist() if isinstance(v := getattr(self, name), np.ndarray) else v) for name in self.__slots__
        }


def phase_precision_curve(
    n_nodes: Sequence[int] | NDArray[np.int64],
    pair: ArrayLike,
    processor: ProcessorParams | None = None,
    *,
    interrogation_s: float = 0.0,
    wait_s: float = 0.0,
    runs: int = 1,
) -> PhasePrecisionCurve:
    """GHZ precision for each node count beside independent qubits, the SQL and the Heisenberg limit.

    ``pair`` is one ``(4,)`` state used for every pair; ``processor.qubits`` must hold the largest centre
    (``max(n_nodes) - 1``).
    """
    ns = np.asarray(n_nodes)
    if ns.ndim != 1 or ns.size == 0 or not np.issubdtype(ns.dtype, np.integer):
        raise ParameterError("n_nodes", "must be a non-empty sequence of integers")
    p = as_bell_diagonal(pair, "pair")
    if p.shape != (4,):
        raise ParameterError("pair", f"must have shape (4,) for a curve over node counts, got {p.shape}")
    points = [
        ghz_phase_precision(int(n), p, processor, interrogation_s=interrogation_s, wait_s=wait_s, runs=runs) for n in ns
    ]
    ghz = np.array([pt.ghz_uncertainty_rad for pt in points])
    return PhasePrecisionCurve(
        n_nodes=ns.astype(np.int64),
        runs=runs,
        ghz_uncertainty_rad=ghz,
        independent_uncertainty_rad=np.array([pt.independent_uncertainty_rad for pt in points]),
        sql_rad=np.array([pt.sql_rad for pt in points]),
        heisenberg_rad=np.array([pt.heisenberg_rad for pt in points]),
        optimal_n_nodes=int(ns[int(np.argmin(ghz))]),
    )


def optimal_node_count(
    pair: ArrayLike,
    processor: ProcessorParams | None = None,
    *,
    interrogation_s: float = 0.0,
    wait_s: float = 0.0,
    max_nodes: int = 200,
) -> int:
    """The number of nodes in ``[2, max_nodes]`` whose GHZ state gives the largest Fisher information per run.

    Equals ``max_nodes`` when the noise is too weak for an optimum below it (no noise: precision improves without
    bound as ``1/N``).
    """
    _check_count("max_nodes", max_nodes, 2)
    proc = processor if processor is not None else ProcessorParams(qubits=max_nodes - 1)
    curve = phase_precision_curve(
        np.arange(2, max_nodes + 1), pair, proc, interrogation_s=interrogation_s, wait_s=wait_s
    )
    return curve.optimal_n_nodes


# ------------------------------------------------------------------------------------ Monte Carlo


def _uniform_paulis(rng: np.random.Generator, mask: NDArray[np.bool_], count: int) -> tuple[NDArray[np.bool_], ...]:
    """Where ``mask``: a uniform Pauli on ``count`` qubits; returns (x, z) bit arrays per qubit, False elsewhere."""
    codes = rng.integers(0, 4**count, size=mask.shape)
    out: list[NDArray[np.bool_]] = []
    for i in range(count):
        c = (codes >> (2 * i)) & 3
        out.extend([mask & ((c & 1) == 1), mask & ((c >> 1) == 1)])
    return tuple(out)


def _readout_flips(rng: np.random.Generator, processor: ProcessorParams, shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """A readout after a rotation: flipped by the gate's depolarising (``p1/2``) or by the readout (``q``)."""
    gate = rng.random(shape) < processor.single_qubit_depolarising / 2.0
    return np.asarray(gate ^ (rng.random(shape) < processor.readout_flip), dtype=np.bool_)


def _dephasing_flips(rng: np.random.Generator, t_s: float, t2_s: float, shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """Z errors with probability ``(1 - exp(-t/T2))/2``."""
    return np.asarray(rng.random(shape) < (1.0 - _decay(t_s, t2_s)) / 2.0, dtype=np.bool_)


def sample_ghz_parity(
    n_nodes: int,
    pair: ArrayLike,
    phase_rad: float,
    runs: int,
    rng: np.random.Generator,
    processor: ProcessorParams | None = None,
    *,
    interrogation_s: float = 0.0,
    wait_s: float = 0.0,
) -> NDArray[np.bool_]:
    """Parity outcomes (True = +1), shape ``(runs,)``, of the noisy fusion, interrogation and readout.

    Each run draws every error event of the circuit (module docstring): the pairs' Pauli errors, each CNOT's
    two-qubit depolarising Pauli (an X on ``a_1`` reaches every later ``a_k`` and so, through ``m_k``, ``b_k``),
    the flipped readouts of ``m_k``, the correction gates' depolarising (applied when ``m_k = 1``, probability 1/2),
    dephasing; then the parity of the resulting GHZ component and the flips of the final readouts.
    """
    proc = processor if processor is not None else ProcessorParams(qubits=max(1, n_nodes - 1))
    _check_nodes(n_nodes, proc)
    _check_times(interrogation_s, wait_s)
    _check_count("runs", runs, 1)
    if runs * n_nodes > MAX_SAMPLES:
        raise ParameterError("runs", f"runs x n_nodes must be <= {MAX_SAMPLES:g}, got {runs * n_nodes}")
    require_finite("phase_rad", phase_rad)
    pairs = _pairs_of(pair, n_nodes - 1)
    x = np.zeros((runs, n_nodes), dtype=np.bool_)  # X error per qubit: column 0 = a_1, column j = b_j
    sign = np.zeros(runs, dtype=np.bool_)  # parity of the Z errors
    for j in range(1, n_nodes):
        idx = rng.choice(4, size=runs, p=pairs[j - 1])
        x[:, j] ^= (idx & 1) == 1
        sign ^= (idx >> 1) == 1
    x_a1 = np.zeros(runs, dtype=np.bool_)
    for k in range(2, n_nodes):
        x[:, k] ^= x_a1  # an earlier X on a_1 passes the CNOT to a_k, flips m_k and so the correction of b_k
        hit = rng.random(runs) < proc.two_qubit_depolarising
        xp, zp, xq, _ = _uniform_paulis(rng, hit, 2)
        x_a1 ^= xp
        sign ^= zp
        x[:, k] ^= xq  # an X on a_k flips m_k
        x[:, k] ^= rng.random(runs) < proc.readout_flip
        corrected = (rng.random(runs) < 0.5) & (rng.random(runs) < proc.single_qubit_depolarising)
        xc, zc = _uniform_paulis(rng, corrected, 1)
        x[:, k] ^= xc
        sign ^= zc
    x[:, 0] ^= x_a1
    z_wait = _dephasing_flips(rng, wait_s + interrogation_s, proc.t2_s, (runs, n_nodes))
    sign ^= np.bitwise_xor.reduce(z_wait, axis=1)
    psi = phase_rad + _working_point(n_nodes)
    mean = np.where(sign, -1.0, 1.0) * np.cos((n_nodes - 2.0 * x.sum(axis=1)) * psi)
    ideal = rng.random(runs) < (1.0 + mean) / 2.0
    flips = np.bitwise_xor.reduce(_readout_flips(rng, proc, (runs, n_nodes)), axis=1)
    return np.asarray(ideal ^ flips, dtype=np.bool_)


def sample_independent_outcomes(
    n_nodes: int,
    phase_rad: float,
    runs: int,
    rng: np.random.Generator,
    processor: ProcessorParams | None = None,
    *,
    interrogation_s: float = 0.0,
) -> NDArray[np.bool_]:
    """Outcomes (True = +1), shape ``(runs, n_nodes)``, of independent qubits prepared in ``|+>`` by a gate,
    dephased, read out at mid-fringe (``psi = phi + pi/2``)."""
    proc = processor if processor is not None else ProcessorParams()
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int | np.integer) or n_nodes < 1:
        raise ParameterError("n_nodes", f"must be an integer >= 1, got {n_nodes!r}")
    require_non_negative("interrogation_s", interrogation_s)
    _check_count("runs", runs, 1)
    if runs * n_nodes > MAX_SAMPLES:
        raise ParameterError("runs", f"runs x n_nodes must be <= {MAX_SAMPLES:g}, got {runs * n_nodes}")
    require_finite("phase_rad", phase_rad)
    shape = (runs, n_nodes)
    _, z_prep = _uniform_paulis(rng, rng.random(shape) < proc.single_qubit_depolarising, 1)  # X leaves |+> alone
    sign = z_prep ^ _dephasing_flips(rng, interrogation_s, proc.t2_s, shape)
    mean = np.where(sign, -1.0, 1.0) * math.cos(phase_rad + math.pi / 2.0)
    ideal = rng.random(shape) < (1.0 + mean) / 2.0
    return np.asarray(ideal ^ _readout_flips(rng, proc, shape), dtype=np.bool_)


# ------------------------------------------------------------------------------ maximum likelihood

LogLikelihood = Callable[[Float], Float]
"""Log-likelihood of candidate phases ``(reps, m)`` for each of ``reps`` data sets: returns ``(reps, m)``."""


def _binary_log_likelihood(prob_plus: Float, plus: Float, total: Float) -> Float:
    """``sum_s k_s log P_s + (n_s - k_s) log(1 - P_s)`` over the last axis (settings)."""
    p = np.clip(prob_plus, 1e-300, 1.0)
    q = np.clip(1.0 - prob_plus, 1e-300, 1.0)
    return np.asarray(np.sum(plus * np.log(p) + (total - plus) * np.log(q), axis=-1), dtype=np.float64)


def estimate_phase_ml(log_likelihood: LogLikelihood, reps: int, lo: float, hi: float) -> Float:
    """Maximum-likelihood phases in ``[lo, hi]``, one per data set (shape ``(reps,)``).

    The log-likelihood is evaluated on a grid of ``_GRID`` points, then the best grid cell's neighbourhood is
    refined by golden-section search (Kiefer, Proc. AMS 4, 502 (1953)) to ~1e-12 of the interval.
    """
    grid = np.linspace(lo, hi, _GRID)
    values = log_likelihood(np.broadcast_to(grid, (reps, _GRID)))
    best = np.argmax(values, axis=1)
    step = (hi - lo) / (_GRID - 1)
    a = np.clip(grid[best] - step, lo, hi)
    b = np.clip(grid[best] + step, lo, hi)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(_GOLDEN_STEPS):
        c = b - ratio * (b - a)
        d = a + ratio * (b - a)
        fc, fd = log_likelihood(np.stack([c, d], axis=1)).T
        left = fc >= fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
    return np.asarray((a + b) / 2.0, dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseSensingMonteCarlo:
    """Repeated experiments of ``runs`` runs each: the spread of the maximum-likelihood estimates.

    Attributes:
        scheme: ``"ghz"`` or ``"independent"``.
        n_nodes: nodes ``N``.
        runs: runs per experiment.
        true_phase_rad: the phase simulated, rad.
        estimates_rad: one estimate per experiment, shape ``(repetitions,)``, rad.
        mean_rad: mean estimate, rad.
        mean_ci95_rad: normal 95 % interval of the mean, rad.
        std_rad: sample standard deviation of the estimates (the uncertainty of one experiment), rad.
        std_ci95_rad: chi-square 95 % interval of the standard deviation, rad.
        exact_uncertainty_rad: the Cramér–Rao bound ``1/sqrt(runs F)`` at the true phase, rad.
    """

    scheme: str
    n_nodes: int
    runs: int
    true_phase_rad: float
    estimates_rad: Float
    mean_rad: float
    mean_ci95_rad: tuple[float, float]
    std_rad: float
    std_ci95_rad: tuple[float, float]
    exact_uncertainty_rad: float

    @property
    def variance_per_run(self) -> float:
        """``runs x var(estimate)``, rad^2: ``1/F`` per run when the estimator reaches the Cramér–Rao bound."""
        return self.runs * self.std_rad**2

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the estimates as a list)."""
        return {
            name: (v.tolist() if isinstance(v := getattr(self, name), np.ndarray) else v) for name in self.__slots__
        }


def phase_sensing_monte_carlo(
    n_nodes: int,
    pair: ArrayLike,
    phase_rad: float,
    runs: int,
    repetitions: int,
    rng: np.random.Generator,
    processor: ProcessorParams | None = None,
    *,
    interrogation_s: float = 0.0,
    wait_s: float = 0.0,
    entangled: bool = True,
) -> PhaseSensingMonteCarlo:
    """Simulate ``repetitions`` experiments of ``runs`` runs, estimate ``phi`` in each by maximum likelihood.

    GHZ (``entangled``): parity outcomes from :func:`sample_ghz_parity`, likelihood from the exact
    ``P(+) = (1 + S(phi + pi/(2N)))/2`` on the unambiguous interval ``|phi| <= pi/(2N)``. Independent qubits: the
    ``N runs`` outcomes of :func:`sample_independent_outcomes` pooled, ``|phi| <= pi/2``. The mean's interval is
    normal (``1.96 s/sqrt(R)``), the standard deviation's from the chi-square law of ``(R - 1) s^2/sigma^2``.

    Raises:
        ParameterError: naming the field; ``phase_rad`` must lie inside the unambiguous interval.
    """
    _check_count("repetitions", repetitions, 2)
    _check_count("runs", runs, 1)
    proc = processor if processor is not None else ProcessorParams(qubits=max(1, n_nodes - 1))
    require_finite("phase_rad", phase_rad)
    if entangled:
        fisher = float(
            ghz_fisher_information(
                n_nodes, pair, proc, interrogation_s=interrogation_s, wait_s=wait_s, phase_rad=phase_rad
            )
        )
        half_width = _working_point(n_nodes)
    else:
        fisher = float(
            independent_fisher_information(n_nodes, proc, interrogation_s=interrogation_s, phase_rad=phase_rad)
        )
        half_width = math.pi / 2.0
    if runs * n_nodes * repetitions > MAX_SAMPLES:
        raise ParameterError("runs", f"runs x n_nodes x repetitions must be <= {MAX_SAMPLES:g}")
    if abs(phase_rad) >= half_width:
        raise ParameterError("phase_rad", f"must lie in the unambiguous interval (-{half_width:g}, {half_width:g})")
    if entangled:
        weights = ghz_fringe_weights(n_nodes, pair, proc, interrogation_s=interrogation_s, wait_s=wait_s)
        draws = sample_ghz_parity(
            n_nodes, pair, phase_rad, runs * repetitions, rng, proc, interrogation_s=interrogation_s, wait_s=wait_s
        )
        total = float(runs)

        def prob(phi: Float) -> Float:
            return (1.0 + _signal(weights, phi + _working_point(n_nodes))[0]) / 2.0

    else:
        c = _independent_contrast(proc, interrogation_s)
        draws = sample_independent_outcomes(
            n_nodes, phase_rad, runs * repetitions, rng, proc, interrogation_s=interrogation_s
        )
        total = float(runs * n_nodes)

        def prob(phi: Float) -> Float:
            return np.asarray((1.0 + c * np.cos(phi + math.pi / 2.0)) / 2.0, dtype=np.float64)

    plus = draws.reshape(repetitions, -1).sum(axis=1).astype(np.float64)  # +1 outcomes per experiment

    def log_likelihood(phi: Float) -> Float:
        return _binary_log_likelihood(prob(phi)[..., None], plus[:, None, None], np.array([total]))

    estimates = estimate_phase_ml(log_likelihood, repetitions, -half_width, half_width)
    mean = float(estimates.mean())
    std = float(estimates.std(ddof=1))
    dof = repetitions - 1
    half = _Z95 * std / math.sqrt(repetitions)
    return PhaseSensingMonteCarlo(
        scheme="ghz" if entangled else "independent",
        n_nodes=n_nodes,
        runs=runs,
        true_phase_rad=phase_rad,
        estimates_rad=estimates,
        mean_rad=mean,
        mean_ci95_rad=(mean - half, mean + half),
        std_rad=std,
        std_ci95_rad=(
            std * math.sqrt(dof / float(stats.chi2.ppf(0.975, dof))),
            std * math.sqrt(dof / float(stats.chi2.ppf(0.025, dof))),
        ),
        exact_uncertainty_rad=_uncertainty(fisher, runs),
    )


# ------------------------------------------------------------------------------ clock synchronisation

_SETTINGS_RAD = np.array([0.0, math.pi / 2.0])
"""A's readout settings ``alpha``: the cosine and sine quadratures, half the pairs each."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockSyncPrecision:
    """Exact figures of the two-node synchronisation (module docstring).

    Attributes:
        contrast: ``C``, the mean of the outcome product at zero phase.
        fisher_per_pair: Fisher information per pair about ``phi = 2 pi f Delta`` at the true offset, averaged over
            the two settings, rad^-2.
        precision_ps: Cramér–Rao bound on the offset, ``1/(2 pi f sqrt(pairs F))``, ps.
        best_precision_ps: the bound at the best single working point (``F = C^2``), ps.
        independent_precision_ps: unentangled nodes, each reading its own qubit against a common reference and
            differencing: ``sqrt(2)/(2 pi f c sqrt(pairs))``, ``c`` one node's contrast, ps.
    """

    contrast: float
    fisher_per_pair: float
    precision_ps: float
    best_precision_ps: float
    independent_precision_ps: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {name: getattr(self, name) for name in self.__slots__}


def _pair_contrast(pairs: Float) -> Float:
    """``p_I - p_Z`` per pair: the weight of ``Psi+`` minus ``Psi-`` after B's X."""
    return np.asarray(pairs[..., 0] - pairs[..., 2], dtype=np.float64)


def _node_factors(pa: ProcessorParams, pb: ProcessorParams, storage_s: float) -> float:
    """Local factors of the contrast: B's X gate, both readout rotations and readouts, both memories' dephasing."""
    p1a, p1b = pa.single_qubit_depolarising, pb.single_qubit_depolarising
    return (
        (1.0 - p1b)
        * (1.0 - p1a)
        * (1.0 - p1b)
        * (1.0 - 2.0 * pa.readout_flip)
        * (1.0 - 2.0 * pb.readout_flip)
        * _decay(storage_s, pa.t2_s)
        * _decay(storage_s, pb.t2_s)
    )


def _quadrature_fisher(contrast: float, phi: ArrayLike) -> Float:
    """Fisher information per pair at ``phi``, averaged over the two settings: ``C^2 sin^2/(1 - C^2 cos^2)``."""
    arg = np.asarray(phi, dtype=np.float64)[..., None] - _SETTINGS_RAD
    s2, c2 = np.sin(arg) ** 2, np.cos(arg) ** 2
    den = s2 + (1.0 - contrast**2) * c2
    per = np.where(den > 0.0, contrast**2 * s2 / np.where(den > 0.0, den, 1.0), 1.0)  # C = 1, sin = 0: limit 1
    return np.asarray(per.mean(axis=-1), dtype=np.float64)


def _check_clock(frequency_hz: float, true_offset_ps: float, storage_s: float) -> float:
    """Validate and return the phase ``2 pi f Delta``."""
    require_positive("frequency_hz", frequency_hz)
    require_finite("true_offset_ps", true_offset_ps)
    require_non_negative("storage_s", storage_s)
    half_period_ps = _PS_PER_S / (2.0 * frequency_hz)
    if abs(true_offset_ps) >= half_period_ps:
        raise ParameterError(
            "true_offset_ps",
            f"must be within half an oscillator period, |offset| < {half_period_ps:g} ps (synchronise classically"
            " to that first)",
        )
    return 2.0 * math.pi * frequency_hz * true_offset_ps / _PS_PER_S


def clock_sync_precision(
    pair: ArrayLike,
    *,
    frequency_hz: float,
    pairs: int,
    true_offset_ps: float = 0.0,
    processor_a: ProcessorParams | None = None,
    processor_b: ProcessorParams | None = None,
    storage_s: float = 0.0,
) -> ClockSyncPrecision:
    """Exact contrast and Cramér–Rao precision of the two-node synchronisation with ``pairs`` pairs.

    ``pair`` is ``(4,)`` or ``(pairs, 4)`` (the mean state sets the statistics of pairs used in turn).
    """
    _check_count("pairs", pairs, 2)
    phi = _check_clock(frequency_hz, true_offset_ps, storage_s)
    pa = processor_a if processor_a is not None else ProcessorParams()
    pb = processor_b if processor_b is not None else ProcessorParams()
    p = _pairs_of(pair, pairs)
    local = _node_factors(pa, pb, storage_s)
    contrast = float(_pair_contrast(p).mean()) * local
    fisher = float(_quadrature_fisher(contrast, phi))
    scale = 2.0 * math.pi * frequency_hz / _PS_PER_S  # rad per ps
    c_a = _independent_contrast(pa, storage_s)
    c_b = _independent_contrast(pb, storage_s)
    independent_var = (1.0 / c_a**2 + 1.0 / c_b**2) / pairs if c_a > 0.0 and c_b > 0.0 else math.inf
    return ClockSyncPrecision(
        contrast=contrast,
        fisher_per_pair=fisher,
        precision_ps=_uncertainty(fisher, pairs) / scale,
        best_precision_ps=_uncertainty(contrast**2, pairs) / scale,
        independent_precision_ps=math.sqrt(independent_var) / scale,
    )


def _sample_clock_outcomes(
    pairs: Float,
    phi: float,
    rng: np.random.Generator,
    pa: ProcessorParams,
    pb: ProcessorParams,
    storage_s: float,
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Outcome products (True = +1) and settings (0/1) of one run per pair, drawing every error event.

    Each pair's Pauli error sits on B's half; B's X gate depolarises; both halves dephase in storage; the common
    phase of the two nodes is uniform from pair to pair; readouts flip (rotation gate ``p1/2``, readout ``q``).
    """
    n = pairs.shape[0]
    cumulative = np.cumsum(pairs, axis=1)
    idx = (rng.random((n,))[:, None] > cumulative[:, :3]).sum(axis=1)  # inverse-CDF draw of each pair's error
    x_b = (idx & 1) == 0  # B's deliberate X: Psi+ (offset-sensitive) when the pair had no X error
    sign = (idx >> 1) == 1
    xg, zg = _uniform_paulis(rng, rng.random((n,)) < pb.single_qubit_depolarising, 1)
    x_b ^= xg
    sign ^= zg
    sign ^= _dephasing_flips(rng, storage_s, pa.t2_s, (n,)) ^ _dephasing_flips(rng, storage_s, pb.t2_s, (n,))
    settings = np.arange(n, dtype=np.int64) % 2
    common = rng.uniform(0.0, 2.0 * math.pi, n)
    theta_a = common + _SETTINGS_RAD[settings]
    theta_b = common + phi
    total = theta_a + np.where(x_b, -theta_b, theta_b)  # sum over qubits of (-1)^x_j theta_j (module docstring)
    mean = np.where(sign, -1.0, 1.0) * np.cos(total)
    ideal = rng.random(n) < (1.0 + mean) / 2.0
    flips = _readout_flips(rng, pa, (n,)) ^ _readout_flips(rng, pb, (n,))
    return np.asarray(ideal ^ flips, dtype=np.bool_), settings


def clock_sync(
    pair: ArrayLike,
    *,
    true_offset_ps: float,
    frequency_hz: float,
    pairs: int,
    rng: np.random.Generator,
    processor_a: ProcessorParams | None = None,
    processor_b: ProcessorParams | None = None,
    storage_s: float = 0.0,
    nodes: tuple[str, str] = ("A", "B"),
) -> AppOutcome:
    """Estimate the offset of B's clock from A's with ``pairs`` delivered pairs (module docstring for the scheme).

    Simulates one measurement per pair (settings alternate between the two quadratures), estimates
    ``phi = 2 pi f Delta`` by maximum likelihood over ``(-pi, pi]`` with the exact model
    ``P(+) = (1 + C cos(phi - alpha))/2`` (``C`` from the pairs' mean state and the nodes' noise), and returns
    ``Delta = phi/(2 pi f)``.

    Args:
        pair: the delivered pairs, Bell-diagonal, ``(4,)`` or ``(pairs, 4)``.
        true_offset_ps: the offset simulated (B's clock minus A's), ps; within half a period ``1/(2f)``.
        frequency_hz: the known oscillator frequency ``f``, Hz.
        pairs: pairs consumed (>= 2, one measurement each).
        rng: the random stream.
        processor_a: A's processor (default: perfect).
        processor_b: B's processor (default: perfect).
        storage_s: time each half waits in memory before its measurement, s.
        nodes: the two nodes' names.

    Returns:
        ``AppOutcome(app="clock-sync", metric="clock_offset_ps")``: the estimate with its Cramér–Rao 95 % interval;
        details hold the true offset, the exact precision (:class:`ClockSyncPrecision`) and the assumptions.

    Raises:
        ParameterError: naming the field (``pair``, ``pairs``, ``frequency_hz``, ``true_offset_ps``,
            ``storage_s``), also when the pairs carry no offset information (contrast 0).
    """
    exact = clock_sync_precision(
        pair,
        frequency_hz=frequency_hz,
        pairs=pairs,
        true_offset_ps=true_offset_ps,
        processor_a=processor_a,
        processor_b=processor_b,
        storage_s=storage_s,
    )
    contrast = exact.contrast
    if not abs(contrast) > 0.0:
        raise ParameterError("pair", "carries no clock signal: p_I - p_Z = 0 or the nodes' noise leaves contrast 0")
    if pairs > MAX_SAMPLES:
        raise ParameterError("pairs", f"must be <= {MAX_SAMPLES:g}, got {pairs}")
    phi = _check_clock(frequency_hz, true_offset_ps, storage_s)
    pa = processor_a if processor_a is not None else ProcessorParams()
    pb = processor_b if processor_b is not None else ProcessorParams()
    outcomes, settings = _sample_clock_outcomes(_pairs_of(pair, pairs), phi, rng, pa, pb, storage_s)
    total = np.bincount(settings, minlength=2).astype(np.float64)
    plus = np.bincount(settings, weights=outcomes.astype(np.float64), minlength=2).astype(np.float64)

    def log_likelihood(cand: Float) -> Float:
        prob = (1.0 + contrast * np.cos(cand[..., None] - _SETTINGS_RAD)) / 2.0
        return _binary_log_likelihood(prob, plus, total)

    phi_hat = float(estimate_phase_ml(log_likelihood, 1, -math.pi, math.pi)[0])
    scale = 2.0 * math.pi * frequency_hz / _PS_PER_S  # rad per ps
    fisher_hat = float(_quadrature_fisher(contrast, phi_hat))
    half = _Z95 * _uncertainty(fisher_hat, pairs) / scale
    value = phi_hat / scale
    return AppOutcome(
        app="clock-sync",
        nodes=tuple(nodes),
        metric="clock_offset_ps",
        value=value,
        ci95=(value - half, value + half),
        details={
            "true_offset_ps": true_offset_ps,
            "frequency_hz": frequency_hz,
            "pairs": pairs,
            "storage_s": storage_s,
            **exact.to_dict(),
            "ci_method": "maximum likelihood over both quadratures; 1.96/sqrt(pairs x Fisher information per pair at"
            " the estimate) (Cramér–Rao, asymptotic normality)",
            "assumptions": "delivered pair in the nodes' common frame (distribution phases known and removed);"
            " offset known beforehand to within half a period 1/(2 frequency_hz); classical messages only agree"
            " on measurement times and compare outcomes, their delays do not enter the estimate",
        },
    )
