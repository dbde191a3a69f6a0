"""Exact waiting-time distribution and Werner parameter of the abstract repeater chain, level by level.

The deterministic algorithm of Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020), arXiv:1912.07688 (BCE),
extended with the memory cut-off as in Li, Coopmans, Elkouss, IEEE Trans. Quantum Eng. 2 (2021),
arXiv:2005.04946 (LCE). Level k is computed from level k-1 on the times t = 0 .. N-1 (attempts):

* ``p(t) = P(T = t)``, the waiting-time distribution, and ``omega(t) = p(t) W(t)``, where
  ``W(t) = E[w | T = t]`` is BCE's Werner-parameter function; the mean delivered Werner parameter is
  ``sum(omega) / sum(p)``.
* One *round* draws two independent level-(k-1) links A and B. With ``a = exp(-1 / coherence_attempts)`` and
  the cut-off ``tau``, the round

  - passes the cut-off and ends at ``max(T_A, T_B) = t`` with probability
    ``s(t) = 2 p(t) sum_{d=1..tau} p(t-d) + p(t)**2``, carrying Werner weight
    ``sigma(t) = 2 omega(t) sum_{d=1..tau} omega(t-d) a**d + omega(t)**2`` (the swap's product rule with the
    decay of the waiting link: BCE; the swap unit of LCE, Table 1);
  - is cut off at ``min(T_A, T_B) + tau = t`` with probability ``c(t) = 2 p(t - tau) P(T > t)``
    (the memory-time cut-off unit of LCE, Table 1: the earlier link has waited longer than ``tau``).

* Rounds repeat until one passes the cut-off and its swap succeeds (probability ``p_swap``); every failure
  restarts both links (BCE, LCE). With ``f = c + (1 - p_swap) s`` the duration of a failed
  round, the renewal sum over the number of failures gives (BCE's geometric series)::

      p_k = p_swap s * G,   omega_k = p_swap sigma * G,   G = sum_j f^{*j} = (delta - f)^{*-1},

  where ``*`` is convolution. As BCE do, the geometric series is summed in the Fourier domain,
  ``G = 1 / (1 - DFT(f))``, in O(N log N). The grid is periodic, so mass of the renewal sum beyond its length
  would fold back onto short times: the sums run on 2N points (the level's inputs on 0 .. N-1, padded with
  zeros), so what folds back onto 0 .. N-1 is at most ``P(T_k >= 2N)`` (plus what folded in at the levels
  below), less than the mass the truncation leaves out. That mass, ``1 - sum(p)`` over 0 .. N-1, is checked
  against the tolerance, and N grows until it is below.

The sums over the window of the cut-off, ``sum_{d=1..tau} x(t-d) a**d``, are differences of cumulative sums
without decoherence and short direct or FFT convolutions with it. A level costs five to eight real FFTs of
about 2N points.

**Memories dephased by their node's attempts** (``attempt_factor`` ``x`` < 1, sequential chains only). In NV nodes
each entanglement attempt of the node's emitter flips the phase of every qubit stored at the node with probability
``p_d`` (Kalb et al., PRA 97, 062330 (2018), eq. (2): the coherence after ``N`` attempts is
``[1 - alpha (1 - exp(-(dw tau_d)**2 / 2))]**N = (1 - 2 p_d)**N``;
:func:`qinternet.physics.memory.attempt_dephasing_prob`), which multiplies the pair's two coherence components
by ``x = 1 - 2 p_d`` per attempt (a Werner-like component run through this engine with ``x``; the Z-type one with
``x = 1``). With one communication qubit per node the halves of a swap are made in turn (sequential): A first,
then B while A waits, and A's qubit at the swapping node sees every attempt of B's *first* elementary link, over
all of B's rounds (its regenerations after failed swaps and cut-offs included), ``F_B`` of them; A's qubit at its
other end sees none (that node is idle while B is made; B's own waits are inside ``W_B``), the chain sampler's model
(:class:`qinternet.entanglement.chain.ChainModel`). So a passing round gives::

    W_S = W_A W_B a**T_B x**F_B,        and the span's own first-link attempts F_S = sum over its rounds of F_A.

``F_B`` is not a function of ``T_B`` above the lowest level (B's first link is a part of its time), so each level
also carries, beside ``p`` and ``omega``,

* ``phi(t) = E[x**F ; T = t]`` and ``psi(t) = E[W x**F ; T = t]``,

from the elementary link, where ``F = T ~ Geom(p_gen)``: ``phi(t) = x**t p(t)``, ``psi = w0 phi`` (a probability
generating function: ``sum_t phi(t) = E[x**T] = p_gen x / (1 - (1 - p_gen) x)``). A and B being independent, the
round's quantities are convolutions (``d = T_B <= tau``)::

    passed(t)   = sum_d p(t-d) p(d)                  passed_x(t) = sum_d phi(t-d) p(d)
    weight(t)   = sum_d omega(t-d) psi(d) a**d       weight_x(t) = sum_d psi(t-d) psi(d) a**d
    failed(t)   = (1 - p_swap) passed(t)   + p(t - tau)   P(T > tau)
    failed_x(t) = (1 - p_swap) passed_x(t) + phi(t - tau) P(T > tau)

and since ``x**F_S`` is a product over i.i.d. rounds, the renewal sum of each weighted law is the geometric series
of its own failed rounds::

    p' = p_swap passed G,  omega' = p_swap weight G,  G = (delta - failed)^{*-1},
    phi' = p_swap passed_x G_x,  psi' = p_swap weight_x G_x,  G_x = (delta - failed_x)^{*-1}.

On three nodes (one level, ``F_B = T_B``) this is the decay ``(a x)**d`` of the waiting link: the mean
``w0**2 E[(a x)**G]``, ``G ~ Geom(p_gen)``. With ``x = 1``, ``phi = p`` and ``psi = omega`` and the recursion is
the one above. A level costs about twice the FFTs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy import fft

from qinternet.errors import ParameterError

if TYPE_CHECKING:
    from qinternet.entanglement.abstract import AbstractChainParams

__all__ = [
    "DEFAULT_TOLERANCE",
    "MAX_TRUNCATION",
    "AnalyticChainResult",
    "TruncationError",
    "chain_distribution",
    "waiting_time_and_werner",
]

DEFAULT_TOLERANCE = 1e-9
"""Largest probability the truncated waiting-time distribution may leave out."""

MAX_TRUNCATION = 2**22
"""Longest waiting-time grid, attempts (arrays of 4 M float64 values; a few seconds per nesting level)."""

_SMALLEST_TRUNCATION = 2**10
_NEGLIGIBLE_DECAY = math.log(1e18)
"""A decay weight below exp(-this) (1e-18) of the first one is left out of the window sums."""
_DIRECT_KERNEL = 64
"""Kernels up to this length are convolved directly (faster than FFTs)."""

FloatArray = NDArray[np.float64]


class TruncationError(ParameterError):
    """The waiting time's distribution needs a grid longer than :data:`MAX_TRUNCATION` (use the Monte-Carlo
    engine): raised with the field ``engine``."""


def _window(x: FloatArray, cutoff: int | None, decay: float) -> FloatArray:
    """``sum_{d=1..min(cutoff, t)} x(t - d) decay**d`` for every t (all earlier times without a cut-off).

    Without decay, a difference of cumulative sums (O(N)); with it, a convolution with ``decay**d`` for the
    ``d`` where ``decay**d`` is above 1e-18 of the first term (direct for short kernels, else by FFT).
    """
    n = len(x)
    if decay == 1.0:
        before = np.concatenate([[0.0], np.cumsum(x)[:-1]])  # sum_{s < t} x(s)
        if cutoff is None or cutoff >= n:
            return before
        windowed = before.copy()
        windowed[cutoff:] -= before[: n - cutoff]  # sum_{t - cutoff <= s < t} x(s)
        return windowed
    width = n - 1 if cutoff is None else min(cutoff, n - 1)
    width = min(width, math.ceil(_NEGLIGIBLE_DECAY / -math.log(decay)))
    kernel = np.zeros(width + 1)
    kernel[1:] = decay ** np.arange(1, width + 1, dtype=np.float64)
    if width <= _DIRECT_KERNEL:
        return np.asarray(np.convolve(x, kernel)[:n], dtype=np.float64)
    size = fft.next_fast_len(n + width, real=True)
    return np.asarray(fft.irfft(fft.rfft(x, size) * fft.rfft(kernel, size), size)[:n], dtype=np.float64)


def _next_level(
    p: FloatArray, omega: FloatArray, p_swap: float, cutoff: int | None, decay: float
) -> tuple[FloatArray, FloatArray]:
    """Level k's ``(p, omega)`` on the same grid from level k-1's (see the module's docstring)."""
    n = len(p)
    passed = 2.0 * p * _window(p, cutoff, 1.0) + p * p
    weight = 2.0 * omega * _window(omega, cutoff, decay) + omega * omega
    failed = (1.0 - p_swap) * passed
    if cutoff is not None and cutoff < n:
        later = np.clip(1.0 - np.cumsum(p), 0.0, 1.0)  # P(T > t)
        failed[cutoff:] += 2.0 * p[: n - cutoff] * later[cutoff:]
    # The renewal sum over failed rounds, G = 1 / (1 - F), on a periodic grid of 2N (zero-padded).
    size = fft.next_fast_len(2 * n, real=True)
    renewal = 1.0 / (1.0 - fft.rfft(failed, size))
    p_next = np.clip(fft.irfft(p_swap * fft.rfft(passed, size) * renewal, size)[:n], 0.0, None)
    omega_next = np.clip(fft.irfft(p_swap * fft.rfft(weight, size) * renewal, size)[:n], 0.0, p_next)
    return p_next, omega_next


def _next_level_sequential(
    p: FloatArray, omega: FloatArray, p_swap: float, cutoff: int | None, decay: float
) -> tuple[FloatArray, FloatArray]:
    """Level k's ``(p, omega)`` when the halves are made one after the other: a round lasts ``T_A + T_B`` and A
    waits ``T_B`` (``s(t) = sum_{d <= tau} p(t - d) p(d)``, ``sigma(t) = sum_{d <= tau} omega(t - d) omega(d)
    a**d``); it is cut off when ``T_B > tau``, at ``T_A + tau`` (``c(t) = p(t - tau) P(T > tau)``). The renewal
    over failed rounds is the same as :func:`_next_level`'s."""
    n = len(p)
    size = fft.next_fast_len(2 * n, real=True)
    reach = n if cutoff is None else min(cutoff + 1, n)
    p_window = np.zeros(n)
    p_window[:reach] = p[:reach]
    o_window = np.zeros(n)
    o_window[:reach] = omega[:reach] * decay ** np.arange(reach, dtype=np.float64)
    passed = fft.irfft(fft.rfft(p, size) * fft.rfft(p_window, size), size)[:n]
    weight = fft.irfft(fft.rfft(omega, size) * fft.rfft(o_window, size), size)[:n]
    failed = (1.0 - p_swap) * passed
    if cutoff is not None and cutoff < n:
        failed[cutoff:] += p[: n - cutoff] * max(0.0, 1.0 - float(np.sum(p[: cutoff + 1])))
    renewal = 1.0 / (1.0 - fft.rfft(failed, size))
    p_next = np.clip(fft.irfft(p_swap * fft.rfft(passed, size) * renewal, size)[:n], 0.0, None)
    omega_next = np.clip(fft.irfft(p_swap * fft.rfft(weight, size) * renewal, size)[:n], 0.0, p_next)
    return p_next, omega_next


@dataclass(frozen=True, slots=True)
class _Dephased:
    """A level's laws when attempts dephase (see the module's docstring): ``p(t) = P(T = t)``,
    ``omega(t) = E[W; T = t]``, ``phi(t) = E[x**F; T = t]``, ``psi(t) = E[W x**F; T = t]`` with ``F`` the attempts
    of the span's first elementary link, float64, each of shape (N,) (``phi``, ``psi`` empty at the top level)."""

    p: FloatArray
    omega: FloatArray
    phi: FloatArray
    psi: FloatArray


def _next_level_dephased(
    level: _Dephased, p_swap: float, cutoff: int | None, decay: float, *, top: bool = False
) -> _Dephased:
    """Level k's laws from level k-1's, halves made in turn, the waiting half dephased by the attempts of the
    other half's first elementary link (the recursion of the module's docstring; as in
    :func:`_next_level_sequential`, every sum runs on a grid of 2N with its inputs on 0 .. N-1). ``top``: the
    end-to-end level, which nothing waits for: ``phi`` and ``psi`` are left empty (half the FFTs)."""
    p, omega, phi, psi = level.p, level.omega, level.phi, level.psi
    n = len(p)
    size = fft.next_fast_len(2 * n, real=True)
    reach = n if cutoff is None else min(cutoff + 1, n)
    p_window = np.zeros(n)
    p_window[:reach] = p[:reach]
    psi_window = np.zeros(n)
    psi_window[:reach] = psi[:reach] * decay ** np.arange(reach, dtype=np.float64)
    b_p, b_psi = fft.rfft(p_window, size), fft.rfft(psi_window, size)  # the second half's, d <= tau

    def on_grid(spectrum: NDArray[np.complex128]) -> FloatArray:
        return np.asarray(fft.irfft(spectrum, size)[:n], dtype=np.float64)

    beyond = 0.0 if cutoff is None else max(0.0, 1.0 - float(np.sum(p[: cutoff + 1])))  # P(T_B > tau)

    def failed_rounds(passed: FloatArray, first: FloatArray) -> NDArray[np.complex128]:
        """``p_swap / (1 - DFT(failed))``: the renewal over failed rounds (swap failed, or cut off)."""
        failed = (1.0 - p_swap) * passed
        if cutoff is not None and cutoff < n:
            failed[cutoff:] += first[: n - cutoff] * beyond
        return np.asarray(p_swap / (1.0 - fft.rfft(failed, size)), dtype=np.complex128)

    passed = on_grid(fft.rfft(p, size) * b_p)
    weight = on_grid(fft.rfft(omega, size) * b_psi)
    renewal = failed_rounds(passed, p)
    p_next = np.clip(on_grid(fft.rfft(passed, size) * renewal), 0.0, None)
    omega_next = np.clip(on_grid(fft.rfft(weight, size) * renewal), 0.0, p_next)
    if top:
        return _Dephased(p=p_next, omega=omega_next, phi=np.empty(0), psi=np.empty(0))
    passed_x = on_grid(fft.rfft(phi, size) * b_p)
    weight_x = on_grid(fft.rfft(psi, size) * b_psi)
    renewal_x = failed_rounds(passed_x, phi)
    phi_next = np.clip(on_grid(fft.rfft(passed_x, size) * renewal_x), 0.0, p_next)
    return _Dephased(
        p=p_next,
        omega=omega_next,
        phi=phi_next,
        psi=np.clip(on_grid(fft.rfft(weight_x, size) * renewal_x), 0.0, phi_next),
    )


def chain_distribution(
    params: AbstractChainParams, truncation: int, *, attempt_factor: float = 1.0
) -> tuple[FloatArray, FloatArray]:
    """``(p, omega)`` of the end-to-end link on the times 0 .. truncation-1 (attempts): ``p[t] = P(T_n = t)`` and
    ``omega[t] = P(T_n = t) E[w | T_n = t]``, exact up to floating-point rounding (no aliasing).

    ``attempt_factor`` ``x`` in [0, 1]: the waiting half of every swap is multiplied by ``x`` per attempt of the
    other half's first elementary link (memories dephased by their node's attempts; sequential chains only; the
    module's docstring). 1: no such dephasing."""
    if not 0.0 <= attempt_factor <= 1.0:
        raise ParameterError("attempt_factor", f"must be in [0, 1], got {attempt_factor}")
    if attempt_factor < 1.0 and not params.sequential:
        raise ParameterError("attempt_factor", "attempt dephasing is modelled for sequential chains only")
    t = np.arange(truncation, dtype=np.float64)
    p = np.zeros(truncation)
    # Geometric waiting time of an elementary link, on {1, 2, ...}.
    p[1:] = params.p_gen * np.exp((t[1:] - 1.0) * np.log1p(-params.p_gen)) if params.p_gen < 1.0 else 0.0
    if params.p_gen == 1.0 and truncation > 1:
        p[1] = 1.0
    omega = params.w0 * p
    if attempt_factor < 1.0:
        # F = T for an elementary link: phi(t) = x**t p(t) (0**0 = 1 at t = 0, where p is 0)
        phi = p * np.power(attempt_factor, t)
        level_x = _Dephased(p=p, omega=omega, phi=phi, psi=params.w0 * phi)
        for k in range(1, params.levels + 1):
            level_x = _next_level_dephased(
                level_x, params.p_swap, params.cutoff_attempts, params.decay_per_attempt, top=k == params.levels
            )
        return level_x.p, level_x.omega
    level = _next_level_sequential if params.sequential else _next_level
    for _ in range(params.levels):
        p, omega = level(p, omega, params.p_swap, params.cutoff_attempts, params.decay_per_attempt)
    return p, omega


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalyticChainResult:
    """The exact engine's answer.

    Attributes:
        waiting_time_pmf: ``P(T_n = t)`` for t = 0 .. truncation_attempts-1 attempts, float64, shape (N,).
        werner_weight: ``P(T_n = t) E[w | T_n = t]`` on the same times, float64, shape (N,).
        truncation_attempts: N, the grid length, attempts.
        lost_probability: ``P(T_n >= N)``, below the tolerance asked for.
        mean_waiting_attempts: ``E[T_n]`` (of the distribution on the grid, renormalised), attempts.
        p50_waiting_attempts: smallest t with ``P(T_n <= t) >= 0.5``, attempts.
        p99_waiting_attempts: smallest t with ``P(T_n <= t) >= 0.99``, attempts.
        mean_werner: mean Werner parameter of the delivered links.
        secret_key_rate_per_attempt: BB84 secret bits per attempt (the convention of BCE and LCE).
    """

    waiting_time_pmf: FloatArray
    werner_weight: FloatArray
    truncation_attempts: int
    lost_probability: float
    mean_waiting_attempts: float
    p50_waiting_attempts: int
    p99_waiting_attempts: int
    mean_werner: float
    secret_key_rate_per_attempt: float

    @property
    def werner_by_time(self) -> FloatArray:
        """BCE's Werner-parameter function ``W_n(t) = E[w | T_n = t]`` (NaN where ``P(T_n = t) = 0``)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.waiting_time_pmf > 0, self.werner_weight / self.waiting_time_pmf, np.nan)


def _power_of_two_above(x: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(x, 1.0))))


def _first_truncation(params: AbstractChainParams, tolerance: float) -> int:
    """A first grid: at least the one that holds a single elementary link's waiting time (the end-to-end link
    takes longer: ``P(T_n > t) >= (1 - p_gen)**t``), twice over."""
    if params.p_gen == 1.0:
        return _SMALLEST_TRUNCATION
    elementary = math.log(tolerance) / math.log1p(-params.p_gen)
    return max(_SMALLEST_TRUNCATION, _power_of_two_above(2.0 * elementary))


def _next_truncation(p: FloatArray, tolerance: float) -> int:
    """A longer grid after ``p`` (on a grid of N) left out more than ``tolerance``: where the geometric decay of
    the tail between N/2 and N reaches the tolerance (the tail of a renewal time decays geometrically), with
    10 % to spare (a length FFTs are fast at); four times longer while the tail is not yet decaying."""
    n = len(p)
    lost_half = 1.0 - float(np.sum(p[: n // 2]))
    lost = 1.0 - float(np.sum(p))
    if not 0.0 < lost < 0.5 * lost_half:
        return 4 * n
    per_attempt = math.log(lost / lost_half) / (n - n // 2)
    needed = n + math.log(tolerance / lost) / per_attempt
    return max(2 * n, int(fft.next_fast_len(math.ceil(1.1 * needed), real=True)))


def waiting_time_and_werner(
    params: AbstractChainParams,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    max_truncation: int = MAX_TRUNCATION,
    attempt_factor: float = 1.0,
) -> AnalyticChainResult:
    """The waiting-time distribution and Werner parameter of the chain, truncated where less than ``tolerance``
    of the probability is left out (the grid grows until it is, see :func:`_next_truncation`); ``attempt_factor``
    as in :func:`chain_distribution`.

    Raises:
        TruncationError: the grid would exceed ``max_truncation`` attempts (field ``engine``).
    """
    from qinternet.entanglement.abstract import werner_secret_fraction

    truncation = _first_truncation(params, tolerance)
    while True:
        if truncation > max_truncation:
            raise TruncationError(
                "engine",
                f"analytic: the waiting time's distribution needs more than {max_truncation:,} attempts to "
                f"leave out less than {tolerance:g} of the probability; use the monte-carlo engine",
            )
        p, omega = chain_distribution(params, truncation, attempt_factor=attempt_factor)
        covered = float(np.sum(p))
        if 1.0 - covered <= tolerance:
            break
        truncation = _next_truncation(p, tolerance)
    cdf = np.cumsum(p)
    mean_werner = float(np.sum(omega)) / covered
    mean_t = float(np.dot(np.arange(truncation, dtype=np.float64), p)) / covered
    return AnalyticChainResult(
        waiting_time_pmf=p,
        werner_weight=omega,
        truncation_attempts=truncation,
        lost_probability=max(0.0, 1.0 - covered),
        mean_waiting_attempts=mean_t,
        p50_waiting_attempts=int(np.searchsorted(cdf, 0.5 * covered)),
        p99_waiting_attempts=int(np.searchsorted(cdf, 0.99 * covered)),
        mean_werner=mean_werner,
        secret_key_rate_per_attempt=werner_secret_fraction(mean_werner) / mean_t,
    )
