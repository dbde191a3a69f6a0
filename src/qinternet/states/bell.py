"""Bell-diagonal states: the fast, exact path for Pauli noise and twirled operations.

A two-qubit state diagonal in the Bell basis is a probability vector of shape ``(..., 4)``. Its index names the
Pauli error applied to the second qubit of ``|Phi+>``: ``k = x + 2 z`` with ``(x, z)`` the error's X and Z bits, so
the order is ``[Phi+, Psi+, Phi-, Psi-]`` = ``[I, X, Z, Y]``. Composing Pauli errors is then an XOR of indices:
entanglement swapping of two Bell-diagonal pairs is an XOR convolution of their vectors (the Bell-measurement
outcome is corrected by a Pauli frame update), and a Pauli channel on either qubit is the same convolution with
the channel's probabilities. Every array function broadcasts over leading axes.

Conventions follow Dür, Briegel, Rep. Prog. Phys. 70, 1381 (2007), Sec. 2 (Bell-diagonal states, Werner states,
twirling) and Deutsch et al., PRL 77, 2818 (1996) for the coefficient algebra.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qinternet.errors import ParameterError

__all__ = [
    "BELL_LABELS",
    "PHI_MINUS",
    "PHI_PLUS",
    "PSI_MINUS",
    "PSI_PLUS",
    "as_bell_diagonal",
    "chsh_max",
    "chsh_standard",
    "compose",
    "correlations",
    "dephase",
    "depolarise",
    "fidelity",
    "fidelity_of_werner",
    "from_walsh",
    "pauli_channel",
    "perfect_pair",
    "qber",
    "secret_fraction_bb84",
    "secret_fraction_six_state",
    "shannon_entropy",
    "stack",
    "swap",
    "teleportation_fidelity",
    "twirl",
    "walsh",
    "werner",
    "werner_of_fidelity",
]

PHI_PLUS, PSI_PLUS, PHI_MINUS, PSI_MINUS = 0, 1, 2, 3
BELL_LABELS = ("Phi+", "Psi+", "Phi-", "Psi-")
_SUM_TOLERANCE = 1e-9


def as_bell_diagonal(p: ArrayLike, field: str = "state") -> NDArray[np.float64]:
    """Check and return Bell-diagonal coefficients: shape ``(..., 4)``, each in [0, 1], summing to 1.

    Raises:
        ParameterError: naming ``field``, for a wrong shape, a negative entry or a sum other than 1.
    """
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != 4:
        raise ParameterError(field, f"must have 4 Bell-diagonal coefficients, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < -_SUM_TOLERANCE):
        raise ParameterError(field, "coefficients must be finite probabilities >= 0")
    if np.any(np.abs(arr.sum(axis=-1) - 1.0) > _SUM_TOLERANCE):
        raise ParameterError(field, "coefficients must sum to 1")
    return np.clip(arr, 0.0, 1.0)


def stack(i: ArrayLike, x: ArrayLike, z: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Four coefficients (broadcast together) as one array ``(..., 4)`` in the order ``I, X, Z, Y`` =
    ``Phi+, Psi+, Phi-, Psi-`` (a state, or the error law of a Pauli channel)."""
    parts = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (i, x, z, y)))
    return np.stack(parts, axis=-1)


def perfect_pair() -> NDArray[np.float64]:
    """``|Phi+>`` as Bell-diagonal coefficients."""
    return np.array([1.0, 0.0, 0.0, 0.0])


def werner(w: ArrayLike) -> NDArray[np.float64]:
    """The Werner state ``w |Phi+><Phi+| + (1 - w) I/4`` (Werner, PRA 40, 4277 (1989)); ``w`` in [-1/3, 1].

    >>> werner(1.0).tolist()
    [1.0, 0.0, 0.0, 0.0]
    """
    wa = np.asarray(w, dtype=np.float64)
    out = np.empty((*wa.shape, 4))
    out[..., 1:] = ((1.0 - wa) / 4.0)[..., None]
    out[..., 0] = (1.0 + 3.0 * wa) / 4.0
    return out


def werner_of_fidelity(f: ArrayLike) -> NDArray[np.float64]:
    """Werner parameter of the Werner state of fidelity ``F``: ``w = (4F - 1) / 3``."""
    return np.asarray((4.0 * np.asarray(f, dtype=np.float64) - 1.0) / 3.0, dtype=np.float64)


def fidelity_of_werner(w: ArrayLike) -> NDArray[np.float64]:
    """Fidelity with ``|Phi+>`` of the Werner state ``w``: ``F = (1 + 3 w) / 4``."""
    return np.asarray((1.0 + 3.0 * np.asarray(w, dtype=np.float64)) / 4.0, dtype=np.float64)


