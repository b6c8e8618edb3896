"""Patient zero's initial-access chain: the process lineage (mail client, Office, script host,
download) seen on a host before its first outbound spread, each step tagged with its ATT&CK
techniques (a program started from the mail client: T1566 Phishing, T1566.001, T1204.002)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wormsign.store import Case

# Process starts (their host is never resolved again: only a network sensor's records' is),
# read from the shards as written so that the filter on the host reaches the files.
CHAIN = """
SELECT ts, host, "process.executable" AS process, "process.parent.executable" AS parent,
       "process.command_line" AS command_line, ws_ref("src.digest", "src.record") AS ref
FROM ({events})
WHERE kind = 'process' AND host = ? AND ts <= ? AND ts >= ? - to_seconds(?)
  AND (list_contains(?, ws_base("process.executable")) OR list_contains(?, ws_base("process.parent.executable")))
  AND list_contains(?, coalesce(ws_base("process.parent.executable"), ''))
ORDER BY ts LIMIT 25
"""


def initial_access(case: Case, host: str, before: datetime, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The chain on ``host`` before ``before``: processes started by a lure or its children."""
    images = list(cfg["initial_access_images"])
    rows = case.query(
        CHAIN.replace("{events}", case.raw_events_sql()), [host, before, before, int(cfg["initial_access_lookback_s"]), images, images,
                images + ["explorer.exe"]],
    ).to_pylist()
    lures = set(cfg["initial_access_lures"])
    for i, r in enumerate(rows):  # the chain starts at the mail client, Office or script host
        if {_name(r.get("process")), _name(r.get("parent"))} & lures:
            rows = rows[i:]
            break
    for r in rows:
        r["attack"] = tag(r, cfg)
    return rows


def tag(step: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    """The ATT&CK techniques of one step (``initial_access_attack`` in config.yaml): a program
    the mail client started is Phishing (T1566, T1566.001: an attachment opened, and the user
    running it, T1204.002); one a lure (Office, a script host) started is T1204.002 and what the
    child is (PowerShell T1059.001, mshta T1218.005, a download tool T1105, ...)."""
    spec = cfg["initial_access_attack"]
    proc, parent = _name(step.get("process")), _name(step.get("parent"))
    out: list[str] = []
    if parent in set(cfg["initial_access_mail"]):
        out += spec["from_mail"]
    elif parent in set(cfg["initial_access_lures"]) and proc in set(cfg["initial_access_children"]):
        out += spec["from_lure"]
    if parent in set(cfg["initial_access_lures"]):
        out += spec["child"].get(proc, [])
    return list(dict.fromkeys(out))


def _name(path: str | None) -> str:
    return path.replace("/", "\\").rsplit("\\", 1)[-1].lower() if path else ""


def is_lure(chain: list[dict[str, Any]], cfg: dict[str, Any]) -> bool:
    """True when a mail client, Office or a script host started a shell, script host or
    download tool (a user opening a document is not enough)."""
    lures, kids = set(cfg["initial_access_lures"]), set(cfg["initial_access_children"])
    return any(_name(r.get("parent")) in lures and _name(r.get("process")) in kids for r in chain)
