"""Self-copying spread: a host that pushed the program its own intrusion delivered to it.

A worm copies itself. Before any copy has travelled on (the first generation, minutes long for
NotPetya), that is what tells its fan-out from a deployment: the host that pushed had been
intruded on itself (its initial-access chain, :mod:`wormsign.detect.access`: a lure, an exploit
session, or two stages of files written and then run), and what it pushed is the program that
chain delivered to it: the same SHA-256, the same file name, or the same launch (the targets
start their copy as the source started its own, the file's name aside: ``rundll32.exe
"<file>",#1 30``; a launch with no launcher, the file run by itself, proves nothing).

Two stages count as an intrusion only when the second is another program. A self-extracting
installer unpacks itself under its own name and starts the copy with its own path (Inno Setup's
``<setup>.tmp /SL5="$...,<setup>.exe"``, WiX Burn's ``-burn.clean.room=<bundle>``): an
administrator who downloaded an installer, ran it and then copied it to a few hosts' ADMIN$ and
started it there is not a worm's first generation (:func:`unpacked`). A lure or an exploit session
needs no second stage.

Only hosts that could root an outbreak are looked at, earliest first: they pushed files that bear
no deployment tool's footprint (:mod:`wormsign.graph.footprints`) to ``deploy_min_hosts`` or more
hosts, they are neither a learned nor an allowlisted deployer nor tied already (brute force, C2: no
more evidence needed), and no self-copying host found before reached them (they are its tree's); at
most ``self_copy_max_hosts`` chains are read (one query each), the earliest pushers first.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from wormsign.detect import access
from wormsign.detect.baseline import Baseline
from wormsign.graph.footprints import tool_of
from wormsign.store import Case

# Process starts on the targets that name a copied file, near the copy: how the copy was started.
LAUNCHES = """
WITH k AS (SELECT unnest(?::VARCHAR[]) AS host, unnest(?::VARCHAR[]) AS name, unnest(?::TIMESTAMPTZ[]) AS ts)
SELECT DISTINCT k.host, k.name, p.cmd FROM k JOIN (
    SELECT host, ts, lower("process.command_line") AS cmd FROM ({events})
    WHERE kind = 'process' AND "process.command_line" IS NOT NULL AND list_contains(?, host)
      AND ts >= ? AND ts <= ?) p
  ON p.host = k.host AND contains(p.cmd, k.name)
 AND p.ts BETWEEN k.ts - INTERVAL 60 SECOND AND k.ts + to_seconds(?)
"""
_SPACE = re.compile(r"\s+")


def _base(path: str | None) -> str:
    return str(path or "").replace("/", "\\").rsplit("\\", 1)[-1].lower()


def launch(command: str | None, path: str | None) -> str | None:
    """How ``command`` starts the file at ``path``: the command with the file (with whatever
    folder the command gives it) as ``<f>``, without quotes, lower case; None when it does not
    name the file or starts the file itself (no launcher: any program runs so)."""
    cmd, name = str(command or "").lower(), _base(path)
    if not name or name not in cmd:
        return None
    shape = re.sub(r'[^\s"]*' + re.escape(name), "<f>", cmd)
    shape = _SPACE.sub(" ", shape.replace('"', "")).strip()
    return None if shape.startswith("<f>") else shape


def _delivered(chain: list[dict[str, Any]]) -> tuple[set[str], set[str], set[str]]:
    """(hashes, names, launches) of the programs the chain wrote and then ran."""
    hashes, names, launches = set(), set(), set()
    for i, f in enumerate(chain):
        if f.get("step") != "file" or not f.get("file"):
            continue
        path = str(f["file"])
        for p in chain[i + 1:]:
            if p.get("step") != "process":
                continue
            if str(p.get("process") or "").lower() == path.lower():
                names.add(_base(path))
                hashes.update(str(h).lower() for h in (p.get("sha256"), f.get("sha256")) if h)
            elif (shape := launch(p.get("command_line"), path)) is not None:
                names.add(_base(path))
                launches.add(shape)
                hashes.update([str(f["sha256"]).lower()] if f.get("sha256") else [])
    return hashes, names, launches


def _stages(chain: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """The written-then-run files of a chain, oldest first, as (path, its writer, the program that
    ran it, its command line): each file step and the process step after it (the start it was
    written for, :func:`wormsign.detect.access.initial_access`)."""
    out = []
    for i, f in enumerate(chain):
        if f.get("step") != "file" or not f.get("file"):
            continue
        run = next((p for p in chain[i + 1:] if p.get("step") == "process"), None)
        if run is not None:
            out.append((str(f["file"]), str(f.get("process") or ""), str(run.get("process") or ""),
                        str(run.get("command_line") or "").lower()))
    return out


def unpacked(chain: list[dict[str, Any]]) -> bool:
    """Whether each stage of a chain after the first is the one before unpacking itself, as
    self-extracting installers do: the program that ran the stage before wrote it under that
    stage's name (another folder, another extension) and started it with that stage's file on its
    command line (Inno Setup's ``<setup>.tmp /SL5="$...,<setup>.exe"``, WiX Burn's
    ``.cr\\<bundle>.exe -burn.clean.room=<bundle>``). A dropper's second program (a credential
    dumper, a loader) has a name of its own, and malware that deletes its dropper names it but
    under another name. Names and command lines are the program's own claims: a worm that mimics
    an installer's is found when its copies travel on, as a first generation with no second stage is."""
    stages = _stages(chain)
    if len(stages) < 2:
        return False
    for (path, _, ran, _), (path2, writer2, _, cmd2) in zip(stages, stages[1:], strict=False):
        if not (_stem(path2) == _stem(path) and _base(path) in cmd2
                and _base(writer2) in {_base(path), _base(ran)}):
            return False
    return True


