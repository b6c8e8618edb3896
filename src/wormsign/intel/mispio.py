"""MISP event JSON in and out, with ``pymisp``: attributes by family, tagged, with first and last seen."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from pymisp import MISPAttribute, MISPEvent

from wormsign.intel.indicators import Indicator, IndicatorError, config, make

Row = tuple[int, Indicator | str]

#: MISP attribute type -> wormsign indicator type.
FROM_MISP = {
    "ip-dst|port": "ip_port",
    "ip-src|port": "ip_port",
    "ip-dst": "ip",
    "ip-src": "ip",
    "domain": "domain",
    "hostname": "domain",
    "url": "url",
    "link": "url",
    "sha256": "sha256",
    "sha1": "sha1",
    "md5": "md5",
    "x509-fingerprint-sha1": "cert_sha1",
    "x509-fingerprint-sha256": "cert_sha256",
}
TO_MISP = {
    "ip_port": "ip-dst|port",
    "ip": "ip-dst",
    "domain": "domain",
    "url": "url",
    "sha256": "sha256",
    "sha1": "sha1",
    "md5": "md5",
    "cert_sha1": "x509-fingerprint-sha1",
    "cert_sha256": "x509-fingerprint-sha256",
}
_CATEGORY = {"sha256": "Payload delivery", "sha1": "Payload delivery", "md5": "Payload delivery"}


def _tag_family(tags: Iterable[Any]) -> str | None:
    prefixes = tuple(config()["misp_family_tags"])
    for t in tags:
        name = str(getattr(t, "name", t) or "")
        key, eq, val = name.partition("=")
        if eq and key.strip() in prefixes:
            return val.strip().strip('"')
    return None


def read_event(
    text: str, *, source: str, family: str | None = None, incident: str | None = None
) -> Iterator[Row]:
    """Indicators of a MISP event (its attributes and its objects' attributes)."""
    ev = MISPEvent()
    try:
        data = orjson.loads(text)  # strict: a lone surrogate ("\ud800") is refused, not stored
        if isinstance(data, dict) and "response" in data and isinstance(data["response"], list):
            data = data["response"][0] if data["response"] else {}
        ev.load(data)
    except Exception as exc:  # noqa: BLE001 - pymisp raises its own and plain errors for bad events
        yield 1, f"not a MISP event: {str(exc)[:300]}"
        return
    event_family = _tag_family(ev.tags) or family
    attrs: list[MISPAttribute] = list(ev.attributes)
    for obj in ev.objects:
        attrs.extend(obj.attributes)
    for n, a in enumerate(attrs, 1):
        where = f"uuid {getattr(a, 'uuid', '?')}"
        t = FROM_MISP.get(str(getattr(a, "type", "")))
        if t is None:
            continue  # not an indicator type wormsign keeps (comment, text, ...)
        fam = _tag_family(a.tags) or event_family
        if not fam:
            yield n, f"{where}: no family (no family tag on the attribute or event, and no --family)"
            continue
        value = str(getattr(a, "value", "") or "")
        if t == "ip_port":
            value = value.replace("|", ":", 1) if "|" in value else value
        try:
            yield (
                n,
                make(
                    t,
                    value,
                    family=fam,
                    source=source,
                    first_seen=_dt(getattr(a, "first_seen", None)),
                    last_seen=_dt(getattr(a, "last_seen", None)),
                    incident=incident,
                ),
            )
        except IndicatorError as exc:
            yield n, f"{where}: {exc}"


def _dt(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
    return None


def build_event(
    indicators: Iterable[Indicator], *, info: str, sightings: Iterable[dict[str, Any]] = ()
) -> MISPEvent:
    """A MISP event with one tagged attribute per indicator; hosts that saw one are named in its comment."""
    seen: dict[tuple[str, str], list[str]] = {}
    for s in sightings:
        seen.setdefault((s["type"], s["value"]), []).append(s["host"])
    ev = MISPEvent()
    ev.info = info[:1000]
    ev.distribution = 0  # this organisation only, until a person decides otherwise
    ev.threat_level_id = 2
    ev.analysis = 2
    families = set()
    for ind in indicators:
        families.add(ind.family)
        value = f"{ind.ip}|{ind.port}" if ind.type == "ip_port" else ind.value
        hosts = sorted(set(seen.get((ind.type, ind.value), [])))
        comment = f"{ind.family} {ind.type} from {ind.source}" + (
            f"; seen on {', '.join(hosts[:20])}" if hosts else ""
        )
        kw: dict[str, Any] = {
            "category": _CATEGORY.get(ind.type, "Network activity"),
            "to_ids": True,
            "comment": comment[:1000],
        }
        if ind.first_seen:
            kw["first_seen"] = ind.first_seen
        if ind.last_seen and (ind.first_seen is None or ind.last_seen >= ind.first_seen):
            kw["last_seen"] = ind.last_seen
        kw["Tag"] = [{"name": f'wormsign:family="{ind.family}"'}]
        ev.add_attribute(TO_MISP[ind.type], value, **kw)
    if len(families) == 1:
        ev.add_tag(f'misp-galaxy:malpedia="{families.pop()}"')
    return ev


def add_incident(ev: MISPEvent, inc: dict[str, Any]) -> MISPEvent:
    """The event tagged with the incident's ATT&CK techniques, as MISP's ``mitre-attack-pattern``
    galaxy names its clusters (``misp-galaxy:mitre-attack-pattern="Name - T1021.002"``), and its
    severity as the event's threat level (critical and high 1, medium 2, low 3)."""
    from wormsign.intel.attack import technique_name
    from wormsign.intel.stixio import incident_techniques

    for tid in incident_techniques(inc):
        name = technique_name(tid)
        if name:
            ev.add_tag(f'misp-galaxy:mitre-attack-pattern="{name} - {tid}"')
    ev.threat_level_id = {"critical": 1, "high": 1, "medium": 2, "low": 3}.get(str(inc.get("severity")), 2)
    ev.add_tag(f'wormsign:incident="{inc.get("id")}"')
    return ev


def event_json(ev: MISPEvent) -> str:
    """The event as MISP writes it: ``{"Event": {...}}``."""
    return json.dumps({"Event": json.loads(ev.to_json())}, indent=2, sort_keys=True)
