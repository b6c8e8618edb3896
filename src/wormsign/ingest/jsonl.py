"""JSON lines: Winlogbeat/Elastic Agent documents, native ECS/EDR JSON and the OTRF flat layout.

One reader for newline-delimited JSON (also a file that is one JSON array, and
Elasticsearch export hits with ``_source``). The layout is decided per record, so a file
may mix them:

- ``winlog`` present (nested, or as dotted ``winlog.*`` keys): a Windows event as
  Winlogbeat or Elastic Agent ship it; unwrapped into a :class:`WinEvent` and mapped by
  ``windows.yaml``, so it gives the same row as the EVTX record it came from.
- ``EventID`` at the top level: the OTRF Security-Datasets layout (``otrf.yaml``), also a
  Windows event.
- otherwise: native ECS (Elastic Defend and other EDRs); the fields that are columns of
  the model are copied, the kind comes from ``ecs.yaml``.

``src.record`` is the 1-based line number (the element number in an array file).
Zeek JSON logs (``ts`` with ``uid`` or ``id.orig_h``) are left to the Zeek reader.

Files of Winlogbeat or OTRF lines are read in blocks by ``pyarrow.json`` and mapped in
columns (:mod:`wormsign.ingest.ndjson_fast`) after their first line; what that path cannot
read exactly as the code here does goes through the code here, line by line, in order.
"""

from __future__ import annotations

import gzip
import re
import zipfile
import zlib
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import IO, Any

import orjson
import pyarrow as pa
import yaml

from wormsign import schema
from wormsign.ingest.base import Sink, Source, clean, clean_ip, derive_names, host_key, parse_ts, to_int
from wormsign.ingest.ndjson_fast import JsonBlocks
from wormsign.ingest.windows import WinEvent, load_mapper

#: libyaml's loader when PyYAML has it (ten times faster), else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

BOM = b"\xef\xbb\xbf"
#: A whole-file JSON document (array, pretty-printed export) larger than this is refused.
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError)


def _yaml(name: str) -> dict[str, Any]:
    text = resources.files("wormsign.ingest").joinpath(f"mappings/{name}").read_text("utf-8")
    doc = yaml.load(text, Loader=_YAML_LOADER)
    if not isinstance(doc, dict):
        raise ValueError(f"{name}: not a mapping")
    return doc


@cache
def otrf_keys() -> dict[str, tuple[str, ...]]:
    """The keys ``otrf.yaml`` names for each System field, in the order they are tried."""
    return {k: tuple(v) for k, v in _yaml("otrf.yaml").items()}


@cache
def ecs_mapper() -> EcsMapper:
    return EcsMapper(_yaml("ecs.yaml"))


def is_zeek(obj: Any) -> bool:
    """A Zeek JSON log record (the Zeek reader's, not ours)."""
    return isinstance(obj, dict) and "ts" in obj and ("uid" in obj or "id.orig_h" in obj)


