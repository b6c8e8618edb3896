"""Zeek logs, TSV (with ``#fields`` headers) or JSON lines, mapped by ``mappings/zeek.yaml``.

JSON comes as Zeek writes it (``id.orig_h``), nested (``{"id": {"orig_h": ..}}``) or as
sensor pipelines ship it, with dots turned into underscores (``id_orig_h``) and the log
named by ``@stream`` (the sensor by ``@system``). The log is ``_path``, else ``@stream``,
else the one whose fields the record has, else the one the file name ends with
(``NASHUA_x509.log``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import orjson
import yaml

from wormsign import schema
from wormsign.ingest.base import (
    EPOCH,
    INT64_MAX,
    INT64_MIN,
    NULLS,
    BadLine,
    Sink,
    Source,
    basename,
    clean,
    clean_ip,
    iter_lines,
    lines as text_lines,
    parse_ts,
    to_int,
)
from wormsign.ingest.zeek_columns import Header, Ops, convert, convert_json

Transform = Callable[[Any, str, dict[str, Any]], None]  # (value, target, row)


def _text(v: Any) -> str | None:
    if v.__class__ is str:  # the common case, fast
        return None if v in NULLS else v
    if isinstance(v, list):
        v = ";".join(str(x) for x in v if x is not None) or None
    v = clean(v)
    return None if v is None else (v if v.__class__ is str else str(v))


def _set(v: Any, to: str, row: dict[str, Any]) -> None:
    s = _text(v)
    if s is not None:
        row[to] = s


def _keep(v: Any, to: str, row: dict[str, Any]) -> None:
    if row.get(to) is None:
        _set(v, to, row)


def as_int(v: Any) -> int | None:
    """An integer that fits the model's int64 columns, or None (booleans are not counts)."""
    return None if isinstance(v, bool) else to_int(v)


def _int(v: Any, to: str, row: dict[str, Any]) -> None:
    i = as_int(v)
    if i is not None:
        row[to] = i


def _add(v: Any, to: str, row: dict[str, Any]) -> None:
    i = as_int(v)
    if i is not None:
        total = (row.get(to) or 0) + i
        row[to] = total if INT64_MIN <= total <= INT64_MAX else None


def _ip(v: Any, to: str, row: dict[str, Any]) -> None:
    """An address in its one spelling (``clean_ip``: Zeek writes IPv6 compressed, Windows
    not always, and the two meet in joins)."""
    if isinstance(v, list):  # a set of addresses (files.log tx_hosts): the first that is one
        v = next((x for x in v[:64] if clean_ip(x) is not None), None)
    ip = clean_ip(v)
    if ip is not None:
        row[to] = ip


def _orig_side(v: Any, to: str, row: dict[str, Any]) -> None:
    """``is_orig`` F: the file came from the responder, so its receiver (mapped to the
    destination) is the connection's originator: source and destination swap."""
    if v is False or v in ("F", "false", "False"):
        row[to], row["destination.ip"] = row.get("destination.ip"), row.get(to)
        for k in (to, "destination.ip"):
            if row[k] is None:
                del row[k]


def _lower(v: Any, to: str, row: dict[str, Any]) -> None:
    s = _text(v)
    if s is not None:
        row[to] = s.lower()


def _basename(v: Any, to: str, row: dict[str, Any]) -> None:
    b = basename(_text(v))
    if b is not None:
        row[to] = b


_BACKSLASHES = re.compile(r"\\+")


