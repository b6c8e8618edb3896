"""Live ingest (``wormsign serve``): a real uvicorn server, real HTTP through httpx, a real case.

The demo outbreak's Winlogbeat documents, posted to ``_bulk`` as Winlogbeat posts them, give the
same incidents as ``wormsign ingest`` + ``hunt`` of the same files; Elasticsearch clients' setup
calls are answered; the token is required; too large bodies, broken lines and a backlog are
refused with clear answers, and what was accepted is stored once.
"""

from __future__ import annotations

import base64
import gzip
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from livekit import SERVER_ERRORS, WINLOGBEAT, bulk_body, demo_docs, event_id, serving, wait_idle

from wormsign.api import load_or_create
from wormsign.api import live as live_mod
from wormsign.api import models
from wormsign.api.spool import Pos, Spool, SpoolBusy
from wormsign.store import Case


def _new_case(tmp: Path) -> tuple[Path, str]:
    case = tmp / "live-case"
    Case.open(str(case)).close()
    token, _ = load_or_create(case)
    return case, token


def _incidents(client: httpx.Client) -> list[dict[str, Any]]:
    """Every incident as the API shows it, with its graph's edges; evidence references left out
    (they name the source, a file or a request, by its digest)."""
    out = []
    for inc in client.get("/api/incidents").json()["incidents"]:
        graph = client.get(f"/api/incidents/{inc['id']}/graph").json()
        edges = sorted((e.get("source"), e.get("target"), e.get("technique") or e.get("method"))
                       for e in graph["edges"])
        nodes = sorted((n["host"], n.get("state"), n.get("generation")) for n in graph["nodes"])
        out.append({**inc, "edges": edges, "nodes": nodes})
    return out


def _events(case: Path) -> list[tuple[Any, ...]]:
    with Case.open(str(case), read_only=True) as c:
        return c.rows('SELECT "event.id", count(*) FROM events GROUP BY ALL')


def test_bulk_stream_gives_the_incidents_of_a_file_ingest(tmp_path: Path) -> None:
    from wormsign.hunt import hunt
    from wormsign.ingest.pipeline import ingest_paths

    ref = tmp_path / "ref-case"
    with Case.open(str(ref)) as c:
        ingest_paths([str(WINLOGBEAT)], c, workers=1)
        hunt(c, sigma_rules=[])
    ref_token, _ = load_or_create(ref)
    with serving(ref, ref_token) as url, httpx.Client(base_url=url, timeout=60) as cl:
        cl.headers["Authorization"] = f"Bearer {ref_token}"
        expected = _incidents(cl)
        expected_alerts = cl.get("/api/alerts", params={"limit": 1}).json()["total"]
    assert any(i["type"] == "outbreak" for i in expected)

    case, token = _new_case(tmp_path)
    docs = demo_docs()
    with serving(case, token) as url, httpx.Client(base_url=url, timeout=60, auth=("elastic", token)) as cl:
        assert cl.get("/").json()["version"]["number"].startswith("8.")  # Beats' connection check
        # a dashboard reads the case meanwhile: the live writer and the server's reads take turns
        reads: list[int] = []
        stop = threading.Event()

        def reader() -> None:
            with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as rc:
                while not stop.is_set():
                    reads.append(rc.get("/api/hosts", params={"limit": 5}).status_code)
                    reads.append(rc.get("/api/events", params={"kind": "auth", "limit": 5}).status_code)
                    time.sleep(0.02)

        th = threading.Thread(target=reader)
        th.start()
        for n, i in enumerate(range(0, len(docs), 400)):
            body = bulk_body(docs[i:i + 400])
            headers = {"Content-Type": "application/x-ndjson"}
            if n % 2:  # Beats 8 compress their bulk requests
                body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
            r = cl.post("/_bulk", content=body, headers=headers)
            assert r.status_code == 200, r.text
            assert r.headers["X-Elastic-Product"] == "Elasticsearch"
            got = r.json()
            assert got["errors"] is False
            assert [it["create"]["status"] for it in got["items"]] == [201] * len(docs[i:i + 400])
        st = wait_idle(cl, token)
        stop.set()
        th.join()
        assert set(reads) <= {200, 503} and 200 in reads, (sorted(set(reads)), SERVER_ERRORS[:3])
        # the writer lends the server its connection while it holds the case: reads get in
        assert reads.count(200) >= 2 * len(reads) // 3, {c: reads.count(c) for c in set(reads)}
        assert st["documents"] == len(docs) and st["writer"]["events_stored"] == len(docs)
        assert st["writer"]["hunts"] >= 1 and st["writer"]["hunted_to"] == st["spool"]["end"]
        cl.auth = None
        cl.headers["Authorization"] = f"Bearer {token}"
        assert _incidents(cl) == expected
        assert cl.get("/api/alerts", params={"limit": 1}).json()["total"] == expected_alerts
        # the dashboard's view follows the published hunt
        assert len(cl.get("/api/view").json()["incidents"]) == len(expected)
    rows = _events(case)
    assert len(rows) == len(docs) and all(n == 1 for _, n in rows)


