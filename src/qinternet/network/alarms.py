"""The operator's view of a link: alarms raised from what its blocks show, as a QKD network's monitoring does.

A link whose engine says what an honest block looks like (:class:`~qinternet.network.links.base.Monitored`:
the expected counts of the model its blocks are drawn from) is watched block by block. The monitor never
knows whether an attack runs; it sees only the block (its sifted detections, QBER and abort reason):

- **detector blinding**: the block aborted because the receiver's bright-light monitor saw light far above
  single-photon level at the detectors (Yuan, Dynes, Shields, Nature Photonics 4, 800 (2010));
- **outage** (loss of signal): far fewer detections than the link makes, at most half the expected and fewer
  than chance allows (Poisson probability below :data:`FALSE_ALARM_PROB`): a cut fibre or a dead source. The
  QBER of the few clicks left (background, 1/2) says nothing about an eavesdropper, so it is not an attack;
- **eavesdropping**: the QBER is higher than the link's own by more than chance allows: ``P(m or more errors
  among n | the link's QBER E) < FALSE_ALARM_PROB`` for a binomial count (the test of the error rate that
  every BB84 link runs; Gisin et al., Rev. Mod. Phys. 74, 145 (2002), Sec. II.C).

An alarm opens at the end of the first such block and closes at the end of the first block that shows none
(the attack stopped, the fibre was spliced); routing (:mod:`.relay`) takes no key over a link while its alarm
is open. Attacks that leave the statistics honest (blinding without a monitor) raise nothing: the run's
ground truth (:func:`attack_outcomes`) says so.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy import special

from qinternet.network.attacks import AttackKind, AttackSpec
from qinternet.network.links.base import AbortReason, BlockRecord

__all__ = [
    "FALSE_ALARM_PROB",
    "Alarm",
    "AlarmKind",
    "AttackOutcome",
    "LinkMonitor",
    "attack_outcomes",
    "classify_block",
]

FALSE_ALARM_PROB = 1e-9
"""Probability, per honest block, that chance alone raises an alarm (a year of 10-minute blocks on 1,000 links
has 5e7 blocks: one false alarm in twenty such years)."""
LOSS_OF_SIGNAL_FRACTION = 0.5
"""A block with at most this share of the link's expected detections has lost its signal (with significance)."""


