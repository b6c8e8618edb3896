"""Match a case against the intel store in SQL, and attribute hosts and processes to families.

Each kind of match is one join between the case's ``events`` and the indicators:
connections (``destination.ip``/``destination.port``), DNS questions, names and answers,
URLs, and process and file hashes. The matches land in a temporary table; hosts, processes,
C2 addresses and deliveries (:mod:`wormsign.intel.delivery`) are aggregates over it.
Evidence is a list of event references, ``"<src.digest>:<src.record>"``.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from wormsign.intel.attribution import Attribution, C2Seen, HostFamily, ProcessFamily
from wormsign.intel.delivery import find_deliveries
from wormsign.intel.indicators import config
from wormsign.intel.sql import KEYED_COLUMNS, REF
from wormsign.intel.store import ARROW, DDL, TABLE, IntelStore

log = logging.getLogger(__name__)

MATCH = "_ws_intel_match"
_COPY = "_ws_intel"

# Columns of every match row: what matched, where, and which process.
_SELECT = """SELECT '{kind}' AS kind, '{target}' AS target, e.host, e.ts, {ref} AS ref,
    e."process.entity_id" AS entity_id, e."process.executable" AS executable,
    i.family, i.type AS itype, i.value AS ivalue, i.ip AS c2_ip, i.port AS c2_port,
    e."destination.ip" AS dst_ip, e."destination.port" AS dst_port, e."file.path" AS file_path"""

_JOINS: tuple[tuple[str, str, str], ...] = (
    (
        "ip_port",
        "process",
        """FROM {events} e JOIN {intel} i ON i.type = 'ip_port'
        AND e."destination.ip" = i.ip AND e."destination.port" = i.port""",
    ),
    (
        "ip",
        "process",
        """FROM {events} e JOIN {intel} i ON i.type IN ('ip', 'ip_port')
        AND e."destination.ip" = i.ip AND (i.type = 'ip' OR e."destination.port" IS DISTINCT FROM i.port)""",
    ),
    ("url", "process", """FROM {events} e JOIN {intel} i ON i.type = 'url' AND e."url.full" = i.value"""),
    # One equality join per hash column (an OR of two joins would compare every event with
    # every indicator).
    *(
        ("hash", target, f"""FROM {{events}} e JOIN {{intel}} i ON i.type = '{algo}'
        AND lower(e."{target}.hash.{algo}") = i.value""")
        for target in ("process", "file") for algo in ("sha256", "md5")
    ),
    # Every suffix of a DNS question or destination name, then an equality join with the domains.
    (
        "domain",
        "process",
        """FROM (SELECT *, unnest(ws_suffixes(lower(rtrim(coalesce("dns.question.name", "destination.domain"), '.'))))
                  AS _suffix
          FROM {events} WHERE coalesce("dns.question.name", "destination.domain") IS NOT NULL) e
        JOIN {intel} i ON i.type = 'domain' AND e._suffix = i.value""",
    ),
    (
        "dns_answer",
        "process",
        """FROM (SELECT *, regexp_replace(trim(_a), '^::ffff:', '') AS _answer
          FROM (SELECT *, unnest(string_split("dns.answers", ';')) AS _a FROM {events} WHERE "dns.answers" IS NOT NULL)) e
        JOIN {intel} i ON i.type IN ('ip', 'ip_port') AND e._answer = i.ip""",
    ),
)

#: The macro the domain join calls: the suffixes of a dotted name, from each of its first 128
#: labels to its 128th (``a.b.c`` -> ``a.b.c``, ``b.c``, ``c``). Spark's body (the same lists)
#: is beside it: DuckDB's list functions have no Spark translation with bounds that vary.
MACROS = (
    """CREATE OR REPLACE TEMP MACRO ws_suffixes(x) AS list_transform(range(1, least(len(string_split(x, '.')), 128) + 1),
        lambda k: array_to_string(list_slice(string_split(x, '.'), k, 128), '.'))""",
)
SPARK_BODIES = {
    "ws_suffixes": "transform(sequence(1, least(size(split(x, '[.]')), 128)), k -> array_join(slice(split(x, '[.]'), k, 129 - k), '.'))",
}

def noisy_or(weights: list[float]) -> float:
    """Confidence of independent pieces of evidence: 1 - prod(1 - w)."""
    return round(1.0 - math.prod(1.0 - w for w in weights), 3)


def load(intel: str | IntelStore) -> IntelStore:
    """An intel store: as given, a store file, or feeds (a file or a folder) read into memory.

    ``wormsign hunt --intel`` takes any of them, so a simulator's ``feeds/`` folder works as is.
    """
    if isinstance(intel, IntelStore):
        return intel
    path = str(intel)
    if os.path.isfile(path):
        with open(path, "rb") as fh:
            if fh.read(12)[8:12] == b"DUCK":  # a DuckDB file: an intel store
                return IntelStore.open(path, read_only=True)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no intel store or feed at {path}")
    from wormsign.intel.importer import IntelImportError, import_file

    store = IntelStore.open(":memory:")
    files = (
        [path]
        if os.path.isfile(path)
        else sorted(os.path.join(d, n) for d, _, names in os.walk(path) for n in names)
    )
    for f in files:
        try:
            import_file(f, store)
        except (IntelImportError, OSError) as exc:
            log.warning("intel feed %s not read: %s", f, exc)
    return store


def attach(case: Any, intel: str | IntelStore) -> str:
    """Make the indicators visible to the case's engine; returns the table name to query."""
    store = load(intel)
    try:
        if store.engine is case.engine:
            return TABLE
        cols = DDL.split("(", 1)[1].rsplit("PRIMARY KEY", 1)[0].rstrip().rstrip(",")
        case.engine.execute(f"CREATE OR REPLACE TEMP TABLE {_COPY} ({cols})")
        case.engine.append(_COPY, store.table().cast(ARROW))
        return _COPY
    finally:
        if store is not intel:
            store.close()


