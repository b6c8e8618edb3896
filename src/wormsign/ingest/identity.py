"""The identity of a Windows event record across copies of the same log.

A backup or a shadow copy of an EVTX file, or the same log exported twice, differs from the
original only in its header bytes or in the records one copy has and the other lacks: its
digest differs, so the file-level check (``sources``) does not see it, and without this module
its records would be stored twice (a brute force counted double). A record of an EVTX (or of its
``evtx_dump`` JSON) is the same record when its **channel, computer, record id and time** are the
same (``event.dataset``, ``host.name`` as recorded, ``src.record``, ``ts``).

It costs little at ingest: the catalog keeps, for every committed shard, the record-id range of
each (channel, computer) it holds (``record_ranges``). A new shard is checked against those
ranges first (one aggregate over four of its columns); only when a range overlaps, or the shard
holds a record twice, are the rows compared, and only with the shards whose ranges overlap (their
row groups' statistics on ``src.record`` skip the rest). The copies are taken out of the shard
before it is committed, counted per file (``copies``), and never stored. The first copy ingested
is the one kept, in this ingest or an earlier one. Records without a record id (JSON, Zeek, ECS
lines, whose ``src.record`` is a line number) are left alone.

``keep=True`` (``wormsign ingest --keep-copies``) stores copies as distinct events: the bench's
replicated corpora are copies made distinct by their header bytes on purpose.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wormsign import schema
from wormsign.store import EID, Case, ShardWriter

#: Readers whose ``src.record`` is the EVTX record id.
FORMATS = ("evtx", "evtx-json")
TABLE = "record_ranges"

_KEY = """coalesce("event.dataset", '') AS ch, coalesce("host.name", '') AS comp, "src.record" AS rec, ts"""
_WHERE = f""""src.format" IN ({", ".join(repr(f) for f in FORMATS)}) AND "src.record" IS NOT NULL"""

Range = tuple[str, str, int, int]  # channel, computer, lowest and highest record id


def _parquet(path: str) -> str:
    return "read_parquet('" + path.replace("'", "''") + "')"


def _files(paths: list[str]) -> str:
    return "read_parquet([" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "])"


def shard_ranges(case: Case, path: str) -> tuple[list[Range], bool]:
    """The (channel, computer) record-id ranges of the shard file at ``path``, and whether the
    shard holds a record twice."""
    rows = case.rows(
        f"""SELECT ch, comp, min(rec), max(rec), count(*), count(DISTINCT (rec, ts))
            FROM (SELECT {_KEY} FROM {_parquet(path)} WHERE {_WHERE}) GROUP BY ch, comp""")
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows], any(r[4] != r[5] for r in rows)


def _overlapping(case: Case, ranges: list[Range]) -> list[tuple[int, Range]]:
    """(shard, range) of the stored ranges that overlap one of ``ranges``."""
    if not ranges or not case.engine.has_table(TABLE):
        return []
    rows = case.rows(
        f"""WITH n AS (SELECT unnest(?::VARCHAR[]) AS ch, unnest(?::VARCHAR[]) AS comp,
                              unnest(?::BIGINT[]) AS lo, unnest(?::BIGINT[]) AS hi)
            SELECT DISTINCT r.shard, r.channel, r.computer, greatest(r.lo, n.lo), least(r.hi, n.hi)
            FROM {TABLE} r JOIN n ON r.channel = n.ch AND r.computer = n.comp AND r.lo <= n.hi AND r.hi >= n.lo""",
        [[r[0] for r in ranges], [r[1] for r in ranges], [r[2] for r in ranges], [r[3] for r in ranges]])
    return [(int(r[0]), (r[1], r[2], int(r[3]), int(r[4]))) for r in rows]


def _copies(case: Case, path: str, overlap: list[tuple[int, Range]]) -> dict[int, str]:
    """eid -> file digest of the rows of the shard at ``path`` that are copies: of a record of an
    overlapping stored shard, or of an earlier row of the same shard."""
    stored = {int(r[0]) for r in case.rows("SELECT id FROM shards")}
    want = {s for s, _ in overlap}
    # a range whose shard was merged away (Case.compact) is looked for in every shard
    files = case.event_files(stored if want - stored else want & stored)
    parts = [f"""SELECT eid, dg FROM (SELECT eid, "src.digest" AS dg,
                     row_number() OVER (PARTITION BY ch, comp, rec, ts ORDER BY eid) AS n
                 FROM (SELECT eid, "src.digest", {_KEY} FROM {_parquet(path)} WHERE {_WHERE})) WHERE n > 1"""]
    params: list[Any] = []
    if overlap and files:
        cond = " OR ".join(
            "(coalesce(\"event.dataset\", '') = ? AND coalesce(\"host.name\", '') = ? "
            "AND \"src.record\" BETWEEN ? AND ?)" for _ in overlap)
        for _, (ch, comp, lo, hi) in overlap:
            params += [ch, comp, lo, hi]
        parts.append(f"""SELECT eid, "src.digest" AS dg FROM (SELECT eid, "src.digest", {_KEY}
                             FROM {_parquet(path)} WHERE {_WHERE}) n
                         SEMI JOIN (SELECT {_KEY} FROM {_files(files)} WHERE {_WHERE} AND ({cond})) o
                         ON n.ch = o.ch AND n.comp = o.comp AND n.rec = o.rec AND n.ts = o.ts""")
    rows = case.rows(" UNION ".join(parts), params)
    return {int(e): str(d) for e, d in rows}


def _rewrite(case: Case, shard: ShardWriter, drop: set[int]) -> None:
    """The shard at its staging path again, without the rows ``drop`` (eids renumbered)."""
    table = pq.read_table(shard.path, columns=[*schema.FIELD_NAMES, EID])
    keep = pc.invert(pc.is_in(table.column(EID), pa.array(sorted(drop), pa.int64())))
    table = table.filter(keep).drop_columns([EID])
    shard.abort()  # removes the staged file
    fresh = ShardWriter(case.root, shard.shard)
    fresh.write(table)
    shard.rows = fresh.close()


def drop_copies(case: Case, shard: ShardWriter | None, *, keep: bool = False) -> tuple[dict[str, int], list[Range]]:
    """Take the copies of stored records out of a closed, uncommitted shard. Returns the copies
    left out per file digest, and the shard's ranges (for :func:`record`)."""
    if shard is None or not shard.rows:
        return {}, []
    ranges, twice = shard_ranges(case, shard.path)
    if keep or not ranges:
        return {}, ranges
    overlap = _overlapping(case, ranges)
    if not overlap and not twice:
        return {}, ranges
    copies = _copies(case, shard.path, overlap)
    if not copies:
        return {}, ranges
    _rewrite(case, shard, set(copies))
    per: dict[str, int] = {}
    for d in copies.values():
        per[d] = per.get(d, 0) + 1
    return per, ranges


def record(case: Case, shard: int, ranges: list[Range]) -> None:
    """Keep the ranges of a shard being committed (inside its commit's transaction)."""
    if not ranges:
        return
    case.engine.execute(
        f"""INSERT INTO {TABLE} SELECT ?, * FROM (SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),
                                                   unnest(?::BIGINT[]), unnest(?::BIGINT[]))""",
        [shard, [r[0] for r in ranges], [r[1] for r in ranges], [r[2] for r in ranges], [r[3] for r in ranges]])
