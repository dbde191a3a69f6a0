"""Detector blinding with faked states: Eve controls Bob's detectors with bright light.

Model (Lydersen, Wiechers, Wittmann, Elser, Skaar, Makarov, Nature Photonics 4, 686 (2010), "Hacking
commercial quantum cryptography systems by tailored bright illumination", the faked-state attack of its
main text; faked states as in Makarov, Hjelme, J. Mod. Opt. 52, 691 (2005)). Section and figure numbers are
not quoted: no copy of the papers was at hand to check them.

1. Eve blinds Bob's avalanche photodiodes with continuous bright light. They then work in linear mode,
   as classical photodiodes: a detector clicks if and only if the optical power it receives exceeds a
   threshold ``P_th``, so it never clicks on single photons, dark counts or after-pulses.
2. At Alice's output Eve measures every pulse in a random basis (Z or X with probability 1/2 each) with
   ideal detectors (efficiency 1, no dark counts): she sees a non-empty pulse with probability
   ``1 - exp(-mu)``, and her bit is Alice's when her basis is Alice's, a random bit otherwise.
3. For a fraction ``f`` of her detections she sends Bob a bright *trigger pulse* (a faked state) in her
   basis with her bit, of power ``P`` with ``P_th / (1 - e_d) < P < 2 P_th``. When Bob's basis is Eve's,
   the detector of her bit receives ``(1 - e_d) P > P_th`` and clicks, the other one ``e_d P < P_th``;
   when the bases differ each detector receives ``P / 2 < P_th`` and nothing clicks. So Bob clicks
   exactly when his basis equals Eve's, always with Eve's bit and never with a double click.
4. Eve chooses ``f`` so that Bob's signal gain is the honest one, ``f (1 - exp(-mu)) / 2 = Q_mu``, and
   flips the bit of her trigger pulse with the honest signal QBER ``E_mu`` so that the error rate looks
   honest too (she knows which bits she flipped). She cannot tell intensities apart, so every class gets
   the same ``f``: ``Q_k = f (1 - exp(-mu_k)) / 2`` for all ``k``, and the vacuum class never clicks.

Eve knows Bob's bit of every detection. The error rate and the decoy estimates pass (the weak decoy's
gain is even higher than the honest one, so the single-photon yield bound looks better than without
Eve). Two signatures remain in Bob's statistics: the gains follow ``1 - exp(-mu_k)`` (Eve's ideal
detector) instead of ``~ Y0 + eta mu_k``, and there are no dark counts: a vacuum decoy (Ma, Qi, Zhao, Lo,
PRA 72, 012326 (2005), Sec. III) gives no click at all, where an honest link shows ``Y0 = 2 p_d``. That a
blinded detector is blind to single photons and dark counts is the premise of the attack (Lydersen et al.
2010; Makarov, New J. Phys. 11, 065003 (2009)). An Eve that also fakes dark counts (trigger pulses with
random bits on empty pulses) and forwards by photon number would need photon-number-resolving detectors;
this model does not do that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import Channel
from qinternet.physics.detectors import ClickProbabilities
from qinternet.qkd.attack_trajectories import Choices, Eavesdropped, draw_choices, simulate_pulses
from qinternet.qkd.observables import mean_raw_click_prob, observed_coherent

__all__ = ["DetectorBlinding"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorBlinding:
    """Detector blinding with faked states (see the module docstring for the model and its sources).

    Attributes:
        forward_fraction: fraction ``f`` of her detections for which Eve sends a trigger pulse, in [0, 1];
            None (default) chooses it so that Bob's signal gain is the honest one.
    """

    forward_fraction: float | None = None

    def __post_init__(self) -> None:
        f = self.forward_fraction
        if f is not None and not (math.isfinite(f) and 0.0 <= f <= 1.0):
            raise ParameterError("attack.forward_fraction", f"must be in [0, 1], got {f}")

    def forwarding(self, system: QkdSystem, channel: Channel) -> float:
        """``f``: given, or ``2 Q_mu / (1 - exp(-mu))`` for the honest signal gain ``Q_mu`` (at most 1)."""
        if self.forward_fraction is not None:
            return self.forward_fraction
        mu = system.source.signal_intensity
        honest = observed_coherent(system, channel, mu, click_prob=mean_raw_click_prob(system, channel))
        return min(1.0, 2.0 * float(honest.gain) / -math.expm1(-mu))

    @staticmethod
    def flip_prob(system: QkdSystem, channel: Channel) -> float:
        """Probability that Eve flips the bit of a trigger pulse: the honest signal QBER ``E_mu``."""
        mu = system.source.signal_intensity
        honest = observed_coherent(system, channel, mu, click_prob=mean_raw_click_prob(system, channel))
        return float(honest.error_rate)

    @staticmethod
    def trigger_power(system: QkdSystem) -> float:
        """Power of a trigger pulse in units of the threshold: the middle of ``(1 / (1 - e_d), 2)``."""
        e_d = system.misalignment_error
        if not e_d < 0.5:
            raise ParameterError("misalignment_error", "detector blinding needs e_d < 1/2 (no faked state fits)")
        return 0.5 * (1.0 / (1.0 - e_d) + 2.0)

    def clicks(
        self, system: QkdSystem, channel: Channel, mu: FloatArray, error: FloatArray, dark: ArrayLike
    ) -> ClickProbabilities:
        """Bob clicks with probability ``f (1 - exp(-mu)) / 2`` in every basis pair, never twice, never dark.

        The bit is wrong with probability ``E_mu`` (Eve's flips) where the bases agree (``error < 1/2``),
        and 1/2 where they differ (Eve's basis, which is Bob's, is then not Alice's). ``dark`` is ignored:
        blinded detectors have neither dark counts nor after-pulses.
        """
        click = 0.5 * self.forwarding(system, channel) * -np.expm1(-np.asarray(mu, dtype=np.float64))
        wrong = np.where(np.asarray(error) < 0.5, self.flip_prob(system, channel), 0.5)
        click, wrong = np.broadcast_arrays(click, wrong)
        return ClickProbabilities(
            none=1.0 - click, only_correct=click * (1.0 - wrong), only_wrong=click * wrong, both=np.zeros(click.shape)
        )

    def eavesdrop(self, system: QkdSystem, channel: Channel, pulses: int, rng: np.random.Generator) -> Eavesdropped:
        """Simulate the attack pulse by pulse (steps 2-4 of the model) and return Eve's view of each click.

        Bob's detectors are simulated as threshold photodiodes receiving the powers of step 3, so that
        which detector clicks, and whether both do, follows from the optics rather than being assumed.
        """
        f = self.forwarding(system, channel)
        flip = self.flip_prob(system, channel)
        power = self.trigger_power(system)
        e_d = system.misalignment_error
        intensities = np.asarray(system.source.intensities, dtype=np.float64)

        def sample(
            n: int, gen: np.random.Generator
        ) -> tuple[Choices, NDArray[np.bool_], NDArray[np.int8], NDArray[np.bool_], NDArray[np.int8]]:
            c = draw_choices(system, n, gen)
            seen = gen.poisson(intensities[c.intensity_class]) > 0  # Eve's ideal threshold detectors
            eve_basis = gen.integers(0, 2, n, dtype=np.int8)
            # Wrong basis: every photon lands at random, and a double click gets a random bit: a random bit.
            measured = np.where(eve_basis == c.alice_basis, c.alice_bit, gen.integers(0, 2, n, dtype=np.int8))
            sent = (measured ^ (gen.random(n) < flip)).astype(np.int8)
            forwarded = seen & (gen.random(n) < f)
            # Fraction of the trigger power that reaches the detector of Eve's bit, and the other one.
            to_sent = np.where(c.bob_basis == eve_basis, 1.0 - e_d, 0.5)
            click_sent = forwarded & (power * to_sent > 1.0)
            click_other = forwarded & (power * (1.0 - to_sent) > 1.0)
            double = click_sent & click_other
            bob_bit = np.where(double, gen.integers(0, 2, n, dtype=np.int8), np.where(click_sent, sent, 1 - sent))
            return c, click_sent | click_other, bob_bit.astype(np.int8), double, sent

        return simulate_pulses(system, pulses, sample, rng)
