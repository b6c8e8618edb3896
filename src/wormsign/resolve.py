"""One identity per host: which host held which address, and when, learnt from the telemetry itself.

Evidence that an address belongs to a host (each an *observation* of ``(ip, host, ts)``):

``own-address``     the host's own side of a connection it logged itself (Sysmon 3 ``Initiated``,
                    WFP 5156/5158 ``Direction``): outbound, the source address; inbound, the destination
``machine-account`` a machine account (``WS-01$``) authenticating from the address: a DC's TGT or
                    service ticket (4768/4769), a network logon (4624), Zeek kerberos
``host.ip``         the address an endpoint records as its own (Winlogbeat ``host.ip``)
``dhcp-lease``      a DHCP lease: Zeek dhcp ``assigned_addr`` with ``host_name``, the Windows DHCP
                    server log
``win-logon``       a successful 4624's ``IpAddress`` with ``WorkstationName`` (a claim of the
                    client: a failed logon's name is never evidence, brute-force tools send a
                    random one with each attempt)
``sysmon-3``        Sysmon network connection: ``SourceIp``/``SourceHostname`` and the destination pair
``dns``             a DNS answer (Sysmon 22, Zeek dns) for a host the telemetry confirms: one
                    that logs events itself, or a machine account that authenticated
``zeek-ntlm``       the client ``hostname`` and the server's NetBIOS name of an NTLM exchange
``zeek-kerberos``   the client of a Kerberos exchange

Names are host keys: FQDN and short name are one host, as are a NetBIOS name cut to 15
characters and the one longer host key of the case it starts.

Observations of one ``(ip, host)`` closer than :data:`CLAIM_GAP` form a *claim*. Claims of
two hosts on one address that overlap in time are a conflict, reported in ``host_conflicts``.
When exactly one of those hosts has :data:`AUTHORITATIVE` evidence (the address vouches for
it: its own ``host.ip`` or connections, a DHCP lease, its machine account) that host keeps the address, since client-given names
can be forged; otherwise the address resolves to nothing while the conflict lasts (no
guessing). Every other claim is a row of ``host_addr``; a DHCP move is two rows, one per
host. An address resolves to the host of the latest row that starts at or before the event
(the first row also covers the time before it).

Then events are enriched with set operations only (bucketed aggregation, ASOF joins, one
UPDATE): ``source.host``/``destination.host`` from the address at the event's time, else
from the name the record gives (never a failed logon's); a Kerberos network logon without an
address from the DC's service ticket for the target just before (:data:`_KRB`); the ``host`` of Zeek records (the originator's address) becomes
the resolved host key. Running it again recomputes everything from the events, so it is
idempotent and picks up data ingested since.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from wormsign.addresses import AUTHORITATIVE
from wormsign.detect.candidates import NETLIDS_WHERE
from wormsign.engine import passes
from wormsign.store import (COMPACT_MAX_SHARDS, COMPACT_SMALL_ROWS, EID, KEY_COLUMNS, ROW_GROUP_ROWS, SHARD_BITS,
                            Case)
from wormsign.testhook import pause

#: Observations of one (ip, host) closer than this are one claim; a host that claims an
#: address again within it after another host did makes a conflict.
CLAIM_GAP = timedelta(hours=1)
#: Where claims of several hosts overlap on one address and no single one is authoritative, a
#: host whose observations outweigh all the others together this many times (and number at
#: least DOMINANCE_MIN) keeps it: one odd record (a misread connection, a forged name) does not
#: take a busy host's address away. Otherwise the address resolves to nothing meanwhile.
DOMINANCE = 10
DOMINANCE_MIN = 10
#: Formats whose ``host`` is the originator's address (network sensors), rewritten to the host key.
NETWORK_FORMATS: tuple[str, ...] = ("zeek",)
#: Addresses that never identify a host.
NOT_HOST_IPS: tuple[str, ...] = ("127.0.0.1", "::1", "0.0.0.0", "::", "255.255.255.255")

# Host key of a name, as ingest.base.host_key computes it; NULL for placeholders and addresses.
MACRO = r"""CREATE OR REPLACE TEMP MACRO ws_resolve_hkey(x) AS CASE
    WHEN x IS NULL OR lower(trim(x)) IN ('', '-', 'n/a', 'null', '(null)', 'unknown') THEN NULL
    WHEN regexp_full_match(trim(x), '[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*') THEN NULL
    WHEN lower(trim(x)) IN ('localhost', 'localhost.localdomain') THEN NULL
    ELSE nullif(split_part(regexp_replace(lower(trim(trim(x), '\')), '\$$', ''), '.', 1), '') END"""

#: (evidence, which events, address, host): the address belonged to the host. A failed
#: logon's name is never evidence (the attacker's to choose, often random per attempt); a
#: DNS answer is evidence only for a host the telemetry confirms (``_ws_known``, :data:`_KNOWN`).
RULES: tuple[tuple[str, str, str, str], ...] = (
    # WorkstationName is the client for network logons, but the target itself for RDP and
    # local logons (type 10, 2, 7): a logon that names its own host says nothing about the
    # address. A failed logon's name is the attacker's to choose: never evidence.
    ("win-logon", "kind = 'auth' AND \"event.code\" = '4624' "
                  "AND ws_resolve_hkey(\"source.domain\") NOT IN (host, left(host, 15))",
     '"source.ip"', 'ws_resolve_hkey("source.domain")'),
    ("sysmon-3", "kind = 'network' AND \"event.code\" = '3'", '"source.ip"', 'ws_resolve_hkey("source.domain")'),
    ("sysmon-3", "kind = 'network' AND \"event.code\" = '3'",
     '"destination.ip"', 'ws_resolve_hkey("destination.domain")'),
    # The host's own side of a connection it logged (Sysmon 3 Initiated, WFP 5156 Direction):
    # outbound, the source; inbound, WFP's destination, and for Sysmon the side of the listening
    # port, the lower one when it is below the ephemeral ranges (Sysmon has written it as the
    # destination since 2020, as the source before, and for UDP); two ephemeral ports (RPC's
    # dynamic endpoints) tell nothing.
    ("own-address", "\"network.direction\" = 'outbound' AND \"src.format\" <> 'zeek'",
     '"source.ip"', "ws_resolve_hkey(host)"),
    ("own-address", "\"network.direction\" = 'inbound' AND \"event.code\" IN ('5156', '5158')",
     '"destination.ip"', "ws_resolve_hkey(host)"),
    ("own-address", "\"network.direction\" = 'inbound' AND \"event.code\" = '3' AND \"src.format\" <> 'zeek' "
                    "AND least(\"source.port\", \"destination.port\") < 10000",
     'CASE WHEN "destination.port" < "source.port" THEN "destination.ip" '
     'WHEN "source.port" < "destination.port" THEN "source.ip" END',
     "ws_resolve_hkey(host)"),
    # A machine account (HOST$) authenticating from an address: a domain controller's record
    # of a TGT or service ticket (4768/4769) or of a network logon, proven with the machine's key.
    ("machine-account", "kind IN ('auth', 'kerberos') AND \"event.outcome\" = 'success' "
                        "AND \"event.code\" IN ('4768', '4769', '4624', 'kerberos') "
                        "AND split_part(\"user.name\", '@', 1) LIKE '%$'",
     '"source.ip"', "ws_resolve_hkey(split_part(\"user.name\", '@', 1))"),
    # A DNS answer (Sysmon 22, Zeek dns): every IPv4 address it gives, for the name asked.
    ("dns", "kind = 'dns' AND \"dns.answers\" IS NOT NULL",
     "unnest(regexp_extract_all(\"dns.answers\", '[0-9]{1,3}(?:\\.[0-9]{1,3}){3}'))",
     'ws_resolve_hkey("dns.question.name")'),
    # an NTLM exchange's client name is a claim too: a failed one's never counts (random names)
    ("zeek-ntlm", "kind = 'ntlm' AND \"event.outcome\" IS DISTINCT FROM 'failure'", '"source.ip"',
     'ws_resolve_hkey("source.domain")'),
    ("zeek-ntlm", "kind = 'ntlm'", '"destination.ip"', 'ws_resolve_hkey("destination.domain")'),
    # A lease granted or renewed (Zeek dhcp, the Windows DHCP server's log); one that ends
    # (released, expired, deleted, denied, declined) is no evidence that the client holds it.
    ("dhcp-lease", "kind = 'dhcp' AND coalesce(\"event.action\", '') NOT IN ('lease-release', "
                  "'lease-expire', 'lease-delete', 'lease-deny', 'lease-decline')",
     '"source.ip"', 'ws_resolve_hkey("source.domain")'),
    ("zeek-kerberos", "kind = 'kerberos'", '"source.ip"', 'ws_resolve_hkey("source.domain")'),
)

#: Evidence that counts only for hosts of ``_ws_known``.
NEEDS_KNOWN: tuple[str, ...] = ("dns", "sysmon-3")

# Hosts the telemetry confirms: those that log events themselves (not network sensors'
# address keys), machine accounts that authenticated, and hosts whose services the KDC
# issued a ticket for (Zeek kerberos ``cifs/NASHUA``: the domain holds that computer).
_KNOWN = """
INSERT INTO res_known SELECT DISTINCT shard, h FROM (
    SELECT eid >> {bits} AS shard, ws_resolve_hkey(host) AS h FROM {src} WHERE NOT list_contains(?, "src.format")
    UNION ALL
    SELECT eid >> {bits}, ws_resolve_hkey(split_part("user.name", '@', 1)) FROM {src}
    WHERE kind IN ('auth', 'kerberos') AND "event.outcome" = 'success' AND split_part("user.name", '@', 1) LIKE '%$'
    UNION ALL
    SELECT eid >> {bits}, ws_resolve_hkey(split_part("service.name", '/', 2)) FROM {src}
    WHERE kind = 'kerberos' AND "event.outcome" = 'success'
      AND lower(split_part("service.name", '/', 1))
          IN ('host', 'cifs', 'http', 'ldap', 'gc', 'wsman', 'termsrv')
) WHERE h IS NOT NULL
"""
_KNOWN_ALL = "CREATE OR REPLACE TEMP TABLE _ws_known AS SELECT DISTINCT host FROM res_known"


#: Addresses that are never evidence of a host (besides :data:`NOT_HOST_IPS`, bound as ``?``).
#: An IPv6 link-local address (fe80::) counts only as the host's own record of its address:
#: Windows reaches a peer on its own subnet over it (a logon's or share access's IpAddress is
#: then fe80::...), and it is unique on its link, but a name a client gives for it is no evidence.
_IP_OK = ("ip IS NOT NULL AND ip <> '' AND NOT list_contains(?, ip) "
          "AND ip NOT LIKE '127.%' AND (ip NOT LIKE 'fe80:%' OR ev IN ('own-address', 'host.ip')) "
          "AND ip NOT LIKE '169.254.%' AND ip NOT LIKE '%.255' "
          "AND NOT regexp_matches(ip, '^(22[4-9]|23[0-9])\\.|^ff')")


def _observations_sql(src: str) -> str:
    """Each shard's observations, per (ip, host, hour, evidence), from the raw events of ``src``
    (shards as written: resolution reads only what ingest stored, so it gives the same result
    however often it runs). Whether a host is known, and the long form of a cut name, depend
    on the whole case: they are applied when the observations of every shard are combined.

    One scan for the rules of one address an event: each gives its (evidence, address, host)
    or nothing, and the event's list of them is unnested (13 scans and aggregates cost DuckDB
    three times as much to plan as one, and Spark as many passes over the events). Two rules of
    one evidence kind (Sysmon 3's source and destination) thus add up in one row."""
    one = [r for r in RULES if not r[2].startswith("unnest(")]
    items = ",\n                ".join(
        f"CASE WHEN {where} THEN {{'ev': '{label}', 'ip': {ip}, 'host': {host}}} END" for label, where, ip, host in one)
    parts = [
        f"""SELECT shard, o.ip AS ip, o.host AS host, time_bucket(INTERVAL 1 HOUR, ts) AS b, min(ts) AS f,
                   max(ts) AS l, count(*) AS n, o.ev AS ev
            FROM (SELECT eid >> {SHARD_BITS} AS shard, ts,
                         unnest(list_filter([{items}], lambda x: x IS NOT NULL)) AS o
                  FROM {src})
            WHERE o.ip IS NOT NULL AND o.host IS NOT NULL
            GROUP BY ALL"""
    ]
    parts += [
        f"""SELECT shard, ip, host, time_bucket(INTERVAL 1 HOUR, ts) AS b, min(ts) AS f, max(ts) AS l,
                   count(*) AS n, '{label}' AS ev
            FROM (SELECT eid >> {SHARD_BITS} AS shard, {ip} AS ip, {host} AS host, ts FROM {src} WHERE {where})
            WHERE ip IS NOT NULL AND host IS NOT NULL
            GROUP BY ALL"""
        for label, where, ip, host in RULES if ip.startswith("unnest(")
    ]
    # host.ip may hold several addresses (a list written as text): split after aggregating
    # (the spaces removed before the split: no part needs trimming).
    parts.append(
        rf"""SELECT shard, unnest(string_split(regexp_replace(hip, '[\[\]"'' ]', '', 'g'), ',')), host, b, f, l,
                  n, 'host.ip'
           FROM (SELECT eid >> {SHARD_BITS} AS shard, "host.ip" AS hip, host, time_bucket(INTERVAL 1 HOUR, ts) AS b,
                        min(ts) AS f, max(ts) AS l, count(*) AS n
                 FROM {src} WHERE "host.ip" IS NOT NULL AND ws_resolve_hkey(host) IS NOT NULL GROUP BY ALL)"""
    )
    return ("INSERT INTO res_obs SELECT * FROM (" + " UNION ALL ".join(parts) + ") "
            f"WHERE host IS NOT NULL AND {_IP_OK}")


#: The observations of every shard combined (known hosts only for :data:`NEEDS_KNOWN`), cut
#: names in their long form.
_OBS = """
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT ip, coalesce(lg.full, o.host) AS host, b, min(f) AS f, max(l) AS l, sum(n) AS n,
       list_distinct(list(ev)) AS evs
FROM (SELECT ip, host, b, min(f) AS f, max(l) AS l, sum(n) AS n, ev FROM res_obs
      WHERE (NOT list_contains(?, ev) OR host IN (SELECT host FROM _ws_known)) AND {shards}
      GROUP BY ip, host, b, ev) o
LEFT JOIN _ws_long lg ON lg.short = o.host
GROUP BY ALL
"""

# -- identities kept between runs, so that adding files recomputes only the tail of the
# addresses they name. An address's claims and blocks after a time depend only on the
# observations after the start of the block that time falls in (no claim spans a block's
# start), so new observations from t0 on are resolved again from the start of the earliest
# stored block that ends at t0 - CLAIM_GAP or later (they may join it), or t0.

#: Kept (catalog): ``res_ws_obs`` and ``res_ws_blocks``, the ``_ws_obs`` and ``_ws_blocks`` of
#: every identified shard; ``res_ident_known`` and ``res_ident_long``, the names they assumed.

#: New observations merged into the stored ones, and the addresses to resolve again from when.
_MERGE_OBS = """
CREATE OR REPLACE TEMP TABLE _ws_since AS
WITH t AS (SELECT ip, min(f) AS t0 FROM _ws_dobs GROUP BY ip)
SELECT t.ip, least(t.t0, (SELECT min(k.bf) FROM res_ws_blocks k WHERE k.ip = t.ip AND k.bl >= t.t0 - ?)) AS since
FROM t;
CREATE OR REPLACE TEMP TABLE _ws_merged AS
SELECT ip, host, b, min(f) AS f, max(l) AS l, sum(n) AS n, list_distinct(flatten(list(evs))) AS evs
FROM (SELECT * FROM res_ws_obs o WHERE o.ip IN (SELECT ip FROM _ws_dobs)
        AND (o.ip, o.host, o.b) IN (SELECT ip, host, b FROM _ws_dobs)
      UNION ALL SELECT * FROM _ws_dobs)
GROUP BY ip, host, b;
DELETE FROM res_ws_obs WHERE ip IN (SELECT ip FROM _ws_dobs) AND (ip, host, b) IN (SELECT ip, host, b FROM _ws_dobs);
INSERT INTO res_ws_obs SELECT * FROM _ws_merged;
CREATE OR REPLACE TEMP TABLE _ws_obs AS
SELECT o.* FROM res_ws_obs o JOIN _ws_since s ON s.ip = o.ip AND o.f >= s.since;
"""

# NetBIOS names (WorkstationName, ntlm hostname) are cut to 15 characters: a cut name that is
# the start of exactly one longer host key of the case is that host.
_LONG = """
INSERT INTO res_long SELECT DISTINCT shard, h FROM (
    SELECT eid >> {bits} AS shard, host AS h FROM {src} WHERE length(host) > 15
    UNION ALL SELECT eid >> {bits}, ws_resolve_hkey("source.domain") FROM {src} WHERE length("source.domain") > 15
    UNION ALL SELECT eid >> {bits}, ws_resolve_hkey("destination.domain") FROM {src}
              WHERE length("destination.domain") > 15)
WHERE length(h) > 15 AND ws_resolve_hkey(h) IS NOT NULL
"""
_LONG_ALL = """
CREATE OR REPLACE TEMP TABLE _ws_long AS
SELECT left(host, 15) AS short, any_value(host) AS full
FROM (SELECT DISTINCT host FROM res_long) GROUP BY 1 HAVING count(*) = 1
"""

#: Per shard, what decides whether a change of the identities concerns its events: the
#: addresses they name (and when: a change from some time on concerns the events after it),
#: and their names of exactly 15 characters (a NetBIOS name, maybe cut).
_IPS = """
INSERT INTO res_ips SELECT eid >> {bits}, ip, min(ts), max(ts) FROM (
    SELECT eid, ts, "source.ip" AS ip FROM {src} WHERE "source.ip" IS NOT NULL
    UNION ALL SELECT eid, ts, "destination.ip" FROM {src} WHERE "destination.ip" IS NOT NULL)
GROUP BY ALL
"""
_SHORT = """
INSERT INTO res_short SELECT DISTINCT eid >> {bits}, n FROM (
    SELECT eid, ws_resolve_hkey("source.domain") AS n FROM {src} WHERE length("source.domain") >= 15
    UNION ALL SELECT eid, ws_resolve_hkey("destination.domain") FROM {src} WHERE length("destination.domain") >= 15)
WHERE length(n) = 15
"""

# Claims: per (ip, host), observations closer than CLAIM_GAP. Blocks: per ip, claims that
# overlap in time. Per block and host: one row, with how many hosts the block has and how
# many of them the address itself vouches for (AUTHORITATIVE evidence).
_BLOCKS = """
CREATE OR REPLACE TEMP TABLE _ws_blocks AS
WITH o AS (
    SELECT *, CASE WHEN f - lag(l) OVER (PARTITION BY ip, host ORDER BY f) <= ? THEN 0 ELSE 1 END AS brk
    FROM _ws_obs),
c AS (SELECT *, sum(brk) OVER (PARTITION BY ip, host ORDER BY f ROWS UNBOUNDED PRECEDING) AS claim FROM o),
claims AS (
    SELECT ip, host, min(f) AS f, max(l) AS l, sum(n) AS n, list_distinct(flatten(list(evs))) AS evs
    FROM c GROUP BY ip, host, claim),
m AS (
    SELECT *, max(l) OVER (PARTITION BY ip ORDER BY f, host ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM claims),
k AS (
    SELECT *, sum(CASE WHEN reach IS NULL OR f > reach THEN 1 ELSE 0 END)
              OVER (PARTITION BY ip ORDER BY f, host ROWS UNBOUNDED PRECEDING) AS block
    FROM m),
bh AS (
    SELECT ip, block, host, min(f) AS f, max(l) AS l, sum(n) AS n,
           list_sort(list_distinct(flatten(list(evs)))) AS evs,
           bool_or(list_has_any(evs, ?)) AS auth
    FROM k GROUP BY ip, block, host)
SELECT *, count(*) OVER (PARTITION BY ip, block) AS nhosts,
       sum(CASE WHEN auth THEN 1 ELSE 0 END) OVER (PARTITION BY ip, block) AS nauth,
       -- outweighs every other claim of the block together (DOMINANCE times, DOMINANCE_MIN at least)
       n >= ? AND n >= ? * (sum(n) OVER (PARTITION BY ip, block) - n) AS dominant,
       min(f) OVER (PARTITION BY ip, block) AS bf, max(l) OVER (PARTITION BY ip, block) AS bl,
       list_sort(list(host) OVER (PARTITION BY ip, block)) AS hosts
FROM bh
"""

# host_addr: the host of a one-host block, or the one host the address vouches for in a
# block of several (the other claims are still reported as a conflict). Consecutive rows
# of the same host are one interval (a DHCP lease, then activity); a conflict that no
# authoritative evidence settles separates them.
_MERGED = """
CREATE OR REPLACE TEMP TABLE _ws_rows AS
WITH b AS (
    SELECT ip, host AS h, f, l, n, evs FROM _ws_blocks WHERE nhosts = 1 OR (nauth = 1 AND auth)
        OR (nauth <> 1 AND dominant AND (auth OR nauth = 0))
    UNION ALL
    SELECT DISTINCT ip, NULL, bf, bl, 0, [] FROM _ws_blocks k WHERE nhosts > 1 AND nauth <> 1
        AND NOT EXISTS (SELECT 1 FROM _ws_blocks d WHERE d.ip = k.ip AND d.bf = k.bf AND d.dominant
                                                       AND (d.auth OR d.nauth = 0))),
g AS (SELECT *, CASE WHEN h IS NOT NULL AND h = lag(h) OVER (PARTITION BY ip ORDER BY f) THEN 0 ELSE 1 END AS brk
      FROM b),
r AS (SELECT *, sum(brk) OVER (PARTITION BY ip ORDER BY f ROWS UNBOUNDED PRECEDING) AS grp FROM g)
SELECT ip, any_value(h) AS host, min(f) AS f, max(l) AS l, sum(n) AS n,
       list_sort(list_distinct(flatten(list(evs)))) AS evs
FROM r WHERE h IS NOT NULL GROUP BY ip, grp
"""

#: Resolution intervals from the stored tables: conflicts resolve to NULL; the first row of an
#: address also covers the time before it.
RESOLUTION = """
SELECT ip, host, CASE WHEN row_number() OVER (PARTITION BY ip ORDER BY first_seen, host NULLS FIRST) = 1
                      THEN '-infinity'::TIMESTAMPTZ ELSE first_seen END AS valid_from
FROM (SELECT ip, host, first_seen FROM host_addr
      UNION ALL
      SELECT c.ip, NULL, c.first_seen FROM host_conflicts c  -- settled ones overlap a host_addr row
      WHERE NOT EXISTS (SELECT 1 FROM host_addr a WHERE a.ip = c.ip AND a.first_seen <= c.last_seen
                                                    AND a.last_seen >= c.first_seen))
"""

#: The resolution intervals, kept for the batches of the enrichment below.
_RES = f"CREATE OR REPLACE TEMP TABLE _ws_res AS {RESOLUTION}"

# A Kerberos network logon often records no address (IpAddress '-'): the domain controller's
# service ticket for the target's machine account (4769, ServiceName TARGET$), asked by the
# same account from an address just before, names it. The latest such ticket at most
# ``kerberos_ticket_window_s`` before the logon (and ``kerberos_ticket_skew_s`` after it: the
# two hosts' clocks differ), when one address asked for it.
_KRB_LOGONS = """
INSERT INTO res_krb_l
SELECT eid >> {bits}, eid, ws_resolve_hkey(host), ts, lower(split_part("user.name", '@', 1))
FROM {src}
WHERE kind = 'auth' AND "event.code" = '4624' AND "winlog.logon.type" = 3 AND "source.ip" IS NULL
  AND "user.name" IS NOT NULL AND "user.name" NOT LIKE '%$'
"""
_KRB_TICKETS = """
INSERT INTO res_krb_t
SELECT DISTINCT eid >> {bits}, ws_resolve_hkey("service.name"), lower(split_part("user.name", '@', 1)), ts, "source.ip"
FROM {src}
WHERE kind = 'auth' AND "event.code" = '4769' AND "event.outcome" = 'success' AND "source.ip" IS NOT NULL
  AND NOT list_contains(?, "source.ip") AND "source.ip" NOT LIKE '127.%' AND "service.name" LIKE '%$'
"""
_KRB = """
CREATE OR REPLACE TEMP TABLE _ws_krb AS
WITH l AS (SELECT eid AS rid, target, ts, ts + to_seconds(?) AS ts_late, u FROM res_krb_l),
t AS (SELECT svc, u, ts, any_value(ip) AS ip, count(DISTINCT ip) AS ips FROM res_krb_t GROUP BY svc, u, ts)
SELECT l.rid, t.ip, t.ts FROM l ASOF JOIN t ON t.svc = l.target AND t.u = l.u AND l.ts_late >= t.ts
WHERE t.ips = 1 AND l.ts - t.ts <= to_seconds(?)
"""

# The events of some shards (``{src}``, as ingest wrote them). The source is the host that held the address
# at the time; failing that, the name the record gives, never from a failure (a failed
# logon's WorkstationName is the attacker's to choose: it stays in source.domain).
# One definition for both engines: an address's resolution at an event's time is the interval
# (``_ws_resi``: from ``valid_from``, NULL for all time before, to the next one's start) that
# holds it, a range join Spark runs too (DuckDB's ASOF join has no Spark equivalent).
_RES_INTERVALS = """
CREATE OR REPLACE TEMP TABLE _ws_resi AS
SELECT ip, host, CASE WHEN isinf(valid_from) THEN NULL ELSE valid_from END AS valid_from,
       lead(valid_from) OVER (PARTITION BY ip ORDER BY valid_from, host NULLS FIRST) AS valid_to
FROM _ws_res
"""
_ENRICHED = """
WITH r AS (SELECT * FROM _ws_resi),
cand AS (
    SELECT eid AS rid, ts, kind, "source.ip" AS sip, "destination.ip" AS dip, "event.outcome" AS outcome,
           ws_resolve_hkey("source.domain") AS sd0, ws_resolve_hkey("destination.domain") AS dd0,
           "source.host" AS osh, "destination.host" AS odh, host AS ohost, "src.format" AS fmt
    FROM {src}{cand}),
named AS (
    SELECT cand.*, k.ip AS kip, k.ts AS kts,
           -- a logon from a remote address that names its own host as the workstation (RDP):
           -- the name is not the source's, the address is
           CASE WHEN kind = 'auth' AND (sd0 = ohost OR sd0 = left(ohost, 15)) AND sip IS NOT NULL
                     AND NOT list_contains(?, sip) AND sip NOT LIKE '127.%' THEN NULL
                WHEN outcome = 'failure' THEN NULL
                ELSE coalesce(ls.full, sd0) END AS sd,
           coalesce(ld.full, dd0) AS dd
    FROM cand LEFT JOIN _ws_long ls ON ls.short = cand.sd0 LEFT JOIN _ws_long ld ON ld.short = cand.dd0
    LEFT JOIN _ws_krb k ON k.rid = cand.rid),
s AS (SELECT named.*, r.host AS sres FROM named LEFT JOIN r ON named.sip = r.ip
        AND (r.valid_from IS NULL OR named.ts >= r.valid_from) AND (r.valid_to IS NULL OR named.ts < r.valid_to)),
kr AS (SELECT s.*, r.host AS kres FROM s LEFT JOIN r ON s.kip = r.ip
       AND (r.valid_from IS NULL OR s.kts >= r.valid_from) AND (r.valid_to IS NULL OR s.kts < r.valid_to)),
d AS (SELECT kr.*, r.host AS dres FROM kr LEFT JOIN r ON kr.dip = r.ip
      AND (r.valid_from IS NULL OR kr.ts >= r.valid_from) AND (r.valid_to IS NULL OR kr.ts < r.valid_to)),
n AS (
    SELECT rid, osh, odh, ohost,
           coalesce(sres, sd, kres, kip) AS nsh, coalesce(dres, dd) AS ndh,
           CASE WHEN list_contains(?, fmt) AND sip IS NOT NULL THEN coalesce(sres, sd, lower(sip)) ELSE ohost END
               AS nhost
    FROM d)
"""
_CHANGED = "nsh IS DISTINCT FROM osh OR ndh IS DISTINCT FROM odh OR nhost IS DISTINCT FROM ohost"
#: The events whose keys change: only those that name an address or a host, or a Kerberos logon
#: without an address, can (any other keeps its keys: every name and address the chain reads is NULL).
_ENRICH = _ENRICHED.replace("{cand}", """
    WHERE ("source.ip" IS NOT NULL OR "destination.ip" IS NOT NULL OR "source.domain" IS NOT NULL
       OR "destination.domain" IS NOT NULL OR "source.host" IS NOT NULL OR "destination.host" IS NOT NULL
       OR eid IN (SELECT rid FROM _ws_krb))""") + f"SELECT rid, nsh, ndh, nhost FROM n WHERE {_CHANGED}\n"
#: Every event's keys and whether they change, for Spark: the keys files are written from it in one
#: pass over the shards (the joins are with the small identity tables), where a join of every event
#: with :data:`_ENRICH`'s rows by ``eid`` sorted both sides.
_ENRICH_ALL = _ENRICHED.replace("{cand}", "") + f"SELECT rid, nsh, ndh, nhost, {_CHANGED} AS changed FROM n\n"


@dataclass(slots=True)
class ResolveReport:
    """What one resolution did."""

    observations: int = 0  # evidence records used
    addresses: int = 0  # distinct addresses with a known host
    intervals: int = 0  # rows of host_addr
    conflicts: int = 0  # rows of host_conflicts
    updated: int = 0  # events whose source.host, destination.host or host changed
    shards: int = 0  # shards whose keys were computed


#: Events read per statement and committed per transaction (shards are taken whole): the peak
#: memory stays flat whatever the size of the case.
ENRICH_BATCH = 2_000_000

#: What resolution keeps per shard (so that adding files reads only theirs), and the identities
#: its keys files were computed with (so that only the shards a change concerns are redone).
TABLES: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS res_obs (shard BIGINT, ip VARCHAR, host VARCHAR, b TIMESTAMPTZ, f TIMESTAMPTZ, "
    "l TIMESTAMPTZ, n BIGINT, ev VARCHAR)",
    "CREATE TABLE IF NOT EXISTS res_known (shard BIGINT, host VARCHAR)",
    "CREATE TABLE IF NOT EXISTS res_long (shard BIGINT, host VARCHAR)",
    "CREATE TABLE IF NOT EXISTS res_ips (shard BIGINT, ip VARCHAR, lo TIMESTAMPTZ, hi TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS res_short (shard BIGINT, name VARCHAR)",
    "CREATE TABLE IF NOT EXISTS res_krb_l (shard BIGINT, eid BIGINT, target VARCHAR, ts TIMESTAMPTZ, u VARCHAR)",
    "CREATE TABLE IF NOT EXISTS res_krb_t (shard BIGINT, svc VARCHAR, u VARCHAR, ts TIMESTAMPTZ, ip VARCHAR)",
    "CREATE TABLE IF NOT EXISTS res_applied_res (ip VARCHAR, host VARCHAR, valid_from TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS res_applied_long (short VARCHAR, \"full\" VARCHAR)",
    "CREATE TABLE IF NOT EXISTS res_applied_krb (rid BIGINT, ip VARCHAR, ts TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS res_hosts (shard BIGINT, host VARCHAR)",
    "CREATE TABLE IF NOT EXISTS res_applied_netlids (host VARCHAR, lid VARCHAR)",
    "CREATE TABLE IF NOT EXISTS res_applied_ipmap (ip VARCHAR, host VARCHAR)",
    "ALTER TABLE shards ADD COLUMN IF NOT EXISTS identified BOOLEAN DEFAULT false",
    "CREATE TABLE IF NOT EXISTS res_netlids (shard BIGINT, host VARCHAR, lid VARCHAR)",
)
_PER_SHARD = ("res_obs", "res_known", "res_long", "res_ips", "res_short", "res_krb_l", "res_krb_t", "res_hosts",
              "res_netlids")
_APPLIED = ("res_applied_res", "res_applied_long", "res_applied_krb", "res_applied_netlids", "res_applied_ipmap")

_HOSTS = "INSERT INTO res_hosts SELECT DISTINCT eid >> {bits}, host FROM {src}"
#: The logon sessions of inbound network logons (the hunt's pass reads their processes).
_NETLIDS = ('INSERT INTO res_netlids SELECT DISTINCT eid >> {bits}, host, "winlog.logon.id" FROM {src} WHERE '
            + NETLIDS_WHERE.replace("{", "{{").replace("}", "}}"))

#: Shards whose rows of the hunt's pass change with the logon sessions of inbound network logons
#: (a logon and the processes of its session may lie in two shards).
_NETLIDS_CHANGED = """
WITH d AS ((SELECT host, lid FROM _ws_netlids EXCEPT SELECT * FROM res_applied_netlids)
           UNION (SELECT * FROM res_applied_netlids EXCEPT SELECT host, lid FROM _ws_netlids))
SELECT DISTINCT shard FROM res_hosts WHERE host IN (SELECT host FROM d)
"""

#: The shards whose keys must be computed (again): those never resolved, and those that name an
#: address, a cut name or a Kerberos logon whose resolution changed since their keys were written.
#: An address's resolution changes from the earliest interval that differs on (the first
#: interval covers all time before it): a shard that names it only before then is not concerned
#: (files added later in time leave the older shards alone).
_AFFECTED = """
WITH dres0 AS ((SELECT * FROM _ws_res EXCEPT SELECT * FROM res_applied_res)
               UNION (SELECT * FROM res_applied_res EXCEPT SELECT * FROM _ws_res)),
dres AS (SELECT ip, min(valid_from) AS since FROM dres0 GROUP BY ip),
dlong AS ((SELECT * FROM _ws_long EXCEPT SELECT * FROM res_applied_long)
          UNION (SELECT * FROM res_applied_long EXCEPT SELECT * FROM _ws_long)),
dkrb AS ((SELECT * FROM _ws_krb EXCEPT SELECT * FROM res_applied_krb)
         UNION (SELECT * FROM res_applied_krb EXCEPT SELECT * FROM _ws_krb))
SELECT id FROM shards WHERE NOT keys
UNION SELECT r.shard FROM res_ips r JOIN dres d ON d.ip = r.ip AND r.hi >= d.since
UNION SELECT shard FROM res_short WHERE name IN (SELECT short FROM dlong)
UNION SELECT rid >> {bits} FROM dkrb
UNION SELECT k.rid >> {bits} FROM _ws_krb k JOIN dres d ON d.ip = k.ip AND k.ts >= d.since
"""


def _observe(src: str) -> list[tuple[str, list[Any]]]:
    """The statements of the per-shard tables over the events of ``src``."""
    bits = {"bits": SHARD_BITS}
    return [
        (_observations_sql(src), [list(NOT_HOST_IPS)]),
        (_KNOWN.format(src=src, **bits), [list(NETWORK_FORMATS)]),
        (_LONG.format(src=src, **bits), []),
        (_IPS.format(src=src, **bits), []),
        (_SHORT.format(src=src, **bits), []),
        (_KRB_LOGONS.format(src=src, **bits), []),
        (_KRB_TICKETS.format(src=src, **bits), [list(NOT_HOST_IPS)]),
        (_HOSTS.format(src=src, **bits), []),
        (_NETLIDS.format(src=src, **bits), []),
    ]


def _spec(cfg: dict[str, Any]) -> str:
    """What the stored per-shard tables depend on: the SQL and the values bound into it."""
    import hashlib
    import json

    blob = json.dumps([RULES, NEEDS_KNOWN, _KNOWN, _LONG, _IPS, _SHORT, _KRB_LOGONS, _KRB_TICKETS, MACRO, _NETLIDS,
                       _observations_sql("x"), _IP_OK, list(NOT_HOST_IPS), list(NETWORK_FORMATS), SHARD_BITS],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _groups(case: Case, shards: list[int], batch_rows: int) -> list[list[int]]:
    """Shards in groups of about ``batch_rows`` events (a shard is never split)."""
    sizes = dict(case.rows("SELECT id, rows FROM shards"))
    out: list[list[int]] = []
    cur: list[int] = []
    n = 0
    for s in sorted(shards):
        if cur and n + int(sizes.get(s, 0)) > batch_rows:
            out.append(cur)
            cur, n = [], 0
        cur.append(s)
        n += int(sizes.get(s, 0))
    if cur:
        out.append(cur)
    return out


def resolve(case: Case, *, batch_rows: int = ENRICH_BATCH) -> ResolveReport:
    """See :func:`_resolve`; DuckDB may use at most half the memory meanwhile (it spills beyond)."""
    with case.bounded(preserve_insertion_order="false"):
        return _resolve(case, batch_rows=batch_rows)


def _resolve(case: Case, *, batch_rows: int) -> ResolveReport:
    """Bring ``host_addr``, ``host_conflicts``, the keys of the events and the hunt's stored pass
    up to date with the case's shards, reading only what changed:

    1. the shards not yet observed give their observations (per-shard tables, ``res_*``);
    2. the identities are rebuilt from the observations of every shard (small tables);
    3. the keys of the shards never resolved, and of those that name an address (or a cut name,
       a Kerberos logon) whose resolution changed, are computed from their raw events and
       written to their keys files; their rows of the hunt's pass are replaced;
    4. the identities used are recorded, and the case marked resolved.

    Every step commits on its own and can be done again with the same result, so a run cut
    short is finished by the next one (meta ``resolved`` is written last).
    """
    from wormsign.detect import candidates, config, prep

    eng = case.engine
    rep = ResolveReport()
    cfg = config.load(None)
    bits = {"bits": SHARD_BITS}
    for stmt in TABLES:
        eng.execute(stmt)
    eng.execute(MACRO)
    for m in prep.MACROS:
        eng.execute(m)
    spec = _spec(cfg)
    if case.get_meta("resolve_spec") != spec:  # another version's tables: start again
        with case.transaction():
            for t in (*_PER_SHARD, *_APPLIED):
                eng.execute(f"DELETE FROM {t}")
            eng.execute("UPDATE shards SET observed = false, identified = false")
            eng.execute("DROP TABLE IF EXISTS res_ws_blocks")
            case.set_meta("resolve_spec", spec)
    # 1. observations of the new shards
    new = [int(r[0]) for r in eng.rows("SELECT id FROM shards WHERE NOT observed ORDER BY id")]
    # (Spark takes them all at once: it bounds its memory itself)
    for group in ([new] if case.scans is not None and new else _groups(case, new, batch_rows)):
        # the shards themselves: their columns are dictionary-encoded, so that DuckDB computes
        # a host key once per distinct name (read into a table first, it took twice as long)
        with case.transaction():
            for t in _PER_SHARD:
                eng.execute(f"DELETE FROM {t} WHERE list_contains(?, shard)", [group])
            passes.run_raw(case, group, _observe)
            eng.execute("UPDATE shards SET observed = true WHERE list_contains(?, id)", [group])
    # 2. the identities
    with case.transaction():
        _identities(case, rep)
        eng.execute(_RES)
        eng.execute(_RES_INTERVALS)
        eng.execute(_KRB, [int(cfg["kerberos_ticket_skew_s"]), int(cfg["kerberos_ticket_window_s"])])
        rep.observations = int(eng.rows("SELECT coalesce(sum(n), 0) FROM res_ws_obs")[0][0])
        rep.addresses, rep.intervals = (int(x) for x in eng.rows("SELECT count(DISTINCT ip), count(*) FROM host_addr")[0])
        rep.conflicts = int(eng.rows("SELECT count(*) FROM host_conflicts")[0][0])
    pause("resolve")  # crash tests: the identities committed, no event enriched yet
    # 3. the keys of the shards concerned, and their rows of the hunt's pass
    todo = sorted(int(r[0]) for r in eng.rows(_AFFECTED.format(**bits)))
    never = {int(r[0]) for r in eng.rows("SELECT id FROM shards WHERE NOT keys")}
    # Only new shards to resolve: the activity summaries of the hosts they concern are redone;
    # an old shard's keys changing may move its events from one host to another: all of them.
    incremental = bool(never) and set(todo) <= never
    reindex = set(todo)
    if not candidates.index_matches(case, cfg):  # another configuration: the whole pass again
        candidates.start_index(case, cfg, stored=True)
        reindex = set(case.shard_ids())
        incremental = False
    else:
        candidates.prepare_index(case, cfg, stored=True)
        reindex.update(int(r[0]) for r in eng.rows(_NETLIDS_CHANGED))
    keying = set(todo)
    spark = case.scans is not None  # Spark takes them all at once
    for group in ([sorted(reindex)] if spark and reindex else _groups(case, sorted(reindex), batch_rows)):
        keyed = [s for s in group if s in keying]
        with case.transaction():
            if keyed and case.scans is not None:
                rep.updated += _spark_keys(case, keyed)
                case.refresh()
            elif keyed:
                src = f"read_parquet({case.shard_files(keyed)})"
                eng.execute(f"CREATE OR REPLACE TEMP TABLE _ws_new AS {_ENRICH.format(src=src)} ORDER BY rid",
                            [list(NOT_HOST_IPS), list(NETWORK_FORMATS)])
                rep.updated += int(eng.rows("SELECT count(*) FROM _ws_new")[0][0])
                for s in keyed:  # every row of the shard, in its order: changed or as stored
                    keys = case.query(
                        'SELECT CASE WHEN n.rid IS NULL THEN e."source.host" ELSE n.nsh END AS "source.host", '
                        'CASE WHEN n.rid IS NULL THEN e."destination.host" ELSE n.ndh END AS "destination.host", '
                        "CASE WHEN n.rid IS NULL THEN e.host ELSE n.nhost END AS host "
                        f"FROM read_parquet({case.shard_files([s])}) e "
                        f"LEFT JOIN (SELECT * FROM _ws_new WHERE rid >> {SHARD_BITS} = {int(s)}) n ON n.rid = e.{EID} "
                        f"ORDER BY e.{EID}")
                    case.write_keys(s, keys)
                case.refresh()
            candidates.index_shards(case, cfg, group)
        pause("resolve")  # crash tests: a batch of events enriched and committed, the case not marked
    # 4. done
    with case.transaction():
        eng.execute("DELETE FROM res_applied_res")
        eng.execute("INSERT INTO res_applied_res SELECT * FROM _ws_res")
        eng.execute("DELETE FROM res_applied_long")
        eng.execute("INSERT INTO res_applied_long SELECT * FROM _ws_long")
        eng.execute("DELETE FROM res_applied_krb")
        eng.execute("INSERT INTO res_applied_krb SELECT * FROM _ws_krb")
        eng.execute("DELETE FROM res_applied_netlids")
        eng.execute("INSERT INTO res_applied_netlids SELECT host, lid FROM _ws_netlids")
        prep.ipmap(case, cfg)  # the address map the stored tables are built with
        added = _concerned(case, never) if incremental else None
        eng.execute("DELETE FROM res_applied_ipmap")
        eng.execute("INSERT INTO res_applied_ipmap SELECT ip, host FROM h_ipmap")
        candidates.finish_index(case, cfg, added)
        for t in ("_ws_long", "_ws_obs", "_ws_blocks", "_ws_rows", "_ws_res", "_ws_resi", "_ws_new", "_ws_known",
                  "_ws_krb"):
            eng.execute(f"DROP TABLE IF EXISTS {t}")
        case.set_meta("resolved", _state(case))
    if case.scans is not None:
        case.scans.forget_keyed()
        case.scans.drop_results()  # the candidate rows kept for the working tables
    rep.shards = len(todo)
    return rep


def _spark_keys(case: Case, shards: list[int]) -> int:
    """The keys files of ``shards`` computed on Spark (:data:`_ENRICH_ALL` over their raw events, the
    identities shipped from the catalog), written by Spark one file per shard in the shard's row
    order; the number of events whose keys changed (counted as the files are written)."""
    import shutil

    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    sc = case.scans
    for t in ("_ws_resi", "_ws_long", "_ws_krb"):
        sc.view_table(t, case.query(f"SELECT * FROM {t}"))
    sc.view_files(passes.SPARK_SOURCE, case.event_files(shards), cache=False)
    try:
        rows = sc.spark.sql(sc.sql(_ENRICH_ALL.format(src=passes.SPARK_SOURCE)),
                            args=[list(NOT_HOST_IPS), list(NETWORK_FORMATS)])
        changed = Observation("wormsign-keys")
        keys = rows.observe(changed, F.count_if(F.col("changed")).alias("n")).select(
            F.shiftright(F.col("rid"), SHARD_BITS).alias("_shard"), F.col("rid"),
            *[F.col(n).alias(c) for c, n in zip(KEY_COLUMNS, ("nsh", "ndh", "nhost"), strict=True)])
        out = case.staging_dir("spark-keys")
        # row groups of the shards' size: a keys file read by the keyed view is split into
        # tasks at row groups, and in one (Spark's default for these narrow rows) it was one
        # task, alone on a core while the shard's were read by all (1.2M events: 2.3 s)
        (keys.repartition("_shard").sortWithinPartitions("_shard", "rid").drop("rid")
         .write.mode("overwrite").option("parquet.block.row.count.limit", ROW_GROUP_ROWS)
         .partitionBy("_shard").parquet(out))
        for s in shards:
            files = [f for f in os.listdir(os.path.join(out, f"_shard={s}")) if f.endswith(".parquet")]
            if len(files) != 1:
                raise RuntimeError(f"Spark wrote {len(files)} keys files for shard {s}")
            case.install_keys(s, os.path.join(out, f"_shard={s}", files[0]))
        shutil.rmtree(out, ignore_errors=True)
    finally:
        sc.release(passes.SPARK_SOURCE)
    return int(changed.get["n"])


def _identities(case: Case, rep: ResolveReport) -> None:
    """Bring ``host_addr`` and ``host_conflicts`` up to date with the observations of every
    observed shard: from scratch, or (only new shards' observations, and the known hosts and
    cut names as they were) for the tail of the addresses they name."""
    eng = case.engine
    eng.execute(_LONG_ALL)
    eng.execute(_KNOWN_ALL)
    blocks_ready = bool(eng.rows("SELECT count(*) FROM information_schema.tables WHERE table_name = 'res_ws_blocks'"
                                 " AND table_schema = 'main'")[0][0])
    same_names = blocks_ready and not eng.rows(
        """SELECT 1 FROM ((SELECT host FROM _ws_known EXCEPT SELECT host FROM res_ident_known)
                          UNION ALL (SELECT host FROM res_ident_known EXCEPT SELECT host FROM _ws_known)) LIMIT 1"""
    ) and not eng.rows(
        """SELECT 1 FROM ((SELECT short, "full" FROM _ws_long EXCEPT SELECT short, "full" FROM res_ident_long)
                          UNION ALL (SELECT short, "full" FROM res_ident_long EXCEPT SELECT short, "full" FROM _ws_long))
           LIMIT 1""")
    fresh = "list_contains((SELECT list(id) FROM shards WHERE observed AND NOT identified), shard)"
    if not same_names:
        eng.execute(_OBS.format(table="_ws_obs", shards="TRUE"), [list(NEEDS_KNOWN)])
        eng.execute(_BLOCKS, [CLAIM_GAP, list(AUTHORITATIVE), DOMINANCE_MIN, DOMINANCE])
        eng.execute(_MERGED)
        eng.execute("CREATE OR REPLACE TABLE res_ws_obs AS SELECT * FROM _ws_obs")
        eng.execute("CREATE OR REPLACE TABLE res_ws_blocks AS SELECT * FROM _ws_blocks")
        eng.execute("DELETE FROM host_addr")
        eng.execute("INSERT INTO host_addr SELECT ip, host, f, l, array_to_string(evs, ','), n FROM _ws_rows")
        eng.execute("DELETE FROM host_conflicts")
        eng.execute("INSERT INTO host_conflicts SELECT DISTINCT ip, array_to_string(hosts, ','), bf, bl "
                    "FROM _ws_blocks WHERE nhosts > 1")
    else:
        eng.execute(_OBS.format(table="_ws_dobs", shards=fresh), [list(NEEDS_KNOWN)])
        if eng.rows("SELECT count(*) FROM _ws_dobs")[0][0]:
            for stmt in _MERGE_OBS.split(";"):
                if stmt.strip():
                    eng.execute(stmt, [CLAIM_GAP] if "?" in stmt else [])
            eng.execute(_BLOCKS, [CLAIM_GAP, list(AUTHORITATIVE), DOMINANCE_MIN, DOMINANCE])
            eng.execute("DELETE FROM res_ws_blocks k USING _ws_since s WHERE k.ip = s.ip AND k.bf >= s.since")
            eng.execute("INSERT INTO res_ws_blocks SELECT * FROM _ws_blocks")
            # the intervals of those addresses again, from all their blocks (a few each)
            eng.execute("CREATE OR REPLACE TEMP TABLE _ws_blocks AS SELECT * FROM res_ws_blocks "
                        "WHERE ip IN (SELECT ip FROM _ws_since)")
            eng.execute(_MERGED)
            eng.execute("DELETE FROM host_addr WHERE ip IN (SELECT ip FROM _ws_since)")
            eng.execute("INSERT INTO host_addr SELECT ip, host, f, l, array_to_string(evs, ','), n FROM _ws_rows")
            eng.execute("DELETE FROM host_conflicts WHERE ip IN (SELECT ip FROM _ws_since)")
            eng.execute("INSERT INTO host_conflicts SELECT DISTINCT ip, array_to_string(hosts, ','), bf, bl "
                        "FROM _ws_blocks WHERE nhosts > 1")
        for t in ("_ws_dobs", "_ws_since", "_ws_merged"):
            eng.execute(f"DROP TABLE IF EXISTS {t}")
    eng.execute("UPDATE shards SET identified = true WHERE observed AND NOT identified")
    eng.execute("CREATE OR REPLACE TABLE res_ident_known AS SELECT host FROM _ws_known")
    eng.execute("CREATE OR REPLACE TABLE res_ident_long AS SELECT short, \"full\" FROM _ws_long")


def _concerned(case: Case, shards: set[int]) -> tuple[list[str], str, list[int], list[str]]:
    """What the events of new ``shards`` may change in the activity summaries: the hosts they
    are on or come from; a query of those events; and the hosts an address of the map moved
    to or from (their connections' source may have changed)."""
    part = case.events_sql(shards)
    hosts = case.rows(
        f"""SELECT DISTINCT h FROM (
            SELECT e.host AS h FROM ({part}) e
            UNION ALL SELECT e."source.host" FROM ({part}) e WHERE e.kind = 'network'
            UNION ALL SELECT m.host FROM ({part}) e JOIN h_ipmap m ON m.ip = e."source.ip" WHERE e.kind = 'network')
            WHERE h IS NOT NULL""")
    moved = case.rows(
        """SELECT DISTINCT host FROM ((SELECT ip, host FROM h_ipmap EXCEPT SELECT * FROM res_applied_ipmap)
                                    UNION (SELECT * FROM res_applied_ipmap EXCEPT SELECT ip, host FROM h_ipmap))
           WHERE host IS NOT NULL""")
    return sorted(r[0] for r in hosts), part, sorted(shards), sorted(r[0] for r in moved)


def _state(case: Case) -> dict[str, Any]:
    """What resolution was of (meta ``resolved``), from the catalog itself (so also inside a
    transaction that changes the shards, before the case reads them again)."""
    n, last = case.rows("SELECT count(*), coalesce(max(id), 0) FROM shards")[0]
    return {"sources": _source_count(case), "events": case.count(), "shards": int(n), "last": int(last)}


def _source_count(case: Case) -> int:
    return int(case.rows("SELECT count(*) FROM sources")[0][0])


#: What names an event by its ``eid`` in the catalog besides the shards: (table, column).
EID_COLUMNS = (("res_krb_l", "eid"), ("res_applied_krb", "rid"), ("hunt_index", "eid"))


def compact(case: Case, *, small: int = COMPACT_SMALL_ROWS, most: int = COMPACT_MAX_SHARDS) -> int:
    """Merge the newest run of small resolved shards into one once it is longer than ``most``
    (a live stream commits a shard a cycle and resolves it at once, so that
    :meth:`Case.compact`, which merges shards no resolution has read, never sees them); return
    how many were merged. Only the last shards are merged (the new shard takes the next number:
    the events keep their order), and their resolution goes with them renamed: the per-shard
    observations, the ``eid``s of :data:`EID_COLUMNS`, and the case stays resolved when it was."""
    run: list[int] = []
    for i, rows, done in case.engine.rows(
            "SELECT id, rows, keys AND observed AND identified FROM shards ORDER BY id DESC"):
        if not done or rows >= small:
            break
        run.append(int(i))
    if len(run) <= most:
        return 0
    run.reverse()
    eng = case.engine
    was_resolved = case.get_meta("resolved") == _state(case)

    def rename(new: int, starts: list[tuple[int, int]]) -> None:
        for t in _PER_SHARD:
            eng.execute(f"UPDATE {t} SET shard = ? WHERE list_contains(?, shard)", [new, run])
        eng.execute("CREATE OR REPLACE TEMP TABLE _ws_moved AS SELECT unnest(?::BIGINT[]) AS old, "
                    "unnest(?::BIGINT[]) AS start", [[o for o, _ in starts], [a for _, a in starts]])
        have = {r[0] for r in eng.rows("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'")}
        for table, col in EID_COLUMNS:
            if table in have:
                eng.execute(f"UPDATE {table} SET {col} = (CAST({int(new)} AS BIGINT) << {SHARD_BITS}) + m.start "
                            f"+ ({table}.{col} & {(1 << SHARD_BITS) - 1}) FROM _ws_moved m "
                            f"WHERE ({table}.{col} >> {SHARD_BITS}) = m.old")
        eng.execute("DROP TABLE _ws_moved")
        if was_resolved:
            case.set_meta("resolved", _state(case))

    case.merge_resolved(run, rename)
    return len(run)


def ensure_resolved(case: Case) -> ResolveReport | None:
    """Resolve when events were ingested since the last resolution, or when the stored hunt
    index is not this version's (for ``hunt``); else None."""
    from wormsign.detect import candidates, config

    last: dict[str, Any] | None = case.get_meta("resolved")
    if last == _state(case) and candidates.index_is_fresh(case, config.load(None)):
        return None
    return resolve(case)


def host_of(case: Case, ip: str, ts: datetime) -> str | None:
    """The host key that held ``ip`` at ``ts`` (None when unknown or in conflict then)."""
    rows = case.rows(
        f"SELECT host FROM ({RESOLUTION}) WHERE ip = ? AND valid_from <= ? ORDER BY valid_from DESC LIMIT 1",
        [ip, ts],
    )
    return rows[0][0] if rows else None
