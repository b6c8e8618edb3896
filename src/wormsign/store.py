"""The case store: a directory that holds a case's events as Parquet shards, and a small
DuckDB catalog beside them.

Layout (docs/formats.md shows how to read it without wormsign)::

    CASE/
      catalog.duckdb          sources, rejects, shards, host identities, meta, the hunt's tables
      events/part-00000001.parquet ...   the events, one shard per ingest commit
      keys/part-00000001.parquet ...     resolved host keys of a shard's events (overlay)
      staging/                shards being written; what a killed run left is removed

Every event has an ``eid`` (BIGINT): its shard's number times 2**32 plus its row in the shard,
unique in the case. Resolution (:mod:`wormsign.resolve`) never rewrites a shard: it writes the
events' resolved ``source.host``, ``destination.host`` and ``host`` to the shard's keys file,
one row per event in the shard's order, and ``events`` (a view) reads the two side by side
(a positional join: no hash table, about 1.5 times a plain scan).

Catalog tables:

``events``      a view: the shards with their keys (the event model of :mod:`wormsign.schema`, and ``eid``).
``shards``      one row per committed shard: a shard is visible once its row is committed.
``sources``     one row per ingested file, keyed by its SHA-256: re-ingesting adds nothing.
``rejects``     the first rejected records of each file, with the reason.
``host_addr``   which host held which address, and when (built by :mod:`wormsign.resolve`).
``host_conflicts`` addresses claimed by two hosts at once, reported rather than guessed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from wormsign import schema
from wormsign.engine import Engine, open_engine
from wormsign.testhook import pause

log = logging.getLogger(__name__)

CATALOG = "catalog.duckdb"
EVENTS_DIR = "events"
KEYS_DIR = "keys"
STAGING_DIR = "staging"
#: The event id: shard number << SHARD_BITS | row in the shard.
EID = "eid"
SHARD_BITS = 32
#: The columns resolution may change (the keys overlay).
KEY_COLUMNS: tuple[str, ...] = ("source.host", "destination.host", "host")
#: A shard's columns: the event model, then ``eid``.
SHARD_SCHEMA: pa.Schema = schema.SCHEMA.append(pa.field(EID, pa.int64()))
KEYS_SCHEMA: pa.Schema = pa.schema([schema.SCHEMA.field(c) for c in KEY_COLUMNS])
#: Rows per Parquet row group: small enough that a query for some events (by ``eid``, by time)
#: skips most of a shard, large enough to compress well.
ROW_GROUP_ROWS = 128 * 1024
#: Columns with min/max statistics in the shards (the others' would cost space for nothing:
#: ``raw`` is up to 64 KiB a value).
STATS_COLUMNS: tuple[str, ...] = (EID, "ts", "kind", "host", "event.code", "src.digest", "src.record")

DDL = (
    """CREATE TABLE IF NOT EXISTS shards (
        id BIGINT PRIMARY KEY, rows BIGINT, committed_at TIMESTAMPTZ,
        keys BOOLEAN DEFAULT false, observed BOOLEAN DEFAULT false, identified BOOLEAN DEFAULT false)""",
    """CREATE TABLE IF NOT EXISTS sources (
        digest VARCHAR PRIMARY KEY, file VARCHAR, format VARCHAR, size BIGINT,
        records BIGINT, stored BIGINT, rejected BIGINT, truncated BIGINT,
        reasons VARCHAR, ingested_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS rejects (
        digest VARCHAR, file VARCHAR, record BIGINT, reason VARCHAR, detail VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS host_addr (
        ip VARCHAR, host VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ,
        evidence VARCHAR, n BIGINT)""",
    """CREATE TABLE IF NOT EXISTS host_conflicts (
        ip VARCHAR, hosts VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    # the record-id range of each (channel, computer) of a shard's EVTX records (ingest/identity.py)
    """CREATE TABLE IF NOT EXISTS record_ranges (
        shard BIGINT, channel VARCHAR, computer VARCHAR, lo BIGINT, hi BIGINT)""",
)


#: Where a container's memory cap is written (cgroup v2, then v1).
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


#: The memory wormsign may take, when lower than the machine's (``8GiB``, ``512MiB``, ``4G``, bytes):
#: a shared server's share, or the laptop a bench stands for.
MEMORY_ENV = "WORMSIGN_MEMORY"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.I)


def parse_size(text: str) -> int:
    """Bytes of a size as people write it: ``8GiB``, ``8G``, ``512MB`` (powers of 1024), ``1000``."""
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"not a size: {text[:40]!r} (write it as 8GiB, 512MiB or a number of bytes)")
    return int(float(m.group(1)) * 1024 ** " kmgt".index((m.group(2) or " ").lower()))


