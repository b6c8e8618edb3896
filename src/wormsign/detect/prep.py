"""Working tables the detections share: address map, remote drops, remote executions, SMB reach.

The big ``events`` table is read at most once for them: :mod:`wormsign.detect.candidates`
gives the few rows any detection needs (share writes, service/task installs, remote-parent
processes, SMB/RPC on the wire, logons and failures, lockouts) with the few columns they need
as ``h_ev``, keeping the column names of ``events`` (a view of the stored ``hunt_index`` when
it is fresh, so ``events`` is not read at all). Every working table is then one SQL set
operation over ``h_ev`` (values bound as parameters), so the detections and the propagation
graph never loop over events in Python, nor scan ``events`` once per rule. The tables that
depend on ``h_ev`` alone (:data:`STORED`: drops, executions, service images, port-445
sessions, logons, failures, lockouts, the writers of drops and callers of installs, and the
propagation edges) are stored by the resolver beside ``hunt_index`` (on Spark, when it made
the candidate rows of every shard, built there: :func:`_working`) and read as views; the hunt
computes the rest (and all of them when the stored index is stale) as TEMP tables.

``h_ev``      the candidate rows (:mod:`wormsign.detect.candidates`)

``h_ipmap``   ip -> host (the resolver's ``host_addr``; without it, what the logs say about themselves)
``h_drops``   executables written to a host from another host (5145, Zeek smb_files, Sysmon 11 by System);
              a view of ``h_rawdrops`` (as the events say) and ``h_writers`` (who wrote what System wrote)
``h_execs``   code started on a host the way remote tools start it (7045/4697, 4698, services/WMI
              children, Zeek dce_rpc svcctl/atsvc), with every file name its command names,
              ``via``: an ``install`` (service, task), a ``process`` start, an ``rpc`` call
``h_callers`` an install's caller (``xid``, ``caller``: the host that logged on over the network just before)
``h_edges``   propagation candidates (:mod:`wormsign.detect.propagation`)
``h_svc``     per image the service control manager starts: on how many hosts and days
``h_smb``     port-445 connections between hosts (Zeek conn, Sysmon 3)
``h_logons``  successful network logons; ``h_authfail`` failed ones; ``h_lockouts`` 4740s
``h_impl``    implicated hosts (:func:`implicate`)
``h_chan``, ``h_img``, ``h_runs``  what hosts did, summarised for beaconing and loader payloads
              (:mod:`wormsign.detect.activity`: stored by the resolver, or computed for ``h_impl``)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from wormsign.detect import activity
from wormsign.detect.propagation import bind, edge_values, edges_sql, latest_before, positional
from wormsign.engine import passes
from wormsign.store import Case

#: SQL macros: host key of a name, file name of a path, names of executables in a command.
MACROS = (
    r"""CREATE OR REPLACE TEMP MACRO ws_hkey(x) AS CASE
        WHEN x IS NULL OR trim(x) IN ('', '-', 'null', 'NULL', '(null)') THEN NULL
        WHEN regexp_full_match(trim(x), '[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*') THEN trim(x)
        ELSE nullif(regexp_replace(split_part(lower(trim(x, '\ ')), '.', 1), '\$$', ''), '') END""",
    r"""CREATE OR REPLACE TEMP MACRO ws_base(x) AS
        nullif(lower(regexp_extract(coalesce(x, ''), '[^\\/]+$')), '')""",
    # (sorted: list_distinct keeps no order in DuckDB, the first appearance in Spark)
    r"""CREATE OR REPLACE TEMP MACRO ws_names(x) AS
        list_sort(list_distinct(regexp_extract_all(lower(coalesce(x, '')),
            '([^\\/"'' ,;=<>|]+\.(?:exe|dll|scr|bat|cmd|ps1|vbs|js|hta|com|sys|dat))', 1)))""",
    r"""CREATE OR REPLACE TEMP MACRO ws_ext(x) AS lower(regexp_extract(coalesce(x, ''), '\.([A-Za-z0-9]+)$', 1))""",
    r"""CREATE OR REPLACE TEMP MACRO ws_ref(d, r) AS d || ':' || CAST(r AS VARCHAR)""",
    # An integer written in decimal or in hex (an access mask's 0x2), white space before it (and
    # after a decimal one), NULL when it is neither or past a BIGINT (DuckDB's cast alone also
    # reads 1e3 and 1.5, Spark's neither).
    r"""CREATE OR REPLACE TEMP MACRO ws_int(x) AS CASE
        WHEN regexp_full_match(x, '[ \t\n\r]*[+-]?[0-9]+[ \t\n\r]*|[ \t\n\r]*0[xX][0-9a-fA-F]+')
        THEN try_cast(x AS BIGINT) END""",
    # A list without repeats, in the order of first appearance (list_distinct keeps no order).
    # Quadratic, and the argument is written out once per element: give it a column of a few
    # hundred elements at most (slice the aggregate in a subquery first).
    r"""CREATE OR REPLACE TEMP MACRO ws_uniq(l) AS list_filter(l, lambda x, i: list_position(l, x) = i)""",
    *activity.MACROS,
)
#: Spark bodies of the macros above where DuckDB's would be slow there: ``ws_base`` as the text
#: after the last ``/`` and then the last ``\`` (the same as DuckDB's trailing run of neither),
#: without a regular expression per event (java.util.regex is the most of a Spark pass's filter).
SPARK_BODIES = {
    "ws_base": r"nullif(lower(substring_index(substring_index(coalesce(x, ''), '/', -1), '\\', -1)), '')",
    # ``ws_names`` with its matches starting at a name's first character only (the look-behind):
    # java.util.regex backtracks, and tried from every character of a long word that names no
    # executable (a base64 -EncodedCommand) it took time quadratic in the word's length, where
    # RE2 is linear. The same names: a match from inside a word would have started at the word's
    # start, and a match ends at the word's last executable name, so no second one starts in it.
    "ws_names": r"""array_sort(array_distinct(regexp_extract_all(lower(coalesce(x, '')),
        '(?<![^\\\\/"\' ,;=<>|])([^\\\\/"\' ,;=<>|]+\\.'
        '(?:exe|dll|scr|bat|cmd|ps1|vbs|js|hta|com|sys|dat))', 1)))""",
    # Spark's cast reads no hex: conv does (past a BIGINT it gives its largest unsigned value,
    # which the cast makes NULL, as DuckDB's is).
    "ws_int": r"""CASE WHEN x RLIKE '^[ \t\n\r]*[+-]?[0-9]+[ \t\n\r]*$'
            THEN try_cast(regexp_extract(x, '[+-]?[0-9]+', 0) AS BIGINT)
        WHEN lower(x) RLIKE '^[ \t\n\r]*0x[0-9a-f]+$'
            THEN try_cast(conv(regexp_extract(lower(x), '0x([0-9a-f]+)$', 1), 16, 10) AS BIGINT) END""",
}

IPMAP = """
CREATE OR REPLACE TEMP TABLE h_ipmap AS
WITH c AS (
    SELECT ip, host, n FROM host_addr WHERE ip IS NOT NULL AND host IS NOT NULL
    UNION ALL
    SELECT "host.ip", host, count(*) FROM events WHERE "host.ip" IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT "source.ip", ws_hkey("source.domain"), count(*) FROM events
    WHERE kind = 'auth' AND "source.ip" IS NOT NULL AND "source.domain" IS NOT NULL
      AND "event.outcome" IS DISTINCT FROM 'failure' GROUP BY ALL
)
SELECT ip, arg_max(host, (n, host)) AS host FROM c
WHERE host IS NOT NULL AND NOT list_contains(?, ip) GROUP BY ip
"""

# One host per address over the whole case: the row with the most observations; on a tie the
# address's own evidence (AUTHORITATIVE) before a name a client gave, then the latest holder,
# then the name (a tie broken by the order rows happen to be read in made the same hunt name
# two sources: rdp-fanout's 10.23.123.11 of Hayabusa's samples, one claimed WorkstationName each).
IPMAP_RESOLVED = """
CREATE OR REPLACE TEMP TABLE h_ipmap AS
SELECT ip, arg_max(host, (n, {authoritative}, last_seen, host)) AS host
FROM host_addr
WHERE ip IS NOT NULL AND host IS NOT NULL AND NOT list_contains(?, ip) GROUP BY ip
"""

# Executables written to a host by another host. `source` may be NULL (Sysmon 11 by System:
# the writer is found afterwards from the inbound logon just before).
DROPS = """
WITH raw AS (
    SELECT e.host AS target, coalesce(e."source.host", m.host, e."source.ip") AS source, e.ts,
           ws_base(coalesce(e."share.path", e."file.path")) AS fname, e."file.path" AS fpath,
           e."file.hash.sha256" AS sha256, e."user.name" AS account, 'admin-share' AS via,
           ws_ref(e."src.digest", e."src.record") AS ref
    FROM h_ev e LEFT JOIN h_ipmap m ON m.ip = e."source.ip"
    WHERE e."event.code" = '5145' AND list_contains(?, e."share.name")
      AND (coalesce(ws_int(e."share.access_mask"), 0) & ?) <> 0
      AND e."source.ip" IS NOT NULL AND NOT list_contains(?, e."source.ip")
    UNION ALL
    SELECT coalesce(e."destination.host", md.host, e."destination.ip"),
           coalesce(e."source.host", ms.host, e."source.ip"), e.ts,
           ws_base(coalesce(e."file.name", e."file.path", e."share.path")), e."file.path",
           e."file.hash.sha256", e."user.name", 'smb-write', ws_ref(e."src.digest", e."src.record")
    FROM h_ev e LEFT JOIN h_ipmap ms ON ms.ip = e."source.ip" LEFT JOIN h_ipmap md ON md.ip = e."destination.ip"
    WHERE e.kind = 'smb_file' AND lower(coalesce(e."event.action", '')) LIKE '%write%'
    UNION ALL
    SELECT e.host, NULL, e.ts, ws_base(e."file.path"), e."file.path", e."file.hash.sha256", NULL,
           'system-write', ws_ref(e."src.digest", e."src.record")
    FROM h_ev e
    WHERE e.kind = 'file' AND e."event.code" = '11' AND lower(e."process.executable") = 'system'
)
SELECT * FROM raw
WHERE fname IS NOT NULL AND target IS NOT NULL AND list_contains(?, ws_ext(fname))
  AND (source IS NULL OR source <> target)
