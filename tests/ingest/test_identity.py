"""A record's identity across copies of one log: (channel, computer, record id, time).

A backup of an EVTX that differs from the original only in its header bytes adds no event, in
the same ingest or a later one; a log of another computer (or of another time) whose record ids
overlap is kept whole; ``--keep-copies`` stores copies as distinct events.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wormsign.cli import app
from wormsign.ingest import ingest_paths
from wormsign.ingest.pipeline import ChunkResult
from wormsign.ingest.pipeline import _parse_chunk as parse_chunk
from wormsign.store import Case

LM = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "evtx-attack-samples" / "Lateral Movement"
COPY = "LM_5145_Remote_FileCopy.evtx"  # Security of PC01.example.corp, records 1-869
SAME_HOST = "LM_REMCOM_5145_TargetHost.evtx"  # Security of PC01.example.corp, records 1-30, other times
OTHER_HOST = "LM_ScheduledTask_ATSVC_target_host.evtx"  # Security of WIN-77LTAPHIQ1R, records 1-34


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    if not (LM / COPY).is_file():
        pytest.skip("../shared/corpus is not beside the repository")
    d = tmp_path / "logs"
    d.mkdir()
    for name in (COPY, SAME_HOST, OTHER_HOST):
        shutil.copy(LM / name, d / name)
    return d


def header_copy(src: Path, dst: Path) -> Path:
    """A backup copy: the same records, other bytes in the file header's unused space."""
    data = bytearray(src.read_bytes())
    data[4000:4008] = b"BACKUP01"
    dst.write_bytes(bytes(data))
    assert dst.read_bytes() != src.read_bytes()
    return dst


def _count(case: Case) -> int:
    return int(case.rows("SELECT count(*) FROM events")[0][0])


@pytest.mark.parametrize("workers", [1, 2])
def test_a_header_modified_copy_adds_no_event(logs: Path, tmp_path: Path, workers: int) -> None:
    backup = tmp_path / "backup"
    backup.mkdir()
    header_copy(logs / COPY, backup / "Security-backup.evtx")
    with Case.open(str(tmp_path / "case")) as case:
        first = ingest_paths([str(logs)], case, workers=workers)
        n = _count(case)
        assert first.stats.copies == 0 and n == first.stats.stored
        again = ingest_paths([str(backup)], case, workers=workers)  # a later ingest
        assert again.files == 1 and again.skipped == 0  # another file (its digest differs) ...
        assert again.stats.stored == 0 and again.stats.copies == 869  # ... holding no new record
        assert _count(case) == n
        (stored, ) = case.rows("SELECT stored FROM sources WHERE file LIKE '%Security-backup.evtx'")[0:1]
        assert stored == (0,)


def test_copies_in_one_ingest_keep_the_first(logs: Path, tmp_path: Path) -> None:
    header_copy(logs / COPY, logs / "zz-copy.evtx")
    header_copy(logs / OTHER_HOST, logs / "zz-other-copy.evtx")
    with Case.open(str(tmp_path / "case")) as case:
        rep = ingest_paths([str(logs)], case, workers=1)
        assert rep.files == 5 and rep.stats.copies == 869 + 34
        per = dict(case.rows("SELECT regexp_extract(file, '[^/]+$'), stored FROM sources"))
        assert per["zz-copy.evtx"] == 0 and per[COPY] == 869 and per["zz-other-copy.evtx"] == 0
        # every (channel, computer, record, time) once
        dup = case.rows("""SELECT count(*) FROM (SELECT "event.dataset", "host.name", "src.record", ts, count(*) n
                           FROM events GROUP BY ALL HAVING n > 1)""")[0][0]
        assert dup == 0 and _count(case) == rep.stats.stored


def test_overlapping_record_ids_of_another_log_are_kept(logs: Path, tmp_path: Path) -> None:
    with Case.open(str(tmp_path / "case")) as case:
        a = ingest_paths([str(logs / COPY)], case, workers=1)
        b = ingest_paths([str(logs / OTHER_HOST)], case, workers=1)  # another computer, ids 1-34
        c = ingest_paths([str(logs / SAME_HOST)], case, workers=1)  # the same computer, ids 1-30, other times
        assert (a.stats.copies, b.stats.copies, c.stats.copies) == (0, 0, 0)
        assert (b.stats.stored, c.stats.stored) == (34, 30)
        assert _count(case) == 869 + 34 + 30
        ranges = case.rows("SELECT computer, lo, hi FROM record_ranges ORDER BY shard")
        assert ranges == [("PC01.example.corp", 1, 869), ("WIN-77LTAPHIQ1R.example.corp", 1, 34),
                          ("PC01.example.corp", 1, 30)]


