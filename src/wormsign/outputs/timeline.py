"""A Hayabusa-style CSV timeline of the events behind the findings, for Timeline Explorer and
spreadsheets: one row per evidence event per alert, read back from the case.

Columns: ``Timestamp, Computer, Channel, EventID, Level, RecordID, RuleTitle, Details`` as
Hayabusa writes them (``Timestamp`` as ``2026-03-02 09:22:11.173 +00:00``, ``Level`` ``low``,
``med``, ``high``, ``crit``, ``Details`` as ``Key: value ¦ Key: value`` from the fields listed in
settings.yaml), then wormsign's ``Incident``, ``AlertID``, ``RuleID`` and ``EvidenceRef`` (the
event's key in the case). ``RecordID`` is the EVTX record id: ``src.record`` of an EVTX or
``evtx_dump`` record, ``winlog.record_id`` of a Winlogbeat document; empty for other lines (a
Zeek or ECS line's record number is its line). Rows are in time order. Every cell is attacker-written
text made safe for a spreadsheet (:func:`wormsign.text.csv_cell`).
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from wormsign.outputs.findings import Findings, level, settings
from wormsign.report.events import fetch_events
from wormsign.text import csv_cell

COLUMNS = ("Timestamp", "Computer", "Channel", "EventID", "Level", "RecordID", "RuleTitle", "Details",
           "Incident", "AlertID", "RuleID", "EvidenceRef")
#: Readers whose ``src.record`` is the EVTX record id.
RECORD_ID_FORMATS = ("evtx", "evtx-json")
_WINLOG_RECORD = re.compile(r'"record_id"\s*:\s*"?(\d{1,20})"?')


def record_id(ev: dict[str, Any]) -> int | str:
    """The EVTX record id of an event, or "" when its source does not say."""
    if ev.get("src.format") in RECORD_ID_FORMATS:
        return int(ev["src.record"])
    raw = ev.get("raw")
    if ev.get("src.format") != "ecs" or not isinstance(raw, str) or '"winlog"' not in raw:
        return ""
    try:
        rid = (json.loads(raw).get("winlog") or {}).get("record_id")
        return int(rid) if rid is not None and str(rid).isdigit() else ""
    except (ValueError, AttributeError):  # the raw record was cut to size: find the field
        m = _WINLOG_RECORD.search(raw[raw.index('"winlog"'):])
        return int(m.group(1)) if m else ""


def hayabusa_time(iso_time: str | None) -> str:
    """``2026-03-02T09:22:11.173000Z`` as Hayabusa writes it: ``2026-03-02 09:22:11.173 +00:00``."""
    if not iso_time:
        return ""
    t = datetime.fromisoformat(str(iso_time).replace("Z", "+00:00"))
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d} +00:00"


def details(ev: dict[str, Any]) -> str:
    """The Details cell: the event's listed fields as ``Label: value``, joined with `` ¦ ``."""
    parts = [f"{label}: {ev[name]}" for name, label in settings()["timeline_details"]
             if ev.get(name) not in (None, "")]
    text = " ¦ ".join(parts) or "-"
    most = int(settings()["timeline_details_max"])
    return text if len(text) <= most else text[: most - 1] + "…"


def rows(findings: Findings, case: Any) -> list[dict[str, Any]]:
    """Every row: each evidence event of each alert, in time order (then alert, then reference)."""
    refs = {r for a in findings.alerts for r in a.get("evidence") or [] if isinstance(r, str)}
    events = fetch_events(case, refs, max_raw=65536) if refs else {}
    levels = settings()["timeline_level"]
    out = []
    for a in findings.alerts:
        inc = findings.incident(a)
        rule = str(a.get("rule") or "")
        for ref in dict.fromkeys(r for r in a.get("evidence") or [] if isinstance(r, str)):
            ev = events.get(ref)
            if ev is None:
                continue
            out.append({
                "Timestamp": hayabusa_time(ev.get("ts")),
                "Computer": ev.get("host.name") or ev.get("host") or "",
                "Channel": ev.get("event.dataset") or "",
                "EventID": ev.get("event.code") or "",
                "Level": levels[level(a.get("severity"))],
                "RecordID": record_id(ev),
                "RuleTitle": a.get("title") or rule,
                "Details": details(ev),
                "Incident": inc.get("id") if inc else "",
                "AlertID": a.get("id") or "",
                "RuleID": rule,
                "EvidenceRef": ref,
                "_ts": ev.get("ts") or "",
            })
    out.sort(key=lambda r: (r["_ts"], str(r["AlertID"]), r["EvidenceRef"]))
    for r in out:
        del r["_ts"]
    return out


def write(findings: Findings, case: Any, path: str | Path) -> int:
    """Write the CSV timeline to ``path``; return the number of rows."""
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        for r in rows(findings, case):
            w.writerow({k: csv_cell(v) if isinstance(v, str) else v for k, v in r.items()})
            n += 1
    return n