def test_elasticsearch_clients_setup_calls_and_the_dashboard(tmp_path: Path) -> None:
    case, token = _new_case(tmp_path)
    with serving(case, token) as url, httpx.Client(base_url=url, timeout=30) as cl:
        basic = {"Authorization": "Basic " + base64.b64encode(f"wormsign:{token}".encode()).decode()}
        info = cl.get("/", headers=basic)
        assert info.status_code == 200 and info.json()["version"]["number"] == "8.17.0"
        assert cl.head("/", headers=basic).status_code == 200
        page = cl.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert cl.get("/_license", headers=basic).json()["license"]["status"] == "active"
        for method, path in (("HEAD", "/_index_template/winlogbeat-8.12.2"), ("GET", "/_ilm/policy/winlogbeat"),
                             ("GET", "/_data_stream/winlogbeat-8.12.2"), ("GET", "/_xpack")):
            assert cl.request(method, path, headers=basic).status_code == 200, path
        for path in ("/_index_template/winlogbeat-8.12.2", "/_ilm/policy/winlogbeat",
                     "/_data_stream/winlogbeat-8.12.2", "/_ingest/pipeline/x"):
            r = cl.put(path, headers=basic, content=b'{"index_patterns": ["winlogbeat-*"]}')
            assert r.json() == {"acknowledged": True}, path
        assert cl.put("/_index_template/x", headers=basic, content=b"x" * (33 << 20)).status_code == 413
        # an index in the path, delete and update refused per item, the rest stored
        doc = demo_docs()[0]
        body = (b'{"index":{}}\n' + doc + b'\n{"delete":{"_id":"1"}}\n{"update":{"_id":"1"}}\n{"doc":{}}\n')
        got = cl.post("/logs-x/_bulk", headers=basic, content=body).json()
        assert got["errors"] is True
        assert [list(it)[0] for it in got["items"]] == ["index", "delete", "update"]
        assert [next(iter(it.values()))["status"] for it in got["items"]] == [201, 400, 400]
        assert got["items"][0]["index"]["_index"] == "logs-x"
        # an action line that is not JSON refuses the whole request, as Elasticsearch does
        bad = cl.post("/_bulk", headers=basic, content=b'{"create":\n' + doc + b"\n")
        assert bad.status_code == 400 and "Malformed action/metadata line [1]" in bad.json()["error"]["reason"]
        st = wait_idle(cl, token)
        assert st["documents"] == 1 and st["writer"]["events_stored"] == 1


