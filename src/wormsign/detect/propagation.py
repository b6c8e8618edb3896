"""Propagation candidates as SQL: a drop followed by its execution, remote service/task/WMI
calls, and credential-less SMB spread, as the working table ``h_edges``
(:data:`wormsign.detect.prep.STORED`: stored by the resolver, on Spark when it made the
candidate rows there, or computed by a hunt over a time window).

One row is one host starting code it received from another host. The graph work (which
edge infected a host first, generations, containment) is in :mod:`wormsign.graph`.

One statement, in SQL that both engines run: the as-of joins (an execution's latest drop
before it) are window functions over a frame that grows row by row, the best row per group a
``row_number()`` in a subquery, "no logon in between" an ``ANTI JOIN``.
"""

from __future__ import annotations

import re
from typing import Any

from wormsign.engine.dialect import Pattern

# Executions explained by a drop: first a drop of a file the command names (the hash or the
# name), else the latest drop before it (worms rename every copy). A process start of a program
# of the system folders is explained so only by a DLL it can load (OTRF's wlbsctrl.dll for
# svchost.exe, wbemcomn.dll for wmiprvse.exe): services.exe starts svchost.exe all day, and an
# installer copied to C:\Windows\Temp started none of them (a service installed with such an image,
# svchost.exe -k for a dropped DLL, is explained by the latest drop as before). The edge's hash is the
# dropped file's: the execution's only where its image is that file (a service's PSEXESVC.exe,
# or rundll32.exe loading a dropped .dat, is another program), else the drop's own, if any.
_COPY = """
drops AS (SELECT * FROM ({drops}) WHERE source IS NOT NULL),
dk AS (  -- the windows (exec_window_s + 60 s long) that hold a drop, and those beside them
    SELECT DISTINCT target AS host, CAST(floor(epoch(ts) / $bw) AS BIGINT) + k AS b
    FROM drops, (VALUES (-1), (0), (1)) v(k)
),
xc AS (  -- the executions a drop could explain (most code a host starts is nowhere near a drop)
    SELECT x.* FROM h_execs x SEMI JOIN dk ON dk.host = x.host AND dk.b = CAST(floor(epoch(x.ts) / $bw) AS BIGINT)
),
xn AS (SELECT xid, host, ts, unnest(names) AS name FROM xc),
named AS (
    SELECT x.xid, d.source, d.ts AS drop_ts, d.fname, d.fpath, d.sha256, d.account, d.via, d.ref AS dref, 1 AS q
    FROM xn x JOIN drops d ON d.target = x.host AND d.fname = x.name
    WHERE x.ts >= d.ts - INTERVAL 60 SECOND AND x.ts <= d.ts + to_seconds($w)
),
latest AS (  -- each execution's latest drop on its host at its instant or before
    {latest}
),
near AS (
    SELECT x.xid, d.source, d.ts, d.fname, d.fpath, d.sha256, d.account, d.via, d.ref, 2
    FROM latest a JOIN xc x ON x.xid = a.key JOIN drops d ON d.ref = a.latest
    WHERE x.ts - d.ts <= to_seconds($w)
      AND (x.via <> 'process' OR ws_ext(d.fname) = 'dll'
           OR NOT regexp_matches(lower(coalesce(x.image, '')), $system_dirs))
),
best AS (  -- ties: by the drop's ref
    SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY xid ORDER BY q, drop_ts DESC, dref) AS rn
                   FROM (SELECT * FROM named UNION ALL SELECT * FROM near))
    WHERE rn = 1
),
copy AS (
    SELECT b.source, x.host AS target, x.ts, x.method, b.fname, b.fpath,
           coalesce(CASE WHEN ws_base(x.image) = lower(b.fname) THEN x.sha256 END, b.sha256) AS sha256,
           coalesce(b.account, x.account) AS account,
           'copy' AS kind, [b.dref, x.ref] AS evidence, b.drop_ts, x.xid, b.q
    FROM best b JOIN xc x ON x.xid = b.xid
    WHERE b.source <> x.host
),"""

# Remote calls that name their caller (Zeek dce_rpc) and were not already explained by a drop.
_RPC = """
rpc AS (
    SELECT x.source, x.host, x.ts, x.method, NULL, NULL, NULL, x.account, 'rpc', [x.ref], NULL, x.xid, 1
    FROM h_execs x
    WHERE x.source IS NOT NULL AND x.source <> x.host AND x.xid NOT IN (SELECT xid FROM copy)
),"""


def _unlogged(sessions: str, host: str, at: str) -> str:
    """The joins of a row (its host ``host``, its instant ``at``) to the SMB ``sessions`` (alias
    ``s``) from another host into its host within ``$xw`` before it, with no network logon from
    the session's source between the session's start (less ``$skew``) and that instant: the
    exploits' and the scanning-on's sessions."""
    return f"""JOIN {sessions} s ON s.target = {host} AND s.ts <= {at} AND s.ts >= {at} - to_seconds($xw)
            AND s.source <> {host}
        ANTI JOIN h_logons l ON l.target = {host} AND l.source = s.source
            AND l.ts >= s.ts - to_seconds($skew) AND l.ts <= {at}"""


