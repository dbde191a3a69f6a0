"""Teleporting a photonic qubit with an SPDC pair and a linear-optics Bell-state measurement.

The setup of Bouwmeester et al., Nature 390, 575 (1997), as run from the ground to a satellite by Ren et al.,
Nature 549, 70 (2017) (polarisation, heralded input photon) and over fibre by Valivarthi et al., PRX Quantum 1,
020317 (2020) (time bins, weak coherent input): the sender's *input* photon (1) and the *idler* (2) of an
entangled SPDC pair meet at a linear-optics Bell-state measurement (BSM, two threshold detectors after a beam
splitter, Calsamiglia & Lütkenhaus, Appl. Phys. B 72, 67 (2001)); the pair's *signal* (3) travels to the
receiver, whose analyser measures it in the input's basis. A teleportation *event* is a BSM announcement with a
click at the receiver (and the herald's click, for a heralded input). No memory: the figure is the event rate and
the average fidelity of the events, as these experiments report it.

Photon numbers, to leading order (the model of every multi-photon term that has two photons at the BSM; three or
more photons at the BSM, and dark counts of the BSM detectors, are of the next order and left out). Let ``t_A``
(``t_B``) be the probability that an input photon (an idler) gives a click at the BSM, ``t_R`` that a signal gives
one at the receiver, ``d`` the receiver's dark-count probability per gate. With ``P_B(m)`` the pair-number law of
the pair source (:func:`qinternet.physics.sources.pair_number_pmf`: thermal, Ma, Fung, Lo, PRA 76, 012307 (2007),
eq. (5), or Poisson):

* ``q_A(k)``: exactly ``k`` input photons reach the BSM: a Poisson law of mean ``mu_A t_A`` (weak coherent input),
  or ``sum_n P_1(n) [1 - (1 - eta_h)**n] C(n, k) t_A**k (1 - t_A)**(n-k)`` for a photon heralded (herald
  efficiency ``eta_h``) from a second SPDC source of law ``P_1``;
* ``R(k) = sum_m P_B(m) C(m, k) t_B**k (1 - t_B)**(m-k) [1 - (1 - t_R)**m (1 - d)]``: ``k`` idlers reach the BSM
  and the receiver clicks; ``G = sum_m P_B(m) m t_B (1 - t_B)**(m-1) t_R (1 - t_R)**(m-1)``: one idler reaches the
  BSM and its own signal, alone, clicks the receiver (the only case that carries the input's state).

Two photons at the BSM announce a Bell state with probability ``a``: ``s/4`` for one input photon and one idler
(``s`` the number of Bell states the BSM announces: 1 for ``Psi-`` only, 2 for ``Psi-`` and ``Psi+``); for two
photons of one source, the probability that they occupy the two modes of the basis (early/late, H/V) times ``s/2``
(the two photons then leave by either output independently): ``kappa_AA = s |alpha|**2 |beta|**2`` for two input
photons in the same state ``alpha|0> + beta|1>`` (0 for the basis states, ``s/4`` for the equator), and
``kappa_BB = s/2 x 1/3`` for two idlers of a single-mode (thermal) source (the two-pair state
``(a0+ b0+ + a1+ b1+)**2`` puts them in different modes with probability 1/3) or ``s/2 x 1/2`` for a multimode
(Poisson) one. The event probability per pulse and its part that carries the state are::

    E = q_A(1) R(1) s/4 + q_A(2) R(0) kappa_AA + q_A(0) R(2) kappa_BB,        E_good = q_A(1) G s/4.

The good events teleport through the pair (Werner state of visibility ``V_pair``) and the BSM's two-photon
interference: partly distinguishable photons (Hong-Ou-Mandel visibility ``V_HOM``) announce the wrong ``Psi`` with
probability ``(1 - V_HOM)/2`` (:func:`qinternet.physics.bsm.linear_optics_bsm`), a Z error on the output. With
``r`` that Pauli channel composed with the pair's (:func:`qinternet.states.bell.compose`), a basis state keeps
fidelity ``r_I + r_Z`` and an X (Y) eigenstate ``r_I + r_X`` (``r_I + r_Y``). Every other event leaves the receiver
a photon (or a dark count) uncorrelated with the input: fidelity 1/2. The fidelity of each input is therefore::

    F = (E_good f_true + (E - E_good)/2) / E,

and the average fidelity is the mean over the three bases (the six states of mutually unbiased bases, a 2-design,
as Ren et al. teleported). This is the structure of the analytical model of Valivarthi et al. (2020), worked out
in full with phase-space methods by Sinclair et al., arXiv:2503.18306 (2025): the time-bin basis states are hurt
only by what reaches the receiver uncorrelated, the superpositions also by the input's own multi-photon terms
and by the photons' distinguishability.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from qinternet.errors import ParameterError
from qinternet.params.checks import require_probability
from qinternet.params.devices import PairStatistics
from qinternet.physics.bsm import linear_optics_bsm
from qinternet.physics.sources import pair_number_pmf
from qinternet.states import bell

__all__ = [
    "BASES",
    "InputPhoton",
    "PhotonicTeleportationParams",
    "TeleportationEvents",
    "teleportation_events",
]

F64 = NDArray[np.float64]

BASES = ("Z", "X", "Y")
"""The input's bases, in the order of the arrays below: Z is the encoding basis (early/late, H/V)."""
_MAX_PHOTONS = 16
"""Photon (pair) numbers summed over; beyond, the laws of mean ``<= 0.5`` weigh less than 1e-6."""


