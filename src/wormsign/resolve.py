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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from wormsign.store import Case
from wormsign.testhook import pause

#: Observations of one (ip, host) closer than this are one claim; a host that claims an
#: address again within it after another host did makes a conflict.
CLAIM_GAP = timedelta(hours=1)
#: Evidence the address itself vouches for: the endpoint's own record of its address, a DHCP
#: lease. Names a client gives (WorkstationName, NTLM hostname, ...) can be forged; where
#: they contradict this evidence the conflict is reported and this evidence decides.
AUTHORITATIVE: tuple[str, ...] = ("host.ip", "dhcp-lease", "own-address", "machine-account")
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
_MACRO = r"""CREATE OR REPLACE TEMP MACRO ws_resolve_hkey(x) AS CASE
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
CREATE OR REPLACE TEMP TABLE _ws_known AS
SELECT DISTINCT h AS host FROM (
    SELECT ws_resolve_hkey(host) AS h FROM events WHERE NOT list_contains(?, "src.format")
    UNION ALL
    SELECT ws_resolve_hkey(split_part("user.name", '@', 1)) FROM events
    WHERE kind IN ('auth', 'kerberos') AND "event.outcome" = 'success' AND split_part("user.name", '@', 1) LIKE '%$'
    UNION ALL
    SELECT ws_resolve_hkey(split_part("service.name", '/', 2)) FROM events
    WHERE kind = 'kerberos' AND "event.outcome" = 'success'
      AND lower(split_part("service.name", '/', 1))
          IN ('host', 'cifs', 'http', 'ldap', 'gc', 'wsman', 'termsrv')
) WHERE h IS NOT NULL
"""


def _observations_sql() -> str:
    parts = [
        f"""SELECT ip, host, time_bucket(INTERVAL 1 HOUR, ts) AS b, min(ts) AS f, max(ts) AS l, count(*) AS n,
                   '{label}' AS ev
            FROM (SELECT {ip} AS ip, {host} AS host, ts FROM events WHERE {where})
            WHERE ip IS NOT NULL AND host IS NOT NULL
              {'AND host IN (SELECT host FROM _ws_known)' if label in NEEDS_KNOWN else ''}
            GROUP BY ALL"""
        for label, where, ip, host in RULES
    ]
    # host.ip may hold several addresses (a list written as text): split after aggregating.
    parts.append(
        r"""SELECT trim(unnest(string_split(regexp_replace(hip, '[\[\]"'' ]', '', 'g'), ','))), host, b, f, l, n,
                  'host.ip'
           FROM (SELECT "host.ip" AS hip, host, time_bucket(INTERVAL 1 HOUR, ts) AS b, min(ts) AS f,
                        max(ts) AS l, count(*) AS n
                 FROM events WHERE "host.ip" IS NOT NULL AND ws_resolve_hkey(host) IS NOT NULL GROUP BY ALL)"""
    )
    return (
        "CREATE OR REPLACE TEMP TABLE _ws_obs AS SELECT ip, host, b, min(f) AS f, max(l) AS l, sum(n) AS n, "
        "list_distinct(list(ev)) AS evs FROM (" + " UNION ALL ".join(parts) + ") "
        "WHERE host IS NOT NULL AND ip IS NOT NULL AND ip <> '' AND NOT list_contains(?, ip) "
        "AND ip NOT LIKE '127.%' AND ip NOT LIKE 'fe80:%' AND ip NOT LIKE '169.254.%' AND ip NOT LIKE '%.255' "
        "AND NOT regexp_matches(ip, '^(22[4-9]|23[0-9])\\.|^ff') GROUP BY ip, host, b"
    )


# NetBIOS names (WorkstationName, ntlm hostname) are cut to 15 characters: a cut name that is
# the start of exactly one longer host key of the case is that host.
_LONG = """
CREATE OR REPLACE TEMP TABLE _ws_long AS
SELECT left(host, 15) AS short, any_value(host) AS full
FROM (SELECT DISTINCT host FROM (
        SELECT host FROM events WHERE length(host) > 15
        UNION ALL SELECT ws_resolve_hkey("source.domain") FROM events WHERE length("source.domain") > 15
        UNION ALL SELECT ws_resolve_hkey("destination.domain") FROM events WHERE length("destination.domain") > 15)
      WHERE length(host) > 15 AND ws_resolve_hkey(host) IS NOT NULL)
GROUP BY 1 HAVING count(*) = 1
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
        AND NOT EXISTS (SELECT 1 FROM _ws_blocks d WHERE d.ip = k.ip AND d.block = k.block AND d.dominant
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
_KRB = """
CREATE OR REPLACE TEMP TABLE _ws_krb AS
WITH l AS (
    SELECT rowid AS rid, ws_resolve_hkey(host) AS target, ts, ts + to_seconds(?) AS ts_late,
           lower(split_part("user.name", '@', 1)) AS u
    FROM events
    WHERE kind = 'auth' AND "event.code" = '4624' AND "winlog.logon.type" = 3 AND "source.ip" IS NULL
      AND "user.name" IS NOT NULL AND "user.name" NOT LIKE '%$'),
