"""The passes over every event of a case, on the engine the case runs them on.

A pass is a list of ``INSERT INTO table SELECT ... FROM {src}`` statements over some shards'
events (DuckDB's dialect, ``?`` parameters), the one definition of what it computes. On DuckDB
they run as they are, ``{src}`` the shards' files; on Spark (``case.scans``, a
:class:`wormsign.engine.spark.SparkScans`) each ``SELECT`` runs over a Spark view of the same
files, its rows are written as Parquet in the case's staging folder and appended from there to
the catalog's table.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from wormsign.store import KEY_COLUMNS, STAGING_DIR, _sql_list, quote_ident

if TYPE_CHECKING:
    from wormsign.store import Case

#: The statements of a pass, given the name of its source (a table function or a view).
Statements = Callable[[str], Sequence[tuple[str, Sequence[Any]]]]

_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)\s+(BY\s+NAME\s+)?(?=SELECT\b|WITH\b|\()", re.I)

log = logging.getLogger(__name__)

#: A reference to a resolved key column (:data:`wormsign.store.KEY_COLUMNS`) in SQL: quoted, or
#: bare (``host``).
KEY_REF = re.compile("|".join(
    [f'"{re.escape(c)}"' for c in KEY_COLUMNS] + [rf'(?<![\w."]){c}\b' for c in KEY_COLUMNS if "." not in c]))

#: The name of the view a pass reads on Spark.
SPARK_SOURCE = "_ws_src"


def split_insert(sql: str) -> tuple[str, bool, str]:
    """(table, by name, query) of an ``INSERT INTO table [BY NAME] query`` statement."""
    m = _INSERT.match(sql)
    if not m:
        raise ValueError(f"not an INSERT ... SELECT statement: {sql[:80]!r}")
    return m.group(1), bool(m.group(2)), sql[m.end():]


def run_raw(case: Case, shards: Sequence[int], statements: Statements) -> None:
    """Run a pass over the events of ``shards`` as ingest wrote them (no keys)."""
    if case.scans is None:
        for sql, params in statements(f"read_parquet({case.shard_files(shards)})"):
            case.engine.execute(sql, params)
        return
    # Not cached: each statement reads the Parquet shards itself, only the columns it names
    # (Spark prunes them through the view). Caching every column first cost more than the pass
    # (1.2M events, local[2]: 17 s to build the cache, 53 s for the statements on it, 27 s for
    # the statements on the shards).
    case.scans.view_files(SPARK_SOURCE, case.event_files(shards), cache=False)
    try:
        _on_spark(case, statements)
    finally:
        case.scans.release(SPARK_SOURCE)


def run_keyed(case: Case, shards: Sequence[int], columns: Sequence[str], statements: Statements, *,
              where: tuple[str, Sequence[Any]] | None = None, keep: dict[str, tuple[str, Any]] | None = None) -> None:
    """Run a pass over the ``columns`` of the events of ``shards``, their keys applied (the
    ``events`` view's rows): on DuckDB over a temporary table of them, read once.

    ``where``: a condition (DuckDB's dialect, ``?`` parameters) that reads no key column and is
    true of every row the pass's statements read; on Spark only those events are joined with
    their keys (the join is a shuffle of every column), then the statements run as they are.

    ``keep``: on Spark, the rows a statement appends to a table, kept as a view for later
    statements (table -> (view, what it holds): :meth:`wormsign.engine.spark.SparkScans.write`)."""
    if case.scans is None:
        cols = ", ".join(quote_ident(c) for c in columns)
        case.engine.execute(f"CREATE OR REPLACE TEMP TABLE _ws_part AS SELECT {cols} FROM ({case.events_sql(shards)})")
        try:
            for sql, params in statements("_ws_part"):
                case.engine.execute(sql, params)
        finally:
            case.engine.execute("DROP TABLE IF EXISTS _ws_part")
        return
    # the keyed events stay cached for the next keyed pass over the same files (resolution
    # forgets them when it ends)
    case.scans.view_keyed(SPARK_SOURCE, case.event_files(shards), case.key_files(shards), columns, where=where)
    _on_spark(case, statements, keep)


def run_spark(case: Case, statements: Sequence[tuple[str, Sequence[Any]]], *,
              keep: dict[str, tuple[str, Any]] | None = None) -> None:
    """Run ``INSERT INTO table [BY NAME] SELECT ...`` statements (DuckDB's dialect) on Spark
    over the views they name (results kept by earlier statements, tables shipped), appending
    their rows to the catalog's tables; ``keep`` as :func:`run_keyed`'s."""
    _on_spark(case, lambda _src: statements, keep)


_results = itertools.count()


def _on_spark(case: Case, statements: Statements, keep: dict[str, tuple[str, Any]] | None = None) -> None:
    """Each statement's ``SELECT`` on Spark, its result written as Parquet in the case's staging
    folder (which a killed run's next open empties) and appended to the catalog's table from
    there: neither side holds the rows in memory (123M events: the candidate rows). A table in
    ``keep`` keeps its files, as a view, for later statements."""
    for sql, params in statements(SPARK_SOURCE):
        table, by_name, query = split_insert(sql)
        t = time.perf_counter()
        folder = os.path.join(case.root, STAGING_DIR, f"spark-{os.getpid()}-{next(_results)}")
        view, holds = (keep or {}).get(table, (None, None))
        kept = False
        try:
            names, files = case.scans.write(query, params, folder, keep_as=view, holds=holds)
            kept = view is not None
            n = append_files(case, table, names, files, by_name=by_name)
        except BaseException:
            if kept:
                case.scans.drop_result(view)
            raise
        finally:
            if not kept:
                shutil.rmtree(folder, ignore_errors=True)
        log.debug("spark: %s, %d rows, %.1f s", table, n, time.perf_counter() - t)


def append_files(case: Case, table: str, names: Sequence[str], files: Sequence[str], *,
                 by_name: bool = False) -> int:
    """Append the rows of Parquet ``files`` (columns ``c0``, ``c1``, ... of a result whose
    columns are ``names``) to the catalog's ``table``: by position, as ``INSERT INTO table SELECT``
    does (Spark names a result's columns otherwise), or by name; the rows appended."""
    if not files:
        return 0
    cols = list(names) if by_name else _columns(case, table)
    if len(cols) < len(names):
        raise ValueError(f"{table}: {len(names)} columns for {len(cols)}")
    select = ", ".join(f"c{i} AS {quote_ident(c)}" for i, c in enumerate(cols[:len(names)]))
    got = case.engine.rows(f"INSERT INTO {quote_ident(table)} BY NAME SELECT {select} "
                           f"FROM read_parquet({_sql_list(files)})")
    return int(got[0][0]) if got else 0


def _columns(case: Case, table: str) -> list[str]:
    return [r[0] for r in case.engine.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main' "
        "ORDER BY ordinal_position", [table])]
