"""Live ingest for ``wormsign serve``: an Elasticsearch ``_bulk``-compatible endpoint and plain NDJSON.

Winlogbeat, Elastic Agent and Logstash point their Elasticsearch output at the server unchanged:
``GET /`` (with credentials, and not asking for HTML) answers as an Elasticsearch node, setup
probes under ``/_...`` (``_license``, ``_index_template``, ``_ilm``, ``_data_stream`` ...) are
acknowledged, and ``POST /_bulk`` answers per item as Elasticsearch does. Fluent Bit, Vector and
curl ``POST /api/events`` with one JSON document a line. Both take the server's token as
``Authorization: Bearer <token>``, ``ApiKey <token>`` (or ``ApiKey base64(id:<token>)``, what
Beats send for ``api_key: "id:<token>"``) or basic auth with the token as the password.

A body is read up to ``max_body_bytes`` (gzip undone, bounded), split into documents, checked
for JSON syntax (a broken line is answered as rejected, and the reader counts it in the case),
written to the spool and fsynced (:mod:`wormsign.api.spool`) and only then answered 2xx; the
live writer (:mod:`wormsign.api.livewriter`) commits it to the case and hunts again. While more
than ``backlog_bytes`` wait in the spool, requests get 429 with Retry-After (clients slow down
and retry; nothing is dropped). Settings: ``live.yaml`` beside this module.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import threading
import time
import zlib
from functools import cache
from importlib import resources
from typing import Any

import orjson
import yaml
from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from wormsign.api import models
from wormsign.api.livewriter import LiveWriter
from wormsign.api.spool import SPOOL_DIR, Pos, Spool, SpoolBusy

ES_HEADERS = {"X-Elastic-Product": "Elasticsearch"}
#: The route ``GET /`` of an Elasticsearch client is sent to (see :class:`EsRoot`).
ES_ROOT = "/_wormsign_es_root"


@cache
def settings() -> dict[str, Any]:
    text = resources.files("wormsign.api").joinpath("live.yaml").read_text("utf-8")
    conf = yaml.safe_load(text)
    if not isinstance(conf, dict):
        raise ValueError("live.yaml: not a mapping")
    return conf


class Refused(Exception):
    """A request refused whole: HTTP status, Elasticsearch error type, reason."""

    def __init__(self, status: int, kind: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.kind, self.reason, self.headers = status, kind, reason, headers or {}


def accepts(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (Bearer, ApiKey or basic, see the module doc)."""
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    want = token.encode("ascii")
    scheme = scheme.lower()
    if scheme == "bearer":
        return hmac.compare_digest(value.encode("utf-8", "replace"), want)
    if scheme not in ("apikey", "basic"):
        return False
    if scheme == "apikey" and hmac.compare_digest(value.encode("utf-8", "replace"), want):
        return True
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    _, sep, secret = decoded.partition(b":")
    return bool(sep) and hmac.compare_digest(secret, want)


def _es_error(status: int, kind: str, reason: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
            "status": status}
    return Response(orjson.dumps(body), status, media_type="application/json",
                    headers={**ES_HEADERS, **(headers or {})})


def _gunzip(data: bytes, limit: int) -> bytes:
    """``data`` gzip-decoded (every member), refused past ``limit`` bytes."""
    out = bytearray()
    rest = data
    while rest:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += d.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise Refused(400, "parse_exception", f"the gzip body cannot be read: {exc}") from None
        if len(out) > limit or d.unconsumed_tail:
            raise Refused(413, "content_too_long_exception",
                          f"the body is over {limit} bytes once decompressed; send smaller batches "
                          "(Winlogbeat: output.elasticsearch.bulk_max_size)")
        if not d.eof:
            raise Refused(400, "parse_exception", "the gzip body is truncated")
        rest = d.unused_data
    return bytes(out)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes on the wire and once decompressed (413 beyond)."""
    too_big = Refused(413, "content_too_long_exception",
                      f"the body is over {limit} bytes; send smaller batches "
                      "(Winlogbeat: output.elasticsearch.bulk_max_size; Fluent Bit: a smaller buffer)")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_big
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise too_big
    enc = (request.headers.get("content-encoding") or "identity").strip().lower()
    if enc in ("gzip", "x-gzip"):
        return _gunzip(bytes(buf), limit)
    if enc not in ("identity", ""):
        raise Refused(415, "illegal_argument_exception", f"unsupported Content-Encoding {enc[:40]!r}; "
                      "send gzip or no encoding")
    return bytes(buf)


def _doc(line: bytes) -> tuple[bytes, str | None, Any]:
    """A document line as it is spooled, why it is refused (None: a JSON object), and its value.

    A refused line is spooled too, so that the reader counts it among the case's rejects; a JSON
    array, which the reader would take for several records, goes in as one JSON string."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return line, f"not JSON: {str(exc)[:200]}", None
    if isinstance(obj, dict):
        return line, None, obj
    why = f"not a JSON object ({type(obj).__name__})"
    if isinstance(obj, list):
        return orjson.dumps(line[:1000].decode("utf-8", "replace")), why, obj
    return line, why, obj