def _stem(path: str) -> str:
    return _base(path).rsplit(".", 1)[0]


def _intrusion(chain: list[dict[str, Any]]) -> bool:
    """Whether a chain shows an intrusion rather than an installer run by hand: an exploit session
    or a lure step opens it, or it has two stages of which the second is not the first unpacking
    itself (:func:`unpacked`)."""
    if any(s.get("step") == "exploit" or s.get("attack") for s in chain):
        return True
    return len(_stages(chain)) >= 2 and not unpacked(chain)


def _candidates(edges: list[dict[str, Any]], base: Baseline, ties: dict[str, datetime],
                min_hosts: int) -> dict[str, list[dict[str, Any]]]:
    """The copy edges of each host that pushed files with no tool footprint to ``min_hosts`` or
    more hosts, neither a learned or allowlisted deployer nor tied already."""
    skip = base.deployers | base.allow_hosts | set(ties)
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in edges:
        if e["kind"] == "copy" and e.get("fname") and e["source"] not in skip \
                and tool_of(e.get("fname"), e.get("fpath")) is None:
            by_source[e["source"]].append(e)
    return {s: es for s, es in by_source.items() if len({e["target"] for e in es}) >= min_hosts}


def _reached(edges: list[dict[str, Any]], root: str) -> set[str]:
    """The hosts ``root``'s pushes reached, and theirs, and so on."""
    out: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        out[e["source"]].append(e["target"])
    seen, todo = {root}, [root]
    while todo:
        for t in out.get(todo.pop(), ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def self_copies(case: Case, edges: list[dict[str, Any]], base: Baseline, ties: dict[str, datetime],
                cfg: dict[str, Any]) -> dict[str, datetime]:
    """Host -> when it began running the program it then pushed (less ``exec_window_s``), for the
    hosts whose fan-out copied the program their own intrusion delivered (see the module)."""
    found = _candidates(edges, base, ties, int(cfg["deploy_min_hosts"]))
    if not found:
        return {}
    lead = timedelta(seconds=int(cfg["exec_window_s"]))
    todo = [e for es in found.values() for e in es]
    lo, hi = min(e["ts"] for e in todo) - lead, max(e["ts"] for e in todo) + lead
    rows = case.rows(LAUNCHES.replace("{events}", case.raw_events_sql()),
                     [[e["target"] for e in todo], [_base(e["fname"]) for e in todo], [e["ts"] for e in todo],
                      sorted({e["target"] for e in todo}), lo, hi, int(lead.total_seconds())])
    started: dict[tuple[str, str], set[str]] = defaultdict(set)
    for host, name, cmd in rows:
        started[(host, name)].add(cmd)
    out: dict[str, datetime] = {}
    covered: set[str] = set()  # hosts a self-copying host reached: its outbreak's, not roots
    looked = 0
    for src, es in sorted(found.items(), key=lambda kv: (min(e["ts"] for e in kv[1]), kv[0])):
        if src in covered:
            continue
        looked += 1
        if looked > int(cfg["self_copy_max_hosts"]):  # a bound on the chains read, earliest first
            break
        first = min(e["ts"] for e in es)
        chain = access.initial_access(case, src, first, cfg)
        runs = [s for s in chain if s.get("step") == "process"]
        if not runs or not _intrusion(chain):
            continue
        hashes, names, launches = _delivered(chain)
        for e in es:
            shapes = {launch(c, e["fname"]) for c in started.get((e["target"], _base(e["fname"])), ())}
            if (str(e.get("sha256") or "").lower() in hashes or _base(e["fname"]) in names
                    or (shapes - {None}) & launches):
                out[src] = min(min(_when(s["ts"]) for s in runs), first) - lead
                covered |= _reached(edges, src)
                break
    return out


def _when(t: Any) -> datetime:
    return t if isinstance(t, datetime) else datetime.fromisoformat(str(t).replace("Z", "+00:00"))