class InputPhoton(enum.Enum):
    """Where the photon to be teleported comes from."""

    COHERENT = "coherent"
    """A weak coherent (laser) pulse prepared in the input state: Poisson photon number (Valivarthi et al. 2020)."""
    HERALDED = "heralded"
    """One photon of a second SPDC pair, heralded by its twin (Ren et al. 2017's four-photon scheme)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PhotonicTeleportationParams:
    """The devices of a photonic teleportation (module docstring's symbols).

    Attributes:
        input_photon: coherent or heralded.
        input_mean_photon_number: ``mu_A`` of the coherent pulse, or the heralding source's mean pair number.
        herald_efficiency: ``eta_h``, probability that the herald clicks for one twin (heralded input only).
        pair_mean_number: mean pair number per pulse of the entangled pair source.
        statistics: pair-number law of both SPDC sources.
        input_transmittance: ``t_A``, an input photon to a click at the BSM (optics and detector).
        idler_transmittance: ``t_B``, an idler to a click at the BSM.
        hom_visibility: ``V_HOM``, the two photons' indistinguishability at the BSM, in [0, 1].
        pair_visibility: ``V_pair``, visibility of the pair's entanglement (Werner parameter), in [0, 1].
        announced_bell_states: ``s``, 1 (``Psi-`` only) or 2 (``Psi-`` and ``Psi+``).
        receiver_dark_count_prob: ``d``, the receiver's false clicks per gate (all its detectors, sky included).
    """

    input_photon: InputPhoton
    input_mean_photon_number: float
    herald_efficiency: float = 1.0
    pair_mean_number: float
    statistics: PairStatistics = PairStatistics.THERMAL
    input_transmittance: float
    idler_transmittance: float
    hom_visibility: float = 1.0
    pair_visibility: float = 1.0
    announced_bell_states: int = 1
    receiver_dark_count_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input_mean_photon_number", "pair_mean_number"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 < value <= 0.5):
                raise ParameterError(name, f"must be in (0, 0.5] (a leading-order model of weak sources), got {value}")
        for name in (
            "herald_efficiency",
            "input_transmittance",
            "idler_transmittance",
            "hom_visibility",
            "pair_visibility",
            "receiver_dark_count_prob",
        ):
            require_probability(name, getattr(self, name))
        if self.announced_bell_states not in (1, 2):
            raise ParameterError("announced_bell_states", f"must be 1 or 2, got {self.announced_bell_states}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TeleportationEvents:
    """Per pulse, for each basis of the input (:data:`BASES`, first axis) and each receiver transmittance.

    Attributes:
        event_prob: ``E``, float array ``(3, ...)``.
        good_prob: ``E_good``, float array ``(3, ...)`` (the same for the three bases).
        true_fidelity: ``f_true`` of the good events, float array ``(3,)``.
    """

    event_prob: F64
    good_prob: F64
    true_fidelity: F64

    def fidelity(self, weights: ArrayLike | None = None) -> F64:
        """Fidelity of each basis's events, shape ``(3,)``, pooling the transmittances with ``weights`` (pulses
        sent at each; default equal): ``(sum E_good f_true + sum (E - E_good)/2) / sum E``."""
        w = np.ones(self.event_prob.shape[1:]) if weights is None else np.asarray(weights, dtype=np.float64)
        events = (self.event_prob * w).reshape(3, -1).sum(axis=1)
        good = (self.good_prob * w).reshape(3, -1).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (good * self.true_fidelity + (events - good) / 2.0) / events
        return np.asarray(out, dtype=np.float64)

    def average_fidelity(self, weights: ArrayLike | None = None) -> float:
        """Mean over the three bases (the six states of mutually unbiased bases)."""
        return float(self.fidelity(weights).mean())


def _arrivals(t: float) -> F64:
    """``out[k, n] = C(n, k) t**k (1 - t)**(n-k)``, shape ``(3, _MAX_PHOTONS)``: ``k = 0, 1, 2`` of ``n`` photons
    arrive, each with probability ``t``."""
    n = np.arange(_MAX_PHOTONS, dtype=np.float64)
    k = np.arange(3, dtype=np.float64)[:, None]
    return np.asarray(special.comb(n, k) * t**k * (1.0 - t) ** np.maximum(n - k, 0.0) * (n >= k), dtype=np.float64)


def _input_arrivals(params: PhotonicTeleportationParams) -> F64:
    """``q_A(0), q_A(1), q_A(2)`` (module docstring)."""
    n = np.arange(_MAX_PHOTONS, dtype=np.float64)
    if params.input_photon is InputPhoton.COHERENT:
        mean = params.input_mean_photon_number * params.input_transmittance
        return np.asarray(np.exp(-mean) * mean ** np.arange(3) / special.factorial(np.arange(3)), dtype=np.float64)
    law = pair_number_pmf(n, params.input_mean_photon_number, params.statistics)
    heralded = law * (1.0 - (1.0 - params.herald_efficiency) ** n)
    return np.asarray(_arrivals(params.input_transmittance) @ heralded, dtype=np.float64)


def _true_fidelity(params: PhotonicTeleportationParams) -> F64:
    """``f_true`` per basis: the pair's Werner noise composed with the BSM's wrong-``Psi`` (Z) error."""
    bsm = linear_optics_bsm(eta_1=1.0, visibility=params.hom_visibility)
    r = bell.compose(bell.werner(params.pair_visibility), bsm.pauli)
    i, x, z, y = r
    return np.array([i + z, i + x, i + y], dtype=np.float64)


def teleportation_events(params: PhotonicTeleportationParams, receiver_transmittance: ArrayLike) -> TeleportationEvents:
    """Event probabilities per pulse and the good events' fidelity (module docstring), for each ``t_R``.

    Args:
        params: the devices.
        receiver_transmittance: ``t_R``, a signal photon to a click at the receiver (channel x receiver), any shape.

    Returns:
        :class:`TeleportationEvents` with arrays of shape ``(3, *t_R.shape)``.

    Raises:
        ParameterError: ``t_R`` outside [0, 1].
    """
    t_r = np.asarray(receiver_transmittance, dtype=np.float64)
    if np.any(~((t_r >= 0.0) & (t_r <= 1.0))):
        raise ParameterError("receiver_transmittance", "must be in [0, 1]")
    s = params.announced_bell_states
    q_a = _input_arrivals(params)
    m = np.arange(_MAX_PHOTONS, dtype=np.float64)
    law_b = pair_number_pmf(m, params.pair_mean_number, params.statistics)
    t_b, d = params.idler_transmittance, params.receiver_dark_count_prob
    click = 1.0 - (1.0 - t_r[..., None]) ** m * (1.0 - d)  # (..., M): the receiver clicks, m signals sent
    r_k = np.einsum("km,m,...m->k...", _arrivals(t_b), law_b, click)  # R(0), R(1), R(2)
    alone = (
        m
        * t_b
        * (1.0 - t_b) ** np.maximum(m - 1.0, 0.0)
        * t_r[..., None]
        * (1.0 - t_r[..., None]) ** np.maximum(m - 1.0, 0.0)
    )
    good = q_a[1] * (alone @ law_b) * s / 4.0
    kappa_bb = s / 2.0 * (1.0 / 3.0 if params.statistics is PairStatistics.THERMAL else 0.5)
    kappa_aa = np.array([0.0, s / 4.0, s / 4.0])  # Z-basis inputs cannot fill both modes; equator: s |a|^2 |b|^2
    shape = (3,) + (1,) * t_r.ndim
    events = q_a[1] * r_k[1] * s / 4.0 + q_a[2] * r_k[0] * kappa_aa.reshape(shape) + q_a[0] * r_k[2] * kappa_bb
    return TeleportationEvents(
        event_prob=np.asarray(np.broadcast_to(events, (3, *t_r.shape)), dtype=np.float64),
        good_prob=np.asarray(np.broadcast_to(good, (3, *t_r.shape)), dtype=np.float64),
        true_fidelity=_true_fidelity(params),
    )