def parse_bulk(body: bytes, index: str | None, max_lines: int) -> tuple[list[bytes], list[dict[str, Any]]]:
    """The documents of a ``_bulk`` body and one item per action: ``op``, ``index``, ``status``,
    ``error`` (None when the document goes in), ``doc`` (its place among the documents kept)."""
    lines = body.split(b"\n")
    docs: list[bytes] = []
    items: list[dict[str, Any]] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        try:
            action = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise Refused(400, "illegal_argument_exception",
                          f"Malformed action/metadata line [{i}]: not JSON") from None
        if not isinstance(action, dict) or len(action) != 1:
            raise Refused(400, "illegal_argument_exception",
                          f"Malformed action/metadata line [{i}]: expected one action")
        op, meta = next(iter(action.items()))
        meta = meta if isinstance(meta, dict) else {}
        idx = str(meta.get("_index") or index or "wormsign")[:255]
        if op == "delete":
            items.append({"op": op, "index": idx, "status": 400, "doc": None,
                          "error": ("illegal_argument_exception", "wormsign keeps every event: delete is not supported")})
            continue
        if op not in ("index", "create", "update"):
            raise Refused(400, "illegal_argument_exception",
                          f"Malformed action/metadata line [{i}]: unknown action {str(op)[:40]!r}")
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            raise Refused(400, "illegal_argument_exception", f"the action on line [{i}] has no document line")
        doc = lines[i].strip()
        i += 1
        if op == "update":
            items.append({"op": op, "index": idx, "status": 400, "doc": None,
                          "error": ("illegal_argument_exception", "wormsign keeps every event: update is not supported")})
            continue
        if len(docs) >= max_lines:
            raise Refused(413, "content_too_long_exception", f"more than {max_lines} documents in one request")
        spooled, why, _ = _doc(doc)
        docs.append(spooled)  # a broken one too: the reader counts it as rejected in the case
        items.append({"op": op, "index": idx, "status": 201 if why is None else 400, "doc": len(docs) - 1,
                      "error": None if why is None else ("document_parsing_exception", why)})
    return docs, items


def parse_ndjson(body: bytes, max_lines: int) -> tuple[list[bytes], list[tuple[int, str]]]:
    """The documents of an NDJSON body and the (line, why) of those refused. A line that is a
    JSON array (a whole body that is one, as Vector's json codec sends) gives its elements."""
    docs: list[bytes] = []
    bad: list[tuple[int, str]] = []

    def add(n: int, spooled: bytes, why: str | None) -> None:
        if len(docs) >= max_lines:
            raise Refused(413, "content_too_long_exception", f"more than {max_lines} documents in one request")
        if why is not None:
            bad.append((n, why))
        docs.append(spooled)

    text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    lines = [text] if text.startswith(b"[") else body.split(b"\n")
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        spooled, why, obj = _doc(line)
        if not isinstance(obj, list):
            add(n, spooled, why)
            continue
        for x in obj:  # the elements of an array, each a document
            if isinstance(x, dict):
                add(n, orjson.dumps(x), None)
            else:
                add(n, orjson.dumps(orjson.dumps(x)[:1000].decode()), f"not a JSON object ({type(x).__name__})")
    return docs, bad


