"""The event search index of ``wormsign serve``: a narrow copy of the events in memory.

Searching the case itself reads ten text columns of every shard beside its keys file (the
``events`` view's positional join lets no filter reach the files): about 0.1 s a search on
500k events, and each page read every listed column of every event again. The index holds, per
event, only what the filters of /api/events compare (time, host, kind, code, the users
lower-cased, and its text: the short text columns lower-cased and joined by a separator, each
distinct text kept once in ``texts``) and the event id, in time order (DuckDB skips the blocks
outside a ``since``/``until``). A page is found in the index,
then its events are read by id from their shards alone (:func:`fetch_by_eid`).

The index is built on the first search of a case version (:attr:`wormsign.api.pool.ReadPool.version`)
and dropped when the version changes; a case of more than ``max_events`` events gets none (the
search reads the case as before).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, defaultdict
from typing import Any

import duckdb

from wormsign import schema
from wormsign.store import EID, EVENTS_DIR, KEY_COLUMNS, KEYS_DIR, SHARD_BITS, Case, shard_name

#: Joins the text columns in the index: a term with this character in it is searched in the case.
SEP = "\x1f"


class SearchIndex:
    """The index of one case version at a time, shared by the requests of a server."""

    def __init__(self, text_fields: tuple[str, ...], max_events: int) -> None:
        self.text_fields = text_fields
        self.max_events = max_events
        self._lock = threading.Lock()
        self._version: Any = None
        self._db: duckdb.DuckDBPyConnection | None = None

    def cursor(self, case: Case, version: Any) -> duckdb.DuckDBPyConnection | None:
        """A cursor over the index of ``case`` at ``version`` (built first if needed), or None for
        a case too large to index. Close the cursor after use."""
        with self._lock:
            if self._version != version:
                # The old index is dropped, not closed: closing a connection closes its cursors,
                # and a request of the old version may still be reading one. Its memory goes when
                # the last of them is closed.
                self._db, self._version = None, version
                if case.count() <= self.max_events:
                    self._db = self._build(case)
            return self._db.cursor() if self._db is not None else None

    def _build(self, case: Case) -> duckdb.DuckDBPyConnection:
        text = ", ".join(schema.q(c) for c in self.text_fields)
        sql = (f'SELECT {EID} AS eid, ts, "src.digest" AS digest, "src.record" AS record, host, kind, '
               f'"event.code" AS code, lower("user.name") AS u1, lower("user.target.name") AS u2, '
               f"lower(concat_ws(chr(31), {text})) AS text FROM events")
        reader = case.engine.con.sql(sql).to_arrow_reader(65_536)  # type: ignore[attr-defined]
        db = duckdb.connect(":memory:")
        try:
            db.register("_events", reader)
            db.execute("CREATE TEMP TABLE whole AS SELECT * FROM _events")
            db.unregister("_events")
            # Each distinct text once (events repeat their host, user and command line: a tenth
            # as many texts as events on the simulated case); an event points at its text.
            db.execute("CREATE TABLE texts AS SELECT row_number() OVER () AS tid, text "
                       "FROM (SELECT DISTINCT text FROM whole)")
            db.execute("CREATE TABLE idx AS SELECT w.* EXCLUDE (text), t.tid FROM whole w JOIN texts t "
                       "USING (text) ORDER BY ts, digest, record")
            db.execute("DROP TABLE whole")
        except BaseException:
            db.close()
            raise
        return db


class RowCache:
    """Events read by :func:`fetch_by_eid`, by id, for one case version: at most ``size``, the
    least recently asked for dropped (a page costs about 10 ms a shard it touches; pages asked
    again, and pages of the same matches, are served from here)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._version: Any = None
        self._rows: OrderedDict[int, tuple[Any, ...]] = OrderedDict()

    def get(self, version: Any, eids: list[int]) -> dict[int, tuple[Any, ...]]:
        with self._lock:
            if version != self._version:
                self._rows.clear()
                self._version = version
            out = {}
            for e in eids:
                row = self._rows.get(e)
                if row is not None:
                    self._rows.move_to_end(e)
                    out[e] = row
            return out

    def put(self, version: Any, rows: dict[int, tuple[Any, ...]]) -> None:
        with self._lock:
            if version != self._version:
                return
            self._rows.update(rows)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


