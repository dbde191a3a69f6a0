"""Wegman-Carter authentication of classical messages with one-time-padded polynomial hashes.

Both parties hold the same secret key material (pre-shared, then replenished from earlier QKD rounds).
A 64-bit hash key ``r`` is taken once; every message then costs a fresh 64-bit one-time pad ``s_i``, and
its tag is ``h_r(m) XOR s_i`` with the polynomial hash of :mod:`.gf2_64`. An adversary who has seen any
number of tagged messages forges a tag for a new message of ``L`` blocks with probability at most
``L / 2^64`` (Wegman, Carter, J. Comput. Syst. Sci. 22, 265 (1981); the hash is ``L/2^64``-almost-XOR-
universal, den Boer 1993). Every bit drawn from the key is counted, so that the pipeline can subtract it
from the key it produces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.postprocessing.checks import require_bits
from qinternet.postprocessing.gf2_64 import BLOCK_BITS, polynomial_hash

__all__ = ["KeyPool", "WegmanCarter"]


@dataclass(slots=True)
class KeyPool:
    """Secret bits held by one party, consumed from the front; counts what it has given out.

    Attributes:
        bits: uint8 0/1, shape (n,): the secret key material.
        consumed_bits: bits handed out so far.
    """

    bits: NDArray[np.uint8] = field(repr=False)
    consumed_bits: int = 0

    def __post_init__(self) -> None:
        require_bits("key_pool", self.bits)

    @property
    def available_bits(self) -> int:
        """Bits not yet used."""
        return int(self.bits.shape[0]) - self.consumed_bits

    def take_word(self) -> int:
        """The next 64 bits as an integer; a :class:`ParameterError` when the pool is exhausted."""
        if self.available_bits < BLOCK_BITS:
            raise ParameterError("key_pool", f"exhausted: {self.available_bits} bits left, 64 needed")
        word = self.bits[self.consumed_bits : self.consumed_bits + BLOCK_BITS]
        self.consumed_bits += BLOCK_BITS
        return int.from_bytes(np.packbits(word).tobytes(), "big")


@dataclass(slots=True)
class WegmanCarter:
    """One party's authenticator: tags outgoing messages and checks incoming ones, in message order.

    Alice and Bob build one each over identical pools and must process the same messages in the same
    order (each message uses the next pad).
    """

    pool: KeyPool = field(repr=False)
    hash_key: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.hash_key = self.pool.take_word()

    def tag(self, message: NDArray[np.uint8]) -> int:
        """The tag of the next message (consumes a 64-bit pad)."""
        require_bits("message", message)
        return polynomial_hash(message, self.hash_key) ^ self.pool.take_word()

    def verify(self, message: NDArray[np.uint8], tag: int) -> bool:
        """Whether ``tag`` authenticates the next message (consumes the same pad as :meth:`tag`)."""
        return self.tag(message) == tag

    @property
    def bits_consumed(self) -> int:
        """Secret bits used: the hash key and one pad per message."""
        return self.pool.consumed_bits
