"""Binary convolution mod 2 with float64 FFTs laid out in two dimensions, for Toeplitz hashing.

The wanted terms are those of the "valid" linear convolution of a long ``seed`` with a shorter ``key``
(every key bit meets a seed bit), which a cyclic convolution of any length ``N >= len(seed)`` holds without
aliasing.

Speed: a cyclic convolution of length ``N = N1 N2`` with coprime ``N1``, ``N2`` is a 2-D cyclic
convolution of shape ``(N1, N2)`` once index ``k`` is moved to ``(k mod N1, k u mod N2)`` with
``u = N1**-1 mod N2`` (a group isomorphism by the Chinese remainder theorem: Good, J. R. Stat. Soc. B
20, 361 (1958); Agarwal, Cooley, IEEE Trans. ASSP 25, 392 (1977)). The move is a shuffle of bytes with no
twiddle factors, and the batched 1-D transforms of a 2-D FFT run about three times faster than one long
1-D transform whose working set spills out of cache (pocketfft, ``N ~ 1.5e6``: 6 ms against 20 ms per
transform on one core). The float64 buffers are kept per thread between calls (up to
``_KEPT_WORKSPACE_MAX_CELLS``), which spares the page faults of fresh memory, about a quarter of a call.

Exactness: every term is an integer in ``[0, len(key)]``. The float64 FFT convolution differs from it by
at most about ``||key||_2 ||seed||_2 u log2 N <= N u log2 N`` (``u = 2**-53``; Percival, Math. Comp. 72,
387 (2003), Theorem 5.1, for radix-2 transforms), below ``1e-6`` for ``N < 2**32``, so rounding is
exact by a wide margin. The constant of that bound depends on the FFT library and its radices, so the
check that each value lies within ``_ROUNDING_MARGIN`` of an integer stays (about 2 % of a call).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import fft

__all__ = ["valid_convolution_parity"]

# Largest distance of an FFT convolution value from an integer that we accept before calling the
# float computation unreliable (the error bound above is ~1e-6 at most).
_ROUNDING_MARGIN = 0.25

# 1.5 * 2**52: adding it to a float in (-2**51, 2**51) gives a float in [2**52, 2**53), where the spacing
# is 1, so the sum is rounded to an integer and, the shift being even, its lowest mantissa bit is the
# parity of the integer nearest to the float.
_ROUNDING_SHIFT = float(3 * 2**51)

# Which byte of a float64 holds the lowest mantissa bits.
_LOW_BYTE = 0 if sys.byteorder == "little" else 7

# Below this cyclic length one 1-D transform stays in cache and the 2-D layout does not pay (measured
# crossover about 12 000).
_TWO_DIMENSIONAL_MIN_LENGTH = 1 << 14

# Radices of the transform sides (pocketfft has kernels for 2, 3, 4, 5, 7 and 11).
_RADICES = (2, 3, 5, 7, 11)

# Longest side of a 2-D shape (enough for 2**50 cells).
_MAX_SIDE = 1 << 30

# Longest side over shortest side of a 2-D shape we consider.
_MAX_ASPECT = 16

# A 2-D shape up to this fraction larger than the least one is taken if its long side has more factors
# of 2: pocketfft's radix-4 passes gain more than the few percent of extra size cost (measured 10-20 %).
_SIZE_SLACK = 0.03

# Workspaces of up to this many cells (about 35 bytes each) stay allocated in their thread between calls.
_KEPT_WORKSPACE_MAX_CELLS = 1 << 21

# Below this many cells a second thread costs more than it saves.
_THREADED_MIN_CELLS = 1 << 18

# numpy >= 2.0 writes FFTs into a given array; older numpy allocates and we copy.
_FFT_HAS_OUT = "out" in inspect.signature(np.fft.rfft).parameters


def valid_convolution_parity(seed: NDArray[np.uint8], key: NDArray[np.uint8], *, workers: int = 1) -> NDArray[np.uint8]:
    """``np.convolve(seed, key, "valid") % 2`` by FFT.

    Args:
        seed: uint8 0/1, shape (L,).
        key: uint8 0/1, shape (n,), 1 <= n <= L.
        workers: 1, or 2 (or more) to run the transforms in two threads.

    Returns:
        uint8 0/1, shape (L - n + 1,).

    Raises:
        ArithmeticError: a convolution value was not within ``_ROUNDING_MARGIN`` of an integer.
    """
    n, length = int(key.shape[0]), int(seed.shape[0])
    start, count = n - 1, length - n + 1
    plan = _plan(length)
    if plan.rows == 1:
        spectrum = fft.rfft(key.astype(np.float64), plan.cols)
        spectrum *= fft.rfft(seed.astype(np.float64), plan.cols)
        values = fft.irfft(spectrum, plan.cols, overwrite_x=True)[start : start + count]
        return _parity(values, np.empty_like(values))
    work = _workspace(plan)
    try:
        work.lay_out(plan, key, seed)
        work.convolve(workers)
        # After the inverse only key_cells is live: seed_cells, seed_spectrum and key_spectrum are scratch.
        index = plan.cell_index(start, count, out=work.seed_spectrum.view(np.intp).reshape(-1)[:count])
        values = np.take(work.key_cells.reshape(-1), index, out=work.seed_cells.reshape(-1)[:count])
        return _parity(values, work.key_spectrum.view(np.float64).reshape(-1)[:count])
    finally:
        if getattr(_KEPT, "workspace", None) is work:
            work.wipe()  # kept buffers must not hold key material between calls (about 0.5 ms at N = 1.5e6)


def _parity(values: NDArray[np.float64], scratch: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Each value rounded to the nearest integer, mod 2 (``scratch``: float64, same shape, overwritten)."""
    np.add(values, _ROUNDING_SHIFT, out=scratch)
    bits = np.asarray(scratch.view(np.uint8)[_LOW_BYTE :: scratch.itemsize] & 1, dtype=np.uint8)
    np.subtract(scratch, _ROUNDING_SHIFT, out=scratch)
    np.subtract(scratch, values, out=scratch)
    if scratch.size and float(np.max(np.abs(scratch, out=scratch))) > _ROUNDING_MARGIN:
        raise ArithmeticError("FFT convolution lost integer precision; hash smaller blocks")
    return bits


