"""The hunt's one pass over ``events``: the few rows any detection starts from, into ``h_ev``.

Each branch below is one kind of evidence: a filter on narrow columns (kind, event code),
which DuckDB tests inside the scan, and the columns the detections read for that kind. The
branches are stacked by name (``UNION ALL BY NAME``): ``h_ev`` keeps the column names of
``events``, and a column a branch does not need is NULL there, so a row costs only the
values it carries. Outside connections and process starts with hashes are not here: they
are read for implicated hosts only (:data:`wormsign.detect.prep.ACTIVITY`), and the lure
chain on patient zero per host (:mod:`wormsign.detect.access`).
"""

from __future__ import annotations

from typing import Any

from wormsign.detect.propagation import bind
from wormsign.store import Case

#: Columns every branch carries.
COMMON = ("ts", "host", "kind", "event.code", "src.digest", "src.record", "src.format", "user.name")
_SRC = ("source.ip", "source.host")
_ENDS = (*_SRC, "destination.ip", "destination.host")
_PROC = ("process.executable", "process.parent.executable", "process.command_line", "process.hash.sha256",
         "process.pid", "process.parent.pid")

#: (what it is for, filter, columns beyond COMMON). ``$parents`` is bound at run time; ``ws_base``
#: is a macro of :mod:`wormsign.detect.prep` (a file name: DuckDB evaluates it once per distinct
#: path of a dictionary-compressed column, where a case-blind pattern costs four times the scan).
BRANCHES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("share access: admin-share drops, PsExec and svcctl/atsvc pipes",
     """kind = 'share' AND "event.code" = '5145'""",
     (*_SRC, "share.name", "share.path", "share.access_mask", "file.path", "file.hash.sha256")),
    ("Zeek SMB file writes",
     """kind = 'smb_file' AND lower(coalesce("event.action", '')) LIKE '%write%'""",
     (*_ENDS, "event.action", "file.name", "file.path", "share.path", "file.hash.sha256")),
    ("files written: drops by System, loaders",
     """kind = 'file' AND "event.code" = '11'""",
     ("file.path", "file.hash.sha256", "process.executable")),
    ("services installed",
     """kind = 'service' AND "event.code" IN ('7045', '4697')""",
     ("service.name", "service.image")),
    ("scheduled tasks registered",
     """kind = 'task' AND "event.code" IN ('4698', '4702')""",
     ("task.name", "task.command")),
    # Processes: three disjoint branches, each filtered on one column so that DuckDB tests it
    # inside the scan, once per distinct path of the dictionary (an OR across columns would be
    # a filter over every process row).
    ("processes of remote-execution parents",
     """kind = 'process' AND list_contains($parents, ws_base("process.parent.executable"))""", _PROC),
    ("WMI hosts (their children name no parent image, see wmi-exec)",
     """kind = 'process' AND ws_base("process.executable") = 'wmiprvse.exe'
        AND NOT list_contains($parents, coalesce(ws_base("process.parent.executable"), ''))""", _PROC),
    ("processes without a parent image",
     """kind = 'process' AND "process.parent.executable" IS NULL
        AND coalesce(ws_base("process.executable"), '') <> 'wmiprvse.exe'""", _PROC),
    ("RPC calls on the wire",
     "kind = 'dce_rpc'",
     (*_ENDS, "rpc.endpoint", "rpc.operation")),
    ("SMB sessions (port 445)",
     """kind = 'network' AND "destination.port" = 445""",
     (*_ENDS, "destination.port", "network.bytes")),
    ("failed logons",
     """kind IN ('auth', 'ntlm', 'kerberos') AND "event.outcome" = 'failure'""",
     (*_ENDS, "source.domain", "event.outcome")),
    ("network logons and lockouts",
     """kind = 'auth' AND "event.outcome" IS DISTINCT FROM 'failure'
        AND ("event.code" = '4740' OR ("event.code" = '4624' AND "winlog.logon.type" = 3))""",
     (*_SRC, "source.domain", "winlog.logon.type")),
)


def _quote(cols: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in cols)


#: The rows, stacked (read into Arrow, then appended to ``h_ev``: DuckDB writes a temporary
#: table from a query at about twice the CPU cost of this route, measured on 10M events).
SELECT = "\nUNION ALL BY NAME\n".join(
    f"SELECT {_quote(COMMON + cols)} FROM events WHERE {where}  -- {why}" for why, where, cols in BRANCHES
) + "\n"


def build(case: Case, cfg: dict[str, Any]) -> int:
    """Fill ``h_ev`` (needs the macros of :mod:`wormsign.detect.prep`); returns its rows."""
    sql, params = bind(SELECT, {"parents": sorted(cfg["remote_parents"])})
    rows = case.query(sql, params)
    case.engine.execute(f"CREATE OR REPLACE TEMP TABLE h_ev AS SELECT * FROM ({sql}) LIMIT 0", params)
    if rows.num_rows:
        case.engine.append("h_ev", rows)
    return rows.num_rows


#: Columns read after the pass: the implicated hosts' activity (beaconing, loader payloads) and
#: the lure chain on patient zero.
LATER = ("source.ip", "source.host", "destination.ip", "destination.port", "process.executable",
         "process.hash.sha256", "process.parent.executable", "process.command_line")


def columns() -> tuple[str, ...]:
    """Every column of ``events`` a hunt reads, in first-use order."""
    return tuple(dict.fromkeys(COMMON + tuple(c for _, _, cols in BRANCHES for c in cols) + LATER))
