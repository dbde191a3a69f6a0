"""MDI-QKD relay model and asymptotic key rates against closed forms.

Closed forms (Ma and Razavi, PRA 86, 062319 (2012), App. B; four detectors, psi^- and psi^+, ``eta``
including the detector efficiency, ``mu' = eta_a mu_a + eta_b mu_b``, ``x = sqrt(eta_a mu_a eta_b mu_b)/2``,
``y = (1 - p_d) e^{-mu'/4}``):

* ``Q_rect = Q_C + Q_E``,
  ``Q_C = 2 (1-p_d)^2 e^{-mu'/2} [1 - (1-p_d) e^{-eta_a mu_a/2}] [1 - (1-p_d) e^{-eta_b mu_b/2}]``,
  ``Q_E = 2 p_d (1-p_d)^2 e^{-mu'/2} [I_0(2x) - (1-p_d) e^{-mu'/2}]``, ``E_rect Q_rect = e_d Q_C + (1 - e_d) Q_E``;
* ``Q_diag = 2 y^2 [1 + 2 y^2 - 4 y I_0(x) + I_0(2x)]``, ``E_diag Q_diag = Q_diag/2 - 2 (1/2 - e_d) y^2 [I_0(2x) - 1]``;
* ``Y_11 = (1-p_d)^2 [eta_a eta_b/2 + (2 eta_a + 2 eta_b - 3 eta_a eta_b) p_d + 4 (1-eta_a)(1-eta_b) p_d^2]``,
  ``e_11 Y_11 = Y_11/2 - (1/2 - e_d)(1-p_d)^2 eta_a eta_b / 2`` (X basis).

With a two-photon visibility ``V``, the interference term scales by ``sqrt(V)`` (``x -> sqrt(V) x``), and for
single photons without dark counts ``e_11^X = e_d + (1 - 2 e_d)(1 - V)/2`` (distinguishable photons give
psi^- and psi^+ with equal probability).
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal, localcontext

import numpy as np
import pytest

from qinternet.params.devices import DetectorParams, FibreParams
from qinternet.params.mdi import BellStates, BsmLayout, BsmStationParams, MdiSourceParams, MdiSystem
from qinternet.physics.fibre import fibre_transmittance
from qinternet.qkd.bounds import plob_bound
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.mdi import (
    PSI_MINUS,
    PSI_PLUS,
    X,
    XDecoyGains,
    Z,
    gain_and_error_weight,
    key_rate_decoy,
    key_rate_infinite_decoys,
    optimise_signal_intensity,
    outcome_probabilities,
    single_photon_pair_probabilities,
    symmetric_arms,
    x_decoy_gains,
    y11_lower_bound,
)

CASES = [
    # (mu_a, mu_b, eta_a, eta_b, eta_d, p_d, e_d)
    (0.4, 0.3, 0.1, 0.05, 0.5, 3e-6, 0.015),
    (0.5, 0.5, 1.0, 1.0, 1.0, 0.0, 0.0),
    (0.05, 0.8, 1e-3, 2e-4, 0.14, 1e-5, 0.03),
    (2.0, 0.1, 0.3, 0.9, 0.9, 0.01, 0.1),
    (0.3, 0.3, 1e-6, 1e-6, 0.6, 1e-8, 0.015),  # 600 km at 0.2 dB/km: gains near 1e-14
]


def station(eta_d: float, p_d: float, e_d: float, **kw: object) -> BsmStationParams:
    return BsmStationParams(
        detector=DetectorParams(efficiency=eta_d, dark_count_prob=p_d), misalignment_error=e_d, **kw
    )  # type: ignore[arg-type]


def _i0(x: Decimal) -> Decimal:
    """Modified Bessel function I_0 by its series, sum (x/2)^(2k) / (k!)^2, to the context's precision."""
    term, total, k = Decimal(1), Decimal(1), 0
    while term > Decimal(10) ** -60:
        k += 1
        term *= (x / 2) ** 2 / (k * k)
        total += term
    return total


