"""Ingest paths into a case: walk, sniff, parse (in parallel over files), store, count.

Each file is parsed whole by one process; the rows of many small files are converted to
Arrow together (:class:`~wormsign.ingest.base.Batch`), in the worker when there are
several. The parent only appends: a file's rows and its ``sources`` row go in one
transaction (shared by a group of small files), so a file is either in the case completely
or not at all, and ingesting the same content again adds nothing.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import closing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from wormsign.ingest import identity
from wormsign.ingest.base import Batch, IngestError, Reject, Sink, Source, Stats
from wormsign.ingest.registry import pick
from wormsign.ingest.walk import Unreadable, digest, sources
from wormsign.store import Case, ShardWriter
from wormsign.testhook import pause

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (file name, records done in it, bytes)


@dataclass(frozen=True, slots=True)
class Options:
    """How files are read, the same in every parser process: ``fmt`` names the reader of every
    file (None: picked by content); ``start``/``end``: only events with ``start <= ts < end``
    are stored, the others counted (``Stats.outside``)."""

    fmt: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(slots=True)
class FileResult:
    source: Source
    fmt: str
    stats: Stats
    rejects: list[Reject]
    batches: str | None = None  # Arrow IPC file with the rows (worker mode, large files)
    tables: list[pa.Table] = field(default_factory=list)  # the rows (worker mode, small files)
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


def _unreadable(source: Source) -> str | None:
    """Why the start of a source cannot be read (a damaged archive), or None when it reads."""
    try:
        with source.open() as fh:
            fh.read(8192)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _whole_file_rejected(source: Source, reason: str, detail: str, strict: bool) -> FileResult:
    """A file no reader can take, counted as one rejected record (fatal with ``strict``)."""
    st = Stats(read=1, rejected=1)
    st.reasons[reason] = 1
    rej = Reject(source.name, None, reason, detail)
    if strict:
        raise IngestError(str(rej))
    return FileResult(source, "unknown", st, [rej])


def _reader(name: str) -> Any:
    """The reader called ``name`` (``--format``)."""
    from wormsign.ingest.registry import readers

    for r in readers():
        if r.name == name:
            return r
    raise IngestError(f"no reader named {name!r}; known: {', '.join(r.name for r in readers())}")


def _parse(source: Source, strict: bool, batch: Batch, opts: Options = Options()) -> FileResult:
    """Parse one source; its rows go to ``batch`` (which converts and hands them on)."""
    head = source.head(8192)
    if len(head) < 8192 and not head.strip():
        damage = _unreadable(source)
        if damage is None:
            # An empty file (or only white space) holds no record: nothing to store or reject.
            return FileResult(source, "empty", Stats(), [])
        return _whole_file_rejected(
            source, "truncated-archive", f"the content cannot be read: {damage}", strict
        )
    reader = _reader(opts.fmt) if opts.fmt else pick(source, head)
    if reader is None:
        return _whole_file_rejected(
            source, "unknown-format", f"no reader recognises this content ({head[:16]!r})", strict
        )
    sink = Sink(source, reader.name, batch._flush, strict=strict, batch=batch)
    if opts.start is not None or opts.end is not None:
        sink.window = (opts.start, opts.end)
    try:
        reader.read(source, sink)
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - a reader bug or an odd stream costs the rest of the file only
        sink.reject(None, "reader-error", f"{type(exc).__name__}: {exc}; rest of file skipped")
    sink.flush()
    return FileResult(source, reader.name, sink.stats, sink.rejects)


#: Chunks done by the parser processes committed together while more are to come.
COMMIT_CHUNKS = 4

#: Rows held as Python dicts before they are converted to Arrow (as many as a Sink holds).
BATCH_ROWS = 20_000

#: Files parsed in this process that commit together at most (a group's rows are bounded too:
#: :class:`_Writer`). Each group is a shard, a Parquet file, an identity check and a catalog
#: transaction, 30-40 ms in all: at 500 the 593 files of hayabusa-sample-evtx made two.
GROUP_FILES = 2_000



@dataclass(slots=True)
class ChunkResult:
    """What a worker sends back for a chunk of files: their results, and the shard it wrote."""

    results: list[FileResult]
    shard: int
    rows: int = 0  # rows in the shard (0: no file)
    error: str | None = None  # set when strict mode stopped on a file of the chunk
    checked: identity.Checked | None = None  # the shard's own copies taken out (None: not checked)


def _parse_chunk(chunk: list[Source], strict: bool, root: str, shard: int, opts: Options = Options(),
                 keep_copies: bool = False) -> ChunkResult:
    """Worker side: parse a chunk of sources and write their rows, converted to Arrow here, into
    a shard of its own in the case's staging folder (the records it holds twice taken out first:
    ingest/identity.py); the parent only compares it with the stored shards and commits it."""
    out = ChunkResult([], shard)
    writer = identity.Staged(ShardWriter(root, shard))
    batch = Batch(writer.write, BATCH_ROWS)
    try:
        for source in chunk:
            out.results.append(_parse(source, strict, batch, opts))
        batch.drain()  # the rows, and the truncation counts of the results, are final here
        out.checked = writer.close(None, keep=keep_copies)
        out.rows = writer.rows
    except IngestError as exc:
        out.error = str(exc)
        writer.abort()
    except BaseException:
        writer.abort()
        raise
    return out


#: Files in a chunk at most.
MAX_CHUNK_FILES = 200


def _chunks(todo: list[Source], workers: int) -> list[list[Source]]:
    """Sources in chunks for the workers: small files together (a task costs milliseconds),
    large ones alone; enough chunks that every worker has work until near the end. Two a worker
    for a small collection: each chunk is a shard and a commit, whose fixed cost the parent pays
    (593 hayabusa files on 2 workers, load 10, 5 runs each: 8 chunks against 4, median CPU
    1.21 -> 1.07 s, wall 2.50 -> 2.32 s)."""
    total = sum(s.size for s in todo)
    target = max(1 << 20, min(32 << 20, total // (workers * 2) or 1))
    chunks: list[list[Source]] = []
    cur: list[Source] = []
    size = 0
    for s in todo:
        cur.append(s)
        size += s.size
        if size >= target or len(cur) >= MAX_CHUNK_FILES:
            chunks.append(cur)
            cur, size = [], 0
    if cur:
        chunks.append(cur)
    return chunks


# -- the parser processes' lifetime and temporary files -----------------------------------
# A run killed with SIGKILL runs no cleanup: its parser processes would wait on their pipe for
# good (they hold its other end themselves). So each parser process dies with the run. Shards
# a killed run left in the case's staging folder are removed when the case is next opened; the
# temporary folders of earlier versions' runs (their Arrow files) are removed by each run.

#: Temporary folders of ingest runs: ``wormsign-ingest-<pid>-<start>-<random>``, where ``start``
#: is the owner's start time (Linux; ``0`` elsewhere), which tells a reused pid apart.
TMP_PREFIX = "wormsign-ingest-"

#: How often a parser process checks that the run that started it is still there (seconds).
PARENT_POLL_S = 0.5

#: A temporary folder of an earlier version (no owner in its name) is removed when it has not
#: changed for this long (seconds): it cannot be told from a live run's otherwise.
LEGACY_TMP_AGE_S = 24 * 3600.0


def _start_time(pid: int) -> str:
    """When process ``pid`` started, in clock ticks since boot (Linux), ``"0"`` when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2:].split()[19].decode("ascii")
    except (OSError, ValueError, IndexError):
        return "0"


