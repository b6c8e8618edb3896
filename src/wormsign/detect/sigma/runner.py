"""Run Sigma rules (single-event and correlation) on a case and collect alerts."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.rule import SigmaRule

from wormsign.detect.sigma import alerts, fields, loader, logsources
from wormsign.detect.sigma.backend import DuckDBSigmaBackend
from wormsign.detect.sigma.correlate import KINDS, Hit, evaluate
from wormsign.detect.sigma.loader import AnyRule, Skip, rule_key
from wormsign.detect.sigma.scan import Compiled, scan
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


def _skip(run: SigmaRun, res: loader.Loaded, rule: AnyRule, reason: str) -> None:
    log.info("sigma rule %s skipped: %s", rule_key(rule), reason)
    run.skipped.append(Skip(rule_key(rule), rule.title or "", res.files.get(id(rule), ""), reason).as_dict())


def _compile(
    rule: SigmaRule, backend: DuckDBSigmaBackend, ls: logsources.Logsources, fmap: fields.FieldMap
) -> Compiled | str:
    """The rule as a SQL condition with the fields it reads, or why it cannot be."""
    reason = ls.unsupported(rule.logsource)
    if reason:
        return reason
    before, first = len(backend.errors), len(backend.trees)
    try:
        queries = backend.convert_rule(rule)
        if len(backend.errors) > before:
            err = backend.errors[-1][1]
            return f"conversion error: {type(err).__name__}: {str(err)[:300]}"
        queries = queries or rule.get_conversion_result()
    except Exception as e:  # noqa: BLE001  pySigma raises many kinds; one bad rule must not stop the run
        return f"conversion error: {type(e).__name__}: {str(e)[:300]}"
    if not queries:
        return "conversion gave no query"
    names = backend.required_fields(rule)
    for n in names:
        bad = fmap.unsupported(n)
        if bad:
            return bad
    shown = [f for f in rule.fields or [] if isinstance(f, str) and fmap.unsupported(f) is None][:20]
    trees = backend.trees[first:]
    del backend.trees[first:]
    if len(trees) != len(rule.detection.parsed_condition):  # not seen converting: parse them again
        trees = [c.parsed for c in rule.detection.parsed_condition]
    return Compiled(rule, " OR ".join(f"({q})" for q in queries), sorted(set(names) | set(shown)), trees)


def _group_fields(corr: SigmaCorrelationRule, base: AnyRule) -> list[str]:
    """The group-by fields as the base rule names them (correlation aliases resolved)."""
    out = []
    for g in corr.group_by or []:
        alias = corr.aliases.aliases.get(g)
        name = g
        if alias:
            for ref, fld in alias.mapping.items():
                if ref.reference in (base.name, str(base.id)):
                    name = fld
        out.append(name)
    return out


def _corr_plan(
    corr: SigmaCorrelationRule, res: loader.Loaded, compiled: dict[int, Compiled], fmap: fields.FieldMap
) -> str | None:
    if res.collection is None:
        return "no rule collection"
    try:
        corr.resolve_rule_references(res.collection)
    except Exception as e:  # noqa: BLE001  any failure to resolve is reported, not raised
        return f"unresolved rule reference: {str(e)[:300]}"
    kind = corr.type.name.lower()
    if kind not in KINDS:
        return f"unsupported correlation type {kind!r}"
    if not isinstance(corr.condition, SigmaCorrelationCondition):
        return "unsupported extended correlation condition"
    for ref in corr.rules or []:
        base = ref.rule
        if id(base) not in compiled:
            return f"referenced rule {ref.reference!r} is not runnable"
        names = _group_fields(corr, base)
        fref = getattr(corr.condition, "fieldref", None)
        if isinstance(fref, list):
            if len(fref) != 1:
                return "value_count over several fields is not supported"
            fref = fref[0]
        names += [fref] if fref else []
        for n in names:
            bad = fmap.unsupported(n)
            if bad:
                return bad
        compiled[id(base)].fields = sorted(set(compiled[id(base)].fields) | set(names))
    return None


def run_sigma(case: Case, rule_paths: list[str] | None = None, *, builtin: bool = True) -> SigmaRun:
    """Run the in-house rules (``builtin``) and the rules under ``rule_paths`` on the case."""
    cfg = alerts.settings()
    paths = ([str(loader.BUILTIN)] if builtin else []) + [str(p) for p in rule_paths or []]
    res = loader.load(paths, max_bytes=int(cfg["max_rule_file_bytes"]))
    run = SigmaRun(loaded=len(res.rules), skipped=[s.as_dict() for s in res.skipped])
    run.loaded += sum(1 for s in res.skipped if s.rule != "?")
    ls, fmap = logsources.load(), fields.load()
    backend = DuckDBSigmaBackend(processing_pipeline=ls.pipeline(), collect_errors=True)
    corrs = [r for r in res.rules if isinstance(r, SigmaCorrelationRule)]
    for corr in corrs:  # sets generate/backreferences on base rules before they are converted
        try:
            corr.resolve_rule_references(res.collection)
        except Exception as e:  # noqa: BLE001  reported as a skip when the correlation is planned
            log.debug("sigma: %s: %s", rule_key(corr), e)
    compiled: dict[int, Compiled] = {}
    disabled = {str(x) for x in cfg.get("disabled") or []}
    for rule in res.rules:
        if rule_key(rule) in disabled or (rule.name and rule.name in disabled):
            _skip(run, res, rule, "disabled in settings.yaml")
            if isinstance(rule, SigmaCorrelationRule):
                corrs.remove(rule)
            continue
        if isinstance(rule, SigmaRule):
            got = _compile(rule, backend, ls, fmap)
            if isinstance(got, str):
                _skip(run, res, rule, got)
            else:
                compiled[id(rule)] = got
    plans: list[SigmaCorrelationRule] = []
    for corr in corrs:
        why = _corr_plan(corr, res, compiled, fmap)
        if why:
            _skip(run, res, corr, why)
        else:
            plans.append(corr)
    names = {n for c in compiled.values() for n in c.fields}
    fields.build(case, names, ls, fmap, [c.trees for c in compiled.values()])

    limit = int(cfg["max_hits_per_rule"])
    rows_of: dict[int, list[tuple[Any, ...]]] = {}
    found = scan(case, compiled, lambda c, why: _skip(run, res, c.rule, why))
    for key, c in list(compiled.items()):
        rows = found.rows.get(key, [])
        if len(rows) > limit:
            rows = rows[:limit]
            run.truncated.append(rule_key(c.rule))
        rows_of[key] = rows
        if c.rule._output:
            run.hits[f"sigma:{rule_key(c.rule)}"] += len(rows)
            run.alerts += alerts.from_matches(c.rule, rows, c.fields)
    ran = 0
    for corr in plans:
        if any(id(ref.rule) not in compiled for ref in corr.rules or []):
            _skip(run, res, corr, "a referenced rule failed to run")
            continue
        run.alerts += _correlate(corr, compiled, rows_of, run)
        ran += 1
    run.converted = len(compiled) + ran
    # Ties (one rule, host and time) are broken by the whole alert: ids never depend on rule order.
    run.alerts.sort(key=lambda a: (a["ts"], a["rule"], a["host"], json.dumps(a, sort_keys=True, default=str)))
    for i, a in enumerate(run.alerts, 1):
        a["id"] = f"ALR-{i:06d}"
    return run


def _correlate(
    corr: SigmaCorrelationRule,
    compiled: dict[int, Compiled],
    rows_of: dict[int, list[tuple[Any, ...]]],
    run: SigmaRun,
) -> list[dict[str, Any]]:
    kind = corr.type.name.lower()
    cond = corr.condition
    assert isinstance(cond, SigmaCorrelationCondition)  # checked by _corr_plan
    fref = cond.fieldref[0] if isinstance(cond.fieldref, list) else cond.fieldref
    op, count = cond.op.name.lower(), cond.count
    order = [rule_key(ref.rule) for ref in corr.rules or []]
    hits: list[Hit] = []
    for ref in corr.rules or []:
        c = compiled[id(ref.rule)]
        idx = {n: 4 + i for i, n in enumerate(c.fields)}
        gnames = _group_fields(corr, ref.rule)
        for r in rows_of[id(ref.rule)]:
            group = tuple(r[idx[g]] for g in gnames)
            value = r[idx[fref]] if fref else None
            hits.append(Hit(r[0], group, rule_key(ref.rule), r[2], r[1], value, r[3]))
    bursts = evaluate(hits, kind, timedelta(seconds=corr.timespan.seconds), op, count, order)
    out = [alerts.from_burst(corr, b, kind, list(corr.group_by or []), op, count) for b in bursts]
    run.hits[f"sigma:{rule_key(corr)}"] += sum(len(b.hits) for b in bursts)
    return out
