"""Attacker-written names in the findings: exact in the JSON outputs, never a spreadsheet formula
or a terminal escape in the CSV timeline, never a forged field in syslog's structured data."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from syslog_rfc5424_parser import SyslogMessage

from wormsign.ingest.base import rows_to_table
from wormsign.outputs import ecs, timeline, timesketch
from wormsign.outputs.findings import Findings
from wormsign.outputs.forward import Item, defaults, syslog_message
from wormsign.store import Case

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DIGEST = "ef" * 32
EVIL_HOST = '=HYPERLINK("http://x","y")'
EVIL_USER = 'bob"] [forged@1 a="1'
EVIL_CMD = "cmd.exe /c \x1b]8;;http://x\x1b\\click\x1b]8;;\x1b\\\nsecond line"


def _case(path: Path) -> Case:
    row = {"ts": T0, "host": EVIL_HOST, "host.name": EVIL_HOST, "kind": "process", "event.code": "4688",
           "event.dataset": "Security", "src.file": "x.evtx", "src.record": 7, "src.digest": DIGEST,
           "src.format": "evtx", "raw": "{}", "user.name": EVIL_USER, "process.command_line": EVIL_CMD}
    case = Case.open(str(path))
    case.append_events(rows_to_table([row]))
    alert = {"id": "ALR-000001", "rule": "remote-exec", "title": "Remote execution", "severity": "high",
             "attack": ["T1569.002"], "ts": "2026-03-02T09:00:00.000000Z", "first_seen": "2026-03-02T09:00:00.000000Z",
             "last_seen": "2026-03-02T09:00:00.000000Z", "host": EVIL_HOST, "source_host": EVIL_HOST,
             "target_hosts": [EVIL_HOST], "summary": EVIL_CMD, "evidence": [f"{DIGEST}:7"],
             "fields": {"account": EVIL_USER}}
    inc = {"id": "INC-0001", "type": "lateral", "severity": "high", "title": EVIL_CMD,
           "first_seen": alert["ts"], "last_seen": alert["ts"], "hosts": [{"host": EVIL_HOST}],
           "alerts": ["ALR-000001"]}
    case.set_meta("hunt", {"format": "wormsign.incidents/1", "generated_at": alert["ts"], "case": str(path),
                           "incidents": [inc], "alerts": [alert]})
    return case


def test_timeline_cells_are_no_formula_and_no_escape(tmp_path: Path) -> None:
    with _case(tmp_path / "c") as case:
        n = timeline.write(Findings.load(case), case, tmp_path / "t.csv")
    assert n == 1
    with (tmp_path / "t.csv").open(encoding="utf-8", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["Computer"] == "'" + EVIL_HOST  # a spreadsheet shows it, never runs it
    assert "\x1b" not in row["Details"] and "\\x1b]8;;" in row["Details"] and "\n" not in row["Details"]
    assert f"User: {EVIL_USER}" in row["Details"] and row["RecordID"] == "7"


def test_json_outputs_keep_names_exact(tmp_path: Path) -> None:
    with _case(tmp_path / "c") as case:
        f = Findings.load(case)
        ((_, doc),) = list(ecs.documents(f))
        lines = list(timesketch.lines(f, case))
    assert doc["host"]["name"] == EVIL_HOST and doc["user"]["name"] == EVIL_USER and doc["message"] == EVIL_CMD
    ev = next(x for x in lines if x["data_type"] == "windows:evtx:record")
    assert ev["user_name"] == EVIL_USER and ev["process_command_line"] == EVIL_CMD
    assert json.loads(json.dumps(ev)) == ev


def test_syslog_structured_data_cannot_be_forged(tmp_path: Path) -> None:
    with _case(tmp_path / "c") as case:
        ((key, doc),) = list(ecs.documents(Findings.load(case)))
    raw = syslog_message(Item(key, "alert", "high", doc), defaults(), "sensor-1")
    assert b"\n" not in raw and b"\x1b" not in raw
    parsed = SyslogMessage.parse(raw.decode("utf-8")).as_dict()
    assert list(parsed["sd"]) == ["wormsign@32473"]  # no [forged@1 ...] element
    sd = parsed["sd"]["wormsign@32473"]
    assert sd["key"] == key and sd["host"].replace('\\"', '"') == EVIL_HOST
    assert parsed["severity"] == "err" and parsed["hostname"] == "sensor-1"
