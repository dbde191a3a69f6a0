"""Asymptotic key rates per pulse of point-to-point QKD protocols, with intensities optimised.

Every protocol is a function ``(devices, channel, options) -> KeyRatePoint``; :data:`PROTOCOLS` maps the
:class:`Protocol` enum to them. The channel (:mod:`qinternet.physics.channels`) is the path between the users:
one channel for prepare-and-measure protocols (and BBM92, whose source sits in its middle), a
:class:`~qinternet.physics.channels.TwoArm` for the protocols through a relay (MDI, twin-field);
:func:`fibre_link_channel` builds the fibre of a given length for a device set. Rates are secret bits per pulse
sent (per channel use for the bounds).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.params.checks import require_positive
from qinternet.params.devices import QkdSystem
from qinternet.params.devicesets import DeviceSet, family_name
from qinternet.params.mdi import MdiDeviceSet
from qinternet.params.presets import devices_for
from qinternet.params.twinfield import TwinFieldDeviceSet
from qinternet.physics.channels import Channel, TwoArm, fibre_channel, fibre_length_km, require_scalar
from qinternet.qkd import relayed
from qinternet.qkd.bbm92 import bbm92_observables
from qinternet.qkd.bounds import plob_bound, tgw_bound
from qinternet.qkd.decoy import two_decoy_bounds
from qinternet.qkd.entropy import binary_entropy, symmetric_error_key_fraction
from qinternet.qkd.finite_key import AfterPulseAttribution, FiniteKeyParams, FiniteKeyRatePoint, finite_key_rate
from qinternet.qkd.observables import live_fraction, observed_coherent, observed_fock, raw_click_prob
from qinternet.qkd.optimise import maximise_scalar
from qinternet.qkd.relayed import RelayedPoint

__all__ = [
    "FAMILY",
    "PROTOCOLS",
    "KeyRateOptions",
    "KeyRatePoint",
    "Protocol",
    "bb84_gllp",
    "bb84_single_photon",
    "bbm92",
    "decoy_bb84",
    "decoy_bb84_finite",
    "decoy_bb84_rate",
    "decoy_bb84_vacuum_weak",
    "fibre_link_channel",
    "key_rate",
    "parse_protocol",
    "plob",
    "protocol_devices",
    "tgw",
]

FloatArray = NDArray[np.float64]

# Ranges searched when optimising the mean photon number / mean pair number.
_MU_RANGE = (1e-4, 1.5)
_PAIR_RANGE = (1e-5, 2.0)


class Protocol(enum.Enum):
    """The key-rate models qinternet knows, by their CLI names."""

    DECOY_BB84 = "decoy-bb84"
    DECOY_BB84_VACUUM_WEAK = "decoy-bb84-vacuum-weak"
    DECOY_BB84_FINITE = "decoy-bb84-finite"
    BB84_GLLP = "bb84-gllp"
    BB84_SINGLE_PHOTON = "bb84-single-photon"
    BBM92 = "bbm92"
    PLOB = "plob"
    TGW = "tgw"
    MDI_BB84 = "mdi-bb84"
    TF_SNS = "tf-sns"
    TF_SNS_AOPP = "tf-sns-aopp"
    TF_PM = "tf-pm"


def parse_protocol(name: str, field: str = "protocol") -> Protocol:
    """The :class:`Protocol` called ``name``; a :class:`ParameterError` listing the known names otherwise."""
    try:
        return Protocol(name.strip())
    except ValueError:
        known = ", ".join(p.value for p in Protocol)
        raise ParameterError(field, f"unknown protocol {name!r}; known: {known}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRatePoint:
    """The key rate of one protocol over one channel, with the quantities behind it.

    Attributes:
        protocol: the model.
        distance_km: fibre length between the users, km (through the relay for MDI and twin-field); None for
            a channel that is not all fibre (:func:`qinternet.physics.channels.fibre_length_km`).
        key_rate_per_pulse: secret bits per pulse sent (>= 0; per channel use for the bounds).
        signal_intensity: the optimised mean photon number (or mean pair number for BBM92); None
            where the protocol has none.
        qber: quantum bit error rate ``E`` of the signal (None for the bounds).
        gain: probability of a detection (coincidence for BBM92) per pulse (None for the bounds).
        single_photon_yield: ``Y1`` (or its lower bound) where the protocol uses it.
        single_photon_error: ``e1`` (or its upper bound) where the protocol uses it.
        channel_transmittance: transmittance of the channel between the users (both arms), excluding detectors.
        finite_key: for finite-key protocols, the block, the optimised settings and Lim et al.'s bounds.
        device_set: which devices the rate is of: the preset's name, or for a protocol of another family
            its family's default set with the preset's fibre and detectors
            (:func:`qinternet.params.presets.devices_for`); None when the caller gave the devices.
    """

    protocol: Protocol
    distance_km: float | None
    key_rate_per_pulse: float
    signal_intensity: float | None = None
    qber: float | None = None
    gain: float | None = None
    single_photon_yield: float | None = None
    single_photon_error: float | None = None
    channel_transmittance: float
    finite_key: FiniteKeyRatePoint | None = None
    device_set: str | None = None

    @property
    def fibre_distance_km(self) -> float:
        """``distance_km`` where a point must have one (drawn or swept against distance).

        Raises:
            ParameterError: for a point over a channel that is not all fibre.
        """
        if self.distance_km is None:
            raise ParameterError("channel", f"{self.protocol.value}: the channel has no fibre length to show")
        return self.distance_km

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the protocol by its CLI name)."""
        data = asdict(self)
        data["protocol"] = self.protocol.value
        data["finite_key"] = None if self.finite_key is None else self.finite_key.to_dict()
        return data


