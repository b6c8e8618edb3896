"""``workers=None`` (``wormsign ingest`` and ``hunt`` without ``-j``): the first files are parsed in
the ingest's own process, and parser processes start only when what is left is worth them
(ingest/pipeline.py ``_serial_start``). Either way the case is the one a one-worker ingest makes:
the same events (every column), ``sources``, ``rejects`` and record ranges, on real EVTX files."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from wormsign.ingest import ingest_paths, pipeline
from wormsign.store import Case

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "evtx-attack-samples"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the EVTX corpus is not here ({CORPUS})")


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slice of the corpus, a copy of two of its files whose header differs (their records are
    copies, ingest/identity.py), the same file twice, and a file no reader takes (a reject)."""
    root = tmp_path_factory.mktemp("auto")
    files = sorted(CORPUS.rglob("*.evtx"))[:60]
    assert len(files) == 60
    for i, f in enumerate(files):
        shutil.copyfile(f, root / f"{i:03d}-{f.name}")
    for i, f in enumerate(files[:2]):
        data = bytearray(f.read_bytes())
        data[4000:4008] = (7).to_bytes(8, "little")  # unused header padding: another digest
        (root / f"zz-copy-{i}.evtx").write_bytes(bytes(data))
    shutil.copyfile(files[3], root / "zz-same.evtx")
    (root / "zz-notes.txt").write_text("not a log\n" * 20)
    return root


class _Pools:
    """Counts the parser pools the ingest starts (the real pool runs)."""

    def __init__(self) -> None:
        self.started = 0

    def __call__(self, *args: Any, **kwargs: Any) -> ProcessPoolExecutor:
        self.started += 1
        return ProcessPoolExecutor(*args, **kwargs)


def _case(evidence: Path, path: Path, workers: int | None) -> dict[str, Any]:
    with Case.open(str(path)) as case:
        report = ingest_paths([str(evidence)], case, workers=workers)
    with Case.open(str(path), read_only=True) as c:
        return {
            "events": c.rows('SELECT * EXCLUDE (eid) FROM events ORDER BY ALL'),
            "eids": c.rows("SELECT eid, \"src.digest\", \"src.record\" FROM events ORDER BY ALL"),
            "sources": c.rows("SELECT * EXCLUDE (ingested_at) FROM sources ORDER BY ALL"),
            "rejects": c.rows("SELECT * FROM rejects ORDER BY ALL"),
            "ranges": c.rows("SELECT * EXCLUDE (shard) FROM record_ranges ORDER BY ALL"),
            "copies": report.stats.copies, "skipped": report.skipped, "unknown": report.unknown,
        }


@pytest.fixture(scope="module")
def one_worker(evidence: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    got = _case(evidence, tmp_path_factory.mktemp("one") / "case", 1)
    assert len(got["events"]) > 1000 and got["rejects"] and got["copies"] > 0 and got["skipped"] == 1
    return got


def test_a_small_collection_is_parsed_without_parser_processes(
        evidence: Path, one_worker: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pools = _Pools()
    monkeypatch.setattr(pipeline, "ProcessPoolExecutor", pools)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # the same on a one-core machine
    got = _case(evidence, tmp_path / "case", None)
    assert pools.started == 0  # 63 small files: far below POOL_AFTER_S of parsing
    assert got == one_worker  # the eids too: the same groups as one worker's


def test_parser_processes_take_the_rest_once_it_is_worth_them(
        evidence: Path, one_worker: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pools = _Pools()
    monkeypatch.setattr(pipeline, "ProcessPoolExecutor", pools)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(pipeline, "PROBE_S", 0.0)
    monkeypatch.setattr(pipeline, "POOL_AFTER_S", 0.0)  # after the first file, the rest is worth it
    parsed: list[str] = []
    parse = pipeline._parse
    monkeypatch.setattr(pipeline, "_parse", lambda s, *a: parsed.append(s.name) or parse(s, *a))
    got = _case(evidence, tmp_path / "case", None)
    assert pools.started == 1
    assert len(parsed) == 1 and parsed[0].endswith("000-" + sorted(CORPUS.rglob("*.evtx"))[0].name)
    # the first file in this process, the others in two parser processes: the case is the same
    # (the first copy of a record in walk order kept); only the shards differ, and with them the
    # eids (which number them) and the record ranges (kept per shard)
    for name in one_worker:
        if name not in ("eids", "ranges"):
            assert got[name] == one_worker[name], name


def test_a_large_first_file_starts_the_parser_processes_at_once(
        evidence: Path, one_worker: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pools = _Pools()
    monkeypatch.setattr(pipeline, "ProcessPoolExecutor", pools)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(pipeline, "PROBE_MAX_BYTES", 0)  # every file is "large" before the rate is known
    got = _case(evidence, tmp_path / "case", None)
    assert pools.started == 1
    for name in one_worker:
        if name not in ("eids", "ranges"):
            assert got[name] == one_worker[name], name
