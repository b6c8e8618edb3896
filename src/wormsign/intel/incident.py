"""An incident of a hunt's ``incidents.json`` as indicators and an attribution, ready for export.

The incident's ``c2`` entries become IP:port indicators seen on their hosts; a host's
``hashes`` become SHA-256 indicators of its family when it has exactly one; ``deliveries``
become deliveries. :mod:`wormsign.intel.export` then writes STIX, MISP or CSV from them.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from wormsign.ingest.base import parse_ts
from wormsign.intel.attribution import Attribution, HostFamily
from wormsign.intel.delivery import Delivery
from wormsign.intel.indicators import Indicator, IndicatorError, family, make

log = logging.getLogger(__name__)


def load_incident(path: str, incident_id: str) -> dict[str, Any]:
    """One incident of an ``incidents.json``, by id; ValueError naming the file when it is not there."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    for inc in doc.get("incidents") or []:
        if inc.get("id") == incident_id:
            return dict(inc)
    raise ValueError(f"{path}: no incident {incident_id!r}")


def from_incident(inc: dict[str, Any], *, source: str = "incident") -> tuple[list[Indicator], Attribution]:
    """The indicators of an incident and where they were seen."""
    attr = Attribution()
    when = parse_ts(inc.get("first_seen")) or datetime.now(UTC)
    src = f"{source}:{inc.get('id', '?')}"
    inds: list[Indicator] = []

    def seen(host: str, ind: Indicator) -> None:
        fams = attr.hosts.setdefault(host, [])
        hf = next((f for f in fams if f.family == ind.family), None)
        if hf is None:
            hf = HostFamily(host, ind.family, 1.0, when, when, [], {})
            fams.append(hf)
        hf.indicators.append(
            {
                "type": ind.type,
                "value": ind.value,
                "match": "incident",
                "count": 1,
                "first_seen": None,
                "last_seen": None,
            }
        )

    for c in inc.get("c2") or []:
        fam = family(c.get("family")) or "unknown"
        port = c.get("port")
        try:
            ind = make(
                "ip_port" if port else "ip",
                f"{c.get('address')}:{port}" if port else str(c.get("address")),
                family=fam,
                source=src,
                first_seen=when,
            )
        except IndicatorError as exc:
            log.warning("incident %s: C2 entry skipped: %s", inc.get("id"), exc)
            continue
        inds.append(ind)
        for h in c.get("hosts") or []:
            seen(str(h), ind)
    for h in inc.get("hosts") or []:
        fams = [f for f in (family(x) for x in h.get("families") or []) if f]
        if len(fams) != 1:
            continue  # which family a hash belongs to is not known
        for sha in h.get("hashes") or []:
            try:
                ind = make("sha256", str(sha), family=fams[0], source=src, first_seen=when)
            except IndicatorError as exc:
                log.warning("incident %s host %s: hash skipped: %s", inc.get("id"), h.get("host"), exc)
                continue
            inds.append(ind)
            seen(str(h.get("host")), ind)
    for d in inc.get("deliveries") or []:
        a, b, ts = family(d.get("from_family")), family(d.get("to_family")), parse_ts(d.get("ts"))
        if a and b and ts and d.get("host"):
            ref = str(d.get("ref") or "")
            attr.deliveries.append(
                Delivery(a, b, str(d["host"]), ts, ref, "incident", None, [ref] if ref else [])
            )
    return inds, attr
