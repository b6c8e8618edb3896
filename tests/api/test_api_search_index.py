"""What serve keeps between requests (issue 17, defect 9, 50 clients): the search index gives the
same pages as a search of the case, resolved host keys included; what is kept follows the case
when a writer changes it; the shared connection lets a writer in once the requests are done."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from outbreak_fixture import DIGEST, T0, build

from wormsign.api import create_app, load_or_create
from wormsign.api.index import SEP, SearchIndex, fetch_refs
from wormsign.api.search import TEXT_FIELDS, EventQuery, search
from wormsign.ingest.base import rows_to_table
from wormsign.report.events import fetch_events
from wormsign.store import CATALOG, KEY_COLUMNS, Case


def _more(start: int) -> pa.Table:
    """Events of a second shard: odd cases, LIKE's special characters, a user only as target."""
    texts = ["C:\\Temp\\100%_done.EXE", "ÉCOLE\\Ünïcode", "back\\slash_under%", "PowerShell -enc AAAA",
             f"sep{SEP}inside", None]
    rows = []
    for i in range(30):
        rows.append({
            "ts": T0 + timedelta(minutes=i % 7, seconds=i), "host": f"srv-{i % 3}", "kind": "process",
            "event.code": "1", "src.file": "more.evtx", "src.record": start + i, "src.digest": "cd" * 32,
            "src.format": "evtx", "raw": "{}", "process.command_line": texts[i % len(texts)],
            "user.name": None if i % 4 == 0 else ("Admin" if i % 2 else "ADMIN"),
            "user.target.name": "admin" if i % 4 == 0 else None,
        })
    return rows_to_table(rows)


def _case(tmp_path: Path) -> Path:
    """The outbreak case, a second shard, and resolved keys for the first one (hosts renamed)."""
    path = tmp_path / "outbreak.duckdb"
    build(path)
    with Case.open(str(path)) as case:
        case.append_events(_more(1000))
        first = case.shard_ids()[0]
        keys = case.query(f"SELECT {', '.join(chr(34) + c + chr(34) for c in KEY_COLUMNS)} FROM read_parquet("
                          f"{case.shard_files([first])})")
        renamed = [("resolved-" + h) if h and h.startswith("ws-000") else h for h in keys.column("host").to_pylist()]
        keys = keys.set_column(keys.schema.get_field_index("host"), "host", pa.array(renamed, pa.string()))
        case.write_keys(first, keys)
        case.refresh()
    return path


QUERIES = [
    EventQuery(),
    EventQuery(limit=5, offset=3),
    EventQuery(limit=5, offset=10_000),
    EventQuery(q="powershell"),
    EventQuery(q="POWERSHELL", limit=2),
    EventQuery(q="%"),
    EventQuery(q="_"),
    EventQuery(q="\\"),
    EventQuery(q="100%_"),
    EventQuery(q="école"),
    EventQuery(q="ünï"),
    EventQuery(q="payload.exe"),
    EventQuery(q="resolved-ws-0001"),
    EventQuery(q="ws-0001"),
    EventQuery(q="zz-not-there"),
    EventQuery(host="resolved-ws-0002"),
    EventQuery(host="ws-0002"),
    EventQuery(host="srv-1", q="admin"),
    EventQuery(user="admin"),
    EventQuery(user="ADMIN", kind="process"),
    EventQuery(code="1", since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=5)),
    EventQuery(since=(T0 + timedelta(minutes=3)).replace(tzinfo=None)),
    EventQuery(kind="logon", limit=3),
]


@pytest.mark.parametrize("count_max", [None, 4, 10_000])
def test_indexed_search_gives_the_case_search(tmp_path: Path, count_max: int | None) -> None:
    path = _case(tmp_path)
    with Case.open(str(path), read_only=True) as case:
        index = SearchIndex(TEXT_FIELDS, 1_000_000)
        cur = index.cursor(case, "v1")
        assert cur is not None
        try:
            for q in QUERIES:
                assert q.indexed()
                want = search(case, q, count_max=count_max)
                got = search(case, q, count_max=count_max, index=cur)
                assert got == want, q
            assert search(case, EventQuery(q="resolved-ws-0001"), index=cur)["total"] > 0
            assert search(case, EventQuery(host="ws-0002"), index=cur)["total"] == 0  # keyed away
        finally:
            cur.close()


