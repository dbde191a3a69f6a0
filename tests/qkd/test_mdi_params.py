"""Bad MDI-QKD input gets a ParameterError that names the field (and the reason)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np
import pytest

from qinternet.errors import ParameterError
from qinternet.params.devices import DetectorParams, FibreParams, WcpSourceParams
from qinternet.params.mdi import (
    YIN2016,
    BellStates,
    BsmLayout,
    BsmStationParams,
    FibreRun,
    MdiDeviceSet,
    MdiSourceParams,
    MdiSystem,
    PublishedRate,
)
from qinternet.qkd.mdi import key_rate_decoy, optimise_signal_intensity, outcome_probabilities
from qinternet.qkd.mdi_finite import MdiCounts, MdiFiniteKeyParams, chernoff_expectation_bounds, expected_counts
from qinternet.qkd.mdi_montecarlo import compile_mdi, sample_counts

GOOD_SOURCE: dict[str, Any] = {
    "intensities": (0.4, 0.2, 0.05, 0.0),
    "z_basis_probs": (0.6, 0.0, 0.0, 0.0),
    "x_basis_probs": (0.0, 0.1, 0.2, 0.1),
}
BSM = BsmStationParams(detector=DetectorParams(efficiency=0.6, dark_count_prob=1e-7), misalignment_error=0.015)
SYSTEM = MdiSystem(
    alice=MdiSourceParams(**GOOD_SOURCE), bob=MdiSourceParams(**GOOD_SOURCE), bsm=BSM, ec_efficiency=1.16
)


def raises(field: str) -> Any:
    """Expect a ParameterError for exactly ``field``."""
    return pytest.raises(ParameterError, match="^" + re.escape(field) + ": ")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"intensities": (0.4, 0.2, 0.05, 0.1)}, "source.intensities"),  # no vacuum
        ({"intensities": (0.4, 0.2, 0.2, 0.0)}, "source.intensities"),  # repeated
        ({"intensities": (0.4, float("nan"), 0.05, 0.0)}, "source.intensities[1]"),
        ({"intensities": (0.4, -0.2, 0.05, 0.0)}, "source.intensities[1]"),
        ({"intensities": (40.0, 0.2, 0.05, 0.0)}, "source.intensities[0]"),
        ({"intensities": ()}, "source.intensities"),
        ({"z_basis_probs": (0.6, 0.0, 0.0)}, "source.z_basis_probs"),
        ({"x_basis_probs": (0.0, 0.1, 0.2, 0.2)}, "source.z_basis_probs"),  # sums to 1.1
        ({"x_basis_probs": (0.0, 0.1, 1.2, -1.0)}, "source.x_basis_probs[2]"),
        ({"x_basis_probs": (0.0, 0.3, 0.0, 0.1)}, "source.x_basis_probs"),  # one X decoy only
        ({"z_basis_probs": (0.0, 0.0, 0.0, 0.6)}, "source.z_basis_probs"),  # only the vacuum in Z
        ({"phase_randomised": False}, "source.phase_randomised"),
        ({"rep_rate_hz": 0.0}, "source.rep_rate_hz"),
        ({"rep_rate_hz": 1e15}, "source.rep_rate_hz"),
    ],
)
def test_bad_source_names_the_field(change: dict[str, Any], field: str) -> None:
    with raises(field):
        MdiSourceParams(**(GOOD_SOURCE | change))


def test_vacuum_without_probability_is_refused() -> None:
    with raises("source.x_basis_probs"):
        MdiSourceParams(
            intensities=(0.4, 0.2, 0.05, 0.0), z_basis_probs=(0.7, 0.0, 0.0, 0.0), x_basis_probs=(0.0, 0.1, 0.2, 0.0)
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"misalignment_error": 0.6}, "bsm.misalignment_error"),
        ({"misalignment_error": float("inf")}, "bsm.misalignment_error"),
        ({"visibility": 1.1}, "bsm.visibility"),
        ({"visibility": -0.1}, "bsm.visibility"),
        ({"layout": "two"}, "bsm.layout"),
        ({"announced": "psi-minus"}, "bsm.announced"),
        ({"layout": BsmLayout.TWO_DETECTORS}, "bsm.announced"),  # with BOTH announced
        ({"layout": BsmLayout.TWO_DETECTORS, "announced": BellStates.PSI_PLUS}, "bsm.announced"),
        (
            {"detector": DetectorParams(efficiency=0.5, dark_count_prob=1e-6, after_pulse_prob=0.01)},
            "bsm.detector.after_pulse_prob",
        ),
        (
            {"detector": DetectorParams(efficiency=0.5, dark_count_prob=1e-6, dead_time_s=1e-8)},
            "bsm.detector.dead_time_s",
        ),
        ({"detector": 0.5}, "bsm.detector"),
    ],
)
def test_bad_station_names_the_field(change: dict[str, Any], field: str) -> None:
    with raises(field):
        dataclasses.replace(BSM, **change)


def test_two_detectors_announce_psi_minus() -> None:
    bsm = dataclasses.replace(BSM, layout=BsmLayout.TWO_DETECTORS, announced=BellStates.PSI_MINUS)
    assert bsm.announced.announces_psi_minus
    assert not bsm.announced.announces_psi_plus


def test_mismatched_sources_are_refused() -> None:
    three = MdiSourceParams(intensities=(0.4, 0.1, 0.0), z_basis_probs=(0.5, 0.0, 0.0), x_basis_probs=(0.2, 0.2, 0.1))
    with raises("bob.intensities"):
        MdiSystem(alice=MdiSourceParams(**GOOD_SOURCE), bob=three, bsm=BSM, ec_efficiency=1.16)
    faster = MdiSourceParams(**(GOOD_SOURCE | {"rep_rate_hz": 2e9}))
    with raises("bob.rep_rate_hz"):
        MdiSystem(alice=MdiSourceParams(**GOOD_SOURCE), bob=faster, bsm=BSM, ec_efficiency=1.16)


def test_a_source_that_is_not_a_phase_randomised_wcp_is_refused() -> None:
    wcp = WcpSourceParams(signal_intensity=0.5, decoy_intensities=(0.1, 0.0), intensity_probs=(0.8, 0.1, 0.1))
    with raises("alice"):
        MdiSystem(alice=wcp, bob=MdiSourceParams(**GOOD_SOURCE), bsm=BSM, ec_efficiency=1.16)  # type: ignore[arg-type]
    # A source mutated after construction (bypassing its own check) is caught by the system, by role.
    fixed_phase = MdiSourceParams(**GOOD_SOURCE)
    object.__setattr__(fixed_phase, "phase_randomised", False)
    with raises("bob.phase_randomised"):
        MdiSystem(alice=MdiSourceParams(**GOOD_SOURCE), bob=fixed_phase, bsm=BSM, ec_efficiency=1.16)
    with raises("bsm"):
        MdiSystem(
            alice=MdiSourceParams(**GOOD_SOURCE),
            bob=MdiSourceParams(**GOOD_SOURCE),
            bsm=DetectorParams(efficiency=0.5, dark_count_prob=0.0),  # type: ignore[arg-type]
            ec_efficiency=1.16,
        )


@pytest.mark.parametrize("f", [0.9, 0.0, 11.0, float("nan")])
def test_bad_error_correction_efficiency(f: float) -> None:
    with raises("ec_efficiency"):
        dataclasses.replace(SYSTEM, ec_efficiency=f)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0.3, 0.3, 1.5, 0.1), "eta_a"),
        ((0.3, 0.3, 0.1, -1e-3), "eta_b"),
        ((11.0, 0.3, 0.1, 0.1), "mu_a"),
        ((0.3, float("nan"), 0.1, 0.1), "mu_b"),
        ((0.3, 0.3, np.array([0.1, float("inf")]), 0.1), "eta_a"),
    ],
)
def test_bad_channel_or_intensity_names_the_argument(args: tuple[Any, ...], field: str) -> None:
    with raises(field):
        outcome_probabilities(BSM, *args)


def test_rates_check_their_channel_and_signal() -> None:
    with raises("eta_a"):
        key_rate_decoy(SYSTEM, 1.5, 0.1)
    with raises("eta_b"):
        key_rate_decoy(SYSTEM, 0.1, np.array([0.1, np.nan]))
    with raises("mu_a"):
        key_rate_decoy(SYSTEM, 0.1, 0.1, signal_intensity=20.0)


def test_bad_finite_key_and_monte_carlo_inputs() -> None:
    with raises("eps_sec"):
        MdiFiniteKeyParams(eps_sec=0.0)
    with raises("eps_cor"):
        MdiFiniteKeyParams(eps_cor=1.0)
    with raises("failure_prob"):
        chernoff_expectation_bounds(3.0, 2.0)
    with raises("block_pulse_pairs"):
        expected_counts(SYSTEM, 0.1, 0.1, 0.0)
    with raises("eta_a"):
        compile_mdi(SYSTEM, 1.5, 0.1)
    sampler = compile_mdi(SYSTEM, 0.1, 0.1)
    for pulses in (0, -5, 2**63, 1.5, True):
        with raises("pulse_pairs"):
            sample_counts(sampler, pulses, np.random.default_rng(0))  # type: ignore[arg-type]
    with raises("signal_intensity"):
        optimise_signal_intensity(lambda s: s, lower=0.5, upper=0.1)


def test_bad_counts_are_refused() -> None:
    good = expected_counts(SYSTEM, 0.1, 0.1, 1e6)
    with raises("counts.sent"):
        MdiCounts(good.sent[..., 0], good.heralded, good.errors)
    with raises("counts.heralded"):
        MdiCounts(good.sent, good.heralded[..., 0], good.errors)
    with raises("counts.errors"):
        MdiCounts(good.sent, good.heralded, -good.errors)
    with raises("counts"):
        MdiCounts(good.sent, good.heralded, good.heralded * 2)


def test_device_set_checks() -> None:
    with raises("block_pulse_pairs"):
        dataclasses.replace(YIN2016, block_pulse_pairs=0.0)
    with raises("eps_sec"):
        dataclasses.replace(YIN2016, eps_sec=1.0)
    with raises("run.length_km"):
        FibreRun(kind="standard", fibre=FibreParams(), length_km=-1.0)
    with raises("run"):
        YIN2016.run("hollow-core")
    assert isinstance(YIN2016, MdiDeviceSet)


def test_published_rates_say_what_and_where() -> None:
    with raises("published_rate.channel_loss_db"):
        PublishedRate(channel_loss_db=-1.0, key_rate_bps=10.0, source="a table")
    with raises("published_rate.key_rate_bps"):
        PublishedRate(channel_loss_db=20.0, key_rate_bps=0.0, source="a table")
    with raises("published_rate.source"):
        PublishedRate(channel_loss_db=20.0, key_rate_bps=10.0, source="")
    with raises("published_rates"):
        dataclasses.replace(YIN2016, published_rates=((19.5, 1380.0),))  # type: ignore[arg-type]
