"""Photon pairs from a satellite, one photon down to each of two ground stations at once (``kind: dual-downlink``).

The satellite-based entanglement distribution of Yin et al., Science 356, 1140 (2017) (Micius to Delingha and
Lijiang, 1,203 km apart) and the entanglement-based QKD of Yin et al., Nature 582, 501 (2020) (Delingha and
Nanshan, 1,120 km): an SPDC source on the satellite, a transmitter per downlink, and a BBM92 receiver at each
station. Pairs count only while both stations see the satellite above their minimum elevation (and, with
``night_only``, in their night). Over such a joint pass the link samples both downlinks every ``sample_s``: each
downlink's loss is the free-space budget of :func:`qinternet.network.links.free_space.downlink_loss_db`
(diffraction from the transmitter, the receiving aperture, pointing, the atmosphere against elevation, fixed
losses), and the coincidences and their errors per sample are the BBM92 observables of the two arms
(:func:`qinternet.qkd.bbm92.bbm92_observables_arms`: threshold detectors, thermal or Poisson pairs, dark counts,
misalignment ``e_d``). A joint pass is one block: its sifted coincidences ``q Q N`` and key
``q Q N [1 - f h(E) - h(E)]`` (Ma, Fung, Lo, PRA 76, 012307 (2007), eq. (11); asymptotic, as the fibre
``entanglement`` links of :mod:`.entanglement`), or with ``finite_key: true`` the finite-key bound of Tomamichel,
Lim, Gisin, Renner, Nat. Commun. 3, 634 (2012), eq. (2) on the pass's coincidences
(:mod:`qinternet.network.links.bbm92_finite`).

Daylight: as on a ``free-space`` downlink, each station's sky light at the Sun's elevation of each sample
(:mod:`qinternet.physics.sky`: its field of view, aperture, the link's filter and detection window, the
detectors' efficiency; :func:`qinternet.network.links.free_space.sky_click_prob_of`) adds to its detectors'
background (:func:`qinternet.network.links.free_space.sky_channel`), which raises the accidental coincidences and
so the QBER. At astronomical night (Sun below -18°) it is zero. ``night_only`` (the experiments' practice: Yin et
al. ran at night) is the operator's policy of using only the stations' nights; with ``night_only: false`` on both
downlinks the joint passes include daylight, and the sky decides what they give.

With ``model: monte-carlo`` the pass's coincidences are drawn (Poisson) and their errors (binomial); with
``finite_key`` the test bits are a random ``test_fraction`` of them, and their errors drawn among the pass's
(hypergeometric).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from qinternet.network.build import link_system
from qinternet.network.links.base import BlockRecord, BuildContext, LinkEngine, LinkRunner, abort_reason_of
from qinternet.network.links.bbm92_finite import Bbm92FiniteKeyFields
from qinternet.network.links.free_space import (
    FreeSpaceSpec,
    check_ephemeris,
    downlink_loss_db,
    orbit_of,
    pass_sample_times_s,
    sky_channel,
    sky_click_prob_of,
)
from qinternet.network.satellite import (
    GroundStation,
    Orbit,
    Pass,
    elevation_track,
    passes,
    sun_elevation_track,
)
from qinternet.network.schema_base import (
    Identifier,
    LinkKind,
    LinkModel,
    LinkSpecBase,
    NodeKind,
    ScenarioError,
    Seconds,
    article,
)
from qinternet.params import QkdSystem
from qinternet.physics.channels import TwoArm
from qinternet.qkd.bbm92 import bbm92_key_fraction, bbm92_observables_arms
from qinternet.qkd.finite_key import FiniteKeyParams
from qinternet.qkd.finite_key_bbm92 import bbm92_finite_key_bits
from qinternet.sim import Process, ProcessGenerator, seconds_to_ps

__all__ = ["DualDownlinkEngine", "DualDownlinkLinkSpec", "JointPass", "build_dual_downlinks"]

F64 = NDArray[np.float64]

NIGHT_SUN_ELEVATION_DEG = -12.0
"""The Sun below this at a station is night (the threshold of :func:`qinternet.network.satellite.passes`)."""


class DualDownlinkLinkSpec(Bbm92FiniteKeyFields):
    """Entangled photon pairs from a satellite to two ground stations (``kind: dual-downlink``).

    Attributes:
        a, b: the two ground stations that share the pairs (and the key).
        source: the satellite carrying the pair source.
        free_space: the optics of the downlink to ``a`` (and to ``b`` unless ``free_space_b`` is given).
        free_space_b: the optics of the downlink to ``b``, if they differ.
        protocol: ``bbm92``.
        preset: the pair source and the stations' receivers (default ``micius2017-entanglement``).
        sample_s: sampling step of the joint passes.
        filter_bandwidth_nm: width of the stations' filters, in which sky light is counted.
        detection_window_s: time a detector's coincidence window stays open for one pair (sky light).
        finite_key, test_fraction: the finite-key option (:class:`Bbm92FiniteKeyFields`).
    """

    NODE_FIELDS = ("a", "b", "source")

    kind: LinkKind = LinkKind.DUAL_DOWNLINK
    source: Identifier
    free_space: FreeSpaceSpec
    free_space_b: FreeSpaceSpec | None = None
    protocol: Literal["bbm92"] = "bbm92"
    preset: str = "micius2017-entanglement"
    sample_s: Annotated[Seconds, Field(gt=0.0, le=600.0)] = 10.0
    filter_bandwidth_nm: Annotated[float, Field(gt=0.0, le=100.0)] = 0.8
    detection_window_s: Annotated[Seconds, Field(gt=0.0, le=1e-3)] = 1e-9

    def check_ends(self, kinds: Mapping[str, NodeKind]) -> list[tuple[str, str]]:
        """Two ground stations and a satellite."""
        problems = []
        for end in ("a", "b"):
            kind = kinds[getattr(self, end)]
            if kind is not NodeKind.GROUND_STATION:
                node = getattr(self, end)
                problems.append(
                    (end, f"node {node!r} is {article(kind.value)}; a dual-downlink ends at ground stations")
                )
        if kinds[self.source] is not NodeKind.SATELLITE:
            problems.append(("source", f"node {self.source!r} is {article(kinds[self.source].value)}, not a satellite"))
        return problems

    @property
    def optics_b(self) -> FreeSpaceSpec:
        """The optics of the downlink to ``b``."""
        return self.free_space_b or self.free_space


@dataclass(frozen=True, slots=True, kw_only=True)
class JointPass:
    """A time both stations see the satellite, as the link saw it.

    Attributes:
        start_s, end_s: seconds from the scenario's start (of the samples used).
        times_s: the samples' mid-times.
        loss_a_db, loss_b_db: each downlink's loss at each sample (detectors excluded).
        range_a_km, range_b_km: each downlink's slant range at each sample.
        sifted: expected sifted coincidences of the pass.
        errors: expected erroneous sifted coincidences.
        key_bits: key of the expected counts (asymptotic, or finite-key with ``finite_key``).
    """

    start_s: float
    end_s: float
    times_s: F64 = field(repr=False)
    loss_a_db: F64 = field(repr=False)
    loss_b_db: F64 = field(repr=False)
    range_a_km: F64 = field(repr=False)
    range_b_km: F64 = field(repr=False)
    sifted: float
    errors: float
    key_bits: int

    @property
    def qber(self) -> float:
        """Error rate of the sifted coincidences (NaN without any)."""
        return self.errors / self.sifted if self.sifted > 0 else math.nan


def _station(node_id: str, lat: float | None, lon: float | None, altitude_m: float) -> GroundStation:
    assert lat is not None
    assert lon is not None
    return GroundStation(name=node_id, lat_deg=lat, lon_deg=lon, altitude_m=altitude_m)


@dataclass(frozen=True, slots=True, kw_only=True)
class DualDownlinkEngine:
    """The joint passes of a dual downlink over the run and the key each gives.

    Attributes:
        system: the pair source (``spdc``), the receivers' detectors, ``e_d`` and ``f``.
        optics_a, optics_b: each downlink's optics.
        filter_bandwidth_nm, detection_window_s: the stations' filters and coincidence windows (sky light).
        orbit: the satellite; station_a, station_b: the ground stations.
        start_utc, duration_s: the run.
        sample_s: sampling step.
        monte_carlo: draw the counts (True) or take their expectations.
        finite: the finite-key security parameters, or None for the asymptotic key.
        test_fraction: with ``finite``, the fraction of the sifted coincidences that test.
        passes: the joint passes (derived).
    """

    system: QkdSystem
    optics_a: FreeSpaceSpec
    optics_b: FreeSpaceSpec
    filter_bandwidth_nm: float = 0.8
    detection_window_s: float = 1e-9
    orbit: Orbit
    station_a: GroundStation
    station_b: GroundStation
    start_utc: datetime
    duration_s: float
    sample_s: float
    monte_carlo: bool
    finite: FiniteKeyParams | None = None
    test_fraction: float = 0.5
    passes: tuple[JointPass, ...] = field(init=False)

    def __post_init__(self) -> None:
        found = passes(
            self.orbit,
            self.station_a,
            self.start_utc,
            self.duration_s,
            min_elevation_deg=self.optics_a.min_elevation_deg,
            night_only=self.optics_a.night_only,
        )
        records = [r for p in found if (r := self._joint(p)) is not None]
        object.__setattr__(self, "passes", tuple(records))

    def _joint(self, found: Pass) -> JointPass | None:
        times = pass_sample_times_s(found, self.start_utc, self.sample_s)
        if len(times) == 0:
            return None
        elev_a, range_a = elevation_track(self.orbit, self.station_a, times, epoch_utc=self.start_utc)
        elev_b, range_b = elevation_track(self.orbit, self.station_b, times, epoch_utc=self.start_utc)
        sun_b = sun_elevation_track(self.station_b, times, epoch_utc=self.start_utc)
        both = elev_b >= self.optics_b.min_elevation_deg
        if self.optics_b.night_only:
            both &= sun_b < NIGHT_SUN_ELEVATION_DEG
        if not both.any():
            return None
        times, elev_a, range_a, elev_b, range_b, sun_b = (
            x[both] for x in (times, elev_a, range_a, elev_b, range_b, sun_b)
        )
        sun_a = sun_elevation_track(self.station_a, times, epoch_utc=self.start_utc)
        loss_a = downlink_loss_db(self.optics_a, range_a, elev_a)
        loss_b = downlink_loss_db(self.optics_b, range_b, elev_b)
        sifted, errors = self.counts(
            loss_a, loss_b, self.sky_click_prob(self.optics_a, sun_a), self.sky_click_prob(self.optics_b, sun_b)
        )
        return JointPass(
            start_s=float(times[0] - self.sample_s / 2),
            end_s=float(times[-1] + self.sample_s / 2),
            times_s=times,
            loss_a_db=loss_a,
            loss_b_db=loss_b,
            range_a_km=range_a,
            range_b_km=range_b,
            sifted=sifted,
            errors=errors,
            key_bits=self.key_bits(sifted, errors),
        )

    def sky_click_prob(self, optics: FreeSpaceSpec, sun_elevation_deg: F64) -> F64:
        """Probability per coincidence window that sky light clicks a station's receiver of these optics."""
        return sky_click_prob_of(
            optics,
            self.filter_bandwidth_nm,
            self.detection_window_s,
            self.system.detector.efficiency,
            sun_elevation_deg,
        )

    def counts(
        self, loss_a_db: F64, loss_b_db: F64, sky_a: F64 | None = None, sky_b: F64 | None = None
    ) -> tuple[float, float]:
        """Expected sifted coincidences and errors over samples of ``sample_s`` at the given downlink losses, with
        each station's sky click probability per window (default: none)."""
        dark = self.system.detector.dark_count_prob
        arms = TwoArm(arm_a=sky_channel(loss_a_db, dark, sky_a), arm_b=sky_channel(loss_b_db, dark, sky_b))
        source = self.system.pair_source
        observed = bbm92_observables_arms(self.system, arms, source.mean_pair_number)
        windows = source.rep_rate_hz * self.sample_s * self.system.sifting_factor
        return float(np.sum(observed.gain) * windows), float(np.sum(observed.error_weight) * windows)

    def key_bits(self, sifted: float, errors: float, test_errors: float | None = None) -> int:
        """BBM92 key of ``sifted`` coincidences with ``errors`` errors (module docstring); with ``finite``, of
        which ``test_errors`` among the ``test_fraction`` that test (their share of ``errors`` if None)."""
        if sifted <= 0:
            return 0
        if self.finite is not None:
            test_bits = self.test_fraction * sifted
            in_test = self.test_fraction * errors if test_errors is None else test_errors
            return bbm92_finite_key_bits(
                key_bits=sifted - test_bits,
                key_errors=errors - in_test,
                test_bits=test_bits,
                test_errors=in_test,
                ec_efficiency=self.system.ec_efficiency,
                params=self.finite,
            )
        fraction = float(bbm92_key_fraction(errors / sifted, self.system.ec_efficiency))
        return max(0, math.floor(sifted * fraction))

    def block(self, record: JointPass, rng: np.random.Generator) -> BlockRecord:
        """The block of a joint pass (drawn with ``monte_carlo``)."""
        sifted, errors = record.sifted, record.errors
        test_errors = None
        if self.monte_carlo:
            drawn = float(rng.poisson(sifted))
            errors = float(rng.binomial(int(drawn), min(1.0, errors / sifted))) if sifted > 0 else 0.0
            sifted = drawn
            if self.finite is not None and sifted > 0:  # the test bits: a random test_fraction of the pass's
                sample = round(self.test_fraction * sifted)
                test_errors = float(rng.hypergeometric(int(errors), int(sifted - errors), sample))
                test_errors *= self.test_fraction * sifted / sample if sample > 0 else 0.0
        key = self.key_bits(sifted, errors, test_errors)
        return BlockRecord(
            end_s=record.end_s,
            duration_s=record.end_s - record.start_s,
            key_bits=key,
            sifted_bits=sifted,
            qber=errors / sifted if sifted > 0 else math.nan,
            abort_reason=abort_reason_of(key),
        )

    @property
    def expected_rate_bps(self) -> float:
        """Expected key over the run, per second."""
        return sum(p.key_bits for p in self.passes) / self.duration_s

    def runner(self) -> LinkRunner:
        """Sleeps until each joint pass ends, then delivers its block."""

        def run(proc: Process, deliver: Callable[[BlockRecord], None]) -> ProcessGenerator:
            for record in self.passes:
                due = seconds_to_ps(record.end_s)
                if due > proc.kernel.now_ps:
                    yield proc.kernel.timeout_at(due)
                deliver(self.block(record, proc.rng))

        return run