@dataclass(frozen=True, slots=True)
class _Plan:
    """A cyclic convolution of length ``rows * cols`` as a 2-D one of shape ``(rows, cols)``.

    ``rows`` and ``cols`` are coprime, and index ``k`` sits at ``(k mod rows, k * inverse mod cols)`` with
    ``inverse * rows = 1 mod cols``. That puts ``k = r + rows * t`` at column ``(r * inverse + t) mod cols``:
    row ``r`` is the stride-``rows`` slice starting at ``r``, rotated by ``r * inverse``. ``rows == 1`` is
    the plain 1-D convolution.
    """

    rows: int
    cols: int

    @property
    def size(self) -> int:
        """The cyclic length ``N``."""
        return self.rows * self.cols

    @property
    def inverse(self) -> int:
        """``rows**-1 mod cols``."""
        return pow(self.rows, -1, self.cols)

    def cell_index(self, start: int, count: int, out: NDArray[np.intp]) -> NDArray[np.intp]:
        """Flat grid index of ``k = start .. start + count - 1`` (into ``out``, shape (count,))."""
        row_cycle = (np.arange(self.rows, dtype=np.intp) + start) % self.rows * self.cols
        col_cycle = (np.arange(self.cols, dtype=np.intp) + start) * self.inverse % self.cols
        out[...] = 0
        _add_periodic(out, row_cycle)
        _add_periodic(out, col_cycle)
        return out


def _add_periodic(out: NDArray[np.intp], cycle: NDArray[np.intp]) -> None:
    """``out[j] += cycle[j mod len(cycle)]``."""
    period = cycle.shape[0]
    whole = out.shape[0] - out.shape[0] % period
    block = out[:whole].reshape(-1, period)
    np.add(block, cycle, out=block)
    np.add(out[whole:], cycle[: out.shape[0] - whole], out=out[whole:])


