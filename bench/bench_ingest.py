"""Ingest benchmark: EVTX against the bare ``evtx`` parse, and Winlogbeat NDJSON, with peak memory.

Run from the repository root: ``.venv/bin/python bench/bench_ingest.py`` (``--help`` for sizes).

(a) EVTX. The shared corpus is replicated to at least ``--evtx-records`` records, and all
    replicas are ingested into one case, as a real collection of that size would be.
    Identical files would be skipped by the digest dedupe, so each copy differs from its
    original in 8 bytes of the file header's unused padding (offsets 4000-4007, outside the
    header's checksum): it parses to the same records, under a digest of its own, and
    every copy does the whole work (digest, sniff, parse, normalise, store). The bare
    parse iterates ``PyEvtxParser(path).records_json()`` over the same files, the same
    number of times, in the same run; the ratio is wormsign's rate over the bare rate.
(b) NDJSON. ``--ndjson-events`` Winlogbeat documents (Security 4624/4625/5145, Sysmon 1/3/11,
    System 7045) are generated into a file, then ingested on one worker.

After each, "duckdb store only" appends the rows that ingest stored, as one Arrow table, to
a fresh case (one transaction, then close): the storing share of the ingest, which bounds
the ratio that any speed-up of the readers can reach.

``--breakdown`` also times each stage of one EVTX pass on its own (parse, ``orjson``, mapping,
Arrow, storing, digest), in CPU microseconds a record, and the columnar path
(``ingest/evtx_columns.py``) over the same records.

(c) Many small files. ``--small DIR`` (default: the corpus; ``--small /tmp/hayabusa-sample-evtx``
    for hayabusa's 593 files) is ingested as it is, as a real collection would be (copies of
    records left out), on one worker and on ``--workers``, alternating with the bare parse of
    the same files, best of ``--small-runs`` each: CPU a record and a file, and the ratio to the
    bare parse. There a file's fixed costs (walk, digest, sniff, parser, commits, the record
    identity) weigh, not the records' (issue 13).

(d) Large files. ``--large DIR``: the EVTX reader alone over the files under DIR of 2,000
    records or more (``evtx.MIN_BLOCK``: read in blocks through Arrow), in columns and record
    by record, alternating, best of 3.

(e) Zeek TSV. ``--zeek DIR`` (a simulated run's ``logs/zeek``): the Zeek reader alone over the
    conn and dns logs, in columns (``ingest/zeek_columns.py``) and record by record, then an
    ingest of the whole folder on one worker both ways, alternating, best of 3.

(f) Large files made of the corpus's records. ``--concat N``: every 64 KiB chunk of the corpus,
    as many times as (a) replicates it, grouped by channel into EVTX files of N chunks under a
    header made for them (``concat_files``), then ingested as (c) ingests a folder, alternating
    with the bare parse: the case the floor is really about (a host's Security.evtx is 20 MB).

Speed is measured here only, never in the tests; a figure means something only next to
the baseline measured in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import gc
import glob
import math
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import orjson
from evtx import PyEvtxParser

from wormsign.ingest import ingest_paths
from wormsign.store import Case

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "evtx-attack-samples"


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (workers), user plus system."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bare_parse(files: list[str], passes: int, threads: int) -> tuple[int, float, float]:
    """Records, seconds and CPU seconds of the bare parse: iterate ``records_json()`` over every file."""
    n = 0
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    for _ in range(passes):
        for f in files:
            it = iter(PyEvtxParser(f, number_of_threads=threads).records_json())
            while True:
                try:
                    next(it)
                except StopIteration:
                    break
                except (RuntimeError, OSError, ValueError):
                    continue
                n += 1
    return n, time.perf_counter() - t0, cpu_seconds() - c0


def replicate(files: list[str], passes: int, tmp: str) -> list[str]:
    """``passes`` copies of ``files`` (one folder each), every copy made distinct by its pass
    number in the unused padding of the EVTX file header, so that the file dedupe keeps them all;
    they are ingested with ``keep_copies`` (the record identity of ingest/identity.py would
    otherwise take every copy after the first out).
    Files too short to have that padding are copied unchanged (the first copy is ingested)."""
    dirs = []
    for p in range(passes):
        d = os.path.join(tmp, "replicas", f"pass-{p:03d}")
        os.makedirs(d)
        for i, f in enumerate(files):
            with open(f, "rb") as fh:
                data = bytearray(fh.read())
            if len(data) >= 4096:
                data[4000:4008] = p.to_bytes(8, "little")
            with open(os.path.join(d, f"{i:04d}-{os.path.basename(f)}"), "wb") as out:
                out.write(data)
        dirs.append(d)
    return dirs


def _remove_case(path: str) -> None:
    """Delete a case file and its write-ahead log, if there."""
    for p in (path, path + ".wal"):
        if os.path.isdir(p):  # a case directory (Parquet shards)
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.unlink(p)


#: CPU seconds of the last :func:`wormsign_ingest` by workers: (this process, the parser processes).
SPLIT: dict[int, tuple[float, float]] = {}


def _own_cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def wormsign_ingest(paths: list[str], passes: int, workers: int, tmp: str,
                    keep_copies: bool = True) -> tuple[int, float, float]:
    """Events stored, seconds and CPU seconds for ``passes`` ingests of ``paths``, each into a
    fresh case; the CPU split between this process and the parser processes goes to :data:`SPLIT`."""
    stored = 0
    elapsed = cpu = own = 0.0
    for i in range(passes):
        path = os.path.join(tmp, f"case-{workers}-{i}.duckdb")
        c0, o0 = cpu_seconds(), _own_cpu()
        t0 = time.perf_counter()
        with Case.open(path) as case:
            report = ingest_paths(paths, case, workers=workers, keep_copies=keep_copies)
        elapsed += time.perf_counter() - t0
        cpu += cpu_seconds() - c0
        own += _own_cpu() - o0
        SPLIT[workers] = (own, cpu - own)
        stored += report.stats.stored
        _remove_case(path)
    return stored, elapsed, cpu


def store_only(paths: list[str], passes: int, tmp: str) -> tuple[int, float, float]:
    """Events, seconds and CPU seconds of the storing alone: the rows one ingest of ``paths``
    stored, appended again (as Arrow, in one transaction) into a fresh case ``passes`` times.
    It is the part of the ingest that no reader change can remove."""
    path = os.path.join(tmp, "case-store-src.duckdb")
    with Case.open(path) as case:
        ingest_paths(paths, case, workers=1, keep_copies=True)
        table = case.query("SELECT * FROM events")
    _remove_case(path)
    n = 0
    elapsed = cpu = 0.0
    for i in range(passes):
        dst = os.path.join(tmp, f"case-store-{i}.duckdb")
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        with Case.open(dst) as case, case.transaction():
            case.append_events(table)
        elapsed += time.perf_counter() - t0
        cpu += cpu_seconds() - c0
        n += table.num_rows
        _remove_case(dst)
    return n, elapsed, cpu


# -- many small files ----------------------------------------------------------------------


def small_files(folder: str, workers: int, tmp: str,
                runs: int = 3) -> list[tuple[str, int, float, float, str]]:
    """The rows of (c) and (f): the bare parse of every EVTX file under ``folder`` and ``wormsign ingest``
    of the folder as it is (1 worker, then ``workers``), alternating, best CPU of ``runs`` each.
    Per record and per file are against the bare parse's records and the files it parsed."""
    files = sorted(glob.glob(os.path.join(folder, "**", "*.evtx"), recursive=True))
    counts = [1] + ([workers] if workers > 1 else [])
    best: dict[str, tuple[int, float, float]] = {}

    def keep(what: str, run: tuple[int, float, float]) -> None:
        if what not in best or run[2] < best[what][2]:
            best[what] = run

    for _ in range(runs):
        keep("bare", bare_parse(files, 1, 1))
        for w in counts:
            keep(f"ingest-{w}", wormsign_ingest([folder], 1, w, tmp, keep_copies=False))
    n, s, c = best["bare"]
    name = os.path.basename(folder.rstrip(os.sep))
    note = f"baseline, {len(files)} files: {c / n * 1e6:.1f} us a record, {c / len(files) * 1e6:.0f} a file"
    out = [(f"{name}: bare parse, 1 thread", n, s, c, note)]
    for w in counts:
        wn, ws, wc = best[f"ingest-{w}"]
        note = (f"ratio {c / wc:.3f} cpu, {s / ws:.3f} wall; {wc / n * 1e6:.1f} us a record, "
                f"{wc / len(files) * 1e6:.0f} a file")
        if w > 1:
            note += f"; x{best['ingest-1'][1] / ws:.2f} wall over 1 worker"
        out.append((f"  ingest as is, {w} worker{'s' if w > 1 else ''}", wn, ws, wc, note))
    out[-1] = (*out[-1][:4], f"{out[-1][4]}; load {os.getloadavg()[0]:.1f}")
    return out


