"""One pass per log source group: every rule of the group evaluated on each of its events at once.

Design: the rules of a run are grouped by their log source (Sigma category and service, the
``wormsign_category``/``wormsign_service`` tags of ``sigma_events``). The distinct lower-cased
values of every field a rule's need reads (prefilter.py) are fetched for all groups in one
query. For each group present in the case:

0. the rules whose need no event of the group can meet are left out (they match nothing there);
   a costly rule left in gets a guard, its rarest atoms, tested before its condition;
1. its rows are copied once into a temporary table (``sigma_group``) with the fields its rules
   read, each as recorded and lower-cased (``"~Image"``: backend.py compares strings there), so
   the fields are parsed (fields.py, once per case) and folded once per group, not once per rule;
2. one query reads that table once and returns, for each event some rule of the group matches,
   the numbers of the rules it matches (``list_filter`` over one ``CASE`` per rule), with the
   event's time, host, reference and the group's fields (a group of more than :data:`BLOCK` rules
   is read once per block).

Groups of fewer than :data:`SMALL` events share one table and one pass: each of their rules'
SQL tests its own log source, so it is false on the other groups' events.

A rule's matches come in a total order (time, reference, host, source, fields: the pass sorts
them, and a rule's rows are sorted again in Python only where two share a time and reference)
so that what is kept under ``max_hits_per_rule``, and every alert built from it, is the same
whatever the order DuckDB found rows in, on one thread or many. A query DuckDB refuses is split until the
rule at fault is found; that rule alone is dropped and reported.

On Spark (``case.scans``: fields.py made ``sigma_events`` a Spark view) the same statements run
there, translated from this dialect (:mod:`wormsign.engine.dialect`, regular expressions
included), and only the matches come back. DuckDB still decides which rules run: a pass's rules
are first bound on DuckDB over an empty table of the group's columns, so a rule DuckDB refuses
(a regular expression RE2 does not take) is dropped and reported on both engines alike; a rule
Spark cannot take (one the translation refuses) is dropped and reported the same way.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wormsign.detect.sigma import fields, prefilter
from wormsign.detect.sigma.names import lowered, quote_ident
from wormsign.detect.sigma.logsources import CATEGORY_FIELD, SERVICE_FIELD
from wormsign.engine import records
from wormsign.store import Case

if TYPE_CHECKING:
    from wormsign.detect.sigma.compiled import Rule

log = logging.getLogger(__name__)
#: Where the passes' Spark work is logged (as the other passes over every event log theirs).
log_spark = logging.getLogger("wormsign.engine.passes")
#: A named condition in the translated query of a Spark pass (:meth:`_Spark.match`).
_NAMED = re.compile(r"(?<![`\w])ws_cond_(\d+)(?![`\w])")
GROUP = "sigma_group"
#: The columns of a match besides the rule's fields, in the order alerts.py reads them.
_META = ("wormsign_ts", "wormsign_host", "wormsign_ref", "wormsign_source_host")
#: Rules evaluated in one query: every group of SigmaHQ's Windows set (process_creation has 1,185)
#: is one pass. With DuckDB's optimiser off, one query of 1,185 rules costs what three of 400 do.
BLOCK = 2000
#: Groups of fewer events than this (one DuckDB vector) share one pass, where their rules test
#: their own log source (:func:`_scoped`): a pass's fixed cost is a table and a query.
SMALL = 2048
#: A condition longer than this is guarded (:func:`_costly`).
COSTLY = 2000
#: A field's text in the case (all its values, repeats counted) above which its distinct values are
#: not fetched for the prefilter: its needs then hold, and its rules run.
TEXT_MAX = 16 << 20


@dataclass(slots=True)
class Scan:
    """Each rule's matching rows, (ts, host, ref, source_host, *its fields), in a total order."""

    rows: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)
    passes: int = 0  # queries that read a group table
    kept: int = 0  # rules the prefilter kept (prefilter.py)


#: The order a group's matches are fetched in: time, reference (file digest and record: one
#: event), host, source, then every field.
_ORDER_META = ("wormsign_ts", "wormsign_ref", "wormsign_host", "wormsign_source_host")