DEFAULT_SECURITY = FiniteKeyParams()
"""``eps_sec = 1e-10``, ``eps_cor = 1e-15``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRateOptions:
    """Choices beyond the devices: a fixed intensity, and the block and security of finite-key models.

    Attributes:
        intensity: a fixed mean photon number (mean pair number for BBM92) instead of the optimum.
        block_pulses: ``N``, pulses per block, for finite-key protocols.
        security: ``eps_sec``, ``eps_cor`` of finite-key protocols.
        after_pulses: how finite-key models charge after-pulses (Lim et al.'s same-class attribution
            reproduces their figures).
    """

    intensity: float | None = None
    block_pulses: float | None = None
    security: FiniteKeyParams = DEFAULT_SECURITY
    after_pulses: AfterPulseAttribution = AfterPulseAttribution.CAUSAL


_DEFAULTS = KeyRateOptions()


def _secure(rate: FloatArray) -> FloatArray:
    """A key rate, with negative values (no key can be distilled) set to zero."""
    return np.where(np.isfinite(rate) & (rate > 0.0), rate, 0.0)


def decoy_bb84_rate(system: QkdSystem, channel: Channel, mu: FloatArray) -> FloatArray:
    """GLLP key rate with perfectly known ``Y1, e1`` (infinite decoys), vectorised over ``mu``.

    ``R = q {-Q_mu f H2(E_mu) + Q1 [1 - H2(e1)]}`` with ``Q1 = Y1 mu exp(-mu)``: Lo, Ma, Chen, PRL 94,
    230504 (2005), eq. (11) (arXiv v4 numbering); Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), eq. (1) with
    eqs. (7)-(11).
    """
    signal = observed_coherent(system, channel, mu)
    one = observed_fock(system, channel, 1, click_prob=raw_click_prob(system, channel, mu))
    q1 = one.gain * mu * np.exp(-mu)
    rate = system.sifting_factor * (
        q1 * (1.0 - binary_entropy(one.error_rate))
        - system.ec_efficiency * signal.gain * binary_entropy(signal.error_rate)
    )
    return _secure(rate * live_fraction(system, signal.gain))


def decoy_bb84(system: QkdSystem, channel: Channel, options: KeyRateOptions = _DEFAULTS) -> KeyRatePoint:
    """Decoy-state BB84, asymptotic, infinite decoys (Lo, Ma, Chen 2005), ``mu`` optimised per distance.

    The optimum reproduces Ma et al. (2005), eq. (12), ``(1 - mu) e^-mu = f H2(e_d) / (1 - H2(e_d))``
    (mu ~ 0.48 for the GYS parameters) where dark counts are negligible.
    """
    mu, rate = _choose(lambda m: decoy_bb84_rate(system, channel, m), _MU_RANGE, options.intensity)
    y1, e1 = _single_photon(system, channel, mu if math.isfinite(mu) else None)
    return _wcp_point(Protocol.DECOY_BB84, system, channel, mu, rate, y1, e1)


def _single_photon(system: QkdSystem, channel: Channel, mu: float | None = None) -> tuple[float, float]:
    """``Y1, e1``; with ``mu``, after-pulses are driven by signal pulses of that intensity."""
    clicks = None if mu is None else raw_click_prob(system, channel, mu)
    one = observed_fock(system, channel, 1, click_prob=clicks)
    return float(one.gain), float(one.error_rate)


def _weak_decoy(system: QkdSystem) -> float:
    decoys = [nu for nu in system.source.decoy_intensities if nu > 0.0]
    if not decoys:
        raise ParameterError("source.decoy_intensities", "the vacuum + weak decoy protocol needs a weak decoy > 0")
    return max(decoys)


def _vacuum_weak_rate(system: QkdSystem, channel: Channel, mu: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    nu = _weak_decoy(system)
    clicks = raw_click_prob(system, channel, mu)  # signal pulses drive the after-pulses
    signal = observed_coherent(system, channel, mu, click_prob=clicks)
    weak = observed_coherent(system, channel, nu, click_prob=clicks)
    vacuum = observed_coherent(system, channel, 0.0, click_prob=clicks)
    bounds = two_decoy_bounds(
        mu, nu, 0.0, (signal.gain, weak.gain, vacuum.gain), (weak.error_weight, vacuum.error_weight)
    )
    y1, e1 = bounds.single_photon_yield_lower, bounds.single_photon_error_upper
    q1 = y1 * mu * np.exp(-mu)
    rate = system.sifting_factor * (
        q1 * (1.0 - binary_entropy(e1)) - system.ec_efficiency * signal.gain * binary_entropy(signal.error_rate)
    )
    valid = (mu > nu) & bounds.valid  # nu1 + nu2 < mu (Ma et al. 2005, eq. (15)); here nu2 = 0
    return _secure(np.where(valid, rate * live_fraction(system, signal.gain), 0.0)), y1, e1


def decoy_bb84_vacuum_weak(system: QkdSystem, channel: Channel, options: KeyRateOptions = _DEFAULTS) -> KeyRatePoint:
    """Vacuum + weak decoy BB84 (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Sec. V, eqs. (34), (37)).

    The weak decoy intensity ``nu`` is the source's largest non-zero decoy; ``mu`` is optimised.
    """
    nu = _weak_decoy(system)
    mu, rate = _choose(
        lambda m: _vacuum_weak_rate(system, channel, m)[0], (nu * (1 + 1e-6), _MU_RANGE[1]), options.intensity
    )
    y1 = e1 = None
    if math.isfinite(mu):
        _, y1_arr, e1_arr = _vacuum_weak_rate(system, channel, np.array([mu]))
        y1, e1 = float(y1_arr[0]), float(e1_arr[0])
    return _wcp_point(Protocol.DECOY_BB84_VACUUM_WEAK, system, channel, mu, rate, y1, e1)


def _gllp_rate(system: QkdSystem, channel: Channel, mu: FloatArray) -> FloatArray:
    signal = observed_coherent(system, channel, mu)
    multi = 1.0 - (1.0 + mu) * np.exp(-mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = multi / signal.gain
        corrected = signal.error_rate / (1.0 - delta)
        rate = (
            system.sifting_factor
            * signal.gain
            * (
                (1.0 - delta) * (1.0 - binary_entropy(corrected))
                - system.ec_efficiency * binary_entropy(signal.error_rate)
            )
        )
    live = live_fraction(system, signal.gain)  # scales Q and the live multi-photon pulses alike
    return _secure(np.where((delta < 1.0) & (corrected < 0.5), rate * live, 0.0))


def bb84_gllp(system: QkdSystem, channel: Channel, options: KeyRateOptions = _DEFAULTS) -> KeyRatePoint:
    """BB84 with weak coherent pulses and no decoys (GLLP worst case), ``mu`` optimised.

    Gottesman, Lo, Lütkenhaus, Preskill, QIC 4, 325 (2004): all multi-photon pulses are assumed tagged,
    ``Delta = (1 - (1 + mu) e^-mu) / Q_mu`` and
    ``R = q Q_mu {(1 - Delta)[1 - H2(E_mu/(1 - Delta))] - f H2(E_mu)}``.
    """
    mu, rate = _choose(lambda m: _gllp_rate(system, channel, m), _MU_RANGE, options.intensity)
    return _wcp_point(Protocol.BB84_GLLP, system, channel, mu, rate, None, None)


def bb84_single_photon(system: QkdSystem, channel: Channel, options: KeyRateOptions = _DEFAULTS) -> KeyRatePoint:
    """BB84 with an ideal single-photon source (Shor, Preskill, PRL 85, 441 (2000)).

    ``R = q Y1 [1 - H2(e1) - f H2(e1)]`` with ``Y1, e1`` of one photon through the link.
    """
    y1, e1 = _single_photon(system, channel)
    y1 *= float(live_fraction(system, y1))
    rate = float(_secure(system.sifting_factor * y1 * symmetric_error_key_fraction(e1, system.ec_efficiency)))
    return KeyRatePoint(
        protocol=Protocol.BB84_SINGLE_PHOTON,
        distance_km=fibre_length_km(channel),
        key_rate_per_pulse=rate,
        qber=e1,
        gain=y1,
        single_photon_yield=y1,
        single_photon_error=e1,
        channel_transmittance=_transmittance(channel),
    )


def _bbm92_rate(system: QkdSystem, channel: Channel, pairs: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    seen = bbm92_observables(system, channel, pairs)
    e = seen.error_rate
    rate = system.sifting_factor * seen.gain * symmetric_error_key_fraction(e, system.ec_efficiency)
    return _secure(rate), seen.gain, e


def bbm92(system: QkdSystem, channel: Channel, options: KeyRateOptions = _DEFAULTS) -> KeyRatePoint:
    """BBM92 with an SPDC source in the middle, mean pair number optimised.

    Ma, Fung, Lo, PRA 76, 012307 (2007), eq. (11): ``R = q Q {1 - f H2(E) - H2(E)}``, with the
    coincidence gain and error of :func:`qinternet.qkd.bbm92.bbm92_observables` (their eqs. (9)-(10)
    for a thermal source).
    """
    for field, value in (
        ("dead_time_s", system.detector.dead_time_s),
        ("after_pulse_prob", system.detector.after_pulse_prob),
    ):
        if value > 0:
            raise ParameterError(f"detector.{field}", "the BBM92 model does not include it yet; set it to 0")
    pairs, rate = _choose(lambda m: _bbm92_rate(system, channel, m)[0], _PAIR_RANGE, options.intensity)
    qber = gain = None
    if math.isfinite(pairs):
        _, g, e = _bbm92_rate(system, channel, np.array([pairs]))
        gain, qber = float(g[0]), float(e[0])
    return KeyRatePoint(
        protocol=Protocol.BBM92,
        distance_km=fibre_length_km(channel),
        key_rate_per_pulse=rate,
        signal_intensity=pairs if math.isfinite(pairs) else None,
        qber=qber,
        gain=gain,
        channel_transmittance=_transmittance(channel),
    )


def plob(system: QkdSystem, channel: Channel, options: KeyRateOptions = _DEFAULTS) -> KeyRatePoint:
    """The PLOB repeaterless bound of the fibre (see :func:`qinternet.qkd.bounds.plob_bound`)."""
    eta = _transmittance(channel)
    return KeyRatePoint(
        protocol=Protocol.PLOB,
        distance_km=fibre_length_km(channel),
        key_rate_per_pulse=float(plob_bound(eta)),
        channel_transmittance=eta,
    )


def tgw(system: QkdSystem, channel: Channel, options: KeyRateOptions = _DEFAULTS) -> KeyRatePoint:
    """The TGW bound of the fibre (see :func:`qinternet.qkd.bounds.tgw_bound`)."""
    eta = _transmittance(channel)
    return KeyRatePoint(
        protocol=Protocol.TGW,
        distance_km=fibre_length_km(channel),
        key_rate_per_pulse=float(tgw_bound(eta)),
        channel_transmittance=eta,
    )


def _relayed(
    protocol: Protocol, rate: Callable[[Any, TwoArm], RelayedPoint]
) -> Callable[[Any, Channel, KeyRateOptions], KeyRatePoint]:
    """A relayed protocol (:mod:`qinternet.qkd.relayed`) as a model of :data:`PROTOCOLS`: its channel is a
    :class:`~qinternet.physics.channels.TwoArm` to the relay."""

    def model(devices: Any, channel: Channel, options: KeyRateOptions = _DEFAULTS) -> KeyRatePoint:
        if not isinstance(channel, TwoArm):
            raise ParameterError("channel", f"{protocol.value} needs a two-arm channel to its relay (TwoArm)")
        point = rate(devices, channel)
        return KeyRatePoint(
            protocol=protocol,
            distance_km=fibre_length_km(channel),
            key_rate_per_pulse=point.key_rate_per_pulse,
            signal_intensity=point.signal_intensity,
            qber=point.qber,
            gain=point.gain,
            single_photon_yield=point.single_photon_yield,
            single_photon_error=point.single_photon_error,
            channel_transmittance=point.channel_transmittance,
        )

    model.__doc__ = rate.__doc__
    return model


def _transmittance(channel: Channel) -> float:
    return float(channel.transmittance)


def _wcp_point(
    protocol: Protocol,
    system: QkdSystem,
    channel: Channel,
    mu: float,
    rate: float,
    y1: float | None,
    e1: float | None,
) -> KeyRatePoint:
    """A point of a weak-coherent-pulse protocol; gain and ``Y1`` reported with the dead time applied."""
    qber = gain = None
    if math.isfinite(mu):
        signal = observed_coherent(system, channel, mu)
        live = float(live_fraction(system, signal.gain))
        gain, qber = float(signal.gain) * live, float(signal.error_rate)
        y1 = None if y1 is None else y1 * live
    return KeyRatePoint(
        protocol=protocol,
        distance_km=fibre_length_km(channel),
        key_rate_per_pulse=rate,
        signal_intensity=mu if math.isfinite(mu) else None,
        qber=qber,
        gain=gain,
        single_photon_yield=y1,
        single_photon_error=e1,
        channel_transmittance=_transmittance(channel),
    )


def decoy_bb84_finite(system: QkdSystem, channel: Channel, options: KeyRateOptions = _DEFAULTS) -> KeyRatePoint:
    """Decoy-state BB84 with finite-key security: Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014).

    Key rate ``l / N`` of a block of ``N = options.block_pulses`` pulses, with the key-basis probability,
    two intensities and their probabilities optimised and the weakest decoy fixed, as in the paper
    (:func:`qinternet.qkd.finite_key.finite_key_rate`).
    """
    if options.block_pulses is None:
        raise ParameterError("block_pulses", "the finite-key protocol needs the number of pulses in a block")
    if options.intensity is not None:
        raise ParameterError("intensity", "the finite-key protocol optimises every intensity; do not fix one")
    point = finite_key_rate(
        system,
        channel,
        block_pulses=options.block_pulses,
        params=options.security,
        after_pulses=options.after_pulses,
    )
    bounds = point.bounds
    has_key = point.key_rate_per_pulse > 0
    return KeyRatePoint(
        protocol=Protocol.DECOY_BB84_FINITE,
        distance_km=fibre_length_km(channel),
        key_rate_per_pulse=point.key_rate_per_pulse,
        signal_intensity=point.intensities[0] if has_key else None,
        qber=bounds.observed_qber if has_key else None,
        gain=None,
        channel_transmittance=_transmittance(channel),
        finite_key=point,
    )


PROTOCOLS: dict[Protocol, Callable[[Any, Channel, KeyRateOptions], KeyRatePoint]] = {
    Protocol.DECOY_BB84: decoy_bb84,
    Protocol.DECOY_BB84_VACUUM_WEAK: decoy_bb84_vacuum_weak,
    Protocol.DECOY_BB84_FINITE: decoy_bb84_finite,
    Protocol.BB84_GLLP: bb84_gllp,
    Protocol.BB84_SINGLE_PHOTON: bb84_single_photon,
    Protocol.BBM92: bbm92,
    Protocol.PLOB: plob,
    Protocol.TGW: tgw,
    Protocol.MDI_BB84: _relayed(Protocol.MDI_BB84, relayed.mdi_bb84),
    Protocol.TF_SNS: _relayed(Protocol.TF_SNS, relayed.tf_sns),
    Protocol.TF_SNS_AOPP: _relayed(Protocol.TF_SNS_AOPP, relayed.tf_sns_aopp),
    Protocol.TF_PM: _relayed(Protocol.TF_PM, relayed.tf_pm),
}
"""Every protocol's model: ``(devices, channel, options) -> KeyRatePoint``, the devices of its family."""

