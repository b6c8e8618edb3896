"""Zeek TSV logs: counts, one whole expected event per log, broken lines, sniffing, the mapping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from wormsign.ingest import ingest_paths
from wormsign.ingest.base import Source
from wormsign.ingest.registry import pick
from wormsign.ingest.zeek import ZeekMapper, ZeekReader, epoch_ts, load_mapper, unescape, winpath
from wormsign.store import Case

DATA = Path(__file__).resolve().parents[1] / "data" / "zeek"

#: Columns compared in the whole expected events (all but the source pointer and raw).
COLS = (
    "ts", "host", "kind", "event.id", "event.code", "event.dataset", "event.action", "event.outcome",
    "source.ip", "source.port", "source.domain", "destination.ip", "destination.port", "destination.domain",
    "network.transport", "network.protocol", "network.bytes", "user.name", "user.domain", "auth.status",
    "auth.package", "service.name", "share.name", "share.path", "file.name", "file.size", "rpc.endpoint",
    "rpc.operation", "dns.question.name", "dns.answers", "message", "src.record", "src.format",
)


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def event(case: Case, where: str, params: list[Any]) -> dict[str, Any]:
    cols = ", ".join(f'"{c}"' for c in COLS)
    rows = case.rows(f"SELECT {cols} FROM events WHERE {where}", params)
    assert len(rows) == 1, rows
    got = dict(zip(COLS, rows[0], strict=True))
    return {k: v for k, v in got.items() if v is not None}


@pytest.fixture(scope="module")
def tsv_case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    """Every TSV fixture ingested once into a real case file (the tests only read it)."""
    case = Case.open(str(tmp_path_factory.mktemp("zeek") / "case.duckdb"))
    report = ingest_paths([str(p) for p in sorted(DATA.glob("*.log"))], case, workers=1)
    case.report = report  # type: ignore[attr-defined]
    yield case
    case.close()


def test_tsv_counts_and_rejects(tsv_case: Case) -> None:
    rep = tsv_case.report  # type: ignore[attr-defined]
    assert rep.files == 7 and rep.by_format == {"zeek": 7}
    assert rep.stats.read == 18 and rep.stats.stored == 16 and rep.stats.rejected == 2
    assert dict(rep.stats.reasons) == {"bad-field-count": 1, "bad-timestamp": 1}
    kinds = dict(tsv_case.rows("SELECT kind, count(*) FROM events GROUP BY 1"))
    assert kinds == {"network": 3, "dns": 2, "smb_file": 2, "smb_mapping": 2, "dce_rpc": 2, "ntlm": 2,
                     "kerberos": 2, "dhcp": 1}
    # Each broken line is named with its file and line; the lines after it were still read.
    rejects = tsv_case.rows("SELECT file, record, reason FROM rejects ORDER BY record")
    assert rejects == [(str(DATA / "conn.log"), 12, "bad-field-count"), (str(DATA / "conn.log"), 13, "bad-timestamp")]


def test_conn(tsv_case: Case) -> None:
    got = event(tsv_case, "kind = 'network' AND \"event.id\" = ?", ["Csk2Ad3VhYp0hRkCoa"])
    assert got == {
        "ts": ts("2026-03-02T09:14:07.250000"), "host": "10.10.1.21", "kind": "network",
        "event.id": "Csk2Ad3VhYp0hRkCoa", "event.code": "conn", "event.dataset": "zeek.conn",
        "event.action": "SF", "event.outcome": "success", "source.ip": "10.10.1.21", "source.port": 49732,
        "destination.ip": "10.10.1.35", "destination.port": 445, "network.transport": "tcp",
        "network.protocol": "smb,gssapi", "network.bytes": 48211 + 3120, "src.record": 9, "src.format": "zeek",
    }
    # A scan attempt nobody answered: S0 is a failure, and no service.
    s0 = event(tsv_case, '"event.id" = ?', ["Ck7tPo1xJfBqLmVh2"])
    assert s0["event.action"] == "S0" and s0["event.outcome"] == "failure" and "network.protocol" not in s0


def test_dns_in_second_header_block(tsv_case: Case) -> None:
    # conn.log carries a second header block (#path dns) after the conn records.
    got = event(tsv_case, '"event.id" = ?', ["Cd1Yq3e4Zl5Nw6Ab7"])
    assert got == {
        "ts": ts("2026-03-02T09:14:06.100000"), "host": "10.10.1.21", "kind": "dns",
        "event.id": "Cd1Yq3e4Zl5Nw6Ab7", "event.code": "dns", "event.dataset": "zeek.dns", "event.action": "A",
        "source.ip": "10.10.1.21", "source.port": 58022, "destination.ip": "10.10.1.2", "destination.port": 53,
        "network.transport": "udp", "network.protocol": "dns", "dns.question.name": "update.example-cdn.net",
        "dns.answers": "edge.example-cdn.net;203.0.113.7", "src.record": 23, "src.format": "zeek",
    }
    nx = event(tsv_case, '"event.id" = ?', ["Cd2Yq3e4Zl5Nw6Ab8"])
    assert "dns.answers" not in nx  # unset (-) is null


def test_smb_files(tsv_case: Case) -> None:
    got = event(tsv_case, "kind = 'smb_file' AND \"event.action\" = 'SMB::FILE_WRITE'", [])
    assert got == {
        "ts": ts("2026-03-02T09:14:08.020000"), "host": "10.10.1.21", "kind": "smb_file",
        "event.id": "Csk2Ad3VhYp0hRkCoa", "event.code": "smb_files", "event.dataset": "zeek.smb_files",
        "event.action": "SMB::FILE_WRITE", "source.ip": "10.10.1.21", "source.port": 49732,
        "destination.ip": "10.10.1.35", "destination.port": 445, "network.protocol": "smb",
        # Zeek doubles backslashes in its logs; the model holds the path as Windows writes it.
        "share.name": "\\\\10.10.1.35\\ADMIN$", "share.path": "Windows\\Temp\\wq7dbe.exe",
        "file.name": "wq7dbe.exe", "file.size": 48128, "src.record": 9, "src.format": "zeek",
    }


def test_smb_mapping(tsv_case: Case) -> None:
    got = event(tsv_case, "kind = 'smb_mapping' AND \"event.action\" = 'DISK'", [])
    assert got == {
        "ts": ts("2026-03-02T09:14:07.900000"), "host": "10.10.1.21", "kind": "smb_mapping",
        "event.id": "Csk2Ad3VhYp0hRkCoa", "event.code": "smb_mapping", "event.dataset": "zeek.smb_mapping",
        "event.action": "DISK", "source.ip": "10.10.1.21", "source.port": 49732, "destination.ip": "10.10.1.35",
        "destination.port": 445, "network.protocol": "smb", "share.name": "\\\\10.10.1.35\\ADMIN$",
        "src.record": 9, "src.format": "zeek",
    }


def test_dce_rpc(tsv_case: Case) -> None:
    got = event(tsv_case, "kind = 'dce_rpc' AND \"rpc.operation\" = 'CreateServiceW'", [])
    assert got == {
        "ts": ts("2026-03-02T09:14:09.200000"), "host": "10.10.1.21", "kind": "dce_rpc",
        "event.id": "Csk2Ad3VhYp0hRkCoa", "event.code": "dce_rpc", "event.dataset": "zeek.dce_rpc",
        "source.ip": "10.10.1.21", "source.port": 49732, "destination.ip": "10.10.1.35", "destination.port": 445,
        "network.protocol": "dce_rpc", "rpc.endpoint": "svcctl", "rpc.operation": "CreateServiceW",
        "share.path": "\\pipe\\ntsvcs", "src.record": 10, "src.format": "zeek",
    }


def test_ntlm(tsv_case: Case) -> None:
    got = event(tsv_case, "kind = 'ntlm' AND \"event.outcome\" = 'failure'", [])
    assert got == {
        "ts": ts("2026-03-02T09:14:10.400000"), "host": "10.10.1.21", "kind": "ntlm",
        "event.id": "Cn1Lk2Jh3Gf4Ds5Aa", "event.code": "ntlm", "event.dataset": "zeek.ntlm",
        "event.outcome": "failure", "source.ip": "10.10.1.21", "source.port": 49750, "source.domain": "WS-0021",
        "destination.ip": "10.10.1.40", "destination.port": 445, "destination.domain": "WS-0040",
        "network.protocol": "ntlm", "user.name": "administrator", "user.domain": "CORP", "auth.package": "NTLM",
        "src.record": 10, "src.format": "zeek",
    }


def test_kerberos(tsv_case: Case) -> None:
    failed = event(tsv_case, "kind = 'kerberos' AND \"event.outcome\" = 'failure'", [])
    assert failed == {
        "ts": ts("2026-03-02T09:14:05.500000"), "host": "10.10.1.22", "kind": "kerberos",
        "event.id": "Ck1Rb2Tc3Ud4Ve5Wg", "event.code": "kerberos", "event.dataset": "zeek.kerberos",
        "event.action": "AS", "event.outcome": "failure", "source.ip": "10.10.1.22", "source.port": 49691,
        "destination.ip": "10.10.1.2", "destination.port": 88, "network.protocol": "kerberos",
        "user.name": "jdoe", "user.domain": "CORP.EXAMPLE", "service.name": "krbtgt/CORP.EXAMPLE",
        "auth.status": "KDC_ERR_PREAUTH_FAILED", "auth.package": "Kerberos", "src.record": 10, "src.format": "zeek",
    }
    # A machine account names its host: the evidence the resolver uses.
    machine = event(tsv_case, "kind = 'kerberos' AND \"event.outcome\" = 'success'", [])
    assert machine["user.name"] == "WS-0021$" and machine["source.domain"] == "WS-0021"


def test_dhcp(tsv_case: Case) -> None:
    got = event(tsv_case, "kind = 'dhcp'", [])
    assert got == {
        "ts": ts("2026-03-02T06:00:00"), "host": "10.10.1.21", "kind": "dhcp", "event.code": "dhcp",
        "event.dataset": "zeek.dhcp", "event.action": "DISCOVER;OFFER;REQUEST;ACK", "source.ip": "10.10.1.21",
        "source.domain": "WS-0021", "destination.ip": "10.10.1.2", "network.protocol": "dhcp",
        "user.domain": "corp.example", "message": "00:15:5d:0a:01:21", "src.record": 9, "src.format": "zeek",
    }


def test_raw_keeps_the_record(tsv_case: Case) -> None:
    import json

    raw = tsv_case.rows("SELECT raw FROM events WHERE kind = 'dhcp'")[0][0]
    doc = json.loads(raw)
    assert doc["uids"] == ["Ch1Aa2Bb3Cc4Dd5Ee", "Ch1Aa2Bb3Cc4Dd5Ef"] and doc["client_addr"] is None


def test_other_logs_are_generic_and_unknown_lines_rejected(tmp_path: Path, case_path: Path) -> None:
    p = tmp_path / "weird.log"
    p.write_text(
        "#separator \\x09\ndata before the #fields header\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tweird\n"
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tname\taddl\tnotice\tpeer\n"
        "#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tbool\tstring\n"
        "1772442860.5\tCw1\t10.10.1.50\t5000\t10.10.1.2\t53\tdns_unmatched_msg\t-\tF\tzeek\n"
        "1772442861.5\t-\t-\t-\t-\t-\tip_hdr_len_zero\t-\tF\tzeek\n"
        "#separator \\x09\n#path\tstats\n#fields\tts\tpeer\tmem\n#types\ttime\tstring\tcount\n"
        "1772442900.0\tsensor-1\t512\n"
    )
    with Case.open(str(case_path)) as case:
        rep = ingest_paths([str(p)], case, workers=1)
        assert rep.stats.stored == 3
        assert dict(rep.stats.reasons) == {"no-header": 1}
        assert case.rows("SELECT record, reason FROM rejects ORDER BY record") == [(2, "no-header")]
        rows = case.rows('SELECT kind, host, "event.dataset", "source.ip", "event.action" FROM events '
                         "ORDER BY ts")
    # A weird with no address is no host's ("-"), never a pseudo-host; so are Zeek's own stats.
    assert rows == [("generic", "10.10.1.50", "zeek.weird", "10.10.1.50", "dns_unmatched_msg"),
                    ("generic", "-", "zeek.weird", None, "ip_hdr_len_zero"),
                    ("generic", "-", "zeek.stats", None, None)]


def test_sniff_claims_zeek_only() -> None:
    r = ZeekReader()
    src = Source("x", "x")
    assert r.sniff((DATA / "conn.log").read_bytes()[:4096], src)
    assert r.sniff((DATA / "json" / "conn.json").read_bytes()[:4096], src)
    assert r.sniff((DATA / "json" / "mixed.json").read_bytes()[:4096], src)
    # Winlogbeat/ECS JSON, OTRF flat JSON, LANL CSV and EVTX belong to other readers.
    assert not r.sniff(b'{"@timestamp":"2026-03-02T09:14:07Z","event":{"code":"4624"},"host":{"name":"ws"}}\n', src)
    assert not r.sniff(b'{"EventID":4624,"Hostname":"ws-1","Channel":"Security","ts":"x"}\n', src)
    assert not r.sniff(b"1,U1@DOM1,U1@DOM1,C1,C1,Kerberos,Network,LogOn,Success\n", src)
    assert not r.sniff(b"ElfFile\x00" + bytes(100), src)
    # The registry hands Zeek content to this reader, whatever the file is called.
    assert type(pick(Source("capture.txt", "capture.txt"), (DATA / "ntlm.log").read_bytes()[:4096])) is ZeekReader
    assert type(pick(Source("x.ndjson", "x.ndjson"), (DATA / "json" / "dns.json").read_bytes()[:4096])) is ZeekReader


def test_values() -> None:
    assert epoch_ts("1772442847.25") == ts("2026-03-02T09:14:07.250000")
    assert epoch_ts(1772442847.25) == ts("2026-03-02T09:14:07.250000")
    assert epoch_ts("2026-03-02T09:14:07.250000Z") == ts("2026-03-02T09:14:07.250000")
    assert epoch_ts("-") is None and epoch_ts("soon") is None and epoch_ts(True) is None
    assert unescape("a\\x09b\\xc3\\xa9") == "a\tbé"
    assert winpath("\\\\\\\\h\\\\C$") == "\\\\h\\C$" and winpath("\\\\h\\C$") == "\\\\h\\C$"


def test_mapping_targets_are_schema_columns() -> None:
    load_mapper()  # the shipped mapping compiles: every target is a column, every kind known
    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "src/wormsign/ingest/mappings/zeek.yaml").read_text())
    doc["logs"]["conn"]["fields"]["service"] = "network.service"
    with pytest.raises(ValueError, match="network.service"):
        ZeekMapper(doc)
    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "src/wormsign/ingest/mappings/zeek.yaml").read_text())
    doc["logs"]["dns"]["kind"] = "dnsx"
    with pytest.raises(ValueError, match="dnsx"):
        ZeekMapper(doc)


def test_hostile_values_are_bounded(tmp_path: Path, case_path: Path) -> None:
    head = (DATA / "dce_rpc.log").read_text().split("\n")[:8]
    huge = "9" * 5000
    lines = [
        # a ts of 5000 digits, then one beyond year 9999: bad timestamps, not a crash
        f"{huge}\tCx1\t10.1.1.1\t1\t10.1.1.2\t445\t0.1\t-\tsvcctl\tOpenSCManagerW",
        "99999999999999.5\tCx2\t10.1.1.1\t1\t10.1.1.2\t445\t0.1\t-\tsvcctl\tOpenSCManagerW",
        # ports that do not fit int64, in Unicode digits: left out, the record kept
        f"1772442849.5\tCx3\t10.1.1.1\t{huge}\t10.1.1.2\t\u00b2\t0.1\t-\tsvcctl\tCreateServiceW",
    ]
    p = tmp_path / "dce_rpc.log"
    p.write_text("\n".join(head + lines) + "\n")
    j = tmp_path / "conn.json"
    j.write_text(
        # a count beyond int64 is left out; a sum that would overflow too
        '{"ts":1772442849.5,"uid":"Cj1","id.orig_h":"10.1.1.1","orig_bytes":123456789012345678901234567890,'
        '"resp_bytes":5,"conn_state":"SF"}\n'
        '{"ts":1772442849.5,"uid":"Cj2","id.orig_h":"10.1.1.1","orig_bytes":9223372036854775807,'
        '"resp_bytes":1,"conn_state":"SF"}\n'
    )
    with Case.open(str(case_path)) as case:
        rep = ingest_paths([str(p), str(j)], case, workers=1)
        assert rep.stats.stored == 3 and dict(rep.stats.reasons) == {"bad-timestamp": 2}
        rows = case.rows('SELECT "event.id", "source.port", "destination.port", "network.bytes" FROM events ORDER BY 1')
    assert rows == [("Cj1", None, None, 5), ("Cj2", None, None, None), ("Cx3", None, None, None)]
