"""Sending-or-not-sending TF-QKD with actively-odd-parity-pairing (AOPP): asymptotic key rate.

AOPP is the two-way error rejection of Xu, Yu, Jiang, Hu, Wang, "Sending-or-not-sending twin-field quantum
key distribution: Breaking the direct transmission key rate", PRA 101, 042330 (2020) (arXiv:1904.06331),
used by the SNS experiments of the same groups up to the 1,002 km record (Liu et al., PRL 130, 210801
(2023)). The raw key of SNS (:mod:`qinternet.qkd.twinfield`) has a large bit-flip error rate ``E_z``:
windows in which neither party sent (dark counts) or both sent are errors. AOPP removes most of them:

1. Bob pairs one of his bits 0 with one of his bits 1, at random (``n_g = min(n_0, n_1)`` pairs), and
   announces the positions; the pair's parity is odd by construction (*actively* odd).
2. Alice announces the parity of her two bits. If it is odd too, both keep the first bit of the pair;
   otherwise the pair is discarded.

With ``e_0`` and ``e_1`` the error rates of Bob's bits 0 and 1, a pair survives with probability
``(1 - e_0)(1 - e_1) + e_0 e_1`` and its kept bit is wrong only when both bits were:

    ``n_t' = n_g [(1 - e_0)(1 - e_1) + e_0 e_1]``,   ``E' = e_0 e_1 / [(1 - e_0)(1 - e_1) + e_0 e_1]``.

Untagged bits (one party sent a single photon, the other nothing) are never wrong, so a pair of two untagged
bits always survives; the pairing draws its bit 0 among Bob's ``n_0`` bits 0, of which ``n_01`` are untagged
(Bob sent the photon), and its bit 1 among the ``n_1`` bits 1, of which ``n_10`` are untagged (Alice sent):

    ``n_1' = n_g (n_01 / n_0) (n_10 / n_1)``.

The parity announcement costs phase information: the phase flip of the kept bit is the sum (mod 2) of the
phase flips of the two, so its rate is ``e_1'^ph = 2 e_1^ph (1 - e_1^ph)``. The key rate per window is then

    ``R = p_z^2 { n_1' [1 - H(e_1'^ph)] - f n_t' H(E') }``

with ``n_1'``, ``n_t'`` per Z-Z window. These are the quantities of the AOPP key-rate formula of Xu et al.
(2020) and of its finite-key form (Jiang, Hu, Xu, Yu, Wang, NJP 22, 053048 (2020), arXiv:1908.05670); they
are written here from the protocol as described above: the papers' text and equation numbers could not be
read, only their abstracts.

Decoy analysis (the *3-intensity* SNS protocol of the experiments,
:class:`~qinternet.params.twinfield.Sns3SourceParams`): X windows send vacuum or ``mu_1``; the strong decoy
is the Z-window state ``(1 - eps)|0><0| + eps rho(mu_z)``, whose photon-number weights are
``b_0 = 1 - eps + eps e^{-mu_z}`` and ``b_n = eps e^{-mu_z} mu_z^n / n!`` (qinternet's reading of the
"3-intensity decoy-state method" that Liu et al. name: the Z-window state is a known mixture of photon
numbers). Each party's untagged yield is bounded from the windows in which it sends ``mu_1`` (weights ``a_n``
Poisson) or its Z state while the other sends vacuum (:func:`untagged_yield_lower`). The phase-flip error
rate comes from phase-matched ``mu_1 + mu_1`` X windows as in :mod:`qinternet.qkd.twinfield`.

Functions take the arms' transmittances (fibre only; the station's detector efficiency multiplies both),
never a distance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from qinternet.errors import ParameterError
from qinternet.params.checks import require_positive
from qinternet.params.twinfield import InterferenceStationParams, Sns3SourceParams
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.tf_clicks import matched_clicks, random_phase_gain, single_photon_error_yield
from qinternet.qkd.twinfield import check_ec_efficiency, check_transmittance, phase_error_bound

__all__ = [
    "AoppDecoyEstimate",
    "AoppRatePoint",
    "PairingOutcome",
    "ZWindowEvents",
    "aopp_decoy_estimate",
    "aopp_key_rate",
    "aopp_optimal_key_rate",
    "aopp_rate",
    "odd_parity_pairing",
    "optimise_aopp",
    "paired_phase_error",
    "untagged_yield_lower",
    "z_window_events",
]

FloatArray = NDArray[np.float64]

_MU_Z_RANGE = (1e-2, 2.0)
"""Signal intensities searched; the optima found at long distance lie near 0.4-0.5 (see the tests)."""
_EPSILON_RANGE = (1e-3, 0.5)
"""Sending probabilities searched; pairing tolerates the double sends of a large ``epsilon`` (optima ~0.28)."""
_GRID = 40
"""Points per axis of the coarse (mu_z, epsilon) grid before the local refinement."""


def _ratio(numerator: ArrayLike, denominator: ArrayLike) -> FloatArray:
    """``numerator / denominator``, 0 where the denominator is 0."""
    num, den = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(den > 0.0, num / np.where(den > 0.0, den, 1.0), 0.0), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class ZWindowEvents:
    """Effective events of Z-Z windows by Bob's bit, per window (arrays broadcast together).

    Bob's bit is 0 when he sent and 1 when he did not; Alice's is 1 when she sent. So Bob's bit 0 is right
    when Alice did not send (``zero_right``) and wrong when she did (``zero_wrong``); his bit 1 is right when
    Alice sent (``one_right``) and wrong when neither sent (``one_wrong``, dark counts only).
    """

    zero_right: FloatArray
    zero_wrong: FloatArray
    one_right: FloatArray
    one_wrong: FloatArray

    @property
    def gain(self) -> FloatArray:
        """``S_z``, effective events per Z-Z window."""
        return np.asarray(self.zero_right + self.zero_wrong + self.one_right + self.one_wrong)

    @property
    def error_rate(self) -> FloatArray:
        """``E_z``, the bit-flip error rate before pairing."""
        return _ratio(self.zero_wrong + self.one_wrong, self.gain)


def z_window_events(
    eta_a: ArrayLike, eta_b: ArrayLike, mu_z: ArrayLike, sending_prob: ArrayLike, dark_count_prob: float
) -> ZWindowEvents:
    """Events of Z-Z windows, with ``eta_a``, ``eta_b`` including the detector efficiency.

    Wang, Yu, Hu, PRA 98, 062323 (2018): Alice sends with probability ``epsilon``, Bob independently too;
    the gains are those of :func:`~qinternet.qkd.tf_clicks.random_phase_gain` (independent random phases).
    """
    ea, eb = np.asarray(eta_a, dtype=np.float64), np.asarray(eta_b, dtype=np.float64)
    mu, eps = np.asarray(mu_z, dtype=np.float64), np.asarray(sending_prob, dtype=np.float64)
    stay = 1.0 - eps
    return ZWindowEvents(
        zero_right=eps * stay * random_phase_gain(ea, eb, 0.0, mu, dark_count_prob),
        zero_wrong=eps**2 * random_phase_gain(ea, eb, mu, mu, dark_count_prob),
        one_right=eps * stay * random_phase_gain(ea, eb, mu, 0.0, dark_count_prob),
        one_wrong=stay**2 * random_phase_gain(ea, eb, 0.0, 0.0, dark_count_prob),
    )


@dataclass(frozen=True, slots=True)
class PairingOutcome:
    """What AOPP leaves (in the units of its inputs: counts, or probabilities per window).

    Attributes:
        pairs: ``n_g = min(n_0, n_1)``.
        survivors: ``n_t'``, pairs whose parities agree (one key bit each).
        error_rate: ``E'``, bit-flip error rate of the survivors.
        untagged_pairs: ``n_1'``, surviving pairs of two untagged bits.
    """

    pairs: FloatArray
    survivors: FloatArray
    error_rate: FloatArray
    untagged_pairs: FloatArray


def odd_parity_pairing(
    bits_zero: ArrayLike,
    bits_one: ArrayLike,
    errors_zero: ArrayLike,
    errors_one: ArrayLike,
    untagged_zero: ArrayLike,
    untagged_one: ArrayLike,
) -> PairingOutcome:
    """AOPP on ``n_0`` bits 0 and ``n_1`` bits 1 of Bob (module docstring); arrays broadcast together.

    Args:
        bits_zero, bits_one: ``n_0``, ``n_1``.
        errors_zero, errors_one: how many of them are wrong (``e_0 n_0``, ``e_1 n_1``).
        untagged_zero, untagged_one: how many are untagged (``n_01``, ``n_10``).

    The formulas are linear in a common scale, so counts and per-window probabilities both work.
    """
    n_0, n_1 = np.asarray(bits_zero, dtype=np.float64), np.asarray(bits_one, dtype=np.float64)
    e_0, e_1 = _ratio(errors_zero, n_0), _ratio(errors_one, n_1)
    pairs = np.minimum(n_0, n_1)
    keep = (1.0 - e_0) * (1.0 - e_1) + e_0 * e_1
    untagged = pairs * _ratio(untagged_zero, n_0) * _ratio(untagged_one, n_1)
    return PairingOutcome(
        pairs=np.asarray(pairs),
        survivors=np.asarray(pairs * keep),
        error_rate=_ratio(e_0 * e_1, keep),
        untagged_pairs=np.asarray(np.minimum(untagged, pairs * keep)),
    )


def paired_phase_error(phase_error: ArrayLike) -> FloatArray:
    """``e_1'^ph = 2 e (1 - e)``: the kept bit's phase flip is the sum of the pair's two (Xu et al. 2020)."""
    e = np.clip(np.asarray(phase_error, dtype=np.float64), 0.0, 0.5)
    return np.asarray(2.0 * e * (1.0 - e))


