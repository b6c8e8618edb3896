"""A pySigma backend that writes DuckDB SQL conditions over the ``sigma_events`` table.

It is the SQLite backend (pysigma-backend-sqlite) with the few tokens that differ in DuckDB
changed. What changes, and why:

* Sigma matches strings case-insensitively. SQLite's ``LIKE`` ignores ASCII case, DuckDB's
  does not, so every ``LIKE`` becomes ``ILIKE`` and plain equality is ``ILIKE`` without
  wildcards (the backend only takes that path for values with no ``%``, ``_`` or ``\\``).
* Every column of ``sigma_events`` is text, so numbers are compared as text (``'4624'``) and
  ``|gt``-style comparisons cast the column, never the rule value.
* ``REGEXP`` is ``regexp_matches`` (RE2; the ``(?i)`` flag prefix works as is).
* Identifiers are double-quoted with embedded quotes doubled: DuckDB reads backticks as
  nothing special.
* ``NOT`` folds a NULL operand to false with ``COALESCE(..., FALSE)`` (DuckDB will not mix
  a boolean with the integer 0).

Rule values reach the SQL text only through the SQLite backend's own escaping: single
quotes doubled, ``\\``, ``%`` and ``_`` escaped for ``LIKE``. DuckDB string literals give
backslashes no meaning, so a value cannot end its literal early (``tests`` prove it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sigma.backends.sqlite import sqliteBackend
from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.types import SigmaString, SpecialChars

_RE_SPECIAL = frozenset("\\.+*?()|[]{}^$")


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


def quote_ident(name: str) -> str:
    """A DuckDB quoted identifier for any name."""
    return '"' + name.replace('"', '""') + '"'


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
    startswith_expression: ClassVar[str] = "{field} ILIKE '{value}%' ESCAPE '\\'"
    endswith_expression: ClassVar[str] = "{field} ILIKE '%{value}' ESCAPE '\\'"
    contains_expression: ClassVar[str] = "{field} ILIKE '%{value}%' ESCAPE '\\'"
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
        """Pick prefix, suffix, infix, pattern or plain match from where the value's wildcards are.

        The SQLite backend does the same but also builds (and compiles) a regular expression
        for every value, which none of these templates uses: that was 40% of converting the
        SigmaHQ rule set.
        """
        v: SigmaString = cond.value
        star = SpecialChars.WILDCARD_MULTI
        head, tail = v.startswith(star), v.endswith(star)
        if tail and not v[:-1].contains_special():
            tmpl, val = self.startswith_expression, v[:-1]
        elif head and not v[1:].contains_special():
            tmpl, val = self.endswith_expression, v[1:]
        elif head and tail and len(v) >= 2 and not v[1:-1].contains_special():
            tmpl, val = self.contains_expression, v[1:-1]
        elif v.contains_special() or any(c in v for c in ("%", "_", "\\")):
            tmpl, val = self.wildcard_match_expression, v
        else:
            return self.eq_expression.format(
                field=self.escape_and_quote_field(cond.field),
                value=self.convert_value_str(v, state),
                backend=self,
            )
        return tmpl.format(
            field=self.escape_and_quote_field(cond.field), value=self.convert_value_str(val, state, True)
        )

    #: An OR of at least this many plain string matches on one field becomes one regex match.
    or_regex_min: ClassVar[int] = 3

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> Any:
        """``Image|endswith: [50 names]`` is one ``regexp_matches``, not 50 ``ILIKE``s.

        DuckDB spends about a millisecond planning each comparison; SigmaHQ has tens of
        thousands, mostly such lists. Same truth value: alternatives are anchored one by
        one, ``(?i)`` ignores case as ILIKE does, ``(?s)`` lets a wildcard span lines as
        ``%`` does, and a NULL field is NULL either way.
        """
        args = cond.args
        if len(args) >= self.or_regex_min and all(
            isinstance(a, ConditionFieldEqualsValueExpression) and type(a.value) is SigmaString for a in args
        ):
            fields = {a.field for a in args}
            pats = [_regex_of(a.value) for a in args]
            if len(fields) == 1 and None not in fields and all(p is not None for p in pats):
                regex = "(?is)" + "|".join(f"(?:{p})" for p in pats)
                return self.re_expression.format(
                    field=self.escape_and_quote_field(args[0].field), regex=regex.replace("'", "''")
                )
        return super().convert_condition_or(cond, state)

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
