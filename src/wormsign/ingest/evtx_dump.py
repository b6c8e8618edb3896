"""EVTX already converted to JSON by ``evtx_dump`` (the ``evtx`` crate's tool; Hayabusa's and
Chainsaw's JSON input): one ``{"Event": {"System": ..., "EventData": ...}}`` per record, one a
line (``-o jsonl``), or pretty-printed and concatenated, each after a ``Record N`` line
(``-o json``). Mapped by the same ``windows.yaml`` as EVTX, record by record, so that it gives
the events the EVTX gives (``src.format`` ``evtx-json``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import orjson

from wormsign.ingest.base import INT64_MAX, Sink, Source, parse_ts, to_int
from wormsign.ingest.evtx import flatten_data, unwrap_system
from wormsign.ingest.windows import load_mapper

BOM = b"\xef\xbb\xbf"
#: The start of a file: ``Record N`` lines (``-o json``), then an object whose first key is ``Event``.
_HEAD = re.compile(rb'\s*(?:Record \d+\s*)?\{\s*"Event"\s*:\s*\{')
_RECORD_LINE = re.compile(r"Record (\d+)")
#: A record bigger than this is not read (a record of EVTX is at most a 64 KiB chunk, as JSON a few times that).
MAX_RECORD = 8 << 20


class EvtxDumpReader:
    """``evtx_dump`` JSON and JSONL (see the module docstring)."""

    name = "evtx-json"

    def sniff(self, head: bytes, source: Source) -> bool:
        h = head[3:] if head.startswith(BOM) else head
        return _HEAD.match(h) is not None

    def read(self, source: Source, sink: Sink) -> None:
        mapper = load_mapper()
        ids: set[int] = set()
        with source.open() as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
            for line_no, number, record in _records(text):
                if record is None:
                    sink.reject(number, "bad-record", f"line {line_no}: the record is cut or too large")
                    continue
                self._one(record, number, line_no, mapper, sink, ids)

    @staticmethod
    def _one(text: str, number: int | None, line_no: int, mapper: Any, sink: Sink, ids: set[int]) -> None:
        try:
            event = orjson.loads(text)["Event"]
            system = event["System"]
            if not isinstance(system, dict):
                raise TypeError("System is not an object")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            sink.reject(number, "bad-record", f"line {line_no}: not an evtx_dump record: {exc}")
            return
        channel, provider, eid, computer, ts, rid = unwrap_system(system)
        # the record header's number (its "Record N" line), as the EVTX reader takes it; in JSONL,
        # which has none, the System element's (an exported log renumbers the headers, not that)
        rid = number if number is not None else rid
        if rid is not None and (rid in ids or not 0 <= rid <= INT64_MAX):
            # as for EVTX: a record id names one event; a repeated one would make references ambiguous
            why = "appears again in this file" if rid in ids else "is out of range"
            sink.reject(None, "duplicate-record-id", f"record id {rid} {why}; that copy is not stored")
            return
        if rid is not None:
            ids.add(rid)
        row = mapper.map_parts(channel, provider, to_int(eid), computer, parse_ts(ts), flatten_data(event), text)
        row["src.record"] = rid
        sink.add(row)


def _records(fh: io.TextIOBase) -> Iterator[tuple[int, int | None, str | None]]:
    """(line of its start, the number of its ``Record N`` line, its JSON text) of each record;
    the text None for a record that is cut (the next ``Record`` line or the end came first) or
    larger than :data:`MAX_RECORD`.

    A record is one line (JSONL, ``--no-indent``) or a pretty-printed object whose closing
    brace starts a line (evtx_dump's indentation puts every inner line further in): its first
    line is ``{`` alone."""
    buf: list[str] = []
    size = 0
    start = 0
    number: int | None = None
    too_big = False
    for line_no, line in enumerate(fh, 1):
        if line_no == 1 and line.startswith("\ufeff"):
            line = line[1:]
        stripped = line.strip()
        if not buf:
            if not stripped:
                continue
            m = _RECORD_LINE.fullmatch(stripped)
            if m:
                number = int(m[1])
                continue
            start = line_no
            if stripped != "{":  # a record on one line (anything else is rejected when read)
                yield line_no, number, stripped
                number = None
                continue
        elif _RECORD_LINE.fullmatch(stripped):  # the next record began before this one closed
            yield start, number, None
            buf, size, too_big = [], 0, False
            number = int(stripped.split()[1])
            continue
        size += len(line)
        if size > MAX_RECORD:
            too_big, buf = True, ["..."]
        elif not too_big:
            buf.append(line)
        if line[:1] == "}":
            yield start, number, None if too_big else "".join(buf).strip()
            buf, size, too_big, number = [], 0, False, None
    if buf:
        yield start, number, None
