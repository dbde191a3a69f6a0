"""Photonic qubits teleported from a sender to a receiver over fibre or up to a satellite.

``kind: photonic-teleportation``.

The sender (``a``) holds the photon to be teleported (a weak coherent pulse, or a photon heralded from an SPDC
pair), an entangled SPDC pair source and a linear-optics Bell-state measurement; the pair's other photon goes to the
receiver (``b``) over ``length_km`` of fibre, or, when ``b`` is a satellite, up a free-space uplink during the
passes (Ren et al., Nature 549, 70 (2017): Ngari to Micius). The physics is
:mod:`qinternet.entanglement.photonic_teleportation` (multi-pair emission of both sources, the BSM's two-photon
visibility, the pair's visibility, the receiver's dark counts). The input photon may come over fibre too
(``input_length_km``: Valivarthi et al., PRX Quantum 1, 020317 (2020) sent it 22 km before the BSM).

The uplink's loss is the free-space budget of :func:`qinternet.network.links.free_space.downlink_loss_db` with the
optics given (transmitter on the ground, receiver on the satellite: diffraction, atmosphere against elevation,
pointing): the geometric part of a link is the same either way; what makes an uplink worse, the turbulence that
spreads and deflects the beam near its start, is the optics' ``fixed_loss_db`` (see the scenario for the figure
used). The satellite's receiver faces the night side of the Earth: ``night_only`` must be true (ground light is in
the receiver's dark counts, not modelled from the Sun).

The link makes no key: its figures (events per second, fidelity per basis) are what a ``teleportation``
application on it (``applications[i].link``) reports, with the events of the run drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from qinternet.entanglement.photonic_teleportation import (
    InputPhoton,
    PhotonicTeleportationParams,
    TeleportationEvents,
    teleportation_events,
)
from qinternet.errors import ParameterError
from qinternet.network.links.base import BuildContext, LinkEngine, LinkRunner, keyless_runner
from qinternet.network.links.free_space import (
    FreeSpaceSpec,
    check_ephemeris,
    downlink_loss_db,
    orbit_of,
    pass_sample_times_s,
)
from qinternet.network.satellite import GroundStation, Orbit, elevation_track, passes
from qinternet.network.schema_base import (
    LinkKind,
    LinkSpecBase,
    Model,
    NodeKind,
    Probability,
    ScenarioError,
    Seconds,
    article,
)
from qinternet.params.devices import PairStatistics
from qinternet.params.units import db_to_transmittance

__all__ = [
    "PhotonicTeleportationEngine",
    "PhotonicTeleportationLinkSpec",
    "TeleporterSpec",
    "build_teleportation_links",
]

F64 = NDArray[np.float64]

SENDERS = (NodeKind.USER, NodeKind.GROUND_STATION, NodeKind.QUANTUM_NODE)
"""Node kinds that can hold the input photon, the pair source and the Bell-state measurement."""

MeanNumber = Annotated[float, Field(gt=0.0, le=0.5)]


class TeleporterSpec(Model):
    """The sender's sources and Bell-state measurement and the receiver's detection (``teleporter:``).

    Attributes:
        input_photon: ``coherent`` (a weak laser pulse) or ``heralded`` (one photon of an SPDC pair).
        input_mean_photon_number: mean photon number of the coherent pulse, or mean pair number of the heralding
            source, per pulse.
        herald_efficiency: probability that the herald detects the twin (``heralded`` only).
        pair_mean_number: mean pair number per pulse of the entangled pair source.
        statistics: pair-number law of the SPDC sources: ``thermal`` (single mode) or ``poisson`` (many modes).
        rep_rate_hz: pulses per second.
        input_efficiency: probability that an input photon clicks a BSM detector (coupling, optics, detector), not
            counting ``input_length_km``.
        idler_efficiency: probability that the pair's photon at the sender clicks a BSM detector.
        hom_visibility: two-photon (Hong-Ou-Mandel) visibility of the input photon and the pair's photon: their
            indistinguishability, not counting multi-photon terms (the model adds those).
        pair_visibility: visibility of the pair's entanglement.
        announced_bell_states: 1 (``Psi-``) or 2 (``Psi-`` and ``Psi+``).
        receiver_efficiency: probability that a photon reaching the receiver is detected (optics, detector).
        receiver_dark_count_prob: false clicks of the receiver per pulse (its detectors in the coincidence window,
            background light included).
    """

    input_photon: InputPhoton = InputPhoton.COHERENT
    input_mean_photon_number: MeanNumber
    herald_efficiency: Probability = 1.0
    pair_mean_number: MeanNumber
    statistics: PairStatistics = PairStatistics.THERMAL
    rep_rate_hz: Annotated[float, Field(gt=0.0, le=1e11)]
    input_efficiency: Probability
    idler_efficiency: Probability
    hom_visibility: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    pair_visibility: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    announced_bell_states: Literal[1, 2] = 1
    receiver_efficiency: Probability
    receiver_dark_count_prob: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class PhotonicTeleportationLinkSpec(LinkSpecBase):
    """Photonic qubits teleported from ``a`` to ``b`` (``kind: photonic-teleportation``).

    Attributes:
        a: the sender (user, ground station or quantum node): input photon, pair source and Bell measurement.
        b: the receiver: a node on fibre, or a satellite (then ``free_space`` is the uplink).
        length_km: fibre from the sender's pair source to the receiver (0 with a satellite).
        input_length_km: fibre the input photon crosses before the Bell measurement.
        loss_db_per_km: attenuation of both fibres.
        free_space: the uplink's optics, for a satellite receiver.
        teleporter: the devices (:class:`TeleporterSpec`).
        sample_s: sampling step of the satellite's passes.
    """

    kind: LinkKind = LinkKind.PHOTONIC_TELEPORTATION
    length_km: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.0
    input_length_km: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.0
    loss_db_per_km: Annotated[float, Field(ge=0.0, le=10.0)] = 0.2
    free_space: FreeSpaceSpec | None = None
    teleporter: TeleporterSpec
    sample_s: Annotated[Seconds, Field(gt=0.0, le=600.0)] = 10.0

    def check_ends(self, kinds: Mapping[str, NodeKind]) -> list[tuple[str, str]]:
        """A sender that can hold the sources; a satellite receiver exactly when ``free_space`` is given."""
        problems = []
        if kinds[self.a] not in SENDERS:
            problems.append(
                (
                    "a",
                    f"node {self.a!r} is {article(kinds[self.a].value)}; the sender is a user, "
                    "ground station or quantum node",
                )
            )
        to_satellite = kinds[self.b] is NodeKind.SATELLITE
        if to_satellite and self.free_space is None:
            problems.append(("free_space", f"node {self.b!r} is a satellite: give the uplink's optics"))
        if not to_satellite and self.free_space is not None:
            problems.append(("free_space", f"node {self.b!r} is not a satellite: a fibre receiver has no uplink"))
        return problems

    @model_validator(mode="after")
    def _night(self) -> PhotonicTeleportationLinkSpec:
        """An uplink runs at night (the satellite's receiver sees no sunlit ground in this model)."""
        if self.free_space is not None and not self.free_space.night_only:
            raise PydanticCustomError("link", "an uplink runs at night only: set free_space.night_only: true")
        return self

    @property
    def input_loss_db(self) -> float:
        """Loss of the input's fibre to the Bell measurement, dB."""
        return self.loss_db_per_km * self.input_length_km

    def params(self) -> PhotonicTeleportationParams:
        """The devices as the protocol takes them (the input fibre in the input's transmittance)."""
        t = self.teleporter
        return PhotonicTeleportationParams(
            input_photon=t.input_photon,
            input_mean_photon_number=t.input_mean_photon_number,
            herald_efficiency=t.herald_efficiency,
            pair_mean_number=t.pair_mean_number,
            statistics=t.statistics,
            input_transmittance=t.input_efficiency * float(db_to_transmittance(self.input_loss_db)),
            idler_transmittance=t.idler_efficiency,
            hom_visibility=t.hom_visibility,
            pair_visibility=t.pair_visibility,
            announced_bell_states=t.announced_bell_states,
            receiver_dark_count_prob=t.receiver_dark_count_prob,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PhotonicTeleportationEngine:
    """A teleportation link's figures over the run.

    Attributes:
        spec: the link.
        duration_s: the run's length.
        loss_db: the receiver's channel loss at each sample (one sample for fibre), dB.
        pulses: pulses sent at each sample (the whole run for fibre, ``sample_s`` per satellite sample).
        orbit: the receiving satellite (None on fibre).
        times_s: each sample's mid-time, s from the start (satellite samples in passes; fibre: the run's middle).
        range_km: the uplink's slant range at each sample (fibre: the fibre to the receiver).
        events: the protocol's event probabilities at each sample (derived).
    """

    spec: PhotonicTeleportationLinkSpec
    duration_s: float
    loss_db: F64 = field(repr=False)
    pulses: F64 = field(repr=False)
    orbit: Orbit | None = None
    times_s: F64 = field(repr=False)
    range_km: F64 = field(repr=False)
    events: TeleportationEvents = field(init=False, repr=False)

    def __post_init__(self) -> None:
        t_r = self.spec.teleporter.receiver_efficiency * db_to_transmittance(self.loss_db)
        object.__setattr__(self, "events", teleportation_events(self.spec.params(), t_r))

    @property
    def expected_events(self) -> float:
        """Teleportation events over the run (the inputs' bases used equally often)."""
        return float((self.events.event_prob.mean(axis=0) * self.pulses).sum())

    @property
    def events_per_s(self) -> float:
        """Events per second of the run (satellites: averaged over the whole run, passes or not)."""
        return self.expected_events / self.duration_s

    @property
    def fidelity_per_basis(self) -> F64:
        """Fidelity of the events of each basis (Z, X, Y), pooled over the run, shape (3,)."""
        return self.events.fidelity(self.pulses)

    @property
    def average_fidelity(self) -> float:
        """Mean over the three bases."""
        return float(self.fidelity_per_basis.mean())

    @property
    def peak_s(self) -> float | None:
        """Time of the least-loss sample that sent pulses (where the map draws a satellite), or None."""
        used = self.pulses > 0
        return float(self.times_s[used][int(np.argmin(self.loss_db[used]))]) if used.any() else None

    @property
    def expected_rate_bps(self) -> float:
        """A teleportation link makes no key."""
        return 0.0

    def figures(self) -> dict[str, Any]:
        """What an application on the link reports beside its drawn value."""
        used = self.pulses > 0
        return {
            "expected_events": self.expected_events,
            "events_per_s": self.events_per_s,
            "fidelity_per_basis": dict(zip(("Z", "X", "Y"), self.fidelity_per_basis.tolist(), strict=True)),
            "receiver_loss_db": [float(self.loss_db[used].min()), float(self.loss_db[used].max())]
            if used.any()
            else [],
            "model": "qinternet.entanglement.photonic_teleportation (leading-order multi-photon terms)",
        }

    def runner(self) -> LinkRunner:
        """A process that makes no block (the link holds no key)."""
        return keyless_runner()


def _uplink_samples(
    spec: PhotonicTeleportationLinkSpec, context: BuildContext, path: str
) -> tuple[F64, F64, F64, F64, Orbit]:
    """Loss, pulses, mid-time and slant range of every sample of the satellite's night passes over the sender, and
    its orbit."""
    scenario = context.scenario
    assert spec.free_space is not None
    check_ephemeris(scenario, context.duration_s)
    satellite = scenario.node(spec.b)
    node_path = f"nodes[{[n.id for n in scenario.nodes].index(satellite.id)}]"
    orbit = orbit_of(satellite, scenario, node_path)
    ground = scenario.node(spec.a)
    if ground.lat_deg is None or ground.lon_deg is None:
        raise ScenarioError([(f"{path}.a", f"node {ground.id!r} needs lat_deg and lon_deg for an uplink")])
    station = GroundStation(
        name=ground.id, lat_deg=ground.lat_deg, lon_deg=ground.lon_deg, altitude_m=ground.altitude_m
    )
    found = passes(
        orbit,
        station,
        scenario.time.start,
        context.duration_s,
        min_elevation_deg=spec.free_space.min_elevation_deg,
        night_only=True,
    )
    times = [pass_sample_times_s(p, scenario.time.start, spec.sample_s) for p in found]
    if not times or sum(len(t) for t in times) == 0:
        return np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), orbit
    when = np.concatenate(times)
    elevation, range_km = elevation_track(orbit, station, when, epoch_utc=scenario.time.start)
    loss = downlink_loss_db(spec.free_space, range_km, elevation)
    return loss, np.full(len(when), spec.teleporter.rep_rate_hz * spec.sample_s), when, range_km, orbit


def build_teleportation_links(specs: Mapping[int, LinkSpecBase], context: BuildContext) -> dict[int, LinkEngine]:
    """The engines of a scenario's photonic teleportation links."""
    engines: dict[int, LinkEngine] = {}
    for index, spec in specs.items():
        assert isinstance(spec, PhotonicTeleportationLinkSpec)
        path = f"links[{index}]"
        orbit: Orbit | None = None
        if spec.free_space is not None:
            loss, pulses, times, range_km, orbit = _uplink_samples(spec, context, path)
        else:
            loss = np.array([spec.loss_db_per_km * spec.length_km])
            pulses = np.array([spec.teleporter.rep_rate_hz * context.duration_s])
            times = np.array([context.duration_s / 2.0])
            range_km = np.array([spec.length_km])
        try:
            engines[index] = PhotonicTeleportationEngine(
                spec=spec,
                duration_s=context.duration_s,
                loss_db=loss,
                pulses=pulses,
                orbit=orbit,
                times_s=times,
                range_km=range_km,
            )
        except ParameterError as exc:
            raise ScenarioError([(f"{path}.teleporter.{exc.field}", exc.reason)]) from None
        context.on_progress(index, 1.0)
    return engines
