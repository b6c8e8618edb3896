"""Winlogbeat / Elastic Agent NDJSON read in blocks by ``pyarrow.json`` and mapped in columns.

:class:`WinlogbeatBlocks` turns a block of lines into a table of the event model: one parse of
the block by Arrow (only the fields the mapping reads, with an explicit schema), then
``windows.yaml`` applied in columns (:mod:`wormsign.ingest.columnar`). It takes only what it
is sure to read exactly as the per-record path does (``jsonl.py``); every other line is left
to that path, so that rejects, record numbers and rows are the same whichever path reads a line:

- a block that Arrow cannot parse whole (a broken line, a field of another type than text,
  a key given twice, text that is not UTF-8) is not taken at all: the caller splits it;
- a record that is not a plain Winlogbeat document (no ``winlog`` object, a ``_source``
  wrapper, an export's ``hits``, ``user_data``), one with ``NaN`` or ``Infinity`` where a value
  may stand (Arrow reads them, ``orjson`` rejects the line), and one that would be rejected
  (no timestamp, no host) are left to the per-record path.
"""

from __future__ import annotations

import itertools

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from wormsign import schema
from wormsign.ingest.base import parse_ts
from wormsign.ingest.columnar import NULL_S, WindowsColumns, assemble, py_map, t_int, t_ip
from wormsign.ingest.windows import WindowsMapper

_S = pa.string()
_EMPTY = pa.struct([])  # a key whose presence alone matters
#: ISO 8601 as shippers write it, which Arrow's cast reads as Python's fromisoformat does.
_ISO = (r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
        r"(?:\.[0-9]{1,6})?Z$")
#: NaN and Infinity where a JSON value may start: Arrow's parser reads them, orjson does not.
_NAN = r"[\[:,][ \t\r\n]*-?(?:NaN|Inf)"


def ts_column(arr: pa.Array) -> pa.Array:
    """:func:`base.parse_ts` of each value: the common ISO form by Arrow's cast, the rest by Python."""
    ok = pc.and_(pc.match_substring_regex(arr, _ISO), pc.invert(pc.starts_with(arr, "0000")))
    try:
        out = pc.cast(pc.if_else(ok, arr, NULL_S), schema.TS_TYPE)
    except pa.ArrowInvalid:  # a day that does not exist (30 February): Python says what it is
        out, ok = pa.nulls(len(arr), schema.TS_TYPE), pa.array([False] * len(arr))
    left = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(ok, False)))
    if pc.any(left).as_py():
        out = pc.coalesce(out, py_map(pc.if_else(left, arr, NULL_S), parse_ts, schema.TS_TYPE))
    return out


def _truthy(arr: pa.Array) -> pa.Array:
    return pc.fill_null(pc.not_equal(arr, ""), False)


def looks_plain(line: bytes) -> bool:
    """A line that may be one JSON object, shallow enough for orjson (1,024 levels)."""
    return (line[:1] == b"{" and line.rstrip(b"\r\n")[-1:] == b"}"
            and (len(line) < 2000 or line.count(b"{") + line.count(b"[") < 1000))


