"""Which rules of a log source group can match any of its events, from the texts they require.

Design: a group pass (scan.py) costs DuckDB about half a millisecond a rule to bind and plan
before it reads a row (SigmaHQ's 1,185 process_creation rules: 0.7 s on hayabusa-sample-evtx),
then a little per rule and event. Most rules cannot match anything in a given case: their
required texts (an ``Image`` ending in ``\\certutil.exe``, a ``CommandLine`` containing
``-urlcache``) occur in none of its events. So each rule carries its *need* (kept in the
compiled rule set), a condition on the texts of its fields that holds whenever the rule can
match, and before a group's pass the need is tested against the distinct lower-cased values of
the group's fields (fetched in one query for every group): only the rules whose need holds
are put in the pass.

A need is derived from the condition tree the backend converted (log source conditions
included), node by node, so that a match of the rule's SQL implies the need:

* a string value compared on the lower-cased column (backend.py: ASCII or caseless text) needs
  its text in some value of the field: equal (``eq``) when it has no wildcard, else its first
  literal run as a prefix (``pre``), its last as a suffix (``suf``) and the others inside
  (``has``), all lower-cased as the backend lower-cases them; a number needs its text (``eq``);
* ``and`` needs what each operand needs, ``or`` what one of them needs;
* anything else (``not``, regular expressions, comparisons, ``null``, keywords, values matched
  with ``ILIKE``) needs nothing: the rule is kept.

A rule whose need fails could match no event of the group, so leaving it out of the pass changes
no rule's result; the rest run exactly as before. Field values are attacker-written: they are only
compared, never put into SQL text.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from typing import Any


#: A need as data: None (nothing: any event may match), ``["all", [...]]``, ``["any", [...]]``
#: or ``[op, field, text]`` with ``op`` one of eq, pre, suf, has (text lower-cased).
Need = list[Any] | None
#: Between the values of a field in the text a need is tested on: each value has one before and
#: after it. A value holding it can only make a need hold where it would not (a rule kept).
SEP = "\x00"
_SEP = SEP.encode()
_ORDER = {"eq": 0, "pre": 1, "suf": 1, "has": 2, "any": 3, "all": 3}
#: Searches of one field's values before its substrings of this length are gathered (Texts).
SCREEN = 48
GRAM = 4
#: Bytes of a field's values sampled to estimate an atom's share (Texts.share).
SAMPLE = 16384
_WORD = array("I")


def _caseless(text: str) -> bool:
    """What backend.py lower-cases before comparing (its ``_caseless``)."""
    return text.isascii() or all(c.isascii() or c.lower() == c == c.upper() for c in text)


def _value(field: str, v: Any) -> Need:
    from sigma.types import SigmaExpansion, SigmaNumber, SigmaString, SpecialChars  # compiling only

    if type(v) is SigmaNumber:
        return ["eq", field, str(v).lower()]
    if type(v) is SigmaExpansion:
        return _any([_value(field, x) for x in v.values])
    if type(v) is not SigmaString:
        return None
    runs: list[str | None] = []  # literal runs, None for a wildcard
    for p in v.s:
        if isinstance(p, str):
            if runs and runs[-1] is not None:
                runs[-1] += p
            else:
                runs.append(p)
        elif p in (SpecialChars.WILDCARD_MULTI, SpecialChars.WILDCARD_SINGLE):
            if not runs or runs[-1] is not None:
                runs.append(None)
        else:  # a placeholder: what it becomes is not known here
            return None
    if not all(r is None or _caseless(r) for r in runs):
        return None  # matched with ILIKE on the value as recorded
    if len(runs) == 1 and runs[0] is not None:
        return ["eq", field, runs[0].lower()]
    parts: list[Need] = []
    for i, r in enumerate(runs):
        if r:
            op = "pre" if i == 0 else "suf" if i == len(runs) - 1 else "has"
            parts.append([op, field, r.lower()])
    return _all(parts)


def _sorted(parts: list[Any]) -> list[Any]:
    """Cheapest test first: set look-ups, then searches, then nested needs."""
    return sorted(parts, key=lambda p: _ORDER[p[0]])


def _all(parts: list[Need]) -> Need:
    got = [p for p in parts if p is not None]
    return None if not got else got[0] if len(got) == 1 else ["all", _sorted(got)]


def _any(alts: list[Need]) -> Need:
    if not alts or any(a is None for a in alts):
        return None
    return alts[0] if len(alts) == 1 else ["any", _sorted(alts)]


def _need(node: Any) -> Need:
    from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR  # compiling

    if isinstance(node, ConditionAND):
        return _all([_need(a) for a in node.args])
    if isinstance(node, ConditionOR):
        return _any([_need(a) for a in node.args])
    if isinstance(node, ConditionFieldEqualsValueExpression) and isinstance(node.field, str):
        return _value(node.field, node.value)
    return None


def need(trees: list[Any]) -> Need:
    """A rule's need from its converted condition ``trees`` (one per condition: any of them)."""
    return _any([_need(t) for t in trees])


