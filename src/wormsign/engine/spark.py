"""Apache Spark for the passes that read every event of a case; the catalog stays DuckDB.

A case's events are Parquet shards (:mod:`wormsign.store`), which Spark reads as they are. The
passes that read every event (resolution's per-shard observations, the keys of the events, the
hunt's candidate rows) run on Spark: :class:`SparkScans` runs a statement of the analytics,
written once in DuckDB's dialect and translated by :mod:`wormsign.engine.dialect`, over a view
of the shards, and writes its result as Parquet in the case's staging folder
(:meth:`SparkScans.write`). Those results (observations per host and hour, candidate rows)
go from there into the case's DuckDB catalog, where the rest of the hunt (identities, the rules,
the graph, incidents) runs as it does without Spark. A result may also stay on Spark as a view
for later statements (the candidate rows, from which the working tables of one row each are
built there: :func:`wormsign.detect.prep.store`).

A session is started locally (``local[*]``, or the ``master`` given, e.g. ``local[2]`` or
``spark://host:7077``); its time zone is UTC, so that times and hour buckets are the same as
DuckDB's.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from wormsign.engine.dialect import spark_params, to_spark
from wormsign.engine.passes import KEY_REF
from wormsign.store import KEY_COLUMNS, memory_bytes

#: Spark settings of the session wormsign starts (a given master keeps its cluster's others).
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.enableVectorizedReader": "true",
    "spark.sql.ansi.enabled": "false",  # DuckDB's NULL on a failed cast, not an error
    # a record with a repeated key is read (its last value; DuckDB reads the first), not NULL
    "spark.sql.variant.allowDuplicateKeys": "true",
    # No generated method over HotSpot's limit for compiling one (8,000 bytes of bytecode): at
    # Spark's default (65,535) the observation pass's one scan of every rule was a method the JVM
    # never compiles, and ran interpreted, 71 % of its task time (Java Flight Recorder, 60M
    # events); with two task threads in it, each ran 1.4 times as long as one alone. Past the
    # limit Spark generates code per expression instead (bench/README.md, "why two cores gave
    # 1.6x on 60M events").
    "spark.sql.codegen.hugeMethodLimit": "8000",
    # a pass's result written for the catalog (SparkScans.write): times as Parquet's microsecond
    # timestamps, which every reader knows, not the legacy INT96
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


def session(master: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """A SparkSession on ``master`` (``local[*]`` when None)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("wormsign").master(master or "local[*]")
    cores = _cores(master or "local[*]")
    settings = dict(SESSION_CONF)
    if (master or "local[*]").startswith("local"):  # a cluster keeps its own (spark-defaults.conf)
        settings["spark.sql.shuffle.partitions"] = str(max(2, 2 * cores))
        # and kept after a shuffle: adaptive execution merged them into one more than the cores
        # (1.2M events, local[2]: the channels' windows by host and channel in 3 tasks of 3.9-4.9
        # s, the third alone on a core)
        settings["spark.sql.adaptive.coalescePartitions.enabled"] = "false"
        # at least four splits of the shards per core (row groups): five shards on two cores
        # were five tasks, the last one alone on a core
        settings["spark.sql.files.minPartitionNum"] = str(4 * cores)
        # and a file of a few MB (a shard's keys file) split too: at the default cost of opening
        # a file (4 MiB) the keys of a shard of 1.2M events were one task, alone on a core
        settings["spark.sql.files.openCostInBytes"] = str(2**20)
        # a local session is the driver: half of the memory this process may use, as DuckDB
        # gets (Spark's default, 1 GiB, failed to broadcast a join on 6M events)
        total = memory_bytes() or 4 * 2**30
        settings["spark.driver.memory"] = f"{max(1, total // 2 // 2**30)}g"
        settings["spark.driver.maxResultSize"] = "0"  # results come back as Arrow: the catalog's rows
        # One garbage collector whatever the cores, the throughput one: the JVM picks the serial
        # collector on one core and G1 on two or more, whose write barriers and refinement
        # threads cost the tasks time (local[2]: 7.5M events resolved in 193.3 s with G1, 177.2 s
        # with this one; 123.2M events hunted in 2,118.7 and 1,709.3 s; bench/README.md, "which
        # garbage collector" and "the floor's case with one collector on both")
        settings["spark.driver.extraJavaOptions"] = "-XX:+UseParallelGC"
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _cores(master: str) -> int:
    if master.startswith("local[") and master.endswith("]"):
        inner = master[6:-1].split(",")[0]
        return os.cpu_count() or 1 if inner == "*" else int(inner)
    return os.cpu_count() or 1