def _order(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """ts, ref, host, source, fields; NULL last, as ORDER BY puts it."""
    ts, host, ref, src, *rest = row
    return tuple((v is None, v if v is not None else "") for v in (ts, ref, host, src, *rest))


def _costly(where: str) -> bool:
    """Whether a rule's condition costs enough a row to be worth a guard (prefilter.guard): regular
    expressions, patterns, or long chains (SigmaHQ's dearest rules on hayabusa-sample-evtx)."""
    return len(where) > COSTLY or "regexp_matches(" in where or " LIKE " in where or " ILIKE " in where


def _ordered(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """A rule's rows, (ts, host, ref, source, *its fields) as fetched, in the total order of
    :func:`_order`: as they are when no two share a time and reference (each row is then one
    event, and the fetch order is that order); else sorted."""
    keys = [(r[0], r[2]) for r in rows]
    if all(t is not None and f is not None for t, f in keys) and all(a < b for a, b in zip(keys, keys[1:])):
        return rows
    return sorted(rows, key=_order)


class _Duck:
    """The passes on the catalog's DuckDB."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.small = SMALL

    def columns(self) -> list[str]:
        sql = f"SELECT column_name FROM (DESCRIBE SELECT * FROM {fields.TABLE})"
        return [c for (c,) in self.case.rows(sql)]

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.case.rows(sql, params or [])

    def fill(self, sql: str, params: list[Any]) -> None:
        self.case.engine.execute(f"CREATE OR REPLACE TEMP TABLE {GROUP} AS {sql}", params)

    def match(self, sql: Callable[[Callable[[str], str]], str]) -> list[tuple[Any, ...]]:
        # Nothing to optimise in a scan of one table, and DuckDB's optimiser takes longer over a
        # thousand CASE expressions than the scan itself (0.6 s of 3.4 on hayabusa-sample-evtx).
        self.case.engine.execute("PRAGMA disable_optimizer")
        try:
            return self.case.rows(sql(str))
        finally:
            self.case.engine.execute("PRAGMA enable_optimizer")

    def drop(self) -> None:
        self.case.engine.execute(f"DROP TABLE IF EXISTS {GROUP}")


class _Spark:
    """The passes on Spark (``case.scans``), the rules bound on DuckDB first."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.small = SMALL
        self.scans = case.scans
        self.duck = _Duck(case)
        self._conds: dict[str, str] = {}

    def columns(self) -> list[str]:
        return self.scans.columns(fields.TABLE)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in records(self.scans.query(sql, params or []))]

    def fill(self, sql: str, params: list[Any]) -> None:
        # a view, not a copy: the pass reads it once, from the cached sigma_events
        self.scans.view_query(GROUP, sql, params, cache=False)

    def condition(self, where: str) -> str:
        """A rule's condition (or guard) as Spark SQL, translated once a run."""
        got = self._conds.get(where)
        if got is None:
            head = f"SELECT 1 FROM {GROUP} WHERE "
            text = self.scans.sql(head + where)
            if not text.startswith(head):
                raise ValueError(f"unexpected translation: {text[:120]!r}")
            got = self._conds[where] = text[len(head):]
        return got

    def match(self, sql: Callable[[Callable[[str], str]], str]) -> list[tuple[Any, ...]]:
        """The pass's rows: its query translated around named conditions, each then replaced by
        its own translation (sqlglot reads each rule once a run, not once a pass)."""
        t = time.perf_counter()
        named: list[str] = []

        def name(where: str) -> str:
            named.append(where)
            return f"ws_cond_{len(named) - 1}"

        skeleton = self.scans.sql(sql(name))
        # No ORDER BY: Spark's sort samples its input first, which evaluates every rule twice,
        # and the order is only DuckDB's shortcut: each rule's rows are put in the total order
        # all the same (_ordered: sorted unless already in it).
        head, sep, tail = skeleton.rpartition(" ORDER BY ")
        if not sep or "ws_cond_" in tail or ")" in tail.replace("`", ""):
            raise ValueError(f"unexpected translation of a pass: {skeleton[-200:]!r}")
        text = _NAMED.sub(lambda m: f"({self.condition(named[int(m.group(1))])})", head)
        got = [tuple(r.values()) for r in records(self.scans.spark.sql(text).toArrow())]
        log_spark.debug("spark: %s, %d rows, %.1f s", GROUP, len(got), time.perf_counter() - t)
        return got

    def drop(self) -> None:
        self.scans.release(GROUP)

    def vet(self, compiled: dict[int, Rule], keys: list[int], cols: list[str],
            fail: Callable[[Rule, str], None], guards: dict[int, str]) -> list[int]:
        """The rules of ``keys`` both engines take: each bound on DuckDB (over an empty table of
        the pass's columns) and translated for Spark; the others are reported to ``fail``."""
        names = [*_META, *(quote_ident(c) for c in cols), *(lowered(c) for c in cols)]
        typed = ", ".join(f"{n} VARCHAR" for n in names)
        self.case.engine.execute(f"CREATE OR REPLACE TEMP TABLE {GROUP} ({typed})")
        try:
            _match(self.duck, compiled, keys, cols, fail, Scan(), guards)
        finally:
            self.duck.drop()
        kept = []
        for k in keys:
            if k not in compiled:
                continue
            try:
                self.condition(compiled[k].where)
                if k in guards:
                    self.condition(guards[k])
            except ValueError as e:  # DialectError: the translation refused it
                fail(compiled.pop(k), f"not run on Spark: {str(e)[:300]}")
                continue
            kept.append(k)
        return kept


def _place(case: Case) -> _Duck | _Spark:
    return _Duck(case) if getattr(case, "scans", None) is None else _Spark(case)


#: A pass: its groups, its rules, their guards, the fields they read.
_Pass = tuple[list[tuple[str | None, str | None]], list[int], dict[int, str], set[str]]


def scan(case: Case, compiled: dict[int, Rule], fail: Callable[[Rule, str], None]) -> Scan:
    """Run every compiled rule; ``fail`` is told of (and ``compiled`` loses) a rule DuckDB refuses."""
    out = Scan()
    on = _place(case)
    columns = {c.lower(): c for c in on.columns()}
    groups: dict[tuple[str | None, str | None], list[int]] = {}
    for k, c in compiled.items():
        groups.setdefault(c.group, []).append(k)
        out.rows[k] = []
    wanted = {f.lower() for c in compiled.values() for f in prefilter.fields_of(c.need)} & set(columns)
    texts = _texts(on, sorted(columns[f] for f in wanted))
    passes: list[_Pass] = []
    small: _Pass = ([], [], {}, set())
    for (cat, svc), keys in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")):
        got = texts.get((cat, svc))
        if got is None:  # no event of the group
            continue
        keys = [k for k in keys if got.holds(compiled[k].need)]
        out.kept += len(keys)
        if not keys:
            continue
        cols = {columns[n.lower()] for k in keys for n in compiled[k].fields if n.lower() in columns}
        column = {c.lower(): lowered(c) for c in cols}
        guards = {k: g for k in keys if _costly(compiled[k].where)
                  and (g := prefilter.guard(compiled[k].need, got, column)) is not None}
        if got.rows < on.small and all(_scoped(compiled[k].where, cat, svc) for k in keys):
            small[0].append((cat, svc))  # one pass with the other small groups
            small[1].extend(keys)
            small[2].update(guards)
            small[3].update(cols)
        else:
            passes.append(([(cat, svc)], keys, guards, cols))
    if small[1]:
        passes.append(small)
    for grps, keys, guards, names in passes:
        cols = sorted(names | {CATEGORY_FIELD, SERVICE_FIELD}, key=str.lower)
        if isinstance(on, _Spark):
            keys = on.vet(compiled, keys, cols, fail, guards)
        _fill(on, grps, cols)
        at = {c.lower(): i for i, c in enumerate(cols)}
        hits = _match(on, compiled, keys, cols, fail, out, guards)
        for k, rows in hits.items():
            pick = [4 + at[n.lower()] for n in compiled[k].fields]
            out.rows[k] = _ordered([(r[0], r[1], r[2], r[3], *(r[i] for i in pick)) for r in rows])
        on.drop()
    return out


def _scoped(where: str, cat: str | None, svc: str | None) -> bool:
    """Whether a rule's condition tests its own log source (the conditions logsources.py's pipeline
    adds), so that it can be evaluated on the events of other groups too: false on them."""
    if cat is None and svc is None:
        return False
    return all(t is None or f"contains({lowered(f)}, '|{t}|')" in where
               for f, t in ((CATEGORY_FIELD, cat), (SERVICE_FIELD, svc)))


class _Groups:
    """The texts of each log source group present, made on first use from the tag combinations'."""

    def __init__(self, combos: list[tuple[str | None, str | None, dict[str, list[str]], int]]) -> None:
        self.combos = combos
        self._made: dict[tuple[str | None, str | None], prefilter.Texts | None] = {}

    def get(self, group: tuple[str | None, str | None]) -> prefilter.Texts | None:
        if group not in self._made:
            cat, svc = group
            mine = [(v, n) for pc, ps, v, n in self.combos if (cat is None or f"|{cat}|" in (pc or ""))
                    and (svc is None or f"|{svc}|" in (ps or ""))]
            parts = [v for v, _ in mine]
            if not parts:
                self._made[group] = None
            else:
                names = set(parts[0]).intersection(*parts[1:])  # fetched in every combination
                self._made[group] = prefilter.Texts({n: [x for p in parts for x in p[n]] for n in names},
                                                    sum(n for _, n in mine))
        return self._made[group]


def _texts(on: _Duck | _Spark, cols: list[str]) -> _Groups:
    """The distinct lower-cased values of ``cols`` in each combination of log source tags present
    (a column whose text passes :data:`TEXT_MAX` characters is not fetched)."""
    sizes = "".join(f", sum(strlen({quote_ident(c)}))" for c in cols)
    got = on.rows(f"SELECT {CATEGORY_FIELD}, {SERVICE_FIELD}, count(*){sizes} FROM {fields.TABLE} "
                  "GROUP BY ALL")
    small = [c for i, c in enumerate(cols) if sum(r[3 + i] or 0 for r in got) <= TEXT_MAX]
    combos: dict[tuple[str | None, str | None], dict[str, list[str]]] = {
        (r[0], r[1]): {c.lower(): [] for c in small} for r in got}
    counts = {(r[0], r[1]): int(r[2]) for r in got}
    if small:
        names = ", ".join(quote_ident(c) for c in small)
        # one row per field and value (UNPIVOT leaves NULLs out), then each value once
        for cat, svc, name, values in on.rows(
            f"SELECT t, s, n, list(v) FROM (SELECT DISTINCT t, s, n, lower(v) AS v FROM "
            f"(SELECT {CATEGORY_FIELD} AS t, {SERVICE_FIELD} AS s, {names} FROM {fields.TABLE}) "
            f"UNPIVOT (v FOR n IN ({names}))) GROUP BY ALL"
        ):
            combos[(cat, svc)][name.lower()] = values
    return _Groups([(cat, svc, v, counts[(cat, svc)]) for (cat, svc), v in combos.items()])


def _fill(on: _Duck | _Spark, groups: list[tuple[str | None, str | None]], cols: list[str]) -> None:
    """The rows of the groups with their fields as recorded and lower-cased (each row once)."""
    sel = ", ".join([*_META, *(quote_ident(c) for c in cols),
                     *(f"lower({quote_ident(c)}) AS {lowered(c)}" for c in cols)])
    test = (f"((CAST(? AS VARCHAR) IS NULL OR contains({CATEGORY_FIELD}, ?)) "
            f"AND (CAST(? AS VARCHAR) IS NULL OR contains({SERVICE_FIELD}, ?)))")
    on.fill(f"SELECT {sel} FROM {fields.TABLE} WHERE {' OR '.join(test for _ in groups)}",
            [v for cat, svc in groups for v in (cat, f"|{cat}|", svc, f"|{svc}|")])


def _match(
    on: _Duck | _Spark, compiled: dict[int, Rule], keys: list[int], cols: list[str],
    fail: Callable[[Rule, str], None], out: Scan, guards: dict[int, str] | None = None,
) -> dict[int, list[tuple[Any, ...]]]:
    """The rows of the group table each rule matches: (ts, host, ref, source, *cols).

    ``guards``: a rule's prefilter guard (prefilter.guard), tested before its condition; a rule
    that fails alone with its guard is run again without it before it is reported.
    """
    guards = dict(guards or {})
    hits: dict[int, list[tuple[Any, ...]]] = {}
    todo = [keys[i: i + BLOCK] for i in range(0, len(keys), BLOCK)]
    sel = ", ".join([*_META, *(quote_ident(c) for c in cols)])
    order = ", ".join(f"{c} NULLS LAST" for c in [*_ORDER_META, *(quote_ident(c) for c in cols)])
    while todo:
        part = todo.pop()

        def sql(cond: Callable[[str], str], part: list[int] = part) -> str:
            """The pass's query, each condition as ``cond`` writes it (Spark: a name, for its
            translation made once per rule)."""
            cases = ", ".join(
                f"CASE WHEN {cond(compiled[k].where)} THEN {i} END" if k not in guards else
                f"CASE WHEN {cond(guards[k])} THEN (CASE WHEN {cond(compiled[k].where)} THEN {i} END) END"
                for i, k in enumerate(part))
            # MATERIALIZED: else DuckDB pushes the filter on ``m`` into the scan as a copy of the
            # whole list, and every rule is evaluated twice on every row
            # in a total order (see the module docstring): a rule's rows come out in it, as they are kept
            return (f"WITH x AS MATERIALIZED (SELECT list_filter([{cases}], lambda x: x IS NOT NULL) AS m, "
                    f"{sel} FROM {GROUP}) SELECT * FROM x WHERE array_length(m) > 0 ORDER BY {order}")

        try:
            rows = on.match(sql)
        except Exception as e:  # noqa: BLE001  DuckDB refused the SQL the backend wrote: find the rule
            if len(part) > 1:
                half = len(part) // 2
                todo += [part[:half], part[half:]]
                continue
            if guards.pop(part[0], None) is not None:
                todo.append(part)
                continue
            fail(compiled.pop(part[0]), f"query failed: {type(e).__name__}: {str(e)[:300]}")
            continue
        out.passes += 1
        for r in rows:
            for i in r[0]:
                hits.setdefault(part[i], []).append(r[1:])
    return hits
