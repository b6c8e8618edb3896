"""Patient zero's initial-access chain: the causal chain on a host that led to its first spread.

The chain is traced backwards from the payload, the program that ran last before the spread from
a file written on the host (or from the file an outside exploit session dropped): the file write
that put it there, the process that wrote it, that process's parent, and so on while each step is
part of an intrusion (a program the mail client started, a shell or script host a lure started, a
program run from a file written just before), never the benign process it came from (the mail
client itself, Explorer, an updater). An exploit entry (an SMB session from an outside address
that dropped the payload, ``h_edges`` kind ``exploit``) opens the chain. Processes are linked by
their ids (``process.pid``, ``process.parent.pid``) where the telemetry has them, else by their
executables. Each step is tagged with its ATT&CK techniques (``initial_access_attack``,
detect/config.yaml): a program the mail client started is Phishing (T1566, T1566.001, T1204.002).
Without file telemetry (4688 alone) the chain is the lure's lineage: the first program a mail
client or lure started and the shells, script hosts and download tools below it.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wormsign.graph.files import exe_path
from wormsign.store import Case

# Process starts and file writes on the host (their host is never resolved again: only a network
# sensor's records' is), read from the shards as written so that the filter on the host reaches
# the files.
CHAIN = """
SELECT ts, kind, "process.executable" AS process, "process.parent.executable" AS parent,
       "process.command_line" AS command_line, "process.pid" AS pid, "process.parent.pid" AS ppid,
       "file.path" AS file, coalesce("process.hash.sha256", "file.hash.sha256") AS sha256,
       ws_ref("src.digest", "src.record") AS ref
FROM ({events})
WHERE host = ? AND ts <= ? AND ts >= ? - to_seconds(?)
  AND ((kind = 'process' AND "process.executable" IS NOT NULL) OR (kind = 'file' AND "file.path" IS NOT NULL))
ORDER BY ts, ref
LIMIT ?
"""

#: A file its writer then started a program to open (named on the command line) was written at
#: most this long before.
OPEN_WINDOW = timedelta(hours=1)

# Exploit sessions from outside the network that started a program on the host (propagation.py's
# EXPLOIT rows: evidence is [the session, the execution]).
EXPLOITS = """
SELECT source, ts, drop_ts AS session_ts, evidence, fpath FROM h_edges
WHERE kind = 'exploit' AND target = ? AND ts <= ? AND ts >= ? - to_seconds(?) AND len(evidence) >= 2
  AND regexp_full_match(source, '[0-9.]+|[0-9a-f:]+') AND NOT regexp_matches(source, ?)
ORDER BY ts
"""


@dataclass(slots=True)
class _Ev:
    ts: datetime
    kind: str
    process: str | None
    parent: str | None
    command_line: str | None
    pid: int | None
    ppid: int | None
    file: str | None
    sha256: str | None
    ref: str
    i: int = 0

    @property
    def exe(self) -> str:
        return _norm(self.process)


@dataclass(slots=True)
class _Host:
    """The process starts and file writes of one host, indexed for the walk."""

    procs: list[_Ev]
    by_pid: dict[int, list[_Ev]] = field(default_factory=dict)
    by_exe: dict[str, list[_Ev]] = field(default_factory=dict)
    writes: dict[str, list[_Ev]] = field(default_factory=dict)  # by normalised path
    writes_by_pid: dict[int, list[_Ev]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: list[_Ev]) -> _Host:
        h = cls([r for r in rows if r.kind == "process"])
        for r in rows:
            if r.kind == "process":
                if r.pid is not None:
                    h.by_pid.setdefault(r.pid, []).append(r)
                h.by_exe.setdefault(r.exe, []).append(r)
            elif r.file:
                h.writes.setdefault(_norm(r.file), []).append(r)
                if r.pid is not None:
                    h.writes_by_pid.setdefault(r.pid, []).append(r)
        return h

    @staticmethod
    def _latest(evs: list[_Ev] | None, before: _Ev, ok: Any = None, since: datetime | None = None) -> _Ev | None:
        """The latest of ``evs`` (in read order) before ``before`` that ``ok`` accepts, not older than ``since``."""
        if not evs:
            return None
        for k in range(bisect_left(evs, before.i, key=lambda e: e.i) - 1, -1, -1):
            e = evs[k]
            if since is not None and e.ts < since:
                break
            if ok is None or ok(e):
                return e
        return None

    def parent(self, x: _Ev) -> _Ev | None:
        """The start of ``x``'s parent: the latest start before it with its parent's id (and
        executable, when both are known), else with its parent's executable."""
        want = _norm(x.parent)
        if x.ppid is not None:
            return self._latest(self.by_pid.get(x.ppid), x, lambda e: not want or e.exe == want)
        return self._latest(self.by_exe.get(want), x) if want else None

    def writer(self, w: _Ev) -> _Ev | None:
        """The start of the process that made the write ``w``."""
        want = _norm(w.process)
        if w.pid is not None:
            return self._latest(self.by_pid.get(w.pid), w, lambda e: not want or e.exe == want)
        return self._latest(self.by_exe.get(want), w) if want else None

    def written(self, x: _Ev) -> _Ev | None:
        """The write that put ``x``'s program on the host (its executable), or the file its parent
        wrote that it was started to open (named on its command line: a script, a DLL, a document)."""
        w = self._latest(self.writes.get(x.exe), x)
        if w is not None or x.ppid is None or not x.command_line:
            return w
        cmd = _norm(x.command_line)
        return self._latest(self.writes_by_pid.get(x.ppid), x,
                            lambda e: len(_norm(e.file)) > 4 and _norm(e.file) in cmd, x.ts - OPEN_WINDOW)


