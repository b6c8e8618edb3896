"""One SQL definition for both engines: the analytics are written once, in DuckDB's dialect, and
translated for Spark here (sqlglot), with the few rewrites sqlglot does not know kept in this one
place, as a backend keeps its dialect's tokens.

What the translation does besides sqlglot's own work:

- the project's SQL macros (``ws_hkey``, ``ws_base``, ``ws_resolve_hkey``, ...: DuckDB ``CREATE
  MACRO`` text, the one definition) are expanded in place, since Spark SQL has no macros;
- ``regexp_full_match(x, p)`` becomes ``x RLIKE '^(?:p)$'``;
- ``time_bucket(INTERVAL 1 HOUR, ts)`` becomes ``date_trunc('HOUR', ts)`` (the session's time zone
  is UTC: the same hour buckets);
- ``epoch_us(ts)`` becomes ``unix_micros(ts)``;
- ``regexp_replace`` without DuckDB's ``'g'`` flag replaces the first match only, Spark's
  replaces every match: such a call is refused unless its pattern is anchored at the end (``$``),
  where the two agree;
- ``HUGEINT`` becomes ``DECIMAL(38, 0)``; ``list_slice(l, 1, n)`` becomes ``slice(l, 1, n)``;
- a macro may have a Spark body of its own (``spark_bodies``: Spark SQL), where DuckDB's cannot
  be translated (an aggregate's top n, list arithmetic by index): the two bodies sit side by
  side in the module that defines the macro, and the differential test holds them together;
- anything sqlglot cannot express in Spark is an error, never dropped.

Whatever else differs must fail a test: ``tests/engine/test_spark_differential.py`` runs every
translated statement on both engines over the same shards and compares the results.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

_MACRO_RE = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+)?MACRO\s+(\w+)\s*\(([^)]*)\)\s+AS\s+(.*)$",
                       re.S | re.I)


class DialectError(ValueError):
    """A statement that cannot be translated without changing its meaning."""


def parse_macros(definitions: Iterable[str],
                 spark_bodies: dict[str, str] | None = None) -> dict[str, tuple[list[str], exp.Expression]]:
    """``{name: (parameters, body)}`` of DuckDB macro definitions; a name in ``spark_bodies``
    takes that body (Spark SQL) instead of its DuckDB one."""
    out: dict[str, tuple[list[str], exp.Expression]] = {}
    own = {k.lower(): v for k, v in (spark_bodies or {}).items()}
    for text in definitions:
        m = _MACRO_RE.match(text)
        if not m:
            raise DialectError(f"not a macro definition: {text[:80]!r}")
        params = [p.strip() for p in m.group(2).split(",") if p.strip()]
        name = m.group(1).lower()
        body = (sqlglot.parse_one(own[name], read="spark") if name in own
                else sqlglot.parse_one(m.group(3), read="duckdb"))
        out[name] = (params, body)
    missing = set(own) - set(out)
    if missing:
        raise DialectError(f"Spark bodies of no macro: {sorted(missing)}")
    return out


def _expand(tree: exp.Expression, macros: dict[str, tuple[list[str], exp.Expression]]) -> exp.Expression:
    def sub(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and str(node.this).lower() in macros:
            params, body = macros[str(node.this).lower()]
            args = node.expressions
            if len(args) != len(params):
                raise DialectError(f"macro {node.this} takes {len(params)} arguments, got {len(args)}")
            bound = dict(zip(params, args, strict=True))

            def put(n: exp.Expression) -> exp.Expression:
                if isinstance(n, exp.Column) and not n.table and n.name in bound:
                    return bound[n.name].copy()
                return n

            return _expand(body.copy().transform(put), macros)
        return node

    return tree.transform(sub)


def _spark_rewrites(tree: exp.Expression) -> exp.Expression:
    def sub(node: exp.Expression) -> exp.Expression:
        name = str(node.this).lower() if isinstance(node, exp.Anonymous) else ""
        if isinstance(node, exp.RegexpFullMatch):
            pattern = node.expression
            if not isinstance(pattern, exp.Literal):
                raise DialectError("regexp_full_match with a pattern that is not a literal")
            return exp.RegexpLike(this=node.this, expression=exp.Literal.string(f"^(?:{pattern.this})$"))
        if name == "epoch_us":
            return exp.Anonymous(this="unix_micros", expressions=node.expressions)
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
            return exp.DataType.build("DECIMAL(38, 0)", dialect="spark")
        if name == "list_slice":
            args = node.expressions
            if len(args) != 3 or not all(isinstance(a, exp.Literal) for a in args[1:]):
                raise DialectError(f"list_slice with bounds that are not literals: {node.sql()[:120]}")
            begin, end = int(args[1].this), int(args[2].this)
            return exp.Anonymous(this="slice", expressions=[args[0], exp.Literal.number(begin),
                                                            exp.Literal.number(end - begin + 1)])
        if isinstance(node, exp.DateBin):
            return exp.TimestampTrunc(this=node.expression, unit=exp.var(_interval_unit(node.this)))
        if isinstance(node, exp.RegexpReplace):
            mods = node.args.get("modifiers")
            global_ = mods is not None and "g" in str(mods.this if isinstance(mods, exp.Literal) else mods)
            pattern = node.expression
            # a pattern anchored at one end (and no alternation for the start) matches once at most
            text = str(pattern.this) if isinstance(pattern, exp.Literal) else ""
            once = text.endswith("$") or (text.startswith("^") and "|" not in text)
            if not global_ and not once:
                raise DialectError("regexp_replace without 'g' replaces the first match in DuckDB, every match in "
                                   "Spark: anchor the pattern or add 'g'")
            node.set("modifiers", None)
        return node

    return tree.transform(sub)


def _interval_unit(width: exp.Expression) -> str:
    if isinstance(width, exp.Interval) and str(width.this.this) == "1":
        unit = str(width.unit.this if width.unit else "").upper()
        if unit in ("HOUR", "DAY", "MINUTE", "SECOND"):
            return unit
    raise DialectError(f"time_bucket of {width.sql()}: only 1 SECOND, MINUTE, HOUR or DAY translate")


@lru_cache(maxsize=512)
def _cached(sql: str, macros: tuple[str, ...], spark_bodies: tuple[tuple[str, str], ...]) -> str:
    table = parse_macros(macros, dict(spark_bodies))
    trees = sqlglot.parse(sql, read="duckdb")
    if len(trees) != 1 or trees[0] is None:
        raise DialectError("one statement expected")
    tree = _spark_rewrites(_expand(trees[0], table))
    try:
        return tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as e:
        raise DialectError(str(e)) from None


def to_spark(sql: str, macros: Iterable[str] = (), spark_bodies: dict[str, str] | None = None) -> str:
    """``sql`` (DuckDB's dialect, positional ``?`` parameters) as Spark SQL, the ``macros``
    (DuckDB ``CREATE MACRO`` statements) expanded, with the Spark bodies ``spark_bodies`` where given."""
    return _cached(sql, tuple(macros), tuple(sorted((spark_bodies or {}).items())))
