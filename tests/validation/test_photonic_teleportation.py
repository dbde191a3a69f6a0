"""Photonic teleportation without memories: Micius's ground-to-satellite uplink and Fermilab's 44 km of fibre.

Published (abstracts, read):

* Ren et al., Nature 549, 70 (2017): qubits teleported from Ngari up to Micius "over distances of up to 1,400
  kilometres", "six input states in mutually unbiased bases with an average fidelity of 0.80 +- 0.01".
* Valivarthi et al., PRX Quantum 1, 020317 (2020): time-bin qubits, "teleportation fidelities of >= 90%", "over
  22 km of single-mode fiber while transmitting qubits over an additional 22 km of fiber".

Modelled (:mod:`qinternet.entanglement.photonic_teleportation`): the leading multi-photon terms of both sources,
the photons' indistinguishability at the Bell-state measurement, the pair's visibility and the receiver's dark
counts, over the scenarios' channels (:mod:`qinternet.network.links.photonic_teleportation`). Every device figure is
assumed (the papers' bodies were not read; the scenarios' headers say why each value): the comparisons test that
the model, with such devices, lands where the experiments did, within what those unknowns move it, not a
prediction. How far the unknowns move the model's average fidelity (each changed alone, this model):

* micius-teleportation-uplink (0.798): the satellite's false clicks halved or doubled +0.034 / -0.049; both sources'
  mean pair number 0.05 or 0.1 instead of 0.08 at most +-0.012; indistinguishability 0.85-0.95 +-0.010; pair
  visibility 0.90-0.98 -0.016 / +0.010. In quadrature ~0.05: the tolerance.
* chicago-teleportation (0.918): the qubits' mean photon number halved or doubled -0.040 / +0.022; the pair source's
  -0.042 / +0.025; indistinguishability 0.90-1 -0.014 / +0.015; pair visibility 0.95-1 -0.012 / +0.009.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from qinternet.apps.network_apps import run_scenario
from qinternet.apps.teleportation import CLASSICAL_BOUND, REN_2017_AVERAGE_FIDELITY, VALIVARTHI_2020_MIN_FIDELITY
from qinternet.network.links.photonic_teleportation import PhotonicTeleportationEngine, PhotonicTeleportationLinkSpec
from qinternet.network.run import RunResult

MICIUS_TOLERANCE = 0.05
"""The unknown devices' spread of the model's figure (module docstring), beside the published +-0.01."""
CHICAGO_BELOW = 0.02
"""Below the published ">= 90 %": the abstract's rounding and its measurements' statistics (a few thousand events per
input state would give ~+-0.005; the abstract does not say)."""
CHICAGO_ABOVE = 0.07
"""Above it: the spread of the unknown devices (module docstring), doubled as the abstract gives only a bound."""


@functools.cache
def _run(name: str) -> RunResult:
    return run_scenario(name)


def _engine(result: RunResult) -> PhotonicTeleportationEngine:
    engine = result.links[0].engine
    assert isinstance(engine, PhotonicTeleportationEngine)
    return engine


def _drawn_within_statistics(result: RunResult) -> None:
    """The application's drawn value agrees with the model's expectation within 4 of its binomial sigmas."""
    app = result.summary.applications[0]
    details = app["details"]
    f = np.array(list(details["fidelity_per_basis"].values()))
    n = np.array(details["events_per_basis"])
    sigma = math.sqrt(float(np.sum(f * (1 - f) / n))) / 3
    assert abs(app["value"] - f.mean()) < 4 * sigma
    assert app["ci95"][0] <= app["value"] <= app["ci95"][1]


def test_micius_teleports_up_to_the_satellite_with_the_published_fidelity() -> None:
    result = _run("micius-teleportation-uplink")
    engine = _engine(result)
    published, _ = REN_2017_AVERAGE_FIDELITY
    assert abs(engine.average_fidelity - published) <= MICIUS_TOLERANCE
    # a few hundred events over the run's 32 nights: enough to tell the fidelity from the classical bound
    app = result.summary.applications[0]
    assert app["ci95"][0] > CLASSICAL_BOUND
    _drawn_within_statistics(result)


def test_the_uplink_spans_the_published_distances_and_loses_fidelity_with_loss() -> None:
    engine = _engine(_run("micius-teleportation-uplink"))
    used = engine.pulses > 0
    # "up to 1,400 km": the longest slant range of the passes above the scenario's 15 deg
    assert 1300.0 <= float(engine.range_km[used].max()) <= 1500.0
    assert float(engine.range_km[used].min()) < 600.0  # near the zenith of a 500 km orbit
    # the far samples (most loss) are worse: more of the satellite's clicks are dark counts
    far = engine.loss_db >= np.quantile(engine.loss_db[used], 0.8)
    near = used & (engine.loss_db <= np.quantile(engine.loss_db[used], 0.2))
    assert engine.events.average_fidelity(engine.pulses * far) < engine.events.average_fidelity(engine.pulses * near)


def test_chicago_teleports_over_44_km_above_90_percent() -> None:
    result = _run("chicago-teleportation")
    engine = _engine(result)
    spec = result.scenario.links[0]
    assert isinstance(spec, PhotonicTeleportationLinkSpec)
    assert spec.input_length_km + spec.length_km == pytest.approx(44.0)
    assert engine.average_fidelity >= VALIVARTHI_2020_MIN_FIDELITY - CHICAGO_BELOW
    assert engine.average_fidelity <= VALIVARTHI_2020_MIN_FIDELITY + CHICAGO_ABOVE
    # time-bin basis states are hurt only by uncorrelated clicks; superpositions also by distinguishability and
    # by the qubits' own two-photon pulses (the structure of the paper's analytical model)
    z, x, y = engine.fidelity_per_basis
    assert z > x == pytest.approx(y)
    _drawn_within_statistics(result)