# -- large files: the corpus's chunks concatenated ------------------------------------------

_CHUNK = 65536
_RECORDS_AT = 512  # the chunk header with its string and template offset tables; the records follow


def _renumber(chunk: bytes, first: int) -> tuple[bytearray, int]:
    """The chunk with its records numbered from ``first`` (record headers, the chunk header's
    first/last record number and id) and both its CRC32s made again; and how many records."""
    c = bytearray(chunk)
    free = int.from_bytes(c[48:52], "little")  # the end of the last record
    off, rid = _RECORDS_AT, first
    while off + 24 <= free and c[off:off + 4] == b"**\x00\x00":
        c[off + 8:off + 16] = rid.to_bytes(8, "little")
        rid += 1
        off += int.from_bytes(c[off + 4:off + 8], "little") or free
    last = max(first, rid - 1)
    for at, v in ((8, first), (16, last), (24, first), (32, last)):
        c[at:at + 8] = v.to_bytes(8, "little")
    c[52:56] = zlib.crc32(c[_RECORDS_AT:free]).to_bytes(4, "little")
    c[124:128] = zlib.crc32(bytes(c[:120]) + bytes(c[128:_RECORDS_AT])).to_bytes(4, "little")
    return c, rid - first


def _write_evtx(path: str, header: bytes, chunks: list[bytes], first: int) -> int:
    """An EVTX file of ``chunks``, renumbered from record id ``first``, under a copy of ``header``
    (chunk count, first and last chunk number, next record id, clean flags, its CRC32 over the
    first 120 bytes set). Records written."""
    h = bytearray(header[:4096])
    body, rid = [], first
    for ch in chunks:
        c, n = _renumber(ch, rid)
        body.append(c)
        rid += n
    h[8:16] = (0).to_bytes(8, "little")
    h[16:24] = (len(chunks) - 1).to_bytes(8, "little")
    h[24:32] = rid.to_bytes(8, "little")
    h[42:44] = len(chunks).to_bytes(2, "little")
    h[120:124] = bytes(4)  # not dirty, not full
    h[124:128] = zlib.crc32(bytes(h[:120])).to_bytes(4, "little")
    with open(path, "wb") as out:
        out.write(h)
        out.writelines(body)
    return rid - first


