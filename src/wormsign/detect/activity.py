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
from wormsign.store import Case

# ``{only}`` is a filter on the host (every host, or the implicated ones); ``$internal_re``
# says which addresses are inside. Gaps are taken on each channel's sorted list of times
# (many small sorts, not one window over every row); a channel of one connection has none
# and is left out.
CHAN = """
WITH c AS (
    SELECT coalesce(e."source.host", m.host, CASE WHEN e."src.format" <> 'zeek' THEN e.host END) AS src,
           coalesce(lower(e."process.executable"),
                    e."destination.ip" || ':' || CAST(e."destination.port" AS VARCHAR)) AS chan,
           e."destination.ip" AS dip, e."destination.port" AS dport, e.ts,
           {'d': e."src.digest", 'r': e."src.record"} AS src_ref
    FROM events e LEFT JOIN h_ipmap m ON m.ip = e."source.ip"
    WHERE e.kind = 'network' AND e."destination.ip" IS NOT NULL AND NOT regexp_matches(e."destination.ip", $internal_re)
      AND {near:src}
),
g AS (
    SELECT src, chan, list_sort(list(epoch(ts))) AS t, min(ts) AS first, max(ts) AS last, count(*) AS n,
           arg_min(src_ref, (ts, src_ref), 20) AS refs, arg_max({'ip': dip, 'port': dport}, (ts, dip, dport)) AS latest,
           list_slice(list_sort(list(DISTINCT {'ip': dip, 'port': dport})), 1, 50) AS ends
    FROM c WHERE src IS NOT NULL AND {only:src}
    GROUP BY src, chan HAVING count(*) >= 2
),
d AS (SELECT * EXCLUDE (t), list_transform(t[2:], lambda x, i: x - t[i]) AS dt FROM g)
SELECT src, chan, n, first, last, list_avg(dt) AS mean, list_aggregate(dt, 'stddev_pop') AS sd, refs, latest, ends
FROM d
"""

IMG = """
WITH p AS (
    SELECT host, lower("process.executable") AS img, min("process.hash.sha256") AS sha
    FROM events WHERE kind = 'process' AND "process.hash.sha256" IS NOT NULL AND {only:host}
    GROUP BY ALL
),
net AS (
    SELECT host, lower("process.executable") AS img, list_sort(list(DISTINCT "destination.ip")) AS dests
    FROM events WHERE kind = 'network' AND "destination.ip" IS NOT NULL
      AND NOT regexp_matches("destination.ip", $internal_re) AND "process.executable" IS NOT NULL AND {only:host}
    GROUP BY ALL
)
SELECT host, img, p.sha, net.dests FROM p FULL OUTER JOIN net USING (host, img)
"""

# The executables a program wrote (the rows of the stored pass, h_ev), and their starts.
RUNS = """
WITH w AS (
    SELECT DISTINCT host, lower("file.path") AS img FROM h_ev
    WHERE kind = 'file' AND "event.code" = '11' AND list_contains($exec_extensions, x_ext)
      AND lower(coalesce("process.executable", 'system')) <> 'system' AND {only:host}
)
SELECT e.host, e.ts, lower(e."process.executable") AS img, e."process.hash.sha256" AS sha,
       ws_ref(e."src.digest", e."src.record") AS ref
FROM events e SEMI JOIN w ON w.host = e.host AND w.img = lower(e."process.executable")
WHERE e.kind = 'process' AND e."process.hash.sha256" IS NOT NULL
"""

#: (view in a hunt, stored table, SQL, the table's host column)
PARTS = (("h_chan", "hunt_chan", CHAN, "src"), ("h_img", "hunt_img", IMG, "host"),
         ("h_runs", "hunt_runs", RUNS, "host"))

#: A test on the rows of a connection before its source is known: true for every row whose
#: source (``coalesce("source.host", h_ipmap's host, host)``) may be one of ``h_impl``, so that
#: the channels of a few hosts are summarised without grouping everyone's connections.
_NEAR = ("(e.host IN (SELECT host FROM h_impl) OR e.\"source.host\" IN (SELECT host FROM h_impl) "
         "OR m.host IN (SELECT host FROM h_impl))")


def _sql(sql: str, cfg: dict[str, Any], everyone: bool) -> tuple[str, list[Any]]:
    sql = sql.replace("{near:src}", "TRUE" if everyone else _NEAR)
    for col in ("src", "host"):
        sql = sql.replace("{only:%s}" % col, "TRUE" if everyone else f"{col} IN (SELECT host FROM h_impl)")
    vals = {"internal_re": cfg["internal_re"], "exec_extensions": list(cfg["exec_extensions"])}
    return bind(sql, vals)


def spec(cfg: dict[str, Any]) -> list[Any]:
    """What the stored summaries depend on besides the events."""
    return [[p[2] for p in PARTS], cfg["internal_re"], sorted(cfg["exec_extensions"]), _NEAR]


def tables() -> tuple[str, ...]:
    """The stored tables."""
    return tuple(p[1] for p in PARTS)


def store(case: Case, cfg: dict[str, Any]) -> None:
    """Compute every host's summaries into the stored tables (needs ``h_ipmap`` and ``h_ev``:
    :mod:`wormsign.detect.prep`)."""
    for _, table, sql, _ in PARTS:
        q, params = _sql(sql, cfg, True)
        case.engine.execute(f"CREATE OR REPLACE TABLE {table} AS {q}", params)


def store_hosts(case: Case, cfg: dict[str, Any], hosts: list[str]) -> None:
    """Compute again, in the stored tables, the summaries of ``hosts`` alone (files added to a
    case: the hosts their events concern; needs ``h_ipmap`` and ``h_ev``). A host's rows
    depend on its own events only, so the others' stay as they are."""
    eng = case.engine
    eng.execute("CREATE OR REPLACE TEMP TABLE h_impl AS SELECT DISTINCT unnest(?::VARCHAR[]) AS host", [hosts])
    for _, table, sql, col in PARTS:
        q, params = _sql(sql, cfg, False)
        eng.execute(f"DELETE FROM {table} WHERE {col} IN (SELECT host FROM h_impl)")
        eng.execute(f"INSERT INTO {table} {q}", params)
    eng.execute("DROP TABLE h_impl")


def build(case: Case, cfg: dict[str, Any], *, stored: bool) -> None:
    """The views ``h_chan``, ``h_img`` and ``h_runs``: of the stored tables, or (not ``stored``)
    TEMP tables computed now for the implicated hosts (``h_impl``)."""
    for view, table, sql, _ in PARTS:
        case.drop(view)
        if stored:
            case.engine.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {table}")
        else:
            q, params = _sql(sql, cfg, False)
            case.engine.execute(f"CREATE TEMP TABLE {view} AS {q}", params)
