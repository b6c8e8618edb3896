"""Early alerts: the in-house single-event Sigma rules on each request's events, as they arrive.

The live writer (:mod:`wormsign.api.livewriter`) commits what arrives and hunts the whole case
again; a cycle costs about a second and a half on two cores, whatever the size of the batch, since
its 400-odd statements are mostly planning (bench/README.md, "Live ingest"). A worm that copies
itself to an admin share would be seen only after the cycle under way and the next one.

The early lane is a second thread beside the writer. It reads the spool from where the writer
committed, parses each frame with the ingest readers (the records the case will store, the same
``src.digest:src.record`` references), gives the events their host keys from the identities of
the writer's last resolution (:data:`wormsign.resolve.ENRICH` over the batch, in a throwaway
in-memory database), and runs the in-house single-event Sigma rules on them: the rules, the field
table and the scan the hunt uses (:mod:`wormsign.detect.sigma`). Correlations, the analytics and
incidents wait for the hunt: they need the case's history.

A match becomes an alert as the hunt would make it (:func:`wormsign.detect.sigma.alerts.from_matches`:
one per rule, host and run of matches no further apart than the merge gap), unless it falls in a
run the last published hunt already holds (the next hunt extends that alert). Each early alert
has an ``EAR-`` id and ``fields.early: true``. Once a hunt has covered the frames of a match, the
match is dropped: the hunt's own alert replaces it (same rule, host, first time and evidence). An
early alert is provisional: it is not forwarded, and a hunt may not confirm it (a host key the
resolution of the batch itself changes, a rule's hit limit).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from wormsign.api.spool import FrameSource, Pos, Spool
from wormsign.engine.duckdb import DuckDBEngine
from wormsign.results import Alert, parse_time
from wormsign.store import Case

log = logging.getLogger(__name__)

#: The lane's thread: its reading of a request repeats the writer's, whose log already names a
#: rejected record (and which counts it).
THREAD = "wormsign-early-alerts"


class _NotThisThread(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD


def _quiet_ingest() -> None:
    """The ingest modules' loggers leave out what this thread logs (a logger's filter sees only
    its own records, not its children's)."""
    import wormsign.ingest.pipeline  # noqa: F401  the readers and their loggers

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("wormsign.ingest"):
            lg = logging.getLogger(name)
            if not any(isinstance(f, _NotThisThread) for f in lg.filters):
                lg.addFilter(_NotThisThread())


@dataclass(frozen=True, slots=True)
class Match:
    """One event a rule matched: the rule's index in the lane's rules, the scan's row
    (ts, host, ref, source host, *the rule's fields) and the end of the frame that held it."""

    rule: int
    row: tuple[Any, ...]
    end: Pos


class Scratch:
    """A throwaway in-memory database that the Sigma engine reads as a case: ``events`` is one
    batch. Its engine says it is read-only, so the field table is TEMP and nothing is cached."""

    scans = None

    def __init__(self) -> None:
        self.engine = DuckDBEngine(":memory:", threads=1)
        self.engine.read_only = True  # the Sigma engine's test: no stored field cache
        self.engine.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
        self.engine.execute("CREATE TABLE sources (digest VARCHAR)")
        self._rows = 0
        self.identities: Identities | None = None  # those whose tables the database holds

    def load(self, events: pa.Table) -> None:
        self.engine.con.register("_ws_batch", events)
        try:
            self.engine.execute("CREATE OR REPLACE TABLE events AS SELECT * FROM _ws_batch")
        finally:
            self.engine.con.unregister("_ws_batch")
        self._rows = events.num_rows

    # the case's own ways to read and change its database (they use only ``engine``)
    rows = Case.rows
    query = Case.query
    drop = Case.drop
    transaction = Case.transaction

    def count(self) -> int:
        return self._rows

    def get_meta(self, key: str, default: Any = None) -> Any:
        return default

    def set_meta(self, key: str, value: Any) -> None:
        raise RuntimeError("the early lane stores nothing")

    def close(self) -> None:
        self.engine.close()


