"""Gzip output files compressed on one worker thread, in the order their writes were made.

zlib lets go of the GIL while it compresses, so the records of the next hosts are made while
the last ones are compressed. One thread does every write, so each file gets its bytes in the
same order and the files are the same, byte for byte, as if written directly.
"""

from __future__ import annotations

import gzip
import queue
import threading
from collections.abc import Callable
from typing import Any

QUEUED = 16  # writes waiting for the worker (each at most a few MiB): memory stays flat


def gz_file(path: str, level: int) -> gzip.GzipFile:
    """A gzip stream with no name and no time in its header, so equal content gives equal bytes."""
    return gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), mtime=0, compresslevel=level)


def gz_close(gz: gzip.GzipFile) -> None:
    raw = gz.fileobj
    gz.close()
    if raw is not None:
        raw.close()


class Compressor:
    """The worker thread; ``open`` gives files whose ``write`` and ``close`` it runs. ``finish`` waits for it."""

    def __init__(self) -> None:
        self._q: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue(QUEUED)
        self._err: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="wormsign-gzip", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._q.get()) is not None:
            if self._err is None:
                fn, args = item
                try:
                    fn(*args)
                except BaseException as exc:  # noqa: BLE001 - kept, and raised in the caller's thread
                    self._err = exc

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._err is not None:
            raise self._err
        self._q.put((fn, args))

    def open(self, path: str, level: int) -> GzStream:
        return GzStream(self, gz_file(path, level))

    def finish(self) -> None:
        """Wait until every write is done; raise what a write raised."""
        self._q.put(None)
        self._thread.join()
        if self._err is not None:
            raise self._err


class GzStream:
    """A gzip file written through a ``Compressor``."""

    def __init__(self, worker: Compressor, gz: gzip.GzipFile) -> None:
        self._worker, self._gz = worker, gz

    def write(self, data: bytes) -> None:
        self._worker.call(self._gz.write, data)

    def close(self) -> None:
        self._worker.call(gz_close, self._gz)


class GzPlain:
    """A gzip file written directly; ``close`` closes the file under it too."""

    def __init__(self, gz: gzip.GzipFile) -> None:
        self.write = gz.write
        self._gz = gz

    def close(self) -> None:
        gz_close(self._gz)


def open_plain(path: str, level: int) -> GzPlain:
    return GzPlain(gz_file(path, level))
