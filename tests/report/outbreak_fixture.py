"""A small real outbreak case: DuckDB events, an alerts table and a hunt result (docs/formats.md).

Five hosts infected in four hops from ws-0001, one host under attack, one account locked
out. One infected host name, the locked user, a command line and a raw record carry
hostile payloads: the report and dashboard must show them as text and never run them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wormsign.ingest.base import rows_to_table
from wormsign.store import Case

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DIGEST = "ab" * 32
HOSTILE_HOST = '"><img src=x onerror="window.__pwned=1">'
HOSTILE_USER = "<script>window.__pwned=2</script>"
HOSTILE_CMD = "javascript:window.__pwned=3//</script><!--\u2028 " + "A" * 5000
HOSTILE_RAW_MARK = "</script><script>window.__pwned=4</script>"
INFECTED = ["ws-0001", "ws-0002", "ws-0003", "ws-0004", HOSTILE_HOST]
ATTACKED = "ws-0009"
# (infector, target, minutes after T0)
SPREAD = [
    ("ws-0001", "ws-0002", 10),
    ("ws-0001", "ws-0003", 20),
    ("ws-0002", "ws-0004", 40),
    ("ws-0003", HOSTILE_HOST, 60),
]


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _event(rec: int, t: datetime, host: str, kind: str, code: str, **fields: Any) -> dict[str, Any]:
    raw = {"EventID": code, "Computer": host, **{k.split(".")[-1]: v for k, v in fields.items()}}
    if rec == 1:
        raw["Note"] = HOSTILE_RAW_MARK
    row = {
        "ts": t,
        "host": host,
        "kind": kind,
        "event.code": code,
        "src.file": "fixture.evtx",
        "src.record": rec,
        "src.digest": DIGEST,
        "src.format": "evtx",
        "raw": json.dumps(raw),
        **fields,
    }
    return row


def build(path: Path) -> dict[str, Any]:
    """Write the case at ``path``; return the hunt document saved in it."""
    rows: list[dict[str, Any]] = []
    rows.append(
        _event(
            1,
            T0,
            "ws-0001",
            "process",
            "1",
            **{"process.name": "winword.exe", "process.command_line": HOSTILE_CMD, "user.name": HOSTILE_USER},
        )
    )
    edges = []
    rec = 2
    for src, dst, minutes in SPREAD:
        t = T0 + timedelta(minutes=minutes)
        share = _event(
            rec,
            t - timedelta(seconds=30),
            dst,
            "share",
            "5145",
            **{
                "share.name": "\\\\*\\ADMIN$",
                "share.path": "payload.exe",
                "source.host": src,
                "user.name": "svc-admin",
            },
        )
        svc = _event(
            rec + 1,
            t,
            dst,
            "service",
            "7045",
            **{"service.name": f"svc-{rec}", "service.image": "C:\\Windows\\payload.exe", "source.host": src},
        )
        rows += [share, svc]
        edges.append(
            {
                "source": src,
                "target": dst,
                "ts": iso(t),
                "techniques": ["T1021.002", "T1570", "T1569.002"],
                "method": "admin-share-copy",
                "file": {"name": "payload.exe", "path": "C:\\Windows\\payload.exe", "sha256": "cd" * 32},
                "account": "svc-admin",
                "evidence": [f"{DIGEST}:{rec}", f"{DIGEST}:{rec + 1}"],
                "alerts": ["ALR-000001"],
            }
        )
        rec += 2
    lock_t = T0 + timedelta(minutes=50)
    rows.append(
        _event(rec, lock_t, "dc-01", "auth", "4740", **{"user.name": HOSTILE_USER, "source.host": "ws-0004"})
    )
    lock_ref = f"{DIGEST}:{rec}"
    rows.append(
        _event(rec + 1, lock_t, ATTACKED, "auth", "4625", **{"user.name": "admin", "source.host": "ws-0004"})
    )
    for i in range(30):  # benign background, for search and pagination
        rows.append(
            _event(
                100 + i,
                T0 + timedelta(minutes=i),
                f"ws-00{10 + i % 3}",
                "network",
                "3",
                **{"destination.ip": "10.0.0.5", "destination.port": 445},
            )
        )
    with Case.open(str(path)) as case:
        case.append_events(rows_to_table(rows))
        infected_at = {"ws-0001": T0}
        infected_at.update({d: T0 + timedelta(minutes=m) for _, d, m in SPREAD})
        infector = {d: s for s, d, _ in SPREAD}
        gen = {"ws-0001": 0}
        for s, d, _ in SPREAD:
            gen[d] = gen[s] + 1
        hosts = [
            {
                "host": h,
                "state": "infected",
                "infected_at": iso(infected_at[h]),
                "infector": infector.get(h),
                "generation": gen[h],
                "technique": "phishing" if h == "ws-0001" else "admin-share-copy+service",
                "families": ["emotet"],
                "hashes": ["cd" * 32],
            }
            for h in INFECTED
        ]
        hosts.append(
            {
                "host": ATTACKED,
                "state": "attacked",
                "infected_at": None,
                "infector": None,
                "generation": None,
                "technique": None,
                "families": [],
                "hashes": [],
            }
        )
        alert = {
            "id": "ALR-000001",
            "rule": "spreader-fanout",
            "title": "ws-0001 copied payload.exe to 2 hosts",
            "severity": "high",
            "attack": ["T1570", "T1021.002"],
            "ts": iso(T0 + timedelta(minutes=20)),
            "first_seen": iso(T0),
            "last_seen": iso(T0 + timedelta(minutes=60)),
            "host": "ws-0001",
            "source_host": "ws-0001",
            "target_hosts": ["ws-0002", "ws-0003"],
            "summary": "same file, many hosts",
            "evidence": [f"{DIGEST}:2", f"{DIGEST}:4"],
            "fields": {"count": 2},
        }
        incident = {
            "id": "INC-0001",
            "type": "outbreak",
            "title": "emotet outbreak from ws-0001",
            "severity": "critical",
            "first_seen": iso(T0),
            "last_seen": iso(T0 + timedelta(minutes=60)),
            "first_alert": iso(T0 + timedelta(minutes=20)),
            "patient_zero": "ws-0001",
            "initial_access": [
                {
                    "ts": iso(T0),
                    "host": "ws-0001",
                    "process": "winword.exe",
                    "parent": "outlook.exe",
                    "command_line": HOSTILE_CMD,
                    "ref": f"{DIGEST}:1",
                }
            ],
            "hosts": hosts,
            "edges": edges,
            "generations": [["ws-0001"], ["ws-0002", "ws-0003"], ["ws-0004", HOSTILE_HOST]],
            "spread_rate_per_hour": 4.0,
            "r_estimate": 1.33,
            "under_attack": [ATTACKED],
            "accounts": {
                "compromised": ["svc-admin"],
                "locked": [
                    {
                        "account": HOSTILE_USER,
                        "ts": iso(lock_t),
                        "source_host": "ws-0004",
                        "dc": "dc-01",
                        "ref": lock_ref,
                    }
                ],
            },
            "families": [{"family": "emotet", "hosts": INFECTED, "c2": ["203.0.113.7:8080"]}],
            "deliveries": [],
            "c2": [
                {"address": "203.0.113.7", "port": 8080, "family": "emotet", "hosts": ["ws-0001", "ws-0002"]}
            ],
            "containment": [
                {
                    "host": "ws-0001",
                    "rank": 1,
                    "reason": "patient zero, 2 direct infections",
                    "downstream": 4,
                },
                {"host": "ws-0003", "rank": 2, "reason": "infected " + HOSTILE_HOST, "downstream": 1},
            ],
            "actions": {
                "isolate": ["ws-0001", "ws-0003"],
                "reset_credentials": ["svc-admin"],
                "mfa": [HOSTILE_USER],
                "block": ["203.0.113.7"],
            },
            "alerts": ["ALR-000001"],
        }
        brute = {
            "id": "INC-0002",
            "type": "bruteforce",
            "title": "failed logons on ws-0009",
            "severity": "medium",
            "first_seen": iso(lock_t),
            "last_seen": iso(lock_t),
            "first_alert": iso(lock_t),
            "patient_zero": None,
            "initial_access": [],
            "hosts": [hosts[-1]],
            "edges": [],
            "generations": [],
            "spread_rate_per_hour": 0,
            "r_estimate": 0,
            "under_attack": [ATTACKED],
            "accounts": {"compromised": [], "locked": []},
            "families": [],
            "deliveries": [],
            "c2": [],
            "containment": [],
            "actions": {},
            "alerts": [],
        }
        doc = {
            "format": "wormsign.incidents/1",
            "generator": "wormsign 0.1.0",
            "generated_at": iso(T0 + timedelta(hours=2)),
            "case": path.name,
            "incidents": [incident, brute],
        }
        case.set_meta("hunt", doc)
        case.engine.execute(
            "CREATE TABLE IF NOT EXISTS alerts (id VARCHAR, rule VARCHAR, severity VARCHAR, "
            "ts TIMESTAMPTZ, host VARCHAR, doc VARCHAR)"
        )
        case.engine.execute(
            "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?)",
            [
                alert["id"],
                alert["rule"],
                alert["severity"],
                T0 + timedelta(minutes=20),
                alert["host"],
                json.dumps(alert),
            ],
        )
    return doc
