"""A collection of many small files parsed in the ingest's own process (ingest/pipeline.py): the
digests are taken by a thread ahead of the parse (``_digested``), and the files commit in groups
of up to ``GROUP_FILES``. The case is the one the files hashed one by one in walk order give."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from wormsign.ingest import IngestError, ingest_paths, pipeline
from wormsign.ingest.walk import digest
from wormsign.store import Case

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "evtx-attack-samples"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the EVTX corpus is not here ({CORPUS})")


def _copy(files: list[Path], root: Path, mark: int | None = None) -> None:
    """``files`` into ``root`` in walk order; with ``mark``, each made another file (another digest)
    by a number in the unused padding of its header: its records are copies (ingest/identity.py)."""
    root.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files):
        data = bytearray(f.read_bytes())
        if mark is not None:
            data[4000:4008] = mark.to_bytes(8, "little")
        (root / f"{i:03d}-{f.name}").write_bytes(bytes(data))


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 corpus files, two of them again under another digest, one again as is, a file no reader takes."""
    root = tmp_path_factory.mktemp("small")
    files = sorted(CORPUS.rglob("*.evtx"))[:40]
    _copy(files, root / "a")
    _copy(files[:2], root / "b", mark=7)
    shutil.copyfile(files[5], root / "b" / "same.evtx")
    (root / "b" / "notes.txt").write_text("not a log\n" * 20)
    return root


def _digesters() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("wormsign-digest")]


def _case(evidence: Path, path: Path) -> dict[str, Any]:
    with Case.open(str(path)) as case:
        report = ingest_paths([str(evidence)], case, workers=1)
    with Case.open(str(path), read_only=True) as c:
        return {
            "events": c.rows("SELECT * FROM events ORDER BY ALL"),  # eid included
            "sources": c.rows("SELECT * EXCLUDE (ingested_at) FROM sources ORDER BY ALL"),
            "rejects": c.rows("SELECT * FROM rejects ORDER BY ALL"),
            "ranges": c.rows("SELECT * FROM record_ranges ORDER BY ALL"),
            "copies": report.stats.copies, "skipped": report.skipped, "unknown": report.unknown,
        }


def test_digests_are_taken_ahead_by_a_thread_and_the_case_is_the_same(
        evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where: list[str] = []

    def traced(source: Any) -> str:
        where.append(threading.current_thread().name)
        return digest(source)

    monkeypatch.setattr(pipeline, "digest", traced)
    ahead = _case(evidence, tmp_path / "ahead")
    assert len(where) == 44 and all(w.startswith("wormsign-digest") for w in where), where
    assert not _digesters()
    where.clear()
    monkeypatch.setattr(pipeline, "DIGEST_BYTES", 0)  # every file "large": hashed when its turn comes
    inline = _case(evidence, tmp_path / "inline")
    assert where == ["MainThread"] * 44
    assert ahead == inline
    assert len(ahead["events"]) > 1000 and ahead["copies"] > 0 and ahead["skipped"] == 1 and ahead["rejects"]


def test_a_stopped_run_hashes_no_further_and_leaves_no_thread(
        evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[str] = []

    def traced(source: Any) -> str:
        hashed.append(source.name)
        return digest(source)

    monkeypatch.setattr(pipeline, "digest", traced)
    monkeypatch.setattr(pipeline, "DIGEST_FILES", 2)
    parse = pipeline._parse
    parsed: list[str] = []

    def fails_third(source: Any, *args: Any) -> Any:
        parsed.append(source.name)
        if len(parsed) == 3:
            raise IngestError("stopped")
        return parse(source, *args)

    monkeypatch.setattr(pipeline, "_parse", fails_third)
    with Case.open(str(tmp_path / "case")) as case, pytest.raises(IngestError, match="stopped"):
        ingest_paths([str(evidence)], case, workers=1)
    assert not _digesters()
    # the third file's slice and at most DIGEST_AHEAD slices of two after it; never the 44
    assert 3 <= len(hashed) <= 2 + 2 * pipeline.DIGEST_AHEAD, hashed


def test_many_small_files_commit_as_one_group(tmp_path: Path) -> None:
    """The 277 corpus files, then each again under another digest (its records copies): 552 new files,
    more than the 500 that made a group before, commit together: their ``sources`` rows in one
    append (one ``ingested_at``), the rows in one shard."""
    files = sorted(CORPUS.rglob("*.evtx"))
    _copy(files, tmp_path / "in" / "a")
    _copy(files, tmp_path / "in" / "b", mark=3)
    with Case.open(str(tmp_path / "case")) as case:
        report = ingest_paths([str(tmp_path / "in")], case, workers=1)
        assert report.files + report.skipped == 2 * len(files) and report.files > 500  # 2 corpus twins
        assert case.rows("SELECT count(*) FROM sources")[0][0] == report.files
        assert case.rows("SELECT count(DISTINCT ingested_at) FROM sources")[0][0] == 1
        assert case.rows("SELECT count(*) FROM shards")[0][0] == 1
        assert report.stats.copies > 8000  # the second copies: left out


def test_a_group_commits_at_its_bound_of_rejects_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rejects of a group's files wait in memory for its commit as its rows do, so they count
    towards the rows a group holds: 12 files no reader takes, groups of 5 rows, commit in 3 groups."""

    class Small(pipeline._Writer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, max_rows=5, **kwargs)

    monkeypatch.setattr(pipeline, "_Writer", Small)
    for i in range(12):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"{i:02d}.txt").write_text(f"not a log {i}\n")
    with Case.open(str(tmp_path / "case")) as case:
        report = ingest_paths([str(tmp_path / "in")], case, workers=1)
        assert report.stats.rejected == 12 and report.unknown
        assert case.rows("SELECT count(*) FROM rejects")[0][0] == 12
        assert case.rows("SELECT count(DISTINCT ingested_at) FROM sources")[0][0] == 3
