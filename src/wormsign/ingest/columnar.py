"""Windows events mapped in columns: ``windows.yaml`` applied to Arrow arrays, not row by row.

A columnar reader (Winlogbeat NDJSON) hands :class:`WindowsColumns` the
System fields of many records as arrays and a way to get each EventData field as an array;
it gives back the columns of the event model, the same values :meth:`WindowsMapper.map`
gives for each record. Common values are computed by Arrow kernels; every value a kernel
cannot be sure of (a non-ASCII name to lower-case, an odd number, an address that is not
plain IPv4, a hash list) goes through the very Python transform of ``windows.py``, once per
distinct value, so the two paths cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wormsign import schema
from wormsign.ingest import windows as win
from wormsign.ingest.base import IPV4_CANONICAL, NULLS, basename, host_key, to_int

_S = pa.string()
_I = pa.int64()
NULL_S = pa.scalar(None, _S)
NULL_I = pa.scalar(None, _I)
_NULLS = pa.array(sorted(NULLS), _S)
_TYPES: dict[str, pa.DataType] = {f.name: f.type for f in schema.FIELDS}

_DIGITS = r"^[0-9]{1,18}$"  # what to_int reads as a plain decimal (19 digits may not fit)
_IPV4 = "^" + IPV4_CANONICAL + "$"  # what clean_ip gives back as it is
_DIR = r"(?s)^.*[\\/]"  # everything up to the last path separator


def col_type(name: str) -> pa.DataType:
    """The type of a model column, or text for a mapping's temporaries (``_share_local``)."""
    return _TYPES.get(name, _S)


def py_map(arr: pa.Array, fn: Callable[[Any], Any], typ: pa.DataType) -> pa.Array:
    """``fn`` of each value (once per distinct value; nulls stay null)."""
    n = len(arr)
    if arr.null_count == n:
        return pa.nulls(n, typ)
    d = pc.dictionary_encode(arr)
    vals = [fn(v) for v in d.dictionary.to_pylist()]
    return pc.take(pa.array(vals, typ), d.indices)


def py_transform(arr: pa.Array, fn: win.Transform, to: str, outs: tuple[str, ...]) -> dict[str, pa.Array]:
    """A ``windows.py`` transform applied to each distinct value, as it is to a row: the columns
    in ``outs`` that it sets."""
    n = len(arr)
    if arr.null_count == n:
        return {c: pa.nulls(n, col_type(c)) for c in outs}
    if pa.types.is_string(arr.type) or pa.types.is_integer(arr.type):
        d = pc.dictionary_encode(arr)
        values, idx = d.dictionary.to_pylist(), d.indices
    else:  # values the hash table does not take: one by one
        values, idx = arr.to_pylist(), None
    res: dict[str, list[Any]] = {c: [] for c in outs}
    row: dict[str, Any] = {}
    for v in values:
        row.clear()
        if v is not None:
            fn(v, to, row)
        for c, out in res.items():
            out.append(row.get(c))
    arrays = {c: pa.array(vals, col_type(c)) for c, vals in res.items()}
    if idx is None:
        return arrays
    return {c: pc.take(a, idx) for c, a in arrays.items()}


def _nulled(arr: pa.Array, mask: pa.Array) -> pa.Array:
    """``arr`` with the values where ``mask`` holds left out (null)."""
    return pc.if_else(mask, pa.scalar(None, arr.type), arr)


def _rest(arr: pa.Array, done: pa.Array) -> pa.Array | None:
    """The values the fast kernel did not take (``done`` false or null), or None if none."""
    left = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(done, False)))
    if not pc.any(left).as_py():
        return None
    return pc.if_else(left, arr, pa.scalar(None, arr.type))


def t_str(arr: pa.Array, to: str) -> dict[str, pa.Array]:
    if pa.types.is_string(arr.type):
        return {to: _nulled(arr, pc.is_in(arr, value_set=_NULLS))}
    if pa.types.is_integer(arr.type):
        return {to: pc.cast(arr, _S)}  # str() of an int
    return py_transform(arr, win._set, to, (to,))


