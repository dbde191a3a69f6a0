"""Attacks on a network's links as events in time: a scenario's ``attacks:`` and ``qinternet run --attack``.

An attack acts on one link from a time (``from_s``) to an optional end (``until_s``). It changes what reaches
Bob on that link, in the protocol's detection statistics, so that the decoy estimates, the finite-key bounds
and the aborts of every block follow from the physics rather than from an edited QBER:

- ``intercept-resend`` (strength ``f``, the fraction of pulses Eve measures and resends): Bennett and Brassard's
  attack on BB84; Eve's wrong basis half the time makes Bob's bit random, so the QBER rises by ``f/4`` for an
  ideal link and by ``f (1 - 2E) / 4`` on a link whose own QBER is ``E`` (Gisin, Ribordy, Tittel, Zbinden, Rev.
  Mod. Phys. 74, 145 (2002), Sec. VI.A). The model is :class:`qinternet.qkd.attacks.InterceptResend`.
- ``blinding``: the faked-state attack on blinded avalanche photodiodes (Lydersen et al., Nature Photonics 4,
  686 (2010); :class:`qinternet.qkd.attack_blinding.DetectorBlinding`). Bob's gain and QBER look honest and Eve
  knows every bit of key: the attack is seen only by a receiver that monitors the light at its detectors
  (a photocurrent or bright-light monitor, the countermeasure of Yuan, Dynes, Shields, Nature Photonics 4,
  800 (2010)), i.e. a fibre link with ``bright_light_monitor: true``, whose blocks then abort.
- ``fibre-cut``: the fibre's transmittance is 0 (:class:`FibreCut`); only the detectors' own background clicks.
  This is an outage, not an eavesdropper, and the link's alarm says so (:mod:`.alarms`).

The models are those of decoy-BB84; attacks apply to ``kind: fibre`` links (a scenario error says so for
other kinds).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from qinternet.errors import ParameterError
from qinternet.network.schema_base import Identifier, Model, Seconds, parse_duration_s
from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import Channel
from qinternet.physics.detectors import ClickProbabilities, coherent_clicks
from qinternet.qkd.attacks import DetectorBlinding, InterceptResend, Intervention

__all__ = [
    "MAX_ATTACK_S",
    "AttackKind",
    "AttackSpec",
    "FibreCut",
    "ScheduledAttack",
    "parse_attack_option",
]

MAX_ATTACK_S = 86400.0 * 366
"""Latest time an attack may start or end (a scenario runs at most a year)."""


class AttackKind(enum.Enum):
    """What happens to a link."""

    INTERCEPT_RESEND = "intercept-resend"
    BLINDING = "blinding"
    FIBRE_CUT = "fibre-cut"


class AttackSpec(Model):
    """An attack on a link, as a scenario's ``attacks[i]`` gives it.

    Attributes:
        link: the attacked link (a ``fibre`` link).
        kind: ``intercept-resend``, ``blinding`` or ``fibre-cut``.
        strength: intercept-resend only: the fraction of pulses Eve intercepts, in [0, 1] (default 1).
        from_s: when the attack starts, from the run's start (e.g. ``2h``).
        until_s: when it ends (default: never).
    """

    link: Identifier
    kind: AttackKind
    strength: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    from_s: Annotated[Seconds, Field(ge=0.0, le=MAX_ATTACK_S)] = 0.0
    until_s: Annotated[Seconds, Field(gt=0.0, le=MAX_ATTACK_S)] | None = None

    @field_validator("strength")
    @classmethod
    def _strength_applies(cls, value: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("kind")
        if value is not None and kind is not None and kind is not AttackKind.INTERCEPT_RESEND:
            raise PydanticCustomError("attack", "applies to intercept-resend only, not to {kind}", {"kind": kind.value})
        return value

    @field_validator("until_s")
    @classmethod
    def _after_start(cls, value: float | None, info: ValidationInfo) -> float | None:
        start = info.data.get("from_s")
        if value is not None and start is not None and value <= start:
            raise PydanticCustomError("attack", "must be after from_s ({start} s)", {"start": f"{start:g}"})
        return value

    def scheduled(self) -> ScheduledAttack:
        """The attack as the link's engine runs it."""
        return ScheduledAttack(
            kind=self.kind,
            strength=1.0 if self.strength is None else self.strength,
            from_s=self.from_s,
            until_s=math.inf if self.until_s is None else self.until_s,
        )


