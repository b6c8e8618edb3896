"""The REST API and the dashboard over one case (``wormsign serve``)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse

from wormsign import schema
from wormsign.api.auth import TokenAuth
from wormsign.api.search import EventQuery, search, search_alerts
from wormsign.report.events import BadRef, fetch_events, parse_ref
from wormsign.report.html import csp, render_page
from wormsign.report.view import ViewError, build_view, case_summary, hunt_doc, settings
from wormsign.store import Case

_API = settings()["api"]
MAX_LIMIT = int(_API["max_limit"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, 1 to {MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Text = Annotated[str | None, Query(max_length=int(_API["max_text_chars"]))]


def create_app(case_path: str | Path, token: str) -> FastAPI:
    """The FastAPI app serving the case at ``case_path``; every /api call needs ``token``."""
    path = str(case_path)
    case_id = Path(path).name
    app = FastAPI(
        title="wormsign",
        version="1",
        docs_url=None,
        redoc_url=None,  # the doc UIs load scripts from a CDN
        description="Outbreaks, alerts, hosts and evidence events of one wormsign case.",
    )

    @contextmanager
    def open_case() -> Iterator[Case]:
        try:
            case = Case.open(path, read_only=True)
        except duckdb.Error as e:
            raise HTTPException(503, f"the case cannot be opened now: {str(e)[:200]}") from e
        try:
            yield case
        finally:
            case.close()

    def doc_of(case: Case) -> dict[str, Any]:
        try:
            return hunt_doc(case)
        except (ViewError, duckdb.Error) as e:
            raise HTTPException(404, f"no hunt result in this case: {str(e)[:200]}") from e

    def incident_of(case: Case, incident_id: str) -> dict[str, Any]:
        for inc in doc_of(case)["incidents"]:
            if isinstance(inc, dict) and inc.get("id") == incident_id:
                return inc
        raise HTTPException(404, "no such incident")

    api = APIRouter(prefix="/api", dependencies=[Depends(TokenAuth(token))])

    @api.get("/cases", summary="The case this server serves")
    def cases() -> list[dict[str, Any]]:
        with open_case() as case:
            return [{"id": case_id, **case_summary(case)}]

    @api.get("/cases/{cid}", summary="One case by id")
    def case_info(cid: str) -> dict[str, Any]:
        if cid != case_id:
            raise HTTPException(404, "no such case")
        with open_case() as case:
            return {"id": case_id, **case_summary(case), "hunt": case.get_meta("hunt") is not None}

    @api.get("/view", summary="Everything the dashboard shows, without evidence events")
    def view() -> dict[str, Any]:
        with open_case() as case:
            try:
                return build_view(case, with_evidence=False)
            except ViewError as e:
                raise HTTPException(404, str(e)[:300]) from e

    @api.get("/incidents", summary="Incidents the hunt found, in short")
    def incidents() -> dict[str, Any]:
        with open_case() as case:
            keys = ("id", "type", "title", "severity", "first_seen", "last_seen", "patient_zero")
            out = [
                {
                    **{k: i.get(k) for k in keys},
                    "hosts": len(i.get("hosts") or []),
                    "edges": len(i.get("edges") or []),
                }
                for i in doc_of(case)["incidents"]
                if isinstance(i, dict)
            ]
            return {"total": len(out), "incidents": out}

    @api.get("/incidents/{incident_id}", summary="One incident, as in incidents.json")
    def incident(incident_id: str) -> dict[str, Any]:
        with open_case() as case:
            return incident_of(case, incident_id)

    @api.get("/incidents/{incident_id}/graph", summary="The propagation graph of one incident")
    def incident_graph(incident_id: str) -> dict[str, Any]:
        with open_case() as case:
            inc = incident_of(case, incident_id)
        nodes = {h["host"]: h for h in inc.get("hosts") or [] if isinstance(h, dict) and "host" in h}
        edges = [e for e in inc.get("edges") or [] if isinstance(e, dict)]
        for e in edges:
            for end in (e.get("source"), e.get("target")):
                nodes.setdefault(end, {"host": end, "state": "source"})
        return {
            "incident": incident_id,
            "patient_zero": inc.get("patient_zero"),
            "nodes": list(nodes.values()),
            "edges": edges,
        }

    @api.get("/alerts", summary="Alerts of the hunt, filtered and paged")
    def alert_list(
        limit: Limit = 100, offset: Offset = 0, rule: Text = None, host: Text = None, severity: Text = None
    ) -> dict[str, Any]:
        with open_case() as case:
            doc_of(case)
            return search_alerts(case, rule=rule, host=host, severity=severity, limit=limit, offset=offset)

    @api.get("/alerts/{alert_id}", summary="One alert")
    def alert(alert_id: str) -> dict[str, Any]:
        with open_case() as case:
            doc_of(case)
            rows = (
                case.rows("SELECT doc FROM alerts WHERE id = ?", [alert_id])
                if case.engine.has_table("alerts")
                else []
            )
        if not rows:
            raise HTTPException(404, "no such alert")
        return dict(json.loads(rows[0][0]))

    @api.get("/hosts", summary="Hosts with events in the case")
    def hosts(limit: Limit = 100, offset: Offset = 0, q: Text = None) -> dict[str, Any]:
        where, params = ("", []) if not q else (" WHERE host ILIKE ? ESCAPE '\\'", ["%" + _like(q) + "%"])
        with open_case() as case:
            total = case.rows(f"SELECT count(DISTINCT host) FROM events{where}", params)[0][0]
            rows = case.rows(
                f"SELECT host, count(*), min(ts), max(ts) FROM events{where} GROUP BY host "
                "ORDER BY host LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        return {
            "total": int(total),
            "limit": limit,
            "offset": offset,
            "hosts": [
                {"host": h, "events": int(n), "first": _iso(a), "last": _iso(b)} for h, n, a, b in rows
            ],
        }

    @api.get("/hosts/{host}", summary="One host: its events by kind and its part in each incident")
    def host_info(host: str) -> dict[str, Any]:
        with open_case() as case:
            kinds = dict(
                case.rows(
                    "SELECT kind, count(*) FROM events WHERE host = ? GROUP BY kind ORDER BY kind", [host]
                )
            )
            span = case.rows("SELECT min(ts), max(ts) FROM events WHERE host = ?", [host])[0]
            try:
                incs = hunt_doc(case)["incidents"]
            except (ViewError, duckdb.Error):
                incs = []
        part = [
            {"incident": i.get("id"), **h}
            for i in incs
            if isinstance(i, dict)
            for h in i.get("hosts") or []
            if isinstance(h, dict) and h.get("host") == host
        ]
        if not kinds and not part:
            raise HTTPException(404, "no such host")
        return {
            "host": host,
            "events": sum(kinds.values()),
            "kinds": kinds,
            "first": _iso(span[0]),
            "last": _iso(span[1]),
            "incidents": part,
        }

    @api.get("/events", summary=f"Search events: filters are combined with AND; pages of at most {MAX_LIMIT}")
    def events(
        limit: Limit = 100,
        offset: Offset = 0,
        host: Text = None,
        kind: Text = None,
        code: Text = None,
        user: Text = None,
        since: datetime | None = None,
        until: datetime | None = None,
        q: Text = None,
    ) -> dict[str, Any]:
        if kind and kind not in schema.KINDS:
            raise HTTPException(422, f"unknown kind; known: {', '.join(schema.KINDS)}")
        query = EventQuery(host, kind, code, user, since, until, q, limit, offset)
        with open_case() as case:
            return search(case, query)

    @api.get(
        "/events/{ref}", summary="One event with its original record, by reference <src.digest>:<src.record>"
    )
    def event(ref: str) -> dict[str, Any]:
        try:
            parse_ref(ref)
        except BadRef as e:
            raise HTTPException(422, str(e)) from e
        with open_case() as case:
            found = fetch_events(case, [ref])
        if ref not in found:
            raise HTTPException(404, "no such event")
        return found[ref]

    @api.get("/evidence", summary="Several events by reference (the evidence of a host, edge or alert)")
    def evidence(ref: Annotated[list[str], Query(max_length=int(_API["max_refs"]))]) -> dict[str, Any]:
        for r in ref:
            try:
                parse_ref(r)
            except BadRef as e:
                raise HTTPException(422, str(e)) from e
        with open_case() as case:
            found = fetch_events(case, ref, max_raw=int(settings()["evidence"]["max_raw_chars"]))
        return {"events": found, "missing": [r for r in ref if r not in found]}

    app.include_router(api)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        nonce = secrets.token_urlsafe(18)
        page = render_page(None, mode="api", title=f"wormsign dashboard: {case_id}", nonce=nonce)
        return HTMLResponse(page, headers={"Content-Security-Policy": csp(nonce, api=True)})

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        resp: Response = await call_next(request)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    return app


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _iso(ts: Any) -> str | None:
    return ts.isoformat().replace("+00:00", "Z") if ts is not None else None
