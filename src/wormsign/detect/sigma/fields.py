"""The ``sigma_events`` table: the case's Windows events under Sigma's Windows field names.

Design: Sigma rules name Windows fields (``Image``, ``ShareName``, ``IpAddress``); the case
stores ECS columns and keeps each original record in ``raw``. Before a run, one temporary
table is built with a text column for every field the loaded rules name, nothing more:
``fields.yaml`` says which come from event model columns (``EventID`` is ``event.code``) and
which fall back to a column when the record itself lacks the field (Security 4688 has no
``Image``; ``process.executable`` holds it). Every other field is read from the record's
EventData with one JSON parse per event (``json_extract_string`` with a list of paths). Building
it once makes each rule a plain scan of one table; a view would parse the JSON again for
every rule. Only events of a known log source (``logsources.yaml``) are copied.

Parsing the records is most of a Sigma run's cost (4 of its 6 s on a 10M-event case), so
the table is kept in the case (``sigma_cache``, described by meta ``sigma_cache``) and
``sigma_events`` is a view of it. A later run on the same events, whose rules need no field
and no (channel, EventID) pair the cache lacks, reads it as it is; one that needs more
rebuilds it with the union of both, so that a hunt's in-house rules and a folder of SigmaHQ
rules are both served after one run of each. A case opened read-only reads a cache that
covers the run, else builds a temporary table as before.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from wormsign import schema
from wormsign.detect.sigma import scope
from wormsign.detect.sigma.names import quote_ident
from wormsign.detect.sigma.logsources import CATEGORY_FIELD, SERVICE_FIELD, Logsources
from wormsign.store import Case

HERE = Path(__file__).resolve().parent
TABLE = "sigma_events"
#: The kept table of the parsed fields (see the module docstring) and its meta key.
CACHE = "sigma_cache"
#: This module's text: the SQL that fills the cache is written here, so a change of it is a
#: change of what the cache holds.
_SOURCE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
#: Columns every row of sigma_events has besides the rule fields.
META = ("wormsign_ts", "wormsign_host", "wormsign_ref", "wormsign_source_host", CATEGORY_FIELD, SERVICE_FIELD)
#: And every row of the cache: its (channel, EventID) pair, so that a run sees its own pairs only.
PAIR = ("wormsign_dataset", "wormsign_code")
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}")
#: Reading the record, the one engine-specific part of the table's SQL: DuckDB's JSON functions,
#: with Spark's bodies beside them (:mod:`wormsign.engine.dialect` expands the macros for Spark;
#: tests/detect/sigma/test_sigma_spark.py holds the two together). Where a Windows record keeps
#: its EventData, by reader: EVTX, Winlogbeat, OTRF (flat). On DuckDB both containers come out of
#: one parse of the record (a list of paths, ``ws_sigma_parts``); the EventData object is then
#: parsed once more for all the rule fields together (``ws_sigma_values``, a list), and field
#: ``i`` (1-based) of them is ``ws_sigma_value(v, i, name)``. On Spark the record is parsed once
#: (a VARIANT) and each field read from it by name. Known differences, none from the readers'
#: own records: a key repeated in one object (DuckDB reads the first value, Spark the last), text
#: after the record's JSON (NULL on DuckDB), numbers in exponent form (``1e-7`` and ``1.0E-7``).
MACROS = (
    "CREATE OR REPLACE TEMP MACRO ws_sigma_json(raw) AS CASE WHEN json_valid(raw) THEN raw END",
    "CREATE OR REPLACE TEMP MACRO ws_sigma_parts(j) AS "
    "json_extract(j, ['$.Event.EventData', '$.winlog.event_data'])",
    "CREATE OR REPLACE TEMP MACRO ws_sigma_values(j, c, paths) AS "
    "json_extract_string(coalesce(c[1], c[2], j::JSON), paths)",
    "CREATE OR REPLACE TEMP MACRO ws_sigma_value(v, i, name) AS v[i]",
)
SPARK_BODIES = {
    "ws_sigma_json": "try_parse_json(raw)",
    "ws_sigma_parts": "array(variant_get(j, '$.Event.EventData'), variant_get(j, '$.winlog.event_data'))",
    "ws_sigma_values": "coalesce(c[0], c[1], j)",
    "ws_sigma_value": "try_variant_get(v, concat('$[\"', name, '\"]'), 'string')",
}
#: The Spark view of the keyed events the table is made from, and of the raw ones for the pairs.
_SRC = "_ws_sigma_src"
_RAW = "_ws_sigma_raw"


@dataclass(frozen=True, slots=True)
class FieldMap:
    system: dict[str, str]
    fallback: dict[str, tuple[str, ...]]

    def unsupported(self, name: str) -> str | None:
        """Why a field name cannot be a column of sigma_events, or None."""
        if name in (CATEGORY_FIELD, SERVICE_FIELD):
            return None
        if name.lower().startswith("wormsign_"):
            return f"field name {name!r} is reserved"
        if name in schema.FIELD_BY_NAME or name in self.system or _PLAIN.fullmatch(name):
            return None
        return f"unsupported field name {name[:80]!r}"


@cache
def load(path: str | None = None) -> FieldMap:
    p = Path(path) if path else HERE / "fields.yaml"
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    system = {str(k): str(v) for k, v in (data.get("system") or {}).items()}
    fallback = {str(k): tuple(str(c) for c in v) for k, v in (data.get("fallback") or {}).items()}
    for col in [*system.values(), *(c for cols in fallback.values() for c in cols)]:
        schema.q(col)  # raises on a column the event model does not have
    return FieldMap(system, fallback)


def _text(col: str) -> str:
    return f"CAST({schema.q(col)} AS VARCHAR)"


def build(
    case: Case,
    names: Iterable[str],
    logsources: Logsources,
    fmap: FieldMap | None = None,
    rules: Iterable[scope.Plan] | None = None,
    rule_fields: Sequence[Iterable[str]] | None = None,
    dead: set[int] | None = None,
) -> list[str]:
    """Make ``sigma_events`` (a view of the cache, or a temporary table on a read-only case) with
    a column per name (one per lower-case name, reading every spelling: :func:`_columns`);
    returns the columns.

    With ``rules`` (each rule's scope, :func:`wormsign.detect.sigma.scope.plan`), only the rows of
    the (channel, EventID) pairs one of them can match are copied; without, every log source row
    is. With ``rule_fields`` too (each rule's fields, in the order of ``rules``), the names are
    those of the rules that can match one of the case's pairs (a column costs every row it is
    copied for), and ``dead`` is given the positions of the others: they match nothing here, and
    the table lacks the fields only they read.
    """
    fmap = fmap or load()
    eng = case.engine
    case.drop(TABLE)
    _table(case, "sigma_ls_cat", ("channel", "code", "tags"), logsources.category_rows())
    _table(case, "sigma_ls_svc", ("channel", "tags"), logsources.service_rows())

    # The datasets of the case that are log sources, as written (a plain IN list of constants is
    # tested inside the scan, so the records of other sources are never read nor decompressed).
    channels = {str(r[0]) for r in [*logsources.category_rows(), *logsources.service_rows()]}
    spark = getattr(case, "scans", None)
    _pairs(case, spark)
    datasets = [d for (d,) in eng.rows("SELECT DISTINCT dataset FROM sigma_pairs ORDER BY dataset")
                if d.lower() in channels] or [None]
    keep, live = (None, None) if rules is None else _keep_pairs(case, datasets, rules, fmap)
    if live is not None and rule_fields is not None:
        if len(rule_fields) != len(live):
            raise ValueError(f"{len(rule_fields)} rules' fields for {len(live)} rules")
        names = [n for ok, fs in zip(live, rule_fields, strict=True) if ok for n in fs]
        if dead is not None:
            dead.update(i for i, ok in enumerate(live) if not ok)
    want = _spellings(
        n for n in names if n not in (CATEGORY_FIELD, SERVICE_FIELD) and fmap.unsupported(n) is None
    )
    if spark is not None:  # no cache: the table is Spark's, for this run
        return _on_spark(case, spark, want, keep, datasets, fmap)
    state = _state(case, logsources, fmap)
    cached = case.get_meta(CACHE)
    if not (cached and cached.get("state") == state and case.engine.has_table(CACHE)):
        cached = None
    if cached and _covers(cached, want, keep):
        _view(case, want, keep is not None)
        return list(_columns(want))
    temporary = bool(getattr(eng, "read_only", False))
    cols, pairs = want, keep
    if cached and not temporary:  # serve this run and the earlier ones: the union of both
        cols = _spellings([*cached["cols"], *want])
        before = None if cached["pairs"] is None else {(d, c) for d, c in cached["pairs"]}
        pairs = None if keep is None or before is None else keep | before
        if pairs is not None:
            _fill_keep(case, pairs)
    sql, params = _select(cols, pairs, datasets, fmap, "events")
    for m in MACROS:
        eng.execute(m)
    target = f"TEMP TABLE {TABLE}" if temporary else f"TABLE {CACHE}"
    sql = f"CREATE OR REPLACE {target} AS {sql}"
    if temporary:
        eng.execute(sql, params)
        return list(_columns(want))
    with case.transaction():  # the table and the meta that describes it land together
        eng.execute(sql, params)
        kept = None if pairs is None else [[d, c] for d, c in sorted(pairs, key=lambda k: (k[0], k[1] or ""))]
        case.set_meta(CACHE, {"state": state, "cols": cols, "pairs": kept})
    if keep is not None and pairs != keep:
        _fill_keep(case, keep)  # this run's own pairs, for the view
    _view(case, want, keep is not None)
    return list(_columns(want))



def _select(cols: list[str], pairs: set[tuple[str, str | None]] | None, datasets: list[str | None],
            fmap: FieldMap, events: str) -> tuple[str, list[Any]]:
    """The query of the table's rows (DuckDB's dialect, the one definition for both engines) over
    ``events``, with the fields ``cols``, of the (dataset, EventID) ``pairs`` (None: all), and its
    parameters."""
    paths: list[str] = []
    exprs: list[str] = []
    system = {k.lower(): v for k, v in fmap.system.items()}
    fallback = {k.lower(): v for k, v in fmap.fallback.items()}
    groups = _columns(cols)
    for n, spelt in groups.items():
        model = [s for s in spelt if s in schema.FIELD_BY_NAME]
        if n.lower() in system:
            exprs.append(_text(system[n.lower()]))
        elif model:
            exprs.append(_text(model[0]))
        else:  # the record's value under any spelling the rules use, then the fallback columns
            raws = []
            for s in spelt:
                paths.append(f'$."{s}"')
                raws.append(f"ws_sigma_value(v, {len(paths)}, {_lit(s)})")
            exprs.append(f"coalesce({', '.join([*raws, *(_text(c) for c in fallback.get(n.lower(), ()))])})")
    select = ",\n".join(f"{e} AS {quote_ident(n)}" for n, e in zip(groups, exprs, strict=True))
    sql = f"""
    WITH base AS (
        SELECT e.*, c.tags AS {CATEGORY_FIELD}, s.tags AS {SERVICE_FIELD},
               ws_sigma_json(e.raw) AS j  -- text: a cast to JSON parses it again
        FROM {events} e
        LEFT JOIN sigma_ls_cat c ON c.channel = lower(e."event.dataset") AND c.code = e."event.code"
        LEFT JOIN sigma_ls_svc s ON s.channel = lower(e."event.dataset")
        {{keep}}
        WHERE (c.tags IS NOT NULL OR s.tags IS NOT NULL)
          AND e."event.dataset" IN ({{datasets}})  -- tested in the scan: no other record is read
          {{codes}}
    ), cs AS (
        SELECT *, ws_sigma_parts(j) AS c FROM base
    ), ed AS (
        SELECT *, ws_sigma_values(j, c, CAST([{', '.join(map(_lit, paths))}] AS VARCHAR[])) AS v FROM cs
    )
    SELECT "ts" AS wormsign_ts, "host" AS wormsign_host,
           "src.digest" || ':' || CAST("src.record" AS VARCHAR) AS wormsign_ref,
           coalesce("source.host", CASE WHEN kind IN ('auth', 'share') THEN "source.ip" END)
               AS wormsign_source_host, {CATEGORY_FIELD}, {SERVICE_FIELD},
           "event.dataset" AS {PAIR[0]}, "event.code" AS {PAIR[1]}
           {"," if select else ""}
           {select}
    FROM ed
    """
    params: list[Any] = list(datasets)
    sql = sql.replace("{datasets}", ", ".join("?" * len(datasets)))
    if pairs is None:
        sql = sql.replace("{keep}", "").replace("{codes}", "")
    else:
        codes = sorted({c for _, c in pairs if c is not None}) or [None]
        sql = sql.replace("{keep}", 'JOIN sigma_keep k ON k.dataset = e."event.dataset" '
                                    'AND k.code IS NOT DISTINCT FROM e."event.code"')
        # EventIDs as a second constant list in the scan: rows of no kept pair are not read.
        nulls = " OR e.\"event.code\" IS NULL" if any(c is None for _, c in pairs) else ""
        sql = sql.replace("{codes}", f"AND (e.\"event.code\" IN ({', '.join('?' * len(codes))}){nulls})")
        params += codes
    return sql, params


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pairs(case: Case, spark: Any) -> None:
    """``sigma_pairs`` (temporary, in the catalog): the distinct (dataset, EventID) of the case's
    events with a dataset, read on the engine the case's passes run on."""
    sql = ('SELECT DISTINCT "event.dataset" AS dataset, "event.code" AS code FROM {} '
           'WHERE "event.dataset" IS NOT NULL')
    if spark is None:
        case.engine.execute(f"CREATE OR REPLACE TEMP TABLE sigma_pairs AS {sql.format('events')}")
        return
    spark.view_files(_RAW, case.event_files(case.shard_ids()), cache=False)
    try:
        got = spark.query(sql.format(_RAW) + (f" AND {case.scope}" if case.scope else ""))
    finally:
        spark.release(_RAW)
    case.engine.execute("CREATE OR REPLACE TEMP TABLE sigma_pairs (dataset VARCHAR, code VARCHAR)")
    if got.num_rows:
        case.engine.append("sigma_pairs", got.rename_columns(["dataset", "code"]))


