"""MDI-QKD key length of a block with the joint-constraint decoy bounds and the composable key-length formula.

The two analyses of a block in this package differ in their decoy bounds and in what they subtract:

* :mod:`qinternet.qkd.mdi_finite` (after Curty et al., Nat. Commun. 5, 3732 (2014)) bounds each of 13 counts
  separately with a Chernoff bound and subtracts the error-verification and privacy-amplification terms;
* :mod:`qinternet.qkd.mdi_joint` (four intensities with joint constraints: Zhou, Yu, Wang, PRA 93, 042324 (2016),
  as Yin et al., PRL 117, 190501 (2016) used it) bounds the decoy sums jointly, which is much tighter, and
  subtracts no hashing terms.

Here the tighter bounds serve the composable formula: ``Y_11^L`` and ``e_11^U`` (expected values) come from the
joint constraints, each of their :data:`~qinternet.qkd.mdi_joint.JOINT_ESTIMATES` one-sided estimates failing with
``eps_PE``; the single-photon pairs among the Z-basis signal pairs and their phase errors are then turned into
occurred numbers with the two Chernoff bounds of :mod:`qinternet.qkd.mdi_finite`; and the key length is that
module's ``l = s_11^L [1 - h(phi_11^U)] - f n_Z h(E_Z) - log2(2/eps_cor) - 2 log2(1/(2 eps_PA))``. The secrecy
is ``eps_sec = 2 k eps_PE + eps_PA`` with ``k = JOINT_ESTIMATES + 2`` estimates (as in :mod:`qinternet.qkd.mdi_finite`,
the smoothing enters twice), so ``eps_PE = eps_sec / (4 k)`` and ``eps_PA = eps_sec / 2``. The estimates and the
key length are those two modules' own; only their combination is new here, and it is qinternet's (no paper
states this exact combination), so it is checked against both: never above the joint analysis without hashing
terms, never below the separately-bounded one (tests).
"""

from __future__ import annotations

import math

import numpy as np

from qinternet.params.mdi import MdiSystem
from qinternet.qkd.mdi_finite import MdiCounts, MdiFiniteKey, MdiFiniteKeyParams, decoy_pair_counts, key_of_bounds
from qinternet.qkd.mdi_joint import JOINT_ESTIMATES, JointConstraintParams, four_intensity_key

__all__ = ["ESTIMATES", "composable_key_length"]

ESTIMATES = JOINT_ESTIMATES + 2
"""One-sided estimates that may fail: the joint constraints' and the two of the occurred single-photon events."""


def composable_key_length(counts: MdiCounts, system: MdiSystem, params: MdiFiniteKeyParams) -> MdiFiniteKey:
    """Key length of a block from its counts (module docstring), vectorised over the counts' leading axes.

    Args:
        counts: observed (or expected) counts of the block; the sources are four-intensity ones
            (:meth:`~qinternet.params.mdi.MdiSourceParams.four_intensity`).
        system: the sources (which intensity plays which role), the relay and ``f``.
        params: ``eps_sec`` and ``eps_cor``.
    """
    eps_pe = params.eps_sec / (4.0 * ESTIMATES)
    joint = four_intensity_key(counts, system, JointConstraintParams(eps_estimate=eps_pe))
    sa = system.alice.intensities[system.alice.signal_index]
    sb = system.bob.intensities[system.bob.signal_index]
    y11 = np.asarray(joint.y11_lower)
    e11 = np.asarray(joint.e11_upper)
    return key_of_bounds(
        counts,
        decoy_pair_counts(counts, system),
        system,
        params,
        y11=y11,
        ey11=e11 * y11,
        e11=e11,
        single_share=sa * sb * math.exp(-sa - sb),
        eps_pe=eps_pe,
    )
