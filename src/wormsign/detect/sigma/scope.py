"""Which (channel, EventID) pairs of the case a Sigma rule can match, read from the rule alone.

Design: building ``sigma_events`` parses the JSON record of every row it copies, and that parse
is most of a Sigma run. A row can only match a rule if its channel and EventID fit the rule's
log source and the ``EventID``/``Channel`` values its condition requires, and those are narrow
columns of ``events`` (``event.code``, ``event.dataset``). So, before the table is built, each
rule's condition tree (as converted: log source conditions included) is walked over the pairs
present in the case:

* a plain ``EventID``/``Channel`` value keeps the pairs with that code or channel (compared
  case-insensitively: never fewer pairs than the SQL the backend writes can match);
* ``and`` keeps what every operand keeps, ``or`` what any operand keeps;
* anything else (``not``, other fields, wildcards, modifiers, keywords) keeps every pair.

The result is a superset of the pairs the rule's SQL can match, so leaving out the rows of every
other pair changes no rule's result. Only the rows of pairs some rule keeps are copied (and
parsed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wormsign.detect.sigma.logsources import CATEGORY_FIELD, SERVICE_FIELD

Pair = tuple[str | None, ...]  # (event.dataset, event.code, category tags, service tags)
_PLAIN = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-/ .")


def _plain(value: Any) -> str | None:
    """The value as the text it must equal (lower case), or None when it is not a plain value."""
    from sigma.types import SigmaNumber, SigmaString  # compiling only: a run reads the plans

    if type(value) is SigmaNumber:
        text = str(value)
    elif isinstance(value, SigmaString) and not value.contains_special() and not value.contains_placeholder():
        text = str(value)
    else:
        return None
    return text.lower() if text and set(text) <= _PLAIN else None


def _infix(value: Any) -> str | None:
    """For ``*text*`` (the log source conditions of logsources.py): the text, lower case."""
    from sigma.types import SigmaString, SpecialChars

    star = SpecialChars.WILDCARD_MULTI
    if isinstance(value, SigmaString) and len(value) >= 2 and value.startswith(star) and value.endswith(star):
        inner = value[1:-1]
        if not inner.contains_special() and not inner.contains_placeholder():
            text = str(inner)
            return text.lower() if text.isascii() else None
    return None


#: A rule's scope as data (kept in the compiled rule set, compiled.py): None (every pair),
#: ``["eq", i, text]`` (pair part ``i`` equals ``text``, ignoring case), ``["sub", i, text]``
#: (part ``i`` contains ``text``, ignoring case), ``["and", [...]]`` or ``["or", [...]]``.
Plan = list[Any] | None


def _plan(node: Any, cols: dict[str, int]) -> Plan:
    """The plan of one condition node; None where it can be true on any pair (most nodes)."""
    from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR

    if isinstance(node, ConditionAND):
        parts = [p for p in (_plan(a, cols) for a in node.args) if p is not None]
        return None if not parts else parts[0] if len(parts) == 1 else ["and", parts]
    if isinstance(node, ConditionOR):
        alts = [_plan(a, cols) for a in node.args]
        return None if any(p is None for p in alts) else ["or", alts]
    if isinstance(node, ConditionFieldEqualsValueExpression) and isinstance(node.field, str):
        i = cols.get(node.field.lower())
        if i is not None and i < 2:
            text = _plain(node.value)
            if text is not None:
                return ["eq", i, text]
        elif i is not None:
            text = _infix(node.value)
            if text is not None:
                return ["sub", i, text]
    return None


def plan(trees: list[Any], cols: dict[str, int]) -> Plan:
    """A rule's scope from its converted condition ``trees`` (one per condition), as data."""
    alts = [_plan(t, cols) for t in trees]
    return None if not alts or any(p is None for p in alts) else ["or", alts]


def _keep(p: Plan, pairs: frozenset[Pair], memo: dict[tuple[Any, ...], frozenset[Pair]] | None = None,
          ) -> frozenset[Pair]:
    """The pairs of ``pairs`` plan ``p`` keeps; ``memo`` remembers each test's pairs, for calls
    with one set of pairs (SigmaHQ's 2,400 rules test a few hundred distinct values)."""
    if p is None:
        return pairs
    op = p[0]
    if op == "and":
        out = pairs
        for q in p[1]:  # each test keeps pairs one by one: test on all, then intersect
            out = out & _keep(q, pairs, memo)
        return out
    if op == "or":
        return frozenset().union(*(_keep(q, pairs, memo) for q in p[1]))
    i, text = p[1], p[2]
    key = (op, i, text)
    if memo is not None and key in memo:
        return memo[key]
    if op == "eq":  # a non-ASCII value is kept: DuckDB may fold its case otherwise
        got = frozenset(x for x in pairs if x[i] is not None and (not x[i].isascii() or x[i].lower() == text))
    else:
        got = frozenset(x for x in pairs if x[i] is not None and text in x[i].lower())
    if memo is not None:
        memo[key] = got
    return got


def rule_pairs(trees: list[Any], pairs: frozenset[Pair], cols: dict[str, int]) -> frozenset[Pair]:
    """The pairs (of ``pairs``) whose rows a rule can match, from its converted condition ``trees``.

    A pair is ``(event.dataset, event.code, category tags, service tags)``, the tags as in
    ``sigma_events`` (``|process_creation|``). The trees are those the backend converted
    (:attr:`DuckDBSigmaBackend.trees`): the log source is a condition on the tags like any other.
    ``cols``: lower-case field name -> index in the pair (:func:`columns`).
    """
    return _keep(plan(trees, cols), pairs)


def columns(system: dict[str, str]) -> dict[str, int]:
    """Lower-case Sigma field name -> index in a pair, from the ``system`` map of fields.yaml."""
    at = {"event.dataset": 0, "event.code": 1}
    cols = {k.lower(): at[v] for k, v in system.items() if v in at}
    cols.update({CATEGORY_FIELD: 2, SERVICE_FIELD: 3})
    return cols


def needed(rules: Iterable[list[Any]], pairs: Iterable[Pair], system: dict[str, str]) -> set[Pair]:
    """The pairs any rule can match; ``rules``: each rule's converted condition trees."""
    cols = columns(system)
    return needed_plans((plan(r, cols) for r in rules), pairs)


def needed_plans(plans: Iterable[Plan], pairs: Iterable[Pair]) -> set[Pair]:
    """The pairs any rule can match; ``plans``: each rule's :func:`plan`."""
    present = frozenset(pairs)
    out: set[Pair] = set()
    memo: dict[tuple[Any, ...], frozenset[Pair]] = {}
    for p in plans:
        out |= _keep(p, present, memo)
        if out == present:
            break
    return out


def live_plans(plans: Iterable[Plan], pairs: Iterable[Pair]) -> tuple[set[Pair], list[bool]]:
    """The pairs any rule can match, and for each rule (of ``plans``: each rule's :func:`plan`)
    whether it can match one of ``pairs`` at all."""
    present = frozenset(pairs)
    out: set[Pair] = set()
    live: list[bool] = []
    memo: dict[tuple[Any, ...], frozenset[Pair]] = {}
    for p in plans:
        got = _keep(p, present, memo)
        out |= got
        live.append(bool(got))
    return out, live