def initial_access(case: Case, host: str, before: datetime, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The causal chain on ``host`` that led to its spread at ``before`` (see the module)."""
    lookback = int(cfg["initial_access_lookback_s"])
    rows = case.query(
        CHAIN.replace("{events}", case.raw_events_sql()),
        [host, before, before, lookback, int(cfg.get("initial_access_max_events", 200_000))],
    ).to_pylist()
    evs = [_Ev(**r, i=i) for i, r in enumerate(rows)]
    h = _Host.of(evs)
    exploits = _exploits(case, host, before, lookback, cfg)
    entry = _entries(h, exploits, int(cfg["exec_window_s"]))
    best: list[_Ev] | None = None
    for x in reversed(h.procs):  # the latest payload whose chain is anchored
        if x.ts > before or (x.ref not in entry and h.written(x) is None):
            continue
        chain = _walk(h, x, cfg)
        if _anchored(chain, entry, cfg):
            best = chain
            break
    if best is None:
        best = _lineage(h, before, cfg)
    steps = [_step(e, host, cfg) for e in best]
    hit = next((entry[e.ref] for e in best if e.ref in entry), None)
    if hit is not None:
        steps.insert(0, {"ts": hit["session_ts"] or hit["ts"], "host": host, "step": "exploit",
                         "process": None, "parent": None, "command_line": None, "file": None, "sha256": None,
                         "source": hit["source"], "port": 445, "ref": hit["evidence"][0],
                         "attack": list(cfg["initial_access_attack"].get("exploit") or [])})
    return steps


def _entries(h: _Host, exploits: list[dict[str, Any]], window_s: int) -> dict[str, dict[str, Any]]:
    """The process starts the exploit sessions started, by reference: the execution the exploit
    edge names, or (it names the service install) the first start of its program after it."""
    refs = {e.ref for e in h.procs}
    out: dict[str, dict[str, Any]] = {}
    for x in exploits:
        ref = x["evidence"][1]
        if ref not in refs:
            exe = _norm(exe_path(x.get("fpath")))
            late = x["ts"] + timedelta(seconds=window_s)
            ref = next((e.ref for e in h.by_exe.get(exe, ()) if x["ts"] - timedelta(minutes=1) <= e.ts <= late), None)
        if ref is not None:
            out.setdefault(ref, x)
    return out


def _exploits(case: Case, host: str, before: datetime, lookback: int, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    if not case.engine.has_table("h_edges"):
        return []
    return case.query(EXPLOITS, [host, before, before, lookback, cfg["internal_re"]]).to_pylist()


def _suspicious(h: _Host, x: _Ev, cfg: dict[str, Any]) -> bool:
    """A process that is a step of an intrusion: started by the mail client, a shell or script host
    a lure or another shell started, or a program run from a file written just before."""
    proc, parent = _name(x.process), _name(x.parent)
    lures, kids = set(cfg["initial_access_lures"]), set(cfg["initial_access_children"])
    return (parent in set(cfg["initial_access_mail"]) or (proc in kids and parent in lures | kids)
            or h.written(x) is not None)


def _walk(h: _Host, payload: _Ev, cfg: dict[str, Any]) -> list[_Ev]:
    """The chain to ``payload``, oldest first: the writes and processes it came from, back while
    each is a step of the intrusion (:func:`_suspicious`)."""
    steps = [payload]
    cur = payload
    seen = {payload.i}
    while len(steps) < 64:
        w = h.written(cur)
        if w is not None:
            steps.append(w)
            prev = h.writer(w)
        else:
            prev = h.parent(cur)
        if prev is None or prev.i in seen or not _suspicious(h, prev, cfg):
            break
        steps.append(prev)
        seen.add(prev.i)
        cur = prev
    return steps[::-1]


def _anchored(chain: list[_Ev], entry: dict[str, Any], cfg: dict[str, Any]) -> bool:
    """Whether a chain shows an intrusion, not an installer: it holds a lure step, an exploit
    session's program, or two stages of written-then-run files."""
    if any(e.ref in entry for e in chain):
        return True
    if any(e.kind == "process" and tag(_as_step(e), cfg) for e in chain):
        return True
    return sum(e.kind == "file" for e in chain) >= 2


def _lineage(h: _Host, before: datetime, cfg: dict[str, Any]) -> list[_Ev]:
    """No payload written and run seen (process starts alone): the first program a mail client or
    a lure started that went on to a shell, script host or download tool, with the lure before it
    and the steps of the intrusion below it (children of the chain's processes)."""
    lures, kids = set(cfg["initial_access_lures"]), set(cfg["initial_access_children"])
    mail = set(cfg["initial_access_mail"])
    starts = [x for x in h.procs if x.ts <= before and (
        _name(x.parent) in mail or (_name(x.parent) in lures and _name(x.process) in kids))]
    for first in starts:
        chain = [first]
        up = h.parent(first)
        if up is not None and _suspicious(h, up, cfg):
            chain.insert(0, up)
        members = {e.i for e in chain}
        for x in h.procs:
            if x.i <= first.i or x.ts > before:
                continue
            p = h.parent(x)
            if p is not None and p.i in members and _suspicious(h, x, cfg):
                chain.append(x)
                members.add(x.i)
        if is_lure([_as_step(e) for e in chain], cfg):
            return chain
    return []


def _as_step(e: _Ev) -> dict[str, Any]:
    return {"process": e.process, "parent": e.parent}


def _step(e: _Ev, host: str, cfg: dict[str, Any]) -> dict[str, Any]:
    if e.kind == "file":
        return {"ts": e.ts, "host": host, "step": "file", "process": e.process, "parent": None,
                "command_line": None, "file": e.file, "sha256": e.sha256, "source": None, "port": None,
                "ref": e.ref, "attack": []}
    out = {"ts": e.ts, "host": host, "step": "process", "process": e.process, "parent": e.parent,
           "command_line": e.command_line, "file": None, "sha256": e.sha256, "source": None, "port": None,
           "ref": e.ref}
    out["attack"] = tag(out, cfg)
    return out


def tag(step: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    """The ATT&CK techniques of one step (``initial_access_attack`` in config.yaml): a program
    the mail client started is Phishing (T1566, T1566.001: an attachment opened, and the user
    running it, T1204.002); one a lure (Office, a script host) started is T1204.002 and what the
    child is (PowerShell T1059.001, mshta T1218.005, a download tool T1105, ...)."""
    spec = cfg["initial_access_attack"]
    proc, parent = _name(step.get("process")), _name(step.get("parent"))
    out: list[str] = []
    if parent in set(cfg["initial_access_mail"]):
        out += spec["from_mail"]
    elif parent in set(cfg["initial_access_lures"]) and proc in set(cfg["initial_access_children"]):
        out += spec["from_lure"]
    if parent in set(cfg["initial_access_lures"]):
        out += spec["child"].get(proc, [])
    return list(dict.fromkeys(out))


def _name(path: str | None) -> str:
    return path.replace("/", "\\").rsplit("\\", 1)[-1].lower() if path else ""


def _norm(path: str | None) -> str:
    return path.replace("/", "\\").lower() if path else ""


def is_lure(chain: list[dict[str, Any]], cfg: dict[str, Any]) -> bool:
    """True when a mail client, Office or a script host started a shell, script host or
    download tool (a user opening a document is not enough)."""
    lures, kids = set(cfg["initial_access_lures"]), set(cfg["initial_access_children"])
    return any(_name(r.get("parent")) in lures and _name(r.get("process")) in kids for r in chain)