def fidelity(p: ArrayLike) -> NDArray[np.float64]:
    """Fidelity with ``|Phi+>``: the first coefficient."""
    return np.asarray(np.asarray(p, dtype=np.float64)[..., PHI_PLUS], dtype=np.float64)


def compose(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """XOR convolution: the distribution of the product of two independent Pauli errors with laws ``p`` and ``q``.

    ``r[k] = sum_{i ^ j = k} p[i] q[j]``, computed as the inverse :func:`walsh` transform of the product of the
    transforms (the convolution theorem of the group Z2 x Z2); shapes broadcast over leading axes.
    """
    return from_walsh(walsh(p) * walsh(q))


def walsh(p: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """Walsh-Hadamard transform over the index: ``chi[s] = sum_k (-1)^popcount(s & k) p[k]``, along ``axis``
    (of length 4; the last by default, ``axis=0`` for coefficients laid out as rows ``(4, n)``).

    It turns XOR convolution into a product: the transform of a Pauli error law holds the channel's eigenvalues on
    Bell-diagonal states (``chi[0] = 1``; ``chi[1:]`` behave like Werner parameters that multiply under swapping).
    """
    rows = np.moveaxis(np.asarray(p, dtype=np.float64), axis, 0)
    a = rows[0] + rows[1]
    b = rows[2] + rows[3]
    c = rows[0] - rows[1]
    d = rows[2] - rows[3]
    out = np.empty(rows.shape)
    np.add(a, b, out=out[0, ...])
    np.add(c, d, out=out[1, ...])
    np.subtract(a, b, out=out[2, ...])
    np.subtract(c, d, out=out[3, ...])
    return np.moveaxis(out, 0, axis)


def from_walsh(chi: ArrayLike) -> NDArray[np.float64]:
    """Inverse of :func:`walsh` (the transform is its own inverse up to a factor 4)."""
    return np.asarray(walsh(chi) / 4.0, dtype=np.float64)


def swap(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """The pair left by an ideal Bell measurement on one half of each of two Bell-diagonal pairs, after the Pauli
    correction its outcome calls for: the two pairs' errors compose (Dür, Briegel 2007, Sec. 4.2), so the result
    is :func:`compose`. For Werner pairs the Werner parameters multiply.

    >>> round(float(fidelity(swap(werner(0.9), werner(0.8)))), 12) == round(float(fidelity_of_werner(0.72)), 12)
    True
    """
    return compose(p, q)


def pauli_channel(p: ArrayLike, px: ArrayLike, py: ArrayLike, pz: ArrayLike) -> NDArray[np.float64]:
    """Apply the Pauli channel ``rho -> (1-px-py-pz) rho + px X rho X + py Y rho Y + pz Z rho Z`` to either qubit.

    On a Bell-diagonal state a Pauli on one qubit equals the same Pauli on the other (up to a sign that cancels in
    ``rho``), so the channel is a composition with its error law ``[1-px-py-pz, px, pz, py]``.
    """
    pxa, pya, pza = (np.asarray(v, dtype=np.float64) for v in (px, py, pz))
    law = np.stack(np.broadcast_arrays(1.0 - pxa - pya - pza, pxa, pza, pya), axis=-1)
    return compose(p, law)


def depolarise(p: ArrayLike, keep: ArrayLike) -> NDArray[np.float64]:
    """``keep * rho + (1 - keep) * I/4``: the pair depolarised, Werner parameter multiplied by ``keep``."""
    ka = np.asarray(keep, dtype=np.float64)[..., None]
    return np.asarray(ka * np.asarray(p, dtype=np.float64) + (1.0 - ka) / 4.0, dtype=np.float64)


def dephase(p: ArrayLike, prob: ArrayLike) -> NDArray[np.float64]:
    """A Z error with probability ``prob`` on one qubit (e.g. a stored half with coherence ``1 - 2 prob``)."""
    zero = np.zeros_like(np.asarray(prob, dtype=np.float64))
    return pauli_channel(p, zero, zero, prob)


def twirl(p: ArrayLike) -> NDArray[np.float64]:
    """The Werner state of the same fidelity (the bilateral random rotation of Bennett et al., PRL 76, 722 (1996))."""
    f = fidelity(p)[..., None]
    out = np.broadcast_to((1.0 - f) / 3.0, np.shape(p)).copy()
    out[..., PHI_PLUS] = f[..., 0]
    return out


def correlations(p: ArrayLike) -> NDArray[np.float64]:
    """The correlations ``<XX>, <YY>, <ZZ>`` of a Bell-diagonal state, shape ``(..., 3)``.

    ``|Phi+>`` has (1, -1, 1), ``|Psi+>`` (1, 1, -1), ``|Phi->`` (-1, 1, 1), ``|Psi->`` (-1, -1, -1).
    """
    pa = np.asarray(p, dtype=np.float64)
    signs = np.array([[1.0, 1.0, -1.0, -1.0], [-1.0, 1.0, 1.0, -1.0], [1.0, -1.0, 1.0, -1.0]])
    return np.asarray(pa @ signs.T, dtype=np.float64)


def chsh_max(p: ArrayLike) -> NDArray[np.float64]:
    """The largest CHSH value over all measurement settings: ``2 sqrt(t1^2 + t2^2)`` with ``t1, t2`` the two largest
    correlation magnitudes (Horodecki, Horodecki, Horodecki, Phys. Lett. A 200, 340 (1995)).
    ``2 sqrt 2`` for a Bell state; above 2 for a Werner state iff ``w > 1/sqrt 2``."""
    t = np.sort(np.abs(correlations(p)), axis=-1)
    return np.asarray(2.0 * np.sqrt(t[..., 1] ** 2 + t[..., 2] ** 2), dtype=np.float64)


def chsh_standard(p: ArrayLike) -> NDArray[np.float64]:
    """The CHSH value with the settings that are optimal for ``|Phi+>`` (Alice Z and X, Bob (Z +- X)/sqrt 2):
    ``S = sqrt 2 (<ZZ> + <XX>)`` (Clauser et al., PRL 23, 880 (1969)) - what a Bell test set up for ``|Phi+>``
    measures."""
    c = correlations(p)
    return np.asarray(np.sqrt(2.0) * (c[..., 2] + c[..., 0]), dtype=np.float64)


def qber(p: ArrayLike) -> NDArray[np.float64]:
    """Error rates ``(e_x, e_z)`` when both parties measure X, resp. Z, shape ``(..., 2)``: an X or Y error flips
    Z outcomes, a Z or Y error flips X outcomes."""
    pa = np.asarray(p, dtype=np.float64)
    e_x = pa[..., PHI_MINUS] + pa[..., PSI_MINUS]
    e_z = pa[..., PSI_PLUS] + pa[..., PSI_MINUS]
    return np.stack([e_x, e_z], axis=-1)


def teleportation_fidelity(p: ArrayLike) -> NDArray[np.float64]:
    """Average fidelity (over input states) of teleporting a qubit through the pair with an ideal Bell measurement
    and the Pauli correction: ``(2 F + 1) / 3`` with ``F`` the pair's fidelity (Horodecki, Horodecki, Horodecki,
    PRA 60, 1888 (1999), eq. (17)); above the classical 2/3 iff ``F > 1/2``. Teleporting through a Bell-diagonal
    pair applies its error law to the qubit as a Pauli channel."""
    return np.asarray((2.0 * fidelity(p) + 1.0) / 3.0, dtype=np.float64)


def shannon_entropy(p: ArrayLike) -> NDArray[np.float64]:
    """Shannon entropy in bits of distributions along the last axis (``0 log 0 = 0``)."""
    pa = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pa > 0.0, -pa * np.log2(np.where(pa > 0.0, pa, 1.0)), 0.0)
    return np.asarray(terms.sum(axis=-1), dtype=np.float64)


def _binary_entropy(e: NDArray[np.float64]) -> NDArray[np.float64]:
    return shannon_entropy(np.stack([e, 1.0 - e], axis=-1))


def secret_fraction_bb84(p: ArrayLike) -> NDArray[np.float64]:
    """Asymptotic secret bits per sifted bit of BB84 measured on the pair: ``max(0, 1 - h(e_z) - h(e_x))``
    (Shor, Preskill, PRL 85, 441 (2000); key from Z, phase errors from X). For a Werner state
    ``e_x = e_z = (1 - w)/2``, the convention of Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020), eq. (2)."""
    e = qber(p)
    r = 1.0 - _binary_entropy(e[..., 0]) - _binary_entropy(e[..., 1])
    return np.asarray(np.maximum(r, 0.0), dtype=np.float64)


def secret_fraction_six_state(p: ArrayLike) -> NDArray[np.float64]:
    """Asymptotic secret bits per sifted bit when the pair is known completely (six-state tomography):
    ``max(0, 1 - H(p))`` with ``H`` the Shannon entropy of the Bell coefficients. This is the Devetak-Winter rate
    ``H(A|E) - H(A|B)`` for a Bell-diagonal state (Eve holds its purification: ``H(A|E) = 1 - H(p) + h(e_z)``,
    ``H(A|B) = h(e_z)``; Devetak, Winter, Proc. R. Soc. A 461, 207 (2005), and for six-state QKD Lo, QIC 1, 81
    (2001)); it equals the hashing bound."""
    return np.asarray(np.maximum(1.0 - shannon_entropy(p), 0.0), dtype=np.float64)