class AlarmKind(enum.Enum):
    """What an alarm says happened."""

    EAVESDROPPING = "eavesdropping"
    DETECTOR_BLINDING = "detector-blinding"
    OUTAGE = "outage"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm:
    """An alarm on one link, from the block that raised it to the one that cleared it.

    Attributes:
        link: the link's id.
        detected_as: what the monitor saw (:class:`AlarmKind`).
        raised_s: end of the block that raised it, s from the run's start.
        cleared_s: end of the first block that showed nothing, or None while still raised at the run's end.
        first_aborted_block: index (in the link's blocks) of the first aborted block while raised, or None.
        first_aborted_s: end of that block, s.
        qber: QBER of the block that raised it (None without detections).
        expected_qber: the link's own QBER (of its honest block).
        reason: what the monitor saw, in words.
    """

    link: str
    detected_as: AlarmKind
    raised_s: float
    cleared_s: float | None
    first_aborted_block: int | None
    first_aborted_s: float | None
    qber: float | None
    expected_qber: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """As in ``summary.json``."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["detected_as"] = self.detected_as.value
        return data


def _rate(value: float) -> str:
    return f"{100 * value:.2f} %"


def classify_block(block: BlockRecord, baseline: BlockRecord) -> tuple[AlarmKind, str] | None:
    """What an honest link's monitor makes of ``block`` (module docstring), given the link's honest block
    ``baseline``: an alarm kind and the reason in words, or None."""
    if block.abort_reason is AbortReason.BRIGHT_LIGHT:
        return AlarmKind.DETECTOR_BLINDING, "bright light at the detectors (the receiver's monitor)"
    expected = baseline.sifted_bits * block.duration_s / baseline.duration_s if baseline.duration_s > 0 else 0.0
    seen = max(0.0, block.sifted_bits)
    # P(at most ``seen`` | Poisson of mean ``expected``) = Q(seen + 1, expected), the regularised upper gamma.
    chance = special.gammaincc(math.floor(seen) + 1.0, expected) if expected > 0 else 1.0
    if seen <= LOSS_OF_SIGNAL_FRACTION * expected and chance < FALSE_ALARM_PROB:
        return AlarmKind.OUTAGE, f"loss of signal: {seen:.3g} detections where {expected:.3g} are expected"
    e = baseline.qber
    if seen <= 0 or math.isnan(block.qber) or math.isnan(e) or block.qber <= e:
        return None
    n = round(seen)
    errors = min(n, round(block.qber * seen))
    # P(at least ``errors`` of ``n`` | binomial(n, E)) = I_E(errors, n - errors + 1), the regularised beta.
    if errors > 0 and (e <= 0.0 or special.betainc(errors, n - errors + 1, e) < FALSE_ALARM_PROB):
        return AlarmKind.EAVESDROPPING, f"QBER {_rate(block.qber)} where the link's own is {_rate(e)}"
    return None


@dataclass(slots=True)
class LinkMonitor:
    """Watches one link's blocks as they come (see the module docstring).

    Attributes:
        link: the link's id.
        baseline: the link's honest block (expected counts of the model its blocks come from).
        alarms: every alarm so far, the last one open while :attr:`in_alarm`.
    """

    link: str
    baseline: BlockRecord
    alarms: list[Alarm] = field(default_factory=list)
    in_alarm: bool = False

    def observe(self, block: BlockRecord, index: int) -> None:
        """Take the link's block number ``index``."""
        found = classify_block(block, self.baseline)
        current = self.alarms[-1] if self.in_alarm else None
        if current is not None and (found is None or found[0] is not current.detected_as):
            self.alarms[-1] = dataclasses.replace(current, cleared_s=block.end_s)
            self.in_alarm, current = False, None
        if found is not None and current is None:
            current = Alarm(
                link=self.link,
                detected_as=found[0],
                raised_s=block.end_s,
                cleared_s=None,
                first_aborted_block=None,
                first_aborted_s=None,
                qber=None if math.isnan(block.qber) else block.qber,
                expected_qber=None if math.isnan(self.baseline.qber) else self.baseline.qber,
                reason=found[1],
            )
            self.alarms.append(current)
            self.in_alarm = True
        if current is not None and block.aborted and current.first_aborted_block is None:
            self.alarms[-1] = dataclasses.replace(current, first_aborted_block=index, first_aborted_s=block.end_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class AttackOutcome:
    """What an attack did, as the run's ground truth knows it (the operator sees only :class:`Alarm`\\ s).

    Attributes:
        link, kind, strength, from_s, until_s: the attack (``strength`` None where it does not apply;
            ``until_s`` None: to the end).
        detected: an alarm was raised on the link while the attack ran (or at the end of its last block).
        detected_as: what that alarm said; alarm_s: when it was raised; delay_s: ``alarm_s - from_s``.
        key_lost_bits: key the link would have made in the attacked time (its honest rate times that time)
            less the key it did make in it.
        compromised_bits: key made in blocks the attack touched that Eve knows and no check caught
            (blinding without a bright-light monitor: every such block's key).
        verdict: the outcome in words.
    """

    link: str
    kind: str
    strength: float | None
    from_s: float
    until_s: float | None
    detected: bool
    detected_as: str | None
    alarm_s: float | None
    delay_s: float | None
    key_lost_bits: float
    compromised_bits: float
    verdict: str


def attack_outcomes(
    attacks: Sequence[AttackSpec],
    link_ids: Sequence[str],
    blocks: Sequence[Sequence[BlockRecord]],
    baselines: Sequence[BlockRecord | None],
    alarms: Sequence[Alarm],
    duration_s: float,
) -> tuple[AttackOutcome, ...]:
    """The outcome of each attack of a run.

    Args:
        attacks: the scenario's attacks.
        link_ids: the links' ids, in order; blocks: each link's blocks; baselines: each link's honest block.
        alarms: every alarm of the run.
        duration_s: the run's length (an attack without an end lasts until it).
    """
    rows = []
    for attack in attacks:
        index = list(link_ids).index(attack.link)
        until = duration_s if attack.until_s is None else min(attack.until_s, duration_s)
        start = min(attack.from_s, duration_s)
        touched = [b for b in blocks[index] if min(b.end_s, until) > max(b.end_s - b.duration_s, start)]
        last_end = max((b.end_s for b in touched), default=until)
        alarm = next((a for a in alarms if a.link == attack.link and start < a.raised_s <= max(last_end, start)), None)
        baseline = baselines[index]
        honest_bps = 0.0 if baseline is None or baseline.duration_s <= 0 else baseline.key_bits / baseline.duration_s
        made = sum(
            b.key_bits * (min(b.end_s, until) - max(b.end_s - b.duration_s, start)) / b.duration_s for b in touched
        )
        compromised = 0.0
        if attack.kind is AttackKind.BLINDING:
            compromised = float(sum(b.key_bits for b in touched if alarm is None or b.end_s < alarm.raised_s))
        detected_as = None if alarm is None else alarm.detected_as.value
        if alarm is None:
            verdict = "undetected" + (f"; the link's key after {start:g} s is compromised" if compromised else "")
        elif alarm.detected_as is AlarmKind.OUTAGE:
            verdict = f"outage detected at {alarm.raised_s:g} s"
        else:
            verdict = f"detected as {detected_as} at {alarm.raised_s:g} s"
        rows.append(
            AttackOutcome(
                link=attack.link,
                kind=attack.kind.value,
                strength=attack.scheduled().strength if attack.kind is AttackKind.INTERCEPT_RESEND else None,
                from_s=attack.from_s,
                until_s=attack.until_s,
                detected=alarm is not None,
                detected_as=detected_as,
                alarm_s=None if alarm is None else alarm.raised_s,
                delay_s=None if alarm is None else alarm.raised_s - attack.from_s,
                key_lost_bits=max(0.0, honest_bps * max(0.0, until - start) - made),
                compromised_bits=compromised,
                verdict=verdict,
            )
        )
    return tuple(rows)
