"""The MDI Monte-Carlo relay against the analytic model, within statistical tolerances derived from the counts.

Tolerances. A heralded count of a pair that was sent ``N_s`` times is binomial, so its frequency has
standard deviation ``sqrt(Q (1 - Q) / N_s)``. Derived estimates (``Y_11^L``, ``e_11^U``, the key rate) are
nonlinear in many counts, so their standard deviation is measured over independent replicate blocks
(cheap: a block is one multinomial draw) and the replicate mean must match the analytic value within
5 standard errors. Every check allows 5 standard deviations; with fixed seeds nothing flakes, and a
correct model fails one of the ~60 checks with probability below 1e-4.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qinternet.params.devices import DetectorParams, FibreParams
from qinternet.params.mdi import BsmStationParams, MdiSourceParams, MdiSystem
from qinternet.qkd.mdi import (
    PSI_MINUS,
    PSI_PLUS,
    RIGHT,
    WRONG,
    X,
    Z,
    key_rate_decoy,
    outcome_probabilities,
    symmetric_arms,
)
from qinternet.qkd.mdi_finite import (
    MdiCounts,
    MdiFiniteKeyParams,
    asymptotic_estimate,
    expected_counts,
    finite_key_length,
    finite_key_rate,
)
from qinternet.qkd.mdi_montecarlo import MAX_PULSE_PAIRS, compile_mdi, sample_counts

SIGMAS = 5.0
SOURCE = MdiSourceParams(
    intensities=(0.4, 0.2, 0.05, 0.0), z_basis_probs=(0.6, 0.0, 0.0, 0.0), x_basis_probs=(0.0, 0.1, 0.2, 0.1)
)
SYSTEM = MdiSystem(
    alice=SOURCE,
    bob=SOURCE,
    bsm=BsmStationParams(
        detector=DetectorParams(efficiency=0.6, dark_count_prob=1e-6), misalignment_error=0.015, visibility=0.9
    ),
    ec_efficiency=1.16,
)
ETA = float(symmetric_arms(FibreParams(loss_db_per_km=0.2), 50.0)[0])


def photon_level_frequencies(
    bsm: BsmStationParams, mu_a: float, mu_b: float, eta_a: float, eta_b: float, samples: int, seed: int
) -> np.ndarray:
    """Simulate the optics pulse by pulse, independently of the library's formulas.

    Each pulse pair gets random phases; the beam splitter and polarising beam splitters map the two coherent
    fields to coherent amplitudes at the four channels (1H, 1V, 2H, 2V), Bob's field split into the part in
    Alice's mode (amplitude sqrt(V)) and an orthogonal part; photon numbers are Poisson, threshold detectors
    click on a photon (efficiency folded into the amplitudes) or a dark count; a psi^- is exactly 1H & 2V or
    1V & 2H, a psi^+ exactly 1H & 1V or 2H & 2V; the reported relation flips with probability e_d. Returns
    frequencies shaped like outcome_probabilities: [basis_a, basis_b, bell, right/wrong].
    """
    rng = np.random.default_rng(seed)
    r2 = 1 / math.sqrt(2)
    pol = {(0, 0): (1.0, 0.0), (0, 1): (0.0, 1.0), (1, 0): (r2, r2), (1, 1): (r2, -r2)}
    eff = bsm.detector.efficiency
    amp_a, amp_b = math.sqrt(eff * eta_a * mu_a), math.sqrt(eff * eta_b * mu_b)
    v = bsm.visibility
    out = np.zeros((2, 2, 2, 2))
    for (ba, xa), pa in pol.items():
        for (bb, xb), pb in pol.items():
            phase_a = np.exp(1j * rng.uniform(0, 2 * np.pi, samples))
            phase_b = np.exp(1j * rng.uniform(0, 2 * np.pi, samples))
            clicks = []
            for sign, e in ((1, 0), (1, 1), (-1, 0), (-1, 1)):  # 1H, 1V, 2H, 2V
                same_mode = (amp_a * pa[e] * phase_a + sign * math.sqrt(v) * amp_b * pb[e] * phase_b) * r2
                other_mode = sign * math.sqrt(1 - v) * amp_b * pb[e] * phase_b * r2
                photons = rng.poisson(np.abs(same_mode) ** 2) + rng.poisson(np.abs(other_mode) ** 2)
                clicks.append((photons > 0) | (rng.random(samples) < bsm.detector.dark_count_prob))
            c = np.array(clicks)
            exactly_two = c.sum(axis=0) == 2
            minus = exactly_two & ((c[0] & c[3]) | (c[1] & c[2]))
            plus = exactly_two & ((c[0] & c[1]) | (c[2] & c[3]))
            flip = rng.random(samples) < bsm.misalignment_error
            for bell, heralded in ((PSI_MINUS, minus), (PSI_PLUS, plus)):
                equal_announced = ba == X and bb == X and bell == PSI_PLUS
                obeys = ((xa == xb) == equal_announced) != flip
                out[ba, bb, bell, RIGHT] += np.mean(heralded & obeys) / 4
                out[ba, bb, bell, WRONG] += np.mean(heralded & ~obeys) / 4
    return out


@pytest.mark.parametrize(
    ("mu_a", "mu_b", "eta", "dark", "visibility", "e_d"),
    [
        (0.5, 0.4, 0.5, 0.02, 0.8, 0.03),
        (1.2, 0.3, 0.9, 0.001, 1.0, 0.0),
        (0.8, 0.8, 0.9, 0.001, 0.3, 0.0),
        (0.0, 0.6, 0.7, 0.05, 0.5, 0.1),
    ],
)
def test_outcome_probabilities_match_a_photon_level_simulation(
    mu_a: float, mu_b: float, eta: float, dark: float, visibility: float, e_d: float
) -> None:
    bsm = BsmStationParams(
        detector=DetectorParams(efficiency=0.8, dark_count_prob=dark), misalignment_error=e_d, visibility=visibility
    )
    samples = 100_000  # per (basis, bit) combination; a frequency averaged over 4 combinations has 4x the samples
    simulated = photon_level_frequencies(bsm, mu_a, mu_b, eta, eta * 0.8, samples, seed=11)
    exact = outcome_probabilities(bsm, mu_a, mu_b, eta, eta * 0.8)
    sigma = np.sqrt(exact * (1 - exact) / (4 * samples))
    assert np.all(np.abs(simulated - exact) <= SIGMAS * sigma + 1e-12)
    assert exact[Z, Z].sum() > 0.01  # the check has events to see


def test_counts_add_up_and_repeat_with_the_seed() -> None:
    sampler = compile_mdi(SYSTEM, ETA, ETA)
    assert float(sampler.probabilities.sum()) == pytest.approx(1.0, abs=1e-15)
    first = sample_counts(sampler, 10**9, np.random.default_rng(3))
    again = sample_counts(sampler, 10**9, np.random.default_rng(3))
    np.testing.assert_array_equal(first.sent, again.sent)
    np.testing.assert_array_equal(first.heralded, again.heralded)
    assert float(first.pulse_pairs) == 10**9
    assert np.all(first.errors <= first.heralded)
    # The cost does not grow with the pulses: the largest block is one draw like any other.
    huge = sample_counts(sampler, MAX_PULSE_PAIRS, np.random.default_rng(4))
    assert float(huge.pulse_pairs) == pytest.approx(float(MAX_PULSE_PAIRS), rel=1e-12)


def test_gains_of_every_pair_within_their_binomial_error() -> None:
    counts = sample_counts(compile_mdi(SYSTEM, ETA, ETA), 10**10, np.random.default_rng(5))
    mu = np.asarray(SOURCE.intensities)
    exact = outcome_probabilities(SYSTEM.bsm, mu[:, None], mu[None, :], ETA, ETA)  # (ka, kb, ba, bb, bell, rw)
    checked = 0
    for ka in range(4):
        for kb in range(4):
            for ba in (Z, X):
                for bb in (Z, X):
                    sent = float(counts.sent[ka, ba, kb, bb])
                    if sent < 1e6:
                        continue
                    for bell in (PSI_MINUS, PSI_PLUS):
                        for observed, p in (
                            (counts.heralded[ka, ba, kb, bb, bell], exact[ka, kb, ba, bb, bell].sum()),
                            (counts.errors[ka, ba, kb, bb, bell], exact[ka, kb, ba, bb, bell, WRONG]),
                        ):
                            assert abs(observed / sent - p) <= SIGMAS * math.sqrt(p * (1 - p) / sent) + 1e-15
                            checked += 1
    assert checked >= 60


def test_estimates_from_simulated_counts_match_the_analytic_model() -> None:
    sampler = compile_mdi(SYSTEM, ETA, ETA)
    rng = np.random.default_rng(8)
    replicates = [asymptotic_estimate(sample_counts(sampler, 10**10, rng), SYSTEM) for _ in range(300)]
    analytic = key_rate_decoy(SYSTEM, ETA, ETA)
    for name in ("y11_z", "e11_x", "z_gain", "z_error_rate", "key_rate_per_pulse_pair"):
        values = np.array([float(getattr(r, name)) for r in replicates])
        exact = float(getattr(analytic, name))
        # The replicate mean within 5 standard errors (the estimators' O(1/counts) bias is far smaller).
        assert abs(values.mean() - exact) <= SIGMAS * values.std(ddof=1) / math.sqrt(values.size), name
        assert values.std(ddof=1) < 0.2 * abs(exact), name  # and the comparison has power
    assert float(analytic.key_rate_per_pulse_pair) > 0


def test_finite_key_from_simulated_counts_matches_the_expected_counts() -> None:
    # The key length is a smooth function of the counts: simulated blocks scatter around the value the
    # expected counts give, within 5 standard errors of the replicates.
    block = 10**11
    params = MdiFiniteKeyParams(eps_sec=1e-10, eps_cor=1e-15)
    sampler = compile_mdi(SYSTEM, ETA, ETA)
    rng = np.random.default_rng(9)
    lengths = np.array(
        [
            float(finite_key_length(sample_counts(sampler, block, rng), SYSTEM, params).key_length_bits)
            for _ in range(200)
        ]
    )
    expected = float(finite_key_rate(SYSTEM, ETA, ETA, block_pulse_pairs=block, params=params).key_length_bits)
    assert expected > 0
    assert abs(lengths.mean() - expected) <= SIGMAS * lengths.std(ddof=1) / math.sqrt(lengths.size) + 1.0


def test_simulated_counts_are_valid_counts() -> None:
    counts = sample_counts(compile_mdi(SYSTEM, ETA, ETA), 10**8, np.random.default_rng(10))
    total = counts + counts
    assert isinstance(total, MdiCounts)
    np.testing.assert_array_equal(total.sent, 2 * counts.sent)
    expected = expected_counts(SYSTEM, ETA, ETA, 1e8)
    assert expected.sent.shape == counts.sent.shape
    assert expected.heralded.shape == counts.heralded.shape
