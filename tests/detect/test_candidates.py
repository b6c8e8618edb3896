"""The hunt's one pass over events (h_ev) and the implicated hosts' activity (h_act)."""

from __future__ import annotations

import re
from pathlib import Path

from huntrows import copy_exec, ev, ip, make_case

from wormsign import hunt
from wormsign.detect import access, candidates, config, prep, propagation
from wormsign.detect.rules import LATE, load_rules
from wormsign.schema import FIELD_NAMES


def _read(sql: str) -> set[str]:
    return set(re.findall(r'"([a-z_]+(?:\.[a-z0-9_]+)+)"', sql)) & set(FIELD_NAMES)


def test_h_ev_carries_every_column_the_working_tables_and_rules_read() -> None:
    carried = set(candidates.columns())
    assert set(hunt.COLUMNS) == carried and carried <= set(FIELD_NAMES)
    working = [prep.DROPS, prep.EXECS, prep.SMB, prep.LOGONS, prep.AUTHFAIL, prep.LOCKOUTS, prep.IMPLICATED,
               access.CHAIN] + [r.sql for r in load_rules()]
    for sql in working:
        assert _read(sql) <= carried, _read(sql) - carried


def test_one_pass_keeps_the_evidence_and_leaves_the_noise(tmp_path: Path) -> None:
    rows = copy_exec(0, "ws-01", "ws-02", "a.exe")  # a 5145 admin-share write, a 7045 install
    rows += [
        ev(1, "ws-02", "process", "1", **{"process.executable": "C:\\x\\a.exe",
           "process.parent.executable": "C:\\Windows\\System32\\services.exe"}),
        ev(2, "ws-03", "auth", "4625", **{"event.outcome": "failure", "user.name": "bob", "source.ip": ip("ws-04")}),
        ev(3, "ws-03", "auth", "4624", **{"winlog.logon.type": 3, "user.name": "bob", "source.ip": ip("ws-04")}),
        ev(4, "ws-03", "network", "3", **{"destination.port": 445, "source.ip": ip("ws-03"),
           "destination.ip": ip("ws-05")}),
        # noise: a local logon, a web connection, a user's program, a DNS query
        ev(5, "ws-03", "auth", "4624", **{"winlog.logon.type": 2, "user.name": "bob"}),
        ev(6, "ws-03", "network", "3", **{"destination.port": 443, "destination.ip": "203.0.113.9"}),
        ev(7, "ws-03", "process", "1", **{"process.executable": "C:\\x\\notepad.exe",
           "process.parent.executable": "C:\\Windows\\explorer.exe"}),
        ev(8, "ws-03", "dns", "22", **{"dns.question.name": "example.org"}),
    ]
    with make_case(tmp_path / "c.duckdb", rows) as case:
        prep.prepare(case, config.load())
        got = case.rows('SELECT kind, "event.code", "winlog.logon.type", "destination.port" FROM h_ev ORDER BY ts')
        # a branch carries its own columns only: a process row has no share or logon fields
        proc = case.rows('SELECT "process.parent.executable", "share.name", "winlog.logon.type" FROM h_ev '
                         "WHERE kind = 'process'")
    assert got == [("share", "5145", None, None), ("service", "7045", None, None), ("process", "1", None, None),
                   ("auth", "4625", None, None), ("auth", "4624", 3, None), ("network", "3", None, 445)]
    assert proc == [("C:\\Windows\\System32\\services.exe", None, None)]


def test_activity_is_read_for_implicated_hosts_only(tmp_path: Path) -> None:
    rows = [ev(i, h, "network", "3", **{"destination.ip": "203.0.113.9", "destination.port": 443})
            for i, h in enumerate(["ws-01", "ws-02", "ws-03"])]
    # ws-03: a program (not the kernel) wrote an executable, as a loader does
    rows.append(ev(9, "ws-03", "file", "11", **{"process.executable": "C:\\u\\ldr.exe", "file.path": "C:\\u\\p.exe"}))
    cfg = config.load()
    with make_case(tmp_path / "c.duckdb", rows) as case:
        prep.prepare(case, cfg)
        propagation.build_edges(case, cfg)
        assert prep.implicate(case, cfg, {"ws-01"}) == 2
        assert case.rows("SELECT DISTINCT host FROM h_act ORDER BY host") == [("ws-01",), ("ws-03",)]
    assert set(LATE) == {"beacon", "loader-payload"}
