"""What every reader shares: the source it reads, the sink it writes rows to, and reject accounting.

A reader turns one :class:`Source` into rows of the event model (plain dicts keyed by
:data:`wormsign.schema.FIELD_NAMES`) and hands each to :meth:`Sink.add`, or, when it makes
them in Arrow, hands a table of the model to :meth:`Sink.add_table`. A record it
cannot read goes to :meth:`Sink.reject` with the record number and a reason: every
record read is either stored or counted as rejected, never silently lost.
"""

from __future__ import annotations

import bisect
import gzip
import itertools
import logging
import operator
import os
import re
import zipfile
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv6Address
from typing import IO, Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from wormsign import schema

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NULLS = frozenset(("", "-", "N/A", "null", "(null)"))
NULLS = _NULLS  #: the placeholders Windows and Zeek write for "no value"


class IngestError(Exception):
    """A bad record under ``--strict``, or a file that cannot be read at all."""


@dataclass(slots=True)
class Source:
    """One logical input file: a plain file, a gzip file, or a member of a zip archive.

    It is a plain picklable description, so that worker processes can open it again.
    """

    name: str  # what messages and src.file show: path, or archive!member
    path: str  # the file on disk (the archive, for a member)
    container: str = "file"  # file | gzip | zip | zip-gzip
    member: str | None = None  # the member of a zip
    size: int = 0
    digest: str = ""  # sha-256 of the (decompressed) content
    index: int | None = None  # the member's place in the zip's central directory (names may repeat)

    def open(self) -> IO[bytes]:
        """A fresh binary stream over the content (decompressed)."""
        if self.container == "file":
            return open(self.path, "rb")
        if self.container == "gzip":
            return gzip.open(self.path, "rb")
        zf = open_zip(self.path)
        # By its place in the directory: a zip may hold two members of one name, and the name
        # alone opens the last of them.
        fh = zf.open(zf.infolist()[self.index] if self.index is not None else self.member or "")
        return gzip.GzipFile(fileobj=fh, mode="rb") if self.container == "zip-gzip" else fh

    @property
    def disk_path(self) -> str | None:
        """A real path with the content as is, when there is one (the EVTX parser likes it);
        not for a name that is not UTF-8 (a native parser cannot take it as text)."""
        return self.path if self.container == "file" and shown(self.path) == self.path else None


    def head(self, n: int = 4096) -> bytes:
        """The first ``n`` bytes, or as many as a damaged archive gives."""
        out = bytearray()
        if self.container == "file":  # a plain file gives what it has in one read
            try:
                with open(self.path, "rb", buffering=0) as raw:
                    while len(out) < n and (block := raw.read(n - len(out))):
                        out += block
            except OSError:
                pass
            return bytes(out)
        try:
            with self.open() as fh:
                while len(out) < n:
                    block = fh.read(min(1024, n - len(out)))
                    if not block:
                        break
                    out += block
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile):
            pass
        return bytes(out)


