"""The live writer: commits spooled request bodies into the case, then hunts again (debounced).

One background thread per server. Each cycle opens the case for writing (``Case.open(wait=...)``:
the server's read pool lets a writer of its own process in, :mod:`wormsign.api.pool`), reads the
frames the catalog's spool position has not reached, parses each with the ingest readers
(:func:`wormsign.ingest.pipeline._parse`: the same sniffing, Sink and rejects as ``wormsign
ingest``) and commits them as one shard whose catalog transaction also records each frame as a
``sources`` row and the new spool position. Then, when events came in, it runs the hunt (which
resolves incrementally, saves and publishes the result for the API and the dashboard) unless one
ran less than ``hunt_min_interval_s`` ago; frames that arrive while a hunt runs are committed
together in the next cycle, so a stream costs one hunt per cycle, not one per request.

A frame's content identifies it (``sources.digest`` is its SHA-256, as a file's is): a body sent
again (a client that retried a request whose answer it lost) adds nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from wormsign.api.early import EarlyLane, Identities
from wormsign.api.pool import ReadPool
from wormsign.api.spool import FrameSource, Pos, Spool
from wormsign.ingest.pipeline import FileResult, IngestReport, _parse, _whole_file_rejected, _Writer
from wormsign.store import Case, CaseLocked

log = logging.getLogger(__name__)

#: Catalog ``meta`` key: the spool position up to which frames are in the case ([segment, offset]).
META = "live.spool"


class _FrameWriter(_Writer):
    """Ingest's group writer (copies of records the case holds dropped, sources recorded) whose
    commits also record the spool position of their last frame, in the same transaction."""

    done_to: Pos | None = None

    def recorded(self, results: list[FileResult]) -> None:
        end: Pos = results[-1].source.frame.end  # type: ignore[attr-defined]
        self.case.set_meta(META, [end.seg, end.off])
        self.done_to = end


class LiveWriter:
    """The background thread (see the module doc). ``stats`` is what ``GET /api/live`` shows."""

    def __init__(self, case_path: str, spool: Spool, conf: dict[str, Any], pool: ReadPool | None = None) -> None:
        self.path = case_path
        self.pool = pool  # the server's reads: they borrow the case while a cycle holds it
        self.spool = spool
        self.conf = conf
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.done: Pos | None = None  # the committed position, once read from the catalog
        self._hunt_wanted = False
        # never hunted: the first hunt is not held back (the monotonic clock starts near 0 at boot,
        # so 0.0 here held a server started within hunt_min_interval_s of boot)
        self._last_hunt = float("-inf")
        self._committing: Pos | None = None  # where the commit under way started
        self._fails: tuple[Pos, int] = (Pos(0, 0), 0)  # commits failed in a row at one position
        # the in-house single-event Sigma rules on what arrives, before the hunt (api/early.py)
        self.early = EarlyLane(spool, conf) if conf.get("early_alerts", True) and conf.get("sigma", True) else None
        self.stats: dict[str, Any] = {
            "commits": 0, "frames": 0, "duplicate_frames": 0, "events_stored": 0, "records_rejected": 0,
            "copies_dropped": 0, "shards_merged": 0,
            "last_commit_at": None, "hunts": 0, "last_hunt_at": None, "last_hunt_s": None,
            "hunted_to": None, "last_error": None,
            "cycles": 0, "seconds": {"open": 0.0, "commit": 0.0, "hunt": 0.0},  # in all cycles
        }

    # -- control -------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wormsign-live-writer", daemon=True)
                self._thread.start()

    def notify(self) -> None:
        """New frames are in the spool."""
        self.start()
        with self._cond:
            self._cond.notify_all()
        if self.early is not None:
            self.early.notify()

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.early is not None:
            self.early.stop()

    def backlog(self) -> int:
        """Bytes spooled and not yet committed (all of the spool before the first cycle)."""
        return self.spool.backlog(self.done or self.spool.start())

    def idle(self) -> bool:
        """Everything spooled is committed and hunted."""
        return (self.done is not None and self.spool.norm(self.done) >= self.spool.end()
                and not self._hunt_wanted)

    # -- the loop ------------------------------------------------------------------------
    def _pending(self) -> bool:
        return self.done is None or self.spool.norm(self.done) < self.spool.end()

    def _run(self) -> None:
        delay = float(self.conf["commit_delay_s"])
        gap = float(self.conf["hunt_min_interval_s"])
        while True:
            with self._cond:
                while not self._stop:
                    if self._pending():
                        break
                    left = self._last_hunt + gap - time.monotonic()
                    if self._hunt_wanted and left <= 0:
                        break
                    self._cond.wait(left if self._hunt_wanted else None)
                if self._stop:
                    return
            if delay > 0:
                time.sleep(delay)  # let the requests under way land in the same commit
            try:
                self._cycle()
                self.stats["last_error"] = None
                self._sleep(float(self.conf["read_gap_s"]))  # the server's reads of the case get in
            except CaseLocked as exc:
                self.stats["last_error"] = str(exc)[:500]
                log.warning("live ingest waits for the case: %s", exc)
                self._sleep(float(self.conf["retry_s"]))
            except Exception as exc:  # noqa: BLE001 - the spool keeps the events; try again later
                self.stats["last_error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
                log.exception("live ingest: a cycle failed; the events stay spooled and are tried again")
                at, self._committing = self._committing, None
                if at is not None:  # the commit failed, not the hunt: the frame there may be at fault
                    self._fails = (at, self._fails[1] + 1 if self._fails[0] == at else 1)
                self._sleep(float(self.conf["retry_s"]))

    def _sleep(self, s: float) -> None:
        """Wait ``s`` seconds (new requests do not cut it short; stop does)."""
        end = time.monotonic() + s
        with self._cond:
            while not self._stop and (left := end - time.monotonic()) > 0:
                self._cond.wait(left)

    def _cycle(self) -> None:
        t0 = time.monotonic()
        # (the server's reads borrow the case during the cycle: the files a merge replaces go
        # after they are done)
        with Case.open(self.path, wait=float(self.conf["writer_wait_s"])) as case, case.removals_deferred(), \
                self._lent(case):
            t1 = time.monotonic()
            stored = case.get_meta(META)
            self.done = Pos(*stored) if stored else self.spool.start()
            if self.early is not None and self.early.pos is None:  # first cycle: from the committed frames on
                self.early.identities(Identities.of(case))
                self.early.start(self.done)
            committed = False
            target = self.spool.end()  # what came before this cycle; later requests wait for the next
            while self.spool.norm(self.done) < target:
                committed |= self._commit(case)
            if committed:
                case.refresh()
                case.compact()
            keep = self.early.behind() if self.early is not None else None
            self.spool.release(min(self.spool.norm(self.done), keep or self.done))
            t2 = time.monotonic()
            hunted = False
            if self._hunt_wanted and time.monotonic() - self._last_hunt >= float(self.conf["hunt_min_interval_s"]):
                self._hunt(case)
                hunted = True
                self._compact(case)
        t3 = time.monotonic()
        spent = self.stats["seconds"]
        spent["open"] += t1 - t0
        spent["commit"] += t2 - t1
        spent["hunt"] += t3 - t2 if hunted else 0.0
        self.stats["cycles"] += 1

    @contextmanager
    def _lent(self, case: Case) -> Iterator[None]:
        """The server's reads of the case borrow the writer's connection for the cycle."""
        if self.pool is None:
            yield
            return
        self.pool.lend(case)
        try:
            yield
        finally:
            self.pool.withdraw()

    def _commit(self, case: Case) -> bool:
        """Commit the next frames (at most ``commit_max_bytes`` of them); whether events were added."""
        assert self.done is not None
        frames = self.spool.read(self.done, int(self.conf["commit_max_bytes"]))
        if not frames:
            self.done = self.spool.norm(self.done)
            return False
        self._committing = self.done
        again = self._fails[0] == self.done and self._fails[1]  # commits from here failed
        failed = bool(again) and self._fails[1] >= int(self.conf["frame_tries"])
        if again:
            frames = frames[:1]  # one frame at a time, so that the failures name the one at fault
        digests = [FrameSource(f) for f in frames]
        known = {r[0] for r in case.rows("SELECT digest FROM sources WHERE list_contains(?, digest)",
                                         [[s.digest for s in digests]])}
        report = IngestReport()
        out = _FrameWriter(case, report, None)
        with case.bounded(), out:
            for src in digests:
                if src.digest in known:
                    self.stats["duplicate_frames"] += 1
                    continue
                known.add(src.digest)
                if failed:  # counted as one rejected record, named, and passed
                    why = f"its commit failed {self._fails[1]} times: {self.stats['last_error']}"
                    log.error("live ingest: %s: %s; skipped", src.name, why)
                    out.done(_whole_file_rejected(src, "live-commit-failed", why[:500], False))
                    continue
                out.done(_parse(src, False, out.batch))
        self._committing = None
        if report.stats.stored:
            self._hunt_wanted = True  # before ``done`` moves: idle() must not see both done
        end = frames[-1].end
        if out.done_to != end:
            with case.transaction():  # the tail was frames already in the case: move past them
                case.set_meta(META, [end.seg, end.off])
        self.done = self.spool.norm(end)
        self.stats["commits"] += 1
        self.stats["frames"] += len(frames)
        self.stats["events_stored"] += report.stats.stored
        self.stats["records_rejected"] += report.stats.rejected
        self.stats["copies_dropped"] += report.stats.copies
        self.stats["last_commit_at"] = datetime.now(UTC).isoformat()
        return report.stats.stored > 0

    def _compact(self, case: Case) -> None:
        """Merge the small shards the cycles left once there are more than ``compact_shards`` of
        them (resolved: a renaming, :func:`wormsign.resolve.compact`), so that a stream of a day
        is not tens of thousands of files every query opens."""
        from wormsign.resolve import compact

        merged = compact(case, most=int(self.conf.get("compact_shards", 64)))
        if merged:
            self.stats["shards_merged"] += merged
            log.info("live ingest: %d small shards merged into one", merged)

    def _hunt(self, case: Case) -> None:
        from wormsign.hunt import hunt

        self._last_hunt = t0 = time.monotonic()
        to = self.done
        result = hunt(case, sigma_rules=[] if self.conf.get("sigma", True) else None)  # saves and publishes
        if self.early is not None and to is not None:  # the early alerts of what it covered go
            self.early.hunted(to, result.alerts, Identities.of(case))
        self._hunt_wanted = False
        self.stats["hunts"] += 1
        self.stats["last_hunt_s"] = round(time.monotonic() - t0, 3)
        self.stats["last_hunt_at"] = datetime.now(UTC).isoformat()
        self.stats["hunted_to"] = str(to)
