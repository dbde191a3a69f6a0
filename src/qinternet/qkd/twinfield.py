"""Sending-or-not-sending (SNS) twin-field QKD: asymptotic key rate with its decoy-state analysis.

The protocol of Wang, Yu, Hu, "Twin-field quantum key distribution with large misalignment error",
PRA 98, 062323 (2018): in each time window Alice and Bob independently choose
a Z window (probability ``p_z``) or an X window. In a Z window a party *sends* a phase-randomised coherent
pulse of intensity ``mu_z`` with probability ``epsilon`` - Alice's bit 1, Bob's bit 0 - or sends nothing.
Charlie interferes the pulses and announces effective events (one detector, and only one, clicks).
In Z windows in which both parties chose Z, the bits agree exactly when one party sent and the other did
not; *untagged* bits are those in which the sender's pulse held a single photon.

The key rate per time window (the key-rate formula of Wang et al. 2018, written per window with the
``p_z^2`` of Z-Z windows as in the SNS analyses that followed it, e.g. Yu et al., "Sending-or-not-sending
twin-field quantum key distribution in practice", Sci. Rep. 9, 3080 (2019)) is

    ``R = p_z^2 { n_1 [1 - H(e_1^ph)] - f S_z H(E_z) }``,   ``n_1 = 2 epsilon (1 - epsilon) mu_z e^{-mu_z} s_1``,

with ``S_z`` the gain of Z-Z windows and ``E_z`` their bit-flip error rate,

    ``S_z E_z = (1 - epsilon)^2 S_00 + epsilon^2 S_zz``

(both silent: only dark counts; both sending: either detector), ``s_1`` the yield of the untagged state
``(|01><01| + |10><10|)/2`` and ``e_1^ph`` its phase-flip error rate. Neither ``s_1`` nor ``e_1^ph`` is
observed; the decoy-state method of Wang et al. (2018) bounds them from X windows:

* windows where one party sends ``mu_k`` and the other vacuum carry ``sum_n e^{-mu_k} mu_k^n/n! rho_n``
  with ``rho_n = (|n0><n0| + |0n><0n|)/2``, so their gains ``S_Xk`` (and ``S_X0`` of vacuum + vacuum)
  give the vacuum + weak-decoy bound of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), eq. (34), with the
  intensities ``mu_2 > mu_1 > 0``:

    ``s_1 >= s_1^L = [mu_2^2 e^{mu_1} S_X1 - mu_1^2 e^{mu_2} S_X2 - (mu_2^2 - mu_1^2) S_X0]
    / [mu_1 mu_2 (mu_2 - mu_1)]``;

* windows where both send ``mu_1`` with matching phases (``|theta_A - theta_B| <= D/2`` mod pi) carry a
  single photon in ``(|01> + e^{i delta}|10>)/sqrt 2`` with weight ``2 mu_1 e^{-2 mu_1}`` and vacuum with
  ``e^{-2 mu_1}`` (whose clicks are errors half the time), so their error gain ``T_X1`` bounds

    ``e_1^ph <= e_1^{ph,U} = [T_X1 - e^{-2 mu_1} S_X0 / 2] / [2 mu_1 e^{-2 mu_1} s_1^L]``.

Observed quantities are the expected values of the click model of :mod:`qinternet.qkd.tf_clicks` (the
asymptotic limit): phase-randomised gains for Z and one-sided X windows, the phase-slice average (with
phase noise and misalignment ``e_d``) for matched X windows. Functions take the transmittances of the two
arms, ``eta_a`` and ``eta_b`` (fibre only; the detector efficiency is the station's), never a distance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from qinternet.errors import ParameterError
from qinternet.params.checks import require_at_most, require_positive
from qinternet.params.devices import MAX_EC_EFFICIENCY
from qinternet.params.twinfield import InterferenceStationParams, SnsSourceParams
from qinternet.qkd.decoy import two_decoy_bounds
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.tf_clicks import matched_clicks, random_phase_gain, single_photon_error_yield

__all__ = [
    "SnsDecoyEstimate",
    "SnsRatePoint",
    "check_ec_efficiency",
    "check_transmittance",
    "optimise_sns",
    "phase_error_bound",
    "phase_error_yield_bound",
    "sns_decoy_estimate",
    "sns_key_rate",
    "sns_optimal_key_rate",
    "sns_rate",
]

FloatArray = NDArray[np.float64]

_MU_Z_RANGE = (1e-3, 2.0)
"""Signal intensities searched; SNS optima lie near 0.3-0.6 (Wang et al. 2018, Fig. 2)."""
_EPSILON_RANGE = (1e-4, 0.5)
"""Sending probabilities searched; beyond 1/2 the bit error rate exceeds 1/2."""
_GRID = 48
"""Points per axis of the coarse (mu_z, epsilon) grid before the local refinement."""


def check_transmittance(field: str, eta: ArrayLike) -> FloatArray:
    """``eta`` as a float array, every element in (0, 1]; a :class:`ParameterError` naming ``field`` otherwise."""
    arr = np.asarray(eta, dtype=np.float64)
    bad = ~(np.isfinite(arr) & (arr > 0.0) & (arr <= 1.0))
    if np.any(bad):
        raise ParameterError(field, f"must be a transmittance in (0, 1], got {arr[bad].ravel()[0]}")
    return arr


def check_ec_efficiency(ec_efficiency: float) -> None:
    """``f`` must be finite, ``>= 1`` (the Shannon limit) and at most ``MAX_EC_EFFICIENCY``."""
    require_positive("ec_efficiency", ec_efficiency)
    require_at_most("ec_efficiency", ec_efficiency, MAX_EC_EFFICIENCY, "no code is that poor")
    if ec_efficiency < 1.0:
        raise ParameterError("ec_efficiency", f"must be >= 1 (Shannon limit), got {ec_efficiency}")


@dataclass(frozen=True, slots=True)
class SnsDecoyEstimate:
    """Observed X-window quantities and the bounds on the untagged bits (arrays broadcast with the inputs).

    Attributes:
        vacuum_gain: ``S_X0``.
        one_sided_gains: ``(S_X1, S_X2)``, one party sending ``mu_k`` and the other vacuum.
        matched_gain: gain of phase-matched ``mu_1 + mu_1`` windows.
        matched_error_gain: ``T_X1``, their error gain.
        untagged_yield_lower: ``s_1^L``.
        phase_error_upper: ``e_1^{ph,U}`` (1/2 where ``s_1^L = 0``).
        untagged_yield: ``s_1`` of the click model (the true value ``s_1^L`` bounds).
        phase_error: ``e_1^ph`` of the click model (the true value ``e_1^{ph,U}`` bounds).
    """

    vacuum_gain: FloatArray
    one_sided_gains: tuple[FloatArray, FloatArray]
    matched_gain: FloatArray
    matched_error_gain: FloatArray
    untagged_yield_lower: FloatArray
    phase_error_upper: FloatArray
    untagged_yield: FloatArray
    phase_error: FloatArray


def phase_error_yield_bound(mu_1: ArrayLike, matched_error_gain: ArrayLike, vacuum_gain: ArrayLike) -> FloatArray:
    """Upper bound on ``s_1 e_1^ph``: ``max(T_X1 - e^{-2 mu_1} S_X0 / 2, 0) / (2 mu_1 e^{-2 mu_1})``.

    Wang, Yu, Hu (2018): the matched ``mu_1 + mu_1`` windows hold vacuum with weight
    ``e^{-2 mu_1}`` (errors ``S_X0 / 2``) and the untagged single photon with ``2 mu_1 e^{-2 mu_1}``.
    """
    mu = np.asarray(mu_1, dtype=np.float64)
    weight = np.exp(-2.0 * mu)
    numerator = np.asarray(matched_error_gain, dtype=np.float64) - 0.5 * weight * np.asarray(vacuum_gain)
    return np.asarray(np.maximum(numerator, 0.0) / (2.0 * mu * weight), dtype=np.float64)


def phase_error_bound(
    mu_1: ArrayLike, matched_error_gain: ArrayLike, vacuum_gain: ArrayLike, untagged_yield_lower: ArrayLike
) -> FloatArray:
    """``e_1^{ph,U} = [T_X1 - e^{-2 mu_1} S_X0 / 2] / [2 mu_1 e^{-2 mu_1} s_1^L]``, clipped to [0, 1/2].

    The bound of :func:`phase_error_yield_bound` divided by ``s_1^L``; 1/2 where ``s_1^L <= 0``.
    """
    s1 = np.asarray(untagged_yield_lower, dtype=np.float64)
    errors = phase_error_yield_bound(mu_1, matched_error_gain, vacuum_gain)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = errors / s1
    return np.asarray(np.where(s1 > 0.0, np.clip(bound, 0.0, 0.5), 0.5), dtype=np.float64)


def sns_decoy_estimate(
    eta_a: ArrayLike, eta_b: ArrayLike, decoys: tuple[float, float], station: InterferenceStationParams
) -> SnsDecoyEstimate:
    """The X-window observables of the click model and the decoy bounds ``s_1^L``, ``e_1^{ph,U}``.

    Args:
        eta_a, eta_b: transmittances of the two arms (fibre only), broadcast together.
        decoys: ``(mu_1, mu_2)``, ``0 < mu_1 < mu_2``.
        station: Charlie (detector efficiency multiplies both arms).
    """
    mu_1, mu_2 = decoys
    require_positive("decoys[0]", mu_1)
    require_positive("decoys[1]", mu_2)
    if mu_1 >= mu_2:
        raise ParameterError("decoys", f"needs mu_1 < mu_2 for the decoy bound, got {decoys}")
    p_d = station.detector.dark_count_prob
    ea = check_transmittance("eta_a", eta_a) * station.detector.efficiency
    eb = check_transmittance("eta_b", eta_b) * station.detector.efficiency
    vacuum = random_phase_gain(ea, eb, 0.0, 0.0, p_d)
    one_sided = tuple(
        0.5 * (random_phase_gain(ea, eb, mu, 0.0, p_d) + random_phase_gain(ea, eb, 0.0, mu, p_d)) for mu in decoys
    )
    phases = {
        "dark_count_prob": p_d,
        "misalignment_error": station.misalignment_error,
        "phase_noise_rad": station.phase_noise_rad,
        "phase_slice_rad": station.phase_slice_rad,
    }
    matched = matched_clicks(ea, eb, mu_1, mu_1, **phases)
    # Ma et al.'s vacuum + weak bound with mu_2 in the role of the signal; its error part is not used here.
    unused = np.zeros_like(vacuum)
    bounds = two_decoy_bounds(mu_2, mu_1, 0.0, (one_sided[1], one_sided[0], vacuum), (unused, unused))
    s1_lower = bounds.single_photon_yield_lower
    s1, error_yield = single_photon_error_yield(ea, eb, **phases)
    return SnsDecoyEstimate(
        vacuum_gain=vacuum,
        one_sided_gains=(one_sided[0], one_sided[1]),
        matched_gain=matched.gain,
        matched_error_gain=matched.error_gain,
        untagged_yield_lower=s1_lower,
        phase_error_upper=phase_error_bound(mu_1, matched.error_gain, vacuum, s1_lower),
        untagged_yield=s1,
        phase_error=np.asarray(error_yield / s1),
    )


@dataclass(frozen=True, slots=True)
class _ZWindows:
    gain: FloatArray
    error_rate: FloatArray
    untagged_fraction: FloatArray  # n_1 / s_1 = 2 eps (1 - eps) mu_z e^{-mu_z}


def _z_windows(
    ea: FloatArray, eb: FloatArray, mu_z: FloatArray, epsilon: FloatArray, dark_count_prob: float
) -> _ZWindows:
    """Gain ``S_z`` and bit-flip error ``E_z`` of Z-Z windows (``ea``, ``eb`` include the detector)."""
    none = random_phase_gain(ea, eb, 0.0, 0.0, dark_count_prob)
    alice = random_phase_gain(ea, eb, mu_z, 0.0, dark_count_prob)
    bob = random_phase_gain(ea, eb, 0.0, mu_z, dark_count_prob)
    both = random_phase_gain(ea, eb, mu_z, mu_z, dark_count_prob)
    stay = 1.0 - epsilon
    errors = stay**2 * none + epsilon**2 * both
    gain = errors + epsilon * stay * (alice + bob)
    return _ZWindows(
        gain=gain,
        error_rate=np.asarray(errors / gain),
        untagged_fraction=np.asarray(2.0 * epsilon * stay * mu_z * np.exp(-mu_z)),
    )


def sns_rate(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    mu_z: ArrayLike,
    sending_prob: ArrayLike,
    *,
    decoy: SnsDecoyEstimate,
    z_window_prob: float,
    station: InterferenceStationParams,
    ec_efficiency: float,
) -> FloatArray:
    """``R = p_z^2 {n_1 [1 - H(e_1^{ph,U})] - f S_z H(E_z)}`` per window, 0 where negative (module docstring).

    Vectorised: ``eta_a``, ``eta_b``, ``mu_z``, ``sending_prob`` and the arrays of ``decoy`` (from
    :func:`sns_decoy_estimate` at the same transmittances) broadcast together.
    """
    eff = station.detector.efficiency
    ea, eb = np.asarray(eta_a, dtype=np.float64) * eff, np.asarray(eta_b, dtype=np.float64) * eff
    z = _z_windows(
        ea,
        eb,
        np.asarray(mu_z, dtype=np.float64),
        np.asarray(sending_prob, dtype=np.float64),
        station.detector.dark_count_prob,
    )
    untagged = z.untagged_fraction * decoy.untagged_yield_lower
    rate = z_window_prob**2 * (
        untagged * (1.0 - binary_entropy(decoy.phase_error_upper))
        - ec_efficiency * z.gain * binary_entropy(z.error_rate)
    )
    return np.asarray(np.where(np.isfinite(rate) & (rate > 0.0), rate, 0.0), dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class SnsRatePoint:
    """The SNS key rate at one channel, with the settings and the quantities behind it.

    Attributes:
        eta_a, eta_b: transmittances of the arms (fibre only).
        key_rate_per_pulse: secret bits per time window (>= 0).
        signal_intensity: ``mu_z``.
        sending_prob: ``epsilon``.
        z_gain: ``S_z``, effective events per Z-Z window.
        z_error_rate: ``E_z``.
        untagged_yield_lower: ``s_1^L``; ``untagged_yield`` the click model's ``s_1``.
        phase_error_upper: ``e_1^{ph,U}``; ``phase_error`` the click model's ``e_1^ph``.
    """

    eta_a: float
    eta_b: float
    key_rate_per_pulse: float
    signal_intensity: float
    sending_prob: float
    z_gain: float
    z_error_rate: float
    untagged_yield_lower: float
    untagged_yield: float
    phase_error_upper: float
    phase_error: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _check_inputs(eta_a: ArrayLike, eta_b: ArrayLike, ec_efficiency: float) -> tuple[FloatArray, FloatArray]:
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
    source: SnsSourceParams,
    station: InterferenceStationParams,
    ec_efficiency: float,
) -> SnsRatePoint:
    decoy = sns_decoy_estimate(eta_a, eta_b, source.decoy_intensities, station)
    eff = station.detector.efficiency
    z = _z_windows(
        np.asarray(eta_a * eff),
        np.asarray(eta_b * eff),
        np.asarray(mu_z),
        np.asarray(epsilon),
        station.detector.dark_count_prob,
    )
    rate = sns_rate(
        eta_a,
        eta_b,
        mu_z,
        epsilon,
        decoy=decoy,
        z_window_prob=source.z_window_prob,
        station=station,
        ec_efficiency=ec_efficiency,
    )
    return SnsRatePoint(
        eta_a=eta_a,
        eta_b=eta_b,
        key_rate_per_pulse=float(rate),
        signal_intensity=mu_z,
        sending_prob=epsilon,
        z_gain=float(z.gain),
        z_error_rate=float(z.error_rate),
        untagged_yield_lower=float(decoy.untagged_yield_lower),
        untagged_yield=float(decoy.untagged_yield),
        phase_error_upper=float(decoy.phase_error_upper),
        phase_error=float(decoy.phase_error),
    )


def sns_key_rate(
    eta_a: float,
    eta_b: float,
    source: SnsSourceParams,
    station: InterferenceStationParams,
    *,
    ec_efficiency: float,
) -> SnsRatePoint:
    """The asymptotic SNS key rate with the source's own ``mu_z`` and ``epsilon`` (nothing optimised)."""
    ea, eb = _check_inputs(eta_a, eta_b, ec_efficiency)
    return _point(float(ea), float(eb), source.signal_intensity, source.sending_prob, source, station, ec_efficiency)


