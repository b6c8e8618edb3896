"""Hostile evidence trees: names that are not UTF-8, unreadable files and folders, big zips,
JSON ``null`` lines, and re-ingest of all of it. Real files, a real case, the real CLI."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.ingest import IngestError, ingest_paths
from wormsign.ingest.base import Source
from wormsign.ingest.walk import digest, sources
from wormsign.store import Case

runner = CliRunner()


def _cli(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res.exit_code, " ".join(res.output.split())


def _zeek(n: int, start: int = 0) -> bytes:
    recs = [{"_path": "conn", "ts": 1_700_000_000 + start + i, "uid": f"C{start + i}",
             "id.orig_h": "10.0.0.5", "id.orig_p": 50000 + i, "id.resp_h": "10.0.0.9", "id.resp_p": 445,
             "proto": "tcp"} for i in range(n)]
    return b"\n".join(orjson.dumps(r) for r in recs) + b"\n"


def _tables(case_path: Path) -> dict[str, int]:
    with Case.open(str(case_path), read_only=True) as case:
        names = [r[0] for r in case.rows("SELECT table_name FROM information_schema.tables ORDER BY 1")]
        return {n: case.rows(f'SELECT count(*) FROM "{n}"')[0][0] for n in names}


def _reads_chmod_000(tmp_path: Path) -> bool:
    """Whether this process reads a file of mode 000 anyway (root, CAP_DAC_OVERRIDE)."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    probe.chmod(0)
    try:
        probe.read_bytes()
    except PermissionError:
        return False
    finally:
        probe.unlink()
    return True


# -- 1. names that are not UTF-8 --------------------------------------------------------------


def test_a_name_that_is_not_utf8_is_read_and_shown_escaped(data: Path, tmp_path: Path) -> None:
    tree = os.fsencode(tmp_path / "tree")
    os.makedirs(os.path.join(tree, b"host\xfe"))
    shutil.copyfile(data / "winlogbeat.ndjson", os.path.join(tree, b"bad\xff.ndjson.bak"))
    with open(os.path.join(tree, b"host\xfe", b"conn\xe9.log"), "wb") as fh:
        fh.write(_zeek(3) + b'{"_path": "conn", "ts": \n')
    case = tmp_path / "c.duckdb"
    code, out = _cli("ingest", os.fsdecode(tree), "--case", str(case), "-j", "1")
    assert code == 3, out  # the run finished; the one broken line is counted
    assert "7 stored" in out and "1 rejected" in out
    shown = str(tmp_path / "tree")
    with Case.open(str(case), read_only=True) as c:
        files = dict(c.rows('SELECT "src.file", count(*) FROM events GROUP BY 1'))
        assert files == {f"{shown}/bad\\xff.ndjson.bak": 4, f"{shown}/host\\xfe/conn\\xe9.log": 3}
        assert sorted(r[0] for r in c.rows("SELECT file FROM sources")) == sorted(files)
        assert c.rows("SELECT file, record, reason FROM rejects") == [
            (f"{shown}/host\\xfe/conn\\xe9.log", 4, "bad-json")
        ]
    assert f"host\\xfe/conn\\xe9.log record 4: bad-json" in out
    code, out = _cli("ingest", os.fsdecode(tree), "--case", str(case), "--strict", "-j", "1")
    assert code == 0, out  # already in the case: nothing read again
    code, out = _cli("ingest", os.fsdecode(tree), "--case", str(tmp_path / "s.duckdb"), "--strict", "-j", "1")
    assert code == 1 and "conn\\xe9.log record 4: bad-json" in out, out


def test_a_name_that_is_not_utf8_reads_with_workers_and_inside_a_zip(data: Path, tmp_path: Path) -> None:
    base = os.fsencode(tmp_path)
    with open(os.path.join(base, b"a\xff.log"), "wb") as fh:
        fh.write(_zeek(2))
    with open(os.path.join(base, b"b\xfe.log"), "wb") as fh:
        fh.write(_zeek(2, 100))
    with zipfile.ZipFile(os.fsdecode(os.path.join(base, b"z\xfd.zip")), "w") as zf:
        zf.writestr("m.log", _zeek(2, 200))
    with Case.open(str(tmp_path / "c.duckdb")) as case:
        report = ingest_paths([os.fsdecode(base)], case, workers=2)
        files = sorted(r[0] for r in case.rows('SELECT DISTINCT "src.file" FROM events'))
    assert report.stats.stored == 6 and report.stats.rejected == 0
    assert [f.rsplit("/", 1)[1] for f in files] == ["a\\xff.log", "b\\xfe.log", "z\\xfd.zip!m.log"]