t AS (
    SELECT ws_resolve_hkey("service.name") AS svc, lower(split_part("user.name", '@', 1)) AS u, ts,
           any_value("source.ip") AS ip, count(DISTINCT "source.ip") AS ips
    FROM events
    WHERE kind = 'auth' AND "event.code" = '4769' AND "event.outcome" = 'success' AND "source.ip" IS NOT NULL
      AND NOT list_contains(?, "source.ip") AND "source.ip" NOT LIKE '127.%' AND "service.name" LIKE '%$'
    GROUP BY ALL)
SELECT l.rid, t.ip, t.ts FROM l ASOF JOIN t ON t.svc = l.target AND t.u = l.u AND l.ts_late >= t.ts
WHERE t.ips = 1 AND l.ts - t.ts <= to_seconds(?)
"""

# One batch of events: a range of rowids (the first two parameters), which DuckDB tests inside
# the scan, skipping the row groups outside it. The source is the host that held the address
# at the time; failing that, the name the record gives, never from a failure (a failed
# logon's WorkstationName is the attacker's to choose: it stays in source.domain).
_ENRICH = """
CREATE OR REPLACE TEMP TABLE _ws_new AS
WITH r AS (SELECT * FROM _ws_res),
cand AS (
    SELECT rowid AS rid, ts, kind, "source.ip" AS sip, "destination.ip" AS dip, "event.outcome" AS outcome,
           ws_resolve_hkey("source.domain") AS sd0, ws_resolve_hkey("destination.domain") AS dd0,
           "source.host" AS osh, "destination.host" AS odh, host AS ohost, "src.format" AS fmt
    FROM events
    WHERE rowid >= ? AND rowid < ?
      AND ("source.ip" IS NOT NULL OR "destination.ip" IS NOT NULL OR "source.domain" IS NOT NULL
       OR "destination.domain" IS NOT NULL OR "source.host" IS NOT NULL OR "destination.host" IS NOT NULL
       OR rowid IN (SELECT rid FROM _ws_krb))),
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
s AS (SELECT named.*, r.host AS sres FROM named ASOF LEFT JOIN r ON named.sip = r.ip AND named.ts >= r.valid_from),
kr AS (SELECT s.*, r.host AS kres FROM s ASOF LEFT JOIN r ON s.kip = r.ip AND s.kts >= r.valid_from),
d AS (SELECT kr.*, r.host AS dres FROM kr ASOF LEFT JOIN r ON kr.dip = r.ip AND kr.ts >= r.valid_from),
n AS (
    SELECT rid, osh, odh, ohost,
           coalesce(sres, sd, kres, kip) AS nsh, coalesce(dres, dd) AS ndh,
           CASE WHEN list_contains(?, fmt) AND sip IS NOT NULL THEN coalesce(sres, sd, lower(sip)) ELSE ohost END
               AS nhost
    FROM d)