def _first(doc: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        v = doc.get(k)
        if v is not None:
            return v
    return None


_NULL_LINE = re.compile(rb"null[ \t]*\r?\n")  # a JSON null line
_ELEMENTS = 1_000_000  # record numbers of JSON array elements on one line (see _lines_of)
#: Lines read by the columnar path at a time (and their bytes), the smallest piece of a block
#: it still tries when a block does not parse whole, and the fewest lines it starts on.
_BLOCK_LINES = 20_000
_BLOCK_BYTES = 16 << 20
_MIN_FAST = 64
_MIN_BLOCK = 2_000


@cache
def json_blocks(layout: str) -> JsonBlocks:
    return JsonBlocks(load_mapper(), layout, otrf_keys())


class JsonLinesReader:
    """Newline-delimited JSON in the Winlogbeat, native ECS and OTRF layouts (see module doc)."""

    name = "ecs"

    def sniff(self, head: bytes, source: Source) -> bool:
        h = head[3:] if head.startswith(BOM) else head
        h = h.lstrip()
        while _NULL_LINE.match(h):  # JSON null lines (rejected when read): judge by the next line
            h = h.split(b"\n", 1)[1].lstrip()
        if h[:1] not in (b"{", b"["):
            return False
        try:
            obj = orjson.loads(h.split(b"\n", 1)[0])
        except orjson.JSONDecodeError:
            return True  # a long first line, an array or a pretty-printed export: ours
        if isinstance(obj, list):
            obj = obj[0] if obj else {}
        return not is_zeek(obj)

    # -- reading ---------------------------------------------------------------------
    #: Read Winlogbeat lines in blocks through Arrow (:mod:`ndjson_fast`); False: record by record.
    columnar = True

    def read(self, source: Source, sink: Sink) -> None:
        windows = load_mapper()
        ecs = ecs_mapper()
        otrf = otrf_keys()

        def one(recno: int, obj: Any, raw: str) -> None:
            try:
                row = self._row(obj, raw, windows, ecs, otrf)
            except _ERRORS as exc:
                sink.reject(recno, "bad-record", f"unusable JSON record: {type(exc).__name__}: {exc}")
                return
            if row is None:
                what = "JSON null" if obj is None else type(obj).__name__
                sink.reject(recno, "bad-record", f"not a JSON object ({what})")
                return
            row["src.record"] = recno
            sink.add(row)

        # The columnar layout of this file: that of its first record (None: not known yet).
        layouts: list[str] | None = None
        for item in self._records(source, sink, self.columnar):
            if item.__class__ is tuple:
                if layouts is None and item[1].__class__ is dict:
                    layouts = self._layouts(item[1], otrf)
                one(*item)
            else:
                if layouts is None:
                    layouts = self._layouts(_first_object(item[1]), otrf)
                self._block(item, layouts, sink, one)

    @staticmethod
    def _layouts(obj: Any, otrf: dict[str, tuple[str, ...]]) -> list[str]:
        """The columnar layout for a file whose first record is ``obj`` (none for native ECS)."""
        if obj.__class__ is not dict:
            return []
        if obj.get("winlog").__class__ is dict:
            return ["winlog"]
        if _first(obj, otrf["event_id"]) is not None and "_source" not in obj:
            return ["otrf"]
        return []

    def _block(self, block: list[Any], layouts: list[str], sink: Sink, one: Any) -> None:
        """A block of lines after the first (the first one's number, the lines): what the
        columnar reader takes goes to the sink as tables, every other line through the
        per-record path, all in line order. ``layouts``: the columnar layouts still tried for
        this file (a layout that takes nothing of a parsed block is dropped)."""
        first, lines = block
        cand = (list(range(len(lines))) if None not in lines
                else [i for i, x in enumerate(lines) if x is not None])
        tables: list[Any] = []
        taken: set[int] = set()
        # Arrow's kernels cost a fixed time a call: a short file is quicker record by record.
        pending = [cand] if len(cand) >= _MIN_BLOCK else []
        while pending and layouts:  # a block that does not parse whole is split, down to small pieces
            part = pending.pop()
            if len(part) < _MIN_FAST:
                continue
            try:
                got = json_blocks(layouts[0]).convert([lines[i] for i in part], [first + i for i in part])
            except (pa.ArrowException, ValueError, TypeError, OverflowError):
                got = None  # a value Arrow will not hold: the per-record path says what it is
            if got is None:
                half = len(part) // 2
                pending += [part[half:], part[:half]]
                continue
            table, took = got
            if table.num_rows:
                tables.append((part[0], table))
                taken.update(i for i, ok in zip(part, took, strict=True) if ok)
            elif not tables:  # nothing of this file is of its layout after all
                layouts.clear()
        if not taken:
            for i, line in enumerate(lines):
                for item in self._steady(sink, first + i, line):
                    one(*item)
            return
        tables.sort(key=lambda x: x[0])
        whole = pa.concat_tables([t for _, t in tables]) if len(tables) > 1 else tables[0][1]
        if len(taken) == len(lines):
            sink.add_table(whole)
            return
        done = start = 0  # rows of ``whole`` handed to the sink / where the current run starts
        for i, line in enumerate(lines):
            if i in taken:
                done += 1
                continue
            if done > start:
                sink.add_table(whole.slice(start, done - start))
                start = done
            for item in self._steady(sink, first + i, line):
                one(*item)
        if done > start:
            sink.add_table(whole.slice(start, done - start))

    @staticmethod
    def _steady(sink: Sink, lineno: int, line: bytes | None) -> Iterator[tuple[int, Any, str]]:
        """The records of one line after the file's first (no array opened it): what
        :meth:`_lines_of` does with such a line."""
        if line is None:
            sink.reject(lineno, "record-too-large", f"line longer than {schema.MAX_RECORD_BYTES} bytes")
            return
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if line.strip():
                sink.reject(lineno, _why(line), f"line {lineno}: {exc}")
            return
        items = _items(obj)
        if items is not None:
            base = lineno * _ELEMENTS
            for i, el in enumerate(items, 1):
                yield base + i, el, orjson.dumps(el).decode()
            return
        yield lineno, obj, line.decode().rstrip("\r\n")

    def _records(self, source: Source, sink: Sink, blocks: bool = False) -> Iterator[Any]:
        """(record number, parsed JSON, raw text) of each record; broken ones are rejected.
        With ``blocks``, the lines after the first come in blocks (see :func:`_blocks`)."""
        try:
            yield from self._lines_of(source, sink, blocks)
        except _Damaged as exc:
            sink.reject(None, "truncated-archive", f"the compressed stream is damaged: {exc}")

    def _lines_of(self, source: Source, sink: Sink, blocks: bool = False) -> Iterator[Any]:
        """The records of a source read line by line (or whole, when it is one JSON document);
        with ``blocks``, once the first line is read (and opened no array), the other lines in
        blocks (:func:`_blocks`)."""
        loads, decode_error, limit = orjson.loads, orjson.JSONDecodeError, schema.MAX_RECORD_BYTES
        with source.open() as fh:
            lineno = 0
            first = True  # the first line with text: it may open a whole-file document
            lenient = False  # inside a JSON array written one element a line
            wide = False  # line 1 held an array: later lines are numbered L * 1,000,000
            for line in _lines(fh, limit):
                lineno += 1
                if blocks and not first and not lenient and not wide:
                    yield from _blocks(fh, limit, lineno, line)  # this line and the rest, in blocks
                    return
                if line is None:
                    sink.reject(lineno, "record-too-large", f"line longer than {limit} bytes")
                    continue
                if lineno == 1 and line.startswith(BOM):
                    line = line[3:]
                try:
                    obj = loads(line)
                except decode_error as exc:
                    text = line.strip()
                    if not text:
                        continue
                    if first and text[:1] in (b"[", b"{"):
                        first = False
                        done = yield from self._document(source, sink)
                        if done:
                            return
                        lenient = text[:1] == b"["
                        if not lenient:
                            # Not a whole-file document either: this first line is simply broken.
                            sink.reject(lineno, _why(line), f"line {lineno}: {exc}")
                            continue
                        # An array one element a line: the first element may share the bracket's line.
                    first = False
                    if lenient:
                        text = text.lstrip(b"[").rstrip(b"],").strip()
                        if not text:
                            continue
                        try:
                            obj = loads(text)
                        except decode_error:
                            pass
                        else:
                            yield lineno, obj, text.decode()
                            continue
                    sink.reject(lineno, _why(line), f"line {lineno}: {exc}")
                    continue
                first = False
                items = _items(obj)
                if items is not None:  # a one-line array or Elasticsearch export
                    # Element i of line 1 is record i (a whole-file array); element i of a later line L
                    # is record L * 1,000,000 + i, so that every record of the file has its own number.
                    if lineno == 1:
                        wide = True
                    base = 0 if lineno == 1 else lineno * _ELEMENTS
                    for i, el in enumerate(items, 1):
                        yield base + i, el, orjson.dumps(el).decode()
                    continue
                yield (lineno * _ELEMENTS if wide else lineno), obj, line.decode().rstrip("\r\n")

    def _document(self, source: Source, sink: Sink) -> Iterator[tuple[int, Any, str]]:
        """A file that is one JSON document (array or export); False when it does not parse whole."""
        try:
            with source.open() as fh:
                data = fh.read(MAX_DOCUMENT_BYTES + 1)
        except (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile):
            return False  # a damaged stream is no whole document: its lines are read up to the damage
        if len(data) > MAX_DOCUMENT_BYTES:
            sink.reject(None, "record-too-large", f"JSON document over {MAX_DOCUMENT_BYTES} bytes")
            return True
        try:
            doc = orjson.loads(data[3:] if data.startswith(BOM) else data)
        except orjson.JSONDecodeError:
            return False
        items = _items(doc)
        for i, el in enumerate([doc] if items is None else items, 1):
            yield i, el, orjson.dumps(el).decode()
        return True

    # -- one record ------------------------------------------------------------------
    def _row(
        self, obj: Any, raw: str, windows: Any, ecs: EcsMapper, otrf: dict[str, tuple[str, ...]]
    ) -> dict[str, Any] | None:
        if obj.__class__ is not dict:
            return None
        src = obj.get("_source")
        if src.__class__ is dict:
            obj = src
        w = obj.get("winlog")
        if w.__class__ is dict:
            return self._winlog(obj, w, raw, windows)
        if "winlog.channel" in obj or "winlog.event_id" in obj or "winlog.event_data" in obj:
            obj = nest(obj)
            w = obj.get("winlog")
            if isinstance(w, dict):
                return self._winlog(obj, w, raw, windows)
        eid = _first(obj, otrf["event_id"])
        if eid is not None and not isinstance(eid, (dict, list)):
            return self._otrf(obj, eid, raw, windows, otrf)
        return ecs.map(obj, raw)

    @staticmethod
    def _winlog(doc: dict[str, Any], w: dict[str, Any], raw: str, windows: Any) -> dict[str, Any]:
        """A Winlogbeat / Elastic Agent document."""
        ev = doc.get("event")
        if ev.__class__ is not dict:
            ev = {}
        data = w.get("event_data")
        if data.__class__ is not dict:
            data = {}
        user = w.get("user_data")
        if user.__class__ is dict:
            data = dict(data)
            for k, v in user.items():
                if v.__class__ is dict:
                    data.update(v)
                elif k != "xml_name":
                    data[k] = v
        host = doc.get("host")
        if host.__class__ is not dict:
            host = {}
        eid = w.get("event_id")
        if eid.__class__ is not int:
            if eid.__class__ is str:
                got = _EIDS.get(eid)
                eid = got if got is not None else _eid(eid)
            else:
                eid = to_int(eid if eid is not None else ev.get("code"))
        row = windows.map_parts(  # a WinEvent's parts: the record number is not needed here
            _str(w.get("channel")),
            _str(w.get("provider_name")) or _str(ev.get("provider")),
            eid,
            _str(w.get("computer_name")) or _str(host.get("name")),
            parse_ts(doc.get("@timestamp")),
            data,
            raw,
        )
        eid_ecs = ev.get("id")
        if eid_ecs is not None:
            row["event.id"] = str(eid_ecs)
        ip = host.get("ip")
        if ip is not None:
            ip = first_ip(ip)
            if ip:
                row["host.ip"] = ip
        return row

    @staticmethod
    def _otrf(
        doc: dict[str, Any], eid: Any, raw: str, windows: Any, keys: dict[str, tuple[str, ...]]
    ) -> dict[str, Any]:
        """An OTRF Security-Datasets record: System and EventData fields side by side."""
        ts = None
        for k in keys["timestamp"]:
            ts = parse_ts(doc.get(k))
            if ts is not None:
                break
        row = windows.map(
            WinEvent(
                _str(_first(doc, keys["channel"])),
                _str(_first(doc, keys["provider"])),
                to_int(eid),
                _str(_first(doc, keys["computer"])),
                ts,
                to_int(_first(doc, keys["record"])),
                doc,
                raw,
            )
        )
        row["src.format"] = "otrf"
        return row


#: Event ids as Winlogbeat writes them (text), each read once (:func:`_eid`).
_EIDS: dict[str, int] = {}


def _eid(text: str) -> int | None:
    """An event id written as text (:func:`to_int`), remembered: a log repeats a few hundred. Filled
    as they come, not at import: a table of all 65,536 cost every start 16 ms."""
    eid = to_int(text)
    if eid is not None:
        if len(_EIDS) >= 65_536:
            _EIDS.clear()
        _EIDS[text] = eid
    return eid


# -- native ECS ------------------------------------------------------------------------

_IP_COLUMNS = frozenset(n for n in schema.FIELD_NAMES if n.endswith(".ip"))
_INT_COLUMNS = frozenset(f.name for f in schema.FIELDS if f.type == schema.pa.int64())


class EcsMapper:
    """The compiled form of ``ecs.yaml``: native ECS documents onto the model."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.rules: list[tuple[str, dict[str, frozenset[str]], str | None]] = []
        for rule in doc["kinds"]:
            kind = rule["kind"]
            if kind not in schema.KINDS:
                raise ValueError(f"ecs.yaml: unknown kind {kind!r}")
            has = rule.get("has")
            if has is not None and has not in schema.FIELD_BY_NAME:
                raise ValueError(f"ecs.yaml: {has!r} is not a column of the event model")
            match = {k: frozenset(rule[k]) for k in ("category", "type", "action") if k in rule}
            self.rules.append((kind, match, has))
        self.ts_keys: tuple[str, ...] = tuple(doc["timestamp"])
        self.host_keys: tuple[str, ...] = tuple(doc["host"])
        self.aliases: dict[str, str] = dict(doc.get("aliases") or {})
        for src, col in self.aliases.items():
            if col not in schema.FIELD_BY_NAME:
                raise ValueError(f"ecs.yaml alias {src}: {col!r} is not a column of the event model")
        self.reserved = frozenset(doc["reserved"])
        self.columns = {n: n for n in schema.FIELD_NAMES if n not in self.reserved}

    def map(self, obj: dict[str, Any], raw: str) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        flatten(obj, "", flat, 0)
        row: dict[str, Any] = {"raw": raw}
        columns = self.columns
        for k, v in flat.items():
            if k in columns:
                _put(row, k, v)
        for k, col in self.aliases.items():
            if col not in row and k in flat:
                _put(row, col, flat[k])
        for k in self.ts_keys:
            ts = parse_ts(flat.get(k)) if flat.get(k).__class__ is not list else None
            if ts is not None:
                row["ts"] = ts
                break
        for k in self.host_keys:
            v = flat.get(k)
            if v.__class__ is str and (h := host_key(v)):
                row["host"] = h
                break
        else:
            if row.get("host.ip"):
                row["host"] = row["host.ip"]
        row["kind"] = self.kind(flat, row)
        derive_names(row)
        return row

    def kind(self, flat: dict[str, Any], row: dict[str, Any]) -> str:
        seen = {k: _values(flat.get("event." + k)) for k in ("category", "type", "action")}
        for kind, match, has in self.rules:
            if all(seen[k] & vals for k, vals in match.items()) and (has is None or has in row):
                return kind
        return "generic"


def first_ip(v: Any) -> str | None:
    """The first usable address of a value or list (link-local and loopback only when alone)."""
    vals = v if v.__class__ is list else [v]
    ips = [ip for ip in map(clean_ip, vals) if ip]
    for ip in ips:
        if not ip.startswith(("fe80:", "127.", "::1", "169.254.")):
            return ip
    return ips[0] if ips else None


def _values(v: Any) -> frozenset[str]:
    if v is None:
        return frozenset()
    if v.__class__ is list:
        return frozenset(str(x).lower() for x in v if not isinstance(x, (dict, list)))
    return frozenset((str(v).lower(),))


def _put(row: dict[str, Any], col: str, v: Any) -> None:
    """Set one column from a JSON value, typed as the schema says; odd values are left out."""
    if v.__class__ is list:
        v = [x for x in v if x is not None and not isinstance(x, (dict, list))]
        if not v:
            return
        if col in _IP_COLUMNS:
            v = first_ip(v)
        elif col in _INT_COLUMNS:
            v = v[0]
        else:
            v = (" " if col.endswith("command_line") else ";").join(map(str, v))
    elif v.__class__ is dict:
        return
    if col in _INT_COLUMNS:
        v = to_int(v) if v.__class__ is not bool else None
    elif col in _IP_COLUMNS:
        v = clean_ip(v)
    elif v.__class__ is bool:
        v = "true" if v else "false"
    else:
        v = clean(v if v.__class__ is str else str(v))
    if v is not None:
        row[col] = v


def flatten(obj: dict[str, Any], prefix: str, out: dict[str, Any], depth: int) -> None:
    """Nested objects as dotted keys (``{"a": {"b": 1}}`` -> ``a.b``), at most 16 levels deep."""
    for k, v in obj.items():
        key = prefix + k
        if v.__class__ is dict:
            if depth < 16:
                flatten(v, key + ".", out, depth + 1)
        else:
            out[key] = v


def nest(obj: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys as nested objects (``{"a.b": 1}`` -> ``{"a": {"b": 1}}``); nested ones kept."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        parts = k.split(".")
        cur = out
        for p in parts[:-1]:
            nxt = cur.get(p)
            if nxt.__class__ is not dict:
                nxt = cur[p] = {}
            cur = nxt
        last = parts[-1]
        if v.__class__ is dict and cur.get(last).__class__ is dict:
            cur[last].update(nest(v))
        else:
            cur[last] = nest(v) if v.__class__ is dict else v
    return out


def dig(doc: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, whether the document nests it, dots it, or mixes both."""
    v = doc.get(path)
    if v is not None:
        return v
    head, _, rest = path.partition(".")
    while rest:
        sub = doc.get(head)
        if sub.__class__ is dict:
            v = dig(sub, rest)
            if v is not None:
                return v
        nxt, _, rest = rest.partition(".")
        head = head + "." + nxt
    return None


# -- lines -----------------------------------------------------------------------------


def _blocks(fh: IO[bytes], limit: int, lineno: int, line: bytes | None) -> Iterator[list[Any]]:
    """``line`` (number ``lineno``) and the rest of the stream in blocks of lines, each line read
    exactly as :func:`_lines` reads it (``None`` for one over ``limit``). A damaged stream
    ends with the lines read before the damage, then ``_Damaged``."""
    readline = fh.readline
    lines: list[bytes | None] = [line]
    size = 0 if line is None else len(line)
    first = lineno
    try:
        while True:
            try:
                line = readline(limit + 1)
            except (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
                raise _Damaged(str(exc)) from exc
            if not line:
                break
            if len(line) > limit and not (line.endswith(b"\n") and len(line) == limit + 1):
                while line and not line.endswith(b"\n"):
                    line = readline(1 << 20)
                line = None
            else:
                size += len(line)
            lines.append(line)
            if size >= _BLOCK_BYTES or len(lines) >= _BLOCK_LINES:
                yield [first, lines]
                first += len(lines)
                lines, size = [], 0
    except GeneratorExit:
        raise
    except BaseException:
        if lines:  # the lines read before an error are records like any other
            yield [first, lines]
        raise
    if lines:
        yield [first, lines]


class _Damaged(Exception):
    """The compressed stream under a source ends or breaks early."""


def _lines(fh: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """Lines of a binary stream; ``None`` for a line over ``limit`` bytes (skipped, never held whole)."""
    readline = fh.readline
    while True:
        try:
            line = readline(limit + 1)
        except (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile) as exc:  # a cut stream, a bad CRC
            raise _Damaged(str(exc)) from exc
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n") and len(line) == limit + 1:
            yield line
            continue
        while line and not line.endswith(b"\n"):
            line = readline(1 << 20)
        yield None


def _str(v: Any) -> str | None:
    """A text field as text; another JSON type there (a bool, a number, an object) is no value."""
    return v if v.__class__ is str else None


def _first_object(lines: list[bytes | None]) -> Any:
    """The first line of a block that is a JSON object, parsed (None if none of the first few)."""
    for line in lines[:100]:
        if line is not None and line[:1] == b"{":
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if obj.__class__ is dict:
                return obj
    return None


def _items(obj: Any) -> list[Any] | None:
    """The records of a JSON document that holds several: an array, or an export's ``hits.hits``."""
    if obj.__class__ is list:
        return obj
    if obj.__class__ is dict and "hits" in obj:
        hits = dig(obj, "hits.hits")
        if isinstance(hits, list):
            return hits
    return None


def _why(line: bytes) -> str:
    """``bad-encoding`` for a line that is not UTF-8, else ``bad-json``."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "bad-encoding"
    return "bad-json"
