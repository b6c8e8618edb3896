"""Detections declared as data: one YAML file per rule in ``rules/``, run as bound SQL.

A rule has ``id``, ``title``, ``attack`` (ATT&CK ids), ``severity``, ``explanation`` (plain
language), ``summary`` (a template over the result columns), optional ``thresholds`` of its
own, and ``sql``. The query may use ``$name`` for any threshold of the rule or of
``config.yaml``; values are bound as parameters, never formatted into the SQL.

The query returns ``ts, first_seen, last_seen, host, source_host, target_hosts, evidence,
fields`` (``fields`` as JSON text); each row becomes one alert (docs/formats.md).
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from wormsign.detect.prep import implicate
from wormsign.detect.propagation import bind
from wormsign.engine import records
from wormsign.store import Case

#: libyaml's parser when PyYAML has it (the same documents, several times faster).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RULES_DIR = Path(__file__).resolve().parent / "rules"
#: Rules that read the implicated hosts (``h_impl``) and their activity
#: (:func:`wormsign.detect.prep.implicate`).
LATE = ("beacon", "loader-payload")
SEVERITIES = ("low", "medium", "high", "critical")
_REQUIRED = ("id", "title", "attack", "severity", "explanation", "summary", "sql")


@dataclass(frozen=True, slots=True)
class Rule:
    """One detection."""

    id: str
    title: str
    attack: list[str]
    severity: str
    explanation: str
    summary: str
    sql: str
    thresholds: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def load_rules(directory: Path = RULES_DIR) -> list[Rule]:
    """Every ``*.yaml`` rule of a folder, checked; a bad rule is an error naming its file."""
    rules: list[Rule] = []
    for p in sorted(directory.glob("*.yaml")):
        with open(p, encoding="utf-8") as fh:
            d = yaml.load(fh, Loader=_LOADER)
        if not isinstance(d, dict):
            raise ValueError(f"{p}: a rule must be a mapping")
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise ValueError(f"{p}: missing {', '.join(missing)}")
        if d["severity"] not in SEVERITIES:
            raise ValueError(f"{p}: severity {d['severity']!r} is not one of {SEVERITIES}")
        rules.append(
            Rule(
                id=str(d["id"]), title=str(d["title"]), attack=[str(a) for a in d["attack"]],
                severity=str(d["severity"]), explanation=" ".join(str(d["explanation"]).split()),
                summary=str(d["summary"]), sql=str(d["sql"]), thresholds=dict(d.get("thresholds") or {}),
                path=str(p),
            )
        )
    return rules


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(v)


def _summary(template: str, row: dict[str, Any]) -> str:
    vals = _Blank({k: v for k, v in row.items() if k != "fields"})
    for k, v in row["fields"].items():
        vals.setdefault(k, ", ".join(map(str, v[:5])) + (" ..." if len(v) > 5 else "") if isinstance(v, list) else v)
    return string.Formatter().vformat(template, (), vals)[:500]


def run_rule(case: Case, rule: Rule, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one rule; its rows as alert dicts (without ids)."""
    sql, params = bind(rule.sql, {**cfg, **rule.thresholds})
    out: list[dict[str, Any]] = []
    for row in records(case.query(sql, params)):
        row["fields"] = json.loads(row["fields"]) if row.get("fields") else {}
        out.append(
            {
                "rule": rule.id, "title": rule.title, "severity": rule.severity, "attack": list(rule.attack),
                "ts": _iso(row["ts"]), "first_seen": _iso(row["first_seen"]), "last_seen": _iso(row["last_seen"]),
                "host": row["host"], "source_host": row.get("source_host"),
                "target_hosts": [h for h in row.get("target_hosts") or [] if h],
                "summary": _summary(rule.summary, row), "evidence": list(row.get("evidence") or []),
                "fields": row["fields"],
            }
        )
    return out


def run_rules(case: Case, cfg: dict[str, Any], rules: list[Rule] | None = None) -> list[dict[str, Any]]:
    """Run every rule (needs the working tables of :mod:`wormsign.detect.prep`; the implicated
    hosts are built with their default when a rule of :data:`LATE` needs them and the caller
    did not build them)."""
    rules = rules if rules is not None else load_rules()
    if any(r.id in LATE for r in rules) and not case.engine.has_table("h_impl"):
        implicate(case, cfg)
    alerts: list[dict[str, Any]] = []
    for rule in rules:
        alerts.extend(run_rule(case, rule, cfg))
    return alerts