class Identities:
    """The host keys of the writer's last resolution (``res_applied_res``, ``res_applied_long``),
    applied to a batch with the resolver's own statement."""

    def __init__(self, res: pa.Table | None = None, long: pa.Table | None = None) -> None:
        self.res = res
        self.long = long

    @classmethod
    def of(cls, case: Any) -> Identities:
        """The identities a resolved case holds (none yet: empty)."""
        if not case.engine.has_table("res_applied_res"):
            return cls()
        return cls(case.query("SELECT ip, host, valid_from FROM res_applied_res"),
                   case.query('SELECT short, "full" FROM res_applied_long'))

    def apply(self, db: Scratch) -> None:
        """Set ``source.host``, ``destination.host`` and ``host`` of ``events`` in ``db`` as the
        resolver would with these identities (events without a change keep theirs). The
        resolution's tables are made in ``db`` once per set of identities."""
        from wormsign.resolve import _ENRICH, _RES_INTERVALS, MACRO, NETWORK_FORMATS, NOT_HOST_IPS

        eng = db.engine
        if db.identities is not self:
            eng.execute(MACRO)
            eng.execute("CREATE OR REPLACE TEMP TABLE _ws_res (ip VARCHAR, host VARCHAR, valid_from TIMESTAMPTZ)")
            eng.execute('CREATE OR REPLACE TEMP TABLE _ws_long (short VARCHAR, "full" VARCHAR)')
            eng.execute("CREATE OR REPLACE TEMP TABLE _ws_krb (rid BIGINT, ip VARCHAR, ts TIMESTAMPTZ)")
            if self.res is not None and self.res.num_rows:
                eng.append("_ws_res", self.res)
            if self.long is not None and self.long.num_rows:
                eng.append("_ws_long", self.long)
            eng.execute(_RES_INTERVALS)
            db.identities = self
        eng.execute(f"CREATE OR REPLACE TEMP TABLE _ws_new AS {_ENRICH.format(src='events')}",
                    [list(NOT_HOST_IPS), list(NETWORK_FORMATS)])
        eng.execute('UPDATE events SET "source.host" = n.nsh, "destination.host" = n.ndh, host = n.nhost '
                    "FROM _ws_new n WHERE n.rid = events.eid")


class Rules:
    """The in-house single-event Sigma rules, compiled once (the hunt's own compiled set)."""

    def __init__(self) -> None:
        from wormsign.detect.sigma import alerts, fields, loader, logsources
        from wormsign.detect.sigma.compiled import rule_set

        rs = rule_set([str(loader.BUILTIN)], alerts.settings())
        self.rules = {i: r for i, r in enumerate(rs.rules) if r.output}
        self.sources = logsources.Logsources.from_json(rs.sources) if rs.sources else logsources.load()
        self.fmap = fields.load()
        self.names = {n for r in self.rules.values() for n in r.fields}

    def matches(self, db: Scratch) -> dict[int, list[tuple[Any, ...]]]:
        """Each rule's matching rows of ``db``'s events (the hunt's field table and scan)."""
        from wormsign.detect.sigma import fields
        from wormsign.detect.sigma.scan import scan

        fields.build(db, self.names, self.sources, self.fmap, [r.plan for r in self.rules.values()])  # type: ignore[arg-type]
        rules = dict(self.rules)
        found = scan(db, rules, lambda r, why: log.warning("early alerts: rule %s skipped: %s", r.info.key, why))  # type: ignore[arg-type]
        return {k: v for k, v in found.rows.items() if v}


def known_runs(alerts: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[datetime, datetime]]]:
    """(rule, host) -> the (first, last) times of the published alerts of Sigma rules."""
    out: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    for a in alerts:
        rule, host = a.get("rule"), a.get("host")
        if not (isinstance(rule, str) and rule.startswith("sigma:") and isinstance(host, str)):
            continue
        first, last = parse_time(a.get("first_seen")), parse_time(a.get("last_seen"))
        if first is not None and last is not None:
            out.setdefault((rule, host), []).append((first, last))
    return out


def overlay(rules: dict[int, Any], matches: list[Match], known: dict[tuple[str, str], list[tuple[datetime, datetime]]],
            gap: timedelta) -> list[dict[str, Any]]:
    """The early alerts of ``matches``: those in no run of ``known`` (published alerts, whose
    runs a match within ``gap`` extends), as the hunt would make them."""
    from wormsign.detect.sigma.alerts import from_matches

    by_rule: dict[int, list[tuple[Any, ...]]] = {}
    for m in matches:
        by_rule.setdefault(m.rule, []).append(m.row)
    out: list[dict[str, Any]] = []
    for k in sorted(by_rule):
        rule = rules[k]
        key = f"sigma:{rule.info.key}"
        rows = sorted(set(by_rule[k]), key=lambda r: (r[0], str(r[2])))
        fresh: list[tuple[Any, ...]] = []
        reach: dict[str, list[tuple[datetime, datetime]]] = {}
        for r in rows:
            spans = reach.setdefault(r[1], list(known.get((key, r[1]), [])))
            hit = next((i for i, (f, last) in enumerate(spans) if f - gap <= r[0] <= last + gap), None)
            if hit is None:
                fresh.append(r)
            else:  # the published alert's run goes on: the next hunt extends it
                f, last = spans[hit]
                spans[hit] = (min(f, r[0]), max(last, r[0]))
        out += from_matches(rule.info, fresh, rule.fields)
    out.sort(key=lambda a: (a["ts"], a["rule"], a["host"], a["evidence"][:1]))
    for i, a in enumerate(out, 1):
        a["id"] = f"EAR-{i:06d}"
        a["fields"] = {**a.get("fields", {}), "early": True}
    return [Alert.model_validate(a).to_json() for a in out]


