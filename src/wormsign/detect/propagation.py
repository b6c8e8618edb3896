"""Propagation candidates as SQL: a drop followed by its execution, remote service/task/WMI
calls, and credential-less SMB spread, into the TEMP table ``h_edges``.

One row is one host starting code it received from another host. The graph work (which
edge infected a host first, generations, containment) is in :mod:`wormsign.graph`.
"""

from __future__ import annotations

from typing import Any

from wormsign.store import Case

# Executions explained by a drop: first a drop of a file the command names (the hash or the
# name), else the latest drop before it (worms rename every copy). A process start of a program
# of the system folders is explained so only by a DLL it can load (OTRF's wlbsctrl.dll for
# svchost.exe, wbemcomn.dll for wmiprvse.exe): services.exe starts svchost.exe all day, and an
# installer copied to C:\Windows\Temp started none of them (a service installed with such an image,
# svchost.exe -k for a dropped DLL, is explained by the latest drop as before). The edge's hash is the
# dropped file's: the execution's only where its image is that file (a service's PSEXESVC.exe,
# or rundll32.exe loading a dropped .dat, is another program), else the drop's own, if any.
COPY_EXEC = """
CREATE OR REPLACE TEMP TABLE h_edges AS
WITH dk AS (  -- the windows (exec_window_s + 60 s long) that hold a drop, and those beside them
    SELECT DISTINCT target AS host, CAST(floor(epoch(ts) / $bw) AS BIGINT) + k AS b
    FROM h_drops, (VALUES (-1), (0), (1)) v(k) WHERE source IS NOT NULL
),
xc AS (  -- the executions a drop could explain (most code a host starts is nowhere near a drop)
    SELECT x.* FROM h_execs x SEMI JOIN dk ON dk.host = x.host AND dk.b = CAST(floor(epoch(x.ts) / $bw) AS BIGINT)
),
xn AS (SELECT xid, host, ts, unnest(names) AS name FROM xc),
named AS (
    SELECT x.xid, d.source, d.ts AS drop_ts, d.fname, d.fpath, d.sha256, d.account, d.via, d.ref AS dref, 1 AS q
    FROM xn x JOIN h_drops d ON d.target = x.host AND d.fname = x.name
    WHERE d.source IS NOT NULL AND x.ts >= d.ts - INTERVAL 60 SECOND AND x.ts <= d.ts + to_seconds($w)
),
near AS (
    SELECT x.xid, d.source, d.ts, d.fname, d.fpath, d.sha256, d.account, d.via, d.ref, 2
    FROM xc x
    ASOF JOIN (SELECT * FROM h_drops WHERE source IS NOT NULL  -- of drops at one instant, the first by ref
               QUALIFY row_number() OVER (PARTITION BY target, ts ORDER BY ref) = 1) d
      ON d.target = x.host AND x.ts >= d.ts
    WHERE x.ts - d.ts <= to_seconds($w)
      AND (x.via <> 'process' OR ws_ext(d.fname) = 'dll'
           OR NOT regexp_matches(lower(coalesce(x.image, '')), $system_dirs))
),
best AS (
    SELECT * FROM (SELECT * FROM named UNION ALL SELECT * FROM near)
    QUALIFY row_number() OVER (PARTITION BY xid ORDER BY q, drop_ts DESC, dref) = 1  -- ties: by the drop's ref
)
SELECT b.source, x.host AS target, x.ts, x.method, b.fname, b.fpath,
       coalesce(CASE WHEN ws_base(x.image) = lower(b.fname) THEN x.sha256 END, b.sha256) AS sha256,
       coalesce(b.account, x.account) AS account,
       'copy' AS kind, [b.dref, x.ref] AS evidence, b.drop_ts, x.xid, b.q
FROM best b JOIN xc x USING (xid)
WHERE b.source <> x.host
"""

# Remote calls that name their caller (Zeek dce_rpc) and were not already explained by a drop.
RPC_EXEC = """
INSERT INTO h_edges
SELECT x.source, x.host, x.ts, x.method, NULL, NULL, NULL, x.account, 'rpc', [x.ref], NULL, x.xid, 1
FROM h_execs x
WHERE x.source IS NOT NULL AND x.source <> x.host AND x.xid NOT IN (SELECT xid FROM h_edges)
"""