def t_int(arr: pa.Array, to: str) -> dict[str, pa.Array]:
    if pa.types.is_integer(arr.type):
        return {to: pc.cast(arr, _I)}
    if not pa.types.is_string(arr.type):
        return py_transform(arr, win._int, to, (to,))
    ok = pc.match_substring_regex(arr, _DIGITS)
    out = pc.cast(pc.if_else(ok, arr, NULL_S), _I)
    rest = _rest(arr, ok)
    if rest is not None:
        out = pc.coalesce(out, py_map(rest, to_int, _I))
    return {to: out}


def t_ip(arr: pa.Array, to: str) -> dict[str, pa.Array]:
    """``windows._ip`` over a column: IPv4 in its one spelling as it is, every other value
    through ``clean_ip`` once per distinct value (the same text as the per-record path)."""
    if not pa.types.is_string(arr.type):
        return py_transform(arr, win._ip, to, (to,))
    ok = pc.match_substring_regex(arr, _IPV4)
    out = pc.if_else(ok, arr, NULL_S)
    rest = _rest(arr, ok)
    if rest is not None:
        out = pc.coalesce(out, py_transform(rest, win._ip, to, (to,))[to])
    return {to: out}


def t_lower(arr: pa.Array, to: str) -> dict[str, pa.Array]:
    if not pa.types.is_string(arr.type):
        return py_transform(arr, win._lower, to, (to,))
    ok = pc.and_(pc.string_is_ascii(arr), pc.invert(pc.is_in(arr, value_set=_NULLS)))
    out = pc.ascii_lower(pc.if_else(ok, arr, NULL_S))
    rest = _rest(arr, ok)
    if rest is not None:
        out = pc.coalesce(out, py_transform(rest, win._lower, to, (to,))[to])
    return {to: out}


def outputs(to: str, fn: win.Transform) -> tuple[str, ...]:
    """The columns a step sets."""
    if fn is win._hashes:
        return (to + ".sha256", to + ".md5")
    if fn is win._ip_port:
        return (to + ".ip", to + ".port")
    return (to,)


_FAST: dict[Any, Callable[[pa.Array, str], dict[str, pa.Array]]] = {
    win._set: t_str, win._int: t_int, win._ip: t_ip, win._lower: t_lower,
}


def transform(arr: pa.Array, to: str, fn: win.Transform) -> dict[str, pa.Array]:
    """One step of a mapping over a whole column: the columns it sets (null where it sets none)."""
    fast = _FAST.get(fn)
    if fast is not None:
        return fast(arr, to)
    return py_transform(arr, fn, to, outputs(to, fn))


def basenames(arr: pa.Array) -> pa.Array:
    """:func:`base.basename` of each value."""
    out = pc.replace_substring_regex(arr, _DIR, "")
    return _nulled(out, pc.equal(out, ""))


def _truthy(arr: pa.Array) -> pa.Array:
    """Non-null and not empty (Python's truth of a text value), never null."""
    return pc.fill_null(pc.not_equal(arr, ""), False)


#: A channel with no mapping, in the spec table below.
_UNMAPPED = None


