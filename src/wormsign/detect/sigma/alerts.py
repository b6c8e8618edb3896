"""Turn Sigma matches into alerts of the ``alerts.ndjson`` format (docs/formats.md)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from wormsign.detect.sigma.correlate import Burst
from wormsign.detect.sigma.loader import rule_key

if TYPE_CHECKING:
    from wormsign.detect.sigma.loader import AnyRule

HERE = Path(__file__).resolve().parent
_TECHNIQUE = re.compile(r"t\d{4}(?:\.\d{3})?")
_ATTACK_ID = re.compile(r"[tgs]\d{4}(?:\.\d{3})?")


@cache
def settings() -> dict[str, Any]:
    data = yaml.safe_load((HERE / "settings.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{HERE / 'settings.yaml'}: expected a mapping")
    return data


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def attack_ids(rule: AnyRule) -> list[str]:
    """ATT&CK technique ids from the rule's tags: ``attack.t1021.002`` -> ``T1021.002``."""
    out: list[str] = []
    for tag in rule.tags or []:
        if tag.namespace == "attack" and _TECHNIQUE.fullmatch(tag.name.lower()):
            tid = tag.name.upper()
            if tid not in out:
                out.append(tid)
    return out


def tactics(rule: AnyRule) -> list[str]:
    """ATT&CK tactics from the rule's tags, in the rule's order: ``attack.credential-access`` ->
    ``credential-access`` (technique, group and software tags are not tactics)."""
    out: list[str] = []
    for tag in rule.tags or []:
        name = tag.name.lower()
        if tag.namespace == "attack" and not _ATTACK_ID.fullmatch(name) and name not in out:
            out.append(name)
    return out


@dataclass(frozen=True, slots=True)
class Info:
    """What an alert says of its rule (kept in the compiled rule set, compiled.py)."""

    key: str
    title: str
    level: str  # the rule's level, lower case ("medium" when it has none)
    attack: list[str] = field(default_factory=list)
    tactics: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)  # the rule's ``fields``
    timespan: str | None = None  # a correlation's, as written

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def info(rule: AnyRule) -> Info:
    span = getattr(rule, "timespan", None)
    return Info(rule_key(rule), rule.title or rule_key(rule), rule.level.name.lower() if rule.level else "medium",
                attack_ids(rule), tactics(rule), [f for f in getattr(rule, "fields", None) or [] if isinstance(f, str)],
                span.spec if span is not None else None)


def severity(rule: Info) -> str:
    """Alert severity from the rule's level, or from ``level_override`` in settings.yaml."""
    level = str((settings().get("level_override") or {}).get(rule.key, rule.level)).lower()
    return str(settings()["severity"].get(level, "medium"))


def _bounded(v: Any) -> Any:
    if isinstance(v, str) and len(v) > settings()["max_field_chars"]:
        return v[: settings()["max_field_chars"]] + "..."
    return v


def _base(rule: Info, first: datetime, last: datetime, host: str, refs: list[str]) -> dict[str, Any]:
    return {
        "id": "",
        "rule": f"sigma:{rule.key}",
        "title": rule.title,
        "severity": severity(rule),
        "attack": list(rule.attack),
        "tactics": list(rule.tactics),
        "ts": iso(first),
        "first_seen": iso(first),
        "last_seen": iso(last),
        "host": host,
        "evidence": refs[: settings()["max_evidence"]],
    }


def from_matches(rule: Info, rows: list[tuple[Any, ...]], names: list[str]) -> list[dict[str, Any]]:
    """Alerts of a single-event rule: one per host per run of matches no further apart than the gap.

    ``rows`` are (ts, host, ref, source_host, *values of ``names``), ordered by time.
    """
    gap = timedelta(seconds=settings()["merge_gap_seconds"])
    by_host: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        by_host.setdefault(r[1], []).append(r)
    out: list[dict[str, Any]] = []
    for host, hrows in by_host.items():
        runs: list[list[tuple[Any, ...]]] = []
        for r in hrows:
            if runs and r[0] - runs[-1][-1][0] <= gap:
                runs[-1].append(r)
            else:
                runs.append([r])
        for run in runs:
            a = _base(rule, run[0][0], run[-1][0], host, [r[2] for r in run])
            first = run[0]
            a["source_host"] = first[3] or host
            a["target_hosts"] = [host] if first[3] and first[3] != host else []
            wanted = [f for f in rule.shown if f in names] or names
            got = dict(zip(names, first[4:], strict=False))
            values = {
                n: _bounded(got[n])
                for n in wanted
                if got.get(n) is not None and not n.startswith("wormsign_")
            }
            keep = dict(list(values.items())[: settings()["max_alert_fields"]])
            a["fields"] = {"count": len(run), **keep}
            when = a["first_seen"] if len(run) == 1 else f"{a['first_seen']} to {a['last_seen']}"
            a["summary"] = f"Sigma rule '{a['title']}' matched {len(run)} event(s) on {host} ({when})."
            out.append(a)
    return out


def from_burst(
    rule: Info, burst: Burst, kind: str, group_by: list[str], op: str, count: int
) -> dict[str, Any]:
    """The alert of one correlation burst."""
    hosts = Counter(h.host for h in burst.hits)
    host = hosts.most_common(1)[0][0]
    a = _base(rule, burst.first, burst.last, host, [h.ref for h in burst.hits])
    # The burst's source is the one most of its events name; else none but the host: the caller
    # of a domain controller's first lockout of the morning is one user among many, not an actor
    sources = Counter(h.source_host for h in burst.hits if h.source_host)
    top = sources.most_common(1)
    a["source_host"] = top[0][0] if top and top[0][1] * 2 > len(burst.hits) else host
    a["target_hosts"] = sorted(hosts)
    group = {g: _bounded(v) for g, v in zip(group_by, burst.group, strict=False)}
    fields: dict[str, Any] = {
        "count": len(burst.hits),
        "correlation": kind,
        "peak": burst.peak,
        "group": group,
    }
    if burst.values:
        fields["distinct"] = len(burst.values)
        fields["values"] = [_bounded(v) for v, _ in burst.values.most_common(settings()["max_alert_fields"])]
    a["fields"] = fields
    grp = ", ".join(f"{k}={v}" for k, v in group.items()) or "all events"
    tspan = rule.timespan or "?"
    a["summary"] = (
        f"Sigma correlation '{a['title']}' ({kind}, {op} {count} within {tspan}) held for {grp}: "
        f"{len(burst.hits)} events on {len(hosts)} host(s), peak {burst.peak}, "
        f"{a['first_seen']} to {a['last_seen']}."
    )
    return a
