"""Benchmark containment on big infection trees: the one-pass descendant counts
(:func:`wormsign.graph.tree.descendant_counts`) against the old way, ``nx.descendants`` once per
host, measured in the same run on the same trees.

    .venv/bin/python bench/bench_containment.py                  # 10,000-host trees (old way ~30 s)
    .venv/bin/python bench/bench_containment.py --hosts 2000     # a quick look

Four shapes: a bushy tree (each host infected by a random earlier one: shallow), waves (each
host infected by one of the 100 hosts infected just before it: deep and bushy), a chain (each host
infects the next: the old way's worst case, quadratic) and a DAG of the same size where a tenth
of the hosts are also reached from a second side (the bit-set path). ``containment`` is timed
whole (counts, ranking, reasons) on a :class:`Tree` built from the edges, best of ``--repeat``;
the old way (the same ``containment`` on a tree that counts with ``nx.descendants``) once, as it
is the slow side; ``same`` says both rankings and counts are equal. The issue's aim: containment at 10,000 hosts < 0.1 s.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import networkx as nx

from wormsign.graph.tree import Tree, containment, descendant_counts

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def bushy(n: int, rng: random.Random) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("h0")
    g.add_edges_from((f"h{rng.randrange(i)}", f"h{i}") for i in range(1, n))
    return g


def waves(n: int, rng: random.Random) -> nx.DiGraph:
    """Each host infected by one of the 100 hosts infected just before it (a worm that keeps
    spreading from its newest hosts: a bushy tree about n/50 generations deep)."""
    g = nx.DiGraph()
    g.add_node("h0")
    g.add_edges_from((f"h{rng.randrange(max(0, i - 100), i)}", f"h{i}") for i in range(1, n))
    return g


def chain(n: int, rng: random.Random) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("h0")
    g.add_edges_from((f"h{i - 1}", f"h{i}") for i in range(1, n))
    return g


def dag(n: int, rng: random.Random) -> nx.DiGraph:
    g = bushy(n, rng)
    for i in rng.sample(range(2, n), n // 10):
        g.add_edge(f"h{rng.randrange(1, i)}", f"h{i}")
    return g


class OldTree(Tree):
    """The tree as it counted before: ``nx.descendants`` once per host."""

    __slots__ = ()

    def downstream(self) -> dict[str, int]:
        return {h: len(nx.descendants(self.graph, h)) for h in self.graph.nodes}


def as_tree(g: nx.DiGraph, cls: type[Tree] = Tree) -> Tree:
    at = {h: T0 + timedelta(seconds=int(h[1:])) for h in g.nodes}
    edges = [{"source": a, "target": b, "ts": at[b]} for a, b in g.edges]
    return cls(g, "h0", at, edges)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    print(f"containment at {args.hosts:,} hosts (new: best of {args.repeat}; old: one run)")
    print(f"{'shape':<8} {'edges':>7} {'new s':>9} {'old s':>9} {'old/new':>9}  same  < 0.1 s")
    for name, make in (("bushy", bushy), ("waves", waves), ("chain", chain), ("dag", dag)):
        g = make(args.hosts, random.Random(args.seed))
        tree, old_tree = as_tree(g), as_tree(g, OldTree)
        new = best(lambda tree=tree: containment(tree), args.repeat)
        t = time.perf_counter()
        old_order = containment(old_tree)
        old = time.perf_counter() - t
        same = containment(tree) == old_order and descendant_counts(g) == old_tree.downstream()
        print(f"{name:<8} {g.number_of_edges():>7,} {new:>9.4f} {old:>9.3f} {old / new:>9.0f}x  "
              f"{'yes' if same else 'NO':<5} {'yes' if new < 0.1 else 'NO'}")


if __name__ == "__main__":
    main()
