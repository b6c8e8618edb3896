"""``intel import``: read a feed file in any known format into the store, naming and counting bad rows."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
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


@dataclass(slots=True)
class FeedError:
    """One bad row: file, line (or record) and why."""

    file: str
    line: int
    reason: str
    unit: str = "line"  # line, or object/attribute in STIX and MISP documents

    def __str__(self) -> str:
        return f"{self.file} {self.unit} {self.line}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    """What an import did: per file format, rows imported, rows rejected with the first errors."""

    files: dict[str, str] = field(default_factory=dict)  # file -> format
    imported: int = 0
    rejected: int = 0
    errors: list[FeedError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejected == 0


def read_text(path: str) -> str:
    """The feed's text, bounded in size; a clear error when it is too big or not UTF-8."""
    limit = int(config()["limits"]["max_file_bytes"])
    size = os.path.getsize(path)
    if size > limit:
        raise IntelImportError(f"{path}: {size:,} bytes, above the {limit:,} byte limit")
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntelImportError(f"{path}: not UTF-8 text (byte {exc.start})") from None


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
    report.files[path] = fmt
    src = source or f"{fmt}:{os.path.basename(path)}"
    keep = int(config()["limits"]["max_errors_kept"])
    good: list[Indicator] = []
    for line, item in READERS[fmt](text, source=src, family=family, incident=incident):
        if isinstance(item, Indicator):
            good.append(item)
            continue
        err = FeedError(path, line, item, UNITS.get(fmt, "line"))
        if strict:
            raise IntelImportError(str(err))
        log.warning("%s", err)
        report.rejected += 1
        if len(report.errors) < keep:
            report.errors.append(err)
    report.imported += store.add(good)
    return report
