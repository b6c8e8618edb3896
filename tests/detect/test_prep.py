"""The hunt's whole-case address map (``h_ipmap``) and the sources the detections name with it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from huntrows import T0, ev, ip, make_case

from wormsign.detect import config, prep, working
from wormsign.detect.rules import run_rules
from wormsign.resolve import resolve
from wormsign.store import Case

ATTACKER = "10.0.0.77"  # no log of its own: only what the logons from it claim


def _mapped(path: Path, rows: list[tuple[Any, ...]]) -> str | None:
    with Case.open(str(path)) as case:
        case.engine.execute("DELETE FROM host_addr")
        for r in rows:
            case.engine.execute("INSERT INTO host_addr VALUES (?, ?, ?, ?, ?, ?)", list(r))
        case.engine.execute("SET threads = 1")  # rows read in the order written: a tie shows
        prep.ipmap(case, config.load())
        got = case.rows("SELECT host FROM h_ipmap WHERE ip = ?", [ATTACKER])
    return got[0][0] if got else None


@pytest.mark.parametrize(
    ("rows", "want"),
    [
        # two names a client gave (WorkstationName), once each, months apart: the latest holder
        ([(ATTACKER, "0konuy9q8htkweks", T0 - timedelta(days=200), T0 - timedelta(days=200), "win-logon", 1),
          (ATTACKER, "attacker", T0 - timedelta(days=2), T0 - timedelta(days=2), "win-logon", 1)],
         "attacker"),
        # a name the client gave against the address's own evidence (a machine account), as
        # often as it: the address's evidence, even when the claim is the later one
        ([(ATTACKER, "ws-03", T0 - timedelta(days=9), T0 - timedelta(days=9), "machine-account", 4),
          (ATTACKER, "kali", T0 - timedelta(days=1), T0 - timedelta(days=1), "win-logon", 4)], "ws-03"),
        # more observations still decide first
        ([(ATTACKER, "ws-03", T0 - timedelta(days=9), T0 - timedelta(days=9), "machine-account", 2),
          (ATTACKER, "kali", T0 - timedelta(days=1), T0 - timedelta(days=1), "win-logon", 5)], "kali"),
    ],
)
def test_address_map_breaks_a_tie_the_same_way_in_any_row_order(
    tmp_path: Path, rows: list[tuple[Any, ...]], want: str
) -> None:
    assert _mapped(tmp_path / "a.duckdb", rows) == want
    assert _mapped(tmp_path / "b.duckdb", rows[::-1]) == want


def test_unresolved_map_takes_no_failed_logons_name(tmp_path: Path) -> None:
    # Before the resolver has run: a failed logon's WorkstationName is the attacker's to choose
    # (brute-force tools send a random one each try), never the address's host.
    rows = [ev(i * 0.1, "ws-02", "auth", "4625", **{"source.ip": ATTACKER, "source.domain": f"RND{i:04d}",
               "user.name": "admin", "event.outcome": "failure", "winlog.logon.type": 3}) for i in range(6)]
    rows.append(ev(1, "ws-02", "auth", "4624", **{"source.ip": ip("ws-05"), "source.domain": "WS-05",
                "user.name": "bob", "event.outcome": "success", "winlog.logon.type": 3}))
    with make_case(tmp_path / "c.duckdb", rows) as case:
        working.prepare(case, config.load())
        got = dict(case.rows("SELECT ip, host FROM h_ipmap"))
    assert ATTACKER not in got and got[ip("ws-05")] == "ws-05"


def _rdp(minutes: float, target: str) -> dict[str, Any]:
    return ev(minutes, target, "auth", "1149", **{"source.ip": ATTACKER, "user.name": "admmig",
              "user.domain": "OFFSEC", "event.outcome": "success"})


def _claim(minutes: float, target: str, name: str) -> dict[str, Any]:
    return ev(minutes, target, "auth", "4624", **{"source.ip": ATTACKER, "source.domain": name,
              "user.name": "admmig", "event.outcome": "success", "winlog.logon.type": 3})


@pytest.mark.parametrize("order", [1, -1])
def test_rdp_fanout_names_the_host_that_held_the_address_then(tmp_path: Path, order: int) -> None:
    # Hayabusa's samples: 10.23.123.11 claimed a random WorkstationName (Impacket) in April and
    # "attacker" two days before its RDP sweep in December. The sweep's source is the host the
    # resolver gives the address at the sweep's time, in every run.
    hosts = [f"ws-{n:02d}" for n in range(10, 17)]
    rows = [ev(-60 * 24 * 250, h, "generic", "0") for h in hosts]
    rows += [_claim(-60 * 24 * 240, "ws-10", "0Konuy9q8HtkWeKS"), _claim(-60 * 24 * 2, "ws-11", "attacker")]
    rows += [_rdp(i * 0.05, h) for i, h in enumerate(hosts)]
    with make_case(tmp_path / "c.duckdb", rows[::order]) as case:
        resolve(case)
        cfg = config.load()
        working.prepare(case, cfg)
        got = [a for a in run_rules(case, cfg) if a["rule"] == "rdp-fanout"]
    assert [(a["source_host"], a["target_hosts"]) for a in got] == [("attacker", hosts)]


def _working(path: Path, rows: list[dict[str, Any]], sql: str) -> list[tuple[Any, ...]]:
    with make_case(path, rows) as case:
        case.engine.execute("SET threads = 1")
        working.prepare(case, config.load())
        return case.rows(sql)


@pytest.mark.parametrize("order", [1, -1])
def test_system_write_takes_one_writer_of_logons_at_one_instant(tmp_path: Path, order: int) -> None:
    # An ASOF join takes whichever of two rows at one instant it reads last: a file System wrote
    # named ws-01 or ws-03 as its writer by the order of the rows. The first record decides.
    rows = [ev(-60, h, "generic", "0") for h in ("ws-01", "ws-02", "ws-03")]
    rows += [ev(0, "ws-02", "auth", "4624", **{"source.ip": ip(s), "user.name": u, "event.outcome": "success",
             "winlog.logon.type": 3}) for s, u in (("ws-01", "alice"), ("ws-03", "bob"))]
    rows.append(ev(0.2, "ws-02", "file", "11", **{"process.executable": "System", "file.path": "C:\\Windows\\x.exe"}))
    got = _working(tmp_path / "c.duckdb", rows[::order], "SELECT source, account FROM h_drops")
    assert got == [("ws-01", "alice")]


@pytest.mark.parametrize("order", [1, -1])
def test_lockout_takes_one_source_of_failures_at_one_instant(tmp_path: Path, order: int) -> None:
    rows = [ev(-60, h, "generic", "0") for h in ("ws-01", "ws-02", "ws-03", "dc-01")]
    rows += [ev(0, "ws-02", "auth", "4625", **{"source.ip": ip(s), "user.name": "alice", "event.outcome": "failure",
             "winlog.logon.type": 3}) for s in ("ws-01", "ws-03")]
    rows.append(ev(0.1, "dc-01", "auth", "4740", **{"user.name": "alice", "source.domain": "XQ7RT2"}))
    got = _working(tmp_path / "c.duckdb", rows[::order], "SELECT source FROM h_lockouts")
    assert got == [("ws-01",)]
