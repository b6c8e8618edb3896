"""Helpers and fixtures for the intel tests: the sample feeds and a small constructed case with known families.

A module of its own, not a conftest.py: test folders share the module name ``conftest``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wormsign.ingest.base import rows_to_table
from wormsign.intel.importer import import_file
from wormsign.intel.store import IntelStore
from wormsign.store import Case

DATA = Path(__file__).resolve().parents[1] / "data" / "intel"
EMOTET = "a" * 64
QAKBOT = "b" * 64
T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)


def event(host: str, minute: float, kind: str, record: int, **cols: Any) -> dict[str, Any]:
    """One event-model row; the source digest is per host, so references read ``<digest>:<record>``."""
    row = {
        "ts": T0 + timedelta(minutes=minute),
        "host": host,
        "kind": kind,
        "src.file": f"{host}.evtx",
        "src.record": record,
        "src.digest": f"{host:0<64}"[:64],
        "src.format": "test",
    }
    row.update(cols)
    return row


def ref(host: str, record: int) -> str:
    return f"{host:0<64}"[:64] + f":{record}"


def known_rows() -> list[dict[str, Any]]:
    """ws-01: Emotet runs, talks to its C2, writes and starts Qakbot; ws-02: Emotet only;
    ws-03: clean; ws-04: resolves a Qakbot C2 name."""
    emo = r"C:\Users\bob\AppData\Local\Temp\emo.exe"
    qak = r"C:\ProgramData\qbot\qb.exe"
    return [
        event(
            "ws-01",
            0,
            "process",
            1,
            **{
                "process.entity_id": "{E1}",
                "process.executable": emo,
                "process.hash.sha256": EMOTET.upper(),
                "process.parent.entity_id": "{W1}",
            },
        ),
        event(
            "ws-01",
            1,
            "network",
            2,
            **{"process.entity_id": "{E1}", "destination.ip": "203.0.113.10", "destination.port": 8080},
        ),
        event("ws-01", 10, "file", 3, **{"process.entity_id": "{E1}", "file.path": qak}),
        event(
            "ws-01",
            11,
            "process",
            4,
            **{
                "process.entity_id": "{Q1}",
                "process.executable": qak.upper(),
                "process.hash.sha256": QAKBOT,
                "process.parent.entity_id": "{E1}",
            },
        ),
        event(
            "ws-01",
            12,
            "network",
            5,
            **{"process.entity_id": "{Q1}", "destination.ip": "198.51.100.21", "destination.port": 2222},
        ),
        event(
            "ws-02",
            30,
            "process",
            1,
            **{"process.entity_id": "{E2}", "process.executable": emo, "process.hash.sha256": EMOTET},
        ),
        event(
            "ws-02",
            31,
            "network",
            2,
            **{"process.entity_id": "{E2}", "destination.ip": "203.0.113.11", "destination.port": 443},
        ),
        event("ws-03", 5, "network", 1, **{"destination.ip": "8.8.8.8", "destination.port": 53}),
        event(
            "ws-03",
            6,
            "process",
            2,
            **{"process.entity_id": "{C3}", "process.executable": qak, "process.hash.sha256": "c" * 64},
        ),
        event(
            "ws-04",
            40,
            "dns",
            1,
            **{
                "dns.question.name": "Beacon.QAK-C2.example.net.",
                "dns.answers": "type:  5 cdn.example.net;::ffff:198.51.100.20;10.0.0.1;",
            },  # Sysmon 22 layout
        ),
    ]


def sample_store(path: Path) -> IntelStore:
    """A store with the sample Feodo CSV and JSON feeds and the hash list (bad rows left out)."""
    s = IntelStore.open(str(path / "intel.duckdb"))
    for name in ("feodo_ipblocklist.csv", "feodo_ipblocklist.json", "hashes.txt"):
        import_file(str(DATA / name), s)
    return s


def known_case_at(path: Path) -> Case:
    """A case file holding :func:`known_rows`."""
    c = Case.open(str(path / "case.duckdb"))
    c.append_events(rows_to_table(known_rows()))
    return c
