"""``intel import``: read a feed file in any known format into the store, naming and counting bad rows."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from wormsign.intel import feeds, mispio, stixio
from wormsign.intel.indicators import Indicator, config
from wormsign.intel.store import IntelStore

log = logging.getLogger(__name__)

Reader = Callable[..., Iterator[tuple[int, Indicator | str]]]
READERS: dict[str, Reader] = {
    "feodo-csv": feeds.feodo_csv,
    "feodo-json": feeds.feodo_json,
    "list": feeds.plain_list,
    "stix": stixio.read_bundle,
    "misp": mispio.read_event,
}
FORMATS: tuple[str, ...] = ("auto", *READERS)
#: What the number of a bad row counts, per format (JSON documents count objects, not lines).
UNITS: dict[str, str] = {"stix": "object", "misp": "attribute"}


class IntelImportError(Exception):
    """A feed that cannot be read at all, or a bad row under ``strict``."""


class FileRefused(ValueError):
    """A path that is not read: not a regular file, or above the size limit (the message says which)."""


def read_limited(path: str, limit: int) -> bytes:
    """The bytes of a regular file, reading at most ``limit + 1`` of them whatever its size claims.

    FIFOs, devices and sockets are refused (opened without blocking, checked on the open file,
    so a path swapped after the check is caught too); so is a file longer than ``limit``.
    """
    pre = os.stat(path)
    if not stat.S_ISREG(pre.st_mode):
        raise FileRefused(f"not a regular file ({_kind(pre.st_mode)})")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"not a regular file ({_kind(st.st_mode)})")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FileRefused(f"larger than the {limit:,} byte limit")
    return data


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "another kind of file"


@dataclass(slots=True)
class FeedError:
    """One bad row: file, line (or record) and why."""

    file: str
    line: int
    reason: str
    unit: str = "line"  # line, object/attribute in STIX and MISP documents, or file (line 0)

    def __str__(self) -> str:
        if self.unit == "file":
            return f"{self.file}: {self.reason}"
        return f"{self.file} {self.unit} {self.line}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    """What an import did: per file format, rows imported, rows rejected with the first errors,
    and the files that could not be read at all (each named, with why)."""

    files: dict[str, str] = field(default_factory=dict)  # file -> format
    imported: int = 0
    rejected: int = 0
    errors: list[FeedError] = field(default_factory=list)
    bad_files: list[FeedError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and not self.bad_files


def read_text(path: str) -> str:
    """The feed's text, bounded in size; a clear error when it is too big, not a file, empty or not UTF-8."""
    limit = int(config()["limits"]["max_file_bytes"])
    try:
        data = read_limited(path, limit)
    except FileRefused as exc:
        raise IntelImportError(f"{path}: {exc}") from None
    except OSError as exc:
        raise IntelImportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntelImportError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise IntelImportError(f"{path}: empty file: no indicators")
    return text


def import_file(
    path: str,
    store: IntelStore,
    *,
    fmt: str = "auto",
    family: str | None = None,
    source: str | None = None,
    incident: str | None = None,
    strict: bool = False,
    report: ImportReport | None = None,
) -> ImportReport:
    """Import one feed file. Bad rows are named and counted; the rest are stored (unless ``strict``)."""
    report = report or ImportReport()
    text = read_text(path)
    if fmt == "auto":
        fmt = feeds.sniff(text)
    if fmt not in READERS:
        raise IntelImportError(f"{path}: unknown format {fmt!r}; known: {', '.join(READERS)}")
    src = source or f"{fmt}:{os.path.basename(path)}"
    keep = int(config()["limits"]["max_errors_kept"])
    good: list[Indicator] = []
    bad = 0
    for line, item in READERS[fmt](text, source=src, family=family, incident=incident):
        if isinstance(item, Indicator):
            good.append(item)
            continue
        err = FeedError(path, line, item, UNITS.get(fmt, "line"))
        if strict:
            raise IntelImportError(str(err))
        log.warning("%s", err)
        bad += 1
        report.rejected += 1
        if len(report.errors) < keep:
            report.errors.append(err)
    if not good and not bad:
        raise IntelImportError(f"{path}: no indicators found (read as {fmt})")
    report.files[path] = fmt
    report.imported += store.add(good)
    return report


def import_paths(
    paths: Iterable[str],
    store: IntelStore,
    *,
    strict: bool = False,
    report: ImportReport | None = None,
    **kw: str | None,
) -> ImportReport:
    """Import many feed files. A file that cannot be read (not UTF-8, empty, too big, not a regular
    file) is named in ``report.bad_files`` and the next files are still read; ``strict`` stops there."""
    report = report or ImportReport()
    for path in paths:
        try:
            import_file(path, store, strict=strict, report=report, **kw)  # type: ignore[arg-type]
        except IntelImportError as exc:
            if strict:
                raise
            reason = str(exc).removeprefix(f"{path}: ")
            log.warning("%s", exc)
            report.bad_files.append(FeedError(path, 0, reason, "file"))
    return report
