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
from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.conversion.state import ConversionState
from sigma.types import SigmaString, SpecialChars


def quote_ident(name: str) -> str:
    """A DuckDB quoted identifier for any name."""
    return '"' + name.replace('"', '""') + '"'


class DuckDBSigmaBackend(sqliteBackend):  # type: ignore[misc]
    """SQLite backend, re-tokenised for DuckDB; a query is a bare WHERE condition."""

    name: ClassVar[str] = "wormsign DuckDB backend"

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
                field=self.escape_and_quote_field(cond.field), value=self.convert_value_str(v, state), backend=self
            )
        return tmpl.format(field=self.escape_and_quote_field(cond.field), value=self.convert_value_str(val, state, True))

    def finalize_query_default(self, rule: Any, query: str, index: int, state: ConversionState) -> Any:
        """Keep the bare condition: :mod:`wormsign.detect.sigma.runner` writes the SELECT."""
        return query
