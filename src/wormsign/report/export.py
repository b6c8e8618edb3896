"""Exports of an outbreak: JSON (the view), CSV (hosts, edges, locked accounts) and GraphML.

A host can take part in several incidents (infected in the outbreak, a target of a deployment,
the source of a lateral movement), with another state in each. Both CSV and GraphML therefore
hold one row or node per host per incident: a GraphML node's id is ``INCIDENT/host`` and it
carries ``host`` (also as ``label``, which Gephi and yEd show), ``incident`` and the host's state
in that incident, with ``patient_zero`` true on the incident's patient zero; an infection edge
joins two nodes of the same incident.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import networkx as nx

from wormsign.report.view import build_view
from wormsign.store import Case
from wormsign.text import csv_cell, xml_text

FORMATS = ("json", "csv", "graphml")
HOST_COLS = (
    "host",
    "state",
    "patient_zero",
    "generation",
    "infected_at",
    "infector",
    "technique",
    "families",
    "hashes",
)
#: The host facts a GraphML node carries (besides host, label, incident and patient_zero).
NODE_ATTRS = ("state", "generation", "infected_at", "infector", "technique", "families", "hashes")
EDGE_ATTRS = ("ts", "techniques", "method", "account", "evidence")
EDGE_COLS = (
    "source",
    "target",
    "ts",
    "techniques",
    "method",
    "account",
    "file_name",
    "file_path",
    "file_sha256",
    "evidence",
)
LOCK_COLS = ("account", "ts", "source_host", "dc", "ref")
HEADERS = {
    "hosts": ("incident", *HOST_COLS),
    "edges": ("incident", *EDGE_COLS),
    "locked_accounts": ("incident", *LOCK_COLS),
}


def _flat(value: Any) -> str | int | float | bool:
    """A value GraphML and CSV can hold: lists joined with ';', objects as JSON, None as ''."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list):
        return ";".join(str(_flat(v)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _cell(value: Any) -> Any:
    """A CSV cell: attacker-written text escaped and never a spreadsheet formula (wormsign.text)."""
    v = _flat(value)
    return csv_cell(v) if isinstance(v, str) else v


def _xml(value: Any) -> Any:
    """A GraphML value: characters XML 1.0 cannot hold escaped (wormsign.text), the rest exact."""
    v = _flat(value)
    return xml_text(v) if isinstance(v, str) else v


def tables(view: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Rows of the three CSV tables, over every incident of the view."""
    hosts, edges, locked = [], [], []
    for inc in view["incidents"]:
        iid = inc.get("id")
        pz = inc.get("patient_zero")
        for h in inc.get("hosts") or []:
            row = {k: h.get(k) for k in HOST_COLS}
            row["patient_zero"] = pz is not None and h.get("host") == pz
            hosts.append({"incident": iid, **row})
        for e in inc.get("edges") or []:
            f = e.get("file") or {}
            edges.append(
                {
                    "incident": iid,
                    "source": e.get("source"),
                    "target": e.get("target"),
                    "ts": e.get("ts"),
                    "techniques": e.get("techniques"),
                    "method": e.get("method"),
                    "account": e.get("account"),
                    "file_name": f.get("name"),
                    "file_path": f.get("path"),
                    "file_sha256": f.get("sha256"),
                    "evidence": e.get("evidence"),
                }
            )
        for lk in (inc.get("accounts") or {}).get("locked") or []:
            locked.append({"incident": iid, **{k: lk.get(k) for k in LOCK_COLS}})
    return {"hosts": hosts, "edges": edges, "locked_accounts": locked}


def node_id(incident: Any, host: Any) -> str:
    """The GraphML node of ``host`` in ``incident``: ``INCIDENT/host`` (an incident id holds no '/')."""
    return xml_text(f"{incident}/{host}")


def graph(view: dict[str, Any]) -> nx.MultiDiGraph:
    """The propagation graph of every incident: one node per host per incident, infections as edges."""
    g = nx.MultiDiGraph(name=xml_text(view["case"]["name"]))
    for inc in view["incidents"]:
        iid = inc.get("id")
        pz = inc.get("patient_zero")

        def node(host: Any, facts: dict[str, Any], iid: Any = iid, pz: Any = pz) -> str:
            n = node_id(iid, host)
            if n not in g:
                g.add_node(
                    n,
                    host=xml_text(host),
                    label=xml_text(host),
                    incident=xml_text(iid),
                    incident_type=xml_text(inc.get("type") or ""),
                    patient_zero=pz is not None and host == pz,
                )
            g.nodes[n].update({k: _xml(facts[k]) for k in NODE_ATTRS if facts.get(k) is not None})
            return n

        for h in inc.get("hosts") or []:
            node(h.get("host"), h)
        for e in inc.get("edges") or []:
            f = e.get("file") or {}
            g.add_edge(
                node(e.get("source"), {}),
                node(e.get("target"), {}),
                incident=xml_text(iid),
                **{k: _xml(e[k]) for k in EDGE_ATTRS if e.get(k) is not None},
                **{f"file_{k}": _xml(f[k]) for k in ("name", "path", "sha256") if f.get(k)},
            )
    return g


def export(case: Case, fmt: str, out: str | Path) -> list[Path]:
    """Write the export ``fmt`` of the case's hunt to ``out`` (a directory for csv); return the files."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    view = build_view(case, with_evidence=False)
    path = Path(out)
    if fmt == "json":
        path.write_text(json.dumps(view, indent=1, ensure_ascii=False), encoding="utf-8")
        return [path]
    if fmt == "graphml":
        nx.write_graphml(graph(view), path)
        return [path]
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in tables(view).items():
        f = path / f"{name}.csv"
        with f.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(HEADERS[name]))
            w.writeheader()
            for r in rows:
                w.writerow({k: _cell(v) for k, v in r.items()})
        written.append(f)
    return written
