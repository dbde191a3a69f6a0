"""From link statistics to decoy-state estimates and an asymptotic key rate.

The same estimator serves the Monte-Carlo (observed counts) and the analytic model (expected gains), so
that the two can be compared number for number. From counts it also checks that they are enough for the
asymptotic bounds to mean something: :func:`estimate_from_counts` and
:attr:`LinkEstimate.statistics_sufficient`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import Channel, require_scalar
from qinternet.physics.detectors import error_rate
from qinternet.qkd.decoy import DecoyBounds, finite_size_decoy_bounds, two_decoy_bounds
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.finite_key import FiniteKeyParams
from qinternet.qkd.observables import Observed, live_fraction, mean_raw_click_prob, observed_coherent
from qinternet.qkd.record import LinkCounts

__all__ = [
    "STATISTICS_FAILURE_PROB",
    "ClassStats",
    "LinkEstimate",
    "estimate_from_counts",
    "estimate_from_observables",
    "expected_estimate",
]

FloatArray = NDArray[np.float64]

STATISTICS_FAILURE_PROB = FiniteKeyParams().eps_sec
"""Probability that the finite-size decoy bounds of :func:`estimate_from_counts` miss the expected rates.

The default secrecy ``eps_sec`` of the finite-key analysis (and of ``qinternet link --eps-sec``), 1e-10:
the statistics count as sufficient at the confidence the post-processing asks of its own bounds.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassStats:
    """Statistics of one intensity class over the pulses in which Alice's and Bob's bases agree.

    Attributes:
        intensity: mean photon number of the class.
        pulses_sent: pulses of the class with matching bases (None for expected values).
        detections: detection events among them (None for expected values).
        errors: events with a wrong bit (None for expected values).
        double_clicks: events in which both detectors fired (None for expected values).
        gain: ``Q_k``, detections per pulse.
        qber: ``E_k``, errors per detection.
    """

    intensity: float
    gain: float
    qber: float
    pulses_sent: int | None = None
    detections: int | None = None
    errors: int | None = None
    double_clicks: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkEstimate:
    """Decoy-state estimates and the resulting asymptotic key rate of a link.

    Attributes:
        classes: per-class statistics, signal first.
        background_yield_lower: ``Y0^L``.
        single_photon_yield_lower: ``Y1^L``.
        single_photon_error_upper: ``e1^U``.
        single_photon_gain_lower: ``Q1^L = mu exp(-mu) Y1^L``.
        key_rate_per_pulse: secret bits per pulse sent, all classes counted (>= 0): the asymptotic formula
            on the observed rates, and 0 when ``statistics_sufficient`` is false.
        statistics_sufficient: whether the counts support the bounds above. False when a class saw no
            detection, when the observed rates are inconsistent with the model (``Y1^L <= 0`` or a
            negative error numerator), or when the finite-size bounds below leave no certified single
            photons (``Y1^L = 0``) or no certified secrecy in them (``e1^U >= 1/2``, where
            ``1 - H2(e1)`` vanishes): then the bounds above come from fluctuations of too few counts, and
            no key is claimed. Always true for expected values (infinitely many pulses).
        finite_size_single_photon_yield_lower: ``Y1^L`` that holds for the expected rates behind the counts
            except with probability :data:`STATISTICS_FAILURE_PROB`
            (:func:`qinternet.qkd.decoy.finite_size_decoy_bounds`); None for expected values.
        finite_size_single_photon_error_upper: ``e1^U`` likewise (1/2 where the finite-size ``Y1^L`` is 0).
    """

    classes: tuple[ClassStats, ...]
    background_yield_lower: float
    single_photon_yield_lower: float
    single_photon_error_upper: float
    single_photon_gain_lower: float
    key_rate_per_pulse: float
    statistics_sufficient: bool = True
    finite_size_single_photon_yield_lower: float | None = None
    finite_size_single_photon_error_upper: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _decoy_order(system: QkdSystem) -> tuple[int, int]:
    """Indices of the weak decoy ``nu1`` and the weakest decoy ``nu2`` (vacuum, ideally)."""
    intensities, probs = system.source.intensities, system.source.intensity_probs
    if len(intensities) < 3:
        raise ParameterError(
            "source.decoy_intensities",
            f"the decoy-state estimate needs two decoys (e.g. weak and vacuum), got {len(intensities) - 1}",
        )
    decoys = sorted(range(1, len(intensities)), key=lambda i: intensities[i], reverse=True)
    nu1, nu2 = decoys[0], decoys[-1]
    if intensities[nu1] + intensities[nu2] >= intensities[0] or intensities[nu1] == intensities[nu2]:
        raise ParameterError("source.decoy_intensities", "need signal > nu1 + nu2 and nu1 > nu2 (Lim et al. 2014)")
    for k in (nu1, nu2):
        if probs[k] <= 0.0:
            raise ParameterError(
                f"source.intensity_probs[{k}]",
                f"the decoy {intensities[k]:g} is used by the estimate and needs p > 0",
            )
    return nu1, nu2


