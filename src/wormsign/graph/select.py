"""Which propagation edges are infections, and which are routine software deployment.

A deployment looks like this: one host pushes the *same* file (same name or hash) to many
hosts, on a schedule, and the targets never pass it on. Worms rename their copies, come
after brute force, beacon out, or spread on from their targets. So a copy edge is set
aside as a deployment when

* its source and file are allowlisted or learned (:mod:`wormsign.detect.baseline`), or
* its source pushed a file of that same name to ``deploy_min_hosts`` or more hosts within
  ``deploy_window_s`` (a deployer's pace is its own: client push and health remediation reinstall
  one client a few hosts a day, for days; a worm's copies from one host come in one burst),

and it is taken back as an infection when the file travels on: its target pushes the same
file on within ``chain_window_s`` (a deployment that spreads on from its targets; never the file of
a tool each use copies afresh, PsExec's PSEXESVC.exe), its source
got that same file through an infection, or a sibling copy (same source and file, within
``sibling_window_s``) is an infection. A learned or allowlisted deployer tied to brute force, lockouts or C2 loses its
allowance from then on (a fan-out of one file still needs the file to travel on). A host that pushed the
program its own intrusion delivered (:mod:`wormsign.graph.replicate`) is no deployer: the file travelled
into it. The rules repeat until nothing changes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from wormsign.detect.baseline import Baseline
from wormsign.graph.footprints import tool_of


def _keys(e: dict[str, Any]) -> set[str]:
    """What says two copies are the same file: its name (an edge's hash may be that of the
    process the copy explains, so it does not travel with the file reliably)."""
    return {str(e["fname"]).lower()} if e.get("fname") else set()


@cache
def _fresh(name: str | None, path: str | None) -> bool:
    """Whether a file is that of a tool each use copies afresh (``fresh`` in deployment.yaml:
    psexec.exe carries PSEXESVC.exe and removes it when done): a target that later pushes a file
    of that name ran the tool itself; the file did not travel on. (A file named like another
    tool's, ccmsetup.exe say, still travels by its name: a worm can call itself so.)"""
    tool = tool_of(name, path)
    return tool is not None and tool.fresh


def deployment_like(edges: list[dict[str, Any]], min_hosts: int, window_s: float) -> set[int]:
    """Indexes of copy edges whose source pushed a file of the same name to ``min_hosts``+ hosts
    within ``window_s`` (a span of that length holding the edge and those hosts)."""
    runs: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, e in enumerate(edges):
        if e["kind"] == "copy" and e.get("fname"):  # the name: worms rename each copy (even one hash)
            runs[(e["source"], str(e["fname"]).lower())].append(i)
    out: set[int] = set()
    for idx in runs.values():
        idx.sort(key=lambda i: edges[i]["ts"])
        seen: Counter[str] = Counter()
        hi = done = 0
        for lo in range(len(idx)):
            while hi < len(idx) and (edges[idx[hi]]["ts"] - edges[idx[lo]]["ts"]).total_seconds() <= window_s:
                seen[edges[idx[hi]]["target"]] += 1
                hi += 1
            if len(seen) >= min_hosts:  # every copy from lo to hi - 1 is one span's
                out.update(idx[max(lo, done):hi])
                done = hi
            seen[edges[idx[lo]]["target"]] -= 1
            if not seen[edges[idx[lo]]["target"]]:
                del seen[edges[idx[lo]]["target"]]
    return out


def select_infections(
    edges: list[dict[str, Any]], base: Baseline, ties: dict[str, datetime], cfg: dict[str, Any],
    copies: Mapping[str, datetime] | None = None,
) -> list[dict[str, Any]]:
    """The edges that are infections (see the module docstring). ``ties`` maps a host to the
    time it was first tied to brute force, lockouts or C2: its copies from then on are kept.
    ``copies`` maps a host that pushed the program its own intrusion delivered to it
    (:mod:`wormsign.graph.replicate`) to the time it began running it: its copies from then on
    are the worm's first generation, never a deployment (the file has travelled: into it)."""
    like = deployment_like(edges, int(cfg["deploy_min_hosts"]), float(cfg["deploy_window_s"]))
    copies = copies or {}

    def tied(e: dict[str, Any]) -> bool:
        return e["source"] in ties and e["ts"] >= ties[e["source"]]

    def selfcopy(e: dict[str, Any]) -> bool:
        return e["source"] in copies and e["ts"] >= copies[e["source"]]

    aside = {i for i, e in enumerate(edges) if e["kind"] != "exploit" and not selfcopy(e)
             and (i in like or (not tied(e) and base.benign(e, set())))}
    kept = set(range(len(edges))) - aside
    window, sibling = float(cfg["chain_window_s"]), float(cfg["sibling_window_s"])
    out_by_source: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(edges):
        out_by_source[e["source"]].append(i)
    changed = True
    while changed and aside:
        changed = False
        got: dict[tuple[str, str], datetime] = {}  # (host, file key) -> first kept copy to it
        sent: dict[tuple[str, str], list[datetime]] = defaultdict(list)  # (source, file key) -> kept copy times
        for i in kept:
            e = edges[i]
            for k in _keys(e):
                if (e["target"], k) not in got or e["ts"] < got[(e["target"], k)]:
                    got[(e["target"], k)] = e["ts"]
                sent[(e["source"], k)].append(e["ts"])
        for i in sorted(aside):
            e = edges[i]
            keys = _keys(e)
            # the file travels on: it reached the source through an infection, or a sibling copy is one
            take = any((e["source"], k) in got and got[(e["source"], k)] < e["ts"] for k in keys) or any(
                abs((t - e["ts"]).total_seconds()) <= sibling for k in keys for t in sent.get((e["source"], k), ()))
            if not take and not _fresh(e.get("fname"), e.get("fpath")):  # the target passes it on soon after
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
