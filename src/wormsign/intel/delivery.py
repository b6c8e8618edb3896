"""Delivery chains: a process of family A writes and starts, or spawns, a binary of family B.

Two patterns, each one SQL query over the case's events and the intel matches
(:mod:`wormsign.intel.match`):

``write-start``  a process of family A writes file F (Sysmon 11), then a process is started
                 from F (Sysmon 1) whose image hash, or F's own hash, is family B;
``spawn``        a process of family A is the parent of a process whose image hash is family B.

A process is of a family when its image hash matches, or it made the family's C2 traffic.
One delivery is kept per host and pair of families (the first), with all its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wormsign.intel.sql import KEYED_COLUMNS, REF


@dataclass(slots=True)
class Delivery:
    """ "A delivered B on host at ts", with the event that shows it and the supporting events."""

    from_family: str
    to_family: str
    host: str
    ts: datetime
    ref: str  # the start (or spawn) of the delivered process
    method: str  # write-start | spawn
    file: str | None
    evidence: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The incidents.json ``deliveries`` entry, plus method, file and evidence."""
        return {
            "from_family": self.from_family,
            "to_family": self.to_family,
            "host": self.host,
            "ts": _iso(self.ts),
            "ref": self.ref,
            "method": self.method,
            "file": self.file,
            "evidence": self.evidence,
        }

    def __str__(self) -> str:
        return f"{self.from_family} delivered {self.to_family} on host {self.host} at {_iso(self.ts)}"


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


_QUERY = """
WITH pf AS (  -- processes known to be of a family
    SELECT DISTINCT host, entity_id, family FROM {m}
    WHERE target = 'process' AND entity_id IS NOT NULL AND kind IN ('hash', 'ip_port', 'ip', 'url', 'domain')),
img AS (  -- events whose process image hash is a family's
    SELECT DISTINCT ref, family FROM {m} WHERE kind = 'hash' AND target = 'process'),
fil AS (  -- file events whose written file hash is a family's
    SELECT DISTINCT ref, family FROM {m} WHERE kind = 'hash' AND target = 'file'),
write_start AS (
    SELECT p.host, a.family AS from_family, coalesce(img.family, fil.family) AS to_family, p.ts,
           {ref_p} AS ref, 'write-start' AS method, w."file.path" AS file, [{ref_w}, {ref_p}] AS ev, 0 AS prio
    FROM {ev} w
    JOIN pf a ON a.host = w.host AND a.entity_id = w."process.entity_id"
    JOIN {ev} p ON p.kind = 'process' AND p.host = w.host AND p.ts >= w.ts
        AND lower(p."process.executable") = lower(w."file.path")
    LEFT JOIN img ON img.ref = {ref_p}
    LEFT JOIN fil ON fil.ref = {ref_w}
    WHERE w.kind = 'file' AND w."file.path" IS NOT NULL
      AND coalesce(img.family, fil.family) IS NOT NULL AND coalesce(img.family, fil.family) <> a.family),
spawn AS (
    SELECT p.host, a.family, img.family, p.ts, {ref_p}, 'spawn', p."process.executable", [{ref_p}], 1
    FROM {ev} p
    JOIN pf a ON a.host = p.host AND a.entity_id = p."process.parent.entity_id"
    JOIN img ON img.ref = {ref_p}
    WHERE p.kind = 'process' AND img.family <> a.family),
allx AS (SELECT *, epoch_us(ts) * 2 + prio AS k FROM (SELECT * FROM write_start UNION ALL SELECT * FROM spawn))
SELECT host, from_family, to_family, min(ts) AS ts, arg_min(ref, k) AS ref, arg_min(method, k) AS method,
       arg_min(file, k) AS file, list_sort(list_distinct(flatten(list(ev)))) AS evidence
FROM allx GROUP BY host, from_family, to_family
"""
#: The matches' view on Spark.
_SHIPPED = "_ws_intel_matches_shipped"
_FOUND = "_ws_deliveries"


def find_deliveries(case: Any, match_table: str, *, max_evidence: int = 20) -> list[Delivery]:
    """Every (host, from family, to family) delivery in the case, earliest first."""
    def query(events: str, matches: str) -> str:
        return _QUERY.format(ev=events, m=matches, ref_p=REF.format(a="p"), ref_w=REF.format(a="w"))

    order = "ORDER BY ts, host, from_family, to_family"
    if case.scans is None:
        rows = case.rows(f"SELECT * FROM ({query('events', match_table)}) {order}")
    else:  # on Spark over the resolved events there, the matches shipped to it
        from wormsign.engine import passes

        case.scans.view_table(_SHIPPED, case.query(f"SELECT * FROM {match_table}"))
        case.engine.execute(f"CREATE OR REPLACE TEMP TABLE {_FOUND} AS {query('events', match_table)} LIMIT 0")
        # the keyed events the matches' pass cached (the same columns) serve this one
        passes.run_keyed(case, case.shard_ids(), KEYED_COLUMNS,
                         lambda src: [(f"INSERT INTO {_FOUND} BY NAME {query(src, _SHIPPED)}", [])])
        case.scans.forget_keyed()
        rows = case.rows(f"SELECT * FROM {_FOUND} {order}")
    return [
        Delivery(a, b, host, ts, ref, method, file, list(ev)[:max_evidence])
        for host, a, b, ts, ref, method, file, ev in rows
    ]


def summary(deliveries: list[Delivery]) -> list[dict[str, Any]]:
    """Deliveries per pair of families: count of hosts, first and last time."""
    acc: dict[tuple[str, str], list[Delivery]] = {}
    for d in deliveries:
        acc.setdefault((d.from_family, d.to_family), []).append(d)
    return [
        {
            "from_family": a,
            "to_family": b,
            "count": len(ds),
            "hosts": sorted({d.host for d in ds}),
            "first": _iso(min(d.ts for d in ds)),
            "last": _iso(max(d.ts for d in ds)),
        }
        for (a, b), ds in sorted(acc.items())
    ]
