"""Decoy-BB84 over a fibre between two nodes, block by block, with the finite-key length of every block.

A block is ``block_s`` seconds of pulses at the source's repetition rate. Its counts per intensity
class and basis are either their expectations (``model: analytic``, :func:`qinternet.qkd.finite_key.
expected_counts`) or a draw of the Monte-Carlo link (``model: monte-carlo``: one multinomial draw over
the categories of :func:`qinternet.qkd.montecarlo.compile_link`, exact for the counts when the
detectors have no dead time); the block's secret key is Lim et al.'s length (PRA 89, 022307 (2014),
eq. (1), :func:`qinternet.qkd.finite_key.finite_key_length`) with error correction leaking
``f n_X h(E)``. As an operator would, a link runs at the settings that maximise its finite-key rate for
its block size (Lim et al., Sec. IV: ``q_x``, the intensities and their probabilities,
:func:`qinternet.qkd.tuning.tuned_system`), unless the scenario fixes them (``optimise_settings: false``).

The link's channel is its fibre (:class:`qinternet.physics.channels.FibreChannel`); classical channels in the same
fibre give it a background of Raman-scattered light at the receiver (:mod:`qinternet.physics.raman`), which the
protocol splits between Bob's two detectors.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import Field

from qinternet.errors import ParameterError
from qinternet.network.attacks import AttackKind, ScheduledAttack
from qinternet.network.build import link_system
from qinternet.network.links.base import (
    AbortReason,
    BlockEngine,
    BlockRecord,
    LinkBuilder,
    abort_reason_of,
    block_pulses,
    link_by_link,
)
from qinternet.network.schema_base import LinkKind, LinkModel, LinkSpecBase, Model, ScenarioError, Seconds
from qinternet.params import QkdSystem
from qinternet.physics.channels import FibreChannel, RamanNoise, fibre_channel
from qinternet.physics.detectors import dark_count_with_background
from qinternet.physics.raman import (
    C_BAND_RAMAN_CROSS_SECTION_PER_KM_NM,
    ClassicalChannel,
    RamanDirection,
    RamanReceiver,
)
from qinternet.qkd.finite_key import (
    DecoyCounts,
    FiniteKeyBounds,
    FiniteKeyParams,
    expected_counts,
    finite_key_length,
)
from qinternet.qkd.montecarlo import LinkSampler, compile_link
from qinternet.qkd.record import Basis
from qinternet.qkd.tuning import tuned_system

F64 = NDArray[np.float64]

__all__ = [
    "ClassicalChannelSpec",
    "FibreLinkEngine",
    "FibreLinkSpec",
    "build_fibre_links",
    "draw_counts",
    "fibre_engine",
    "link_channel",
    "raman_click_prob",
    "raman_noise",
]


class ClassicalChannelSpec(Model):
    """A classical channel sharing the link's fibre (its Raman scattering adds noise).

    Attributes:
        launch_power_dbm: optical power launched into the fibre.
        wavelength_nm: the classical channel's wavelength.
        direction: ``forward`` (travels with the quantum signal) or ``backward``.
        raman_cross_section_per_km_nm: effective Raman cross-section at the quantum wavelength
            (default: the C-band value of :mod:`qinternet.physics.raman`).
    """

    launch_power_dbm: Annotated[float, Field(ge=-60.0, le=30.0)]
    wavelength_nm: Annotated[float, Field(gt=200.0, lt=3000.0)] = 1550.0
    direction: Literal["forward", "backward"] = "forward"
    raman_cross_section_per_km_nm: Annotated[float, Field(ge=0.0, lt=1e-6)] | None = None


class FibreLinkSpec(LinkSpecBase):
    """A decoy-BB84 link over a fibre (``kind: fibre``, the default).

    Attributes:
        length_km: fibre length.
        loss_db_per_km, connector_loss_db: the fibre's attenuation and fixed loss (default: the preset's).
        protocol: ``decoy-bb84``.
        optimise_settings: run at the basis and intensity settings that maximise the finite-key rate of a
            block (as an operator tunes a link), or at the preset's own.
        classical_channels: classical traffic in the same fibre (its Raman scattering adds background).
        quantum_wavelength_nm: the quantum signal's wavelength (Raman noise is counted at it).
        filter_bandwidth_nm: width of the receiver's filter (0.8 nm: a 100 GHz DWDM channel), in which Raman
            noise is counted.
        detection_window_s: time a detection gate stays open for one pulse (Raman noise).
        bright_light_monitor: the receiver monitors the light at its detectors (a photocurrent monitor) and
            discards blocks that saw bright light: detector blinding is then detected
            (:mod:`qinternet.network.attacks`).
    """

    kind: LinkKind = LinkKind.FIBRE
    length_km: Annotated[float, Field(gt=0.0, le=1000.0)]
    loss_db_per_km: Annotated[float, Field(ge=0.0, le=10.0)] | None = None
    connector_loss_db: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    protocol: Literal["decoy-bb84"] = "decoy-bb84"
    optimise_settings: bool = True
    classical_channels: tuple[ClassicalChannelSpec, ...] = ()
    quantum_wavelength_nm: Annotated[float, Field(gt=200.0, lt=3000.0)] = 1550.0
    filter_bandwidth_nm: Annotated[float, Field(gt=0.0, le=100.0)] = 0.8
    detection_window_s: Annotated[Seconds, Field(gt=0.0, le=1e-3)] = 1e-9
    bright_light_monitor: bool = False


def raman_noise(spec: FibreLinkSpec, system: QkdSystem) -> RamanNoise | None:
    """The Raman noise of the link's classical channels at Bob's receiver (its filter, detection window and
    efficiency), or None without classical channels."""
    if not spec.classical_channels:
        return None
    classical = tuple(
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
    )
    receiver = RamanReceiver(
        quantum_wavelength_nm=spec.quantum_wavelength_nm,
        filter_bandwidth_nm=spec.filter_bandwidth_nm,
        detection_window_s=spec.detection_window_s,
        detection_efficiency=system.detector.efficiency,
    )
    return RamanNoise(classical_channels=classical, receiver=receiver)


def link_channel(spec: FibreLinkSpec, system: QkdSystem) -> FibreChannel:
    """The link's fibre as a channel: the devices' fibre over ``length_km``, with the Raman background of its
    classical channels (:class:`qinternet.physics.channels.FibreChannel`)."""
    return fibre_channel(system.fibre, spec.length_km, raman=raman_noise(spec, system))


def raman_click_prob(spec: FibreLinkSpec, system: QkdSystem, length_km: float) -> float:
    """Probability that Raman light from the link's classical channels clicks Bob's receiver in one detection
    window over ``length_km`` (:func:`qinternet.physics.raman.raman_background_prob`)."""
    return fibre_channel(system.fibre, length_km, raman=raman_noise(spec, system)).background


@dataclass(frozen=True, slots=True, kw_only=True)
class FibreLinkEngine(BlockEngine):
    """Makes the blocks of one decoy-BB84 link over a fibre channel.

    Attributes:
        system: the devices, at the settings the link runs.
        channel: the fibre, with the Raman background of classical traffic in it.
        block_pulses: pulses per block.
        security: ``eps_sec``, ``eps_cor`` of every block.
        monte_carlo: draw the counts (True) or take their expectations.
        block_s: seconds per block.
        attacks: attacks on the link at their times (:mod:`qinternet.network.attacks`), none overlapping another.
        bright_light_monitor: the receiver watches the light at its detectors and discards a block that saw
            bright light (the countermeasure to blinding of Yuan, Dynes, Shields, Nature Photonics 4, 800 (2010)).
    """

    system: QkdSystem
    channel: FibreChannel
    block_pulses: int
    security: FiniteKeyParams
    monte_carlo: bool
    block_s: float = 0.0
    attacks: tuple[ScheduledAttack, ...] = ()
    bright_light_monitor: bool = False
    _expected: DecoyCounts = field(init=False, repr=False)
    _expected_block: BlockRecord = field(init=False, repr=False)
    _sampler: LinkSampler | None = field(init=False, repr=False)
    _attacked: tuple[LinkSampler, ...] = field(init=False, repr=False)
    _baseline: BlockRecord = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.block_s <= 0.0:
            object.__setattr__(self, "block_s", self.block_pulses / self.system.source.rep_rate_hz)
        counts = expected_counts(self.system, self.channel, block_pulses=float(self.block_pulses))
        object.__setattr__(self, "_expected", counts)
        object.__setattr__(self, "_expected_block", self._record(counts, self.block_s, self.block_s))
        sampler = compile_link(self.system, self.channel) if self.monte_carlo else None
        object.__setattr__(self, "_sampler", sampler)
        attacked = tuple(compile_link(self.system, self.channel, a.intervention()) for a in self.attacks)
        object.__setattr__(self, "_attacked", attacked)
        baseline = self._expected_block
        if sampler is not None:  # what the draws scatter around (the Monte-Carlo has no dead time)
            mean = _decoy_counts(self.system, *_expected(sampler, float(self.block_pulses)))
            baseline = self._record(mean, self.block_s, self.block_s)
        object.__setattr__(self, "_baseline", baseline)

    @property
    def baseline(self) -> BlockRecord:
        """The honest block as the link's operator knows it (:class:`~qinternet.network.links.base.Monitored`):
        the expected counts of the model the blocks are drawn from."""
        return self._baseline

    def under_attack(self, attacks: tuple[ScheduledAttack, ...]) -> FibreLinkEngine:
        """The same link with ``attacks`` on it (:class:`~qinternet.network.links.base.Attackable`)."""
        return dataclasses.replace(self, attacks=self.attacks + attacks)

    @property
    def expected_counts(self) -> DecoyCounts:
        """Expected counts of one block."""
        return self._expected

    @property
    def length_km(self) -> float:
        """The fibre's length (:class:`~qinternet.network.links.base.RateCurve`)."""
        return self.channel.length_km

    @property
    def distance_km(self) -> float:
        """The fibre's length."""
        return self.channel.length_km

    def rate_bps_at(self, length_km: ArrayLike) -> NDArray[np.float64]:
        """Key per second of a block of expected counts of these devices and settings at other lengths (with the
        same classical traffic, if any)."""
        lengths = np.atleast_1d(np.asarray(length_km, dtype=np.float64))
        pulses = float(self.block_pulses)
        bits = [
            self.bounds(
                expected_counts(self.system, dataclasses.replace(self.channel, length_km=float(d)), block_pulses=pulses)
            ).key_length_bits
            for d in lengths
        ]
        return np.asarray(bits, dtype=np.float64) / self.block_s

    def bounds(self, counts: DecoyCounts) -> FiniteKeyBounds:
        """Lim et al.'s bounds and key length for a block's counts."""
        return finite_key_length(counts, params=self.security, ec_efficiency=self.system.ec_efficiency)

    def _record(self, counts: DecoyCounts, duration_s: float, end_s: float) -> BlockRecord:
        bounds = self.bounds(counts)
        n_x = sum(counts.key_detections)
        errors = sum(counts.key_errors)
        key = int(bounds.key_length_bits)
        return BlockRecord(
            end_s=end_s,
            duration_s=duration_s,
            key_bits=key,
            sifted_bits=n_x,
            qber=errors / n_x if n_x > 0 else math.nan,
            abort_reason=abort_reason_of(key, bounds.abort_reason),
        )

    def block(self, rng: np.random.Generator, duration_s: float, end_s: float) -> BlockRecord:
        """The next block: the expected one, or a Monte-Carlo draw of its counts.

        The pulses sent while an attack ran are drawn (or expected) from the attacked link's probabilities
        (:func:`qinternet.qkd.montecarlo.compile_link` with the attack's intervention), the others from the
        honest link's; the block's bounds see the sum, as Alice and Bob would. A block during which
        blinding light reached a receiver that monitors it is discarded (:attr:`AbortReason.BRIGHT_LIGHT`).
        """
        start_s = end_s - duration_s
        touched = [
            (attack, sampler, math.floor(self.block_pulses * attack.overlap_s(start_s, end_s) / duration_s))
            for attack, sampler in zip(self.attacks, self._attacked, strict=True)
            if attack.overlap_s(start_s, end_s) > 0.0
        ]
        if not touched:
            if self._sampler is None:
                return dataclasses.replace(self._expected_block, end_s=end_s, duration_s=duration_s)
            return self._record(draw_counts(self._sampler, self.system, self.block_pulses, rng), duration_s, end_s)
        honest = self.block_pulses - sum(pulses for _, _, pulses in touched)
        if self._sampler is None:
            detections, errors = _as_arrays(self._expected)
            detections, errors = detections * (honest / self.block_pulses), errors * (honest / self.block_pulses)
        else:
            detections, errors = _drawn(self._sampler, honest, rng)
        for _, sampler, pulses in touched:
            more = _expected(sampler, float(pulses)) if self._sampler is None else _drawn(sampler, pulses, rng)
            detections, errors = detections + more[0], errors + more[1]
        record = self._record(_decoy_counts(self.system, detections, errors), duration_s, end_s)
        if self.bright_light_monitor and any(attack.kind is AttackKind.BLINDING for attack, _, _ in touched):
            return dataclasses.replace(record, key_bits=0, abort_reason=AbortReason.BRIGHT_LIGHT)
        return record