class WinlogbeatBlocks:
    """Blocks of Winlogbeat NDJSON lines into event-model tables (see the module doc)."""

    def __init__(self, mapper: WindowsMapper) -> None:
        self.columns = WindowsColumns(mapper)
        data = pa.struct([(k, _S) for k in sorted(self.columns.fields)])
        self.schema = pa.schema([
            ("@timestamp", _S),
            ("_source", _EMPTY),
            ("hits", _EMPTY),
            ("event", pa.struct([("provider", _S), ("code", _S), ("id", _S)])),
            ("host", pa.struct([("name", _S), ("ip", pa.list_(_S))])),
            ("winlog", pa.struct([
                ("channel", _S), ("provider_name", _S), ("computer_name", _S), ("event_id", _S),
                ("event_data", data), ("user_data", _EMPTY),
            ])),
        ])
        self.parse = pj.ParseOptions(explicit_schema=self.schema, unexpected_field_behavior="ignore")

    def convert(self, lines: list[bytes], recnos: list[int]) -> tuple[pa.Table, list[bool]] | None:
        """The rows of the lines it takes, and which lines those are; None when the block does
        not parse whole (then nothing of it is taken). Every line must pass :func:`looks_plain`."""
        n = len(lines)
        buf = b"".join(lines)
        offsets = pa.array(list(itertools.accumulate(map(len, lines), initial=0)), pa.int32()) \
            if len(buf) < 1 << 31 else None
        if offsets is None:
            return None
        try:
            text = pa.Array.from_buffers(pa.binary(), n, [None, offsets.buffers()[1], pa.py_buffer(buf)])
            text = text.cast(_S)  # checks UTF-8
            t = pj.read_json(
                pa.BufferReader(buf),
                read_options=pj.ReadOptions(use_threads=False, block_size=len(buf) + 1),
                parse_options=self.parse,
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        if t.num_rows != n:
            return None  # two documents on one line
        t = t.combine_chunks()
        raw = pc.utf8_rtrim(text, "\r\n")
        w = t.column("winlog").chunk(0)
        ev = t.column("event").chunk(0)
        host = t.column("host").chunk(0)
        take = pc.and_(pc.is_valid(w), pc.and_(pc.is_null(t.column("_source").chunk(0)),
                                              pc.is_null(t.column("hits").chunk(0))))
        take = pc.and_(take, pc.is_null(pc.struct_field(w, "user_data")))
        take = pc.and_(take, pc.invert(pc.match_substring_regex(raw, _NAN)))

        def field(parent: pa.Array, name: str) -> pa.Array:
            return pc.struct_field(parent, name)

        ev_code = field(ev, "code")
        eid = t_int(pc.coalesce(field(w, "event_id"), ev_code), "x")["x"]
        pname = field(w, "provider_name")
        provider = pc.if_else(_truthy(pname), pname, field(ev, "provider"))
        cname = field(w, "computer_name")
        computer = pc.if_else(_truthy(cname), cname, field(host, "name"))
        ts = ts_column(t.column("@timestamp").chunk(0))
        data = field(w, "event_data")
        names = set(self.columns.fields)

        def get(name: str) -> pa.Array | None:
            if name not in names:
                return None
            a = field(data, name)
            return None if a.null_count == n else a

        cols = self.columns.map(n, field(w, "channel"), provider, eid, computer, ts, raw, get)
        ev_id = field(ev, "id")
        if ev_id.null_count < n:
            old = cols.get("event.id")
            cols["event.id"] = ev_id if old is None else pc.coalesce(ev_id, old)
        ips = field(host, "ip")
        if ips.null_count < n:
            ip = first_ips(ips)
            old = cols.get("host.ip")
            cols["host.ip"] = ip if old is None else pc.coalesce(ip, old)
        cols["src.record"] = pa.array(recnos, pa.int64())
        take = pc.and_(take, pc.and_(pc.is_valid(cols["ts"]), _truthy(cols["host"])))
        table = assemble(cols, n)
        if not pc.all(take).as_py():
            table = table.filter(take)
        return table, take.to_pylist()


def first_ips(ips: pa.Array) -> pa.Array:
    """``jsonl.first_ip`` of each list of addresses (no value where it gives none)."""
    from wormsign.ingest.jsonl import first_ip

    lens = pc.list_value_length(ips)
    one = pc.fill_null(pc.equal(lens, 1), False)
    single = pc.list_flatten(pc.filter(ips, one))  # the one address of each such list
    out = pc.replace_with_mask(pa.nulls(len(ips), _S), one, t_ip(single, "x")["x"]) \
        if len(single) else pa.nulls(len(ips), _S)
    many = pc.fill_null(pc.greater(lens, 1), False)
    if pc.any(many).as_py():
        vals = [first_ip(v) for v in pc.filter(ips, many).to_pylist()]
        out = pc.replace_with_mask(out, many, pa.array(vals, _S))
    return pc.if_else(_truthy(out), out, NULL_S)