def _tmp_prefix() -> str:
    pid = os.getpid()
    return f"{TMP_PREFIX}{pid}-{_start_time(pid)}-"


def _owner_alive(pid: int, start: str) -> bool:
    """Whether the run that made a temporary folder still runs (when in doubt, it does)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (PermissionError), or no way to ask: leave it
        return True
    if start != "0" and os.path.isdir("/proc"):
        now = _start_time(pid)
        return now in ("0", start)  # another start time: the pid was reused, the owner is gone
    return True


def remove_stale_temp(tmpdir: str | None = None) -> list[str]:
    """Remove the temporary folders of ingest runs that are gone (killed), and return them.
    Folders of live runs, this one's included, are never touched."""
    root = tmpdir or tempfile.gettempdir()
    removed: list[str] = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(TMP_PREFIX):
            continue
        path = os.path.join(root, name)
        parts = name[len(TMP_PREFIX):].split("-")
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            stale = not _owner_alive(int(parts[0]), parts[1])
        else:
            try:
                stale = time.time() - os.stat(path).st_mtime > LEGACY_TMP_AGE_S
            except OSError:
                continue
        if stale and os.path.isdir(path) and not os.path.islink(path):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if st.st_uid != os.getuid():
                continue  # another user's: not ours to remove (the sticky bit says so too)
            shutil.rmtree(path, ignore_errors=True)
            log.info("removed the temporary files of a killed ingest: %s", path)
            removed.append(path)
    return removed


