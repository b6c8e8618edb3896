"""STIX 2.1 bundles in and out, with the ``stix2`` package: indicators, malware, C2 infrastructure, sightings."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import stix2
from stix2patterns.pattern import Pattern

from wormsign.intel.indicators import HASH_TYPES, Indicator, IndicatorError, make

Row = tuple[int, Indicator | str]

#: Namespace of the deterministic ids this module gives exported objects.
_NS = uuid.UUID("5d1c07a4-6f0e-4a55-9d52-8b4f0a3c2e11")
_HASH_KEYS = {"SHA-256": "sha256", "SHA-1": "sha1", "MD5": "md5"}
_NETWORK = ("ip", "ip_port", "domain", "url")


def _id(kind: str, *key: object) -> str:
    return f"{kind}--{uuid.uuid5(_NS, '|'.join(str(k) for k in key))}"


def _lit(v: str) -> str:
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern(ind: Indicator) -> str:
    """The STIX pattern of an indicator."""
    t, v = ind.type, ind.value
    if t == "ip":
        return f"[{'ipv6' if ':' in v else 'ipv4'}-addr:value = {_lit(v)}]"
    if t == "ip_port":
        kind = "ipv6-addr" if ":" in (ind.ip or "") else "ipv4-addr"
        return (
            f"[network-traffic:dst_ref.type = '{kind}' AND network-traffic:dst_ref.value = {_lit(ind.ip or '')}"
            f" AND network-traffic:dst_port = {int(ind.port or 0)}]"
        )
    if t == "domain":
        return f"[domain-name:value = {_lit(v)}]"
    if t == "url":
        return f"[url:value = {_lit(v)}]"
    if t in HASH_TYPES:
        key = {v2: k for k, v2 in _HASH_KEYS.items()}[t]
        return f"[file:hashes.'{key}' = {_lit(v)}]"
    key = "SHA-1" if t == "cert_sha1" else "SHA-256"
    return f"[x509-certificate:hashes.'{key}' = {_lit(v)}]"


def _unlit(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] == "'":
        s = s[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return s


def parse_pattern(text: str) -> list[tuple[str, str]]:
    """(type, value) of each indicator an equality pattern names; others are ignored."""
    comps = Pattern(text).inspect().comparisons
    out: list[tuple[str, str]] = []
    for obj, items in comps.items():
        eq = [
            (".".join(p for p in path if isinstance(p, str)), _unlit(val))
            for path, op, val in items
            if op == "="
        ]
        if obj in ("ipv4-addr", "ipv6-addr"):
            out += [("ip", v) for p, v in eq if p == "value"]
        elif obj == "domain-name":
            out += [("domain", v) for p, v in eq if p == "value"]
        elif obj == "url":
            out += [("url", v) for p, v in eq if p == "value"]
        elif obj in ("file", "x509-certificate"):
            for p, v in eq:
                key = _HASH_KEYS.get(p.removeprefix("hashes."))
                if key and p.startswith("hashes."):
                    out.append((key if obj == "file" else f"cert_{key}", v))
        elif obj == "network-traffic":
            ips = [v for p, v in eq if p == "dst_ref.value"]
            ports = [v for p, v in eq if p == "dst_port"]
            if len(ips) == 1 and len(ports) == 1:
                out.append(("ip_port", f"{ips[0]}:{ports[0]}"))
            else:
                out += [("ip", v) for v in ips]
    return out


def read_bundle(
    text: str, *, source: str, family: str | None = None, incident: str | None = None
) -> Iterator[Row]:
    """Indicators of a STIX 2.1 bundle; the family comes from ``indicates`` relationships to malware."""
    try:
        # orjson first: strict UTF-8 (a lone surrogate such as "\ud800" is refused), bounded depth.
        bundle = stix2.parse(orjson.loads(text), allow_custom=True, version="2.1")
    except Exception as exc:  # noqa: BLE001 - stix2 raises many unrelated types for bad input
        yield 1, f"not a valid STIX 2.1 bundle: {str(exc)[:300]}"
        return
    # Objects of custom types come back as plain dicts (allow_custom): none of them is read.
    objects = [None if isinstance(o, dict) else o for o in getattr(bundle, "objects", None) or []]
    names = {o.id: o.name for o in objects if o is not None and o.type == "malware" and o.get("name")}
    fam_of: dict[str, str] = {}
    for o in objects:
        if o is None or o.type != "relationship":
            continue
        if o.relationship_type == "indicates" and o.target_ref in names:
            fam_of.setdefault(o.source_ref, names[o.target_ref])
    for n, o in enumerate(objects, 1):
        if o is None or o.type != "indicator":
            continue
        where = str(o.id)
        if o.get("pattern_type", "stix") != "stix":
            yield n, f"{where}: pattern type {o.pattern_type!r} is not read"
            continue
        fam = fam_of.get(o.id) or family
        if not fam:
            yield n, f"{where}: no family (no 'indicates' relationship to a malware, and no --family)"
            continue
        try:
            found = parse_pattern(o.pattern)
        except Exception as exc:  # noqa: BLE001 - the pattern grammar raises its own error types
            yield n, f"{where}: unreadable pattern: {str(exc)[:200]}"
            continue
        if not found:
            yield n, f"{where}: the pattern names no indicator wormsign reads"
        for t, v in found:
            try:
                yield (
                    n,
                    make(
                        t,
                        v,
                        family=fam,
                        source=source,
                        first_seen=_dt(o.get("valid_from")),
                        incident=incident,
                    ),
                )
            except IndicatorError as exc:
                yield n, f"{where}: {exc}"


def _dt(v: Any) -> datetime | None:
    if v is None:
        return None
    return datetime.fromisoformat(str(v)).astimezone(UTC)


def build_bundle(
    indicators: Iterable[Indicator],
    *,
    sightings: Iterable[dict[str, Any]] = (),
    deliveries: Iterable[dict[str, Any]] = (),
) -> stix2.Bundle:
    """A bundle of malware (one per family), indicators, C2 infrastructure, deliveries and sightings.

    ``sightings`` are ``{host, type, value, family, count, first_seen, last_seen}`` dicts;
    ``deliveries`` are ``{from_family, to_family, host, ts}``.
    """
    objs: dict[str, Any] = {}
    inds, deliveries = list(indicators), list(deliveries)
    now = datetime.now(UTC)
    for fam in sorted(
        {i.family for i in inds} | {d[k] for d in deliveries for k in ("from_family", "to_family")}
    ):
        objs[_id("malware", fam)] = stix2.Malware(id=_id("malware", fam), name=fam, is_family=True)
    for ind in inds:
        mid, iid = _id("malware", ind.family), _id("indicator", ind.type, ind.value, ind.family)
        if iid in objs:
            continue
        objs[iid] = stix2.Indicator(
            id=iid,
            name=f"{ind.family} {ind.type} {ind.value}"[:300],
            pattern=pattern(ind),
            pattern_type="stix",
            valid_from=ind.first_seen or now,
            indicator_types=["malicious-activity"],
        )
        rid = _id("relationship", iid, "indicates", mid)
        objs[rid] = stix2.Relationship(id=rid, source_ref=iid, relationship_type="indicates", target_ref=mid)
        if ind.type in _NETWORK:
            _infrastructure(objs, ind)
    for d in deliveries:
        a, b = _id("malware", d["from_family"]), _id("malware", d["to_family"])
        rid = _id("relationship", a, "drops", b)
        objs.setdefault(
            rid,
            stix2.Relationship(
                id=rid,
                source_ref=a,
                relationship_type="drops",
                target_ref=b,
                description=f"{d['from_family']} delivered {d['to_family']} (first seen on {d['host']} at {d['ts']})",
            ),
        )
    for s in sightings:
        hid = _id("identity", "host", s["host"])
        objs.setdefault(hid, stix2.Identity(id=hid, name=s["host"], identity_class="system"))
        iid = _id("indicator", s["type"], s["value"], s["family"])
        if iid not in objs:
            continue
        sid = _id("sighting", iid, hid)
        objs[sid] = stix2.Sighting(
            id=sid,
            sighting_of_ref=iid,
            where_sighted_refs=[hid],
            count=max(1, int(s.get("count") or 1)),
            first_seen=s.get("first_seen") or None,
            last_seen=s.get("last_seen") or None,
        )
    return stix2.Bundle(objects=list(objs.values()))


def _infrastructure(objs: dict[str, Any], ind: Indicator) -> None:
    fam = ind.family
    infra, mid = _id("infrastructure", fam, "c2"), _id("malware", fam)
    if infra not in objs:
        objs[infra] = stix2.Infrastructure(
            id=infra, name=f"{fam} C2", infrastructure_types=["command-and-control"]
        )
        rid = _id("relationship", mid, "beacons-to", infra)
        objs[rid] = stix2.Relationship(
            id=rid, source_ref=mid, relationship_type="beacons-to", target_ref=infra
        )
    if ind.type == "url":
        sco: Any = stix2.URL(value=ind.value)
    elif ind.type == "domain":
        sco = stix2.DomainName(value=ind.value)
    else:
        ip = ind.ip or ind.value
        sco = stix2.IPv6Address(value=ip) if ":" in ip else stix2.IPv4Address(value=ip)
    objs.setdefault(sco.id, sco)
    rid = _id("relationship", infra, "consists-of", sco.id)
    objs.setdefault(
        rid, stix2.Relationship(id=rid, source_ref=infra, relationship_type="consists-of", target_ref=sco.id)
    )


def incident_techniques(inc: dict[str, Any]) -> list[str]:
    """The ATT&CK techniques an incident cites (its edges and initial-access steps), in order."""
    seen: dict[str, None] = {}
    for e in inc.get("edges") or []:
        for t in e.get("techniques") or []:
            if isinstance(t, str):
                seen.setdefault(t.strip().upper(), None)
    for s in inc.get("initial_access") or []:
        for t in s.get("attack") or []:
            if isinstance(t, str):
                seen.setdefault(t.strip().upper(), None)
    return [t for t in seen if t]


def add_incident(bundle: stix2.Bundle, inc: dict[str, Any]) -> stix2.Bundle:
    """The bundle with the incident itself: an Incident (title, severity, span, patient zero in its
    description), an attack-pattern per ATT&CK technique it cites (``mitre-attack`` external id),
    an Identity per host, and ``related-to`` relationships from the incident to each of them and
    to the bundle's indicators and malware; the indicators' sightings are kept."""
    from wormsign.intel.attack import technique_name

    objs: dict[str, Any] = {o.id: o for o in bundle.objects}
    key = (inc.get("id"), inc.get("type"), inc.get("first_seen"))
    iid = _id("incident", *key)
    hosts = [str(h.get("host")) for h in inc.get("hosts") or [] if isinstance(h, dict) and h.get("host")]
    desc = (
        f"{inc.get('type')} incident {inc.get('id')}, severity {inc.get('severity')}, "
        f"{inc.get('first_seen')} to {inc.get('last_seen')}, {len(hosts)} hosts"
        + (f", patient zero {inc['patient_zero']}" if inc.get("patient_zero") else "")
    )
    objs[iid] = stix2.Incident(
        id=iid,
        name=str(inc.get("title") or inc.get("id") or "wormsign incident")[:300],
        description=desc,
        labels=[f"severity:{inc.get('severity') or 'unknown'}", f"type:{inc.get('type') or 'unknown'}"],
        external_references=[{"source_name": "wormsign", "external_id": str(inc.get("id"))}],
    )
    related = [o.id for o in bundle.objects if o.type in ("indicator", "malware", "infrastructure")]
    for tid in incident_techniques(inc):
        aid = _id("attack-pattern", tid)
        url = "https://attack.mitre.org/techniques/" + tid.replace(".", "/") + "/"
        objs[aid] = stix2.AttackPattern(
            id=aid,
            name=technique_name(tid) or tid,
            external_references=[{"source_name": "mitre-attack", "external_id": tid, "url": url}],
        )
        related.append(aid)
    for h in hosts:
        hid = _id("identity", "host", h)
        objs.setdefault(hid, stix2.Identity(id=hid, name=h, identity_class="system"))
        related.append(hid)
    for target in dict.fromkeys(related):
        rid = _id("relationship", iid, "related-to", target)
        objs[rid] = stix2.Relationship(id=rid, source_ref=iid, relationship_type="related-to", target_ref=target)
    return stix2.Bundle(objects=list(objs.values()))
