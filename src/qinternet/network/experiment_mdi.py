"""One MDI-QKD link simulated at its measurement station: the library function behind ``qinternet link
--protocol mdi-bb84``.

>>> from qinternet.network.experiment_mdi import run_mdi_link_experiment
>>> experiment = run_mdi_link_experiment(preset="yin2016", distance_km=100, pulses=1e12, seed=7)
>>> experiment.finite.key_length_bits > 0
True

Alice and Bob each send ``pulses`` decoy-state pulses over half of ``distance_km`` to the relay in the middle.
The Monte-Carlo of :mod:`qinternet.qkd.mdi_montecarlo` draws the station's outcomes in one multinomial over
every (intensity, basis) pair of the two parties: two-photon interference of the relay's visibility, its
detectors' efficiency and dark counts, the Bell states it announces (Lo, Curty, Qi, PRL 108, 130503 (2012)).
From the drawn counts come the asymptotic decoy estimate (:func:`qinternet.qkd.mdi_finite.asymptotic_estimate`)
and the finite-key length of the block (:func:`qinternet.qkd.mdi_finite.finite_key_length`), beside the same
for the expected counts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from qinternet.errors import ParameterError
from qinternet.params.checks import require_non_negative
from qinternet.params.devicesets import DeviceSet
from qinternet.params.mdi import MdiDeviceSet
from qinternet.params.presets import devices_for
from qinternet.qkd.mdi import MdiRates
from qinternet.qkd.mdi_finite import (
    MdiCounts,
    MdiFiniteKey,
    MdiFiniteKeyParams,
    asymptotic_estimate,
    expected_counts,
    finite_key_length,
)
from qinternet.qkd.mdi_montecarlo import compile_mdi, sample_counts
from qinternet.qkd.relayed import arm_transmittances, fibre_arms

__all__ = ["MdiLinkExperiment", "run_mdi_link_experiment"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MdiLinkExperiment:
    """What :func:`run_mdi_link_experiment` returns.

    Attributes:
        preset: the preset named; device_set: the devices' label (another family's preset takes the MDI
            family's sources, :func:`qinternet.params.presets.devices_for`).
        devices: the MDI set (sources, relay, ``f``) the link ran.
        distance_km: the whole fibre, the relay halfway; eta_a, eta_b: the arms' transmittances.
        pulses: pulse pairs sent; seed: of the random stream.
        counts: the drawn counts; heralding_probability: of a pulse pair at the station.
        estimate: the asymptotic decoy estimate from the drawn counts.
        finite: the finite-key bounds and length of the drawn counts as one block.
        expected_finite: the same for the expected counts.
        wall_s: wall time of the draw and the estimates, s.
    """

    preset: str
    device_set: str
    devices: MdiDeviceSet
    distance_km: float
    eta_a: float
    eta_b: float
    pulses: int
    seed: int
    counts: MdiCounts
    heralding_probability: float
    estimate: MdiRates
    finite: MdiFiniteKey
    expected_finite: MdiFiniteKey
    wall_s: float

    @property
    def rep_rate_hz(self) -> float:
        """Pulse pairs per second."""
        return self.devices.system.rep_rate_hz

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``qinternet link --protocol mdi-bb84 --json`` prints."""
        heralded = float(self.counts.heralded.sum())
        key_bits = float(self.finite.key_length_bits)
        return {
            "protocol": "mdi-bb84",
            "preset": self.preset,
            "device_set": self.device_set,
            "distance_km": self.distance_km,
            "eta_a": self.eta_a,
            "eta_b": self.eta_b,
            "pulses": self.pulses,
            "seed": self.seed,
            "rep_rate_hz": self.rep_rate_hz,
            "heralded": heralded,
            "heralding_probability": self.heralding_probability,
            "z_heralded": float(self.finite.z_heralded),
            "z_error_rate": float(self.finite.z_error_rate),
            "single_photon_yield_lower": float(self.finite.y11_lower),
            "single_photon_error_upper": float(self.finite.e11_upper),
            "asymptotic_key_rate_per_pulse": float(self.estimate.key_rate_per_pulse_pair),
            "finite_key_bits": key_bits,
            "finite_key_rate_per_pulse": key_bits / self.pulses,
            "key_rate_bps": key_bits / self.pulses * self.rep_rate_hz,
            "expected": {
                "finite_key_bits": float(self.expected_finite.key_length_bits),
                "z_error_rate": float(self.expected_finite.z_error_rate),
            },
            "counts": self.counts.to_dict(),
            "wall_s": self.wall_s,
        }


def run_mdi_link_experiment(
    *,
    preset: str,
    distance_km: float,
    pulses: int | float,
    seed: int,
    devices: DeviceSet | None = None,
    eps_sec: float = 1e-10,
    eps_cor: float = 1e-15,
) -> MdiLinkExperiment:
    """Draw ``pulses`` pulse pairs of an MDI link of ``distance_km`` (the relay halfway) and estimate its key.

    Args:
        preset: the devices' preset (``devices`` replaces them when given, e.g. with command-line changes).
        distance_km: the whole fibre, km.
        pulses: pulse pairs, a whole number in [1, 2**62].
        seed: of the random stream.
        devices: an MDI device set to use instead of the preset's.
        eps_sec, eps_cor: the finite-key security parameters.
    """
    if isinstance(pulses, bool) or not isinstance(pulses, int | float) or not math.isfinite(pulses):
        raise ParameterError("pulses", f"must be a whole number in [1, 2**62], got {pulses!r}")
    if pulses != int(pulses):
        raise ParameterError("pulses", f"must be a whole number, got {pulses!r}")
    require_non_negative("distance_km", distance_km)
    chosen, label = devices_for(MdiDeviceSet, preset)
    if devices is not None:
        chosen = devices
    if not isinstance(chosen, MdiDeviceSet):
        raise ParameterError("devices", f"must be an MDI device set, got {type(chosen).__name__}")
    params = MdiFiniteKeyParams(eps_sec=eps_sec, eps_cor=eps_cor)
    eta, _ = arm_transmittances(fibre_arms(chosen, distance_km))
    system = chosen.system
    count = int(pulses)
    start = time.perf_counter()
    sampler = compile_mdi(system, eta, eta)
    counts = sample_counts(sampler, count, np.random.default_rng(seed))
    estimate = asymptotic_estimate(counts, system)
    finite = finite_key_length(counts, system, params)
    wall = time.perf_counter() - start
    expected = finite_key_length(expected_counts(system, eta, eta, float(count)), system, params)
    return MdiLinkExperiment(
        preset=preset,
        device_set=label,
        devices=chosen,
        distance_km=distance_km,
        eta_a=eta,
        eta_b=eta,
        pulses=count,
        seed=seed,
        counts=counts,
        heralding_probability=sampler.heralding_probability,
        estimate=estimate,
        finite=finite,
        expected_finite=expected,
        wall_s=wall,
    )
