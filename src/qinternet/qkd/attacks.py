"""Eavesdropping attacks on a weak-coherent-pulse BB84 link, as changes of what reaches Bob.

Each attack (and the honest link) is an :class:`Intervention` on the link's channel
(:mod:`qinternet.physics.channels`): it gives the click probabilities of Bob's detectors for every
(intensity, Alice's basis, Bob's basis); the Monte-Carlo samples them exactly like the honest link, so
an attack costs nothing extra per pulse. Eve's apparatus is ideal (lossless channel, perfect detectors,
quantum memory) unless said otherwise.

Attacks on Bob's detectors live in their own modules and are re-exported here:
:class:`~qinternet.qkd.attack_blinding.DetectorBlinding` and
:class:`~qinternet.qkd.attack_timeshift.TimeShift`; these can also be simulated pulse by pulse with
Eve's view of every event (:mod:`qinternet.qkd.attack_trajectories`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import Channel
from qinternet.physics.detectors import ClickProbabilities, coherent_clicks, fock_clicks, mixture
from qinternet.physics.sources import poisson_pmf
from qinternet.qkd.attack_blinding import DetectorBlinding
from qinternet.qkd.attack_timeshift import TimeShift
from qinternet.qkd.observables import link_transmittance, receiver_dark_count_prob

__all__ = [
    "ATTACKS",
    "BeamSplitting",
    "DetectorBlinding",
    "Honest",
    "InterceptResend",
    "Intervention",
    "PhotonNumberSplitting",
    "TimeShift",
    "parse_attack",
]

FloatArray = NDArray[np.float64]

_MAX_PHOTONS = 40
"""Photon numbers summed over for Fock-state attacks (Poisson tails beyond are below 1e-30 at mu <= 1)."""


class Intervention(Protocol):
    """What reaches Bob over the link's ``channel``: click probabilities for intensities ``mu`` and error
    probabilities ``error``, with the channel left alone (:class:`Honest`) or attacked.

    ``mu`` has shape (K, 1, 1) and ``error`` (1, 2, 2) (``e_d`` where the bases agree, 1/2 otherwise);
    the result broadcasts to (K, 2, 2). ``dark`` is the per-detector background probability (dark counts,
    the channel's background, after-pulses).
    """

    def clicks(
        self, system: QkdSystem, channel: Channel, mu: FloatArray, error: FloatArray, dark: ArrayLike
    ) -> ClickProbabilities: ...


@dataclass(frozen=True, slots=True)
class Honest:
    """No eavesdropper: coherent pulses through the lossy channel."""

    def clicks(
        self, system: QkdSystem, channel: Channel, mu: FloatArray, error: FloatArray, dark: ArrayLike
    ) -> ClickProbabilities:
        """Coherent states of mean ``eta mu`` at Bob."""
        return coherent_clicks(link_transmittance(system, channel) * mu, error, dark)


@dataclass(frozen=True, slots=True)
class InterceptResend:
    """Eve measures a fraction of the pulses at Alice's output in a random basis and resends her result.

    Textbook intercept-resend (Bennett, Brassard 1984; Gisin, Ribordy, Tittel, Zbinden, Rev. Mod. Phys.
    74, 145 (2002), Sec. VI.A): with an ideal detector she sees a non-empty pulse with probability
    ``1 - e^-mu``, and resends nothing when she saw nothing. To keep Bob's signal gain, she resends a
    brighter coherent pulse, ``mu' = mu / (1 - e^-mu)`` for the signal intensity (the gain is linear in the
    intensity to first order); she cannot tell intensities apart, so decoys get the same ``mu'``. Half
    the time her basis is wrong and Bob's bit is random, so the QBER rises by about
    ``fraction (1 - 2 e_d) / 4``.
    """

    fraction: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fraction) and 0.0 <= self.fraction <= 1.0):
            raise ParameterError("attack.fraction", f"must be in [0, 1], got {self.fraction}")

    @staticmethod
    def resend_intensity(system: QkdSystem) -> float:
        """The intensity Eve resends: ``mu / (1 - e^-mu)`` for the signal ``mu``."""
        mu = system.source.signal_intensity
        return mu / -math.expm1(-mu)

    def clicks(
        self, system: QkdSystem, channel: Channel, mu: FloatArray, error: FloatArray, dark: ArrayLike
    ) -> ClickProbabilities:
        """Mixture of the honest pulse, Eve's resent pulse (right or random bit) and vacuum."""
        eta = link_transmittance(system, channel)
        seen = -np.expm1(-mu)
        resent = eta * self.resend_intensity(system)
        p = self.fraction
        return mixture(
            [
                (1.0 - p, coherent_clicks(eta * mu, error, dark)),
                (0.5 * p * seen, coherent_clicks(resent, error, dark)),
                (0.5 * p * seen, coherent_clicks(resent, 0.5, dark)),
                (p * (1.0 - seen), coherent_clicks(0.0 * mu, error, dark)),
            ]
        )


