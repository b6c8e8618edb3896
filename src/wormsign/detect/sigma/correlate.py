"""Sliding-window evaluation of Sigma correlation rules, merged into one burst per window run.

The SQLite backend compiles a correlation into SQL that yields a row for every event at which
the condition holds, so one brute force of 500 attempts is 496 rows. Here the base rules'
matching events (found by the group passes, scan.py) slide through a window of the timespan in
each group's time order: the window ending at an event holds the events of its group from
``timespan`` before it, and consecutive triggering windows that share events are merged, so a
burst gives one alert and two bursts further apart than the timespan give two.

``event_count``, ``value_count`` and ``temporal`` are evaluated in DuckDB (:func:`evaluate_sql`,
window functions over the hits); ``temporal_ordered``, whose metric is an ordered subsequence
match, slides in Python (:func:`evaluate`), which also states the semantics both follow.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

OPS: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}
KINDS = ("event_count", "value_count", "temporal", "temporal_ordered")


@dataclass(frozen=True, slots=True)
class Hit:
    """One event that matched a base rule of a correlation."""

    ts: datetime
    group: tuple[Any, ...]
    rule: str  # which base rule matched
    ref: str
    host: str
    value: Any = None  # the value_count field
    source_host: str | None = None


@dataclass(slots=True)
class Burst:
    """A run of overlapping triggering windows in one group."""

    group: tuple[Any, ...]
    hits: list[Hit]
    peak: int  # the largest metric seen in a triggering window
    values: Counter[Any] = field(default_factory=Counter)

    @property
    def first(self) -> datetime:
        return self.hits[0].ts

    @property
    def last(self) -> datetime:
        return self.hits[-1].ts


def _ordered(window: Sequence[Hit], order: Sequence[str]) -> int:
    """How many rules of ``order`` occur in that order within the window (greedy)."""
    k = 0
    for h in window:
        if k < len(order) and h.rule == order[k]:
            k += 1
    return k


def evaluate(
    hits: Sequence[Hit], kind: str, span: timedelta, op: str, count: int, order: Sequence[str] = ()
) -> list[Burst]:
    """Bursts where ``metric op count`` held in some window of length ``span``.

    ``kind``: event_count (events in the window), value_count (distinct non-null values),
    temporal (distinct base rules), temporal_ordered (base rules seen in ``order``).
    """
    if kind not in KINDS:
        raise ValueError(f"unsupported correlation type {kind!r}")
    test = OPS[op]
    by_group: dict[tuple[Any, ...], list[Hit]] = {}
    for h in hits:
        by_group.setdefault(h.group, []).append(h)
    out: list[Burst] = []
    for group, evts in by_group.items():
        evts.sort(key=lambda h: (h.ts, h.ref))
        seen: Counter[Any] = Counter()
        left = 0
        runs: list[list[int]] = []  # [start, end, peak]
        for i, h in enumerate(evts):
            seen[h.value if kind == "value_count" else h.rule] += 1
            while evts[left].ts < h.ts - span:
                old = evts[left]
                key = old.value if kind == "value_count" else old.rule
                seen[key] -= 1
                if not seen[key]:
                    del seen[key]
                left += 1
            if kind == "event_count":
                metric = i - left + 1
            elif kind == "value_count":
                metric = len(seen) - (1 if None in seen else 0)
            elif kind == "temporal":
                metric = len(seen)
            else:
                metric = _ordered(evts[left : i + 1], order)
            if not test(metric, count):
                continue
            if runs and left <= runs[-1][1]:
                runs[-1][1] = i
                runs[-1][2] = max(runs[-1][2], metric)
            else:
                runs.append([left, i, metric])
        for start, end, peak in runs:
            part = evts[start : end + 1]
            values = (
                Counter(h.value for h in part if h.value is not None) if kind == "value_count" else Counter()
            )
            out.append(Burst(group, part, peak, values))
    out.sort(key=lambda b: (b.first, str(b.group)))
    return out


#: The correlation types :func:`evaluate_sql` computes in the engine.
SQL_KINDS = ("event_count", "value_count", "temporal")
_SQL_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "neq": "<>"}
_HITS = "wormsign_sigma_hits"

# Hits in each group's order (time, reference, order found); ``before``: how many of the group's
# hits are older than the window of this one (the window holds ``before + 1 .. rn``); the metric of
# the window; the triggering windows; a new run where a window starts after the previous
# triggering one ended; each run's span of hits and peak.
BURSTS = """
WITH n AS (
    SELECT i, g, ts, ref, val, rule,
           row_number() OVER (PARTITION BY g ORDER BY ts, ref, i) AS rn,
           count(*) OVER (PARTITION BY g ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND ?::INTERVAL PRECEDING)
               AS before
    FROM {hits}
), m AS (
    SELECT *, {metric} AS metric FROM n
), t AS (
    SELECT g, rn, before + 1 AS lo, metric,
           CASE WHEN before + 1 > lag(rn) OVER (PARTITION BY g ORDER BY rn) THEN 1
                WHEN lag(rn) OVER (PARTITION BY g ORDER BY rn) IS NULL THEN 1 ELSE 0 END AS new
    FROM m WHERE metric {op} ?
), r AS (
    SELECT g, sum(new) OVER (PARTITION BY g ORDER BY rn) AS run, lo, rn, metric FROM t
), b AS (
    SELECT g, run, min(lo) AS lo, max(rn) AS hi, max(metric) AS peak FROM r GROUP BY g, run
)
SELECT b.peak, list(n.i ORDER BY n.rn) AS hits
FROM b JOIN n ON n.g IS NOT DISTINCT FROM b.g AND n.rn BETWEEN b.lo AND b.hi
GROUP BY b.g, b.run, b.peak
"""
_METRIC = {
    "event_count": "rn - before",
    "value_count": "count(DISTINCT val) OVER (PARTITION BY g ORDER BY ts, ref, i "
                   "ROWS BETWEEN (rn - before - 1) PRECEDING AND CURRENT ROW)",
    "temporal": "count(DISTINCT rule) OVER (PARTITION BY g ORDER BY ts, ref, i "
                "ROWS BETWEEN (rn - before - 1) PRECEDING AND CURRENT ROW)",
}


def evaluate_sql(
    engine: Any, hits: Sequence[Hit], kind: str, span: timedelta, op: str, count: int
) -> list[Burst]:
    """What :func:`evaluate` gives for ``event_count``, ``value_count`` and ``temporal``, computed by
    the case's engine over the hits (a temporary table): the same windows, runs, peaks and bursts."""
    if kind not in SQL_KINDS:
        raise ValueError(f"not an engine correlation type: {kind!r}")
    if not hits:
        return []
    table = pa.table({
        "i": pa.array(range(len(hits)), pa.int64()),
        "g": pa.array([[None if v is None else str(v) for v in h.group] for h in hits], pa.list_(pa.string())),
        "ts": pa.array([h.ts for h in hits], pa.timestamp("us", tz="UTC")),
        "ref": pa.array([h.ref for h in hits], pa.string()),
        "val": pa.array([None if h.value is None else str(h.value) for h in hits], pa.string()),
        "rule": pa.array([h.rule for h in hits], pa.string()),
    })
    sql = BURSTS.format(hits=_HITS, metric=_METRIC[kind], op=_SQL_OPS[op])
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {_HITS} (i BIGINT, g VARCHAR[], ts TIMESTAMPTZ, ref VARCHAR, "
                   "val VARCHAR, rule VARCHAR)")
    try:
        engine.append(_HITS, table)
        # the window holds hits no older than ``span``: those older by a microsecond more are out
        rows = engine.rows(sql, [span + timedelta(microseconds=1), count])
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {_HITS}")
    out: list[Burst] = []
    for peak, idx in rows:
        part = [hits[i] for i in idx]
        values = (Counter(h.value for h in part if h.value is not None) if kind == "value_count" else Counter())
        out.append(Burst(part[0].group, part, int(peak), values))
    out.sort(key=lambda b: (b.first, str(b.group)))
    return out