def memory_bytes() -> int | None:
    """The memory this process may use: the machine's, or its container's cap when lower, or
    ``WORMSIGN_MEMORY`` when lower still."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    for path in CGROUP_LIMITS:
        try:
            with open(path, encoding="ascii") as fh:
                text = fh.read().strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.isdigit():  # "max" (v2) means no cap
            total = min(total, int(text))
    if os.environ.get(MEMORY_ENV):
        try:
            total = min(total, parse_size(os.environ[MEMORY_ENV]))
        except ValueError as exc:
            raise ValueError(f"{MEMORY_ENV}: {exc}") from None
    return total


#: DuckDB's message when another process holds the file ("... is held in PROGRAM (PID 123) ...").
_HELD_RE = re.compile(r"held in (?P<prog>.*?) \(PID (?P<pid>\d+)\)")


def _holder(pid: int | None, prog: str | None) -> str:
    """What holds a case: the command line of process ``pid`` when it can be read, else the program."""
    if pid is not None:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                args = [a.decode("utf-8", "backslashreplace") for a in fh.read().split(b"\0") if a]
        except OSError:
            args = []
        if args:
            shown = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(args))
            return f"process {pid} ({shown[:300]})"
        return f"process {pid} ({prog})" if prog else f"process {pid}"
    return "another process"


class CaseLocked(Exception):
    """Another process holds the case (DuckDB allows one writer, or readers only when no writer)."""

    def __init__(self, path: str, pid: int | None, holder: str, waited: float) -> None:
        self.path, self.pid, self.holder, self.waited = path, pid, holder, waited
        wait = f" after waiting {waited:g} s" if waited else ""
        super().__init__(
            f"{path}: the case is in use by {holder}{wait}; wait for it to finish "
            "(or give a longer --wait) and run again"
        )


def _shard_of(name: str) -> int | None:
    """The shard number of a file name ``part-00000012.parquet`` (None for any other name)."""
    if name.startswith("part-") and name.endswith(".parquet") and name[5:-8].isdigit():
        return int(name[5:-8])
    return None


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def want_write_marker(path: str) -> str:
    """The file a process waiting to write the case creates: ``wormsign serve`` opens no new
    read connection while it exists, so that a hunt or ingest gets the case (docs/formats.md).
    Beside the case directory, whether its path was given with a trailing separator or not."""
    return os.path.normpath(str(path)) + ".want-write"


#: Seconds a command waits for a case another process holds, unless told otherwise (``--wait``).
DEFAULT_WAIT = 10.0


@dataclass(slots=True)
class SourceRecord:
    digest: str
    file: str
    format: str
    size: int
    records: int
    stored: int
    rejected: int
    truncated: int
    reasons: dict[str, int]


def _lock_holder(exc: Exception) -> tuple[int | None, str | None] | None:
    """(PID, program) of the process that holds the file, when ``exc`` is DuckDB's lock error."""
    if "different configuration than existing connections" in str(exc):
        return os.getpid(), "this process"  # a reader of this process (a server's pool) holds it
    if "Could not set lock" not in str(exc):
        return None
    m = _HELD_RE.search(str(exc))
    return (int(m["pid"]), m["prog"]) if m else (None, None)