def build_matches(case: Any, intel_table: str) -> int:
    """Fill the temporary match table (one row per matching event and indicator); returns its size.
    On Spark (``case.scans``) the joins run over the resolved events there, the indicators shipped
    to it, and the matches come back to the catalog."""
    # One row per (type, value, family): the same indicator from two feeds is one match.
    distinct = f"SELECT DISTINCT type, value, family, ip, port FROM {intel_table}"
    for m in MACROS:
        case.engine.execute(m)
    if case.scans is None:
        case.engine.execute(f"CREATE OR REPLACE TEMP TABLE {MATCH} AS {_union('events', f'({distinct})')}")
    else:
        from wormsign.engine import passes

        case.scans.view_table(_SHIPPED, case.query(distinct))
        case.engine.execute(f"CREATE OR REPLACE TEMP TABLE {MATCH} AS {_union('events', f'({distinct})')} LIMIT 0")
        passes.run_keyed(case, case.shard_ids(), KEYED_COLUMNS,
                         lambda src: [(f"INSERT INTO {MATCH} BY NAME {_union(src, _SHIPPED)}", [])])
    return int(case.engine.rows(f"SELECT count(*) FROM {MATCH}")[0][0])


#: The indicators' view on Spark.
_SHIPPED = "_ws_intel_shipped"


def _union(events: str, intel: str) -> str:
    """Every join of :data:`_JOINS` over ``events``, one ``UNION ALL``."""
    return "\nUNION ALL\n".join(
        _SELECT.format(kind=kind, target=target, ref=REF.format(a="e")) + " " + join.format(events=events, intel=intel)
        for kind, target, join in _JOINS
    )


