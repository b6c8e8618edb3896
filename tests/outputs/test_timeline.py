"""The Hayabusa-style CSV timeline: one row per evidence event per alert, read from the case."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import evtx
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.outputs import timeline
from wormsign.outputs.findings import Findings
from wormsign.report.events import fetch_events
from wormsign.store import Case

HAYABUSA = ["Timestamp", "Computer", "Channel", "EventID", "Level", "RecordID", "RuleTitle", "Details"]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_one_row_per_evidence_event_per_alert(demo_case: Path, tmp_path: Path) -> None:
    out = tmp_path / "timeline.csv"
    res = CliRunner().invoke(app, ["export", "--case", str(demo_case), "-f", "timeline", "-o", str(out)])
    assert res.exit_code == 0, res.output
    with out.open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header[:8] == HAYABUSA and header[8:] == ["Incident", "AlertID", "RuleID", "EvidenceRef"]
    rows = _read(out)
    with Case.open(str(demo_case), read_only=True) as case:
        f = Findings.load(case)
        refs = {r for a in f.alerts for r in a["evidence"]}
        known = fetch_events(case, refs)
    expected = sum(len({r for r in a["evidence"] if r in known}) for a in f.alerts)
    assert len(rows) == expected > 1000
    assert [r["Timestamp"] for r in rows] == sorted(r["Timestamp"] for r in rows)
    by_alert = {a["id"]: a for a in f.alerts}
    levels = {"low": "low", "medium": "med", "high": "high", "critical": "crit"}
    for r in rows[:: max(1, len(rows) // 200)]:
        ev = known[r["EvidenceRef"]]
        a = by_alert[r["AlertID"]]
        assert r["RuleTitle"] == a["title"] and r["Level"] == levels[a["severity"]]
        assert r["Channel"] == (ev.get("event.dataset") or "") and r["EventID"] == (ev.get("event.code") or "")
        assert r["Computer"] == (ev.get("host.name") or ev["host"])
        assert r["Timestamp"].startswith(ev["ts"][:10] + " " + ev["ts"][11:23])
        assert r["Timestamp"].endswith(" +00:00")
        inc = f.incident(a)
        assert r["Incident"] == (inc["id"] if inc else "")
        if ev["src.format"] == "ecs":  # Winlogbeat: the record id the document carries
            assert r["RecordID"] == str(json.loads(ev["raw"])["winlog"]["record_id"])
        else:  # Zeek: no record id
            assert r["RecordID"] == ""
    assert any(r["RecordID"] for r in rows)


def test_record_id_is_the_evtx_record_id(evtx_case: Path) -> None:
    with Case.open(str(evtx_case), read_only=True) as case:
        f = Findings.load(case)
        rows = timeline.rows(f, case)
        files = dict(case.rows("SELECT digest, file FROM sources"))
    assert rows
    for r in rows:
        digest, record = r["EvidenceRef"].split(":")
        assert r["RecordID"] == int(record)
        # the record id of that record as the evtx parser reads the file itself
        parser = evtx.PyEvtxParser(files[digest])
        rec = next(x for x in parser.records_json() if x["event_record_id"] == int(record))
        assert f"<EventID>{r['EventID']}</EventID>" in rec["data"].replace('"', "") or str(r["EventID"]) in rec["data"]
        assert r["Level"] in ("low", "med", "high", "crit") and r["Details"]



def test_record_id_of_a_winlogbeat_document_cut_to_size() -> None:
    cut = '{"@timestamp": "2026-03-02T09:00:00Z", "winlog": {"channel": "Security", "record_id": "1479887", '
    cut += '"event_data": {"CommandLine": "' + "A" * 500  # the raw record was cut: not JSON any more
    assert timeline.record_id({"src.format": "ecs", "raw": cut}) == 1479887
    assert timeline.record_id({"src.format": "ecs", "raw": '{"event": {"code": "4624"}}'}) == ""
    assert timeline.record_id({"src.format": "zeek", "src.record": 12, "raw": "{}"}) == ""
    assert timeline.record_id({"src.format": "evtx-json", "src.record": 12}) == 12