@dataclass(frozen=True, slots=True)
class FibreCut:
    """A cut fibre: nothing of Alice's pulses reaches Bob, whose detectors click on their background only
    (dark counts, after-pulses and the channel's background: coherent states of mean 0)."""

    def clicks(
        self, system: QkdSystem, channel: Channel, mu: NDArray[np.float64], error: NDArray[np.float64], dark: ArrayLike
    ) -> ClickProbabilities:
        """Clicks of an empty pulse."""
        return coherent_clicks(np.zeros_like(mu), error, dark)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledAttack:
    """An attack on one link between two times of the run.

    Attributes:
        kind: what Eve (or the backhoe) does.
        strength: the fraction of pulses intercepted (intercept-resend; 1 for the others).
        from_s, until_s: the attack's interval, s from the run's start (``until_s`` may be infinite).
    """

    kind: AttackKind
    strength: float
    from_s: float
    until_s: float = math.inf

    def __post_init__(self) -> None:
        if not (0.0 <= self.strength <= 1.0):
            raise ParameterError("attack.strength", f"must be in [0, 1], got {self.strength}")
        if not (0.0 <= self.from_s < self.until_s):
            raise ParameterError("attack.until_s", f"must be after from_s ({self.from_s:g} s)")

    def overlap_s(self, start_s: float, end_s: float) -> float:
        """Seconds of ``[start_s, end_s]`` during which the attack runs."""
        return max(0.0, min(end_s, self.until_s) - max(start_s, self.from_s))

    def intervention(self) -> Intervention:
        """What reaches Bob while the attack runs (:class:`qinternet.qkd.attacks.Intervention`)."""
        if self.kind is AttackKind.INTERCEPT_RESEND:
            return InterceptResend(fraction=self.strength)
        if self.kind is AttackKind.BLINDING:
            return DetectorBlinding()
        return FibreCut()


def parse_attack_option(text: str, option: str = "--attack") -> dict[str, object]:
    """``LINK=KIND[:STRENGTH][@FROM[..UNTIL]]`` as a scenario's ``attacks[i]`` mapping.

    >>> parse_attack_option("l1=intercept-resend:0.3@2h")
    {'link': 'l1', 'kind': 'intercept-resend', 'strength': 0.3, 'from_s': 7200.0}
    >>> parse_attack_option("l2=fibre-cut@30min..1h")
    {'link': 'l2', 'kind': 'fibre-cut', 'from_s': 1800.0, 'until_s': 3600.0}

    Raises:
        ParameterError: naming ``option`` and what is wrong with the text.
    """
    form = "LINK=KIND[:STRENGTH][@FROM[..UNTIL]], e.g. l1=intercept-resend:0.3@2h"
    link, equals, rest = text.strip().partition("=")
    if not equals or not link.strip():
        raise ParameterError(option, f"{text[:80]!r} is not {form}")
    what, at, when = rest.partition("@")
    name, colon, strength = what.strip().partition(":")
    kinds = [kind.value for kind in AttackKind]
    if name.strip() not in kinds:
        raise ParameterError(option, f"unknown attack {name.strip()[:80]!r}; known: {', '.join(kinds)}")
    attack: dict[str, object] = {"link": link.strip(), "kind": name.strip()}
    if colon:
        try:
            attack["strength"] = float(strength)
        except ValueError:
            raise ParameterError(option, f"strength {strength[:80]!r} is not a number in [0, 1]") from None
    if at:
        start, dots, end = when.partition("..")
        for key, value in (("from_s", start), ("until_s", end if dots else None)):
            if value is None:
                continue
            try:
                attack[key] = parse_duration_s(value)
            except ValueError as exc:
                raise ParameterError(option, f"{'from' if key == 'from_s' else 'until'}: {exc}") from None
    return attack
