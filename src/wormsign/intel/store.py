"""The intel store: indicators by family in a DuckDB file of its own, or a table inside a case."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import fields
from typing import Any, Self

import pyarrow as pa

from wormsign.engine import Engine, open_engine
from wormsign.intel.indicators import Indicator

TABLE = "intel"
DEFAULT_PATH = "intel.duckdb"

_TS = pa.timestamp("us", tz="UTC")
ARROW = pa.schema(
    [
        ("type", pa.string()),
        ("value", pa.string()),
        ("family", pa.string()),
        ("source", pa.string()),
        ("first_seen", _TS),
        ("last_seen", _TS),
        ("ip", pa.string()),
        ("port", pa.int64()),
        ("asn", pa.int64()),
        ("as_name", pa.string()),
        ("country", pa.string()),
        ("status", pa.string()),
        ("incident", pa.string()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(ARROW.names)
assert COLUMNS == tuple(f.name for f in fields(Indicator))

DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    type VARCHAR NOT NULL, value VARCHAR NOT NULL, family VARCHAR NOT NULL, source VARCHAR NOT NULL,
    first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ, ip VARCHAR, port BIGINT, asn BIGINT,
    as_name VARCHAR, country VARCHAR, status VARCHAR, incident VARCHAR,
    PRIMARY KEY (type, value, family, source))"""

_STAGE = "_wormsign_intel_stage"


def to_table(indicators: Iterable[Indicator]) -> pa.Table:
    """Indicators as an Arrow table of the store's schema."""
    rows = list(indicators)
    return pa.Table.from_arrays(
        [pa.array([getattr(i, c) for i in rows], type=ARROW.field(c).type) for c in COLUMNS], schema=ARROW
    )


class IntelStore:
    """Indicators by family. Open with :meth:`open` (own file) or :meth:`in_case` (a case's engine)."""

    def __init__(self, engine: Engine, path: str, *, owned: bool) -> None:
        self.engine = engine
        self.path = path
        self._owned = owned

    @classmethod
    def open(cls, path: str = DEFAULT_PATH, *, read_only: bool = False) -> IntelStore:
        if read_only and not os.path.exists(path):
            raise FileNotFoundError(f"no intel store at {path}")
        eng = open_engine("duckdb", str(path), read_only=read_only)
        if not read_only:
            eng.execute(DDL)
        return cls(eng, str(path), owned=True)

    @classmethod
    def in_case(cls, case: Any) -> IntelStore:
        """The intel table inside an open :class:`wormsign.store.Case` (created when missing)."""
        # Asked with rows() (fetches all): a half-read result would block the next query on duckdb 2.
        known = case.engine.rows(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [TABLE]
        )
        if not known[0][0]:
            case.engine.execute(DDL)
        return cls(case.engine, case.path, owned=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self.engine.close()

    # -- writing -----------------------------------------------------------------------
    def add(self, indicators: Iterable[Indicator]) -> int:
        """Upsert indicators; a known (type, value, family, source) widens its seen range. Returns rows given."""
        table = to_table(indicators)
        if table.num_rows == 0:
            return 0
        cols = ", ".join(COLUMNS)
        eng = self.engine
        with eng.transaction():
            eng.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS SELECT * FROM {TABLE} LIMIT 0")
            eng.append(_STAGE, table)
            # One row per key first: ON CONFLICT may not touch a row twice in one statement.
            eng.execute(
                f"""INSERT INTO {TABLE} ({cols})
                SELECT type, value, family, source, min(first_seen), max(last_seen), any_value(ip),
                       any_value(port), max(asn), max(as_name), max(country), max(status), max(incident)
                FROM {_STAGE} GROUP BY type, value, family, source
                ON CONFLICT (type, value, family, source) DO UPDATE SET
                    first_seen = least(coalesce({TABLE}.first_seen, excluded.first_seen), excluded.first_seen),
                    last_seen = greatest(coalesce({TABLE}.last_seen, excluded.last_seen), excluded.last_seen),
                    asn = coalesce(excluded.asn, {TABLE}.asn),
                    as_name = coalesce(excluded.as_name, {TABLE}.as_name),
                    country = coalesce(excluded.country, {TABLE}.country),
                    status = coalesce(excluded.status, {TABLE}.status),
                    incident = coalesce(excluded.incident, {TABLE}.incident)"""
            )
            eng.execute(f"DROP TABLE {_STAGE}")
        return table.num_rows

    # -- reading -----------------------------------------------------------------------
    def table(self, *, family: str | None = None, incident: str | None = None) -> pa.Table:
        """The indicators as Arrow (optionally one family's or one incident's)."""
        where, params = _filters(family=family, incident=incident)
        return self.engine.query(
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE}{where} ORDER BY family, type, value", params
        )

    def indicators(self, *, family: str | None = None, incident: str | None = None) -> list[Indicator]:
        return [Indicator(**r) for r in self.table(family=family, incident=incident).to_pylist()]

    def count(self) -> int:
        return int(self.engine.rows(f"SELECT count(*) FROM {TABLE}")[0][0])

    def summary(self) -> list[tuple[str, str, int, Any, Any]]:
        """(family, type, count, first seen, last seen) for every family and type."""
        return self.engine.rows(
            f"SELECT family, type, count(DISTINCT value), min(first_seen), max(last_seen) FROM {TABLE} "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )

    def families(self) -> list[str]:
        return [r[0] for r in self.engine.rows(f"SELECT DISTINCT family FROM {TABLE} ORDER BY 1")]


def _filters(**kw: str | None) -> tuple[str, list[Any]]:
    parts, params = [], []
    for col, val in kw.items():
        if val is not None:
            parts.append(f"{col} = ?")  # column names are fixed here; only values come from callers
            params.append(val)
    return (" WHERE " + " AND ".join(parts) if parts else ""), params
