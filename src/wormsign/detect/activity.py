"""What hosts did, summarised for the detections that read it: beaconing and loader payloads.

``chan``  connection channels, one row per source host and channel. A channel is a process's
          connections to outside addresses (Sysmon 3, keyed by the image) or, on the wire, the
          connections to one outside address and port (Zeek conn), so one connection logged by
          both is not counted twice in one channel. A row holds the connection count, the first
          and last connection, the mean and the spread (population standard deviation) of the
          gaps between consecutive connections, the first evidence references, the latest
          address and the addresses seen. ``rules/beacon.yaml`` compares them with its thresholds.
``img``   one row per host and image that started with a hash or connected out: the image's
          (least) hash and the outside addresses it connected to.
``runs``  process starts, with their hash, of an executable a program (not the kernel) wrote
          on the same host: a loader's payload starting. ``rules/loader-payload.yaml`` reads
          these with ``img``.

They depend on the events alone (and on ``internal_re``, which says what is outside), so the
resolver stores them for every host as ``hunt_chan``, ``hunt_img`` and ``hunt_runs`` with the
hunt's pass (:mod:`wormsign.detect.candidates`), the way RITA summarises connections at
import. A hunt reads them (as the views ``h_chan``, ``h_img``, ``h_runs``) when they are
fresh; otherwise it computes them for the implicated hosts only (:func:`build`), with the
same SQL and so the same rows for those hosts.
"""

from __future__ import annotations

from typing import Any

from wormsign.detect.propagation import bind
from wormsign.engine import passes
from wormsign.store import Case

#: SQL macros of the summaries, with the Spark body of each (an aggregate's top n has no
#: expression sqlglot translates; the differential test,
#: tests/engine/test_spark_differential.py, compares the tables both engines compute).
MACROS = (
    # the values of the n least ranks (``k``: a row number), in rank order
    "CREATE OR REPLACE TEMP MACRO ws_first_n(v, k, n) AS list(v ORDER BY k) FILTER (WHERE k <= n)",
)
SPARK_BODIES = {
    "ws_first_n": "transform(array_sort(collect_list(CASE WHEN k <= n THEN struct(k AS k, v AS v) END)), x -> x.v)",
}

# ``{only}`` is a filter on the host (every host, or the implicated ones); ``$internal_re``
# says which addresses are inside. A channel's connections are sorted by time in a window:
# each one's gap to the one before it, and its rank for the first evidence references. A sort
# spills to disk in bounded memory; an aggregate's state does not, and one that held a list of
# every connection's time per channel (44 GiB spilled for 102M events, then out of disk) or
# the top 20 references by key (out of memory at 4 GiB for 34M events) did not fit. Gaps are
# in microseconds: the mean and spread come from their exact integer sums (the mean from the
# span, ``sq`` the sum of squared gaps), so that a channel's row extended by later connections
# (:func:`merge_hosts`) is the row a pass over all of them gives. A hunt reads channels of two
# connections or more (``{having}``); the stored table keeps the single ones too, for the
# connections to come.
CHAN = """
WITH c AS NOT MATERIALIZED (
    SELECT coalesce(e."source.host", m.host, CASE WHEN e."src.format" <> 'zeek' THEN e.host END) AS src,
           coalesce(lower(e."process.executable"),
                    e."destination.ip" || ':' || CAST(e."destination.port" AS VARCHAR)) AS chan,
           e."destination.ip" AS dip, e."destination.port" AS dport, e.ts, e."src.digest" AS sd, e."src.record" AS sr
    FROM {events} e LEFT JOIN h_ipmap m ON m.ip = e."source.ip"
    WHERE e.kind = 'network' AND e."destination.ip" IS NOT NULL AND NOT regexp_matches(e."destination.ip", $internal_re)
      AND {near:src}
),
w AS (
    SELECT src, chan, dip, dport, ts, {'d': sd, 'r': sr} AS src_ref,
           epoch_us(ts) - lag(epoch_us(ts)) OVER o AS gap, row_number() OVER o AS k
    FROM c WHERE src IS NOT NULL AND {only:src}
    WINDOW o AS (PARTITION BY src, chan ORDER BY ts, sd, sr)
),
g AS (
    SELECT src, chan, min(ts) AS first, max(ts) AS last, count(*) AS n, ws_first_n(src_ref, k, 20) AS refs,
           arg_max({'ip': dip, 'port': dport}, (ts, dip, dport)) AS latest,
           coalesce(sum(CAST(gap AS HUGEINT) * CAST(gap AS HUGEINT)), CAST(0 AS HUGEINT)) AS sq
    FROM w GROUP BY src, chan {having}
),
ends AS (
    SELECT src, chan, ws_first_n({'ip': dip, 'port': dport}, j, 50) AS ends
    FROM (SELECT src, chan, dip, dport, row_number() OVER (PARTITION BY src, chan ORDER BY {'ip': dip, 'port': dport}) AS j
          FROM (SELECT DISTINCT src, chan, dip, dport FROM c WHERE src IS NOT NULL AND {only:src}))
    GROUP BY src, chan
)
SELECT src, chan, n, first, last, {stats}, refs, latest, ends, sq
FROM g JOIN ends USING (src, chan)
"""

