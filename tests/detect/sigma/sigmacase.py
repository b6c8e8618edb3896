"""Build tiny real cases (a DuckDB file) of Windows events for the Sigma tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wormsign.ingest.base import rows_to_table
from wormsign.store import Case

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHANNELS = {"security": "Security", "system": "System", "sysmon": "Microsoft-Windows-Sysmon/Operational"}


def event(
    n: int, channel: str, code: int, data: dict[str, Any], *, at: timedelta, host: str = "ws-01", **cols: Any
) -> dict[str, Any]:
    """One row of the event model with an EVTX-shaped raw record holding ``data`` as EventData."""
    ch = CHANNELS[channel]
    raw = {
        "Event": {
            "System": {"EventID": code, "Channel": ch, "Computer": f"{host}.corp.example"},
            "EventData": data,
        }
    }
    row = {
        "ts": T0 + at,
        "host": host,
        "kind": cols.pop("kind", "generic"),
        "src.file": "tiny.evtx",
        "src.record": n,
        "src.digest": "d" * 64,
        "src.format": "evtx",
        "raw": json.dumps(raw),
        "event.code": str(code),
        "event.dataset": ch,
        "event.provider": "Microsoft-Windows-Security-Auditing",
        "host.name": f"{host}.corp.example",
    }
    row.update(cols)
    return row


def make_case(path: Path, rows: list[dict[str, Any]]) -> Case:
    case = Case.open(str(path))
    case.append_events(rows_to_table(rows))
    return case


def write_rules(folder: Path, text: str, name: str = "rules.yml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p
