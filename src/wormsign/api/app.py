"""The REST API and the dashboard over one case (``wormsign serve``)."""

from __future__ import annotations

import asyncio
import functools
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import duckdb
import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from wormsign import schema
from wormsign.api import models
from wormsign.api.auth import TokenAuth
from wormsign.api.index import RowCache, SearchIndex, fetch_refs
from wormsign.api.pool import ReadPool, WriterWaits
from wormsign.api.published import LastResult, from_case
from wormsign.api.search import TEXT_FIELDS, EventQuery, SearchTimeout, search
from wormsign.report.events import BadRef, fetch_events, parse_ref
from wormsign.report.html import csp, render_page
from wormsign.report.view import (
    VIEW_FORMAT,
    ViewError,
    attack_names,
    case_summary,
    host_addresses,
    incident_tables,
    settings,
)
from wormsign.results import Alert, Incident, iso
from wormsign.store import Case, CaseLocked, want_write_marker

_API = settings()["api"]
MAX_LIMIT = int(_API["max_limit"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, 1 to {MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Text = Annotated[str | None, Query(max_length=int(_API["max_text_chars"]))]


def create_app(
    case_path: str | Path,
    token: str,
    *,
    search_timeout: float | None = None,
    searches: int | None = None,
    search_queue: float | None = None,
    search_count_max: int | None = None,
    live: bool = True,
) -> FastAPI:
    """The FastAPI app serving the case at ``case_path``; every /api call needs ``token``.

    Incidents and alerts come from the last published hunt result (:mod:`wormsign.api.published`),
    never from the case, so a hunt that holds the case does not stop them. Everything else opens the
    case read-only for one request and closes it; while a hunt or ingest waits for the case (its
    marker file) or holds it, those requests get 503 with Retry-After, and the writer gets in.
    Event searches are bounded: a time limit, a count limit and at most ``searches`` at once (more
    wait ``search_queue`` seconds, then get 429). The keywords override settings.yaml's ``api``.
    ``live``: accept events over HTTP (:mod:`wormsign.api.live`).
    """
    path = str(case_path)
    case_id = Path(path).name
    timeout = float(_API["search_timeout_s"] if search_timeout is None else search_timeout)
    queue = float(_API["search_queue_s"] if search_queue is None else search_queue)
    gate = threading.BoundedSemaphore(int(_API["searches"] if searches is None else searches))
    count_max = int(_API["search_count_max"] if search_count_max is None else search_count_max)
    read_wait = float(_API["read_wait_s"])
    marker = want_write_marker(path)
    last = LastResult(path)
    app = FastAPI(
        title="wormsign",
        version="1",
        docs_url=None,
        redoc_url=None,  # the doc UIs load scripts from a CDN
        description="Outbreaks, alerts, hosts and evidence events of one wormsign case.",
    )

    busy = {"Retry-After": "2"}

    pool = ReadPool(path, marker, wait=read_wait, linger=float(_API.get("read_linger_s", 0.05)))
    index = SearchIndex(TEXT_FIELDS, int(_API.get("search_index_max_events", 2_000_000)))
    kept: dict[str, tuple[Any, Any]] = {}  # what was read from the case, by the version it was read at
    kept_lock = threading.Lock()
    # The last event searches answered, by version of the case and query (a dashboard asks the
    # same again; a page back is asked again): at most answers_max, the least recent dropped.
    answers: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
    view_kept: dict[str, tuple[Any, bytes, bytes]] = {}  # /api/view's JSON, by result and summary
    answers_max, answers_page = int(_API.get("search_answers_kept", 128)), 100
    rows_kept = RowCache(int(_API.get("search_rows_kept", 20_000)))  # events of pages, by id

    @contextmanager
    def open_case() -> Iterator[Case]:
        """The case, read-only, for one request (a cursor of the server's connection,
        :mod:`wormsign.api.pool`); 503 while a writer waits for it or holds it."""
        with ExitStack() as stack:
            try:
                case = stack.enter_context(pool.case())
            except WriterWaits as e:
                raise HTTPException(503, "a hunt or ingest is about to write the case; the last hunt's "
                                    "incidents and alerts are still served", headers=busy) from e
            except CaseLocked as e:
                raise HTTPException(503, f"the case is being written by {e.holder[:200]}; the last hunt's "
                                    "incidents and alerts are still served", headers=busy) from e
            except duckdb.Error as e:
                raise HTTPException(503, f"the case cannot be opened now: {str(e)[:200]}", headers=busy) from e
            yield case

    def keep(name: str, case: Case, make: Any) -> Any:
        """``make(case)``, computed once per version of the case (it cannot change while open)."""
        version = pool.version
        with kept_lock:
            hit = kept.get(name)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = make(case)
        with kept_lock:
            kept[name] = (version, value)
        return value

    def result() -> dict[str, Any]:
        """The last complete hunt result: published beside the case, or (a case hunted by an earlier
        version) read from the case once and kept."""
        data = last.get()
        if data is not None:
            return data
        with open_case() as case:
            try:
                data = from_case(case)
            except (ViewError, duckdb.Error) as e:
                raise HTTPException(404, f"no hunt result in this case: {str(e)[:200]}") from e
        last.remember(data)
        return data

    def incidents_of() -> list[dict[str, Any]]:
        return [i for i in result()["hunt"].get("incidents") or [] if isinstance(i, dict)]

    def alerts_of() -> list[dict[str, Any]]:
        live = getattr(app.state, "live", None)  # early alerts of events the next hunt has not read
        early = live.early_alerts() if live is not None else []
        try:
            published = [a for a in result().get("alerts") or [] if isinstance(a, dict)]
        except HTTPException:
            if not early:
                raise
            published = []  # no hunt has finished yet: the early alerts alone
        return published + early

    def summary() -> dict[str, Any]:
        """The case's counts now, or those of the last hunt while the case is being written."""
        try:
            with open_case() as case:
                return dict(keep("summary", case, case_summary))
        except HTTPException as e:
            if e.status_code != 503 or last.get() is None:
                raise
            return {**last.get()["case"], "as_of_hunt": True}  # type: ignore[index]

    def incident_of(incident_id: str) -> dict[str, Any]:
        for inc in incidents_of():
            if inc.get("id") == incident_id:
                return inc
        raise HTTPException(404, "no such incident")

    api = APIRouter(prefix="/api", dependencies=[Depends(TokenAuth(token))])

    @api.get("/cases", summary="The case this server serves", response_model=list[models.CaseSummary])
    @_as_json
    def cases() -> list[dict[str, Any]]:
        return [{"id": case_id, **summary()}]

    @api.get("/cases/{cid}", summary="One case by id", response_model=models.CaseInfo)
    @_as_json
    def case_info(cid: str) -> dict[str, Any]:
        if cid != case_id:
            raise HTTPException(404, "no such case")
        info = summary()
        try:
            hunted = bool(result())
        except HTTPException as e:
            if e.status_code != 404:
                raise
            hunted = False
        return {"id": case_id, **info, "hunt": hunted}

    @api.get("/view", summary="Everything the dashboard shows, without evidence events",
             response_model=models.View)
    @_as_json
    def view() -> Response:
        data = result()
        now = summary()
        stamp = orjson.dumps(now, default=str)
        with kept_lock:
            hit = view_kept.get("view")
        if hit is not None and hit[0] is data and hit[1] == stamp:  # the same result, the same case
            return _json(hit[2])
        doc = data["hunt"]
        conf = settings()
        incs = incidents_of()
        alert_list = alerts_of()[: int(conf["evidence"]["max_events"])]
        addresses: dict[str, str] = {}  # the graph groups attacked hosts by subnet with them
        try:
            with open_case() as case:
                addresses = host_addresses(case, incs)
        except HTTPException as e:
            if e.status_code != 503:  # a writer holds the case: the view without them this time
                raise
        body = orjson.dumps({
            "format": VIEW_FORMAT,
            "case": now,
            "hunt": {k: doc.get(k) for k in ("format", "generator", "generated_at")},
            "incidents": incs,
            "alerts": alert_list,
            "attack": attack_names(incs, alert_list),
            "colours": conf["colours"],
            "tables": incident_tables(incs),
            "addresses": addresses,
        }, default=str)
        with kept_lock:
            view_kept["view"] = (data, stamp, body)
        return _json(body)

    @api.get("/incidents", summary="Incidents the hunt found, in short", response_model=models.IncidentList)
    @_as_json
    def incidents() -> dict[str, Any]:
        keys = ("id", "type", "title", "severity", "first_seen", "last_seen", "patient_zero")
        out = [
            {**{k: i.get(k) for k in keys}, "hosts": len(i.get("hosts") or []),
             "edges": len(i.get("edges") or [])}
            for i in incidents_of()
        ]
        return {"total": len(out), "incidents": out}

    @api.get("/incidents/{incident_id}", summary="One incident, as in incidents.json", response_model=Incident)
    @_as_json
    def incident(incident_id: str) -> dict[str, Any]:
        return incident_of(incident_id)

    @api.get("/incidents/{incident_id}/graph", summary="The propagation graph of one incident",
             response_model=models.Graph)
    @_as_json
    def incident_graph(incident_id: str) -> dict[str, Any]:
        inc = incident_of(incident_id)
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

    @api.get("/files", summary="The per-file infection trees: which file reached which host, when and how",
             response_model=models.FileList)
    @_as_json
    def files(sha256: Text = None, name: Text = None, incident: Text = None) -> dict[str, Any]:
        """Every outbreak's files; ``sha256`` (exact, any case) and ``name`` (a name the file had,
        any case) filter them, ``incident`` keeps one incident's."""
        want_hash, want_name = (sha256 or "").lower(), (name or "").lower()
        out = []
        for inc in incidents_of():
            if incident and inc.get("id") != incident:
                continue
            for f in inc.get("files") or []:
                if want_hash and str(f.get("sha256") or "").lower() != want_hash:
                    continue
                if want_name and want_name not in {str(n).lower() for n in f.get("names") or []}:
                    continue
                out.append({"incident": inc.get("id"), **f})
        return {"total": len(out), "files": out}

    @api.get("/incidents/{incident_id}/next-hops", summary="Hosts the outbreak is likely to reach next, ranked",
             response_model=models.NextHops)
    @_as_json
    def next_hops(incident_id: str) -> dict[str, Any]:
        return {"incident": incident_id, "next_hops": list(incident_of(incident_id).get("next_hops") or [])}

    @api.get("/alerts", summary="Alerts of the hunt, filtered and paged", response_model=models.AlertPage)
    @_as_json
    def alert_list(
        limit: Limit = 100, offset: Offset = 0, rule: Text = None, host: Text = None, severity: Text = None
    ) -> dict[str, Any]:
        wanted = (("rule", rule), ("host", host), ("severity", severity))
        found = [a for a in alerts_of() if all(not v or a.get(k) == v for k, v in wanted)]
        page = found[offset : offset + limit]
        return {"total": len(found), "limit": limit, "offset": offset, "alerts": page}

    @api.get("/alerts/{alert_id}", summary="One alert", response_model=Alert)
    @_as_json
    def alert(alert_id: str) -> dict[str, Any]:
        for a in alerts_of():
            if a.get("id") == alert_id:
                return a
        raise HTTPException(404, "no such alert")

    @api.get("/hosts", summary="Hosts with events in the case", response_model=models.HostPage)
    @_as_json
    def hosts(limit: Limit = 100, offset: Offset = 0, q: Text = None) -> dict[str, Any]:
        with open_case() as case:
            if q:  # a scan of the case
                where, params = " WHERE host ILIKE ? ESCAPE '\\'", ["%" + _like(q) + "%"]
                total = case.rows(f"SELECT count(DISTINCT host) FROM events{where}", params)[0][0]
                rows = case.rows(
                    f"SELECT host, count(*), min(ts), max(ts) FROM events{where} GROUP BY host "
                    "ORDER BY host LIMIT ? OFFSET ?",
                    [*params, limit, offset],
                )
            else:  # every host's summary, read once per version of the case
                every = keep("hosts", case, lambda c: c.rows(
                    "SELECT host, count(*), min(ts), max(ts) FROM events GROUP BY host ORDER BY host"))
                total = sum(1 for r in every if r[0] is not None)  # count(DISTINCT host) skips NULL
                rows = every[offset : offset + limit]
        return {
            "total": int(total),
            "limit": limit,
            "offset": offset,
            "hosts": [
                {"host": h, "events": int(n), "first": _iso(a), "last": _iso(b)} for h, n, a, b in rows
            ],
        }

    @api.get("/hosts/{host}", summary="One host: its events by kind and its part in each incident",
             response_model=models.HostInfo)
    @_as_json
    def host_info(host: str) -> dict[str, Any]:
        with open_case() as case:
            kinds, span = keep("host_kinds", case, _host_kinds).get(host, ({}, (None, None)))
            kinds = dict(kinds)
        try:
            incs = incidents_of()
        except HTTPException as e:
            if e.status_code != 404:
                raise
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

    @api.get("/events", summary=f"Search events: filters are combined with AND; pages of at most {MAX_LIMIT}",
             response_model=models.EventPage)
    async def events(
        limit: Limit = 100,
        offset: Offset = 0,
        host: Text = None,
        kind: Text = None,
        code: Text = None,
        user: Text = None,
        since: datetime | None = None,
        until: datetime | None = None,
        q: Text = None,
        raw: Annotated[bool, Query(description="q also searches the original records (slower)")] = False,
    ) -> Response:
        if kind and kind not in schema.KINDS:
            raise HTTPException(422, f"unknown kind; known: {', '.join(schema.KINDS)}")
        query = EventQuery(host, kind, code, user, since, until, q, limit, offset, raw)
        key = (host, kind, code, user, since, until, q, limit, offset, raw)
        hit = await run_in_threadpool(kept_answer, key)
        if hit is not None:
            return _json(hit)
        if not await take_gate():
            raise HTTPException(429, "too many event searches at once; retry shortly",
                                headers={"Retry-After": "1"})
        try:
            return _json(await run_in_threadpool(answer, query, key))
        finally:
            gate.release()

    queued: deque[object] = deque()  # the searches waiting for the gate, first come first

    async def take_gate() -> bool:
        """A place in the search gate, waited for ``queue`` seconds at most, in the order the
        searches came. The wait is on the event loop: a search that waits holds no worker
        thread (the other endpoints keep theirs) and no read of the case."""
        if not queued and gate.acquire(blocking=False):
            return True
        me = object()
        queued.append(me)
        deadline = time.monotonic() + queue
        try:
            while True:
                if queued[0] is me and gate.acquire(blocking=False):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                await asyncio.sleep(min(0.005, left))
        finally:
            queued.remove(me)

    def evidence_of(case: Case, refs: list[str], max_raw: int) -> dict[str, dict[str, Any]]:
        """The events of ``refs``: their ids from the search index (a case too large for one is
        read as :func:`fetch_events` reads it)."""
        cur = index.cursor(case, pool.version)
        if cur is None:
            return fetch_events(case, refs, max_raw=max_raw)
        try:
            return fetch_refs(case, cur, refs, max_raw=max_raw)
        finally:
            cur.close()

    def kept_answer(key: tuple[Any, ...]) -> bytes | None:
        """The answer kept for this search of the case as it is now (503 while a writer waits)."""
        with open_case():
            version = pool.version
            with kept_lock:
                hit = answers.get((version, *key))
                if hit is not None:
                    answers.move_to_end((version, *key))
                return hit

    def answer(query: EventQuery, key: tuple[Any, ...]) -> bytes:
        """The page as JSON (made here, in a worker thread, not on the event loop)."""
        with open_case() as case:
            version = pool.version
            cur = index.cursor(case, version) if query.indexed() else None
            try:
                page = search(case, query, timeout=timeout, count_max=count_max, index=cur,
                              rows_kept=rows_kept, version=version)
            except SearchTimeout as e:
                raise HTTPException(
                    504, f"{e}; narrow it (host, kind, since, until) or search without raw"
                ) from e
            finally:
                if cur is not None:
                    cur.close()
        body = orjson.dumps(page, default=str)
        if query.limit <= answers_page:  # bounded memory: at most answers_max pages of answers_page events
            with kept_lock:
                answers[(version, *key)] = body
                while len(answers) > answers_max:
                    answers.popitem(last=False)
        return body

    @api.get(
        "/events/{ref}", summary="One event with its original record, by reference <src.digest>:<src.record>",
        response_model=models.Event,
    )
    @_as_json
    def event(ref: str) -> dict[str, Any]:
        try:
            parse_ref(ref)
        except BadRef as e:
            raise HTTPException(422, str(e)) from e
        with open_case() as case:
            found = evidence_of(case, [ref], 16384)
        if ref not in found:
            raise HTTPException(404, "no such event")
        return found[ref]

    @api.get("/evidence", summary="Several events by reference (the evidence of a host, edge or alert)",
             response_model=models.Evidence)
    @_as_json
    def evidence(ref: Annotated[list[str], Query(max_length=int(_API["max_refs"]))]) -> dict[str, Any]:
        for r in ref:
            try:
                parse_ref(r)
            except BadRef as e:
                raise HTTPException(422, str(e)) from e
        with open_case() as case:
            found = evidence_of(case, ref, int(settings()["evidence"]["max_raw_chars"]))
        return {"events": found, "missing": [r for r in ref if r not in found]}

    app.include_router(api)
    app.state.searches = gate  # the search gate (tests hold it to see the 429)
    app.state.pool = pool  # the live writer lends it the case while it holds it
    if live:  # event POSTs: Elasticsearch _bulk and NDJSON (wormsign.api.live)
        from wormsign.api.live import install

        install(app, path, token)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        nonce = secrets.token_urlsafe(18)
        page = render_page(None, mode="api", title=f"wormsign dashboard: {case_id}", nonce=nonce)
        return HTMLResponse(page, headers={"Content-Security-Policy": csp(nonce, api=True)})

    app.add_middleware(_SafeHeaders)
    return app


#: Headers every response carries (set over any the endpoint gave).
SAFE_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"cache-control": b"no-store",
}


class _SafeHeaders:
    """Adds :data:`SAFE_HEADERS` to every HTTP response (a plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` cost each request a task and a copy of the body)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_safe(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in SAFE_HEADERS]
                message = {**message, "headers": [*kept, *SAFE_HEADERS.items()]}
            await send(message)

        await self.app(scope, receive, send_safe)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _as_json(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint answering JSON made in its worker thread (orjson), not on the event loop (where
    FastAPI would make it from the return annotation, which still describes it in the spec)."""

    @functools.wraps(endpoint)
    def answer(*args: Any, **kwargs: Any) -> Response:
        out = endpoint(*args, **kwargs)
        return out if isinstance(out, Response) else _json(orjson.dumps(out, default=str))

    return answer


def _host_kinds(case: Case) -> dict[Any, tuple[dict[Any, int], tuple[Any, Any]]]:
    """Per host: its events by kind (in the order of kinds) and its first and last event's time."""
    out: dict[Any, tuple[dict[Any, int], tuple[Any, Any]]] = {}
    rows = case.rows("SELECT host, kind, count(*), min(ts), max(ts) FROM events WHERE host IS NOT NULL "
                     "GROUP BY host, kind ORDER BY host, kind")
    for host, kind, n, first, last in rows:
        kinds, (a, b) = out.get(host, ({}, (None, None)))
        kinds[kind] = int(n)
        a = first if a is None or (first is not None and first < a) else a
        b = last if b is None or (last is not None and last > b) else b
        out[host] = (kinds, (a, b))
    return out


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _iso(ts: Any) -> str | None:
    return iso(ts) if ts is not None else None
