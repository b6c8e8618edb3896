"""``intel export``: a family's or an incident's indicators as STIX 2.1, MISP event JSON, or a CSV blocklist.

With a case's :class:`~wormsign.intel.match.Attribution`, the export also carries where the
indicators were seen (STIX sightings on host identities, MISP comments) and the deliveries
between families (STIX ``drops`` relationships).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import stix2

from wormsign import text
from wormsign.intel import mispio, stixio
from wormsign.intel.indicators import CERT_TYPES, Indicator

FORMATS: tuple[str, ...] = ("stix", "misp", "csv")
CSV_COLUMNS: tuple[str, ...] = ("value", "family", "type", "first_seen", "last_seen", "source")
#: First characters that make a spreadsheet read a cell as a formula (feeds.plain_list reads the same set).
FORMULA_START: tuple[str, ...] = text.FORMULA_START


def cell(v: str) -> str:
    """A CSV cell a spreadsheet shows as text and a terminal shows escaped: feed values are
    attacker-written, so a cell that would start a formula gets a leading ``'`` (the plain-list
    reader takes it off again), and control characters are escaped (:func:`wormsign.text.csv_cell`)."""
    return text.csv_cell(v)


def sightings(attribution: Any | None) -> list[dict[str, Any]]:
    """``{host, family, type, value, count, first_seen, last_seen}`` for every indicator seen on a host."""
    if attribution is None:
        return []
    out = []
    for host, fams in sorted(attribution.hosts.items()):
        for hf in fams:
            for ind in hf.indicators:
                out.append(
                    {
                        "host": host,
                        "family": hf.family,
                        "type": ind["type"],
                        "value": ind["value"],
                        "count": ind["count"],
                        "first_seen": ind["first_seen"],
                        "last_seen": ind["last_seen"],
                    }
                )
    return out


def merge(indicators: Iterable[Indicator]) -> list[Indicator]:
    """One indicator per (type, value, family): the widest seen range, the sources joined."""
    acc: dict[tuple[str, str, str], Indicator] = {}
    for i in indicators:
        key = (i.type, i.value, i.family)
        old = acc.get(key)
        if old is None:
            acc[key] = i
            continue
        firsts = [t for t in (old.first_seen, i.first_seen) if t is not None]
        lasts = [t for t in (old.last_seen, i.last_seen) if t is not None]
        sources = sorted(set(old.source.split(";")) | {i.source})
        acc[key] = old.with_(
            first_seen=min(firsts, default=None),
            last_seen=max(lasts, default=None),
            source=";".join(sources)[:256],
            asn=old.asn or i.asn,
            as_name=old.as_name or i.as_name,
        )
    return list(acc.values())


def _observed(indicators: list[Indicator], attribution: Any | None) -> list[Indicator]:
    """Merged; with an attribution, only the indicators the case saw."""
    indicators = merge(indicators)
    if attribution is None:
        return indicators
    seen = {(s["type"], s["value"], s["family"]) for s in sightings(attribution)}
    return [i for i in indicators if (i.type, i.value, i.family) in seen]


def to_stix(indicators: Iterable[Indicator], attribution: Any | None = None,
            incident: dict[str, Any] | None = None) -> str:
    """A STIX 2.1 bundle (JSON text) that parses back with ``stix2.parse(allow_custom=False)``;
    with ``incident``, the Incident, its attack-patterns and hosts too (stixio.add_incident)."""
    inds = _observed(list(indicators), attribution)
    deliveries = [d.to_dict() for d in attribution.deliveries] if attribution is not None else []
    bundle = stixio.build_bundle(inds, sightings=sightings(attribution), deliveries=deliveries)
    if incident is not None:
        bundle = stixio.add_incident(bundle, incident)
    text = bundle.serialize(pretty=True)
    stix2.parse(text, allow_custom=False, version="2.1")  # refuse to write what does not validate
    return str(text)


def to_misp(indicators: Iterable[Indicator], *, info: str, attribution: Any | None = None,
            incident: dict[str, Any] | None = None) -> str:
    """A MISP event, as MISP writes it (``{"Event": {...}}``); with ``incident``, tagged with its
    ATT&CK techniques (MISP's mitre-attack-pattern galaxy)."""
    inds = _observed(list(indicators), attribution)
    ev = mispio.build_event(inds, info=info, sightings=sightings(attribution))
    if incident is not None:
        ev = mispio.add_incident(ev, incident)
    return mispio.event_json(ev)


def to_csv(indicators: Iterable[Indicator], attribution: Any | None = None) -> str:
    """A blocklist of C2 addresses, domains, URLs and file hashes, one a row (re-importable as a list)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for i in _observed(list(indicators), attribution):
        if i.type in CERT_TYPES:
            continue
        w.writerow(
            [cell(v) for v in (i.value, i.family, i.type, _iso(i.first_seen), _iso(i.last_seen), i.source)]
        )
    return buf.getvalue()


def _iso(v: Any) -> str:
    return v.isoformat().replace("+00:00", "Z") if v is not None else ""


def export(
    fmt: str,
    indicators: Iterable[Indicator],
    *,
    info: str = "wormsign export",
    attribution: Any | None = None,
    incident: dict[str, Any] | None = None,
) -> str:
    """The export in one of :data:`FORMATS` (``incident``: a hunt's incident, for STIX and MISP)."""
    if fmt == "stix":
        return to_stix(indicators, attribution, incident)
    if fmt == "misp":
        return to_misp(indicators, info=info, attribution=attribution, incident=incident)
    if fmt == "csv":
        return to_csv(indicators, attribution)
    raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