FAMILY: dict[Protocol, type] = {
    **dict.fromkeys(Protocol, QkdSystem),
    Protocol.MDI_BB84: MdiDeviceSet,
    Protocol.TF_SNS: TwinFieldDeviceSet,
    Protocol.TF_SNS_AOPP: TwinFieldDeviceSet,
    Protocol.TF_PM: TwinFieldDeviceSet,
}
"""The device-set type each protocol runs on (:mod:`qinternet.params.devicesets`); the bounds use only the
fibre, so any preset's (converted to a prepare-and-measure set) serves them."""


def protocol_devices(protocol: Protocol, preset_name: str) -> tuple[DeviceSet, str]:
    """The devices ``protocol`` runs on for the preset ``preset_name``, and their label
    (:func:`qinternet.params.presets.devices_for`); BBM92 on a prepare-and-measure set runs on its pair source."""
    devices, label = devices_for(FAMILY[protocol], preset_name)
    if protocol is Protocol.BBM92 and isinstance(devices, QkdSystem) and devices.spdc is None:
        devices = dataclasses.replace(devices, spdc=devices.pair_source)  # shown with the parameters
    return devices, label


_RELAYED = frozenset({Protocol.MDI_BB84, Protocol.TF_SNS, Protocol.TF_SNS_AOPP, Protocol.TF_PM})
_ANY_CHANNEL = frozenset({Protocol.BBM92, Protocol.PLOB, Protocol.TGW})
"""Protocols that take a two-arm channel as well as a single one (BBM92's source at the station; the bounds
of the end-to-end transmittance)."""


