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

Where the shard's rows are still in memory (:class:`Staged`: a group of small files, up to a row
group's worth), the same checks run on the Arrow table before the shard is written (its ranges
and repeats in Arrow, the overlapping stored records fetched by one query), so that copies are
never written and read back: on the 593 files of hayabusa-sample-evtx, whose exports share records,
writing the shard again took a third of the ingest. A worker takes out its shard's own repeats so;
the parent, which holds the catalog, then compares it with the stored shards only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wormsign import schema
from wormsign.store import EID, ROW_GROUP_ROWS, SHARD_BITS, Case, ShardWriter

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


def _stored(case: Case, overlap: list[tuple[int, Range]]) -> tuple[list[str], str, list[Any]]:
    """The files of the stored shards that ``overlap`` names, and the condition (with its
    parameters) that picks the records of its ranges."""
    stored = {int(r[0]) for r in case.rows("SELECT id FROM shards")}
    want = {s for s, _ in overlap}
    # a range whose shard was merged away (Case.compact) is looked for in every shard
    files = case.event_files(stored if want - stored else want & stored)
    cond = " OR ".join(
        "(coalesce(\"event.dataset\", '') = ? AND coalesce(\"host.name\", '') = ? "
        "AND \"src.record\" BETWEEN ? AND ?)" for _ in overlap)
    params: list[Any] = []
    for _, (ch, comp, lo, hi) in overlap:
        params += [ch, comp, lo, hi]
    return files, cond, params


def _copies(case: Case, path: str, overlap: list[tuple[int, Range]], *,
            within: bool = True) -> dict[int, str]:
    """eid -> file digest of the rows of the shard at ``path`` that are copies: of a record of an
    overlapping stored shard, or (``within``) of an earlier row of the same shard."""
    parts = [f"""SELECT eid, dg FROM (SELECT eid, "src.digest" AS dg,
                     row_number() OVER (PARTITION BY ch, comp, rec, ts ORDER BY eid) AS n
                 FROM (SELECT eid, "src.digest", {_KEY} FROM {_parquet(path)} WHERE {_WHERE})) WHERE n > 1"""
             ] if within else []
    params: list[Any] = []
    files, cond, cparams = _stored(case, overlap) if overlap else ([], "", [])
    if files:
        params += cparams
        parts.append(f"""SELECT eid, "src.digest" AS dg FROM (SELECT eid, "src.digest", {_KEY}
                             FROM {_parquet(path)} WHERE {_WHERE}) n
                         SEMI JOIN (SELECT {_KEY} FROM {_files(files)} WHERE {_WHERE} AND ({cond})) o
                         ON n.ch = o.ch AND n.comp = o.comp AND n.rec = o.rec AND n.ts = o.ts""")
    if not parts:
        return {}
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


def drop_copies(case: Case, shard: ShardWriter | None, *, keep: bool = False,
                checked: Checked | None = None,
                known: Known | None = None) -> tuple[dict[str, int], list[Range]]:
    """Take the copies of stored records out of a closed, uncommitted shard. Returns the copies
    left out per file digest, and the shard's ranges (for :func:`record`). ``checked``: what
    :class:`Staged` found while the rows were in memory (only what it left is done here);
    ``known``: the stored ranges and this run's identities in memory (:class:`Known`)."""
    if shard is None or not shard.rows:
        return ({}, []) if checked is None else (dict(checked.copies), checked.ranges)
    if checked is None:
        ranges, twice = shard_ranges(case, shard.path)
        per: dict[str, int] = {}
    else:
        ranges, twice, per = checked.ranges, False, dict(checked.copies)
        if checked.stored:
            return per, ranges
    if keep or not ranges:
        return per, ranges
    overlap = known.overlapping(ranges) if known is not None else _overlapping(case, ranges)
    if not overlap and not twice:
        return per, ranges
    if checked is not None and checked.keys is not None:  # the shard's own identities: no read of it
        keys = checked.keys
        found = known.of_stored(keys, overlap) if known is not None else _of_stored(case, keys, overlap)
        base = shard.shard << SHARD_BITS
        copies = {base + r: d for r, d in zip(found.column("row").to_pylist(), found.column("dg").to_pylist(),
                                                strict=True)}
    else:
        copies = _copies(case, shard.path, overlap, within=checked is None)
    if not copies:
        return per, ranges
    _rewrite(case, shard, set(copies))
    for d in copies.values():
        per[d] = per.get(d, 0) + 1
    return per, ranges


# -- the same checks on rows still in memory -------------------------------------------------

_IDENTIFIED = pa.array(FORMATS, pa.string())
_KEYS = ["ch", "comp", "rec", "ts"]