@dataclass(frozen=True, slots=True)
class _Workspace:
    """The buffers of one 2-D convolution of shape (rows, cols).

    Attributes:
        packed: uint8, shape (rows * cols,): seed bits times 2 plus key bits, in 1-D order.
        strided: uint8, shape (rows, cols): row r holds ``packed[r::rows]``.
        grid: uint8, shape (rows, cols): ``strided`` with each row rotated to its place.
        key_cells, seed_cells: float64, shape (rows, cols); key_cells ends up holding the convolution.
        key_spectrum, seed_spectrum: complex128, shape (rows, cols // 2 + 1).
    """

    packed: NDArray[np.uint8]
    strided: NDArray[np.uint8]
    grid: NDArray[np.uint8]
    key_cells: NDArray[np.float64]
    seed_cells: NDArray[np.float64]
    key_spectrum: NDArray[np.complex128]
    seed_spectrum: NDArray[np.complex128]

    @staticmethod
    def allocate(plan: _Plan) -> _Workspace:
        """Uninitialised buffers for ``plan``."""
        shape, half = (plan.rows, plan.cols), (plan.rows, plan.cols // 2 + 1)
        return _Workspace(
            packed=np.empty(plan.size, dtype=np.uint8),
            strided=np.empty(shape, dtype=np.uint8),
            grid=np.empty(shape, dtype=np.uint8),
            key_cells=np.empty(shape),
            seed_cells=np.empty(shape),
            key_spectrum=np.empty(half, dtype=np.complex128),
            seed_spectrum=np.empty(half, dtype=np.complex128),
        )

    def wipe(self) -> None:
        """Zero every buffer that held key bits or values derived from them."""
        for buffer in (self.packed, self.strided, self.grid, self.key_cells, self.seed_cells, self.key_spectrum):
            buffer.fill(0)

    def fits(self, plan: _Plan) -> bool:
        """Whether the buffers have ``plan``'s shape."""
        return self.grid.shape == (plan.rows, plan.cols)

    def lay_out(self, plan: _Plan, key: NDArray[np.uint8], seed: NDArray[np.uint8]) -> None:
        """``key`` and ``seed``, zero-padded to ``N``, on the grid as float64 ``key_cells``, ``seed_cells``."""
        length = seed.shape[0]
        np.copyto(self.packed[:length], seed)
        self.packed[length:] = 0
        np.left_shift(self.packed, 1, out=self.packed)
        np.bitwise_or(self.packed[: key.shape[0]], key, out=self.packed[: key.shape[0]])
        np.copyto(self.strided, self.packed.reshape(plan.cols, plan.rows).T)
        cols, inverse = plan.cols, plan.inverse
        for row in range(plan.rows):
            shift = row * inverse % cols
            self.grid[row, shift:] = self.strided[row, : cols - shift]
            self.grid[row, :shift] = self.strided[row, cols - shift :]
        np.bitwise_and(self.grid, 1, out=self.key_cells, casting="unsafe")
        np.right_shift(self.grid, 1, out=self.seed_cells, casting="unsafe")

    def convolve(self, workers: int) -> None:
        """The cyclic convolution of ``key_cells`` and ``seed_cells`` into ``key_cells``."""
        if workers <= 1 or self.grid.size < _THREADED_MIN_CELLS:
            _forward(self.key_cells, self.key_spectrum)
            _forward(self.seed_cells, self.seed_spectrum)
            np.multiply(self.key_spectrum, self.seed_spectrum, out=self.key_spectrum)
            _inverse_columns(self.key_spectrum)
            _inverse_rows(self.key_spectrum, self.key_cells)
            return
        # Two threads: numpy's FFTs release the GIL. Columns of a spectrum and rows of the cells are
        # independent, so each inverse step is split in halves.
        mid_col, mid_row = self.key_spectrum.shape[1] // 2, self.key_cells.shape[0] // 2
        with ThreadPoolExecutor(max_workers=1) as pool:
            other = pool.submit(_forward, self.seed_cells, self.seed_spectrum)
            _forward(self.key_cells, self.key_spectrum)
            other.result()
            np.multiply(self.key_spectrum, self.seed_spectrum, out=self.key_spectrum)
            other = pool.submit(_inverse_columns, self.key_spectrum[:, :mid_col])
            _inverse_columns(self.key_spectrum[:, mid_col:])
            other.result()
            other = pool.submit(_inverse_rows, self.key_spectrum[:mid_row], self.key_cells[:mid_row])
            _inverse_rows(self.key_spectrum[mid_row:], self.key_cells[mid_row:])
            other.result()


_KEPT = threading.local()


def _workspace(plan: _Plan) -> _Workspace:
    """This thread's buffers for ``plan``: those of its last call if they fit, else new ones."""
    kept: _Workspace | None = getattr(_KEPT, "workspace", None)
    if kept is not None and kept.fits(plan):
        return kept
    work = _Workspace.allocate(plan)
    _KEPT.workspace = work if plan.size <= _KEPT_WORKSPACE_MAX_CELLS else None
    return work


def _forward(cells: NDArray[np.float64], spectrum: NDArray[np.complex128]) -> None:
    """The 2-D real FFT of ``cells`` into ``spectrum`` (the half spectrum along axis 1)."""
    if _FFT_HAS_OUT:
        np.fft.rfft(cells, axis=1, out=spectrum)
        np.fft.fft(spectrum, axis=0, out=spectrum)
    else:  # pragma: no cover - numpy < 2.0
        spectrum[...] = fft.fft(fft.rfft(cells, axis=1), axis=0, overwrite_x=True)


def _inverse_columns(spectrum: NDArray[np.complex128]) -> None:
    """The inverse FFT along axis 0, in place."""
    if _FFT_HAS_OUT:
        np.fft.ifft(spectrum, axis=0, out=spectrum)
    else:  # pragma: no cover - numpy < 2.0
        spectrum[...] = fft.ifft(spectrum, axis=0)


def _inverse_rows(spectrum: NDArray[np.complex128], cells: NDArray[np.float64]) -> None:
    """The inverse real FFT along axis 1 of ``spectrum`` into ``cells``."""
    if _FFT_HAS_OUT:
        np.fft.irfft(spectrum, cells.shape[1], axis=1, out=cells)
    else:  # pragma: no cover - numpy < 2.0
        cells[...] = fft.irfft(spectrum, cells.shape[1], axis=1)


@functools.lru_cache(maxsize=64)
def _plan(length: int) -> _Plan:
    """The plan for a cyclic convolution of at least ``length`` terms."""
    if length < _TWO_DIMENSIONAL_MIN_LENGTH:
        return _Plan(rows=1, cols=fft.next_fast_len(length, real=True))
    return _Plan(*_coprime_shape(length))


def _coprime_shape(length: int) -> tuple[int, int]:
    """Coprime ``(rows, cols)``, products of ``_RADICES``, ``rows <= cols <= _MAX_ASPECT * rows``, with
    ``rows * cols >= length``: of those within ``_SIZE_SLACK`` of the least size, the one whose ``cols`` has
    the largest power of two (then the least size, then the fewest rows)."""
    side = math.isqrt(length)
    low, high = side // _MAX_ASPECT, side * _MAX_ASPECT + _MAX_ASPECT
    pairs = []
    odd = _RADICES[1:]
    for size in range(len(odd)):
        for with_two in itertools.combinations(odd, size):
            ones = _smooth_numbers((2, *with_two))
            ones = ones[(ones >= low) & (ones <= high)]
            others = _smooth_numbers(tuple(p for p in odd if p not in with_two))
            at = np.searchsorted(others, -(-length // ones))
            ones, at = ones[at < others.shape[0]], at[at < others.shape[0]]
            pairs.append(np.sort(np.stack([ones, others[at]], axis=1), axis=1))
    shapes = np.concatenate(pairs)
    shapes = shapes[shapes[:, 1] <= _MAX_ASPECT * shapes[:, 0]]
    sizes = shapes[:, 0] * shapes[:, 1]
    shapes, sizes = shapes[sizes <= sizes.min() * (1 + _SIZE_SLACK)], sizes[sizes <= sizes.min() * (1 + _SIZE_SLACK)]
    twos = np.log2(shapes[:, 1] & -shapes[:, 1])
    best = np.lexsort((shapes[:, 0], sizes, -twos))[0]
    return int(shapes[best, 0]), int(shapes[best, 1])


@functools.cache
def _smooth_numbers(radices: tuple[int, ...]) -> NDArray[np.int64]:
    """The products of powers of ``radices`` up to ``_MAX_SIDE``, ascending."""
    numbers = [1]
    for radix in radices:
        grown = []
        for number in numbers:
            while number <= _MAX_SIDE:
                grown.append(number)
                number *= radix
        numbers = grown
    return np.array(sorted(numbers), dtype=np.int64)
