"""One read-only connection to a case's catalog, shared by the API requests in flight.

Opening the case for each request cost a DuckDB connection, two catalog queries and DuckDB's
cache of Parquet footers (about 20 ms a request, and every shard's footer read again). The pool
opens the catalog once while requests come in and gives each request a cursor of its own (a
cursor is a connection to the same database: it can run, and be interrupted, on its own).

DuckDB lets a process write the case only when no other process holds it, so the pool holds it
no longer than the requests do: it closes the connection ``linger`` seconds after the last
request in flight is done, and at once (when the requests in flight are done) while a writer
waits for the case (its marker file: :func:`wormsign.store.want_write_marker`); no new request
gets the case then. While the catalog is open no other process can change it, so what is read
from it may be kept for as long as :attr:`ReadPool.version` stays the same.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from wormsign.engine.duckdb import DuckDBEngine
from wormsign.store import CATALOG, Case


class WriterWaits(Exception):
    """A hunt or ingest waits for the case: no new read starts."""


class _Cursor(DuckDBEngine):
    """The engine of one request: a cursor of the pool's connection."""

    def __init__(self, con: Any, path: str) -> None:  # no super().__init__: no new connection
        self.path = path
        self.read_only = True
        self.con = con
        self._depth = 0


def _stamp(path: str) -> tuple[Any, ...]:
    """What changes when a writer changes the catalog: its file's and its log's size and time."""
    out: list[Any] = []
    for name in (CATALOG, CATALOG + ".wal"):
        try:
            st = os.stat(os.path.join(path, name))
            out += [st.st_ino, st.st_size, st.st_mtime_ns]
        except OSError:
            out += [None, None, None]
    return tuple(out)


class ReadPool:
    """The case at ``path``, read-only, for the requests of a server (see the module's doc)."""

    def __init__(self, path: str, marker: str, *, wait: float, linger: float) -> None:
        self.path = path
        self.marker = marker
        self.wait = wait
        self.linger = linger
        self._cond = threading.Condition()
        self._case: Case | None = None
        self._temp_view: str | None = None  # the events view a moved case needs in each cursor
        self._users = 0
        self._timer: threading.Timer | None = None
        self._version: tuple[Any, ...] | None = None

    @property
    def version(self) -> tuple[Any, ...] | None:
        """The catalog's state while it is open (the same tuple means the same case content)."""
        return self._version

    @contextmanager
    def case(self) -> Iterator[Case]:
        """The case for one request (a cursor of the shared connection). Raises
        :class:`WriterWaits` while a writer waits for the case, and :class:`~wormsign.store.CaseLocked`
        (or DuckDB's error) when it cannot be opened."""
        with self._cond:
            if os.path.exists(self.marker):
                self._close_when_idle()
                raise WriterWaits()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._case is None:
                self._open()
            assert self._case is not None
            self._users += 1
            parent, view = self._case, self._temp_view
            try:  # the parent connection is used by one thread at a time
                cur = parent.engine.con.cursor()  # type: ignore[attr-defined]
            except BaseException:
                self._users -= 1
                raise
        try:
            if view is not None:
                cur.execute(f"CREATE TEMP VIEW events AS {view}")
            case = Case(_Cursor(cur, parent.engine.path), self.path)  # type: ignore[attr-defined]
            case._shards = parent._shards  # the same catalog, read once
            yield case
        finally:
            cur.close()
            with self._cond:
                self._users -= 1
                if self._users == 0:
                    if os.path.exists(self.marker) or self.linger <= 0:
                        self._close()
                    else:
                        self._timer = threading.Timer(self.linger, self._expire)
                        self._timer.daemon = True
                        self._timer.start()

    def _open(self) -> None:
        case = Case.open(self.path, read_only=True, wait=self.wait)
        try:
            temp = case.rows("SELECT count(*) FROM duckdb_views() WHERE view_name = 'events' AND temporary")
            self._temp_view = case.events_sql() if temp[0][0] else None
            case.engine.execute("SET GLOBAL parquet_metadata_cache = true")
        except BaseException:
            case.close()
            raise
        self._case = case
        self._version = (_stamp(self.path), tuple(case._shards))

    def _expire(self) -> None:
        with self._cond:
            self._timer = None
            if self._users == 0:
                self._close()

    def _close_when_idle(self) -> None:
        if self._users == 0:
            self._close()

    def _close(self) -> None:
        if self._case is not None:
            self._case.close()
            self._case = None

    def close(self) -> None:
        with self._cond:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._close()
