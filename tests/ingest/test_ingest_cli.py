"""``wormsign ingest`` and ``stats`` end to end: exit status, --strict, idempotence, the whole corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.store import Case

runner = CliRunner()


def _ingest(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["ingest", *args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def test_exit_status_clean_rejected_and_strict(data: Path, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copy(data / "winlogbeat.ndjson", clean)
    code, out = _ingest(str(clean), "--case", str(tmp_path / "a.duckdb"))
    assert code == 0, out
    assert "4 stored" in out and "0 rejected" in out

    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(data / "auth.txt", bad)
    (bad / "broken.ndjson").write_bytes((data / "otrf.ndjson").read_bytes() + b'{"EventID": 4624, "Hostn\n')
    code, out = _ingest(str(bad), "--case", str(tmp_path / "b.duckdb"), "-j", "1")
    assert code == 3, out
    assert "7 stored" in out and "1 rejected" in out and "bad-json" in out
    with Case.open(str(tmp_path / "b.duckdb"), read_only=True) as case:
        assert case.count() == 7
        assert case.rows("SELECT file, record, reason FROM rejects") == [
            (str(bad / "broken.ndjson"), 3, "bad-json")
        ]

    code, out = _ingest(str(bad), "--case", str(tmp_path / "c.duckdb"), "--strict", "-j", "1")
    assert code == 1, out
    assert "broken.ndjson record 3: bad-json" in " ".join(out.split())


FIXTURES = ("winlogbeat.ndjson", "elastic_agent.ndjson", "ecs_native.ndjson", "otrf.ndjson", "auth.txt")


def test_reingest_adds_nothing(data: Path, tmp_path: Path) -> None:
    case = str(tmp_path / "c.duckdb")
    src = tmp_path / "in"
    src.mkdir()
    for name in FIXTURES:
        shutil.copy(data / name, src)
    assert _ingest(str(src), "--case", case)[0] == 0
    with Case.open(case, read_only=True) as c:
        events = c.count()
        before = c.rows("SELECT digest, file, format, records, stored, rejected FROM sources ORDER BY digest")
    code, out = _ingest(str(src), "--case", case)
    assert code == 0 and "0 records" in out and "already in the case" in out
    with Case.open(case, read_only=True) as c:
        assert c.count() == events == 4 + 1 + 5 + 2 + 5
        assert (
            c.rows("SELECT digest, file, format, records, stored, rejected FROM sources ORDER BY digest")
            == before
        )
        keys = c.rows('SELECT count(DISTINCT ("src.digest", "src.record")) FROM events')[0][0]
        assert keys == events


def test_whole_corpus_ingests_and_stats_shows_the_kinds(corpus: Path, tmp_path: Path) -> None:
    case = str(tmp_path / "corpus.duckdb")
    code, out = _ingest(str(corpus), "--case", case)
    assert code == 3, out  # the corpus holds its LICENSE file: one unknown-format reject
    with Case.open(case, read_only=True) as c:
        files = c.rows("SELECT count(*), sum(stored), sum(rejected) FROM sources")[0]
        evtx_files = c.rows("SELECT count(*) FROM sources WHERE format = 'evtx'")[0][0]
        reasons = c.rows("SELECT reasons FROM sources WHERE rejected > 0")
        total = c.count()
    assert evtx_files == 276  # 277 EVTX files, two of them the same content (stored once)
    assert files == (277, total, 1) and total > 8000
    assert reasons == [('{"unknown-format": 1}',)]
    res = runner.invoke(app, ["stats", "--case", case])
    assert res.exit_code == 0, res.output
    for kind in ("auth", "process", "file", "share", "service", "task", "wmi", "network", "dns", "generic"):
        assert f" {kind} " in res.output, kind


def test_files_that_cannot_be_opened_are_kept_in_the_case(tmp_path) -> None:
    from typer.testing import CliRunner

    from wormsign.cli import app

    case = tmp_path / "c.duckdb"
    missing = tmp_path / "gone.evtx"
    res = CliRunner().invoke(app, ["ingest", str(missing), "--case", str(case)])
    assert res.exit_code == 3
    res = CliRunner().invoke(app, ["stats", "--case", str(case)])
    assert res.exit_code == 0
    assert "no such file or directory" in res.output
    from wormsign.store import Case

    with Case.open(str(case), read_only=True) as c:
        assert c.rows("SELECT file, reason FROM rejects") == [(str(missing), "unreadable")]
