"""Turn the paths a user names into sources: directories walked, gzip and zip read in place."""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import threading
import zipfile
import zlib
from collections.abc import Iterator
from typing import NamedTuple

from wormsign.ingest.base import Source, open_zip, shown

ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"


class Unreadable(NamedTuple):
    """A file or folder that cannot be opened or read: what to show, why, and the path itself."""

    name: str  # as text (see :func:`~wormsign.ingest.base.shown`)
    error: str
    path: str  # byte-exact (surrogate escapes), the key of its row in the case

    @property
    def digest(self) -> str:
        """Its key in the case: no content to hash, so its path (two unreadable files never share one)."""
        return hashlib.sha256(b"unreadable\0" + os.fsencode(self.path)).hexdigest()


def _why(exc: OSError) -> str:
    # str(exc) repeats the file name (as Python's repr); the name is shown beside it already.
    return f"{type(exc).__name__}: {exc.strerror or exc}"


def _magic(path: str, n: int = 4) -> bytes:
    """The first bytes of a file; OSError when it cannot be opened or read."""
    with open(path, "rb") as fh:
        return fh.read(n)


def sources(paths: list[str]) -> Iterator[Source | Unreadable]:
    """Yield a :class:`Source` per input file, or an :class:`Unreadable` for a file or folder
    that cannot be opened (a folder that cannot be listed is named, never skipped silently)."""
    for p in paths:
        if os.path.isdir(p):
            failed: list[OSError] = []
            for root, dirs, files in os.walk(p, onerror=failed.append):
                while failed:
                    yield _unlisted(failed.pop(0), p)
                dirs.sort()
                for f in sorted(files):
                    yield from _file(os.path.join(root, f))
            while failed:
                yield _unlisted(failed.pop(0), p)
        elif os.path.exists(p):
            yield from _file(p)
        else:
            yield Unreadable(shown(p), "no such file or directory", p)


def _unlisted(exc: OSError, top: str) -> Unreadable:
    path = exc.filename if isinstance(exc.filename, str) else top
    return Unreadable(shown(path), f"folder cannot be listed: {_why(exc)}", path)


def _file(path: str) -> Iterator[Source | Unreadable]:
    name = shown(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        yield Unreadable(name, _why(exc), path)
        return
    if not stat.S_ISREG(mode):
        # A FIFO, device or socket (also behind a link) would block or never end: never read one.
        yield Unreadable(name, "not a regular file (FIFO, device or socket)", path)
        return
    try:
        magic = _magic(path)
        size = os.path.getsize(path)
    except OSError as exc:  # no permission, an I/O error: named here, not hashed as content
        yield Unreadable(name, _why(exc), path)
        return
    if magic.startswith(ZIP_MAGIC):
        yield from _zip(path, name)
    elif magic.startswith(GZIP_MAGIC):
        yield Source(name, path, "gzip", None, size)
    else:
        yield Source(name, path, "file", None, size)


def _zip(path: str, name: str) -> Iterator[Source | Unreadable]:
    """The members of a zip archive, read from one open archive (see :func:`open_zip`). A member
    is addressed by its place in the archive's central directory, so that two members of one name
    are both read; the second and later ones of a name are shown with their place (``#N``)."""
    try:
        zf = open_zip(path)
        infos = [(n, i) for n, i in enumerate(zf.infolist()) if not i.is_dir()]
        heads: dict[int, bytes] = {}
        bad: dict[int, str] = {}
        for n, i in infos:
            try:
                with zf.open(i) as fh:
                    heads[n] = fh.read(2)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, zlib.error) as exc:
                bad[n] = str(exc)  # an encrypted or damaged member costs only itself
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
        yield Unreadable(name, f"unreadable zip archive: {exc}", path)
        return
    except UnicodeDecodeError:  # a member name flagged UTF-8 that is not
        yield Unreadable(name, "unreadable zip archive: a member name flagged UTF-8 is not UTF-8", path)
        return
    seen: set[str] = set()
    for n, i in infos:
        member = f"{name}!{i.filename}"
        key = f"{path}!{i.filename}"
        if i.filename in seen:  # the same name again: told apart by its place in the directory
            member += f" #{n + 1}"
            key += f"\0{n}"
        seen.add(i.filename)
        if n in bad:
            yield Unreadable(member, f"unreadable zip member: {bad[n]}", key)
            continue
        container = "zip-gzip" if heads[n].startswith(GZIP_MAGIC) else "zip"
        yield Source(member, path, container, i.filename, i.file_size, index=n)


def digest(source: Source) -> str:
    """SHA-256 of the source's content (decompressed)."""
    h = hashlib.sha256()
    n = 0
    buf, view = _buffer()
    try:
        with source.open() as fh:
            while k := fh.readinto(buf):
                h.update(view[:k])
                n += k
    except (OSError, EOFError, RuntimeError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
        # A truncated or damaged archive still gets a stable key: what could be read plus the
        # error. When nothing could be read there is no content to tell two files apart: the
        # path joins the key, so that each is accounted for on its own.
        h.update(repr(exc).encode())
        if n == 0:
            h.update(b"\0" + os.fsencode(source.path) + b"!" + os.fsencode(source.member or ""))
            if _repeated(source):  # two members of one name: the place tells them apart
                h.update(b"\0" + str(source.index).encode())
    return h.hexdigest()


_LOCAL = threading.local()


def _buffer() -> tuple[bytearray, memoryview]:
    """This thread's read buffer for :func:`digest`: one buffer read into again and again, and
    kept between files (a new 1 MiB buffer a file cost a fifth of the digest of a small EVTX
    file; digests run in threads, hence one a thread)."""
    got: tuple[bytearray, memoryview] | None = getattr(_LOCAL, "buf", None)
    if got is None:
        buf = bytearray(1 << 20)
        got = _LOCAL.buf = (buf, memoryview(buf))
    return got


def _repeated(source: Source) -> bool:
    """Whether ``source`` is a zip member another member of its archive shares its name with, and
    not the last of them (the last keeps the key a member of a unique name has)."""
    if source.index is None or source.member is None:
        return False
    try:
        zf = open_zip(source.path)
        return zf.getinfo(source.member) is not zf.infolist()[source.index]
    except (OSError, KeyError, IndexError, zipfile.BadZipFile):
        return True
