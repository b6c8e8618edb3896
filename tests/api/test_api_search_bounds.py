"""Bounded event search (issue 17, defect 9): a concurrency gate (429), a time limit (504), a count
limit, and free text in the short columns unless the original records are asked for."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from outbreak_fixture import build

from wormsign.api import create_app, load_or_create


def _client(tmp_path: Path, **bounds: float) -> TestClient:
    path = tmp_path / "outbreak.duckdb"
    if not path.exists():
        build(path)
    token, _ = load_or_create(path)
    c = TestClient(create_app(path, token, **bounds))  # type: ignore[arg-type]
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def test_excess_searches_get_429(tmp_path: Path) -> None:
    client = _client(tmp_path, searches=2, search_queue=0.0)
    gate = client.app.state.searches  # type: ignore[attr-defined]
    assert gate.acquire(blocking=False) and gate.acquire(blocking=False)  # two searches in flight
    try:
        r = client.get("/api/events", params={"q": "payload.exe"})
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert client.get("/api/incidents").status_code == 200  # only searches are gated
    finally:
        gate.release()
    assert client.get("/api/events", params={"q": "payload.exe"}).json()["total"] == 8
    gate.release()


def test_search_past_its_time_limit_gets_504(tmp_path: Path) -> None:
    r = _client(tmp_path, search_timeout=0.0).get("/api/events", params={"q": "payload.exe"})
    assert r.status_code == 504 and "limit of 0 s" in r.json()["detail"]
    assert _client(tmp_path).get("/api/events", params={"q": "payload.exe"}).status_code == 200


def test_count_is_bounded(tmp_path: Path) -> None:
    page = _client(tmp_path, search_count_max=5).get("/api/events", params={"limit": 2}).json()
    assert page["total"] == 5 and page["total_exact"] is False and len(page["events"]) == 2
    page = _client(tmp_path).get("/api/events", params={"limit": 2}).json()
    assert page["total"] == 41 and page["total_exact"] is True


def test_raw_is_searched_only_when_asked(tmp_path: Path) -> None:
    client = _client(tmp_path)
    with_raw = client.get("/api/events", params={"q": "{", "raw": "true"}).json()["total"]
    assert with_raw == 41  # every original record is JSON
    assert client.get("/api/events", params={"q": "{"}).json()["total"] < with_raw
