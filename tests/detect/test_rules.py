"""Each hunt detection on a small constructed case: it fires on the pattern, not on the benign look-alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from huntrows import copy_exec, ev, ip, make_case

from wormsign.detect import config, working
from wormsign.detect.rules import SEVERITIES, load_rules, run_rules
from wormsign.schema import FIELD_NAMES


def alerts(tmp_path: Path, rows: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    cfg = config.load()
    # Every host logs something of its own, with its address (how addresses resolve to hosts).
    hosts = [f"ws-{n:02d}" for n in range(1, 60)] + ["dc-01"]
    rows = rows + [ev(-60, h, "generic", "0") for h in hosts]
    with make_case(tmp_path / "c.duckdb", rows) as case:
        working.prepare(case, cfg)
        return [a for a in run_rules(case, cfg) if a["rule"] == rule]


def test_rules_are_complete_and_name_real_columns() -> None:
    rules = load_rules()
    assert {r.id for r in rules} >= {"spreader-fanout", "remote-exec", "bruteforce", "spray", "lockout-storm",
                                     "smb-exploit-spread", "loader-payload", "beacon", "admin-share-copy"}
    for r in rules:
        assert r.severity in SEVERITIES and r.attack and all(t.startswith("T") for t in r.attack)
        for col in __import__("re").findall(r'e?\."([a-z_.]+)"', r.sql):
            assert col in FIELD_NAMES, f"{r.path}: unknown column {col}"


def share(minutes: float, src: str, dst: str, name: str, mask: str) -> dict[str, Any]:
    return ev(minutes, dst, "share", "5145", **{"source.ip": ip(src), "share.name": "\\\\*\\ADMIN$",
              "share.path": name, "share.access_mask": mask, "user.name": "bob"})


def test_admin_share_copy_needs_a_write(tmp_path: Path) -> None:
    got = alerts(tmp_path, [share(0, "ws-01", "ws-02", "x.exe", "0x2"), share(5, "ws-01", "ws-03", "y.exe", "0x120089")],
                 "admin-share-copy")
    assert [(a["host"], a["source_host"], a["fields"]["file"]) for a in got] == [("ws-02", "ws-01", "x.exe")]
    assert got[0]["evidence"] and got[0]["attack"] == ["T1570", "T1021.002"]


def test_remote_exec_links_copy_and_service_even_when_renamed(tmp_path: Path) -> None:
    rows = copy_exec(0, "ws-01", "ws-02", "a.exe", "other.exe")
    rows += [ev(0, "ws-03", "service", "7045", **{"service.name": "upd", "service.image": "C:\\x\\upd.exe"})]
    got = alerts(tmp_path, rows, "remote-exec")
    assert [(a["host"], a["source_host"], a["fields"]["method"]) for a in got] == [("ws-02", "ws-01", "service")]
    assert len(got[0]["evidence"]) == 2


def test_spreader_fanout_counts_targets(tmp_path: Path) -> None:
    rows = [share(i, "ws-01", f"ws-{i + 2:02d}", f"r{i}.exe", "0x2") for i in range(3)]
    rows += [share(i, "ws-09", f"ws-{i + 2:02d}", "two.exe", "0x2") for i in range(2)]
    got = alerts(tmp_path, rows, "spreader-fanout")
    assert [(a["host"], a["target_hosts"]) for a in got] == [("ws-01", ["ws-02", "ws-03", "ws-04"])]


def fail(minutes: float, src: str, dst: str, user: str) -> dict[str, Any]:
    return ev(minutes, dst, "auth", "4625", **{"source.ip": ip(src), "user.name": user, "event.outcome": "failure",
              "winlog.logon.type": 3})


def test_bruteforce_and_success_after(tmp_path: Path) -> None:
    rows = [fail(i * 0.1, "ws-01", "ws-02", "admin") for i in range(12)]
    rows += [fail(i, "ws-05", "ws-02", "carol") for i in range(3)]  # a user mistyping: no alert
    rows.append(ev(2, "ws-02", "auth", "4624", **{"source.ip": ip("ws-01"), "user.name": "admin",
                "event.outcome": "success", "winlog.logon.type": 3}))
    got = alerts(tmp_path, rows, "bruteforce")
    assert [(a["source_host"], a["fields"]["account"], a["fields"]["success"]) for a in got] == [("ws-01", "admin", True)]


def test_bruteforce_counts_each_failure_once_however_many_successes_follow(tmp_path: Path) -> None:
    rows = [fail(i * 0.1, "ws-01", "ws-02", "admin") for i in range(12)]
    rows += [ev(2 + i * 0.1, "ws-02", "auth", "4624", **{"source.ip": ip("ws-01"), "user.name": "admin",
             "event.outcome": "success", "winlog.logon.type": 3}) for i in range(3)]
    (got,) = alerts(tmp_path, rows, "bruteforce")
    assert got["fields"]["count"] == 12
    # the 12 failures, then the first success after them (the one that proves the password found)
    assert len(got["evidence"]) == len(set(got["evidence"])) == 13


def test_spray_counts_accounts(tmp_path: Path) -> None:
    rows = [fail(i * 0.2, "ws-01", "dc-01", f"user{i}") for i in range(6)]
    rows += [fail(i * 0.2, "ws-04", "dc-01", f"u{i % 2}") for i in range(8)]
    got = alerts(tmp_path, rows, "spray")
    assert [(a["source_host"], a["fields"]["count"]) for a in got] == [("ws-01", 6)]


def test_lockout_storm_names_the_caller(tmp_path: Path) -> None:
    rows = [ev(i, "dc-01", "auth", "4740", **{"user.name": f"u{i}", "source.domain": "WS-07"}) for i in range(3)]
    rows.append(ev(1, "dc-01", "auth", "4740", **{"user.name": "solo", "source.domain": "WS-08"}))
    got = alerts(tmp_path, rows, "lockout-storm")
    assert [(a["host"], a["fields"]["count"], a["target_hosts"]) for a in got] == [("ws-07", 3, ["dc-01"])]


def smb(minutes: float, src: str, dst: str) -> dict[str, Any]:
    return ev(minutes, src, "network", "3", **{"source.ip": ip(src), "destination.ip": ip(dst),
              "destination.port": 445, "network.transport": "tcp"})


def svc(minutes: float, host: str, image: str) -> dict[str, Any]:
    return ev(minutes, host, "service", "7045", **{"service.name": "mssecsvc2.0", "service.image": image})


def test_smb_exploit_spread_needs_no_logon(tmp_path: Path) -> None:
    rows = [smb(0, "ws-01", "ws-02"), svc(1, "ws-02", "C:\\Windows\\mssecsvc.exe -m security")]
    rows += [smb(0, "ws-01", "ws-03"), svc(1.5, "ws-03", "C:\\Windows\\other.exe"),
             ev(0.5, "ws-03", "auth", "4624", **{"source.ip": ip("ws-01"), "user.name": "x", "winlog.logon.type": 3})]
    got = alerts(tmp_path, rows, "smb-exploit-spread")
    assert [(a["host"], a["target_hosts"]) for a in got] == [("ws-01", ["ws-02"])]


def test_beacon_is_periodic(tmp_path: Path) -> None:
    periodic = [ev(i * 5, "ws-01", "network", "3", **{"source.ip": ip("ws-01"), "destination.ip": "203.0.113.7",
                   "destination.port": 8080}) for i in range(10)]
    ragged = [ev(m, "ws-02", "network", "3", **{"source.ip": ip("ws-02"), "destination.ip": "198.51.100.9",
                 "destination.port": 443}) for m in (0, 1, 30, 31, 90, 200, 201, 400, 402, 700)]
    internal = [ev(i * 5, "ws-03", "network", "3", **{"source.ip": ip("ws-03"), "destination.ip": "10.0.8.1",
                   "destination.port": 389}) for i in range(10)]
    # Only implicated hosts are tested: here each of the three had a program write an executable.
    drops = [ev(0, h, "file", "11", **{"process.executable": "C:\\Users\\a\\dl.exe", "file.path": "C:\\Temp\\x.exe"})
             for h in ("ws-01", "ws-02", "ws-03")]
    # ws-04 polls just as regularly, but nothing implicates it.
    quiet = [ev(i * 5, "ws-04", "network", "3", **{"source.ip": ip("ws-04"), "destination.ip": "203.0.113.8",
                "destination.port": 8080}) for i in range(10)]
    got = alerts(tmp_path, periodic + ragged + internal + drops + quiet, "beacon")
    assert [(a["host"], a["fields"]["address"], a["fields"]["port"], a["fields"]["interval_s"]) for a in got] == [
        ("ws-01", "203.0.113.7", 8080, 300)]
    # Without the drop on ws-01 it is not implicated either.
    (tmp_path / "b").mkdir()
    assert alerts(tmp_path / "b", periodic + ragged + internal + drops[1:] + quiet, "beacon") == []


def test_loader_payload_needs_new_hash_and_new_infrastructure(tmp_path: Path) -> None:
    loader, payload = "C:\\Users\\a\\AppData\\Local\\x\\ldr.exe", "C:\\Users\\a\\AppData\\Roaming\\q\\pay.exe"

    def proc(m: float, img: str, sha: str) -> dict[str, Any]:
        return ev(m, "ws-01", "process", "1", **{"process.executable": img, "process.hash.sha256": sha})

    def net(m: float, img: str, dst: str) -> dict[str, Any]:
        return ev(m, "ws-01", "network", "3", **{"process.executable": img, "source.ip": ip("ws-01"),
                  "destination.ip": dst, "destination.port": 443})

    rows = [proc(0, loader, "a" * 64), net(1, loader, "45.1.1.1"),
            ev(5, "ws-01", "file", "11", **{"process.executable": loader, "file.path": payload}),
            proc(6, payload, "b" * 64), net(7, payload, "24.2.2.2")]
    got = alerts(tmp_path, rows, "loader-payload")
    assert [(a["fields"]["writer"], a["fields"]["payload"], a["fields"]["c2"]) for a in got] == [
        (loader.lower(), payload.lower(), ["24.2.2.2"])]
    # The same chain where the payload talks to the loader's own servers is an update, not a delivery.
    rows[-1] = net(7, payload, "45.1.1.1")
    (tmp_path / "b").mkdir()
    assert alerts(tmp_path / "b", rows, "loader-payload") == []


def inbound(minutes: float, src: str, dst: str, port: int = 445) -> dict[str, Any]:
    """A connection the target logged (Sysmon 3, not initiated by it) from another host."""
    return ev(minutes, dst, "network", "3", **{"source.ip": ip(src), "source.port": 50123, "destination.ip": ip(dst),
                                               "destination.port": port, "network.direction": "inbound"})


def netlogon(minutes: float, src: str, dst: str, lid: str = "0x5a1") -> dict[str, Any]:
    return ev(minutes, dst, "auth", "4624", **{"winlog.logon.type": 3, "user.name": "adm", "source.ip": ip(src),
                                               "winlog.logon.id": lid})


@pytest.mark.parametrize("code", ["4698", "4702"])
def test_remote_task_is_the_one_set_in_an_inbound_logon(tmp_path: Path, code: str) -> None:
    """A task registered in the session of a network logon from ws-01 is remote, and names ws-01
    and the logon; one registered in a local session is not, even right after such a logon."""
    task = {"task.name": "\\upd", "task.command": "C:\\Windows\\Temp\\x.exe"}
    rows = [netlogon(0, "ws-01", "ws-02"), ev(1, "ws-02", "task", code, **task, **{"winlog.logon.id": "0x5a1"}),
            netlogon(10, "ws-01", "ws-03"), ev(11, "ws-03", "task", code, **task, **{"winlog.logon.id": "0x3e7"}),
            ev(20, "ws-04", "task", code, **task)]
    got = alerts(tmp_path, rows, "remote-task")
    assert [(a["host"], a["source_host"], a["fields"]["account"]) for a in got] == [("ws-02", "ws-01", "adm")]
    assert len(got[0]["evidence"]) == 2  # the logon it rode on, and the task


def test_smb_exploit_spread_on_the_wire_alone(tmp_path: Path) -> None:
    """Zeek only: ws-01 scans, sends a payload-sized SMB session to ws-02, which then scans on."""

    def conn(minutes: float, src: str, dst: str, size: int = 0) -> dict[str, Any]:
        row = ev(minutes, src, "network", "conn", **{"source.ip": ip(src), "destination.ip": ip(dst),
                 "destination.port": 445, "network.bytes": size})
        row["src.format"] = "zeek"
        return row

    rows = [conn(i * 0.05, "ws-01", f"ws-{n:02d}") for i, n in enumerate(range(20, 32))]
    rows.append(conn(1, "ws-01", "ws-02", 80_000))
    rows += [conn(2 + i * 0.05, "ws-02", f"ws-{n:02d}") for i, n in enumerate(range(40, 52))]
    # a scanner that only probes (no payload) makes no spread
    rows += [conn(30 + i * 0.05, "ws-03", f"ws-{n:02d}") for i, n in enumerate(range(20, 32))]
    got = alerts(tmp_path, rows, "smb-exploit-spread")
    assert [(a["host"], a["target_hosts"]) for a in got] == [("ws-01", ["ws-02"])]


def test_smb_exploit_spread_after_an_admins_earlier_session(tmp_path: Path) -> None:
    """The simulator's WannaCry, 40 hosts, seed 8: adm-01 ran PsExec on pdq-01, then was infected
    and exploited it 40 minutes later. The admin's session does not make the later one an admin's:
    a logon counts against an exploit only in its own session (ws-03's logon in it still does)."""
    rows = copy_exec(0, "ws-01", "ws-02", "PSEXESVC.exe") + [netlogon(0, "ws-01", "ws-02")]
    rows += [inbound(40, "ws-01", "ws-02"), svc(40.4, "ws-02", "C:\\Windows\\mssecsvc.exe -m security")]
    rows += [netlogon(0, "ws-01", "ws-03"), inbound(40, "ws-01", "ws-03"), netlogon(40.01, "ws-01", "ws-03"),
             svc(40.4, "ws-03", "C:\\Windows\\other.exe")]
    got = alerts(tmp_path, rows, "smb-exploit-spread")
    assert [(a["host"], a["target_hosts"]) for a in got] == [("ws-01", ["ws-02"])]


def test_remote_service_learns_routine_service_programs(tmp_path: Path) -> None:
    """A program the service control manager starts on many hosts, day after day, is routine;
    a new one is reported, and an install of the routine program still is."""
    scm = "C:\\Windows\\System32\\services.exe"
    agent = "C:\\Program Files\\Vendor\\agent.exe"

    def child(minutes: float, host: str, image: str) -> dict[str, Any]:
        return ev(minutes, host, "process", "1", **{"process.executable": image, "process.parent.executable": scm})

    # every start comes right after an SMB session from ws-09 (as a push does)
    rows = [r for day in range(2) for n in range(1, 4)
            for r in (inbound(day * 1440 + n - 0.5, "ws-09", f"ws-{n:02d}"), child(day * 1440 + n, f"ws-{n:02d}", agent))]
    rows += [inbound(29.5, "ws-09", "ws-05"), child(30, "ws-05", "C:\\Windows\\x7f3k.exe")]  # once, on one host
    rows += [netlogon(59, "ws-09", "ws-06"),
             ev(60, "ws-06", "service", "7045", **{"service.name": "agent", "service.image": agent})]
    got = alerts(tmp_path, rows, "remote-service")
    assert sorted((a["host"], a["source_host"], a["fields"]["what"]) for a in got) == [
        ("ws-05", "ws-09", "x7f3k.exe"), ("ws-06", "ws-09", "agent")]
    # Seen on one day only it is not routine yet (a worm's copy lands on many hosts within hours).
    (tmp_path / "b").mkdir()
    got = alerts(tmp_path / "b", [r for r in rows if r["ts"].day == rows[0]["ts"].day], "remote-service")
    assert ("ws-01", "agent.exe") in {(a["host"], a["fields"]["what"]) for a in got}


def test_remote_service_names_the_caller_of_an_install(tmp_path: Path) -> None:
    """A 7045 names no caller: the host that logged on over the network just before is it."""
    install = {"service.name": "upd", "service.image": "C:\\Windows\\upd.exe", "user.name": "LocalSystem"}
    rows = [
        ev(0, "ws-02", "auth", "4624", **{"winlog.logon.type": 3, "user.name": "adm", "source.ip": ip("ws-01")}),
        ev(1, "ws-02", "service", "7045", **install),
        ev(30, "ws-03", "auth", "4624", **{"winlog.logon.type": 3, "user.name": "adm", "source.ip": ip("ws-01")}),
        ev(60, "ws-03", "service", "7045", **install),  # 30 minutes later: not that logon's doing
    ]
    got = alerts(tmp_path, rows, "remote-service")
    # the second install has no caller: a local install, not lateral movement
    assert sorted((a["host"], a["source_host"]) for a in got) == [("ws-02", "ws-01")]


def test_remote_service_start_takes_the_caller_of_its_install(tmp_path: Path) -> None:
    """A started service names no caller: it is the caller of the latest install of that file on
    the host, or, with no install, the host whose SMB session the target logged just before. A
    start with neither is local (not reported), and so is a start of Windows' own program with
    no caller of its install, unless its command names another file (NotPetya's rundll32
    C:\\Windows\\perfc.dat)."""
    scm = "C:\\Windows\\System32\\services.exe"

    def start(minutes: float, host: str, image: str, cmd: str | None = None) -> dict[str, Any]:
        return ev(minutes, host, "process", "1", **{"process.executable": image, "process.parent.executable": scm,
                                                    "process.command_line": cmd or image})

    rows = [
        ev(0, "ws-02", "auth", "4624", **{"winlog.logon.type": 3, "user.name": "adm", "source.ip": ip("ws-01")}),
        ev(1, "ws-02", "service", "7045", **{"service.name": "runner", "service.image": "C:\\Windows\\runner.exe"}),
        start(2, "ws-02", "C:\\Windows\\runner.exe"),
        start(3, "ws-04", "C:\\Windows\\System32\\wuauclt.exe"),  # Windows' own: no alert
        inbound(3.9, "ws-03", "ws-05"),
        start(4, "ws-05", "C:\\Windows\\System32\\rundll32.exe", "rundll32.exe C:\\Windows\\perfc.dat,#1"),
        start(5, "ws-06", "C:\\Windows\\x7f3k.exe"),  # no install, no session: local, not reported
    ]
    got = alerts(tmp_path, rows, "remote-service")
    assert sorted((a["host"], a["source_host"], a["fields"]["what"]) for a in got) == [
        ("ws-02", "ws-01", "runner"), ("ws-02", "ws-01", "runner.exe"), ("ws-05", "ws-03", "rundll32.exe")]


def test_remote_exec_evidence_is_distinct_and_in_time_order(tmp_path: Path) -> None:
    rows = [r for i in range(6) for r in copy_exec(i, "ws-01", f"ws-{i + 2:02d}", "same.exe")]
    got = alerts(tmp_path, rows, "remote-exec")
    assert len(got) == 1
    ev_refs = got[0]["evidence"]
    assert len(ev_refs) == len(set(ev_refs)) == 12
    assert ev_refs == sorted(ev_refs, key=lambda r: int(r.rsplit(":", 1)[1]))  # records were made in time order


@pytest.mark.parametrize("order", [1, -1])
def test_winrm_exec_takes_one_of_two_logons_at_one_instant(tmp_path: Path, order: int) -> None:
    """A child of wsmprovhost.exe that names no session takes the latest inbound logon: of two at
    one instant, the first record, whatever order the rows come in (an ASOF join takes the one it
    reads last)."""
    rows = [ev(-60, h, "generic", "0") for h in ("ws-01", "ws-02", "ws-03")]
    rows += [ev(0, "ws-02", "auth", "4624", **{"source.ip": ip(s), "user.name": u, "event.outcome": "success",
             "winlog.logon.type": 3}) for s, u in (("ws-01", "alice"), ("ws-03", "bob"))]
    rows.append(ev(0.2, "ws-02", "process", "1", **{"process.executable": "C:\\Windows\\System32\\whoami.exe",
                "process.parent.executable": "C:\\Windows\\System32\\wsmprovhost.exe"}))
    cfg = config.load()
    with make_case(tmp_path / "c.duckdb", rows[::order]) as case:
        case.engine.execute("SET threads = 1")
        working.prepare(case, cfg)
        got = [a for a in run_rules(case, cfg) if a["rule"] == "winrm-exec"]
    assert [(a["source_host"], a["fields"]["account"]) for a in got] == [("ws-01", "alice")]