def fields_of(n: Need, out: set[str] | None = None) -> set[str]:
    """The fields a need reads."""
    out = set() if out is None else out
    if n is not None:
        if n[0] in ("all", "any"):
            for p in n[1]:
                fields_of(p, out)
        else:
            out.add(n[1])
    return out


class Texts:
    """The distinct lower-cased values of a group's fields, to test needs on.

    ``values``: lower-case field name -> its distinct lower-cased values in the group (empty: the
    field has none there). A need on a field not in ``values`` (not fetched) holds. Each test of
    an atom is remembered.

    A text test is a search of the field's values joined (:data:`SEP` around each): about 85 us
    for SigmaHQ's command lines on hayabusa-sample-evtx (300 KB). After :data:`SCREEN` searches
    of one field, its :data:`GRAM`-byte substrings are gathered once (as machine words, about 10
    ms there), and a text with one of its own missing is absent without a search.
    """

    def __init__(self, values: dict[str, Iterable[str]], rows: int = 0) -> None:
        self.rows = rows  # events of the group
        self.sets = {k: frozenset(v) for k, v in values.items()}
        self._joined: dict[str, bytes] = {}
        self._grams: dict[str, set[int] | None] = {}
        self._searches: dict[str, int] = {}
        self._seen: dict[tuple[str, str, str], bool] = {}
        self._samples: dict[str, tuple[bytes, int]] = {}
        self._shares: dict[tuple[str, str, str], float] = {}

    def _text(self, field: str) -> bytes:
        """The field's values as UTF-8, :data:`SEP` around each (a UTF-8 text is in a value exactly
        when its bytes are in these)."""
        got = self._joined.get(field)
        if got is None:
            got = self._joined[field] = (SEP + SEP.join(sorted(self.sets[field])) + SEP).encode()
        return got

    def _absent(self, field: str, text: bytes) -> bool:
        """Whether ``text`` is surely in none of the field's values (a substring of it is missing)."""
        if len(text) < GRAM or _WORD.itemsize != GRAM:
            return False
        grams = self._grams.get(field)
        if grams is None:
            n = self._searches[field] = self._searches.get(field, 0) + 1
            if n < SCREEN:
                return False
            blob = self._text(field)
            grams = self._grams[field] = set()
            for k in range(GRAM):  # every GRAM bytes at each offset, as machine words
                part = blob[k:]
                grams.update(array(_WORD.typecode, part[: len(part) // GRAM * GRAM]))
        return any(int.from_bytes(text[i: i + GRAM], sys.byteorder) not in grams
                   for i in range(len(text) - GRAM + 1))

    def atom(self, op: str, field: str, text: str) -> bool:
        key = (op, field.lower(), text)
        got = self._seen.get(key)
        if got is None:
            f = key[1]
            if f not in self.sets:
                got = True  # not known here
            elif op == "eq":
                got = text in self.sets[f]
            else:
                try:
                    t = text.encode()
                except UnicodeEncodeError:  # no value of the case holds it; DuckDB decides
                    t = None
                if t is not None:
                    t = _SEP + t if op == "pre" else t + _SEP if op == "suf" else t
                got = t is None or (not self._absent(f, t) and t in self._text(f))
            self._seen[key] = got
        return got

    def _sample(self, field: str) -> tuple[bytes, int]:
        """Every n-th of the field's values (about :data:`SAMPLE` bytes), joined as by :meth:`_text`,
        and how many."""
        got = self._samples.get(field)
        if got is None:
            vals = sorted(self.sets[field])
            step = max(1, len(self._text(field)) // SAMPLE)
            part = vals[::step]
            got = self._samples[field] = ((SEP + SEP.join(part) + SEP).encode(), len(part))
        return got

    def share(self, op: str, field: str, text: str) -> float:
        """About which share of the field's distinct values hold the atom (1.0: not known), from a
        sample of them."""
        f = field.lower()
        vals = self.sets.get(f)
        if vals is None:
            return 1.0
        if not vals or not self.atom(op, field, text):
            return 0.0
        if op == "eq":
            return 1 / len(vals)
        key = (op, f, text)
        got = self._shares.get(key)
        if got is None:
            t = text.encode()
            t = _SEP + t if op == "pre" else t + _SEP if op == "suf" else t
            blob, n = self._sample(f)
            got = self._shares[key] = min(1.0, blob.count(t) / n)
        return got

    def holds(self, n: Need) -> bool:
        """Whether some event of the group can meet the need (a rule with a failing need matches none)."""
        if n is None:
            return True
        op = n[0]
        if op == "all":
            return all(self.holds(p) for p in n[1])
        if op == "any":
            return any(self.holds(p) for p in n[1])
        return self.atom(op, n[1], n[2])


#: A guard of more atoms than this is not written (it would cost what it saves).
GUARD_ATOMS = 6
#: Nor one whose atoms hold on more than this share of a field's distinct values.
GUARD_SHARE = 0.25
_SQL = {"eq": "{col} = {lit}", "pre": "starts_with({col}, {lit})", "suf": "suffix({col}, {lit})",
        "has": "contains({col}, {lit})"}


def _alts(n: Need, texts: Texts) -> list[list[str]] | None:
    """Atoms one of which holds on every event where ``n`` can (None: no such few atoms known)."""
    if n is None:
        return None
    if n[0] == "any":
        out: list[list[str]] = []
        for p in n[1]:
            got = _alts(p, texts)
            if got is None:
                return None
            out += got
        return out
    if n[0] == "all":  # one operand's atoms are enough: the rarest
        best, score = None, 0.0
        for p in n[1]:
            got = _alts(p, texts)
            if got is None:
                continue
            s = sum(texts.share(*a) for a in got)
            if best is None or s < score:
                best, score = got, s
        return best
    if n[1].lower() not in texts.sets:
        return None
    return [n] if texts.atom(n[0], n[1], n[2]) else []


def guard(n: Need, texts: Texts, column: dict[str, str]) -> str | None:
    """A cheap SQL test (on the lower-cased columns of a group table, ``column``: lower-case field
    name -> quoted lower-cased column) that is true on every event where the need can hold, when
    a few rare atoms make one: the rule's own condition is then evaluated on those events only."""
    alts = _alts(n, texts)
    if not alts or len(alts) > GUARD_ATOMS or sum(texts.share(*a) for a in alts) > GUARD_SHARE:
        return None
    out = []
    for op, field, text in alts:
        col = column.get(field.lower())
        if col is None or not text.isprintable():
            return None
        out.append(_SQL[op].format(col=col, lit="'" + text.replace("'", "''") + "'"))
    return " OR ".join(out)