def test_keep_copies_stores_them(logs: Path, tmp_path: Path) -> None:
    header_copy(logs / COPY, logs / "zz-copy.evtx")
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["ingest", str(logs), "--case", str(tmp_path / "case"), "-j", "1",
                                   "--keep-copies", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["copies"] == 0 and doc["stored"] == 869 * 2 + 34 + 30
    res = CliRunner().invoke(app, ["ingest", str(logs), "--case", str(tmp_path / "c2"), "-j", "1", "--json"])
    doc = json.loads(res.stdout)
    assert res.exit_code == 0 and doc["copies"] == 869 and doc["stored"] == 869 + 34 + 30
    assert not out.exists()


def test_the_python_api_leaves_copies_out_and_keeps_them_on_request(logs: Path, tmp_path: Path) -> None:
    import wormsign

    header_copy(logs / COPY, logs / "zz-copy.evtx")
    with wormsign.open_case(tmp_path / "a") as case:
        rep = wormsign.ingest(case, logs, workers=1, resolve=False)
        assert rep.stats.copies == 869 and rep.stats.stored == 869 + 34 + 30
    with wormsign.open_case(tmp_path / "b") as case:
        rep = wormsign.ingest(case, logs, workers=1, resolve=False, keep_copies=True)
        assert rep.stats.copies == 0 and rep.stats.stored == 2 * 869 + 34 + 30


def test_copies_are_found_after_small_shards_were_merged(tmp_path: Path) -> None:
    """Case.compact merges small shards into one: the ranges of the merged shards name shards
    that are gone, and the rows are then looked for in every shard."""
    files = sorted(LM.parent.rglob("*.evtx"))[:70]
    if len(files) < 70:
        pytest.skip("../shared/corpus is not beside the repository")
    with Case.open(str(tmp_path / "case")) as case:
        for f in files:
            ingest_paths([str(f)], case, workers=1)
        stored = _count(case)
        assert len(case.shard_ids()) < 10  # merged
        copy = header_copy(files[3], tmp_path / "copy.evtx")
        rep = ingest_paths([str(copy)], case, workers=1)
        assert rep.stats.stored == 0 and rep.stats.copies > 0 and _count(case) == stored


def _stored_rows(case: Case) -> list[tuple[object, ...]]:
    return case.rows("""SELECT regexp_extract("src.file", '[^/]+$'), "src.record", eid
                        FROM events ORDER BY eid""")


def test_copies_held_in_memory_and_written_first_are_the_same(logs: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A group of small files is checked while its rows are in memory (identity.Staged); past its
    limit the shard is written and checked on file. Both leave out the same rows."""
    from wormsign.ingest import identity

    header_copy(logs / COPY, logs / "zz-copy.evtx")
    header_copy(logs / SAME_HOST, logs / "b-same-host-copy.evtx")
    out = {}
    for hold in (identity.HOLD_ROWS, 10):
        monkeypatch.setattr(identity, "HOLD_ROWS", hold)
        with Case.open(str(tmp_path / f"case-{hold}")) as case:
            first = ingest_paths([str(logs)], case, workers=1)
            backup = tmp_path / f"backup-{hold}"
            backup.mkdir()
            again = ingest_paths([str(header_copy(logs / OTHER_HOST, backup / "o.evtx"))], case, workers=1)
            out[hold] = (_stored_rows(case), first.stats.copies, again.stats.copies,
                         case.rows("SELECT regexp_extract(file, '[^/]+$'), stored FROM sources ORDER BY 1"),
                         case.rows("SELECT channel, computer, lo, hi FROM record_ranges ORDER BY ALL"))
    held, written = out.values()
    assert held == written
    assert held[1] == 869 + 30 and held[2] == 34


def _wait_for_a_later_chunk(chunk: list, strict: bool, root: str, shard: int, *args: object) -> ChunkResult:
    """A parser that, on the chunk of COPY, first waits for a later chunk's shard to be written."""
    import time

    if any(s.name.endswith(COPY) for s in chunk):
        staging = Path(root) / "staging"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                p.name != f"part-{shard:08d}.parquet" for p in staging.glob("part-*.parquet")):
            time.sleep(0.01)
    return parse_chunk(chunk, strict, root, shard, *args)  # type: ignore[arg-type]


@pytest.mark.parametrize("known_rows", [2_000_000, 0])
def test_workers_keep_the_first_copy_in_walk_order(logs: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, known_rows: int) -> None:
    """Chunks are committed in walk order: the copy kept is the first one walked, as with one
    worker, even when the chunk holding it finishes last. The run's own shards are compared in
    memory (identity.Known) or, past its room, read: the same rows are left out."""
    from wormsign.ingest import identity, pipeline

    monkeypatch.setattr(identity, "KNOWN_ROWS", known_rows)

    header_copy(logs / COPY, logs / "zz-copy.evtx")
    with Case.open(str(tmp_path / "one")) as case:
        ingest_paths([str(logs)], case, workers=1)
        one = case.rows("SELECT regexp_extract(file, '[^/]+$'), stored FROM sources ORDER BY 1")
        events = [r[:2] for r in _stored_rows(case)]
    monkeypatch.setattr(pipeline, "_chunks", lambda todo, workers: [[s] for s in todo])  # a file a chunk
    monkeypatch.setattr(pipeline, "_parse_chunk", _wait_for_a_later_chunk)
    with Case.open(str(tmp_path / "two")) as case:
        rep = ingest_paths([str(logs)], case, workers=2)
        assert rep.stats.copies == 869
        assert case.rows("SELECT regexp_extract(file, '[^/]+$'), stored FROM sources ORDER BY 1") == one
        assert dict(one)[COPY] == 869 and dict(one)["zz-copy.evtx"] == 0
        assert [r[:2] for r in _stored_rows(case)] == events
