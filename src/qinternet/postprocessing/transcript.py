"""The classical conversation of one post-processing round, authenticated stage by stage.

Every message that crosses the public channel (Bob's bases, the sifting answer, the parameter-estimation
bits, error-correction parities, verification tags, the privacy-amplification seed) is recorded with its
sender. At the end of each stage each party tags what it sent since the last stage and the other checks
the tag against what it received, with Wegman-Carter (:mod:`.authentication`): two 64-bit pads a stage
instead of two a message. Deferring authentication to the end of a stage is secure as long as nothing
derived from the stage's messages is used before its tags are checked (Fung, Ma, Chau, PRA 81, 012318
(2010), Sec. IV; Portmann, PRA 89, 042319 (2014) for composable key recycling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from qinternet.postprocessing.authentication import WegmanCarter
from qinternet.postprocessing.checks import require_bits
from qinternet.postprocessing.gf2_64 import BLOCK_BITS
from qinternet.postprocessing.verification import bits_to_blocks_count

__all__ = ["Party", "Transcript"]

Tamper = Callable[["Party", NDArray[np.uint8]], NDArray[np.uint8]]


class Party(Enum):
    """Who sends a message."""

    ALICE = "alice"
    BOB = "bob"


def _no_tampering(_: Party, bits: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return bits


@dataclass(slots=True)
class Transcript:
    """Messages of the current stage, as sent and as received, and the stages authenticated so far.

    Attributes:
        alice: Alice's authenticator (tags what she sends, checks what she receives).
        bob: Bob's, over an identical key pool.
        tamper: what the channel does to a message (identity unless a test plays the adversary).
    """

    alice: WegmanCarter = field(repr=False)
    bob: WegmanCarter = field(repr=False)
    tamper: Tamper = field(default=_no_tampering, repr=False)
    stages: list[str] = field(default_factory=list)
    messages: int = 0
    message_bits: int = 0
    forgery_prob_bound: float = 0.0
    _sent: dict[Party, list[NDArray[np.uint8]]] = field(default_factory=lambda: {Party.ALICE: [], Party.BOB: []})
    _received: dict[Party, list[NDArray[np.uint8]]] = field(default_factory=lambda: {Party.ALICE: [], Party.BOB: []})

    def send(self, sender: Party, bits: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Send ``bits`` (uint8 0/1) and return what the other party receives."""
        require_bits("message", bits)
        received = self.tamper(sender, bits)
        self._sent[sender].append(bits)
        self._received[sender].append(received)
        self.messages += 1
        self.message_bits += int(bits.shape[0])
        return received

    def authenticate(self, stage: str) -> bool:
        """Tag and check both directions of the current stage; False when any tag fails."""
        ok = True
        for sender, signer, checker in ((Party.ALICE, self.alice, self.bob), (Party.BOB, self.bob, self.alice)):
            sent = _joined(self._sent[sender])
            received = _joined(self._received[sender])
            ok &= checker.verify(received, signer.tag(sent))
            self.forgery_prob_bound += bits_to_blocks_count(int(sent.shape[0])) / 2.0**BLOCK_BITS
            self._sent[sender].clear()
            self._received[sender].clear()
        self.stages.append(stage)
        return ok

    @property
    def auth_bits_consumed(self) -> int:
        """Secret key bits used by one party's authenticator (the other uses the same bits)."""
        return self.alice.bits_consumed


def _joined(messages: list[NDArray[np.uint8]]) -> NDArray[np.uint8]:
    """The messages one after the other, each behind its 64-bit length, so that bits cannot move from one
    message to the next without changing what is tagged."""
    parts: list[NDArray[np.uint8]] = []
    for message in messages:
        length = np.array([message.shape[0]], dtype=">u8").view(np.uint8)
        parts += [np.unpackbits(length), message.astype(np.uint8)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
