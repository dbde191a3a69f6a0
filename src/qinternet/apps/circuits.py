"""Small noisy circuits on batches of density matrices: the gates, waits and readouts of a node's processor.

A register of ``n`` qubits is a complex array of shape ``(..., 2**n, 2**n)`` (leading axes: a batch of
independent registers, e.g. one per shot); qubit 0 is the most significant bit, as in
:mod:`qinternet.states.density`, whose single-register functions these generalise to batches (operators are
embedded into the full register once and applied with broadcast matrix products, which is fast for the few
qubits of an application).

The noise is that of :class:`qinternet.params.processor.ProcessorParams` (see its module docstring): a gate on
``k`` qubits is followed by the depolarising channel ``rho -> (1 - p) rho + p (I/2**k) x Tr_k rho`` on those
qubits, written as the uniform Pauli twirl ``(1/4**k) sum_P P rho P`` (Nielsen, Chuang, *Quantum Computation and
Quantum Information* (2010), eq. 8.102 for one qubit; the twirl identity is their exercise 8.11 generalised);
a wait of ``t`` dephases a stored qubit with Z-flip probability ``(1 - exp(-t/T2))/2`` (phase damping, Nielsen,
Chuang eq. 8.127: coherences decay as ``exp(-t/T2)``); a Z readout reports the wrong bit with probability
``1 - measurement_fidelity``. A rotation of a qubit by the rotation vector ``v`` (angle ``|v|`` about ``v/|v|``)
is ``exp(-i v.sigma/2)`` (Nielsen, Chuang eq. 4.8).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.processor import ProcessorParams
from qinternet.states.density import PAULIS

__all__ = [
    "CARDINAL_KETS",
    "apply_operator",
    "dephase_wait",
    "depolarise_qubits",
    "embed",
    "haar_kets",
    "noisy_gate",
    "project_z",
    "readout_confusion",
    "rotation_unitaries",
    "rotation_vectors",
]

Complex = NDArray[np.complex128]

_SQRT_HALF = 1.0 / math.sqrt(2.0)
CARDINAL_KETS: Complex = np.array(
    [
        [1.0, 0.0],
        [0.0, 1.0],
        [_SQRT_HALF, _SQRT_HALF],
        [_SQRT_HALF, -_SQRT_HALF],
        [_SQRT_HALF, 1j * _SQRT_HALF],
        [_SQRT_HALF, -1j * _SQRT_HALF],
    ],
    dtype=np.complex128,
)
"""The six eigenstates of Z, X, Y (rows): a 2-design (in fact a 3-design), so averaging a channel's fidelity over
them gives its exact average over the Bloch sphere (Dankert et al., PRA 80, 012304 (2009), Sec. II)."""


def _qubits_of(side: int, field: str) -> int:
    n = round(math.log2(side))
    if side != 2**n:
        raise ParameterError(field, f"must be a register of side 2**n, got side {side}")
    return n


def embed(op: ArrayLike, qubits: Sequence[int], n: int) -> Complex:
    """The ``2**n x 2**n`` operator acting as ``op`` on ``qubits`` (in the order given) and as identity elsewhere.

    Raises:
        ParameterError: ``qubits`` not distinct indices below ``n``, or ``op`` not of side ``2**len(qubits)``.
    """
    o = np.asarray(op, dtype=np.complex128)
    k = len(qubits)
    if len(set(qubits)) != k or any(not 0 <= q < n for q in qubits):
        raise ParameterError("qubits", f"must be distinct indices below {n}, got {list(qubits)}")
    if o.shape != (2**k, 2**k):
        raise ParameterError("op", f"must be {2**k}x{2**k} for {k} qubit(s), got shape {o.shape}")
    rest = [q for q in range(n) if q not in qubits]
    full = np.kron(o, np.eye(2 ** len(rest), dtype=np.complex128)).reshape((2,) * (2 * n))
    order = [*qubits, *rest]  # the axes of `full` name these qubits, rows then columns
    perm = [order.index(q) for q in range(n)]
    full = full.transpose([*perm, *(n + p for p in perm)])
    return np.asarray(full.reshape(2**n, 2**n), dtype=np.complex128)


def apply_operator(rho: ArrayLike, op: ArrayLike) -> Complex:
    """``O rho O^dagger`` for a full-register operator ``O`` (shape ``(..., d, d)``, broadcast with ``rho``)."""
    r = np.asarray(rho, dtype=np.complex128)
    o = np.asarray(op, dtype=np.complex128)
    return np.asarray(o @ r @ np.conj(np.swapaxes(o, -1, -2)), dtype=np.complex128)


def depolarise_qubits(rho: ArrayLike, prob: float, qubits: Sequence[int]) -> Complex:
    """The depolarising channel with probability ``prob`` on ``qubits`` of a batch of registers (module docstring).

    Raises:
        ParameterError: ``prob`` outside [0, 1].
    """
    if not 0.0 <= prob <= 1.0:
        raise ParameterError("prob", f"must be in [0, 1], got {prob}")
    r = np.asarray(rho, dtype=np.complex128)
    if prob == 0.0:
        return r
    n = _qubits_of(r.shape[-1], "rho")
    k = len(qubits)
    twirl = np.zeros_like(r)
    for paulis in itertools.product(PAULIS, repeat=k):
        op: Complex = paulis[0]
        for p in paulis[1:]:
            op = np.asarray(np.kron(op, p), dtype=np.complex128)
        twirl += apply_operator(r, embed(op, qubits, n))
    return np.asarray((1.0 - prob) * r + prob * twirl / 4**k, dtype=np.complex128)


def noisy_gate(rho: ArrayLike, gate: ArrayLike, qubits: Sequence[int], processor: ProcessorParams) -> Complex:
    """``gate`` on ``qubits`` followed by the processor's depolarising noise for a gate of that size.

    Raises:
        ParameterError: a gate on other than one or two qubits (the processor publishes no fidelity for it).
    """
    r = np.asarray(rho, dtype=np.complex128)
    if len(qubits) == 1:
        prob = processor.single_qubit_depolarising
    elif len(qubits) == 2:
        prob = processor.two_qubit_depolarising
    else:
        raise ParameterError("qubits", f"a processor gate acts on 1 or 2 qubits, got {len(qubits)}")
    n = _qubits_of(r.shape[-1], "rho")
    return depolarise_qubits(apply_operator(r, embed(gate, qubits, n)), prob, qubits)


def dephase_wait(rho: ArrayLike, qubit: int, wait_s: float, t2_s: float) -> Complex:
    """A qubit stored for ``wait_s`` seconds with dephasing time ``t2_s``: Z flip with probability
    ``(1 - exp(-wait_s/t2_s))/2`` (module docstring).

    Raises:
        ParameterError: a negative or non-finite ``wait_s``.
    """
    if not (math.isfinite(wait_s) and wait_s >= 0.0):
        raise ParameterError("wait_s", f"must be a finite time >= 0, got {wait_s}")
    r = np.asarray(rho, dtype=np.complex128)
    flip = 0.5 * (1.0 - math.exp(-wait_s / t2_s))
    if flip == 0.0:
        return r
    n = _qubits_of(r.shape[-1], "rho")
    return np.asarray((1.0 - flip) * r + flip * apply_operator(r, embed(PAULIS[2], [qubit], n)), dtype=np.complex128)


def project_z(rho: ArrayLike, qubits: Sequence[int]) -> Complex:
    """The unnormalised states of the other qubits after Z outcomes on ``qubits``.

    Returns:
        complex array ``(..., 2**k, 2**m, 2**m)`` with ``k = len(qubits)`` and ``m`` the remaining qubits: entry
        ``[..., b]`` is ``<b| rho |b>`` on the rest, ``b`` the outcome bits read as a binary number in the order of
        ``qubits``; its trace is the outcome's probability.
    """
    r = np.asarray(rho, dtype=np.complex128)
    n = _qubits_of(r.shape[-1], "rho")
    k = len(qubits)
    if len(set(qubits)) != k or any(not 0 <= q < n for q in qubits):
        raise ParameterError("qubits", f"must be distinct indices below {n}, got {list(qubits)}")
    batch = r.shape[:-2]
    nb = len(batch)
    t = r.reshape((*batch, *(2,) * (2 * n)))
    side = 2 ** (n - k)
    blocks = []
    for bits in itertools.product((0, 1), repeat=k):
        sub = t
        # take columns then rows, highest axis first, so earlier axis numbers stay valid
        for q, b in sorted(zip(qubits, bits, strict=True), reverse=True):
            sub = np.take(sub, b, axis=nb + n + q)
        for q, b in sorted(zip(qubits, bits, strict=True), reverse=True):
            sub = np.take(sub, b, axis=nb + q)
        blocks.append(sub.reshape((*batch, side, side)))
    return np.asarray(np.stack(blocks, axis=-3), dtype=np.complex128)


def readout_confusion(measurement_fidelity: float) -> NDArray[np.float64]:
    """``P(reported | true)`` of one Z readout as a 2x2 matrix ``[true, reported]``."""
    f = measurement_fidelity
    return np.array([[f, 1.0 - f], [1.0 - f, f]])


def haar_kets(rng: np.random.Generator, count: int) -> Complex:
    """``count`` qubit states drawn uniformly from the Bloch sphere (normalised complex Gaussian vectors,
    Mezzadri, Notices AMS 54, 592 (2007)), shape ``(count, 2)``."""
    z = rng.standard_normal((count, 2)) + 1j * rng.standard_normal((count, 2))
    return np.asarray(z / np.linalg.norm(z, axis=-1, keepdims=True), dtype=np.complex128)


def rotation_unitaries(rotvec: ArrayLike) -> Complex:
    """``exp(-i v.sigma/2)`` for rotation vectors ``v`` of shape ``(..., 3)`` (components along X, Y, Z of the
    Bloch or Poincare sphere, rad): shape ``(..., 2, 2)``."""
    v = np.asarray(rotvec, dtype=np.float64)
    theta = np.linalg.norm(v, axis=-1)
    safe = np.where(theta > 0.0, theta, 1.0)
    n = v / safe[..., None]
    c = np.cos(theta / 2.0)[..., None, None]
    s = np.sin(theta / 2.0)[..., None, None]
    x, z, y = PAULIS[1], PAULIS[2], PAULIS[3]
    gen = n[..., 0, None, None] * x + n[..., 1, None, None] * y + n[..., 2, None, None] * z
    return np.asarray(c * np.eye(2) - 1j * s * gen, dtype=np.complex128)


def rotation_vectors(unitaries: ArrayLike) -> NDArray[np.float64]:
    """Inverse of :func:`rotation_unitaries` for unitaries of determinant 1 (up to the sign that names the same
    rotation): angles in [0, pi] (the shorter way round), shape ``(..., 3)``."""
    u = np.asarray(unitaries, dtype=np.complex128)
    a0 = np.real(np.trace(u, axis1=-2, axis2=-1)) / 2.0
    x, z, y = PAULIS[1], PAULIS[2], PAULIS[3]
    # U = a0 I - i (b . sigma) with b = sin(theta/2) n, and Tr(U sigma_k) = -2i b_k
    b = np.stack([np.real(0.5j * np.trace(u @ p, axis1=-2, axis2=-1)) for p in (x, y, z)], axis=-1)
    sign = np.where(a0 < 0.0, -1.0, 1.0)  # -U is the same rotation: keep the half-angle in [0, pi/2]
    a0, b = a0 * sign, b * sign[..., None]
    norm = np.linalg.norm(b, axis=-1)
    theta = 2.0 * np.arctan2(norm, a0)
    safe = np.where(norm > 0.0, norm, 1.0)
    return np.asarray(b / safe[..., None] * theta[..., None], dtype=np.float64)
