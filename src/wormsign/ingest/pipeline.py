"""Ingest paths into a case: walk, sniff, parse (in parallel over files), store, count.

Each file is parsed whole by one process into Arrow batches; the parent writes a file's
batches and its ``sources`` row in one transaction, so a file is either in the case
completely or not at all, and ingesting the same content again adds nothing.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.ipc as ipc

from wormsign.ingest.base import IngestError, Reject, Sink, Source, Stats
from wormsign.ingest.registry import pick
from wormsign.ingest.walk import digest, sources
from wormsign.store import Case, SourceRecord

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (file name, records done in it, bytes)


@dataclass(slots=True)
class FileResult:
    source: Source
    fmt: str
    stats: Stats
    rejects: list[Reject]
    batches: str | None = None  # Arrow IPC file with the rows (worker mode)
    error: str | None = None  # set when strict mode stopped on this file


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did."""

    files: int = 0
    skipped: int = 0  # already in the case
    unknown: list[str] = field(default_factory=list)  # files no reader accepted
    stats: Stats = field(default_factory=Stats)
    rejects: list[Reject] = field(default_factory=list)  # the first few, for display
    by_format: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.stats.rejected == 0 and not self.unknown


def _parse(source: Source, strict: bool, flush: Callable[[pa.Table], None]) -> FileResult:
    head = source.head(8192)
    reader = pick(source, head)
    if reader is None:
        st = Stats(read=1, rejected=1)
        st.reasons["unknown-format"] = 1
        rej = Reject(source.name, None, "unknown-format", f"no reader recognises this content ({head[:16]!r})")
        if strict:
            raise IngestError(str(rej))
        return FileResult(source, "unknown", st, [rej])
    sink = Sink(source, reader.name, flush, strict=strict)
    reader.read(source, sink)
    sink.flush()
    return FileResult(source, reader.name, sink.stats, sink.rejects)


def _parse_to_file(source: Source, strict: bool, tmpdir: str) -> FileResult:
    """Worker side: parse one source into an Arrow IPC file."""
    path = os.path.join(tmpdir, f"{source.digest}.arrow")
    writer: list[ipc.RecordBatchFileWriter] = []

    def flush(t: pa.Table) -> None:
        if not writer:
            writer.append(ipc.new_file(path, t.schema))
        writer[0].write_table(t)

    try:
        res = _parse(source, strict, flush)
    except IngestError as exc:
        res = FileResult(source, "?", Stats(), [], error=str(exc))
    finally:
        if writer:
            writer[0].close()
    res.batches = path if writer else None
    return res


def ingest_paths(
    paths: list[str],
    case: Case,
    *,
    strict: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest every file under ``paths`` into ``case``. See the module docstring."""
    report = IngestReport()
    todo: list[Source] = []
    seen: set[str] = set()
    for s in sources(paths):
        if isinstance(s, tuple):
            name, err = s
            rej = Reject(name, None, "unreadable", err)
            if strict:
                raise IngestError(str(rej))
            report.stats.read += 1
            report.stats.rejected += 1
            report.stats.reasons["unreadable"] += 1
            report.rejects.append(rej)
            continue
        s.digest = digest(s)
        if s.digest in seen or case.has_source(s.digest):
            report.skipped += 1
            continue
        seen.add(s.digest)
        todo.append(s)
    if workers is None:
        workers = min(os.cpu_count() or 1, len(todo))
    if workers <= 1 or len(todo) <= 1:
        for s in todo:
            with case.transaction():
                res = _parse(s, strict, case.append_events)
                _record(case, res, report)
            if progress:
                progress(s.name, res.stats.read, s.size)
        return report
    with tempfile.TemporaryDirectory(prefix="wormsign-ingest-") as tmp, ProcessPoolExecutor(workers) as pool:
        pending: set[Future[FileResult]] = set()
        queue = list(reversed(todo))
        while queue or pending:
            while queue and len(pending) < workers * 2:
                pending.add(pool.submit(_parse_to_file, queue.pop(), strict, tmp))
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                res = fut.result()
                if res.error:
                    for f in pending:
                        f.cancel()
                    raise IngestError(res.error)
                with case.transaction():
                    if res.batches:
                        with pa.memory_map(res.batches) as mm:
                            rd = ipc.open_file(mm)
                            for i in range(rd.num_record_batches):
                                case.append_events(pa.Table.from_batches([rd.get_batch(i)]))
                        os.unlink(res.batches)
                    _record(case, res, report)
                if progress:
                    progress(res.source.name, res.stats.read, res.source.size)
    return report


def _record(case: Case, res: FileResult, report: IngestReport) -> None:
    s = res.source
    case.add_source(
        SourceRecord(
            s.digest, s.name, res.fmt, s.size, res.stats.read, res.stats.stored,
            res.stats.rejected, res.stats.truncated, dict(res.stats.reasons),
        )
    )
    if res.rejects:
        case.add_rejects(s.digest, res.rejects)
    report.files += 1
    report.stats.merge(res.stats)
    report.by_format[res.fmt] = report.by_format.get(res.fmt, 0) + 1
    if res.fmt == "unknown":
        report.unknown.append(s.name)
    room = 50 - len(report.rejects)
    if room > 0:
        report.rejects.extend(res.rejects[:room])