def ma_razavi(
    mu_a: float, mu_b: float, ta: float, tb: float, pd: float, ed: float, v: float = 1.0
) -> tuple[float, ...]:
    """``(Q_rect, E_rect Q_rect, Q_diag, E_diag Q_diag)``; ``ta``, ``tb`` include the detector efficiency.

    Evaluated with 60 significant digits: in double precision the closed forms lose ``1e-16 / Q`` of relative
    precision to cancellation (``Q_diag`` is a sum of O(1) terms), which is 1e-6 at the gains of long links.
    """
    with localcontext() as ctx:
        ctx.prec = 60
        a, b = Decimal(ta) * Decimal(mu_a), Decimal(tb) * Decimal(mu_b)
        d, e, one = Decimal(pd), Decimal(ed), Decimal(1)
        mu = a + b
        x = (Decimal(v) * a * b).sqrt() / 2
        q_c = (
            2
            * (one - d) ** 2
            * (-mu / 2).exp()
            * (one - (one - d) * (-a / 2).exp())
            * (one - (one - d) * (-b / 2).exp())
        )
        q_e = 2 * d * (one - d) ** 2 * (-mu / 2).exp() * (_i0(2 * x) - (one - d) * (-mu / 2).exp())
        y = (one - d) * (-mu / 4).exp()
        q_d = 2 * y**2 * (one + 2 * y**2 - 4 * y * _i0(x) + _i0(2 * x))
        eq_d = q_d / 2 - 2 * (Decimal("0.5") - e) * y**2 * (_i0(2 * x) - one)
        return float(q_c + q_e), float(e * q_c + (one - e) * q_e), float(q_d), float(eq_d)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("visibility", [1.0, 0.6])
