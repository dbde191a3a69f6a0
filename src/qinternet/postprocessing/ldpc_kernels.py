"""Compiled sum-product decoder for :mod:`qinternet.postprocessing.ldpc` (numba kernels).

Layered (serial-check) schedule in the log domain: the checks are visited one after another and each one
updates the posterior log-likelihood ratios of its variables at once, so that the checks after it in the
same iteration already see the new values (Hocevar, "A reduced complexity decoder architecture via layered
decoding of LDPC codes", IEEE SiPS 2004; Sharon, Litsyn, Goldberger, "Efficient serial message-passing
schedules for LDPC decoding", IEEE Trans. Inf. Theory 53, 4076 (2007)). It needs about half the
iterations of the flooding schedule for the same result.

A check of degree ``d`` with incoming magnitudes ``a_j`` sends ``phi(sum_{j != i} phi(a_j))`` to its
variable ``i``, with ``phi(x) = -log tanh(x / 2)``, the sum-product rule in the log domain; the sign is
the product of the other signs and of the check's target parity. ``phi`` is read from a table indexed by
the bits of the float32 argument (:data:`PHI_TABLE_BITS` mantissa bits, i.e. a grid of relative step
``2^-PHI_TABLE_BITS`` on every octave, each cell holding ``phi`` at its geometric centre), which is
several times faster than ``log1p(2 / expm1(x))`` and moves the messages by at most about 5e-4 (the
cell's half-width times ``|phi'(x)| x <= 1``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["PHI_MAX", "PHI_MIN", "PHI_TABLE_BITS", "layered_decode", "phi_table", "syndromes"]

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]

_F = TypeVar("_F", bound=Callable[..., Any])


def _kernel(fn: _F) -> _F:
    """Compile ``fn`` with numba in nopython mode, cached on disk next to this module."""
    return cast(_F, numba.njit(cache=True, nogil=True)(fn))


PHI_MIN = 2.0**-24
"""Smallest magnitude fed to ``phi`` (``phi(2^-24) = 17.3``): magnitudes below it are raised to it."""
PHI_MAX = 30.0
"""Largest magnitude fed to ``phi`` (``phi(30) = 1.9e-13``): magnitudes above it are lowered to it."""
PHI_TABLE_BITS = 10
"""Mantissa bits of the table index: ``2^10`` cells per octave, 30 octaves from 2^-24 to 32 (120 kB)."""

_SHIFT = 23 - PHI_TABLE_BITS
_BASE = int(np.array(PHI_MIN, dtype=np.float32).view(np.int32)) >> _SHIFT


def phi_table() -> F32:
    """``phi`` on the cells of the float32 grid: float32, shape (30 * 2^PHI_TABLE_BITS + 1,).

    Cell ``k`` holds the float32 numbers whose bit pattern, shifted right by ``23 - PHI_TABLE_BITS``, is
    ``k`` more than that of :data:`PHI_MIN`; its value is ``phi`` at the geometric centre of the cell.
    """
    top = int(np.array(PHI_MAX, dtype=np.float32).view(np.int32)) >> _SHIFT
    cells = np.arange(_BASE, top + 2, dtype=np.int64)
    low = (cells << _SHIFT).astype(np.int32).view(np.float32).astype(np.float64)
    high = ((cells + 1) << _SHIFT).astype(np.int32).view(np.float32).astype(np.float64)
    x = np.sqrt(low * high)
    return np.log1p(2.0 / np.expm1(x)).astype(np.float32)


@_kernel
def _syndrome_holds(check_start: I64, edge_var: I32, hard: U8, target: U8) -> bool:
    """Whether the hard decisions have the target syndrome."""
    for c in range(check_start.size - 1):
        parity = target[c]
        for e in range(check_start[c], check_start[c + 1]):
            parity ^= hard[edge_var[e]]
        if parity:
            return False
    return True


@_kernel
def _layered(
    check_start: I64,
    edge_var: I32,
    llr: F32,
    target: U8,
    max_iterations: int,
    table: F32,
    hard: U8,
) -> tuple[int, bool]:
    """Layered sum-product decoding of one frame; ``hard`` receives the error pattern (see layered_decode)."""
    n = llr.size
    m = check_start.size - 1
    total = llr.copy()
    for v in range(n):
        hard[v] = 1 if total[v] < 0 else 0
    if _syndrome_holds(check_start, edge_var, hard, target):
        return 0, True
    check_to_var = np.zeros(edge_var.size, dtype=np.float32)
    width = 0
    for c in range(m):
        width = max(width, check_start[c + 1] - check_start[c])
    incoming = np.empty(width, dtype=np.float32)
    magnitude = np.empty(width, dtype=np.float32)
    phis = np.empty(width, dtype=np.float32)
    magnitude_bits = magnitude.view(np.int32)
    low, high = np.float32(PHI_MIN), np.float32(PHI_MAX)
    for iteration in range(1, max_iterations + 1):
        unsatisfied = 0
        for c in range(m):
            start = check_start[c]
            degree = check_start[c + 1] - start
            negative = target[c]
            phi_sum = np.float32(0.0)
            for k in range(degree):
                x = total[edge_var[start + k]] - check_to_var[start + k]
                incoming[k] = x
                negative ^= 1 if x < 0 else 0
                magnitude[k] = min(max(abs(x), low), high)
            for k in range(degree):
                p = table[(magnitude_bits[k] >> _SHIFT) - _BASE]
                phis[k] = p
                phi_sum += p
            for k in range(degree):
                magnitude[k] = min(max(phi_sum - phis[k], low), high)
            parity = 0
            for k in range(degree):
                out = table[(magnitude_bits[k] >> _SHIFT) - _BASE]
                x = incoming[k]
                if negative ^ (1 if x < 0 else 0):
                    out = -out
                check_to_var[start + k] = out
                t = x + out
                total[edge_var[start + k]] = t
                parity ^= 1 if t < 0 else 0
            unsatisfied += parity ^ target[c]
        if unsatisfied == 0:
            for v in range(n):
                hard[v] = 1 if total[v] < 0 else 0
            if _syndrome_holds(check_start, edge_var, hard, target):
                return iteration, True
    for v in range(n):
        hard[v] = 1 if total[v] < 0 else 0
    return max_iterations, _syndrome_holds(check_start, edge_var, hard, target)


def layered_decode(
    check_start: I64, edge_var: I32, llr: F32, target: U8, max_iterations: int, table: F32
) -> tuple[U8, int, bool]:
    """Layered sum-product decoding of one frame.

    Args:
        check_start: int64, shape (m + 1,): first edge of every check, then the number of edges ``E``.
        edge_var: int32, shape (E,): the variable of every edge (edges sorted by check).
        llr: float32, shape (n,): prior log-likelihood ratios ``log P(e=0) / P(e=1)``.
        target: uint8 0/1, shape (m,): the syndrome the error pattern must have.
        max_iterations: iteration limit (an iteration visits every check once).
        table: :func:`phi_table`.

    Returns:
        The error pattern (uint8 0/1, shape (n,)), the iterations run (0 if the prior's hard decisions
        already have the syndrome), and whether its syndrome is the target.
    """
    hard = np.empty(llr.size, dtype=np.uint8)
    iterations, converged = _layered(check_start, edge_var, llr, target, max_iterations, table, hard)
    return hard, int(iterations), bool(converged)


@_kernel
def _syndromes(check_start: I64, edge_var: I32, words: U8, out: U8) -> None:
    """``out[f, c]``: parity of the bits of ``words[f]`` on the edges of check ``c``."""
    for f in range(words.shape[0]):
        word = words[f]
        for c in range(check_start.size - 1):
            parity = 0
            for e in range(check_start[c], check_start[c + 1]):
                parity ^= word[edge_var[e]]
            out[f, c] = parity


def syndromes(check_start: I64, edge_var: I32, words: U8) -> U8:
    """``H x`` of every word: uint8 0/1, shape (F, m), for uint8 0/1 words of shape (F, n).

    Args:
        check_start: int64, shape (m + 1,): first edge of every check, then the number of edges ``E``.
        edge_var: int32, shape (E,): the variable of every edge (edges sorted by check).
        words: uint8 0/1, shape (F, n).
    """
    out = np.empty((words.shape[0], check_start.size - 1), dtype=np.uint8)
    _syndromes(check_start, edge_var, np.ascontiguousarray(words, dtype=np.uint8), out)
    return out
