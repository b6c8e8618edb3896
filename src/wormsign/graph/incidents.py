"""Incidents outside the outbreaks: alerts grouped by kind and by the host that acted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from wormsign.graph.deploy import Deployment
from wormsign.graph.outbreak import beacon_addresses

#: Incident type of the alerts left outside every outbreak (other rules: ``lateral``).
RULE_TYPE = {
    "bruteforce": "bruteforce", "spray": "spray", "lockout-storm": "bruteforce", "beacon": "beacon",
    "service-storm": "execution",
}
SEV_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
#: Rules of copies with nothing started: alone, no code ran on the targets.
COPY_ONLY = {"admin-share-copy", "spreader-fanout"}
#: Movement between two hosts that administrators make too (a copy, a service, a task, WMI,
#: WinRM, DCOM, PsExec, RDP, a sweep of a few RPC pipes): outside every outbreak, an incident of
#: these alone is at most medium unless its host has worm evidence (``tied``: brute force,
#: lockouts, C2, a loader). It is what it is, lateral movement to look at, not "act now".
MOVEMENT = COPY_ONLY | {"remote-exec", "remote-service", "remote-task", "wmi-exec", "winrm-exec", "dcom-exec",
                        "psexec", "wmi-subscription", "rdp-fanout", "enum-fanout"}
#: Alerts that are never a deployment's doing (they stay what they are, and tie the deployer).
NEVER_DEPLOY = ("bruteforce", "spray", "lockout-storm", "beacon", "loader-payload", "smb-exploit-spread")


#: Alerts of one kind and host further apart than this are separate incidents (episodes): a host
#: that moved to others in August and again in October did two things a responder reads apart.
EPISODE_GAP = timedelta(hours=24)
#: Kinds split into episodes (deployments and routine pushes have their own bounds).
EPISODIC = ("lateral", "bruteforce", "spray", "beacon", "execution", "sigma")


@cache
def _families_yaml() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).with_name("families.yaml")).read_text(encoding="utf-8")) or {}


@cache
def _families() -> tuple[dict[str, str], dict[str, str]]:
    """ATT&CK tactic -> family, and family -> label (families.yaml)."""
    data = _families_yaml()
    of: dict[str, str] = {}
    label: dict[str, str] = {}
    for name, spec in (data.get("families") or {}).items():
        label[str(name)] = str(spec["label"])
        for t in spec.get("tactics") or []:
            of.setdefault(str(t).lower(), str(name))
    return of, label


@cache
def _sigma_listed(key: str) -> frozenset[str]:
    """The Sigma rule ids a list of families.yaml names (``copies_only``: their alerts alone only say
    that files reached hosts; ``movement_only``: that one host started code on another as
    administrators do)."""
    return frozenset(f"sigma:{str(i).lower()}" for i in _families_yaml().get(key) or ())


def sigma_family(a: dict[str, Any]) -> str:
    """The family of a Sigma alert (families.yaml): that of its first tactic listed there, else
    its rule alone (``rule:<title>``)."""
    of, _ = _families()
    for t in a.get("tactics") or ():
        if str(t).lower() in of:
            return of[str(t).lower()]
    return f"rule:{a.get('title') or a['rule']}"


def _sigma_title(family: str, actor: str, group: list[dict[str, Any]]) -> str:
    """``Sigma: <rule title>`` for one rule, else the family and its most frequent rules, then
    the acting host (a remote source), the hosts and the alerts."""
    hosts = {a.get("host") for a in group if a.get("host")}
    by = f" from {actor}" if actor else ""
    n = f"{len(hosts)} host{'s' if len(hosts) != 1 else ''}"
    titles = Counter(a.get("title") or a["rule"] for a in group)
    if len(titles) == 1:
        what = next(iter(titles))
    else:
        label = _families()[1].get(family, family.removeprefix("rule:"))
        top = sorted(titles.items(), key=lambda kv: (-kv[1], kv[0]))
        what = f"{label}: {top[0][0]} and {len(top) - 1} more rule{'s' if len(top) > 2 else ''}"
    return f"Sigma: {what}{by} on {n} ({len(group)} alerts)"


def _episodes(groups: dict[tuple[str, str], list[dict[str, Any]]]) -> list[tuple[tuple[str, str],
                                                                                 list[dict[str, Any]]]]:
    """Each group of :data:`EPISODIC` kind, split where its alerts are more than EPISODE_GAP apart."""
    out = []
    for (kind, key), group in groups.items():
        if kind not in EPISODIC:
            out.append(((kind, key), group))
            continue
        run: list[dict[str, Any]] = []
        last: datetime | None = None
        for a in sorted(group, key=lambda a: (str(a.get("ts") or ""), a["id"])):
            start, end = _time(a, "ts"), _time(a)
            if run and start is not None and last is not None and start - last > EPISODE_GAP:
                out.append(((kind, key), run))
                run = []
            run.append(a)
            if end is not None:
                last = end if last is None else max(last, end)
        out.append(((kind, key), run))
    return out


def _time(a: dict[str, Any], key: str = "last_seen") -> datetime | None:
    ts = str(a.get(key) or a.get("ts") or "")
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def _span(group: list[dict[str, Any]], pad: timedelta) -> tuple[str, str]:
    """The ISO bounds of a group's alerts, widened by ``pad`` (to tell the lockouts it caused)."""
    times = [t for a in group for t in (_time(a),) if t is not None]
    if not times:
        return "", "~"
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    return (min(times) - pad).strftime(fmt), (max(times) + pad).strftime(fmt)


