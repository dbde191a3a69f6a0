"""The settings an operator runs a decoy-BB84 link at: those that maximise the finite-key rate of its block."""

from __future__ import annotations

import dataclasses
import functools

from qinternet.params import QkdSystem
from qinternet.physics.channels import Channel
from qinternet.qkd.finite_key import FiniteKeyParams, finite_key_rate

__all__ = ["tuned_system"]


@functools.lru_cache(maxsize=1024)
def tuned_system(system: QkdSystem, channel: Channel, block_pulses: float, security: FiniteKeyParams) -> QkdSystem:
    """``system`` with the basis and intensity settings that maximise the finite-key rate of a block over
    ``channel`` (a hashable channel value: the cache keys on it).

    Lim et al., PRA 89, 022307 (2014), Sec. IV: ``q_x``, the three intensities and their probabilities are
    optimised for the block size (:func:`qinternet.qkd.finite_key.finite_key_rate`). Keeps the system's own
    settings when no setting gives a key (the link is then too long anyway). Cached: links of a scenario often
    share devices and lengths, and the optimisation takes ~0.3 s.
    """
    point = finite_key_rate(system, channel, block_pulses=block_pulses, params=security)
    if point.key_rate_per_pulse <= 0.0:
        return system
    mu1, mu2, mu3 = point.intensities
    source = dataclasses.replace(
        system.source,
        signal_intensity=mu1,
        decoy_intensities=(mu2, mu3),
        intensity_probs=point.intensity_probs,
    )
    return dataclasses.replace(system, source=source, basis_prob=point.key_basis_prob)
