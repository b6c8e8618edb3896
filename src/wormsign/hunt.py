"""The hunt: run the detections on a case, rebuild the outbreak, save incidents and alerts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import networkx as nx
import orjson
import pyarrow as pa

from wormsign.detect import access, baseline, candidates, config, prep, rules, working
from wormsign.engine import records
from wormsign.graph import deploy, hops, replicate
from wormsign.graph.files import exe_path
from wormsign.graph.incidents import other_incidents
from wormsign.graph.outbreak import outbreak_incident
from wormsign.graph.select import select_infections
from wormsign.graph.tree import Tree, build_forest
from wormsign.results import Alert, IncidentsDocument, iso, parse_time
from wormsign.store import Case

log = logging.getLogger(__name__)

FORMAT = "wormsign.incidents/1"
#: Columns of ``events`` a hunt reads (bench/bench_hunt.py scans these for its baseline).
COLUMNS = candidates.columns()
BRUTE_RULES = ("bruteforce", "spray", "lockout-storm")
TIE_RULES = (*BRUTE_RULES, "beacon", "loader-payload")


@dataclass(slots=True)
class HuntResult:
    """What a hunt found: the incidents.json document and the alerts, as JSON (``document``,
    ``alerts``) and as typed records (``records``, ``alert_records``: :mod:`wormsign.results`)."""

    document: dict[str, Any]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    records: IncidentsDocument | None = None
    alert_records: list[Alert] = field(default_factory=list)

    @property
    def incidents(self) -> list[dict[str, Any]]:
        return list(self.document["incidents"])

    def incidents_table(self) -> pa.Table:
        """One row per incident: its scalar keys, the hosts and alerts it names as lists."""
        cols = ("id", "type", "severity", "title", "first_seen", "last_seen", "first_alert", "patient_zero")
        incs = self.incidents
        table = {c: pa.array([i.get(c) for i in incs], pa.string()) for c in cols}
        table["hosts"] = pa.array([[h.get("host") for h in i.get("hosts") or []] for i in incs],
                                  pa.list_(pa.string()))
        table["alerts"] = pa.array([list(i.get("alerts") or []) for i in incs], pa.list_(pa.string()))
        return pa.table(table)

    def alerts_table(self) -> pa.Table:
        """One row per alert: its scalar keys, target hosts and evidence as lists, ``ts`` a time."""
        cols = ("id", "rule", "title", "severity", "host", "source_host", "summary")
        al = self.alerts
        table: dict[str, pa.Array] = {c: pa.array([a.get(c) for a in al], pa.string()) for c in cols}
        for c in ("ts", "first_seen", "last_seen"):
            table[c] = pa.array([_parse(a.get(c)) for a in al], pa.timestamp("us", tz="UTC"))
        table["target_hosts"] = pa.array([list(a.get("target_hosts") or []) for a in al], pa.list_(pa.string()))
        table["evidence"] = pa.array([list(a.get("evidence") or []) for a in al], pa.list_(pa.string()))
        return pa.table(table)


def _generator() -> str:
    try:
        from importlib.metadata import version

        return f"wormsign {version('wormsign')}"
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "wormsign"


def _intel(case: Case, intel: object | None) -> tuple[dict[str, list[str]], dict[str, Any] | None]:
    """Families per host and the incident keys from the intel engineer's attribution, if any."""
    if intel is None:
        return {}, None
    att = intel
    if isinstance(intel, str):
        from wormsign.intel import attribute  # imported when used: intel's stores are not needed otherwise

        att = attribute(case, intel)
    hosts = getattr(att, "hosts", {}) or {}
    fams = {h: sorted({getattr(f, "family", str(f)) for f in fs}) for h, fs in hosts.items()}
    doc = att.to_incident() if hasattr(att, "to_incident") else None
    return fams, doc


def _sigma(case: Case, dirs: list[str] | None) -> list[dict[str, Any]]:
    """Alerts of the Sigma engine: None runs none, [] the in-house rules, else those and ``dirs``."""
    if dirs is None:
        return []
    from wormsign.detect.sigma import run_sigma  # imported when used: pySigma is slow to import

    res = run_sigma(case, list(dirs))
    out = getattr(res, "alerts", res)
    return [dict(a) for a in out or []]