def build_dual_downlinks(specs: Mapping[int, LinkSpecBase], context: BuildContext) -> dict[int, LinkEngine]:
    """The engines of a scenario's dual downlinks."""
    scenario = context.scenario
    engines: dict[int, LinkEngine] = {}
    for index, spec in specs.items():
        assert isinstance(spec, DualDownlinkLinkSpec)
        path = f"links[{index}]"
        check_ephemeris(scenario, context.duration_s)
        system = link_system(spec, path)
        if system.spdc is None:
            raise ScenarioError([(f"{path}.preset", f"{spec.preset!r} has no pair source (spdc)")])
        satellite = scenario.node(spec.source)
        node_path = f"nodes[{[n.id for n in scenario.nodes].index(satellite.id)}]"
        a, b = scenario.node(spec.a), scenario.node(spec.b)
        engines[index] = DualDownlinkEngine(
            system=system,
            optics_a=spec.free_space,
            optics_b=spec.optics_b,
            orbit=orbit_of(satellite, scenario, node_path),
            station_a=_station(a.id, a.lat_deg, a.lon_deg, a.altitude_m),
            station_b=_station(b.id, b.lat_deg, b.lon_deg, b.altitude_m),
            start_utc=scenario.time.start,
            duration_s=context.duration_s,
            sample_s=spec.sample_s,
            filter_bandwidth_nm=spec.filter_bandwidth_nm,
            detection_window_s=spec.detection_window_s,
            monte_carlo=spec.model is LinkModel.MONTE_CARLO,
            finite=spec.finite_key_params,
            test_fraction=spec.test_fraction,
        )
        context.on_progress(index, 1.0)
    return engines
