"""Turn the paths a user names into sources: directories walked, gzip and zip read in place."""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator

from wormsign.ingest.base import Source

ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"


def _magic(path: str, n: int = 4) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def sources(paths: list[str]) -> Iterator[Source | tuple[str, str]]:
    """Yield a :class:`Source` per input file, or ``(name, error)`` for one that cannot be opened."""
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    yield from _file(os.path.join(root, f))
        elif os.path.exists(p):
            yield from _file(p)
        else:
            yield (p, "no such file or directory")


def _file(path: str) -> Iterator[Source | tuple[str, str]]:
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        yield (path, str(exc))
        return
    if not stat.S_ISREG(mode):
        # A FIFO, device or socket (also behind a link) would block or never end: never read one.
        yield (path, "not a regular file (FIFO, device or socket)")
        return
    magic = _magic(path)
    if magic.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
                heads: dict[str, bytes] = {}
                bad: dict[str, str] = {}
                for i in infos:
                    try:
                        with zf.open(i) as fh:
                            heads[i.filename] = fh.read(2)
                    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, zlib.error) as exc:
                        bad[i.filename] = str(exc)  # an encrypted or damaged member costs only itself
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            yield (path, f"unreadable zip archive: {exc}")
            return
        for i in infos:
            if i.filename in bad:
                yield (f"{path}!{i.filename}", f"unreadable zip member: {bad[i.filename]}")
                continue
            container = "zip-gzip" if heads[i.filename].startswith(GZIP_MAGIC) else "zip"
            yield Source(f"{path}!{i.filename}", path, container, i.filename, i.file_size)
    elif magic.startswith(GZIP_MAGIC):
        yield Source(path, path, "gzip", None, os.path.getsize(path))
    else:
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            yield (path, str(exc))
            return
        yield Source(path, path, "file", None, size)


def digest(source: Source) -> str:
    """SHA-256 of the source's content (decompressed)."""
    h = hashlib.sha256()
    try:
        with source.open() as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except (OSError, EOFError, RuntimeError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
        # A truncated or damaged archive still gets a stable key: hash what could be read plus the error.
        h.update(repr(exc).encode())
    return h.hexdigest()
