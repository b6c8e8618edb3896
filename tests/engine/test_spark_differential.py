"""The hunt on Apache Spark (``local[2]``) gives what it gives on DuckDB: the same incidents.json
(but its time and case path) and the same alerts, the in-house Sigma rules' included (their
passes on Spark), on the demo and on a simulated case of every scenario; and the tables the
passes over every event leave in the catalog are the same rows. SigmaHQ rules on a real corpus:
tests/detect/sigma/test_sigma_spark.py.

Needs Java 17 or later (pyspark 4); README says how to get it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from wormsign import demo, library, resolve
from wormsign.engine.setup import open_case
from wormsign.simulate import SCENARIOS, simulate
from wormsign.store import Case

pytest.importorskip("pyspark", reason="the spark extra (pip install -e '.[dev,spark]') is not installed")

MASTER = "local[2]"
#: Tables of the catalog the Spark passes fill (per shard) or derive from them.
TABLES = ("res_obs", "res_known", "res_long", "res_ips", "res_short", "res_krb_l", "res_krb_t", "res_hosts",
          "res_netlids", "host_addr", "host_conflicts", "hunt_index", "hunt_chan", "hunt_img", "hunt_runs",
          # the working tables stored with the candidate rows (detect/prep.py's STORED)
          "hunt_drops", "hunt_execs", "hunt_svc", "hunt_smb", "hunt_logons", "hunt_inbound", "hunt_sessexec",
          "hunt_authfail", "hunt_lockouts", "hunt_writers", "hunt_callers", "hunt_edges")


@pytest.fixture(scope="module", autouse=True)
def _java() -> None:
    if shutil.which("java") is None:
        pytest.fail("the Spark engine needs Java 17 or later on PATH (Debian: apt-get install openjdk-17-jre-headless)")


def _both(tmp: Path, paths: list[Path], intel: Path | None = None,
          spark_conf: dict[str, str] | None = None) -> tuple[Any, Any, Path, Path]:
    """Ingest ``paths`` once, copy the case, and hunt one copy on each engine (Spark's session
    with the SQL settings ``spark_conf``)."""
    duck, spark = tmp / "duckdb", tmp / "spark"
    with library.open_case(duck) as case:  # not resolved: each engine resolves it in its hunt
        library.ingest(case, paths, resolve=False)
    shutil.copytree(duck, spark)
    with Case.open(str(duck)) as case:
        a = library.hunt(case, intel=intel)
    with open_case(str(spark), engine="spark", master=MASTER) as case:
        assert case.scans is not None
        for key, value in (spark_conf or {}).items():
            case.scans.spark.conf.set(key, value)
        b = library.hunt(case, intel=intel)
    # the passes' results went through the staging folder (Spark's writes), and left nothing there
    assert not list((spark / "staging").iterdir())
    # the keys files are Spark's (parquet-mr), the DuckDB case's pyarrow's: Spark did resolve
    for side, writer in ((spark, "parquet-mr"), (duck, "parquet-cpp")):
        keys = sorted((side / "keys").glob("part-*.parquet"))
        assert keys and all(writer in pq.read_metadata(k).created_by for k in keys)
    return a, b, duck, spark


def _same(a: Any, b: Any) -> None:
    da, db = (dict(r.document) for r in (a, b))
    for d in (da, db):
        d.pop("generated_at"), d.pop("case")
    assert json.dumps(da, sort_keys=True, default=str) == json.dumps(db, sort_keys=True, default=str)
    assert a.alerts == b.alerts


def _same_tables(duck: Path, spark: Path) -> None:
    with Case.open(str(duck), read_only=True) as x, Case.open(str(spark), read_only=True) as y:
        for t in TABLES:
            rx = sorted(map(repr, x.rows(f"SELECT * FROM {t}")))
            ry = sorted(map(repr, y.rows(f"SELECT * FROM {t}")))
            assert rx == ry, f"{t}: {len(rx)} rows on DuckDB, {len(ry)} on Spark, or other values"
        ex = sorted(map(repr, x.rows("SELECT * EXCLUDE (raw) FROM events")))
        assert ex == sorted(map(repr, y.rows("SELECT * EXCLUDE (raw) FROM events")))


def test_demo_same_incidents_on_spark(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    feeds = Path(demo.path()) / "feeds"
    assert feeds.is_dir()
    caplog.set_level(logging.DEBUG, logger="wormsign.engine.passes")
    a, b, duck, spark = _both(tmp_path, [Path(demo.logs())], feeds)
    assert len(a.incidents) >= 5  # the demo's outbreak and its satellites: not an empty comparison
    # the intel matches, the deliveries between families and the in-house Sigma rules' field
    # table and passes were made on Spark
    on_spark = {r.getMessage().split(",")[0] for r in caplog.records if r.getMessage().startswith("spark: ")}
    assert {"spark: _ws_intel_match", "spark: _ws_deliveries", "spark: sigma_events",
            "spark: sigma_group"} <= on_spark
    # and the working tables, the propagation edges among them
    assert {"spark: hunt_drops", "spark: hunt_execs", "spark: hunt_svc", "spark: hunt_smb", "spark: hunt_logons",
            "spark: hunt_inbound", "spark: hunt_sessexec", "spark: hunt_authfail", "spark: hunt_lockouts",
            "spark: hunt_writers", "spark: hunt_callers", "spark: hunt_edges"} <= on_spark
    assert any(a["rule"].startswith("sigma:") for a in b.alerts)
    outbreak = a.incidents[0]
    assert outbreak["families"] and outbreak["c2"] and outbreak["deliveries"]
    _same(a, b)
    _same_tables(duck, spark)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_same_incidents_on_spark(tmp_path: Path, scenario: str) -> None:
    sim = tmp_path / "sim"
    truth = simulate(scenario, 30, 1, 7, sim)
    a, b, duck, spark = _both(tmp_path, [sim / "logs"])
    assert truth["attack_event_ids"] or scenario == "benign"
    _same(a, b)
    _same_tables(duck, spark)


def test_keys_files_in_row_groups_read_in_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spark writes a shard's keys file in row groups of ``ROW_GROUP_ROWS`` rows (1,000 here), so
    that the keyed view reads it in several tasks; read in splits of 16 KiB, every event still gets
    its own keys: the same incidents, stored tables and keyed events as on DuckDB."""
    monkeypatch.setattr(resolve, "ROW_GROUP_ROWS", 1000)
    sim = tmp_path / "sim"
    simulate("wannacry", 30, 1, 7, sim)
    a, b, duck, spark = _both(tmp_path, [sim / "logs"], spark_conf={"spark.sql.files.maxPartitionBytes": "16384"})
    meta = [pq.read_metadata(k) for k in sorted((spark / "keys").glob("part-*.parquet"))]
    assert any(m.num_row_groups > 1 for m in meta)
    assert all(m.row_group(i).num_rows <= 1000 for m in meta for i in range(m.num_row_groups))
    _same(a, b)
    _same_tables(duck, spark)
