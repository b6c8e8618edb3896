"""The view of an outbreak that the report, the dashboard and the exports all show.

It is built from what the hunt saved in the case (``meta['hunt']``, the incidents
document of docs/formats.md, and the ``alerts`` table) plus a few case counts.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from wormsign.report.events import fetch_events, iso
from wormsign.store import Case

FORMAT = "wormsign.incidents/1"
VIEW_FORMAT = "wormsign.view/1"


class ViewError(Exception):
    """The case holds no hunt result, or one of a format this version cannot read."""


@cache
def settings() -> dict[str, Any]:
    """The tunables in settings.yaml beside this module."""
    text = resources.files("wormsign.report").joinpath("settings.yaml").read_text("utf-8")
    return dict(yaml.safe_load(text))


def attack_names(incidents: list[dict[str, Any]], alert_list: list[dict[str, Any]]) -> dict[str, str]:
    """ATT&CK names of the techniques the incidents and alerts cite (offline, from wormsign.intel)."""
    from wormsign.intel.attack import technique_name

    seen: set[str] = set()
    for inc in incidents:
        for edge in inc.get("edges") or []:
            seen.update(t for t in edge.get("techniques") or [] if isinstance(t, str))
        for step in inc.get("initial_access") or []:
            seen.update(t for t in step.get("attack") or [] if isinstance(t, str))
    for a in alert_list:
        seen.update(t for t in a.get("attack") or [] if isinstance(t, str))
    names = {t: technique_name(t) for t in sorted(seen)}
    return {t: n for t, n in names.items() if n}


def hunt_doc(case: Case) -> dict[str, Any]:
    """The incidents document the hunt saved in the case, checked for its format."""
    doc = case.get_meta("hunt")
    if doc is None:
        raise ViewError(f"{case.path}: no hunt result in this case; run `wormsign hunt --case {case.path}`")
    fmt = str(doc.get("format", "")) if isinstance(doc, dict) else ""
    name, _, version = fmt.partition("/")
    if name != "wormsign.incidents" or version.split(".")[0] != "1":
        raise ViewError(f"{case.path}: hunt result has format {fmt!r}; this version reads {FORMAT}")
    if not isinstance(doc.get("incidents"), list):
        raise ViewError(f"{case.path}: hunt result has no list of incidents")
    return dict(doc)


def alerts(case: Case, doc: dict[str, Any] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Alerts of the hunt: the ``alerts`` table when there is one, else those listed in the document."""
    if case.engine.has_table("alerts"):
        sql = "SELECT doc FROM alerts ORDER BY ts, id"
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        out = []
        for (text,) in case.rows(sql, params):
            try:
                a = json.loads(text) if isinstance(text, str) else text
            except ValueError:
                continue
            if isinstance(a, dict):
                out.append(a)
        return out
    found = (doc or {}).get("alerts")
    return list(found)[:limit] if isinstance(found, list) else []


def case_summary(case: Case) -> dict[str, Any]:
    """Counts and time span of the case's events."""
    n, first, last, hosts = case.rows("SELECT count(*), min(ts), max(ts), count(DISTINCT host) FROM events")[
        0
    ]
    sources = case.rows("SELECT count(*) FROM sources")[0][0]
    return {
        "name": Path(case.path).name,
        "events": int(n),
        "hosts": int(hosts),
        "sources": int(sources),
        "first": iso(first),
        "last": iso(last),
    }


def evidence_refs(incidents: list[dict[str, Any]], alert_list: list[dict[str, Any]]) -> list[str]:
    """Every event reference the incidents and alerts cite, in a stable order, without repeats."""
    seen: dict[str, None] = {}
    per = int(settings()["evidence"]["max_per_item"])

    def take(refs: Any, n: int = per) -> None:
        if isinstance(refs, str):
            refs = [refs]
        if isinstance(refs, list):
            for r in refs[:n]:
                if isinstance(r, str):
                    seen.setdefault(r, None)

    for inc in incidents:
        for step in inc.get("initial_access") or []:
            take(step.get("ref"))
        for edge in inc.get("edges") or []:
            take(edge.get("evidence"))
        for lock in (inc.get("accounts") or {}).get("locked") or []:
            take(lock.get("ref"))
        for d in inc.get("deliveries") or []:
            take(d.get("ref"))
    per_alert = int(settings()["evidence"]["max_per_alert"])
    for a in alert_list:
        take(a.get("evidence"), per_alert)
    return list(seen)