def untagged_yield_lower(
    weak_gain: ArrayLike,
    strong_gain: ArrayLike,
    vacuum_gain: ArrayLike,
    *,
    mu_1: ArrayLike,
    mu_z: ArrayLike,
    sending_prob: ArrayLike,
) -> FloatArray:
    """Lower bound on one party's untagged yield ``s_1`` from the 3-intensity decoy states.

    With the weak decoy's photon-number weights ``a_n = e^{-mu_1} mu_1^n / n!`` and the Z-window state's
    ``b_0 = 1 - eps + eps e^{-mu_z}``, ``b_n = eps e^{-mu_z} mu_z^n / n!`` (n >= 1), the gains are
    ``S_w = sum a_n s_n`` and ``S_z = sum b_n s_n`` with ``s_0`` the vacuum gain. Because ``b_n / a_n`` grows
    with ``n`` (``mu_z > mu_1``), ``b_2 a_n - a_2 b_n <= 0`` for ``n >= 2`` and

        ``s_1 >= [b_2 (S_w - a_0 s_0) - a_2 (S_z - b_0 s_0)] / (a_1 b_2 - a_2 b_1)``,

    a two-decoy bound in the manner of Wang, PRL 94, 230503 (2005), with a mixed strong decoy; with
    ``eps = 1`` it is the vacuum + weak decoy bound of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), eq. (34).
    Clipped at 0.
    """
    m1, mz, eps = (np.asarray(v, dtype=np.float64) for v in (mu_1, mu_z, sending_prob))
    a0, b_scale = np.exp(-m1), eps * np.exp(-mz)
    a1, a2 = a0 * m1, a0 * m1**2 / 2.0
    b0, b1, b2 = 1.0 - eps + b_scale, b_scale * mz, b_scale * mz**2 / 2.0
    s0 = np.asarray(vacuum_gain, dtype=np.float64)
    numerator = b2 * (np.asarray(weak_gain) - a0 * s0) - a2 * (np.asarray(strong_gain) - b0 * s0)
    return np.asarray(np.maximum(numerator / (a1 * b2 - a2 * b1), 0.0), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class AoppDecoyEstimate:
    """Observed X-window and mixed-window gains and the bounds on the untagged bits (arrays).

    Attributes:
        vacuum_gain: ``S_00``, both send vacuum in X windows.
        weak_gains: ``(S_A, S_B)``, Alice (or Bob) sends ``mu_1`` and the other vacuum.
        strong_gains: ``(S_A, S_B)``, Alice (or Bob) is in a Z window and the other sends vacuum.
        matched_error_gain: ``T_X1``, wrong-detector events of phase-matched ``mu_1 + mu_1`` windows.
        untagged_yield_lower: ``(s_A^L, s_B^L)``, Alice's and Bob's untagged yields.
        phase_error_upper: ``e_1^{ph,U}`` of untagged bits (1/2 where no yield is bounded).
        untagged_yield: ``(s_A, s_B)`` of the click model (the true values the bounds must bracket).
        phase_error: ``e_1^ph`` of the click model.
    """

    vacuum_gain: FloatArray
    weak_gains: tuple[FloatArray, FloatArray]
    strong_gains: tuple[FloatArray, FloatArray]
    matched_error_gain: FloatArray
    untagged_yield_lower: tuple[FloatArray, FloatArray]
    phase_error_upper: FloatArray
    untagged_yield: tuple[FloatArray, FloatArray]
    phase_error: FloatArray


def aopp_decoy_estimate(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    *,
    mu_1: float,
    mu_z: ArrayLike,
    sending_prob: ArrayLike,
    station: InterferenceStationParams,
) -> AoppDecoyEstimate:
    """The observables of the click model and the 3-intensity bounds (module docstring).

    Args:
        eta_a, eta_b: transmittances of the arms (fibre only), broadcast with ``mu_z`` and ``sending_prob``.
        mu_1: the weak decoy intensity, ``0 < mu_1``; every ``mu_z`` must exceed it.
        mu_z, sending_prob: the Z-window settings (they make the strong decoy).
        station: Charlie.
    """
    require_positive("mu_1", mu_1)
    mu = np.asarray(mu_z, dtype=np.float64)
    if np.any(~(mu > mu_1)):
        raise ParameterError("mu_z", f"must exceed mu_1 = {mu_1} for the decoy bound")
    p_d, eff = station.detector.dark_count_prob, station.detector.efficiency
    ea = check_transmittance("eta_a", eta_a) * eff
    eb = check_transmittance("eta_b", eta_b) * eff
    eps = np.asarray(sending_prob, dtype=np.float64)
    vacuum = random_phase_gain(ea, eb, 0.0, 0.0, p_d)
    weak = (random_phase_gain(ea, eb, mu_1, 0.0, p_d), random_phase_gain(ea, eb, 0.0, mu_1, p_d))
    strong = (
        (1.0 - eps) * vacuum + eps * random_phase_gain(ea, eb, mu, 0.0, p_d),
        (1.0 - eps) * vacuum + eps * random_phase_gain(ea, eb, 0.0, mu, p_d),
    )
    bounds = tuple(
        untagged_yield_lower(w, s, vacuum, mu_1=mu_1, mu_z=mu, sending_prob=eps)
        for w, s in zip(weak, strong, strict=True)
    )
    phases = {
        "dark_count_prob": p_d,
        "misalignment_error": station.misalignment_error,
        "phase_noise_rad": station.phase_noise_rad,
        "phase_slice_rad": station.phase_slice_rad,
    }
    matched = matched_clicks(ea, eb, mu_1, mu_1, **phases)
    s_avg, error_yield = single_photon_error_yield(ea, eb, **phases)
    s_a = single_photon_error_yield(ea, ea, **phases)[0]
    s_b = single_photon_error_yield(eb, eb, **phases)[0]
    return AoppDecoyEstimate(
        vacuum_gain=vacuum,
        weak_gains=weak,
        strong_gains=strong,
        matched_error_gain=matched.error_gain,
        untagged_yield_lower=(bounds[0], bounds[1]),
        phase_error_upper=phase_error_bound(mu_1, matched.error_gain, vacuum, 0.5 * (bounds[0] + bounds[1])),
        untagged_yield=(np.asarray(s_a), np.asarray(s_b)),
        phase_error=_ratio(error_yield, s_avg),
    )


@dataclass(frozen=True, slots=True)
class _AoppTerms:
    events: ZWindowEvents
    pairing: PairingOutcome
    phase_error: FloatArray
    rate: FloatArray


def _aopp_terms(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    mu_z: ArrayLike,
    sending_prob: ArrayLike,
    decoy: AoppDecoyEstimate,
    z_window_prob: float,
    station: InterferenceStationParams,
    ec_efficiency: float,
) -> _AoppTerms:
    eff = station.detector.efficiency
    mu, eps = np.asarray(mu_z, dtype=np.float64), np.asarray(sending_prob, dtype=np.float64)
    events = z_window_events(
        np.asarray(eta_a) * eff, np.asarray(eta_b) * eff, mu, eps, station.detector.dark_count_prob
    )
    untagged_weight = eps * (1.0 - eps) * mu * np.exp(-mu)  # one sends a single photon, the other nothing
    s_a, s_b = decoy.untagged_yield_lower
    pairing = odd_parity_pairing(
        events.zero_right + events.zero_wrong,
        events.one_right + events.one_wrong,
        events.zero_wrong,
        events.one_wrong,
        untagged_weight * s_b,  # Bob's bit 0 is untagged when Bob sent the single photon
        untagged_weight * s_a,
    )
    phase = paired_phase_error(decoy.phase_error_upper)
    rate = z_window_prob**2 * (
        pairing.untagged_pairs * (1.0 - binary_entropy(phase))
        - ec_efficiency * pairing.survivors * binary_entropy(pairing.error_rate)
    )
    rate = np.where(np.isfinite(rate) & (rate > 0.0), rate, 0.0)
    return _AoppTerms(events=events, pairing=pairing, phase_error=phase, rate=np.asarray(rate, dtype=np.float64))


def aopp_rate(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    mu_z: ArrayLike,
    sending_prob: ArrayLike,
    *,
    mu_1: float,
    z_window_prob: float,
    station: InterferenceStationParams,
    ec_efficiency: float,
) -> FloatArray:
    """``R = p_z^2 {n_1' [1 - H(e_1'^ph)] - f n_t' H(E')}`` per window, 0 where negative (module docstring).

    Vectorised: ``eta_a``, ``eta_b``, ``mu_z`` and ``sending_prob`` broadcast together.
    """
    decoy = aopp_decoy_estimate(eta_a, eta_b, mu_1=mu_1, mu_z=mu_z, sending_prob=sending_prob, station=station)
    return _aopp_terms(eta_a, eta_b, mu_z, sending_prob, decoy, z_window_prob, station, ec_efficiency).rate


@dataclass(frozen=True, slots=True, kw_only=True)
class AoppRatePoint:
    """The asymptotic AOPP key rate at one channel, with the settings and the quantities behind it.

    Attributes:
        eta_a, eta_b: transmittances of the arms (fibre only).
        key_rate_per_pulse: secret bits per time window (>= 0).
        signal_intensity, sending_prob: ``mu_z``, ``epsilon``.
        z_gain, z_error_rate: ``S_z`` and ``E_z`` before pairing.
        pairs, survivors, untagged_pairs: ``n_g``, ``n_t'``, ``n_1'`` per Z-Z window.
        error_rate_after_pairing: ``E'``.
        phase_error_upper: ``e_1^{ph,U}`` before pairing; ``phase_error_after_pairing`` is ``e_1'^ph``.
        untagged_yield_lower: mean of Alice's and Bob's ``s^L``; ``untagged_yield`` the click model's mean.
    """

    eta_a: float
    eta_b: float
    key_rate_per_pulse: float
    signal_intensity: float
    sending_prob: float
    z_gain: float
    z_error_rate: float
    pairs: float
    survivors: float
    untagged_pairs: float
    error_rate_after_pairing: float
    phase_error_upper: float
    phase_error_after_pairing: float
    untagged_yield_lower: float
    untagged_yield: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _checked(eta_a: ArrayLike, eta_b: ArrayLike, ec_efficiency: float) -> tuple[FloatArray, FloatArray]:
    check_ec_efficiency(ec_efficiency)
    ea, eb = check_transmittance("eta_a", eta_a), check_transmittance("eta_b", eta_b)
    try:
        return np.broadcast_arrays(ea, eb)  # type: ignore[return-value]
    except ValueError:
        raise ParameterError("eta_b", f"shape {eb.shape} does not broadcast with eta_a's {ea.shape}") from None


def _point(
    eta_a: float,
    eta_b: float,
    mu_z: float,
    epsilon: float,
    source: Sns3SourceParams,
    station: InterferenceStationParams,
    ec_efficiency: float,
) -> AoppRatePoint:
    decoy = aopp_decoy_estimate(
        eta_a, eta_b, mu_1=source.decoy_intensity, mu_z=mu_z, sending_prob=epsilon, station=station
    )
    terms = _aopp_terms(eta_a, eta_b, mu_z, epsilon, decoy, source.z_window_prob, station, ec_efficiency)
    return AoppRatePoint(
        eta_a=eta_a,
        eta_b=eta_b,
        key_rate_per_pulse=float(terms.rate),
        signal_intensity=mu_z,
        sending_prob=epsilon,
        z_gain=float(terms.events.gain),
        z_error_rate=float(terms.events.error_rate),
        pairs=float(terms.pairing.pairs),
        survivors=float(terms.pairing.survivors),
        untagged_pairs=float(terms.pairing.untagged_pairs),
        error_rate_after_pairing=float(terms.pairing.error_rate),
        phase_error_upper=float(decoy.phase_error_upper),
        phase_error_after_pairing=float(terms.phase_error),
        untagged_yield_lower=0.5 * float(decoy.untagged_yield_lower[0] + decoy.untagged_yield_lower[1]),
        untagged_yield=0.5 * float(decoy.untagged_yield[0] + decoy.untagged_yield[1]),
    )


def aopp_key_rate(
    eta_a: float,
    eta_b: float,
    source: Sns3SourceParams,
    station: InterferenceStationParams,
    *,
    ec_efficiency: float,
) -> AoppRatePoint:
    """The asymptotic AOPP key rate with the source's own ``mu_z`` and ``epsilon`` (nothing optimised)."""
    ea, eb = _checked(eta_a, eta_b, ec_efficiency)
    return _point(float(ea), float(eb), source.signal_intensity, source.sending_prob, source, station, ec_efficiency)


def _best_settings(
    eta_a: float,
    eta_b: float,
    source: Sns3SourceParams,
    station: InterferenceStationParams,
    ec_efficiency: float,
) -> tuple[float, float, float]:
    """``(mu_z, epsilon, rate)`` maximising the rate: a log grid, then Nelder-Mead in log space."""
    low = (max(_MU_Z_RANGE[0], 1.01 * source.decoy_intensity), _EPSILON_RANGE[0])
    high = (max(_MU_Z_RANGE[1], 2.0 * low[0]), _EPSILON_RANGE[1])

    def rate(mu: FloatArray, eps: FloatArray) -> FloatArray:
        return aopp_rate(
            eta_a,
            eta_b,
            mu,
            eps,
            mu_1=source.decoy_intensity,
            z_window_prob=source.z_window_prob,
            station=station,
            ec_efficiency=ec_efficiency,
        )

    mus = np.geomspace(low[0], high[0], _GRID)
    eps = np.geomspace(low[1], high[1], _GRID)
    grid = rate(mus[:, None], eps[None, :])
    i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
    if not grid[i, j] > 0.0:
        return float("nan"), float("nan"), 0.0
    log_low, log_high = np.log(low), np.log(high)

    def loss(z: FloatArray) -> float:
        mu, ep = np.exp(np.clip(z, log_low, log_high))
        return -float(rate(np.asarray(mu), np.asarray(ep))) / float(grid[i, j])

    result = optimize.minimize(
        loss, np.log([mus[i], eps[j]]), method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-10}
    )
    mu_best, eps_best = np.exp(np.clip(result.x, log_low, log_high))
    best = float(rate(np.asarray(mu_best), np.asarray(eps_best)))
    if best < grid[i, j]:
        return float(mus[i]), float(eps[j]), float(grid[i, j])
    return float(mu_best), float(eps_best), best


