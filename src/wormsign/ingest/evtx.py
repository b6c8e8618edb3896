"""Windows EVTX files, parsed by the ``evtx`` package (Rust)."""

from __future__ import annotations

import os
import re
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Any

import orjson
import pyarrow as pa
from evtx import PyEvtxParser

from wormsign.ingest.base import INT64_MAX, INT64_MIN, Sink, Source, parse_ts, rows_to_table, to_int
from wormsign.ingest.evtx_columns import MIN_FAST, EvtxBlocks
from wormsign.ingest.windows import WindowsMapper, load_mapper

MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_SIZE = 4096
CHUNK_SIZE = 65536
_RANGE = re.compile(r"record IDs (\d+)\.\.(\d+)")

#: Files whose chunk headers count fewer records than this are read record by record: the
#: columnar path's fixed cost a block (Arrow calls, a kernel a mapping step) outweighs them.
MIN_BLOCK = 2_000
#: Records (and characters of their JSON) held for one columnar block.
BLOCK_RECORDS = 20_000
BLOCK_CHARS = 16 << 20


@dataclass(slots=True)
class Census:
    """What the file and chunk headers promise: how many records, and what is missing."""

    expected: int = 0  # records the readable chunk headers (and gaps between them) account for
    chunks: int = 0  # chunk slots present in the file
    bad_chunks: int = 0  # slots whose header is not a chunk header (and not empty)
    missing_chunks: int = 0  # chunks the file header counts that the file does not hold
    partial: bool = False  # the file ends inside a chunk


def chunk_census(fh: IO[bytes]) -> Census:
    """Read the file header and every chunk header (the first bytes of each 64 KiB slot) of a seekable file.

    The parser drops a truncated or cut chunk without a word; the record numbers in the
    chunk headers let the reader count what was lost instead.
    """
    c = Census()
    head = fh.read(HEADER_SIZE)
    if len(head) < 48 or not head.startswith(MAGIC):
        return c
    (declared,) = struct.unpack_from("<H", head, 42)
    if len(head) < 128 or zlib.crc32(head[:120]) != struct.unpack_from("<I", head, 124)[0]:
        declared = 0  # a damaged file header: its chunk count means nothing
    ranges: list[tuple[int, int]] = []
    size = fh.seek(0, os.SEEK_END)
    for off in range(HEADER_SIZE, size, CHUNK_SIZE):
        fh.seek(off)
        slot = fh.read(48)  # only the chunk header is needed
        c.chunks += 1
        if size - off < CHUNK_SIZE:
            c.partial = True
        if len(slot) < 40 or not slot.startswith(CHUNK_MAGIC):
            if slot[:8].strip(b"\x00"):
                c.bad_chunks += 1
            continue
        first, last = struct.unpack_from("<QQ", slot, 8)
        if first <= last and last - first < CHUNK_SIZE:  # a chunk holds at most ~2,700 records
            ranges.append((first, last))
        else:
            c.bad_chunks += 1
    ranges.sort()
    for i, (first, last) in enumerate(ranges):
        c.expected += last - first + 1
        if i and 0 < first - ranges[i - 1][1] - 1 < 1_000_000:
            c.expected += first - ranges[i - 1][1] - 1  # a chunk between them is gone or unreadable
    c.missing_chunks = max(0, declared - c.chunks)
    return c


def _account(sink: Sink, census: Census, errors: list[str], seen: int) -> None:
    """Reject what the parser could not read, counting records as precisely as the headers allow."""
    lost = census.expected - seen
    for msg in errors:
        m = _RANGE.search(msg)
        n = int(m.group(2)) - int(m.group(1)) + 1 if m else 1
        n = max(1, min(n, lost)) if lost > 0 else 1
        lost -= n
        sink.reject(int(m.group(1)) if m else None, "corrupt-chunk" if "chunk" in msg.lower() or m
                    else "corrupt-record", msg, n)
    if lost > 0:
        why = "the file ends inside a chunk" if census.partial else "a chunk is cut out or unreadable"
        sink.reject(None, "lost-records", f"{lost} records the chunk headers list were not read: {why}", lost)
    elif census.partial and not errors:
        sink.reject(None, "truncated-file", "the file ends inside a chunk whose records cannot be counted")
    if census.missing_chunks:
        sink.reject(None, "truncated-file",
                    f"the file header counts {census.missing_chunks} more chunk(s) than the file holds")


