"""The Windows DHCP Server audit log reader: counts, whole events, rejects, sniffing, the server,
the time zone, the mapping, and leases resolving addresses to hosts (a DHCP move)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from wormsign.ingest import IngestError, ingest_paths
from wormsign.ingest.base import Sink, Source
from wormsign.ingest.dhcpsrv import DhcpSrvReader, compile_mapping, load_mapping, server_of
from wormsign.ingest.registry import pick
from wormsign.ingest.windows import WinEvent, load_mapper
from wormsign.resolve import host_of, resolve
from wormsign.store import Case

Parse = Callable[..., Any]
DATA = Path(__file__).resolve().parents[1] / "data" / "dhcpsrv" / "DHCP01"
V4 = DATA / "DhcpSrvLog-Mon.log"
V6 = DATA / "DhcpV6SrvLog-Mon.log"
HEADER = ("ID,Date,Time,Description,IP Address,Host Name,MAC Address,User Name, TransactionID, QResult,"
          "Probationtime, CorrelationID,Dhcid,VendorClass(Hex),VendorClass(ASCII),UserClass(Hex),"
          "UserClass(ASCII),RelayAgentInformation,DnsRegError.")
LEGEND = ("\t\tMicrosoft DHCP Service Activity Log\r\n\r\n\r\nEvent ID  Meaning\r\n"
          "00\tThe log was started.\r\n10\tA new IP address was leased to a client.\r\n\r\n")


def dhcp_log(path: Path, lines: list[str], header: str = HEADER, legend: str = LEGEND) -> Path:
    """A DhcpSrvLog as the server writes it: legend, header, CRLF lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((legend + header + "\r\n" + "".join(ln + "\r\n" for ln in lines)).encode())
    return path


def lease(eid: int, hhmm: str, ip: str, name: str, mac: str, desc: str = "Assign") -> str:
    return f"{eid},03/02/26,{hhmm}:00,{desc},{ip},{name},{mac},,4711,0,,,,,,,,,0"


