"""Monte-Carlo of the abstract repeater chain: end-to-end links sampled in arrays, level by level.

The same model as :mod:`.analytic` (Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020), with the memory
cut-off of Li, Coopmans, Elkouss, IEEE Trans. Quantum Eng. 2 (2021); conventions in
:mod:`.abstract`), sampled without stepping through attempts:

* an elementary link's waiting time is one geometric draw (``Generator.geometric(p_gen)``);
* a level-k link is a sequence of i.i.d. *rounds*, each made of two fresh, independent level-(k-1) links
  (A, B): a round is cut off if ``|T_A - T_B| > cutoff`` and then lasts ``min + cutoff``; otherwise it lasts
  ``max(T_A, T_B)`` and its swap succeeds with probability ``p_swap``. The link's waiting time is the sum of
  the durations of the rounds up to and including the first successful one, and its Werner parameter is that
  of the successful round, ``w_A w_B exp(-|T_A - T_B| / coherence)``.

Rounds are drawn in batches (each needing two batches of level-(k-1) links, drawn the same way), and cut into
runs at the successful rounds with a cumulative sum. A run that is not finished at the end of a batch is
carried into the next batch, so every run is a complete sequence of i.i.d. rounds ending at its first success:
the sampled links are exact and independent, whatever the batch sizes. Rounds drawn after the last needed
success are discarded, which selects nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError

if TYPE_CHECKING:
    from qinternet.entanglement.abstract import AbstractChainParams

__all__ = ["MAX_ELEMENTARY_LINKS", "MAX_PAIRS", "MonteCarloChainResult", "sample_chain", "sample_links"]

MAX_PAIRS = 10**7
"""Most end-to-end links one call samples (their waiting times and Werner parameters are kept in memory)."""

MAX_ELEMENTARY_LINKS = 4 * 10**9
"""Most elementary links one call may draw (about a minute of work here); beyond, it stops with an error."""

_MAX_ROUNDS = 2**18
"""Most rounds drawn at once per level: bounds the memory to a few MB per nesting level."""

_Z95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal distribution."""

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(slots=True)
class _Sampler:
    """One sampling call's parameters and running state: the success rate seen per level (to size batches)
    and the number of elementary links drawn (against :data:`MAX_ELEMENTARY_LINKS`)."""

    params: AbstractChainParams
    rng: np.random.Generator
    max_elementary: int
    elementary: int = 0
    success_rate: dict[int, float] = field(default_factory=dict)

    def elementary_links(self, count: int) -> tuple[IntArray, FloatArray]:
        self.elementary += count
        if self.elementary > self.max_elementary:
            raise ParameterError(
                "pairs",
                f"needs more than {self.max_elementary:.3g} elementary links; ask for fewer pairs "
                "or use the analytic engine",
            )
        times = self.rng.geometric(self.params.p_gen, count).astype(np.int64)
        return times, np.full(count, float(self.params.w0))

    def links(self, level: int, count: int) -> tuple[IntArray, FloatArray]:
        """``count`` independent level-``level`` links: waiting times (int64, attempts) and Werner parameters."""
        if level == 0:
            return self.elementary_links(count)
        times = np.empty(count, dtype=np.int64)
        werner = np.empty(count, dtype=np.float64)
        filled, carried = 0, 0
        while filled < count:
            missing = count - filled
            rate = self.success_rate.get(level, 0.5)
            rounds = min(_MAX_ROUNDS, math.ceil(1.1 * missing / rate) + 16)
            duration, success, round_werner = self._rounds(level, rounds)
            ends = np.cumsum(duration) + carried  # attempts since the unfinished run began
            wins = np.flatnonzero(success)
            self.success_rate[level] = max(wins.size, 1) / rounds
            taken = wins[:missing]
            if taken.size:
                finish = ends[taken]
                times[filled : filled + taken.size] = np.diff(finish, prepend=0)
                werner[filled : filled + taken.size] = round_werner[taken]
                filled += taken.size
            # The unfinished run continues in the next batch (its attempts so far are carried).
            carried = int(ends[-1] - (ends[wins[-1]] if wins.size else 0))
        return times, werner

    def _rounds(self, level: int, rounds: int) -> tuple[IntArray, NDArray[np.bool_], FloatArray]:
        """Durations, successes and Werner parameters of ``rounds`` i.i.d. rounds at ``level``."""
        p = self.params
        t_a, w_a = self.links(level - 1, rounds)
        t_b, w_b = self.links(level - 1, rounds)
        wait = np.abs(t_a - t_b)
        duration = np.maximum(t_a, t_b)
        success = np.ones(rounds, dtype=bool) if p.p_swap == 1.0 else self.rng.random(rounds) < p.p_swap
        if p.cutoff_attempts is not None:
            cut = np.flatnonzero(wait > p.cutoff_attempts)  # the earlier link is discarded at min + cutoff
            duration[cut] = np.minimum(t_a[cut], t_b[cut]) + p.cutoff_attempts
            success[cut] = False
        werner = w_a * w_b
        if p.coherence_attempts is not None:
            werner = werner * np.exp(-wait / p.coherence_attempts)
        return duration, success, werner