# The caller of a service install a Sigma alert cites first (``h_callers``, detect/prep.py:
# the host that logged on over the network just before; a 7045 names none).
CALLERS = """
WITH a AS (SELECT unnest(?::BIGINT[]) AS i, unnest(?::VARCHAR[]) AS host, unnest(?::VARCHAR[]) AS ref)
SELECT a.i, c.caller FROM a JOIN h_execs x
  ON x.method = 'service' AND x.via = 'install' AND x.host = a.host AND x.ref = a.ref
JOIN h_callers c ON c.xid = x.xid
"""


def _install_callers(case: Case, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sigma alerts of a service install name the host itself as the one that acted: name the
    caller instead, when a network logon from another host came just before."""
    todo = [(i, a) for i, a in enumerate(alerts)
            if a.get("evidence") and a.get("source_host") in (None, a.get("host")) and a.get("host")]
    if todo:
        rows = case.rows(CALLERS, [[i for i, _ in todo], [a["host"] for _, a in todo],
                                   [a["evidence"][0] for _, a in todo]])
        for i, caller in rows:
            alerts[i]["source_host"] = caller
    return alerts


# One edge per source, target, file and hour: the copy, the service install, the process start
# and the RPC calls of one infection are one step. Its evidence is read for the edges that
# are infections only (:data:`EDGE_EVIDENCE`): most edges are routine deployments.
EDGES = """
SELECT source, target, min(ts) AS ts, arg_min(method, (ts, evidence)) AS method, fname,
       arg_min(fpath, (ts, evidence)) AS fpath, max(sha256) AS sha256, arg_min(account, (ts, evidence)) AS account,
       arg_min(kind, (ts, evidence)) AS kind, min(drop_ts) AS drop_ts, time_bucket(INTERVAL 1 HOUR, ts) AS bucket
FROM h_edges
WHERE source IS NOT NULL AND target IS NOT NULL
  AND NOT (regexp_full_match(source, '[0-9.]+|[0-9a-f:]+') AND NOT regexp_matches(source, ?))
GROUP BY source, target, fname, bucket
ORDER BY ts, source, target, fname
"""

# The evidence of the edges (source, target, file, hour) numbered ``i``: the first 20 distinct
# references in time order.
EDGE_EVIDENCE = """
WITH k AS (SELECT unnest(?::BIGINT[]) AS i, unnest(?::VARCHAR[]) AS source, unnest(?::VARCHAR[]) AS target,
                  unnest(?::VARCHAR[]) AS fname, unnest(?::TIMESTAMPTZ[]) AS bucket)
SELECT i, list_slice(ws_uniq(ev), 1, 20) AS evidence FROM (
    SELECT k.i, list_slice(flatten(list(e.evidence ORDER BY e.ts, e.evidence)), 1, 80) AS ev
    FROM k JOIN h_edges e ON e.source = k.source AND e.target = k.target
     AND e.fname IS NOT DISTINCT FROM k.fname AND time_bucket(INTERVAL 1 HOUR, e.ts) = k.bucket
    GROUP BY k.i)
"""


def _edges(case: Case, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Propagation edges between hosts of the network (an outside address is no infector: the
    host it reached is where the outbreak entered), without their evidence (:func:`_evidence`)."""
    return records(case.query(EDGES, [cfg["internal_re"]]))


# The SHA-256 of the program an edge started on its target (a scheduled task names no hash; the
# target's process start does): the process start of the edge's file on the target nearest the
# edge, within the execution window.
EDGE_HASH = """
WITH k AS (SELECT unnest(?::BIGINT[]) AS i, unnest(?::VARCHAR[]) AS host, lower(unnest(?::VARCHAR[])) AS path,
                  unnest(?::TIMESTAMPTZ[]) AS ts)
SELECT k.i, arg_min(p.sha256, (abs(epoch(p.ts) - epoch(k.ts)), p.ts, p.sha256)) FROM k JOIN (
    SELECT host, ts, lower("process.executable") AS exe, "process.hash.sha256" AS sha256 FROM ({events})
    WHERE kind = 'process' AND "process.hash.sha256" IS NOT NULL AND list_contains(?, host)
      AND ts >= ? AND ts <= ?) p
  ON p.host = k.host AND p.exe = k.path AND p.ts BETWEEN k.ts - to_seconds(?) AND k.ts + to_seconds(?)
GROUP BY k.i
"""


def _hashes(case: Case, edges: list[dict[str, Any]], cfg: dict[str, Any]) -> None:
    """Give ``edges`` (rows of :data:`EDGES`) the SHA-256 their target's process start of the file
    has (:data:`EDGE_HASH`), where there is one: an edge's own hash is missing where its events carry
    none, and may be that of another program the execution explains (EDGES takes the largest)."""
    todo = [(i, e) for i, e in enumerate(edges) if e.get("fpath")]
    if not todo:
        return
    w = int(cfg["exec_window_s"])
    lo = min(e["ts"] for _, e in todo) - timedelta(seconds=w)
    hi = max(e["ts"] for _, e in todo) + timedelta(seconds=w)
    hosts = sorted({e["target"] for _, e in todo})
    rows = case.rows(EDGE_HASH.replace("{events}", case.raw_events_sql()),
                     [[i for i, _ in todo], [e["target"] for _, e in todo], [exe_path(e["fpath"]) for _, e in todo],
                      [e["ts"] for _, e in todo], hosts, lo, hi, w, w])
    for i, sha in rows:
        if sha:
            edges[i]["sha256"] = sha


def _evidence(case: Case, edges: list[dict[str, Any]]) -> None:
    """Give ``edges`` (rows of :data:`EDGES`) their evidence."""
    if not edges:
        return
    cols = ("source", "target", "fname", "bucket")
    rows = case.rows(EDGE_EVIDENCE, [list(range(len(edges)))] + [[e[c] for e in edges] for c in cols])
    for i, ev in rows:
        edges[i]["evidence"] = list(ev or [])


def _is_outbreak(tree: Tree, ties: set[str], lure: bool) -> bool:
    """Spread that went on from its targets, or spread by a host tied to brute force, lockouts,
    C2 or a lure (a routine deployment server has none of these)."""
    spreaders = {h for h in tree.hosts if tree.graph.out_degree(h) > 0}
    return tree.depth() >= 2 or bool(ties & spreaders) or lure


def hunt(
    case: Case,
    *,
    sigma_rules: list[str] | None = None,
    allowlist: str | None = None,
    intel: object | None = None,
    config: dict[str, Any] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> HuntResult:
    """Run every detection on ``case``, rebuild the outbreaks, save both into the case.

    ``start``, ``end``: consider only the events with ``start <= ts < end`` (either may be
    None; a time without a zone is UTC). The case is resolved as a whole first; the hunt then
    reads its events through a TEMP view of ``events`` limited to the window, computes every
    working table from it, and neither reads nor writes the tables stored for the whole case
    (``hunt_index`` and those beside it, the Sigma field cache). Its incidents and alerts
    replace the last hunt's, like any hunt's, and the document names the window."""
    cfg = _config(config)
    _resolve(case)
    window = Window.of(start, end)
    with _settings(case), _windowed(case, window):
        return _hunt(case, cfg, sigma_rules, allowlist, intel, window)


@dataclass(frozen=True, slots=True)
class Window:
    """A hunt's time window: ``start <= ts < end`` (UTC; None: open on that side)."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def of(cls, start: datetime | None, end: datetime | None) -> Window | None:
        """The window of ``start`` and ``end`` (a naive time is UTC); None when both are None."""
        if start is None and end is None:
            return None
        start, end = (t if t is None or t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
        if start is not None and end is not None and end <= start:
            raise ValueError(f"the time window is empty: --to {iso(end)} is not after --from {iso(start)}")
        return cls(start.astimezone(UTC) if start else None, end.astimezone(UTC) if end else None)

    def where(self) -> str:
        """The SQL condition on ``ts`` (literals: a view takes no parameters; the values are
        datetimes formatted here, never text from outside)."""
        parts = []
        if self.start is not None:
            parts.append(f"ts >= TIMESTAMPTZ '{self.start.isoformat()}'")
        if self.end is not None:
            parts.append(f"ts < TIMESTAMPTZ '{self.end.isoformat()}'")
        return " AND ".join(parts)

    def to_json(self) -> dict[str, str | None]:
        return {"from": iso(self.start) if self.start else None, "to": iso(self.end) if self.end else None}


@contextmanager
def _windowed(case: Case, window: Window | None) -> Iterator[None]:
    """``events`` limited to ``window`` for the time of the hunt: a TEMP view that hides the
    case's own view from this connection (DuckDB looks in the temporary schema first)."""
    if window is None:
        yield
        return
    db = case.rows("SELECT current_database()")[0][0]
    main = '"' + str(db).replace('"', '""') + '".main.events'
    case.engine.execute(f"CREATE OR REPLACE TEMP VIEW events AS SELECT * FROM {main} WHERE {window.where()}")
    case.scope = window.where()
    try:
        yield
    finally:
        case.scope = None
        case.engine.execute("DROP VIEW IF EXISTS temp.main.events")


class _ReadOnlyEngine:
    """The case's engine, said to be read-only: the Sigma engine then keeps its field table
    TEMP (as it does for a reader) instead of storing it as the case's cache."""

    read_only = True

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


class _Unstored:
    """The case as the Sigma engine sees it in a windowed hunt: its stored field cache (the
    whole case's events) is neither read (no cache meta) nor written (a read-only engine; any
    other meta write fails loudly rather than store windowed data)."""

    def __init__(self, case: Case) -> None:
        self._case = case
        self.engine = _ReadOnlyEngine(case.engine)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._case, name)

    def get_meta(self, key: str, default: Any = None) -> Any:
        from wormsign.detect.sigma.fields import CACHE

        return default if key == CACHE else self._case.get_meta(key, default)

    def set_meta(self, key: str, value: Any) -> None:
        raise RuntimeError(f"a windowed hunt stores nothing for the whole case (meta {key!r})")


def _settings(case: Case) -> AbstractContextManager[None]:
    """Engine settings for the hunt's working tables: no insertion order to keep, and at most
    half of the machine's memory (the rest for the graph work in Python); bigger working
    tables spill to DuckDB's temporary folder beside the case (:meth:`Case.bounded`)."""
    return case.bounded(preserve_insertion_order="false")


def _ties(alerts: list[dict[str, Any]], lead: timedelta) -> dict[str, datetime]:
    """When each host was first tied to brute force, lockouts, C2 or a loader (less ``lead``)."""
    tie_at: dict[str, datetime] = {}
    for a in alerts:
        h = a.get("source_host") if a["rule"] in BRUTE_RULES else a["host"]
        if a["rule"] in TIE_RULES and h and a.get("first_seen"):
            t = _parse(a["first_seen"]) - lead  # type: ignore[operator]
            tie_at[h] = min(tie_at.get(h, t), t)
    return tie_at


def _hunt(case: Case, cfg: dict[str, Any], sigma_rules: list[str] | None, allowlist: str | None,
          intel: object | None, window: Window | None = None) -> HuntResult:
    with case.transaction():
        working.prepare(case, cfg, stored=window is None)
    every = rules.load_rules()
    alerts = rules.run_rules(case, cfg, [r for r in every if r.id not in rules.LATE])
    lead = timedelta(seconds=int(cfg["exec_window_s"]))
    base = baseline.learn(case, cfg, allowlist)
    edges = _edges(case, cfg)
    # Beaconing and loader payloads are looked for on implicated hosts only: the hosts of the
    # infections the other detections support, deployers and the hosts they pushed to (C2 from
    # either makes the push a worm's: graph/deploy.py) and brute-forcing hosts (prep.implicate
    # adds hosts where a program wrote an executable).
    # (an attempt with no address nor confirmed host names no source: no host to implicate)
    bruteforcers = {a["source_host"] for a in alerts if a["rule"] in BRUTE_RULES and a["source_host"]}
    pre = select_infections(edges, base, _ties(alerts, lead), cfg)
    kept = {id(e) for e in pre}
    pushed = {h for e in edges if id(e) not in kept and e["kind"] != "exploit" for h in (e["source"], e["target"])}
    prep.implicate(case, cfg, {h for e in pre for h in (e["source"], e["target"])}
                   | base.deployers | base.allow_hosts | bruteforcers | pushed)
    alerts += rules.run_rules(case, cfg, [r for r in every if r.id in rules.LATE])
    alerts += _install_callers(case, _sigma(case if window is None else _Unstored(case), sigma_rules))  # type: ignore[arg-type]
    for a in alerts:  # one time form, so that the times compare as text (results.TIME_FORMAT)
        for k in ("ts", "first_seen", "last_seen"):
            a[k] = iso(parse_time(a.get(k)))
    alerts.sort(key=lambda a: (a.get("ts") or "", a["rule"], a.get("host") or "", a.get("summary") or "",
                               a.get("evidence") or []))
    alerts = [{"id": f"ALR-{i:06d}", **{k: v for k, v in a.items() if k != "id"}} for i, a in enumerate(alerts, 1)]
    for a in alerts:
        a.setdefault("target_hosts", [])
        a.setdefault("evidence", [])
        a.setdefault("fields", {})

    tie_at = _ties(alerts, lead)
    copies = replicate.self_copies(case, edges, base, tie_at, cfg)  # a worm's first generation
    tie_at.update(copies)
    infections = select_infections(edges, base, tie_at, cfg, copies)
    _evidence(case, infections)
    _hashes(case, infections, cfg)
    forest = build_forest(infections, tie_at)
    lockouts = [
        {"account": r["account"], "ts": iso(r["ts"]), "source_host": r["source"], "dc": r["dc"], "ref": r["ref"]}
        for r in records(case.query("SELECT * FROM h_lockouts ORDER BY ts"))
    ]
    families, intel_doc = _intel(case, intel)

    def deploys(since: dict[str, datetime]) -> list[deploy.Deployment]:
        return deploy.deployments(edges, since, base, tie_at, alerts, cfg)

    incidents, used, locks_used, deps = _outbreaks(case, cfg, forest, alerts, lockouts, tie_at, bruteforcers,
                                                   families, intel_doc, deploys)
    incidents += other_incidents([a for a in alerts if a["id"] not in used],
                                  [lk for i, lk in enumerate(lockouts) if i not in locks_used],
                                  routine=lambda a: base.routine_alert(a, bruteforcers),
                                  deployers=base.deployers | base.allow_hosts, deploys=deps, lead=lead,
                                  tied=tie_at)
    for i, inc in enumerate(incidents, 1):
        inc["id"] = f"INC-{i:04d}"
    # The typed records (results.py), and the JSON written through them: one time form.
    typed = IncidentsDocument.model_validate({
        "format": FORMAT, "generator": _generator(), "generated_at": datetime.now(UTC),
        "case": case.path, "incidents": incidents, "window": window.to_json() if window is not None else None,
    })
    alert_records = [Alert.model_validate(a) for a in alerts]
    doc = typed.to_json()
    alerts = [a.to_json() for a in alert_records]
    save(case, doc, alerts)
    return HuntResult(doc, alerts, typed, alert_records)


def _outbreaks(
    case: Case, cfg: dict[str, Any], forest: list[Tree], alerts: list[dict[str, Any]],
    lockouts: list[dict[str, Any]], tie_at: dict[str, datetime], bruteforcers: set[str],
    families: dict[str, list[str]], intel_doc: dict[str, Any] | None,
    deploys: Callable[[dict[str, datetime]], list[deploy.Deployment]],
) -> tuple[list[dict[str, Any]], set[str], set[int], list[deploy.Deployment]]:
    """Outbreak incidents, the alert ids and the lockouts (by index) they took, and the
    deployments outside them (``deploys`` of each outbreak host's infection time less the lead)."""
    lead = timedelta(seconds=int(cfg["exec_window_s"]))
    ties = set(tie_at)
    incidents: list[dict[str, Any]] = []
    used: set[str] = set()
    locks_used: set[int] = set()
    chosen: list[tuple[Tree, list[dict[str, Any]], dict[str, str]]] = []
    for tree in forest:
        first = min(tree.infected_at.values())
        chain = access.initial_access(case, tree.root, first, cfg)
        exploit = next((r for r in chain if r["step"] == "exploit"), None)
        if chain and (exploit or access.is_lure(chain, cfg)):  # infected when the lure ran or the exploit hit
            tree.infected_at[tree.root] = min(tree.infected_at[tree.root], chain[0]["ts"])
        for r in chain:
            r["ts"] = iso(r["ts"])
        if not _is_outbreak(tree, ties, access.is_lure(chain, cfg)):
            continue
        since = {h: iso(t - lead) or "" for h, t in tree.infected_at.items()}
        if chain:
            since[tree.root] = min(since.get(tree.root, "9"), str(chain[0]["ts"]))
        if exploit is not None:  # the outside address's alerts from the exploit on are the outbreak's entry
            since.setdefault(str(exploit["source"]), str(exploit["ts"]))
        chosen.append((tree, chain, since))
    # A host that came in through a lure and then attacked others, with no spread seen yet.
    done = {h for tree, _, _ in chosen for h in tree.hosts}
    for h in sorted(bruteforcers - done):
        if not h or h not in tie_at:
            continue
        # the chain up to its first attack on others (its first tie may be the payload's write)
        attack = _parse(min(str(a["first_seen"]) for a in alerts
                            if a["rule"] in BRUTE_RULES and a.get("source_host") == h))
        chain = access.initial_access(case, h, max(tie_at[h] + lead, attack or tie_at[h]), cfg)
        if not access.is_lure(chain, cfg):
            continue
        g = nx.DiGraph()
        g.add_node(h)
        tree = Tree(g, h, {h: chain[0]["ts"]})
        for r in chain:
            r["ts"] = iso(r["ts"])
        chosen.append((tree, chain, {h: chain[0]["ts"]}))
    deps = deploys({h: t - lead for tree, _, _ in chosen for h, t in tree.infected_at.items()})
    routine = deploy.routine_pairs(deps)
    infected = {h for tree, _, _ in chosen for h in tree.hosts}
    for tree, chain, since in chosen:
        mine = _fused(alerts, tree, since)
        members = set(tree.hosts)
        locks = [lk for i, lk in enumerate(lockouts)
                 if lk["source_host"] in members and not locks_used.add(i)]
        # a Sigma alert on lockouts the outbreak holds is the outbreak's: its source is the name
        # the failed logons claimed (random per attempt for a worm), not a host
        held, taken = {lk["ref"] for lk in locks}, {a["id"] for a in mine} | used
        mine += [a for a in alerts if a["rule"].startswith("sigma:") and a["id"] not in taken
                 and held.intersection(a.get("evidence") or ())]
        inc = outbreak_incident(tree, mine, locks, chain, families, intel_doc, routine)
        inc["next_hops"] = hops.next_hops(case, tree.infected_at, {e["account"] for e in inc["edges"] if e["account"]},
                                          {e["method"] for e in inc["edges"]}, cfg, infected)
        incidents.append(inc)
        used.update(a["id"] for a in mine)
    return incidents, used, locks_used, deps


def _resolve(case: Case) -> None:
    """Resolve addresses to hosts if the case changed since (the resolver's ``ensure_resolved``)."""
    from wormsign.resolve import ensure_resolved

    ensure_resolved(case)


def _fused(alerts: list[dict[str, Any]], tree: Tree, since: dict[str, str]) -> list[dict[str, Any]]:
    """The alerts of a tree's hosts from the time each host joined the outbreak on."""
    out = []
    for a in alerts:
        for h in (a.get("host"), a.get("source_host")):
            if h in since and (a.get("last_seen") or a.get("ts") or "") >= since[h]:
                out.append(a)
                break
    return out


def _config(overrides: dict[str, Any] | None) -> dict[str, Any]:
    return config.load(overrides)


def save(case: Case, document: dict[str, Any], alerts: list[dict[str, Any]]) -> None:
    """Store the document (meta ``hunt``) and the alerts (table ``alerts``), replacing earlier ones."""
    eng = case.engine
    with case.transaction():
        case.set_meta("hunt", document)
        eng.execute("DROP TABLE IF EXISTS alerts")
        eng.execute(
            "CREATE TABLE alerts (id VARCHAR, rule VARCHAR, severity VARCHAR, ts TIMESTAMPTZ, host VARCHAR, doc VARCHAR)"
        )
        if alerts:
            tbl = pa.table({
                "id": [a["id"] for a in alerts], "rule": [a["rule"] for a in alerts],
                "severity": [a["severity"] for a in alerts],
                "ts": pa.array([_parse(a.get("ts")) for a in alerts], type=pa.timestamp("us", tz="UTC")),
                "host": [a.get("host") for a in alerts],
                "doc": [orjson.dumps(a, default=str).decode() for a in alerts],
            })
            eng.append("alerts", tbl)
    # Committed: publish it beside the case for `wormsign serve`, which reads it while the next
    # hunt holds the case (wormsign.api.published).
    from wormsign.api.published import publish

    publish(case, document, alerts)


def _parse(t: str | None) -> datetime | None:
    if not t:
        return None
    return datetime.fromisoformat(t.replace("Z", "+00:00"))


def _callable() -> None:
    """``wormsign.hunt(case)``: this module called is :func:`wormsign.library.hunt`, the command
    line's hunt (in-house Sigma rules included; :func:`hunt` here runs none unless told)."""
    from wormsign.library import callable_module
    from wormsign.library import hunt as public_hunt

    callable_module(__name__, public_hunt)


_callable()