def _best_settings(
    eta_a: float,
    eta_b: float,
    source: SnsSourceParams,
    station: InterferenceStationParams,
    ec_efficiency: float,
) -> tuple[float, float, float]:
    """``(mu_z, epsilon, rate)`` maximising the rate: a log grid, then Nelder-Mead in log space."""
    decoy = sns_decoy_estimate(eta_a, eta_b, source.decoy_intensities, station)

    def rate(mu: FloatArray, eps: FloatArray) -> FloatArray:
        return sns_rate(
            eta_a,
            eta_b,
            mu,
            eps,
            decoy=decoy,
            z_window_prob=source.z_window_prob,
            station=station,
            ec_efficiency=ec_efficiency,
        )

    mus = np.geomspace(*_MU_Z_RANGE, _GRID)
    eps = np.geomspace(*_EPSILON_RANGE, _GRID)
    grid = rate(mus[:, None], eps[None, :])
    i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
    if not grid[i, j] > 0.0:
        return float("nan"), float("nan"), 0.0
    bounds = [np.log(_MU_Z_RANGE), np.log(_EPSILON_RANGE)]

    def loss(z: FloatArray) -> float:
        mu, ep = np.exp(np.clip(z, [b[0] for b in bounds], [b[1] for b in bounds]))
        return -float(rate(np.asarray(mu), np.asarray(ep))) / float(grid[i, j])

    result = optimize.minimize(
        loss, np.log([mus[i], eps[j]]), method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-10}
    )
    mu_best, eps_best = np.exp(np.clip(result.x, [b[0] for b in bounds], [b[1] for b in bounds]))
    best = float(rate(np.asarray(mu_best), np.asarray(eps_best)))
    if best < grid[i, j]:
        return float(mus[i]), float(eps[j]), float(grid[i, j])
    return float(mu_best), float(eps_best), best


