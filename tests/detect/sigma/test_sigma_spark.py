"""Sigma on Apache Spark (``local[2]``) finds what it finds on DuckDB: the rules' regular
expressions match the same strings once translated (RE2 -> java.util.regex), the record's fields
read through the macros' two bodies are the same, and a hunt of a real corpus with SigmaHQ rules
gives the same alerts and incidents, the Sigma passes run on Spark.

Needs Java 17 or later (pyspark 4); README says how to get it. One Spark session for the
process: the differential tests of tests/engine share it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from wormsign import library
from wormsign.detect.sigma import fields
from wormsign.engine.dialect import to_spark
from wormsign.engine.setup import open_case, pass_macros, spark_bodies
from wormsign.store import Case

pytest.importorskip("pyspark", reason="the spark extra (pip install -e '.[dev,spark]') is not installed")

MASTER = "local[2]"
ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared"
RULES = SHARED / "sigma" / "rules" / "windows"

#: Patterns of the shapes the backend writes (anchored alternatives, wildcards, flags) and the
#: constructs where RE2 and Java differ, each on strings that tell the two apart.
PATTERNS = [
    r"(?s)(?:\\cmd\.exe$)|(?:\\powershell\.exe$)",
    r"(?s)(?:^c:\\windows\\.*$)|(?:\\temp\\.*$)",
    r"\.exe$", "^a.b$", r"(?i)école", r"(?is)^É.*e$", r"a\sb", r"[\s,]x", r"\bword\b", r"x\B",
    r"[[:alpha:]]+[[:digit:]]", r"[[:^alpha:]]", r"[a&&b]", r"[[]", r"[]a]+$", r"{x}", r"a{2}",
    r"(?P<n>ab)", r"\pL\d", r"\p{^L}", r"\QA$\E$", r"\v", r"\$PSHome\[\s*\d{1,3}\s*\]",
    r"(?i)[a-z]:\\programdata\\[0-9][0-9.\-]*\\(msmpeng|nissrv)\.exe\"?$",
]
SUBJECTS = ["\\cmd.exe", "\\cmd.exe\n", "c:\\windows\\x\r\ny", "a\rb", "a\nb", "ÉCOLE", "École\n",
            "a\x0bb", "a b", "éword", "word", "xé", "x_", "ab1", "é", "a&b", "[", "]a", "{x}", "aa",
            "A$", "A$\n", "$PSHome[ 4 ]", "C:\\ProgramData\\4.18.1\\MsMpEng.exe", "", "İ"]


@pytest.fixture(scope="module", autouse=True)
def _java() -> None:
    if shutil.which("java") is None:
        pytest.fail("the Spark engine needs Java 17 or later on PATH "
                    "(Debian: apt-get install openjdk-17-jre-headless)")


@pytest.fixture(scope="module")
def spark() -> Any:
    from wormsign.engine.spark import session

    return session(MASTER)  # the process's session: the other Spark tests get this one


def test_regular_expressions_match_the_same_strings(spark: Any) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE s (i INT, s VARCHAR)")
    con.executemany("INSERT INTO s VALUES (?, ?)", list(enumerate(SUBJECTS)))
    spark.createDataFrame(list(enumerate(SUBJECTS)), "i int, s string").createOrReplaceTempView("s")
    tests = ", ".join(f"regexp_matches(s, '{p.replace(chr(39), chr(39) * 2)}') AS p{k}"
                      for k, p in enumerate(PATTERNS))
    sql = f"SELECT i, {tests} FROM s ORDER BY i"
    duck = con.execute(sql).fetchall()
    got = [tuple(r) for r in spark.sql(to_spark(sql)).collect()]
    for d, j in zip(duck, got, strict=True):
        diff = [PATTERNS[k] for k in range(len(PATTERNS)) if d[k + 1] != j[k + 1]]
        assert not diff, f"{SUBJECTS[d[0]]!r}: {diff} match on one engine only"
    assert sum(v for r in duck for v in r[1:]) > 20  # not an empty comparison


#: Records as the readers write them and as others could: containers, types, JSON null,
#: nested values, records that are no JSON.
RECORDS = [
    '{"Event":{"System":{"EventID":1},'
    '"EventData":{"Image":"C:\\\\a.exe","N":5,"F":1.5,"B":true,"Z":null}}}',
    '{"Event":{"EventData":null,"Image":"x"},"Image":"top"}',
    '{"winlog":{"event_data":{"Image":"w","O":{"k":[1,2]}}}}',
    '{"Image":"flat","N":2}',
    '{"Event":{"EventData":"text"},"Image":"t"}',
    '{"Event":{"EventData":[]},"Image":"t"}',
    '{"Event":{"EventData":{"Image":"\\u00e9\\n\\"q\\""}}}',
    "not json", "{'Image':'single quotes'}", "",
]


def test_record_fields_are_read_the_same(spark: Any) -> None:
    names = ["Image", "N", "F", "B", "Z", "O", "image"]
    paths = "[" + ", ".join(f"'$.\"{n}\"'" for n in names) + "]"
    vals = ", ".join(f"ws_sigma_value(v, {i}, '{n}') AS f{i}" for i, n in enumerate(names, 1))
    sql = (f"WITH cs AS (SELECT i, ws_sigma_parts(ws_sigma_json(raw)) AS c, ws_sigma_json(raw) AS j FROM r), "
           f"ed AS (SELECT i, ws_sigma_values(j, c, CAST({paths} AS VARCHAR[])) AS v FROM cs) "
           f"SELECT i, {vals} FROM ed ORDER BY i")
    con = duckdb.connect()
    for m in fields.MACROS:
        con.execute(m)
    con.execute("CREATE TABLE r (i INT, raw VARCHAR)")
    con.executemany("INSERT INTO r VALUES (?, ?)", list(enumerate(RECORDS)))
    spark.createDataFrame(list(enumerate(RECORDS)), "i int, raw string").createOrReplaceTempView("r")
    duck = con.execute(sql).fetchall()
    got = [tuple(r) for r in spark.sql(to_spark(sql, pass_macros(), spark_bodies())).collect()]
    assert duck == got
    assert duck[0][1:6] == ("C:\\a.exe", "5", "1.5", "true", None)
    assert duck[1][1] is None and duck[3][1] == "flat"  # EventData null: nothing; a flat record: its top


#: SigmaHQ rules of every shape the backend writes, most of which fire on evtx-attack-samples:
#: lists as regular expressions and IN lists, prefix, suffix, infix, LIKE patterns, ILIKE (values
#: beyond ASCII), cidr (as prefixes), and a keyword rule (refused by the backend on both engines).
#: With the in-house rules a hunt adds, their correlations (event_count, value_count,
#: temporal_ordered) run on the Spark matches too.
SELECTION = [
    "process_creation/proc_creation_win_whoami_execution_from_high_priv_process.yml",
    "process_creation/proc_creation_win_whoami_output.yml",
    "process_creation/proc_creation_win_wscript_cscript_mshta_dropper.yml",
    "process_creation/proc_creation_win_wmiprvse_susp_child_processes.yml",
    "process_creation/proc_creation_win_wusa_cab_files_extraction_from_susp_paths.yml",
    "process_creation/proc_creation_win_uac_bypass_ntfs_reparse_point.yml",
    "process_creation/proc_creation_win_wmic_recon_process.yml",
    "registry/registry_set/registry_set_asep_reg_keys_modification_currentversion.yml",
    "registry/registry_set/registry_set_susp_run_key_img_folder.yml",
    "registry/registry_set/registry_set_terminal_server_tampering.yml",
    "registry/registry_delete/registry_delete_runmru.yml",
    "wmi_event/sysmon_wmi_event_subscription.yml",
    "builtin/system/service_control_manager/win_system_defender_disabled.yml",
    "image_load/image_load_side_load_vcruntime140.yml",
    "builtin/security/account_management/win_security_successful_external_remote_smb_login.yml",
    "builtin/security/account_management/win_security_susp_failed_logon_source.yml",
    "network_connection/net_connection_win_rundll32_net_connections.yml",
    "builtin/win_alert_mimikatz_keywords.yml",
]


def test_corpus_hunt_with_sigmahq_rules_same_on_spark(tmp_path: Path, corpus: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    if not RULES.is_dir():
        pytest.skip("../shared/sigma is not beside the repository")
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in SELECTION:
        shutil.copy(RULES / name, rules / Path(name).name)
    duck, spark = tmp_path / "duckdb", tmp_path / "spark"
    with library.open_case(duck) as case:
        library.ingest(case, [corpus], resolve=False)
    shutil.copytree(duck, spark)
    with Case.open(str(duck)) as case:
        a = library.hunt(case, sigma=[rules])
    caplog.set_level(logging.DEBUG, logger="wormsign.engine.passes")
    with open_case(str(spark), engine="spark", master=MASTER) as case:
        b = library.hunt(case, sigma=[rules])
    on_spark = [r.getMessage() for r in caplog.records if r.getMessage().startswith("spark: sigma_")]
    assert any(m.startswith("spark: sigma_events") for m in on_spark)
    assert any(m.startswith("spark: sigma_group") for m in on_spark)
    fired = {x["rule"] for x in a.alerts if x["rule"].startswith("sigma:")}
    assert len(fired) >= 12 and len(a.incidents) >= 3  # not an empty comparison
    da, db = (dict(r.document) for r in (a, b))
    for d in (da, db):
        d.pop("generated_at"), d.pop("case")
    assert json.dumps(da, sort_keys=True, default=str) == json.dumps(db, sort_keys=True, default=str)
    assert a.alerts == b.alerts