"""

# Code started on a host the way remote-execution tools start it.
EXECS = """
WITH rp AS (SELECT unnest(?) AS parent, unnest(?) AS method),
rpc AS (SELECT unnest(?) AS endpoint, unnest(?) AS method, unnest(?) AS ops),
raw AS (
    SELECT host, ts, 'service' AS method, "service.name" AS what, "service.image" AS image,
           x_names AS names, CAST(NULL AS VARCHAR) AS sha256,
           CAST(NULL AS VARCHAR) AS source, "user.name" AS account, ws_ref("src.digest", "src.record") AS ref,
           'install' AS via, "winlog.logon.id" AS lid, "event.code" AS code
    FROM h_ev WHERE kind = 'service' AND "event.code" IN ('7045', '4697')
    UNION ALL
    SELECT host, ts, 'scheduled-task', "task.name", "task.command", x_names, NULL, NULL,
           "user.name", ws_ref("src.digest", "src.record"), 'install', "winlog.logon.id", "event.code"
    FROM h_ev WHERE kind = 'task' AND "event.code" IN ('4698', '4702')
    UNION ALL
    SELECT e.host, e.ts, rp.method, e.x_base, e."process.executable", e.x_names,
           e."process.hash.sha256", NULL, e."user.name", ws_ref(e."src.digest", e."src.record"), 'process',
           e."winlog.logon.id", e."event.code"
    FROM h_ev e JOIN rp ON rp.parent = e.x_parent
    WHERE e.kind = 'process'
    UNION ALL
    SELECT coalesce(e."destination.host", md.host, e."destination.ip"), e.ts, rpc.method, e."rpc.operation",
           NULL, [], NULL, coalesce(e."source.host", ms.host, e."source.ip"), e."user.name",
           ws_ref(e."src.digest", e."src.record"), 'rpc', NULL, e."event.code"
    FROM h_ev e JOIN rpc ON lower(rpc.endpoint) = lower(e."rpc.endpoint")
    LEFT JOIN h_ipmap ms ON ms.ip = e."source.ip" LEFT JOIN h_ipmap md ON md.ip = e."destination.ip"
    WHERE e.kind = 'dce_rpc' AND list_contains(rpc.ops, e."rpc.operation")
)
SELECT row_number() OVER (ORDER BY ref, via, method) AS xid, *  -- xid: an identity (the same on every engine)
FROM raw WHERE host IS NOT NULL
"""

# What the service control manager starts, per image: on how many hosts and days (the
# routine programs of remote-service).
SERVICE_IMAGES = """
SELECT lower(image) AS img, count(DISTINCT host) AS hosts, count(DISTINCT date_trunc('day', ts)) AS days
FROM h_execs WHERE method = 'service' AND via = 'process' AND image IS NOT NULL GROUP BY 1
"""

SMB = """
SELECT coalesce(e."source.host", ms.host, e."source.ip") AS source,
       coalesce(e."destination.host", md.host, e."destination.ip") AS target, e.ts,
       ws_ref(e."src.digest", e."src.record") AS ref,
       -- a session that carried a payload, or the target's own record of it, beats a probe
       (coalesce(e."network.bytes", 0) >= ? OR (e."src.format" <> 'zeek'
        AND e.host = coalesce(e."destination.host", md.host))) AS strong