def optimise_sns(
    eta_a: float,
    eta_b: float,
    source: SnsSourceParams,
    station: InterferenceStationParams,
    *,
    ec_efficiency: float,
) -> SnsRatePoint:
    """The asymptotic SNS key rate with ``mu_z`` and ``epsilon`` optimised for the channel.

    The decoys ``mu_1, mu_2`` and ``p_z`` stay the source's (asymptotically ``p_z -> 1`` is best; it is kept
    so that the rate is the one of the chosen protocol). Where no setting gives key, the point carries the
    source's settings and a zero rate.
    """
    ea, eb = _check_inputs(eta_a, eta_b, ec_efficiency)
    mu, eps, _ = _best_settings(float(ea), float(eb), source, station, ec_efficiency)
    if not math.isfinite(mu):
        mu, eps = source.signal_intensity, source.sending_prob
    return _point(float(ea), float(eb), mu, eps, source, station, ec_efficiency)


def sns_optimal_key_rate(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    source: SnsSourceParams,
    station: InterferenceStationParams,
    *,
    ec_efficiency: float,
) -> FloatArray:
    """Optimised asymptotic SNS key rate per window for arrays of arm transmittances (same shape out)."""
    ea, eb = _check_inputs(eta_a, eta_b, ec_efficiency)
    out = np.empty(ea.shape, dtype=np.float64)
    for index in np.ndindex(ea.shape):
        out[index] = _best_settings(float(ea[index]), float(eb[index]), source, station, ec_efficiency)[2]
    return out
