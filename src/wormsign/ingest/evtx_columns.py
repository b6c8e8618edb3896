"""EVTX records read in blocks: ``records_json`` texts parsed by ``pyarrow.json``, mapped in columns.

The per-record path (``evtx.EvtxReader._one``) parses each record's JSON with ``orjson``, maps
it with the compiled ``windows.yaml`` and hands a dict row on, which is converted to Arrow with
the other rows. :class:`EvtxBlocks` takes the texts of a block of records instead: one parse of
the block by Arrow (the ``System`` fields and the ``EventData`` fields the mappings read, with
an explicit schema), then ``windows.yaml`` applied to the columns
(:class:`~wormsign.ingest.columnar.WindowsColumns`, the mapping the Winlogbeat path uses). It
takes only the records it is sure to read exactly as the per-record path does; every other
record is left to that path, in record order (the caller interleaves them):

- how ``records_json`` writes a record differs from a Winlogbeat document in ways the schema
  must follow: ``Provider`` and ``TimeCreated`` carry their values in ``#attributes``;
  ``EventID`` is a number, or an object (``#text`` and ``#attributes.Qualifiers``) or text for
  some providers (those two are rewritten to the number in the text Arrow parses, never in
  ``raw``); an ``EventData`` field is a number in one event and text in another (Sysmon's
  ``ProcessId`` against Security's hex text), a boolean (Sysmon's ``Initiated``), a list or an
  object. The type of each field is learned from the parse errors Arrow gives (a number where
  text was declared, and back); a field that is a number in some records and text in others of
  one block has its integers written as text in the copy Arrow parses (every transform of
  ``windows.py`` reads an int as it reads its decimal text), remembered for the channel's next
  blocks; any other change of type splits the block where it changes. The fields parsed are
  those the mappings of the channel's events seen so far read (a block that needs more is
  parsed again);
- a block that Arrow cannot parse whole (a key given twice, a list or object where a value is
  declared, a number that does not fit) is split at the record Arrow names, or in halves;
- a record without ``Event`` or ``System``, with ``UserData`` instead of an ``EventData`` object
  where its mapping reads fields, without ``SystemTime`` (the per-record path falls back to the
  record's own timestamp), nested deeper than ``orjson`` reads, with no record id, or that would
  be rejected (no readable time, no host) is left to the per-record path.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from wormsign import schema
from wormsign.ingest.columnar import WindowsColumns, assemble
from wormsign.ingest.ndjson_fast import ts_column
from wormsign.ingest.windows import TRANSFORMS, WindowsMapper

_S = pa.string()
_I = pa.int64()
_EMPTY = pa.struct([])  # an object whose presence alone matters
_ATTR = "#attributes"

#: A block smaller than this is read record by record (Arrow's fixed cost a call outweighs it).
MIN_FAST = 64

#: An ``EventID`` object as ``records_json`` writes it, or the number as text: the number, as
#: ``to_int`` reads it (no leading zero, 18 digits at most: always an int64), for the parse.
_NUM = r"([1-9][0-9]{0,17}|0)"
_EID = re.compile(r'"EventID":\{"#attributes":\{"Qualifiers":(?:[0-9]+|"[^"\\]*"|null)\},"#text":'
                  rf'(?:{_NUM}|"{_NUM}")\}}|"EventID":"{_NUM}"')
#: What Arrow says when a value is not of the type declared for its column.
_CHANGED = re.compile(r"Column\((/[^)]*)\) changed from (\w+) to (\w+) in row (\d+)")
_ROW = re.compile(r" in row (\d+)")
_DATA = "/Event/EventData/"
#: The types an EventData field may be learned as (from Arrow's name of the JSON value).
_KINDS = {"string": _S, "number": _I, "boolean": pa.bool_()}


def _eid_text(text: str) -> str | None:
    """``text`` with its first ``EventID`` object or text written as the plain number, or None
    when that ``EventID`` is not one of those forms (the record is then Arrow's to refuse)."""
    m = _EID.search(text)
    if m is None:
        return None
    return f'{text[:m.start()]}"EventID":{m.group(1) or m.group(2) or m.group(3)}{text[m.end():]}'


#: The transforms that read an integer as they read its decimal text (``str(v)`` or
#: ``to_int(v)``): a field read only by these may have its integers parsed as text.
_INT_AS_TEXT = frozenset(TRANSFORMS.values())
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def _ints_safe(blocks: EvtxBlocks, name: str) -> bool:
    """Whether every mapping step that reads the field reads an integer as its text."""
    if not _NAME.match(name):
        return False
    mapper = blocks.columns.mapper
    return all(fn in _INT_AS_TEXT for evs, common in mapper._compiled.values()
               for comp in (*evs.values(), common) for k, _, fn in comp.steps if k == name)


def _ints_pattern(names: frozenset[str]) -> str:
    """RE2: an integer value of one of the keys, and what follows it (a key's opening quote cannot
    be inside a string: a quote there is escaped, and the closing one would end the string)."""
    return r'"(' + "|".join(sorted(names)) + r')":(-?(?:0|[1-9][0-9]*))([,}])'


def _ints_as_text(parse: pa.Array, names: frozenset[str]) -> pa.Array:
    """The texts with the integer values of the keys ``names`` written as text (only the texts
    that may hold one are rewritten).

    The texts that may are found first by each key's own ``KEY":-?[0-9]``, which every text the
    pattern matches holds: a pattern that starts with a letter lets RE2 skip to that letter, where
    one that starts with a quote (or with an alternation) steps through the whole text. On the
    Security records of the corpus (one key, ``ProcessId``) 1.1 CPU us a record went to 0.5."""
    has = None
    for name in sorted(names):
        one = pc.match_substring_regex(parse, name + r'":-?[0-9]')
        has = one if has is None else pc.or_(has, one)
    if has is None or not pc.any(has).as_py():
        return parse
    fixed = pc.replace_substring_regex(pc.filter(parse, has), _ints_pattern(names), r'"\1":"\2"\3')
    return pc.replace_with_mask(parse, has, fixed)  # a text the pattern does not match is unchanged


def _channel_of(text: str) -> str:
    """The channel a record's text names (a hint: the first ``"Channel":"`` in it)."""
    i = text.find('"Channel":"')
    if i < 0:
        return ""
    j = text.find('"', i + 11)
    return text[i + 11:j if j >= 0 else i + 11][:200]


def _deep(text: str) -> bool:
    """A record that may nest more than orjson reads (1,024 levels): 1,000 or more brackets."""
    return text.count("{") + text.count("[") >= 1000


def _truthy(arr: pa.Array) -> pa.Array:
    return pc.fill_null(pc.not_equal(arr, ""), False)


class _Failed:
    """A block Arrow did not parse whole; ``row``: the first record it refused, when it says."""

    __slots__ = ("row",)

    def __init__(self, row: int | None) -> None:
        self.row = row


_AGAIN = object()


class EvtxBlocks:
    """Blocks of ``records_json`` texts into event-model tables (see the module doc)."""

    def __init__(self, mapper: WindowsMapper) -> None:
        self.columns = WindowsColumns(mapper)
        self.known = mapper.source_fields()
        #: The EventData fields parsed: those the mappings of the events seen so far read (Arrow
        #: fills every field of the schema in every row; a block that needs more is parsed again).
        #: Kept by channel (that of a block's first record): a schema of the fields of every
        #: channel seen would make each parse dearer.
        self.fields: frozenset[str] = frozenset()
        self._fields: dict[str, frozenset[str]] = {}
        self._channel = ""
        #: EventData fields learned to be numbers or booleans (the others are text), by channel
        #: as the fields are (Sysmon's ``ProcessId`` is a number, Security's text).
        self.types: dict[str, pa.DataType] = {}
        self._types: dict[str, dict[str, pa.DataType]] = {}
        #: EventData fields seen as numbers in some events and text in others of one block
        #: (Sysmon's ``ProcessId`` against Security's hex): in such a block their integers are
        #: written as text in what Arrow parses (never in ``raw``), which every transform reads
        #: as it reads the int.
        self.mixed: set[str] = set()
        #: Those of each channel: its blocks have them written as text before the first parse.
        self._mixed: dict[str, frozenset[str]] = {}
        self._options: dict[Any, pj.ParseOptions] = {}

    def _parse_options(self) -> pj.ParseOptions:
        key = (self.fields, tuple(sorted((k, str(t)) for k, t in self.types.items() if k in self.fields)))
        opts = self._options.get(key)
        if opts is None:
            attrs = lambda name: pa.struct([(_ATTR, pa.struct([(name, _S)]))])  # noqa: E731
            sch = pa.schema([("Event", pa.struct([
                ("System", pa.struct([
                    ("Provider", attrs("Name")), ("EventID", _I), ("Channel", _S), ("Computer", _S),
                    ("TimeCreated", attrs("SystemTime")),
                ])),
                ("EventData", pa.struct([(k, self.types.get(k, _S)) for k in sorted(self.fields)])),
                ("UserData", _EMPTY),
            ]))])
            if len(self._options) > 64:
                self._options.clear()
            opts = self._options[key] = pj.ParseOptions(explicit_schema=sch,
                                                         unexpected_field_behavior="ignore")
        return opts

    def convert(self, texts: list[str], recnos: list[int | None]) -> tuple[pa.Table, list[bool]]:
        """The rows of the records it takes (in order), and which records those are."""
        n = len(texts)
        took = [False] * n
        self._channel = _channel_of(texts[0]) if n else ""
        self.fields = self._fields.get(self._channel, frozenset())
        if len(self._types) > 1000:
            self._types.clear()
        self.types = self._types.setdefault(self._channel, {})
        raw = pa.array(texts, _S)
        # The text Arrow parses: EventID objects and texts written as the number.
        parse = raw
        odd: list[int] = []
        for i, t in enumerate(texts):
            j = t.find('"EventID":')
            if j >= 0 and t[j + 10:j + 11] in ('{', '"'):
                odd.append(i)
        if odd:
            fixed = [_eid_text(texts[i]) for i in odd]
            mask = [False] * n
            for i, f in zip(odd, fixed, strict=True):
                mask[i] = f is not None
            vals = [f for f in fixed if f is not None]
            if vals:
                parse = pc.replace_with_mask(raw, pa.array(mask), pa.array(vals, _S))
        mixed = self._mixed.get(self._channel)
        if mixed:
            parse = _ints_as_text(parse, mixed)
        # Only one JSON object a record, shallow enough for orjson, with a record id, goes to Arrow.
        plain = pc.and_(pc.starts_with(raw, "{"), pc.ends_with(raw, "}"))
        long = pc.greater_equal(pc.binary_length(raw), 2000)
        if pc.any(long).as_py():
            deep = {i for i in pc.indices_nonzero(long).to_pylist() if _deep(texts[i])}
            if deep:
                plain = pc.and_(plain, pa.array([i not in deep for i in range(n)]))
        if None in recnos:
            plain = pc.and_(plain, pa.array([r is not None for r in recnos]))
        runs: list[tuple[int, int]] = []  # stretches of plain records
        if pc.all(plain).as_py():
            runs.append((0, n))
        else:
            start = None
            for i, ok in enumerate(plain.to_pylist()):
                if ok and start is None:
                    start = i
                elif not ok and start is not None:
                    runs.append((start, i))
                    start = None
            if start is not None:
                runs.append((start, n))
        tables: list[tuple[int, pa.Table]] = []
        pending = runs[::-1]
        while pending:
            a, b = pending.pop()
            if b - a < MIN_FAST:
                continue
            got = self._block(raw.slice(a, b - a), parse.slice(a, b - a), recnos[a:b])
            if isinstance(got, _Failed):
                r = got.row
                if r is not None and 0 < r < b - a:
                    pending += [(a + r, b), (a, a + r)]  # up to the record refused, then from it
                elif r == 0:
                    pending.append((a + 1, b))  # the first record is the per-record path's
                else:
                    half = (a + b) // 2
                    pending += [(half, b), (a, half)]
                continue
            table, take = got
            if table.num_rows:
                tables.append((a, table))
            took[a:b] = take
        if not tables:
            return schema.SCHEMA.empty_table(), took
        tables.sort(key=lambda x: x[0])
        return (pa.concat_tables([t for _, t in tables]) if len(tables) > 1 else tables[0][1]), took

    def _block(self, raw: pa.Array, parse: pa.Array, recnos: list[int | None]) -> Any:
        """One stretch of plain records: (table, took) or :class:`_Failed`."""
        n = len(raw)
        flipped: set[str] = set()
        as_text = self._mixed.get(self._channel, frozenset())  # fields whose integers ``parse`` holds as text
        for _ in range(64):
            offsets = pa.Array.from_buffers(pa.int32(), n + 1, [None, parse.buffers()[1]],
                                            offset=parse.offset)
            first, last = offsets[0].as_py(), offsets[n].as_py()
            buf = parse.buffers()[2].slice(first, last - first)
            try:
                t = pj.read_json(
                    pa.BufferReader(buf),
                    read_options=pj.ReadOptions(use_threads=False, block_size=buf.size + 1),
                    parse_options=self._parse_options(),
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                msg = str(exc)
                m = _CHANGED.search(msg)
                name = m.group(1)[len(_DATA):] if m and m.group(1).startswith(_DATA) else None
                if m is not None and name is not None and name in self.fields and m.group(3) in _KINDS:
                    was, now = m.group(2), m.group(3)
                    if name not in flipped:
                        flipped.add(name)  # learn the field's type (a block of one channel has one)
                        if now == "string":
                            self.types.pop(name, None)
                        else:
                            self.types[name] = _KINDS[now]
                        continue
                    if name not in as_text and {was, now} == {"string", "number"} and _ints_safe(self, name):
                        # A number here, text there in one block: its integers are read as text.
                        self.mixed.add(name)
                        self.types.pop(name, None)
                        as_text = as_text | {name}
                        if len(self._mixed) > 1000:
                            self._mixed.clear()
                        self._mixed[self._channel] = as_text
                        parse = _ints_as_text(parse, as_text)
                        continue
                row = _ROW.search(msg)
                return _Failed(int(row.group(1)) if row else None)
            if t.num_rows != n:
                return _Failed(None)
            got = self._mapped(t, n, raw, recnos)
            if got is not _AGAIN:
                return got
        return _Failed(None)

    def _mapped(self, t: pa.Table, n: int, raw: pa.Array, recnos: list[int | None]) -> Any:
        field = pc.struct_field
        t = t.combine_chunks()
        ev = t.column("Event").chunk(0)
        system = field(ev, "System")
        data = field(ev, "EventData")
        stime = field(field(field(system, "TimeCreated"), _ATTR), "SystemTime")
        provider = field(field(field(system, "Provider"), _ATTR), "Name")
        ts = ts_column(stime)
        cols, missing = self.columns.map_parsed(
            n, field(system, "Channel"), provider, field(system, "EventID"), field(system, "Computer"), ts,
            raw, self.fields, lambda name: field(data, name))
        if missing:  # an event whose mapping reads fields not parsed yet: parse them too
            self.fields = self.fields | missing
            if len(self._fields) > 1000:
                self._fields.clear()
            self._fields[self._channel] = self.fields
            return _AGAIN
        cols["src.record"] = pa.array(recnos, _I)
        # Event and System objects; EventData an object, or no UserData either, or a mapping
        # that reads no field (flatten_data reads UserData where EventData is not an object,
        # which only a mapping's fields see); SystemTime given (else the
        # per-record path takes the record's own time); a time and a host (else rejected).
        take = pc.and_(pc.is_valid(ev), pc.is_valid(system))
        user = pc.and_(pc.is_null(data), pc.is_valid(field(ev, "UserData")))
        if pc.any(user).as_py():  # their rows are the same if their mapping reads no field
            user = pc.and_(user, self.columns.reads_data(field(system, "Channel"), field(system, "EventID")))
            take = pc.and_(take, pc.invert(user))
        take = pc.and_(take, _truthy(stime))
        take = pc.and_(take, pc.and_(pc.is_valid(cols["ts"]), _truthy(cols["host"])))
        take = pc.fill_null(take, False)
        table = assemble(cols, n)
        if not pc.all(take).as_py():
            table = table.filter(take)
        return table, take.to_pylist()