FROM h_ev e LEFT JOIN h_ipmap ms ON ms.ip = e."source.ip" LEFT JOIN h_ipmap md ON md.ip = e."destination.ip"
WHERE e.kind = 'network' AND e."destination.port" = 445
  AND e."source.ip" IS NOT NULL AND NOT list_contains(?, e."source.ip")
  AND NOT list_contains(?, coalesce(e."destination.ip", '-'))
"""

# Successful network logons between hosts (for the writer of a System-written drop, the caller
# of an install, the session remote code runs in, and "no successful logon before" in
# credential-less spread), with their logon id. A Kerberos logon that records no address has
# the source the resolver found from the DC's service ticket (``source.host``).
LOGONS = """
SELECT e.host AS target, coalesce(e."source.host", m.host, ws_hkey(e."source.domain"), e."source.ip") AS source,
       e.ts, e."user.name" AS account, ws_ref(e."src.digest", e."src.record") AS ref, e."winlog.logon.id" AS lid
FROM h_ev e LEFT JOIN h_ipmap m ON m.ip = e."source.ip"
WHERE e.kind = 'auth' AND e."event.code" = '4624' AND e."winlog.logon.type" = 3
  AND coalesce(e."source.ip", e."source.host") IS NOT NULL
  AND (e."source.ip" IS NULL OR NOT list_contains(?, e."source.ip"))
