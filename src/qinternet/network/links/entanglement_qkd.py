"""Key from the entangled pairs a request delivers over the memory network (``kind: entanglement-qkd``).

End-to-end entanglement-based QKD through repeaters: the two quantum-nodes of a request with ``use: measure``
measure every pair it delivers (:mod:`qinternet.network.entanglement_net`: the path, the swaps, the cut-offs) in Z
or X at random, as BBM92 (Bennett, Brassard, Mermin, PRL 68, 557 (1992)). Every ``block_s`` of the run the pairs
delivered in it make one block: half of them sift (matching bases), the Z-basis error rate ``e_z`` and the X-basis
error rate ``e_x`` come from the pairs' Bell-diagonal states (:func:`qinternet.states.bell.qber`), and the key is
``sifted (1 - f h(e_z) - h(e_x))`` (Shor, Preskill, PRL 85, 441 (2000), asymptotic; ``f`` the error-correction
inefficiency), or with ``finite_key: true`` the finite-key bound of Tomamichel, Lim, Gisin, Renner, Nat.
Commun. 3, 634 (2012), eq. (2) (:mod:`qinternet.network.links.bbm92_finite`: ``test_fraction`` of the sifted bits
test, the Z-basis rest is the raw key). The key goes into this link's pool, so demands relay it and the KMEs of
``qinternet serve`` hand it out like any link's: key made by repeaters.

``model: monte-carlo`` draws the sifting, the split between the bases and the errors (binomial) per block;
``analytic`` takes their expectations. Where the request's pairs were more than the layer draws (its count
extrapolated), the pairs not drawn arrive at the drawn ones' rate and mean state after the last drawn pair, as
many as the request got (its deadline and count respected).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from qinternet.network.links.base import BlockRecord, BuildContext, LinkEngine, LinkRunner, abort_reason_of
from qinternet.network.links.bbm92_finite import Bbm92FiniteKeyFields
from qinternet.network.schema_base import Identifier, LinkKind, LinkModel, LinkSpecBase, NodeKind, article
from qinternet.qkd.entropy import key_fraction
from qinternet.qkd.finite_key import FiniteKeyParams
from qinternet.qkd.finite_key_bbm92 import bbm92_finite_key_bits
from qinternet.sim import Process, ProcessGenerator, seconds_to_ps
from qinternet.states import bell

if TYPE_CHECKING:
    from qinternet.network.entanglement_net import EntanglementRun, RequestResult
    from qinternet.network.links.build import BuiltLink

__all__ = ["EntanglementQkdEngine", "EntanglementQkdLinkSpec", "build_entanglement_qkd_links", "entanglement_of"]

F64 = NDArray[np.float64]
SIFTING = 0.5
"""Fraction of pairs whose bases match (each end picks Z or X with probability 1/2)."""


class EntanglementQkdLinkSpec(Bbm92FiniteKeyFields):
    """BBM92 key from the pairs of a request (``kind: entanglement-qkd``).

    Attributes:
        a, b: the request's two quantum-nodes.
        request: the request (``use: measure``) whose pairs make the key.
        ec_efficiency: error-correction inefficiency ``f >= 1``.
        finite_key, test_fraction: the finite-key option (:class:`Bbm92FiniteKeyFields`).
    """

    kind: LinkKind = LinkKind.ENTANGLEMENT_QKD
    request: Identifier
    preset: str | None = None  # type: ignore[assignment]
    ec_efficiency: Annotated[float, Field(ge=1.0, le=3.0)] = 1.16

    def check_ends(self, kinds: Mapping[str, NodeKind]) -> list[tuple[str, str]]:
        """Two quantum-nodes."""
        problems = []
        for end in ("a", "b"):
            kind = kinds[getattr(self, end)]
            if kind is not NodeKind.QUANTUM_NODE:
                node = getattr(self, end)
                problems.append((end, f"node {node!r} is {article(kind.value)}; the key's ends are quantum-nodes"))
        return problems


def key_of(sifted: float, e_z: float, e_x: float, ec_efficiency: float) -> int:
    """Asymptotic key of ``sifted`` bits with error rates ``e_z`` (key basis) and ``e_x`` (phase errors)."""
    if sifted <= 0 or e_z >= 0.5 or e_x >= 0.5:
        return 0
    return max(0, math.floor(sifted * float(key_fraction(e_z, e_x, ec_efficiency))))


def finite_key_of(
    key_bits: float, e_z: float, test_bits: float, e_x: float, ec_efficiency: float, params: FiniteKeyParams
) -> int:
    """Finite-key BBM92 key (Tomamichel et al. 2012, eq. (2)) of ``key_bits`` Z-basis bits with error rate
    ``e_z``, tested on ``test_bits`` X-basis bits with error rate ``e_x``."""
    return bbm92_finite_key_bits(
        key_bits=key_bits,
        key_errors=min(1.0, max(0.0, e_z)) * key_bits,
        test_bits=test_bits,
        test_errors=min(1.0, max(0.0, e_x)) * test_bits,
        ec_efficiency=ec_efficiency,
        params=params,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EntanglementQkdEngine:
    """The key blocks of an entanglement-qkd link.

    Attributes:
        got: the request's pairs.
        entanglement: the whole entanglement run it belongs to (the run's summary reports it).
        block_s, duration_s: block length and the run's length.
        ec_efficiency: ``f``.
        monte_carlo: draw sifting and errors (True) or take their expectations.
        finite: the finite-key security parameters, or None for the asymptotic key.
        test_fraction: with ``finite``, the fraction of the sifted bits that test (X basis).
        edges_s: the blocks' boundaries, from 0 to the run's end (the last block may be shorter) (derived).
        pairs, e_z, e_x: per block, pairs delivered and their mean error rates (derived).
    """

    got: RequestResult
    entanglement: EntanglementRun
    block_s: float
    duration_s: float
    ec_efficiency: float
    monte_carlo: bool
    finite: FiniteKeyParams | None = None
    test_fraction: float = 0.5
    edges_s: F64 = field(init=False, repr=False)
    pairs: F64 = field(init=False, repr=False)
    e_z: F64 = field(init=False, repr=False)
    e_x: F64 = field(init=False, repr=False)

    def __post_init__(self) -> None:
        full = math.floor(self.duration_s / self.block_s + 1e-9)
        edges = self.block_s * np.arange(full + 1, dtype=np.float64)
        if edges[-1] < self.duration_s * (1.0 - 1e-12):  # a last, shorter block up to the run's end
            edges = np.append(edges, self.duration_s)
        blocks = len(edges) - 1
        times, states = self.got.delivered_s, self.got.delivered_states
        index = np.clip(np.searchsorted(edges, times, side="left") - 1, 0, blocks - 1)
        pairs = np.bincount(index, minlength=blocks).astype(np.float64)
        errors = bell.qber(states) if len(states) else np.zeros((0, 2))
        sum_x = np.bincount(index, weights=errors[:, 0], minlength=blocks)
        sum_z = np.bincount(index, weights=errors[:, 1], minlength=blocks)
        mean_x = float(errors[:, 0].mean()) if len(states) else 0.5
        mean_z = float(errors[:, 1].mean()) if len(states) else 0.5
        extra = self.got.pairs - len(times)
        if self.got.extrapolated and len(times) and extra > 0:  # the pairs not drawn: at the drawn rate, after them
            rate = len(times) / float(times[-1])
            start, stop = float(times[-1]), float(times[-1]) + extra / rate
            overlap = np.clip(np.minimum(edges[1:], stop) - np.maximum(edges[:-1], start), 0.0, None)
            pairs = pairs + rate * overlap
            sum_x = sum_x + rate * overlap * mean_x
            sum_z = sum_z + rate * overlap * mean_z
        e_x = np.where(pairs > 0, sum_x / np.maximum(pairs, 1e-300), mean_x)
        e_z = np.where(pairs > 0, sum_z / np.maximum(pairs, 1e-300), mean_z)
        object.__setattr__(self, "edges_s", edges)
        object.__setattr__(self, "pairs", pairs)
        object.__setattr__(self, "e_z", e_z)
        object.__setattr__(self, "e_x", e_x)

    def block(self, index: int, rng: np.random.Generator) -> BlockRecord:
        """Block ``index`` (drawn with ``monte_carlo``)."""
        n, e_z, e_x = float(self.pairs[index]), float(self.e_z[index]), float(self.e_x[index])
        z_share = 0.5 if self.finite is None else 1.0 - self.test_fraction
        if self.monte_carlo:
            sifted = float(rng.binomial(round(n), SIFTING))
            in_z = float(rng.binomial(int(sifted), z_share))
            in_x = sifted - in_z
            e_z = float(rng.binomial(int(in_z), e_z)) / in_z if in_z > 0 else 0.5
            e_x = float(rng.binomial(int(in_x), e_x)) / in_x if in_x > 0 else 0.5
        else:
            sifted = n * SIFTING
            in_z, in_x = sifted * z_share, sifted * (1.0 - z_share)
        key = self._key(sifted, in_z, e_z, in_x, e_x)
        return BlockRecord(
            end_s=float(self.edges_s[index + 1]),
            duration_s=float(self.edges_s[index + 1] - self.edges_s[index]),
            key_bits=key,
            sifted_bits=sifted,
            qber=e_z if sifted > 0 else math.nan,
            abort_reason=abort_reason_of(key),
        )

    def _key(self, sifted: float, in_z: float, e_z: float, in_x: float, e_x: float) -> int:
        """Asymptotic key of all ``sifted`` bits, or finite-key of the ``in_z`` key bits tested by ``in_x``."""
        if self.finite is None:
            return key_of(sifted, e_z, e_x, self.ec_efficiency)
        return finite_key_of(in_z, e_z, in_x, e_x, self.ec_efficiency, self.finite)

    @property
    def expected_rate_bps(self) -> float:
        """Key per second of the blocks' expectations."""
        test = 0.5 if self.finite is None else self.test_fraction
        total = sum(
            self._key(
                float(n) * SIFTING, float(n) * SIFTING * (1 - test), float(z), float(n) * SIFTING * test, float(x)
            )
            for n, z, x in zip(self.pairs, self.e_z, self.e_x, strict=True)
        )
        return total / self.duration_s

    def runner(self) -> LinkRunner:
        """A block at the end of every ``block_s`` (and at the run's end)."""

        def run(proc: Process, deliver: Callable[[BlockRecord], None]) -> ProcessGenerator:
            for index in range(len(self.pairs)):
                due = seconds_to_ps(float(self.edges_s[index + 1]))
                if due > proc.kernel.now_ps:
                    yield proc.kernel.timeout_at(due)
                deliver(self.block(index, proc.rng))

        return run


def build_entanglement_qkd_links(specs: Mapping[int, LinkSpecBase], context: BuildContext) -> dict[int, LinkEngine]:
    """The engines of a scenario's entanglement-qkd links: the requests are served once, for all of them."""
    from qinternet.network.entanglement_run import run_entanglement  # the layer above the link kinds

    run = run_entanglement(context.scenario, context.duration_s)
    assert run is not None  # the schema asks every entanglement-qkd link for a request
    engines: dict[int, LinkEngine] = {}
    for index, spec in specs.items():
        assert isinstance(spec, EntanglementQkdLinkSpec)
        engines[index] = EntanglementQkdEngine(
            got=run.result(spec.request),
            entanglement=run,
            block_s=spec.block_s,
            duration_s=context.duration_s,
            ec_efficiency=spec.ec_efficiency,
            monte_carlo=spec.model is LinkModel.MONTE_CARLO,
            finite=spec.finite_key_params,
            test_fraction=spec.test_fraction,
        )
        context.on_progress(index, 1.0)
    return engines


def entanglement_of(links: list[BuiltLink]) -> EntanglementRun | None:
    """The entanglement run the entanglement-qkd links of a scenario were built from, if any."""
    for built in links:
        if isinstance(built.engine, EntanglementQkdEngine):
            return built.engine.entanglement
    return None
