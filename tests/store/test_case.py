"""The case store on a real DuckDB file: schema, transactions, metadata, reopening."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wormsign import schema
from wormsign.ingest.base import rows_to_table
from wormsign.store import Case


def _row(n: int, host: str = "ws-01") -> dict:
    return {
        "ts": datetime(2026, 3, 2, 9, 0, n, tzinfo=UTC),
        "host": host,
        "kind": "auth",
        "src.file": "x.evtx",
        "src.record": n,
        "src.digest": "d" * 64,
        "src.format": "evtx",
        "user.name": f"user{n}",
    }


def test_events_table_has_every_schema_column(case_path):
    with Case.open(str(case_path)) as case:
        cols = [r[0] for r in case.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'events' ORDER BY ordinal_position"
        )]
    assert cols == [*schema.FIELD_NAMES, "eid"]  # eid: the event's id in the case (docs/schema.md)


def test_append_and_reopen_read_only(case_path):
    with Case.open(str(case_path)) as case:
        case.append_events(rows_to_table([_row(1), _row(2, "ws-02")]))
    with Case.open(str(case_path), read_only=True) as case:
        assert case.count() == 2
        got = case.rows('SELECT host, "user.name", ts FROM events ORDER BY "src.record"')
    assert got[0][0] == "ws-01" and got[1][1] == "user2"
    assert got[0][2] == datetime(2026, 3, 2, 9, 0, 1, tzinfo=UTC)


def test_transaction_rolls_back_on_error(case_path):
    with Case.open(str(case_path)) as case:
        with pytest.raises(RuntimeError), case.transaction():
            case.append_events(rows_to_table([_row(1)]))
            raise RuntimeError("boom")
        assert case.count() == 0


def test_values_are_bound_not_formatted(case_path):
    hostile = "x'); DROP TABLE events; --"
    with Case.open(str(case_path)) as case:
        case.append_events(rows_to_table([_row(1, hostile)]))
        assert case.rows("SELECT count(*) FROM events WHERE host = ?", [hostile])[0][0] == 1
        case.set_meta("note", {"v": hostile})
        assert case.get_meta("note") == {"v": hostile}
        assert case.count() == 1


def test_quote_rejects_unknown_columns():
    assert schema.q("source.ip") == '"source.ip"'
    with pytest.raises(KeyError):
        schema.q('x" OR 1=1 --')


def test_raw_records_are_stored_zstd_compressed(case_path):
    rows = [dict(_row(n % 60), **{"src.record": n}, raw='{"Event": {"n": %d, "pad": "%s"}}' % (n, "x" * 400)) for n in range(3000)]
    import pyarrow.parquet as pq

    with Case.open(str(case_path)) as case:
        case.append_events(rows_to_table(rows))
        back = case.rows("SELECT raw FROM events WHERE \"src.record\" = 2999")[0][0]
    (shard,) = sorted((case_path / "events").glob("part-*.parquet"))
    meta = pq.ParquetFile(shard).metadata
    raw = meta.schema.to_arrow_schema().get_field_index("raw")
    used = {meta.row_group(i).column(raw).compression for i in range(meta.num_row_groups)}
    assert used == {"ZSTD"}
    assert back == rows[-1]["raw"]