# Credential-less spread (WannaCry-like): an unexplained new service or remotely started
# executable outside the system folders on a host shortly after another host reached its port 445, with no successful
# network logon from that host in that session (from its start, less session_skew_s, to the
# execution): a logon before the session is another session's, and an admin's PsExec to a host
# 40 minutes earlier does not make a later exploit from the same host an admin's. Of the
# connections before it, a session that carried a payload (or that the target itself logged)
# wins over the latest probe.
EXPLOIT = """
INSERT INTO h_edges
SELECT source, host, ts, 'smb-exploit', what, image, sha256, NULL, 'exploit', [sref, ref], sts, xid,
       CASE WHEN strong THEN 0 ELSE 3 END FROM (
    SELECT s.source, x.host, x.ts, x.what, x.image, x.sha256, s.ref AS sref, x.ref, s.ts AS sts, x.xid, s.strong
    FROM (SELECT * FROM h_execs WHERE xid NOT IN (SELECT xid FROM h_edges WHERE q = 1) AND image IS NOT NULL
          AND NOT regexp_matches(lower(image), $system_dirs)) x
    JOIN h_smb s ON s.target = x.host AND s.ts <= x.ts AND s.ts >= x.ts - to_seconds($xw)
    WHERE s.source <> x.host
      AND NOT EXISTS (SELECT 1 FROM h_logons l WHERE l.target = x.host AND l.source = s.source
                      AND l.ts BETWEEN s.ts - to_seconds($skew) AND x.ts)
    QUALIFY row_number() OVER (PARTITION BY x.xid ORDER BY s.strong DESC, s.ts DESC, s.ref) = 1
)
"""

# Credential-less spread seen on the wire alone (no host logs of the target): a scanning host
# opened a payload-sized SMB session to a host that starts scanning port 445 itself soon after.
SCAN_ON = """
INSERT INTO h_edges
WITH buckets AS (
    SELECT source, min(ts) AS first FROM h_smb
    GROUP BY source, time_bucket(to_seconds($scan_window_s), ts)
    HAVING count(DISTINCT target) >= $scan_min_hosts
),
scans AS (SELECT source AS host, min(first) AS scan_ts FROM buckets GROUP BY ALL)
SELECT s.source, c.host, c.scan_ts, 'smb-exploit', NULL, NULL, NULL, NULL, 'exploit', [s.ref], s.ts,
       -row_number() OVER (ORDER BY c.host), 4
FROM scans c
JOIN h_smb s ON s.target = c.host AND s.strong AND s.ts <= c.scan_ts AND s.ts >= c.scan_ts - to_seconds($xw)
JOIN scans a ON a.host = s.source AND a.scan_ts <= s.ts
WHERE s.source <> c.host
  AND NOT EXISTS (SELECT 1 FROM h_logons l WHERE l.target = c.host AND l.source = s.source
                  AND l.ts BETWEEN s.ts - to_seconds($skew) AND c.scan_ts)
QUALIFY row_number() OVER (PARTITION BY c.host ORDER BY s.ts DESC, s.ref) = 1
"""

# One explanation per execution, best first (column q): 0 an exploit session that carried a
# payload, 1 a copy of the very file or a remote call naming its caller, 2 the latest copy of
# some other file (a renamed copy), 3 a mere probe of port 445 before it, 4 (no execution
# seen) the target scanning on after a payload-sized session.
BEST = """
DELETE FROM h_edges WHERE (xid, q) NOT IN (SELECT (xid, min(q)) FROM h_edges GROUP BY xid)
"""


def bind(sql: str, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """Turn ``$name`` placeholders into positional ``?`` with the values in order."""
    import re

    out: list[Any] = []

    def sub(m: re.Match[str]) -> str:
        out.append(values[m.group(1)])
        return "?"

    return re.sub(r"\$([a-z_][a-z0-9_]*)", sub, sql), out


def build_edges(case: Case, cfg: dict[str, Any]) -> None:
    """Fill ``h_edges`` (needs :func:`wormsign.detect.working.prepare` first)."""
    vals = {"w": int(cfg["exec_window_s"]), "bw": int(cfg["exec_window_s"]) + 60,
            "xw": int(cfg["exploit_window_s"]), "system_dirs": cfg["system_dirs_re"],
            "scan_window_s": int(cfg["scan_window_s"]), "scan_min_hosts": int(cfg["scan_min_hosts"]),
            "skew": int(cfg["session_skew_s"])}
    for sql in (COPY_EXEC, RPC_EXEC, EXPLOIT, SCAN_ON, BEST):
        q, params = bind(sql, vals)
        case.engine.execute(q, params)