def optimise_aopp(
    eta_a: float,
    eta_b: float,
    source: Sns3SourceParams,
    station: InterferenceStationParams,
    *,
    ec_efficiency: float,
) -> AoppRatePoint:
    """The asymptotic AOPP key rate with ``mu_z`` and ``epsilon`` optimised for the channel.

    ``mu_1`` and ``p_z`` stay the source's. Where no setting gives key, the point carries the source's
    settings and a zero rate.
    """
    ea, eb = _checked(eta_a, eta_b, ec_efficiency)
    mu, eps, _ = _best_settings(float(ea), float(eb), source, station, ec_efficiency)
    if not math.isfinite(mu):
        mu, eps = source.signal_intensity, source.sending_prob
    return _point(float(ea), float(eb), mu, eps, source, station, ec_efficiency)


def aopp_optimal_key_rate(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    source: Sns3SourceParams,
    station: InterferenceStationParams,
    *,
    ec_efficiency: float,
) -> FloatArray:
    """Optimised asymptotic AOPP key rate per window for arrays of arm transmittances (same shape out)."""
    ea, eb = _checked(eta_a, eta_b, ec_efficiency)
    out = np.empty(ea.shape, dtype=np.float64)
    for index in np.ndindex(ea.shape):
        out[index] = _best_settings(float(ea[index]), float(eb[index]), source, station, ec_efficiency)[2]
    return out
