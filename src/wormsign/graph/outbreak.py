"""Outbreak incidents: one infection tree plus the alerts, lockouts, accounts and C2 around it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wormsign.graph.files import exe_path, file_tree
from wormsign.graph.tree import Tree, containment, r_estimate, spread_rate
from wormsign.results import iso

#: ATT&CK techniques of each propagation method (the copy adds T1021.002 and T1570).
METHOD_TECHNIQUES: dict[str, list[str]] = {
    "service": ["T1569.002", "T1543.003"],
    "psexec": ["T1569.002", "T1543.003"],
    "scheduled-task": ["T1053.005"],
    "wmi": ["T1047"],
    "smb-exploit": ["T1210"],
    "remote-exec": [],
}
COPY_TECHNIQUES = ["T1021.002", "T1570"]


def edge_doc(e: dict[str, Any]) -> dict[str, Any]:
    """An EDGE of docs/formats.md from an ``h_edges`` row."""
    method = e["method"] if e["method"] in METHOD_TECHNIQUES else "remote-exec"
    techs = (COPY_TECHNIQUES if e["kind"] == "copy" else []) + METHOD_TECHNIQUES[method]
    if e["kind"] == "copy" and method == "remote-exec":
        method = "admin-share-copy"
    f = {"name": e.get("fname"), "path": e.get("fpath"), "sha256": e.get("sha256")} if e.get("fname") else None
    if f is not None and e["kind"] == "exploit" and exe_path(e.get("fpath")):  # fname is the service's name
        f["path"] = exe_path(e.get("fpath"))
        f["name"] = str(f["path"]).replace("/", "\\").rsplit("\\", 1)[-1]
    return {
        "source": e["source"], "target": e["target"], "ts": iso(e["ts"]), "techniques": techs,
        "method": method, "file": f, "account": e.get("account"),
        "evidence": [r for r in e.get("evidence") or [] if r], "alerts": [],
    }


def beacon_addresses(fields: dict[str, Any]) -> list[tuple[str, Any]]:
    """(address, port) of every server a beacon alert polled."""
    out = []
    for ap in fields.get("addresses") or [f"{fields.get('address')}:{fields.get('port')}"]:
        addr, _, port = str(ap).rpartition(":")
        out.append((addr, int(port) if port.isdigit() else None))
    return out


def _only(intel_doc: dict[str, Any], hosts: set[str]) -> dict[str, Any]:
    """The intel attribution's families, deliveries and C2 restricted to ``hosts``."""
    fams = [{**f, "hosts": [h for h in f.get("hosts") or [] if h in hosts]} for f in intel_doc.get("families") or []]
    c2 = [{**c, "hosts": [h for h in c.get("hosts") or [] if h in hosts]} for c in intel_doc.get("c2") or []]
    return {
        "families": [f for f in fams if f["hosts"]],
        "deliveries": [d for d in intel_doc.get("deliveries") or [] if d.get("host") in hosts],
        "c2": [c for c in c2 if c["hosts"]],
    }


def _ts(a: dict[str, Any]) -> str:
    return str(a.get("ts") or "")


