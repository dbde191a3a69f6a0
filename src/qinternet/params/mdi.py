"""Device roles of measurement-device-independent QKD: two decoy sources and a Bell-state-measurement station.

MDI-QKD (Lo, Curty, Qi, PRL 108, 130503 (2012)): Alice and Bob each send phase-randomised weak coherent
pulses in one of the BB84 states to an untrusted relay (Charlie), whose linear-optics Bell-state
measurement (BSM) announces a projection onto ``|psi^->`` or ``|psi^+>``. The roles here are the values the
protocol code of :mod:`qinternet.qkd.mdi` takes; every field is checked on construction and a bad value
raises :class:`~qinternet.errors.ParameterError` naming it (``"bsm.visibility"``, ``"bob.intensities"``).

A source lists its intensities and, for each, the probability of sending it in the Z basis and in the X
basis (the joint probability of intensity and basis; all of them sum to 1). That covers

* the four-intensity protocol of Zhou, Yu, Wang, PRA 93, 042324 (2016) used by Yin et al. (2016):
  a signal ``s`` in Z only, decoys ``x < y`` in X only, and the vacuum ``o``;
* the symmetric three-intensity protocol (Xu, Xu, Lo, PRA 89, 052333 (2014)): ``mu > nu > 0`` in both
  bases and the vacuum.

Conventions the estimators rely on (:mod:`qinternet.qkd.mdi`): the key comes from the strongest Z-basis
intensity (the signal); the single-photon-pair yield and phase error come from the X basis, from its
weakest non-zero intensity (``nu``), its strongest (``mu``) and the vacuum. The vacuum carries no basis;
whichever basis it is listed under, its pulses serve both.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from qinternet.errors import ParameterError
from qinternet.params.checks import (
    require_at_most,
    require_epsilon,
    require_non_negative,
    require_positive,
    require_probability,
)
from qinternet.params.devices import (
    MAX_EC_EFFICIENCY,
    MAX_REP_RATE_HZ,
    DetectorParams,
    FibreParams,
)

__all__ = [
    "MAX_MDI_INTENSITY",
    "YIN2016",
    "BellStates",
    "BsmLayout",
    "BsmStationParams",
    "FibreRun",
    "MdiDeviceSet",
    "MdiSourceParams",
    "MdiSystem",
    "PublishedRate",
]

MAX_MDI_INTENSITY = 10.0
"""Photons per pulse: MDI sources send below one. The phase average of the BSM model
(:mod:`qinternet.qkd.mdi`) is exact to machine precision up to this mean photon number."""


class BsmLayout(enum.Enum):
    """How the relay's Bell-state measurement is built."""

    FOUR_DETECTORS = "four-detectors"
    """Polarisation encoding: a beam splitter, a polarising beam splitter on each output and four
    detectors (1H, 1V, 2H, 2V). Clicks in 1H & 2V or 1V & 2H announce psi^-, 1H & 1V or 2H & 2V psi^+
    (Lo, Curty, Qi 2012, Fig. 1)."""
    TWO_DETECTORS = "two-detectors"
    """Time-bin encoding: a beam splitter and two detectors, each gated in the early and the late bin.
    psi^- is a click of each detector in a different bin; psi^+ would need one detector to click in both
    bins, which its dead time forbids, so only psi^- is announced."""


class BellStates(enum.Enum):
    """Which Bell states the relay announces as a success."""

    PSI_MINUS = "psi-minus"
    PSI_PLUS = "psi-plus"
    BOTH = "both"

    @property
    def announces_psi_minus(self) -> bool:
        """Whether psi^- counts as a success."""
        return self is not BellStates.PSI_PLUS

    @property
    def announces_psi_plus(self) -> bool:
        """Whether psi^+ counts as a success."""
        return self is not BellStates.PSI_MINUS