def _chunk_channel(path: str) -> tuple[int, str | None]:
    """Records of a one-chunk file and their channel (None: mixed, unreadable or empty)."""
    chans = set()
    n = 0
    for rec in _records(path):
        n += 1
        m = re.search(r'"Channel":"([^"\\]*)"', rec["data"])
        chans.add(m.group(1) if m else "")
    return n, (chans.pop() if len(chans) == 1 else None)


def concat_files(files: list[str], passes: int, per_file: int, tmp: str) -> tuple[str, list[tuple[str, int]]]:
    """Large EVTX files from the chunks of ``files``: every 64 KiB chunk of the corpus that parses
    whole, ``passes`` times, grouped by channel (a real Security.evtx holds one; the chunks of
    several channels go together, in "mixed" files), ``per_file`` chunks a file. Each file's
    records are numbered from a start of its own (file i from i * 10^7 + 1), so that no two
    files' record ranges meet and the record identity keeps every copy, as it would the logs of
    different hosts. Every built file is parsed back: its records must be the chunks' records.
    The folder and (file, records) of each."""
    probe = os.path.join(tmp, "probe.evtx")
    groups: dict[str, list[bytes]] = {}
    header = b""
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        if not data.startswith(b"ElfFile\x00") or len(data) < 4096 + _CHUNK:
            continue
        header = header or data[:4096]
        for off in range(4096, len(data) - _CHUNK + 1, _CHUNK):
            ch = data[off:off + _CHUNK]
            if not ch.startswith(b"ElfChnk\x00"):
                continue
            want = _write_evtx(probe, data[:4096], [ch], 1)
            n, chan = _chunk_channel(probe)
            if n and n == want:  # a chunk with an unreadable record is left out
                groups.setdefault(chan or "mixed", []).append(ch)
    os.unlink(probe)
    folder = os.path.join(tmp, f"concat-{per_file}")
    os.makedirs(folder)
    out: list[tuple[str, int]] = []
    for chan, chunks in sorted(groups.items()):
        seq = chunks * passes
        name = re.sub(r"[^A-Za-z0-9]+", "-", chan)[:40]
        for i in range(0, len(seq), per_file):
            path = os.path.join(folder, f"{len(out):04d}-{name}.evtx")
            want = _write_evtx(path, header, seq[i:i + per_file], len(out) * 10_000_000 + 1)
            got = sum(1 for _ in _records(path))  # an unreadable record would be missing
            if got != want:
                raise RuntimeError(f"{path}: {got} records parsed, {want} written")
            out.append((path, want))
    return folder, out


# -- where the time of one EVTX pass goes ---------------------------------------------------


