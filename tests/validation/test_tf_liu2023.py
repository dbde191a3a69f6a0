"""The twin-field record of Liu et al., PRL 130, 210801 (2023) (arXiv:2303.15795), against the AOPP models.

Published, and where it was found (the paper's parameter table could not be read with the tools at hand):
* abstract of the PRL (arXiv listing, as mirrored by arxivlens/bohrium): 3-intensity SNS with
  actively-odd-parity-pairing (AOPP), 1,002 km, system noise around 0.02 Hz, 9.53e-12 bit per pulse at
  1,002 km (asymptotic) and 8.75e-12 per pulse at 952 km (finite size);
* a public repository's notes that cite the PRL's pages: 0.0034 bit/s at 1,002 km (p. 9), 0.0031 bit/s at
  952 km with finite size (p. 10), fibre below 0.157 dB/km (p. 5); another's: 156.5 dB in total;
* USTC's press release (Science and Technology Daily, China Science Daily 2023-05-26; China News Service
  2023-05-27): fibre below 0.16 dB/km, detector noise 0.02 per second, time-multiplexed dual-wavelength phase
  estimation, 0.0034 bit/s at 1,002 km and, "after optimising the system parameters", 47.06 kbit/s at 202 km;
* the finite-key companion, Liu et al., Quantum Front. 2, 16 (2023) (arXiv:2402.00005), abstract: 3.11e-12
  per pulse at 1,002 km with finite size, 111.74 kbit/s at 202 km.

The related records asked about: Chen et al., PRL 128, 180502 (2022) (arXiv:2110.11671) is 658 km of SNS
TF-QKD with finite size from the same group and system family (abstract only found, no parameters); Wang et
al., Nat. Photon. 16, 154 (2022) (833.8 km, "830 km") is another group's four-phase TF-QKD, not SNS, so its
devices say nothing about this system.

Derived: 0.0034 / 9.53e-12 = 3.57e8 and 0.0031 / 8.75e-12 = 3.54e8 time windows per second, equal within
the rounding of the bit/s figures. Everything else in :data:`~qinternet.params.twinfield.LIU2023` is assumed
(its notes): a 1 ns detection window (2e-11 noise clicks per window), detector efficiency 0.6, X-window error
4 %, f = 1.16, p_z = 0.8, mu_1 = 0.05; all but the window were chosen before AOPP was modelled.

Published against computed (per time window; bit/s at 3.57e8 windows/s):

| distance | regime | published | computed | ratio |
|---|---|---|---|---|
| 1,002 km | asymptotic | 9.53e-12 (0.0034 bit/s) | 1.57e-11 (0.0056 bit/s) | 1.65 |
| 952 km | finite | 8.75e-12 (0.0031 bit/s) | 7.9e-12 at N = 3e14, 1.3e-11 at 4e14 | N not found |
| 1,002 km | finite | 3.11e-12 | 0 up to N = 3e15; 1.7e-12 at 1e16 | disagrees (below) |
| 202 km | finite | 47.06 kbit/s (PRL) | 60.8 kbit/s at N = 1e13 | 1.29 |
| 202 km | finite | 111.74 kbit/s (companion) | 60.8 kbit/s at N = 1e13 | 0.54 |
| 303 km | finite | 23.44 kbit/s (companion*) | 9.2 kbit/s at N = 1e13 | 0.39 |
| 404 km | finite | 2.80 kbit/s (companion*) | 1.34 kbit/s at N = 1e13 | 0.48 |
| 505 km | finite | 338 bit/s (companion*) | 186 bit/s at N = 1e13 | 0.55 |

(*) as a public benchmark list quotes the companion with its DOI (PhotonTrust's benchmark runner); not read in
the paper.

Tolerance: a factor of 2, because the unknown device figures each move the rate at 1,002 km by about that
much - it is the edge of the key region, where the rate falls steeply. With the other assumptions fixed:
detection window 0.8 / 1.2 / 1.5 ns gives 2.5 / 0.85 / 0 times the published rate; detector efficiency 0.5 /
0.7 gives 0.71 / 2.6; e_d = 3 % / 5 % gives 2.5 / 0.92; f = 1.1 / 1.2 gives 1.9 / 1.5; p_z = 0.7 / 0.9 gives
1.3 / 2.1. The detection window drives it most, and it is assumed: the agreement at 1,002 km says that the
model with plausible devices puts the end of the key region where the experiment found it, not that the
devices are known.

Block sizes were not found either. The finite-size model (:mod:`qinternet.qkd.tf_aopp_finite`, a stated
approximation) reaches the 952 km figure with about 3.2e14 windows (10 days at 3.57e8/s): the test brackets
it between 1e14 (3 days) and 1e15 (a month). The companion's 3.11e-12 at 1,002 km disagrees: this model needs
about 1e16 windows (ten months) for any finite-size key there. An earlier reading put the gap in the finite-size
analysis (separate Chernoff bounds; the phase-error estimate from the few hundred phase-matched X-window errors
costs most); the tests below locate it in the assumed devices instead.

**Why 1,002 km with finite size is not reproduced** (tested): the model's 1,002 km point sits at its noise
cut-off and the experiment's did not. From 952 to 1,002 km the fibre lowers a twin-field rate by 2.46 (sqrt(eta));
the model's asymptotic rate falls by 6.4, because the assumed noise (0.02 Hz over a 1 ns window, 2e-11 per window,
about 2 % of the signal clicks at 1,002 km) raises the error after pairing from 0.8 % to 2.1 %. A key that close to
its cut-off does not survive finite-size bounds: none up to 3e15 windows, and at 1e16 only 0.11 of the asymptotic
rate, where the companion kept a third (3.11e-12 of 9.53e-12). The analysis itself was checked against the
protocol (decoy bounds, pairing, the parity's cost in phase errors) and no error was found; it is not the zigzag
analysis of Jiang et al., which could not be read, but a tighter finite-size bound would not lift the asymptotic
rate, which noise has already lowered 6.4-fold. What would be needed: the paper's parameter table (detector
efficiency, noise per window or the detection window, e_d or the X-window error rate, p_z, the intensities and
probabilities) and the number of windows of each run.

The finite-size analysis is not what fails (tested): with 0.02 Hz over a 0.25 ns window (5e-12 per window)
instead of 1 ns, the model's 1,002 km point leaves its cut-off and the companion's 3.11e-12 is reached with a month of
windows - 4.0e-12 at 1e15 with detector efficiency 0.45, 2.6e-12 at 3e15 with 0.3 - keeping a third of the
asymptotic rate by 3e15 windows, as the companion kept a third of the PRL's. But those device sets put the
asymptotic rate at 1,002 km 3.5 (0.45) or 1.9 (0.3) times above the PRL's, and the 952 km finite rate at 3e14 windows
2.1 or 0.55 times the PRL's: no device set of that small grid meets all the long-distance figures within 1.5x, which
is where the paper's table is needed.

The distance dependence is reproduced: from 202 to 505 km the model's rates, relative to its 202 km rate, are
0.72, 0.88 and 1.01 times the companion's (303, 404, 505 km; tested within 1.5x, the spread that the unknown
block sizes allow); its absolute level is about half the companion's everywhere, the factor that a window rate or
detector efficiency above the assumed ones would give, and 1.29 times the PRL's 202 km rate.

At 202 km the window rate of the companion's runs is unknown ("optimising parameters for shorter fibre");
at 3.57e8 windows/s its 111.74 kbit/s needs 3.1e-4 bit per window, 1.8 times this model's rate. Both 202 km
figures are within the factor of 2; the press release's 47.06 kbit/s (the PRL's) is the closer.
"""

