"""Feed and scan files: unreadable, empty, oversized and non-regular ones are named, and the run goes on."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from intel_cases import DATA
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.intel.importer import IntelImportError, import_file, read_text
from wormsign.intel.indicators import config
from wormsign.intel.store import IntelStore
from wormsign.intel.yarascan import compile_rules, scan

runner = CliRunner()
PROC = "/proc/self/maps"  # a regular file whose size reads 0 however much it holds


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail (rather than hang) a test whose code blocks opening a FIFO."""

    def boom(*_: object) -> None:
        raise TimeoutError("blocked reading a FIFO")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def feed_folder(tmp_path: Path) -> Path:
    d = tmp_path / "feeds"
    d.mkdir()
    (d / "a_good.txt").write_text("203.0.113.50:443\n", encoding="utf-8")
    (d / "b_latin1.txt").write_bytes("c2.example.net # caf\xe9\n".encode("latin-1"))
    (d / "c_empty.txt").write_bytes(b"")
    (d / "d_blank.csv").write_text("\n  \n", encoding="utf-8")
    (d / "e_comments.txt").write_text("# nothing here yet\n", encoding="utf-8")
    (d / "f_good.txt").write_text("198.51.100.77\nbad-c2.example.com\n", encoding="utf-8")
    return d


def test_import_goes_on_after_unreadable_and_empty_files(tmp_path: Path) -> None:
    d = feed_folder(tmp_path)
    store = tmp_path / "i.duckdb"
    r = runner.invoke(app, ["intel", "import", str(d), "--store", str(store), "--family", "emotet"])
    assert r.exit_code == 3, r.output
    assert "3 indicators imported" in r.output and "0 rows rejected" in r.output
    assert "4 files rejected" in r.output
    assert f"{d / 'b_latin1.txt'}: not UTF-8 text (byte 20)" in r.output
    assert f"{d / 'c_empty.txt'}: empty file: no indicators" in r.output
    assert f"{d / 'd_blank.csv'}: empty file: no indicators" in r.output
    assert f"{d / 'e_comments.txt'}: no indicators found (read as list)" in r.output
    with IntelStore.open(str(store), read_only=True) as s:
        got = {i.value for i in s.indicators()}
    assert got == {"203.0.113.50:443", "198.51.100.77", "bad-c2.example.com"}


def test_import_strict_stops_at_the_first_bad_file(tmp_path: Path) -> None:
    d = feed_folder(tmp_path)
    store = tmp_path / "i.duckdb"
    args = ["intel", "import", str(d), "--store", str(store), "--family", "emotet", "--strict"]
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and f"{d / 'b_latin1.txt'}: not UTF-8 text" in r.output
    assert "indicators imported" not in r.output


def test_one_empty_feed_is_not_a_clean_import(tmp_path: Path) -> None:
    f = tmp_path / "empty.json"
    f.write_bytes(b"")
    r = runner.invoke(app, ["intel", "import", str(f), "--store", str(tmp_path / "i.duckdb")])
    assert r.exit_code == 3 and "0 indicators imported" in r.output and f"{f}: empty file" in r.output


def test_a_fifo_is_skipped_with_a_message_not_waited_on(tmp_path: Path, alarm: None) -> None:
    d = tmp_path / "feeds"
    d.mkdir()
    os.mkfifo(d / "a_pipe")
    (d / "b_good.txt").write_text("203.0.113.50:443\n", encoding="utf-8")
    store = tmp_path / "i.duckdb"
    r = runner.invoke(app, ["intel", "import", str(d), "--store", str(store), "--family", "x"])
    assert r.exit_code == 3, r.output
    assert f"{d / 'a_pipe'}: not a regular file (a FIFO)" in r.output
    assert "1 indicators imported" in r.output and "1 files rejected" in r.output
    with pytest.raises(IntelImportError, match="not a regular file \\(a character device\\)"):
        read_text("/dev/zero")


def test_the_size_limit_holds_when_the_size_lies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert os.path.getsize(PROC) == 0 and len(Path(PROC).read_bytes()) > 100
    monkeypatch.setitem(config()["limits"], "max_file_bytes", 100)
    with pytest.raises(IntelImportError, match=r"/proc/self/maps: larger than the 100 byte limit"):
        read_text(PROC)
    small = tmp_path / "small.txt"
    small.write_text("203.0.113.50:443\n" * 5, encoding="utf-8")  # 85 bytes: under the limit
    with IntelStore.open(str(tmp_path / "i.duckdb")) as s:
        assert import_file(str(small), s, family="emotet").imported == 5


def test_scan_reads_no_more_than_the_limit_and_skips_fifos(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, alarm: None
) -> None:
    rules = compile_rules(str(DATA / "rules"))
    d = tmp_path / "collected"
    d.mkdir()
    os.mkfifo(d / "pipe")
    (d / "loader.bin").write_bytes(b"MZ..WORMSIGN-TEST-EMOTET-LOADER..")
    monkeypatch.setitem(config()["limits"], "max_scan_bytes", 100)
    rep = scan([str(d), PROC], rules)
    assert rep.scanned == 1 and [h.family for h in rep.hits] == ["emotet"]
    assert sorted(rep.skipped) == [
        (PROC, "larger than the 100 byte limit"),
        (str(d / "pipe"), "not a regular file (a FIFO)"),
    ]
