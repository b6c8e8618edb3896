"""The infection tree on hand-made edges: first infection wins, re-infections and cycles are no infections."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import networkx as nx

from wormsign.graph.tree import build_forest, containment, descendant_counts, r_estimate, spread_rate

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def edge(src: str, dst: str, minutes: float) -> dict[str, Any]:
    return {"source": src, "target": dst, "ts": T0 + timedelta(minutes=minutes), "kind": "copy", "method": "service"}


def test_first_edge_infects_and_later_ones_do_not() -> None:
    edges = [edge("a", "b", 10), edge("c", "b", 20), edge("a", "c", 15), edge("b", "d", 30)]
    [tree] = build_forest(edges)
    assert tree.root == "a"
    assert {t: next(iter(tree.graph.predecessors(t))) for t in "bcd"} == {"b": "a", "c": "a", "d": "b"}
    assert tree.generations() == [["a"], ["b", "c"], ["d"]]
    assert tree.depth() == 2


def test_a_host_that_spread_first_is_not_infected_later() -> None:
    # b spreads at minute 5; the edge a -> b at minute 10 is a re-infection attempt, not b's infection.
    [tree] = build_forest([edge("b", "c", 5), edge("a", "b", 10)] + [edge("b", "e", 6)])
    assert tree.root == "b" and "a" not in tree.graph


def fedge(src: str, dst: str, minutes: float, fname: str) -> dict[str, Any]:
    return {**edge(src, dst, minutes), "fname": fname}


def test_an_admins_copies_do_not_shield_a_host_from_its_infection() -> None:
    # adm copied an installer to srv at minute 5 (it went no further); the worm from w0, which
    # reached several hosts, infects adm at 60 and adm spreads the worm on: adm is infected by w0,
    # and srv was not infected by adm's installer (adm was not infected then).
    edges = [fedge("adm", "srv", 5, "vlc.exe"), fedge("w0", "w1", 50, "perfc.dat"),
             fedge("w0", "adm", 60, "perfc.dat"), fedge("adm", "w2", 70, "perfc.dat")]
    trees = build_forest(edges)
    [tree] = [t for t in trees if "adm" in t.graph]
    assert tree.root == "w0" and next(iter(tree.graph.predecessors("adm"))) == "w0"
    assert "srv" not in tree.graph and ("w2" in tree.graph and next(iter(tree.graph.predecessors("w2"))) == "adm")
    # one that had sent the same file on before is already infected: the later edge is no infection
    edges = [fedge("b", "c", 5, "x.exe"), fedge("c", "d", 6, "x.exe"), fedge("w0", "w1", 8, "x.exe"),
             fedge("w0", "b", 10, "x.exe")]
    assert [t.root for t in build_forest(edges) if "c" in t.graph] == ["b"]


def test_a_lone_copy_gives_way_to_the_chain_that_reaches_the_host_later() -> None:
    # an admin's single copy reached fs at 5; the worm's chain reached it at 90: the chain infected it
    edges = [fedge("adm", "fs", 5, "wireshark.exe"), fedge("w0", "w1", 50, "q.exe"), fedge("w1", "fs", 90, "q.exe")]
    [tree] = [t for t in build_forest(edges) if "fs" in t.graph]
    assert tree.root == "w0" and next(iter(tree.graph.predecessors("fs"))) == "w1"


def test_separate_outbreaks_are_separate_trees_largest_first() -> None:
    trees = build_forest([edge("x", "y", 1), edge("a", "b", 2), edge("b", "c", 3)])
    assert [t.root for t in trees] == ["a", "x"]


def test_rate_r_and_containment() -> None:
    edges = [edge("a", "b", 0), edge("a", "c", 60), edge("b", "d", 120), edge("b", "e", 180)]
    [tree] = build_forest(edges)
    tree.infected_at["a"] = T0 - timedelta(minutes=60)
    assert spread_rate(tree) == round(4 / 3, 3)  # four infections over three hours
    assert r_estimate(tree) > 0
    order = containment(tree)
    assert [(c["host"], c["downstream"]) for c in order[:2]] == [("a", 4), ("b", 2)]
    assert order[0]["rank"] == 1 and "patient zero" in order[0]["reason"]


def _random_tree(rng: random.Random, n: int, bushy: bool) -> nx.DiGraph:
    """A random infection tree of ``n`` hosts: each infected by an earlier one (any, or the last few)."""
    g = nx.DiGraph()
    g.add_node("h0")
    for i in range(1, n):
        j = rng.randrange(i) if bushy else rng.randrange(max(0, i - 3), i)
        g.add_edge(f"h{j}", f"h{i}")
    return g


def _random_dag(rng: random.Random, n: int, p: float) -> nx.DiGraph:
    """A random DAG: an edge i -> j (i < j in a shuffled order) with probability ``p``."""
    names = [f"d{i}" for i in range(n)]
    rng.shuffle(names)
    g = nx.DiGraph()
    g.add_nodes_from(names)
    for i in range(n):
        for j in range(i + 1, n):
            if rng.random() < p:
                g.add_edge(names[i], names[j])
    return g


def test_descendant_counts_equal_networkx_descendants() -> None:
    """The one-pass counts are the old definition, len(nx.descendants) per host, on random forests,
    chains, DAGs where hosts are reached from two sides, and a graph with a cycle."""
    rng = random.Random(16)
    graphs = [nx.DiGraph(), nx.path_graph(50, create_using=nx.DiGraph)]
    for _ in range(30):
        graphs.append(_random_tree(rng, rng.randrange(1, 200), bushy=rng.random() < 0.5))
        forest = nx.union_all([_random_tree(rng, rng.randrange(1, 30), True) for _ in range(3)],
                              rename=("a", "b", "c"))
        graphs.append(forest)
        graphs.append(_random_dag(rng, rng.randrange(2, 80), rng.choice((0.02, 0.1, 0.3))))
    graphs.append(nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]))
    assert any(max((d for _, d in g.in_degree()), default=0) > 1 for g in graphs)  # DAGs really tested
    for g in graphs:
        assert descendant_counts(g) == {h: len(nx.descendants(g, h)) for h in g.nodes}


def test_containment_of_a_long_chain_and_a_bushy_tree() -> None:
    """Containment ranks by the one-pass counts: a 3,000-host chain's root has 2,999 downstream, each
    next host one fewer; in a bushy tree the ranking is by the networkx count, ties by infection time."""
    chain = [edge(f"c{i}", f"c{i + 1}", i) for i in range(2999)]
    [tree] = build_forest(chain)
    order = containment(tree)
    assert [(c["host"], c["downstream"]) for c in order[:3]] == [("c0", 2999), ("c1", 2998), ("c2", 2997)]
    assert order[-1] == {"host": "c2999", "rank": 3000, "reason": "infected; no onward spread seen", "downstream": 0}
    rng = random.Random(7)
    g = _random_tree(rng, 500, bushy=True)
    edges = [edge(a, b, int(b[1:])) for a, b in g.edges]
    [tree] = build_forest(edges)
    order = containment(tree)
    assert [c["downstream"] for c in order] == sorted((len(nx.descendants(g, h)) for h in g), reverse=True)
    assert all(c["downstream"] == len(nx.descendants(g, c["host"])) for c in order)



def test_a_push_from_a_root_with_no_worm_evidence_yields_to_a_tied_host() -> None:
    """A deployer's lone push reached h first (its fan-out too small to set aside); the worm's
    host, tied by then, reached h later and before h spread: h is the worm's."""
    edges = [edge("sccm-01", "h", 0), edge("sccm-01", "k", 5), edge("p0", "a", 90), edge("p0", "h", 95)]
    plain = {h: t.root for t in build_forest(edges) for h in t.hosts}
    assert plain["h"] == "sccm-01"  # the earliest edge, with nothing to tell them apart
    tied = {h: t.root for t in build_forest(edges, {"p0": T0 + timedelta(minutes=60)}) for h in t.hosts}
    assert tied["h"] == "p0" and tied["k"] == "sccm-01"
    late = {h: t.root for t in build_forest(edges, {"p0": T0 + timedelta(minutes=100)}) for h in t.hosts}
    assert late["h"] == "sccm-01"  # tied only after its push to h
