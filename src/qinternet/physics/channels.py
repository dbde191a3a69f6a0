"""Channels between a transmitter and a receiver, as values: what a protocol needs of the light's path.

Every channel gives two numbers (or two arrays of one number per time sample, e.g. over a satellite pass):

* ``transmittance``: the fraction of the transmitter's light that reaches the receiver's input, in [0, 1].
  It *excludes* the receiver's detection efficiency, which belongs to the detectors
  (:class:`qinternet.params.DetectorParams`); a protocol multiplies the two.
* ``background``: the probability that light *not* sent by the transmitter (Raman scattering of classical
  channels in the same fibre, sky light) makes the receiver's pair of detectors click (either of them) in one
  detection window. It is counted *after* the receiver's detection efficiency, since that is how it is
  measured and how the models of :mod:`qinternet.physics.raman` and :mod:`qinternet.physics.sky` give it: a
  background is therefore computed for a given receiver (its filter, window and efficiency). A protocol
  splits it between the two detectors and adds it to their dark counts
  (:func:`qinternet.physics.detectors.dark_count_with_background`).

The kinds:

* :class:`FibreChannel`: ``eta = 10**(-(alpha L + a_ins) / 10)`` (attenuation ``alpha`` in dB/km, Ma, Qi,
  Zhao, Lo, PRA 72, 012326 (2005), Sec. II, plus connector/insertion loss ``a_ins`` in dB), with the Raman
  background of co-propagating or counter-propagating classical channels (Eraerds et al., NJP 12, 063027
  (2010), :func:`qinternet.physics.raman.raman_background_prob`).
* :class:`FreeSpaceChannel`: a transmittance (and background) given directly, as a number or per time
  sample; :func:`downlink_channel` builds one from the satellite downlink budget of
  :func:`qinternet.physics.freespace.downlink_loss_db` at given elevations.
* :class:`Concatenated`: channels one after the other.
* :class:`TwoArm`: two channels from the users to a station in the middle (MDI-QKD, twin-field QKD, an
  entangled-pair source); each arm is a channel, and the pair is one too (end to end).

A distance belongs to the edges: :func:`fibre_channel` builds a channel from a
:class:`~qinternet.params.FibreParams` and a length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.params.checks import require_at_most, require_non_negative
from qinternet.params.devices import MAX_LOSS_DB, MAX_LOSS_DB_PER_KM, FibreParams
from qinternet.params.units import db_to_transmittance
from qinternet.physics.freespace import FreeSpaceLinkParams, downlink_loss_db
from qinternet.physics.raman import ClassicalChannel, RamanReceiver, raman_background_prob

__all__ = [
    "Channel",
    "Concatenated",
    "FibreChannel",
    "FreeSpaceChannel",
    "RamanNoise",
    "TwoArm",
    "downlink_channel",
    "fibre_channel",
    "fibre_length_km",
    "is_scalar",
    "require_scalar",
]

FloatArray = NDArray[np.float64]


@runtime_checkable
class Channel(Protocol):
    """What every channel gives a protocol (see the module docstring for the conventions).

    ``transmittance`` and ``background`` are floats, or float64 arrays of the same shape ``(T,)`` (one
    entry per time sample) for a channel that changes in time.
    """

    @property
    def transmittance(self) -> float | FloatArray:
        """Fraction of the transmitter's light reaching the receiver's input (detector efficiency excluded)."""
        ...

    @property
    def background(self) -> float | FloatArray:
        """Probability per detection window that light not from the transmitter clicks the receiver."""
        ...


def is_scalar(value: float | FloatArray) -> bool:
    """Whether a channel quantity is one number (a float or a 0-d array), not a series of samples."""
    return np.ndim(value) == 0


def require_scalar(channel: Channel, what: str) -> None:
    """Refuse a channel that changes in time where ``what`` (a function's name) takes one channel state."""
    if not (is_scalar(channel.transmittance) and is_scalar(channel.background)):
        raise ParameterError(
            "channel.transmittance", f"{what} takes a channel of one transmittance, not a series of samples"
        )


def _probabilities(field_name: str, value: ArrayLike) -> float | FloatArray:
    """A probability (or transmittance) or an array of them, checked to be finite and in [0, 1].

    Arrays are copied and made read-only, so that the frozen channel holding them stays what it was.
    """
    array = np.array(value, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any((array < 0.0) | (array > 1.0)):
        raise ParameterError(field_name, "must be finite and in [0, 1]")
    if array.ndim == 0:
        return float(array)
    if array.ndim != 1:
        raise ParameterError(field_name, f"must be a number or a 1-d array of samples, got shape {array.shape}")
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True, kw_only=True)
class RamanNoise:
    """Classical channels sharing a fibre with the quantum channel, and the receiver that counts their noise.

    Attributes:
        classical_channels: the classical channels (launch power, direction, Raman cross-section).
        receiver: the quantum receiver's wavelength, filter, detection window and efficiency.
    """

    classical_channels: tuple[ClassicalChannel, ...]
    receiver: RamanReceiver

    def __post_init__(self) -> None:
        object.__setattr__(self, "classical_channels", tuple(self.classical_channels))


@dataclass(frozen=True, slots=True, kw_only=True)
class FibreChannel:
    """A single-mode fibre of ``length_km``.

    Attributes:
        length_km: length, km (>= 0).
        loss_db_per_km: attenuation, dB/km (>= 0).
        insertion_loss_db: length-independent loss (connectors, splices, filters in the path), dB (>= 0).
        raman: classical traffic in the same fibre and the receiver its Raman noise reaches; None for none.

    ``transmittance = 10**(-(loss_db_per_km length_km + insertion_loss_db) / 10)``, the exponential
    attenuation of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Sec. II, with the insertion loss added in dB.
    ``background``: the Raman click probability per window of
    :func:`qinternet.physics.raman.raman_background_prob` (Eraerds et al., NJP 12, 063027 (2010)), counted
    over the whole length with the fibre's attenuation (the insertion loss is not applied to the noise,
    which errs towards more of it); 0 without ``raman``.

    >>> round(FibreChannel(length_km=50.0, loss_db_per_km=0.2).transmittance, 12)
    0.1
    """

    length_km: float
    loss_db_per_km: float
    insertion_loss_db: float = 0.0
    raman: RamanNoise | None = None
    _background: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        require_non_negative("channel.length_km", self.length_km)
        require_non_negative("channel.loss_db_per_km", self.loss_db_per_km)
        require_at_most("channel.loss_db_per_km", self.loss_db_per_km, MAX_LOSS_DB_PER_KM, "lossier than any fibre")
        require_non_negative("channel.insertion_loss_db", self.insertion_loss_db)
        require_at_most("channel.insertion_loss_db", self.insertion_loss_db, MAX_LOSS_DB, "no photon would arrive")
        background = 0.0
        if self.raman is not None:
            background = raman_background_prob(
                self.raman.classical_channels, self.loss_db_per_km, self.length_km, self.raman.receiver
            )
        object.__setattr__(self, "_background", background)

    @property
    def loss_db(self) -> float:
        """Total loss, ``loss_db_per_km length_km + insertion_loss_db``, dB."""
        return self.loss_db_per_km * self.length_km + self.insertion_loss_db

    @property
    def transmittance(self) -> float:
        """``10**(-loss_db / 10)``."""
        return float(db_to_transmittance(self.loss_db))

    @property
    def background(self) -> float:
        """Raman click probability per detection window at the receiver (0 without classical channels)."""
        return self._background


def fibre_channel(fibre: FibreParams, length_km: float, *, raman: RamanNoise | None = None) -> FibreChannel:
    """``length_km`` of ``fibre`` (its attenuation and insertion loss) as a channel.

    >>> fibre_channel(FibreParams(loss_db_per_km=0.2, insertion_loss_db=1.0), 45.0).loss_db
    10.0
    """
    return FibreChannel(
        length_km=length_km,
        loss_db_per_km=fibre.loss_db_per_km,
        insertion_loss_db=fibre.insertion_loss_db,
        raman=raman,
    )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class FreeSpaceChannel:
    """A channel given by its transmittance (and background), a number or one per time sample.

    Attributes:
        transmittance: fraction of the light reaching the receiver's input, in [0, 1]; a float, or a float64
            array of shape (T,) over T time samples (e.g. the seconds of a satellite pass). Detector
            efficiency excluded.
        background: click probability per detection window at the receiver from light not sent by the
            transmitter (e.g. sky light), in [0, 1]; a float or an array of shape (T,).

    Arrays are copied and frozen (read-only); channels holding arrays compare by identity.
    """

    transmittance: float | FloatArray
    background: float | FloatArray = 0.0

    def __post_init__(self) -> None:
        transmittance = _probabilities("channel.transmittance", self.transmittance)
        background = _probabilities("channel.background", self.background)
        shapes = {np.shape(v) for v in (transmittance, background) if np.ndim(v) > 0}
        if len(shapes) > 1:
            raise ParameterError("channel.background", f"must have the transmittance's shape, got {sorted(shapes)}")
        object.__setattr__(self, "transmittance", transmittance)
        object.__setattr__(self, "background", background)

    @staticmethod
    def from_loss_db(loss_db: ArrayLike, background: ArrayLike = 0.0) -> FreeSpaceChannel:
        """A channel of ``loss_db`` dB (number or array, each >= 0; ``inf`` for a closed link, transmittance 0).

        >>> FreeSpaceChannel.from_loss_db(30.0).transmittance
        0.001
        """
        loss = np.asarray(loss_db, dtype=np.float64)
        if np.any(np.isnan(loss)) or np.any(loss < 0.0):
            raise ParameterError("channel.loss_db", "must be >= 0 (inf for a closed link)")
        return FreeSpaceChannel(transmittance=db_to_transmittance(loss), background=np.asarray(background))


def downlink_channel(
    params: FreeSpaceLinkParams, elevation_deg: ArrayLike, background: ArrayLike = 0.0
) -> FreeSpaceChannel:
    """The satellite downlink at ``elevation_deg`` (a number or one per time sample) as a channel.

    Transmittance ``10**(-L/10)`` of the loss ``L`` of :func:`qinternet.physics.freespace.downlink_loss_db`:
    the Gaussian-beam collection at the slant range, the Kasten-Young atmosphere and the pointing jitter,
    plus the link's fixed loss; 0 below the link's minimum elevation.
    """
    return FreeSpaceChannel.from_loss_db(downlink_loss_db(params, elevation_deg), background)


@dataclass(frozen=True, slots=True)
class Concatenated:
    """Channels one after the other, from the transmitter (first) to the receiver (last).

    ``transmittance`` is the product of the parts'. ``background`` is each part's background attenuated by the
    parts after it, summed: ``sum_i b_i prod_{j > i} eta_j`` — noise made in a part enters at that part's
    end and crosses the rest; the sum of the click probabilities (rather than ``1 - prod(1 - b)``) and the
    linear attenuation of a click probability are first order in the background, as is the background of
    every part (``1 - exp(-m) ≈ m``).

    >>> fibre = FibreChannel(length_km=10.0, loss_db_per_km=0.2)
    >>> round(Concatenated((fibre, FreeSpaceChannel.from_loss_db(3.0))).transmittance, 4)
    0.3162
    """

    parts: tuple[Channel, ...]

    def __post_init__(self) -> None:
        parts = tuple(self.parts)
        if not parts:
            raise ParameterError("channel.parts", "needs at least one channel")
        for i, part in enumerate(parts):
            if not isinstance(part, Channel):
                raise ParameterError(f"channel.parts[{i}]", f"is not a channel: {type(part).__name__}")
        object.__setattr__(self, "parts", parts)

    @property
    def transmittance(self) -> float | FloatArray:
        """Product of the parts' transmittances."""
        return _product([part.transmittance for part in self.parts])

    @property
    def background(self) -> float | FloatArray:
        """Each part's background times the transmittance of the parts after it, summed."""
        total: float | FloatArray = 0.0
        for part in self.parts:
            total = total * part.transmittance + part.background
        return _plain(total)


@dataclass(frozen=True, slots=True, kw_only=True)
class TwoArm:
    """Two channels from the users to a station in the middle (a Bell-state measurement, an interference
    station, or an entangled-pair source).

    Attributes:
        arm_a: the channel between user A and the station.
        arm_b: the channel between user B and the station.

    As a channel between the users: ``transmittance`` is the product of the arms' (what a repeaterless bound
    such as PLOB takes), ``background`` the sum of theirs (both arms end on the station's detectors).
    """

    arm_a: Channel
    arm_b: Channel

    def __post_init__(self) -> None:
        for name in ("arm_a", "arm_b"):
            if not isinstance(getattr(self, name), Channel):
                raise ParameterError(f"channel.{name}", f"is not a channel: {type(getattr(self, name)).__name__}")

    @staticmethod
    def symmetric(fibre: FibreParams, total_length_km: float) -> TwoArm:
        """The station halfway along ``total_length_km`` of ``fibre``: two arms of half the length each.

        Each arm takes half the fibre's ``insertion_loss_db``, so that the two arms together lose what the
        whole fibre does.
        """
        require_non_negative("channel.length_km", total_length_km)
        arm = FibreChannel(
            length_km=total_length_km / 2.0,
            loss_db_per_km=fibre.loss_db_per_km,
            insertion_loss_db=fibre.insertion_loss_db / 2.0,
        )
        return TwoArm(arm_a=arm, arm_b=arm)

    @property
    def arms(self) -> tuple[Channel, Channel]:
        """``(arm_a, arm_b)``."""
        return self.arm_a, self.arm_b

    @property
    def transmittance(self) -> float | FloatArray:
        """``eta_a eta_b``."""
        return _product([self.arm_a.transmittance, self.arm_b.transmittance])

    @property
    def background(self) -> float | FloatArray:
        """``b_a + b_b``."""
        return _plain(self.arm_a.background + self.arm_b.background)


def _plain(value: float | FloatArray) -> float | FloatArray:
    """A 0-d result as a float, an array as a float64 array."""
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)


def _product(values: Sequence[float | FloatArray]) -> float | FloatArray:
    result: float | FloatArray = values[0]
    for value in values[1:]:
        result = result * value
    return _plain(result)


def fibre_length_km(channel: Channel) -> float | None:
    """Length of fibre between the ends of ``channel``, km; None when part of it is not fibre.

    A :class:`FibreChannel`'s length; the sum of the parts of a :class:`Concatenated` or the arms of a
    :class:`TwoArm` when each has one.
    """
    if isinstance(channel, FibreChannel):
        return channel.length_km
    parts: tuple[Channel, ...]
    if isinstance(channel, Concatenated):
        parts = channel.parts
    elif isinstance(channel, TwoArm):
        parts = channel.arms
    else:
        return None
    lengths = [fibre_length_km(part) for part in parts]
    if any(length is None for length in lengths):
        return None
    return math.fsum(length for length in lengths if length is not None)