from __future__ import annotations

import pytest

from qinternet.params.devices import DetectorParams
from qinternet.params.twinfield import LIU2023, InterferenceStationParams, Sns3SourceParams, SnsSourceParams
from qinternet.params.units import db_to_transmittance
from qinternet.qkd.bounds import plob_bound
from qinternet.qkd.tf_aopp import optimise_aopp
from qinternet.qkd.tf_aopp_finite import optimise_aopp_finite
from qinternet.qkd.tf_finite import SnsFiniteParams
from qinternet.qkd.twinfield import optimise_sns

PUBLISHED_ASYMPTOTIC_1002_KM = 9.53e-12
PUBLISHED_FINITE_952_KM = 8.75e-12
PUBLISHED_FINITE_1002_KM = 3.11e-12  # companion paper
PUBLISHED_BITS_PER_S_1002_KM = 0.0034
PUBLISHED_BITS_PER_S_952_KM = 0.0031
PUBLISHED_202_KM_BITS_PER_S = (47.06e3, 111.74e3)  # PRL (press release), companion
PUBLISHED_LOSS_DB_1002_KM = 156.5
PUBLISHED_NOISE_HZ = 0.02
PUBLISHED_COMPANION_BITS_PER_S = {202.0: 111.74e3, 303.0: 23.44e3, 404.0: 2.80e3, 505.0: 338.0}
"""The companion's finite-size rates from 202 to 505 km, bit/s. 202 km is in its abstract; the other three as a
public benchmark list quotes the companion (PhotonTrust's benchmark runner, citing doi:10.1007/s44214-023-00039-9),
not read in the paper itself."""
SHAPE_FACTOR = 1.5
"""Tolerance on a ratio of two rates of the companion (module docstring): the block of each run is unknown, and
from 1e12 to 1e14 windows the model's rate moves by -9/+6 % at 202 km and -30/+21 % at 505 km."""
FACTOR = 2.0
"""Tolerance on a rate: the unknown device figures each move the 1,002 km rate by about this much (docstring)."""
BLOCK_202_KM = 1e13
"""Assumed block at 202 km: 8 hours at 3.57e8 windows/s; from 1e12 to 1e15 the rate moves by less than 20 %."""

