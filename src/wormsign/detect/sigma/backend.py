"""A pySigma backend that writes DuckDB SQL conditions over one log source group of ``sigma_events``.

It is the SQLite backend (pysigma-backend-sqlite) with the tokens that differ in DuckDB changed,
and written to be evaluated for many rules in one pass over a group's rows (runner.py). What
changes, and why:

* Sigma matches strings case-insensitively. The group table holds each field twice: as recorded
  (``"Image"``) and lower-cased once per group (``"~Image"``, :func:`lowered`). A plain string
  match is a comparison on the lower-cased column with a lower-cased literal: ``=``,
  ``starts_with``, ``suffix``, ``contains`` or ``LIKE``. DuckDB's ``ILIKE`` folds both sides at
  every row: 130-160 ns a comparison against 3-40 ns (hayabusa-sample-evtx's process creations). A value that is not
  ASCII keeps ``ILIKE`` on the column as recorded, so no Unicode case rule of Python decides a
  match.
* Every column of ``sigma_events`` is text, so numbers are compared as text (``'4624'``) and
  ``|gt``-style comparisons cast the column, never the rule value.
* ``REGEXP`` is ``regexp_matches`` (RE2; the ``(?i)`` flag prefix works as is) on the column as
  recorded: a rule's regular expression sees the value's own case.
* ``and`` and ``or`` are ``CASE`` chains, cheapest operand first (:func:`cost`): DuckDB evaluates
  every operand of a plain ``AND`` in a projection for every row, but a ``CASE`` branch only for
  the rows that reach it, so a rule costs about its first, most selective, comparison. Sigma
  reads a condition on a field the event lacks as false: that is what these chains compute
  (an operand that is NULL is not true), and ``NOT`` folds a NULL operand to false with
  ``COALESCE(..., FALSE)`` as before, so the truth value of every rule is the SQLite backend's.
* Identifiers are double-quoted with embedded quotes doubled: DuckDB reads backticks as
  nothing special.

Rule values reach the SQL text only as string literals with single quotes doubled (and ``\\``,
``%`` and ``_`` escaped where a ``LIKE`` pattern reads them). DuckDB string literals give
backslashes no meaning, so a value cannot end its literal early (``tests`` prove it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sigma.backends.sqlite import sqliteBackend
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.state import ConversionState
from sigma.types import SigmaCompareExpression, SigmaRegularExpression, SigmaString, SpecialChars

from wormsign.detect.sigma.names import LOWER, lowered, quote_ident

__all__ = ["LOWER", "DuckDBSigmaBackend", "cost", "lowered", "quote_ident"]
_RE_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _plain(v: Any) -> str | None:
    """The text of a Sigma string with no wildcard nor placeholder, else None."""
    if type(v) is not SigmaString or not all(isinstance(p, str) for p in v.s):
        return None
    return "".join(v.s)


def _regex_of(v: SigmaString) -> str | None:
    """An RE2 pattern for a Sigma string (wildcards as ``.*``/``.``), anchored; None if it has placeholders."""
    out = []
    for part in v.s:
        if isinstance(part, str):
            out.append("".join("\\" + c if c in _RE_SPECIAL else c for c in part))
        elif part == SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            return None
    body = "".join(out)
    head = body[2:] if body.startswith(".*") else "^" + body
    return head[:-2] if head.endswith(".*") and not head.endswith("\\.*") else head + "$"


def _caseless(text: str) -> bool:
    """Whether lower-casing ``text`` in DuckDB and in Python agree: ASCII, or characters with no
    case at all (dashes, emoji)."""
    return text.isascii() or all(c.isascii() or c.lower() == c == c.upper() for c in text)


def _ascii(v: SigmaString) -> bool:
    """Whether the value can be matched on the lower-cased column (:func:`_caseless`)."""
    return all(_caseless(p) for p in v.s if isinstance(p, str))


def _listed(args: Any) -> str | None:
    """How an OR of ``args`` is written when it is one list: ``in`` (plain values), ``re`` (values
    with wildcards), ``re-i`` (some value not ASCII: a case-insensitive regex on the column as
    recorded), or None (not a list: written operand by operand)."""
    if len(args) < DuckDBSigmaBackend.or_regex_min or not all(
        isinstance(a, ConditionFieldEqualsValueExpression) and type(a.value) is SigmaString for a in args
    ):
        return None
    if len({a.field for a in args}) != 1 or args[0].field is None:
        return None
    ascii_ = all(_ascii(a.value) for a in args)
    if ascii_ and all(_plain(a.value) is not None for a in args):
        return "in"
    if all(_regex_of(a.value) is not None for a in args):
        return "re" if ascii_ else "re-i"
    return None


def cost(node: Any) -> float:
    """A rough cost of evaluating ``node`` on one row, to put the cheap operands of ``and`` first.

    Equality is cheapest, then prefix and suffix, then infix and patterns, regular expressions
    last; ``and``/``or`` cost what all their operands would.
    """
    if isinstance(node, ConditionOR) and (kind := _listed(node.args)):
        return 2.0 if kind == "in" else 20.0
    if isinstance(node, (ConditionAND, ConditionOR)):
        return sum(cost(a) for a in node.args) + 0.5
    if isinstance(node, ConditionNOT):
        return cost(node.args[0]) + 0.5
    if isinstance(node, ConditionValueExpression):
        return 50.0
    if not isinstance(node, ConditionFieldEqualsValueExpression):
        return 10.0
    v = node.value
    if isinstance(v, SigmaRegularExpression):
        return 30.0
    if isinstance(v, SigmaCompareExpression):
        return 6.0
    if type(v) is not SigmaString:
        return 1.0  # numbers, booleans, null: an equality on a short value
    parts = v.s
    wild = [i for i, p in enumerate(parts) if not isinstance(p, str)]
    if not wild:
        return 1.0
    if all(parts[i] == SpecialChars.WILDCARD_MULTI and i in (0, len(parts) - 1) for i in wild):
        return 8.0 if len(wild) == 2 else 3.0  # infix; prefix or suffix
    return 12.0


class DuckDBSigmaBackend(sqliteBackend):  # type: ignore[misc]
    """SQLite backend, re-tokenised for DuckDB; a query is a bare WHERE condition."""

    name: ClassVar[str] = "wormsign DuckDB backend"
    trees: list[Any]
    _depth: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trees = []
        self._depth = 0

    eq_expression: ClassVar[str] = "{field} ILIKE {value}"
    wildcard_match_expression: ClassVar[str] = "{field} ILIKE '{value}' ESCAPE '\\'"
    wildcard_match_str_expression: ClassVar[str] = "{field} ILIKE '{value}' ESCAPE '\\'"
    re_expression: ClassVar[str] = "regexp_matches({field}, '{regex}')"
    compare_op_expression: ClassVar[str] = "TRY_CAST({field} AS DOUBLE) {operator} {value}"
    null_safe_expression: ClassVar[str] = "COALESCE({expr}, FALSE)"
    bool_numeric_values: ClassVar[dict[bool, str]] = {True: "'1'", False: "'0'"}
    bool_expression: ClassVar[str] = "({field} ILIKE {value} OR {field}={numeric_value})"
    field_timestamp_part_expression: ClassVar[str] = (
        "CAST(strftime(TRY_CAST({field} AS TIMESTAMP), '{timestamp_part}') AS INTEGER)"
    )
    _ref = "REPLACE(REPLACE(REPLACE({field2}, '\\', '\\\\'), '%', '\\%'), '_', '\\_')"
    field_equals_field_expression: ClassVar[str] = "lower({field1})=lower({field2})"
    field_equals_field_startswith_expression: ClassVar[str] = "{field1} ILIKE " + _ref + " || '%' ESCAPE '\\'"
    field_equals_field_endswith_expression: ClassVar[str] = "{field1} ILIKE '%' || " + _ref + " ESCAPE '\\'"
    field_equals_field_contains_expression: ClassVar[str] = (
        "{field1} ILIKE '%' || " + _ref + " || '%' ESCAPE '\\'"
    )

    def escape_and_quote_field(self, field: str) -> str:
        return quote_ident(field)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        """``EventID: 4624`` compares as text, like every column of ``sigma_events``."""
        text = str(cond.value).replace("'", "''")
        return f"{self.escape_and_quote_field(cond.field)}='{text}'"

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        """Pick equality, prefix, suffix, infix or pattern from where the value's wildcards are,
        on the field's lower-cased column (a value that is not ASCII: ILIKE on the column)."""
        v: SigmaString = cond.value
        if not _ascii(v):
            return self._ilike(cond, state)
        col = lowered(cond.field)
        star = SpecialChars.WILDCARD_MULTI
        text = _plain(v)
        if text is not None:
            return f"{col} = {_lit(text.lower())}"
        if v.endswith(star) and (t := _plain(v[:-1])) is not None:
            return f"starts_with({col}, {_lit(t.lower())})"
        if v.startswith(star) and (t := _plain(v[1:])) is not None:
            return f"suffix({col}, {_lit(t.lower())})"
        if len(v) >= 2 and v.startswith(star) and v.endswith(star) and (t := _plain(v[1:-1])) is not None:
            return f"contains({col}, {_lit(t.lower())})"
        pattern = self.convert_value_str(v, state, True).lower()
        escape = " ESCAPE '\\'" if "\\" in pattern else ""
        return f"{col} LIKE '{pattern}'{escape}"

    def _ilike(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """The case-insensitive match as ILIKE on the column as recorded."""
        v: SigmaString = cond.value
        field = self.escape_and_quote_field(cond.field)
        if v.contains_special() or any(c in v for c in ("%", "_", "\\")):
            return self.wildcard_match_expression.format(field=field, value=self.convert_value_str(v, state, True))
        return self.eq_expression.format(field=field, value=self.convert_value_str(v, state), backend=self)

    #: An OR of at least this many plain string matches on one field becomes one IN list or
    #: one regex match.
    or_regex_min: ClassVar[int] = 3

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Any:
        """``Image|endswith: [50 names]`` is one ``regexp_matches``, not 50 comparisons, and
        ``Image: [50 names]`` one ``IN`` list.

        DuckDB spends about a millisecond planning each comparison; SigmaHQ has tens of
        thousands, mostly such lists. Same truth value: alternatives are anchored one by
        one, on the lower-cased column with the pattern lower-cased (the escaped characters
        are no letters), ``(?s)`` lets a wildcard span lines as ``%`` does, and a NULL field
        is NULL either way.
        """
        args = cond.args
        kind = _listed(args)
        col = lowered(args[0].field) if kind else ""
        if kind == "in":
            return f"{col} IN ({', '.join(_lit(str(_plain(a.value)).lower()) for a in args)})"
        if kind in ("re", "re-i"):
            regex = "|".join(f"(?:{_regex_of(a.value)})" for a in args)
            if kind == "re":
                return self.re_expression.format(field=col, regex=("(?s)" + regex.lower()).replace("'", "''"))
            field = self.escape_and_quote_field(args[0].field)
            return self.re_expression.format(field=field, regex=("(?is)" + regex).replace("'", "''"))
        return self._chain(cond, state, "or")

    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> Any:
        return self._chain(cond, state, "and")

    def _chain(self, cond: ConditionAND | ConditionOR, state: ConversionState, op: str) -> Any:
        """``a and b and c`` as ``CASE WHEN (a) IS NOT TRUE THEN false WHEN (b) IS NOT TRUE THEN false
        ELSE (c) END`` (``or``: ``CASE WHEN (a) THEN true WHEN (b) THEN true ELSE (c) END``),
        cheapest operand first: only the rows an operand leaves undecided reach the next one."""
        parts = []
        for arg in cond.args:
            got = self.convert_condition(arg, state)
            if got is None or not isinstance(got, str):
                continue
            parts.append((cost(arg), len(parts), got))
        if not parts:
            return self.empty_and_expression if op == "and" else self.empty_or_expression
        parts.sort(key=lambda p: (p[0], p[1]))
        if len(parts) == 1:
            return f"({parts[0][2]})"
        # one flat CASE (a nested one per operand would pass DuckDB's expression depth limit)
        then = "false" if op == "and" else "true"
        test = "({}) IS NOT TRUE" if op == "and" else "({})"
        whens = " ".join(f"WHEN {test.format(expr)} THEN {then}" for _, _, expr in parts[:-1])
        return f"(CASE {whens} ELSE ({parts[-1][2]}) END)"

    def convert_condition(self, cond: Any, state: ConversionState) -> Any:
        """Also keep each converted condition tree (the outermost call's) in ``trees``.

        :mod:`wormsign.detect.sigma.scope` reads the trees as converted (log source conditions
        included) without parsing the rule's condition again.
        """
        if self._depth == 0:
            self.trees.append(cond)
        self._depth += 1
        try:
            return super().convert_condition(cond, state)
        finally:
            self._depth -= 1

    def finalize_query_default(self, rule: Any, query: str, index: int, state: ConversionState) -> Any:
        """Keep the bare condition: :mod:`wormsign.detect.sigma.runner` writes the SELECT."""
        return query