"""

# Inbound sessions from other hosts, for code that names no logon of its own: network logons,
# and connections the target logged to a remote-execution port (``session_ports``, SMB). The
# target's side of a connection is the listening port's, the lower (Sysmon has written it as
# the destination since 2020, as the source before).
INBOUND = """
SELECT target, source, ts, account, ref, 'logon' AS via FROM h_logons WHERE source <> target
UNION ALL
SELECT c.host, coalesce(c.rhost, m.host, c.rip), c.ts, NULL, c.ref, 'connection'
FROM (SELECT e.host, e.ts, ws_ref(e."src.digest", e."src.record") AS ref,
             least(e."destination.port", coalesce(e."source.port", 65536)) AS lport,
             CASE WHEN e."destination.port" <= coalesce(e."source.port", 65536) THEN e."source.ip"
                  ELSE e."destination.ip" END AS rip,
             CASE WHEN e."destination.port" <= coalesce(e."source.port", 65536) THEN e."source.host"
                  ELSE e."destination.host" END AS rhost
      FROM h_ev e
      WHERE e.kind = 'network' AND e."network.direction" = 'inbound' AND e."src.format" <> 'zeek'
        AND e."source.ip" IS DISTINCT FROM e."destination.ip") c
LEFT JOIN h_ipmap m ON m.ip = c.rip
WHERE (list_contains(?, c.lport) OR c.lport = 445) AND c.rip IS NOT NULL AND NOT list_contains(?, c.rip)
  AND c.rip NOT LIKE '127.%'
"""

# Code started in the session of an inbound network logon from another host (the process's
# logon id is the logon's): how WinRM (wsmprovhost.exe and what it starts), DCOM (a COM
# server the service host starts for the caller) and WMI (WmiPrvSE's children) run code for a
# remote caller. ``method`` from the process and its parent; NULL for what those start in turn.
SESSEXEC = """
SELECT p.host AS target, l.source, p.ts, l.account, l.ts AS logon_ts, l.ref AS logon_ref, l.lid,
       p."process.executable" AS image, p.x_base AS name, p.x_parent AS parent,
       CASE WHEN p.x_base = 'wsmprovhost.exe' OR p.x_parent = 'wsmprovhost.exe' THEN 'winrm'
            WHEN p.x_parent = 'wmiprvse.exe' THEN 'wmi'
            WHEN p.x_parent IN ('svchost.exe', 'dllhost.exe') THEN 'dcom' END AS method,
       ws_ref(p."src.digest", p."src.record") AS ref
FROM h_ev p JOIN h_logons l ON l.target = p.host AND l.lid = p."winlog.logon.id"
WHERE p.kind = 'process' AND p."winlog.logon.id" IS NOT NULL AND l.source <> p.host
  AND p.ts >= l.ts - INTERVAL 5 SECOND AND p.ts - l.ts <= to_seconds(?)
