"""Stage-wise authentication of the classical conversation."""

from __future__ import annotations

import numpy as np

from qinternet.postprocessing import KeyPool, WegmanCarter
from qinternet.postprocessing.transcript import Party, Transcript


def _pair(bits: int = 64 * 16) -> tuple[WegmanCarter, WegmanCarter]:
    shared = np.random.default_rng(0).integers(0, 2, bits, dtype=np.uint8)
    return WegmanCarter(KeyPool(shared.copy())), WegmanCarter(KeyPool(shared.copy()))


def test_honest_stages_authenticate_and_cost_two_pads_each() -> None:
    alice, bob = _pair()
    transcript = Transcript(alice, bob)
    rng = np.random.default_rng(1)
    for stage in ("sifting", "error-correction"):
        for _ in range(5):
            transcript.send(Party.BOB, rng.integers(0, 2, 100, dtype=np.uint8))
            transcript.send(Party.ALICE, rng.integers(0, 2, 7, dtype=np.uint8))
        assert transcript.authenticate(stage)
    assert transcript.stages == ["sifting", "error-correction"]
    assert transcript.messages == 20
    assert transcript.message_bits == 10 * 107
    # Hash key (64) + 2 pads per stage on each side.
    assert transcript.auth_bits_consumed == 64 + 2 * 2 * 64
    assert bob.bits_consumed == alice.bits_consumed


def test_a_flipped_bit_is_caught_at_the_end_of_its_stage() -> None:
    alice, bob = _pair()

    def flip_bobs_fifth_bit(sender: Party, bits: np.ndarray) -> np.ndarray:
        if sender is Party.BOB and bits.shape[0] > 5:
            changed = bits.copy()
            changed[5] ^= 1
            return changed
        return bits

    transcript = Transcript(alice, bob, tamper=flip_bobs_fifth_bit)
    received = transcript.send(Party.BOB, np.zeros(10, dtype=np.uint8))
    assert received[5] == 1
    assert not transcript.authenticate("sifting")


def test_an_empty_stage_still_authenticates() -> None:
    transcript = Transcript(*_pair())
    assert transcript.authenticate("nothing said")


def test_bits_cannot_move_between_messages() -> None:
    transcript = Transcript(*_pair())
    transcript.send(Party.ALICE, np.array([1, 0, 1], dtype=np.uint8))
    transcript.send(Party.ALICE, np.array([0], dtype=np.uint8))
    # Rearrange what Bob received as if the channel had moved a bit across the boundary.
    transcript._received[Party.ALICE] = [np.array([1, 0], dtype=np.uint8), np.array([1, 0], dtype=np.uint8)]
    assert not transcript.authenticate("shifted")


def test_no_key_material_in_reprs() -> None:
    alice, bob = _pair()
    transcript = Transcript(alice, bob)
    for text in (repr(alice), repr(alice.pool), repr(transcript)):
        assert "array" not in text
        assert str(alice.hash_key) not in text