def test_a_search_of_the_last_version_finishes_while_the_next_is_indexed(tmp_path: Path) -> None:
    """A request still reading the index of the case as it was (the live writer has committed
    since, and another request built the next index) gets its page, not a closed connection."""
    path = _case(tmp_path)
    with Case.open(str(path), read_only=True) as case:
        index = SearchIndex(TEXT_FIELDS, 1_000_000)
        old = index.cursor(case, "v1")
        new = index.cursor(case, "v2")
        assert old is not None and new is not None
        try:
            q = EventQuery(q="powershell")
            want = search(case, q)
            assert want["total"] > 0
            assert search(case, q, index=old) == want
            assert search(case, q, index=new) == want
        finally:
            old.close()
            new.close()


def test_terms_the_index_cannot_answer_search_the_case(tmp_path: Path) -> None:
    path = _case(tmp_path)
    with Case.open(str(path), read_only=True) as case:
        cur = SearchIndex(TEXT_FIELDS, 1_000_000).cursor(case, "v1")
        assert cur is not None
        for q in (EventQuery(q=f"sep{SEP}ins"), EventQuery(q="{", raw=True)):
            assert not q.indexed()
            assert search(case, q, index=cur) == search(case, q)
        assert search(case, EventQuery(q=f"sep{SEP}ins"))["total"] == 5
        cur.close()
        assert SearchIndex(TEXT_FIELDS, 10).cursor(case, "v2") is None  # too many events to index


def _client(path: Path) -> TestClient:
    token, _ = load_or_create(path)
    c = TestClient(create_app(path, token))
    c.headers["Authorization"] = f"Bearer {token}"
    return c


LATE = """import sys
import pyarrow.parquet as pq
from wormsign.store import Case
with Case.open(sys.argv[1], wait=30) as case:
    case.append_events(pq.read_table(sys.argv[2]))
"""