SOURCE = LIU2023.source
assert isinstance(SOURCE, Sns3SourceParams)
STATION = LIU2023.station
F = LIU2023.ec_efficiency

IDEAL_SOURCE = SnsSourceParams(
    z_window_prob=0.999, sending_prob=0.1, signal_intensity=0.4, decoy_intensities=(1e-4, 2e-4)
)
IDEAL_STATION = InterferenceStationParams(
    detector=DetectorParams(efficiency=1.0, dark_count_prob=0.0), phase_slice_rad=STATION.phase_slice_rad
)


def arm(total_km: float) -> float:
    """Transmittance of one arm: the fibre split evenly, at the preset's attenuation."""
    return float(db_to_transmittance(LIU2023.fibre_loss_db_per_km * total_km / 2))


def test_preset_carries_the_published_figures() -> None:
    assert LIU2023.fibre_loss_db_per_km * 1002.0 == pytest.approx(PUBLISHED_LOSS_DB_1002_KM, abs=0.05)
    assert LIU2023.fibre_loss_db_per_km < 0.157
    # Both published (bit/pulse, bit/s) pairs give the window rate, within the rounding of the bit/s figures.
    assert SOURCE.rep_rate_hz * PUBLISHED_ASYMPTOTIC_1002_KM == pytest.approx(PUBLISHED_BITS_PER_S_1002_KM, abs=5e-5)
    assert SOURCE.rep_rate_hz * PUBLISHED_FINITE_952_KM == pytest.approx(PUBLISHED_BITS_PER_S_952_KM, abs=5e-5)
    # 0.02 Hz over the assumed 1 ns detection window.
    assert STATION.detector.dark_count_prob == pytest.approx(PUBLISHED_NOISE_HZ * 1e-9, rel=1e-12)


def test_asymptotic_rate_at_1002_km_within_a_factor_of_two() -> None:
    point = optimise_aopp(arm(1002.0), arm(1002.0), SOURCE, STATION, ec_efficiency=F)
    ratio = point.key_rate_per_pulse / PUBLISHED_ASYMPTOTIC_1002_KM
    assert 1 / FACTOR < ratio < FACTOR, ratio
    bits_per_s = point.key_rate_per_pulse * SOURCE.rep_rate_hz
    assert 1 / FACTOR < bits_per_s / PUBLISHED_BITS_PER_S_1002_KM < FACTOR
    # AOPP's work: the raw key's error rate (~28 %: dark counts and double sends) falls to about 2 %.
    assert point.z_error_rate > 0.25
    assert point.error_rate_after_pairing < 0.03