class EarlyLane:
    """The thread (see the module doc). ``stats`` is shown under ``early`` in ``GET /api/live``."""

    def __init__(self, spool: Spool, conf: dict[str, Any]) -> None:
        self.spool = spool
        self.conf = conf
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.pos: Pos | None = None  # the next frame to read; set by the writer's first cycle
        self._matches: list[Match] = []
        self._hunted: Pos | None = None  # the frames before this are in the published hunt
        self._known: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
        self._ident = Identities()
        self._rules: Rules | None = None
        self._shown: list[dict[str, Any]] | None = []  # the overlay, made again when things change
        self.stats: dict[str, Any] = {"batches": 0, "events": 0, "matches": 0, "dropped": 0, "alerts": 0,
                                      "seconds": 0.0, "last_error": None}

    # -- control -------------------------------------------------------------------------
    def start(self, at: Pos) -> None:
        with self._cond:
            if self.pos is None:
                self.pos = at
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=THREAD, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def behind(self) -> Pos | None:
        """The first frame the lane has not read (the spool must keep it)."""
        with self._cond:
            return self.pos

    # -- what the writer tells -------------------------------------------------------------
    def hunted(self, to: Pos, alerts: list[dict[str, Any]], identities: Identities) -> None:
        """A hunt covering the frames before ``to`` published ``alerts``: its matches go."""
        known = known_runs(alerts)
        with self._cond:
            self._hunted = to if self._hunted is None else max(self._hunted, to)
            self._matches = [m for m in self._matches if not m.end <= self._hunted]
            self._known = known
            self._ident = identities
            self._shown = None

    def identities(self, identities: Identities) -> None:
        with self._cond:
            self._ident = identities

    def alerts(self) -> list[dict[str, Any]]:
        """The early alerts now (see the module doc)."""
        with self._cond:
            if self._shown is not None:
                return self._shown
            matches, known = list(self._matches), self._known
        rules = self._rules.rules if self._rules is not None else {}
        gap = timedelta(seconds=self._gap())
        shown = overlay(rules, matches, known, gap) if matches else []
        with self._cond:
            if self._matches == matches and self._known is known:
                self._shown = shown
        self.stats["alerts"] = len(shown)
        return shown

    @staticmethod
    def _gap() -> int:
        from wormsign.detect.sigma.alerts import settings

        return int(settings()["merge_gap_seconds"])

    # -- the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        _quiet_ingest()
        db = Scratch()
        try:
            while True:
                with self._cond:
                    while not self._stop and (self.pos is None or self.spool.norm(self.pos) >= self.spool.end()):
                        self._cond.wait()
                    if self._stop:
                        return
                    at = self.pos
                try:
                    self._batch(db, at)
                    self.stats["last_error"] = None
                except Exception as exc:  # noqa: BLE001 - early alerts are a bonus: the hunt still runs
                    self.stats["last_error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
                    log.exception("early alerts: a batch failed; its events are still hunted")
                    with self._cond:  # past it: the writer commits those frames anyway
                        self.pos = self.spool.end() if self.pos == at else self.pos
        finally:
            db.close()

    def _batch(self, db: Scratch, at: Pos) -> None:
        from wormsign.ingest.base import Batch
        from wormsign.ingest.pipeline import _parse

        t0 = time.thread_time()
        if self._rules is None:
            self._rules = Rules()
        frames = self.spool.read(at, int(self.conf.get("early_max_bytes", 4 << 20)))
        if not frames:
            with self._cond:
                self.pos = self.spool.norm(at)
            return
        tables: list[pa.Table] = []
        ends: dict[str, Pos] = {}  # a frame's digest (its records' references start with it) -> its end
        batch = Batch(tables.append, 1 << 20)  # the frames' rows converted together
        for f in frames:
            src = FrameSource(f)
            _parse(src, False, batch)
            ends[src.digest] = f.end
        batch.drain()
        found: list[Match] = []
        if tables:
            events = pa.concat_tables(tables, promote_options="default")
            events = events.append_column("eid", pa.array(range(events.num_rows), pa.int64()))
            db.load(events)
            with self._cond:
                ident = self._ident
            ident.apply(db)
            last = frames[-1].end
            for k, rows in self._rules.matches(db).items():
                found += [Match(k, tuple(r), ends.get(str(r[2]).rpartition(":")[0], last)) for r in rows]
            self.stats["events"] += events.num_rows
        with self._cond:
            cap = int(self.conf.get("early_max_matches", 100_000))
            self._matches += [m for m in found if self._hunted is None or not m.end <= self._hunted]
            if len(self._matches) > cap:  # the oldest go: a hunt covers them soon
                self.stats["dropped"] += len(self._matches) - cap
                self._matches = self._matches[-cap:]
            self.pos = frames[-1].end
            self._shown = None
        self.stats["batches"] += 1
        self.stats["matches"] += len(found)
        self.stats["seconds"] = round(self.stats["seconds"] + time.thread_time() - t0, 3)
