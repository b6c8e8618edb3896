"""The translation of the analytics' SQL for Spark (wormsign.engine.dialect): macros expanded,
DuckDB-only functions rewritten, and what would change meaning refused."""

from __future__ import annotations

import pytest

from wormsign.engine.dialect import DialectError, java_regex, to_spark
from wormsign.engine.setup import pass_macros


def test_macros_are_expanded_with_their_arguments() -> None:
    sql = to_spark('SELECT ws_resolve_hkey("source.domain") AS h FROM t', pass_macros())
    assert "ws_resolve_hkey" not in sql.lower()
    assert "`source.domain`" in sql and "RLIKE '^(?:" in sql  # regexp_full_match, anchored


def test_duckdb_only_functions_are_rewritten() -> None:
    sql = to_spark("SELECT time_bucket(INTERVAL 1 HOUR, ts), epoch_us(ts) FROM t WHERE a - b <= to_seconds(?)")
    assert "DATE_TRUNC('HOUR', ts)" in sql and "UNIX_MICROS(ts)" in sql
    assert "a - b <= (INTERVAL '1' SECOND * ?)" in sql


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


@pytest.mark.parametrize(("re2", "java"), [
    (r"\.exe$", r"(?du)\.exe\z"),  # Java's $ also matches before a final line break
    (r"(?i)^a.b", r"(?du)(?i)^a.b"),  # (?d): . stops at \n only; (?u): Unicode case
    (r"a\sb\S", r"(?du)a[\t\n\f\r ]b[^\t\n\f\r ]"),  # RE2's \s has no vertical tab
    (r"[\s,]", r"(?du)[\t\n\f\r ,]"),
    (r"[[:alpha:]_]", r"(?du)[\p{Alpha}_]"),
    (r"[[:^digit:]]", r"(?du)[\P{Digit}]"),
    (r"[a&&b[]", r"(?du)[a\&\&b\[]"),  # intersection and nested classes in Java: members in RE2
    (r"[]a]", r"(?du)[\]a]"),
    (r"a{2,3}{x}", r"(?du)a{2,3}\{x}"),  # a brace that is no repetition is literal in RE2
    (r"(?P<n>x)", r"(?du)(?<n>x)"),
    (r"\pL\p{^Lu}", r"(?du)\pL\P{Lu}"),
    (r"\Qa$b\E$", r"(?du)\Qa$b\E\z"),
    (r"[$.]\$", r"(?du)[$.]\$"),
    (r"\v", r"(?du)\x0B"),
])
def test_re2_patterns_become_java_patterns_of_the_same_strings(re2: str, java: str) -> None:
    assert java_regex(re2) == java


def test_a_word_boundary_is_over_ascii_word_characters() -> None:
    got = java_regex(r"\bx\B")
    assert got.startswith("(?du)(?:(?<=[0-9A-Za-z_])") and r"\b" not in got and r"\B" not in got


@pytest.mark.parametrize("re2", [r"(?m)^a$", r"(?U)a+", r"\1", r"(?=a)", r"[\Qa\E]", r"\p{Greek}", r"\C",
                                 r"[[:foo:]]"])
def test_patterns_not_known_to_match_the_same_are_refused(re2: str) -> None:
    with pytest.raises(DialectError):
        java_regex(re2)


def test_sigma_rule_sql_translates() -> None:
    sql = to_spark(r"""SELECT * FROM g WHERE (CASE WHEN (suffix("~Image", '\cmd.exe')) IS NOT TRUE THEN false
        ELSE (regexp_matches("~CommandLine", '(?s)(?:\\admin\$$)|(?:it''s)')) END) AND strlen("Image") > 1""")
    assert "ENDSWITH(`~Image`, '\\\\cmd.exe')" in sql and "OCTET_LENGTH(`Image`)" in sql
    assert "`~CommandLine` RLIKE '(?du)(?s)(?:\\\\\\\\admin\\\\$\\\\z)|(?:it\\'s)'" in sql
    assert "MATERIALIZED" not in to_spark("WITH x AS MATERIALIZED (SELECT 1 AS a) SELECT a FROM x")


