"""One identity per host: addresses learnt from logons, Sysmon, Zeek ntlm/dhcp/kerberos; DHCP moves; conflicts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.ingest import ingest_paths
from wormsign.ingest.base import Sink, Source
from wormsign.ingest.windows import WinEvent, load_mapper
from wormsign.resolve import ensure_resolved, host_of, resolve
from wormsign.store import Case

DATA = Path(__file__).resolve().parents[1] / "data" / "zeek"
T0 = 1772438400  # 2026-03-02T08:00:00Z
CONN = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "conn_state")
NTLM = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "username", "hostname", "success")
DHCP = ("ts", "uids", "client_addr", "mac", "host_name", "assigned_addr", "msg_types")


def at(minutes: float) -> datetime:
    return datetime.fromtimestamp(T0 + minutes * 60, UTC)


def zeek(path: Path, log: str, fields: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Path:
    """A Zeek TSV log as Zeek writes it (times given in minutes after T0)."""
    head = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
            f"#path\t{log}", "#fields\t" + "\t".join(fields), "#types\t" + "\t".join("string" for _ in fields)]
    lines = ["\t".join([f"{T0 + r[0] * 60:.6f}", *map(str, r[1:])]) for r in rows]
    path.write_text("\n".join(head + lines) + "\n")
    return path


def windows(case: Case, name: str, events: list[tuple[str, int, str, float, dict[str, Any], str | None]]) -> None:
    """Windows events through the real Windows mapper and Sink, as the EVTX reader stores them."""
    sink = Sink(Source(name, name, digest="win-" + name), "evtx", case.append_events)
    mapper = load_mapper()
    for i, (channel, eid, computer, minutes, data, host_ip) in enumerate(events, 1):
        row = mapper.map(WinEvent(channel, None, eid, computer, at(minutes), i, data, "{}"))
        row["src.record"] = i
        if host_ip:
            row["host.ip"] = host_ip  # Winlogbeat ships the recording host's own address
        sink.add(row)
    sink.flush()


def logon(minutes: float, target: str, ip: str, workstation: str) -> tuple[str, int, str, float, dict[str, Any], None]:
    return ("Security", 4624, target, minutes,
            {"TargetUserName": "adm-svc", "LogonType": "3", "IpAddress": ip, "WorkstationName": workstation}, None)


def hosts(case: Case, where: str = "TRUE") -> list[tuple[Any, ...]]:
    return case.rows(f'SELECT "event.code", ts, host, "source.host", "destination.host" FROM events '
                     f"WHERE {where} ORDER BY ts, \"event.code\"")


def test_workstation_name_puts_zeek_conn_on_the_host(tmp_path: Path, case_path: Path) -> None:
    conn = zeek(tmp_path / "conn.log", "conn", CONN, [
        (-30, "Ca", "10.10.1.21", 49700, "10.10.1.35", 445, "tcp", "SF"),  # before the logon names the address
        (30, "Cb", "10.10.1.21", 49701, "10.10.1.35", 445, "tcp", "SF"),
        (31, "Cc", "10.10.1.99", 49702, "10.10.1.35", 445, "tcp", "S0"),  # an address nothing names
    ])
    with Case.open(str(case_path)) as case:
        ingest_paths([str(conn)], case, workers=1)
        windows(case, "ws-0035-security.evtx", [logon(0, "WS-0035.corp.example", "10.10.1.21", "WS-0021")])
        windows(case, "ws-0035-sysmon.evtx", [("Microsoft-Windows-Sysmon/Operational", 1, "ws-0035.corp.example",
                                               1, {"Image": "C:\\Windows\\System32\\cmd.exe"}, "10.10.1.35")])
        rep = resolve(case)
        assert (rep.addresses, rep.intervals, rep.conflicts) == (2, 2, 0)
        rows = case.rows("SELECT ip, host, evidence, n FROM host_addr ORDER BY ip")
        assert rows == [("10.10.1.21", "ws-0021", "win-logon", 1), ("10.10.1.35", "ws-0035", "host.ip", 1)]
        assert hosts(case) == [
            ("conn", at(-30), "ws-0021", "ws-0021", "ws-0035"),
            ("4624", at(0), "ws-0035", "ws-0021", None),
            ("1", at(1), "ws-0035", None, None),
            ("conn", at(30), "ws-0021", "ws-0021", "ws-0035"),
            ("conn", at(31), "10.10.1.99", None, "ws-0035"),
        ]
        # Idempotent: a second run changes nothing.
        again = resolve(case)
        assert again.updated == 0 and case.rows("SELECT count(*) FROM host_addr")[0][0] == 2
        assert ensure_resolved(case) is None


def test_dhcp_move(tmp_path: Path, case_path: Path) -> None:
    ip = "10.10.1.50"
    dhcp = zeek(tmp_path / "dhcp.log", "dhcp", DHCP, [
        (0, "D1", ip, "00:15:5d:00:00:0a", "WS-A", ip, "REQUEST,ACK"),
        (240, "D2", ip, "00:15:5d:00:00:0b", "WS-B", ip, "REQUEST,ACK"),  # four hours later B holds it
    ])
    conn = zeek(tmp_path / "conn.log", "conn", CONN, [
        (30, "C1", ip, 50000, "10.10.1.2", 445, "tcp", "SF"),
        (200, "C2", ip, 50001, "10.10.1.2", 445, "tcp", "SF"),
        (250, "C3", ip, 50002, "10.10.1.2", 445, "tcp", "SF"),
        (900, "C4", "10.10.1.2", 445, ip, 50003, "tcp", "SF"),  # B as the destination, much later
    ])
    with Case.open(str(case_path)) as case:
        ingest_paths([str(dhcp), str(conn)], case, workers=1)
        rep = resolve(case)
        assert rep.conflicts == 0
        assert case.rows("SELECT ip, host, first_seen, last_seen, evidence FROM host_addr ORDER BY first_seen") == [
            (ip, "ws-a", at(0), at(0), "dhcp-lease"), (ip, "ws-b", at(240), at(240), "dhcp-lease"),
        ]
        assert [(c, h, d) for c, _, h, _, d in hosts(case, "kind = 'network'")] == [
            ("conn", "ws-a", None), ("conn", "ws-a", None), ("conn", "ws-b", None), ("conn", "10.10.1.2", "ws-b"),
        ]
        assert host_of(case, ip, at(-60)) == "ws-a"  # the first interval also covers the time before it
        assert host_of(case, ip, at(239)) == "ws-a" and host_of(case, ip, at(241)) == "ws-b"
        assert host_of(case, "10.10.1.77", at(0)) is None


def test_conflict_is_reported_not_guessed(tmp_path: Path, case_path: Path) -> None:
    ip = "10.10.1.60"
    ntlm = zeek(tmp_path / "ntlm.log", "ntlm", NTLM, [
        (0, "N1", ip, 50000, "10.10.1.35", 445, "alice", "WS-C", "T"),
        (5, "N2", ip, 50001, "10.10.1.35", 445, "bob", "WS-D", "T"),  # another name from the same address
        (10, "N3", ip, 50002, "10.10.1.35", 445, "alice", "WS-C", "T"),
    ])
    conn = zeek(tmp_path / "conn.log", "conn", CONN, [(7, "C1", ip, 50003, "10.10.1.35", 445, "tcp", "SF")])
    with Case.open(str(case_path)) as case:
        ingest_paths([str(ntlm), str(conn)], case, workers=1)
        rep = resolve(case)
        assert rep.conflicts == 1
        assert case.rows("SELECT * FROM host_conflicts") == [(ip, "ws-c,ws-d", at(0), at(10))]
        assert case.rows("SELECT count(*) FROM host_addr WHERE ip = ?", [ip]) == [(0,)]
        # The connection keeps its address: no host is picked for it.
        assert hosts(case, "kind = 'network'") == [("conn", at(7), ip, None, None)]
        assert host_of(case, ip, at(7)) is None
        # Each NTLM record still carries the name it gave.
        assert [r[2] for r in hosts(case, "kind = 'ntlm'")] == ["ws-c", "ws-d", "ws-c"]


def test_new_data_re_resolves(tmp_path: Path, case_path: Path) -> None:
    ip = "10.10.1.70"
    conn = zeek(tmp_path / "conn.log", "conn", CONN, [(30, "C1", ip, 50000, "10.10.1.2", 53, "udp", "SF")])
    with Case.open(str(case_path)) as case:
        ingest_paths([str(conn)], case, workers=1)
        assert resolve(case).updated == 0 and hosts(case)[0][2] == ip
        dhcp = zeek(tmp_path / "dhcp.log", "dhcp", DHCP, [(0, "D1", ip, "00:15:5d:00:00:0c", "WS-E", ip, "ACK")])
        ingest_paths([str(dhcp)], case, workers=1)
        assert ensure_resolved(case) is not None
        assert [r[2] for r in hosts(case)] == ["ws-e", "ws-e"]
        # A logon names another workstation for the address while WS-E's lease runs: the
        # conflict is reported, and the lease (evidence the address vouches for) decides.
        windows(case, "dc-security.evtx", [logon(31, "DC-01", ip, "WS-F"), logon(29, "DC-01", ip, "WS-F")])
        renew = zeek(tmp_path / "dhcp2.log", "dhcp", DHCP, [(40, "D2", ip, "00:15:5d:00:00:0c", "WS-E", ip, "ACK")])
        ingest_paths([str(renew)], case, workers=1)
        resolve(case)
        assert case.rows("SELECT hosts, first_seen, last_seen FROM host_conflicts") == [("ws-e,ws-f", at(0), at(40))]
        assert case.rows("SELECT host, first_seen, last_seen FROM host_addr") == [("ws-e", at(0), at(40))]
        assert hosts(case, "kind = 'network'")[0][2] == "ws-e"
        # Then the DHCP server leases the address to WS-G while WS-E still holds it: two
        # authoritative claims at once, so no host is picked for the connection.
        lease = zeek(tmp_path / "dhcp3.log", "dhcp", DHCP, [(35, "D3", ip, "00:15:5d:00:00:0d", "WS-G", ip, "ACK")])
        ingest_paths([str(lease)], case, workers=1)
        resolve(case)
        assert case.rows("SELECT hosts FROM host_conflicts") == [("ws-e,ws-f,ws-g",)]
        assert case.rows("SELECT count(*) FROM host_addr") == [(0,)]
        assert hosts(case, "kind = 'network'")[0][2] == ip and host_of(case, ip, at(30)) is None


def test_sysmon_and_kerberos_evidence(tmp_path: Path, case_path: Path) -> None:
    krb = zeek(tmp_path / "kerberos.log", "kerberos",
               ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "request_type", "client", "success"),
               [(0, "K1", "10.10.1.80", 50000, "10.10.1.2", 88, "AS", "WS-G$/CORP.EXAMPLE", "T"),
                (1, "K2", "10.10.1.81", 50001, "10.10.1.2", 88, "AS", "jdoe/CORP.EXAMPLE", "T")])
    with Case.open(str(case_path)) as case:
        ingest_paths([str(krb)], case, workers=1)
        windows(case, "ws-g-sysmon.evtx", [("Microsoft-Windows-Sysmon/Operational", 3, "ws-g.corp.example", 2, {
            "SourceIp": "10.10.1.80", "SourceHostname": "ws-g.corp.example", "SourcePort": "50100",
            "DestinationIp": "10.10.1.2", "DestinationHostname": "DC-01.corp.example", "DestinationPort": "445",
            "Image": "C:\\Windows\\System32\\svchost.exe", "Protocol": "tcp"}, None)])
        # the DC logs too: a reverse lookup names only a host the telemetry confirms
        windows(case, "dc-01-security.evtx", [("Security", 4672, "DC-01.corp.example", 3, {}, None)])
        resolve(case)
        assert case.rows("SELECT ip, host, evidence FROM host_addr ORDER BY ip") == [
            ("10.10.1.2", "dc-01", "sysmon-3"), ("10.10.1.80", "ws-g", "machine-account,sysmon-3,zeek-kerberos"),
        ]
        # A user's ticket names no host; the KDC's address is known from Sysmon.
        assert hosts(case, "kind = 'kerberos'") == [("kerberos", at(0), "ws-g", "ws-g", "dc-01"),
                                                    ("kerberos", at(1), "10.10.1.81", None, "dc-01")]


def test_cli_ingest_resolves(case_path: Path) -> None:
    res = CliRunner().invoke(app, ["ingest", str(DATA), "--case", str(case_path), "-j", "1"])
    assert res.exit_code == 3, res.output  # the fixtures hold broken lines on purpose
    assert "conflicts" in res.output
    with Case.open(str(case_path), read_only=True) as case:
        assert case.rows("SELECT host FROM host_addr WHERE ip = '10.10.1.21'") == [("ws-0021",)]
        assert case.rows("SELECT DISTINCT host FROM events WHERE \"source.ip\" = '10.10.1.21'") == [("ws-0021",)]


def test_rdp_logon_naming_its_own_host_is_not_evidence(tmp_path: Path, case_path: Path) -> None:
    # For RDP (type 10) Windows writes the target's own name as WorkstationName: the address
    # (the admin's workstation) must not be taken for the target, and the source is the address's host.
    rdp = ("Security", 4624, "WS-0008.corp.example", 10,
           {"TargetUserName": "adm-lscott", "LogonType": "10", "IpAddress": "10.10.0.16", "WorkstationName": "WS-0008"},
           None)
    with Case.open(str(case_path)) as case:
        windows(case, "ws-0008-security.evtx", [rdp])
        windows(case, "adm-01-sysmon.evtx", [("Microsoft-Windows-Sysmon/Operational", 1, "ADM-01.corp.example", 0,
                                              {"Image": "C:\\Windows\\System32\\mstsc.exe"}, "10.10.0.16")])
        rep = resolve(case)
        assert rep.conflicts == 0
        assert case.rows("SELECT ip, host, evidence FROM host_addr") == [("10.10.0.16", "adm-01", "host.ip")]
        assert hosts(case, "\"event.code\" = '4624'") == [("4624", at(10), "ws-0008", "adm-01", None)]


def test_netbios_names_cut_to_15_characters(tmp_path: Path, case_path: Path) -> None:
    # NTLM carries the NetBIOS name, cut to 15 characters; the endpoint logs its full name.
    ntlm = zeek(tmp_path / "ntlm.log", "ntlm", NTLM,
                [(0, "N1", "10.10.1.90", 50000, "10.10.1.35", 445, "jdoe", "FINANCE-LAPTOP-", "T")])
    conn = zeek(tmp_path / "conn.log", "conn", CONN, [(1, "C1", "10.10.1.90", 50001, "10.10.1.35", 445, "tcp", "SF")])
    with Case.open(str(case_path)) as case:
        ingest_paths([str(ntlm), str(conn)], case, workers=1)
        windows(case, "laptop-sysmon.evtx", [("Microsoft-Windows-Sysmon/Operational", 1,
                                              "FINANCE-LAPTOP-0042.corp.example", 2, {"Image": "C:\\x.exe"}, None)])
        resolve(case)
        assert case.rows("SELECT ip, host, evidence FROM host_addr") == [("10.10.1.90", "finance-laptop-0042", "zeek-ntlm")]
        assert [r[2] for r in hosts(case)] == ["finance-laptop-0042"] * 3


def test_forged_workstation_name_does_not_take_the_address(tmp_path: Path, case_path: Path) -> None:
    # A tool on WS-0021 sends a made-up WorkstationName with a failed logon: the name is the
    # attacker's to choose, so it is no evidence at all, and the failure's source is the address's host.
    conn = zeek(tmp_path / "conn.log", "conn", CONN, [(12, "C1", "10.10.1.21", 50000, "10.10.1.35", 445, "tcp", "SF")])
    own = ("Microsoft-Windows-Sysmon/Operational", 1, "WS-0021.corp.example")
    with Case.open(str(case_path)) as case:
        ingest_paths([str(conn)], case, workers=1)
        windows(case, "ws-0021-sysmon.evtx", [(*own, m, {"Image": "C:\\x.exe"}, "10.10.1.21") for m in (0, 10, 20)])
        windows(case, "ws-0035-security.evtx", [
            ("Security", 4625, "WS-0035", 11, {"TargetUserName": "administrator", "LogonType": "3",
                                               "IpAddress": "10.10.1.21", "WorkstationName": "WIN-R4ND0M"}, None)])
        resolve(case)
        assert case.rows("SELECT hosts FROM host_conflicts") == []
        assert case.rows("SELECT host, evidence FROM host_addr") == [("ws-0021", "host.ip")]
        assert hosts(case, "kind = 'network'") == [("conn", at(12), "ws-0021", "ws-0021", None)]
        assert hosts(case, "\"event.code\" = '4625'") == [("4625", at(11), "ws-0035", "ws-0021", None)]
        # The name it gave is kept as what the record says (a claim), not as the source.
        assert case.rows("SELECT \"source.domain\" FROM events WHERE \"event.code\" = '4625'") == [("WIN-R4ND0M",)]


def test_failed_logon_names_are_never_hosts(tmp_path: Path, case_path: Path) -> None:
    # Brute force with a random NetBIOS name per attempt, from an address nothing else names:
    # no name becomes a host, no conflict is invented, and every failure keeps the bare address.
    names = ["WIN-A1B2C3", "DESKTOP-Q9Z8", "KALI", "XJ3K2LMN0P"]
    fails = [("Security", 4625, "WS-0035", 11 + i, {"TargetUserName": "administrator", "LogonType": "3",
                                                    "IpAddress": "10.10.1.66", "WorkstationName": n}, None)
             for i, n in enumerate(names)]
    with Case.open(str(case_path)) as case:
        windows(case, "ws-0035-security.evtx", fails)
        rep = resolve(case)
        assert (rep.addresses, rep.conflicts) == (0, 0)
        assert [r[3] for r in hosts(case)] == [None] * 4
        assert host_of(case, "10.10.1.66", at(12)) is None


def test_batched_enrichment_matches_one_pass(tmp_path: Path) -> None:
    """The events are enriched in batches of rowids, each its own transaction: any batch size
    gives the same hosts as one pass over the whole table, and the same report."""
    from wormsign import demo

    files = [str(demo.logs())]
    got = {}
    for batch in (10**9, 997):
        path = tmp_path / f"c{batch}.duckdb"
        with Case.open(str(path)) as case:
            ingest_paths(files, case, workers=1)
            rep = resolve(case, batch_rows=batch)
            rows = case.rows('SELECT "src.digest", "src.record", host, "source.host", "destination.host" '
                             'FROM events ORDER BY ALL')
            got[batch] = (rep.updated, rep.addresses, rep.intervals, rows)
            assert case.count() > 10 * batch or batch > 10**6  # several batches did run
    assert got[997] == got[10**9]
    assert got[997][0] > 0
