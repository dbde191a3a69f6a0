"""The time-slotted network schedule of the entanglement network layer (``entanglement: {scheduler: slots}``).

Pompili et al., "Experimental demonstration of entanglement delivery using a quantum network stack", npj Quantum
Inf. 8, 121 (2022), run their link layer under a *network schedule*: time is divided into slots (time bins) of a
fixed length, computed ahead and known to every node, each slot assigned to one request; a node attempts
entanglement for a request only in that request's slots. Skrzypczyk and Wehner, arXiv:2111.13124 (2021), build
such schedules centrally and periodically for many requests (time-division multiple access on the nodes'
qubits). This module builds the schedule; :func:`qinternet.network.entanglement_net.run_requests` delivers in it.

**The schedule.** The shares of :func:`~qinternet.network.entanglement_net.reserve` (max-min, by priority) are
turned into whole slots of a periodic frame of :data:`SCHEDULE_FRAME_SLOTS` slots: slot by slot, the requests
owed the most time (their share times the slots so far, less the slots they got; ties: higher priority, then
the scenario's order) take the slot if every node of their path still has the memory and communication qubits
they hold (:func:`~qinternet.network.entanglement_net.qubits_needed`); so a node whose qubits hold one path
serves one request per slot, and requests on disjoint paths run in the same slot. The frame repeats all run.

**What a slot's end does (our choice, stated).** A request's round (its links, swaps and purification towards one
end-to-end pair) runs only in its own slots; a round not finished when its stretch of own slots ends is discarded
(its qubits are the next slot's request's) and a fresh round starts at its next own slot. Consecutive own slots
are one stretch: nothing is discarded between two slots of the same request (a request alone on its path holds
it all the time, as under the time-share). Keeping a half-made chain across another request's slots would hold
qubits the schedule gave away; Skrzypczyk and Wehner's schedules likewise reserve a node's qubits only for the
slots scheduled (a task that overruns its slots fails and is tried again). Provenance: the papers' text was not
at hand for this module; the slot semantics above is ours, in the spirit of both.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError

__all__ = ["SCHEDULE_FRAME_SLOTS", "OwnSlots", "Scheduler", "SlotSchedule", "build_schedule"]

SCHEDULE_FRAME_SLOTS = 120
"""Slots in the schedule's period (120 = 2^3 3 5: shares of 1/2, 1/3, 1/4, 1/5, 1/6, 1/8 ... are whole slots)."""


class Scheduler(enum.Enum):
    """How requests that share a node share its time."""

    TIME_SHARE = "time-share"
    SLOTS = "slots"


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnSlots:
    """One request's slots of a periodic schedule, as stretches of wall-clock time.

    Attributes:
        slot_s: length of a slot.
        pattern: whether the request owns slot ``j`` of the frame, shape ``(frame_slots,)``, bool.
        gap, run: per slot of the frame, the slots to the next own one (0 when own) and the own slots from there
            on, cyclically (derived).
    """

    slot_s: float
    pattern: NDArray[np.bool_]
    gap: list[int] = field(init=False, repr=False)
    run: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        frame = len(self.pattern)
        own = [bool(x) for x in self.pattern]
        gap = [0] * frame
        run = [0] * frame
        if any(own) and not all(own):
            for j in range(frame):
                g = 0
                while not own[(j + g) % frame]:
                    g += 1
                r = 0
                while own[(j + g + r) % frame]:
                    r += 1
                gap[j], run[j] = g, r
        object.__setattr__(self, "gap", gap)
        object.__setattr__(self, "run", run)

    @property
    def fraction(self) -> float:
        """Fraction of the slots that are the request's."""
        return float(self.pattern.mean())

    def stretch(self, t_s: float) -> tuple[float, float]:
        """The stretch of own slots that holds time ``t_s``, or else the next one: ``(start, end)`` in seconds,
        ``start`` being ``t_s`` when inside; ``(inf, inf)`` without own slots, ``end`` infinite when every slot
        is the request's."""
        if not self.pattern.any():
            return math.inf, math.inf
        if self.pattern.all():
            return t_s, math.inf
        k = int(t_s // self.slot_s)
        if (k + 1) * self.slot_s <= t_s:  # the division rounded down across a boundary
            k += 1
        elif k * self.slot_s > t_s:
            k -= 1
        j = k % len(self.pattern)
        gap = self.gap[j]
        first = k + gap
        start = t_s if gap == 0 else first * self.slot_s
        return start, (first + self.run[j]) * self.slot_s


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotSchedule:
    """A periodic network schedule: which requests own each slot of the frame.

    Attributes:
        slot_s: length of a slot.
        owners: ``owners[i, j]``: request ``i`` owns slot ``j`` of the frame, shape ``(requests, frame_slots)``.
    """

    slot_s: float
    owners: NDArray[np.bool_]

    def own(self, index: int) -> OwnSlots:
        """The slots of request ``index``."""
        return OwnSlots(slot_s=self.slot_s, pattern=self.owners[index])


def build_schedule(
    shares: Sequence[float],
    wants: Sequence[Mapping[str, tuple[int, int]] | None],
    capacity: Mapping[str, tuple[int, int]],
    *,
    slot_s: float,
    priorities: Sequence[int] | None = None,
    frame_slots: int = SCHEDULE_FRAME_SLOTS,
) -> SlotSchedule:
    """The frame of slots that realises ``shares`` in whole slots (module docstring).

    Args:
        shares: each request's share of time (from the reservations), in [0, 1].
        wants: each request's (memory, communication) qubits per node of its path, or None without a path.
        capacity: each node's (memory, communication) qubits.
        slot_s: slot length, > 0.
        priorities: larger first on ties (default all equal).
        frame_slots: slots in the frame.

    Raises:
        ParameterError: ``slot_s`` not positive and finite.
    """
    if not (math.isfinite(slot_s) and slot_s > 0.0):
        raise ParameterError("slot_s", f"must be > 0 and finite, got {slot_s}")
    levels = [1] * len(shares) if priorities is None else list(priorities)
    owners = np.zeros((len(shares), frame_slots), dtype=bool)
    given = np.zeros(len(shares))
    for j in range(frame_slots):
        memory_left = {n: m for n, (m, _) in capacity.items()}
        comm_left = {n: c for n, (_, c) in capacity.items()}
        owed = [shares[i] * (j + 1) - given[i] for i in range(len(shares))]
        for i in sorted(range(len(shares)), key=lambda i: (-owed[i], -levels[i], i)):
            want = wants[i]
            if want is None or owed[i] <= 1e-9:
                continue
            if all(memory_left[n] >= m and comm_left[n] >= min(c, capacity[n][1]) for n, (m, c) in want.items()):
                for n, (m, c) in want.items():
                    memory_left[n] -= m
                    comm_left[n] -= min(c, capacity[n][1])
                owners[i, j] = True
                given[i] += 1
    return SlotSchedule(slot_s=slot_s, owners=owners)