def shown(path: str) -> str:
    """A file name as text: the name itself when it is UTF-8, else its bytes (``os.fsencode``,
    the surrogate escapes undone) with each byte that is not UTF-8 written ``\\xff``. The path
    itself stays byte-exact in :attr:`Source.path`; this is what the case stores and shows."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return path


#: Open zip archives of this process, by path: a member is opened without reading the
#: archive's directory again (a collection is a zip of thousands of files; reading the
#: directory for each member made ingest time grow with the square of the member count).
_ZIPS: OrderedDict[str, tuple[tuple[int, int, int], zipfile.ZipFile]] = OrderedDict()
_MAX_ZIPS = 8


def open_zip(path: str) -> zipfile.ZipFile:
    """The zip archive at ``path``, opened once per process (and again when the file changes)."""
    st = os.stat(path)
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    hit = _ZIPS.get(path)
    if hit is not None and hit[0] == key:
        _ZIPS.move_to_end(path)
        return hit[1]
    zf = zipfile.ZipFile(path)
    if hit is not None:
        hit[1].close()  # streams already open over it keep their own handle
    _ZIPS[path] = (key, zf)
    while len(_ZIPS) > _MAX_ZIPS:
        _ZIPS.popitem(last=False)[1][1].close()
    return zf


def _forget_zips() -> None:
    # A forked worker must not share the parent's file offsets: it opens its own.
    _ZIPS.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_zips)


@dataclass(slots=True)
class Stats:
    """Counts for one source or a whole run."""

    read: int = 0
    stored: int = 0
    rejected: int = 0
    truncated: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    #: Records left out as copies of records already stored (ingest/identity.py); not in ``stored``.
    copies: int = 0
    #: Records left out by the ingest's time window (``--from``/``--to``); not in ``stored``.
    outside: int = 0

    def merge(self, other: Stats) -> None:
        self.read += other.read
        self.stored += other.stored
        self.rejected += other.rejected
        self.truncated += other.truncated
        self.copies += other.copies
        self.outside += other.outside
        self.reasons.update(other.reasons)
        self.kinds.update(other.kinds)


@dataclass(slots=True)
class Reject:
    """One rejected record: where it was and why."""

    file: str
    record: int | None
    reason: str  # short, countable: "bad-json", "corrupt-chunk", "no-timestamp", ...
    detail: str  # the message for a person

    def __str__(self) -> str:
        where = f"{self.file}" + (f" record {self.record}" if self.record is not None else "")
        return f"{where}: {self.reason}: {self.detail}"


class Sink:
    """Collects rows into Arrow batches and hands each full batch to ``flush``.

    It enforces the invariants of the model: required fields, UTC timestamps, bounded
    field sizes. ``strict`` makes the first reject raise :class:`IngestError`.
    """

    def __init__(
        self,
        source: Source,
        fmt: str,
        flush: Callable[[pa.Table], None],
        *,
        strict: bool = False,
        batch_rows: int = 20_000,
        on_reject: Callable[[Reject], None] | None = None,
        batch: Batch | None = None,
    ) -> None:
        self.source = source
        self.fmt = fmt
        self._flush = flush
        self.strict = strict
        self.batch_rows = batch_rows
        self.stats = Stats()
        self.rejects: list[Reject] = []  # the first few, for the report; all are counted
        self._on_reject = on_reject
        self._rows: list[dict[str, Any]] = []
        self._batch = batch
        #: (start, end): only events with ``start <= ts < end`` are stored (either may be None);
        #: the others are counted in ``stats.outside``, neither stored nor rejected.
        self.window: tuple[Any, Any] | None = None

    def _outside(self, ts: Any) -> bool:
        start, end = self.window or (None, None)
        return (start is not None and ts < start) or (end is not None and ts >= end)

    # -- what readers call ----------------------------------------------------------
    def add(self, row: dict[str, Any]) -> None:
        """Store one normalised row (``ts``, ``host`` and ``kind`` are required)."""
        self.stats.read += 1
        ts = row.get("ts")
        if ts is None:
            self._reject(row.get("src.record"), "no-timestamp", "the record has no readable timestamp")
            return
        host = row.get("host")
        if not host:
            self._reject(row.get("src.record"), "no-host", "the record names no host")
            return
        if self.window is not None and self._outside(ts):
            self.stats.outside += 1
            return
        # The source pointer, size bounds and kind counts are applied per batch, in Arrow.
        self._rows.append(row)
        if len(self._rows) >= self.batch_rows:
            self.flush()

    def add_table(self, table: pa.Table) -> None:
        """Store rows a reader made in Arrow (the columnar readers): a table of the event
        model's schema (``src.file`` and ``src.digest`` are filled here, like ``add``'s rows).
        Rows with no timestamp or no host are rejected exactly as :meth:`add` rejects them, in
        their order; the rows held from ``add`` go first, so the order of rows is kept."""
        n = table.num_rows
        if n == 0:
            return
        if table.schema != schema.SCHEMA:
            raise IngestError(f"rows of {self.source.name} do not fit the event model: {table.schema}")
        host = table.column("host")
        bad = pc.or_(pc.is_null(table.column("ts")), pc.fill_null(pc.equal(host, ""), True))
        if pc.any(bad).as_py():
            recs = table.column("src.record").to_pylist()
            ts_null = pc.is_null(table.column("ts")).to_pylist()
            for i in pc.indices_nonzero(bad).to_pylist():
                self.stats.read += 1
                if ts_null[i]:
                    self._reject(recs[i], "no-timestamp", "the record has no readable timestamp")
                else:
                    self._reject(recs[i], "no-host", "the record names no host")
            table = table.filter(pc.invert(bad))
        self.flush()
        self.stats.read += table.num_rows
        if self.window is not None and table.num_rows:
            start, end = self.window
            ts = table.column("ts")
            conds = ([pc.greater_equal(ts, pa.scalar(start, ts.type))] if start is not None else []) + (
                [pc.less(ts, pa.scalar(end, ts.type))] if end is not None else [])
            kept = table.filter(conds[0] if len(conds) == 1 else pc.and_(*conds))
            self.stats.outside += table.num_rows - kept.num_rows
            table = kept
        if table.num_rows == 0:
            return
        self.stats.stored += table.num_rows
        kinds = pc.value_counts(table.column("kind"))
        for k, c in zip(kinds.field(0).to_pylist(), kinds.field(1).to_pylist(), strict=True):
            self.stats.kinds[k] += c
        if self._batch is not None:
            self._batch.add_table(self, table)
            return
        batch = Batch(self._flush)
        batch.add_table(self, table)
        batch.drain()

    def reject(self, record: int | None, reason: str, detail: str, count: int = 1, *,
               bad: bool = True) -> None:
        """Count records that could not be read, and say why (``count`` > 1: a run of
        records lost together, such as a corrupt EVTX chunk, reported once). ``bad=False``:
        a well-formed record that is not stored by design (Zeek's own housekeeping logs), which
        ``strict`` does not stop on."""
        count = max(1, count)
        self.stats.read += count
        self._reject(record, reason, detail, count, bad=bad)

    # -- internals -------------------------------------------------------------------
    def _reject(self, record: Any, reason: str, detail: str, count: int = 1, *, bad: bool = True) -> None:
        rec = record if isinstance(record, int) else None
        rej = Reject(self.source.name, rec, reason, detail[:500])
        self.stats.rejected += count
        self.stats.reasons[reason] += count
        if len(self.rejects) < 100:
            self.rejects.append(rej)
        if self._on_reject is not None:
            self._on_reject(rej)
        elif bad:
            log.warning("%s", rej)
        else:
            log.info("%s", rej)
        if self.strict and bad:
            raise IngestError(str(rej))

    def flush(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        self.stats.stored += len(rows)
        self.stats.kinds.update(map(_KIND, rows))
        if self._batch is not None:  # gathered with other sources' rows, converted together
            self._batch.add(self, rows)
            return
        batch = Batch(self._flush)
        batch.add(self, rows)
        batch.drain()


_KIND = operator.methodcaller("get", "kind")


class Batch:
    """Rows of one or more sources, converted into one Arrow table of the event model.

    A corpus holds thousands of small files: converting each on its own costs more than its
    rows do. A :class:`Sink` built with ``batch=`` hands its rows here instead; the batch
    converts them when it holds ``max_rows`` rows, or on :meth:`drain`, and gives the table
    to ``flush``. The source pointer (``src.file``, ``src.digest``, default ``src.format``)
    and the size bounds are applied here, and truncations are counted on the stats of the
    source each row came from, so those are final once the batch is drained.
    """

    def __init__(self, flush: Callable[[pa.Table], None], max_rows: int = 50_000) -> None:
        self._flush = flush
        self.max_rows = max_rows
        self.rows: list[dict[str, Any]] = []
        self._parts: list[tuple[Sink, int]] = []  # (sink, rows) in order
        #: Tables of event-model rows (``Sink.add_table``) and the dict rows before each, in order.
        self._segments: list[pa.Table | list[dict[str, Any]]] = []
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, sink: Sink, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self.rows.extend(rows)
        self._parts.append((sink, len(rows)))
        self._n += len(rows)
        if self._n >= self.max_rows:
            self.drain()

    def add_table(self, sink: Sink, table: pa.Table) -> None:
        """Rows a reader made as an Arrow table of the model (see :meth:`Sink.add_table`)."""
        if table.num_rows == 0:
            return
        if self.rows:
            self._segments.append(self.rows)
            self.rows = []
        self._segments.append(table)
        self._parts.append((sink, table.num_rows))
        self._n += table.num_rows
        if self._n >= self.max_rows:
            self.drain()

    def clear(self) -> None:
        self.rows, self._parts, self._segments, self._n = [], [], [], 0

    def drain(self) -> None:
        """Convert what is held and hand it to ``flush``."""
        if not self._n:
            return
        rows, parts, segments = self.rows, self._parts, self._segments
        self.rows, self._parts, self._segments, self._n = [], [], [], 0
        try:
            if not segments:
                table = self._table(_columns(rows), len(rows), parts)
            elif len(segments) == 1 and not rows:  # one reader's table: no copy
                whole = segments[0]
                cols = {name: c.chunk(0) if c.num_chunks == 1 else c.combine_chunks()
                        for name, c in zip(whole.column_names, whole.columns, strict=True)}
                table = self._table(cols, whole.num_rows, parts)
            else:
                if rows:
                    segments.append(rows)
                whole = pa.concat_tables(
                    [s if isinstance(s, pa.Table) else rows_to_table(s) for s in segments]
                ).combine_chunks()
                cols = {name: whole.column(name).chunk(0) for name in whole.column_names}
                table = self._table(cols, whole.num_rows, parts)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            # A reader gave a value of the wrong type: a bug, not a bad record. It fails the
            # run (the open group rolls back) rather than costing whichever file was being read.
            names = ", ".join(dict.fromkeys(sink.source.name for sink, _ in parts))[:300]
            raise IngestError(f"rows of {names} do not fit the event model: {exc}") from exc
        self._flush(table)

    @staticmethod
    def _table(cols: dict[str, pa.Array], n: int, parts: list[tuple[Sink, int]]) -> pa.Table:
        files: list[str] = []
        digests: list[str] = []
        fmts: list[str] = []
        for sink, k in parts:
            files += [sink.source.name] * k
            digests += [sink.source.digest] * k
            fmts += [sink.fmt] * k
        cols["src.file"] = pa.array(files, pa.string())
        cols["src.digest"] = pa.array(digests, pa.string())
        fmt = pa.array(fmts, pa.string())
        own = cols.get("src.format")  # a reader of several layouts may name the record's own
        cols["src.format"] = fmt if own is None else pc.coalesce(own, fmt)
        for name, col in cols.items():
            if col.type != pa.string() or col.nbytes <= schema.MAX_FIELD_CHARS:
                continue  # the whole column is smaller than one value may be
            limit = schema.MAX_RAW_CHARS if name == "raw" else schema.MAX_FIELD_CHARS
            if col.nbytes <= limit:
                continue
            longest = pc.max(pc.binary_length(col)).as_py()
            if longest is None or longest <= limit:  # bytes >= characters: nothing is too long
                continue
            over = pc.greater(pc.utf8_length(col), limit)
            if not pc.any(over).as_py():
                continue
            rows = pc.indices_nonzero(over).to_pylist()
            _count_truncated(rows, parts)
            if name == "raw":
                # The original record must stay valid JSON (rules read fields from it): shorten
                # its long values rather than cut the text.
                vals = col.to_pylist()
                for i in rows:
                    vals[i] = shorten_json(vals[i], limit)
                cols[name] = pa.array(vals, pa.string())
            else:
                cols[name] = pc.utf8_slice_codeunits(col, 0, limit)
        return _assemble(cols, n)


def shorten_json(text: str, limit: int) -> str:
    """JSON text of at most ``limit`` characters: long strings inside are cut (marked with an
    ellipsis) so that the result still parses; text that is not JSON is simply cut."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text[:limit]
    cap = max(limit // 4, 64)
    while True:
        out = orjson.dumps(_cut_strings(doc, cap)).decode()
        if len(out) <= limit or cap <= 16:
            return out if len(out) <= limit else text[:limit]
        cap //= 4


def _cut_strings(obj: Any, cap: int) -> Any:
    if isinstance(obj, str):
        return obj if len(obj) <= cap else obj[:cap] + "\u2026"
    if isinstance(obj, dict):
        return {k[:cap]: _cut_strings(v, cap) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cut_strings(v, cap) for v in obj[:cap]]
    return obj


def _count_truncated(rows: list[int], parts: list[tuple[Sink, int]]) -> None:
    """Count truncated values on the stats of the sources the rows came from."""
    ends = list(itertools.accumulate(k for _, k in parts))
    for i in rows:
        parts[bisect.bisect_right(ends, i)][0].stats.truncated += 1


_FIELD_TYPES = {f.name: f.type for f in schema.FIELDS}
_STRUCTS: dict[frozenset[str], pa.StructType] = {}
_NULLS_CACHE: dict[tuple[int, pa.DataType], pa.Array] = {}


def _columns(rows: list[dict[str, Any]]) -> dict[str, pa.Array]:
    """The columns of the model that the rows fill, by name (one pass by Arrow, as a struct
    array of only those fields: Arrow looks every field of the struct up in every row)."""
    keys = frozenset(set().union(*rows).intersection(_FIELD_TYPES))
    st = _STRUCTS.get(keys)
    if st is None:
        if len(_STRUCTS) > 1000:
            _STRUCTS.clear()
        st = _STRUCTS[keys] = pa.struct([f for f in schema.SCHEMA if f.name in keys])
    arr = pa.array(rows, type=st)
    return {st.field(i).name: arr.field(i) for i in range(st.num_fields)}


def _nulls(n: int, t: pa.DataType) -> pa.Array:
    a = _NULLS_CACHE.get((n, t))
    if a is None:
        if len(_NULLS_CACHE) > 256:
            _NULLS_CACHE.clear()
        a = _NULLS_CACHE[(n, t)] = pa.nulls(n, t)
    return a


def _assemble(cols: dict[str, pa.Array], n: int) -> pa.Table:
    return pa.Table.from_arrays(
        [cols[f.name] if f.name in cols else _nulls(n, f.type) for f in schema.FIELDS], schema=schema.SCHEMA
    )


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Build an Arrow table of the event schema from row dicts (missing keys are null).

    The dicts are converted in one pass by Arrow (as a struct array of the fields present),
    not column by column in Python: this is the hot path of every reader.
    """
    if not rows:
        return schema.SCHEMA.empty_table()
    return _assemble(_columns(rows), len(rows))


# -- value helpers shared by the readers ---------------------------------------------


def clean(v: Any) -> Any:
    """Null out the placeholders Windows and Zeek write for 'no value'."""
    if v is None:
        return None
    if v.__class__ is str:
        return None if v in _NULLS else v
    return v


def host_key(name: str | None) -> str | None:
    """The host key of a name: lower-case, no domain, no trailing ``$``. An address is kept
    whole, in its one spelling (:func:`clean_ip`) where it is one."""
    if not name:
        return None
    name = name.strip().strip("\\").lower()
    if not name or name in _NULLS:
        return None
    if name.endswith("$"):
        name = name[:-1]
    if is_ip(name):
        return clean_ip(name) or name
    return name.split(".", 1)[0] or None


_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_IPV6 = re.compile(r"[0-9a-fA-F:.]*:[0-9a-fA-F:.]*")

#: An IPv4 address in its one spelling: four decimal numbers 0-255, no leading zeros.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_CANONICAL = _OCTET + r"(?:\." + _OCTET + "){3}"
_IPV4_CANONICAL = re.compile(IPV4_CANONICAL)


def is_ip(s: str) -> bool:
    """Whether ``s`` is written like an address (a loose test of the characters, for names)."""
    if not s:
        return False
    return (_IPV6 if ":" in s else _IPV4).fullmatch(s) is not None


def clean_ip(v: Any) -> str | None:
    """An address field in its one spelling, or None when it holds no address.

    One address reaches the case spelt as each log writes it (Security and WFP events
    ``fe80::90e:17af:263c:5209``, Sysmon ``fe80:0:0:0:90e:17af:263c:5209``), and every join
    on an address compares text, so each is written one way:

    - IPv6: compressed and lower-case (RFC 5952, ``IPv6Address.compressed``), the zone id
      (``%12``) dropped; IPv4-mapped (``::ffff:10.0.0.5``, any spelling) as the IPv4 address;
      the unspecified ``::`` is no address.
    - IPv4: four decimal numbers 0-255, as written. With a leading zero (``010.001.002.003``)
      it is no address: C's ``inet_aton`` reads ``010`` as octal 8, a fixed-width log means
      10, and Python's ``ipaddress`` refuses to guess; no Windows or Zeek log writes one.
      Nor is a number over 255.
    - Placeholders (``-``, ``N/A``, ...) and anything else: None.

    The columnar path (``columnar.t_ip``) passes canonical IPv4 through and sends every other
    value here, so both give the same text.
    """
    if v.__class__ is str:  # addresses repeat: remember what each text gave
        try:
            return _IP_CACHE[v]
        except KeyError:
            pass
        if len(_IP_CACHE) >= 65_536:
            _IP_CACHE.clear()
        ip = _IP_CACHE[v] = _clean_ip(v)
        return ip
    return _clean_ip(v)


_IP_CACHE: dict[str, str | None] = {}


def _clean_ip(v: Any) -> str | None:
    v = clean(v)
    if v is None:
        return None
    v = str(v).strip()
    if ":" not in v:
        return v if _IPV4_CANONICAL.fullmatch(v) else None
    text = v.partition("%")[0]  # the zone id names an interface of the host that wrote it
    try:
        addr = IPv6Address(text)
    except ValueError:
        return None
    mapped = addr.ipv4_mapped
    if mapped is not None:
        return str(mapped)
    return addr.compressed if int(addr) else None  # ::, the unspecified address: none


INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1  #: the range of the model's integer columns


def to_int(v: Any) -> int | None:
    """An integer from ints, decimal or hex strings; None when it is not one or does not fit int64."""
    if v is None:
        return None
    if v.__class__ is int:
        i = v
    elif v.__class__ is str and len(v) < 19 and v.isascii() and v.isdigit():
        return int(v)
    elif v.__class__ is str and 2 < len(v) < 18 and v[:2] == "0x" and v.isalnum():
        try:  # hex as Windows writes it (0x3e7): 15 digits or fewer always fit int64
            return int(v, 16)
        except ValueError:
            return None
    elif isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return None
        i = int(v)
    else:
        s = str(v).strip()
        if not s or s in _NULLS or len(s) > 40:
            return None
        try:
            i = int(s, 16) if s[:2] in ("0x", "0X") else int(s)
        except ValueError:
            return None
    return i if INT64_MIN <= i <= INT64_MAX else None


_fromiso = datetime.fromisoformat


def parse_ts(v: Any) -> datetime | None:
    """A UTC datetime from ISO 8601 text (any fraction length, ``Z`` or ``UTC``) or epoch seconds."""
    if v is None:
        return None
    if v.__class__ is str:  # the common case: ISO 8601 that Python reads as is
        try:
            dt = _fromiso(v)
        except ValueError:
            pass
        else:
            tz = dt.tzinfo
            if tz is UTC:
                return dt
            return dt.replace(tzinfo=UTC) if tz is None else dt.astimezone(UTC)
    if isinstance(v, datetime):
        return v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, (int, float)):
        try:
            return EPOCH + timedelta(seconds=float(v))
        except (OverflowError, ValueError):
            return None
    s = str(v).strip()
    if not s:
        return None
    if s.endswith(" UTC"):
        s = s[:-4]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        # Fractions longer than microseconds (EVTX writes 7 digits): cut them.
        dot = s.find(".")
        if dot < 0:
            try:
                return EPOCH + timedelta(seconds=float(s))
            except (ValueError, OverflowError):
                return None
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        try:
            dt = datetime.fromisoformat(s[: min(end, dot + 7)] + s[end:])
        except ValueError:
            return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def derive_names(row: dict[str, Any]) -> None:
    """``process.name`` and ``file.name`` from their paths, where the record did not give them."""
    exe = row.get("process.executable")
    if exe and "process.name" not in row:
        row["process.name"] = basename(exe)
    fp = row.get("file.path")
    if fp and "file.name" not in row:
        row["file.name"] = basename(fp)


def basename(path: str | None) -> str | None:
    if not path:
        return None
    cut = max(path.rfind("\\"), path.rfind("/"))
    return path[cut + 1 :] or None


class Reader(Protocol):
    """A reader for one format. Readers are picked by content (``sniff``), not by file name."""

    name: str

    def sniff(self, head: bytes, source: Source) -> bool:
        """True when the first bytes of a source look like this format."""

    def read(self, source: Source, sink: Sink) -> None:
        """Read every record of the source into the sink."""


class BadLine:
    """A line that is no text, and why (:func:`lines`): the reason and detail of its reject."""

    __slots__ = ("reason", "detail")

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail


def lines(source: Source) -> Iterator[tuple[int, str | BadLine]]:
    """(line number, text) of a text source, blank lines left out; a line that cannot be read
    (too long, not UTF-8, the compressed stream damaged after it) comes as a :class:`BadLine`.

    A line is read at most ``MAX_RECORD_BYTES`` at a time: a longer one is skipped without ever
    being held whole.
    """
    lineno = 0
    limit = schema.MAX_RECORD_BYTES
    try:
        with source.open() as raw:
            readline = raw.readline
            while True:
                bline = readline(limit + 1)
                if not bline:
                    return
                lineno += 1
                if len(bline) > limit and not (len(bline) == limit + 1 and bline.endswith(b"\n")):
                    size = len(bline)
                    while bline and not bline.endswith(b"\n"):
                        bline = readline(1 << 20)
                        size += len(bline)
                    yield lineno, BadLine("record-too-large", f"line of {size} bytes (limit {limit})")
                    continue
                try:
                    text = bline.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield lineno, BadLine("bad-encoding", f"not UTF-8 at byte {exc.start}")
                    continue
                text = text.rstrip("\r\n")
                if text.strip():
                    yield lineno, text
    except (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile) as exc:  # BadGzipFile: a bad CRC
        yield lineno + 1, BadLine("truncated-archive", f"the compressed stream is damaged after line {lineno}: {exc}")


def iter_lines(source: Source, sink: Sink) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of a text source (:func:`lines`); a line that cannot be read is
    rejected, not dropped."""
    for lineno, text in lines(source):
        if text.__class__ is BadLine:
            sink.reject(lineno, text.reason, text.detail)  # type: ignore[union-attr]
        else:
            yield lineno, text  # type: ignore[misc]


def first_not_null(*vals: Iterable[Any]) -> Any:
    for v in vals:
        if v is not None:
            return v
    return None
