"""Zeek TSV read in blocks and mapped in columns: ``zeek.yaml`` applied to Arrow arrays.

:func:`convert` takes a block of data lines that share one header (separator, fields, types,
placeholders, log) and gives back the event-model rows of the lines it takes, the same rows
:meth:`ZeekMapper.map` gives for each of them (``raw`` included: the JSON text ``orjson``
writes of the record). Lines are split by Arrow (``split_pattern``: exactly ``str.split``),
common values are computed by kernels (:mod:`wormsign.ingest.columnar`), and every other value
goes through the very transform of ``zeek.py`` once per distinct value. A line it is not sure
to read as the per-record path does is not taken, and the caller reads it that way:

- a line with another number of fields than ``#fields`` names (rejected there);
- a line with ``\\x`` (Zeek's escapes, which that path undoes) or a control character (``raw``
  would need JSON's ``\\uXXXX``; double quotes and backslashes are escaped in columns);
- a line whose ``ts`` is not plain epoch seconds within Python's datetimes (``-``, ISO text,
  a year past 9999: the per-record path reads or rejects it).

A line whose byte counts may not fit int64 when summed is not taken either. A header whose
field names repeat or need JSON escaping, or whose ``ts`` field is missing or a set, is left
whole to the per-record path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wormsign import schema
from wormsign.ingest.columnar import NULL_S, assemble, col_type, t_int, t_ip, t_lower, t_str

_S = pa.string()
_I = pa.int64()
#: Epoch seconds as ``epoch_ts`` reads them fast: decimal, an optional decimal fraction.
_EPOCH = r"^(?P<w>[0-9]{1,12})(?:\.(?P<f>[0-9]+))?$"
#: The last second Python's datetime holds (9999-12-31 23:59:59 UTC).
_MAX_SECONDS = 253_402_300_799

#: Transforms (by their name in ``zeek.yaml``) whose value on a text column a kernel computes
#: (``columnar``'s, which fall back to the same Python functions: ``windows._set``/``_int``/
#: ``_ip``/``_lower`` are ``zeek``'s on text).
_FAST: dict[str, Callable[[pa.Array, str], dict[str, pa.Array]]] = {
    "str": t_str, "join": t_str, "int": t_int, "ip": t_ip, "lower": t_lower,
}
Transform = Callable[[Any, str, dict[str, Any]], None]


class Ops:
    """``zeek.py``'s transforms, handed over by it (this module does not import it): ``by_name``
    as in ``zeek.yaml``, the columns each sets besides its target, and ``host``: the transform
    that gives the host key a host field names (``clean_ip`` of its text)."""

    def __init__(self, by_name: dict[str, Transform], side: dict[str, tuple[str, ...]], host: Transform) -> None:
        self.name = {fn: n for n, fn in by_name.items()}
        self.fn = by_name
        self.side = side
        self.host = host


class Header:
    """What the lines of one block share: the state of ``ZeekReader._tsv`` for them."""

    __slots__ = ("sep", "set_sep", "unset", "empty", "names", "sets", "spec", "ok", "_odd")

    def __init__(self, sep: str, set_sep: str, unset: str, empty: str, names: list[str],
                 sets: list[int], spec: Any) -> None:
        self.sep, self.set_sep, self.unset, self.empty = sep, set_sep, unset, empty
        self.names, self.sets, self.spec = list(names), frozenset(sets), spec
        plain = all(n and not any(c in n for c in '"\\') and all(ord(c) >= 32 for c in n) for n in names)
        self.ok = (plain and len(set(names)) == len(names) and "ts" in names and bool(sep)
                   and names.index("ts") not in self.sets  # a list is no time there
                   and not any(c in set_sep for c in '"\\') and all(ord(c) >= 32 for c in set_sep)
                   and not (len(sep) > 1 and any(ord(c) < 32 for c in sep)))
        ctl = "".join(f"\\x{{{c:02x}}}" for c in range(32) if chr(c) != sep)
        self._odd = "[" + ctl + "]|\\\\x"  # a control character, or \x (Zeek's escapes: unescaped)


def py_via(arr: pa.Array, conv: Callable[[str], Any], fn: Transform, to: str,
           outs: tuple[str, ...]) -> dict[str, pa.Array]:
    """``fn(conv(text), to, row)`` for each distinct text of ``arr`` (nulls set nothing): the
    columns of ``outs`` it sets (null where it sets none)."""
    n = len(arr)
    if arr.null_count == n:
        return {c: pa.nulls(n, col_type(c)) for c in outs}
    d = pc.dictionary_encode(arr)
    res: dict[str, list[Any]] = {c: [] for c in outs}
    row: dict[str, Any] = {}
    for v in d.dictionary.to_pylist():
        row.clear()
        fn(conv(v), to, row)
        for c, out in res.items():
            out.append(row.get(c))
    return {c: pc.take(pa.array(vals, col_type(c)), d.indices) for c, vals in res.items()}


def epoch_column(arr: pa.Array) -> pa.Array:
    """``zeek.epoch_ts`` of each value it is sure of (plain epoch seconds); null elsewhere."""
    m = pc.extract_regex(arr, _EPOCH)
    whole = pc.cast(pc.struct_field(m, "w"), _I)
    frac = pc.struct_field(m, "f")
    frac = pc.cast(pc.utf8_slice_codeunits(pc.utf8_rpad(frac, 6, "0"), 0, 6), _I)
    whole = pc.if_else(pc.less_equal(whole, _MAX_SECONDS), whole, pa.scalar(None, _I))
    us = pc.add(pc.multiply(whole, 1_000_000), frac)
    return pc.cast(us, schema.TS_TYPE)


def _const(v: Any, n: int, typ: pa.DataType = _S) -> pa.Array:
    return pa.array([v] * n, typ) if v is None else pa.repeat(pa.scalar(v, typ), n)


class _Fallback(Exception):
    """A block the per-record path reads (a field given as a set and as text under its two names)."""


def convert(lines: list[str], recnos: list[int], h: Header, mapper: Any, ops: Ops) -> tuple[pa.Table, list[bool]]:
    """The rows of the lines it takes, and which lines those are (see the module doc)."""
    n = len(lines)
    if not h.ok or n == 0:
        return schema.SCHEMA.empty_table(), [False] * n
    text = pa.array(lines, _S)
    k = len(h.names)
    parts = pc.split_pattern(text, h.sep)
    take = pc.and_(pc.equal(pc.list_value_length(parts), k),
                   pc.invert(pc.match_substring_regex(text, h._odd)))
    nulls = pa.array([h.unset, h.empty], _S)
    if not pc.all(take).as_py():
        if not pc.any(take).as_py():
            return schema.SCHEMA.empty_table(), [False] * n
        parts = parts.filter(take)
    ts_text = pc.list_element(parts, h.names.index("ts"))
    ts = epoch_column(pc.if_else(pc.is_in(ts_text, value_set=nulls), NULL_S, ts_text))
    ok_ts = pc.is_valid(ts)
    if not pc.all(ok_ts).as_py():
        take = pc.replace_with_mask(take, take, ok_ts)
        if not pc.any(take).as_py():
            return schema.SCHEMA.empty_table(), [False] * n
        parts = parts.filter(ok_ts)
        ts = ts.filter(ok_ts)
    m = len(ts)
    # Every value of the block in one array (row after row), the placeholders as nulls.
    flat = pc.list_flatten(parts)
    nulled = pc.is_in(flat, value_set=nulls)
    offsets = pc.cast(pc.multiply(_arange(m + 1), k), pa.int32())
    values = pa.ListArray.from_arrays(offsets, pc.if_else(nulled, NULL_S, flat))
    cols_txt = {name: pc.list_element(values, j) for j, name in enumerate(h.names)}
    kept = [r for r, t in zip(recnos, take.to_pylist(), strict=True) if t]
    try:
        cols = _map(h, mapper, ops, cols_txt, ts, m)
    except _Fallback:
        return schema.SCHEMA.empty_table(), [False] * n
    cols["src.record"] = pa.array(kept, _I)
    escape = pc.any(pc.match_substring(text, '"')).as_py() or pc.any(pc.match_substring(text, "\\")).as_py()
    cols["raw"] = _raw(h, flat, nulled, offsets, m, escape)
    table = assemble(cols, m)
    untake = cols.get("\x00untake")
    if untake is not None:
        keep = pc.invert(untake)
        table = table.filter(keep)
        take = pc.replace_with_mask(take, take, keep)
    return table, take.to_pylist()


def _arange(n: int) -> pa.Array:
    """0, 1, .. n - 1 (int32)."""
    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int32()), n)), 1)


def _raw(h: Header, flat: pa.Array, nulled: pa.Array, offsets: pa.Array, m: int, escape: bool) -> pa.Array:
    """``orjson.dumps`` of each record (names in order, None as null, sets as lists), from every
    value of the block in one array (``flat``, row after row; ``nulled``: the placeholders;
    ``escape``: some value may hold a double quote or a backslash)."""
    k = len(h.names)
    if escape:
        flat = pc.replace_substring(pc.replace_substring(flat, "\\", "\\\\"), '"', '\\"')  # JSON's escapes
    i = _arange(m * k)
    at = pc.subtract(i, pc.multiply(pc.divide(i, k), k))  # each value's field number
    keys = [("{" if j == 0 else ",") + '"' + name + '":' for j, name in enumerate(h.names)]
    is_set = [j in h.sets for j in range(k)]
    opens = [key + ('["' if s else '"') for key, s in zip(keys, is_set, strict=True)]
    closes = ['"]' if s else '"' for s in is_set]
    none = [key + "null" for key in keys]
    closes[-1] += "}"
    none[-1] += "}"
    if h.sets:  # the values of sets, row after row: their separators become JSON's
        where = pc.take(pa.array(is_set), at)
        sets = flat.filter(where)
        if pc.any(pc.match_substring(sets, h.set_sep)).as_py():
            flat = pc.replace_with_mask(flat, where, pc.replace_substring(sets, h.set_sep, '","'))
    full = pc.if_else(nulled, pc.take(pa.array(none, _S), at),
                      pc.binary_join_element_wise(pc.take(pa.array(opens, _S), at), flat,
                                                  pc.take(pa.array(closes, _S), at), ""))
    return pc.binary_join(pa.ListArray.from_arrays(offsets, full), "")


def _map(h: Header, mapper: Any, ops: Ops, txt: dict[str, pa.Array], ts: pa.Array, m: int) -> dict[str, pa.Array]:
    spec = h.spec
    names_at = {name: j for j, name in enumerate(h.names)}
    set_sep = h.set_sep

    def split(s: str) -> list[str]:
        return s.split(set_sep)

    def get(name: str, alias: str | None) -> tuple[pa.Array | None, bool]:
        """The column the per-record path reads for a field, and whether it holds sets."""
        a = txt.get(name)
        b = txt.get(alias) if alias is not None else None
        sa = a is not None and names_at[name] in h.sets
        sb = b is not None and names_at[alias] in h.sets  # type: ignore[index]
        if a is None:
            return b, sb
        if b is None or a.null_count == 0:
            return a, sa
        if sa != sb:  # a set in one and text in the other
            raise _Fallback
        return pc.coalesce(a, b), sa

    untake: list[pa.Array] = []  # rows the per-record path reads after all
    row: dict[str, pa.Array] = {
        "ts": ts,
        "kind": _const(spec.kind, m),
        "event.code": _const(spec.name, m),
        "event.dataset": _const("zeek." + spec.name, m),
        "event.provider": _const("zeek", m),
    }

    def put(col: str, val: pa.Array) -> None:  # a step sets col where val is a value
        old = row.get(col)
        val = val if val.type == col_type(col) else val.cast(col_type(col))
        row[col] = val if old is None else pc.coalesce(val, old)

    for k, alias, steps in spec.plan:
        arr, is_set = get(k, alias)
        if arr is None or arr.null_count == m:
            continue
        conv: Callable[[Any], Any] = split if is_set else _same
        for to, fn in steps:
            via = ops.name[fn]
            if via == "keep":
                val = py_via(arr, conv, ops.fn["str"], to, (to,))[to] if is_set else t_str(arr, to)[to]
                old = row.get(to)
                row[to] = val if old is None else pc.coalesce(old, val)
            elif via == "add":
                val = py_via(arr, conv, ops.fn["int"], to, (to,))[to] if is_set else t_int(arr, to)[to]
                old = row.get(to)
                if old is None:
                    row[to] = val
                else:
                    # A sum that may leave int64 (either term 2**62 or more, either way) is
                    # the per-record path's: that row is not taken.
                    old0 = pc.fill_null(old, 0)
                    big = pc.or_(_big(old0), pc.fill_null(_big(val), False))
                    if pc.any(big).as_py():
                        untake.append(big)
                        old0 = pc.if_else(big, 0, old0)
                        val = pc.if_else(big, 0, val)
                    row[to] = pc.if_else(pc.is_valid(val), pc.add_checked(old0, val), old)
            elif via == "orig_side":
                if is_set:
                    continue  # a list is never F
                swap = pc.fill_null(pc.is_in(arr, value_set=pa.array(["F", "false", "False"], _S)), False)
                if not pc.any(swap).as_py():
                    continue
                a = row.get(to, pa.nulls(m, col_type(to)))
                b = row.get("destination.ip", pa.nulls(m, _S))
                row[to], row["destination.ip"] = pc.if_else(swap, b, a), pc.if_else(swap, a, b)
            else:
                fast = None if is_set else _FAST.get(via)
                if fast is not None:
                    outs = fast(arr, to)
                else:
                    outs = py_via(arr, conv, fn, to, (to, *ops.side.get(via, ())))
                for c, val in outs.items():
                    if val.null_count < m:
                        put(c, val)
    if spec.protocol:
        old = row.get("network.protocol")
        const = _const(spec.protocol, m)
        row["network.protocol"] = const if old is None else pc.coalesce(old, const)
    if spec.outcome_field:
        a = txt.get(spec.outcome_field)
        oc = spec.outcomes
        if a is None:
            o = oc.get("None")
            if o:
                row["event.outcome"] = _const(o, m)
        else:
            is_set = names_at[spec.outcome_field] in h.sets
            val = pc.fill_null(a, "\x00none")

            def outcome(v: str, is_set: bool = is_set) -> str | None:
                return oc.get("None" if v == "\x00none" else str(v.split(set_sep)) if is_set else v)

            d = pc.dictionary_encode(val)
            got = pc.take(pa.array([outcome(v) for v in d.dictionary.to_pylist()], _S), d.indices)
            if got.null_count < m:
                put("event.outcome", got)
    for c, v in spec.extra.items():
        old = row.get(c)
        const = _const(v, m, col_type(c))
        row[c] = const if old is None else pc.coalesce(old, const)
    host = row.get("source.ip")
    for f, alias in mapper.host_fields:
        if host is not None and host.null_count == 0:
            break
        arr, is_set = get(f, alias)
        if arr is None or arr.null_count == m:
            continue
        got = (py_via(arr, split, ops.host, "h", ("h",))["h"] if is_set else t_ip(arr, "h")["h"])
        host = got if host is None else pc.coalesce(host, got)
    if host is None:
        host = _const(mapper.no_host, m)
    else:
        if not pc.all(pc.fill_null(pc.string_is_ascii(host), True)).as_py():
            host = py_via(host, _same, _lower_host, "h", ("h",))["h"]
        else:
            host = pc.ascii_lower(host)
        host = pc.fill_null(host, mapper.no_host)
    row["host"] = host
    if untake:
        row["\x00untake"] = _any(untake)
    return row


def _big(a: pa.Array) -> pa.Array:
    return pc.or_(pc.greater_equal(a, 1 << 62), pc.less_equal(a, -(1 << 62)))


def _any(masks: list[pa.Array]) -> pa.Array:
    out = masks[0]
    for m in masks[1:]:
        out = pc.or_(out, m)
    return out


def _same(v: Any) -> Any:
    return v


def _lower_host(v: Any, to: str, row: dict[str, Any]) -> None:
    row[to] = v.lower() if v else None

