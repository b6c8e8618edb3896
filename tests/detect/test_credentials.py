"""Brute force and spraying on small constructed cases, hunted the whole way (resolver included).

Failures are keyed on the address they came from, never on the workstation name the client
claims; Kerberos and NTLM failures count by status; a success of the same account from the same
source after the failures is reported whatever recorded it (4624, 4768, 4776, Zeek, LANL); one
process using explicit credentials (4648) for many accounts is a spray.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from huntrows import ev, ip, make_case

from wormsign.hunt import hunt
from wormsign.ingest import ingest_paths
from wormsign.store import Case

ATTACKER = "203.0.113.50"  # an address no host telemetry names


def run(tmp_path: Path, rows: list[dict[str, Any]], *, log: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Hunt the rows; each host of ``log`` (and dc-01, ws-02) logs something of its own with its address."""
    hosts = {"dc-01", "ws-02", *log}
    rows = rows + [ev(-60, h, "generic", "0") for h in sorted(hosts)]
    with make_case(tmp_path / "c.duckdb", rows) as case:
        res = hunt(case, sigma_rules=[])
    return [a for a in res.alerts if a["rule"] in ("bruteforce", "spray")]


def fail(minutes: float, target: str, user: str, src: str, claim: str | None = None,
         code: str = "4625", status: str | None = None) -> dict[str, Any]:
    return ev(minutes, target, "auth", code, **{"source.ip": src, "source.domain": claim, "user.name": user,
              "event.outcome": "failure", "winlog.logon.type": 3 if code == "4625" else None,
              "auth.status": status})


def ok(minutes: float, target: str, user: str, src: str | None, code: str = "4624",
       claim: str | None = None) -> dict[str, Any]:
    return ev(minutes, target, "auth", code, **{"source.ip": src, "source.domain": claim, "user.name": user,
              "event.outcome": "success", "winlog.logon.type": 3 if code == "4624" else None,
              "auth.status": None if code == "4624" else "0x0"})


def netbios(r: random.Random) -> str:
    return "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(15))


def test_random_workstation_names_from_one_address_are_one_brute_force(tmp_path: Path) -> None:
    r = random.Random(7)
    rows = [fail(i * 0.05, "ws-02", "administrator", ATTACKER, netbios(r)) for i in range(300)]
    got = run(tmp_path, rows)
    assert [(a["rule"], a["host"], a["source_host"], a["target_hosts"]) for a in got] == [
        ("bruteforce", ATTACKER, ATTACKER, ["ws-02"])]
    f = got[0]["fields"]
    assert (f["count"], f["claimed_count"], f["success"]) == (300, 300, False)
    assert len(f["claimed_workstations"]) == 20  # bounded (auth_max_claims)
    claims = {row["source.domain"] for row in rows}
    assert not claims & {a["host"] for a in got} and not claims & set(got[0]["target_hosts"])


def test_the_address_of_a_host_that_logs_is_named_by_the_host(tmp_path: Path) -> None:
    r = random.Random(8)
    rows = [fail(i * 0.1, "ws-02", f"user{i % 7}", ip("ws-05"), netbios(r)) for i in range(14)]
    got = run(tmp_path, rows, log=("ws-05",))
    assert [(a["rule"], a["source_host"], a["fields"]["count"]) for a in got] == [("spray", "ws-05", 7)]
    assert got[0]["fields"]["claimed_count"] == 14


def test_a_user_mistyping_raises_nothing(tmp_path: Path) -> None:
    rows = [fail(0, "ws-02", "carol", ip("ws-05"), "WS-05"), fail(0.2, "ws-02", "carol", ip("ws-05"), "WS-05"),
            fail(0.3, "dc-01", "carol", ip("ws-05"), code="4771", status="0x18"),
            fail(0.4, "dc-01", "carol", None, "WS-05", code="4776", status="0xc000006a"),
            ok(1, "ws-02", "carol", ip("ws-05"), claim="WS-05")]
    # every user of a busy day: one or two typos each, against the same DC
    rows += [fail(2 + i * 0.5, "dc-01", f"u{i}", ip(f"ws-{10 + i:02d}"), code="4771", status="0x18")
             for i in range(30)]
    assert run(tmp_path, rows, log=("ws-05",) + tuple(f"ws-{10 + i:02d}" for i in range(30))) == []


