"""The next likely hops of an outbreak: hosts not infected yet that infected hosts already reach
the way the outbreak spreads, ranked, with the evidence.

An infected host reaches another, from the time it was infected on, when

* ``account``: a network logon to it from the infected host used an account of the outbreak's
  infection edges (the worm's credentials work there); ``credential``: such an account logged on
  to it from another host, since the outbreak began (the credentials the worm holds work there);
* ``exploit``: the outbreak spreads by an SMB exploit, and the infected host opened an SMB session
  to it that carried a payload (what its infections looked like);
* ``attempt``: failed logons to it came from the infected host, or the infected host wrote a
  file to its admin share that never ran;
* ``method``: other network logons or SMB sessions (port 445, what the worms spread over) from the
  infected host.

Hosts come before bare addresses (no host was seen holding them). The score (``next_hop_weights``, detect/config.yaml) adds a weight per distinct infected host
reaching it, per distinct account of the spread that reaches it, and per kind of contact; the later the last contact, the
higher among equals. Reads the hunt's working tables (``h_logons``, ``h_authfail``, ``h_drops``,
``h_smb``; detect/prep.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from wormsign.store import Case

# Contacts from infected hosts (after their infection) to hosts outside the outbreak; ``k`` holds
# the infected hosts and their infection times, ``a`` the accounts of the spread (lower-case, no
# domain). Targets: host keys, or addresses of the network (an outside address is no next hop).
CONTACTS = """
WITH k AS (SELECT unnest(?::VARCHAR[]) AS host, unnest(?::TIMESTAMPTZ[]) AS since),
a AS (SELECT unnest(?::VARCHAR[]) AS acct),
c AS (
    -- the spread's accounts log on there (from any host: the worm holds credentials that work there)
    SELECT l.source, l.target, l.ts, l.ref,
           CASE WHEN l.source IN (SELECT host FROM k) AND l.ts >= (SELECT since FROM k WHERE host = l.source)
                THEN 'account' ELSE 'credential' END AS reason, l.account
    FROM h_logons l
    WHERE lower(split_part(split_part(coalesce(l.account, ''), '@', 1), '\\', -1)) IN (SELECT acct FROM a)
      AND l.ts >= (SELECT min(since) FROM k)
    UNION ALL
    -- other network logons from an infected host (it holds a session, and credentials, there)
    SELECT l.source, l.target, l.ts, l.ref, 'method', l.account
    FROM h_logons l JOIN k ON k.host = l.source AND l.ts >= k.since
    WHERE lower(split_part(split_part(coalesce(l.account, ''), '@', 1), '\\', -1)) NOT IN (SELECT acct FROM a)
    UNION ALL
    SELECT f.source, f.target, f.ts, f.ref, 'attempt', f.account
    FROM h_authfail f JOIN k ON k.host = f.source AND f.ts >= k.since
    WHERE f.ok_ts IS NULL
    UNION ALL
    SELECT d.source, d.target, d.ts, d.ref, 'attempt', d.account
    FROM h_drops d JOIN k ON k.host = d.source AND d.ts >= k.since
    UNION ALL
    SELECT s.source, s.target, s.ts, s.ref, CASE WHEN s.strong AND ? THEN 'exploit' ELSE 'method' END, NULL
    FROM h_smb s JOIN k ON k.host = s.source AND s.ts >= k.since
)
SELECT target, source, reason, account, min(ts) AS first, max(ts) AS last, count(*) AS n,
       list_slice(list(ref ORDER BY ts, ref), 1, 3) AS refs
FROM c
WHERE target IS NOT NULL AND target <> source AND target NOT IN (SELECT host FROM k) AND NOT list_contains(?, target)
  AND NOT (regexp_full_match(target, '[0-9.]+|[0-9a-f:]+') AND NOT regexp_matches(target, ?))
GROUP BY ALL
ORDER BY target, first, source, reason, account
"""

_TABLES = ("h_logons", "h_authfail", "h_drops", "h_smb")
_ADDRESS = re.compile(r"[0-9.]+|[0-9a-f:]+")


def _acct(a: str) -> str:
    return a.split("@", 1)[0].rsplit("\\", 1)[-1].lower()


def _per_source(evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One HOP_EVIDENCE per source and reason (its account when it used one alone), with the first
    contact's time, every contact counted, the first references."""
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for e in sorted(evidence, key=lambda e: e["ts"]):
        g = grouped.get((e["source"], e["reason"]))
        if g is None:
            grouped[(e["source"], e["reason"])] = {**e, "refs": list(e["refs"])}
            continue
        g["count"] += e["count"]
        if g["account"] != e["account"]:
            g["account"] = None
        g["refs"] = (g["refs"] + e["refs"])[:3]
    return list(grouped.values())


def next_hops(case: Case, infected_at: dict[str, datetime], accounts: set[str], methods: set[str],
              cfg: dict[str, Any], infected: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """NEXT_HOP records (docs/formats.md), most likely first, at most ``next_hop_max``: hosts
    outside ``infected_at`` (host -> infection time) that its hosts reach (see the module);
    ``accounts`` and ``methods`` are those of the outbreak's infection edges; hosts of
    ``infected`` (those of the hunt's other outbreaks) are never listed."""
    if not infected_at or not all(case.engine.has_table(t) for t in _TABLES):
        return []
    hosts = sorted(infected_at)
    rows = case.rows(CONTACTS, [hosts, [infected_at[h] for h in hosts], sorted({_acct(a) for a in accounts if a}),
                                "smb-exploit" in methods, sorted(infected), cfg["internal_re"]])
    w = cfg["next_hop_weights"]
    by: dict[str, dict[str, Any]] = {}
    for target, source, reason, account, first, last, n, refs in rows:
        hop = by.setdefault(target, {"host": target, "sources": set(), "accounts": set(), "reasons": set(),
                                     "last": last, "evidence": []})
        if reason != "credential":
            hop["sources"].add(source)
        hop["reasons"].add(reason)
        if reason in ("account", "credential") and account:
            hop["accounts"].add(account)
        hop["last"] = max(hop["last"], last)
        hop["evidence"].append({"source": source, "reason": reason, "account": account, "ts": first,
                                "count": int(n), "refs": list(refs or [])})
    out = []
    for hop in by.values():
        hop["evidence"] = _per_source(hop["evidence"])
        score = (float(w["source"]) * len(hop["sources"]) + float(w["account"]) * len(hop["accounts"])
                 + sum(float(w[r]) for r in hop["reasons"]))
        ev = sorted(hop["evidence"], key=lambda e: ({"exploit": 0, "account": 1, "credential": 2, "attempt": 3, "method": 4}[e["reason"]], e["ts"]))
        out.append({"host": hop["host"], "score": round(score, 3), "sources": sorted(hop["sources"]),
                    "accounts": sorted(hop["accounts"]), "evidence": ev[: int(cfg["next_hop_evidence"])],
                    "_last": hop["last"]})
    # named hosts first: a bare address is one no host was seen holding (a scan's empty address,
    # or a device that sends no logs), listed after them
    out.sort(key=lambda h: (bool(_ADDRESS.fullmatch(h["host"])), -h["score"], -h["_last"].timestamp(), h["host"]))
    out = out[: int(cfg["next_hop_max"])]
    for rank, h in enumerate(out, 1):
        del h["_last"]
        h["rank"] = rank
    return out
