"""One small engine interface over the case store: DuckDB by default, Spark at scale.

Analytics speak SQL through :class:`Engine` and get Arrow tables back, so the same
detection code runs on an embedded DuckDB file or (later) on a Spark session. Engines
are picked by name and imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
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
        """Append Arrow rows to a table whose columns match by position."""

    def has_table(self, table: str) -> bool:
        """True when the table or view exists."""

    def transaction(self) -> AbstractContextManager[None]:
        """Group statements so that they all land, or none does."""

    def close(self) -> None:
        """Release the engine."""


def open_engine(name: str, path: str, *, read_only: bool = False) -> Engine:
    """Open the engine called ``name`` on the case at ``path``."""
    if name == "duckdb":
        from wormsign.engine.duckdb import DuckDBEngine

        return DuckDBEngine(path, read_only=read_only)
    raise ValueError(f"unknown engine {name!r}; known: duckdb")
