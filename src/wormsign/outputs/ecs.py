"""Alerts as ECS documents (``event.kind: alert``), for Elasticsearch, Kibana or any ECS consumer.

One document per alert::

    @timestamp            the alert's time (its first evidence)
    event.kind            alert; event.category/type from settings.yaml
    event.id              the alert's id in this hunt (ALR-000001)
    event.severity        the level as a number (settings.yaml), event.risk_score the same
    event.start/end       the span of its evidence; event.created: when the hunt ran
    rule.id/name/ruleset  the detection (a Sigma rule's own id), its title, wormsign or sigma
    rule.description      the alert's plain-language summary (also message)
    threat.*              MITRE ATT&CK: technique and sub-technique ids, names, references;
                          the tactics of the Sigma rule, else of the techniques
    host.name             where it was seen; source.address (and source.ip when the host is an
                          address, or the record gave one) the host that acted
    related.hosts/ip/user every host, address and account the alert names
    wormsign.*            what ECS has no field for: the incident (id, type, severity, title,
                          key), the alert's key, target hosts, evidence references

Every field name and type is checked against the ECS field definitions in tests/outputs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from wormsign import __version__
from wormsign.intel.attack import tactics as technique_tactics
from wormsign.intel.attack import technique_name
from wormsign.outputs.findings import Findings, alert_key, incident_key, level, settings

#: Evidence references an ECS document lists (the rest are counted).
MAX_EVIDENCE = 100
#: Target hosts listed.
MAX_TARGETS = 200
#: An ECS keyword longer than this is not indexed by the ECS templates (``ignore_above``).
MAX_KEYWORD = 1024


def _kw(value: Any) -> str:
    return str(value)[:MAX_KEYWORD]


def _ip(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        return None


def _threat(alert: dict[str, Any]) -> dict[str, Any] | None:
    conf = settings()["ecs"]
    ids = [t.strip().upper() for t in alert.get("attack") or [] if isinstance(t, str) and t.strip()]
    if not ids:
        return None
    parents = list(dict.fromkeys(t.split(".", 1)[0] for t in ids))
    subs = [t for t in dict.fromkeys(ids) if "." in t]
    url = conf["technique_url"]
    technique: dict[str, Any] = {
        "id": parents,
        "name": [technique_name(t) or t for t in parents],
        "reference": [url.format(path=t) for t in parents],
    }
    if subs:
        technique["subtechnique"] = {
            "id": subs,
            "name": [technique_name(t) or t for t in subs],
            "reference": [url.format(path=t.replace(".", "/")) for t in subs],
        }
    names = alert.get("tactics") or [x for t in ids for x in technique_tactics(t)]
    known = conf["tactics"]
    short = [n for n in dict.fromkeys(str(n).lower() for n in names) if n in known]
    threat: dict[str, Any] = {"framework": conf["framework"], "technique": technique}
    if short:
        threat["tactic"] = {
            "id": [known[n][0] for n in short],
            "name": [known[n][1] for n in short],
            "reference": [f"https://attack.mitre.org/tactics/{known[n][0]}/" for n in short],
        }
    return threat


def alert_document(alert: dict[str, Any], incident: dict[str, Any] | None, created: str | None) -> dict[str, Any]:
    """The ECS document of one alert (and the incident it belongs to, if any)."""
    conf = settings()
    lvl = level(alert.get("severity"))
    rule = str(alert.get("rule") or "unknown")
    is_sigma = rule.startswith("sigma:")
    fields = alert.get("fields") if isinstance(alert.get("fields"), dict) else {}
    host = alert.get("host")
    src = alert.get("source_host")
    targets = [t for t in alert.get("target_hosts") or [] if isinstance(t, str)]
    evidence = [r for r in alert.get("evidence") or [] if isinstance(r, str)]
    event: dict[str, Any] = {
        "kind": "alert",
        "category": list(conf["ecs"]["category"]),
        "type": list(conf["ecs"]["type"]),
        "id": _kw(alert.get("id")),
        "severity": int(conf["severity"][lvl]),
        "risk_score": float(conf["severity"][lvl]),
        "module": "wormsign",
        "dataset": "wormsign.alerts",
        "provider": "wormsign",
    }
    for k, v in (("start", alert.get("first_seen")), ("end", alert.get("last_seen")), ("created", created)):
        if v:
            event[k] = str(v)
    doc: dict[str, Any] = {
        "@timestamp": str(alert.get("ts") or alert.get("first_seen")),
        "ecs": {"version": str(conf["ecs"]["version"])},
        "message": str(alert.get("summary") or alert.get("title") or rule),
        "event": event,
        "rule": {
            "id": _kw(rule.split(":", 1)[1] if is_sigma else rule),
            "name": _kw(alert.get("title") or rule),
            "ruleset": conf["ecs"]["ruleset"]["sigma" if is_sigma else "default"],
            "description": str(alert.get("summary") or ""),
            "category": "sigma" if is_sigma else rule,
        },
        "observer": {"vendor": "wormsign", "product": "wormsign", "version": __version__, "type": "ids"},
        "tags": ["wormsign", lvl],
    }
    threat = _threat(alert)
    if threat:
        doc["threat"] = threat
    if isinstance(host, str) and host:
        doc["host"] = {"name": _kw(host)}
        if _ip(host):
            doc["host"]["ip"] = [_ip(host)]
    source: dict[str, Any] = {}
    if isinstance(src, str) and src:
        source["address"] = _kw(src)
    src_ip = _ip(src) or _ip(fields.get("IpAddress"))
    if src_ip:
        source["ip"] = src_ip
    if source:
        doc["source"] = source
    users = [fields.get(k) for k in ("account", "SubjectUserName", "AccountName")]
    users = [u for u in dict.fromkeys(u for u in users if isinstance(u, str) and u and u != "-")]
    if isinstance(fields.get("account"), str) and fields["account"]:
        doc["user"] = {"name": _kw(fields["account"])}
    hosts = [h for h in dict.fromkeys([host, src, *targets]) if isinstance(h, str) and h and not _ip(h)]
    ips = [i for i in dict.fromkeys(_ip(h) for h in [host, src, *targets, fields.get("IpAddress")]) if i]
    related = {k: v for k, v in (("hosts", hosts[:MAX_TARGETS]), ("ip", ips[:MAX_TARGETS]),
                                 ("user", users)) if v}
    sha = fields.get("file.hash.sha256")
    if isinstance(sha, str) and len(sha) == 64:
        related["hash"] = [sha]
        doc["file"] = {"hash": {"sha256": sha}}
    if related:
        doc["related"] = {k: [_kw(x) for x in v] for k, v in related.items()}
    ws: dict[str, Any] = {
        "alert": {"id": _kw(alert.get("id")), "key": alert_key(alert), "rule": _kw(rule)},
        "target_hosts": [_kw(t) for t in targets[:MAX_TARGETS]],
        "evidence": evidence[:MAX_EVIDENCE],
        "evidence_count": len(evidence),
    }
    if incident is not None:
        ws["incident"] = {
            "id": _kw(incident.get("id")),
            "key": incident_key(incident),
            "type": _kw(incident.get("type")),
            "severity": level(incident.get("severity")),
            "title": _kw(incident.get("title")),
        }
    doc["wormsign"] = ws
    return doc


def documents(findings: Findings) -> Iterator[tuple[str, dict[str, Any]]]:
    """(alert key, ECS document) for every alert of the hunt."""
    for a in findings.alerts:
        yield alert_key(a), alert_document(a, findings.incident(a), findings.generated_at)
