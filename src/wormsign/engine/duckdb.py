"""The default engine: an embedded DuckDB file."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa

_names = itertools.count()


class DuckDBEngine:
    """A DuckDB database file (``:memory:`` for a throwaway one)."""

    name = "duckdb"

    def __init__(self, path: str, *, read_only: bool = False, threads: int | None = None) -> None:
        self.path = path
        self.read_only = read_only
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        self.con = duckdb.connect(path, read_only=read_only, config=config)
        # A case's events are Parquet shards read by every query: their footers are read once.
        self.con.execute("SET parquet_metadata_cache = true")
        # Every time in a case is UTC (the shards' TIMESTAMP WITH TIME ZONE, the catalog's
        # TIMESTAMP); DuckDB's default is the machine's zone, in which it truncates days, buckets
        # and converts one to the other (under TZ=Asia/Kolkata a Spark result's 12:00 UTC was
        # stored as 17:30).
        self.con.execute("SET TimeZone = 'UTC'")
        self._depth = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(sql, list(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        rel = self.con.sql(sql, params=list(params) or None)
        if rel is None:
            return pa.table({})
        if hasattr(rel, "to_arrow_table"):  # duckdb >= 1.4
            return rel.to_arrow_table()
        return rel.arrow()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def append(self, table: str, data: pa.Table) -> None:
        view = f"_wormsign_batch_{os.getpid()}_{next(_names)}"
        self.con.register(view, data)
        try:
            self.con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM "{view}"')
        finally:
            self.con.unregister(view)

    def has_table(self, table: str) -> bool:
        rows = self.rows("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table])
        return bool(rows and rows[0][0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._depth = 0

    @contextmanager
    def settings(self, **values: str | int) -> Iterator[None]:
        """DuckDB settings changed for a while, then put back as they were.

        Names and values come from wormsign's code, never from data.
        """
        old: dict[str, Any] = {}
        for name, value in values.items():
            if not name.replace("_", "").isalnum() or not all(ch.isalnum() or ch in " ._," for ch in str(value)):
                raise ValueError(f"not a setting: {name}={value!r}")
            old[name] = self.rows("SELECT current_setting(?)", [name])[0][0]
            self.con.execute(f"SET {name} = '{value}'")
        try:
            yield
        finally:
            for name, value in old.items():
                self.con.execute(f"SET {name} = '{value}'")

    def close(self) -> None:
        self.con.close()
