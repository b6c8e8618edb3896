"""Event search over the case: filters become SQL with every value bound as a parameter."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from wormsign import schema
from wormsign.api.index import SEP, RowCache, fetch_by_eid
from wormsign.report.events import row_to_event
from wormsign.store import Case

_LIST_FIELDS = tuple(n for n in schema.FIELD_NAMES if n != "raw")
_LIST_SQL = ", ".join(schema.q(n) for n in _LIST_FIELDS)
# Columns the free-text filter looks in: the event model's short text columns (a scan of
# 300k events takes about 10 ms), and with ``raw`` the original record too (about 1 KiB a
# record, zstd-compressed: 40 times slower, so only when asked, and bounded by the timeout).
TEXT_FIELDS = (
    "host",
    "user.name",
    "process.command_line",
    "process.executable",
    "file.path",
    "service.image",
    "task.command",
    "share.path",
    "dns.question.name",
    "message",
)
RAW_FIELDS = (*TEXT_FIELDS, "raw")


class SearchTimeout(Exception):
    """The search ran past its time limit and was stopped."""


@dataclass(slots=True)
class EventQuery:
    """Filters of /api/events (all optional) and the page asked for."""

    host: str | None = None
    kind: str | None = None
    code: str | None = None
    user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    limit: int = 100
    offset: int = 0
    raw: bool = False

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for col, value in (("host", self.host), ("kind", self.kind), ("event.code", self.code)):
            if value:
                clauses.append(f"{schema.q(col)} = ?")
                params.append(value)
        if self.user:
            clauses.append('(lower("user.name") = lower(?) OR lower("user.target.name") = lower(?))')
            params += [self.user, self.user]
        if self.since:
            clauses.append("ts >= ?")
            params.append(_utc(self.since))
        if self.until:
            clauses.append("ts < ?")
            params.append(_utc(self.until))
        if self.q:
            like = _like(self.q)
            cols = RAW_FIELDS if self.raw else TEXT_FIELDS
            clauses.append("(" + " OR ".join(f"{schema.q(c)} ILIKE ? ESCAPE '\\'" for c in cols) + ")")
            params += [like] * len(cols)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def indexed(self) -> bool:
        """Whether the search index (:mod:`wormsign.api.index`) can answer: not for ``raw``, nor
        for a term holding the index's column separator."""
        return not self.raw and not (self.q and SEP in self.q)

    def index_where(self) -> tuple[str, list[Any]]:
        """:meth:`where` over the index's columns: the same matches."""
        clauses: list[str] = []
        params: list[Any] = []
        for col, value in (("host", self.host), ("kind", self.kind), ("code", self.code)):
            if value:
                clauses.append(f"{col} = ?")  # col is one of three fixed names
                params.append(value)
        if self.user:
            clauses.append("(u1 = lower(?) OR u2 = lower(?))")
            params += [self.user, self.user]
        if self.since:
            clauses.append("ts >= ?")
            params.append(_utc(self.since))
        if self.until:
            clauses.append("ts < ?")
            params.append(_utc(self.until))
        if self.q:
            # A match in the joined text lies in one column: a term without the separator cannot
            # span two. ILIKE is LIKE on lower-cased text (the index holds it lower-cased).
            clauses.append("tid IN (SELECT tid FROM texts WHERE text LIKE lower(?) ESCAPE '\\')")
            params.append(_like(self.q))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _like(term: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching ``term`` anywhere, its wildcards literal."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _utc(t: datetime) -> datetime:
    """A time without a zone is taken as UTC, like every time in the case."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def search(
    case: Case,
    query: EventQuery,
    *,
    timeout: float | None = None,
    count_max: int | None = None,
    index: duckdb.DuckDBPyConnection | None = None,
    rows_kept: RowCache | None = None,
    version: Any = None,
) -> dict[str, Any]:
    """One page of matching events (without ``raw``), in time order, and the count of matches: at
    most ``count_max`` are counted (``total_exact`` says whether that was all). A search still
    running after ``timeout`` seconds is interrupted and raises :class:`SearchTimeout`. With
    ``index`` (a cursor of :class:`wormsign.api.index.SearchIndex`) the matches are found there
    and the page's events read from their shards (those ``rows_kept`` holds for ``version``
    are not read again), unless :meth:`EventQuery.indexed` says no."""
    use_index = index is not None and query.indexed()
    where, params = query.index_where() if use_index else query.where()
    table = "idx" if use_index else "events"
    count_sql = f"SELECT count(*) FROM {table}{where}"
    if count_max is not None:
        count_sql = f"SELECT count(*) FROM (SELECT 1 FROM {table}{where} LIMIT ?)"
        params_count = [*params, count_max + 1]
    else:
        params_count = params
    order = "ts, digest, record" if use_index else 'ts, "src.digest", "src.record"'
    if use_index:
        assert index is not None
        # One scan takes the matches (narrow: id, time, digest, record), at most count_max + 1 of
        # them: when that is all of them, they are counted and paged here; when not, the count
        # stopped early and the page is a second scan (its first rows in time order).
        cap = "" if count_max is None else " LIMIT ?"
        start = time.monotonic()
        with _deadline(index, timeout):
            matches = index.sql(f"SELECT eid, ts, digest, record FROM idx{where}{cap}",
                                params=params if count_max is None else [*params, count_max + 1]).to_arrow_table()
            total = matches.num_rows
            if count_max is None or total <= count_max:
                page = matches.sort_by([("ts", "ascending"), ("digest", "ascending"), ("record", "ascending")])
                eids = page.column("eid").to_pylist()[query.offset : query.offset + query.limit]
            else:
                sql = f"SELECT eid FROM idx{where} ORDER BY {order} LIMIT ? OFFSET ?"
                eids = [r[0] for r in index.execute(sql, [*params, query.limit, query.offset]).fetchall()]
        left = None if timeout is None else max(timeout - (time.monotonic() - start), 0.0)
        with _deadline(getattr(case.engine, "con", None), left):
            rows = fetch_by_eid(case, _LIST_FIELDS, [int(e) for e in eids], rows_kept, version)
    else:
        sql = f"SELECT {_LIST_SQL} FROM events{where} ORDER BY {order} LIMIT ? OFFSET ?"
        with _deadline(getattr(case.engine, "con", None), timeout):
            total = int(case.rows(count_sql, params_count)[0][0])
            rows = case.rows(sql, [*params, query.limit, query.offset])
    exact = count_max is None or total <= count_max
    return {
        "total": total if exact else count_max,
        "total_exact": exact,
        "limit": query.limit,
        "offset": query.offset,
        "events": [row_to_event(_LIST_FIELDS, r, 0) for r in rows],
    }


class _deadline:  # noqa: N801 (a context manager, used like a function)
    """Interrupt the connection's running statement once ``timeout`` seconds have passed."""

    def __init__(self, con: Any, timeout: float | None) -> None:
        self.con = con
        self.timeout = timeout
        self.fired = threading.Event()
        self.timer: threading.Timer | None = None
        self.start = 0.0

    def _fire(self) -> None:
        self.fired.set()
        if self.con is not None:
            self.con.interrupt()

    def __enter__(self) -> None:
        self.start = time.monotonic()
        if self.timeout is not None and self.con is not None:
            self.timer = threading.Timer(self.timeout, self._fire)
            self.timer.daemon = True
            self.timer.start()

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if self.timer is not None:
            self.timer.cancel()
        late = self.timeout is not None and time.monotonic() - self.start >= self.timeout
        if self.fired.is_set() or late:
            raise SearchTimeout(f"the search ran past its limit of {self.timeout:g} s") from exc


def search_alerts(
    case: Case, *, rule: str | None, host: str | None, severity: str | None, limit: int, offset: int
) -> dict[str, Any]:
    """One page of the hunt's alerts (table ``alerts``), filtered by rule, host and severity."""
    if not case.engine.has_table("alerts"):
        return {"total": 0, "limit": limit, "offset": offset, "alerts": []}
    clauses, params = [], []
    for col, value in (("rule", rule), ("host", host), ("severity", severity)):
        if value:
            clauses.append(f"{col} = ?")  # col is one of three fixed names above
            params.append(value)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    total = int(case.rows(f"SELECT count(*) FROM alerts{where}", params)[0][0])
    rows = case.rows(
        f"SELECT doc FROM alerts{where} ORDER BY ts, id LIMIT ? OFFSET ?", [*params, limit, offset]
    )
    found = []
    for (text,) in rows:
        try:
            found.append(json.loads(text))
        except (TypeError, ValueError):
            continue
    return {"total": total, "limit": limit, "offset": offset, "alerts": found}
