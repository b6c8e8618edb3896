"""Timesketch JSONL: the hunt's incidents and alerts, and the events behind them, one JSON object
a line with the three fields Timesketch requires (``message``, ``datetime``, ``timestamp_desc``)
and ``timestamp`` (microseconds), so that ``timesketch_importer`` or the web upload takes the file
as it is.

- an incident: ``data_type`` ``wormsign:incident``, at its first evidence;
- an alert: ``wormsign:alert``, at its time, with its rule, ATT&CK techniques, hosts, incident;
- an evidence event: ``wormsign:event`` (``windows:evtx:record`` for a Windows event), at the
  event's time, with its host, channel, event id, record and the alerts and incidents citing it.

Values are flat (strings, numbers, lists of strings), as Timesketch indexes them; every value
stays exact (JSON escapes control characters).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wormsign.outputs.findings import Findings, alert_key, epoch_us, incident_key, level, settings
from wormsign.report.events import fetch_events

#: Event fields copied onto an evidence line (as their names with dots made underscores).
EVENT_FIELDS = ("host", "host.name", "kind", "event.code", "event.dataset", "event.provider", "event.action",
                "event.outcome", "user.name", "user.domain", "source.ip", "source.host", "destination.ip",
                "destination.host", "destination.port", "process.executable", "process.command_line",
                "process.parent.executable", "service.name", "service.image", "task.name", "share.name",
                "share.path", "file.path", "file.hash.sha256", "src.file", "src.record", "src.format")
_WINDOWS = ("evtx", "evtx-json", "ecs", "otrf")


def _line(message: str, when: str | None, desc: str, **fields: Any) -> dict[str, Any] | None:
    us = epoch_us(when)
    if us is None:
        return None
    return {"message": message, "datetime": when, "timestamp": us, "timestamp_desc": desc,
            **{k: v for k, v in fields.items() if v not in (None, "", [])}}


def lines(findings: Findings, case: Any, *, events: bool = True) -> Iterator[dict[str, Any]]:
    """Every line of the JSONL: incidents, alerts, then (``events``) the evidence events."""
    conf = settings()["timesketch"]
    for inc in findings.incidents:
        ln = _line(
            f"[{level(inc.get('severity'))}] {inc.get('title') or inc.get('type')}",
            inc.get("first_seen"), conf["incident_desc"],
            data_type="wormsign:incident", tag=["wormsign", "incident", level(inc.get("severity"))],
            incident_id=inc.get("id"), incident_key=incident_key(inc), incident_type=inc.get("type"),
            severity=level(inc.get("severity")), last_seen=inc.get("last_seen"),
            patient_zero=inc.get("patient_zero"),
            hosts=[str(h.get("host")) for h in inc.get("hosts") or [] if isinstance(h, dict)][:500],
        )
        if ln:
            yield ln
    cited: dict[str, tuple[list[str], list[str]]] = {}
    for a in findings.alerts:
        inc = findings.incident(a)
        evidence = [r for r in a.get("evidence") or [] if isinstance(r, str)]
        for r in evidence:
            al, incs = cited.setdefault(r, ([], []))
            al.append(str(a.get("id")))
            if inc is not None and inc.get("id") not in incs:
                incs.append(str(inc.get("id")))
        ln = _line(
            f"[{level(a.get('severity'))}] {a.get('title') or a.get('rule')}: {a.get('summary') or ''}".rstrip(": "),
            a.get("ts") or a.get("first_seen"), conf["alert_desc"],
            data_type="wormsign:alert", tag=["wormsign", "alert", level(a.get("severity"))],
            alert_id=a.get("id"), alert_key=alert_key(a), rule=a.get("rule"), rule_title=a.get("title"),
            severity=level(a.get("severity")),
            attack=[t for t in a.get("attack") or [] if isinstance(t, str)],
            host=a.get("host"), source_host=a.get("source_host"),
            target_hosts=[t for t in a.get("target_hosts") or [] if isinstance(t, str)][:500],
            last_seen=a.get("last_seen"), evidence=evidence[:100],
            incident_id=inc.get("id") if inc else None, incident_type=inc.get("type") if inc else None,
        )
        if ln:
            yield ln
    if not events or not cited:
        return
    for ref, ev in fetch_events(case, list(cited), max_raw=0).items():
        al, incs = cited[ref]
        windows = ev.get("src.format") in _WINDOWS and ev.get("event.dataset")
        extra = {k.replace(".", "_"): ev.get(k) for k in EVENT_FIELDS}
        what = " ".join(str(x) for x in (ev.get("event.dataset"), ev.get("event.code"), ev.get("event.action"))
                        if x)
        ln = _line(
            f"{ev.get('host')}: {what}" + (f" {ev.get('message')}" if ev.get("message") else ""),
            ev.get("ts"), conf["event_desc"],
            data_type="windows:evtx:record" if windows else "wormsign:event",
            tag=["wormsign", "evidence"], ref=ref, alert_ids=al[:100], incident_ids=incs, **extra,
        )
        if ln:
            yield ln


def write(findings: Findings, case: Any, path: str | Path, *, events: bool = True) -> int:
    """Write the JSONL to ``path``; return the number of lines."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for ln in lines(findings, case, events=events):
            fh.write(json.dumps(ln, ensure_ascii=False) + "\n")
            n += 1
    return n
