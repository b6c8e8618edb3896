"""The LANL auth.txt reader: sniffing by content, counts, one whole event, bad lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wormsign.ingest.base import Source
from wormsign.ingest.lanl import LanlReader

Parse = Callable[..., Any]


def test_auth_txt_whole_event(parse: Parse, data: Path) -> None:
    path = data / "auth.txt"
    rows, stats, rejects, reader = parse(path)
    assert reader == "lanl"
    assert (stats.read, stats.stored, stats.rejected) == (5, 5, 0), rejects
    assert dict(stats.kinds) == {"auth": 5}
    ev = dict(rows[1])
    assert ev.pop("src.file") == str(path)
    assert len(ev.pop("src.digest")) == 64
    assert ev == {
        "ts": datetime(2015, 1, 1, 0, 0, 17, tzinfo=UTC),
        "host": "filesrv-b",
        "kind": "auth",
        "src.record": 2,
        "src.format": "lanl",
        "event.provider": "lanl",
        "event.dataset": "lanl.auth",
        "event.action": "logon",
        "event.outcome": "success",
        "host.name": "FILESRV-B",
        "user.name": "M.ABARA",
        "user.domain": "NORTHWIND",
        "winlog.logon.type": 3,
        "auth.package": "NTLM",
        "source.domain": "KIOSK-22",
        "source.host": "kiosk-22",
        "destination.domain": "FILESRV-B",
        "destination.host": "filesrv-b",
        "raw": "17,M.ABARA@NORTHWIND,M.ABARA@NORTHWIND,KIOSK-22,FILESRV-B,NTLM,Network,LogOn,Success",
    }
    failed = rows[3]
    assert (failed["event.outcome"], failed["host"], failed["source.host"]) == (
        "failure",
        "print-03",
        "kiosk-31",
    )
    assert rows[0]["user.target.name"] == "BKP-AGENT$"  # the source user, when it differs
    assert rows[0]["user.name"] == "R.TANAKA" and rows[0]["winlog.logon.type"] == 4
    assert "auth.package" not in rows[2] and "winlog.logon.type" not in rows[2]  # '?' is no value
    assert (rows[4]["event.action"], rows[4]["host"]) == ("kerberos-service-ticket", "dc-north")


def test_sniff_by_content_not_name() -> None:
    r = LanlReader()
    src = Source("anything.log", "anything.log")
    good = (
        b"3,BKP-AGENT$@NORTHWIND,R.TANAKA@NORTHWIND,KIOSK-14,KIOSK-14,Negotiate,Batch,LogOn,Success\n"
        b"8,J.VOSS@NORTHWIND,J.VOSS@NORTHWIND,LAPTOP-9Q,LAPTOP-9Q,?,?,LogOff,Su"
    )
    assert r.sniff(good, src)
    assert r.sniff(
        b"time,src_user,dst_user,src_comp,dst_comp,auth_type,logon_type,orientation,result\n" + good, src
    )
    assert not r.sniff(b"a,b,c,d,e,f,g,h,i\n1,2,3,4,5,6,7,8,9\n", src)  # no users
    assert not r.sniff(b"1,A.B@D,A.B@D,PC-1,PC-2\n", src)  # flows or other LANL files
    assert not r.sniff(b'{"ts": 1}\n', src)


def test_bad_lines_are_rejected_and_counted(parse: Parse, data: Path, tmp_path: Path) -> None:
    good = (data / "auth.txt").read_bytes()
    path = tmp_path / "auth.txt"
    path.write_bytes(
        good
        + b"40,A.B@NORTHWIND,A.B@NORTHWIND,PC-1,PC-2,NTLM\n"
        + b"x50,A.B@NORTHWIND,A.B@NORTHWIND,PC-1,PC-2,NTLM,Network,LogOn,Success\n"
        + b"60,A.B@NORTHWIND,A.B@NORTHWIND,PC-1,PC-2,NTLM,Network,LogOn,Success\n\xff\xfe,bad\n"
    )
    rows, stats, rejects, reader = parse(path)
    assert reader == "lanl"
    assert (stats.read, stats.stored, stats.rejected) == (9, 6, 3)
    assert dict(stats.reasons) == {"bad-line": 1, "no-timestamp": 1, "bad-encoding": 1}
    assert [(r.record, r.reason) for r in rejects] == [
        (6, "bad-line"),
        (7, "no-timestamp"),
        (9, "bad-encoding"),
    ]
    assert all(r.file == str(path) for r in rejects)
    assert rows[-1]["src.record"] == 8 and rows[-1]["ts"] == datetime(2015, 1, 1, 0, 1, 0, tzinfo=UTC)