def at(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return datetime(2026, 3, 2, int(h), int(m), tzinfo=UTC)


def test_v4_counts_and_whole_events(parse: Parse) -> None:
    rows, stats, rejects, reader = parse(V4)
    assert reader == "dhcpsrv"
    # 34 lines of legend and header and one blank line are no records.
    assert (stats.read, stats.stored, stats.rejected) == (15, 13, 2)
    assert dict(stats.kinds) == {"dhcp": 7, "generic": 6}
    assert [r["event.action"] for r in rows if r["kind"] == "dhcp"] == [
        "lease-assign", "lease-renew", "lease-renew", "lease-release", "lease-assign", "lease-deny",
        "lease-expire"]
    ev = dict(rows[2])
    assert ev.pop("src.file") == str(V4)
    assert len(ev.pop("src.digest")) == 64
    assert ev == {
        "ts": datetime(2025, 6, 16, 8, 41, 9, tzinfo=UTC),
        "host": "dhcp01",
        "host.name": "DHCP01",
        "kind": "dhcp",
        "src.record": 37,
        "src.format": "dhcpsrv",
        "event.id": "1234567",
        "event.code": "10",
        "event.provider": "Microsoft-Windows-DHCP-Server",
        "event.dataset": "dhcpsrv",
        "event.action": "lease-assign",
        "source.ip": "10.44.7.23",
        "source.domain": "WS-0042.corp.example",
        "source.host": "ws-0042",
        "message": "00:15:a1:b2:c3:d4",
        "raw": "10,06/16/25,08:41:09,Assign,10.44.7.23,WS-0042.corp.example,0015A1B2C3D4,,1234567,0,,,,"
               "0x4D53465420352E30,MSFT 5.0,,,,0",
    }
    dns = dict(rows[4])
    for k in ("src.file", "src.digest", "raw"):
        dns.pop(k)
    assert dns == {
        "ts": datetime(2025, 6, 16, 8, 41, 10, tzinfo=UTC),
        "host": "dhcp01",
        "host.name": "DHCP01",
        "kind": "generic",
        "src.record": 39,
        "src.format": "dhcpsrv",
        "event.code": "32",
        "event.provider": "Microsoft-Windows-DHCP-Server",
        "event.dataset": "dhcpsrv",
        "event.action": "dns-update",
        "event.outcome": "success",
        "source.ip": "10.44.7.23",
        "source.domain": "WS-0042.corp.example",
        "source.host": "ws-0042",
    }
    assert "event.id" not in rows[0] and rows[0]["event.action"] == "log-started"  # TransactionID 0: none
    # An ID the mapping does not list: its description is the action, Host Name (the domain,
    # for rogue detection) is not taken for a client.
    assert (rows[-1]["event.code"], rows[-1]["event.action"]) == ("55", "authorized(servicing)")
    assert "source.domain" not in rows[-1] and "source.host" not in rows[-1]


def test_v6_log(parse: Parse) -> None:
    rows, stats, rejects, reader = parse(V6)
    assert reader == "dhcpsrv" and not rejects
    assert (stats.read, stats.stored) == (3, 3)
    assert [(r["kind"], r["event.code"], r["event.action"]) for r in rows] == [
        ("generic", "11010", "service-started"), ("dhcp", "11002", "lease-assign"),
        ("dhcp", "11007", "lease-release")]
    ev = rows[1]
    assert ev["event.dataset"] == "dhcpsrv6" and ev["host"] == "dhcp01"
    assert (ev["source.ip"], ev["source.host"]) == ("2001:db8:44:7::23", "ws-0042")
    assert ev["message"] == "0001000130A1B2C30015A1B2C3D4"  # the client's DUID
    assert ev["ts"] == datetime(2025, 6, 16, 8, 41, 12, tzinfo=UTC)


def test_bad_lines_are_rejected_and_reading_goes_on(parse: Parse) -> None:
    rows, stats, rejects, _ = parse(V4)
    assert [(r.file, r.record, r.reason) for r in rejects] == [
        (str(V4), 45, "bad-field-count"), (str(V4), 47, "bad-timestamp")]
    assert "9 fields" in rejects[0].detail and "06/31/25" in rejects[1].detail
    assert dict(stats.reasons) == {"bad-field-count": 1, "bad-timestamp": 1}
    assert [r["src.record"] for r in rows if r["src.record"] > 45] == [46, 48, 49, 50]


def test_strict_stops_at_the_first_bad_line(parse: Parse) -> None:
    with pytest.raises(IngestError, match="record 45: bad-field-count"):
        parse(V4, strict=True)


def test_bad_ids_and_dates(tmp_path: Path, parse: Parse) -> None:
    path = dhcp_log(tmp_path / "DHCP02" / "DhcpSrvLog-Tue.log", [
        lease(10, "08:00", "10.44.8.10", "WS-A", "0015A1B2C001"),
        "1x,03/02/26,08:01:00,Assign,10.44.8.11,WS-B,0015A1B2C002,,1,0,,,,,,,,,0",
        "10,2026-03-02,08:02:00,Assign,10.44.8.12,WS-C,0015A1B2C003,,1,0,,,,,,,,,0",
        "10,03/02/26,25:02:00,Assign,10.44.8.12,WS-C,0015A1B2C003,,1,0,,,,,,,,,0",
        "10,03/02/26,08:03:00,Assign,not-an-address,WS-D,0015A1B2C004,,1,0,,,,,,,,,0",
    ])
    rows, stats, rejects, _ = parse(path)
    assert [(r.record, r.reason) for r in rejects] == [
        (10, "bad-id"), (11, "bad-timestamp"), (12, "bad-timestamp")]
    assert [r["source.domain"] for r in rows] == ["WS-A", "WS-D"]
    assert "source.ip" not in rows[1]  # an address that is none is left out, the event kept
    assert rows[0]["host"] == "dhcp02"


def test_older_layout_and_a_file_cut_below_its_header(tmp_path: Path, parse: Parse) -> None:
    old = dhcp_log(tmp_path / "DHCP03" / "DhcpSrvLog-Wed.log",
                   ["11,03/02/26,09:00:00,Renew,10.44.8.20,WS-E.corp.example,0015A1B2C0E0"],
                   header="ID,Date,Time,Description,IP Address,Host Name,MAC Address")
    rows, stats, rejects, reader = parse(old)
    assert reader == "dhcpsrv" and not rejects
    assert [(r["event.action"], r["source.ip"], r["source.host"], r["message"]) for r in rows] == [
        ("lease-renew", "10.44.8.20", "ws-e", "00:15:a1:b2:c0:e0")]
    cut = tmp_path / "DHCP03" / "part.log"
    cut.write_text(lease(10, "09:05", "10.44.8.21", "WS-F", "0015A1B2C0F0") + "\n"
                   + "12,03/02/26,09:06:00,Release,10.44.8.21,WS-F,0015A1B2C0F0\n"
                   + "10,03/02/26,09:07:00,Assign\n")
    rows, stats, rejects, reader = parse(cut)
    assert reader == "dhcpsrv"
    assert [(r["event.action"], r["source.ip"]) for r in rows] == [
        ("lease-assign", "10.44.8.21"), ("lease-release", "10.44.8.21")]
    assert [(r.record, r.reason) for r in rejects] == [(3, "bad-field-count")]


def test_time_zone_from_the_environment(tmp_path: Path, parse: Parse,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = dhcp_log(tmp_path / "DHCP04" / "DhcpSrvLog-Mon.log", [
        "10,06/16/25,08:41:09,Assign,10.44.7.23,WS-0042,0015A1B2C3D4,,1,0,,,,,,,,,0",  # summer: UTC-4
        "10,01/12/26,08:41:09,Assign,10.44.7.24,WS-0043,0015A1B2C3D5,,1,0,,,,,,,,,0",  # winter: UTC-5
    ])
    monkeypatch.setenv("WORMSIGN_DHCPSRV_TZ", "America/New_York")
    rows, *_ = parse(path)
    assert [r["ts"] for r in rows] == [datetime(2025, 6, 16, 12, 41, 9, tzinfo=UTC),
                                       datetime(2026, 1, 12, 13, 41, 9, tzinfo=UTC)]
    monkeypatch.setenv("WORMSIGN_DHCPSRV_TZ", "Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="unknown time zone"):
        parse(path)


def test_the_server_is_the_setting_or_the_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    m = load_mapping()

    def server(name: str) -> str | None:
        return server_of(Source(name, name.partition("!")[0]), m)

    assert server("/cases/DHCP01/DhcpSrvLog-Mon.log") == "DHCP01"
    assert server("/cases/dc02/C/Windows/System32/dhcp/DhcpSrvLog-Mon.log") == "dc02"  # KAPE
    assert server("/cases/dc03/uploads/auto/C%3A/Windows/System32/dhcp/DhcpSrvLog-Mon.log") == "dc03"
    assert server("/cases/DC04.zip!Windows/System32/dhcp/DhcpSrvLog-Mon.log") == "DC04"
    assert server("DhcpSrvLog-Mon.log") is None  # no folder names it: host '-'
    assert server("/cases/dhcp logs (copy)/DhcpSrvLog-Mon.log") is None  # not a host name
    monkeypatch.setenv("WORMSIGN_DHCPSRV_SERVER", "DHCP-HQ.corp.example")
    assert server("/cases/DHCP01/DhcpSrvLog-Mon.log") == "DHCP-HQ.corp.example"


def test_a_file_no_folder_names_is_no_hosts(tmp_path: Path, parse: Parse) -> None:
    log = dhcp_log(tmp_path / "src" / "DhcpSrvLog-Mon.log",
                   [lease(10, "08:00", "10.44.8.10", "WS-A", "00AA")])
    archive = tmp_path / "dhcp logs (copy).zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(log, "Windows/System32/dhcp/DhcpSrvLog-Mon.log")
    rows, stats, rejects, reader = parse(archive)
    assert reader == "dhcpsrv" and stats.stored == 1
    assert rows[0]["host"] == "-" and "host.name" not in rows[0]
    assert rows[0]["src.file"].endswith("dhcp logs (copy).zip!Windows/System32/dhcp/DhcpSrvLog-Mon.log")
    assert rows[0]["message"] == "00AA"  # not a 12-digit MAC: as written


def test_sniff_by_content_not_name(tmp_path: Path) -> None:
    r = DhcpSrvReader()
    src = Source("anything.txt", "anything.txt")
    assert r.sniff(V4.read_bytes()[:8192], src)
    assert r.sniff(V6.read_bytes()[:8192], src)
    assert r.sniff(HEADER.encode() + b"\r\n", src)  # the header alone
    assert r.sniff(lease(10, "08:00", "10.44.8.10", "WS-A", "0015A1B2C001").encode() + b"\r\n", src)
    lanl_head = (Path(__file__).resolve().parents[1] / "data" / "ingest" / "auth.txt").read_bytes()
    assert not r.sniff(lanl_head, Source("DhcpSrvLog-Mon.log", "DhcpSrvLog-Mon.log"))
    for other in (
        b"ElfFile\x00" + bytes(120),
        b'{"@timestamp":"2026-03-02T08:00:00Z","winlog":{"event_id":4624}}\n',
        b"#separator \\x09\n#fields\tts\tuid\n",
        b'{"ts":1772438400.0,"uid":"C1","id.orig_h":"10.0.0.1"}\n',
        b"time,source user@domain,destination user@domain\n1,U1@D,U1@D,C1,C1,NTLM,Network,LogOn,Success\n",
        b"10,06/16/25\n",  # a record's start, not a record
        b"",
    ):
        assert not r.sniff(other, src), other


def test_registry_picks_the_reader() -> None:
    for path in (V4, V6):
        src = Source(str(path), str(path))
        reader = pick(src, src.head(8192))
        assert reader is not None and reader.name == "dhcpsrv"
    lanl = Path(__file__).resolve().parents[1] / "data" / "ingest" / "auth.txt"
    src = Source(str(lanl), str(lanl))
    reader = pick(src, src.head(8192))
    assert reader is not None and reader.name == "lanl"


def _doc() -> dict[str, Any]:
    text = resources.files("wormsign.ingest").joinpath("mappings/dhcpsrv.yaml").read_text("utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def test_mapping_compiles_and_refuses_wrong_entries() -> None:
    m = load_mapping()
    assert m.events[10] == ("dhcp", "lease-assign", None) and m.events[0][0] == "generic"
    assert m.fields["ip"] == "source.ip" and m.columns["ip address"] == "ip"
    for path, value, msg in (
        (("fields", "ip"), "source.addr", "not a column"),
        (("events", "10"), ["lease", "lease-assign"], "unknown kind"),
        (("events", "32"), ["generic", "dns-update", "ok"], "bad outcome"),
        (("columns", "host name"), "hostname", "unknown role"),
        (("timezone",), "Nowhere/Town", "unknown time zone"),
    ):
        doc = _doc()
        node = doc
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        with pytest.raises(ValueError, match=msg):
            compile_mapping(doc)


# -- leases resolve addresses to hosts -------------------------------------------------------

def sysmon_inbound(case: Case, computer: str, minutes_events: list[tuple[datetime, str, int]]) -> None:
    """Sysmon 3 on a server: inbound SMB from an address, no client host name (as Sysmon often logs)."""
    src = Source("fs-sysmon.evtx", "fs-sysmon.evtx", digest="win-fs-sysmon")
    sink = Sink(src, "evtx", case.append_events)
    mapper = load_mapper()
    for i, (ts, ip, port) in enumerate(minutes_events, 1):
        row = mapper.map(WinEvent("Microsoft-Windows-Sysmon/Operational", None, 3, computer, ts, i, {
            "SourceIp": ip, "SourceHostname": "-", "SourcePort": str(port), "DestinationIp": "10.44.1.5",
            "DestinationHostname": "FS-01.corp.example", "DestinationPort": "445", "Initiated": "false",
            "Protocol": "tcp", "Image": "System"}, "{}"))
        row["src.record"] = i
        sink.add(row)
    sink.flush()


def test_a_lease_names_the_host_of_sysmon_connections(tmp_path: Path, case_path: Path) -> None:
    log = dhcp_log(tmp_path / "DHCP01" / "DhcpSrvLog-Mon.log", [
        lease(10, "08:00", "10.44.8.30", "WS-0042.corp.example", "0015A1B2C030")])
    with Case.open(str(case_path)) as case:
        ingest_paths([str(log)], case, workers=1)
        sysmon_inbound(case, "FS-01.corp.example", [(at("09:15"), "10.44.8.30", 50100)])
        resolve(case)
        assert case.rows("SELECT ip, host, evidence FROM host_addr WHERE ip = '10.44.8.30'") == [
            ("10.44.8.30", "ws-0042", "dhcp-lease")]
        assert case.rows("""SELECT host, "source.host" FROM events WHERE "event.code" = '3'""") == [
            ("fs-01", "ws-0042")]
        assert host_of(case, "10.44.8.30", at("09:15")) == "ws-0042"


def test_a_dhcp_move_resolves_each_time_to_the_holder(tmp_path: Path, case_path: Path) -> None:
    ip = "10.44.8.40"
    log = dhcp_log(tmp_path / "DHCP01" / "DhcpSrvLog-Mon.log", [
        lease(10, "08:00", ip, "WS-A.corp.example", "0015A1B2C0A0"),
        lease(11, "10:00", ip, "WS-A.corp.example", "0015A1B2C0A0", "Renew"),
        lease(12, "11:00", ip, "WS-A.corp.example", "0015A1B2C0A0", "Release"),
        lease(10, "11:30", ip, "WS-B.corp.example", "0015A1B2C0B0"),
        # Records about WS-A's old lease after WS-B got the address: they end a lease, they
        # are no evidence that WS-A holds it (counted, they would make a conflict).
        lease(16, "11:45", ip, "WS-A.corp.example", "0015A1B2C0A0", "Deleted"),
        lease(18, "12:30", ip, "WS-A.corp.example", "0015A1B2C0A0", "Expired"),
        f"30,03/02/26,12:31:00,DNS Update Request,{ip},WS-A.corp.example,,,0,6,,,,,,,,,0",
    ])
    with Case.open(str(case_path)) as case:
        ingest_paths([str(log)], case, workers=1)
        sysmon_inbound(case, "FS-01.corp.example", [
            (at("09:00"), ip, 50100), (at("10:59"), ip, 50101), (at("11:40"), ip, 50102),
            (at("12:45"), ip, 50103), (at("18:00"), ip, 50104)])
        rep = resolve(case)
        assert rep.conflicts == 0
        assert case.rows("SELECT ip, host, first_seen, last_seen, evidence FROM host_addr WHERE ip = ? "
                         "ORDER BY first_seen", [ip]) == [
            (ip, "ws-a", at("08:00"), at("10:00"), "dhcp-lease"),
            (ip, "ws-b", at("11:30"), at("11:30"), "dhcp-lease")]
        assert [h for (h,) in case.rows("""SELECT "source.host" FROM events WHERE "event.code" = '3'
                                           ORDER BY ts""")] == ["ws-a", "ws-a", "ws-b", "ws-b", "ws-b"]
        assert host_of(case, ip, at("07:00")) == "ws-a" and host_of(case, ip, at("11:31")) == "ws-b"
