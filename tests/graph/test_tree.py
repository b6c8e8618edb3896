"""The infection tree on hand-made edges: first infection wins, re-infections and cycles are no infections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wormsign.graph.tree import build_forest, containment, r_estimate, spread_rate

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
