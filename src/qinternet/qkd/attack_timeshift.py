"""Time-shift attack: Eve exploits a mismatch between the efficiencies of Bob's two detectors.

Model (Qi, Fung, Lo, Ma, Quantum Inf. Comput. 7, 73 (2007), "Time-shift attack in practical quantum
cryptosystems"; demonstrated by Zhao, Fung, Qi, Chen, Lo, PRA 78, 042333 (2008), "Quantum hacking:
Experimental demonstration of time-shift attack against practical quantum-key-distribution systems").
Section and equation numbers are not quoted: no copy of the papers was at hand to check them.

Bob's two detectors (one per bit value) have detection efficiencies that depend on the arrival time of
the pulse, and their curves do not coincide. Eve delays or advances each pulse at random, with
probability 1/2 each, to one of two instants ``t_0`` and ``t_1``; at ``t_j`` detector ``j`` has Bob's
nominal efficiency ``eta_B`` and the other detector ``r eta_B``, with the *mismatch* ``r`` in [0, 1]
(``r = 1``: no mismatch; ``r = 0``: only detector ``j`` can fire). She does not measure the pulse, so
she disturbs nothing. Since shifting costs Bob detections (a fraction ``(1 - r) / 2`` to first order),
Eve also replaces the channel by a less lossy one, multiplying its transmittance by
``g = min(2 / (1 + r), 1 / T_channel)``, so that Bob's gain stays the honest one where the loss allows.
Background clicks (dark counts, after-pulses) are unaffected by the shift.

Signature: when Bob announces which slots gave a detection, Eve guesses that the bit is ``j`` for a pulse
she shifted to ``t_j``. For a coherent pulse of mean ``m = g eta mu`` at Bob and bit ``x`` the two
detectors see independent Poisson fields, of means ``m (1 - e) c`` (Alice's bit's detector) and ``m e w``
(the other), with ``(c, w) = (1, r)`` if ``x = j`` and ``(r, 1)`` otherwise, so that Bob's bit equals
Eve's guess with probability (double clicks carry a random bit)

    P = [P_c(1, r) + P_b(1, r) / 2 + P_w(r, 1) + P_b(r, 1) / 2] / [Q(1, r) + Q(r, 1)]

(``P_c``, ``P_w``, ``P_b``: only the correct detector, only the wrong one, both; ``Q`` the gain), which
is ``1 / (1 + r)`` to first order in ``m`` and without background, whatever the basis. Bob's bit values
are not biased on average (Eve's shifts are random) and the error rate is the honest one, to first order:
nothing in Alice's and Bob's statistics shows the attack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import Channel
from qinternet.physics.detectors import ClickProbabilities, mixture, threshold_clicks
from qinternet.qkd.attack_trajectories import (
    Choices,
    Eavesdropped,
    attacked_background_prob,
    draw_choices,
    simulate_pulses,
)
from qinternet.qkd.observables import link_transmittance

__all__ = ["TimeShift"]

FloatArray = NDArray[np.float64]


def _independent_clicks(mean_correct: ArrayLike, mean_wrong: ArrayLike, dark: ArrayLike) -> ClickProbabilities:
    """Outcomes of two detectors fed independent Poisson fields of the given means (photons detected)."""
    m_c = np.asarray(mean_correct, dtype=np.float64)
    m_w = np.asarray(mean_wrong, dtype=np.float64)
    return threshold_clicks(np.exp(-m_c), np.exp(-m_w), np.exp(-(m_c + m_w)), dark)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeShift:
    """Time-shift attack on detectors with efficiency mismatch (see the module docstring for the model).

    Attributes:
        mismatch: ``r``, the efficiency of the disfavoured detector over that of the favoured one at the
            instants Eve shifts pulses to, in [0, 1].
    """

    mismatch: float

    def __post_init__(self) -> None:
        r = self.mismatch
        if not (math.isfinite(r) and 0.0 <= r <= 1.0):
            raise ParameterError("attack.mismatch", f"must be in [0, 1], got {r}")

    def compensation(self, system: QkdSystem, channel: Channel) -> float:
        """``g = min(2 / (1 + r), 1 / T_channel)``: how much Eve raises the channel's transmittance."""
        transmittance = float(channel.transmittance)
        return min(2.0 / (1.0 + self.mismatch), 1.0 / transmittance)

    def _cases(
        self, system: QkdSystem, channel: Channel, mu: ArrayLike, error: ArrayLike, dark: ArrayLike
    ) -> tuple[ClickProbabilities, ClickProbabilities]:
        """Outcomes when Alice's bit is the favoured one (``x = j``) and when it is not."""
        m = self.compensation(system, channel) * link_transmittance(system, channel) * np.asarray(mu)
        e = np.asarray(error, dtype=np.float64)
        r = self.mismatch
        favoured = _independent_clicks(m * (1.0 - e), m * e * r, dark)
        disfavoured = _independent_clicks(m * (1.0 - e) * r, m * e, dark)
        return favoured, disfavoured

    def clicks(
        self, system: QkdSystem, channel: Channel, mu: FloatArray, error: FloatArray, dark: ArrayLike
    ) -> ClickProbabilities:
        """Equal mixture of the two cases: Alice's bit is the one Eve's shift favours, or it is not."""
        favoured, disfavoured = self._cases(system, channel, mu, error, dark)
        return mixture([(0.5, favoured), (0.5, disfavoured)])

    def eve_guess_prob(self, system: QkdSystem, channel: Channel, intensity: float, *, bases_agree: bool) -> float:
        """``P``: probability that Bob's bit is the one favoured by Eve's shift, given a click (closed form).

        Uses the background of the attacked link (:func:`attacked_background_prob`), as the Monte-Carlo does.
        """
        error = system.misalignment_error if bases_agree else 0.5
        dark = attacked_background_prob(system, channel, self)
        fav, dis = self._cases(system, channel, intensity, error, dark)
        hit = fav.only_correct + 0.5 * fav.both + dis.only_wrong + 0.5 * dis.both
        return float(hit / (fav.gain + dis.gain))

    def eavesdrop(self, system: QkdSystem, channel: Channel, pulses: int, rng: np.random.Generator) -> Eavesdropped:
        """Simulate the attack pulse by pulse: photons at each detector, thinned by its efficiency at ``t_j``.

        A photon reaches the detector of Alice's bit with probability ``1 - e`` and is detected with that
        detector's efficiency, so the detected photons of each detector are Poisson (thinning); each
        detector also fires on background with probability ``p_d'``. Eve's guess is the favoured bit ``j``.
        """
        intensities = np.asarray(system.source.intensities, dtype=np.float64)
        # Photons reaching Bob's detectors in units of the favoured detector's efficiency.
        at_bob = self.compensation(system, channel) * link_transmittance(system, channel)
        dark = attacked_background_prob(system, channel, self)
        e_d, r = system.misalignment_error, self.mismatch

        def sample(
            n: int, gen: np.random.Generator
        ) -> tuple[Choices, NDArray[np.bool_], NDArray[np.int8], NDArray[np.bool_], NDArray[np.int8]]:
            c = draw_choices(system, n, gen)
            shift = gen.integers(0, 2, n, dtype=np.int8)  # the detector Eve favours
            m = at_bob * intensities[c.intensity_class]
            to_zero = np.where(c.alice_basis == c.bob_basis, e_d, 0.5)  # fraction of photons going to detector 0
            to_zero = np.where(c.alice_bit == 0, 1.0 - to_zero, to_zero)
            fired = []
            for bit, share in ((0, to_zero), (1, 1.0 - to_zero)):
                efficiency = np.where(shift == bit, 1.0, r)
                fired.append((gen.poisson(m * share * efficiency) > 0) | (gen.random(n) < dark))
            zero, one = fired
            double = zero & one
            bob_bit = np.where(double, gen.integers(0, 2, n, dtype=np.int8), one.astype(np.int8))
            return c, zero | one, bob_bit.astype(np.int8), double, shift

        return simulate_pulses(system, pulses, sample, rng)
