"""Crash tests: ``kill -9`` on a real ``wormsign ingest -j 2`` during parsing, at commit (before
the catalog commits a shard, and after it, before the shard leaves staging) and during
resolution (before and after the events are enriched), then a re-run; the case must
equal a clean ingest event by event, and no parser process or temporary file of the killed
run may be left behind.

The kill points come from :mod:`wormsign.testhook` (the process pauses at a named stage and
says so in a file; the test then sends SIGKILL). Each run gets its own TMPDIR, so the
temporary files looked at are only these runs'.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from wormsign.store import Case, shard_name

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "evtx-attack-samples"

pytestmark = [
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on this platform"),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                       reason="worker processes are found through /proc (Linux)"),
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the EVTX corpus is not here ({CORPUS})"),
]

WORMSIGN = [sys.executable, "-c", "import sys; from wormsign.cli import main; sys.exit(main())"]
#: Longest wait for a run to reach its kill point, or to finish.
WAIT_S = 90


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORMSIGN_TEST_")}
    env["TMPDIR"] = str(tmp)
    env.update(extra)
    return env


def _ingest(case: Path, evidence: list[Path], tmp: Path) -> None:
    tmp.mkdir(exist_ok=True)
    res = subprocess.run([*WORMSIGN, "ingest", "-j", "2", *map(str, evidence), "--case", str(case)],
                         env=_env(tmp), capture_output=True, text=True, timeout=WAIT_S)
    assert res.returncode in (0, 3), res.stdout + res.stderr  # 3: the feeds and truth.json are rejected


def _proc(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, start time) of a process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), fields[19]


def _children(pid: int) -> dict[int, str]:
    """The child processes of ``pid``, with their start times (to tell a reused pid apart)."""
    out: dict[int, str] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (p := _proc(int(d.name))) is not None and p[1] == pid:
            out[int(d.name)] = p[2]
    return out


def _alive(procs: dict[int, str]) -> list[int]:
    """Those of ``procs`` still running (a zombie is dead: it only waits to be reaped)."""
    return [pid for pid, start in procs.items()
            if (p := _proc(pid)) is not None and p[0] != "Z" and p[2] == start]


def _snapshot(case: Path) -> dict[str, Any]:
    """Everything an ingest stores that does not depend on when it ran."""
    with Case.open(str(case), read_only=True) as c:
        keys = c.rows('SELECT count(*), count(DISTINCT ("src.digest", "src.record")) FROM events')[0]
        return {
            "keys": set(c.rows('SELECT "src.digest", "src.record" FROM events')),
            # eid says which shard a row is in: shards are numbered in the order runs commit them
            "events": c.rows("SELECT * EXCLUDE (eid) FROM events ORDER BY ALL"),
            "distinct": keys[0] == keys[1],
            "sources": c.rows("SELECT * EXCLUDE (ingested_at) FROM sources ORDER BY ALL"),
            "rejects": c.rows("SELECT * FROM rejects ORDER BY ALL"),
            "host_addr": c.rows("SELECT * FROM host_addr ORDER BY ALL"),
            "host_conflicts": c.rows("SELECT * FROM host_conflicts ORDER BY ALL"),
            "resolved": {k: (c.get_meta("resolved") or {}).get(k) for k in ("sources", "events")},
        }


@contextmanager
def _paused(cmd: list[str], stage: str, case: Path, tmp: Path,
            mark: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` run until it pauses at its kill point ``stage`` (``mark`` written), the process
    given there; killed (SIGKILL) when the block ends, and never left running."""
    env = _env(tmp, WORMSIGN_TEST_PAUSE=stage, WORMSIGN_TEST_PAUSE_FILE=str(mark))
    proc = subprocess.Popen([*cmd, "--case", str(case)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WAIT_S
        while not mark.exists():
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else b""
                pytest.fail(f"the run ended before its kill point {stage}: {out!r}")
            assert time.monotonic() < deadline, f"the run did not reach {stage} in {WAIT_S}s"
            time.sleep(0.05)
        yield proc
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def _rerun_equals_clean(case: Path, evidence: list[Path], tmp: Path, clean: dict[str, Any],
                        workers: dict[int, str]) -> None:
    """A re-run into the killed run's case gives exactly a clean ingest's case; the killed
    run's parser processes end, and its temporary files are gone."""
    _ingest(case, evidence, tmp)
    snap = _snapshot(case)
    assert snap["distinct"], "an event is stored twice"
    got, want = snap["keys"], clean["keys"]
    assert got == want, f"lost {len(want - got)} events, {len(got - want)} extra"
    for name in clean:
        assert snap[name] == clean[name], f"{name} differs from a clean ingest"
    deadline = time.monotonic() + 10
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _alive(workers)
    for pid in left:  # not to leave them to the rest of the suite
        os.kill(pid, signal.SIGKILL)
    assert not left, f"parser processes of the killed run still run: {left}"
    assert not list(tmp.iterdir()), f"temporary files left behind: {sorted(tmp.rglob('*'))}"


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    sim = tmp_path_factory.mktemp("sim") / "emotet"
    subprocess.run([*WORMSIGN, "simulate", "--scenario", "emotet", "--hosts", "30", "--days", "1",
                    "--seed", "1", "--out", str(sim)], check=True, capture_output=True, timeout=WAIT_S)
    return [CORPUS, sim]


@pytest.fixture(scope="module")
def clean(evidence: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("clean")
    _ingest(tmp / "case.duckdb", evidence, tmp / "tmp")
    snap = _snapshot(tmp / "case.duckdb")
    assert len(snap["events"]) > 15_000 and snap["distinct"] and snap["resolved"]["events"]
    return snap


@pytest.mark.parametrize("stage", ["parse", "commit", "committed:2", "resolve:1", "resolve:2"])
def test_kill_then_rerun_equals_clean_ingest(stage: str, evidence: list[Path], clean: dict[str, Any],
                                             tmp_path: Path) -> None:
    case, tmp, mark = tmp_path / "case.duckdb", tmp_path / "tmp", tmp_path / "paused"
    tmp.mkdir()
    with _paused([*WORMSIGN, "ingest", "-j", "2", *map(str, evidence)], stage, case, tmp, mark) as proc:
        assert int(mark.read_text()) == proc.pid
        workers = _children(proc.pid)
        staged = list((case / "staging").iterdir())
        if stage == "parse":
            # The kill lands while the parser processes work and a shard they wrote waits in
            # staging, uncommitted (at the last commit and in resolution, the pool is gone).
            assert len(workers) == 2, workers
            assert staged, "no shard in staging while parsing"
    assert proc.returncode == -signal.SIGKILL

    if stage in ("parse", "commit"):
        with Case.open(str(case), read_only=True) as c:  # nothing of the open group is visible
            assert c.rows("SELECT count(*) FROM sources")[0][0] == 0
            assert c.count() == 0
    if stage.startswith("committed"):
        # killed after the catalog committed a shard, before the file left staging: the next
        # open (a writer's) finishes the move, so the committed events are all there
        with Case.open(str(case)) as c:
            assert c.count() == c.rows("SELECT count(*) FROM events")[0][0] > 0

    _rerun_equals_clean(case, evidence, tmp, clean, workers)


#: ``wormsign`` with the ingest's own process parsing the first file and parser processes taking
#: the rest (``-j`` not given; ingest/pipeline.py ``_serial_start``, its thresholds at zero).
AUTO = [sys.executable, "-c", "import os, sys; from wormsign.ingest import pipeline; "
        "pipeline.PROBE_S = pipeline.POOL_AFTER_S = 0.0; os.cpu_count = lambda: 2; "
        "from wormsign.cli import main; sys.exit(main())"]


@pytest.mark.parametrize("stage", ["parse", "commit:2"])
def test_kill_after_the_first_files_were_parsed_in_the_run_itself(
        stage: str, evidence: list[Path], clean: dict[str, Any], tmp_path: Path) -> None:
    # "parse": the run's own group (the first file) is open, a parser process's shard waits in
    # staging; "commit:2": the own group is committed, the first chunk's rows recorded, not committed
    case, tmp, mark = tmp_path / "case.duckdb", tmp_path / "tmp", tmp_path / "paused"
    tmp.mkdir()
    with _paused([*AUTO, "ingest", *map(str, evidence)], stage, case, tmp, mark) as proc:
        workers = _children(proc.pid)
        assert len(workers) == 2, workers
    with Case.open(str(case), read_only=True) as c:
        files = c.rows("SELECT count(*) FROM sources")[0][0]
    assert files == (0 if stage == "parse" else 1)  # the first file alone, when its group committed

    _rerun_equals_clean(case, evidence, tmp, clean, workers)


#: ``wormsign`` with small chunks, committed three at a time (ingest/pipeline.py ``COMMIT_CHUNKS``):
#: one commit holds the shards of several chunks.
BATCHED = [sys.executable, "-c", "import sys; from wormsign.ingest import pipeline; "
           "pipeline.MAX_CHUNK_FILES = 20; pipeline.COMMIT_CHUNKS = 3; "
           "from wormsign.cli import main; sys.exit(main())"]


@pytest.mark.parametrize("stage", ["commit", "committed"])
def test_kill_at_a_commit_of_several_shards(stage: str, evidence: list[Path], clean: dict[str, Any],
                                            tmp_path: Path) -> None:
    # "commit": the shards of three or more chunks and their files' rows recorded, not committed;
    # "committed": committed, every one of those shards still in staging
    case, tmp, mark = tmp_path / "case.duckdb", tmp_path / "tmp", tmp_path / "paused"
    tmp.mkdir()
    with _paused([*BATCHED, "ingest", "-j", "2", *map(str, evidence)], stage, case, tmp, mark) as proc:
        workers = _children(proc.pid)
        assert len(workers) == 2, workers
        staged = {p.name for p in (case / "staging").iterdir()}
        assert len(staged) >= 3, staged
    if stage == "commit":
        with Case.open(str(case), read_only=True) as c:  # nothing of the commit is visible
            assert c.rows("SELECT count(*) FROM sources")[0][0] == 0
            assert c.count() == 0
    else:
        # the files of the committed shards were all in staging (a reader cannot open the case
        # so); a writer's open moves them into events/
        with Case.open(str(case)) as c:
            shards = c.shard_ids()
            assert len(shards) >= 3 and c.rows("SELECT count(*) FROM sources")[0][0] >= len(shards)
            assert {shard_name(s) for s in shards} <= staged
            assert not (case / "staging").exists() or not any((case / "staging").iterdir())
            assert c.count() == c.rows("SELECT count(*) FROM events")[0][0] > 0

    _rerun_equals_clean(case, evidence, tmp, clean, workers)