def _set_pdeathsig() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    """Exit as soon as ``parent`` is no longer this process's parent (it died; the portable net
    where PR_SET_PDEATHSIG does not exist, and a second one where it does)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _preload() -> None:
    """What every parser process needs, loaded in this process before they are forked, so that
    they inherit it instead of each loading it again: the readers (importing them all costs
    about 0.3 CPU-s), ``windows.yaml`` compiled, and pandas, which pyarrow imports at its first
    ``pa.array`` (about 0.4 CPU-s). On 593 small EVTX files this was half of the workers' CPU."""
    from wormsign.ingest.registry import readers
    from wormsign.ingest.windows import load_mapper

    readers()
    load_mapper()
    pa.array([""], pa.string())


def _die_with_parent(parent: int) -> None:
    """Parser process start: die with the ingest run ``parent``, however it ends."""
    _set_pdeathsig()
    if os.getppid() != parent:  # the run died before the signal was asked for
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="wormsign-parent-watch", daemon=True).start()


class _Writer:
    """Commits parsed files to the case in groups: many small files share one shard and one
    catalog transaction (a commit costs milliseconds; a corpus has thousands of small files).
    A group commits whole or not at all, so each file is still in the case completely or not at all.
    """

    def __init__(self, case: Case, report: IngestReport, progress: Progress | None,
                 max_rows: int = 100_000, max_files: int = 500, keep_copies: bool = False) -> None:
        self.case, self.report, self.progress = case, report, progress
        self.keep_copies = keep_copies
        # A group of small files commits at ``max_rows``: below the rows a shard holds in memory
        # (identity.Staged), so that its copies are taken out before it is written.
        self.max_rows, self.max_files = max_rows, max_files
        self._shard: identity.Staged | None = None
        self.known = identity.Known(case)
        self._group_rows = 0
        self._results: list[FileResult] = []
        #: Rows of the files parsed in this process, converted together (see :class:`Batch`).
        self.batch = Batch(self.add, BATCH_ROWS)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        if et is None:
            self.commit()
        else:
            self.batch.clear()
            self._results = []
            if self._shard is not None:
                self._shard.abort()
                self._shard = None

    def add(self, table: pa.Table) -> None:
        """Rows of the file being parsed (the Sink's flush)."""
        if table.num_rows == 0:
            return
        if self._shard is None:
            self._shard = identity.Staged(self.case.new_shard())
        self._shard.write(table)
        self._group_rows += table.num_rows

    def done(self, *results: FileResult) -> None:
        """Files parsed (their rows added or in the batch): record them, and commit the group
        when it is big enough."""
        for res in results:
            self._results.append(res)
            self._group_rows += len(res.rejects)  # held until the commit too (at most 100 a file)
            if self.progress:
                self.progress(res.source.name, res.stats.read, res.source.size)
        if self._group_rows + len(self.batch) >= self.max_rows or len(self._results) >= self.max_files:
            self.commit()

    def commit(self) -> None:
        self.batch.drain()  # before the sources rows: it completes their truncation counts
        if not self._results:
            return
        results, self._results = self._results, []
        staged, self._shard = self._shard, None
        self._group_rows = 0
        if staged is None:
            self._commit(None, results)
            return
        try:
            checked = staged.close(self.known, keep=self.keep_copies)
        except BaseException:
            staged.abort()
            raise
        self._commit(staged.writer, results, checked)

    def commit_chunk(self, res: ChunkResult) -> None:
        """A worker's shard and the results of its files, committed together."""
        self.commit_chunks([res])

    def commit_chunks(self, done: list[ChunkResult]) -> None:
        """Workers' shards, in walk order, and the results of their files, in one commit (a
        commit's statements cost the same for one chunk as for several)."""
        self.commit()  # what this process gathered (unreadable files) goes first
        parts: list[tuple[ShardWriter | None, list[FileResult], identity.Checked | None]] = []
        for res in done:
            for r in res.results:
                if self.progress:
                    self.progress(r.source.name, r.stats.read, r.source.size)
            shard = None
            if res.rows:
                shard = ShardWriter(self.case.root, res.shard)
                shard.rows = res.rows
            parts.append((shard, res.results, res.checked))
        self._commit_many(parts)

    def _commit(self, shard: ShardWriter | None, results: list[FileResult],
                checked: identity.Checked | None = None) -> None:
        """A closed shard (or none) and the ``sources`` rows of its files, in one commit; the
        copies of records the case already holds are taken out of the shard first (``checked``:
        what was found while its rows were in memory)."""
        self._commit_many([(shard, results, checked)])

    def _commit_many(self, parts: list[tuple[ShardWriter | None, list[FileResult], identity.Checked | None]]) -> None:
        """:meth:`_commit` of several shards, in order, in one commit: each shard's copies are
        taken out against the stored shards and the shards before it in ``parts``. Those are
        compared in memory only (their files are still in staging, where a comparison that reads
        the stored shards would not find them): a shard that could need them read goes into the
        next commit, after them."""
        shards: list[ShardWriter] = []
        ranged: list[tuple[int, list[identity.Range]]] = []
        everything: list[FileResult] = []

        def commit() -> None:
            def record() -> None:
                _record_sources(self.case, everything)
                for shard_id, ranges in ranged:
                    identity.record(self.case, shard_id, ranges)
                self.recorded(everything)

            self.case.commit_shards(shards, record, refresh=False)
            for res in everything:
                _record(res, self.report)

        for shard, results, checked in parts:
            if ranged and not self._in_memory(checked, [s for s, _ in ranged]):
                commit()
                shards, ranged, everything = [], [], []
            copies, ranges = identity.drop_copies(self.case, shard, keep=self.keep_copies, checked=checked,
                                                  known=self.known)
            for res in results:
                n = copies.get(res.source.digest or "", 0)
                res.stats.stored -= n
                res.stats.copies += n
            everything.extend(results)
            if shard is not None:
                shards.append(shard)
                if shard.rows:
                    ranged.append((shard.shard, ranges))
                    # the next shard of this commit is compared with this one too
                    self.known.add(shard.shard, ranges, checked.keys if checked is not None else None)
        commit()

    def _in_memory(self, checked: identity.Checked | None, before: list[int]) -> bool:
        """Whether a shard's copies can be found without reading the shards ``before`` it (this
        run's, not committed yet): none are looked for, its rows' identities are known and those
        of ``before`` are held by :attr:`known` (``identity.Known`` keeps them up to a size)."""
        if self.keep_copies or (checked is not None and checked.stored):
            return True
        held = getattr(self.known, "_keys", {})
        return checked is not None and checked.keys is not None and all(s in held for s in before)

    def recorded(self, results: list[FileResult]) -> None:
        """Called in a group's commit transaction once its rows are recorded (the live writer of
        ``wormsign serve`` records its spool position here, wormsign.api.livewriter)."""