#: Characters of an address kept in the view (an IPv6 address is at most 45).
MAX_ADDRESS = 64


def host_addresses(case: Case, incidents: list[dict[str, Any]]) -> dict[str, str]:
    """Each incident host's address, as the resolver saw it most (``host_addr``): the graph
    groups attacked hosts by subnet with it. Hosts the resolver never placed are left out."""
    wanted = {
        h["host"]
        for inc in incidents
        for h in inc.get("hosts") or []
        if isinstance(h, dict) and isinstance(h.get("host"), str)
    }
    if not wanted or not case.engine.has_table("host_addr"):
        return {}
    rows = case.rows(
        "SELECT host, arg_max(ip, (n, last_seen, ip)) FROM host_addr"  # a tie: the latest address
        " WHERE host IS NOT NULL AND ip IS NOT NULL GROUP BY host"
    )
    return {str(h): str(ip)[:MAX_ADDRESS] for h, ip in rows if h in wanted}


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


def _contact(e: dict[str, Any]) -> str:
    who = f" as {e.get('account')}" if e.get("account") else ""
    return f"{e.get('reason')} from {e.get('source')}{who} x{e.get('count')} since {e.get('ts')}"


def incident_tables(incidents: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per outbreak id, its per-file infection tree and its next likely hops as tables ready to
    show (``{id, title, columns, rows}``, every cell text): which file reached which host, when, from
    where and how; which hosts it is likely to reach next, and why."""
    out: dict[str, list[dict[str, Any]]] = {}
    for inc in incidents:
        files, hops = inc.get("files") or [], inc.get("next_hops") or []
        if not (files or hops) or not isinstance(inc.get("id"), str):
            continue
        rows = [[_cell(f.get("sha256") or f.get("key")), _cell(h.get("name")), _cell(h.get("host")),
                 _cell(h.get("ts")), _cell(h.get("infector") or "(entry)"), _cell(h.get("method"))]
                for f in files if isinstance(f, dict) for h in f.get("hosts") or [] if isinstance(h, dict)]
        why = [[_cell(h.get("rank")), _cell(h.get("host")), _cell(h.get("score")), _cell(h.get("sources")),
                _cell(h.get("accounts")), "; ".join(_contact(e) for e in h.get("evidence") or [] if isinstance(e, dict))]
               for h in hops if isinstance(h, dict)]
        out[inc["id"]] = [
            {"id": "files", "title": "Files: which file reached which host, when and how",
             "columns": ["file (SHA-256, or name)", "name there", "host", "reached at", "from", "how"], "rows": rows},
            {"id": "next_hops", "title": "Next likely hops: hosts not infected yet that infected hosts reach",
             "columns": ["rank", "host", "score", "reached from", "accounts of the spread", "evidence"], "rows": why},
        ]
    return out


def build_view(case: Case, *, with_evidence: bool = True) -> dict[str, Any]:
    """The whole view: case summary, incidents, alerts, technique names and (for the report) evidence."""
    doc = hunt_doc(case)
    conf = settings()
    incidents = [i for i in doc["incidents"] if isinstance(i, dict)]
    alert_list = alerts(case, doc, limit=int(conf["evidence"]["max_events"]))
    view: dict[str, Any] = {
        "format": VIEW_FORMAT,
        "case": case_summary(case),
        "hunt": {k: doc.get(k) for k in ("format", "generator", "generated_at")},
        "incidents": incidents,
        "alerts": alert_list,
        "attack": attack_names(incidents, alert_list),
        "colours": conf["colours"],
        "addresses": host_addresses(case, incidents),
        "tables": incident_tables(incidents),
    }
    if with_evidence:
        refs = evidence_refs(incidents, alert_list)[: int(conf["evidence"]["max_events"])]
        view["evidence"] = fetch_events(case, refs, max_raw=int(conf["evidence"]["max_raw_chars"]))
    return view