def outbreak_incident(
    tree: Tree,
    alerts: list[dict[str, Any]],
    lockouts: list[dict[str, Any]],
    initial_access: list[dict[str, Any]],
    families: dict[str, list[str]],
    intel_doc: dict[str, Any] | None,
    routine: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> dict[str, Any]:
    """The INCIDENT of one tree (docs/formats.md); ``alerts`` are those fused into it. A host that
    a copy alert names only as the target of a routine push (``routine``: (deployer, target) of
    :func:`wormsign.graph.deploy.routine_pairs`) is not under attack."""
    infected = set(tree.graph.nodes)
    edges = [edge_doc(e) for e in tree.edges]
    by_target = {e["target"]: e for e in edges}
    gens = tree.generations()
    gen_of = {h: i for i, g in enumerate(gens) for h in g}
    for a in alerts:
        if a["rule"] in ("remote-exec", "smb-exploit-spread"):
            for t in a.get("target_hosts") or []:
                if t in by_target and a.get("source_host") == by_target[t]["source"]:
                    by_target[t]["alerts"].append(a["id"])

    attacked: set[str] = set()
    compromised: set[str] = {e["account"] for e in edges if e.get("account")}
    c2: dict[tuple[str, Any], dict[str, Any]] = {}
    deliveries: list[dict[str, Any]] = []
    for a in alerts:
        f = a.get("fields") or {}
        if a["rule"] in ("bruteforce", "spray", "smb-exploit-spread"):
            attacked.update(h for h in a.get("target_hosts") or [] if h not in infected)
        if a["rule"] in ("admin-share-copy", "spreader-fanout"):
            src = a.get("source_host")
            attacked.update(h for h in a.get("target_hosts") or [] if h not in infected and (src, h) not in routine)
        if a["rule"] == "bruteforce" and f.get("success") and f.get("account"):
            compromised.add(str(f["account"]))
        if a["rule"] == "beacon" and a["host"] in infected:
            for key in beacon_addresses(f):
                c = c2.setdefault(key, {"address": key[0], "port": key[1], "family": None, "hosts": []})
                c["hosts"] = sorted(set(c["hosts"]) | {a["host"]})
        if a["rule"] == "loader-payload" and a["host"] in infected:
            deliveries.append({"from_family": f.get("writer"), "to_family": f.get("payload"), "host": a["host"],
                               "ts": a["ts"], "ref": (a.get("evidence") or [None])[-1]})
    attacked -= infected

    hosts: list[dict[str, Any]] = []
    for h in sorted(infected, key=lambda h: (gen_of.get(h, 99), tree.infected_at.get(h) or datetime.max.replace(tzinfo=UTC), h)):
        e = by_target.get(h)
        hosts.append({
            "host": h, "state": "infected", "infected_at": iso(tree.infected_at.get(h)),
            "infector": e["source"] if e else None, "generation": gen_of.get(h),
            "technique": "+".join(([] if not e else ["admin-share-copy"] if e["file"] else []) + ([e["method"]] if e else ["initial-access"])),
            "families": families.get(h, []), "hashes": sorted({x["file"]["sha256"] for x in edges if x["target"] == h and x["file"] and x["file"]["sha256"]}),
        })
    hosts += [{"host": h, "state": "attacked", "infected_at": None, "infector": None, "generation": None,
               "technique": None, "families": families.get(h, []), "hashes": []} for h in sorted(attacked)]

    fam_doc = _only(intel_doc or {}, infected)
    named = {(str(c.get("address")), c.get("port")): c for c in fam_doc.get("c2", [])}  # intel names the family
    c2_list = list(named.values()) + [c for k, c in c2.items() if k not in named]
    locked = sorted(lockouts, key=lambda x: x["ts"] or "")
    times = [t for t in [iso(t) for t in tree.infected_at.values()] + [a["first_seen"] for a in alerts] if t]
    # The first alert raised once the outbreak began (a long-running alert fused for its later
    # part does not date the outbreak's detection before patient zero was infected).
    began = iso(min(tree.infected_at.values())) if tree.infected_at else ""
    first_alert = min((a["ts"] for a in alerts if a.get("ts") and a["ts"] >= (began or "")), default=None)
    cont = containment(tree)
    return {
        "type": "outbreak",
        "title": f"Outbreak from {tree.root}: {len(infected)} hosts infected over {len(gens)} generations",
        "severity": "critical",
        "first_seen": min(times) if times else None, "last_seen": max(times) if times else None,
        "first_alert": first_alert,
        "patient_zero": tree.root, "initial_access": initial_access,
        "hosts": hosts, "edges": edges, "generations": gens,
        "spread_rate_per_hour": spread_rate(tree), "r_estimate": r_estimate(tree),
        "under_attack": sorted(attacked),
        "accounts": {"compromised": sorted(compromised), "locked": locked},
        "families": fam_doc.get("families", []),
        "deliveries": fam_doc.get("deliveries") or deliveries,
        "c2": c2_list,
        "containment": cont,
        "files": file_tree(tree.root, edges, initial_access),
        "next_hops": [],  # wormsign.graph.hops, from the case (hunt.py)
        "actions": {
            "isolate": [c["host"] for c in cont],
            "reset_credentials": sorted(compromised | {x["account"] for x in locked}),
            "mfa": sorted(compromised),
            "block": sorted({f"{c['address']}:{c['port']}" if c.get("port") else str(c["address"]) for c in c2_list}),
        },
        "alerts": sorted({a["id"] for a in alerts}),
    }
