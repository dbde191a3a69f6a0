"""Entanglement purification on Bell-diagonal pairs: BBPSSW, DEJMPS and their schedules (recurrence, pumping).

Both protocols take two pairs, apply bilateral CNOTs (pair 1 controls, pair 2 is the target), measure the
target pair in Z at both ends and keep pair 1 when the outcomes agree. On Bell-diagonal pairs this is exact
Pauli-frame algebra (index ``k = x + 2 z`` of :mod:`qinternet.states.bell`): bilateral CNOTs copy the control's
X error onto the target and the target's Z error onto the control, so with errors ``(x1, z1)`` and
``(x2, z2)`` the round succeeds iff ``x1 == x2`` and leaves ``(x1, z1 ^ z2)``.

- BBPSSW (Bennett et al., PRL 76, 722 (1996)): both pairs twirled to Werner states first; for fidelity ``F``,
  ``F' = (F^2 + ((1-F)/3)^2) / N`` with success probability ``N = F^2 + 2F(1-F)/3 + 5((1-F)/3)^2``.
- DEJMPS (Deutsch et al., PRL 77, 2818 (1996), eq. (7)): Alice rotates her qubits by ``Rx(pi/2)``, Bob by
  ``Rx(-pi/2)``, exchanging the ``Phi-`` and ``Psi-`` coefficients; with ``(A, B, C, D)`` the ``(Phi+, Psi-,
  Psi+, Phi-)`` coefficients, ``A' = (A^2 + B^2)/N``, ``B' = 2CD/N``, ``C' = (C^2 + D^2)/N``, ``D' = 2AB/N``,
  ``N = (A + B)^2 + (C + D)^2``.

Schedules: *recurrence* purifies two copies of the previous round's output (``2**rounds`` elementary pairs per
output); *pumping* purifies the kept pair with a fresh elementary pair each round (Dür, Briegel, Cirac, Zoller,
PRA 59, 169 (1999), Sec. IV).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError
from qinternet.states import bell

__all__ = [
    "PurificationProtocol",
    "PurificationRound",
    "PurificationSchedule",
    "purify",
    "purify_rounds",
]


class PurificationProtocol(StrEnum):
    """The purification protocols by their usual names."""

    BBPSSW = "bbpssw"
    DEJMPS = "dejmps"


class PurificationSchedule(StrEnum):
    """How rounds follow each other: two copies of the last output, or the last output with a fresh pair."""

    RECURRENCE = "recurrence"
    PUMPING = "pumping"


_DEJMPS_ROTATION = np.array([0, 1, 3, 2])  # Phi- <-> Psi-: the coefficients after Rx(pi/2) x Rx(-pi/2)


def _bilateral_cnot(p: NDArray[np.float64], q: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Success probability and normalised kept pair of the bilateral-CNOT round (errors as in the module doc)."""
    out = np.zeros(np.broadcast_shapes(p.shape, q.shape))
    for k1 in range(4):
        x1, z1 = k1 & 1, k1 >> 1
        for k2 in range(4):
            x2, z2 = k2 & 1, k2 >> 1
            if x1 == x2:
                out[..., x1 + 2 * (z1 ^ z2)] += p[..., k1] * q[..., k2]
    success = out.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        state = np.where(success[..., None] > 0.0, out / success[..., None], bell.perfect_pair())
    return np.asarray(success, dtype=np.float64), np.asarray(state, dtype=np.float64)


def purify(
    p: ArrayLike, q: ArrayLike, protocol: PurificationProtocol
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One purification round on pairs ``p`` (kept) and ``q`` (sacrificed).

    Args:
        p: Bell-diagonal coefficients of the kept pair, shape ``(..., 4)``.
        q: the sacrificed pair, broadcastable with ``p``.
        protocol: BBPSSW (pairs twirled to Werner states before the round, the kept pair after it) or DEJMPS.

    Returns:
        ``(success_probability, state)``: shape ``(...)`` and the kept pair on success, shape ``(..., 4)``.
    """
    pa = bell.as_bell_diagonal(p, "purification.kept")
    qa = bell.as_bell_diagonal(q, "purification.sacrificed")
    if protocol is PurificationProtocol.BBPSSW:
        success, state = _bilateral_cnot(bell.twirl(pa), bell.twirl(qa))
        return success, bell.twirl(state)
    success, state = _bilateral_cnot(pa[..., _DEJMPS_ROTATION], qa[..., _DEJMPS_ROTATION])
    return success, state


@dataclass(frozen=True, slots=True, kw_only=True)
class PurificationRound:
    """One round of a schedule.

    Attributes:
        round: 1 for the first round.
        fidelity: fidelity of the kept pair after the round (on success).
        success_probability: probability that this round succeeds given its inputs.
        state: the kept pair's Bell-diagonal coefficients ``[Phi+, Psi+, Phi-, Psi-]``.
        elementary_pairs: elementary pairs one output of this round consumes when every round succeeds.
    """

    round: int
    fidelity: float
    success_probability: float
    state: tuple[float, float, float, float]
    elementary_pairs: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "round": self.round,
            "fidelity": self.fidelity,
            "success_probability": self.success_probability,
            "state": dict(zip(bell.BELL_LABELS, self.state, strict=True)),
            "elementary_pairs": self.elementary_pairs,
        }


def purify_rounds(
    initial: ArrayLike,
    protocol: PurificationProtocol,
    rounds: int,
    schedule: PurificationSchedule = PurificationSchedule.RECURRENCE,
) -> list[PurificationRound]:
    """Rounds of purification starting from copies of ``initial`` (Bell-diagonal coefficients).

    With RECURRENCE each round purifies two copies of the previous output; with PUMPING the previous output with a
    fresh copy of ``initial``.

    Raises:
        ParameterError: ``rounds`` below 1.
    """
    if rounds < 1:
        raise ParameterError("rounds", f"must be at least 1, got {rounds}")
    fresh = bell.as_bell_diagonal(initial, "fidelity")
    current = fresh
    pairs = 1
    out: list[PurificationRound] = []
    for n in range(1, rounds + 1):
        partner = current if schedule is PurificationSchedule.RECURRENCE else fresh
        pairs = 2 * pairs if schedule is PurificationSchedule.RECURRENCE else pairs + 1
        success, current = purify(current, partner, protocol)
        coeffs = tuple(float(c) for c in current)
        out.append(
            PurificationRound(
                round=n,
                fidelity=float(current[0]),
                success_probability=float(success),
                state=(coeffs[0], coeffs[1], coeffs[2], coeffs[3]),
                elementary_pairs=pairs,
            )
        )
    return out