def ingest_paths(
    paths: list[str],
    case: Case,
    *,
    strict: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    keep_copies: bool = False,
    options: Options = Options(),
    names: dict[str, str] | None = None,
) -> IngestReport:
    """Ingest every file under ``paths`` into ``case``. See the module docstring. Records the
    case already holds from another copy of the same log are left out and counted
    (``stats.copies``, ingest/identity.py) unless ``keep_copies``. ``options``: the reader of
    every file and the time window (:class:`Options`); ``names``: the name to show (and store
    as ``src.file``) for a path, such as ``<stdin>`` for the file standard input was spooled to.
    ``workers``: parser processes (1: none, this process parses); None: this process parses the
    first files, and one process a core takes the rest when it is worth them (:data:`POOL_AFTER_S`)."""
    if options.fmt:
        _reader(options.fmt)  # an unknown name fails before anything is read
    remove_stale_temp()  # the temporary files of runs that were killed
    try:
        with case.bounded():  # DuckDB's buffers at most half the memory, however large the ingest
            report = _ingest(paths, case, strict=strict, workers=workers, progress=progress,
                             keep_copies=keep_copies, opts=options, names=names or {})
        case.compact()  # many small ingests: their small shards merged once there are many
        return report
    finally:
        case.refresh()  # the events view of every shard committed (also when the run stopped)