@pytest.mark.parametrize("total_km", [952.0, 1002.0])
def test_plain_sns_with_the_same_devices_gives_no_key(total_km: float) -> None:
    # The experiment needed AOPP (Xu et al., PRA 101, 042330 (2020)): without it the same devices give nothing.
    plain = SnsSourceParams(
        z_window_prob=SOURCE.z_window_prob,
        sending_prob=SOURCE.sending_prob,
        signal_intensity=SOURCE.signal_intensity,
        decoy_intensities=(SOURCE.decoy_intensity, 0.3),
    )
    assert optimise_sns(arm(total_km), arm(total_km), plain, STATION, ec_efficiency=F).key_rate_per_pulse == 0.0
    assert optimise_aopp(arm(total_km), arm(total_km), SOURCE, STATION, ec_efficiency=F).key_rate_per_pulse > 0.0


def test_finite_rate_at_952_km_is_reached_with_days_of_windows() -> None:
    eta = arm(952.0)
    asymptotic = optimise_aopp(eta, eta, SOURCE, STATION, ec_efficiency=F).key_rate_per_pulse
    assert asymptotic > PUBLISHED_FINITE_952_KM  # a finite-size rate cannot beat the asymptotic one

    def finite(block: float) -> float:
        params = SnsFiniteParams(block_pulses=block)
        return optimise_aopp_finite(eta, eta, STATION, ec_efficiency=F, params=params).key_rate_per_pulse

    # The block size was not found: the model reaches the published rate between 3 days and a month of
    # windows at 3.57e8/s (at about 10 days); a model off by orders of magnitude would not.
    assert finite(1e14) < PUBLISHED_FINITE_952_KM < finite(1e15)


def test_202_km_rate_within_a_factor_of_two_of_both_publications() -> None:
    eta = arm(202.0)
    params = SnsFiniteParams(block_pulses=BLOCK_202_KM)
    point = optimise_aopp_finite(eta, eta, STATION, ec_efficiency=F, params=params)
    bits_per_s = point.key_rate_per_pulse * SOURCE.rep_rate_hz
    for published in PUBLISHED_202_KM_BITS_PER_S:
        assert 1 / FACTOR < bits_per_s / published < FACTOR, (bits_per_s, published)


@pytest.mark.parametrize(
    ("total_km", "published"),
    [(1002.0, PUBLISHED_ASYMPTOTIC_1002_KM), (952.0, PUBLISHED_FINITE_952_KM), (1002.0, PUBLISHED_FINITE_1002_KM)],
)
def test_published_rate_lies_between_plob_and_ideal_sns(total_km: float, published: float) -> None:
    eta = arm(total_km)
    plob = float(plob_bound(eta * eta))
    ideal = optimise_sns(eta, eta, IDEAL_SOURCE, IDEAL_STATION, ec_efficiency=1.0).key_rate_per_pulse
    # Beyond any repeaterless protocol by three orders of magnitude, and below perfect SNS: a model that used
    # the total transmittance where SNS sees one arm's would put the ideal rate near 1e-17, below these.
    assert plob * 1e3 < published < ideal
    assert ideal / published < 1e3


def test_the_distance_dependence_from_202_to_505_km_follows_the_companion() -> None:
    # Ratios to the 202 km rate are free of what is common to the runs and unknown here (window rate, p_z^2,
    # detector efficiency to first order): they test how the model's rate falls with the fibre. The model's falls
    # within 1.5x of the companion's from 202 to 505 km (0.72, 0.88 and 1.01 of the published ratios at 303, 404
    # and 505 km), while a rate scaling with the total transmittance (MDI-like) would fall 400 times further by
    # 505 km.
    params = SnsFiniteParams(block_pulses=BLOCK_202_KM)

    def rate(total_km: float) -> float:
        eta = arm(total_km)
        return optimise_aopp_finite(eta, eta, STATION, ec_efficiency=F, params=params).key_rate_per_pulse

    reference = rate(202.0)
    for total_km, published in PUBLISHED_COMPANION_BITS_PER_S.items():
        if total_km == 202.0:
            continue
        computed_ratio = rate(total_km) / reference
        published_ratio = published / PUBLISHED_COMPANION_BITS_PER_S[202.0]
        assert 1 / SHAPE_FACTOR < computed_ratio / published_ratio < SHAPE_FACTOR, (total_km, computed_ratio)


