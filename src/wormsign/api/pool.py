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

The live writer of the same process (:mod:`wormsign.api.livewriter`) holds the case for a second
or more each cycle. While it does, it lends its connection (:meth:`ReadPool.lend`): requests get
cursors of it, and read what the writer has committed (DuckDB's transactions: never half of a
commit). Before closing the case the writer takes it back (:meth:`ReadPool.withdraw`), which waits
for the requests in flight. :attr:`ReadPool.version` then follows the catalog's file and log.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
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
        self._idle_since = 0.0
        self._opening: object | None = None  # the open under way (one at a time, the lock not held)
        self._failed: tuple[object, BaseException] | None = None  # the last open that failed
        self._version: tuple[Any, ...] | None = None
        self._lent: tuple[Case, Any] | None = None  # the writer's case and the connection it lent
        self._borrowers = 0

    @property
    def version(self) -> tuple[Any, ...] | None:
        """The catalog's state while it is open (the same tuple means the same case content)."""
        lent = self._lent
        if lent is not None:  # the writer changes it: its file and log say when
            return ("lent", _stamp(self.path), tuple(lent[0]._shards))
        return self._version

    # -- the live writer's case --------------------------------------------------------------
    def lend(self, case: Case) -> None:
        """The writer of this process holds ``case``: serve requests from it until :meth:`withdraw`."""
        con = case.engine.con.cursor()  # the pool's own: cursors are made from it, under the lock
        with self._cond:
            self._lent = (case, con)
            self._cond.notify_all()

    def withdraw(self) -> None:
        """Take the lent case back (no new request gets it) once the requests using it are done."""
        with self._cond:
            lent, self._lent = self._lent, None
            while self._borrowers:
                self._cond.wait()
        if lent is not None:
            lent[1].close()

    @contextmanager
    def case(self) -> Iterator[Case]:
        """The case for one request (a cursor of the shared connection). Raises
        :class:`WriterWaits` while a writer waits for the case, and :class:`~wormsign.store.CaseLocked`
        (or DuckDB's error) when it cannot be opened."""
        parent, source, view, leave = self._enter()
        try:
            with self._cond:  # the connection cursors are made from is used by one thread at a time
                cur = source.cursor()
        except BaseException:
            leave()
            raise
        try:
            if view is not None:
                cur.execute(f"CREATE TEMP VIEW events AS {view}")
            case = Case(_Cursor(cur, parent.engine.path), self.path)  # type: ignore[attr-defined]
            case._shards = parent._shards  # the same catalog, read once
            yield case
        finally:
            cur.close()
            leave()

    def _enter(self) -> tuple[Case, Any, str | None, Callable[[], None]]:
        """Count a request in: the case, the connection to take its cursor from, the events
        view it needs, and how to count it out. The live writer's lent case first; else the
        pool's own, opening the catalog first when it is closed. Requests that come while
        another opens it wait for that open, and share its failure (each waiting its turn for
        ``wait`` seconds would make the last wait many times as long)."""
        with self._cond:
            if self._lent is not None:
                self._borrowers += 1
                return self._lent[0], self._lent[1], None, self._give_back
            while True:
                if os.path.exists(self.marker):
                    if self._users == 0:
                        self._close()
                    raise WriterWaits()
                if self._case is not None:
                    self._users += 1
                    return self._case, self._case.engine.con, self._temp_view, self._leave  # type: ignore[attr-defined]
                if self._opening is None:
                    attempt = self._opening = object()
                    break
                waiting_for = self._opening
                while self._opening is waiting_for:
                    self._cond.wait()
                if self._failed is not None and self._failed[0] is waiting_for:
                    raise self._failed[1]
        try:
            case, view = self._connect()
        except BaseException as exc:
            with self._cond:
                self._opening, self._failed = None, (attempt, exc)
                self._cond.notify_all()
            raise
        with self._cond:
            self._case, self._temp_view, self._opening = case, view, None
            self._version = (_stamp(self.path), tuple(case._shards))
            self._users += 1
            self._cond.notify_all()
        threading.Thread(target=self._reap, args=(case,), name="wormsign-case-reaper", daemon=True).start()
        return case, case.engine.con, view, self._leave  # type: ignore[attr-defined]

    def _give_back(self) -> None:
        """A request on the writer's lent case is done (:meth:`withdraw` waits for them)."""
        with self._cond:
            self._borrowers -= 1
            self._cond.notify_all()

    def _leave(self) -> None:
        with self._cond:
            self._users -= 1
            if self._users == 0:
                self._idle_since = time.monotonic()
                if self.linger <= 0 or os.path.exists(self.marker):
                    self._close()

    def _connect(self) -> tuple[Case, str | None]:
        case = Case.open(self.path, read_only=True, wait=self.wait)
        try:
            temp = case.rows("SELECT count(*) FROM duckdb_views() WHERE view_name = 'events' AND temporary")
            view = case.events_sql() if temp[0][0] else None
            case.engine.execute("SET GLOBAL parquet_metadata_cache = true")
        except BaseException:
            case.close()
            raise
        return case, view

    def _reap(self, case: Case) -> None:
        """While ``case`` is the open connection: close it once no request has used it for
        ``linger`` seconds, or at once when no request uses it and a writer waits."""
        step = min(max(self.linger / 2, 0.01), 0.05)
        with self._cond:
            while self._case is case:
                if self._users == 0 and (time.monotonic() - self._idle_since >= self.linger
                                         or os.path.exists(self.marker)):
                    self._close()
                    return
                self._cond.wait(step)

    def _close(self) -> None:
        if self._case is not None:
            self._case.close()
            self._case = None

    def close(self) -> None:
        with self._cond:
            self._close()
