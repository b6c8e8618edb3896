"""Hand-written truth and incidents documents with known scores (shared by the eval tests)."""

from __future__ import annotations

from typing import Any

TRUTH: dict[str, Any] = {
    "format": "wormsign.truth/1",
    "scenario": "emotet", "seed": 7, "hosts": 100, "days": 2,
    "start": "2026-03-02T08:00:00Z", "end": "2026-03-04T08:00:00Z",
    "domain": "corp.example",
    "patient_zero": "ws-0001",
    "infections": [
        {"host": "ws-0001", "time": "2026-03-02T10:00:00Z", "infector": None, "technique": "phishing"},
        {"host": "ws-0002", "time": "2026-03-02T10:30:00Z", "infector": "ws-0001"},
        {"host": "ws-0003", "time": "2026-03-02T10:40:00Z", "infector": "ws-0001"},
        {"host": "ws-0004", "time": "2026-03-02T11:00:00Z", "infector": "ws-0002"},
        {"host": "ws-0005", "time": "2026-03-02T11:10:00Z", "infector": "ws-0003"},
    ],
    "attack_event_ids": [],
    "lockouts": [
        {"account": "jdoe", "time": "2026-03-02T10:20:00Z", "source_host": "ws-0001", "dc": "dc-01"},
        {"account": "asmith", "time": "2026-03-02T10:50:00Z", "source_host": "ws-0002", "dc": "dc-01"},
    ],
    "c2": {"emotet": ["203.0.113.7:8080"]},
    "deliveries": [],
    "attacked": ["ws-0050"],
}


def _host(name: str, infector: str | None, at: str | None, state: str = "infected") -> dict[str, Any]:
    return {"host": name, "state": state, "infected_at": at, "infector": infector, "generation": 0,
            "technique": None, "families": ["emotet"], "hashes": []}


def perfect_incidents() -> dict[str, Any]:
    """What a perfect hunt of TRUTH writes (host names as FQDN / upper case on purpose)."""
    hosts = [_host(i["host"] if n % 2 else i["host"].upper() + ".corp.example", i["infector"], i["time"])
             for n, i in enumerate(TRUTH["infections"])]
    hosts.append(_host("ws-0050", None, None, state="attacked"))
    return {
        "format": "wormsign.incidents/1",
        "generator": "test", "generated_at": "2026-03-05T00:00:00Z", "case": "case.duckdb",
        "incidents": [{
            "id": "INC-0001", "type": "outbreak", "title": "emotet outbreak", "severity": "critical",
            "first_seen": "2026-03-02T10:00:00Z", "last_seen": "2026-03-02T11:10:00Z",
            "first_alert": "2026-03-02T10:35:00Z", "patient_zero": "ws-0001",
            "hosts": hosts, "edges": [], "generations": [],
            "accounts": {"compromised": [], "locked": [
                {"account": "CORP\\JDoe", "ts": "2026-03-02T10:20:30Z", "source_host": "ws-0001",
                 "dc": "dc-01", "ref": "x:1"},
                {"account": "asmith@corp.example", "ts": "2026-03-02T10:49:00Z",
                 "source_host": "WS-0002.corp.example", "dc": "dc-01", "ref": "x:2"},
            ]},
            "alerts": ["ALR-000001"],
        }],
    }