def attribute(case: Any, intel: str | IntelStore) -> Attribution:
    """Attribute the hosts and processes of ``case`` to families with the indicators in ``intel``.

    ``intel`` is an :class:`IntelStore` (its own file, or inside this case) or the path of one.
    """
    build_matches(case, attach(case, intel))
    cfg = config()
    out = Attribution()
    _hosts(case, out, cfg)
    _processes(case, out, cfg)
    _c2(case, out, cfg)
    out.deliveries = find_deliveries(case, MATCH, max_evidence=int(cfg["limits"]["max_evidence"]))
    return out


def _hosts(case: Any, out: Attribution, cfg: dict[str, Any]) -> None:
    n = int(cfg["limits"]["max_evidence"])
    rows = case.rows(
        f"""SELECT host, family, kind, itype, ivalue, count(*), min(ts), max(ts), list(ref ORDER BY ts, ref)[1:{n}]
        FROM {MATCH} GROUP BY ALL ORDER BY host, family, min(ts)"""
    )
    acc: dict[tuple[str, str], HostFamily] = {}
    weights: dict[tuple[str, str], list[float]] = {}
    for host, fam, kind, itype, ivalue, cnt, first, last, refs in rows:
        hf = acc.get((host, fam))
        if hf is None:
            hf = acc[(host, fam)] = HostFamily(host, fam, 0.0, first, last, [], {})
        hf.first_seen, hf.last_seen = min(hf.first_seen, first), max(hf.last_seen, last)
        hf.matches[kind] = hf.matches.get(kind, 0) + cnt
        hf.indicators.append(
            {
                "type": itype,
                "value": ivalue,
                "match": kind,
                "count": cnt,
                "first_seen": first,
                "last_seen": last,
            }
        )
        hf.evidence.extend(r for r in refs if r not in hf.evidence and len(hf.evidence) < n)
        weights.setdefault((host, fam), []).append(float(cfg["confidence"][kind]))
    for key, hf in acc.items():
        hf.confidence = noisy_or(weights[key])
        if hf.confidence >= float(cfg["min_confidence"]):
            out.hosts.setdefault(hf.host, []).append(hf)
    for fams in out.hosts.values():
        fams.sort(key=lambda f: (-f.confidence, f.first_seen))


def _processes(case: Any, out: Attribution, cfg: dict[str, Any]) -> None:
    n = int(cfg["limits"]["max_evidence"])
    rows = case.rows(
        f"""SELECT host, entity_id, min(executable), family, list(DISTINCT kind || '|' || ivalue),
               min(ts), list(ref ORDER BY ts, ref)[1:{n}]
        FROM {MATCH} WHERE target = 'process' AND (entity_id IS NOT NULL OR kind = 'hash')
          AND kind IN ('hash', 'ip_port', 'ip', 'url', 'domain')
        GROUP BY host, entity_id, family, CASE WHEN entity_id IS NULL THEN lower(executable) END
        ORDER BY min(ts)"""
    )
    for host, eid, exe, fam, kinds, first, refs in rows:
        conf = noisy_or([float(cfg["confidence"][k.split("|", 1)[0]]) for k in kinds])
        out.processes.append(ProcessFamily(host, eid, exe, fam, conf, first, list(refs)))


def _c2(case: Any, out: Attribution, cfg: dict[str, Any]) -> None:
    n = int(cfg["limits"]["max_evidence"])
    rows = case.rows(
        f"""SELECT family, c2_ip, CASE WHEN kind = 'ip_port' THEN c2_port END AS port,
               list(DISTINCT host ORDER BY host), min(ts), max(ts), count(*), list(ref ORDER BY ts, ref)[1:{n}]
        FROM {MATCH} WHERE kind IN ('ip_port', 'ip') GROUP BY family, c2_ip, 3 ORDER BY family, c2_ip, 3"""
    )
    for fam, ip, port, hosts, first, last, cnt, refs in rows:
        out.c2.setdefault(fam, []).append(C2Seen(fam, ip, port, list(hosts), first, last, cnt, list(refs)))
