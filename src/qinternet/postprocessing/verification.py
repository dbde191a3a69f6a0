"""Verification of error correction by universal hashing.

Alice and Bob compare ``k`` independent 64-bit polynomial hashes (:mod:`.gf2_64`) of their corrected
keys under hash keys that Alice draws and announces. If the keys differ, all ``k`` tags agree with
probability at most ``(L / 2^64)^k`` for ``L`` blocks; ``k`` is the smallest number that brings this to
``eps_cor`` or below, which makes the protocol ``eps_cor``-correct (Tomamichel, Lim, Gisin, Renner,
Nat. Commun. 3, 634 (2012), Sec. "Methods": correctness by hashing the corrected key).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.postprocessing.checks import require_epsilon, require_same_length
from qinternet.postprocessing.gf2_64 import BLOCK_BITS, polynomial_hash, polynomial_hash_frames, random_field_elements

__all__ = ["FrameVerification", "VerificationResult", "hashes_needed", "verify_frames", "verify_keys"]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationResult:
    """Outcome of comparing hash tags.

    Attributes:
        ok: all tags agree.
        hashes: number of 64-bit hashes compared.
        tag_bits: bits disclosed (and to be subtracted by privacy amplification): ``64 * hashes``.
        failure_prob_bound: probability bound that different keys pass, ``(L / 2^64)^hashes``.
    """

    ok: bool
    hashes: int
    tag_bits: int
    failure_prob_bound: float


def hashes_needed(key_bits: int, eps_cor: float) -> int:
    """Smallest ``k`` with ``(L / 2^64)^k <= eps_cor`` for a key of ``key_bits`` bits."""
    require_epsilon("eps_cor", eps_cor)
    blocks = bits_to_blocks_count(key_bits)
    per_hash = blocks / 2.0**BLOCK_BITS
    if per_hash >= 1.0:
        raise ParameterError("key_bits", f"{key_bits} bits are too many for 64-bit polynomial hashing")
    return max(1, math.ceil(math.log(eps_cor) / math.log(per_hash)))


def bits_to_blocks_count(key_bits: int) -> int:
    """Blocks hashed for a key of ``key_bits`` bits (data blocks and the length block)."""
    return -(-key_bits // BLOCK_BITS) + 1


def verify_keys(
    alice: NDArray[np.uint8], bob: NDArray[np.uint8], eps_cor: float, rng: np.random.Generator
) -> VerificationResult:
    """Compare the keys by ``k`` hashes with keys drawn from ``rng`` (Alice's public choice).

    Only the tags are compared, as over the classical channel; the keys themselves are not.
    """
    require_same_length("bob", alice, bob)
    k = hashes_needed(int(alice.shape[0]), eps_cor)
    points = random_field_elements(rng, k)
    ok = all(polynomial_hash(alice, int(r)) == polynomial_hash(bob, int(r)) for r in points)
    blocks = bits_to_blocks_count(int(alice.shape[0]))
    return VerificationResult(
        ok=ok, hashes=k, tag_bits=BLOCK_BITS * k, failure_prob_bound=(blocks / 2.0**BLOCK_BITS) ** k
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameVerification:
    """Outcome of comparing the tags of many frames of equal length.

    Attributes:
        ok: bool, shape (F,): the frame's tags agree.
        hashes: 64-bit hashes per frame.
        tag_bits: bits disclosed per frame, ``64 * hashes``.
        failure_prob_bound: per frame, the probability bound that different frames pass.
    """

    ok: NDArray[np.bool_]
    hashes: int
    tag_bits: int
    failure_prob_bound: float


def verify_frames(
    alice: NDArray[np.uint8], bob: NDArray[np.uint8], eps_cor: float, rng: np.random.Generator
) -> FrameVerification:
    """Compare frames (uint8 0/1, shape (F, n)) by ``k`` hashes each, to ``eps_cor`` per frame.

    The hash keys are shared by the frames: each frame still passes with probability at most
    ``(L / 2^64)^k`` when it differs, whatever the others hold.
    """
    require_same_length("bob", alice, bob)
    k = hashes_needed(int(alice.shape[1]), eps_cor)
    ok = np.ones(alice.shape[0], dtype=bool)
    for r in random_field_elements(rng, k):
        ok &= polynomial_hash_frames(alice, int(r)) == polynomial_hash_frames(bob, int(r))
    blocks = bits_to_blocks_count(int(alice.shape[1]))
    return FrameVerification(
        ok=ok, hashes=k, tag_bits=BLOCK_BITS * k, failure_prob_bound=(blocks / 2.0**BLOCK_BITS) ** k
    )