class WindowsColumns:
    """:meth:`WindowsMapper.map_parts` for many records at once (see the module doc)."""

    def __init__(self, mapper: win.WindowsMapper) -> None:
        self.mapper = mapper
        self.fields = mapper.source_fields()
        self._blocks: dict[str, int] = {}  # lower-cased channel -> block number
        self._chans: list[tuple[dict[int, Any], Any]] = []
        self._chain_memo: dict[int, tuple[Any, dict[str, tuple[tuple[str, str, Any], ...]]]] = {}

    def _block(self, channel: str | None) -> int:
        """1 + the number of the channel's mapping block, or 0 when it has none."""
        comp = self.mapper.compiled(channel)
        if comp is None:
            return 0
        for i, c in enumerate(self._chans):
            if c is comp:
                return i + 1
        self._chans.append(comp)
        return len(self._chans)

    def _chains(self, comp: Any) -> dict[str, tuple[tuple[str, str, Any], ...]]:
        """The steps of a compiled mapping that set each column, in order (memoised)."""
        got = self._chain_memo.get(id(comp))
        if got is None:
            steps = () if comp is _UNMAPPED else comp.steps
            out: dict[str, list[tuple[str, str, Any]]] = {}
            for st in steps:
                for c in outputs(st[1], st[2]):
                    out.setdefault(c, []).append(st)
            got = self._chain_memo[id(comp)] = (comp, {c: tuple(v) for c, v in out.items()})
        return got[1]

    def _spec(self, key: int) -> Any:
        block, eid = divmod(key, 65537)
        if block == 0:
            return _UNMAPPED
        events, common = self._chans[block - 1]
        return events.get(eid, common) if eid < 65536 else common

    def _which(self, channel: pa.Array, event_id: pa.Array) -> tuple[list[Any], pa.Array]:
        """The compiled mappings the records take (by channel block and event id), and the
        number in that list of each record's."""
        chan_d = pc.dictionary_encode(channel)
        blocks = pa.array([self._block(c) for c in chan_d.dictionary.to_pylist()], _I)
        block = pc.fill_null(pc.take(blocks, chan_d.indices), 0)
        eid = pc.fill_null(
            pc.if_else(pc.and_(pc.greater_equal(event_id, 0), pc.less_equal(event_id, 65535)),
                       event_id, 65536),
            65536,
        )
        key_d = pc.dictionary_encode(pc.add(pc.multiply(block, 65537), eid))
        specs = [self._spec(k) for k in key_d.dictionary.to_pylist()]
        which = key_d.indices  # per record: its number in ``specs``
        return specs, which

    def reads_data(self, channel: pa.Array, event_id: pa.Array) -> pa.Array:
        """Whether each record's mapping reads any EventData field (False: its row does not
        depend on the record's data at all)."""
        specs, which = self._which(channel, event_id)
        return pc.take(pa.array([comp is not _UNMAPPED and bool(comp.steps) for comp in specs]), which)

    def map_parsed(
        self,
        n: int,
        channel: pa.Array,
        provider: pa.Array,
        event_id: pa.Array,
        computer: pa.Array,
        ts: pa.Array,
        raw: pa.Array,
        have: set[str] | frozenset[str],
        column: Callable[[str], pa.Array],
    ) -> tuple[dict[str, pa.Array], set[str]]:
        """:meth:`map` over a block whose reader parsed only the EventData fields ``have``
        (``column(name)`` one of them). Also gives the fields the block's mappings read that were
        not parsed: when there are any, the columns are incomplete, and the block is to be parsed
        again with them."""
        missing: set[str] = set()

        def get(name: str) -> pa.Array | None:
            if name not in have:
                missing.add(name)
                return None
            a = column(name)
            return None if a.null_count == n else a

        return self.map(n, channel, provider, event_id, computer, ts, raw, get), missing

    def map(
        self,
        n: int,
        channel: pa.Array,
        provider: pa.Array,
        event_id: pa.Array,
        computer: pa.Array,
        ts: pa.Array,
        raw: pa.Array,
        data: Callable[[str], pa.Array | None],
    ) -> dict[str, pa.Array]:
        """The model's columns for ``n`` records (every argument an array of ``n`` values;
        ``data(name)`` the EventData field ``name``, or None where no record has it)."""
        specs, which = self._which(channel, event_id)

        code = pc.cast(event_id, _S)
        cols: dict[str, pa.Array] = {
            "ts": ts, "event.code": code, "event.provider": provider, "event.dataset": channel, "raw": raw,
        }
        has_host = _truthy(computer)
        cols["host.name"] = pc.if_else(has_host, computer, NULL_S)
        hosts = py_map(cols["host.name"], lambda c: host_key(c) or None, _S)
        cols["host"] = hosts

        # Every step of every mapping present, computed once over the whole column.
        done: dict[tuple[str, str, Any], dict[str, pa.Array]] = {}
        chains: dict[str, list[tuple[tuple[str, str, Any], ...]]] = {}  # column -> chain per spec
        for comp in specs:
            steps = () if comp is _UNMAPPED else comp.steps
            for k, to, fn in steps:
                if (k, to, fn) not in done:
                    arr = data(k)
                    done[(k, to, fn)] = {} if arr is None else transform(arr, to, fn)
        by_col = [self._chains(comp) for comp in specs]
        targets = dict.fromkeys(c for ch in by_col for c in ch)
        for col in targets:
            chains[col] = [ch.get(col, ()) for ch in by_col]
        for col, per_spec in chains.items():
            typ = col_type(col)
            base = cols.get(col)
            distinct = list(dict.fromkeys(per_spec))
            cands: list[pa.Array] = []
            for chain in distinct:
                vals = [done[s][col] for s in reversed(chain) if col in done[s]]
                if base is not None:
                    vals.append(base)
                if not vals:
                    cands.append(pa.nulls(n, typ))
                else:
                    cands.append(vals[0] if len(vals) == 1 else pc.coalesce(*vals))
            if len(cands) == 1:
                cols[col] = cands[0]
            else:
                pick = pc.take(pa.array([distinct.index(c) for c in per_spec], pa.int32()), which)
                cols[col] = pc.choose(pick, *cands)

        # kind, action and outcome: one of each per mapping.
        kinds, actions, outcomes, status = [], [], [], []
        for comp in specs:
            spec = None if comp is _UNMAPPED else comp.spec
            kinds.append("generic" if spec is None else spec.kind)
            actions.append(None if spec is None else spec.action or None)
            oc = None if spec is None else spec.outcome
            outcomes.append(None if oc == "status" else oc or None)
            status.append(oc == "status")
        cols["kind"] = pc.take(pa.array(kinds, _S), which)
        cols["event.action"] = pc.take(pa.array(actions, _S), which)
        outcome = pc.take(pa.array(outcomes, _S), which)
        if any(status):
            st = cols.get("auth.status", pa.nulls(n, _S))
            by_status = pc.fill_null(
                py_map(st, lambda v: "success" if to_int(v) == 0 else "failure", _S), "unknown")
            outcome = pc.if_else(pc.take(pa.array(status), which), by_status, outcome)
        cols["event.outcome"] = outcome
        self._derive(cols, n)
        return cols

    @staticmethod
    def _derive(cols: dict[str, pa.Array], n: int) -> None:
        """``windows._derive`` in columns: the share access's full path, names from paths,
        the source name without its leading backslashes."""
        local = cols.pop("_share_local", None)
        rel = cols.get("share.path")
        fname = cols.get("file.name")
        fpath = cols.get("file.path")
        if rel is not None:
            has_rel = pc.and_(_truthy(rel), pc.fill_null(pc.not_equal(rel, "\\"), False))
            if local is not None:
                join = pc.and_(has_rel, _truthy(local))
                base = pc.if_else(pc.starts_with(local, "\\??\\"), pc.utf8_slice_codeunits(local, 4), local)
                joined = pc.binary_join_element_wise(
                    pc.utf8_rtrim(base, "\\"), pc.utf8_ltrim(rel, "\\"), "\\")
                fpath = pc.if_else(join, joined, NULL_S if fpath is None else fpath)
            named = pc.is_valid(fname) if fname is not None else pa.array([False] * n)
            from_rel = pc.and_(has_rel, pc.invert(named))
            rel_names = basenames(rel)
            fname = pc.if_else(from_rel, rel_names, fname if fname is not None else NULL_S)
            named = pc.or_(named, has_rel)  # set, even to no value: file.path does not name it then
        else:
            named = pc.is_valid(fname) if fname is not None else None
        if fpath is not None:
            cols["file.path"] = fpath
            derived = pc.if_else(_truthy(fpath), basenames(fpath), NULL_S)
            if named is None:
                fname = derived
            else:
                fname = pc.if_else(named, fname if fname is not None else NULL_S, derived)
        if fname is not None:
            cols["file.name"] = fname
        exe = cols.get("process.executable")
        if exe is not None:
            derived = pc.if_else(_truthy(exe), basenames(exe), NULL_S)
            own = cols.get("process.name")
            cols["process.name"] = derived if own is None else pc.coalesce(own, derived)
        sd = cols.get("source.domain")
        if sd is not None:
            cols["source.domain"] = pc.if_else(
                pc.fill_null(pc.starts_with(sd, "\\\\"), False), pc.utf8_slice_codeunits(sd, 2), sd)


def assemble(cols: dict[str, pa.Array], n: int) -> pa.Table:
    """A table of the model from columns by name (missing ones null)."""
    arrays = []
    for f in schema.FIELDS:
        a = cols.get(f.name)
        if a is None:
            arrays.append(pa.nulls(n, f.type))
        else:
            if isinstance(a, pa.ChunkedArray):
                a = a.combine_chunks()
            arrays.append(a if a.type == f.type else a.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema.SCHEMA)
