"""Monte-Carlo of the abstract repeater chain: the chain sampler of :mod:`.chain` in units of attempts.

The same model as :mod:`.analytic` (Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020), with the memory
cut-off of Li, Coopmans, Elkouss, IEEE Trans. Quantum Eng. 2 (2021); conventions in :mod:`.abstract`) is a
:class:`~qinternet.entanglement.chain.ChainModel` with one attempt per unit of time, Werner elementary links, no
swap noise, and memories that depolarise each stored qubit so that a waiting link keeps
``w exp(-wait / coherence_attempts)``: every end-to-end link is drawn by the one vectorised sampler that also
serves hardware chains (geometric attempt counts, never a step per attempt).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from qinternet.entanglement.chain import ChainModel, ElementaryLink, depolarising_decay
from qinternet.entanglement.chain import sample_chain as sample_rounds
from qinternet.errors import ParameterError
from qinternet.states import bell

if TYPE_CHECKING:
    from qinternet.entanglement.abstract import AbstractChainParams

__all__ = [
    "MAX_ELEMENTARY_LINKS",
    "MAX_PAIRS",
    "MonteCarloChainResult",
    "abstract_model",
    "sample_chain",
    "sample_links",
]

MAX_PAIRS = 10**7
"""Most end-to-end links one call samples (their waiting times and Werner parameters are kept in memory)."""

MAX_ELEMENTARY_LINKS = 4 * 10**8
"""Most elementary links one call may draw (up to a minute of work here); beyond, it stops with an error."""

_Z95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal distribution."""

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def abstract_model(params: AbstractChainParams) -> ChainModel:
    """The abstract chain as a chain model: one attempt per second, Werner links, depolarising memories."""
    coherence = params.coherence_attempts
    # each of the waiting link's two qubits keeps exp(-t / (2 c)): the link keeps w exp(-t / c)
    depolarise = depolarising_decay(None if coherence is None else 1.0 / (2.0 * coherence))

    w0 = bell.werner(params.w0)
    return ChainModel(
        links=params.segments,
        link=ElementaryLink(
            success_prob=params.p_gen,
            attempt_period_s=1.0,
            state=(float(w0[0]), float(w0[1]), float(w0[2]), float(w0[3])),
        ),
        swap_success_prob=params.p_swap,
        decay=depolarise,
        cutoff_s=None if params.cutoff_attempts is None else float(params.cutoff_attempts),
        sequential=params.sequential,
    )


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
    try:
        out = sample_rounds(abstract_model(params), int(pairs), rng, max_link_draws=max_elementary)
    except ParameterError as error:
        if error.field != "cutoff":
            raise
        reason = f"links almost never meet within the cut-off: more than {max_elementary:.3g} elementary links"
        raise ParameterError("cutoff_attempts", reason + " for the pairs asked; lengthen it") from None
    times = np.rint(out.round_s).astype(np.int64)
    werner = bell.werner_of_fidelity(out.states[:, 0])
    return times, np.asarray(werner, dtype=np.float64)


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