@dataclass(frozen=True, slots=True, kw_only=True)
class BsmStationParams:
    """The untrusted relay: a linear-optics Bell-state measurement with threshold detectors.

    Attributes:
        detector: each detector's efficiency (including the station's optical loss) and dark-count
            probability per gate (per time bin for :attr:`BsmLayout.TWO_DETECTORS`). After-pulses and dead
            time are not modelled here, so they must be 0.
        misalignment_error: ``e_d``: probability that a heralded event reports the wrong bit relation
            (polarisation or phase misalignment), in [0, 1/2]; Ma and Razavi, PRA 86, 062319 (2012),
            App. B.
        visibility: ``V``: two-photon (Hong-Ou-Mandel) interference visibility of single photons from
            Alice and Bob, i.e. the squared overlap ``|<a|b>|^2`` of their temporal/spectral modes, in [0, 1].
        layout: four detectors (polarisation) or two (time bin).
        announced: the Bell states counted as a success.
    """

    detector: DetectorParams
    misalignment_error: float
    visibility: float = 1.0
    layout: BsmLayout = BsmLayout.FOUR_DETECTORS
    announced: BellStates = BellStates.BOTH

    def __post_init__(self) -> None:
        if not isinstance(self.detector, DetectorParams):
            raise ParameterError("bsm.detector", f"must be a DetectorParams, got {type(self.detector).__name__}")
        if self.detector.after_pulse_prob != 0.0:
            raise ParameterError("bsm.detector.after_pulse_prob", "after-pulses are not modelled at the BSM; use 0")
        if self.detector.dead_time_s != 0.0:
            raise ParameterError("bsm.detector.dead_time_s", "dead time is not modelled at the BSM; use 0")
        require_probability("bsm.misalignment_error", self.misalignment_error, upper=0.5)
        require_probability("bsm.visibility", self.visibility)
        if not isinstance(self.layout, BsmLayout):
            raise ParameterError("bsm.layout", f"must be a BsmLayout, got {self.layout!r}")
        if not isinstance(self.announced, BellStates):
            raise ParameterError("bsm.announced", f"must be a BellStates, got {self.announced!r}")
        if self.layout is BsmLayout.TWO_DETECTORS and self.announced is not BellStates.PSI_MINUS:
            raise ParameterError(
                "bsm.announced",
                "a two-detector (time-bin) station announces psi^- only: psi^+ needs one detector to click "
                "in both time bins",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class MdiSourceParams:
    """One party's phase-randomised weak-coherent-pulse source with decoy intensities.

    Attributes:
        intensities: mean photon numbers, one of them 0 (the vacuum decoy), all different.
        z_basis_probs: probability of sending each intensity in the Z (key) basis.
        x_basis_probs: probability of sending each intensity in the X (test) basis. With
            ``z_basis_probs`` it sums to 1.
        phase_randomised: the decoy-state analysis needs a Poisson photon number, i.e. a random global
            phase per pulse; False is refused.
        rep_rate_hz: pulse repetition rate, Hz (Alice's and Bob's must agree).
    """

    intensities: tuple[float, ...]
    z_basis_probs: tuple[float, ...]
    x_basis_probs: tuple[float, ...]
    phase_randomised: bool = True
    rep_rate_hz: float = 1e9

    def __post_init__(self) -> None:
        self.check("source")

    @classmethod
    def four_intensity(
        cls,
        *,
        signal: float,
        strong_decoy: float,
        weak_decoy: float,
        signal_prob: float,
        strong_decoy_prob: float,
        weak_decoy_prob: float,
        rep_rate_hz: float = 1e9,
    ) -> MdiSourceParams:
        """The four-intensity layout of Zhou, Yu, Wang, PRA 93, 042324 (2016): ``(s, y, x, 0)``.

        The signal ``s`` is sent in the Z basis only; the decoys ``y`` (strong) and ``x`` (weak) and the vacuum
        in the X basis; the vacuum takes the probability left over, which must be > 0.

        >>> MdiSourceParams.four_intensity(
        ...     signal=0.3, strong_decoy=0.25, weak_decoy=0.05, signal_prob=0.6, strong_decoy_prob=0.1,
        ...     weak_decoy_prob=0.2,
        ... ).x_basis_probs
        (0.0, 0.1, 0.2, 0.1)
        """
        vacuum_prob = round(1.0 - signal_prob - strong_decoy_prob - weak_decoy_prob, 15)
        if vacuum_prob <= 0.0:
            raise ParameterError(
                "source.x_basis_probs", f"the four-intensity vacuum needs a probability > 0, got {vacuum_prob:g}"
            )
        if not weak_decoy < strong_decoy:
            raise ParameterError(
                "source.intensities", f"needs weak_decoy < strong_decoy, got {weak_decoy} >= {strong_decoy}"
            )
        return cls(
            intensities=(signal, strong_decoy, weak_decoy, 0.0),
            z_basis_probs=(signal_prob, 0.0, 0.0, 0.0),
            x_basis_probs=(0.0, strong_decoy_prob, weak_decoy_prob, vacuum_prob),
            rep_rate_hz=rep_rate_hz,
        )

    def check(self, role: str) -> None:
        """Validate every field, naming it ``role.field`` (``source``, ``alice`` or ``bob``)."""
        if self.phase_randomised is not True:
            raise ParameterError(
                f"{role}.phase_randomised",
                "the decoy-state analysis needs phase-randomised pulses (a Poisson photon number)",
            )
        k = len(self.intensities)
        if k == 0:
            raise ParameterError(f"{role}.intensities", "needs at least the signal, two decoys and the vacuum")
        for i, mu in enumerate(self.intensities):
            require_non_negative(f"{role}.intensities[{i}]", mu)
            require_at_most(f"{role}.intensities[{i}]", mu, MAX_MDI_INTENSITY, "not a weak pulse")
        if len(set(self.intensities)) != k:
            raise ParameterError(f"{role}.intensities", f"must all be different, got {self.intensities}")
        for name in ("z_basis_probs", "x_basis_probs"):
            probs = getattr(self, name)
            if len(probs) != k:
                raise ParameterError(f"{role}.{name}", f"needs one probability per intensity ({k}), got {len(probs)}")
            for i, p in enumerate(probs):
                require_probability(f"{role}.{name}[{i}]", p)
        total = sum(self.z_basis_probs) + sum(self.x_basis_probs)
        if not math.isclose(total, 1.0, rel_tol=0.0, abs_tol=1e-9):
            raise ParameterError(f"{role}.z_basis_probs", f"with x_basis_probs must sum to 1, got {total}")
        if 0.0 not in self.intensities:
            raise ParameterError(f"{role}.intensities", "the decoy bounds need a vacuum intensity (0)")
        vacuum = self.intensities.index(0.0)
        if self.z_basis_probs[vacuum] + self.x_basis_probs[vacuum] <= 0.0:
            raise ParameterError(f"{role}.x_basis_probs", "the vacuum needs a probability > 0")
        if not any(mu > 0.0 and p > 0.0 for mu, p in zip(self.intensities, self.z_basis_probs, strict=True)):
            raise ParameterError(f"{role}.z_basis_probs", "no non-zero intensity is sent in the Z (key) basis")
        decoys = [mu for mu, p in zip(self.intensities, self.x_basis_probs, strict=True) if mu > 0.0 and p > 0.0]
        if len(decoys) < 2:
            raise ParameterError(
                f"{role}.x_basis_probs", f"the X basis needs two non-zero decoy intensities, got {len(decoys)}"
            )
        require_positive(f"{role}.rep_rate_hz", self.rep_rate_hz)
        require_at_most(f"{role}.rep_rate_hz", self.rep_rate_hz, MAX_REP_RATE_HZ, "faster than any QKD source")

    @property
    def signal_index(self) -> int:
        """Index of the signal: the strongest intensity sent in the Z basis."""
        candidates = [i for i, p in enumerate(self.z_basis_probs) if p > 0.0 and self.intensities[i] > 0.0]
        return max(candidates, key=lambda i: self.intensities[i])

    @property
    def vacuum_index(self) -> int:
        """Index of the vacuum decoy."""
        return self.intensities.index(0.0)

    @property
    def weak_index(self) -> int:
        """Index of ``nu``: the weakest non-zero intensity sent in the X basis."""
        return min(self._x_decoys, key=lambda i: self.intensities[i])

    @property
    def strong_index(self) -> int:
        """Index of ``mu``: the strongest intensity sent in the X basis."""
        return max(self._x_decoys, key=lambda i: self.intensities[i])

    @property
    def _x_decoys(self) -> list[int]:
        return [i for i, p in enumerate(self.x_basis_probs) if p > 0.0 and self.intensities[i] > 0.0]


@dataclass(frozen=True, slots=True, kw_only=True)
class MdiSystem:
    """Everything that defines an MDI-QKD link apart from its channel.

    Attributes:
        alice, bob: the two sources; they must list the same number of intensities (the decoy
            estimates pair them) and run at the same repetition rate.
        bsm: the relay's Bell-state measurement.
        ec_efficiency: error-correction inefficiency ``f >= 1`` (leak ``f n h(E)``).
    """

    alice: MdiSourceParams
    bob: MdiSourceParams
    bsm: BsmStationParams
    ec_efficiency: float

    def __post_init__(self) -> None:
        for role in ("alice", "bob"):
            source = getattr(self, role)
            if not isinstance(source, MdiSourceParams):
                raise ParameterError(
                    role,
                    "MDI-QKD needs a phase-randomised weak-coherent source (MdiSourceParams), "
                    f"got {type(source).__name__}",
                )
            source.check(role)
        if not isinstance(self.bsm, BsmStationParams):
            raise ParameterError("bsm", f"must be a BsmStationParams, got {type(self.bsm).__name__}")
        if len(self.bob.intensities) != len(self.alice.intensities):
            raise ParameterError(
                "bob.intensities",
                f"needs as many intensities as alice's ({len(self.alice.intensities)}), "
                f"got {len(self.bob.intensities)}",
            )
        if self.bob.rep_rate_hz != self.alice.rep_rate_hz:
            raise ParameterError(
                "bob.rep_rate_hz", f"must equal alice's {self.alice.rep_rate_hz:g} Hz, got {self.bob.rep_rate_hz:g}"
            )
        require_positive("ec_efficiency", self.ec_efficiency)
        require_at_most("ec_efficiency", self.ec_efficiency, MAX_EC_EFFICIENCY, "no code is that poor")
        if self.ec_efficiency < 1.0:
            raise ParameterError("ec_efficiency", f"must be >= 1 (Shannon limit), got {self.ec_efficiency}")

    @property
    def rep_rate_hz(self) -> float:
        """Pulse-pair repetition rate, Hz."""
        return self.alice.rep_rate_hz


@dataclass(frozen=True, slots=True, kw_only=True)
class FibreRun:
    """One reported run: a fibre kind and the total Alice-relay-Bob length (the relay in the middle).

    Attributes:
        kind: name of the fibre kind, e.g. ``"ultralow-loss"``.
        fibre: its attenuation.
        length_km: total length, km (each arm has half).
    """

    kind: str
    fibre: FibreParams
    length_km: float

    def __post_init__(self) -> None:
        if not self.kind:
            raise ParameterError("run.kind", "must not be empty")
        require_non_negative("run.length_km", self.length_km)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedRate:
    """A secret key rate that a publication reports for a set-up, with where it was read.

    Attributes:
        channel_loss_db: total Alice-relay-Bob channel loss of the measurement, dB (the relay in the middle).
        key_rate_bps: the reported finite-key secret key rate, bit/s.
        source: where the number was read (the paper itself, or a review that tabulates it).
    """

    channel_loss_db: float
    key_rate_bps: float
    source: str

    def __post_init__(self) -> None:
        require_non_negative("published_rate.channel_loss_db", self.channel_loss_db)
        require_positive("published_rate.key_rate_bps", self.key_rate_bps)
        if not self.source:
            raise ParameterError("published_rate.source", "must say where the number was read")


@dataclass(frozen=True, slots=True, kw_only=True)
class MdiDeviceSet:
    """A published MDI-QKD set-up: devices, fibre runs, block size and security parameters, with sources.

    Attributes:
        name: short identifier.
        citation: the publication.
        system: sources, relay and error correction.
        runs: the reported runs (fibre kind and length).
        block_pulse_pairs: ``N``, pulse pairs sent per block for the finite-key analysis.
        eps_sec: secrecy parameter.
        eps_cor: correctness parameter.
        published: what the publication states that this set uses, in words, each with where it was read.
        assumed: what is not taken from the publication (qinternet's choice), and why.
        published_rates: key rates reported for the set-up (:class:`PublishedRate`).
    """

    name: str
    citation: str
    system: MdiSystem
    runs: tuple[FibreRun, ...]
    block_pulse_pairs: float
    eps_sec: float
    eps_cor: float
    published: tuple[str, ...]
    assumed: tuple[str, ...]
    published_rates: tuple[PublishedRate, ...] = ()

    def __post_init__(self) -> None:
        require_positive("block_pulse_pairs", self.block_pulse_pairs)
        for rate in self.published_rates:
            if not isinstance(rate, PublishedRate):
                raise ParameterError("published_rates", f"must hold PublishedRate values, got {type(rate).__name__}")
        require_epsilon("eps_sec", self.eps_sec)
        require_epsilon("eps_cor", self.eps_cor)

    def run(self, kind: str) -> FibreRun:
        """The run over fibre ``kind``; a :class:`ParameterError` naming the known kinds otherwise."""
        for run in self.runs:
            if run.kind == kind:
                return run
        raise ParameterError("run", f"unknown fibre kind {kind!r}; known: {', '.join(r.kind for r in self.runs)}")


# --------------------------------------------------------------------------------------------------
# Yin et al. (2016): MDI-QKD over 404 km of ultralow-loss fibre and 311 km of standard fibre.

_KORZH2015_ULL_DB_PER_KM = 51.9 / 307.0
"""dB/km of Corning's ultralow-loss fibre: 51.9 dB over 307 km in Korzh et al., Nat. Photon. 9, 163 (2015)
(arXiv:1407.7427, abstract). Yin et al.'s own fibre loss was not at hand (see YIN2016.assumed)."""
_STANDARD_DB_PER_KM = 0.2
"""dB/km of standard single-mode fibre at 1550 nm (the attenuation of Ma et al.-style simulations and of
qinternet's FibreParams default); Yin et al.'s measured value was not at hand."""
_YIN2016_SOURCE = MdiSourceParams.four_intensity(
    signal=0.4,
    strong_decoy=0.2,
    weak_decoy=0.05,
    signal_prob=0.6,
    strong_decoy_prob=0.1,
    weak_decoy_prob=0.2,
    rep_rate_hz=75e6,
)

YIN2016 = MdiDeviceSet(
    name="yin2016",
    citation=(
        "Yin, Chen, Yu, Liu, You, Zhou, Chen, Mao, Huang, Zhang, Chen, Li, Nolan, Zhou, Jiang, Wang, Zhang, "
        "Wang, Pan, 'Measurement-device-independent quantum key distribution over a 404 km optical fiber', "
        "PRL 117, 190501 (2016); arXiv:1606.06821"
    ),
    system=MdiSystem(
        alice=_YIN2016_SOURCE,
        bob=_YIN2016_SOURCE,
        bsm=BsmStationParams(
            detector=DetectorParams(efficiency=0.6, dark_count_prob=1e-8),
            misalignment_error=0.015,
            visibility=1.0,
            layout=BsmLayout.TWO_DETECTORS,
            announced=BellStates.PSI_MINUS,
        ),
        ec_efficiency=1.16,
    ),
    runs=(
        FibreRun(kind="ultralow-loss", fibre=FibreParams(loss_db_per_km=_KORZH2015_ULL_DB_PER_KM), length_km=404.0),
        FibreRun(kind="standard", fibre=FibreParams(loss_db_per_km=_STANDARD_DB_PER_KM), length_km=311.0),
    ),
    block_pulse_pairs=1e14,
    eps_sec=1e-10,
    eps_cor=1e-15,
    published=(
        "MDI-QKD over 404 km of ultralow-loss fibre and over 311 km of standard fibre (abstract, arXiv:1606.06821)",
        "decoy states by the optimised four-intensity method of Zhou, Yu, Wang, PRA 93, 042324 (2016) (abstract)",
        "statistical fluctuations by joint constraints (Sci. Rep. 8 (2018), doi:10.1038/s41598-018-35507-z, "
        "introduction: 404 km 'using the 4-intensity protocol with joint constraints for statistical fluctuations')",
        "time-bin encoding, a 75 MHz clock, a finite key with failure probability 1e-10, and a best key rate of "
        "1380 bit/s at 19.5 dB channel loss (Wei et al., PRX 10, 031030 (2020), Table I and Fig. 4)",
        "a distance beyond BB84 with the same detectors even with an ideal single-photon source (abstract)",
        "a finite-key rate of 3.2e-4 bit/s at 404 km (as issue 12 quotes the paper; its text was not reachable "
        "here to check it)",
    ),
    assumed=(
        "The paper's text, table and figures were not at hand (only its abstract, and the figures other papers "
        "quote, listed in published): its fibre loss per km, detector efficiency and dark counts, misalignment, "
        "intensities and probabilities, f, number of pulses, and any key rate at 404 or 311 km are qinternet's "
        "choices or unknown",
        "fibres: ultralow-loss 51.9 dB / 307 km (Korzh et al. 2015, Corning's fibre; Yin et al. have Corning "
        "co-authors), standard 0.2 dB/km",
        "relay: two-detector time-bin BSM, detectors of efficiency 0.6 and dark-count probability 1e-8 per gate, "
        "e_d = 1.5 % in both bases, V = 1, psi^- only",
        "sources: fixed settings s = 0.4 (Z), y = 0.2 and x = 0.05 (X), vacuum, with probabilities "
        "0.6 / 0.1 / 0.2 / 0.1; Yin et al. optimised them per distance "
        "(qinternet.qkd.mdi_joint.optimise_four_intensity does)",
        "f = 1.16 (the value of Wei et al. 2020, same group and method); N = 1e14 pulse pairs per block (about "
        "15 days at 75 MHz); eps_sec = 1e-10, eps_cor = 1e-15; 1e-10 per estimate in the joint-constraint analysis",
        "with these choices the joint-constraint analysis needs about 8e14 pulse pairs at 404 km and 2e14 at "
        "311 km for any key, more than N: Yin et al.'s fibre, detectors or run were better than assumed (the "
        "cut-off is set by the number of X-basis decoy coincidences, proportional to N (eta_d eta_fibre)^2); "
        "the published 3.2e-4 bit/s at 404 km needs about 3.5e15 pulse pairs with these devices and 1.1e15 with "
        "0.16 dB/km fibre (tests/validation/test_mdi_yin2016.py): the paper's fibre loss and N would settle it",
    ),
    published_rates=(
        PublishedRate(
            channel_loss_db=19.5,
            key_rate_bps=1380.0,
            source="Wei et al., PRX 10, 031030 (2020), Table I (Yin et al.'s highest finite-key rate)",
        ),
    ),
)
"""Yin et al. (2016). Only the facts in ``published`` and ``published_rates`` come from publications; see
``assumed``."""