def estimate_from_observables(
    system: QkdSystem,
    gains: FloatArray,
    error_weights: FloatArray,
    classes: tuple[ClassStats, ...],
    *,
    enough_events: bool = True,
    finite_size: DecoyBounds | None = None,
) -> LinkEstimate:
    """Bounds and key rate from per-class gains ``Q_k`` and error weights ``E_k Q_k`` (signal first).

    ``R = p_mu q {Q1^L [1 - H2(e1^U)] - f Q_mu H2(E_mu)}`` per pulse sent, with ``p_mu`` the probability
    of a signal pulse and ``q`` the basis-sifting factor: Ma et al., PRA 72, 012326 (2005), eq. (1), with
    the two-decoy bounds of :func:`qinternet.qkd.decoy.two_decoy_bounds`.

    Args:
        system: the source settings and ``f``.
        gains: ``Q_k``, shape (K,), signal first.
        error_weights: ``E_k Q_k``, shape (K,).
        classes: the per-class statistics to report.
        enough_events: false when the counts are too few (the key rate is then 0).
        finite_size: bounds of the counts' confidence intervals, reported, and required to leave
            single photons with ``e1^U < 1/2`` (see :class:`LinkEstimate`).
    """
    intensities = system.source.intensities
    nu1, nu2 = _decoy_order(system)
    mu = intensities[0]
    bounds = two_decoy_bounds(
        mu,
        intensities[nu1],
        intensities[nu2],
        (gains[0], gains[nu1], gains[nu2]),
        (error_weights[nu1], error_weights[nu2]),
    )
    y1 = float(bounds.single_photon_yield_lower)
    e1 = float(bounds.single_photon_error_upper)
    q1 = y1 * mu * np.exp(-mu)
    e_mu = float(error_rate(error_weights[0], gains[0]))
    sufficient = enough_events and bool(bounds.valid)
    finite_y1 = finite_e1 = None
    if finite_size is not None:
        finite_y1 = float(finite_size.single_photon_yield_lower)
        finite_e1 = float(finite_size.single_photon_error_upper)
        # Single photons left (Y1^L > 0) whose secrecy 1 - H2(e1^U) is positive (e1^U < 1/2).
        sufficient = sufficient and bool(finite_size.valid) and finite_e1 < 0.5
    rate = (
        system.source.intensity_probs[0]
        * system.sifting_factor
        * (
            q1 * (1.0 - float(binary_entropy(e1)))
            - system.ec_efficiency * float(gains[0]) * float(binary_entropy(e_mu))
        )
    )
    return LinkEstimate(
        classes=classes,
        background_yield_lower=float(bounds.background_yield_lower),
        single_photon_yield_lower=y1,
        single_photon_error_upper=e1,
        single_photon_gain_lower=float(q1),
        key_rate_per_pulse=max(float(rate), 0.0) if sufficient else 0.0,
        statistics_sufficient=sufficient,
        finite_size_single_photon_yield_lower=finite_y1,
        finite_size_single_photon_error_upper=finite_e1,
    )


def estimate_from_counts(
    system: QkdSystem, counts: LinkCounts, *, failure_prob: float = STATISTICS_FAILURE_PROB
) -> LinkEstimate:
    """Decoy estimates and key rate from the counts of a simulated (or recorded) link.

    The bounds and the key rate are the asymptotic ones (:func:`estimate_from_observables`) on the
    observed rates. The counts are judged sufficient only if the same bounds, taken at the edges of the
    rates' exact binomial confidence intervals (:func:`qinternet.qkd.decoy.finite_size_decoy_bounds`,
    failing with probability ``failure_prob`` at most), still leave single-photon events with an error
    rate below 1/2; otherwise the asymptotic ``Y1^L`` and ``e1^U`` are noise and no key is claimed.

    Args:
        system: the link's devices and settings.
        counts: per class and basis pair, pulses sent, detections, errors and double clicks.
        failure_prob: probability that the confidence intervals miss the expected rates, in (0, 1).
    """
    sent = counts.matched(counts.sent)
    detected = counts.matched(counts.detected)
    errors = counts.matched(counts.errors)
    doubles = counts.matched(counts.double_clicks)
    gains = np.where(sent > 0, detected / np.maximum(sent, 1), 0.0)
    qbers = error_rate(errors, detected)
    classes = tuple(
        ClassStats(
            intensity=intensity,
            gain=float(gains[k]),
            qber=float(qbers[k]),
            pulses_sent=int(sent[k]),
            detections=int(detected[k]),
            errors=int(errors[k]),
            double_clicks=int(doubles[k]),
        )
        for k, intensity in enumerate(system.source.intensities)
    )
    enough = bool(np.all(detected > 0))  # every class feeds the estimate or the error-correction cost
    nu1, nu2 = _decoy_order(system)
    intensities = system.source.intensities
    finite = finite_size_decoy_bounds(
        intensities[0],
        intensities[nu1],
        intensities[nu2],
        (int(sent[0]), int(sent[nu1]), int(sent[nu2])),
        (int(detected[0]), int(detected[nu1]), int(detected[nu2])),
        (int(errors[nu1]), int(errors[nu2])),
        failure_prob=failure_prob,
    )
    return estimate_from_observables(system, gains, gains * qbers, classes, enough_events=enough, finite_size=finite)


def expected_estimate(system: QkdSystem, channel: Channel) -> LinkEstimate:
    """What :func:`estimate_from_counts` gives in expectation (infinitely many pulses) over ``channel``."""
    require_scalar(channel, "expected_estimate")
    intensities = np.asarray(system.source.intensities)
    mean_click = mean_raw_click_prob(system, channel)
    seen = observed_coherent(system, channel, intensities, click_prob=mean_click)
    # Every pulse, whatever its class or bases, finds the detectors live with the same probability.
    live = live_fraction(system, np.dot(system.source.intensity_probs, seen.gain))
    seen = Observed(gain=seen.gain * live, error_weight=seen.error_weight * live)
    classes = tuple(
        ClassStats(intensity=i, gain=float(g), qber=float(e))
        for i, g, e in zip(system.source.intensities, seen.gain, seen.error_rate, strict=True)
    )
    return estimate_from_observables(system, seen.gain, seen.error_weight, classes)
