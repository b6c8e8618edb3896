"""Patient zero's initial-access chain: the process lineage (mail client, Office, script host,
download) seen on a host before its first outbound spread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wormsign.store import Case

CHAIN = """
SELECT ts, host, "process.executable" AS process, "process.parent.executable" AS parent,
       "process.command_line" AS command_line, ws_ref("src.digest", "src.record") AS ref
FROM events
WHERE kind = 'process' AND host = ? AND ts <= ? AND ts >= ? - to_seconds(?)
  AND (list_contains(?, ws_base("process.executable")) OR list_contains(?, ws_base("process.parent.executable")))
  AND list_contains(?, coalesce(ws_base("process.parent.executable"), ''))
ORDER BY ts LIMIT 25
"""


def initial_access(case: Case, host: str, before: datetime, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The chain on ``host`` before ``before``: processes started by a lure or its children."""
    images = list(cfg["initial_access_images"])
    rows = case.query(
        CHAIN, [host, before, before, int(cfg["initial_access_lookback_s"]), images, images,
                images + ["explorer.exe"]],
    ).to_pylist()
    lures = set(cfg["initial_access_lures"])
    for i, r in enumerate(rows):  # the chain starts at the mail client, Office or script host
        if {_name(r.get("process")), _name(r.get("parent"))} & lures:
            return rows[i:]
    return rows


def _name(path: str | None) -> str:
    return path.replace("/", "\\").rsplit("\\", 1)[-1].lower() if path else ""


def is_lure(chain: list[dict[str, Any]], cfg: dict[str, Any]) -> bool:
    """True when a mail client, Office or a script host started a shell, script host or
    download tool (a user opening a document is not enough)."""
    lures, kids = set(cfg["initial_access_lures"]), set(cfg["initial_access_children"])
    return any(_name(r.get("parent")) in lures and _name(r.get("process")) in kids for r in chain)