def test_coherent_gains_match_ma_razavi_closed_forms(case: tuple[float, ...], visibility: float) -> None:
    mu_a, mu_b, eta_a, eta_b, eta_d, pd, ed = case
    outcomes = outcome_probabilities(station(eta_d, pd, ed, visibility=visibility), mu_a, mu_b, eta_a, eta_b)
    expected = ma_razavi(mu_a, mu_b, eta_d * eta_a, eta_d * eta_b, pd, ed, visibility)
    got = (*gain_and_error_weight(outcomes, Z), *gain_and_error_weight(outcomes, X))
    # Every factor of the quadrature is a probability (no cancellation): agreement to rounding.
    for g, e in zip(got, expected, strict=True):
        assert float(g) == pytest.approx(e, rel=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_single_photon_pairs_match_ma_razavi(case: tuple[float, ...]) -> None:
    _, _, eta_a, eta_b, eta_d, pd, ed = case
    ones = single_photon_pair_probabilities(station(eta_d, pd, ed), eta_a, eta_b)
    a, b = eta_d * eta_a, eta_d * eta_b
    y11 = (1 - pd) ** 2 * (a * b / 2 + (2 * a + 2 * b - 3 * a * b) * pd + 4 * (1 - a) * (1 - b) * pd**2)
    ey11 = y11 / 2 - (0.5 - ed) * (1 - pd) ** 2 * a * b / 2
    assert float(gain_and_error_weight(ones, Z)[0]) == pytest.approx(y11, rel=1e-12)
    assert float(gain_and_error_weight(ones, X)[0]) == pytest.approx(y11, rel=1e-12)  # basis-independent
    assert float(gain_and_error_weight(ones, X)[1]) == pytest.approx(ey11, rel=1e-12)


@pytest.mark.parametrize(("visibility", "e_d"), [(1.0, 0.0), (0.8, 0.0), (0.5, 0.02), (0.0, 0.01)])
def test_single_photon_phase_error_from_visibility(visibility: float, e_d: float) -> None:
    ones = single_photon_pair_probabilities(station(0.7, 0.0, e_d, visibility=visibility), 0.3, 0.2)
    q, eq = gain_and_error_weight(ones, X)
    assert float(eq / q) == pytest.approx(e_d + (1 - 2 * e_d) * (1 - visibility) / 2, abs=1e-14)
    # The Z basis needs no interference: its error is the misalignment alone.
    qz, eqz = gain_and_error_weight(ones, Z)
    assert float(eqz / qz) == pytest.approx(e_d, abs=1e-14)


@pytest.mark.parametrize("visibility", [1.0, 0.7])
def test_weak_pulses_approach_the_single_photon_pair_yield(visibility: float) -> None:
    # With G_ab = Q_ab e^{a+b} = sum a^n b^m Y_nm / (n! m!), H = G_ab - G_0b - G_a0 + G_00 = a b Y_11 + O(a b (a + b)):
    # two independent models (phase quadrature for coherent states, photon counting for Fock states) must
    # agree as the pulses get weak. The gap is O(a + b) relative to Y_11, but up to 1/e_11 ~ 40 times more
    # relative to the small error weights (multi-photon pairs err half the time): 4e-6 * 40 < 2e-4.
    bsm = station(0.6, 1e-4, 0.02, visibility=visibility)
    a = b = 2e-6
    eta_a, eta_b = 0.2, 0.1

    def g(x: float, y: float) -> np.ndarray:
        return outcome_probabilities(bsm, x, y, eta_a, eta_b) * math.exp(x + y)

    h = (g(a, b) - g(0.0, b) - g(a, 0.0) + g(0.0, 0.0)) / (a * b)
    ones = single_photon_pair_probabilities(bsm, eta_a, eta_b)
    np.testing.assert_allclose(h, ones, rtol=2e-4, atol=0.0)


def test_psi_minus_alone_heralds_half_the_events() -> None:
    both = outcome_probabilities(station(0.5, 1e-5, 0.01), 0.3, 0.4, 0.05, 0.02)
    minus = outcome_probabilities(station(0.5, 1e-5, 0.01, announced=BellStates.PSI_MINUS), 0.3, 0.4, 0.05, 0.02)
    two = outcome_probabilities(
        station(0.5, 1e-5, 0.01, layout=BsmLayout.TWO_DETECTORS, announced=BellStates.PSI_MINUS), 0.3, 0.4, 0.05, 0.02
    )
    np.testing.assert_array_equal(minus[..., PSI_PLUS, :], 0.0)
    np.testing.assert_allclose(minus[..., PSI_MINUS, :], both[..., PSI_MINUS, :], rtol=1e-15)
    np.testing.assert_array_equal(two, minus)
    for basis in (Z, X):  # psi^- and psi^+ are equally likely once averaged over the bits
        assert float(gain_and_error_weight(minus, basis)[0]) == pytest.approx(
            float(gain_and_error_weight(both, basis)[0]) / 2, rel=1e-12
        )


def test_a_vacuum_sender_gives_random_bits() -> None:
    # The phase-error bound uses E_0b Q_0b = Q_0b / 2 exactly.
    outcomes = outcome_probabilities(station(0.5, 1e-3, 0.02), 0.0, 0.4, 0.3, 0.3)
    for basis in (Z, X):
        q, eq = gain_and_error_weight(outcomes, basis)
        assert float(eq) == pytest.approx(float(q) / 2, rel=1e-12)


def test_outcomes_broadcast_over_transmittances() -> None:
    bsm = station(0.5, 1e-6, 0.01)
    etas = np.geomspace(1e-5, 1.0, 7)
    together = outcome_probabilities(bsm, 0.3, np.array([[0.1], [0.5]]), etas, etas[::-1])
    assert together.shape == (2, 7, 2, 2, 2, 2)
    for i, mu_b in enumerate((0.1, 0.5)):
        for j in range(7):
            np.testing.assert_array_equal(together[i, j], outcome_probabilities(bsm, 0.3, mu_b, etas[j], etas[6 - j]))


# --------------------------------------------------------------------------------------------------
# Decoy bounds and key rates.


def system_with(*, weak: float = 0.05, strong: float = 0.2, signal: float = 0.4, **bsm: float) -> MdiSystem:
    source = MdiSourceParams(
        intensities=(signal, strong, weak, 0.0),
        z_basis_probs=(0.6, 0.0, 0.0, 0.0),
        x_basis_probs=(0.0, 0.1, 0.2, 0.1),
    )
    params = {"eta_d": 0.6, "p_d": 1e-7, "e_d": 0.015} | bsm
    return MdiSystem(
        alice=source, bob=source, bsm=station(params["eta_d"], params["p_d"], params["e_d"]), ec_efficiency=1.16
    )


ETAS = np.geomspace(1e-4, 0.5, 9)


def test_decoy_bounds_bracket_the_true_single_photon_values() -> None:
    system = system_with()
    for eta_b in (ETAS, 2 * ETAS, ETAS[::-1]):  # symmetric, mildly and strongly asymmetric arms
        true = key_rate_infinite_decoys(system, ETAS, eta_b)
        decoy = key_rate_decoy(system, ETAS, eta_b)
        assert np.all(decoy.y11_z <= true.y11_z)
        assert np.all(decoy.e11_x >= true.e11_x)
        assert np.all(decoy.key_rate_per_pulse_pair <= true.key_rate_per_pulse_pair)
    # With (nearly) symmetric arms they are useful bounds, not 0.
    assert np.all(
        key_rate_decoy(system, ETAS, 2 * ETAS).y11_z > 0.8 * key_rate_infinite_decoys(system, ETAS, 2 * ETAS).y11_z
    )


def test_decoy_bounds_tighten_to_the_true_values_as_the_weak_decoy_vanishes() -> None:
    # The excess terms of H(nu) are O(nu) relative to nu^2 Y_11 (and t = O(nu^3)).
    eta = 0.01
    true = key_rate_infinite_decoys(system_with(), eta, eta)
    gaps = []
    for weak in (0.1, 0.01, 0.001):
        decoy = key_rate_decoy(system_with(weak=weak), eta, eta)
        gaps.append((1 - float(decoy.y11_z / true.y11_z), float(decoy.e11_x - true.e11_x)))
    assert gaps[0][0] > gaps[1][0] > gaps[2][0] >= 0.0
    assert gaps[2][0] < 2e-3
    assert gaps[0][1] > gaps[1][1] > gaps[2][1] >= 0.0
    assert gaps[2][1] < 2e-3


def test_symmetric_bound_is_xu_xu_lo() -> None:
    # For equal intensities the bound is [mu^3 H(nu) - nu^3 H(mu)] / (mu^2 nu^2 (mu - nu)).
    system = system_with(weak=0.1, strong=0.3)
    mu_a = np.asarray(system.alice.intensities)
    gains = x_decoy_gains(system, mu_a, mu_a, 0.02, 0.02)
    nu, mu = 0.1, 0.3

    def h(a: float, q: float, q0: float) -> float:
        return q * math.exp(2 * a) - 2 * q0 * math.exp(a) + float(gains.q_00)

    expected = (
        mu**3 * h(nu, float(gains.q_nn), float(gains.q_0n)) - nu**3 * h(mu, float(gains.q_mm), float(gains.q_0m))
    ) / (mu**2 * nu**2 * (mu - nu))
    assert float(y11_lower_bound(nu, nu, mu, mu, gains)) == pytest.approx(expected, rel=1e-12)


def test_asymmetric_bound_holds_for_every_excess_term() -> None:
    # A yield table with Y_nm = 1 for n + m >= 3 (n, m >= 1) is the worst case for the excess terms when
    # nu_a/mu_a != nu_b/mu_b: the bound must still stay below Y_11.
    na, nb, ma, mb, y11 = 0.02, 0.1, 0.4, 0.3, 1e-3
    n = np.arange(12)

    def g(a: float, b: float) -> float:
        table = np.ones((12, 12))
        table[0, :] = table[:, 0] = 0.0
        table[1, 1] = y11
        weights = np.outer(a**n / np.vectorize(math.factorial)(n), b**n / np.vectorize(math.factorial)(n))
        return float((weights * table).sum() * math.exp(-a - b))

    gains = XDecoyGains(
        q_nn=np.asarray(g(na, nb)),
        q_0n=np.asarray(0.0),
        q_n0=np.asarray(0.0),
        q_00=np.asarray(0.0),
        q_mm=np.asarray(g(ma, mb)),
        q_0m=np.asarray(0.0),
        q_m0=np.asarray(0.0),
        eq_nn=np.asarray(0.0),
    )
    bound = float(y11_lower_bound(na, nb, ma, mb, gains))
    assert 0.0 <= bound <= y11


def test_rate_formula_of_lo_curty_qi() -> None:
    system = system_with()
    rates = key_rate_infinite_decoys(system, 0.01, 0.02)
    s = 0.4
    p_zz = 0.6 * 0.6
    expected = p_zz * (
        s * s * math.exp(-2 * s) * float(rates.y11_z) * (1 - float(binary_entropy(rates.e11_x)))
        - 1.16 * float(rates.z_gain) * float(binary_entropy(rates.z_error_rate))
    )
    assert float(rates.key_rate_per_pulse_pair) == pytest.approx(expected, rel=1e-12)
    assert expected > 0


def test_rate_scales_as_the_total_transmittance_and_stays_below_plob() -> None:
    system = system_with()
    fibre = FibreParams(loss_db_per_km=0.2)
    lengths = np.arange(0.0, 501.0, 20.0)
    eta_a, eta_b = symmetric_arms(fibre, lengths)
    for rates in (key_rate_infinite_decoys(system, eta_a, eta_b), key_rate_decoy(system, eta_a, eta_b)):
        r = rates.key_rate_per_pulse_pair
        assert np.all(r < plob_bound(fibre_transmittance(fibre, lengths)))
        # Between 200 and 300 km (dark counts still negligible) R follows eta_a eta_b, not sqrt(eta_a eta_b).
        i, j = int(np.argmax(lengths == 200.0)), int(np.argmax(lengths == 300.0))
        slope = math.log(r[i] / r[j]) / math.log((eta_a[i] * eta_b[i]) / (eta_a[j] * eta_b[j]))
        assert slope == pytest.approx(1.0, abs=0.05)


def test_optimal_signal_beats_every_grid_point() -> None:
    system = system_with()
    eta = float(symmetric_arms(FibreParams(loss_db_per_km=0.2), 200.0)[0])

    def rate(s: np.ndarray) -> np.ndarray:
        return key_rate_decoy(system, eta, eta, signal_intensity=s).key_rate_per_pulse_pair

    best, value = optimise_signal_intensity(rate)
    grid = np.linspace(0.01, 1.5, 1500)
    assert value >= float(rate(grid).max()) * (1 - 1e-9)
    assert float(rate(np.array(best))) == pytest.approx(value, rel=1e-12)
    assert 0.2 < best < 1.0
    assert value > float(key_rate_decoy(system, eta, eta).key_rate_per_pulse_pair)  # beats the default 0.4


def test_signal_override_only_changes_the_signal() -> None:
    system = system_with()
    same = key_rate_decoy(system, 0.01, 0.01, signal_intensity=0.4)
    default = key_rate_decoy(system, 0.01, 0.01)
    assert float(same.key_rate_per_pulse_pair) == float(default.key_rate_per_pulse_pair)
    swapped = dataclasses.replace(system, ec_efficiency=1.5)
    assert float(key_rate_decoy(swapped, 0.01, 0.01).key_rate_per_pulse_pair) < float(default.key_rate_per_pulse_pair)
