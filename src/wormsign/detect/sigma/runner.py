"""Run Sigma rules (single-event and correlation) on a case and collect alerts."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from wormsign.detect.sigma import alerts, fields, loader, logsources
from wormsign.detect.sigma.compiled import Correlation, Rule, rule_set
from wormsign.detect.sigma.correlate import SQL_KINDS, Hit, evaluate, evaluate_sql
from wormsign.detect.sigma.scan import scan
from wormsign.store import Case

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SigmaRun:
    """What a Sigma run did: alerts, and how many rules loaded, converted and were skipped (why)."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    loaded: int = 0
    converted: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)  # rule -> matching events (or burst events)
    truncated: list[str] = field(default_factory=list)  # rules cut at max_hits_per_rule

    def fired(self) -> list[dict[str, Any]]:
        """One row per rule that raised alerts: rule, title, severity, alerts, hits, hosts."""
        rows: dict[str, dict[str, Any]] = {}
        for a in self.alerts:
            r = rows.setdefault(
                a["rule"],
                {
                    "rule": a["rule"],
                    "title": a["title"],
                    "severity": a["severity"],
                    "alerts": 0,
                    "hosts": set(),
                },
            )
            r["alerts"] += 1
            r["hosts"].add(a["host"])
        out = []
        for r in rows.values():
            r["hits"] = self.hits[r["rule"]]
            r["hosts"] = sorted(r["hosts"])
            out.append(r)
        return sorted(out, key=lambda r: (-r["hits"], r["rule"]))


def _skip(run: SigmaRun, info: alerts.Info, file: str, reason: str) -> None:
    log.info("sigma rule %s skipped: %s", info.key, reason)
    run.skipped.append({"rule": info.key, "title": info.title, "file": file, "reason": reason})


def run_sigma(case: Case, rule_paths: list[str] | None = None, *, builtin: bool = True) -> SigmaRun:
    """Run the in-house rules (``builtin``) and the rules under ``rule_paths`` on the case.

    The rules come compiled (compiled.py: from the cache, or converted now); each log source group
    is one pass over its events (scan.py), on Spark when the case's passes run there (only the
    matches come back); correlations slide over their base rules' matches in the catalog's
    engine (correlate.py).
    """
    cfg = alerts.settings()
    paths = ([str(loader.BUILTIN)] if builtin else []) + [str(p) for p in rule_paths or []]
    rs = rule_set(paths, cfg)
    run = SigmaRun(loaded=rs.loaded, skipped=[dict(s) for s in rs.skipped])
    rules: dict[int, Rule] = dict(enumerate(rs.rules))
    # the log source tables as compiled with the rules: reading them needs no pySigma
    ls = logsources.Logsources.from_json(rs.sources) if rs.sources else logsources.load()
    fmap = fields.load()
    names = {n for r in rules.values() for n in r.fields}
    scans = getattr(case, "scans", None)  # Spark: the field table and the passes there
    try:
        dead: set[int] = set()  # rules that can match none of the case's (channel, EventID) pairs
        fields.build(case, names, ls, fmap, [r.plan for r in rules.values()],
                     rule_fields=[r.fields for r in rules.values()], dead=dead)
        scanned = {k: r for i, (k, r) in enumerate(rules.items()) if i not in dead}
        tried = set(scanned)
        found = scan(case, scanned, lambda r, why: _skip(run, r.info, r.file, why))
        for k in tried - set(scanned):  # the rules DuckDB refused (scan reported them)
            del rules[k]
    finally:
        if scans is not None:
            scans.release(fields.TABLE)

    limit = int(cfg["max_hits_per_rule"])
    rows_of: dict[int, list[tuple[Any, ...]]] = {}
    for key, r in list(rules.items()):
        rows = found.rows.get(key, [])
        if len(rows) > limit:
            rows = rows[:limit]
            run.truncated.append(r.info.key)
        rows_of[key] = rows
        if r.output:
            run.hits[f"sigma:{r.info.key}"] += len(rows)
            run.alerts += alerts.from_matches(r.info, rows, r.fields)
    ran = 0
    for corr in rs.correlations:
        if any(i not in rules for i, _ in corr.refs):
            _skip(run, corr.info, corr.file, "a referenced rule failed to run")
            continue
        run.alerts += _correlate(case, corr, rules, rows_of, run)
        ran += 1
    run.converted = len(rules) + ran
    # Ties (one rule, host and time) are broken by the whole alert: ids never depend on rule order.
    run.alerts.sort(key=lambda a: (a["ts"], a["rule"], a["host"], json.dumps(a, sort_keys=True, default=str)))
    for i, a in enumerate(run.alerts, 1):
        a["id"] = f"ALR-{i:06d}"
    return run


def _correlate(
    case: Case, corr: Correlation, rules: dict[int, Rule], rows_of: dict[int, list[tuple[Any, ...]]],
    run: SigmaRun,
) -> list[dict[str, Any]]:
    order = [rules[i].info.key for i, _ in corr.refs]
    hits: list[Hit] = []
    for i, gnames in corr.refs:
        r = rules[i]
        idx = {n: 4 + j for j, n in enumerate(r.fields)}
        for row in rows_of[i]:
            group = tuple(row[idx[g]] for g in gnames)
            value = row[idx[corr.fref]] if corr.fref else None
            hits.append(Hit(row[0], group, r.info.key, row[2], row[1], value, row[3]))
    span = timedelta(seconds=corr.seconds)
    if corr.kind in SQL_KINDS:
        bursts = evaluate_sql(case.engine, hits, corr.kind, span, corr.op, corr.count)
    else:
        bursts = evaluate(hits, corr.kind, span, corr.op, corr.count, order)
    out = [alerts.from_burst(corr.info, b, corr.kind, corr.group_by, corr.op, corr.count) for b in bursts]
    run.hits[f"sigma:{corr.info.key}"] += sum(len(b.hits) for b in bursts)
    return out