def sample_links(
    params: AbstractChainParams, *, pairs: int, rng: np.random.Generator, max_elementary: int = MAX_ELEMENTARY_LINKS
) -> tuple[IntArray, FloatArray]:
    """``pairs`` independent end-to-end links: waiting times (int64, attempts, shape (pairs,)) and Werner
    parameters (float64, shape (pairs,)).

    Raises:
        ParameterError: ``pairs`` not in [1, 1e7], or the chain needs more than ``max_elementary`` elementary
            links (field ``pairs``).
    """
    if isinstance(pairs, bool) or not isinstance(pairs, int | np.integer) or not 1 <= pairs <= MAX_PAIRS:
        raise ParameterError("pairs", f"must be a whole number in [1, {MAX_PAIRS:.0e}], got {pairs!r}")
    sampler = _Sampler(params=params, rng=rng, max_elementary=max_elementary)
    return sampler.links(params.levels, int(pairs))


@dataclass(frozen=True, slots=True, kw_only=True)
class MonteCarloChainResult:
    """The Monte-Carlo engine's estimates from ``pairs`` sampled end-to-end links.

    Attributes:
        pairs: end-to-end links sampled.
        mean_waiting_attempts: sample mean of the waiting time, attempts.
        mean_waiting_ci95: its 95 % confidence interval (normal approximation, ``1.96 s / sqrt(pairs)``).
        p50_waiting_attempts: sample median (smallest t with empirical P(T <= t) >= 0.5), attempts.
        p99_waiting_attempts: sample 99th percentile (same rule), attempts.
        mean_werner: sample mean of the delivered Werner parameter.
        mean_werner_ci95: its 95 % confidence interval.
        secret_key_rate_per_attempt: BB84 secret fraction of the mean Werner parameter over the mean waiting time.
    """

    pairs: int
    mean_waiting_attempts: float
    mean_waiting_ci95: tuple[float, float]
    p50_waiting_attempts: int
    p99_waiting_attempts: int
    mean_werner: float
    mean_werner_ci95: tuple[float, float]
    secret_key_rate_per_attempt: float


def _mean_ci(values: NDArray[np.float64] | IntArray) -> tuple[float, tuple[float, float]]:
    mean = float(np.mean(values))
    half = _Z95 * float(np.std(values, ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else math.inf
    return mean, (mean - half, mean + half)


def sample_chain(params: AbstractChainParams, *, pairs: int, rng: np.random.Generator) -> MonteCarloChainResult:
    """Estimates of the waiting time and delivered Werner parameter from ``pairs`` sampled links (see
    :func:`sample_links`)."""
    from qinternet.entanglement.abstract import werner_secret_fraction

    times, werner = sample_links(params, pairs=pairs, rng=rng)
    mean_t, ci_t = _mean_ci(times)
    mean_w, ci_w = _mean_ci(werner)
    p50, p99 = np.quantile(times, [0.5, 0.99], method="inverted_cdf")
    return MonteCarloChainResult(
        pairs=len(times),
        mean_waiting_attempts=mean_t,
        mean_waiting_ci95=ci_t,
        p50_waiting_attempts=int(p50),
        p99_waiting_attempts=int(p99),
        mean_werner=mean_w,
        mean_werner_ci95=ci_w,
        secret_key_rate_per_attempt=werner_secret_fraction(mean_w) / mean_t,
    )
