"""The one routing of end-to-end keys: widest path, its tie-break, and the relay cost."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qinternet.network.routing import KeyGraph, Route, fewest_hops, path_nodes, relay_cost, widest_path


def test_equal_paths_go_by_the_smaller_link_indices_not_the_node_names() -> None:
    """a-b-d and a-c-d are equally wide and long; a-c-d's links are [1, 0], a-b-d's [2, 3]: a-c-d wins."""
    graph = KeyGraph(ends=(("c", "d"), ("a", "c"), ("a", "b"), ("b", "d")))
    assert widest_path(graph, [7, 7, 7, 7], "a", "d") == Route(7, [1, 0])
    assert path_nodes(graph, "a", [1, 0]) == ["a", "c", "d"]


def test_the_widest_path_may_be_the_longer_one_and_only_through_relays() -> None:
    ring = (("u", "r1"), ("r1", "v"), ("u", "r2"), ("r2", "r3"), ("r3", "v"))
    graph = KeyGraph(ends=ring, relays=frozenset({"r1", "r2", "r3"}))
    assert widest_path(graph, [100, 10, 50, 60, 70], "u", "v") == Route(50, [2, 3, 4])
    assert widest_path(graph, [100, 60, 50, 60, 70], "u", "v") == Route(60, [0, 1])
    untrusted = KeyGraph(ends=ring, relays=frozenset({"r1"}))
    assert widest_path(untrusted, [100, 10, 50, 60, 70], "u", "v") == Route(10, [0, 1])
    assert fewest_hops(graph, "u", "r3") == [2, 3]
    assert fewest_hops(untrusted, "u", "r3") == []  # r2 no longer passes key on, nor does the user v


def test_a_chain_has_one_path_and_none_once_a_hop_is_empty() -> None:
    chain = KeyGraph(ends=(("a", "r1"), ("r1", "r2"), ("r2", "b")), relays=frozenset({"r1", "r2"}))
    assert widest_path(chain, [5, 3, 9], "a", "b") == Route(3, [0, 1, 2])
    assert widest_path(chain, [5, 3, 9], "b", "a") == Route(3, [2, 1, 0])
    assert widest_path(chain, [5, 0, 9], "a", "b") == Route(0.0, [])
    assert widest_path(chain, [5, 3, 9], "a", "a") == Route(0.0, [])
    assert widest_path(KeyGraph(ends=chain.ends, relays=frozenset({"r1"})), [5, 3, 9], "a", "b") == Route(0.0, [])


def test_relaying_costs_every_hop_the_key_length() -> None:
    assert relay_cost([4, 0, 9], 2.5) == [(4, 2.5), (0, 2.5), (9, 2.5)]
    assert relay_cost([], 8) == []


def _simple_paths(graph: KeyGraph, source: str, target: str) -> list[list[int]]:
    """Every simple path from ``source`` to ``target`` whose inner nodes relay (depth-first, all of them)."""
    found: list[list[int]] = []

    def walk(node: str, links: list[int], visited: set[str]) -> None:
        if node == target:
            found.append(links)
            return
        if node != source and not graph.passes_on(node):
            return
        for neighbour, link in graph.neighbours(node):
            if neighbour not in visited:
                walk(neighbour, [*links, link], visited | {neighbour})

    walk(source, [], {source})
    return found


_NODES = ["a", "b", "c", "d", "e"]


@settings(max_examples=300, deadline=None)
@given(
    ends=st.lists(
        st.tuples(st.sampled_from(_NODES), st.sampled_from(_NODES)).filter(lambda e: e[0] != e[1]), max_size=9
    ),
    levels=st.lists(st.integers(0, 4), min_size=9, max_size=9),
    relays=st.sets(st.sampled_from(_NODES)),
)
def test_the_choice_is_the_widest_then_the_shortest_then_the_smallest_link_indices(
    ends: list[tuple[str, str]], levels: list[int], relays: set[str]
) -> None:
    """Against every path enumerated: few levels and small graphs, so that ties of every kind occur."""
    graph = KeyGraph(ends=tuple(ends), relays=frozenset(relays))
    candidates = [p for p in _simple_paths(graph, "a", "e") if p and min(levels[i] for i in p) > 0]
    route = widest_path(graph, levels, "a", "e")
    if not candidates:
        assert route == Route(0.0, [])
        return
    best = min(candidates, key=lambda p: (-min(levels[i] for i in p), len(p), p))
    assert route == Route(min(levels[i] for i in best), best)
