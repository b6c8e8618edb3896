"""The API while another process writes the case (issue 17, defect 8): the last hunt's incidents and
alerts are still served, live reads get 503 with Retry-After, and a writer always gets the case."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from outbreak_fixture import build

from wormsign.api import create_app, load_or_create
from wormsign.api.published import published_path
from wormsign.hunt import save
from wormsign.report.view import alerts as case_alerts
from wormsign.store import Case, want_write_marker

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1] + '/catalog.duckdb'); print('held', flush=True); time.sleep(120)"

WRITE = """import sys
from wormsign.store import Case
for _ in range(5):
    Case.open(sys.argv[1], wait=30).close()
    print("opened", flush=True)
"""


def _hold(case: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(case)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _client(path: Path) -> TestClient:
    token, _ = load_or_create(path)
    c = TestClient(create_app(path, token))
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def _reads(c: TestClient) -> dict[str, Any]:
    return {u: c.get(u) for u in ("/api/incidents", "/api/incidents/INC-0001", "/api/alerts",
                                  "/api/alerts/ALR-000001", "/api/view", "/api/cases")}


def test_last_result_served_while_a_writer_holds_the_case(tmp_path: Path) -> None:
    path = tmp_path / "outbreak.duckdb"
    build(path)
    client = _client(path)
    before = {u: r.json() for u, r in _reads(client).items()}
    holder = _hold(path)
    try:
        during = _reads(client)
        events = client.get("/api/events", params={"q": "payload"})
    finally:
        holder.kill()
        holder.wait()
    for url, r in during.items():
        assert r.status_code == 200, (url, r.text)
        if url not in ("/api/cases", "/api/view"):
            assert r.json() == before[url], url
    view = during["/api/view"].json()
    assert view["case"]["as_of_hunt"] is True and view["case"]["events"] == 41
    assert {**view, "case": None} == {**before["/api/view"], "case": None}
    assert during["/api/cases"].json()[0]["events"] == 41
    assert events.status_code == 503 and events.headers["Retry-After"]
    assert f"process {holder.pid}" in events.json()["detail"]


def test_published_result_served_by_a_server_started_during_a_hunt(tmp_path: Path) -> None:
    path = tmp_path / "outbreak.duckdb"
    doc = build(path)
    with Case.open(str(path)) as case:
        alerts = case_alerts(case, doc)
        save(case, doc, alerts)  # what a hunt does last: it publishes the result beside the case
    assert published_path(path).is_file()
    holder = _hold(path)  # the next hunt holds the case before the server has read anything
    try:
        client = _client(path)
        incs = client.get("/api/incidents")
        one = client.get("/api/alerts/ALR-000001")
        hosts = client.get("/api/hosts")
    finally:
        holder.kill()
        holder.wait()
    assert incs.status_code == 200 and incs.json()["total"] == len(doc["incidents"])
    assert one.status_code == 200 and one.json()["id"] == "ALR-000001"
    assert hosts.status_code == 503


def test_a_waiting_writer_gets_the_case_from_a_busy_server(tmp_path: Path) -> None:
    path = tmp_path / "outbreak.duckdb"
    build(path)
    client = _client(path)
    stop = threading.Event()
    codes: list[int] = []

    def poll() -> None:  # clients that never stop reading the case
        while not stop.is_set():
            codes.append(client.get("/api/hosts").status_code)
            codes.append(client.get("/api/events", params={"q": "ws"}).status_code)

    pollers = [threading.Thread(target=poll) for _ in range(3)]
    for t in pollers:
        t.start()
    try:
        while len(codes) < 20:
            stop.wait(0.01)
        # A second process opening the case to write, as hunt and ingest do, five times over.
        writer = subprocess.run([sys.executable, "-c", WRITE, str(path)], capture_output=True, text=True,
                                timeout=300)
    finally:
        stop.set()
        for t in pollers:
            t.join()
    assert writer.returncode == 0 and writer.stdout.split() == ["opened"] * 5, writer.stderr[-2000:]
    assert set(codes) <= {200, 503} and 200 in codes
    assert not Path(want_write_marker(str(path))).exists()


def test_a_writer_in_the_servers_own_process_waits_for_its_reads(tmp_path: Path) -> None:
    """DuckDB refuses a writer in a process that holds the file read-only with another error than
    the lock of another process; the writer must wait for the server's reads all the same."""
    path = tmp_path / "outbreak.duckdb"
    build(path)
    client = _client(path)
    stop = threading.Event()
    codes: list[int] = []

    def poll() -> None:
        while not stop.is_set():
            codes.append(client.get("/api/hosts").status_code)

    pollers = [threading.Thread(target=poll) for _ in range(3)]
    for t in pollers:
        t.start()
    try:
        while len(codes) < 20:
            stop.wait(0.01)
        for _ in range(3):
            with Case.open(str(path), wait=30) as case:
                case.set_meta("touched", True)
    finally:
        stop.set()
        for t in pollers:
            t.join()
    assert set(codes) <= {200, 503} and 200 in codes
    assert not Path(want_write_marker(str(path))).exists()
