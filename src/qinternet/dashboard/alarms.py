"""When a link raises an alarm, and the book of alarms raised and cleared.

Three kinds, judged block by block as a link finishes them (:class:`AlarmBook`):

- ``qber``: the block's QBER is at or above :data:`QBER_ALARM`, the post-processing pipeline's abort
  threshold (:class:`qinternet.postprocessing.pipeline.PipelineParams`, ``max_qber``: near 11 % BB84 gives
  no key, Shor and Preskill, PRL 85, 441 (2000)); cleared by a block below it.
- ``abort``: the finite-key bounds left the block without key (its :class:`~qinternet.qkd.finite_key.AbortReason`);
  cleared by a block with key.
- ``outage``: :data:`OUTAGE_BLOCKS` blocks in a row without key: the link has stopped producing key; cleared
  by a block with key.

Links that make no key by themselves (``kind: memory``: they hold entanglement for applications) raise none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qinternet.network.links.base import BlockRecord
from qinternet.postprocessing.pipeline import PipelineParams

__all__ = ["KEYLESS_KINDS", "OUTAGE_BLOCKS", "QBER_ALARM", "Alarm", "AlarmBook"]

QBER_ALARM = PipelineParams().max_qber
"""QBER at or above which a block raises a ``qber`` alarm: the pipeline's abort threshold (0.11)."""
OUTAGE_BLOCKS = 3
"""Blocks in a row without key that make an outage."""
KEYLESS_KINDS = frozenset({"memory"})
"""Kinds of link that make no key by themselves, so raise no alarm."""
MAX_ALARMS = 500
"""Most alarms the book keeps (the oldest cleared ones go first)."""


@dataclass(slots=True, kw_only=True)
class Alarm:
    """One alarm of one link.

    Attributes:
        id: its number in the book (1, 2, ...).
        link: the link's ID.
        kind: ``qber``, ``abort`` or ``outage`` (see the module docstring).
        message: what happened, for people.
        raised_s: simulated time it was raised, s.
        cleared_s: simulated time it was cleared, s; None while it stands.
    """

    id: int
    link: str
    kind: str
    message: str
    raised_s: float
    cleared_s: float | None = None

    def to_dict(self) -> dict[str, object]:
        """As the dashboard's JSON has it."""
        return {
            "id": self.id,
            "link": self.link,
            "kind": self.kind,
            "message": self.message,
            "raised_s": self.raised_s,
            "cleared_s": self.cleared_s,
            "active": self.cleared_s is None,
        }


class AlarmBook:
    """The alarms of a network's links, raised and cleared as their blocks come (not thread-safe: its owner
    locks)."""

    def __init__(self) -> None:
        self._alarms: list[Alarm] = []
        self._active: dict[tuple[str, str], Alarm] = {}
        self._keyless_run: dict[str, int] = {}
        self._raised = 0

    def _raise(self, link: str, kind: str, message: str, at_s: float) -> None:
        if (link, kind) in self._active:
            return
        self._raised += 1
        alarm = Alarm(id=self._raised, link=link, kind=kind, message=message, raised_s=at_s)
        self._alarms.append(alarm)
        self._active[link, kind] = alarm
        if len(self._alarms) > MAX_ALARMS:
            oldest_cleared = next((a for a in self._alarms if a.cleared_s is not None), None)
            if oldest_cleared is not None:
                self._alarms.remove(oldest_cleared)

    def _clear(self, link: str, kind: str, at_s: float) -> None:
        alarm = self._active.pop((link, kind), None)
        if alarm is not None:
            alarm.cleared_s = at_s

    def observe(self, link: str, kind_of_link: str, block: BlockRecord) -> None:
        """Judge the block ``block`` that the link ``link`` (of kind ``kind_of_link``) just finished."""
        if kind_of_link in KEYLESS_KINDS:
            return
        at = block.end_s
        if not math.isnan(block.qber) and block.qber >= QBER_ALARM:
            self._raise(link, "qber", f"QBER {block.qber:.1%} at or above {QBER_ALARM:.0%}", at)
        elif not math.isnan(block.qber):
            self._clear(link, "qber", at)
        if block.abort_reason is not None:
            self._raise(link, "abort", f"block aborted: {block.abort_reason.value}", at)
            run = self._keyless_run[link] = self._keyless_run.get(link, 0) + 1
            if run >= OUTAGE_BLOCKS:
                self._raise(link, "outage", f"no key for {run} blocks in a row", at)
        elif block.key_bits > 0:
            self._keyless_run[link] = 0
            self._clear(link, "abort", at)
            self._clear(link, "outage", at)

    def to_list(self) -> list[dict[str, object]]:
        """Every alarm kept, the newest first."""
        return [alarm.to_dict() for alarm in reversed(self._alarms)]
