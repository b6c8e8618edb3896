"""engine.records: Arrow rows as dicts, timestamps exact and in UTC, as to_pylist gives them."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from wormsign.engine import records
from wormsign.engine.duckdb import DuckDBEngine


def test_records_match_to_pylist_on_every_timestamp_unit() -> None:
    t = pa.table({
        "n": pa.array([1, None, 3]),
        "zoned_us": pa.chunked_array([pa.array([1772438523640001, None], pa.timestamp("us", "Etc/UTC")),
                                      pa.array([-1], pa.timestamp("us", "Etc/UTC"))]),
        "zoned_ms": pa.array([1000, 2, None], pa.timestamp("ms", "UTC")),
        "naive_s": pa.array([1000, None, 2], pa.timestamp("s")),
        "naive_ns": pa.array([5000, 6000, None], pa.timestamp("ns")),
        "text": pa.array(["a", None, "c"]),
    })
    got = records(t)
    assert got == t.to_pylist()
    assert got[0]["zoned_us"] == datetime(2026, 3, 2, 8, 2, 3, 640001, tzinfo=UTC)
    assert got[0]["zoned_us"].utcoffset().total_seconds() == 0
    assert got[0]["naive_s"].tzinfo is None
    assert records(pa.table({})) == []


def test_records_of_a_duckdb_query() -> None:
    eng = DuckDBEngine(":memory:")
    tbl = eng.query("SELECT TIMESTAMPTZ '2026-03-02 08:02:03.5+00' AS ts, 7 AS n UNION ALL SELECT NULL, 8")
    assert records(tbl) == [{"ts": datetime(2026, 3, 2, 8, 2, 3, 500000, tzinfo=UTC), "n": 7},
                            {"ts": None, "n": 8}]
