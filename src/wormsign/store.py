"""The case store: one file that holds a case's events, sources, rejects and host identities.

Tables (all in the engine, DuckDB by default):

``events``      the event model (:mod:`wormsign.schema`), one row per record.
``sources``     one row per ingested file, keyed by its SHA-256: re-ingesting adds nothing.
``rejects``     the first rejected records of each file, with the reason.
``host_addr``   which host held which address, and when (built by :mod:`wormsign.resolve`).
``host_conflicts`` addresses claimed by two hosts at once, reported rather than guessed.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from wormsign import schema
from wormsign.engine import Engine, open_engine

#: Per-column compression. ``raw`` (the original record, about 1 KiB of JSON an event) is
#: most of a case's bytes: DuckDB's default for text (dictionary and FSST) costs more CPU
#: to write than the rest of an event together, and zstd writes it twice as fast into a
#: file several times smaller.
_COMPRESSION = {"raw": "zstd"}

_EVENT_COLUMNS = ", ".join(
    f'"{f.name}" {schema.duckdb_type(f.type)}'
    + (f" USING COMPRESSION {_COMPRESSION[f.name]}" if f.name in _COMPRESSION else "")
    for f in schema.FIELDS
)

DDL = (
    f"CREATE TABLE IF NOT EXISTS events ({_EVENT_COLUMNS})",
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
)


#: Where a container's memory cap is written (cgroup v2, then v1).
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def memory_bytes() -> int | None:
    """The memory this process may use: the machine's, or its container's cap when lower."""
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


def want_write_marker(path: str) -> str:
    """The file a process waiting to write the case creates: ``wormsign serve`` opens no new
    read connection while it exists, so that a hunt or ingest gets the case (docs/formats.md)."""
    return str(path) + ".want-write"


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
                return open_engine(engine, path, read_only=read_only)
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


class Case:
    """An open case. Use :meth:`open` (or ``with Case.open(path) as case:``)."""

    def __init__(self, engine: Engine, path: str) -> None:
        self.engine = engine
        self.path = path

    @classmethod
    def open(cls, path: str, *, engine: str = "duckdb", read_only: bool = False, wait: float = 0.0) -> Case:
        """Open the case; while another process holds it, retry for up to ``wait`` seconds, then
        raise :class:`CaseLocked` naming that process. A writer that waits says so in
        :func:`want_write_marker`, so that a server's short read connections let it in."""
        eng = _open_engine(engine, str(path), read_only, wait)
        case = cls(eng, str(path))
        if not read_only:
            for stmt in DDL:
                eng.execute(stmt)
            case._add_new_columns()
        return case

    def _add_new_columns(self) -> None:
        """A case made by an earlier version gains the columns the event model has gained since
        (NULL in its old events; rows are appended by name, so their order does not matter)."""
        have = {r[0] for r in self.engine.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'")}
        for f in schema.FIELDS:
            if f.name not in have:
                self.engine.execute(f'ALTER TABLE events ADD COLUMN "{f.name}" {schema.duckdb_type(f.type)}')

    def __enter__(self) -> Case:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.close()

    def bounded(self, **settings: str) -> AbstractContextManager[None]:
        """Engine settings for a large job (ingest, resolution, hunt), put back afterwards: at
        most half of the memory this process may use (a container's cap included), so that
        DuckDB spills to its temporary folder beside the case instead of taking the machine;
        DuckDB's own default is 80 % of the machine's. ``settings`` are set too."""
        change = getattr(self.engine, "settings", None)
        if change is None:
            return nullcontext()
        total = memory_bytes()
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
        if table.schema != schema.SCHEMA:
            table = table.select(list(schema.FIELD_NAMES)).cast(schema.SCHEMA)
        self.engine.append("events", table)

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
        return int(self.rows("SELECT count(*) FROM events")[0][0])

    # -- metadata ----------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self.engine.execute("DELETE FROM meta WHERE key = ?", [key])
        self.engine.execute("INSERT INTO meta VALUES (?, ?)", [key, json.dumps(value)])

    def get_meta(self, key: str, default: Any = None) -> Any:
        r = self.rows("SELECT value FROM meta WHERE key = ?", [key])
        return json.loads(r[0][0]) if r else default