def breakdown(files: list[str], corpus: str, tmp: str, reps: int = 3) -> list[tuple[str, float]]:
    """CPU microseconds per record of each stage of the one-worker EVTX ingest, each measured on
    its own over the records of one pass (best of ``reps``): the stages the reader runs one
    after the other, then the storing of the rows they make, in a fresh case like a pass's."""
    from wormsign.ingest.base import Batch, parse_ts
    from wormsign.ingest.evtx import flatten_data
    from wormsign.ingest.walk import digest, sources
    from wormsign.ingest.windows import load_mapper

    texts: list[str] = []
    for f in files:
        for rec in _records(f):
            texts.append(rec["data"])
    n = len(texts)
    mapper = load_mapper()

    def best(fn: Any) -> float:
        # The collector is off while a stage runs: here a stage holds a whole pass of objects
        # at once, which the ingest never does (it spends 1-2 % of its CPU in the collector).
        t = math.inf
        for _ in range(reps):
            gc.disable()
            try:
                c0 = cpu_seconds()
                fn()
                t = min(t, cpu_seconds() - c0)
            finally:
                gc.enable()
        return t / n * 1e6

    events: list[Any] = []
    rows: list[dict[str, Any]] = []

    def parse() -> None:
        for f in files:
            for _ in _records(f):
                pass

    def loads() -> None:
        events[:] = [orjson.loads(t)["Event"] for t in texts]

    def mapping() -> None:
        out = []
        for ev, text in zip(events, texts, strict=True):
            s = ev["System"]
            eid = s.get("EventID")
            eid = eid.get("#text") if isinstance(eid, dict) else eid
            tc = s.get("TimeCreated")
            ts = tc.get("#attributes", {}).get("SystemTime") if isinstance(tc, dict) else None
            prov = s.get("Provider")
            name = prov.get("#attributes", {}).get("Name") if isinstance(prov, dict) else None
            out.append(mapper.map_parts(s.get("Channel"), name, eid if isinstance(eid, int) else None,
                                        s.get("Computer"), parse_ts(ts), flatten_data(ev), text))
        rows[:] = out

    tables: list[Any] = []

    def arrow() -> None:
        tables.clear()
        batch = Batch(tables.append, max_rows=len(rows) + 1)
        batch.add(_FakeSink(), rows)
        batch.drain()

    def store() -> None:
        path = os.path.join(tmp, "case-breakdown.duckdb")
        with Case.open(path) as case, case.transaction():
            case.append_events(tables[0])
        _remove_case(path)

    def digests() -> None:
        for s in sources([corpus]):
            if not isinstance(s, tuple):
                digest(s)

    out = [("bare parse (records_json)", best(parse)), ("orjson.loads of the record", best(loads)),
           ("mapping (windows.py)", best(mapping)), ("rows -> Arrow (Batch)", best(arrow)),
           ("storing: open case, append, commit, close", best(store)), ("digest (SHA-256 of the files)", best(digests))]
    return out


def columnar_breakdown(files: list[str], reps: int = 3) -> list[tuple[str, float]]:
    """CPU microseconds per record of the columnar EVTX path (``evtx_columns.EvtxBlocks``) over
    the records of one pass, as if they were one file read in blocks of up to 20,000 records:
    what it costs where the per-record path pays ``orjson``, the mapping and rows -> Arrow.
    The replicated corpus is files of 30 records, which the ingest reads record by record."""
    import pyarrow as pa

    from wormsign.ingest.evtx import BLOCK_RECORDS, _columns
    from wormsign.ingest.windows import load_mapper

    recs = [rec for f in files for rec in _records(f)]
    texts = [rec["data"] for rec in recs]
    ids = [rec["event_record_id"] for rec in recs]
    n = len(texts)
    blocks = _columns(load_mapper())
    cut = [(i, min(i + BLOCK_RECORDS, n)) for i in range(0, n, BLOCK_RECORDS)]
    taken = [0]

    def run() -> None:
        taken[0] = sum(blocks.convert(texts[a:b], ids[a:b])[0].num_rows for a, b in cut)

    run()  # learns the fields the mappings read and their types, as the first block of a run does
    t = math.inf
    for _ in range(reps):
        c0 = cpu_seconds()
        run()
        t = min(t, cpu_seconds() - c0)
    arr = math.inf
    for _ in range(reps):
        c0 = cpu_seconds()
        for a, b in cut:
            pa.array(texts[a:b], pa.string())
        arr = min(arr, cpu_seconds() - c0)
    return [(f"columnar block ({taken[0] / n:.0%} of the records)", t / n * 1e6),
            ("  of which the texts into one Arrow array", arr / n * 1e6)]


def _records(path: str) -> Any:
    it = iter(PyEvtxParser(path, number_of_threads=1).records_json())
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except (RuntimeError, OSError, ValueError):
            continue


class _FakeSink:
    """What Batch needs of a sink: the source pointer and the stats it counts truncations on."""

    def __init__(self) -> None:
        from wormsign.ingest.base import Source, Stats

        self.source = Source("breakdown", "breakdown", digest="0" * 64)
        self.fmt = "evtx"
        self.stats = Stats()

# -- the reader alone ----------------------------------------------------------------------


def reader_only(path: str, columnar: bool, reps: int = 2) -> tuple[int, float, float]:
    """Events, seconds and CPU seconds (best of ``reps``) of the JSON-lines reader alone on one
    file: parse and map into event-model Arrow tables (what a worker hands on), nothing stored.
    ``columnar`` False reads it record by record (the path before the columnar reader)."""
    from wormsign.ingest.base import Batch, Sink, Source
    from wormsign.ingest.jsonl import JsonLinesReader

    best = (0, math.inf, math.inf)
    for _ in range(reps):
        src = Source(path, path, digest="0" * 64)
        batch = Batch(lambda t: None, 20_000)  # handed on, as a worker does: not kept here
        sink = Sink(src, "ecs", batch._flush, batch=batch)
        reader = JsonLinesReader()
        reader.columnar = columnar
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        reader.read(src, sink)
        sink.flush()
        batch.drain()
        run = (sink.stats.stored, time.perf_counter() - t0, cpu_seconds() - c0)
        if run[2] < best[2]:
            best = run
    return best