class LiveIngest:
    """The live ingest of one served case: its spool and writer, made on the first request
    (or at start when the spool holds frames a killed server did not commit)."""

    def __init__(self, case_path: str, conf: dict[str, Any], pool: Any = None) -> None:
        self.path = case_path
        self.conf = conf
        self.pool = pool  # the server's read pool (api/pool.py): the writer lends it the case
        self._lock = threading.Lock()
        self.spool: Spool | None = None
        self.writer: LiveWriter | None = None
        self.counts = {"requests": 0, "documents": 0, "refused_lines": 0, "throttled": 0}

    def open(self) -> LiveWriter:
        with self._lock:
            if self.writer is None:
                try:
                    self.spool = Spool(self.path, segment_bytes=int(self.conf["segment_bytes"]))
                except SpoolBusy as exc:
                    raise Refused(503, "unavailable_shards_exception", str(exc)) from None
                except OSError as exc:
                    raise Refused(503, "unavailable_shards_exception",
                                  f"the live spool cannot be opened: {exc}") from None
                self.writer = LiveWriter(self.path, self.spool, self.conf, self.pool)
            return self.writer

    def resume(self) -> None:
        """At start: commit what a killed server left in the spool."""
        if os.path.isdir(os.path.join(self.path, SPOOL_DIR)):
            try:
                self.open().start()
            except Refused:
                pass  # answered on the first request

    def spool_docs(self, kind: str, docs: list[bytes]) -> Pos:
        """Append the documents as one frame, synced; 429 while the backlog is too large."""
        writer = self.open()
        if writer.backlog() > int(self.conf["backlog_bytes"]):
            self.counts["throttled"] += 1
            raise Refused(429, "es_rejected_execution_exception",
                          "wormsign is behind: the events already accepted are being stored; retry later",
                          {"Retry-After": str(self.conf["retry_after_s"])})
        assert self.spool is not None
        try:
            at = self.spool.append(kind, b"\n".join(docs) + b"\n")
        except OSError as exc:
            raise Refused(503, "unavailable_shards_exception", f"the events cannot be stored now: {exc}",
                          {"Retry-After": str(self.conf["retry_after_s"])}) from None
        self.counts["requests"] += 1
        self.counts["documents"] += len(docs)
        writer.notify()
        return at

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": True, **self.counts}
        w = self.writer
        if w is None or self.spool is None:
            return {**out, "spool": None}
        done = w.done
        return {**out, "spool": {"end": str(self.spool.end()), "committed": str(done) if done else None,
                                 "backlog_bytes": w.backlog()},
                "idle": w.idle(), "writer": dict(w.stats),
                "early": dict(w.early.stats) if w.early is not None else None}

    def early_alerts(self) -> list[dict[str, Any]]:
        """The early alerts of what arrived since the last hunt (:mod:`wormsign.api.early`)."""
        w = self.writer
        return w.early.alerts() if w is not None and w.early is not None else []

    def close(self) -> None:
        if self.writer is not None:
            self.writer.stop()
        if self.spool is not None:
            self.spool.close()


