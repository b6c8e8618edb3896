"""truth.json (docs/formats.md) and the threat intel a responder would have (Feodo CSV, hash list)."""

from __future__ import annotations

import os
from typing import Any

import orjson

from wormsign.simulate.plan import Plan
from wormsign.simulate.util import iso_us, rng
from wormsign.simulate.worm import config

FORMAT = "wormsign.truth/1"
_FEODO_NAMES = {"emotet": "Emotet", "qakbot": "QakBot"}


def truth(plan: Plan, *, hosts: int, days: int, attack_ids: list[str]) -> dict[str, Any]:
    org = plan.org
    return {
        "format": FORMAT,
        "scenario": plan.scenario,
        "seed": plan.seed,
        "hosts": hosts,
        "days": days,
        "start": iso_us(org.start),
        "end": iso_us(org.end),
        "domain": org.domain,
        "patient_zero": plan.patient_zero,
        "infections": plan.truth_infections(),
        "attack_event_ids": attack_ids,
        "lockouts": sorted(plan.lockouts, key=lambda x: (x["time"], x["account"])),
        "c2": {k: list(v) for k, v in sorted(plan.c2.items())},
        "deliveries": plan.deliveries,
        "attacked": sorted(plan.attacked - set(plan.infections)),
        "hashes": {k: sorted(v) for k, v in sorted(plan.hashes.items())},
        "sources": sorted(plan.sources),
    }


def write_truth(path: str, doc: dict[str, Any]) -> None:
    with open(path, "wb") as fh:
        fh.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


def write_feeds(out: str, plan: Plan) -> None:
    """``feeds/feodo_ipblocklist.csv`` (abuse.ch Feodo Tracker layout) and ``feeds/hashes.txt``."""
    d = os.path.join(out, "feeds")
    os.makedirs(d, exist_ok=True)
    r = rng(plan.seed, "feeds")
    end = iso_us(plan.org.end)
    rows: list[tuple[str, str, str, str]] = []
    for fam, addrs in sorted(plan.c2.items()):
        for a in addrs:
            ip, port = a.rsplit(":", 1)
            rows.append((ip, port, _FEODO_NAMES.get(fam, fam), "online" if r.random() < 0.7 else "offline"))
    for name, ip, port in config()["decoy_c2"]:
        rows.append((ip, str(port), name, "offline"))
    lines = [
        "################################################################",
        "# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #",
        f"# Last updated: {end[:10]} {end[11:19]} UTC                        #",
        "#                                                              #",
        "# Terms Of Use: https://feodotracker.abuse.ch/blocklist/       #",
        "# For questions please contact feodotracker [at] abuse.ch      #",
        "################################################################",
        "#",
        '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"',
    ]
    for ip, port, fam, status in rows:
        seen = iso_us(plan.org.start - r.randrange(2 * 86_400_000, 200 * 86_400_000))
        first = f"{seen[:10]} {seen[11:19]}"
        lines.append(f'"{first}","{ip}","{port}","{status}","{end[:10]}","{fam}"')
    lines.append(f'#"END" {len(rows)} entries')
    with open(os.path.join(d, "feodo_ipblocklist.csv"), "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "hashes.txt"), "w", encoding="utf-8", newline="\n") as fh:
        for fam, shas in sorted(plan.hashes.items()):
            for s in sorted(shas):
                fh.write(f"{s},{fam}\n")
