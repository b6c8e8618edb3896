"""EVTX records gathered in blocks and mapped in columns (:mod:`wormsign.ingest.columnar`).

The EVTX reader still parses each record (the ``evtx`` package, then ``orjson``), reads its
System fields and decides, record by record and in order, what the per-record path decides
(rejects included: no timestamp, no host). What it no longer does per record is the mapping
and the conversion of a row dict to Arrow: the records it keeps are gathered here, and each
block becomes one event-model table. A block whose System values Arrow cannot hold as the
model's types (a crafted file: a number where the channel is) is mapped record by record,
exactly as before.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import pyarrow as pa

from wormsign import schema
from wormsign.ingest.base import Sink
from wormsign.ingest.columnar import WindowsColumns, assemble
from wormsign.ingest.windows import WindowsMapper

_S = pa.string()
_I = pa.int64()
#: Records gathered before they are mapped together.
BLOCK = 32768


class EvtxColumns:
    """Records kept for their sinks, mapped a block at a time. A corpus holds thousands of small
    files: one gathering serves all the sources of a :class:`~wormsign.ingest.base.Batch`
    (``Batch.held``), and each block's table is handed to the sinks in slices, in order."""

    def __init__(self, mapper: WindowsMapper, columns: WindowsColumns) -> None:
        self.mapper, self.columns = mapper, columns
        self.fields = columns.fields
        self.sink: Sink | None = None  # whose records are being added
        self._clear()

    def clear(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.parts: list[list[Any]] = []  # [sink, records] in order
        self.recnos: list[int | None] = []
        self.channels: list[Any] = []
        self.providers: list[Any] = []
        self.eids: list[int | None] = []
        self.computers: list[Any] = []
        self.ts: list[datetime] = []
        self.datas: list[dict[str, Any]] = []
        self.texts: list[str] = []

    def add(self, recno: int | None, channel: Any, provider: Any, eid: int | None, computer: Any,
            ts: datetime, data: dict[str, Any], text: str) -> None:
        """One record that ``self.sink`` will store (its timestamp and host already checked)."""
        if self.parts and self.parts[-1][0] is self.sink:
            self.parts[-1][1] += 1
        else:
            self.parts.append([self.sink, 1])
        self.recnos.append(recno)
        self.channels.append(channel)
        self.providers.append(provider)
        self.eids.append(eid)
        self.computers.append(computer)
        self.ts.append(ts)
        self.datas.append(data)
        self.texts.append(text)
        if len(self.texts) >= BLOCK:
            self.flush()

    def flush(self) -> None:
        n = len(self.texts)
        if not n:
            return
        try:
            table = self._table(n)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            table = None
        held = (self.parts, self.recnos, self.channels, self.providers, self.eids, self.computers,
                self.ts, self.datas, self.texts)
        self._clear()  # first: a sink's add_table may drain the batch, which flushes this again
        if table is None:
            self._per_record(*held)
            return
        at = 0
        for sink, k in held[0]:
            sink.add_table(table.slice(at, k))
            at += k

    def _table(self, n: int) -> pa.Table:
        chan = pa.array(self.channels, _S)
        prov = pa.array(self.providers, _S)
        comp = pa.array(self.computers, _S)
        eid = pa.array(self.eids, _I)
        ts = pa.array(self.ts, schema.TS_TYPE)
        raw = pa.array(self.texts, _S)
        fields = self.fields
        cols: dict[str, list[Any]] = {}
        for i, d in enumerate(self.datas):
            for k, v in d.items():
                if k in fields and v is not None:
                    c = cols.get(k)
                    if c is None:
                        c = cols[k] = [None] * n
                    c[i] = v

        def get(name: str) -> pa.Array | list[Any] | None:
            vals = cols.get(name)
            if vals is None:
                return None
            try:
                a = pa.array(vals)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                return vals  # several types in one field: each value through Python
            return a if pa.types.is_string(a.type) or pa.types.is_int64(a.type) else vals

        out = self.columns.map(n, chan, prov, eid, comp, ts, raw, get)
        out["src.record"] = pa.array(self.recnos, _I)
        return assemble(out, n)

    def _per_record(self, parts: list[list[Any]], *held: list[Any]) -> None:
        """The block mapped as the per-record path maps it."""
        records = zip(*held, strict=True)
        for sink, k in parts:
            for recno, *args in itertools.islice(records, k):
                row = self.mapper.map_parts(*args)
                row["src.record"] = recno
                sink.add(row)
            sink.flush()