#: A channel's mean gap and its spread (population standard deviation), in seconds, from its
#: connection count, first and last connection and the sum of its squared gaps (microseconds).
STATS = ("CASE WHEN n > 1 THEN (epoch_us(last) - epoch_us(first)) / (n - 1) / 1e6 END AS mean, "
         "CASE WHEN n > 1 THEN sqrt(greatest(CAST((n - 1) * sq - CAST(epoch_us(last) - epoch_us(first) AS HUGEINT) "
         "* CAST(epoch_us(last) - epoch_us(first) AS HUGEINT) AS DOUBLE), 0)) / (n - 1) / 1e6 END AS sd")

#: New connections of channels (``_ws_dchan``: CHAN over the new shards, single ones kept)
#: joined to their stored rows: ``late`` when every new one is later than the last stored one
#: (the row is extended), else the channel is summarised again from all its connections.
MERGE_CHAN = """
CREATE OR REPLACE TEMP TABLE _ws_mchan AS
SELECT d.src, d.chan, o.n IS NULL OR d.first > o.last AS late,
       coalesce(o.n, 0) + d.n AS n, coalesce(o.first, d.first) AS first, d.last,
       coalesce(o.sq, 0) + d.sq + CASE WHEN o.n IS NULL THEN 0
           ELSE CAST(epoch_us(d.first) - epoch_us(o.last) AS HUGEINT) * CAST(epoch_us(d.first) - epoch_us(o.last) AS HUGEINT)
           END AS sq,
       list_slice(coalesce(o.refs, []) || d.refs, 1, 20) AS refs, d.latest,
       list_slice(list_sort(list_distinct(coalesce(o.ends, []) || d.ends)), 1, 50) AS ends
FROM _ws_dchan d LEFT JOIN hunt_chan o ON o.src = d.src AND o.chan = d.chan
"""

IMG = """
WITH p AS (
    SELECT host, lower("process.executable") AS img, min("process.hash.sha256") AS sha
    FROM {events} WHERE kind = 'process' AND "process.hash.sha256" IS NOT NULL AND {only:host}
    GROUP BY ALL
),
net AS (
    SELECT host, lower("process.executable") AS img, list_sort(list(DISTINCT "destination.ip")) AS dests
    FROM {events} WHERE kind = 'network' AND "destination.ip" IS NOT NULL
      AND NOT regexp_matches("destination.ip", $internal_re) AND "process.executable" IS NOT NULL AND {only:host}
    GROUP BY ALL
)
SELECT host, img, p.sha, net.dests FROM p FULL OUTER JOIN net USING (host, img)
"""

# The executables a program wrote (the rows of the stored pass, h_ev), and their starts.
RUNS = """
WITH w AS ({written})
SELECT e.host, e.ts, lower(e."process.executable") AS img, e."process.hash.sha256" AS sha,
       ws_ref(e."src.digest", e."src.record") AS ref
FROM {events} e SEMI JOIN w ON w.host = e.host AND w.img = lower(e."process.executable")
WHERE e.kind = 'process' AND e."process.hash.sha256" IS NOT NULL
"""

#: The executables a program (not the kernel) wrote, per host (``{rows}``: which rows of ``h_ev``).
WRITTEN = """
    SELECT DISTINCT host, lower("file.path") AS img FROM h_ev
    WHERE kind = 'file' AND "event.code" = '11' AND list_contains($exec_extensions, x_ext)
      AND lower(coalesce("process.executable", 'system')) <> 'system' AND {only:host} AND {rows}
"""

#: New ``h_img`` rows (``_ws_dimg``: IMG over the new shards) merged into the stored ones: the
#: least hash, the union of the outside addresses.
MERGE_IMG = """
CREATE OR REPLACE TEMP TABLE _ws_mimg AS
SELECT d.host, d.img,
       CASE WHEN o.sha IS NULL THEN d.sha WHEN d.sha IS NULL THEN o.sha ELSE least(o.sha, d.sha) END AS sha,
       CASE WHEN o.dests IS NULL THEN d.dests WHEN d.dests IS NULL THEN o.dests
            ELSE list_sort(list_distinct(o.dests || d.dests)) END AS dests
FROM _ws_dimg d LEFT JOIN hunt_img o ON o.host = d.host AND o.img = d.img
"""

