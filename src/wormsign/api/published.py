"""The last complete hunt result, published beside the case so that ``wormsign serve`` never needs
the case (and never holds DuckDB's lock) to show incidents and alerts (docs/formats.md).

A hunt writes ``<case>.published.json`` after it has committed its result: the incidents document,
every alert and the case summary, written to a temporary file and renamed over the old one, so a
reader sees the previous result or the new one, never half of one. The server keeps the parsed
file in memory and reads it again when it changes.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import orjson

from wormsign.report.view import alerts as case_alerts
from wormsign.report.view import case_summary, hunt_doc
from wormsign.store import Case

FORMAT = "wormsign.published/1"


def published_path(case_path: str | Path) -> Path:
    """Beside the case directory (``case`` and ``case/`` are one case)."""
    return Path(os.path.normpath(str(case_path)) + ".published.json")


def publish(case: Case, document: dict[str, Any], alerts: list[dict[str, Any]]) -> Path | None:
    """Write the hunt's result beside the case, atomically (a rename); return the file's path
    (None for a case that is no directory)."""
    if not Path(case.path).is_dir():
        return None
    target = published_path(case.path)
    data = {"format": FORMAT, "case": case_summary(case), "hunt": document, "alerts": alerts}
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(data, default=str))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def from_case(case: Case) -> dict[str, Any]:
    """The same content read from the case itself (a case hunted before results were published)."""
    doc = hunt_doc(case)
    return {"format": FORMAT, "case": case_summary(case), "hunt": doc, "alerts": case_alerts(case, doc)}


class LastResult:
    """The published result of one case, parsed once and read again only when the file changes."""

    def __init__(self, case_path: str | Path) -> None:
        self.path = published_path(case_path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._data: dict[str, Any] | None = None

    def get(self) -> dict[str, Any] | None:
        """The published result, or None when there is none (or it cannot be read)."""
        try:
            st = self.path.stat()
        except OSError:
            return self._data
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    data = orjson.loads(self.path.read_bytes())
                except (OSError, orjson.JSONDecodeError):
                    return self._data  # the last good one
                if isinstance(data, dict) and data.get("format") == FORMAT:
                    self._data, self._stamp = data, stamp
            return self._data

    def remember(self, data: dict[str, Any]) -> None:
        """Keep a result read from the case, for while the case is held by a writer."""
        with self._lock:
            if self._stamp is None:
                self._data = data