def zeek_reader_only(files: list[str], columnar: bool) -> tuple[int, float, float]:
    """Events, seconds and CPU seconds of the Zeek reader alone over ``files``: read and map into
    event-model Arrow tables (what a worker hands on), nothing stored. ``columnar`` False reads
    them record by record (the path before :mod:`wormsign.ingest.zeek_columns`)."""
    from wormsign.ingest.base import Batch, Sink, Source
    from wormsign.ingest.zeek import ZeekReader

    stored = 0
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    for path in files:
        src = Source(path, path, container="gzip" if path.endswith(".gz") else "file", digest="0" * 64)
        batch = Batch(lambda t: None, 20_000)  # handed on, as a worker does: not kept here
        sink = Sink(src, "zeek", batch._flush, batch=batch)
        reader = ZeekReader()
        reader.columnar = columnar
        reader.read(src, sink)
        sink.flush()
        batch.drain()
        stored += sink.stats.stored
    return stored, time.perf_counter() - t0, cpu_seconds() - c0


def zeek_runs(folder: str, tmp: str, runs: int = 3) -> list[tuple[str, int, float, float, str]]:
    """(e) Zeek TSV in columns against record by record, best of ``runs`` alternated: the reader
    alone on the folder's conn and dns logs, then an ingest of the whole folder on one worker."""
    from wormsign.ingest.zeek import ZeekReader

    every = sorted(glob.glob(os.path.join(folder, "**", "*.log*"), recursive=True))
    out: list[tuple[str, int, float, float, str]] = []
    for log in ("conn", "dns"):
        files = [f for f in every if os.path.basename(f).split(".")[0] == log]
        if not files:
            continue
        best = {False: (0, math.inf, math.inf), True: (0, math.inf, math.inf)}
        for _ in range(runs):
            for columnar in (False, True):
                got = zeek_reader_only(files, columnar)
                if got[2] < best[columnar][2]:
                    best[columnar] = got
        (rn, rs, rc), (fn, fs, fc) = best[False], best[True]
        out.append((f"  zeek {log} reader alone, record by record", rn, rs, rc,
                    f"{rc / rn * 1e6:.2f} us/row cpu: baseline"))
        out.append((f"  zeek {log} reader alone, columnar", fn, fs, fc,
                    f"{fc / fn * 1e6:.2f} us/row cpu, x{rc / fc:.2f} over record by record"))
    best = {False: (0, math.inf, math.inf), True: (0, math.inf, math.inf)}
    try:
        for _ in range(runs):
            for columnar in (False, True):
                ZeekReader.columnar = columnar  # the worker processes fork: they see it
                got = wormsign_ingest([folder], 1, 1, tmp)
                if got[2] < best[columnar][2]:
                    best[columnar] = got
    finally:
        ZeekReader.columnar = True
    (rn, rs, rc), (fn, fs, fc) = best[False], best[True]
    out.append(("wormsign zeek ingest, record by record", rn, rs, rc, "1 worker: baseline"))
    out.append(("wormsign zeek ingest, columnar", fn, fs, fc,
                f"1 worker: x{rc / fc:.2f} cpu, x{rs / fs:.2f} wall over record by record"))
    return out


def evtx_reader_only(files: list[str], passes: int) -> tuple[int, float, float]:
    """Records, seconds and CPU seconds of the EVTX reader alone over ``files`` ``passes`` times:
    parse and map into event-model Arrow tables, nothing stored, no digest."""
    from wormsign.ingest.base import Batch, Sink, Source
    from wormsign.ingest.evtx import EvtxReader

    reader = EvtxReader()
    n = 0
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    for _ in range(passes):
        batch = Batch(lambda t: None, 20_000)
        sinks = []
        for f in files:
            sink = Sink(Source(f, f, digest="0" * 64), "evtx", batch._flush, batch=batch)
            reader.read(sink.source, sink)
            sink.flush()
            sinks.append(sink)
        batch.drain()
        n += sum(s.stats.stored for s in sinks)
    return n, time.perf_counter() - t0, cpu_seconds() - c0


def evtx_large(folder: str, runs: int = 3) -> list[tuple[str, int, float, float, str]]:
    """(d) The EVTX reader alone over the files under ``folder`` of ``evtx.MIN_BLOCK`` records or
    more (those it reads in columns), in columns and record by record, alternating, best of
    ``runs`` each: parse, map, rows to Arrow, nothing stored."""
    from wormsign.ingest import evtx
    from wormsign.ingest.base import Batch, Sink, Source

    files = []
    for f in sorted(glob.glob(os.path.join(folder, "**", "*.evtx"), recursive=True)):
        with open(f, "rb") as fh:
            if evtx.chunk_census(fh).expected >= evtx.MIN_BLOCK:
                files.append(f)
    if not files:
        return []

    def one(columnar: bool) -> tuple[int, float, float]:
        reader = evtx.EvtxReader()
        reader.columnar = columnar
        batch = Batch(lambda t: None, 20_000)
        n = 0
        c0, t0 = cpu_seconds(), time.perf_counter()
        for f in files:
            sink = Sink(Source(f, f, digest="0" * 64), "evtx", batch._flush, batch=batch)
            reader.read(sink.source, sink)
            sink.flush()
            n += sink.stats.stored
        batch.drain()
        return n, time.perf_counter() - t0, cpu_seconds() - c0

    one(True)  # the columnar reader learns the fields and their types on its first block
    best = {True: (0, math.inf, math.inf), False: (0, math.inf, math.inf)}
    for _ in range(runs):
        for columnar in (False, True):
            got = one(columnar)
            if got[2] < best[columnar][2]:
                best[columnar] = got
    (pn, ps, pc_), (cn, cs, cc) = best[False], best[True]
    return [("  reader alone, record by record", pn, ps, pc_,
             f"baseline: the {len(files)} files of {evtx.MIN_BLOCK:,}+ records"),
            ("  reader alone, in columns", cn, cs, cc,
             f"x{(cn / cc) / (pn / pc_):.2f} cpu over record by record: {cc / cn * 1e6:.1f} "
             f"against {pc_ / pn * 1e6:.1f} us a record")]


