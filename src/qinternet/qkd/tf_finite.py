"""Finite-size key rate of sending-or-not-sending TF-QKD for a block of ``N`` time windows.

What this is - a stated approximation, not a reproduction of any one paper's analysis: the structure of
the SNS finite-key analysis of Jiang, Yu, Hu, Wang, "Unconditional security of sending or not sending
twin-field quantum key distribution with finite pulses", PR Applied 12, 024061 (2019), with these choices:

* **Counts.** ``N`` windows; Z-Z windows ``N p_z^2``; X windows in which both send vacuum
  ``N (1-p_z)^2 p_0^2``; one-sided windows (one party ``mu_k``, the other vacuum) ``2 N (1-p_z)^2 p_0 p_k``;
  phase-matched ``mu_1 + mu_1`` windows ``N (1-p_z)^2 p_1^2 D/pi`` (the relative phase falls within
  ``D/2`` of 0 or of pi). The observed counts are the click model's expected values, as in simulations.
  Mixed Z/X windows, which the "advanced" decoy analyses also use, are not.
* **Expected values from observed counts** by the multiplicative Chernoff bound of Zhang, Zhao, Razavi, Ma,
  "Improved key-rate bounds for practical decoy-state quantum-key-distribution systems", PRA 95, 012333
  (2017): ``E^L = x/(1+d_L)``, ``E^U = x/(1-d_U)`` with
  ``(e^{d_L}/(1+d_L)^{1+d_L})^{x/(1+d_L)} = xi/2`` and ``(e^{-d_U}/(1-d_U)^{1-d_U})^{x/(1-d_U)} = xi/2``
  (:func:`expectation_bounds`).
* **Decoy bounds** of :mod:`qinternet.qkd.twinfield` on the expected gains, each gain at the edge of its
  interval that loosens the bound (``S_X1^L``, ``S_X2^U``, ``S_X0^U`` for ``s_1^L``; ``T_X1^U``, ``S_X0^L``
  for the phase errors).
* **From expected to realised values in the Z windows**, for the untagged bits and their phase errors, by
  the plain multiplicative Chernoff bounds ``x >= E (1 - sqrt(2 ln(1/xi)/E))`` and
  ``x <= E (1 + d)``, ``d = [ln(1/xi) + sqrt(ln^2(1/xi) + 8 E ln(1/xi))] / (2 E)`` (:func:`realised_bounds`).
  The expected number of phase errors among untagged Z bits is
  ``N p_z^2 2 eps (1-eps) mu_z e^{-mu_z} (T_X1^U - e^{-2 mu_1} S_X0^L / 2) / (2 mu_1 e^{-2 mu_1})``.
* **Key length** (Jiang et al. 2019, final key formula):
  ``l = n_1 [1 - H(e_1^ph)] - f n_t H(E_z) - log2(2/eps_cor) - 2 log2(1/(sqrt 2 eps_PA eps_hat))``,
  and the rate is ``l / N``.

Every Chernoff bound fails with probability ``xi``; the security parameter is of order
``(number of bounds) xi + eps_cor + eps_PA + eps_hat`` (about ``1e-9`` with the defaults). No AOPP.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from qinternet.errors import ParameterError
from qinternet.params.checks import require_epsilon, require_positive
from qinternet.params.twinfield import InterferenceStationParams, SnsSourceParams
from qinternet.qkd.decoy import two_decoy_bounds
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.tf_clicks import matched_clicks, random_phase_gain
from qinternet.qkd.twinfield import check_ec_efficiency, check_transmittance, phase_error_yield_bound

__all__ = [
    "SnsFiniteParams",
    "SnsFinitePoint",
    "SnsSettings",
    "ZWindowSettings",
    "expectation_bounds",
    "optimise_sns_finite",
    "realised_bounds",
    "sns_finite_rate",
    "sns_z_counts",
]

FloatArray = NDArray[np.float64]

_BISECTION_STEPS = 80
"""Halvings of the bracket of the Chernoff deviations: 2^-80 of the bracket, far below any count's precision."""
MAX_BLOCK_PULSES = 1e22
"""Windows in a block: 1e22 is ten thousand years at 1e10 windows per second."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SnsFiniteParams:
    """Block size and failure probabilities of the finite-size SNS rate.

    Attributes:
        block_pulses: ``N``, time windows in the block.
        chernoff_failure: ``xi``, failure probability of each Chernoff bound.
        eps_cor: correctness parameter of error verification.
        eps_pa: privacy-amplification parameter ``eps_PA``.
        eps_hat: smoothing parameter ``eps_hat`` of the smooth min-entropy.
    """

    block_pulses: float
    chernoff_failure: float = 1e-10
    eps_cor: float = 1e-10
    eps_pa: float = 1e-10
    eps_hat: float = 1e-10

    def __post_init__(self) -> None:
        require_positive("block_pulses", self.block_pulses)
        if not 1.0 <= self.block_pulses <= MAX_BLOCK_PULSES:
            raise ParameterError("block_pulses", f"must be in [1, {MAX_BLOCK_PULSES:g}], got {self.block_pulses:g}")
        for field in ("chernoff_failure", "eps_cor", "eps_pa", "eps_hat"):
            require_epsilon(field, getattr(self, field))

    @property
    def overhead_bits(self) -> float:
        """``log2(2/eps_cor) + 2 log2(1/(sqrt 2 eps_PA eps_hat))``."""
        return math.log2(2.0 / self.eps_cor) + 2.0 * math.log2(1.0 / (math.sqrt(2.0) * self.eps_pa * self.eps_hat))


def _bisect(function: Any, low: FloatArray, high: FloatArray) -> FloatArray:
    """The root of the decreasing ``function`` between ``low`` (> 0 side) and ``high``, elementwise."""
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (low + high)
        above = function(mid) > 0.0
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    return np.asarray(0.5 * (low + high))


def expectation_bounds(observed: ArrayLike, failure: float) -> tuple[FloatArray, FloatArray]:
    """``(E^L, E^U)``: bounds on the expected value of a sum of Bernoulli variables observed to be ``x``.

    Zhang, Zhao, Razavi, Ma, PRA 95, 012333 (2017) (module docstring), each side failing with ``xi/2``:
    ``x [d/(1+d) - ln(1+d)] = ln(xi/2)`` for ``d_L > 0`` and ``x [-d/(1-d) - ln(1-d)] = ln(xi/2)`` for
    ``0 < d_U < 1``; both left sides decrease from 0, so bisection finds them. ``E^L = E^U = 0`` at ``x = 0``
    would claim too much; there ``E^U = ln(2/xi)`` (the expectation below which ``x = 0`` has probability
    ``xi/2``) and ``E^L = 0``.
    """
    require_epsilon("chernoff_failure", failure)
    x = np.asarray(observed, dtype=np.float64)
    target = math.log(0.5 * failure)
    positive = x > 0.0
    xs = np.where(positive, x, 1.0)
    d_low = _bisect(lambda d: xs * (d / (1.0 + d) - np.log1p(d)) - target, np.zeros_like(xs), np.full_like(xs, 1e6))
    d_up = _bisect(
        lambda d: xs * (-d / (1.0 - d) - np.log1p(-d)) - target, np.zeros_like(xs), np.full_like(xs, 1.0 - 1e-15)
    )
    lower = np.where(positive, x / (1.0 + d_low), 0.0)
    upper = np.where(positive, x / (1.0 - d_up), -target)
    return np.asarray(lower), np.asarray(upper)


def realised_bounds(expected: ArrayLike, failure: float) -> tuple[FloatArray, FloatArray]:
    """``(x^L, x^U)``: bounds on a realised sum of Bernoulli variables of expectation ``E``.

    Multiplicative Chernoff bounds ``P(x <= (1-d) E) <= e^{-d^2 E/2}`` and ``P(x >= (1+d) E) <= e^{-d^2 E/(2+d)}``
    set equal to ``xi`` (module docstring); ``x^L`` is clipped at 0.
    """
    require_epsilon("chernoff_failure", failure)
    e = np.asarray(expected, dtype=np.float64)
    log_term = math.log(1.0 / failure)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.maximum(e * (1.0 - np.sqrt(2.0 * log_term / e)), 0.0)
        upper = e + 0.5 * (log_term + np.sqrt(log_term**2 + 8.0 * e * log_term))
    return np.asarray(np.where(e > 0.0, lower, 0.0)), np.asarray(upper)


@dataclass(frozen=True, slots=True)
class SnsSettings:
    """The settings of an SNS source the finite-size rate optimises (arrays broadcast together).

    Attributes:
        signal_intensity: ``mu_z``; ``sending_prob``: ``epsilon``; ``mu_1``, ``mu_2``: X-window intensities;
        z_window_prob: ``p_z``; ``vacuum_prob``, ``mu_1_prob``: ``p_0``, ``p_1`` (``p_2 = 1 - p_0 - p_1``).
    """

    signal_intensity: FloatArray
    sending_prob: FloatArray
    mu_1: FloatArray
    mu_2: FloatArray
    z_window_prob: FloatArray
    vacuum_prob: FloatArray
    mu_1_prob: FloatArray

    @staticmethod
    def of(source: SnsSourceParams) -> SnsSettings:
        """The settings of ``source``."""
        p_0, p_1, _ = source.x_intensity_probs
        values = (
            source.signal_intensity,
            source.sending_prob,
            *source.decoy_intensities,
            source.z_window_prob,
            p_0,
            p_1,
        )
        return SnsSettings(*(np.asarray(v, dtype=np.float64) for v in values))


def sns_finite_rate(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    settings: SnsSettings,
    station: InterferenceStationParams,
    *,
    ec_efficiency: float,
    params: SnsFiniteParams,
) -> FloatArray:
    """``l / N``, secret bits per window of a block of ``N`` windows (module docstring), 0 where negative.

    Vectorised over the transmittances and the settings' arrays.
    """
    n = params.block_pulses
    xi = params.chernoff_failure
    s = settings
    eff, p_d = station.detector.efficiency, station.detector.dark_count_prob
    ea = np.asarray(eta_a, dtype=np.float64) * eff
    eb = np.asarray(eta_b, dtype=np.float64) * eff
    p_x = 1.0 - s.z_window_prob
    p_2 = 1.0 - s.vacuum_prob - s.mu_1_prob

    def gain_bounds(windows: FloatArray, gain: FloatArray) -> tuple[FloatArray, FloatArray]:
        low, high = expectation_bounds(windows * gain, xi)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(low / windows), np.asarray(high / windows)

    vacuum = random_phase_gain(ea, eb, 0.0, 0.0, p_d)
    s_x0_low, s_x0_high = gain_bounds(n * p_x**2 * s.vacuum_prob**2, vacuum)
    one_sided = []
    for mu, prob in ((s.mu_1, s.mu_1_prob), (s.mu_2, p_2)):
        gain = 0.5 * (random_phase_gain(ea, eb, mu, 0.0, p_d) + random_phase_gain(ea, eb, 0.0, mu, p_d))
        one_sided.append(gain_bounds(2.0 * n * p_x**2 * s.vacuum_prob * prob, gain))
    s_x1_low, s_x2_high = one_sided[0][0], one_sided[1][1]
    matched = matched_clicks(
        ea,
        eb,
        s.mu_1,
        s.mu_1,
        dark_count_prob=p_d,
        misalignment_error=station.misalignment_error,
        phase_noise_rad=station.phase_noise_rad,
        phase_slice_rad=station.phase_slice_rad,
    )
    matched_windows = n * p_x**2 * s.mu_1_prob**2 * (station.phase_slice_rad / math.pi)
    t_x1_high = gain_bounds(matched_windows, matched.error_gain)[1]
    s1_low = two_decoy_bounds(
        s.mu_2, s.mu_1, 0.0, (s_x2_high, s_x1_low, s_x0_high), (vacuum * 0.0, vacuum * 0.0)
    ).single_photon_yield_lower

    # Z windows: observed effective events and errors, untagged bits and their phase errors.
    mu_z, eps = s.signal_intensity, s.sending_prob
    zz = n * s.z_window_prob**2
    errors = (1.0 - eps) ** 2 * vacuum + eps**2 * random_phase_gain(ea, eb, mu_z, mu_z, p_d)
    correct = (
        eps * (1.0 - eps) * (random_phase_gain(ea, eb, mu_z, 0.0, p_d) + random_phase_gain(ea, eb, 0.0, mu_z, p_d))
    )
    n_t = zz * (errors + correct)
    with np.errstate(divide="ignore", invalid="ignore"):
        e_z = errors / (errors + correct)
    untagged_weight = zz * 2.0 * eps * (1.0 - eps) * mu_z * np.exp(-mu_z)
    n1_low = realised_bounds(untagged_weight * s1_low, xi)[0]
    phase_errors = untagged_weight * phase_error_yield_bound(s.mu_1, t_x1_high, s_x0_low)
    phase_errors_high = realised_bounds(phase_errors, xi)[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ph = np.where(n1_low > 0.0, np.clip(phase_errors_high / n1_low, 0.0, 0.5), 0.5)
    length = n1_low * (1.0 - binary_entropy(e_ph)) - ec_efficiency * n_t * binary_entropy(e_z) - params.overhead_bits
    valid = (s1_low > 0.0) & (p_2 > 0.0) & (s.mu_2 > s.mu_1)
    rate = np.where(valid & np.isfinite(length) & (length > 0.0), length / n, 0.0)
    return np.asarray(rate, dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class SnsFinitePoint:
    """The optimised finite-size SNS rate at one channel and block size.

    Attributes:
        eta_a, eta_b: transmittances of the arms (fibre only).
        block_pulses: ``N``.
        key_rate_per_pulse: ``l / N`` (>= 0).
        signal_intensity, sending_prob, mu_1, mu_2, z_window_prob, vacuum_prob, mu_1_prob: the optimum.
    """

    eta_a: float
    eta_b: float
    block_pulses: float
    key_rate_per_pulse: float
    signal_intensity: float
    sending_prob: float
    mu_1: float
    mu_2: float
    z_window_prob: float
    vacuum_prob: float
    mu_1_prob: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @property
    def settings(self) -> SnsSettings:
        """The optimal settings as :class:`SnsSettings`."""
        values = (
            self.signal_intensity,
            self.sending_prob,
            self.mu_1,
            self.mu_2,
            self.z_window_prob,
            self.vacuum_prob,
            self.mu_1_prob,
        )
        return SnsSettings(*(np.asarray(v, dtype=np.float64) for v in values))


# Search box of the optimiser, in the coordinates of _decode: log mu_z, log eps, log mu_1, log(mu_2/mu_1),
# logit p_z, and the two stick-breaking fractions of (p_0, p_1, p_2).
_LOWER = np.array([math.log(0.02), math.log(1e-3), math.log(1e-3), math.log(1.5), -3.0, -4.0, -4.0])
_UPPER = np.array([math.log(1.5), math.log(0.5), math.log(0.3), math.log(60.0), 6.0, 4.0, 4.0])
_SEED = 20_230_526
"""Fixed seed of the differential evolution: the same inputs give the same optimum."""


def _decode(z: FloatArray) -> SnsSettings:
    """Settings from optimiser coordinates ``z`` of shape ``(7, S)``."""
    expit = 1.0 / (1.0 + np.exp(-z[4:]))
    p_0 = expit[1]
    p_1 = (1.0 - p_0) * expit[2]
    mu_1 = np.exp(z[2])
    return SnsSettings(np.exp(z[0]), np.exp(z[1]), mu_1, mu_1 * np.exp(z[3]), expit[0], p_0, p_1)


def optimise_sns_finite(
    eta_a: float,
    eta_b: float,
    station: InterferenceStationParams,
    *,
    ec_efficiency: float,
    params: SnsFiniteParams,
) -> SnsFinitePoint:
    """The finite-size SNS rate with ``mu_z, epsilon, mu_1, mu_2, p_z, p_0, p_1`` optimised.

    Differential evolution (vectorised, fixed seed) over the box above, polished by L-BFGS-B. The result is
    a zero rate (with the last candidate's settings) where nothing gives key.
    """
    check_ec_efficiency(ec_efficiency)
    ea, eb = float(check_transmittance("eta_a", eta_a)), float(check_transmittance("eta_b", eta_b))

    def objective(z: FloatArray) -> FloatArray:
        batch = z if z.ndim == 2 else z[:, None]
        rate = sns_finite_rate(ea, eb, _decode(batch), station, ec_efficiency=ec_efficiency, params=params)
        out = -rate * 1e20  # scaled so that the optimiser's tolerances see the small rates
        return np.asarray(out if z.ndim == 2 else out[0])

    result = optimize.differential_evolution(
        objective,
        bounds=list(zip(_LOWER, _UPPER, strict=True)),
        vectorized=True,
        updating="deferred",
        seed=_SEED,
        popsize=20,
        maxiter=300,
        tol=1e-8,
        polish=True,
    )
    best = _decode(np.asarray(result.x)[:, None])
    rate = float(sns_finite_rate(ea, eb, best, station, ec_efficiency=ec_efficiency, params=params)[0])
    return SnsFinitePoint(
        eta_a=ea,
        eta_b=eb,
        block_pulses=params.block_pulses,
        key_rate_per_pulse=rate,
        signal_intensity=float(best.signal_intensity[0]),
        sending_prob=float(best.sending_prob[0]),
        mu_1=float(best.mu_1[0]),
        mu_2=float(best.mu_2[0]),
        z_window_prob=float(best.z_window_prob[0]),
        vacuum_prob=float(best.vacuum_prob[0]),
        mu_1_prob=float(best.mu_1_prob[0]),
    )


class ZWindowSettings(Protocol):
    """What the Z windows of an SNS source depend on (:class:`SnsSettings`, and AOPP's 3-intensity settings)."""

    @property
    def signal_intensity(self) -> FloatArray: ...

    @property
    def sending_prob(self) -> FloatArray: ...

    @property
    def z_window_prob(self) -> FloatArray: ...


def sns_z_counts(
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    settings: ZWindowSettings,
    station: InterferenceStationParams,
    *,
    block_pulses: float,
) -> tuple[FloatArray, FloatArray]:
    """``(n_t, E_z)``: expected effective events of the Z windows of a block and their bit-error rate.

    The Z-Z windows' counts of :func:`sns_finite_rate` (module docstring): ``n_t = N p_z^2 (errors + correct)``
    with ``errors = (1-eps)^2 S_00 + eps^2 S_{mu_z mu_z}`` (both or neither sent) and
    ``correct = eps (1-eps) (S_{mu_z 0} + S_{0 mu_z})`` (Wang, Yu, Hu, PRA 98, 062323 (2018), Sec. III).
    """
    eff, p_d = station.detector.efficiency, station.detector.dark_count_prob
    ea = np.asarray(eta_a, dtype=np.float64) * eff
    eb = np.asarray(eta_b, dtype=np.float64) * eff
    mu_z, eps = settings.signal_intensity, settings.sending_prob
    zz = block_pulses * settings.z_window_prob**2
    vacuum = random_phase_gain(ea, eb, 0.0, 0.0, p_d)
    errors = (1.0 - eps) ** 2 * vacuum + eps**2 * random_phase_gain(ea, eb, mu_z, mu_z, p_d)
    correct = (
        eps * (1.0 - eps) * (random_phase_gain(ea, eb, mu_z, 0.0, p_d) + random_phase_gain(ea, eb, 0.0, mu_z, p_d))
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        error_rate = errors / (errors + correct)
    return np.asarray(zz * (errors + correct), dtype=np.float64), np.asarray(error_rate, dtype=np.float64)