# Credential-less spread (WannaCry-like): an unexplained new service or remotely started
# executable outside the system folders on a host shortly after another host reached its port 445, with no successful
# network logon from that host in that session (from its start, less session_skew_s, to the
# execution): a logon before the session is another session's, and an admin's PsExec to a host
# 40 minutes earlier does not make a later exploit from the same host an admin's. Of the
# connections before it, a session that carried a payload (or that the target itself logged)
# wins over the latest probe.
_EXPLOIT = f"""
explained AS (SELECT xid FROM copy WHERE q = 1 UNION ALL SELECT xid FROM rpc),
exploit AS (
    SELECT source, host, ts, 'smb-exploit', what, image, sha256, NULL, 'exploit', [sref, ref], sts, xid,
           CASE WHEN strong THEN 0 ELSE 3 END
    FROM (
        SELECT s.source, x.host, x.ts, x.what, x.image, x.sha256, s.ref AS sref, x.ref, s.ts AS sts, x.xid, s.strong,
               row_number() OVER (PARTITION BY x.xid ORDER BY s.strong DESC, s.ts DESC, s.ref) AS rn
        FROM (SELECT * FROM h_execs WHERE xid NOT IN (SELECT xid FROM explained) AND image IS NOT NULL
              AND NOT regexp_matches(lower(image), $system_dirs)) x
        {_unlogged('h_smb', 'x.host', 'x.ts')})
    WHERE rn = 1
),"""

# Credential-less spread seen on the wire alone (no host logs of the target): a scanning host
# opened a payload-sized SMB session to a host that starts scanning port 445 itself soon after.
# (The windows are DuckDB's time_bucket's: from 2000-01-03 00:00 UTC, 946,857,600 s after the epoch.)
_SCAN_ON = f"""
buckets AS (
    SELECT source, min(ts) AS first FROM h_smb
    GROUP BY source, CAST(floor((epoch(ts) - 946857600) / $scan_window_s) AS BIGINT)
    HAVING count(DISTINCT target) >= $scan_min_hosts
),
scans AS (SELECT source AS host, min(first) AS scan_ts FROM buckets GROUP BY source),
scan_on AS (
    SELECT source, host, scan_ts, 'smb-exploit', NULL, NULL, NULL, NULL, 'exploit', [ref], ts,
           -row_number() OVER (ORDER BY host), 4
    FROM (
        SELECT s.source, c.host, c.scan_ts, s.ref, s.ts,
               row_number() OVER (PARTITION BY c.host ORDER BY s.ts DESC, s.ref) AS rn
        FROM scans c
        {_unlogged('(SELECT * FROM h_smb WHERE strong)', 'c.host', 'c.scan_ts')}
        SEMI JOIN scans a ON a.host = s.source AND a.scan_ts <= s.ts)
    WHERE rn = 1
),"""

# One explanation per execution, best first (column q): 0 an exploit session that carried a
# payload, 1 a copy of the very file or a remote call naming its caller, 2 the latest copy of
# some other file (a renamed copy), 3 a mere probe of port 445 before it, 4 (no execution
# seen) the target scanning on after a payload-sized session.
_BEST = """
every AS (SELECT * FROM copy UNION ALL SELECT * FROM rpc UNION ALL SELECT * FROM exploit
          UNION ALL SELECT * FROM scan_on)
SELECT source, target, ts, method, fname, fpath, sha256, account, kind, evidence, drop_ts, xid, q
FROM (SELECT *, min(q) OVER (PARTITION BY xid) AS best_q FROM every)
WHERE q = best_q
"""


def latest_before(points: str, rows: str) -> str:
    """Each row of the query ``points`` (``key, host, ts``) with the ``ref`` of the latest row of
    the query ``rows`` (``host, ts, ref``) on its host at its instant or before (of rows at one
    instant, the least ref), NULL when there is none: ``key, host, ts, latest``. An as-of join,
    as a window over a frame that grows row by row, which both engines have."""
    return f"""SELECT key, host, ts, latest FROM (
        SELECT key, host, ts, last_value(ref IGNORE NULLS) OVER (PARTITION BY host ORDER BY ts, tag, ref DESC
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS latest
        FROM (SELECT host, ts, 0 AS tag, ref, NULL AS key FROM ({rows})
              UNION ALL
              SELECT host, ts, 1, NULL, key FROM ({points})))
    WHERE key IS NOT NULL"""


def edges_sql(drops: str) -> str:
    """The statement of ``h_edges`` over the drops of the query ``drops`` (``h_drops``'s
    columns), the executions ``h_execs``, the SMB sessions ``h_smb`` and the logons ``h_logons``
    (``$name`` placeholders: :func:`bind` with :func:`edge_values`)."""
    copy = _COPY.replace("{drops}", drops).replace("{latest}", latest_before(
        "SELECT xid AS key, host, ts FROM xc", "SELECT target AS host, ts, ref FROM drops"))
    return "WITH" + copy + _RPC + _EXPLOIT + _SCAN_ON + _BEST


_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def positional(sql: str) -> tuple[str, list[str]]:
    """``sql`` with its ``$name`` placeholders as positional ``?``, and the names in order."""
    return _PARAM.sub("?", sql), _PARAM.findall(sql)


def bind(sql: str, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """Turn ``$name`` placeholders into positional ``?`` with the values in order."""
    text, names = positional(sql)
    return text, [values[n] for n in names]


def edge_values(cfg: dict[str, Any]) -> dict[str, Any]:
    """The values :data:`EDGES` binds (``system_dirs`` a regular expression: Spark binds its
    java.util.regex form)."""
    return {"w": int(cfg["exec_window_s"]), "bw": int(cfg["exec_window_s"]) + 60,
            "xw": int(cfg["exploit_window_s"]), "system_dirs": Pattern(cfg["system_dirs_re"]),
            "scan_window_s": int(cfg["scan_window_s"]), "scan_min_hosts": int(cfg["scan_min_hosts"]),
            "skew": int(cfg["session_skew_s"])}