@dataclass(frozen=True, slots=True)
class PhotonNumberSplitting:
    """Photon-number splitting on a lossy channel (Brassard, Lütkenhaus, Mor, Sanders, PRL 85, 1330 (2000)).

    Eve measures the photon number of each pulse without disturbing it, keeps one photon of every
    multi-photon pulse in a quantum memory and sends the rest to Bob over a lossless channel; she blocks
    single-photon pulses when she can. She forwards a fraction of the pulses chosen so that Bob's *signal*
    gain is exactly the honest one, so without decoys nothing looks wrong. She cannot tell intensities
    apart, so the decoy classes see the same fractions: their gains deviate, and the decoy estimate of
    the single-photon yield collapses (Hwang, PRL 91, 057901 (2003); Lo, Ma, Chen, PRL 94, 230504 (2005)).
    """

    def forwarding(self, system: QkdSystem, channel: Channel) -> tuple[float, float]:
        """``(f1, fm)``: fractions of single- and multi-photon pulses that Eve forwards."""
        mu = system.source.signal_intensity
        dark = receiver_dark_count_prob(system, channel)
        target = float(coherent_clicks(link_transmittance(system, channel) * mu, 0.5, dark).gain)
        n = np.arange(_MAX_PHOTONS + 1)
        p = poisson_pmf(n, mu)
        y = fock_clicks(n, system.detector.efficiency, 0.5, dark).gain  # lossless to Bob
        y0 = float(y[0])
        multi = float(np.sum(p[2:] * (y[1:-1] - y0)))
        single = float(p[1] * (y[1] - y0))
        if target - y0 <= multi:
            return 0.0, max(0.0, (target - y0) / multi)
        return min(1.0, (target - y0 - multi) / single), 1.0

    def clicks(
        self, system: QkdSystem, channel: Channel, mu: FloatArray, error: FloatArray, dark: ArrayLike
    ) -> ClickProbabilities:
        """Fock states of ``n - 1`` photons (multi-photon pulses) or 1 photon, losslessly to Bob's detectors."""
        f1, fm = self.forwarding(system, channel)
        eta_bob = system.detector.efficiency
        parts: list[tuple[ArrayLike, ClickProbabilities]] = []
        blocked = np.zeros_like(mu)
        for n in range(_MAX_PHOTONS + 1):
            p_n = poisson_pmf(n, mu)
            forwarded = 0.0 if n == 0 else (f1 if n == 1 else fm)
            sent = 1 if n == 1 else max(n - 1, 0)
            parts.append((p_n * forwarded, fock_clicks(sent, eta_bob, error, dark)))
            blocked = blocked + p_n * (1.0 - forwarded)
        parts.append((blocked, fock_clicks(0, eta_bob, error, dark)))
        return mixture(parts)


@dataclass(frozen=True, slots=True)
class BeamSplitting:
    """Eve replaces the channel by a lossless one and a beam splitter that keeps the light the channel loses.

    Bob's statistics are exactly the honest ones, so nothing reveals the attack; Eve holds a photon of a
    pulse that Bob detects with probability ``1 - exp(-mu (1 - t))`` (``t`` the channel's transmittance),
    independently of Bob's click (the two outputs of a beam splitter fed with a coherent state are
    independent coherent states). Security rests on the decoy analysis counting only single-photon
    events (Lo, Ma, Chen 2005).
    """

    def clicks(
        self, system: QkdSystem, channel: Channel, mu: FloatArray, error: FloatArray, dark: ArrayLike
    ) -> ClickProbabilities:
        """The honest statistics."""
        return Honest().clicks(system, channel, mu, error, dark)

    def eve_holds_photon(self, system: QkdSystem, channel: Channel, mu: float) -> float:
        """Probability that Eve holds a photon of a pulse of intensity ``mu``, whether or not Bob clicks."""
        fibre = float(link_transmittance(system, channel)) / system.detector.efficiency
        return 1.0 - math.exp(-mu * (1.0 - fibre))


def _number(
    name: str, key: str, build: Callable[[float], Intervention], default: Callable[[], Intervention] | None
) -> Callable[[str], Intervention]:
    """Parser of ``NAME[:[KEY=]VALUE]``; the attack's own validation errors are reported as ``--attack``'s."""

    def parse(params: str) -> Intervention:
        text = params.removeprefix(f"{key}=").strip()
        if not text and default is not None:
            return default()
        try:
            value = float(text)
        except ValueError:
            raise ParameterError("--attack", f"{name} takes a number {key} ({name}:VALUE), got {params!r}") from None
        try:
            return build(value)
        except ParameterError as error:
            raise ParameterError("--attack", f"{name}: {error.field} {error.reason}") from None

    return parse


def _no_params(name: str, build: Callable[[], Intervention]) -> Callable[[str], Intervention]:
    def parse(params: str) -> Intervention:
        if params:
            raise ParameterError("--attack", f"{name} takes no parameters, got {params!r}")
        return build()

    return parse


ATTACKS: dict[str, Callable[[str], Intervention]] = {
    "intercept-resend": _number(
        "intercept-resend", "fraction", lambda f: InterceptResend(fraction=f), lambda: InterceptResend(fraction=1.0)
    ),
    "pns": _no_params("pns", PhotonNumberSplitting),
    "beam-splitting": _no_params("beam-splitting", BeamSplitting),
    "blinding": _number("blinding", "fraction", lambda f: DetectorBlinding(forward_fraction=f), DetectorBlinding),
    "time-shift": _number("time-shift", "mismatch", lambda r: TimeShift(mismatch=r), None),
}
"""Attack names accepted by ``--attack NAME[:PARAMS]``, and their parsers."""


def parse_attack(text: str) -> Intervention:
    """``"intercept-resend:0.5"`` -> :class:`InterceptResend` (see :data:`ATTACKS`)."""
    name, colon, params = text.strip().partition(":")
    parser = ATTACKS.get(name)
    if parser is None:
        raise ParameterError("--attack", f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    if colon and not params.strip():
        raise ParameterError("--attack", f"nothing after {name + ':'!r}: give {name} alone or {name}:VALUE")
    return parser(params.strip())
