"""Zeek JSON logs: the log from ``_path`` or the field set, epoch and ISO times, nested ids, broken lines."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from test_zeek import event

from wormsign.ingest import ingest_paths
from wormsign.ingest.base import IngestError, Source
from wormsign.ingest.zeek import ZeekReader, log_from_name, load_mapper
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
        # A log with no kind of its own is kept, as generic.
        http = event(case, '"event.code" = ?', ["http"])
        assert (http["kind"], http["event.dataset"], http["destination.ip"]) == ("generic", "zeek.http", "198.51.100.9")


def test_gzip_and_reingest_adds_nothing(tmp_path: Path, case_path: Path) -> None:
    gz = tmp_path / "smb_files.20260302.log.gz"
    gz.write_bytes(gzip.compress((DATA / "smb_files.json").read_bytes()))
    with Case.open(str(case_path)) as case:
        assert ingest_paths([str(gz)], case, workers=1).stats.stored == 1
        again = ingest_paths([str(gz)], case, workers=1)
        assert again.skipped == 1 and again.stats.stored == 0 and case.count() == 1


def _lines(*docs: dict[str, object]) -> str:
    return "".join(json.dumps(d) + "\n" for d in docs)


SHIPPED = {"@system": "sensor-7", "@proc": "zeek"}


def test_shipped_layout_underscored_fields_and_stream(tmp_path: Path, case_path: Path) -> None:
    """Sensor pipelines rename id.orig_h to id_orig_h and name the log in @stream: the same meaning."""
    ids = {"id_orig_h": "10.1.0.7", "id_orig_p": 50000, "id_resp_h": "10.1.0.9", "id_resp_p": 445}
    (tmp_path / "a.log").write_text(_lines(
        {"@stream": "smb_mapping", **SHIPPED, "ts": 1700000000.5, "uid": "C1", **ids, "path": "\\\\H\\C$",
         "share_type": "DISK"},
        # is_orig T: the originator sent the file; F: the responder did, the receiver is the originator.
        {"@stream": "files", **SHIPPED, "ts": 1700000001.0, "fuid": "F1", "tx_hosts": ["10.1.0.7"],
         "rx_hosts": ["10.1.0.9"], "is_orig": True, "source": "SMB", "filename": "evil.exe", "md5": "ab" * 16,
         "sha256": "cd" * 32, "total_bytes": 9},
        {"@stream": "files", **SHIPPED, "ts": 1700000002.0, "fuid": "F2", "tx_hosts": ["203.0.113.5"],
         "rx_hosts": ["10.1.0.7"], "is_orig": False, "source": "SSL",
         "mime_type": "application/x-x509-user-cert"},
        {"@stream": "x509", **SHIPPED, "ts": 1700000002.0, "id": "F2",
         "certificate_subject": "CN=c2.example"},
        {"@stream": "loaded_scripts", **SHIPPED, "name": "/usr/share/zeek/base/init-bare.zeek"},
        {"@stream": "stats", **SHIPPED, "ts": 1700000003.0, "peer": "zeek", "mem": 96},
    ))
    with Case.open(str(case_path)) as case:
        rep = ingest_paths([str(tmp_path / "a.log")], case, workers=1)
        assert rep.by_format == {"zeek": 1}
        # the stats record is the sensor's (host '-'); loaded_scripts has no time: rejected, counted
        assert (rep.stats.stored, dict(rep.stats.reasons)) == (5, {"zeek-housekeeping": 1})
        rows = case.rows('SELECT "event.code", kind, host, "event.provider", "event.id", "source.ip", '
                         '"destination.ip", "share.name", "file.name", "file.hash.sha256", message '
                         "FROM events ORDER BY ts")
    assert rows == [
        ("smb_mapping", "smb_mapping", "10.1.0.7", "sensor-7", "C1", "10.1.0.7", "10.1.0.9", "\\\\H\\C$",
         None, None, None),
        ("files", "generic", "10.1.0.7", "sensor-7", "F1", "10.1.0.7", "10.1.0.9", None, "evil.exe",
         "cd" * 32, None),
        ("files", "generic", "10.1.0.7", "sensor-7", "F2", "10.1.0.7", "203.0.113.5", None, None, None,
         "application/x-x509-user-cert"),
        ("x509", "generic", "-", "sensor-7", "F2", None, None, None, None, None, "CN=c2.example"),
        ("stats", "generic", "-", "sensor-7", None, None, None, None, None, None, None),
    ]


def test_log_from_fields_then_file_name(tmp_path: Path, case_path: Path) -> None:
    """No _path or @stream: the log is the one whose fields the record has, else the file name's."""
    (tmp_path / "NASHUA_x509.log").write_text(_lines(
        {"ts": 1700000000.0, "id": "F9", "certificate": {"subject": "CN=a", "issuer": "CN=b"}}))
    (tmp_path / "S1_dpd.log").write_text(_lines({"ts": 1700000001.0, "uid": "C9", "id_orig_h": "10.1.0.8"}))
    with Case.open(str(case_path)) as case:
        rep = ingest_paths([str(tmp_path)], case, workers=1)
        assert (rep.stats.stored, rep.stats.rejected) == (2, 0)
        rows = case.rows('SELECT "event.code", host, message FROM events ORDER BY ts')
    assert rows == [("x509", "-", "CN=a"), ("dpd", "10.1.0.8", None)]
    known = load_mapper().known()
    assert log_from_name("/x/UTICA-A_smb_files.log", known) == "smb_files"
    assert log_from_name("/x/a.zip!logs/conn.00:00:00-01:00:00.log.gz", known) == "conn"
    assert log_from_name("/x/NEWYORK_loaded_scripts.log", known) == "loaded_scripts"
    assert log_from_name("/x/notes.log", known) is None and log_from_name("/x/xfiles.log", known) is None


def test_sniff_shipped_zeek_and_strict(tmp_path: Path, case_path: Path) -> None:
    r, src = ZeekReader(), Source("x", "x")
    assert r.sniff(b'{"@stream":"loaded_scripts","@system":"s","@proc":"zeek","name":"a.zeek"}\n', src)
    assert r.sniff(b'{"@stream":"x509","@system":"s","@proc":"zeek","ts":1.0,"id":"F1"}\n', src)
    assert r.sniff(b'{"ts":1.0,"fuid":"F1","tx_hosts":["10.0.0.1"]}\n', src)
    assert r.sniff(b'{"ts":1.0,"uid":"C1","id_orig_h":"10.0.0.1","id_orig_p":1,"id_resp_h":"10.0.0', src)
    assert not r.sniff(b'{"@stream":"app","@proc":"nginx","msg":"x"}\n', src)
    # --strict stops on a bad record, but not on Zeek's housekeeping, which is well formed.
    p = tmp_path / "x.log"
    p.write_text(_lines({"@stream": "loaded_scripts", **SHIPPED, "name": "a.zeek"},
                        {"@stream": "conn", **SHIPPED, "ts": 1.0, "uid": "C1", "id_orig_h": "10.1.0.1"})
                 + '{"@stream": "conn", "ts": 2.0, "uid": \n')
    with Case.open(str(case_path)) as case, pytest.raises(IngestError, match=r"x\.log record 3: bad-json"):
        ingest_paths([str(p)], case, workers=1, strict=True)