def _on_spark(case: Case, spark: Any, want: list[str], keep: set[tuple[str, str | None]] | None,
              datasets: list[str | None], fmap: FieldMap) -> list[str]:
    """``sigma_events`` as a cached Spark view over the keyed events, the lookup tables shipped."""
    from wormsign.engine import passes

    t = time.perf_counter()
    for name in ("sigma_ls_cat", "sigma_ls_svc", *(["sigma_keep"] if keep is not None else [])):
        spark.view_table(name, case.query(f"SELECT * FROM {name}"))
    shards = case.shard_ids()
    spark.view_keyed(_SRC, case.event_files(shards), case.key_files(shards), [f.name for f in schema.SCHEMA],
                     cache=False)
    src = f"(SELECT * FROM {_SRC} WHERE {case.scope})" if case.scope else _SRC  # a windowed hunt's events
    sql, params = _select(want, keep, datasets, fmap, src)
    spark.view_query(TABLE, sql, params)
    passes.log.debug("spark: %s, %d columns, %.1f s (planned)", TABLE, len(want), time.perf_counter() - t)
    return list(_columns(want))


def _state(case: Case, logsources: Logsources, fmap: FieldMap) -> dict[str, Any]:
    """What the cache depends on: the events (and their resolution), the log source and field
    tables, and the SQL that fills it."""
    tables = [sorted(map(list, logsources.category_rows())), sorted(map(list, logsources.service_rows()))]
    spec = json.dumps([*tables, sorted(fmap.system.items()), sorted(fmap.fallback.items()), _SOURCE],
                      default=str)
    return {"events": case.count(), "sources": int(case.rows("SELECT count(*) FROM sources")[0][0]),
            "resolved": case.get_meta("resolved"), "spec": hashlib.sha256(spec.encode()).hexdigest()[:32]}


