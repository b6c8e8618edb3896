"""The translation of the analytics' SQL for Spark (wormsign.engine.dialect): macros expanded,
DuckDB-only functions rewritten, and what would change meaning refused."""

from __future__ import annotations

import pytest

from wormsign.engine.dialect import DialectError, to_spark
from wormsign.engine.setup import pass_macros


def test_macros_are_expanded_with_their_arguments() -> None:
    sql = to_spark('SELECT ws_resolve_hkey("source.domain") AS h FROM t', pass_macros())
    assert "ws_resolve_hkey" not in sql.lower()
    assert "`source.domain`" in sql and "RLIKE '^(?:" in sql  # regexp_full_match, anchored


def test_duckdb_only_functions_are_rewritten() -> None:
    sql = to_spark("SELECT time_bucket(INTERVAL 1 HOUR, ts), epoch_us(ts) FROM t")
    assert "DATE_TRUNC('HOUR', ts)" in sql and "UNIX_MICROS(ts)" in sql


@pytest.mark.parametrize("sql", [
    "SELECT regexp_replace(x, 'a', 'b') FROM t",  # first match only in DuckDB, every match in Spark
    "SELECT regexp_replace(x, '^a|b', 'c') FROM t",  # anchored on one side of the alternation only
    "SELECT time_bucket(INTERVAL 2 HOUR, ts) FROM t",
    "SELECT regexp_full_match(x, y) FROM t",
])
def test_what_would_change_meaning_is_refused(sql: str) -> None:
    with pytest.raises(DialectError):
        to_spark(sql)


@pytest.mark.parametrize("pattern", ["^::ffff:", "\\.$"])
def test_a_pattern_anchored_at_one_end_replaces_once_on_both(pattern: str) -> None:
    sql = to_spark(f"SELECT regexp_replace(x, '{pattern}', '') FROM t")
    assert "REGEXP_REPLACE(x, " in sql


def test_a_macro_with_the_wrong_arity_is_refused() -> None:
    with pytest.raises(DialectError):
        to_spark("SELECT ws_ref(a) FROM t", pass_macros())
