"""Emitters of the entanglement layer: how many photons reach the fibre mode, per kind of communication qubit.

A node's photon reaches the fibre in the mode that can interfere with the other node's photon only if it is
emitted into the coherent part of the spectrum (zero-phonon line of a colour centre, the cycling transition of
an ion) *and* collected into the single-mode fibre. The platforms differ in those two numbers, which
:class:`~qinternet.params.hardware.EmitterParams` carries; the sources of typical values are listed per kind:

* **NV** (637 nm): Debye-Waller factor ~0.03 (about 3 % of the emission in the zero-phonon line; Riedel et
  al., PRX 7, 031040 (2017), Sec. I), collection through a solid-immersion lens of a few per cent.
* **SiV** (737 nm): Debye-Waller factor ~0.7 (Neu et al., NJP 13, 025012 (2011)); in a nanophotonic cavity
  with a tapered-fibre coupler most photons reach the fibre (Bhaskar et al., Nature 580, 60 (2020)).
* **ION** (e.g. 88Sr+ at 422 nm): branching ratio of the P1/2 -> S1/2 decay ~0.94, collection by a 0.6 NA lens
  of ~10 % of the solid angle (Stephenson et al., PRL 124, 110501 (2020)).
* **QUANTUM_DOT**: zero-phonon fraction ~0.9, fibre-coupled single-photon efficiency up to 0.57 (Tomm et al.,
  Nat. Nanotechnol. 16, 399 (2021)).
* **RB_ENSEMBLE_DLCZ**: a write pulse creates a collective excitation with a heralding (Stokes) photon with
  probability ``p`` per attempt (Duan, Lukin, Cirac, Zoller, Nature 414, 413 (2001)); cavity enhancement
  puts it into the fibre mode (Yu et al., Nature 578, 240 (2020)).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from qinternet.errors import ParameterError
from qinternet.params.hardware import EmitterKind, EmitterParams
from qinternet.physics.channels import FloatArray

__all__ = ["dlcz_multi_excitation_prob", "fibre_photon_prob", "photon_prob_per_attempt"]


def fibre_photon_prob(emitter: EmitterParams) -> float:
    """Probability that one excitation puts a photon into the fibre in the interfering mode.

    ``zero_phonon_fraction * collection_efficiency`` for single emitters (NV, SiV, ion, quantum dot; see the
    module docstring for each kind's sources). For a DLCZ ensemble it is the collection efficiency of the
    Stokes photon: the excitation itself is probabilistic (:func:`photon_prob_per_attempt`).
    """
    return emitter.zero_phonon_fraction * emitter.collection_efficiency


def photon_prob_per_attempt(emitter: EmitterParams, bright_state_population: float | None = None) -> float:
    """Probability that one attempt puts a photon into the fibre.

    Single emitters are prepared in ``sqrt(1-alpha)|dark> + sqrt(alpha)|bright>`` and excited once
    (Humphreys et al., Nature 558, 268 (2018), Fig. 1): ``alpha * fibre_photon_prob``. A DLCZ ensemble emits a
    Stokes photon with probability ``p = excitation_prob`` (Duan et al. 2001): ``p * collection_efficiency``,
    and ``bright_state_population`` must then be None.

    Raises:
        ParameterError: ``alpha`` outside [0, 1], or given for a DLCZ ensemble, or missing for a single emitter.
    """
    if emitter.kind is EmitterKind.RB_ENSEMBLE_DLCZ:
        if bright_state_population is not None:
            raise ParameterError("alpha", "a DLCZ ensemble has no bright state; its excitation_prob sets the rate")
        return emitter.excitation_prob * fibre_photon_prob(emitter)
    if bright_state_population is None:
        raise ParameterError("alpha", f"a {emitter.kind.value} emitter needs a bright-state population")
    if not 0.0 <= bright_state_population <= 1.0:
        raise ParameterError("alpha", f"must be in [0, 1], got {bright_state_population}")
    return bright_state_population * fibre_photon_prob(emitter)


def dlcz_multi_excitation_prob(excitation_prob: ArrayLike, detection_prob: ArrayLike) -> FloatArray:
    """Probability that a DLCZ herald came from two or more excitations.

    The write pulse creates ``n`` excitations (with one Stokes photon each) with thermal probability
    ``(1 - p) p**n``, so ``p`` is the probability of at least one; each photon is detected with probability
    ``eta``. Then ``P(n >= 2 | click) = 1 - (1 - p)(1 - p + p eta)``: ``p`` for ``eta = 1`` and ``2p - p**2`` for
    ``eta -> 0``. This is the multi-excitation error of the DLCZ scheme, of order ``p`` (Sangouard, Simon,
    de Riedmatten, Gisin, RMP 83, 33 (2011), Sec. III.A), here in closed form.

    Args:
        excitation_prob: ``p``, any shape, in [0, 1).
        detection_prob: ``eta``, broadcast against ``p``, in [0, 1].

    Returns:
        float array, in [0, 1].
    """
    p = np.asarray(excitation_prob, dtype=np.float64)
    eta = np.asarray(detection_prob, dtype=np.float64)
    if np.any(~((p >= 0.0) & (p < 1.0))):
        raise ParameterError("emitter.excitation_prob", "must be in [0, 1)")
    if np.any(~((eta >= 0.0) & (eta <= 1.0))):
        raise ParameterError("detection_prob", "must be in [0, 1]")
    return np.asarray(1.0 - (1.0 - p) * (1.0 - p + p * eta), dtype=np.float64)