class SparkScans:
    """Statements of the analytics run on Spark over views of a case's shards."""

    name = "spark"

    def __init__(self, master: str | None = None, *, macros: Iterable[str] = (),
                 spark_bodies: dict[str, str] | None = None, spark: Any = None) -> None:
        self.master = master or "local[*]"
        self.spark = spark or session(master)
        self.macros = tuple(macros)
        self.spark_bodies = dict(spark_bodies or {})
        self._schema: Any = None
        self._cached: dict[str, Any] = {}
        self._keyed: tuple[tuple[Any, ...], set[str], Any] | None = None
        self._results: dict[str, tuple[str, Any]] = {}  # a kept result's view: (its folder, what it holds)

    def _read(self, files: Sequence[str], columns: Sequence[str] | None = None) -> Any:
        """The shard files, with the case's schema (no inference: no footer read for it), only
        ``columns`` when given, else every column but the raw record."""
        from pyspark.sql import functions as F

        if self._schema is None:
            from pyspark.sql.pandas.types import from_arrow_schema

            from wormsign.schema import SCHEMA
            from wormsign.store import EID

            self._schema = from_arrow_schema(SCHEMA.append(pa.field(EID, pa.int64())))
        df = self.spark.read.schema(self._schema).parquet(*files)
        cols = list(columns) if columns is not None else [c for c in df.columns if c != "raw"]
        return df.select(*[F.col(f"`{c}`") for c in cols])

    def view_files(self, name: str, files: Sequence[str], *, cache: bool = True) -> None:
        """``name``: the rows of the Parquet ``files`` (shards as ingest wrote them), but the raw
        record; ``cache``d for the statements of a pass (each reads them again) until :meth:`release`."""
        df = self._read(files)
        self._keep(name, df.cache() if cache else df)

    def _keep(self, name: str, df: Any) -> None:
        self.release(name)
        self._cached[name] = df
        df.createOrReplaceTempView(name)

    def release(self, name: str) -> None:
        """Drop the cache of the view ``name``."""
        old = self._cached.pop(name, None)
        if old is not None:
            old.unpersist()

    def view_keyed(self, name: str, events: Sequence[str], keys: dict[int, str], columns: Sequence[str],
                   *, cache: bool = True, where: tuple[str, Sequence[Any]] | None = None) -> None:
        """``name``: the ``columns`` of the events of shard files ``events``, with the resolved
        keys of those that have a keys file (``keys``: shard -> keys file; the keys' row n is the
        shard's row n, as DuckDB's positional join reads them). ``cache=False``: read anew by each
        query (and only the columns it reads), the cached keyed events left as they are.
        ``where``: only the events that meet this condition (DuckDB's dialect, ``?`` parameters;
        it must read no key column), kept before the join with their keys, so that the shuffle
        of the join carries only them (every key row still goes through it, four narrow columns)."""
        from pyspark.sql import functions as F

        cols = list(dict.fromkeys(["eid", *columns]))
        # The keyed events of the same files (same sizes and times) with these columns or more,
        # and the same rows, are cached already (one join, one cache for the passes that read them).
        stamp = (tuple(_stamp(f) for f in (*events, *sorted(keys.values()))), _where_key(where))
        if self._keyed is not None and self._keyed[0] == stamp and set(cols) <= self._keyed[1]:
            self._keyed[2].createOrReplaceTempView(name)
            return
        if cache:
            self.forget_keyed()
        ev = self._read(events, cols)
        if where is not None:
            cond, params = where
            if KEY_REF.search(cond):
                raise ValueError("view_keyed: a condition before the keys reads a key column")
            ev.createOrReplaceTempView("_ws_unkeyed")
            ev = self._frame(f"SELECT * FROM _ws_unkeyed WHERE {cond}", params)
        keyed = list(keys.values())
        if keyed:
            ky = (self.spark.read.parquet(*keyed)
                  .select("*", F.col("_metadata.row_index").alias("_row"), F.col("_metadata.file_name").alias("_kf")))
            mapping = F.create_map(*[x for sh, kf in keys.items() for x in (F.lit(os.path.basename(kf)), F.lit(sh))])
            ky = ky.withColumn("_shard", mapping[F.col("_kf")])
            ky = ky.withColumn("eid", F.shiftleft(F.col("_shard").cast("long"), 32) + F.col("_row"))
            key_cols = [c for c in KEY_COLUMNS if c in cols]
            ky = ky.select("eid", F.lit(True).alias("_keyed"), *[F.col(f"`{c}`").alias(f"_k_{c}") for c in key_cols])
            ev = ev.join(ky.hint("merge"), "eid", "left")  # both sides every event: never broadcast
            for c in key_cols:  # a keyed row takes its keys file's value, NULL included
                ev = ev.withColumn(c, F.when(F.col("_keyed"), F.col(f"`_k_{c}`")).otherwise(F.col(f"`{c}`")))
            ev = ev.drop("_keyed", *[f"_k_{c}" for c in key_cols])
        if not cache:
            self._keep(name, ev)
            return
        ev = ev.cache()
        self._keyed = (stamp, set(cols), ev)
        ev.createOrReplaceTempView(name)

    def forget_keyed(self) -> None:
        """Drop the cache of the keyed events (:meth:`view_keyed`)."""
        if self._keyed is not None:
            self._keyed[2].unpersist()
            self._keyed = None

    def view_table(self, name: str, table: pa.Table) -> None:
        """``name``: a small table of the catalog, shipped to Spark."""
        df = self.spark.createDataFrame(table)  # Arrow in, no pandas
        df.createOrReplaceTempView(name)

    def view_query(self, name: str, sql: str, params: Sequence[Any] = (), *, cache: bool = True) -> None:
        """``name``: the result of ``sql`` (DuckDB's dialect), ``cache``d until :meth:`release`
        (made by its first reader: the query runs once)."""
        df = self._frame(sql, params)
        self._keep(name, df.cache() if cache else df)

    def columns(self, name: str) -> list[str]:
        """The column names of the view ``name``."""
        return list(self.spark.table(name).columns)

    def sql(self, sql: str) -> str:
        """``sql`` as Spark runs it."""
        return to_spark(sql, self.macros, self.spark_bodies)

    def _frame(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The DataFrame of ``sql`` (DuckDB's dialect, ``?`` parameters bound by Spark)."""
        return self.spark.sql(self.sql(sql), args=spark_params(params) if params else None)

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """The result of ``sql`` (DuckDB's dialect, ``?`` parameters bound by Spark) as Arrow."""
        df = self._frame(sql, params)
        return df.toArrow()

    def write(self, sql: str, params: Sequence[Any], folder: str, *,
              keep_as: str | None = None, holds: Any = None) -> tuple[list[str], list[str]]:
        """Write the result of ``sql`` (as :meth:`query`) as Parquet files in ``folder`` (made;
        it must not exist), its columns named ``c0``, ``c1``, ...: (the result's column names,
        the files written, in the result's order). The rows never pass through the driver: each
        task writes its own, and the catalog reads them from there (a candidate pass's rows
        collected as Arrow took the driver's heap and as much again in Python).

        ``keep_as``: also the name of a view of the files (the result's own column names) for
        later statements, until :meth:`drop_result`, which removes ``folder``; ``holds``: what
        it holds, for :meth:`kept`."""
        df = self._frame(sql, params)
        names = list(df.columns)
        out = df.toDF(*[f"c{i}" for i in range(len(names))])
        out.write.parquet(folder)
        if keep_as is not None:
            self.drop_result(keep_as)
            self.spark.read.schema(out.schema).parquet(folder).toDF(*names).createOrReplaceTempView(keep_as)
            self._results[keep_as] = (folder, holds)
        return names, sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".parquet"))

    def kept(self, name: str) -> Any:
        """What the kept result ``name`` holds (``holds`` of :meth:`write`), None when there is none."""
        got = self._results.get(name)
        return None if got is None else got[1]

    def drop_result(self, name: str) -> None:
        """Forget the kept result ``name`` (:meth:`write`): its view, and its files."""
        got = self._results.pop(name, None)
        if got is not None:
            self.spark.catalog.dropTempView(name)
            shutil.rmtree(got[0], ignore_errors=True)

    def drop_results(self) -> None:
        for name in list(self._results):
            self.drop_result(name)

    def close(self) -> None:
        self.drop_results()
        self.spark.stop()


def _where_key(where: tuple[str, Sequence[Any]] | None) -> str | None:
    return None if where is None else repr((where[0], list(where[1])))


def _stamp(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return path, st.st_size, st.st_mtime_ns