SELECT rid, nsh, ndh, nhost FROM n
WHERE nsh IS DISTINCT FROM osh OR ndh IS DISTINCT FROM odh OR nhost IS DISTINCT FROM ohost
ORDER BY rid  -- in storage order: DuckDB updates row groups in sequence (random order is 20x slower)
"""


@dataclass(slots=True)
class ResolveReport:
    """What one resolution did."""

    observations: int = 0  # evidence records used
    addresses: int = 0  # distinct addresses with a known host
    intervals: int = 0  # rows of host_addr
    conflicts: int = 0  # rows of host_conflicts
    updated: int = 0  # events whose source.host, destination.host or host changed


#: Events enriched per transaction. An UPDATE keeps the old values of every row it changes
#: until it commits (about 600 bytes a row), so one transaction over a large case would hold
#: gigabytes (4.7 GiB at 10M events): batches keep the peak flat whatever the size of the case.
ENRICH_BATCH = 2_000_000


def resolve(case: Case, *, batch_rows: int = ENRICH_BATCH) -> ResolveReport:
    """See :func:`_resolve`; DuckDB may use at most half the memory meanwhile (it spills beyond)."""
    with case.bounded(preserve_insertion_order="false"):
        return _resolve(case, batch_rows=batch_rows)


def _resolve(case: Case, *, batch_rows: int) -> ResolveReport:
    """Rebuild ``host_addr`` and ``host_conflicts`` from the case's events, then enrich the events.

    The identities are rebuilt in one transaction; the events are then enriched in batches
    of ``batch_rows`` rowids, each committed on its own. A run cut short leaves the case
    marked unresolved (meta ``resolved`` is written last), and the next run redoes it all
    (every value is recomputed from the events' own fields, so a batch done twice is the same).
    """
    from wormsign.detect import candidates, config, prep

    eng = case.engine
    rep = ResolveReport()
    cfg = config.load(None)
    with case.transaction():
        eng.execute(_MACRO)
        for m in prep.MACROS:
            eng.execute(m)
        candidates.start_index(case, cfg)
        eng.execute(_LONG)
        eng.execute(_KNOWN, [list(NETWORK_FORMATS)])
        eng.execute(_observations_sql(), [list(NOT_HOST_IPS)])
        eng.execute("UPDATE _ws_obs SET host = l.full FROM _ws_long l WHERE _ws_obs.host = l.short")
        eng.execute(_BLOCKS, [CLAIM_GAP, list(AUTHORITATIVE), DOMINANCE_MIN, DOMINANCE])
        eng.execute(_MERGED)
        eng.execute("DELETE FROM host_addr")
        eng.execute("INSERT INTO host_addr SELECT ip, host, f, l, array_to_string(evs, ','), n FROM _ws_rows")
        eng.execute("DELETE FROM host_conflicts")
        eng.execute(
            "INSERT INTO host_conflicts SELECT DISTINCT ip, array_to_string(hosts, ','), bf, bl FROM _ws_blocks "
            "WHERE nhosts > 1"
        )
        eng.execute(_RES)
        eng.execute(_KRB, [int(cfg["kerberos_ticket_skew_s"]), list(NOT_HOST_IPS),
                           int(cfg["kerberos_ticket_window_s"])])
        rep.observations = int(eng.rows("SELECT coalesce(sum(n), 0) FROM _ws_obs")[0][0])
        rep.addresses, rep.intervals = (int(x) for x in eng.rows("SELECT count(DISTINCT ip), count(*) FROM host_addr")[0])
        rep.conflicts = int(eng.rows("SELECT count(*) FROM host_conflicts")[0][0])
    pause("resolve")  # crash tests: the identities committed, no event enriched yet
    top = int(eng.rows("SELECT coalesce(max(rowid) + 1, 0) FROM events")[0][0])
    for lo in range(0, top, max(int(batch_rows), 1)):
        with case.transaction():
            eng.execute(_ENRICH, [lo, lo + batch_rows, list(NOT_HOST_IPS), list(NETWORK_FORMATS)])
            eng.execute(
                'UPDATE events SET "source.host" = n.nsh, "destination.host" = n.ndh, host = n.nhost '
                "FROM _ws_new n WHERE events.rowid = n.rid"
            )
            rep.updated += int(eng.rows("SELECT count(*) FROM _ws_new")[0][0])
            candidates.index_batch(case, cfg, lo, lo + batch_rows)  # the hunt's pass, stored
        pause("resolve")  # crash tests: a batch of events enriched and committed, the case not marked
    with case.transaction():
        candidates.finish_index(case, cfg)
        for t in ("_ws_long", "_ws_obs", "_ws_blocks", "_ws_rows", "_ws_res", "_ws_new", "_ws_known", "_ws_krb"):
            eng.execute(f"DROP TABLE IF EXISTS {t}")
        case.set_meta("resolved", {"sources": _source_count(case), "events": case.count()})
    return rep


def _source_count(case: Case) -> int:
    return int(case.rows("SELECT count(*) FROM sources")[0][0])


def ensure_resolved(case: Case) -> ResolveReport | None:
    """Resolve when events were ingested since the last resolution, or when the stored hunt
    index is not this version's (for ``hunt``); else None."""
    from wormsign.detect import candidates, config

    last: dict[str, Any] | None = case.get_meta("resolved")
    if (last and last.get("sources") == _source_count(case) and last.get("events") == case.count()
            and candidates.index_is_fresh(case, config.load(None))):
        return None
    return resolve(case)


def host_of(case: Case, ip: str, ts: datetime) -> str | None:
    """The host key that held ``ip`` at ``ts`` (None when unknown or in conflict then)."""
    rows = case.rows(
        f"SELECT host FROM ({RESOLUTION}) WHERE ip = ? AND valid_from <= ? ORDER BY valid_from DESC LIMIT 1",
        [ip, ts],
    )
    return rows[0][0] if rows else None