def winpath(s: str) -> str:
    """A Windows path as Zeek logs it: Zeek doubles every backslash, so when every run of
    backslashes has even length the runs are halved; other paths are kept as they are."""
    if "\\\\" not in s:
        return s
    runs = _BACKSLASHES.findall(s)
    if any(len(r) % 2 for r in runs):
        return s
    return _BACKSLASHES.sub(lambda m: m.group(0)[: len(m.group(0)) // 2], s)


def _winpath(v: Any, to: str, row: dict[str, Any]) -> None:
    s = _text(v)
    if s is not None:
        row[to] = winpath(s)


def _bool_outcome(v: Any, to: str, row: dict[str, Any]) -> None:
    if v is True or v in ("T", "true", "True"):
        row[to] = "success"
    elif v is False or v in ("F", "false", "False"):
        row[to] = "failure"


def _krb_client(v: Any, to: str, row: dict[str, Any]) -> None:
    """``user/REALM`` -> user and realm; a machine account (``WS-01$``) also names the source host."""
    s = _text(v)
    if not s:
        return
    name, sep, realm = s.partition("/") if "/" in s else s.partition("@")
    if name:
        row[to] = name
    if sep and realm:
        row["user.domain"] = realm
    if name.endswith("$") and len(name) > 1:
        row["source.domain"] = name[:-1]


TRANSFORMS: dict[str, Transform] = {
    "str": _set, "keep": _keep, "int": _int, "add": _add, "ip": _ip, "lower": _lower,
    "join": _set, "basename": _basename, "winpath": _winpath, "bool_outcome": _bool_outcome,
    "krb_client": _krb_client, "orig_side": _orig_side,
}
#: Columns a transform fills besides its target.
_SIDE_TARGETS = {"krb_client": ("user.domain", "source.domain"), "orig_side": ("destination.ip",)}


def _alias(name: str) -> str | None:
    """The name a shipper that turns dots into underscores gives a field (``id_orig_h``)."""
    return name.replace(".", "_") if "." in name else None


Plan = tuple[tuple[str, str | None, list[tuple[str, Transform]]], ...]


def _plan(fields: dict[str, list[tuple[str, Transform]]]) -> Plan:
    return tuple((k, _alias(k), m) for k, m in fields.items())


@dataclass(slots=True)
class LogSpec:
    """What one Zeek log means."""

    name: str
    kind: str
    protocol: str | None = None
    detect: list[frozenset[str]] = field(default_factory=list)
    fields: dict[str, list[tuple[str, Transform]]] = field(default_factory=dict)
    outcome_field: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    housekeeping: bool = False  # Zeek's own state (loaded_scripts, stats, ...): the sensor's, no host's
    plan: Plan = ()  # fields as (name, underscored name, transforms), in mapping order

    def __post_init__(self) -> None:
        self.plan = _plan(self.fields)


def _compile(where: str, spec: dict[str, Any] | None) -> dict[str, list[tuple[str, Transform]]]:
    out: dict[str, list[tuple[str, Transform]]] = {}
    for src, targets in (spec or {}).items():
        for t in targets if isinstance(targets, list) else [targets]:
            to, via = (t["to"], t.get("via", "str")) if isinstance(t, dict) else (t, "str")
            if via not in TRANSFORMS:
                raise ValueError(f"zeek.yaml {where} {src}: unknown transform {via!r}")
            for col in (to, *_SIDE_TARGETS.get(via, ())):
                if col not in schema.FIELD_BY_NAME:
                    raise ValueError(f"zeek.yaml {where} {src}: {col!r} is not a column of the event model")
            out.setdefault(str(src), []).append((to, TRANSFORMS[via]))
    return out


class ZeekMapper:
    """The compiled form of ``zeek.yaml``."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.no_host: str = str(doc.get("no_host", "-"))
        self.host_fields: tuple[tuple[str, str | None], ...] = tuple(
            (str(f), _alias(str(f))) for f in doc.get("host_fields") or ())
        self.housekeeping: frozenset[str] = frozenset(map(str, doc.get("housekeeping") or ()))
        common = _compile("common", doc.get("common"))
        self.logs: dict[str, LogSpec] = {}
        for name, block in (doc.get("logs") or {}).items():
            kind = block.get("kind", "generic")
            if kind not in schema.KINDS:
                raise ValueError(f"zeek.yaml {name}: unknown kind {kind!r}")
            fields = {k: list(v) for k, v in common.items()}
            fields.update(_compile(name, block.get("fields")))
            oc = block.get("outcomes") or {}
            outcomes = {str(v): o for o in ("success", "failure") for v in oc.get(o, ())}
            extra = {str(k): str(v) for k, v in (block.get("extra") or {}).items()}
            for col in extra:
                if col not in schema.FIELD_BY_NAME:
                    raise ValueError(f"zeek.yaml {name} extra: {col!r} is not a column of the event model")
            detect = [frozenset(_norm(str(k)) for k in d) for d in block.get("detect") or ()]
            self.logs[name] = LogSpec(name, kind, block.get("protocol"), detect, fields,
                                      oc.get("field"), outcomes, extra)
        self._common = common
        self._generic: dict[str, LogSpec] = {}

    def known(self) -> frozenset[str]:
        """Every log name the mapping knows (housekeeping logs included)."""
        return frozenset(self.logs) | self.housekeeping

    def spec(self, log: str) -> LogSpec:
        """The spec of a log; a log the mapping does not know is generic (common fields only)."""
        s = self.logs.get(log) or self._generic.get(log)
        if s is None:
            s = LogSpec(log[:64], "generic", None, [], self._common, housekeeping=log in self.housekeeping)
            if len(self._generic) < 1000:  # #path is attacker-written: bound the cache
                self._generic[log] = s
        return s

    def infer(self, keys: frozenset[str]) -> str | None:
        """The log whose ``detect`` field set the keys contain (first in file order); dotted
        and underscored names are the same field."""
        keys = frozenset(map(_norm, keys))
        for name, s in self.logs.items():
            if any(d <= keys for d in s.detect):
                return name
        return None

    def map(self, spec: LogSpec, rec: dict[str, Any], ts: datetime, line: int, raw: str) -> dict[str, Any]:
        """The model row of one Zeek record (never raises on odd field values)."""
        row: dict[str, Any] = {
            "ts": ts, "kind": spec.kind, "event.code": spec.name, "event.dataset": "zeek." + spec.name,
            "event.provider": "zeek", "src.record": line, "raw": raw,
        }
        get = rec.get
        for k, alias, m in spec.plan:  # in mapping order: common fields first, then the log's
            v = get(k)
            if v is None and alias is not None:
                v = get(alias)
            if v is not None:
                for to, fn in m:
                    fn(v, to, row)
        if spec.protocol and "network.protocol" not in row:
            row["network.protocol"] = spec.protocol
        if spec.outcome_field:
            o = spec.outcomes.get(str(rec.get(spec.outcome_field)))
            if o:
                row["event.outcome"] = o
        for k, v in spec.extra.items():
            row.setdefault(k, v)
        host = row.get("source.ip")  # already a clean address
        if host is None:
            for f, alias in self.host_fields:
                v = get(f)
                host = clean_ip(_text(get(alias) if v is None and alias is not None else v))
                if host:
                    break
        # An address is its own host key until the resolver names it; a record that names no
        # address (x509, pe: only the file id ties them to a connection) is no host's.
        row["host"] = host.lower() if host else self.no_host
        return row


def _norm(name: str) -> str:
    return name.replace(".", "_")


@cache
def load_mapper() -> ZeekMapper:
    """The mapper built from the shipped ``zeek.yaml``."""
    text = resources.files("wormsign.ingest").joinpath("mappings/zeek.yaml").read_text("utf-8")
    return ZeekMapper(yaml.safe_load(text))


# -- values --------------------------------------------------------------------------

_ESC = re.compile(r"\\x([0-9a-fA-F]{2})")


def unescape(s: str) -> str:
    """Undo Zeek's ``\\xHH`` escaping (bytes, so escaped UTF-8 comes back whole)."""
    if "\\x" not in s:
        return s
    b = _ESC.sub(lambda m: chr(int(m.group(1), 16)), s)
    try:
        return b.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return b


def epoch_ts(v: Any) -> datetime | None:
    """A UTC datetime from Zeek ``time``: epoch seconds (number or text) or ISO 8601 text."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return parse_ts(v)
    if not isinstance(v, str):
        return None
    s = v.strip()
    whole, dot, frac = s.partition(".")
    if whole.isdecimal() and (not dot or frac.isdecimal()):
        if len(whole) > 12:  # beyond year 9999
            return None
        try:
            return EPOCH + timedelta(seconds=int(whole), microseconds=int((frac + "000000")[:6]))
        except (OverflowError, ValueError):
            return None
    if not s or s[0] not in "0123456789" or len(s) < 10:
        return None
    return parse_ts(s)


def _record(sink: Sink, mapper: ZeekMapper, spec: LogSpec, rec: dict[str, Any], ts_val: Any,
            line: int, raw: str) -> None:
    if spec.housekeeping and ts_val is None:
        sink.reject(line, "zeek-housekeeping",
                    f"Zeek's own {spec.name} log has no time (the sensor's configuration, no host's activity)",
                    bad=False)
        return
    if ts_val is None:
        sink.reject(line, "no-timestamp", "the record has no ts field")
        return
    ts = epoch_ts(ts_val)
    if ts is None:
        sink.reject(line, "bad-timestamp", f"ts is not a time: {str(ts_val)[:60]!r}")
        return
    sink.add(mapper.map(spec, rec, ts, line, raw))


# -- the reader ------------------------------------------------------------------------

_JSON_KEYS = re.compile(rb'"(?:uid|uids|fuid|id\.orig_h|id_orig_h|_path|@stream|id)"\s*:')
#: What a sensor pipeline names the process that wrote a record (``@proc``).
_ZEEK_PROCS = frozenset(("zeek", "bro"))
_HEADER_KEYS = frozenset(
    ("separator", "set_separator", "empty_field", "unset_field", "path", "open", "close", "fields", "types")
)


def _flatten(obj: dict[str, Any]) -> dict[str, Any]:
    """``{"id": {"orig_h": ..}}`` -> ``{"id.orig_h": ..}`` (one level, as some shippers nest)."""
    if not any(isinstance(v, dict) for v in obj.values()):
        return obj
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                out[f"{k}.{k2}"] = v2
        else:
            out[k] = v
    return out


def _looks_zeek(obj: Any, name: str = "") -> bool:
    if not isinstance(obj, dict):
        return False
    if obj.get("_path").__class__ is str:
        return True
    stream, proc = obj.get("@stream"), obj.get("@proc")
    if stream.__class__ is str and (("ts" in obj and proc is None) or str(proc).lower() in _ZEEK_PROCS):
        return True  # a log with no time (loaded_scripts) still is Zeek's
    if "ts" not in obj:
        return False
    if "uid" in obj or "uids" in obj or "fuid" in obj or "id.orig_h" in obj or "id_orig_h" in obj:
        return True
    ident = obj.get("id")
    if isinstance(ident, dict) and "orig_h" in ident:
        return True
    # No connection id (x509, files, weird): the field set of a log, else a log's file name.
    mapper = load_mapper()
    if mapper.infer(frozenset(_flatten(obj))) is not None:
        return True
    return log_from_name(name, mapper.known()) is not None


def log_from_name(name: str, known: frozenset[str]) -> str | None:
    """The log a file name gives: ``conn.log``, ``conn.00:00:00-01:00:00.log.gz``, or a known
    log at the end of the stem (``NASHUA_x509.log``, ``day1-smb_files.json``)."""
    stem = (basename(name.replace("!", "/")) or "").lower().split(".", 1)[0]
    if stem in known:
        return stem
    ends = [k for k in known if stem.endswith(k) and stem[-len(k) - 1 : -len(k)] in ("_", "-")]
    return max(ends, key=len) if ends else None


_NULL_LINE = re.compile(rb"null[ \t]*\r?\n")  # a JSON null line
_BROKEN = object()  # a line that is not JSON (already rejected)


#: A columnar path: (texts, line numbers) -> (a table of the rows it took, which lines it took).
_Convert = Callable[[list[str], list[int]], tuple[Any, list[bool]]]


class ZeekReader:
    """Zeek TSV (header blocks may repeat in one file) and Zeek JSON lines."""

    name = "zeek"

    def sniff(self, head: bytes, source: Source) -> bool:
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if text.startswith(b"#separator"):
            return True
        if not (text.startswith(b"{") or _NULL_LINE.match(text)):
            return False
        # Judge by the first line that parses: a cut or broken first line must not hide a Zeek log.
        lines = text.split(b"\n")
        for i, line in enumerate(lines[:20]):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                if i == len(lines) - 1:
                    # The head cut this line: judge by the keys it shows.
                    return b'"ts"' in line and _JSON_KEYS.search(line) is not None
                continue
            if obj is None:
                continue  # a JSON null line (rejected when read): judge by the next line
            return _looks_zeek(obj, source.name)
        return False

    #: Read TSV data lines in blocks through Arrow (:mod:`zeek_columns`); False: record by record.
    columnar = True

    def read(self, source: Source, sink: Sink) -> None:
        mapper = load_mapper()
        if not self.columnar:
            lines: Any = iter_lines(source, sink)
        else:
            # Lines the reader cannot decode come as a BadLine, so that the lines held for a block
            # go first and every reject keeps its place (iter_lines rejects them as it reads).
            lines = text_lines(source)
        for lineno, text in lines:
            if text.__class__ is BadLine:
                sink.reject(lineno, text.reason, text.detail)
                continue
            text = text.lstrip("\ufeff")
            if text.lstrip().startswith("{") or text.strip() == "null":
                self._json(source, sink, mapper, lineno, text, lines)
            else:
                self._tsv(source, sink, mapper, lineno, text, lines)
            return

    # -- JSON ----------------------------------------------------------------------------
    def _json(self, source: Source, sink: Sink, mapper: ZeekMapper, lineno: int, text: str, rest: Any) -> None:
        by_keys: dict[frozenset[str], LogSpec] = {}
        fallback = log_from_name(source.name, mapper.known()) or "unknown"
        held_no: list[int] = []  # lines held for the columnar path (zeek_columns.convert_json)
        held: list[str] = []
        size = [0]

        def line(lineno: int, text: str) -> None:
            """One line, record by record."""
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                sink.reject(lineno, "bad-json", str(exc)[:200])
                obj = _BROKEN
            if obj is None:  # a JSON null is a line too: counted, never dropped unseen
                sink.reject(lineno, "bad-json", "the line is JSON null, not an object")
            elif obj is not _BROKEN and not isinstance(obj, dict):
                sink.reject(lineno, "bad-json", "the line is JSON but not an object")
            elif obj is not _BROKEN:
                rec = _flatten(obj)
                log = rec.get("_path") or rec.get("@stream")
                if log.__class__ is str and log:
                    spec = mapper.spec(log)
                else:
                    keys = frozenset(rec)
                    spec = by_keys.get(keys)  # type: ignore[assignment]
                    if spec is None:
                        spec = mapper.spec(mapper.infer(keys) or fallback)
                        if len(by_keys) < 256:  # key sets are attacker-written: bound the cache
                            by_keys[keys] = spec
                _record(sink, mapper, spec, rec, rec.get("ts"), lineno, text)

        def flush() -> None:
            self._flush(sink, held_no, held, size, _MIN_JSON_BLOCK, line,
                        lambda texts, nos: convert_json(texts, nos, mapper, _OPS, epoch_ts, fallback))

        columnar = self.columnar
        while True:
            if text.__class__ is BadLine:
                flush()
                sink.reject(lineno, text.reason, text.detail)
            elif columnar:
                held_no.append(lineno)
                held.append(text)
                size[0] += len(text)
                if len(held) >= _JSON_BLOCK_LINES or size[0] >= _BLOCK_CHARS:
                    flush()
            else:
                line(lineno, text)
            nxt = next(rest, None)
            if nxt is None:
                flush()
                return
            lineno, text = nxt

    # -- TSV -----------------------------------------------------------------------------
    def _tsv(self, source: Source, sink: Sink, mapper: ZeekMapper, lineno: int, text: str, rest: Any) -> None:
        sep, set_sep, unset, empty = "\t", ",", "-", "(empty)"
        log = "unknown"
        names: list[str] = []
        types: list[str] = []
        spec: LogSpec | None = None
        ts_at = -1
        sets: list[int] = []
        known = mapper.known()
        # Data lines held for the columnar path (line numbers, texts), all under the header in force.
        held_no: list[int] = []
        held: list[str] = []
        size = [0]  # their characters
        header: Any = None  # that header (zeek_columns.Header), made when the first line is held

        def line(lineno: int, text: str) -> None:
            """One data line, record by record."""
            if spec is None:
                sink.reject(lineno, "no-header", "a data line before any #fields header")
                return
            vals = text.split(sep)
            if len(vals) != len(names):
                sink.reject(lineno, "bad-field-count", f"{len(vals)} fields where #fields names {len(names)}")
                return
            rec: dict[str, Any] = {}
            for n, v in zip(names, vals, strict=True):
                rec[n] = None if v == unset or v == empty else v
            for i in sets:
                v = rec[names[i]]
                if v is not None:
                    rec[names[i]] = v.split(set_sep)
            if "\\x" in text:
                for n, v in rec.items():
                    if v is not None:
                        rec[n] = [unescape(x) for x in v] if isinstance(v, list) else unescape(v)
            raw = orjson.dumps(rec).decode()
            _record(sink, mapper, spec, rec, rec.get("ts") if ts_at >= 0 else None, lineno, raw)

        def flush() -> None:
            self._flush(sink, held_no, held, size, _MIN_BLOCK, line,
                        lambda texts, nos, h=header: convert(texts, nos, h, mapper, _OPS))

        columnar = self.columnar
        while True:
            if text.__class__ is BadLine:
                flush()
                sink.reject(lineno, text.reason, text.detail)
            elif text.startswith("#"):
                flush()
                key, _, value = text[1:].partition(" " if text.startswith("#separator") else sep)
                if key in _HEADER_KEYS:
                    if key == "separator":
                        sep = unescape(value.strip()) or "\t"
                        names, types, spec = [], [], None
                    elif key == "set_separator":
                        set_sep = unescape(value) or ","
                    elif key == "empty_field":
                        empty = value
                    elif key == "unset_field":
                        unset = value
                    elif key == "path":
                        log, spec = value.strip() or "unknown", None
                    elif key == "fields":
                        names, spec = value.split(sep), None
                    elif key == "types":
                        types = value.split(sep)
                    if key in ("fields", "path", "types") and names:
                        name = log
                        if name == "unknown":
                            name = mapper.infer(frozenset(names)) or log_from_name(source.name, known) or name
                        spec = mapper.spec(name)
                        ts_at = names.index("ts") if "ts" in names else -1
                        sets = [i for i, t in enumerate(types[: len(names)]) if t.startswith(("set[", "vector["))]
                    header = None
            elif columnar and spec is not None:
                if header is None:
                    header = Header(sep, set_sep, unset, empty, names, sets, spec)
                held_no.append(lineno)
                held.append(text)
                size[0] += len(text)
                if len(held) >= _BLOCK_LINES or size[0] >= _BLOCK_CHARS:
                    flush()
            else:
                line(lineno, text)
            nxt = next(rest, None)
            if nxt is None:
                flush()
                return
            lineno, text = nxt

    @staticmethod
    def _flush(sink: Sink, nos: list[int], texts: list[str], size: list[int], minimum: int,
               line: Callable[[int, str], None], conv: _Convert) -> None:
        """The held data lines (``nos``, ``texts``, ``size[0]`` their characters) to the sink, and
        the hold emptied: in columns (:meth:`_block`), or record by record when fewer than
        ``minimum`` (a block's fixed cost would exceed what it saves)."""
        if not texts:
            return
        if len(texts) < minimum:
            for no, text in zip(nos, texts, strict=True):
                line(no, text)
        else:
            ZeekReader._block(sink, nos, texts, line, conv)
        nos.clear()
        texts.clear()
        size[0] = 0

    @staticmethod
    def _block(sink: Sink, nos: list[int], texts: list[str], line: Callable[[int, str], None],
               conv: _Convert) -> None:
        """A block of data lines (TSV under one header, or JSON): what the columnar path
        (``conv``) takes goes to the sink as tables, every other line through ``line`` (record
        by record), in line order."""
        table, took = conv(texts, nos)
        if table.num_rows == len(texts):
            sink.add_table(table)
            return
        done = start = 0  # rows of ``table`` handed to the sink / where the current run starts
        for no, text, ok in zip(nos, texts, took, strict=True):
            if ok:
                done += 1
                continue
            if done > start:
                sink.add_table(table.slice(start, done - start))
                start = done
            line(no, text)
        if done > start:
            sink.add_table(table.slice(start, done - start))


#: Data lines of a block read in columns (:mod:`zeek_columns`), and the fewest worth it: a
#: block costs about 1.6 ms of kernel calls whatever its size, so that a conn.log block of 128
#: lines took 1.6x the CPU of reading them record by record, and one of 256 lines as much
#: (bench/README.md, bench_ingest): fewer lines are read record by record.
_BLOCK_LINES = 32_768
_BLOCK_CHARS = 64 << 20  # well within Arrow's 2 GiB of text in one array
_MIN_BLOCK = 256
#: The same for JSON lines (``convert_json``: each line parsed by ``orjson`` as the per-record
#: path does, the fields the mapping reads taken into columns in Python, then mapped as TSV's).
#: Per-record CPU over columnar, best of 3 alternated at load 5-6: files of 256 lines of APT29's
#: conn.log 0.96-0.98x, of 512 1.18x, of 1,024 1.48x; APT29's conn, dns, ssl, dce_rpc and
#: files logs replicated (99,420 lines) in blocks of at most 1,024 lines 1.35x, 4,096 1.42x,
#: 32,768 1.14x.
_MIN_JSON_BLOCK = 512
_JSON_BLOCK_LINES = 4_096


def _host_value(v: Any, to: str, row: dict[str, Any]) -> None:
    """The host a host field names, as :meth:`ZeekMapper.map` reads it."""
    host = clean_ip(_text(v))
    if host:
        row[to] = host


_OPS = Ops(TRANSFORMS, _SIDE_TARGETS, _host_value)
