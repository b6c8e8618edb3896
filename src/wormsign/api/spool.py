"""The live-ingest spool: an append-only, fsynced log of accepted request bodies inside the case.

``wormsign serve`` answers an event POST only after its documents are in the spool and on disk
(``fsync``), so an answered request survives a kill. A background writer
(:mod:`wormsign.api.livewriter`) turns spooled frames into case shards; the shard and the spool
position it reaches are committed in one catalog transaction (``meta`` key ``live.spool``), so
a restart replays exactly the frames no commit covers.

Layout: ``CASE/live/spool-00000001.wsp`` ... Each file is a run of frames::

    b"WSF1" | length (u32 LE) | CRC-32 of the payload (u32 LE) | kind (u8) | payload

The payload is the request's documents, one JSON document a line. A file grows to
``segment_bytes``, then the next one starts; files the catalog's position has passed are
deleted. On open, the last file is cut after its last whole frame (a frame half written when
the process died was never answered).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from typing import IO

from wormsign.ingest.base import Source

MAGIC = b"WSF1"
_HEAD = struct.Struct("<4sIIB")
#: Frame kinds: which endpoint took the request (kept for the ``src.file`` name).
KINDS = {1: "_bulk", 2: "ndjson"}
_KIND_IDS = {v: k for k, v in KINDS.items()}
SPOOL_DIR = "live"
_LOCK = "spool.lock"


class SpoolBusy(Exception):
    """Another process (a second ``wormsign serve`` on the same case) appends to this spool."""


@dataclass(frozen=True, slots=True, order=True)
class Pos:
    """A place in the spool: segment number and byte offset in it."""

    seg: int
    off: int

    def __str__(self) -> str:
        return f"{self.seg}:{self.off}"


@dataclass(frozen=True, slots=True)
class Frame:
    at: Pos  # where the frame starts
    end: Pos  # where the next one starts
    kind: str
    payload: bytes


class FrameSource(Source):
    """A spooled frame as an ingest source (read from memory): the live writer commits it, the
    early lane (api/early.py) reads it first."""

    def __init__(self, frame: Frame) -> None:
        super().__init__(name=f"live:{frame.kind}:{frame.at}", path="", container="memory",
                         size=len(frame.payload), digest=hashlib.sha256(frame.payload).hexdigest())
        self.frame = frame

    def open(self) -> IO[bytes]:
        return io.BytesIO(self.frame.payload)

    @property
    def disk_path(self) -> str | None:
        return None


def _name(seg: int) -> str:
    return f"spool-{seg:08d}.wsp"


def _seg_of(name: str) -> int | None:
    if name.startswith("spool-") and name.endswith(".wsp") and name[6:-4].isdigit():
        return int(name[6:-4])
    return None


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """The spool of one case (see the module doc). Thread-safe; one process at a time (a lock file)."""

    def __init__(self, case_path: str, *, segment_bytes: int = 64 << 20) -> None:
        self.dir = os.path.join(os.path.abspath(case_path), SPOOL_DIR)
        self.segment_bytes = segment_bytes
        os.makedirs(self.dir, exist_ok=True)
        self._lock_fd = os.open(os.path.join(self.dir, _LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise SpoolBusy(f"{self.dir}: another process appends to this case's live spool "
                            "(a second `wormsign serve` on the same case?)") from None
        self._lock = threading.Lock()
        self._sizes: dict[int, int] = {}
        for name in os.listdir(self.dir):
            seg = _seg_of(name)
            if seg is not None:
                self._sizes[seg] = os.path.getsize(os.path.join(self.dir, name))
        if not self._sizes:
            self._sizes[1] = 0
            open(os.path.join(self.dir, _name(1)), "ab").close()  # noqa: SIM115
            _fsync_dir(self.dir)
        self._seg = max(self._sizes)
        self._repair(self._seg)
        self._fh = open(os.path.join(self.dir, _name(self._seg)), "ab")  # noqa: SIM115 - kept open

    def _repair(self, seg: int) -> None:
        """Cut ``seg`` after its last whole, intact frame."""
        path = os.path.join(self.dir, _name(seg))
        good = 0
        with open(path, "rb") as fh:
            while True:
                head = fh.read(_HEAD.size)
                if len(head) < _HEAD.size:
                    break
                magic, n, crc, kind = _HEAD.unpack(head)
                if magic != MAGIC or kind not in KINDS:
                    break
                payload = fh.read(n)
                if len(payload) < n or zlib.crc32(payload) != crc:
                    break
                good += _HEAD.size + n
        if good != self._sizes[seg]:
            with open(path, "r+b") as fh:
                fh.truncate(good)
                os.fsync(fh.fileno())
            self._sizes[seg] = good

    # -- appending ---------------------------------------------------------------------
    def append(self, kind: str, payload: bytes) -> Pos:
        """Write one frame and fsync it; return where it starts. Only then may the request be answered."""
        head = _HEAD.pack(MAGIC, len(payload), zlib.crc32(payload), _KIND_IDS[kind])
        with self._lock:
            if self._sizes[self._seg] >= self.segment_bytes:
                self._rotate()
            at = Pos(self._seg, self._sizes[self._seg])
            try:
                self._fh.write(head)
                self._fh.write(payload)
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except BaseException:
                # Nothing after ``at`` was answered: cut it so the next frame starts clean.
                try:
                    self._fh.truncate(at.off)
                except OSError:
                    pass
                raise
            self._sizes[self._seg] = at.off + len(head) + len(payload)
            return at

    def _rotate(self) -> None:
        self._fh.close()
        self._seg += 1
        self._sizes[self._seg] = 0
        self._fh = open(os.path.join(self.dir, _name(self._seg)), "ab")  # noqa: SIM115
        _fsync_dir(self.dir)

    # -- reading -----------------------------------------------------------------------
    def start(self) -> Pos:
        """The first position still in the spool."""
        with self._lock:
            return Pos(min(self._sizes), 0)

    def end(self) -> Pos:
        """The position after the last frame written (and synced)."""
        with self._lock:
            return Pos(self._seg, self._sizes[self._seg])

    def norm(self, pos: Pos) -> Pos:
        """``pos``, moved past the ends of finished files (the start of the next one)."""
        with self._lock:
            while pos.seg < self._seg and pos.off >= self._sizes.get(pos.seg, 0):
                pos = Pos(pos.seg + 1, 0)
            return pos

    def backlog(self, done: Pos) -> int:
        """Bytes spooled after ``done`` (not yet in the case)."""
        with self._lock:
            return sum(size - (done.off if seg == done.seg else 0)
                       for seg, size in self._sizes.items() if seg >= done.seg)

    def read(self, at: Pos, max_bytes: int) -> list[Frame]:
        """Frames from ``at`` on, about ``max_bytes`` of payload at most (at least one frame),
        up to the end written when called."""
        end = self.end()
        out: list[Frame] = []
        total = 0
        pos = at
        while pos < end and (total < max_bytes or not out):
            with self._lock:
                size = self._sizes.get(pos.seg)
            if size is None or pos.off >= size:
                if pos.seg >= end.seg:
                    break
                pos = Pos(pos.seg + 1, 0)
                continue
            with open(os.path.join(self.dir, _name(pos.seg)), "rb") as fh:
                fh.seek(pos.off)
                while pos.off < size and (total < max_bytes or not out):
                    magic, n, crc, kind = _HEAD.unpack(fh.read(_HEAD.size))
                    payload = fh.read(n)
                    if magic != MAGIC or len(payload) != n or zlib.crc32(payload) != crc:
                        raise OSError(f"{fh.name}: damaged frame at byte {pos.off}")
                    nxt = Pos(pos.seg, pos.off + _HEAD.size + n)
                    out.append(Frame(pos, nxt, KINDS[kind], payload))
                    total += n
                    pos = nxt
        return out

    def release(self, done: Pos) -> None:
        """Delete the files wholly before ``done`` (their frames are in the case)."""
        with self._lock:
            old = [s for s in self._sizes if s < done.seg and s != self._seg]
            for seg in old:
                try:
                    os.unlink(os.path.join(self.dir, _name(seg)))
                except FileNotFoundError:
                    pass
                del self._sizes[seg]

    def close(self) -> None:
        with self._lock:
            self._fh.close()
            os.close(self._lock_fd)