def _ingest(paths: list[str], case: Case, *, strict: bool, workers: int | None,
            progress: Progress | None, keep_copies: bool = False, opts: Options = Options(),
            names: dict[str, str] | None = None) -> IngestReport:
    report = IngestReport()
    seen = {str(r[0]) for r in case.rows("SELECT digest FROM sources")}
    own = os.path.abspath(case.path)
    # Files and folders that could not be opened: each is a ``sources`` row of its own (keyed
    # by its path) with one rejected record, so that re-ingesting adds nothing and ``stats``
    # counts what ingest counted.
    unreadable: list[FileResult] = []
    found: list[Source] = []
    for s in sources(paths):
        if isinstance(s, Unreadable):
            rej = Reject(s.name, None, "unreadable", s.error)
            if strict:
                raise IngestError(str(rej))
            if s.digest in seen:
                report.skipped += 1
                continue
            seen.add(s.digest)
            st = Stats(read=1, rejected=1)
            st.reasons["unreadable"] = 1
            unreadable.append(FileResult(Source(s.name, s.path, digest=s.digest), "unreadable", st, [rej]))
            continue
        here = os.path.abspath(s.path)
        if here.startswith(own + os.sep) or here in (own + ".want-write", own + ".published.json", own + ".token"):
            continue  # the case's own files, when it lies under a directory being ingested
        if names and s.path in names:
            s.name = names[s.path] + (s.name[len(s.path):] if s.name.startswith(s.path) else "")
        found.append(s)
    auto = workers is None
    if workers is None:
        workers = min(os.cpu_count() or 1, len(found))
    with _Writer(case, report, progress, max_files=GROUP_FILES, keep_copies=keep_copies) as out:
        if unreadable:
            out.done(*unreadable)
        if auto and workers > 1 and len(found) > 1:
            found = found[_serial_start(found, out, seen, report, strict, opts):]
            workers = min(workers, len(found))
        if workers <= 1 or len(found) <= 1:
            with closing(_digested(found)) as digested:
                for s, d in digested:
                    for new in _new([s], [d], seen, report):
                        out.done(_parse(new, strict, out.batch, opts))
            return report
        _preload()
        # The digests are taken by threads (SHA-256 and reading release the GIL) while the parser
        # processes parse the chunks already known to be new: in the parent before any parsing,
        # they kept the parsers waiting. Chunks are deduplicated in walk order, so the first of
        # two equal files is the one kept, as with one worker; and they are committed in walk
        # order (a chunk done early waits for those before it), so the first copy of a record
        # is the one kept too (ingest/identity.py), whichever parser process finished first.
        with (ThreadPoolExecutor(workers) as digester,
              ProcessPoolExecutor(workers, initializer=_die_with_parent, initargs=(os.getpid(),)) as pool):
            plan = [list(c) for c in reversed(_chunks(found, workers))]
            # One task a chunk (a task a file cost the parent more in the pool's bookkeeping, and
            # in its threads' turns at the interpreter, than the hashing of a small file).
            digests = [digester.submit(_digests, c) for c in reversed(plan)]
            at = 0  # chunks of ``found`` deduplicated so far
            pending: set[Future[ChunkResult]] = set()
            order: deque[Future[ChunkResult]] = deque()  # submitted, not committed, in walk order
            names: dict[Future[ChunkResult], str] = {}
            ready: list[ChunkResult] = []  # done, in walk order, not committed yet
            try:
                while plan or order or ready:
                    while plan and len(pending) < workers * 2 and len(order) < workers * 4:
                        chunk = plan.pop()
                        ds = digests[at].result()
                        at += 1
                        chunk = _new(chunk, ds, seen, report)
                        if not chunk:
                            continue
                        shard = case.new_shard().shard
                        fut = pool.submit(_parse_chunk, chunk, strict, case.root, shard, opts, keep_copies)
                        more = f" (+{len(chunk) - 1} files)" if len(chunk) > 1 else ""
                        names[fut] = chunk[0].name + more
                        pending.add(fut)
                        order.append(fut)
                    if pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:  # a failure stops the run as soon as it is known
                            _chunk_result(fut, names)
                    while order and order[0].done():  # (one may be done since the wait: checked again)
                        ready.append(_chunk_result(order.popleft(), names))
                        pause("parse")  # crash tests: a shard written, not committed; workers parsing
                    # Committed a few at a time (one transaction, one append of their sources)
                    # while more are coming: a commit's fixed cost is the parent's main one.
                    if ready and (len(ready) >= COMMIT_CHUNKS or not plan):
                        out.commit_chunks(ready)
                        ready = []
            except BaseException:
                for f in digests:
                    f.cancel()
                for f in pending:
                    f.cancel()
                wait(pending)  # the shards of the chunks under way: left in staging, removed below
                case.clean_staging()
                raise
    return report