def draw_counts(sampler: LinkSampler, system: QkdSystem, pulses: int, rng: np.random.Generator) -> DecoyCounts:
    """Counts of ``pulses`` pulses from one multinomial draw over the sampler's categories.

    The categories are (class, Alice's basis, Bob's basis, outcome) with outcome none, right, wrong or
    double click; a double click is a random bit (squashing), so half of them are errors in expectation
    and are split binomially here. Dead time is not applied (it couples neighbouring slots).
    """
    return _decoy_counts(system, *_drawn(sampler, pulses, rng))


def _drawn(sampler: LinkSampler, pulses: int, rng: np.random.Generator) -> tuple[F64, F64]:
    """Detections and errors, shape (K, 2, 2) (class, Alice's basis, Bob's basis), of one multinomial draw."""
    counts = rng.multinomial(pulses, sampler.flat_probabilities).reshape(sampler.probabilities.shape)
    right, wrong, double = counts[..., 1], counts[..., 2], counts[..., 3]
    double_wrong = rng.binomial(double, 0.5)
    return (right + wrong + double).astype(np.float64), (wrong + double_wrong).astype(np.float64)


def _expected(sampler: LinkSampler, pulses: float) -> tuple[F64, F64]:
    """Expected detections and errors, shape (K, 2, 2), of ``pulses`` pulses (what :func:`_drawn` draws)."""
    mean = pulses * sampler.flat_probabilities.reshape(sampler.probabilities.shape)
    right, wrong, double = mean[..., 1], mean[..., 2], mean[..., 3]
    return right + wrong + double, wrong + 0.5 * double


