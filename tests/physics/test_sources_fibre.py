"""Photon statistics and fibre loss."""

from __future__ import annotations

import numpy as np
import pytest

from qinternet.params import FibreParams, PairStatistics
from qinternet.physics import (
    fibre_transmittance,
    pair_number_pmf,
    poisson_pmf,
    poisson_vacuum,
    thermal_vacuum,
)


@pytest.mark.parametrize("statistics", list(PairStatistics))
@pytest.mark.parametrize("mean", [0.01, 0.1, 1.0])
def test_pair_distributions_are_normalised_with_the_stated_mean(statistics: PairStatistics, mean: float) -> None:
    n = np.arange(0, 400)
    p = pair_number_pmf(n, mean, statistics)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert float(np.sum(n * p)) == pytest.approx(mean, rel=1e-10)


def test_thermal_pairs_have_the_ma_fung_lo_form() -> None:
    # P(n) = (n+1) lam^n / (1+lam)^(n+2), lam = mean/2 (Ma, Fung, Lo 2007, eq. (5)).
    lam = 0.3
    assert float(pair_number_pmf(2, 2 * lam, PairStatistics.THERMAL)) == pytest.approx(3 * lam**2 / (1 + lam) ** 4)


def test_vacuum_functions_are_generating_functions() -> None:
    n = np.arange(0, 300)
    x, mean = 0.37, 1.3
    assert float(poisson_vacuum(mean, x)) == pytest.approx(float(np.sum(poisson_pmf(n, mean) * (1 - x) ** n)))
    geometric = mean**n / (1 + mean) ** (n + 1)
    assert float(thermal_vacuum(mean, x)) == pytest.approx(float(np.sum(geometric * (1 - x) ** n)))


def test_fibre_loss_is_linear_in_db() -> None:
    fibre = FibreParams(loss_db_per_km=0.2, insertion_loss_db=3.0)
    assert float(fibre_transmittance(fibre, 50.0)) == pytest.approx(10 ** (-1.3))
    np.testing.assert_allclose(fibre_transmittance(fibre, [0.0, 100.0]), [10**-0.3, 10**-2.3])
