"""Zeek JSON logs: the log from ``_path`` or the field set, epoch and ISO times, nested ids, broken lines."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

from test_zeek import event

from wormsign.ingest import ingest_paths
from wormsign.store import Case

DATA = Path(__file__).resolve().parents[1] / "data" / "zeek" / "json"


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def test_json_logs(case_path: Path) -> None:
    with Case.open(str(case_path)) as case:
        rep = ingest_paths([str(DATA)], case, workers=1)
        assert rep.files == 4 and rep.by_format == {"zeek": 4}
        assert rep.stats.read == 12 and rep.stats.stored == 10 and dict(rep.stats.reasons) == {"bad-json": 2}
        rejects = case.rows("SELECT file, record, reason FROM rejects ORDER BY record")
        assert rejects == [(str(DATA / "conn.json"), 3, "bad-json"), (str(DATA / "conn.json"), 4, "bad-json")]
        kinds = dict(case.rows('SELECT "event.code", count(*) FROM events GROUP BY 1'))
        assert kinds == {"conn": 2, "dns": 1, "smb_files": 1, "smb_mapping": 1, "dce_rpc": 1, "ntlm": 1,
                         "kerberos": 1, "dhcp": 1, "http": 1}

        # No _path: conn is known from its fields (conn_state, ...), not from the file name.
        rej = event(case, '"event.id" = ?', ["CJs1Aa2Bb3Cc4Dd5E7"])
        assert rej == {
            "ts": ts("2026-03-02T09:15:48.500000"), "host": "10.10.1.35", "kind": "network",
            "event.id": "CJs1Aa2Bb3Cc4Dd5E7", "event.code": "conn", "event.dataset": "zeek.conn",
            "event.action": "REJ", "event.outcome": "failure", "source.ip": "10.10.1.35", "source.port": 49812,
            "destination.ip": "10.10.1.37", "destination.port": 445, "network.transport": "tcp",
            "network.bytes": 0, "src.record": 2, "src.format": "zeek",
        }
        # ISO 8601 time (json_timestamps=JSON::TS_ISO8601), answers as a JSON list.
        dns = event(case, "kind = 'dns'", [])
        assert dns["ts"] == ts("2026-03-02T09:15:46.100000") and dns["dns.answers"] == "198.51.100.9"
        assert dns["dns.question.name"] == "c2.bad-example.org"
        # Nested {"id": {"orig_h": ...}} as some shippers write it; doubled backslashes undone.
        smb = event(case, "kind = 'smb_file'", [])
        assert smb == {
            "ts": ts("2026-03-02T09:15:50.750000"), "host": "10.10.1.35", "kind": "smb_file",
            "event.id": "CJs1Aa2Bb3Cc4Dd5E6", "event.code": "smb_files", "event.dataset": "zeek.smb_files",
            "event.action": "SMB::FILE_WRITE", "source.ip": "10.10.1.35", "source.port": 49811,
            "destination.ip": "10.10.1.36", "destination.port": 445, "network.protocol": "smb",
            "share.name": "\\\\10.10.1.36\\C$", "share.path": "Users\\Public\\svchost32.exe",
            "file.name": "svchost32.exe", "file.size": 40960, "src.record": 1, "src.format": "zeek",
        }
        rpc = event(case, "kind = 'dce_rpc'", [])
        assert (rpc["rpc.endpoint"], rpc["rpc.operation"], rpc["share.path"]) == ("atsvc", "SchedulerJobAdd",
                                                                                  "\\pipe\\atsvc")
        ntlm = event(case, "kind = 'ntlm'", [])
        assert (ntlm["source.domain"], ntlm["destination.domain"], ntlm["event.outcome"]) == ("WS-0035", "WS-0036",
                                                                                             "success")
        krb = event(case, "kind = 'kerberos'", [])
        assert (krb["user.name"], krb["service.name"], krb["event.action"]) == ("adm-svc", "cifs/ws-0036.corp.example",
                                                                               "TGS")
        assert "source.domain" not in krb  # a user, not a machine account: names no host
        # Modern dhcp has no uid and no id.*: the host is the assigned address.
        dhcp = event(case, "kind = 'dhcp'", [])
        assert (dhcp["host"], dhcp["source.ip"], dhcp["source.domain"]) == ("10.10.1.35", "10.10.1.35", "WS-0035")
        # A log the mapping does not know is kept, as generic.
        http = event(case, '"event.code" = ?', ["http"])
        assert (http["kind"], http["event.dataset"], http["destination.ip"]) == ("generic", "zeek.http", "198.51.100.9")


def test_gzip_and_reingest_adds_nothing(tmp_path: Path, case_path: Path) -> None:
    gz = tmp_path / "smb_files.20260302.log.gz"
    gz.write_bytes(gzip.compress((DATA / "smb_files.json").read_bytes()))
    with Case.open(str(case_path)) as case:
        assert ingest_paths([str(gz)], case, workers=1).stats.stored == 1
        again = ingest_paths([str(gz)], case, workers=1)
        assert again.skipped == 1 and again.stats.stored == 0 and case.count() == 1
