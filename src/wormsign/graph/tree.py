"""The infection tree: which edge infected each host first, generations, spread rate, R, containment.

Edges come from :mod:`wormsign.detect.propagation` (one row per host starting code it got
from another host). A host is infected by the earliest edge into it, unless it had already
spread itself before that edge (then the edge is a re-infection attempt, not its infection),
or that edge is a lone copy and an infected host reached it later (:func:`_prefer_chains`), or
it came from a root with no worm evidence and a host tied to the worm reached it later
(:func:`_prefer_worm`), so the result is a forest; each weakly connected tree is one candidate outbreak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import networkx as nx


@dataclass(slots=True)
class Tree:
    """One connected outbreak candidate."""

    graph: nx.DiGraph
    root: str
    infected_at: dict[str, datetime]
    edges: list[dict[str, Any]] = field(default_factory=list)  # the infection edges

    @property
    def hosts(self) -> list[str]:
        return list(self.graph.nodes)

    def depth(self) -> int:
        d = nx.single_source_shortest_path_length(self.graph, self.root)
        return max(d.values()) if d else 0

    def generations(self) -> list[list[str]]:
        d = nx.single_source_shortest_path_length(self.graph, self.root)
        out: list[list[str]] = [[] for _ in range(max(d.values()) + 1 if d else 1)]
        for h, g in d.items():
            out[g].append(h)
        far = datetime.max.replace(tzinfo=None)
        return [sorted(g, key=lambda h: (self._naive(self.infected_at.get(h)) or far, h)) for g in out]

    @staticmethod
    def _naive(t: datetime | None) -> datetime | None:
        return t.replace(tzinfo=None) if t else None

    def downstream(self) -> dict[str, int]:
        """How many infections pass through each host (its descendants): :func:`descendant_counts`."""
        return descendant_counts(self.graph)


def descendant_counts(g: nx.DiGraph) -> dict[str, int]:
    """``len(nx.descendants(g, h))`` for every node ``h``, in one pass in reverse topological order.

    An infection tree (no host with two infectors) sums its children's counts: linear in the
    hosts. A DAG in general (a host reached from two sides) ORs its children's descendant sets,
    kept as bits of an int (a few machine words per host at 10,000 hosts); a graph with a cycle,
    which :func:`build_forest` never makes, is counted node by node.
    """
    if not nx.is_directed_acyclic_graph(g):
        return {h: len(nx.descendants(g, h)) for h in g.nodes}
    order = list(nx.topological_sort(g))
    succ = g.succ
    if all(d <= 1 for _, d in g.in_degree()):
        count: dict[str, int] = {}
        for h in reversed(order):
            count[h] = sum(1 + count[c] for c in succ[h])
        return count
    bit = {h: 1 << i for i, h in enumerate(order)}
    below: dict[str, int] = {}
    for h in reversed(order):
        s = 0
        for c in succ[h]:
            s |= bit[c] | below[c]
        below[h] = s
    return {h: below[h].bit_count() for h in order}


def _prefer_chains(into: dict[str, list[dict[str, Any]]], infector: dict[str, dict[str, Any]],
                   first_out: dict[str, datetime]) -> None:
    """A host first reached by a lone copy (its source infected nothing else and was reached by
    no one: an admin who copied an installer to it and ran it, say) and later by an infected
    host, before it spread itself, was infected by the later one: the lone copy is no outbreak's
    start, the chain is."""
    fanout: dict[str, int] = {}
    for e in infector.values():
        fanout[e["source"]] = fanout.get(e["source"], 0) + 1
    for t, e in list(infector.items()):
        s = e["source"]
        if s in infector or fanout.get(s, 0) != 1:
            continue
        later = [e2 for e2 in into.get(t, ()) if e2["ts"] > e["ts"] and e2["source"] in infector
                 and e2["source"] != t and infector[e2["source"]]["ts"] < e2["ts"]
                 and not (t in first_out and first_out[t] < e2["ts"])]
        if later:
            infector[t] = min(later, key=lambda x: (x["ts"], x["source"]))


def _prefer_worm(into: dict[str, list[dict[str, Any]]], infector: dict[str, dict[str, Any]],
                 first_out: dict[str, datetime], ties: Mapping[str, datetime]) -> None:
    """A host first reached from a root with no worm evidence (a deployer's or an admin's push that
    no rule set aside) and later, before it spread itself, by a host tied to the worm by then
    (brute force, lockouts, C2, a loader, a copy of itself: ``ties``) was infected by the later."""
    for t, e in list(infector.items()):
        s = e["source"]
        if s in infector or (s in ties and ties[s] <= e["ts"]):
            continue
        later = [e2 for e2 in into.get(t, ()) if e2["ts"] > e["ts"] and e2["source"] not in (t, s)
                 and e2["source"] in ties and ties[e2["source"]] <= e2["ts"]
                 and not (t in first_out and first_out[t] < e2["ts"])]
        if later:
            infector[t] = min(later, key=lambda x: (x["ts"], x["source"]))


def build_forest(edges: list[dict[str, Any]], ties: Mapping[str, datetime] | None = None) -> list[Tree]:
    """Pick each host's infecting edge and split the result into trees (largest first). ``ties``:
    when each host was first tied to the worm (:func:`_prefer_worm`)."""
    first_out: dict[str, datetime] = {}
    for e in edges:
        s = e["source"]
        if s not in first_out or e["ts"] < first_out[s]:
            first_out[s] = e["ts"]
    def fname(e: dict[str, Any]) -> str:
        return str(e.get("fname") or "").lower()

    passed = {(e["source"], fname(e)) for e in edges}  # (host, file) a host sent on
    out: dict[str, list[dict[str, Any]]] = {}  # edges by source, and by target
    into: dict[str, list[dict[str, Any]]] = {}
    for e in edges:
        out.setdefault(e["source"], []).append(e)
        into.setdefault(e["target"], []).append(e)

    def lone_before(h: str, ts: datetime) -> bool:
        """Every file ``h`` sent before ``ts`` went no further (its targets never sent it on)."""
        return all((o["target"], fname(o)) not in passed for o in out.get(h, ()) if o["ts"] < ts)

    def chained(src: str) -> bool:
        """``src`` was infected, or is a root that reached several hosts."""
        return src in infector or len({o["target"] for o in out.get(src, ())}) >= 2

    infector: dict[str, dict[str, Any]] = {}
    for e in sorted(edges, key=lambda e: (e["ts"], e["source"], e["target"])):
        t = e["target"]
        if t in infector or t == e["source"]:
            continue
        went_on = t in first_out and first_out[t] < e["ts"]
        if went_on and not (chained(e["source"]) and lone_before(t, e["ts"])):
            # it spread before this edge reached it: already infected (unless all it sent before
            # went nowhere, as an admin's installs do, and an infected host reaches it now)
            continue
        infector[t] = e
    # what a host sent before it was infected itself infected no one (the admin's installs):
    # such a target was infected, if at all, by the first infected host to reach it afterwards
    dropped = [t for t, e in infector.items()
               if e["source"] in infector and infector[e["source"]]["ts"] > e["ts"]]
    for t in dropped:
        del infector[t]
    for t in dropped:
        later = [e for e in into.get(t, ()) if e["source"] != t and chained(e["source"])
                 and (e["source"] not in infector or infector[e["source"]]["ts"] <= e["ts"])
                 and (t not in first_out or first_out[t] >= e["ts"] or lone_before(t, e["ts"]))]
        if later:
            infector[t] = min(later, key=lambda x: (x["ts"], x["source"]))
    _prefer_chains(into, infector, first_out)
    if ties:
        _prefer_worm(into, infector, first_out, ties)
    g = nx.DiGraph()
    for t, e in infector.items():
        g.add_edge(e["source"], t)
    if not nx.is_directed_acyclic_graph(g):  # defensive: break cycles at their latest edge
        for cyc in list(nx.simple_cycles(g)):
            pairs = list(zip(cyc, cyc[1:] + cyc[:1], strict=True))
            live = [(a, b) for a, b in pairs if g.has_edge(a, b)]
            if live:
                a, b = max(live, key=lambda p: infector[p[1]]["ts"])
                g.remove_edge(a, b)
                infector.pop(b, None)
    trees: list[Tree] = []
    for comp in nx.weakly_connected_components(g):
        sub = g.subgraph(comp).copy()
        roots = [h for h in sub.nodes if sub.in_degree(h) == 0]
        root = min(roots, key=lambda h: (first_out.get(h, datetime.max), h)) if roots else sorted(comp)[0]
        at = {h: infector[h]["ts"] for h in comp if h in infector}
        if root in first_out:
            at.setdefault(root, first_out[root])
        tedges = sorted((infector[h] for h in comp if h in infector), key=lambda e: e["ts"])
        trees.append(Tree(sub, root, at, tedges))
    trees.sort(key=lambda t: (-t.graph.number_of_nodes(), min(t.infected_at.values())))
    return trees


def spread_rate(tree: Tree) -> float:
    """Infections per hour from the first to the last infection edge."""
    times = sorted(e["ts"] for e in tree.edges)
    if not times:
        return 0.0
    hours = (times[-1] - times[0]).total_seconds() / 3600.0
    return round(len(times) / hours, 3) if hours > 0 else float(len(times))


def r_estimate(tree: Tree) -> float:
    """Mean number of hosts each infected host infected, over hosts that had time to spread
    (infected at least one mean generation interval before the last infection)."""
    if not tree.edges:
        return 0.0
    gaps = [
        (e["ts"] - tree.infected_at[e["source"]]).total_seconds()
        for e in tree.edges
        if e["source"] in tree.infected_at
    ]
    interval = sum(gaps) / len(gaps) if gaps else 0.0
    last = max(tree.infected_at.values())
    hosts = [h for h, t in tree.infected_at.items() if (last - t).total_seconds() >= interval] or list(tree.infected_at)
    return round(sum(tree.graph.out_degree(h) for h in hosts) / len(hosts), 3)


def containment(tree: Tree) -> list[dict[str, Any]]:
    """Isolate first the hosts through which the most further infections passed (choke points),
    earlier infections first on ties; hosts that spread to nobody come last."""
    down = tree.downstream()
    far = datetime.max
    order = sorted(
        tree.graph.nodes,
        key=lambda h: (-down[h], Tree._naive(tree.infected_at.get(h)) or far, h),
    )
    out = []
    for rank, h in enumerate(order, 1):
        n, kids = down[h], tree.graph.out_degree(h)
        if h == tree.root:
            reason = f"patient zero; {n} infections downstream"
        elif n:
            reason = f"choke point: infected {kids} host(s) directly, {n} downstream"
        else:
            reason = "infected; no onward spread seen"
        out.append({"host": h, "rank": rank, "reason": reason, "downstream": n})
    return out
