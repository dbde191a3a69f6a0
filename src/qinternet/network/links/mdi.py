"""Measurement-device-independent QKD between two users through an untrusted relay, block by block.

Alice and Bob each send decoy-state weak coherent pulses over an arm of fibre (``length_a_km``,
``length_b_km``) to a Bell-state measurement at the relay (a node of kind ``untrusted-relay``); the relay
announces which pulse pairs it heralded and as which Bell state, and nothing else it learns helps an
eavesdropper: it never holds key, so routing never counts it as a trusted hop (Lo, Curty, Qi, PRL 108,
130503 (2012)). A block is ``block_s`` seconds of pulse pairs at the sources' rate; its counts are either their
expectations (``model: analytic``, :func:`qinternet.qkd.mdi_finite.expected_counts`) or one multinomial draw
of the measurement station (``model: monte-carlo``, :func:`qinternet.qkd.mdi_montecarlo.sample_counts`:
two-photon interference of finite visibility, the detectors' efficiency and dark counts); the block's key is
the composable length of :func:`qinternet.qkd.mdi_composable.composable_key_length`: the four-intensity decoy
bounds with joint constraints (Zhou, Yu, Wang, PRA 93, 042324 (2016), the analysis of Yin et al.'s 404 km record)
in the key-length formula of Curty et al., Nat. Commun. 5, 3732 (2014), with its error-verification and
privacy-amplification terms. With ``optimise_settings`` both sources run at the four-intensity settings that
maximise a block's key over the link's arms (:func:`qinternet.qkd.mdi_joint.optimise_four_intensity`).

The devices come from an MDI preset (``yin2016``); another family's preset keeps its fibre, detectors and error
correction and takes the MDI family's default sources (:func:`qinternet.params.presets.devices_for`).
``devices`` changes fields of the MDI system: ``{alice: {...}, bob: {...}, bsm: {...}, ec_efficiency: ...}``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal, TypeVar

import numpy as np
from pydantic import Field

from qinternet.errors import ParameterError
from qinternet.network.links.base import (
    BlockEngine,
    BlockRecord,
    LinkBuilder,
    LinkEngine,
    abort_reason_of,
    block_pulses,
    link_by_link,
)
from qinternet.network.schema_base import (
    Identifier,
    LinkKind,
    LinkModel,
    LinkSpecBase,
    NodeKind,
    ScenarioError,
    article,
)
from qinternet.params import PRESETS
from qinternet.params.fieldpath import apply_changes
from qinternet.params.mdi import MdiDeviceSet, MdiSystem
from qinternet.params.presets import devices_for
from qinternet.physics.channels import FibreChannel, TwoArm
from qinternet.qkd.mdi_composable import ESTIMATES, composable_key_length
from qinternet.qkd.mdi_finite import MdiCounts, MdiFiniteKeyParams, expected_counts
from qinternet.qkd.mdi_joint import JointConstraintParams, optimise_four_intensity
from qinternet.qkd.mdi_montecarlo import MdiSampler, compile_mdi, sample_counts
from qinternet.qkd.relayed import arm_transmittances

__all__ = ["MdiLinkEngine", "MdiLinkSpec", "balanced", "build_mdi_links", "mdi_engine", "tuned_mdi_system"]

E = TypeVar("E", bound=LinkEngine)


class RelayedLinkSpec(LinkSpecBase):
    """A link whose two users send to an untrusted relay between them (MDI, twin-field).

    Attributes:
        a, b: the two users that share the key (any nodes that may hold key: users, trusted relays, ground
            stations).
        relay: the node of kind ``untrusted-relay`` where the signals meet; it joins only these two.
        length_a_km, length_b_km: fibre from ``a`` and from ``b`` to the relay.
        loss_db_per_km: the arms' attenuation (default: the preset's fibre).
        optimise_settings: run at the source settings that maximise the finite-key rate of a block.
    """

    NODE_FIELDS = ("a", "b", "relay")

    relay: Identifier
    length_a_km: Annotated[float, Field(ge=0.0, le=1000.0)]
    length_b_km: Annotated[float, Field(ge=0.0, le=1000.0)]
    loss_db_per_km: Annotated[float, Field(ge=0.0, le=10.0)] | None = None
    optimise_settings: bool = True

    @property
    def via(self) -> str | None:
        """The relay."""
        return self.relay

    def arms(self, loss_db_per_km: float) -> TwoArm:
        """The two arms to the relay, of ``loss_db_per_km`` fibre (the link's own attenuation when it has one)."""
        loss = loss_db_per_km if self.loss_db_per_km is None else self.loss_db_per_km
        return TwoArm(
            arm_a=FibreChannel(length_km=self.length_a_km, loss_db_per_km=loss),
            arm_b=FibreChannel(length_km=self.length_b_km, loss_db_per_km=loss),
        )

    def check_ends(self, kinds: Mapping[str, NodeKind]) -> list[tuple[str, str]]:
        """Two ends that may hold key, and an untrusted relay between them."""
        problems = super().check_ends(kinds)
        for end in ("a", "b"):
            kind = kinds[getattr(self, end)]
            if kind is NodeKind.ENTANGLEMENT_SOURCE:
                problems.append((end, f"node {getattr(self, end)!r} is {article(kind.value)}, which holds no key"))
        if kinds[self.relay] is not NodeKind.UNTRUSTED_RELAY:
            problems.append(
                ("relay", f"node {self.relay!r} is {article(kinds[self.relay].value)}, not an untrusted-relay")
            )
        return problems


class MdiLinkSpec(RelayedLinkSpec):
    """An MDI-QKD link (``kind: mdi``) through an untrusted relay.

    Attributes:
        protocol: ``mdi-bb84``.
        preset: the devices (default ``yin2016``).
    """

    kind: LinkKind = LinkKind.MDI
    protocol: Literal["mdi-bb84"] = "mdi-bb84"
    preset: str = "yin2016"


def _system(spec: MdiLinkSpec, path: str) -> tuple[MdiSystem, float]:
    """The link's MDI system with its changes, and the preset's fibre attenuation (dB/km)."""
    if spec.preset not in PRESETS:
        raise ScenarioError([(f"{path}.preset", f"unknown preset {spec.preset!r}; known: {', '.join(PRESETS)}")])
    devices, _ = devices_for(MdiDeviceSet, spec.preset)
    assert isinstance(devices, MdiDeviceSet)
    loss = devices.runs[0].fibre.loss_db_per_km
    try:
        system = apply_changes(devices.system, spec.devices, f"{path}.devices")
    except ParameterError as exc:
        where = exc.field if exc.field.startswith(path) else f"{path}.devices.{exc.field}"
        raise ScenarioError([(where, exc.reason)]) from None
    assert isinstance(system, MdiSystem)
    return system, loss


def balanced(engine: Callable[[float, float], E], eta_a: float, eta_b: float) -> E:
    """The engine of arms ``eta_a``, ``eta_b``, or of both arms at the lower transmittance when that gives more key.

    The relayed protocols here run both users' sources at the same settings, which suit equal arms: with very
    unequal arms the interference at the relay (MDI: the two-photon visibility of unequal intensities; twin-field:
    the single-photon one) degrades and the key may vanish although the same link with the shorter arm made as
    lossy as the longer would give key. Balancing the arms with extra loss is the usual remedy (Wang, Xu, Lo, PRX 9,
    041012 (2019), who propose asymmetric source settings instead; for SNS: Hu et al., PRA 100, 062337 (2019)); the
    link does so when it helps.
    """
    as_built = engine(eta_a, eta_b)
    low = min(eta_a, eta_b)
    if eta_a == eta_b:
        return as_built
    attenuated = engine(low, low)
    return attenuated if attenuated.expected_rate_bps > as_built.expected_rate_bps else as_built


@functools.lru_cache(maxsize=256)
def tuned_mdi_system(
    system: MdiSystem, eta_a: float, eta_b: float, pulse_pairs: float, params: MdiFiniteKeyParams
) -> MdiSystem:
    """``system`` with both sources at the four-intensity settings (signal, decoys and their probabilities) that
    maximise the joint-constraint key of a block of ``pulse_pairs`` over arms ``eta_a``, ``eta_b``
    (:func:`qinternet.qkd.mdi_joint.optimise_four_intensity`, each estimate failing with the composable analysis's
    ``eps_PE``); the system itself when no setting gives key."""
    joint = JointConstraintParams(eps_estimate=params.eps_sec / (4.0 * ESTIMATES))
    tuned, _ = optimise_four_intensity(system, eta_a, eta_b, block_pulse_pairs=pulse_pairs, params=joint)
    return tuned


@dataclass(frozen=True, slots=True, kw_only=True)
class MdiLinkEngine(BlockEngine):
    """Makes the blocks of one MDI-QKD link.

    Attributes:
        system: sources, relay and ``f``, at the settings the link runs.
        eta_a, eta_b: the arms' transmittances as the link runs them (fibre only; :func:`balanced`).
        block_pulse_pairs: pulse pairs per block.
        security: ``eps_sec``, ``eps_cor`` of every block.
        monte_carlo: draw the counts (True) or take their expectations.
        block_s: seconds per block.
    """

    system: MdiSystem
    eta_a: float
    eta_b: float
    block_pulse_pairs: int
    security: MdiFiniteKeyParams
    monte_carlo: bool
    block_s: float
    _expected_block: BlockRecord = field(init=False, repr=False)
    _sampler: MdiSampler | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        counts = expected_counts(self.system, self.eta_a, self.eta_b, float(self.block_pulse_pairs))
        object.__setattr__(self, "_expected_block", self._record(counts, self.block_s, self.block_s))
        sampler = compile_mdi(self.system, self.eta_a, self.eta_b) if self.monte_carlo else None
        object.__setattr__(self, "_sampler", sampler)

    def _record(self, counts: MdiCounts, duration_s: float, end_s: float) -> BlockRecord:
        key = composable_key_length(counts, self.system, self.security)
        bits = int(key.key_length_bits)
        sifted = float(key.z_heralded)
        return BlockRecord(
            end_s=end_s,
            duration_s=duration_s,
            key_bits=bits,
            sifted_bits=sifted,
            qber=float(key.z_error_rate) if sifted > 0 else math.nan,
            abort_reason=abort_reason_of(bits),
        )

    def block(self, rng: np.random.Generator, duration_s: float, end_s: float) -> BlockRecord:
        """The next block: the expected one, or the station's counts drawn."""
        if self._sampler is None:
            return dataclasses.replace(self._expected_block, end_s=end_s, duration_s=duration_s)
        return self._record(sample_counts(self._sampler, self.block_pulse_pairs, rng), duration_s, end_s)


def mdi_engine(spec: MdiLinkSpec, path: str) -> MdiLinkEngine:
    """The engine of the MDI link ``spec`` (at ``path`` in the file)."""
    devices, loss = _system(spec, path)
    pairs = block_pulses(devices.rep_rate_hz, spec.block_s, path)
    security = MdiFiniteKeyParams(eps_sec=spec.eps_sec, eps_cor=spec.eps_cor)

    def engine(eta_a: float, eta_b: float) -> MdiLinkEngine:
        system = devices
        if spec.optimise_settings:
            system = tuned_mdi_system(system, eta_a, eta_b, float(pairs), security)
        return MdiLinkEngine(
            system=system,
            eta_a=eta_a,
            eta_b=eta_b,
            block_pulse_pairs=pairs,
            security=security,
            monte_carlo=spec.model is LinkModel.MONTE_CARLO,
            block_s=spec.block_s,
        )

    return balanced(engine, *arm_transmittances(spec.arms(loss)))


build_mdi_links: LinkBuilder = link_by_link(mdi_engine)
"""The engines of the mdi links, each on its own (:data:`qinternet.network.links.registry.LINK_KINDS`)."""
