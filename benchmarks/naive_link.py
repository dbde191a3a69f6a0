"""Naive baseline: the decoy-state BB84 link of :mod:`qinternet.qkd.montecarlo`, sampled pulse by pulse.

Every pulse gets its own intensity class, Alice's basis and bit, Bob's basis, a Poisson photon number, a
binomial number of photons that reach Bob, a binomial split of those between the right and the wrong
detector (misalignment ``e_d`` when the bases agree, 1/2 when they do not) and an independent dark count
in each of the two threshold detectors. A double click gets a random bit (squashing model). This is the
straightforward vectorised numpy code one would write first: its cost grows with the number of pulses,
whereas qinternet's sampler draws one multinomial per block and then generates only the detections.

The physics is the same as :func:`qinternet.qkd.montecarlo.compile_link` for systems without after-pulses
and dead time (such as the ``gys2004`` preset), so both give the same gains within statistical error.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from qinternet.params.devices import QkdSystem
from qinternet.physics.channels import fibre_channel
from qinternet.qkd.observables import link_transmittance
from qinternet.qkd.record import DetectionRecord, LinkCounts

__all__ = ["NAIVE_BLOCK_PULSES", "naive_block", "simulate_naive_link"]

NAIVE_BLOCK_PULSES = 1_000_000


def _require_supported(system: QkdSystem) -> None:
    """Refuse the device features the naive baseline does not model."""
    detector = system.detector
    if detector.after_pulse_prob != 0.0 or detector.dead_time_s != 0.0:
        raise ValueError("the naive baseline models neither after-pulses nor dead time; use e.g. gys2004")


def _clicks(
    arrived: NDArray[np.int64],
    wrong_prob: NDArray[np.float64],
    dark_count_prob: float,
    rng: np.random.Generator,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Clicks of the right and the wrong detector for pulses with ``arrived`` photons at Bob.

    Args:
        arrived: int64, shape (N,): photons that reach Bob's detectors.
        wrong_prob: float64, shape (N,): probability that a photon goes to the wrong detector.
        dark_count_prob: dark-count probability per gate of each detector.
        rng: random generator.

    Returns:
        bool arrays, shape (N,): the right detector clicked, the wrong detector clicked.
    """
    wrong_photons = rng.binomial(arrived, wrong_prob)
    right_photons = arrived - wrong_photons
    n = arrived.shape[0]
    right = (right_photons > 0) | (rng.random(n) < dark_count_prob)
    wrong = (wrong_photons > 0) | (rng.random(n) < dark_count_prob)
    return right, wrong


def naive_block(system: QkdSystem, transmittance: float, pulses: int, rng: np.random.Generator) -> DetectionRecord:
    """Simulate ``pulses`` pulses one by one (vectorised) and return their detection record.

    Args:
        system: the QKD system (no after-pulses, no dead time).
        transmittance: ``eta``, probability that a photon sent by Alice is detected (fibre and Bob).
        pulses: number of pulses in the block.
        rng: random generator.
    """
    source = system.source
    intensities = np.asarray(source.intensities, dtype=np.float64)
    k = rng.choice(intensities.size, size=pulses, p=np.asarray(source.intensity_probs)).astype(np.int8)
    alice_basis = (rng.random(pulses) >= system.basis_prob).astype(np.int8)
    bob_basis = (rng.random(pulses) >= system.basis_prob).astype(np.int8)
    alice_bit = rng.integers(0, 2, pulses, dtype=np.int8)
    photons = rng.poisson(intensities[k])
    arrived = rng.binomial(photons, transmittance)
    wrong_prob = np.where(alice_basis == bob_basis, system.misalignment_error, 0.5)
    right, wrong = _clicks(arrived, wrong_prob, system.detector.dark_count_prob, rng)
    random_bit = rng.integers(0, 2, pulses, dtype=np.int8)
    bob_bit = np.where(right & ~wrong, alice_bit, np.where(wrong & ~right, 1 - alice_bit, random_bit))
    detected = right | wrong
    category = (k.astype(np.int64) * 2 + alice_basis) * 2 + bob_basis
    sent = np.bincount(category, minlength=4 * intensities.size).reshape(intensities.size, 2, 2)
    return DetectionRecord(
        slot=np.flatnonzero(detected).astype(np.int64),
        intensity_class=k[detected],
        alice_basis=alice_basis[detected],
        alice_bit=alice_bit[detected],
        bob_basis=bob_basis[detected],
        bob_bit=bob_bit[detected].astype(np.int8),
        double_click=(right & wrong)[detected],
        intensities=source.intensities,
        pulses=pulses,
        sent=sent.astype(np.int64),
    )


def simulate_naive_link(
    system: QkdSystem,
    distance_km: float,
    pulses: int,
    rng: np.random.Generator,
    *,
    block_pulses: int = NAIVE_BLOCK_PULSES,
) -> LinkCounts:
    """Counts of ``pulses`` pulses over ``distance_km``, simulated in blocks of ``block_pulses``."""
    _require_supported(system)
    eta = float(link_transmittance(system, fibre_channel(system.fibre, distance_km)))
    total: LinkCounts | None = None
    for start in range(0, pulses, block_pulses):
        counts = LinkCounts.from_record(naive_block(system, eta, min(block_pulses, pulses - start), rng))
        total = counts if total is None else total + counts
    if total is None:
        raise ValueError(f"pulses must be > 0, got {pulses}")
    return total
