"""The EVTX reader on real attack recordings from the shared corpus: counts and one whole event each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# (file, event.code, which of the events with that code, records, kinds, the whole expected event)
CASES: list[tuple[str, str, int, int, dict[str, int], dict[str, Any]]] = [
    (
        "Lateral Movement/LM_5145_Remote_FileCopy.evtx",
        "5145",
        2,
        869,
        {"share": 869},
        {
            "ts": datetime(2019, 3, 18, 14, 23, 22, 264909, tzinfo=UTC),
            "host": "pc01",
            "kind": "share",
            "src.record": 3,
            "src.format": "evtx",
            "event.code": "5145",
            "event.provider": "Microsoft-Windows-Security-Auditing",
            "event.dataset": "Security",
            "event.action": "share-object-access",
            "event.outcome": "success",
            "host.name": "PC01.example.corp",
            "user.name": "Administrator",
            "user.domain": "EXAMPLE",
            "winlog.logon.id": "0xfc635",
            "source.ip": "10.0.2.15",
            "source.port": 55632,
            "file.path": "C:\\desktop.ini",
            "file.name": "desktop.ini",
            "share.name": "\\\\*\\C$",
            "share.path": "desktop.ini",
            "share.access_mask": "0x120089",
        },
    ),
    (
        "Lateral Movement/LM_Remote_Service02_7045.evtx",
        "7045",
        0,
        3,
        {"service": 3},
        {
            "ts": datetime(2019, 3, 3, 9, 20, 28, 621489, tzinfo=UTC),
            "host": "win-77ltaphiq1r",
            "kind": "service",
            "src.record": 1,
            "src.format": "evtx",
            "event.code": "7045",
            "event.provider": "Service Control Manager",
            "event.dataset": "System",
            "event.action": "service-installed",
            "event.outcome": "success",
            "host.name": "WIN-77LTAPHIQ1R.example.corp",
            "user.name": "LocalSystem",
            "service.name": "spoolfool",
            "service.image": "cmd.exe",
            "service.start_type": "auto start",
        },
    ),
    (
        "Credential Access/CA_4624_4625_LogonType2_LogonProc_chrome.evtx",
        "4625",
        0,
        4,
        {"auth": 4},
        {
            "ts": datetime(2020, 9, 9, 13, 18, 23, 627952, tzinfo=UTC),
            "host": "msedgewin10",
            "kind": "auth",
            "src.record": 1,
            "src.format": "evtx",
            "event.code": "4625",
            "event.provider": "Microsoft-Windows-Security-Auditing",
            "event.dataset": "Security",
            "event.action": "logon-failed",
            "event.outcome": "failure",
            "host.name": "MSEDGEWIN10",
            "user.name": "IEUser",
            "user.domain": "MSEDGEWIN10",
            "winlog.logon.type": 2,
            "winlog.logon.id": "0x79e59",
            "auth.status": "0xc000006d",
            "auth.sub_status": "0xc000006a",
            "auth.package": "Negotiate",
            "source.domain": "MSEDGEWIN10",
            "process.pid": 4952,
            "process.executable": "C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe",
            "process.name": "chrome.exe",
        },
    ),
    (
        "Execution/exec_sysmon_1_rundll32_pcwutl_LaunchApplication.evtx",
        "1",
        0,
        1,
        {"process": 1},
        {
            "ts": datetime(2019, 5, 12, 17, 9, 2, 275164, tzinfo=UTC),
            "host": "iewin7",
            "kind": "process",
            "src.record": 1,
            "src.format": "evtx",
            "event.code": "1",
            "event.provider": "Microsoft-Windows-Sysmon",
            "event.dataset": "Microsoft-Windows-Sysmon/Operational",
            "event.action": "process-start",
            "event.outcome": "success",
            "host.name": "IEWIN7",
            "user.name": "IEWIN7\\IEUser",
            "process.pid": 1528,
            "process.entity_id": "365ABB72-532E-5CD8-0000-00106C222700",
            "process.executable": "C:\\Windows\\System32\\rundll32.exe",
            "process.name": "rundll32.exe",
            "process.command_line": '"C:\\Windows\\System32\\rundll32.exe"  '
            "pcwutl.dll,LaunchApplication c:\\Windows\\system32\\calc.exe",
            "process.hash.sha256": "3fa4912eb43fc304652d7b01f118589259861e2d628fa7c86193e54d5f987670",
            "process.hash.md5": "c648901695e275c8f2ad04b687a68ce2",
            "process.parent.pid": 3788,
            "process.parent.entity_id": "365ABB72-516B-5CD8-0000-001087E41600",
            "process.parent.executable": "C:\\Windows\\System32\\cmd.exe",
            "process.parent.command_line": '"C:\\Windows\\system32\\cmd.exe" ',
        },
    ),
    (
        "Lateral Movement/lm_remote_registry_sysmon_1_13_3.evtx",
        "3",
        0,
        4,
        {"generic": 2, "network": 1, "process": 1},
        {
            "ts": datetime(2020, 12, 4, 22, 41, 5, 471967, tzinfo=UTC),
            "host": "msedgewin10",
            "kind": "network",
            "src.record": 4,
            "src.format": "evtx",
            "event.code": "3",
            "event.provider": "Microsoft-Windows-Sysmon",
            "event.dataset": "Microsoft-Windows-Sysmon/Operational",
            "event.action": "connection",
            "event.outcome": "success",
            "host.name": "MSEDGEWIN10",
            "source.ip": "10.0.2.17",
            "source.port": 49792,
            "source.domain": "MSEDGEWIN10CLON",
            "destination.ip": "10.0.2.15",
            "destination.port": 445,
            "destination.domain": "MSEDGEWIN10",
            "network.transport": "tcp",
            "process.pid": 4,
            "process.entity_id": "747F3D96-33FC-5FCB-0000-0010EB030000",
            "process.executable": "<unknown process>",
            "process.name": "<unknown process>",
        },
    ),
    (
        "Lateral Movement/remote_file_copy_system_proc_file_write_sysmon_11.evtx",
        "11",
        0,
        2,
        {"process": 1, "file": 1},
        {
            "ts": datetime(2020, 8, 27, 11, 40, 56, 397086, tzinfo=UTC),
            "host": "04246w-win10",
            "kind": "file",
            "src.record": 1,
            "src.format": "evtx",
            "event.code": "11",
            "event.provider": "Microsoft-Windows-Sysmon",
            "event.dataset": "Microsoft-Windows-Sysmon/Operational",
            "event.action": "file-create",
            "event.outcome": "success",
            "host.name": "04246w-win10.threebeesco.com",
            "process.pid": 4,
            "process.entity_id": "B5CF5917-721E-5F46-0000-0010EB030000",
            "process.executable": "System",
            "process.name": "System",
            "file.path": "C:\\Windows\\PSEXESVC.exe",
            "file.name": "PSEXESVC.exe",
        },
    ),
    (
        "Execution/temp_scheduled_task_4698_4699.evtx",
        "4698",
        0,
        2,
        {"task": 2},
        {
            "ts": datetime(2019, 3, 19, 0, 2, 4, 319945, tzinfo=UTC),
            "host": "win-77ltaphiq1r",
            "kind": "task",
            "src.record": 1,
            "src.format": "evtx",
            "event.code": "4698",
            "event.provider": "Microsoft-Windows-Security-Auditing",
            "event.dataset": "Security",
            "event.action": "task-created",
            "event.outcome": "success",
            "host.name": "WIN-77LTAPHIQ1R.example.corp",
            "user.name": "Administrator",
            "user.domain": "EXAMPLE",
            "winlog.logon.id": "0x17e2d2",
            "task.name": "\\CYAlyNSS",
            "task.command": "cmd.exe /C tasklist > %windir%\\Temp\\CYAlyNSS.tmp 2>&1",
        },
    ),
]


@pytest.mark.parametrize(
    ("rel", "code", "nth", "records", "kinds", "expected"), CASES, ids=[c[0].rsplit("/", 1)[1] for c in CASES]
)
def test_reader_gives_the_whole_expected_event(
    corpus: Path,
    parse: Callable[..., Any],
    rel: str,
    code: str,
    nth: int,
    records: int,
    kinds: dict[str, int],
    expected: dict[str, Any],
) -> None:
    path = corpus / rel
    rows, stats, rejects, reader = parse(path)
    assert reader == "evtx"
    assert (stats.read, stats.stored, stats.rejected) == (records, records, 0), rejects
    assert Counter(r["kind"] for r in rows) == Counter(kinds)
    assert dict(stats.kinds) == kinds
    ev = dict([r for r in rows if r.get("event.code") == code][nth])
    raw = ev.pop("raw")
    assert ev.pop("src.file") == str(path)
    assert len(ev.pop("src.digest")) == 64
    assert ev == expected
    assert '"EventID"' in raw and expected["host.name"] in raw


def test_every_row_has_host_time_and_source_pointer(corpus: Path, parse: Callable[..., Any]) -> None:
    rows, stats, _, _ = parse(corpus / "Lateral Movement" / "LM_5145_Remote_FileCopy.evtx")
    assert stats.read == len(rows) == 869
    assert all(r["host"] and r["ts"].tzinfo is not None and r["src.record"] >= 1 for r in rows)
    assert len({r["src.record"] for r in rows}) == 869  # the key of an event is unique in its file
    written = [r for r in rows if r.get("share.access_mask") and int(r["share.access_mask"], 16) & 0x2]
    assert written, "a remote file copy writes through the share"
