"""Pulse-by-pulse reference simulation of an attacked link, with what Eve knows about every event.

The link Monte-Carlo (:mod:`qinternet.qkd.montecarlo`) samples Bob's outcomes from closed-form click
probabilities and never draws Eve's variables. To test what an attack gives Eve, and to check those closed
forms independently, an attack can also be simulated pulse by pulse from elementary random draws (photon
numbers, Eve's choices, each detector). This costs time and memory per *pulse*, so it is for tests and
demonstrations of up to :data:`MAX_REFERENCE_PULSES` pulses, never for long runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import Channel
from qinternet.physics.detectors import background_prob
from qinternet.qkd.observables import receiver_dark_count_prob
from qinternet.qkd.record import DetectionRecord

if TYPE_CHECKING:
    from qinternet.qkd.attacks import Intervention

__all__ = [
    "MAX_REFERENCE_PULSES",
    "Choices",
    "Eavesdropped",
    "attacked_background_prob",
    "draw_choices",
    "simulate_pulses",
]

MAX_REFERENCE_PULSES = 10**9
"""Most pulses a pulse-by-pulse simulation accepts (it costs time for every pulse, not every detection)."""
_CHUNK_PULSES = 1 << 22
"""Pulses drawn at a time (about 100 MB of temporary arrays)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Choices:
    """Alice's and Bob's random choices for a run of ``N`` pulses (each an int8 array of shape (N,))."""

    intensity_class: NDArray[np.int8]
    alice_basis: NDArray[np.int8]
    alice_bit: NDArray[np.int8]
    bob_basis: NDArray[np.int8]

    def sent(self, classes: int) -> NDArray[np.int64]:
        """Pulses per (class, Alice's basis, Bob's basis): int64, shape (classes, 2, 2)."""
        index = (self.intensity_class.astype(np.int64) * 2 + self.alice_basis) * 2 + self.bob_basis
        return np.bincount(index, minlength=4 * classes).astype(np.int64).reshape(classes, 2, 2)


def draw_choices(system: QkdSystem, pulses: int, rng: np.random.Generator) -> Choices:
    """Intensity classes (``intensity_probs``), bases (Z with ``basis_prob``) and Alice's bits for ``pulses``."""
    probs = np.asarray(system.source.intensity_probs, dtype=np.float64)
    return Choices(
        intensity_class=rng.choice(probs.size, size=pulses, p=probs / probs.sum()).astype(np.int8),
        alice_basis=(rng.random(pulses) >= system.basis_prob).astype(np.int8),
        alice_bit=rng.integers(0, 2, pulses, dtype=np.int8),
        bob_basis=(rng.random(pulses) >= system.basis_prob).astype(np.int8),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Eavesdropped:
    """Bob's detection record and, for each of its ``D`` events, Eve's guess of Bob's bit.

    Attributes:
        record: what Alice and Bob see (as from :func:`qinternet.qkd.montecarlo.simulate_link`).
        eve_bit: int8, shape (D,): Eve's guess of ``record.bob_bit``, event by event.
    """

    record: DetectionRecord
    eve_bit: NDArray[np.int8]

    @property
    def sifted(self) -> NDArray[np.bool_]:
        """bool, shape (D,): events in which Alice's and Bob's bases agree (the sifted key)."""
        return np.asarray(self.record.alice_basis == self.record.bob_basis)

    def eve_correct(self, keep: NDArray[np.bool_] | None = None) -> tuple[int, int]:
        """``(right, total)``: how many of Eve's guesses of Bob's bit are right among the kept events."""
        right = self.eve_bit == self.record.bob_bit
        if keep is not None:
            right = right[keep]
        return int(right.sum()), int(right.size)


# Draws one chunk: (Alice's and Bob's choices, Bob clicked (N,), Bob's bit (N,), double click (N,), Eve's
# guess (N,)), all for the same N pulses.
ChunkSampler = Callable[
    [int, np.random.Generator],
    tuple[Choices, NDArray[np.bool_], NDArray[np.int8], NDArray[np.bool_], NDArray[np.int8]],
]


def simulate_pulses(system: QkdSystem, pulses: int, sample: ChunkSampler, rng: np.random.Generator) -> Eavesdropped:
    """Run ``sample`` over chunks of pulses and keep the detected events (no dead time is applied)."""
    if not 1 <= pulses <= MAX_REFERENCE_PULSES:
        raise ParameterError("pulses", f"a pulse-by-pulse simulation takes 1 to {MAX_REFERENCE_PULSES:.0e}")
    classes = len(system.source.intensities)
    blocks: list[DetectionRecord] = []
    guesses: list[NDArray[np.int8]] = []
    for start in range(0, pulses, _CHUNK_PULSES):
        size = min(_CHUNK_PULSES, pulses - start)
        choices, clicked, bob_bit, double, eve_bit = sample(size, rng)
        blocks.append(
            DetectionRecord(
                slot=np.flatnonzero(clicked).astype(np.int64),
                intensity_class=choices.intensity_class[clicked],
                alice_basis=choices.alice_basis[clicked],
                alice_bit=choices.alice_bit[clicked],
                bob_basis=choices.bob_basis[clicked],
                bob_bit=bob_bit[clicked].astype(np.int8),
                double_click=double[clicked],
                intensities=system.source.intensities,
                pulses=size,
                sent=choices.sent(classes),
            )
        )
        guesses.append(eve_bit[clicked].astype(np.int8))
    return Eavesdropped(record=DetectionRecord.concatenate(blocks), eve_bit=np.concatenate(guesses))


def attacked_background_prob(system: QkdSystem, channel: Channel, intervention: Intervention) -> float:
    """Per-detector background (dark counts, the channel's background, after-pulses) under ``intervention``
    on ``channel``, as the link Monte-Carlo uses.

    After-pulses follow the mean click probability of the whole pulse train
    (:func:`qinternet.physics.background_prob`), which the attack changes.
    """
    detector = system.detector
    dark = receiver_dark_count_prob(system, channel)
    mu = np.asarray(system.source.intensities, dtype=np.float64)[:, None, None]
    basis = np.array([system.basis_prob, 1.0 - system.basis_prob])
    error = np.where(np.eye(2, dtype=bool), system.misalignment_error, 0.5)[None, :, :]
    weight = np.asarray(system.source.intensity_probs)[:, None, None] * basis[:, None] * basis[None, :]
    raw = intervention.clicks(system, channel, mu, error, dark)
    mean_click = float(np.sum(weight * np.broadcast_to(raw.gain, weight.shape)))
    return float(background_prob(dark, detector.after_pulse_prob, mean_click))