def unwrap_system(system: dict[str, Any]) -> tuple[str | None, str | None, int | None, str | None, Any, int | None]:
    """(channel, provider, event id, computer, time, record id) of an EVTX ``System`` element."""
    eid = system.get("EventID")
    if isinstance(eid, dict):
        eid = eid.get("#text")
    prov = system.get("Provider")
    provider = prov.get("#attributes", {}).get("Name") if isinstance(prov, dict) else None
    tc = system.get("TimeCreated")
    ts = tc.get("#attributes", {}).get("SystemTime") if isinstance(tc, dict) else None
    return (
        system.get("Channel"),
        provider,
        to_int(eid),
        system.get("Computer"),
        ts,
        to_int(system.get("EventRecordID")),
    )


def flatten_data(event: dict[str, Any]) -> dict[str, Any]:
    """EventData or UserData as one flat name -> value dict."""
    data = event.get("EventData")
    if data.__class__ is dict:
        # The event's own dict, changed in place: it is parsed for this call and not kept.
        if "#attributes" in data:
            del data["#attributes"]
        d = data.get("Data")
        if d.__class__ is dict and "#text" in d:
            text = d["#text"]
            data["Data"] = "\n".join(map(str, text)) if isinstance(text, list) else text
        return data
    user = event.get("UserData")
    if isinstance(user, dict):
        out: dict[str, Any] = {}
        for v in user.values():
            if isinstance(v, dict):
                out.update({k: x for k, x in v.items() if k != "#attributes"})
        return out
    return {}