#: With ``workers=None``, files are parsed in this process first, in walk order; the parser
#: processes start only once what is left would take longer than this (CPU seconds at the rate
#: of the files parsed so far), and take the rest. Starting them (a fork each, the readers and
#: pandas loaded first, each chunk's rows pickled back and committed apart) costs a small
#: collection more than it saves: the 593 small files of hayabusa-sample-evtx (0.6 CPU-s of
#: parsing) took 0.83-0.97 CPU-s on two workers against 0.62-0.74 on one (bench/README.md).
POOL_AFTER_S = 1.0
#: CPU seconds of parsing before the rate so far is trusted.
PROBE_S = 0.2
#: Before that, a file this large (bytes) starts the parser processes at once.
PROBE_MAX_BYTES = 16 << 20


def _serial_start(found: list[Source], out: _Writer, seen: set[str], report: IngestReport, strict: bool,
                  opts: Options) -> int:
    """Parse the first of ``found`` in this process (digest, dedupe, parse: as with one worker)
    until what is left is worth parser processes (:data:`POOL_AFTER_S`); return how many were
    taken. Their rows wait in ``out``'s open group, which commits before the first chunk of the
    parser processes (:meth:`_Writer.commit_chunk`): walk order, and the group's all-or-nothing
    commit, are those of the other paths."""
    _preload()  # loaded before the clock starts: a first import is no parsing rate
    left = sum(s.size for s in found)
    done = 0
    t0 = time.process_time()
    with closing(_digested(found)) as digested:
        for i, s in enumerate(found):
            spent = time.process_time() - t0
            if spent < PROBE_S or done == 0:
                if s.size > PROBE_MAX_BYTES:
                    return i
            elif spent / done * left > POOL_AFTER_S:
                return i
            _, d = next(digested)
            for new in _new([s], [d], seen, report):
                out.done(_parse(new, strict, out.batch, opts))
            done += s.size
            left -= s.size
    return len(found)


#: The digest thread of a run parsed in this process (:func:`_digested`) takes slices of up to
#: this many files and bytes, and runs this many slices ahead; a larger file is hashed when its
#: turn comes, by the caller (hashed ahead, it would be hashed for nothing when the parser
#: processes take it: :func:`_serial_start`).
DIGEST_FILES = 32
DIGEST_BYTES = 4 << 20
DIGEST_AHEAD = 2