def test_at_1002_km_the_model_sits_at_its_noise_cut_off_and_the_experiment_did_not() -> None:
    # Why the companion's finite-size 3.11e-12 at 1,002 km is not reproduced (module docstring). From 952 to
    # 1,002 km the fibre alone lowers a twin-field rate (~ sqrt(eta)) by 10^(7.8 dB / 20) = 2.46; the model's
    # asymptotic rate falls by 6.4, because at 1,002 km the assumed noise (2e-11 per window and detector, 2 % of
    # the signal clicks) already eats most of the key after pairing (E' = 2.1 % against 0.8 % at 952 km).
    fibre_only = 10.0 ** (LIU2023.fibre_loss_db_per_km * 50.0 / 20.0)
    at_952 = optimise_aopp(arm(952.0), arm(952.0), SOURCE, STATION, ec_efficiency=F)
    at_1002 = optimise_aopp(arm(1002.0), arm(1002.0), SOURCE, STATION, ec_efficiency=F)
    assert at_952.key_rate_per_pulse / at_1002.key_rate_per_pulse > 2.0 * fibre_only
    assert at_1002.error_rate_after_pairing > 2.0 * at_952.error_rate_after_pairing

    def finite(block: float) -> float:
        eta = arm(1002.0)
        params = SnsFiniteParams(block_pulses=block)
        return optimise_aopp_finite(eta, eta, STATION, ec_efficiency=F, params=params).key_rate_per_pulse

    # A key so close to its cut-off does not survive finite-size bounds: none up to 3e15 windows (100 days at
    # 3.57e8/s), and at 1e16 (a year) only 0.11 of the asymptotic rate - where the companion kept 3.11e-12, a third
    # of the PRL's asymptotic 9.53e-12. The experiment's 1,002 km point was further from its cut-off than the
    # model's: less noise per window relative to the signal than assumed (the detection window, the detector
    # efficiency and e_d are assumptions); the paper's parameter table and block size would show which.
    assert finite(3e15) == 0.0
    kept = finite(1e16) / at_1002.key_rate_per_pulse
    assert 0.0 < kept < PUBLISHED_FINITE_1002_KM / PUBLISHED_ASYMPTOTIC_1002_KM


def test_with_less_noise_per_window_the_finite_size_analysis_reaches_the_companion_at_1002_km() -> None:
    # The other half of the diagnosis: the finite-size analysis is not what fails at 1,002 km. Move the model's point
    # away from its cut-off - 0.02 Hz over a 0.25 ns detection window (5e-12 per window) instead of 1 ns, with
    # detectors of efficiency 0.45 - and a block of a month of windows (1e15 at 3.57e8/s) gives the companion's
    # finite-size rate within 1.3x, keeping a third of the asymptotic rate by 3e15 windows as the companion kept a
    # third of the PRL's. Neither figure is the paper's (their table could not be read); the test shows what kind
    # of device set the published figures need, not that it is theirs.
    quieter = InterferenceStationParams(
        detector=DetectorParams(efficiency=0.45, dark_count_prob=PUBLISHED_NOISE_HZ * 0.25e-9),
        misalignment_error=STATION.misalignment_error,
        phase_noise_rad=STATION.phase_noise_rad,
        phase_slice_rad=STATION.phase_slice_rad,
    )
    eta = arm(1002.0)

    def finite(block: float) -> float:
        params = SnsFiniteParams(block_pulses=block)
        return optimise_aopp_finite(eta, eta, quieter, ec_efficiency=F, params=params).key_rate_per_pulse

    asymptotic = optimise_aopp(eta, eta, SOURCE, quieter, ec_efficiency=F).key_rate_per_pulse
    assert 1 / FACTOR < finite(1e15) / PUBLISHED_FINITE_1002_KM < FACTOR
    kept = finite(3e15) / asymptotic
    assert 0.5 < kept / (PUBLISHED_FINITE_1002_KM / PUBLISHED_ASYMPTOTIC_1002_KM) < 2.0