"""

# Failed authentications that are guesses (``auth_guess_statuses``), one row each. ``source``:
# the host the address map gives the address, else the bare address; with no address, the
# source computer of readers whose names are the data set's own (LANL), else the claimed
# WorkstationName only when it is a host of the address map (a tool sends a random one per
# attempt). ``claim``: the name the client gave where it is not the source (a detail, never a
# host). ``ok_ts``, ``ok_ref``: the first successful authentication of the same account from the
# same source (with none, the same claimed name) within ``auth_window_s`` after the failure:
# 4624, Kerberos 4768/4769, NTLM 4776, Zeek, LANL.
AUTHFAIL = """
WITH g AS (SELECT unnest(?) AS code, unnest(?) AS status),  -- the guesses: (code, status) pairs
gc AS (SELECT unnest(?) AS code),  -- the codes whose guesses are listed (none for some)
known AS (SELECT DISTINCT host FROM h_ipmap),
a AS (
    SELECT e.ts, e."event.code" AS code, e."event.outcome" IS NOT DISTINCT FROM 'failure' AS failed,
           e."user.name" AS account, lower(split_part(e."user.name", '@', 1)) AS acct,
           lower(coalesce(nullif(e."auth.sub_status", '0x0'), e."auth.status")) AS status,
           -- a failure's source.host is the host that held its address then (the resolver never
           -- takes a failure's claimed name); h_ipmap is the address's host over the whole case
           coalesce(CASE WHEN e."event.outcome" = 'failure' AND e."source.ip" IS NOT NULL THEN e."source.host" END,
                    m.host, e."source.ip", CASE WHEN list_contains(?, e."src.format")
                    THEN coalesce(e."source.host", ws_hkey(e."source.domain")) END,
                    -- a success's host found by the resolver (a Kerberos logon's ticket)
                    CASE WHEN e."event.outcome" IS DISTINCT FROM 'failure' THEN e."source.host" END,
                    k.host) AS source,
           CASE WHEN NOT list_contains(?, e."src.format") THEN ws_hkey(e."source.domain") END AS claimed,
           coalesce(e."destination.host", md.host, CASE WHEN e."src.format" <> 'zeek' THEN e.host END,
                    e."destination.ip") AS target,
           ws_ref(e."src.digest", e."src.record") AS ref
    FROM h_ev e LEFT JOIN h_ipmap m ON m.ip = e."source.ip" LEFT JOIN h_ipmap md ON md.ip = e."destination.ip"
    LEFT JOIN known k ON e."source.ip" IS NULL AND k.host = ws_hkey(e."source.domain")
    WHERE e.kind IN ('auth', 'ntlm', 'kerberos') AND e."user.name" IS NOT NULL
      -- the network logons' branch of h_ev carries no outcome: they are successes
      AND (e."event.outcome" = 'failure' OR e."event.code" IS NULL OR list_contains(?, e."event.code"))
      AND (e."source.ip" IS NULL OR NOT list_contains(?, e."source.ip"))
),
f AS (
    SELECT a.ts, a.code, a.account, a.acct, a.status, a.source, a.target, a.ref,
           CASE WHEN a.claimed IS DISTINCT FROM a.source THEN a.claimed END AS claim
    FROM a LEFT JOIN gc ON gc.code = a.code
    LEFT JOIN g ON g.code = a.code AND g.status = a.status
    WHERE a.failed AND (gc.code IS NULL OR g.code IS NOT NULL)
),
-- one success per instant (the first record): the same ones whatever order the rows come in
s AS (SELECT ts, acct, coalesce(source, claimed) AS who, min(ref) AS ref FROM a WHERE NOT failed GROUP BY ALL),
-- each failure and the first success of its account and source at its instant or after (an
-- as-of join, written with window functions, which Spark has too: latest first, a failure's
-- row after the successes of its instant, the last success before it. A frame from the row on
-- to the end would be read again for every row on Spark: time quadratic in an account's rows)
m AS (
    SELECT source, target, ts, account, ref, code, status, claim, tag,
           last_value(sts IGNORE NULLS) OVER (PARTITION BY who, acct ORDER BY ts DESC, tag DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS next_ts,
           last_value(sref IGNORE NULLS) OVER (PARTITION BY who, acct ORDER BY ts DESC, tag DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS next_ref
    FROM (SELECT source, target, ts, account, ref, code, status, claim, coalesce(source, claim) AS who, acct,
                 0 AS tag, CAST(NULL AS TIMESTAMPTZ) AS sts, CAST(NULL AS VARCHAR) AS sref FROM f
          UNION ALL
          SELECT NULL, NULL, ts, NULL, NULL, NULL, NULL, NULL, who, acct, 1, ts, ref FROM s WHERE who IS NOT NULL))
SELECT source, target, ts, account, ref, code, status, claim,
       CASE WHEN next_ts - ts <= to_seconds(?) THEN next_ts END AS ok_ts,
       CASE WHEN next_ts - ts <= to_seconds(?) THEN next_ref END AS ok_ref
FROM m WHERE tag = 0
"""

# 4740: the locked account, the caller computer (whose bad passwords locked it), the DC. The
# caller name is the one the client sent with its attempts (a tool sends a random one): the
# source is the caller name when it is a host the address map knows that failed as that account
# just before; else the source of the failures that claimed the same name (a tool's random name
# ties the two: two hosts guessing one account are told apart); else the address of that
# account's last failure before the lockout (h_authfail, within auth_window_s); else the known
# caller; else none (``claimed`` keeps the name as a detail).
LOCKOUTS = """
WITH l AS (
    SELECT ws_hkey(e."source.domain") AS claimed, e.host AS dc, e.ts, e."user.name" AS account,
           lower(split_part(e."user.name", '@', 1)) AS acct, ws_ref(e."src.digest", e."src.record") AS ref
    FROM h_ev e WHERE e.kind = 'auth' AND e."event.code" = '4740' AND e."user.name" IS NOT NULL),
f AS (SELECT lower(split_part(account, '@', 1)) AS acct, ts, source, claim FROM h_authfail
      WHERE source IS NOT NULL),
-- the account's last failure at the lockout's instant or before (an as-of join, written with
-- window functions; of failures at one instant, the least source: the same whatever order the
-- rows come in)
tied AS (
    SELECT ref, CASE WHEN ts - last_ts <= to_seconds(?) THEN last_source END AS failed_from
    FROM (SELECT tag, ref, ts,
                 last_value(fts IGNORE NULLS) OVER (PARTITION BY acct ORDER BY ts, tag, fsource DESC
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_ts,
                 last_value(fsource IGNORE NULLS) OVER (PARTITION BY acct ORDER BY ts, tag, fsource DESC
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_source
          FROM (SELECT acct, ts, 0 AS tag, source AS fsource, ts AS fts, CAST(NULL AS VARCHAR) AS ref FROM f
                UNION ALL
                SELECT acct, ts, 1, NULL, NULL, ref FROM l))
    WHERE tag = 1 AND last_ts IS NOT NULL),
-- the failure whose claimed name is the one the 4740 repeats (a tool's random name ties them)
named AS (
    SELECT l.ref, min(f.source) AS named_from
    FROM l JOIN f ON f.acct = l.acct AND f.claim = l.claimed AND f.ts <= l.ts AND l.ts - f.ts <= to_seconds(?)
    GROUP BY l.ref HAVING count(DISTINCT f.source) = 1),
-- the lockouts whose claimed caller failed as that account just before
failed_self AS (
    SELECT DISTINCT l.ref
    FROM l JOIN f ON f.acct = l.acct AND f.source = l.claimed AND f.ts <= l.ts AND l.ts - f.ts <= to_seconds(?)),
known AS (SELECT DISTINCT host FROM h_ipmap)
SELECT coalesce(
           -- the caller the 4740 names, when it is a known host that failed as that account just before
           CASE WHEN k.host IS NOT NULL AND fs.ref IS NOT NULL THEN l.claimed END,
           n.named_from,
           t.failed_from,
           CASE WHEN k.host IS NOT NULL THEN l.claimed END) AS source,
       l.dc, l.ts, l.account, l.ref, l.claimed
FROM l LEFT JOIN tied t ON t.ref = l.ref LEFT JOIN named n ON n.ref = l.ref
LEFT JOIN failed_self fs ON fs.ref = l.ref LEFT JOIN known k ON k.host = l.claimed
"""


def _latest_logon(points: str) -> str:
    """Each row of the query ``points`` (``key, target, ts``) with the latest successful network
    logon on its target at its instant or before (of logons at one instant, the first by ref):
    ``source, account, logon_ref, logon_ts`` (:func:`wormsign.detect.propagation.latest_before`)."""
    logons = f"SELECT target AS host, ts, ref FROM h_logons WHERE target IN (SELECT target FROM ({points}))"
    return f"""
    SELECT p.key, p.host AS target, p.ts, l.source, l.account, l.ref AS logon_ref, l.ts AS logon_ts
    FROM ({latest_before(f"SELECT key, target AS host, ts FROM ({points})", logons)}) p
    JOIN h_logons l ON l.target = p.host AND l.ref = p.latest"""


# A System-written drop names no writer: the host that logged on over the network just before
# (the SMB session that wrote it), within ``logon_window_s``.
WRITERS = f"""
SELECT key AS ref, source, account
FROM ({_latest_logon("SELECT ref AS key, target, ts FROM h_rawdrops WHERE source IS NULL")})
WHERE ts - logon_ts <= to_seconds(?) AND source <> target
"""

#: ``h_drops``: the drops, System's with the writer found for them.
DROPS_VIEW = """
SELECT d.target, coalesce(d.source, w.source) AS source, d.ts, d.fname, d.fpath, d.sha256,
       CASE WHEN w.ref IS NULL THEN d.account ELSE w.account END AS account, d.via, d.ref
FROM h_rawdrops d LEFT JOIN h_writers w ON d.source IS NULL AND w.ref = d.ref
"""

# An install (7045/4697, 4698) names no caller either: the same logon tells it (``h_callers``,
# read by remote-service and by the Sigma alerts of the hunt; never an edge of its own).
# An install that names its logon (4697, 4698, 4702: the subject's logon id) has the caller
# of that logon, or none when it is a local session; one that names none (7045), the latest.
CALLERS = f"""
WITH bylid AS (
    SELECT x.xid, min(l.source) AS caller, min(l.account) AS account, min(l.ref) AS logon_ref
    FROM h_execs x JOIN h_logons l ON l.target = x.host AND l.lid = x.lid
    WHERE x.via = 'install' AND x.ts >= l.ts - INTERVAL 5 SECOND AND x.ts - l.ts <= to_seconds(?)
      AND l.source <> x.host
    GROUP BY x.xid)
SELECT * FROM bylid
UNION ALL
SELECT key, source, account, logon_ref
FROM ({_latest_logon("SELECT xid AS key, host AS target, ts FROM h_execs WHERE via = 'install' AND lid IS NULL")})
WHERE ts - logon_ts <= to_seconds(?) AND source <> target
"""


#: ``h_edges`` (positional parameters) and the names of its values in order.
EDGES, _EDGE_NAMES = positional(edges_sql(DROPS_VIEW))


def _edge_params(cfg: dict[str, Any]) -> list[Any]:
    values = edge_values(cfg)
    return [values[k] for k in _EDGE_NAMES]


def _execs_params(cfg: dict[str, Any]) -> list[Any]:
    parents = dict(cfg["remote_parents"])
    rpc = dict(cfg["rpc_exec"])
    return [list(parents), list(parents.values()),
            list(rpc), [v[0] for v in rpc.values()], [list(v[1]) for v in rpc.values()]]


def _loop(cfg: dict[str, Any]) -> list[str]:
    return list(cfg["loopback"])


def _authfail_params(cfg: dict[str, Any]) -> list[Any]:
    guess = {str(k): [str(v).lower() for v in vs] for k, vs in dict(cfg["auth_guess_statuses"]).items()}
    # flat pairs, not a list per code: Spark binds no list of lists with an empty one in it
    pairs = [(code, status) for code, statuses in guess.items() for status in dict.fromkeys(statuses)]
    named = [str(f) for f in cfg["auth_named_formats"]]
    window = int(cfg["auth_window_s"])
    return [[c for c, _ in pairs], [st for _, st in pairs], list(guess), named, named,
            [str(c) for c in cfg["auth_success_codes"]], _loop(cfg), window, window]


#: Working tables that depend on the pass over events alone, and on the configuration the
#: candidates' spec covers: (name in a hunt, stored table, SQL, its parameters), each reading
#: ``h_ev``, ``h_ipmap`` and the tables before it. The resolver stores them beside ``hunt_index``
#: (:func:`store`); a hunt reads them as views when they are fresh, else computes them (they
#: need the macros too). ``h_drops`` is a view of two of them (:data:`DROPS_VIEW`).
STORED: tuple[tuple[str, str, str, Callable[[dict[str, Any]], list[Any]]], ...] = (
    ("h_rawdrops", "hunt_drops", DROPS, lambda c: [list(c["admin_shares"]), int(c["write_mask_bit"]), _loop(c),
                                                   list(c["exec_extensions"])]),
    ("h_execs", "hunt_execs", EXECS, _execs_params),
    ("h_svc", "hunt_svc", SERVICE_IMAGES, lambda c: []),
    ("h_smb", "hunt_smb", SMB, lambda c: [int(c["exploit_min_bytes"]), _loop(c), _loop(c)]),
    ("h_logons", "hunt_logons", LOGONS, lambda c: [_loop(c)]),
    ("h_inbound", "hunt_inbound", INBOUND, lambda c: [list(c["session_ports"]), _loop(c)]),
    ("h_sessexec", "hunt_sessexec", SESSEXEC, lambda c: [int(c["session_max_s"])]),
    ("h_authfail", "hunt_authfail", AUTHFAIL, _authfail_params),
    ("h_lockouts", "hunt_lockouts", LOCKOUTS, lambda c: [int(c["auth_window_s"])] * 3),
    ("h_writers", "hunt_writers", WRITERS, lambda c: [int(c["logon_window_s"])]),
    ("h_callers", "hunt_callers", CALLERS, lambda c: [int(c["session_max_s"]), int(c["logon_window_s"])]),
    ("h_edges", "hunt_edges", EDGES, _edge_params),
)
#: EXECS's identity of a row.
_XID = "row_number() OVER (ORDER BY ref, via, method) AS xid"
#: The rows of the pass AUTHFAIL reads (a time bound is added to it when files are added).
_AUTH_ROWS = """WHERE e.kind IN ('auth', 'ntlm', 'kerberos') AND e."user.name" IS NOT NULL"""

#: Stored tables of one row per row of the pass (each from its own event and the address map
#: alone): adding files adds the rows of their events (:func:`store`).
PER_ROW = ("hunt_drops", "hunt_execs", "hunt_smb", "hunt_logons", "hunt_inbound")


def _working(case: Case, cfg: dict[str, Any], *, store: bool) -> None:
    """The tables of :data:`STORED`: computed into the case (``store``), and read as views,
    or computed as TEMP tables of this hunt.

    Stored on Spark, when the candidate rows of every shard are still there (the resolver's
    pass over every shard, :func:`wormsign.detect.candidates.index_shards`): the tables of
    :data:`STORED` are computed there (the same SQL, translated), from those rows and the
    address map, and only their rows reach the catalog."""
    on_spark = store and _rows_on_spark(case)
    if on_spark:
        case.scans.view_table("h_ipmap", case.query("SELECT * FROM h_ipmap"))
    for name, table, sql, params in STORED:
        case.drop(name)
        if on_spark:
            # the table (its columns and types as DuckDB makes them), then Spark's rows
            case.engine.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM ({sql}) LIMIT 0", params(cfg))
            later = {table: (name, None)} if name in _READ_LATER else None
            passes.run_spark(case, [(f"INSERT INTO {table} {sql}", params(cfg))], keep=later)
            case.engine.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {table}")
        elif store:
            case.engine.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}", params(cfg))
            case.engine.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {table}")
        else:
            case.engine.execute(f"CREATE TEMP TABLE {name} AS {sql}", params(cfg))
    if on_spark:
        for name in _READ_LATER:
            case.scans.drop_result(name)
    _drops_view(case)


#: Working tables that a later one reads on Spark.
_READ_LATER = ("h_rawdrops", "h_execs", "h_smb", "h_logons", "h_authfail", "h_writers")


def _drops_view(case: Case) -> None:
    case.drop("h_drops")
    case.engine.execute(f"CREATE TEMP VIEW h_drops AS {DROPS_VIEW}")


def _rows_on_spark(case: Case) -> bool:
    """Whether the candidate rows of every shard of ``case`` are on Spark (as ``h_ev``)."""
    return case.scans is not None and case.scans.kept("h_ev") == frozenset(case.shard_ids())


def _stored(case: Case) -> None:
    """The tables of :data:`STORED`, as views of the stored ones."""
    for name, table, _, _ in STORED:
        case.drop(name)
        case.engine.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {table}")
    _drops_view(case)


def store(case: Case, cfg: dict[str, Any], new_shards: list[int] | None = None) -> None:
    """Store the working tables of :data:`STORED` (needs ``h_ev`` and ``h_ipmap``). With
    ``new_shards`` (files added; the address map unchanged; the stored tables this
    configuration's), the tables of :data:`PER_ROW` only gain the rows of those shards' events."""
    if new_shards is None:
        _working(case, cfg, store=True)
        return
    from wormsign.store import SHARD_BITS

    eng = case.engine
    low = min(int(x) for x in new_shards) << SHARD_BITS
    new = f"eid >= {low} AND list_contains({[int(x) for x in new_shards]!r}::BIGINT[], eid >> {SHARD_BITS})"
    eng.execute(f"CREATE OR REPLACE TEMP TABLE _ws_hev_new AS SELECT * FROM h_ev WHERE {new}")
    # A failure's row depends on the successes after it within auth_window_s: those from the
    # new events' first authentication, less the window, on are computed again.
    first = eng.rows("SELECT min(ts) FROM _ws_hev_new WHERE kind IN ('auth', 'ntlm', 'kerberos')")[0][0]
    for name, table, sql, params in STORED:
        case.drop(name)
        if table == "hunt_authfail" and first is None:
            pass  # no new authentication: the failures' rows stay as they are
        elif table == "hunt_authfail":
            since = first - timedelta(seconds=int(cfg["auth_window_s"]))
            lit = f"TIMESTAMPTZ '{since.astimezone(UTC).isoformat()}'"
            q = sql.replace(_AUTH_ROWS, f"{_AUTH_ROWS} AND e.ts >= {lit}")
            eng.execute(f"DELETE FROM {table} WHERE ts >= {lit}")
            eng.execute(f"INSERT INTO {table} {q}", params(cfg))
        elif table in PER_ROW:
            q = sql.replace("FROM h_ev", "FROM _ws_hev_new").replace("FROM h_logons", "FROM _ws_logons_new")
            # a remote execution's identity goes on from the stored ones
            q = q.replace(_XID, f"{_XID[:-7]} + (SELECT coalesce(max(xid), 0) FROM {table}) AS xid")
            if table == "hunt_logons":
                eng.execute(f"CREATE OR REPLACE TEMP TABLE _ws_logons_new AS {q}", params(cfg))
                eng.execute(f"INSERT INTO {table} SELECT * FROM _ws_logons_new")
            else:
                eng.execute(f"INSERT INTO {table} {q}", params(cfg))
        else:
            eng.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}", params(cfg))
        eng.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {table}")
    eng.execute("DROP TABLE IF EXISTS _ws_logons_new")
    eng.execute("DROP TABLE _ws_hev_new")
    _drops_view(case)


def stored_tables() -> tuple[str, ...]:
    return tuple(t for _, t, _, _ in STORED)


def spec(cfg: dict[str, Any]) -> list[Any]:
    """What the stored working tables depend on besides the pass."""
    return [[(sql, params(cfg)) for _, _, sql, params in STORED]]


def ipmap(case: Case, cfg: dict[str, Any]) -> None:
    """``h_ipmap``: the resolver's map alone once it has run, else what the logs say."""
    resolved = case.rows("SELECT count(*) FROM host_addr")[0][0]
    if resolved:
        from wormsign.addresses import AUTHORITATIVE

        # (list_contains, which both engines have: Spark has no list_has_any)
        auth = " OR ".join(f"list_contains(string_split(evidence, ','), '{ev}')" for ev in AUTHORITATIVE)
        case.engine.execute(IPMAP_RESOLVED.format(authoritative=f"({auth})"), [_loop(cfg)])
    else:
        case.engine.execute(IPMAP, [_loop(cfg)])


def tables(case: Case, cfg: dict[str, Any], *, fresh: bool) -> None:
    """Build the working tables of a hunt over the candidate pass ``h_ev`` (TEMP: they vanish
    with the connection): the stored ones when ``fresh`` (the stored pass is this configuration's
    over the events as they are), else computed. :func:`wormsign.detect.working.prepare` builds
    the pass, then calls this."""
    ipmap(case, cfg)
    if fresh:
        _stored(case)
    else:
        _working(case, cfg, store=False)


# Hosts a detection implicated: by default (the rules alone, without the hunt's graph) either
# end of a propagation edge, a source of repeated failed logons or of lockouts; always a host
# where a program (not the kernel) wrote an executable (a loader).
IMPLICATED = """
CREATE OR REPLACE TEMP TABLE h_impl AS
SELECT DISTINCT host FROM (
    SELECT unnest($hosts) AS host
    UNION ALL SELECT source FROM h_edges WHERE $default
    UNION ALL SELECT target FROM h_edges WHERE $default
    UNION ALL SELECT source FROM h_authfail WHERE $default GROUP BY source HAVING count(*) >= $min_failures
    UNION ALL SELECT source FROM h_lockouts WHERE $default
    UNION ALL SELECT host FROM h_ev WHERE kind = 'file' AND "event.code" = '11'
        AND list_contains($exec_extensions, x_ext)
        AND lower(coalesce("process.executable", 'system')) <> 'system'
) WHERE host IS NOT NULL
"""

def implicate(case: Case, cfg: dict[str, Any], hosts: set[str] | None = None) -> int:
    """Build ``h_impl`` (``hosts`` and loader hosts; without ``hosts``, the default above)
    after the propagation edges, and the summaries of what hosts did (``h_chan``, ``h_img``,
    ``h_runs``: :mod:`wormsign.detect.activity`) when the stored ones are not fresh, for
    ``h_impl``. Returns how many hosts are implicated."""
    vals = {"hosts": sorted(h for h in hosts or () if h), "default": hosts is None,
            "min_failures": min(int(cfg["bruteforce_min_failures"]), int(cfg["spray_min_accounts"])),
            "exec_extensions": list(cfg["exec_extensions"])}
    case.engine.execute(*bind(IMPLICATED, vals))
    if not case.engine.has_table("h_chan"):
        activity.build(case, cfg, stored=False)
    return int(case.rows("SELECT count(*) FROM h_impl")[0][0])
