"""Key from a satellite-to-ground decoy-BB84 downlink: one finite-key block per pass.

The passes of the satellite over the ground station above ``min_elevation_deg`` (and at night, when the
link says so) come from :func:`qinternet.network.satellite.passes` (SGP4 via skyfield). During a pass,
the satellite's elevation and range are sampled every ``sample_s`` seconds; each sample's channel loss is
the Gaussian-beam collection of the receiver at that range, the atmosphere at that elevation
(Kasten-Young air mass) and the pointing jitter (:mod:`qinternet.physics.freespace`), plus the link's
fixed loss. The expected counts of every sample (:func:`qinternet.qkd.finite_key.expected_counts` over a
free-space channel of that loss) add up to the pass's counts, and the pass's secret key is
Lim et al.'s finite-key length of those counts (PRA 89, 022307 (2014), eq. (1)) — one block per pass, as
Micius distilled its key pass by pass (Liao et al., Nature 549, 43 (2017)). The key enters the pool when
the pass ends.

``model: monte-carlo`` draws each count of the pass from a Poisson distribution of its expectation (the
detections of different pulses are independent and rare, so the multinomial counts of a pass are Poisson
to within the per-pulse detection probability, ~1e-4 here) and its errors binomially.

Daylight: each sample also carries the Sun's elevation at the station, and the sky light the receiver collects
then (:mod:`qinternet.physics.sky`: field of view, aperture, the link's filter and detection window, the
detectors' efficiency) adds to each detector's dark-count probability, as Raman light does on fibre links. At
astronomical night (Sun below -18°) it is zero, so night passes are unchanged; at noon it blinds an 850 nm
receiver with a wide field and filter. ``night_only`` is then the operator's policy of not trying by day.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from qinternet.errors import ParameterError
from qinternet.network.build import link_system
from qinternet.network.links.base import BlockRecord, BuildContext, LinkEngine, LinkRunner, abort_reason_of
from qinternet.network.satellite import (
    GroundStation,
    Orbit,
    Pass,
    elevation_track,
    passes,
    raan_for_node_local_time_deg,
    require_ephemeris_covers,
    sun_elevation_track,
    sun_synchronous_inclination_deg,
)
from qinternet.network.schema_base import (
    LinkKind,
    LinkModel,
    LinkSpecBase,
    Model,
    NodeKind,
    Probability,
    ScenarioError,
    Seconds,
)
from qinternet.params import QkdSystem
from qinternet.params.units import db_to_transmittance
from qinternet.physics.channels import FreeSpaceChannel
from qinternet.physics.freespace import downlink_loss_from_range_db
from qinternet.physics.sky import SkyParams, SkyReceiver, sky_click_prob_per_gate
from qinternet.qkd.finite_key import DecoyCounts, FiniteKeyParams, expected_counts, finite_key_length
from qinternet.sim import Process, ProcessGenerator, seconds_to_ps

if TYPE_CHECKING:
    from qinternet.network.schema import NodeSpec, Scenario

__all__ = [
    "FreeSpaceLinkSpec",
    "FreeSpaceSpec",
    "PassRecord",
    "SatelliteLinkEngine",
    "build_free_space_links",
    "downlink_loss_db",
    "draw_pass_counts",
    "orbit_of",
    "satellite_engine",
    "sky_channel",
    "sky_click_prob_of",
]

F64 = NDArray[np.float64]


class FreeSpaceSpec(Model):
    """The optics of a satellite-to-ground downlink (:mod:`qinternet.physics.freespace`).

    Attributes:
        wavelength_nm: signal wavelength.
        tx_aperture_m, rx_aperture_m: transmitter and receiver telescope diameters.
        divergence_urad: full-angle beam divergence (default: the transmitter's diffraction limit).
        zenith_transmittance: atmospheric transmittance looking straight up.
        pointing_jitter_urad: RMS pointing error per axis.
        fixed_loss_db: optics, coupling and turbulence margin.
        min_elevation_deg: no key below this elevation.
        night_only: the operator's policy of transmitting only while the Sun is more than 12° below the ground
            station's horizon. It is not the physics: the sky background against the Sun's elevation is modelled
            either way (:mod:`qinternet.physics.sky`), with the link's ``filter_bandwidth_nm`` and
            ``detection_window_s`` as the receiver's filter and gate.
        rx_field_of_view_urad: full angle of the ground receiver's field of view (the sky its detectors see).
            Default 100 µrad: an assumption for a Micius-like 1 m receiver, not a published value.
        sky_scattering_exponent: ``n`` of the sky's ``lambda**-n`` scattering: 4 for a clean (Rayleigh) sky,
            ~1-1.5 for a hazy one, which is brighter in the infrared.
    """

    wavelength_nm: Annotated[float, Field(gt=200.0, lt=3000.0)] = 850.0
    tx_aperture_m: Annotated[float, Field(gt=0.0, le=10.0)] = 0.3
    rx_aperture_m: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0
    divergence_urad: Annotated[float, Field(gt=0.0, le=1e4)] | None = None
    zenith_transmittance: Probability = 0.8
    pointing_jitter_urad: Annotated[float, Field(ge=0.0, le=1e3)] = 0.0
    fixed_loss_db: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    min_elevation_deg: Annotated[float, Field(ge=0.0, lt=90.0)] = 10.0
    night_only: bool = True
    rx_field_of_view_urad: Annotated[float, Field(gt=0.0, le=1e5)] = 100.0
    sky_scattering_exponent: Annotated[float, Field(ge=0.0, le=4.0)] = 4.0


class FreeSpaceLinkSpec(LinkSpecBase):
    """A decoy-BB84 downlink from a satellite to a ground station (``kind: free-space``).

    Attributes:
        a, b: the satellite and the ground station (either way round).
        free_space: the downlink's optics and operating rules.
        protocol: ``decoy-bb84``.
        optimise_settings: accepted for files that set it on every link; a free-space link always runs at its
            devices' settings (a satellite's source is fixed for its passes).
        filter_bandwidth_nm: width of the receiver's filter, in which sky light is counted.
        detection_window_s: time a detection gate stays open for one pulse (sky light).
    """

    kind: LinkKind = LinkKind.FREE_SPACE
    free_space: FreeSpaceSpec
    protocol: Literal["decoy-bb84"] = "decoy-bb84"
    optimise_settings: bool = True
    filter_bandwidth_nm: Annotated[float, Field(gt=0.0, le=100.0)] = 0.8
    detection_window_s: Annotated[Seconds, Field(gt=0.0, le=1e-3)] = 1e-9

    def check_ends(self, kinds: Mapping[str, NodeKind]) -> list[tuple[str, str]]:
        """A satellite and a ground station."""
        if {kinds[self.a], kinds[self.b]} != {NodeKind.SATELLITE, NodeKind.GROUND_STATION}:
            return [("", "a free-space link joins a satellite and a ground station")]
        return []


def downlink_loss_db(optics: FreeSpaceSpec, range_km: F64, elevation_deg: F64) -> F64:
    """Channel loss at the given ranges and elevations, dB (receiver detectors excluded): the budget of
    :func:`qinternet.physics.freespace.downlink_loss_from_range_db` with the link's optics."""
    return downlink_loss_from_range_db(
        range_km,
        elevation_deg,
        wavelength_nm=optics.wavelength_nm,
        tx_aperture_m=optics.tx_aperture_m,
        rx_aperture_m=optics.rx_aperture_m,
        divergence_urad=optics.divergence_urad,
        zenith_transmittance=optics.zenith_transmittance,
        pointing_jitter_urad=optics.pointing_jitter_urad,
        fixed_loss_db=optics.fixed_loss_db,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PassRecord:
    """One pass as the link saw it.

    Attributes:
        start_s, end_s: seconds from the scenario's start.
        max_elevation_deg: highest elevation.
        times_s, elevation_deg, range_km, loss_db: the samples (seconds from the scenario's start).
        sun_elevation_deg: the Sun's elevation at the station at each sample, degrees.
        sky_click_prob: probability per gate that sky light clicks the receiver (either detector) at each sample.
        counts: expected counts of the pass.
        key_bits: finite-key length of the expected counts.
    """

    start_s: float
    end_s: float
    max_elevation_deg: float
    times_s: F64 = field(repr=False)
    elevation_deg: F64 = field(repr=False)
    range_km: F64 = field(repr=False)
    loss_db: F64 = field(repr=False)
    sun_elevation_deg: F64 = field(repr=False)
    sky_click_prob: F64 = field(repr=False)
    counts: DecoyCounts = field(repr=False)
    key_bits: int


_SUN_STEP_S = 60.0
"""The Sun's elevation is computed about once a minute of a pass (each time costs skyfield a nutation series) and
interpolated linearly in between: the Sun moves 0.25 deg a minute, and the curvature of its path leaves the
interpolation within ~1e-4 deg (``omega**2 h**2 / 8``), or 0.15 deg where it passes near the zenith."""
_BLINDED = 0.5 * (1.0 - 1e-9)
"""The dark-count probability a detector blinded by sky light is held at: just below the 1/2 that
:class:`qinternet.params.DetectorParams` and the protocols take, with room for the rounding of the background
that gives it (its clicks are noise, QBER ~1/2, all the same)."""


def sky_click_prob_of(
    optics: FreeSpaceSpec,
    filter_bandwidth_nm: float,
    detection_window_s: float,
    efficiency: float,
    sun_elevation_deg: F64,
) -> F64:
    """Probability per gate that sky light clicks a ground receiver, for the Sun at the given elevations.

    :func:`qinternet.physics.sky.sky_click_prob_per_gate` with the optics' wavelength, aperture and field of view,
    the receiver's filter and detection window, and the detectors' efficiency (which, in qinternet, includes the
    receiver's optical loss; the optics' ``fixed_loss_db`` is not applied to sky light, since how much of it lies in
    the receiver is not known: this errs towards more background).
    """
    receiver = SkyReceiver(
        wavelength_nm=optics.wavelength_nm,
        aperture_m=optics.rx_aperture_m,
        field_of_view_urad=optics.rx_field_of_view_urad,
        filter_bandwidth_nm=filter_bandwidth_nm,
        gate_s=detection_window_s,
        efficiency=efficiency,
    )
    return sky_click_prob_per_gate(
        sun_elevation_deg, receiver, SkyParams(scattering_exponent=optics.sky_scattering_exponent)
    )


def sky_channel(loss_db: F64, dark_count_prob: float, sky_click_prob: F64 | None = None) -> FreeSpaceChannel:
    """The free-space channel of the given losses whose background is the sky's (none without ``sky_click_prob``).

    Sky light is unpolarised, so it reaches each of a receiver's two detectors equally: a probability ``P`` for the
    pair is ``1 - sqrt(1 - P)`` for each (Poisson light split in two), combined with its dark counts
    ``dark_count_prob`` as independent causes. A detector that would click in half the gates or more on background
    alone is past what the detector model takes (``dark_count_prob < 1/2``): it is held at the largest probability
    below 1/2, where its clicks are noise (QBER ~1/2) all the same. The channel's background is split half to each
    detector by the protocols (:func:`qinternet.physics.detectors.dark_count_with_background`): it is given the
    background that does so to these dark counts.
    """
    sky = np.zeros_like(loss_db) if sky_click_prob is None else np.asarray(sky_click_prob, dtype=np.float64)
    lit = sky > 0.0  # (at night the detectors stay exactly as they are)
    dark = np.where(lit, 1.0 - (1.0 - dark_count_prob) * np.sqrt(1.0 - sky), dark_count_prob)
    dark = np.minimum(dark, _BLINDED)
    background = np.where(lit, 2.0 * (1.0 - (1.0 - dark) / (1.0 - dark_count_prob)), 0.0)
    return FreeSpaceChannel(transmittance=db_to_transmittance(loss_db), background=background)


def _sum_counts(parts: list[DecoyCounts]) -> DecoyCounts:
    first = parts[0]

    def total(name: str) -> tuple[float, ...]:
        return tuple(float(v) for v in np.sum([getattr(p, name) for p in parts], axis=0))

    return dataclasses.replace(
        first,
        key_detections=total("key_detections"),
        key_errors=total("key_errors"),
        test_detections=total("test_detections"),
        test_errors=total("test_errors"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SatelliteLinkEngine:
    """The passes of one downlink over the run and the key each gives.

    Attributes:
        system: the source (on the satellite), the ground receiver's detectors, ``f``.
        optics: the downlink's optics and operating rules.
        filter_bandwidth_nm, detection_window_s: the ground receiver's spectral filter and detection gate (the
            sky light it takes in).
        orbit, station: the satellite and the ground station.
        start_utc: the scenario's start; duration_s: the run's length.
        security: ``eps_sec``, ``eps_cor`` of every pass.
        monte_carlo: draw the counts (True) or take their expectations.
        sample_s: sampling step of the elevation during a pass.
        on_progress: called with the fraction of the run covered after each pass is computed (progress bars).
        passes: the passes with their samples and expected key (derived).
    """

    system: QkdSystem
    optics: FreeSpaceSpec
    filter_bandwidth_nm: float
    detection_window_s: float
    orbit: Orbit
    station: GroundStation
    start_utc: datetime
    duration_s: float
    security: FiniteKeyParams
    monte_carlo: bool
    sample_s: float = 1.0
    on_progress: Callable[[float], None] | None = field(default=None, compare=False, repr=False)
    passes: tuple[PassRecord, ...] = field(init=False)

    def __post_init__(self) -> None:
        found = passes(
            self.orbit,
            self.station,
            self.start_utc,
            self.duration_s,
            min_elevation_deg=self.optics.min_elevation_deg,
            night_only=self.optics.night_only,
        )
        records = []
        for found_pass in found:
            if found_pass.duration_s >= self.sample_s:
                records.append(self._record(found_pass))
            if self.on_progress is not None:
                self.on_progress((found_pass.end_utc - self.start_utc).total_seconds() / self.duration_s)
        object.__setattr__(self, "passes", tuple(records))

    def _record(self, found: Pass) -> PassRecord:
        start = (found.start_utc - self.start_utc).total_seconds()
        end = (found.end_utc - self.start_utc).total_seconds()
        samples = max(1, math.floor((end - start) / self.sample_s))
        times = np.asarray(start + self.sample_s * (np.arange(samples) + 0.5), dtype=np.float64)  # mid-samples
        elevation, range_km = elevation_track(self.orbit, self.station, times, epoch_utc=self.start_utc)
        loss = downlink_loss_db(self.optics, range_km, elevation)
        step = max(1, round(_SUN_STEP_S / self.sample_s))
        every_minute = np.unique(np.append(times[::step], times[-1]))
        sun = np.interp(times, every_minute, sun_elevation_track(self.station, every_minute, epoch_utc=self.start_utc))
        sky = self.sky_click_prob(sun)
        counts = self.counts(loss, (end - start) / samples, sky)
        return PassRecord(
            start_s=start,
            end_s=end,
            max_elevation_deg=found.max_elevation_deg,
            times_s=times,
            elevation_deg=elevation,
            range_km=range_km,
            loss_db=loss,
            sun_elevation_deg=sun,
            sky_click_prob=sky,
            counts=counts,
            key_bits=self.key_bits(counts),
        )

    def sky_click_prob(self, sun_elevation_deg: F64) -> F64:
        """Probability per gate that sky light clicks the ground receiver, for the Sun at the given elevations
        (:func:`sky_click_prob_of` with this link's optics, filter, gate and detectors)."""
        return sky_click_prob_of(
            self.optics,
            self.filter_bandwidth_nm,
            self.detection_window_s,
            self.system.detector.efficiency,
            sun_elevation_deg,
        )

    def counts(self, loss_db: F64, sample_s: float, sky_click_prob: F64 | None = None) -> DecoyCounts:
        """Expected (matched-basis) counts of samples of ``sample_s`` seconds at the given channel losses, with the
        sky's click probability per gate at each sample (default: none; :func:`sky_channel`)."""
        pulses = self.system.source.rep_rate_hz * sample_s
        channel = sky_channel(loss_db, self.system.detector.dark_count_prob, sky_click_prob)
        return expected_counts(self.system, channel, block_pulses=pulses)

    def key_bits(self, counts: DecoyCounts) -> int:
        """Finite-key length of a pass's counts."""
        return int(
            finite_key_length(counts, params=self.security, ec_efficiency=self.system.ec_efficiency).key_length_bits
        )

    def block(self, record: PassRecord, rng: np.random.Generator) -> BlockRecord:
        """The key of a pass: of its expected counts, or of counts drawn around them."""
        counts = draw_pass_counts(record.counts, rng) if self.monte_carlo else record.counts
        key = record.key_bits if not self.monte_carlo else self.key_bits(counts)
        sifted = sum(counts.key_detections)
        return BlockRecord(
            end_s=record.end_s,
            duration_s=record.end_s - record.start_s,
            key_bits=key,
            sifted_bits=sifted,
            qber=sum(counts.key_errors) / sifted if sifted > 0 else math.nan,
            abort_reason=abort_reason_of(key),
        )

    @property
    def expected_rate_bps(self) -> float:
        """Key of the passes' expected counts over the run, per second."""
        return sum(p.key_bits for p in self.passes) / self.duration_s

    def runner(self) -> LinkRunner:
        """Sleeps until each pass ends, then delivers the pass's key."""
        return satellite_runner(self)


def draw_pass_counts(expected: DecoyCounts, rng: np.random.Generator) -> DecoyCounts:
    """Counts of a pass drawn around their expectations: detections Poisson, errors binomial among them."""

    def draw(detections: tuple[float, ...], errors: tuple[float, ...]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        mean = np.asarray(detections, dtype=np.float64)
        rate = np.divide(np.asarray(errors), mean, out=np.zeros_like(mean), where=mean > 0)
        drawn = rng.poisson(mean)
        wrong = rng.binomial(drawn, np.clip(rate, 0.0, 1.0))
        return tuple(float(v) for v in drawn), tuple(float(v) for v in wrong)

    key_detections, key_errors = draw(expected.key_detections, expected.key_errors)
    test_detections, test_errors = draw(expected.test_detections, expected.test_errors)
    return dataclasses.replace(
        expected,
        key_detections=key_detections,
        key_errors=key_errors,
        test_detections=test_detections,
        test_errors=test_errors,
    )


def satellite_runner(engine: SatelliteLinkEngine) -> LinkRunner:
    """The process body of a downlink: sleeps until each pass ends, then delivers the pass's key."""

    def run(proc: Process, deliver: Callable[[BlockRecord], None]) -> ProcessGenerator:
        for record in engine.passes:
            due = seconds_to_ps(record.end_s)
            if due > proc.kernel.now_ps:
                yield proc.kernel.timeout_at(due)
            deliver(engine.block(record, proc.rng))

    return run


def pass_sample_times_s(found: Pass, epoch_utc: datetime, sample_s: float) -> F64:
    """Mid-times of the whole samples of ``sample_s`` that fit in the pass ``found``, s from ``epoch_utc``
    (none when the pass is shorter than one sample), as the downlink's passes are sampled (:meth:`SatelliteLinkEngine.
    _record`, which keeps only passes of one sample or more): the uplink and the dual downlink sample with it."""
    start = (found.start_utc - epoch_utc).total_seconds()
    end = (found.end_utc - epoch_utc).total_seconds()
    samples = math.floor((end - start) / sample_s)
    return np.asarray(start + sample_s * (np.arange(samples) + 0.5), dtype=np.float64)


def check_ephemeris(scenario: Scenario, duration_s: float) -> None:
    """Refuse a run the ephemeris does not cover, naming the scenario's field (``time.start`` or
    ``time.duration_s``)."""
    try:
        require_ephemeris_covers(scenario.time.start, duration_s)
    except ParameterError as exc:
        field = "time.start" if exc.field == "start_utc" else "time.duration_s"
        raise ScenarioError([(field, f"satellite passes cannot be computed: {exc.reason}")]) from None


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
    spec: FreeSpaceLinkSpec,
    path: str,
    scenario: Scenario,
    duration_s: float,
    on_progress: Callable[[float], None] | None = None,
) -> SatelliteLinkEngine:
    """The engine of the downlink ``spec``: its passes over ``duration_s`` from the scenario's start
    (``on_progress``: called with the fraction of the run covered as passes are computed)."""
    ends = [scenario.node(spec.a), scenario.node(spec.b)]
    satellite = next(n for n in ends if n.kind is NodeKind.SATELLITE)
    ground = next(n for n in ends if n.kind is NodeKind.GROUND_STATION)
    assert ground.lat_deg is not None
    assert ground.lon_deg is not None
    node_path = f"nodes[{[n.id for n in scenario.nodes].index(satellite.id)}]"
    station = GroundStation(
        name=ground.id, lat_deg=ground.lat_deg, lon_deg=ground.lon_deg, altitude_m=ground.altitude_m
    )
    check_ephemeris(scenario, duration_s)
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


_SATELLITE_WEIGHT_PER_DAY = 2.0
"""Work of a day of satellite passes, in fibre links' worth (progress bars: about 0.6 s against 0.3 s here)."""


def progress_weight(context: BuildContext) -> float:
    """How much work a downlink is to build, in fibre links' worth (progress bars)."""
    return context.duration_s / 86400.0 * _SATELLITE_WEIGHT_PER_DAY


def build_free_space_links(specs: Mapping[int, LinkSpecBase], context: BuildContext) -> dict[int, LinkEngine]:
    """The engines of the downlinks (:data:`qinternet.network.links.registry.LINK_KINDS`)."""
    engines: dict[int, LinkEngine] = {}
    for index, spec in specs.items():
        assert isinstance(spec, FreeSpaceLinkSpec)

        def report(fraction: float, index: int = index) -> None:
            context.on_progress(index, fraction)

        engines[index] = satellite_engine(spec, f"links[{index}]", context.scenario, context.duration_s, report)
        context.on_progress(index, 1.0)
    return engines
