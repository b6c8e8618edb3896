"""One SQL definition for both engines: the analytics are written once, in DuckDB's dialect, and
translated for Spark here (sqlglot), with the few rewrites sqlglot does not know kept in this one
place, as a backend keeps its dialect's tokens.

What the translation does besides sqlglot's own work:

- the project's SQL macros (``ws_hkey``, ``ws_base``, ``ws_resolve_hkey``, ...: DuckDB ``CREATE
  MACRO`` text, the one definition) are expanded in place, since Spark SQL has no macros;
- ``regexp_full_match(x, p)`` becomes ``x RLIKE '^(?:p)$'``;
- ``time_bucket(INTERVAL 1 HOUR, ts)`` becomes ``date_trunc('HOUR', ts)`` (the session's time zone
  is UTC: the same hour buckets);
- ``to_seconds(n)`` (an interval of ``n`` seconds) becomes ``(INTERVAL '1' SECOND * n)``;
- ``epoch_us(ts)`` becomes ``unix_micros(ts)``; ``suffix`` becomes ``endswith``, ``strlen``
  ``octet_length`` (bytes in both); a CTE's ``MATERIALIZED`` is dropped;
- ``regexp_matches(x, 'p')`` (RE2) becomes ``x RLIKE 'q'`` (``java.util.regex``), ``q`` the
  pattern that matches what ``p`` matches in RE2 (:func:`java_regex`: end anchors, line breaks,
  Unicode case, ``\\s``, ``\\b``, classes), or an error where that is not known;
- ``regexp_replace`` without DuckDB's ``'g'`` flag replaces the first match only, Spark's
  replaces every match: such a call is refused unless its pattern is anchored at the end (``$``),
  where the two agree;
- ``SELECT unnest(a) AS x, unnest(b) AS y`` (DuckDB pairs the lists' elements) becomes
  ``SELECT inline(arrays_zip(a, b)) AS (x, y)`` (Spark would pair every element with every one);
- ``HUGEINT`` becomes ``DECIMAL(38, 0)``; ``list_slice(l, 1, n)`` becomes ``slice(l, 1, n)``;
- a macro may have a Spark body of its own (``spark_bodies``: Spark SQL), where DuckDB's cannot
  be translated (an aggregate's top n, list arithmetic by index): the two bodies sit side by
  side in the module that defines the macro, and the differential test holds them together;
- a bound regular expression (:class:`Pattern`) is bound in its Java form (:func:`spark_params`);
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


class Pattern(str):
    """A bound parameter that is a regular expression in RE2's syntax (DuckDB's
    ``regexp_matches``): Spark binds its ``java.util.regex`` form (:func:`java_regex`), which
    matches the same strings, as a literal pattern in the SQL is translated."""


def spark_params(params: Iterable[object]) -> list[object]:
    """Parameters as Spark binds them: a :class:`Pattern` as its Java form, the rest as they are."""
    return [java_regex(p) if isinstance(p, Pattern) else p for p in params]


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
        if isinstance(node, exp.RegexpLike) and isinstance(node.expression, exp.Literal):
            java = java_regex(str(node.expression.this))
            return exp.RegexpLike(this=node.this, expression=exp.Literal.string(java))
        if name == "epoch_us":
            return exp.Anonymous(this="unix_micros", expressions=node.expressions)
        if name == "suffix":
            return exp.EndsWith(this=node.expressions[0], expression=node.expressions[1])
        if name == "to_seconds" and len(node.expressions) == 1:  # an INTERVAL of n seconds
            unit = exp.Interval(this=exp.Literal.string("1"), unit=exp.var("SECOND"))
            return exp.Paren(this=exp.Mul(this=unit, expression=node.expressions[0]))
        if name == "strlen":
            return exp.Anonymous(this="octet_length", expressions=node.expressions)
        if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
            node.set("materialized", None)  # Spark has no such hint: the plan is its own
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
            return exp.DataType.build("DECIMAL(38, 0)", dialect="spark")
        if name == "list_slice":
            args = node.expressions
            if len(args) != 3 or not all(isinstance(a, exp.Literal) for a in args[1:]):
                raise DialectError(f"list_slice with bounds that are not literals: {node.sql()[:120]}")
            begin, end = int(args[1].this), int(args[2].this)
            return exp.Anonymous(this="slice", expressions=[args[0], exp.Literal.number(begin),
                                                            exp.Literal.number(end - begin + 1)])
        if isinstance(node, exp.Select) and sum(isinstance(e.unalias(), exp.Explode) for e in node.expressions) > 1:
            return _zipped_unnests(node)
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


def _zipped_unnests(select: exp.Select) -> exp.Select:
    """DuckDB's ``SELECT unnest(a) AS x, unnest(b) AS y`` (the lists side by side: row i holds
    their elements i, NULL past a shorter one's end) as Spark's ``SELECT inline(arrays_zip(a, b))
    AS (x, y)``, which pairs them the same way; Spark's own reading of two generators in one
    SELECT is every pair of elements. Any other projection beside them is refused."""
    names = []
    for e in select.expressions:
        if not (isinstance(e, exp.Alias) and isinstance(e.this, exp.Explode)):
            raise DialectError(f"several unnest() in a SELECT, beside other columns: {select.sql()[:120]}")
        names.append(exp.to_identifier(e.alias))
    zipped = exp.Anonymous(this="arrays_zip", expressions=[e.this.this for e in select.expressions])
    select.set("expressions", [exp.Aliases(this=exp.Anonymous(this="inline", expressions=[zipped]),
                                           expressions=names)])
    return select


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


# -- regular expressions: RE2 (DuckDB) as java.util.regex (Spark) -------------------------------

#: RE2's POSIX classes (ASCII in both) as Java writes them.
_POSIX = {"alnum": r"\p{Alnum}", "alpha": r"\p{Alpha}", "ascii": r"\p{ASCII}", "blank": r"\p{Blank}",
          "cntrl": r"\p{Cntrl}", "digit": r"\p{Digit}", "graph": r"\p{Graph}", "lower": r"\p{Lower}",
          "print": r"\p{Print}", "punct": r"\p{Punct}", "space": r"\p{Space}", "upper": r"\p{Upper}",
          "word": r"\w", "xdigit": r"\p{XDigit}"}
#: RE2's ``\s`` (Java's adds the vertical tab), and its word boundary over ASCII word characters
#: (Java 17's ``\b`` reads Unicode letters as word characters).
_SPACE = r"\t\n\f\r "
_WORD = "[0-9A-Za-z_]"
_BOUNDARY = f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))"
_NOT_BOUNDARY = f"(?:(?<={_WORD})(?={_WORD})|(?<!{_WORD})(?!{_WORD}))"
#: Escapes that mean the same in both (letters; any other letter is refused).
_SAME = frozenset("dDwWnrtfaAz")
_REPEAT = re.compile(r"\{\d+(,\d*)?\}")
_PROPERTY = re.compile(r"\\[pP](\{\^?[A-Z][a-z]?\}|[A-Z])")
_FLAGS = re.compile(r"\(\?([a-zA-Z-]*)([):])")


def java_regex(pattern: str) -> str:
    """An RE2 pattern (DuckDB's ``regexp_matches``) as a ``java.util.regex`` pattern (Spark's
    ``RLIKE``) that matches the same strings, or :class:`DialectError`.

    What differs and how it is bridged: ``$`` is Java's end or before a final line break (RE2's
    end: ``\\z``); ``.`` excludes ``\\r`` and others in Java (``(?d)``: only ``\\n``, as RE2);
    ``(?i)`` folds ASCII only in Java (``(?u)``: Unicode, as RE2); ``\\s`` and ``\\v`` have the
    vertical tab, ``\\b`` Unicode letters in Java (written out); in a class, ``[`` opens a nested
    class and ``&&`` intersects in Java (escaped), and ``[:alpha:]`` is RE2's POSIX class
    (``\\p{Alpha}``); ``{`` that is no repetition is literal in RE2, an error in Java (escaped);
    ``(?P<name>`` is ``(?<name>``. Refused: multi-line mode (``m``), ``U``, octal or numbered
    escapes, script names in ``\\p{...}``, ``\\C``, ``\\Q`` in a class, and any group kind RE2
    does not have (RE2 refuses them too, so a rule with one fails on DuckDB as well).
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if pattern.startswith("\\Q", i):  # literal text up to \E: the same in both
                end = pattern.find("\\E", i + 2)
                end = n if end < 0 else end + 2
                out.append(pattern[i:end])
                i = end
                continue
            tok, i = _escape(pattern, i, False)
            out.append(tok)
        elif c == "[":
            tok, i = _class(pattern, i)
            out.append(tok)
        elif c == "$":
            out.append(r"\z")
            i += 1
        elif c == "{":
            m = _REPEAT.match(pattern, i)
            if m and out:  # a repetition
                out.append(m.group(0))
                i = m.end()
            else:
                out.append(r"\{")
                i += 1
        elif c == "(" and pattern.startswith("(?", i):
            named = pattern.startswith("(?<", i) and pattern[i + 3:i + 4].isalpha()
            if pattern.startswith("(?P<", i) or named:
                out.append("(?<")  # a named group (a name of letters and digits in Java)
                i += 4 if pattern[i + 2] == "P" else 3
                continue
            m = _FLAGS.match(pattern, i)
            if not m or set(m.group(1)) - set("is-"):
                raise DialectError(f"regular expression group {pattern[i:i + 6]!r}: not translated for Spark")
            out.append(m.group(0))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "(?du)" + "".join(out)


def _escape(p: str, i: int, in_class: bool) -> tuple[str, int]:
    """The escape at ``p[i]`` (a backslash) in Java, and where it ends."""
    if i + 1 >= len(p):
        raise DialectError("regular expression ends with a backslash")
    c = p[i + 1]
    if c in "pP":
        m = _PROPERTY.match(p, i)
        if not m:
            raise DialectError(f"regular expression property {p[i:i + 12]!r}: not translated for Spark")
        body = m.group(1)
        if body.startswith("{^"):  # RE2's negation inside the braces
            return ("\\P" if c == "p" else "\\p") + "{" + body[2:], m.end()
        return m.group(0), m.end()
    if c == "x":
        m = re.compile(r"\\x(\{[0-9A-Fa-f]{1,6}\}|[0-9A-Fa-f]{2})").match(p, i)
        if not m:
            raise DialectError(f"regular expression escape {p[i:i + 8]!r}: not translated for Spark")
        return m.group(0), m.end()
    if c == "s":
        return (_SPACE if in_class else f"[{_SPACE}]"), i + 2
    if c == "S":
        return f"[^{_SPACE}]", i + 2  # in a class too: Java reads a nested class as a union
    if c == "v":
        return r"\x0B", i + 2
    if c in "bB" and not in_class:
        return (_BOUNDARY if c == "b" else _NOT_BOUNDARY), i + 2
    if c.isalnum() and c not in _SAME:
        raise DialectError(f"regular expression escape \\{c}: not translated for Spark")
    if c.isalnum() or c.isascii():
        return p[i:i + 2], i + 2
    return c, i + 2  # an escaped character beyond ASCII: the character itself


def _class(p: str, i: int) -> tuple[str, int]:
    """The character class at ``p[i]`` (``[``) in Java, and where it ends."""
    out = ["["]
    i += 1
    if p.startswith("^", i):
        out.append("^")
        i += 1
    if p.startswith("]", i):  # a first ``]`` is a member
        out.append(r"\]")
        i += 1
    while i < len(p):
        c = p[i]
        if c == "]":
            out.append("]")
            return "".join(out), i + 1
        if c == "[" and p.startswith("[:", i):
            end = p.find(":]", i + 2)
            name = p[i + 2:end] if end > 0 else ""
            neg = name.startswith("^")
            java = _POSIX.get(name.lstrip("^"))
            if java is None:
                raise DialectError(f"regular expression class {p[i:i + 12]!r}: not translated for Spark")
            if neg:
                java = java.replace(r"\p", r"\P") if java.startswith(r"\p") else r"\W"
            out.append(java)
            i = end + 2
        elif c in "[&":
            out.append("\\" + c)
            i += 1
        elif c == "\\":
            if p.startswith("\\Q", i):
                raise DialectError(r"\Q in a regular expression class: not translated for Spark")
            tok, i = _escape(p, i, True)
            out.append(tok)
        else:
            out.append(c)
            i += 1
    raise DialectError("regular expression class without its ']'")