def test_what_serve_keeps_follows_the_case(tmp_path: Path) -> None:
    path = _case(tmp_path)
    client = _client(path)
    hosts = client.get("/api/hosts").json()
    found = client.get("/api/events", params={"q": "late-arrival"}).json()
    view = client.get("/api/view").json()["case"]
    one = client.get("/api/hosts/srv-1").json()
    assert found["total"] == 0 and "late-host" not in {h["host"] for h in hosts["hosts"]}
    # A writer (another process, as an ingest is) gets the case while the server runs ...
    late = _more(5000).to_pylist()
    for r in late:
        r["host"], r["process.command_line"] = "late-host" if r["host"] == "srv-0" else r["host"], "late-arrival"
    pq.write_table(rows_to_table(late), tmp_path / "late.parquet")
    done = subprocess.run([sys.executable, "-c", LATE, str(path), str(tmp_path / "late.parquet")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    # ... and what the server kept is read again.
    hosts2 = client.get("/api/hosts").json()
    assert hosts2["total"] == hosts["total"] + 1 and "late-host" in {h["host"] for h in hosts2["hosts"]}
    assert client.get("/api/events", params={"q": "late-arrival"}).json()["total"] == 30
    assert client.get("/api/view").json()["case"]["events"] == view["events"] + 30
    assert client.get("/api/hosts/srv-1").json()["events"] == one["events"] + 10
    assert client.get("/api/hosts/late-host").json()["kinds"] == {"process": 10}


def test_host_summaries_are_those_of_the_case(tmp_path: Path) -> None:
    path = _case(tmp_path)
    client = _client(path)
    with Case.open(str(path), read_only=True) as case:
        want = case.rows("SELECT host, count(*) FROM events GROUP BY host ORDER BY host")
        kinds = dict(case.rows("SELECT kind, count(*) FROM events WHERE host = ? GROUP BY kind ORDER BY kind",
                               ["resolved-ws-0001"]))
    pages = [client.get("/api/hosts", params={"limit": 3, "offset": o}).json() for o in range(0, len(want) + 3, 3)]
    assert [(h["host"], h["events"]) for p in pages for h in p["hosts"]] == [(h, n) for h, n in want]
    assert {p["total"] for p in pages} == {sum(1 for h, _ in want if h is not None)}
    info = client.get("/api/hosts/resolved-ws-0001").json()
    assert info["kinds"] == kinds and info["events"] == sum(kinds.values())
    assert client.get("/api/hosts/ws-0001").status_code in (200, 404)  # its incident part only
    assert client.get("/api/hosts", params={"q": "SRV"}).json()["total"] == 3


PLAIN = """import sys, time, duckdb
deadline = time.monotonic() + 5
while True:
    try:
        duckdb.connect(sys.argv[1]).close()
        break
    except duckdb.IOException:
        if time.monotonic() > deadline:
            sys.exit("the server still holds the case")
        time.sleep(0.05)
"""


def test_a_plain_writer_gets_the_case_once_requests_are_done(tmp_path: Path) -> None:
    """No marker, no retry: DuckDB itself opening the catalog to write, after the server answered."""
    path = _case(tmp_path)
    client = _client(path)
    for url in ("/api/hosts", "/api/view", "/api/hosts/srv-1"):
        assert client.get(url).status_code == 200
    assert client.get("/api/events", params={"q": "admin"}).status_code == 200
    # the connection lingers a moment (settings: read_linger_s), then goes
    done = subprocess.run([sys.executable, "-c", PLAIN, str(path / CATALOG)], capture_output=True, text=True, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_response_carries_the_safe_headers(tmp_path: Path) -> None:
    path = tmp_path / "outbreak.duckdb"
    build(path)
    client = _client(path)
    bare = TestClient(client.app)
    responses = [client.get("/api/incidents"), client.get("/api/events", params={"q": "zz-none"}), bare.get("/api/cases"),
                 client.get("/api/incidents/nope"), client.get("/api/events", params={"kind": "nope"}),
                 client.get("/"), client.get("/openapi.json"), client.get("/nothing-here")]
    assert [r.status_code for r in responses] == [200, 200, 401, 404, 422, 200, 200, 404]
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"
        assert r.headers.get_list("cache-control") == ["no-store"]
    assert responses[1].headers["content-type"] == "application/json"
    assert responses[1].json() == {"total": 0, "total_exact": True, "limit": 100, "offset": 0, "events": []}


def test_a_moved_case_is_served(tmp_path: Path) -> None:
    """The catalog's view names the shards where they were: each request's cursor gets its own."""
    path = _case(tmp_path)
    before = _client(path)
    want = [before.get("/api/events", params={"q": q}).json() for q in ("admin", "payload.exe")]
    hosts = before.get("/api/hosts").json()
    moved = tmp_path / "elsewhere" / "moved.duckdb"
    moved.parent.mkdir()
    path.rename(moved)
    client = _client(moved)
    assert [client.get("/api/events", params={"q": q}).json() for q in ("admin", "payload.exe")] == want
    assert client.get("/api/events", params={"q": "payload.exe", "raw": "true"}).json()["total"] == want[1]["total"]
    assert client.get("/api/hosts").json() == hosts


def test_evidence_through_the_index_is_the_case_evidence(tmp_path: Path) -> None:
    path = _case(tmp_path)
    with Case.open(str(path), read_only=True) as case:
        every = [f"{d}:{r}" for d, r in case.rows('SELECT "src.digest", "src.record" FROM events')]
        refs = [*reversed(every), every[0], "not-a-ref", f"{'ef' * 32}:1", f"{DIGEST}:999999"]
        cur = SearchIndex(TEXT_FIELDS, 1_000_000).cursor(case, "v1")
        assert cur is not None
        try:
            for max_raw in (16384, 10):
                got = fetch_refs(case, cur, refs, max_raw=max_raw)
                assert got == fetch_events(case, refs, max_raw=max_raw)
                assert list(got) == list(fetch_events(case, refs, max_raw=max_raw)) and len(got) == len(every)
            assert any(ev.get("raw_truncated") for ev in fetch_refs(case, cur, every, max_raw=10).values())
            assert {ev["host"] for ev in got.values()} >= {"resolved-ws-0001", "srv-1"}  # keys applied
        finally:
            cur.close()
    client = _client(path)
    page = client.get("/api/evidence", params={"ref": refs[:5]}).json()
    assert list(page["events"]) == sorted(refs[:5], key=every.index) and page["missing"] == []
    assert client.get(f"/api/events/{every[3]}").json()["ref"] == every[3]
    assert client.get(f"/api/events/{DIGEST}:999999").status_code == 404
