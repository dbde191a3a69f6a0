"""Basis reconciliation (sifting): keep the detections in which Alice's and Bob's bases agree.

Bob announces his basis for every detection, Alice says which agree; with biased basis choice (efficient
BB84, Lo, Chau, Ardehali, J. Cryptology 18, 133 (2005)) most detections fall in the Z basis. Only bases
cross the channel, never bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.qkd.record import Basis, DetectionRecord

__all__ = ["SiftedKey", "sift"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SiftedKey:
    """Sifted bits, in slot order (all arrays have shape (n,)).

    Attributes:
        alice: uint8 0/1: Alice's bits.
        bob: uint8 0/1: Bob's bits.
        basis: int8: the common basis (:class:`Basis`).
        intensity_class: int8: the pulse's intensity class (announced after sifting for decoy estimates).
        slot: int64: the pulse's slot.
    """

    alice: NDArray[np.uint8] = field(repr=False)
    bob: NDArray[np.uint8] = field(repr=False)
    basis: NDArray[np.int8]
    intensity_class: NDArray[np.int8]
    slot: NDArray[np.int64]

    def __post_init__(self) -> None:
        n = self.alice.shape[0]
        for name in ("bob", "basis", "intensity_class", "slot"):
            if getattr(self, name).shape != (n,):
                raise ParameterError(f"sifted.{name}", f"has shape {getattr(self, name).shape}, expected ({n},)")

    def __len__(self) -> int:
        return int(self.alice.shape[0])

    def where(self, keep: NDArray[np.bool_]) -> SiftedKey:
        """The sifted key restricted to the positions where ``keep`` is true."""
        return SiftedKey(
            alice=self.alice[keep],
            bob=self.bob[keep],
            basis=self.basis[keep],
            intensity_class=self.intensity_class[keep],
            slot=self.slot[keep],
        )

    def in_basis(self, basis: Basis) -> SiftedKey:
        """The bits of one basis."""
        return self.where(self.basis == basis)

    def error_count(self) -> int:
        """Positions where Alice's and Bob's bits differ (known only to a simulation, or after EC)."""
        return int(np.count_nonzero(self.alice != self.bob))


def sift(record: DetectionRecord) -> SiftedKey:
    """The detections of ``record`` in which both parties used the same basis."""
    if len(record) == 0:
        raise ParameterError("record", "has no detection events to sift")
    same = record.alice_basis == record.bob_basis
    return SiftedKey(
        alice=record.alice_bit[same].astype(np.uint8),
        bob=record.bob_bit[same].astype(np.uint8),
        basis=record.alice_basis[same],
        intensity_class=record.intensity_class[same],
        slot=record.slot[same],
    )
