"""Event search over the case: filters become SQL with every value bound as a parameter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wormsign import schema
from wormsign.report.events import row_to_event
from wormsign.store import Case

_LIST_FIELDS = tuple(n for n in schema.FIELD_NAMES if n != "raw")
_LIST_SQL = ", ".join(schema.q(n) for n in _LIST_FIELDS)
# Columns the free-text filter looks in.
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
    "raw",
)


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
            like = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append("(" + " OR ".join(f"{schema.q(c)} ILIKE ? ESCAPE '\\'" for c in TEXT_FIELDS) + ")")
            params += [like] * len(TEXT_FIELDS)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _utc(t: datetime) -> datetime:
    """A time without a zone is taken as UTC, like every time in the case."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def search(case: Case, query: EventQuery) -> dict[str, Any]:
    """One page of matching events (without ``raw``), in time order, and the total count."""
    where, params = query.where()
    total = int(case.rows(f"SELECT count(*) FROM events{where}", params)[0][0])
    sql = f'SELECT {_LIST_SQL} FROM events{where} ORDER BY ts, "src.digest", "src.record" LIMIT ? OFFSET ?'
    rows = case.rows(sql, [*params, query.limit, query.offset])
    return {
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "events": [row_to_event(_LIST_FIELDS, r, 0) for r in rows],
    }


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
