"""Monte-Carlo of the MDI-QKD relay: the counts of a block of pulse pairs in one multinomial draw.

A pulse pair falls in one category (Alice's intensity and basis, Bob's intensity and basis, and the relay's
outcome: nothing heralded, psi^- with the announced bit relation right or wrong, psi^+ right or wrong) with
the exact probabilities of :func:`qinternet.qkd.mdi.outcome_probabilities` (two-photon interference with the
station's visibility, detector efficiency, dark counts and misalignment included). The counts of a block of
``N`` pulse pairs are one multinomial draw over the ``K x 2 x K x 2 x 5`` categories, so a block costs the
same whatever ``N`` is. :func:`qinternet.qkd.mdi_finite.finite_key_length` (or
:func:`~qinternet.qkd.mdi_finite.asymptotic_estimate`) turns the counts into decoy bounds and a key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.params.checks import require_probability
from qinternet.params.mdi import MdiSystem
from qinternet.qkd.mdi import outcome_probabilities
from qinternet.qkd.mdi_finite import MdiCounts, source_weights

__all__ = ["MAX_PULSE_PAIRS", "MdiSampler", "compile_mdi", "sample_counts"]

FloatArray = NDArray[np.float64]

MAX_PULSE_PAIRS = 1 << 62
"""Most pulse pairs one draw accepts (numpy's multinomial counts in int64)."""

_OUTCOMES = 5
"""Per pulse pair: none, psi^- right, psi^- wrong, psi^+ right, psi^+ wrong."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MdiSampler:
    """A link compiled for sampling.

    Attributes:
        probabilities: float64, shape (K, 2, K, 2, 5): probability of each category per pulse pair
            (Alice's intensity, basis, Bob's intensity, basis, outcome), summing to 1.
    """

    probabilities: FloatArray

    @property
    def heralding_probability(self) -> float:
        """Probability that a pulse pair is heralded (any announced Bell state)."""
        return float(self.probabilities[..., 1:].sum())


def compile_mdi(system: MdiSystem, eta_a: float, eta_b: float) -> MdiSampler:
    """The category probabilities of ``system`` over arms of transmittance ``eta_a`` and ``eta_b``."""
    require_probability("eta_a", eta_a)
    require_probability("eta_b", eta_b)
    mu_a = np.asarray(system.alice.intensities, dtype=np.float64)
    mu_b = np.asarray(system.bob.intensities, dtype=np.float64)
    probs = outcome_probabilities(system.bsm, mu_a[:, None], mu_b[None, :], eta_a, eta_b)  # (ka, kb, ba, bb, bell, rw)
    probs = np.moveaxis(probs, 2, 1)  # (ka, ba, kb, bb, bell, rw)
    heralded = probs.reshape(*probs.shape[:4], 4)  # psi^- right, psi^- wrong, psi^+ right, psi^+ wrong
    none = np.maximum(1.0 - heralded.sum(axis=-1), 0.0)
    conditional = np.concatenate([none[..., None], heralded], axis=-1)
    weights = source_weights(system.alice)[:, :, None, None] * source_weights(system.bob)[None, None, :, :]
    joint = weights[..., None] * conditional
    return MdiSampler(probabilities=np.asarray(joint / joint.sum(), dtype=np.float64))


def sample_counts(sampler: MdiSampler, pulse_pairs: int, rng: np.random.Generator) -> MdiCounts:
    """The counts of ``pulse_pairs`` pulse pairs: one multinomial draw over the categories.

    Args:
        sampler: the compiled link.
        pulse_pairs: ``N``, a whole number in [1, 2**62].
        rng: the random stream.
    """
    if isinstance(pulse_pairs, bool) or not isinstance(pulse_pairs, int | np.integer):
        raise ParameterError("pulse_pairs", f"must be a whole number, got {pulse_pairs!r}")
    if not 1 <= pulse_pairs <= MAX_PULSE_PAIRS:
        raise ParameterError("pulse_pairs", f"must be in [1, 2**62], got {pulse_pairs}")
    p = sampler.probabilities
    drawn = rng.multinomial(int(pulse_pairs), p.ravel()).reshape(p.shape).astype(np.float64)
    heralded_categories = drawn[..., 1:].reshape(*p.shape[:4], 2, 2)  # (..., bell, right/wrong)
    return MdiCounts(
        sent=drawn.sum(axis=-1),
        heralded=heralded_categories.sum(axis=-1),
        errors=heralded_categories[..., 1],
    )