def fetch_by_eid(case: Case, fields: tuple[str, ...], eids: list[int], cache: RowCache | None = None,
                 version: Any = None) -> list[tuple[Any, ...]]:
    """The ``fields`` of the events ``eids``, in that order, read from their shards (and the
    shards' keys files) alone: a filter on the ``events`` view reads every shard whole. With
    ``cache`` (the rows of the same ``fields`` at ``version``), the rows it holds are not read."""
    found = _rows_by_eid(case, fields, eids, cache, version)
    return [found[e] for e in eids if e in found]


def _rows_by_eid(case: Case, fields: tuple[str, ...], eids: list[int], cache: RowCache | None,
                 version: Any) -> dict[int, tuple[Any, ...]]:
    have = cache.get(version, eids) if cache is not None else {}
    by_shard: dict[int, list[int]] = defaultdict(list)
    for e in eids:
        if e not in have:
            by_shard[e >> SHARD_BITS].append(e)
    keyed = {int(i): bool(k) for i, k in case.rows("SELECT id, keys FROM shards")}
    cols = ", ".join(schema.q(f) for f in fields)
    replaced = [f for f in fields if f in KEY_COLUMNS]
    found: dict[int, tuple[Any, ...]] = {}
    mask = (1 << SHARD_BITS) - 1
    for shard, ids in by_shard.items():
        if shard not in keyed:
            continue
        # A range and a list of constants: the reader skips the row groups (and pages) outside.
        marks = ", ".join("?" * len(ids))
        rows = case.rows(f"SELECT {EID}, {cols} FROM read_parquet(?) WHERE {EID} BETWEEN ? AND ? "
                         f"AND {EID} IN ({marks})",
                         [os.path.join(case.root, EVENTS_DIR, shard_name(shard)), min(ids), max(ids), *ids])
        keys: dict[int, tuple[Any, ...]] = {}
        if keyed[shard] and replaced:
            kcols = ", ".join(schema.q(f) for f in replaced)
            keys = {int(r[0]): r[1:] for r in case.rows(
                f"SELECT file_row_number, {kcols} FROM read_parquet(?, file_row_number = true) "
                f"WHERE file_row_number BETWEEN ? AND ? AND file_row_number IN ({marks})",
                [os.path.join(case.root, KEYS_DIR, shard_name(shard)), min(ids) & mask, max(ids) & mask,
                 *(e & mask for e in ids)])}
        where = [fields.index(f) for f in replaced]
        for r in rows:
            vals = list(r[1:])
            k = keys.get(int(r[0]) & mask)
            if k is not None:
                for i, v in zip(where, k, strict=True):
                    vals[i] = v
            found[int(r[0])] = tuple(vals)
    if cache is not None and found:
        cache.put(version, found)
    found.update(have)
    return found


def fetch_refs(case: Case, index: duckdb.DuckDBPyConnection, refs: list[str], *,
               max_raw: int) -> dict[str, dict[str, Any]]:
    """:func:`wormsign.report.events.fetch_events` through the index: the references' event ids
    are looked up there (not in a scan of every shard beside its keys), then read by id."""
    from wormsign.report.events import ref_pairs, row_to_event

    pairs = ref_pairs(refs)
    if not pairs:
        return {}
    ids = index.execute(
        """WITH k AS (SELECT unnest(?::VARCHAR[]) AS d, unnest(?::BIGINT[]) AS r)
           SELECT i.digest, i.record, min(i.eid) FROM idx i JOIN k ON i.digest = k.d AND i.record = k.r
           GROUP BY ALL""",
        [[d for d, _ in pairs], [r for _, r in pairs]]).fetchall()
    eid_of = {(d, int(r)): int(e) for d, r, e in ids}
    rows = _rows_by_eid(case, schema.FIELD_NAMES, list(eid_of.values()), None, None)
    # in the order of the references' files, then of their records
    return {f"{d}:{r}": row_to_event(schema.FIELD_NAMES, rows[eid_of[(d, r)]], max_raw)
            for d, r in pairs if (d, r) in eid_of and eid_of[(d, r)] in rows}