class EvtxReader:
    """Reads EVTX through ``PyEvtxParser.records_json``; a corrupt chunk costs only its records."""

    name = "evtx"

    def sniff(self, head: bytes, source: Source) -> bool:
        return head.startswith(MAGIC)

    #: After this many errors without one good record, the rest of the file is given up.
    MAX_CONSECUTIVE_ERRORS = 10_000

    def read(self, source: Source, sink: Sink) -> None:
        if source.disk_path:
            self._read(source.disk_path, sink)
            return
        # Inside gzip or zip: the parser seeks, so the content goes to a temporary file first.
        with tempfile.NamedTemporaryFile(prefix="wormsign-", suffix=".evtx", delete=False) as tmp:
            try:
                with source.open() as fh:
                    while block := fh.read(1 << 16):  # small blocks: a damaged stream keeps its head
                        tmp.write(block)
            except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
                sink.reject(None, "truncated-archive", f"the compressed stream is damaged: {exc}")
        try:
            self._read(tmp.name, sink)
        finally:
            os.unlink(tmp.name)

    #: Read files of :data:`MIN_BLOCK` records or more in blocks through Arrow
    #: (:mod:`evtx_columns`); False: record by record.
    columnar = True

    def _read(self, path: str, sink: Sink) -> None:
        mapper = load_mapper()
        try:
            with open(path, "rb", buffering=0) as fh:  # unbuffered: 48 bytes a chunk slot, not 8 KiB
                census = chunk_census(fh)
            records = iter(PyEvtxParser(path, number_of_threads=1).records_json())
        except (RuntimeError, OSError, ValueError) as exc:
            sink.reject(None, "corrupt-file", f"not a readable EVTX file: {exc}")
            return
        errors: list[str] = []
        ids: set[int] = set()
        good = bad = 0
        # Records held for the columnar path, in order, with their ids and texts in lists of their
        # own (cheaper in this loop than (id, record) pairs taken apart later: 0.4 CPU us a record
        # of 4.3 on large files); every reject and every row goes to the sink in record order
        # whichever path reads a record.
        columnar = self.columnar and census.expected >= MIN_BLOCK
        held: list[dict[str, Any]] = []
        rids: list[int | None] = []
        texts: list[str] = []
        chars = 0

        def drain() -> None:
            nonlocal good, bad, chars
            g = self._blocks(held, rids, texts, mapper, sink)
            good, bad, chars = good + g, bad + len(held) - g, 0
            held.clear()
            rids.clear()
            texts.clear()

        while True:
            # The parser raises on a bad record or chunk and then goes on with the next one.
            try:
                rec = next(records)
            except StopIteration:
                break
            except (RuntimeError, OSError, ValueError) as exc:
                errors.append(str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
                if len(errors) >= self.MAX_CONSECUTIVE_ERRORS and good == 0:
                    if held:
                        drain()
                    if good == 0:
                        break
                continue
            rid = rec.get("event_record_id")
            if rid in ids or (rid is not None and not 0 <= rid <= INT64_MAX):
                if held:
                    drain()
                # A record id must point at one event: a repeated (or absurd) id in a crafted file
                # would make its event reference ambiguous, so the later copy is counted, not stored.
                why = "appears again in this file" if rid in ids else "is out of range"
                sink.reject(None, "duplicate-record-id", f"record id {rid} {why}; that copy is not stored")
                bad += 1
                continue
            ids.add(rid)
            if columnar:
                text = rec.get("data") or ""
                held.append(rec)
                rids.append(rid)
                texts.append(text)
                chars += len(text)
                if len(held) >= BLOCK_RECORDS or chars >= BLOCK_CHARS:
                    drain()
            elif self._one(rec, rid, mapper, sink):
                good += 1
            else:
                bad += 1
        if held:
            drain()
        _account(sink, census, errors, good + bad)

    def _blocks(self, held: list[dict[str, Any]], rids: list[int | None], texts: list[str],
                mapper: WindowsMapper, sink: Sink) -> int:
        """Records held for the columnar path (with their ids and texts), to the sink in order:
        the rows it takes as tables, the others as :meth:`_one` makes them. How many were good
        (:meth:`_one`'s count)."""
        n = len(held)
        if n < MIN_FAST:
            return sum(self._one(rec, rid, mapper, sink) for rid, rec in zip(rids, held, strict=True))
        try:
            table, took = _columns(mapper).convert(texts, rids)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            # A value Arrow will not hold: the per-record path says what it is.
            return sum(self._one(rec, rid, mapper, sink) for rid, rec in zip(rids, held, strict=True))
        if table.num_rows == n:
            sink.add_table(table)
            return n
        # The others' rows, made as the per-record path makes them. When none of them is
        # unreadable, all the rows go to the sink as one table in record order (its rejects,
        # no time or no host, are then in record order too); else record by record.
        rest = [(i, self._row(held[i], rids[i], mapper)) for i, ok in enumerate(took) if not ok]
        if all(r.__class__ is dict for _, r in rest):
            try:
                others = rows_to_table([r for _, r in rest])  # type: ignore[misc]
            except (pa.ArrowException, ValueError, TypeError, OverflowError):
                others = None  # a value of the wrong type: the sink's batch says so, as before
            if others is not None:
                order = [0] * n
                k, j = 0, table.num_rows
                for i, ok in enumerate(took):
                    if ok:
                        order[i], k = k, k + 1
                    else:
                        order[i], j = j, j + 1
                sink.add_table(pa.concat_tables([table, others]).take(order))
                return n
        good = done = start = 0  # rows of ``table`` handed to the sink / where the current run starts
        made = dict(rest)
        for i, (rid, ok) in enumerate(zip(rids, took, strict=True)):
            if ok:
                done += 1
                good += 1
                continue
            if done > start:
                sink.add_table(table.slice(start, done - start))
                start = done
            row = made[i]
            if row.__class__ is dict:
                sink.add(row)  # type: ignore[arg-type]
                good += 1
            else:
                sink.reject(rid, "bad-record", f"unreadable event XML/JSON: {row}")
        if done > start:
            sink.add_table(table.slice(start, done - start))
        return good

    @classmethod
    def _one(cls, rec: dict[str, Any], recno: int | None, mapper: Any, sink: Sink) -> bool:
        row = cls._row(rec, recno, mapper)
        if row.__class__ is not dict:
            sink.reject(recno, "bad-record", f"unreadable event XML/JSON: {row}")
            return False
        sink.add(row)  # type: ignore[arg-type]
        return True

    @staticmethod
    def _row(rec: dict[str, Any], recno: int | None, mapper: Any) -> dict[str, Any] | Exception:
        """The model row of one record, or why its JSON cannot be read."""
        text = rec.get("data") or ""
        try:
            event = _loads(text)["Event"]
            system = event["System"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            return exc
        # unwrap_system, written out: this runs for every record.
        get = system.get
        eid = get("EventID")
        if eid.__class__ is not int:
            if eid.__class__ is dict:
                eid = eid.get("#text")
            eid = to_int(eid)
        elif not INT64_MIN <= eid <= INT64_MAX:
            eid = None
        prov = get("Provider")
        provider = prov.get("#attributes", {}).get("Name") if prov.__class__ is dict else None
        tc = get("TimeCreated")
        ts = tc.get("#attributes", {}).get("SystemTime") if tc.__class__ is dict else None
        row = mapper.map_parts(
            get("Channel"), provider, eid, get("Computer"), parse_ts(ts or rec.get("timestamp")),
            flatten_data(event), text,
        )
        row["src.record"] = recno if recno is not None else to_int(get("EventRecordID"))
        return row


_loads = orjson.loads
_COLUMNS: dict[int, EvtxBlocks] = {}


def _columns(mapper: WindowsMapper) -> EvtxBlocks:
    """The columnar reader of a mapper (one a process: it learns the fields and their types)."""
    got = _COLUMNS.get(id(mapper))
    if got is None or got.columns.mapper is not mapper:
        got = _COLUMNS[id(mapper)] = EvtxBlocks(mapper)
    return got
