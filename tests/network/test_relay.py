"""Key pools, widest-path routing, priorities, fairness and the one-time-pad relay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinternet.errors import ParameterError
from qinternet.network.relay import KeyPools, Request, fewest_hops, serve, widest_path, xor_relay


def pools(levels: dict[tuple[str, str], float], capacity: float = 1e9) -> KeyPools:
    p = KeyPools(ends=tuple(levels), capacity_bits=np.full(len(levels), capacity))
    p.level_bits[:] = list(levels.values())
    return p


def test_a_full_pool_discards_and_counts() -> None:
    p = pools({("a", "b"): 0.0}, capacity=100.0)
    p.add(0, 70.0)
    p.add(0, 50.0)
    assert p.level_bits[0] == 100.0
    assert p.discarded_bits[0] == 20.0


def test_wishes_far_above_the_supply_share_it_equally() -> None:
    """Max-min fairness does not depend on the order of the demands or on how much they ask."""
    for wishes in ((1e6, 1e6), (1e6, 500.0), (500.0, 1e6)):
        p = pools({("a", "r"): 1000, ("r", "b"): 1e9, ("r", "c"): 1e9})
        one, two = serve(
            p,
            [
                Request(demand=0, a="a", b="b", bits=wishes[0], priority=1),
                Request(demand=1, a="a", b="c", bits=wishes[1], priority=1),
            ],
        )
        assert (one.bits, two.bits) == (pytest.approx(500), pytest.approx(500)), wishes


def test_a_demand_spreads_over_parallel_links_and_every_path_is_accounted() -> None:
    ends = tuple(("a", "b") for _ in range(20))
    p = KeyPools(ends=ends, capacity_bits=np.full(20, 1e9))
    p.level_bits[:] = 50.0
    [grant] = serve(p, [Request(demand=0, a="a", b="b", bits=1000, priority=1)])
    assert grant.bits == pytest.approx(1000)
    assert sum(grant.paths.values()) == pytest.approx(1000)
    assert len(grant.paths) == 20  # one parallel pool per link, each emptied


def test_among_the_widest_paths_the_fewest_hops() -> None:
    """A wider but longer prefix must not win when the bottleneck further on evens the widths out."""
    ends = (("n2", "n0"), ("n5", "n2"), ("n4", "n1"), ("n5", "n0"), ("n5", "n4"), ("n4", "n0"), ("n4", "n3"))
    p = KeyPools(ends=ends, capacity_bits=np.full(7, 1e9))
    p.level_bits[:] = [4, 2, 1, 4, 4, 2, 3]
    assert widest_path(p, "n0", "n1") == (1, [5, 2])


def test_a_rate_demand_holds_one_step_not_its_whole_backlog() -> None:
    """High is limited by a slow hop r-c; it holds only hold_bits on a-r, and low takes the rest."""
    p = KeyPools(ends=(("a", "r"), ("r", "c")), capacity_bits=np.full(2, 1e9), relays=frozenset({"r"}))
    p.level_bits[:] = [1000, 0]
    high = Request(demand=0, a="a", b="c", bits=1e6, priority=2, hold_bits=100)
    low = Request(demand=1, a="a", b="r", bits=5000, priority=1)
    _, got = serve(p, [high, low])
    assert got.bits == pytest.approx(900)


def test_the_widest_path_avoids_the_drained_hop() -> None:
    # a-b-d is short but b-d holds 5 bits; a-c-e-d is longer and holds at least 50 in every hop.
    p = pools({("a", "b"): 100, ("b", "d"): 5, ("a", "c"): 60, ("c", "e"): 50, ("e", "d"): 80})
    width, hops = widest_path(p, "a", "d")
    assert width == 50
    assert hops == [2, 3, 4]


def test_ties_in_width_go_to_fewer_hops() -> None:
    p = pools({("a", "b"): 10, ("b", "d"): 10, ("a", "c"): 10, ("c", "e"): 10, ("e", "d"): 10})
    assert widest_path(p, "a", "d") == (10, [0, 1])


def test_no_path_with_key() -> None:
    p = pools({("a", "b"): 0.0, ("b", "c"): 10})
    assert widest_path(p, "a", "c") == (0.0, [])


def test_relaying_takes_the_key_from_every_hop() -> None:
    p = pools({("a", "r"): 100, ("r", "b"): 40})
    [grant] = serve(p, [Request(demand=0, a="a", b="b", bits=30, priority=1)])
    assert grant.bits == pytest.approx(30)
    assert grant.paths == {(0, 1): pytest.approx(30)}
    np.testing.assert_allclose(p.level_bits, [70, 10])


def test_higher_priority_is_served_first() -> None:
    p = pools({("a", "r"): 100, ("r", "b"): 40, ("r", "c"): 100})
    low, high = serve(
        p,
        [Request(demand=0, a="a", b="c", bits=100, priority=0), Request(demand=1, a="a", b="b", bits=40, priority=5)],
    )
    assert high.bits == pytest.approx(40)
    assert low.bits == pytest.approx(60)  # what the a-r hop has left


def test_equal_priorities_share_a_bottleneck_fairly() -> None:
    # Both demands cross hop a-r (90 bits); each wants 80: max-min fairness gives 45 each.
    p = pools({("a", "r"): 90, ("r", "b"): 1000, ("r", "c"): 1000})
    one, two = serve(
        p, [Request(demand=0, a="a", b="b", bits=80, priority=1), Request(demand=1, a="a", b="c", bits=80, priority=1)]
    )
    assert one.bits == pytest.approx(45)
    assert two.bits == pytest.approx(45)


def test_a_small_demand_gets_all_it_wants_and_leaves_the_rest() -> None:
    p = pools({("a", "r"): 90, ("r", "b"): 1000, ("r", "c"): 1000})
    small, big = serve(
        p, [Request(demand=0, a="a", b="b", bits=10, priority=1), Request(demand=1, a="a", b="c", bits=200, priority=1)]
    )
    assert small.bits == pytest.approx(10)
    assert big.bits == pytest.approx(80)


@settings(max_examples=60, deadline=None)
@given(
    levels=st.lists(st.floats(0, 1e6), min_size=6, max_size=6),
    wants=st.lists(st.floats(1, 1e6), min_size=3, max_size=3),
    priorities=st.lists(st.integers(0, 2), min_size=3, max_size=3),
)
def test_serving_conserves_key(levels: list[float], wants: list[float], priorities: list[int]) -> None:
    """No pool goes negative, nobody gets more than asked, and every relayed bit left every hop's pool."""
    ends = (("a", "b"), ("b", "c"), ("c", "d"), ("a", "e"), ("e", "d"), ("b", "e"))
    p = pools(dict(zip(ends, levels, strict=True)))
    before = p.level_bits.copy()
    pairs = (("a", "d"), ("b", "d"), ("a", "c"))
    requests = [
        Request(demand=i, a=a, b=b, bits=w, priority=q)
        for i, ((a, b), w, q) in enumerate(zip(pairs, wants, priorities, strict=True))
    ]
    grants = serve(p, requests)
    assert np.all(p.level_bits >= -1e-6 * max(1.0, before.max()))
    assert all(g.bits <= r.bits * (1 + 1e-9) for g, r in zip(grants, requests, strict=True))
    # Each relayed bit used at least one hop, so the pools lost at least the total delivered.
    rounding = 1e-9 * max(1.0, float(before.sum()))
    assert before.sum() - p.level_bits.sum() >= sum(g.bits for g in grants) - rounding


