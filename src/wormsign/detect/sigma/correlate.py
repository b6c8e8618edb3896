"""Sliding-window evaluation of Sigma correlation rules, merged into one burst per window run.

The SQLite backend compiles a correlation into SQL that yields a row for every event at which
the condition holds, so one brute force of 500 attempts is 496 rows. Here the base rules'
matching events are fetched once (by SQL, per rule) and the window slides in Python over each
group's events in time order; consecutive triggering windows that share events are merged,
so a burst gives one alert and two bursts further apart than the timespan give two.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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