def _tied_by(tied: Mapping[str, datetime] | set[str] | frozenset[str], host: str,
             group: list[dict[str, Any]]) -> bool:
    """Whether ``host`` had worm evidence by the time of the group's last alert."""
    if not isinstance(tied, Mapping):
        return host in tied
    at = tied.get(host)
    ends = [t for a in group for t in (_time(a),) if t is not None]
    return at is not None and (not ends or at <= max(ends))


def _hour(a: dict[str, Any], shift: int = 0) -> str:
    """The UTC hour of an alert (``2026-03-02T09``), ``shift`` hours earlier or later."""
    if not shift:
        return str(a.get("ts") or "")[:13]
    t = _time(a, "ts")
    return (t + timedelta(hours=shift)).strftime("%Y-%m-%dT%H") if t else ""


def blank(kind: str, title: str, severity: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """An INCIDENT of docs/formats.md with no outbreak parts, over ``alerts``."""
    seen = [a["first_seen"] or a["ts"] for a in alerts if a.get("first_seen") or a.get("ts")]
    last = [a["last_seen"] or a["ts"] for a in alerts if a.get("last_seen") or a.get("ts")]
    hosts = sorted({h for a in alerts for h in [a.get("host"), a.get("source_host"), *a["target_hosts"]] if h})
    sources = {a.get("source_host") for a in alerts}
    return {
        "type": kind, "title": title, "severity": severity,
        "first_seen": min(seen, default=None), "last_seen": max(last, default=None),
        "first_alert": min((a["ts"] for a in alerts if a.get("ts")), default=None),
        "patient_zero": None, "initial_access": [],
        "hosts": [{"host": h, "state": "source" if h in sources else "attacked",
                   "infected_at": None, "infector": None, "generation": None, "technique": None,
                   "families": [], "hashes": []} for h in hosts],
        "edges": [], "generations": [], "spread_rate_per_hour": 0.0, "r_estimate": 0.0,
        "under_attack": [], "accounts": {"compromised": [], "locked": []},
        "families": [], "deliveries": [], "c2": [], "containment": [],
        "actions": {"isolate": [], "reset_credentials": [], "mfa": [], "block": []},
        "alerts": [a["id"] for a in alerts],
    }


def other_incidents(
    alerts: list[dict[str, Any]], lockouts: list[dict[str, Any]],
    routine: Callable[[dict[str, Any]], bool] | None = None,
    deployers: set[str] | frozenset[str] = frozenset(),
    deploys: list[Deployment] | None = None,
    lead: timedelta = timedelta(hours=1),
    tied: Mapping[str, datetime] | set[str] | frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Alerts outside every outbreak, grouped by kind and the host that acted.

    ``routine`` tells a known deployer's usual push (the learned baseline): a lateral
    incident made only of such alerts is kept, but titled as routine and ranked low. A Sigma
    alert of a known deployer acting on another host (its admin-share writes, say) joins that
    deployer's routine incident: Sigma alerts name no file, so a never-seen binary is told by
    the analytics' own alerts, which stay apart. A lateral incident of one of ``deployers``
    (learned or allowlisted) that is not routine says so in its title: the deployer pushed a
    file it was never seen pushing, or was tied to brute force.

    ``deploys`` (:mod:`wormsign.graph.deploy`) come first: an alert one of them explains (same
    source, file and hour; a same-file correlation over its pushed hosts) joins that deployment's
    incident, at the deployment's severity. Other Sigma alerts are grouped per rule and acting host
    (a remote source), or per rule and UTC day when the host acted on itself: hosts and times that
    have nothing to do with each other are never one incident. Such an incident of rules that only
    say that files reached hosts or that a program was started as administrators start them
    (``copies_only`` and ``movement_only`` in families.yaml) is at most medium unless its acting host
    is one of ``tied``. A lateral incident of copies only
    (``admin-share-copy``, ``spreader-fanout``: nothing was started), or of any movement
    (:data:`MOVEMENT`) that did not go on from its targets (that would be an outbreak), is at most
    medium unless its host is one of ``tied`` (brute force, lockouts, C2 or a loader; given as a
    mapping, tied from that time on: an admin's copies a day before the host was infected are not
    the worm's)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    deps = list(deploys or [])
    # the hours in which each host moved to others, by the analytics' own lateral alerts: a Sigma
    # alert of that host acting on another then is part of that movement, not a second incident
    lateral = [a for a in alerts
               if not a["rule"].startswith("sigma:") and RULE_TYPE.get(a["rule"], "lateral") == "lateral"]
    movers = [a for a in lateral if a.get("source_host") and a.get("source_host") != a.get("host")]
    moving = {(a.get("source_host"), _hour(a)) for a in movers}
    # the hours in which a host guessed passwords, by the analytics' own alerts: a Sigma alert of
    # credential access from it then is the same guessing (one incident, not two naming one host)
    guessing = {(a.get("source_host"), _hour(a)): RULE_TYPE[a["rule"]] for a in alerts
                if RULE_TYPE.get(a["rule"]) in ("spray", "bruteforce") and a.get("source_host")}
    # the events the analytics tied to a remote source: a Sigma alert on one of them acted from there
    by_ref = {ref: a["source_host"] for a in movers for ref in a.get("evidence") or ()}
    # the events of the analytics' lateral alerts that name no other host (a local PsExec: the
    # service, its pipes and the share write come from the host itself): a Sigma alert on one of
    # them is part of that alert's incident, not a second one on the same events
    local = [a for a in lateral if a.get("source_host") in (None, a.get("host"))]
    by_ref_local = {ref: a.get("source_host") or a.get("host") or "?" for a in local for ref in a.get("evidence") or ()}
    # ... and one on the same host at the same moment (the service a local PsExec installed,
    # records apart from the ones the analytics kept)
    moment = timedelta(seconds=int(_families_yaml().get("same_moment_s", 60)))
    local_spans = [(a.get("host"), lo - moment, hi + moment, a.get("source_host") or a.get("host") or "?")
                   for a in local for lo, hi in [(_time(a, "first_seen"), _time(a))]
                   if lo is not None and hi is not None]

    def local_of(a: dict[str, Any]) -> str | None:
        found = next((by_ref_local[r] for r in a.get("evidence") or () if r in by_ref_local), None)
        if found is None and (t := _time(a, "first_seen")) is not None:
            found = next((k for h, lo, hi, k in local_spans if h == a.get("host") and lo <= t <= hi), None)
        return found
    for a in alerts:
        rule = a["rule"]
        src = a.get("source_host")
        if rule.startswith("sigma:") and (not src or src == a.get("host")):
            src = next((by_ref[r] for r in a.get("evidence") or () if r in by_ref), src)
        owner = None if rule in NEVER_DEPLOY else next(
            (i for i, d in enumerate(deps) if d.explains(a, lead)), None)
        if owner is not None:
            groups.setdefault(("deploy", str(owner)), []).append(a)
            continue
        if rule.startswith("sigma:") and routine is not None and src and src != a.get("host") and routine(a):
            groups.setdefault(("routine", src), []).append(a)
            continue
        if rule.startswith("sigma:") and src and src != a.get("host") and (
                (src, _hour(a)) in moving or (src, _hour(a, -1)) in moving):
            groups.setdefault(("lateral", src), []).append(a)
            continue
        if rule.startswith("sigma:") and (not src or src == a.get("host")) and (mine := local_of(a)):
            groups.setdefault(("lateral", mine), []).append(a)
            continue
        if rule.startswith("sigma:") and src and sigma_family(a) == "credentials" and (
                (kind := guessing.get((src, _hour(a))) or guessing.get((src, _hour(a, -1))))):
            groups.setdefault((kind, src), []).append(a)
            continue
        if rule.startswith("sigma:"):
            # Sigma rules outside an outbreak: one incident per rule family and acting host (a
            # remote source; else the hosts it was seen on together), split into episodes.
            actor = src if src and src != a.get("host") else ""
            groups.setdefault(("sigma", f"{sigma_family(a)}\x00{actor}"), []).append(a)
            continue
        kind = RULE_TYPE.get(rule, "lateral")
        if kind == "lateral" and routine is not None and routine(a):
            kind = "routine"  # a known deployer's usual push: kept apart, ranked low
        key = a.get("source_host") or a.get("host") or "?"
        groups.setdefault((kind, key), []).append(a)
    out = []
    for (kind, key), group in sorted(_episodes(groups), key=lambda kv: min(a.get("ts") or "" for a in kv[1])):
        sev = max((a["severity"] for a in group), key=lambda s: SEV_RANK.get(s, 0))
        if kind == "deploy":
            dep = deps[int(key)]
            rules_ = sorted({"sigma" if a["rule"].startswith("sigma:") else a["rule"] for a in group})
            sev, kind, title = dep.severity, "lateral", dep.title(rules_, len(group))
        elif kind == "sigma":
            family, actor = key.split("\x00", 1)
            title = _sigma_title(family, actor, group)
            hosts = {actor} | {a.get("host") for a in group} if actor else {a.get("host") for a in group}
            if hosts & set(deployers):  # a known deployer's own doing: administration to look at
                sev = min(sev, "medium", key=lambda s: SEV_RANK.get(s, 0))
            elif {a["rule"] for a in group} <= _sigma_listed("copies_only") | _sigma_listed("movement_only") \
                    and not any(_tied_by(tied, h, group) for h in ({actor} if actor else hosts) if h):
                # files reached hosts, or a program was started through WMI or PsExec, nothing more,
                # by hosts with no worm evidence: administration does this every day (an admin's
                # installer copies, the same program on many hosts, a management tool's remote
                # command), as the analytics' own movement alone is (MOVEMENT). With a remote
                # source, its evidence alone counts: an admin's push that reached a host which had
                # been spraying passwords is still the admin's push, not the sprayer's
                sev = min(sev, "medium", key=lambda s: SEV_RANK.get(s, 0))
        elif kind == "routine":
            rules_ = sorted({"sigma" if a["rule"].startswith("sigma:") else a["rule"] for a in group})
            sev, kind = "low", "lateral"
            title = f"routine deployment by {key} (learned baseline): {', '.join(rules_)} ({len(group)} alerts)"
        else:
            # Sigma alerts that joined a host's movement are its evidence, not its severity
            core = [a for a in group if not a["rule"].startswith("sigma:")] or group
            sev = max((a["severity"] for a in core), key=lambda s: SEV_RANK.get(s, 0))
            rules_ = sorted({"sigma" if a["rule"].startswith("sigma:") else a["rule"] for a in group})
            known = kind == "lateral" and key in deployers
            who = f"{key}, a known deployer outside its baseline" if known else key
            worm = _tied_by(tied, key, group)
            if kind == "lateral" and set(rules_) - {"sigma"} <= COPY_ONLY and not worm:
                # files copied and nothing started, by a host with no worm evidence: no code ran
                sev = min(sev, "medium", key=lambda s: SEV_RANK.get(s, 0))
                who = f"{who} (copies, nothing started)"
            elif kind == "lateral" and set(rules_) - {"sigma"} <= MOVEMENT and not worm:
                # one host moving to others, no spread on, no guessing, no C2: an admin does this too
                sev = min(sev, "medium", key=lambda s: SEV_RANK.get(s, 0))
            if not any(a.get("source_host") for a in group):  # seen on the host, no source known
                title = f"{kind} on {who}, no source seen: {', '.join(rules_)} ({len(group)} alerts)"
            elif kind == "lateral" and all(a.get("source_host") in (None, key) and a.get("host") == key
                                           for a in group):  # a host acting on itself (a local PsExec)
                title = f"{kind} on {who}, from itself: {', '.join(rules_)} ({len(group)} alerts)"
            else:
                title = f"{kind} from {who}: {', '.join(rules_)} ({len(group)} alerts)"
        inc = blank(kind, title, sev, group)
        if kind == "bruteforce":
            lo, hi = _span(group, EPISODE_GAP)
            mine = [lk for lk in lockouts if lk["source_host"] == key and lo <= str(lk["ts"]) <= hi]
            inc["accounts"]["locked"] = mine
            inc["actions"]["reset_credentials"] = sorted({lk["account"] for lk in mine})
        if kind == "beacon":
            inc["c2"] = [{"address": ad, "port": port, "family": None, "hosts": [a["host"]]}
                         for a in group for ad, port in beacon_addresses(a["fields"])]
            inc["actions"]["block"] = sorted({f"{c['address']}:{c['port']}" for c in inc["c2"]})
        out.append(inc)
    listed = {(lk["account"], lk["ts"]) for inc in out for lk in inc["accounts"]["locked"]}
    rest = [lk for lk in lockouts if (lk["account"], lk["ts"]) not in listed]
    if rest:
        inc = blank("bruteforce", f"{len(rest)} account lockouts", "medium", [])
        inc["first_seen"], inc["last_seen"] = rest[0]["ts"], rest[-1]["ts"]
        inc["accounts"]["locked"] = rest
        out.append(inc)
    return out
