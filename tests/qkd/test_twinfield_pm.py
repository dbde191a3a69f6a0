"""Phase-matching QKD (Ma, Zeng, Zhou, PRX 8, 031043 (2018)) against closed forms.

* The even-photon part of the gain (the phase-error bound with infinitely many decoys) is computed by the
  model in closed form, ``[Q(I) + e^{-2 mu} Q(-I)]/2``; here it is summed term by term from the yields of
  ``n`` photons in the joint mode, ``Y_n = (1-p_d)[(1-eta p_W)^n + (1-eta p_c)^n - 2(1-eta)^n] +
  2 p_d (1-p_d)(1-eta)^n``, weighted by a Poisson distribution; summing all terms gives back the gain.
* Noise-free and loss-free in the limit ``eta -> 0``: ``q_even -> (1 - e^{-2 mu})/2`` (even photon numbers
  carry ``mu e^{-mu} sinh(mu)`` of the ``mu`` photons) and the bit error of the phase slice
  ``E_Z -> (1 - sinc(pi/M))/2``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params.devices import DetectorParams
from qinternet.params.twinfield import InterferenceStationParams, PmSourceParams
from qinternet.qkd.bounds import plob_bound
from qinternet.qkd.tf_clicks import phase_nodes
from qinternet.qkd.tf_pm import optimise_pm, pm_even_gain, pm_key_rate

STATION = InterferenceStationParams(
    detector=DetectorParams(efficiency=0.7, dark_count_prob=1e-6), misalignment_error=0.01, phase_noise_rad=0.1
)
SOURCE = PmSourceParams(intensity=0.1, phase_slices=16)


def poisson_sum(eta_a: float, eta_b: float, mu: float, parity: int | None) -> float:
    """``sum_n P_n(mu) Y_n`` over the ``n`` of the given parity (all ``n`` for None), to ``n = 80``."""
    ea, eb = eta_a * STATION.detector.efficiency, eta_b * STATION.detector.efficiency
    eta, p_d = 0.5 * (ea + eb), STATION.detector.dark_count_prob
    phases, weights = phase_nodes(2 * math.pi / SOURCE.phase_slices, STATION.phase_noise_rad)
    p_c = (ea + eb + 2 * math.sqrt(ea * eb) * np.cos(phases)) / (2 * (ea + eb))
    total = 0.0
    for n in range(81):
        if parity is not None and n % 2 != parity:
            continue
        y = (1 - p_d) * ((1 - eta * (1 - p_c)) ** n + (1 - eta * p_c) ** n - 2 * (1 - eta) ** n)
        y = y + 2 * p_d * (1 - p_d) * (1 - eta) ** n
        total += math.exp(-mu) * mu**n / math.factorial(n) * float(np.sum(y * weights))
    return total


@pytest.mark.parametrize(("eta_a", "eta_b", "mu"), [(0.3, 0.1, 0.4), (1e-4, 3e-4, 0.1), (1.0, 1.0, 1.0)])
def test_even_gain_equals_the_poisson_sum_of_even_yields(eta_a: float, eta_b: float, mu: float) -> None:
    even = float(pm_even_gain(eta_a, eta_b, mu, phase_slices=SOURCE.phase_slices, station=STATION))
    assert even == pytest.approx(poisson_sum(eta_a, eta_b, mu, 0), rel=1e-9)
    gain = pm_key_rate(eta_a, eta_b, PmSourceParams(intensity=mu), STATION, ec_efficiency=1.1).gain
    assert gain == pytest.approx(poisson_sum(eta_a, eta_b, mu, None), rel=1e-9)


def test_noise_free_long_link_has_the_closed_form_errors() -> None:
    station = InterferenceStationParams(detector=DetectorParams(efficiency=1.0, dark_count_prob=0.0))
    mu, slices, eta = 0.2, 16, 1e-9
    point = pm_key_rate(eta, eta, PmSourceParams(intensity=mu, phase_slices=slices), station, ec_efficiency=1.0)
    assert point.phase_error_upper == pytest.approx(0.5 * (1 - math.exp(-2 * mu)), rel=1e-6)
    half = math.pi / slices
    assert point.bit_error_rate == pytest.approx(0.5 * (1 - math.sin(half) / half), rel=1e-6)
    assert point.gain == pytest.approx(mu * eta, rel=1e-6)


def test_rate_scales_as_sqrt_eta_and_beats_plob_at_long_distance() -> None:
    quiet = InterferenceStationParams(detector=DetectorParams(efficiency=0.8, dark_count_prob=0.0))
    arms = [10 ** (-db / 10) for db in (40.0, 50.0)]
    rates = [optimise_pm(e, e, SOURCE, quiet, ec_efficiency=1.1).key_rate_per_pulse for e in arms]
    assert math.log(rates[0] / rates[1]) / math.log(arms[0] ** 2 / arms[1] ** 2) == pytest.approx(0.5, abs=0.01)
    assert rates[1] > float(plob_bound(arms[1] ** 2))
    short = 10 ** (-2 / 10)
    assert optimise_pm(short, short, SOURCE, quiet, ec_efficiency=1.1).key_rate_per_pulse < float(plob_bound(short**2))


def test_more_phase_slices_cost_sifting_but_lower_the_bit_error() -> None:
    eta = 10 ** (-2.0)
    coarse = optimise_pm(eta, eta, PmSourceParams(intensity=0.1, phase_slices=4), STATION, ec_efficiency=1.1)
    fine = optimise_pm(eta, eta, PmSourceParams(intensity=0.1, phase_slices=64), STATION, ec_efficiency=1.1)
    assert fine.bit_error_rate < coarse.bit_error_rate
    # Here the 16-fold loss of sifting (2/64 against 2/4) outweighs the lower bit error of the fine slices.
    assert 0 < fine.key_rate_per_pulse < coarse.key_rate_per_pulse


def test_pm_refuses_bad_inputs() -> None:
    with pytest.raises(ParameterError) as info:
        pm_key_rate(0.0, 0.1, SOURCE, STATION, ec_efficiency=1.1)
    assert info.value.field == "eta_a"
    with pytest.raises(ParameterError) as info:
        optimise_pm(0.1, 0.1, SOURCE, STATION, ec_efficiency=0.5)
    assert info.value.field == "ec_efficiency"
    point = optimise_pm(0.1, 0.1, SOURCE, STATION, ec_efficiency=1.1)
    assert point.to_dict()["phase_slices"] == 16