@dataclass(slots=True)
class Checked:
    """What :class:`Staged` found in memory: the shard's ranges, the copies it took out per file
    digest, and whether the stored shards were compared too (else only the shard's own rows)."""

    ranges: list[Range] = field(default_factory=list)
    copies: dict[str, int] = field(default_factory=dict)
    stored: bool = False
    #: the identities of the rows written (:func:`key_table` of the shard), for the parent's
    #: comparison with the stored shards when ``stored`` is False (None: not known)
    keys: pa.Table | None = None


def key_table(table: pa.Table) -> pa.Table:
    """The identity of each row of ``table`` that has one (``_KEY``'s columns, ``dg`` its file's
    digest, ``row`` its place in ``table``)."""
    have = pc.and_(pc.is_in(table.column("src.format"), value_set=_IDENTIFIED),
                   pc.is_valid(table.column("src.record")))
    keys = pa.table({
        "ch": pc.fill_null(table.column("event.dataset"), ""),
        "comp": pc.fill_null(table.column("host.name"), ""),
        "rec": table.column("src.record"),
        "ts": table.column("ts"),
        "dg": table.column("src.digest"),
        "row": pa.array(range(table.num_rows), pa.int64()),
    })
    return keys.filter(have)


def key_ranges(keys: pa.Table) -> list[Range]:
    """:func:`shard_ranges`'s ranges, of a :func:`key_table`."""
    if not keys.num_rows:
        return []
    g = keys.group_by(["ch", "comp"], use_threads=False).aggregate([("rec", "min"), ("rec", "max")])
    return list(zip(g.column("ch").to_pylist(), g.column("comp").to_pylist(),
                    g.column("rec_min").to_pylist(), g.column("rec_max").to_pylist(), strict=True))


def _repeats(keys: pa.Table) -> pa.Table:
    """The rows of ``keys`` that repeat an earlier row's identity (the first of each is kept)."""
    first = keys.group_by(_KEYS, use_threads=False).aggregate([("row", "min")])
    if first.num_rows == keys.num_rows:
        return keys.slice(0, 0)
    both = keys.join(first, keys=_KEYS, use_threads=False)
    return both.filter(pc.not_equal(both.column("row"), both.column("row_min")))


def _of_stored(case: Case, keys: pa.Table, overlap: list[tuple[int, Range]]) -> pa.Table:
    """The rows of ``keys`` whose record a stored shard holds (those ``overlap`` names)."""
    files, cond, params = _stored(case, overlap)
    if not files:
        return keys.slice(0, 0)
    old = case.query(f"SELECT DISTINCT {_KEY} FROM {_files(files)} WHERE {_WHERE} AND ({cond})", params)
    if not old.num_rows:
        return keys.slice(0, 0)
    old = old.cast(keys.select(_KEYS).schema)
    return keys.join(old, keys=_KEYS, join_type="left semi", use_threads=False)


def take_copies(table: pa.Table, known: Known | None, *, keep: bool = False) -> tuple[pa.Table, Checked]:
    """``table`` (a shard's rows, in order) without its copies: the rows that repeat an earlier
    row, and, with ``known``, the rows whose record a stored shard holds (what :func:`drop_copies`
    does to a written shard). A worker, which has no catalog, passes none."""
    keys = key_table(table)
    done = Checked(key_ranges(keys), {}, known is not None, keys)
    if keep or not done.ranges:
        return table, done
    out = [_repeats(keys)]
    if known is not None:
        overlap = known.overlapping(done.ranges)
        if overlap:
            out.append(known.of_stored(keys, overlap))
    drop = pa.concat_tables([t.select(["row", "dg"]) for t in out])
    if not drop.num_rows:
        return table, done
    rows = pc.unique(drop.column("row"))
    counts = pc.value_counts(drop.take(pc.index_in(rows, drop.column("row"))).column("dg"))
    done.copies = dict(zip(counts.field(0).to_pylist(), counts.field(1).to_pylist(), strict=True))
    if len(rows) > 64:
        every = pa.array(range(table.num_rows), pa.int64())
        table = table.filter(pc.invert(pc.is_in(every, value_set=rows)))
    else:
        # few copies: the rows between them as slices (the filter copies every column, raw included)
        parts, at = [], 0
        for i in sorted(rows.to_pylist()):
            parts.append(table.slice(at, i - at))
            at = i + 1
        parts.append(table.slice(at))
        table = pa.concat_tables(parts)
    done.keys = key_table(table)  # the rows moved up
    return table, done


#: Identities of the rows an ingest committed that it keeps in memory (:class:`Known`), at most:
#: about 40 bytes each.
KNOWN_ROWS = 2_000_000