def test_kerberos_failures_count_by_status(tmp_path: Path) -> None:
    rows = [fail(i * 0.1, "dc-01", "svc-sql", ATTACKER, code="4771", status="0x18") for i in range(12)]
    # refused service tickets and clock skews are not guesses, however many
    rows += [fail(i * 0.1, "dc-01", "bob", "198.51.100.7", code="4769", status="0x1b") for i in range(30)]
    rows += [fail(i * 0.1, "dc-01", "eve", "198.51.100.8", code="4768", status="0x25") for i in range(30)]
    # user guessing: unknown users (0x6) and a revoked one (0x12)
    rows += [fail(i * 0.1, "dc-01", f"guess{i}", "198.51.100.9", code="4768", status="0x6") for i in range(5)]
    rows.append(fail(1, "dc-01", "locked", "198.51.100.9", code="4768", status="0x12"))
    got = {(a["rule"], a["source_host"]): a for a in run(tmp_path, rows)}
    assert set(got) == {("bruteforce", ATTACKER), ("spray", "198.51.100.9")}
    assert got["bruteforce", ATTACKER]["fields"]["statuses"] == ["0x18"]
    assert got["spray", "198.51.100.9"]["fields"]["count"] == 6
    assert got["spray", "198.51.100.9"]["target_hosts"] == ["dc-01"]


def test_ntlm_4776_by_claim_confirmed_or_not(tmp_path: Path) -> None:
    r = random.Random(9)
    # no address: a name the telemetry knows (ws-05 logs, with its address) is the source ...
    rows = [fail(i * 0.1, "dc-01", "admin", None, "WS-05", code="4776", status="0xc000006a") for i in range(12)]
    # ... random names are no host: grouped on the DC, raised for the many names
    rows += [fail(i * 0.1, "dc-01", "backup", None, netbios(r), code="4776", status="0xc000006a")
             for i in range(12)]
    # one unknown name failing (a phone with an old password) is not raised
    rows += [fail(i * 0.1, "dc-01", "dave", None, "DAVES-PHONE", code="4776", status="0xc000006a")
             for i in range(12)]
    got = sorted(((a["rule"], a["host"], a["source_host"], a["fields"]["account"]) for a in
                  run(tmp_path, rows, log=("ws-05",))), key=str)
    assert got == [("bruteforce", "dc-01", None, "backup"), ("bruteforce", "ws-05", "ws-05", "admin")]


def success_after(tmp_path: Path, success: dict[str, Any], src: str | None = ATTACKER,
                  code: str = "4625", status: str | None = None) -> bool:
    rows = [fail(i * 0.01, "dc-01", "admin", src, "WS-05" if src is None else netbios(random.Random(i)),
                 code=code, status=status) for i in range(12)]
    tmp_path.mkdir()
    (got,) = [a for a in run(tmp_path, [*rows, success], log=("ws-05",)) if a["rule"] == "bruteforce"]
    assert got["fields"]["count"] == 12
    return bool(got["fields"]["success"])


def test_success_after_failures_from_every_record(tmp_path: Path) -> None:
    assert success_after(tmp_path / "a", ok(1, "ws-02", "admin", ATTACKER))  # 4624, another target
    assert success_after(tmp_path / "b", ok(1, "dc-01", "Admin", ATTACKER, code="4768"),
                         code="4771", status="0x18")
    assert success_after(tmp_path / "c", ok(1, "dc-01", "admin", None, code="4776", claim="WS-05"), src=None,
                         code="4776", status="0xc000006a")
    assert success_after(tmp_path / "d", ok(1, "dc-01", "admin", ATTACKER, code="4769"))
    # not another source, nor another account, nor after the window
    assert not success_after(tmp_path / "e", ok(1, "ws-02", "admin", "198.51.100.1"))
    assert not success_after(tmp_path / "f", ok(1, "ws-02", "other", ATTACKER))
    assert not success_after(tmp_path / "g", ok(120, "ws-02", "admin", ATTACKER))


def test_success_after_failures_in_zeek(tmp_path: Path) -> None:
    def zeek(minutes: float, outcome: str, status: str) -> dict[str, Any]:
        return ev(minutes, "-", "kerberos", "kerberos", **{
            "src.format": "zeek", "source.ip": ATTACKER, "destination.ip": ip("dc-01"), "user.name": "admin",
            "event.outcome": outcome, "auth.status": status})
    rows = [zeek(i * 0.01, "failure", "KDC_ERR_PREAUTH_FAILED") for i in range(12)]
    rows += [zeek(i * 0.01, "failure", "KDC_ERR_PREAUTH_REQUIRED") for i in range(40)]  # every logon's first step
    rows.append(zeek(0.5, "success", ""))
    (got,) = run(tmp_path, rows)
    assert (got["rule"], got["source_host"], got["target_hosts"]) == ("bruteforce", ATTACKER, ["dc-01"])
    assert (got["fields"]["count"], got["fields"]["success"]) == (12, True)


