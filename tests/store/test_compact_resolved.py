"""Merging the newest small resolved shards (a live stream's: ``wormsign.resolve.compact``) is a
renaming: the events, their keys, the resolution's tables and the hunt are those of the same case
left as it was, and stay so when more events come after the merge."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from wormsign import resolve
from wormsign.hunt import hunt
from wormsign.ingest.pipeline import ingest_paths
from wormsign.simulate import simulate
from wormsign.store import Case

#: Catalog tables that must hold the same rows in both cases (every column; eid-keyed ones apart).
SAME = ("host_addr", "host_conflicts", "res_ws_obs", "res_ws_blocks", "hunt_authfail", "hunt_drops",
        "hunt_logons", "hunt_smb", "hunt_lockouts", "hunt_chan", "hunt_img", "hunt_runs")


def _batches(sim: Path, out: Path, size: int) -> list[Path]:
    """The run's Winlogbeat documents in time order, ``size`` to a file (a live stream's requests)."""
    lines = []
    for f in sorted((sim / "logs" / "winlogbeat").glob("*.ndjson.gz")):
        with gzip.open(f, "rb") as fh:
            lines += [ln.rstrip(b"\r\n") for ln in fh if ln.strip()]
    lines.sort(key=lambda ln: json.loads(ln)["@timestamp"])
    out.mkdir()
    files = []
    for n, i in enumerate(range(0, len(lines), size)):
        p = out / f"b{n:04d}.ndjson"
        p.write_bytes(b"\n".join(lines[i:i + size]) + b"\n")
        files.append(p)
    return files


def _ingest(case_dir: Path, files: list[Path]) -> None:
    """Each file in its own ingest, resolved after it, as the live writer does."""
    for f in files:
        with Case.open(str(case_dir)) as case:
            ingest_paths([str(f)], case, workers=1)
            resolve.ensure_resolved(case)


def _rows(case: Case, sql: str) -> list[str]:
    return sorted(map(repr, case.rows(sql)))


def _hunt(case: Case) -> tuple[str, list[dict[str, Any]]]:
    res = hunt(case, sigma_rules=[])
    doc = dict(res.document)
    doc.pop("generated_at"), doc.pop("case")
    return json.dumps(doc, sort_keys=True, default=str), res.alerts


def _compare(a: Case, b: Case) -> None:
    assert a.count() == b.count()
    # the events, their keys applied, and the eid of each (digest, record) named the same way
    cols = "* EXCLUDE (eid)"
    assert _rows(a, f"SELECT {cols} FROM events") == _rows(b, f"SELECT {cols} FROM events")
    for t in SAME:  # (an observation's evidence kinds are a set: DuckDB's list_distinct keeps no order)
        sql = f"SELECT * REPLACE (list_sort(evs) AS evs) FROM {t}" if t == "res_ws_obs" else f"SELECT * FROM {t}"
        assert _rows(a, sql) == _rows(b, sql), t
    ref = 'e."src.digest", e."src.record", e.ts, e.kind'
    for side in (a, b):  # every eid of the pass still names its own event
        assert not side.rows("SELECT count(*) FROM hunt_index i ANTI JOIN events e USING (eid)")[0][0]
    assert (_rows(a, f"SELECT {ref}, i.* EXCLUDE (eid) FROM hunt_index i JOIN events e USING (eid)")
            == _rows(b, f"SELECT {ref}, i.* EXCLUDE (eid) FROM hunt_index i JOIN events e USING (eid)"))
    krb = 'SELECT e."src.digest", e."src.record", k.* EXCLUDE ({x}) FROM {t} k JOIN events e ON e.eid = k.{c}'
    for t, c, x in (("res_krb_l", "eid", "eid, shard"), ("res_applied_krb", "rid", "rid")):  # shards renamed
        assert _rows(a, krb.format(t=t, c=c, x=x)) == _rows(b, krb.format(t=t, c=c, x=x)), t
        assert a.rows(f"SELECT count(*) FROM {t}") == b.rows(f"SELECT count(*) FROM {t}")
    assert _hunt(a) == _hunt(b)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    tmp = tmp_path_factory.mktemp("compact")
    simulate("emotet", 30, 1, 7, tmp / "sim")
    files = _batches(tmp / "sim", tmp / "batches", 300)
    assert len(files) >= 12
    _ingest(tmp / "stream", files[:-2])
    return tmp, files


def test_merged_shards_are_the_same_case(streamed: tuple[Path, list[Path]]) -> None:
    tmp, files = streamed
    kept, merged = tmp / "kept", tmp / "merged"
    shutil.copytree(tmp / "stream", kept)
    shutil.copytree(tmp / "stream", merged)
    with Case.open(str(merged)) as case:
        before = len(case.shard_ids())
        assert resolve.compact(case, most=len(files)) == 0  # not yet more than ``most``
        n = resolve.compact(case, most=4)
        assert n == before and len(case.shard_ids()) == 1
        assert resolve.ensure_resolved(case) is None  # still resolved: nothing to do again
    # a writer's open finds nothing left over, and one keys file and one events file
    with Case.open(str(merged)) as case:
        assert len(list((merged / "events").iterdir())) == len(list((merged / "keys").iterdir())) == 1
    with Case.open(str(kept)) as a, Case.open(str(merged)) as b:
        _compare(a, b)
    # more events after the merge: resolved incrementally on both, still the same case
    _ingest(kept, files[-2:])
    _ingest(merged, files[-2:])
    with Case.open(str(kept)) as a, Case.open(str(merged)) as b:
        assert len(b.shard_ids()) == 3
        _compare(a, b)


def test_only_the_newest_resolved_run_is_merged(streamed: tuple[Path, list[Path]]) -> None:
    tmp, files = streamed
    case_dir = tmp / "partial"
    with Case.open(str(case_dir)) as case:  # a large shard, then five small ones, each resolved
        ingest_paths([str(f) for f in files[:3]], case, workers=1)
        resolve.ensure_resolved(case)
    _ingest(case_dir, files[3:8])
    with Case.open(str(case_dir)) as case:
        (big, big_rows), *small = case.rows("SELECT id, rows FROM shards ORDER BY id")
        assert len(small) == 5 and all(r < big_rows for _, r in small)
        ingest_paths([str(files[8])], case, workers=1)  # committed, not resolved: the run ends before it
        assert resolve.compact(case, small=big_rows, most=2) == 0
        resolve.ensure_resolved(case)
        assert resolve.compact(case, small=big_rows, most=2) == 6  # the large one stops the run
        assert len(case.shard_ids()) == 2 and case.shard_ids()[0] == big
        assert resolve.ensure_resolved(case) is None


def test_every_table_that_names_events_is_renamed(streamed: tuple[Path, list[Path]]) -> None:
    """A catalog table that names events by eid or shard, and that the merge does not rename,
    would point at events that are gone after it: the merge must know every one."""
    tmp, _ = streamed
    with Case.open(str(tmp / "stream")) as case:
        hunt(case, sigma_rules=[])
        found = {(t, c) for t, c in case.rows(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main' AND NOT internal "
            "AND (column_name IN ('eid', 'rid', 'shard') OR column_name LIKE '%\\_eid' ESCAPE '\\') "
            "AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main')")}
    known = {*resolve.EID_COLUMNS, *((t, "shard") for t in resolve._PER_SHARD), ("record_ranges", "shard")}
    assert found and found <= known, found - known


@pytest.mark.parametrize("stage", ["commit", "committed"])
def test_a_merge_killed_leaves_one_case_or_the_other(streamed: tuple[Path, list[Path]], stage: str) -> None:
    """``kill -9`` before the merge's catalog commit (the old shards stay, the new keys file is
    removed) or after it (the new shard still in staging: finished on the next open)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    tmp, _ = streamed
    case_dir, mark = tmp / f"killed-{stage}", tmp / f"pause-{stage}"
    shutil.copytree(tmp / "stream", case_dir)
    with Case.open(str(case_dir)) as case:
        before = case.shard_ids()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORMSIGN_TEST_")}
    env.update(WORMSIGN_TEST_PAUSE=stage, WORMSIGN_TEST_PAUSE_FILE=str(mark))
    code = ("import sys; from wormsign import resolve; from wormsign.store import Case\n"
            "with Case.open(sys.argv[1]) as c: resolve.compact(c, most=4)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(case_dir)], env=env)
    try:
        deadline = time.monotonic() + 90
        while not mark.exists():
            assert proc.poll() is None, "the merge ended before its pause"
            assert time.monotonic() < deadline, "the merge did not reach its pause"
            time.sleep(0.05)
        os.kill(int(mark.read_text()), signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Case.open(str(case_dir)) as case:  # a writer's open finishes or removes what is left
        shards = case.shard_ids()
        assert shards == before if stage == "commit" else len(shards) == 1
        names = {p.name for p in (case_dir / "events").iterdir()}
        assert names == {p.name for p in (case_dir / "keys").iterdir()} and len(names) == len(shards)
        assert not list((case_dir / "staging").iterdir())
        assert resolve.ensure_resolved(case) is None
    with Case.open(str(tmp / "stream")) as a, Case.open(str(case_dir)) as b:
        _compare(a, b)


def test_a_reader_of_the_same_process_reads_through_a_merge(streamed: tuple[Path, list[Path]]) -> None:
    """The live writer lends its connection to the server's reads (api/pool.py): a read whose
    transaction began before a merge's commit still reads the replaced files, which go only at
    the end of ``removals_deferred``."""
    tmp, _ = streamed
    case_dir = tmp / "lent"
    shutil.copytree(tmp / "stream", case_dir)
    with Case.open(str(case_dir)) as case:
        before = len(case.shard_ids())
        expected = case.rows('SELECT count(*), count(DISTINCT "source.host") FROM events')
        reader = case.engine.con.cursor()
        with case.removals_deferred():
            reader.execute("BEGIN TRANSACTION")
            assert reader.execute("SELECT count(*) FROM events").fetchall() == [(expected[0][0],)]
            assert resolve.compact(case, most=4) == before
            # the old view and files, in the reader's snapshot
            assert reader.execute('SELECT count(*), count(DISTINCT "source.host") FROM events').fetchall() == expected
            reader.execute("COMMIT")
            assert len(list((case_dir / "events").iterdir())) == before + 1
        reader.close()
        assert len(list((case_dir / "events").iterdir())) == 1
        assert case.rows('SELECT count(*), count(DISTINCT "source.host") FROM events') == expected
