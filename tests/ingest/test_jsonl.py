"""The JSON-lines reader: Winlogbeat, Elastic Agent, native ECS and OTRF fixtures, and EVTX parity."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from evtx import PyEvtxParser

from wormsign.ingest.base import Source
from wormsign.ingest.evtx import flatten_data
from wormsign.ingest import jsonl
from wormsign.ingest.jsonl import JsonLinesReader

Parse = Callable[..., Any]


def _event(rows: list[dict[str, Any]], i: int, path: Path) -> dict[str, Any]:
    ev = dict(rows[i])
    assert ev.pop("src.file") == str(path)
    assert len(ev.pop("src.digest")) == 64
    return ev


def test_winlogbeat_share_access_whole_event(parse: Parse, data: Path) -> None:
    path = data / "winlogbeat.ndjson"
    rows, stats, rejects, reader = parse(path)
    assert reader == "ecs"
    assert (stats.read, stats.stored, stats.rejected) == (4, 4, 0), rejects
    assert [r["kind"] for r in rows] == ["share", "auth", "generic", "auth"]
    ev = _event(rows, 0, path)
    raw = ev.pop("raw")
    assert json.loads(raw)["winlog"]["record_id"] == 437472
    assert ev == {
        "ts": datetime(2019, 3, 18, 14, 23, 22, 134722, tzinfo=UTC),
        "host": "pc01",
        "kind": "share",
        "src.record": 1,
        "src.format": "ecs",
        "event.code": "5145",
        "event.provider": "Microsoft-Windows-Security-Auditing",
        "event.dataset": "Security",
        "event.action": "share-object-access",
        "event.outcome": "success",
        "host.name": "PC01.example.corp",
        "host.ip": "10.0.2.17",
        "user.name": "Administrator",
        "user.domain": "EXAMPLE",
        "winlog.logon.id": "0xfc635",
        "source.ip": "10.0.2.15",
        "source.port": 55632,
        "share.name": "\\\\*\\C$",
        "share.path": "\\",
        "share.access_mask": "0x100080",
    }


def test_winlogbeat_failed_logon_and_lockout(parse: Parse, data: Path) -> None:
    rows, *_ = parse(data / "winlogbeat.ndjson")
    failed, lockout = rows[1], rows[3]
    assert (failed["event.action"], failed["event.outcome"]) == ("logon-failed", "failure")
    assert (failed["auth.status"], failed["auth.sub_status"]) == ("0xc000006d", "0xc000006a")
    assert (failed["user.name"], failed["source.ip"], failed["source.domain"]) == (
        "jdoe",
        "10.0.2.31",
        "WS-0031",
    )
    assert failed["winlog.logon.type"] == 3
    assert rows[2]["user.name"] == "Administrator"  # 1102 user_data unwrapped
    assert {k: lockout[k] for k in ("host", "event.code", "event.action", "user.name", "source.domain")} == {
        "host": "dc-01",
        "event.code": "4740",
        "event.action": "lockout",
        "user.name": "jdoe",
        "source.domain": "WS-0031",
    }


def test_elastic_agent_dotted_keys_whole_event(parse: Parse, data: Path) -> None:
    path = data / "elastic_agent.ndjson"
    rows, stats, _, _ = parse(path)
    assert (stats.read, stats.stored) == (1, 1)
    ev = _event(rows, 0, path)
    ev.pop("raw")
    assert ev == {
        "ts": datetime(2019, 3, 19, 9, 10, 11, 250000, tzinfo=UTC),
        "host": "ws-0012",
        "kind": "process",
        "src.record": 1,
        "src.format": "ecs",
        "event.id": "EA-7f3c9e21",
        "event.code": "1",
        "event.provider": "Microsoft-Windows-Sysmon",
        "event.dataset": "Microsoft-Windows-Sysmon/Operational",
        "event.action": "process-start",
        "event.outcome": "success",
        "host.name": "WS-0012.corp.example",
        "host.ip": "10.1.4.12",
        "user.name": "CORP\\jdoe",
        "winlog.logon.id": "0x998877",
        "process.pid": 4412,
        "process.entity_id": "{8a1c3e4f-b2d3-5c90-0000-0010a1b2c3d4}",
        "process.executable": "C:\\Windows\\System32\\cmd.exe",
        "process.name": "cmd.exe",
        "process.command_line": "cmd.exe /c \\\\ws-0031\\ADMIN$\\update.exe",
        "process.hash.sha256": "7b8e2f9a1c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7",
        "process.hash.md5": "6d9a2a2a0f1d5e4c3b2a19080706f5e4",
        "process.parent.pid": 3300,
        "process.parent.entity_id": "{8a1c3e4f-b2d3-5c90-0000-0010ffeeddcc}",
        "process.parent.executable": "C:\\Windows\\explorer.exe",
        "process.parent.command_line": "C:\\Windows\\Explorer.EXE",
    }


def test_native_ecs_whole_event_and_kinds(parse: Parse, data: Path) -> None:
    path = data / "ecs_native.ndjson"
    rows, stats, _, _ = parse(path)
    assert (stats.read, stats.stored, stats.rejected) == (5, 5, 0)
    assert [r["kind"] for r in rows] == ["process", "network", "file", "dns", "auth"]
    ev = _event(rows, 0, path)
    assert json.loads(ev.pop("raw"))["agent"]["type"] == "endpoint"
    assert ev == {
        "ts": datetime(2026, 3, 2, 9, 14, 7, 250000, tzinfo=UTC),
        "host": "ws-0042",
        "kind": "process",
        "src.record": 1,
        "src.format": "ecs",
        "event.id": "NfHq1mF2cd4a+x9m++++Aa1b",
        "event.provider": "endpoint",
        "event.dataset": "endpoint.events.process",
        "event.action": "start",
        "event.outcome": "success",
        "host.name": "ws-0042.corp.example",
        "host.ip": "10.1.4.42",
        "user.name": "jdoe",
        "user.domain": "CORP",
        "process.pid": 6120,
        "process.entity_id": "NzQ0Mi0yMDI2LTAzLTAyVDA5OjE0OjA3",
        "process.executable": "C:\\Users\\jdoe\\AppData\\Local\\Temp\\invoice.exe",
        "process.name": "invoice.exe",
        "process.command_line": '"C:\\Users\\jdoe\\AppData\\Local\\Temp\\invoice.exe" /s',
        "process.hash.sha256": "0f3c1e6b9d2a4c5e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f",
        "process.hash.md5": "9e107d9d372bb6826bd81d3542a419d6",
        "process.parent.pid": 4032,
        "process.parent.entity_id": "NzQ0Mi0yMDI2LTAzLTAyVDA5OjEwOjAw",
        "process.parent.executable": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "process.parent.command_line": '"WINWORD.EXE" /n invoice.docm',
    }
    net, fil, dns = rows[1], rows[2], rows[3]
    assert (net["destination.ip"], net["destination.port"], net["source.port"]) == (
        "203.0.113.7",
        8080,
        50211,
    )
    assert (fil["file.path"], fil["file.name"], fil["file.size"]) == (
        "C:\\Windows\\Temp\\qbot.dll",
        "qbot.dll",
        401408,
    )
    assert dns["dns.question.name"] == "c2.example.net"


def test_otrf_whole_event(parse: Parse, data: Path) -> None:
    path = data / "otrf.ndjson"
    rows, stats, _, _ = parse(path)
    assert (stats.read, stats.stored) == (2, 2)
    assert [r["src.format"] for r in rows] == ["otrf", "otrf"]
    ev = _event(rows, 0, path)
    ev.pop("raw")
    assert ev == {
        "ts": datetime(2025, 6, 14, 8, 41, 9, 402000, tzinfo=UTC),
        "host": "buildbox3",
        "kind": "process",
        "src.record": 1,
        "src.format": "otrf",
        "event.code": "1",
        "event.provider": "Microsoft-Windows-Sysmon",
        "event.dataset": "Microsoft-Windows-Sysmon/Operational",
        "event.action": "process-start",
        "event.outcome": "success",
        "host.name": "BUILDBOX3.lab.invalid",
        "user.name": "LAB\\svc-build",
        "winlog.logon.id": "0x4f8a21",
        "process.pid": 7340,
        "process.entity_id": "{6b1d0e93-3f2a-684d-5c01-000000001a00}",
        "process.executable": "C:\\Tools\\msbuild-agent\\agent.exe",
        "process.name": "agent.exe",
        "process.command_line": '"C:\\Tools\\msbuild-agent\\agent.exe" --queue nightly --poll 30',
        "process.hash.sha256": "4a1f0c9e7b3d2856a0e4c7b19f2d8e6053a1b7c4d9e0f2361b8a5c7d0e4f9a12",
        "process.hash.md5": "3e7a9c10d4b25f68a0c1e97b2d4f6081",
        "process.parent.pid": 1184,
        "process.parent.entity_id": "{6b1d0e93-2e11-684d-0d00-000000001a00}",
        "process.parent.executable": "C:\\Windows\\System32\\services.exe",
        "process.parent.command_line": "C:\\Windows\\system32\\services.exe",
    }
    logon = rows[1]
    assert (logon["kind"], logon["user.name"], logon["source.ip"], logon["winlog.logon.type"]) == (
        "auth",
        "svc-build",
        "10.44.7.23",
        3,
    )
    assert (logon["host"], logon["event.code"], logon["event.action"]) == ("authsrv1", "4624", "logon")


# -- the same event in EVTX and in Winlogbeat gives the same model fields ---------------

#: What only the carrier decides: where the record came from, and the original text.
CARRIER = {"raw", "src.file", "src.digest", "src.format", "src.record", "event.id", "host.ip"}


def _model(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in CARRIER}


def test_fixture_event_matches_its_evtx_record(corpus: Path, parse: Parse, data: Path) -> None:
    evtx_rows, *_ = parse(corpus / "Lateral Movement" / "LM_5145_Remote_FileCopy.evtx")
    wlb_rows, *_ = parse(data / "winlogbeat.ndjson")
    assert _model(wlb_rows[0]) == _model(evtx_rows[0])


def _as_winlogbeat(doc: dict[str, Any], n: int) -> dict[str, Any]:
    """A Winlogbeat document for one EVTX record, as Winlogbeat writes it (event_data values as text)."""
    system = doc["Event"]["System"]
    eid = system["EventID"]
    eid = eid["#text"] if isinstance(eid, dict) else eid
    data = {
        k: v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else json.dumps(v)
        for k, v in flatten_data(doc["Event"]).items()
        if v is not None and not isinstance(v, (dict, list))
    }
    return {
        "@timestamp": system["TimeCreated"]["#attributes"]["SystemTime"],
        "event": {"code": str(eid), "id": f"wlb-{n}"},
        "host": {"name": system["Computer"].lower()},
        "winlog": {
            "channel": system["Channel"],
            "event_id": eid,
            "computer_name": system["Computer"],
            "provider_name": system["Provider"]["#attributes"]["Name"],
            "record_id": system["EventRecordID"],
            "event_data": data,
        },
    }


@pytest.mark.parametrize(
    "rel",
    [
        "Lateral Movement/LM_5145_Remote_FileCopy.evtx",
        "Lateral Movement/LM_Remote_Service02_7045.evtx",
        "Credential Access/CA_4624_4625_LogonType2_LogonProc_chrome.evtx",
        "Lateral Movement/lm_remote_registry_sysmon_1_13_3.evtx",
        "Lateral Movement/remote_file_copy_system_proc_file_write_sysmon_11.evtx",
        "Execution/temp_scheduled_task_4698_4699.evtx",
    ],
)
def test_evtx_and_winlogbeat_layouts_map_alike(corpus: Path, parse: Parse, tmp_path: Path, rel: str) -> None:
    path = corpus / rel
    docs = [orjson.loads(r["data"]) for r in PyEvtxParser(str(path)).records_json()]
    out = tmp_path / "wlb.ndjson"
    out.write_bytes(b"\n".join(orjson.dumps(_as_winlogbeat(d, i)) for i, d in enumerate(docs)) + b"\n")
    evtx_rows, *_ = parse(path)
    wlb_rows, stats, _, reader = parse(out)
    assert reader == "ecs" and stats.stored == len(evtx_rows) == len(docs)
    for a, b in zip(evtx_rows, wlb_rows, strict=True):
        assert _model(b) == _model(a)
    assert [r["event.id"] for r in wlb_rows] == [f"wlb-{i}" for i in range(len(docs))]


# -- layouts and containers ------------------------------------------------------------


def test_array_file_es_export_and_mixed_layouts(parse: Parse, data: Path, tmp_path: Path) -> None:
    lines = (data / "winlogbeat.ndjson").read_bytes().splitlines()
    docs = [orjson.loads(x) for x in lines]
    arr = tmp_path / "array.json"
    arr.write_bytes(orjson.dumps(docs, option=orjson.OPT_INDENT_2))
    rows, stats, _, _ = parse(arr)
    assert stats.stored == 4 and [r["src.record"] for r in rows] == [1, 2, 3, 4]
    export = tmp_path / "export.json"
    export.write_bytes(
        orjson.dumps(
            {
                "took": 3,
                "hits": {
                    "total": 4,
                    "hits": [
                        {"_index": "winlogbeat-7", "_id": str(i), "_source": d} for i, d in enumerate(docs)
                    ],
                },
            }
        )
    )
    rows2, stats2, _, _ = parse(export)
    assert stats2.stored == 4 and _model(rows2[0]) == _model(rows[0])
    mixed = tmp_path / "mixed.ndjson"
    mixed.write_bytes(
        lines[0]
        + b"\n"
        + (data / "otrf.ndjson").read_bytes().splitlines()[1]
        + b"\n"
        + (data / "ecs_native.ndjson").read_bytes().splitlines()[2]
        + b"\n"
    )
    rows3, stats3, _, _ = parse(mixed)
    assert [r["src.format"] for r in rows3] == ["ecs", "otrf", "ecs"]
    assert [r["kind"] for r in rows3] == ["share", "auth", "file"]


def test_array_written_one_element_a_line_survives_a_broken_element(
    parse: Parse, data: Path, tmp_path: Path
) -> None:
    lines = (data / "winlogbeat.ndjson").read_bytes().splitlines()
    path = tmp_path / "arr.json"
    path.write_bytes(b"[\n" + lines[0] + b",\n" + lines[1][:50] + b",\n" + lines[2] + b"\n]\n")
    rows, stats, rejects, _ = parse(path)
    assert (stats.read, stats.stored, stats.rejected) == (3, 2, 1)
    assert rejects[0].record == 3 and rejects[0].reason == "bad-json"
    assert [r["src.record"] for r in rows] == [2, 4]


def test_does_not_claim_zeek_json_or_text() -> None:
    r = JsonLinesReader()
    src = Source("x", "x")
    zeek = b'{"ts":1591367999.305988,"uid":"CMdzit1AMNsmfAIiQc","id.orig_h":"192.168.4.76"}\n'
    assert not r.sniff(zeek, src)
    assert not r.sniff(b"#separator \\x09\n#fields\tts\tuid\n", src)
    assert not r.sniff(b"3,A.B@NORTHWIND,R.TANAKA@NORTHWIND,KIOSK-14,KIOSK-14,Negotiate,Batch,LogOn,Success\n", src)
    assert r.sniff(b'\xef\xbb\xbf{"@timestamp": "2020-01-01T00:00:00Z", "winlog": {}}\n', src)
    assert r.sniff(b'[{"EventID": 4624', src)


def test_otrf_record_with_non_text_system_fields_is_kept(parse: Parse, data: Path, tmp_path: Path) -> None:
    """Found by the fuzz long run: an OTRF record whose Channel is a number or whose SourceName is
    a bool aborted the whole ingest ('rows do not fit the event model'); such a value is no value."""
    lines = (data / "otrf.ndjson").read_bytes().splitlines()
    docs = [orjson.loads(x) for x in lines]
    odd = {**docs[1], "Channel": 0, "SourceName": True, "RecordNumber": 7}
    out = tmp_path / "odd.ndjson"
    out.write_bytes(b"\n".join(orjson.dumps(d) for d in [*docs, odd]) + b"\n")
    rows, stats, _, reader = parse(out)
    assert (stats.read, stats.stored, stats.rejected) == (3, 3, 0) and rows[2]["src.format"] == "otrf"
    assert [r["kind"] for r in rows[:2]] == ["process", "auth"]  # the others are whole
    assert (rows[2].get("event.dataset"), rows[2].get("event.provider"), rows[2]["host"]) == (None, None, "authsrv1")


def test_winlogbeat_event_ids_written_as_text(parse: Parse, data: Path, tmp_path: Path) -> None:
    """An event id written as text is read as the number (leading zeros, hex, blanks; not a number:
    none), and the texts read are remembered as they come, not all 65,536 built at every start."""
    doc = orjson.loads((data / "winlogbeat.ndjson").read_bytes().splitlines()[0])
    texts = ["4624", "04624", "0x1210", " 4624 ", "4624", "not a number"]
    path = tmp_path / "eids.ndjson"
    docs = [{**doc, "winlog": {**doc["winlog"], "event_id": t, "record_id": i}} for i, t in enumerate(texts)]
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in docs) + b"\n")
    rows, stats, _, _ = parse(path)
    assert stats.stored == 6
    assert [r.get("event.code") for r in rows] == ["4624"] * 5 + [None]
    assert jsonl._EIDS.get("04624") == 4624 and "4623" not in jsonl._EIDS