#: (view in a hunt, stored table, SQL, the table's host column)
PARTS = (("h_chan", "hunt_chan", CHAN, "src"), ("h_img", "hunt_img", IMG, "host"),
         ("h_runs", "hunt_runs", RUNS, "host"))

#: A test on the rows of a connection before its source is known: true for every row whose
#: source (``coalesce("source.host", h_ipmap's host, host)``) may be one of ``h_impl``, so that
#: the channels of a few hosts are summarised without grouping everyone's connections.
_NEAR = ("(e.host IN (SELECT host FROM h_impl) OR e.\"source.host\" IN (SELECT host FROM h_impl) "
         "OR m.host IN (SELECT host FROM h_impl))")


def _sql(sql: str, cfg: dict[str, Any], everyone: bool, *, stored: bool = False,
         events: str = "events") -> tuple[str, list[Any]]:
    sql = sql.replace("{written}", WRITTEN.replace("{rows}", "TRUE"))
    sql = sql.replace("{events}", events).replace("{stats}", STATS)
    sql = sql.replace("{having}", "" if stored else "HAVING count(*) >= 2")
    sql = sql.replace("{near:src}", "TRUE" if everyone else _NEAR)
    for col in ("src", "host"):
        sql = sql.replace("{only:%s}" % col, "TRUE" if everyone else f"{col} IN (SELECT host FROM h_impl)")
    vals = {"internal_re": cfg["internal_re"], "exec_extensions": list(cfg["exec_extensions"])}
    return bind(sql, vals)


def spec(cfg: dict[str, Any]) -> list[Any]:
    """What the stored summaries depend on besides the events."""
    return [[p[2] for p in PARTS], cfg["internal_re"], sorted(cfg["exec_extensions"]), _NEAR, STATS, MERGE_CHAN,
            WRITTEN, MERGE_IMG]


def tables() -> tuple[str, ...]:
    """The stored tables."""
    return tuple(p[1] for p in PARTS)


def store(case: Case, cfg: dict[str, Any]) -> None:
    """Compute every host's summaries into the stored tables (needs ``h_ipmap`` and ``h_ev``:
    :mod:`wormsign.detect.prep`). On Spark (``case.scans``) the same statements run over the
    events there, with the address map and the executables written (from ``h_ev``) shipped, and
    their rows go to tables of the types DuckDB's statements give."""
    if case.scans is None:
        for _, table, sql, _ in PARTS:
            q, params = _sql(sql, cfg, True, stored=True)
            case.engine.execute(f"CREATE OR REPLACE TABLE {table} AS {q}", params)
        return
    written, wparams = bind(WRITTEN.replace("{only:host}", "TRUE").replace("{rows}", "TRUE"),
                            {"exec_extensions": list(cfg["exec_extensions"])})
    case.engine.execute(f"CREATE OR REPLACE TEMP TABLE _ws_written AS {written}", wparams)
    case.scans.view_table("h_ipmap", case.query("SELECT * FROM h_ipmap"))
    case.scans.view_table("_ws_written", case.query("SELECT * FROM _ws_written"))
    statements = []
    empty = f"(SELECT * FROM ({case.events_sql()}) LIMIT 0)"
    for _, table, sql, _ in PARTS:
        q, params = _sql(sql.replace("{written}", "SELECT * FROM _ws_written"), cfg, True, stored=True,
                         events="_ws_none")
        case.engine.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM ({q.replace('_ws_none', empty)}) "
                            "LIMIT 0", params)
        statements.append((f"INSERT INTO {table} {q}", params))
    passes.run_keyed(case, case.shard_ids(), _COLUMNS,
                     lambda src: [(s.replace("_ws_none", src), p) for s, p in statements], where=(_READ, []))
    case.engine.execute("DROP TABLE IF EXISTS _ws_written")


#: The events the summaries read (every statement's own filter implies it; no key column): on
#: Spark only these are joined with their keys.
_READ = ("(kind = 'network' AND \"destination.ip\" IS NOT NULL) "
         "OR (kind = 'process' AND \"process.hash.sha256\" IS NOT NULL)")

#: The columns of the events the summaries read.
_COLUMNS = ("ts", "host", "kind", "src.digest", "src.record", "src.format", "source.ip", "source.host",
            "destination.ip", "destination.port", "process.executable", "process.hash.sha256")


