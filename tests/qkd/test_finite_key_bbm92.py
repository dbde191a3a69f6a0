"""Tomamichel, Lim, Gisin, Renner, Nat. Commun. 3, 634 (2012), eq. (2): hand values and limits."""

from __future__ import annotations

import math

import pytest

from qinternet.errors import ParameterError
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.finite_key import FiniteKeyParams
from qinternet.qkd.finite_key_bbm92 import bbm92_finite_key_bits, tomamichel_deviation, tomamichel_key_length

PARAMS = FiniteKeyParams(eps_sec=1e-10, eps_cor=1e-15)


def _h(x: float) -> float:
    return -x * math.log2(x) - (1 - x) * math.log2(1 - x)


def test_the_deviation_is_the_printed_formula() -> None:
    # n = 1e5, k = 2e4, eps_sec = 1e-10: (n+k)/(nk) = 6e-5, (k+1)/k = 1.00005, ln(4e10) = 24.4121453
    expected = math.sqrt(6e-5 * 1.00005 * 24.412145291060348)
    assert tomamichel_deviation(1e5, 2e4, 1e-10) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.038273, abs=1e-6)


@pytest.mark.parametrize(("n", "k", "eps_sec"), [(1e5, 2e4, 1e-10), (1e7, 1e3, 1e-6), (50.0, 50.0, 0.1)])
def test_serflings_tail_at_mu_is_the_smoothing_parameter_squared(n: float, k: float, eps_sec: float) -> None:
    # Methods eq. (6): distance <= 2 eps + 1/2 sqrt(2**(l - H_min^eps)); eq. (2)'s log2(2/(eps_sec^2 eps_cor))
    # gives the hashing term eps_sec/2, so eps = eps_sec/4, and mu must make Serfling's tail (Supplementary,
    # Lemma 3) exp(-2 mu^2 n k^2 / ((n + k)(k + 1))) equal to eps^2
    mu = tomamichel_deviation(n, k, eps_sec)
    tail = math.exp(-2 * mu**2 * n * k**2 / ((n + k) * (k + 1)))
    assert tail == pytest.approx((eps_sec / 4) ** 2, rel=1e-9)


def test_the_key_length_is_the_printed_formula() -> None:
    n, k, q_tol, f = 1e5, 2e4, 0.02, 1.1
    mu = 0.0382727
    leak = f * n * _h(0.02)
    hand = n * (1 - _h(q_tol + mu)) - leak - math.log2(2 / (1e-20 * 1e-15))
    got = tomamichel_key_length(key_bits=n, test_bits=k, error_tolerance=q_tol, ec_leak_bits=leak, params=PARAMS)
    assert got == pytest.approx(hand, abs=5.0)  # mu to 7 digits moves h by < 5e-5 per bit
    assert got == pytest.approx(n * (1 - _h(0.0582727)) - leak - 117.265, abs=5.0)


def test_preparation_quality_lowers_the_key_by_n_times_its_shortfall() -> None:
    base = tomamichel_key_length(key_bits=1e6, test_bits=1e5, error_tolerance=0.01, ec_leak_bits=0, params=PARAMS)
    worse = tomamichel_key_length(
        key_bits=1e6, test_bits=1e5, error_tolerance=0.01, ec_leak_bits=0, params=PARAMS, preparation_quality=0.9
    )
    assert base - worse == pytest.approx(1e5, rel=1e-9)


@pytest.mark.parametrize("q", [0.0, 0.01, 0.03])
def test_the_rate_tends_to_the_shor_preskill_fraction(q: float) -> None:
    f = 1.16
    asymptotic = 1 - (1 + f) * float(binary_entropy(q))
    rates = []
    for n in (1e6, 1e8, 1e10, 1e14):
        k = math.sqrt(n) * 100  # k ~ sqrt(n): the test share vanishes, mu -> 0 (their Discussion)
        bits = bbm92_finite_key_bits(
            key_bits=n, key_errors=q * n, test_bits=k, test_errors=q * k, ec_efficiency=f, params=PARAMS
        )
        rates.append(bits / n)
    assert all(r < asymptotic for r in rates)
    assert rates == sorted(rates)
    # mu(1e14, 1e9) = sqrt(ln(4e10) / 1e9) = 1.6e-4: h' ~ log2((1-q)/q) <= 12 at q >= 1e-4; 1 % covers it
    assert rates[-1] == pytest.approx(asymptotic, abs=0.01 if q else 0.005)


def test_no_key_below_a_minimum_block_and_monotone_in_n() -> None:
    lengths = [
        bbm92_finite_key_bits(
            key_bits=n, key_errors=0.02 * n, test_bits=n, test_errors=0.02 * n, ec_efficiency=1.16, params=PARAMS
        )
        for n in (100, 1_000, 3_000, 10_000, 100_000, 1_000_000)
    ]
    assert lengths[0] == 0
    assert lengths[1] == 0
    assert lengths[-1] > 0
    assert lengths == sorted(lengths)


def test_errors_beyond_half_or_no_test_bits_give_no_key() -> None:
    assert (
        bbm92_finite_key_bits(
            key_bits=1e6, key_errors=0, test_bits=1e6, test_errors=0.5e6, ec_efficiency=1.0, params=PARAMS
        )
        == 0
    )
    assert (
        bbm92_finite_key_bits(key_bits=1e6, key_errors=0, test_bits=0, test_errors=0, ec_efficiency=1.0, params=PARAMS)
        == 0
    )


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(ParameterError, match="error_tolerance"):
        tomamichel_key_length(key_bits=1e6, test_bits=1e5, error_tolerance=1.5, ec_leak_bits=0, params=PARAMS)
    with pytest.raises(ParameterError, match="test_errors"):
        bbm92_finite_key_bits(key_bits=10, key_errors=0, test_bits=10, test_errors=11, ec_efficiency=1.0, params=PARAMS)
