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
        "ts": datetime(2015, 1, 1, 0, 0, 1, tzinfo=UTC),
        "host": "c586",
        "kind": "auth",
        "src.record": 2,
        "src.format": "lanl",
        "event.provider": "lanl",
        "event.dataset": "lanl.auth",
        "event.action": "logon",
        "event.outcome": "success",
        "host.name": "C586",
        "user.name": "ANONYMOUS LOGON",
        "user.domain": "C586",
        "winlog.logon.type": 3,
        "auth.package": "NTLM",
        "source.domain": "C1250",
        "source.host": "c1250",
        "destination.domain": "C586",
        "destination.host": "c586",
        "raw": "1,ANONYMOUS LOGON@C586,ANONYMOUS LOGON@C586,C1250,C586,NTLM,Network,LogOn,Success",
    }
    failed = rows[3]
    assert (failed["event.outcome"], failed["host"], failed["source.host"]) == ("failure", "c612", "c10")
    assert rows[0]["user.target.name"] == "C625$"  # the source user, when it differs
    assert "auth.package" not in rows[2] and "winlog.logon.type" not in rows[2]  # '?' is no value


def test_sniff_by_content_not_name() -> None:
    r = LanlReader()
    src = Source("anything.log", "anything.log")
    good = (
        b"1,C625$@DOM1,U147@DOM1,C625,C625,Negotiate,Batch,LogOn,Success\n"
        b"2,U22@DOM1,U22@DOM1,C1065,C1065,?,?,LogOff,Su"
    )
    assert r.sniff(good, src)
    assert r.sniff(
        b"time,src_user,dst_user,src_comp,dst_comp,auth_type,logon_type,orientation,result\n" + good, src
    )
    assert not r.sniff(b"a,b,c,d,e,f,g,h,i\n1,2,3,4,5,6,7,8,9\n", src)  # no users
    assert not r.sniff(b"1,U1@D,U1@D,C1,C2\n", src)  # flows or other LANL files
    assert not r.sniff(b'{"ts": 1}\n', src)


def test_bad_lines_are_rejected_and_counted(parse: Parse, data: Path, tmp_path: Path) -> None:
    good = (data / "auth.txt").read_bytes()
    path = tmp_path / "auth.txt"
    path.write_bytes(
        good
        + b"4,U1@DOM1,U1@DOM1,C1,C2,NTLM\nx5,U1@DOM1,U1@DOM1,C1,C2,NTLM,Network,LogOn,Success\n"
        + b"6,U1@DOM1,U1@DOM1,C1,C2,NTLM,Network,LogOn,Success\n\xff\xfe,bad\n"
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
    assert rows[-1]["src.record"] == 8 and rows[-1]["ts"] == datetime(2015, 1, 1, 0, 0, 6, tzinfo=UTC)
