"""The compiled rule set: every rule as the SQL condition, fields and scope a run needs, kept on disk.

Design: loading the SigmaHQ Windows set (2,400 YAML files) and converting it with pySigma takes
most of a small run's time (3 s on 25,000 events, against 2 s for everything DuckDB does), and
gives the same result for the same rule files. So what a run needs of each rule is data
(:class:`RuleSet`: the SQL condition, the fields it reads, its log source group, its scope
(scope.py), what its alerts say; each correlation's type, condition, groups and base rules;
every rule skipped and why), kept as JSON under the cache folder (``WORMSIGN_CACHE``, else
``$XDG_CACHE_HOME/wormsign`` or ``~/.cache/wormsign``; ``WORMSIGN_CACHE=off`` keeps none). Its
name is a digest of everything the result depends on: each rule file's path and content, the
tuning in settings.yaml, the log source and field tables, this package's code and the pySigma
versions. A run finds the set for its rules there or compiles it and writes it; a cache that
cannot be read or written is only logged. A run from the cache and a run that compiles give
the same alerts (tests/detect/sigma/test_sigma_determinism.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wormsign.detect.sigma import alerts, fields, loader, logsources, prefilter, scope
from wormsign.detect.sigma.alerts import Info
from wormsign.detect.sigma.correlate import KINDS
from wormsign.detect.sigma.loader import Skip, rule_key

if TYPE_CHECKING:  # compiling imports pySigma; a run from the kept set does not
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    from wormsign.detect.sigma.backend import DuckDBSigmaBackend
    from wormsign.detect.sigma.loader import AnyRule

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
#: Changes whenever the layout of the kept set does.
FORMAT = 3
#: Compiled sets kept in the cache folder; the least recently written beyond this are removed.
KEEP = 16


@dataclass(slots=True)
class Rule:
    """A single-event rule, ready to run."""

    info: Info
    file: str
    output: bool  # raises alerts of its own (False: a correlation's base rule without generate)
    group: tuple[str | None, str | None]  # its log source: (category, service)
    where: str
    fields: list[str]
    plan: scope.Plan
    need: prefilter.Need = None  # what some event must hold for it to match (prefilter.py)


@dataclass(slots=True)
class Correlation:
    """A correlation rule, ready to run: ``refs`` are (index in :attr:`RuleSet.rules`, the group-by
    fields as that base rule names them)."""

    info: Info
    file: str
    kind: str
    group_by: list[str]
    refs: list[tuple[int, list[str]]]
    fref: str | None
    op: str
    count: int
    seconds: int


@dataclass(slots=True)
class RuleSet:
    loaded: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    sources: dict[str, Any] = field(default_factory=dict)  # the log source tables (Logsources.to_json)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RuleSet:
        return cls(
            d["loaded"], d["skipped"],
            [Rule(Info(**r["info"]), r["file"], r["output"], tuple(r["group"]), r["where"], r["fields"],
                  r["plan"], r["need"]) for r in d["rules"]],
            [Correlation(Info(**c["info"]), c["file"], c["kind"], c["group_by"],
                         [(int(i), list(g)) for i, g in c["refs"]], c["fref"], c["op"], c["count"], c["seconds"])
             for c in d["correlations"]],
            d["sources"],
        )


def cache_dir() -> Path | None:
    got = os.environ.get("WORMSIGN_CACHE")
    if got is not None:
        return None if got.strip().lower() in ("", "off", "0", "no") else Path(got)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wormsign"


def _digest(paths: list[str], cfg: dict[str, Any]) -> str:
    h = hashlib.sha256()
    versions = []
    for dist in ("pySigma", "pySigma-backend-sqlite"):
        try:
            versions.append(metadata.version(dist))
        except metadata.PackageNotFoundError:
            versions.append("?")
    h.update(json.dumps([FORMAT, versions, cfg], sort_keys=True, default=str).encode())
    for p in sorted(HERE.glob("*.py")) + sorted(HERE.glob("*.yaml")):  # this package's code and tables
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    for f in loader.rule_files(paths):
        try:
            h.update(str(f).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
        except OSError as e:
            h.update(f"{f}: {e}".encode())
    return h.hexdigest()[:40]


def rule_set(paths: list[str], cfg: dict[str, Any]) -> RuleSet:
    """The compiled set of the rules under ``paths``: from the cache, else compiled (and kept)."""
    folder = cache_dir()
    target = None
    if folder is not None:
        target = folder / f"sigma-rules-{_digest(paths, cfg)}.json"
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
            if data.get("format") == FORMAT:
                return RuleSet.from_json(data)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("sigma: compiled rule cache %s unreadable (%s); compiling", target, e)
    got = compile_rules(paths, cfg)
    if target is not None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent, delete=False,
                                             prefix=".sigma-", suffix=".tmp") as fh:
                json.dump(got.to_json(), fh)
            os.replace(fh.name, target)  # whole or not at all: a reader never sees half a file
            _prune(target.parent)
        except OSError as e:
            log.warning("sigma: cannot keep the compiled rules in %s: %s", folder, e)
    return got


def _prune(folder: Path) -> None:
    """Keep the :data:`KEEP` most recently written sets (each test or rule folder makes its own)."""
    kept = sorted(folder.glob("sigma-rules-*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
    for old in kept[KEEP:]:
        old.unlink(missing_ok=True)


def _skip(out: RuleSet, res: loader.Loaded, rule: AnyRule, reason: str) -> None:
    log.info("sigma rule %s skipped: %s", rule_key(rule), reason)
    out.skipped.append(Skip(rule_key(rule), rule.title or "", res.files.get(id(rule), ""), reason).as_dict())


def compile_rules(paths: list[str], cfg: dict[str, Any]) -> RuleSet:
    """Load and convert every rule under ``paths`` (pySigma), and plan the correlations."""
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    from wormsign.detect.sigma.backend import DuckDBSigmaBackend

    res = loader.load(paths, max_bytes=int(cfg["max_rule_file_bytes"]))
    out = RuleSet(loaded=len(res.rules), skipped=[s.as_dict() for s in res.skipped])
    out.loaded += sum(1 for s in res.skipped if s.rule != "?")
    ls, fmap = logsources.load(), fields.load()
    out.sources = ls.to_json()
    backend = DuckDBSigmaBackend(processing_pipeline=ls.pipeline(), collect_errors=True)
    corrs = [r for r in res.rules if isinstance(r, SigmaCorrelationRule)]
    for corr in corrs:  # sets generate/backreferences on base rules before they are converted
        try:
            corr.resolve_rule_references(res.collection)
        except Exception as e:  # noqa: BLE001  reported as a skip when the correlation is planned
            log.debug("sigma: %s: %s", rule_key(corr), e)
    compiled: dict[int, Rule] = {}
    disabled = {str(x) for x in cfg.get("disabled") or []}
    cols = scope.columns(fmap.system)
    for rule in res.rules:
        if rule_key(rule) in disabled or (rule.name and rule.name in disabled):
            _skip(out, res, rule, "disabled in settings.yaml")
            if isinstance(rule, SigmaCorrelationRule):
                corrs.remove(rule)
            continue
        if isinstance(rule, SigmaRule):
            got = _compile(rule, backend, ls, fmap, cols, res.files.get(id(rule), ""))
            if isinstance(got, str):
                _skip(out, res, rule, got)
            else:
                compiled[id(rule)] = got
    index = {k: i for i, k in enumerate(compiled)}
    out.rules = list(compiled.values())
    for corr in corrs:
        got = _corr_plan(corr, res, compiled, index, fmap)
        if isinstance(got, str):
            _skip(out, res, corr, got)
        else:
            out.correlations.append(got)
    return out


def _compile(
    rule: SigmaRule, backend: DuckDBSigmaBackend, ls: logsources.Logsources, fmap: fields.FieldMap,
    cols: dict[str, int], file: str,
) -> Rule | str:
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
    seen = len(trees) == len(rule.detection.parsed_condition)
    if not seen:  # not seen converting: parse them again
        trees = [c.parsed for c in rule.detection.parsed_condition]
    ls_ = rule.logsource
    group = (ls_.category.lower() if ls_.category else None, ls_.service.lower() if ls_.service else None)
    # the need is read off the trees as converted only: those are what the SQL says
    return Rule(alerts.info(rule), file, bool(rule._output), group, " OR ".join(f"({q})" for q in queries),
                sorted(set(names) | set(shown)), scope.plan(trees, cols),
                prefilter.need(trees) if seen else None)


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
    corr: SigmaCorrelationRule, res: loader.Loaded, compiled: dict[int, Rule], index: dict[int, int],
    fmap: fields.FieldMap,
) -> Correlation | str:
    """The correlation ready to run (its base rules' fields extended with what it reads), or why not."""
    from sigma.correlations import SigmaCorrelationCondition

    if res.collection is None:
        return "no rule collection"
    try:
        corr.resolve_rule_references(res.collection)
    except Exception as e:  # noqa: BLE001  any failure to resolve is reported, not raised
        return f"unresolved rule reference: {str(e)[:300]}"
    kind = corr.type.name.lower()
    if kind not in KINDS:
        return f"unsupported correlation type {kind!r}"
    cond = corr.condition
    if not isinstance(cond, SigmaCorrelationCondition):
        return "unsupported extended correlation condition"
    fref = getattr(cond, "fieldref", None)
    refs: list[tuple[int, list[str]]] = []
    for ref in corr.rules or []:
        base = ref.rule
        if id(base) not in compiled:
            return f"referenced rule {ref.reference!r} is not runnable"
        names = _group_fields(corr, base)
        refs.append((index[id(base)], list(names)))
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
    return Correlation(alerts.info(corr), res.files.get(id(corr), ""), kind, list(corr.group_by or []), refs,
                       fref if isinstance(fref, str) else None, cond.op.name.lower(), int(cond.count),
                       int(corr.timespan.seconds))
