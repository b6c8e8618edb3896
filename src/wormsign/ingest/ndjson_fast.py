"""Winlogbeat / Elastic Agent and OTRF NDJSON read in blocks by ``pyarrow.json``, mapped in columns.

:class:`JsonBlocks` turns a block of lines of one layout (``winlog``: Winlogbeat and Elastic
Agent documents; ``otrf``: the flat OTRF layout) into a table of the event model: one parse of
the block by Arrow (only the fields the mapping reads, with an explicit schema), then
``windows.yaml`` applied in columns (:mod:`wormsign.ingest.columnar`). It takes only what it
is sure to read exactly as the per-record path does (``jsonl.py``); every other line is left
to that path, so that rejects, record numbers and rows are the same whichever path reads a line:

- a block that Arrow cannot parse whole (a broken line, a field of another type than text,
  a key given twice, text that is not UTF-8) is not taken at all: the caller splits it;
- a record that is not plainly of the layout (Winlogbeat: no ``winlog`` object, ``user_data``;
  OTRF: no ``EventID``, a ``winlog`` object or dotted ``winlog.*`` keys; both: a ``_source``
  wrapper, an export's ``hits``), one with ``NaN`` or ``Infinity`` where a value
  may stand (Arrow reads them, ``orjson`` rejects the line), and one that would be rejected
  (no timestamp, no host) are left to the per-record path.
"""

from __future__ import annotations

import itertools
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from wormsign import schema
from wormsign.ingest.base import parse_ts
from wormsign.ingest.columnar import NULL_S, WindowsColumns, assemble, py_map, t_int, t_ip
from wormsign.ingest.windows import WindowsMapper

_S = pa.string()
_EMPTY = pa.struct([])  # a key whose presence alone matters
#: Keys that make a record the per-record path's: an export's hits, a _source wrapper (as
#: objects; of another type the block does not parse and is split).
_WRAPPERS = [("_source", _EMPTY), ("hits", _EMPTY), ("hits.hits", _EMPTY)]
#: ISO 8601 as shippers write it (UTC, or no zone: UTC), which Arrow's cast reads as Python's
#: fromisoformat does.
_ISO = (r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
        r"[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
        r"(?:\.[0-9]{1,6})?Z?$")
#: NaN and Infinity as JSON values (Arrow's parser reads them, orjson does not): each token
#: followed by what may follow a value.
_INF = r"Inf(?:inity)?[ \t\r\n]*[,}\]]"
_NAN = r"NaN[ \t\r\n]*[,}\]]"


def ts_column(arr: pa.Array) -> pa.Array:
    """:func:`base.parse_ts` of each value: the common ISO forms by Arrow's cast, the rest by Python."""
    ok = pc.and_(pc.match_substring_regex(arr, _ISO), pc.invert(pc.starts_with(arr, "0000")))
    try:
        common = pc.if_else(ok, arr, NULL_S)
        zoned = pc.fill_null(pc.ends_with(common, "Z"), False)
        out = pc.coalesce(  # no zone is UTC, as parse_ts takes it
            pc.cast(pc.if_else(zoned, common, NULL_S), schema.TS_TYPE),
            pc.cast(pc.cast(pc.if_else(zoned, NULL_S, common), pa.timestamp("us")), schema.TS_TYPE))
    except pa.ArrowInvalid:  # a day that does not exist (30 February): Python says what it is
        out, ok = pa.nulls(len(arr), schema.TS_TYPE), pa.array([False] * len(arr))
    left = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(ok, False)))
    if pc.any(left).as_py():
        out = pc.coalesce(out, py_map(pc.if_else(left, arr, NULL_S), parse_ts, schema.TS_TYPE))
    return out


def _deep(line: bytes) -> bool:
    """A line that may nest more than orjson reads (1,024 levels): 1,000 or more brackets. A
    flat object (one brace, no bracket: found by memchr) is not counted."""
    if line.find(b"{", 1) < 0 and line.find(b"[") < 0:
        return False
    return line.count(b"{") + line.count(b"[") >= 1000


