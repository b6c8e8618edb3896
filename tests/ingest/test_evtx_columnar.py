"""EVTX mapped in columns against record by record: the same rows, stats and rejects on every
file of the EVTX attack samples (and the fixtures' damaged files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from wormsign.ingest.base import Batch, Sink, Source
from wormsign.ingest.evtx import EvtxReader

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"


def _read(path: Path, columnar: bool, batch: Batch, tables: list[pa.Table]) -> tuple[Any, list[str]]:
    src = Source(str(path), str(path), digest=str(path))
    rejects: list[str] = []
    sink = Sink(src, "evtx", tables.append, batch=batch, on_reject=lambda r: rejects.append(str(r)))
    reader = EvtxReader()
    reader.columnar = columnar
    reader.read(src, sink)
    sink.flush()
    return sink.stats, rejects


def _all(files: list[Path], columnar: bool) -> tuple[pa.Table, list[Any]]:
    tables: list[pa.Table] = []
    batch = Batch(tables.append, 20_000)  # small files converted together, as the pipeline does
    out = [_read(f, columnar, batch, tables) for f in files]
    batch.drain()
    return pa.concat_tables(tables), out


def test_evtx_attack_samples_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = [0]
    add_table = Sink.add_table

    def counted(self: Sink, t: pa.Table) -> None:
        taken[0] += t.num_rows
        add_table(self, t)

    monkeypatch.setattr(Sink, "add_table", counted)
    files = sorted((CORPUS / "evtx-attack-samples").rglob("*.evtx"))
    if not files:
        pytest.skip("the shared corpus is not beside the repository")
    files += sorted(DATA.rglob("*.evtx"))
    fast, fstats = _all(files, True)
    slow, sstats = _all(files, False)
    assert fstats == sstats
    assert fast.num_rows == slow.num_rows > 8_000
    assert taken[0] == fast.num_rows  # every stored row came mapped in columns
    assert fast.schema == slow.schema
    for name in slow.column_names:
        a, b = fast.column(name).to_pylist(), slow.column(name).to_pylist()
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        assert not diff, (name, [(a[i], b[i]) for i in diff[:3]])
