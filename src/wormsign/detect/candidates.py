"""The hunt's one pass over ``events``: the few rows any detection starts from, into ``h_ev``.

Each branch below is one kind of evidence: a filter on narrow columns (kind, event code),
which DuckDB tests inside the scan, and the columns the detections read for that kind. The
branches are stacked (``UNION ALL``, each with every column): ``h_ev`` keeps the column names of
``events``, and a column a branch does not need is NULL there, so a row costs only the
values it carries. Outside connections and process starts with hashes are not here: they
are summarised per host (:mod:`wormsign.detect.activity`), and the lure chain on patient
zero is read per host (:mod:`wormsign.detect.access`).

The pass depends on the events alone (and on ``remote_parents`` and ``exec_extensions``), so
the resolver (:mod:`wormsign.resolve`, once per change of the case) stores it as the table
``hunt_index`` while it enriches the events, batch by batch, and then the activity summaries.
A hunt whose configuration gives the same pass reads these tables instead of scanning
``events``; otherwise (another configuration, a case resolved by an older version, events
added since) it makes the pass itself, and summarises the implicated hosts' activity.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from wormsign.detect import activity
from wormsign.detect.propagation import bind
from wormsign.engine import passes
from wormsign.store import Case

#: Columns every branch carries.
COMMON = ("ts", "host", "kind", "event.code", "src.digest", "src.record", "src.format", "user.name")
_SRC = ("source.ip", "source.host")
_ENDS = (*_SRC, "destination.ip", "destination.host")
_PROC = ("process.executable", "process.parent.executable", "process.command_line", "process.hash.sha256",
         "process.pid", "process.parent.pid", "winlog.logon.id")

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
    ("executables written: drops by System, loaders",
     """kind = 'file' AND "event.code" = '11' AND list_contains($exec_extensions, ws_ext("file.path"))""",
     ("file.path", "file.hash.sha256", "process.executable")),
    ("services installed",
     """kind = 'service' AND "event.code" IN ('7045', '4697')""",
     ("service.name", "service.image", "winlog.logon.id")),
    ("scheduled tasks registered",
     """kind = 'task' AND "event.code" IN ('4698', '4702')""",
     ("task.name", "task.command", "winlog.logon.id")),
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
    # Code that runs in the logon session of an inbound network logon (WinRM's wsmprovhost,
    # a COM server DCOM started for the caller, WMI's children) was started from another host.
    ("other processes in the session of an inbound network logon (_ws_netlids)",
     """kind = 'process' AND "process.parent.executable" IS NOT NULL
        AND NOT list_contains($parents, ws_base("process.parent.executable"))
        AND ws_base("process.executable") <> 'wmiprvse.exe'
        AND (host, "winlog.logon.id") IN (SELECT host, lid FROM _ws_netlids)""", _PROC),
    ("shells and script hosts the Windows shell (explorer.exe) started: DCOM ShellWindows runs them so",
     """kind = 'process' AND ws_base("process.parent.executable") = 'explorer.exe'
        AND list_contains($shell_children, ws_base("process.executable"))
        AND NOT coalesce((host, "winlog.logon.id") IN (SELECT host, lid FROM _ws_netlids), false)""", _PROC),
    ("permanent WMI event subscriptions (Sysmon 19-21, WMI-Activity 5861)",
     """kind = 'wmi' AND "event.code" IN ('19', '20', '21', '5861')""",
     ("task.name", "message")),
    ("Remote Desktop authentications (1149) and local group enumerations (4799)",
     """(kind = 'auth' AND "event.code" = '1149') OR (kind = 'generic' AND "event.code" = '4799')""",
     (*_SRC, "winlog.logon.id", "user.target.name")),
    ("computer accounts changed by an anonymous logon (Zerologon)",
     """kind = 'auth' AND "event.code" = '4742' AND upper("user.name") = 'ANONYMOUS LOGON'""",
     ("user.target.name",)),
    ("inbound connections to remote-execution ports (RPC, WinRM), as the target logged them",
     """kind = 'network' AND "network.direction" = 'inbound' AND "destination.port" IS DISTINCT FROM 445
        AND (list_contains($session_ports, "destination.port") OR list_contains($session_ports, "source.port")
             OR "source.port" = 445)""",
     (*_ENDS, "source.port", "destination.port", "network.direction")),
    ("RPC calls on the wire",
     "kind = 'dce_rpc'",
     (*_ENDS, "rpc.endpoint", "rpc.operation")),
    ("SMB sessions (port 445)",
     """kind = 'network' AND "destination.port" = 445""",
     (*_ENDS, "source.port", "destination.port", "network.bytes", "network.direction")),
    ("failed logons (Windows 4625, 4768/4771 Kerberos, 4776 NTLM; Zeek; LANL)",
     """kind IN ('auth', 'ntlm', 'kerberos') AND "event.outcome" = 'failure'""",
     (*_ENDS, "source.domain", "event.outcome", "auth.status", "auth.sub_status")),
    # The logons of the next branch are not repeated here.
    ("successful authentications that may end a run of failures (success after)",
     """kind IN ('auth', 'ntlm', 'kerberos') AND "event.outcome" = 'success'
        AND ("event.code" IS NULL OR (list_contains($success_codes, "event.code")
             AND NOT (kind = 'auth' AND "event.code" = '4624' AND coalesce("winlog.logon.type", 0) = 3)))
        AND coalesce("source.ip", "source.host", "source.domain") IS NOT NULL""",
     (*_ENDS, "source.domain", "event.outcome", "winlog.logon.type")),
    ("explicit credentials (4648): one process trying many accounts",
     """kind = 'auth' AND "event.code" = '4648'""",
     ("user.target.name", "destination.domain", "process.executable")),
    ("network logons and lockouts",
     """kind = 'auth' AND "event.outcome" IS DISTINCT FROM 'failure'
        AND ("event.code" = '4740' OR ("event.code" = '4624' AND "winlog.logon.type" = 3))""",
     (*_SRC, "source.domain", "winlog.logon.type", "winlog.logon.id")),
)


#: The conditions of the branches that read a resolved key (``host``, ``source.host``), each with
#: what it becomes in :data:`PREFILTER`: a condition true of every row the branch keeps, that
#: reads no key. A process in a network logon's session has one of those sessions' logon ids
#: (whatever its host); the other two conditions are dropped (true).
_KEYED = (
    (r'\s+AND\s+\(host, "winlog\.logon\.id"\)\s+IN\s+\(SELECT host, lid FROM _ws_netlids\)',
     ' AND "winlog.logon.id" IN (SELECT lid FROM _ws_netlids)'),
    (r'\s+AND\s+NOT\s+coalesce\(\(host, "winlog\.logon\.id"\)\s+IN\s+\(SELECT host, lid FROM _ws_netlids\),\s*false\)',
     ''),
    (r'\s+AND\s+coalesce\("source\.ip", "source\.host", "source\.domain"\)\s+IS\s+NOT\s+NULL', ''),
)


def _prefilter() -> str:
    """Every branch's condition but what it reads of the keys, OR'ed: true of every row some
    branch keeps, whatever the row's keys, so the rows it drops can be dropped before the
    events are joined with their keys files (on Spark a shuffle of every column the pass reads;
    the branches then run as they are on the rows left). A branch that reads a key in a way
    :data:`_KEYED` does not know stops the import here rather than lose rows."""
    out = []
    for why, cond, _ in BRANCHES:
        for pattern, repl in _KEYED:
            cond = re.sub(pattern, repl, cond)
        if passes.KEY_REF.search(cond):
            raise ValueError(f"candidates: the branch {why!r} reads a resolved key: add it to _KEYED")
        out.append(f"({cond})")
    return "\n   OR ".join(out)


#: A condition on the events before their keys, true of every row the pass keeps (the keys
#: files' columns are NULL or names of hosts; no branch but those of :data:`_KEYED` reads them).
PREFILTER = _prefilter()

#: Values computed once per row in the pass (so that a stored index holds them too): the file
#: names a command names (``x_names``: an executable started remotely is matched to the file
#: dropped before it by name), the process's and its parent's file names (``x_base``, ``x_parent``),
#: a written file's extension (``x_ext``).
_NAMES = {
    # sorted, NULL dropped as DuckDB's list_distinct drops it (Spark's keeps it, and the order)
    "process": ('list_sort(list_distinct(list_filter(list_prepend(ws_base("process.executable"), '
                'ws_names("process.command_line")), lambda n: n IS NOT NULL))) AS x_names', 'ws_base("process.executable") AS x_base',
                'ws_base("process.parent.executable") AS x_parent'),
    "file": ('ws_ext("file.path") AS x_ext',),
    "service": ('ws_names("service.image") AS x_names',),
    "task": ('ws_names("task.command") AS x_names',),
}


def _quote(cols: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in cols)


def _select(src: str = "events") -> str:
    """The branches stacked, each reading ``src`` (the events, or a view of some shards'): every
    branch gives every column, NULL where it has none, in one order (a plain ``UNION ALL``,
    which Spark runs too)."""
    names: list[str] = []
    branches = []
    for why, cond, cols in BRANCHES:
        own = {f'"{c}"': f'"{c}"' for c in ("eid", *COMMON, *cols)}
        own.update({x.rsplit(" AS ", 1)[1]: x for x in _NAMES.get(cond.split("'")[1], ())})
        names.extend(n for n in own if n not in names)
        branches.append((why, cond, own))
    return "\nUNION ALL\n".join(
        f"SELECT {', '.join(own.get(n, f'NULL AS {n}') for n in names)} FROM {src} WHERE {cond}  -- {why}"
        for why, cond, own in branches
    ) + "\n"


#: The rows, stacked (read into Arrow, then appended to ``h_ev``: DuckDB writes a temporary
#: table from a query at about twice the CPU cost of this route, measured on 10M events).
SELECT = _select()
#: The same over the shards being indexed (the view ``_ws_part``).
PART_SELECT = _select("_ws_part")
#: The stored pass (a table of the case file, rebuilt by every resolution).
INDEX = "hunt_index"


def spec(cfg: dict[str, Any]) -> str:
    """What the pass depends on besides the events: its SQL, the macros it calls (they compute
    the stored ``x_*`` values) and the values bound into it."""
    from wormsign.detect.prep import IPMAP, IPMAP_RESOLVED, MACROS  # prep imports this module
    from wormsign.detect.prep import spec as working_spec

    blob = json.dumps([SELECT, NETLIDS, list(MACROS), _values(cfg), activity.spec(cfg), working_spec(cfg), IPMAP,
                       IPMAP_RESOLVED, list(cfg["loopback"])], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _values(cfg: dict[str, Any]) -> dict[str, Any]:
    """The configuration bound into the pass."""
    return {"parents": sorted(cfg["remote_parents"]), "exec_extensions": sorted(cfg["exec_extensions"]),
            "success_codes": sorted(cfg["auth_success_codes"]), "session_ports": sorted(cfg["session_ports"]),
            "shell_children": sorted(cfg["shell_children"])}


#: The logon sessions of inbound network logons (4624 type 3 of a user, not a machine account,
#: nor from the host's loopback), per host: the pass keeps the processes that run in them.
NETLIDS_WHERE = """kind = 'auth' AND "event.code" = '4624' AND "winlog.logon.type" = 3 AND "winlog.logon.id" IS NOT NULL
  AND lower("winlog.logon.id") NOT IN ('0x3e7', '0x3e4', '0x3e5', '0x0')
  AND "user.name" NOT LIKE '%$' AND coalesce("source.ip", '-') NOT IN ('::1', '127.0.0.1')"""
NETLIDS = f"""
CREATE OR REPLACE TEMP TABLE _ws_netlids AS
SELECT DISTINCT host, "winlog.logon.id" AS lid FROM events
WHERE {NETLIDS_WHERE}
"""
#: The same from the resolver's per-shard table (``res_netlids``), without reading the events.
NETLIDS_STORED = "CREATE OR REPLACE TEMP TABLE _ws_netlids AS SELECT DISTINCT host, lid FROM res_netlids"


def _netlids(case: Case, *, stored: bool = False) -> None:
    """``_ws_netlids``: from the events, or (``stored``: the resolver, once every shard is
    observed) from its per-shard table."""
    case.engine.execute(NETLIDS_STORED if stored else NETLIDS)


#: Meta key of the configuration ``hunt_index`` is being built with (its rows are kept per shard).
INDEX_SPEC = "hunt_index_spec"


def start_index(case: Case, cfg: dict[str, Any], *, stored: bool = False) -> None:
    """An empty ``hunt_index`` with the pass's columns (needs the macros of :mod:`wormsign.detect.prep`)."""
    case.set_meta(INDEX, None)
    _netlids(case, stored=stored)
    sql, params = bind(SELECT, _values(cfg))
    case.engine.execute(f"CREATE OR REPLACE TABLE {INDEX} AS SELECT * FROM ({sql}) LIMIT 0", params)
    case.set_meta(INDEX_SPEC, spec(cfg))


def index_matches(case: Case, cfg: dict[str, Any]) -> bool:
    """Whether ``hunt_index`` holds rows of this configuration's pass (some shards' may be stale)."""
    if case.get_meta(INDEX_SPEC) != spec(cfg):
        return False
    cols = case.rows("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [INDEX])
    return "eid" in {c[0] for c in cols}


def prepare_index(case: Case, cfg: dict[str, Any], *, stored: bool = False) -> None:
    """What the pass reads besides the events (the logon sessions of inbound network logons)."""
    case.set_meta(INDEX, None)
    _netlids(case, stored=stored)


def index_shards(case: Case, cfg: dict[str, Any], shards: list[int]) -> None:
    """Replace the pass's rows of the events of ``shards`` in ``hunt_index``."""
    from wormsign.store import SHARD_BITS

    case.engine.execute(f"DELETE FROM {INDEX} WHERE list_contains(?, eid >> {SHARD_BITS})", [shards])
    # The events read once, the columns the pass reads only: its branches then scan a table in
    # memory instead of the shards (a filter cannot go below the shards' join with their keys).
    # On Spark, the logon sessions it reads are shipped with it.
    if case.scans is not None:
        case.scans.view_table("_ws_netlids", case.query("SELECT * FROM _ws_netlids"))

    def statements(src: str) -> list[tuple[str, list[Any]]]:
        sql, params = bind(_select(src), _values(cfg))
        return [(f"INSERT INTO {INDEX} BY NAME {sql}", params)]

    where = bind(PREFILTER, _values(cfg)) if case.scans is not None else None
    # On Spark the rows stay there too, as ``h_ev``, for the working tables built from them
    # (:func:`wormsign.detect.prep.store`), until the resolver is done.
    passes.run_keyed(case, shards, _part_columns(), statements, where=where,
                     keep={INDEX: ("h_ev", frozenset(shards))})


def _part_columns() -> list[str]:
    """The columns of ``events`` the pass reads (quoted in its SQL, or the bare ones)."""
    from wormsign.schema import FIELD_NAMES

    named = set(re.findall(r'"([a-z_]+(?:\.[a-z0-9_]+)*)"', PART_SELECT)) | {"ts", "host", "kind"}
    return ["eid", *(f for f in FIELD_NAMES if f in named)]


def _state(case: Case, cfg: dict[str, Any]) -> dict[str, Any]:
    sources = int(case.rows("SELECT count(*) FROM sources")[0][0])
    return {"spec": spec(cfg), "events": case.count(), "sources": sources}


def finish_index(case: Case, cfg: dict[str, Any],
                 added: tuple[list[str], str, list[int], list[str]] | None = None) -> None:
    """Store the working tables that depend on the pass alone (:data:`wormsign.detect.prep.STORED`)
    and the summaries of what every host did (:mod:`wormsign.detect.activity`; both need
    ``h_ipmap``, :func:`wormsign.detect.prep.ipmap`), and mark
    ``hunt_index`` and them as those of the events as they are now. ``added``: only new shards
    were resolved (the hosts they concern, a query of their events, their numbers, the hosts the
    address map moved): the stored summaries, when they are this configuration's, are brought up to date
    from them (:func:`wormsign.detect.activity.merge_hosts`)."""
    from wormsign.detect import prep

    _index_view(case)
    have = {r[0] for r in case.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")}
    # rows of new shards appended, when the address map did not move and the tables are there
    rows_only = added is not None and not added[3] and set(prep.stored_tables()) <= have
    prep.store(case, cfg, added[2] if rows_only and added is not None else None)
    if added is not None and case.get_meta(ACTIVITY_SPEC) == activity.spec(cfg) and set(activity.tables()) <= have:
        activity.merge_hosts(case, cfg, *added)
    else:
        activity.store(case, cfg)
        case.set_meta(ACTIVITY_SPEC, activity.spec(cfg))
    case.set_meta(INDEX, _state(case, cfg))


#: Meta key of the configuration the stored activity summaries were computed with.
ACTIVITY_SPEC = "activity_spec"


def _index_view(case: Case) -> None:
    """``h_ev`` as a view of the stored pass."""
    case.drop("h_ev")
    case.engine.execute(f"CREATE TEMP VIEW h_ev AS SELECT * FROM {INDEX}")


def index_is_fresh(case: Case, cfg: dict[str, Any]) -> bool:
    """Whether ``hunt_index`` (and the tables stored with it) hold this configuration's pass
    over the events as they are now."""
    from wormsign.detect import prep

    stored = case.get_meta(INDEX)
    if not stored or stored != _state(case, cfg):
        return False
    names = sorted({INDEX, *activity.tables(), *prep.stored_tables()})
    found = case.rows("SELECT count(DISTINCT table_name) FROM information_schema.tables "
                      "WHERE list_contains(?, table_name)", [names])
    return int(found[0][0]) == len(names)


def build(case: Case, cfg: dict[str, Any], *, fresh: bool | None = None) -> int:
    """Fill ``h_ev`` (needs the macros of :mod:`wormsign.detect.prep`); returns its rows.

    ``h_ev`` is a view of the stored ``hunt_index`` when that is fresh, else a TEMP table
    filled by the pass over ``events``."""
    for view, *_ in activity.PARTS:  # gone unless stored: prep.implicate computes them then
        case.drop(view)
    if index_is_fresh(case, cfg) if fresh is None else fresh:
        _index_view(case)
        activity.build(case, cfg, stored=True)
        return int(case.rows(f"SELECT count(*) FROM {INDEX}")[0][0])
    _netlids(case)
    sql, params = bind(SELECT, _values(cfg))
    rows = case.query(sql, params)
    case.drop("h_ev")
    case.engine.execute(f"CREATE TEMP TABLE h_ev AS SELECT * FROM ({sql}) LIMIT 0", params)
    if rows.num_rows:
        case.engine.append("h_ev", rows)
    return rows.num_rows


#: Columns read after the pass: the activity summaries (beaconing, loader payloads) and the
#: lure chain on patient zero.
LATER = ("source.ip", "source.host", "destination.ip", "destination.port", "process.executable",
         "process.hash.sha256", "process.parent.executable", "process.command_line")


def columns() -> tuple[str, ...]:
    """Every column of ``events`` a hunt reads, in first-use order."""
    return tuple(dict.fromkeys(COMMON + tuple(c for _, _, cols in BRANCHES for c in cols) + LATER))