def fibre_link_channel(devices: QkdSystem | MdiDeviceSet | TwinFieldDeviceSet, distance_km: float) -> Channel:
    """``distance_km`` of the devices' fibre between the users, as their protocols take it.

    Prepare-and-measure sets: one fibre channel of the system's fibre (attenuation and insertion loss).
    MDI and twin-field sets: the relay halfway, two arms of half the length
    (:func:`qinternet.qkd.relayed.fibre_arms`).

    >>> from qinternet.params import get_preset
    >>> round(fibre_link_channel(get_preset("gys2004").system, 50.0).loss_db, 9)  # 0.21 dB/km
    10.5
    """
    if isinstance(devices, QkdSystem):
        return fibre_channel(devices.fibre, distance_km)
    return relayed.fibre_arms(devices, distance_km)


def key_rate(
    protocol: Protocol,
    system: QkdSystem | MdiDeviceSet | TwinFieldDeviceSet,
    channel: Channel,
    *,
    intensity: float | None = None,
    options: KeyRateOptions | None = None,
) -> KeyRatePoint:
    """The key rate of ``protocol`` over ``channel`` with ``system``'s devices.

    Args:
        protocol: the model.
        system: devices, of the protocol's family (:data:`FAMILY`; for another preset's devices see
            :func:`qinternet.params.presets.devices_for`).
        channel: the path between the users, one transmittance (:func:`fibre_link_channel` for a fibre of
            a given length): a :class:`~qinternet.physics.channels.TwoArm` to the relay for MDI and
            twin-field, a single channel for prepare-and-measure protocols; BBM92 and the bounds take
            either.
        intensity: shorthand for ``options.intensity``: a fixed mean photon number (mean pair number for
            BBM92) instead of the optimum; ignored by protocols without one.
        options: further choices (block size and security of finite-key protocols).
    """
    require_scalar(channel, "key_rate")
    if protocol in _RELAYED and not isinstance(channel, TwoArm):
        raise ParameterError("channel", f"{protocol.value} needs a two-arm channel to its relay (TwoArm)")
    if protocol not in _RELAYED | _ANY_CHANNEL and isinstance(channel, TwoArm):
        raise ParameterError("channel", f"{protocol.value} sends from one user to the other: give one channel")
    if not isinstance(system, FAMILY[protocol]):
        raise ParameterError(
            "preset",
            f"{protocol.value} runs on {family_name(FAMILY[protocol])} devices, got {family_name(system)} ones",
        )
    chosen = options or KeyRateOptions()
    if intensity is not None:
        chosen = dataclasses.replace(chosen, intensity=intensity)
    if chosen.intensity is not None:
        require_positive("intensity", chosen.intensity)
    if chosen.block_pulses is not None:
        require_positive("block_pulses", chosen.block_pulses)
    return PROTOCOLS[protocol](system, channel, chosen)


def _choose(
    rate: Callable[[FloatArray], FloatArray], search: tuple[float, float], fixed: float | None
) -> tuple[float, float]:
    """``(intensity, rate)``: the optimum over ``search``, or the rate at ``fixed`` when given."""
    if fixed is None:
        return maximise_scalar(rate, *search)
    return fixed, float(rate(np.array([fixed]))[0])