def test_token_is_required_in_every_form(tmp_path: Path) -> None:
    case, token = _new_case(tmp_path)
    doc = demo_docs()[:3]
    body = bulk_body(doc)
    with serving(case, token) as url, httpx.Client(base_url=url, timeout=30) as cl:
        wrong = [{}, {"Authorization": "Bearer nope"},
                 {"Authorization": "Basic " + base64.b64encode(b"elastic:changeme").decode()},
                 {"Authorization": "ApiKey " + base64.b64encode(b"id:" + token[:-1].encode()).decode()},
                 {"Authorization": "Basic %%%"}, {"Authorization": f"Token {token}"}]
        for h in wrong:
            r = cl.post("/_bulk", content=body, headers=h)
            assert r.status_code == 401, h
            assert r.json()["error"]["type"] == "security_exception"
            assert "Basic" in r.headers["WWW-Authenticate"]
            assert cl.post("/api/events", content=doc[0], headers=h).status_code == 401
            assert cl.get("/_license", headers=h).status_code == 401
        assert cl.get("/", headers={"Authorization": "Basic eDp5"}).status_code == 401  # ES client, wrong
        assert cl.get("/api/live").status_code == 401
        right = [{"Authorization": f"Bearer {token}"}, {"Authorization": f"ApiKey {token}"},
                 {"Authorization": "ApiKey " + base64.b64encode(f"wormsign:{token}".encode()).decode()},
                 {"Authorization": "Basic " + base64.b64encode(f"elastic:{token}".encode()).decode()}]
        for h in right:
            assert cl.post("/_bulk", content=body, headers=h).status_code == 200, h
        st = wait_idle(cl, token)
        # four requests of the same three documents: one source, the others add nothing
        assert st["requests"] == 4 and st["writer"]["events_stored"] == 3
        assert st["writer"]["duplicate_frames"] == 3
    assert len(_events(case)) == 3