def router(live: LiveIngest, token: str) -> APIRouter:
    conf = live.conf
    limit, max_lines = int(conf["max_body_bytes"]), int(conf["max_lines"])
    r = APIRouter()
    challenge = {"WWW-Authenticate": 'Basic realm="wormsign", ApiKey, Bearer'}

    def denied(request: Request) -> Response | None:
        if accepts(request.headers.get("authorization"), token):
            return None
        return _es_error(401, "security_exception",
                         "missing or wrong credentials: send the wormsign token (Bearer, ApiKey, "
                         "or as the basic-auth password)", challenge)

    async def bulk(request: Request, index: str | None = None) -> Response:
        t0 = time.monotonic()
        if (no := denied(request)) is not None:
            return no
        try:
            body = await read_body(request, limit)
            docs, items = await run_in_threadpool(parse_bulk, body, index, max_lines)
            at = await run_in_threadpool(live.spool_docs, "_bulk", docs) if docs else None
        except Refused as e:
            return _es_error(e.status, e.kind, e.reason, e.headers)
        out = []
        errors = False
        for n, it in enumerate(items):
            if it["error"] is None:
                res = {"_index": it["index"], "_id": f"{at}:{it['doc']}", "_version": 1, "result": "created",
                       "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": n,
                       "_primary_term": 1, "status": 201}
            else:
                errors = True
                kind, why = it["error"]
                res = {"_index": it["index"], "status": it["status"],
                       "error": {"type": kind, "reason": f"document {n + 1}: {why}"}}
                if it["doc"] is not None:
                    live.counts["refused_lines"] += 1
            out.append({it["op"]: res})
        took = int((time.monotonic() - t0) * 1000)
        return Response(orjson.dumps({"took": took, "errors": errors, "items": out}), 200,
                        media_type="application/json", headers=ES_HEADERS)

    @r.api_route("/_bulk", methods=["POST", "PUT"], include_in_schema=False)
    async def bulk_root(request: Request) -> Response:
        return await bulk(request)

    @r.api_route("/{index}/_bulk", methods=["POST", "PUT"], include_in_schema=False)
    async def bulk_index(index: str, request: Request) -> Response:
        return await bulk(request, index)

    @r.api_route(ES_ROOT, methods=["GET", "HEAD"], include_in_schema=False)
    async def es_root(request: Request) -> Response:
        if (no := denied(request)) is not None:
            return no
        version = str(conf["elasticsearch_version"])
        return Response(orjson.dumps({
            "name": "wormsign", "cluster_name": "wormsign", "cluster_uuid": "wormsign-live-ingest",
            "version": {"number": version, "build_flavor": "default", "build_type": "wormsign",
                        "minimum_wire_compatibility_version": "7.17.0",
                        "minimum_index_compatibility_version": "7.0.0"},
            "tagline": "wormsign live ingest: an Elasticsearch bulk endpoint, not a search engine",
        }), media_type="application/json", headers=ES_HEADERS)

    @r.api_route("/_{rest:path}", methods=["GET", "HEAD", "PUT", "POST", "DELETE"], include_in_schema=False)
    async def es_setup(rest: str, request: Request) -> Response:
        """Setup probes (templates, ILM, data streams, ingest pipelines): acknowledged, so that a
        client goes on to send its events; nothing is kept."""
        if (no := denied(request)) is not None:
            return no
        if request.method in ("GET", "HEAD"):
            if rest.startswith(("license", "xpack/license")):
                body: dict[str, Any] = {"license": {"status": "active", "uid": "wormsign", "type": "basic",
                                                    "mode": "basic", "issued_to": "wormsign",
                                                    "issuer": "wormsign", "max_nodes": 1000}}
            elif rest.startswith("xpack"):
                body = {"build": {}, "license": {"status": "active", "type": "basic", "mode": "basic"},
                        "features": {}}
            else:
                body = {}
        else:
            try:
                await read_body(request, limit)  # read (bounded) and dropped
            except Refused as e:
                return _es_error(e.status, e.kind, e.reason, e.headers)
            body = {"acknowledged": True}
        return Response(orjson.dumps(body), media_type="application/json", headers=ES_HEADERS)

    @r.post("/api/events", summary="Send events: one JSON document a line (Winlogbeat/ECS/EDR JSON, "
            "Zeek JSON); 202 once they are stored durably", status_code=202,
            response_model=models.LiveAccepted)
    async def post_events(request: Request) -> Response:
        if (no := denied(request)) is not None:
            return no
        try:
            body = await read_body(request, limit)
            docs, bad = await run_in_threadpool(parse_ndjson, body, max_lines)
            at = await run_in_threadpool(live.spool_docs, "ndjson", docs) if docs else None
        except Refused as e:
            return Response(orjson.dumps({"detail": e.reason}), e.status, media_type="application/json",
                            headers=e.headers)
        live.counts["refused_lines"] += len(bad)
        shown = int(conf["errors_shown"])
        return Response(orjson.dumps({
            "accepted": len(docs) - len(bad), "rejected": len(bad),
            "errors": [{"line": n, "reason": why} for n, why in bad[:shown]],
            "spooled_at": str(at) if at else None,
        }), 202, media_type="application/json")

    @r.get("/api/live", summary="Live ingest: requests taken, spool position, commits and hunts",
           response_model=models.LiveStatus)
    async def live_status(request: Request) -> Response:
        if (no := denied(request)) is not None:
            return no
        return Response(orjson.dumps(await run_in_threadpool(live.status), default=str),
                        media_type="application/json")

    return r


class EsRoot:
    """Sends ``GET``/``HEAD /`` of an Elasticsearch client (credentials given, HTML not asked
    for) to :data:`ES_ROOT`; a browser's ``GET /`` still gets the dashboard."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == "/" and scope.get("method") in ("GET", "HEAD"):
            headers = dict(scope.get("headers") or [])
            if b"authorization" in headers and b"text/html" not in headers.get(b"accept", b""):
                scope = {**scope, "path": ES_ROOT, "raw_path": ES_ROOT.encode()}
        await self.app(scope, receive, send)


def install(app: FastAPI, case_path: str, token: str) -> LiveIngest:
    """Add live ingest to ``wormsign serve``'s app (see the module doc)."""
    live = LiveIngest(case_path, settings(), getattr(app.state, "pool", None))
    app.include_router(router(live, token))
    app.add_middleware(EsRoot)
    app.router.add_event_handler("shutdown", live.close)
    live.resume()
    app.state.live = live
    return live
