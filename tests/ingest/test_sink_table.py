"""Sink.add_table against Sink.add: the same stored rows, in order, and the same stats and rejects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from wormsign import schema
from wormsign.ingest.base import Batch, IngestError, Sink, Source, rows_to_table


def _rows() -> list[dict[str, Any]]:
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for i in range(1, 41):
        row: dict[str, Any] = {"ts": t, "host": f"ws-{i % 3}", "kind": ("auth", "process", "file")[i % 3],
                               "src.record": i, "raw": '{"i": %d}' % i, "user.name": f"u{i}"}
        if i == 7:
            row["ts"] = None  # rejected: no timestamp
        if i == 12:
            row["host"] = ""  # rejected: no host
        if i == 13:
            del row["host"]
        if i == 20:
            row["process.command_line"] = "x" * (schema.MAX_FIELD_CHARS + 5)  # truncated
            row["raw"] = '{"c": "%s"}' % ("y" * schema.MAX_RAW_CHARS)
        rows.append(row)
    return rows


def _sink(tables: list[pa.Table], rejects: list[str], strict: bool = False) -> tuple[Sink, Batch]:
    batch = Batch(tables.append, 1_000)
    src = Source("f.ndjson", "f.ndjson", digest="d" * 64)
    sink = Sink(src, "ecs", tables.append, batch=batch, strict=strict,
                on_reject=lambda r: rejects.append(str(r)))
    return sink, batch


def test_add_table_keeps_the_stats_and_order_of_add() -> None:
    rows = _rows()
    by_row: list[pa.Table] = []
    rej_row: list[str] = []
    sink, batch = _sink(by_row, rej_row)
    for r in rows:
        sink.add(dict(r))
    sink.flush()
    batch.drain()

    by_table: list[pa.Table] = []
    rej_table: list[str] = []
    sink2, batch2 = _sink(by_table, rej_table)
    for r in rows[:5]:  # some rows by add, the rest as tables: the order is kept
        sink2.add(dict(r))
    sink2.add_table(rows_to_table([dict(r) for r in rows[5:25]]))
    sink2.add(dict(rows[25]))
    sink2.add_table(rows_to_table([dict(r) for r in rows[26:]]))
    sink2.flush()
    batch2.drain()

    assert sink2.stats == sink.stats
    assert sink.stats.read == 40 and sink.stats.stored == 37 and sink.stats.rejected == 3
    assert sink.stats.truncated == 2
    assert rej_table == rej_row
    a, b = pa.concat_tables(by_table), pa.concat_tables(by_row)
    assert a.to_pylist() == b.to_pylist()
    assert a.column("src.record").to_pylist()[:8] == [1, 2, 3, 4, 5, 6, 8, 9]


def test_add_table_strict_stops_at_the_first_bad_row() -> None:
    rows = _rows()
    sink, _ = _sink([], [], strict=True)
    with pytest.raises(IngestError, match="record 7: no-timestamp"):
        sink.add_table(rows_to_table([dict(r) for r in rows]))


def test_add_table_refuses_another_schema() -> None:
    sink, _ = _sink([], [])
    with pytest.raises(IngestError, match="do not fit the event model"):
        sink.add_table(pa.table({"ts": [1]}))
