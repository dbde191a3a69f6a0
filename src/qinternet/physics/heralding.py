"""Heralded entanglement of two memories: success probability per attempt and the heralded state.

Three schemes (:class:`~qinternet.params.hardware.HeraldingScheme`), each a pure function of transmittances
and device numbers (never a distance), vectorised over arrays that broadcast together:

* :func:`single_click`: one photon behind a beam splitter (Cabrillo et al., PRA 59, 1025 (1999); Humphreys
  et al., Nature 558, 268 (2018); Hermans et al., NJP 25, 013011 (2023)). Rate ~ ``2 alpha eta``,
  fidelity ~ ``1 - alpha``.
* :func:`double_click`: Barrett & Kok, PRA 71, 060310(R) (2005): two photons in two rounds, success
  ``eta_a eta_b / 2``; fidelity ``(1 + V)/2`` with two-photon visibility V (Bernien et al., Nature 497, 86
  (2013), Supplementary Information).
* :func:`midpoint_source`: a pair source in the middle, absorptive multimode memories at the ends (Jones et al.,
  NJP 18, 083015 (2016), "MidpointSource"): success ``1 - (1 - p)**M`` over ``M`` modes.

The heralded state is Bell-diagonal (after the Pauli twirl that the entanglement layer assumes), shape
``(..., 4)`` in the order ``[target, X, Z, Y]`` = ``[Phi+, Psi+, Phi-, Psi-]``: the heralded Bell state is
mapped to ``Phi+`` by the known local Pauli correction, which leaves the other indices' meaning (X, Z, Y error).

:func:`elementary_link` assembles these from the parameter objects of the two nodes and the station.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from qinternet.errors import ParameterError
from qinternet.params.devices import PairStatistics
from qinternet.params.hardware import HeraldingScheme, HeraldingStationParams, NodeHardware
from qinternet.params.units import FIBRE_GROUP_INDEX, fibre_delay_s
from qinternet.physics.channels import FloatArray
from qinternet.physics.conversion import conversion_noise_per_gate, effective_dark_count_prob, noise_click_prob
from qinternet.physics.emitters import fibre_photon_prob, photon_prob_per_attempt
from qinternet.physics.sources import pair_number_pmf
from qinternet.states import bell

__all__ = [
    "MAX_MEAN_PAIRS",
    "HeraldedLink",
    "arm_efficiency",
    "attempt_period_s",
    "double_click",
    "elementary_link",
    "midpoint_source",
    "single_click",
]

MAX_MEAN_PAIRS = 2.0
"""Mean pairs per mode of a midpoint source: heralded sources run far below one; the pair-number sum of
:func:`midpoint_source` (``_MAX_PAIRS`` terms) is exact to machine precision up to this mean."""
_MAX_PAIRS = 80


@dataclass(frozen=True, slots=True)
class HeraldedLink:
    """One attempt of an elementary link.

    Attributes:
        success_prob: probability that an attempt heralds a pair, float array (the broadcast input shape).
        state: heralded Bell-diagonal state, float array ``(..., 4)``, order ``[Phi+, Psi+, Phi-, Psi-]``.
    """

    success_prob: FloatArray
    state: FloatArray

    @property
    def fidelity(self) -> FloatArray:
        """Fidelity to the heralded Bell state, ``state[..., 0]``."""
        return self.state[..., 0]

    def rate_hz(self, attempt_duration_s: float) -> FloatArray:
        """Heralded pairs per second when attempts follow each other every ``attempt_duration_s`` seconds."""
        if not attempt_duration_s > 0.0:
            raise ParameterError("attempt_duration_s", f"must be > 0, got {attempt_duration_s}")
        return self.success_prob / attempt_duration_s

    def to_dict(self) -> dict[str, Any]:
        """Plain lists for JSON: ``success_prob``, ``fidelity`` and ``state``."""
        return {
            "success_prob": np.asarray(self.success_prob).tolist(),
            "fidelity": np.asarray(self.fidelity).tolist(),
            "state": np.asarray(self.state).tolist(),
        }


def _prob(field: str, value: ArrayLike) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if np.any(~((arr >= 0.0) & (arr <= 1.0))):
        raise ParameterError(field, "must be in [0, 1]")
    return arr


def _normalise(weights: FloatArray, total: FloatArray) -> FloatArray:
    """``weights / total[..., None]``; a zero total (nothing heralds) gives the maximally mixed state."""
    t = total[..., None]
    safe = np.where(t > 0.0, t, 1.0)
    return np.where(t > 0.0, weights / safe, 0.25)


def single_click(
    *,
    alpha_a: ArrayLike,
    eta_a: ArrayLike,
    alpha_b: ArrayLike | None = None,
    eta_b: ArrayLike | None = None,
    dark_count_prob: ArrayLike = 0.0,
    visibility: ArrayLike = 1.0,
    phase_sigma_rad: ArrayLike = 0.0,
    double_excitation_prob: ArrayLike = 0.0,
) -> HeraldedLink:
    """Single-click (single-photon) heralding: each node in ``sqrt(1-alpha)|0> + sqrt(alpha)|1>``, one click.

    Model (Humphreys et al., Nature 558, 268 (2018), Fig. 1 and Methods; Hermans et al., NJP 25, 013011 (2023),
    the theoretical model of the single-photon protocol). Node ``i``'s bright state emits a photon that clicks
    a detector behind the beam splitter with probability ``eta_i`` (emission into the fibre x conversion x
    transmittance x detection). A herald is exactly one clicking detector. Exact in the photon bookkeeping
    of threshold detectors, first order in the dark-count probability ``p_d`` (per detector per gate):

    * ``|10>`` (A bright, B dark) clicks with ``P_10 = alpha_a (1-alpha_b) eta_a``; ``|01>`` with
      ``P_01 = (1-alpha_a) alpha_b eta_b``: the coherent part. Twirled, they give the heralded Bell state
      with weight ``(P_10 + P_01)/2 + c sqrt(P_10 P_01)`` and its phase-flipped partner (a Z error) with
      ``(P_10 + P_01)/2 - c sqrt(P_10 P_01)``, where ``c = V exp(-sigma**2/2) (1 - p_2)``: visibility, the
      Gaussian average of ``cos(phi)`` over the arm phase noise and the loss of coherence by double
      excitation ``p_2`` (both as in Hermans 2023's model; Humphreys 2018, Methods).
    * ``|11>`` heralds whenever at least one of its photons clicks: ``P_11 = alpha_a alpha_b (1 - (1-eta_a)
      (1-eta_b))``; twirled, half X and half Y error (``|11><11| = (Phi+ + Phi-)/2`` relative to ``Psi``).
    * A dark count in exactly one detector when no photon clicks (probability ``(1 - alpha_a eta_a)(1 - alpha_b
      eta_b) 2 p_d (1-p_d)``) heralds the spins' no-click state, which has no coherence.
    * Photon heralds survive only if the other detector stays dark: factor ``(1 - p_d)``.

    Success ``= (alpha_a eta_a + alpha_b eta_b - alpha_a alpha_b eta_a eta_b)(1-p_d) + ...`` which is
    ``2 alpha eta`` to first order for equal arms; the fidelity is ``(1-alpha)/(1 - alpha eta/2)`` without
    noise, i.e. ``1 - alpha`` as ``eta -> 0`` (Humphreys 2018, Fig. 1c).

    Args:
        alpha_a: bright-state population of node A, in [0, 1], any shape.
        eta_a: detection probability of node A's photon, in [0, 1].
        alpha_b: of node B (default: ``alpha_a``).
        eta_b: of node B (default: ``eta_a``).
        dark_count_prob: dark-count (plus noise) probability per detector per gate, in [0, 1].
        visibility: first-order interference visibility of the two photons, in [0, 1].
        phase_sigma_rad: standard deviation of the optical phase between the arms, rad, >= 0.
        double_excitation_prob: probability ``p_2`` of a second emission per excitation, in [0, 1].

    Returns:
        :class:`HeraldedLink` broadcast over the inputs.
    """
    a = _prob("alpha", alpha_a)
    b = a if alpha_b is None else _prob("alpha", alpha_b)
    ea = _prob("eta", eta_a)
    eb = ea if eta_b is None else _prob("eta", eta_b)
    pd = _prob("dark_count_prob", dark_count_prob)
    v = _prob("visibility", visibility)
    p2 = _prob("double_excitation_prob", double_excitation_prob)
    sigma = np.asarray(phase_sigma_rad, dtype=np.float64)
    if np.any(~(sigma >= 0.0)):
        raise ParameterError("phase_sigma_rad", "must be >= 0")
    coherence = v * np.exp(-(sigma**2) / 2.0) * (1.0 - p2)

    p10 = a * (1.0 - b) * ea
    p01 = (1.0 - a) * b * eb
    p11 = a * b * (1.0 - (1.0 - ea) * (1.0 - eb))
    mixed = (p10 + p01) / 2.0
    cross = coherence * np.sqrt(p10 * p01)
    photon = bell.stack(mixed + cross, p11 / 2.0, mixed - cross, p11 / 2.0) * (1.0 - pd)[..., None]

    dark_herald = 2.0 * pd * (1.0 - pd)
    # No photon clicked: |00>, |10>, |01>, |11> with the photons of the bright ones lost; no coherence.
    w_00 = (1.0 - a) * (1.0 - b)
    w_10 = a * (1.0 - b) * (1.0 - ea)
    w_01 = (1.0 - a) * b * (1.0 - eb)
    w_11 = a * b * (1.0 - ea) * (1.0 - eb)
    anti = (w_10 + w_01) / 2.0
    same = (w_00 + w_11) / 2.0
    dark = bell.stack(anti, same, anti, same) * dark_herald[..., None]

    weights = photon + dark
    total = weights.sum(axis=-1)
    return HeraldedLink(success_prob=total, state=_normalise(weights, total))


def double_click(
    *,
    eta_a: ArrayLike,
    eta_b: ArrayLike | None = None,
    dark_count_prob: ArrayLike = 0.0,
    visibility: ArrayLike = 1.0,
) -> HeraldedLink:
    """Barrett-Kok double-click heralding: one click in each of two rounds, with a pi pulse between them.

    Barrett & Kok, PRA 71, 060310(R) (2005), eq. (5) and the text after it: each node starts in
    ``(|0> + |1>)/sqrt(2)``; a click in each round projects onto ``Psi+-``, so the success probability is
    ``eta_a eta_b / 2`` (``eta**2/2`` for equal arms; ``eta`` the per-arm photon detection probability).
    Two-photon visibility ``V`` (indistinguishability at the beam splitter) leaves the wrong ``Psi`` with weight
    ``(1 - V)/2``, so ``F = (1 + V)/2`` (Bernien et al., Nature 497, 86 (2013), Supplementary Information,
    model of the entangled state: distinguishable photons erase no which-path information).

    Dark counts, first order in ``p_d`` (per detector per gate; two detectors): a round with no photon but a
    dark click completes a herald (i) after ``|00>`` or ``|11>`` emitted both photons in one round (weight
    ``1/2 (1 - (1-eta_a)(1-eta_b)) 2 p_d``; no coherence between ``|00>`` and ``|11>`` survives: half X, half Y)
    or (ii) after ``|01>``/``|10>`` lost one photon (weight ``1/2 (eta_a (1-eta_b) + (1-eta_a) eta_b) 2 p_d``;
    half the target, half Z).

    Args:
        eta_a: detection probability of node A's photon per round, in [0, 1], any shape.
        eta_b: of node B (default: ``eta_a``).
        dark_count_prob: dark-count (plus noise) probability per detector per gate, in [0, 1].
        visibility: two-photon (Hong-Ou-Mandel) visibility, in [0, 1].

    Returns:
        :class:`HeraldedLink` broadcast over the inputs.
    """
    ea = _prob("eta", eta_a)
    eb = ea if eta_b is None else _prob("eta", eta_b)
    pd = _prob("dark_count_prob", dark_count_prob)
    v = _prob("visibility", visibility)
    true = ea * eb / 2.0
    dark_xy = 0.5 * (1.0 - (1.0 - ea) * (1.0 - eb)) * 2.0 * pd
    dark_z = 0.5 * (ea * (1.0 - eb) + (1.0 - ea) * eb) * 2.0 * pd
    weights = bell.stack(
        true * (1.0 + v) / 2.0 + dark_z / 2.0,
        dark_xy / 2.0,
        true * (1.0 - v) / 2.0 + dark_z / 2.0,
        dark_xy / 2.0,
    )
    total = weights.sum(axis=-1)
    return HeraldedLink(success_prob=total, state=_normalise(weights, total))


def midpoint_source(
    *,
    eta_a: ArrayLike,
    eta_b: ArrayLike,
    mean_pairs: ArrayLike,
    statistics: PairStatistics = PairStatistics.THERMAL,
    source_fidelity: ArrayLike = 1.0,
    modes: int = 1,
) -> HeraldedLink:
    """A pair source in the middle sends one photon to each end, where a memory absorbs it and heralds.

    Jones, Kim, Rakher, Kwiat, Ladd, NJP 18, 083015 (2016), Sec. 2 ("MidpointSource", MS): per mode the source
    emits ``n`` pairs with probability ``P(n)`` (:func:`qinternet.physics.sources.pair_number_pmf`), and the
    attempt succeeds when both ends herald a stored photon, ``p = sum_n P(n) (1 - (1-eta_a)**n) (1 - (1-eta_b)**n)``
    (``eta_i``: transmittance of arm ``i`` x memory write efficiency x herald detection). One pair gives the
    source's state, a Werner state of fidelity ``source_fidelity``; heralds from two or more pairs are taken
    as maximally mixed (the multi-pair error, of order ``mean_pairs``; Sangouard et al., RMP 83, 33 (2011),
    Sec. V.A). With ``M`` modes tried at once the attempt succeeds with ``1 - (1 - p)**M``; the state is that
    of one mode.

    Args:
        eta_a: arm A's efficiency, in [0, 1], any shape.
        eta_b: arm B's efficiency, in [0, 1], broadcast.
        mean_pairs: mean pairs per mode, in [0, ``MAX_MEAN_PAIRS``].
        statistics: pair-number statistics of the source.
        source_fidelity: fidelity of one emitted pair, in [0, 1].
        modes: memory modes tried per attempt, >= 1.

    Returns:
        :class:`HeraldedLink` broadcast over the inputs; ``success_prob`` is per attempt over all modes.
    """
    ea = _prob("eta", eta_a)[..., None]
    eb = _prob("eta", eta_b)[..., None]
    mu = np.asarray(mean_pairs, dtype=np.float64)
    if np.any(~((mu >= 0.0) & (mu <= MAX_MEAN_PAIRS))):
        raise ParameterError("mean_pairs", f"must be in [0, {MAX_MEAN_PAIRS:g}]")
    f_src = _prob("source_fidelity", source_fidelity)
    if isinstance(modes, bool) or not isinstance(modes, int) or modes < 1:
        raise ParameterError("memory.modes", f"must be an integer >= 1, got {modes!r}")
    n = np.arange(_MAX_PAIRS, dtype=np.float64)
    pmf = pair_number_pmf(n, mu[..., None], statistics)
    herald_n = (1.0 - (1.0 - ea) ** n) * (1.0 - (1.0 - eb) ** n)
    per_mode = np.sum(pmf * herald_n, axis=-1)
    single = pmf[..., 1] * herald_n[..., 1]
    w_single = (4.0 * f_src - 1.0) / 3.0
    weights = bell.werner(w_single) * single[..., None] + 0.25 * (per_mode - single)[..., None]
    state = _normalise(weights, per_mode)
    with np.errstate(divide="ignore"):
        success = -np.expm1(modes * np.log1p(-np.minimum(per_mode, 1.0)))
    return HeraldedLink(success_prob=np.asarray(success, dtype=np.float64), state=state)


# ---------------------------------------------------------------------------------------------------------
# From parameter objects
# ---------------------------------------------------------------------------------------------------------


def arm_efficiency(node: NodeHardware, station: HeraldingStationParams, transmittance: ArrayLike) -> FloatArray:
    """Probability that one emitted excitation of ``node`` clicks the station: fibre photon x QFC x T x detector.

    ``zero_phonon_fraction * collection_efficiency`` (:func:`qinternet.physics.emitters.fibre_photon_prob`)
    ``* conversion.efficiency * transmittance * detector.efficiency``.
    """
    t = _prob("transmittance", transmittance)
    qfc = 1.0 if node.conversion is None else node.conversion.efficiency
    return fibre_photon_prob(node.emitter) * qfc * t * station.detector.efficiency


def _background_prob(
    node_a: NodeHardware,
    node_b: NodeHardware,
    station: HeraldingStationParams,
    t_a: FloatArray,
    t_b: FloatArray,
) -> FloatArray:
    """Dark count plus converter noise per detector per gate; the beam splitter sends half of each arm's noise
    to each detector (:mod:`qinternet.physics.conversion`)."""
    noise = np.zeros(np.broadcast_shapes(t_a.shape, t_b.shape))
    for node, t in ((node_a, t_a), (node_b, t_b)):
        if node.conversion is not None:
            noise = noise + conversion_noise_per_gate(node.conversion, station.detection_window_s) * t / 2.0
    return effective_dark_count_prob(
        station.detector.dark_count_prob, noise_click_prob(noise, station.detector.efficiency)
    )


def _spin_photon_channel(node_a: NodeHardware, node_b: NodeHardware) -> FloatArray:
    """Each node's spin-photon infidelity as a depolarising channel on the pair (a model choice: the error of
    state preparation and excitation is taken as white noise, Werner parameter ``(4F - 1)/3`` per node)."""
    w = np.prod([(4.0 * n.emitter.spin_photon_fidelity - 1.0) / 3.0 for n in (node_a, node_b)])
    return bell.werner(w)


def elementary_link(
    scheme: HeraldingScheme,
    node_a: NodeHardware,
    node_b: NodeHardware,
    station: HeraldingStationParams,
    transmittance_a: ArrayLike,
    transmittance_b: ArrayLike,
    *,
    bright_state_population: float | None = None,
    mean_pairs: float | None = None,
    pair_statistics: PairStatistics = PairStatistics.THERMAL,
    source_fidelity: float = 1.0,
) -> HeraldedLink:
    """One attempt of an elementary link between two nodes, from their parameter objects.

    SINGLE_CLICK and DOUBLE_CLICK: each arm's click probability is :func:`arm_efficiency` (times the
    bright-state population for single click, or the DLCZ excitation probability for ensembles), the
    background per detector adds converter noise to dark counts, the visibility is the station's times the
    emitters' two-photon visibilities, the phase noise is the station's, and each node's spin-photon
    infidelity depolarises the heralded state. MIDPOINT_SOURCE: each arm is transmittance x memory write
    efficiency x herald detector efficiency, over the memory's modes (the smaller of the two nodes').

    Args:
        scheme: the heralding scheme.
        node_a: node A's hardware.
        node_b: node B's hardware.
        station: the heralding station (detectors, visibility, phase stability).
        transmittance_a: fibre transmittance from A to the station (or to the source), any shape.
        transmittance_b: from B, broadcast.
        bright_state_population: alpha of single-emitter nodes (SINGLE_CLICK only).
        mean_pairs: mean pairs per mode of the midpoint source (MIDPOINT_SOURCE only).
        pair_statistics: the midpoint source's pair statistics.
        source_fidelity: the midpoint source's pair fidelity.

    Returns:
        :class:`HeraldedLink`; its ``rate_hz(node.emitter.attempt_duration_s)`` is the link's rate.
    """
    t_a = _prob("transmittance_a", transmittance_a)
    t_b = _prob("transmittance_b", transmittance_b)
    if scheme is HeraldingScheme.MIDPOINT_SOURCE:
        if mean_pairs is None:
            raise ParameterError("mean_pairs", "a midpoint source needs its mean pair number")
        eff_a = t_a * node_a.memory.write_efficiency * station.detector.efficiency
        eff_b = t_b * node_b.memory.write_efficiency * station.detector.efficiency
        return midpoint_source(
            eta_a=eff_a,
            eta_b=eff_b,
            mean_pairs=mean_pairs,
            statistics=pair_statistics,
            source_fidelity=source_fidelity,
            modes=min(node_a.memory.modes, node_b.memory.modes),
        )
    eta_a = arm_efficiency(node_a, station, t_a)
    eta_b = arm_efficiency(node_b, station, t_b)
    background = _background_prob(node_a, node_b, station, t_a, t_b)
    # The emitters' two-photon visibility (geometric mean if they differ) times the station's mode overlap.
    visibility = (
        station.visibility * (node_a.emitter.two_photon_visibility * node_b.emitter.two_photon_visibility) ** 0.5
    )
    if scheme is HeraldingScheme.SINGLE_CLICK:
        # photon_prob_per_attempt checks alpha against the emitter kind; the ratio is alpha (or p for DLCZ).
        alpha_a = photon_prob_per_attempt(node_a.emitter, bright_state_population) / fibre_photon_prob(node_a.emitter)
        alpha_b = photon_prob_per_attempt(node_b.emitter, bright_state_population) / fibre_photon_prob(node_b.emitter)
        link = single_click(
            alpha_a=alpha_a,
            alpha_b=alpha_b,
            eta_a=eta_a,
            eta_b=eta_b,
            dark_count_prob=background,
            visibility=visibility,
            phase_sigma_rad=station.phase_stability_rad,
            double_excitation_prob=max(node_a.emitter.double_excitation_prob, node_b.emitter.double_excitation_prob),
        )
    elif scheme is HeraldingScheme.DOUBLE_CLICK:
        link = double_click(eta_a=eta_a, eta_b=eta_b, dark_count_prob=background, visibility=visibility)
    else:  # pragma: no cover - the enum has three members
        raise ParameterError("scheme", f"unknown heralding scheme {scheme!r}")
    return HeraldedLink(
        success_prob=link.success_prob, state=bell.compose(link.state, _spin_photon_channel(node_a, node_b))
    )


def attempt_period_s(
    attempt_duration_s: float, arm_length_km: ArrayLike, group_index: float = FIBRE_GROUP_INDEX
) -> FloatArray:
    """Time between attempts when a node waits for the herald: local attempt plus the photon's trip to the
    station and the herald's trip back, ``t_attempt + 2 L_arm n / c``.

    A convenience at the edge (it takes a length): protocols with memories that must know the outcome before
    trying again (single-mode memories) attempt at this period; multiplexed ones at ``attempt_duration_s``.
    """
    if not attempt_duration_s > 0.0:
        raise ParameterError("emitter.attempt_duration_s", f"must be > 0, got {attempt_duration_s}")
    length = np.asarray(arm_length_km, dtype=np.float64)
    if np.any(~(length >= 0.0)):
        raise ParameterError("arm_length_km", "must be >= 0")
    return np.asarray(
        attempt_duration_s + 2.0 * fibre_delay_s(length) * group_index / FIBRE_GROUP_INDEX, dtype=np.float64
    )