def _spellings(names: Iterable[str]) -> list[str]:
    """The distinct field names, in one order whatever the order given (by lower name, then as
    written)."""
    return sorted(set(names), key=lambda n: (n.lower(), n))


def _columns(names: list[str]) -> dict[str, list[str]]:
    """One column per lower name (DuckDB identifiers are case-insensitive), named by its first
    spelling, with all its spellings in order.

    Rules spell some fields differently (``Payload`` in PowerShell rules, ``payload`` in OpenSSH
    ones) and EventData keys are case-sensitive, so the column reads every spelling: keeping only
    one, whichever came first out of a set, made the other rules' matches depend on the run.
    """
    out: dict[str, list[str]] = {}
    by_lower: dict[str, str] = {}
    for n in _spellings(names):
        out.setdefault(by_lower.setdefault(n.lower(), n), []).append(n)
    return out


def _covers(cached: dict[str, Any], want: list[str], keep: set[tuple[str, str | None]] | None) -> bool:
    if not set(want) <= set(cached["cols"]):  # every spelling: each is a path the column reads
        return False
    if cached["pairs"] is None:
        return True
    return keep is not None and keep <= {(d, c) for d, c in cached["pairs"]}


def _view(case: Case, cols: list[str], scoped: bool) -> None:
    """``sigma_events``: the cache's rows of this run's pairs (``scoped``: those in ``sigma_keep``;
    else every row), with the meta columns and ``cols``: what a fresh build would hold."""
    case.drop(TABLE)
    sel = ", ".join([*(f"c.{m}" for m in (*META, *PAIR)), *(f"c.{quote_ident(c)}" for c in _columns(cols))])
    where = (f" SEMI JOIN sigma_keep k ON k.dataset = c.{PAIR[0]} AND k.code IS NOT DISTINCT FROM c.{PAIR[1]}"
             if scoped else "")
    case.engine.execute(f"CREATE TEMP VIEW {TABLE} AS SELECT {sel} FROM {CACHE} c{where}")