# -- Winlogbeat documents ----------------------------------------------------------------

_SEC = "Microsoft-Windows-Security-Auditing"
_SYSMON = "Microsoft-Windows-Sysmon"


def _doc(i: int, rnd: random.Random, t0: float) -> dict[str, object]:
    host = f"ws-{rnd.randrange(2000):04d}"
    src = f"10.1.{rnd.randrange(8)}.{rnd.randrange(1, 255)}"
    kind = i % 7
    exe = rnd.choice(
        [
            "C:\\Windows\\System32\\svchost.exe",
            "C:\\Windows\\System32\\cmd.exe",
            "C:\\Users\\jdoe\\AppData\\Local\\Temp\\upd" + str(rnd.randrange(999)) + ".exe",
        ]
    )
    if kind in (0, 1):
        chan, prov, eid = "Security", _SEC, 4624 + kind
        data = {
            "SubjectUserSid": "S-1-0-0",
            "SubjectUserName": "-",
            "SubjectDomainName": "-",
            "SubjectLogonId": "0x0",
            "TargetUserName": f"user{rnd.randrange(500)}",
            "TargetDomainName": "CORP",
            "TargetLogonId": hex(rnd.randrange(1 << 32)),
            "LogonType": "3",
            "LogonProcessName": "NtLmSsp ",
            "AuthenticationPackageName": "NTLM",
            "WorkstationName": f"WS-{rnd.randrange(2000):04d}",
            "IpAddress": src,
            "IpPort": str(rnd.randrange(1024, 65535)),
            "ProcessId": "0x0",
            "ProcessName": "-",
        }
        if kind == 1:
            data.update({"Status": "0xc000006d", "SubStatus": "0xc000006a", "FailureReason": "%%2313"})
    elif kind == 2:
        chan, prov, eid = "Security", _SEC, 5145
        data = {
            "SubjectUserSid": "S-1-5-21-1-2-3-500",
            "SubjectUserName": "Administrator",
            "SubjectDomainName": "CORP",
            "SubjectLogonId": "0xfc635",
            "ObjectType": "File",
            "IpAddress": src,
            "IpPort": str(rnd.randrange(1024, 65535)),
            "ShareName": "\\\\*\\ADMIN$",
            "ShareLocalPath": "\\??\\C:\\Windows",
            "RelativeTargetName": f"upd{rnd.randrange(999)}.exe",
            "AccessMask": "0x2",
            "AccessList": "%%4417\r\n\t\t\t\t",
            "AccessReason": "-",
        }
    elif kind == 6:
        chan, prov, eid = "System", "Service Control Manager", 7045
        data = {
            "ServiceName": f"svc{rnd.randrange(999)}",
            "ImagePath": "%SystemRoot%\\upd.exe",
            "ServiceType": "user mode service",
            "StartType": "demand start",
            "AccountName": "LocalSystem",
        }
    else:
        chan, prov = "Microsoft-Windows-Sysmon/Operational", _SYSMON
        eid = (1, 3, 11)[kind - 3]
        data = {
            "RuleName": "-",
            "UtcTime": "2026-03-02 09:14:07.250",
            "ProcessGuid": "{8a1c3e4f-b2d3-5c90-0000-0010a1b2c3d4}",
            "ProcessId": str(rnd.randrange(65535)),
            "Image": exe,
            "User": "CORP\\jdoe",
        }
        if eid == 1:
            data.update(
                {
                    "CommandLine": exe + " -k netsvcs -p -s Schedule",
                    "CurrentDirectory": "C:\\Windows\\",
                    "Hashes": f"MD5={rnd.getrandbits(128):032x},SHA256={rnd.getrandbits(256):064x}",
                    "ParentProcessGuid": "{8a1c3e4f-b2d3-5c90-0000-0010ffeeddcc}",
                    "ParentProcessId": "700",
                    "ParentImage": "C:\\Windows\\System32\\services.exe",
                    "ParentCommandLine": "C:\\Windows\\system32\\services.exe",
                    "IntegrityLevel": "System",
                }
            )
        elif eid == 3:
            data.update(
                {
                    "Protocol": "tcp",
                    "Initiated": "true",
                    "SourceIp": src,
                    "SourceHostname": host,
                    "SourcePort": str(rnd.randrange(1024, 65535)),
                    "DestinationIp": "10.1.0.5",
                    "DestinationHostname": "dc-01",
                    "DestinationPort": "445",
                }
            )
        else:
            data.update(
                {
                    "TargetFilename": f"C:\\Windows\\upd{rnd.randrange(999)}.exe",
                    "CreationUtcTime": "2026-03-02 09:14:07.250",
                }
            )
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 + i * 0.05)) + f".{i % 1000:03d}Z"
    return {
        "@timestamp": ts,
        "agent": {"type": "winlogbeat", "version": "8.12.0", "hostname": host},
        "ecs": {"version": "8.0.0"},
        "event": {"code": str(eid), "kind": "event", "provider": prov, "id": f"bench-{i}"},
        "host": {"name": host + ".corp.example", "hostname": host, "ip": [src]},
        "log": {"level": "information"},
        "winlog": {
            "api": "wineventlog",
            "channel": chan,
            "computer_name": host.upper() + ".corp.example",
            "event_id": str(eid),
            "provider_name": prov,
            "record_id": str(i + 1),
            "event_data": data,
        },
    }


