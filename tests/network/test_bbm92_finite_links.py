"""The opt-in finite-key bound (Tomamichel et al. 2012, eq. (2)) on the entanglement-qkd and dual-downlink links."""

from __future__ import annotations

import numpy as np

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.links.dual_downlink import DualDownlinkEngine, DualDownlinkLinkSpec
from qinternet.network.links.entanglement_qkd import EntanglementQkdEngine
from qinternet.network.schema import load_scenario
from tests.network.test_entanglement_network import _pair_network


def _entanglement_engine(pairs: int, **finite: object) -> EntanglementQkdEngine:
    data = _pair_network()
    data["requests"] = [{"id": "r", "a": "a", "b": "b", "pairs": pairs, "use": "measure"}]
    link = {"id": "key", "kind": "entanglement-qkd", "a": "a", "b": "b", "request": "r", "block_s": 3600}
    data["links"].append({**link, **finite})
    engine = build_links(load_scenario(data))[1].engine
    assert isinstance(engine, EntanglementQkdEngine)
    return engine


def test_entanglement_qkd_is_asymptotic_by_default_and_finite_key_gives_less() -> None:
    asymptotic = _entanglement_engine(200_000)
    assert asymptotic.finite is None
    finite = _entanglement_engine(200_000, finite_key=True)
    assert finite.finite is not None
    assert finite.finite.eps_sec == 1e-10
    assert 0 < finite.expected_rate_bps < asymptotic.expected_rate_bps
    for seed in (1, 2):  # drawn blocks: finite below asymptotic at the same seed
        a = asymptotic.block(0, np.random.default_rng(seed))
        f = finite.block(0, np.random.default_rng(seed))
        assert a.sifted_bits == f.sifted_bits  # the same draws of sifting
        assert 0 < f.key_bits < a.key_bits


def test_entanglement_qkd_gives_no_finite_key_below_the_minimum_block() -> None:
    asymptotic = _entanglement_engine(2_000)
    finite = _entanglement_engine(2_000, finite_key=True, test_fraction=0.3)
    assert asymptotic.expected_rate_bps > 0
    assert finite.expected_rate_bps == 0
    block = finite.block(0, np.random.default_rng(3))
    assert block.key_bits == 0
    assert block.abort_reason is not None


def _micius(**finite: object) -> DualDownlinkEngine:
    scenario, _ = resolve_scenario("micius-entanglement-1200km")
    (link,) = scenario.links
    assert isinstance(link, DualDownlinkLinkSpec)
    data = scenario.model_dump(mode="json", exclude_unset=True)
    data["time"]["duration_s"] = 3 * 86400.0  # a few passes are enough
    data["links"][0].update(finite)
    engine = build_links(load_scenario(data))[0].engine
    assert isinstance(engine, DualDownlinkEngine)
    return engine


def test_dual_downlink_passes_are_too_short_for_finite_key() -> None:
    asymptotic, finite = _micius(), _micius(finite_key=True)
    assert [p.sifted for p in asymptotic.passes] == [p.sifted for p in finite.passes]
    assert sum(p.key_bits for p in asymptotic.passes) > 0
    # a Micius pass sifts tens of coincidences: far below the minimum block of eq. (2)
    assert all(p.key_bits == 0 for p in finite.passes)
    record = finite.passes[0]
    assert finite.block(record, np.random.default_rng(5)).key_bits == 0


def test_dual_downlink_finite_key_of_a_long_block_is_below_the_asymptotic() -> None:
    asymptotic, finite = _micius(), _micius(finite_key=True, test_fraction=0.1)
    sifted, errors = 1e7, 0.05e7
    a, f = asymptotic.key_bits(sifted, errors), finite.key_bits(sifted, errors)
    assert 0 < f < a
    # more test bits, less raw key: test_fraction 0.1 keeps more than the default 0.5
    assert _micius(finite_key=True).key_bits(sifted, errors) < f