def _truthy(arr: pa.Array) -> pa.Array:
    return pc.fill_null(pc.not_equal(arr, ""), False)


#: The keys OTRF records are read by (``otrf.yaml``), in the order they are tried.
OtrfKeys = dict[str, tuple[str, ...]]


class JsonBlocks:
    """Blocks of NDJSON lines of one layout into event-model tables (see the module doc)."""

    def __init__(self, mapper: WindowsMapper, layout: str, otrf: OtrfKeys) -> None:
        if layout not in ("winlog", "otrf"):
            raise ValueError(f"unknown layout {layout!r}")
        self.layout, self.otrf = layout, otrf
        self.columns = WindowsColumns(mapper)
        #: The EventData fields parsed: those the mappings of the events seen so far read. Arrow
        #: fills every field of the schema in every row, so a schema of all the fields any
        #: mapping reads costs a third more; a block with an event that needs more is parsed again.
        self.fields: frozenset[str] = frozenset()
        self._options: dict[frozenset[str], pj.ParseOptions] = {}

    def _parse_options(self) -> pj.ParseOptions:
        opts = self._options.get(self.fields)
        if opts is None:
            data = [(k, _S) for k in sorted(self.fields)]
            if self.layout == "winlog":
                sch = pa.schema([
                    ("@timestamp", _S),
                    *_WRAPPERS,
                    ("event", pa.struct([("provider", _S), ("code", _S), ("id", _S)])),
                    ("host", pa.struct([("name", _S), ("ip", pa.list_(_S))])),
                    ("winlog", pa.struct([
                        ("channel", _S), ("provider_name", _S), ("computer_name", _S), ("event_id", _S),
                        ("event_data", pa.struct(data)), ("user_data", _EMPTY),
                    ])),
                ])
            else:
                keys = self.otrf
                own = {k: pa.int64() for k in keys["event_id"]}
                for what in ("channel", "provider", "computer", "timestamp"):
                    own.update((k, _S) for k in keys[what])
                own.update(_WRAPPERS)
                own["winlog"] = _EMPTY
                sch = pa.schema([*own.items(), *((k, t) for k, t in data if k not in own)])
            if len(self._options) > 64:
                self._options.clear()
            opts = self._options[self.fields] = pj.ParseOptions(
                explicit_schema=sch, unexpected_field_behavior="ignore")
        return opts

    def convert(self, lines: list[bytes], recnos: list[int]) -> tuple[pa.Table, list[bool]] | None:
        """The rows of the lines it takes, and which lines those are; None when the block does
        not parse whole (then nothing of it is taken)."""
        n = len(lines)
        buf = b"".join(lines)
        if len(buf) >= 1 << 31:
            return None
        offsets = pa.array(list(itertools.accumulate(map(len, lines), initial=0)), pa.int32())
        try:
            text = pa.Array.from_buffers(pa.binary(), n, [None, offsets.buffers()[1], pa.py_buffer(buf)])
            text = text.cast(_S)  # checks UTF-8
        except pa.ArrowInvalid:
            return None
        raw = pc.utf8_rtrim(text, "\r\n")
        # Only lines that are one JSON object, shallow enough for orjson (1,024 levels), go to
        # Arrow's parser (it reads a JSON null line as no row at all, or worse).
        plain = pc.and_(pc.starts_with(raw, "{"), pc.ends_with(raw, "}"))
        long = pc.greater_equal(pc.binary_length(raw), 2000)
        if pc.any(long).as_py():
            deep = {i for i in pc.indices_nonzero(long).to_pylist() if _deep(lines[i])}
            if deep:
                plain = pc.and_(plain, pa.array([i not in deep for i in range(n)]))
        if not pc.all(plain).as_py():
            keep = pc.indices_nonzero(plain).to_pylist()
            if len(keep) < 1:
                return table_none(n)
            got = self.convert([lines[i] for i in keep], [recnos[i] for i in keep])
            if got is None:
                return None
            took = [False] * n
            for i, ok in zip(keep, got[1], strict=True):
                took[i] = ok
            return got[0], took
        for _ in range(2):
            got = self._parsed(buf, n, raw, recnos)
            if got is None or got is not _AGAIN:
                return got
        return None

    def _parsed(self, buf: bytes, n: int, raw: pa.Array, recnos: list[int]) -> Any:
        try:
            t = pj.read_json(
                pa.BufferReader(buf),
                read_options=pj.ReadOptions(use_threads=False, block_size=len(buf) + 1),
                parse_options=self._parse_options(),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        if t.num_rows != n:
            return None  # two documents on one line
        t = t.combine_chunks()
        field = pc.struct_field

        def top(name: str) -> pa.Array:
            return t.column(name).chunk(0)

        if self.layout == "winlog":
            w, ev, host = top("winlog"), top("event"), top("host")
            eid = t_int(pc.coalesce(field(w, "event_id"), field(ev, "code")), "x")["x"]
            pname = field(w, "provider_name")
            provider = pc.if_else(_truthy(pname), pname, field(ev, "provider"))
            cname = field(w, "computer_name")
            computer = pc.if_else(_truthy(cname), cname, field(host, "name"))
            channel = field(w, "channel")
            ts = ts_column(top("@timestamp"))
            data = field(w, "event_data")

            def column(name: str) -> pa.Array:
                return field(data, name)

            take = pc.and_(pc.is_valid(w), pc.is_null(field(w, "user_data")))
        else:
            keys = self.otrf
            eid = pc.coalesce(*(top(k) for k in keys["event_id"]))
            channel, provider, computer = (pc.coalesce(*(top(k) for k in keys[what]))
                                           for what in ("channel", "provider", "computer"))
            ts = pc.coalesce(*(ts_column(top(k)) for k in keys["timestamp"]))
            column = top
            # A winlog object, or a dotted winlog.* key even when null, makes it a Winlogbeat
            # record (a literal search is fast; a value that merely holds the text is read the
            # per-record way, which is never wrong).
            take = pc.and_(pc.and_(pc.is_valid(eid), pc.is_null(top("winlog"))),
                           pc.invert(pc.match_substring_regex(raw, "winlog\\.")))
        # An export's hits and a _source wrapper are the per-record path's.
        take = pc.and_(take, pc.and_(pc.is_null(top("_source")),
                                     pc.and_(pc.is_null(top("hits")), pc.is_null(top("hits.hits")))))
        cols, missing = self.columns.map_parsed(n, channel, provider, eid, computer, ts, raw, self.fields,
                                                column)
        if missing:  # an event whose mapping reads fields not parsed yet: parse them too
            self.fields = self.fields | missing
            return _AGAIN
        if self.layout == "winlog":
            ev_id = field(ev, "id")
            if ev_id.null_count < n:
                old = cols.get("event.id")
                cols["event.id"] = ev_id if old is None else pc.coalesce(ev_id, old)
            ips = field(host, "ip")
            if ips.null_count < n:
                ip = first_ips(ips)
                old = cols.get("host.ip")
                cols["host.ip"] = ip if old is None else pc.coalesce(ip, old)
        else:
            cols["src.format"] = pa.array(["otrf"] * n, _S)
        cols["src.record"] = pa.array(recnos, pa.int64())
        # NaN and Infinity as values: each is followed by a comma or a closing bracket (the line
        # is one whole object). Text such as "Inf, ..." inside a string is read the per-record
        # way too, which is never wrong; a literal prefix keeps these searches fast.
        nan = pc.or_(pc.match_substring_regex(raw, _INF), pc.match_substring_regex(raw, _NAN))
        take = pc.and_(take, pc.invert(nan))
        take = pc.and_(take, pc.and_(pc.is_valid(cols["ts"]), _truthy(cols["host"])))
        table = assemble(cols, n)
        if not pc.all(take).as_py():
            table = table.filter(take)
        return table, take.to_pylist()


_AGAIN = object()


def table_none(n: int) -> tuple[pa.Table, list[bool]]:
    """No line taken."""
    return schema.SCHEMA.empty_table(), [False] * n


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