def merge_hosts(case: Case, cfg: dict[str, Any], hosts: list[str], new_events: str, new_shards: list[int],
                moved: list[str]) -> None:
    """Files added to a case: the stored summaries brought up to date from ``new_events`` (a
    query of the events of ``new_shards``) alone where they can be.

    - ``h_chan``: the channels of ``hosts`` that only gained later connections are extended
      (:data:`MERGE_CHAN`); their other channels, and the channels of the hosts the address
      map ``moved`` (their connections' source may have changed), are summarised again.
    - ``h_img``: the new shards' rows merged in (:data:`MERGE_IMG`).
    - ``h_runs``: the new shards' starts of executables written, and the older starts of the
      executables written for the first time in the new shards.
    """
    from wormsign.store import SHARD_BITS

    eng = case.engine
    eng.execute("CREATE OR REPLACE TEMP TABLE h_impl AS SELECT DISTINCT unnest(?::VARCHAR[]) AS host", [hosts])
    q, params = _sql(CHAN, cfg, False, stored=True, events=f"({new_events})")
    eng.execute(f"CREATE OR REPLACE TEMP TABLE _ws_dchan AS {q}", params)
    eng.execute(MERGE_CHAN)
    again = sorted({*moved, *(r[0] for r in eng.rows("SELECT DISTINCT src FROM _ws_mchan WHERE NOT late"))})
    eng.execute("DELETE FROM hunt_chan o USING _ws_mchan m WHERE m.late AND o.src = m.src AND o.chan = m.chan")
    eng.execute(f"INSERT INTO hunt_chan SELECT src, chan, n, first, last, {STATS}, refs, latest, ends, sq "
                "FROM _ws_mchan WHERE late AND NOT list_contains(?, src)", [again])
    if again:
        eng.execute("CREATE OR REPLACE TEMP TABLE h_impl AS SELECT DISTINCT unnest(?::VARCHAR[]) AS host", [again])
        q, params = _sql(CHAN, cfg, False, stored=True)
        eng.execute("DELETE FROM hunt_chan WHERE src IN (SELECT host FROM h_impl)")
        eng.execute(f"INSERT INTO hunt_chan {q}", params)
    # h_img
    q, params = _sql(IMG, cfg, True, stored=True, events=f"({new_events})")
    eng.execute(f"CREATE OR REPLACE TEMP TABLE _ws_dimg AS {q}", params)
    eng.execute(MERGE_IMG)
    eng.execute("DELETE FROM hunt_img o USING _ws_mimg m WHERE o.host = m.host AND o.img = m.img")
    eng.execute("INSERT INTO hunt_img SELECT host, img, sha, dests FROM _ws_mimg")
    # h_runs
    new = f"list_contains({[int(s) for s in new_shards]!r}::BIGINT[], eid >> {SHARD_BITS})"
    w_all, w_old = (WRITTEN.replace("{only:host}", "TRUE").replace("{rows}", r) for r in ("TRUE", f"NOT {new}"))
    vals = {"exec_extensions": list(cfg["exec_extensions"])}
    sql, params = bind(f"CREATE OR REPLACE TEMP TABLE _ws_wnew AS ({w_all}) EXCEPT ({w_old})", vals)
    eng.execute(sql, params)
    runs = RUNS.replace("{written}", w_all.replace("{only:host}", "TRUE"))
    sql, params = bind(runs.replace("{events}", f"({new_events})"), vals)
    eng.execute(f"INSERT INTO hunt_runs {sql}", params)
    if eng.rows("SELECT count(*) FROM _ws_wnew")[0][0]:
        old = f"(SELECT * FROM events WHERE NOT {new})"
        eng.execute(f"INSERT INTO hunt_runs {RUNS.replace('{written}', 'SELECT * FROM _ws_wnew').replace('{events}', old)}")
    for t in ("_ws_dchan", "_ws_mchan", "_ws_dimg", "_ws_mimg", "_ws_wnew", "h_impl"):
        eng.execute(f"DROP TABLE IF EXISTS {t}")


def build(case: Case, cfg: dict[str, Any], *, stored: bool) -> None:
    """The views ``h_chan``, ``h_img`` and ``h_runs``: of the stored tables, or (not ``stored``)
    TEMP tables computed now for the implicated hosts (``h_impl``)."""
    for view, table, sql, _ in PARTS:
        case.drop(view)
        if stored:  # the stored channels include single connections: a hunt reads the others
            where = " WHERE n >= 2" if table == "hunt_chan" else ""
            case.engine.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {table}{where}")
        else:
            q, params = _sql(sql, cfg, False)
            case.engine.execute(f"CREATE TEMP TABLE {view} AS {q}", params)
