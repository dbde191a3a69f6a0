"""Monte-Carlo simulation of a decoy-state BB84 link whose cost grows with detections, not pulses.

For a block of ``N`` pulses the number of pulses in each (intensity, Alice's basis, Bob's basis, outcome)
category is one multinomial draw from the exact outcome probabilities of :mod:`qinternet.physics`; only
the detected events are then generated: their slots (a uniform random subset of the block, kept sorted),
Alice's bits, and Bob's bits from the outcome (right detector, wrong detector, or a double click with a
random bit). A second of a 1 GHz link at 50 km costs about a million events.

After-pulses enter as a class-independent background (:func:`qinternet.physics.background_prob`); dead
time is applied to the sorted events afterwards (a click blinds both detectors for
``ceil(dead_time_s * rep_rate_hz)`` slots).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qinternet.errors import ParameterError
from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import Channel, require_scalar
from qinternet.physics.detectors import background_prob
from qinternet.qkd.attacks import Honest, Intervention
from qinternet.qkd.observables import dead_time_slots, receiver_dark_count_prob
from qinternet.qkd.record import DetectionRecord, LinkCounts

__all__ = [
    "MAX_BLOCK_PULSES",
    "MAX_PULSES",
    "LinkSampler",
    "apply_dead_time",
    "block_pulses_for",
    "compile_link",
    "count_link",
    "sample_block",
    "simulate_link",
]

MAX_BLOCK_PULSES = 1 << 30
"""Largest block: bounds the pulses per multinomial draw and the slot range of one record."""
EVENTS_PER_BLOCK = 1 << 24
"""Expected detection events per block when detections are frequent (about 0.5 GB of arrays)."""
MAX_PULSES = 1 << 62
"""Largest number of pulses a simulation accepts (slots are int64)."""

# Outcome codes of a pulse at Bob.
_NONE, _RIGHT, _WRONG, _DOUBLE = range(4)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSampler:
    """A link compiled for sampling: the probability of every category of pulse.

    Attributes:
        probabilities: float64, shape (K, 2, 2, 4): P(class, Alice's basis, Bob's basis, outcome).
        intensities: mean photon number of each class.
        dead_time_slots: slots during which the detectors are blind after a click.
    """

    probabilities: NDArray[np.float64]
    intensities: tuple[float, ...]
    dead_time_slots: int
    # Derived in __post_init__: category probabilities as a flat vector, and for the detected
    # categories (outcome != none) their class, bases and outcome.
    flat_probabilities: NDArray[np.float64] = field(init=False, repr=False)
    detected_category: NDArray[np.bool_] = field(init=False, repr=False)
    category_class: NDArray[np.int8] = field(init=False, repr=False)
    category_alice_basis: NDArray[np.int8] = field(init=False, repr=False)
    category_bob_basis: NDArray[np.int8] = field(init=False, repr=False)
    category_outcome: NDArray[np.int8] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        k, a, b, outcome = np.unravel_index(np.arange(self.probabilities.size), self.probabilities.shape)
        detected = outcome != _NONE
        derived = {
            "flat_probabilities": self.probabilities.ravel() / self.probabilities.sum(),
            "detected_category": detected,
            "category_class": k[detected].astype(np.int8),
            "category_alice_basis": a[detected].astype(np.int8),
            "category_bob_basis": b[detected].astype(np.int8),
            "category_outcome": outcome[detected].astype(np.int8),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def detection_probability(self) -> float:
        """Mean probability that a pulse gives a detection event (before dead time)."""
        return float(1.0 - self.probabilities[..., _NONE].sum())


def compile_link(system: QkdSystem, channel: Channel, intervention: Intervention | None = None) -> LinkSampler:
    """Outcome probabilities of every category of pulse for ``system`` over ``channel``.

    ``channel`` is the path from Alice to Bob (:mod:`qinternet.physics.channels`; one transmittance, not a
    series of samples); its background adds to the dark counts of Bob's detectors. ``intervention`` is what
    happens on it (default :class:`~qinternet.qkd.attacks.Honest`; an attack from :mod:`qinternet.qkd.attacks`
    otherwise).
    """
    require_scalar(channel, "compile_link")
    intervention = Honest() if intervention is None else intervention
    source, detector = system.source, system.detector
    mu = np.asarray(source.intensities, dtype=np.float64)[:, None, None]
    basis = np.array([system.basis_prob, 1.0 - system.basis_prob])
    error = np.where(np.eye(2, dtype=bool), system.misalignment_error, 0.5)[None, :, :]  # (1, Alice's, Bob's)
    weight = np.asarray(source.intensity_probs)[:, None, None] * basis[:, None] * basis[None, :]
    # After-pulses are a background driven by the mean click probability of the whole pulse train.
    dark = receiver_dark_count_prob(system, channel)
    raw = intervention.clicks(system, channel, mu, error, dark)
    mean_click = float(np.sum(weight * np.broadcast_to(raw.gain, weight.shape)))
    background = background_prob(dark, detector.after_pulse_prob, mean_click)
    clicks = intervention.clicks(system, channel, mu, error, background)
    outcome = np.stack(np.broadcast_arrays(clicks.none, clicks.only_correct, clicks.only_wrong, clicks.both), axis=-1)
    return LinkSampler(
        probabilities=weight[..., None] * outcome,
        intensities=source.intensities,
        dead_time_slots=dead_time_slots(system),
    )


_DENSE_FRACTION = 1 / 8
"""Above this fraction of detected slots the subset is drawn by shuffling a mask of the whole block."""


def _sorted_subset(population: int, size: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """A uniformly random ``size``-subset of ``range(population)``, sorted.

    Sparse case: draw integers, drop repeats, redraw as many as were dropped; by symmetry the set is
    uniform over subsets of its size at every round, and each round leaves at most a fraction
    ``size / population`` of repeats, so a few rounds suffice. Dense case (more than
    :data:`_DENSE_FRACTION` of the slots): shuffle a mask with ``size`` true entries, one byte a slot.
    """
    if size > _DENSE_FRACTION * population:
        mask = np.zeros(population, dtype=bool)
        mask[:size] = True
        rng.shuffle(mask)
        return np.flatnonzero(mask).astype(np.int64)
    chosen = np.sort(rng.integers(0, population, size, dtype=np.int64))
    while True:
        repeat = np.flatnonzero(chosen[1:] == chosen[:-1])
        if repeat.size == 0:
            return chosen
        chosen = np.delete(chosen, repeat)
        chosen = np.sort(np.concatenate([chosen, rng.integers(0, population, repeat.size, dtype=np.int64)]))


def sample_block(sampler: LinkSampler, pulses: int, rng: np.random.Generator) -> DetectionRecord:
    """Simulate ``pulses`` pulses and return their detection events (dead time not yet applied)."""
    counts = rng.multinomial(pulses, sampler.flat_probabilities)
    detected_counts = counts[sampler.detected_category]
    n_events = int(detected_counts.sum())
    order = rng.permutation(np.repeat(np.arange(detected_counts.size, dtype=np.int32), detected_counts))
    outcome = sampler.category_outcome[order]
    alice_bit = rng.integers(0, 2, n_events, dtype=np.int8)
    random_bit = rng.integers(0, 2, n_events, dtype=np.int8)
    bob_bit = np.where(outcome == _RIGHT, alice_bit, np.where(outcome == _WRONG, 1 - alice_bit, random_bit))
    return DetectionRecord(
        slot=_sorted_subset(pulses, n_events, rng),
        intensity_class=sampler.category_class[order],
        alice_basis=sampler.category_alice_basis[order],
        alice_bit=alice_bit,
        bob_basis=sampler.category_bob_basis[order],
        bob_bit=bob_bit.astype(np.int8),
        double_click=outcome == _DOUBLE,
        intensities=sampler.intensities,
        pulses=pulses,
        sent=counts.reshape(sampler.probabilities.shape).sum(axis=-1).astype(np.int64),
    )


def apply_dead_time(
    record: DetectionRecord, dead_slots: int, last_click: int | None = None
) -> tuple[DetectionRecord, int | None]:
    """Drop the events that fall within ``dead_slots`` slots after an accepted click.

    Args:
        record: events in slot order.
        dead_slots: slots blinded after a click (0: nothing is dropped).
        last_click: slot of the last accepted click before this record, counted from the record's first
            slot (so negative), or None.

    Returns:
        The record without the blinded events, and the slot of the last accepted click counted from the
        start of the next block, to pass on.

    An event further than ``dead_slots`` from its predecessor is always kept; only the others need a
    sequential look, and they are few when the click probability per dead time is small.
    """
    slots = record.slot
    if dead_slots <= 0:
        return record, None
    before = last_click if last_click is not None else -dead_slots - 1
    previous = np.concatenate([np.array([before], dtype=np.int64), slots[:-1]])
    keep = np.ones(len(record), dtype=bool)
    reference = before
    for i in np.flatnonzero(slots - previous <= dead_slots).tolist():
        if i == 0:
            reference = before
        elif keep[i - 1]:
            reference = int(slots[i - 1])
        # else: i - 1 was blinded, and `reference` still holds the click that blinded it.
        if int(slots[i]) - reference <= dead_slots:
            keep[i] = False
    kept = record.select(keep) if not keep.all() else record
    last = int(kept.slot[-1]) if len(kept) else before
    return kept, last - record.pulses


def block_pulses_for(sampler: LinkSampler) -> int:
    """Pulses per block such that a block holds about :data:`EVENTS_PER_BLOCK` events, at most
    :data:`MAX_BLOCK_PULSES` pulses."""
    p = max(sampler.detection_probability, 1.0 / MAX_BLOCK_PULSES)
    return max(1, min(MAX_BLOCK_PULSES, int(EVENTS_PER_BLOCK / p)))


def simulate_link(
    sampler: LinkSampler, pulses: int, rng: np.random.Generator, *, block_pulses: int | None = None
) -> Iterator[DetectionRecord]:
    """Yield the detection records of consecutive blocks covering ``pulses`` pulses.

    Each block's slots count from the block's first pulse; :meth:`DetectionRecord.concatenate` joins
    them. Dead time carries over from one block to the next. ``block_pulses`` defaults to
    :func:`block_pulses_for` (memory stays bounded however likely detections are).
    """
    if not 1 <= pulses <= MAX_PULSES:
        raise ParameterError("pulses", f"must be a whole number in [1, 2**62], got {pulses}")
    size_limit = block_pulses_for(sampler) if block_pulses is None else block_pulses
    if not 1 <= size_limit <= MAX_PULSES:
        raise ParameterError("block_pulses", f"must be a whole number in [1, 2**62], got {size_limit}")
    last_click: int | None = None
    remaining = pulses
    while remaining > 0:
        size = min(size_limit, remaining)
        block, last_click = apply_dead_time(sample_block(sampler, size, rng), sampler.dead_time_slots, last_click)
        remaining -= size
        yield block


def count_link(
    sampler: LinkSampler,
    pulses: int,
    rng: np.random.Generator,
    *,
    block_pulses: int | None = None,
    on_block: Callable[[DetectionRecord], None] | None = None,
) -> LinkCounts:
    """Simulate ``pulses`` pulses block by block and return the summed counts.

    ``on_block`` sees every block's record as it is made (to keep it, or to report progress).
    """
    total: LinkCounts | None = None
    for block in simulate_link(sampler, pulses, rng, block_pulses=block_pulses):
        counts = LinkCounts.from_record(block)
        total = counts if total is None else total + counts
        if on_block is not None:
            on_block(block)
    assert total is not None  # simulate_link yields at least one block for pulses >= 1
    return total
