"""Which propagation edges are infections, and which are routine software deployment.

A deployment looks like this: one host pushes the *same* file (same name or hash) to many
hosts, on a schedule, and the targets never pass it on. Worms rename their copies, come
after brute force, beacon out, or spread on from their targets. So a copy edge is set
aside as a deployment when

* its source and file are allowlisted or learned (:mod:`wormsign.detect.baseline`), or
* its source pushed that same file to ``deploy_min_hosts`` or more hosts that day,

and it is taken back as an infection when the file travels on: its target pushes the same
file on within ``chain_window_s`` (a deployment that spreads on from its targets), its source
got that same file through an infection, or a sibling copy (same source, file and day) is an
infection. A source tied to brute force, lockouts or C2 is never set aside. The rules repeat
until nothing changes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from wormsign.detect.baseline import Baseline


def _keys(e: dict[str, Any]) -> set[str]:
    return {str(k).lower() for k in (e.get("fname"), e.get("sha256")) if k}


def _day(t: datetime) -> str:
    return t.strftime("%Y-%m-%d")


def deployment_like(edges: list[dict[str, Any]], min_hosts: int) -> set[int]:
    """Indexes of copy edges whose source pushed the same file to ``min_hosts``+ hosts that day."""
    targets: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for e in edges:
        if e["kind"] != "copy":
            continue
        for k in _keys(e):
            targets[(e["source"], k, _day(e["ts"]))].add(e["target"])
    out = set()
    for i, e in enumerate(edges):
        if e["kind"] == "copy" and any(len(targets[(e["source"], k, _day(e["ts"]))]) >= min_hosts for k in _keys(e)):
            out.add(i)
    return out


def select_infections(
    edges: list[dict[str, Any]], base: Baseline, ties: set[str], cfg: dict[str, Any]
) -> list[dict[str, Any]]:
    """The edges that are infections (see the module docstring)."""
    like = deployment_like(edges, int(cfg["deploy_min_hosts"]))
    aside = {i for i, e in enumerate(edges) if e["source"] not in ties and e["kind"] != "exploit"
             and (i in like or base.benign(e, ties))}
    kept = set(range(len(edges))) - aside
    window = float(cfg["chain_window_s"])
    out_by_source: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(edges):
        out_by_source[e["source"]].append(i)
    changed = True
    while changed and aside:
        changed = False
        got: dict[tuple[str, str], datetime] = {}  # (host, file key) -> first kept copy to it
        sent: set[tuple[str, str, str]] = set()  # (source, file key, day) of kept copies
        for i in kept:
            e = edges[i]
            for k in _keys(e):
                if (e["target"], k) not in got or e["ts"] < got[(e["target"], k)]:
                    got[(e["target"], k)] = e["ts"]
                sent.add((e["source"], k, _day(e["ts"])))
        for i in sorted(aside):
            e = edges[i]
            keys = _keys(e)
            # the file travels on: it reached the source through an infection, or a sibling copy is one
            take = any((e["source"], k) in got and got[(e["source"], k)] < e["ts"] for k in keys) or any(
                (e["source"], k, _day(e["ts"])) in sent for k in keys)
            if not take:  # the target passes the same file on soon after
                for j in out_by_source.get(e["target"], []):
                    e2 = edges[j]
                    gap = (e2["ts"] - e["ts"]).total_seconds()
                    if 0 < gap <= window and keys & _keys(e2):
                        take = True
                        if j in aside:
                            aside.discard(j)
                            kept.add(j)
                        break
            if take:
                aside.discard(i)
                kept.add(i)
                changed = True
    return [edges[i] for i in sorted(kept, key=lambda i: edges[i]["ts"])]