def test_the_xor_relay_delivers_the_key_and_shows_only_padded_bits() -> None:
    rng = np.random.default_rng(5)
    key = rng.integers(0, 2, 256, dtype=np.uint8)
    hop_keys = [rng.integers(0, 2, 256, dtype=np.uint8) for _ in range(4)]
    messages, received = xor_relay(hop_keys, key)
    np.testing.assert_array_equal(received, key)
    for message, pad in zip(messages, hop_keys, strict=True):
        np.testing.assert_array_equal(message ^ pad, key)  # each hop's message is the key under that hop's pad
        assert not np.array_equal(message, key)
    with pytest.raises(ParameterError, match=r"hop_keys\[1\]"):
        xor_relay([hop_keys[0], hop_keys[1][:10]], key)


def test_key_passes_only_through_trusted_nodes() -> None:
    """A user on the wider detour does not relay: the narrow direct path through the trusted relay is used."""
    levels = {("a", "user"): 100, ("user", "b"): 100, ("a", "relay"): 5, ("relay", "b"): 5}
    p = KeyPools(ends=tuple(levels), capacity_bits=np.full(4, 1e9), relays=frozenset({"relay"}))
    p.level_bits[:] = list(levels.values())
    assert widest_path(p, "a", "b") == (5, [2, 3])
    # With every node trusted the detour is wider.
    p.relays = None
    assert widest_path(p, "a", "b") == (100, [0, 1])


def test_an_unmet_higher_priority_demand_holds_its_path_against_lower_ones() -> None:
    """High a-r-c lacks key on r-c (a satellite yet to pass, say); low a-r must not drain a-r meanwhile."""
    p = KeyPools(ends=(("a", "r"), ("r", "c")), capacity_bits=np.full(2, 1e9), relays=frozenset({"r"}))
    p.level_bits[:] = [100, 0]
    high = Request(demand=0, a="a", b="c", bits=50, priority=2)
    low = Request(demand=1, a="a", b="r", bits=80, priority=1)
    grants = serve(p, [high, low])
    assert [g.bits for g in grants] == [0, pytest.approx(50)]  # only what the high demand does not need
    assert p.level_bits[0] == pytest.approx(50)  # 50 held for the high-priority demand
    p.level_bits[1] = 60  # the missing hop refills
    grants = serve(p, [high, low])
    assert grants[0].bits == pytest.approx(50)
    assert grants[1].bits == 0.0  # a-r is spent


def test_fewest_hops_ignores_the_pools_but_not_the_relays() -> None:
    p = KeyPools(
        ends=(("a", "u"), ("u", "b"), ("a", "r1"), ("r1", "r2"), ("r2", "b")),
        capacity_bits=np.full(5, 1e9),
        relays=frozenset({"r1", "r2"}),
    )
    assert fewest_hops(p, "a", "b") == [2, 3, 4]  # not through the user u, though shorter
    assert fewest_hops(p, "a", "nowhere") == []
