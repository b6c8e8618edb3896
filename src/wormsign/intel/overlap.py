"""Compare C2 infrastructure between families or incidents, and cluster incidents that share it.

Each group (a family, or an incident) becomes a set per dimension: exact IP, IP:port, /24
network, ASN (where the feed gives it), domain and certificate hash. Every pair of groups gets
a Jaccard index and the shared values per dimension. Groups that share a value in one of the
``link_on`` dimensions (``intel.yaml``) are joined; clusters are the connected components.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any
from urllib.parse import urlsplit

import networkx as nx

from wormsign.intel.indicators import (
    CERT_TYPES,
    Indicator,
    IndicatorError,
    canon_ip,
    config,
    family,
    make,
    net24,
)

MAX_SHARED = 50  # shared values listed per pair and dimension (all are counted)

Sets = dict[str, set[str]]


def dimensions() -> list[str]:
    return list(config()["overlap"]["dimensions"])


def sets_of(indicators: Iterable[Indicator]) -> Sets:
    """The infrastructure sets of one group of indicators."""
    out: Sets = {d: set() for d in dimensions()}
    for i in indicators:
        if i.type in ("ip", "ip_port") and i.ip:
            out["ip"].add(i.ip)
            if (n := net24(i.ip)) is not None:
                out["net24"].add(n)
            if i.type == "ip_port":
                out["ip_port"].add(i.value)
        elif i.type == "domain":
            out["domain"].add(i.value)
        elif i.type == "url":
            host = (urlsplit(i.value).hostname or "").lower()
            if host and not _is_ip(host):
                out["domain"].add(host)
        elif i.type in CERT_TYPES:
            out["cert"].add(i.value)
        if i.asn is not None:
            out["asn"].add(f"AS{i.asn}")
    return out


def _is_ip(s: str) -> bool:
    try:
        canon_ip(s)
        return True
    except IndicatorError:
        return False


@dataclass(slots=True)
class PairOverlap:
    """How much two groups share, per dimension."""

    a: str
    b: str
    jaccard: dict[str, float]
    shared: dict[str, list[str]]
    shared_count: dict[str, int]

    @property
    def linked(self) -> bool:
        """True when the pair shares a value in a dimension that links incidents."""
        return any(self.shared_count.get(d) for d in config()["overlap"]["link_on"])


@dataclass(slots=True)
class OverlapReport:
    """Sizes per group, every pair's overlap, and the clusters of groups that share infrastructure."""

    by: str
    sizes: dict[str, dict[str, int]]
    pairs: list[PairOverlap] = field(default_factory=list)
    clusters: list[list[str]] = field(default_factory=list)

    def pair(self, a: str, b: str) -> PairOverlap | None:
        for p in self.pairs:
            if {p.a, p.b} == {a, b}:
                return p
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "sizes": self.sizes,
            "pairs": [asdict(p) | {"linked": p.linked} for p in self.pairs],
            "clusters": self.clusters,
        }


def jaccard(a: set[str], b: set[str]) -> float:
    """|A and B| / |A or B|; 0.0 when both are empty."""
    union = len(a | b)
    return round(len(a & b) / union, 4) if union else 0.0


def compare(groups: Mapping[str, Sets], *, by: str = "family") -> OverlapReport:
    """Every pair of groups compared on every dimension, and the linked clusters."""
    dims = dimensions()
    rep = OverlapReport(by, {g: {d: len(s.get(d, set())) for d in dims} for g, s in sorted(groups.items())})
    graph: nx.Graph[str] = nx.Graph()
    graph.add_nodes_from(sorted(groups))
    for a, b in combinations(sorted(groups), 2):
        sa, sb = groups[a], groups[b]
        shared = {d: sa.get(d, set()) & sb.get(d, set()) for d in dims}
        p = PairOverlap(
            a,
            b,
            jaccard={d: jaccard(sa.get(d, set()), sb.get(d, set())) for d in dims},
            shared={d: sorted(v)[:MAX_SHARED] for d, v in shared.items() if v},
            shared_count={d: len(v) for d, v in shared.items()},
        )
        rep.pairs.append(p)
        if p.linked:
            graph.add_edge(a, b)
    rep.clusters = sorted((sorted(c) for c in nx.connected_components(graph)), key=lambda c: (-len(c), c))
    return rep


def group_indicators(indicators: Iterable[Indicator], by: str) -> dict[str, list[Indicator]]:
    """Indicators by family, or by incident (the import's ``--incident``, else its source)."""
    if by not in ("family", "incident"):
        raise ValueError(f"overlap by {by!r}: use family or incident")
    out: dict[str, list[Indicator]] = {}
    for i in indicators:
        key = i.family if by == "family" else (i.incident or i.source)
        out.setdefault(key, []).append(i)
    return out


def groups_from_store(indicators: Iterable[Indicator], by: str) -> dict[str, Sets]:
    return {k: sets_of(v) for k, v in group_indicators(indicators, by).items()}


def groups_from_incidents(path: str) -> dict[str, Sets]:
    """One group per incident of an ``incidents.json`` (its ``c2`` list and its families' C2)."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    out: dict[str, Sets] = {}
    for inc in doc.get("incidents") or []:
        inds: list[Indicator] = []
        addrs = [(c.get("address"), c.get("port"), c.get("family")) for c in inc.get("c2") or []]
        for fam in inc.get("families") or []:
            for a in fam.get("c2") or []:
                host, sep, port = str(a).rpartition(":")
                addrs.append((host if sep else a, port if sep else None, fam.get("family")))
        for addr, port, fam in addrs:
            ind = _c2_indicator(addr, port, fam or "unknown", path)
            if ind is not None:
                inds.append(ind)
        out[f"{path}#{inc.get('id', '?')}"] = sets_of(inds)
    return out


def groups_from_attribution(attr: Any) -> dict[str, Sets]:
    """One group per family: the C2 addresses a case's hosts were seen contacting."""
    return {
        fam: sets_of(i for c in cs if (i := _c2_indicator(c.address, c.port, fam, "case")) is not None)
        for fam, cs in attr.c2.items()
    }


def _c2_indicator(addr: Any, port: Any, fam: str, source: str) -> Indicator | None:
    try:
        if port not in (None, ""):
            return make("ip_port", f"{addr}:{port}", family=family(fam) or "unknown", source=source)
        return make("ip", str(addr), family=family(fam) or "unknown", source=source)
    except IndicatorError:
        return None
