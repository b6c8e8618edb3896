"""A Spark pass's result goes to the catalog through Parquet files (``SparkScans.write`` then
``passes.append_files``), never collected in the driver: by position, by name, empty, and with
the types the catalog keeps (UTC times, lists, structs)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from wormsign.engine.duckdb import DuckDBEngine
from wormsign.engine.passes import append_files

pytest.importorskip("pyspark", reason="the spark extra (pip install -e '.[dev,spark]') is not installed")


@pytest.fixture(scope="module")
def scans():  # type: ignore[no-untyped-def]
    if shutil.which("java") is None:
        pytest.fail("the Spark engine needs Java 17 or later on PATH "
                    "(Debian: apt-get install openjdk-17-jre-headless)")
    from wormsign.engine.spark import SparkScans

    s = SparkScans("local[1]")
    yield s
    s.close()


def test_a_result_is_appended_from_its_files_by_position_and_by_name(scans, tmp_path: Path):  # type: ignore
    eng = DuckDBEngine(str(tmp_path / "c.duckdb"))
    case = SimpleNamespace(engine=eng)
    eng.execute('CREATE TABLE t (host VARCHAR, ts TIMESTAMP, n BIGINT, "odd ""name""" VARCHAR[], '
                's STRUCT(a INT))')
    sql = ("SELECT 'WS1' AS h, TIMESTAMP '2026-01-02 23:30:00' AS t, 7 AS k, ['x', 'y'] AS l, "
           "struct_pack(a := 1) AS s UNION ALL SELECT 'WS2', TIMESTAMP '2026-01-03 00:10:00', 8, [], NULL")
    names, files = scans.write(sql, [], str(tmp_path / "r1"))
    assert names == ["h", "t", "k", "l", "s"] and files and all(f.endswith(".parquet") for f in files)
    assert append_files(case, "t", names, files) == 2
    # by name: the result's own names, in another order, one column left out (NULL)
    names, files = scans.write("SELECT 9 AS n, 'WS3' AS host", [], str(tmp_path / "r2"))
    assert append_files(case, "t", names, files, by_name=True) == 1
    rows = eng.rows('SELECT host, ts, n, "odd ""name""", s.a FROM t ORDER BY host')
    assert rows == [("WS1", dt.datetime(2026, 1, 2, 23, 30), 7, ["x", "y"], 1),
                    ("WS2", dt.datetime(2026, 1, 3, 0, 10), 8, [], None),
                    ("WS3", None, 9, None, None)]
    eng.close()


def test_an_empty_result_appends_nothing(scans, tmp_path: Path):  # type: ignore
    eng = DuckDBEngine(str(tmp_path / "c.duckdb"))
    eng.execute("CREATE TABLE t (host VARCHAR, n BIGINT)")
    names, files = scans.write("SELECT 'a' AS host, 1 AS n WHERE 1 = 0", [], str(tmp_path / "r"))
    assert append_files(SimpleNamespace(engine=eng), "t", names, files) == 0
    assert eng.rows("SELECT count(*) FROM t") == [(0,)]
    eng.close()


def test_more_columns_than_the_table_is_an_error(scans, tmp_path: Path):  # type: ignore
    eng = DuckDBEngine(str(tmp_path / "c.duckdb"))
    eng.execute("CREATE TABLE t (host VARCHAR)")
    names, files = scans.write("SELECT 'a' AS host, 1 AS n", [], str(tmp_path / "r"))
    with pytest.raises(ValueError, match="2 columns for 1"):
        append_files(SimpleNamespace(engine=eng), "t", names, files)
    eng.close()


def test_a_kept_result_is_a_view_for_later_statements_until_dropped(scans, tmp_path: Path):  # type: ignore
    """``keep_as``: the written rows are also a view with the result's own column names (dotted
    ones included), read by later statements; dropped, the view and its files are gone. An empty
    result is an empty view."""
    folder = tmp_path / "kept"
    names, files = scans.write('SELECT \'WS1\' AS host, 445 AS "destination.port" UNION ALL SELECT \'WS2\', 3389',
                               [], str(folder), keep_as="_t_kept", holds=frozenset({1, 2}))
    assert names == ["host", "destination.port"] and files
    assert scans.kept("_t_kept") == frozenset({1, 2}) and scans.kept("_t_none") is None
    got = scans.query('SELECT host FROM _t_kept WHERE "destination.port" = ? ORDER BY host', [445])
    assert got.column("host").to_pylist() == ["WS1"]
    scans.drop_result("_t_kept")
    assert not folder.exists() and scans.kept("_t_kept") is None
    assert "_t_kept" not in {t.name for t in scans.spark.catalog.listTables()}
    scans.write("SELECT 'a' AS host WHERE 1 = 0", [], str(tmp_path / "empty"), keep_as="_t_empty")
    assert scans.query("SELECT count(*) AS n FROM _t_empty").column("n").to_pylist() == [0]
    scans.drop_results()
    assert not (tmp_path / "empty").exists()