class Known:
    """What an ingest run knows of the stored records without asking the catalog: the stored
    ranges (read once, then kept up to date by its commits) and the identities of the rows it
    committed itself (up to ``KNOWN_ROWS``). A collection of small exports of the same computers
    has ranges that overlap in nearly every shard (record ids 1..n in each export): its shards
    are compared with the run's own in memory, and only shards of earlier runs are read."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self._ranges: dict[tuple[str, str], list[tuple[int, int, int]]] | None = None
        self._keys: dict[int, pa.Table] = {}
        self._rows = 0

    def overlapping(self, ranges: list[Range]) -> list[tuple[int, Range]]:
        """:func:`_overlapping`, from memory."""
        if self._ranges is None:
            self._ranges = {}
            if self.case.engine.has_table(TABLE):
                rows = self.case.rows(f"SELECT shard, channel, computer, lo, hi FROM {TABLE}")
                for shard, ch, comp, lo, hi in rows:
                    self._ranges.setdefault((ch, comp), []).append((int(shard), int(lo), int(hi)))
        out: set[tuple[int, Range]] = set()
        for ch, comp, lo, hi in ranges:
            for shard, slo, shi in self._ranges.get((ch, comp), ()):
                if slo <= hi and shi >= lo:
                    out.add((shard, (ch, comp, max(slo, lo), min(shi, hi))))
        return sorted(out)

    def of_stored(self, keys: pa.Table, overlap: list[tuple[int, Range]]) -> pa.Table:
        """:func:`_of_stored`: the shards this run committed compared in memory, the others read."""
        mine = sorted({s for s, _ in overlap if s in self._keys})
        older = [(s, r) for s, r in overlap if s not in self._keys]
        found = []
        if mine:
            held = pa.concat_tables([self._keys[s] for s in mine])
            found.append(keys.join(held, keys=_KEYS, join_type="left semi", use_threads=False))
        if older:
            found.append(_of_stored(self.case, keys, older))
        return pa.concat_tables(found) if found else keys.slice(0, 0)

    def add(self, shard: int, ranges: list[Range], keys: pa.Table | None) -> None:
        """A shard committed: its ranges, and its rows' identities while there is room."""
        if self._ranges is not None:
            for ch, comp, lo, hi in ranges:
                self._ranges.setdefault((ch, comp), []).append((shard, lo, hi))
        if keys is not None and keys.num_rows and self._rows + keys.num_rows <= KNOWN_ROWS:
            self._keys[shard] = keys.select(_KEYS)
            self._rows += keys.num_rows


#: Rows a :class:`Staged` shard holds in memory (as many as a ShardWriter holds before it writes).
HOLD_ROWS = ROW_GROUP_ROWS


class Staged:
    """A shard being written whose rows are held in memory until it closes, up to ``limit`` rows,
    so that :func:`take_copies` takes the copies out before anything is written; past the limit
    (a large file) the rows go to the file as they come, and :func:`drop_copies` checks it whole."""

    def __init__(self, writer: ShardWriter, limit: int | None = None) -> None:
        self.writer = writer
        self.limit = HOLD_ROWS if limit is None else limit
        self.shard, self.path = writer.shard, writer.path
        self._tables: list[pa.Table] = []
        self._rows = 0
        self.spilled = False

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        if self.spilled:
            self.writer.write(table)
            return
        self._tables.append(table)
        self._rows += table.num_rows
        if self._rows > self.limit:
            for t in self._tables:
                self.writer.write(t)
            self._tables, self.spilled = [], True

    def close(self, known: Known | None, *, keep: bool = False) -> Checked | None:
        """Write the shard; what was found in memory (None: it spilled, nothing was checked)."""
        checked = None
        if self._tables:
            table = pa.concat_tables(self._tables) if len(self._tables) > 1 else self._tables[0]
            self._tables = []
            table, checked = take_copies(table, known, keep=keep)
            self.writer.write(table)
        self.writer.close()
        return checked

    @property
    def rows(self) -> int:
        return self.writer.rows

    def abort(self) -> None:
        self._tables = []
        self.writer.abort()


def record(case: Case, shard: int, ranges: list[Range]) -> None:
    """Keep the ranges of a shard being committed (inside its commit's transaction)."""
    if not ranges:
        return
    case.engine.execute(
        f"""INSERT INTO {TABLE} SELECT ?, * FROM (SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),
                                                   unnest(?::BIGINT[]), unnest(?::BIGINT[]))""",
        [shard, [r[0] for r in ranges], [r[1] for r in ranges], [r[2] for r in ranges], [r[3] for r in ranges]])