def test_success_after_failures_in_lanl(tmp_path: Path) -> None:
    lines = [f"{100 + i},U66@DOM1,U66@DOM1,C17693,C586,NTLM,Network,LogOn,Fail" for i in range(12)]
    lines += [f"{100 + i},U{i}@DOM1,U{i}@DOM1,C{i},C586,NTLM,Network,LogOn,Fail" for i in range(3)]  # typos
    lines.append("116,U66@DOM1,U66@DOM1,C17693,C586,NTLM,Network,LogOn,Success")  # 5 s after the last
    lines.append("117,U66@DOM1,U66@DOM1,C999,C586,NTLM,Network,LogOn,Success")  # another source
    (tmp_path / "auth.txt").write_text("\n".join(lines) + "\n")
    with Case.open(str(tmp_path / "c.duckdb")) as case:
        ingest_paths([str(tmp_path / "auth.txt")], case, workers=1)
        res = hunt(case, sigma_rules=[])
    got = [a for a in res.alerts if a["rule"] in ("bruteforce", "spray")]
    assert [(a["rule"], a["source_host"], a["target_hosts"], a["fields"]["account"], a["fields"]["success"])
            for a in got] == [("bruteforce", "c17693", ["c586"], "U66", True)]
    assert len(got[0]["evidence"]) == 13  # the 12 failures and the success


def explicit(minutes: float, host: str, account: str, server: str, process: str) -> dict[str, Any]:
    return ev(minutes, host, "auth", "4648", **{"user.name": "jdoe", "user.target.name": account,
              "destination.domain": server, "process.executable": process, "event.outcome": "success"})


def test_one_process_using_many_accounts_is_a_spray(tmp_path: Path) -> None:
    tool = "C:\\Users\\jdoe\\AppData\\Local\\Temp\\sp.exe"
    rows = [explicit(i * 0.1, "ws-02", f"user{i}", "DC-01.corp.local", tool) for i in range(8)]
    # an admin's runas of two accounts, and winlogon on a terminal server (every user, to localhost)
    rows += [explicit(i, "ws-02", a, "fs-01", "C:\\Windows\\System32\\runas.exe") for i, a in enumerate("ab")]
    rows += [explicit(i, "ws-03", f"rdp{i}", "localhost", "C:\\Windows\\System32\\winlogon.exe") for i in range(9)]
    rows += [explicit(i, "ws-03", f"self{i}", "WS-03", "C:\\Windows\\System32\\svchost.exe") for i in range(9)]
    got = run(tmp_path, rows, log=("ws-03",))
    assert [(a["rule"], a["host"], a["source_host"], a["target_hosts"]) for a in got] == [
        ("spray", "ws-02", "ws-02", ["dc-01"])]
    f = got[0]["fields"]
    assert (f["via"], f["count"], f["process"], f["callers"]) == ("explicit credentials", 8, tool, ["jdoe"])
    assert len(got[0]["evidence"]) == 8


def test_a_lockout_is_named_by_the_failures_that_claimed_its_caller_name(tmp_path: Path) -> None:
    """Two hosts guess one account at the same time, each attempt with a random NetBIOS name; the
    DC's 4740 repeats the name of the attempt that locked it: that attempt's address is the cause,
    not the other host's later failure, nor the random name."""
    r = random.Random(11)
    names = {h: [netbios(r) for _ in range(6)] for h in ("ws-05", "ws-06")}
    rows = []
    for i in range(6):
        rows.append(fail(i * 0.1, "ws-02", "tgreen", ip("ws-05"), names["ws-05"][i]))
        rows.append(fail(i * 0.1 + 0.02, "ws-03", "tgreen", ip("ws-06"), names["ws-06"][i]))
    # locked by ws-05's fifth attempt; ws-06's sixth failure comes before the DC writes the 4740
    rows.append(ev(0.55, "dc-01", "auth", "4740", **{"user.name": "tgreen", "source.domain": names["ws-05"][4],
                                                     "event.outcome": "success"}))
    rows = rows + [ev(-60, h, "generic", "0") for h in ("dc-01", "ws-02", "ws-03", "ws-05", "ws-06")]
    with make_case(tmp_path / "c.duckdb", rows) as case:
        hunt(case, sigma_rules=[])
        got = case.rows("SELECT source, claimed FROM hunt_lockouts")
    assert got == [("ws-05", names["ws-05"][4].lower())]
