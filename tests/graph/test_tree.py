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