# -- 3. zips are opened once ------------------------------------------------------------------


def test_a_zip_is_opened_once_not_once_a_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = 60
    with zipfile.ZipFile(tmp_path / "c.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for m in range(members):
            zf.writestr(f"h{m}/conn.log", _zeek(2, m * 10))
    opened: list[Any] = []
    real_init = zipfile.ZipFile.__init__

    def counting_init(self: zipfile.ZipFile, file: Any, *a: Any, **kw: Any) -> None:
        opened.append(file)
        real_init(self, file, *a, **kw)

    monkeypatch.setattr(zipfile.ZipFile, "__init__", counting_init)
    with Case.open(str(tmp_path / "c.duckdb")) as case:
        report = ingest_paths([str(tmp_path / "c.zip")], case, workers=1)
    assert report.files == members and report.stats.stored == 2 * members
    assert len(opened) <= 2, f"the zip was opened {len(opened)} times for {members} members"


# -- 4. unreadable files and folders --------------------------------------------------------


def test_unreadable_files_each_keep_their_own_row(tmp_path: Path) -> None:
    """Regular files that open but cannot be read (here /proc/self/mem, which fails with EIO
    even for root): each is its own unreadable file, under a digest that includes its path."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("a.log", "b.log", "c.log"):
        (tree / name).symlink_to("/proc/self/mem")
    (tree / "ok.log").write_bytes(_zeek(2))
    found = list(sources([str(tree)]))
    assert [type(s).__name__ for s in found] == ["Unreadable"] * 3 + ["Source"], found
    # A file that turns unreadable between the walk and its digest (open, then EIO) still
    # gets a digest of its own.
    digests = {n: digest(Source(n, str(tree / n))) for n in ("a.log", "b.log", "c.log")}
    assert len(set(digests.values())) == 3, digests
    case = tmp_path / "c.duckdb"
    code, out = _cli("ingest", str(tree), "--case", str(case), "-j", "1")
    assert code == 3, out
    assert "2 stored" in out and "3 rejected" in out
    with Case.open(str(case), read_only=True) as c:
        rej = c.rows("SELECT file, reason FROM rejects ORDER BY file")
    assert rej == [(str(tree / n), "unreadable") for n in ("a.log", "b.log", "c.log")]
    code, out = _cli("ingest", str(tree), "--case", str(tmp_path / "s.duckdb"), "--strict", "-j", "1")
    assert code == 1 and "a.log: unreadable" in out, out


def test_chmod_000_files_and_folders_are_reported(tmp_path: Path) -> None:
    if _reads_chmod_000(tmp_path):
        pytest.skip("this process reads files of mode 000 (root): chmod cannot make one unreadable here; "
                    "the /proc/self/mem test covers unreadable files")
    tree = tmp_path / "tree"
    (tree / "locked").mkdir(parents=True)
    (tree / "locked" / "inside.log").write_bytes(_zeek(1))
    for name in ("a.log", "b.log", "c.log"):
        (tree / name).write_bytes(_zeek(2, ord(name[0])))
        (tree / name).chmod(0)
    (tree / "locked").chmod(0)
    try:
        with Case.open(str(tmp_path / "c.duckdb")) as case:
            report = ingest_paths([str(tree)], case, workers=1)
            rej = case.rows("SELECT file, reason FROM rejects ORDER BY file")
            srcs = case.rows("SELECT count(DISTINCT digest) FROM sources")[0][0]
        assert report.stats.rejected == 4 and report.stats.stored == 0
        assert rej == [(str(tree / n), "unreadable") for n in ("a.log", "b.log", "c.log", "locked")]
        assert srcs == 4
        with pytest.raises(IngestError, match="locked: unreadable"):
            with Case.open(str(tmp_path / "s.duckdb")) as case:
                ingest_paths([str(tree / "locked")], case, workers=1, strict=True)
    finally:
        (tree / "locked").chmod(0o755)


# -- 7. JSON null lines ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["zeek", "ecs"])
def test_a_json_null_line_is_rejected_with_a_reason(fmt: str, data: Path, tmp_path: Path) -> None:
    if fmt == "zeek":
        good = _zeek(2).splitlines()
    else:
        good = (data / "winlogbeat.ndjson").read_bytes().splitlines()[:2]
    for name, text in (("mid.log", [good[0], b"null", good[1]]), ("first.log", [b"null", good[0], good[1]])):
        path = tmp_path / fmt / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"\n".join(text) + b"\n")
    with Case.open(str(tmp_path / f"{fmt}.duckdb")) as case:
        report = ingest_paths([str(tmp_path / fmt)], case, workers=1)
        rej = case.rows("SELECT file, record, reason, detail FROM rejects ORDER BY file")
        fmts = case.rows('SELECT DISTINCT "src.format" FROM events')
    assert report.stats.read == 6 and report.stats.stored == 4 and report.stats.rejected == 2, report.stats
    assert [(r[0].rsplit("/", 1)[1], r[1], r[2]) for r in rej] == [
        ("first.log", 1, "bad-json" if fmt == "zeek" else "bad-record"),
        ("mid.log", 2, "bad-json" if fmt == "zeek" else "bad-record"),
    ]
    assert all("null" in r[3] or "not a JSON object" in r[3] for r in rej), rej
    assert fmts == [(fmt,)] if fmt == "zeek" else len(fmts) == 1


# -- 11. re-ingest is idempotent, and stats agrees with ingest --------------------------------


def test_reingest_adds_no_row_of_any_kind_and_stats_agrees(data: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(data / "winlogbeat.ndjson", tree)
    (tree / "conn.log").write_bytes(_zeek(3) + b"{not json\n")
    (tree / "dangling.log").symlink_to(tmp_path / "gone")
    os.mkfifo(tree / "pipe")
    (tree / "junk.bin").write_bytes(bytes(range(256)) * 4)
    with zipfile.ZipFile(tree / "c.zip", "w") as zf:
        zf.writestr("m.log", _zeek(2, 50))
    case = tmp_path / "c.duckdb"
    code, first = _cli("ingest", str(tree), "--case", str(case), "-j", "1")
    assert code == 3, first
    m = re.search(r"([\d,]+) stored, ([\d,]+) rejected", first)
    assert m is not None, first
    stored, rejected = int(m[1]), int(m[2])
    assert (stored, rejected) == (9, 4), first  # bad-json, two unreadable, unknown-format
    before = _tables(case)
    for _ in range(2):
        code, again = _cli("ingest", str(tree), "--case", str(case), "-j", "1")
        assert code == 0, again
        assert "0 rejected" in again
        assert _tables(case) == before
    code, st = _cli("stats", "--case", str(case))
    assert code == 0, st
    assert f"{stored:,} events" in st and f"; {rejected:,} records rejected" in st, st
    assert "Files that could not be opened" in st
    with Case.open(str(case), read_only=True) as c:
        unread = c.rows("SELECT file FROM rejects WHERE reason = 'unreadable' ORDER BY 1")
    assert [f.rsplit("/", 1)[1] for (f,) in unread] == ["dangling.log", "pipe"]


def test_a_zip_member_name_flagged_utf8_that_is_not_costs_that_zip_only(tmp_path: Path) -> None:
    buf = tmp_path / "src.zip"
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("h\u00e9.log", _zeek(2))  # not ASCII: the name is flagged UTF-8
    raw = buf.read_bytes()
    assert raw.count("h\u00e9.log".encode()) == 2
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "bad.zip").write_bytes(raw.replace("h\u00e9.log".encode(), b"h\xff\xfe.log"))
    (tmp_path / "tree" / "ok.log").write_bytes(_zeek(3, 10))
    with Case.open(str(tmp_path / "c.duckdb")) as case:
        report = ingest_paths([str(tmp_path / "tree")], case, workers=1)
        rej = case.rows("SELECT file, reason, detail FROM rejects")
    assert report.stats.stored == 3 and report.stats.rejected == 1
    assert rej == [(str(tmp_path / "tree" / "bad.zip"), "unreadable",
                    "unreadable zip archive: a member name flagged UTF-8 is not UTF-8")]
