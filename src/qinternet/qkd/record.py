"""The detection record of a prepare-and-measure QKD link, and its per-class statistics.

A :class:`DetectionRecord` holds one row per detection event (what post-processing consumes); the
pulses that were sent but not detected are summarised by their counts per class, which Alice announces
for decoy-state estimation. :class:`LinkCounts` are the sufficient statistics of a record: frozen and
addable, so that blocks and parallel workers just sum them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Basis", "DetectionRecord", "LinkCounts"]

IntArray = NDArray[np.int64]


class Basis(enum.IntEnum):
    """Measurement/preparation basis, as stored in records."""

    Z = 0
    X = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectionRecord:
    """Detection events of one block of pulses, in slot order.

    Attributes:
        slot: int64, shape (D,): index of the pulse (time slot) of each event, strictly increasing.
        intensity_class: int8, shape (D,): index into ``intensities`` (0 = signal).
        alice_basis: int8, shape (D,): :class:`Basis` Alice prepared.
        alice_bit: int8, shape (D,): Alice's bit.
        bob_basis: int8, shape (D,): :class:`Basis` Bob measured.
        bob_bit: int8, shape (D,): Bob's bit (random for double clicks).
        double_click: bool, shape (D,): both of Bob's detectors fired.
        intensities: mean photon number of each class.
        pulses: number of pulses (slots) the block covers.
        sent: int64, shape (K, 2, 2): pulses sent per (class, Alice's basis, Bob's basis).
    """

    slot: IntArray
    intensity_class: NDArray[np.int8]
    alice_basis: NDArray[np.int8]
    alice_bit: NDArray[np.int8]
    bob_basis: NDArray[np.int8]
    bob_bit: NDArray[np.int8]
    double_click: NDArray[np.bool_]
    intensities: tuple[float, ...]
    pulses: int
    sent: IntArray

    COLUMNS = ("slot", "intensity_class", "alice_basis", "alice_bit", "bob_basis", "bob_bit", "double_click")

    def __len__(self) -> int:
        return int(self.slot.shape[0])

    def columns(self) -> dict[str, Any]:
        """The per-event arrays by column name."""
        return {name: getattr(self, name) for name in self.COLUMNS}

    def select(self, keep: NDArray[np.bool_]) -> DetectionRecord:
        """The record restricted to the events where ``keep`` is true (same pulses and sent counts)."""
        return DetectionRecord(
            **{name: column[keep] for name, column in self.columns().items()},
            intensities=self.intensities,
            pulses=self.pulses,
            sent=self.sent,
        )

    @staticmethod
    def concatenate(blocks: list[DetectionRecord]) -> DetectionRecord:
        """One record of consecutive blocks (each block's slots offset by the pulses before it)."""
        if not blocks:
            raise ValueError("no blocks to concatenate")
        offsets = np.cumsum([0] + [b.pulses for b in blocks[:-1]])
        columns = {name: np.concatenate([b.columns()[name] for b in blocks]) for name in DetectionRecord.COLUMNS}
        columns["slot"] = np.concatenate([b.slot + off for b, off in zip(blocks, offsets, strict=True)])
        return DetectionRecord(
            **columns,
            intensities=blocks[0].intensities,
            pulses=int(sum(b.pulses for b in blocks)),
            sent=np.sum([b.sent for b in blocks], axis=0),
        )


@dataclass(frozen=True, slots=True)
class LinkCounts:
    """Counts per (intensity class, Alice's basis, Bob's basis), each int64 of shape (K, 2, 2).

    Attributes:
        sent: pulses sent.
        detected: detection events.
        errors: events with Bob's bit different from Alice's.
        double_clicks: events in which both detectors fired.
    """

    sent: IntArray
    detected: IntArray
    errors: IntArray
    double_clicks: IntArray

    @staticmethod
    def from_record(record: DetectionRecord) -> LinkCounts:
        """Count the events of ``record`` per class and basis pair."""
        k = len(record.intensities)
        index = (record.intensity_class.astype(np.int64) * 2 + record.alice_basis) * 2 + record.bob_basis

        def tally(weights: NDArray[np.generic] | None) -> IntArray:
            return np.bincount(index, weights=weights, minlength=4 * k).astype(np.int64).reshape(k, 2, 2)

        wrong = record.alice_bit != record.bob_bit
        return LinkCounts(
            sent=record.sent.astype(np.int64),
            detected=tally(None),
            errors=tally(wrong),
            double_clicks=tally(record.double_click),
        )

    def __add__(self, other: LinkCounts) -> LinkCounts:
        return LinkCounts(
            sent=self.sent + other.sent,
            detected=self.detected + other.detected,
            errors=self.errors + other.errors,
            double_clicks=self.double_clicks + other.double_clicks,
        )

    def matched(self, counts: IntArray) -> IntArray:
        """Per class: the sum over the two basis pairs in which Alice's and Bob's bases agree."""
        return np.asarray(counts[:, 0, 0] + counts[:, 1, 1], dtype=np.int64)
