"""Software deployment and administration pushes: which tool, which deployer, and how severe.

A push outside every outbreak is a *deployment* when its source behaves as a deployer (it pushed
the same file to ``deploy_min_hosts`` or more hosts within ``deploy_window_s``, or the learned baseline or the
allowlist names it: :mod:`wormsign.detect.baseline`), or when it bears a tool's public footprint
(``deployment.yaml``). Names are claims: a footprint alone never makes a push routine. Severity:

* ``high`` when worm evidence joins it: the deployer was tied to brute force, lockouts, beaconing
  or a loader before the push (``ties``), or a pushed host beaconed from the pushed file (or, with
  no process named, beaconed) within ``exec_window_s`` after the push;
* ``low`` for a recognised tool pushed by a deployer (the tool's own severity: PsExec stays medium
  on first sight), and for a learned or allowlisted deployer pushing what it always pushes;
* ``medium`` otherwise: a deployer outside its baseline, a one-day push with no tool footprint,
  a tool's footprint pushed to too few hosts to call its source a deployer.

Onward spread from the targets needs no check here: those copies are infections
(:mod:`wormsign.graph.select`) and their sources are outbreak hosts, whose pushes are not listed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wormsign.detect.baseline import Baseline
from wormsign.graph.footprints import FOOTPRINTS, SEV_RANK, Tool, tool_of, tools
from wormsign.graph.select import deployment_like

__all__ = ["FOOTPRINTS", "SEV_RANK", "Deployment", "Tool", "deployments", "routine_pairs", "tool_of", "tools"]

# Alert fields that name a file written or started, and those that name a service or an image.
FILE_FIELDS = ("file", "path", "image", "ImagePath", "RelativeTargetName", "Image", "CommandLine")
NAME_FIELDS = ("what", "ServiceName")
_EXE = re.compile(r'\s*"?([^"]*?\.(?:exe|dll|bat|cmd|ps1|msi|sys|dat|com|scr))(?:"|\s|$)', re.I)


def _base(name: str | None) -> str:
    return str(name or "").replace("/", "\\").rsplit("\\", 1)[-1].lower()


def _file(text: Any) -> str | None:
    """The file a field names (an image path with its arguments: the executable)."""
    if not text:
        return None
    m = _EXE.match(str(text))
    return m.group(1) if m else str(text)


@dataclass(slots=True)
class Deployment:
    """One deployer's pushes of one tool (or of no known tool) outside every outbreak."""

    source: str
    tool: Tool | None
    first: datetime
    last: datetime
    files: set[str] = field(default_factory=set)  # base names, lower case
    hashes: set[str] = field(default_factory=set)
    pushed: dict[str, datetime] = field(default_factory=dict)  # target -> first push
    times: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))  # target -> pushes
    paths: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # target -> paths pushed
    fanout: bool = False  # the same file to deploy_min_hosts+ hosts within deploy_window_s
    learned: bool = False  # learned baseline or allowlist
    worm: list[str] = field(default_factory=list)  # the worm evidence that joins it
    tied_at: datetime | None = None

    @property
    def targets(self) -> set[str]:
        return set(self.pushed)

    @property
    def severity(self) -> str:
        if self.worm:
            return "high"
        if self.learned:
            return "low"
        if self.tool is not None and self.fanout:
            return self.tool.severity
        return "medium"

    def title(self, rules: list[str], n: int) -> str:
        what = self.tool.name if self.tool else ", ".join(sorted(self.files)[:3])
        hosts = f"{len(self.pushed)} host{'s' if len(self.pushed) != 1 else ''}"
        tail = f": {', '.join(rules)} ({n} alerts)"
        if self.worm:
            why = "; ".join(self.worm)
            return f"deployment by {self.source} ({what}) joined by worm evidence ({why}){tail}"
        if self.severity == "low":
            how = "learned baseline" if self.learned else "footprint and fan-out"
            return f"routine deployment by {self.source}: {what} to {hosts} ({how}){tail}"
        if self.tool is not None and not self.fanout:
            return f"possible {what} push by {self.source} to {hosts} (footprint, no deployer fan-out){tail}"
        if self.tool is not None:
            return f"{what} by {self.source} to {hosts}, not yet learned as routine{tail}"
        return f"deployment by {self.source} outside its baseline: {what} to {hosts}{tail}"

    def explains(self, alert: dict[str, Any], lead: timedelta) -> bool:
        """True when ``alert`` is this deployment's doing: same source (a same-file correlation:
        the same hash, or only pushed hosts), the same hour, and every file it names pushed here
        or of the tool's footprint (a service name alone must match the footprint)."""
        ts = _when(alert.get("ts"))
        if ts is None or not (self.first - lead <= ts <= self.last + lead):
            return False
        f = alert.get("fields") or {}
        group = f.get("group") if isinstance(f.get("group"), dict) else {}
        if group.get("sha256") or group.get("hash"):
            digest = str(group.get("sha256") or group.get("hash")).lower()
            hosts = {h for h in alert.get("target_hosts") or [] if h} | {alert.get("host")}
            return digest in self.hashes or (bool(hosts) and hosts <= self.targets | {self.source})
        if alert.get("source_host") != self.source:
            return False
        files = [_file(f.get(k)) for k in FILE_FIELDS if f.get(k)]
        files += [str(x) for x in f.get("files") or [] if x]
        names = [str(f.get(k)) for k in NAME_FIELDS if f.get(k)]

        def mine(x: str) -> bool:
            return _base(x) in self.files or (self.tool is not None and (self.tool.matches(x)
                                                                          or self.tool.matches(_base(x))))
        if files:
            return all(mine(x) for x in files)
        if names and any(mine(x) for x in names):
            return True
        # No file named (the wire's svcctl calls): the same source on pushed hosts, each that hour.
        hosts = [h for h in alert.get("target_hosts") or [] if h]
        return bool(hosts) and all(any(abs(t - ts) <= lead for t in self.times.get(h, ())) for h in hosts)