def _decoy_counts(system: QkdSystem, detections: F64, errors: F64) -> DecoyCounts:
    """The decoy counts of detections and errors of shape (K, 2, 2): where both chose the same basis."""
    z, x = int(Basis.Z), int(Basis.X)

    def per_class(values: F64, basis: int) -> tuple[float, ...]:
        return tuple(float(v) for v in values[:, basis, basis])

    return DecoyCounts(
        intensities=system.source.intensities,
        intensity_probs=system.source.intensity_probs,
        key_detections=per_class(detections, z),
        key_errors=per_class(errors, z),
        test_detections=per_class(detections, x),
        test_errors=per_class(errors, x),
    )


def _as_arrays(counts: DecoyCounts) -> tuple[F64, F64]:
    """Detections and errors of shape (K, 2, 2) holding ``counts`` (zero where the bases differ)."""
    k = len(counts.intensities)
    detections, errors = np.zeros((k, 2, 2)), np.zeros((k, 2, 2))
    z, x = int(Basis.Z), int(Basis.X)
    detections[:, z, z], errors[:, z, z] = counts.key_detections, counts.key_errors
    detections[:, x, x], errors[:, x, x] = counts.test_detections, counts.test_errors
    return detections, errors


def fibre_engine(spec: FibreLinkSpec, path: str) -> FibreLinkEngine:
    """The block engine of the decoy-BB84 fibre link ``spec`` (at ``path`` in the file)."""
    system = link_system(spec, path)
    try:
        channel = link_channel(spec, system)
    except ParameterError as exc:
        raise ScenarioError([(f"{path}.{exc.field}", exc.reason)]) from None
    dark = float(dark_count_with_background(system.detector.dark_count_prob, channel.background))
    if dark >= 0.5:  # a detector clicking in most windows from noise alone: no QKD model applies
        raise ScenarioError(
            [(f"{path}.classical_channels", f"Raman noise clicks each detector with probability {dark:.2f} per window")]
        )
    pulses = block_pulses(system.source.rep_rate_hz, spec.block_s, path)
    security = FiniteKeyParams(eps_sec=spec.eps_sec, eps_cor=spec.eps_cor)
    if spec.optimise_settings:
        system = tuned_system(system, channel, float(pulses), security)
    return FibreLinkEngine(
        system=system,
        channel=channel,
        block_pulses=pulses,
        security=security,
        monte_carlo=spec.model is LinkModel.MONTE_CARLO,
        block_s=spec.block_s,
        bright_light_monitor=spec.bright_light_monitor,
    )


build_fibre_links: LinkBuilder = link_by_link(fibre_engine)
"""The engines of the fibre links, each on its own (:data:`qinternet.network.links.registry.LINK_KINDS`)."""
