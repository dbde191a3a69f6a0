"""The built-in ``bristol-8-user`` scenario against Joshi et al., Sci. Adv. 6, eaba0959 (2020).

Published: a trusted node-free metropolitan network in Bristol in which one polarisation-entangled
photon-pair source serves 8 users, and all 28 user pairs share entanglement (and key) directly, by
wavelength multiplexing of the source's ~60 nm into 100 GHz channels (supplementary).

What can be checked honestly: the structure, exactly (no tolerance: 8, 28 and 0 are counts). The paper's
per-pair key rates, QBERs and fibre lengths were not available here, so no rate is compared with it; the
tests only ask that every pair's link, at the scenario's illustrative devices, makes key at all.
"""

from __future__ import annotations

import itertools

import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.schema import LinkKind, NodeKind, Scenario
from qinternet.network.simulate import simulate

PUBLISHED_USERS = 8
PUBLISHED_PAIRS = 28


@pytest.fixture(scope="module")
def bristol() -> Scenario:
    return resolve_scenario("bristol-8-user")[0]


def users(scenario: Scenario) -> list[str]:
    return [n.id for n in scenario.nodes if n.kind is NodeKind.USER]


def test_eight_users_one_source_and_no_trusted_node(bristol: Scenario) -> None:
    kinds = [n.kind for n in bristol.nodes]
    assert kinds.count(NodeKind.USER) == PUBLISHED_USERS
    assert kinds.count(NodeKind.ENTANGLEMENT_SOURCE) == 1
    assert NodeKind.TRUSTED_RELAY not in kinds
    published = {p.quantity: p.value for p in bristol.published}
    assert published["users"] == PUBLISHED_USERS
    assert published["user pairs sharing key"] == PUBLISHED_PAIRS


def test_each_of_the_28_pairs_has_its_own_link_from_the_one_source(bristol: Scenario) -> None:
    (source,) = (n.id for n in bristol.nodes if n.kind is NodeKind.ENTANGLEMENT_SOURCE)
    pairs = [frozenset((link.a, link.b)) for link in bristol.links]
    assert len(pairs) == PUBLISHED_PAIRS == len(set(pairs))
    assert set(pairs) == {frozenset(p) for p in itertools.combinations(users(bristol), 2)}
    for link in bristol.links:
        assert (link.kind, link.protocol, link.source) == (LinkKind.ENTANGLEMENT, "bbm92", source)


def test_every_pair_makes_key(bristol: Scenario) -> None:
    rates = {spec.id: built.expected_rate_bps for spec, built in zip(bristol.links, build_links(bristol), strict=True)}
    assert all(rate > 0 for rate in rates.values()), rates


def test_every_demand_has_a_direct_link(bristol: Scenario) -> None:
    pairs = {frozenset((link.a, link.b)) for link in bristol.links}
    assert bristol.demands
    for demand in bristol.demands:
        assert frozenset((demand.a, demand.b)) in pairs, demand.id


def test_every_demand_is_served_in_one_hop_with_no_node_between(bristol: Scenario) -> None:
    links = build_links(bristol)
    run = simulate(bristol, [link.runner for link in links], duration_s=3600.0)
    for demand, paths in zip(bristol.demands, run.paths, strict=True):
        assert paths, f"{demand.id} got no key"
        assert all(len(path) == 1 for path in paths), (demand.id, list(paths))