def _keep_pairs(
    case: Case, datasets: list[str | None], rules: Iterable[scope.Plan], fmap: FieldMap
) -> tuple[set[tuple[str, str | None]], list[bool]]:
    """Fill ``sigma_keep`` with the (dataset, EventID) pairs some rule can match; returns them, and
    for each rule whether it can match one of the case's pairs."""
    eng = case.engine
    present = eng.rows(
        f"""WITH p AS (SELECT dataset AS d, code FROM sigma_pairs
                       WHERE dataset IN ({', '.join('?' * len(datasets))}))
            SELECT p.d, p.code, c.tags, s.tags FROM p
            LEFT JOIN sigma_ls_cat c ON c.channel = lower(p.d) AND c.code = p.code
            LEFT JOIN sigma_ls_svc s ON s.channel = lower(p.d)
            WHERE c.tags IS NOT NULL OR s.tags IS NOT NULL""",
        datasets,
    )
    needed, live = scope.live_plans(rules, [tuple(r) for r in present])
    keep = {(str(p[0]), p[1]) for p in needed}
    _fill_keep(case, keep)
    return keep, live


def _fill_keep(case: Case, keep: set[tuple[str, str | None]]) -> None:
    _table(case, "sigma_keep", ("dataset", "code"), sorted(keep, key=lambda k: (k[0], k[1] or "")))


def _table(case: Case, name: str, cols: tuple[str, ...], rows: Iterable[Sequence[Any]]) -> None:
    """A temporary table of text columns ``cols`` holding ``rows``, in one statement (the values
    bound as parameters)."""
    case.engine.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({', '.join(f'{c} VARCHAR' for c in cols)})")
    got = [list(r) for r in rows]
    for i in range(0, len(got), 500):
        part = got[i: i + 500]
        values = ", ".join("(" + ", ".join("?::VARCHAR" for _ in cols) + ")" for _ in part)
        case.engine.execute(f"INSERT INTO {name} VALUES {values}", [v for r in part for v in r])
