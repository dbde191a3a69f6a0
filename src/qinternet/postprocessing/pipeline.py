"""One round of post-processing, from a detection record to identical secret keys or an abort.

The stages, each over the public channel of a :class:`.transcript.Transcript` authenticated at its end:

1. **Sifting** (:mod:`.sifting`): Bob announces his bases, Alice the matches and the intensity classes.
2. **Parameter estimation**: all test-basis (X) bits are disclosed; their error rate estimates the QBER
   that sizes Cascade's blocks, and the round aborts at once above ``max_qber``.
3. **Error correction** of the key-basis (Z) bits, with Cascade (:mod:`.cascade`) over a
   :class:`.parity.ParityOracle`, where the parities answered are the leak ``lambda_EC``; or with
   rate-adaptive LDPC codes (:mod:`.ldpc`), one message of syndromes whose length, less the punctured
   bits, is the leak. An LDPC frame that does not decode aborts the round like a failed verification.
4. **Verification** (:mod:`.verification`): hash tags of every Cascade frame to ``eps_cor / frames``;
   the round aborts if any frame's tags differ (as in Lim et al., Sec. II: dropping frames after the
   fact would let an eavesdropper steer which bits survive).
5. **Finite-key length** (:func:`qinternet.qkd.finite_key.finite_key_length`, Lim et al., PRA 89,
   022307 (2014), eq. (1)) from the per-class counts, with the actual leak and tag bits.
6. **Privacy amplification** (:mod:`.privacy`): Toeplitz hashing to that length with a public seed.
7. **Authentication** (:mod:`.authentication`): the Wegman-Carter key used by the transcript is taken
   from a pre-shared pool and paid back from the new key, so the *net* key is ``l - auth_bits``.

In a simulation both parties run in this process and some stages read both parties' data where only
the transcript's content would cross the channel: Cascade runs its compiled in-process path, and its
questions and answers, like the verification tags, go on the transcript as stand-in bits of the right
lengths (so the leak, the message count and the authentication key are exact, the contents are not).
Following Martinez-Mateo et al. (2015), only Alice's answers count as leaked. The security statement of a
round is ``eps_sec`` (Lim et al.),
``eps_cor`` (verification) and ``auth_failure_prob`` (the Wegman-Carter tags, reported with the result).
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.params.checks import require_epsilon
from qinternet.params.devices import QkdSystem
from qinternet.postprocessing.authentication import KeyPool, WegmanCarter
from qinternet.postprocessing.cascade import CASCADE_VARIANTS, reconcile_in_process
from qinternet.postprocessing.ldpc import ldpc_decode, ldpc_plan, ldpc_syndromes
from qinternet.postprocessing.privacy import toeplitz_hash, toeplitz_seed_bits
from qinternet.postprocessing.sifting import SiftedKey, sift
from qinternet.postprocessing.transcript import Party, Transcript
from qinternet.postprocessing.verification import verify_frames
from qinternet.qkd.entropy import binary_entropy
from qinternet.qkd.finite_key import DecoyCounts, FiniteKeyBounds, FiniteKeyParams, finite_key_length
from qinternet.qkd.record import Basis, DetectionRecord

__all__ = ["ErrorCorrection", "PipelineAbort", "PipelineParams", "PipelineResult", "postprocess"]

U8 = NDArray[np.uint8]

_WORD_BITS = 64
_PRESHARED_AUTH_BITS = 64 * 64
"""Pre-shared Wegman-Carter key drawn when none is given: a hash key and 63 pads (a round uses 9 words)."""
_STAGES = 4
_AUTH_BITS_NEEDED = 64 * (1 + 2 * _STAGES)
"""A hash key and two pads per authenticated stage."""
_MIN_KEY_BASIS_BITS = 1024
"""Fewer key-basis bits than this make no meaningful round (Cascade needs blocks of several bits)."""


class ErrorCorrection(enum.Enum):
    """Error-correction methods of the pipeline."""

    CASCADE = "cascade"
    LDPC = "ldpc"


class PipelineAbort(enum.Enum):
    """The stage at which a round gave up (``PipelineResult.abort_reason`` says the details in words)."""

    AUTHENTICATION = "authentication-failed"
    """A tag of the classical channel did not verify (a forged or corrupted message)."""
    BLOCK_TOO_SMALL = "block-too-small"
    """Too few key-basis bits, or no test bits, to estimate anything."""
    QBER_TOO_HIGH = "qber-above-threshold"
    """The estimated QBER is at or above ``max_qber``."""
    ERROR_CORRECTION = "error-correction-failed"
    """LDPC decoding failed in some codeword."""
    VERIFICATION = "verification-failed"
    """The hash tags of some frame differed after error correction."""
    FINITE_KEY = "finite-key-bounds"
    """The finite-key bounds left no key (``bounds.abort_reason`` says which)."""
    AUTHENTICATION_COST = "authentication-uses-whole-key"
    """Authenticating the round would use all the key it makes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineParams:
    """Choices of the post-processing round.

    Attributes:
        security: ``eps_sec`` and ``eps_cor`` (Lim et al.'s parameters).
        ec: error-correction method.
        cascade_variant: a name in :data:`qinternet.postprocessing.cascade.CASCADE_VARIANTS`.
        frame_bits: frame length of Cascade and of verification (the key-basis bits are cut into equal
            frames of about this size; LDPC cuts the same bits into its own codewords).
        max_qber: abort when the test-basis error rate reaches it (no key is possible near 11 %).
    """

    security: FiniteKeyParams = FiniteKeyParams()  # noqa: RUF009 - frozen, immutable default
    ec: ErrorCorrection = ErrorCorrection.CASCADE
    cascade_variant: str = "option7"
    frame_bits: int = 1 << 16
    max_qber: float = 0.11

    def __post_init__(self) -> None:
        if self.cascade_variant not in CASCADE_VARIANTS:
            known = ", ".join(CASCADE_VARIANTS)
            raise ParameterError("cascade_variant", f"unknown variant {self.cascade_variant!r}; known: {known}")
        if self.frame_bits < 64:
            raise ParameterError("frame_bits", f"must be at least 64, got {self.frame_bits}")
        require_epsilon("max_qber", self.max_qber)
        if self.max_qber > 0.5:
            raise ParameterError("max_qber", f"must be at most 0.5, got {self.max_qber}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineResult:
    """The outcome of one round. The keys are kept out of :meth:`to_dict` and of the repr.

    Attributes:
        sifted_bits: detections with matching bases.
        key_basis_bits: sifted bits in the key basis (Z), the input of error correction.
        test_basis_bits: sifted bits in the test basis (X), all disclosed.
        qber_estimate: error rate of the test basis.
        key_qber: error rate of the key basis, known after error correction.
        phase_error_bound: Lim et al.'s ``phi_X^U``.
        ec_leak_bits: information disclosed by error correction (Cascade's parities, or the LDPC syndromes
            less the punctured bits).
        ec_efficiency: ``ec_leak_bits / (n h(key_qber))``.
        ec_round_trips: round trips of error correction (1 for LDPC).
        ec_frame_errors: frames whose verification tags differed, or LDPC codewords that did not decode
            (either aborts the round).
        verification_ok: the hash tags of every frame agreed.
        pa_output_bits: ``l``, the length privacy amplification produced.
        auth_bits_consumed: Wegman-Carter key used by the round's transcript.
        auth_failure_prob: bound on the probability that a forged message passed a tag (sum over tags
            of ``L / 2^64``).
        final_key_bits: net new key, ``l - auth_bits_consumed`` (0 when aborted).
        aborted: no key was produced.
        abort_stage: the stage that gave up (None: key was produced).
        abort_reason: why, in words (the stage's details), when aborted.
        messages: public messages exchanged; message_bits: their total length.
        bounds: the finite-key bounds, when the round got that far.
        alice_key, bob_key: the net keys (uint8 0/1), identical unless verification failed.
    """

    sifted_bits: int
    key_basis_bits: int
    test_basis_bits: int
    qber_estimate: float
    key_qber: float | None
    phase_error_bound: float | None
    ec_leak_bits: int
    ec_efficiency: float | None
    ec_round_trips: int
    ec_frame_errors: int
    verification_ok: bool | None
    pa_output_bits: int
    auth_bits_consumed: int
    auth_failure_prob: float
    final_key_bits: int
    aborted: bool
    abort_stage: PipelineAbort | None
    abort_reason: str | None
    messages: int
    message_bits: int
    bounds: FiniteKeyBounds | None
    alice_key: U8 = field(repr=False)
    bob_key: U8 = field(repr=False)

    def __repr__(self) -> str:  # never print key material
        return f"PipelineResult(final_key_bits={self.final_key_bits}, aborted={self.aborted})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, without the keys."""
        data = {k: v for k, v in asdict(self).items() if k not in {"alice_key", "bob_key", "bounds"}}
        data["abort_stage"] = None if self.abort_stage is None else self.abort_stage.value
        data["bounds"] = None if self.bounds is None else self.bounds.to_dict()
        return data


@dataclass(slots=True)
class _Round:
    """State shared by the stages of one round (both parties' views, kept apart by the transcript)."""

    params: PipelineParams
    system: QkdSystem
    transcript: Transcript
    rng: np.random.Generator


def _counts(key: SiftedKey, test: SiftedKey, bob_corrected: U8, used: int, system: QkdSystem) -> DecoyCounts:
    """Per-class detections and errors in both bases.

    Key basis: the first ``used`` bits (those cut into frames), with the errors error correction found;
    test basis: every bit, with the errors seen when they were disclosed.
    """
    classes = len(system.source.intensities)

    def per_class(labels: NDArray[np.int8], wrong: NDArray[np.bool_]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        # One pass: bin 2 k counts the right bits of class k, bin 2 k + 1 its errors.
        bins = np.bincount(2 * labels.astype(np.intp) + wrong, minlength=2 * classes).reshape(classes, 2)
        return tuple(float(v) for v in bins.sum(axis=1)), tuple(float(v) for v in bins[:, 1])

    key_detections, key_errors = per_class(key.intensity_class[:used], key.bob[:used] != bob_corrected)
    test_detections, test_errors = per_class(test.intensity_class, test.alice != test.bob)
    return DecoyCounts(
        intensities=system.source.intensities,
        intensity_probs=system.source.intensity_probs,
        key_detections=key_detections,
        key_errors=key_errors,
        test_detections=test_detections,
        test_errors=test_errors,
    )


def _frame_shape(n: int, frame_bits: int) -> tuple[int, int]:
    """``(frames, bits)``: equal frames of about ``frame_bits`` bits; fewer than ``frames`` bits are left
    over and not used."""
    frames = max(1, round(n / frame_bits))
    return frames, n // frames


def _verify_frames(state: _Round, alice: NDArray[np.uint8], bob: NDArray[np.uint8]) -> tuple[int, int]:
    """Compare the tags of every frame (rows of ``alice``, ``bob``) to ``eps_cor / frames`` (a union
    bound keeps the whole key ``eps_cor``-correct); the number of frames whose tags differ, and the tag
    bits disclosed."""
    per_frame = state.params.security.eps_cor / alice.shape[0]
    outcome = verify_frames(alice, bob, per_frame, state.rng)
    # Stand-in bits of the hash keys and the tags (shared keys, one set of tags per frame).
    state.transcript.send(Party.ALICE, np.zeros(outcome.tag_bits * (1 + alice.shape[0]), dtype=np.uint8))
    state.transcript.send(Party.BOB, outcome.ok.astype(np.uint8))
    return int(np.count_nonzero(~outcome.ok)), outcome.tag_bits * alice.shape[0]


@dataclass(frozen=True, slots=True)
class _Corrected:
    """Bob's frames after error correction and what it cost."""

    bob: U8
    leak_bits: int
    round_trips: int
    undecoded_frames: int = 0


def _error_correct(state: _Round, alice: U8, bob: U8, qber: float) -> _Corrected:
    """Correct Bob's frames (rows of ``bob``) towards Alice's with the chosen method."""
    if state.params.ec is ErrorCorrection.LDPC:
        return _ldpc(state, alice, bob, qber)
    return _cascade(state, alice, bob, qber)


def _cascade(state: _Round, alice: U8, bob: U8, qber: float) -> _Corrected:
    """Cascade over the frames, both parties in this process (the compiled path of :mod:`.cascade`).

    The transcript gets, per round trip, Bob's questions (a 64-bit word each: frame, pass, start and
    length of a block) and Alice's answers (one bit each), as stand-in bits of those lengths: the compiled
    path does not keep the messages themselves. The leak, the messages and the authentication key they cost
    are exact; between two key managers :func:`.cascade.reconcile` runs over a real oracle instead.
    """
    result = reconcile_in_process(alice, bob, qber, state.params.cascade_variant, state.rng)
    # A frame of n bits cannot disclose more than n independent parities.
    leak = int(np.minimum(result.leaked_bits, alice.shape[1]).sum())
    answers = int(result.leaked_bits.sum())
    trips = max(1, result.round_trips)
    for trip in range(trips):
        share = answers // trips + (1 if trip < answers % trips else 0)
        state.transcript.send(Party.BOB, np.zeros(_WORD_BITS * share, dtype=np.uint8))
        state.transcript.send(Party.ALICE, np.zeros(share, dtype=np.uint8))
    return _Corrected(bob=result.corrected_bits, leak_bits=leak, round_trips=result.round_trips)


def _ldpc(state: _Round, alice: U8, bob: U8, qber: float) -> _Corrected:
    """One-way LDPC reconciliation of the whole key: the plan follows from the public QBER estimate,
    Alice sends her syndromes, Bob decodes alone and announces which codewords converged."""
    plan = ldpc_plan(alice.size, qber)
    syndromes = state.transcript.send(Party.ALICE, ldpc_syndromes(alice.reshape(-1), plan, state.rng).reshape(-1))
    decoded = ldpc_decode(bob.reshape(-1), plan, syndromes.reshape(plan.frames, plan.code.m))
    state.transcript.send(Party.BOB, decoded.converged.astype(np.uint8))
    return _Corrected(
        bob=decoded.corrected_bits.reshape(bob.shape),
        leak_bits=min(plan.leaked_bits, alice.size),
        round_trips=1,
        undecoded_frames=int(np.count_nonzero(~decoded.converged)),
    )


def postprocess(
    record: DetectionRecord,
    system: QkdSystem,
    params: PipelineParams,
    rng: np.random.Generator,
    *,
    auth_key: U8 | None = None,
) -> PipelineResult:
    """Run one round of post-processing on ``record`` (see the module docstring).

    Args:
        record: the detection record of a block (Alice's and Bob's data; each stage uses only its
            own party's part plus the transcript).
        system: the devices (intensities and probabilities, ``f`` for the leak estimate).
        params: security, error correction and abort threshold.
        rng: public randomness (permutation seeds, hash keys, the privacy-amplification seed).
        auth_key: the pre-shared Wegman-Carter key (uint8 0/1); drawn from ``rng`` when None, which
            stands for a key shared at installation.
    """
    shared = rng.integers(0, 2, _PRESHARED_AUTH_BITS, dtype=np.uint8) if auth_key is None else auth_key
    if shared.shape[0] < _AUTH_BITS_NEEDED:
        raise ParameterError("auth_key", f"needs at least {_AUTH_BITS_NEEDED} bits, got {shared.shape[0]}")
    transcript = Transcript(WegmanCarter(KeyPool(shared.copy())), WegmanCarter(KeyPool(shared.copy())))
    state = _Round(params=params, system=system, transcript=transcript, rng=rng)

    # 1. Sifting: Bob's bases out, Alice's matches and intensity classes back.
    transcript.send(Party.BOB, record.bob_basis.astype(np.uint8))
    transcript.send(Party.ALICE, (record.alice_basis == record.bob_basis).astype(np.uint8))
    sifted = sift(record)
    transcript.send(
        Party.ALICE, np.unpackbits(sifted.intensity_class.astype(np.uint8)[:, None], axis=1)[:, -2:].reshape(-1)
    )
    transcript.authenticate("sifting")

    # 2. Parameter estimation on the test basis: Alice discloses her test bits.
    is_test = sifted.basis == Basis.X
    test, key = sifted.where(is_test), sifted.where(~is_test)
    transcript.send(Party.ALICE, test.alice)
    qber = test.error_count() / len(test) if len(test) else math.nan
    base = {
        "sifted_bits": len(sifted),
        "key_basis_bits": len(key),
        "test_basis_bits": len(test),
        "qber_estimate": qber,
    }
    if not transcript.authenticate("parameter estimation"):
        return _aborted(base, transcript, PipelineAbort.AUTHENTICATION, "authentication failed")
    if not len(test) or len(key) < _MIN_KEY_BASIS_BITS:
        return _aborted(
            base,
            transcript,
            PipelineAbort.BLOCK_TOO_SMALL,
            f"block too small: fewer than {_MIN_KEY_BASIS_BITS} key-basis bits or no test bits",
        )
    if qber >= params.max_qber:
        return _aborted(
            base, transcript, PipelineAbort.QBER_TOO_HIGH, f"QBER estimate {qber:.4f} at or above {params.max_qber}"
        )

    # 3. Error correction of the key basis, in equal frames.
    frames, bits = _frame_shape(len(key), params.frame_bits)
    used = frames * bits
    alice_frames = key.alice[:used].reshape(frames, bits)
    bob_frames = key.bob[:used].reshape(frames, bits)
    outcome = _error_correct(state, alice_frames, bob_frames, max(qber, 1e-4))
    corrected, leak = outcome.bob, outcome.leak_bits
    key_errors = int(np.count_nonzero(bob_frames != corrected))
    key_qber = key_errors / used
    efficiency = leak / (used * float(binary_entropy(key_qber))) if key_errors else None
    ec = {
        "key_qber": key_qber,
        "ec_leak_bits": leak,
        "ec_efficiency": efficiency,
        "ec_round_trips": outcome.round_trips,
    }
    if outcome.undecoded_frames:
        reason = f"LDPC decoding failed in {outcome.undecoded_frames} codewords"
        return _aborted(
            {**base, **ec, "ec_frame_errors": outcome.undecoded_frames},
            transcript,
            PipelineAbort.ERROR_CORRECTION,
            reason,
        )

    # 4. Verification of every frame; any failure aborts the round.
    failed, tag_bits = _verify_frames(state, alice_frames, corrected)
    ec["ec_frame_errors"] = failed
    if not transcript.authenticate("error correction and verification"):
        return _aborted(
            {**base, **ec, "verification_ok": failed == 0},
            transcript,
            PipelineAbort.AUTHENTICATION,
            "authentication failed",
        )
    if failed:
        return _aborted(
            {**base, **ec, "verification_ok": False},
            transcript,
            PipelineAbort.VERIFICATION,
            f"verification failed in {failed} frames",
        )
    alice_key, corrected = alice_frames.reshape(-1), corrected.reshape(-1)
    counts = _counts(key, test, corrected, used, system)

    # 5. Finite-key length with the actual leak and tag bits.
    bounds = finite_key_length(
        counts,
        params=params.security,
        ec_efficiency=system.ec_efficiency,
        ec_leak_bits=float(leak),
        verification_leak_bits=float(tag_bits),
    )
    done = {
        **base,
        **ec,
        "verification_ok": True,
        "phase_error_bound": bounds.phase_error_bound,
        "bounds": bounds,
    }
    if bounds.aborted:
        reason = bounds.abort_reason.value if bounds.abort_reason is not None else "no key"
        return _aborted(done, transcript, PipelineAbort.FINITE_KEY, f"finite-key bounds: {reason}")
    length = bounds.key_length_bits

    # 6. Privacy amplification with a public Toeplitz seed.
    seed = rng.integers(0, 2, toeplitz_seed_bits(alice_key.shape[0], length), dtype=np.uint8)
    received_seed = transcript.send(Party.ALICE, seed)
    if not transcript.authenticate("privacy amplification"):
        return _aborted(done, transcript, PipelineAbort.AUTHENTICATION, "authentication failed")
    alice_final = toeplitz_hash(alice_key, seed, length)
    bob_final = toeplitz_hash(corrected, received_seed, length)

    # 7. Pay back the authentication key from the new key.
    spent = transcript.auth_bits_consumed
    if spent >= length:
        return _aborted(
            {**done, "pa_output_bits": length},
            transcript,
            PipelineAbort.AUTHENTICATION_COST,
            "authentication would use the whole key",
        )
    return PipelineResult(
        **_defaults(done, transcript),
        pa_output_bits=length,
        final_key_bits=length - spent,
        aborted=False,
        abort_stage=None,
        abort_reason=None,
        alice_key=alice_final[spent:],
        bob_key=bob_final[spent:],
    )


def _defaults(values: dict[str, Any], transcript: Transcript) -> dict[str, Any]:
    """The fields every result has, filled in from ``values`` where a stage got that far."""
    return {
        "sifted_bits": values.get("sifted_bits", 0),
        "key_basis_bits": values.get("key_basis_bits", 0),
        "test_basis_bits": values.get("test_basis_bits", 0),
        "qber_estimate": values.get("qber_estimate", math.nan),
        "key_qber": values.get("key_qber"),
        "phase_error_bound": values.get("phase_error_bound"),
        "ec_leak_bits": values.get("ec_leak_bits", 0),
        "ec_efficiency": values.get("ec_efficiency"),
        "ec_round_trips": values.get("ec_round_trips", 0),
        "ec_frame_errors": values.get("ec_frame_errors", 0),
        "verification_ok": values.get("verification_ok"),
        "auth_bits_consumed": transcript.auth_bits_consumed,
        "auth_failure_prob": transcript.forgery_prob_bound,
        "messages": transcript.messages,
        "message_bits": transcript.message_bits,
        "bounds": values.get("bounds"),
    }


def _aborted(values: dict[str, Any], transcript: Transcript, stage: PipelineAbort, reason: str) -> PipelineResult:
    empty = np.zeros(0, dtype=np.uint8)
    return PipelineResult(
        **_defaults(values, transcript),
        pa_output_bits=values.get("pa_output_bits", 0),
        final_key_bits=0,
        aborted=True,
        abort_stage=stage,
        abort_reason=reason,
        alice_key=empty,
        bob_key=empty,
    )
