"""A large outbreak view (schema of docs/formats.md, ``wormsign.view/1``) for the graph's scale
tests and bench/bench_render.py: exact host counts, files with hashes, two families, several
techniques, attacked hosts in subnets. Deterministic for a seed.

The simulator's WannaCry reaches thousands of hosts, but its edges carry no file hash today;
this view has what the filters need, at any size, in milliseconds.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from wormsign.report.view import settings

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
METHODS = {
    "service": ["T1021.002", "T1570", "T1569.002"],
    "scheduled-task": ["T1021.002", "T1053.005"],
    "wmi": ["T1047"],
    "smb-exploit": ["T1210"],
}


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def outbreak_view(hosts: int, *, seed: int = 1, infected_share: float = 0.55) -> dict[str, Any]:
    """A view of one outbreak over ``hosts`` hosts: infected (a tree from ws-00000) and attacked."""
    r = random.Random(seed)
    names = [f"ws-{i:05d}" for i in range(hosts)]
    addresses = {h: f"10.{20 + i // 60000}.{(i // 250) % 240}.{1 + i % 250}" for i, h in enumerate(names)}
    n_inf = max(1, int(hosts * infected_share))
    order = [names[0]] + r.sample(names[1:], n_inf - 1)
    hashes = [f"{r.getrandbits(256):064x}" for _ in range(6)]
    t_of = {order[0]: START}
    gen_of = {order[0]: 0}
    fam_of: dict[str, list[str]] = {order[0]: ["emotet"]}
    host_docs = [
        {"host": order[0], "state": "infected", "infected_at": iso(START), "infector": None, "generation": 0,
         "technique": "initial-access", "families": ["emotet"], "hashes": []}
    ]
    edges = []
    for k, target in enumerate(order[1:], start=1):
        # Each new host is infected by a recent one: a bushy tree a few dozen generations deep at most.
        source = order[r.randrange(max(0, k - 40 - k // 3), k)]
        t = max(t_of[source], START + timedelta(seconds=k * 20)) + timedelta(seconds=r.randint(5, 600))
        method = r.choice(sorted(METHODS))
        sha = hashes[min(len(hashes) - 1, k * len(hashes) // n_inf)] if method != "smb-exploit" else None
        fams = ["emotet"] + (["qakbot"] if r.random() < 0.3 else [])
        t_of[target], gen_of[target], fam_of[target] = t, gen_of[source] + 1, fams
        edges.append({
            "source": source, "target": target, "ts": iso(t), "techniques": METHODS[method], "method": method,
            "file": {"name": "svc.exe", "path": "C:\\Windows\\svc.exe", "sha256": sha} if sha else None,
            "account": "CORP\\svc_backup", "evidence": [], "alerts": [],
        })
        host_docs.append({
            "host": target, "state": "infected", "infected_at": iso(t), "infector": source,
            "generation": gen_of[target], "technique": method, "families": fams,
            "hashes": [sha] if sha else [],
        })
    attacked = sorted(set(names) - set(order))
    host_docs += [
        {"host": h, "state": "attacked", "infected_at": None, "infector": None, "generation": None,
         "technique": None, "families": [], "hashes": []}
        for h in attacked
    ]
    gens: dict[int, list[str]] = {}
    for h, g in gen_of.items():
        gens.setdefault(g, []).append(h)
    last = max(t_of.values())
    incident = {
        "id": "INC-0001", "type": "outbreak", "title": f"Outbreak from {order[0]}: {n_inf} hosts infected",
        "severity": "critical", "first_seen": iso(START), "last_seen": iso(last), "first_alert": iso(START),
        "patient_zero": order[0], "initial_access": [], "hosts": host_docs, "edges": edges,
        "generations": [sorted(gens[g]) for g in sorted(gens)],
        "spread_rate_per_hour": 1.0, "r_estimate": 1.0,
        "under_attack": attacked, "accounts": {"compromised": [], "locked": []},
        "families": [{"family": "emotet", "hosts": n_inf, "c2": []},
                     {"family": "qakbot", "hosts": 0, "c2": []}],
        "deliveries": [], "c2": [], "containment": [], "actions": {}, "alerts": [],
    }
    return {
        "format": "wormsign.view/1",
        "case": {"name": f"synthetic-{hosts}", "events": 0, "hosts": hosts, "sources": 0,
                 "first": iso(START), "last": iso(last)},
        "hunt": {"format": "wormsign.incidents/1", "generator": "tests/web/big_outbreak.py",
                 "generated_at": iso(START)},
        "incidents": [incident], "alerts": [], "attack": {"T1210": "Exploitation of Remote Services"},
        "colours": settings()["colours"], "addresses": addresses, "evidence": {},
    }