def test_macros_with_a_spark_body_give_duckdbs_values_on_spark() -> None:
    """``ws_base`` on Spark (substring_index, no regular expression) and ``ws_names`` (matches from a
    name's first character only) against DuckDB's bodies, on paths and command lines."""
    import shutil

    import duckdb
    import pyarrow as pa

    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None:
        pytest.skip("no java: README, 'Spark' says how to get it")
    from wormsign.detect import prep
    from wormsign.engine.setup import spark_bodies
    from wormsign.engine.spark import SparkScans

    paths = [None, "", "a", "C:\\Windows\\System32\\CMD.EXE", "/usr/bin/Bash", "\\\\srv\\ADMIN$\\x.exe",
             "dir/", "dir\\", "a/b\\c", "a\\b/c", "\\", "/", "x\ny\\z", "\u00c9t\u00e9\\\u00c9T\u00c9.EXE",
             "a//", " b ",
             # command lines: names inside words, after quotes and separators, repeated, several a word
             'cmd.exe /c "C:\\Program Files\\a b\\Tool.EXE" x.dll,y.dll;z.ps1',
             "a.exe1 a.exe1.dll x.exe.y.dll",
             "rundll32 \\\\10.0.0.5\\c$\\p.dll,Entry <in.bat >out.cmd |more.com", "it's.exe o'neil.vbs",
             "powershell -enc " + "QUJD" * 3000 + " " + "QUJD" * 500 + ".exe", "=evil.hta", ".exe", "x..dll",
             "\u00c9T\u00c9.EXE/\u00e9t\u00e9.scr", "a.sys\tb.dat\nc.js",
             # access masks (5145): hex as Windows writes them, decimal, and what is neither
             "0x2", "0X12019F", " 0x100081 ", "0x7fffffffffffffff", "0x8000000000000000", "0x000000000000000002",
             "0x", "0xg", "-0x2", "42", "-7", "1e3", "0x2 0x4", "9223372036854775808", "42 ",
             " 42", "0x2 ", "\t0x2", "+42", "1.5", "4\n", "0x2\n", "\u0664\u0662"]
    table = pa.table({"i": list(range(len(paths))), "x": pa.array(paths, pa.string())})
    con = duckdb.connect()
    for m in prep.MACROS:
        con.execute(m)
    con.register("t", table)
    want = con.execute("SELECT i, ws_base(x), ws_names(x), ws_int(x) FROM t ORDER BY i").fetchall()
    scans = SparkScans("local[1]", macros=pass_macros(), spark_bodies=spark_bodies())
    scans.view_table("t", table)
    got = scans.query("SELECT i, ws_base(x) AS b, ws_names(x) AS n, ws_int(x) AS v FROM t ORDER BY i")
    assert {"ws_base", "ws_names", "ws_int"} <= set(prep.SPARK_BODIES)
    assert any(len(n) > 2 for _, _, n, _ in want)  # names found, several in a command line
    assert {v for *_, v in want} >= {2, 0x12019F, 2**63 - 1, 42, -7, None}
    assert [(r["i"], r["b"], r["n"], r["v"]) for r in got.to_pylist()] == [(i, b, list(n), v) for i, b, n, v in want]


def test_unnests_side_by_side_pair_their_elements_on_spark() -> None:
    """DuckDB's ``SELECT unnest(a) AS x, unnest(b) AS y`` pairs element i of each list (NULL past
    the shorter's end); Spark's own reading of it is every pair. The translation pairs them."""
    import shutil

    import duckdb

    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None:
        pytest.skip("no java: README, 'Spark' says how to get it")
    from wormsign.engine.spark import SparkScans

    sql = "WITH p AS (SELECT unnest(?) AS k, unnest(?) AS v) SELECT k, v FROM p ORDER BY k NULLS LAST, v"
    params = [["services.exe", "wmiprvse.exe", "wsmprovhost.exe"], [["service"], ["wmi", "x"], ["winrm"]]]
    want = duckdb.connect().execute(sql, params).fetchall()
    assert len(want) == 3
    got = SparkScans("local[1]").query(sql, params).to_pylist()
    assert [(r["k"], r["v"]) for r in got] == want
    shorter = [["a", "b", "c"], ["x"]]
    want = duckdb.connect().execute(sql, shorter).fetchall()
    assert want == [("a", "x"), ("b", None), ("c", None)]
    assert [(r["k"], r["v"]) for r in SparkScans("local[1]").query(sql, shorter).to_pylist()] == want


def test_a_bound_pattern_matches_on_spark_what_it_matches_on_duckdb() -> None:
    """A regular expression bound as a parameter (the edges' ``system_dirs_re``) is RE2's on
    DuckDB; Spark binds its Java form. Unmarked, Java's ``$`` matches before a final line break
    and its ``(?i)`` folds ASCII only, so the same text gave another answer."""
    import shutil

    import duckdb

    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None:
        pytest.skip("no java: README, 'Spark' says how to get it")
    from wormsign.engine.dialect import Pattern
    from wormsign.engine.spark import SparkScans

    sql = "SELECT i, regexp_matches(x, ?) AS m FROM (SELECT unnest(?) AS i, unnest(?) AS x) ORDER BY i"
    texts = ["c:\\windows\\system32\\svc.exe", "svc.exe\n", "ÉCOLE.EXE", "c:\\users\\a\\svc.exe"]
    scans = SparkScans("local[1]")
    for pattern in ("\\.exe$", "(?i)école\\.exe$", "\\\\(system32|syswow64)\\\\"):
        params = [Pattern(pattern), list(range(len(texts))), texts]
        want = duckdb.connect().execute(sql, params).fetchall()
        assert [(r["i"], r["m"]) for r in scans.query(sql, params).to_pylist()] == want
    # the cases where the two differ are in the list: Java's own reading of the first pattern
    # matches the second text, RE2's does not
    assert duckdb.connect().execute(sql, [Pattern("\\.exe$"), [0, 1], texts[:2]]).fetchall() == [(0, True), (1, False)]
    plain = scans.query(sql, ["\\.exe$", [0, 1], texts[:2]]).to_pylist()
    assert [(r["i"], r["m"]) for r in plain] == [(0, True), (1, True)]