def test_too_large_bodies_are_refused_with_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = {**live_mod.settings(), "max_body_bytes": 64 * 1024, "max_lines": 50}
    monkeypatch.setattr(live_mod, "settings", lambda: conf)
    case, token = _new_case(tmp_path)
    docs = demo_docs()
    big = bulk_body(docs[:120])
    assert len(big) > 64 * 1024
    auth = {"Authorization": f"Bearer {token}"}
    with serving(case, token) as url, httpx.Client(base_url=url, timeout=30, headers=auth) as cl:
        r = cl.post("/_bulk", content=big)
        assert r.status_code == 413
        assert r.json()["error"]["type"] == "content_too_long_exception"
        assert "over 65536 bytes" in r.json()["error"]["reason"] and "bulk_max_size" in r.json()["error"]["reason"]

        def chunks() -> Any:  # no Content-Length: the limit holds while reading
            for i in range(0, len(big), 4096):
                yield big[i:i + 4096]

        r = cl.post("/api/events", content=chunks())
        assert r.status_code == 413 and "over 65536 bytes" in r.json()["detail"]
        bomb = gzip.compress(b"{}\n" * 200_000)  # 600 kB once decompressed, a few kB on the wire
        r = cl.post("/api/events", content=bomb, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 413 and "decompressed" in r.json()["detail"]
        r = cl.post("/api/events", content=b"\n".join(b"{}" for _ in range(51)))
        assert r.status_code == 413 and "more than 50 documents" in r.json()["detail"]
        r = cl.post("/api/events", content=b"{}", headers={"Content-Encoding": "br"})
        assert r.status_code == 415
        ok = cl.post("/api/events", content=b"\n".join(docs[:10]))
        assert ok.status_code == 202 and ok.json()["accepted"] == 10
        st = wait_idle(cl, token)
        assert st["documents"] == 10 and st["writer"]["events_stored"] == 10
    assert len(_events(case)) == 10


def test_broken_lines_are_rejected_and_counted_the_rest_stored(tmp_path: Path) -> None:
    case, token = _new_case(tmp_path)
    docs = demo_docs()[:6]
    lines = [docs[0], docs[1], b'{"winlog": {"event_id": 4624', docs[2], b"", b"[1, 2]", docs[3]]
    with serving(case, token) as url, httpx.Client(base_url=url, timeout=30) as cl:
        cl.headers["Authorization"] = f"Bearer {token}"
        r = cl.post("/api/events", content=b"\n".join(lines) + b"\n")
        assert r.status_code == 202
        got = r.json()
        assert got["accepted"] == 4 and got["rejected"] == 3  # the array line: two numbers
        assert [e["line"] for e in got["errors"]] == [3, 6, 6]
        assert "not JSON" in got["errors"][0]["reason"] and "not a JSON object" in got["errors"][1]["reason"]
        # the same in a _bulk request: the broken document's item is refused, the others created
        body = bulk_body([docs[4], b"{broken", docs[5]])
        items = cl.post("/_bulk", content=body).json()["items"]
        assert [it["create"]["status"] for it in items] == [201, 400, 201]
        assert items[1]["create"]["error"]["type"] == "document_parsing_exception"
        # a JSON array body (Vector's json codec) is taken too
        arr = b"[" + docs[0].replace(b'"id":"', b'"id":"A', 1) + b"]"
        assert cl.post("/api/events", content=arr).json()["accepted"] == 1
        st = wait_idle(cl, token)
        models.LiveStatus.model_validate(st)  # the answers are what /openapi.json says
        models.LiveAccepted.model_validate(got)
        assert st["refused_lines"] == 4
        assert st["writer"]["events_stored"] == 7 and st["writer"]["records_rejected"] == 4
    with Case.open(str(case), read_only=True) as c:
        assert c.rows("SELECT count(*) FROM events")[0][0] == 7
        rejected = c.rows("SELECT file, record, reason FROM rejects ORDER BY file, record")
        assert sum(r[0] for r in c.rows("SELECT rejected FROM sources")) == 4
    assert len(rejected) == 4
    # the record is the document's place in the request
    assert sorted((r[1], r[2]) for r in rejected) == [(2, "bad-json"), (3, "bad-json"), (5, "bad-record"),
                                                      (6, "bad-record")]
    assert all(r[0].startswith("live:") for r in rejected)


def test_backlog_gets_429_and_nothing_accepted_is_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While another process holds the case the writer cannot commit; past the backlog limit
    requests get 429 with Retry-After, and once the case is free everything accepted is stored."""
    conf = {**live_mod.settings(), "backlog_bytes": 1, "writer_wait_s": 0.2, "retry_s": 0.2}
    monkeypatch.setattr(live_mod, "settings", lambda: conf)
    case, token = _new_case(tmp_path)
    docs = demo_docs()[:40]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from wormsign.store import Case; "
         "c = Case.open(sys.argv[1]); print('held', flush=True); sys.stdin.read()", str(case)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with serving(case, token) as url, httpx.Client(base_url=url, timeout=30) as cl:
            cl.headers["Authorization"] = f"Bearer {token}"
            assert cl.post("/_bulk", content=bulk_body(docs[:20])).status_code == 200
            r = cl.post("/_bulk", content=bulk_body(docs[20:]))
            assert r.status_code == 429 and r.headers["Retry-After"] == "2"
            assert r.json()["error"]["type"] == "es_rejected_execution_exception"
            assert cl.post("/api/events", content=b"\n".join(docs[20:])).status_code == 429
            deadline = time.monotonic() + 10
            while "in use" not in str(cl.get("/api/live").json()["writer"]["last_error"]):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            holder.stdin.close()  # type: ignore[union-attr]
            holder.wait(30)
            deadline = time.monotonic() + 30
            while (r := cl.post("/_bulk", content=bulk_body(docs[20:]))).status_code == 429:  # the client retries
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert r.status_code == 200
            st = wait_idle(cl, token)
            assert st["throttled"] >= 2 and st["writer"]["events_stored"] == 40
    finally:
        holder.kill()
        holder.wait()
    assert sorted(i for i, _ in _events(case)) == sorted(event_id(d) for d in docs)


def test_spool_cuts_a_torn_frame_and_reads_across_files(tmp_path: Path) -> None:
    case = tmp_path / "c"
    case.mkdir()
    sp = Spool(str(case), segment_bytes=100)
    a = sp.append("_bulk", b'{"a":1}\n' * 20)  # over 100 bytes: the next frame starts a new file
    b = sp.append("ndjson", b'{"b":2}\n')
    assert (a.seg, b.seg) == (1, 2)
    end = sp.end()
    sp.close()
    seg2 = case / "live" / "spool-00000002.wsp"
    with open(seg2, "ab") as fh:
        fh.write(b"WSF1\xff\xff\x00\x00garbage")  # a frame half written when the process died
    sp = Spool(str(case), segment_bytes=100)
    try:
        assert sp.end() == end
        frames = sp.read(Pos(1, 0), 1 << 20)
        assert [(f.kind, f.payload[:7]) for f in frames] == [("_bulk", b'{"a":1}'), ("ndjson", b'{"b":2}')]
        assert sp.norm(frames[0].end) == b
        sp.release(sp.norm(frames[0].end))
        assert not (case / "live" / "spool-00000001.wsp").exists()
        assert sp.backlog(b) == end.off - b.off
    finally:
        sp.close()
    assert _refused_while_held(case)


def _refused_while_held(case: Path) -> bool:
    """Hold the spool in a child process (a second server) and open it here: refused?"""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from wormsign.api.spool import Spool; s = Spool(sys.argv[1]); "
         "print('ok', flush=True); sys.stdin.read()", str(case)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ok"
        try:
            Spool(str(case)).close()
        except SpoolBusy as e:
            assert "second `wormsign serve`" in str(e)
            return True
        return False
    finally:
        child.kill()
        child.wait()


def test_live_status_and_no_live(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from wormsign.api import create_app

    case, token = _new_case(tmp_path)
    off = TestClient(create_app(case, token, live=False))
    r = off.post("/_bulk", content=b"{}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (404, 405)
    assert off.get("/api/live", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert not os.path.exists(case / "live")


def test_a_request_whose_commit_keeps_failing_is_counted_and_passed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request the writer cannot commit (here the parser raises on it, as a reader bug would)
    blocks nothing: after ``frame_tries`` failures alone it is one rejected record, named; the
    requests before and after it are stored."""
    from wormsign.api import livewriter
    from wormsign.ingest import IngestError

    conf = {**live_mod.settings(), "retry_s": 0.05, "frame_tries": 3}
    monkeypatch.setattr(live_mod, "settings", lambda: conf)
    real = livewriter._parse
    tries: list[str] = []

    def parse(src: Any, strict: bool, batch: Any) -> Any:
        if b"POISON" in src.frame.payload:
            tries.append(src.name)
            raise IngestError(f"rows of {src.name} do not fit the event model: injected")
        return real(src, strict, batch)

    monkeypatch.setattr(livewriter, "_parse", parse)
    case, token = _new_case(tmp_path)
    docs = demo_docs()[:30]
    poison = docs[10].replace(b'"ecs":', b'"note":"POISON","ecs":', 1)
    with serving(case, token) as url, httpx.Client(base_url=url, timeout=30) as cl:
        cl.headers["Authorization"] = f"Bearer {token}"
        for body in (docs[:10], [poison], docs[11:]):  # three requests (one commit, or more)
            assert cl.post("/_bulk", content=bulk_body(body)).status_code == 200
        st = wait_idle(cl, token)
        assert st["writer"]["events_stored"] == 29 and st["writer"]["records_rejected"] == 1
    assert len(tries) >= 3 and len(set(tries)) == 1
    with Case.open(str(case), read_only=True) as c:
        assert c.rows("SELECT count(*) FROM events")[0][0] == 29
        (row,) = c.rows("SELECT file, reason, detail FROM rejects")
    assert row[0] == tries[0] and row[1] == "live-commit-failed" and "injected" in row[2]


#: Every column of the events but the source pointer and the original record's text.
EVENTS_BUT_SOURCE = 'SELECT * EXCLUDE (eid, raw, "src.file", "src.record", "src.digest", "src.format") FROM events'
CORPUS_EVTX = (Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "real-multihost"
               / "ID5145-service massive remote creation via named pipe - Tchopper.evtx")


@pytest.mark.skipif(not CORPUS_EVTX.is_file(), reason="the shared EVTX corpus is not here")
def test_evtx_dump_lines_posted_twice_in_overlapping_requests_are_stored_once(tmp_path: Path) -> None:
    """``evtx_dump -o jsonl`` output sent to /api/events by a shipper that resends part of it
    (regrouped, so the bodies differ): each record is stored once (its channel, computer, record
    id and time), and the events are the EVTX file's own."""
    from evtx import PyEvtxParser

    from wormsign.ingest.pipeline import ingest_paths

    lines = [orjson_line(r["data"]) for r in PyEvtxParser(str(CORPUS_EVTX)).records_json()]
    assert len(lines) > 20
    half = len(lines) // 2
    ref = tmp_path / "ref"
    with Case.open(str(ref)) as c:
        ingest_paths([str(CORPUS_EVTX)], c, workers=1)
        want = sorted(c.rows(EVENTS_BUT_SOURCE), key=repr)
    case, token = _new_case(tmp_path)
    with serving(case, token) as url, httpx.Client(base_url=url, timeout=30) as cl:
        cl.headers["Authorization"] = f"Bearer {token}"
        for part in (lines[:half + 5], lines[half:]):
            r = cl.post("/api/events", content=b"\n".join(part))
            assert r.status_code == 202 and r.json()["rejected"] == 0
        st = wait_idle(cl, token)
        assert st["writer"]["copies_dropped"] == 5
        assert st["writer"]["events_stored"] == len(lines)
    with Case.open(str(case), read_only=True) as c:
        got = sorted(c.rows(EVENTS_BUT_SOURCE), key=repr)
        assert {f for (f,) in c.rows('SELECT DISTINCT "src.format" FROM events')} == {"evtx-json"}
    assert got == want


def orjson_line(data: str) -> bytes:
    """One evtx_dump JSONL line: the record's JSON on one line."""
    import json

    return json.dumps(json.loads(data), ensure_ascii=False).encode()


def test_elastics_own_python_client_sends_to_wormsign(tmp_path: Path) -> None:
    """Elastic's Python client (its version check, product check and bulk helper) against the
    server: what a client built for Elasticsearch does, unchanged, with the token as password."""
    from elasticsearch import AuthenticationException, Elasticsearch, helpers

    case, token = _new_case(tmp_path)
    docs = demo_docs()[:250]
    with serving(case, token) as url:
        es = Elasticsearch(url, basic_auth=("wormsign", token), request_timeout=30)
        assert es.info()["version"]["number"] == "8.17.0"
        assert es.indices.exists_index_template(name="winlogbeat-8.12.2")
        actions = ({"_op_type": "create", "_index": "winlogbeat-8.12.2", "_source": orjson.loads(d)} for d in docs)
        ok, errors = helpers.bulk(es, actions, chunk_size=100)
        assert (ok, errors) == (250, [])
        with pytest.raises(AuthenticationException):
            Elasticsearch(url, basic_auth=("wormsign", "wrong"), request_timeout=30).info()
        with httpx.Client(base_url=url, timeout=30) as cl:
            st = wait_idle(cl, token)
    assert st["requests"] == 3 and st["writer"]["events_stored"] == 250
    assert sorted(i for i, _ in _events(case)) == sorted(event_id(d) for d in docs)


def test_a_long_stream_keeps_few_shards_and_the_same_incidents(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Each cycle commits a shard; merged once there are more than ``compact_shards`` of them,
    the stream ends with few shards and the incidents of the same stream left unmerged."""
    conf = {**live_mod.settings(), "hunt_min_interval_s": 0, "read_gap_s": 0}
    docs = demo_docs()
    size = len(docs) // 12 + 1
    results = []
    for most in (3, 10_000):
        monkeypatch.setattr(live_mod, "settings", lambda c={**conf, "compact_shards": most}: c)
        case, token = _new_case(tmp_path / str(most))
        with serving(case, token) as url, httpx.Client(base_url=url, timeout=60, auth=("elastic", token)) as cl:
            for i in range(0, len(docs), size):  # one request a cycle: wait for it to be hunted
                assert cl.post("/_bulk", content=bulk_body(docs[i:i + size]),
                               headers={"Content-Type": "application/x-ndjson"}).json()["errors"] is False
                st = wait_idle(cl, token)
            cl.auth = None
            cl.headers["Authorization"] = f"Bearer {token}"
            results.append((_incidents(cl), cl.get("/api/alerts", params={"limit": 1}).json()["total"]))
        with Case.open(str(case), read_only=True) as c:
            shards = len(c.shard_ids())
        assert st["writer"]["commits"] >= 12 and st["writer"]["hunts"] >= 12
        if most == 3:
            assert st["writer"]["shards_merged"] >= 4 and shards <= 4, (st["writer"], shards)
        else:
            assert st["writer"]["shards_merged"] == 0 and shards >= 12
        assert len(_events(case)) == len(docs)
    assert results[0] == results[1]
    assert any(i["type"] == "outbreak" for i in results[0][0])
