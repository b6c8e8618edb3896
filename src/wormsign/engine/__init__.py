"""One small engine interface over the case store: DuckDB by default, Spark at scale.

Analytics speak SQL through :class:`Engine` and get Arrow tables back, so the same
detection code runs on an embedded DuckDB file or (later) on a Spark session. Engines
are picked by name and imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa


class Engine(Protocol):
    """What the store and the analytics need from a query engine."""

    name: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement; values are always bound as parameters, never formatted in."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a query and return its result as an Arrow table."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return its rows as tuples (for small results)."""

    def append(self, table: str, data: pa.Table) -> None:
        """Append Arrow rows to a table, matching columns by name (a column the rows lack is NULL)."""

    def has_table(self, table: str) -> bool:
        """True when the table or view exists."""

    def transaction(self) -> AbstractContextManager[None]:
        """Group statements so that they all land, or none does."""

    def close(self) -> None:
        """Release the engine."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_PER_US = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _times(col: pa.ChunkedArray | pa.Array) -> list[datetime | None]:
    """A timestamp column as datetimes, exact to the microsecond (pyarrow's own conversion goes
    through the zone database value by value, ten times slower on a zoned column)."""
    typ = col.type
    if typ.unit == "ns":  # pandas timestamps there: leave them to pyarrow
        return list(col.to_pylist())
    mul = _PER_US[typ.unit]
    base = _EPOCH if typ.tz else _NAIVE_EPOCH
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    ints = [v for c in chunks for v in c.view(pa.int64()).to_pylist()]  # a view: no pyarrow.compute
    return [None if v is None else base + timedelta(microseconds=v * mul) for v in ints]


def records(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of an Arrow table as dicts, like ``table.to_pylist()``, with zoned timestamps
    in UTC (``datetime.UTC``)."""
    cols = [_times(c) if pa.types.is_timestamp(c.type) else c.to_pylist() for c in table.columns]
    names = table.column_names
    return [dict(zip(names, vals, strict=True)) for vals in zip(*cols, strict=True)] if names else []


def open_engine(name: str, path: str, *, read_only: bool = False) -> Engine:
    """Open the engine called ``name`` on the case at ``path``."""
    if name == "duckdb":
        from wormsign.engine.duckdb import DuckDBEngine

        return DuckDBEngine(path, read_only=read_only)
    if name == "spark":
        raise ValueError("a case's catalog is DuckDB's: for Spark, open the case with "
                         "wormsign.engine.setup.open_case(path, engine='spark')")
    raise ValueError(f"unknown engine {name!r}; known: duckdb (and spark, through wormsign.engine.setup)")
