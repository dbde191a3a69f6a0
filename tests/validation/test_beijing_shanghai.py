"""The built-in ``beijing-shanghai`` scenario against Chen et al., Nature 589, 214 (2021).

Published: a fibre backbone of more than 2,000 km (Chen et al., abstract) built with 32 trusted relays between
the metropolitan networks of Beijing, Jinan, Hefei and Shanghai (the 32 is not in Chen et al.'s abstract; the
abstract of Chen, H.-Z. et al., npj Quantum Inf. (2025), doi:10.1038/s41534-025-01089-8, read at
https://m.booksci.cn/literaturecn/144802788.htm, says the 2020 network "includes 32 backbone nodes and 4
metropolitan networks", without saying whether the cities' own nodes are among the 32; Physics World's report
says "32 trusted relay nodes"). The scenario takes the 32 as relays between the four cities. The paper's
per-link key rates and losses were not available here, so the scenario's devices are the lim2014 preset and its
relay positions are interpolated (its header says so); what can be checked is the structure, and that end-to-end
key needs every relay.
"""

from __future__ import annotations

import networkx as nx
import pytest

from qinternet.network.catalogue import resolve_scenario
from qinternet.network.links.build import build_links
from qinternet.network.schema import NodeKind, load_scenario
from qinternet.network.simulate import simulate


def test_the_backbone_has_the_published_length_and_relays() -> None:
    spec, _ = resolve_scenario("beijing-shanghai")
    fibre_km = sum(link.length_km or 0.0 for link in spec.links)
    assert fibre_km > 2000.0  # "more than 2,000 km"
    assert fibre_km < 2000.0 * 1.1  # and not much more: the paper rounds down to the thousand
    relays = [n for n in spec.nodes if n.kind is NodeKind.TRUSTED_RELAY]
    assert len(relays) == 32
    cities = [n.label for n in spec.nodes if n.kind is NodeKind.USER]
    assert cities == ["Beijing", "Jinan", "Hefei", "Shanghai"]


def test_beijing_to_shanghai_key_crosses_every_relay() -> None:
    spec, _ = resolve_scenario("beijing-shanghai")
    path = nx.shortest_path(spec.key_graph(), "beijing", "shanghai")
    assert len(path) == 36  # 4 cities and 32 relays in one chain
    data = spec.model_dump(mode="json")
    data["time"]["duration_s"] = 4 * 3600
    short = load_scenario(data)
    links = build_links(short)
    run = simulate(short, [link.runner for link in links])
    delivered = run.paths[0]
    assert list(delivered) == [tuple(link.id for link in spec.links)]
    # Relaying b bits takes b bits from every one of the 35 hops.
    used = run.generated_bits[-1] - run.discarded_bits - run.pool_bits[-1]
    assert used.min() >= run.delivered_bits[-1, 0] * (1 - 1e-12)
    # The priority demand (100 kbit/s) is below the weakest hop's rate: once the first blocks arrive, its
    # backlog is relayed and it is met in full.
    assert run.delivered_bits[-1, 0] == pytest.approx(run.wanted_bits[-1, 0])
    assert run.times_s[8] == 540.0
    assert run.delivered_bits[8, 0] == 0.0  # nothing before the first blocks end at 10 min