def _digested(found: list[Source]) -> Iterator[tuple[Source, str]]:
    """``found`` in order, each with its digest, taken by a thread ahead of the caller, who parses
    meanwhile: SHA-256 and reading release the GIL, so that on another core the digests (a cost a
    byte: 80 ms of the 593 files of hayabusa-sample-evtx, as much as their parse) leave the parse's
    way. Closed early (the run failed, or parser processes take the rest), it starts no further
    slice."""
    slices: list[list[Source]] = []
    size = 0
    for s in found:
        if (not slices or s.size > DIGEST_BYTES or slices[-1][0].size > DIGEST_BYTES
                or len(slices[-1]) >= DIGEST_FILES or size >= DIGEST_BYTES):
            slices.append([])
            size = 0
        slices[-1].append(s)
        size += s.size
    with ThreadPoolExecutor(1, thread_name_prefix="wormsign-digest") as pool:
        ahead: deque[Future[list[str]]] = deque()
        sent = 0  # slices given to the thread, or reached
        try:
            for i, part in enumerate(slices):
                while sent < len(slices) and sent - i < DIGEST_AHEAD and slices[sent][0].size <= DIGEST_BYTES:
                    ahead.append(pool.submit(_digests, slices[sent]))
                    sent += 1
                if sent == i:  # a large file
                    sent += 1
                    yield part[0], digest(part[0])
                else:
                    yield from zip(part, ahead.popleft().result(), strict=True)
        finally:
            for fut in ahead:
                fut.cancel()


def _digests(chunk: list[Source]) -> list[str]:
    """The digests of a chunk's sources, in order (one digest thread's task)."""
    return [digest(s) for s in chunk]


def _chunk_result(fut: Future[ChunkResult], names: dict[Future[ChunkResult], str]) -> ChunkResult:
    """What a parser process returned for a chunk; IngestError when it failed or strict mode stopped it."""
    try:
        res = fut.result()
    except BrokenProcessPool as exc:  # a parser process was killed (memory, signal)
        raise IngestError(f"{names[fut]}: the parser process died: {exc}") from None
    if res.error:
        raise IngestError(res.error)
    return res


def _new(found: list[Source], digests: list[str], seen: set[str], report: IngestReport) -> list[Source]:
    """Those of ``found`` whose content is not in the case (nor earlier in this run), in order."""
    out: list[Source] = []
    for s, d in zip(found, digests, strict=True):
        s.digest = d
        if d in seen:
            report.skipped += 1
            continue
        seen.add(d)
        out.append(s)
    return out


_SOURCES = pa.schema([
    ("digest", pa.string()), ("file", pa.string()), ("format", pa.string()), ("size", pa.int64()),
    ("records", pa.int64()), ("stored", pa.int64()), ("rejected", pa.int64()), ("truncated", pa.int64()),
    ("reasons", pa.string()), ("ingested_at", pa.timestamp("us", tz="UTC")),
])
_REJECTS = pa.schema([
    ("digest", pa.string()), ("file", pa.string()), ("record", pa.int64()), ("reason", pa.string()),
    ("detail", pa.string()),
])


def _record_sources(case: Case, results: list[FileResult]) -> None:
    """The ``sources`` rows (and rejects) of a group of files, each table in one append
    (a statement with many parameters costs DuckDB more than the rows do)."""
    if not results:
        return
    now = datetime.now(UTC)
    cols: list[list[Any]] = [[] for _ in _SOURCES]
    for res in results:
        s, st = res.source, res.stats
        for col, v in zip(cols, (s.digest, s.name, res.fmt, s.size, st.read, st.stored, st.rejected,
                                 st.truncated, json.dumps(dict(st.reasons), sort_keys=True), now)):
            col.append(v)
    case.engine.append("sources", pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(cols, _SOURCES)],
                                                       schema=_SOURCES))
    rej: list[list[Any]] = [[] for _ in _REJECTS]
    for res in results:
        for r in res.rejects:
            for col, v in zip(rej, (res.source.digest, r.file, r.record, r.reason, r.detail)):
                col.append(v)
    if rej[0]:
        arrays = [pa.array(c, f.type) for c, f in zip(rej, _REJECTS)]
        case.engine.append("rejects", pa.Table.from_arrays(arrays, schema=_REJECTS))


def _record(res: FileResult, report: IngestReport) -> None:
    s = res.source
    report.stats.merge(res.stats)
    if res.fmt != "unreadable":  # a file that could not be opened was not read
        report.files += 1
        report.by_format[res.fmt] = report.by_format.get(res.fmt, 0) + 1
    if res.fmt == "unknown":
        report.unknown.append(s.name)
    room = 50 - len(report.rejects)
    if room > 0:
        report.rejects.extend(res.rejects[:room])
