"""The process body of every link of a scenario, chosen by the link's kind."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qinternet.errors import ParameterError
from qinternet.network.build import link_system
from qinternet.network.entangled import (
    EntanglementLinkEngine,
    PairArms,
    entanglement_runner,
    shared_detector_backgrounds,
)
from qinternet.network.links import FibreLinkEngine, fibre_runner, tuned_system
from qinternet.network.satellite import (
    GroundStation,
    Orbit,
    raan_for_node_local_time_deg,
    require_ephemeris_covers,
    sun_synchronous_inclination_deg,
)
from qinternet.network.satellite_links import SatelliteLinkEngine, satellite_runner
from qinternet.network.schema import LinkKind, LinkModel, LinkSpec, NodeKind, NodeSpec, Scenario, ScenarioError
from qinternet.network.simulate import LinkRunner
from qinternet.params import QkdSystem
from qinternet.physics.detectors import dark_count_with_background
from qinternet.physics.raman import (
    C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM,
    ClassicalChannel,
    RamanDirection,
    RamanReceiver,
    raman_background_prob,
)
from qinternet.qkd.finite_key import FiniteKeyParams

__all__ = ["BuiltLink", "build_links", "entanglement_engine", "fibre_engine", "raman_click_prob", "with_raman_noise"]


def raman_click_prob(spec: LinkSpec, system: QkdSystem, length_km: float) -> float:
    """Probability that Raman light from the link's classical channels clicks Bob's receiver in one
    detection window (:mod:`qinternet.physics.raman`: forward or backward noise power in the filter,
    photons at the quantum wavelength, times the receiver's efficiency: :func:`.raman_background_prob`)."""
    classical = [
        ClassicalChannel(
            launch_power_dbm=channel.launch_power_dbm,
            wavelength_nm=channel.wavelength_nm,
            direction=RamanDirection(channel.direction),
            raman_cross_section_per_km_nm=(
                C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM
                if channel.raman_cross_section_per_km_nm is None
                else channel.raman_cross_section_per_km_nm
            ),
        )
        for channel in spec.classical_channels
    ]
    receiver = RamanReceiver(
        quantum_wavelength_nm=spec.quantum_wavelength_nm,
        filter_bandwidth_nm=spec.filter_bandwidth_nm,
        detection_window_s=spec.detection_window_s,
        detection_efficiency=system.detector.efficiency,
    )
    return raman_background_prob(classical, system.fibre.loss_db_per_km, length_km, receiver)


def with_raman_noise(spec: LinkSpec, system: QkdSystem, length_km: float) -> QkdSystem:
    """``system`` with the Raman clicks added to each of Bob's two detectors' dark counts (the scattered
    light is unpolarised, so each detector sees half of it)."""
    if not spec.classical_channels:
        return system
    dark = float(dark_count_with_background(system.detector.dark_count_prob, raman_click_prob(spec, system, length_km)))
    if dark >= 0.5:  # a detector clicking in most windows from noise alone: no QKD model applies
        raise ParameterError(
            "classical_channels", f"Raman noise clicks each detector with probability {dark:.2f} per window"
        )
    return dataclasses.replace(system, detector=dataclasses.replace(system.detector, dark_count_prob=dark))


MAX_BLOCK_PULSES = 2**62
"""Most pulses a block may hold (the Monte-Carlo's counts are 64-bit integers)."""
MAX_BLOCKS_PER_LINK = 10_000_000
"""Most blocks a link may make in one run."""


def _block_pulses(rep_rate_hz: float, block_s: float, path: str) -> int:
    pulses = math.floor(rep_rate_hz * block_s)
    if pulses < 1:
        raise ScenarioError([(f"{path}.block_s", f"holds no pulse at {rep_rate_hz:g} Hz")])
    if pulses > MAX_BLOCK_PULSES:
        raise ScenarioError([(f"{path}.block_s", f"holds {pulses:.3g} pulses at {rep_rate_hz:g} Hz; at most 2^62")])
    return pulses


def fibre_engine(spec: LinkSpec, path: str) -> FibreLinkEngine:
    """The block engine of the decoy-BB84 fibre link ``spec`` (at ``path`` in the file)."""
    assert spec.length_km is not None
    try:
        system = with_raman_noise(spec, link_system(spec, path), spec.length_km)
    except ParameterError as exc:
        raise ScenarioError([(f"{path}.{exc.field}", exc.reason)]) from None
    block_pulses = _block_pulses(system.source.rep_rate_hz, spec.block_s, path)
    security = FiniteKeyParams(eps_sec=spec.eps_sec, eps_cor=spec.eps_cor)
    if spec.optimise_settings:
        system = tuned_system(system, spec.length_km, float(block_pulses), security)
    return FibreLinkEngine(
        system=system,
        distance_km=spec.length_km,
        block_pulses=block_pulses,
        security=security,
        monte_carlo=spec.model is LinkModel.MONTE_CARLO,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltLink:
    """A link ready to run.

    Attributes:
        runner: its process body.
        expected_rate_bps: secret key per second of the analytic model at the link's settings (for
            satellites: averaged over the run), shown beside the simulated rate.
        fibre: the fibre engine (fibre links), for the report's rate-against-length curve.
        satellite: the downlink engine (free-space links), for the report's passes.
    """

    runner: LinkRunner
    expected_rate_bps: float
    fibre: FibreLinkEngine | None = None
    satellite: SatelliteLinkEngine | None = None


def entanglement_engine(spec: LinkSpec, path: str) -> EntanglementLinkEngine:
    """The block engine of the BBM92 user pair ``spec`` (at ``path`` in the file)."""
    assert spec.length_a_km is not None
    assert spec.length_b_km is not None
    system = link_system(spec, path)
    pulses = _block_pulses(system.spdc.rep_rate_hz, spec.block_s, path)
    return EntanglementLinkEngine(
        system=system,
        length_a_km=spec.length_a_km,
        length_b_km=spec.length_b_km,
        block_pulses=pulses,
        monte_carlo=spec.model is LinkModel.MONTE_CARLO,
    )


def orbit_of(node: NodeSpec, scenario: Scenario, path: str) -> Orbit:
    """The orbit of the satellite ``node`` (circular elements default to sun-synchronous, epoch the start)."""
    spec = node.orbit
    assert spec is not None
    try:
        if spec.tle is not None:
            return Orbit.from_tle(*spec.tle, name=node.id)
        assert spec.altitude_km is not None
        epoch = spec.epoch or scenario.time.start
        if spec.ascending_node_local_time_h is not None:
            raan = raan_for_node_local_time_deg(epoch, spec.ascending_node_local_time_h)
        else:
            raan = spec.raan_deg
        inclination = spec.inclination_deg
        if inclination is None:
            inclination = sun_synchronous_inclination_deg(spec.altitude_km)
        return Orbit.circular(
            altitude_km=spec.altitude_km,
            inclination_deg=inclination,
            raan_deg=raan,
            epoch_utc=epoch,
            mean_anomaly_deg=spec.mean_anomaly_deg,
            name=node.id,
        )
    except ParameterError as exc:
        raise ScenarioError([(f"{path}.orbit", f"{exc.field}: {exc.reason}")]) from None


def satellite_engine(
    spec: LinkSpec,
    path: str,
    scenario: Scenario,
    duration_s: float,
    on_progress: Callable[[float], None] | None = None,
) -> SatelliteLinkEngine:
    """The engine of the downlink ``spec``: its passes over ``duration_s`` from the scenario's start
    (``on_progress``: called with the fraction of the run covered as passes are computed)."""
    assert spec.free_space is not None
    ends = [scenario.node(spec.a), scenario.node(spec.b)]
    satellite = next(n for n in ends if n.kind is NodeKind.SATELLITE)
    ground = next(n for n in ends if n.kind is NodeKind.GROUND_STATION)
    assert ground.lat_deg is not None
    assert ground.lon_deg is not None
    node_path = f"nodes[{[n.id for n in scenario.nodes].index(satellite.id)}]"
    station = GroundStation(
        name=ground.id, lat_deg=ground.lat_deg, lon_deg=ground.lon_deg, altitude_m=ground.altitude_m
    )
    try:
        require_ephemeris_covers(scenario.time.start, duration_s)
    except ParameterError as exc:
        field = "time.start" if exc.field == "start_utc" else "time.duration_s"
        raise ScenarioError([(field, f"satellite passes cannot be computed: {exc.reason}")]) from None
    system = link_system(spec, path)
    orbit = orbit_of(satellite, scenario, node_path)
    try:
        return SatelliteLinkEngine(
            system=system,
            optics=spec.free_space,
            filter_bandwidth_nm=spec.filter_bandwidth_nm,
            detection_window_s=spec.detection_window_s,
            orbit=orbit,
            station=station,
            start_utc=scenario.time.start,
            duration_s=duration_s,
            security=FiniteKeyParams(eps_sec=spec.eps_sec, eps_cor=spec.eps_cor),
            monte_carlo=spec.model is LinkModel.MONTE_CARLO,
            on_progress=on_progress,
        )
    except ValueError as exc:  # the ephemeris's years (1899-2053 for DE421), or a pass the orbit cannot make
        raise ScenarioError([("time.start", f"satellite passes cannot be computed: {str(exc)[:200]}")]) from None


_COMMON_PUMPS = np.geomspace(1e-4, 1.0, 81)
"""Mean pair numbers tried for the pairs of one source (a 12 % grid)."""


def _with_backgrounds(arms: list[PairArms], engines: list[EntanglementLinkEngine]) -> list[EntanglementLinkEngine]:
    """The engines at their pumps, with the background those very pumps cause each other."""
    backgrounds = shared_detector_backgrounds(arms, engines)
    return [
        dataclasses.replace(e, background_a=a, background_b=b) for e, (a, b) in zip(engines, backgrounds, strict=True)
    ]


def entanglement_engines(scenario: Scenario) -> dict[int, EntanglementLinkEngine]:
    """The engines of every entanglement link, by link index, with shared detectors taken into account.

    The pairs of one source share their users' detectors (:func:`.entangled.shared_detector_backgrounds`),
    so each pair's pump raises the others' noise. Pumps chosen pair by pair do not settle (each pair's
    best answer to dim neighbours is a bright pump, and bright neighbours leave no key at all), so the
    operator's choice is modelled instead: with ``optimise_settings`` every pair of a source runs at the
    one mean pair number that maximises the source's total key rate, the background computed at those
    pumps; otherwise each pair runs at its devices' ``spdc.mean_pair_number``.
    """
    groups: dict[str, list[int]] = {}
    for i, spec in enumerate(scenario.links):
        if spec.kind is LinkKind.ENTANGLEMENT and spec.source is not None:
            groups.setdefault(spec.source, []).append(i)
    engines: dict[int, EntanglementLinkEngine] = {}
    for members in groups.values():
        arms = []
        for i in members:
            spec = scenario.links[i]
            assert spec.length_a_km is not None
            assert spec.length_b_km is not None
            arms.append(
                PairArms(user_a=spec.a, user_b=spec.b, length_a_km=spec.length_a_km, length_b_km=spec.length_b_km)
            )
        alone = [entanglement_engine(scenario.links[i], f"links[{i}]") for i in members]
        if all(scenario.links[i].optimise_settings for i in members):
            trials = [
                _with_backgrounds(arms, [dataclasses.replace(e, pump=float(mu)) for e in alone]) for mu in _COMMON_PUMPS
            ]
            final = max(trials, key=lambda pairs: sum(e.expected_key_bits for e in pairs))
        else:
            pumps = [e.system.spdc.mean_pair_number for e in alone]
            final = _with_backgrounds(arms, [dataclasses.replace(e, pump=p) for e, p in zip(alone, pumps, strict=True)])
        engines.update(zip(members, final, strict=True))
    return engines


_SATELLITE_WEIGHT_PER_DAY = 2.0
"""Work of a day of satellite passes, in fibre links' worth (progress bars: about 0.6 s against 0.3 s here)."""


def build_links(scenario: Scenario, on_progress: Callable[[float], None] | None = None) -> list[BuiltLink]:
    """Every link of ``scenario``, in order; ``on_progress`` is called with the fraction of the work done."""
    for i, spec in enumerate(scenario.links):
        if spec.kind is not LinkKind.FREE_SPACE and scenario.time.duration_s / spec.block_s > MAX_BLOCKS_PER_LINK:
            blocks = scenario.time.duration_s / spec.block_s
            raise ScenarioError([(f"links[{i}].block_s", f"makes {blocks:.3g} blocks in the run; at most 1e7")])
    days = scenario.time.duration_s / 86400.0
    weights = [days * _SATELLITE_WEIGHT_PER_DAY if s.kind is LinkKind.FREE_SPACE else 1.0 for s in scenario.links]
    before = [0.0, *itertools.accumulate(weights)]  # work of the links before each
    total = before[-1]

    def report(link: int, fraction: float) -> None:
        """Link ``link`` is ``fraction`` done, the links before it all done."""
        if on_progress is not None:
            on_progress(min(1.0, (before[link] + fraction * weights[link]) / total))

    built: list[BuiltLink] = []
    pairs = entanglement_engines(scenario)
    for i, spec in enumerate(scenario.links):
        path = f"links[{i}]"
        if spec.kind is LinkKind.FIBRE:
            engine = fibre_engine(spec, path)
            rate = engine.expected_block.key_bits / spec.block_s
            built.append(BuiltLink(runner=fibre_runner(engine, spec.block_s), expected_rate_bps=rate, fibre=engine))
        elif spec.kind is LinkKind.ENTANGLEMENT:
            pair = pairs[i]
            runner = entanglement_runner(pair, spec.block_s)
            built.append(BuiltLink(runner=runner, expected_rate_bps=pair.expected_key_bits / spec.block_s))
        else:
            downlink = satellite_engine(spec, path, scenario, scenario.time.duration_s, functools.partial(report, i))
            key = sum(p.key_bits for p in downlink.passes)
            built.append(
                BuiltLink(
                    runner=satellite_runner(downlink),
                    expected_rate_bps=key / scenario.time.duration_s,
                    satellite=downlink,
                )
            )
        report(i, 1.0)
    return built
