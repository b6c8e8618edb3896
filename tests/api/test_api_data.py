"""The API over a real case: incidents, graph, alerts, hosts, events search, evidence, error codes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from outbreak_fixture import DIGEST, HOSTILE_HOST, HOSTILE_USER


def test_cases_and_incidents(client: TestClient) -> None:
    [case] = client.get("/api/cases").json()
    assert case["id"] == "outbreak.duckdb" and case["events"] == 41
    assert client.get("/api/cases/outbreak.duckdb").json()["hunt"] is True
    assert client.get("/api/cases/other.duckdb").status_code == 404
    incs = client.get("/api/incidents").json()
    assert incs["total"] == 2
    assert incs["incidents"][0] == {
        "id": "INC-0001",
        "type": "outbreak",
        "title": "emotet outbreak from ws-0001",
        "severity": "critical",
        "first_seen": "2026-03-02T09:00:00Z",
        "last_seen": "2026-03-02T10:00:00Z",
        "patient_zero": "ws-0001",
        "hosts": 6,
        "edges": 4,
    }


def test_incident_graph_and_404(served: tuple[TestClient, str, dict[str, Any]], client: TestClient) -> None:
    doc = served[2]
    assert client.get("/api/incidents/INC-0001").json() == doc["incidents"][0]
    g = client.get("/api/incidents/INC-0001/graph").json()
    assert len(g["nodes"]) == 6 and len(g["edges"]) == 4
    assert HOSTILE_HOST in {n["host"] for n in g["nodes"]}
    r = client.get("/api/incidents/INC-9999")
    assert r.status_code == 404 and r.json()["detail"] == "no such incident"
    assert client.get("/api/incidents/INC-9999/graph").status_code == 404


def test_alerts_filters(client: TestClient) -> None:
    assert client.get("/api/alerts").json()["total"] == 1
    assert (
        client.get("/api/alerts", params={"rule": "spreader-fanout", "host": "ws-0001"}).json()["total"] == 1
    )
    assert client.get("/api/alerts", params={"rule": "beacon"}).json()["total"] == 0
    assert client.get("/api/alerts", params={"rule": "x' OR '1'='1"}).json()["total"] == 0
    assert client.get("/api/alerts", params={"offset": 1}).json()["alerts"] == []
    assert client.get("/api/alerts/ALR-000001").json()["evidence"] == [f"{DIGEST}:2", f"{DIGEST}:4"]
    assert client.get("/api/alerts/ALR-404").status_code == 404


def test_hosts(client: TestClient) -> None:
    hosts = client.get("/api/hosts", params={"limit": 3}).json()
    assert hosts["total"] == 10 and len(hosts["hosts"]) == 3
    assert hosts["hosts"][0]["host"] < hosts["hosts"][1]["host"]
    assert client.get("/api/hosts", params={"q": "ws-001"}).json()["total"] == 3  # ws-0010..12
    one = client.get("/api/hosts/ws-0001").json()
    assert one["kinds"] == {"process": 1} and one["incidents"][0]["generation"] == 0
    assert client.get("/api/hosts/ws-7777").status_code == 404


def test_events_pagination_is_complete_and_disjoint(client: TestClient) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        page = client.get("/api/events", params={"limit": 7, "offset": offset}).json()
        assert page["total"] == 41 and page["limit"] == 7
        seen += [e["ref"] for e in page["events"]]
        if len(page["events"]) < 7:
            break
        offset += 7
    assert len(seen) == 41 == len(set(seen))
    assert "raw" not in page["events"][0]


def test_events_filters(client: TestClient) -> None:
    def total(**params: Any) -> int:
        r = client.get("/api/events", params=params)
        assert r.status_code == 200, r.text
        return int(r.json()["total"])

    assert total(host="ws-0010") == 10
    assert total(kind="service") == 4
    assert total(code="5145") == 4
    assert total(user=HOSTILE_USER) == 2  # the 4740 lockout and the initial process
    assert total(user="SVC-ADMIN") == 4
    assert total(since="2026-03-02T09:40:00Z", until="2026-03-02T09:50:00Z") == 1  # the 7045 at 09:40
    assert total(since="2026-03-02T09:40:00", until="2026-03-02T09:50:00") == 1  # no zone: UTC
    assert total(since="2026-03-02T10:40:00+01:00", until="2026-03-02T10:50:00+01:00") == 1
    assert total(q="payload.exe") == 8
    assert total(q="100%") == 0 and total(q="' OR 1=1 --") == 0  # bound, not SQL
    assert total(q="__pwned") == 4  # the initial process, the lockout, two events on the hostile host
    assert total(kind="share", host="ws-0002") == 1


def test_bad_parameters_are_422(client: TestClient) -> None:
    for params in (
        {"limit": 0},
        {"limit": 100000},
        {"offset": -1},
        {"kind": "bogus"},
        {"since": "yesterday"},
        {"q": "x" * 500},
    ):
        assert client.get("/api/events", params=params).status_code == 422, params
    assert client.get("/api/alerts", params={"limit": "ten"}).status_code == 422


def test_event_and_evidence_by_reference(client: TestClient) -> None:
    ev = client.get(f"/api/events/{DIGEST}:1").json()
    assert ev["user.name"] == HOSTILE_USER and '"Note"' in ev["raw"]
    assert client.get(f"/api/events/{DIGEST}:999").status_code == 404
    assert client.get("/api/events/not-a-ref").status_code == 422
    r = client.get(
        "/api/evidence", params=[("ref", f"{DIGEST}:2"), ("ref", f"{DIGEST}:3"), ("ref", f"{DIGEST}:999")]
    )
    body = r.json()
    assert set(body["events"]) == {f"{DIGEST}:2", f"{DIGEST}:3"} and body["missing"] == [f"{DIGEST}:999"]
    assert client.get("/api/evidence", params={"ref": "x y"}).status_code == 422
    assert (
        client.get("/api/evidence", params=[("ref", f"{DIGEST}:{i}") for i in range(201)]).status_code == 422
    )
    assert client.get("/api/evidence").status_code == 422


def test_view_is_the_report_data_without_evidence(client: TestClient) -> None:
    v = client.get("/api/view").json()
    assert v["format"] == "wormsign.view/1" and "evidence" not in v
    assert len(v["incidents"]) == 2 and v["alerts"][0]["id"] == "ALR-000001"