def _when(t: Any) -> datetime | None:
    if isinstance(t, datetime):
        return t
    if not t:
        return None
    return datetime.fromisoformat(str(t).replace("Z", "+00:00"))


def deployments(
    edges: list[dict[str, Any]], since: dict[str, datetime], base: Baseline, ties: dict[str, datetime],
    alerts: list[dict[str, Any]], cfg: dict[str, Any],
) -> list[Deployment]:
    """The deployments among ``edges`` whose source is in no outbreak (``since``: each outbreak
    host's infection time less ``exec_window_s``; its pushes from then on are the outbreak's)."""
    like = deployment_like(edges, int(cfg["deploy_min_hosts"]), float(cfg["deploy_window_s"]))
    lead = timedelta(seconds=int(cfg["exec_window_s"]))
    deps: dict[tuple[str, str | None], Deployment] = {}
    # A file's tool, by source and name: a copy seen without its path is still that file.
    by_name: dict[tuple[str, str], Tool] = {}
    for e in edges:
        t = tool_of(e.get("fname"), e.get("fpath"))
        if t is not None:
            by_name.setdefault((e["source"], _base(e.get("fname"))), t)
    for i, e in enumerate(edges):
        src = e["source"]
        if e["kind"] == "exploit" or (src in since and e["ts"] >= since[src]):
            continue
        tool = by_name.get((src, _base(e.get("fname"))))
        learned = base.benign(e, set())
        if tool is None and i not in like and not learned:
            continue  # a lone copy: lateral movement, not a deployment
        d = deps.get((src, tool.id if tool else None))
        if d is None:
            d = deps[(src, tool.id if tool else None)] = Deployment(src, tool, e["ts"], e["ts"])
        d.first, d.last = min(d.first, e["ts"]), max(d.last, e["ts"])
        if e.get("fname"):
            d.files.add(_base(e["fname"]))
        if e.get("fpath"):
            d.files.add(_base(e["fpath"]))
            d.paths[e["target"]].add(str(e["fpath"]).lower())
        if e.get("sha256"):
            d.hashes.add(str(e["sha256"]).lower())
        d.times[e["target"]].append(e["ts"])
        if e["target"] not in d.pushed or e["ts"] < d.pushed[e["target"]]:
            d.pushed[e["target"]] = e["ts"]
        d.fanout |= i in like
        d.learned |= learned
    out = sorted(deps.values(), key=lambda d: (d.first, d.source))
    for d in out:
        _worm_evidence(d, ties, alerts, lead)
    return out


def _worm_evidence(d: Deployment, ties: dict[str, datetime], alerts: list[dict[str, Any]],
                   lead: timedelta) -> None:
    """Fill ``d.worm``: the deployer tied before its last push, or a pushed host that beaconed
    from what was pushed (or from a process not named) soon after the push."""
    if d.source in ties and ties[d.source] <= d.last:
        d.tied_at = ties[d.source]
        d.worm.append(f"{d.source} brute-forced, locked accounts or beaconed")
    beaconed = set()
    for a in alerts:
        if a["rule"] != "beacon" or a.get("host") not in d.pushed:
            continue
        h, t = a["host"], _when(a.get("first_seen") or a.get("ts"))
        image = _base((a.get("fields") or {}).get("image"))
        pushed = {_base(p) for p in d.paths.get(h, ())} | d.files
        if t is not None and d.pushed[h] <= t <= d.pushed[h] + lead and (not image or image in pushed):
            beaconed.add(h)
    if beaconed:
        hosts = ", ".join(sorted(beaconed)[:5])
        d.worm.append(f"pushed host{'s' if len(beaconed) > 1 else ''} {hosts} beaconed")


def routine_pairs(deps: list[Deployment]) -> set[tuple[str, str]]:
    """(deployer, target) of every deployment with no worm evidence: these pushes never make a
    host 'under attack'."""
    return {(d.source, t) for d in deps if not d.worm for t in d.pushed}