def _open_engine(engine: str, path: str, read_only: bool, wait: float) -> Engine:
    start = time.monotonic()
    marker = None if read_only else want_write_marker(path)
    made = False
    try:
        while True:
            try:
                return open_engine(engine, os.path.join(path, CATALOG), read_only=read_only)
            except Exception as exc:  # the engine's own error type (duckdb.IOException)
                held = _lock_holder(exc)
                if held is None:
                    raise
                waited = time.monotonic() - start
                if waited >= wait:
                    raise CaseLocked(path, held[0], _holder(*held), round(wait, 1)) from exc
                if marker and not made:
                    try:
                        with open(marker, "x", encoding="ascii") as fh:
                            fh.write(f"{os.getpid()}\n")
                        made = True
                    except OSError:
                        pass  # another writer waits too, or the folder is read-only
                time.sleep(min(0.1, max(wait - waited, 0.0)))
    finally:
        if made and marker:
            try:
                os.unlink(marker)
            except OSError:
                pass


class CaseFormatError(Exception):
    """The path is no case of this version (an earlier version's single-file case, or not a case)."""


def _is_old_case(path: str) -> bool:
    """Whether ``path`` is a case file of an earlier version (one DuckDB database file)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return head[8:12] == b"DUCK"


#: Shards below this many rows that no resolution has read are merged (:meth:`Case.compact`)
#: once there are more than COMPACT_MAX_SHARDS of them.
COMPACT_SMALL_ROWS = 100_000
COMPACT_MAX_SHARDS = 64

#: Meta key of the definition the catalog's ``events`` view has.
_VIEW_META = "events_view"


def quote_ident(name: str) -> str:
    """A DuckDB quoted identifier for any name."""
    return '"' + name.replace('"', '""') + '"'


def _sql_list(paths: list[str]) -> str:
    """A list of file paths as a SQL literal (paths are the case's own; quotes are doubled)."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _empty_events() -> str:
    cols = ", ".join(f"NULL::{schema.duckdb_type(f.type)} AS {schema.q(f.name)}" for f in schema.FIELDS)
    return f"SELECT {cols}, NULL::BIGINT AS {EID} LIMIT 0"


class ShardWriter:
    """Writes one shard of events into the case's staging folder (an ingest worker's, or the
    parent's own); :meth:`Case.commit_shard` makes it visible. Each row gets its ``eid``."""

    def __init__(self, root: str, shard: int) -> None:
        self.shard = shard
        self.path = os.path.join(root, STAGING_DIR, shard_name(shard))
        self.rows = 0
        self._writer: Any = None
        self._held: list[pa.Table] = []
        self._held_rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if table.schema != schema.SCHEMA:
            table = table.select(list(schema.FIELD_NAMES)).cast(schema.SCHEMA)
        start = (self.shard << SHARD_BITS) + self.rows + self._held_rows
        eids = pa.array(range(start, start + table.num_rows), pa.int64())
        self._held.append(table.append_column(EID, eids))
        self._held_rows += table.num_rows
        if self._held_rows >= ROW_GROUP_ROWS:
            self._write()

    def _write(self) -> None:
        if not self._held:
            return
        import pyarrow.parquet as pq

        table = pa.concat_tables(self._held) if len(self._held) > 1 else self._held[0]
        self._held, n, self._held_rows = [], self._held_rows, 0
        if self._writer is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._writer = pq.ParquetWriter(
                self.path, SHARD_SCHEMA, compression="zstd",
                use_dictionary=[f for f in SHARD_SCHEMA.names if f not in ("raw", EID)],
                write_statistics=list(STATS_COLUMNS))
        self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self.rows += n

    def close(self) -> int:
        """Finish the file; the rows written (0: no file)."""
        self._write()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.rows

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the file goes anyway
                pass
            self._writer = None
        self._held, self._held_rows = [], 0
        try:
            os.unlink(self.path)
        except OSError:
            pass


def shard_name(shard: int) -> str:
    return f"part-{shard:08d}.parquet"


class Case:
    """An open case. Use :meth:`open` (or ``with Case.open(path) as case:``)."""

    def __init__(self, engine: Engine, path: str) -> None:
        self.engine = engine
        self.path = path
        self.root = os.path.abspath(path)
        self._next_shard: int | None = None
        self._shards: list[tuple[int, bool]] = []
        #: A condition on the events a windowed hunt reads (:meth:`raw_events_sql`); None: all.
        self.scope: str | None = None
        self._doomed: list[str] | None = None  # files a merge replaced, while their removal waits
        #: Where the passes over every event run when not on the catalog's DuckDB: a
        #: :class:`wormsign.engine.spark.SparkScans` (:func:`wormsign.engine.setup.open_case`).
        self.scans: Any = None

    @classmethod
    def open(cls, path: str, *, engine: str = "duckdb", read_only: bool = False, wait: float = 0.0) -> Case:
        """Open the case; while another process holds it, retry for up to ``wait`` seconds, then
        raise :class:`CaseLocked` naming that process. A writer that waits says so in
        :func:`want_write_marker`, so that a server's short read connections let it in.

        The catalog is DuckDB's; for the passes over every event on Apache Spark, open the case
        with :func:`wormsign.engine.setup.open_case` (``engine="spark"``).

        A case file of an earlier version (one DuckDB file) is refused with :class:`CaseFormatError`."""
        path = str(path)
        if os.path.isfile(path):
            if _is_old_case(path):
                raise CaseFormatError(
                    f"{path}: a case file of an earlier wormsign (one DuckDB file); this version keeps a "
                    f"case as a directory of Parquet shards: convert it with `wormsign convert {path} NEW_CASE` "
                    "or ingest the evidence again into a new case")
            raise CaseFormatError(f"{path}: not a case (a case is a directory)")
        if not read_only:
            os.makedirs(path, exist_ok=True)
        elif not os.path.isfile(os.path.join(path, CATALOG)):
            raise CaseFormatError(f"{path}: no case here (no {CATALOG})")
        eng = _open_engine(engine, path, read_only, wait)
        case = cls(eng, path)
        if not read_only:
            for stmt in DDL:
                eng.execute(stmt)
            case._recover()
        case.refresh()
        return case

    # -- shards ------------------------------------------------------------------------
    def _file(self, folder: str, shard: int) -> str:
        return os.path.join(self.root, folder, shard_name(shard))

    def _recover(self) -> None:
        """A writer's open: finish the commits a killed run left half done (a shard committed in
        the catalog, still in staging), and remove what no commit names (staging files, shards
        and keys files of uncommitted runs)."""
        known = {int(r[0]): bool(r[1]) for r in self.engine.rows("SELECT id, keys FROM shards")}
        for folder in (STAGING_DIR, EVENTS_DIR, KEYS_DIR):
            os.makedirs(os.path.join(self.root, folder), exist_ok=True)
        staging = os.path.join(self.root, STAGING_DIR)
        for name in os.listdir(staging):
            shard = _shard_of(name)
            full = os.path.join(staging, name)
            if shard is not None and shard in known and not os.path.exists(self._file(EVENTS_DIR, shard)):
                os.replace(full, self._file(EVENTS_DIR, shard))
                log.info("finished the commit of shard %d", shard)
                continue
            _remove(full)
        for folder in (EVENTS_DIR, KEYS_DIR):
            d = os.path.join(self.root, folder)
            for name in os.listdir(d):
                shard = _shard_of(name)
                if shard is None or shard not in known or (folder == KEYS_DIR and not known[shard]):
                    _remove(os.path.join(d, name))
        missing = [s for s in known if not os.path.exists(self._file(EVENTS_DIR, s))]
        if missing:
            raise CaseFormatError(f"{self.path}: {len(missing)} committed shards are missing from "
                                  f"{EVENTS_DIR}/ (first: {shard_name(min(missing))}); the case is damaged")

    def refresh(self) -> None:
        """Read the committed shards again and define ``events`` on them: a writer keeps the view
        in the catalog (plain DuckDB reads it too); a reader of a case that was moved since (the
        view names the files by absolute path) gets a TEMP view of its own."""
        self._shards = [(int(i), bool(k)) for i, k in self.engine.rows("SELECT id, keys FROM shards ORDER BY id")]
        sql = self.events_sql()
        if self.get_meta(_VIEW_META) == sql:
            return
        if getattr(self.engine, "read_only", False):
            self.engine.execute(f"CREATE OR REPLACE TEMP VIEW events AS {sql}")
            return
        with self.engine.transaction():
            self.engine.execute(f"CREATE OR REPLACE VIEW main.events AS {sql}")
            self.set_meta(_VIEW_META, sql)

    def shard_ids(self) -> list[int]:
        return [i for i, _ in self._shards]

    def events_sql(self, shards: Iterable[int] | None = None) -> str:
        """A query of the events of ``shards`` (all committed ones when None), keys applied: the
        resolved shards are read beside their keys files, row by row (``POSITIONAL JOIN``: a keys
        file has its shard's rows in the shard's order, and both lists are in the same order),
        the others as they are. One scan of each kind whatever the number of shards."""
        want = None if shards is None else set(shards)
        picked = [(i, k) for i, k in self._shards if want is None or i in want]
        if not picked:
            return _empty_events()
        plain = [self._file(EVENTS_DIR, i) for i, k in picked if not k]
        keyed = [i for i, k in picked if k]
        parts = [f"SELECT * FROM read_parquet({_sql_list(plain)})"] if plain else []
        if keyed:
            repl = ", ".join(f"k.{schema.q(c)} AS {schema.q(c)}" for c in KEY_COLUMNS)
            parts.append(f"SELECT e.* REPLACE ({repl}) "
                         f"FROM read_parquet({_sql_list([self._file(EVENTS_DIR, i) for i in keyed])}) e "
                         f"POSITIONAL JOIN read_parquet({_sql_list([self._file(KEYS_DIR, i) for i in keyed])}) k")
        return "\nUNION ALL ".join(parts)

    def raw_events_sql(self) -> str:
        """The events as ingest wrote them, without their keys: for every column but
        ``source.host``, ``destination.host`` and the ``host`` of a network sensor's records it
        reads what ``events`` does, and a filter reaches the files (their row groups' statistics
        skip what it excludes), which the keys' positional join prevents. ``scope``, when set
        (a windowed hunt), limits it as it limits ``events``."""
        if not self._shards:
            return _empty_events()
        sql = f"SELECT * FROM read_parquet({self.shard_files(self.shard_ids())})"
        return f"{sql} WHERE {self.scope}" if self.scope else sql

    def event_files(self, shards: Iterable[int]) -> list[str]:
        """The raw files of ``shards``, in order."""
        return [self._file(EVENTS_DIR, i) for i in sorted(shards)]

    def key_files(self, shards: Iterable[int]) -> dict[int, str]:
        """Shard -> keys file of those of ``shards`` that have keys."""
        want = set(shards)
        return {i: self._file(KEYS_DIR, i) for i, k in self._shards if k and i in want}

    def shard_files(self, shards: Iterable[int]) -> str:
        """The raw files of ``shards`` (as ingest wrote them, without keys) as a SQL list literal."""
        return _sql_list([self._file(EVENTS_DIR, i) for i in sorted(shards)])

    def new_shard(self) -> ShardWriter:
        """A writer for a new shard (numbers are never reused within a run; a killed run's are
        free again, its files removed on the next open)."""
        if self._next_shard is None:
            top = self.engine.rows("SELECT coalesce(max(id), 0) FROM shards")[0][0]
            self._next_shard = int(top) + 1
        shard, self._next_shard = self._next_shard, self._next_shard + 1
        return ShardWriter(self.root, shard)

    def commit_shard(self, writer: ShardWriter | None, before_commit: Any = None, *, refresh: bool = True) -> None:
        """Make a closed shard visible: its ``shards`` row (and whatever ``before_commit()``
        records, such as its ``sources`` rows) in one catalog transaction, then the file moves
        from staging into ``events/``. A run killed between the two is finished on the next open.
        ``refresh=False``: the ``events`` view is left for :meth:`refresh` (an ingest commits
        many shards and reads none)."""
        self.commit_shards([writer] if writer is not None else [], before_commit, refresh=refresh)

    def commit_shards(self, writers: list[ShardWriter], before_commit: Any = None, *, refresh: bool = True) -> None:
        """:meth:`commit_shard` for several closed shards at once: their ``shards`` rows in one
        statement, in the same transaction as ``before_commit()``, then their files moved (an
        ingest's parser processes finish shards faster than one commit a shard is worth). A
        writer without rows is removed."""
        full = [w for w in writers if w.rows]
        with self.engine.transaction():
            if full:
                self.engine.execute(
                    "INSERT INTO shards (id, rows, committed_at) SELECT unnest(?::BIGINT[]), unnest(?::BIGINT[]), ?",
                    [[w.shard for w in full], [w.rows for w in full], datetime.now(UTC)])
            if before_commit is not None:
                before_commit()
            pause("commit")  # crash tests: everything recorded, nothing committed
        for w in writers:
            if not w.rows:
                w.abort()
        if full:
            pause("committed")  # crash tests: committed, the files still in staging
            for w in full:
                os.replace(w.path, self._file(EVENTS_DIR, w.shard))
            if refresh:
                self.refresh()

    def compact(self, *, small: int = COMPACT_SMALL_ROWS, most: int = COMPACT_MAX_SHARDS) -> int:
        """Merge the small shards no resolution has read yet into one (many small ingests, one
        file each, would otherwise leave thousands of tiny files that every query opens) once
        there are more than ``most`` of them; return how many were merged. The new shard and the
        removal of the old ones commit together; a run killed on the way leaves one or the other."""
        rows = self.engine.rows("SELECT id, rows FROM shards WHERE NOT keys AND NOT observed AND rows < ? ORDER BY id",
                                [small])
        if len(rows) <= most:
            return 0
        old = [int(r[0]) for r in rows]
        self._merge(old, False, lambda new, starts: None)
        return len(old)

    def merge_resolved(self, shards: list[int], rename: Callable[[int, list[tuple[int, int]]], None]) -> int:
        """Merge the resolved ``shards`` into one new shard (their events, then their keys files,
        in that order) and return its number: a pure renaming of their events, nothing is
        computed again. ``rename(new, starts)`` (``starts``: each old shard and the row its events
        start at in the new one) renames, in the same catalog transaction, what names their
        events by shard or ``eid``. The keys file is in place before the commit (one that no
        commit names is removed on the next open); the old files are removed after it."""

        def renamed(new: int, starts: list[tuple[int, int]]) -> None:
            self.engine.execute("UPDATE shards SET keys = true, observed = true, identified = true WHERE id = ?", [new])
            self.engine.execute("UPDATE record_ranges SET shard = ? WHERE list_contains(?, shard)", [new, shards])
            rename(new, starts)

        return self._merge(shards, True, renamed)

    def _merge(self, shards: list[int], keys: bool, renamed: Callable[[int, list[tuple[int, int]]], None]) -> int:
        """``shards``' events (and with ``keys`` their keys files) in one new shard, committed with
        ``renamed(new, starts)`` and the old shards' rows gone; the old files go after the commit."""
        import pyarrow.parquet as pq

        w = self.new_shard()
        kfile = self._file(KEYS_DIR, w.shard)
        kw = pq.ParquetWriter(kfile + ".tmp", KEYS_SCHEMA, compression="zstd") if keys else None
        starts: list[tuple[int, int]] = []
        at = 0
        try:
            for i in shards:
                events = pq.read_table(self._file(EVENTS_DIR, i), columns=list(schema.FIELD_NAMES))
                if kw is not None:
                    keyed = pq.read_table(self._file(KEYS_DIR, i)).select(KEYS_SCHEMA.names).cast(KEYS_SCHEMA)
                    if keyed.num_rows != events.num_rows:
                        raise CaseFormatError(f"{self.path}: shard {i}: {keyed.num_rows} keys for "
                                              f"{events.num_rows} events")
                    kw.write_table(keyed)
                starts.append((i, at))
                at += events.num_rows
                w.write(events)
            w.close()
            if kw is not None:
                kw.close()
                os.replace(kfile + ".tmp", kfile)
        except BaseException:
            w.abort()
            if kw is not None:
                kw.close()
                _remove(kfile + ".tmp")
            raise

        def commit() -> None:
            self.engine.execute("DELETE FROM shards WHERE list_contains(?, id)", [shards])
            renamed(w.shard, starts)

        self.commit_shard(w, commit)
        for i in shards:
            self._discard(self._file(EVENTS_DIR, i))
            if keys:
                self._discard(self._file(KEYS_DIR, i))
        return w.shard

    def _discard(self, path: str) -> None:
        """Remove a file a merge replaced (committed: the catalog no longer names it), now or at
        the end of :meth:`removals_deferred`."""
        if self._doomed is not None:
            self._doomed.append(path)
        else:
            _remove(path)

    @contextmanager
    def removals_deferred(self) -> Iterator[None]:
        """Keep the files merges replace until the end of the block: a reader of this process
        whose transaction began before a merge's commit (the live writer's lent connection,
        api/pool.py) still reads them. A run killed before the end leaves them, and the next
        open removes them (files no committed shard names)."""
        self._doomed = []
        try:
            yield
        finally:
            doomed, self._doomed = self._doomed, None
            for path in doomed:
                _remove(path)

    def clean_staging(self) -> None:
        """Remove the staging files of this run's uncommitted shards (a failed ingest)."""
        d = os.path.join(self.root, STAGING_DIR)
        for name in os.listdir(d) if os.path.isdir(d) else ():
            _remove(os.path.join(d, name))

    def write_keys(self, shard: int, table: pa.Table) -> None:
        """Store the resolved keys of a shard's events (``KEYS_SCHEMA``: every row of the shard,
        in its order), replacing the earlier ones. Call :meth:`refresh` after a batch of shards."""
        import pyarrow.parquet as pq

        tmp = self._file(KEYS_DIR, shard) + ".tmp"
        pq.write_table(table.cast(KEYS_SCHEMA), tmp, compression="zstd")
        self.install_keys(shard, tmp)

    def install_keys(self, shard: int, file: str) -> None:
        """Make ``file`` (a Parquet file of ``KEYS_SCHEMA``'s columns, every row of the shard in
        its order, written beside the case, e.g. by Spark) the keys file of ``shard``."""
        os.replace(file, self._file(KEYS_DIR, shard))
        self.engine.execute("UPDATE shards SET keys = true WHERE id = ?", [shard])

    def staging_dir(self, name: str) -> str:
        """An empty folder in the case's staging area (a writer's next open removes what is left)."""
        path = os.path.join(self.root, STAGING_DIR, name)
        _remove(path)
        return path

    def __enter__(self) -> Case:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.close()
        # a Spark session is the process's: it stays for the next case (SparkScans.close ends it)

    def bounded(self, **settings: str) -> AbstractContextManager[None]:
        """Engine settings for a large job (ingest, resolution, hunt), put back afterwards: at
        most half of the memory this process may use (a container's cap included), so that
        DuckDB spills to its temporary folder beside the case instead of taking the machine;
        DuckDB's own default is 80 % of the machine's. ``settings`` are set too.

        DuckDB's choice of a hash join's build side from estimated sizes is off: the ``events``
        view (shards beside their keys files, :meth:`events_sql`) is estimated at no rows, so a
        join of the events with a small table would hash every event (the Sigma field table of
        34M events ran out of 4 GiB that way); the build side is then the one the SQL names."""
        change = getattr(self.engine, "settings", None)
        if change is None:
            return nullcontext()
        total = memory_bytes()
        settings = {"disabled_optimizers": "build_side_probe_side", **settings}
        if total is not None:
            settings = {"memory_limit": f"{max(total // 2**21, 256)}MiB", **settings}
        return change(**settings)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.engine.transaction():
            yield

    # -- sources ---------------------------------------------------------------------
    def has_source(self, digest: str) -> bool:
        t = self.engine.query("SELECT 1 FROM sources WHERE digest = ? LIMIT 1", [digest])
        return t.num_rows > 0

    def add_source(self, rec: SourceRecord) -> None:
        self.engine.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                rec.digest,
                rec.file,
                rec.format,
                rec.size,
                rec.records,
                rec.stored,
                rec.rejected,
                rec.truncated,
                json.dumps(rec.reasons, sort_keys=True),
                datetime.now(UTC),
            ],
        )

    def add_rejects(self, digest: str, rejects: Iterable[Any]) -> None:
        for r in rejects:
            self.engine.execute(
                "INSERT INTO rejects VALUES (?, ?, ?, ?, ?)", [digest, r.file, r.record, r.reason, r.detail]
            )

    # -- events ----------------------------------------------------------------------
    def append_events(self, table: pa.Table) -> None:
        """Store rows as a shard of their own, committed at once (tests, tools; ingest writes
        shards through :class:`ShardWriter`)."""
        w = self.new_shard()
        try:
            w.write(table)
            w.close()
        except BaseException:
            w.abort()
            raise
        self.commit_shard(w)

    def query(self, sql: str, params: Iterable[Any] = ()) -> pa.Table:
        return self.engine.query(sql, list(params))

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self.engine.rows(sql, list(params))

    def drop(self, name: str) -> None:
        """Drop the table or view ``name`` (a name from wormsign's code), whichever it is, if any."""
        found = self.rows("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name])
        for (kind,) in found:
            self.engine.execute(f'DROP {"VIEW" if kind == "VIEW" else "TABLE"} "{name}"')

    def count(self) -> int:
        return int(self.rows("SELECT coalesce(sum(rows), 0) FROM shards")[0][0])

    # -- metadata ----------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self.engine.execute("DELETE FROM meta WHERE key = ?", [key])
        self.engine.execute("INSERT INTO meta VALUES (?, ?)", [key, json.dumps(value)])

    def get_meta(self, key: str, default: Any = None) -> Any:
        r = self.rows("SELECT value FROM meta WHERE key = ?", [key])
        return json.loads(r[0][0]) if r else default


#: Tables an earlier version's single-file case shares with this version's catalog (the rest,
#: meta included, is the resolver's and the hunt's, made again from the events).
_CARRIED = ("sources", "rejects")


def convert(old: str, new: str, *, batch_rows: int = 1_000_000) -> int:
    """Copy an earlier version's single-file case ``old`` into a new case directory ``new``:
    its events become shards (in their stored order), its sources, rejects and meta carry over
    (the resolver's and the hunt's stored state does not: the next hunt makes it again). Returns
    the number of events."""
    import duckdb

    if os.path.exists(new):
        raise CaseFormatError(f"{new}: exists already; give a new path for the converted case")
    src = duckdb.connect(old, read_only=True)
    try:
        with Case.open(new) as case:
            total = 0
            have = {r[0] for r in src.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'").fetchall()}
            cols = ", ".join(schema.q(f.name) if f.name in have else f"NULL::{schema.duckdb_type(f.type)} AS "
                             f"{schema.q(f.name)}" for f in schema.FIELDS)
            reader = src.sql(f"SELECT {cols} FROM events ORDER BY rowid").to_arrow_reader(batch_rows)
            for rb in reader:
                case.append_events(pa.Table.from_batches([rb]))
                total += rb.num_rows
            for table in _CARRIED:
                have = {r[0] for r in src.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
                if not have:
                    continue
                data = src.sql(f'SELECT * FROM "{table}"').to_arrow_table()
                case.engine.append(table, data)
            return total
    finally:
        src.close()
