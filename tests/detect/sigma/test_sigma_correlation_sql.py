"""Correlations in the engine: DuckDB's windows give exactly the bursts of the Python slide, ties,
window edges and NULL values included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from wormsign.detect.sigma.correlate import SQL_KINDS, Hit, evaluate, evaluate_sql
from wormsign.engine.duckdb import DuckDBEngine

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _hits(rnd: random.Random, n: int) -> list[Hit]:
    out = []
    for i in range(n):
        # whole minutes: many hits share a time, and many are exactly one timespan apart
        ts = T0 + timedelta(minutes=rnd.randint(0, 40))
        group = (rnd.choice(["10.0.0.5", "10.0.0.6", None]), rnd.choice(["dc-01", None]))
        value = rnd.choice(["alice", "bob", "carol", "dave", None])
        out.append(Hit(ts, group, rnd.choice(["r1", "r2", "r3"]), f"d:{rnd.randint(0, 9)}{i:03d}",
                       rnd.choice(["h1", "h2"]), value, None))
    return out


def _shape(bursts: list) -> list:
    return [(b.group, [h.ref for h in b.hits], b.peak, sorted(b.values.items())) for b in bursts]


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_engine_bursts_are_the_python_bursts(kind: str) -> None:
    engine = DuckDBEngine(":memory:")
    rnd = random.Random(13)
    for trial in range(60):
        hits = _hits(rnd, rnd.randint(1, 40))
        span = timedelta(minutes=rnd.choice([1, 3, 5, 10]))
        op = rnd.choice(["gt", "gte", "lt", "lte", "eq", "neq"])
        count = rnd.randint(1, 6)
        want = evaluate(hits, kind, span, op, count)
        got = evaluate_sql(engine, hits, kind, span, op, count)
        assert _shape(got) == _shape(want), (trial, kind, span, op, count)
    assert evaluate_sql(engine, [], kind, timedelta(minutes=1), "gte", 1) == []