def write_ndjson(path: str, n: int) -> int:
    rnd = random.Random(42)
    t0 = 1772440447.0
    size = 0
    with open(path, "wb") as fh:
        for start in range(0, n, 10_000):
            block = (
                b"\n".join(orjson.dumps(_doc(i, rnd, t0)) for i in range(start, min(n, start + 10_000)))
                + b"\n"
            )
            fh.write(block)
            size += len(block)
    return size


def peak_rss_mib() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return me, kids


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--evtx-records", type=int, default=250_000)
    ap.add_argument("--ndjson-events", type=int, default=500_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-evtx", action="store_true")
    ap.add_argument("--skip-ndjson", action="store_true")
    ap.add_argument("--breakdown", action="store_true", help="also time each stage of one EVTX pass on its own")
    ap.add_argument("--small", default=None,
                    help="(c): a folder of many small EVTX files (default: the corpus)")
    ap.add_argument("--small-runs", type=int, default=3, help="(c): runs of each, the best kept")
    ap.add_argument("--skip-small", action="store_true")
    ap.add_argument("--concat", type=int, default=0, metavar="N",
                    help="(f): the corpus's chunks, --evtx-records of them, concatenated by channel into "
                         "EVTX files of N chunks (320: a 20 MB Security.evtx), ingested as (c) does")
    ap.add_argument("--large", default=None,
                    help="(d): a folder whose EVTX files of 2,000+ records are read in columns and "
                         "record by record (reader alone)")
    ap.add_argument("--zeek", default=None,
                    help="(e): a folder of Zeek TSV logs (a simulated run's logs/zeek) read in columns "
                         "and record by record: the reader alone on conn and dns, and an ingest")
    args = ap.parse_args()
    rows: list[tuple[str, int, float, float, str]] = []
    cores = os.cpu_count() or 1
    print(
        f"python {sys.version.split()[0]}, {cores} cores, load average {os.getloadavg()[0]:.1f}", flush=True
    )
    with tempfile.TemporaryDirectory(prefix="wormsign-bench-") as tmp:
        if not args.skip_evtx:
            files = sorted(glob.glob(os.path.join(args.corpus, "**", "*.evtx"), recursive=True))
            if not files:
                print(f"no EVTX files under {args.corpus}", file=sys.stderr)
                return 2
            per_pass, _, _ = bare_parse(files, 1, 1)  # also warms the page cache
            passes = max(1, math.ceil(args.evtx_records / per_pass))
            print(
                f"EVTX: {len(files)} files, {per_pass:,} records a pass, {passes} passes "
                f"({per_pass * passes:,} records)",
                flush=True,
            )
            replicas = replicate(files, passes, tmp)  # not timed
            n1, s1, c1 = bare_parse(files, passes, 1)
            rows.append(("evtx bare parse, 1 thread", n1, s1, c1, "baseline"))
            nall, sall, call = bare_parse(files, passes, 0)
            rows.append((f"evtx bare parse, {cores} threads", nall, sall, call, ""))
            rn, rs, rc = evtx_reader_only(files, passes)
            rows.append(("  evtx reader alone", rn, rs, rc,
                         f"ratio {(rn / rc) / (n1 / c1):.3f} cpu: parse + map to Arrow, nothing stored"))
            w1, t1, cw1 = wormsign_ingest(replicas, 1, 1, tmp)
            rows.append(
                (
                    "wormsign evtx ingest, 1 worker",
                    w1,
                    t1,
                    cw1,
                    f"ratio {(w1 / t1) / (n1 / s1):.3f} wall, {(w1 / cw1) / (n1 / c1):.3f} cpu (floor 0.30)",
                )
            )
            if args.workers > 1:
                wn, tn, cwn = wormsign_ingest(replicas, 1, args.workers, tmp)
                rows.append(
                    (
                        f"wormsign evtx ingest, {args.workers} workers",
                        wn,
                        tn,
                        cwn,
                        f"ratio {(wn / tn) / (n1 / s1):.3f} wall; speedup x{t1 / tn:.2f} over 1 worker "
                        f"(floor 1.7); cpu {SPLIT[args.workers][0]:.2f} parent + {SPLIT[args.workers][1]:.2f} "
                        f"parsers; load {os.getloadavg()[0]:.1f}",
                    )
                )
        if not args.skip_small:
            folder = args.small or args.corpus
            print(f"many small files: {folder}, {args.small_runs} runs of each", flush=True)
            rows.extend(small_files(folder, args.workers, tmp, args.small_runs))
        if args.concat:
            if not 1 <= args.concat <= 0xFFFF:  # the file header counts chunks in 16 bits
                print("--concat: 1 to 65,535 chunks a file", file=sys.stderr)
                return 2
            files = sorted(glob.glob(os.path.join(args.corpus, "**", "*.evtx"), recursive=True))
            per_pass, _, _ = bare_parse(files, 1, 1)
            passes = max(1, math.ceil(args.evtx_records / per_pass))
            folder, built = concat_files(files, passes, args.concat, tmp)  # not timed
            big = sum(n for _, n in built if n >= 2000)
            print(f"the corpus's chunks x{passes} in {len(built)} files of up to {args.concat} chunks "
                  f"({sum(n for _, n in built):,} records, {big:,} in files of 2,000+), "
                  f"{args.small_runs} runs of each", flush=True)
            rows.extend(small_files(folder, args.workers, tmp, args.small_runs))
        if args.large:
            print(f"large EVTX files: {args.large}", flush=True)
            rows.extend(evtx_large(args.large))
        if args.zeek:
            print(f"Zeek TSV: {args.zeek}", flush=True)
            rows.extend(zeek_runs(args.zeek, tmp))
        if args.breakdown and not args.skip_evtx:
            stages = breakdown(files, args.corpus, tmp)
            print("\nwhere one EVTX pass goes (CPU us a record, each stage on its own, best of 3):")
            for what, us in stages:
                print(f"  {what:<45} {us:7.1f}")
            print(f"  {'sum':<45} {sum(us for _, us in stages):7.1f}   "
                  f"(the ingest above: {cw1 / w1 * 1e6:.1f})", flush=True)
            print("the columnar path over the same records, in blocks across files, against the "
                  "orjson + mapping + Arrow lines above:")
            for what, us in columnar_breakdown(files):
                print(f"  {what:<45} {us:7.1f}", flush=True)
        if not args.skip_ndjson:
            path = os.path.join(tmp, "winlogbeat.ndjson")
            size = write_ndjson(path, args.ndjson_events)
            print(f"NDJSON: {args.ndjson_events:,} Winlogbeat events, {size / 2**20:.0f} MiB", flush=True)
            n, s, c = wormsign_ingest([path], 1, 1, tmp)
            rows.append(
                (
                    "wormsign winlogbeat ndjson, 1 worker",
                    n,
                    s,
                    c,
                    f"{n / s:,.0f}/s wall, {n / c:,.0f}/cpu-s (floor 60,000/cpu-s)",
                )
            )
            rn, rs, rc = reader_only(path, False)
            rows.append(("  reader alone, record by record", rn, rs, rc, "baseline: parse + map to Arrow"))
            fn, fs, fc = reader_only(path, True)
            rows.append(("  reader alone, columnar", fn, fs, fc,
                         f"x{(fn / fc) / (rn / rc):.2f} cpu over record by record (aim 150,000/cpu-s)"))
        # Last, so that the peak memory above is the ingest's own (these hold a whole table).
        me, kids = peak_rss_mib()
        if not args.skip_evtx:
            ns, ts_, cs = store_only(replicas, 1, tmp)
            rows.insert(
                next(i for i, r in enumerate(rows) if r[0] == "wormsign evtx ingest, 1 worker") + 1,
                (
                    "  duckdb store only (same rows)",
                    ns,
                    ts_,
                    cs,
                    f"ratio {(ns / ts_) / (n1 / s1):.3f} wall, {(ns / cs) / (n1 / c1):.3f} cpu: storing alone",
                ),
            )
        if not args.skip_ndjson:
            ns, ts_, cs = store_only([path], 1, tmp)
            rows.append(
                ("  duckdb store only (same rows)", ns, ts_, cs,
                 f"{ns / ts_:,.0f}/s wall, {ns / cs:,.0f}/cpu-s: storing alone")
            )
    print()
    print(f"{'what':<40} {'records':>10} {'wall s':>8} {'cpu s':>8} {'rec/s':>10} {'rec/cpu-s':>10}  note")
    for what, n, s, c, note in rows:
        print(f"{what:<40} {n:>10,} {s:>8.2f} {c:>8.2f} {n / s:>10,.0f} {n / c:>10,.0f}  {note}")
    print(
        f"peak RSS: {me:,.0f} MiB (this process), {kids:,.0f} MiB (largest worker); "
        f"load average now {os.getloadavg()[0]:.1f} on {cores} cores"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
